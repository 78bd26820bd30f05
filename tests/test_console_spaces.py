"""The space's settings in the staff console, through HTTP on both engines: the spaces with their
weekly opening hours (a grid per weekday, several periods a day), set up by admins only; the
calendar of closed days (a month per space, the weekly closed days and the closures), closures
added and removed by staff. Refusals come back in Chinese beside their fields; every change is read
back through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api import clock
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class World:
    """Community B with its admin, a social worker and residents, a space (the default week:
    closed on Mondays); community C with its own worker and space."""

    async def build(self, client: Any, db: Any) -> World:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.admin = await login(client, "站长老李")
        await grant(client, self.root, self.b, self.admin, "admin")
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await login(client, "陈阿姨")
        await join(client, self.chen, self.b, "1栋", "1单元", "101")
        self.stranger = await login(client, "社工小张")
        await grant(client, self.root, self.c, self.stranger, "staff")
        # staff of C living in B: a resident here (residents cannot sign in to the console otherwise)
        self.neighbour = await login(client, "社工小周")
        await grant(client, self.root, self.c, self.neighbour, "staff")
        await join(client, self.neighbour, self.b, "2栋", "1单元", "202")
        self.space = await self.make_space(self.b, "复合空间")
        self.other_space = await self.make_space(self.c, "C社区活动室")
        return self

    async def make_space(self, community_id: int, name: str) -> int:
        made = await self.client.post(
            f"/api/v1/communities/{community_id}/spaces", json={"name": name}, headers=self.root.headers
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    @property
    def settings(self) -> str:
        return f"/console/c/{self.b}/settings"

    async def spaces(self) -> list[dict[str, Any]]:
        listed = await self.client.get(f"/api/v1/communities/{self.b}/spaces", headers=self.staff.headers)
        assert listed.status_code == 200
        spaces: list[dict[str, Any]] = listed.json()
        return spaces

    async def closures(self, space_id: int | None = None) -> list[dict[str, Any]]:
        listed = await self.client.get(f"/api/v1/spaces/{space_id or self.space}/closures", headers=self.staff.headers)
        assert listed.status_code == 200
        closures: list[dict[str, Any]] = listed.json()
        return closures


@pytest.fixture
async def world(client, db) -> World:
    return await World().build(client, db)


def week(**days: list[tuple[str, str]]) -> dict[str, str]:
    """The grid's fields: the days given open with their periods, the others closed."""
    form: dict[str, str] = {}
    for day, periods in days.items():
        form[f"open-{day}"] = "1"
        for n, (opens, closes) in enumerate(periods):
            form[f"from-{day}-{n}"] = opens
            form[f"to-{day}-{n}"] = closes
    return form


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', html)
    assert found, html
    return found.group(1)


def input_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


# -- spaces ----------------------------------------------------------------------------------------


async def test_the_spaces_page_shows_each_space_and_its_week(world, console):
    page = await (await console(world.staff)).get(f"{world.settings}/spaces")
    assert page.status_code == 200
    assert "复合空间" in page.text and "C社区活动室" not in page.text
    row = page.text.split(f'data-space="{world.space}"')[1].split("</tr>")[0]
    assert re.search(r'data-day="mon">\s*<span class="muted">不开放', row)
    assert re.search(r'data-day="tue">\s*<span class="period">09:00–21:00', row)
    assert "开放中" in row  # Tuesday 10:00
    assert 'aria-current="page">空间与开放时间' in page.text


async def test_an_admin_adds_a_space_with_its_weekly_grid(world, console):
    admin = await console(world.admin)
    page = await admin.get(f"{world.settings}/spaces")
    assert "新建空间" in page.text and "data-readonly" not in page.text
    form = {
        "name": "阅读角",
        "address": "3栋一层",
        **week(tue=[("9:00", "12:00"), ("14:00", "18:00")], sat=[("09:00", "21:00")], sun=[("09：30", "24:00")]),
        "from-wed-0": "10:00",  # typed, but Wednesday is not ticked open: closed
        "to-wed-0": "11:00",
    }
    made = await admin.post(f"{world.settings}/spaces", data=form)
    assert made.status_code == 204, made.text
    assert made.headers["HX-Redirect"].startswith(f"{world.settings}/spaces?saved=")
    reading = next(s for s in await world.spaces() if s["name"] == "阅读角")
    assert reading["address"] == "3栋一层"
    assert reading["opening_hours"] == {
        "mon": [],
        "tue": [["09:00", "12:00"], ["14:00", "18:00"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [["09:00", "21:00"]],
        "sun": [["09:30", "24:00"]],
    }
    listed = await admin.get(made.headers["HX-Redirect"])
    assert "已保存" in listed.text and "14:00–18:00" in listed.text


async def test_an_admin_changes_a_spaces_name_and_hours(world, console):
    admin = await console(world.admin)
    page = await admin.get(f"{world.settings}/spaces/{world.space}")
    assert page.status_code == 200
    assert input_value(page.text, "name") == "复合空间"
    assert input_value(page.text, "from-tue-0") == "09:00" and input_value(page.text, "to-tue-0") == "21:00"
    assert 'name="open-mon" value="1" >' in page.text  # Monday not ticked
    form = {
        "name": "活动室",
        "address": "",
        **week(mon=[("08:00", "12:00"), ("13:00", "17:30")], fri=[("09:00", "21:00")]),
    }
    saved = await admin.post(f"{world.settings}/spaces/{world.space}", data=form)
    assert saved.status_code == 204, saved.text
    (space,) = await world.spaces()
    assert space["name"] == "活动室"
    assert space["opening_hours"]["mon"] == [["08:00", "12:00"], ["13:00", "17:30"]]
    assert space["opening_hours"]["tue"] == [] and space["opening_hours"]["fri"] == [["09:00", "21:00"]]


async def test_a_refused_space_form_keeps_what_was_typed_with_refusals_beside_the_fields(world, console):
    admin = await console(world.admin)
    await admin.get(f"{world.settings}/spaces")
    form = {
        "name": "",
        "address": "二楼",
        **week(
            mon=[("9点", "12:00")],
            tue=[("09:00", "12:00"), ("11:00", "15:00")],
            wed=[("18:00", "09:00")],
            thu=[("09:00", "")],
        ),
        "open-fri": "1",  # open with no period
    }
    refused = await admin.post(f"{world.settings}/spaces", data=form)
    assert refused.status_code == 422
    html = refused.text
    assert field_error(html, "name") == "请填写"
    assert field_error(html, "hours-mon") == "时间应写成“时:分”，如 09:00"
    assert field_error(html, "hours-tue") == "开放时段有重叠"
    assert field_error(html, "hours-wed") == "18:00–09:00：结束时间应晚于开始时间"
    assert field_error(html, "hours-thu") == "每个时段请填写开始和结束时间"
    assert field_error(html, "hours-fri") == "请填写开放时段，或取消勾选“开放”"
    assert "err-hours-sat" not in html
    assert "<li>周三：18:00–09:00：结束时间应晚于开始时间</li>" in html
    # what was typed comes back
    assert input_value(html, "address") == "二楼" and input_value(html, "from-mon-0") == "9点"
    assert input_value(html, "from-tue-1") == "11:00"
    assert [s["name"] for s in await world.spaces()] == ["复合空间"]

    # a name the community already has: refused beside the name, nothing changed
    taken = await admin.post(f"{world.settings}/spaces", data={"name": "复合空间", **week(tue=[("09:00", "10:00")])})
    assert taken.status_code == 422
    assert field_error(taken.text, "name") == "该社区已有同名空间"
    too_long = await admin.post(f"{world.settings}/spaces", data={"name": "长" * 65, **week(tue=[("09:00", "10:00")])})
    assert field_error(too_long.text, "name") == "最多 64 个字"
    assert [s["name"] for s in await world.spaces()] == ["复合空间"]


async def test_plain_staff_see_the_hours_read_only_and_cannot_change_them(world, console):
    staff = await console(world.staff)
    listed = await staff.get(f"{world.settings}/spaces")
    assert "data-readonly" in listed.text and 'id="space-form"' not in listed.text
    page = await staff.get(f"{world.settings}/spaces/{world.space}")
    assert page.status_code == 200 and "data-readonly" in page.text
    assert "<fieldset disabled>" in page.text and "保存修改" not in page.text
    # a forged change is refused by the service's rule
    made = await staff.post(f"{world.settings}/spaces", data={"name": "阅读角", **week(tue=[("09:00", "10:00")])})
    assert made.status_code == 403
    changed = await staff.post(f"{world.settings}/spaces/{world.space}", data={"name": "改名", **week()})
    assert changed.status_code == 403
    spaces = await world.spaces()
    assert [s["name"] for s in spaces] == ["复合空间"] and spaces[0]["opening_hours"]["tue"] == [["09:00", "21:00"]]


async def test_who_may_open_the_space_pages(world, console):
    resident = await console(world.neighbour)
    stranger = await console(world.stranger)
    admin = await console(world.admin)
    for path in ("spaces", f"spaces/{world.space}", "closures", f"closures?space={world.space}&month=2026-12"):
        assert (await resident.get(f"{world.settings}/{path}")).status_code == 403, path
        assert (await stranger.get(f"{world.settings}/{path}")).status_code == 404, path
    # another community's space does not exist here, to read, change or close
    assert (await admin.get(f"{world.settings}/spaces/{world.other_space}")).status_code == 404
    form = {"name": "抢来的", **week(tue=[("09:00", "10:00")])}
    assert (await admin.post(f"{world.settings}/spaces/{world.other_space}", data=form)).status_code == 404
    closure = {"starts_on": "2026-12-10", "ends_on": "2026-12-10"}
    closed = await admin.post(f"{world.settings}/spaces/{world.other_space}/closures", data=closure)
    assert closed.status_code == 404
    assert (await admin.get(f"{world.settings}/closures?space={world.other_space}")).status_code == 404
    assert await world.closures(world.other_space) == []
    # without the page's token nothing changes
    token_less = await admin.post(f"{world.settings}/spaces/{world.space}", data=form, csrf=False)
    assert token_less.status_code == 403 and "页面已过期" in token_less.text
    no_closure = await admin.post(f"{world.settings}/spaces/{world.space}/closures", data=closure, csrf=False)
    assert no_closure.status_code == 403
    assert await world.closures() == []


# -- the calendar of closed days ------------------------------------------------------------------


def day_cell(html: str, day: str) -> str:
    found = re.search(rf'<td class="[^"]*" data-day="{day}" data-state="(\w+)">(.*?)</td>', html, re.S)
    assert found, day
    return f"{found.group(1)}|{found.group(2)}"


async def test_the_calendar_shows_the_month_with_weekly_closed_days(world, console):
    page = await (await console(world.staff)).get(f"{world.settings}/closures")
    assert page.status_code == 200
    assert "复合空间 · 2026年12月" in page.text and 'data-month="2026-12"' in page.text
    assert "每周闭馆：周一" in page.text
    assert day_cell(page.text, "2026-12-07").startswith("weekly|")  # a Monday
    assert day_cell(page.text, "2026-12-08").startswith("open|") and "09:00–21:00" in day_cell(page.text, "2026-12-08")
    assert "today" in page.text.split('data-day="2026-12-01"')[0].rsplit("<td", 1)[1]
    # weeks run Monday to Sunday: 30 November opens the grid, 3 January closes it
    assert 'data-day="2026-11-30"' in page.text and 'data-day="2027-01-03"' in page.text
    assert (
        f"space={world.space}&amp;month=2026-11" in page.text and f"space={world.space}&amp;month=2027-01" in page.text
    )
    january = await (await console(world.staff)).get(f"{world.settings}/closures?space={world.space}&month=2027-01")
    assert "2027年1月" in january.text and 'data-day="2026-12-28"' in january.text
    assert 'data-day="2027-01-31"' in january.text and 'data-day="2027-02-01"' not in january.text
    wrong = await (await console(world.staff)).get(f"{world.settings}/closures?month=2026-13")
    assert wrong.status_code == 422 and "月份应写成" in wrong.text


async def test_staff_add_a_closure_and_see_it_in_the_calendar(world, console):
    staff = await console(world.staff)
    await staff.get(f"{world.settings}/closures")
    added = await staff.post(
        f"{world.settings}/spaces/{world.space}/closures",
        data={"starts_on": "2027-01-01", "ends_on": "2027-01-03", "reason": "元旦假期"},
    )
    assert added.status_code == 204, added.text
    assert added.headers["HX-Redirect"] == f"{world.settings}/closures?space={world.space}&month=2027-01"
    (closure,) = await world.closures()
    assert (closure["starts_on"], closure["ends_on"], closure["reason"]) == ("2027-01-01", "2027-01-03", "元旦假期")

    january = await staff.get(added.headers["HX-Redirect"])
    for day in ("2027-01-01", "2027-01-02", "2027-01-03"):
        assert day_cell(january.text, day).startswith("closure|") and "元旦假期" in day_cell(january.text, day)
    assert day_cell(january.text, "2027-01-05").startswith("open|")
    assert "1月1日 周五 至 1月3日 周日" in january.text
    # December's grid runs into January: those days are marked there too
    december = await staff.get(f"{world.settings}/closures")
    assert day_cell(december.text, "2027-01-02").startswith("closure|")
    assert "本月没有闭馆安排" in december.text and 'id="upcoming-closures"' in december.text


async def test_a_refused_closure_keeps_what_was_typed_beside_its_fields(world, console):
    staff = await console(world.staff)
    await staff.get(f"{world.settings}/closures")
    path = f"{world.settings}/spaces/{world.space}/closures"
    backwards = await staff.post(path, data={"starts_on": "2026-12-20", "ends_on": "2026-12-18", "reason": "维修"})
    assert backwards.status_code == 422
    assert field_error(backwards.text, "ends_on") == "结束日期不能早于开始日期"
    assert input_value(backwards.text, "starts_on") == "2026-12-20" and input_value(backwards.text, "reason") == "维修"
    empty = await staff.post(path, data={"starts_on": "", "ends_on": "", "reason": ""})
    assert field_error(empty.text, "starts_on") == "请填写" and field_error(empty.text, "ends_on") == "请填写"
    garbled = await staff.post(path, data={"starts_on": "12月20日", "ends_on": "2026-12-21", "reason": "长" * 129})
    assert field_error(garbled.text, "starts_on") == "请按“年-月-日”填写，如 2026-09-01"
    assert field_error(garbled.text, "reason") == "最多 128 个字"
    assert await world.closures() == []


async def test_staff_remove_a_closure(world, console):
    added = await world.client.post(
        f"/api/v1/spaces/{world.space}/closures",
        json={"starts_on": "2026-12-24", "ends_on": "2026-12-25", "reason": "设备维修"},
        headers=world.staff.headers,
    )
    closure_id = added.json()["id"]
    staff = await console(world.staff)
    page = await staff.get(f"{world.settings}/closures")
    assert f'data-closure="{closure_id}"' in page.text and day_cell(page.text, "2026-12-24").startswith("closure|")
    removed = await staff.post(f"{world.settings}/closures/{closure_id}/remove", data={"month": "2026-12"})
    assert removed.status_code == 204
    assert removed.headers["HX-Redirect"] == f"{world.settings}/closures?space={world.space}&month=2026-12"
    assert await world.closures() == []
    again = await staff.get(f"{world.settings}/closures")
    assert day_cell(again.text, "2026-12-24").startswith("open|")
    # gone: a second removal, or another community's closure, is not found
    assert (await staff.post(f"{world.settings}/closures/{closure_id}/remove")).status_code == 404
    theirs = await world.client.post(
        f"/api/v1/spaces/{world.other_space}/closures",
        json={"starts_on": "2026-12-24", "ends_on": "2026-12-24"},
        headers=world.stranger.headers,
    )
    refused = await staff.post(f"{world.settings}/closures/{theirs.json()['id']}/remove")
    assert refused.status_code == 404
    assert len(await world.closures(world.other_space)) == 1


async def test_a_community_without_spaces_is_told_to_add_one(world, console, client):
    empty = (await community(client, world.root, "新社区"))["id"]
    worker: Person = await login(client, "社工小赵")
    await grant(client, world.root, empty, worker, "staff")
    page = await (await console(worker)).get(f"/console/c/{empty}/settings/closures")
    assert page.status_code == 200 and "还没有空间" in page.text
    spaces = await (await console(worker)).get(f"/console/c/{empty}/settings/spaces")
    assert "还没有空间" in spaces.text
