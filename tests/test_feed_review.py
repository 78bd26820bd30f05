"""What a review of the feed found: staff cannot approve past a photo check still out, a photo is
linked for others only once approved, a join still waiting reads nothing of the community's posts,
odd input is a clear 4xx, a former resident hears no more of the categories they followed."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from api import clock
from api.db.models import Media, Post, PostMedia
from tests.conftest import real_wechat_app
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
PUSH_TOKEN = "linli-push-token"
PUSH_AES_KEY = "kWxPmHq3Lr8tZ2vYc5NbJd7Fg9Ks4Ae6Tu1Wo0Xi2Mp"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 90, 40)).save(out, "JPEG")
    return out.getvalue()


class Place:
    async def build(self, client: httpx.AsyncClient, db: Any) -> Place:
        clock.freeze(NOW)
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await login(client, "chen")
        self.household = (await join(client, self.chen, self.b, room="101"))["household"]["id"]
        self.zhou = await login(client, "zhou")
        await join(client, self.zhou, self.b, room="102")
        return self


async def upload(client: httpx.AsyncClient, person: Person, community_id: int) -> int:
    response = await client.post(
        "/api/v1/media",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        data={"community_id": str(community_id)},
        headers=person.headers,
    )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_staff_cannot_approve_a_post_while_its_photo_is_being_checked(client, app, db):
    place = await Place().build(client, db)
    worker = Worker(db, app.state.settings, app.state.wechat)
    # this 30 s slot's run of the fake's pushes goes now: run with the renditions, it could run
    # after the image check went out and hand its verdict over at once
    await worker.run_until_idle()
    photo = await upload(client, place.chen, place.b)
    await worker.run_until_idle()  # renditions made; the fake's image check is out (its push comes later)
    created = await client.post(
        f"/api/v1/communities/{place.b}/posts",
        json={"body": "这句话待审核", "media_ids": [photo]},
        headers=place.chen.headers,
    )
    post = created.json()["id"]
    await worker.run_until_idle()  # the text check says "review": the staff's queue

    approve = await client.post(f"/api/v1/posts/{post}/moderate", json={"approve": True}, headers=place.staff.headers)
    assert error(approve) == (409, "photos_pending")
    assert approve.json()["error"]["details"]["media_ids"] == [photo]
    assert (await client.get(f"/api/v1/posts/{post}", headers=place.zhou.headers)).status_code == 404
    # the author sees the photo while it is checked; nobody else is handed a link meanwhile
    mine = (await client.get(f"/api/v1/posts/{post}", headers=place.chen.headers)).json()
    assert mine["photos"][0]["urls"] is not None

    clock.advance(timedelta(seconds=31))  # the fake's verdict arrives by push: pass
    await worker.run_until_idle()
    approve = await client.post(f"/api/v1/posts/{post}/moderate", json={"approve": True}, headers=place.staff.headers)
    assert approve.status_code == 200 and approve.json()["status"] == "visible"
    seen = (await client.get(f"/api/v1/posts/{post}", headers=place.zhou.headers)).json()
    assert seen["photos"][0]["urls"] is not None


async def test_a_photo_found_risky_cannot_be_approved_by_staff(database_url):
    async with real_wechat_app(
        database_url, public_url="https://linli.test", wechat_push_token=PUSH_TOKEN, wechat_push_aes_key=PUSH_AES_KEY
    ) as (client, fake, app):
        db = app.state.db
        place = await Place().build(client, db)
        worker = Worker(db, app.state.settings, app.state.wechat)
        photo = await upload(client, place.chen, place.b)
        await worker.run_until_idle()
        post = (
            await client.post(
                f"/api/v1/communities/{place.b}/posts",
                json={"body": "照片", "media_ids": [photo]},
                headers=place.chen.headers,
            )
        ).json()["id"]
        await worker.run_until_idle()
        # staff take it down while the check is out; WeChat then finds the photo risky
        hidden = await client.post(f"/api/v1/posts/{post}/hide", json={"note": "先下架"}, headers=place.staff.headers)
        assert hidden.status_code == 200
        [event] = fake.pushes_due()
        event = {**event, "result": {"suggest": "risky", "label": 20002}}
        body, params = fake.push_body(event, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY)
        pushed = await client.post(
            "/api/v1/wechat/callback", params=params, content=body, headers={"Content-Type": "application/json"}
        )
        assert pushed.text == "success"
        approve = await client.post(
            f"/api/v1/posts/{post}/moderate", json={"approve": True}, headers=place.staff.headers
        )
        assert error(approve) == (409, "photo_rejected")
        assert (await client.get(f"/api/v1/posts/{post}", headers=place.zhou.headers)).status_code == 404


async def test_a_join_still_waiting_for_its_household_reads_nothing_of_the_community(client, app, db):
    place = await Place().build(client, db)
    post = await client.post(
        f"/api/v1/communities/{place.b}/posts",
        json={"body": "孩子们在读绘本", "shows_children": True},
        headers=place.staff.headers,
    )
    post_id = post.json()["id"]
    token = (
        await client.post("/api/v1/shares", json={"target": "post", "id": post_id}, headers=place.chen.headers)
    ).json()["token"]
    # someone gives chen's address: they wait for chen to let them in
    stranger = await login(client, "stranger")
    waiting = await client.post(
        f"/api/v1/communities/{place.b}/join",
        json={"display_name": "陌生人", "building": "1栋", "unit": "1单元", "room": "101"},
        headers=stranger.headers,
    )
    assert waiting.status_code == 201 and waiting.json()["member"]["status"] == "pending"

    assert error(await client.get(f"/api/v1/communities/{place.b}/feed", headers=stranger.headers)) == (
        403,
        "membership_pending",
    )
    assert (await client.get(f"/api/v1/posts/{post_id}", headers=stranger.headers)).status_code == 404
    assert (await client.get(f"/api/v1/posts/{post_id}/comments", headers=stranger.headers)).status_code == 404
    assert (await client.post(f"/api/v1/posts/{post_id}/like", headers=stranger.headers)).status_code == 404
    shared = (await client.get(f"/api/v1/shares/{token}", headers=stranger.headers)).json()
    assert (shared["members_only"], shared["post"], shared["is_member"]) == (True, None, False)
    refused = await client.post(
        "/api/v1/media",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        data={"community_id": str(place.b)},
        headers=stranger.headers,
    )
    assert error(refused) == (403, "membership_pending")

    # once chen lets them in, they are a resident like any other
    member_id = waiting.json()["member"]["id"]
    approved = await client.post(f"/api/v1/members/{member_id}/approve", headers=place.chen.headers)
    assert approved.status_code == 200, approved.text
    feed = (await client.get(f"/api/v1/communities/{place.b}/feed", headers=stranger.headers)).json()
    assert [p["id"] for p in feed["items"]] == [post_id]


async def test_odd_input_is_a_clear_error(client, app, db):
    place = await Place().build(client, db)
    superscript = await client.post(
        "/api/v1/media",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        data={"community_id": "²"},
        headers=place.chen.headers,
    )
    assert error(superscript) == (422, "community_id_invalid")
    nested = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    deep = await client.get(f"/api/v1/communities/{place.b}/feed?cursor={nested[:500]}", headers=place.chen.headers)
    assert error(deep) == (400, "invalid_cursor")
    long = await client.get(f"/api/v1/communities/{place.b}/feed?cursor={'A' * 600}", headers=place.chen.headers)
    assert error(long) == (422, "validation_error")
    huge = await client.post(
        "/api/v1/wechat/callback?timestamp=1&nonce=1&msg_signature=x",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert error(huge) == (413, "push_too_large")


async def test_a_former_resident_hears_no_more_of_a_category_they_followed(client, app, db):
    place = await Place().build(client, db)
    spouse = await login(client, "chen2")
    asked = await client.post(
        f"/api/v1/communities/{place.b}/join",
        json={"display_name": "陈爸爸", "building": "1栋", "unit": "1单元", "room": "101"},
        headers=spouse.headers,
    )
    member_id = asked.json()["member"]["id"]
    assert (await client.post(f"/api/v1/members/{member_id}/approve", headers=place.chen.headers)).status_code == 200
    for person in (place.chen, spouse):
        followed = await client.put(f"/api/v1/communities/{place.b}/follows/categories/elders", headers=person.headers)
        assert followed.status_code == 204
    left = await client.delete(f"/api/v1/members/{member_id}", headers=spouse.headers)  # moved away
    assert left.status_code == 204, left.text

    start = NOW + timedelta(days=3)
    made = await client.post(
        f"/api/v1/communities/{place.b}/activities",
        json={"title": "长者健康讲座", "category": "elders", "location": "会议室", "capacity": 20,
              "start_at": start.isoformat(), "end_at": (start + timedelta(hours=1)).isoformat()},
        headers=place.staff.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    published = await client.post(f"/api/v1/activities/{made.json()['id']}/publish", headers=place.staff.headers)
    assert published.status_code == 200
    chen_inbox = (await client.get("/api/v1/me/inbox", headers=place.chen.headers)).json()["items"]
    spouse_inbox = (await client.get("/api/v1/me/inbox", headers=spouse.headers)).json()["items"]
    assert "category.new_activity" in [e["kind"] for e in chen_inbox]
    assert "category.new_activity" not in [e["kind"] for e in spouse_inbox]


async def test_another_communitys_staff_learn_nothing_of_a_post_or_comment(client, app, db):
    place = await Place().build(client, db)
    post = (
        await client.post(
            f"/api/v1/communities/{place.b}/posts", json={"body": "周末愉快"}, headers=place.staff.headers
        )
    ).json()["id"]
    comment = (
        await client.post(f"/api/v1/posts/{post}/comments", json={"body": "谢谢"}, headers=place.chen.headers)
    ).json()["id"]
    c = (await community(client, place.root, "C社区"))["id"]
    other = await login(client, "c-staff")
    await grant(client, place.root, c, other, "staff")
    for path, body in (
        (f"/api/v1/posts/{post}/hide", {"note": "x"}),
        (f"/api/v1/posts/{post}/moderate", {"approve": False, "note": "x"}),
    ):
        assert error(await client.post(path, json=body, headers=other.headers)) == (404, "post_not_found")
    refused = await client.post(f"/api/v1/comments/{comment}/moderate", json={"approve": False}, headers=other.headers)
    assert error(refused) == (404, "comment_not_found")
    # this community's residents are told it is for staff
    refused = await client.post(f"/api/v1/posts/{post}/hide", json={"note": "x"}, headers=place.zhou.headers)
    assert error(refused) == (403, "staff_only")


async def test_the_database_keeps_uploads_only_while_processing_and_visible_posts_dated(client, app, db):
    place = await Place().build(client, db)
    photo = await upload(client, place.chen, place.b)
    post = (
        await client.post(f"/api/v1/communities/{place.b}/posts", json={"body": "你好"}, headers=place.staff.headers)
    ).json()["id"]
    refusals = [
        # an upload as it came (EXIF, GPS) outliving its processing
        (update(Media).where(Media.id == photo).values(status="approved"), "upload_kept"),
        # a visible post without the moment it became visible
        (update(Post).where(Post.id == post).values(visible_at=None), "visible_at"),
        # a tenth photo
        (insert(PostMedia).values(post_id=post, media_id=photo, position=9), "position"),
    ]
    for statement, constraint in refusals:
        async with db.session() as session:
            with pytest.raises(IntegrityError, match=constraint):
                await session.execute(statement)
