"""Announcements in the staff console, through HTTP on both engines: the list (scheduled,
published, withdrawn; pinned first; read counts), composing with the audience picker whose reach
(households and people, before anything is saved) is the fan-out's own count, publishing now or
at a set time, editing (everything before it goes out, the words and pin after, revisions shown),
withdrawing (what it retracts, before and after; its unsent pushes stopped), and per announcement
the readers by day, the channels, the delivery log with WeChat's errors in words, the inbox
preview; who may see what, CSRF.

Every change is read back through the API (the staff's announcement, deliveries, residents'
inboxes), so that each test shows the console went through the services."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api import clock
from tests.console import Browser
from tests.contract import api_client
from tests.factories import activity, book, community, grant, join, login, subscribe
from tests.test_announcements import TEMPLATE, B, announce, inbox_titles, listed, worker

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)  # Tuesday


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def b(client, db) -> B:
    return await B().build(client, db)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def base(b: B) -> str:
    return f"/console/c/{b.b}/announcements"


async def staff(console: Any, b: B) -> Browser:
    browser: Browser = await console(b.staff)
    return browser


async def staff_view(client: Any, b: B, announcement_id: int) -> dict[str, Any]:
    found = await client.get(f"/api/v1/announcements/{announcement_id}", headers=b.staff.headers)
    assert found.status_code == 200, found.text
    view: dict[str, Any] = found.json()
    return view


async def pushes(client: Any, b: B, announcement_id: int) -> list[dict[str, Any]]:
    found = await client.get(
        f"/api/v1/communities/{b.b}/deliveries",
        params={"cause": f"announcement:{announcement_id}"},
        headers=b.staff.headers,
    )
    assert found.status_code == 200, found.text
    items: list[dict[str, Any]] = found.json()["items"]
    return items


def reach_of(html: str) -> tuple[int, int]:
    found = re.search(r'data-households="(\d+)" data-people="(\d+)"', html)
    assert found is not None, html
    return int(found.group(1)), int(found.group(2))


def form(**fields: Any) -> dict[str, Any]:
    return {
        "title": "停水通知",
        "body": "明天 9:00–12:00 停水，请提前储水。",
        "kind": "community",
        "when": "now",
        **fields,
    }


async def test_the_list_shows_each_announcement_with_its_state_and_counts(client, app, console, b):
    old = await announce(client, b.staff, b.b, title="旧通知")
    clock.advance(timedelta(minutes=1))
    pinned = await announce(client, b.staff, b.b, title="欢迎新邻居", pinned=True)
    clock.advance(timedelta(minutes=1))
    gone = await announce(client, b.staff, b.b, title="发错了")
    later = await announce(
        client, b.staff, b.b, title="周六活动预告", publish_at=(clock.now() + timedelta(days=2)).isoformat()
    )
    await worker(app).run_until_idle()
    await client.post(f"/api/v1/announcements/{gone['id']}/withdraw", headers=b.staff.headers)
    for person in (b.chen, b.zhou):
        await client.post(f"/api/v1/announcements/{old['id']}/read", headers=person.headers)
    c = (await community(client, b.root, "C社区"))["id"]
    c_staff = await login(client, "c-staff")
    await grant(client, b.root, c, c_staff, "staff")
    await announce(client, c_staff, c, title="C社区的通知")

    browser = await staff(console, b)
    page = await browser.get(base(b))
    assert page.status_code == 200, page.text
    html = page.text
    assert 'aria-current="page">通知公告</a>' in html
    assert "C社区的通知" not in html
    order = [int(i) for i in re.findall(r'<tr data-announcement="(\d+)">', html)]
    assert order == [pinned["id"], later["id"], gone["id"], old["id"]]  # pinned first, then newest

    def row(announcement_id: int) -> str:
        found = re.search(rf'<tr data-announcement="{announcement_id}">(.*?)</tr>', html, re.S)
        assert found is not None
        return found.group(1)

    assert 'data-status="scheduled"' in row(later["id"]) and "定时待发" in row(later["id"])
    assert 'data-status="withdrawn"' in row(gone["id"])
    assert "data-pinned" in row(pinned["id"]) and "data-pinned" not in row(old["id"])
    assert re.search(r'data-count="recipients">4<', row(old["id"]))
    assert re.search(r'data-count="read">2<', row(old["id"]))
    assert "全体居民" in row(old["id"])
    assert "12月1日 10:00" in row(old["id"])  # the community's time

    scheduled = await browser.get(base(b), params={"status": "scheduled"})
    assert re.findall(r'<tr data-announcement="(\d+)">', scheduled.text) == [str(later["id"])]
    paged = await browser.get(base(b), params={"after": "garbage"})
    assert paged.status_code == 400


async def test_the_reach_is_what_the_fan_out_reaches_for_buildings_and_children(client, app, console, b):
    browser = await staff(console, b)
    compose = await browser.get(f"{base(b)}/new")
    assert compose.status_code == 200, compose.text
    # the picker offers the community's buildings as its households wrote them (1栋 and 1号楼 are one)
    offered = re.findall(r'name="buildings" value="([^"]+)"', compose.text)
    assert len(offered) == 3 and {"2栋", "3栋"} <= set(offered)
    one = next(v for v in offered if v not in ("2栋", "3栋"))

    cases = [
        ({"kind": "buildings", "buildings": one}, "楼栋：", (2, 2)),  # chen and wang; chen's spouse waits
        ({"kind": "buildings", "buildings": [one, "3栋"]}, "楼栋：", (3, 3)),
        ({"kind": "children", "min_age": "6", "max_age": "10"}, "有 6–10 岁孩子的家庭", (1, 1)),
        ({"kind": "children", "min_age": "12", "max_age": "17"}, "有 12–17 岁孩子的家庭", (1, 1)),
        ({"kind": "team", "team_id": str(b.team)}, "志愿团队「公益志愿队」的成员", (2, 2)),
        ({"kind": "community"}, "全体居民", (4, 4)),
    ]
    for audience, words, expected in cases:
        reach = await browser.get(f"{base(b)}/reach", params={**form(), **audience}, headers={"HX-Request": "true"})
        assert reach.status_code == 200, reach.text
        assert reach_of(reach.text) == expected, audience
        assert words in reach.text
        assert "停水通知" in reach.text  # the inbox entry residents will see
    assert await listed(client, b.staff, b.b) == []  # nothing saved by the picker

    # published through the console, each reaches exactly the people its reach said
    for n, (audience, _, (_households, people)) in enumerate(cases[:4]):
        made = await browser.post(base(b), data={**form(title=f"第{n}条通知"), **audience})
        assert made.status_code == 204, made.text
        announcement_id = int(made.headers["HX-Redirect"].rsplit("/", 1)[1])
        await worker(app).run_until_idle()
        view = await staff_view(client, b, announcement_id)
        assert view["stats"]["recipients"] == people, audience
        reached = [p for p in b.residents if view["title"] in await inbox_titles(client, p)]
        assert len(reached) == people
        page = await browser.get(f"{base(b)}/{announcement_id}")
        assert re.search(rf'data-count="inbox">{people}<', page.text)

    # an incomplete picker says what is missing instead of a number
    empty = await browser.get(f"{base(b)}/reach", params=form(kind="buildings"))
    assert "data-incomplete" in empty.text and "请至少选择一个楼栋" in empty.text
    upside = await browser.get(f"{base(b)}/reach", params=form(kind="children", min_age="10", max_age="6"))
    assert "data-incomplete" in upside.text and "最小年龄不能大于" in text_of(upside.text)


async def test_the_reach_of_an_activitys_booked_households(client, app, console, b):
    event = await activity(client, b.staff, b.b, title="亲子阅读会")
    booked = await book(client, b.chen, event["id"])
    assert booked.status_code == 201, booked.text
    browser = await staff(console, b)
    compose = await browser.get(f"{base(b)}/new")
    assert "亲子阅读会（1户已预约）" in compose.text
    reach = await browser.get(f"{base(b)}/reach", params=form(kind="activity", activity_id=str(event["id"])))
    assert reach_of(reach.text) == (1, 1) and "活动「亲子阅读会」已预约的家庭" in reach.text
    made = await browser.post(base(b), data=form(kind="activity", activity_id=str(event["id"])))
    await worker(app).run_until_idle()
    announcement_id = int(made.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert (await staff_view(client, b, announcement_id))["stats"]["recipients"] == 1
    assert await inbox_titles(client, b.chen) == ["停水通知"]


async def test_a_refused_form_comes_back_as_typed_and_nothing_is_saved(client, console, b):
    browser = await staff(console, b)
    await browser.get(f"{base(b)}/new")
    cases = [
        (form(kind="buildings"), "buildings", "请至少选择一个楼栋"),
        (form(kind="children", min_age="10", max_age="6"), "min_age", "最小年龄不能大于"),
        (form(kind="team", team_id=""), "team_id", "请从列表中选择"),
        (form(kind="team", team_id="999999"), "team_id", "本社区没有这个团队"),
        (form(when="later", publish_at=""), "publish_at", "请填写定时发布的时间"),
        (form(when="later", publish_at="2026-11-30T09:00"), "publish_at", "定时发布的时间应晚于现在"),
        (form(title=""), "title", "请填写"),
        (form(title="标" * 65), "title", "最多 64 个字"),
    ]
    for data, field, message in cases:
        refused = await browser.post(base(b), data=data)
        assert refused.status_code == 422, (data, refused.text)
        html = refused.text
        found = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
        assert found is not None and message in found.group(1), (field, html)
        assert "请修改以下内容后再保存" in html
        assert data["body"] in html  # what was typed stays
    assert await listed(client, b.staff, b.b) == []


async def test_publishing_at_a_set_time_then_changing_everything_before_it_goes_out(client, app, console, b):
    browser = await staff(console, b)
    await browser.get(f"{base(b)}/new")
    made = await browser.post(
        base(b), data=form(when="later", publish_at="2026-12-01T18:00", pinned="1", kind="buildings", buildings="2栋")
    )
    assert made.status_code == 204, made.text
    here = made.headers["HX-Redirect"]
    announcement_id = int(here.rsplit("/", 1)[1])
    view = await staff_view(client, b, announcement_id)
    assert (view["status"], view["pinned"], view["audience"]) == (
        "scheduled",
        True,
        {"kind": "buildings", "buildings": ["2栋"]},
    )
    assert view["publish_at"] == "2026-12-01T18:00:00+08:00"

    edit = await browser.get(f"{here}/edit")
    assert 'name="kind" value="buildings" checked' in edit.text and 'value="2026-12-01T18:00"' in edit.text
    changed = await browser.post(
        f"{here}/edit",
        data=form(title="周三停水", when="later", publish_at="2026-12-01T20:30", kind="buildings", buildings="3栋"),
    )
    assert changed.status_code == 204, changed.text
    view = await staff_view(client, b, announcement_id)
    assert (view["title"], view["pinned"], view["audience"]["buildings"]) == ("周三停水", False, ["3栋"])
    assert view["publish_at"] == "2026-12-01T20:30:00+08:00" and view["revisions"] == []

    clock.advance(timedelta(hours=9))  # 19:00: the first time has passed, the new one not yet
    await worker(app).run_until_idle()
    assert await inbox_titles(client, b.liu) == []
    clock.advance(timedelta(hours=2))  # 21:00: out
    await worker(app).run_until_idle()
    assert await inbox_titles(client, b.liu) == ["周三停水"]
    assert await inbox_titles(client, b.zhou) == []


async def test_after_publishing_only_the_words_and_pin_change_and_revisions_are_shown(client, app, console, b):
    notice = await announce(client, b.staff, b.b, title="停水通知", body="明天停水")
    await worker(app).run_until_idle()
    browser = await staff(console, b)
    here = f"{base(b)}/{notice['id']}"
    edit = await browser.get(f"{here}/edit")
    assert edit.status_code == 200
    assert 'id="locked"' in edit.text and 'name="kind"' not in edit.text  # no audience, no time
    clock.advance(timedelta(minutes=30))
    # even if an audience is posted, a published notice keeps its own
    changed = await browser.post(f"{here}/edit", data=form(title="停水通知", body="明天 9:00–12:00 停水", kind="team"))
    assert changed.status_code == 204, changed.text
    view = await staff_view(client, b, notice["id"])
    assert view["body"] == "明天 9:00–12:00 停水" and view["audience"] == {"kind": "community"}
    assert [(r["title"], r["body"]) for r in view["revisions"]] == [("停水通知", "明天停水")]
    page = await browser.get(here)
    revisions = re.search(r'<section class="card" id="revisions">(.*?)</section>', page.text, re.S)
    assert revisions is not None and "明天停水" in revisions.group(1) and "12月1日 10:30" in revisions.group(1)
    assert "最后修改" in page.text

    pinned = await browser.post(f"{here}/pin", data={"pinned": "1"})
    assert pinned.status_code == 204
    assert (await staff_view(client, b, notice["id"]))["pinned"] is True
    assert (await listed(client, b.chen, b.b))[0]["pinned"] is True


async def test_withdrawing_shows_what_it_retracts_and_stops_the_unsent_pushes(client, app, console, b):
    from api.services.notifications import announcements

    for person in (b.chen, b.wang):
        await subscribe(client, person, TEMPLATE)
    notice = await announce(client, b.staff, b.b, title="停电通知")
    # the fan-out has run (inbox entries, pushes queued); the pushes have not gone out yet
    assert await announcements.fan_out(app.state.db, notice["id"], batch_size=100) == 1
    assert sorted(d["status"] for d in await pushes(client, b, notice["id"])) == ["pending", "pending"]

    browser = await staff(console, b)
    here = f"{base(b)}/{notice['id']}"
    before = await browser.get(f"{here}/withdraw")
    assert before.status_code == 200, before.text
    assert re.search(r'data-count="inbox">4<', before.text)
    assert re.search(r'data-count="pending">2<', before.text)
    assert (await staff_view(client, b, notice["id"]))["status"] == "published"  # nothing done yet

    done = await browser.post(f"{here}/withdraw")
    assert done.status_code == 200, done.text
    assert re.search(r'data-count="hidden">4<', done.text)
    assert re.search(r'data-count="cancelled">2<', done.text)

    # read back: withdrawn, the pushes cancelled, the inboxes empty, and nothing goes out later
    view = await staff_view(client, b, notice["id"])
    assert view["status"] == "withdrawn" and view["stats"]["wechat"]["cancelled"] == 2
    assert sorted(d["status"] for d in await pushes(client, b, notice["id"])) == ["cancelled", "cancelled"]
    for person in b.residents:
        assert "停电通知" not in await inbox_titles(client, person)
    await worker(app).run_until_idle()
    assert sorted(d["status"] for d in await pushes(client, b, notice["id"])) == ["cancelled", "cancelled"]
    page = await browser.get(here)
    assert 'data-status="withdrawn"' in page.text and 'id="actions"' not in page.text
    assert re.search(r'data-count="cancelled">2<', page.text)
    again = await browser.get(f"{here}/withdraw")
    assert "已于" in again.text and "确认撤回" not in again.text
    edit = await browser.post(f"{here}/edit", data=form())
    assert edit.status_code == 409 and "公告已撤回" in text_of(edit.text)


async def test_withdrawing_a_scheduled_announcement_means_it_never_goes_out(client, app, console, b):
    later = (clock.now() + timedelta(hours=3)).isoformat()
    notice = await announce(client, b.staff, b.b, title="周六活动预告", publish_at=later)
    browser = await staff(console, b)
    here = f"{base(b)}/{notice['id']}"
    before = await browser.get(f"{here}/withdraw")
    assert 'data-retract="scheduled"' in before.text
    assert (await browser.post(f"{here}/withdraw")).status_code == 200
    clock.advance(timedelta(hours=4))
    await worker(app).run_until_idle()
    for person in b.residents:
        assert await inbox_titles(client, person) == []
    assert (await staff_view(client, b, notice["id"]))["stats"]["recipients"] == 0


async def test_the_delivery_log_says_each_wechat_error_in_words(database_url):
    from tests.conftest import real_wechat_app

    async with real_wechat_app(database_url, wechat_templates={"announcement": {"template_id": "tmpl-notice"}}) as (
        client,
        fake,
        application,
    ):
        b = await B().build(client, application.state.db)
        for person in (b.chen, b.wang, b.zhou):
            await subscribe(client, person, "tmpl-notice")
        fake.failing_users["dev-wang"] = {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        fake.failing_users["dev-zhou"] = {"errcode": 40003, "errmsg": "invalid openid"}
        notice = await announce(client, b.staff, b.b, title="社区书屋开放时间调整", body="周一闭馆。" * 30)
        await worker(application).run_until_idle()
        assert [m["touser"] for m in fake.sent] == ["dev-chen"]

        async with api_client(application) as http:
            browser = Browser(http)
            await browser.sign_in(client, b.staff)
            page = await browser.get(f"{base(b)}/{notice['id']}")
        assert page.status_code == 200, page.text
        html = page.text
        rows = {name: re.search(rf"<td>{name}</td>(.*?)</tr>", html, re.S) for name in ("chen", "wang", "zhou")}
        assert all(rows.values()), html
        assert "已发送" in rows["chen"].group(1)  # type: ignore[union-attr]
        assert "用户未授权或次数已用完" in rows["wang"].group(1) and "43101" in rows["wang"].group(1)  # type: ignore[union-attr]
        assert "收件人的微信账号无效" in rows["zhou"].group(1)  # type: ignore[union-attr]
        assert "<td>liu</td>" not in html  # no grant: the inbox only, no push
        for field, count in (("inbox", 4), ("sent", 1), ("failed", 2), ("waiting", 0), ("cancelled", 0)):
            assert re.search(rf'data-count="{field}">{count}\b', html), field
        assert "其中 1 人未授权或次数已用完" in html
        # the inbox entry as residents see it, and the WeChat message's fields
        preview = re.search(r'<section class="card" id="inbox-preview">(.*?)</section>', html, re.S)
        assert preview is not None
        shown = text_of(preview.group(1))
        assert "社区书屋开放时间调整" in shown and "周一闭馆。周一闭馆。" in shown and "…" in shown
        assert "12月1日 10:00" in shown and "B社区" in shown  # the WeChat message names the community


async def test_the_delivery_log_is_paged(client, app, console, b):
    import api.console.announcements as page_module

    for person in (b.chen, b.wang, b.zhou):
        await subscribe(client, person, TEMPLATE)
    notice = await announce(client, b.staff, b.b, title="通知")
    await worker(app).run_until_idle()
    browser = await staff(console, b)
    here = f"{base(b)}/{notice['id']}"
    old = page_module.LOG_SIZE
    page_module.LOG_SIZE = 2
    try:
        first = await browser.get(here)
        shown = re.findall(r'<tr data-delivery="(\d+)"', first.text)
        later = re.search(r'href="[^"]*\?log=([^"#]+)#deliveries"', first.text)
        assert len(shown) == 2 and later is not None
        second = await browser.get(here, params={"log": later.group(1).replace("%3D", "=")})
        rest = re.findall(r'<tr data-delivery="(\d+)"', second.text)
    finally:
        page_module.LOG_SIZE = old
    assert len(rest) == 1 and not set(rest) & set(shown)
    assert sorted(shown + rest) == sorted(str(d["id"]) for d in await pushes(client, b, notice["id"]))


async def test_readers_are_counted_day_by_day_since_publishing(client, app, console, b):
    notice = await announce(client, b.staff, b.b, title="年底大扫除")
    await worker(app).run_until_idle()
    await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.chen.headers)
    clock.advance(timedelta(hours=20))  # 2 December 06:00
    await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.wang.headers)
    (entry,) = (await client.get("/api/v1/me/inbox", headers=b.zhou.headers)).json()["items"]
    await client.post(f"/api/v1/me/inbox/{entry['id']}/read", headers=b.zhou.headers)  # from the inbox
    clock.advance(timedelta(hours=2))  # staff do not count
    await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.staff.headers)
    browser = await staff(console, b)
    page = await browser.get(f"{base(b)}/{notice['id']}")
    days = re.findall(
        r'<tr data-day="(\d+)">.*?<td class="num" data-reads>(\d+)</td><td class="num">(\d+)</td>', page.text
    )
    assert days == [("1", "1", "1"), ("2", "2", "3")]
    assert "<svg" in page.text and "每天新增已读：第1天 1 人；第2天 2 人" in page.text
    assert re.search(r'data-count="read">3\b', page.text)


async def test_who_may_see_what(client, app, console, b):
    notice = await announce(client, b.staff, b.b, title="B社区内部通知")
    c = (await community(client, b.root, "C社区"))["id"]
    c_staff = await login(client, "c-staff")
    await grant(client, b.root, c, c_staff, "staff")
    c_notice = await announce(client, c_staff, c, title="C社区的通知")

    # staff elsewhere and a resident here: a resident as far as B's pages go
    neighbour = await login(client, "neighbour")
    await grant(client, b.root, c, neighbour, "staff")
    await join(client, neighbour, b.b, "2栋", "1单元", "901")
    resident: Browser = await console(neighbour)
    for path in ("", "/new", f"/{notice['id']}", f"/{notice['id']}/withdraw", "/reach"):
        assert (await resident.get(base(b) + path)).status_code == 403, path
    theirs: Browser = await console(c_staff)
    for path in ("", f"/{notice['id']}", f"/{notice['id']}/edit"):
        assert (await theirs.get(base(b) + path)).status_code == 404, path
    # B's staff reach C's announcement through B's pages: not found, nothing changed
    mine = await staff(console, b)
    for path in (f"/{c_notice['id']}", f"/{c_notice['id']}/withdraw"):
        assert (await mine.get(base(b) + path)).status_code == 404, path
    assert (await mine.post(f"{base(b)}/{c_notice['id']}/withdraw")).status_code == 404
    c_view = await client.get(f"/api/v1/announcements/{c_notice['id']}", headers=c_staff.headers)
    assert c_view.json()["status"] == "published"
    # CSRF: a change without the page's token is refused and does nothing
    refused = await mine.post(f"{base(b)}/{notice['id']}/withdraw", csrf=False)
    assert refused.status_code == 403 and "页面已过期" in refused.text
    refused = await mine.post(base(b), data=form(title="伪造的通知"), csrf=False)
    assert refused.status_code == 403
    assert [a["title"] for a in await listed(client, b.staff, b.b)] == ["B社区内部通知"]
    assert (await staff_view(client, b, notice["id"]))["status"] == "published"
