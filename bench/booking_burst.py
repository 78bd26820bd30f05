"""Booking burst: the morning a popular activity opens. N distinct residents book one seat each at
a 30-seat activity, C at a time over C keep-alive connections, against the real server (uvicorn,
one or more processes) on PostgreSQL, the load generator on the same machine.

One run measures several scenarios (residents x server processes; by default 1,000 and 5,000
residents, one and two processes) and prints them side by side. For each, in a fresh database:

- the burst: bookings/s, latency percentiles, status counts, the server's CPU per booking (utime +
  stime of every server process from /proc, before and after), PostgreSQL's and the load
  generator's CPU per booking, how busy the machine was;
- the activity lock's hold time, from the JSON files the server processes write at exit when
  LINLI_BOOKING_STATS_FILE is set (`<file>.<pid>`: batches, requests, lock_held_s,
  lock_held_max_s), summed over the processes; "n/a" when none appears;
- correctness (exactly 30 seats taken = the confirmed seats, nobody twice, the waitlist positions
  answered 1..N in booking-id order, no 5xx) and fairness (of the first 30 requests sent, how many
  got a seat);
- at the same concurrency on the same server: `/healthz` and `GET /api/v1/me` (requests/s and
  server CPU per request);
- with the server stopped, pgbench at the same number of clients: the booking transaction (lock
  the activity, try the seat, insert the booking and its attendee) and a single conditional seat
  UPDATE on an activity with room for everyone (no explicit transaction): the database's ceilings.

    .venv/bin/python bench/booking_burst.py                           # the four scenarios
    .venv/bin/python bench/booking_burst.py --scenarios 1000x1,5000x2  # residents x processes
    .venv/bin/python bench/booking_burst.py --residents 1000 --processes 2

Fresh databases are made on LINLI_BENCH_DATABASE_URL's server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
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
    DEFAULT_URL,
    SECRET,
    burst,
    cpu_seconds,
    free_port,
    fresh_database,
    machine_ticks,
    percentiles,
    postgres_pids,
    process_tree,
    serve_has_workers,
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


SINGLE_UPDATE_SCRIPT = "UPDATE activities SET taken = taken + 1 WHERE id = :activity AND taken + 1 <= capacity;\n"


def booking_requests(
    activity_id: int, tokens: list[str], key_prefix: str
) -> list[tuple[str, str, dict[str, str], dict[str, Any] | None]]:
    """One booking of `activity_id` per token (for the caller alone), each with its own
    Idempotency-Key, as the load generator sends them."""
    return [
        (
            "POST",
            f"/api/v1/activities/{activity_id}/bookings",
            {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{key_prefix}-{i}"},
            {},
        )
        for i, token in enumerate(tokens)
    ]


async def another_activity(db: Database, community_id: int, capacity: int, title: str = "pgbench") -> int:
    """An activity of its own (for pgbench, or the warm-up), a week later than the burst's, open
    for booking."""
    now = clock.now()
    start = now + timedelta(days=9)
    async with db.session() as session:
        other = Activity(
            community_id=community_id,
            title=title,
            category="other",
            published_at=now,
            location="-",
            status="published",
            start_at=start,
            end_at=start + timedelta(hours=1),
            capacity=capacity,
            taken=0,
            registration_closes_at=start,
            cancel_deadline=start,
            checkin_opens_at=start,
            checkin_closes_at=start + timedelta(hours=1),
        )
        session.add(other)
        await session.commit()
        return other.id


def pgbench(url: str, script: str, clients: int, seconds: int, **variables: int) -> float | str:
    """pgbench running `script` with `clients` clients for `seconds`: its tps, or why it failed."""
    u = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
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
                f.name,
                *(arg for name, value in variables.items() for arg in ("-D", f"{name}={value}")),
                str(u.database),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **({"PGPASSWORD": u.password} if u.password else {})},
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        return "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:200]
    tps = next(line for line in out.stdout.splitlines() if line.startswith("tps ="))
    return round(float(tps.split()[2]), 1)


class Meter:
    """CPU of the server's processes, PostgreSQL's, this process's and the machine's, between
    start() and stop()."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids

    def _read(self) -> tuple[float, float, tuple[int, int], float]:
        return (
            cpu_seconds(self.server_pids),
            cpu_seconds(postgres_pids(), children=True),  # backends that exit meanwhile: the postmaster's
            machine_ticks(),
            time.perf_counter(),
        )

    def start(self) -> None:
        self.before = self._read()
        self.client = time.process_time()  # last, so that reading /proc is not counted as the load's

    def stop(self, requests: int) -> dict[str, Any]:
        client = time.process_time() - self.client
        server, database, (busy, total), wall = self._read()
        server0, database0, (busy0, total0), wall0 = self.before
        n = max(requests, 1)
        wall -= wall0
        # what else ran on the machine meanwhile (another test suite...), in cores: the figures' noise
        others = (busy - busy0) / os.sysconf("SC_CLK_TCK") - (server - server0) - (database - database0) - client
        return {
            "server_cpu_ms": round((server - server0) * 1000 / n, 2),
            "postgres_cpu_ms": round((database - database0) * 1000 / n, 2),
            "client_cpu_ms": round(client * 1000 / n, 3),
            "machine_busy": round((busy - busy0) / max(total - total0, 1), 2),
            "others_cores": round(max(others, 0.0) / max(wall, 1e-9), 2),
        }


async def warm_up(
    port: int,
    me: list[tuple[str, str, dict[str, str], None]],
    bookings: list[tuple[str, str, dict[str, str], dict[str, Any] | None]],
) -> None:
    """A few requests nobody counts, over enough connections that every server process gets some:
    each process's database connections, caches, the login's path and the booking path (bookings
    of another activity: a server that has been up has booked before)."""
    for round_ in range(3):
        await burst(port, 50, [("GET", "/healthz", {}, None)] * 500)
        await burst(port, 50, me[:300])
        await burst(port, 50, bookings[round_ * 100 : (round_ + 1) * 100])
        await asyncio.sleep(0.2)


def read_lock_stats(prefix: str, activity_id: int) -> dict[str, Any] | None:
    """The batcher's statistics for the burst's activity summed over the server processes' files,
    or None when none wrote one."""
    files = sorted(glob.glob(glob.escape(prefix) + ".*"))
    if not files:
        return None
    total = {"files": 0, "batches": 0, "requests": 0, "lock_held_s": 0.0, "lock_held_max_s": 0.0}
    for name in files:
        with open(name) as f:
            stats = json.load(f).get(str(activity_id), {})
        total["files"] += 1
        total["batches"] += int(stats.get("batches", 0))
        total["requests"] += int(stats.get("requests", 0))
        total["lock_held_s"] += float(stats.get("lock_held_s", 0.0))
        total["lock_held_max_s"] = max(total["lock_held_max_s"], float(stats.get("lock_held_max_s", 0.0)))
    return total


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's supervisor passes it on to its workers), and wait for the exit: the
    statistics files are written then."""
    tree = process_tree(server.pid)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in tree:  # the supervisor's workers too, or they would outlive it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait()


async def scenario(residents: int, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        with tempfile.TemporaryDirectory(prefix="linli-booking-stats-") as folder:
            return await measure(url, residents, processes, os.path.join(folder, "stats"), args)


async def measure(
    url: str, residents: int, processes: int, stats_file: str, args: argparse.Namespace
) -> dict[str, Any]:
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    concurrency = args.concurrency
    try:
        await upgrade(db.engine)
        seeding = time.perf_counter()
        community_id, activity_id, user_ids = await seed(db, residents)
        transaction_activity = await another_activity(db, community_id, CAPACITY)
        update_activity = await another_activity(db, community_id, 2_000_000_000)
        async with db.session() as session:
            await session.execute(text("ANALYZE"))
            await session.commit()
        seeded_s = time.perf_counter() - seeding
        settings = Settings(_env_file=None, jwt_secret=SECRET, database_url=url)  # type: ignore[call-arg]
        tokens = [issue_access_token(settings, u).token for u in user_ids]
        me = [
            ("GET", "/api/v1/me", {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}, None)
            for i in range(args.probe_requests)
        ]
        port = free_port()
        server = start_server(url, port, workers=processes, env={"LINLI_BOOKING_STATS_FILE": stats_file})
        await wait_ready(port)
        warm_activity = await another_activity(db, community_id, 2_000_000, title="warm-up")
        await warm_up(port, me, booking_requests(warm_activity, tokens[:300], "warm"))
        pids = process_tree(server.pid)
        meter = Meter(pids)

        bookings = booking_requests(activity_id, tokens, "burst")
        meter.start()
        elapsed, results = await burst(port, concurrency, bookings)
        booking_cpu = meter.stop(len(bookings))

        meter.start()
        health_elapsed, health = await burst(port, concurrency, [("GET", "/healthz", {}, None)] * args.probe_requests)
        health_cpu = meter.stop(len(health))
        meter.start()
        me_elapsed, me_results = await burst(port, concurrency, me)
        me_cpu = meter.stop(len(me_results))

        statuses: dict[int, int] = {}
        for r in [*results, *health, *me_results]:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        booking_statuses: dict[int, int] = {}
        for r in results:
            booking_statuses[r["status"]] = booking_statuses.get(r["status"], 0) + 1
        answered = {r["index"]: r["body"] for r in results if r["status"] == 201 and isinstance(r["body"], dict)}
        confirmed = {i for i, body in answered.items() if body.get("status") == "confirmed"}
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
            body["id"]: body.get("waitlist_position")
            for body in answered.values()
            if body.get("status") == "waitlisted"
        }
        in_order = [positions.get(i) for i in waiting] == list(range(1, len(waiting) + 1)) and len(positions) == len(
            waiting
        )
        server_errors = sum(n for status, n in statuses.items() if status >= 500)

        stop(server)
        server = None
        lock = read_lock_stats(stats_file, activity_id)
        async with db.session(write=False) as session:
            # other work on the server (a test suite) may hold connections: pgbench gets what is free
            free = (
                await session.execute(
                    text(
                        "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
                        " WHERE backend_type = 'client backend'"
                    )
                )
            ).scalar_one()
        await db.dispose()
        clients = max(1, min(concurrency, free - 2))
        transaction_tps = pgbench(
            url,
            PGBENCH_SCRIPT,
            clients,
            args.pgbench_seconds,
            activity=transaction_activity,
            community=community_id,
        )
        update_tps = pgbench(url, SINGLE_UPDATE_SCRIPT, clients, args.pgbench_seconds, activity=update_activity)

        return {
            "residents": residents,
            "processes": processes,
            "server_processes_seen": len(pids),
            "concurrency": concurrency,
            "seeded_s": round(seeded_s, 1),
            "seconds": round(elapsed, 2),
            "bookings_per_s": round(len(results) / elapsed, 1),
            **percentiles([r["latency"] for r in results]),
            "booking_statuses": booking_statuses,
            "server_errors": server_errors,
            **{f"booking_{k}": v for k, v in booking_cpu.items()},
            "lock": lock,
            "taken": taken,
            "confirmed_seats": seats,
            "confirmed_answers": len(confirmed),
            "duplicates": duplicates,
            "waitlisted": len(waiting),
            "waitlist_gap_free_in_order": in_order,
            "correct": taken == CAPACITY == seats == len(confirmed)
            and duplicates == 0
            and in_order
            and server_errors == 0
            and booking_statuses == {201: residents},
            "first_30_sent_got_a_seat": fair,
            "healthz_per_s": round(len(health) / health_elapsed, 1),
            "healthz_p99_ms": percentiles([r["latency"] for r in health])["p99_ms"],
            "healthz_server_cpu_ms": health_cpu["server_cpu_ms"],
            "healthz_client_cpu_ms": health_cpu["client_cpu_ms"],
            "me_per_s": round(len(me_results) / me_elapsed, 1),
            "me_p99_ms": percentiles([r["latency"] for r in me_results])["p99_ms"],
            "me_server_cpu_ms": me_cpu["server_cpu_ms"],
            "me_postgres_cpu_ms": me_cpu["postgres_cpu_ms"],
            "me_ok": sum(1 for r in me_results if r["status"] == 200),
            "pgbench_clients": clients,
            "pgbench_booking_tps": transaction_tps,
            "pgbench_single_update_tps": update_tps,
        }
    finally:
        if server is not None:
            stop(server)
        await db.dispose()


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def machine_facts() -> dict[str, str]:
    import asyncpg
    import sqlalchemy

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory = int(f.readline().split()[1]) // (1024 * 1024)
    return {
        "cpu": model,
        "nproc": str(os.cpu_count()),
        "memory": f"{memory} GB",
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "asyncpg": asyncpg.__version__,
        "uvicorn workers": "linli serve --workers"
        if serve_has_workers()
        else "uvicorn --workers (linli serve has no --workers)",
        "pgbench": _version(["pgbench", "--version"]),
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "commit": _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


ROWS: list[tuple[str, Any]] = [
    ("residents → seats", lambda r: f"{r['residents']:,} → {CAPACITY}"),
    ("server processes (pids seen)", lambda r: f"{r['processes']} ({r['server_processes_seen']})"),
    ("connections", lambda r: r["concurrency"]),
    ("bookings/s", lambda r: r["bookings_per_s"]),
    ("burst wall time, s", lambda r: r["seconds"]),
    ("p50 ms", lambda r: r["p50_ms"]),
    ("p95 ms", lambda r: r["p95_ms"]),
    ("p99 ms", lambda r: r["p99_ms"]),
    ("max ms", lambda r: r["max_ms"]),
    ("statuses", lambda r: " ".join(f"{n}×{s}" for s, n in sorted(r["booking_statuses"].items()))),
    ("server CPU ms/booking", lambda r: r["booking_server_cpu_ms"]),
    ("PostgreSQL CPU ms/booking", lambda r: r["booking_postgres_cpu_ms"]),
    ("load generator CPU ms/booking", lambda r: r["booking_client_cpu_ms"]),
    ("machine busy during burst", lambda r: f"{r['booking_machine_busy']:.0%}"),
    ("other processes' CPU, cores", lambda r: r["booking_others_cores"]),
    (
        "lock batches / bookings",
        lambda r: f"{r['lock']['batches']:,} / {r['lock']['requests']:,}" if r["lock"] else "n/a",
    ),
    (
        "lock held ms, mean per batch",
        lambda r: _ms(r["lock"]["lock_held_s"] / r["lock"]["batches"]) if r["lock"] and r["lock"]["batches"] else "n/a",
    ),
    (
        "lock held ms, per booking",
        lambda r: (
            _ms(r["lock"]["lock_held_s"] / r["lock"]["requests"]) if r["lock"] and r["lock"]["requests"] else "n/a"
        ),
    ),
    ("lock held ms, max", lambda r: _ms(r["lock"]["lock_held_max_s"]) if r["lock"] else "n/a"),
    ("lock busy share of burst", lambda r: f"{r['lock']['lock_held_s'] / r['seconds']:.0%}" if r["lock"] else "n/a"),
    ("taken = confirmed seats", lambda r: f"{r['taken']} = {r['confirmed_seats']}"),
    ("nobody twice", lambda r: "yes" if r["duplicates"] == 0 else f"no ({r['duplicates']})"),
    (
        "waitlist 1..N by booking id",
        lambda r: f"{'yes' if r['waitlist_gap_free_in_order'] else 'NO'} (N = {r['waitlisted']:,})",
    ),
    ("5xx (all requests)", lambda r: r["server_errors"]),
    ("correct", lambda r: "yes" if r["correct"] else "NO"),
    ("first 30 sent got a seat", lambda r: r["first_30_sent_got_a_seat"]),
    ("/healthz req/s", lambda r: r["healthz_per_s"]),
    ("/healthz server CPU ms/req", lambda r: r["healthz_server_cpu_ms"]),
    ("/healthz p99 ms", lambda r: r["healthz_p99_ms"]),
    ("GET /me req/s", lambda r: r["me_per_s"]),
    ("GET /me server CPU ms/req", lambda r: r["me_server_cpu_ms"]),
    ("GET /me PostgreSQL CPU ms/req", lambda r: r["me_postgres_cpu_ms"]),
    ("GET /me p99 ms", lambda r: r["me_p99_ms"]),
    ("pgbench clients", lambda r: r["pgbench_clients"]),
    ("pgbench booking tx, tps", lambda r: r["pgbench_booking_tps"]),
    ("pgbench single UPDATE, tps", lambda r: r["pgbench_single_update_tps"]),
    ("bookings/s ÷ single UPDATE", lambda r: _share(r["bookings_per_s"], r["pgbench_single_update_tps"])),
]


def _share(value: float, ceiling: float | str) -> str:
    return f"{value / ceiling:.2f}" if isinstance(ceiling, float) and ceiling else "n/a"


def table(results: list[dict[str, Any]]) -> str:
    cells = [[name, *(str(row(r)) for r in results)] for name, row in ROWS]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = []
    for number, line in enumerate(cells):
        lines.append(
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
            + " |"
        )
        if number == 0:
            lines.append("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


def parse_scenarios(args: argparse.Namespace) -> list[tuple[int, int]]:
    if args.residents or args.processes:
        return [(args.residents or 1000, args.processes or 1)]
    chosen = []
    for item in args.scenarios.split(","):
        residents, _, processes = item.strip().partition("x")
        chosen.append((int(residents), int(processes or 1)))
    return chosen


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    db = Database(os.environ.get("LINLI_BENCH_DATABASE_URL", DEFAULT_URL))
    try:
        async with db.session(write=False) as session:
            postgres = (await session.execute(text("SELECT version()"))).scalar_one()
    finally:
        await db.dispose()
    for key, value in {**machine_facts(), "postgresql": postgres}.items():
        print(f"{key:>22}: {value}", flush=True)
    results = []
    for residents, processes in parse_scenarios(args):
        print(
            f"\n--- {residents:,} residents, {processes} server process(es), {args.concurrency} connections", flush=True
        )
        result = await scenario(residents, processes, args)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenarios",
        default="1000x1,1000x2,5000x1,5000x2",
        help="comma-separated RESIDENTSxPROCESSES (default: %(default)s)",
    )
    parser.add_argument("--residents", type=int, default=0, help="one scenario: this many residents (with --processes)")
    parser.add_argument("--processes", type=int, default=0, help="one scenario: this many server processes")
    parser.add_argument("--concurrency", type=int, default=100, help="connections, and pgbench's clients")
    parser.add_argument("--probe-requests", type=int, default=3000, help="requests of /healthz and of GET /me")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    started = time.strftime("%Y-%m-%d %H:%M")
    results = asyncio.run(run(parser.parse_args()))
    print(f"\nBooking burst, {started}, {CAPACITY} seats; load average at the end: {os.getloadavg()[0]:.2f}\n")
    print(table(results))


if __name__ == "__main__":
    main()
