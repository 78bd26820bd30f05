"""What the activity services share: loading and locking an activity, its place, the caller's
household, the community's policy, and the notifications every booking change sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, String, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from api import clock
from api.db.models import Activity, ActivityPolicy, Booking, Community, Member, Space, User
from api.errors import NotFound
from api.services.notifications import cancel_scheduled, schedule

DEFAULT_POLICY = {"no_show_limit": 3, "no_show_window_days": 90, "block_days": 30, "reminder_hours": 24}


async def get_activity(session: AsyncSession, activity_id: int) -> Activity:
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity_not_found", "活动不存在")
    return activity


async def lock_activity(session: AsyncSession, activity_id: int) -> Activity:
    """The activity, re-read under its row lock: every change to its seats and bookings happens
    one transaction at a time, in arrival order (on SQLite the write transaction is the lock)."""
    activity = (
        await session.execute(
            select(Activity)
            .where(Activity.id == activity_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if activity is None:
        raise NotFound("activity_not_found", "活动不存在")
    return activity


def shown_to_residents(activity: Activity) -> bool:
    """Residents and visitors see an activity once it has been published (also after it was
    cancelled, to read why); never a draft, nor one cancelled before it was published."""
    return activity.published_at is not None


async def my_member(session: AsyncSession, user: User, community_id: int) -> Member | None:
    """The caller's approved member record in the community, if any."""
    return (
        await session.execute(
            select(Member).where(
                Member.community_id == community_id, Member.user_id == user.id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()


async def place_of(session: AsyncSession, activity: Activity) -> str:
    space = await session.get(Space, activity.space_id) if activity.space_id is not None else None
    return place_text(space.name if space is not None else None, activity.location)


def place_text(space_name: str | None, location: str) -> str:
    """Where an activity is: its space's name, then the spot within it."""
    return f"{space_name} {location}".strip() if space_name is not None else location


@dataclass(frozen=True)
class Policy:
    no_show_limit: int
    no_show_window_days: int
    block_days: int
    reminder_hours: int


async def policy(session: AsyncSession, community_id: int) -> Policy:
    row = await session.get(ActivityPolicy, community_id)
    if row is None:
        return Policy(**DEFAULT_POLICY)
    return Policy(row.no_show_limit, row.no_show_window_days, row.block_days, row.reminder_hours)


async def community_tz(session: AsyncSession, community_id: int) -> ZoneInfo:
    community = await session.get(Community, community_id)
    return ZoneInfo(community.timezone if community is not None else "Asia/Shanghai")


def age_in(birth_year: int, at: datetime, tz: ZoneInfo) -> int:
    """Age by year of birth (all Linli keeps of a child), in the year of `at` where the community is."""
    return at.astimezone(tz).year - birth_year


# -- which activities suit a household's children ------------------------------------------------

# categories meant for children even without an age range
FOR_CHILDREN = ("children", "parent_child")


class local_year(FunctionElement[int]):
    """The calendar year of a stored (UTC) time where the community is: `age_in` in SQL."""

    type = Integer()
    inherit_cache = True
    name = "local_year"

    def __init__(self, at: SQLColumnExpression[datetime], tz: ZoneInfo) -> None:
        # SQLite has no time zones: the zone's offset on New Year's Day is what decides the year
        offset = tz.utcoffset(datetime(clock.now().year, 1, 1))
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        super().__init__(at, literal(tz.key, String()), literal(f"{minutes:+d} minutes", String()))


@compiles(local_year, "postgresql")
def _local_year_postgresql(element: local_year, compiler: SQLCompiler, **kw: Any) -> str:
    at, zone, _ = element.clauses
    local = f"({compiler.process(at, **kw)}) AT TIME ZONE CAST({compiler.process(zone, **kw)} AS TEXT)"
    return f"CAST(EXTRACT(YEAR FROM {local}) AS INTEGER)"


@compiles(local_year, "sqlite")
def _local_year_sqlite(element: local_year, compiler: SQLCompiler, **kw: Any) -> str:
    at, _, shift = element.clauses
    return f"CAST(strftime('%Y', {compiler.process(at, **kw)}, {compiler.process(shift, **kw)}) AS INTEGER)"


def for_children_of(household_id: SQLColumnExpression[int] | int, tz: ZoneInfo) -> ColumnElement[bool]:
    """The activity suits one of the household's children: its age range admits one of them, by
    year of birth in the year it starts where the community is (the rule booking applies); an
    activity without an age range suits any child if it is meant for children (`FOR_CHILDREN`).
    A household without children has none. One rule for "for my children" and for whom a
    category's new activity is told of."""
    child = aliased(Member)
    age = local_year(Activity.start_at, tz) - child.birth_year
    return and_(
        or_(
            Activity.child_min_age.is_not(None),
            Activity.child_max_age.is_not(None),
            Activity.category.in_(FOR_CHILDREN),
        ),
        exists().where(
            child.household_id == household_id,
            child.kind == "child",
            child.status == "active",
            child.birth_year.is_not(None),
            age >= func.coalesce(Activity.child_min_age, 0),
            or_(Activity.child_max_age.is_(None), age <= Activity.child_max_age),
        ),
    )


# -- notifications of booking changes ------------------------------------------------------------


def reminder_key(booking_id: int, start_at: datetime) -> str:
    # names the start time (in UTC, whatever offset it came with), so a moved activity gets a new
    # reminder rather than a dropped one
    return f"booking:{booking_id}:remind:{start_at.astimezone(UTC).strftime('%Y%m%dT%H%M')}"


async def activity_params(session: AsyncSession, activity: Activity) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "activity_title": activity.title,
        "start_at": activity.start_at,
        "place": await place_of(session, activity) or "社区",
    }


def reminder_at(start_at: datetime, reminder_hours: int, now: datetime) -> datetime | None:
    """When a booking's reminder goes: `reminder_hours` before the start, if that is still ahead
    (None: no reminder; 0 hours turns them off)."""
    at = start_at - timedelta(hours=reminder_hours)
    return at if reminder_hours and at > now else None


async def schedule_reminder(session: AsyncSession, activity: Activity, booking: Booking) -> None:
    """Remind the booker `reminder_hours` before the start, if that is still ahead."""
    if booking.booked_by is None:
        return
    at = reminder_at(activity.start_at, (await policy(session, activity.community_id)).reminder_hours, clock.now())
    if at is None:
        return
    await schedule(
        session,
        at,
        [booking.booked_by],
        "activity.reminder",
        await activity_params(session, activity),
        reminder_key(booking.id, activity.start_at),
        community_id=activity.community_id,
    )


async def cancel_reminder(session: AsyncSession, activity: Activity, booking: Booking) -> None:
    await cancel_scheduled(session, reminder_key(booking.id, activity.start_at))
