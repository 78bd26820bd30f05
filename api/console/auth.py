"""Signing in to the console: the login page with its scan-to-login code, the ticket's polling,
the development login, signing out; and the community chooser."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from api import clock
from api.config import Settings
from api.console import web
from api.deps import IdPath, SessionDep, SettingsDep, WeChatDep, writes
from api.errors import AppError
from api.services import console_auth
from api.services.feed.shares import ENV_VERSION  # the code opens the same version as shares do
from api.wechat.client import WeChatError, WeChatUnavailable

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)

TicketPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
BROWSER_COOKIE_SECONDS = 30 * 24 * 3600


def _development(settings: Settings) -> bool:
    """Fake WeChat outside production: the login page offers signing in without a phone."""
    return settings.wechat_mode == "fake" and not settings.is_production


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith(web.PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return web.PREFIX


@router.get("/login")
async def login_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    token = request.cookies.get(web.SESSION_COOKIE)
    if token and await console_auth.session_for(session, settings, token):
        return web.redirect(_safe_next(next))
    browser = request.cookies.get(web.BROWSER_COOKIE) or console_auth.new_secret()
    development = _development(settings)
    people = await console_auth.users_for_development(session) if development else []
    response = web.render(
        request,
        "login.html",
        {
            "csrf": console_auth.csrf_token(settings, browser),
            "development": development,
            "people": people,
            "next": _safe_next(next),
        },
    )
    web.set_cookie(response, settings, web.BROWSER_COOKIE, browser, BROWSER_COOKIE_SECONDS)
    if token:  # a session that ended (idle, revoked): its cookie goes
        response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response


def _ticket_context(
    settings: Settings, ticket: str, state: str, expires_at: datetime, next: str | None
) -> dict[str, Any]:
    """What `_ticket.html` and `_ticket_state.html` show of a ticket."""
    return {
        "ticket": ticket,
        "state": state,
        "expires_at": expires_at,
        "next": _safe_next(next),
        "development": _development(settings),
    }


def _browser(request: Request) -> str:
    browser = request.cookies.get(web.BROWSER_COOKIE)
    if not browser:
        raise AppError("browser_cookie_missing", "请允许浏览器保存本网站的数据后刷新页面", status=400)
    return browser


@router.post("/login-tickets", dependencies=[web.CsrfChecked])
async def new_ticket(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    ticket = await console_auth.create_ticket(
        session,
        settings,
        browser_secret=_browser(request),
        ip=web.client_ip(request),
        user_agent=web.user_agent(request),
    )
    context = _ticket_context(settings, ticket.ticket, "pending", ticket.expires_at, next)
    return web.render(request, "_ticket.html", context, status_code=201)


@router.get("/login-tickets/{ticket}")
@writes  # a confirmed ticket is consumed and a session opened: a writer's transaction on SQLite
async def poll_ticket(
    ticket: TicketPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The login page polls this every two seconds; a confirmed ticket signs the browser in."""
    polled = await console_auth.poll(
        session,
        settings,
        ticket,
        browser_secret=_browser(request),
        ip=web.client_ip(request),
        user_agent=web.user_agent(request),
    )
    if polled.session_token is not None:
        response = web.redirect(_safe_next(next), request)
        web.set_cookie(
            response, settings, web.SESSION_COOKIE, polled.session_token, settings.console_session_max_seconds
        )
        return response
    context = _ticket_context(settings, ticket, polled.state, polled.expires_at, next)
    if polled.state in ("pending", "scanned"):
        return web.render(request, "_ticket_state.html", context)
    # over: the code goes, and a button for a new one takes its place
    response = web.render(request, "_ticket.html", context)
    response.headers.update({"HX-Retarget": "#ticket", "HX-Reswap": "innerHTML"})
    return response


class _CodeCache:
    """The codes made for live tickets, so that reloading the image does not ask WeChat again (its
    code quota is the app's): per process, a ticket's code until the ticket expires, at most
    `size` of them."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: dict[str, tuple[bytes, datetime]] = {}

    def get(self, ticket: str) -> bytes | None:
        found = self.items.get(ticket)
        return found[0] if found and found[1] > clock.now() else None

    def put(self, ticket: str, image: bytes, until: datetime) -> None:
        now = clock.now()
        self.items = {t: v for t, v in self.items.items() if v[1] > now}
        while len(self.items) >= self.size:
            self.items.pop(next(iter(self.items)))
        self.items[ticket] = (image, until)


_codes = _CodeCache()


@router.get("/login-tickets/{ticket}/code")
async def ticket_code(
    ticket: TicketPath, request: Request, session: SessionDep, settings: SettingsDep, wechat: WeChatDep
) -> Response:
    """The mini-program code of a ticket (getwxacodeunlimit, scene = the ticket), for the browser
    that asked for it only: nobody else can spend the app's code quota. Reads only: a ticket
    confirmed meanwhile is left for the poll to consume."""
    found = await console_auth.browser_ticket(session, ticket, browser_secret=_browser(request))
    if console_auth.ticket_state(found) != "pending":
        raise AppError("login_ticket_used", "该登录二维码已使用或已过期，请刷新", status=409)
    image = _codes.get(ticket)
    if image is None:
        try:
            image = await wechat.get_wxacode_unlimit(
                scene=ticket,
                page=console_auth.LOGIN_PAGE,
                env_version=ENV_VERSION[settings.wechat_miniprogram_state],
            )
        except (WeChatError, WeChatUnavailable) as exc:
            raise AppError("wechat_unavailable", "暂时无法生成登录二维码，请稍后刷新", status=503) from exc
        _codes.put(ticket, image, found.expires_at)
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/dev-login", dependencies=[web.CsrfChecked])
async def development_login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
    next: Annotated[str | None, Form(max_length=300)] = None,
) -> Response:
    token = await console_auth.development_sign_in(
        session, settings, user_id, ip=web.client_ip(request), user_agent=web.user_agent(request)
    )
    response = web.redirect(_safe_next(next), request)
    web.set_cookie(response, settings, web.SESSION_COOKIE, token, settings.console_session_max_seconds)
    return response


@router.post("/logout", dependencies=[web.CsrfChecked])
async def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(web.SESSION_COOKIE)
    if token:
        await console_auth.sign_out(session, token)
    response = web.redirect(f"{web.PREFIX}/login", request)
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response


@router.get("")
async def home(request: Request, viewer: web.ViewerDep, session: SessionDep) -> Response:
    """One community: straight to its Today page; several: choose."""
    communities = await console_auth.staff_communities(session, viewer.user)
    if len(communities) == 1:
        return web.redirect(f"{web.PREFIX}/c/{communities[0].id}/today")
    return web.render(request, "choose.html", {"communities": communities})


@router.get("/communities")
async def choose(request: Request, viewer: web.ViewerDep, session: SessionDep) -> Response:
    """Every community whose console the person may open."""
    communities = await console_auth.staff_communities(session, viewer.user)
    return web.render(request, "choose.html", {"communities": communities})


@router.get("/c/{community_id}")
async def community_home(community_id: IdPath, desk: web.DeskDep) -> Response:
    return web.redirect(f"{web.PREFIX}/c/{desk.community.id}/today")
