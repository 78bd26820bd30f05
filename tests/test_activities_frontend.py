"""What the mini-program's activity screens need, and fairness: list items that say whether my
household booked, one answer for every check-in, the door's roster for a volunteer on duty,
looking around a community before joining it, and "for my children" (in the list and in who
hears of a followed category's new activity) by one rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from api import clock
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


def code_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


class B:
    """B社区: chen (小雨 born 2018, 小树 2021) with his spouse chen2, zhou (乐乐 2012), wang
    (no children), chen3 still waiting to be let into chen's household, staff."""

    async def build(self, client: Any, db: Any) -> B:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, self.chen_home = await self.household("chen", "101")
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "小雨", 2018))["id"]  # 8
        self.xiaoshu = (await add_child(client, self.chen, self.chen_home, "小树", 2021))["id"]  # 5
        self.spouse = await login(client, "chen2")
        asked = await join(client, self.spouse, self.b, "1栋", "1单元", "101")
        approved = await client.post(f"/api/v1/members/{asked['member']['id']}/approve", headers=self.chen.headers)
        assert approved.status_code == 200, approved.text
        self.zhou, self.zhou_home = await self.household("zhou", "102")
        self.lele = (await add_child(client, self.zhou, self.zhou_home, "乐乐", 2012))["id"]  # 14
        self.wang, _ = await self.household("wang", "103")
        self.waiting = await login(client, "chen3")
        assert (await join(client, self.waiting, self.b, "1栋", "1单元", "101"))["status"] == "pending"
        return self

    async def household(self, name: str, room: str) -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, "1栋", "1单元", room)
        return person, joined["household"]["id"]

    async def me(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    async def listed(self, person: Person, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/communities/{self.b}/activities", params=params, headers=person.headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def statuses(self, person: Person) -> dict[str, str | None]:
        return {a["title"]: a["my_booking_status"] for a in (await self.listed(person))["items"]}

    async def titles(self, person: Person, **params: Any) -> list[str]:
        return [a["title"] for a in (await self.listed(person, **params))["items"]]


@pytest.fixture
async def b(client, db) -> B:
    return await B().build(client, db)


@contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


# -- 1. list items say whether my household booked ----------------------------------------------


async def test_list_items_say_whether_my_household_booked(client, b):
    sid = (
        await client.post(f"/api/v1/communities/{b.b}/series", json={"title": "周六读书会"}, headers=b.staff.headers)
    ).json()["id"]
    booked = await activity(client, b.staff, b.b, title="读书会第1期", start_at=at(1), end_at=at(1, 1), series_id=sid)
    full = await activity(client, b.staff, b.b, title="满员的手工课", capacity=1, start_at=at(2), end_at=at(2, 1))
    await activity(client, b.staff, b.b, title="读书会第2期", start_at=at(3), end_at=at(3, 1), series_id=sid)
    cancelled = await activity(client, b.staff, b.b, title="取消了的", start_at=at(4), end_at=at(4, 1))

    # chen's spouse books for the child: the family sees it as booked, whoever booked
    assert (await book(client, b.spouse, booked["id"], [b.xiaoyu])).status_code == 201
    assert (await book(client, b.zhou, full["id"])).json()["status"] == "confirmed"
    assert (await book(client, b.chen, full["id"])).json()["status"] == "waitlisted"
    mine = (await book(client, b.chen, cancelled["id"])).json()
    assert (await client.post(f"/api/v1/bookings/{mine['id']}/cancel", headers=b.chen.headers)).status_code == 200

    family = {"读书会第1期": "confirmed", "满员的手工课": "waitlisted", "读书会第2期": None, "取消了的": None}
    assert await b.statuses(b.chen) == family
    assert await b.statuses(b.spouse) == family
    assert await b.statuses(b.zhou) == {**dict.fromkeys(family), "满员的手工课": "confirmed"}
    assert await b.statuses(b.wang) == dict.fromkeys(family)
    assert await b.statuses(b.waiting) == dict.fromkeys(family)  # not yet in the household
    # a household holding both a seat and a place on the waitlist has booked
    assert (await book(client, b.chen, full["id"], [b.xiaoshu])).json()["status"] == "waitlisted"
    assert (await b.statuses(b.spouse))["满员的手工课"] == "waitlisted"

    # the same on the detail, its next session and similar activities, and a series' sessions
    detail = (await client.get(f"/api/v1/activities/{booked['id']}", headers=b.chen.headers)).json()
    assert detail["my_booking_status"] == "confirmed" and detail["join"] is None
    assert detail["next_session"]["title"] == "读书会第2期" and detail["next_session"]["my_booking_status"] is None
    similar = {a["title"]: a["my_booking_status"] for a in detail["similar"]}
    assert similar == {"取消了的": None}  # the full one has no seats to offer
    other = (await client.get(f"/api/v1/activities/{full['id']}", headers=b.spouse.headers)).json()
    assert other["my_booking_status"] == "waitlisted"
    assert {a["title"]: a["my_booking_status"] for a in other["similar"]}["读书会第1期"] == "confirmed"
    series = (await client.get(f"/api/v1/series/{sid}", headers=b.spouse.headers)).json()
    assert [(a["title"], a["my_booking_status"]) for a in series["upcoming"]] == [
        ("读书会第1期", "confirmed"), ("读书会第2期", None)
    ]  # fmt: skip

    # staff see their own household's bookings the same way, and none without a household
    assert await b.statuses(b.staff) == dict.fromkeys(family)
    await join(client, b.staff, b.b, "2栋", "1单元", "301")
    assert (await book(client, b.staff, booked["id"])).status_code == 201
    assert (await b.statuses(b.staff))["读书会第1期"] == "confirmed"


async def test_a_longer_page_costs_no_more_queries(client, db, b):
    for day in range(1, 9):
        a = await activity(client, b.staff, b.b, title=f"第{day}场", start_at=at(day), end_at=at(day, 1))
        assert (await book(client, b.chen if day % 2 else b.spouse, a["id"])).status_code == 201
    with statements(db) as short:
        assert len((await b.listed(b.chen, limit=1))["items"]) == 1
    with statements(db) as long:
        page = await b.listed(b.chen, limit=8)
    assert [a["my_booking_status"] for a in page["items"]] == ["confirmed"] * 8
    assert len(long) == len(short)  # one look-up of the household's bookings for the page, not one each


# -- 2. one answer for every check-in -----------------------------------------------------------

CHECKIN_KEYS = {"activity", "bookings", "newly_checked_in", "already_checked_in"}
ACTIVITY_KEYS = {"id", "title", "start_at", "end_at", "place"}
BOOKING_KEYS = {"id", "status", "seats", "source", "attendees"}
ATTENDEE_KEYS = {"member_id", "name", "kind", "checked_in_at", "checked_in_now"}


def same_shape(answer: dict[str, Any]) -> None:
    assert set(answer) == CHECKIN_KEYS
    assert set(answer["activity"]) == ACTIVITY_KEYS
    for booking in answer["bookings"]:
        assert set(booking) == BOOKING_KEYS
        for attendee in booking["attendees"]:
            assert set(attendee) == ATTENDEE_KEYS


async def test_staff_scans_self_check_in_and_walk_ins_answer_alike(client, app, b):
    a = await activity(client, b.staff, b.b, title="亲子阅读", start_at=at(minutes=10), end_at=at(hours=1))
    family = (await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])).json()
    zhou = (await book(client, b.zhou, a["id"], [await b.me(b.zhou), b.lele])).json()
    token = (await client.get(f"/api/v1/bookings/{family['id']}/checkin-code", headers=b.chen.headers)).json()["token"]
    scan = f"/api/v1/activities/{a['id']}/checkins"

    child = await client.post(scan, json={"token": token, "attendee_ids": [b.xiaoyu]}, headers=b.staff.headers)
    assert child.status_code == 200
    answer = child.json()
    same_shape(answer)
    assert answer["activity"] == {
        "id": a["id"], "title": "亲子阅读", "start_at": a["start_at"], "end_at": a["end_at"], "place": "复合空间阅读角"
    }  # fmt: skip
    (booking,) = answer["bookings"]
    assert (booking["id"], booking["status"], booking["seats"], booking["source"]) == (
        family["id"],
        "confirmed",
        2,
        "app",
    )
    people = [(x["name"], x["kind"], x["checked_in_now"], x["checked_in_at"] is not None) for x in booking["attendees"]]
    assert people == [("chen", "adult", False, False), ("小雨", "child", True, True)]
    assert (answer["newly_checked_in"], answer["already_checked_in"]) == (1, False)

    # the same code again: nothing changes, and the screen can say so
    again = (await client.post(scan, json={"token": token, "attendee_ids": [b.xiaoyu]}, headers=b.staff.headers)).json()
    same_shape(again)
    assert (again["newly_checked_in"], again["already_checked_in"]) == (0, True)
    assert again["bookings"][0]["attendees"][1]["checked_in_at"] == booking["attendees"][1]["checked_in_at"]
    # a retried request with its Idempotency-Key gets the first answer back
    key = {"Idempotency-Key": "scan-zhou-1"}
    first = await client.post(scan, json={"booking_id": zhou["id"]}, headers={**b.staff.headers, **key})
    retried = await client.post(scan, json={"booking_id": zhou["id"]}, headers={**b.staff.headers, **key})
    assert retried.json() == first.json() and first.json()["newly_checked_in"] == 2
    assert retried.headers.get("Idempotent-Replayed") == "true"

    # the resident scanning the on-site code: the rest of the household
    onsite = (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=b.staff.headers)).json()["code"]
    selfie = await client.post(
        f"/api/v1/activities/{a['id']}/checkins/self", json={"code": onsite}, headers=b.spouse.headers
    )
    assert selfie.status_code == 200
    same_shape(selfie.json())
    (mine,) = selfie.json()["bookings"]
    assert [(x["name"], x["checked_in_now"]) for x in mine["attendees"]] == [("chen", True), ("小雨", False)]
    assert (selfie.json()["newly_checked_in"], selfie.json()["already_checked_in"]) == (1, False)

    # a walk-in, checked in as it is registered
    walked = await client.post(
        f"/api/v1/activities/{a['id']}/walkins", json={"guests": ["王奶奶"]}, headers=b.staff.headers
    )
    assert walked.status_code == 201
    same_shape(walked.json())
    (guest,) = walked.json()["bookings"][0]["attendees"]
    assert (guest["member_id"], guest["name"], guest["kind"], guest["checked_in_now"]) == (
        None,
        "王奶奶",
        "guest",
        True,
    )

    # one documented answer for the three
    spec = (await client.get("/openapi.json")).json()
    for path, method, status in (
        ("/api/v1/activities/{activity_id}/checkins", "post", "200"),
        ("/api/v1/activities/{activity_id}/checkins/self", "post", "200"),
        ("/api/v1/activities/{activity_id}/walkins", "post", "201"),
    ):
        operation = spec["paths"][path][method]
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/CheckinResult"}, path
        assert "already_checked_in" in operation["description"]
    described = spec["components"]["schemas"]["CheckinResult"]["properties"]
    assert all(described[name].get("description") for name in ("bookings", "newly_checked_in", "already_checked_in"))


# -- 3. a volunteer on duty at the door ---------------------------------------------------------


class Door:
    """An activity at 10:00 (check-in 09:30–10:30, three seats: chen and 小雨, 乐乐, and wang on the
    waitlist) with a door shift 09:30–11:30 attached to it, another activity at the same time with
    its own shift, and a volunteer signed up for each."""

    async def build(self, client: Any, b: B) -> Door:
        self.client, self.b = client, b
        self.activity = await activity(
            client, b.staff, b.b, title="亲子手工", capacity=3, start_at=at(hours=1), end_at=at(hours=2.5)
        )
        self.other = await activity(client, b.staff, b.b, title="长者讲座", start_at=at(hours=1), end_at=at(hours=2.5))
        self.shift = await self.make_shift(self.activity["id"])
        self.other_shift = await self.make_shift(self.other["id"])
        self.volunteer = await login(client, "liu")
        await join(client, self.volunteer, b.b, "2栋", "1单元", "201")
        self.elsewhere = await login(client, "sun")
        await join(client, self.elsewhere, b.b, "2栋", "1单元", "202")
        await self.sign_up(self.volunteer, self.shift)
        await self.sign_up(self.elsewhere, self.other_shift)
        self.chen_booking = (await book(client, b.chen, self.activity["id"], [await b.me(b.chen), b.xiaoyu])).json()
        self.zhou_booking = (await book(client, b.zhou, self.activity["id"], [b.lele])).json()
        assert (await book(client, b.wang, self.activity["id"])).json()["status"] == "waitlisted"
        return self

    async def make_shift(self, activity_id: int) -> int:
        made = await self.client.post(
            f"/api/v1/communities/{self.b.b}/shifts",
            json={"role": "活动签到", "start_at": at(minutes=30), "end_at": at(hours=2.5), "needed": 2,
                  "activity_id": activity_id},
            headers=self.b.staff.headers,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    async def sign_up(self, person: Person, shift_id: int) -> None:
        signed = await self.client.post(f"/api/v1/shifts/{shift_id}/signups", json={}, headers=person.headers)
        assert signed.status_code == 201, signed.text

    async def shift_code(self, shift_id: int) -> str:
        return str(
            (await self.client.get(f"/api/v1/shifts/{shift_id}/code", headers=self.b.staff.headers)).json()["code"]
        )

    async def on_duty(self, person: Person, shift_id: int, *, out: bool = False) -> None:
        action = "checkout" if out else "checkin"
        code = await self.shift_code(shift_id)
        done = await self.client.post(
            f"/api/v1/shifts/{shift_id}/{action}", json={"code": code}, headers=person.headers
        )
        assert done.status_code == 200, done.text

    async def roster(self, person: Person, activity_id: int | None = None) -> Any:
        return await self.client.get(
            f"/api/v1/activities/{activity_id or self.activity['id']}/attendance", headers=person.headers
        )

    async def walk_in(self, person: Person, activity_id: int | None = None, **body: Any) -> Any:
        return await self.client.post(
            f"/api/v1/activities/{activity_id or self.activity['id']}/walkins",
            json=body or {"guests": ["李爷爷"]},
            headers=person.headers,
        )


@pytest.fixture
async def door(client, b) -> Door:
    return await Door().build(client, b)


async def test_a_volunteer_on_duty_sees_the_doors_part_of_the_roster(client, b, door):
    assert code_of(await door.roster(door.volunteer)) == (403, "not_on_duty")  # signed up, not yet there
    await door.on_duty(door.volunteer, door.shift)
    clock.advance(timedelta(minutes=40))  # 09:40: the activity's check-in is open
    token = (
        await client.get(f"/api/v1/bookings/{door.chen_booking['id']}/checkin-code", headers=b.chen.headers)
    ).json()["token"]
    scanned = await client.post(
        f"/api/v1/activities/{door.activity['id']}/checkins",
        json={"token": token, "attendee_ids": [b.xiaoyu]},
        headers=door.volunteer.headers,
    )
    assert scanned.status_code == 200
    # the answer names the child by her first character only, and keeps what checking in the rest needs
    assert [(x["member_id"], x["name"], x["checked_in_now"]) for x in scanned.json()["bookings"][0]["attendees"]] == [
        (await b.me(b.chen), "chen", False), (b.xiaoyu, "小*", True)
    ]  # fmt: skip
    seen = await door.roster(door.volunteer)
    assert seen.status_code == 200, seen.text
    roster = seen.json()
    assert set(roster) == {
        "view", "activity_id", "capacity", "taken", "expected", "checked_in", "waitlisted_seats", "bookings"
    }  # fmt: skip
    assert (roster["view"], roster["expected"], roster["checked_in"], roster["taken"]) == ("volunteer", 3, 1, 3)
    assert roster["waitlisted_seats"] == 1 and "wang" not in str(roster)  # how many wait, not who
    assert [
        (entry["booking_id"], entry["seats"], [(x["name"], x["kind"], x["checked_in_at"] is not None)
                                               for x in entry["attendees"]])
        for entry in roster["bookings"]
    ] == [
        (door.chen_booking["id"], 2, [("chen", "adult", False), ("小*", "child", True)]),
        (door.zhou_booking["id"], 1, [("乐*", "child", False)]),
    ]  # fmt: skip
    for entry in roster["bookings"]:  # no address, booker or member id; nothing about no-shows
        assert set(entry) == {"booking_id", "source", "seats", "attendees"}
        assert all(set(x) == {"name", "kind", "checked_in_at"} for x in entry["attendees"])
    # staff still see the whole of it
    full = (await door.roster(b.staff)).json()
    assert full["view"] == "staff" and full["bookings"][0]["household"] == "1栋1单元101"
    assert [x["name"] for x in full["waitlist"][0]["attendees"]] == ["wang"]
    assert [x["name"] for x in full["bookings"][0]["attendees"]] == ["chen", "小雨"]
    spec = (await client.get("/openapi.json")).json()
    answer = spec["paths"]["/api/v1/activities/{activity_id}/attendance"]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["discriminator"]["propertyName"] == "view"


async def test_a_volunteer_on_duty_registers_walk_ins_by_name(client, b, door):
    more = await client.patch(
        f"/api/v1/activities/{door.activity['id']}", json={"capacity": 10}, headers=b.staff.headers
    )
    assert more.json()["taken"] == 4  # wang came off the waitlist
    await door.on_duty(door.volunteer, door.shift)
    too_early = await door.walk_in(door.volunteer)  # 09:00
    assert code_of(too_early) == (409, "checkin_not_open")
    assert too_early.json()["error"]["message"] == "签到 12月1日 09:30 开始"
    clock.advance(timedelta(minutes=40))
    came = await door.walk_in(door.volunteer, guests=["李爷爷", "李奶奶"])
    assert came.status_code == 201, came.text
    assert [(x["name"], x["kind"], x["checked_in_now"]) for x in came.json()["bookings"][0]["attendees"]] == [
        ("李爷爷", "guest", True), ("李奶奶", "guest", True)
    ]  # fmt: skip
    # residents are linked to their household by staff, who can look them up; a volunteer cannot
    members = await door.walk_in(door.volunteer, member_ids=[b.lele])
    assert code_of(members) == (403, "walkin_members_staff_only")
    roster = (await door.roster(b.staff)).json()
    walked = next(entry for entry in roster["bookings"] if entry["source"] == "walkin")
    assert [(x["name"], x["checkin_method"]) for x in walked["attendees"]] == [
        ("李爷爷", "walkin"),
        ("李奶奶", "walkin"),
    ]
    assert roster["taken"] == 6
    assert (await door.walk_in(b.staff, member_ids=[await b.me(b.zhou)])).status_code == 201  # staff may


async def test_off_duty_elsewhere_or_a_resident_sees_no_roster_and_registers_nobody(client, b, door):
    await door.on_duty(door.volunteer, door.shift)
    await door.on_duty(door.elsewhere, door.other_shift)
    clock.advance(timedelta(minutes=40))
    # on duty at the other activity: nothing of this one, and the other one's roster is theirs
    assert code_of(await door.roster(door.elsewhere)) == (403, "not_on_duty")
    assert code_of(await door.walk_in(door.elsewhere)) == (403, "not_on_duty")
    assert (await door.roster(door.elsewhere, door.other["id"])).json()["view"] == "volunteer"
    assert code_of(await door.roster(door.volunteer, door.other["id"])) == (403, "not_on_duty")
    # ordinary residents, even booked ones
    for person in (b.chen, b.wang):
        assert code_of(await door.roster(person)) == (403, "not_on_duty")
        assert code_of(await door.walk_in(person)) == (403, "not_on_duty")
    # off duty once checked out
    clock.advance(timedelta(minutes=5))
    await door.on_duty(door.volunteer, door.shift, out=True)
    assert code_of(await door.roster(door.volunteer)) == (403, "not_on_duty")
    assert code_of(await door.walk_in(door.volunteer)) == (403, "not_on_duty")
    roster = (await door.roster(b.staff)).json()
    assert all(entry["source"] == "app" for entry in roster["bookings"])  # nobody was registered


# -- 4. looking around before joining -----------------------------------------------------------


async def test_a_visitor_sees_published_activities_and_how_to_join(client, b):
    sid = (
        await client.post(f"/api/v1/communities/{b.b}/series", json={"title": "周六读书会"}, headers=b.staff.headers)
    ).json()["id"]
    shown = await activity(client, b.staff, b.b, title="读书会", start_at=at(1), end_at=at(1, 1), series_id=sid)
    draft = await activity(client, b.staff, b.b, publish=False, title="草稿", start_at=at(2), end_at=at(2, 1))
    never = await activity(client, b.staff, b.b, publish=False, title="没发布就取消", start_at=at(3), end_at=at(3, 1))
    called_off = await activity(client, b.staff, b.b, title="下雨取消", start_at=at(4), end_at=at(4, 1))
    for made, reason in ((never, ""), (called_off, "暴雨")):
        cancelled = await client.post(
            f"/api/v1/activities/{made['id']}/cancel", json={"reason": reason}, headers=b.staff.headers
        )
        assert cancelled.status_code == 200
    assert (await book(client, b.chen, shown["id"], [await b.me(b.chen), b.xiaoyu])).status_code == 201
    visitor = await login(client, "visitor")

    listing = await b.listed(visitor)
    assert [a["title"] for a in listing["items"]] == ["读书会"]
    (item,) = listing["items"]
    assert (item["seats_left"], item["my_booking_status"]) == (28, None)
    assert listing["join"] == {
        "community_id": b.b,
        "community_name": "B社区",
        "join_path": f"/communities/{b.b}/join",
        "message": "登记住址加入B社区后，就能预约活动、关注系列了",
    }
    assert (await b.listed(visitor, for_my_children="true"))["items"] == []
    assert (await b.titles(visitor, when="past")) == []
    for status in ("draft", "cancelled"):  # staff's filters stay the staff's
        refused = await client.get(f"/api/v1/communities/{b.b}/activities?status={status}", headers=visitor.headers)
        assert code_of(refused) == (403, "staff_only")

    detail = (await client.get(f"/api/v1/activities/{shown['id']}", headers=visitor.headers)).json()
    assert detail["join"] == listing["join"]
    assert (detail["my_bookings"], detail["my_booking_status"], detail["taken"]) == ([], None, 2)
    assert detail["series"] == {"id": sid, "title": "周六读书会"}
    assert "小雨" not in str(detail) and "chen" not in str(detail)  # nothing of who booked
    for hidden in (draft, never):
        assert code_of(await client.get(f"/api/v1/activities/{hidden['id']}", headers=visitor.headers)) == (
            404, "activity_not_found"
        )  # fmt: skip
        assert code_of(await book(client, visitor, hidden["id"])) == (404, "activity_not_found")
    gone = (await client.get(f"/api/v1/activities/{called_off['id']}", headers=visitor.headers)).json()
    assert (gone["status"], gone["cancel_reason"]) == ("cancelled", "暴雨")
    series = await client.get(f"/api/v1/series/{sid}", headers=visitor.headers)
    assert [a["title"] for a in series.json()["upcoming"]] == ["读书会"]

    # doing anything needs a household here, and says so
    refused = await book(client, visitor, shown["id"])
    assert code_of(refused) == (403, "not_a_member") and "登记住址" in refused.json()["error"]["message"]
    follow = await client.post(f"/api/v1/series/{sid}/follow", headers=visitor.headers)
    assert code_of(follow) == (403, "not_a_member") and "登记住址" in follow.json()["error"]["message"]
    assert code_of(await client.get(f"/api/v1/activities/{shown['id']}/attendance", headers=visitor.headers)) == (
        403, "not_on_duty"
    )  # fmt: skip
    assert code_of(await client.get(f"/api/v1/activities/{shown['id']}/album", headers=visitor.headers))[0] == 404

    # the button does what it says
    joined = await client.post(
        f"/api/v1{listing['join']['join_path']}",
        json={"display_name": "新邻居", "building": "5栋", "unit": "", "room": "601"},
        headers=visitor.headers,
    )
    assert joined.status_code == 201
    assert (await b.listed(visitor))["join"] is None
    assert (await book(client, visitor, shown["id"])).json()["status"] == "confirmed"
    assert (await b.listed(visitor))["items"][0]["my_booking_status"] == "confirmed"


async def test_another_communitys_people_are_visitors_and_a_waiting_join_is_a_resident(client, b):
    a = await activity(client, b.staff, b.b, title="读书会", start_at=at(1), end_at=at(1, 1))
    c = (await community(client, b.root, "C社区"))["id"]
    neighbour = await login(client, "c-resident")
    await join(client, neighbour, c, "9栋", "1单元", "101")
    c_staff = await login(client, "c-staff")
    await grant(client, b.root, c, c_staff, "staff")
    for person in (neighbour, c_staff):
        listing = await b.listed(person)
        assert [x["title"] for x in listing["items"]] == ["读书会"]
        assert listing["join"]["community_name"] == "B社区"
        detail = (await client.get(f"/api/v1/activities/{a['id']}", headers=person.headers)).json()
        assert detail["join"]["community_id"] == b.b
        assert code_of(await book(client, person, a["id"])) == (403, "not_a_member")
        refused = await client.get(f"/api/v1/communities/{b.b}/activities?status=draft", headers=person.headers)
        assert code_of(refused) == (403, "staff_only")

    # someone whose join still waits browses as a resident, and waits to book
    listing = await b.listed(b.waiting)
    assert listing["join"] is None and [x["title"] for x in listing["items"]] == ["读书会"]
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=b.waiting.headers)).json()["join"] is None
    assert code_of(await book(client, b.waiting, a["id"])) == (403, "not_a_resident")
    # residents see no join hint and may not ask for drafts either; staff may
    assert (await b.listed(b.chen))["join"] is None
    refused = await client.get(f"/api/v1/communities/{b.b}/activities?status=draft", headers=b.chen.headers)
    assert code_of(refused) == (403, "staff_only")
    assert (await b.listed(b.staff, status="draft"))["items"] == []


# -- 5. "for my children", in the list and for followers ------------------------------------------


async def test_for_my_children_lists_only_what_suits_a_child_of_the_household(client, b):
    plan = [
        ("绘本共读", "children", 6, 10),
        ("青少年议事会", "deliberation", 12, 17),
        ("长者健康讲座", "elders", None, None),
        ("亲子手工", "parent_child", None, None),
        ("儿童电影", "children", None, None),
        ("幼儿律动", "children", 3, 4),
        ("六岁以上的书法", "culture", 6, None),
        ("十岁以下的合唱", "culture", None, 10),
    ]
    for day, (title, category, low, high) in enumerate(plan, start=1):
        await activity(
            client, b.staff, b.b, title=title, category=category, child_min_age=low, child_max_age=high,
            start_at=at(day), end_at=at(day, 1),
        )  # fmt: skip
    # 小树, born 2021, is 5 on New Year's Eve and 6 half an hour after midnight in Shanghai
    # (still 31 December in UTC): ages are counted in the year the activity starts, as booking does
    eve = await activity(
        client, b.staff, b.b, title="跨年夜", category="children", child_min_age=6, child_max_age=6,
        start_at="2026-12-31T23:00:00+08:00", end_at="2026-12-31T23:50:00+08:00",
    )  # fmt: skip
    new_year = await activity(
        client, b.staff, b.b, title="新年第一课", category="children", child_min_age=6, child_max_age=6,
        start_at="2027-01-01T00:30:00+08:00", end_at="2027-01-01T01:30:00+08:00",
    )  # fmt: skip

    # chen's children are 8 and 5 (6 in 2027), zhou's is 14, wang has none
    chen = ["绘本共读", "亲子手工", "儿童电影", "六岁以上的书法", "十岁以下的合唱", "新年第一课"]
    assert await b.titles(b.chen, for_my_children="true") == chen
    assert await b.titles(b.spouse, for_my_children="true") == chen
    assert await b.titles(b.zhou, for_my_children="true") == ["青少年议事会", "亲子手工", "儿童电影", "六岁以上的书法"]
    for nobody in (b.wang, b.waiting, b.staff):
        assert await b.titles(nobody, for_my_children="true") == []
    # the filter and booking agree on the year's edge
    assert (await book(client, b.chen, new_year["id"], [b.xiaoshu])).status_code == 201
    assert code_of(await book(client, b.chen, eve["id"], [b.xiaoshu])) == (422, "attendee_age")
    assert "长者健康讲座" in await b.titles(b.wang)  # without the filter, everything is there


async def inbox(client: Any, person: Person) -> list[str]:
    response = await client.get("/api/v1/me/inbox", headers=person.headers)
    return [e["title"] for e in response.json()["items"] if e["kind"] == "category.new_activity"]


async def test_followers_of_a_category_hear_of_an_activity_with_an_age_range_only_if_it_suits_a_child(client, b):
    staff2 = await login(client, "staff2")  # staff without a household here
    await grant(client, b.root, b.b, staff2, "staff")
    for person in (b.chen, b.zhou, b.wang, staff2):
        followed = await client.put(f"/api/v1/communities/{b.b}/follows/categories/children", headers=person.headers)
        assert followed.status_code == 204
    assert (
        await client.put(f"/api/v1/communities/{b.b}/follows/categories/culture", headers=b.chen.headers)
    ).status_code == 204

    await activity(client, b.staff, b.b, title="绘本共读", category="children", child_min_age=6, child_max_age=10)
    await activity(client, b.staff, b.b, title="儿童电影", category="children")
    await activity(client, b.staff, b.b, title="青少年营", category="children", child_min_age=12)
    await activity(client, b.staff, b.b, title="幼儿律动", category="children", child_min_age=3, child_max_age=4)
    await activity(client, b.staff, b.b, title="书法", category="culture", child_min_age=6)
    await activity(client, b.staff, b.b, title="长者合唱", category="elders")  # nobody follows elders

    assert sorted(await inbox(client, b.chen)) == sorted(
        ["新的儿童活动：绘本共读", "新的儿童活动：儿童电影", "新的文化活动：书法"]
    )
    assert sorted(await inbox(client, b.zhou)) == sorted(["新的儿童活动：儿童电影", "新的儿童活动：青少年营"])
    assert await inbox(client, b.wang) == ["新的儿童活动：儿童电影"]  # no children: only what is for everyone
    assert await inbox(client, staff2) == ["新的儿童活动：儿童电影"]
    # chen's spouse follows nothing and hears nothing, though the household has children
    assert await inbox(client, b.spouse) == []
