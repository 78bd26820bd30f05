"""In a real browser: signing in to the console by scanning, the fake mini-program confirming."""

from __future__ import annotations

from tests.factories import community, grant, login, platform_admin


async def test_scan_to_login_in_chromium(page, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    second = await community(client, admin, "青杠社区")
    worker = await login(client, "社工小王")
    for c in (place, second):
        await grant(client, admin, c["id"], worker, "staff")

    await page.goto("/console/communities")
    assert page.url.endswith("/console/login?next=%2Fconsole%2Fcommunities")
    ticket = await page.get_attribute("[data-ticket]", "data-ticket", timeout=10_000)
    assert ticket and len(ticket) == 32
    await page.wait_for_function(
        "() => { const img = document.querySelector('img.code'); return img && img.complete && img.naturalWidth > 0; }",
        timeout=10_000,
    )

    # the staff member's phone: the mini-program opened by the code reports the scan, then the confirmation
    scanned = await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=worker.headers)
    assert scanned.json()["browser"].startswith("Chrome")
    await page.wait_for_selector("#ticket-state[data-state='scanned']", timeout=10_000)
    assert "请在手机上确认" in await page.inner_text("#ticket-state")
    await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=worker.headers)

    await page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    assert page.url.endswith("/console/communities")
    assert await page.locator(".choices a").all_inner_texts() == ["幸福里社区", "青杠社区"]
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["linli_console"]["httpOnly"] and cookies["linli_console"]["sameSite"] == "Lax"
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation

    sessions = await client.get("/api/v1/me/console-sessions", headers=worker.headers)
    assert len(sessions.json()) == 1

    await page.click("text=退出登录")
    await page.wait_for_url("**/console/login", timeout=10_000)
    assert (await client.get("/api/v1/me/console-sessions", headers=worker.headers)).json() == []
