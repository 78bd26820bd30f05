"""In a real browser: a social worker opens 服务数据 for November, reads each figure with its
definition, opens the people behind 受益人数 (the child marked), switches the breakdown, and
downloads the workbook, which a spreadsheet reader opens."""

from __future__ import annotations

import os
import re

import pytest
from openpyxl import load_workbook

from tests.conftest import ARTIFACTS, make_settings
from tests.test_console_today import Scene


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


async def test_reports_in_chromium(page, client, db, app, tmp_path):
    scene = await (await Scene().build(client, db, app)).play()
    await page.goto("/console/login")
    await page.select_option("#dev-user", str(scene.staff.user_id))
    await page.click("form[hx-post='/console/dev-login'] button[type=submit]")
    await page.wait_for_url(f"**/console/c/{scene.b}/today", timeout=10_000)

    link = page.locator("header.top nav a", has_text="服务数据")
    assert await link.get_attribute("href") == f"/console/c/{scene.b}/reports"
    async with page.expect_navigation(timeout=10_000):
        await link.click()
    assert page.url.endswith(f"/console/c/{scene.b}/reports")
    await page.fill("#r-from", "2026-11-01")
    await page.fill("#r-to", "2026-11-30")
    await page.click(".reports-filter button[type=submit]")
    await page.wait_for_url(re.compile(r"/reports\?from=2026-11-01&to=2026-11-30"), timeout=10_000)

    visits = page.locator("tr[data-indicator='service_visits']")
    assert await visits.locator("[data-value]").inner_text() == "5"
    assert "签到人次" in await visits.locator(".definition").inner_text()
    people = page.locator("tr[data-indicator='beneficiaries']")
    assert "儿童 1" in await people.inner_text()
    chart = page.locator("svg[data-chart='bars']")
    assert await chart.is_visible()
    assert "11月" in await chart.locator("text").all_text_contents()

    await people.locator("a[data-value]").click()
    await page.wait_for_url(re.compile(r"/reports/rows\?.*indicator=beneficiaries"), timeout=10_000)
    rows = page.locator("table.drill tbody tr")
    assert await rows.count() == 5
    child = page.locator("table.drill tr.child")
    assert await child.count() == 1 and "小雨" in await child.inner_text()
    await page.screenshot(path=os.path.join(ARTIFACTS, "reports-rows.png"), full_page=True)
    await page.go_back()

    await page.click(".pills a:has-text('成人/儿童')")
    await page.wait_for_url(re.compile(r"by=age_group"), timeout=10_000)
    table = page.locator("table.breakdown[data-breakdown='age_group']")
    assert "儿童" in await table.inner_text()

    async with page.expect_download() as download_info:
        await page.click("a[data-export='xlsx']")
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx") and "服务数据" in download.suggested_filename
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    book = load_workbook(saved, read_only=True)
    assert "总表" in book.sheetnames and "指标口径" in book.sheetnames
    assert not page.linli_errors, page.linli_errors
    os.makedirs(ARTIFACTS, exist_ok=True)
    await page.screenshot(path=os.path.join(ARTIFACTS, "reports.png"), full_page=True)
