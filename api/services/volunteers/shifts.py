"""Shifts (岗位): slots for volunteers, one-off or from a weekly rule; changing, cancelling and reading them.

A shift's slots are taken and given back in `signups`. Changing a shift's name or place, or
cancelling it, tells those signed up; their reminder the day before is rewritten or dropped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Activity, Shift, ShiftRule, ShiftSignup, Team, User
from api.db.upsert import insert_ignore
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.pagination import after_time_and_id, encode_cursor
from api.schemas.communities import WEEKDAYS
from api.services.access import get_community, is_staff, require_member
from api.services.notifications import cancel_scheduled, notify, schedule
from api.services.reports import projects
from api.services.volunteers.common import is_leader

RULE_HORIZON_DAYS = 28


async def _local(session: AsyncSession, shift: Shift, at: datetime) -> str:
    """`at` as a refusal tells it to volunteers: 12月5日 14:00, in the shift's community's time."""
    community = await get_community(session, shift.community_id)
    return localtime.text(at, ZoneInfo(community.timezone))


async def _may_manage(session: AsyncSession, user: User, community_id: int, team_id: int | None) -> bool:
    """Staff manage every shift; a team's leaders manage the shifts of their team."""
    if await is_staff(session, user, community_id):
        return True
    return team_id is not None and await is_leader(session, user, team_id)


async def _check_refs(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> None:
    """The team and activity named are the community's; only staff attach a shift to an activity
    (its volunteers may scan the activity's booking codes) or to a service project (which must
    cover the community)."""
    if data.get("activity_id") is not None and not await is_staff(session, user, community_id):
        raise Forbidden("staff_only", "只有社工可以为活动设置值班岗位")
    if data.get("project_id") is not None:
        if not await is_staff(session, user, community_id):
            raise Forbidden("staff_only", "只有社工可以把岗位归入服务项目")
        await projects.check_tag(session, community_id, data["project_id"])
    if data.get("team_id") is not None:
        team = await session.get(Team, data["team_id"])
        if team is None or team.community_id != community_id:
            raise Unprocessable("team_not_found", "本社区没有这个团队")
    if data.get("activity_id") is not None:
        activity = await session.get(Activity, data["activity_id"])
        if activity is None or activity.community_id != community_id:
            raise Unprocessable("activity_not_found", "本社区没有这个活动")


async def create_shift(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Shift:
    """Staff (or a team's leader, for a shift of their team) open a slot. Volunteers may withdraw
    until `withdraw_deadline` (default: 12 hours before the start)."""
    await require_member(session, user, community_id)
    if not await _may_manage(session, user, community_id, data.get("team_id")):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以设置岗位")
    await _check_refs(session, user, community_id, data)
    now = clock.now()
    if data["start_at"] <= now:
        raise Unprocessable(
            "shift_in_past",
            f"岗位的开始时间（{localtime.text(data['start_at'])}）已经过去了",
            details={"start_at": data["start_at"]},
        )
    deadline = data.get("withdraw_deadline") or data["start_at"] - timedelta(hours=12)
    if data.get("withdraw_deadline") is not None and not now <= deadline <= data["start_at"]:
        raise Unprocessable("withdraw_deadline_invalid", "退出截止时间须在现在和岗位开始之间")
    shift = Shift(
        community_id=community_id,
        team_id=data.get("team_id"),
        activity_id=data.get("activity_id"),
        role=data["role"],
        place=data.get("place", ""),
        start_at=data["start_at"],
        end_at=data["end_at"],
        needed=data["needed"],
        taken=0,
        withdraw_deadline=max(deadline, now),
        created_by=user.id,
        project_id=data.get("project_id"),
        service_type=data.get("service_type"),
    )
    session.add(shift)
    await session.flush()
    return shift


async def tag_shift(session: AsyncSession, user: User, shift_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Staff (or the team's leaders, for the service type) change what reports count a shift
    under: its service project and service type. A field not given stays; null clears it. Also
    after the shift has ended."""
    shift = await _get_shift(session, shift_id)
    await require_member(session, user, shift.community_id)
    if not await _may_manage(session, user, shift.community_id, shift.team_id):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以修改岗位")
    await _check_refs(session, user, shift.community_id, {"project_id": fields.get("project_id")})
    for name in ("project_id", "service_type"):
        if name in fields:
            setattr(shift, name, fields[name])
    await session.flush()
    return await shift_detail(session, user, shift.id)


async def create_rule(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A standing duty repeated weekly; its shifts are made for the next four weeks, and the
    worker keeps making them."""
    await require_member(session, user, community_id)
    if not await _may_manage(session, user, community_id, data.get("team_id")):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以设置岗位")
    await _check_refs(session, user, community_id, data)
    rule = ShiftRule(community_id=community_id, created_by=user.id, **data)
    session.add(rule)
    await session.flush()
    made = await extend_rule(session, rule)
    return {"id": rule.id, "shifts_made": made}


async def extend_rule(session: AsyncSession, rule: ShiftRule) -> int:
    """Make the rule's shifts up to RULE_HORIZON_DAYS ahead; those already made stay as they are."""
    community = await get_community(session, rule.community_id)
    tz = ZoneInfo(community.timezone)
    today = clock.now().astimezone(tz).date()
    day = max(today, rule.active_from)
    last = today + timedelta(days=RULE_HORIZON_DAYS - 1)  # four weeks, today included
    if rule.active_until is not None:
        last = min(last, rule.active_until)
    made = 0
    while day <= last:
        if WEEKDAYS[day.weekday()] in rule.weekdays:
            start = datetime.combine(day, rule.starts, tz)
            end_day = day if rule.ends > rule.starts else day + timedelta(days=1)
            end = datetime.combine(end_day, rule.ends, tz)
            if start > clock.now():
                now = clock.now()
                made += await insert_ignore(
                    session,
                    Shift,
                    {
                        "community_id": rule.community_id,
                        "team_id": rule.team_id,
                        "rule_id": rule.id,
                        "role": rule.role,
                        "place": rule.place,
                        "start_at": start.astimezone(UTC),
                        "end_at": end.astimezone(UTC),
                        "needed": rule.needed,
                        "taken": 0,
                        "withdraw_deadline": (start - timedelta(hours=12)).astimezone(UTC),
                        "created_by": rule.created_by,
                        "created_at": now,
                        "updated_at": now,
                    },
                    ["rule_id", "start_at"],
                    index_where=Shift.rule_id.is_not(None),
                )
        day += timedelta(days=1)
    return made


async def extend_all_rules(session: AsyncSession) -> int:
    """The worker's daily round: every active rule keeps four weeks of shifts ahead."""
    today = clock.now().date()
    rules = (
        await session.execute(
            select(ShiftRule).where(or_(ShiftRule.active_until.is_(None), ShiftRule.active_until >= today))
        )
    ).scalars()
    return sum([await extend_rule(session, rule) for rule in list(rules)])


async def rules(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The community's standing duties, those still running first."""
    await require_member(session, user, community_id)
    found = await session.execute(
        select(ShiftRule).where(ShiftRule.community_id == community_id).order_by(ShiftRule.id.desc())
    )
    today = clock.now().astimezone(ZoneInfo((await get_community(session, community_id)).timezone)).date()
    items = [_rule_view(rule) for rule in found.scalars()]
    return sorted(items, key=lambda r: r["active_until"] is not None and r["active_until"] < today)


def _rule_view(rule: ShiftRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "role": rule.role,
        "place": rule.place,
        "weekdays": rule.weekdays,
        "starts": rule.starts,
        "ends": rule.ends,
        "needed": rule.needed,
        "team_id": rule.team_id,
        "active_from": rule.active_from,
        "active_until": rule.active_until,
    }


async def end_rule(session: AsyncSession, user: User, rule_id: int, last_day: date) -> dict[str, Any]:
    """Stop a standing duty after `last_day`: no more shifts are made, and those already made for
    later days are cancelled (whoever signed up is told)."""
    rule = await session.get(ShiftRule, rule_id, with_for_update=True, populate_existing=True)
    if rule is None or not await _may_manage(session, user, rule.community_id, rule.team_id):
        raise NotFound("rule_not_found", "找不到这个值班安排")
    if last_day < rule.active_from:
        raise Unprocessable("last_day_invalid", "最后一天不能早于开始日期", details={"active_from": rule.active_from})
    tz = ZoneInfo((await get_community(session, rule.community_id)).timezone)
    rule.active_until = last_day if rule.active_until is None else min(rule.active_until, last_day)
    after = datetime.combine(rule.active_until + timedelta(days=1), time(0, 0), tz)
    later = await session.execute(
        select(Shift)
        .where(
            Shift.rule_id == rule.id,
            Shift.start_at >= max(after, clock.now()),
            Shift.cancelled_at.is_(None),
        )
        .order_by(Shift.start_at)
        .with_for_update()
    )
    for shift in later.scalars().all():
        await _cancel(session, shift, "值班安排已调整")
    await session.flush()
    return _rule_view(rule)


async def cancel_shift(session: AsyncSession, user: User, shift_id: int, reason: str) -> dict[str, Any]:
    """Staff or the team's leaders call off a shift before it starts; whoever signed up is told.
    Cancelling again changes nothing."""
    shift = await session.get(Shift, shift_id, with_for_update=True, populate_existing=True)
    if shift is None:
        raise NotFound("shift_not_found", "找不到这个岗位")
    if not await _may_manage(session, user, shift.community_id, shift.team_id):
        raise Forbidden("team_leader_only", "只有社工或本团队队长可以取消岗位")
    if shift.cancelled_at is None:
        if shift.start_at <= clock.now():
            raise Conflict(
                "shift_started",
                f"岗位已于 {await _local(session, shift, shift.start_at)} 开始，不能取消",
                details={"start_at": shift.start_at},
            )
        await _cancel(session, shift, reason)
    return await shift_detail(session, user, shift.id)


def _reminder_key(signup: ShiftSignup, shift: Shift) -> str:
    return f"signup:{signup.id}:tomorrow:{int(shift.start_at.timestamp())}"


async def _cancel(session: AsyncSession, shift: Shift, reason: str) -> None:
    """The shift (locked by the caller) is called off: its sign-ups end, reminders go, people hear."""
    now = clock.now()
    signups = list(
        (
            await session.execute(
                select(ShiftSignup)
                .where(ShiftSignup.shift_id == shift.id, ShiftSignup.status == "active")
                .with_for_update()
            )
        ).scalars()
    )
    for signup in signups:
        signup.status = "withdrawn"
        signup.checked_in_at = None
        await cancel_scheduled(session, _reminder_key(signup, shift))
    shift.cancelled_at = shift.closed_at = now
    shift.taken = 0
    await session.flush()
    if signups:
        await notify(
            session,
            [s.user_id for s in signups],
            "shift.cancelled",
            {"shift_id": shift.id, "role": shift.role, "start_at": shift.start_at, "reason": reason or "安排有变"},
            f"shift:{shift.id}:cancelled",
            community_id=shift.community_id,
        )


async def changed(session: AsyncSession, shift: Shift, was: tuple[str, str | None]) -> int:
    """After staff renamed or moved a shift (locked by the caller; its times stay once anyone has
    signed up): the reminder the day before says the new name and place, and whoever signed up is
    told now. `was` is the (role, place) before. Returns how many were told."""
    if (shift.role, shift.place) == was or shift.cancelled_at is not None:
        return 0
    signups = list(
        (
            await session.execute(
                select(ShiftSignup).where(ShiftSignup.shift_id == shift.id, ShiftSignup.status == "active")
            )
        ).scalars()
    )
    now = clock.now()
    at = shift.start_at - timedelta(hours=24)
    for signup in signups:
        key = _reminder_key(signup, shift)
        if await cancel_scheduled(session, key) and at > now:
            await schedule(
                session,
                at,
                [signup.user_id],
                "shift.tomorrow",
                {"shift_id": shift.id, "role": shift.role, "start_at": shift.start_at, "place": shift.place or "社区"},
                key,
                community_id=shift.community_id,
            )
    if signups and shift.start_at > now:
        await notify(
            session,
            [s.user_id for s in signups],
            "shift.changed",
            {"shift_id": shift.id, "role": shift.role, "start_at": shift.start_at, "place": shift.place or "社区"},
            f"shift:{shift.id}:changed:{int(now.timestamp())}",
            community_id=shift.community_id,
        )
        return len(signups)
    return 0


# -- reading -------------------------------------------------------------------------------------


async def _get_shift(session: AsyncSession, shift_id: int) -> Shift:
    shift = await session.get(Shift, shift_id)
    if shift is None:
        raise NotFound("shift_not_found", "找不到这个岗位")
    return shift


def shift_view(shift: Shift, mine: ShiftSignup | None, team_name: str | None) -> dict[str, Any]:
    return {
        "id": shift.id,
        "role": shift.role,
        "place": shift.place,
        "start_at": shift.start_at,
        "end_at": shift.end_at,
        "needed": shift.needed,
        "taken": shift.taken,
        "team_id": shift.team_id,
        "team_name": team_name,
        "activity_id": shift.activity_id,
        "withdraw_deadline": shift.withdraw_deadline,
        "cancelled": shift.cancelled_at is not None,
        "project_id": shift.project_id,
        "service_type": shift.service_type,
        "my_signup": _signup_view(mine) if mine else None,
    }


def _signup_view(signup: ShiftSignup) -> dict[str, Any]:
    return {
        "id": signup.id,
        "shift_id": signup.shift_id,
        "user_id": signup.user_id,
        "status": signup.status,
        "checked_in_at": signup.checked_in_at,
        "checked_out_at": signup.checked_out_at,
        "auto_closed": signup.auto_closed,
    }


async def list_shifts(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    team_id: int | None,
    open_only: bool,
    mine_only: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Upcoming shifts, soonest first: all, a team's, those with free slots, or the caller's."""
    await require_member(session, user, community_id)
    query = (
        select(Shift, Team.name, ShiftSignup)
        .outerjoin(Team, Team.id == Shift.team_id)
        .outerjoin(
            ShiftSignup,
            and_(
                ShiftSignup.shift_id == Shift.id,
                ShiftSignup.user_id == user.id,
                ShiftSignup.status.in_(("active", "completed")),
            ),
        )
        .where(Shift.community_id == community_id, Shift.end_at > clock.now(), Shift.cancelled_at.is_(None))
        .order_by(Shift.start_at, Shift.id)
        .limit(limit + 1)
    )
    if team_id is not None:
        query = query.where(Shift.team_id == team_id)
    if open_only:
        query = query.where(Shift.taken < Shift.needed)
    if mine_only:
        query = query.where(ShiftSignup.id.is_not(None))
    if cursor:
        query = query.where(after_time_and_id(cursor, Shift.start_at, Shift.id, ascending=True))
    rows = (await session.execute(query)).all()
    items = [shift_view(shift, mine, name) for shift, name, mine in rows[:limit]]
    next_cursor = (
        encode_cursor(rows[limit - 1][0].start_at.isoformat(), rows[limit - 1][0].id) if len(rows) > limit else None
    )
    return items, next_cursor


async def shift_detail(session: AsyncSession, user: User, shift_id: int) -> dict[str, Any]:
    """A shift; who signed up is shown to staff and the team's leaders."""
    shift = await _get_shift(session, shift_id)
    await require_member(session, user, shift.community_id)
    mine = (
        await session.execute(
            select(ShiftSignup).where(
                ShiftSignup.shift_id == shift.id,
                ShiftSignup.user_id == user.id,
                ShiftSignup.status.in_(("active", "completed")),
            )
        )
    ).scalar_one_or_none()
    team = await session.get(Team, shift.team_id) if shift.team_id else None
    view = shift_view(shift, mine, team.name if team else None)
    view["signups"] = None
    if await _may_manage(session, user, shift.community_id, shift.team_id):
        rows = await session.execute(
            select(ShiftSignup, User.display_name)
            .join(User, User.id == ShiftSignup.user_id)
            .where(ShiftSignup.shift_id == shift.id)
            .order_by(ShiftSignup.id)
        )
        view["signups"] = [{**_signup_view(s), "display_name": name} for s, name in rows.all()]
    return view
