"""What every console page shares: templates, the signed-in person, the community in view, CSRF,
cookies, and errors rendered as pages or htmx fragments.

Console routes follow the API's habit: parse the form, call one service, render a template (or an
htmx fragment). They never query the database themselves; the services check who may do what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.config import Settings
from api.db.models import Community, User
from api.db.session import Database
from api.deps import READ_METHODS, SessionDep, SettingsDep
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
        # the idle clock restarts: a change writes it in its own transaction; a page that only reads
        # stays a reader and writes it in a short transaction of its own (on SQLite a second writer
        # inside a writing request would wait for that request's own lock)
        if request.method in READ_METHODS:
            database: Database = request.app.state.db
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
    sends it from the page's hx-headers). The token is tied to the session cookie, or (the login
    page, also after a session ended) to the browser cookie: both are HttpOnly secrets of this
    browser that another site cannot read, so a token derived from either proves the page is ours."""
    if request.method in READ_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    secrets_ = [request.cookies.get(SESSION_COOKIE), request.cookies.get(BROWSER_COOKIE)]
    if not any(secret and console_auth.csrf_valid(settings, secret, token) for secret in secrets_):
        raise Forbidden("csrf_invalid", "页面已过期或来源不明，请刷新页面后重试")


async def _signed_in(request: Request, settings: SettingsDep) -> None:
    """Before a large body is read (an uploaded catalogue): the cookie belongs to a live session,
    checked in a short read transaction of its own, so that nobody signed out gets a file parsed
    and a slow upload holds no database lock."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    database: Database = request.app.state.db
    async with database.session(write=False) as reader:
        found = await console_auth.session_for(reader, settings, token)
    if found is None:
        raise LoginRequired


CsrfChecked = Depends(_csrf)
SignedInChecked = Depends(_signed_in)
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
    community, role = await access.require_console(session, viewer.user, community_id)
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
    values: dict[str, Any] = {"request": request, "now": clock.now().astimezone(localtime.response_zone()), "nav": nav}
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


# the API's field names as staff read them: a message shown in the console names these instead
FIELD_LABELS = {
    "building": "楼栋",
    "unit": "单元",
    "room": "门牌号",
    "floor_area": "面积",
    "is_owner": "业主",
    "contact_phone": "联系电话",
    "members": "成员",
    "display_name": "姓名",
    "kind": "类型",
    "birth_year": "出生年份",
    "guardian_consent": "监护人同意",
    "attendee_ids": "参加的成员",
    "member_ids": "成员",
    "member_id": "读者",
    "on_behalf_of": "住户",
    "activity_id": "活动",
    "household_id": "住户",
    "guests": "来访者",
    "name": "姓名",
    "code": "条码",
    "barcode": "条码",
    "token": "预约码",
    "q": "搜索内容",
    "page": "页码",
    "wpage": "候补页码",
    "week": "周",
    "month": "月份",
    "status": "状态",
    "title": "标题",
    "author": "作者",
    "publisher": "出版社",
    "isbn": "ISBN",
    "copies": "册数",
    "count": "册数",
    "tags": "标签",
    "summary": "简介",
    "location": "地点",
    "reason": "原因",
    "file": "文件",
    "user_id": "用户",
    "project": "服务项目",
    "indicator": "指标",
    "breakdown": "细分维度",
    "group_by": "细分维度",
}
_FIELD_NAME = re.compile(r"(?<![A-Za-z_])[a-z][a-z_]*(?![A-Za-z_])")


def zh_fields(message: str, labels: dict[str, str] = FIELD_LABELS) -> str:
    """A service's or request model's message with the API's field names (`contact_phone：…`) as
    the console's labels (`联系电话：…`); a form with labels of its own passes them."""
    return _FIELD_NAME.sub(lambda m: labels.get(m.group(0), m.group(0)), message)


_NAMED = re.compile(r"^([a-z_]+)(?:、[a-z_]+)*：(.+)$", re.S)


def model_errors(exc: ValidationError, labels: dict[str, str] = FIELD_LABELS) -> dict[str, str]:
    """A form model's refusals (its bounds and its rules over several fields), by field, in
    Chinese, field names written as the form's `labels`."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        kind, ctx = error["type"], error.get("ctx") or {}
        if kind == "value_error":
            text = str(ctx.get("error", error["msg"]))
            named = _NAMED.match(text)
            field, message = (named.group(1), named.group(2)) if named else (field, text)
        elif kind in ("missing", "string_too_short"):
            message = "请填写"
        elif kind == "string_too_long":
            message = f"最多 {ctx.get('max_length')} 个字"
        elif kind == "greater_than_equal":
            message = f"不能小于 {ctx.get('ge')}"
        elif kind == "less_than_equal":
            message = f"不能大于 {ctx.get('le')}"
        elif kind == "literal_error":
            message = "请从列表中选择"
        elif any("\u4e00" <= ch <= "\u9fff" for ch in error["msg"]):
            message = error["msg"]  # Linli's own types write Chinese (control characters, years)
        elif kind.startswith("date"):
            message = "请按“年-月-日”填写，如 2026-09-01"
        else:
            message = "填写有误"
        errors.setdefault(field or "_", zh_fields(message, labels))
    return errors


def error_response(request: Request, status: int, code: str, message: str, details: Any = None) -> Response:
    """An error in the console: for an htmx request a message in the page's `#flash` line (the page
    stays as it was), otherwise a whole page. Field names in the message read as the form's labels."""
    if status == 401:
        return login_redirect(request)
    message = zh_fields(message)
    context = {"status": status, "code": code, "message": message, "details": details}
    if is_htmx(request):
        response = render(request, "_error.html", context, status_code=status)
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return response
    return render(request, "error.html", context, status_code=status)


def login_redirect(request: Request) -> Response:
    """To the login page, and back afterwards: to the page that was asked for, or for an htmx
    request (a poll, a form) to the page it was made from, never to a fragment."""
    target = f"{PREFIX}/login"
    back: str | None = None
    if is_htmx(request):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = current.path + (f"?{current.query}" if current.query else "")
    elif request.method == "GET":
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if back and is_console_path(back) and not back.startswith(f"{PREFIX}/login"):
        target += "?" + urlencode({"next": back})
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


# a page of its own, not a template: it is shown when nothing else can be trusted to work
OUTAGE_PAGE = (HERE / "static" / "outage.html").read_text(encoding="utf-8")


def outage_page(seconds: int) -> HTMLResponse:
    """The database is out of reach: a page (or the htmx flash line) saying so, without touching
    the database or the templates' context. Nothing of the request was written."""
    body = OUTAGE_PAGE.replace("{seconds}", str(seconds))
    headers = {"Retry-After": str(seconds), "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return HTMLResponse(body, status_code=503, headers=headers)
