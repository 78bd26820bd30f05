"""What the volunteer services share: roles in a team, the community's crediting policy, hours
and working days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, Team, TeamMember, User, VolunteerPolicy
from api.errors import Forbidden, NotFound
from api.services import audit
from api.services.access import get_community, is_staff, require_member, require_staff


async def get_team(session: AsyncSession, team_id: int) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound("team_not_found", "找不到这个团队")
    return team


async def membership(session: AsyncSession, user_id: int, team_id: int) -> TeamMember | None:
    return (
        await session.execute(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id))
    ).scalar_one_or_none()


async def is_leader(session: AsyncSession, user: User, team_id: int) -> bool:
    mine = await membership(session, user.id, team_id)
    return mine is not None and mine.role == "leader" and mine.status == "active"


async def require_leader_or_staff(session: AsyncSession, user: User, team: Team) -> bool:
    """True for staff; leaders of this team pass too; anyone else is refused."""
    if await is_staff(session, user, team.community_id):
        return True
    if await is_leader(session, user, team.id):
        return False
    raise Forbidden("team_leader_only", "只有本团队的队长或社工可以这样做")


DEFAULT_ROUNDING = 15  # minutes


@dataclass(frozen=True)
class Crediting:
    organiser: str
    rounding_minutes: int


async def crediting(session: AsyncSession, community_id: int) -> Crediting:
    row = await session.get(VolunteerPolicy, community_id)
    community: Community = await get_community(session, community_id)
    organiser = (row.organiser if row is not None and row.organiser else "") or community.name
    rounding = row.rounding_minutes if row is not None else DEFAULT_ROUNDING
    return Crediting(organiser=organiser, rounding_minutes=rounding)


async def get_policy(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """How the community credits hours; anyone in it may read it."""
    await require_member(session, user, community_id)
    policy = await crediting(session, community_id)
    return {"organiser": policy.organiser, "rounding_minutes": policy.rounding_minutes}


async def set_policy(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff change how hours are credited from now on; records already made keep their hours."""
    await require_staff(session, user, community_id)
    row = await session.get(VolunteerPolicy, community_id)
    if row is None:
        row = VolunteerPolicy(
            community_id=community_id, organiser="", rounding_minutes=DEFAULT_ROUNDING, updated_at=clock.now()
        )
        session.add(row)
    before = {"organiser": row.organiser, "rounding_minutes": row.rounding_minutes}
    if "organiser" in data:
        row.organiser = data["organiser"].strip()
    if "rounding_minutes" in data:
        row.rounding_minutes = data["rounding_minutes"]
    row.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        user,
        community_id,
        subject="volunteer_policy",
        subject_id=None,
        action="update",
        summary="修改志愿服务规则",
        before=before,
        after={"organiser": row.organiser, "rounding_minutes": row.rounding_minutes},
    )
    return await get_policy(session, user, community_id)


def credited_minutes(start: datetime, end: datetime, checked_in: datetime, checked_out: datetime, unit: int) -> int:
    """The time actually given inside the shift (arriving early or staying on after it is not
    counted, nor is travel), in whole `unit`s of minutes: rounded down, so that a record never
    states more than was given."""
    given = (min(end, checked_out) - max(start, checked_in)).total_seconds() / 60
    if given <= 0:
        return 0
    return int(given // unit) * unit


def working_days_after(day: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `day`. Public holidays are not
    known here; the deadline errs towards the strict side."""
    current = day
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def hours(minutes: int) -> str:
    """Minutes as hours the way a record shows them: 90 → "1.5", 120 → "2"."""
    text = f"{minutes / 60:.2f}".rstrip("0").rstrip(".")
    return text or "0"
