"""Loans, returns, renewals and holds (借阅与预约). Never lend a copy twice.

A copy changes state only by a conditional UPDATE (`… WHERE state = 'available'`, or on the hold
shelf for this member) in the transaction that writes the loan, and a partial unique index allows
one active loan per copy: under any concurrency one borrower wins and the rest get a clear 409.
Borrows of one member queue on the member's row, so the loan limit cannot be overrun either.

A returned copy goes to the first hold in line (the hold shelf, for `hold_shelf_days`), else back
on the shelf; an expired or cancelled hold passes its copy on the same way.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Book, BookCopy, Hold, Loan, Member, Space, SpaceClosure, User
from api.errors import Conflict, NotFound
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.access import get_community, is_staff, require_member, require_staff
from api.services.communities import is_open, next_opening
from api.services.library.common import (
    DUE_SOON,
    copy_space,
    due_at,
    due_day,
    get_copy_by_barcode,
    local_day,
    lock_book,
    member_for,
    my_member,
    rules,
)
from api.services.notifications import cancel_scheduled, notify, schedule

UNSYNCED = {"synchronize_session": False}


# -- reminders -----------------------------------------------------------------------------------


def due_key(loan: Loan) -> str:
    return f"loan:{loan.id}:due:{int(loan.due_at.timestamp())}"


def _expiring_key(hold: Hold) -> str:
    return f"hold:{hold.id}:expiring"


async def _loan_params(session: AsyncSession, loan: Loan) -> dict[str, Any]:
    book = await session.get(Book, loan.book_id)
    member = await session.get(Member, loan.member_id)
    community = await get_community(session, loan.community_id)
    assert book is not None and member is not None
    return {
        "loan_id": loan.id,
        "book_title": book.title,
        "member_name": member.display_name,
        "due_on": due_day(loan.due_at, community).isoformat(),
    }


async def _recipients(session: AsyncSession, loan_or_hold: Loan | Hold) -> list[int]:
    """Who hears about a member's books: the member if they use WeChat, the household's head, and
    the family member who borrowed or placed it (not staff at the desk)."""
    member = await session.get(Member, loan_or_hold.member_id)
    assert member is not None
    actor = loan_or_hold.borrowed_by if isinstance(loan_or_hold, Loan) else loan_or_hold.placed_by
    rows = await session.execute(
        select(Member.user_id).where(
            Member.household_id == member.household_id,
            Member.status == "active",
            Member.user_id.is_not(None),
            (Member.id == member.id) | Member.is_head | (Member.user_id == actor),
        )
    )
    return sorted({user_id for user_id in rows.scalars() if user_id is not None})


async def _schedule_due_reminder(session: AsyncSession, loan: Loan) -> None:
    at = loan.due_at - DUE_SOON - timedelta(hours=12)  # noon, two days before the due day ends
    if at <= clock.now():
        return
    await schedule(
        session,
        at,
        await _recipients(session, loan),
        "loan.due_soon",
        await _loan_params(session, loan),
        due_key(loan),
        community_id=loan.community_id,
    )


# -- borrowing -----------------------------------------------------------------------------------


def _unavailable(copy: BookCopy, kept_until: date | None = None) -> Conflict:
    if copy.state == "on_loan":
        return Conflict("copy_on_loan", "这册书已经借出了", details={"barcode": copy.barcode})
    if copy.state == "on_hold_shelf":
        if kept_until is None:
            return Conflict("copy_held", "这册书是给预约的读者留的", details={"barcode": copy.barcode})
        return Conflict(
            "copy_held",
            f"这册书给预约的读者留到 {kept_until.month}月{kept_until.day}日，之后没人来取才能借",
            details={"barcode": copy.barcode, "kept_until": kept_until.isoformat()},
        )
    return Conflict("copy_unavailable", "这册书暂不外借（修补中、遗失或已下架）", details={"state": copy.state})


async def _kept_until(session: AsyncSession, copy: BookCopy) -> date | None:
    """The last day the hold shelf keeps the copy for the reader it waits for (community time)."""
    expires = (
        await session.execute(select(Hold.expires_at).where(Hold.copy_id == copy.id, Hold.status == "ready"))
    ).scalar_one_or_none()
    if expires is None:
        return None
    community, _ = await copy_space(session, copy)
    return due_day(expires, community)


async def _closed(session: AsyncSession, copy: BookCopy) -> Conflict:
    """Self-service outside opening hours: the refusal says when the space opens next."""
    community, space = await copy_space(session, copy)
    closures: list[SpaceClosure] = []
    if space is not None:
        today = local_day(clock.now(), community)
        closures = list(
            (
                await session.execute(
                    select(SpaceClosure).where(SpaceClosure.space_id == space.id, SpaceClosure.ends_on >= today)
                )
            ).scalars()
        )
    opens = next_opening(community, space, closures, clock.now()) if space is not None else None
    if opens is None:
        return Conflict("library_closed", "书屋现在没有开放；自助借书请在开放时间内，在书屋里扫码")
    return Conflict(
        "library_closed",
        f"书屋现在没有开放，{localtime.text(opens)} 开门；自助借书请在开放时间内，在书屋里扫码",
        details={"opens_at": opens},
    )


async def _open_now(session: AsyncSession, copy: BookCopy) -> bool:
    community, space = await copy_space(session, copy)
    if space is None:
        return False
    closures = list(
        (
            await session.execute(
                select(SpaceClosure).where(
                    SpaceClosure.space_id == space.id, SpaceClosure.ends_on >= local_day(clock.now(), community)
                )
            )
        ).scalars()
    )
    return is_open(community, space, closures, clock.now())


async def borrow(session: AsyncSession, user: User, community_id: int, barcode: str, member_id: int) -> dict[str, Any]:
    """Lend a copy to a member: staff at the desk for anyone of the community, a resident for
    their own household, by themselves only while the space is open. Refused when the copy is not
    on the shelf (or is kept for someone else's hold), the member is at their limit, or anything
    of theirs is overdue."""
    await require_member(session, user, community_id)
    copy = await get_copy_by_barcode(session, community_id, barcode)
    member, staff = await member_for(session, user, community_id, member_id)
    if not staff and not await _open_now(session, copy):
        raise await _closed(session, copy)
    policy = await rules(session, community_id)
    now = clock.now()

    # one borrow of this member at a time (the limit holds under double taps), then the book
    await session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    await lock_book(session, copy.book_id)
    overdue = (
        await session.execute(
            select(Loan.id, Book.title)
            .join(Book, Book.id == Loan.book_id)
            .where(Loan.member_id == member.id, Loan.returned_at.is_(None), Loan.due_at <= now)
        )
    ).all()
    if overdue:
        raise Conflict(
            "member_overdue",
            f"{member.display_name}有逾期未还的书，请先归还再借",
            details={"overdue": [{"loan_id": i, "title": t} for i, t in overdue]},
        )
    active = (
        await session.execute(select(func.count()).where(Loan.member_id == member.id, Loan.returned_at.is_(None)))
    ).scalar_one()
    limit = policy.limit_for(member)
    if active >= limit:
        raise Conflict(
            "loan_limit", f"{member.display_name}已经借了{active}本，最多{limit}本", details={"limit": limit}
        )
    kept_for_me = exists().where(Hold.copy_id == BookCopy.id, Hold.status == "ready", Hold.member_id == member.id)
    taken = await session.execute(
        update(BookCopy)
        .where(
            BookCopy.id == copy.id,
            (BookCopy.state == "available") | ((BookCopy.state == "on_hold_shelf") & kept_for_me),
        )
        .values(state="on_loan", updated_at=now)
        .execution_options(**UNSYNCED)
    )
    if not getattr(taken, "rowcount", 0):
        await session.refresh(copy)
        raise _unavailable(copy, await _kept_until(session, copy))
    # the member's hold on this book, if any, is fulfilled by this loan
    fulfilled = (
        await session.execute(
            select(Hold).where(
                Hold.book_id == copy.book_id, Hold.member_id == member.id, Hold.status.in_(("waiting", "ready"))
            )
        )
    ).scalar_one_or_none()
    if fulfilled is not None:
        kept = fulfilled.copy_id if fulfilled.status == "ready" and fulfilled.copy_id != copy.id else None
        fulfilled.status = "fulfilled"
        fulfilled.closed_at = now
        await session.flush()
        await cancel_scheduled(session, _expiring_key(fulfilled))
        await pass_on(session, kept, "on_hold_shelf")  # they took another copy: the kept one goes on
    community, space = await copy_space(session, copy)
    loan = Loan(
        community_id=community_id,
        copy_id=copy.id,
        book_id=copy.book_id,
        member_id=member.id,
        household_id=member.household_id,
        borrowed_by=user.id,
        borrowed_at=now,
        due_at=await due_at(
            session, community, space, local_day(now, community) + timedelta(days=policy.days_for(member))
        ),
    )
    session.add(loan)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the unique index: someone else's loan of this copy won
        raise Conflict("copy_on_loan", "这册书已经借出了", details={"barcode": copy.barcode}) from exc
    await _schedule_due_reminder(session, loan)
    return await loan_view(session, loan)


# -- returning and the hold queue ----------------------------------------------------------------


async def pass_on(session: AsyncSession, copy_id: int | None, from_state: str) -> Hold | None:
    """A copy has come free (returned, its hold cancelled or expired, or found on the shelf for a
    new hold): it goes to the first hold in line for its book — to the hold shelf, and the member
    is told — else back on the shelf. Moves the copy only if it is still `from_state` (a concurrent
    request may have moved it first). Returns the hold it went to."""
    if copy_id is None:
        return None
    now = clock.now()
    moved = await session.execute(
        update(BookCopy)
        .where(BookCopy.id == copy_id, BookCopy.state == from_state)
        .values(state="on_hold_shelf", updated_at=now)
        .execution_options(**UNSYNCED)
    )
    if not getattr(moved, "rowcount", 0):
        return None
    copy = await session.get(BookCopy, copy_id, populate_existing=True)
    assert copy is not None
    policy = await rules(session, copy.community_id)
    community, space = await copy_space(session, copy)
    waiting = (
        await session.execute(
            select(Hold.id).where(Hold.book_id == copy.book_id, Hold.status == "waiting").order_by(Hold.id)
        )
    ).scalars()
    last_day = local_day(now, community) + timedelta(days=policy.hold_shelf_days - 1)
    for hold_id in list(waiting):
        claimed = await session.execute(
            update(Hold)
            .where(Hold.id == hold_id, Hold.status == "waiting")  # a concurrent return may have served it
            .values(
                status="ready",
                copy_id=copy.id,
                ready_at=now,
                expires_at=await due_at(session, community, space, last_day),
            )
            .execution_options(**UNSYNCED)
        )
        if getattr(claimed, "rowcount", 0):
            hold = await session.get(Hold, hold_id, populate_existing=True)
            assert hold is not None
            await _tell_hold_ready(session, hold, space)
            return hold
    await session.execute(
        update(BookCopy)
        .where(BookCopy.id == copy.id)
        .values(state="available", updated_at=now)
        .execution_options(**UNSYNCED)
    )
    return None


async def _hold_params(session: AsyncSession, hold: Hold, space: Space | None) -> dict[str, Any]:
    book = await session.get(Book, hold.book_id)
    member = await session.get(Member, hold.member_id)
    community = await get_community(session, hold.community_id)
    assert book is not None and member is not None and hold.expires_at is not None
    return {
        "hold_id": hold.id,
        "book_title": book.title,
        "member_name": member.display_name,
        "pickup_by": due_day(hold.expires_at, community).isoformat(),
        "place": space.name if space is not None else "社区书屋",
    }


async def _tell_hold_ready(session: AsyncSession, hold: Hold, space: Space | None) -> None:
    params = await _hold_params(session, hold, space)
    users = await _recipients(session, hold)
    await notify(session, users, "hold.ready", params, f"hold:{hold.id}:ready", community_id=hold.community_id)
    assert hold.expires_at is not None
    at = hold.expires_at - timedelta(hours=36)  # noon of the day before the last day
    if at <= clock.now():
        return
    await schedule(
        session,
        at,
        users,
        "hold.expiring",
        params,
        _expiring_key(hold),
        community_id=hold.community_id,
    )


async def return_copy(session: AsyncSession, user: User, community_id: int, barcode: str) -> dict[str, Any]:
    """Staff take a copy back (at the desk, or emptying the drop box). It goes to the first hold
    in line, else back on the shelf. Returning twice is refused with `not_on_loan`."""
    await require_staff(session, user, community_id)
    copy = await get_copy_by_barcode(session, community_id, barcode)
    await lock_book(session, copy.book_id)
    loan = (
        await session.execute(select(Loan).where(Loan.copy_id == copy.id, Loan.returned_at.is_(None)))
    ).scalar_one_or_none()
    if loan is None:
        raise Conflict("not_on_loan", "这册书没有借出记录", details={"barcode": copy.barcode, "state": copy.state})
    now = clock.now()
    closed = await session.execute(
        update(Loan)
        .where(Loan.id == loan.id, Loan.returned_at.is_(None))
        .values(returned_at=now, returned_by=user.id)
        .execution_options(**UNSYNCED)
    )
    if not getattr(closed, "rowcount", 0):
        raise Conflict("not_on_loan", "这册书刚刚已经还过了", details={"barcode": copy.barcode})
    await session.refresh(loan)
    await cancel_scheduled(session, due_key(loan))
    hold = await pass_on(session, copy.id, "on_loan")
    view = await loan_view(session, loan)
    view["next"] = {"to": "shelf", "hold_id": None, "member_name": None}
    if hold is not None:  # staff put it on the hold shelf, labelled for this member
        member = await session.get(Member, hold.member_id)
        view["next"] = {"to": "hold_shelf", "hold_id": hold.id, "member_name": member.display_name if member else None}
    return view


async def mark_lost(session: AsyncSession, user: User, loan_id: int) -> dict[str, Any]:
    """Staff record that a lent copy is lost: the loan is closed (the member is no longer
    overdue) and the copy is marked lost. No money changes hands."""
    loan = await session.get(Loan, loan_id)
    if loan is None:
        raise NotFound("loan_not_found", "找不到该借阅记录")
    await require_staff(session, user, loan.community_id)
    await lock_book(session, loan.book_id)
    await session.refresh(loan)
    if loan.returned_at is not None:
        raise Conflict("loan_returned", "这本书已经还了")
    now = clock.now()
    loan.returned_at = now
    loan.returned_by = user.id
    loan.lost = True
    await session.execute(
        update(BookCopy)
        .where(BookCopy.id == loan.copy_id, BookCopy.state == "on_loan")
        .values(state="lost", updated_at=now)
        .execution_options(**UNSYNCED)
    )
    await session.flush()
    await cancel_scheduled(session, due_key(loan))
    return await loan_view(session, loan)


async def renew(session: AsyncSession, user: User, loan_id: int) -> dict[str, Any]:
    """The borrower's household or staff extend a loan by its loan period, counted from its due
    day. Refused when the renewals are used up, the loan is already overdue, or someone is waiting
    for the book."""
    loan = await _loan_for(session, user, loan_id)
    await lock_book(session, loan.book_id)
    await session.refresh(loan)  # as it is now that nobody else can move it
    if loan.returned_at is not None:
        raise Conflict("loan_returned", "这本书已经还了")
    policy = await rules(session, loan.community_id)
    if loan.renewals >= policy.renewals:
        raise Conflict("renewal_limit", f"最多续借{policy.renewals}次", details={"renewals": loan.renewals})
    if clock.now() >= loan.due_at:
        due = due_day(loan.due_at, await get_community(session, loan.community_id))
        raise Conflict(
            "loan_overdue",
            f"这本书 {due.month}月{due.day}日 到期，已经逾期，不能续借，请先归还",
            details={"due_on": due.isoformat(), "due_at": loan.due_at},
        )
    waiting = (
        await session.execute(
            select(func.count()).where(
                Hold.book_id == loan.book_id, Hold.status == "waiting", Hold.member_id != loan.member_id
            )
        )
    ).scalar_one()
    if waiting:
        raise Conflict("book_on_hold", "有邻居在排队预约这本书，不能续借", details={"waiting": waiting})
    await cancel_scheduled(session, due_key(loan))
    member = await session.get(Member, loan.member_id)
    copy = await session.get(BookCopy, loan.copy_id)
    assert member is not None and copy is not None
    community, space = await copy_space(session, copy)
    loan.due_at = await due_at(
        session, community, space, due_day(loan.due_at, community) + timedelta(days=policy.days_for(member))
    )
    loan.renewals += 1
    await session.flush()
    await _schedule_due_reminder(session, loan)
    return await loan_view(session, loan)


# -- holds ---------------------------------------------------------------------------------------


async def place_hold(session: AsyncSession, user: User, book_id: int, member_id: int) -> dict[str, Any]:
    """Queue a household member for a book. If a copy is on the shelf it is kept for them at once
    (staff put it on the hold shelf). At most `max_holds` holds per member."""
    book = await session.get(Book, book_id)
    if book is None:
        raise NotFound("book_not_found", "找不到这本书")
    member, _ = await member_for(session, user, book.community_id, member_id)
    policy = await rules(session, book.community_id)
    await session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    await lock_book(session, book.id)
    held = (
        (
            await session.execute(
                select(Hold.book_id).where(Hold.member_id == member.id, Hold.status.in_(("waiting", "ready")))
            )
        )
        .scalars()
        .all()
    )
    if book.id in held:
        raise Conflict("already_on_hold", "已经预约过这本书了")
    if len(held) >= policy.max_holds:
        raise Conflict("hold_limit", f"每人最多预约{policy.max_holds}本", details={"limit": policy.max_holds})
    borrowed = (
        await session.execute(
            select(Loan.id).where(Loan.member_id == member.id, Loan.book_id == book.id, Loan.returned_at.is_(None))
        )
    ).first()
    if borrowed is not None:
        raise Conflict("already_borrowed", "这本书正借在手上")
    now = clock.now()
    hold = Hold(
        community_id=book.community_id,
        book_id=book.id,
        member_id=member.id,
        household_id=member.household_id,
        placed_by=user.id,
        placed_at=now,
        status="waiting",
    )
    session.add(hold)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("already_on_hold", "已经预约过这本书了") from exc
    on_shelf = (
        await session.execute(
            select(BookCopy.id)
            .where(BookCopy.book_id == book.id, BookCopy.state == "available")
            .order_by(BookCopy.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if on_shelf is not None:  # kept for the first in line at once — usually this hold
        await pass_on(session, on_shelf, "available")
    await session.refresh(hold)
    return await hold_view(session, hold)


async def cancel_hold(session: AsyncSession, user: User, hold_id: int) -> dict[str, Any]:
    """The household or staff withdraw a hold; a copy kept for it passes to the next in line."""
    hold = await _hold_for(session, user, hold_id)
    await lock_book(session, hold.book_id)
    await session.refresh(hold)  # it may have expired or been collected meanwhile
    if hold.status in ("waiting", "ready"):
        was_ready, copy_id = hold.status == "ready", hold.copy_id
        hold.status = "cancelled"
        hold.closed_at = clock.now()
        await session.flush()
        await cancel_scheduled(session, _expiring_key(hold))
        if was_ready:
            await pass_on(session, copy_id, "on_hold_shelf")
    return await hold_view(session, hold)


async def expire_holds(session: AsyncSession) -> int:
    """Holds not picked up by their day pass their copy to the next in line (a worker job)."""
    now = clock.now()
    expired = list(
        (
            await session.execute(
                select(Hold).where(Hold.status == "ready", Hold.expires_at <= now).order_by(Hold.id).limit(200)
            )
        ).scalars()
    )
    for hold in sorted(expired, key=lambda h: (h.book_id, h.id)):  # locks in one order
        await lock_book(session, hold.book_id)
        done = await session.execute(
            update(Hold)
            .where(Hold.id == hold.id, Hold.status == "ready", Hold.expires_at <= now)
            .values(status="expired", closed_at=now)
            .execution_options(**UNSYNCED)
        )
        if getattr(done, "rowcount", 0):
            await pass_on(session, hold.copy_id, "on_hold_shelf")
    return len(expired)


async def remind_overdue(session: AsyncSession) -> int:
    """Tell households of overdue loans: the first day overdue, then once a week (a worker job;
    the cause names the day, so running it hourly tells each once)."""
    now = clock.now()
    overdue = (
        await session.execute(select(Loan).where(Loan.returned_at.is_(None), Loan.due_at <= now).order_by(Loan.id))
    ).scalars()
    told = 0
    for loan in list(overdue):
        community = await get_community(session, loan.community_id)
        days = (local_day(now, community) - due_day(loan.due_at, community)).days
        if days < 1 or (days - 1) % 7:
            continue
        params = {**await _loan_params(session, loan), "days_overdue": days}
        told += await notify(
            session,
            await _recipients(session, loan),
            "loan.overdue",
            params,
            f"loan:{loan.id}:overdue:{days}",
            community_id=loan.community_id,
        )
    return told


# -- access and views ----------------------------------------------------------------------------


async def _loan_for(session: AsyncSession, user: User, loan_id: int) -> Loan:
    """The loan if the caller is of its household or staff of its community; else 404."""
    loan = await session.get(Loan, loan_id)
    if loan is not None and not await is_staff(session, user, loan.community_id):
        mine = await my_member(session, user, loan.community_id)
        if mine is None or mine.household_id != loan.household_id:
            loan = None
    if loan is None:
        raise NotFound("loan_not_found", "找不到该借阅记录")
    return loan


async def _hold_for(session: AsyncSession, user: User, hold_id: int) -> Hold:
    hold = await session.get(Hold, hold_id)
    if hold is not None and not await is_staff(session, user, hold.community_id):
        mine = await my_member(session, user, hold.community_id)
        if mine is None or mine.household_id != hold.household_id:
            hold = None
    if hold is None:
        raise NotFound("hold_not_found", "找不到该预约")
    return hold


async def loan_view(session: AsyncSession, loan: Loan) -> dict[str, Any]:
    book = await session.get(Book, loan.book_id)
    member = await session.get(Member, loan.member_id)
    copy = await session.get(BookCopy, loan.copy_id)
    community = await get_community(session, loan.community_id)
    policy = await rules(session, loan.community_id)
    assert book is not None and member is not None and copy is not None
    now = clock.now()
    overdue = loan.returned_at is None and now >= loan.due_at
    return {
        "id": loan.id,
        "book": {"id": book.id, "title": book.title, "cover_url": book.cover_url},
        "barcode": copy.barcode,
        "member": {"id": member.id, "name": member.display_name},
        "borrowed_at": loan.borrowed_at,
        "due_on": due_day(loan.due_at, community),
        "due_at": loan.due_at,
        "overdue": overdue,
        "days_overdue": (local_day(now, community) - due_day(loan.due_at, community)).days if overdue else 0,
        "renewals_left": max(policy.renewals - loan.renewals, 0),
        "returned_at": loan.returned_at,
        "lost": loan.lost,
    }


async def hold_view(session: AsyncSession, hold: Hold) -> dict[str, Any]:
    book = await session.get(Book, hold.book_id)
    member = await session.get(Member, hold.member_id)
    assert book is not None and member is not None
    position = None
    if hold.status == "waiting":
        position = (
            await session.execute(
                select(func.count()).where(Hold.book_id == hold.book_id, Hold.status == "waiting", Hold.id <= hold.id)
            )
        ).scalar_one()
    return {
        "id": hold.id,
        "book": {"id": book.id, "title": book.title, "cover_url": book.cover_url},
        "member": {"id": member.id, "name": member.display_name},
        "status": hold.status,
        "position": position,
        "placed_at": hold.placed_at,
        "ready_at": hold.ready_at,
        "expires_at": hold.expires_at,
    }


async def my_shelf(
    session: AsyncSession, user: User, *, history: bool, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The caller's households' loans (current, or returned ones newest first) and holds."""
    households = select(Member.household_id).where(Member.user_id == user.id, Member.status == "active")
    query = select(Loan).where(Loan.household_id.in_(households.scalar_subquery()))
    if history:
        query = query.where(Loan.returned_at.is_not(None)).order_by(Loan.id.desc())
        if cursor:
            (before,) = decode_cursor(cursor, 1)
            query = query.where(Loan.id < cursor_int(before))
    else:
        query = query.where(Loan.returned_at.is_(None)).order_by(Loan.due_at, Loan.id)
    loans = list((await session.execute(query.limit(limit + 1))).scalars())
    holds = (
        await session.execute(
            select(Hold)
            .where(Hold.household_id.in_(households.scalar_subquery()), Hold.status.in_(("waiting", "ready")))
            .order_by(Hold.id)
        )
    ).scalars()
    next_cursor = encode_cursor(loans[limit - 1].id) if history and len(loans) > limit else None
    return {
        "loans": [await loan_view(session, loan) for loan in loans[:limit]],
        "holds": [] if history else [await hold_view(session, h) for h in holds],
        "next_cursor": next_cursor,
    }


async def get_loan(session: AsyncSession, user: User, loan_id: int) -> dict[str, Any]:
    return await loan_view(session, await _loan_for(session, user, loan_id))


async def get_hold(session: AsyncSession, user: User, hold_id: int) -> dict[str, Any]:
    return await hold_view(session, await _hold_for(session, user, hold_id))
