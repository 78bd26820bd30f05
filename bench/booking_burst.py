"""Booking burst: the morning a popular activity opens. N distinct residents book one seat each at
a 30-seat activity, C at a time, against the real server (uvicorn, one process) on PostgreSQL.

Reports throughput, latency percentiles and status counts; checks correctness (exactly 30 seats
taken, nobody twice, the waitlist gap-free in arrival order) and fairness (how many of the first
30 requests sent got a seat). For scale it also measures two ceilings at the same concurrency:
the database alone running the booking transaction (pgbench), and the same server answering a
trivial endpoint (/healthz).

    .venv/bin/python bench/booking_burst.py --residents 1000 --concurrency 100

A fresh database is made on LINLI_BENCH_DATABASE_URL's server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Activity,
    Booking,
    BookingAttendee,
    Community,
    CommunityMembership,
    Household,
    Member,
    User,
)
from api.db.session import Database  # noqa: E402
from api.security import issue_access_token  # noqa: E402
from bench.loadgen import (  # noqa: E402
    SECRET,
    burst,
    free_port,
    fresh_database,
    percentiles,
    start_server,
    wait_ready,
)

CAPACITY = 30


async def seed(db: Database, residents: int) -> tuple[int, int, list[int]]:
    """A community, an open 30-seat activity, and `residents` households of one adult each."""
    now = clock.now()
    stamp = {"created_at": now, "updated_at": now}
    async with db.session() as session:
        community = Community(name="压测社区", city="", district="", address="", timezone="Asia/Shanghai")
        session.add(community)
        await session.flush()
        start = now + timedelta(days=2)
        activity = Activity(
            community_id=community.id,
            title="寒假亲子手工课",
            category="parent_child",
            location="活动室",
            status="published",
            start_at=start,
            end_at=start + timedelta(hours=2),
            capacity=CAPACITY,
            taken=0,
            registration_closes_at=start,
            cancel_deadline=start,
            checkin_opens_at=start - timedelta(minutes=30),
            checkin_closes_at=start + timedelta(minutes=30),
            published_at=now,
        )
        session.add(activity)
        user_ids = list(
            (
                await session.execute(
                    insert(User).returning(User.id),
                    [
                        {"openid": f"dev-r{i}", "display_name": f"居民{i}", "is_platform_admin": False, **stamp}
                        for i in range(residents)
                    ],
                )
            ).scalars()
        )
        homes = list(
            (
                await session.execute(
                    insert(Household).returning(Household.id),
                    [
                        {
                            "community_id": community.id,
                            "building": f"{i % 30 + 1}栋",
                            "unit": "1单元",
                            "room": str(i),
                            "address_key": f"{i % 30 + 1}|1|{i}",
                            **stamp,
                        }
                        for i in range(residents)
                    ],
                )
            ).scalars()
        )
        await session.execute(
            insert(Member),
            [
                {
                    "community_id": community.id,
                    "household_id": h,
                    "user_id": u,
                    "display_name": f"居民{u}",
                    "kind": "adult",
                    "status": "active",
                    "is_head": True,
                    **stamp,
                }
                for u, h in zip(user_ids, homes, strict=True)
            ],
        )
        await session.execute(
            insert(CommunityMembership),
            [{"community_id": community.id, "user_id": u, "role": "resident", **stamp} for u in user_ids],
        )
        await session.commit()
        return community.id, activity.id, user_ids


PGBENCH_SCRIPT = """\\set guest random(1, 1000000000)
BEGIN;
SELECT id, taken, capacity FROM activities WHERE id = :activity FOR UPDATE;
UPDATE activities SET taken = taken + 1 WHERE id = :activity AND taken + 1 <= capacity RETURNING taken;
INSERT INTO bookings (activity_id, community_id, household_id, booked_by, seats, status, source, created_at, updated_at)
  VALUES (:activity, :community, NULL, NULL, 1, 'waitlisted', 'app', now(), now()) RETURNING id \\gset
INSERT INTO booking_attendees (booking_id, activity_id, guest_name, active, no_show)
  VALUES (:id, :activity, 'g' || :guest, true, false);
COMMIT;
"""


async def pgbench(url: str, community_id: int, clients: int, seconds: int) -> float:
    """The booking transaction (lock the activity, try the seat, insert the booking and its
    attendee) run by pgbench on a second activity: the database's own ceiling."""
    db = Database(url)
    now = clock.now()
    async with db.session() as session:
        other = Activity(
            community_id=community_id,
            title="pgbench",
            category="other",
            location="-",
            status="published",
            start_at=now + timedelta(days=2),
            end_at=now + timedelta(days=2, hours=1),
            capacity=CAPACITY,
            taken=0,
            registration_closes_at=now + timedelta(days=2),
            cancel_deadline=now + timedelta(days=2),
            checkin_opens_at=now + timedelta(days=2),
            checkin_closes_at=now + timedelta(days=2, hours=1),
        )
        session.add(other)
        await session.commit()
        activity_id = other.id
    await db.dispose()
    u = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    out = subprocess.run(  # noqa: ASYNC221 - the benchmark waits for pgbench on purpose
        [
            "pgbench",
            "-n",
            "-h",
            str(u.host),
            "-p",
            str(u.port or 5432),
            "-U",
            str(u.username),
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-f",
            script.name,
            "-D",
            f"activity={activity_id}",
            "-D",
            f"community={community_id}",
            str(u.database),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr.strip()[-500:]}")
    os.unlink(script.name)
    tps = next(line for line in out.stdout.splitlines() if line.startswith("tps ="))
    return float(tps.split()[2])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        return await measure(url, args)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(db.engine)
        community_id, activity_id, user_ids = await seed(db, args.residents)
        settings = Settings(_env_file=None, jwt_secret=SECRET, database_url=url)  # type: ignore[call-arg]
        tokens = [issue_access_token(settings, u).token for u in user_ids]
        port = free_port()
        server = start_server(url, port)
        await wait_ready(port)
        # warm the server's connections and caches with a few requests nobody counts
        await burst(port, 20, [("GET", "/healthz", {}, None)] * 200)

        bookings = [
            (
                "POST",
                f"/api/v1/activities/{activity_id}/bookings",
                {"Authorization": f"Bearer {token}", "Idempotency-Key": f"burst-{i}"},
                {},
            )
            for i, token in enumerate(tokens)
        ]
        elapsed, results = await burst(port, args.concurrency, bookings)
        health_elapsed, _ = await burst(port, args.concurrency, [("GET", "/healthz", {}, None)] * args.residents)

        statuses: dict[int, int] = {}
        for r in results:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        confirmed = {r["index"] for r in results if r["status"] == 201 and r["body"]["status"] == "confirmed"}
        first_sent = sorted(results, key=lambda r: r["sent"])[:CAPACITY]
        fair = sum(1 for r in first_sent if r["index"] in confirmed)
        async with db.session(write=False) as session:
            taken = (await session.execute(select(Activity.taken).where(Activity.id == activity_id))).scalar_one()
            seats = (
                await session.execute(
                    select(func.coalesce(func.sum(Booking.seats), 0)).where(
                        Booking.activity_id == activity_id, Booking.status == "confirmed"
                    )
                )
            ).scalar_one()
            duplicates = (
                await session.execute(
                    select(func.count()).select_from(
                        select(BookingAttendee.member_id)
                        .where(BookingAttendee.activity_id == activity_id, BookingAttendee.active)
                        .group_by(BookingAttendee.member_id)
                        .having(func.count() > 1)
                        .subquery()
                    )
                )
            ).scalar_one()
            waiting = list(
                (
                    await session.execute(
                        select(Booking.id)
                        .where(Booking.activity_id == activity_id, Booking.status == "waitlisted")
                        .order_by(Booking.id)
                    )
                ).scalars()
            )
        positions = {
            r["body"]["id"]: r["body"]["waitlist_position"]
            for r in results
            if r["status"] == 201 and r["body"]["status"] == "waitlisted"
        }
        in_order = [positions[i] for i in waiting] == list(range(1, len(waiting) + 1))
        server.send_signal(signal.SIGTERM)  # its connections would count against pgbench's
        server.wait(timeout=30)
        server = None
        await db.dispose()
        db_tps = await pgbench(url, community_id, args.concurrency, args.pgbench_seconds)
        throughput = args.residents / elapsed
        http_ceiling = args.residents / health_elapsed
        return {
            "residents": args.residents,
            "concurrency": args.concurrency,
            "seconds": round(elapsed, 2),
            "bookings_per_s": round(throughput, 1),
            **percentiles([r["latency"] for r in results]),
            "statuses": statuses,
            "taken": taken,
            "correct": taken == CAPACITY == seats and duplicates == 0 and in_order,
            "duplicates": duplicates,
            "waitlist_gap_free_in_order": in_order,
            "first_30_sent_got_a_seat": fair,
            "pgbench_booking_tps": round(db_tps, 1),
            "healthz_per_s": round(http_ceiling, 1),
            "share_of_db_ceiling": round(throughput / db_tps, 3),
            "share_of_http_ceiling": round(throughput / http_ceiling, 3),
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
