"""Reports for funders, through the HTTP API: every indicator of the registry equals a figure
computed by hand on one small community over September and October 2026 (with an August before
it and a November after it), with its parts and breakdowns, for a service project with its plan to
date, drilled down to the rows it counts, exported, and refused to whoever may not read it.

The fixture (`Town.build`), by local (Shanghai) time; "today" is Tuesday 10 November 2026:

people of 东湖社区 (A)          household      gender
  chen (WeChat)                 H1 1栋 101     female
  小雨, chen's child (no WeChat) H1 1栋 101     —
  zhou                          H2 2栋 201     male
  li                            H3 2栋 202     —
  王奶奶, elder at the desk      H4 3栋 301     female
  sun                           H5 1栋 102     male
  liu (volunteer; came to A8)   H6 3栋 302     —
  王爷爷, a walk-in guest known only by name

activities (A): category, service type, project, space — who checked in
  A0 Aug 25 夏日手工         culture, —, —, — — sun
  A8 Aug 31 七夕观星         culture, —, —, — — liu, at 00:10 on 1 September (it ran past midnight)
  A1 Sep  5 亲子阅读会       parent_child, group, P, S1 — chen, 小雨, zhou (booked from chen's share),
                             王爷爷 (a walk-in guest)
  A2 Sep 12 长者健康讲座     elders, community, —, — — 王奶奶 (booked at the desk), sun; zhou checked
                             in, then staff cancelled his booking
  A3 Sep 19 中秋游园         cancelled after chen and li checked in
  A4 Sep 26 周末观影         ended; 小雨 booked, nobody checked in
  A5 Oct 10 亲子阅读会（二）  parent_child, group, P, S1 — chen, 小雨, li (a walk-in member)
  A6 Oct 17 居民议事会       deliberation, deliberation, —, S2 — zhou, sun
  A7 Nov  7 亲子阅读会（三）  parent_child, group, P, S1 — chen

volunteer shifts (A)           team  project  type        records
  V1 Sep  6 09–12              T1    P        volunteering liu 180 ✓, sun 180 ✓
  V2 Sep 13 14–16              —     —        —            zhou 120 ✓, corrected to 90 ✓
  V3 Oct 11 09–11              T1    —        community    liu 120 ✓, sun 120 rejected
  V4 Oct 18 09–10              T1    —        —            zhou 60 pending

loans: Aug 28 sun (desk); Sep 1 chen for 小雨 (self-service) and chen; Sep 20 zhou (desk);
  Oct 11 chen for 小雨 and 王奶奶 (desk); Nov 5 li (desk).
announcements: N1 Sep 1 to everyone (5 recipients, read by chen and zhou); N3 Sep 20 withdrawn;
  N2 Oct 8 to 1栋 (chen, sun; read by sun); N4 scheduled for Nov 25.
spaces: S1 复合空间 Tue–Sun 09:00–18:00, closed Sep 15 and Oct 1–7; S2 议事厅 Mon 19:00–21:00 and
  Sat 17:00–20:00 (overlapping S1 on Saturdays 17:00–18:00).
loop: staff posts Sep 1 ×2 and Oct 8; shares: chen's of A1 (Sep 1, opened by zhou, who then books
  A1) and liu's of A5 (Oct 8).
project P (Sep 2026–Aug 2027, monthly targets) covers A and C; project Q covers C only.
西岭社区 (C): one activity of P on Sep 19 with one check-in (ma).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from api import clock
from api.db.models import Activity, Member, ProjectCommunity, ProjectTarget, ServiceProject, Shift
from api.main import create_app, shutdown
from tests.conftest import _empty_tables, make_settings
from tests.contract import api_client
from tests.factories import Person, add_child, community, grant, join, login, platform_admin, team
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 11, 10, 10, 0, tzinfo=TZ)  # Tuesday
SEP_OCT = {"from": "2026-09-01", "to": "2026-10-31"}


def local(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


class Town:
    """The fixture of the module docstring, built through the API (the database only for what has
    no API here: project tags, projects and targets, genders, a team)."""

    async def build(self, client: Any, db: Any, app: Any) -> Town:
        self.client, self.db, self.app = client, db, app
        self.people: list[Person] = []
        self.logged_in = local(8, 20)
        await self.at(8, 20)
        await self.residents_and_places()
        await self.projects()
        await self.august()
        await self.september()
        await self.october()
        await self.november()
        await self.at(11, 10, 10)
        return self

    async def residents_and_places(self) -> None:
        client = self.client
        self.root = await self.login("root", admin=True)
        self.a = (await community(client, self.root, "东湖社区"))["id"]
        self.c = (await community(client, self.root, "西岭社区"))["id"]
        self.staff = await self.login("staff-a")
        await grant(client, self.root, self.a, self.staff, "staff")
        self.c_staff = await self.login("staff-c")
        await grant(client, self.root, self.c, self.c_staff, "staff")

        self.chen, self.h1, self.chen_m = await self.resident("chen", "1栋", "101")
        self.xiaoyu = (await add_child(client, self.chen, self.h1, "小雨", 2018))["id"]
        self.zhou, self.h2, self.zhou_m = await self.resident("zhou", "2栋", "201")
        self.li, self.h3, self.li_m = await self.resident("li", "2栋", "202")
        self.sun, self.h5, self.sun_m = await self.resident("sun", "1栋", "102")
        self.liu, self.h6, self.liu_m = await self.resident("liu", "3栋", "302")
        desk = await client.post(
            f"/api/v1/communities/{self.a}/households",
            json={
                "building": "3栋",
                "unit": "1单元",
                "room": "301",
                "members": [{"display_name": "王奶奶", "kind": "elder"}],
            },
            headers=self.staff.headers,
        )
        assert desk.status_code == 201, desk.text
        self.h4, self.wang = desk.json()["id"], desk.json()["members"][0]["id"]
        self.ma, _h, _m = await self.resident("ma", "1栋", "101", self.c)

        # spaces, their hours and closures
        self.s1 = await self.space(
            "复合空间", {d: [["09:00", "18:00"]] for d in ("tue", "wed", "thu", "fri", "sat", "sun")}
        )
        self.s2 = await self.space("议事厅", {"mon": [["19:00", "21:00"]], "sat": [["17:00", "20:00"]]})
        for first, last in (("2026-09-15", "2026-09-15"), ("2026-10-01", "2026-10-07")):
            closed = await client.post(
                f"/api/v1/spaces/{self.s1}/closures",
                json={"starts_on": first, "ends_on": last, "reason": "闭馆"},
                headers=self.staff.headers,
            )
            assert closed.status_code == 201, closed.text

        self.t1 = await team(self.db, self.a, "公益志愿队", [self.liu, self.sun, self.zhou])
        # the library: six copies in S1
        book = await self.post(f"/communities/{self.a}/books", {"title": "猜猜我有多爱你"}, self.staff)
        for n in range(6):
            await self.post(f"/books/{book['id']}/copies", {"barcode": f"B{n}", "space_id": self.s1}, self.staff)

    async def projects(self) -> None:
        """Genders, projects P (A and C) and Q (C only), A's targets for P: no API here yet."""
        async with self.db.session() as session:
            for member, gender in (
                (self.chen_m, "female"),
                (self.zhou_m, "male"),
                (self.wang, "female"),
                (self.sun_m, "male"),
            ):
                await session.execute(update(Member).where(Member.id == member).values(gender=gender))
            now = clock.now()
            p = ServiceProject(
                name="儿童阅读推广",
                funder="区民政局",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 8, 31),
                grain="month",
            )
            q = ServiceProject(
                name="西岭议事", funder="街道", starts_on=date(2026, 9, 1), ends_on=date(2026, 12, 31), grain="quarter"
            )
            session.add_all([p, q])
            await session.flush()
            self.p, self.q = p.id, q.id
            session.add_all(
                [
                    ProjectCommunity(project_id=p.id, community_id=self.a, added_at=now),
                    ProjectCommunity(project_id=p.id, community_id=self.c, added_at=now),
                    ProjectCommunity(project_id=q.id, community_id=self.c, added_at=now),
                ]
            )
            targets = [
                ("activities_held", "2026-09", 2),
                ("activities_held", "2026-10", 2),
                ("activities_held", "2026-11", 3),
                ("activities_held", "total", 24),
                ("service_visits", "total", 365),
                ("volunteer_hours", "total", 73),
                ("loans", "2026-10", 4),
            ]
            session.add_all(
                ProjectTarget(project_id=p.id, community_id=self.a, indicator=k, period=period, value=v, updated_at=now)
                for k, period, v in targets
            )
            # C's own target for the same project: never read by A's report
            session.add(
                ProjectTarget(
                    project_id=p.id,
                    community_id=self.c,
                    indicator="activities_held",
                    period="total",
                    value=73,
                    updated_at=now,
                )
            )
            await session.commit()

    async def august(self) -> None:
        """A0, sun's first check-in ever (before the period); A8 past midnight; a loan."""
        a0 = await self.activity("夏日手工", "culture", local(8, 25, 10), location="一楼大厅")
        sun_a0 = await self.book(self.sun, a0)
        # A8: an evening over midnight into 1 September; liu checks in late, after midnight
        a8_start = local(8, 31, 20)
        a8 = await self.activity(
            "七夕观星", "culture", a8_start, minutes=270, location="楼顶花园",
            checkin_closes_at=(a8_start + timedelta(minutes=270)).isoformat(),
        )  # fmt: skip
        liu_a8 = await self.book(self.liu, a8)
        await self.at(8, 25, 9, 35)
        await self.checkin(a0, sun_a0)
        await self.at(8, 28, 10)
        await self.borrow(self.staff, "B0", self.sun_m)

        await self.at(9, 1, 0, 10)
        await self.checkin(a8, liu_a8)
        await self.at(9, 1, 1)  # A8 has ended

    async def september(self) -> None:
        # 1 September: activities, bookings, shifts, a notice to everyone, posts, a share
        await self.at(9, 1, 9)
        self.a1 = await self.activity("亲子阅读会", "parent_child", local(9, 5, 10), space_id=self.s1)
        await self.tag(Activity, self.a1, project_id=self.p, service_type="group")
        self.a2 = await self.activity("长者健康讲座", "elders", local(9, 12, 9, 30), location="二楼活动室")
        await self.tag(Activity, self.a2, service_type="community")
        self.a3 = await self.activity("中秋游园", "culture", local(9, 19, 10), minutes=120, location="广场")
        self.a4 = await self.activity("周末观影", "children", local(9, 26, 19), minutes=120, space_id=self.s1)
        c1 = await self.activity(
            "西岭茶话会", "culture", local(9, 19, 10), location="活动室", who=self.c_staff, cid=self.c
        )
        await self.tag(Activity, c1, project_id=self.p, service_type="community")
        ma_c1 = await self.book(self.ma, c1)
        chen_a1 = await self.book(self.chen, self.a1, [self.chen_m, self.xiaoyu])
        chens_share = await self.post("/shares", {"target": "activity", "id": self.a1}, self.chen)
        opened = await self.client.get(f"/api/v1/shares/{chens_share['token']}", headers=self.zhou.headers)
        assert opened.status_code == 200, opened.text
        zhou_a1 = await self.book(self.zhou, self.a1)  # within 7 days of opening chen's share
        wang_a2 = (
            await self.post(
                f"/activities/{self.a2}/bookings", {"on_behalf_of": self.h4, "attendee_ids": [self.wang]}, self.staff
            )
        )["id"]
        sun_a2 = await self.book(self.sun, self.a2)
        zhou_a2 = await self.book(self.zhou, self.a2)
        chen_a3 = await self.book(self.chen, self.a3)
        li_a3 = await self.book(self.li, self.a3)
        await self.book(self.chen, self.a4, [self.xiaoyu])
        v1 = await self.shift("开馆值班", local(9, 6, 9), 3, team_id=self.t1)
        await self.tag(Shift, v1, project_id=self.p, service_type="volunteering")
        v2 = await self.shift("活动签到", local(9, 13, 14), 2)
        for person, shift in ((self.liu, v1), (self.sun, v1), (self.zhou, v2)):
            await self.post(f"/shifts/{shift}/signups", {}, person)
        n1 = await self.announce("九月活动预告")
        for person in (self.chen, self.zhou):
            await self.post(f"/announcements/{n1}/read", {}, person, status=200)
        await self.post(f"/communities/{self.a}/posts", {"body": "九月活动预告"}, self.staff)
        await self.post(f"/communities/{self.a}/posts", {"body": "书屋新书到了"}, self.staff)
        await self.at(9, 1, 10)  # Tuesday: S1 is open, chen borrows for her daughter and herself
        await self.borrow(self.chen, "B1", self.xiaoyu)
        await self.borrow(self.chen, "B2", self.chen_m)

        # 5 September: A1
        await self.at(9, 5, 9, 40)
        await self.checkin(self.a1, chen_a1)
        await self.checkin(self.a1, zhou_a1)
        await self.post(f"/activities/{self.a1}/walkins", {"guests": ["王爷爷"]}, self.staff)
        # 6 September: V1, both approved
        await self.at(9, 6, 9)
        await self.on_duty(v1, [self.liu, self.sun], "checkin")
        await self.at(9, 6, 12)
        await self.on_duty(v1, [self.liu, self.sun], "checkout")
        for record in await self.pending():
            await self.review(record["id"], True)
        # 12 September: A2, zhou's booking cancelled by staff after he checked in
        await self.at(9, 12, 9, 10)
        for booking in (wang_a2, sun_a2, zhou_a2):
            await self.checkin(self.a2, booking)
        await self.at(9, 12, 9, 40)
        await self.post(f"/bookings/{zhou_a2}/cancel", {}, self.staff, status=200)
        # 13 September: V2, approved, then corrected to 90 minutes (the correction approved)
        await self.at(9, 13, 14)
        await self.on_duty(v2, [self.zhou], "checkin")
        await self.at(9, 13, 16)
        await self.on_duty(v2, [self.zhou], "checkout")
        (record,) = await self.pending()
        assert record["minutes"] == 120
        await self.review(record["id"], True)
        correction = await self.post(
            f"/service-records/{record['id']}/corrections", {"minutes": 90, "reason": "提前离开"}, self.staff
        )
        await self.review(correction["id"], True)
        # 19 September: A3 cancelled after two check-ins; C's activity held
        await self.at(9, 19, 9, 40)
        await self.checkin(self.a3, chen_a3)
        await self.checkin(self.a3, li_a3)
        await self.checkin(c1, ma_c1, self.c_staff)
        await self.at(9, 19, 10, 10)
        await self.post(f"/activities/{self.a3}/cancel", {"reason": "下雨"}, self.staff, status=200)
        # 20 September: a desk loan; a notice published and withdrawn
        await self.at(9, 20, 10)
        await self.borrow(self.staff, "B3", self.zhou_m)
        for barcode in ("B1", "B2"):  # chen's books come back (returns are not loans)
            await self.give_back(barcode)
        n3 = await self.announce("临时通知")
        await self.post(f"/announcements/{n3}/read", {}, self.sun, status=200)
        await self.post(f"/announcements/{n3}/withdraw", {}, self.staff, status=200)

    async def october(self) -> None:
        # 8 October: A5, A6, V3, V4; a notice to 1栋; a post; liu's share of A5
        await self.at(10, 8, 9)
        self.a5 = await self.activity("亲子阅读会（二）", "parent_child", local(10, 10, 10), space_id=self.s1)
        await self.tag(Activity, self.a5, project_id=self.p, service_type="group")
        self.a6 = await self.activity("居民议事会", "deliberation", local(10, 17, 14), minutes=120, space_id=self.s2)
        await self.tag(Activity, self.a6, service_type="deliberation")
        chen_a5 = await self.book(self.chen, self.a5, [self.chen_m, self.xiaoyu])
        zhou_a6 = await self.book(self.zhou, self.a6)
        sun_a6 = await self.book(self.sun, self.a6)
        v3 = await self.shift("开馆值班", local(10, 11, 9), 2, team_id=self.t1)
        await self.tag(Shift, v3, service_type="community")
        v4 = await self.shift("开馆值班", local(10, 18, 9), 1, team_id=self.t1)
        for person, shift in ((self.liu, v3), (self.sun, v3), (self.zhou, v4)):
            await self.post(f"/shifts/{shift}/signups", {}, person)
        n2 = await self.announce("1栋停水通知", {"kind": "buildings", "buildings": ["1栋"]})
        await self.post(f"/announcements/{n2}/read", {}, self.sun, status=200)
        await self.post(f"/communities/{self.a}/posts", {"body": "十月活动回顾"}, self.staff)
        await self.post("/shares", {"target": "activity", "id": self.a5}, self.liu)
        # 10 October: A5 with li walking in
        await self.at(10, 10, 9, 45)
        await self.checkin(self.a5, chen_a5)
        await self.post(f"/activities/{self.a5}/walkins", {"member_ids": [self.li_m]}, self.staff)
        # 11 October (Sunday): V3, liu approved, sun rejected; two loans
        await self.at(10, 11, 9)
        await self.on_duty(v3, [self.liu, self.sun], "checkin")
        await self.at(10, 11, 10)
        await self.borrow(self.chen, "B4", self.xiaoyu)
        await self.borrow(self.staff, "B5", self.wang)
        await self.at(10, 11, 11)
        await self.on_duty(v3, [self.liu, self.sun], "checkout")
        for record in await self.pending():
            if record["user_id"] == self.liu.user_id:
                await self.review(record["id"], True)
            else:
                await self.review(record["id"], False, "当天没有值班")
        # 17 October: A6; 18 October: V4, left pending
        await self.at(10, 17, 13, 45)
        await self.checkin(self.a6, zhou_a6)
        await self.checkin(self.a6, sun_a6)
        await self.at(10, 18, 9)
        await self.on_duty(v4, [self.zhou], "checkin")
        await self.at(10, 18, 10)
        await self.on_duty(v4, [self.zhou], "checkout")
        (pending,) = await self.pending()
        assert pending["status"] == "pending"

    async def november(self) -> None:
        """A7 of the project; a notice scheduled after today; li's loan."""
        await self.at(11, 2, 9)
        self.a7 = await self.activity("亲子阅读会（三）", "parent_child", local(11, 7, 10), space_id=self.s1)
        await self.tag(Activity, self.a7, project_id=self.p, service_type="group")
        chen_a7 = await self.book(self.chen, self.a7, [self.chen_m])
        await self.announce("年末联欢预告", publish_at=local(11, 25, 9))
        await self.at(11, 5, 10)
        await self.give_back("B0")  # sun brings back his August loan; li takes it
        await self.borrow(self.staff, "B0", self.li_m)
        await self.at(11, 7, 9, 45)
        await self.checkin(self.a7, chen_a7)

    # -- helpers ---------------------------------------------------------------------------------

    async def at(self, month: int, day: int, hour: int = 9, minute: int = 0) -> None:
        """Move the clock forward to a local time, and log everyone in again now and then (a login
        lasts 30 days at most). Nothing here waits on the worker but announcements (`announce`)."""
        clock.freeze(local(month, day, hour, minute))
        if clock.now() - self.logged_in > timedelta(days=20):
            for person in self.people:
                person.token = (await login(self.client, person.name)).token
            self.logged_in = clock.now()

    async def login(self, name: str, admin: bool = False) -> Person:
        person = await (platform_admin(self.client, self.db, name) if admin else login(self.client, name))
        self.people.append(person)
        return person

    async def resident(self, name: str, building: str, room: str, cid: int | None = None) -> tuple[Person, int, int]:
        person = await self.login(name)
        joined = await join(self.client, person, cid or self.a, building, "1单元", room)
        return person, joined["household"]["id"], joined["member"]["id"]

    async def post(self, path: str, body: dict[str, Any], who: Person, status: int = 201) -> Any:
        response = await self.client.post(f"/api/v1{path}", json=body, headers=who.headers)
        assert response.status_code == status, response.text
        return response.json()

    async def space(self, name: str, hours: dict[str, list[list[str]]]) -> int:
        made = await self.post(f"/communities/{self.a}/spaces", {"name": name, "opening_hours": hours}, self.root)
        return int(made["id"])

    async def activity(
        self,
        title: str,
        category: str,
        start: datetime,
        minutes: int = 90,
        who: Person | None = None,
        cid: int | None = None,
        **fields: Any,
    ) -> int:
        who = who or self.staff
        body = {
            "title": title,
            "category": category,
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(minutes=minutes)).isoformat(),
            "capacity": 20,
            **fields,
        }
        made = await self.post(f"/communities/{cid or self.a}/activities", body, who)
        await self.post(f"/activities/{made['id']}/publish", {}, who, status=200)
        return int(made["id"])

    async def tag(self, model: Any, row_id: int, **values: Any) -> None:
        """Project and service type: set in the database (the projects API is written elsewhere)."""
        async with self.db.session() as session:
            await session.execute(update(model).where(model.id == row_id).values(**values))
            await session.commit()

    async def book(self, person: Person, activity_id: int, attendees: list[int] | None = None) -> int:
        body = {"attendee_ids": attendees} if attendees is not None else {}
        booked = await self.post(f"/activities/{activity_id}/bookings", body, person)
        assert booked["status"] == "confirmed"
        return int(booked["id"])

    async def checkin(self, activity_id: int, booking_id: int, who: Person | None = None) -> None:
        await self.post(
            f"/activities/{activity_id}/checkins", {"booking_id": booking_id}, who or self.staff, status=200
        )

    async def borrow(self, who: Person, barcode: str, member_id: int) -> None:
        await self.post(f"/communities/{self.a}/loans", {"barcode": barcode, "member_id": member_id}, who)

    async def give_back(self, barcode: str) -> None:
        await self.post(f"/communities/{self.a}/returns", {"barcode": barcode}, self.staff, status=200)

    async def shift(self, role: str, start: datetime, hours: int, **fields: Any) -> int:
        body = {
            "role": role,
            "place": "复合空间",
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=hours)).isoformat(),
            "needed": 3,
            **fields,
        }
        return int((await self.post(f"/communities/{self.a}/shifts", body, self.staff))["id"])

    async def on_duty(self, shift_id: int, people: list[Person], step: str) -> None:
        for person in people:
            await self.post(f"/shifts/{shift_id}/{step}", {"volunteer_id": person.user_id}, self.staff, status=200)

    async def pending(self) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/v1/communities/{self.a}/service-records/pending", headers=self.staff.headers
        )
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()
        return records

    async def review(self, record_id: int, approve: bool, note: str | None = None) -> None:
        body: dict[str, Any] = {"approve": approve, **({"note": note} if note else {})}
        await self.post(f"/service-records/{record_id}/review", body, self.staff, status=200)

    async def announce(
        self, title: str, audience: dict[str, Any] | None = None, publish_at: datetime | None = None
    ) -> int:
        body: dict[str, Any] = {"title": title, "body": "内容", "audience": audience or {"kind": "community"}}
        if publish_at is not None:
            body["publish_at"] = publish_at.isoformat()
        made = await self.post(f"/communities/{self.a}/announcements", body, self.staff)
        await Worker(self.app.state.db, self.app.state.settings, self.app.state.wechat).run_until_idle()  # fan-out
        return int(made["id"])

    # -- reading the reports ---------------------------------------------------------------------

    async def report(self, who: Person | None = None, cid: int | None = None, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/communities/{cid or self.a}/reports", params=params, headers=(who or self.staff).headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def rows(self, indicator: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/communities/{self.a}/reports/rows",
            params={**SEP_OCT, "indicator": indicator, **params},
            headers=self.staff.headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
async def town(database_url: str) -> AsyncIterator[Town]:
    """Built once for the module (a hundred requests across three months of clock): the tests only
    read it. Its own app, emptied afterwards like the per-test one."""
    app = create_app(make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600))
    try:
        async with api_client(app) as client:
            yield await Town().build(client, app.state.db, app)
    finally:
        clock.reset()
        await _empty_tables(app.state.db)
        await shutdown(app)


@pytest.fixture(autouse=True)
def _today(_reset_clock: None) -> None:
    clock.freeze(TODAY)


def figures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in report["indicators"]}


def by(indicator: dict[str, Any], breakdown: str) -> dict[str, Any]:
    """A breakdown as {key: value} ("_none": not registered), in the report's order."""
    return {f["key"]: f["value"] for f in indicator["breakdowns"][breakdown]}


def labels(indicator: dict[str, Any], breakdown: str) -> dict[str, Any]:
    return {f["label"]: f["value"] for f in indicator["breakdowns"][breakdown]}


def parts(indicator: dict[str, Any]) -> dict[str, Any]:
    return {p["key"]: p["value"] for p in indicator["parts"]}


def names(rows: dict[str, Any], column: str = "name") -> list[Any]:
    return [r[column] for r in rows["rows"]]


def code(response: Any) -> tuple[int, str]:
    body = response.json()["error"]
    kind = body["details"][0]["type"] if body["code"] == "validation_error" and body["details"] else None
    return response.status_code, kind or body["code"]


# -- every figure, by hand -----------------------------------------------------------------------


async def test_every_indicator_is_the_figure_computed_by_hand(town):
    report = await town.report(**SEP_OCT)
    assert (report["from"], report["to"], report["as_of"], report["project"]) == (
        "2026-09-01", "2026-10-31", "2026-11-10", None
    )  # fmt: skip
    assert report["months"] == ["2026-09", "2026-10"]
    v = figures(report)
    assert list(v) == [
        "activities_held", "service_visits", "beneficiaries", "new_participants", "open_days", "open_hours",
        "loans", "volunteers", "volunteer_visits", "volunteer_hours", "announcements", "households_reached",
        "read_rate", "loop_posts", "loop_shares", "loop_share_opens", "loop_bookings_from_shares",
        "loop_reparticipation",
        # governance's, computed by hand in tests/test_reports_governance.py (none here)
        "concerns_raised", "response_rate", "resolution_rate", "resolution_days", "satisfaction_rate",
        "meetings_held", "decisions_made", "follow_ups_on_time",
        # votes', computed by hand in tests/test_reports_votes.py (none here)
        "polls_held", "poll_turnout", "survey_responses",
    ]  # fmt: skip
    p, t1, s1, s2 = str(town.p), str(town.t1), str(town.s1), str(town.s2)

    # activities held: A1, A2 (September), A5, A6 (October); not A3 (cancelled after check-ins),
    # not A4 (ended, nobody checked in), not A0/A8 (August) nor A7 (November)
    held = v["activities_held"]
    assert held["value"] == 2 + 2
    assert by(held, "month") == {"2026-09": 2, "2026-10": 2}
    assert by(held, "project") == {p: 2, "_none": 2}  # A1, A5 | A2, A6
    assert labels(held, "project") == {"儿童阅读推广": 2, "未归入项目": 2}
    assert by(held, "service_type") == {"group": 2, "community": 1, "deliberation": 1}
    assert labels(held, "service_type") == {"小组活动": 2, "社区活动": 1, "议事协商": 1}
    assert by(held, "category") == {"parent_child": 2, "elders": 1, "deliberation": 1}
    assert by(held, "space") == {s1: 2, s2: 1, "_none": 1}  # A1, A5 in 复合空间 | A6 议事厅 | A2 二楼活动室
    assert set(held["breakdowns"]) == {"month", "project", "service_type", "category", "space"}

    # check-ins: A1 chen, 小雨, zhou, 王爷爷 | A2 王奶奶, sun (zhou's booking cancelled after he
    # checked in) | A5 chen, 小雨, li | A6 zhou, sun
    visits = v["service_visits"]
    assert visits["value"] == 4 + 2 + 3 + 2
    assert by(visits, "month") == {"2026-09": 4 + 2, "2026-10": 3 + 2}
    assert by(visits, "project") == {p: 4 + 3, "_none": 2 + 2}
    assert by(visits, "service_type") == {"group": 4 + 3, "community": 2, "deliberation": 2}
    assert by(visits, "category") == {"parent_child": 4 + 3, "elders": 2, "deliberation": 2}
    assert by(visits, "building") == {
        "1栋": 2 + 2 + 2,  # chen ×2, 小雨 ×2, sun ×2
        "2栋": 2 + 1,  # zhou ×2, li
        "3栋": 1,  # 王奶奶
        "_none": 1,  # 王爷爷, a walk-in known only by name
    }
    assert list(labels(visits, "building")) == ["1栋", "2栋", "3栋", "未登记楼栋"]  # by label, "none" last
    assert by(visits, "age_group") == {"adult": 2 + 2 + 1 + 2 + 1, "child": 2, "guest": 1}  # chen zhou 王奶奶 sun li
    assert by(visits, "gender") == {
        "female": 2 + 1,  # chen ×2, 王奶奶
        "male": 2 + 2,  # zhou ×2, sun ×2
        "_none": 2 + 1 + 1,  # 小雨 ×2, li, 王爷爷
    }
    assert labels(visits, "gender") == {"女": 3, "男": 4, "未登记": 4}

    # people: chen, 小雨 (a child without WeChat), zhou, 王爷爷 (guest), 王奶奶 (an elder registered
    # at the desk), sun, li: each once, however often they came
    people = v["beneficiaries"]
    assert people["value"] == 7
    assert parts(people) == {"adults": 5, "children": 1, "guests": 1}  # chen zhou 王奶奶 sun li | 小雨 | 王爷爷
    assert by(people, "month") == {
        "2026-09": 6,  # chen 小雨 zhou 王爷爷 王奶奶 sun
        "2026-10": 5,  # chen 小雨 li zhou sun
    }
    assert by(people, "project") == {p: 5, "_none": 3}  # chen 小雨 zhou 王爷爷 li | 王奶奶 sun zhou
    assert by(people, "service_type") == {"group": 5, "community": 2, "deliberation": 2}
    assert by(people, "category") == {"parent_child": 5, "elders": 2, "deliberation": 2}
    assert by(people, "building") == {"1栋": 3, "2栋": 2, "3栋": 1, "_none": 1}  # chen 小雨 sun | zhou li | …
    assert by(people, "age_group") == {"adult": 5, "child": 1, "guest": 1}
    assert by(people, "gender") == {"female": 2, "male": 2, "_none": 3}  # chen 王奶奶 | zhou sun | 小雨 li 王爷爷

    # new: everyone but sun, whose first check-in was at A0 in August; li's first counted one is
    # A5 (his check-in at the cancelled A3 does not count)
    new = v["new_participants"]
    assert new["value"] == 7 - 1
    assert parts(new) == {"adults": 4, "children": 1, "guests": 1}
    assert by(new, "month") == {"2026-09": 5, "2026-10": 1}  # chen 小雨 zhou 王爷爷 王奶奶 | li
    assert by(new, "project") == {p: 5, "_none": 2}  # chen 小雨 zhou 王爷爷 li | 王奶奶 zhou
    assert by(new, "building") == {"1栋": 2, "2栋": 2, "3栋": 1, "_none": 1}
    assert by(new, "age_group") == {"adult": 4, "child": 1, "guest": 1}
    assert by(new, "gender") == {"female": 2, "male": 1, "_none": 3}

    # open days and hours: S1 Tue–Sun 9 h (closed Sep 15, Oct 1–7), S2 Mon 2 h and Sat 17–20,
    # which with S1's 09–18 makes Saturdays 09–20 = 11 h, not 9 + 3
    # September: 30 days, Sep 15 closed (no space opens on Tuesdays but S1) → 29 days;
    #   22 weekdays of S1 alone (less Sep 15) × 9 h + 4 Saturdays × 11 h + 4 Mondays × 2 h
    # October: Oct 1, 2, 4, 6, 7 closed (S1 closed, S2 not open) → 26 days;
    #   Oct 3 (Sat, S2 only) 3 h + Oct 5 (Mon) 2 h + 3 Mondays × 2 h + 4 Saturdays × 11 h + 17 days × 9 h
    sep_hours = 21 * 9 + 4 * 11 + 4 * 2
    oct_hours = 3 + 2 + 3 * 2 + 4 * 11 + 17 * 9
    assert by(v["open_days"], "month") == {"2026-09": 30 - 1, "2026-10": 31 - 5}
    assert v["open_days"]["value"] == 29 + 26
    assert (
        by(v["open_hours"], "month")
        == {"2026-09": sep_hours, "2026-10": oct_hours}
        == {
            "2026-09": 241,
            "2026-10": 208,
        }
    )
    assert v["open_hours"]["value"] == sep_hours + oct_hours == 449
    assert v["open_days"]["project_scoped"] is False and v["open_hours"]["project_scoped"] is False

    # loans: Sep 1 chen for 小雨 and herself, Sep 20 zhou, Oct 11 chen for 小雨 and 王奶奶 (not sun's in
    # August nor li's in November); borrowers 小雨 chen zhou 王奶奶, households H1 H2 H4
    loans = v["loans"]
    assert loans["value"] == 3 + 2
    assert parts(loans) == {"borrowers": 4, "households": 3}
    assert by(loans, "month") == {"2026-09": 3, "2026-10": 2}
    assert by(loans, "building") == {"1栋": 3, "2栋": 1, "3栋": 1}
    assert by(loans, "age_group") == {"adult": 3, "child": 2}  # the child's loans count on the child
    assert by(loans, "gender") == {"female": 2, "male": 1, "_none": 2}  # chen 王奶奶 | zhou | 小雨 ×2

    # volunteers: V1 liu 180 + sun 180, V2 zhou 120 corrected to 90, V3 liu 120 (sun's rejected),
    # V4 zhou pending
    volunteers, visits_, hours = v["volunteers"], v["volunteer_visits"], v["volunteer_hours"]
    assert volunteers["value"] == 3  # liu sun zhou
    assert visits_["value"] == 2 + 1 + 1
    assert hours["value"] == (180 + 180 + 90 + 120) / 60 == 9.5
    assert by(volunteers, "month") == {"2026-09": 3, "2026-10": 1}
    assert by(visits_, "month") == {"2026-09": 3, "2026-10": 1}
    assert by(hours, "month") == {"2026-09": (180 + 180 + 90) / 60, "2026-10": 120 / 60}
    assert by(volunteers, "project") == {p: 2, "_none": 2}  # liu sun | zhou liu
    assert by(hours, "project") == {p: 6.0, "_none": (90 + 120) / 60}
    assert by(visits_, "service_type") == {"volunteering": 2, "community": 1, "_none": 1}
    assert by(hours, "service_type") == {"volunteering": 6.0, "community": 2.0, "_none": 1.5}
    assert labels(hours, "service_type") == {"志愿服务": 6.0, "社区活动": 2.0, "未分类": 1.5}
    assert by(volunteers, "team") == {t1: 2, "_none": 1}
    assert by(visits_, "team") == {t1: 3, "_none": 1}
    assert by(hours, "team") == {t1: (180 + 180 + 120) / 60, "_none": 1.5}
    assert labels(hours, "team") == {"公益志愿队": 8.0, "未归入团队": 1.5}

    # announcements: N1 (everyone: chen zhou li sun liu, five households; read by chen and zhou), N2
    # (1栋: chen sun; read by sun); not N3 (withdrawn) nor N4 (scheduled)
    assert v["announcements"]["value"] == 2
    assert by(v["announcements"], "month") == {"2026-09": 1, "2026-10": 1}
    assert v["households_reached"]["value"] == len({"H1", "H2", "H3", "H5", "H6"} | {"H1", "H5"})
    assert by(v["households_reached"], "month") == {"2026-09": 5, "2026-10": 2}
    assert v["read_rate"]["value"] == round(100 * (2 + 1) / (5 + 2), 1) == 42.9
    assert by(v["read_rate"], "month") == {"2026-09": 100 * 2 / 5, "2026-10": 100 * 1 / 2}

    # the loop: staff posts Sep 1 ×2 and Oct 8; chen's share (Sep) opened by zhou, who booked A1
    # from it; liu's share (Oct)
    assert by(v["loop_posts"], "month") == {"2026-09": 2, "2026-10": 1} and v["loop_posts"]["value"] == 3
    assert by(v["loop_shares"], "month") == {"2026-09": 1, "2026-10": 1} and v["loop_shares"]["value"] == 2
    assert v["loop_share_opens"]["value"] == 1 and v["loop_bookings_from_shares"]["value"] == 1
    # re-participation: September's members checking in (chen 小雨 zhou 王奶奶 sun) of whom zhou and sun
    # booked A6 on Oct 8, within 30 days of A2; October's (chen 小雨 li zhou sun) of whom chen booked
    # A7 on Nov 2, within 30 days of A5
    assert by(v["loop_reparticipation"], "month") == {"2026-09": 100 * 2 / 5, "2026-10": 100 * 1 / 5}
    assert v["loop_reparticipation"]["value"] == 100 * (2 + 1) / (5 + 5)

    for indicator in report["indicators"]:
        assert indicator["plan"] is None and indicator["percent"] is None  # no project, no plan
        assert indicator["breakdowns"]["month"], indicator["key"]
        counts = indicator["unit"] in ("场", "人次", "册次", "天", "条", "篇", "次")
        if counts and indicator["key"] != "resolution_days":  # counts (not 办结时长, a median): the parts add up
            for breakdown, groups in indicator["breakdowns"].items():
                assert sum(g["value"] for g in groups) == indicator["value"], (indicator["key"], breakdown)


async def test_one_month_and_a_check_in_after_midnight(town):
    october = figures(await town.report(**{"from": "2026-10-01", "to": "2026-10-31"}))
    assert october["activities_held"]["value"] == 2  # A5, A6
    assert october["beneficiaries"]["value"] == 5  # chen 小雨 li zhou sun
    assert october["new_participants"]["value"] == 1  # li: his check-in at the cancelled A3 does not count
    assert october["open_days"]["value"] == 26 and october["loans"]["value"] == 2

    # August: A0 (sun) and A8, which ran from 20:00 on the 31st past midnight, liu checking in at
    # 00:10 on 1 September: his check-in counts in August, with its activity, and he is new there
    august = figures(await town.report(**{"from": "2026-08-01", "to": "2026-08-31"}))
    assert august["activities_held"]["value"] == 2
    for key in ("service_visits", "beneficiaries", "new_participants"):
        assert august[key]["value"] == 2, key  # sun, liu
        assert by(august[key], "month") == {"2026-08": 2}, key
    # and September, where liu comes to nothing, does not call him new either
    september = await town.rows("new_participants", **{"from": "2026-09-01", "to": "2026-09-30"})
    assert sorted(names(september)) == sorted(["王爷爷", "chen", "小雨", "zhou", "王奶奶"])


# -- a service project and its plan ----------------------------------------------------------------


async def test_a_projects_report_counts_its_own_activities_and_shifts_against_the_plan(town):
    whole = figures(await town.report(**{"from": "2026-09-01", "to": "2026-11-30"}))
    report = await town.report(**{"from": "2026-09-01", "to": "2026-11-30"}, project=town.p)
    assert report["project"] == {
        "id": town.p, "name": "儿童阅读推广", "funder": "区民政局",
        "starts_on": "2026-09-01", "ends_on": "2027-08-31", "grain": "month",
    }  # fmt: skip
    v = figures(report)
    # the project's: A1 (4), A5 (3), A7 (chen, 7 November); V1 (liu, sun 3 h each)
    assert v["activities_held"]["value"] == 3
    assert v["service_visits"]["value"] == 4 + 3 + 1
    assert v["beneficiaries"]["value"] == 5  # chen 小雨 zhou 王爷爷 li
    assert parts(v["beneficiaries"]) == {"adults": 3, "children": 1, "guests": 1}
    assert v["new_participants"]["value"] == 5
    assert by(v["service_visits"], "month") == {"2026-09": 4, "2026-10": 3, "2026-11": 1}
    assert by(v["service_visits"], "project") == {str(town.p): 8}
    assert (v["volunteers"]["value"], v["volunteer_visits"]["value"], v["volunteer_hours"]["value"]) == (2, 2, 6.0)
    assert by(v["volunteer_hours"], "team") == {str(town.t1): 6.0}
    # the community-wide figures are the same whatever the project, and say so
    for key, entry in v.items():
        scoped = key in {
            "activities_held", "service_visits", "beneficiaries", "new_participants",
            "volunteers", "volunteer_visits", "volunteer_hours",
        }  # fmt: skip
        assert entry["project_scoped"] is scoped, key
        if not scoped:
            assert entry["value"] == whole[key]["value"], key
    assert v["open_days"]["value"] == 55 + 10  # up to today, 10 November
    assert v["open_hours"]["value"] == 449 + 7 * 9 + 2 * 2 + 11  # Nov 1–10: 7 days of S1, 2 Mondays, Sat 7th
    assert v["loans"]["value"] == 5 + 1 and parts(v["loans"]) == {"borrowers": 5, "households": 4}  # and li's
    assert v["announcements"]["value"] == 2  # N4 is due on 25 November: not yet

    # the plan to date (today is 10 November, the contract runs 365 days from 1 September):
    # held: monthly targets 2 + 2 + 3 × 10/30 (November partly passed); the total target shown
    assert (v["activities_held"]["plan"], v["activities_held"]["target_total"]) == (2 + 2 + 3 * 10 / 30, 24)
    assert v["activities_held"]["percent"] == 100 * 3 / 5
    # visits and hours: the total target prorated by days, (30 + 31 + 10) / 365
    assert v["service_visits"]["plan"] == 365 * 71 / 365
    assert v["service_visits"]["percent"] == round(100 * 8 / 71, 1) == 11.3
    assert v["volunteer_hours"]["plan"] == round(73 * 71 / 365, 1) == 14.2
    assert v["volunteer_hours"]["percent"] == round(100 * 6 / 14.2, 1) == 42.3
    # loans: only October has a target (4); months without one plan nothing
    assert (v["loans"]["plan"], v["loans"]["percent"]) == (4, 100 * 6 / 4)
    # no target, or not targetable: no plan
    for key in ("beneficiaries", "read_rate", "loop_reparticipation", "open_days"):
        assert (v[key]["plan"], v[key]["percent"], v[key]["target_total"]) == (None, None, None), key

    # September and October alone: both months passed in full
    v = figures(await town.report(**SEP_OCT, project=town.p))
    assert (v["activities_held"]["value"], v["activities_held"]["plan"], v["activities_held"]["percent"]) == (
        2, 2 + 2, 100 * 2 / 4
    )  # fmt: skip
    assert (v["service_visits"]["value"], v["service_visits"]["plan"]) == (7, 61)
    assert v["service_visits"]["percent"] == round(100 * 7 / 61, 1)
    assert (v["volunteer_hours"]["plan"], v["volunteer_hours"]["percent"]) == (73 * 61 / 365, round(100 * 6 / 12.2, 1))
    assert by(v["activities_held"], "space") == {str(town.s1): 2}


# -- drill-down --------------------------------------------------------------------------------------


async def test_the_rows_behind_each_figure(town):
    held = await town.rows("activities_held")
    assert (held["value"], held["total_rows"], held["truncated"]) == (4, 4, False)
    assert [(r["title"], r["checkins"]) for r in held["rows"]] == [
        ("亲子阅读会", 4), ("长者健康讲座", 2), ("亲子阅读会（二）", 3), ("居民议事会", 2)
    ]  # fmt: skip
    assert held["rows"][0]["start"] == "2026-09-05 10:00" and held["rows"][0]["service_type"] == "小组活动"

    people = await town.rows("beneficiaries")
    assert people["value"] == 7
    by_name = {r["name"]: r for r in people["rows"]}
    assert set(by_name) == {"王爷爷", "chen", "小雨", "sun", "li", "zhou", "王奶奶"}
    assert by_name["小雨"]["child"] is True and by_name["小雨"]["age_group"] == "儿童"
    assert (by_name["王爷爷"]["age_group"], by_name["王爷爷"]["building"]) == ("来宾（未登记）", "")
    assert (by_name["王奶奶"]["building"], by_name["王奶奶"]["visits"]) == ("3栋", 1)
    assert (by_name["chen"]["visits"], by_name["sun"]["first_visit"]) == (2, "2026-08-25")

    new = await town.rows("new_participants")
    assert sorted(names(new)) == sorted(["王爷爷", "chen", "小雨", "li", "zhou", "王奶奶"])  # not sun

    children = await town.rows("beneficiaries", breakdown="age_group", key="child")
    assert (names(children), children["group"], children["value"]) == (["小雨"], "儿童", 1)
    nowhere = await town.rows("beneficiaries", breakdown="building", key="_none")
    assert (names(nowhere), nowhere["group"]) == (["王爷爷"], "未登记楼栋")
    october = await town.rows("service_visits", breakdown="month", key="2026-10")
    assert [(r["activity"], r["name"]) for r in october["rows"]] == [
        ("亲子阅读会（二）", "chen"), ("亲子阅读会（二）", "小雨"), ("亲子阅读会（二）", "li"),
        ("居民议事会", "zhou"), ("居民议事会", "sun"),
    ]  # fmt: skip
    of_project = await town.rows("activities_held", project=town.p)
    assert names(of_project, "title") == ["亲子阅读会", "亲子阅读会（二）"]

    hours = await town.rows("volunteer_hours")
    assert [(r["day"], r["name"], r["hours"]) for r in hours["rows"]] == [
        ("2026-09-06", "liu", 3.0), ("2026-09-06", "sun", 3.0),
        ("2026-09-13", "zhou", 1.5),  # the correction, not the 2 h it replaced
        ("2026-10-11", "liu", 2.0),
    ]  # fmt: skip
    loans = await town.rows("loans")
    assert names(loans) == ["小雨", "chen", "zhou", "小雨", "王奶奶"]
    assert [r["child"] for r in loans["rows"]] == [True, False, False, True, False]
    notices = await town.rows("households_reached")
    assert [(r["title"], r["recipients"], r["households"], r["readers"]) for r in notices["rows"]] == [
        ("九月活动预告", 5, 5, 2), ("1栋停水通知", 2, 2, 1)
    ]  # fmt: skip
    days = await town.rows("open_days", breakdown="month", key="2026-10")
    assert days["total_rows"] == 26 and days["rows"][0] == {"day": "2026-10-03", "hours": 3.0}

    for params, expected in (
        ({"indicator": "no_such"}, (422, "indicator_unknown")),
        ({"indicator": "loop_posts"}, (422, "indicator_unknown")),  # the loop's figures have no rows
        ({"indicator": "loans", "breakdown": "project"}, (422, "breakdown_unknown")),
        ({"indicator": "loans", "key": "2026-09"}, (422, "breakdown_required")),
    ):
        response = await town.client.get(
            f"/api/v1/communities/{town.a}/reports/rows", params={**SEP_OCT, **params}, headers=town.staff.headers
        )
        assert code(response) == expected, params


# -- exports -----------------------------------------------------------------------------------------


async def export(town: Town, **params: Any) -> Any:
    response = await town.client.get(
        f"/api/v1/communities/{town.a}/reports/export", params={**SEP_OCT, **params}, headers=town.staff.headers
    )
    assert response.status_code == 200, response.text
    return response


async def test_exports_carry_the_reports_numbers(town):
    report = await town.report(**SEP_OCT)
    v = figures(report)
    response = await export(town, format="xlsx")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "总表", "按月份", "按服务项目", "按服务类型", "按活动类别", "按场地", "按楼栋", "按成人与儿童", "按性别",
        "按志愿团队", "按烦心事类别", "指标口径",
    ]  # fmt: skip
    overview = list(book["总表"].iter_rows(values_only=True))
    assert overview[0] == ("指标", "数值", "单位", "分项", "口径")
    rows = {row[0]: row for row in overview[1:]}
    assert list(rows) == [i["name"] for i in report["indicators"]]
    for entry in report["indicators"]:
        row = rows[entry["name"]]
        if entry["value"] is None:  # a rate of nothing (no concerns here): an empty cell
            assert row[1] in (None, ""), entry["key"]
        else:
            assert isinstance(row[1], int | float) and row[1] == entry["value"], entry["key"]
        assert (row[2], row[4]) == (entry["unit"], entry["definition"])
    assert rows["受益人数"][3] == "成人 5；儿童 1；来宾（未登记） 1"
    assert rows["图书借阅"][3] == "借阅人数 4；借阅户数 3"

    months = list(book["按月份"].iter_rows(values_only=True))
    assert months[0][:3] == ("月份", "活动场次（场）", "服务人次（人次）")
    assert [row[:3] for row in months[1:]] == [("2026年9月", 2, 6), ("2026年10月", 2, 5)]
    gender = list(book["按性别"].iter_rows(values_only=True))
    column = gender[0].index("服务人次（人次）")
    assert {row[0]: row[column] for row in gender[1:]} == {"女": 3, "男": 4, "未登记": 4}
    teams = list(book["按志愿团队"].iter_rows(values_only=True))
    assert teams[0] == ("志愿团队", "志愿者人数（人）", "志愿服务人次（人次）", "志愿服务时长（小时）")
    assert teams[1:] == [("公益志愿队", 2, 3, 8.0), ("未归入团队", 1, 1, 1.5)]
    definitions = list(book["指标口径"].iter_rows(values_only=True))
    assert definitions[0] == ("指标", "单位", "口径", "可细分", "按项目统计")
    assert len(definitions) == 1 + len(report["indicators"])
    assert definitions[1][2] == v["activities_held"]["definition"]

    # with a project: the plan columns
    planned = load_workbook(io.BytesIO((await export(town, project=town.p)).content))
    head, *body = list(planned["总表"].iter_rows(values_only=True))
    assert head == ("指标", "数值", "单位", "分项", "截至今天计划", "完成百分比（%）", "合同期目标", "口径")
    held = next(row for row in body if row[0] == "活动场次")
    assert (held[1:3], held[3] or "", held[4:7]) == ((2, "场"), "", (2 + 2, 100 * 2 / 4, 24))

    # CSV: UTF-8 with a byte-order mark, the overview or one breakdown
    response = await export(town, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0] == ["指标", "数值", "单位", "分项", "口径"]
    assert {line[0]: float(line[1]) if line[1] else None for line in lines[1:]} == {
        i["name"]: i["value"] for i in report["indicators"]
    }
    by_month = list(
        csv.reader(io.StringIO((await export(town, format="csv", breakdown="month")).content.decode("utf-8-sig")))
    )
    assert by_month[0][:2] == ["月份", "活动场次（场）"] and [line[:2] for line in by_month[1:]] == [
        ["2026年9月", "2"], ["2026年10月", "2"]
    ]  # fmt: skip
    wrong = await town.client.get(
        f"/api/v1/communities/{town.a}/reports/export",
        params={**SEP_OCT, "format": "csv", "breakdown": "weather"},
        headers=town.staff.headers,
    )
    assert code(wrong) == (422, "breakdown_unknown")


# -- who may read it, and what is refused -----------------------------------------------------------


async def test_only_the_communitys_staff_read_its_reports_and_odd_periods_are_refused(town):
    base = f"/api/v1/communities/{town.a}/reports"
    paths = [base, f"{base}/rows?indicator=loans", f"{base}/export", f"{base}/indicators"]
    for path in paths:
        assert code(await town.client.get(path, headers=town.chen.headers)) == (403, "staff_only"), path  # a resident
        elsewhere = await town.client.get(path, headers=town.c_staff.headers)  # staff of another community
        assert code(elsewhere) == (404, "community_not_found"), path
        assert (await town.client.get(path)).status_code == 401, path
    # a project covering both communities: C's staff still cannot read A's report through it
    through = await town.client.get(base, params={**SEP_OCT, "project": town.p}, headers=town.c_staff.headers)
    assert code(through) == (404, "community_not_found")
    # a project covering C only is not A's
    foreign = await town.client.get(base, params={**SEP_OCT, "project": town.q}, headers=town.staff.headers)
    assert code(foreign) == (404, "project_not_found")
    # C's report of the same project: C's figures only (its activity with ma; its own target)
    c = figures(await town.report(town.c_staff, town.c, **{"from": "2026-09-01", "to": "2026-11-30"}, project=town.p))
    assert (c["activities_held"]["value"], c["service_visits"]["value"], c["beneficiaries"]["value"]) == (1, 1, 1)
    assert (c["volunteer_hours"]["value"], c["loans"]["value"], c["open_days"]["value"]) == (0, 0, 0)
    assert (c["activities_held"]["plan"], c["activities_held"]["percent"]) == (73 * 71 / 365, round(100 / 14.2, 1))
    assert c["service_visits"]["plan"] is None  # A's targets are A's

    defined = (await town.client.get(f"{base}/indicators", headers=town.staff.headers)).json()
    assert [d["key"] for d in defined] == [i["key"] for i in (await town.report(**SEP_OCT))["indicators"]]
    assert next(d for d in defined if d["key"] == "read_rate")["targetable"] is False

    some = await town.report(**SEP_OCT, group_by="month,gender")
    assert [b["key"] for b in some["breakdowns"]] == ["month", "gender"]
    assert set(figures(some)["service_visits"]["breakdowns"]) == {"month", "gender"}
    assert set(figures(some)["activities_held"]["breakdowns"]) == {"month"}

    for params, field, kind in (
        ({"from": "2026-10-01", "to": "2026-09-30"}, "to", "period_invalid"),  # the end before the start
        ({"from": "2026-01-01", "to": "2029-12-31"}, "to", "period_too_long"),  # four years
        ({**SEP_OCT, "group_by": "month,weather"}, "group_by", "breakdown_unknown"),
        ({**SEP_OCT, "from": "2026-02-30"}, "from", "date_from_datetime_parsing"),
    ):
        response = await town.client.get(base, params=params, headers=town.staff.headers)
        assert code(response) == (422, kind), params
        assert response.json()["error"]["details"][0]["field"] == field
    three_years = await town.client.get(
        base, params={"from": "2026-01-01", "to": "2028-12-31"}, headers=town.staff.headers
    )
    assert three_years.status_code == 200  # a three-year contract in one report


async def test_a_part_of_the_facts_read_is_what_reading_that_part_gives(town):
    """The dashboard reads a period's facts once and takes from them each project's progress and
    each submitted month's figures now (`facts.restrict`): the same report as reading that part."""
    from api.db.models import ServiceProject, User
    from api.services.reports import facts as facts_module
    from api.services.reports import report as report_module
    from api.services.reports.periods import Span

    async with town.app.state.db.session() as session:
        user = await session.get(User, town.staff.user_id)
        project = await session.get(ServiceProject, town.p)
        assert user is not None and project is not None
        _, read = await report_module.build_with_facts(
            session, user, town.a, date(2026, 9, 1), date(2026, 11, 30), None
        )
        for first, last, project_id in (
            (date(2026, 9, 1), date(2026, 9, 30), None),
            (date(2026, 10, 1), date(2026, 11, 30), None),
            (date(2026, 9, 1), date(2026, 11, 30), town.p),
            (date(2026, 10, 1), date(2026, 10, 31), town.p),
        ):
            fresh = await report_module.build(session, user, town.a, first, last, project_id)
            of = project if project_id is not None else None
            targets = await report_module._targets(session, town.a, project) if of is not None else {}
            part = report_module.compose(facts_module.restrict(read, Span(first, last), project_id), of, targets)
            assert part == fresh, (first, last, project_id)
