"""Signing in to the staff console by scanning (扫码登录), and the browser sessions it opens.

A browser asks for a ticket and shows it as a mini-program code; the staff member's phone, already
signed in to the mini-program, reports the scan and then the confirmation; the browser's next poll
turns the confirmed ticket into a session, once. The ticket is public (anyone looking at the
screen sees it); what makes it safe is that only the browser that asked for it, holding the cookie
whose hash the ticket keeps, can consume it, and only the person who scanned it can confirm it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.config import Settings
from api.db.models import Community, CommunityMembership, ConsoleLoginTicket, ConsoleSession, User
from api.errors import Conflict, Forbidden, NotFound, TooManyRequests

# the page the code opens in the mini-program; WeChat refuses a page that is not published
LOGIN_PAGE = "pages/weblogin/index"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(settings: Settings, secret: str) -> str:
    """The CSRF token that goes with a browser secret (the session's, or before sign-in the
    browser cookie's): derived, so nothing more is stored, and useless without the cookie."""
    key = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(key, b"console-csrf:" + secret.encode(), hashlib.sha256).hexdigest()


def csrf_valid(settings: Settings, secret: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(settings, secret), token)


def _ticket_expired(ticket: ConsoleLoginTicket, now: datetime) -> bool:
    return ticket.state in ("pending", "scanned", "confirmed") and now >= ticket.expires_at


def ticket_state(ticket: ConsoleLoginTicket, now: datetime | None = None) -> str:
    """pending, scanned, confirmed, rejected, expired or consumed."""
    return "expired" if _ticket_expired(ticket, now or clock.now()) else ticket.state


async def create_ticket(
    session: AsyncSession, settings: Settings, *, browser_secret: str, ip: str, user_agent: str
) -> ConsoleLoginTicket:
    """A new pending ticket bound to the browser (by its cookie's hash), valid
    `console_ticket_ttl_seconds`. One address may ask for `console_tickets_per_window` tickets in
    `console_ticket_window_seconds`; more: 429 too_many_login_tickets, saying when to try again."""
    now = clock.now()
    window = timedelta(seconds=settings.console_ticket_window_seconds)
    limit = settings.console_tickets_per_window
    recent = (
        (
            await session.execute(
                select(ConsoleLoginTicket.created_at)
                .where(ConsoleLoginTicket.ip == ip, ConsoleLoginTicket.created_at > now - window)
                .order_by(ConsoleLoginTicket.created_at.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if len(recent) >= limit:
        free_at = recent[-1] + window
        wait = max(1, math.ceil((free_at - now).total_seconds()))
        raise TooManyRequests(
            "too_many_login_tickets",
            f"登录二维码刷新太频繁，请在 {localtime.text(free_at)} 后再试",
            details={"retry_at": free_at},
            headers={"Retry-After": str(wait)},
        )
    ticket = ConsoleLoginTicket(
        # 32 characters of [A-Za-z0-9_-]: what a code's scene may hold
        ticket=secrets.token_urlsafe(24),
        browser_hash=digest(browser_secret),
        state="pending",
        ip=ip[:64],
        user_agent=user_agent[:200],
        created_at=now,
        expires_at=now + timedelta(seconds=settings.console_ticket_ttl_seconds),
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def _ticket(session: AsyncSession, ticket: str, *, lock: bool = False) -> ConsoleLoginTicket:
    query = select(ConsoleLoginTicket).where(ConsoleLoginTicket.ticket == ticket)
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("login_ticket_not_found", "登录二维码无效，请在电脑上刷新后重新扫码")
    return found


async def staff_communities(session: AsyncSession, user: User) -> list[Community]:
    """The communities whose console the person may open (staff or admin there); every community
    for a platform admin."""
    query = select(Community).order_by(Community.id)
    if not user.is_platform_admin:
        query = query.join(
            CommunityMembership,
            (CommunityMembership.community_id == Community.id)
            & (CommunityMembership.user_id == user.id)
            & CommunityMembership.role.in_(("staff", "admin")),
        )
    return list((await session.execute(query.limit(500))).scalars())


async def _require_console_user(session: AsyncSession, user: User) -> None:
    if not await staff_communities(session, user):
        raise Forbidden("console_staff_only", "只有社区工作人员和管理员可以登录工作台")


def _refuse_ended(ticket: ConsoleLoginTicket, now: datetime) -> None:
    state = ticket_state(ticket, now)
    if state == "expired":
        raise Conflict("login_ticket_expired", "登录二维码已过期，请在电脑上刷新后重新扫码")
    if state in ("rejected", "consumed"):
        raise Conflict("login_ticket_used", "该登录二维码已使用过，请在电脑上刷新后重新扫码")


async def scan(session: AsyncSession, user: User, ticket_value: str) -> ConsoleLoginTicket:
    """The phone read the code: the ticket becomes `scanned` by this person (only staff or admins
    may sign in to the console). Scanning again by the same person changes nothing; a ticket
    another person scanned is refused (409 login_ticket_taken)."""
    await _require_console_user(session, user)
    ticket = await _ticket(session, ticket_value, lock=True)
    now = clock.now()
    _refuse_ended(ticket, now)
    if ticket.user_id is not None and ticket.user_id != user.id:
        raise Conflict("login_ticket_taken", "该登录二维码已被其他人扫描，请在电脑上刷新后重新扫码")
    if ticket.state == "pending":
        ticket.state = "scanned"
        ticket.user_id = user.id
        ticket.scanned_at = now
    await session.flush()
    return ticket


async def decide(session: AsyncSession, user: User, ticket_value: str, *, confirm: bool) -> ConsoleLoginTicket:
    """The person who scanned the ticket confirms (the browser may sign in as them) or refuses
    (it never will). Only after a scan, only by whoever scanned it, only before it expires; saying
    the same again changes nothing."""
    await _require_console_user(session, user)
    ticket = await _ticket(session, ticket_value, lock=True)
    now = clock.now()
    _refuse_ended(ticket, now)
    if ticket.user_id is None:
        raise Conflict("login_ticket_not_scanned", "请先扫描电脑上的登录二维码")
    if ticket.user_id != user.id:
        raise Conflict("login_ticket_taken", "该登录二维码已被其他人扫描，请在电脑上刷新后重新扫码")
    wanted = "confirmed" if confirm else "rejected"
    if ticket.state == "scanned":
        ticket.state = wanted
        ticket.decided_at = now
    elif ticket.state != wanted:
        raise Conflict("login_ticket_decided", "该登录已确认或已拒绝，不能更改")
    await session.flush()
    return ticket


async def browser_ticket(session: AsyncSession, ticket_value: str, *, browser_secret: str) -> ConsoleLoginTicket:
    """The ticket, for the browser that asked for it only (another browser's ticket is not
    found); reads only, unlike `poll`."""
    ticket = await _ticket(session, ticket_value)
    if not hmac.compare_digest(ticket.browser_hash, digest(browser_secret)):
        raise NotFound("login_ticket_not_found", "登录二维码无效，请在电脑上刷新后重新扫码")
    return ticket


@dataclass
class Poll:
    state: str
    expires_at: datetime
    session_token: str | None = None
    user: User | None = None


async def poll(
    session: AsyncSession, settings: Settings, ticket_value: str, *, browser_secret: str, ip: str, user_agent: str
) -> Poll:
    """The browser asks how its ticket stands. A confirmed ticket is consumed by this call, once
    (a conditional update: two polls at the same moment cannot both get a session), and opens a
    session for whoever confirmed it. Another browser's ticket is not found."""
    ticket = await browser_ticket(session, ticket_value, browser_secret=browser_secret)
    now = clock.now()
    state = ticket_state(ticket, now)
    if state != "confirmed":
        return Poll(state=state, expires_at=ticket.expires_at)
    taken = await session.execute(
        update(ConsoleLoginTicket)
        .where(ConsoleLoginTicket.id == ticket.id, ConsoleLoginTicket.state == "confirmed")
        .values(state="consumed", consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return Poll(state="consumed", expires_at=ticket.expires_at)
    assert ticket.user_id is not None
    user = await session.get(User, ticket.user_id)
    if user is None:  # deleted since it confirmed
        return Poll(state="rejected", expires_at=ticket.expires_at)
    token = await open_session(session, settings, user, ip=ip, user_agent=user_agent)
    return Poll(state="confirmed", expires_at=ticket.expires_at, session_token=token, user=user)


async def open_session(session: AsyncSession, settings: Settings, user: User, *, ip: str, user_agent: str) -> str:
    """A new browser session for `user`: the cookie's secret (only its hash is kept)."""
    token = new_secret()
    now = clock.now()
    session.add(
        ConsoleSession(
            token_hash=digest(token),
            user_id=user.id,
            ip=ip[:64],
            user_agent=user_agent[:200],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.console_session_max_seconds),
        )
    )
    await session.flush()
    return token


def _alive(row: ConsoleSession, settings: Settings, now: datetime) -> bool:
    idle = timedelta(seconds=settings.console_session_idle_seconds)
    return row.revoked_at is None and now < row.expires_at and now < row.last_seen_at + idle


async def session_for(session: AsyncSession, settings: Settings, token: str) -> tuple[ConsoleSession, User] | None:
    """The live session and its person for a cookie's token; None when it is unknown, revoked,
    idle past `console_session_idle_seconds` or older than `console_session_max_seconds`."""
    row = (
        await session.execute(select(ConsoleSession).where(ConsoleSession.token_hash == digest(token)))
    ).scalar_one_or_none()
    if row is None or not _alive(row, settings, clock.now()):
        return None
    user = await session.get(User, row.user_id)
    return (row, user) if user is not None else None


# a session's last use is written at most this often (a page of polls must not write every time)
TOUCH_EVERY = timedelta(seconds=60)


def needs_touch(row: ConsoleSession) -> bool:
    return clock.now() - row.last_seen_at >= TOUCH_EVERY


async def touch(session: AsyncSession, session_id: int) -> None:
    """Record that the session was used now (its idle clock starts again)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(last_seen_at=clock.now())
        .execution_options(synchronize_session=False)
    )


async def list_sessions(session: AsyncSession, settings: Settings, user: User) -> list[dict[str, Any]]:
    """The person's live console sessions, newest first."""
    now = clock.now()
    rows = (
        (
            await session.execute(
                select(ConsoleSession)
                .where(
                    ConsoleSession.user_id == user.id,
                    ConsoleSession.revoked_at.is_(None),
                    ConsoleSession.expires_at > now,
                    ConsoleSession.last_seen_at > now - timedelta(seconds=settings.console_session_idle_seconds),
                )
                .order_by(ConsoleSession.created_at.desc(), ConsoleSession.id.desc())
                .limit(100)
            )
        )
        .scalars()
        .all()
    )
    idle = timedelta(seconds=settings.console_session_idle_seconds)
    return [
        {
            "id": row.id,
            "ip": row.ip,
            "user_agent": row.user_agent,
            "created_at": row.created_at,
            "last_seen_at": row.last_seen_at,
            "expires_at": min(row.expires_at, row.last_seen_at + idle),
        }
        for row in rows
    ]


async def revoke(session: AsyncSession, user: User, session_id: int) -> None:
    """End one of the person's sessions (the browser is signed out at its next request). Someone
    else's session is not found."""
    row = await session.get(ConsoleSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("console_session_not_found", "找不到该工作台登录")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        await session.flush()


async def sign_out(session: AsyncSession, token: str) -> None:
    """End the session of this cookie (signing out in the browser)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == digest(token), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )


async def users_for_development(session: AsyncSession) -> list[dict[str, Any]]:
    """Development only: who may be signed in without a phone (staff and admins of some community,
    and platform admins), for the login page's development form."""

    def name(user: User) -> str:
        # development users are `dev-<name>`: the name says who they are in the demo
        return user.display_name or user.openid.removeprefix("dev-")

    staff = await session.execute(
        select(User, func.min(CommunityMembership.role))
        .join(CommunityMembership, CommunityMembership.user_id == User.id)
        .where(CommunityMembership.role.in_(("staff", "admin")))
        .group_by(User.id)
        .order_by(User.id)
        .limit(200)
    )
    people = [{"id": user.id, "name": name(user), "role": role} for user, role in staff]
    admins = await session.execute(select(User).where(User.is_platform_admin.is_(True)).order_by(User.id).limit(20))
    known = {p["id"] for p in people}
    people += [{"id": u.id, "name": name(u), "role": "admin"} for u in admins.scalars() if u.id not in known]
    return people


async def development_sign_in(
    session: AsyncSession, settings: Settings, user_id: int, *, ip: str, user_agent: str
) -> str:
    """Development only (fake WeChat, not production): a session for a console user without
    scanning."""
    if settings.is_production or settings.wechat_mode != "fake":
        raise Forbidden("dev_login_disabled", "开发登录只在开发模式下可用，请用小程序扫码登录")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "用户不存在")
    await _require_console_user(session, user)
    return await open_session(session, settings, user, ip=ip, user_agent=user_agent)


# what is kept after it ended: a day of tickets (enough to look into a login problem), a month of
# sessions (the phone's list shows live ones only)
KEEP_TICKETS = timedelta(days=1)
KEEP_SESSIONS = timedelta(days=30)


async def purge_ended(session: AsyncSession) -> tuple[int, int]:
    """Forget tickets a day after they expired and sessions a month after they ended (expired or
    revoked): (tickets, sessions) deleted. Phone reveals are an audit log and are kept."""
    now = clock.now()
    tickets = await session.execute(
        delete(ConsoleLoginTicket).where(ConsoleLoginTicket.expires_at < now - KEEP_TICKETS)
    )
    sessions = await session.execute(
        delete(ConsoleSession).where(
            (ConsoleSession.expires_at < now - KEEP_SESSIONS)
            | (ConsoleSession.revoked_at < now - KEEP_SESSIONS)
            | (ConsoleSession.last_seen_at < now - KEEP_SESSIONS)
        )
    )
    return tickets.rowcount, sessions.rowcount  # type: ignore[attr-defined]
