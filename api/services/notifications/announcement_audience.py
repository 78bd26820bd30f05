"""Who an announcement is for: its audience as staff choose it (the whole community, buildings,
households with children of an age range, a team, those booked for an activity), the recipients
it is fanned out to as the audience stands at publishing (`recipients_of`, also the reach shown
before publishing), and what about a reader decides which announcements reach them (`reader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, delete, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.db.models import (
    Activity,
    Announcement,
    AnnouncementBuilding,
    Booking,
    Community,
    Household,
    Member,
    Team,
    TeamMember,
    User,
)
from api.errors import Unprocessable, invalid_field
from api.services.access import RANK, require_member, role_in
from api.services.households import PART_MAX, PART_TOO_LONG, building_key


@dataclass(frozen=True)
class Target:
    """An audience in the queryable form the fan-out reaches it by: its kind, the building keys,
    the children's birth-year range, the team or the activity. Made from the audience as entered
    (`resolve_audience`), stored with the announcement, or computed without saving anything (the
    console's reach before publishing)."""

    community_id: int
    kind: str
    building_keys: tuple[str, ...] = ()
    birth_years: tuple[int | None, int | None] = (None, None)
    team_id: int | None = None
    activity_id: int | None = None


async def resolve_audience(
    session: AsyncSession, community_id: int, publish_at: datetime, audience: dict[str, Any]
) -> Target:
    """The audience as entered, checked (a team or activity of this community) and resolved."""
    kind = audience["kind"]
    years: tuple[int | None, int | None] = (None, None)
    team_id: int | None = None
    activity_id: int | None = None
    keys: list[str] = []
    if kind == "buildings":
        given = [building_key(b) for b in audience["buildings"]]
        for index, key in enumerate(given):  # NFKC can lengthen "㍿"
            if len(key) > PART_MAX:
                raise invalid_field(f"audience.buildings[{index}]", PART_TOO_LONG, kind="string_too_long")
        keys = sorted(set(given))
    elif kind == "children":
        community = await session.get(Community, community_id)
        assert community is not None
        # ages by year of birth, in the year the announcement goes out
        year = publish_at.astimezone(ZoneInfo(community.timezone)).year
        years = (year - int(audience["max_age"]), year - int(audience["min_age"]))
    elif kind == "team":
        team = await session.get(Team, int(audience["team_id"]))
        if team is None or team.community_id != community_id:
            raise Unprocessable("team_not_found", "本社区没有这个团队", details={"team_id": audience["team_id"]})
        team_id = team.id
    elif kind == "activity":
        activity = await session.get(Activity, int(audience["activity_id"]))
        if activity is None or activity.community_id != community_id:
            raise Unprocessable(
                "activity_not_found", "本社区没有这个活动", details={"activity_id": audience["activity_id"]}
            )
        activity_id = activity.id
    return Target(community_id, kind, tuple(keys), years, team_id, activity_id)


async def _apply_audience(session: AsyncSession, announcement: Announcement, audience: dict[str, Any]) -> None:
    """Store the audience as entered and in the queryable form the listing and fan-out use."""
    target = await resolve_audience(session, announcement.community_id, announcement.publish_at, audience)
    announcement.audience = audience
    announcement.audience_kind = target.kind
    announcement.child_birth_year_min, announcement.child_birth_year_max = target.birth_years
    announcement.team_id = target.team_id
    announcement.activity_id = target.activity_id
    await session.execute(delete(AnnouncementBuilding).where(AnnouncementBuilding.announcement_id == announcement.id))
    session.add_all(AnnouncementBuilding(announcement_id=announcement.id, building_key=k) for k in target.building_keys)
    await session.flush()


async def _stored_target(session: AsyncSession, announcement: Announcement) -> Target:
    keys: tuple[str, ...] = ()
    if announcement.audience_kind == "buildings":
        keys = tuple(
            (
                await session.execute(
                    select(AnnouncementBuilding.building_key).where(
                        AnnouncementBuilding.announcement_id == announcement.id
                    )
                )
            ).scalars()
        )
    return Target(
        announcement.community_id,
        announcement.audience_kind,
        keys,
        (announcement.child_birth_year_min, announcement.child_birth_year_max),
        announcement.team_id,
        announcement.activity_id,
    )


def recipients_of(target: Target) -> Select[Any]:
    """The users an audience reaches, as a query of user ids (one row each): the one rule the
    fan-out and the console's reach share."""
    if target.kind == "activity":
        # the residents with WeChat in the households holding a confirmed booking
        booked = select(Booking.household_id).where(
            Booking.activity_id == target.activity_id, Booking.status == "confirmed"
        )
        return select(Member.user_id.label("user_id")).where(
            Member.household_id.in_(booked), Member.status == "active", Member.user_id.is_not(None)
        )
    if target.kind == "team":
        return (
            select(TeamMember.user_id.label("user_id"))
            .join(Team, Team.id == TeamMember.team_id)
            .where(
                TeamMember.team_id == target.team_id,
                TeamMember.status == "active",
                Team.community_id == target.community_id,
            )
        )
    # residents with a WeChat account, approved into a household of the community
    query = select(Member.user_id.label("user_id")).where(
        Member.community_id == target.community_id, Member.status == "active", Member.user_id.is_not(None)
    )
    if target.kind == "buildings":
        query = query.join(Household, Household.id == Member.household_id).where(
            or_(
                false(), *(Household.address_key.startswith(key + "|", autoescape=True) for key in target.building_keys)
            )
        )
    elif target.kind == "children":
        child = aliased(Member)
        low, high = target.birth_years
        query = query.where(
            Member.household_id.in_(
                select(child.household_id).where(
                    child.community_id == target.community_id,
                    child.kind == "child",
                    child.status == "active",
                    child.birth_year.between(low, high),
                )
            )
        )
    return query


async def _recipients(session: AsyncSession, announcement: Announcement) -> Select[Any]:
    """The users the announcement is addressed to, as a query of user ids (one row each)."""
    return recipients_of(await _stored_target(session, announcement))


@dataclass(frozen=True)
class Reader:
    """What decides which announcements a person is in the audience of."""

    user_id: int
    is_staff: bool
    building_key: str | None
    child_birth_years: frozenset[int]
    team_ids: frozenset[int]
    activity_ids: frozenset[int]

    def addressed(self) -> ColumnElement[bool]:
        """SQL: the announcement is addressed to this reader."""
        clauses: list[ColumnElement[bool]] = [Announcement.audience_kind == "community"]
        if self.building_key is not None:
            clauses.append(
                and_(
                    Announcement.audience_kind == "buildings",
                    exists().where(
                        AnnouncementBuilding.announcement_id == Announcement.id,
                        AnnouncementBuilding.building_key == self.building_key,
                    ),
                )
            )
        for year in sorted(self.child_birth_years):
            clauses.append(
                and_(
                    Announcement.audience_kind == "children",
                    Announcement.child_birth_year_min <= year,
                    Announcement.child_birth_year_max >= year,
                )
            )
        if self.team_ids:
            clauses.append(and_(Announcement.audience_kind == "team", Announcement.team_id.in_(self.team_ids)))
        if self.activity_ids:
            clauses.append(
                and_(Announcement.audience_kind == "activity", Announcement.activity_id.in_(self.activity_ids))
            )
        return or_(*clauses)


async def reader(session: AsyncSession, user: User, community_id: int) -> Reader:
    """The caller as a reader in the community (a member or staff; others are refused)."""
    await require_member(session, user, community_id)
    role = await role_in(session, user, community_id)
    member = (
        await session.execute(
            select(Member).where(
                Member.community_id == community_id, Member.user_id == user.id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()
    building: str | None = None
    years: frozenset[int] = frozenset()
    activities: frozenset[int] = frozenset()
    if member is not None:
        household = await session.get(Household, member.household_id)
        assert household is not None
        building = household.address_key.split("|")[0]
        births = await session.execute(
            select(Member.birth_year).where(
                Member.household_id == member.household_id,
                Member.kind == "child",
                Member.status == "active",
                Member.birth_year.is_not(None),
            )
        )
        years = frozenset(year for year in births.scalars() if year is not None)
        booked = await session.execute(
            select(Booking.activity_id).where(
                Booking.household_id == member.household_id, Booking.status == "confirmed"
            )
        )
        activities = frozenset(booked.scalars())
    teams = frozenset(
        (
            await session.execute(
                select(TeamMember.team_id)
                .join(Team, Team.id == TeamMember.team_id)
                .where(TeamMember.user_id == user.id, TeamMember.status == "active", Team.community_id == community_id)
            )
        ).scalars()
    )
    return Reader(user.id, role is not None and RANK[role] >= RANK["staff"], building, years, teams, activities)
