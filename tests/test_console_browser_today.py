"""In a real browser: a social worker signs in with the development login, lands on Today, sees
today's activities and the twelve weeks' chart, on screen and as printed; and an activity's funnel."""

from __future__ import annotations

import os

import pytest

from api import clock
from tests.conftest import ARTIFACTS, make_settings
from tests.test_console_today import NOW, Scene


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


async def test_today_in_chromium_on_screen_and_printed(page, client, db, app):
    scene = await (await Scene().build(client, db, app)).play()
    assert clock.now() == NOW

    await page.goto("/console/login")
    await page.select_option("#dev-user", str(scene.staff.user_id))
    await page.click("form[hx-post='/console/dev-login'] button[type=submit]")
    await page.wait_for_url(f"**/console/c/{scene.b}/today", timeout=10_000)
    assert await page.inner_text("h1") == "今日 12月1日 周二"

    rows = page.locator(".today-activities tbody tr")
    assert await rows.count() == 3
    morning = page.locator(f"tr[data-activity='{scene.morning['id']}']")
    assert "晨读" in await morning.inner_text() and "签到中" in await morning.inner_text()
    assert await morning.locator("[data-count='booked']").inner_text() == "3/3"
    assert await morning.locator("[data-count='checked-in']").inner_text() == "2"
    desk = morning.locator("a.button")
    assert await desk.get_attribute("href") == f"/console/c/{scene.b}/activities/{scene.morning['id']}/desk"
    assert (await desk.bounding_box() or {"height": 0})["height"] >= 44  # a large target
    assert "今日闭馆" in await page.inner_text(".space")

    chart = page.locator("svg[data-chart='bars']")
    assert await chart.is_visible()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 500 and box["height"] > 150
    words = await chart.locator("text").all_text_contents()
    assert {"预约", "到场", "爽约", "本周", "11/16"} <= set(words)
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation

    # printed: the menu and buttons go, the chart stays whole and legible
    await page.emulate_media(media="print")
    assert not await page.locator("header.top").is_visible()
    assert not await desk.is_visible()
    assert await chart.is_visible() and await page.locator(".print-only").is_visible()
    os.makedirs(ARTIFACTS, exist_ok=True)
    await page.screenshot(path=os.path.join(ARTIFACTS, "today-print.png"), full_page=True)
    await page.emulate_media(media="screen")

    # a tablet: one column, the chart as wide as the page
    await page.set_viewport_size({"width": 800, "height": 1100})
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 650
    await page.screenshot(path=os.path.join(ARTIFACTS, "today-tablet.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})

    # an activity's loop, as the activity's page embeds it: a div that htmx fills on load
    loop = f"/console/c/{scene.b}/activities/{scene.morning['id']}/loop"
    await page.evaluate(
        """(url) => {
            const slot = document.createElement("div");
            slot.id = "loop-slot";
            slot.setAttribute("hx-get", url);
            slot.setAttribute("hx-trigger", "load");
            document.querySelector("main").appendChild(slot);
            window.htmx.process(slot);
        }""",
        loop,
    )
    embedded = page.locator("#loop-slot svg[data-chart='funnel']")
    await embedded.wait_for(timeout=10_000)
    assert "分享带来预约" in await embedded.locator("text").all_text_contents()
    assert (await embedded.bounding_box() or {"width": 0})["width"] > 400
    assert not page.linli_errors, page.linli_errors

    # … and opened as a page of its own (a link, printing)
    await page.goto(loop)
    funnel = page.locator("svg[data-chart='funnel']")
    assert await funnel.locator("text").all_text_contents() == [
        "预约", "3", "到场", "2", "发布动态", "1", "分享", "2", "打开分享", "2", "分享带来预约", "1"
    ]  # fmt: skip
    await page.screenshot(path=os.path.join(ARTIFACTS, "today-funnel.png"), full_page=True)
    await page.goto(f"/console/c/{scene.b}/today")  # the fixture's screenshot: Today on screen
    assert not page.linli_errors, page.linli_errors
