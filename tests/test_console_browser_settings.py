"""In a real browser: a community's admin changes its address and its quiet hours on the settings
page (a bad time range refused beside the field first), sees the change in the audit list with
their name and the time, and makes a resident staff, found by room number. Screenshots of the
community page, the staff page and the audit list go to tests/artifacts/console-settings-*.png."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from api import clock
from tests.conftest import ARTIFACTS
from tests.factories import community, grant, join, login, platform_admin

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 December 2026, 10:00 in Shanghai


async def test_an_admin_changes_the_details_and_quiet_hours_and_sees_it_in_the_audit_list(page, app, client, db):
    clock.freeze(NOW)
    root = await platform_admin(client, db)
    b = (await community(client, root, "幸福里社区"))["id"]
    admin = await login(client, "admin")
    assert (await client.patch("/api/v1/me", json={"display_name": "李主任"}, headers=admin.headers)).status_code == 200
    await grant(client, root, b, admin, "admin")
    chen = await login(client, "chen")
    await client.patch("/api/v1/me", json={"display_name": "陈阿姨"}, headers=chen.headers)
    await join(client, chen, b, "3栋", "2单元", "501")
    base = f"/console/c/{b}/settings"
    shot = lambda name: os.path.join(ARTIFACTS, f"console-settings-{name}.png")  # noqa: E731
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.on("dialog", lambda dialog: dialog.accept())

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(admin.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "设置"
    assert await page.inner_text("nav.tabs a[aria-current=page]") == "社区信息"

    # the address and quiet hours 21:00–07:30; a range that ends where it starts is refused first
    await page.fill("#s-address", "幸福路 8 号")
    await page.select_option("#s-quiet-mode", "custom")
    await page.fill("#s-quiet-start", "21:00")
    await page.fill("#s-quiet-end", "21:00")
    await page.click("#community-form button[type=submit]")
    await page.wait_for_selector("#err-quiet_hours", timeout=10_000)
    assert "HH:MM-HH:MM" in await page.inner_text("#err-quiet_hours")
    assert await page.input_value("#s-address") == "幸福路 8 号"  # as typed
    assert all("422" in message for message in page.linli_errors), page.linli_errors
    page.linli_errors.clear()
    await page.fill("#s-quiet-end", "07:30")
    await page.click("#community-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/settings\?saved=1$"), timeout=10_000)
    assert "已保存" in await page.inner_text("#community")
    assert await page.input_value("#s-address") == "幸福路 8 号"
    assert await page.input_value("#s-quiet-start") == "21:00"
    detail = (await client.get(f"/api/v1/communities/{b}", headers=chen.headers)).json()
    assert (detail["address"], detail["quiet_hours"]) == ("幸福路 8 号", "21:00-07:30")
    await page.screenshot(path=shot("community"), full_page=True, caret="initial")

    # the audit list: who, when (the community's time), before → after
    await page.click("nav.tabs a:has-text('修改记录')")
    await page.wait_for_url(f"**{base}/audit", timeout=10_000)
    rows = page.locator("table.audit tbody tr")
    quiet = rows.nth(0)
    assert await quiet.get_attribute("data-subject") == "quiet_hours"
    assert await quiet.locator("td.who").inner_text() == "李主任"
    assert await quiet.locator("td.when").inner_text() == "2026年12月1日 10:00"
    assert re.sub(r"\s", "", await quiet.locator("ul.changes").inner_text()) == "免打扰时段：系统默认→21:00-07:30"
    details = rows.nth(1)
    assert await details.get_attribute("data-subject") == "community"
    assert await details.locator("td.who").inner_text() == "李主任"
    assert "幸福路 8 号" in await details.locator("ul.changes").inner_text()
    await page.screenshot(path=shot("audit"), full_page=True, caret="initial")

    # staff: a resident found by room number made staff
    await page.click("nav.tabs a:has-text('工作人员')")
    await page.wait_for_url(f"**{base}/staff", timeout=10_000)
    await page.fill("#staff-q", "501")
    await page.wait_for_selector(f"#candidates li[data-user='{chen.user_id}']", timeout=10_000)
    await page.click(f"#candidates li[data-user='{chen.user_id}'] button")
    await page.wait_for_selector(f"table.staff tr[data-user='{chen.user_id}']", timeout=10_000)
    assert "工作人员" in await page.inner_text(f"table.staff tr[data-user='{chen.user_id}']")
    staff = (await client.get(f"/api/v1/communities/{b}/staff", headers=admin.headers)).json()
    assert {row["user_id"]: row["role"] for row in staff}[chen.user_id] == "staff"
    await page.screenshot(path=shot("staff"), full_page=True, caret="initial")
    assert page.linli_errors == []
