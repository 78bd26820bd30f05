"""Bookings (活动预约): seats for named attendees of one household, confirmed while seats remain,
else waitlisted in arrival order; cancellations and capacity increases promote the waitlist.

Never overbooked: every change to an activity's seats happens under the activity's row lock, and
a CHECK (taken <= capacity) makes a mistake impossible to commit. One active booking per person per
activity is a partial unique index. The counters on the activity row (`taken`, `waiting`) change
with the bookings under that lock. Booking itself, from the app, at the desk or by the demo, is
`booking_batch.book_many`: requests for one activity judged and written together (burst.py runs the
batches); this module is the rest of a booking's life (cancel, promote, read).

Staff book at the desk for any household of their community (代办: an elder without WeChat) through
the same path and rules; the booking records who booked it there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api import clock, localtime
from api.db.models import Activity, Booking, BookingAttendee, Member, User
from api.errors import Conflict, NotFound
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import is_staff
from api.services.activities import booking_batch
from api.services.activities.common import (
    activity_params,
    cancel_reminder,
    community_tz,
    get_activity,
    lock_activity,
    my_member,
    place_of,
    schedule_reminder,
)
from api.services.notifications import notify

PROMOTE_PAGE = 50  # waitlisted bookings read at a time when seats come free

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


async def _leave_waitlist(session: AsyncSession, activity: Activity, bookings: int) -> None:
    """`bookings` left the waitlist (promoted, cancelled): its length on the activity row follows."""
    result = await session.execute(
        update(Activity)
        .where(Activity.id == activity.id)
        .values(waiting=Activity.waiting - bookings)
        .returning(Activity.waiting)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(activity, "waiting", result.scalar_one())


async def promote(session: AsyncSession, activity: Activity) -> list[Booking]:
    """Fill free seats from the waitlist in arrival order, under the activity's lock. A booking
    needing more seats than are free is passed over but keeps its place. The promoted are told
    and reminded. Once the activity has started nobody is promoted: people at home would only be
    marked absent; staff admit those at the door as walk-ins."""
    if activity.taken >= activity.capacity or activity.start_at <= clock.now():
        return []
    now = clock.now()
    promoted: list[Booking] = []
    after = 0
    # the waitlist a page at a time (after a rush it may be thousands long): only bookings that fit
    # the seats free now can be promoted, and the walk stops once none are free
    while (free := activity.capacity - activity.taken) > 0:
        page = list(
            (
                await session.execute(
                    select(Booking)
                    .where(
                        Booking.activity_id == activity.id,
                        Booking.status == "waitlisted",
                        Booking.seats <= free,
                        Booking.id > after,
                    )
                    .order_by(Booking.id)
                    .limit(PROMOTE_PAGE)
                )
            ).scalars()
        )
        for booking in page:
            if booking.seats <= activity.capacity - activity.taken and await take_seats(
                session, activity, booking.seats
            ):
                booking.status = "confirmed"
                booking.confirmed_at = booking.promoted_at = now
                promoted.append(booking)
        if len(page) < PROMOTE_PAGE:
            break
        after = page[-1].id
    await session.flush()
    if promoted:
        await _leave_waitlist(session, activity, len(promoted))
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
    booked it there, and belongs to the household as if it had booked itself.

    One booking in the session's transaction, by the path the API's batches take (burst.py);
    the answer is the booking as the API writes it."""
    outcomes, _ = await booking_batch.book_many(
        session, activity_id, [booking_batch.Ask(user.id, attendee_ids, on_behalf_of)]
    )
    if outcomes[0].error is not None:
        raise outcomes[0].error
    assert outcomes[0].body is not None
    return outcomes[0].body


async def _booking_for(session: AsyncSession, user: User, booking_id: int) -> tuple[Booking, Activity, bool]:
    """The booking if the caller may act on it: its household's members, or the community's staff.
    Anyone else gets the same 404 as for a booking that does not exist."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("booking_not_found", "找不到该预约")
    activity = await get_activity(session, booking.activity_id)
    # the answer's times in the community's zone, as the booking's own answer gave them
    localtime.use_community_zone((await community_tz(session, activity.community_id)).key)
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
    elif was == "waitlisted":
        await _leave_waitlist(session, activity, 1)


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
