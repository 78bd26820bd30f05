"""Submitted periods (报送): a month or quarter submitted keeps its figures when data of the period
changes afterwards, and the changes show as adjustments since submission; who may submit and see
what; the periods that can be submitted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from api import clock
from api.db.models import Activity, BookingAttendee, Loan, ProjectCommunity, ServiceProject, Shift, User
from api.services.reports import submissions
from tests.conftest import make_settings
from tests.factories import Person, add_child, book, community, grant, join, login, platform_admin

SHANGHAI = timedelta(hours=8)
# Wednesday 9 September 2026, 10:00 in Shanghai
NOW = datetime(2026, 9, 9, 2, 0, tzinfo=UTC)


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time of 2026 as an aware UTC datetime."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - SHANGHAI


@pytest.fixture
def settings(database_url):
    # a month-long login: the tests move the clock from September into October
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def make_project(
    db: Any, name: str, communities: list[int], grain: str = "month", starts: date = date(2026, 9, 1)
) -> int:
    """A service project (its API belongs to another part of the reports work)."""
    async with db.session() as session:
        project = ServiceProject(
            name=name,
            funder="某街道办事处",
            starts_on=starts,
            ends_on=starts.replace(year=starts.year + 1) - timedelta(days=1),
            grain=grain,
            description="",
        )
        session.add(project)
        await session.flush()
        for community_id in communities:
            session.add(ProjectCommunity(project_id=project.id, community_id=community_id, added_at=clock.now()))
        await session.commit()
        return int(project.id)


async def change(db: Any, statement: Any) -> None:
    """What no API does (a check-in or a loan entered late, a project tag): straight in the database."""
    async with db.session() as session:
        await session.execute(statement)
        await session.commit()


class World:
    """B社区 with a month of data (September 2026): an activity of the project with two check-ins
    (and one booked who did not come), a loan, a volunteer's approved service record; A社区 next
    door, which the project covers too."""

    async def build(self, client: Any, db: Any) -> World:
        self.client, self.db = client, db
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "B社区"))["id"]
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        named = await client.patch("/api/v1/me", json={"display_name": "王社工"}, headers=self.staff.headers)
        assert named.status_code == 200
        self.staff_a = await login(client, "staff-a")
        await grant(client, self.root, self.a, self.staff_a, "staff")
        self.chen = await login(client, "chen")
        home = (await join(client, self.chen, self.b, "1栋", "1单元", "101"))["household"]["id"]
        self.chen_me = await self.me(self.chen)
        self.xiaoyu = (await add_child(client, self.chen, home, "小雨", 2018))["id"]
        self.zhou = await login(client, "zhou")
        await join(client, self.zhou, self.b, "2栋", "1单元", "201")
        self.zhou_me = await self.me(self.zhou)
        self.liu = await login(client, "liu")
        await join(client, self.liu, self.b, "3栋", "1单元", "301")
        self.project = await make_project(db, "B社区儿童友好空间运营项目", [self.b, self.a])
        self.quarterly = await make_project(db, "社区议事能力建设项目", [self.b], "quarter", date(2026, 8, 1))
        self.only_a = await make_project(db, "A社区长者服务项目", [self.a])
        return self

    async def me(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    async def month_of_data(self) -> None:
        client, h = self.client, self.staff.headers
        # an activity of the project on Thursday the 10th, 10:00–11:30
        made = await client.post(
            f"/api/v1/communities/{self.b}/activities",
            json={
                "title": "亲子绘本共读",
                "category": "parent_child",
                "location": "复合空间阅读角",
                "start_at": "2026-09-10T10:00:00+08:00",
                "end_at": "2026-09-10T11:30:00+08:00",
                "capacity": 20,
            },
            headers=h,
        )
        assert made.status_code == 201, made.text
        self.activity = made.json()["id"]
        assert (await client.post(f"/api/v1/activities/{self.activity}/publish", headers=h)).status_code == 200
        await change(
            self.db,
            update(Activity).where(Activity.id == self.activity).values(project_id=self.project, service_type="group"),
        )
        family = await book(client, self.chen, self.activity, [self.chen_me, self.xiaoyu])
        assert family.status_code == 201, family.text
        zhou = await book(client, self.zhou, self.activity)
        assert zhou.status_code == 201, zhou.text
        self.zhou_booking = zhou.json()["id"]
        clock.freeze(local(9, 10, 10, 5))
        ticked = await client.post(
            f"/api/v1/activities/{self.activity}/checkins", json={"booking_id": family.json()["id"]}, headers=h
        )
        assert ticked.status_code == 200 and ticked.json()["newly_checked_in"] == 2, ticked.text

        # liu volunteers on Saturday the 12th, 09:00–11:00 of a 09:00–12:00 shift of the project
        team = await client.post(
            f"/api/v1/communities/{self.b}/teams",
            json={"name": "公益志愿队", "leader_ids": [self.liu.user_id]},
            headers=h,
        )
        assert team.status_code == 201, team.text
        shift = await client.post(
            f"/api/v1/communities/{self.b}/shifts",
            json={
                "role": "开馆值班",
                "place": "复合空间",
                "start_at": "2026-09-12T09:00:00+08:00",
                "end_at": "2026-09-12T12:00:00+08:00",
                "needed": 2,
                "team_id": team.json()["id"],
            },
            headers=h,
        )
        assert shift.status_code == 201, shift.text
        shift_id = shift.json()["id"]
        await change(self.db, update(Shift).where(Shift.id == shift_id).values(project_id=self.project))
        signed = await client.post(f"/api/v1/shifts/{shift_id}/signups", json={}, headers=self.liu.headers)
        assert signed.status_code == 201, signed.text
        clock.freeze(local(9, 12, 9))
        shift_code = (await client.get(f"/api/v1/shifts/{shift_id}/code", headers=h)).json()["code"]
        came = await client.post(
            f"/api/v1/shifts/{shift_id}/checkin", json={"code": shift_code}, headers=self.liu.headers
        )
        assert came.status_code == 200, came.text
        clock.freeze(local(9, 12, 11))
        shift_code = (await client.get(f"/api/v1/shifts/{shift_id}/code", headers=h)).json()["code"]
        left = await client.post(
            f"/api/v1/shifts/{shift_id}/checkout", json={"code": shift_code}, headers=self.liu.headers
        )
        assert left.status_code == 200, left.text
        (record,) = (await client.get(f"/api/v1/communities/{self.b}/service-records/pending", headers=h)).json()
        assert record["minutes"] == 120
        self.record = record["id"]
        approved = await client.post(f"/api/v1/service-records/{self.record}/review", json={"approve": True}, headers=h)
        assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text

        # chen borrows a picture book on Tuesday the 15th
        clock.freeze(local(9, 15, 16))
        added = await client.post(f"/api/v1/communities/{self.b}/books", json={"title": "猜猜我有多爱你"}, headers=h)
        assert added.status_code == 201, added.text
        self.book = added.json()["id"]
        for barcode in ("B-1", "B-2"):
            copy = await client.post(f"/api/v1/books/{self.book}/copies", json={"barcode": barcode}, headers=h)
            assert copy.status_code == 201, copy.text
        lent = await client.post(
            f"/api/v1/communities/{self.b}/loans", json={"barcode": "B-1", "member_id": self.chen_me}, headers=h
        )
        assert lent.status_code == 201, lent.text

    async def submit(self, person: Person, community_id: int, **body: Any) -> Any:
        return await self.client.post(
            f"/api/v1/communities/{community_id}/report-submissions", json=body, headers=person.headers
        )


@pytest.fixture
async def w(client, db) -> World:
    return await World().build(client, db)


def values(report: dict[str, Any]) -> dict[str, Any]:
    return {i["key"]: i["value"] for i in report["indicators"]}


def figure(indicator: dict[str, Any], breakdown: str) -> dict[str, Any]:
    return {f["label"]: f["value"] for f in indicator["breakdowns"][breakdown]}


def changes(adjustment: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, Any, Any]]:
    return {(c["breakdown"], c["label"]): (c["submitted"], c["now"], c["difference"]) for c in adjustment["changes"]}


# -- a submitted month keeps its figures; what changed since shows as adjustments ------------------


async def test_a_submitted_month_keeps_its_figures_and_shows_what_changed_since(client, db, w):
    await w.month_of_data()
    clock.freeze(local(9, 30, 22))  # the last evening of September: not over yet
    early = await w.submit(w.staff, w.b, period="2026-09")
    assert code(early) == (409, "period_not_ended")
    assert early.json()["error"]["details"] == {"period": "2026-09", "submittable_from": "2026-10-01"}
    assert "2026年10月1日起" in early.json()["error"]["message"]

    clock.freeze(local(10, 1, 0, 5))  # five past midnight in Shanghai (still 30 September in UTC)
    made = await w.submit(w.staff, w.b, period="2026-09", note="报街道办")
    assert made.status_code == 201, made.text
    submitted = made.json()
    assert (submitted["period"], submitted["period_label"], submitted["from"], submitted["to"]) == (
        "2026-09",
        "2026年9月",
        "2026-09-01",
        "2026-09-30",
    )
    assert submitted["project"] is None and submitted["note"] == "报街道办"
    assert submitted["submitted_by"] == {"id": w.staff.user_id, "name": "王社工"}
    assert submitted["submitted_at"] == "2026-10-01T00:05:00+08:00"
    assert submitted["adjustments"] == []
    figures = submitted["figures"]
    # the month by hand: one activity held; chen and 小雨 checked in (2 visits, 2 people, both new);
    # zhou booked and did not come; one loan (chen); liu's 2 hours, approved
    frozen = values(figures)
    assert (frozen["activities_held"], frozen["service_visits"], frozen["beneficiaries"]) == (1, 2, 2)
    assert frozen["new_participants"] == 2
    assert (frozen["loans"], frozen["volunteers"], frozen["volunteer_visits"], frozen["volunteer_hours"]) == (
        1,
        1,
        1,
        2.0,
    )
    assert (figures["from"], figures["to"], figures["months"]) == ("2026-09-01", "2026-09-30", ["2026-09"])

    # nothing changed yet
    path = f"/api/v1/report-submissions/{submitted['id']}"
    first = (await client.get(path, headers=w.staff.headers)).json()
    assert first["adjustments"] == [] and first["figures"] == figures
    again = await w.submit(w.staff, w.b, period="2026-09")
    assert code(again) == (409, "period_already_submitted")
    assert again.json()["error"]["details"] == {"submission_id": submitted["id"]}
    assert "2026年9月" in again.json()["error"]["message"]

    # in October, data of September changes: zhou's check-in is entered late (the desk's paper
    # list); liu's record is corrected to 2.5 hours and the correction approved; a loan of the 20th
    # that was written on paper is entered for zhou
    clock.freeze(local(10, 8, 10))
    await change(
        db,
        update(BookingAttendee)
        .where(BookingAttendee.booking_id == w.zhou_booking)
        .values(checked_in_at=local(9, 10, 10, 10), checkin_method="staff", no_show=False),
    )
    corrected = await client.post(
        f"/api/v1/service-records/{w.record}/corrections",
        json={"end_at": "2026-09-12T11:30:00+08:00", "reason": "签退时扫码失败，实际服务到 11:30"},
        headers=w.staff.headers,
    )
    assert corrected.status_code == 201 and corrected.json()["minutes"] == 150, corrected.text
    approved = await client.post(
        f"/api/v1/service-records/{corrected.json()['id']}/review", json={"approve": True}, headers=w.staff.headers
    )
    assert approved.status_code == 200, approved.text
    lent = await client.post(
        f"/api/v1/communities/{w.b}/loans", json={"barcode": "B-2", "member_id": w.zhou_me}, headers=w.staff.headers
    )
    assert lent.status_code == 201, lent.text
    await change(db, update(Loan).where(Loan.id == lent.json()["id"]).values(borrowed_at=local(9, 20, 15)))

    # the dashboard's September now has the new figures…
    report = (
        await client.get(f"/api/v1/communities/{w.b}/reports?from=2026-09-01&to=2026-09-30", headers=w.staff.headers)
    ).json()
    assert values(report)["service_visits"] == 3 and values(report)["volunteer_hours"] == 2.5
    # …the submission keeps what was submitted, and lists exactly what changed
    after = (await client.get(path, headers=w.staff.headers)).json()
    assert after["figures"] == figures
    adjustments = {a["indicator"]: a for a in after["adjustments"]}
    assert {k: (a["submitted"], a["now"], a["difference"]) for k, a in adjustments.items()} == {
        "service_visits": (2, 3, 1),  # zhou's late check-in
        "beneficiaries": (2, 3, 1),
        "new_participants": (2, 3, 1),  # zhou's first visit ever
        "loans": (1, 2, 1),  # the loan entered late
        "volunteer_hours": (2.0, 2.5, 0.5),  # the correction counts instead of the record
    }
    assert [a["indicator"] for a in after["adjustments"]] == [
        "service_visits",
        "beneficiaries",
        "new_participants",
        "loans",
        "volunteer_hours",
    ]  # in the registry's order
    assert adjustments["service_visits"]["name"] == "服务人次" and adjustments["service_visits"]["unit"] == "人次"
    assert changes(adjustments["service_visits"]) == {
        ("month", "2026年9月"): (2, 3, 1),
        ("project", "B社区儿童友好空间运营项目"): (2, 3, 1),
        ("service_type", "小组活动"): (2, 3, 1),
        ("category", "亲子"): (2, 3, 1),
        ("building", "2栋"): (None, 1, None),  # a group that was not there
        ("age_group", "成人"): (1, 2, 1),
        ("gender", "未登记"): (2, 3, 1),
    }
    assert changes(adjustments["beneficiaries"])[("parts", "成人")] == (1, 2, 1)
    assert ("parts", "儿童") not in changes(adjustments["beneficiaries"])  # 小雨 is counted as before
    assert changes(adjustments["loans"]) == {
        ("parts", "借阅人数"): (1, 2, 1),
        ("parts", "借阅户数"): (1, 2, 1),
        ("month", "2026年9月"): (1, 2, 1),
        ("building", "2栋"): (None, 1, None),
        ("age_group", "成人"): (1, 2, 1),
        ("gender", "未登记"): (1, 2, 1),
    }
    hours = changes(adjustments["volunteer_hours"])
    assert hours[("month", "2026年9月")] == (2.0, 2.5, 0.5)
    assert hours[("project", "B社区儿童友好空间运营项目")] == (2.0, 2.5, 0.5)
    assert hours[("team", "公益志愿队")] == (2.0, 2.5, 0.5)
    for item in adjustments["volunteer_hours"]["changes"]:
        assert item["breakdown_name"] in ("月份", "服务项目", "服务类型", "志愿团队")
    # what did not change is not listed: the activity was held already, liu is one volunteer with
    # one record (the correction replaces it)
    assert not {"activities_held", "volunteers", "volunteer_visits"} & set(adjustments)

    # the list: newest first, with who and when
    listed = (await client.get(f"/api/v1/communities/{w.b}/report-submissions", headers=w.staff.headers)).json()
    assert [(s["id"], s["period_label"], s["submitted_by"]["name"]) for s in listed] == [
        (submitted["id"], "2026年9月", "王社工")
    ]
    assert "figures" not in listed[0]

    # what the dashboard asks: the submissions within its period, each with how many indicators changed
    async with db.session(write=False) as session:
        user = await session.get(User, w.staff.user_id)
        summary = await submissions.adjustments(session, user, w.b, date(2026, 9, 1), date(2026, 12, 31))
        outside = await submissions.adjustments(session, user, w.b, date(2026, 9, 2), date(2026, 12, 31))
        of_project = await submissions.adjustments(session, user, w.b, date(2026, 9, 1), date(2026, 12, 31), w.project)
    assert [(s["id"], s["changed"]) for s in summary] == [(submitted["id"], 5)]
    assert [c["name"] for c in summary[0]["changed_indicators"]] == [
        "服务人次",
        "受益人数",
        "新增参与者",
        "图书借阅",
        "志愿服务时长",
    ]
    assert outside == [] and of_project == []  # a month not wholly inside; another project's


async def test_a_projects_month_counts_the_project_and_its_adjustments_survive_the_project_leaving(client, db, w):
    await w.month_of_data()
    clock.freeze(local(10, 8, 10))
    made = await w.submit(w.staff, w.b, period="2026-09", project_id=w.project)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["project"] == {"id": w.project, "name": "B社区儿童友好空间运营项目"}
    assert body["figures"]["project"]["id"] == w.project
    assert values(body["figures"])["service_visits"] == 2 and values(body["figures"])["volunteer_hours"] == 2.0
    # the community as a whole is another submission of the same month
    whole = await w.submit(w.staff, w.b, period="2026-09")
    assert whole.status_code == 201, whole.text
    twice = await w.submit(w.staff, w.b, period="2026-09", project_id=w.project)
    assert code(twice) == (409, "period_already_submitted")

    only = await client.get(
        f"/api/v1/communities/{w.b}/report-submissions?project={w.project}", headers=w.staff.headers
    )
    assert [s["id"] for s in only.json()] == [body["id"]]
    both = (await client.get(f"/api/v1/communities/{w.b}/report-submissions", headers=w.staff.headers)).json()
    assert [s["id"] for s in both] == [whole.json()["id"], body["id"]]  # newest first

    # the month's activity is found to belong to no project and untagged afterwards
    await change(db, update(Activity).where(Activity.id == w.activity).values(project_id=None))
    # and the project stops covering B: what B submitted stays readable, its adjustments too
    async with db.session() as session:
        await session.execute(
            delete(ProjectCommunity).where(
                ProjectCommunity.project_id == w.project, ProjectCommunity.community_id == w.b
            )
        )
        await session.commit()
    after = (await client.get(f"/api/v1/report-submissions/{body['id']}", headers=w.staff.headers)).json()
    assert after["figures"] == body["figures"]
    adjusted = {a["indicator"]: (a["submitted"], a["now"]) for a in after["adjustments"]}
    assert adjusted == {
        "activities_held": (1, 0),
        "service_visits": (2, 0),
        "beneficiaries": (2, 0),
        "new_participants": (2, 0),
    }


async def test_a_retried_submission_with_its_key_is_answered_again_not_refused(client, w):
    clock.freeze(local(10, 8, 10))
    headers = {**w.staff.headers, "Idempotency-Key": "submit-2026-09"}
    path = f"/api/v1/communities/{w.b}/report-submissions"
    first = await client.post(path, json={"period": "2026-09"}, headers=headers)
    retried = await client.post(path, json={"period": "2026-09"}, headers=headers)
    assert first.status_code == retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"]
    listed = (await client.get(path, headers=w.staff.headers)).json()
    assert len(listed) == 1


async def test_two_submissions_at_the_same_moment_one_wins(client, w, monkeypatch):
    """The unique index decides when the check before it saw nothing yet."""
    clock.freeze(local(10, 8, 10))
    assert (await w.submit(w.staff, w.b, period="2026-09")).status_code == 201
    assert (await w.submit(w.staff, w.b, period="2026-09", project_id=w.project)).status_code == 201

    async def nothing_yet(*_args: Any) -> None:
        return None

    monkeypatch.setattr(submissions, "_existing", nothing_yet)
    for project in (None, w.project):
        late = await w.submit(w.staff, w.b, period="2026-09", project_id=project)
        assert code(late) == (409, "period_already_submitted")
    listed = (await client.get(f"/api/v1/communities/{w.b}/report-submissions", headers=w.staff.headers)).json()
    assert len(listed) == 2


# -- which periods can be submitted ----------------------------------------------------------------


async def test_periods_must_be_months_or_quarters_of_the_projects_grain_inside_its_contract(client, w):
    clock.freeze(local(10, 8, 10))
    for wrong in ("2026-13", "2026-9", "2026-Q5", "2026-q3", "26-09", "2026-09-01", "٢٠٢٦-09"):
        refused = await w.submit(w.staff, w.b, period=wrong)
        assert code(refused) == (422, "validation_error"), wrong
        assert refused.json()["error"]["details"][0]["field"] == "period"
    ancient = await w.submit(w.staff, w.b, period="1999-09")  # the right shape, but not a month Linli counts
    assert (
        code(ancient) == (422, "validation_error") and ancient.json()["error"]["details"][0]["type"] == "period_invalid"
    )
    long_note = await w.submit(w.staff, w.b, period="2026-09", note="记" * 257)
    assert code(long_note) == (422, "validation_error")
    unknown = await w.submit(w.staff, w.b, period="2026-09", figures={})
    assert code(unknown) == (422, "unknown_field")

    by_quarter = await w.submit(w.staff, w.b, period="2026-09", project_id=w.quarterly)
    assert code(by_quarter) == (422, "validation_error")
    assert by_quarter.json()["error"]["details"][0]["type"] == "period_grain"
    assert "按季度" in by_quarter.json()["error"]["message"]
    by_month = await w.submit(w.staff, w.b, period="2026-Q3", project_id=w.project)
    assert by_month.json()["error"]["details"][0]["type"] == "period_grain"
    before = await w.submit(w.staff, w.b, period="2026-08", project_id=w.project)  # the contract starts in September
    assert code(before) == (422, "validation_error")
    assert before.json()["error"]["details"][0]["type"] == "period_outside_contract"
    assert "2026年9月1日至2027年8月31日" in before.json()["error"]["message"]
    future = await w.submit(w.staff, w.b, period="2026-10", project_id=w.project)
    assert code(future) == (409, "period_not_ended")
    assert future.json()["error"]["details"]["submittable_from"] == "2026-11-01"

    # a quarter: the quarterly project's contract began in August, in the third quarter
    quarter = await w.submit(w.staff, w.b, period="2026-Q3", project_id=w.quarterly)
    assert quarter.status_code == 201, quarter.text
    body = quarter.json()
    assert (body["period_label"], body["from"], body["to"]) == ("2026年第三季度", "2026-07-01", "2026-09-30")
    assert body["figures"]["months"] == ["2026-07", "2026-08", "2026-09"]
    not_yet = await w.submit(w.staff, w.b, period="2026-Q4", project_id=w.quarterly)
    assert code(not_yet) == (409, "period_not_ended") and "2027年1月1日起" in not_yet.json()["error"]["message"]
    # the community as a whole may submit any month or quarter that has ended
    assert (await w.submit(w.staff, w.b, period="2026-Q3")).status_code == 201
    assert (await w.submit(w.staff, w.b, period="2026-08")).status_code == 201


# -- who may submit and see what -------------------------------------------------------------------


async def test_staff_only_each_community_its_own_even_for_a_project_covering_two(client, w):
    clock.freeze(local(10, 8, 10))
    mine = await w.submit(w.staff, w.b, period="2026-09", project_id=w.project)
    assert mine.status_code == 201, mine.text
    one = f"/api/v1/report-submissions/{mine.json()['id']}"
    listing = f"/api/v1/communities/{w.b}/report-submissions"

    # a resident of B: refused
    assert code(await w.submit(w.chen, w.b, period="2026-09")) == (403, "staff_only")
    assert code(await client.get(listing, headers=w.chen.headers)) == (403, "staff_only")
    assert code(await client.get(one, headers=w.chen.headers)) == (403, "staff_only")
    # A's staff: the project covers A too, but B's submissions are not theirs to make or see, nor
    # is B theirs to know of
    assert code(await w.submit(w.staff_a, w.b, period="2026-09", project_id=w.project)) == (404, "community_not_found")
    assert code(await client.get(listing, headers=w.staff_a.headers)) == (404, "community_not_found")
    assert code(await client.get(one, headers=w.staff_a.headers)) == (404, "report_submission_not_found")
    # A submits the project's September for A: its own submission, with A's figures only
    theirs = await w.submit(w.staff_a, w.a, period="2026-09", project_id=w.project)
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["figures"]["community"]["name"] == "A社区"
    assert [s["id"] for s in (await client.get(listing, headers=w.staff.headers)).json()] == [mine.json()["id"]]
    other = f"/api/v1/report-submissions/{theirs.json()['id']}"
    assert code(await client.get(other, headers=w.staff.headers)) == (404, "report_submission_not_found")
    assert (await client.get(other, headers=w.staff_a.headers)).status_code == 200
    # B's staff cannot submit for a project that does not cover B
    assert code(await w.submit(w.staff, w.b, period="2026-09", project_id=w.only_a)) == (404, "project_not_found")
    # a stranger's view of an id that does not exist is the same 404
    assert code(await client.get("/api/v1/report-submissions/999999", headers=w.staff.headers)) == (
        404,
        "report_submission_not_found",
    )
    # the platform admin reads any
    assert (await client.get(one, headers=w.root.headers)).status_code == 200
