"""Follow-ups (跟进事项) of a meeting's decisions: their states and who may move them, what residents
see before and after the minutes are out, the list by owner and due date, the owner's reminder
before the due date (once, and moved with the date), and the late flag (once per due date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from tests.test_meetings import API, World, error, settings, worker  # noqa: F401 - settings is a fixture

# every test runs from Tuesday 1 December 2026, 10:00 in Shanghai; the meeting is a week later


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """December `day`, 2026 at hour:minute in Shanghai."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def patch(w: World, follow_up_id: int, person: Any, **body: Any) -> Any:
    return await w.client.patch(f"{API}/follow-ups/{follow_up_id}", json=body, headers=person.headers)


async def read(w: World, follow_up_id: int, person: Any = None) -> dict[str, Any]:
    response = await w.client.get(f"{API}/follow-ups/{follow_up_id}", headers=(person or w.staff).headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def listing(w: World, person: Any = None, query: str = "") -> dict[str, Any]:
    response = await w.client.get(f"{API}/communities/{w.b}/follow-ups{query}", headers=(person or w.staff).headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def inbox_of(w: World, person: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in await w.inbox(person) if e["kind"] == kind]


async def test_follow_ups_move_open_in_progress_done_or_dropped_by_staff_and_their_owner(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    await w.item(mid)
    await w.ok(mid, "publish-agenda")
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    decision = await w.decision(mid)
    # who and by when
    checks = {
        "due_on": {"title": "x", "owner_party": "property", "owner_name": "王经理", "due_on": "2026-12-07"},
        "owner_user_id": {"title": "x", "owner_user_id": w.c_resident.user_id, "due_on": "2026-12-20"},
        "owner_name": {"title": "x", "owner_party": "property", "due_on": "2026-12-20"},
        "owner_party": {"title": "x", "due_on": "2026-12-20"},
    }
    for field, body in checks.items():
        refused = await client.post(f"{API}/decisions/{decision['id']}/follow-ups", json=body, headers=w.staff.headers)
        assert error(refused) == (422, "validation_error"), refused.text
        assert refused.json()["error"]["details"][0]["field"] == field
    by_resident = await client.post(
        f"{API}/decisions/{decision['id']}/follow-ups",
        json={"title": "x", "owner_user_id": w.chen.user_id, "due_on": "2026-12-20"},
        headers=w.chen.headers,
    )
    assert error(by_resident) == (403, "staff_only")
    task = await w.follow_up(decision["id"], title="施划停放区标线", owner_user_id=w.zhou.user_id, due_on="2026-12-08")
    assert (task["owner_name"], task["owner_user_id"], task["status"], task["published"]) == (
        "zhou",
        w.zhou.user_id,
        "open",
        False,
    )
    spare = await w.follow_up(decision["id"], title="多余的")
    other = await w.follow_up(decision["id"], title="张贴告示", owner_party="self_org", owner_name="楼栋志愿队")
    # before the minutes are out it is staff's draft: its owner does not see it yet
    assert error(await client.get(f"{API}/follow-ups/{task['id']}", headers=w.zhou.headers)) == (
        404,
        "follow_up_not_found",
    )
    assert error(await patch(w, task["id"], w.zhou, status="in_progress")) == (404, "follow_up_not_found")
    assert (await listing(w, w.zhou))["items"] == []
    assert await w.kinds(w.zhou) == []
    assert (await client.delete(f"{API}/follow-ups/{spare['id']}", headers=w.staff.headers)).status_code == 204
    await w.ok(mid, "publish-minutes")
    assert error(await client.delete(f"{API}/follow-ups/{other['id']}", headers=w.staff.headers)) == (
        409,
        "meeting_locked",
    )
    seen = await read(w, task["id"], w.zhou)
    assert (seen["mine"], seen["owner_user_id"], seen["published"], seen["meeting"]["id"]) == (True, None, True, mid)
    assert (await read(w, task["id"], w.chen))["mine"] is False
    # the owner moves their own one's state, with a note; nobody else of the residents may
    assert error(await patch(w, task["id"], w.chen, status="in_progress")) == (403, "follow_up_owner_only")
    assert error(await patch(w, task["id"], w.zhou, due_on="2026-12-30")) == (403, "staff_only")
    assert error(await patch(w, task["id"], w.zhou, owner_party="other", owner_name="别人")) == (403, "staff_only")
    started = await patch(w, task["id"], w.zhou, status="in_progress", note="已联系施工队")
    assert started.status_code == 200, started.text
    assert (started.json()["status_label"], started.json()["note"]) == ("进行中", "已联系施工队")
    back = await patch(w, task["id"], w.zhou, status="open")
    assert error(back) == (409, "follow_up_transition_invalid") and "进行中" in back.json()["error"]["message"]
    clock.advance(timedelta(hours=3))
    done = (await patch(w, task["id"], w.zhou, status="done", note="标线已画好")).json()
    assert (done["status"], done["done_at"], done["note"]) == ("done", "2026-12-08T13:00:00+08:00", "标线已画好")
    closed = await patch(w, task["id"], w.staff, note="补充说明")
    assert error(closed) == (409, "follow_up_closed") and "已完成" in closed.json()["error"]["message"]
    # staff drop one (the reason is required), straight from open
    no_reason = await patch(w, other["id"], w.staff, status="dropped")
    assert error(no_reason) == (422, "validation_error") and no_reason.json()["error"]["details"][0]["field"] == "note"
    dropped = (await patch(w, other["id"], w.staff, status="dropped", note="物业已经贴了")).json()
    assert (dropped["status"], dropped["note"], dropped["done_at"]) == ("dropped", "物业已经贴了", None)
    assert error(await patch(w, other["id"], w.staff, status="done")) == (409, "follow_up_closed")
    # added after the minutes are out, it is public at once and its owner told
    later = await w.follow_up(decision["id"], title="回访3栋住户", owner_user_id=w.chen.user_id, due_on="2026-12-31")
    assert later["published"] is True
    (told,) = await inbox_of(w, w.chen, "follow_up.assigned")
    assert told["page"] == f"pages/follow-ups/detail?id={later['id']}" and "2026-12-31" in told["body"]
    quick = (await patch(w, later["id"], w.staff, status="done")).json()
    assert quick["status"] == "done"  # open may go straight to done


async def test_the_owners_reminder_fires_once_and_moves_with_the_due_date(app, client, w):
    meeting = await w.held()  # 8 December, 10:00
    decision = await w.decision(meeting["id"])
    kept = await w.follow_up(decision["id"], title="施划标线", owner_user_id=w.zhou.user_id, due_on="2026-12-20")
    moved = await w.follow_up(decision["id"], title="安装车棚", owner_user_id=w.zhou.user_id, due_on="2026-12-25")
    finished = await w.follow_up(decision["id"], title="张贴告示", owner_user_id=w.chen.user_id, due_on="2026-12-22")
    await w.follow_up(decision["id"], title="物业报价", due_on="2026-12-19")  # a party: nobody to remind
    soon = await w.follow_up(decision["id"], title="当天的事", owner_user_id=w.li.user_id, due_on="2026-12-09")
    await w.ok(meeting["id"], "publish-minutes")
    assigned = await inbox_of(w, w.zhou, "follow_up.assigned")
    assert sorted(e["title"] for e in assigned) == ["请你跟进：安装车棚", "请你跟进：施划标线"]
    assert [e["kind"] for e in await w.inbox(w.li)] == ["follow_up.assigned"]  # its reminder moment had passed
    clock.freeze(local(15, 11))
    assert (await patch(w, moved["id"], w.staff, due_on="2026-12-28")).status_code == 200
    assert len(await inbox_of(w, w.zhou, "follow_up.assigned")) == 3  # told of the new date
    clock.freeze(local(16, 11))
    assert (await patch(w, finished["id"], w.chen, status="done")).status_code == 200
    clock.freeze(local(18, 8, 59))  # two days before the 20th, a minute before 09:00
    await worker(app).run_until_idle()
    assert await inbox_of(w, w.zhou, "follow_up.reminder") == []
    clock.freeze(local(18, 9, 1))
    await worker(app).run_until_idle()
    clock.advance(timedelta(hours=2))
    await worker(app).run_until_idle()
    (reminder,) = await inbox_of(w, w.zhou, "follow_up.reminder")
    assert reminder["title"] == "跟进事项快到期了：施划标线" and "2026-12-20" in reminder["body"]
    assert reminder["page"] == f"pages/follow-ups/detail?id={kept['id']}"
    clock.freeze(local(23, 9, 1))  # the moved one's old moment: nothing
    await worker(app).run_until_idle()
    assert len(await inbox_of(w, w.zhou, "follow_up.reminder")) == 1
    assert await inbox_of(w, w.chen, "follow_up.reminder") == []  # done before its moment
    clock.freeze(local(26, 9, 1))
    await worker(app).run_until_idle()
    await worker(app).run_until_idle()
    reminders = await inbox_of(w, w.zhou, "follow_up.reminder")
    assert [r["title"] for r in reminders] == ["跟进事项快到期了：安装车棚", "跟进事项快到期了：施划标线"]
    assert "2026-12-28" in reminders[0]["body"]
    assert await inbox_of(w, w.li, "follow_up.reminder") == []
    assert (await read(w, soon["id"]))["status"] == "open"


async def test_a_reassigned_follow_up_reminds_its_new_owner_only(app, client, w):
    meeting = await w.held()
    decision = await w.decision(meeting["id"])
    task = await w.follow_up(decision["id"], title="施划标线", owner_user_id=w.zhou.user_id, due_on="2026-12-20")
    await w.ok(meeting["id"], "publish-minutes")
    handed = await patch(w, task["id"], w.staff, owner_user_id=w.chen.user_id)
    assert (handed.json()["owner_name"], handed.json()["owner_user_id"]) == ("chen", w.chen.user_id)
    assert len(await inbox_of(w, w.chen, "follow_up.assigned")) == 1
    clock.freeze(local(18, 9, 1))
    await worker(app).run_until_idle()
    assert await inbox_of(w, w.zhou, "follow_up.reminder") == []
    assert len(await inbox_of(w, w.chen, "follow_up.reminder")) == 1


async def test_a_late_follow_up_is_flagged_to_staff_and_its_owner_once_per_due_date(app, client, w):
    meeting = await w.held()
    decision = await w.decision(meeting["id"])
    owned = await w.follow_up(decision["id"], title="施划标线", owner_user_id=w.zhou.user_id, due_on="2026-12-10")
    party = await w.follow_up(decision["id"], title="物业报价", due_on="2026-12-10")
    finished = await w.follow_up(decision["id"], title="张贴告示", owner_user_id=w.chen.user_id, due_on="2026-12-10")
    unpublished = await w.held(
        title="另一次五方会", starts_at="2026-12-08T15:00:00+08:00", ends_at="2026-12-08T16:00:00+08:00"
    )
    draft_task = await w.follow_up((await w.decision(unpublished["id"]))["id"], title="还没公布的", due_on="2026-12-09")
    await w.ok(meeting["id"], "publish-minutes")
    clock.freeze(local(10, 23, 59))
    assert (await patch(w, finished["id"], w.chen, status="done")).status_code == 200
    await worker(app).run_until_idle()
    assert await inbox_of(w, w.staff, "follow_up.late") == []
    assert (await read(w, owned["id"]))["late"] is False  # on its due date it is not late yet
    clock.freeze(local(11, 0, 1))
    assert (await read(w, owned["id"]))["late"] is True
    await worker(app).run_until_idle()
    clock.advance(timedelta(hours=2))
    await worker(app).run_until_idle()
    flagged = await inbox_of(w, w.staff, "follow_up.late")
    assert sorted(e["title"] for e in flagged) == ["跟进事项已逾期：施划标线", "跟进事项已逾期：物业报价"]
    assert "负责：王经理" in next(e["body"] for e in flagged if "物业报价" in e["title"])
    assert [e["title"] for e in await inbox_of(w, w.zhou, "follow_up.late")] == ["跟进事项已逾期：施划标线"]
    assert await inbox_of(w, w.chen, "follow_up.late") == []
    staff_view = await read(w, owned["id"])
    assert staff_view["late_flagged_at"] == "2026-12-11T00:01:00+08:00"
    assert (await read(w, owned["id"], w.zhou))["late_flagged_at"] is None  # staff's bookkeeping
    assert (await read(w, draft_task["id"]))["late"] is True  # late, but not flagged: its minutes are not out
    late_ids = [f["id"] for f in (await listing(w, query="?late=true"))["items"]]
    assert sorted(late_ids) == sorted([owned["id"], party["id"], draft_task["id"]])
    assert [f["id"] for f in (await listing(w, w.li, "?late=true"))["items"]] == [owned["id"], party["id"]]
    assert [f["id"] for f in (await listing(w, query="?late=false"))["items"]] == [finished["id"]]
    # a new due date is a new clock: not late, flagged again once it runs out too
    renewed = (await patch(w, owned["id"], w.staff, due_on="2026-12-15")).json()
    assert (renewed["late"], renewed["late_flagged_at"]) == (False, None)
    clock.freeze(local(16, 0, 1))
    await worker(app).run_until_idle()
    await worker(app).run_until_idle()
    zhou_flags = await inbox_of(w, w.zhou, "follow_up.late")
    assert len(zhou_flags) == 2 and "2026-12-15" in zhou_flags[0]["body"]
    assert len(await inbox_of(w, w.staff, "follow_up.late")) == 3


async def test_the_follow_ups_list_by_owner_and_due_date_with_its_filters(client, w):
    meeting = await w.held()
    first = await w.decision(meeting["id"], text="划定停放区")
    second = await w.decision(meeting["id"], text="清理楼道")
    a = await w.follow_up(first["id"], title="施划标线", owner_user_id=w.zhou.user_id, due_on="2026-12-20")
    b = await w.follow_up(second["id"], title="清理杂物", owner_user_id=w.zhou.user_id, due_on="2026-12-12")
    c = await w.follow_up(first["id"], title="物业报价", due_on="2026-12-15")
    d = await w.follow_up(
        second["id"], title="通知住户", owner_party="self_org", owner_name="楼栋志愿队", due_on="2026-12-09"
    )
    assert (await listing(w, w.chen))["items"] == []
    staff_list = await listing(w)
    # by owner (names in character order), then by date
    assert [f["id"] for f in staff_list["items"]] == [b["id"], a["id"], d["id"], c["id"]]
    assert all(f["published"] is False for f in staff_list["items"])
    await w.ok(meeting["id"], "publish-minutes")
    assert (await patch(w, b["id"], w.zhou, status="in_progress")).status_code == 200
    clock.freeze(local(14, 12))
    assert (await patch(w, d["id"], w.staff, status="done")).status_code == 200
    everything = await listing(w, w.chen)
    assert [f["id"] for f in everything["items"]] == [b["id"], a["id"], d["id"], c["id"]]
    assert everything["counts"] == {"open": 2, "in_progress": 1, "done": 1, "dropped": 0, "late": 1}
    assert [
        (o["owner_name"], o["owner_party_label"], o["total"], o["open"], o["late"]) for o in everything["owners"]
    ] == [
        ("zhou", None, 2, 2, 1),
        ("楼栋志愿队", "居民自组织", 1, 0, 0),
        ("王经理", "物业", 1, 1, 0),
    ]
    assert [f["decision_text"] for f in everything["items"]] == ["清理楼道", "划定停放区", "清理楼道", "划定停放区"]
    filters = {
        "?status=open": [a["id"], c["id"]],
        f"?owner_user_id={w.zhou.user_id}": [b["id"], a["id"]],
        "?status=done": [d["id"]],
        "?owner_party=property": [c["id"]],
        "?late=true": [b["id"]],
        "?status=open&owner_party=property": [c["id"]],
    }
    for query, expected in filters.items():
        assert [f["id"] for f in (await listing(w, w.chen, query))["items"]] == expected, query
    mine = await listing(w, w.zhou, "?mine=true")
    assert [(f["id"], f["mine"]) for f in mine["items"]] == [(b["id"], True), (a["id"], True)]
    assert (await listing(w, w.chen, "?mine=true"))["items"] == []
    bad = await client.get(f"{API}/communities/{w.b}/follow-ups?status=finished", headers=w.staff.headers)
    assert error(bad) == (422, "validation_error")
