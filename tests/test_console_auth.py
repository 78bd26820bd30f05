"""Signing in to the staff console by scanning, its sessions, CSRF and the pages' security headers,
through HTTP on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api import clock
from api.main import create_app, shutdown
from tests.conftest import _empty_tables, make_settings, real_wechat_app
from tests.console import Browser
from tests.contract import api_client
from tests.factories import community, grant, join, login, platform_admin


async def _staff(client, db, name="社工小王"):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "A社区")
    worker = await login(client, name)
    await grant(client, admin, place["id"], worker, "staff")
    return admin, place, worker


async def test_login_page_sets_a_browser_cookie_and_security_headers(console):
    browser = await console()
    page = await browser.get("/console/login")
    assert page.status_code == 200
    assert "用微信扫码登录" in page.text
    assert browser.http.cookies.get("linli_browser")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    # no inline script anywhere: every script is a file of the console's own
    assert "<script>" not in page.text and "onclick" not in page.text
    static = await browser.get("/console/static/vendor/htmx-2.0.11.min.js")
    assert static.status_code == 200 and static.headers["x-frame-options"] == "DENY"


async def test_a_page_without_a_session_goes_to_the_login_page(console):
    browser = await console()
    page = await browser.get("/console/communities")
    assert page.status_code == 303 and page.headers["location"] == "/console/login?next=%2Fconsole%2Fcommunities"
    fragment = await browser.get("/console/communities", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/console/login")


async def test_scan_confirm_and_the_next_poll_signs_the_browser_in_once(client, db, console):
    _, place, worker = await _staff(client, db)
    browser = await console()
    ticket = await browser.new_ticket()
    assert len(ticket) == 32

    polled = await browser.get(f"/console/login-tickets/{ticket}")
    assert 'data-state="pending"' in polled.text

    scanned = await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=worker.headers)
    assert scanned.status_code == 200
    assert scanned.json()["state"] == "scanned" and scanned.json()["ip"]
    polled = await browser.get(f"/console/login-tickets/{ticket}")
    assert 'data-state="scanned"' in polled.text and "请在手机上确认" in polled.text
    assert not browser.http.cookies.get("linli_console")

    confirmed = await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=worker.headers)
    assert confirmed.json()["state"] == "confirmed"
    done = await browser.get(f"/console/login-tickets/{ticket}", headers={"HX-Request": "true"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/console"
    cookie = done.headers["set-cookie"]
    assert "linli_console=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # development: plain http on the desk's laptop

    # single use: the ticket is spent, another poll gets no second session
    again = await browser.http.get(f"/console/login-tickets/{ticket}")
    assert 'data-state="consumed"' in again.text and "set-cookie" not in again.headers
    page = await browser.get("/console", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/console/c/{place['id']}/today"

    # the phone sees it and can end it
    sessions = await client.get("/api/v1/me/console-sessions", headers=worker.headers)
    assert [s["browser"] for s in sessions.json()] == ["浏览器"]
    assert sessions.json()[0]["expires_at"].endswith("+08:00")
    assert (
        await client.delete(f"/api/v1/me/console-sessions/{sessions.json()[0]['id']}", headers=worker.headers)
    ).status_code == 204
    assert (await browser.get("/console/communities")).status_code == 303
    assert (await client.get("/api/v1/me/console-sessions", headers=worker.headers)).json() == []


async def test_only_the_browser_that_asked_may_use_the_ticket(client, db, console):
    _, _, worker = await _staff(client, db)
    mine, theirs = await console(), await console()
    ticket = await mine.new_ticket()
    await theirs.get("/console/login")
    for path in (f"/console/login-tickets/{ticket}", f"/console/login-tickets/{ticket}/code"):
        other = await theirs.get(path)
        assert other.status_code == 404 and "登录二维码无效" in other.text
    for step in ("scan", "confirm"):
        await client.post(f"/api/v1/console-logins/{ticket}/{step}", headers=worker.headers)
    stolen = await theirs.http.get(f"/console/login-tickets/{ticket}")
    assert stolen.status_code == 404 and not theirs.http.cookies.get("linli_console")
    assert (await mine.http.get(f"/console/login-tickets/{ticket}")).status_code == 303  # signed in


async def test_the_code_is_a_mini_program_code_for_the_login_page(console, app):
    browser = await console()
    ticket = await browser.new_ticket()
    code = await browser.get(f"/console/login-tickets/{ticket}/code")
    assert code.status_code == 200 and code.headers["content-type"] == "image/png"
    assert code.content.startswith(b"\x89PNG")


async def test_asking_for_the_code_of_a_confirmed_ticket_leaves_it_to_the_poll(client, db, console):
    _, _, worker = await _staff(client, db)
    browser = await console()
    ticket = await browser.new_ticket()
    for step in ("scan", "confirm"):
        await client.post(f"/api/v1/console-logins/{ticket}/{step}", headers=worker.headers)
    code = await browser.get(f"/console/login-tickets/{ticket}/code")
    assert code.status_code == 409 and not browser.http.cookies.get("linli_console")
    polled = await browser.http.get(f"/console/login-tickets/{ticket}", headers={"HX-Request": "true"})
    assert polled.status_code == 204 and browser.http.cookies.get("linli_console")  # still signs in


async def test_a_resident_cannot_scan_or_confirm(client, db, console):
    _admin, place, _ = await _staff(client, db)
    resident = await login(client, "居民老李")
    await join(client, resident, place["id"])
    browser = await console()
    ticket = await browser.new_ticket()
    refused = await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "console_staff_only"
    refused = await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=resident.headers)
    assert refused.status_code == 403
    assert 'data-state="pending"' in (await browser.get(f"/console/login-tickets/{ticket}")).text


async def test_a_ticket_scanned_by_one_cannot_be_confirmed_by_another(client, db, console):
    admin, place, worker = await _staff(client, db)
    other = await login(client, "社工小张")
    await grant(client, admin, place["id"], other, "staff")
    browser = await console()
    ticket = await browser.new_ticket()
    not_scanned = await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=worker.headers)
    assert not_scanned.status_code == 409 and not_scanned.json()["error"]["code"] == "login_ticket_not_scanned"
    await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=worker.headers)
    for step in ("scan", "confirm"):
        taken = await client.post(f"/api/v1/console-logins/{ticket}/{step}", headers=other.headers)
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "login_ticket_taken"


async def test_a_rejected_ticket_never_signs_in(client, db, console):
    _, _, worker = await _staff(client, db)
    browser = await console()
    ticket = await browser.new_ticket()
    await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=worker.headers)
    rejected = await client.post(f"/api/v1/console-logins/{ticket}/reject", headers=worker.headers)
    assert rejected.json()["state"] == "rejected"
    late = await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=worker.headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "login_ticket_used"
    polled = await browser.get(f"/console/login-tickets/{ticket}", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "已在手机上拒绝" in polled.text and polled.headers["HX-Retarget"] == "#ticket"
    assert not browser.http.cookies.get("linli_console")


async def test_an_expired_ticket_never_signs_in(client, db, console):
    _, _, worker = await _staff(client, db)
    clock.freeze(clock.now())
    browser = await console()
    ticket = await browser.new_ticket()
    await client.post(f"/api/v1/console-logins/{ticket}/scan", headers=worker.headers)
    clock.advance(timedelta(seconds=181))
    late = await client.post(f"/api/v1/console-logins/{ticket}/confirm", headers=worker.headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "login_ticket_expired"
    polled = await browser.get(f"/console/login-tickets/{ticket}")
    assert 'data-state="expired"' in polled.text and "二维码已过期" in polled.text
    assert not browser.http.cookies.get("linli_console")
    unknown = await client.post("/api/v1/console-logins/nosuchticket/scan", headers=worker.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "login_ticket_not_found"


async def test_sessions_end_after_two_idle_hours_and_twelve_hours_in_all(client, db, console):
    _, _, worker = await _staff(client, db)
    clock.freeze(clock.now())
    idle = await console(worker)
    busy = await console(worker)
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await idle.get("/console/communities")).status_code == 200  # used: the idle clock restarts
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await idle.get("/console/communities")).status_code == 200
    clock.advance(timedelta(hours=2, seconds=1))
    assert (await idle.get("/console/communities")).status_code == 303

    # used every hour, the other still ends 12 hours after it began
    clock.reset()
    clock.freeze(clock.now())
    busy = await console(worker)
    for _ in range(11):
        clock.advance(timedelta(hours=1))
        assert (await busy.get("/console/communities")).status_code == 200
    clock.advance(timedelta(hours=1))
    assert (await busy.get("/console/communities")).status_code == 303


async def test_changes_without_the_csrf_token_are_refused(client, db, console):
    _, _, worker = await _staff(client, db)
    browser = await console(worker)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        refused = await browser.post("/console/logout", csrf=False, headers=headers)
        assert refused.status_code == 403 and "页面已过期" in refused.text
        assert (await browser.get("/console/communities")).status_code == 200  # still signed in
    anonymous = await console()
    await anonymous.get("/console/login")
    refused = await anonymous.post("/console/login-tickets", csrf=False)
    assert refused.status_code == 403
    # a token of another browser is no good either
    refused = await anonymous.post("/console/login-tickets", csrf=False, headers={"X-CSRF-Token": browser.csrf})
    assert refused.status_code == 403
    out = await browser.post("/console/logout")
    assert out.status_code == 204 and out.headers["HX-Redirect"] == "/console/login"
    assert (await browser.get("/console/communities")).status_code == 303


async def test_ticket_creation_is_limited_per_address(database_url):
    settings = make_settings(database_url, console_tickets_per_window=3, console_ticket_window_seconds=600)
    application = create_app(settings)
    try:
        async with api_client(application) as http:
            browser = Browser(http)
            for _ in range(3):
                await browser.new_ticket()
            refused = await browser.post("/console/login-tickets")
            assert refused.status_code == 429 and "登录二维码刷新太频繁" in refused.text
            assert int(refused.headers["Retry-After"]) > 0
    finally:
        await _empty_tables(application.state.db)
        await shutdown(application)


async def test_development_login_in_fake_mode_only(client, db, console, database_url):
    _admin, place, worker = await _staff(client, db)
    resident = await login(client, "居民老李")
    await join(client, resident, place["id"])
    browser = await console()
    page = await browser.get("/console/login")
    assert "开发登录" in page.text and "社工小王" in page.text and "居民老李" not in page.text
    refused = await browser.post("/console/dev-login", data={"user_id": str(resident.user_id)})
    assert refused.status_code == 403 and "只有社区工作人员" in refused.text
    signed = await browser.post("/console/dev-login", data={"user_id": str(worker.user_id)})
    assert signed.status_code == 204 and browser.http.cookies.get("linli_console")

    async with real_wechat_app(database_url) as (api, _fake, _application):
        real = Browser(api)
        page = await real.get("/console/login")
        assert "开发登录" not in page.text
        refused = await real.post("/console/dev-login", data={"user_id": str(worker.user_id)})
        assert refused.status_code == 403 and "开发登录只在开发模式下可用" in refused.text


@pytest.mark.parametrize("where", ["resident", "stranger"])
async def test_community_pages_need_staff_of_that_community(client, db, console, where):
    admin, place, worker = await _staff(client, db)
    other = await community(client, admin, "C社区")
    if where == "resident":
        await join(client, worker, other["id"])
    browser = await console(worker)
    own = await browser.get(f"/console/c/{place['id']}")
    assert own.status_code == 303 and own.headers["location"] == f"/console/c/{place['id']}/today"
    page = await browser.get(f"/console/c/{other['id']}")
    if where == "resident":
        assert page.status_code == 403 and "只有社区工作人员" in page.text
    else:
        assert page.status_code == 404 and "社区不存在" in page.text
    assert (await browser.get("/console/c/999999")).status_code == 404


async def test_a_database_out_of_reach_is_a_page_that_says_so(database_url):
    # nothing listens on port 9: connections are refused, as while PostgreSQL restarts
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/linli", database_connect_timeout_seconds=2)
    application = create_app(settings)
    try:
        async with api_client(application) as http:
            http.cookies.set("linli_console", "x" * 43, path="/console")
            page = await http.get("/console/communities")
            assert page.status_code == 503 and page.headers["retry-after"] == "5"
            assert "text/html" in page.headers["content-type"] and "请 5 秒后刷新页面重试" in page.text
            assert page.headers["x-frame-options"] == "DENY"
            fragment = await http.get("/console/communities", headers={"HX-Request": "true"})
            assert fragment.status_code == 503 and fragment.headers["HX-Retarget"] == "#flash"
    finally:
        await shutdown(application)


async def test_after_a_session_ends_the_browser_can_sign_in_again(client, db, console):
    _, _, worker = await _staff(client, db)
    browser = await console(worker)
    sessions = await client.get("/api/v1/me/console-sessions", headers=worker.headers)
    await client.delete(f"/api/v1/me/console-sessions/{sessions.json()[0]['id']}", headers=worker.headers)
    # ended from the phone: the login page drops the dead cookie, and a new code can be asked for
    page = await browser.get("/console/login")
    assert page.status_code == 200 and 'linli_console=""' in page.headers.get("set-cookie", "")
    assert not browser.http.cookies.get("linli_console")
    await browser.sign_in(client, worker)
    assert (await browser.get("/console/communities")).status_code == 200


async def test_a_background_request_of_a_signed_out_page_returns_to_the_page_not_the_fragment(console):
    browser = await console()
    poll = await browser.get(
        "/console/c/1/activities/7/desk/code",
        headers={"HX-Request": "true", "HX-Current-URL": "http://linli.test/console/c/1/activities/7/desk?x=1"},
    )
    assert poll.status_code == 401
    assert poll.headers["HX-Redirect"] == "/console/login?next=%2Fconsole%2Fc%2F1%2Factivities%2F7%2Fdesk%3Fx%3D1"
    page = await browser.get("/console/c/1/activities?week=2026-12-07")
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fc%2F1%2Factivities%3Fweek%3D2026-12-07"


async def test_the_code_of_a_ticket_is_asked_of_wechat_once(console, app):
    from api.wechat.client import fake_wechat

    fake = fake_wechat(app.state.http)
    assert fake is not None
    browser = await console()
    ticket = await browser.new_ticket()
    first = await browser.get(f"/console/login-tickets/{ticket}/code")
    second = await browser.get(f"/console/login-tickets/{ticket}/code")
    assert first.content == second.content and first.content.startswith(b"\x89PNG")
    assert [c["scene"] for c in fake.codes].count(ticket) == 1
    assert fake.codes[-1]["page"] == "pages/weblogin/index"


async def test_ended_tickets_and_sessions_are_forgotten_by_the_worker(client, db, console, settings):
    from sqlalchemy import func, select

    from api.db.models import ConsoleLoginTicket, ConsoleSession
    from workers import jobs  # noqa: F401 - registers console.purge
    from workers.runner import Worker

    _, _, worker = await _staff(client, db)
    clock.freeze(clock.now())
    await console(worker)  # one ticket, consumed; one session
    waiting = await console()
    await waiting.new_ticket()  # one ticket never scanned

    async def counts():
        async with db.session(write=False) as session:
            tickets = (await session.execute(select(func.count()).select_from(ConsoleLoginTicket))).scalar_one()
            sessions = (await session.execute(select(func.count()).select_from(ConsoleSession))).scalar_one()
        return tickets, sessions

    await Worker(db, settings).run_until_idle()
    assert await counts() == (2, 1)
    clock.advance(timedelta(days=2))
    await Worker(db, settings).run_until_idle()
    assert await counts() == (0, 1)  # the session ended (idle) only two days ago: still listed in the log
    clock.advance(timedelta(days=30))
    await Worker(db, settings).run_until_idle()
    assert await counts() == (0, 0)


async def test_a_body_that_does_not_parse_is_a_message_in_the_page(console):
    browser = await console()
    await browser.get("/console/login")
    broken = await browser.post(
        "/console/dev-login",
        content=b"--x\r\nnot a part",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400 and "text/html" in broken.headers["content-type"]
    assert broken.headers["HX-Retarget"] == "#flash" and "请求有误" in broken.text
