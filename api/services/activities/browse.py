"""Browsing activities: upcoming sessions with filters, small list items for slow phones, and a
detail with seats left, the waitlist's length and the caller's own booking.

Anyone logged in may look around a community before joining it: its published activities, with
what is public of them (never who booked), and how to join. Booking and following need a
household in the community."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Booking, Community, Member, Series, SeriesFollow, Space, User
from api.errors import Forbidden, NotFound
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import RANK, get_community, role_in
from api.services.activities.booking_rules import registration_state
from api.services.activities.bookings import booking_view
from api.services.activities.common import community_tz, for_children_of, my_member, shown_to_residents


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


async def _my_statuses(session: AsyncSession, user: User, community_id: int, ids: list[int]) -> dict[int, str]:
    """Whether the caller's household holds an active booking of each of these activities (any
    member's booking counts: the family sees "已预约"): confirmed, else waitlisted. One query for
    a whole page."""
    if not ids:
        return {}
    household = select(Member.household_id).where(
        Member.community_id == community_id, Member.user_id == user.id, Member.status == "active"
    )
    rows = await session.execute(
        select(Booking.activity_id, Booking.status).where(
            Booking.activity_id.in_(ids), Booking.household_id.in_(household), Booking.status != "cancelled"
        )
    )
    statuses: dict[int, str] = {}
    for activity_id, status in rows.all():
        if statuses.get(activity_id) != "confirmed":
            statuses[activity_id] = status
    return statuses


def _item(activity: Activity, place: str, waitlist: int, mine: str | None, now: datetime) -> dict[str, Any]:
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
        "my_booking_status": mine,
    }


def status_of(activity: Activity, now: datetime) -> str:
    if activity.status == "published" and activity.end_at <= now:
        return "finished"
    return activity.status


async def _items(
    session: AsyncSession, user: User, community_id: int, activities: list[Activity], member: bool
) -> list[dict[str, Any]]:
    """List items of these activities: three queries whatever their number (places, waitlists,
    the caller's household's bookings, which a visitor has none of)."""
    now = clock.now()
    places = await _places(session, activities)
    waitlists = await _waitlists(session, [a.id for a in activities])
    mine = await _my_statuses(session, user, community_id, [a.id for a in activities]) if member else {}
    return [_item(a, places[a.id], waitlists.get(a.id, 0), mine.get(a.id), now) for a in activities]


def join_hint(community: Community) -> dict[str, Any]:
    """What a visitor (no household in the community) needs for a 「加入社区」 button."""
    return {
        "community_id": community.id,
        "community_name": community.name,
        "join_path": f"/communities/{community.id}/join",
        "message": f"登记住址加入{community.name}后，就能预约活动、关注系列了",
    }


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
) -> dict[str, Any]:
    """Published activities, upcoming soonest first (or past, latest first), for residents and for
    visitors looking around before they join (who are told how to join). Staff also see drafts and
    cancelled ones (`status`); anyone else asking for those is refused. `for_my_children`: only
    what suits a child of the caller's household (`for_children_of`). Dates are the community's
    local days."""
    community = await get_community(session, community_id)
    role = await role_in(session, user, community_id)
    staff = role is not None and RANK[role] >= RANK["staff"]
    if status not in (None, "published") and not staff:
        raise Forbidden("staff_only", "只有社区工作人员可以查看草稿和已取消的活动")
    now = clock.now()
    tz: ZoneInfo = await community_tz(session, community_id)
    hint = join_hint(community) if role is None else None
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
        me = await my_member(session, user, community_id) if role is not None else None
        if me is None:  # no household here, so no children of mine
            return {"items": [], "next_cursor": None, "join": hint}
        query = query.where(for_children_of(me.household_id, tz))
    if cursor:
        query = query.where(after_time_and_id(cursor, Activity.start_at, Activity.id, ascending=upcoming))
    rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    items = await _items(session, user, community_id, page, member=role is not None)
    next_cursor = encode_cursor(page[-1].start_at.isoformat(), page[-1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor, "join": hint}


async def visible_activity(session: AsyncSession, user: User, activity_id: int) -> tuple[Activity, bool]:
    """The activity if a member of its community may see it, and whether the caller is its staff:
    staff see everything, residents what `shown_to_residents`; anyone else gets 404 (what is for
    residents only — albums, check-in — uses this)."""
    activity, role = await browsable_activity(session, user, activity_id)
    if role is None:
        raise NotFound("activity_not_found", "活动不存在")
    return activity, RANK[role] >= RANK["staff"]


async def browsable_activity(session: AsyncSession, user: User, activity_id: int) -> tuple[Activity, str | None]:
    """The activity if the caller may look at it, with their role in its community (None: a
    visitor): staff see everything, anyone else logged in what `shown_to_residents`; otherwise 404,
    exactly as for an activity that does not exist."""
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity_not_found", "活动不存在")
    role = await role_in(session, user, activity.community_id)
    if (role is None or RANK[role] < RANK["staff"]) and not shown_to_residents(activity):
        raise NotFound("activity_not_found", "活动不存在")
    return activity, role


async def activity_detail(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    """The activity with seats left, the waitlist's length, the caller's household's bookings, and
    what comes next. A visitor (no household in the community) sees what is public and how to
    join; residents whose join still waits see it as residents do."""
    activity, role = await browsable_activity(session, user, activity_id)
    community = await get_community(session, activity.community_id)
    staff = role is not None and RANK[role] >= RANK["staff"]
    now = clock.now()
    place = (await _places(session, [activity]))[activity.id]
    waitlist = (await _waitlists(session, [activity.id])).get(activity.id, 0)
    series = await session.get(Series, activity.series_id) if activity.series_id else None
    me = await my_member(session, user, activity.community_id) if role is not None else None
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
    statuses = {b["status"] for b in mine}
    my_status = "confirmed" if "confirmed" in statuses else "waitlisted" if statuses else None
    detail = _item(activity, place, waitlist, my_status, now)
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
        project_id=activity.project_id if staff else None,
        service_type=activity.service_type if staff else None,
        my_bookings=mine,
        join=join_hint(community) if role is None else None,
        **await _what_next(session, user, activity, member=role is not None),
    )
    return detail


SIMILAR = 5


async def _what_next(session: AsyncSession, user: User, activity: Activity, *, member: bool) -> dict[str, Any]:
    """Re-participation: the next session of the series, and up to five upcoming activities like
    this one (same category, or for children of overlapping ages) that still have seats."""
    now = clock.now()
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
    shown = await _items(session, user, activity.community_id, ([following] if following else []) + similar, member)
    return {"next_session": shown[0] if following else None, "similar": shown[1:] if following else shown}


async def series_detail(session: AsyncSession, user: User, series: Series) -> dict[str, Any]:
    """The series, whether the caller follows it, and its next ten published sessions."""
    following = await session.get(SeriesFollow, (series.id, user.id)) is not None
    followers = (await session.execute(select(func.count()).where(SeriesFollow.series_id == series.id))).scalar_one()
    upcoming = await list_activities(
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
        "upcoming": upcoming["items"],
    }


async def list_series(session: AsyncSession, user: User, community_id: int) -> list[Series]:
    """The community's series, for anyone logged in (visitors look around too)."""
    await get_community(session, community_id)
    rows = await session.execute(select(Series).where(Series.community_id == community_id).order_by(Series.id))
    return list(rows.scalars())
