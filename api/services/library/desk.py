"""The staff's desk: the lending rules, who is overdue, the hold shelf to-do, and the numbers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Book, BookCopy, Hold, Household, Loan, LoanPolicy, Member, User
from api.services import audit
from api.services.access import require_member, require_staff
from api.services.households import address_text
from api.services.library.common import DEFAULT_POLICY, due_day, local_day


async def get_policy(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    await require_member(session, user, community_id)
    row = await session.get(LoanPolicy, community_id)
    return {name: getattr(row, name) for name in DEFAULT_POLICY} if row else dict(DEFAULT_POLICY)


async def set_policy(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff change the lending rules; unset fields keep theirs (null clears a child override)."""
    await require_staff(session, user, community_id)
    data = {k: v for k, v in data.items() if v is not None or k.startswith("child_")}
    row = await session.get(LoanPolicy, community_id)
    if row is None:
        row = LoanPolicy(community_id=community_id, **DEFAULT_POLICY, updated_at=clock.now())
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
        subject="loan_policy",
        subject_id=None,
        action="update",
        summary="修改借阅规则",
        before=before,
        after=after,
    )
    return after


async def overdue(
    session: AsyncSession, user: User, community_id: int, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Staff: every overdue loan, longest overdue first, with the household to call (a page of
    them with `limit` and `offset`)."""
    community = await require_staff(session, user, community_id)
    now = clock.now()
    rows = await session.execute(
        select(Loan, Book.title, BookCopy.barcode, Member.display_name, Household)
        .join(Book, Book.id == Loan.book_id)
        .join(BookCopy, BookCopy.id == Loan.copy_id)
        .join(Member, Member.id == Loan.member_id)
        .join(Household, Household.id == Loan.household_id)
        .where(Loan.community_id == community_id, Loan.returned_at.is_(None), Loan.due_at <= now)
        .order_by(Loan.due_at, Loan.id)
        .limit(limit)
        .offset(offset)
    )
    today = local_day(now, community)
    return [
        {
            "loan_id": loan.id,
            "title": title,
            "barcode": barcode,
            "member_id": loan.member_id,
            "member_name": name,
            "household_id": household.id,
            "household": address_text(household),
            "due_on": due_day(loan.due_at, community),
            "days_overdue": (today - due_day(loan.due_at, community)).days,
        }
        for loan, title, barcode, name, household in rows.all()
    ]


async def hold_shelf(
    session: AsyncSession, user: User, community_id: int, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Staff: copies kept on the hold shelf — for whom, and until when (soonest first; a page of
    them with `limit` and `offset`)."""
    community = await require_staff(session, user, community_id)
    rows = await session.execute(
        select(Hold, Book.title, BookCopy.barcode, Member.display_name, Household)
        .join(Book, Book.id == Hold.book_id)
        .join(BookCopy, BookCopy.id == Hold.copy_id)
        .join(Member, Member.id == Hold.member_id)
        .join(Household, Household.id == Hold.household_id)
        .where(Hold.community_id == community_id, Hold.status == "ready")
        .order_by(Hold.expires_at, Hold.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        {
            "hold_id": hold.id,
            "title": title,
            "barcode": barcode,
            "member_id": hold.member_id,
            "member_name": name,
            "household_id": household.id,
            "household": address_text(household),
            "ready_at": hold.ready_at,
            "expires_at": hold.expires_at,
            "pickup_by": due_day(hold.expires_at, community) if hold.expires_at else None,
        }
        for hold, title, barcode, name, household in rows.all()
    ]


async def circulation(session: AsyncSession, user: User, community_id: int, months: int) -> list[dict[str, Any]]:
    """Staff: per month (community time), loans made, returns, distinct borrowers and households —
    what the funder's report asks for. The most recent `months` months, newest first."""
    community = await require_staff(session, user, community_id)
    tz = ZoneInfo(community.timezone)
    today = local_day(clock.now(), community)
    first_month = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first_month = date(first_month.year - (first_month.month == 1), (first_month.month - 2) % 12 + 1, 1)
    since = datetime.combine(first_month, time(0), tz)
    rows = await session.execute(
        select(Loan.borrowed_at, Loan.returned_at, Loan.member_id, Loan.household_id).where(
            Loan.community_id == community_id, or_(Loan.borrowed_at >= since, Loan.returned_at >= since)
        )
    )
    months_seen: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"loans": 0, "returns": 0, "borrowers": set(), "households": set()}
    )
    for borrowed_at, returned_at, member_id, household_id in rows.all():
        if borrowed_at >= since:
            month = months_seen[borrowed_at.astimezone(tz).strftime("%Y-%m")]
            month["loans"] += 1
            month["borrowers"].add(member_id)
            month["households"].add(household_id)
        if returned_at is not None and returned_at >= since:
            months_seen[returned_at.astimezone(tz).strftime("%Y-%m")]["returns"] += 1
    result = []
    month_start = first_month
    for _ in range(months):
        key = month_start.strftime("%Y-%m")
        seen = months_seen.get(key, {"loans": 0, "returns": 0, "borrowers": set(), "households": set()})
        result.append(
            {
                "month": key,
                "loans": seen["loans"],
                "returns": seen["returns"],
                "borrowers": len(seen["borrowers"]),
                "households": len(seen["households"]),
            }
        )
        month_start = date(month_start.year + (month_start.month == 12), month_start.month % 12 + 1, 1)
    return list(reversed(result))
