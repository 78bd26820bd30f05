"""Activities and bookings: publishing and browsing, the booking rules, the waitlist, cancellation,
check-in, no-shows, reminders and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from tests.conftest import make_settings
from tests.factories import (
    Person,
    activity,
    add_child,
    book,
    community,
    grant,
    join,
    login,
    platform_admin,
)
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    # a month-long login, so that tests can move the clock across weeks
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def worker(app: Any) -> Worker:
    """All handlers and periodic jobs (counting the no-shows is one)."""
    return Worker(app.state.db, app.state.settings, app.state.wechat)


class B:
    async def build(self, client: Any, db: Any) -> B:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, self.chen_home = await self.household("chen", "101")
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "小雨", 2018))["id"]  # 8
        self.xiaoshu = (await add_child(client, self.chen, self.chen_home, "小树", 2021))["id"]  # 5
        self.zhou, self.zhou_home = await self.household("zhou", "102")
        self.lele = (await add_child(client, self.zhou, self.zhou_home, "乐乐", 2012))["id"]  # 14
        return self

    async def household(self, name: str, room: str) -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, "1栋", "1单元", room)
        return person, joined["household"]["id"]

    async def me(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    async def resident(self, name: str, room: str) -> Person:
        person, _ = await self.household(name, room)
        return person


@pytest.fixture
async def b(client, db) -> B:
    return await B().build(client, db)


async def detail(client: Any, person: Person, activity_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/activities/{activity_id}", headers=person.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def inbox_kinds(client: Any, person: Person) -> list[str]:
    return [e["title"] for e in (await client.get("/api/v1/me/inbox", headers=person.headers)).json()["items"]]


def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)).isoformat()


# -- publishing and browsing ---------------------------------------------------------------------


async def test_staff_publish_and_residents_see_only_published_activities(client, b):
    draft = await activity(client, b.staff, b.b, publish=False, title="手工课草稿")
    assert draft["status"] == "draft"
    hidden = await client.get(f"/api/v1/activities/{draft['id']}", headers=b.chen.headers)
    assert hidden.status_code == 404
    listed = (await client.get(f"/api/v1/communities/{b.b}/activities", headers=b.chen.headers)).json()["items"]
    assert listed == []
    staff_list = await client.get(f"/api/v1/communities/{b.b}/activities?status=draft", headers=b.staff.headers)
    assert [a["title"] for a in staff_list.json()["items"]] == ["手工课草稿"]

    published = (await client.post(f"/api/v1/activities/{draft['id']}/publish", headers=b.staff.headers)).json()
    assert published["status"] == "published" and published["registration"] == "open"
    again = await client.post(f"/api/v1/activities/{draft['id']}/publish", headers=b.staff.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "activity_not_draft"
    (item,) = (await client.get(f"/api/v1/communities/{b.b}/activities", headers=b.chen.headers)).json()["items"]
    # the list carries only what a list needs
    assert set(item) == {
        "id", "title", "category", "start_at", "end_at", "place", "cover_url", "status", "seats_left",
        "waitlist", "registration", "child_min_age", "child_max_age", "series_id", "my_booking_status",
    }  # fmt: skip
    assert (item["seats_left"], item["waitlist"], item["place"]) == (30, 0, "复合空间阅读角")
    seen = await detail(client, b.chen, draft["id"])
    assert seen["my_bookings"] == [] and seen["capacity"] == 30
    # the defaults: registration closes at the start, check-in from 30 minutes before to after
    start = datetime.fromisoformat(seen["start_at"])
    assert datetime.fromisoformat(seen["registration_closes_at"]) == start
    assert datetime.fromisoformat(seen["checkin_opens_at"]) == start - timedelta(minutes=30)
    assert datetime.fromisoformat(seen["checkin_closes_at"]) == start + timedelta(minutes=30)


async def test_activity_times_and_places_are_checked(client, b):
    path = f"/api/v1/communities/{b.b}/activities"
    base = {"title": "t", "category": "culture", "location": "活动室", "capacity": 10}
    cases = [
        ({**base, "start_at": at(1), "end_at": at(1)}, "validation_error"),
        ({**base, "start_at": at(1), "end_at": at(1, 2), "registration_closes_at": at(1, 3)}, "activity_times_invalid"),
        ({**base, "start_at": at(1), "end_at": at(1, 2), "child_min_age": 12, "child_max_age": 6}, "validation_error"),
        ({**base, "location": " ", "start_at": at(1), "end_at": at(1, 2)}, "activity_place_missing"),
        ({**base, "start_at": "9999-12-02T10:00:00+08:00", "end_at": "9999-12-02T12:00:00+08:00"}, "validation_error"),
        ({**base, "space_id": 999, "start_at": at(1), "end_at": at(1, 2)}, "space_not_found"),
    ]
    for body, code in cases:
        response = await client.post(path, json=body, headers=b.staff.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code), body


async def test_browse_filters_and_pages(client, b):
    ids = {}
    for day, (title, category, ages) in enumerate(
        [
            ("绘本共读", "children", (6, 10)),
            ("长者健康讲座", "elders", (None, None)),
            ("青少年议事会", "deliberation", (12, 17)),
            ("亲子手工", "parent_child", (3, 6)),
        ],
        start=1,
    ):
        ids[title] = (
            await activity(
                client, b.staff, b.b, title=title, category=category,
                start_at=at(day, 1), end_at=at(day, 2), child_min_age=ages[0], child_max_age=ages[1],
            )
        )["id"]  # fmt: skip
    full = await activity(client, b.staff, b.b, title="满员的", capacity=1, start_at=at(5), end_at=at(5, 1))
    assert (await book(client, b.zhou, full["id"])).status_code == 201

    async def titles(**params: Any) -> list[str]:
        response = await client.get(f"/api/v1/communities/{b.b}/activities", params=params, headers=b.chen.headers)
        assert response.status_code == 200, response.text
        return [a["title"] for a in response.json()["items"]]

    assert await titles() == ["绘本共读", "长者健康讲座", "青少年议事会", "亲子手工", "满员的"]
    assert await titles(category="elders") == ["长者健康讲座"]
    assert "满员的" not in await titles(has_seats="true")
    # chen's children are 8 and 5: reading (6–10) and crafts (3–6) fit, the youth council does not,
    # nor the elders' talk; a parent–child activity without an age range is for every child
    assert await titles(for_my_children="true") == ["绘本共读", "亲子手工", "满员的"]
    assert await titles(date_from="2026-12-03", date_to="2026-12-04") == ["长者健康讲座", "青少年议事会"]
    paged, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/api/v1/communities/{b.b}/activities", params=params, headers=b.chen.headers)).json()
        paged += [a["title"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == await titles()
    clock.advance(timedelta(days=10))
    assert await titles() == []
    assert await titles(when="past") == ["满员的", "亲子手工", "青少年议事会", "长者健康讲座", "绘本共读"]


# -- booking rules -------------------------------------------------------------------------------


async def test_registration_window_edges(client, b):
    a = await activity(
        client, b.staff, b.b, start_at=at(2), end_at=at(2, 2),
        registration_opens_at=at(hours=1), registration_closes_at=at(1),
    )  # fmt: skip
    clock.freeze(NOW + timedelta(hours=1) - timedelta(seconds=1))
    early = await book(client, b.chen, a["id"])
    assert (early.status_code, early.json()["error"]["code"]) == (409, "registration_not_open")
    assert early.json()["error"]["details"]["opens_at"] == "2026-12-01T10:00:00+08:00"
    assert early.json()["error"]["message"] == "报名 12月1日 10:00 开始"  # when, in community time
    clock.freeze(NOW + timedelta(hours=1))
    assert (await book(client, b.chen, a["id"])).status_code == 201
    clock.freeze(NOW + timedelta(days=1) - timedelta(seconds=1))
    assert (await book(client, b.zhou, a["id"])).status_code == 201
    clock.freeze(NOW + timedelta(days=1))
    late = await book(client, b.zhou, a["id"], [b.lele])
    assert (late.status_code, late.json()["error"]["code"]) == (409, "registration_closed")
    assert late.json()["error"]["message"] == "报名已于 12月2日 09:00 截止"
    assert late.json()["error"]["details"]["closed_at"] == "2026-12-02T09:00:00+08:00"


async def test_child_attendees_must_be_in_the_age_range(client, b):
    a = await activity(client, b.staff, b.b, title="6–12岁绘本课", child_min_age=6, child_max_age=12)
    too_young = await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoshu])
    assert (too_young.status_code, too_young.json()["error"]["code"]) == (422, "attendee_age")
    assert too_young.json()["error"]["details"] == {"member_id": b.xiaoshu, "age": 5, "min_age": 6, "max_age": 12}
    too_old = await book(client, b.zhou, a["id"], [b.lele])
    assert too_old.json()["error"]["details"]["age"] == 14
    ok = await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])  # the parent comes along
    assert ok.status_code == 201 and ok.json()["seats"] == 2


async def test_attendees_are_the_households_own_and_book_once(client, b):
    a = await activity(client, b.staff, b.b, max_seats_per_booking=2)
    other_family = await book(client, b.chen, a["id"], [b.lele])
    assert (other_family.status_code, other_family.json()["error"]["code"]) == (422, "attendee_not_in_household")
    twice = await book(client, b.chen, a["id"], [b.xiaoyu, b.xiaoyu])
    assert twice.json()["error"]["code"] == "duplicate_attendee"
    three = await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu, b.xiaoshu])
    assert (three.status_code, three.json()["error"]["code"]) == (422, "too_many_seats")
    first = await book(client, b.chen, a["id"], [b.xiaoyu])
    assert first.status_code == 201
    # the same child in a second booking of the household is refused
    again = await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_booked")
    assert again.json()["error"]["details"] == {"booking_id": first.json()["id"], "member_ids": [b.xiaoyu]}
    # a second booking for others is fine
    assert (await book(client, b.chen, a["id"], [b.xiaoshu])).status_code == 201
    assert (await detail(client, b.chen, a["id"]))["taken"] == 2
    stranger = await login(client, "stranger")
    refused = await book(client, stranger, a["id"])  # a visitor is told to join first
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_a_member")
    staff_without_home = await book(client, b.staff, a["id"])
    assert (staff_without_home.status_code, staff_without_home.json()["error"]["code"]) == (403, "not_a_resident")


async def test_a_retried_booking_replays_its_first_answer(client, b):
    a = await activity(client, b.staff, b.b, capacity=2)
    key = {"Idempotency-Key": "book-7f3a"}
    first = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
    retry = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert (await detail(client, b.chen, a["id"]))["taken"] == 1
    other = await book(client, b.chen, a["id"], [b.xiaoshu], **key)
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_mismatch")


async def test_a_booking_whose_key_is_still_in_flight_is_told_to_wait(client, db, b, is_postgres):
    if not is_postgres:
        pytest.skip("on SQLite writers are serialised: the duplicate waits, then replays")
    from api.services import idempotency

    a = await activity(client, b.staff, b.b, capacity=2)
    key = {"Idempotency-Key": "book-busy"}
    # another connection is still working on the same key (it holds the key's advisory lock)
    async with db.session() as in_flight:
        path = f"/api/v1/activities/{a['id']}/bookings"
        await idempotency.begin(in_flight, b.chen.user_id, "book-busy", idempotency.fingerprint("POST", path, b"{}"))
        busy = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
        assert (busy.status_code, busy.json()["error"]["code"]) == (409, "idempotency_in_flight")
        assert (await detail(client, b.chen, a["id"]))["taken"] == 0
        await in_flight.rollback()
    retry = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
    assert (retry.status_code, retry.json()["status"]) == (201, "confirmed")
    assert "idempotent-replayed" not in retry.headers


async def test_a_duplicate_in_another_batch_is_told_to_wait_not_booked(client, db, b, is_postgres):
    """The duplicate's batch (another process's, say) holds both the key's advisory lock and the
    activity's row lock: the key is tried first, so this request is refused, not booked anew."""
    if not is_postgres:
        pytest.skip("on SQLite writers are serialised: the duplicate waits, then replays")
    import asyncio

    from sqlalchemy import text

    from api.services import idempotency

    a = await activity(client, b.staff, b.b, capacity=2)
    path = f"/api/v1/activities/{a['id']}/bookings"
    async with db.session() as other:
        await idempotency.begin(other, b.chen.user_id, "book-twice", idempotency.fingerprint("POST", path, b"{}"))
        await other.execute(text("SELECT id FROM activities WHERE id = :a FOR UPDATE"), {"a": a["id"]})
        pending = asyncio.create_task(book(client, b.chen, a["id"], [b.xiaoyu], **{"Idempotency-Key": "book-twice"}))
        await asyncio.sleep(0.3)
        assert not pending.done()  # waiting for the row lock
        await other.rollback()
    busy = await pending
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "idempotency_in_flight")
    assert (await detail(client, b.chen, a["id"]))["taken"] == 0


async def test_an_expired_booking_key_is_a_new_request(client, b):
    a = await activity(client, b.staff, b.b, capacity=2)
    key = {"Idempotency-Key": "book-old"}
    first = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
    assert first.status_code == 201
    clock.freeze(NOW + timedelta(hours=25))  # the key's answer was kept for 24 hours
    again = await book(client, b.chen, a["id"], [b.xiaoyu], **key)
    assert "idempotent-replayed" not in again.headers  # judged anew: 小雨 already holds a booking
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_booked")
    other = await book(client, b.chen, a["id"], [b.xiaoshu], **key)  # the old answer is gone with its key
    assert (other.status_code, other.json()["status"]) == (201, "confirmed")
    assert (await detail(client, b.chen, a["id"]))["taken"] == 2


# -- waitlist and cancellation -------------------------------------------------------------------


async def test_the_waitlist_is_promoted_in_order_passing_over_bookings_too_large(client, app, b):
    a = await activity(client, b.staff, b.b, capacity=4, max_seats_per_booking=3)
    families = [await b.household(n, r) for n, r in (("wu", "201"), ("xu", "202"), ("ma", "203"))]
    for person, home in families:  # two children each
        await add_child(client, person, home, f"{person.name}大", 2016)
        await add_child(client, person, home, f"{person.name}小", 2019)

    async def members(person: Person, n: int) -> list[int]:
        me = (await client.get("/api/v1/me", headers=person.headers)).json()["memberships"][0]
        home = (await client.get(f"/api/v1/households/{me['household_id']}", headers=person.headers)).json()
        return [m["id"] for m in home["members"]][:n]

    (wu, _), (xu, _), (ma, _) = families
    a_booking = (await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])).json()
    b_booking = (await book(client, b.zhou, a["id"], [await b.me(b.zhou), b.lele])).json()
    c = (await book(client, wu, a["id"], await members(wu, 3))).json()
    d = (await book(client, xu, a["id"], await members(xu, 1))).json()
    e = (await book(client, ma, a["id"], await members(ma, 2))).json()
    assert [x["status"] for x in (a_booking, b_booking)] == ["confirmed", "confirmed"]
    assert [(x["status"], x["waitlist_position"]) for x in (c, d, e)] == [
        ("waitlisted", 1), ("waitlisted", 2), ("waitlisted", 3)
    ]  # fmt: skip
    assert (await detail(client, b.chen, a["id"]))["waitlist"] == 3

    async def state(booking: dict[str, Any], who: Person) -> tuple[str, int | None]:
        seen = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=who.headers)).json()
        return seen["status"], seen["waitlist_position"]

    # A cancels: 2 free. C needs 3 and is passed over; D (1) goes in; E (2) no longer fits
    assert (await client.post(f"/api/v1/bookings/{a_booking['id']}/cancel", headers=b.chen.headers)).status_code == 200
    assert [await state(c, wu), await state(d, xu), await state(e, ma)] == [
        ("waitlisted", 1), ("confirmed", None), ("waitlisted", 2)
    ]  # fmt: skip
    assert "候补成功：周六亲子阅读会" in await inbox_kinds(client, xu)
    assert await inbox_kinds(client, wu) == []
    # capacity raised to 7: 4 free; C (3) goes in, E (2) does not fit the last seat
    raised = await client.patch(f"/api/v1/activities/{a['id']}", json={"capacity": 7}, headers=b.staff.headers)
    assert raised.status_code == 200 and raised.json()["taken"] == 6
    assert [await state(c, wu), await state(e, ma)] == [("confirmed", None), ("waitlisted", 1)]
    lower = await client.patch(f"/api/v1/activities/{a['id']}", json={"capacity": 5}, headers=b.staff.headers)
    assert (lower.status_code, lower.json()["error"]["code"]) == (409, "capacity_below_taken")
    # B cancels: 3 free, E goes in
    await client.post(f"/api/v1/bookings/{b_booking['id']}/cancel", headers=b.zhou.headers)
    assert await state(e, ma) == ("confirmed", None)
    final = await detail(client, b.staff, a["id"])
    assert (final["taken"], final["waitlist"]) == (6, 0)  # D 1 + C 3 + E 2


async def test_residents_cancel_before_the_deadline_and_staff_any_time(client, b):
    a = await activity(client, b.staff, b.b, start_at=at(1), end_at=at(1, 2), cancel_deadline=at(hours=12))
    mine = (await book(client, b.chen, a["id"])).json()
    theirs = (await book(client, b.zhou, a["id"])).json()
    assert mine["can_cancel"] is True
    other = await client.post(f"/api/v1/bookings/{mine['id']}/cancel", headers=b.zhou.headers)
    assert other.status_code == 404  # another household's booking does not exist for zhou
    clock.advance(timedelta(hours=12))
    late = await client.post(f"/api/v1/bookings/{mine['id']}/cancel", headers=b.chen.headers)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "cancel_deadline_passed")
    assert "12月1日 21:00" in late.json()["error"]["message"]  # community time
    by_staff = await client.post(f"/api/v1/bookings/{theirs['id']}/cancel", headers=b.staff.headers)
    assert by_staff.status_code == 200 and by_staff.json()["status"] == "cancelled"
    twice = await client.post(f"/api/v1/bookings/{theirs['id']}/cancel", headers=b.staff.headers)
    assert twice.status_code == 200 and twice.json()["status"] == "cancelled"
    assert (await detail(client, b.staff, a["id"]))["taken"] == 1


async def test_my_bookings_upcoming_and_past(client, b):
    soon = await activity(client, b.staff, b.b, title="明天", start_at=at(1), end_at=at(1, 1))
    later = await activity(client, b.staff, b.b, title="后天", start_at=at(2), end_at=at(2, 1))
    await book(client, b.chen, later["id"])
    await book(client, b.chen, soon["id"], [b.xiaoyu])
    await book(client, b.zhou, soon["id"])

    async def mine(when: str) -> list[tuple[str, list[str]]]:
        items = (await client.get(f"/api/v1/me/bookings?when={when}", headers=b.chen.headers)).json()["items"]
        return [(i["activity"]["title"], [a["name"] for a in i["attendees"]]) for i in items]

    assert await mine("upcoming") == [("明天", ["小雨"]), ("后天", ["chen"])]
    clock.advance(timedelta(days=1, hours=2))
    assert await mine("upcoming") == [("后天", ["chen"])]
    assert await mine("past") == [("明天", ["小雨"])]


# -- notifications -------------------------------------------------------------------------------


async def test_a_reminder_comes_a_day_before_unless_the_booking_is_cancelled(client, app, b):
    a = await activity(client, b.staff, b.b, start_at=at(3), end_at=at(3, 1))
    await book(client, b.chen, a["id"])
    cancelled = (await book(client, b.zhou, a["id"])).json()
    await client.post(f"/api/v1/bookings/{cancelled['id']}/cancel", headers=b.zhou.headers)
    clock.advance(timedelta(days=2) - timedelta(minutes=1))
    await worker(app).run_until_idle()
    assert await inbox_kinds(client, b.chen) == []
    clock.advance(timedelta(minutes=1))
    await worker(app).run_until_idle()
    assert await inbox_kinds(client, b.chen) == ["活动提醒：周六亲子阅读会"]
    assert await inbox_kinds(client, b.zhou) == []


async def test_moving_or_cancelling_an_activity_tells_everyone_booked(client, app, b):
    a = await activity(client, b.staff, b.b, capacity=1, start_at=at(3), end_at=at(3, 1))
    await book(client, b.chen, a["id"])
    waiting = (await book(client, b.zhou, a["id"])).json()
    assert waiting["status"] == "waitlisted"
    moved = await client.patch(
        f"/api/v1/activities/{a['id']}", json={"start_at": at(4), "location": "二楼活动室"}, headers=b.staff.headers
    )
    assert moved.status_code == 200
    body = moved.json()
    assert body["end_at"] == "2026-12-05T10:00:00+08:00" and body["checkin_opens_at"] == "2026-12-05T08:30:00+08:00"
    for person in (b.chen, b.zhou):
        assert await inbox_kinds(client, person) == ["活动有变：周六亲子阅读会"]
    (entry,) = (await client.get("/api/v1/me/inbox", headers=b.chen.headers)).json()["items"]
    assert "12-05 09:00" in entry["body"] and "二楼活动室" in entry["body"]
    # the reminder moved with it: nothing a day before the old time, one a day before the new
    clock.advance(timedelta(days=2))
    await worker(app).run_until_idle()
    assert len(await inbox_kinds(client, b.chen)) == 1
    clock.advance(timedelta(days=1))
    await worker(app).run_until_idle()
    assert (await inbox_kinds(client, b.chen))[0] == "活动提醒：周六亲子阅读会"

    cancelled = await client.post(
        f"/api/v1/activities/{a['id']}/cancel", json={"reason": "暴雨预警，改期另行通知。"}, headers=b.staff.headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (cancelled.json()["taken"], cancelled.json()["waitlist"]) == (0, 0)
    for person in (b.chen, b.zhou):
        assert (await inbox_kinds(client, person))[0] == "活动取消：周六亲子阅读会"
    refused = await book(client, b.chen, a["id"])
    assert refused.json()["error"]["code"] == "activity_cancelled"


async def test_followers_hear_of_each_new_session_of_a_series(client, b):
    series = await client.post(
        f"/api/v1/communities/{b.b}/series",
        json={"title": "周六读书会", "category": "children", "description": "每周六上午"},
        headers=b.staff.headers,
    )
    assert series.status_code == 201
    sid = series.json()["id"]
    assert (await client.post(f"/api/v1/series/{sid}/follow", headers=b.chen.headers)).json()["following"] is True
    session = await activity(client, b.staff, b.b, publish=False, title="第12期：小王子", series_id=sid)
    assert await inbox_kinds(client, b.chen) == []  # a draft tells nobody
    await client.post(f"/api/v1/activities/{session['id']}/publish", headers=b.staff.headers)
    assert await inbox_kinds(client, b.chen) == ["周六读书会：第12期：小王子"]
    assert await inbox_kinds(client, b.zhou) == []
    seen = (await client.get(f"/api/v1/series/{sid}", headers=b.zhou.headers)).json()
    assert (seen["following"], seen["followers"], [u["title"] for u in seen["upcoming"]]) == (
        False, 1, ["第12期：小王子"]
    )  # fmt: skip
    assert (await client.delete(f"/api/v1/series/{sid}/follow", headers=b.chen.headers)).status_code == 204
    other = await activity(client, b.staff, b.b, publish=False, title="第13期", series_id=sid)
    await client.post(f"/api/v1/activities/{other['id']}/publish", headers=b.staff.headers)
    assert len(await inbox_kinds(client, b.chen)) == 1


# -- check-in ------------------------------------------------------------------------------------


async def test_scanning_a_booking_code_checks_in_inside_the_window_only(client, b):
    a = await activity(client, b.staff, b.b, start_at=at(hours=2), end_at=at(hours=3))
    family = (await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])).json()
    code = (await client.get(f"/api/v1/bookings/{family['id']}/checkin-code", headers=b.chen.headers)).json()
    assert code["booking_id"] == family["id"]
    scan = f"/api/v1/activities/{a['id']}/checkins"

    early = await client.post(scan, json={"token": code["token"]}, headers=b.staff.headers)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "checkin_not_open")
    assert early.json()["error"]["message"] == "签到 12月1日 10:30 开始"
    assert early.json()["error"]["details"]["opens_at"] == a["checkin_opens_at"]
    clock.advance(timedelta(hours=1, minutes=30))  # 30 minutes before the start
    child_only = await client.post(
        scan, json={"token": code["token"], "attendee_ids": [b.xiaoyu]}, headers=b.staff.headers
    )
    assert child_only.status_code == 200
    (booking,) = child_only.json()["bookings"]
    in_ = {x["name"]: x["checked_in_at"] for x in booking["attendees"]}
    assert in_["小雨"] is not None and in_["chen"] is None
    first_time = in_["小雨"]
    clock.advance(timedelta(minutes=5))
    everyone = await client.post(scan, json={"token": code["token"]}, headers=b.staff.headers)
    in_ = {x["name"]: x["checked_in_at"] for x in everyone.json()["bookings"][0]["attendees"]}
    assert in_["小雨"] == first_time and in_["chen"] is not None  # scanning again changes nothing
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=b.staff.headers)).json()
    assert (roster["expected"], roster["checked_in"]) == (2, 2)

    forged = await client.post(scan, json={"token": f"{family['id']}.AAAAAAAAAAAAAAAA"}, headers=b.staff.headers)
    assert (forged.status_code, forged.json()["error"]["code"]) == (422, "checkin_code_invalid")
    for odd in ({"token": "1.é"}, {"token": code["token"], "booking_id": family["id"]}, {}):
        assert (await client.post(scan, json=odd, headers=b.staff.headers)).status_code == 422
    by_resident = await client.post(scan, json={"token": code["token"]}, headers=b.zhou.headers)
    assert by_resident.status_code == 403
    clock.advance(timedelta(hours=1))  # 30 minutes after the start has passed
    late = await client.post(scan, json={"token": code["token"]}, headers=b.staff.headers)
    assert late.json()["error"]["code"] == "checkin_closed"
    assert late.json()["error"]["message"] == "签到已于 12月1日 11:30 结束"


async def test_the_on_site_code_rotates_every_minute(client, b):
    a = await activity(client, b.staff, b.b, start_at=at(minutes=10), end_at=at(hours=1))
    await book(client, b.chen, a["id"], [await b.me(b.chen), b.xiaoyu])
    shown = (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=b.staff.headers)).json()
    assert len(shown["code"]) == 8 and shown["rotates_every_seconds"] == 60
    assert (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=b.chen.headers)).status_code == 403
    selfie = f"/api/v1/activities/{a['id']}/checkins/self"

    clock.advance(timedelta(seconds=75))  # the code changed; the one just scanned still counts
    fresh = await client.post(
        selfie, json={"code": shown["code"].lower(), "attendee_ids": [b.xiaoyu]}, headers=b.chen.headers
    )
    assert fresh.status_code == 200
    assert [x["name"] for x in fresh.json()["bookings"][0]["attendees"] if x["checked_in_at"]] == ["小雨"]
    clock.advance(timedelta(minutes=2))  # a photo of that code, sent home, is useless now
    stale = await client.post(selfie, json={"code": shown["code"]}, headers=b.chen.headers)
    assert (stale.status_code, stale.json()["error"]["code"]) == (422, "onsite_code_invalid")
    current = (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=b.staff.headers)).json()
    not_booked = await client.post(selfie, json={"code": current["code"]}, headers=b.zhou.headers)
    assert (not_booked.status_code, not_booked.json()["error"]["code"]) == (409, "not_booked")


async def test_walk_ins_take_free_seats_at_the_door(client, b):
    a = await activity(client, b.staff, b.b, capacity=3, start_at=at(minutes=10), end_at=at(hours=1))
    await book(client, b.chen, a["id"])
    walk = f"/api/v1/activities/{a['id']}/walkins"
    came = await client.post(walk, json={"member_ids": [b.lele], "guests": ["王奶奶"]}, headers=b.staff.headers)
    assert came.status_code == 201
    (walked_in,) = came.json()["bookings"]
    assert walked_in["source"] == "walkin" and came.json()["newly_checked_in"] == 2
    assert all(x["checked_in_at"] is not None for x in walked_in["attendees"])
    full = await client.post(walk, json={"guests": ["李爷爷"]}, headers=b.staff.headers)
    assert (full.status_code, full.json()["error"]["code"]) == (409, "activity_full")
    mixed = await client.post(walk, json={"member_ids": [b.lele, b.xiaoyu]}, headers=b.staff.headers)
    assert mixed.json()["error"]["code"] == "walkin_members_invalid"
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=b.staff.headers)).json()
    assert (roster["taken"], roster["expected"], roster["checked_in"]) == (3, 3, 2)
    walked = next(x for x in roster["bookings"] if x["source"] == "walkin")
    assert sorted(x["kind"] for x in walked["attendees"]) == ["child", "guest"]


# -- no-shows ------------------------------------------------------------------------------------


async def test_three_no_shows_block_booking_for_thirty_days_until_staff_lift_it(client, app, b):
    others = []
    for n in range(3):
        a = await activity(client, b.staff, b.b, title=f"第{n}次", start_at=at(n + 1), end_at=at(n + 1, 1))
        await book(client, b.chen, a["id"], [b.xiaoyu])
        others.append((a["id"], (await book(client, b.zhou, a["id"])).json()["id"]))
    came = await activity(client, b.staff, b.b, title="来了", start_at=at(1, 2), end_at=at(1, 3))
    booked = (await book(client, b.chen, came["id"], [b.xiaoyu])).json()
    token = (await client.get(f"/api/v1/bookings/{booked['id']}/checkin-code", headers=b.chen.headers)).json()["token"]
    for n, (activity_id, booking_id) in enumerate(others):  # zhou comes, ticked off the roster by staff
        clock.freeze(NOW + timedelta(days=n + 1))
        ticked = await client.post(
            f"/api/v1/activities/{activity_id}/checkins", json={"booking_id": booking_id}, headers=b.staff.headers
        )
        assert ticked.status_code == 200 and ticked.json()["bookings"][0]["attendees"][0]["checked_in_at"] is not None
    clock.freeze(NOW + timedelta(days=1, hours=2))
    await client.post(f"/api/v1/activities/{came['id']}/checkins", json={"token": token}, headers=b.staff.headers)

    clock.freeze(NOW + timedelta(days=1, hours=3))
    await worker(app).run_until_idle()  # the first no-show, and the one who came
    past = (await client.get("/api/v1/me/bookings?when=past", headers=b.chen.headers)).json()["items"]
    assert {i["activity"]["title"]: i["attendees"][0]["no_show"] for i in past} == {"第0次": True, "来了": False}
    clock.freeze(NOW + timedelta(days=2, hours=2))
    await worker(app).run_until_idle()
    assert (await client.get(f"/api/v1/communities/{b.b}/booking-blocks", headers=b.staff.headers)).json() == []
    next_one = await activity(client, b.staff, b.b, title="下周", start_at=at(10), end_at=at(10, 1))
    assert (await book(client, b.chen, next_one["id"], [b.xiaoyu])).status_code == 201  # two no-shows: fine

    clock.freeze(NOW + timedelta(days=3, hours=2))
    await worker(app).run_until_idle()  # the third
    other_week = await activity(client, b.staff, b.b, title="下下周", start_at=at(11), end_at=at(11, 1))
    refused = await book(client, b.chen, other_week["id"], [b.xiaoshu, b.xiaoyu])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "booking_blocked")
    assert refused.json()["error"]["details"]["member_id"] == b.xiaoyu
    assert "1月3日" in refused.json()["error"]["message"]  # 30 days on, community time
    assert (await book(client, b.chen, other_week["id"], [b.xiaoshu])).status_code == 201  # the others may
    assert "预约暂停至1月3日 11:00" in await inbox_kinds(client, b.chen)  # the guardian is told

    blocks = (await client.get(f"/api/v1/communities/{b.b}/booking-blocks", headers=b.staff.headers)).json()
    assert [(x["member_name"], x["no_shows"]) for x in blocks] == [("小雨", 3)]
    assert (await client.get(f"/api/v1/communities/{b.b}/booking-blocks", headers=b.chen.headers)).status_code == 403
    lifted = await client.post(f"/api/v1/booking-blocks/{blocks[0]['id']}/lift", headers=b.staff.headers)
    assert lifted.status_code == 200 and lifted.json()["active"] is False
    other = await activity(client, b.staff, b.b, title="再下周", start_at=at(12), end_at=at(12, 1))
    assert (await book(client, b.chen, other["id"], [b.xiaoyu])).status_code == 201


async def test_the_no_show_policy_is_the_communitys(client, app, b):
    path = f"/api/v1/communities/{b.b}/activity-policy"
    assert (await client.get(path, headers=b.chen.headers)).json() == {
        "no_show_limit": 3, "no_show_window_days": 90, "block_days": 30, "reminder_hours": 24
    }  # fmt: skip
    assert (await client.put(path, json={"no_show_limit": 1}, headers=b.chen.headers)).status_code == 403
    changed = await client.put(path, json={"no_show_limit": 1, "block_days": 7}, headers=b.staff.headers)
    assert changed.json()["no_show_limit"] == 1 and changed.json()["reminder_hours"] == 24
    a = await activity(client, b.staff, b.b, start_at=at(1), end_at=at(1, 1))
    await book(client, b.zhou, a["id"], [b.lele])
    came = (await book(client, b.chen, a["id"])).json()
    clock.advance(timedelta(days=1))
    await client.post(
        f"/api/v1/activities/{a['id']}/checkins", json={"booking_id": came["id"]}, headers=b.staff.headers
    )
    clock.advance(timedelta(days=1))
    await worker(app).run_until_idle()
    later = await activity(client, b.staff, b.b, start_at=at(5), end_at=at(5, 1))
    refused = await book(client, b.zhou, later["id"], [b.lele])
    assert refused.json()["error"]["code"] == "booking_blocked"
    assert refused.json()["error"]["details"]["until"] == "2026-12-10T09:00:00+08:00"


# -- who may do what -----------------------------------------------------------------------------


async def test_staff_only_endpoints_refuse_residents_and_other_communities_staff(client, b):
    a = await activity(client, b.staff, b.b, start_at=at(minutes=10), end_at=at(hours=1))
    booking = (await book(client, b.chen, a["id"])).json()
    c = (await community(client, b.root, "C社区"))["id"]
    outsider = await login(client, "c-staff")
    await grant(client, b.root, c, outsider, "staff")
    aid = a["id"]
    calls = [
        ("POST", f"/api/v1/communities/{b.b}/activities", {"title": "x", "category": "other", "location": "y",
                                                          "start_at": at(1), "end_at": at(1, 1), "capacity": 1}),
        ("PATCH", f"/api/v1/activities/{aid}", {"capacity": 40}),
        ("POST", f"/api/v1/activities/{aid}/cancel", {}),
        ("POST", f"/api/v1/activities/{aid}/checkins", {"token": "1.x"}),
        ("GET", f"/api/v1/activities/{aid}/onsite-code", None),
        ("POST", f"/api/v1/activities/{aid}/walkins", {"guests": ["x"]}),
        ("GET", f"/api/v1/activities/{aid}/attendance", None),
        ("POST", f"/api/v1/communities/{b.b}/series", {"title": "x"}),
        ("PUT", f"/api/v1/communities/{b.b}/activity-policy", {"block_days": 1}),
        ("GET", f"/api/v1/communities/{b.b}/booking-blocks", None),
    ]  # fmt: skip
    for person in (b.zhou, outsider):
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers=person.headers)
            assert response.status_code == 403, (person.name, method, path, response.text)
    # and what belongs to a household stays there
    for person in (b.zhou, outsider):
        for path in (f"/api/v1/bookings/{booking['id']}", f"/api/v1/bookings/{booking['id']}/checkin-code"):
            assert (await client.get(path, headers=person.headers)).status_code == 404
    # another community's staff look around as any visitor does (tests/test_activities_frontend.py)
    assert (await client.get(f"/api/v1/activities/{aid}", headers=outsider.headers)).json()["my_bookings"] == []


async def test_an_announcement_reaches_the_households_booked_for_an_activity(client, app, b):
    a = await activity(client, b.staff, b.b, capacity=1)
    await book(client, b.chen, a["id"], [b.xiaoyu])
    await book(client, b.zhou, a["id"])  # waitlisted: not an attendee
    notice = await client.post(
        f"/api/v1/communities/{b.b}/announcements",
        json={
            "title": "明天带上水杯",
            "body": "活动在户外。",
            "audience": {"kind": "activity", "activity_id": a["id"]},
        },
        headers=b.staff.headers,
    )
    assert notice.status_code == 201
    await worker(app).run_until_idle()
    assert await inbox_kinds(client, b.chen) == ["明天带上水杯"]
    assert await inbox_kinds(client, b.zhou) == []
    listed = (await client.get(f"/api/v1/communities/{b.b}/announcements", headers=b.zhou.headers)).json()
    assert listed["items"] == []


# -- edges found in review -------------------------------------------------------------------------


async def test_a_time_given_in_china_time_moves_the_reminder_and_cancelling_removes_it(client, app, b):
    a = await activity(client, b.staff, b.b, start_at=at(3), end_at=at(3, 1))
    booking = (await book(client, b.chen, a["id"])).json()
    moved = await client.patch(
        f"/api/v1/activities/{a['id']}", json={"start_at": "2026-12-05T10:00:00+08:00"}, headers=b.staff.headers
    )  # a phone in China sends local times
    assert moved.status_code == 200 and moved.json()["start_at"] == "2026-12-05T10:00:00+08:00"
    assert (await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=b.chen.headers)).status_code == 200
    clock.advance(timedelta(days=5))
    await worker(app).run_until_idle()
    assert "活动提醒：周六亲子阅读会" not in await inbox_kinds(client, b.chen)


async def test_late_check_in_inside_the_window_counts_even_after_a_short_activity_ends(client, app, b):
    a = await activity(client, b.staff, b.b, start_at=at(hours=1), end_at=at(hours=1, minutes=20))
    late, early = (await book(client, b.chen, a["id"])).json(), (await book(client, b.zhou, a["id"])).json()
    clock.advance(timedelta(hours=1))
    await client.post(
        f"/api/v1/activities/{a['id']}/checkins", json={"booking_id": early["id"]}, headers=b.staff.headers
    )
    clock.advance(timedelta(minutes=25))  # the activity ended 5 minutes ago; check-in is still open
    await worker(app).run_until_idle()
    ticked = await client.post(
        f"/api/v1/activities/{a['id']}/checkins", json={"booking_id": late["id"]}, headers=b.staff.headers
    )
    assert ticked.status_code == 200 and ticked.json()["newly_checked_in"] == 1
    clock.advance(timedelta(minutes=10))
    await worker(app).run_until_idle()
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=b.staff.headers)).json()
    assert (roster["checked_in"], roster["no_show"]) == (2, 0)


async def test_nobody_is_marked_absent_where_check_in_was_not_run(client, app, b):
    a = await activity(client, b.staff, b.b, start_at=at(1), end_at=at(1, 1))
    await book(client, b.chen, a["id"])
    clock.advance(timedelta(days=2))
    await worker(app).run_until_idle()
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=b.staff.headers)).json()
    assert (roster["expected"], roster["no_show"]) == (1, 0)


async def test_a_household_with_two_bookings_checks_in_both_at_the_door(client, b):
    a = await activity(client, b.staff, b.b, start_at=at(minutes=10), end_at=at(hours=1))
    await book(client, b.chen, a["id"])
    await book(client, b.chen, a["id"], [b.xiaoyu])
    code = (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=b.staff.headers)).json()["code"]
    selfie = f"/api/v1/activities/{a['id']}/checkins/self"
    only_child = await client.post(selfie, json={"code": code, "attendee_ids": [b.xiaoyu]}, headers=b.chen.headers)
    assert only_child.status_code == 200 and len(only_child.json()["bookings"]) == 1
    everyone = await client.post(selfie, json={"code": code}, headers=b.chen.headers)
    checked = [[x["checked_in_at"] is not None for x in bk["attendees"]] for bk in everyone.json()["bookings"]]
    assert checked == [[True], [True]]
    stranger = await client.post(selfie, json={"code": code, "attendee_ids": [b.lele]}, headers=b.chen.headers)
    assert stranger.json()["error"]["code"] == "attendee_not_in_booking"
    assert (await client.post(selfie, json={"code": "签到码四"}, headers=b.chen.headers)).status_code == 422


async def test_late_promotion_can_be_declined_and_never_happens_after_the_start(client, app, b):
    a = await activity(client, b.staff, b.b, capacity=1, start_at=at(1), end_at=at(1, 1), cancel_deadline=at(hours=12))
    first = (await book(client, b.chen, a["id"])).json()
    waiting = (await book(client, b.zhou, a["id"])).json()
    clock.advance(timedelta(hours=13))  # past the deadline: staff cancel chen's booking (ill)
    await client.post(f"/api/v1/bookings/{first['id']}/cancel", headers=b.staff.headers)
    promoted = (await client.get(f"/api/v1/bookings/{waiting['id']}", headers=b.zhou.headers)).json()
    assert promoted["status"] == "confirmed" and promoted["can_cancel"] is True
    declined = await client.post(f"/api/v1/bookings/{waiting['id']}/cancel", headers=b.zhou.headers)
    assert declined.status_code == 200  # it was never theirs to cancel in time

    third = await b.resident("wu", "201")
    fourth = await b.resident("xu", "202")
    again = (await book(client, third, a["id"])).json()
    assert again["status"] == "confirmed"
    queued = (await book(client, fourth, a["id"])).json()
    assert queued["status"] == "waitlisted"
    left = await client.post(f"/api/v1/bookings/{queued['id']}/cancel", headers=fourth.headers)
    assert left.status_code == 200  # leaving the waitlist is always allowed
    queued = (await book(client, fourth, a["id"])).json()
    clock.advance(timedelta(hours=11, minutes=5))  # the activity has started
    await client.post(f"/api/v1/bookings/{again['id']}/cancel", headers=b.staff.headers)
    still = (await client.get(f"/api/v1/bookings/{queued['id']}", headers=fourth.headers)).json()
    assert still["status"] == "waitlisted"  # nobody at home is pulled in once it has begun


async def test_odd_patches_and_dates_are_clean_errors(client, b):
    a = await activity(client, b.staff, b.b, child_min_age=6, child_max_age=10)
    path = f"/api/v1/activities/{a['id']}"
    kept = await client.patch(path, json={"start_at": None, "title": None, "location": None}, headers=b.staff.headers)
    assert kept.status_code == 200 and kept.json()["title"] == "周六亲子阅读会"
    ages = await client.patch(path, json={"child_min_age": 12}, headers=b.staff.headers)
    assert (ages.status_code, ages.json()["error"]["code"]) == (422, "activity_ages_invalid")
    for query in ("date_to=9999-12-31", "date_from=0001-01-01"):
        response = await client.get(f"/api/v1/communities/{b.b}/activities?{query}", headers=b.chen.headers)
        assert response.status_code == 422
