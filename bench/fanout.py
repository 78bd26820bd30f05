"""Announcement fan-out benchmark: one announcement to N residents on PostgreSQL, WeChat faked
in-process (fake mode: the real client and delivery code, answered by api/wechat/fake.py).

Measures, from the staff's POST:
- the request's own latency (it only writes the announcement and one job);
- when every inbox entry is written;
- when every WeChat delivery has been attempted;
- the peak resident memory (VmHWM) of each worker process.

    .venv/bin/python bench/fanout.py --residents 10000 --workers 1

It creates a fresh database on the server (LINLI_BENCH_DATABASE_URL, default the local `test`
server) and drops it afterwards. Results go in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Community,
    CommunityMembership,
    Delivery,
    Household,
    Member,
    Notification,
    SubscriptionCredit,
    User,
)
from api.db.session import Database  # noqa: E402
from api.main import create_app, shutdown  # noqa: E402
from bench.loadgen import fresh_database  # noqa: E402

TEMPLATE = "demo-announcement"


async def seed(db: Database, residents: int, subscribed: float) -> tuple[int, int]:
    """A community with one staff member and `residents` households of one adult each."""
    now = clock.now()
    async with db.session() as session:
        community = Community(name="压测社区", city="成都市", district="", address="", timezone="Asia/Shanghai")
        session.add(community)
        staff = User(openid="dev-bench-staff", display_name="社工", created_at=now, updated_at=now)
        session.add(staff)
        await session.flush()
        session.add(CommunityMembership(community_id=community.id, user_id=staff.id, role="staff"))
        stamp = {"created_at": now, "updated_at": now}
        chunk = 2000
        for start in range(0, residents, chunk):
            n = range(start, min(start + chunk, residents))
            user_ids = (
                (
                    await session.execute(
                        insert(User).returning(User.id),
                        [
                            {"openid": f"dev-r{i}", "display_name": f"居民{i}", "is_platform_admin": False, **stamp}
                            for i in n
                        ],
                    )
                )
                .scalars()
                .all()
            )
            household_ids = (
                (
                    await session.execute(
                        insert(Household).returning(Household.id),
                        [
                            {
                                "community_id": community.id,
                                "building": f"{i % 40 + 1}栋",
                                "unit": "1单元",
                                "room": str(i),
                                "address_key": f"{i % 40 + 1}|1|{i}",
                                **stamp,
                            }
                            for i in n
                        ],
                    )
                )
                .scalars()
                .all()
            )
            rows = list(zip(user_ids, household_ids, n, strict=True))
            await session.execute(
                insert(Member),
                [
                    {
                        "community_id": community.id,
                        "household_id": h,
                        "user_id": u,
                        "display_name": f"居民{i}",
                        "kind": "adult",
                        "status": "active",
                        "is_head": True,
                        **stamp,
                    }
                    for u, h, i in rows
                ],
            )
            await session.execute(
                insert(CommunityMembership),
                [{"community_id": community.id, "user_id": u, "role": "resident", **stamp} for u, _, _ in rows],
            )
            with_credit = [u for u, _, i in rows if (i % 100) < subscribed * 100]
            if with_credit:
                await session.execute(
                    insert(SubscriptionCredit),
                    [
                        {
                            "user_id": u,
                            "template_id": TEMPLATE,
                            "credits": 1,
                            "last_result": "accept",
                            "updated_at": now,
                        }
                        for u in with_credit
                    ],
                )
        await session.commit()
        return community.id, staff.id


def start_worker(url: str, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_WECHAT_MODE": "fake",
        "LINLI_QUIET_HOURS": "",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_WORKER_POLL_SECONDS": "0.2",
        **env_extra,
    }
    return subprocess.Popen([str(ROOT / ".venv/bin/linli"), "worker"], env=env, cwd=ROOT)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        return await measure(url, args)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    env_extra = {
        "LINLI_NOTIFY_SEND_RATE_PER_SECOND": str(args.rate),
        "LINLI_WORKER_BATCH_SIZE": str(args.batch),
        "LINLI_NOTIFY_FANOUT_BATCH_SIZE": str(args.fanout_batch),
    }
    workers: list[subprocess.Popen[bytes]] = []
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        wechat_mode="fake",
        quiet_hours="",
        embedded_worker=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    db: Database = app.state.db
    try:
        await upgrade(db.engine)
        t = time.perf_counter()
        community_id, _ = await seed(db, args.residents, args.subscribed)
        seeded = time.perf_counter() - t
        subscribed = int(args.residents * args.subscribed)
        workers = [start_worker(url, env_extra) for _ in range(args.workers)]
        await asyncio.sleep(2)  # let them start and go idle
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            token = (await client.post("/api/v1/auth/wechat/login", json={"code": "dev:bench-staff"})).json()[
                "access_token"
            ]
            t0 = time.perf_counter()
            response = await client.post(
                f"/api/v1/communities/{community_id}/announcements",
                json={"title": "压测公告：明天停水", "body": "明天 9:00–12:00 全小区停水，请提前储水。"},
                headers={"Authorization": f"Bearer {token}"},
            )
            request_ms = (time.perf_counter() - t0) * 1000
            assert response.status_code == 201, response.text
        inbox_done = deliveries_done = None
        peaks = [0.0] * len(workers)
        while deliveries_done is None:
            await asyncio.sleep(0.25)
            peaks = [max(p, peak_rss_mb(w.pid)) for p, w in zip(peaks, workers, strict=True)]
            async with db.session(write=False) as session:
                entries = (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
                attempted = (
                    await session.execute(select(func.count()).where(Delivery.status.not_in(("pending", "sending"))))
                ).scalar_one()
            elapsed = time.perf_counter() - t0
            if inbox_done is None and entries >= args.residents:
                inbox_done = elapsed
            if inbox_done is not None and attempted >= subscribed:
                deliveries_done = elapsed
            if elapsed > args.timeout:
                raise TimeoutError(f"after {elapsed:.0f} s: {entries} entries, {attempted} deliveries attempted")
        async with db.session(write=False) as session:
            statuses = dict(
                (await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all()
            )
        return {
            "residents": args.residents,
            "subscribed": subscribed,
            "workers": args.workers,
            "worker_batch": args.batch,
            "fanout_batch": args.fanout_batch,
            "rate": args.rate,
            "seed_s": round(seeded, 1),
            "request_ms": round(request_ms, 1),
            "inbox_s": round(inbox_done, 2),
            "deliveries_s": round(deliveries_done, 2),
            "pushes_per_s": round(subscribed / deliveries_done, 1),
            "worker_peak_rss_mb": [round(p, 1) for p in peaks],
            "statuses": statuses,
        }
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
        await shutdown(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--subscribed", type=float, default=1.0, help="share of residents holding a credit")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=10, help="LINLI_WORKER_BATCH_SIZE")
    parser.add_argument("--fanout-batch", type=int, default=500, help="LINLI_NOTIFY_FANOUT_BATCH_SIZE")
    parser.add_argument("--rate", type=float, default=0, help="LINLI_NOTIFY_SEND_RATE_PER_SECOND (0: unlimited)")
    parser.add_argument("--timeout", type=float, default=1800)
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
