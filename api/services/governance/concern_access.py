"""Who sees a concern and how people appear on it.

A concern is its community's: anyone of another community (or nobody's) is told it does not exist
(404), whatever they ask of it. Until its text and photos passed the checks only its raiser and the
community's staff see it. Staff triage; residents asking to are refused (403).

Names: staff see everyone as they are. A resident sees their own name, and other residents as they
chose: a resident who hid their name is 居民, with neither id nor avatar; staff are 社工. A
verdict (and the reopening it may cause) is always shown as 居民: what someone thought of the
result is nobody else's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Concern, Household, User
from api.errors import Forbidden, NotFound
from api.services.access import RANK, get_community, reader_role, require_staff, role_in
from api.services.governance import common
from api.services.households import building_key

RESIDENT = "居民"
STAFF = "社工"
OUTCOMES = ("resolved", "unresolvable", "referred", "duplicate")
# staff's actions on a concern and the states each leaves (writing on its timeline is always possible)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "accept": ("submitted",),
    "level": ("accepted", "in_progress"),
    "start": ("accepted",),
    "resolve": ("accepted", "in_progress"),
    "decline": ("submitted", "accepted", "in_progress"),
    "close": OUTCOMES,
}


def concern_missing() -> NotFound:
    return NotFound("concern_not_found", "找不到这件烦心事")


@dataclass(frozen=True)
class Reader:
    """Who is reading: their id, and whether they are staff of the concern's community."""

    user_id: int
    staff: bool


async def seeable_concern(session: AsyncSession, user: User, concern_id: int) -> tuple[Concern, Reader]:
    """The concern, if the caller may see it: a visible one to anyone of its community (residents
    once their membership is active), the others to their raiser and staff; everyone else 404."""
    concern = await session.get(Concern, concern_id)
    role = await reader_role(session, user, concern.community_id) if concern is not None else None
    if concern is None or role is None:
        raise concern_missing()
    await get_community(session, concern.community_id)  # the answer's times in its zone
    staff = RANK[role] >= RANK["staff"]
    if concern.visibility != "visible" and not staff and concern.raised_by != user.id:
        raise concern_missing()
    return concern, Reader(user.id, staff)


async def community_concern(session: AsyncSession, user: User, community_id: int, concern_id: int) -> Concern:
    """The concern, for staff of `community_id` (others are refused), and only if it is one of
    that community's: another community's is 404 here, as one that does not exist (a console
    page's address names its community; someone serving both does not act on the other's concern
    from this one's pages)."""
    await require_staff(session, user, community_id)
    concern = await session.get(Concern, concern_id)
    if concern is None or concern.community_id != community_id:
        raise concern_missing()
    return concern


async def staff_concern(session: AsyncSession, user: User, concern_id: int, *, lock: bool = True) -> Concern:
    """The concern for staff of its community to act on; its residents are refused (403), anyone
    else is told it does not exist (404). Locked (unless `lock` is false) after the community's
    agenda lock (`common.agenda_lock`), which every change deciding whether a concern is on a
    meeting's agenda takes first: triage, verdicts and moderation here, planning meetings there."""
    found = await session.get(Concern, concern_id)
    if found is None or await reader_role(session, user, found.community_id) is None:
        raise concern_missing()
    await require_staff(session, user, found.community_id)
    if not lock:
        return found
    return await locked_concern(session, found.community_id, concern_id)


async def locked_concern(session: AsyncSession, community_id: int, concern_id: int) -> Concern:
    """The concern of `community_id` (read before without a lock), locked in the lock order: the
    community's agenda lock first, then the concern's row (read again as it is now)."""
    await common.agenda_lock(session, community_id)
    concern = await session.get(Concern, concern_id, with_for_update=True, populate_existing=True)
    if concern is None:
        raise concern_missing()
    return concern


async def community_reader(session: AsyncSession, user: User, community_id: int) -> bool:
    """Whether the caller is staff of the community whose concerns they read (else a resident of
    it). Anyone with no role there is told the community does not exist (404: nothing of another
    community leaks, not even that it exists); a resident whose household has not confirmed them
    yet is refused (403)."""
    await get_community(session, community_id)  # the answer's times in its zone
    role = await role_in(session, user, community_id)
    if role is None:
        raise NotFound("community_not_found", "社区不存在")
    if RANK[role] >= RANK["staff"]:
        return True
    if await reader_role(session, user, community_id) is None:
        raise Forbidden("membership_pending", "入户申请确认后才能看到社区的烦心事")
    return False


async def to_meeting(session: AsyncSession, concern: Concern, actor: User | int | None) -> None:
    """A level-3 concern goes on the agenda of the next five-party meeting, or waits for one (the
    meetings service takes up the waiting ones when a five-party meeting is planned). The caller
    holds the community's agenda lock."""
    meeting = await common.next_five_party_meeting(session, concern.community_id)
    if meeting is not None:
        await common.place_on_agenda(session, concern, meeting, actor)


def person(
    reader: Reader, user_id: int | None, name: str | None, avatar: str | None, *, staff: bool, hidden: bool
) -> dict[str, Any]:
    """Someone (a raiser, a commenter, whoever acted on the timeline) as `reader` may see them."""
    if reader.staff or (user_id is not None and user_id == reader.user_id):
        return {
            "id": user_id,
            "name": name or (STAFF if staff else RESIDENT),
            "avatar_url": avatar,
            "staff": staff,
            "hidden": hidden,
        }
    if staff:
        return {"id": None, "name": STAFF, "avatar_url": None, "staff": True, "hidden": False}
    if hidden:
        return {"id": None, "name": RESIDENT, "avatar_url": None, "staff": False, "hidden": True}
    return {"id": user_id, "name": name or RESIDENT, "avatar_url": avatar, "staff": False, "hidden": False}


async def community_building(session: AsyncSession, community_id: int, text: str) -> str | None:
    """The building `text` names, as the community writes it ("3号楼" is its "3栋" when its first
    household there wrote that); "" for none; None when no household of the community lives in
    such a building."""
    if not text:
        return ""
    key = building_key(text)
    found: str | None = (
        await session.execute(
            select(Household.building)
            .where(Household.community_id == community_id, Household.address_key.startswith(f"{key}|", autoescape=True))
            .order_by(Household.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    return found


def late_condition(now: datetime) -> Any:
    """SQL twin of `common.late(concern, now) is not None`: a clock of the concern has run out (its
    deadline's minute is over)."""
    over = now - common.MINUTE  # late when now >= deadline + a minute
    return or_(
        and_(Concern.status == "submitted", Concern.accept_by <= over),
        and_(Concern.status.in_(("accepted", "in_progress")), Concern.due_at.is_not(None), Concern.due_at <= over),
    )


def late_for_staff(now: datetime) -> Any:
    """The late concerns staff are told of and count: those refused or taken down by moderation
    are left alone (nobody is waiting for them to be answered)."""
    return and_(late_condition(now), Concern.visibility.not_in(("rejected", "hidden")))


def staff_actions(concern: Concern) -> list[str]:
    """What staff may do with the concern now (the console's buttons): the state changes its
    state allows, always an update, and moderation while it is shown, waiting or taken down."""
    actions = [action for action, states in TRANSITIONS.items() if concern.status in states]
    actions.append("updates")
    if concern.visibility in ("review", "visible", "hidden"):
        actions.append("moderate")
    return actions
