"""Console pages: how long each page of the staff console takes to render on the demo data
(`linli demo`), against the ceiling of ~300 ms a page (issue 13).

Builds a demo database (an SQLite file in a temporary directory, or with --postgres a fresh
database on LINLI_BENCH_DATABASE_URL's server), runs the app in-process (httpx's ASGI transport:
what is measured is the request through FastAPI, the services, the database and the templates,
not a network), signs in as the demo's social worker through the development login, and requests
each page of PAGES `--runs` times after a warm-up. Reports per page the statements sent to the
database per request, the median CPU time of this process per request (the app's own work, and on
SQLite the database's too; steadier than wall time on a shared machine), and the latency (median,
95th percentile, slowest).

    .venv/bin/python bench/console_pages.py
    .venv/bin/python bench/console_pages.py --postgres
    .venv/bin/python bench/console_pages.py --busy      # plus 12 weeks of a busy community

With --busy, the community also held six activities a day for the last twelve weeks and holds six
today, each booked by every demo household with all its members (some checked in, some no-shows),
so that the Today page's counts and its twelve-week chart run over ~500 activities and ~12,000
attendees rather than the demo's handful.

Pages are paths with the demo's ids in braces (see `demo_ids`); add a console page here when it
lands, with the headers it is requested with (htmx fragments send HX-Request).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import event, func, select, text  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Activity,
    Book,
    Booking,
    BookingAttendee,
    Community,
    Household,
    Member,
    Post,
    ServiceProject,
    User,
)
from api.db.session import Database  # noqa: E402
from api.demo.loader import load_demo  # noqa: E402
from api.main import create_app, shutdown  # noqa: E402
from bench.loadgen import SECRET, fresh_database  # noqa: E402

CEILING_MS = 300.0

# (name, path with {ids}, extra headers)
PAGES: list[tuple[str, str, dict[str, str]]] = [
    ("今日 Today", "/console/c/{community}/today", {}),
    ("传播闭环 loop fragment", "/console/c/{community}/activities/{held_activity}/loop", {"HX-Request": "true"}),
    ("传播闭环 loop page", "/console/c/{community}/activities/{held_activity}/loop", {}),
    ("活动 week", "/console/c/{community}/activities", {}),
    ("活动 month", "/console/c/{community}/activities/calendar", {}),
    ("活动 detail (held)", "/console/c/{community}/activities/{held_activity}", {}),
    ("活动 detail (upcoming)", "/console/c/{community}/activities/{activity}", {}),
    ("活动 roster", "/console/c/{community}/activities/{held_activity}/roster", {}),
    ("活动 series", "/console/c/{community}/series", {}),
    ("签到台 desk", "/console/c/{community}/activities/{activity}/desk", {}),
    ("签到台 roster fragment", "/console/c/{community}/activities/{activity}/desk/roster", {"HX-Request": "true"}),
    ("签到台 on-site code", "/console/c/{community}/activities/{activity}/desk/code", {"HX-Request": "true"}),
    ("住户 list", "/console/c/{community}/households", {}),
    ("住户 file", "/console/c/{community}/households/{household}", {}),
    ("图书 desk", "/console/c/{community}/library", {}),
    ("图书 hold shelf", "/console/c/{community}/library/holds", {}),
    ("图书 overdue", "/console/c/{community}/library/overdue", {}),
    ("图书 catalogue", "/console/c/{community}/library/books", {}),
    ("图书 a title", "/console/c/{community}/library/books/{book}", {}),
    ("图书 import", "/console/c/{community}/library/import", {}),
    ("服务数据 this month", "/console/c/{community}/reports", {}),
    ("服务数据 the contract so far", "/console/c/{community}/reports?from={project_start}&to={today}", {}),
    ("服务数据 a project", "/console/c/{community}/reports?from={project_start}&to={today}&project={project}", {}),
    (
        "服务数据 rows",
        "/console/c/{community}/reports/rows?from={project_start}&to={today}&indicator=beneficiaries",
        {},
    ),
    ("服务项目 list", "/console/c/{community}/projects", {}),
    ("服务项目 targets", "/console/c/{community}/projects/{project}", {}),
    ("活动总结", "/console/c/{community}/activities/{held_activity}/summary", {}),
    ("台账", "/console/c/{community}/record-books", {}),
]


async def demo_ids(db: Database) -> dict[str, Any]:
    """Ids a page path may name: the community, an upcoming and a held activity (the one with the
    most posts), a household, the social worker."""
    async with db.session() as session:
        community = (await session.execute(select(Community.id).order_by(Community.id).limit(1))).scalar_one()
        now = clock.now()
        upcoming = (
            await session.execute(
                select(Activity.id).where(Activity.start_at > now).order_by(Activity.start_at).limit(1)
            )
        ).scalar_one()
        held = (
            await session.execute(
                select(Post.activity_id)
                .where(Post.activity_id.is_not(None))
                .group_by(Post.activity_id)
                .order_by(func.count(Post.id).desc(), Post.activity_id)
                .limit(1)
            )
        ).scalar_one()
        household = (await session.execute(select(Household.id).order_by(Household.id).limit(1))).scalar_one()
        staff = (await session.execute(select(User.id).where(User.openid == "dev-staff"))).scalar_one()
        book = (await session.execute(select(Book.id).order_by(Book.id).limit(1))).scalar_one()
        project, project_start = (
            await session.execute(
                select(ServiceProject.id, ServiceProject.starts_on).order_by(ServiceProject.id).limit(1)
            )
        ).one()
    return {
        "community": community,
        "activity": upcoming,
        "held_activity": held,
        "household": household,
        "staff": staff,
        "book": book,
        "project": project,
        "project_start": project_start.isoformat(),
        "today": clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(),
    }


async def make_busy(db: Database, community_id: int, per_day: int = 6, weeks: int = 12) -> int:
    """Activities every day of the last `weeks` weeks and today, each booked by every household
    with all its members: about four in five checked in, one in ten a no-show. Written directly
    (the past cannot be booked through the API), as the demo's own history is."""
    tz = ZoneInfo("Asia/Shanghai")
    today = clock.now().astimezone(tz).date()
    async with db.session() as session:
        members = (await session.execute(select(Member).where(Member.community_id == community_id))).scalars().all()
        households: dict[int, list[int]] = {}
        for member in members:
            if member.status == "active":
                households.setdefault(member.household_id, []).append(member.id)
        made = 0
        for days_ago in range(weeks * 7, -1, -1):
            day = today - timedelta(days=days_ago)
            for n in range(per_day):
                start = datetime(day.year, day.month, day.day, 9 + 2 * n, tzinfo=tz)
                seats = sum(len(m) for m in households.values())
                activity = Activity(
                    community_id=community_id, title=f"忙碌的一天 {day:%m-%d} 第{n + 1}场", category="culture",
                    location="复合空间", status="published", start_at=start, end_at=start + timedelta(minutes=90),
                    capacity=seats + 10, taken=seats, registration_closes_at=start, cancel_deadline=start,
                    checkin_opens_at=start - timedelta(minutes=30), checkin_closes_at=start + timedelta(minutes=30),
                    published_at=start - timedelta(days=7),
                    attendance_closed_at=start + timedelta(hours=3) if days_ago else None,
                )  # fmt: skip
                session.add(activity)
                await session.flush()
                made += 1
                for k, (household_id, member_ids) in enumerate(households.items()):
                    booking = Booking(
                        activity_id=activity.id, community_id=community_id, household_id=household_id,
                        seats=len(member_ids), status="confirmed", confirmed_at=start - timedelta(days=3),
                    )  # fmt: skip
                    session.add(booking)
                    await session.flush()
                    came = (k + n + days_ago) % 10
                    checked_in = came < 8 and (days_ago > 0 or n < 2)  # today only the first two have begun
                    for member_id in member_ids:
                        session.add(
                            BookingAttendee(
                                booking_id=booking.id,
                                activity_id=activity.id,
                                member_id=member_id,
                                checked_in_at=start if checked_in else None,
                                checkin_method="scan" if checked_in else None,
                                no_show=came == 9 and days_ago > 0,
                            )
                        )
        await session.commit()
    return made


@asynccontextmanager
async def database(postgres: bool) -> AsyncIterator[str]:
    if postgres:
        async with fresh_database() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="linli-bench-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/demo.db"


async def sign_in(http: httpx.AsyncClient, user_id: int) -> None:
    """The development login, as the login page's form does it."""
    page = await http.get("/console/login")
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]*)"', page.text)
    assert found, "no CSRF token on the login page"
    answer = await http.post(
        "/console/dev-login",
        data={"user_id": str(user_id), "next": "/console"},
        headers={"X-CSRF-Token": found.group(1), "HX-Request": "true"},
    )
    assert answer.status_code == 204 and http.cookies.get("linli_console"), answer.text


async def main(postgres: bool, runs: int, busy: bool) -> None:
    async with database(postgres) as url:
        media = tempfile.mkdtemp(prefix="linli-bench-media-")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            environment="development",
            jwt_secret=SECRET,
            wechat_mode="fake",
            embedded_worker=False,
            log_level="WARNING",
            media_dir=media,
        )
        app = create_app(settings)
        db: Database = app.state.db
        await upgrade(db.engine)
        started = time.perf_counter()
        await load_demo(db)
        ids = await demo_ids(db)
        extra = await make_busy(db, ids["community"]) if busy else 0
        async with db.engine.connect() as connection:
            # the statistics autovacuum keeps on a live server; freshly bulk-loaded tables have none,
            # and PostgreSQL then plans the twelve weeks' counts as nested loops (~10× slower)
            await connection.execute(text("ANALYZE"))
            await connection.commit()
        print(
            f"{db.dialect}: demo loaded in {time.perf_counter() - started:.1f} s"
            + (f", plus {extra} activities of a busy community" if busy else "")
        )

        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        rows = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            await sign_in(http, ids["staff"])
            for name, template, headers in PAGES:
                path = template.format(**ids)
                for _ in range(3):  # warm-up: templates compiled, statements cached
                    answer = await http.get(path, headers=headers)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                timings, cpu = [], []
                statements = 0
                for _ in range(runs):
                    begun, begun_cpu = time.perf_counter(), time.process_time()
                    answer = await http.get(path, headers=headers)
                    timings.append((time.perf_counter() - begun) * 1000)
                    cpu.append((time.process_time() - begun_cpu) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                timings.sort()
                p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
                row = (
                    name,
                    path,
                    statements / runs,
                    statistics.median(cpu),
                    statistics.median(timings),
                    p95,
                    timings[-1],
                )
                rows.append(row)
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        await shutdown(app)

    print(f"\n| page | statements | CPU p50 | p50 | p95 | max | p95 under {CEILING_MS:.0f} ms |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, path, per_request, cpu_p50, p50, p95, slowest in rows:
        verdict = "yes" if p95 <= CEILING_MS else "**no**"
        print(
            f"| {name} `{path}` | {per_request:.0f} | {cpu_p50:.1f} ms | {p50:.1f} ms | {p95:.1f} ms "
            f"| {slowest:.1f} ms | {verdict} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh database on LINLI_BENCH_DATABASE_URL's server")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--busy", action="store_true", help="add twelve weeks of a busy community")
    args = parser.parse_args()
    asyncio.run(main(args.postgres, args.runs, args.busy))
