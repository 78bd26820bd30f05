"""Loans, returns and renewals (借阅). Never lend a copy twice.

A copy changes state only by a conditional UPDATE (`… WHERE state = 'available'`, or on the hold
shelf for this member) in the transaction that writes the loan, and a partial unique index allows
one active loan per copy: under any concurrency one borrower wins and the rest get a clear 409.
Borrows of one member queue on the member's row, so the loan limit cannot be overrun either.

A returned copy goes to the first hold in line (`holds.pass_on`), else back on the shelf; the
reminders of a loan due soon or overdue are in `reminders`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Book, BookCopy, Hold, Loan, Member, SpaceClosure, User
from api.errors import Conflict, NotFound
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.access import get_community, is_staff, require_member, require_staff
from api.services.communities import is_open, next_opening
from api.services.library.common import (
    UNSYNCED,
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
from api.services.library.holds import hold_view, pass_on
from api.services.library.reminders import _expiring_key, _schedule_due_reminder, due_key
from api.services.notifications import cancel_scheduled

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
