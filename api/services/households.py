"""Households and their members (一户一档).

Joining at a new address makes the caller the head of a new household. Joining at an address
that already has a household only asks: the caller waits as `pending` until the head or staff
approves, so nobody reads a family's data by typing its address. Heads add members who have no
WeChat account (children, elders); for a child only a display name, a birth year and the
guardian's recorded consent are kept.

Staff register a household at the desk (一户一档 for people without WeChat: an elder living
alone): its address, its members, none of them with an account, and a contact phone sealed at rest.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import CommunityMembership, Household, Member, User
from api.db.upsert import insert_ignore
from api.errors import Conflict, Forbidden, NotFound, Unprocessable, invalid_field
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services import phones
from api.services.access import RANK, get_community, require_staff, role_in
from api.services.communities import drop_memberships_without_member
from api.services.feed.attribution import last_share_opened
from api.services.votes.common import area_text

CHILD_AGE_LIMIT = 18

_SUFFIXES = {
    "building": ("号楼", "栋", "幢", "楼", "号", "座"),
    "unit": ("单元",),
    "room": ("室", "号", "户"),
}


def _normalise_part(value: str, kind: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().upper()
    text = re.sub(r"\s+", "", text)
    for suffix in _SUFFIXES[kind]:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return text.lstrip("0") or text


# a normalised part is kept as announcement_buildings.building_key, three of them (and two "|")
# as households.address_key: both fit only if each part does
PART_MAX = 32
PART_TOO_LONG = f"按标准写法展开后超过 {PART_MAX} 个字，请换一种写法"


def address_parts(building: str, unit: str, room: str) -> tuple[str, str, str]:
    """The three parts of an address as its key keeps them (each at most PART_MAX to fit)."""
    return _normalise_part(building, "building"), _normalise_part(unit, "unit"), _normalise_part(room, "room")


def address_key(building: str, unit: str, room: str) -> str:
    """ "3栋 2单元 501" and "３ 2 ５０１室" are the same household."""
    return "|".join(address_parts(building, unit, room))


def building_key(building: str) -> str:
    """The building part of an address key: "3栋", "3号楼" and "３" are building "3"."""
    return _normalise_part(building, "building")


def room_key(room: str) -> str:
    """The room part of an address key: "501室" and "５０１" are room "501"."""
    return _normalise_part(room, "room")


def _check_parts(data: dict[str, Any]) -> None:
    """Each part of the address fits once normalised (NFKC turns "㍿" into four characters)."""
    for part in ("building", "unit", "room"):
        if len(_normalise_part(data[part], part)) > PART_MAX:
            raise invalid_field(part, PART_TOO_LONG, kind="string_too_long")


async def _household_at(session: AsyncSession, community_id: int, data: dict[str, Any]) -> tuple[bool, Household]:
    """The community's household at the address, created if there is none (the unique address key
    decides between two at once): (whether this call created it, the household)."""
    key = address_key(data["building"], data["unit"], data["room"])
    now = clock.now()
    created = await insert_ignore(
        session,
        Household,
        {
            "community_id": community_id,
            "building": data["building"].strip(),
            "unit": data["unit"].strip(),
            "room": data["room"].strip(),
            "address_key": key,
            "created_at": now,
            "updated_at": now,
        },
        ["community_id", "address_key"],
    )
    household = (
        await session.execute(
            select(Household).where(Household.community_id == community_id, Household.address_key == key)
        )
    ).scalar_one()
    return created, household


def member_view(member: Member, viewer_id: int | None) -> dict[str, Any]:
    return {
        "id": member.id,
        "household_id": member.household_id,
        "display_name": member.display_name,
        "kind": member.kind,
        "birth_year": member.birth_year,
        "gender": member.gender,
        "status": member.status,
        "is_head": member.is_head,
        "has_account": member.user_id is not None,
        "is_me": viewer_id is not None and member.user_id == viewer_id,
        "consent_at": member.consent_at,
    }


async def _my_member(session: AsyncSession, user: User, community_id: int) -> Member | None:
    return (
        await session.execute(select(Member).where(Member.community_id == community_id, Member.user_id == user.id))
    ).scalar_one_or_none()


async def join(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Join a community as a resident at an address (see the module docstring for the rule)."""
    await get_community(session, community_id)
    existing = await _my_member(session, user, community_id)
    if existing is not None:
        raise Conflict(
            "already_in_household",
            "你已登记在本社区的一户中",
            details={"member_id": existing.id, "household_id": existing.household_id, "status": existing.status},
        )
    now = clock.now()
    _check_parts(data)
    created, household = await _household_at(session, community_id, data)
    member = Member(
        community_id=community_id,
        household_id=household.id,
        user_id=user.id,
        display_name=data["display_name"].strip(),
        kind="adult",
        status="active" if created else "pending",
        is_head=created,
        added_by_user_id=user.id,
        via_share_id=await last_share_opened(session, user.id, community_id, as_outsider=True),
    )
    session.add(member)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the same person joining twice at once
        raise Conflict("already_in_household", "你已登记在本社区的一户中") from exc
    await insert_ignore(
        session,
        CommunityMembership,
        {"community_id": community_id, "user_id": user.id, "role": "resident", "created_at": now, "updated_at": now},
        ["community_id", "user_id"],
    )
    if not user.display_name:
        user.display_name = member.display_name
    await session.flush()
    result: dict[str, Any] = {"status": member.status, "member": member_view(member, user.id), "household": None}
    if member.status == "active":
        result["household"] = await _household_view(session, household, user, show_pending=True)
    return result


async def _household_view(
    session: AsyncSession, household: Household, viewer: User, *, show_pending: bool
) -> dict[str, Any]:
    query = select(Member).where(Member.household_id == household.id)
    if not show_pending:
        query = query.where(Member.status == "active")
    members = (await session.execute(query.order_by(Member.is_head.desc(), Member.id))).scalars()
    return {
        "id": household.id,
        "community_id": household.community_id,
        "building": household.building,
        "unit": household.unit,
        "room": household.room,
        # shown only to those who may read this household at all: staff, and its own members
        **flat_view(household),
        "members": [member_view(m, viewer.id) for m in members],
    }


def flat_view(household: Household) -> dict[str, Any]:
    """The flat (专有部分): its floor area as text ("89.53" ㎡, None when not recorded) and whether
    the household owns it. Staff see it on every household; residents only on their own."""
    return {"floor_area": area_text(household.floor_area_centi) or None, "is_owner": household.is_owner}


async def authorise_household(session: AsyncSession, user: User, household: Household) -> tuple[bool, Member | None]:
    """(is staff, the caller's active member record in this household). Anyone else gets the same
    404 as for a household that does not exist."""
    role = await role_in(session, user, household.community_id)
    if role is not None and RANK[role] >= RANK["staff"]:
        return True, await _my_member(session, user, household.community_id)
    mine = await _my_member(session, user, household.community_id)
    if mine is None or mine.household_id != household.id or mine.status != "active":
        raise NotFound("household_not_found", "找不到该住户")
    return False, mine


async def household_of(session: AsyncSession, household_id: int) -> Household:
    household = await session.get(Household, household_id)
    if household is None:
        raise NotFound("household_not_found", "找不到该住户")
    return household


async def get_household(session: AsyncSession, user: User, household_id: int) -> dict[str, Any]:
    """Staff of the community see any household; residents only their own, once approved.
    Pending requests are shown to the head and staff."""
    household = await household_of(session, household_id)
    is_staff, mine = await authorise_household(session, user, household)
    show_pending = is_staff or (mine is not None and mine.household_id == household.id and mine.is_head)
    return await _household_view(session, household, user, show_pending=show_pending)


async def _require_head_or_staff(session: AsyncSession, user: User, household: Household) -> None:
    is_staff, mine = await authorise_household(session, user, household)
    if not is_staff and not (mine is not None and mine.household_id == household.id and mine.is_head):
        raise Forbidden("household_head_only", "只有户主或社工可以管理家庭成员")


def _check_child_age(birth_year: int) -> None:
    age = clock.now().year - birth_year
    if not 0 <= age < CHILD_AGE_LIMIT:
        raise Unprocessable("child_age_invalid", "儿童的出生年份不正确", details={"age": age})


def _new_member(household: Household, user: User, data: dict[str, Any], *, is_head: bool = False) -> Member:
    """A member without a WeChat account, added by `user`. A child needs a birth year and the
    guardian's separate consent, recorded with who recorded it and when."""
    kind = data["kind"]
    now = clock.now()
    member = Member(
        community_id=household.community_id,
        household_id=household.id,
        display_name=data["display_name"].strip(),
        kind=kind,
        birth_year=data.get("birth_year"),
        gender=data.get("gender"),
        status="active",
        is_head=is_head,
        added_by_user_id=user.id,
    )
    if kind == "child":
        if data.get("birth_year") is None:
            raise Unprocessable("child_birth_year_required", "儿童需要出生年份", details={"field": "birth_year"})
        if not data.get("guardian_consent"):
            raise Unprocessable("guardian_consent_required", "登记儿童信息需要监护人单独同意《儿童个人信息保护规则》")
        _check_child_age(int(data["birth_year"]))
        member.consent_by_user_id = user.id
        member.consent_at = now
    return member


async def add_member(session: AsyncSession, user: User, household_id: int, data: dict[str, Any]) -> Member:
    """The head (or staff) adds a member without a WeChat account. A child needs a birth year
    and the guardian's separate consent, recorded with who gave it and when."""
    household = await household_of(session, household_id)
    await _require_head_or_staff(session, user, household)
    member = _new_member(household, user, data)
    session.add(member)
    await session.flush()
    return member


def address_text(household: Household) -> str:
    """How staff read an address: 3栋2单元501."""
    return f"{household.building}{household.unit}{household.room}"


async def register_household(
    session: AsyncSession, user: User, community_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Staff register a household at the desk (代办): an address new to the community, its
    members (the first is the head: an adult or an elder), none with a WeChat account, and a
    contact phone sealed at rest. A child is kept as for any household: a name, a birth year and
    the guardian's consent, recorded by the staff member who took it. An address that already
    has a household is a 409 naming it: members are added to that one instead. Someone who later
    joins at this address with WeChat waits for staff to approve them, as at any address."""
    await require_staff(session, user, community_id)
    people = data["members"]
    if not people:
        raise invalid_field("members", "至少登记一位成员（第一位为户主）", kind="members_required")
    if people[0]["kind"] == "child":
        raise invalid_field("members", "第一位成员是户主，应为成人或老人", kind="head_is_child")
    _check_parts(data)
    number = data.get("contact_phone") or None
    if number is not None:
        number = phones.normalise(number)
    created, household = await _household_at(session, community_id, data)
    if not created:
        raise Conflict(
            "household_exists",
            f"该门牌已登记为一户（{address_text(household)}），请在该户档案中添加成员",
            details={"household_id": household.id},
        )
    for n, person in enumerate(people):
        try:
            member = _new_member(household, user, person, is_head=n == 0)
        except Unprocessable as exc:  # say which member
            exc.details = {**(exc.details or {}), "member": n + 1}
            exc.message = f"第{n + 1}位成员：{exc.message}"
            raise
        session.add(member)
    await session.flush()
    await phones.set_contact_phone(session, household, number)
    view = await _household_view(session, household, user, show_pending=True)
    view["contact_phone"] = (await phones.masked(session, [household.id])).get(household.id)
    return view


async def set_contact_phone(session: AsyncSession, user: User, household_id: int, number: str | None) -> Household:
    """Staff record (or with an empty number, remove) the household's contact phone, sealed."""
    household = await household_of(session, household_id)
    await require_staff(session, user, household.community_id)
    await phones.set_contact_phone(session, household, number or None)
    return household


async def _member(session: AsyncSession, member_id: int) -> tuple[Member, Household]:
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound("member_not_found", "找不到该成员")
    return member, await household_of(session, member.household_id)


async def update_member(
    session: AsyncSession, user: User, member_id: int, fields: dict[str, Any], household_id: int | None = None
) -> Member:
    """The head or staff edit anyone in the household; an adult may edit their own name. With
    `household_id` (a page of that household), a member of another household is not found."""
    member, household = await _member(session, member_id)
    if household_id is not None and member.household_id != household_id:
        raise NotFound("member_not_found", "找不到该成员")
    if member.user_id != user.id:
        await _require_head_or_staff(session, user, household)
    elif member.status != "active":
        raise NotFound("member_not_found", "找不到该成员")
    if "birth_year" in fields and member.kind == "child":
        if fields["birth_year"] is None:
            raise Unprocessable("child_birth_year_required", "儿童需要出生年份", details={"field": "birth_year"})
        _check_child_age(int(fields["birth_year"]))  # as when the child was added
    for name, value in fields.items():
        if value is not None or name in ("birth_year", "gender"):  # a name is never cleared: null leaves it
            setattr(member, name, value.strip() if isinstance(value, str) else value)
    await session.flush()
    return member


async def remove_member(session: AsyncSession, user: User, member_id: int) -> None:
    """The head or staff remove a member; a member may leave. The head stays (a household
    always has one)."""
    member, household = await _member(session, member_id)
    if member.user_id != user.id:
        await _require_head_or_staff(session, user, household)
    if member.is_head:
        raise Conflict("head_cannot_leave", "户主不能退出；请先联系社工变更户主")
    await _delete_member(session, member)


async def _delete_member(session: AsyncSession, member: Member) -> None:
    user_id, community_id = member.user_id, member.community_id
    await session.delete(member)
    await session.flush()
    if user_id is not None:
        await drop_memberships_without_member(session, community_id, user_id)


async def _pending_request(session: AsyncSession, user: User, member_id: int) -> Member:
    member, household = await _member(session, member_id)
    await _require_head_or_staff(session, user, household)
    if member.status != "pending":
        raise Conflict("member_not_pending", "该成员不在待确认状态")
    return member


async def approve_request(session: AsyncSession, user: User, member_id: int) -> Member:
    """The head or staff let a pending person into the household. The first adult let into a
    household without a head (a flat staff imported before anyone joined: `services.flats`)
    becomes its head; of two let in at the same moment, the unique head index keeps one."""
    member = await _pending_request(session, user, member_id)
    member.status = "active"
    member.approved_by_user_id = user.id
    member.approved_at = clock.now()
    await session.flush()
    if member.kind != "child" and not await _has_head(session, member.household_id):
        try:
            async with session.begin_nested():
                await session.execute(update(Member).where(Member.id == member.id).values(is_head=True))
        except IntegrityError:
            pass  # another was made its head at the same moment
        await session.refresh(member)
    return member


async def _has_head(session: AsyncSession, household_id: int) -> bool:
    found = await session.execute(select(Member.id).where(Member.household_id == household_id, Member.is_head).limit(1))
    return found.first() is not None


async def reject_request(session: AsyncSession, user: User, member_id: int) -> None:
    """The head or staff turn a pending request down; the person may join elsewhere."""
    await _delete_member(session, await _pending_request(session, user, member_id))


async def list_households(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    building: str | None,
    pending_only: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Staff browse the community's households (one file per household), by id."""
    await require_staff(session, user, community_id)
    member_count = func.count(case((Member.status == "active", 1)))
    pending_count = func.count(case((Member.status == "pending", 1)))
    query = (
        select(Household, member_count.label("members"), pending_count.label("pending"))
        .outerjoin(Member, Member.household_id == Household.id)
        .where(Household.community_id == community_id)
        .group_by(Household.id)
        .order_by(Household.id)
        .limit(limit + 1)
    )
    if building:
        query = query.where(Household.address_key.startswith(building_key(building) + "|", autoescape=True))
    if pending_only:
        query = query.having(pending_count > 0)
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(and_(Household.id > cursor_int(after)))
    rows = (await session.execute(query)).all()
    items = [
        {
            "id": h.id,
            "building": h.building,
            "unit": h.unit,
            "room": h.room,
            **flat_view(h),
            "member_count": members,
            "pending_count": pending,
        }
        for h, members, pending in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return items, next_cursor
