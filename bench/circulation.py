"""Circulation: a busy Saturday at the reading corner, compressed. Mixed traffic against the real
server (uvicorn, one process) on PostgreSQL with a 10,000-copy catalogue: residents searching
(title words, tags, ages), staff lending copies at the desk and taking them back.

Reports throughput, latency per kind of request, status counts, and checks the books balance:
every copy on loan has exactly one active loan, and the loans added and closed are the ones the
server said it made.

    .venv/bin/python bench/circulation.py --requests 3000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Book,
    BookCopy,
    Community,
    CommunityMembership,
    Household,
    Loan,
    Member,
    Space,
    User,
)
from api.db.session import Database  # noqa: E402
from api.security import issue_access_token  # noqa: E402
from bench.loadgen import SECRET, burst, free_port, fresh_database, percentiles, start_server, wait_ready  # noqa: E402

WORDS = ["小熊", "月亮", "森林", "大海", "恐龙", "星星", "小猪", "妈妈", "火车", "雪花", "狐狸", "种子", "彩虹", "风筝"]
TAGS = ["绘本", "科普", "童话", "历史", "自然", "成长", "幽默", "节日"]
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def seed(db: Database, books: int, members: int, on_loan: int) -> dict[str, Any]:
    """A community with `books` titles of two copies each, `members` one-person households, and
    `on_loan` copies already lent, one to each of the first members."""
    rng = random.Random(7)
    now = clock.now()
    stamp = {"created_at": now, "updated_at": now}
    async with db.session() as session:
        community = Community(name="书屋压测社区", city="", district="", address="", timezone="Asia/Shanghai")
        session.add(community)
        await session.flush()
        session.add(Space(community_id=community.id, name="复合空间", address="", opening_hours=ALL_DAY))
        staff = User(openid="dev-bench-staff", display_name="社工", **stamp)
        session.add(staff)
        await session.flush()
        session.add(CommunityMembership(community_id=community.id, user_id=staff.id, role="staff"))
        user_ids = list(
            (
                await session.execute(
                    insert(User).returning(User.id),
                    [
                        {"openid": f"dev-m{i}", "display_name": f"居民{i}", "is_platform_admin": False, **stamp}
                        for i in range(members)
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
                            "building": f"{i % 20 + 1}栋",
                            "unit": "1单元",
                            "room": str(i),
                            "address_key": f"{i % 20 + 1}|1|{i}",
                            **stamp,
                        }
                        for i in range(members)
                    ],
                )
            ).scalars()
        )
        member_ids = list(
            (
                await session.execute(
                    insert(Member).returning(Member.id),
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
            ).scalars()
        )
        await session.execute(
            insert(CommunityMembership),
            [{"community_id": community.id, "user_id": u, "role": "resident", **stamp} for u in user_ids],
        )
        book_ids = list(
            (
                await session.execute(
                    insert(Book).returning(Book.id),
                    [
                        {
                            "community_id": community.id,
                            "title": f"{rng.choice(WORDS)}和{rng.choice(WORDS)}的故事 第{n}册",
                            "author": f"作者{n % 300}",
                            "publisher": "",
                            "age_min": (low := rng.randrange(0, 10)),
                            "age_max": low + rng.randrange(2, 6),
                            "tags": rng.sample(TAGS, 2),
                            "summary": "",
                            **stamp,
                        }
                        for n in range(books)
                    ],
                )
            ).scalars()
        )
        copies = [(book_id, f"C{2 * n + k:06d}") for n, book_id in enumerate(book_ids) for k in range(2)]
        copy_ids = list(
            (
                await session.execute(
                    insert(BookCopy).returning(BookCopy.id),
                    [
                        {
                            "book_id": b,
                            "community_id": community.id,
                            "barcode": code,
                            "location": "",
                            "condition": "",
                            "donated_by": "",
                            "state": "on_loan" if i < on_loan else "available",
                            **stamp,
                        }
                        for i, (b, code) in enumerate(copies)
                    ],
                )
            ).scalars()
        )
        await session.execute(
            insert(Loan),
            [
                {
                    "community_id": community.id,
                    "copy_id": copy_ids[i],
                    "book_id": copies[i][0],
                    "member_id": member_ids[i],
                    "household_id": homes[i],
                    "borrowed_by": staff.id,
                    "borrowed_at": now,
                    "due_at": now + timedelta(days=14),
                    "renewals": 0,
                }
                for i in range(on_loan)
            ],
        )
        await session.commit()
        return {
            "community_id": community.id,
            "staff_id": staff.id,
            "user_ids": user_ids,
            "member_ids": member_ids,
            "barcodes": [code for _, code in copies],
        }


def traffic(world: dict[str, Any], tokens: dict[str, str], requests: int, on_loan: int, seed: int) -> list[Any]:
    """Searches 40 %, loans 30 %, returns 30 %, shuffled. Loans take copies still on the shelf for
    members with nothing borrowed; returns bring back copies lent before the run."""
    rng = random.Random(seed)
    community, staff = world["community_id"], {"Authorization": f"Bearer {tokens['staff']}"}
    lends, returns = int(requests * 0.3), int(requests * 0.3)
    searches = requests - lends - returns
    shelf = world["barcodes"][on_loan:]
    rng.shuffle(shelf)
    calls: list[Any] = []
    for n in range(lends):
        member = world["member_ids"][on_loan + n]
        calls.append(
            ("lend", ("POST", f"/api/v1/communities/{community}/loans", {**staff, "Idempotency-Key": f"lend-{n}"},
                      {"barcode": shelf[n], "member_id": member}))
        )  # fmt: skip
    for n in range(returns):
        calls.append(
            ("return", ("POST", f"/api/v1/communities/{community}/returns", staff, {"barcode": world["barcodes"][n]}))
        )
    for n in range(searches):
        resident = {"Authorization": f"Bearer {tokens['residents'][n % len(tokens['residents'])]}"}
        query = rng.choice(
            [
                f"q={quote(rng.choice(WORDS))}",
                f"tag={quote(rng.choice(TAGS))}",
                f"age={rng.randrange(0, 12)}&available=true",
            ]
        )
        calls.append(("search", ("GET", f"/api/v1/communities/{community}/books?{query}&limit=20", resident, None)))
    rng.shuffle(calls)
    return calls


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        return await measure(url, args)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    on_loan = int(args.requests * 0.3) + 200
    try:
        await upgrade(db.engine)
        world = await seed(db, args.copies // 2, args.members, on_loan)
        settings = Settings(_env_file=None, jwt_secret=SECRET, database_url=url)  # type: ignore[call-arg]
        tokens = {
            "staff": issue_access_token(settings, world["staff_id"]).token,
            "residents": [issue_access_token(settings, u).token for u in world["user_ids"][:200]],
        }
        port = free_port()
        server = start_server(url, port)
        await wait_ready(port)
        await burst(port, 20, [("GET", "/healthz", {}, None)] * 200)
        calls = traffic(world, tokens, args.requests, on_loan, seed=args.seed)
        elapsed, results = await burst(port, args.concurrency, [request for _, request in calls])

        kinds = [kind for kind, _ in calls]
        by_kind: dict[str, list[float]] = {}
        statuses: Counter[tuple[str, int]] = Counter()
        for r in results:
            by_kind.setdefault(kinds[r["index"]], []).append(r["latency"])
            statuses[(kinds[r["index"]], r["status"])] += 1
        lent = statuses[("lend", 201)]
        returned = statuses[("return", 200)]
        async with db.session(write=False) as session:
            active = (await session.execute(select(func.count()).where(Loan.returned_at.is_(None)))).scalar_one()
            copies_out = (await session.execute(select(func.count()).where(BookCopy.state == "on_loan"))).scalar_one()
            doubled = (
                await session.execute(
                    select(func.count()).select_from(
                        select(Loan.copy_id)
                        .where(Loan.returned_at.is_(None))
                        .group_by(Loan.copy_id)
                        .having(func.count() > 1)
                        .subquery()
                    )
                )
            ).scalar_one()
        return {
            "copies": args.copies,
            "requests": len(results),
            "concurrency": args.concurrency,
            "seconds": round(elapsed, 2),
            "requests_per_s": round(len(results) / elapsed, 1),
            **{f"{kind}_ms": percentiles(values) for kind, values in sorted(by_kind.items())},
            "statuses": {f"{kind} {status}": n for (kind, status), n in sorted(statuses.items())},
            "balanced": active == on_loan - returned + lent == copies_out and doubled == 0,
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=3_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
