"""Holds (预约): placing, cancelling and expiring them, and the queue a copy passes along.

A returned copy, or one whose hold expired or was cancelled, goes to the first hold in line and waits on
the hold shelf for `hold_shelf_days` (`pass_on`), else back on the shelf. Its member is told it is ready.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Book, BookCopy, Hold, Loan, Member, Space, User
from api.errors import Conflict, NotFound
from api.services.access import get_community, is_staff
from api.services.library.common import (
    UNSYNCED,
    copy_space,
    due_at,
    due_day,
    local_day,
    lock_book,
    member_for,
    my_member,
    rules,
)
from api.services.library.reminders import _expiring_key, _recipients
from api.services.notifications import cancel_scheduled, notify, schedule


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


async def _hold_for(session: AsyncSession, user: User, hold_id: int) -> Hold:
    hold = await session.get(Hold, hold_id)
    if hold is not None and not await is_staff(session, user, hold.community_id):
        mine = await my_member(session, user, hold.community_id)
        if mine is None or mine.household_id != hold.household_id:
            hold = None
    if hold is None:
        raise NotFound("hold_not_found", "找不到该预约")
    return hold


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


async def get_hold(session: AsyncSession, user: User, hold_id: int) -> dict[str, Any]:
    return await hold_view(session, await _hold_for(session, user, hold_id))
