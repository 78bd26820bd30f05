"""The burst at city scale: a thousand households book one activity in the same seconds through
three server processes, one to three seats each, while households that booked the evening before
cancel and some of the rush cancel as soon as they are answered, and some weak-network phones
send their request twice. Afterwards the activity's books balance exactly.

On PostgreSQL the rush goes to three real `linli serve` processes (tests.live_servers), requests
dealt out in turn. On SQLite it goes to the app in-process with 300 bookings: SQLite is served by
one process (one writer), so several processes on one file would test SQLite's file locking, not
the service, and its writes queue one at a time whatever the number of requests.

The households are written straight into the database (a thousand through the API would take
minutes); everything the rush does, and what the households and staff see afterwards, goes
through HTTP."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import insert, select

from api import clock
from api.config import Settings
from api.db.models import Activity, Booking, BookingAttendee, CommunityMembership, Household, Member, User
from api.db.session import Database
from api.security import issue_access_token
from tests.factories import Person, activity, book, community, grant, login, platform_admin
from tests.live_servers import live_servers, served, until_ready

CAPACITY = 120
PROCESSES = 3
# per engine: households in the rush, households that booked before it and how many of them
# cancel during it, rush households that cancel once answered, rush households that send twice
SCALE = {
    "postgresql": {"rush": 1000, "early": 60, "early_cancel": 50, "cancel_at_once": 100, "twice": 20},
    "sqlite": {"rush": 300, "early": 30, "early_cancel": 15, "cancel_at_once": 30, "twice": 10},
}


async def households(
    db: Database, settings: Settings, community_id: int, count: int, rng: random.Random
) -> list[tuple[Person, list[int]]]:
    """`count` approved households of the community, each an adult with a WeChat account and zero
    to two children: (the adult, signed in; the member ids, the adult's first)."""
    now = clock.now()
    stamp = {"created_at": now, "updated_at": now}
    async with db.session() as session:
        user_ids = list(
            (
                await session.execute(
                    insert(User).returning(User.id, sort_by_parameter_order=True),
                    [
                        {"openid": f"dev:burst{i}", "display_name": f"家长{i}", "is_platform_admin": False, **stamp}
                        for i in range(count)
                    ],
                )
            ).scalars()
        )
        homes = list(
            (
                await session.execute(
                    insert(Household).returning(Household.id, sort_by_parameter_order=True),
                    [
                        {
                            "community_id": community_id,
                            "building": f"{i % 40 + 1}栋",
                            "unit": "1单元",
                            "room": str(1000 + i),
                            "address_key": f"{i % 40 + 1}栋|1单元|{1000 + i}",
                            **stamp,
                        }
                        for i in range(count)
                    ],
                )
            ).scalars()
        )
        adults = list(
            (
                await session.execute(
                    insert(Member).returning(Member.id, sort_by_parameter_order=True),
                    [
                        {
                            "community_id": community_id,
                            "household_id": home,
                            "user_id": user,
                            "display_name": f"家长{i}",
                            "kind": "adult",
                            "status": "active",
                            "is_head": True,
                            **stamp,
                        }
                        for i, (user, home) in enumerate(zip(user_ids, homes, strict=True))
                    ],
                )
            ).scalars()
        )
        kids = [(i, k) for i in range(count) for k in range(rng.randrange(3))]
        children = list(
            (
                await session.execute(
                    insert(Member).returning(Member.id, sort_by_parameter_order=True),
                    [
                        {
                            "community_id": community_id,
                            "household_id": homes[i],
                            "user_id": None,
                            "display_name": f"孩子{i}-{k}",
                            "kind": "child",
                            "birth_year": 2016 + k,
                            "status": "active",
                            "is_head": False,
                            "consent_by_user_id": user_ids[i],
                            "consent_at": now,
                            "added_by_user_id": user_ids[i],
                            **stamp,
                        }
                        for i, k in kids
                    ],
                )
            ).scalars()
            if kids
            else []
        )
        await session.execute(
            insert(CommunityMembership),
            [{"community_id": community_id, "user_id": u, "role": "resident", **stamp} for u in user_ids],
        )
        await session.commit()
    family: list[list[int]] = [[adult] for adult in adults]
    for (i, _), child in zip(kids, children, strict=True):
        family[i].append(child)
    return [
        (Person(name=f"burst{i}", user_id=u, token=issue_access_token(settings, u).token), family[i])
        for i, u in enumerate(user_ids)
    ]


@pytest.fixture
async def crowd(client, database_url, is_postgres) -> AsyncIterator[httpx.AsyncClient]:
    """Three server processes on PostgreSQL (booting while the test sets up), the app in-process
    on SQLite."""
    if not is_postgres:
        yield client
        return
    async with live_servers(database_url, PROCESSES, connections=34) as http:  # ~100 connections in all
        yield http


async def test_a_thousand_households_book_through_three_processes_and_the_books_balance(
    client, crowd, db, settings, is_postgres
):
    scale = SCALE["postgresql" if is_postgres else "sqlite"]
    rng = random.Random(20270115)
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    a = await activity(client, staff, b, title="暑期游泳课", capacity=CAPACITY, max_seats_per_booking=3)
    everyone = await households(db, settings, b, scale["early"] + scale["rush"], rng)
    # each household books one to three of its people, not always the adult
    parties = [(person, rng.sample(members, rng.randint(1, len(members)))) for person, members in everyone]
    early, rush = parties[: scale["early"]], parties[scale["early"] :]

    # yesterday evening
    early_bookings = []
    for person, members in early:
        response = await book(client, person, a["id"], members)
        assert response.status_code == 201, response.text
        early_bookings.append((person, response.json()))
    cancelling = [(p, bk) for p, bk in early_bookings if bk["status"] == "confirmed"][: scale["early_cancel"]]
    assert len(cancelling) == scale["early_cancel"]

    picks = rng.sample(range(len(rush)), scale["cancel_at_once"] + scale["twice"])
    cancel_at_once = set(picks[: scale["cancel_at_once"]])
    twice = set(picks[scale["cancel_at_once"] :])
    calls: list[tuple[str, int]] = [("book", n) for n in range(len(rush))]
    calls += [("book", n) for n in twice]  # the same request again, same key, while the first may be in flight
    calls += [("cancel", n) for n in range(len(cancelling))]
    rng.shuffle(calls)

    await until_ready(crowd)  # the processes booted while the households were set up
    booked: dict[int, list[httpx.Response]] = {n: [] for n in range(len(rush))}
    cancelled_at_once: dict[int, httpx.Response] = {}
    early_cancelled: list[httpx.Response] = []

    async def fire(action: str, n: int) -> None:
        if action == "cancel":
            person, bk = cancelling[n]
            early_cancelled.append(await crowd.post(f"/api/v1/bookings/{bk['id']}/cancel", headers=person.headers))
            return
        person, members = rush[n]
        answer = await book(crowd, person, a["id"], members, **{"Idempotency-Key": f"burst-{n}"})
        booked[n].append(answer)
        if n in cancel_at_once and answer.status_code == 201:
            cancelled_at_once[n] = await crowd.post(
                f"/api/v1/bookings/{answer.json()['id']}/cancel", headers=person.headers
            )

    await asyncio.gather(*(fire(action, n) for action, n in calls))

    # every answer: no 5xx; every household booked (201), once
    answers = [r for rs in booked.values() for r in rs] + early_cancelled + list(cancelled_at_once.values())
    assert all(r.status_code < 500 for r in answers), Counter(r.status_code for r in answers)
    assert len(early_cancelled) == len(cancelling)
    assert all(r.status_code == 200 and r.json()["status"] == "cancelled" for r in early_cancelled)
    assert len(cancelled_at_once) == len(cancel_at_once)
    assert all(r.status_code == 200 and r.json()["status"] == "cancelled" for r in cancelled_at_once.values())
    booking_of: dict[int, int] = {}  # rush household → its booking
    for n, responses in booked.items():
        made = [r for r in responses if r.status_code == 201 and r.headers.get("idempotent-replayed") != "true"]
        assert len(made) == 1, [(r.status_code, r.text) for r in responses]
        assert made[0].json()["status"] in ("confirmed", "waitlisted")
        assert made[0].json()["seats"] == len(rush[n][1])
        booking_of[n] = made[0].json()["id"]
        for again in responses:  # the retry replays the first answer, or is told it is still running
            if again is not made[0]:
                assert (again.status_code == 201 and again.json()["id"] == booking_of[n]) or (
                    again.status_code == 409 and again.json()["error"]["code"] == "idempotency_in_flight"
                ), again.text
    if is_postgres:  # every process took its share
        shares = served(crowd)
        assert len(shares) == PROCESSES and min(shares.values()) >= len(calls) // PROCESSES - 1, shares

    # the database agrees with itself
    async with db.session(write=False) as session:
        taken = (await session.execute(select(Activity.taken).where(Activity.id == a["id"]))).scalar_one()
        bookings = {
            row.id: row
            for row in (
                await session.execute(
                    select(Booking.id, Booking.household_id, Booking.seats, Booking.status).where(
                        Booking.activity_id == a["id"]
                    )
                )
            ).all()
        }
        attendees = (
            await session.execute(
                select(BookingAttendee.booking_id, BookingAttendee.member_id, BookingAttendee.active).where(
                    BookingAttendee.activity_id == a["id"]
                )
            )
        ).all()
    # one booking per household, nothing booked twice by a retry
    assert len(bookings) == len(parties)
    assert len({row.household_id for row in bookings.values()}) == len(parties)
    # taken is the confirmed seats, never above capacity
    confirmed = [row for row in bookings.values() if row.status == "confirmed"]
    assert taken == sum(row.seats for row in confirmed) <= CAPACITY
    # exactly the cancellations asked for are cancelled
    gone = {bk["id"] for _, bk in cancelling} | {booking_of[n] for n in cancel_at_once}
    assert {i for i, row in bookings.items() if row.status == "cancelled"} == gone
    # every active booking holds exactly the people it named, and nobody is in two
    wanted = {bk["id"]: members for (_, members), (_, bk) in zip(early, early_bookings, strict=True)}
    wanted |= {booking_of[n]: members for n, (_, members) in enumerate(rush)}
    holding: dict[int, set[int]] = {}
    for attendee in attendees:
        if attendee.active:
            holding.setdefault(attendee.booking_id, set()).add(attendee.member_id)
    active = {i for i, row in bookings.items() if row.status != "cancelled"}
    assert set(holding) == active
    assert all(holding[i] == set(wanted[i]) and bookings[i].seats == len(wanted[i]) for i in active)
    held = Counter(row.member_id for row in attendees if row.active)
    assert all(count == 1 for count in held.values())
    # full, but for waitlisted bookings too large for the seats left (passed over, keeping their place)
    waiting = sorted(i for i in active if bookings[i].status == "waitlisted")
    assert all(bookings[i].seats > CAPACITY - taken for i in waiting)
    # the burst was a burst: seats of every size seated, a queue left, and seats freed during
    # the rush went to households that had been told to wait
    assert {row.seats for row in confirmed} == {1, 2, 3} and waiting
    told_to_wait = {booking_of[n] for n, rs in booked.items() if rs[0].json().get("status") == "waitlisted"}
    assert any(bookings[i].status == "confirmed" for i in told_to_wait)
    # a seat once given is kept until its household gives it back
    seated = {booking_of[n] for n, rs in booked.items() if rs[0].json().get("status") == "confirmed"}
    assert all(bookings[i].status == "confirmed" or i in gone for i in seated)

    # staff see the waitlist in arrival order, each household its gap-free place in it
    roster = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=staff.headers)).json()
    assert roster["taken"] == taken
    assert [entry["booking_id"] for entry in roster["waitlist"]] == waiting
    owner = {booking_of[n]: person for n, (person, _) in enumerate(rush)}
    owner |= {bk["id"]: person for person, bk in early_bookings}
    seen = await asyncio.gather(*(crowd.get(f"/api/v1/bookings/{i}", headers=owner[i].headers) for i in waiting))
    assert all(r.status_code == 200 and r.json()["status"] == "waitlisted" for r in seen)
    assert [r.json()["waitlist_position"] for r in seen] == list(range(1, len(waiting) + 1))
