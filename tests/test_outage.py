"""The database drops its connections while a popular activity opens: PostgreSQL restarts, fails
over, or an operator kills the backends. Residents keep pressing "book", each request on its own
pooled connection as through the real server, and every answer must be one a phone can act on —
201, a refusal (409/422), or 503 with Retry-After — never a 500. Retrying each 503 with its
Idempotency-Key settles it exactly once, whether or not the first attempt was committed; the seats,
bookings and waitlist agree with one another afterwards; the app recovers by itself."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.db.models import Activity, Booking, BookingAttendee
from api.db.session import Database
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin

RESIDENTS = 60
CAPACITY = 12
ARRIVALS_SECONDS = 5.0  # the taps come over a few seconds, as after a notice: some land between kills
KILL_EVERY_SECONDS = (0.2, 0.8)
RETRIES = 30


class Killer:
    """A connection of its own that terminates every other backend of the test database (the app's
    pool) again and again until told to stop."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.stop = asyncio.Event()
        self.rounds = 0
        self.terminated = 0

    async def run(self) -> None:
        rng = random.Random(20261130)
        conn = await asyncpg.connect(
            host=self.url.host,
            port=self.url.port or 5432,
            user=self.url.username,
            password=self.url.password,
            database=self.url.database,
        )
        try:
            while not self.stop.is_set() and self.rounds < 1000:  # bounded, whatever the bookings do
                self.terminated += await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                )
                self.rounds += 1
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), rng.uniform(*KILL_EVERY_SECONDS))
        finally:
            await conn.close()


def _polite(response: httpx.Response, who: str) -> None:
    assert response.status_code in (201, 409, 422, 503), f"{who}: {response.status_code} {response.text}"
    if response.status_code == 503:
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"]["code"] == "service_unavailable"


async def _settle(client: httpx.AsyncClient, person: Person, activity_id: int, members: list[int]) -> httpx.Response:
    """What the phone does after a 503 or a refusal in the rush: the same request with the same key,
    until it is answered (a 409 idempotency_in_flight while the first attempt's backend dies)."""
    for _ in range(RETRIES):
        retry = await book(client, person, activity_id, members, **{"Idempotency-Key": f"outage-{person.name}"})
        _polite(retry, person.name)
        if retry.status_code == 201:
            return retry
        await asyncio.sleep(0.1)
    raise AssertionError(f"{person.name}: still {retry.status_code} {retry.text}")


@pytest.mark.postgres
async def test_bookings_through_dropped_connections_answer_politely_and_settle_on_retry(
    client, db, database_url, is_postgres, caplog
):
    if not is_postgres:
        pytest.skip("SQLite has no connections to drop")
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    a = await activity(client, staff, b, title="元旦亲子剪纸", capacity=CAPACITY, max_seats_per_booking=2)
    parties: list[tuple[Person, list[int]]] = []
    for n in range(RESIDENTS):
        person = await login(client, f"o{n}")
        joined = await join(client, person, b, f"{n % 6 + 1}栋", "1单元", str(200 + n))
        members = [joined["member"]["id"]]
        if n % 3 == 0:  # a parent with a child: two seats
            members.append((await add_child(client, person, joined["household"]["id"], f"孩子{n}", 2017))["id"])
        parties.append((person, members))

    async def tap(n: int, person: Person, members: list[int]) -> httpx.Response:
        await asyncio.sleep(ARRIVALS_SECONDS * n / RESIDENTS)
        return await book(client, person, a["id"], members, **{"Idempotency-Key": f"outage-{person.name}"})

    killer = Killer(database_url)
    killing = asyncio.create_task(killer.run())
    with caplog.at_level(logging.WARNING, logger="linli.api"):
        try:
            first = await asyncio.gather(*(tap(n, p, m) for n, (p, m) in enumerate(parties)))
        finally:
            killer.stop.set()
            await killing
    # a 500 would have logged its exception: show it rather than just its status
    crashes = [f"{r.getMessage()}\n{r.exc_text}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes[0]
    for (person, _), response in zip(parties, first, strict=True):
        _polite(response, person.name)
    assert killer.terminated > 0  # the outage did happen while they booked

    # every 201 is a booking that was committed
    answered: dict[str, dict[str, Any]] = {}
    for (person, _), response in zip(parties, first, strict=True):
        if response.status_code == 201:
            answered[person.name] = response.json()
            seen = await client.get(f"/api/v1/bookings/{response.json()['id']}", headers=person.headers)
            assert seen.status_code == 200 and seen.json()["status"] == response.json()["status"]

    # the phones retry whatever was not booked, with the same key: it lands once, however it went
    replayed = 0
    for (person, members), response in zip(parties, first, strict=True):
        if response.status_code != 201:
            settled = await _settle(client, person, a["id"], members)
            replayed += settled.headers.get("idempotent-replayed") == "true"
            answered[person.name] = settled.json()
    person, members = parties[-1]
    again = await book(client, person, a["id"], members, **{"Idempotency-Key": f"outage-{person.name}"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == answered[person.name]["id"]

    # the app answers normally again by itself
    assert (await client.get("/api/v1/me", headers=staff.headers)).status_code == 200
    assert (await client.get("/readyz")).status_code == 200

    taken, confirmed, bookers, attendees, waiting = await _ledger(db, a["id"])
    assert taken == confirmed <= CAPACITY
    assert sorted(Counter(bookers.values()).values()) == [1] * RESIDENTS  # one booking each, never two
    assert set(Counter(attendees).values()) == {1}
    assert {booking["id"] for booking in answered.values()} == set(bookers)  # what they were told is what is kept
    owner = {booking["id"]: name for name, booking in answered.items()}
    by_name = {p.name: p for p, _ in parties}
    positions = []
    for booking_id in waiting:
        seen = await client.get(f"/api/v1/bookings/{booking_id}", headers=by_name[owner[booking_id]].headers)
        positions.append(seen.json()["waitlist_position"])
    assert positions == list(range(1, len(waiting) + 1))
    print(
        f"\nfirst answers {dict(Counter(r.status_code for r in first))}; {killer.terminated} backends terminated "
        f"in {killer.rounds} rounds; {replayed} retries replayed a booking committed before its 503"
    )


async def _ledger(db: Database, activity_id: int) -> tuple[int, int, dict[int, int | None], list[int], list[int]]:
    """taken, the seats of confirmed bookings, the live bookings' bookers, the active attendees,
    the waitlist in arrival order."""
    async with db.session(write=False) as session:
        taken = (await session.execute(select(Activity.taken).where(Activity.id == activity_id))).scalar_one()
        confirmed = (
            await session.execute(
                select(func.coalesce(func.sum(Booking.seats), 0)).where(
                    Booking.activity_id == activity_id, Booking.status == "confirmed"
                )
            )
        ).scalar_one()
        live = (
            await session.execute(
                select(Booking.id, Booking.booked_by).where(
                    Booking.activity_id == activity_id, Booking.status != "cancelled"
                )
            )
        ).all()
        attendees = (
            await session.execute(
                select(BookingAttendee.member_id).where(
                    BookingAttendee.activity_id == activity_id, BookingAttendee.active
                )
            )
        ).scalars()
        waiting = (
            await session.execute(
                select(Booking.id)
                .where(Booking.activity_id == activity_id, Booking.status == "waitlisted")
                .order_by(Booking.id)
            )
        ).scalars()
        return taken, confirmed, {row.id: row.booked_by for row in live}, list(attendees), list(waiting)


@contextmanager
def _commit_reply_lost(times: int = 1) -> Iterator[None]:
    """The next `times` commits succeed in the database, but the connection drops before the answer
    reaches the app (what a kill between COMMIT and its reply does)."""
    left = [times]

    def lost(_session: Session) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise ConnectionResetError("connection lost after COMMIT")

    event.listen(Session, "after_commit", lost)
    try:
        yield
    finally:
        event.remove(Session, "after_commit", lost)


async def test_a_503_after_the_commit_is_settled_by_the_retry_without_a_second_booking(client, db):
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    a = await activity(client, staff, b, capacity=1)
    first, second = await login(client, "first"), await login(client, "second")
    await join(client, first, b, room="101")
    await join(client, second, b, room="102")
    key = {"Idempotency-Key": "tap-1"}

    with _commit_reply_lost():
        lost = await book(client, first, a["id"], **key)
    assert lost.status_code == 503 and lost.headers["retry-after"] == "5"
    assert lost.json()["error"]["code"] == "service_unavailable"
    retry = await book(client, first, a["id"], **key)
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["status"] == "confirmed"
    # the seat was taken once: the next household waits
    assert (await book(client, second, a["id"])).json()["status"] == "waitlisted"
    taken, confirmed, bookers, _, waiting = await _ledger(db, a["id"])
    assert (taken, confirmed, len(bookers), len(waiting)) == (1, 1, 2, 1)
    assert retry.json()["id"] in bookers
