"""What the review of meetings found, each fixed: a five-party meeting moved to a start still to
come takes up the concerns waiting for one; residents see an agenda item from a concern only while
that concern is shown to them (staff see it, marked); only staff drop a follow-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api import clock
from api.db.models import AgendaItem, Concern
from tests.test_meetings import API, NOW, World, at, error, settings  # noqa: F401 - settings is a fixture


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


async def level_3(w: World, title: str) -> int:
    """A concern staff record (shown at once) and accept at level 3."""
    raised = await w.client.post(
        f"{API}/communities/{w.b}/concerns",
        json={"category": "parking", "building": "3栋", "title": title},
        headers=w.staff.headers,
    )
    assert raised.status_code == 201, raised.text
    accepted = await w.client.post(
        f"{API}/concerns/{raised.json()['id']}/accept", json={"level": 3}, headers=w.staff.headers
    )
    assert accepted.status_code == 200, accepted.text
    return int(raised.json()["id"])


async def take_down(w: World, concern_id: int, *, back: bool = False) -> None:
    body: dict[str, Any] = {"approve": True} if back else {"approve": False, "note": "涉及住户隐私，暂时下架"}
    answer = await w.client.post(f"{API}/concerns/{concern_id}/moderate", json=body, headers=w.staff.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["visibility"] == ("visible" if back else "hidden")


async def agendas_of(w: World, concern_id: int) -> list[int]:
    async with w.db.session(write=False) as session:
        found = await session.execute(
            select(AgendaItem.meeting_id).where(AgendaItem.concern_id == concern_id).order_by(AgendaItem.meeting_id)
        )
        return list(found.scalars())


def items(meeting: dict[str, Any]) -> list[tuple[str, int | None, bool]]:
    return [(i["title"], i["concern_id"], i["hidden_from_residents"]) for i in meeting["agenda"]]


# -- F2: a five-party meeting moved to a start still to come -------------------------------------


async def test_a_five_party_meeting_moved_ahead_takes_up_the_concerns_waiting_for_one(client, w):
    # planned for three days ago and never held: not the next meeting any more
    late = await w.meeting(title="推迟的五方会", starts_at=at(-3), ends_at=at(-3, 2))
    courtyard = await w.meeting(kind="courtyard", title="3栋院落会", starts_at=at(-3), ends_at=at(-3, 2))
    parking = await level_3(w, "电动车乱停")
    assert await agendas_of(w, parking) == []  # it waits
    # a courtyard meeting moved ahead takes up nothing; nor does a new place for the five-party one
    moved = await client.patch(f"{API}/meetings/{courtyard['id']}", json={"starts_at": at(9)}, headers=w.staff.headers)
    assert moved.status_code == 200 and moved.json()["agenda"] == []
    placed = await client.patch(f"{API}/meetings/{late['id']}", json={"place": "党群服务中心"}, headers=w.staff.headers)
    assert placed.status_code == 200 and placed.json()["agenda"] == []
    # moved to next week, the five-party meeting takes it up, and the concern's timeline says so
    moved = await client.patch(f"{API}/meetings/{late['id']}", json={"starts_at": at(7)}, headers=w.staff.headers)
    assert moved.status_code == 200, moved.text
    assert [i["concern_id"] for i in moved.json()["agenda"]] == [parking]
    assert await agendas_of(w, parking) == [late["id"]]
    detail = (await client.get(f"{API}/concerns/{parking}", headers=w.staff.headers)).json()
    assert [e["kind"] for e in detail["timeline"]][-1] == "agenda"
    # moved again, it does not take it twice
    again = await client.patch(f"{API}/meetings/{late['id']}", json={"starts_at": at(8)}, headers=w.staff.headers)
    assert [i["concern_id"] for i in again.json()["agenda"]] == [parking]


async def test_a_five_party_meeting_moved_into_the_past_takes_up_nothing(client, w):
    late = await w.meeting(title="推迟的五方会", starts_at=at(-3), ends_at=at(-3, 2))
    parking = await level_3(w, "电动车乱停")
    moved = await client.patch(f"{API}/meetings/{late['id']}", json={"starts_at": at(-2)}, headers=w.staff.headers)
    assert moved.status_code == 200 and moved.json()["agenda"] == []
    assert await agendas_of(w, parking) == []


# -- F9: an item from a concern residents do not see -----------------------------------------------


async def test_residents_see_an_item_from_a_concern_only_while_they_see_the_concern(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    parking = await level_3(w, "电动车乱停在3栋东侧")
    await w.item(mid, "小区广场的照明")
    await w.ok(mid, "publish-agenda")
    both = [("电动车乱停在3栋东侧", parking, False), ("小区广场的照明", None, False)]
    assert items(await w.view(mid, w.chen)) == both
    clock.advance(timedelta(days=7))
    held = await w.ok(mid, "hold")
    concern_item = next(i["id"] for i in held["agenda"] if i["concern_id"] == parking)
    await w.decision(mid, agenda_item_id=concern_item, text="在3栋东侧划定电动车停放区")
    await w.ok(mid, "publish-minutes")

    await take_down(w, parking)
    # residents: the item is gone from the agenda, the decision names no item; the counts agree
    seen = await w.view(mid, w.chen)
    assert items(seen) == [("小区广场的照明", None, False)]
    ((decision,),) = [seen["decisions"]]
    assert (decision["agenda_item_id"], decision["agenda_item_title"]) == (None, None)
    assert decision["text"] == "在3栋东侧划定电动车停放区"
    past = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)).json()
    assert [m["agenda_count"] for m in past["items"]] == [1]
    # staff: every item, the hidden one marked
    staff_view = await w.view(mid)
    assert items(staff_view) == [("电动车乱停在3栋东侧", parking, True), ("小区广场的照明", None, False)]
    assert staff_view["decisions"][0]["agenda_item_title"] == "电动车乱停在3栋东侧"
    past = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.staff.headers)).json()
    assert [m["agenda_count"] for m in past["items"]] == [2]

    await take_down(w, parking, back=True)
    assert items(await w.view(mid, w.chen)) == both
    assert (await w.view(mid, w.chen))["decisions"][0]["agenda_item_id"] == concern_item


async def test_the_agenda_participants_are_told_of_leaves_out_an_item_from_a_concern_not_shown(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    await w.participant(mid, party="resident_rep", user_id=w.zhou.user_id)
    parking = await level_3(w, "电动车乱停在3栋东侧")
    await w.item(mid, "小区广场的照明")
    # the concern is no longer shown (refused by the text check on an edit, say) — the concerns
    # service takes such a concern off agendas to come; should its item remain, its title stays unsaid
    async with w.db.session() as session:
        row = await session.get(Concern, parking)
        assert row is not None
        row.visibility = "rejected"
        await session.commit()
    assert items(await w.view(mid)) == [("电动车乱停在3栋东侧", parking, True), ("小区广场的照明", None, False)]
    reordered = await client.put(
        f"{API}/meetings/{mid}/agenda/order",
        json={"item_ids": [i["id"] for i in reversed((await w.view(mid))["agenda"])]},
        headers=w.staff.headers,
    )
    assert reordered.status_code == 200, reordered.text
    assert [i["hidden_from_residents"] for i in reordered.json()] == [False, True]
    await w.ok(mid, "publish-agenda")
    (told,) = [e for e in await w.inbox(w.zhou) if e["kind"] == "meeting.agenda"]
    assert "小区广场的照明" in told["body"] and "电动车" not in told["body"]
    assert items(await w.view(mid, w.zhou)) == [("小区广场的照明", None, False)]
    upcoming = (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.zhou.headers)).json()
    assert [m["agenda_count"] for m in upcoming["items"]] == [1]


async def test_a_concern_taken_down_is_carried_to_no_meeting(client, w):
    meeting = await w.meeting()
    following = await w.meeting(title="一月五方议事会", starts_at=at(30), ends_at=at(30, 2))
    parking = await level_3(w, "电动车乱停")
    stairs = await level_3(w, "楼道堆物")
    assert (await agendas_of(w, parking), await agendas_of(w, stairs)) == ([meeting["id"]], [meeting["id"]])
    await w.ok(meeting["id"], "publish-agenda")
    clock.advance(timedelta(days=7))
    await w.ok(meeting["id"], "hold")
    await take_down(w, parking)
    await w.ok(meeting["id"], "publish-minutes")  # nothing decided on either
    assert await agendas_of(w, stairs) == [meeting["id"], following["id"]]  # carried to the next one
    assert await agendas_of(w, parking) == [meeting["id"]]  # not shown: on no agenda to come
    assert items(await w.view(following["id"])) == [("楼道堆物", stairs, False)]


# -- F10 (the meetings' part): a draft is not named on a concern's public timeline ---------------


async def test_leaving_a_draft_meeting_does_not_name_it_on_the_concerns_timeline(client, w):
    draft = await w.meeting(title="内部草稿：拆违专题会")
    parking = await level_3(w, "电动车乱停")
    stairs = await level_3(w, "楼道堆物")
    item = next(i["id"] for i in (await w.view(draft["id"]))["agenda"] if i["concern_id"] == parking)
    removed = await client.delete(f"{API}/meetings/{draft['id']}/agenda/{item}", headers=w.staff.headers)
    assert removed.status_code == 204
    await w.ok(draft["id"], "cancel", reason="合并开会")
    for concern in (parking, stairs):
        detail = await client.get(f"{API}/concerns/{concern}", headers=w.chen.headers)
        assert detail.status_code == 200, detail.text
        left = [e["body"] for e in detail.json()["timeline"] if "撤下" in e["body"]]
        assert left == ["已从下一次五方议事会的议程中撤下，等待下一次五方议事会"], left
    # once its agenda was published, the meeting is named
    published = await w.meeting(title="十二月五方议事会")
    await w.ok(published["id"], "publish-agenda")
    await w.ok(published["id"], "cancel", reason="场地被占用")
    detail = (await client.get(f"{API}/concerns/{stairs}", headers=w.chen.headers)).json()
    assert [e["body"] for e in detail["timeline"] if "撤下" in e["body"]][-1] == (
        "议事会「十二月五方议事会」已取消，议题随之撤下，等待下一次五方议事会"
    )


# -- F12: only staff drop a follow-up ------------------------------------------------------------


async def test_the_owner_moves_their_follow_up_on_but_only_staff_drop_it(client, w):
    meeting = await w.held()
    decision = await w.decision(meeting["id"])
    mine = await w.follow_up(decision["id"], title="施划停放区标线", owner_user_id=w.zhou.user_id)
    other = await w.follow_up(decision["id"], title="张贴告示", owner_user_id=w.zhou.user_id)
    await w.ok(meeting["id"], "publish-minutes")

    def patch(task: dict[str, Any], person: Any, **body: Any) -> Any:
        return client.patch(f"{API}/follow-ups/{task['id']}", json=body, headers=person.headers)

    refused = await patch(mine, w.zhou, status="dropped", note="做不了")
    assert error(refused) == (403, "follow_up_drop_staff_only")
    assert "社工" in refused.json()["error"]["message"]
    seen = (await client.get(f"{API}/follow-ups/{mine['id']}", headers=w.zhou.headers)).json()
    assert (seen["status"], seen["note"]) == ("open", "")
    started = await patch(mine, w.zhou, status="in_progress", note="已联系施工队")
    assert (started.status_code, started.json()["status"]) == (200, "in_progress")
    assert error(await patch(mine, w.zhou, status="dropped", note="做不了")) == (403, "follow_up_drop_staff_only")
    done = await patch(mine, w.zhou, status="done", note="标线已画好")
    assert (done.status_code, done.json()["status"], done.json()["note"]) == (200, "done", "标线已画好")
    dropped = await patch(other, w.staff, status="dropped", note="物业已经贴了")
    assert (dropped.status_code, dropped.json()["status"]) == (200, "dropped")
