"""The household's file (一户一档) as staff read it at the desk: households by building and search,
join requests waiting for a decision, one household's members and phone, and its history in one
place — bookings and attendance, loans, holds, volunteer hours — with what can be booked for it.

Everything here is for staff (and admins) of the household's community: a household of another
community is not found, as one that does not exist. Lists are pages of `PER_PAGE` (page numbers:
staff jump around a building, they do not scroll a feed). What changes anything goes through the
services that keep the rules (bookings, households, phones).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Booking, Hold, Household, Loan, Member, ServiceRecord, User
from api.errors import NotFound
from api.services import households, phones
from api.services.access import require_staff
from api.services.activities import booking_rules, bookings
from api.services.activities.common import place_of
from api.services.library.circulation import loan_view
from api.services.library.holds import hold_view
from api.services.volunteers.common import hours
from api.services.volunteers.totals import counted

PER_PAGE = 20
HISTORY_PER_PAGE = 10
BOOKABLE_LIMIT = 50
KIND_LABELS = {"adult": "成人", "child": "儿童", "elder": "老人"}


async def _page_of(
    session: AsyncSession, query: Select[*tuple[Any, ...]], page: int, per_page: int
) -> tuple[list[Any], bool]:
    """Page `page` (from 1) of the query's rows, and whether another page follows."""
    rows = (await session.execute(query.offset((max(page, 1) - 1) * per_page).limit(per_page + 1))).all()
    return list(rows[:per_page]), len(rows) > per_page


def _listing(items: list[Any], page: int, has_next: bool) -> dict[str, Any]:
    return {"items": items, "page": max(page, 1), "has_next": has_next}


async def household_in(session: AsyncSession, user: User, community_id: int, household_id: int) -> Household:
    """The household, for staff of its community; anyone else, or another community's household:
    404 (or the access refusal of the community itself)."""
    await require_staff(session, user, community_id)
    household = await session.get(Household, household_id)
    if household is None or household.community_id != community_id:
        raise NotFound("household_not_found", "找不到该住户")
    return household


def _natural(key: str) -> tuple[int, int, str]:
    return (0, int(key), key) if key.isdigit() else (1, 0, key)


async def buildings(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The community's buildings (one per normalised building: "3栋" and "3号楼" are one), in
    natural order, with how many households each has."""
    await require_staff(session, user, community_id)
    rows = await session.execute(
        select(Household.building, Household.address_key).where(Household.community_id == community_id)
    )
    found: dict[str, dict[str, Any]] = {}
    for building, key in rows:
        part = key.split("|", 1)[0]
        entry = found.setdefault(part, {"key": part, "label": building, "households": 0})
        entry["households"] += 1
    return [found[k] for k in sorted(found, key=_natural)]


async def search(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    building: str | None,
    q: str | None,
    page: int,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """Staff find households: of one building, and/or whose room or one of whose members' names
    contains `q`; ordered by address. Each with its members, the requests waiting and the phone
    (masked)."""
    await require_staff(session, user, community_id)
    query = select(Household).where(Household.community_id == community_id)
    if building:
        query = query.where(Household.address_key.startswith(households.building_key(building) + "|", autoescape=True))
    text = (q or "").strip()
    if text:
        named = exists().where(Member.household_id == Household.id, Member.display_name.contains(text, autoescape=True))
        room = households.room_key(text)
        query = query.where(
            or_(
                named,
                Household.room.contains(text, autoescape=True),
                Household.address_key.endswith("|" + room, autoescape=True),
            )
        )
    rows, has_next = await _page_of(session, query.order_by(Household.address_key, Household.id), page, per_page)
    found = [h for (h,) in rows]
    ids = [h.id for h in found]
    members: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for member in (
            await session.execute(
                select(Member).where(Member.household_id.in_(ids)).order_by(Member.is_head.desc(), Member.id)
            )
        ).scalars():
            members[member.household_id].append(_member(member))
    masked = await phones.masked(session, ids)
    items = [
        {
            "id": h.id,
            "address": households.address_text(h),
            "members": [m for m in members[h.id] if m["status"] == "active"],
            "pending": sum(1 for m in members[h.id] if m["status"] == "pending"),
            "has_wechat": any(m["has_account"] and m["status"] == "active" for m in members[h.id]),
            "phone": masked.get(h.id),
        }
        for h in found
    ]
    return _listing(items, page, has_next)


def _member(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.display_name,
        "kind": member.kind,
        "kind_label": KIND_LABELS.get(member.kind, member.kind),
        "birth_year": member.birth_year,
        "gender": member.gender,
        "status": member.status,
        "is_head": member.is_head,
        "has_account": member.user_id is not None,
        "consent_at": member.consent_at,
        "since": member.created_at,
    }


async def join_requests(
    session: AsyncSession, user: User, community_id: int, *, page: int, per_page: int = PER_PAGE
) -> dict[str, Any]:
    """Staff: people waiting to be let into a household (they joined at an address that has one),
    oldest first, with the household they asked for."""
    await require_staff(session, user, community_id)
    query = (
        select(Member, Household)
        .join(Household, Household.id == Member.household_id)
        .where(Member.community_id == community_id, Member.status == "pending")
        .order_by(Member.id)
    )
    found, has_next = await _page_of(session, query, page, per_page)
    items = [
        {**_member(m), "household_id": h.id, "address": households.address_text(h), "requested_at": m.created_at}
        for m, h in found
    ]
    return _listing(items, page, has_next)


async def decide_request(session: AsyncSession, user: User, community_id: int, member_id: int, approve: bool) -> int:
    """Staff approve or refuse a request to join a household of their community (the households
    service's rule); the household's id."""
    await require_staff(session, user, community_id)
    member = await session.get(Member, member_id)
    if member is None or member.community_id != community_id:
        raise NotFound("member_not_found", "找不到该成员")
    household_id = member.household_id
    if approve:
        await households.approve_request(session, user, member_id)
    else:
        await households.reject_request(session, user, member_id)
    return household_id


async def household_file(session: AsyncSession, user: User, community_id: int, household_id: int) -> dict[str, Any]:
    """One household's file: its address, members (requests waiting included), its phone (masked;
    the full number only through the logged reveal), whether anyone in it has WeChat, and the
    approved volunteer hours of its members who volunteer."""
    household = await household_in(session, user, community_id, household_id)
    people = list(
        (
            await session.execute(
                select(Member).where(Member.household_id == household.id).order_by(Member.is_head.desc(), Member.id)
            )
        ).scalars()
    )
    members = [_member(m) for m in people]
    accounts = {m.user_id: m.display_name for m in people if m.status == "active" and m.user_id is not None}
    minutes: dict[int, int] = {}
    if accounts:
        rows = await session.execute(
            select(ServiceRecord.user_id, func.sum(ServiceRecord.minutes))
            .where(ServiceRecord.community_id == community_id, ServiceRecord.user_id.in_(list(accounts)), counted())
            .group_by(ServiceRecord.user_id)
        )
        minutes = {user_id: int(total or 0) for user_id, total in rows}
    return {
        "id": household.id,
        "address": households.address_text(household),
        "building": household.building,
        "unit": household.unit,
        "room": household.room,
        **households.flat_view(household),
        "created_at": household.created_at,
        "members": [m for m in members if m["status"] == "active"],
        "pending": [m for m in members if m["status"] == "pending"],
        "has_wechat": bool(accounts),
        "phone": (await phones.masked(session, [household.id])).get(household.id),
        "phone_at_desk": household.contact_phone_sealed is not None,
        "volunteer_hours": [
            {"name": name, "hours": hours(minutes.get(uid, 0))} for uid, name in accounts.items() if uid in minutes
        ],
    }


async def history_bookings(
    session: AsyncSession, user: User, community_id: int, household_id: int, *, page: int
) -> dict[str, Any]:
    """The household's bookings, the latest activity first, cancelled ones too: who came (checked
    in), who did not (no-show), and which were booked at the desk and by whom."""
    household = await household_in(session, user, community_id, household_id)
    query = (
        select(Booking, Activity)
        .join(Activity, Activity.id == Booking.activity_id)
        .where(Booking.household_id == household.id)
        .order_by(Activity.start_at.desc(), Booking.id.desc())
    )
    found, has_next = await _page_of(session, query, page, HISTORY_PER_PAGE)
    items = [await bookings.booking_view(session, b, a, viewer_is_staff=True) for b, a in found]
    return _listing(items, page, has_next)


async def history_loans(
    session: AsyncSession, user: User, community_id: int, household_id: int, *, page: int
) -> dict[str, Any]:
    """The household's loans: those still out first (soonest due), then returned ones, latest
    first."""
    household = await household_in(session, user, community_id, household_id)
    out_first = case((Loan.returned_at.is_(None), 0), else_=1)
    query = (
        select(Loan)
        .where(Loan.household_id == household.id)
        .order_by(out_first, case((Loan.returned_at.is_(None), Loan.due_at), else_=None), Loan.id.desc())
    )
    found, has_next = await _page_of(session, query, page, HISTORY_PER_PAGE)
    return _listing([await loan_view(session, loan) for (loan,) in found], page, has_next)


async def history_holds(
    session: AsyncSession, user: User, community_id: int, household_id: int, *, page: int
) -> dict[str, Any]:
    """The household's holds: waiting and ready ones first, then closed ones, latest first."""
    household = await household_in(session, user, community_id, household_id)
    active_first = case((Hold.status.in_(("waiting", "ready")), 0), else_=1)
    query = select(Hold).where(Hold.household_id == household.id).order_by(active_first, Hold.id.desc())
    found, has_next = await _page_of(session, query, page, HISTORY_PER_PAGE)
    return _listing([await hold_view(session, hold) for (hold,) in found], page, has_next)


async def history_volunteering(
    session: AsyncSession, user: User, community_id: int, household_id: int, *, page: int
) -> dict[str, Any]:
    """Service records in this community of the household's members who have WeChat (volunteers
    are accounts), the latest service first, each saying whether its hours count."""
    household = await household_in(session, user, community_id, household_id)
    query = (
        select(ServiceRecord, Member.display_name, counted().label("counts"))
        .join(
            Member,
            and_(
                Member.user_id == ServiceRecord.user_id,
                Member.household_id == household.id,
                Member.status == "active",
            ),
        )
        .where(ServiceRecord.community_id == community_id)
        .order_by(ServiceRecord.service_date.desc(), ServiceRecord.id.desc())
    )
    found, has_next = await _page_of(session, query, page, HISTORY_PER_PAGE)
    items = [
        {
            "id": r.id,
            "name": name,
            "service": r.service,
            "activity_name": r.activity_name,
            "service_date": r.service_date,
            "hours": hours(r.minutes),
            "status": r.status,
            "counts": bool(counts),
        }
        for r, name, counts in found
    ]
    return _listing(items, page, has_next)


async def bookable(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """What staff can book at the desk now: the community's published activities whose
    registration is open, soonest first (the next `BOOKABLE_LIMIT`), with the seats left and
    the waitlist, the age range and the seats one booking may take."""
    await require_staff(session, user, community_id)
    now = clock.now()
    waiting = (
        select(func.coalesce(func.sum(Booking.seats), 0))
        .where(Booking.activity_id == Activity.id, Booking.status == "waitlisted")
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Activity, waiting.label("waiting"))
            .where(
                Activity.community_id == community_id,
                Activity.status == "published",
                Activity.published_at.is_not(None),
                func.coalesce(Activity.registration_opens_at, Activity.published_at) <= now,
                Activity.registration_closes_at > now,
            )
            .order_by(Activity.start_at, Activity.id)
            .limit(BOOKABLE_LIMIT)
        )
    ).all()
    return [
        {
            "id": a.id,
            "title": a.title,
            "start_at": a.start_at,
            "place": await place_of(session, a),
            "seats_left": max(a.capacity - a.taken, 0),
            "waitlisted": int(waiting or 0),
            "min_age": a.child_min_age,
            "max_age": a.child_max_age,
            "max_seats": a.max_seats_per_booking,
        }
        for a, waiting in rows
        if booking_rules.registration_state(a, now) == "open"
    ]


async def book_for(
    session: AsyncSession, user: User, community_id: int, household_id: int, activity_id: int, member_ids: list[int]
) -> dict[str, Any]:
    """Book at the desk for members of a household of this community: the bookings service's
    `book` with `on_behalf_of`, under every rule a resident meets."""
    household = await household_in(session, user, community_id, household_id)
    return await bookings.book(session, user, activity_id, member_ids, on_behalf_of=household.id)


async def cancel_for(
    session: AsyncSession, user: User, community_id: int, household_id: int, booking_id: int
) -> dict[str, Any]:
    """Staff cancel one of the household's bookings (the bookings service's rule: any time before
    the end; the waitlist is promoted)."""
    household = await household_in(session, user, community_id, household_id)
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.household_id != household.id:
        raise NotFound("booking_not_found", "找不到该预约")
    return await bookings.cancel(session, user, booking_id)


async def booking_of(
    session: AsyncSession, user: User, community_id: int, household_id: int, booking_id: int
) -> dict[str, Any] | None:
    """One of the household's bookings as staff see it (the answer after booking at the desk),
    or None if it is not the household's."""
    household = await household_in(session, user, community_id, household_id)
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.household_id != household.id:
        return None
    return await bookings.get_booking(session, user, booking_id)
