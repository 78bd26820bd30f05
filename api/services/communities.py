"""Communities, their spaces (opening hours, closures) and the roles of people in them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, CommunityMembership, Household, Member, Space, SpaceClosure, User
from api.errors import Conflict, Forbidden, NotFound
from api.schemas.communities import DEFAULT_OPENING_HOURS, WEEKDAYS
from api.services import audit
from api.services.access import get_community, require_admin, require_platform_admin, require_staff, role_in

DETAIL_FIELDS = ("name", "city", "district", "address", "timezone")
SPACE_FIELDS = ("name", "address", "opening_hours")

# -- communities -----------------------------------------------------------------------------


async def create_community(session: AsyncSession, user: User, fields: dict[str, Any]) -> Community:
    """Platform admins open a community; names are unique."""
    require_platform_admin(user)
    community = Community(**fields)
    session.add(community)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("community_exists", "已有同名社区", details={"name": fields.get("name")}) from exc
    await audit.record(
        session,
        user,
        community.id,
        subject="community",
        subject_id=community.id,
        action="create",
        summary=f"新建社区「{community.name}」",
        after=audit.snapshot(community, DETAIL_FIELDS),
    )
    return community


async def list_communities(session: AsyncSession) -> list[Community]:
    """The communities a resident can choose to join: public names only."""
    return list((await session.execute(select(Community).order_by(Community.id))).scalars())


async def community_detail(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    community = await get_community(session, community_id)
    return {
        **_community_fields(community),
        "my_role": await role_in(session, user, community_id),
        "spaces": await list_spaces(session, community_id),
    }


def _community_fields(community: Community) -> dict[str, Any]:
    return {
        "id": community.id,
        "name": community.name,
        "city": community.city,
        "district": community.district,
        "address": community.address,
        "timezone": community.timezone,
        "quiet_hours": community.quiet_hours,
    }


async def update_community(session: AsyncSession, user: User, community_id: int, fields: dict[str, Any]) -> Community:
    """Admins rename or re-address a community, or set its quiet hours; null leaves a field as it
    is (none may be empty of a value), except the quiet hours, where null means the deployment's
    default. Two communities never share a name. Each change goes into the audit list."""
    community = await require_admin(session, user, community_id)
    fields = dict(fields)
    quiet_given = "quiet_hours" in fields
    quiet = fields.pop("quiet_hours", None)
    before = audit.snapshot(community, DETAIL_FIELDS)
    quiet_before = community.quiet_hours
    await _update(session, community, fields, Conflict("community_exists", "已有同名社区"))
    await audit.record(
        session,
        user,
        community_id,
        subject="community",
        subject_id=community_id,
        action="update",
        summary="修改社区信息",
        before=before,
        after=audit.snapshot(community, DETAIL_FIELDS),
    )
    if quiet_given and quiet != quiet_before:
        community.quiet_hours = quiet
        await session.flush()
        await audit.record(
            session,
            user,
            community_id,
            subject="quiet_hours",
            subject_id=community_id,
            action="update",
            summary="修改免打扰时段",
            before={"quiet_hours": quiet_before},
            after={"quiet_hours": quiet},
        )
    return community


async def _update(session: AsyncSession, row: Community | Space, fields: dict[str, Any], taken: Conflict) -> None:
    """Set the fields that have a value (null leaves a field as it is) and flush them in a
    savepoint: a name already taken is `taken`, and the request's transaction stays usable."""
    for name, value in fields.items():
        if value is not None:
            setattr(row, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise taken from exc


# -- spaces and opening hours ----------------------------------------------------------------


def is_open(community: Community, space: Space, closures: list[SpaceClosure], at: datetime) -> bool:
    """Whether the space is open at `at`: inside a weekly interval, local time, and not on a
    closure day."""
    local = at.astimezone(ZoneInfo(community.timezone))
    today = local.date()
    if any(closure.starts_on <= today <= closure.ends_on for closure in closures):
        return False
    hhmm = local.strftime("%H:%M")
    intervals = space.opening_hours.get(WEEKDAYS[local.weekday()], [])
    return any(opens <= hhmm < closes for opens, closes in intervals)


def next_opening(
    community: Community, space: Space, closures: list[SpaceClosure], at: datetime, days: int = 31
) -> datetime | None:
    """When the space next opens after `at` (its weekly hours, skipping closure days), looking
    `days` ahead; None if it does not open in that time."""
    tz = ZoneInfo(community.timezone)
    local = at.astimezone(tz)
    for offset in range(days + 1):
        day = local.date() + timedelta(days=offset)
        if any(closure.starts_on <= day <= closure.ends_on for closure in closures):
            continue
        for opens, _ in sorted(space.opening_hours.get(WEEKDAYS[day.weekday()], [])):
            hour, minute = (int(part) for part in opens.split(":"))
            start = datetime.combine(day, time(hour, minute), tz)
            if start > local:
                return start
    return None


def space_view(community: Community, space: Space, closures: list[SpaceClosure]) -> dict[str, Any]:
    return {
        "id": space.id,
        "community_id": space.community_id,
        "name": space.name,
        "address": space.address,
        "opening_hours": space.opening_hours,
        "open_now": is_open(community, space, closures, clock.now()),
    }


async def _closures_from(session: AsyncSession, space_ids: list[int], since: date) -> dict[int, list[SpaceClosure]]:
    by_space: dict[int, list[SpaceClosure]] = {space_id: [] for space_id in space_ids}
    if space_ids:
        rows = await session.execute(
            select(SpaceClosure)
            .where(SpaceClosure.space_id.in_(space_ids), SpaceClosure.ends_on >= since)
            .order_by(SpaceClosure.starts_on)
        )
        for closure in rows.scalars():
            by_space[closure.space_id].append(closure)
    return by_space


def today_in(community: Community) -> date:
    """The community's local date now."""
    return clock.now().astimezone(ZoneInfo(community.timezone)).date()


async def list_spaces(session: AsyncSession, community_id: int) -> list[dict[str, Any]]:
    """A community's spaces with their hours and whether they are open now (public)."""
    community = await get_community(session, community_id)
    spaces = list(
        (await session.execute(select(Space).where(Space.community_id == community_id).order_by(Space.id))).scalars()
    )
    closures = await _closures_from(session, [space.id for space in spaces], today_in(community))
    return [space_view(community, space, closures[space.id]) for space in spaces]


async def _space_view(session: AsyncSession, community: Community, space: Space) -> dict[str, Any]:
    closures = await _closures_from(session, [space.id], today_in(community))
    return space_view(community, space, closures[space.id])


async def create_space(session: AsyncSession, user: User, community_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Admins add spaces; without opening hours a space opens Tue–Sun 09:00–21:00."""
    community = await require_admin(session, user, community_id)
    hours = fields.pop("opening_hours", None)
    space = Space(community_id=community_id, opening_hours=hours or DEFAULT_OPENING_HOURS, **fields)
    session.add(space)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("space_exists", "该社区已有同名空间") from exc
    await audit.record(
        session,
        user,
        community_id,
        subject="space",
        subject_id=space.id,
        action="create",
        summary=f"新建空间「{space.name}」",
        after=audit.snapshot(space, SPACE_FIELDS),
    )
    return space_view(community, space, [])


async def get_space(session: AsyncSession, space_id: int) -> tuple[Community, Space]:
    space = await session.get(Space, space_id)
    if space is None:
        raise NotFound("space_not_found", "空间不存在")
    return await get_community(session, space.community_id), space


async def update_space(session: AsyncSession, user: User, space_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Admins rename a space or change its hours; null leaves a field as it is, and two spaces of
    a community never share a name."""
    community, space = await get_space(session, space_id)
    await require_admin(session, user, community.id)
    before = audit.snapshot(space, SPACE_FIELDS)
    await _update(session, space, fields, Conflict("space_exists", "该社区已有同名空间"))
    after = audit.snapshot(space, SPACE_FIELDS)
    what = "开放时间" if [k for k in after if after[k] != before[k]] == ["opening_hours"] else "信息"
    await audit.record(
        session,
        user,
        community.id,
        subject="space",
        subject_id=space.id,
        action="update",
        summary=f"修改空间「{space.name}」的{what}",
        before=before,
        after=after,
    )
    return await _space_view(session, community, space)


async def space_closures(session: AsyncSession, space_id: int) -> list[SpaceClosure]:
    """Closures that end today or later."""
    community, space = await get_space(session, space_id)
    return (await _closures_from(session, [space.id], today_in(community)))[space.id]


async def add_closure(session: AsyncSession, user: User, space_id: int, fields: dict[str, Any]) -> SpaceClosure:
    """Staff close the space for holidays or repairs; both dates inclusive."""
    community, space = await get_space(session, space_id)
    await require_staff(session, user, community.id)
    closure = SpaceClosure(space_id=space.id, **fields)
    session.add(closure)
    await session.flush()
    await audit.record(
        session,
        user,
        community.id,
        subject="closure",
        subject_id=closure.id,
        action="create",
        summary=f"「{space.name}」闭馆 {_span(closure)}",
        after={"space": space.name, **audit.snapshot(closure, CLOSURE_FIELDS)},
    )
    return closure


CLOSURE_FIELDS = ("starts_on", "ends_on", "reason")


def _span(closure: SpaceClosure) -> str:
    if closure.starts_on == closure.ends_on:
        return closure.starts_on.isoformat()
    return f"{closure.starts_on.isoformat()} 至 {closure.ends_on.isoformat()}"


async def remove_closure(session: AsyncSession, user: User, closure_id: int) -> None:
    closure = await session.get(SpaceClosure, closure_id)
    if closure is None:
        raise NotFound("closure_not_found", "闭馆安排不存在")
    community, space = await get_space(session, closure.space_id)
    await require_staff(session, user, community.id)
    before = {"space": space.name, **audit.snapshot(closure, CLOSURE_FIELDS)}
    summary = f"取消「{space.name}」{_span(closure)} 的闭馆"
    closure_id = closure.id
    await session.delete(closure)
    await session.flush()
    await audit.record(
        session,
        user,
        community.id,
        subject="closure",
        subject_id=closure_id,
        action="delete",
        summary=summary,
        before=before,
    )


# -- roles -----------------------------------------------------------------------------------


async def set_role(session: AsyncSession, actor: User, community_id: int, user_id: int, role: str) -> None:
    """Community admins grant and revoke staff; only platform admins make or unmake admins."""
    await require_admin(session, actor, community_id)
    target = await session.get(User, user_id)
    if target is None:
        raise NotFound("user_not_found", "用户不存在")
    membership = (
        await session.execute(
            select(CommunityMembership).where(
                CommunityMembership.community_id == community_id, CommunityMembership.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    current = membership.role if membership else None
    if (role == "admin" or current == "admin") and not actor.is_platform_admin:
        raise Forbidden("platform_admin_only", "只有平台管理员可以任免社区管理员")
    if membership is None:
        if role == "resident":
            return  # residents become members by joining a household, not by decree
        session.add(CommunityMembership(community_id=community_id, user_id=user_id, role=role, granted_by=actor.id))
    else:
        membership.role = role
        membership.granted_by = actor.id
    await session.flush()
    if role == "resident":
        await drop_memberships_without_member(session, community_id, user_id)
    if (current or "resident") != role:
        name = target.display_name or f"用户 {target.id}"
        if role == "resident":
            summary = f"撤销{name}的{audit.ROLE_NAMES[current]}身份"
        else:
            summary = f"任命{name}为{audit.ROLE_NAMES[role]}"
        await audit.record(
            session,
            actor,
            community_id,
            subject="role",
            subject_id=target.id,
            action="revoke" if role == "resident" else "grant",
            summary=summary,
            before={"user": name, "role": current},
            after={"user": name, "role": role},
        )


async def list_staff(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    await require_staff(session, user, community_id)
    rows = await session.execute(
        select(CommunityMembership, User.display_name)
        .join(User, User.id == CommunityMembership.user_id)
        .where(CommunityMembership.community_id == community_id, CommunityMembership.role.in_(("staff", "admin")))
        .order_by(CommunityMembership.role.desc(), CommunityMembership.id)
    )
    return [
        {"user_id": m.user_id, "display_name": name, "role": m.role, "since": m.updated_at} for m, name in rows.all()
    ]


CANDIDATES = 8


async def staff_candidates(
    session: AsyncSession, user: User, community_id: int, q: str, limit: int = CANDIDATES
) -> list[dict[str, Any]]:
    """Residents an admin may make staff, found by name (in the household or on WeChat) or by
    building/room: adults of the community with an account, confirmed, not staff already."""
    await require_admin(session, user, community_id)
    plain = "".join(ch for ch in q.strip() if ch not in "\\%_")[:32]
    if not plain:
        return []
    pattern = f"%{plain}%"
    staff = select(CommunityMembership.user_id).where(
        CommunityMembership.community_id == community_id, CommunityMembership.role.in_(("staff", "admin"))
    )
    rows = await session.execute(
        select(Member.user_id, Member.display_name, User.display_name, Household)
        .join(User, User.id == Member.user_id)
        .join(Household, Household.id == Member.household_id)
        .where(
            Member.community_id == community_id,
            Member.status == "active",
            Member.user_id.is_not(None),
            Member.user_id.not_in(staff),
            or_(
                Member.display_name.like(pattern),
                User.display_name.like(pattern),
                Household.room.like(pattern),
                Household.building.like(pattern),
                (Household.building + Household.room).like(pattern),
            ),
        )
        .order_by(Household.building, Household.room, Member.id)
        .limit(limit)
    )
    found: dict[int, dict[str, Any]] = {}
    for user_id, member_name, account_name, household in rows.all():
        if user_id is None:
            continue
        found.setdefault(
            user_id,
            {
                "user_id": user_id,
                "name": member_name or account_name or f"用户 {user_id}",
                "account_name": account_name if account_name and account_name != member_name else "",
                "address": " ".join(part for part in (household.building, household.unit, household.room) if part),
            },
        )
    return list(found.values())


async def drop_memberships_without_member(session: AsyncSession, community_id: int, user_id: int) -> None:
    """A resident who no longer belongs to any household of the community stops being a member."""
    await session.execute(
        delete(CommunityMembership).where(
            CommunityMembership.community_id == community_id,
            CommunityMembership.user_id == user_id,
            CommunityMembership.role == "resident",
            ~exists().where(Member.community_id == community_id, Member.user_id == user_id),
        )
    )
