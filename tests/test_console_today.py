"""The console's Today page (今日) and the activity loop's funnel, through HTTP on both engines: the
counts of a scenario built through the API over three weeks (activities with bookings, a waitlist,
check-ins, walk-ins and no-shows; a join request; posts, a comment and service records waiting;
an overdue loan; holds on the shelf; closures), the 12-week chart's numbers, the funnel's, and who
may see them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from api import clock
from api.console import charts
from api.services import dashboard
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


# Tuesday 1 December 2026, 10:00 in Shanghai; the current week began on Monday 30 November
NOW = local(12, 1, 10)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def settings(database_url):
    # logins last a month: the scenario moves the clock across three weeks
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class Scene:
    """Community B with its space, staff, four households and a volunteer team; community C with
    its own staff; someone who is staff of C and a resident of B."""

    async def build(self, client: httpx.AsyncClient, db: Any, app: Any) -> Scene:
        self.client, self.app = client, app
        clock.freeze(local(11, 11, 9))  # Wednesday, three weeks back
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "B社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        space = await client.post(
            f"/api/v1/communities/{self.b}/spaces", json={"name": "复合空间"}, headers=self.root.headers
        )
        self.space = ok(space, 201)["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.stranger = await login(client, "C社工")  # staff of C only
        await grant(client, self.root, self.c, self.stranger, "staff")
        self.chen, home = await self.household("chen", "101")
        self.xiaoyu = (await add_child(client, self.chen, home, "小雨", 2018))["id"]
        self.zhou, _ = await self.household("zhou", "102")
        self.li, _ = await self.household("li", "103")
        self.sun, _ = await self.household("sun", "104")
        self.dual, _ = await self.household("dual", "105")  # a resident of B …
        await grant(client, self.root, self.c, self.dual, "staff")  # … and staff of C
        team = await client.post(
            f"/api/v1/communities/{self.b}/teams",
            json={"name": "公益志愿队", "leader_ids": [self.sun.user_id]},
            headers=self.staff.headers,
        )
        self.team = ok(team, 201)["id"]
        return self

    async def household(self, name: str, room: str) -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, "1栋", "1单元", room)
        return person, joined["household"]["id"]

    async def me(self, person: Person) -> int:
        return int(ok(await self.client.get("/api/v1/me", headers=person.headers))["memberships"][0]["member_id"])

    async def activity(self, title: str, start: datetime, minutes: int = 90, **fields: Any) -> dict[str, Any]:
        end = start + timedelta(minutes=minutes)
        return await activity(
            self.client,
            self.staff,
            self.b,
            title=title,
            start_at=start.isoformat(),
            end_at=end.isoformat(),
            **fields,
        )

    async def booked(self, person: Person, activity_id: int, ids: list[int] | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = ok(await book(self.client, person, activity_id, ids), 201)
        return answer

    async def check_in(self, activity_id: int, booking_id: int) -> None:
        ok(
            await self.client.post(
                f"/api/v1/activities/{activity_id}/checkins",
                json={"booking_id": booking_id},
                headers=self.staff.headers,
            )
        )

    async def copy(self, title: str, barcode: str) -> int:
        created = ok(
            await self.client.post(
                f"/api/v1/communities/{self.b}/books", json={"title": title}, headers=self.staff.headers
            ),
            201,
        )
        ok(
            await self.client.post(
                f"/api/v1/books/{created['id']}/copies", json={"barcode": barcode}, headers=self.staff.headers
            ),
            201,
        )
        return int(created["id"])

    async def lend(self, barcode: str, member_id: int) -> None:
        ok(
            await self.client.post(
                f"/api/v1/communities/{self.b}/loans",
                json={"barcode": barcode, "member_id": member_id},
                headers=self.staff.headers,
            ),
            201,
        )

    async def shift(self, start: datetime) -> int:
        body = {
            "role": "开馆值班",
            "place": "复合空间",
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=2)).isoformat(),
            "needed": 2,
            "team_id": self.team,
        }
        shift_id = int(
            ok(
                await self.client.post(f"/api/v1/communities/{self.b}/shifts", json=body, headers=self.staff.headers),
                201,
            )["id"]
        )
        ok(await self.client.post(f"/api/v1/shifts/{shift_id}/signups", json={}, headers=self.sun.headers), 201)
        return shift_id

    async def serve(self, shift_id: int, start: datetime) -> None:
        """The volunteer checks in and out of the shift: a service record waiting for review."""
        for step, at in (("checkin", start + timedelta(minutes=5)), ("checkout", start + timedelta(hours=2))):
            clock.freeze(at)
            code = ok(await self.client.get(f"/api/v1/shifts/{shift_id}/code", headers=self.staff.headers))["code"]
            ok(
                await self.client.post(
                    f"/api/v1/shifts/{shift_id}/{step}", json={"code": code}, headers=self.sun.headers
                )
            )

    async def run_worker(self) -> None:
        await Worker(self.app.state.db, self.app.state.settings, self.app.state.wechat).run_until_idle()

    async def play(self) -> Scene:
        """Three weeks of the community, ending at NOW."""
        c = self.client
        chen_me, zhou_me = await self.me(self.chen), await self.me(self.zhou)
        li_me = await self.me(self.li)
        # Wednesday 11 November: two activities ahead, one later called off; a loan; two shifts
        first = await self.activity("第一周读书会", local(11, 18, 10))
        second = await self.activity("第二周手工", local(11, 28, 10))
        called_off = await self.activity("取消的讲座", local(11, 25, 10))
        first_chen = await self.booked(self.chen, first["id"], [chen_me, self.xiaoyu])
        await self.booked(self.zhou, first["id"])  # will not come
        second_li = await self.booked(self.li, second["id"])
        second_zhou = await self.booked(self.zhou, second["id"])
        await self.booked(self.chen, called_off["id"])
        cancelled = await c.post(
            f"/api/v1/activities/{called_off['id']}/cancel", json={"reason": "讲师生病"}, headers=self.staff.headers
        )
        ok(cancelled)
        await self.copy("猜猜我有多爱你", "LATE-1")
        await self.lend("LATE-1", self.xiaoyu)  # due on the 25th: overdue by now
        early_shift, late_shift = await self.shift(local(11, 11, 10)), await self.shift(local(11, 29, 14))
        await self.serve(early_shift, local(11, 11, 10))  # its review is due by the 25th: late by now

        # Wednesday 18 November: chen's family comes, zhou does not; the worker counts the no-show
        clock.freeze(local(11, 18, 9, 55))
        await self.check_in(first["id"], first_chen["id"])
        clock.freeze(local(11, 18, 12))
        await self.run_worker()

        # Saturday 28 November: both come, and a guest walks in
        clock.freeze(local(11, 28, 9, 55))
        for booking in (second_li, second_zhou):
            await self.check_in(second["id"], booking["id"])
        walked = await c.post(
            f"/api/v1/activities/{second['id']}/walkins", json={"guests": ["王阿姨"]}, headers=self.staff.headers
        )
        ok(walked, 201)
        clock.freeze(local(11, 28, 12))
        await self.run_worker()

        # Sunday 29 November: a hold whose copy is on the shelf at once, its last day Tuesday;
        # the second shift is served
        clock.freeze(local(11, 29, 10))
        held = await self.copy("好饿的毛毛虫", "HOLD-1")
        ok(await c.post(f"/api/v1/books/{held}/holds", json={"member_id": zhou_me}, headers=self.zhou.headers), 201)
        await self.serve(late_shift, local(11, 29, 14))

        # Monday 30 November: today's activities are planned and booked; posts and a comment wait
        clock.freeze(local(11, 30, 10))
        self.morning = await self.activity("晨读", local(12, 1, 9, 45), capacity=3)
        self.afternoon = await self.activity("下午手工", local(12, 1, 15))
        self.evening = await self.activity("晚间议事", local(12, 1, 19), publish=False)
        yesterday = await self.activity("昨晚电影", local(11, 30, 18))
        tomorrow = await self.activity("明天的讲座", local(12, 2, 10))
        self.morning_chen = await self.booked(self.chen, self.morning["id"], [chen_me, self.xiaoyu])
        await self.booked(self.zhou, self.morning["id"])  # full now
        await self.booked(self.li, self.afternoon["id"])
        await self.booked(self.zhou, yesterday["id"])
        await self.booked(self.chen, tomorrow["id"])
        staff_post = ok(
            await c.post(
                f"/api/v1/communities/{self.b}/posts",
                json={"body": "晨读的书单已经准备好了", "activity_id": self.morning["id"]},
                headers=self.staff.headers,
            ),
            201,
        )
        ok(
            await c.post(
                f"/api/v1/communities/{self.b}/posts", json={"body": "这句话待审核"}, headers=self.chen.headers
            ),
            201,
        )
        ok(
            await c.post(
                f"/api/v1/posts/{staff_post['id']}/comments", json={"body": "评论待审核"}, headers=self.zhou.headers
            ),
            201,
        )
        reported = await c.post(
            f"/api/v1/posts/{staff_post['id']}/report", json={"reason": "不相关"}, headers=self.sun.headers
        )
        assert reported.status_code == 204, reported.text
        # the loop: zhou shares the morning, li opens it and joins its waitlist; chen shares the
        # staff's post and sun opens it
        share = ok(
            await c.post(
                "/api/v1/shares", json={"target": "activity", "id": self.morning["id"]}, headers=self.zhou.headers
            ),
            201,
        )
        ok(await c.get(f"/api/v1/shares/{share['token']}", headers=self.li.headers))
        waiting = await self.booked(self.li, self.morning["id"])
        assert waiting["status"] == "waitlisted"
        post_share = ok(
            await c.post("/api/v1/shares", json={"target": "post", "id": staff_post["id"]}, headers=self.chen.headers),
            201,
        )
        ok(await c.get(f"/api/v1/shares/{post_share['token']}", headers=self.sun.headers))
        await self.lend_now(zhou_me)
        spouse = await login(c, "chen2")
        assert (await join(c, spouse, self.b, "1栋", "1单元", "101"))["status"] == "pending"
        await self.run_worker()  # the text checks: the post and the comment wait for staff

        # Tuesday 1 December, 10:00: closed today for repairs; another hold; the morning's check-in
        clock.freeze(NOW)
        for starts, ends, reason in (
            ("2026-11-20", "2026-11-20", "过去的"),
            ("2026-12-01", "2026-12-01", "设备检修"),
            ("2026-12-05", "2026-12-06", "社区活动日"),
        ):
            closure = await c.post(
                f"/api/v1/spaces/{self.space}/closures",
                json={"starts_on": starts, "ends_on": ends, "reason": reason},
                headers=self.staff.headers,
            )
            ok(closure, 201)
        shelf = await self.copy("窗边的小豆豆", "HOLD-2")
        ok(await c.post(f"/api/v1/books/{shelf}/holds", json={"member_id": li_me}, headers=self.li.headers), 201)
        await self.check_in(self.morning["id"], self.morning_chen["id"])
        return self

    async def lend_now(self, member_id: int) -> None:
        await self.copy("神奇校车", "FRESH-1")
        await self.lend("FRESH-1", member_id)  # due in two weeks: not overdue


@pytest.fixture
async def scene(client, db, app) -> Scene:
    built = await Scene().build(client, db, app)
    return await built.play()


def svg_texts(html: str, chart: str) -> tuple[list[str], str]:
    """The words of one chart (by its data-chart name), in order, and its description."""
    found = re.search(rf'<svg [^>]*data-chart="{chart}".*?</svg>', html, re.S)
    assert found, f"no {chart} chart"
    root = ET.fromstring(found.group(0))
    desc = root.find(f"{SVG}desc")
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None and desc is not None
    assert all("style" not in element.attrib for element in root.iter())  # CSP: no inline style
    return [t.text or "" for t in root.iter(f"{SVG}text")], desc.text or ""


def waiting_count(html: str, name: str) -> int:
    found = re.search(rf'data-waiting="{name}">\s*<(?:a|div)[^>]*>\s*<span class="count">(\d+)</span>', html)
    assert found, name
    return int(found.group(1))


def row_of(html: str, activity_id: int) -> dict[str, str]:
    found = re.search(rf'<tr data-activity="{activity_id}".*?</tr>', html, re.S)
    assert found, activity_id
    row = found.group(0)
    counts = dict(re.findall(r'data-count="([a-z-]+)">(\d+)', row))
    return {**counts, "html": row}


async def test_today_counts_what_the_desk_needs(client, console, scene):
    browser = await console(scene.staff)
    home = await browser.get("/console", follow_redirects=False)
    assert home.headers["location"] == f"/console/c/{scene.b}/today"
    page = await browser.get(f"/console/c/{scene.b}/today")
    assert page.status_code == 200
    html = page.text
    assert "12月1日 周二" in html and 'aria-current="page">今日' in html.replace("\n", "")

    # today's activities, soonest first: not yesterday's, not tomorrow's, the draft marked
    titles = re.findall(r'<tr data-activity="\d+".*?<a href="[^"]+">([^<]+)</a>', html, re.S)
    assert titles == ["晨读", "下午手工", "晚间议事"]
    morning = row_of(html, scene.morning["id"])
    assert (morning["booked"], morning["waitlisted"], morning["checked-in"]) == ("3", "1", "2")
    assert "/3" in morning["html"] and "签到中" in morning["html"]
    assert f'href="/console/c/{scene.b}/activities/{scene.morning["id"]}/desk"' in morning["html"]
    assert f'href="/console/c/{scene.b}/activities/{scene.morning["id"]}"' in morning["html"]
    afternoon = row_of(html, scene.afternoon["id"])
    assert (afternoon["booked"], afternoon["waitlisted"], afternoon["checked-in"]) == ("1", "0", "0")
    assert "草稿" in row_of(html, scene.evening["id"])["html"]
    # the same as the roster the API gives staff
    roster = ok(await client.get(f"/api/v1/activities/{scene.morning['id']}/attendance", headers=scene.staff.headers))
    assert (roster["taken"], roster["waitlisted_seats"], roster["checked_in"]) == (3, 1, 2)

    # what waits for staff
    assert waiting_count(html, "join_requests") == 1
    assert waiting_count(html, "moderation") == 2  # a post the check was unsure of, a reported one
    assert re.search(r'data-waiting="comments">1<', html)
    assert waiting_count(html, "records") == 2 and "1 条已过审核期限" in html
    assert waiting_count(html, "overdue_loans") == 1
    assert waiting_count(html, "holds_ready") == 2 and "1 本今天是最后一天" in html
    for link in ("households?pending=1#requests", "library/overdue", "library/holds"):
        assert f'href="/console/c/{scene.b}/{link}"' in html
    assert html.count("在小程序中审核") == 2
    # … as the API's own lists count them
    queue = ok(await client.get(f"/api/v1/communities/{scene.b}/moderation", headers=scene.staff.headers))
    assert (len(queue["posts"]), len(queue["comments"])) == (2, 1)
    overdue = ok(await client.get(f"/api/v1/communities/{scene.b}/library/overdue", headers=scene.staff.headers))
    assert [o["barcode"] for o in overdue] == ["LATE-1"]

    # the space: closed today, with the reason; the closure ahead; not the past one
    space = re.search(r'<div class="space".*?</div>', html, re.S)
    assert space is not None
    assert "今日闭馆" in space.group(0) and "设备检修" in space.group(0) and "未开放" in space.group(0)
    assert "社区活动日" in space.group(0) and "12月5日 周六 至 12月6日 周日" in space.group(0)
    assert "过去的" not in html and "09:00–21:00" not in space.group(0)

    # the 12 weeks: W1 3 booked / 2 came / 1 no-show; W2 with the walk-in; the current week so far
    words, desc = svg_texts(html, "bars")
    assert "11月16日那周：1场活动，预约3，到场2，爽约1" in desc
    assert "11月23日那周：1场活动，预约3，到场3，爽约0" in desc  # the called-off lecture is not counted
    assert "11月30日那周（本周）：2场活动，预约4，到场2，爽约0" in desc
    assert "11月9日那周" not in desc
    labels = [w for w in words if re.fullmatch(r"\d+/\d+", w)]
    assert labels == [
        "9/14", "9/21", "9/28", "10/5", "10/12", "10/19", "10/26", "11/2", "11/9", "11/16", "11/23", "11/30"
    ]  # fmt: skip
    assert "本周" in words and {"预约", "到场", "爽约"} <= set(words)
    # the bars' numbers, week by week (after the legend and the axis' ticks)
    bars = [w for w in words[words.index("9/14") :] if w.isdigit()]
    assert bars == ["3", "2", "1", "3", "3", "0", "4", "2", "0"]


async def test_today_on_an_open_day_shows_the_hours_and_pages_its_activities(client, console, scene, monkeypatch):
    clock.freeze(local(12, 2, 8))  # Wednesday, before opening
    browser = await console(scene.staff)
    html = (await browser.get(f"/console/c/{scene.b}/today")).text
    space = re.search(r'<div class="space".*?</div>', html, re.S)
    assert space is not None
    assert '今天 <span class="hours">09:00–21:00</span>' in space.group(0)
    assert "下次开放：12月2日 09:00" in space.group(0) and "今日闭馆" not in space.group(0)
    assert re.findall(r'<tr data-activity="\d+".*?<a href="[^"]+">([^<]+)</a>', html, re.S) == ["明天的讲座"]
    # the list of a day is bounded: more than fit links to the activities page
    clock.freeze(NOW)
    monkeypatch.setattr(dashboard, "TODAY_ACTIVITIES", 2)
    html = (await browser.get(f"/console/c/{scene.b}/today")).text
    assert len(re.findall(r"<tr data-activity=", html)) == 2
    assert "今天还有更多活动" in html and "2+ 场" in html


async def test_the_loop_funnel_of_an_activity(client, console, scene):
    browser = await console(scene.staff)
    path = f"/console/c/{scene.b}/activities/{scene.morning['id']}/loop"
    fragment = await browser.get(path, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    words, desc = svg_texts(fragment.text, "funnel")
    expected = [("预约", 3), ("到场", 2), ("发布动态", 1), ("分享", 2), ("打开分享", 2), ("分享带来预约", 1)]
    assert words == [w for name, value in expected for w in (name, str(value))]
    assert desc == "“晨读”的传播闭环：预约3，到场2，发布动态1，分享2，打开分享2，分享带来预约1。"
    # the numbers are the loop service's, as the API gives them
    figures = ok(await client.get(f"/api/v1/activities/{scene.morning['id']}/loop", headers=scene.staff.headers))
    assert [figures[key] for key, _ in charts.LOOP_STAGES] == [value for _, value in expected]
    assert "到场的 2 人中" in fragment.text and "单独打开" in fragment.text
    # asked for as a page, it comes inside the console's frame
    page = await browser.get(path)
    assert page.status_code == 200 and "<html" in page.text and 'data-chart="funnel"' in page.text
    assert "<title>传播闭环 · 晨读" in page.text and "单独打开" not in page.text


async def test_who_may_see_today_and_the_funnel(client, console, scene):
    path = f"/console/c/{scene.b}/today"
    loop = f"/console/c/{scene.b}/activities/{scene.morning['id']}/loop"
    stranger = await console(scene.stranger)  # staff of C only: B does not exist for them
    for target in (path, loop):
        answer = await stranger.get(target)
        assert answer.status_code == 404 and "社区不存在" in answer.text
    dual = await console(scene.dual)  # staff of C, a resident of B
    for target in (path, loop):
        answer = await dual.get(target)
        assert answer.status_code == 403 and "只有社区工作人员可以使用工作台" in answer.text
    assert (await dual.get(f"/console/c/{scene.c}/today")).status_code == 200
    # an activity of another community is not one of B's, even for B's staff
    elsewhere = await activity(client, scene.stranger, scene.c, title="C的活动")
    mine = await console(scene.staff)
    answer = await mine.get(f"/console/c/{scene.b}/activities/{elsewhere['id']}/loop", headers={"HX-Request": "true"})
    assert answer.status_code == 404 and "活动不存在" in answer.text
    assert (await mine.get(f"/console/c/{scene.b}/activities/999999/loop")).status_code == 404
    # signed out: the login page
    anonymous = await console()
    answer = await anonymous.get(path)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login?" + urlencode({"next": path})
