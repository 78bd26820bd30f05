"""Feed benchmark: residents scrolling their community's feed. 100,000 posts across 10 communities
(60 % with one to three photos, likes, a few pinned, waiting and hidden posts) on PostgreSQL;
100 readers at once against the real server (uvicorn, one process), 70 % first pages (with the
pinned posts and the reader's own waiting posts) and 30 % later pages by cursor. The same server's
trivial JSON endpoint (`/healthz`) at the same concurrency is the ceiling to compare with, and
`GET /api/v1/me` (log-in check and one row) what any authenticated request costs.

    .venv/bin/python bench/feed.py --posts 100000 --communities 10 --requests 5000 --concurrency 100

Every answer is checked: 200, newest first, no post of another community, nothing hidden or
waiting among the items. Results go in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Community,
    CommunityMembership,
    Household,
    Media,
    Member,
    Post,
    PostLike,
    PostMedia,
    User,
)
from api.db.session import Database  # noqa: E402
from api.security import issue_access_token  # noqa: E402
from bench.loadgen import SECRET, burst, free_port, fresh_database, percentiles, start_server, wait_ready  # noqa: E402

BATCH = 5000


async def _insert(session: Any, model: Any, rows: list[dict[str, Any]], returning: Any = None) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        if returning is not None:
            ids.extend((await session.execute(insert(model).returning(returning), chunk)).scalars())
        else:
            await session.execute(insert(model), chunk)
    return ids


async def seed(db: Database, communities: int, posts: int, residents: int) -> dict[str, Any]:
    """`communities` communities of `residents` one-person households and a social worker each,
    and `posts` posts spread over the last year among them."""
    rng = random.Random(7)
    now = clock.now()
    stamp = {"created_at": now, "updated_at": now}
    world: dict[str, Any] = {"communities": []}
    per_community = posts // communities
    async with db.session() as session:
        for c in range(communities):
            community = Community(name=f"动态压测社区{c}", city="", district="", address="", timezone="Asia/Shanghai")
            session.add(community)
            await session.flush()
            staff = User(openid=f"dev-feed-staff-{c}", display_name=f"社工{c}", **stamp)
            session.add(staff)
            await session.flush()
            session.add(CommunityMembership(community_id=community.id, user_id=staff.id, role="staff"))
            users = await _insert(
                session,
                User,
                [{"openid": f"dev-f{c}-{i}", "display_name": f"居民{c}-{i}", "is_platform_admin": False, **stamp}
                 for i in range(residents)],
                User.id,
            )  # fmt: skip
            homes = await _insert(
                session,
                Household,
                [{"community_id": community.id, "building": f"{i % 20 + 1}栋", "unit": "1单元", "room": str(i),
                  "address_key": f"{i % 20 + 1}|1|{i}", **stamp} for i in range(residents)],
                Household.id,
            )  # fmt: skip
            await _insert(
                session,
                Member,
                [{"community_id": community.id, "household_id": h, "user_id": u, "display_name": f"居民{u}",
                  "kind": "adult", "status": "active", "is_head": True, **stamp}
                 for u, h in zip(users, homes, strict=True)],
            )  # fmt: skip
            await _insert(
                session,
                CommunityMembership,
                [{"community_id": community.id, "user_id": u, "role": "resident", **stamp} for u in users],
            )
            post_rows = []
            for n in range(per_community):
                at = now - timedelta(seconds=rng.randrange(365 * 86400))
                by_staff = n % 25 == 0
                roll = rng.random()
                status = "visible" if roll < 0.97 else "review" if roll < 0.99 else "hidden"
                photos = 1 + n % 3 if n % 5 < 3 else 0
                post_rows.append(
                    {"community_id": community.id, "author_id": staff.id if by_staff else rng.choice(users),
                     "activity_id": None, "body": f"第{n}条动态：今天的读书会来了好多小朋友，大家一起读了绘本。",
                     "visibility": "community", "shows_children": False, "by_staff": by_staff,
                     "pinned": by_staff and n < 75, "status": status, "text_verdict": "pass",
                     "photo_count": photos, "like_count": 0, "comment_count": rng.randrange(4), "report_count": 0,
                     "visible_at": at if status == "visible" else None, "created_at": at, "updated_at": at}
                )  # fmt: skip
            post_ids = await _insert(session, Post, post_rows, Post.id)
            media_rows, owners = [], []
            for post_id, row in zip(post_ids, post_rows, strict=True):
                for k in range(row["photo_count"]):
                    media_rows.append(
                        {"community_id": community.id, "uploaded_by": row["author_id"], "status": "approved",
                         "kind": "jpeg", "size_bytes": 900_000, "width": 1080, "height": 810,
                         "key": f"media/{community.id}/bench/{post_id}-{k}", **stamp}
                    )  # fmt: skip
                    owners.append((post_id, k))
            media_ids = await _insert(session, Media, media_rows, Media.id)
            await _insert(
                session,
                PostMedia,
                [{"post_id": p, "media_id": m, "position": k} for (p, k), m in zip(owners, media_ids, strict=True)],
            )
            # the first hundred readers each liked 50 of the newest 500 posts
            newest = [p for _, p in sorted(zip([r["created_at"] for r in post_rows], post_ids, strict=True))[-500:]]
            likes = {(u, p) for u in users[:100] for p in rng.sample(newest, 50)}
            await _insert(session, PostLike, [{"post_id": p, "user_id": u, "created_at": now} for u, p in likes])
            await session.execute(
                text(
                    "UPDATE posts SET like_count ="
                    " (SELECT count(*) FROM post_likes WHERE post_likes.post_id = posts.id)"
                    " WHERE community_id = :c"
                ),
                {"c": community.id},
            )
            world["communities"].append({"id": community.id, "readers": users[:100]})
            await session.commit()
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return world


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _check(body: dict[str, Any], community_id: int) -> bool:
    items = body["items"]
    order = [(p["created_at"], p["id"]) for p in items]
    return (
        all(p["status"] in (None, "visible") for p in items)
        and all(p["community_id"] == community_id for p in items + body["pinned"])
        and order == sorted(order, reverse=True)
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database() as url:
        return await measure(url, args)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(db.engine)
        seeded = clock.now()
        world = await seed(db, args.communities, args.posts, args.residents)
        seconds_to_seed = (clock.now() - seeded).total_seconds()
        settings = Settings(_env_file=None, jwt_secret=SECRET, database_url=url)  # type: ignore[call-arg]
        readers = [(c["id"], issue_access_token(settings, u).token) for c in world["communities"] for u in c["readers"]]
        port = free_port()
        server = start_server(url, port)
        await wait_ready(port)
        await burst(port, 20, [("GET", "/healthz", {}, None)] * 200)

        # later pages: walk each community's feed a few pages deep and keep the cursors
        cursors: dict[int, list[str]] = {}
        for community_id, token in readers[:: len(world["communities"][0]["readers"])]:
            path, found = f"/api/v1/communities/{community_id}/feed?limit=20", []
            for _ in range(10):
                _, [answer] = await burst(port, 1, [("GET", path, {"Authorization": f"Bearer {token}"}, None)])
                cursor = answer["body"]["next_cursor"]
                found.append(cursor)
                path = f"/api/v1/communities/{community_id}/feed?limit=20&cursor={quote(cursor)}"
            cursors[community_id] = found

        rng = random.Random(args.seed)
        requests, kinds = [], []
        for _ in range(args.requests):
            community_id, token = rng.choice(readers)
            path = f"/api/v1/communities/{community_id}/feed?limit=20"
            later = rng.random() < 0.3
            if later:
                path += f"&cursor={quote(rng.choice(cursors[community_id]))}"
            requests.append(("GET", path, {"Authorization": f"Bearer {token}"}, None))
            kinds.append(("later" if later else "first", community_id))
        cpu_before = _cpu_seconds(server.pid)
        elapsed, results = await burst(port, args.concurrency, requests)
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        trivial_elapsed, trivial = await burst(port, args.concurrency, [("GET", "/healthz", {}, None)] * args.requests)
        # an authenticated request that reads one row (the caller): the framework's and the login's share
        me_elapsed, me = await burst(
            port,
            args.concurrency,
            [("GET", "/api/v1/me", {"Authorization": f"Bearer {rng.choice(readers)[1]}"}, None)] * args.requests,
        )

        by_kind: dict[str, list[float]] = {"first": [], "later": []}
        wrong = 0
        for r in results:
            kind, community_id = kinds[r["index"]]
            by_kind[kind].append(r["latency"])
            if r["status"] != 200 or not _check(r["body"], community_id):
                wrong += 1
        sample = results[0]["body"]
        return {
            "posts": args.posts,
            "communities": args.communities,
            "concurrency": args.concurrency,
            "seconds_to_seed": round(seconds_to_seed, 1),
            "feed": {
                "requests": len(results),
                "per_second": round(len(results) / elapsed, 1),
                "all": percentiles([r["latency"] for r in results]),
                "first_page": percentiles(by_kind["first"]),
                "later_page": percentiles(by_kind["later"]),
                "wrong_answers": wrong,
                "server_cpu_ms_per_request": round(server_cpu * 1000 / len(results), 2),
                "bytes_per_page": len(json.dumps(sample, ensure_ascii=False).encode()),
            },
            "me": {
                "per_second": round(len(me) / me_elapsed, 1),
                "all": percentiles([r["latency"] for r in me]),
                "statuses": sorted({r["status"] for r in me}),
            },
            "healthz": {
                "per_second": round(len(trivial) / trivial_elapsed, 1),
                "all": percentiles([r["latency"] for r in trivial]),
                "statuses": sorted({r["status"] for r in trivial}),
            },
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--communities", type=int, default=10)
    parser.add_argument("--residents", type=int, default=300, help="households per community")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
