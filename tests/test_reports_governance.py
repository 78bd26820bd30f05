"""The governance indicators of the reports (issue 15): every figure and breakdown equals a figure
computed by hand on one small community over September and October 2026 (with an August before
and a November after), read through the HTTP reports API, its drill-down and its exports.

The scene, by local (Shanghai) time; "today" is Tuesday 10 November 2026, 10:00. Response clocks
are the default 2 working days (Monday to Friday) at the same time of day.

people of 东湖社区 (A): chen 1栋, sun 1栋, zhou 2栋, li 2栋; staff-a. 西岭社区 (C): ma, staff-c.

concerns (A)  raised              by    building category         answered (accept_by)            ending
  K0  Tue Aug 25 10:00  zhou 2栋  repair            Aug 26 10:00 (Aug 27 10:00)    resolved Sep  2 10:00 (8.0 d)
  K1  Tue Sep  1 10:00  chen 1栋  parking           Sep  3 10:00 (Sep  3 10:00)    resolved Sep  5 10:00 (4.0 d), closed
  K2  Fri Sep  4 15:00  zhou 2栋  noise             Sep  8 15:01 (Sep  8 15:00)    resolved Sep 14 15:00 (10.0 d)
  K3  Thu Sep 10 09:00  li   2栋  noise             Sep 11 09:00 (Sep 14 09:00)    duplicate of K2
  K4  Sun Sep 20 11:00  sun  1栋  repair            Sep 21 09:00 (Sep 23 00:00)    resolved Sep 23, reopened Sep 25
  K5  Mon Sep 28 20:00  chen —    children_elders   Oct  9 10:00 (Sep 30 20:00)    accepted, level 3
  K7  Tue Sep 15 10:00  chen 1栋  sanitation        — its text refused by WeChat's check (never counted)
  K6  Thu Oct  1 00:30  zhou 2栋  parking           Oct  2 10:00 (Oct  5 00:30)    referred to 街道城管
      (Sep 30 16:30 UTC: October, locally)
  K8  Mon Oct 12 09:00  li   2栋  sanitation        Oct 13 09:00 (Oct 14 09:00)    resolved Oct 15 21:00 (3.5 d)
  K9  Wed Oct 28 10:00  sun  1栋  safety            —            (Oct 30 10:00)    waiting, late
  K10 Fri Oct 30 16:00  chen 1栋  other (name hidden) —          (Nov  3 16:00)    waiting, late
  K12 Mon Nov  2 09:00  zhou 2栋  repair            Nov  3 09:00 (Nov  4 09:00)    accepted, level 2
  K11 Mon Nov  9 10:00  li   2栋  sanitation        —            (Nov 11 10:00)    waiting, its clock still running
  KC  (C) Sep 5, resolved Sep 8, ma's 5-star verdict Sep 9, a meeting and a follow-up: never A's.

verdicts (A): K0 zhou 2★ partly Sep 3 | K1 chen 5★ Sep 6, zhou (me too) 3★ partly Sep 7 | K2 zhou
  4★ Sep 15 | K4 sun 1★ not solved Sep 25 (which reopened it) | K8 li 5★ Oct 16, chen 4★ Oct 17,
  sun 5★ Nov 2.

meetings (A): M5 courtyard Aug 28 held (D0) | M1 five-party Sep 25, minutes published (D1 by
  consensus, D2 by vote 9–2–1) | M7 a draft dated Oct 10, never held | M2 courtyard Oct 16 held,
  minutes not yet out (D3) | M3 working group Oct 20 cancelled | M6 working group Oct 31 held, no
  decision | M4 five-party Nov 20, agenda published.

follow-ups (A), by due date: F0 (D0) Sep 10 done Sep 9 | F8 (D1) Sep 28 done Sep 27 | F3 (D2)
  Sep 30 dropped | F1 (D1) Oct 10 done Oct 10 22:00 | F2 (D2) Oct 15 done Oct 16 07:30 (Oct 15
  23:30 UTC: a day late, locally) | F4 (D2) Oct 20 still open | F5 (D3) Oct 31 done Oct 25 | F6
  (D3) Nov 15 done Nov 1 | F9 (D3) Nov 9 open | F10 (D3) Nov 10 open (due today) | F7 (D3) Nov 20
  in progress.

The rows are written with the ORM by `write_governance` (the concerns and meetings APIs land in
parallel): switching it to those APIs, with the clock frozen at each moment above, must keep every
figure below.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from api import clock
from api.db.models import (
    Concern,
    ConcernSupporter,
    ConcernVerdict,
    Decision,
    FollowUp,
    Meeting,
    MeetingParticipant,
    ProjectCommunity,
    ServiceProject,
)
from api.db.session import Database
from api.services.governance.common import Clocks, accept_deadline, resolution_deadline
from tests.factories import Person, community, grant, join, login, platform_admin

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 11, 10, 10, 0, tzinfo=TZ)  # Tuesday
SEP_OCT = {"from": "2026-09-01", "to": "2026-10-31"}
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
GOVERNANCE = [
    "concerns_raised", "response_rate", "resolution_rate", "resolution_days", "satisfaction_rate",
    "meetings_held", "decisions_made", "follow_ups_on_time",
]  # fmt: skip


def local(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


@dataclass
class Scene:
    client: Any
    db: Database
    root: Person
    staff: Person
    c_staff: Person
    chen: Person
    zhou: Person
    li: Person
    sun: Person
    ma: Person
    a: int
    c: int
    concerns: dict[str, int] = field(default_factory=dict)
    meetings: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    follow_ups: dict[str, int] = field(default_factory=dict)


async def build_scene(client: Any, db: Database) -> Scene:
    """The people and communities, through the API; then the governance rows."""
    clock.freeze(TODAY)  # every row below carries its own time
    root = await platform_admin(client, db)
    a = (await community(client, root, "东湖社区"))["id"]
    c = (await community(client, root, "西岭社区"))["id"]
    staff, c_staff = await login(client, "staff-a"), await login(client, "staff-c")
    await grant(client, root, a, staff, "staff")
    await grant(client, root, c, c_staff, "staff")
    people = {}
    for name, building, room in (
        ("chen", "1栋", "101"),
        ("sun", "1栋", "102"),
        ("zhou", "2栋", "201"),
        ("li", "2栋", "202"),
    ):
        people[name] = await login(client, name)
        await join(client, people[name], a, building=building, room=room)
    ma = await login(client, "ma")
    await join(client, ma, c)
    scene = Scene(
        client, db, root, staff, c_staff, people["chen"], people["zhou"], people["li"], people["sun"], ma, a, c
    )
    await write_governance(scene)
    return scene


# -- the fixture's governance rows: one builder, to be switched to the concerns and meetings APIs --


async def write_governance(s: Scene) -> None:
    """Every concern, verdict, meeting, decision and follow-up of the module docstring, as the
    services would have left them (written with the ORM until their APIs are merged). In API
    terms: each resident raises their concern at its time; staff accept it (with its level) or
    turn it down at "answered"; resolve it, close it; residents say "me too" and give their
    verdicts; staff create, hold and minute the meetings, record the decisions and follow-ups, and
    mark those done (or drop one) at the times given."""
    policy = Clocks()

    async with s.db.session() as session:

        def concern(
            key: str,
            raised: datetime,
            who: Person,
            building: str,
            category: str,
            title: str,
            *,
            status: str = "submitted",
            answered: datetime | None = None,
            level: int | None = None,
            resolved: datetime | None = None,
            closed: datetime | None = None,
            community_id: int | None = None,
            **more: Any,
        ) -> Concern:
            visibility = more.pop("visibility", "visible")
            outcome = status if status in ("resolved", "unresolvable", "referred", "duplicate") else None
            if status == "closed":
                outcome = "resolved"
            row = Concern(
                community_id=community_id or s.a,
                raised_by=who.user_id,
                category=category,
                building=building,
                place=more.pop("place", ""),
                title=title,
                body=title,
                visibility=visibility,
                text_verdict="risky" if visibility == "rejected" else "pass",
                status=status,
                level=level,
                responsible="物业" if level == 1 else "",
                accept_by=accept_deadline(raised, policy, TZ),
                due_at=resolution_deadline(answered, level, policy) if answered and level else None,
                responded_at=answered,
                resolved_at=resolved,
                closed_at=closed,
                outcome=outcome,
                created_at=raised,
                updated_at=closed or resolved or answered or raised,
                **more,
            )
            session.add(row)
            return row

        rows = {
            "K0": concern("K0", local(8, 25), s.zhou, "2栋", "repair", "楼上漏水", status="resolved",
                          answered=local(8, 26), level=1, resolved=local(9, 2)),
            "K1": concern("K1", local(9, 1), s.chen, "1栋", "parking", "电动车乱停堵住单元门", status="closed",
                          answered=local(9, 3), level=1, resolved=local(9, 5), closed=local(9, 20), metoo_count=1),
            "K2": concern("K2", local(9, 4, 15), s.zhou, "2栋", "noise", "广场舞音响太吵", status="resolved",
                          answered=local(9, 8, 15, 1), level=2, resolved=local(9, 14, 15)),
            "K4": concern("K4", local(9, 20, 11), s.sun, "1栋", "repair", "1栋门口路灯不亮", status="in_progress",
                          answered=local(9, 21, 9), level=1, resolved=local(9, 23, 11), reopen_count=1),
            "K5": concern("K5", local(9, 28, 20), s.chen, "", "children_elders", "儿童滑梯摔坏了", status="accepted",
                          answered=local(10, 9), level=3, place="小区广场"),
            "K7": concern("K7", local(9, 15), s.chen, "1栋", "sanitation", "（未通过检查的文字）",
                          visibility="rejected"),
            "K6": concern("K6", local(10, 1, 0, 30), s.zhou, "2栋", "parking", "外来车占了车位", status="referred",
                          answered=local(10, 2), referred_to="街道城管"),
            "K8": concern("K8", local(10, 12, 9), s.li, "2栋", "sanitation", "垃圾分类点满溢", status="resolved",
                          answered=local(10, 13, 9), level=1, resolved=local(10, 15, 21), metoo_count=2),
            "K9": concern("K9", local(10, 28), s.sun, "1栋", "safety", "楼道里给电动车充电"),
            "K10": concern("K10", local(10, 30, 16), s.chen, "1栋", "other", "草坪上的宠物粪便", hide_name=True),
            "K12": concern("K12", local(11, 2, 9), s.zhou, "2栋", "repair", "单元门禁坏了", status="accepted",
                           answered=local(11, 3, 9), level=2),
            "K11": concern("K11", local(11, 9), s.li, "2栋", "sanitation", "楼道堆满纸箱"),
            "KC": concern("KC", local(9, 5), s.ma, "1栋", "parking", "西岭的停车", status="resolved",
                          answered=local(9, 6), level=1, resolved=local(9, 8), community_id=s.c),
        }  # fmt: skip
        await session.flush()
        rows["K3"] = concern("K3", local(9, 10, 9), s.li, "2栋", "noise", "晚上广场舞噪音", status="duplicate",
                             answered=local(9, 11, 9), duplicate_of=rows["K2"].id)  # fmt: skip
        await session.flush()
        s.concerns = {key: row.id for key, row in rows.items()}

        session.add_all(
            [
                ConcernSupporter(concern_id=rows["K1"].id, user_id=s.zhou.user_id, created_at=local(9, 1, 12)),
                ConcernSupporter(concern_id=rows["K8"].id, user_id=s.chen.user_id, created_at=local(10, 12, 12)),
                ConcernSupporter(concern_id=rows["K8"].id, user_id=s.sun.user_id, created_at=local(10, 12, 13)),
            ]
        )
        for key, who, stars, answer, raiser, at in (
            ("K0", s.zhou, 2, "partly", True, local(9, 3)),
            ("K1", s.chen, 5, "solved", True, local(9, 6)),
            ("K1", s.zhou, 3, "partly", False, local(9, 7)),
            ("K2", s.zhou, 4, "solved", True, local(9, 15)),
            ("K4", s.sun, 1, "not_solved", True, local(9, 25)),
            ("K8", s.li, 5, "solved", True, local(10, 16)),
            ("K8", s.chen, 4, "solved", False, local(10, 17)),
            ("K8", s.sun, 5, "solved", False, local(11, 2)),
            ("KC", s.ma, 5, "solved", True, local(9, 9)),
        ):
            session.add(
                ConcernVerdict(
                    concern_id=rows[key].id, user_id=who.user_id, round=0, answer=answer, stars=stars,
                    raiser=raiser, created_at=at,
                )
            )  # fmt: skip

        def meeting(key: str, kind: str, start: datetime, status: str, community_id: int | None = None) -> Meeting:
            row = Meeting(
                community_id=community_id or s.a,
                kind=kind,
                title=f"{key} 议事会",
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                place="复合空间议事角",
                status=status,
                walkin_count=6 if key == "M1" else 0,
                created_by=s.staff.user_id,
                agenda_published_at=start - timedelta(days=5) if status != "draft" else None,
                held_at=start + timedelta(hours=2) if status in ("held", "minutes_published") else None,
                minutes_published_at=start + timedelta(days=2) if status == "minutes_published" else None,
                cancelled_at=start - timedelta(days=1) if status == "cancelled" else None,
                cancel_reason="场地临时被占用" if status == "cancelled" else "",
                created_at=start - timedelta(days=10),
                updated_at=start,
            )
            session.add(row)
            return row

        meetings = {
            "M5": meeting("M5", "courtyard", local(8, 28, 19), "held"),
            "M1": meeting("M1", "five_party", local(9, 25, 19), "minutes_published"),
            "M7": meeting("M7", "courtyard", local(10, 10, 19), "draft"),
            "M2": meeting("M2", "courtyard", local(10, 16, 19, 30), "held"),
            "M3": meeting("M3", "working_group", local(10, 20, 19), "cancelled"),
            "M6": meeting("M6", "working_group", local(10, 31), "held"),
            "M4": meeting("M4", "five_party", local(11, 20, 19), "agenda_published"),
            "MC": meeting("MC", "five_party", local(9, 26, 19), "minutes_published", community_id=s.c),
        }
        await session.flush()
        s.meetings = {key: row.id for key, row in meetings.items()}
        for n, (party, name, present) in enumerate(
            (
                ("community", "社区书记", True),
                ("property", "物业经理", True),
                ("social_worker", "王社工", True),
                ("self_org", "志愿队长", False),
                ("resident_rep", "2栋楼栋长", True),
            )
        ):
            session.add(
                MeetingParticipant(
                    meeting_id=meetings["M1"].id, party=party, name=name,
                    checked_in_at=local(9, 25, 18, 50 + n) if present else None,
                    checkin_method="staff" if present else None,
                )
            )  # fmt: skip

        def decision(key: str, meeting_key: str, text: str, votes: tuple[int, int, int] | None = None) -> Decision:
            row = Decision(
                meeting_id=meetings[meeting_key].id,
                text=text,
                method="consensus" if votes is None else "vote",
                votes_for=None if votes is None else votes[0],
                votes_against=None if votes is None else votes[1],
                votes_abstain=None if votes is None else votes[2],
                created_by=s.staff.user_id,
            )
            session.add(row)
            return row

        decisions = {
            "D0": decision("D0", "M5", "院落绿地认养"),
            "D1": decision("D1", "M1", "在3栋东侧车棚加装充电桩"),
            "D2": decision("D2", "M1", "广场舞时间调整为19:00–20:30，音量减半", (9, 2, 1)),
            "D3": decision("D3", "M2", "楼道堆物每月最后一个周六集中清理"),
            "DC": decision("DC", "MC", "西岭的决议"),
        }
        await session.flush()
        s.decisions = {key: row.id for key, row in decisions.items()}

        def follow_up(
            key: str, decision_key: str, due: date, status: str, done: datetime | None = None, community_id: int = 0
        ) -> FollowUp:
            row = FollowUp(
                community_id=community_id or s.a,
                decision_id=decisions[decision_key].id,
                title=f"{key} 跟进",
                owner_party="property",
                owner_name="王经理（物业）",
                due_on=due,
                status=status,
                note="改由街道统一规划" if status == "dropped" else "",
                done_at=done,
            )
            session.add(row)
            return row

        follow_ups = {
            "F0": follow_up("F0", "D0", date(2026, 9, 10), "done", local(9, 9, 18)),
            "F8": follow_up("F8", "D1", date(2026, 9, 28), "done", local(9, 27)),
            "F3": follow_up("F3", "D2", date(2026, 9, 30), "dropped"),
            "F1": follow_up("F1", "D1", date(2026, 10, 10), "done", local(10, 10, 22)),
            "F2": follow_up("F2", "D2", date(2026, 10, 15), "done", local(10, 16, 7, 30)),
            "F4": follow_up("F4", "D2", date(2026, 10, 20), "open"),
            "F5": follow_up("F5", "D3", date(2026, 10, 31), "done", local(10, 25)),
            "F6": follow_up("F6", "D3", date(2026, 11, 15), "done", local(11, 1)),
            "F9": follow_up("F9", "D3", date(2026, 11, 9), "open"),
            "F10": follow_up("F10", "D3", date(2026, 11, 10), "open"),
            "F7": follow_up("F7", "D3", date(2026, 11, 20), "in_progress"),
            "FC": follow_up("FC", "DC", date(2026, 10, 5), "done", local(10, 4), community_id=s.c),
        }
        await session.flush()
        s.follow_ups = {key: row.id for key, row in follow_ups.items()}
        await session.commit()


# -- reading the reports -------------------------------------------------------------------------


@pytest.fixture
async def scene(client: Any, db: Database, _reset_clock: None) -> Scene:
    return await build_scene(client, db)


async def report(s: Scene, **params: Any) -> dict[str, dict[str, Any]]:
    response = await s.client.get(f"/api/v1/communities/{s.a}/reports", params=params, headers=s.staff.headers)
    assert response.status_code == 200, response.text
    return {i["key"]: i for i in response.json()["indicators"]}


async def rows(s: Scene, indicator: str, **params: Any) -> dict[str, Any]:
    response = await s.client.get(
        f"/api/v1/communities/{s.a}/reports/rows",
        params={**SEP_OCT, "indicator": indicator, **params},
        headers=s.staff.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by(indicator: dict[str, Any], breakdown: str) -> dict[str, Any]:
    return {f["key"]: f["value"] for f in indicator["breakdowns"][breakdown]}


def with_parts(indicator: dict[str, Any], breakdown: str) -> dict[str, tuple[Any, ...]]:
    """A rate's breakdown as {key: (rate, numerator, denominator)} (a median's: (median, n))."""
    return {f["key"]: (f["value"], *(p["value"] for p in f["parts"])) for f in indicator["breakdowns"][breakdown]}


def parts(indicator: dict[str, Any]) -> dict[str, Any]:
    return {p["key"]: p["value"] for p in indicator["parts"]}


# -- every figure, by hand -----------------------------------------------------------------------


async def test_every_governance_figure_is_the_one_computed_by_hand(scene):
    v = await report(scene, **SEP_OCT)
    assert list(v)[-len(GOVERNANCE) :] == GOVERNANCE
    for key in GOVERNANCE:
        assert v[key]["project_scoped"] is False and v[key]["definition"], key

    # raised in September: K1 K2 K3 K4 K5 (K7's text was refused); October: K6 (00:30 on 1 October,
    # locally), K8 K9 K10; not K0 (August) nor K11, K12 (November), nor C's
    raised = v["concerns_raised"]
    assert raised["value"] == 5 + 4
    assert by(raised, "month") == {"2026-09": 5, "2026-10": 4}
    assert by(raised, "building") == {
        "1栋": 4,  # K1 K4 K9 K10
        "2栋": 4,  # K2 K3 K6 K8
        "_none": 1,  # K5, on the square
    }
    assert {f["label"]: f["value"] for f in raised["breakdowns"]["building"]}["未登记楼栋"] == 1
    assert by(raised, "concern_category") == {
        "parking": 2, "noise": 2, "repair": 1, "children_elders": 1, "sanitation": 1, "safety": 1, "other": 1
    }  # fmt: skip
    assert {f["label"] for f in raised["breakdowns"]["concern_category"]} == {
        "停车", "噪音", "设施维修", "儿童与养老", "环境卫生", "安全", "其他"
    }  # fmt: skip
    assert "parts" not in raised["breakdowns"]["month"][0]  # a count needs no numerator

    # answered in time: K1 (at accept_by to the minute), K3, K4 (raised on a Sunday: due at the end of Tuesday),
    # K6, K8; late: K2 (a minute after), K5 (Oct 9), K9 and K10 (never, their clocks ran out);
    # all nine count. September 3 of 5, October 2 of 4 — the whole is 5 of 9, not the months' mean
    response = v["response_rate"]
    assert (response["value"], response["unit"]) == (round(100 * 5 / 9, 1), "%") == (55.6, "%")
    assert parts(response) == {"in_time": 5, "due": 9}
    assert (response["plan"], response["percent"]) == (None, None)
    assert with_parts(response, "month") == {"2026-09": (100 * 3 / 5, 3, 5), "2026-10": (100 * 2 / 4, 2, 4)}
    assert with_parts(response, "building") == {
        "1栋": (100 * 2 / 4, 2, 4),  # K1 K4 | K9 K10
        "2栋": (100 * 3 / 4, 3, 4),  # K3 K6 K8 | K2
        "_none": (0.0, 0, 1),  # K5
    }
    assert with_parts(response, "concern_category") == {
        "parking": (100.0, 2, 2),  # K1 K6
        "noise": (100 * 1 / 2, 1, 2),  # K3 | K2
        "repair": (100.0, 1, 1),  # K4
        "children_elders": (0.0, 0, 1),  # K5
        "sanitation": (100.0, 1, 1),  # K8
        "safety": (0.0, 0, 1),  # K9
        "other": (0.0, 0, 1),  # K10
    }

    # resolved now, of those raised less the duplicate K3: K1 (closed since), K2, K8 of K1 K2 K4 K5
    # K6 K8 K9 K10; K4 was resolved but reopened, K6 referred elsewhere
    resolution = v["resolution_rate"]
    assert resolution["value"] == 100 * 3 / 8 == 37.5
    assert parts(resolution) == {"resolved": 3, "raised": 8}
    assert with_parts(resolution, "month") == {
        "2026-09": (100 * 2 / 4, 2, 4),  # K1 K2 | K4 K5
        "2026-10": (100 * 1 / 4, 1, 4),  # K8 | K6 K9 K10
    }
    assert with_parts(resolution, "building") == {
        "1栋": (100 * 1 / 4, 1, 4),  # K1 | K4 K9 K10
        "2栋": (round(100 * 2 / 3, 1), 2, 3),  # K2 K8 | K6
        "_none": (0.0, 0, 1),
    }
    assert with_parts(resolution, "concern_category")["noise"] == (100.0, 1, 1)  # K2; K3 is its duplicate

    # resolved in the period and resolved still: K0 (raised in August) 8.0 days, K1 4.0, K2 10.0,
    # K8 3.5; not K4 (reopened). Median of 3.5 4.0 8.0 10.0 = (4.0 + 8.0) / 2; September's is 8.0,
    # October's 3.5: the whole is recomputed from the rows, not the months' mean (5.75)
    days = v["resolution_days"]
    assert (days["value"], days["unit"]) == ((4.0 + 8.0) / 2, "天") == (6.0, "天")
    assert parts(days) == {"resolved": 4}
    assert with_parts(days, "month") == {"2026-09": (8.0, 3), "2026-10": (3.5, 1)}
    assert with_parts(days, "building") == {"1栋": (4.0, 1), "2栋": (8.0, 3)}  # K1 | median of 8.0 10.0 3.5
    assert with_parts(days, "concern_category") == {
        "parking": (4.0, 1), "noise": (10.0, 1), "repair": (8.0, 1), "sanitation": (3.5, 1)
    }  # fmt: skip

    # verdicts given: September K0 2★, K1 5★ and 3★ (partly: 3 stars is not satisfied), K2 4★,
    # K4 1★; October K8 5★ and 4★; sun's of Nov 2 and C's are not counted
    satisfied = v["satisfaction_rate"]
    assert satisfied["value"] == round(100 * 4 / 7, 1) == 57.1
    assert parts(satisfied) == {"satisfied": 4, "n": 7}
    assert with_parts(satisfied, "month") == {"2026-09": (100 * 2 / 5, 2, 5), "2026-10": (100.0, 2, 2)}
    assert with_parts(satisfied, "building") == {
        "1栋": (round(100 * 1 / 3, 1), 1, 3),  # K1 5★ | K1 3★, K4 1★
        "2栋": (100 * 3 / 4, 3, 4),  # K2 4★, K8 5★ 4★ | K0 2★
    }
    assert with_parts(satisfied, "concern_category") == {
        "parking": (50.0, 1, 2), "noise": (100.0, 1, 1), "repair": (0.0, 0, 2), "sanitation": (100.0, 2, 2)
    }  # fmt: skip

    # meetings held: M1 (September), M2 (minutes not out yet) and M6 (October); not M5 (August),
    # the draft M7, the cancelled M3, the coming M4, nor C's
    held = v["meetings_held"]
    assert held["value"] == 3 and by(held, "month") == {"2026-09": 1, "2026-10": 2}
    assert parts(held) == {"five_party": 1, "courtyard": 1, "working_group": 1}
    assert set(held["breakdowns"]) == {"month"} and held["plan"] is None
    decided = v["decisions_made"]
    assert decided["value"] == 3 and by(decided, "month") == {"2026-09": 2, "2026-10": 1}  # D1 D2 | D3
    assert parts(decided) == {"consensus": 2, "vote": 1}

    # follow-ups due: September F0 (of August's meeting) and F8, both done in time (F3 dropped);
    # October F1 (done on its day at 22:00), F2 (done 07:30 the next morning: late, though still
    # its due date in UTC), F4 (open past its date), F5 (early)
    follow = v["follow_ups_on_time"]
    assert follow["value"] == round(100 * 4 / 6, 1) == 66.7
    assert parts(follow) == {"on_time": 4, "n": 6}
    assert with_parts(follow, "month") == {"2026-09": (100.0, 2, 2), "2026-10": (100 * 2 / 4, 2, 4)}


async def test_november_counts_clocks_still_running_only_once_they_run_out(scene):
    v = await report(scene, **NOVEMBER)
    assert v["concerns_raised"]["value"] == 2  # K11, K12
    # K12 answered in time; K11's clock runs until Wednesday 10:00: not counted yet
    assert (v["response_rate"]["value"], parts(v["response_rate"])) == (100.0, {"in_time": 1, "due": 1})
    assert (v["resolution_rate"]["value"], parts(v["resolution_rate"])) == (0.0, {"resolved": 0, "raised": 2})
    assert (v["resolution_days"]["value"], parts(v["resolution_days"])) == (None, {"resolved": 0})
    assert with_parts(v["resolution_days"], "month") == {"2026-11": (None, 0)}
    assert (v["satisfaction_rate"]["value"], parts(v["satisfaction_rate"])) == (100.0, {"satisfied": 1, "n": 1})
    assert (v["meetings_held"]["value"], v["decisions_made"]["value"]) == (0, 0)  # M4 is still to come
    # F6 done early, F9 open past its date; F10 is due today and F7 later: not yet counted
    assert (v["follow_ups_on_time"]["value"], parts(v["follow_ups_on_time"])) == (50.0, {"on_time": 1, "n": 2})

    clock.freeze(datetime(2026, 11, 11, 10, 0, tzinfo=TZ))  # K11's clock at its very minute: not yet late
    scene.staff = await login(scene.client, "staff-a")  # a day later: a fresh token
    assert parts((await report(scene, **NOVEMBER))["response_rate"]) == {"in_time": 1, "due": 1}
    clock.freeze(datetime(2026, 11, 11, 10, 1, tzinfo=TZ))  # a minute after: late, and counted
    v = await report(scene, **NOVEMBER)
    assert (v["response_rate"]["value"], parts(v["response_rate"])) == (50.0, {"in_time": 1, "due": 2})
    # F10's due date has passed now, still open
    assert (v["follow_ups_on_time"]["value"], parts(v["follow_ups_on_time"])) == (
        round(100 * 1 / 3, 1), {"on_time": 1, "n": 3}
    )  # fmt: skip


async def test_counts_have_a_plan_and_rates_are_not_targetable(scene):
    s = scene
    async with s.db.session() as session:
        project = ServiceProject(
            name="议事协商项目", funder="街道", starts_on=date(2026, 9, 1), ends_on=date(2027, 8, 31), grain="month"
        )
        session.add(project)
        await session.flush()
        session.add(ProjectCommunity(project_id=project.id, community_id=s.a, added_at=clock.now()))
        await session.commit()
        pid = project.id
    url = f"/api/v1/projects/{pid}/communities/{s.a}/targets"
    targets = [
        {"indicator": "meetings_held", "period": "total", "value": 12},
        {"indicator": "concerns_raised", "period": "2026-09", "value": 4},
        {"indicator": "concerns_raised", "period": "2026-10", "value": 4},
    ]
    saved = await s.client.put(url, json={"targets": targets}, headers=s.staff.headers)
    assert saved.status_code == 200, saved.text
    for rate in ("response_rate", "resolution_rate", "resolution_days", "satisfaction_rate", "follow_ups_on_time"):
        refused = await s.client.put(
            url, json={"targets": [{"indicator": rate, "period": "total", "value": 90}]}, headers=s.staff.headers
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "indicator_unknown", rate

    whole = await report(s, **SEP_OCT)
    v = await report(s, **SEP_OCT, project=pid)
    # meetings: the contract's 12 prorated to the 61 days passed of its 365
    assert (v["meetings_held"]["plan"], v["meetings_held"]["target_total"]) == (round(12 * 61 / 365, 1), 12)
    assert v["meetings_held"]["percent"] == round(100 * 3 / (12 * 61 / 365), 1) == 149.6
    # concerns: September's 4 and October's 4
    assert (v["concerns_raised"]["plan"], v["concerns_raised"]["percent"]) == (8, 100 * 9 / 8)
    for key in GOVERNANCE:
        assert v[key]["value"] == whole[key]["value"], key  # community-wide whatever the project
        assert v[key]["breakdowns"] == whole[key]["breakdowns"], key
        if key not in ("meetings_held", "concerns_raised"):
            assert (v[key]["plan"], v[key]["percent"], v[key]["target_total"]) == (None, None, None), key

    defined = (await s.client.get(f"/api/v1/communities/{s.a}/reports/indicators", headers=s.staff.headers)).json()
    targetable = {d["key"]: d["targetable"] for d in defined if d["key"] in GOVERNANCE}
    assert targetable == {
        "concerns_raised": True, "response_rate": False, "resolution_rate": False, "resolution_days": False,
        "satisfaction_rate": False, "meetings_held": True, "decisions_made": True, "follow_ups_on_time": False,
    }  # fmt: skip
    breakdowns = {d["key"]: [b["key"] for b in d["breakdowns"]] for d in defined if d["key"] in GOVERNANCE}
    assert breakdowns["satisfaction_rate"] == ["month", "building", "concern_category"]
    assert breakdowns["follow_ups_on_time"] == ["month"]


# -- drill-down ----------------------------------------------------------------------------------


async def test_the_rows_behind_each_governance_figure(scene):
    s = scene
    response = await rows(s, "response_rate")
    assert (response["value"], response["total_rows"]) == (55.6, 9)
    assert [(r["concern_id"], r["in_time"]) for r in response["rows"]] == [
        (s.concerns[k], ok)
        for k, ok in (
            ("K1", "是"), ("K2", "否"), ("K3", "是"), ("K4", "是"), ("K5", "否"),
            ("K6", "是"), ("K8", "是"), ("K9", "否"), ("K10", "否"),
        )
    ]  # fmt: skip
    k2 = response["rows"][1]
    assert (k2["accept_by"], k2["responded_at"]) == ("2026-09-08 15:00", "2026-09-08 15:01")
    k4 = response["rows"][3]
    assert (k4["at"], k4["accept_by"]) == ("2026-09-20 11:00", "2026-09-23 00:00")  # Sunday → the end of Tuesday
    k10 = response["rows"][-1]
    assert (k10["raiser"], k10["responded_at"]) == ("chen（对居民隐藏姓名）", "")  # staff see who
    october = await rows(s, "response_rate", breakdown="month", key="2026-10")
    assert [r["title"] for r in october["rows"]] == [
        "外来车占了车位",
        "垃圾分类点满溢",
        "楼道里给电动车充电",
        "草坪上的宠物粪便",
    ]
    assert (october["value"], october["group"]) == (50.0, "2026年10月")
    square = await rows(s, "response_rate", breakdown="building", key="_none")
    assert ([r["title"] for r in square["rows"]], square["value"]) == (["儿童滑梯摔坏了"], 0.0)

    parking = await rows(s, "concerns_raised", breakdown="concern_category", key="parking")
    assert [r["concern_id"] for r in parking["rows"]] == [s.concerns["K1"], s.concerns["K6"]]
    assert (parking["group"], parking["value"]) == ("停车", 2)
    assert [r["status"] for r in parking["rows"]] == ["已关闭（已解决）", "已转办"]

    resolution = await rows(s, "resolution_rate")
    ids = [r["concern_id"] for r in resolution["rows"]]
    assert s.concerns["K3"] not in ids and len(ids) == 8
    assert [r["resolved"] for r in resolution["rows"]].count("是") == 3
    reopened = next(r for r in resolution["rows"] if r["concern_id"] == s.concerns["K4"])
    assert (reopened["resolved"], reopened["reopened"], reopened["status"]) == ("否", 1, "处理中")

    days = await rows(s, "resolution_days")
    assert [(r["concern_id"], r["days"]) for r in days["rows"]] == [
        (s.concerns["K0"], 8.0), (s.concerns["K1"], 4.0), (s.concerns["K2"], 10.0), (s.concerns["K8"], 3.5)
    ]  # fmt: skip

    verdicts = await rows(s, "satisfaction_rate")
    assert [(r["stars"], r["satisfied"]) for r in verdicts["rows"]] == [
        (2, "否"), (5, "是"), (3, "否"), (4, "是"), (1, "否"), (5, "是"), (4, "是")
    ]  # fmt: skip
    assert verdicts["rows"][2]["name"] == "zhou" and verdicts["rows"][1]["name"] == "chen（提出人）"
    assert verdicts["rows"][2]["answer"] == "部分解决" and verdicts["total_rows"] == 7

    meetings = await rows(s, "meetings_held")
    assert [(r["meeting_id"], r["kind"]) for r in meetings["rows"]] == [
        (s.meetings["M1"], "五方议事会"), (s.meetings["M2"], "院落议事会"), (s.meetings["M6"], "工作小组会")
    ]  # fmt: skip
    assert (meetings["rows"][0]["present"], meetings["rows"][0]["walkins"], meetings["rows"][0]["decisions"]) == (
        "4/5", 6, 2
    )  # fmt: skip
    decisions = await rows(s, "decisions_made")
    assert [(r["decision_id"], r["method"], r["follow_ups"]) for r in decisions["rows"]] == [
        (s.decisions["D1"], "协商一致", 2),
        (s.decisions["D2"], "表决（赞成 9 · 反对 2 · 弃权 1）", 3),
        (s.decisions["D3"], "协商一致", 5),
    ]
    follow = await rows(s, "follow_ups_on_time")
    assert [(r["follow_up_id"], r["done_on"], r["on_time"]) for r in follow["rows"]] == [
        (s.follow_ups["F0"], "2026-09-09", "是"),
        (s.follow_ups["F8"], "2026-09-27", "是"),
        (s.follow_ups["F1"], "2026-10-10", "是"),
        (s.follow_ups["F2"], "2026-10-16", "否"),
        (s.follow_ups["F4"], "", "否"),
        (s.follow_ups["F5"], "2026-10-25", "是"),
    ]


# -- exports -------------------------------------------------------------------------------------


async def export(s: Scene, **params: Any) -> bytes:
    response = await s.client.get(
        f"/api/v1/communities/{s.a}/reports/export", params={**SEP_OCT, **params}, headers=s.staff.headers
    )
    assert response.status_code == 200, response.text
    return response.content


async def test_the_exports_carry_the_governance_figures_with_their_n(scene):
    book = load_workbook(io.BytesIO(await export(scene, format="xlsx")))
    assert "按烦心事类别" in book.sheetnames and book.sheetnames[-1] == "指标口径"
    overview = {row[0]: row[1:4] for row in book["总表"].iter_rows(values_only=True)}
    assert overview["烦心事反映数"] == (9, "件", None)
    assert overview["按时响应率"] == (55.6, "%", "按时答复 5；应答复 9")
    assert overview["办结率"] == (37.5, "%", "已解决 3；提出（不含重复） 8")
    assert overview["办结时长"] == (6.0, "天", "解决件数 4")
    assert overview["满意率"] == (57.1, "%", "4–5 星 4；评价数 n 7")
    assert overview["议事会召开次数"] == (3, "次", "五方议事会 1；院落议事会 1；工作小组会 1")
    assert overview["形成决议数"] == (3, "项", "协商一致 2；表决 1")
    assert overview["跟进事项按时完成率"] == (66.7, "%", "按时完成 4；事项数 n 6")

    head, *months = list(book["按月份"].iter_rows(values_only=True))
    column = {name: n for n, name in enumerate(head)}
    picked = ["满意率（%）", "满意率：4–5 星", "满意率：评价数 n", "办结时长（天）", "办结时长：解决件数"]
    assert [[row[0], *(row[column[c]] for c in picked)] for row in months] == [
        ["2026年9月", 40.0, 2, 5, 8.0, 3],
        ["2026年10月", 100.0, 2, 2, 3.5, 1],
    ]
    head, *categories = list(book["按烦心事类别"].iter_rows(values_only=True))
    assert head[:5] == (
        "烦心事类别",
        "烦心事反映数（件）",
        "按时响应率（%）",
        "按时响应率：按时答复",
        "按时响应率：应答复",
    )
    assert {row[0]: row[1:5] for row in categories} == {
        "停车": (2, 100.0, 2, 2), "噪音": (2, 50.0, 1, 2), "设施维修": (1, 100.0, 1, 1), "儿童与养老": (1, 0.0, 0, 1),
        "环境卫生": (1, 100.0, 1, 1), "安全": (1, 0.0, 0, 1), "其他": (1, 0.0, 0, 1),
    }  # fmt: skip
    head, *buildings = list(book["按楼栋"].iter_rows(values_only=True))
    resolution = head.index("办结率（%）")
    assert {row[0]: row[resolution : resolution + 3] for row in buildings} == {
        "1栋": (25.0, 1, 4), "2栋": (66.7, 2, 3), "未登记楼栋": (0.0, 0, 1)
    }  # fmt: skip
    definitions = {row[0]: row[2] for row in book["指标口径"].iter_rows(values_only=True)}
    v = await report(scene, **SEP_OCT)
    assert all(definitions[v[key]["name"]] == v[key]["definition"] for key in GOVERNANCE)

    by_month = list(csv.reader(io.StringIO((await export(scene, format="csv", breakdown="month")).decode("utf-8-sig"))))
    column = {name: n for n, name in enumerate(by_month[0])}
    rate = ["按时响应率（%）", "按时响应率：按时答复", "按时响应率：应答复"]
    assert [[line[column[c]] for c in rate] for line in by_month[1:]] == [["60", "3", "5"], ["50", "2", "4"]]
    whole = list(csv.reader(io.StringIO((await export(scene, format="csv")).decode("utf-8-sig"))))
    assert {line[0]: line[1] for line in whole[1:] if line[0] in ("满意率", "办结时长")} == {
        "满意率": "57.1", "办结时长": "6"
    }  # fmt: skip


# -- a part of the facts read ---------------------------------------------------------------------


async def test_a_part_of_the_governance_facts_read_is_what_reading_that_part_gives(scene):
    """The dashboard reads a period once and takes its parts from it (`facts.restrict`)."""
    from api.db.models import User
    from api.services.reports import facts as facts_module
    from api.services.reports import report as report_module
    from api.services.reports.periods import Span

    async with scene.db.session() as session:
        user = await session.get(User, scene.staff.user_id)
        assert user is not None
        _, read = await report_module.build_with_facts(
            session, user, scene.a, date(2026, 8, 1), date(2026, 11, 30), None
        )
        for first, last in (
            (date(2026, 9, 1), date(2026, 9, 30)),
            (date(2026, 10, 1), date(2026, 11, 30)),
            (date(2026, 8, 1), date(2026, 10, 31)),
        ):
            fresh = await report_module.build(session, user, scene.a, first, last, None)
            part = report_module.compose(facts_module.restrict(read, Span(first, last)), None, {})
            assert part == fresh, (first, last)
            assert [i["value"] for i in part["indicators"] if i["key"] in GOVERNANCE] == [
                i["value"] for i in fresh["indicators"] if i["key"] in GOVERNANCE
            ]
