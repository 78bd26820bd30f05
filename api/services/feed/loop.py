"""The loop's figures (booked → attended → posted → shared → opened → booked from shares → came
back), per activity and per month, for staff.

Definitions (README "The loop's figures"):
- booked: seats of confirmed bookings; attended: attendees checked in (walk-ins too);
- posts / photos: visible posts (of the activity; for a month, written in it) and their photos;
- shares: shares of the activity or of its posts (for a month, made in it); opens: their opens,
  one per viewer per day; bookings from shares: bookings (of the activity; for a month, made in
  it) attributed to a share — to the one of the booked activity or of a post about it opened last
  within 7 days (`attribution`), including any later cancelled; new residents: people who joined
  within 7 days of opening one as outsiders and are residents now (a join still waiting for
  approval is not);
- re-participation: of the household members who attended, those booked (not cancelled) for
  another activity from its start until 30 days after its end.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Booking, BookingAttendee, Member, Post, Share, ShareOpen, User
from api.errors import invalid_field
from api.localtime import EARLIEST_DAY, LATEST_DAY
from api.services.access import require_staff
from api.services.activities.common import get_activity

COMEBACK_WINDOW = timedelta(days=30)


async def _scalar(session: AsyncSession, query: Select[Any]) -> int:
    return int((await session.execute(query)).scalar_one() or 0)


async def _comeback(session: AsyncSession, activities: ColumnElement[bool]) -> tuple[int, int]:
    """(attending members, of them those who booked another activity in the window)."""
    came = (
        select(
            BookingAttendee.member_id.label("member_id"),
            Activity.id.label("activity_id"),
            Activity.end_at.label("end_at"),
        )
        .join(Activity, Activity.id == BookingAttendee.activity_id)
        .where(activities, BookingAttendee.checked_in_at.is_not(None), BookingAttendee.member_id.is_not(None))
        .subquery()
    )
    attending, last_end = (
        await session.execute(select(func.count(func.distinct(came.c.member_id)), func.max(came.c.end_at)))
    ).one()
    if not attending:
        return 0, 0
    return int(attending), await _rebooked(session, came, last_end + COMEBACK_WINDOW)


async def _rebooked(session: AsyncSession, came: Any, until: datetime) -> int:
    """Members who came back, checked in Python over the bookings of the attending members made
    after the activity's start and by `until` (the last one's end plus the window: the SQL only
    narrows what is read, without date arithmetic, which differs between the engines)."""
    rows = (
        await session.execute(
            select(
                came.c.member_id, Activity.start_at, Activity.end_at, BookingAttendee.activity_id, Booking.created_at
            )
            .select_from(came)
            .join(Activity, Activity.id == came.c.activity_id)
            .join(
                BookingAttendee,
                and_(BookingAttendee.member_id == came.c.member_id, BookingAttendee.activity_id != came.c.activity_id),
            )
            .join(Booking, Booking.id == BookingAttendee.booking_id)
            .where(Booking.status != "cancelled", Booking.created_at > Activity.start_at, Booking.created_at <= until)
        )
    ).all()
    back = {member for member, start, end, _other, booked_at in rows if start < booked_at <= end + COMEBACK_WINDOW}
    return len(back)


async def _share_figures(session: AsyncSession, shares: Select[Any]) -> dict[str, int]:
    ids = shares.subquery()
    return {
        "shares": await _scalar(session, select(func.count()).select_from(ids)),
        "share_opens": await _scalar(
            session, select(func.count(ShareOpen.id)).where(ShareOpen.share_id.in_(select(ids.c.id)))
        ),
        "new_residents_from_shares": await _scalar(
            session,
            select(func.count(Member.id)).where(Member.via_share_id.in_(select(ids.c.id)), Member.status == "active"),
        ),
    }


def _rate(attending: int, back: int) -> float | None:
    return round(back / attending, 4) if attending else None


async def activity_loop(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    activity = await get_activity(session, activity_id)
    await require_staff(session, user, activity.community_id)
    posts = select(Post.id).where(Post.activity_id == activity.id, Post.status == "visible")
    shares = select(Share.id).where(or_(Share.activity_id == activity.id, Share.post_id.in_(posts)))
    attending, back = await _comeback(session, Activity.id == activity.id)
    return {
        "activity_id": activity.id,
        "title": activity.title,
        "booked": await _scalar(
            session,
            select(func.coalesce(func.sum(Booking.seats), 0)).where(
                Booking.activity_id == activity.id, Booking.status == "confirmed"
            ),
        ),
        "attended": await _scalar(
            session,
            select(func.count(BookingAttendee.id)).where(
                BookingAttendee.activity_id == activity.id, BookingAttendee.checked_in_at.is_not(None)
            ),
        ),
        "posts": await _scalar(session, select(func.count()).select_from(posts.subquery())),
        "photos": await _scalar(
            session,
            select(func.coalesce(func.sum(Post.photo_count), 0)).where(
                Post.activity_id == activity.id, Post.status == "visible"
            ),
        ),
        **await _share_figures(session, shares),
        # a booking is only ever attributed to a share of the activity booked or of a post about it
        "bookings_from_shares": await _scalar(
            session,
            select(func.count(Booking.id)).where(Booking.activity_id == activity.id, Booking.share_id.is_not(None)),
        ),
        "attending_members": attending,
        "came_back": back,
        "reparticipation_rate": _rate(attending, back),
    }


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(month.replace(day=1), time(0, 0), tz)
    following = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
    return start, datetime.combine(following, time(0, 0), tz)


def _month(text: str) -> date:
    """ "YYYY-MM" (the query's pattern checked its shape) as the first day of that month, between
    2000 and 2100 like every date Linli takes."""
    year, number = int(text[:4]), int(text[5:7])
    if not EARLIEST_DAY.year <= year <= LATEST_DAY.year:
        raise invalid_field("month", "应在 2000-01 到 2100-12 之间", kind="date_out_of_range", source="query")
    return date(year, number, 1)


async def community_loop(session: AsyncSession, user: User, community_id: int, month: str | None) -> dict[str, Any]:
    """The month's loop ("YYYY-MM", default this month): activities held in it (by their start,
    community time) with their bookings, attendance and comebacks; posts, shares, opens, bookings
    from shares and new residents from shares that happened in it. Only staff learn anything,
    even that a month is out of range."""
    community = await require_staff(session, user, community_id)
    tz = ZoneInfo(community.timezone)
    day = _month(month) if month else clock.now().astimezone(tz).date()
    start, end = month_bounds(day, tz)
    return {"month": f"{day:%Y-%m}", **await period_loop(session, community.id, start, end)}


async def period_loop(session: AsyncSession, community_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """The loop's figures of [start, end) for a community (the caller has authorised): the month's
    figures above, and the reports' for any period."""
    held = and_(
        Activity.community_id == community_id,
        Activity.status == "published",
        Activity.start_at >= start,
        Activity.start_at < end,
    )
    in_month = select(Activity.id).where(held)
    attending, back = await _comeback(session, held)
    visible = and_(
        Post.community_id == community_id, Post.status == "visible", Post.created_at >= start, Post.created_at < end
    )
    shares = select(Share.id).where(Share.community_id == community_id)
    return {
        "activities": await _scalar(session, select(func.count()).select_from(in_month.subquery())),
        "booked": await _scalar(
            session,
            select(func.coalesce(func.sum(Booking.seats), 0)).where(
                Booking.activity_id.in_(in_month), Booking.status == "confirmed"
            ),
        ),
        "attended": await _scalar(
            session,
            select(func.count(BookingAttendee.id)).where(
                BookingAttendee.activity_id.in_(in_month), BookingAttendee.checked_in_at.is_not(None)
            ),
        ),
        "posts": await _scalar(session, select(func.count(Post.id)).where(visible)),
        "photos": await _scalar(session, select(func.coalesce(func.sum(Post.photo_count), 0)).where(visible)),
        "shares": await _scalar(
            session,
            select(func.count(Share.id)).where(
                Share.community_id == community_id, Share.created_at >= start, Share.created_at < end
            ),
        ),
        "share_opens": await _scalar(
            session,
            select(func.count(ShareOpen.id)).where(
                ShareOpen.share_id.in_(shares), ShareOpen.opened_at >= start, ShareOpen.opened_at < end
            ),
        ),
        "bookings_from_shares": await _scalar(
            session,
            select(func.count(Booking.id)).where(
                Booking.community_id == community_id,
                Booking.share_id.is_not(None),
                Booking.created_at >= start,
                Booking.created_at < end,
            ),
        ),
        "new_residents_from_shares": await _scalar(
            session,
            select(func.count(Member.id)).where(
                Member.community_id == community_id,
                Member.via_share_id.is_not(None),
                Member.status == "active",
                Member.created_at >= start,
                Member.created_at < end,
            ),
        ),
        "attending_members": attending,
        "came_back": back,
        "reparticipation_rate": _rate(attending, back),
    }
