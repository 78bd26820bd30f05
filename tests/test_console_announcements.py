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
from tests.factories import Person, activity, book, community, grant, login, subscribe
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
    return {"title": "停水通知", "body": "明天 9:00–12:00 停水，请提前储水。", "kind": "community", "when": "now", **fields}


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
