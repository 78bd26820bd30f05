"""The library's reminders: a loan due soon (scheduled when it is lent or renewed), overdue loans
(the worker, hourly), and the notice keys that let a return or a collected hold cancel them.
Who hears: the member, their household's head and whoever borrowed or placed it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Book, Hold, Loan, Member
from api.services.access import get_community
from api.services.library.common import DUE_SOON, due_day, local_day
from api.services.notifications import notify, schedule


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
