"""Bookings (活动预约): seats for named attendees of one household, confirmed while seats remain,
else waitlisted in arrival order; cancellations and capacity increases promote the waitlist.

Never overbooked: every change to an activity's seats happens under the activity's row lock and
through one conditional UPDATE (`taken + n <= capacity`), and a CHECK (taken <= capacity) makes a
mistake impossible to commit. One active booking per person per activity is a partial unique
index. The checks before the lock give clear errors; the constraints are the guarantee.

Staff book at the desk for any household of their community (代办: an elder without WeChat) through
the same path and rules; the booking records who booked it there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api import clock, localtime
from api.db.models import Activity, Booking, BookingAttendee, BookingBlock, Household, Member, User
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import is_staff, role_in
from api.services.activities.common import (
    activity_params,
    age_in,
    cancel_reminder,
    community_tz,
    get_activity,
    lock_activity,
    my_member,
    place_of,
    policy,
    schedule_reminder,
    shown_to_residents,
)
from api.services.feed.attribution import share_for_booking
from api.services.notifications import notify

# -- seats ---------------------------------------------------------------------------------------


async def take_seats(session: AsyncSession, activity: Activity, seats: int) -> bool:
    """Take `seats` if they are free: one conditional UPDATE, never a count-then-write."""
    result = await session.execute(
        update(Activity)
        .where(Activity.id == activity.id, Activity.taken + seats <= Activity.capacity)
        .values(taken=Activity.taken + seats)
        .returning(Activity.taken)
        .execution_options(synchronize_session=False)
    )
    taken = result.scalar_one_or_none()
    if taken is None:
        return False
    set_committed_value(activity, "taken", taken)
    return True


async def release_seats(session: AsyncSession, activity: Activity, seats: int) -> None:
    result = await session.execute(
        update(Activity)
        .where(Activity.id == activity.id)
        .values(taken=Activity.taken - seats)
        .returning(Activity.taken)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(activity, "taken", result.scalar_one())


async def promote(session: AsyncSession, activity: Activity) -> list[Booking]:
    """Fill free seats from the waitlist in arrival order, under the activity's lock. A booking
    needing more seats than are free is passed over but keeps its place. The promoted are told
    and reminded. Once the activity has started nobody is promoted: people at home would only be
    marked absent; staff admit those at the door as walk-ins."""
    if activity.taken >= activity.capacity or activity.start_at <= clock.now():
        return []
    waiting = (
        await session.execute(
            select(Booking)
            .where(Booking.activity_id == activity.id, Booking.status == "waitlisted")
            .order_by(Booking.id)
        )
    ).scalars()
    now = clock.now()
    promoted = []
    for booking in waiting:
        free = activity.capacity - activity.taken
        if free <= 0:
            break
        if booking.seats <= free and await take_seats(session, activity, booking.seats):
            booking.status = "confirmed"
            booking.confirmed_at = booking.promoted_at = now
            promoted.append(booking)
    await session.flush()
    if promoted:
        params = await activity_params(session, activity)
        for booking in promoted:
            if booking.booked_by is not None:
                await notify(
                    session,
                    [booking.booked_by],
                    "booking.promoted",
                    {**params, "seats": booking.seats},
                    f"booking:{booking.id}:promoted",
                    community_id=activity.community_id,
                )
            await schedule_reminder(session, activity, booking)
    return promoted


# -- booking -------------------------------------------------------------------------------------


def registration_state(activity: Activity, now: datetime) -> str:
    """not_yet / open / closed, for a published activity."""
    opens = activity.registration_opens_at or activity.published_at
    if opens is None or now < opens:
        return "not_yet"
    return "open" if now < activity.registration_closes_at else "closed"


def _check_open(activity: Activity, now: datetime, tz: ZoneInfo) -> None:
    """Bookings are for a published activity inside its registration window; a refusal says when
    it opens or closed, in the community's time (`tz`)."""
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消")
    if activity.status != "published":
        raise NotFound("activity_not_found", "活动不存在")
    state = registration_state(activity, now)
    if state == "not_yet":
        opens = activity.registration_opens_at or activity.published_at
        when = f" {localtime.text(opens, tz)} " if opens is not None else "还没有"
        raise Conflict("registration_not_open", f"报名{when}开始", details={"opens_at": opens})
    if state == "closed":
        closed = activity.registration_closes_at
        raise Conflict(
            "registration_closed", f"报名已于 {localtime.text(closed, tz)} 截止", details={"closed_at": closed}
        )


async def _attendees(
    session: AsyncSession, activity: Activity, household_id: int, ids: list[int], *, desk: bool
) -> list[Member]:
    """The named attendees: active members of the booking's household, within the per-booking
    limit and the activity's age range (children, by year of birth)."""
    if len(set(ids)) != len(ids):
        raise Unprocessable("duplicate_attendee", "同一个人不能占两个座位")
    if len(ids) > activity.max_seats_per_booking:
        raise Unprocessable(
            "too_many_seats",
            f"每次最多预约{activity.max_seats_per_booking}个座位",
            details={"max_seats_per_booking": activity.max_seats_per_booking},
        )
    members = list(
        (
            await session.execute(
                select(Member).where(Member.id.in_(ids), Member.household_id == household_id, Member.status == "active")
            )
        ).scalars()
    )
    if len(members) != len(ids):
        message = "只能为该户的成员预约" if desk else "只能为本户的家庭成员预约"
        raise Unprocessable("attendee_not_in_household", message)
    if activity.child_min_age is not None or activity.child_max_age is not None:
        low, high = activity.child_min_age or 0, activity.child_max_age or 200
        tz = await community_tz(session, activity.community_id)
        for member in members:
            if member.kind == "child" and member.birth_year is not None:
                age = age_in(member.birth_year, activity.start_at, tz)
                if not low <= age <= high:
                    raise Unprocessable(
                        "attendee_age",
                        f"{member.display_name}的年龄不在本活动的{low}–{high}岁范围内",
                        details={"member_id": member.id, "age": age, "min_age": low, "max_age": high},
                    )
    return sorted(members, key=lambda m: ids.index(m.id))


async def active_block(session: AsyncSession, member_ids: list[int], now: datetime) -> BookingBlock | None:
    return (
        await session.execute(
            select(BookingBlock)
            .where(BookingBlock.member_id.in_(member_ids), BookingBlock.lifted_at.is_(None), BookingBlock.until > now)
            .order_by(BookingBlock.until.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def _desk_household(session: AsyncSession, user: User, activity: Activity, household_id: int) -> int:
    """Booking at the desk (代办) is for staff of the activity's community, for one of its
    households. A resident, or staff of another community, is refused (a visitor learns nothing
    of drafts); a household of another community is not found."""
    if not await is_staff(session, user, activity.community_id):
        if await role_in(session, user, activity.community_id) is None and not shown_to_residents(activity):
            raise NotFound("activity_not_found", "活动不存在")
        raise Forbidden("desk_staff_only", "只有本社区的工作人员可以代居民预约")
    household = await session.get(Household, household_id)
    if household is None or household.community_id != activity.community_id:
        raise NotFound("household_not_found", "找不到该住户")
    return household.id


async def _household_account(session: AsyncSession, household_id: int, attendees: list[Member]) -> int | None:
    """Who hears of a booking made at the desk (confirmation, reminder, promotion, changes): the
    first attendee with a WeChat account, else the head if they have one, else another member
    with one. A household without WeChat has nobody (None): its notices are skipped, staff call."""
    for member in attendees:
        if member.user_id is not None:
            return member.user_id
    return (
        await session.execute(
            select(Member.user_id)
            .where(Member.household_id == household_id, Member.status == "active", Member.user_id.is_not(None))
            .order_by(Member.is_head.desc(), Member.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def book(
    session: AsyncSession,
    user: User,
    activity_id: int,
    attendee_ids: list[int] | None,
    *,
    on_behalf_of: int | None = None,
) -> dict[str, Any]:
    """Book seats for the caller's household members (default: the caller). Confirmed while seats
    remain, else waitlisted; refused outside the registration window, outside the age range, for
    someone already booked, or while a no-show block lasts. A visitor (no household in the
    community) is told to join first; one whose join still waits, to wait for it.

    At the desk (`on_behalf_of`, a household id): staff of the activity's community book for the
    named members of any household of it, under exactly the same rules; the booking records who
    booked it there, and belongs to the household as if it had booked itself."""
    now = clock.now()
    activity = await get_activity(session, activity_id)
    desk_by: int | None = None
    if on_behalf_of is not None:
        household_id = await _desk_household(session, user, activity, on_behalf_of)
        if not attendee_ids:
            raise Unprocessable("attendees_required", "代办预约请选择该户要参加的成员")
        desk_by, ids = user.id, attendee_ids
    else:
        me = await my_member(session, user, activity.community_id)
        if me is None:
            if await role_in(session, user, activity.community_id) is None:
                if not shown_to_residents(activity):
                    raise NotFound("activity_not_found", "活动不存在")  # visitors learn nothing of drafts
                raise Forbidden("not_a_member", "请先登记住址（楼栋和门牌）加入本社区，再预约活动")
            raise Forbidden("not_a_resident", "请先登记为本社区的居民（所在楼栋和门牌），审核通过后再预约")
        household_id, ids = me.household_id, attendee_ids or [me.id]
    tz = await community_tz(session, activity.community_id)
    _check_open(activity, now, tz)
    members = await _attendees(session, activity, household_id, ids, desk=desk_by is not None)
    block = await active_block(session, [m.id for m in members], now)
    if block is not None:
        name = next(m.display_name for m in members if m.id == block.member_id)
        until = localtime.text(block.until, tz)
        raise Forbidden(
            "booking_blocked",
            f"{name}近期多次预约未到场，暂停预约至 {until}；如有特殊情况请联系社工",
            details={"member_id": block.member_id, "until": block.until, "no_shows": block.no_shows},
        )

    # what the reminder and the answer need, read before the lock so that its holder is quick
    # (the community and the space stay in the session for the answer)
    rules = await policy(session, activity.community_id)
    params = await activity_params(session, activity)
    share_id: int | None = None
    told: int | None = user.id
    if desk_by is None:
        share_id = await share_for_booking(session, user.id, activity.id)
    else:  # staff opened no share to make it; the household's own account hears of it
        told = await _household_account(session, household_id, members)

    activity = await lock_activity(session, activity_id)  # from here on, one booking at a time
    _check_open(activity, now, tz)
    held = (
        await session.execute(
            select(BookingAttendee.booking_id, BookingAttendee.member_id).where(
                BookingAttendee.activity_id == activity.id,
                BookingAttendee.member_id.in_([m.id for m in members]),
                BookingAttendee.active,
            )
        )
    ).all()
    if held:
        raise Conflict(
            "already_booked",
            "已经预约过本活动",
            details={"booking_id": held[0].booking_id, "member_ids": sorted(r.member_id for r in held)},
        )
    confirmed = await take_seats(session, activity, len(members))
    booking = Booking(
        activity_id=activity.id,
        community_id=activity.community_id,
        household_id=household_id,
        booked_by=told,
        booked_at_desk_by=desk_by,
        seats=len(members),
        status="confirmed" if confirmed else "waitlisted",
        source="app",
        confirmed_at=now if confirmed else None,
        share_id=share_id,
    )
    session.add(booking)
    await session.flush()
    # under the lock nobody else books these people now; the unique index would refuse it anyway
    session.add_all(BookingAttendee(booking_id=booking.id, activity_id=activity.id, member_id=m.id) for m in members)
    await session.flush()
    if confirmed:
        await schedule_reminder(session, activity, booking, rules=rules, params=params)
    return await booking_view(session, booking, activity, viewer_is_staff=desk_by is not None)


async def _booking_for(session: AsyncSession, user: User, booking_id: int) -> tuple[Booking, Activity, bool]:
    """The booking if the caller may act on it: its household's members, or the community's staff.
    Anyone else gets the same 404 as for a booking that does not exist."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("booking_not_found", "找不到该预约")
    activity = await get_activity(session, booking.activity_id)
    if await is_staff(session, user, activity.community_id):
        return booking, activity, True
    me = await my_member(session, user, activity.community_id)
    if me is None or booking.household_id is None or me.household_id != booking.household_id:
        raise NotFound("booking_not_found", "找不到该预约")
    return booking, activity, False


async def cancel(session: AsyncSession, user: User, booking_id: int) -> dict[str, Any]:
    """The household cancels before the cancellation deadline, staff at any time before the end.
    Freed seats go to the waitlist in the same transaction. Cancelling twice changes nothing."""
    booking, activity, staff = await _booking_for(session, user, booking_id)
    now = clock.now()
    activity = await lock_activity(session, activity.id)
    await session.refresh(booking)
    if booking.status == "cancelled":
        return await booking_view(session, booking, activity, viewer_is_staff=staff)
    tz = await community_tz(session, activity.community_id)
    if activity.end_at <= now:
        raise Conflict(
            "activity_finished",
            f"活动已于 {localtime.text(activity.end_at, tz)} 结束",
            details={"ended_at": activity.end_at},
        )
    if not staff and now >= activity.cancel_deadline and not _free_to_leave(activity, booking):
        deadline = localtime.text(activity.cancel_deadline, tz)
        raise Conflict(
            "cancel_deadline_passed",
            f"取消已于 {deadline} 截止，如有变化请联系社工",
            details={"cancel_deadline": activity.cancel_deadline},
        )
    await _cancel_booking(session, activity, booking, user, now)
    await promote(session, activity)
    return await booking_view(session, booking, activity, viewer_is_staff=staff)


def _free_to_leave(activity: Activity, booking: Booking) -> bool:
    """After the deadline a household may still leave the waitlist, and give back seats it was
    promoted to after the deadline (it never chose them in time to cancel)."""
    return booking.status == "waitlisted" or (
        booking.promoted_at is not None and booking.promoted_at >= activity.cancel_deadline
    )


async def _cancel_booking(
    session: AsyncSession, activity: Activity, booking: Booking, by: User | None, now: datetime
) -> None:
    was = booking.status
    booking.status = "cancelled"
    booking.cancelled_at = now
    booking.cancelled_by = by.id if by is not None else None
    await session.execute(
        update(BookingAttendee)
        .where(BookingAttendee.booking_id == booking.id)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    if was == "confirmed":
        await release_seats(session, activity, booking.seats)
        await cancel_reminder(session, activity, booking)


async def cancel_all(session: AsyncSession, activity: Activity, by: User) -> list[Booking]:
    """The activity is cancelled: every active booking with it (the caller holds the lock)."""
    now = clock.now()
    active = list(
        (
            await session.execute(
                select(Booking).where(Booking.activity_id == activity.id, Booking.status != "cancelled")
            )
        ).scalars()
    )
    for booking in active:
        await _cancel_booking(session, activity, booking, by, now)
    return active


# -- reading -------------------------------------------------------------------------------------


async def waitlist_position(session: AsyncSession, booking: Booking) -> int | None:
    if booking.status != "waitlisted":
        return None
    ahead = await session.execute(
        select(func.count()).where(
            Booking.activity_id == booking.activity_id, Booking.status == "waitlisted", Booking.id <= booking.id
        )
    )
    return int(ahead.scalar_one())


async def booking_view(
    session: AsyncSession, booking: Booking, activity: Activity, *, viewer_is_staff: bool
) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(BookingAttendee, Member.display_name)
            .outerjoin(Member, Member.id == BookingAttendee.member_id)
            .where(BookingAttendee.booking_id == booking.id)
            .order_by(BookingAttendee.id)
        )
    ).all()
    now = clock.now()
    desk_name = None
    if booking.booked_at_desk_by is not None and viewer_is_staff:
        desk_user = await session.get(User, booking.booked_at_desk_by)
        desk_name = (desk_user.display_name if desk_user is not None else "") or "工作人员"
    return {
        "id": booking.id,
        "status": booking.status,
        "seats": booking.seats,
        "waitlist_position": await waitlist_position(session, booking),
        "source": booking.source,
        "booked_at_desk": booking.booked_at_desk_by is not None,
        "booked_at_desk_by": desk_name,
        "activity": {
            "id": activity.id,
            "title": activity.title,
            "start_at": activity.start_at,
            "end_at": activity.end_at,
            "place": await place_of(session, activity),
            "status": activity.status,
        },
        "attendees": [
            {
                "member_id": attendee.member_id,
                "name": name or attendee.guest_name,
                "checked_in_at": attendee.checked_in_at,
                "no_show": attendee.no_show,
            }
            for attendee, name in rows
        ],
        "can_cancel": booking.status != "cancelled"
        and activity.end_at > now
        and (viewer_is_staff or now < activity.cancel_deadline or _free_to_leave(activity, booking)),
        "cancel_deadline": activity.cancel_deadline,
        "created_at": booking.created_at,
        "cancelled_at": booking.cancelled_at,
    }


async def get_booking(session: AsyncSession, user: User, booking_id: int) -> dict[str, Any]:
    booking, activity, staff = await _booking_for(session, user, booking_id)
    return await booking_view(session, booking, activity, viewer_is_staff=staff)


async def my_bookings(
    session: AsyncSession, user: User, *, when: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Bookings of the caller's households (every community), upcoming soonest first or past
    latest first."""
    households = select(Member.household_id).where(Member.user_id == user.id, Member.status == "active")
    now = clock.now()
    query = (
        select(Booking, Activity)
        .join(Activity, Activity.id == Booking.activity_id)
        .where(Booking.household_id.in_(households.scalar_subquery()))
        .limit(limit + 1)
    )
    upcoming = when == "upcoming"
    if upcoming:
        query = query.where(Activity.end_at > now).order_by(Activity.start_at, Booking.id)
    else:
        query = query.where(Activity.end_at <= now).order_by(Activity.start_at.desc(), Booking.id.desc())
    if cursor:
        query = query.where(after_time_and_id(cursor, Activity.start_at, Booking.id, ascending=upcoming))
    rows = (await session.execute(query)).all()
    items = [await booking_view(session, b, a, viewer_is_staff=False) for b, a in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        booking, activity = rows[limit - 1]
        next_cursor = encode_cursor(activity.start_at.isoformat(), booking.id)
    return items, next_cursor
