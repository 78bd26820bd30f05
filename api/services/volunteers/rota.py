"""What staff plan volunteers with (the console's 志愿服务 pages): the community's teams with their
leaders, members and requests waiting; the residents who may lead a team; the shifts of a local
week with who signed up and who came; a shift's page and its on-duty screen (the code of this
minute as a QR code's text); changing a shift or a standing duty. Staff of the community only; a
team, shift or duty is looked up within the community the page is about (another community's is
404 here, as one that does not exist). Changes that the API also makes (creating, cancelling,
reviewing requests, check-ins) stay in `teams` and `shifts`; this module adds only what the console
needs besides."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Household, Member, Shift, ShiftRule, ShiftSignup, Team, TeamMember, User
from api.errors import Conflict, NotFound, Unprocessable
from api.services import households
from api.services.access import require_staff
from api.services.activities.common import community_tz
from api.services.activities.planning import monday_of, today
from api.services.volunteers import shifts, signups, teams

# the shifts of one week a page shows at most (a community runs a few a day)
WEEK_LIMIT = 500
# the residents offered as a team's first leader
RESIDENTS_LIMIT = 2000
SHIFT_QR_PREFIX = "linli://shift-checkin"
WEEKDAY_LABELS = {
    "mon": "周一",
    "tue": "周二",
    "wed": "周三",
    "thu": "周四",
    "fri": "周五",
    "sat": "周六",
    "sun": "周日",
}


# -- teams ---------------------------------------------------------------------------------------


async def community_team(session: AsyncSession, user: User, community_id: int, team_id: int) -> Team:
    """The team, for staff of `community_id`, if it is one of that community's (else 404)."""
    await require_staff(session, user, community_id)
    team = await session.get(Team, team_id)
    if team is None or team.community_id != community_id:
        raise NotFound("team_not_found", "找不到这个团队")
    return team


async def teams_overview(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Every team of the community with its leaders' names, members in the team and requests
    waiting."""
    await require_staff(session, user, community_id)
    found = list(
        (await session.execute(select(Team).where(Team.community_id == community_id).order_by(Team.id))).scalars()
    )
    ids = [t.id for t in found]
    leaders: dict[int, list[str]] = defaultdict(list)
    active: dict[int, int] = defaultdict(int)
    pending: dict[int, int] = defaultdict(int)
    if ids:
        rows = await session.execute(
            select(TeamMember.team_id, TeamMember.role, TeamMember.status, User.display_name)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id.in_(ids))
            .order_by(TeamMember.id)
        )
        for team_id, role, status, name in rows.all():
            if status == "pending":
                pending[team_id] += 1
                continue
            active[team_id] += 1
            if role == "leader":
                leaders[team_id].append(name or "未署名")
    return [
        {
            "id": t.id,
            "name": t.name,
            "description": t.description,
            "leaders": leaders[t.id],
            "members": active[t.id],
            "pending": pending[t.id],
        }
        for t in found
    ]


async def team_page(session: AsyncSession, user: User, community_id: int, team_id: int) -> dict[str, Any]:
    """The team as its page shows it: leaders, members and requests waiting (phones masked)."""
    await community_team(session, user, community_id, team_id)
    view = await teams.team_detail(session, user, team_id)
    roster = view.pop("roster") or []
    view["leaders"] = [m for m in roster if m["status"] == "active" and m["role"] == "leader"]
    view["others"] = [m for m in roster if m["status"] == "active" and m["role"] != "leader"]
    view["pending"] = sorted((m for m in roster if m["status"] == "pending"), key=lambda m: m["since"])
    return view


async def residents(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The community's adult residents with an account (who may lead a team), by address."""
    await require_staff(session, user, community_id)
    rows = await session.execute(
        select(Member.user_id, Member.display_name, Household)
        .join(Household, Household.id == Member.household_id)
        .where(
            Member.community_id == community_id,
            Member.status == "active",
            Member.kind == "adult",
            Member.user_id.is_not(None),
        )
        .order_by(Household.address_key, Member.id)
        .limit(RESIDENTS_LIMIT)
    )
    return [
        {"user_id": user_id, "name": name, "address": households.address_text(household)}
        for user_id, name, household in rows.all()
    ]


# -- the week's shifts ---------------------------------------------------------------------------


async def _people(session: AsyncSession, shift_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Who signed up for each shift and has not withdrawn: names, check-in and check-out."""
    people: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not shift_ids:
        return people
    rows = await session.execute(
        select(ShiftSignup, User.display_name)
        .join(User, User.id == ShiftSignup.user_id)
        .where(ShiftSignup.shift_id.in_(shift_ids), ShiftSignup.status != "withdrawn")
        .order_by(ShiftSignup.id)
    )
    for signup, name in rows.all():
        people[signup.shift_id].append(
            {
                "signup_id": signup.id,
                "user_id": signup.user_id,
                "name": name or "未署名",
                "status": signup.status,
                "checked_in_at": signup.checked_in_at,
                "checked_out_at": signup.checked_out_at,
                "auto_closed": signup.auto_closed,
            }
        )
    return people


def _state(shift: Shift, now: datetime) -> str:
    if shift.cancelled_at is not None:
        return "cancelled"
    if shift.end_at <= now:
        return "ended"
    if shift.start_at <= now:
        return "on"
    return "upcoming"


def _row(shift: Shift, team_name: str | None, people: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The shift as the API shows it, with what the console's week adds: its state by the clock,
    its standing duty, who signed up and how many came."""
    return {
        **shifts.shift_view(shift, None, team_name),
        "rule_id": shift.rule_id,
        "state": _state(shift, now),
        "people": people,
        "checked_in": sum(1 for p in people if p["checked_in_at"] is not None),
    }


async def week(session: AsyncSession, user: User, community_id: int, day: date) -> dict[str, Any]:
    """The shifts starting in the community's local week of `day` (cancelled ones too), by day,
    each with its slots, who signed up and who checked in."""
    await require_staff(session, user, community_id)
    tz = await community_tz(session, community_id)
    monday = monday_of(day)
    start = datetime.combine(monday, time(0), tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tz)
    rows = (
        await session.execute(
            select(Shift, Team.name)
            .outerjoin(Team, Team.id == Shift.team_id)
            .where(Shift.community_id == community_id, Shift.start_at >= start, Shift.start_at < end)
            .order_by(Shift.start_at, Shift.id)
            .limit(WEEK_LIMIT + 1)
        )
    ).all()
    people = await _people(session, [s.id for s, _ in rows[:WEEK_LIMIT]])
    now = clock.now()
    days: list[dict[str, Any]] = [{"day": monday + timedelta(days=n), "shifts": []} for n in range(7)]
    for shift, team_name in rows[:WEEK_LIMIT]:
        local = shift.start_at.astimezone(tz).date()
        days[(local - monday).days]["shifts"].append(_row(shift, team_name, people[shift.id], now))
    listed = [s for d in days for s in d["shifts"]]
    return {
        "monday": monday,
        "sunday": monday + timedelta(days=6),
        "days": days,
        "total": len(listed),
        "open_slots": sum(s["needed"] - s["taken"] for s in listed if s["state"] == "upcoming"),
        "more": len(rows) > WEEK_LIMIT,
    }


async def community_shift(session: AsyncSession, user: User, community_id: int, shift_id: int) -> Shift:
    """The shift, for staff of `community_id`, if it is one of that community's (else 404)."""
    await require_staff(session, user, community_id)
    shift = await session.get(Shift, shift_id)
    if shift is None or shift.community_id != community_id:
        raise NotFound("shift_not_found", "找不到这个岗位")
    return shift


async def shift_page(session: AsyncSession, user: User, community_id: int, shift_id: int) -> dict[str, Any]:
    """A shift with who signed up (withdrawn ones left out) and whether it may still be changed."""
    shift = await community_shift(session, user, community_id, shift_id)
    team = await session.get(Team, shift.team_id) if shift.team_id else None
    people = await _people(session, [shift.id])
    view = _row(shift, team.name if team else None, people[shift.id], clock.now())
    view["times_fixed"] = _times_fixed(shift)
    view["day"] = shift.start_at.astimezone(await community_tz(session, community_id)).date()
    return view


def _times_fixed(shift: Shift) -> str | None:
    """Why the shift's times can no longer change, or None."""
    if shift.rule_id is not None:
        return "这个岗位由每周固定岗位生成，时间随固定岗位；要改时间请修改固定岗位"
    if shift.taken > 0:
        return "已经有人报名，不能再改时间；确实要改，请取消这个岗位（已报名的人会收到通知）后重新设置"
    return None


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


async def edit_shift(
    session: AsyncSession, user: User, community_id: int, shift_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Staff change a shift before it ends: its name, place and the number of volunteers needed
    (never below those signed up); its times only before it starts, while nobody has signed up,
    and not for a shift a standing duty made. The withdrawal deadline follows a new start."""
    await community_shift(session, user, community_id, shift_id)
    shift = await session.get(Shift, shift_id, with_for_update=True, populate_existing=True)
    if shift is None:
        raise NotFound("shift_not_found", "找不到这个岗位")
    now = clock.now()
    if shift.cancelled_at is not None:
        raise Conflict("shift_cancelled", "这个岗位已经取消了")
    if shift.end_at <= now:
        raise Conflict("shift_ended", "岗位已经结束，不能再修改")
    if data["needed"] < shift.taken:
        raise Unprocessable(
            "needed_below_taken",
            f"已有 {shift.taken} 人报名，需要人数不能少于 {shift.taken}",
            details={"field": "needed", "taken": shift.taken},
        )
    # the form shows times to the minute: a shift made at 14:00:36 through the API has not moved
    moved = _minute(data["start_at"]) != _minute(shift.start_at) or _minute(data["end_at"]) != _minute(shift.end_at)
    if moved:
        why = _times_fixed(shift)
        if why is not None:
            raise Conflict("shift_times_fixed", why, details={"field": "start_at"})
        if shift.start_at <= now or data["start_at"] <= now:
            raise Unprocessable(
                "shift_in_past", "岗位已经开始或新的开始时间已经过去，不能改时间", details={"field": "start_at"}
            )
        shift.start_at, shift.end_at = data["start_at"], data["end_at"]
        shift.withdraw_deadline = max(data["start_at"] - timedelta(hours=12), now)
    was = (shift.role, shift.place)
    shift.role = data["role"]
    shift.place = data["place"]
    shift.needed = data["needed"]
    await session.flush()
    await shifts.changed(session, shift, was)
    return await shift_page(session, user, community_id, shift_id)


def shift_qr_text(shift_id: int, code: str) -> str:
    """What the shift's on-site QR code holds: `linli://shift-checkin?shift=<id>&code=<code>`; the
    mini-program's 扫码签到 sends `POST /api/v1/shifts/<id>/checkin` (or `/checkout`) with
    `{"code": "<code>"}`. It carries nothing personal; the code alone is useless a minute later."""
    return f"{SHIFT_QR_PREFIX}?shift={shift_id}&code={code}"


async def duty_code(session: AsyncSession, user: User, community_id: int, shift_id: int) -> dict[str, Any]:
    """The on-duty screen's code of this minute (`signups.current_code`, as the API's
    GET /shifts/{id}/code) and the text of its QR code. None for a cancelled shift."""
    shift = await community_shift(session, user, community_id, shift_id)
    if shift.cancelled_at is not None:
        raise Conflict("shift_cancelled", "这个岗位已经取消了")
    code = await signups.current_code(session, user, shift_id)
    return {
        **code,
        "qr_text": shift_qr_text(shift_id, code["code"]),
        "opens_at": shift.start_at - signups.CHECKIN_EARLY,
        "closes_at": shift.end_at,
    }


# -- standing duties -----------------------------------------------------------------------------


async def community_rule(session: AsyncSession, user: User, community_id: int, rule_id: int) -> ShiftRule:
    """The standing duty, for staff of `community_id`, if it is one of that community's (else 404)."""
    await require_staff(session, user, community_id)
    rule = await session.get(ShiftRule, rule_id)
    if rule is None or rule.community_id != community_id:
        raise NotFound("rule_not_found", "找不到这个值班安排")
    return rule


async def rules_overview(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The community's standing duties (running ones first) with their team's name, whether they
    run, and how many of their shifts are still to come."""
    await require_staff(session, user, community_id)
    items = await shifts.rules(session, user, community_id)
    day = await today(session, community_id)
    team_ids = {r["team_id"] for r in items if r["team_id"] is not None}
    names: dict[int, str] = {}
    if team_ids:
        found = await session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
        names = {team_id: name for team_id, name in found.all()}
    coming: dict[int, int] = {}
    if items:
        rows = await session.execute(
            select(Shift.rule_id, func.count())
            .where(
                Shift.rule_id.in_([r["id"] for r in items]),
                Shift.start_at > clock.now(),
                Shift.cancelled_at.is_(None),
            )
            .group_by(Shift.rule_id)
        )
        coming = {rule_id: n for rule_id, n in rows.all() if rule_id is not None}
    for rule in items:
        rule["team_name"] = names.get(rule["team_id"]) if rule["team_id"] is not None else None
        rule["weekday_labels"] = [WEEKDAY_LABELS[d] for d in rule["weekdays"]]
        rule["overnight"] = rule["ends"] < rule["starts"]
        rule["ended"] = rule["active_until"] is not None and rule["active_until"] < day
        rule["coming"] = coming.get(rule["id"], 0)
    return items


async def change_rule(
    session: AsyncSession, user: User, community_id: int, rule_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Staff rename a standing duty, move its place or change how many volunteers it needs; its
    shifts still to come follow (never needing fewer than have signed up for one). Its weekdays and
    hours stay: to change those, staff end it and set up a new one, so that nobody's sign-up moves
    under them."""
    await community_rule(session, user, community_id, rule_id)
    rule = await session.get(ShiftRule, rule_id, with_for_update=True, populate_existing=True)
    if rule is None:
        raise NotFound("rule_not_found", "找不到这个值班安排")
    if rule.active_until is not None and rule.active_until < await today(session, community_id):
        raise Conflict("rule_ended", "这个值班安排已经结束了")
    rule.role, rule.place, rule.needed = data["role"], data["place"], data["needed"]
    later = await session.execute(
        select(Shift)
        .where(Shift.rule_id == rule.id, Shift.start_at > clock.now(), Shift.cancelled_at.is_(None))
        .order_by(Shift.start_at)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for shift in later.scalars().all():
        was = (shift.role, shift.place)
        shift.role, shift.place = rule.role, rule.place
        shift.needed = max(rule.needed, shift.taken)
        await session.flush()
        await shifts.changed(session, shift, was)
    await session.flush()
    return {"id": rule.id, "role": rule.role, "place": rule.place, "needed": rule.needed}
