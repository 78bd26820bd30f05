"""What a community's staff see at a glance on the console's Today page (今日), and the figures
behind its pictures. Staff and admins of the community only; a handful of grouped queries a page,
whatever the number of activities, loans or posts.

Counted as the services that handle each thing count it:
- today's activities: those overlapping the community's local day, drafts and cancelled ones too
  (marked), with their seats taken of the capacity (confirmed bookings and walk-ins), the seats
  waiting on the waitlist, and the attendees checked in;
- join requests: household members still `pending` (the head or staff approve them,
  `households.approve_request`);
- posts waiting for review: `review` (a check was unsure, or reports took it out of sight) or
  visible with reports, as in `feed.posts.moderation_queue`; comments: `review`;
- service records to review: `pending`, and of them those past their review date, as in
  `volunteers.records.to_review`;
- overdue books: loans not returned whose due time has passed (`library.desk.overdue`);
- holds on the shelf: `ready` holds, a copy kept for someone (`library.desk.hold_shelf`), and of
  them those whose last day to collect is today;
- the spaces: today's opening hours by the weekly rule, closures covering today and those in the
  next week, whether the space is open now and when it next opens;
- per week (community time, weeks start on Monday), of the published activities that started in
  it, up to now: seats booked (the loop's "booked": confirmed bookings, walk-ins included),
  attendees checked in, and attendees marked as no-shows (the worker marks them once an
  activity's check-in has closed, and not at all where nobody was checked in).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, Subquery, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    Booking,
    BookingAttendee,
    Comment,
    Community,
    Hold,
    Loan,
    Member,
    Post,
    ServiceRecord,
    Space,
    SpaceClosure,
    User,
)
from api.schemas.communities import WEEKDAYS
from api.services.access import require_staff
from api.services.activities import planning
from api.services.communities import is_open, next_opening
from api.services.feed import loop

TODAY_ACTIVITIES = 50  # more than a day ever holds; the activities page lists everything
SPACES = 50
CLOSURES_AHEAD = timedelta(days=7)
MAX_WEEKS = 52


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(day, time(0), tz), datetime.combine(day + timedelta(days=1), time(0), tz)


async def today(session: AsyncSession, user: User, community_id: int, weeks: int = 12) -> dict[str, Any]:
    """The Today page: the day (community time), its activities with their counts, what waits for
    staff, the spaces' hours and closures, and the last `weeks` weeks' attendance (see the module
    docstring for each rule)."""
    community = await require_staff(session, user, community_id)
    tz = ZoneInfo(community.timezone)
    now = clock.now()
    day = now.astimezone(tz).date()
    activities, more = await _activities_of(session, community.id, day, tz, now)
    return {
        "day": day,
        "activities": activities,
        "more_activities": more,
        "waiting": await _waiting(session, community.id, day, tz, now),
        "spaces": await _spaces(session, community, day, now),
        "weeks": await _weeks(session, community, weeks, now),
    }


def _seats_by_activity(ids: Select[int], status: str) -> Subquery:
    """Per activity of `ids`, the seats of its bookings in `status` (columns activity_id, seats)."""
    return (
        select(Booking.activity_id.label("activity_id"), func.sum(Booking.seats).label("seats"))
        .where(Booking.activity_id.in_(ids), Booking.status == status)
        .group_by(Booking.activity_id)
        .subquery()
    )


async def _activities_of(
    session: AsyncSession, community_id: int, day: date, tz: ZoneInfo, now: datetime
) -> tuple[list[dict[str, Any]], bool]:
    start, end = _day_bounds(day, tz)
    of_day = and_(Activity.community_id == community_id, Activity.start_at < end, Activity.end_at > start)
    ids = select(Activity.id).where(of_day)
    waitlisted = _seats_by_activity(ids, "waitlisted")
    checked_in = (
        select(BookingAttendee.activity_id.label("activity_id"), func.count().label("people"))
        .where(BookingAttendee.activity_id.in_(ids), BookingAttendee.checked_in_at.is_not(None))
        .group_by(BookingAttendee.activity_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(
                Activity,
                Space.name,
                func.coalesce(waitlisted.c.seats, 0),
                func.coalesce(checked_in.c.people, 0),
            )
            .outerjoin(Space, Space.id == Activity.space_id)
            .outerjoin(waitlisted, waitlisted.c.activity_id == Activity.id)
            .outerjoin(checked_in, checked_in.c.activity_id == Activity.id)
            .where(of_day)
            .order_by(Activity.start_at, Activity.id)
            .limit(TODAY_ACTIVITIES + 1)
        )
    ).all()
    items = [
        {
            "id": activity.id,
            "title": activity.title,
            "status": activity.status,
            "place": f"{space_name or ''} {activity.location}".strip(),
            "start_at": activity.start_at,
            "end_at": activity.end_at,
            "capacity": activity.capacity,
            "taken": activity.taken,
            "waitlisted": int(waiting),
            "checked_in": int(people),
            "checkin_open": activity.status == "published"
            and activity.checkin_opens_at <= now < activity.checkin_closes_at,
            "finished": activity.end_at <= now,
        }
        for activity, space_name, waiting, people in rows[:TODAY_ACTIVITIES]
    ]
    return items, len(rows) > TODAY_ACTIVITIES


async def _waiting(session: AsyncSession, community_id: int, day: date, tz: ZoneInfo, now: datetime) -> dict[str, int]:
    """Every count of what waits for staff, in one statement."""
    _, end_of_day = _day_bounds(day, tz)

    def count(*where: Any, of: Any) -> Any:
        return select(func.count(of)).where(*where).scalar_subquery()

    waiting_post = or_(Post.status == "review", and_(Post.status == "visible", Post.report_count > 0))
    record_pending = and_(ServiceRecord.community_id == community_id, ServiceRecord.status == "pending")
    on_shelf = and_(Hold.community_id == community_id, Hold.status == "ready")
    row = (
        await session.execute(
            select(
                count(Member.community_id == community_id, Member.status == "pending", of=Member.id),
                count(Post.community_id == community_id, waiting_post, of=Post.id),
                select(func.count(Comment.id))
                .join(Post, Post.id == Comment.post_id)
                .where(Post.community_id == community_id, Comment.status == "review")
                .scalar_subquery(),
                count(record_pending, of=ServiceRecord.id),
                count(record_pending, ServiceRecord.review_by < day, of=ServiceRecord.id),
                count(Loan.community_id == community_id, Loan.returned_at.is_(None), Loan.due_at <= now, of=Loan.id),
                count(on_shelf, of=Hold.id),
                # the last day to collect is the day before expires_at (midnight, community time)
                count(on_shelf, Hold.expires_at <= end_of_day, of=Hold.id),
            )
        )
    ).one()
    names = (
        "join_requests",
        "posts",
        "comments",
        "records",
        "records_overdue",
        "overdue_loans",
        "holds_ready",
        "holds_last_day",
    )
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


async def _spaces(session: AsyncSession, community: Community, day: date, now: datetime) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(Space, SpaceClosure)
            .outerjoin(
                SpaceClosure,
                and_(
                    SpaceClosure.space_id == Space.id,
                    SpaceClosure.ends_on >= day,
                    SpaceClosure.starts_on <= day + CLOSURES_AHEAD,
                ),
            )
            .where(Space.community_id == community.id)
            .order_by(Space.id, SpaceClosure.starts_on, SpaceClosure.id)
        )
    ).all()
    spaces: dict[int, tuple[Space, list[SpaceClosure]]] = {}
    for space, closure in rows:
        if space.id not in spaces and len(spaces) >= SPACES:
            break
        entry = spaces.setdefault(space.id, (space, []))
        if closure is not None:
            entry[1].append(closure)
    result = []
    for space, closures in spaces.values():
        today_closures = [c for c in closures if c.starts_on <= day <= c.ends_on]
        open_now = is_open(community, space, closures, now)
        result.append(
            {
                "id": space.id,
                "name": space.name,
                "hours": []
                if today_closures
                else [tuple(pair) for pair in space.opening_hours.get(WEEKDAYS[day.weekday()], [])],
                "closed_today": [
                    {"reason": c.reason, "starts_on": c.starts_on, "ends_on": c.ends_on} for c in today_closures
                ],
                "closures_ahead": [
                    {"reason": c.reason, "starts_on": c.starts_on, "ends_on": c.ends_on}
                    for c in closures
                    if c.starts_on > day
                ],
                "open_now": open_now,
                "next_opening": None if open_now else next_opening(community, space, closures, now, days=7),
            }
        )
    return result


async def _weeks(session: AsyncSession, community: Community, weeks: int, now: datetime) -> list[dict[str, Any]]:
    """The last `weeks` weeks (community time, Monday start; the last is the current week, up to
    now), oldest first: per week the published activities that started in it, their booked seats,
    attendees checked in and no-shows (see the module docstring). One query; the weeks are counted
    in Python, because local dates in SQL differ between the engines."""
    weeks = max(1, min(weeks, MAX_WEEKS))
    tz = ZoneInfo(community.timezone)
    this_week = planning.monday_of(now.astimezone(tz).date())
    first = this_week - timedelta(weeks=weeks - 1)
    held = and_(
        Activity.community_id == community.id,
        Activity.status == "published",
        Activity.start_at >= datetime.combine(first, time(0), tz),
        Activity.start_at <= now,
    )
    ids = select(Activity.id).where(held)
    booked = _seats_by_activity(ids, "confirmed")
    people = (
        select(
            BookingAttendee.activity_id.label("activity_id"),
            func.count(BookingAttendee.checked_in_at).label("attended"),
            func.sum(case((BookingAttendee.no_show, 1), else_=0), type_=Integer).label("no_shows"),
        )
        .where(BookingAttendee.activity_id.in_(ids))
        .group_by(BookingAttendee.activity_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Activity.start_at,
            func.coalesce(booked.c.seats, 0),
            func.coalesce(people.c.attended, 0),
            func.coalesce(people.c.no_shows, 0),
        )
        .outerjoin(booked, booked.c.activity_id == Activity.id)
        .outerjoin(people, people.c.activity_id == Activity.id)
        .where(held)
    )
    result: list[dict[str, Any]] = [
        {
            "week_start": first + timedelta(weeks=n),
            "current": n == weeks - 1,
            "activities": 0,
            "booked": 0,
            "attended": 0,
            "no_shows": 0,
        }
        for n in range(weeks)
    ]
    for start_at, seats, attended, no_shows in rows.all():
        index = (planning.monday_of(start_at.astimezone(tz).date()) - first).days // 7
        week = result[index]
        week["activities"] += 1
        week["booked"] += int(seats)
        week["attended"] += int(attended)
        week["no_shows"] += int(no_shows or 0)
    return result


async def activity_funnel(session: AsyncSession, user: User, community_id: int, activity_id: int) -> dict[str, Any]:
    """An activity's loop for the console (the figures of `feed.loop.activity_loop`): staff of the
    community only; an activity of another community does not exist here (404)."""
    activity = await planning.community_activity(session, user, community_id, activity_id)
    figures = await loop.activity_loop(session, user, activity.id)
    return {**figures, "status": activity.status, "start_at": activity.start_at, "end_at": activity.end_at}
