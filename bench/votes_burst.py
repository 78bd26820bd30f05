"""Votes burst: a household poll (每户一票) in a community of N households, every household voting
within the minute, against the real server (uvicorn, one process) on PostgreSQL.

Each household has two adults with the app. One of them votes; in a share of the households
(`--both`) the other presses "vote" at the same moment too, which the one-participation rule must
refuse (409 poll_already_voted). The poll is created, published and opened through the API by a
staff member; the votes go through the API with an Idempotency-Key each, C at a time over keep-alive
connections.

Reports throughput, latency percentiles and status counts, and checks correctness from the
database: exactly one participation per household that voted, one ballot per participation (or,
for a secret poll, as many ballots as participations), nobody refused who should have been counted
and nobody counted twice.

    .venv/bin/python bench/votes_burst.py --households 3000 --concurrency 50
    .venv/bin/python bench/votes_burst.py --households 3000 --concurrency 50 --secret
    .venv/bin/python bench/votes_burst.py --households 3000 --per-minute 3300   # every household in a minute

Without --per-minute the votes go as fast as the server answers them (throughput, and latency under
a queue of C); with it they are sent at that steady rate, and a vote's latency counts from when it
was due (waiting for a connection included).

A fresh database is made on LINLI_BENCH_DATABASE_URL's server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Community,
    CommunityMembership,
    Household,
    Member,
    PollBallot,
    PollElector,
    PollParticipation,
    User,
)
from api.db.session import Database  # noqa: E402
from api.security import issue_access_token  # noqa: E402
from bench.loadgen import (  # noqa: E402
    SECRET,
    burst,
    free_port,
    fresh_database,
    paced,
    percentiles,
    start_server,
    wait_ready,
)


async def seed(db: Database, households: int) -> tuple[int, int, list[tuple[int, int]]]:
    """A community, a staff member, and `households` households of two adults with the app each.
    Returns the community, the staff user and each household's two users."""
    now = clock.now()
    stamp = {"created_at": now, "updated_at": now}
    async with db.session() as session:
        community = Community(name="压测社区", city="", district="", address="", timezone="Asia/Shanghai")
        session.add(community)
        await session.flush()
        users = list(
            (
                await session.execute(
                    insert(User).returning(User.id),
                    [
                        {"openid": f"dev-v{i}", "display_name": f"居民{i}", "is_platform_admin": False, **stamp}
                        for i in range(2 * households + 1)
                    ],
                )
            ).scalars()
        )
        staff, residents = users[0], users[1:]
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
                        for i in range(households)
                    ],
                )
            ).scalars()
        )
        pairs = [(residents[2 * i], residents[2 * i + 1]) for i in range(households)]
        await session.execute(
            insert(Member),
            [
                {
                    "community_id": community.id,
                    "household_id": home,
                    "user_id": user,
                    "display_name": f"居民{user}",
                    "kind": "adult",
                    "status": "active",
                    "is_head": head,
                    **stamp,
                }
                for home, pair in zip(homes, pairs, strict=True)
                for user, head in ((pair[0], True), (pair[1], False))
            ],
        )
        await session.execute(
            insert(CommunityMembership),
            [
                {"community_id": community.id, "user_id": u, "role": "staff" if u == staff else "resident", **stamp}
                for u in users
            ],
        )
        await session.commit()
        return community.id, staff, pairs


async def open_poll(port: int, community_id: int, token: str, secret: bool) -> int:
    """The poll, created and opened through the API as staff would."""
    now = clock.now()
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "kind": "poll",
        "title": "楼顶花园怎么用",
        "body": "楼顶花园改造后怎么用，请每户投一票。",
        "electorate": "household",
        "rule": "majority",
        "secret": secret,
        "opens_at": (now + timedelta(seconds=1)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "questions": [
            {
                "text": "楼顶花园主要用来做什么？",
                "kind": "single",
                "min_choices": 1,
                "max_choices": 1,
                "options": [{"label": "共享菜园"}, {"label": "儿童游戏区"}, {"label": "休闲座椅和晾晒区"}],
            }
        ],
    }
    _, created = await burst(port, 1, [("POST", f"/api/v1/communities/{community_id}/polls", headers, body)])
    if created[0]["status"] != 201:
        raise RuntimeError(f"creating the poll: {created[0]}")
    poll_id = int(created[0]["body"]["id"])
    await asyncio.sleep(1.2)  # the opening time passes: publishing opens it at once
    publish = {**headers, "Idempotency-Key": "bench-publish"}
    _, published = await burst(port, 1, [("POST", f"/api/v1/polls/{poll_id}/publish", publish, {})])
    if published[0]["status"] != 200 or published[0]["body"]["phase"] != "voting":
        raise RuntimeError(f"publishing the poll: {published[0]}")
    return poll_id


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        return await measure(url, args)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(db.engine)
        community_id, staff, pairs = await seed(db, args.households)
        settings = Settings(_env_file=None, jwt_secret=SECRET, database_url=url)  # type: ignore[call-arg]
        port = free_port()
        server = start_server(url, port)
        await wait_ready(port)
        await burst(port, 20, [("GET", "/healthz", {}, None)] * 200)  # warm-up, not counted
        poll_id = await open_poll(port, community_id, issue_access_token(settings, staff).token, args.secret)

        rng = random.Random(16)
        both = set(rng.sample(range(len(pairs)), int(len(pairs) * args.both)))
        voters: list[tuple[int, int]] = []  # (household index, user)
        for i, (first, second) in enumerate(pairs):
            voters.append((i, first))
            if i in both:
                voters.append((i, second))
        rng.shuffle(voters)  # the second member of a household may come first
        requests = [
            (
                "POST",
                f"/api/v1/polls/{poll_id}/ballot",
                {
                    "Authorization": f"Bearer {issue_access_token(settings, user).token}",
                    "Idempotency-Key": f"vote-{n}",
                },
                {"answers": [{"question": 0, "options": [rng.randrange(3)]}]},
            )
            for n, (_, user) in enumerate(voters)
        ]
        if args.per_minute:
            elapsed, results = await paced(port, args.per_minute / 60, args.concurrency, requests)
        else:
            elapsed, results = await burst(port, args.concurrency, requests)

        statuses: dict[int, int] = {}
        accepted: dict[int, int] = {}  # household index → votes accepted
        for r in results:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if r["status"] == 201:
                household = voters[r["index"]][0]
                accepted[household] = accepted.get(household, 0) + 1
        refused_right = all(r["body"]["error"]["code"] == "poll_already_voted" for r in results if r["status"] == 409)
        async with db.session(write=False) as session:
            participations = (
                await session.execute(
                    select(func.count()).select_from(PollParticipation).where(PollParticipation.poll_id == poll_id)
                )
            ).scalar_one()
            distinct_electors = (
                await session.execute(
                    select(func.count(func.distinct(PollParticipation.elector_id))).where(
                        PollParticipation.poll_id == poll_id
                    )
                )
            ).scalar_one()
            ballots = (
                await session.execute(select(func.count()).select_from(PollBallot).where(PollBallot.poll_id == poll_id))
            ).scalar_one()
            roll = (
                await session.execute(
                    select(func.count()).select_from(PollElector).where(PollElector.poll_id == poll_id)
                )
            ).scalar_one()
        correct = (
            participations == distinct_electors == ballots == len(pairs) == roll
            and len(accepted) == len(pairs)
            and all(n == 1 for n in accepted.values())
            and statuses.get(201, 0) == len(pairs)
            and statuses.get(409, 0) == len(both)
            and refused_right
        )
        return {
            "households": len(pairs),
            "requests": len(requests),
            "both_members_pressed": len(both),
            "secret": args.secret,
            "concurrency": args.concurrency,
            "paced_per_minute": args.per_minute or "as fast as answered",
            "seconds": round(elapsed, 2),
            "votes_per_s": round(len(requests) / elapsed, 1),
            "votes_per_minute_answered": None if args.per_minute else round(60 * len(requests) / elapsed),
            **percentiles([r["latency"] for r in results]),
            "statuses": statuses,
            "participations": participations,
            "ballots": ballots,
            "correct": correct,
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--both", type=float, default=0.1, help="share of households where both adults vote")
    parser.add_argument("--secret", action="store_true")
    parser.add_argument(
        "--per-minute", type=int, default=0, help="send at this steady rate (0: as fast as the server answers)"
    )
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>32}: {value}")


if __name__ == "__main__":
    main()
