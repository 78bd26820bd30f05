"""In a real browser: a social worker creates a service project, fills in this community's
targets in the grid and saves them in place; then records a member's gender by choosing it in the
household's file."""

from __future__ import annotations

import os

from tests.conftest import ARTIFACTS
from tests.factories import community, grant, login, platform_admin


async def test_create_a_project_and_fill_in_its_targets(page, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, place["id"], worker, "staff")
    base = f"/console/c/{place['id']}/projects"

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert "还没有覆盖本社区的服务项目" in await page.inner_text("main")

    await page.fill("#p-name", "儿童友好空间运营项目")
    await page.fill("#p-funder", "某街道办事处")
    await page.fill("#p-starts", "2026-09-01")
    await page.fill("#p-ends", "2027-02-28")
    await page.select_option("#p-grain", "quarter")
    await page.click("#project-form button[type=submit]")
    await page.wait_for_url(lambda url: "/projects/" in url, timeout=10_000)
    assert "儿童友好空间运营项目" in await page.inner_text("h1")
    headers = await page.locator("table.targets-grid thead th").all_inner_texts()
    assert headers == ["指标", "合计", "2026年第3季度", "2026年第4季度", "2027年第1季度"]

    await page.fill('input[name="service_visits@total"]', "2400")
    await page.fill('input[name="service_visits@2026-Q4"]', "600")
    await page.fill('input[name="activities_held@total"]', "很多")
    await page.click("#targets button[type=submit]")
    await page.wait_for_selector('#targets input[aria-invalid="true"]', timeout=10_000)
    assert "不是有效的数字" in await page.inner_text("#targets .alert")
    await page.fill('input[name="activities_held@total"]', "48")
    await page.click("#targets button[type=submit]")
    await page.wait_for_selector("#targets .notice", timeout=10_000)
    assert "目标已保存" in await page.inner_text("#targets .notice")
    await page.screenshot(path=os.path.join(ARTIFACTS, "projects-targets.png"), full_page=True)

    project_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    got = await client.get(f"/api/v1/projects/{project_id}/communities/{place['id']}/targets", headers=worker.headers)
    assert sorted((t["indicator"], t["period"], t["value"]) for t in got.json()["targets"]) == [
        ("activities_held", "total", 48),
        ("service_visits", "2026-Q4", 600),
        ("service_visits", "total", 2400),
    ]


async def test_a_members_gender_is_chosen_in_the_file(page, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, place["id"], worker, "staff")
    registered = await client.post(
        f"/api/v1/communities/{place['id']}/households",
        json={"building": "3栋", "room": "501", "members": [{"display_name": "王奶奶", "kind": "elder"}]},
        headers=worker.headers,
    )
    household = registered.json()
    path = f"/console/c/{place['id']}/households/{household['id']}"

    await page.goto(f"/console/login?next={path}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(path), timeout=10_000)
    member = household["members"][0]["id"]
    async with page.expect_navigation(timeout=10_000):
        await page.select_option(f'tr[data-member="{member}"] select[name="gender"]', "female")
    assert await page.input_value(f'tr[data-member="{member}"] select[name="gender"]') == "female"
    got = await client.get(f"/api/v1/households/{household['id']}", headers=worker.headers)
    assert got.json()["members"][0]["gender"] == "female"
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
