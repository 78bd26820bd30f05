"""A meeting's participants (by party) and its agenda, both kept by staff.

Participants may be added and removed until the meeting is held; one with an account of the
community checks in by scanning the meeting's on-site code and hears of the meeting (one added
after the agenda was published hears of it at once). Residents' representatives are residents of
the community, chosen by staff.

Agenda items are written by staff, or placed automatically from level-3 concerns
(`common.place_on_agenda`); they may be edited, removed and reordered until the meeting is held.
Taking a concern's item off says so on the concern's timeline, and the concern waits again: the next
five-party meeting created takes it up. Each item's minutes are written once the meeting was
held, until the minutes are published.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import AgendaItem, CommunityMembership, Household, MeetingParticipant, Member, User
from api.errors import Conflict, NotFound, Unprocessable, invalid_field
from api.services.governance.meetings import (
    UPCOMING,
    agenda_of,
    agenda_view,
    agenda_views,
    community_staff,
    is_public,
    participant_view,
    requeue_concern,
    require_status,
    staff_meeting,
    taken_off_draft,
    tell_of_agenda,
)

NAME_MAX = 32
ACCOUNT_SEARCH_LIMIT = 20


async def account_name(session: AsyncSession, user_id: int, community_id: int) -> tuple[str, bool] | None:
    """The name an account goes by in the community (its member record's, else its own) and whether
    it is a resident there (an active member record); None if it is not of the community at all."""
    member = (
        await session.execute(
            select(Member.display_name)
            .where(Member.community_id == community_id, Member.user_id == user_id, Member.status == "active")
            .limit(1)
        )
    ).scalar_one_or_none()
    role = (
        await session.execute(
            select(CommunityMembership.role).where(
                CommunityMembership.community_id == community_id, CommunityMembership.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    if member is None and role is None:
        return None
    account = await session.get(User, user_id)
    name = member or (account.display_name if account is not None else "") or ("社工" if role else "居民")
    return name[:NAME_MAX], member is not None


async def account_choices(
    session: AsyncSession, user: User, community_id: int, query: str, *, limit: int = ACCOUNT_SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Staff look up the accounts of the community to name a participant or a follow-up's owner by
    (what `add_participant` and `follow_ups` take as `user_id` / `owner_user_id`): up to `limit`
    residents with an account whose name or address (building, unit, room) contains `query`, then
    the community's staff whose name does. Each with the name it goes by there, whether it is a
    resident (a residents' representative must be) and, for a resident, the address."""
    await community_staff(session, user, community_id)
    text = query.strip()
    if not text:
        return []
    address = Household.building + Household.unit + Household.room
    residents = (
        await session.execute(
            select(Member.user_id, Member.display_name, Household.building, Household.unit, Household.room)
            .join(Household, Household.id == Member.household_id)
            .where(
                Member.community_id == community_id,
                Member.status == "active",
                Member.user_id.is_not(None),
                or_(Member.display_name.contains(text, autoescape=True), address.contains(text, autoescape=True)),
            )
            .order_by(Household.building, Household.unit, Household.room, Member.id)
            .limit(limit)
        )
    ).all()
    found: list[dict[str, Any]] = [
        {
            "user_id": user_id,
            "name": name[:NAME_MAX],
            "resident": True,
            "address": " ".join(part for part in (building, unit, room) if part),
        }
        for user_id, name, building, unit, room in residents
    ]
    seen = {entry["user_id"] for entry in found}
    if len(found) < limit:
        staff = (
            await session.execute(
                select(User.id, User.display_name)
                .join(CommunityMembership, CommunityMembership.user_id == User.id)
                .where(
                    CommunityMembership.community_id == community_id,
                    CommunityMembership.role.in_(("staff", "admin")),
                    User.display_name.contains(text, autoescape=True),
                )
                .order_by(User.id)
                .limit(limit)
            )
        ).all()
        for user_id, name in staff:
            if user_id not in seen and len(found) < limit:
                found.append(
                    {"user_id": user_id, "name": (name or "社工")[:NAME_MAX], "resident": False, "address": ""}
                )
    return found


# -- participants --------------------------------------------------------------------------------


async def add_participant(session: AsyncSession, user: User, meeting_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A participant of a party, with a name and role, and the account of the community they use
    (optional; its name is used when none is given). A residents' representative with an account is
    a resident of the community. Each account takes part once."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, UPCOMING, "更改参会人员", code="meeting_locked")
    name = data.get("name") or ""
    user_id = data.get("user_id")
    if user_id is not None:
        found = await account_name(session, user_id, meeting.community_id)
        if found is None:
            raise invalid_field("user_id", "不是本社区的账号", kind="account_not_in_community")
        if data["party"] == "resident_rep" and not found[1]:
            raise invalid_field("user_id", "居民代表应为本社区的居民", kind="not_a_resident")
        name = name or found[0]
    if not name:
        raise invalid_field("name", "请填写参会人的姓名", kind="missing")
    participant = MeetingParticipant(
        meeting_id=meeting.id, party=data["party"], name=name, role=data.get("role") or "", user_id=user_id
    )
    if user_id is not None:
        taken = (
            await session.execute(
                select(MeetingParticipant.id).where(
                    MeetingParticipant.meeting_id == meeting.id, MeetingParticipant.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if taken is not None:
            raise Conflict("participant_exists", "这位已经在参会名单上了", details={"participant_id": taken})
    session.add(participant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the same account added twice at once
        raise Conflict("participant_exists", "这位已经在参会名单上了") from exc
    if meeting.status == "agenda_published" and user_id is not None:
        await tell_of_agenda(session, meeting, [user_id])
    return participant_view(participant, True)


async def remove_participant(session: AsyncSession, user: User, meeting_id: int, participant_id: int) -> None:
    meeting = await staff_meeting(session, user, meeting_id)
    participant = await session.get(MeetingParticipant, participant_id)
    if participant is None or participant.meeting_id != meeting.id:
        raise NotFound("participant_not_found", "参会名单上没有这位")
    require_status(meeting, UPCOMING, "更改参会人员", code="meeting_locked")
    await session.execute(delete(MeetingParticipant).where(MeetingParticipant.id == participant.id))
    session.expunge(participant)


# -- agenda --------------------------------------------------------------------------------------


async def _item(session: AsyncSession, meeting_id: int, item_id: int) -> AgendaItem:
    item = await session.get(AgendaItem, item_id, populate_existing=True)
    if item is None or item.meeting_id != meeting_id:
        raise NotFound("agenda_item_not_found", "议程上没有这个议题")
    return item


async def add_item(session: AsyncSession, user: User, meeting_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """An item staff write, at the end of the agenda."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, UPCOMING, "更改议程", code="meeting_locked")
    items = await agenda_of(session, meeting.id)
    item = AgendaItem(
        meeting_id=meeting.id,
        position=max((i.position for i in items), default=-1) + 1,
        title=data["title"],
        body=data.get("body") or "",
        minutes="",
    )
    session.add(item)
    await session.flush()
    return agenda_view(item, True)


async def update_item(
    session: AsyncSession, user: User, meeting_id: int, item_id: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """The title and text until the meeting is held; the item's minutes once it was, until they
    are published."""
    meeting = await staff_meeting(session, user, meeting_id)
    item = await _item(session, meeting.id, item_id)
    if fields.get("title") is not None or fields.get("body") is not None:
        require_status(meeting, UPCOMING, "更改议程", code="meeting_locked")
    if fields.get("minutes") is not None:
        require_status(meeting, ("held",), "写议题纪要（召开后、公布纪要前）", code="meeting_locked")
        item.minutes = fields["minutes"]
    if fields.get("title") is not None:
        item.title = fields["title"]
    if fields.get("body") is not None:
        item.body = fields["body"]
    await session.flush()
    (view,) = await agenda_views(session, [item], staff=True, minutes_visible=True)
    return view


async def remove_item(session: AsyncSession, user: User, meeting_id: int, item_id: int) -> None:
    """Take an item off the agenda. A concern's item: its timeline says it was taken off, and the
    concern waits again for a five-party meeting to be created."""
    meeting = await staff_meeting(session, user, meeting_id)
    item = await _item(session, meeting.id, item_id)
    require_status(meeting, UPCOMING, "更改议程", code="meeting_locked")
    concern_id = item.concern_id
    await session.execute(delete(AgendaItem).where(AgendaItem.id == item.id))
    session.expunge(item)
    if concern_id is not None:
        why = f"已从议事会「{meeting.title}」的议程中撤下" if is_public(meeting) else taken_off_draft(meeting)
        await requeue_concern(session, concern_id, meeting, user, why, carry=False)


async def move_item(
    session: AsyncSession, user: User, meeting_id: int, item_id: int, step: int
) -> list[dict[str, Any]]:
    """Move one item up (`step` -1) or down (+1) the agenda (`reorder` with the two swapped); at
    either end it stays where it is."""
    meeting = await staff_meeting(session, user, meeting_id)
    items = [i.id for i in await agenda_of(session, meeting.id)]
    if item_id not in items:
        raise NotFound("agenda_item_not_found", "议程上没有这个议题")
    at = items.index(item_id)
    to = min(max(at + step, 0), len(items) - 1)
    items[at], items[to] = items[to], items[at]
    return await reorder(session, user, meeting_id, items)


async def reorder(session: AsyncSession, user: User, meeting_id: int, item_ids: list[int]) -> list[dict[str, Any]]:
    """The agenda in the order given: every item of the meeting, each once."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, UPCOMING, "更改议程", code="meeting_locked")
    items = {i.id: i for i in await agenda_of(session, meeting.id)}
    if len(set(item_ids)) != len(item_ids) or set(item_ids) != set(items):
        raise Unprocessable(
            "agenda_order_invalid",
            "请按新的顺序列出本次议程的全部议题，每个一次",
            details={"item_ids": sorted(items)},
        )
    for position, item_id in enumerate(item_ids):
        items[item_id].position = position
    await session.flush()
    return await agenda_views(session, [items[i] for i in item_ids], staff=True, minutes_visible=True)
