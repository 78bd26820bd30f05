"""Browsing activities: upcoming sessions with filters, small list items for slow phones, and a
detail with seats left, the waitlist's length and the caller's own booking."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Booking, Member, Series, SeriesFollow, Space, User
from api.errors import NotFound
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import RANK, require_member, role_in
from api.services.activities.bookings import booking_view, registration_state
from api.services.activities.common import community_tz, is_staff, my_member


async def _places(session: AsyncSession, activities: list[Activity]) -> dict[int, str]:
    space_ids = {a.space_id for a in activities if a.space_id is not None}
    names: dict[int, str] = {}
    if space_ids:
        rows = await session.execute(select(Space.id, Space.name).where(Space.id.in_(space_ids)))
        names = {space_id: name for space_id, name in rows.all()}
    return {
        a.id: (f"{names.get(a.space_id, '')} {a.location}".strip() if a.space_id else a.location) for a in activities
    }


async def _waitlists(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Booking.activity_id, func.count())
        .where(Booking.activity_id.in_(ids), Booking.status == "waitlisted")
        .group_by(Booking.activity_id)
    )
    return {activity_id: count for activity_id, count in rows.all()}


def _item(activity: Activity, place: str, waitlist: int, now: datetime) -> dict[str, Any]:
    return {
        "id": activity.id,
        "title": activity.title,
        "category": activity.category,
        "start_at": activity.start_at,
        "end_at": activity.end_at,
        "place": place,
        "cover_url": activity.cover_url,
        "status": status_of(activity, now),
        "seats_left": activity.capacity - activity.taken,
        "waitlist": waitlist,
        "registration": registration_state(activity, now) if activity.status == "published" else None,
        "child_min_age": activity.child_min_age,
        "child_max_age": activity.child_max_age,
        "series_id": activity.series_id,
    }


def status_of(activity: Activity, now: datetime) -> str:
    if activity.status == "published" and activity.end_at <= now:
        return "finished"
    return activity.status


async def _children_birth_years(session: AsyncSession, user: User, community_id: int) -> set[int]:
    me = await my_member(session, user, community_id)
    if me is None:
        return set()
    rows = await session.execute(
        select(Member.birth_year).where(
            Member.household_id == me.household_id, Member.kind == "child", Member.birth_year.is_not(None)
        )
    )
    return {year for year in rows.scalars() if year is not None}


def _suits(years: set[int], now: datetime) -> ColumnElement[bool]:
    """The activity has no age range, or one of these children is inside it (age by year, this
    year where the community is; booking checks the year of the activity itself)."""
    open_to_all = and_(Activity.child_min_age.is_(None), Activity.child_max_age.is_(None))
    fits = [
        and_(
            or_(Activity.child_min_age.is_(None), Activity.child_min_age <= now.year - year),
            or_(Activity.child_max_age.is_(None), Activity.child_max_age >= now.year - year),
        )
        for year in sorted(years)
    ]
    return or_(open_to_all, *fits)


async def list_activities(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    when: str,
    status: str | None,
    category: str | None,
    series_id: int | None,
    date_from: date | None,
    date_to: date | None,
    has_seats: bool,
    for_my_children: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Residents: published activities, upcoming soonest first (or past, latest first). Staff also
    see drafts and cancelled ones (`status`). Dates are the community's local days."""
    await require_member(session, user, community_id)
    staff = await is_staff(session, user, community_id)
    now = clock.now()
    tz: ZoneInfo = await community_tz(session, community_id)
    query = select(Activity).where(Activity.community_id == community_id).limit(limit + 1)
    if not staff:
        query = query.where(Activity.status == "published")
    elif status is not None:
        query = query.where(Activity.status == status)
    upcoming = when == "upcoming"
    if upcoming:
        query = query.where(Activity.end_at > now).order_by(Activity.start_at, Activity.id)
    else:
        query = query.where(Activity.end_at <= now).order_by(Activity.start_at.desc(), Activity.id.desc())
    if category:
        query = query.where(Activity.category == category)
    if series_id is not None:
        query = query.where(Activity.series_id == series_id)
    if date_from is not None:
        query = query.where(Activity.start_at >= datetime.combine(date_from, time(0), tz))
    if date_to is not None:
        query = query.where(Activity.start_at < datetime.combine(date_to + timedelta(days=1), time(0), tz))
    if has_seats:
        query = query.where(Activity.taken < Activity.capacity)
    if for_my_children:
        query = query.where(_suits(await _children_birth_years(session, user, community_id), now.astimezone(tz)))
    if cursor:
        query = query.where(after_time_and_id(cursor, Activity.start_at, Activity.id, ascending=upcoming))
    rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    places = await _places(session, page)
    waitlists = await _waitlists(session, [a.id for a in page])
    items = [_item(a, places[a.id], waitlists.get(a.id, 0), now) for a in page]
    next_cursor = encode_cursor(page[-1].start_at.isoformat(), page[-1].id) if len(rows) > limit else None
    return items, next_cursor


async def visible_activity(session: AsyncSession, user: User, activity_id: int) -> tuple[Activity, bool]:
    """The activity if the caller may see it: members of its community see what is published or
    cancelled, staff everything; anyone else gets 404."""
    activity = await session.get(Activity, activity_id)
    role = await role_in(session, user, activity.community_id) if activity is not None else None
    if activity is None or role is None or (RANK[role] < RANK["staff"] and activity.status == "draft"):
        raise NotFound("activity_not_found", "活动不存在")
    return activity, RANK[role] >= RANK["staff"]


async def activity_detail(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    activity, staff = await visible_activity(session, user, activity_id)
    now = clock.now()
    place = (await _places(session, [activity]))[activity.id]
    waitlist = (await _waitlists(session, [activity.id])).get(activity.id, 0)
    detail = _item(activity, place, waitlist, now)
    series = await session.get(Series, activity.series_id) if activity.series_id else None
    me = await my_member(session, user, activity.community_id)
    mine: list[dict[str, Any]] = []
    if me is not None:
        own = (
            await session.execute(
                select(Booking)
                .where(
                    Booking.activity_id == activity.id,
                    Booking.household_id == me.household_id,
                    Booking.status != "cancelled",
                )
                .order_by(Booking.id)
            )
        ).scalars()
        mine = [await booking_view(session, b, activity, viewer_is_staff=staff) for b in own]
    detail.update(
        description=activity.description,
        capacity=activity.capacity,
        taken=activity.taken,
        max_seats_per_booking=activity.max_seats_per_booking,
        registration_opens_at=activity.registration_opens_at or activity.published_at,
        registration_closes_at=activity.registration_closes_at,
        cancel_deadline=activity.cancel_deadline,
        checkin_opens_at=activity.checkin_opens_at,
        checkin_closes_at=activity.checkin_closes_at,
        space_id=activity.space_id,
        location=activity.location,
        series={"id": series.id, "title": series.title} if series else None,
        cancel_reason=activity.cancel_reason,
        my_bookings=mine,
        **await _what_next(session, activity, now),
    )
    return detail


SIMILAR = 5


async def _what_next(session: AsyncSession, activity: Activity, now: datetime) -> dict[str, Any]:
    """Re-participation: the next session of the series, and up to five upcoming activities like
    this one (same category, or for children of overlapping ages) that still have seats."""
    upcoming = and_(
        Activity.community_id == activity.community_id,
        Activity.status == "published",
        Activity.start_at > now,
        Activity.id != activity.id,
    )
    following = None
    if activity.series_id is not None:
        following = (
            await session.execute(
                select(Activity)
                .where(upcoming, Activity.series_id == activity.series_id, Activity.start_at > activity.start_at)
                .order_by(Activity.start_at, Activity.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    alike = [Activity.category == activity.category]
    if activity.child_min_age is not None or activity.child_max_age is not None:
        # for children of overlapping ages; an open end of a range ("6 and over") is open
        low, high = activity.child_min_age or 0, activity.child_max_age or 99
        alike.append(
            and_(
                or_(Activity.child_min_age.is_not(None), Activity.child_max_age.is_not(None)),
                func.coalesce(Activity.child_min_age, 0) <= high,
                func.coalesce(Activity.child_max_age, 99) >= low,
            )
        )
    query = select(Activity).where(upcoming, or_(*alike), Activity.taken < Activity.capacity)
    if following is not None:
        query = query.where(Activity.id != following.id)
    similar = list((await session.execute(query.order_by(Activity.start_at, Activity.id).limit(SIMILAR))).scalars())
    shown = ([following] if following else []) + similar
    places = await _places(session, shown)
    waitlists = await _waitlists(session, [a.id for a in shown])
    return {
        "next_session": _item(following, places[following.id], waitlists.get(following.id, 0), now)
        if following
        else None,
        "similar": [_item(a, places[a.id], waitlists.get(a.id, 0), now) for a in similar],
    }


async def series_detail(session: AsyncSession, user: User, series: Series) -> dict[str, Any]:
    following = await session.get(SeriesFollow, (series.id, user.id)) is not None
    followers = (await session.execute(select(func.count()).where(SeriesFollow.series_id == series.id))).scalar_one()
    upcoming, _ = await list_activities(
        session,
        user,
        series.community_id,
        when="upcoming",
        status="published",
        category=None,
        series_id=series.id,
        date_from=None,
        date_to=None,
        has_seats=False,
        for_my_children=False,
        cursor=None,
        limit=10,
    )
    return {
        "id": series.id,
        "community_id": series.community_id,
        "title": series.title,
        "description": series.description,
        "category": series.category,
        "following": following,
        "followers": int(followers),
        "upcoming": upcoming,
    }


async def list_series(session: AsyncSession, user: User, community_id: int) -> list[Series]:
    await require_member(session, user, community_id)
    rows = await session.execute(select(Series).where(Series.community_id == community_id).order_by(Series.id))
    return list(rows.scalars())
