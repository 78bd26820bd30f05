"""Triage: what staff do with a concern, and the residents' verdicts on its result.

submitted → accepted (a level and its clock) → in_progress → resolved | unresolvable | referred |
duplicate → closed. Staff may also turn a concern down straight from `submitted` (unresolvable,
referred, duplicate): that is their answer too. Each step is a separate action by staff of the
concern's community, refused with 409 `concern_transition_invalid` from a state it does not leave,
and each writes a timeline event saying who did what and what changed. `responded_at` is the
first answer (acceptance or turning it down), which the response clock is judged by.

Verdicts: once a concern's latest outcome is a resolution, its raiser and those who said "me too"
(which is only possible while it is open, so: by the time it was resolved) answer once per round:
solved / partly / not solved, 1–5 stars, a word only staff read. "Not solved" within `reopen_days`
of the resolution reopens it for another round (even if staff closed it meanwhile); later it is
only recorded. Reopened at level 3, it goes back to the next five-party meeting (or waits).

Resolved or turned down, a concern leaves the agendas of meetings still to come. Every action here
takes the community's agenda lock before the concern's row (`concern_access.staff_concern`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Concern, ConcernEvent, ConcernVerdict, User
from api.db.upsert import insert_ignore
from api.errors import Conflict, Forbidden, Unprocessable, invalid_field
from api.services.access import staff_ids
from api.services.activities.common import community_tz
from api.services.governance import common
from api.services.governance.concern_access import (
    TRANSITIONS,
    locked_concern,
    seeable_concern,
    staff_concern,
    to_meeting,
)
from api.services.governance.concern_views import may_answer, resolved_now
from api.services.notifications import notify

DECLINED = ("unresolvable", "referred", "duplicate")
ACTION_LABELS = {
    "accept": "受理",
    "level": "调整等级",
    "start": "开始处理",
    "resolve": "办结",
    "decline": "答复为无法解决、转办或重复",
    "close": "关闭",
}
TAKEN_OFF = {  # why a concern turned down leaves the agendas of meetings to come
    "unresolvable": "答复为无法解决",
    "referred": "已转办",
    "duplicate": "答复为重复反映",
}


def _check(concern: Concern, action: str) -> None:
    """Refused (409) unless the concern's state is one `action` leaves; the message names the state."""
    if concern.status not in TRANSITIONS[action]:
        label = common.STATUS_LABELS[concern.status]
        raise Conflict(
            "concern_transition_invalid",
            f"这件烦心事现在是“{label}”，不能{ACTION_LABELS[action]}",
            details={"status": concern.status, "action": action},
        )


def _local(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    """A time kept in an event's data, in the community's offset (as every answer writes times)."""
    return at.astimezone(tz).isoformat() if at is not None else None


def level_detail(concern: Concern, tz: ZoneInfo) -> str:
    """Who handles the concern and by when, in words residents read."""
    if concern.level == 1:
        due = f"，{_local(concern.due_at, tz)}前完成" if concern.due_at else ""
        return f"由{concern.responsible}负责{due}"
    if concern.level == 2:
        return f"由{concern.responsible or '工作小组'}处理，办结后公布结果"
    return "提交五方议事会协商"


async def _tell_followers(
    session: AsyncSession, concern: Concern, actor: User | None, kind: str, params: dict[str, Any], cause: str
) -> None:
    """The raiser and everyone who said "me too" hear of it (not whoever did it)."""
    recipients = [u for u in await common.followers(session, concern) if actor is None or u != actor.id]
    if recipients:
        await notify(
            session,
            recipients,
            kind,
            {"concern_id": concern.id, "title": concern.title, **params},
            cause,
            community_id=concern.community_id,
        )


def _level_3_shown(concern: Concern, level: int) -> None:
    """Level 3 puts the concern, its title and text, on a meeting's public agenda: only a concern
    the community already sees (its text and photos passed the checks, not taken down)."""
    if level == 3 and concern.visibility != "visible":
        raise Conflict(
            "concern_not_visible",
            "这件烦心事还没有通过审核（或已下架），不能提交五方议事会",
            details={"visibility": concern.visibility},
        )


def _checked_due(level: int, due_at: datetime | None, now: datetime) -> datetime | None:
    """A level-1 due date staff gave, to the minute as every deadline is kept; None if not given."""
    if due_at is None:
        return None
    if level != 1:
        raise invalid_field("due_at", "只有一级可以指定完成时间，二、三级按时限计算", kind="due_at_level1_only")
    due = common.to_the_minute(due_at)
    if due <= now:
        raise invalid_field("due_at", "应晚于现在", kind="due_at_past")
    return due


async def accept(session: AsyncSession, user: User, concern_id: int, data: dict[str, Any]) -> Concern:
    """Staff accept a submitted concern at a level: level 1 with the party responsible and a due
    date (by default `level1_days` after acceptance), levels 2 and 3 on their clocks. Level 3 goes
    on the next five-party meeting's agenda, or waits for one. The raiser and "me too" hear of it."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "accept")
    level: int = data["level"]
    responsible: str = data.get("responsible") or ""
    note: str = data.get("note") or ""
    if level == 1 and not responsible:
        raise invalid_field("responsible", "一级（快速处理）须写明负责的一方", kind="responsible_required")
    now = clock.now()
    given = _checked_due(level, data.get("due_at"), now)
    _level_3_shown(concern, level)
    clocks = await common.clocks(session, concern.community_id)
    tz = await community_tz(session, concern.community_id)
    concern.status = "accepted"
    concern.level = level
    concern.responsible = responsible
    concern.due_at = given or common.resolution_deadline(now, level, clocks)
    concern.responded_at = concern.responded_at or now
    concern.triaged_by = user.id
    concern.late_flagged_at = None  # a new clock
    detail = level_detail(concern, tz)
    common.add_event(
        session,
        concern,
        "accepted",
        user,
        body="；".join(filter(None, [common.LEVEL_LABELS[level], detail, note])),
        data={
            "status": ["submitted", "accepted"],
            "level": [None, level],
            "responsible": ["", responsible],
            "due_at": [None, _iso(concern.due_at, tz)],
        },
    )
    await session.flush()
    if level == 3:
        await to_meeting(session, concern, user)
    await _tell_followers(
        session,
        concern,
        user,
        "concern.accepted",
        {"level_label": common.LEVEL_LABELS[level], "detail": detail},
        f"concern:{concern.id}:accepted",
    )
    return concern


def _clock_start(concern: Concern) -> datetime:
    """When the current resolution clock started: the latest reopening, or the acceptance."""
    return concern.reopened_at or concern.responded_at or clock.now()


async def change_level(session: AsyncSession, user: User, concern_id: int, data: dict[str, Any]) -> Concern:
    """Staff change an accepted concern's level, the party responsible or the due date. A new level
    counts the resolution clock again from the acceptance (or the latest reopening), unless a
    level-1 due date is given; changing only the party responsible keeps the clock. Staff will be
    told again if a changed clock runs out. Moving to level 3 puts it on the next five-party
    meeting's agenda (or it waits for one); moving from level 3 takes it off the agendas of
    meetings still to come."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "level")
    level: int = data["level"]
    responsible: str = data["responsible"] if data.get("responsible") is not None else concern.responsible
    note: str = data.get("note") or ""
    if level == 1 and not responsible:
        raise invalid_field("responsible", "一级（快速处理）须写明负责的一方", kind="responsible_required")
    given = _checked_due(level, data.get("due_at"), clock.now())
    if concern.level != 3:
        _level_3_shown(concern, level)
    clocks = await common.clocks(session, concern.community_id)
    tz = await community_tz(session, concern.community_id)
    due = concern.due_at
    if given is not None:
        due = given
    elif level != concern.level:
        due = common.resolution_deadline(_clock_start(concern), level, clocks)
    before = (concern.level, concern.responsible, concern.due_at)
    if before == (level, responsible, due):
        return concern
    changes: dict[str, Any] = {}
    if concern.level != level:
        changes["level"] = [concern.level, level]
    if concern.responsible != responsible:
        changes["responsible"] = [concern.responsible, responsible]
    if concern.due_at != due:
        changes["due_at"] = [_iso(concern.due_at, tz), _iso(due, tz)]
        concern.late_flagged_at = None  # a new clock: staff are told again when it runs out
    concern.level, concern.responsible, concern.due_at = level, responsible, due
    concern.triaged_by = user.id
    detail = level_detail(concern, tz)
    event = common.add_event(
        session,
        concern,
        "level",
        user,
        body="；".join(filter(None, [common.LEVEL_LABELS[level], detail, note])),
        data=changes,
    )
    await session.flush()
    if level == 3 and before[0] != 3:
        await to_meeting(session, concern, user)
    elif before[0] == 3 and level != 3:
        await common.take_off_agendas(session, concern, user, f"改为{common.LEVEL_LABELS[level][:2]}处理")
    await _tell_followers(
        session,
        concern,
        user,
        "concern.level",
        {"level_label": common.LEVEL_LABELS[level], "detail": detail},
        f"concern:{concern.id}:level:{event.id}",
    )
    return concern


async def start(session: AsyncSession, user: User, concern_id: int) -> Concern:
    """Staff mark an accepted concern as being handled."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "start")
    concern.status = "in_progress"
    common.add_event(session, concern, "in_progress", user, data={"status": ["accepted", "in_progress"]})
    await session.flush()
    return concern


async def resolve(session: AsyncSession, user: User, concern_id: int, result: str) -> Concern:
    """Staff publish the result of an accepted concern; its raiser and "me too" are asked
    whether it is solved."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "resolve")
    if not result:
        raise invalid_field("result", "请写明处理结果（公开）", kind="result_required")
    before = concern.status
    concern.status = concern.outcome = "resolved"
    concern.resolved_at = clock.now()
    concern.result = result
    common.add_event(session, concern, "resolved", user, body=result, data={"status": [before, "resolved"]})
    await session.flush()
    await common.take_off_agendas(session, concern, user, "已办结")
    await _tell_followers(
        session,
        concern,
        user,
        "concern.resolved",
        {"result": result[:100]},
        f"concern:{concern.id}:resolved:{concern.reopen_count}",
    )
    return concern


async def decline(session: AsyncSession, user: User, concern_id: int, data: dict[str, Any]) -> Concern:
    """Staff turn a concern down, from `submitted` or once accepted: it cannot be resolved (the
    reason), it was referred (to whom), or it repeats another of the community's concerns (which;
    one residents can see, not itself). Residents following it hear why."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "decline")
    outcome: str = data["outcome"]
    if outcome not in DECLINED:
        raise Unprocessable("outcome_invalid", "outcome：不认识的答复方式")
    before = concern.status
    changes: dict[str, Any] = {"status": [before, outcome]}
    if outcome == "unresolvable":
        reason = (data.get("reason") or "").strip()
        if not reason:
            raise invalid_field("reason", "无法解决时请写明原因", kind="reason_required")
        concern.reason = reason
        detail = f"原因：{reason}"
    elif outcome == "referred":
        referred_to = (data.get("referred_to") or "").strip()
        if not referred_to:
            raise invalid_field("referred_to", "转办时请写明转给谁", kind="referred_to_required")
        concern.referred_to = referred_to
        detail = f"已转交{referred_to}办理"
    else:
        original = await session.get(Concern, data.get("duplicate_of") or 0)
        if (
            original is None
            or original.community_id != concern.community_id
            or original.id == concern.id
            or original.visibility != "visible"
        ):
            raise invalid_field("duplicate_of", "应为本社区另一件公开的烦心事", kind="duplicate_of_invalid")
        if original.outcome == "duplicate":  # one repeating another: no chains, no A↔B cycles
            raise invalid_field(
                "duplicate_of", "那一件本身也是重复反映，请选择最早反映的那一条", kind="duplicate_of_duplicate"
            )
        concern.duplicate_of = original.id
        changes["duplicate_of"] = original.id
        detail = f"与「{original.title}」重复，请关注那一件的进展"
    concern.status = concern.outcome = outcome
    now = clock.now()
    concern.responded_at = concern.responded_at or now
    concern.triaged_by = user.id
    common.add_event(session, concern, outcome, user, body=detail, data=changes)
    await session.flush()
    await common.take_off_agendas(session, concern, user, TAKEN_OFF[outcome])
    await _tell_followers(
        session,
        concern,
        user,
        "concern.declined",
        {"outcome_label": common.STATUS_LABELS[outcome], "detail": detail},
        f"concern:{concern.id}:declined",
    )
    return concern


async def close_concern(session: AsyncSession, concern: Concern, actor: User | None) -> None:
    """Close a concern that has its outcome (`outcome` keeps it); `actor` None: the worker."""
    before = concern.status
    concern.status = "closed"
    concern.closed_at = clock.now()
    body = "" if actor is not None else "处理结果公布后到期，自动关闭"
    common.add_event(session, concern, "closed", actor, body=body, data={"status": [before, "closed"]})
    await session.flush()


async def close(session: AsyncSession, user: User, concern_id: int) -> Concern:
    """Staff close a concern that has its outcome; a closed concern is final, but for its
    residents' "not solved" within `reopen_days` of a resolution (`reopens`)."""
    concern = await staff_concern(session, user, concern_id)
    _check(concern, "close")
    await close_concern(session, concern, user)
    return concern


async def post_update(session: AsyncSession, user: User, concern_id: int, body: str, public: bool) -> ConcernEvent:
    """Staff write on the concern's timeline: a public update (its raiser and "me too" hear of
    it) or a note only staff read."""
    concern = await staff_concern(session, user, concern_id)
    event = common.add_event(session, concern, "update" if public else "note", user, public=public, body=body)
    await session.flush()
    if public:
        excerpt = body if len(body) <= 60 else body[:59] + "…"
        await _tell_followers(
            session, concern, user, "concern.update", {"excerpt": excerpt}, f"concern:{concern.id}:update:{event.id}"
        )
    return event


# -- verdicts ------------------------------------------------------------------------------------------


def reopens(concern: Concern, answer: str, reopen_days: int, now: datetime) -> bool:
    """A "not solved" reopens a resolved concern up to `reopen_days` after its resolution, the last
    minute included — even if staff closed it before then: closing does not take the residents'
    say away."""
    return (
        answer == "not_solved"
        and resolved_now(concern)
        and concern.resolved_at is not None
        and now <= concern.resolved_at + timedelta(days=reopen_days)
    )


async def give_verdict(session: AsyncSession, user: User, concern_id: int, data: dict[str, Any]) -> ConcernVerdict:
    """A resident's verdict on the concern's resolution: its raiser or one who said "me too", once
    per round, while its latest outcome is a resolution. Its answer and stars are public on the
    timeline (as 居民); the word only staff read. "Not solved" in time reopens it: back in
    progress (closed or not), a new round, a new resolution clock, and at level 3 back to the next
    five-party meeting (or waiting for one); staff and the other followers hear of it."""
    found, _ = await seeable_concern(session, user, concern_id)
    concern = await locked_concern(session, found.community_id, concern_id)  # reopening may place it on an agenda
    eligible, as_raiser = await may_answer(session, concern, user.id)
    if not eligible:
        raise Forbidden("verdict_not_allowed", "只有提出人和点了“我也遇到了”的居民可以评价")
    if not resolved_now(concern):
        raise Conflict(
            "concern_not_resolved",
            f"这件烦心事现在是“{common.STATUS_LABELS[concern.status]}”，解决后才能评价",
            details={"status": concern.status},
        )
    now = clock.now()
    answer: str = data["answer"]
    stars: int = data["stars"]
    values = {
        "concern_id": concern.id,
        "user_id": user.id,
        "round": concern.reopen_count,
        "answer": answer,
        "stars": stars,
        "word": data.get("word") or "",
        "raiser": as_raiser,
        "created_at": now,
    }
    if not await insert_ignore(session, ConcernVerdict, values, ["concern_id", "user_id", "round"]):
        raise Conflict("verdict_given", "这一轮你已经评价过了")
    verdict = (
        await session.execute(
            select(ConcernVerdict).where(
                ConcernVerdict.concern_id == concern.id,
                ConcernVerdict.user_id == user.id,
                ConcernVerdict.round == concern.reopen_count,
            )
        )
    ).scalar_one()
    common.add_event(
        session,
        concern,
        "verdict",
        user,
        body=f"{common.VERDICT_LABELS[answer]}，{stars}星",
        data={"answer": answer, "stars": stars, "round": concern.reopen_count},
    )
    clocks = await common.clocks(session, concern.community_id)
    if reopens(concern, answer, clocks.reopen_days, now):
        await _reopen(session, concern, user, clocks, now)
    await session.flush()
    return verdict


async def _reopen(session: AsyncSession, concern: Concern, user: User, clocks: common.Clocks, now: datetime) -> None:
    before = concern.status
    concern.status = "in_progress"
    concern.outcome = None
    concern.closed_at = None
    concern.reopen_count += 1
    concern.reopened_at = now
    assert concern.level is not None
    concern.due_at = common.resolution_deadline(now, concern.level, clocks)  # a new resolution clock
    concern.late_flagged_at = None
    common.add_event(
        session,
        concern,
        "reopened",
        user,
        body="有居民反馈没有解决，重新处理",
        data={"status": [before, "in_progress"], "round": concern.reopen_count},
        at=now,
    )
    await session.flush()
    if concern.level == 3 and concern.visibility == "visible":
        await to_meeting(session, concern, user)
    cause = f"concern:{concern.id}:reopened:{concern.reopen_count}"
    await notify(
        session,
        await staff_ids(session, concern.community_id),
        "concern.reopened_staff",
        {"concern_id": concern.id, "title": concern.title},
        cause,
        community_id=concern.community_id,
    )
    await _tell_followers(session, concern, user, "concern.reopened", {}, cause)
