"""What every console page shares: templates, the signed-in person, the community in view, CSRF,
cookies, and errors rendered as pages or htmx fragments.

Console routes follow the API's habit: parse the form, call one service, render a template (or an
htmx fragment). They never query the database themselves; the services check who may do what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from api import localtime
from api.config import Settings
from api.db.models import Community, User
from api.db.session import Database
from api.deps import SessionDep, SettingsDep, get_database
from api.errors import AppError, Forbidden
from api.pagination import MAX_ID
from api.services import access, console_auth

HERE = Path(__file__).parent
SESSION_COOKIE = "linli_console"
BROWSER_COOKIE = "linli_browser"
CSRF_HEADER = "X-CSRF-Token"
PREFIX = "/console"

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.autoescape = True

WEEKDAYS = "一二三四五六日"


def local_time(value: datetime | None, style: str = "datetime") -> str:
    """A time as staff read it, in the community's zone: `12月5日 13:30` (datetime), `13:30`
    (time), `12月5日 周六` (day)."""
    if value is None:
        return ""
    local = value.astimezone(localtime.response_zone())
    if style == "time":
        return f"{local:%H:%M}"
    if style == "day":
        return f"{local.month}月{local.day}日 周{WEEKDAYS[local.weekday()]}"
    if style == "full":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def local_day(value: date | None) -> str:
    if value is None:
        return ""
    return f"{value.month}月{value.day}日 周{WEEKDAYS[value.weekday()]}"


templates.env.filters["local"] = local_time
templates.env.filters["day"] = local_day


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:200]


def secure_cookies(settings: Settings) -> bool:
    return settings.is_production


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
    )


class LoginRequired(Exception):
    """No live console session: pages redirect to the login page, htmx requests are told to."""


@dataclass
class Viewer:
    """The signed-in person of a console request, and the CSRF token their pages carry."""

    user: User
    session_id: int
    csrf: str
    name: str = ""
    # (id, name) of every community whose console they may open, for the header's switcher
    communities: list[tuple[int, str]] = field(default_factory=list)


async def _viewer(request: Request, session: SessionDep, settings: SettingsDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    found = await console_auth.session_for(session, settings, token) if token else None
    if found is None or token is None:
        raise LoginRequired
    row, user = found
    if console_auth.needs_touch(row):
        # the idle clock restarts. A request that writes already holds the write transaction (on
        # SQLite the database's one write lock: a second writer would wait for it until the busy
        # timeout), so it is written there; a page that only reads writes it on its own and stays
        # a reader
        if request.method in ("GET", "HEAD", "OPTIONS"):
            database: Database = get_database(request)
            async with database.session(write=True) as writer:
                await console_auth.touch(writer, row.id)
                await writer.commit()
        else:
            await console_auth.touch(session, row.id)
    # plain values: an error page is rendered after the transaction (and its objects) are gone
    viewer = Viewer(
        user=user,
        session_id=row.id,
        csrf=console_auth.csrf_token(settings, token),
        name=user.display_name or "工作人员",
    )
    request.state.console_viewer = viewer
    return viewer


async def _csrf(request: Request, settings: SettingsDep) -> None:
    """Every state-changing console request carries the page's CSRF token in X-CSRF-Token (htmx
    sends it from the page's hx-headers). The token is tied to the session cookie, or before
    sign-in to the browser cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    secret = request.cookies.get(SESSION_COOKIE) or request.cookies.get(BROWSER_COOKIE)
    if not secret or not console_auth.csrf_valid(settings, secret, request.headers.get(CSRF_HEADER)):
        raise Forbidden("csrf_invalid", "页面已过期或来源不明，请刷新页面后重试")


CsrfChecked = Depends(_csrf)
ViewerDep = Annotated[Viewer, Depends(_viewer)]


@dataclass
class Desk:
    """A console page about one community: who is looking, and the community (they are staff or
    an admin there)."""

    viewer: Viewer
    community: Community
    session: AsyncSession
    role: str


async def _desk(community_id: int, viewer: ViewerDep, session: SessionDep) -> Desk:
    if not 1 <= community_id <= MAX_ID:
        raise AppError("community_not_found", "社区不存在", status=404)
    community = await access.require_console(session, viewer.user, community_id)
    role = await access.role_in(session, viewer.user, community_id) or "staff"
    viewer.communities = [(c.id, c.name) for c in await console_auth.staff_communities(session, viewer.user)]
    return Desk(viewer=viewer, community=community, session=session, role=role)


DeskDep = Annotated[Desk, Depends(_desk)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    desk: Desk | None = None,
    nav: str | None = None,
) -> HTMLResponse:
    """A page or fragment. Pages get the signed-in person and the CSRF token; with `desk`, the
    community in view (its name in the header, its menu); `nav` names the menu entry to mark."""
    values: dict[str, Any] = {"request": request, "now": datetime.now(localtime.response_zone()), "nav": nav}
    viewer = getattr(request.state, "console_viewer", None)
    if viewer is not None:
        values["viewer"] = viewer
        values["csrf"] = viewer.csrf
    if desk is not None:
        values["community"] = desk.community
        values["role"] = desk.role
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def redirect(url: str, request: Request | None = None) -> Response:
    """After a change: htmx follows HX-Redirect; a plain request gets a 303."""
    if request is not None and is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_response(request: Request, status: int, code: str, message: str, details: Any = None) -> Response:
    """An error in the console: for an htmx request a message in the page's `#flash` line (the page
    stays as it was), otherwise a whole page."""
    if status == 401:
        return login_redirect(request)
    context = {"status": status, "code": code, "message": message, "details": details}
    if is_htmx(request):
        response = render(request, "_error.html", context, status_code=status)
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return response
    return render(request, "error.html", context, status_code=status)


def login_redirect(request: Request) -> Response:
    target = f"{PREFIX}/login"
    path = request.url.path
    if request.method == "GET" and path.startswith(PREFIX) and not path.startswith(f"{PREFIX}/login"):
        target += f"?next={path}"
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


OUTAGE_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>服务暂时不可用</title>
<link rel="stylesheet" href="/console/static/console.css"><main class="narrow"><div class="alert" role="alert">
服务暂时不可用（数据库连接中断），请 {seconds} 秒后刷新页面重试。刚才的操作没有保存。</div></main></html>"""


def outage_page(seconds: int) -> HTMLResponse:
    """The database is out of reach: a page (or the htmx flash line) saying so, without touching
    the database or the templates' context. Nothing of the request was written."""
    body = OUTAGE_PAGE.format(seconds=seconds)
    headers = {"Retry-After": str(seconds), "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return HTMLResponse(body, status_code=503, headers=headers)
