"""What the mini-program's social screens need, through the HTTP API: authors with their avatars,
the categories with their labels, announcements in a resident's shape and a staff member's, team
decisions told to the applicant, bookings attributed to the share of what was booked, and whom a
post tags shown only to their household and staff.

Community B has staff, the Chen household (chen with an avatar, his wife li, their daughter 小雨),
the Zhou, Sun and Ma households; community C has its resident wang.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from sqlalchemy import event, select

from api import clock
from api.db.models import Booking
from api.db.models.activities import CATEGORIES
from api.schemas.activities import CATEGORY_LABELS, Category
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin, subscribe
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 1 December, 09:00 in Shanghai
AVATAR = "https://thirdwx.qlogo.cn/mmopen/chen/132"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


async def drain(app: Any) -> None:
    """Whatever the worker has to do (text checks, pushes)."""
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


class S:
    async def build(self, client: httpx.AsyncClient, db: Any) -> S:
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
        changed = await client.patch("/api/v1/me", json={"avatar_url": AVATAR}, headers=self.chen.headers)
        assert changed.status_code == 200 and changed.json()["avatar_url"] == AVATAR
        self.li = await login(client, "li")
        pending = await join(client, self.li, self.b, room="101")
        approved = await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=self.chen.headers)
        assert approved.status_code == 200, approved.text
        self.zhou = await login(client, "zhou")
        self.zhou_me = (await join(client, self.zhou, self.b, room="102"))["member"]["id"]
        self.sun = await login(client, "sun")
        await join(client, self.sun, self.b, room="103")
        self.ma = await login(client, "ma")
        await join(client, self.ma, self.b, room="104")
        self.wang = await login(client, "wang")
        await join(client, self.wang, self.c, room="201")
        return self

    async def get(self, person: Person, path: str) -> Any:
        response = await self.client.get(f"/api/v1{path}", headers=person.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def activity_now(self, **fields: Any) -> int:
        """An activity of B starting in ten minutes: its check-in is open."""
        made = await activity(
            self.client,
            self.staff,
            self.b,
            start_at=(NOW + timedelta(minutes=10)).isoformat(),
            end_at=(NOW + timedelta(hours=1)).isoformat(),
            **fields,
        )
        return int(made["id"])

    async def came(self, activity_id: int, person: Person, member_ids: list[int]) -> None:
        booked = await book(self.client, person, activity_id, member_ids)
        assert booked.status_code == 201, booked.text
        checked = await self.client.post(
            f"/api/v1/activities/{activity_id}/checkins",
            json={"booking_id": booked.json()["id"]},
            headers=self.staff.headers,
        )
        assert checked.status_code == 200, checked.text

    async def posted(self, person: Person, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/communities/{self.b}/posts", json=body, headers=person.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def comment(self, person: Person, post_id: int, body: str) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/posts/{post_id}/comments", json={"body": body}, headers=person.headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def share(self, person: Person, target: str, target_id: int) -> str:
        response = await self.client.post(
            "/api/v1/shares", json={"target": target, "id": target_id}, headers=person.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    async def inbox(self, person: Person, kind_prefix: str) -> list[dict[str, Any]]:
        items = (await self.get(person, "/me/inbox"))["items"]
        return [e for e in items if e["kind"].startswith(kind_prefix)]


@pytest.fixture
async def s(client, db) -> S:
    return await S().build(client, db)


def by_id(posts: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {p["id"]: p for p in posts}


# -- 1. authors carry their avatar -----------------------------------------------------------------


async def test_authors_of_posts_and_comments_carry_their_avatar_on_every_screen(client, app, s):
    a = await s.activity_now()
    await s.came(a, s.chen, [s.chen_me, s.xiaoyu])
    by_staff = await s.posted(s.staff, body="手工课合影", activity_id=a)
    by_chen = await s.posted(s.chen, body="谢谢老师", activity_id=a, member_ids=[s.xiaoyu])
    await s.comment(s.zhou, by_staff["id"], "拍得真好")
    waiting = await s.comment(s.chen, by_staff["id"], "待审核的一句话")  # the check is unsure: staff decide
    answered = await s.comment(s.staff, by_staff["id"], "谢谢大家")
    await drain(app)

    chen = {"id": s.chen.user_id, "name": "chen", "avatar_url": AVATAR, "staff": False}
    # staff have no household, so no name of their own yet: they are the social worker
    staff = {"id": s.staff.user_id, "name": "社工", "avatar_url": None, "staff": True}
    assert by_chen["author"] == chen  # the author's own answer
    assert answered["author"] == staff  # a social worker's comment says so
    assert waiting["author"] == chen

    feed = await s.get(s.sun, f"/communities/{s.b}/feed")
    assert [(p["id"], p["author"]) for p in feed["items"]] == [(by_chen["id"], chen), (by_staff["id"], staff)]
    album = await s.get(s.sun, f"/activities/{a}/album")
    assert [p["author"] for p in album["items"]] == [chen, staff]
    growth = await s.get(s.li, f"/members/{s.xiaoyu}/album")
    assert [p["author"] for p in growth["items"]] == [chen]
    assert (await s.get(s.zhou, f"/posts/{by_chen['id']}"))["author"] == chen
    token = await s.share(s.zhou, "post", by_chen["id"])
    assert (await s.get(s.sun, f"/shares/{token}"))["post"]["author"] == chen

    comments = await s.get(s.sun, f"/posts/{by_staff['id']}/comments")  # the waiting one is not shown
    zhou = {"id": s.zhou.user_id, "name": "zhou", "avatar_url": None, "staff": False}
    assert [(c["body"], c["author"]) for c in comments] == [("拍得真好", zhou), ("谢谢大家", staff)]
    # the moderation queue names whoever wrote the comment waiting there, with their avatar
    queue = await s.get(s.staff, f"/communities/{s.b}/moderation")
    assert [(c["id"], c["author"]) for c in queue["comments"]] == [(waiting["id"], chen)]
    decided = await client.post(
        f"/api/v1/comments/{waiting['id']}/moderate", json={"approve": True}, headers=s.staff.headers
    )
    assert decided.status_code == 200 and decided.json()["author"] == chen
    # a changed avatar shows at once: it is read with the name, never copied
    await client.patch("/api/v1/me", json={"avatar_url": AVATAR + "?v=2"}, headers=s.chen.headers)
    feed = await s.get(s.sun, f"/communities/{s.b}/feed")
    assert feed["items"][0]["author"]["avatar_url"] == AVATAR + "?v=2"


async def test_a_feed_page_is_the_same_statements_however_many_posts_tags_and_likes_it_holds(client, app, db, s):
    """docs/architecture.md "The feed is three queries a page": avatars come with the names, the
    tags the reader may see with the reader's likes."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):  # SQLite's own
            statements.append(statement)

    async def first_page(person: Person) -> int:
        statements.clear()
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            page = await s.get(person, f"/communities/{s.b}/feed")
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert page["items"]
        return len(statements)

    a = await s.activity_now()
    await s.came(a, s.chen, [s.chen_me, s.xiaoyu])
    await s.came(a, s.zhou, [s.zhou_me])
    await s.posted(s.staff, body="第一条")
    one = {person.name: await first_page(person) for person in (s.chen, s.staff)}

    for n in range(6):
        post = await s.posted(s.staff, body=f"合影{n}", activity_id=a, member_ids=[s.xiaoyu, s.zhou_me])
        await client.post(f"/api/v1/posts/{post['id']}/like", headers=s.chen.headers)
    await s.posted(s.chen, body="待审核的动态", member_ids=[s.xiaoyu])  # chen's own, waiting
    await drain(app)
    pinned = await s.posted(s.staff, body="置顶")
    await client.patch(f"/api/v1/posts/{pinned['id']}", json={"pinned": True}, headers=s.staff.headers)
    many = {person.name: await first_page(person) for person in (s.chen, s.staff)}
    assert many == one
    # a resident's first page: the caller, the role, the active member record, then the pinned
    # posts, the page, the waiting posts, their photos, and the likes with the tags
    assert one["chen"] == 8


# -- 2. categories ---------------------------------------------------------------------------------


async def test_categories_come_with_their_labels_from_one_endpoint_for_anyone(client, s):
    expected = {
        "activity": [
            {"value": "children", "label": "儿童"},
            {"value": "parent_child", "label": "亲子"},
            {"value": "elders", "label": "老年人"},
            {"value": "culture", "label": "文化"},
            {"value": "volunteering", "label": "志愿服务"},
            {"value": "deliberation", "label": "议事协商"},
            {"value": "other", "label": "其他"},
        ]
    }
    anonymous = await client.get("/api/v1/categories")  # before logging in: the first screen may need it
    assert anonymous.status_code == 200 and anonymous.json() == expected
    assert anonymous.headers["cache-control"] == "public, max-age=3600"
    assert (await s.get(s.chen, "/categories")) == expected
    # one definition: every category the database accepts has a label, and nothing else has one
    assert list(CATEGORY_LABELS) == list(get_args(Category)) == list(CATEGORIES)


# -- 3. announcements: a resident's shape and the staff's --------------------------------------------

RESIDENT_FIELDS = {
    "view",
    "id",
    "community_id",
    "title",
    "excerpt",
    "body",
    "pinned",
    "published_at",
    "edited_at",
    "read",
}
STAFF_FIELDS = RESIDENT_FIELDS | {"status", "publish_at", "audience", "author_id", "withdrawn_at", "stats", "revisions"}


async def test_a_resident_reads_an_announcement_without_any_staff_field(client, app, s):
    made = await client.post(
        f"/api/v1/communities/{s.b}/announcements",
        json={"title": "书屋周一闭馆", "body": "本周一书屋盘点，闭馆一天。", "pinned": True},
        headers=s.staff.headers,
    )
    assert made.status_code == 201 and set(made.json()) == STAFF_FIELDS and made.json()["view"] == "staff"
    notice = made.json()["id"]
    await drain(app)

    detail = await s.get(s.chen, f"/announcements/{notice}")
    assert detail == {
        "view": "resident",
        "id": notice,
        "community_id": s.b,
        "title": "书屋周一闭馆",
        "excerpt": "本周一书屋盘点，闭馆一天。",
        "body": "本周一书屋盘点，闭馆一天。",
        "pinned": True,
        "published_at": "2026-12-01T09:00:00+08:00",
        "edited_at": None,
        "read": False,
    }
    (item,) = (await s.get(s.chen, f"/communities/{s.b}/announcements"))["items"]
    assert set(item) == RESIDENT_FIELDS and item["body"] is None and item["view"] == "resident"
    read = await client.post(f"/api/v1/announcements/{notice}/read", headers=s.chen.headers)
    assert read.status_code == 200 and set(read.json()) == RESIDENT_FIELDS and read.json()["read"] is True

    # staff: the state, the audience and the counts (chen read it)
    staff_detail = await s.get(s.staff, f"/announcements/{notice}")
    assert set(staff_detail) == STAFF_FIELDS and staff_detail["view"] == "staff"
    assert (staff_detail["status"], staff_detail["audience"], staff_detail["revisions"]) == (
        "published",
        {"kind": "community"},
        [],
    )
    assert (staff_detail["stats"]["recipients"], staff_detail["stats"]["read"]) == (5, 1)
    (staff_item,) = (await s.get(s.staff, f"/communities/{s.b}/announcements"))["items"]
    assert set(staff_item) == STAFF_FIELDS and staff_item["revisions"] is None and staff_item["stats"]["read"] == 1

    # the OpenAPI documents both shapes, told apart by `view`
    schema = (await client.get("/openapi.json")).json()
    answer = schema["paths"]["/api/v1/announcements/{announcement_id}"]["get"]["responses"]["200"]
    body = answer["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "view"
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in body["oneOf"]} == {"ResidentAnnouncement", "StaffAnnouncement"}
    resident = schema["components"]["schemas"]["ResidentAnnouncement"]
    assert set(resident["properties"]) == RESIDENT_FIELDS


# -- 4. team decisions are told ----------------------------------------------------------------------


async def test_the_applicant_hears_once_whether_they_were_let_into_the_team(client, app, s):
    made = await client.post(
        f"/api/v1/communities/{s.b}/teams",
        json={"name": "公益志愿队", "leader_ids": [s.zhou.user_id]},
        headers=s.staff.headers,
    )
    team = made.json()["id"]
    for person in (s.chen, s.sun):
        assert (await client.post(f"/api/v1/teams/{team}/join", headers=person.headers)).status_code == 200
    await subscribe(client, s.chen, "demo-team-request_approved")

    decide = f"/api/v1/teams/{team}/requests"
    for _ in range(2):  # the leader taps twice: one decision, one message
        approved = await client.post(f"{decide}/{s.chen.user_id}", json={"approve": True}, headers=s.zhou.headers)
        assert approved.status_code == 200 and approved.json()["members"] == 2
    (welcome,) = await s.inbox(s.chen, "team.request_")
    assert (welcome["kind"], welcome["title"]) == ("team.request_approved", "欢迎加入公益志愿队")
    assert "申请通过了" in welcome["body"] and welcome["page"] == f"pages/volunteers/team?id={team}"
    # refusing someone already let in is not how members leave
    assert error(await client.post(f"{decide}/{s.chen.user_id}", json={"approve": False}, headers=s.staff.headers)) == (
        409,
        "request_already_approved",
    )

    refused = await client.post(f"{decide}/{s.sun.user_id}", json={"approve": False}, headers=s.staff.headers)
    assert refused.status_code == 200
    again = await client.post(f"{decide}/{s.sun.user_id}", json={"approve": False}, headers=s.staff.headers)
    assert error(again) == (404, "request_not_found")  # the request is gone: nothing to decide, nobody told
    (sorry,) = await s.inbox(s.sun, "team.request_")
    assert (sorry["kind"], sorry["title"]) == ("team.request_refused", "公益志愿队的入队申请没有通过")
    assert sorry["page"] == f"pages/volunteers/team?id={team}"
    # nobody else hears of it: not the leader who decided, not the other applicant, not staff
    for person in (s.zhou, s.staff, s.li):
        assert await s.inbox(person, "team.request_") == []
    assert [e["kind"] for e in await s.inbox(s.chen, "team.request_")] == ["team.request_approved"]

    # asking again is a new request, and its refusal a new decision, told again
    clock.advance(timedelta(days=1))
    assert (await client.post(f"/api/v1/teams/{team}/join", headers=s.sun.headers)).status_code == 200
    assert (
        await client.post(f"{decide}/{s.sun.user_id}", json={"approve": False}, headers=s.zhou.headers)
    ).status_code == 200
    assert [e["kind"] for e in await s.inbox(s.sun, "team.request_")] == ["team.request_refused"] * 2

    # the one who allowed the message gets it on WeChat too, with the kind's default keywords
    await drain(app)
    pushes = (await s.get(s.staff, f"/communities/{s.b}/deliveries"))["items"]
    (push,) = [p for p in pushes if p["kind"].startswith("team.request_")]
    assert (push["recipient"]["user_id"], push["status"]) == (s.chen.user_id, "sent")
    assert push["request"]["data"] == {"thing1": {"value": "公益志愿队"}, "phrase2": {"value": "已通过"}}


# -- 5. fair attribution ---------------------------------------------------------------------------


async def test_a_booking_is_attributed_to_the_last_opened_share_of_the_activity_or_its_posts(client, db, s):
    x = await s.activity_now(title="周六手工课")
    z = await s.activity_now(title="周日观影")
    about_x = await s.posted(s.staff, body="手工课的材料准备好了", activity_id=x)
    other = await s.posted(s.staff, body="书屋新到了一批绘本")
    shares = {
        "x": await s.share(s.chen, "activity", x),
        "about_x": await s.share(s.chen, "post", about_x["id"]),
        "other": await s.share(s.chen, "post", other["id"]),
        "z": await s.share(s.chen, "activity", z),
    }

    async def opens(person: Person, *names: str) -> None:
        for name in names:
            clock.advance(timedelta(minutes=1))
            assert (await s.get(person, f"/shares/{shares[name]}"))["community"]["id"] == s.b

    async def booked(person: Person, activity_id: int) -> int | None:
        response = await book(client, person, activity_id)
        assert response.status_code == 201, response.text
        async with db.session() as session:
            found = await session.get(Booking, response.json()["id"])
            assert found is not None
            return found.share_id

    async def share_id(token: str) -> int:
        from api.db.models import Share

        async with db.session() as session:
            return int((await session.execute(select(Share.id).where(Share.token == token))).scalar_one())

    await opens(s.zhou, "x", "other")  # the activity's share, then another post's
    await opens(s.sun, "other", "x")  # the other way round
    await opens(s.li, "x", "about_x")  # the activity, then a post of its album: the later one
    await opens(s.ma, "z")  # only another activity's share
    assert await booked(s.zhou, x) == await share_id(shares["x"])
    assert await booked(s.sun, x) == await share_id(shares["x"])
    assert await booked(s.li, x) == await share_id(shares["about_x"])
    assert await booked(s.ma, x) is None
    assert await booked(s.ma, z) == await share_id(shares["z"])

    # the loop's figures follow: each activity counts the bookings of it that a share brought
    loop_x = await s.get(s.staff, f"/activities/{x}/loop")
    assert (loop_x["shares"], loop_x["share_opens"], loop_x["bookings_from_shares"]) == (2, 4, 3)
    loop_z = await s.get(s.staff, f"/activities/{z}/loop")
    assert (loop_z["shares"], loop_z["share_opens"], loop_z["bookings_from_shares"]) == (1, 1, 1)
    month = await s.get(s.staff, f"/communities/{s.b}/loop?month=2026-12")
    assert (month["shares"], month["share_opens"], month["bookings_from_shares"]) == (4, 7, 4)


# -- 6. children's tags ----------------------------------------------------------------------------


def names(post: dict[str, Any]) -> list[str]:
    return [m["name"] for m in post["members"]]


async def test_whom_a_post_tags_is_shown_only_to_their_household_and_staff(client, app, s):
    a = await s.activity_now()
    await s.came(a, s.chen, [s.chen_me, s.xiaoyu])
    await s.came(a, s.zhou, [s.zhou_me])
    family = await s.posted(s.chen, body="第一次上台表演", activity_id=a, member_ids=[s.xiaoyu])
    group = await s.posted(s.staff, body="活动合影", activity_id=a, member_ids=[s.xiaoyu, s.zhou_me])
    father = await s.posted(s.chen, body="爸爸也来了", visibility="public", member_ids=[s.chen_me])
    unsure = await s.posted(s.chen, body="待审核的成长记录", member_ids=[s.xiaoyu])
    await drain(app)
    assert family["members"] == [{"id": s.xiaoyu, "name": "小雨"}]  # the author's own answer
    assert family["shows_children"] is True  # a child tagged: the community's only

    # what each reader sees of the tags, on every screen that lists posts
    seen = [
        (s.chen, {family["id"]: ["小雨"], group["id"]: ["小雨"], father["id"]: ["chen"]}),
        (s.li, {family["id"]: ["小雨"], group["id"]: ["小雨"], father["id"]: ["chen"]}),
        (s.zhou, {family["id"]: [], group["id"]: ["zhou"], father["id"]: []}),
        (s.sun, {family["id"]: [], group["id"]: [], father["id"]: []}),
        (s.staff, {family["id"]: ["小雨"], group["id"]: ["小雨", "zhou"], father["id"]: ["chen"]}),
    ]
    for person, expected in seen:
        feed = by_id((await s.get(person, f"/communities/{s.b}/feed"))["items"])
        album = by_id((await s.get(person, f"/activities/{a}/album"))["items"])
        for post_id, tagged in expected.items():
            assert names(feed[post_id]) == tagged, (person.name, post_id)
            assert names(await s.get(person, f"/posts/{post_id}")) == tagged, (person.name, post_id)
            if post_id != father["id"]:
                assert names(album[post_id]) == tagged, (person.name, post_id)
    # nothing of the child reaches another household: no name, no id, no count
    sun_view = json.dumps(await s.get(s.sun, f"/posts/{family['id']}"), ensure_ascii=False)
    assert "小雨" not in sun_view and "member" not in sun_view.replace('"members": []', "")
    assert names(by_id((await s.get(s.zhou, f"/communities/{s.b}/feed"))["items"])[group["id"]]) == ["zhou"]

    # the growth album: the household and staff, each with what they may see of the tags
    growth = f"/members/{s.xiaoyu}/album"
    assert [names(p) for p in (await s.get(s.li, growth))["items"]] == [["小雨"], ["小雨"]]
    assert [names(p) for p in (await s.get(s.staff, growth))["items"]] == [["小雨", "zhou"], ["小雨"]]
    # the moderation queue is for staff, who see whom the waiting post is about
    queue = await s.get(s.staff, f"/communities/{s.b}/moderation")
    assert [(p["id"], names(p)) for p in queue["posts"]] == [(unsure["id"], ["小雨"])]
    # the author's own waiting post, on the feed's first page
    mine = (await s.get(s.chen, f"/communities/{s.b}/feed"))["mine_waiting"]
    assert [(p["id"], names(p)) for p in mine] == [(unsure["id"], ["小雨"])]

    # through a share, as in the feed: the household and staff see the tags, nobody else
    token = await s.share(s.zhou, "post", group["id"])
    for person, tagged in ((s.li, ["小雨"]), (s.zhou, ["zhou"]), (s.sun, []), (s.staff, ["小雨", "zhou"])):
        assert names((await s.get(person, f"/shares/{token}"))["post"]) == tagged, person.name
    outsider = await login(client, "visitor")
    for viewer in (outsider, s.wang):  # community-only (a child is tagged): nothing of it at all
        closed = await s.get(viewer, f"/shares/{token}")
        assert (closed["members_only"], closed["post"]) == (True, None)
        public = await s.get(viewer, f"/shares/{await s.share(s.chen, 'post', father['id'])}")
        assert public["post"]["id"] == father["id"] and public["post"]["members"] == []
