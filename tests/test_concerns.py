"""Concerns (烦心事) through the HTTP API: raising one (its checks, photos and building), the board
with its filters and counts, the suggestions, "me too", comments, moderation, and the rule that a
hidden raiser's name reaches no other resident through any endpoint.

Triage, verdicts and clocks are in test_concerns_triage.py; simultaneous taps in
test_concerns_concurrency.py. In fake WeChat mode the configured words decide the text check
("待审核" → review, "违禁词" → risky) and the fake's pushed verdicts the photos.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from api import clock
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PUBLIC_URL = "http://linli.test"
SECRET_NAME = "陈隐名"  # the raiser who hides their name: it must reach no other resident
SECRET_AVATAR = "https://img.example.org/chen-hidden-avatar.png"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600, public_url=PUBLIC_URL)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


async def drain(app: Any) -> None:
    """Everything the worker has to do: renditions, text checks, image checks, and half a minute
    later the fake WeChat's pushed image verdicts. Periodic jobs run too (they find nothing due
    unless a test moved the clock)."""
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()
    clock.advance(timedelta(seconds=31))
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


def jpeg(color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


class W:
    """Community B: its staff, an admin (not a platform admin), residents chen (1栋, who hides his
    name when he raises), zhou (1栋), sun (2栋), li (2栋); community C with its staff and wang."""

    async def build(self, client: httpx.AsyncClient, db: Any) -> W:
        self.client = client
        self.db = db
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.admin = await login(client, "badmin")
        await grant(client, self.root, self.b, self.admin, "admin")
        self.chen = await login(client, SECRET_NAME)
        await join(client, self.chen, self.b, building="1栋", room="101")
        avatar = await client.patch("/api/v1/me", json={"avatar_url": SECRET_AVATAR}, headers=self.chen.headers)
        assert avatar.status_code == 200, avatar.text
        self.zhou = await login(client, "zhou")
        await join(client, self.zhou, self.b, building="1栋", room="102")
        self.sun = await login(client, "sun")
        await join(client, self.sun, self.b, building="2栋", room="201")
        self.li = await login(client, "li")
        await join(client, self.li, self.b, building="2栋", room="202")
        self.cstaff = await login(client, "cstaff")
        await grant(client, self.root, self.c, self.cstaff, "staff")
        self.wang = await login(client, "wang")
        await join(client, self.wang, self.c, building="1栋", room="101")
        return self

    async def upload(self, person: Person, community_id: int | None = None, shade: int = 40) -> int:
        response = await self.client.post(
            "/api/v1/media",
            data={"community_id": str(community_id or self.b)},
            files={"file": ("photo.jpg", jpeg((shade, 120, 90)), "image/jpeg")},
            headers=person.headers,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def raise_(self, person: Person, community_id: int | None = None, **body: Any) -> httpx.Response:
        fields = {"category": "parking", "building": "1栋", "title": "电动车乱停", "body": "楼道口堵住了", **body}
        return await self.client.post(
            f"/api/v1/communities/{community_id or self.b}/concerns", json=fields, headers=person.headers
        )

    async def raised(self, person: Person, **body: Any) -> dict[str, Any]:
        response = await self.raise_(person, **body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, person: Person, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", params=params, headers=person.headers)

    async def post(self, person: Person, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(f"/api/v1{path}", json=body, headers=person.headers)

    async def detail(self, person: Person, concern_id: int) -> dict[str, Any]:
        response = await self.get(person, f"/concerns/{concern_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def board(self, person: Person, **params: Any) -> dict[str, Any]:
        response = await self.get(person, f"/communities/{self.b}/concerns", limit=100, **params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def board_ids(self, person: Person, **params: Any) -> list[int]:
        return [c["id"] for c in (await self.board(person, **params))["items"]]

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        response = await self.get(person, "/me/inbox")
        assert response.status_code == 200, response.text
        return [e for e in response.json()["items"] if e["kind"].startswith("concern.")]

    async def visible(self, person: Person, app: Any, **body: Any) -> dict[str, Any]:
        """A concern raised and checked: visible to the community."""
        concern = await self.raised(person, **body)
        await drain(app)
        return await self.detail(person, concern["id"])


@pytest.fixture
async def w(client, db) -> W:
    return await W().build(client, db)


# -- raising -------------------------------------------------------------------------------------------


async def test_a_raised_concern_is_seen_by_the_community_once_its_text_and_photos_passed(client, app, w):
    photos = [await w.upload(w.chen, shade=n * 40) for n in range(2)]
    raised = await w.raised(w.chen, media_ids=photos, place="1栋东侧车棚")
    assert (raised["status"], raised["status_label"], raised["visibility"]) == ("submitted", "待受理", "checking")
    assert (raised["category_label"], raised["building"], raised["place"]) == ("停车", "1栋", "1栋东侧车棚")
    # raised on Tuesday 10:00: to be answered within two working days, Thursday 10:00
    assert raised["accept_by"] == "2026-12-03T10:00:00+08:00"
    assert [p["id"] for p in raised["photos"]] == photos
    assert [e["kind"] for e in raised["timeline"]] == ["submitted"]
    assert raised["raiser"]["name"] == SECRET_NAME and raised["is_raiser"] is True

    # until it passed: its raiser and staff only
    assert (await w.get(w.zhou, f"/concerns/{raised['id']}")).status_code == 404
    assert await w.board_ids(w.zhou) == []
    assert await w.board_ids(w.chen) == [raised["id"]]
    staff_view = await w.board(w.staff)
    assert [c["id"] for c in staff_view["items"]] == [raised["id"]]
    assert staff_view["counts"]["by_status"]["submitted"] == 1 and staff_view["counts"]["late"] == 0
    assert staff_view["items"][0]["visibility"] == "checking"

    await drain(app)
    seen = await w.detail(w.zhou, raised["id"])
    assert seen["visibility"] is None and seen["status"] == "submitted"
    assert [set(p["urls"]) for p in seen["photos"]] == [{"thumb", "feed", "large"}] * 2
    (card,) = (await w.board(w.zhou))["items"]
    assert card["id"] == raised["id"] and set(card["cover"]["urls"]) == {"thumb"}
    assert (await w.board(w.zhou))["counts"] is None  # the columns' counts are the console's
    assert (await w.detail(w.chen, raised["id"]))["visibility"] == "visible"

    # staff's own are visible at once, without a text check
    by_staff = await w.raised(w.staff, title="3栋路灯不亮", category="repair", building="")
    assert by_staff["visibility"] == "visible" and by_staff["building"] == ""
    assert (await w.detail(w.zhou, by_staff["id"]))["raiser"] == {
        "id": None,
        "name": "社工",
        "avatar_url": None,
        "staff": True,
        "hidden": False,
    }


async def test_raising_takes_my_unused_photos_a_building_of_the_community_and_bounded_text(client, app, w):
    mine = [await w.upload(w.chen, shade=n * 20) for n in range(7)]
    zhous = await w.upload(w.zhou)
    elsewhere = await w.upload(w.root, w.c)
    await drain(app)

    assert error(await w.raise_(w.chen, media_ids=mine)) == (422, "validation_error")  # seven
    someone_elses = await w.raise_(w.chen, media_ids=[mine[0], zhous])
    assert error(someone_elses) == (422, "media_not_found")
    assert someone_elses.json()["error"]["details"] == {"media_id": zhous}
    assert error(await w.raise_(w.root, media_ids=[elsewhere])) == (422, "media_not_found")
    assert error(await w.raise_(w.chen, media_ids=[mine[0], mine[0]])) == (422, "media_repeated")
    post = await client.post(
        f"/api/v1/communities/{w.b}/posts", json={"body": "车棚", "media_ids": [mine[0]]}, headers=w.chen.headers
    )
    assert post.status_code == 201, post.text
    assert error(await w.raise_(w.chen, media_ids=[mine[0]])) == (409, "media_in_use")  # in a post
    first = await w.raised(w.chen, media_ids=mine[1:3])
    assert error(await w.raise_(w.chen, media_ids=[mine[2]])) == (409, "media_in_use")  # in another concern
    in_a_post = await client.post(
        f"/api/v1/communities/{w.b}/posts", json={"body": "车棚", "media_ids": [mine[1]]}, headers=w.chen.headers
    )
    assert error(in_a_post) == (409, "media_in_use")  # nor in a post once it is in a concern
    assert first["photo_count"] == 2

    nowhere = await w.raise_(w.chen, building="9栋")
    assert error(nowhere) == (422, "building_not_found") and "building" in nowhere.json()["error"]["message"]
    assert (await w.raised(w.chen, building="1号楼"))["building"] == "1栋"  # as the community writes it
    too_long = await w.raise_(w.chen, title="邻" * 65)
    assert error(too_long) == (422, "validation_error")
    assert too_long.json()["error"]["details"][0]["loc"] == ["body", "title"]
    assert error(await w.raise_(w.chen, body="邻" * 2001)) == (422, "validation_error")
    assert error(await w.raise_(w.chen, category="traffic")) == (422, "validation_error")
    assert error(await w.raise_(w.chen, visibility="public")) == (422, "unknown_field")
    assert error(await w.raise_(w.wang)) == (403, "not_a_member")  # wang lives in C
    assert (await w.raise_(w.wang, community_id=w.c, building="1栋")).status_code == 201
    assert len(await w.board_ids(w.staff)) == 2  # nothing of C on B's board


async def test_the_text_check_decides_and_staff_moderate_the_unsure(client, app, w):
    unsure = await w.raised(w.chen, title="车棚的事", body="这条待审核")
    refused = await w.raised(w.zhou, title="另一件", body="也是待审核的")
    risky = await w.raised(w.sun, building="2栋", body="这里有违禁词")
    fine = await w.raised(w.li, building="2栋", title="垃圾桶满了", category="sanitation")
    await drain(app)

    assert await w.board_ids(w.zhou) == [fine["id"], refused["id"]]  # his own, waiting, and the one passed
    assert (await w.detail(w.chen, unsure["id"]))["visibility"] == "review"
    mine = await w.detail(w.sun, risky["id"])
    assert mine["visibility"] == "rejected" and "时政" in mine["moderation_note"]
    (note,) = await w.inbox(w.sun)
    assert note["kind"] == "concern.rejected" and f"id={risky['id']}" in note["page"]
    assert (await w.get(w.zhou, f"/concerns/{risky['id']}")).status_code == 404

    queue = await w.get(w.staff, f"/communities/{w.b}/concerns/review")
    assert [c["id"] for c in queue.json()["concerns"]] == [unsure["id"], refused["id"]]
    assert error(await w.get(w.chen, f"/communities/{w.b}/concerns/review")) == (403, "staff_only")
    assert error(await w.get(w.wang, f"/communities/{w.b}/concerns/review")) == (404, "community_not_found")
    assert error(await w.post(w.chen, f"/concerns/{unsure['id']}/moderate", {"approve": True})) == (403, "staff_only")
    assert error(await w.post(w.cstaff, f"/concerns/{unsure['id']}/moderate", {"approve": True})) == (
        404,
        "concern_not_found",
    )
    approved = await w.post(w.staff, f"/concerns/{unsure['id']}/moderate", {"approve": True})
    assert approved.status_code == 200 and approved.json()["visibility"] == "visible"
    no_reason = await w.post(w.staff, f"/concerns/{refused['id']}/moderate", {"approve": False})
    assert error(no_reason) == (422, "reason_required")
    rejected = await w.post(w.staff, f"/concerns/{refused['id']}/moderate", {"approve": False, "note": "与社区无关"})
    assert rejected.json()["visibility"] == "rejected" and rejected.json()["moderation_note"] == "与社区无关"
    assert error(await w.post(w.staff, f"/concerns/{risky['id']}/moderate", {"approve": True})) == (
        409,
        "concern_not_waiting",
    )
    assert [c["id"] for c in (await w.get(w.staff, f"/communities/{w.b}/concerns/review")).json()["concerns"]] == []
    assert await w.board_ids(w.sun) == [fine["id"], risky["id"], unsure["id"]]  # sun sees their own refused one

    # staff take a shown concern down, and may bring it back
    hidden = await w.post(w.staff, f"/concerns/{fine['id']}/moderate", {"approve": False, "note": "涉及个人信息"})
    assert hidden.json()["visibility"] == "hidden"
    assert (await w.get(w.zhou, f"/concerns/{fine['id']}")).status_code == 404
    assert (await w.detail(w.li, fine["id"]))["moderation_note"] == "涉及个人信息"
    assert [e["kind"] for e in await w.inbox(w.li)] == ["concern.rejected"]
    back = await w.post(w.staff, f"/concerns/{fine['id']}/moderate", {"approve": True})
    assert back.json()["visibility"] == "visible" and back.json()["moderation_note"] is None
    assert fine["id"] in await w.board_ids(w.zhou)
    # the moderation notes are staff's: residents' timelines show none
    assert [e["kind"] for e in (await w.detail(w.zhou, fine["id"]))["timeline"]] == ["submitted"]
    assert "note" in [e["kind"] for e in (await w.detail(w.staff, fine["id"]))["timeline"]]


async def test_a_photo_waits_for_its_verdict_and_a_risky_one_refuses_the_concern(client, app, w):
    from api.wechat.client import fake_wechat

    fake = fake_wechat(app.state.wechat.http)
    assert fake is not None
    fake.script_media_verdict("risky")
    bad = await w.upload(w.chen)
    concern = await w.raised(w.chen, media_ids=[bad])
    await drain(app)
    seen = await w.detail(w.chen, concern["id"])
    assert seen["visibility"] == "rejected" and seen["moderation_note"] == "有照片未通过安全检查"
    assert await w.board_ids(w.zhou) == []


# -- suggestions and the board -------------------------------------------------------------------------


async def test_similar_open_concerns_of_the_building_and_category_come_first(client, app, w):
    few = await w.raised(w.chen, title="电动车堵门")
    many = await w.raised(w.sun, title="楼下乱停车")
    other_building = await w.raised(w.li, building="2栋", title="2栋也乱停")
    other_category = await w.raised(w.sun, category="noise", title="广场舞噪音")
    done = await w.raised(w.li, title="已经处理过的")
    waiting = await w.raised(w.li, title="还在审核中", body="待审核")
    await drain(app)
    for person in (w.zhou, w.li):
        assert (await w.post(person, f"/concerns/{many['id']}/metoo")).status_code == 200
    assert (await w.post(w.zhou, f"/concerns/{few['id']}/metoo")).status_code == 200
    await w.post(w.staff, f"/concerns/{done['id']}/decline", {"outcome": "referred", "referred_to": "街道城管科"})

    found = await w.get(w.zhou, f"/communities/{w.b}/concerns/similar", building="1号楼", category="parking")
    assert found.status_code == 200
    assert [c["id"] for c in found.json()] == [many["id"], few["id"]]
    assert [c["metoo_count"] for c in found.json()] == [2, 1] and found.json()[1]["me_too"] is True
    assert waiting["id"] not in [c["id"] for c in found.json()]
    other = await w.get(w.zhou, f"/communities/{w.b}/concerns/similar", building="2栋", category="parking")
    assert [c["id"] for c in other.json()] == [other_building["id"]]
    assert (await w.get(w.zhou, f"/communities/{w.b}/concerns/similar", building="9栋", category="noise")).json() == []
    assert [
        c["id"] for c in (await w.get(w.zhou, f"/communities/{w.b}/concerns/similar", category="noise")).json()
    ] == []
    assert other_category["building"] == "1栋"
    assert error(await w.get(w.wang, f"/communities/{w.b}/concerns/similar", category="parking")) == (
        404,
        "community_not_found",
    )


async def test_the_board_filters_pages_and_counts(client, app, w):
    ids = {}
    ids["a"] = (await w.raised(w.chen, title="一"))["id"]
    clock.advance(timedelta(minutes=1))
    ids["b"] = (await w.raised(w.zhou, title="二", category="noise"))["id"]
    clock.advance(timedelta(minutes=1))
    ids["c"] = (await w.raised(w.sun, title="三", building="2栋"))["id"]
    clock.advance(timedelta(minutes=1))
    ids["d"] = (await w.raised(w.li, title="四", building="2栋", category="repair"))["id"]
    await drain(app)
    accepted = await w.post(w.staff, f"/concerns/{ids['b']}/accept", {"level": 2})
    assert accepted.status_code == 200, accepted.text
    await w.post(w.staff, f"/concerns/{ids['c']}/accept", {"level": 1, "responsible": "物业"})
    await w.post(w.staff, f"/concerns/{ids['c']}/start")
    assert (await w.post(w.zhou, f"/concerns/{ids['d']}/metoo")).status_code == 200

    assert await w.board_ids(w.zhou) == [ids["d"], ids["c"], ids["b"], ids["a"]]  # newest first
    assert await w.board_ids(w.zhou, status="accepted") == [ids["b"]]
    assert await w.board_ids(w.zhou, status=["accepted", "in_progress"]) == [ids["c"], ids["b"]]
    assert await w.board_ids(w.zhou, category="noise") == [ids["b"]]
    assert await w.board_ids(w.zhou, building="2号楼") == [ids["d"], ids["c"]]
    assert await w.board_ids(w.zhou, building="9栋") == []
    assert await w.board_ids(w.zhou, level=1) == [ids["c"]]
    assert await w.board_ids(w.zhou, mine="true") == [ids["d"], ids["b"]]  # me too, and raised
    assert error(await w.get(w.zhou, f"/communities/{w.b}/concerns", status="open")) == (422, "validation_error")

    # two working days later (Thursday 10:03, the last one's clock): the first is late, the last not yet
    (last,) = [c for c in (await w.board(w.zhou))["items"] if c["id"] == ids["d"]]
    clock.freeze(datetime.fromisoformat(last["accept_by"]))
    assert await w.board_ids(w.zhou, late="true") == [ids["a"]]
    clock.advance(timedelta(minutes=1))
    assert await w.board_ids(w.zhou, late="true") == [ids["d"], ids["a"]]
    assert await w.board_ids(w.zhou, late="false") == [ids["c"], ids["b"]]
    counts = (await w.board(w.staff))["counts"]
    assert counts["late"] == 2
    assert {k: v for k, v in counts["by_status"].items() if v} == {"submitted": 2, "accepted": 1, "in_progress": 1}
    assert (await w.board(w.staff, building="2栋"))["counts"]["by_status"]["submitted"] == 1
    assert (await w.board(w.staff, status="accepted"))["counts"]["by_status"]["submitted"] == 2  # states aside

    first = await w.get(w.zhou, f"/communities/{w.b}/concerns", limit=3)
    assert [c["id"] for c in first.json()["items"]] == [ids["d"], ids["c"], ids["b"]]
    rest = await w.get(w.zhou, f"/communities/{w.b}/concerns", limit=3, cursor=first.json()["next_cursor"])
    assert [c["id"] for c in rest.json()["items"]] == [ids["a"]] and rest.json()["next_cursor"] is None
    assert error(await w.get(w.zhou, f"/communities/{w.b}/concerns", cursor="nonsense")) == (400, "invalid_cursor")


async def test_the_staff_boards_late_count_leaves_out_what_moderation_refused_or_took_down(client, app, w):
    await w.raised(w.sun, building="2栋", body="这里有违禁词")  # refused by the text check
    taken_down = await w.visible(w.li, app, building="2栋", title="垃圾桶满了", category="sanitation")
    waiting = await w.visible(w.chen, app)
    down = await w.post(w.staff, f"/concerns/{taken_down['id']}/moderate", {"approve": False, "note": "涉及个人信息"})
    assert down.json()["visibility"] == "hidden"
    clock.freeze(datetime.fromisoformat(waiting["accept_by"]) + timedelta(minutes=1))
    board = await w.board(w.staff)
    assert {c["visibility"] for c in board["items"] if c["late"] == "response"} == {"rejected", "hidden", "visible"}
    assert board["counts"]["late"] == 1  # nobody waits for an answer to the other two


# -- me too and comments -------------------------------------------------------------------------------


async def test_me_too_once_per_resident_never_by_the_raiser_only_while_open(client, app, w):
    concern = await w.visible(w.chen, app)
    path = f"/concerns/{concern['id']}/metoo"
    first = await w.post(w.zhou, path)
    assert first.status_code == 200 and (first.json()["metoo_count"], first.json()["me_too"]) == (1, True)
    again = await w.post(w.zhou, path)
    assert (again.json()["metoo_count"], again.json()["me_too"]) == (1, True)
    assert (await w.post(w.sun, path)).json()["metoo_count"] == 2
    own = await w.post(w.chen, path)
    assert error(own) == (409, "concern_own")
    assert error(await w.post(w.staff, path)) == (403, "residents_only")
    assert error(await w.post(w.wang, path)) == (404, "concern_not_found")
    taken_back = await client.delete(f"/api/v1{path}", headers=w.zhou.headers)
    assert (taken_back.json()["metoo_count"], taken_back.json()["me_too"]) == (1, False)
    twice = await client.delete(f"/api/v1{path}", headers=w.zhou.headers)
    assert twice.json()["metoo_count"] == 1
    assert (await w.detail(w.sun, concern["id"]))["me_too"] is True

    waiting = await w.raised(w.chen, title="待审核的车棚", body="待审核")
    await drain(app)
    assert error(await w.post(w.zhou, f"/concerns/{waiting['id']}/metoo")) == (404, "concern_not_found")
    resolved = await w.visible(w.li, app, title="已经解决的")
    await w.post(w.staff, f"/concerns/{resolved['id']}/accept", {"level": 2})
    await w.post(w.staff, f"/concerns/{resolved['id']}/resolve", {"result": "已清理"})
    late = await w.post(w.zhou, f"/concerns/{resolved['id']}/metoo")
    assert error(late) == (409, "concern_not_open") and "已解决" in late.json()["error"]["message"]
    assert error(await client.delete(f"/api/v1/concerns/{resolved['id']}/metoo", headers=w.zhou.headers)) == (
        409,
        "concern_not_open",
    )


async def test_comments_are_checked_and_show_names_as_their_authors_chose(client, app, w):
    concern = await w.visible(w.chen, app)
    path = f"/concerns/{concern['id']}/comments"
    hidden = await w.post(w.zhou, path, {"body": "我家门口也是", "hide_name": True})
    assert hidden.status_code == 201 and hidden.json()["status"] == "checking"
    assert hidden.json()["author"]["name"] == "zhou"  # to himself
    named = await w.post(w.sun, path, {"body": "支持"})
    unsure = await w.post(w.li, path, {"body": "这条待审核"})
    by_staff = await w.post(w.staff, path, {"body": "已联系物业"})
    assert by_staff.json()["status"] == "visible"

    before = (await w.get(w.chen, path)).json()
    assert [c["id"] for c in before] == [by_staff.json()["id"]]
    await drain(app)
    seen = (await w.get(w.chen, path)).json()
    assert [c["id"] for c in seen] == [hidden.json()["id"], named.json()["id"], by_staff.json()["id"]]
    assert seen[0]["author"] == {"id": None, "name": "居民", "avatar_url": None, "staff": False, "hidden": True}
    assert seen[1]["author"]["name"] == "sun" and seen[1]["status"] is None
    assert seen[2]["author"] == {"id": None, "name": "社工", "avatar_url": None, "staff": True, "hidden": False}
    staff_sees = (await w.get(w.staff, path)).json()
    assert [c["author"]["name"] for c in staff_sees] == ["zhou", "sun", "li", "社工"]  # no name of their own
    assert staff_sees[2]["status"] == "review"
    assert (await w.detail(w.zhou, concern["id"]))["comment_count"] == 3

    queue = (await w.get(w.staff, f"/communities/{w.b}/concerns/review")).json()
    assert [c["id"] for c in queue["comments"]] == [unsure.json()["id"]]
    moderate = f"/concern-comments/{unsure.json()['id']}/moderate"
    assert error(await w.post(w.chen, moderate, {"approve": True})) == (403, "staff_only")
    assert error(await w.post(w.cstaff, moderate, {"approve": True})) == (404, "comment_not_found")
    assert (await w.post(w.staff, moderate, {"approve": True})).json()["status"] == "visible"
    assert (await w.detail(w.zhou, concern["id"]))["comment_count"] == 4
    down = await w.post(w.staff, f"/concern-comments/{named.json()['id']}/moderate", {"approve": False})
    assert down.json()["status"] == "hidden"
    assert [c["id"] for c in (await w.get(w.zhou, path)).json()] == [
        hidden.json()["id"],
        unsure.json()["id"],
        by_staff.json()["id"],
    ]
    assert (await w.detail(w.zhou, concern["id"]))["comment_count"] == 3

    assert error(await w.get(w.wang, path)) == (404, "concern_not_found")
    assert error(await w.post(w.wang, path, {"body": "路过"})) == (404, "concern_not_found")
    waiting = await w.raised(w.chen, title="还在审核", body="待审核")
    await drain(app)
    assert error(await w.post(w.chen, f"/concerns/{waiting['id']}/comments", {"body": "补充"})) == (
        409,
        "concern_not_visible",
    )
    assert error(await w.post(w.zhou, path, {"body": ""})) == (422, "validation_error")


# -- a hidden raiser -----------------------------------------------------------------------------------


def people_in(value: Any) -> list[dict[str, Any]]:
    """Every person (raiser, author, actor) in an answer."""
    found = []
    if isinstance(value, dict):
        if {"name", "avatar_url", "staff", "hidden"} <= value.keys():
            found.append(value)
        for item in value.values():
            found += people_in(item)
    elif isinstance(value, list):
        for item in value:
            found += people_in(item)
    return found


async def test_a_hidden_raisers_name_reaches_no_other_resident_through_any_endpoint(client, app, w):
    photo = await w.upload(w.chen)
    concern = await w.raised(w.chen, media_ids=[photo], hide_name=True, title="车棚的电动车")
    still_open = await w.raised(w.chen, hide_name=True, title="楼道堆物", category="sanitation")
    await drain(app)
    cid = concern["id"]
    # his comment there, named or not, shows him as 居民 too: a name on it would say who raised it
    comment = await w.post(w.chen, f"/concerns/{cid}/comments", {"body": "补充一下"})
    assert comment.status_code == 201
    await drain(app)
    assert (await w.post(w.zhou, f"/concerns/{cid}/metoo")).status_code == 200
    assert (await w.post(w.sun, f"/concerns/{cid}/metoo")).status_code == 200
    steps = [
        ("/accept", {"level": 1, "responsible": "物业"}),
        ("/updates", {"body": "物业已派人清理"}),
        ("/resolve", {"result": "车棚已清理，加装了充电桩"}),
    ]
    for step, body in steps:
        done = await w.post(w.staff, f"/concerns/{cid}{step}", body)
        assert done.status_code in (200, 201), done.text
    assert (await w.post(w.chen, f"/concerns/{cid}/verdict", {"answer": "partly", "stars": 3})).status_code == 201
    assert (await w.post(w.zhou, f"/concerns/{cid}/verdict", {"answer": "solved", "stars": 5})).status_code == 201

    # what the raiser and staff see: the name, and that it is hidden
    mine = await w.detail(w.chen, cid)
    assert mine["raiser"] == {
        "id": w.chen.user_id,
        "name": SECRET_NAME,
        "avatar_url": SECRET_AVATAR,
        "staff": False,
        "hidden": True,
    }
    assert (await w.detail(w.staff, cid))["raiser"]["name"] == SECRET_NAME
    staff_timeline = (await w.detail(w.staff, cid))["timeline"]
    assert SECRET_NAME in [e["actor"]["name"] for e in staff_timeline if e["actor"]]

    # every endpoint that shows a concern, read back by other residents
    for reader in (w.zhou, w.sun, w.li):
        answers = [
            await w.get(reader, f"/communities/{w.b}/concerns", limit=100),
            await w.get(reader, f"/communities/{w.b}/concerns", mine="true"),
            await w.get(reader, f"/communities/{w.b}/concerns/similar", building="1栋", category="parking"),
            await w.get(reader, f"/communities/{w.b}/concerns/similar", building="1栋", category="sanitation"),
            await w.get(reader, f"/concerns/{cid}"),
            await w.get(reader, f"/concerns/{cid}/comments"),
            await w.get(reader, "/me/inbox"),
        ]
        assert [c["id"] for c in answers[3].json()] == [still_open["id"]]  # an open one, hidden raiser
        if reader is w.zhou:
            answers.append(await w.post(reader, f"/concerns/{cid}/comments", {"body": "同感"}))
            answers.append(await w.post(reader, f"/concerns/{still_open['id']}/metoo"))
            answers.append(await client.delete(f"/api/v1/concerns/{still_open['id']}/metoo", headers=reader.headers))
        for answer in answers:
            assert answer.status_code == (
                201 if answer.request.url.path.endswith("/comments") and answer.request.method == "POST" else 200
            ), answer.text
            text = answer.text
            assert SECRET_NAME not in text and SECRET_AVATAR not in text, answer.request.url
            for shown in people_in(answer.json()):
                assert shown["id"] != w.chen.user_id, (answer.request.url, shown)
                assert shown["avatar_url"] != SECRET_AVATAR
        detail = answers[4].json()
        assert detail["raiser"] == {"id": None, "name": "居民", "avatar_url": None, "staff": False, "hidden": True}
        verdict_actors = [e["actor"] for e in detail["timeline"] if e["kind"] == "verdict"]
        assert len(verdict_actors) == 2 and {a["name"] for a in verdict_actors} <= {"居民", reader.name}
        assert detail["verdict_list"] is None
        assert (detail["my_verdict"] or {}).get("answer") == ("solved" if reader is w.zhou else None)
    zhou_inbox = await w.inbox(w.zhou)
    assert {e["kind"] for e in zhou_inbox} >= {"concern.accepted", "concern.update", "concern.resolved"}
    assert all(SECRET_NAME not in json.dumps(e, ensure_ascii=False) for e in zhou_inbox)


async def test_the_longest_values_each_field_takes_are_kept(client, app, w):
    """Written for real (PostgreSQL refuses a value longer than its varchar): every text field at
    its limit, in three-byte characters."""
    x = "邻"
    joined = await join(client, await login(client, "longest"), w.b, building=x * 32, room="1")
    assert joined["household"]["building"] == x * 32
    concern = await w.raised(w.staff, building=x * 32, place=x * 64, title=x * 64, body=x * 2000)
    assert (concern["building"], concern["title"]) == (x * 32, x * 64)
    cid = concern["id"]
    assert (await w.post(w.zhou, f"/concerns/{cid}/comments", {"body": x * 500})).status_code == 201
    assert (await w.post(w.zhou, f"/concerns/{cid}/metoo")).status_code == 200
    accepted = await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 1, "responsible": x * 64, "note": x * 500})
    assert accepted.status_code == 200, accepted.text
    moved = await w.post(w.staff, f"/concerns/{cid}/level", {"level": 1, "responsible": "里" * 64, "note": x * 500})
    assert moved.status_code == 200, moved.text
    assert (await w.post(w.staff, f"/concerns/{cid}/updates", {"body": x * 2000})).status_code == 201
    resolved = await w.post(w.staff, f"/concerns/{cid}/resolve", {"result": x * 2000})
    assert resolved.json()["result"] == x * 2000
    verdict = await w.post(w.zhou, f"/concerns/{cid}/verdict", {"answer": "partly", "stars": 3, "word": x * 200})
    assert verdict.json()["my_verdict"]["word"] == x * 200
    other = await w.raised(w.staff, title="另一件")
    declined = await w.post(w.staff, f"/concerns/{other['id']}/decline", {"outcome": "unresolvable", "reason": x * 500})
    assert declined.json()["reason"] == x * 500
    third = await w.raised(w.staff, title="第三件")
    referred = await w.post(w.staff, f"/concerns/{third['id']}/decline", {"outcome": "referred", "referred_to": x * 64})
    assert referred.json()["referred_to"] == x * 64
    hidden = await w.post(w.staff, f"/concerns/{third['id']}/moderate", {"approve": False, "note": x * 200})
    assert hidden.json()["moderation_note"] == x * 200
    assert (await w.inbox(w.zhou))[0]["kind"] == "concern.resolved"


async def test_other_communities_see_nothing_of_a_concern(client, app, w):
    concern = await w.visible(w.chen, app)
    cid = concern["id"]
    await w.post(w.staff, f"/concerns/{cid}/accept", {"level": 2})
    await w.post(w.staff, f"/concerns/{cid}/resolve", {"result": "已处理"})
    ours = await w.raise_(w.wang, community_id=w.c, building="1栋", title="C的事")
    assert ours.status_code == 201
    for outsider in (w.wang, w.cstaff):
        # not even whether B exists: the same answer as for a community that does not
        assert error(await w.get(outsider, f"/communities/{w.b}/concerns")) == (404, "community_not_found")
        similar = await w.get(outsider, f"/communities/{w.b}/concerns/similar", category="parking", building="1栋")
        assert error(similar) == (404, "community_not_found")
        assert error(await w.get(outsider, "/communities/999999/concerns")) == (404, "community_not_found")
        assert error(await w.get(outsider, f"/communities/{w.b}/concerns/review")) == (404, "community_not_found")
        assert error(await w.get(outsider, f"/communities/{w.b}/governance/policy")) == (404, "community_not_found")
        for path in (f"/concerns/{cid}", f"/concerns/{cid}/comments"):
            assert error(await w.get(outsider, path)) == (404, "concern_not_found")
        for path, body in (
            (f"/concerns/{cid}/metoo", None),
            (f"/concerns/{cid}/comments", {"body": "路过"}),
            (f"/concerns/{cid}/verdict", {"answer": "solved", "stars": 5}),
            (f"/concerns/{cid}/moderate", {"approve": True}),
        ):
            assert error(await w.post(outsider, path, body)) == (404, "concern_not_found"), path
        assert [c["id"] for c in (await w.get(outsider, f"/communities/{w.c}/concerns")).json()["items"]] == [
            ours.json()["id"]
        ]
        assert await w.inbox(outsider) == []
    # and a missing concern is the same answer as another community's
    assert error(await w.get(w.chen, "/concerns/999999")) == (404, "concern_not_found")
