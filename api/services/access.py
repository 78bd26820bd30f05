"""Who may do what in a community. Every service checks the caller through these."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import localtime
from api.db.models import Community, CommunityMembership, Member, User
from api.errors import Forbidden, NotFound

RANK = {"resident": 1, "staff": 2, "admin": 3}


async def get_community(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound("community_not_found", "社区不存在")
    localtime.use_community_zone(community.timezone)  # the answer's times are in its zone
    return community


async def role_in(session: AsyncSession, user: User, community_id: int) -> str | None:
    """The caller's role in the community; platform admins are admins everywhere."""
    if user.is_platform_admin:
        return "admin"
    return (
        await session.execute(
            select(CommunityMembership.role).where(
                CommunityMembership.community_id == community_id, CommunityMembership.user_id == user.id
            )
        )
    ).scalar_one_or_none()


async def is_staff(session: AsyncSession, user: User, community_id: int) -> bool:
    role = await role_in(session, user, community_id)
    return role is not None and RANK[role] >= RANK["staff"]


async def require_role(session: AsyncSession, user: User, community_id: int, least: str) -> Community:
    """The community, if the caller holds at least `least` there; else 404 (no such community)
    or 403."""
    community = await get_community(session, community_id)
    role = await role_in(session, user, community_id)
    if role is None or RANK[role] < RANK[least]:
        if least == "resident":
            raise Forbidden("not_a_member", "请先加入该社区")
        if least == "staff":
            raise Forbidden("staff_only", "只有社区工作人员可以执行此操作")
        raise Forbidden("admin_only", "只有社区管理员可以执行此操作")
    return community


async def require_member(session: AsyncSession, user: User, community_id: int) -> Community:
    return await require_role(session, user, community_id, "resident")


async def require_staff(session: AsyncSession, user: User, community_id: int) -> Community:
    return await require_role(session, user, community_id, "staff")


async def require_admin(session: AsyncSession, user: User, community_id: int) -> Community:
    return await require_role(session, user, community_id, "admin")


def require_platform_admin(user: User) -> None:
    if not user.is_platform_admin:
        raise Forbidden("platform_admin_only", "只有平台管理员可以执行此操作")


async def reader_role(session: AsyncSession, user: User, community_id: int) -> str | None:
    """The caller's role for what residents share among themselves (posts, photos, albums): staff
    and admins as they are; a resident only once their member record is active. Someone whose
    request to join a household still waits for its head reads none of it yet."""
    role = await role_in(session, user, community_id)
    if role is None or RANK[role] >= RANK["staff"]:
        return role
    active = await session.execute(
        select(Member.id)
        .where(Member.community_id == community_id, Member.user_id == user.id, Member.status == "active")
        .limit(1)
    )
    return role if active.first() is not None else None


async def require_reader(session: AsyncSession, user: User, community_id: int) -> bool:
    """Refused unless `reader_role` gives a role (404 for no such community, 403 otherwise);
    whether the caller is staff."""
    role = await reader_role(session, user, community_id)
    if role is None or user.is_platform_admin:
        await require_member(session, user, community_id)  # no such community, or not a member
    if role is None:
        raise Forbidden("membership_pending", "入户申请确认后才能看到和发布社区动态")
    return RANK[role] >= RANK["staff"]


async def require_staff_hidden(
    session: AsyncSession, user: User, community_id: int, refusal: str
) -> tuple[Community, str]:
    """The community and the caller's role there, for what only its staff see and whose very
    existence is not confirmed to others: someone with no role there is told the community does
    not exist (404); a resident is refused (403) with `refusal`."""
    community = await get_community(session, community_id)
    role = await role_in(session, user, community_id)
    if role is None:
        raise NotFound("community_not_found", "社区不存在")
    if RANK[role] < RANK["staff"]:
        raise Forbidden("staff_only", refusal)
    return community, role


async def require_console(session: AsyncSession, user: User, community_id: int) -> tuple[Community, str]:
    """The console of a community and the caller's role there: staff and admins only (404 to
    anyone without a role there: the console does not confirm which communities there are)."""
    return await require_staff_hidden(session, user, community_id, "只有社区工作人员可以使用工作台")


async def staff_ids(session: AsyncSession, community_id: int) -> list[int]:
    """The users who are staff or admins of the community, in id order (whom staff notes go to)."""
    rows = await session.execute(
        select(CommunityMembership.user_id).where(
            CommunityMembership.community_id == community_id, CommunityMembership.role.in_(("staff", "admin"))
        )
    )
    return sorted(rows.scalars())
