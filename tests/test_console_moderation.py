"""Moderation in the console (内容审核): the queue shows what waits with its photos, WeChat's
verdicts and labels in words, residents' reports and the children mark; approving, refusing with a
reason (required, the author told), taking a shown post down (it leaves the residents' feed) and
bringing it back go through the feed's services, read back through the API."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from api import clock
from api.wechat.client import fake_wechat
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Shanghai
API = "/api/v1"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (40, 120, 200)).save(out, "JPEG")
    return out.getvalue()


class World:
    """B社区 with a social worker and two residents; C社区 with its own social worker."""

    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        clock.freeze(NOW)
        self.client = client
        db = app.state.db
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "B社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        named = await client.patch(f"{API}/me", json={"display_name": "小王"}, headers=self.staff.headers)
        assert named.status_code == 200, named.text
        self.stranger = await login(client, "社工小张")
        await grant(client, self.root, self.c, self.stranger, "staff")
        self.chen = await login(client, "陈阿姨")
        await join(client, self.chen, self.b, room="101")
        self.zhou = await login(client, "周先生")
        await join(client, self.zhou, self.b, room="102")
        self.worker = Worker(db, app.state.settings, app.state.wechat)
        fake = fake_wechat(app.state.http)
        assert fake is not None
        self.fake = fake
        return self

    async def photo(self, person: Person, community_id: int) -> int:
        response = await self.client.post(
            f"{API}/media",
            files={"file": ("a.jpg", jpeg(), "image/jpeg")},
            data={"community_id": str(community_id)},
            headers=person.headers,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def post(self, person: Person, community_id: int, body: str, **extra: Any) -> int:
        response = await self.client.post(
            f"{API}/communities/{community_id}/posts", json={"body": body, **extra}, headers=person.headers
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def checks(self) -> None:
        """WeChat's text checks answer, then its image checks' pushes arrive."""
        await self.worker.run_until_idle()
        clock.advance(timedelta(seconds=31))
        await self.worker.run_until_idle()

    async def doubtful_post(self, person: Person | None = None, community_id: int | None = None) -> int:
        """A post whose text and photo WeChat was unsure of (label 20002), showing children."""
        self.fake.image_verdict = "review"
        photo = await self.photo(person or self.chen, community_id or self.b)
        await self.worker.run_until_idle()
        post = await self.post(
            person or self.chen,
            community_id or self.b,
            "这句话待审核：孩子们在画画",
            media_ids=[photo],
            shows_children=True,
        )
        await self.checks()
        self.fake.image_verdict = "pass"
        return post

    async def shown_post(self, body: str = "今天的读书会很开心") -> int:
        post = await self.post(self.zhou, self.b, body)
        await self.checks()
        return post

    async def status(self, post_id: int) -> str:
        found = await self.client.get(f"{API}/posts/{post_id}", headers=self.staff.headers)
        assert found.status_code == 200, found.text
        return str(found.json()["status"])

    async def feed_ids(self, person: Person) -> list[int]:
        found = await self.client.get(f"{API}/communities/{self.b}/feed", headers=person.headers)
        assert found.status_code == 200, found.text
        return [item["id"] for item in found.json()["items"]]

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        found = await self.client.get(f"{API}/me/inbox", headers=person.headers)
        assert found.status_code == 200, found.text
        items: list[dict[str, Any]] = found.json()["items"]
        return items


def card(html: str, post_id: int) -> str:
    """The article of one post in a moderation page."""
    found = re.search(rf'<article class="card mod-post" id="post-{post_id}".*?</article>', html, re.S)
    assert found is not None, f"post {post_id} not on the page"
    return found.group(0)


async def test_the_queue_shows_photos_verdicts_reports_and_the_children_mark(client, app, console):
    w = await World().build(client, app)
    doubtful = await w.doubtful_post()
    shown = await w.shown_post()
    reported = await client.post(f"{API}/posts/{shown}/report", json={"reason": "有广告"}, headers=w.chen.headers)
    assert reported.status_code == 204, reported.text
    comment = await client.post(
        f"{API}/posts/{shown}/comments", json={"body": "这条评论待审核"}, headers=w.chen.headers
    )
    assert comment.status_code == 201, comment.text
    await w.worker.run_until_idle()
    still = await w.post(w.chen, w.b, "刚发的，还在检查")  # its text check has not answered yet

    desk = await console(w.staff)
    page = await desk.get(f"/console/c/{w.b}/moderation")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<title>待审核 · 内容审核 · B社区 · 邻里工作台</title>" in html
    assert 'aria-current="page">内容审核</a>' in html

    first = card(html, doubtful)
    assert "这句话待审核：孩子们在画画" in first and "陈阿姨" in first
    assert "待人工审核" in first
    assert "文字：" in first and "不确定，需人工判断" in first
    assert first.count(">色情</span>") == 2  # the text's label and the photo's, in words
    assert "有儿童 · 仅社区内可见" in first
    # the photo large enough to judge, and its large rendition behind a click
    image = re.search(r'<a href="([^"]+)" class="zoom"[^>]*><img src="([^"]+)"', first)
    assert image is not None and "/large.jpg" in image.group(1) and "/feed.jpg" in image.group(2)
    served = await client.get(image.group(1).replace("&amp;", "&"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert re.search(r'照片：\s*<span class="badge warn">不确定，需人工判断</span>', first)
    assert f'hx-post="/console/c/{w.b}/moderation/posts/{doubtful}/reject"' in first

    second = card(html, shown)
    assert "1 人举报" in second and "有广告" in second
    assert "没有问题，保留" in second and f"/moderation/posts/{shown}/hide" in second

    assert f'data-comment="{comment.json()["id"]}"' in html and "这条评论待审核" in html
    assert "data-checking>1<" in html  # the post still being checked is counted, not listed
    assert f'id="post-{still}"' not in html


async def test_rejecting_needs_a_reason_and_the_author_is_told(client, app, console):
    w = await World().build(client, app)
    post = await w.doubtful_post()
    desk = await console(w.staff)
    await desk.get(f"/console/c/{w.b}/moderation")
    url = f"/console/c/{w.b}/moderation/posts/{post}/reject"

    refused = await desk.post(url, data={"note": "  ", "back": "queue"})
    assert refused.status_code == 422
    assert "请填写不通过的原因，作者会看到" in refused.text
    assert 'name="note"' in refused.text and 'aria-invalid="true"' in refused.text
    assert await w.status(post) == "review"  # nothing changed

    too_long = await desk.post(url, data={"note": "太" * 201, "back": "queue"})
    assert too_long.status_code == 422 and "原因最多 200 个字" in too_long.text
    assert "太" * 201 in too_long.text  # what was typed comes back

    done = await desk.post(url, data={"note": "照片里有孩子的正脸，请换一张", "back": "queue"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/console/c/{w.b}/moderation"
    assert await w.status(post) == "rejected"
    told = [n for n in await w.inbox(w.chen) if "照片里有孩子的正脸，请换一张" in n["body"]]
    assert len(told) == 1 and told[0]["title"] == "你的动态没有发布"

    queue = await desk.get(f"/console/c/{w.b}/moderation")
    assert f'id="post-{post}"' not in queue.text
    decided = await desk.get(f"/console/c/{w.b}/moderation/decided?status=rejected")
    entry = card(decided.text, post)
    assert "未通过" in entry and "小王 处理" in entry and "照片里有孩子的正脸，请换一张" in entry
    # a refused post cannot be approved afterwards, here as in the API
    again = await desk.post(f"/console/c/{w.b}/moderation/posts/{post}/approve", data={"back": "decided"})
    assert again.status_code == 409 and "这条动态不需要审核" in again.text


async def test_approving_shows_the_post_to_residents(client, app, console):
    w = await World().build(client, app)
    post = await w.doubtful_post()
    assert post not in await w.feed_ids(w.zhou)
    desk = await console(w.staff)
    await desk.get(f"/console/c/{w.b}/moderation")
    done = await desk.post(f"/console/c/{w.b}/moderation/posts/{post}/approve", data={"back": "queue"})
    assert done.status_code == 204, done.text
    assert await w.status(post) == "visible"
    assert post in await w.feed_ids(w.zhou)
    seen = (await client.get(f"{API}/posts/{post}", headers=w.zhou.headers)).json()
    assert seen["photos"][0]["urls"] is not None and seen["visibility"] == "community"
    queue = await desk.get(f"/console/c/{w.b}/moderation")
    assert f'id="post-{post}"' not in queue.text and "没有待审核的动态" in queue.text


async def test_a_shown_post_is_hidden_with_a_reason_found_again_and_restored(client, app, console):
    w = await World().build(client, app)
    post = await w.shown_post("二手转让，加我微信")
    assert post in await w.feed_ids(w.chen)
    desk = await console(w.staff)
    shown = await desk.get(f"/console/c/{w.b}/moderation/shown")
    assert shown.status_code == 200 and "<title>已公开 · 内容审核 · B社区 · 邻里工作台</title>" in shown.text
    assert "二手转让，加我微信" in card(shown.text, post)
    url = f"/console/c/{w.b}/moderation/posts/{post}/hide"

    refused = await desk.post(url, data={"note": "", "back": "shown"})
    assert refused.status_code == 422 and "请填写下架的原因，作者会看到" in refused.text
    assert post in await w.feed_ids(w.chen)

    done = await desk.post(url, data={"note": "含有广告信息", "back": "shown"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/console/c/{w.b}/moderation/shown"
    assert post not in await w.feed_ids(w.chen)  # gone from the residents' feed
    hidden = await client.get(f"{API}/posts/{post}", headers=w.chen.headers)
    assert hidden.status_code == 404
    assert any("含有广告信息" in n["body"] for n in await w.inbox(w.zhou))

    # the recently decided list finds it (and its filter), to bring it back
    decided = await desk.get(f"/console/c/{w.b}/moderation/decided?status=hidden")
    entry = card(decided.text, post)
    assert "已下架" in entry and "含有广告信息" in entry and "恢复公开" in entry
    other_filter = await desk.get(f"/console/c/{w.b}/moderation/decided?status=visible")
    assert f'id="post-{post}"' not in other_filter.text
    restored = await desk.post(
        f"/console/c/{w.b}/moderation/posts/{post}/approve", data={"back": "decided", "status": "hidden"}
    )
    assert restored.status_code == 204
    assert restored.headers["HX-Redirect"] == f"/console/c/{w.b}/moderation/decided?status=hidden"
    assert post in await w.feed_ids(w.chen)


async def test_keeping_a_reported_post_clears_its_reports(client, app, console):
    w = await World().build(client, app)
    post = await w.shown_post()
    await client.post(f"{API}/posts/{post}/report", json={"reason": "看着不舒服"}, headers=w.chen.headers)
    desk = await console(w.staff)
    assert "看着不舒服" in card((await desk.get(f"/console/c/{w.b}/moderation")).text, post)
    kept = await desk.post(f"/console/c/{w.b}/moderation/posts/{post}/approve", data={"back": "queue"})
    assert kept.status_code == 204
    assert f'id="post-{post}"' not in (await desk.get(f"/console/c/{w.b}/moderation")).text
    assert post in await w.feed_ids(w.chen)


async def test_comments_are_approved_or_refused(client, app, console):
    w = await World().build(client, app)
    post = await w.shown_post()
    first = (
        await client.post(f"{API}/posts/{post}/comments", json={"body": "评论一待审核"}, headers=w.chen.headers)
    ).json()["id"]
    second = (
        await client.post(f"{API}/posts/{post}/comments", json={"body": "评论二待审核"}, headers=w.chen.headers)
    ).json()["id"]
    await w.worker.run_until_idle()
    desk = await console(w.staff)
    page = await desk.get(f"/console/c/{w.b}/moderation")
    assert f'data-comment="{first}"' in page.text and f'data-comment="{second}"' in page.text
    ok = await desk.post(f"/console/c/{w.b}/moderation/comments/{first}", data={"decision": "approve"})
    no = await desk.post(f"/console/c/{w.b}/moderation/comments/{second}", data={"decision": "reject"})
    assert ok.status_code == 204 and no.status_code == 204
    seen = await client.get(f"{API}/posts/{post}/comments", headers=w.zhou.headers)
    assert [c["body"] for c in seen.json()] == ["评论一待审核"]
    assert "没有待审核的评论" in (await desk.get(f"/console/c/{w.b}/moderation")).text


async def test_marking_children_keeps_the_post_out_of_public_shares(client, app, console):
    w = await World().build(client, app)
    post = await w.post(w.zhou, w.b, "公开的一条", visibility="public")
    await w.checks()
    desk = await console(w.staff)
    shown = await desk.get(f"/console/c/{w.b}/moderation/shown")
    assert "可公开分享" in card(shown.text, post)
    marked = await desk.post(f"/console/c/{w.b}/moderation/posts/{post}/children", data={"back": "shown"})
    assert marked.status_code == 204
    view = (await client.get(f"{API}/posts/{post}", headers=w.staff.headers)).json()
    assert view["shows_children"] is True and view["visibility"] == "community"
    assert "有儿童 · 仅社区内可见" in card((await desk.get(f"/console/c/{w.b}/moderation/shown")).text, post)


async def test_who_may_moderate_and_a_post_of_another_community(client, app, console):
    w = await World().build(client, app)
    mine = await w.doubtful_post()
    theirs = await w.post(w.stranger, w.c, "C社区的动态")  # staff posts are shown at once
    # staff of C who lives in B: a resident there
    neighbour = await login(client, "社工小李")
    await grant(client, w.root, w.c, neighbour, "staff")
    await join(client, neighbour, w.b, room="103")
    as_resident = await console(neighbour)
    assert (await as_resident.get(f"/console/c/{w.b}/moderation")).status_code == 403
    await as_resident.get(f"/console/c/{w.c}/moderation")
    refused = await as_resident.post(f"/console/c/{w.b}/moderation/posts/{mine}/reject", data={"note": "不行"})
    assert refused.status_code == 403

    stranger = await console(w.stranger)
    assert (await stranger.get(f"/console/c/{w.b}/moderation")).status_code == 404
    assert (await stranger.get(f"/console/c/{w.b}/moderation/decided")).status_code == 404
    # a post of B through C's console: not found, nothing changed
    await stranger.get(f"/console/c/{w.c}/moderation")
    crossed = await stranger.post(f"/console/c/{w.c}/moderation/posts/{mine}/reject", data={"note": "不行"})
    assert crossed.status_code == 404
    assert await w.status(mine) == "review"
    # and B's staff cannot reach C's post through B's console
    desk = await console(w.staff)
    await desk.get(f"/console/c/{w.b}/moderation")
    other = await desk.post(f"/console/c/{w.b}/moderation/posts/{theirs}/hide", data={"note": "不行"})
    assert other.status_code == 404
    # without the page's token nothing happens
    no_token = await desk.post(f"/console/c/{w.b}/moderation/posts/{mine}/approve", csrf=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    assert await w.status(mine) == "review"
