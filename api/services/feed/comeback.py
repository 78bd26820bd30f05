"""After an activity: a day after it ends, whoever came hears once that its album is there, and
what the next session is."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Activity, Booking, BookingAttendee, Community, Member
from api.services.notifications import notify

ALBUM_AFTER = timedelta(hours=24)
TOO_LATE = timedelta(days=7)  # an activity the worker missed for a week is not announced any more


async def send_albums(session: AsyncSession, batch: int = 50) -> int:
    """The activities that ended a day ago: their attendees (whoever booked for a household that
    came, and those who came with a WeChat account of their own) get the album and the next
    session. Each activity once (`album_sent_at`, and the cause key)."""
    now = clock.now()
    due = list(
        (
            await session.execute(
                select(Activity)
                .where(
                    Activity.status == "published",
                    Activity.album_sent_at.is_(None),
                    Activity.end_at <= now - ALBUM_AFTER,
                    Activity.end_at > now - TOO_LATE,
                )
                .order_by(Activity.end_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    for activity in due:
        came = BookingAttendee.activity_id == activity.id, BookingAttendee.checked_in_at.is_not(None)
        people = await session.execute(
            union(
                select(Booking.booked_by.label("user_id"))
                .join(BookingAttendee, BookingAttendee.booking_id == Booking.id)
                .where(*came, Booking.booked_by.is_not(None)),
                select(Member.user_id.label("user_id"))
                .join(BookingAttendee, BookingAttendee.member_id == Member.id)
                .where(*came, Member.user_id.is_not(None)),
            )
        )
        users = sorted({u for u in people.scalars() if u is not None})
        following = None
        if activity.series_id is not None:
            following = (
                await session.execute(
                    select(Activity)
                    .where(
                        Activity.series_id == activity.series_id,
                        Activity.status == "published",
                        Activity.start_at > now,
                    )
                    .order_by(Activity.start_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
        community = await session.get(Community, activity.community_id)
        tz = ZoneInfo(community.timezone if community else "Asia/Shanghai")
        next_text = (
            f"下一期「{following.title}」{localtime.text(following.start_at, tz)}，欢迎再来。" if following else ""
        )
        if users:
            await notify(
                session,
                users,
                "activity.album",
                {"activity_id": activity.id, "activity_title": activity.title, "next": next_text},
                f"activity:{activity.id}:album",
                community_id=activity.community_id,
            )
        activity.album_sent_at = now
    await session.flush()
    return len(due)
