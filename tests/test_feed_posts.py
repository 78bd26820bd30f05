"""Posts through the HTTP API: who may post where, moderation states and who sees what, the
children flag, the feed's pages, likes, comments, reports, and the activity and growth albums.

Photos are small pictures made with Pillow, uploaded and processed by the worker. In fake WeChat
mode the configured words and image verdict decide the checks; the photo-verdict test runs the
app in real mode against the fake WeChat server and delivers WeChat's push by hand.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from api import clock
from api.wechat.client import fake_wechat
from tests.conftest import make_settings, real_wechat_app
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
PUBLIC_URL = "http://linli.test"  # the test client's base: photo URLs can be fetched back
PUSH_TOKEN = "feed-test-push-token"
PUSH_AES_KEY = base64.b64encode(b"feed-posts-test-aes-key-32-bytes").decode().rstrip("=")


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600, public_url=PUBLIC_URL)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


async def drain(app: Any) -> None:
    """Everything the worker has to do: renditions, text checks, image checks — and then, half a
    minute later, the fake WeChat's pushed image verdicts (a periodic job in fake mode)."""
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()
    clock.advance(timedelta(seconds=31))
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


def jpeg(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


class W:
    """Community B with its staff, the Chen household (chen, his wife li, their daughter 小雨),
    the Zhou and Sun households; community C with its resident wang."""

    async def build(self, client: httpx.AsyncClient, db: Any) -> W:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await login(client, "chen")
        joined = await join(client, self.chen, self.b, room="101")
        self.chen_home, self.chen_me = joined["household"]["id"], joined["member"]["id"]
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "小雨", 2018))["id"]
        self.li = await login(client, "li")
        pending = await join(client, self.li, self.b, room="101")
        approved = await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=self.chen.headers)
        assert approved.status_code == 200, approved.text
        self.zhou = await login(client, "zhou")
        joined = await join(client, self.zhou, self.b, room="102")
        self.zhou_me = joined["member"]["id"]
        self.sun = await login(client, "sun")
        await join(client, self.sun, self.b, room="103")
        self.wang = await login(client, "wang")
        await join(client, self.wang, self.c, room="201")
        return self

    async def activity_now(self) -> dict[str, Any]:
        """An activity of B starting in ten minutes: its check-in is open."""
        return await activity(
            self.client,
            self.staff,
            self.b,
            start_at=(NOW + timedelta(minutes=10)).isoformat(),
            end_at=(NOW + timedelta(hours=1)).isoformat(),
        )

    async def came(self, activity_id: int, person: Person, member_ids: list[int]) -> None:
        """`person` books `member_ids` and staff check the booking in."""
        booked = await book(self.client, person, activity_id, member_ids)
        assert booked.status_code == 201, booked.text
        checked = await self.client.post(
            f"/api/v1/activities/{activity_id}/checkins",
            json={"booking_id": booked.json()["id"]},
            headers=self.staff.headers,
        )
        assert checked.status_code == 200, checked.text

    async def upload(self, person: Person, community_id: int | None = None, **image: Any) -> int:
        response = await self.client.post(
            "/api/v1/media",
            data={"community_id": str(community_id or self.b)},
            files={"file": ("photo.jpg", jpeg(**image), "image/jpeg")},
            headers=person.headers,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def post(self, person: Person, community_id: int | None = None, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/communities/{community_id or self.b}/posts", json=body, headers=person.headers
        )

    async def posted(self, person: Person, **body: Any) -> dict[str, Any]:
        response = await self.post(person, **body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, person: Person, path: str) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", headers=person.headers)

    async def detail(self, person: Person, post_id: int) -> httpx.Response:
        return await self.get(person, f"/posts/{post_id}")

    async def feed_ids(self, person: Person) -> list[int]:
        response = await self.get(person, f"/communities/{self.b}/feed?limit=100")
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    async def queue(self) -> dict[str, list[int]]:
        response = await self.get(self.staff, f"/communities/{self.b}/moderation")
        assert response.status_code == 200, response.text
        return {kind: [x["id"] for x in items] for kind, items in response.json().items()}

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        response = await self.get(person, "/me/inbox")
        assert response.status_code == 200, response.text
        return [e for e in response.json()["items"] if e["kind"].startswith("post.")]

    async def moderate(
        self, post_id: int, approve: bool, note: str | None = None, by: Person | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/posts/{post_id}/moderate",
            json={"approve": approve, "note": note},
            headers=(by or self.staff).headers,
        )


@pytest.fixture
async def w(client, db) -> W:
    return await W().build(client, db)


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- writing a post --------------------------------------------------------------------------------


async def test_a_post_carries_up_to_nine_of_my_own_photos_of_this_community(client, app, w):
    mine = [await w.upload(w.chen, color=(20 * n, 100, 200)) for n in range(10)]
    not_mine = await w.upload(w.zhou)
    outsider = await client.post(
        "/api/v1/media",
        data={"community_id": str(w.b)},
        files={"file": ("photo.jpg", jpeg(), "image/jpeg")},
        headers=w.wang.headers,
    )
    assert error(outsider) == (403, "not_a_member")
    other_community = await w.upload(w.root, w.c)  # the platform admin is a member everywhere

    ten = await w.post(w.chen, body="十张", media_ids=mine)
    assert error(ten) == (422, "validation_error")
    assert ten.json()["error"]["details"][0]["loc"] == ["body", "media_ids"]
    someone_elses = await w.post(w.chen, body="借用", media_ids=[mine[0], not_mine])
    assert error(someone_elses) == (422, "media_not_found")
    assert someone_elses.json()["error"]["details"] == {"media_id": not_mine}
    elsewhere = await w.post(w.root, body="别的社区的照片", media_ids=[other_community])
    assert error(elsewhere) == (422, "media_not_found")
    assert error(await w.post(w.chen, body="两次", media_ids=[mine[0], mine[0]])) == (422, "media_repeated")
    assert error(await w.post(w.chen, body="", media_ids=[])) == (422, "post_empty")

    nine = await w.posted(w.chen, body="九张照片", media_ids=mine[:9])
    assert [p["id"] for p in nine["photos"]] == mine[:9]  # in the order chosen
    assert nine["status"] == "checking" and all(p["urls"] is None for p in nine["photos"])  # not processed yet
    again = await w.post(w.chen, body="再用一次", media_ids=[mine[0]])
    assert error(again) == (409, "media_in_use")
    assert (await w.detail(w.zhou, nine["id"])).status_code == 404

    await drain(app)
    seen = (await w.detail(w.zhou, nine["id"])).json()
    assert seen["status"] is None and len(seen["photos"]) == 9
    assert set(seen["photos"][0]["urls"]) == {"thumb", "feed", "large"}
    (item,) = (await w.get(w.zhou, f"/communities/{w.b}/feed")).json()["items"]
    assert item["id"] == nine["id"] and set(item["photos"][0]["urls"]) == {"thumb", "feed"}
    thumb = await client.get(item["photos"][0]["urls"]["thumb"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"

    # a photo WeChat found risky cannot be used; the tenth, still unused, can
    fake = fake_wechat(app.state.wechat.http)
    assert fake is not None
    fake.script_media_verdict("risky")
    risky = await w.upload(w.chen)
    await drain(app)
    assert (await w.get(w.chen, f"/media/{risky}")).json()["status"] == "rejected"
    assert error(await w.post(w.chen, body="这张呢", media_ids=[risky])) == (422, "media_unusable")
    assert (await w.post(w.chen, body="第十张", media_ids=[mine[9]])).status_code == 201


async def test_only_staff_and_households_that_checked_in_post_to_an_activity_album(client, w):
    a = await w.activity_now()
    chen_booking = await book(client, w.chen, a["id"], [w.chen_me, w.xiaoyu])
    assert chen_booking.status_code == 201, chen_booking.text
    zhou_booking = await book(client, w.zhou, a["id"], [w.zhou_me])
    assert zhou_booking.status_code == 201, zhou_booking.text
    to_album = {"body": "今天的活动真好", "activity_id": a["id"]}

    for person in (w.chen, w.li, w.zhou, w.sun):  # nobody has checked in yet
        assert error(await w.post(person, **to_album)) == (403, "not_an_attendee")
    by_staff = await w.posted(w.staff, body="活动预告", activity_id=a["id"])  # staff always may
    assert by_staff["status"] == "visible" and by_staff["activity"] == {"id": a["id"], "title": a["title"]}

    # only 小雨 is checked in: her guardian and the rest of her household may post
    checked = await client.post(
        f"/api/v1/activities/{a['id']}/checkins",
        json={"booking_id": chen_booking.json()["id"], "attendee_ids": [w.xiaoyu]},
        headers=w.staff.headers,
    )
    assert checked.status_code == 200, checked.text
    assert (await w.post(w.chen, **to_album)).status_code == 201
    assert (await w.post(w.li, **to_album)).status_code == 201  # a household member of the attendee
    assert error(await w.post(w.zhou, **to_album)) == (403, "not_an_attendee")  # booked, did not come
    assert error(await w.post(w.sun, **to_album)) == (403, "not_an_attendee")  # never booked
    assert (await w.post(w.sun, body="没有活动的动态")).status_code == 201  # the community feed is open to all

    draft = await activity(client, w.staff, w.b, publish=False, title="草稿")
    assert error(await w.post(w.staff, body="x", activity_id=draft["id"])) == (422, "activity_not_found")
    elsewhere = await activity(client, w.root, w.c, title="C的活动")
    assert error(await w.post(w.staff, body="x", activity_id=elsewhere["id"])) == (422, "activity_not_found")
    assert error(await w.post(w.wang, body="串门")) == (403, "not_a_member")


# -- moderation --------------------------------------------------------------------------------------


async def test_text_check_decides_who_sees_a_post_and_staff_decide_the_unsure(client, app, w):
    fine = await w.posted(w.chen, body="楼下的桂花开了")
    unsure = await w.posted(w.chen, body="这条待审核的动态")
    refused_by_staff = await w.posted(w.chen, body="另一条待审核")
    risky = await w.posted(w.chen, body="这里有违禁词")
    ids = [fine["id"], unsure["id"], refused_by_staff["id"], risky["id"]]

    # before the check: the author and staff only
    assert [(await w.detail(w.chen, i)).json()["status"] for i in ids] == ["checking"] * 4
    assert [(await w.detail(w.staff, i)).json()["status"] for i in ids] == ["checking"] * 4
    assert [(await w.detail(w.zhou, i)).status_code for i in ids] == [404] * 4
    assert await w.feed_ids(w.zhou) == [] and await w.feed_ids(w.chen) == []

    await drain(app)
    assert await w.feed_ids(w.zhou) == [fine["id"]]
    assert (await w.detail(w.zhou, fine["id"])).json()["status"] is None  # others never see a status
    statuses = {i: (await w.detail(w.chen, i)).json() for i in ids}
    assert [statuses[i]["status"] for i in ids] == ["visible", "review", "review", "rejected"]
    assert "时政" in statuses[risky["id"]]["moderation_note"]  # the fake's risky label, 20001
    for i in ids[1:]:
        assert (await w.detail(w.zhou, i)).status_code == 404
        assert (await w.detail(w.li, i)).status_code == 404  # the author's household is not the author
    waiting = (await w.get(w.chen, f"/communities/{w.b}/feed")).json()["mine_waiting"]
    assert [p["id"] for p in waiting] == [risky["id"], refused_by_staff["id"], unsure["id"]]
    assert (await w.get(w.zhou, f"/communities/{w.b}/feed")).json()["mine_waiting"] == []
    assert await w.queue() == {"posts": [unsure["id"], refused_by_staff["id"]], "comments": []}
    assert [e["kind"] for e in await w.inbox(w.chen)] == ["post.rejected"]  # the risky one

    # staff decide; residents may not
    assert error(await w.moderate(unsure["id"], True, by=w.chen)) == (403, "staff_only")
    assert error(await w.get(w.chen, f"/communities/{w.b}/moderation")) == (403, "staff_only")
    approved = await w.moderate(unsure["id"], True)
    assert approved.status_code == 200 and approved.json()["status"] == "visible"
    assert error(await w.moderate(refused_by_staff["id"], False)) == (422, "reason_required")
    rejected = await w.moderate(refused_by_staff["id"], False, "与社区无关的内容")
    assert rejected.json()["status"] == "rejected" and rejected.json()["moderation_note"] == "与社区无关的内容"
    assert error(await w.moderate(refused_by_staff["id"], True)) == (409, "post_not_waiting")
    assert error(await w.moderate(risky["id"], True)) == (409, "post_not_waiting")

    assert await w.queue() == {"posts": [], "comments": []}
    assert await w.feed_ids(w.zhou) == [unsure["id"], fine["id"]]
    assert (await w.detail(w.zhou, refused_by_staff["id"])).status_code == 404
    mine = (await w.detail(w.chen, refused_by_staff["id"])).json()
    assert (mine["status"], mine["moderation_note"]) == ("rejected", "与社区无关的内容")
    notes = await w.inbox(w.chen)
    assert [e["kind"] for e in notes] == ["post.rejected", "post.rejected"]
    assert "与社区无关的内容" in notes[0]["body"] and f"id={refused_by_staff['id']}" in notes[0]["page"]


async def test_staff_posts_need_no_check_and_staff_hide_any_post_later(client, app, w):
    a = await w.activity_now()
    await w.came(a["id"], w.chen, [w.chen_me])
    news = await w.posted(w.staff, body="本周活动回顾（待审核两字对社工不算）")
    assert news["status"] == "visible" and news["author"]["staff"] is True
    story = await w.posted(w.chen, body="孩子们画了一下午", activity_id=a["id"], member_ids=[w.xiaoyu])
    early = await w.posted(w.chen, body="还没检查完就被下架", activity_id=a["id"])
    taken_down = await client.post(f"/api/v1/posts/{early['id']}/hide", json={"note": "重复"}, headers=w.staff.headers)
    assert taken_down.json()["status"] == "hidden"
    await drain(app)  # the text check passing does not bring it back
    assert (await w.detail(w.chen, early["id"])).json()["status"] == "hidden"
    album = f"/activities/{a['id']}/album"
    assert [p["id"] for p in (await w.get(w.zhou, album)).json()["items"]] == [story["id"]]
    assert await w.feed_ids(w.zhou) == [story["id"], news["id"]]

    assert error(
        await w.client.post(f"/api/v1/posts/{story['id']}/hide", json={"note": "x"}, headers=w.zhou.headers)
    ) == (403, "staff_only")
    no_note = await client.post(f"/api/v1/posts/{story['id']}/hide", json={}, headers=w.staff.headers)
    assert error(no_note) == (422, "validation_error")
    hidden = await client.post(
        f"/api/v1/posts/{story['id']}/hide", json={"note": "照片里有人不愿公开"}, headers=w.staff.headers
    )
    assert hidden.status_code == 200 and hidden.json()["status"] == "hidden"
    for person in (w.zhou, w.li, w.sun):
        assert (await w.detail(person, story["id"])).status_code == 404
        assert await w.feed_ids(person) == [news["id"]]
        assert (await w.get(person, album)).json()["items"] == []
    assert (await w.get(w.li, f"/members/{w.xiaoyu}/album")).json()["items"] == []
    mine = (await w.detail(w.chen, story["id"])).json()
    assert (mine["status"], mine["moderation_note"]) == ("hidden", "照片里有人不愿公开")
    notes = await w.inbox(w.chen)  # newest first
    assert [e["kind"] for e in notes] == ["post.rejected", "post.rejected"]
    assert "照片里有人不愿公开" in notes[0]["body"] and f"id={story['id']}" in notes[0]["page"]
    own = await client.post(f"/api/v1/posts/{news['id']}/hide", json={"note": "过时了"}, headers=w.staff.headers)
    assert own.json()["status"] == "hidden" and await w.feed_ids(w.zhou) == []
    # staff may bring a hidden post back
    back = await w.moderate(story["id"], True)
    assert back.json()["status"] == "visible" and await w.feed_ids(w.zhou) == [story["id"]]


async def test_a_photo_post_waits_for_wechats_pushed_verdict(database_url):
    async with real_wechat_app(
        database_url,
        jwt_ttl_seconds=30 * 24 * 3600,
        public_url=PUBLIC_URL,
        wechat_push_token=PUSH_TOKEN,
        wechat_push_aes_key=PUSH_AES_KEY,
    ) as (client, fake, application):
        w = await W().build(client, application.state.db)

        async def run_worker() -> None:
            await Worker(application.state.db, application.state.settings, application.state.wechat).run_until_idle()

        async def push(event: dict[str, Any]) -> None:
            body, params = fake.push_body(event, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY)
            query = {k: params[k] for k in ("timestamp", "nonce", "msg_signature")}
            answered = await client.post(
                "/api/v1/wechat/callback", params=query, content=body, headers={"Content-Type": "application/json"}
            )
            assert answered.status_code == 200 and answered.text == "success"

        photos = [await w.upload(w.chen, color=(n * 60, 90, 90)) for n in range(3)]
        posts = [(await w.posted(w.chen, body=f"第{n}张照片", media_ids=[m])) for n, m in enumerate(photos)]
        by_staff = await w.posted(w.staff, body="社工拍的合影", media_ids=[await w.upload(w.staff)])
        assert by_staff["status"] == "checking"  # its photo is being processed
        await run_worker()  # renditions made, text passed, the image checks asked for
        assert fake.count("/wxa/media_check_async") == 3  # residents' photos only: staff need no check
        assert await w.feed_ids(w.zhou) == [by_staff["id"]]
        # WeChat fetches each photo's feed rendition; its verdicts: pass, review, risky, in photo order
        checked = {httpx.URL(c["media_url"]).path: c["trace_id"] for c in fake.media_checks}
        for photo, suggest in zip(photos, ("pass", "review", "risky"), strict=True):
            feed_url = (await w.get(w.chen, f"/media/{photo}")).json()["urls"]["feed"]
            fake.verdicts[checked[httpx.URL(feed_url).path]] = suggest
        for post in posts:
            assert (await w.detail(w.chen, post["id"])).json()["status"] == "checking"
            assert (await w.detail(w.staff, post["id"])).json()["status"] == "checking"
            assert (await w.detail(w.zhou, post["id"])).status_code == 404
        mine = (await w.detail(w.chen, posts[0]["id"])).json()
        assert mine["photos"][0]["urls"] is not None  # the author sees the photo while it is checked
        assert await w.feed_ids(w.zhou) == [by_staff["id"]]

        events = fake.pushes_due()
        assert sorted(e["result"]["suggest"] for e in events) == ["pass", "review", "risky"]
        for event in events:
            await push(event)
        (risky,) = [e for e in events if e["result"]["suggest"] == "risky"]
        await push(risky | {"result": {"suggest": "pass", "label": 100}})  # a replay changes nothing
        assert await w.feed_ids(w.zhou) == [by_staff["id"], posts[0]["id"]]
        assert [(await w.detail(w.chen, p["id"])).json()["status"] for p in posts] == ["visible", "review", "rejected"]
        assert (await w.detail(w.chen, posts[2]["id"])).json()["moderation_note"] == "有照片未通过安全检查"
        assert await w.queue() == {"posts": [posts[1]["id"]], "comments": []}
        assert [e["kind"] for e in await w.inbox(w.chen)] == ["post.rejected"]
        assert (await w.moderate(posts[1]["id"], True)).json()["status"] == "visible"
        assert await w.feed_ids(w.zhou) == [by_staff["id"], posts[1]["id"], posts[0]["id"]]
        assert (await w.get(w.chen, f"/media/{photos[1]}")).json()["status"] == "approved"


# -- children and other communities ----------------------------------------------------------------


async def test_a_post_showing_children_stays_in_the_community(client, app, w):
    shown = {"body": "小雨的画", "visibility": "public", "shows_children": True}
    assert error(await w.post(w.chen, **shown)) == (422, "children_community_only")
    tagged = {"body": "小雨的画", "visibility": "public", "member_ids": [w.xiaoyu]}
    assert error(await w.post(w.chen, **tagged)) == (422, "children_community_only")
    with_child = await w.posted(w.chen, body="小雨的画", member_ids=[w.xiaoyu])
    assert (with_child["shows_children"], with_child["visibility"]) == (True, "community")
    public = await w.posted(w.chen, body="社区花园的新长椅", visibility="public")
    assert (public["shows_children"], public["visibility"]) == (False, "public")
    await drain(app)

    share = (
        await client.post("/api/v1/shares", json={"target": "post", "id": public["id"]}, headers=w.chen.headers)
    ).json()
    opened = await w.get(w.wang, f"/shares/{share['token']}")
    assert opened.status_code == 200 and opened.json()["post"]["id"] == public["id"]
    assert opened.json()["members_only"] is False

    async def outsider_gets_nothing() -> None:
        opened = await w.get(w.wang, f"/shares/{share['token']}")
        assert opened.status_code == 200 and opened.json()["members_only"] is True
        assert opened.json()["post"] is None and "长椅" not in opened.text

    # staff see children in the photos: from now on it is the community's only
    assert error(
        await client.patch(f"/api/v1/posts/{public['id']}", json={"shows_children": True}, headers=w.zhou.headers)
    ) == (404, "post_not_found")
    flagged = await client.patch(
        f"/api/v1/posts/{public['id']}", json={"shows_children": True}, headers=w.staff.headers
    )
    assert (flagged.json()["shows_children"], flagged.json()["visibility"]) == (True, "community")
    await outsider_gets_nothing()
    assert (await w.get(w.zhou, f"/shares/{share['token']}")).json()["post"]["id"] == public["id"]
    # taking the flag off again does not make it public
    unflagged = await client.patch(
        f"/api/v1/posts/{public['id']}", json={"shows_children": False}, headers=w.staff.headers
    )
    assert (unflagged.json()["shows_children"], unflagged.json()["visibility"]) == (False, "community")
    await outsider_gets_nothing()

    # the author may flag their own; only staff pin
    own = await w.posted(w.sun, body="带娃去了图书角", visibility="public")
    by_author = await client.patch(f"/api/v1/posts/{own['id']}", json={"shows_children": True}, headers=w.sun.headers)
    assert (by_author.json()["shows_children"], by_author.json()["visibility"]) == (True, "community")
    pin = await client.patch(f"/api/v1/posts/{own['id']}", json={"pinned": True}, headers=w.sun.headers)
    assert error(pin) == (403, "staff_only")


async def test_another_communitys_resident_never_sees_this_communitys_posts(client, app, w):
    a = await w.activity_now()
    post = await w.posted(w.staff, body="亲子活动照片", activity_id=a["id"], shows_children=True)
    public = await w.posted(w.staff, body="公开的动态", visibility="public")
    for p in (post, public):
        assert (await w.detail(w.zhou, p["id"])).status_code == 200
        assert error(await w.detail(w.wang, p["id"])) == (404, "post_not_found")
        assert error(await w.get(w.wang, f"/posts/{p['id']}/comments")) == (404, "post_not_found")
        like = await client.post(f"/api/v1/posts/{p['id']}/like", headers=w.wang.headers)
        assert error(like) == (404, "post_not_found")
        comment = await client.post(f"/api/v1/posts/{p['id']}/comments", json={"body": "看看"}, headers=w.wang.headers)
        assert error(comment) == (404, "post_not_found")
        report = await client.post(f"/api/v1/posts/{p['id']}/report", json={"reason": "x"}, headers=w.wang.headers)
        assert error(report) == (404, "post_not_found")
    assert error(await w.get(w.wang, f"/communities/{w.b}/feed")) == (403, "not_a_member")
    assert error(await w.get(w.wang, f"/activities/{a['id']}/album")) == (404, "activity_not_found")
    assert error(await w.get(w.wang, f"/members/{w.xiaoyu}/album")) == (404, "member_not_found")
    # and their own community's feed holds nothing of B's
    assert (await w.get(w.wang, f"/communities/{w.c}/feed")).json()["items"] == []
    assert len((await w.get(w.zhou, f"/activities/{a['id']}/album")).json()["items"]) == 1


# -- the feed, likes, comments, reports ------------------------------------------------------------


async def test_the_feed_pages_newest_first_with_pinned_posts_on_the_first_page(client, app, w):
    made: list[int] = []
    for n in range(25):
        if n % 3 == 0:
            clock.advance(timedelta(minutes=1))  # some posts share a second: the id breaks the tie
        author = w.staff if n % 2 else w.sun
        made.append((await w.posted(author, body=f"第{n}条")).get("id"))
    waiting = await w.posted(w.chen, body="一条待审核")
    await drain(app)
    for n in (3, 11):
        pinned = await client.patch(f"/api/v1/posts/{made[n]}", json={"pinned": True}, headers=w.staff.headers)
        assert pinned.status_code == 200 and pinned.json()["pinned"] is True

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        path = f"/communities/{w.b}/feed?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = (await w.get(w.zhou, path)).json()
        pages += 1
        if pages == 1:
            assert [p["id"] for p in page["pinned"]] == [made[11], made[3]]
            assert all(p["pinned"] and p["author"]["staff"] for p in page["pinned"])
        else:
            assert page["pinned"] == [] and page["mine_waiting"] == []
        assert len(page["items"]) <= 4
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # newest first; every visible post once (the pinned ones on top of the first page, not again
    # below); the waiting one not
    assert seen == [p for p in reversed(made) if p not in (made[3], made[11])]
    assert pages == 6 and waiting["id"] not in seen
    first = (await w.get(w.zhou, f"/communities/{w.b}/feed?limit=1")).json()
    assert set(first["items"][0]) >= {"photos", "like_count", "comment_count", "liked"}
    bad = await w.get(w.zhou, f"/communities/{w.b}/feed?cursor=not-a-cursor")
    assert error(bad) == (400, "invalid_cursor")


async def test_likes_are_idempotent_and_each_reader_sees_their_own(client, app, w):
    post = await w.posted(w.staff, body="欢迎大家来玩")
    waiting = await w.posted(w.chen, body="待审核的话")
    await drain(app)
    like = f"/api/v1/posts/{post['id']}/like"

    async def item(person: Person) -> dict[str, Any]:
        (only,) = (await w.get(person, f"/communities/{w.b}/feed")).json()["items"]
        return only

    for _ in range(2):
        liked = await client.post(like, headers=w.chen.headers)
        assert liked.status_code == 200 and (liked.json()["like_count"], liked.json()["liked"]) == (1, True)
    await client.post(like, headers=w.zhou.headers)
    assert ((await item(w.chen))["like_count"], (await item(w.chen))["liked"]) == (2, True)
    assert ((await item(w.sun))["like_count"], (await item(w.sun))["liked"]) == (2, False)
    for _ in range(2):
        unliked = await client.delete(like, headers=w.chen.headers)
        assert unliked.status_code == 200 and (unliked.json()["like_count"], unliked.json()["liked"]) == (1, False)
    assert (await client.delete(like, headers=w.sun.headers)).json()["like_count"] == 1  # never liked
    assert (await item(w.zhou))["liked"] is True and (await item(w.chen))["liked"] is False

    assert error(await client.post(f"/api/v1/posts/{waiting['id']}/like", headers=w.chen.headers)) == (
        409,
        "post_not_visible",
    )
    assert error(await client.post(f"/api/v1/posts/{waiting['id']}/like", headers=w.zhou.headers)) == (
        404,
        "post_not_found",
    )


async def test_comments_are_checked_like_posts(client, app, w):
    post = await w.posted(w.staff, body="周末一起去植物园")
    await drain(app)
    path = f"/api/v1/posts/{post['id']}/comments"

    async def comment(person: Person, body: str) -> dict[str, Any]:
        response = await client.post(path, json={"body": body}, headers=person.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def listed(person: Person) -> list[tuple[int, str | None]]:
        response = await client.get(path, headers=person.headers)
        assert response.status_code == 200, response.text
        return [(c["id"], c["status"]) for c in response.json()]

    fine = await comment(w.zhou, "我报名")
    unsure = await comment(w.zhou, "这句待审核")
    rejected_by_staff = await comment(w.sun, "这句也待审核")
    risky = await comment(w.sun, "带违禁词的评论")
    by_staff = await comment(w.staff, "好的，周六见")
    assert fine["status"] == "checking" and by_staff["status"] == "visible"
    assert await listed(w.chen) == [(by_staff["id"], None)]
    await drain(app)

    assert await listed(w.chen) == [(fine["id"], None), (by_staff["id"], None)]
    assert await listed(w.zhou) == [(fine["id"], "visible"), (unsure["id"], "review"), (by_staff["id"], None)]
    assert await listed(w.sun) == [
        (fine["id"], None),
        (rejected_by_staff["id"], "review"),
        (risky["id"], "rejected"),
        (by_staff["id"], None),
    ]
    assert len(await listed(w.staff)) == 5
    assert (await w.detail(w.chen, post["id"])).json()["comment_count"] == 2
    assert await w.queue() == {"posts": [], "comments": [unsure["id"], rejected_by_staff["id"]]}

    decide = "/api/v1/comments/{}/moderate"
    by_resident = await client.post(decide.format(unsure["id"]), json={"approve": True}, headers=w.chen.headers)
    assert error(by_resident) == (403, "staff_only")
    approved = await client.post(decide.format(unsure["id"]), json={"approve": True}, headers=w.staff.headers)
    assert approved.status_code == 200 and approved.json()["status"] == "visible"
    refused = await client.post(
        decide.format(rejected_by_staff["id"]), json={"approve": False, "note": "无关"}, headers=w.staff.headers
    )
    assert refused.status_code == 200 and refused.json()["status"] == "rejected"  # it was waiting
    assert await w.queue() == {"posts": [], "comments": []}
    assert [c for c, _ in await listed(w.chen)] == [fine["id"], unsure["id"], by_staff["id"]]
    assert (await w.detail(w.chen, post["id"])).json()["comment_count"] == 3

    # staff deciding before the check has answered: their decision stands
    early_hidden = await comment(w.sun, "很普通的一句")
    early_approved = await comment(w.zhou, "我也待审核")
    hide = await client.post(decide.format(early_hidden["id"]), json={"approve": False}, headers=w.staff.headers)
    assert hide.json()["status"] == "rejected"
    keep = await client.post(decide.format(early_approved["id"]), json={"approve": True}, headers=w.staff.headers)
    assert keep.json()["status"] == "visible"
    await drain(app)
    assert [c for c, _ in await listed(w.chen)] == [fine["id"], unsure["id"], by_staff["id"], early_approved["id"]]
    assert (await w.detail(w.chen, post["id"])).json()["comment_count"] == 4
    assert await w.queue() == {"posts": [], "comments": []}
    assert error(await client.post(decide.format(10**6), json={"approve": True}, headers=w.staff.headers)) == (
        404,
        "comment_not_found",
    )
    # a comment already shown is taken down: hidden, and no longer counted
    taken = await client.post(decide.format(fine["id"]), json={"approve": False}, headers=w.staff.headers)
    assert taken.json()["status"] == "hidden"
    assert fine["id"] not in [c for c, _ in await listed(w.chen)]  # (its author still sees it, hidden)
    assert (await w.detail(w.chen, post["id"])).json()["comment_count"] == 3


async def test_reports_count_once_per_person_and_enough_of_them_send_a_post_to_staff(client, app, w):
    post = await w.posted(w.chen, body="出售二手自行车")
    news = await w.posted(w.staff, body="社工的通知")
    await drain(app)
    report = f"/api/v1/posts/{post['id']}/report"
    for person in (w.zhou, w.zhou, w.sun, w.sun):  # twice each: counted once each
        answered = await client.post(report, json={"reason": "广告"}, headers=person.headers)
        assert answered.status_code == 204
    assert (await w.detail(w.zhou, post["id"])).status_code == 200
    assert await w.queue() == {"posts": [post["id"]], "comments": []}  # reported: staff may look
    assert error(await client.post(report, json={"reason": ""}, headers=w.li.headers)) == (422, "validation_error")

    assert (await client.post(report, json={"reason": "广告"}, headers=w.li.headers)).status_code == 204  # the third
    assert (await w.detail(w.zhou, post["id"])).status_code == 404
    assert await w.feed_ids(w.zhou) == [news["id"]]
    assert (await w.detail(w.chen, post["id"])).json()["status"] == "review"
    assert error(await client.post(report, json={"reason": "广告"}, headers=w.staff.headers)) == (
        409,
        "post_not_visible",
    )
    assert (await w.moderate(post["id"], True)).json()["status"] == "visible"
    assert await w.queue() == {"posts": [], "comments": []}
    assert await w.feed_ids(w.zhou) == [news["id"], post["id"]]

    for person in (w.zhou, w.sun, w.li, w.chen):  # staff's own words are not taken down by reports
        await client.post(f"/api/v1/posts/{news['id']}/report", json={"reason": "不同意"}, headers=person.headers)
    assert (await w.detail(w.zhou, news["id"])).status_code == 200
    assert await w.queue() == {"posts": [news["id"]], "comments": []}


# -- albums ----------------------------------------------------------------------------------------


async def test_the_growth_album_is_for_the_household_and_staff_and_lists_visible_tagged_posts(client, app, w):
    a = await w.activity_now()
    await w.came(a["id"], w.chen, [w.xiaoyu])
    await w.came(a["id"], w.zhou, [w.zhou_me])

    by_father = await w.posted(w.chen, body="小雨第一次上台", member_ids=[w.xiaoyu])
    by_mother = await w.posted(w.li, body="小雨的手工", activity_id=a["id"], member_ids=[w.xiaoyu, w.chen_me])
    unsure = await w.posted(w.chen, body="待审核的成长记录", member_ids=[w.xiaoyu])
    by_staff = await w.posted(w.staff, body="活动合影", activity_id=a["id"], member_ids=[w.xiaoyu, w.zhou_me])
    untagged = await w.posted(w.chen, body="没有标记任何人")
    later_hidden = await w.posted(w.chen, body="后来被下架", member_ids=[w.xiaoyu])
    # one may tag only one's own household (staff: those who came to the activity)
    wrong = await w.post(w.chen, body="标记邻居", member_ids=[w.zhou_me])
    assert error(wrong) == (422, "member_not_taggable") and wrong.json()["error"]["details"]["member_ids"] == [
        w.zhou_me
    ]
    assert error(await w.post(w.staff, body="没来的人", member_ids=[w.chen_me], activity_id=a["id"])) == (
        422,
        "member_not_taggable",
    )
    await drain(app)
    await client.post(f"/api/v1/posts/{later_hidden['id']}/hide", json={"note": "重复"}, headers=w.staff.headers)

    album = f"/members/{w.xiaoyu}/album"
    expected = [by_staff["id"], by_mother["id"], by_father["id"]]
    for person in (w.chen, w.li, w.staff):
        page = await w.get(person, album)
        assert page.status_code == 200, page.text
        assert page.json()["member"] == {"id": w.xiaoyu, "name": "小雨"}
        assert [p["id"] for p in page.json()["items"]] == expected
    for person in (w.zhou, w.sun, w.wang):
        assert error(await w.get(person, album)) == (404, "member_not_found")
    assert unsure["id"] not in expected and untagged["id"] not in expected
    first = (await w.get(w.chen, f"{album}?limit=2")).json()
    rest = (await w.get(w.chen, f"{album}?limit=2&cursor={first['next_cursor']}")).json()
    assert [p["id"] for p in first["items"] + rest["items"]] == expected and rest["next_cursor"] is None
    assert [p["id"] for p in (await w.get(w.zhou, f"/members/{w.zhou_me}/album")).json()["items"]] == [by_staff["id"]]
    assert [p["id"] for p in (await w.get(w.chen, f"/members/{w.chen_me}/album")).json()["items"]] == [by_mother["id"]]

    # the activity's album: its visible posts, for anyone of the community
    page = (await w.get(w.sun, f"/activities/{a['id']}/album")).json()
    assert page["activity"]["id"] == a["id"] and [p["id"] for p in page["items"]] == [by_staff["id"], by_mother["id"]]
