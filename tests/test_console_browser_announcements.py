"""In a real browser: a social worker writes an announcement to one building; as she picks the
audience the page shows how many households and people it reaches (the whole community first,
then building 1 alone) and the inbox entry residents will see, before anything is published; she
publishes it, the worker fans it out to exactly those residents, and the announcement's page and
the list show it with its counts."""

from __future__ import annotations

import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_announcements import B, inbox_titles, worker

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def shot(name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, f"console-announcements-{name}.png")


async def test_compose_to_one_building_see_its_reach_then_publish(page, app, client, db):
    clock.freeze(NOW)
    b = await B().build(client, db)
    base = f"/console/c/{b.b}/announcements"

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(b.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "通知公告"
    assert "还没有公告" in await page.inner_text("#announcements")

    await page.click("a:has-text('写公告')")
    await page.wait_for_url(f"**{base}/new", timeout=10_000)
    # the whole community to start with: 4 households, 4 people (chen's spouse still waits)
    await page.wait_for_selector("#reach .reach[data-households='4'][data-people='4']", timeout=10_000)
    await page.fill("#a-title", "1栋 12月3日停水通知")
    await page.fill("#a-body", "因管道检修，12月3日 9:00–12:00 1栋停水，请提前储水。")
    await page.check("input[name=kind][value=buildings]")
    assert await page.locator(".aud-buildings").is_visible()
    assert not await page.locator(".aud-children").is_visible()
    await page.wait_for_selector("#reach [data-incomplete]", timeout=10_000)  # no building yet
    await page.check("input[name=buildings][data-building='1']")
    reach = page.locator("#reach .reach[data-households='2'][data-people='2']")
    await reach.wait_for(timeout=10_000)
    assert "楼栋：" in await reach.inner_text()
    assert await page.inner_text("#reach [data-preview-title]") == "1栋 12月3日停水通知"
    assert (await page.inner_text("#reach [data-preview-body]")).startswith("因管道检修")
    await page.screenshot(path=shot("compose"), full_page=True, caret="initial")

    await page.click("#announcement-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/announcements/\d+$"), timeout=10_000)
    assert await page.get_attribute("#announcement", "data-status") == "published"
    assert "楼栋：" in await page.inner_text("#audience-words")

    await worker(app).run_until_idle()  # the fan-out: exactly the two the page counted
    reached = [p.name for p in b.residents if "1栋 12月3日停水通知" in await inbox_titles(client, p)]
    assert sorted(reached) == ["chen", "wang"]
    await page.reload()
    assert await page.inner_text("#channels [data-count=inbox]") == "2"
    assert await page.inner_text("#inbox-preview [data-preview-title]") == "1栋 12月3日停水通知"
    await page.screenshot(path=shot("detail"), full_page=True, caret="initial")

    await page.click(".crumbs a:has-text('通知公告')")
    await page.wait_for_url(f"**{base}", timeout=10_000)
    row = page.locator("#announcements tr[data-announcement]")
    assert await row.count() == 1
    assert "1栋 12月3日停水通知" in await row.inner_text()
    assert await row.locator("[data-count=recipients]").inner_text() == "2"
    assert await row.locator("[data-status]").inner_text() == "已发布"
    await page.screenshot(path=shot("list"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
