"""Login through WeChat, the caller's profile and phone number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, CommunityMembership, Member, User
from api.db.session import Database
from api.db.upsert import insert_ignore
from api.errors import AppError, BadRequest, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from api.wechat.client import WeChatClient, WeChatError, WeChatUnavailable


def _wechat_login_error(exc: WeChatError | WeChatUnavailable) -> AppError:
    if isinstance(exc, WeChatUnavailable):
        return ServiceUnavailable("wechat_unavailable", "微信服务繁忙，请稍后重试", details={"retryable": True})
    if exc.errcode in (40029, 40163):
        return Unauthorized("wechat_code_invalid", "登录码无效或已使用，请重新进入小程序")
    if exc.errcode == 45011:
        return TooManyRequests("wechat_rate_limited", "登录太频繁，请稍后再试", headers={"Retry-After": "60"})
    if exc.errcode == 40226:
        return Forbidden("wechat_user_blocked", "该微信账号被微信判定为高风险，暂时无法登录")
    return ServiceUnavailable(
        "wechat_error", "微信登录失败，请稍后重试", details={"errcode": exc.errcode, "retryable": False}
    )


async def login(session: AsyncSession, wechat: WeChatClient, code: str) -> User:
    """Exchange a wx.login code for the user keyed by openid, creating them on first login."""
    try:
        wx = await wechat.code2session(code)
    except (WeChatError, WeChatUnavailable) as exc:
        raise _wechat_login_error(exc) from exc
    now = clock.now()
    # two first logins of the same person at once must not make two users
    await insert_ignore(
        session,
        User,
        {
            "openid": wx.openid,
            "unionid": wx.unionid,
            "display_name": "",
            "is_platform_admin": False,
            "created_at": now,
            "updated_at": now,
        },
        ["openid"],
    )
    user = (
        await session.execute(select(User).where(User.openid == wx.openid).execution_options(populate_existing=True))
    ).scalar_one()
    if wx.unionid and user.unionid != wx.unionid:
        user.unionid = wx.unionid
    user.last_login_at = now
    await session.flush()
    return user


async def bind_phone(session: AsyncSession, db: Database, wechat: WeChatClient, user_id: int, code: str) -> User:
    """Bind the number from WeChat's phone-number button; asked only when a feature needs it.

    WeChat is called before this request's transaction touches the database: refreshing the shared
    access_token takes a write transaction of its own, which on SQLite must not wait behind ours.
    """
    async with db.session(write=False) as lookup:
        openid = (await lookup.execute(select(User.openid).where(User.id == user_id))).scalar_one_or_none()
    if openid is None:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录")
    try:
        info = await wechat.get_phone_number(code, openid)
    except WeChatUnavailable as exc:
        raise ServiceUnavailable("wechat_unavailable", "微信服务繁忙，请稍后重试", details={"retryable": True}) from exc
    except WeChatError as exc:
        if exc.errcode == 40029:
            raise BadRequest("phone_code_invalid", "手机号授权码无效或已过期，请重新授权") from exc
        raise ServiceUnavailable(
            "wechat_error", "获取手机号失败，请稍后重试", details={"errcode": exc.errcode}
        ) from exc
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录")
    user.phone_number = info.pure_phone_number
    user.phone_country_code = info.country_code
    user.phone_bound_at = clock.now()
    await session.flush()
    return user


def mask_phone(number: str | None) -> str | None:
    """138****1234: the middle four digits hidden."""
    if not number:
        return None
    if len(number) < 7:
        return "*" * len(number)
    return f"{number[:3]}****{number[-4:]}"


async def is_any_admin(session: AsyncSession, user: User) -> bool:
    if user.is_platform_admin:
        return True
    found = await session.execute(
        select(CommunityMembership.id)
        .where(CommunityMembership.user_id == user.id, CommunityMembership.role == "admin")
        .limit(1)
    )
    return found.first() is not None


_user = User.__table__.c
_membership = CommunityMembership.__table__.c
_community = Community.__table__.c
_member = Member.__table__.c
_MEMBERSHIP_COLUMNS = (
    _membership.community_id,
    _community.name,
    _membership.role,
    _member.id,
    _member.household_id,
    _member.status,
)
# a user's memberships, each with its community's name and the user's member record there
# (every membership has its community: a foreign key, never null); the member record of
# `member_user`, the same user (the one bind parameter, used twice)
_MEMBERSHIPS_FROM = CommunityMembership.__table__.join(
    Community.__table__, _community.id == _membership.community_id
).outerjoin(
    Member.__table__,
    (_member.community_id == _membership.community_id) & (_member.user_id == bindparam("user_id")),
)
# the statements are built once, in plain columns: no ORM objects to build, and their cache keys
# are quick to make
_MEMBERSHIPS = (
    select(*_MEMBERSHIP_COLUMNS)
    .select_from(_MEMBERSHIPS_FROM)
    .where(_membership.user_id == bindparam("user_id"))
    .order_by(_membership.community_id)
)
# GET /me in one statement: the user, with one row per membership (or one row of nulls)
_ME = (
    select(
        _user.display_name,
        _user.avatar_url,
        _user.phone_number,
        _user.is_platform_admin,
        *_MEMBERSHIP_COLUMNS,
    )
    .select_from(User.__table__.outerjoin(_MEMBERSHIPS_FROM, _membership.user_id == _user.id))
    .where(_user.id == bindparam("user_id"))
    .order_by(_membership.community_id)
)


def _profile(
    user_id: int,
    display_name: str,
    avatar_url: str | None,
    phone_number: str | None,
    is_platform_admin: bool,
    rows: Sequence[Sequence[Any]],
) -> dict[str, Any]:
    """The profile from the user's fields and their membership rows (`_MEMBERSHIP_COLUMNS`); the
    phone masked unless the user is an admin: the memberships already say whether they are one
    somewhere (`is_any_admin`, not asked again)."""
    memberships = [
        {
            "community_id": community_id,
            "community_name": name,
            "role": role,
            "member_id": member_id,
            "household_id": household_id if member_id is not None else None,
            "status": status if member_id is not None else "active",
        }
        for community_id, name, role, member_id, household_id, status in rows
    ]
    admin = is_platform_admin or any(m["role"] == "admin" for m in memberships)
    return {
        "id": user_id,
        "display_name": display_name,
        "avatar_url": avatar_url,
        "phone": phone_number if admin else mask_phone(phone_number),
        "is_platform_admin": is_platform_admin,
        "memberships": memberships,
    }


async def profile(session: AsyncSession, user: User) -> dict[str, Any]:
    """The caller with their memberships; the phone masked unless the caller is an admin. (The
    statement reads tables, not ORM objects: the callers have flushed what they changed.)"""
    rows = (await session.execute(_MEMBERSHIPS, {"user_id": user.id})).all()
    return _profile(user.id, user.display_name, user.avatar_url, user.phone_number, user.is_platform_admin, rows)


async def me(session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """`profile` of the user `user_id`, read in one statement with the user; None if there is no
    such user."""
    rows = (await session.execute(_ME, {"user_id": user_id})).all()
    if not rows:
        return None
    display_name, avatar_url, phone_number, is_platform_admin = rows[0][:4]
    memberships = [row[4:] for row in rows if row[4] is not None]
    return _profile(user_id, display_name, avatar_url, phone_number, is_platform_admin, memberships)


async def update_profile(
    session: AsyncSession, user: User, *, display_name: str | None, avatar_url: str | None
) -> User:
    if display_name is not None:
        user.display_name = display_name.strip()
    if avatar_url is not None:
        user.avatar_url = avatar_url
    await session.flush()
    return user
