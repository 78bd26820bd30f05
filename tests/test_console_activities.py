"""Activities in the staff console, through HTTP on both engines: the week and the month, the form
with the services' rules as Chinese messages, editing, publishing, cancelling with its consequences
shown first, the roster and the waitlist, series; who may see what, CSRF, pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from api.console import activities as console_activities
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


class World:
    """Community B with its social worker, two households (chen with a child; zhou); a person who is
    staff of A but only a resident of B; a social worker of C only."""

    async def build(self, client: Any, db: Any) -> World:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await login(client, "陈阿姨")
        self.chen_home = (await join(client, self.chen, self.b, "1栋", "1单元", "101"))["household"]["id"]
        self.chen_id = await self.member_id(self.chen)
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "小雨", 2018))["id"]
        self.zhou = await login(client, "周叔叔")
        self.zhou_home = (await join(client, self.zhou, self.b, "3栋", "2单元", "502"))["household"]["id"]
        self.zhou_id = await self.member_id(self.zhou)
        self.mixed = await login(client, "两头跑")  # staff of A, resident of B
        await grant(client, self.root, self.a, self.mixed, "staff")
        await join(client, self.mixed, self.b, "5栋", "1单元", "301")
        self.stranger = await login(client, "社工小张")  # staff of C only
        await grant(client, self.root, self.c, self.stranger, "staff")
        return self

    async def member_id(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    @property
    def base(self) -> str:
        return f"/console/c/{self.b}"


@pytest.fixture
async def w(client, db) -> World:
    return await World().build(client, db)


async def api_detail(client: Any, person: Person, activity_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/activities/{activity_id}", headers=person.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def form(**fields: Any) -> dict[str, str]:
    """A filled activity form as the browser sends it (datetime-local values, community time)."""
    values = {
        "title": "周六亲子阅读会",
        "category": "parent_child",
        "description": "",
        "space_id": "",
        "location": "复合空间阅读角",
        "start_at": "2026-12-05T14:00",
        "end_at": "2026-12-05T15:30",
        "capacity": "20",
        "max_seats_per_booking": "3",
        "registration_opens_at": "",
        "registration_closes_at": "",
        "cancel_deadline": "",
        "checkin_opens_at": "",
        "checkin_closes_at": "",
        "child_min_age": "",
        "child_max_age": "",
        "series_id": "",
    }
    values.update({k: str(v) for k, v in fields.items()})
    return values


def text_of(html: str) -> str:
    """The page's text, tags and spacing gone, for asserting on what staff read."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- the week and the month ------------------------------------------------------------------------


async def test_the_week_lists_every_status_with_counts_and_moves_by_week(client, console, w):
    tuesday = await activity(client, w.staff, w.b, title="周二手工课", start_at=at(hours=5), end_at=at(hours=6))
    await activity(client, w.staff, w.b, publish=False, title="周四读书会草稿", start_at=at(2), end_at=at(2, 1))
    dropped = await activity(client, w.staff, w.b, title="周日观影", start_at=at(5), end_at=at(5, 2))
    await client.post(f"/api/v1/activities/{dropped['id']}/cancel", json={"reason": ""}, headers=w.staff.headers)
    await activity(client, w.staff, w.b, title="下周一议事会", start_at=at(6, 10), end_at=at(6, 11))
    await activity(client, w.mixed, w.a, title="A社区的活动", start_at=at(1), end_at=at(1, 1))
    assert (await book(client, w.chen, tuesday["id"], [w.chen_id, w.xiaoyu])).status_code == 201

    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "11月30日 周一 – 12月6日 周日" in shown and "本周" in shown
    titles = re.findall(r'class="title" href="[^"]+">([^<]+)<', page.text)
    assert titles == ["周二手工课", "周四读书会草稿", "周日观影"]  # by start, drafts and cancelled too
    row = re.search(rf'<tr data-activity="{tuesday["id"]}">.*?</tr>', page.text, re.S)
    assert row is not None and "2/30" in row.group(0) and "已发布" in row.group(0) and "签到台" in row.group(0)
    assert 'data-status="draft"' in page.text and 'data-status="cancelled"' in page.text

    following = await browser.get(f"{w.base}/activities?week=2026-12-08")
    assert re.findall(r'class="title" href="[^"]+">([^<]+)<', following.text) == ["下周一议事会"]
    assert "12月7日 周一 – 12月13日 周日" in text_of(following.text) and "回到本周" in following.text
    assert "?week=2026-11-23" in page.text and "?week=2026-12-07" in page.text  # the weeks either side
    wrong = await browser.get(f"{w.base}/activities?week=tuesday")
    assert wrong.status_code == 422


async def test_the_week_is_paged(client, console, w, monkeypatch):
    monkeypatch.setattr(console_activities, "PAGE_SIZE", 2)
    for n in range(5):
        await activity(client, w.staff, w.b, title=f"第{n + 1}场", start_at=at(1, n), end_at=at(1, n, 30))
    browser = await console(w.staff)
    first = await browser.get(f"{w.base}/activities")
    assert re.findall(r'class="title" href="[^"]+">([^<]+)<', first.text) == ["第1场", "第2场"]
    assert "第 1 / 3 页，共 5 项" in text_of(first.text) and "page=2" in first.text
    last = await browser.get(f"{w.base}/activities?week=2026-12-01&page=3")
    assert re.findall(r'class="title" href="[^"]+">([^<]+)<', last.text) == ["第5场"]
    assert 'rel="next"' not in last.text.split('class="pager"')[1]
    assert (await browser.get(f"{w.base}/activities?page=0")).status_code == 422


async def test_the_month_calendar_puts_activities_on_their_local_days(client, console, w):
    # 23:30 on 5 December in Shanghai is still the 5th there (15:30 UTC)
    late = await activity(
        client, w.staff, w.b, title="深夜观星", start_at="2026-12-05T23:30:00+08:00", end_at=at(4, 16)
    )
    await activity(client, w.staff, w.b, publish=False, title="元旦草稿", start_at=at(31), end_at=at(31, 1))
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/calendar")
    assert page.status_code == 200 and "2026年12月" in page.text
    cell = re.search(r'<td class="[^"]*" data-date="2026-12-05">(.*?)</td>', page.text, re.S)
    assert cell is not None and "深夜观星" in cell.group(1) and f"/activities/{late['id']}" in cell.group(1)
    assert "23:30" in cell.group(1)
    # the grid runs Monday to Sunday, with the neighbouring months' days that fill it
    assert 'data-date="2026-11-30"' in page.text and 'data-date="2027-01-03"' in page.text
    assert "元旦草稿" in page.text  # 1 January is in the last row
    january = await browser.get(f"{w.base}/activities/calendar?month=2027-01")
    assert "2027年1月" in january.text and "st-draft" in january.text
    assert (await browser.get(f"{w.base}/activities/calendar?month=2026-13")).status_code == 422


# -- creating and editing ------------------------------------------------------------------------


async def test_the_form_shows_the_rules_as_chinese_messages_and_writes_nothing_refused(client, console, w):
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/new")
    assert page.status_code == 200 and 'name="title"' in page.text and "autofocus" in page.text
    create = f"{w.base}/activities"

    cases = [
        (form(end_at="2026-12-05T13:00"), "end_at", "结束时间应晚于开始时间"),
        (form(location=""), "location", "请选择活动空间或填写地点"),
        (form(capacity="很多"), "capacity", "应为整数"),
        (form(capacity="0"), "capacity", "不能小于 1"),
        (form(title="长" * 65), "title", "最多 64 个字"),
        (form(title=""), "title", "请填写"),
        (form(category=""), "category", "请选择"),
        (form(start_at="明天下午"), "start_at", "请按“年-月-日 时:分”填写"),
        (form(child_min_age="10", child_max_age="6"), "child_min_age", "最小年龄不能大于 儿童最大年龄"),
        (
            form(checkin_opens_at="2026-12-05T16:00", checkin_closes_at="2026-12-05T15:00"),
            "checkin_closes_at",
            "签到结束时间应晚于签到开始时间",
        ),
        (form(registration_closes_at="2026-12-06T10:00"), "registration_closes_at", "报名截止时间不能晚于活动结束"),
    ]
    for values, field, message in cases:
        refused = await browser.post(create, data=values)
        assert refused.status_code == 422, (field, refused.text)
        assert 'id="activity-form"' in refused.text  # the form again, in place, with what was typed
        error = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', refused.text)
        assert error is not None and message in error.group(1), (field, refused.text)
        assert not re.search(r"[A-Za-z_]{4,}：", text_of(refused.text)), refused.text  # no API field names
    kept = await browser.post(create, data=form(capacity="0", title="保留我"))
    assert 'value="保留我"' in kept.text

    drafts = await client.get(f"/api/v1/communities/{w.b}/activities?status=draft", headers=w.staff.headers)
    assert drafts.json()["items"] == []

    made = await browser.post(create, data=form(description="带孩子来听故事\n自带坐垫", child_min_age="3"))
    assert made.status_code == 204
    target = made.headers["HX-Redirect"]
    activity_id = int(target.rsplit("/", 1)[1])
    assert target == f"{w.base}/activities/{activity_id}"
    created = await api_detail(client, w.staff, activity_id)
    assert created["status"] == "draft" and created["title"] == "周六亲子阅读会"
    assert created["start_at"] == "2026-12-05T14:00:00+08:00"  # read in the community's time
    assert created["checkin_opens_at"] == "2026-12-05T13:30:00+08:00"  # the service's defaults
    assert created["description"] == "带孩子来听故事\n自带坐垫" and created["child_min_age"] == 3

    shown = await browser.get(target)
    assert shown.status_code == 200
    assert "周六亲子阅读会" in shown.text and 'data-status="draft"' in shown.text
    assert f'hx-post="{target}/publish"' in shown.text
    assert f'hx-get="{target}/loop"' in shown.text  # the loop's funnel, drawn by its own page


async def test_csrf_is_required_for_every_change(client, console, w):
    a = await activity(client, w.staff, w.b, publish=False)
    browser = await console(w.staff)
    for path, data in [
        (f"{w.base}/activities", form()),
        (f"{w.base}/activities/{a['id']}/edit", form(title="改")),
        (f"{w.base}/activities/{a['id']}/publish", {}),
        (f"{w.base}/activities/{a['id']}/cancel", {"reason": "x"}),
        (f"{w.base}/series", {"title": "系列"}),
    ]:
        refused = await browser.post(path, data=data, csrf=False)
        assert refused.status_code == 403, path
        assert "页面已过期" in refused.text
    assert (await api_detail(client, w.staff, a["id"]))["status"] == "draft"
    series = (await client.get(f"/api/v1/communities/{w.b}/series", headers=w.staff.headers)).json()
    assert series == []


async def test_editing_moves_the_windows_with_the_start_and_refusals_change_nothing(client, console, w):
    a = await activity(client, w.staff, w.b, capacity=2, start_at=at(4), end_at=at(4, 1))
    await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])
    browser = await console(w.staff)
    edit = f"{w.base}/activities/{a['id']}/edit"
    page = await browser.get(edit)
    assert page.status_code == 200
    values = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
    assert values["start_at"] == "2026-12-05T09:00" and values["checkin_opens_at"] == "2026-12-05T08:30"
    current = form(
        **{k: v for k, v in values.items() if k in form()},
        category="parent_child",
        description="",
        series_id="",
        space_id="",
    )

    # a refusal of the service (check-in would not overlap the activity) leaves even the title alone
    refused = await browser.post(
        edit, data={**current, "title": "改过的标题", "checkin_closes_at": "2026-12-05T08:40", "checkin_opens_at": ""}
    )
    assert refused.status_code == 422
    assert "签到" in text_of(refused.text)
    assert (await api_detail(client, w.staff, a["id"]))["title"] == "周六亲子阅读会"

    below = await browser.post(edit, data={**current, "capacity": "1"})
    assert below.status_code == 422 and "已有2个座位被预约，容量不能少于此数" in below.text

    moved = await browser.post(edit, data={**current, "start_at": "2026-12-06T10:00", "end_at": "2026-12-06T11:00"})
    assert moved.status_code == 204 and moved.headers["HX-Redirect"] == f"{w.base}/activities/{a['id']}"
    after = await api_detail(client, w.staff, a["id"])
    assert after["start_at"] == "2026-12-06T10:00:00+08:00"
    assert after["checkin_opens_at"] == "2026-12-06T09:30:00+08:00"  # moved with the start
    inbox = (await client.get("/api/v1/me/inbox", headers=w.chen.headers)).json()["items"]
    assert [e["title"] for e in inbox] == ["活动有变：周六亲子阅读会"]  # the booked are told, as by the API

    again = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', (await browser.get(edit)).text))
    unchanged = await browser.post(edit, data={**current, **again})
    assert (
        unchanged.status_code == 204
        and len((await client.get("/api/v1/me/inbox", headers=w.chen.headers)).json()["items"]) == 1
    )


async def test_publishing_through_the_console(client, console, w):
    a = await activity(client, w.staff, w.b, publish=False)
    browser = await console(w.staff)
    published = await browser.post(f"{w.base}/activities/{a['id']}/publish")
    assert published.status_code == 204
    assert (await api_detail(client, w.staff, a["id"]))["status"] == "published"
    again = await browser.post(f"{w.base}/activities/{a['id']}/publish")
    assert again.status_code == 409 and again.headers["HX-Retarget"] == "#flash"
    assert "只有草稿可以发布" in again.text
    page = await browser.get(f"{w.base}/activities/{a['id']}")
    assert 'data-status="published"' in page.text and f"/activities/{a['id']}/desk" in page.text
    seen = await client.get(f"/api/v1/activities/{a['id']}", headers=w.zhou.headers)
    assert seen.status_code == 200  # residents see it now


async def test_cancelling_shows_who_is_told_first_then_tells_them(client, console, w):
    a = await activity(client, w.staff, w.b, capacity=2, start_at=at(3), end_at=at(3, 1))
    assert (await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])).json()["status"] == "confirmed"
    assert (await book(client, w.zhou, a["id"])).json()["status"] == "waitlisted"
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/cancel")
    assert page.status_code == 200
    counts = dict(re.findall(r'data-count="([a-z]+)">(\d+)<', page.text))
    assert counts == {
        "bookings": "2",
        "confirmed": "1",
        "waitlisted": "1",
        "households": "2",
        "people": "3",
        "told": "2",
    }
    assert "其中 1 位在候补名单上" in text_of(page.text) and "候补的居民都会被告知" in text_of(page.text)
    assert "data-confirm=" in page.text  # and the browser asks once more
    assert (await api_detail(client, w.staff, a["id"]))["status"] == "published"  # looking changes nothing

    done = await browser.post(f"{w.base}/activities/{a['id']}/cancel", data={"reason": "暴雨预警，改期另行通知"})
    assert done.status_code == 204
    after = await api_detail(client, w.staff, a["id"])
    assert after["status"] == "cancelled" and after["cancel_reason"] == "暴雨预警，改期另行通知"
    for person in (w.chen, w.zhou):  # exactly the two the page said
        titles = [e["title"] for e in (await client.get("/api/v1/me/inbox", headers=person.headers)).json()["items"]]
        assert titles[0] == "活动取消：周六亲子阅读会"
    gone = await browser.get(f"{w.base}/activities/{a['id']}/cancel")
    assert "活动已经取消了" in gone.text and "确认取消活动" not in gone.text
    shown = await browser.get(f"{w.base}/activities/{a['id']}")
    assert "活动已取消：暴雨预警，改期另行通知" in text_of(shown.text)


async def test_a_finished_activity_cannot_be_cancelled(client, console, w):
    a = await activity(client, w.staff, w.b, start_at=at(hours=1), end_at=at(hours=2))
    clock.advance(timedelta(hours=3))
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/cancel")
    assert "活动已经结束，不能再取消" in page.text
    refused = await browser.post(f"{w.base}/activities/{a['id']}/cancel", data={"reason": ""})
    assert refused.status_code == 409 and "结束，不能再取消" in refused.text


async def test_the_roster_and_the_waitlist_in_order_and_paged(client, console, w, monkeypatch):
    monkeypatch.setattr(console_activities, "ROSTER_PAGE", 1)
    a = await activity(client, w.staff, w.b, capacity=1, start_at=at(hours=3), end_at=at(hours=4))
    await book(client, w.zhou, a["id"])
    await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])
    late = await login(client, "晚到的")
    await join(client, late, w.b, "7栋", "1单元", "101")
    await book(client, late, a["id"])
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/roster")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "3栋2单元502" in shown and "周叔叔" in shown  # the confirmed booking
    waiting = re.findall(r'<tr data-waiting="\d+"><td class="num">(\d+)</td><td>([^<]+)</td>', page.text)
    assert waiting == [("1", "1栋1单元101")]  # one a page
    assert "第 1 / 2 页，共 2 项" in shown and "wpage=2" in page.text
    second = await browser.get(f"{w.base}/activities/{a['id']}/roster?wpage=2")
    assert re.findall(r'<tr data-waiting="\d+"><td class="num">(\d+)</td><td>([^<]+)</td>', second.text) == [
        ("2", "7栋1单元101")
    ]
    assert "小雨" in page.text  # staff see who each booking is for


async def test_series_are_listed_created_and_give_their_next_session(client, console, w):
    browser = await console(w.staff)
    empty = await browser.post(f"{w.base}/series", data={"title": "", "category": "culture"})
    assert empty.status_code == 422 and "请填写" in empty.text
    made = await browser.post(
        f"{w.base}/series", data={"title": "周六亲子阅读会", "category": "parent_child", "description": "每周六上午"}
    )
    assert made.status_code == 204
    series_id = int(made.headers["HX-Redirect"].rsplit("/", 1)[1])
    listed = (await client.get(f"/api/v1/communities/{w.b}/series", headers=w.staff.headers)).json()
    assert [(s["id"], s["title"], s["category"]) for s in listed] == [(series_id, "周六亲子阅读会", "parent_child")]

    for days in (4, 11):  # Saturdays 5 and 12 December, 10:00–11:30
        await activity(
            client,
            w.staff,
            w.b,
            series_id=series_id,
            start_at=f"2026-12-{1 + days:02d}T10:00:00+08:00",
            end_at=f"2026-12-{1 + days:02d}T11:30:00+08:00",
            checkin_opens_at=f"2026-12-{1 + days:02d}T09:45:00+08:00",
            capacity=12,
        )
    overview = await browser.get(f"{w.base}/series")
    row = re.search(rf'<tr data-series="{series_id}">.*?</tr>', overview.text, re.S)
    assert row is not None and ">2<" in row.group(0) and "12月5日 周六 10:00" in row.group(0)
    detail = await browser.get(f"{w.base}/series/{series_id}")
    assert detail.status_code == 200 and len(re.findall(r"<tr data-activity=", detail.text)) == 2

    following = await browser.get(f"{w.base}/activities/new?series_id={series_id}")
    values = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', following.text))
    assert values["start_at"] == "2026-12-19T10:00" and values["end_at"] == "2026-12-19T11:30"
    assert values["checkin_opens_at"] == "2026-12-19T09:45" and values["capacity"] == "12"
    assert re.search(rf'<option value="{series_id}" selected>', following.text)
    made = await browser.post(
        f"{w.base}/activities", data={k: v for k, v in values.items()} | form_rest(following.text)
    )
    assert made.status_code == 204
    sessions = await client.get(
        f"/api/v1/communities/{w.b}/activities?series_id={series_id}&status=draft", headers=w.staff.headers
    )
    assert [s["start_at"] for s in sessions.json()["items"]] == ["2026-12-19T10:00:00+08:00"]

    other = await browser.get(f"/console/c/{w.b}/series/{series_id + 999}")
    assert other.status_code == 404


def form_rest(html: str) -> dict[str, str]:
    """The selects and the textarea of a rendered activity form, as the browser would send them."""
    chosen = {}
    for name, body in re.findall(r'<select id="[^"]+" name="([a-z_]+)"[^>]*>(.*?)</select>', html, re.S):
        picked = re.search(r'<option value="([^"]*)" selected>', body)
        chosen[name] = picked.group(1) if picked else ""
    area = re.search(r'<textarea id="f-description" name="description"[^>]*>(.*?)</textarea>', html, re.S)
    chosen["description"] = area.group(1) if area else ""
    return chosen


# -- who may see what ------------------------------------------------------------------------------


async def test_staff_of_the_community_only(client, console, w):
    a = await activity(client, w.staff, w.b, publish=False)
    series = await client.post(f"/api/v1/communities/{w.b}/series", json={"title": "读书会"}, headers=w.staff.headers)
    pages = [
        "/activities",
        "/activities/calendar",
        "/activities/new",
        f"/activities/{a['id']}",
        f"/activities/{a['id']}/edit",
        f"/activities/{a['id']}/cancel",
        f"/activities/{a['id']}/roster",
        "/series",
        f"/series/{series.json()['id']}",
    ]
    staff, mixed, stranger = await console(w.staff), await console(w.mixed), await console(w.stranger)
    for path in pages:
        assert (await staff.get(w.base + path)).status_code == 200, path
        refused = await mixed.get(w.base + path)
        assert refused.status_code == 403, path  # a resident of B, though staff of A
        assert (await stranger.get(w.base + path)).status_code == 404, path  # B does not exist for them
    # B's activity under A's address: no such activity there
    assert (await mixed.get(f"/console/c/{w.a}/activities/{a['id']}")).status_code == 404
    assert (await mixed.get(f"/console/c/{w.a}/activities/{a['id']}/edit")).status_code == 404
    refused = await mixed.post(f"/console/c/{w.a}/activities/{a['id']}/publish")
    assert refused.status_code == 404
    assert (await mixed.post(f"{w.base}/activities/{a['id']}/publish")).status_code == 403
    assert (await api_detail(client, w.staff, a["id"]))["status"] == "draft"
    anonymous = await console()
    assert (await anonymous.get(f"{w.base}/activities")).status_code == 303


async def test_a_change_made_minutes_after_the_page_was_read_goes_through_at_once(client, console, w):
    # the change's own transaction writes the session's last use: on SQLite a second writer would
    # wait for the request's write lock until the busy timeout, and the change would fail as 503
    a = await activity(client, w.staff, w.b, publish=False)
    browser = await console(w.staff)
    await browser.get(f"{w.base}/activities/{a['id']}")
    clock.advance(timedelta(minutes=5))
    published = await browser.post(f"{w.base}/activities/{a['id']}/publish")
    assert published.status_code == 204, published.text
    (session,) = (await client.get("/api/v1/me/console-sessions", headers=w.staff.headers)).json()
    assert session["last_seen_at"] == "2026-12-01T09:05:00+08:00"
