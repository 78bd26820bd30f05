"""The governance indicators of the reports (issue 15): every figure and breakdown equals a figure
computed by hand on one small community over September and October 2026 (with an August before
and a November after), read through the HTTP reports API, its drill-down and its exports.

The scene, by local (Shanghai) time; "today" is Tuesday 10 November 2026, 10:00. Response clocks
are the default 2 working days (Monday to Friday) at the same time of day.

people of 东湖社区 (A): chen 1栋, sun 1栋, zhou 2栋, li 2栋; staff-a. 西岭社区 (C): ma, staff-c. All
there since Monday 3 August.

concerns (A)  raised              by    building category         answered (accept_by)            ending
  K0  Tue Aug 25 10:00  zhou 2栋  repair            Aug 26 10:00 (Aug 27 10:00)    resolved Sep  2 10:00 (8.0 d)
  K1  Tue Sep  1 10:00  chen 1栋  parking           Sep  3 10:00 (Sep  3 10:00)    resolved Sep  5 10:00 (4.0 d), closed
  K2  Fri Sep  4 15:00  zhou 2栋  noise             Sep  8 15:01 (Sep  8 15:00)    resolved Sep 14 15:00 (10.0 d)
  K3  Thu Sep 10 09:00  li   2栋  noise             Sep 11 09:00 (Sep 14 09:00)    duplicate of K2
  K4  Sun Sep 20 11:00  sun  1栋  repair            Sep 21 09:00 (Sep 23 00:00)    resolved Sep 23, reopened Sep 25
  K5  Mon Sep 28 20:00  chen —    children_elders   Oct  9 10:00 (Sep 30 20:00)    accepted, level 3 (on M4's agenda)
  K7  Tue Sep 15 10:00  chen 1栋  sanitation        — its text refused by WeChat's check (never counted)
  K6  Thu Oct  1 00:30  zhou 2栋  parking           Oct  2 10:00 (Oct  5 00:30)    referred to 街道城管
      (Sep 30 16:30 UTC: October, locally)
  K8  Mon Oct 12 09:00  li   2栋  sanitation        Oct 13 09:00 (Oct 14 09:00)    resolved Oct 15 21:00 (3.5 d)
  K9  Wed Oct 28 10:00  sun  1栋  safety            —            (Oct 30 10:00)    waiting, late
  K10 Fri Oct 30 16:00  chen 1栋  other (name hidden) —          (Nov  3 16:00)    waiting, late
  K12 Mon Nov  2 09:00  zhou 2栋  repair            Nov  3 09:00 (Nov  4 09:00)    accepted, level 2
  K11 Mon Nov  9 10:00  li   2栋  sanitation        —            (Nov 11 10:00)    waiting, its clock still running
  KC  (C) Sep 5, resolved Sep 8, ma's 5-star verdict Sep 9, a meeting and a follow-up: never A's.
  K1 is closed by staff on Sep 18; the worker closes K0 K2 K3 K6 K8 (and KC) once their ending
  is 14 days old. Closing keeps the ending (`outcome`), which the figures go by: it changes only
  the state a drill-down row shows (K6: 已关闭（已转办）).

me too (A): K1 zhou Sep 1 12:00 | K8 chen Oct 12 12:00, sun Oct 12 13:00.
verdicts (A): K0 zhou 2★ partly Sep 3 | K1 chen 5★ Sep 6, zhou (me too) 3★ partly Sep 7 | K2 zhou
  4★ Sep 15 | K4 sun 1★ not solved Sep 25 (which reopened it) | K8 li 5★ Oct 16, chen 4★ Oct 17,
  sun 5★ Nov 2 (K8 closed by then: a verdict on a closed resolution is still recorded).

meetings (A), planned ten days before they start and their agendas published five days before
  (M4 aside), marked held at their end: M5 courtyard Aug 28 held (D0) | M1 five-party Sep 25 (5
  participants, 4 checked in, 6 without the app), minutes published Sep 27 (D1 by consensus, D2
  by vote 9–2–1) | M7 a draft dated Oct 10, never held | M2 courtyard Oct 16 held, minutes not
  yet out (D3) | M3 working group Oct 20 cancelled the day before | M6 working group Oct 31 held,
  no decision | M4 five-party Nov 20, planned Nov 5 (taking up the waiting K5), agenda published
  Nov 6.

follow-ups (A), by due date: F0 (D0) Sep 10 done Sep 9 | F8 (D1) Sep 28 done Sep 27 | F3 (D2)
  Sep 30 dropped | F1 (D1) Oct 10 done Oct 10 22:00 | F2 (D2) Oct 15 done Oct 16 07:30 (Oct 15
  23:30 UTC: a day late, locally) | F4 (D2) Oct 20 still open | F5 (D3) Oct 31 done Oct 25 | F6
  (D3) Nov 15 done Nov 1 | F9 (D3) Nov 9 open | F10 (D3) Nov 10 open (due today) | F7 (D3) Nov 20
  in progress.

Every row is written by the services: `write_governance` makes the calls of the concerns and
meetings APIs each at its moment above (the clock frozen there), and the worker runs as each
concern is raised and once more today.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from api import clock
from api.db.session import Database
from api.main import create_app, shutdown
from tests.conftest import _empty_tables as empty_tables
from tests.conftest import make_settings
from tests.contract import api_client
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 11, 10, 10, 0, tzinfo=TZ)  # Tuesday
SETUP = datetime(2026, 8, 3, 9, 0, tzinfo=TZ)  # Monday: the communities, their staff and residents
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


async def build_scene(client: Any, app: Any) -> Scene:
    """The people and communities, through the API, on Monday 3 August; then the governance rows,
    each at its moment; then "today"."""
    clock.freeze(SETUP)
    db: Database = app.state.db
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
    await write_governance(Steps(scene, app))
    clock.freeze(TODAY)
    for person in (scene.staff, scene.c_staff, scene.chen, scene.zhou, scene.li, scene.sun, scene.ma):
        person.token = (await login(client, person.name)).token  # the reports are read today
    return scene


# -- the fixture's governance rows, through the concerns and meetings APIs -----------------------


class Steps:
    """The scene's API calls, each made by its person with the clock frozen at its moment; the clock
    only moves forward. The worker runs whenever a concern is raised (its text check), and does then
    whatever else has fallen due since it last ran, as the running worker would have: flagging late
    clocks, closing the concerns settled `reopen_days` before. Tokens last a day (`jwt_ttl_seconds`):
    whoever acts logs in again once theirs has run out."""

    def __init__(self, s: Scene, app: Any) -> None:
        self.s, self.app = s, app
        self.now = SETUP
        self.issued: dict[str, datetime] = {}
        self.token_life = timedelta(seconds=app.state.settings.jwt_ttl_seconds)

    async def at(self, when: datetime) -> None:
        assert when >= self.now, f"the scene goes forward: {when} after {self.now}"
        self.now = when
        clock.freeze(when)

    async def worker(self) -> None:
        await Worker(self.app.state.db, self.app.state.settings, self.app.state.wechat).run_until_idle()

    async def call(
        self, person: Person, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200
    ) -> dict[str, Any]:
        issued = self.issued.get(person.name)
        if issued is None or not issued <= self.now < issued + self.token_life:
            person.token = (await login(self.s.client, person.name)).token
            self.issued[person.name] = self.now
        response = await self.s.client.request(method, f"/api/v1{path}", json=body, headers=person.headers)
        assert response.status_code == expect, (method, path, response.text)
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    # -- concerns

    async def raise_(
        self,
        key: str,
        when: datetime,
        who: Person,
        building: str,
        category: str,
        title: str,
        *,
        community_id: int | None = None,
        shown: str = "visible",
        **more: Any,
    ) -> None:
        """`who` raises the concern; the worker checks its text at once (WeChat's verdict: `shown`)."""
        await self.at(when)
        body = {"category": category, "building": building, "title": title, "body": more.pop("body", title), **more}
        raised = await self.call(who, "POST", f"/communities/{community_id or self.s.a}/concerns", body, 201)
        self.s.concerns[key] = raised["id"]
        await self.worker()
        seen = await self.call(who, "GET", f"/concerns/{raised['id']}")
        assert (seen["visibility"], seen["accept_by"]) == (shown, raised["accept_by"]), seen

    async def triage(self, key: str, when: datetime, action: str, by: Person | None = None, **body: Any) -> None:
        """Staff of A (or `by`) `accept`, `resolve`, `decline` or `close` the concern at `when`."""
        await self.at(when)
        await self.call(by or self.s.staff, "POST", f"/concerns/{self.s.concerns[key]}/{action}", body)

    async def metoo(self, key: str, when: datetime, who: Person) -> None:
        await self.at(when)
        await self.call(who, "POST", f"/concerns/{self.s.concerns[key]}/metoo")

    async def verdict(self, key: str, when: datetime, who: Person, answer: str, stars: int) -> None:
        await self.at(when)
        body = {"answer": answer, "stars": stars}
        await self.call(who, "POST", f"/concerns/{self.s.concerns[key]}/verdict", body, 201)

    # -- meetings

    async def meeting(
        self, key: str, when: datetime, kind: str, start: datetime, *items: str, by: Person | None = None
    ) -> dict[str, Any]:
        """Staff plan the meeting at `when` (two hours long) with these agenda items."""
        await self.at(when)
        staff = by or self.s.staff
        community_id = self.s.c if staff is self.s.c_staff else self.s.a
        body = {
            "kind": kind,
            "title": f"{key} 议事会",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "place": "复合空间议事角",
        }
        planned = await self.call(staff, "POST", f"/communities/{community_id}/meetings", body, 201)
        self.s.meetings[key] = planned["id"]
        for title in items:
            await self.call(staff, "POST", f"/meetings/{planned['id']}/agenda", {"title": title}, 201)
        return planned

    async def step(self, key: str, when: datetime, action: str, by: Person | None = None, **body: Any) -> None:
        """`publish-agenda`, `hold`, `publish-minutes` or `cancel` the meeting at `when`."""
        await self.at(when)
        await self.call(by or self.s.staff, "POST", f"/meetings/{self.s.meetings[key]}/{action}", body or None)

    async def decision(
        self,
        key: str,
        meeting_key: str,
        text: str,
        votes: tuple[int, int, int] | None = None,
        by: Person | None = None,
    ) -> None:
        """A decision of the meeting just held, by consensus or by a vote (for, against, abstaining)."""
        body: dict[str, Any] = {"text": text, "method": "consensus" if votes is None else "vote"}
        if votes is not None:
            body.update(votes_for=votes[0], votes_against=votes[1], votes_abstain=votes[2])
        made = await self.call(
            by or self.s.staff, "POST", f"/meetings/{self.s.meetings[meeting_key]}/decisions", body, 201
        )
        self.s.decisions[key] = made["id"]

    async def follow_up(self, key: str, decision_key: str, due: date, by: Person | None = None) -> None:
        body = {
            "title": f"{key} 跟进",
            "owner_party": "property",
            "owner_name": "王经理（物业）",
            "due_on": due.isoformat(),
        }
        made = await self.call(
            by or self.s.staff, "POST", f"/decisions/{self.s.decisions[decision_key]}/follow-ups", body, 201
        )
        self.s.follow_ups[key] = made["id"]

    async def follow_up_moves(
        self, key: str, when: datetime, status: str, by: Person | None = None, **body: Any
    ) -> None:
        await self.at(when)
        moved = await self.call(
            by or self.s.staff, "PATCH", f"/follow-ups/{self.s.follow_ups[key]}", {"status": status, **body}
        )
        assert moved["status"] == status


async def write_governance(do: Steps) -> None:
    """Every concern, verdict, meeting, decision and follow-up of the module docstring, in the order
    of their moments, through the concerns and meetings APIs: each resident raises their concern
    and the worker checks its text (K7's has a word the fake WeChat refuses); staff accept it with
    its level — K1 at its accept_by to the minute, K2 a minute after — or turn it down (K3 as K2's
    duplicate, K6 referred), resolve it, close K1; residents say "me too" and give their verdicts
    (sun's "not solved" reopens K4); staff plan the meetings, publish their agendas, check in and
    count M1's participants, hold the meetings once started, record the decisions and follow-ups,
    publish the minutes, cancel M3, and mark follow-ups done, dropped or in progress. The worker
    closes the concerns settled 14 days before (K0 K2 K3 K6 K8, and C's); M4, planned in November,
    takes up the waiting level-3 K5 onto its agenda."""
    s = do.s
    await do.meeting("M5", local(8, 18, 19), "courtyard", local(8, 28, 19), "院落绿地怎么管")
    await do.step("M5", local(8, 23, 19), "publish-agenda")
    await do.raise_("K0", local(8, 25), s.zhou, "2栋", "repair", "楼上漏水")
    await do.triage("K0", local(8, 26), "accept", level=1, responsible="物业")
    await do.step("M5", local(8, 28, 21), "hold")
    await do.decision("D0", "M5", "院落绿地认养")
    await do.follow_up("F0", "D0", date(2026, 9, 10))

    await do.raise_("K1", local(9, 1), s.chen, "1栋", "parking", "电动车乱停堵住单元门")
    await do.metoo("K1", local(9, 1, 12), s.zhou)
    await do.triage("K0", local(9, 2), "resolve", result="已修好楼上的水管")
    await do.triage("K1", local(9, 3), "accept", level=1, responsible="物业")  # at its accept_by, to the minute
    await do.verdict("K0", local(9, 3), s.zhou, "partly", 2)
    await do.raise_("K2", local(9, 4, 15), s.zhou, "2栋", "noise", "广场舞音响太吵")
    await do.triage("K1", local(9, 5), "resolve", result="划了电动车停放线")
    await do.raise_("KC", local(9, 5), s.ma, "1栋", "parking", "西岭的停车", community_id=s.c)
    await do.verdict("K1", local(9, 6), s.chen, "solved", 5)
    await do.triage("KC", local(9, 6), "accept", by=s.c_staff, level=1, responsible="物业")
    await do.verdict("K1", local(9, 7), s.zhou, "partly", 3)
    await do.triage("KC", local(9, 8), "resolve", by=s.c_staff, result="已处理")
    await do.triage("K2", local(9, 8, 15, 1), "accept", level=2)  # a minute after its accept_by
    await do.verdict("KC", local(9, 9), s.ma, "solved", 5)
    await do.follow_up_moves("F0", local(9, 9, 18), "done")
    await do.raise_("K3", local(9, 10, 9), s.li, "2栋", "noise", "晚上广场舞噪音")
    await do.triage("K3", local(9, 11, 9), "decline", outcome="duplicate", duplicate_of=s.concerns["K2"])
    await do.triage("K2", local(9, 14, 15), "resolve", result="与广场舞队约定了时间和音量")
    await do.verdict("K2", local(9, 15), s.zhou, "solved", 4)
    await do.raise_(
        "K7", local(9, 15), s.chen, "1栋", "sanitation", "（未通过检查的文字）", body="含违禁词的文字", shown="rejected"
    )
    await do.meeting("M1", local(9, 15, 19), "five_party", local(9, 25, 19), "3栋车棚充电", "广场舞噪音")
    attendees = []
    for party, name, present in (
        ("community", "社区书记", True),
        ("property", "物业经理", True),
        ("social_worker", "王社工", True),
        ("self_org", "志愿队长", False),
        ("resident_rep", "2栋楼栋长", True),
    ):
        listed = await do.call(
            s.staff, "POST", f"/meetings/{s.meetings['M1']}/participants", {"party": party, "name": name}, 201
        )
        attendees.append((listed["id"], present))
    await do.meeting("MC", local(9, 16, 19), "five_party", local(9, 26, 19), "西岭的停车", by=s.c_staff)
    await do.triage("K1", local(9, 18), "close")  # staff close it (the worker would have the next day)
    await do.raise_("K4", local(9, 20, 11), s.sun, "1栋", "repair", "1栋门口路灯不亮")  # a Sunday
    await do.step("M1", local(9, 20, 19), "publish-agenda")
    await do.triage("K4", local(9, 21, 9), "accept", level=1, responsible="物业")
    await do.step("MC", local(9, 21, 19), "publish-agenda", by=s.c_staff)
    await do.triage("K4", local(9, 23, 11), "resolve", result="换了灯泡")
    await do.verdict("K4", local(9, 25), s.sun, "not_solved", 1)  # within 14 days: reopened
    for n, (participant_id, present) in enumerate(attendees):
        if present:
            await do.at(local(9, 25, 18, 50 + n))
            await do.call(s.staff, "POST", f"/meetings/{s.meetings['M1']}/checkins", {"participant_id": participant_id})
    await do.step("M1", local(9, 25, 21), "hold")
    await do.call(s.staff, "PUT", f"/meetings/{s.meetings['M1']}/walkins", {"count": 6})
    await do.decision("D1", "M1", "在3栋东侧车棚加装充电桩")
    await do.decision("D2", "M1", "广场舞时间调整为19:00–20:30，音量减半", (9, 2, 1))
    for key, decision_key, due in (
        ("F8", "D1", date(2026, 9, 28)),
        ("F3", "D2", date(2026, 9, 30)),
        ("F1", "D1", date(2026, 10, 10)),
        ("F2", "D2", date(2026, 10, 15)),
        ("F4", "D2", date(2026, 10, 20)),
    ):
        await do.follow_up(key, decision_key, due)
    await do.step("MC", local(9, 26, 21), "hold", by=s.c_staff)
    await do.decision("DC", "MC", "西岭的决议", by=s.c_staff)
    await do.follow_up("FC", "DC", date(2026, 10, 5), by=s.c_staff)
    await do.follow_up_moves("F8", local(9, 27), "done")
    await do.step("M1", local(9, 27, 19), "publish-minutes")
    await do.step("MC", local(9, 28, 19), "publish-minutes", by=s.c_staff)
    await do.raise_("K5", local(9, 28, 20), s.chen, "", "children_elders", "儿童滑梯摔坏了", place="小区广场")
    await do.follow_up_moves("F3", local(9, 29), "dropped", note="改由街道统一规划")
    await do.meeting("M7", local(9, 30, 19), "courtyard", local(10, 10, 19), "院落停车")

    await do.raise_("K6", local(10, 1, 0, 30), s.zhou, "2栋", "parking", "外来车占了车位")
    await do.triage("K6", local(10, 2), "decline", outcome="referred", referred_to="街道城管")
    await do.follow_up_moves("FC", local(10, 4), "done", by=s.c_staff)
    await do.meeting("M2", local(10, 6, 19, 30), "courtyard", local(10, 16, 19, 30), "楼道堆物")
    await do.triage("K5", local(10, 9), "accept", level=3)  # no five-party meeting planned: it waits
    await do.meeting("M3", local(10, 10, 19), "working_group", local(10, 20, 19), "停车收费")
    await do.follow_up_moves("F1", local(10, 10, 22), "done")
    await do.step("M2", local(10, 11, 19, 30), "publish-agenda")
    await do.raise_("K8", local(10, 12, 9), s.li, "2栋", "sanitation", "垃圾分类点满溢")
    await do.metoo("K8", local(10, 12, 12), s.chen)
    await do.metoo("K8", local(10, 12, 13), s.sun)
    await do.triage("K8", local(10, 13, 9), "accept", level=1, responsible="物业")
    await do.step("M3", local(10, 15, 19), "publish-agenda")
    await do.triage("K8", local(10, 15, 21), "resolve", result="加了两个垃圾桶，改为一天清运两次")
    await do.follow_up_moves("F2", local(10, 16, 7, 30), "done")  # Oct 15 23:30 UTC
    await do.verdict("K8", local(10, 16), s.li, "solved", 5)
    await do.step("M2", local(10, 16, 21, 30), "hold")
    await do.decision("D3", "M2", "楼道堆物每月最后一个周六集中清理")
    for key, due in (
        ("F5", date(2026, 10, 31)),
        ("F6", date(2026, 11, 15)),
        ("F9", date(2026, 11, 9)),
        ("F10", date(2026, 11, 10)),
        ("F7", date(2026, 11, 20)),
    ):
        await do.follow_up(key, "D3", due)
    await do.verdict("K8", local(10, 17), s.chen, "solved", 4)
    await do.step("M3", local(10, 19, 19), "cancel", reason="场地临时被占用")
    await do.meeting("M6", local(10, 21), "working_group", local(10, 31), "充电桩选址")
    await do.follow_up_moves("F5", local(10, 25), "done")
    await do.step("M6", local(10, 26), "publish-agenda")
    await do.raise_("K9", local(10, 28), s.sun, "1栋", "safety", "楼道里给电动车充电")
    await do.raise_("K10", local(10, 30, 16), s.chen, "1栋", "other", "草坪上的宠物粪便", hide_name=True)
    await do.step("M6", local(10, 31, 12), "hold")

    await do.follow_up_moves("F6", local(11, 1), "done")
    await do.raise_("K12", local(11, 2, 9), s.zhou, "2栋", "repair", "单元门禁坏了")
    await do.verdict("K8", local(11, 2), s.sun, "solved", 5)
    await do.triage("K12", local(11, 3, 9), "accept", level=2)
    await do.follow_up_moves("F7", local(11, 3), "in_progress")
    m4 = await do.meeting("M4", local(11, 5), "five_party", local(11, 20, 19))
    assert [i["concern_id"] for i in m4["agenda"]] == [s.concerns["K5"]]  # taken up from the waiting
    await do.step("M4", local(11, 6), "publish-agenda")
    await do.raise_("K11", local(11, 9), s.li, "2栋", "sanitation", "楼道堆满纸箱")
    await do.at(TODAY)
    await do.worker()

    # where each concern stands today, as the services and the worker left it
    standing = {}
    for key, concern_id in s.concerns.items():
        by = s.c_staff if key == "KC" else s.staff
        seen = await do.call(by, "GET", f"/concerns/{concern_id}")
        standing[key] = (seen["status"], seen["outcome"], seen["reopen_count"])
    assert standing == {
        "K0": ("closed", "resolved", 0),
        "K1": ("closed", "resolved", 0),
        "K2": ("closed", "resolved", 0),
        "KC": ("closed", "resolved", 0),
        "K3": ("closed", "duplicate", 0),
        "K7": ("submitted", None, 0),
        "K4": ("in_progress", None, 1),
        "K5": ("accepted", None, 0),
        "K6": ("closed", "referred", 0),
        "K8": ("closed", "resolved", 0),
        "K9": ("submitted", None, 0),
        "K10": ("submitted", None, 0),
        "K12": ("accepted", None, 0),
        "K11": ("submitted", None, 0),
    }


# -- reading the reports -------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def built(database_url: str) -> AsyncIterator[Scene]:
    """The scene, built once for the module's tests: some 140 calls of the API and 15 runs of the
    worker take seconds, a world of its own per test would take half a minute more. The tests read
    it; what they write (a project with its targets, a login) changes nothing another one reads."""
    application = create_app(make_settings(database_url))
    try:
        async with api_client(application) as client:
            yield await build_scene(client, application)
    finally:
        await empty_tables(application.state.db)
        await shutdown(application)


@pytest.fixture
def scene(built: Scene, _reset_clock: None) -> Scene:
    clock.freeze(TODAY)
    return built


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
    keys = list(v)
    assert keys[keys.index(GOVERNANCE[0]) :][: len(GOVERNANCE)] == GOVERNANCE  # in the registry's order
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

    # resolved now, of those raised less the duplicate K3: K1, K2, K8 (closed since, as resolved) of
    # K1 K2 K4 K5 K6 K8 K9 K10; K4 was resolved but reopened, K6 referred elsewhere
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
    scene = replace(scene, staff=await login(scene.client, "staff-a"))  # a day later: a fresh token
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
    created = await s.client.post(
        f"/api/v1/communities/{s.a}/projects",
        json={"name": "议事协商项目", "funder": "街道", "starts_on": "2026-09-01", "ends_on": "2027-08-31"},
        headers=s.staff.headers,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
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
    # K1 closed by staff, K6 by the worker 14 days after it was referred: each with its ending
    assert [r["status"] for r in parking["rows"]] == ["已关闭（已解决）", "已关闭（已转办）"]

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
            assert any(i["key"] in GOVERNANCE and i["value"] for i in part["indicators"])  # not an empty match
