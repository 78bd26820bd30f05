"""In a real browser: a social worker reaches the flats import from the households list, chooses a
sheet with a mistake (checked at once, nothing written), then the corrected one, imports it, and
corrects one flat's area on its household page; the API then shows the figures."""

from __future__ import annotations

import os

from tests.conftest import ARTIFACTS
from tests.factories import community, grant, join, login, platform_admin

HEADER = "楼栋,单元,房号,面积(㎡),业主(是/否)\n"
BAD = HEADER + "1栋,1单元,101,89.531,是\n1,1,101室,90,是\n"
GOOD = HEADER + "1栋,1单元,101室,89.53,是\n3栋,2单元,501,120,是\n"


async def test_import_the_flats_sheet_and_correct_one_flat(page, client, db):
    admin = await platform_admin(client, db)
    place = (await community(client, admin, "幸福里社区"))["id"]
    worker = await login(client, "社工小王")
    await grant(client, admin, place, worker, "staff")
    chen = await login(client, "chen")
    home = (await join(client, chen, place, "1栋", "1单元", "101"))["household"]["id"]
    base = f"/console/c/{place}/households"

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: url.endswith(base), timeout=10_000)
    await page.click("text=导入面积和业主表")
    await page.wait_for_url(lambda url: url.endswith(f"{base}/flats"))

    # choosing the file checks it at once: the problems by row and column, no import button
    await page.set_input_files(
        "#import-file", files=[{"name": "面积.csv", "mimeType": "text/csv", "buffer": BAD.encode()}]
    )
    await page.wait_for_selector("#import-result [data-result='preview']", timeout=10_000)
    problems = await page.inner_text("#import-result table.problems")
    assert "最多两位小数" in problems and "与第2行是同一户" in problems
    assert await page.locator("[data-import]").count() == 0

    await page.set_input_files(
        "#import-file", files=[{"name": "面积.csv", "mimeType": "text/csv", "buffer": GOOD.encode()}]
    )
    await page.wait_for_selector("#import-result [data-import]", timeout=10_000)
    assert "共 2 户：新建 1 户，更新 1 户，不变 0 户" in await page.inner_text("#import-result")
    await page.screenshot(path=os.path.join(ARTIFACTS, "households-flats-preview.png"), full_page=True)
    await page.click("#import-result [data-import]")
    await page.wait_for_selector("#import-result [data-result='imported']", timeout=10_000)
    assert "新建 1 户，更新 1 户" in await page.inner_text("#import-result")

    # one flat corrected on its page
    await page.goto(f"{base}/{home}")
    assert "89.53 ㎡" in await page.inner_text("#flat")
    await page.click("#flat summary")
    await page.fill("#floor-area", "89.35")
    await page.click("#flat button[type=submit]")
    await page.wait_for_url(lambda url: "flat=1" in url, timeout=10_000)
    assert "89.35 ㎡" in await page.inner_text("#flat") and "已保存" in await page.inner_text("#flat")
    await page.screenshot(path=os.path.join(ARTIFACTS, "households-flat.png"), full_page=True)
    assert not page.linli_errors, page.linli_errors

    listed = (await client.get(f"/api/v1/communities/{place}/households", headers=worker.headers)).json()["items"]
    assert {(h["room"], h["floor_area"], h["is_owner"]) for h in listed} == {
        ("101", "89.35", True),
        ("501", "120.00", True),
    }
    mine = (await client.get(f"/api/v1/households/{home}", headers=chen.headers)).json()
    assert (mine["floor_area"], mine["is_owner"]) == ("89.35", True)
