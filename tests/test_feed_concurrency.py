"""The feed under simultaneous taps: likes and unlikes, comments, share opens, double-tapped shares,
WeChat's verdicts on a post's nine photos arriving together, and one person's photos uploaded all at
once past their limit. On PostgreSQL the requests run on real parallel connections; on SQLite they
queue for the single writer, and the same counts must come out."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select

from api.db.models import Comment, Media, Post, PostLike, ShareOpen
from api.main import create_app, shutdown
from tests.conftest import _empty_tables, make_settings, real_wechat_app
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

PUSH_TOKEN = "linli-push-token"
PUSH_AES_KEY = "kWxPmHq3Lr8tZ2vYc5NbJd7Fg9Ks4Ae6Tu1Wo0Xi2Mp"
PUBLIC_URL = "https://linli.test"


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 120, 200 - shade)).save(out, "JPEG")
    return out.getvalue()


async def residents(client: httpx.AsyncClient, db: Any, count: int) -> tuple[int, Person, list[Person]]:
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    people = []
    for n in range(count):
        person = await login(client, f"r{n}")
        await join(client, person, b, f"{n % 9 + 1}栋", "1单元", str(100 + n))
        people.append(person)
    return b, staff, people


async def test_likes_unlikes_and_comments_at_once_keep_their_counts(client, app, db):
    b, staff, people = await residents(client, db, 40)
    post = await client.post(f"/api/v1/communities/{b}/posts", json={"body": "周六读书会照片"}, headers=staff.headers)
    assert post.status_code == 201
    post_id = post.json()["id"]
    # the first 15 liked it yesterday and now take it back; everyone else taps "like" twice at once
    for person in people[:15]:
        assert (await client.post(f"/api/v1/posts/{post_id}/like", headers=person.headers)).status_code == 200

    async def tap(person: Person, n: int) -> int:
        if n < 15:
            return (await client.delete(f"/api/v1/posts/{post_id}/like", headers=person.headers)).status_code
        return (await client.post(f"/api/v1/posts/{post_id}/like", headers=person.headers)).status_code

    async def comment(person: Person) -> int:
        response = await client.post(
            f"/api/v1/posts/{post_id}/comments", json={"body": f"{person.name}：真好"}, headers=person.headers
        )
        return response.status_code

    calls = [tap(p, n) for n, p in enumerate(people)] + [tap(p, n) for n, p in enumerate(people) if n >= 15]
    calls += [comment(p) for p in people[:20]]
    statuses = await asyncio.gather(*calls)
    assert all(code in (200, 201) for code in statuses), statuses
    await Worker(db, app.state.settings, app.state.wechat).run_until_idle()  # the comments' text checks

    async with db.session(write=False) as session:
        stored = (await session.execute(select(Post).where(Post.id == post_id))).scalar_one()
        likes = (await session.execute(select(func.count()).where(PostLike.post_id == post_id))).scalar_one()
        comments = (
            await session.execute(select(func.count()).where(Comment.post_id == post_id, Comment.status == "visible"))
        ).scalar_one()
    assert likes == 25 and stored.like_count == 25  # 40 − the 15 who took theirs back; a double tap is one
    assert comments == 20 and stored.comment_count == 20
    seen = (await client.get(f"/api/v1/posts/{post_id}", headers=people[0].headers)).json()
    assert (seen["like_count"], seen["comment_count"], seen["liked"]) == (25, 20, False)


async def test_a_share_opened_by_many_at_once_counts_each_viewer_once_and_a_double_tap_shares_once(client, db):
    b, staff, people = await residents(client, db, 30)
    activity = await client.post(
        f"/api/v1/communities/{b}/posts", json={"body": "欢迎邻居们", "visibility": "public"}, headers=staff.headers
    )
    post_id = activity.json()["id"]
    sharer = people[0]
    made = await asyncio.gather(
        *(
            client.post("/api/v1/shares", json={"target": "post", "id": post_id}, headers=sharer.headers)
            for _ in range(6)
        )
    )
    assert {r.status_code for r in made} == {201}
    assert len({r.json()["token"] for r in made}) == 1  # one share, however fast the taps
    token = made[0].json()["token"]

    opened = await asyncio.gather(
        *(client.get(f"/api/v1/shares/{token}", headers=p.headers) for p in people[1:] for _ in range(3))
    )
    assert {r.status_code for r in opened} == {200}
    async with db.session(write=False) as session:
        opens = (await session.execute(select(func.count()).select_from(ShareOpen))).scalar_one()
    assert opens == 29  # each viewer once today; the sharer's own opens are not counted
    loop = (await client.get(f"/api/v1/communities/{b}/loop", headers=staff.headers)).json()
    assert (loop["shares"], loop["share_opens"]) == (1, 29)


async def test_nine_verdicts_arriving_together_settle_the_post_once(database_url):
    async with real_wechat_app(
        database_url, public_url=PUBLIC_URL, wechat_push_token=PUSH_TOKEN, wechat_push_aes_key=PUSH_AES_KEY
    ) as (client, fake, app):
        db = app.state.db
        b, _staff, people = await residents(client, db, 2)
        chen, zhou = people
        worker = Worker(db, app.state.settings, app.state.wechat)

        async def post_of_nine(author: Person, shade: int) -> tuple[int, list[dict[str, Any]]]:
            ids = []
            for n in range(9):
                uploaded = await client.post(
                    "/api/v1/media",
                    files={"file": ("p.jpg", jpeg(shade + n), "image/jpeg")},
                    data={"community_id": str(b)},
                    headers=author.headers,
                )
                assert uploaded.status_code == 202, uploaded.text
                ids.append(uploaded.json()["id"])
            await worker.run_until_idle()
            events = fake.pushes_due()  # WeChat's nine verdicts, held back to arrive together
            assert len(events) == 9
            created = await client.post(
                f"/api/v1/communities/{b}/posts", json={"body": "九张照片", "media_ids": ids}, headers=author.headers
            )
            assert created.status_code == 201, created.text
            await worker.run_until_idle()  # the text check passes; the photos are still being checked
            return created.json()["id"], events

        async def push_all(events: list[dict[str, Any]], risky: int | None) -> None:
            async def push(n: int, event: dict[str, Any]) -> int:
                if n == risky:
                    event = {**event, "result": {"suggest": "risky", "label": 20002}}
                body, params = fake.push_body(event, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY)
                response = await client.post(
                    "/api/v1/wechat/callback", params=params, content=body, headers={"Content-Type": "application/json"}
                )
                return response.status_code

            assert set(await asyncio.gather(*(push(n, e) for n, e in enumerate(events)))) == {200}

        clean, clean_traces = await post_of_nine(chen, 0)
        assert (await client.get(f"/api/v1/posts/{clean}", headers=zhou.headers)).status_code == 404
        await push_all(clean_traces, None)
        seen = await client.get(f"/api/v1/posts/{clean}", headers=zhou.headers)
        assert seen.status_code == 200 and len(seen.json()["photos"]) == 9

        spoiled, spoiled_traces = await post_of_nine(chen, 100)
        await push_all(spoiled_traces, 4)
        mine = (await client.get(f"/api/v1/posts/{spoiled}", headers=chen.headers)).json()
        assert mine["status"] == "rejected" and mine["moderation_note"]
        assert (await client.get(f"/api/v1/posts/{spoiled}", headers=zhou.headers)).status_code == 404
        inbox = (await client.get("/api/v1/me/inbox", headers=chen.headers)).json()["items"]
        assert [e["kind"] for e in inbox].count("post.rejected") == 1  # told once, whatever the order


async def test_uploads_at_once_by_one_person_stop_exactly_at_their_limit(database_url, tmp_path):
    media_dir = tmp_path / "media"
    app = create_app(make_settings(database_url, media_dir=str(media_dir), media_uploads_per_window=5))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as client:
            db = app.state.db
            b, _staff, (chen, zhou) = await residents(client, db, 2)

            async def upload(person: Person, shade: int) -> httpx.Response:
                return await client.post(
                    "/api/v1/media",
                    files={"file": ("p.jpg", jpeg(shade), "image/jpeg")},
                    data={"community_id": str(b)},
                    headers=person.headers,
                )

            answers = await asyncio.gather(*(upload(chen, n) for n in range(12)))
            assert sorted(r.status_code for r in answers) == [202] * 5 + [429] * 7
            assert {r.json()["error"]["code"] for r in answers if r.status_code == 429} == {"too_many_uploads"}
            async with db.session(write=False) as session:
                kept = select(func.count()).where(Media.uploaded_by == chen.user_id)
                assert (await session.execute(kept)).scalar_one() == 5
            stored = [p for p in (media_dir / "incoming").rglob("*") if p.is_file()]
            assert len(stored) == 5  # the refused stored nothing
            assert (await upload(zhou, 200)).status_code == 202  # one person's limit is theirs alone
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)
