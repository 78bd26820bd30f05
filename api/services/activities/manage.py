"""Staff run activities (draft → published → finished, or cancelled), their series and the
community's booking policy. Changing an activity's time or place, or cancelling it, tells
everyone booked; raising its capacity promotes the waitlist; publishing a session of a series
tells the series' followers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Activity, ActivityPolicy, Booking, BookingAttendee, Series, SeriesFollow, Space, User
from api.db.upsert import insert_ignore
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.services import audit
from api.services.access import get_community, require_member, require_staff, role_in
from api.services.activities import bookings
from api.services.activities.common import (
    DEFAULT_POLICY,
    activity_params,
    get_activity,
    lock_activity,
    reminder_key,
    schedule_reminder,
)
from api.services.feed.follows import tell_followers
from api.services.notifications import cancel_scheduled, notify
from api.services.reports import projects

CHECKIN_BEFORE = timedelta(minutes=30)
CHECKIN_AFTER = timedelta(minutes=30)
SHIFTED_WITH_START = ("registration_closes_at", "cancel_deadline", "checkin_opens_at", "checkin_closes_at")
# fields a PATCH may clear with null; for the others null means "leave as it is"
CLEARABLE = frozenset(
    {
        "space_id",
        "registration_opens_at",
        "child_min_age",
        "child_max_age",
        "cover_url",
        "series_id",
        "project_id",
        "service_type",
    }
)
# what reports count it under: may still be changed once the activity has finished
TAGS = frozenset({"project_id", "service_type"})


async def _check_refs(session: AsyncSession, community_id: int, fields: dict[str, Any]) -> None:
    if fields.get("space_id") is not None:
        space = await session.get(Space, fields["space_id"])
        if space is None or space.community_id != community_id:
            raise Unprocessable("space_not_found", "本社区没有这个空间", details={"space_id": fields["space_id"]})
    if fields.get("series_id") is not None:
        series = await session.get(Series, fields["series_id"])
        if series is None or series.community_id != community_id:
            raise Unprocessable("series_not_found", "本社区没有这个系列", details={"series_id": fields["series_id"]})
    await projects.check_tag(session, community_id, fields.get("project_id"))


def _check_times(activity: Activity) -> None:
    """The windows must make sense together (the schema checks each field alone), and the
    activity needs a place."""
    if not (activity.location.strip() or activity.space_id):
        raise Unprocessable(
            "activity_place_missing",
            "请选择活动空间（space_id）或填写地点（location）",
            details={"fields": ["space_id", "location"]},
        )
    low, high = activity.child_min_age, activity.child_max_age
    if low is not None and high is not None and low > high:
        raise Unprocessable(
            "activity_ages_invalid",
            f"儿童年龄范围不对：最小 {low} 岁大于最大 {high} 岁",
            details={"fields": ["child_min_age", "child_max_age"]},
        )
    problems: list[tuple[str, str]] = []
    if activity.end_at <= activity.start_at:
        problems.append(("end_at", "结束时间应晚于开始时间"))
    opens = activity.registration_opens_at
    if opens is not None and opens >= activity.registration_closes_at:
        problems.append(("registration_closes_at", "报名截止时间应晚于报名开始时间"))
    if activity.registration_closes_at > activity.end_at:
        problems.append(("registration_closes_at", "报名截止时间不能晚于活动结束"))
    if activity.cancel_deadline > activity.end_at:
        problems.append(("cancel_deadline", "取消截止时间不能晚于活动结束"))
    if activity.checkin_closes_at <= activity.checkin_opens_at:
        problems.append(("checkin_closes_at", "签到结束时间应晚于签到开始时间"))
    if activity.checkin_opens_at > activity.end_at or activity.checkin_closes_at < activity.start_at:
        problems.append(("checkin_opens_at", "签到时段应与活动时间有重叠"))
    if problems:
        raise Unprocessable(
            "activity_times_invalid",
            "活动时间设置不合理：" + "；".join(f"{field}：{text}" for field, text in problems),
            details=[{"field": field, "message": text} for field, text in problems],
        )


async def create_activity(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Activity:
    """A draft; defaults: registration closes at the start, residents may cancel until the
    start, check-in runs from 30 minutes before to 30 minutes after the start."""
    await require_staff(session, user, community_id)
    await _check_refs(session, community_id, data)
    start = data["start_at"]
    values = {
        **data,
        "registration_closes_at": data.get("registration_closes_at") or start,
        "cancel_deadline": data.get("cancel_deadline") or start,
        "checkin_opens_at": data.get("checkin_opens_at") or start - CHECKIN_BEFORE,
        "checkin_closes_at": data.get("checkin_closes_at") or start + CHECKIN_AFTER,
        "location": data.get("location") or "",
    }
    activity = Activity(community_id=community_id, status="draft", taken=0, created_by=user.id, **values)
    _check_times(activity)
    session.add(activity)
    await session.flush()
    return activity


async def _for_staff(session: AsyncSession, user: User, activity_id: int) -> Activity:
    activity = await get_activity(session, activity_id)
    await require_staff(session, user, activity.community_id)
    return activity


async def _booked_users(session: AsyncSession, activity_id: int) -> list[int]:
    rows = await session.execute(
        select(Booking.booked_by).where(
            Booking.activity_id == activity_id, Booking.status != "cancelled", Booking.booked_by.is_not(None)
        )
    )
    return sorted({user_id for user_id in rows.scalars() if user_id is not None})


async def update_activity(session: AsyncSession, user: User, activity_id: int, fields: dict[str, Any]) -> Activity:
    """Staff edit. Moving the start moves the windows with it unless they are given. A new time
    or place is told to everyone booked, and their reminders follow; a larger capacity promotes
    the waitlist; a capacity below the seats taken is refused. Its project and service type (what
    reports count it under) may also be changed after it has finished."""
    activity = await _for_staff(session, user, activity_id)
    activity = await lock_activity(session, activity.id)
    now = clock.now()
    fields = {k: v for k, v in fields.items() if v is not None or k in CLEARABLE}
    tags_only = bool(fields) and set(fields) <= TAGS
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消，不能再修改")
    if activity.status == "published" and activity.end_at <= now and not tags_only:
        raise Conflict(
            "activity_finished",
            f"活动已于 {localtime.text(activity.end_at)} 结束，不能再修改",
            details={"ended_at": activity.end_at},
        )
    await _check_refs(session, activity.community_id, fields)
    old_start, old_place = activity.start_at, (activity.space_id, activity.location)
    if fields.get("start_at") is not None and fields["start_at"] != old_start:
        delta = fields["start_at"] - old_start
        for name in SHIFTED_WITH_START:
            if name not in fields:
                fields[name] = getattr(activity, name) + delta
        if "end_at" not in fields:
            fields["end_at"] = activity.end_at + delta
    capacity = fields.pop("capacity", None)
    for name, value in fields.items():
        if (
            name in ("registration_closes_at", "cancel_deadline", "checkin_opens_at", "checkin_closes_at")
            and value is None
        ):
            continue  # these always have a value
        setattr(activity, name, value)
    _check_times(activity)
    if capacity is not None and capacity != activity.capacity:
        if capacity < activity.taken:
            raise Conflict(
                "capacity_below_taken",
                f"已有{activity.taken}个座位被预约，容量不能少于此数",
                details={"taken": activity.taken},
            )
        activity.capacity = capacity
    await session.flush()
    if activity.status == "published" and not tags_only:
        moved = activity.start_at != old_start or (activity.space_id, activity.location) != old_place
        if moved:
            await _tell_booked_of_change(session, activity, old_start, now)
        await bookings.promote(session, activity)
    return activity


async def _tell_booked_of_change(session: AsyncSession, activity: Activity, old_start: Any, now: Any) -> None:
    confirmed = (
        await session.execute(select(Booking).where(Booking.activity_id == activity.id, Booking.status == "confirmed"))
    ).scalars()
    for booking in confirmed:
        await cancel_scheduled(session, reminder_key(booking.id, old_start))
        await schedule_reminder(session, activity, booking)
    await notify(
        session,
        await _booked_users(session, activity.id),
        "activity.changed",
        await activity_params(session, activity),
        f"activity:{activity.id}:changed:{now.isoformat()}",
        community_id=activity.community_id,
    )


async def publish(session: AsyncSession, user: User, activity_id: int) -> Activity:
    """Draft → published. Followers of its series, and of its category, hear of the new session
    (once, if they follow both)."""
    activity = await _for_staff(session, user, activity_id)
    activity = await lock_activity(session, activity.id)  # not while someone cancels it
    if activity.status != "draft":
        raise Conflict("activity_not_draft", "只有草稿可以发布", details={"status": activity.status})
    now = clock.now()
    if activity.end_at <= now:
        raise Conflict(
            "activity_finished",
            f"活动已于 {localtime.text(activity.end_at)} 结束，不能再发布",
            details={"ended_at": activity.end_at},
        )
    activity.status = "published"
    activity.published_at = now
    await session.flush()
    if activity.series_id is not None:
        series = await session.get(Series, activity.series_id)
        followers = (
            await session.execute(select(SeriesFollow.user_id).where(SeriesFollow.series_id == activity.series_id))
        ).scalars()
        assert series is not None
        await notify(
            session,
            list(followers),
            "series.new_session",
            {**await activity_params(session, activity), "series_title": series.title},
            f"activity:{activity.id}:published",
            community_id=activity.community_id,
        )
    await tell_followers(session, activity)
    return activity


async def cancel_preview(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    """What cancelling the activity would do, for staff to read before they confirm (the rule of
    `cancel_activity`): every active booking is cancelled, confirmed and waitlisted alike, and every
    booker of one is told (`_booked_users`, the very list it notifies), those on the waitlist too;
    walk-ins registered at the door have nobody to tell. Counts the bookings and their seats, the
    households and the people holding them, and whether it can be cancelled at all (not once it
    has finished; cancelling again changes nothing)."""
    activity = await _for_staff(session, user, activity_id)
    now = clock.now()
    bookings_ = (
        await session.execute(
            select(Booking.status, Booking.seats, Booking.household_id, Booking.booked_by, Booking.source).where(
                Booking.activity_id == activity.id, Booking.status != "cancelled"
            )
        )
    ).all()
    people = (
        await session.execute(
            select(func.count())
            .select_from(BookingAttendee)
            .join(Booking, Booking.id == BookingAttendee.booking_id)
            .where(Booking.activity_id == activity.id, Booking.status != "cancelled", BookingAttendee.active)
        )
    ).scalar_one()
    told = await _booked_users(session, activity.id)
    confirmed = [b for b in bookings_ if b.status == "confirmed"]
    waitlisted = [b for b in bookings_ if b.status == "waitlisted"]
    finished = activity.status == "published" and activity.end_at <= now
    return {
        "activity_id": activity.id,
        "status": activity.status,
        "can_cancel": activity.status != "cancelled" and not finished,
        "finished": finished,
        "bookings": len(bookings_),
        "confirmed_bookings": len(confirmed),
        "confirmed_seats": sum(b.seats for b in confirmed),
        "waitlisted_bookings": len(waitlisted),
        "waitlisted_seats": sum(b.seats for b in waitlisted),
        "households": len({b.household_id for b in bookings_ if b.household_id is not None}),
        "people": int(people),
        "walkins": sum(1 for b in bookings_ if b.source == "walkin"),
        "told": len(told),
        "told_waitlisted": len({b.booked_by for b in waitlisted if b.booked_by is not None}),
    }


async def cancel_activity(session: AsyncSession, user: User, activity_id: int, reason: str) -> Activity:
    """Cancel the activity and every booking with it; everyone booked is told."""
    activity = await _for_staff(session, user, activity_id)
    activity = await lock_activity(session, activity.id)
    now = clock.now()
    if activity.status == "cancelled":
        return activity
    if activity.status == "published" and activity.end_at <= now:
        raise Conflict(
            "activity_finished",
            f"活动已于 {localtime.text(activity.end_at)} 结束，不能再取消",
            details={"ended_at": activity.end_at},
        )
    told = await _booked_users(session, activity.id)
    await bookings.cancel_all(session, activity, user)  # and their reminders
    activity.status = "cancelled"
    activity.cancelled_at = now
    activity.cancel_reason = reason
    await session.flush()
    await notify(
        session,
        told,
        "activity.cancelled",
        {
            "activity_id": activity.id,
            "activity_title": activity.title,
            "start_at": activity.start_at,
            "reason": reason or "给你带来不便，十分抱歉。",
        },
        f"activity:{activity.id}:cancelled",
        community_id=activity.community_id,
    )
    return activity


# -- series --------------------------------------------------------------------------------------


async def create_series(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Series:
    await require_staff(session, user, community_id)
    series = Series(community_id=community_id, **data)
    session.add(series)
    await session.flush()
    return series


async def get_series(session: AsyncSession, user: User, series_id: int) -> Series:
    """Anyone logged in sees a series, as they see its published sessions (visitors look around
    before they join)."""
    series = await session.get(Series, series_id)
    if series is None:
        raise NotFound("series_not_found", "系列不存在")
    await get_community(session, series.community_id)  # its times are in the community's zone
    return series


async def follow(session: AsyncSession, user: User, series_id: int, following: bool) -> Series:
    """Members of its community follow a series to hear of each new session (a visitor is told
    to join first); anyone unfollows to stop."""
    series = await get_series(session, user, series_id)
    if following and await role_in(session, user, series.community_id) is None:
        raise Forbidden("not_a_member", "请先登记住址（楼栋和门牌）加入本社区，再关注系列活动")
    if following:
        await insert_ignore(
            session,
            SeriesFollow,
            {"series_id": series.id, "user_id": user.id, "created_at": clock.now()},
            ["series_id", "user_id"],
        )
    else:
        follow_row = await session.get(SeriesFollow, (series.id, user.id))
        if follow_row is not None:
            await session.delete(follow_row)
    await session.flush()
    return series


# -- policy --------------------------------------------------------------------------------------


async def get_policy(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    await require_member(session, user, community_id)
    row = await session.get(ActivityPolicy, community_id)
    if row is None:
        return dict(DEFAULT_POLICY)
    return {name: getattr(row, name) for name in DEFAULT_POLICY}


async def set_policy(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff change the community's no-show rule and reminder time; unset fields keep theirs."""
    await require_staff(session, user, community_id)
    row = await session.get(ActivityPolicy, community_id)
    if row is None:
        row = ActivityPolicy(community_id=community_id, **DEFAULT_POLICY, updated_at=clock.now())
        session.add(row)
    before = {name: getattr(row, name) for name in DEFAULT_POLICY}
    for name, value in data.items():
        setattr(row, name, value)
    row.updated_at = clock.now()
    row.updated_by = user.id
    await session.flush()
    after = {name: getattr(row, name) for name in DEFAULT_POLICY}
    await audit.record(
        session,
        user,
        community_id,
        subject="activity_policy",
        subject_id=None,
        action="update",
        summary="修改活动规则（爽约与提醒）",
        before=before,
        after=after,
    )
    return after
