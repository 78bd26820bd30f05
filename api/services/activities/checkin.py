"""Check-in (签到), per attendee, only inside the activity's check-in window, idempotent:

- staff, or a volunteer on duty at the activity, scan the QR of a resident's booking
  (`checkin_token`); staff may also tick a booking on the roster;
- or the resident scans the on-site code on a staff screen, which changes every minute;
- or staff, or a volunteer on duty, register walk-ins at the door while seats are free.

Every way answers with the same `door_view`: the activity, the bookings concerned with their
attendees, who was checked in by this request, and whether it had all been done before.

A volunteer on duty (checked in, not yet out, on a shift staff attached to the activity) sees
only what the door needs: names and kinds of the people expected and whether they are in; a
child's name shortened to its first character; no address, booker, phone, waitlist or no-show.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api import clock, localtime
from api.db.models import Activity, Booking, BookingAttendee, Household, Member, User
from api.db.session import settings_of
from api.errors import Conflict, Forbidden, Unprocessable
from api.security import ONSITE_CODE_SECONDS, checkin_token, onsite_code, onsite_code_valid, verify_checkin_token
from api.services.access import is_staff, require_staff
from api.services.activities.bookings import _booking_for, take_seats
from api.services.activities.browse import visible_activity
from api.services.activities.common import (
    community_tz,
    get_activity,
    lock_activity,
    my_member,
    place_of,
)
from api.services.volunteers import signups

ON_DUTY_ONLY = "只有社工或本活动正在值班（已签到）的志愿者可以"


def _check_window(activity: Activity, now: datetime, tz: ZoneInfo) -> None:
    """Check-in is for a published activity, inside its window; a refusal says when it opens or
    closed, in the community's time (`tz`)."""
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消")
    if activity.status != "published":
        raise Conflict("activity_not_published", "活动还没有发布")
    window = {"opens_at": activity.checkin_opens_at, "closes_at": activity.checkin_closes_at}
    if now < activity.checkin_opens_at:
        raise Conflict("checkin_not_open", f"签到 {localtime.text(activity.checkin_opens_at, tz)} 开始", details=window)
    if now > activity.checkin_closes_at:
        raise Conflict(
            "checkin_closed", f"签到已于 {localtime.text(activity.checkin_closes_at, tz)} 结束", details=window
        )


def window_state(activity: Activity, now: datetime) -> str:
    """Where the activity's check-in stands (`_check_window`'s rule, for a screen to say so
    before anyone scans): "not_published", "cancelled", "not_yet", "open" or "closed"."""
    if activity.status != "published":
        return "cancelled" if activity.status == "cancelled" else "not_published"
    if now < activity.checkin_opens_at:
        return "not_yet"
    return "closed" if now > activity.checkin_closes_at else "open"


async def booking_code(session: AsyncSession, user: User, booking_id: int) -> dict[str, Any]:
    """The QR a resident shows at the door: their confirmed booking, signed."""
    booking, _, _ = await _booking_for(session, user, booking_id)
    if booking.status != "confirmed":
        raise Conflict("booking_not_confirmed", "只有已确认的预约可以签到", details={"status": booking.status})
    return {"booking_id": booking.id, "token": checkin_token(settings_of(session), booking.id)}


async def _on_duty(session: AsyncSession, user: User, activity: Activity) -> bool:
    """A volunteer on duty at this activity: checked in, not yet out, on a shift that staff
    attached to it (the rule is the volunteers'; they use it for scanning too)."""
    return await signups.on_duty_at(session, user, activity.id)


async def _staff_or_on_duty(session: AsyncSession, user: User, activity: Activity, doing: str) -> bool:
    """Whether the caller is the community's staff; else a volunteer on duty at this activity;
    anyone else is refused."""
    if await is_staff(session, user, activity.community_id):
        return True
    if await _on_duty(session, user, activity):
        return False
    raise Forbidden("not_on_duty", ON_DUTY_ONLY + doing)


def volunteer_name(name: str, kind: str) -> str:
    """A child's name as a volunteer at the door sees it: its first character (小雨 → 小*)."""
    return f"{name[:1]}*" if kind == "child" else name


async def _check_in(
    session: AsyncSession, booking: Booking, member_ids: list[int] | None, by: User, method: str, now: datetime
) -> set[int]:
    """Check in the booking's attendees (or those named); the ids of the attendees this call
    checked in (none if they all were already)."""
    attendees = list(
        (
            await session.execute(
                select(BookingAttendee).where(BookingAttendee.booking_id == booking.id, BookingAttendee.active)
            )
        ).scalars()
    )
    chosen = attendees
    if member_ids:
        chosen = [a for a in attendees if a.member_id in set(member_ids)]
        if len(chosen) != len(set(member_ids)):
            raise Unprocessable("attendee_not_in_booking", "签到的人不在这个预约里")
    result = await session.execute(
        update(BookingAttendee)
        .where(
            BookingAttendee.id.in_([a.id for a in chosen]),
            BookingAttendee.active,  # not cancelled in the meantime
            BookingAttendee.checked_in_at.is_(None),
        )
        .values(checked_in_at=now, checked_in_by=by.id, checkin_method=method, no_show=False)
        .returning(BookingAttendee.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


async def door_view(
    session: AsyncSession, activity: Activity, bookings: list[Booking], now_in: set[int], *, volunteer: bool
) -> dict[str, Any]:
    """The answer of every check-in: the activity, the bookings with their attendees (one query),
    which attendees `now_in` this request checked in, and whether it had all been done before."""
    rows = (
        await session.execute(
            select(BookingAttendee, Member.display_name, Member.kind)
            .outerjoin(Member, Member.id == BookingAttendee.member_id)
            .where(BookingAttendee.booking_id.in_([b.id for b in bookings]), BookingAttendee.active)
            .order_by(BookingAttendee.booking_id, BookingAttendee.id)
            # the check-in was a bulk UPDATE: attendees still in the session must be read again
            .execution_options(populate_existing=True)
        )
    ).all()
    people: dict[int, list[dict[str, Any]]] = {b.id: [] for b in bookings}
    for attendee, name, kind in rows:
        kind = kind or "guest"
        name = name if name is not None else attendee.guest_name or ""
        people[attendee.booking_id].append(
            {
                "member_id": attendee.member_id,
                "name": volunteer_name(name, kind) if volunteer else name,
                "kind": kind,
                "checked_in_at": attendee.checked_in_at,
                "checked_in_now": attendee.id in now_in,
            }
        )
    return {
        "activity": {
            "id": activity.id,
            "title": activity.title,
            "start_at": activity.start_at,
            "end_at": activity.end_at,
            "place": await place_of(session, activity),
        },
        "bookings": [
            {"id": b.id, "status": b.status, "seats": b.seats, "source": b.source, "attendees": people[b.id]}
            for b in bookings
        ],
        "newly_checked_in": len(now_in),
        "already_checked_in": not now_in,
    }


async def scan(
    session: AsyncSession,
    user: User,
    activity_id: int,
    *,
    token: str | None,
    booking_id: int | None,
    member_ids: list[int] | None,
) -> dict[str, Any]:
    """Staff check a booking in: by scanning its QR (`token`), or from the roster (`booking_id`)
    for someone without a phone. A volunteer on duty at the activity may scan codes, never tick
    the roster (a code shows the person is at the door). Its attendees (or those named) are in;
    again changes nothing and says so."""
    activity = await get_activity(session, activity_id)
    staff = await is_staff(session, user, activity.community_id)
    if not staff:
        if not await _on_duty(session, user, activity):
            raise Forbidden("not_on_duty", ON_DUTY_ONLY + "扫码签到")
        if token is None:
            raise Forbidden("checkin_code_required", "志愿者请扫居民的预约码签到；在名单上直接签到由社工操作")
    if token is not None:
        booking_id = verify_checkin_token(settings_of(session), token)
        if booking_id is None:
            raise Unprocessable("checkin_code_invalid", "这不是本活动的预约码")
    booking = await session.get(Booking, booking_id) if booking_id is not None else None
    if booking is None or booking.activity_id != activity.id:
        raise Unprocessable("checkin_code_invalid", "这不是本活动的预约码")
    if booking.status != "confirmed":
        raise Conflict("booking_not_confirmed", "这个预约没有确认（候补或已取消）", details={"status": booking.status})
    now = clock.now()
    _check_window(activity, now, await community_tz(session, activity.community_id))
    now_in = await _check_in(session, booking, member_ids, user, "scan" if token is not None else "staff", now)
    return await door_view(session, activity, [booking], now_in, volunteer=not staff)


ONSITE_QR_PREFIX = "linli://checkin"


def onsite_qr_text(activity_id: int, code: str) -> str:
    """What the on-site QR code holds: `linli://checkin?activity=<activity id>&code=<code>`. The
    mini-program's 扫码签到 reads it with `wx.scanCode` and sends
    `POST /api/v1/activities/<activity id>/checkins/self` with `{"code": "<code>"}` (and
    `attendee_ids` to check in only some of the household); a text without this prefix is not a
    Linli on-site code. It names the activity so that one scan is enough, and carries nothing
    personal; the code alone is useless a minute later."""
    return f"{ONSITE_QR_PREFIX}?activity={activity_id}&code={code}"


async def current_onsite_code(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    """For the staff screen at the door: the code of this minute, the text its QR code holds
    (`onsite_qr_text`), and when it changes."""
    activity = await get_activity(session, activity_id)
    await require_staff(session, user, activity.community_id)
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消")
    if activity.status != "published":
        raise Conflict("activity_not_published", "活动还没有发布")
    now = clock.now()
    minute_start = int(now.timestamp()) // ONSITE_CODE_SECONDS * ONSITE_CODE_SECONDS
    code = onsite_code(settings_of(session), activity.id, now)
    return {
        "activity_id": activity.id,
        "code": code,
        "qr_text": onsite_qr_text(activity.id, code),
        "valid_until": datetime.fromtimestamp(minute_start + ONSITE_CODE_SECONDS, UTC),
        "rotates_every_seconds": ONSITE_CODE_SECONDS,
    }


async def self_checkin(
    session: AsyncSession, user: User, activity_id: int, code: str, member_ids: list[int] | None
) -> dict[str, Any]:
    """The resident scans the on-site code: their household's confirmed bookings of the activity
    (or the attendees named) are checked in."""
    activity, _ = await visible_activity(session, user, activity_id)
    now = clock.now()
    if not onsite_code_valid(settings_of(session), activity.id, code, now):
        raise Unprocessable("onsite_code_invalid", "签到码已过期或不正确，请扫描现场屏幕上最新的二维码")
    _check_window(activity, now, await community_tz(session, activity.community_id))
    me = await my_member(session, user, activity.community_id)
    booked: list[Booking] = []
    if me is not None:
        booked = list(
            (
                await session.execute(
                    select(Booking)
                    .where(
                        Booking.activity_id == activity.id,
                        Booking.household_id == me.household_id,
                        Booking.status == "confirmed",
                    )
                    .order_by(Booking.id)
                )
            ).scalars()
        )
    if not booked:
        raise Conflict("not_booked", "你家没有本活动已确认的预约；没预约的请到门口找社工登记")
    now_in: set[int] = set()
    if member_ids:
        holders = await session.execute(
            select(BookingAttendee.booking_id, BookingAttendee.member_id).where(
                BookingAttendee.booking_id.in_([b.id for b in booked]), BookingAttendee.active
            )
        )
        by_booking: dict[int, list[int]] = {}
        for holder_booking, member_id in holders.all():
            if member_id in member_ids:
                by_booking.setdefault(holder_booking, []).append(member_id)
        if sum(len(v) for v in by_booking.values()) != len(set(member_ids)):
            raise Unprocessable("attendee_not_in_booking", "签到的人不在你家的预约里")
        booked = [b for b in booked if b.id in by_booking]
        for booking in booked:
            now_in |= await _check_in(session, booking, by_booking[booking.id], user, "self", now)
    else:
        for booking in booked:
            now_in |= await _check_in(session, booking, None, user, "self", now)
    return await door_view(session, activity, booked, now_in, volunteer=False)


async def walk_in(
    session: AsyncSession, user: User, activity_id: int, member_ids: list[int], guests: list[str]
) -> dict[str, Any]:
    """Register people who came without booking, while seats are free, and check them in at once:
    staff register members of one household of the community and guests by name; a volunteer on
    duty at the activity registers guests by name only (they cannot look residents up)."""
    activity = await get_activity(session, activity_id)
    staff = await _staff_or_on_duty(session, user, activity, "登记现场来的人")
    if member_ids and not staff:
        raise Forbidden(
            "walkin_members_staff_only",
            "志愿者请只填来访者的称呼（guests）；为本社区居民登记请找社工",
            details={"fields": ["member_ids"]},
        )
    now = clock.now()
    tz = await community_tz(session, activity.community_id)
    _check_window(activity, now, tz)
    members: list[Member] = []
    if member_ids:
        members = list(
            (
                await session.execute(
                    select(Member).where(
                        Member.id.in_(member_ids),
                        Member.community_id == activity.community_id,
                        Member.status == "active",
                    )
                )
            ).scalars()
        )
        if len(members) != len(set(member_ids)) or len({m.household_id for m in members}) != 1:
            raise Unprocessable("walkin_members_invalid", "登记的成员须属于本社区的同一户")
    seats = len(members) + len(guests)
    activity = await lock_activity(session, activity.id)
    _check_window(activity, now, tz)  # again: it may have been cancelled while we waited
    if not await take_seats(session, activity, seats):
        raise Conflict(
            "activity_full", "名额已满", details={"seats_left": activity.capacity - activity.taken, "asked": seats}
        )
    booking = Booking(
        activity_id=activity.id,
        community_id=activity.community_id,
        household_id=members[0].household_id if members else None,
        booked_by=None,
        seats=seats,
        status="confirmed",
        source="walkin",
        confirmed_at=now,
    )
    session.add(booking)
    try:
        async with session.begin_nested():
            await session.flush()
            session.add_all(
                [
                    *(BookingAttendee(booking_id=booking.id, activity_id=activity.id, member_id=m.id) for m in members),
                    *(BookingAttendee(booking_id=booking.id, activity_id=activity.id, guest_name=g) for g in guests),
                ]
            )
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("already_booked", "已经预约过本活动，请扫他们的预约码签到") from exc
    now_in = await _check_in(session, booking, None, user, "walkin", now)
    return await door_view(session, activity, [booking], now_in, volunteer=not staff)


async def attendance(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    """The roster: every confirmed booking with who is in, then the waitlist — for staff. A
    volunteer on duty at the activity gets `volunteer_roster`, the part the door needs."""
    activity = await get_activity(session, activity_id)
    staff = await _staff_or_on_duty(session, user, activity, "查看签到名单")
    desk = aliased(User)
    rows = (
        await session.execute(
            select(Booking, BookingAttendee, Member, Household, User.display_name, desk.display_name, desk.id)
            .join(BookingAttendee, BookingAttendee.booking_id == Booking.id)
            .outerjoin(Member, Member.id == BookingAttendee.member_id)
            .outerjoin(Household, Household.id == Booking.household_id)
            .outerjoin(User, User.id == Booking.booked_by)
            .outerjoin(desk, desk.id == Booking.booked_at_desk_by)
            .where(Booking.activity_id == activity.id, Booking.status != "cancelled")
            .order_by(Booking.id, BookingAttendee.id)
        )
    ).all()
    bookings: dict[int, dict[str, Any]] = {}
    for booking, attendee, member, household, booker, desk_name, desk_id in rows:
        entry = bookings.setdefault(
            booking.id,
            {
                "booking_id": booking.id,
                "status": booking.status,
                "source": booking.source,
                "seats": booking.seats,
                "booked_by": booker,
                # made at the desk for the household (代办): by which staff member
                "booked_at_desk_by": (desk_name or "工作人员") if desk_id is not None else None,
                "household": f"{household.building}{household.unit}{household.room}" if household else None,
                "attendees": [],
            },
        )
        entry["attendees"].append(
            {
                "member_id": attendee.member_id,
                "name": member.display_name if member else attendee.guest_name,
                "kind": member.kind if member else "guest",
                "checked_in_at": attendee.checked_in_at,
                "checkin_method": attendee.checkin_method,
                "no_show": attendee.no_show,
            }
        )
    confirmed = [b for b in bookings.values() if b["status"] == "confirmed"]
    waitlist = [b for b in bookings.values() if b["status"] == "waitlisted"]
    for position, entry in enumerate(waitlist, start=1):
        entry["waitlist_position"] = position
    people = [a for b in confirmed for a in b["attendees"]]
    roster = {
        "view": "staff",
        "activity_id": activity.id,
        "capacity": activity.capacity,
        "taken": activity.taken,
        "checked_in": sum(1 for a in people if a["checked_in_at"] is not None),
        "no_show": sum(1 for a in people if a["no_show"]),
        "expected": len(people),
        "waitlisted_seats": sum(b["seats"] for b in waitlist),
        "bookings": confirmed,
        "waitlist": waitlist,
    }
    return roster if staff else volunteer_roster(roster)


def volunteer_roster(roster: dict[str, Any]) -> dict[str, Any]:
    """The staff roster cut to what a volunteer at the door needs: the counts, and per confirmed
    booking its seats and its people's names (a child's shortened), kinds and check-in times.
    Not the household's address, the booker, member ids, how each was checked in, no-shows or
    the waitlist's names."""
    return {
        "view": "volunteer",
        **{k: roster[k] for k in ("activity_id", "capacity", "taken", "expected", "checked_in", "waitlisted_seats")},
        "bookings": [
            {
                "booking_id": b["booking_id"],
                "source": b["source"],
                "seats": b["seats"],
                "attendees": [
                    {
                        "name": volunteer_name(a["name"], a["kind"]),
                        "kind": a["kind"],
                        "checked_in_at": a["checked_in_at"],
                    }
                    for a in b["attendees"]
                ],
            }
            for b in roster["bookings"]
        ],
    }


WALKIN_SEARCH_LIMIT = 8


async def walkin_candidates(
    session: AsyncSession, user: User, activity_id: int, query: str, *, limit: int = WALKIN_SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Staff look up residents who came without booking, to register them at the door (`walk_in`):
    up to `limit` households of the activity's community with an active member whose name, or
    whose address (building, unit, room), contains `query`; each with all its active members and
    whether each already holds a seat of this activity (then scan their code instead). Staff only:
    a volunteer on duty registers guests by name and never looks residents up."""
    activity = await get_activity(session, activity_id)
    await require_staff(session, user, activity.community_id)
    text = query.strip()
    if not text:
        return []
    address = Household.building + Household.unit + Household.room
    households = list(
        (
            await session.execute(
                select(Household)
                .where(
                    Household.community_id == activity.community_id,
                    Household.id.in_(
                        select(Member.household_id).where(
                            Member.community_id == activity.community_id,
                            Member.status == "active",
                            or_(
                                Member.display_name.contains(text, autoescape=True),
                                address.contains(text, autoescape=True),
                            ),
                        )
                    ),
                )
                .order_by(Household.building, Household.unit, Household.room, Household.id)
                .limit(limit)
            )
        ).scalars()
    )
    if not households:
        return []
    members = list(
        (
            await session.execute(
                select(Member)
                .where(Member.household_id.in_([h.id for h in households]), Member.status == "active")
                .order_by(Member.household_id, Member.is_head.desc(), Member.id)
            )
        ).scalars()
    )
    seated = set(
        (
            await session.execute(
                select(BookingAttendee.member_id).where(
                    BookingAttendee.activity_id == activity.id,
                    BookingAttendee.member_id.in_([m.id for m in members]),
                    BookingAttendee.active,
                )
            )
        ).scalars()
    )
    by_household: dict[int, list[dict[str, Any]]] = {h.id: [] for h in households}
    for member in members:
        by_household[member.household_id].append(
            {"id": member.id, "name": member.display_name, "kind": member.kind, "booked": member.id in seated}
        )
    return [
        {
            "household_id": h.id,
            "address": f"{h.building}{h.unit}{h.room}",
            "members": by_household[h.id],
        }
        for h in households
    ]
