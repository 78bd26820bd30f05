"""What staff plan with (the console's activities pages): a community's activities by local week
and by month, every status, with each one's seats, waitlist and check-ins; its series with their
sessions; and the next session of a series, prefilled for staff to adjust. Staff of the community
only; an activity or a series is looked up within the community the page is about."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, BookingAttendee, Series, User
from api.errors import NotFound
from api.schemas.activities import CATEGORY_LABELS
from api.services.access import require_staff
from api.services.activities.browse import _places, _waitlists, status_of
from api.services.activities.common import community_tz

# a month's calendar shows at most this many activities (a community runs a few a day)
MONTH_LIMIT = 600
# the next session of a series keeps the rhythm of its last two; with one session, a week later
DEFAULT_GAP = timedelta(days=7)


async def community_activity(session: AsyncSession, user: User, community_id: int, activity_id: int) -> Activity:
    """The activity, for staff of `community_id` (404 for strangers, 403 for residents), and only
    if it belongs to that community: an activity of another community is 404 here, as one that
    does not exist (a page's address names its community)."""
    await require_staff(session, user, community_id)
    activity = await session.get(Activity, activity_id)
    if activity is None or activity.community_id != community_id:
        raise NotFound("activity_not_found", "活动不存在")
    return activity


async def community_series(session: AsyncSession, user: User, community_id: int, series_id: int) -> Series:
    """The series, for staff of `community_id`, if it is one of that community's (else 404)."""
    await require_staff(session, user, community_id)
    series = await session.get(Series, series_id)
    if series is None or series.community_id != community_id:
        raise NotFound("series_not_found", "系列不存在")
    return series


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def today(session: AsyncSession, community_id: int) -> date:
    """The community's local date now."""
    return clock.now().astimezone(await community_tz(session, community_id)).date()


async def _checked_in(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(BookingAttendee.activity_id, func.count())
        .where(
            BookingAttendee.activity_id.in_(ids),
            BookingAttendee.active,
            BookingAttendee.checked_in_at.is_not(None),
        )
        .group_by(BookingAttendee.activity_id)
    )
    return {activity_id: count for activity_id, count in rows.all()}


async def _rows(session: AsyncSession, activities: list[Activity]) -> list[dict[str, Any]]:
    """Staff's list items: four queries whatever their number (places, waitlists, check-ins,
    series titles)."""
    now = clock.now()
    ids = [a.id for a in activities]
    places = await _places(session, activities)
    waitlists = await _waitlists(session, ids)
    checked_in = await _checked_in(session, ids)
    series_ids = {a.series_id for a in activities if a.series_id is not None}
    titles: dict[int, str] = {}
    if series_ids:
        found = await session.execute(select(Series.id, Series.title).where(Series.id.in_(series_ids)))
        titles = {series_id: title for series_id, title in found.all()}
    return [
        {
            "id": a.id,
            "title": a.title,
            "category": a.category,
            "category_label": CATEGORY_LABELS.get(a.category, a.category),  # type: ignore[call-overload]
            "start_at": a.start_at,
            "end_at": a.end_at,
            "place": places[a.id],
            "status": status_of(a, now),
            "capacity": a.capacity,
            "taken": a.taken,
            "waitlist": waitlists.get(a.id, 0),
            "checked_in": checked_in.get(a.id, 0),
            "series_id": a.series_id,
            "series_title": titles.get(a.series_id) if a.series_id is not None else None,
        }
        for a in activities
    ]


async def week(
    session: AsyncSession, user: User, community_id: int, monday: date, *, offset: int, limit: int
) -> dict[str, Any]:
    """The activities starting in the community's local week from `monday` (drafts, published,
    finished and cancelled alike), by start time, `limit` of them from `offset`, with the total;
    each with its seats taken, waitlisted bookings and people checked in."""
    await require_staff(session, user, community_id)
    tz = await community_tz(session, community_id)
    monday = monday_of(monday)
    start = datetime.combine(monday, time(0), tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tz)
    in_week = (Activity.community_id == community_id, Activity.start_at >= start, Activity.start_at < end)
    total = (await session.execute(select(func.count()).select_from(Activity).where(*in_week))).scalar_one()
    activities = list(
        (
            await session.execute(
                select(Activity).where(*in_week).order_by(Activity.start_at, Activity.id).offset(offset).limit(limit)
            )
        ).scalars()
    )
    return {
        "monday": monday,
        "sunday": monday + timedelta(days=6),
        "items": await _rows(session, activities),
        "total": int(total),
        "offset": offset,
        "limit": limit,
    }


async def month(session: AsyncSession, user: User, community_id: int, year: int, month: int) -> dict[str, Any]:
    """A month's calendar in the community's local days: its weeks, Monday first (with the days of
    the neighbouring months that fill them), each day with the activities starting on it, every
    status. At most `MONTH_LIMIT` activities; `more` says some were left out."""
    await require_staff(session, user, community_id)
    tz = await community_tz(session, community_id)
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    grid_start, grid_end = monday_of(first), monday_of(last) + timedelta(days=7)
    activities = list(
        (
            await session.execute(
                select(Activity)
                .where(
                    Activity.community_id == community_id,
                    Activity.start_at >= datetime.combine(grid_start, time(0), tz),
                    Activity.start_at < datetime.combine(grid_end, time(0), tz),
                )
                .order_by(Activity.start_at, Activity.id)
                .limit(MONTH_LIMIT + 1)
            )
        ).scalars()
    )
    more = len(activities) > MONTH_LIMIT
    by_day: dict[date, list[dict[str, Any]]] = {}
    for item in await _rows(session, activities[:MONTH_LIMIT]):
        by_day.setdefault(item["start_at"].astimezone(tz).date(), []).append(item)
    weeks = []
    day = grid_start
    while day < grid_end:
        weeks.append(
            [
                {"date": d, "in_month": d.month == month, "items": by_day.get(d, [])}
                for d in (day + timedelta(days=i) for i in range(7))
            ]
        )
        day += timedelta(days=7)
    return {"year": year, "month": month, "weeks": weeks, "more": more, "today": clock.now().astimezone(tz).date()}


async def series_overview(
    session: AsyncSession, user: User, community_id: int, *, offset: int, limit: int
) -> dict[str, Any]:
    """The community's series, newest first, `limit` from `offset`, with the total; each with its
    sessions (not counting cancelled ones) and its next published session's start."""
    await require_staff(session, user, community_id)
    total = (
        await session.execute(select(func.count()).select_from(Series).where(Series.community_id == community_id))
    ).scalar_one()
    series = list(
        (
            await session.execute(
                select(Series)
                .where(Series.community_id == community_id)
                .order_by(Series.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).scalars()
    )
    ids = [s.id for s in series]
    counts: dict[int, int] = {}
    upcoming: dict[int, datetime] = {}
    if ids:
        found = await session.execute(
            select(Activity.series_id, func.count())
            .where(Activity.series_id.in_(ids), Activity.status != "cancelled")
            .group_by(Activity.series_id)
        )
        counts = {series_id: n for series_id, n in found.all() if series_id is not None}
        following = await session.execute(
            select(Activity.series_id, func.min(Activity.start_at))
            .where(Activity.series_id.in_(ids), Activity.status == "published", Activity.start_at > clock.now())
            .group_by(Activity.series_id)
        )
        upcoming = {series_id: at for series_id, at in following.all() if series_id is not None}
    return {
        "items": [
            {
                "id": s.id,
                "title": s.title,
                "description": s.description,
                "category": s.category,
                "category_label": CATEGORY_LABELS.get(s.category, s.category),  # type: ignore[call-overload]
                "sessions": counts.get(s.id, 0),
                "next_start_at": upcoming.get(s.id),
            }
            for s in series
        ],
        "total": int(total),
        "offset": offset,
        "limit": limit,
    }


async def series_sessions(
    session: AsyncSession, user: User, community_id: int, series_id: int, *, offset: int, limit: int
) -> dict[str, Any]:
    """A series of the community and its sessions, latest first (every status), `limit` from
    `offset`, with the total."""
    series = await community_series(session, user, community_id, series_id)
    total = (
        await session.execute(select(func.count()).select_from(Activity).where(Activity.series_id == series.id))
    ).scalar_one()
    activities = list(
        (
            await session.execute(
                select(Activity)
                .where(Activity.series_id == series.id)
                .order_by(Activity.start_at.desc(), Activity.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).scalars()
    )
    return {
        "series": {
            "id": series.id,
            "title": series.title,
            "description": series.description,
            "category": series.category,
            "category_label": CATEGORY_LABELS.get(series.category, series.category),  # type: ignore[call-overload]
        },
        "items": await _rows(session, activities),
        "total": int(total),
        "offset": offset,
        "limit": limit,
    }


COPIED = (
    "title",
    "description",
    "category",
    "space_id",
    "location",
    "capacity",
    "max_seats_per_booking",
    "child_min_age",
    "child_max_age",
    "cover_url",
    "project_id",
    "service_type",
)
# windows kept at the same distance from the start as in the last session
RELATIVE = ("registration_closes_at", "cancel_deadline", "checkin_opens_at", "checkin_closes_at")


async def next_session(session: AsyncSession, user: User, community_id: int, series_id: int) -> dict[str, Any]:
    """The next session of a series as a draft's fields, for staff to adjust before creating it:
    its latest session that was not cancelled, moved on by the gap between its last two (a week
    if there is only one) until it starts in the future, with its windows at the same distance
    from the start. A series without sessions gives its title and category only."""
    series = await community_series(session, user, community_id, series_id)
    last_two = list(
        (
            await session.execute(
                select(Activity)
                .where(Activity.series_id == series.id, Activity.status != "cancelled")
                .order_by(Activity.start_at.desc(), Activity.id.desc())
                .limit(2)
            )
        ).scalars()
    )
    if not last_two:
        return {"series_id": series.id, "title": series.title, "category": series.category}
    last = last_two[0]
    gap = last.start_at - last_two[1].start_at if len(last_two) == 2 else DEFAULT_GAP
    if gap < timedelta(days=1):  # two sessions on one day say nothing about the rhythm
        gap = DEFAULT_GAP
    start = last.start_at + gap
    now = clock.now()
    while start <= now:
        start += gap
    fields: dict[str, Any] = {name: getattr(last, name) for name in COPIED}
    fields.update(
        series_id=series.id,
        start_at=start,
        end_at=start + (last.end_at - last.start_at),
        **{name: start + (getattr(last, name) - last.start_at) for name in RELATIVE},
    )
    if last.registration_opens_at is not None:
        fields["registration_opens_at"] = start + (last.registration_opens_at - last.start_at)
    return fields
