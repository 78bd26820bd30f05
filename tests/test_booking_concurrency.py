"""The morning a popular activity opens: hundreds of households press "book" at once while some
cancel. On PostgreSQL the requests run on real parallel connections; on SQLite they queue for
the single writer, and the same invariants must hold."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from sqlalchemy import func, select

from api.db.models import Activity, Booking, BookingAttendee
from tests.factories import activity, add_child, book, community, grant, join, login, platform_admin

RESIDENTS = 220
CAPACITY = 30


# the rush itself goes through `crowd`: the app in-process, or two real server processes
# (PostgreSQL); set-up and checks go through the in-process client, on the same database
BOTH = pytest.mark.parametrize("crowd", ["in-process", "two processes"], indirect=True)


@BOTH
async def test_a_rush_of_bookings_and_cancellations_never_overbooks(client, crowd, db):
    rng = random.Random(20261123)
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    a = await activity(client, staff, b, title="寒假亲子手工课", capacity=CAPACITY, max_seats_per_booking=3)

    # households of one to three people: the booker and up to two children
    parties = []
    for n in range(RESIDENTS):
        person = await login(client, f"r{n}")
        joined = await join(client, person, b, f"{n % 12 + 1}栋", "1单元", str(100 + n))
        me = joined["member"]["id"]
        children = [
            (await add_child(client, person, joined["household"]["id"], f"孩子{n}-{k}", 2016 + k))["id"]
            for k in range(rng.randrange(3))
        ]
        parties.append((person, [me, *children]))

    # twenty households booked yesterday evening; ten of them will cancel during the rush
    early, rush = parties[:20], parties[20:]
    early_bookings = []
    for person, members in early:
        response = await book(client, person, a["id"], members)
        assert response.status_code == 201
        early_bookings.append((person, response.json()))
    cancelling = [(p, bk) for p, bk in early_bookings if bk["status"] == "confirmed"][:10]
    assert len(cancelling) == 10

    calls = [("book", person, members) for person, members in rush]
    calls += [("cancel", person, booking) for person, booking in cancelling]
    rng.shuffle(calls)

    async def fire(call):
        action, person, what = call
        if action == "book":
            return action, await book(crowd, person, a["id"], what, **{"Idempotency-Key": f"rush-{person.name}"})
        return action, await crowd.post(f"/api/v1/bookings/{what['id']}/cancel", headers=person.headers)

    results = await asyncio.gather(*(fire(call) for call in calls))

    statuses = Counter((action, response.status_code) for action, response in results)
    assert all(code < 500 for _, code in statuses), statuses
    assert statuses[("cancel", 200)] == 10
    assert statuses[("book", 201)] == len(rush)  # distinct households: everyone gets a seat or a place in line

    # the database agrees with itself: taken is the sum of confirmed seats, never above capacity
    async with db.session(write=False) as session:
        taken = (await session.execute(select(Activity.taken).where(Activity.id == a["id"]))).scalar_one()
        confirmed = (
            await session.execute(
                select(func.coalesce(func.sum(Booking.seats), 0)).where(
                    Booking.activity_id == a["id"], Booking.status == "confirmed"
                )
            )
        ).scalar_one()
        held = (
            await session.execute(
                select(BookingAttendee.member_id, func.count())
                .where(BookingAttendee.activity_id == a["id"], BookingAttendee.active)
                .group_by(BookingAttendee.member_id)
            )
        ).all()
        waiting = list(
            (
                await session.execute(
                    select(Booking.id, Booking.seats)
                    .where(Booking.activity_id == a["id"], Booking.status == "waitlisted")
                    .order_by(Booking.id)
                )
            ).all()
        )
    assert taken == confirmed <= CAPACITY
    assert all(count == 1 for _, count in held)  # nobody holds two seats
    # full, but for waitlisted bookings too large for the seats left (passed over, keeping their place)
    assert all(seats > CAPACITY - taken for _, seats in waiting)

    # every waitlisted household sees a gap-free position in arrival order
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=staff.headers)).json()
    assert roster["taken"] == taken
    assert [entry["booking_id"] for entry in roster["waitlist"]] == [booking_id for booking_id, _ in waiting]
    by_booking = {
        response.json()["id"]: person for (action, response), (_, person, _) in zip(results, calls) if action == "book"
    }
    positions = []
    for booking_id, _ in waiting:
        seen = await client.get(f"/api/v1/bookings/{booking_id}", headers=by_booking[booking_id].headers)
        positions.append(seen.json()["waitlist_position"])
    assert positions == list(range(1, len(waiting) + 1))

    # a retried request from the rush replays its answer and takes nothing more
    person, members = rush[0]
    retry = await book(client, person, a["id"], members, **{"Idempotency-Key": f"rush-{person.name}"})
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert (await client.get(f"/api/v1/activities/{a['id']}", headers=staff.headers)).json()["taken"] == taken


@BOTH
async def test_waitlist_positions_answered_in_a_rush_are_the_arrival_order(client, crowd, db):
    """No cancellations: the position each waitlisted household is told at once is exactly its
    place by arrival (booking id), 1, 2, 3… with no gap and no repeat."""
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    a = await activity(client, staff, b, title="元宵灯笼", capacity=10)
    people = []
    for n in range(120):
        person = await login(client, f"q{n}")
        await join(client, person, b, "2栋", "1单元", str(300 + n))
        people.append(person)
    answers = await asyncio.gather(*(book(crowd, person, a["id"]) for person in people))
    assert {r.status_code for r in answers} == {201}
    waitlisted = sorted((r.json() for r in answers if r.json()["status"] == "waitlisted"), key=lambda x: x["id"])
    assert len(waitlisted) == 110
    assert [x["waitlist_position"] for x in waitlisted] == list(range(1, 111))
