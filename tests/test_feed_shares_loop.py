"""Shares, their attribution, the loop's figures and re-participation, through the HTTP API.

Shares: a token per person and target, its mini-program code made once by the worker (real WeChat
mode against the fake server), opens counted once per viewer per community day, and what a viewer
may see through it. Attribution: a booking within 7 days of opening a share of the booked activity
(or of a post about it), a resident who joined within 7 days of opening one as an outsider. The
loop's figures on a fixture computed by hand. Re-participation: the next session and similar
activities in the detail, the album a day after, following a category.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from api import clock
from api.db.models import Post
from api.wechat.fake import FakeWeChat
from tests.conftest import make_settings, real_wechat_app
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Monday 2 November 2026, 09:00 in Shanghai (the communities' time zone, UTC+8)
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
TOKEN_CHARS = set("23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ")


@pytest.fixture
def settings(database_url):
    # the longest login there is: tests move the clock across weeks (and log in again past a month)
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def run_worker(app: Any) -> int:
    return await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


def jpeg(color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


class B:
    """Community B: a platform admin, staff, four resident households (chen with his daughter),
    and community C with one resident of its own."""

    async def build(self, client: httpx.AsyncClient, db: Any) -> B:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, self.chen_id, home = await self.resident("chen", "101")
        self.xiaoyu = (await add_child(client, self.chen, home, "小雨", 2018))["id"]
        self.zhou, self.zhou_id, _ = await self.resident("zhou", "102")
        self.li, self.li_id, _ = await self.resident("li", "103")
        self.wang, self.wang_id, _ = await self.resident("wang", "104")
        self.people = [self.root, self.staff, self.chen, self.zhou, self.li, self.wang]
        return self

    async def resident(self, name: str, room: str, community_id: int | None = None) -> tuple[Person, int, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, community_id or self.b, "1栋", "1单元", room)
        return person, joined["member"]["id"], joined["household"]["id"]

    async def relogin(self) -> None:
        """Tokens last 30 days; the loop's fixture spans more."""
        for person in self.people:
            person.token = (await login(self.client, person.name)).token


@pytest.fixture
async def b(client, db) -> B:
    return await B().build(client, db)


# -- small API helpers -----------------------------------------------------------------------------


async def share(client: httpx.AsyncClient, person: Person, target: str, target_id: int) -> dict[str, Any]:
    response = await client.post("/api/v1/shares", json={"target": target, "id": target_id}, headers=person.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def open_share(client: httpx.AsyncClient, person: Person, token: str) -> httpx.Response:
    return await client.get(f"/api/v1/shares/{token}", headers=person.headers)


async def opened(client: httpx.AsyncClient, person: Person, token: str) -> dict[str, Any]:
    response = await open_share(client, person, token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def activity_loop(client: httpx.AsyncClient, staff: Person, activity_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/activities/{activity_id}/loop", headers=staff.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def month_loop(client: httpx.AsyncClient, staff: Person, community_id: int, month: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/communities/{community_id}/loop?month={month}", headers=staff.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def booked(client: httpx.AsyncClient, person: Person, activity_id: int, ids: list[int] | None = None) -> int:
    response = await book(client, person, activity_id, ids)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "confirmed"
    return int(response.json()["id"])


async def cancel(client: httpx.AsyncClient, person: Person, booking_id: int) -> None:
    response = await client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=person.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text


async def check_in(client: httpx.AsyncClient, staff: Person, activity_id: int, booking_id: int) -> None:
    response = await client.post(
        f"/api/v1/activities/{activity_id}/checkins", json={"booking_id": booking_id}, headers=staff.headers
    )
    assert response.status_code == 200, response.text


async def upload(client: httpx.AsyncClient, person: Person, community_id: int, color: tuple[int, int, int]) -> int:
    response = await client.post(
        "/api/v1/media",
        files={"file": ("photo.jpg", jpeg(color), "image/jpeg")},
        data={"community_id": str(community_id)},
        headers=person.headers,
    )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def write_post(client: httpx.AsyncClient, person: Person, community_id: int, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/communities/{community_id}/posts", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def post_status(client: httpx.AsyncClient, author: Person, post_id: int) -> str:
    response = await client.get(f"/api/v1/posts/{post_id}", headers=author.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def inbox(client: httpx.AsyncClient, person: Person, kind: str | None = None) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/me/inbox", headers=person.headers)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if kind is None or e["kind"] == kind]


def spans(start: datetime, minutes: int = 90, **fields: Any) -> dict[str, Any]:
    return {"start_at": start.isoformat(), "end_at": (start + timedelta(minutes=minutes)).isoformat(), **fields}


# -- shares: token, code, reuse -------------------------------------------------------------------


async def test_a_share_has_a_token_a_path_and_a_code_made_once(database_url):
    async with real_wechat_app(database_url) as (client, fake, app):
        root = await platform_admin(client, app.state.db)
        b = (await community(client, root))["id"]
        staff = await login(client, "staff")
        await grant(client, root, b, staff, "staff")
        chen = await login(client, "chen")
        await join(client, chen, b)
        a = await activity(client, staff, b, title="周六手工课")

        first = await share(client, staff, "activity", a["id"])
        token = first["token"]
        assert len(token) == 10 and set(token) <= TOKEN_CHARS
        assert first == {
            "token": token,
            "target": "activity",
            "id": a["id"],
            "path": f"pages/share/index?t={token}",
            "code_url": None,  # the worker makes it
        }
        assert fake.codes == []  # the request never waits on WeChat

        await run_worker(app)
        assert fake.codes == [{"scene": token, "page": "pages/share/index", "env_version": "release", "width": 430}]

        again = await share(client, staff, "activity", a["id"])
        assert again["token"] == token  # the same person sharing the same thing: one share
        assert again["code_url"] is not None
        image = await client.get(again["code_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert FakeWeChat.png_text(image.content)["scene"] == token
        await run_worker(app)
        assert len(fake.codes) == 1  # kept, never fetched again

        # another person's share of the same activity is theirs, with its own token and code
        chens = await share(client, chen, "activity", a["id"])
        assert chens["token"] != token and chens["code_url"] is None
        await run_worker(app)
        assert [c["scene"] for c in fake.codes] == [token, chens["token"]]


async def test_what_can_be_shared(client, app, b):
    draft = await activity(client, b.staff, b.b, publish=False)
    refused = await client.post(
        "/api/v1/shares", json={"target": "activity", "id": draft["id"]}, headers=b.staff.headers
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "activity_not_found")
    a = await activity(client, b.staff, b.b)
    outsider = await login(client, "visitor")
    foreign = await client.post("/api/v1/shares", json={"target": "activity", "id": a["id"]}, headers=outsider.headers)
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "activity_not_found")
    odd = await client.post("/api/v1/shares", json={"target": "series", "id": 1}, headers=b.chen.headers)
    assert (odd.status_code, odd.json()["error"]["code"]) == (422, "validation_error")

    waiting = await write_post(client, b.chen, b.b, body="待审核的一句话")  # the text check sends it to staff
    await run_worker(app)
    assert await post_status(client, b.chen, waiting["id"]) == "review"
    not_yet = await client.post("/api/v1/shares", json={"target": "post", "id": waiting["id"]}, headers=b.chen.headers)
    assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (404, "post_not_found")

    unknown = await client.get("/api/v1/shares/abcdefghjk", headers=b.chen.headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "share_not_found")
    malformed = await client.get("/api/v1/shares/abc-def", headers=b.chen.headers)
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "validation_error")
    anonymous = await client.get("/api/v1/shares/abcdefghjk")
    assert anonymous.status_code == 401


# -- shares: what a viewer sees ---------------------------------------------------------------------


async def test_a_share_shows_each_viewer_what_they_may_see(client, app, db, b):
    outsider = await login(client, "visitor")
    neighbour, _, _ = await b.resident("neighbour", "201", b.c)  # a resident of community C
    a = await activity(client, b.staff, b.b, title="周六手工课", capacity=12)
    by_staff = await share(client, b.staff, "activity", a["id"])

    # a published activity: anyone may see what, when, where and how many seats are left
    seen = await opened(client, outsider, by_staff["token"])
    assert (seen["target"], seen["is_member"], seen["community"]) == ("activity", False, {"id": b.b, "name": "B社区"})
    assert seen["post"] is None
    assert seen["activity"]["id"] == a["id"] and seen["activity"]["title"] == "周六手工课"
    assert seen["activity"]["seats_left"] == 12 and seen["activity"]["my_bookings"] == []  # nobody's bookings
    assert seen["activity"]["join"]["join_path"] == f"/communities/{b.b}/join"  # and how to join
    member_view = await opened(client, b.chen, by_staff["token"])
    assert member_view["is_member"] is True and member_view["activity"]["my_bookings"] == []

    community_only = await write_post(client, b.chen, b.b, body="阅读角的新书到了")
    public = await write_post(client, b.chen, b.b, body="欢迎邻居们来玩", visibility="public")
    children = await write_post(client, b.chen, b.b, body="孩子们在画画", visibility="public")
    refused = await client.post(
        f"/api/v1/communities/{b.b}/posts",
        json={"body": "孩子们", "visibility": "public", "shows_children": True},
        headers=b.chen.headers,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "children_community_only")
    await run_worker(app)
    tokens = {
        name: (await share(client, b.chen, "post", p["id"]))["token"]
        for name, p in (("community", community_only), ("public", public), ("children", children))
    }
    # the author marks the photos as showing children after sharing: it is the community's only now
    marked = await client.patch(
        f"/api/v1/posts/{children['id']}", json={"shows_children": True}, headers=b.chen.headers
    )
    assert marked.status_code == 200
    assert (marked.json()["shows_children"], marked.json()["visibility"]) == (True, "community")

    for viewer in (outsider, neighbour):
        for name in ("community", "children"):
            # the open is answered (and counted) with the community to join, and nothing of the post
            denied = await opened(client, viewer, tokens[name])
            assert (denied["members_only"], denied["post"], denied["is_member"]) == (True, None, False), name
            assert denied["community"] == {"id": b.b, "name": "B社区"}
        shown = await opened(client, viewer, tokens["public"])
        assert shown["is_member"] is False and shown["activity"] is None
        assert (shown["post"]["id"], shown["post"]["body"]) == (public["id"], "欢迎邻居们来玩")
        assert shown["post"]["status"] is None  # a moderation state is for the author and staff
    for name, p in (("community", community_only), ("public", public), ("children", children)):
        assert (await opened(client, b.wang, tokens[name]))["post"]["id"] == p["id"]  # residents see them all

    # a post both public and showing children cannot even be stored
    async with db.session() as session:
        with pytest.raises(IntegrityError, match="children_community_only"):
            await session.execute(update(Post).where(Post.id == children["id"]).values(visibility="public"))
    denied = await opened(client, outsider, tokens["children"])
    assert (denied["members_only"], denied["post"]) == (True, None)

    # a post taken down is gone from its shares too
    hidden = await client.post(f"/api/v1/posts/{public['id']}/hide", json={"note": "重复"}, headers=b.staff.headers)
    assert hidden.status_code == 200
    gone = await open_share(client, outsider, tokens["public"])
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "share_not_found")


async def test_opens_count_once_per_viewer_per_community_day_and_not_the_sharers_own(client, b):
    a = await activity(client, b.staff, b.b, **spans(utc(11, 20, 2)))
    token = (await share(client, b.staff, "activity", a["id"]))["token"]

    async def opens() -> int:
        return int((await activity_loop(client, b.staff, a["id"]))["share_opens"])

    await opened(client, b.staff, token)
    assert await opens() == 0  # the sharer's own open
    await opened(client, b.zhou, token)  # Mon 09:00 in Shanghai
    await opened(client, b.zhou, token)
    assert await opens() == 1
    clock.freeze(utc(11, 2, 15, 59))  # Mon 23:59 in Shanghai: the same day
    await opened(client, b.zhou, token)
    assert await opens() == 1
    clock.freeze(utc(11, 2, 16, 1))  # Tue 00:01 in Shanghai, still 2 November in UTC: a new day
    await opened(client, b.zhou, token)
    assert await opens() == 2
    await opened(client, b.li, token)
    assert await opens() == 3
    clock.freeze(utc(11, 4, 2))
    await opened(client, b.zhou, token)
    await opened(client, b.li, token)
    assert await opens() == 5


# -- attribution ----------------------------------------------------------------------------------


async def test_a_booking_within_seven_days_of_opening_a_share_is_attributed_to_it(client, b):
    a = await activity(client, b.staff, b.b, **spans(utc(11, 14, 2)))
    token = (await share(client, b.chen, "activity", a["id"]))["token"]
    for person in (b.chen, b.zhou, b.li, b.wang):
        await opened(client, person, token)  # Mon 2 Nov 09:00 Shanghai (chen's own open is not one)
    clock.freeze(NOW + timedelta(hours=11))  # wang looks again the same evening: not another open
    await opened(client, b.wang, token)
    assert (await activity_loop(client, b.staff, a["id"]))["share_opens"] == 3

    clock.freeze(NOW + timedelta(days=7) - timedelta(minutes=1))
    await booked(client, b.zhou, a["id"])  # 6 days 23:59 after opening: from the share
    await booked(client, b.chen, a["id"])  # the sharer himself
    clock.freeze(NOW + timedelta(days=7, minutes=1))
    await booked(client, b.li, a["id"])  # 7 days and a minute after: no longer
    await booked(client, b.wang, a["id"])  # 7 days after his first look, but 6 days 13 hours after his last

    figures = await activity_loop(client, b.staff, a["id"])
    # bookings of a: chen, zhou, li, wang (4 seats); from the share: zhou and wang
    assert (figures["booked"], figures["share_opens"], figures["bookings_from_shares"]) == (4, 3, 2)
    month = await month_loop(client, b.staff, b.b, "2026-11")
    assert (month["shares"], month["share_opens"], month["bookings_from_shares"]) == (1, 3, 2)


async def test_new_residents_from_shares_are_outsiders_who_joined_within_seven_days(client, b):
    a = await activity(client, b.staff, b.b, **spans(utc(11, 20, 2)))
    token = (await share(client, b.chen, "activity", a["id"]))["token"]
    xu, ma, he = [await login(client, name) for name in ("xu", "ma", "he")]
    helper = await login(client, "helper")  # a social worker of B with no household of her own yet
    await grant(client, b.root, b.b, helper, "staff")
    for person in (xu, ma, helper):
        assert (await opened(client, person, token))["is_member"] is (person is helper)

    clock.freeze(NOW + timedelta(days=1))
    await join(client, xu, b.b, "2栋", "1单元", "301")  # an outsider a day after opening: from the share
    await join(client, he, b.b, "2栋", "1单元", "302")  # never opened one
    await join(client, helper, b.b, "2栋", "1单元", "303")  # was already one of the community
    await booked(client, xu, a["id"])  # and the new resident's booking is the share's too
    clock.freeze(NOW + timedelta(days=7, minutes=1))
    await join(client, ma, b.b, "2栋", "1单元", "304")  # too late to say the share brought her

    figures = await activity_loop(client, b.staff, a["id"])
    assert (figures["share_opens"], figures["new_residents_from_shares"], figures["bookings_from_shares"]) == (3, 1, 1)
    month = await month_loop(client, b.staff, b.b, "2026-11")
    assert month["new_residents_from_shares"] == 1


async def test_an_outsider_who_opens_a_community_only_post_and_joins_is_a_new_resident_from_it(client, app, b):
    post = await write_post(client, b.chen, b.b, body="周六来读书角一起读绘本吧")
    await run_worker(app)
    token = (await share(client, b.chen, "post", post["id"]))["token"]
    zhao = await login(client, "zhao")
    seen = await opened(client, zhao, token)  # told to join first, shown nothing of the post
    assert (seen["members_only"], seen["post"], seen["community"]["id"]) == (True, None, b.b)
    clock.freeze(NOW + timedelta(days=2))
    await join(client, zhao, b.b, "5栋", "1单元", "101")
    # now a resident, the same share shows the post
    assert (await opened(client, zhao, token))["post"]["body"] == "周六来读书角一起读绘本吧"
    month = await month_loop(client, b.staff, b.b, "2026-11")
    assert (month["share_opens"], month["new_residents_from_shares"]) == (2, 1)


# -- the loop's figures ---------------------------------------------------------------------------


async def test_loop_figures_are_for_staff_only(client, b):
    a = await activity(client, b.staff, b.b)
    for path in (f"/api/v1/activities/{a['id']}/loop", f"/api/v1/communities/{b.b}/loop?month=2026-11"):
        refused = await client.get(path, headers=b.chen.headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "staff_only")
    other_staff = await login(client, "c-staff")
    await grant(client, b.root, b.c, other_staff, "staff")
    foreign = await client.get(f"/api/v1/activities/{a['id']}/loop", headers=other_staff.headers)
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "staff_only")
    for month in ("2026-13", "2026-1", "latest"):
        bad = await client.get(f"/api/v1/communities/{b.b}/loop?month={month}", headers=b.staff.headers)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")
    now = await client.get(f"/api/v1/communities/{b.b}/loop", headers=b.staff.headers)
    assert now.status_code == 200 and now.json()["month"] == "2026-11"


async def test_loop_figures_equal_the_hand_computed_ones(client, app, b):
    """A month of community B. Times are UTC; Shanghai is 8 hours ahead."""
    staff, chen, zhou, li, wang = b.staff, b.chen, b.zhou, b.li, b.wang
    # A: Sat 7 Nov 10:00-11:30 Shanghai; C: Sat 21 Nov; D: Sat 19 Dec; F: Sat 26 Dec
    a = (await activity(client, staff, b.b, title="周六手工课", category="children", **spans(utc(11, 7, 2))))["id"]
    c = (await activity(client, staff, b.b, title="亲子阅读", **spans(utc(11, 21, 2))))["id"]
    d = (await activity(client, staff, b.b, title="冬至包饺子", category="culture", **spans(utc(12, 19, 2))))["id"]
    f = (await activity(client, staff, b.b, title="新年手账", category="culture", **spans(utc(12, 26, 2))))["id"]

    # Mon 2 Nov 09:00: staff share A (share S1); zhou opens it (open 1), staff's own open is not one
    s1 = (await share(client, staff, "activity", a))["token"]
    assert (await share(client, staff, "activity", a))["token"] == s1  # still one share
    await opened(client, zhou, s1)
    await opened(client, staff, s1)
    clock.freeze(utc(11, 2, 6))
    await opened(client, zhou, s1)  # same day: not another open
    zhou_a = await booked(client, zhou, a)  # 5 hours after opening S1: from S1
    await booked(client, li, a)
    await cancel(client, wang, await booked(client, wang, a))
    chen_a = await booked(client, chen, a, [b.chen_id, b.xiaoyu])
    await booked(client, chen, c)  # booked before A began: not coming back after it
    clock.freeze(utc(11, 2, 15, 50))  # 23:50 Shanghai: still the same day
    await opened(client, zhou, s1)
    clock.freeze(utc(11, 2, 16, 10))  # Tue 00:10 Shanghai: a new day, open 2
    await opened(client, zhou, s1)
    clock.freeze(utc(11, 3, 2))
    xu = await login(client, "xu")
    b.people.append(xu)
    assert (await opened(client, xu, s1))["is_member"] is False  # open 3, by an outsider
    clock.freeze(utc(11, 4, 2))
    await join(client, xu, b.b, "2栋", "1单元", "201")  # a new resident from S1
    await booked(client, xu, c)  # not from S1 (opened a day ago), which is a share of A, not of C

    # Sat 7 Nov: A. chen with 小雨 and zhou come, li does not; 王奶奶 walks in
    clock.freeze(utc(11, 7, 1, 40))
    await check_in(client, staff, a, chen_a)
    await check_in(client, staff, a, zhou_a)
    walk_in = await client.post(f"/api/v1/activities/{a}/walkins", json={"guests": ["王奶奶"]}, headers=staff.headers)
    assert walk_in.status_code == 201
    clock.freeze(utc(11, 7, 4))
    photos = [await upload(client, staff, b.b, color) for color in ((200, 40, 40), (40, 40, 200))]
    staff_post = await write_post(client, staff, b.b, body="手工课的作品", activity_id=a, media_ids=photos)
    chen_post = await write_post(client, chen, b.b, body="谢谢老师", activity_id=a)
    refused = await write_post(client, zhou, b.b, body="违禁词", activity_id=a)  # refused by the text check
    await run_worker(app)
    assert [await post_status(client, staff, p["id"]) for p in (staff_post, chen_post, refused)] == [
        "visible", "visible", "rejected"
    ]  # fmt: skip
    s2 = (await share(client, chen, "post", chen_post["id"]))["token"]  # share S2, of A's album
    clock.freeze(utc(11, 8, 2))
    await opened(client, wang, s2)  # open 4

    # after A: 小雨 is booked for D within 30 days; zhou books C and cancels
    clock.freeze(utc(11, 10, 2))
    await booked(client, chen, d, [b.xiaoyu])
    clock.freeze(utc(11, 12, 2))  # zhou's last open was more than 7 days ago: not from a share
    await cancel(client, zhou, await booked(client, zhou, c))

    # the month's edge in Shanghai: a post at 23:59 on 30 Nov, another at 00:01 on 1 Dec
    clock.freeze(utc(11, 30, 15, 59))
    await b.relogin()
    november = await write_post(
        client, staff, b.b, body="十一月小结", media_ids=[await upload(client, staff, b.b, (9, 9, 9))]
    )
    await run_worker(app)
    clock.freeze(utc(11, 30, 16, 1))
    december = await write_post(
        client, staff, b.b, body="十二月预告", media_ids=[await upload(client, staff, b.b, (1, 2, 3))]
    )
    await run_worker(app)
    assert [await post_status(client, staff, p["id"]) for p in (november, december)] == ["visible", "visible"]

    # A ended Sat 7 Nov 03:30 UTC: +29 days chen books F (back), +31 days zhou books D (too late)
    clock.freeze(utc(11, 7, 3, 30) + timedelta(days=29))
    await booked(client, chen, f, [b.chen_id])
    clock.freeze(utc(11, 7, 3, 30) + timedelta(days=31))
    await booked(client, zhou, d)
    s3 = (await share(client, li, "activity", d))["token"]  # share S3, in December
    await opened(client, wang, s3)  # open 5, in December
    await booked(client, wang, d)  # from S3, a share of D
    await opened(client, li, s1)  # open 6, in December, of November's S1
    await booked(client, li, f)  # not from S1 (opened just now): F is not A

    assert await activity_loop(client, staff, a) == {
        "activity_id": a,
        "title": "周六手工课",
        # confirmed seats: chen 2 (chen, 小雨) + zhou 1 + li 1 + the walk-in 1 = 5 (wang cancelled)
        "booked": 5,
        # checked in: chen, 小雨, zhou, 王奶奶 = 4 (li did not come)
        "attended": 4,
        # visible posts: staff's (2 photos) + chen's (0) = 2 (zhou's was refused)
        "posts": 2,
        "photos": 2,
        # S1 (of A) + S2 (of chen's post in A's album) = 2 (staff sharing A twice is one share)
        "shares": 2,
        # S1: zhou on 2 Nov, zhou on 3 Nov (Shanghai), xu, li in December = 4; S2: wang = 1; total 5
        "share_opens": 5,
        # bookings of A attributed to a share of it or of its posts: zhou's (S1) = 1 (S2 brought
        # none; xu's C and li's F, booked after opening S1, are not A's)
        "bookings_from_shares": 1,
        # xu joined a day after opening S1 as an outsider = 1
        "new_residents_from_shares": 1,
        # members checked in: chen, 小雨, zhou = 3 (王奶奶 is a guest)
        "attending_members": 3,
        # 小雨 (D, booked 10 Nov) and chen (F, booked A's end + 29 days) = 2; zhou: C before A began
        # (that was chen's), C cancelled, D at + 31 days: no
        "came_back": 2,
        "reparticipation_rate": round(2 / 3, 4),  # 0.6667
    }
    assert await month_loop(client, staff, b.b, "2026-11") == {
        "month": "2026-11",
        # held in November (Shanghai): A, C = 2
        "activities": 2,
        # A 5 + C: chen 1 + xu 1 (zhou's cancelled) = 7
        "booked": 7,
        # A 4 + C 0 (nobody checked in at C) = 4
        "attended": 4,
        # written in November and visible: staff's and chen's in A's album, the 30 Nov 23:59 one = 3
        "posts": 3,
        # 2 + 0 + 1 = 3
        "photos": 3,
        # made in November: S1, S2 = 2
        "shares": 2,
        # opens 1-4 = 4
        "share_opens": 4,
        # zhou's A = 1 (xu's C, after opening S1 of A, is not from a share)
        "bookings_from_shares": 1,
        # xu = 1
        "new_residents_from_shares": 1,
        # attendees of A and C: chen, 小雨, zhou = 3; back: 小雨, chen = 2
        "attending_members": 3,
        "came_back": 2,
        "reparticipation_rate": 0.6667,
    }
    assert await month_loop(client, staff, b.b, "2026-12") == {
        "month": "2026-12",
        # D, F (held in December, not yet over) = 2
        "activities": 2,
        # D: 小雨 1 + zhou 1 + wang 1; F: chen 1 + li 1 = 5
        "booked": 5,
        "attended": 0,
        # the 1 Dec 00:01 post with 1 photo
        "posts": 1,
        "photos": 1,
        # made in December: S3; opened in December: S3 by wang, S1 by li = 2; bookings made in
        # December from a share: wang's D (S3) = 1 (li's F after opening S1 of A is not)
        "shares": 1,
        "share_opens": 2,
        "bookings_from_shares": 1,
        "new_residents_from_shares": 0,
        "attending_members": 0,
        "came_back": 0,
        "reparticipation_rate": None,
    }


# -- re-participation -----------------------------------------------------------------------------


async def test_the_detail_shows_the_next_session_and_up_to_five_similar_activities(client, b):
    series = await client.post(
        f"/api/v1/communities/{b.b}/series",
        json={"title": "周六读书会", "category": "children"},
        headers=b.staff.headers,
    )
    sid = series.json()["id"]

    async def make(title: str, start: datetime, **fields: Any) -> int:
        return int((await activity(client, b.staff, b.b, title=title, **spans(start, **fields)))["id"])

    day = utc(11, 7, 2)  # Sat 7 Nov 10:00 Shanghai
    this = await make("第1期", day, category="children", series_id=sid, child_min_age=6, child_max_age=10)
    following = await make("第2期", day + timedelta(days=7), category="children", series_id=sid)
    await make("第3期", day + timedelta(days=14), category="children", series_id=sid)
    started = await make("已开始的儿童活动", NOW + timedelta(hours=1), category="children")
    full = await make("满员的儿童活动", day + timedelta(days=1), category="children", capacity=1)
    await booked(client, b.zhou, full)
    await make("长者讲座", day + timedelta(days=1), category="elders")
    ages = await make("8-12岁的手工课", day + timedelta(days=2), category="culture", child_min_age=8, child_max_age=12)
    await make("13岁以上的辩论", day + timedelta(days=2), category="culture", child_min_age=13, child_max_age=16)
    # an open-ended range ("10 and over") overlaps 6-10 too
    open_ended = await make("10岁以上的科学课", day + timedelta(days=2, hours=1), category="culture", child_min_age=10)
    await activity(client, b.staff, b.b, publish=False, title="草稿", category="children", **spans(day))
    dropped = await make("取消的活动", day + timedelta(days=3), category="children")
    assert (
        await client.post(f"/api/v1/activities/{dropped}/cancel", json={"reason": "场地维修"}, headers=b.staff.headers)
    ).status_code == 200
    kids = [await make(f"儿童活动{n}", day + timedelta(days=3, hours=n), category="children") for n in range(1, 6)]
    other_root = await login(client, "c-staff")
    await grant(client, b.root, b.c, other_root, "staff")
    await activity(client, other_root, b.c, title="C社区的儿童活动", category="children", **spans(day))

    clock.freeze(NOW + timedelta(hours=2))  # the one that started is no longer upcoming
    seen = (await client.get(f"/api/v1/activities/{this}", headers=b.chen.headers)).json()
    assert seen["next_session"]["id"] == following and seen["next_session"]["title"] == "第2期"
    # same category or overlapping ages, with seats, upcoming, soonest first: 8-12岁的手工课, 10岁以上的
    # 科学课 and three of the five 儿童活动 (the next session is not repeated, 第3期 comes later)
    assert [s["id"] for s in seen["similar"]] == [ages, open_ended, *kids[:3]]
    assert started not in [s["id"] for s in seen["similar"]]
    assert all(s["seats_left"] > 0 for s in seen["similar"])

    last = (await client.get(f"/api/v1/activities/{kids[4]}", headers=b.chen.headers)).json()
    assert last["next_session"] is None  # not in a series
    # same category: 第1期, 第2期, 第3期 and 儿童活动1-4 are all children's; the five soonest
    assert [s["title"] for s in last["similar"]] == ["第1期", "儿童活动1", "儿童活动2", "儿童活动3", "儿童活动4"]


async def test_attendees_get_the_album_a_day_after_once(client, app, b):
    series = await client.post(
        f"/api/v1/communities/{b.b}/series",
        json={"title": "周六读书会", "category": "children"},
        headers=b.staff.headers,
    )
    sid = series.json()["id"]
    a = (await activity(client, b.staff, b.b, title="第1期：小王子", series_id=sid, **spans(utc(11, 7, 2))))["id"]
    await activity(client, b.staff, b.b, title="第2期：夏洛的网", series_id=sid, **spans(utc(12, 5, 2)))
    chen_a = await booked(client, b.chen, a, [b.xiaoyu])  # chen books for his daughter only
    zhou_a = await booked(client, b.zhou, a)
    await booked(client, b.li, a)  # does not come
    clock.freeze(utc(11, 7, 1, 45))
    await check_in(client, b.staff, a, chen_a)
    await check_in(client, b.staff, a, zhou_a)
    walked = await client.post(
        f"/api/v1/activities/{a}/walkins", json={"member_ids": [b.wang_id]}, headers=b.staff.headers
    )
    assert walked.status_code == 201

    ended = utc(11, 7, 3, 30)
    clock.freeze(ended + timedelta(hours=24) - timedelta(minutes=1))
    await run_worker(app)
    assert await inbox(client, b.chen, "activity.album") == []
    clock.freeze(ended + timedelta(hours=24))
    await run_worker(app)
    for person in (b.chen, b.zhou, b.wang):
        (entry,) = await inbox(client, person, "activity.album")
        assert entry["title"] == "「第1期：小王子」的相册来了"
        assert entry["page"] == f"pages/activities/album?id={a}"
        assert entry["body"].endswith("下一期「第2期：夏洛的网」12月5日 10:00，欢迎再来。")
    assert await inbox(client, b.li, "activity.album") == []  # booked, did not come
    assert await inbox(client, b.staff, "activity.album") == []
    clock.freeze(ended + timedelta(hours=25))  # the periodic job runs again: nothing more
    await run_worker(app)
    for person in (b.chen, b.zhou, b.wang):
        assert len(await inbox(client, person, "activity.album")) == 1


async def test_an_activity_over_a_week_ago_gets_no_album(client, app, b):
    a = (await activity(client, b.staff, b.b, title="八天前的活动", **spans(utc(11, 7, 2))))["id"]
    recent = (await activity(client, b.staff, b.b, title="六天前的活动", **spans(utc(11, 9, 2))))["id"]
    chen_a, chen_recent = await booked(client, b.chen, a), await booked(client, b.chen, recent)
    clock.freeze(utc(11, 7, 1, 45))
    await check_in(client, b.staff, a, chen_a)
    clock.freeze(utc(11, 9, 1, 45))
    await check_in(client, b.staff, recent, chen_recent)
    clock.freeze(utc(11, 7, 3, 30) + timedelta(days=8))  # the worker was away for a week
    await run_worker(app)
    # the albums job skips activities another job holds (on PostgreSQL the no-show count, which
    # runs beside it, may): the next run, ten minutes on, takes them
    clock.advance(timedelta(minutes=11))
    await run_worker(app)
    # the job did run: the activity of six days ago gets its album, that of eight days none
    (entry,) = await inbox(client, b.chen, "activity.album")
    assert entry["page"] == f"pages/activities/album?id={recent}"


async def test_following_a_category_hears_of_new_activities_in_it(client, b):
    path = f"/api/v1/communities/{b.b}/follows/categories"
    for _ in range(2):  # following twice is following
        assert (await client.put(f"{path}/children", headers=b.chen.headers)).status_code == 204
    assert (await client.put(f"{path}/elders", headers=b.li.headers)).status_code == 204
    assert (await client.get(path, headers=b.chen.headers)).json() == ["children"]
    unknown = await client.put(f"{path}/sports", headers=b.chen.headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "validation_error")
    outsider = await login(client, "visitor")
    refused = await client.put(f"{path}/children", headers=outsider.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_a_member")

    draft = await activity(client, b.staff, b.b, publish=False, title="儿童绘本课", category="children")
    assert await inbox(client, b.chen, "category.new_activity") == []  # a draft tells nobody
    await client.post(f"/api/v1/activities/{draft['id']}/publish", headers=b.staff.headers)
    (entry,) = await inbox(client, b.chen, "category.new_activity")
    assert entry["title"] == "新的儿童活动：儿童绘本课"
    assert entry["page"] == f"pages/activities/detail?id={draft['id']}"
    for person in (b.zhou, b.li):  # zhou follows nothing, li follows another category
        assert await inbox(client, person, "category.new_activity") == []
    await activity(client, b.staff, b.b, title="书法课", category="culture")
    assert len(await inbox(client, b.chen, "category.new_activity")) == 1

    assert (await client.delete(f"{path}/children", headers=b.chen.headers)).status_code == 204
    assert (await client.get(path, headers=b.chen.headers)).json() == []
    await activity(client, b.staff, b.b, title="儿童手工课", category="children")
    assert len(await inbox(client, b.chen, "category.new_activity")) == 1

    # following the category and the series: one notice of a new session
    assert (await client.put(f"{path}/children", headers=b.zhou.headers)).status_code == 204
    series = await client.post(
        f"/api/v1/communities/{b.b}/series",
        json={"title": "周六读书会", "category": "children"},
        headers=b.staff.headers,
    )
    assert (
        await client.post(f"/api/v1/series/{series.json()['id']}/follow", headers=b.zhou.headers)
    ).status_code == 200
    session = await activity(client, b.staff, b.b, title="第1期", category="children", series_id=series.json()["id"])
    heard = [e for e in await inbox(client, b.zhou) if f"id={session['id']}" in e["page"]]
    assert len(heard) == 1
