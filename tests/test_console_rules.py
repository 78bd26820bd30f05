"""The rules in the staff console's settings, through HTTP on both engines: the activity policy
(no-shows, reminders) and the library's lending rules, two forms over the services the API calls.
Refusals come back in Chinese beside their fields; saved rules are read back through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api import clock
from tests.conftest import make_settings
from tests.factories import community, grant, join, login, platform_admin

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

ACTIVITY = {"no_show_limit": "2", "no_show_window_days": "60", "block_days": "14", "reminder_hours": "3"}
LIBRARY = {
    "loan_days": "21",
    "max_loans": "5",
    "child_loan_days": "28",
    "child_max_loans": "",
    "renewals": "2",
    "hold_shelf_days": "4",
    "max_holds": "2",
}


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class World:
    async def build(self, client: Any, db: Any) -> World:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.stranger = await login(client, "社工小张")
        await grant(client, self.root, self.c, self.stranger, "staff")
        self.neighbour = await login(client, "社工小周")  # staff of C, a resident of B
        await grant(client, self.root, self.c, self.neighbour, "staff")
        await join(client, self.neighbour, self.b, "2栋", "1单元", "202")
        self.rules = f"/console/c/{self.b}/settings/rules"
        return self

    async def activity_policy(self, community_id: int | None = None) -> dict[str, Any]:
        read = await self.client.get(
            f"/api/v1/communities/{community_id or self.b}/activity-policy", headers=self.root.headers
        )
        assert read.status_code == 200
        policy: dict[str, Any] = read.json()
        return policy

    async def loan_policy(self, community_id: int | None = None) -> dict[str, Any]:
        read = await self.client.get(
            f"/api/v1/communities/{community_id or self.b}/loan-policy", headers=self.root.headers
        )
        assert read.status_code == 200
        policy: dict[str, Any] = read.json()
        return policy


@pytest.fixture
async def world(client, db) -> World:
    return await World().build(client, db)


def value_of(html: str, form_id: str, name: str) -> str:
    form = html.split(f'id="{form_id}"')[1].split("</form>")[0]
    found = re.search(rf'name="{name}" value="([^"]*)"', form)
    assert found, form
    return found.group(1)


def error_of(html: str, prefix: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{prefix}-{name}">([^<]*)</p>', html)
    assert found, html
    return found.group(1)


async def test_the_rules_page_shows_both_policies(world, console):
    page = await (await console(world.staff)).get(world.rules)
    assert page.status_code == 200
    assert "活动规则" in page.text and "借阅规则" in page.text
    assert 'aria-current="page">活动与借阅规则' in page.text
    assert value_of(page.text, "activity-rules", "no_show_limit") == "3"
    assert value_of(page.text, "activity-rules", "reminder_hours") == "24"
    assert value_of(page.text, "library-rules", "loan_days") == "14"
    assert value_of(page.text, "library-rules", "child_loan_days") == ""


async def test_staff_change_the_activity_policy(world, console):
    staff = await console(world.staff)
    await staff.get(world.rules)
    saved = await staff.post(f"{world.rules}/activity", data=ACTIVITY)
    assert saved.status_code == 200 and "活动规则已保存" in saved.text
    assert await world.activity_policy() == {
        "no_show_limit": 2,
        "no_show_window_days": 60,
        "block_days": 14,
        "reminder_hours": 3,
    }
    again = await staff.get(world.rules)
    assert value_of(again.text, "activity-rules", "block_days") == "14"
    assert (await world.activity_policy(world.c))["no_show_limit"] == 3  # another community's unchanged


async def test_staff_change_the_lending_rules_and_clear_a_childs_limit(world, console):
    staff = await console(world.staff)
    await staff.get(world.rules)
    saved = await staff.post(f"{world.rules}/library", data=LIBRARY)
    assert saved.status_code == 200 and "借阅规则已保存" in saved.text
    assert await world.loan_policy() == {
        "loan_days": 21,
        "max_loans": 5,
        "child_loan_days": 28,
        "child_max_loans": None,
        "renewals": 2,
        "hold_shelf_days": 4,
        "max_holds": 2,
    }
    cleared = await staff.post(f"{world.rules}/library", data={**LIBRARY, "child_loan_days": ""})
    assert cleared.status_code == 200
    assert (await world.loan_policy())["child_loan_days"] is None


async def test_refused_rules_keep_what_was_typed_with_refusals_beside_the_fields(world, console):
    staff = await console(world.staff)
    await staff.get(world.rules)
    refused = await staff.post(
        f"{world.rules}/activity",
        data={
            **ACTIVITY,
            "no_show_limit": "0",
            "reminder_hours": "200",
            "block_days": "两周",
            "no_show_window_days": "",
        },
    )
    assert refused.status_code == 422
    assert error_of(refused.text, "act", "no_show_limit") == "不能小于 1"
    assert error_of(refused.text, "act", "reminder_hours") == "不能大于 168"
    assert error_of(refused.text, "act", "block_days") == "请填写整数"
    assert error_of(refused.text, "act", "no_show_window_days") == "请填写"
    assert value_of(refused.text, "activity-rules", "block_days") == "两周"
    assert (await world.activity_policy())["no_show_limit"] == 3

    library = await staff.post(f"{world.rules}/library", data={**LIBRARY, "loan_days": "121", "max_holds": "-1"})
    assert library.status_code == 422
    assert error_of(library.text, "lib", "loan_days") == "不能大于 120"
    assert error_of(library.text, "lib", "max_holds") == "请填写整数"
    assert "err-lib-max_loans" not in library.text
    assert value_of(library.text, "library-rules", "loan_days") == "121"
    assert (await world.loan_policy())["loan_days"] == 14


async def test_who_may_open_and_change_the_rules(world, console):
    resident = await console(world.neighbour)
    stranger = await console(world.stranger)
    assert (await resident.get(world.rules)).status_code == 403
    assert (await stranger.get(world.rules)).status_code == 404
    for which, data in (("activity", ACTIVITY), ("library", LIBRARY)):
        assert (await resident.post(f"{world.rules}/{which}", data=data)).status_code == 403
        assert (await stranger.post(f"{world.rules}/{which}", data=data)).status_code == 404
        staff = await console(world.staff)
        token_less = await staff.post(f"{world.rules}/{which}", data=data, csrf=False)
        assert token_less.status_code == 403 and "页面已过期" in token_less.text
    assert (await world.activity_policy())["no_show_limit"] == 3
    assert (await world.loan_policy())["loan_days"] == 14
