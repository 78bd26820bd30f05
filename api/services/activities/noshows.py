"""No-shows (爽约). After an activity ends, the worker marks confirmed attendees who never checked
in. By the community's policy (default: 3 no-shows within 90 days), the person may not book for a
while (default 30 days); their household is told why and until when, and staff can lift it. A new
count starts after each block, so a lifted block is not re-imposed by the same no-shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Activity, Booking, BookingAttendee, BookingBlock, Household, Member, User
from api.errors import NotFound
from api.services.access import require_staff
from api.services.activities.common import Policy, community_tz, policy
from api.services.notifications import notify

CLOSE_BATCH = 50


async def close_attendance(session: AsyncSession) -> int:
    """Mark the no-shows of activities whose end and check-in window have both passed, and block
    those over the limit. Not counted: an activity where nobody checked in at all (check-in was
    not run that day), and seats promoted from the waitlist after the cancellation deadline
    (nobody chose them in time to cancel). Returns how many activities were closed (at most
    CLOSE_BATCH a run; the next run takes the rest)."""
    now = clock.now()
    ended = list(
        (
            await session.execute(
                select(Activity)
                .where(
                    Activity.status == "published",
                    Activity.end_at <= now,
                    Activity.checkin_closes_at <= now,
                    Activity.attendance_closed_at.is_(None),
                )
                .order_by(Activity.end_at)
                .limit(CLOSE_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    for activity in ended:
        activity.attendance_closed_at = now
        await session.flush()
        checked_in = (
            await session.execute(
                select(func.count()).where(
                    BookingAttendee.activity_id == activity.id, BookingAttendee.checked_in_at.is_not(None)
                )
            )
        ).scalar_one()
        if not checked_in:
            continue
        counted = select(Booking.id).where(
            Booking.activity_id == activity.id,
            Booking.status == "confirmed",
            or_(Booking.promoted_at.is_(None), Booking.promoted_at < activity.cancel_deadline),
        )
        marked = await session.execute(
            update(BookingAttendee)
            .where(
                BookingAttendee.booking_id.in_(counted.scalar_subquery()),
                BookingAttendee.active,
                BookingAttendee.checked_in_at.is_(None),
                BookingAttendee.member_id.is_not(None),
            )
            .values(no_show=True)
            .returning(BookingAttendee.member_id)
            .execution_options(synchronize_session=False)
        )
        member_ids = sorted({m for m in marked.scalars() if m is not None})
        rules = await policy(session, activity.community_id)
        for member_id in member_ids:
            await _block_if_over(session, activity.community_id, member_id, rules, now)
    return len(ended)


async def _block_if_over(
    session: AsyncSession, community_id: int, member_id: int, rules: Policy, now: datetime
) -> None:
    last = (
        (
            await session.execute(
                select(BookingBlock).where(BookingBlock.member_id == member_id).order_by(BookingBlock.blocked_at.desc())
            )
        )
        .scalars()
        .first()
    )
    if last is not None and last.lifted_at is None and last.until > now:
        return
    since = now - timedelta(days=rules.no_show_window_days)
    if last is not None and last.blocked_at > since:
        since = last.blocked_at
    count = (
        await session.execute(
            select(func.count())
            .select_from(BookingAttendee)
            .join(Activity, Activity.id == BookingAttendee.activity_id)
            .where(BookingAttendee.member_id == member_id, BookingAttendee.no_show, Activity.end_at > since)
        )
    ).scalar_one()
    if count < rules.no_show_limit or rules.block_days == 0:
        return
    until = now + timedelta(days=rules.block_days)
    session.add(
        BookingBlock(community_id=community_id, member_id=member_id, blocked_at=now, until=until, no_shows=count)
    )
    await session.flush()
    member = await session.get(Member, member_id)
    assert member is not None
    await notify(
        session,
        await _guardians(session, member),
        "booking.blocked",
        {
            "member_name": member.display_name,
            "no_shows": count,
            "until": localtime.text(until, await community_tz(session, community_id)),
        },
        f"block:{member_id}:{now.isoformat()}",
        community_id=community_id,
    )


async def _guardians(session: AsyncSession, member: Member) -> list[int]:
    """Who hears of a member's block: the member if they use WeChat, and the household's head."""
    rows = await session.execute(
        select(Member.user_id).where(
            Member.household_id == member.household_id,
            Member.status == "active",
            Member.user_id.is_not(None),
            (Member.id == member.id) | Member.is_head,
        )
    )
    return sorted({user_id for user_id in rows.scalars() if user_id is not None})


def _block_view(block: BookingBlock, member: Member, household: Household, now: datetime) -> dict[str, Any]:
    return {
        "id": block.id,
        "member_id": member.id,
        "member_name": member.display_name,
        "household": f"{household.building}{household.unit}{household.room}",
        "no_shows": block.no_shows,
        "blocked_at": block.blocked_at,
        "until": block.until,
        "lifted_at": block.lifted_at,
        "active": block.lifted_at is None and block.until > now,
    }


async def list_blocks(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Staff: the blocks in force."""
    await require_staff(session, user, community_id)
    now = clock.now()
    rows = await session.execute(
        select(BookingBlock, Member, Household)
        .join(Member, Member.id == BookingBlock.member_id)
        .join(Household, Household.id == Member.household_id)
        .where(BookingBlock.community_id == community_id, BookingBlock.lifted_at.is_(None), BookingBlock.until > now)
        .order_by(BookingBlock.until)
    )
    return [_block_view(b, m, h, now) for b, m, h in rows.all()]


async def lift_block(session: AsyncSession, user: User, block_id: int) -> dict[str, Any]:
    """Staff lift a block (a child was ill, a misunderstanding); the count starts again."""
    block = await session.get(BookingBlock, block_id)
    if block is None:
        raise NotFound("block_not_found", "找不到该预约限制")
    await require_staff(session, user, block.community_id)
    if block.lifted_at is None:
        block.lifted_at = clock.now()
        block.lifted_by = user.id
        await session.flush()
    member = await session.get(Member, block.member_id)
    assert member is not None
    household = await session.get(Household, member.household_id)
    assert household is not None
    return _block_view(block, member, household, clock.now())
