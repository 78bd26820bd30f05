"""Triage of concerns through the HTTP API: every state change and who may make it, turning one
down, level 3 on the next five-party meeting's agenda (or waiting for one), the clocks at their
edges (±1 minute, working days) and the worker's late flags, the residents' verdicts and
reopening within 14 days and not after, the worker closing settled concerns, and the policy.
Five-party meetings are planned through the meetings API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api import clock
from api.db.models import Concern
from tests.factories import Person
from tests.test_concerns import NOW, W, drain, error
from tests.test_concerns import settings as settings  # the same app settings
from workers import outbox
from workers.runner import Worker

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, db) -> W:
    return await W().build(client, db)


async def run_jobs(app: Any) -> None:
    """The concerns' periodic jobs once now, whatever the worker's own schedule (it runs each once
    per period: two runs a minute apart would otherwise be one)."""
    async with app.state.db.session() as session:
        for kind in ("concerns.flag_late", "concerns.close_settled"):
            await outbox.enqueue(session, kind, {})
        await session.commit()
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


async def five_party(
    w: W,
    staff: Person,
    community_id: int,
    starts_at: datetime,
    kind: str = "five_party",
    title: str = "十二月五方议事会",
) -> int:
    """A meeting being planned, through the meetings API (a five-party one takes up the waiting
    level-3 concerns)."""
    made = await w.post(
        staff,
        f"/communities/{community_id}/meetings",
        {
            "kind": kind,
            "title": title,
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(hours=2)).isoformat(),
            "place": "社区议事厅",
        },
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def kinds(detail: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in detail["timeline"]]


async def on_agenda(w: W, meeting_id: int) -> list[int]:
    """The concerns on the meeting's agenda, as staff read it."""
    seen = await w.get(w.staff, f"/meetings/{meeting_id}")
    assert seen.status_code == 200, seen.text
    return [i["concern_id"] for i in seen.json()["agenda"] if i["concern_id"] is not None]


# -- who may do what -----------------------------------------------------------------------------------


async def test_every_state_change_by_staff_only_and_only_from_the_states_it_leaves(client, app, w):
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    actions = {
        "accept": {"level": 2, "responsible": "停车管理工作小组"},
        "level": {"level": 1, "responsible": "物业"},
        "start": None,
        "resolve": {"result": "划了电动车停放区"},
        "decline": {"outcome": "referred", "referred_to": "街道城管科"},
        "close": None,
        "updates": {"body": "进展"},
    }
    for action, body in actions.items():
        path = f"/concerns/{cid}/{action}"
        assert error(await w.post(w.chen, path, body)) == (403, "staff_only"), action
        assert error(await w.post(w.zhou, path, body)) == (403, "staff_only"), action
        assert error(await w.post(w.cstaff, path, body)) == (404, "concern_not_found"), action
        assert error(await w.post(w.wang, path, body)) == (404, "concern_not_found"), action

    async def refused(action: str, label: str) -> None:
        answer = await w.post(w.staff, f"/concerns/{cid}/{action}", actions[action])
        assert error(answer) == (409, "concern_transition_invalid"), (action, answer.text)
        assert label in answer.json()["error"]["message"]

    assert (await w.detail(w.staff, cid))["staff_actions"] == ["accept", "decline", "updates", "moderate"]
    assert (await w.detail(w.chen, cid))["staff_actions"] == []
    for action in ("level", "start", "resolve", "close"):
        await refused(action, "待受理")
    no_party = await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 1})
    assert error(no_party) == (422, "validation_error")
    assert no_party.json()["error"]["details"][0]["field"] == "responsible"
    accepted = await w.post(w.staff, f"/concerns/{cid}/accept", actions["accept"])
    assert accepted.status_code == 200, accepted.text
    seen = accepted.json()
    assert (seen["status"], seen["level"], seen["responsible"]) == ("accepted", 2, "停车管理工作小组")
    # 30 days after acceptance (10:00:31, after the checks), to the minute as every deadline is kept
    assert seen["due_at"] == "2026-12-31T10:00:00+08:00"
    assert seen["responded_at"] == "2026-12-01T10:00:31+08:00"
    await refused("accept", "已受理")
    await refused("close", "已受理")

    assert seen["staff_actions"] == ["level", "start", "resolve", "decline", "updates", "moderate"]
    moved = await w.post(w.staff, f"/concerns/{cid}/level", actions["level"])
    assert (moved.json()["level"], moved.json()["responsible"]) == (1, "物业")
    assert moved.json()["due_at"] == "2026-12-08T10:00:00+08:00"  # level 1: 7 days from acceptance
    started = await w.post(w.staff, f"/concerns/{cid}/start")
    assert started.json()["status"] == "in_progress"
    await refused("start", "处理中")
    resolved = await w.post(w.staff, f"/concerns/{cid}/resolve", actions["resolve"])
    assert (resolved.json()["status"], resolved.json()["result"]) == ("resolved", "划了电动车停放区")
    for action in ("accept", "level", "start", "resolve", "decline"):
        await refused(action, "已解决")
    closed = await w.post(w.staff, f"/concerns/{cid}/close")
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "resolved")
    for action in ("accept", "level", "start", "resolve", "decline", "close"):
        await refused(action, "已关闭")
    assert closed.json()["staff_actions"] == ["updates", "moderate"]

    timeline = (await w.detail(w.staff, cid))["timeline"]
    assert [e["kind"] for e in timeline] == ["submitted", "accepted", "level", "in_progress", "resolved", "closed"]
    assert all(e["actor"]["name"] == "社工" for e in timeline[1:])  # staff have no name of their own here
    assert timeline[1]["data"] == {
        "status": ["submitted", "accepted"],
        "level": [None, 2],
        "responsible": ["", "停车管理工作小组"],
        "due_at": [None, "2026-12-31T10:00:00+08:00"],
    }
    assert timeline[2]["data"]["level"] == [2, 1] and timeline[2]["data"]["responsible"] == ["停车管理工作小组", "物业"]
    assert [e["kind"] for e in (await w.detail(w.zhou, cid))["timeline"]] == [e["kind"] for e in timeline]


async def test_turning_a_concern_down_needs_the_reason_whom_or_which(client, app, w):
    first = await w.visible(w.zhou, app, title="电动车乱停")
    concern = await w.visible(w.chen, app, title="楼下电动车")
    waiting = await w.raised(w.sun, building="2栋", title="审核中的", body="待审核")
    elsewhere = await w.raised(w.wang, community_id=w.c)
    await drain(app)
    assert (await w.post(w.sun, f"/concerns/{concern['id']}/metoo")).status_code == 200
    path = f"/concerns/{concern['id']}/decline"

    assert error(await w.post(w.staff, path, {"outcome": "unresolvable"})) == (422, "validation_error")
    assert error(await w.post(w.staff, path, {"outcome": "referred"})) == (422, "validation_error")
    assert error(await w.post(w.staff, path, {"outcome": "duplicate"})) == (422, "validation_error")
    assert error(await w.post(w.staff, path, {"outcome": "resolved"})) == (422, "validation_error")
    for target in (concern["id"], elsewhere["id"], waiting["id"], 999999):
        wrong = await w.post(w.staff, path, {"outcome": "duplicate", "duplicate_of": target})
        assert error(wrong) == (422, "validation_error"), target
        assert wrong.json()["error"]["details"][0]["field"] == "duplicate_of"
    duplicate = await w.post(w.staff, path, {"outcome": "duplicate", "duplicate_of": first["id"]})
    assert duplicate.status_code == 200, duplicate.text
    seen = duplicate.json()
    assert (seen["status"], seen["outcome"], seen["duplicate_of"]) == ("duplicate", "duplicate", first["id"])
    assert seen["responded_at"] is not None and seen["late"] is None
    for person in (w.chen, w.sun):
        (note,) = await w.inbox(person)
        assert note["kind"] == "concern.declined" and "电动车乱停" in note["body"]
    assert await w.inbox(w.zhou) == []

    other = await w.visible(w.li, app, building="2栋", title="小区门口摆摊")
    accepted = await w.post(w.staff, f"/concerns/{other['id']}/accept", {"level": 2})
    assert accepted.status_code == 200
    referred = await w.post(
        w.staff, f"/concerns/{other['id']}/decline", {"outcome": "referred", "referred_to": "街道城管科"}
    )
    assert (referred.json()["status"], referred.json()["referred_to"]) == ("referred", "街道城管科")
    assert "街道城管科" in (await w.inbox(w.li))[0]["body"]
    third = await w.visible(w.li, app, building="2栋", title="隔壁装修太吵", category="noise")
    unresolvable = await w.post(
        w.staff, f"/concerns/{third['id']}/decline", {"outcome": "unresolvable", "reason": "属于邻里私事，已调解"}
    )
    assert (unresolvable.json()["status"], unresolvable.json()["reason"]) == ("unresolvable", "属于邻里私事，已调解")
    closed = await w.post(w.staff, f"/concerns/{third['id']}/close")
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "unresolvable")


async def test_updates_and_notes_on_the_timeline(client, app, w):
    concern = await w.visible(w.chen, app)
    assert (await w.post(w.zhou, f"/concerns/{concern['id']}/metoo")).status_code == 200
    path = f"/concerns/{concern['id']}/updates"
    public = await w.post(w.staff, path, {"body": "已联系物业，周五前清理"})
    assert public.status_code == 201
    note = await w.post(w.staff, path, {"body": "物业经理电话 139…", "public": False})
    assert note.status_code == 201
    assert error(await w.post(w.zhou, path, {"body": "x"})) == (403, "staff_only")
    assert kinds(await w.detail(w.zhou, concern["id"])) == ["submitted", "update"]
    assert kinds(await w.detail(w.staff, concern["id"])) == ["submitted", "update", "note"]
    for person in (w.chen, w.zhou):
        (entry,) = await w.inbox(person)
        assert entry["kind"] == "concern.update" and "周五前清理" in entry["body"]


# -- level 3 and the five-party meeting ----------------------------------------------------------------


async def test_level_3_goes_on_the_next_five_party_meeting_or_waits_for_one(client, app, w, db):
    waits = await w.visible(w.chen, app, title="小区停车位不够")
    accepted = await w.post(w.staff, f"/concerns/{waits['id']}/accept", {"level": 3})
    seen = accepted.json()
    assert (seen["level"], seen["agenda"], seen["waiting_for_meeting"]) == (3, [], True)
    assert seen["level_label"] == "三级：提交五方议事会"
    (entry,) = await w.inbox(w.chen)
    assert entry["kind"] == "concern.accepted" and "五方议事会" in entry["body"]

    # a courtyard meeting, or a five-party one already past, takes nothing up
    await five_party(w, w.staff, w.b, NOW + 3 * DAY, kind="courtyard")
    assert (await w.detail(w.zhou, waits["id"]))["waiting_for_meeting"] is True
    meeting = await five_party(w, w.staff, w.b, NOW + 10 * DAY)
    seen = await w.detail(w.staff, waits["id"])
    assert seen["waiting_for_meeting"] is False
    assert [(a["meeting_id"], a["meeting_kind_label"]) for a in seen["agenda"]] == [(meeting, "五方议事会")]
    # a draft meeting is staff's: residents see neither it on the concern's page nor its title on
    # the timeline, until its agenda is published
    seen = await w.detail(w.zhou, waits["id"])
    assert (seen["waiting_for_meeting"], seen["agenda"]) == (False, [])
    assert (kinds(seen)[-1], seen["timeline"][-1]["body"]) == ("agenda", "已列入下一次五方议事会的议程")
    assert "十二月五方议事会" not in str(seen)
    published = await w.post(w.staff, f"/meetings/{meeting}/publish-agenda")
    assert published.status_code == 200, published.text
    seen = await w.detail(w.zhou, waits["id"])
    assert [(a["meeting_id"], a["meeting_title"]) for a in seen["agenda"]] == [(meeting, "十二月五方议事会")]

    # with a meeting planned, level 3 goes on its agenda at once, on acceptance or on a change; its
    # agenda published, the timeline names it
    straight = await w.visible(w.zhou, app, title="儿童游乐设施损坏", category="children_elders")
    placed = await w.post(w.staff, f"/concerns/{straight['id']}/accept", {"level": 3})
    assert [a["meeting_id"] for a in placed.json()["agenda"]] == [meeting]
    assert placed.json()["timeline"][-1]["body"] == "已列入五方议事会「十二月五方议事会」的议程"
    changed = await w.visible(w.sun, app, building="2栋", title="广场舞噪音", category="noise")
    await w.post(w.staff, f"/concerns/{changed['id']}/accept", {"level": 2})
    moved = await w.post(w.staff, f"/concerns/{changed['id']}/level", {"level": 3})
    assert [a["meeting_id"] for a in moved.json()["agenda"]] == [meeting]
    assert kinds(moved.json())[-2:] == ["level", "agenda"]
    assert (await w.detail(w.zhou, changed["id"]))["agenda"][0]["meeting_title"] == "十二月五方议事会"
    # another community's meeting takes up nothing of B
    await five_party(w, w.cstaff, w.c, NOW + 5 * DAY)
    assert [a["meeting_id"] for a in (await w.detail(w.chen, waits["id"]))["agenda"]] == [meeting]

    # moved down from level 3, it leaves the agenda of the meeting to come (and says so)
    down = await w.post(w.staff, f"/concerns/{changed['id']}/level", {"level": 2})
    assert down.json()["agenda"] == [] and kinds(down.json())[-2:] == ["level", "agenda"]
    assert "议程中撤下" in down.json()["timeline"][-1]["body"]
    agenda = (await w.get(w.staff, f"/meetings/{meeting}")).json()["agenda"]
    assert sorted(i["concern_id"] for i in agenda) == sorted([waits["id"], straight["id"]])


# -- the clocks ----------------------------------------------------------------------------------------


async def test_the_response_clock_counts_working_days_and_flags_once_at_its_edge(client, app, w):
    # raised on Friday 4 December at 15:00 (local): to be answered by Tuesday 8 December, 15:00
    clock.freeze(datetime(2026, 12, 4, 7, 0, tzinfo=UTC))
    concern = await w.raised(w.staff, title="楼道堆物", category="sanitation")
    assert concern["accept_by"] == "2026-12-08T15:00:00+08:00"
    due = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    path = f"/communities/{w.b}/concerns"

    clock.freeze(due - MINUTE)
    await run_jobs(app)
    clock.freeze(due)
    await run_jobs(app)
    assert (await w.detail(w.zhou, concern["id"]))["late"] is None  # at the minute itself, not yet
    assert await w.board_ids(w.zhou, late="true") == []
    assert await w.inbox(w.staff) == []
    clock.freeze(due + MINUTE)
    assert (await w.detail(w.zhou, concern["id"]))["late"] == "response"
    assert await w.board_ids(w.zhou, late="true") == [concern["id"]]
    assert (await w.get(w.staff, path)).json()["counts"]["late"] == 1
    await run_jobs(app)
    clock.advance(timedelta(minutes=11))
    await run_jobs(app)  # the job again, ten minutes later: nobody is told twice
    notes = await w.inbox(w.staff)
    assert [n["kind"] for n in notes] == ["concern.late"]
    assert "受理" in notes[0]["title"] and "2026-12-08 15:00" in notes[0]["body"]
    assert [n["kind"] for n in await w.inbox(w.admin)] == ["concern.late"]  # admins are staff too
    assert await w.inbox(w.zhou) == []

    # answered (late): the clock that runs now is the resolution's
    accepted = await w.post(w.staff, f"/concerns/{concern['id']}/accept", {"level": 1, "responsible": "物业"})
    assert accepted.json()["late"] is None


async def test_a_level_1_due_date_flags_at_its_edge_and_a_new_clock_flags_again(client, app, w):
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    accepted_at = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    clock.freeze(accepted_at)
    accepted = await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 1, "responsible": "物业"})
    assert accepted.json()["due_at"] == "2026-12-09T09:00:00+08:00"  # seven days
    entry = (await w.inbox(w.chen))[0]
    assert "由物业负责" in entry["body"] and "12月9日 09:00" in entry["body"]
    due = accepted_at + 7 * DAY

    clock.freeze(due - MINUTE)
    await run_jobs(app)
    clock.freeze(due)
    assert (await w.detail(w.chen, cid))["late"] is None
    await run_jobs(app)
    assert await w.inbox(w.staff) == []
    clock.freeze(due + MINUTE)
    assert (await w.detail(w.chen, cid))["late"] == "resolution"
    await run_jobs(app)
    await run_jobs(app)
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.late"]

    # staff give the responsible party until a later date: a new clock, not late, and told again when it runs out
    later = "2026-12-12T18:00:00"  # local time, without an offset
    moved = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 1, "due_at": later})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["due_at"], moved.json()["late"]) == ("2026-12-12T18:00:00+08:00", None)
    clock.freeze(datetime(2026, 12, 12, 10, 1, tzinfo=UTC))
    await run_jobs(app)
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.late", "concern.late"]
    past = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 1, "due_at": "2026-12-01T18:00:00+08:00"})
    assert error(past) == (422, "validation_error")
    level2 = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 2, "due_at": "2026-12-30T18:00:00+08:00"})
    assert error(level2) == (422, "validation_error")
    # to level 2 from acceptance: 30 days from 2 December
    back = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 2})
    assert (back.json()["due_at"], back.json()["late"]) == ("2027-01-01T09:00:00+08:00", None)


# -- verdicts ------------------------------------------------------------------------------------------


async def resolved_concern(w: W, app: Any) -> dict[str, Any]:
    concern = await w.visible(w.chen, app)
    assert (await w.post(w.zhou, f"/concerns/{concern['id']}/metoo")).status_code == 200
    await w.post(w.staff, f"/concerns/{concern['id']}/accept", {"level": 2})
    resolved = await w.post(w.staff, f"/concerns/{concern['id']}/resolve", {"result": "划了停放区"})
    assert resolved.status_code == 200
    result: dict[str, Any] = resolved.json()
    return result


async def test_the_raiser_and_me_too_answer_once_per_round(client, app, w):
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    path = f"/concerns/{cid}/verdict"
    assert (await w.post(w.zhou, f"/concerns/{cid}/metoo")).status_code == 200
    assert error(await w.post(w.chen, path, {"answer": "solved", "stars": 5})) == (409, "concern_not_resolved")
    await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 2})
    assert (await w.detail(w.chen, cid))["can_answer_verdict"] is False
    resolved = await w.post(w.staff, f"/concerns/{cid}/resolve", {"result": "划了停放区"})
    assert resolved.status_code == 200
    for person in (w.chen, w.zhou):
        (entry,) = [e for e in await w.inbox(person) if e["kind"] == "concern.resolved"]
        assert "解决了吗？" in entry["body"] and "划了停放区" in entry["body"]
        assert (await w.detail(person, cid))["can_answer_verdict"] is True
    assert (await w.detail(w.sun, cid))["can_answer_verdict"] is False

    assert error(await w.post(w.sun, path, {"answer": "solved", "stars": 5})) == (403, "verdict_not_allowed")
    assert error(await w.post(w.staff, path, {"answer": "solved", "stars": 5})) == (403, "verdict_not_allowed")
    assert error(await w.post(w.wang, path, {"answer": "solved", "stars": 5})) == (404, "concern_not_found")
    assert error(await w.post(w.chen, path, {"answer": "solved", "stars": 6})) == (422, "validation_error")
    assert error(await w.post(w.chen, path, {"answer": "maybe", "stars": 3})) == (422, "validation_error")
    given = await w.post(w.chen, path, {"answer": "partly", "stars": 4, "word": "还有两辆没挪"})
    assert given.status_code == 201
    mine = given.json()
    assert mine["my_verdict"]["answer"] == "partly" and mine["my_verdict"]["word"] == "还有两辆没挪"
    assert mine["can_answer_verdict"] is False and mine["status"] == "resolved"
    assert error(await w.post(w.chen, path, {"answer": "solved", "stars": 5})) == (409, "verdict_given")
    assert (await w.post(w.zhou, path, {"answer": "solved", "stars": 5})).status_code == 201

    public = await w.detail(w.sun, cid)
    assert public["verdicts"] == {"round": 0, "n": 2, "solved": 1, "partly": 1, "not_solved": 0, "satisfied": 2}
    assert public["verdict_list"] is None
    verdicts = [e for e in public["timeline"] if e["kind"] == "verdict"]
    assert [(e["body"], e["actor"]["name"]) for e in verdicts] == [("部分解决，4星", "居民"), ("已解决，5星", "居民")]
    assert "还有两辆没挪" not in str(public)
    staff = await w.detail(w.staff, cid)
    assert [(v["answer"], v["word"], v["raiser"]) for v in staff["verdict_list"]] == [
        ("partly", "还有两辆没挪", True),
        ("solved", "", False),
    ]
    # once closed (as resolved) they may still answer, and it is only recorded
    closed = await w.post(w.staff, f"/concerns/{cid}/close")
    assert closed.json()["status"] == "closed"


async def test_not_solved_reopens_within_14_days_and_not_after(client, app, w):
    first = await resolved_concern(w, app)
    resolved_at = datetime.fromisoformat(first["resolved_at"])
    clock.freeze(resolved_at + 14 * DAY - MINUTE)
    answer = await w.post(w.zhou, f"/concerns/{first['id']}/verdict", {"answer": "not_solved", "stars": 1})
    assert answer.status_code == 201, answer.text
    seen = answer.json()
    assert (seen["status"], seen["outcome"], seen["reopen_count"]) == ("in_progress", None, 1)
    assert seen["resolved_at"] == first["resolved_at"]  # kept for the record
    # level 2's 30 days from the reopening, to the minute
    assert seen["due_at"] == (resolved_at + 44 * DAY - MINUTE).replace(second=0).isoformat()
    assert kinds(seen)[-2:] == ["verdict", "reopened"]
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.reopened_staff"]
    assert next(n["kind"] for n in await w.inbox(w.chen)) == "concern.reopened"
    assert "concern.reopened" not in [n["kind"] for n in await w.inbox(w.zhou)]  # he said so himself
    # a new round: the raiser may answer again once it is resolved again
    assert error(await w.post(w.chen, f"/concerns/{first['id']}/verdict", {"answer": "solved", "stars": 5})) == (
        409,
        "concern_not_resolved",
    )
    again = await w.post(w.staff, f"/concerns/{first['id']}/resolve", {"result": "加装了隔离桩"})
    assert again.json()["can_answer_verdict"] is False  # staff
    assert (await w.detail(w.zhou, first["id"]))["can_answer_verdict"] is True  # round 1
    second_round = await w.post(w.zhou, f"/concerns/{first['id']}/verdict", {"answer": "solved", "stars": 5})
    assert second_round.json()["verdicts"]["round"] == 1 and second_round.json()["verdicts"]["n"] == 1

    clock.freeze(NOW)
    late = await resolved_concern(w, app)
    clock.freeze(datetime.fromisoformat(late["resolved_at"]) + 14 * DAY + MINUTE)
    recorded = await w.post(w.chen, f"/concerns/{late['id']}/verdict", {"answer": "not_solved", "stars": 2})
    assert recorded.status_code == 201
    assert (recorded.json()["status"], recorded.json()["reopen_count"]) == ("resolved", 0)
    assert recorded.json()["verdicts"]["not_solved"] == 1
    assert "reopened" not in kinds(recorded.json())


async def test_the_worker_closes_what_has_been_settled_for_14_days(client, app, w):
    resolved = await resolved_concern(w, app)
    declined = await w.visible(w.sun, app, building="2栋", title="外卖车乱停")
    await w.post(w.staff, f"/concerns/{declined['id']}/decline", {"outcome": "referred", "referred_to": "物业公司"})
    resolved_at = datetime.fromisoformat(resolved["resolved_at"])

    clock.freeze(resolved_at + 14 * DAY)
    await run_jobs(app)
    assert (await w.detail(w.chen, resolved["id"]))["status"] == "resolved"
    clock.freeze(resolved_at + 14 * DAY + 2 * MINUTE)  # both outcomes are older than 14 days now
    await run_jobs(app)
    for concern_id, outcome in ((resolved["id"], "resolved"), (declined["id"], "referred")):
        seen = await w.detail(w.zhou, concern_id)
        assert (seen["status"], seen["outcome"]) == ("closed", outcome)
        closing = seen["timeline"][-1]
        assert (closing["kind"], closing["actor"]) == ("closed", None)
    # closed as resolved: a verdict is still taken, and reopens nothing
    recorded = await w.post(w.zhou, f"/concerns/{resolved['id']}/verdict", {"answer": "not_solved", "stars": 1})
    assert recorded.status_code == 201 and recorded.json()["status"] == "closed"
    closed_declined = await w.post(w.sun, f"/concerns/{declined['id']}/verdict", {"answer": "solved", "stars": 5})
    assert error(closed_declined) == (409, "concern_not_resolved")


# -- the policy ----------------------------------------------------------------------------------------


async def test_the_clocks_are_read_by_staff_and_set_by_admins(client, app, w):
    path = f"/communities/{w.b}/governance/policy"
    defaults = await w.get(w.staff, path)
    assert defaults.status_code == 200
    assert defaults.json() == {
        "accept_working_days": 2,
        "level1_days": 7,
        "level2_days": 30,
        "level3_days": 60,
        "reopen_days": 14,
        "follow_up_reminder_days": 2,
        "is_default": True,
        "updated_at": None,
    }
    assert error(await w.get(w.chen, path)) == (403, "staff_only")
    assert error(await w.get(w.cstaff, path)) == (404, "community_not_found")
    wanted = {
        "accept_working_days": 1,
        "level1_days": 3,
        "level2_days": 20,
        "level3_days": 45,
        "reopen_days": 7,
        "follow_up_reminder_days": 1,
    }
    assert error(await client.put(f"/api/v1{path}", json=wanted, headers=w.staff.headers)) == (403, "admin_only")
    assert error(await client.put(f"/api/v1{path}", json=wanted, headers=w.chen.headers)) == (403, "staff_only")
    for field, value in (("accept_working_days", 31), ("reopen_days", 0), ("level1_days", 366)):
        bad = await client.put(f"/api/v1{path}", json=wanted | {field: value}, headers=w.admin.headers)
        assert error(bad) == (422, "validation_error") and bad.json()["error"]["details"][0]["field"] == field
    assert error(await client.put(f"/api/v1{path}", json={"level1_days": 3}, headers=w.admin.headers)) == (
        422,
        "validation_error",
    )
    saved = await client.put(f"/api/v1{path}", json=wanted, headers=w.admin.headers)
    assert saved.status_code == 200 and saved.json() == wanted | {
        "is_default": False,
        "updated_at": "2026-12-01T10:00:00+08:00",
    }
    assert (await w.get(w.staff, path)).json()["level1_days"] == 3

    # the new clocks apply from now on: one working day to answer, three days for level 1
    concern = await w.raised(w.staff, title="路灯坏了", category="repair")
    assert concern["accept_by"] == "2026-12-02T10:00:00+08:00"
    accepted = await w.post(w.staff, f"/concerns/{concern['id']}/accept", {"level": 1, "responsible": "物业"})
    assert accepted.json()["due_at"] == "2026-12-04T10:00:00+08:00"
    assert (await w.get(w.cstaff, f"/communities/{w.c}/governance/policy")).json()["is_default"] is True


# -- the clocks to the minute, and the weekend ---------------------------------------------------------


async def test_deadlines_are_kept_to_the_minute_and_run_out_when_it_is_over(client, app, w):
    clock.freeze(NOW + timedelta(seconds=31))  # raised at 10:00:31
    early = await w.raised(w.staff, title="楼道灯不亮", category="repair")
    late = await w.raised(w.staff, title="井盖松动", category="safety")
    assert early["accept_by"] == late["accept_by"] == "2026-12-03T10:00:00+08:00"  # the seconds dropped
    due = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)

    clock.freeze(due + timedelta(seconds=45))  # within the due minute: answered in time
    accepted = await w.post(w.staff, f"/concerns/{early['id']}/accept", {"level": 2})
    assert accepted.json()["due_at"] == "2027-01-02T10:00:00+08:00"  # 30 days, to the minute
    clock.freeze(due + timedelta(seconds=59))
    assert (await w.detail(w.staff, late["id"]))["late"] is None
    assert await w.board_ids(w.staff, late="true") == []
    clock.freeze(due + MINUTE)  # the minute is over
    assert (await w.detail(w.staff, late["id"]))["late"] == "response"
    assert await w.board_ids(w.staff, late="true") == [late["id"]]
    answered = await w.post(w.staff, f"/concerns/{late['id']}/accept", {"level": 1, "responsible": "物业"})
    assert answered.status_code == 200
    # a due date staff give is kept to the minute too
    moved = await w.post(w.staff, f"/concerns/{late['id']}/level", {"level": 1, "due_at": "2026-12-20T18:30:45+08:00"})
    assert moved.json()["due_at"] == "2026-12-20T18:30:00+08:00"

    # the reports judge the answers the same way: in time within the due minute, late after it
    report = await w.get(w.staff, f"/communities/{w.b}/reports", **{"from": "2026-12-01", "to": "2026-12-31"})
    assert report.status_code == 200, report.text
    (rate,) = [i for i in report.json()["indicators"] if i["key"] == "response_rate"]
    assert {p["key"]: p["value"] for p in rate["parts"]} == {"in_time": 1, "due": 2}


async def test_the_reports_count_the_concerns_raised_but_those_refused_for_their_text_or_a_photo(client, app, w):
    from api.wechat.client import fake_wechat

    fake = fake_wechat(app.state.wechat.http)
    assert fake is not None
    fake.script_media_verdict("risky")
    photo = await w.upload(w.chen)
    await w.raised(w.chen, media_ids=[photo], title="车棚照片")
    await w.raised(w.sun, building="2栋", body="这里有违禁词")
    counted = await w.raised(w.li, building="2栋", title="垃圾桶满了", category="sanitation")
    await drain(app)
    assert [c["visibility"] for c in (await w.board(w.staff))["items"]] == ["visible", "rejected", "rejected"]
    report = await w.get(w.staff, f"/communities/{w.b}/reports", **{"from": "2026-12-01", "to": "2026-12-31"})
    (raised,) = [i for i in report.json()["indicators"] if i["key"] == "concerns_raised"]
    assert (raised["name"], raised["value"]) == ("烦心事反映数", 1)
    rows = await w.get(
        w.staff,
        f"/communities/{w.b}/reports/rows",
        indicator="concerns_raised",
        **{"from": "2026-12-01", "to": "2026-12-31"},
    )
    assert [r["concern_id"] for r in rows.json()["rows"]] == [counted["id"]]
    defined = (await w.get(w.staff, f"/communities/{w.b}/reports/indicators")).json()
    (definition,) = [d["definition"] for d in defined if d["key"] == "concerns_raised"]
    assert "不含未通过内容安全检查（文字或照片）的" in definition


async def test_raised_at_the_weekend_the_response_clock_starts_on_monday(client, app, w):
    clock.freeze(datetime(2026, 12, 6, 0, 0, tzinfo=UTC))  # Sunday 08:00
    sunday = await w.raised(w.staff, title="周日反映的", category="other")
    clock.freeze(datetime(2026, 12, 5, 15, 0, tzinfo=UTC))  # Saturday 23:00
    saturday = await w.raised(w.staff, title="周六反映的", category="other")
    # two working days counted from Monday 00:00: due at the end of Tuesday
    assert sunday["accept_by"] == saturday["accept_by"] == "2026-12-09T00:00:00+08:00"
    clock.freeze(datetime(2026, 12, 8, 16, 0, tzinfo=UTC))  # Wednesday 00:00
    assert (await w.detail(w.zhou, sunday["id"]))["late"] is None
    clock.freeze(datetime(2026, 12, 8, 16, 1, tzinfo=UTC))
    assert (await w.detail(w.zhou, sunday["id"]))["late"] == "response"
    # on a working day, the same time of day two working days later (Monday 09:15 → Wednesday 09:15)
    clock.freeze(datetime(2026, 12, 7, 1, 15, tzinfo=UTC))
    monday = await w.raised(w.staff, title="周一反映的", category="other")
    assert monday["accept_by"] == "2026-12-09T09:15:00+08:00"


async def test_changing_only_the_party_responsible_keeps_the_due_date_and_its_late_flag(client, app, w):
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    accepted = await w.post(
        w.staff, f"/concerns/{cid}/accept", {"level": 1, "responsible": "物业", "due_at": "2026-12-03T18:00:00"}
    )
    assert accepted.json()["due_at"] == "2026-12-03T18:00:00+08:00"
    clock.freeze(datetime(2026, 12, 3, 10, 1, tzinfo=UTC))
    await run_jobs(app)
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.late"]
    moved = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 1, "responsible": "志愿服务队"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["responsible"], moved.json()["due_at"]) == ("志愿服务队", "2026-12-03T18:00:00+08:00")
    assert moved.json()["late"] == "resolution"
    assert moved.json()["timeline"][-1]["data"] == {"responsible": ["物业", "志愿服务队"]}
    async with w.db.session(write=False) as session:  # the same clock: still flagged as told
        flagged = (await session.execute(select(Concern.late_flagged_at).where(Concern.id == cid))).scalar_one()
    assert flagged == datetime(2026, 12, 3, 10, 1, tzinfo=UTC)
    await run_jobs(app)  # and staff are not told again
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.late"]


# -- the agendas follow the concern --------------------------------------------------------------------


async def test_resolved_or_turned_down_a_concern_leaves_the_agendas_to_come(client, app, w):
    meeting = await five_party(w, w.staff, w.b, NOW + 7 * DAY)
    resolved = await w.visible(w.chen, app, title="电动车乱停")
    declined = await w.visible(w.zhou, app, title="楼下停车位不够")
    kept = await w.visible(w.sun, app, building="2栋", title="广场舞噪音", category="noise")
    for concern in (resolved, declined, kept):
        assert (await w.post(w.staff, f"/concerns/{concern['id']}/accept", {"level": 3})).status_code == 200
    assert await on_agenda(w, meeting) == [resolved["id"], declined["id"], kept["id"]]

    done = await w.post(w.staff, f"/concerns/{resolved['id']}/resolve", {"result": "物业先划了停放区"})
    assert done.json()["agenda"] == [] and done.json()["timeline"][-1]["kind"] == "agenda"
    assert done.json()["timeline"][-1]["body"] == "已办结，已从下一次五方议事会的议程中撤下"
    referred = await w.post(
        w.staff, f"/concerns/{declined['id']}/decline", {"outcome": "referred", "referred_to": "街道城管科"}
    )
    assert referred.json()["agenda"] == []
    assert referred.json()["timeline"][-1]["body"] == "已转办，已从下一次五方议事会的议程中撤下"
    assert await on_agenda(w, meeting) == [kept["id"]]
    assert (await w.detail(w.staff, resolved["id"]))["waiting_for_meeting"] is False


async def test_only_a_concern_the_community_sees_goes_to_a_meeting(client, app, w):
    meeting = await five_party(w, w.staff, w.b, NOW + 7 * DAY)
    unsure = await w.raised(w.chen, title="车棚的事", body="这条待审核")
    await drain(app)
    refused = await w.post(w.staff, f"/concerns/{unsure['id']}/accept", {"level": 3})
    assert error(refused) == (409, "concern_not_visible") and "五方议事会" in refused.json()["error"]["message"]
    assert (await w.post(w.staff, f"/concerns/{unsure['id']}/accept", {"level": 2})).status_code == 200
    assert error(await w.post(w.staff, f"/concerns/{unsure['id']}/level", {"level": 3})) == (409, "concern_not_visible")
    assert await on_agenda(w, meeting) == []

    # a concern on an agenda, taken down: off the agendas to come, and no meeting takes it up
    shown = await w.visible(w.zhou, app, title="楼道堆物")
    assert (await w.post(w.staff, f"/concerns/{shown['id']}/accept", {"level": 3})).status_code == 200
    assert await on_agenda(w, meeting) == [shown["id"]]
    down = await w.post(w.staff, f"/concerns/{shown['id']}/moderate", {"approve": False, "note": "涉及个人信息"})
    assert down.json()["visibility"] == "hidden"
    assert (down.json()["agenda"], down.json()["waiting_for_meeting"]) == ([], False)
    assert down.json()["timeline"][-1]["body"] == "已下架，已从下一次五方议事会的议程中撤下"
    assert await on_agenda(w, meeting) == []
    other = await five_party(w, w.staff, w.b, NOW + 14 * DAY, title="一月五方议事会")
    assert await on_agenda(w, other) == []
    # brought back, it goes to the next five-party meeting again
    back = await w.post(w.staff, f"/concerns/{shown['id']}/moderate", {"approve": True})
    assert [a["meeting_id"] for a in back.json()["agenda"]] == [meeting]
    assert await on_agenda(w, meeting) == [shown["id"]]


async def test_a_duplicate_points_at_the_first_of_its_kind(client, app, w):
    first = await w.visible(w.chen, app, title="电动车乱停")
    second = await w.visible(w.zhou, app, title="电动车又乱停")
    third = await w.visible(w.sun, app, building="2栋", title="还是电动车")
    made = await w.post(
        w.staff, f"/concerns/{second['id']}/decline", {"outcome": "duplicate", "duplicate_of": first["id"]}
    )
    assert made.status_code == 200
    chained = await w.post(
        w.staff, f"/concerns/{third['id']}/decline", {"outcome": "duplicate", "duplicate_of": second["id"]}
    )
    assert error(chained) == (422, "validation_error")
    assert chained.json()["error"]["details"][0]["field"] == "duplicate_of"
    assert "最早反映" in chained.json()["error"]["message"]
    # nor back and forth: the first cannot repeat the second, which repeats it
    back = await w.post(
        w.staff, f"/concerns/{first['id']}/decline", {"outcome": "duplicate", "duplicate_of": second["id"]}
    )
    assert error(back) == (422, "validation_error")
    assert (await w.detail(w.staff, first["id"]))["status"] == "submitted"


async def test_a_retried_triage_request_answers_as_the_first_time(client, app, w):
    concern = await w.visible(w.chen, app)
    other = await w.visible(w.zhou, app, title="楼道堆物")
    steps = [
        (concern["id"], "accept", {"level": 2}),
        (concern["id"], "level", {"level": 1, "responsible": "物业"}),
        (concern["id"], "start", None),
        (concern["id"], "resolve", {"result": "已清理"}),
        (concern["id"], "close", None),
        (other["id"], "decline", {"outcome": "referred", "referred_to": "街道城管科"}),
    ]
    for cid, action, body in steps:
        headers = {**w.staff.headers, "Idempotency-Key": f"{action}-{cid}"}
        first = await client.post(f"/api/v1/concerns/{cid}/{action}", json=body, headers=headers)
        again = await client.post(f"/api/v1/concerns/{cid}/{action}", json=body, headers=headers)
        assert first.status_code == again.status_code == 200, (action, again.text)
        assert again.json() == first.json()
    assert kinds(await w.detail(w.staff, concern["id"])) == [
        "submitted",
        "accepted",
        "level",
        "in_progress",
        "resolved",
        "closed",
    ]
    assert kinds(await w.detail(w.staff, other["id"])) == ["submitted", "referred"]


async def test_staff_who_recorded_a_concern_are_not_asked_whether_it_is_solved(client, app, w):
    recorded = await w.raised(w.admin, title="坝坝会上反映的", category="sanitation")
    assert (await w.post(w.zhou, f"/concerns/{recorded['id']}/metoo")).status_code == 200
    await w.post(w.staff, f"/concerns/{recorded['id']}/accept", {"level": 2})
    await w.post(w.staff, f"/concerns/{recorded['id']}/resolve", {"result": "已清运"})
    assert [n["kind"] for n in await w.inbox(w.zhou)] == ["concern.resolved", "concern.accepted"]
    assert await w.inbox(w.admin) == []


# -- reopening -----------------------------------------------------------------------------------------


async def test_not_solved_reopens_a_concern_staff_already_closed_within_14_days(client, app, w):
    concern = await resolved_concern(w, app)
    cid = concern["id"]
    closed = await w.post(w.staff, f"/concerns/{cid}/close")
    assert (closed.json()["status"], closed.json()["closed_at"] is not None) == ("closed", True)
    clock.advance(DAY)
    reopened = await w.post(w.zhou, f"/concerns/{cid}/verdict", {"answer": "not_solved", "stars": 1})
    assert reopened.status_code == 201, reopened.text
    seen = reopened.json()
    assert (seen["status"], seen["outcome"], seen["closed_at"], seen["reopen_count"]) == ("in_progress", None, None, 1)
    assert seen["timeline"][-1]["data"]["status"] == ["closed", "in_progress"]
    assert [n["kind"] for n in await w.inbox(w.staff)] == ["concern.reopened_staff"]


async def meeting_decides(w: W, meeting: int, concern_id: int) -> None:
    """The meeting (its start now) is held, decides on the concern's item, and publishes its minutes."""
    assert (await w.post(w.staff, f"/meetings/{meeting}/publish-agenda")).status_code == 200
    held = await w.post(w.staff, f"/meetings/{meeting}/hold")
    assert held.status_code == 200, held.text
    (item,) = [i["id"] for i in held.json()["agenda"] if i["concern_id"] == concern_id]
    decided = await w.post(
        w.staff, f"/meetings/{meeting}/decisions", {"agenda_item_id": item, "text": "先划线", "method": "consensus"}
    )
    assert decided.status_code == 201, decided.text
    assert (await w.post(w.staff, f"/meetings/{meeting}/publish-minutes")).status_code == 200


async def test_a_reopened_level_3_concern_goes_back_to_a_five_party_meeting(client, app, w):
    # decided on at a meeting, resolved, then "not solved": it waits for the next meeting, which takes it up
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    meeting = await five_party(w, w.staff, w.b, NOW + 2 * DAY)
    assert (await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 3})).status_code == 200
    clock.freeze(NOW + 2 * DAY)
    await meeting_decides(w, meeting, cid)
    assert (await w.detail(w.staff, cid))["waiting_for_meeting"] is False  # decided on
    await w.post(w.staff, f"/concerns/{cid}/resolve", {"result": "划了停放线"})
    reopened = await w.post(w.chen, f"/concerns/{cid}/verdict", {"answer": "not_solved", "stars": 1})
    assert (reopened.json()["status"], reopened.json()["waiting_for_meeting"]) == ("in_progress", True)
    following = await five_party(w, w.staff, w.b, NOW + 30 * DAY, title="一月五方议事会")
    assert await on_agenda(w, following) == [cid]
    assert (await w.detail(w.staff, cid))["waiting_for_meeting"] is False

    # reopened while a five-party meeting is planned: onto its agenda at once
    other = await w.visible(w.zhou, app, title="楼道堆物", category="sanitation")
    assert (await w.post(w.staff, f"/concerns/{other['id']}/accept", {"level": 3})).status_code == 200
    assert await on_agenda(w, following) == [cid, other["id"]]
    await w.post(w.staff, f"/concerns/{other['id']}/resolve", {"result": "物业清走了"})
    assert await on_agenda(w, following) == [cid]
    again = await w.post(w.zhou, f"/concerns/{other['id']}/verdict", {"answer": "not_solved", "stars": 2})
    assert (again.json()["status"], again.json()["agenda"]) == ("in_progress", [])  # a draft: not his to see
    assert [a["meeting_id"] for a in (await w.detail(w.staff, other["id"]))["agenda"]] == [following]
    assert await on_agenda(w, following) == [cid, other["id"]]
