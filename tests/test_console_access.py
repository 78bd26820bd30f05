"""Every console page about a community, whoever wrote it, checks who asks: staff of another
community get 404, a resident of the community 403, a change without the CSRF token 403. The routes
are read off the app, so a page added later is covered without a new test."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from tests.conftest import real_wechat_app
from tests.console import Browser
from tests.contract import api_client
from tests.factories import community, grant, join, login, platform_admin


def console_routes(app) -> list[APIRoute]:
    """Every route of the console (its routers are included without a further prefix)."""
    found = []
    for route in app.routes:
        router = getattr(route, "original_router", None)
        for inner in router.routes if router is not None else [route]:
            if isinstance(inner, APIRoute) and (inner.path == "/console" or inner.path.startswith("/console/")):
                found.append(inner)
    return found


def community_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every console route under /console/c/{community_id}."""
    return [
        (method, route.path)
        for route in console_routes(app)
        if route.path.startswith("/console/c/{community_id}")
        for method in sorted(route.methods - {"HEAD"})
    ]


def fill(path: str, community_id: int) -> str:
    path = path.replace("{community_id}", str(community_id))
    return re.sub(r"\{[a-z_]+\}", "1", path)


async def test_every_community_page_checks_who_asks(app, client, db, console):
    routes = community_routes(app)
    assert routes, "no console routes found"
    admin = await platform_admin(client, db)
    home = await community(client, admin, "A社区")
    other = await community(client, admin, "C社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, home["id"], worker, "staff")
    await join(client, worker, other["id"])  # a resident there
    stranger = await login(client, "社工小张")
    third = await community(client, admin, "D社区")
    await grant(client, admin, third["id"], stranger, "staff")

    mine = await console(worker)
    theirs = await console(stranger)
    for method, path in routes:
        as_resident = await (mine.get if method == "GET" else mine.post)(fill(path, other["id"]))
        assert as_resident.status_code == 403, (method, path, as_resident.status_code)
        as_stranger = await (theirs.get if method == "GET" else theirs.post)(fill(path, home["id"]))
        assert as_stranger.status_code == 404, (method, path, as_stranger.status_code)
        if method != "GET":
            no_token = await mine.post(fill(path, home["id"]), csrf=False)
            assert no_token.status_code == 403 and "页面已过期" in no_token.text, (method, path)


async def test_every_console_change_needs_the_csrf_token(app):
    """No state-changing console route forgets the CSRF dependency."""
    from api.console import web

    changes = [route for route in console_routes(app) if route.methods - {"GET", "HEAD"}]
    assert changes
    for route in changes:
        calls = [d.dependency for d in route.dependencies]
        assert web.CsrfChecked.dependency in calls, route.path


async def test_development_login_is_refused_in_production(database_url, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "A社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, place["id"], worker, "staff")
    production = {
        "environment": "production",
        "jwt_secret": "p" * 48,
        "data_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "wechat_push_token": "push-token",
        "wechat_push_aes_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "public_url": "https://linli.example.org",
    }
    async with real_wechat_app(database_url, **production) as (_http, _fake, application):
        # production cookies are Secure: the browser talks HTTPS
        http = api_client(application)
        http.base_url = "https://linli.test"
        browser = Browser(http)
        page = await browser.get("/console/login")
        assert page.status_code == 200 and "开发登录" not in page.text
        assert "Secure" in page.headers["set-cookie"]  # production: cookies only over HTTPS
        refused = await browser.post("/console/dev-login", data={"user_id": str(worker.user_id)})
        assert refused.status_code == 403 and "开发登录只在开发模式下可用" in refused.text
        assert "linli_console" not in http.cookies
