"""What the activity services share: loading and locking an activity, its place, the caller's
household, the community's policy, and the notifications every booking change sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, ActivityPolicy, Booking, Community, Member, Space, User
from api.errors import NotFound
from api.services.access import RANK, role_in
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


async def is_staff(session: AsyncSession, user: User, community_id: int) -> bool:
    role = await role_in(session, user, community_id)
    return role is not None and RANK[role] >= RANK["staff"]


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
    if activity.space_id is not None:
        space = await session.get(Space, activity.space_id)
        if space is not None:
            return f"{space.name} {activity.location}".strip()
    return activity.location


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


def local_text(at: datetime, tz: ZoneInfo) -> str:
    """A time as residents read it: 11月28日 09:30, community time."""
    local = at.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def age_in(birth_year: int, at: datetime, tz: ZoneInfo) -> int:
    """Age by year of birth (all Linli keeps of a child), in the year of `at` where the community is."""
    return at.astimezone(tz).year - birth_year


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


async def schedule_reminder(
    session: AsyncSession,
    activity: Activity,
    booking: Booking,
    *,
    rules: Policy | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Remind the booker `reminder_hours` before the start, if that is still ahead."""
    if booking.booked_by is None:
        return
    hours = (rules or await policy(session, activity.community_id)).reminder_hours
    at = activity.start_at - timedelta(hours=hours)
    if hours == 0 or at <= clock.now():
        return
    await schedule(
        session,
        at,
        [booking.booked_by],
        "activity.reminder",
        params or await activity_params(session, activity),
        reminder_key(booking.id, activity.start_at),
        community_id=activity.community_id,
    )


async def cancel_reminder(session: AsyncSession, activity: Activity, booking: Booking) -> None:
    await cancel_scheduled(session, reminder_key(booking.id, activity.start_at))
