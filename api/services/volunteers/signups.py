"""Signing up for shifts, and being there: the duty code, check-in and out, closing ended shifts.

Never overfilled: a sign-up takes a slot with one conditional UPDATE (`taken < needed`) and a
CHECK guards `taken <= needed`. A person's sign-ups queue on their user row, so two overlapping
shifts cannot both be taken by the same person at once. After a shift ends the worker checks out
whoever forgot (flagged for review) and marks who never came.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Shift, ShiftSignup, User
from api.db.session import settings_of
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.security import ONSITE_CODE_SECONDS, onsite_code, onsite_code_valid
from api.services.access import require_member
from api.services.notifications import cancel_scheduled, schedule
from api.services.volunteers import records
from api.services.volunteers.common import membership
from api.services.volunteers.shifts import _get_shift, _local, _may_manage, _reminder_key, _signup_view, shift_detail

CHECKIN_EARLY = timedelta(minutes=30)
CHECKOUT_LATE = timedelta(hours=2)
UNSYNCED = {"synchronize_session": False}


# -- signing up ----------------------------------------------------------------------------------


async def sign_up(session: AsyncSession, user: User, shift_id: int, volunteer_id: int | None) -> dict[str, Any]:
    """Take a slot — for oneself, or (a leader or staff) for a member of the team. Refused when
    the shift is full, restricted to a team the volunteer is not in, already started, or overlaps
    another of the volunteer's shifts."""
    shift = await _get_shift(session, shift_id)
    await require_member(session, user, shift.community_id)
    target = volunteer_id or user.id
    if target != user.id and not await _may_manage(session, user, shift.community_id, shift.team_id):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以安排别人值班")
    if shift.cancelled_at is not None:
        raise Conflict("shift_cancelled", "这个岗位已经取消了")
    if shift.start_at <= clock.now():
        raise Conflict(
            "shift_started",
            f"岗位已于 {await _local(session, shift, shift.start_at)} 开始，不能再报名",
            details={"start_at": shift.start_at},
        )
    if shift.team_id is not None:
        member = await membership(session, target, shift.team_id)
        if member is None or member.status != "active":
            raise Forbidden("team_only", "这个岗位只给本团队的队员")
    elif target != user.id:
        raise Unprocessable("assign_needs_team", "只有团队的岗位可以为别人安排；这个岗位请志愿者自己报名")
    # one sign-up of this person at a time: overlapping shifts cannot slip past each other
    await session.execute(select(User.id).where(User.id == target).with_for_update())
    clash = (
        await session.execute(
            select(Shift.id, Shift.role, Shift.start_at)
            .join(ShiftSignup, ShiftSignup.shift_id == Shift.id)
            .where(
                ShiftSignup.user_id == target,
                ShiftSignup.status == "active",
                Shift.cancelled_at.is_(None),
                Shift.start_at < shift.end_at,
                Shift.end_at > shift.start_at,
            )
        )
    ).first()
    if clash is not None:
        code = "already_signed_up" if clash.id == shift.id else "shift_overlap"
        raise Conflict(code, f"和已报名的「{clash.role}」时间重叠" if clash.id != shift.id else "已经报名了这个岗位",
                       details={"shift_id": clash.id})  # fmt: skip
    taken = await session.execute(
        update(Shift)
        .where(Shift.id == shift.id, Shift.taken < Shift.needed, Shift.cancelled_at.is_(None))
        .values(taken=Shift.taken + 1)
        .execution_options(**UNSYNCED)
    )
    if not getattr(taken, "rowcount", 0):
        raise Conflict("shift_full", "这个岗位的人已经够了", details={"needed": shift.needed})
    signup = ShiftSignup(
        shift_id=shift.id, user_id=target, status="active", assigned_by=user.id if target != user.id else None
    )
    session.add(signup)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("already_signed_up", "已经报名了这个岗位") from exc
    await session.refresh(shift)
    at = shift.start_at - timedelta(hours=24)
    if at > clock.now():
        await schedule(
            session,
            at,
            [target],
            "shift.tomorrow",
            {"shift_id": shift.id, "role": shift.role, "start_at": shift.start_at, "place": shift.place or "社区"},
            _reminder_key(signup, shift),
            community_id=shift.community_id,
        )
    return await shift_detail(session, user, shift.id)


async def _signup(session: AsyncSession, signup_id: int) -> tuple[ShiftSignup, Shift]:
    """The sign-up, locked against a check-in at the same moment, and its shift."""
    signup = await session.get(ShiftSignup, signup_id, with_for_update=True, populate_existing=True)
    if signup is None:
        raise NotFound("signup_not_found", "找不到这个报名")
    return signup, await _get_shift(session, signup.shift_id)


async def withdraw(session: AsyncSession, user: User, signup_id: int) -> dict[str, Any]:
    """The volunteer steps back before the shift's deadline (a leader or staff until it starts,
    also for someone who checked in early and then cannot stay)."""
    signup, shift = await _signup(session, signup_id)
    manager = await _may_manage(session, user, shift.community_id, shift.team_id)
    if signup.user_id != user.id and not manager:
        raise NotFound("signup_not_found", "找不到这个报名")
    if signup.status != "active":
        raise Conflict("signup_not_active", "这个报名已经结束，不能退出", details={"status": signup.status})
    now = clock.now()
    limit = shift.start_at if manager else shift.withdraw_deadline
    if now >= limit:
        raise Conflict(
            "withdraw_deadline_passed",
            f"退出报名已于 {await _local(session, shift, limit)} 截止，请联系队长或社工",
            details={"deadline": limit},
        )
    done = await session.execute(
        update(ShiftSignup)
        .where(ShiftSignup.id == signup.id, ShiftSignup.status == "active")
        .values(status="withdrawn", checked_in_at=None, confirmed_by=None, updated_at=now)
        .execution_options(**UNSYNCED)
    )
    if getattr(done, "rowcount", 0):
        await session.execute(
            update(Shift).where(Shift.id == shift.id).values(taken=Shift.taken - 1).execution_options(**UNSYNCED)
        )
        await cancel_scheduled(session, _reminder_key(signup, shift))
    await session.refresh(signup)
    await session.refresh(shift)
    return await shift_detail(session, user, shift.id)


# -- on site -------------------------------------------------------------------------------------


async def current_code(session: AsyncSession, user: User, shift_id: int) -> dict[str, Any]:
    """For the screen of the staff or leader on duty: the shift's code of this minute."""
    shift = await _get_shift(session, shift_id)
    if not await _may_manage(session, user, shift.community_id, shift.team_id):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以出示签到码")
    now = clock.now()
    minute_start = int(now.timestamp()) // ONSITE_CODE_SECONDS * ONSITE_CODE_SECONDS
    return {
        "shift_id": shift.id,
        "code": onsite_code(settings_of(session), shift.id, now, scope="shift"),
        "valid_until": datetime.fromtimestamp(minute_start + ONSITE_CODE_SECONDS, UTC),
        "rotates_every_seconds": ONSITE_CODE_SECONDS,
    }


async def _on_site(
    session: AsyncSession, user: User, shift_id: int, code: str | None, volunteer_id: int | None
) -> tuple[ShiftSignup, Shift]:
    """The sign-up being checked in or out: by the volunteer with the on-site code, or confirmed
    by a leader of the team or staff."""
    shift = await _get_shift(session, shift_id)
    target = volunteer_id or user.id
    if target != user.id:
        if not await _may_manage(session, user, shift.community_id, shift.team_id):
            raise Forbidden("team_leader_only", "只有社工或本团队队长可以代为确认")
    elif code is None:  # nobody confirms themselves, leaders and staff included
        raise Unprocessable("onsite_code_required", "请扫描现场的签到码，或请队长、社工为你确认")
    elif not onsite_code_valid(settings_of(session), shift.id, code, clock.now(), scope="shift"):
        raise Unprocessable("onsite_code_invalid", "签到码已过期或不正确，请扫描现场最新的二维码")
    signup = (
        await session.execute(
            select(ShiftSignup)
            .where(ShiftSignup.shift_id == shift.id, ShiftSignup.user_id == target, ShiftSignup.status == "active")
            .with_for_update()
        )
    ).scalar_one_or_none()
    if signup is None:
        raise Conflict("not_signed_up", "没有报名这个岗位")
    return signup, shift


async def check_in(
    session: AsyncSession, user: User, shift_id: int, code: str | None, volunteer_id: int | None
) -> dict[str, Any]:
    """From 30 minutes before the start until the end; again changes nothing."""
    signup, shift = await _on_site(session, user, shift_id, code, volunteer_id)
    now = clock.now()
    window = {"opens_at": shift.start_at - CHECKIN_EARLY, "closes_at": shift.end_at}
    if now < window["opens_at"]:
        when = await _local(session, shift, window["opens_at"])
        raise Conflict("checkin_not_open", f"签到 {when} 开始", details=window)
    if now > window["closes_at"]:
        when = await _local(session, shift, window["closes_at"])
        raise Conflict("checkin_closed", f"签到已于 {when} 结束", details=window)
    if signup.checked_in_at is None:
        signup.checked_in_at = now
        signup.confirmed_by = user.id if signup.user_id != user.id or code is None else None
        await session.flush()
    return _signup_view(signup)


async def check_out(
    session: AsyncSession, user: User, shift_id: int, code: str | None, volunteer_id: int | None
) -> dict[str, Any]:
    """After checking in, until two hours after the end: the sign-up is complete and its service
    record waits for staff approval."""
    signup, shift = await _on_site(session, user, shift_id, code, volunteer_id)
    now = clock.now()
    if signup.checked_in_at is None:
        raise Conflict("not_checked_in", "还没有签到")
    if now <= shift.start_at:
        raise Conflict(
            "shift_not_started",
            f"岗位 {await _local(session, shift, shift.start_at)} 开始，之后才能签退；来不了的话请退出报名",
            details={"start_at": shift.start_at},
        )
    if now > shift.end_at + CHECKOUT_LATE:
        closed = shift.end_at + CHECKOUT_LATE
        raise Conflict(
            "checkout_closed",
            f"签退已于 {await _local(session, shift, closed)} 截止，系统会按岗位结束时间为你签退，社工会核对",
            details={"closes_at": closed},
        )
    signup.checked_out_at = now
    signup.status = "completed"
    await session.flush()
    # a leader or staff who confirms the check-out records the service; a scan is recorded by
    # the system, and the reviewer confirms it
    recorder = user.id if user.id != signup.user_id else None
    await records.from_signup(session, signup, shift, recorded_by=recorder, flagged=False)
    return _signup_view(signup)


async def close_ended(session: AsyncSession) -> int:
    """The worker's round after shifts end: whoever checked in but not out is checked out at the
    end (flagged for review), whoever never came is marked absent."""
    now = clock.now()
    ended = list(
        (
            await session.execute(
                select(Shift)
                .where(Shift.end_at <= now - CHECKOUT_LATE, Shift.closed_at.is_(None))
                .order_by(Shift.end_at)
                .limit(100)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    for shift in ended:
        signups = (
            await session.execute(
                select(ShiftSignup)
                .where(ShiftSignup.shift_id == shift.id, ShiftSignup.status == "active")
                .with_for_update()  # a check-out at the last moment either finishes first or waits
            )
        ).scalars()
        for signup in list(signups):
            if signup.checked_in_at is None:
                signup.status = "absent"
                continue
            signup.checked_out_at = shift.end_at
            signup.status = "completed"
            signup.auto_closed = True
            await session.flush()
            await records.from_signup(session, signup, shift, recorded_by=None, flagged=True)
        shift.closed_at = now
        await session.flush()
    return len(ended)


async def on_duty_at(session: AsyncSession, user: User, activity_id: int) -> bool:
    """Whether the caller is a volunteer on duty at the activity: signed up for a shift attached to
    it, checked in and not yet out, inside that shift's time. Such a volunteer may scan its
    residents' booking codes, read the door's part of its roster and register walk-ins by name."""
    now = clock.now()
    found = await session.execute(
        select(ShiftSignup.id)
        .join(Shift, Shift.id == ShiftSignup.shift_id)
        .where(
            Shift.activity_id == activity_id,
            Shift.cancelled_at.is_(None),
            Shift.start_at <= now + CHECKIN_EARLY,
            Shift.end_at >= now,
            ShiftSignup.user_id == user.id,
            ShiftSignup.status == "active",
            ShiftSignup.checked_in_at.is_not(None),
            ShiftSignup.checked_out_at.is_(None),
        )
        .limit(1)
    )
    return found.first() is not None
