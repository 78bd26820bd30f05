"""Acting for residents without WeChat (代办), through the API: staff register a household at the
desk, and book seats for any household of their community under the residents' own rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api import clock
from api.db.models import Booking, BookingBlock, Household, Notification
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(days: float = 0, hours: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours)).isoformat()


ELDER = {
    "building": "3栋",
    "unit": "2单元",
    "room": "501",
    "contact_phone": "138 1234 5678",
    "members": [{"display_name": "王奶奶", "kind": "elder"}],
}


class W:
    async def build(self, client: Any, db: Any) -> W:
        self.client, self.db = client, db
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        named = await client.patch("/api/v1/me", json={"display_name": "社工小王"}, headers=self.staff.headers)
        assert named.status_code == 200, named.text
        self.chen = await login(client, "chen")
        self.chen_home = (await join(client, self.chen, self.b, "1栋", "1单元", "101"))["household"]["id"]
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "小雨", 2018))["id"]  # 8
        self.zhou = await login(client, "zhou")
        self.zhou_home = (await join(client, self.zhou, self.b, "1栋", "1单元", "102"))["household"]["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.outsider = await login(client, "c-staff")
        await grant(client, self.root, self.c, self.outsider, "staff")
        return self

    async def register(self, body: dict[str, Any], person: Person | None = None, **headers: str) -> Any:
        who = person or self.staff
        return await self.client.post(
            f"/api/v1/communities/{self.b}/households", json=body, headers={**who.headers, **headers}
        )

    async def elder(self) -> tuple[int, int]:
        """王奶奶's household, registered at the desk: (household id, her member id)."""
        response = await self.register(ELDER)
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["members"][0]["id"]

    async def desk_book(
        self, activity_id: int, household_id: int, members: list[int], person: Person | None = None, **headers: str
    ) -> Any:
        who = person or self.staff
        return await self.client.post(
            f"/api/v1/activities/{activity_id}/bookings",
            json={"on_behalf_of": household_id, "attendee_ids": members},
            headers={**who.headers, **headers},
        )


@pytest.fixture
async def w(client, db) -> W:
    return await W().build(client, db)


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def worker(app: Any) -> Worker:
    return Worker(app.state.db, app.state.settings, app.state.wechat)


# -- registering a household at the desk -----------------------------------------------------------


async def test_staff_register_an_elder_living_alone_with_a_sealed_phone(client, w, db):
    key = {"Idempotency-Key": "desk-register-1"}
    response = await w.register(ELDER, **key)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["building"], body["unit"], body["room"], body["community_id"]) == ("3栋", "2单元", "501", w.b)
    (elder,) = body["members"]
    assert (elder["display_name"], elder["kind"], elder["is_head"], elder["has_account"], elder["status"]) == (
        "王奶奶",
        "elder",
        True,
        False,
        "active",
    )
    assert body["contact_phone"] == "138****5678"

    retry = await w.register(ELDER, **key)
    assert retry.status_code == 201 and retry.json() == body and retry.headers["idempotent-replayed"] == "true"

    # the number is sealed at rest: nothing of it in clear in the row
    async with db.session() as session:
        row = await session.get(Household, body["id"])
        assert row is not None and row.contact_phone_sealed and "5678" not in row.contact_phone_sealed
    # it is one household of the community like any other
    listed = (await client.get(f"/api/v1/communities/{w.b}/households", headers=w.staff.headers)).json()
    assert [(h["room"], h["member_count"]) for h in listed["items"]] == [("101", 2), ("102", 1), ("501", 1)]
    seen = await client.get(f"/api/v1/households/{body['id']}", headers=w.staff.headers)
    assert [m["display_name"] for m in seen.json()["members"]] == ["王奶奶"]


async def test_a_family_with_a_child_keeps_the_childs_minimum_and_consent(client, w):
    family = {
        "building": "5栋",
        "room": "101",
        "members": [
            {"display_name": "刘爷爷", "kind": "elder"},
            {"display_name": "刘阿姨", "kind": "adult"},
            {"display_name": "豆豆", "kind": "child", "birth_year": 2019, "guardian_consent": True},
        ],
    }
    response = await w.register(family)
    assert response.status_code == 201, response.text
    members = response.json()["members"]
    assert [(m["display_name"], m["is_head"]) for m in members] == [
        ("刘爷爷", True),
        ("刘阿姨", False),
        ("豆豆", False),
    ]
    assert members[2]["birth_year"] == 2019 and members[2]["consent_at"] is not None
    assert response.json()["contact_phone"] is None  # no phone given, nobody with WeChat


async def test_an_address_already_registered_is_a_409_naming_its_household(client, w):
    # chen's address, typed differently
    taken = await w.register({**ELDER, "building": "1", "unit": "1", "room": "１０１室"})
    assert error(taken) == (409, "household_exists")
    assert taken.json()["error"]["details"] == {"household_id": w.chen_home}
    assert "1栋1单元101" in taken.json()["error"]["message"]
    household_id, _ = await w.elder()
    again = await w.register({**ELDER, "contact_phone": None})
    assert error(again) == (409, "household_exists")
    assert again.json()["error"]["details"] == {"household_id": household_id}
    listed = (await client.get(f"/api/v1/communities/{w.b}/households", headers=w.staff.headers)).json()
    assert len(listed["items"]) == 3
    # a resident who later joins at that address with WeChat waits for staff, as anywhere
    son = await login(client, "son")
    joined = await join(client, son, w.b, "3栋", "2单元", "501")
    assert joined["status"] == "pending" and joined["member"]["household_id"] == household_id


@pytest.mark.parametrize(
    ("change", "status", "code", "words"),
    [
        ({"members": []}, 422, "validation_error", "members"),
        ({"members": [{"display_name": "豆豆", "kind": "child", "birth_year": 2019, "guardian_consent": True}]},
         422, "validation_error", "户主，应为成人或老人"),
        ({"members": [{"display_name": "王奶奶", "kind": "elder"},
                      {"display_name": "豆豆", "kind": "child", "birth_year": 2019}]},
         422, "guardian_consent_required", "第2位成员"),
        ({"members": [{"display_name": "王奶奶", "kind": "elder"},
                      {"display_name": "豆豆", "kind": "child", "guardian_consent": True}]},
         422, "validation_error", "出生年份"),
        ({"members": [{"display_name": "王奶奶", "kind": "elder"},
                      {"display_name": "大豆", "kind": "child", "birth_year": 1990, "guardian_consent": True}]},
         422, "child_age_invalid", "出生年份不正确"),
        ({"contact_phone": "12345"}, 422, "validation_error", "手机号"),
        ({"contact_phone": "1" * 21}, 422, "validation_error", "contact_phone"),
        ({"building": "㍿" * 9}, 422, "validation_error", "building"),
        ({"room": ""}, 422, "validation_error", "room"),
        ({"members": [{"display_name": "王奶奶", "kind": "elder"}] * 11}, 422, "validation_error", "members"),
        ({"members": [{"display_name": "王奶奶", "kind": "grandma"}]}, 422, "validation_error", "kind"),
        ({"floor": 5}, 422, "unknown_field", "floor"),
        ({"members": [{"display_name": "王奶奶", "kind": "elder", "user_id": 1}]}, 422, "unknown_field", "user_id"),
    ],
)  # fmt: skip
async def test_registration_is_checked_and_refusals_say_why_in_chinese(client, w, change, status, code, words):
    refused = await w.register({**ELDER, **change})
    assert error(refused) == (status, code), refused.text
    assert words in refused.json()["error"]["message"]
    listed = (await client.get(f"/api/v1/communities/{w.b}/households", headers=w.staff.headers)).json()
    assert len(listed["items"]) == 2  # nothing was written


async def test_only_staff_of_the_community_register_households(client, w):
    assert error(await w.register(ELDER, w.chen)) == (403, "staff_only")
    assert error(await w.register(ELDER, w.outsider)) == (403, "staff_only")
    missing = await client.post("/api/v1/communities/999999/households", json=ELDER, headers=w.staff.headers)
    assert error(missing) == (404, "community_not_found")
    anonymous = await client.post(f"/api/v1/communities/{w.b}/households", json=ELDER)
    assert anonymous.status_code == 401
    mine = await client.post(f"/api/v1/communities/{w.c}/households", json=ELDER, headers=w.outsider.headers)
    assert mine.status_code == 201  # their own community's desk


# -- booking on behalf of a household ---------------------------------------------------------------


async def test_staff_book_a_seat_for_an_elder_marked_as_done_at_the_desk(client, w, db):
    household_id, grandma = await w.elder()
    a = await activity(client, w.staff, w.b, title="长者健康讲座", category="elders", capacity=10)
    # before: staff booking for her without on_behalf_of is what the issue found refused
    plain = await book(client, w.staff, a["id"], [grandma])
    assert error(plain) == (403, "not_a_resident")

    booked = await w.desk_book(a["id"], household_id, [grandma])
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert (body["status"], body["seats"], body["source"]) == ("confirmed", 1, "app")
    assert (body["booked_at_desk"], body["booked_at_desk_by"]) == (True, "社工小王")
    assert [x["name"] for x in body["attendees"]] == ["王奶奶"]
    assert body["can_cancel"] is True
    detail = (await client.get(f"/api/v1/activities/{a['id']}", headers=w.staff.headers)).json()
    assert detail["taken"] == 1

    async with db.session() as session:
        row = await session.get(Booking, body["id"])
        assert row is not None
        assert (row.household_id, row.booked_by, row.booked_at_desk_by) == (household_id, None, w.staff.user_id)
    # the roster shows her household
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=w.staff.headers)).json()
    assert [(x["household"], x["attendees"][0]["name"]) for x in roster["bookings"]] == [("3栋2单元501", "王奶奶")]
    # …and that it was booked at the desk, by whom (nobody of the household has WeChat)
    assert [(x["booked_by"], x["booked_at_desk_by"]) for x in roster["bookings"]] == [(None, "社工小王")]

    again = await w.desk_book(a["id"], household_id, [grandma])
    assert error(again) == (409, "already_booked")
    assert again.json()["error"]["details"] == {"booking_id": body["id"], "member_ids": [grandma]}

    cancelled = await client.post(f"/api/v1/bookings/{body['id']}/cancel", headers=w.staff.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=w.staff.headers)).json()["taken"] == 0


async def test_the_desk_meets_the_residents_rules(client, w, db):
    household_id, grandma = await w.elder()
    a = await activity(
        client, w.staff, w.b, title="6–12岁绘本课", capacity=2, max_seats_per_booking=2,
        child_min_age=6, child_max_age=12, registration_closes_at=at(0, 12),
    )  # fmt: skip
    chen_me = (await client.get("/api/v1/me", headers=w.chen.headers)).json()["memberships"][0]["member_id"]
    xiaoshu = (await add_child(client, w.chen, w.chen_home, "小树", 2021))["id"]  # 5
    # only members of that household, each once, within the limit and the age range
    other = await w.desk_book(a["id"], household_id, [w.xiaoyu])
    assert error(other) == (422, "attendee_not_in_household")
    assert other.json()["error"]["message"] == "只能为该户的成员预约"
    assert error(await w.desk_book(a["id"], w.chen_home, [w.xiaoyu, w.xiaoyu])) == (422, "duplicate_attendee")
    three = await w.desk_book(a["id"], w.chen_home, [chen_me, w.xiaoyu, xiaoshu])
    assert error(three) == (422, "too_many_seats")
    young = await w.desk_book(a["id"], w.chen_home, [xiaoshu])
    assert error(young) == (422, "attendee_age")
    assert young.json()["error"]["details"] == {"member_id": xiaoshu, "age": 5, "min_age": 6, "max_age": 12}
    empty = await client.post(
        f"/api/v1/activities/{a['id']}/bookings", json={"on_behalf_of": household_id}, headers=w.staff.headers
    )
    assert error(empty) == (422, "validation_error") and "attendee_ids" in empty.json()["error"]["message"]
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=w.staff.headers)).json()["taken"] == 0

    # capacity and the waitlist: two seats, then the desk's booking waits its turn
    first = await w.desk_book(a["id"], household_id, [grandma])
    assert first.json()["status"] == "confirmed"
    assert (await book(client, w.zhou, a["id"])).json()["status"] == "confirmed"
    waiting = await w.desk_book(a["id"], w.chen_home, [w.xiaoyu])
    assert (waiting.json()["status"], waiting.json()["waitlist_position"]) == ("waitlisted", 1)
    # chen's household has WeChat: its own account hears of the desk's booking, and sees it as such
    mine = (await client.get("/api/v1/me/bookings", headers=w.chen.headers)).json()["items"]
    assert [(x["id"], x["booked_at_desk"], x["booked_at_desk_by"]) for x in mine] == [
        (waiting.json()["id"], True, None)
    ]
    await client.post(f"/api/v1/bookings/{first.json()['id']}/cancel", headers=w.staff.headers)
    promoted = await client.get(f"/api/v1/bookings/{waiting.json()['id']}", headers=w.chen.headers)
    assert promoted.json()["status"] == "confirmed"
    inbox = (await client.get("/api/v1/me/inbox", headers=w.chen.headers)).json()["items"]
    assert [e["title"] for e in inbox] == ["候补成功：6–12岁绘本课"]

    # a no-show block holds at the desk too
    b2 = await activity(client, w.staff, w.b, title="长者茶话会", category="elders")
    async with db.session() as session:
        session.add(
            BookingBlock(
                community_id=w.b, member_id=grandma, blocked_at=NOW, until=NOW + timedelta(days=30), no_shows=3
            )
        )
        await session.commit()
    blocked = await w.desk_book(b2["id"], household_id, [grandma])
    assert error(blocked) == (403, "booking_blocked") and "王奶奶" in blocked.json()["error"]["message"]

    # and the registration window
    clock.freeze(NOW + timedelta(hours=12))
    late = await w.desk_book(a["id"], household_id, [grandma])
    assert error(late) == (409, "registration_closed")


async def test_residents_and_other_communities_staff_cannot_book_on_behalf(client, w):
    household_id, grandma = await w.elder()
    a = await activity(client, w.staff, w.b)
    for body in (
        {"on_behalf_of": household_id, "attendee_ids": [grandma]},
        {"on_behalf_of": w.chen_home, "attendee_ids": [w.xiaoyu]},
    ):  # even their own household
        refused = await client.post(f"/api/v1/activities/{a['id']}/bookings", json=body, headers=w.chen.headers)
        assert error(refused) == (403, "desk_staff_only"), refused.text
    outsider = await w.desk_book(a["id"], household_id, [grandma], w.outsider)
    assert error(outsider) == (403, "desk_staff_only")
    draft = await activity(client, w.staff, w.b, publish=False)
    assert error(await w.desk_book(draft["id"], household_id, [grandma], w.outsider)) == (404, "activity_not_found")
    # a household of another community is not there for this community's activity
    theirs = await client.post(f"/api/v1/communities/{w.c}/households", json=ELDER, headers=w.outsider.headers)
    foreign = theirs.json()
    refused = await w.desk_book(a["id"], foreign["id"], [foreign["members"][0]["id"]])
    assert error(refused) == (404, "household_not_found")
    assert error(await w.desk_book(a["id"], 999999, [grandma])) == (404, "household_not_found")
    # staff cannot book a draft for anyone: the same rule as residents
    assert error(await w.desk_book(draft["id"], household_id, [grandma])) == (404, "activity_not_found")
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=w.staff.headers)).json()["taken"] == 0


async def test_a_retried_desk_booking_replays_and_a_household_without_wechat_breaks_nothing(client, app, w, db):
    household_id, grandma = await w.elder()
    a = await activity(client, w.staff, w.b, title="长者健康讲座", capacity=1, start_at=at(3), end_at=at(3, 1))
    key = {"Idempotency-Key": "desk-book-1"}
    first = await w.desk_book(a["id"], household_id, [grandma], **key)
    retry = await w.desk_book(a["id"], household_id, [grandma], **key)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=w.staff.headers)).json()["taken"] == 1
    other = await w.desk_book(a["id"], w.chen_home, [w.xiaoyu], **key)
    assert error(other) == (422, "idempotency_key_mismatch")

    # another household without WeChat waits, and is promoted when her seat is given back
    liu = (
        await w.register({"building": "5栋", "room": "101", "members": [{"display_name": "刘爷爷", "kind": "elder"}]})
    ).json()
    waiting = await w.desk_book(a["id"], liu["id"], [liu["members"][0]["id"]])
    assert (waiting.json()["status"], waiting.json()["waitlist_position"]) == ("waitlisted", 1)
    await client.post(f"/api/v1/bookings/{first.json()['id']}/cancel", headers=w.staff.headers)
    promoted = await client.get(f"/api/v1/bookings/{waiting.json()['id']}", headers=w.staff.headers)
    assert promoted.json()["status"] == "confirmed"

    # the reminder day, a move and a cancellation: nobody to tell for his household, nothing breaks
    clock.advance(timedelta(days=2, hours=1))
    await worker(app).run_until_idle()
    moved = await client.patch(f"/api/v1/activities/{a['id']}", json={"location": "二楼"}, headers=w.staff.headers)
    assert moved.status_code == 200
    cancelled = await client.post(
        f"/api/v1/activities/{a['id']}/cancel", json={"reason": "讲师生病，改期。"}, headers=w.staff.headers
    )
    assert cancelled.status_code == 200
    await worker(app).run_until_idle()
    seen = (await client.get(f"/api/v1/bookings/{waiting.json()['id']}", headers=w.staff.headers)).json()
    assert seen["status"] == "cancelled" and seen["booked_at_desk_by"] == "社工小王"
    async with db.session() as session:
        told = (await session.execute(select(Notification.kind))).scalars().all()
    assert told == []
