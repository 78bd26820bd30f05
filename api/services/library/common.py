"""What the library services share: the community's lending rules, who may act for a member, the
space a copy belongs to, and due dates that never fall on a closed day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Book, BookCopy, Community, LoanPolicy, Member, Space, SpaceClosure, User
from api.errors import NotFound, Unprocessable
from api.schemas.communities import WEEKDAYS
from api.services.access import get_community, is_staff

DEFAULT_POLICY: dict[str, Any] = {
    "loan_days": 14,
    "max_loans": 3,
    "child_loan_days": None,
    "child_max_loans": None,
    "renewals": 1,
    "hold_shelf_days": 3,
    "max_holds": 3,
}
DUE_SOON = timedelta(days=2)
MAX_CLOSED_DAYS = 60  # a due date is moved past at most this many closed days
UNSYNCED = {"synchronize_session": False}  # loans' and holds' conditional UPDATEs


@dataclass(frozen=True)
class Rules:
    loan_days: int
    max_loans: int
    child_loan_days: int | None
    child_max_loans: int | None
    renewals: int
    hold_shelf_days: int
    max_holds: int

    def days_for(self, member: Member) -> int:
        return self.child_loan_days if member.kind == "child" and self.child_loan_days else self.loan_days

    def limit_for(self, member: Member) -> int:
        return self.child_max_loans if member.kind == "child" and self.child_max_loans else self.max_loans


async def rules(session: AsyncSession, community_id: int) -> Rules:
    row = await session.get(LoanPolicy, community_id)
    if row is None:
        return Rules(**DEFAULT_POLICY)
    return Rules(**{name: getattr(row, name) for name in DEFAULT_POLICY})


async def my_member(session: AsyncSession, user: User, community_id: int) -> Member | None:
    return (
        await session.execute(
            select(Member).where(
                Member.community_id == community_id, Member.user_id == user.id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()


async def member_for(session: AsyncSession, user: User, community_id: int, member_id: int) -> tuple[Member, bool]:
    """The member the caller acts for: anyone of the community for its staff, someone of the
    caller's own household otherwise (a guardian for a child). (member, caller is staff)."""
    member = await session.get(Member, member_id)
    staff = await is_staff(session, user, community_id)
    if member is not None and member.community_id == community_id and member.status == "active":
        if staff:
            return member, True
        mine = await my_member(session, user, community_id)
        if mine is not None and mine.household_id == member.household_id:
            return member, False
    # another household's child does not exist for this caller
    raise Unprocessable("member_not_in_household", "只能为本户的家庭成员借书或预约", details={"member_id": member_id})


async def copy_space(session: AsyncSession, copy: BookCopy) -> tuple[Community, Space | None]:
    """The community and the space where the copy lives (its own, or the community's first)."""
    community = await get_community(session, copy.community_id)
    if copy.space_id is not None:
        return community, await session.get(Space, copy.space_id)
    first = (
        await session.execute(select(Space).where(Space.community_id == community.id).order_by(Space.id).limit(1))
    ).scalar_one_or_none()
    return community, first


async def _closed_days(session: AsyncSession, space: Space, start: date, end: date) -> set[date]:
    rows = await session.execute(
        select(SpaceClosure).where(
            SpaceClosure.space_id == space.id, SpaceClosure.ends_on >= start, SpaceClosure.starts_on <= end
        )
    )
    days: set[date] = set()
    for closure in rows.scalars():
        day = max(closure.starts_on, start)
        while day <= min(closure.ends_on, end):
            days.add(day)
            day += timedelta(days=1)
    return days


async def due_at(session: AsyncSession, community: Community, space: Space | None, day: date) -> datetime:
    """The end of `day` — or of the next day the space opens, if it is closed on `day` — in the
    community's time: a book is due back by closing time of a day one can return it."""
    if space is not None:
        closed = await _closed_days(session, space, day, day + timedelta(days=MAX_CLOSED_DAYS))
        for _ in range(MAX_CLOSED_DAYS):
            if space.opening_hours.get(WEEKDAYS[day.weekday()]) and day not in closed:
                break
            day += timedelta(days=1)
    tz = ZoneInfo(community.timezone)
    return datetime.combine(day + timedelta(days=1), time(0), tz)


def local_day(at: datetime, community: Community) -> date:
    return at.astimezone(ZoneInfo(community.timezone)).date()


def due_day(due: datetime, community: Community) -> date:
    """The day a loan is due (its due_at is the midnight that ends that day)."""
    return (due.astimezone(ZoneInfo(community.timezone)) - timedelta(seconds=1)).date()


async def lock_book(session: AsyncSession, book_id: int) -> None:
    """Everything that moves a book's copies, loans or holds — borrow, return, renew, holds placed,
    cancelled or expired, staff editing a copy — happens one transaction at a time per book, so a
    hold cannot be served twice or skipped. Lock order: a member first (borrowing), then the book."""
    await session.execute(select(Book.id).where(Book.id == book_id).with_for_update())


async def get_copy_by_barcode(session: AsyncSession, community_id: int, barcode: str) -> BookCopy:
    copy = (
        await session.execute(
            select(BookCopy).where(BookCopy.community_id == community_id, BookCopy.barcode == barcode.strip())
        )
    ).scalar_one_or_none()
    if copy is None:
        raise NotFound("copy_not_found", "没有这个条码的书", details={"barcode": barcode})
    return copy
