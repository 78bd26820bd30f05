"""A decision's follow-ups (跟进事项): what is to be done, by whom (an account of the community, or
a party by name), by when.

    open → in_progress → done | dropped (with the reason)        (open may also go straight to done or dropped)

Staff add them once the meeting was held (also after the minutes are out) and may change
everything; the owner (an account) may move their own follow-up on (in progress, done) and write
its note, but not drop it, change its due date or reassign it: that is staff's. Done and dropped
are final.

Every change of a follow-up takes the lock rule of governance: the agenda lock and the meeting's row
(`meetings.lock_meeting`), then the follow-up's — so a change and the publishing of the minutes
(which announces the follow-ups and schedules their reminders) come one after the other: a
follow-up done meanwhile keeps no reminder, one given to someone else reminds only them.

Residents of the community see follow-ups once the meeting's minutes are published; until then they
are staff's draft. Then the owner with an account hears of it and its due date (again whenever the
due date or the owner changes), gets a reminder `follow_up_reminder_days` before the due date at
09:00 (one per follow-up, owner and due date: taken back when it is done or dropped, or the date or
owner changes), and once it runs late — not done or dropped after its due date, in the community's
local date — staff and the owner are told, once per due date (`flag_late`, hourly in the worker).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, Decision, FollowUp, Meeting, User
from api.errors import Conflict, Forbidden, NotFound, invalid_field
from api.services.access import get_community, staff_ids
from api.services.activities import planning
from api.services.activities.common import community_tz
from api.services.governance import common
from api.services.governance.meeting_agenda import account_name
from api.services.governance.meetings import (
    community_staff,
    community_viewer,
    local_day,
    lock_meeting,
    meeting_ref,
    minutes_public,
    require_status,
    staff_meeting,
    viewer,
)
from api.services.notifications import cancel_scheduled, notify, schedule

MISSING = ("follow_up_not_found", "找不到这个跟进事项")
OPEN = ("open", "in_progress")
FINAL = ("done", "dropped")
MOVES = {"open": {"in_progress", "done", "dropped"}, "in_progress": {"done", "dropped"}}
REMINDER_AT = time(9, 0)  # local time of the reminder
LIST_LIMIT = 500
OWNER_FIELDS = ("owner_user_id", "owner_party", "owner_name")


def day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def is_late(task: FollowUp, today: date) -> bool:
    """Not done or dropped after its due date (`today`: the community's local date)."""
    return task.status in OPEN and today > task.due_on


def follow_up_view(
    task: FollowUp, decision: Decision, meeting: Meeting, *, staff: bool, user: User, today: date
) -> dict[str, Any]:
    return {
        "id": task.id,
        "community_id": task.community_id,
        "decision_id": task.decision_id,
        "decision_text": decision.text,
        "meeting": meeting_ref(meeting),
        "title": task.title,
        "owner_user_id": task.owner_user_id if staff else None,
        "owner_party": task.owner_party,
        "owner_party_label": common.PARTY_LABELS[task.owner_party] if task.owner_party else None,
        "owner_name": task.owner_name,
        "mine": task.owner_user_id is not None and task.owner_user_id == user.id,
        "due_on": task.due_on,
        "status": task.status,
        "status_label": common.FOLLOW_UP_STATUS_LABELS[task.status],
        "note": task.note,
        "done_at": task.done_at,
        "late": is_late(task, today),
        "late_flagged_at": task.late_flagged_at if staff else None,
        "published": minutes_public(meeting),
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


async def of_decisions(session: AsyncSession, decision_ids: list[int]) -> dict[int, list[FollowUp]]:
    """The follow-ups of these decisions, by decision, by due date."""
    found: dict[int, list[FollowUp]] = defaultdict(list)
    if not decision_ids:
        return found
    rows = await session.execute(
        select(FollowUp)
        .where(FollowUp.decision_id.in_(decision_ids))
        .order_by(FollowUp.due_on, FollowUp.id)
        .execution_options(populate_existing=True)
    )
    for task in rows.scalars():
        found[task.decision_id].append(task)
    return found


# -- telling the owner ---------------------------------------------------------------------------


def _reminder_key(task: FollowUp) -> str:
    return f"follow_up:{task.id}:reminder:{task.owner_user_id}:{task.due_on.isoformat()}"


def _params(task: FollowUp, meeting: Meeting) -> dict[str, Any]:
    return {
        "follow_up_id": task.id,
        "title": task.title,
        "due_on": task.due_on,
        "meeting_title": meeting.title,
        "owner_name": task.owner_name,
    }


async def announce(session: AsyncSession, task: FollowUp, meeting: Meeting) -> None:
    """The owner (an account) hears of a published follow-up and its due date, and gets a reminder
    `follow_up_reminder_days` before it at 09:00 — unless that moment has passed already."""
    if task.owner_user_id is None or task.status not in OPEN:
        return
    params = _params(task, meeting)
    await notify(
        session,
        [task.owner_user_id],
        "follow_up.assigned",
        params,
        f"follow_up:{task.id}:assigned:{task.owner_user_id}:{task.due_on.isoformat()}",
        community_id=task.community_id,
    )
    policy = await common.clocks(session, task.community_id)
    tz = await community_tz(session, task.community_id)
    at = datetime.combine(task.due_on - timedelta(days=policy.follow_up_reminder_days), REMINDER_AT, tzinfo=tz)
    if at > clock.now():
        await schedule(
            session,
            at.astimezone(UTC),
            [task.owner_user_id],
            "follow_up.reminder",
            params,
            _reminder_key(task),
            community_id=task.community_id,
        )


# -- reading -------------------------------------------------------------------------------------


async def _found(session: AsyncSession, follow_up_id: int) -> tuple[FollowUp, Decision, Meeting]:
    task = await session.get(FollowUp, follow_up_id)
    decision = await session.get(Decision, task.decision_id) if task is not None else None
    meeting = await session.get(Meeting, decision.meeting_id) if decision is not None else None
    if task is None or decision is None or meeting is None:
        raise NotFound(*MISSING)
    return task, decision, meeting


async def _readable(session: AsyncSession, user: User, follow_up_id: int) -> tuple[FollowUp, Decision, Meeting, bool]:
    task, decision, meeting = await _found(session, follow_up_id)
    staff = await viewer(session, user, task.community_id, MISSING)
    if not staff and not minutes_public(meeting):
        raise NotFound(*MISSING)
    await get_community(session, task.community_id)  # the answer in the community's zone
    return task, decision, meeting, staff


async def community_follow_up(session: AsyncSession, user: User, community_id: int, follow_up_id: int) -> FollowUp:
    """A follow-up of this community, for its staff (404 for strangers, 403 for residents); another
    community's is 404, as one that does not exist (a console page's address names its community)."""
    await community_staff(session, user, community_id)
    task = await session.get(FollowUp, follow_up_id)
    if task is None or task.community_id != community_id:
        raise NotFound(*MISSING)
    return task


async def get_follow_up(session: AsyncSession, user: User, follow_up_id: int) -> dict[str, Any]:
    task, decision, meeting, staff = await _readable(session, user, follow_up_id)
    return follow_up_view(
        task, decision, meeting, staff=staff, user=user, today=await planning.today(session, task.community_id)
    )


async def list_follow_ups(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    status: str | None = None,
    owner_user_id: int | None = None,
    owner_party: str | None = None,
    owner_name: str | None = None,
    mine: bool = False,
    late: bool | None = None,
) -> dict[str, Any]:
    """The community's follow-ups by owner (their names in character order) and due date
    (residents: those of published minutes), filtered by state, owner (an account, or a party), the
    caller's own, the owner's name, or lateness; with a summary per owner and the counts by state. At most
    `LIST_LIMIT`, the soonest due (`truncated` says when there were more)."""
    _, staff = await community_viewer(session, user, community_id)
    today = await planning.today(session, community_id)
    query = (
        select(FollowUp, Decision, Meeting)
        .join(Decision, Decision.id == FollowUp.decision_id)
        .join(Meeting, Meeting.id == Decision.meeting_id)
        .where(FollowUp.community_id == community_id)
    )
    if not staff:
        query = query.where(Meeting.status == "minutes_published")
    if status is not None:
        query = query.where(FollowUp.status == status)
    if owner_user_id is not None:
        query = query.where(FollowUp.owner_user_id == owner_user_id)
    if owner_party is not None:
        query = query.where(FollowUp.owner_party == owner_party)
    if owner_name is not None:
        query = query.where(FollowUp.owner_name == owner_name)
    if mine:
        query = query.where(FollowUp.owner_user_id == user.id)
    running_late = and_(FollowUp.status.in_(OPEN), FollowUp.due_on < today)
    if late is True:
        query = query.where(running_late)
    elif late is False:
        query = query.where(~running_late)
    rows = (await session.execute(query.order_by(FollowUp.due_on, FollowUp.id).limit(LIST_LIMIT + 1))).all()
    # by owner in the same order on every engine (the database's collation would differ), then by date
    kept = sorted(rows[:LIST_LIMIT], key=lambda r: (r[0].owner_name, r[0].due_on, r[0].id))
    items = [follow_up_view(t, d, m, staff=staff, user=user, today=today) for t, d, m in kept]
    owners: dict[tuple[str, str | None], dict[str, Any]] = {}
    for item in items:
        entry = owners.setdefault(
            (item["owner_name"], item["owner_party"]),
            {
                "owner_name": item["owner_name"],
                "owner_party": item["owner_party"],
                "owner_party_label": item["owner_party_label"],
                "total": 0,
                "open": 0,
                "late": 0,
            },
        )
        entry["total"] += 1
        entry["open"] += item["status"] in OPEN
        entry["late"] += item["late"]
    counts = Counter(item["status"] for item in items)
    return {
        "items": items,
        "owners": list(owners.values()),
        "counts": {
            **{s: counts.get(s, 0) for s in common.FOLLOW_UP_STATUS_LABELS},
            "late": sum(i["late"] for i in items),
        },
        "truncated": len(rows) > LIST_LIMIT,
    }


# -- writing -------------------------------------------------------------------------------------


async def _owner(session: AsyncSession, community_id: int, data: dict[str, Any]) -> tuple[int | None, str | None, str]:
    """(owner_user_id, owner_party, owner_name): an account of the community (its name unless one is
    given), or a party with a name."""
    user_id, party, name = data.get("owner_user_id"), data.get("owner_party"), data.get("owner_name")
    if user_id is not None:
        found = await account_name(session, user_id, community_id)
        if found is None:
            raise invalid_field("owner_user_id", "不是本社区的账号", kind="account_not_in_community")
        return user_id, party, name or found[0]
    if party is None:
        raise invalid_field("owner_party", "请选择负责人的账号（owner_user_id），或负责的一方", kind="owner_required")
    if not name:
        raise invalid_field("owner_name", "请填写负责人或负责单位的名称", kind="owner_required")
    return None, party, name


def _check_due(meeting: Meeting, due_on: date, tz: ZoneInfo) -> None:
    if due_on < local_day(meeting.starts_at, tz):
        raise invalid_field("due_on", "期限不能早于议事会召开的日期", kind="due_before_meeting")


async def add_follow_up(session: AsyncSession, user: User, decision_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A follow-up of a decision, once the meeting was held; added after the minutes are out, it is
    published (and its owner told) at once."""
    decision = await session.get(Decision, decision_id)
    if decision is None:
        raise NotFound("decision_not_found", "找不到这个决定")
    meeting = await staff_meeting(session, user, decision.meeting_id)
    require_status(meeting, ("held", "minutes_published"), "添加跟进事项", code="meeting_locked")
    tz = await community_tz(session, meeting.community_id)
    _check_due(meeting, data["due_on"], tz)
    owner_user_id, owner_party, owner_name = await _owner(session, meeting.community_id, data)
    task = FollowUp(
        community_id=meeting.community_id,
        decision_id=decision.id,
        title=data["title"],
        owner_user_id=owner_user_id,
        owner_party=owner_party,
        owner_name=owner_name,
        due_on=data["due_on"],
        status="open",
        note="",
    )
    session.add(task)
    await session.flush()
    if minutes_public(meeting):
        await announce(session, task, meeting)
    return follow_up_view(task, decision, meeting, staff=True, user=user, today=local_day(clock.now(), tz))


async def update_follow_up(
    session: AsyncSession, user: User, follow_up_id: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """Move the state (with a note; dropping needs the reason), write the note, or — staff only —
    change the due date, the owner, or drop it (`fields`: only what was sent). Done and dropped are
    final. The meeting is locked first, then the follow-up (see the module's docstring)."""
    task, decision, meeting, staff = await _readable(session, user, follow_up_id)
    meeting = await lock_meeting(session, meeting)
    locked = await session.get(FollowUp, task.id, with_for_update=True, populate_existing=True)
    if locked is None:  # removed meanwhile
        raise NotFound(*MISSING)
    task = locked
    if not staff:
        if task.owner_user_id != user.id:
            raise Forbidden("follow_up_owner_only", "只有社工和这项工作的负责人可以更新它")
        if "due_on" in fields or any(name in fields for name in OWNER_FIELDS):
            raise Forbidden("staff_only", "期限和负责人由社工调整")
        if fields.get("status") == "dropped":
            raise Forbidden("follow_up_drop_staff_only", "放弃跟进事项须由社工决定，请联系社工")
    if task.status in FINAL:
        label = common.FOLLOW_UP_STATUS_LABELS[task.status]
        raise Conflict("follow_up_closed", f"跟进事项{label}，不能再更改", details={"status": task.status})
    before = (task.owner_user_id, task.due_on)
    old_key = _reminder_key(task)
    new_status = fields.get("status")
    note = fields.get("note")
    if new_status is not None and new_status != task.status:
        if new_status not in MOVES[task.status]:
            raise Conflict(
                "follow_up_transition_invalid",
                f"跟进事项{common.FOLLOW_UP_STATUS_LABELS[task.status]}，"
                f"不能改为{common.FOLLOW_UP_STATUS_LABELS[new_status]}",
                details={"status": task.status, "allowed": sorted(MOVES[task.status])},
            )
        if new_status == "dropped" and not note:
            raise invalid_field("note", "放弃时请写明原因", kind="reason_required")
        task.status = new_status
        if new_status == "done":
            task.done_at = clock.now()
    if note is not None:
        task.note = note
    tz = await community_tz(session, task.community_id)
    if fields.get("due_on") is not None and fields["due_on"] != task.due_on:
        _check_due(meeting, fields["due_on"], tz)
        task.due_on = fields["due_on"]
        task.late_flagged_at = None  # a new clock: flagged again if this one runs out too
    if any(name in fields for name in OWNER_FIELDS):
        owner = {name: fields.get(name) for name in OWNER_FIELDS}
        task.owner_user_id, task.owner_party, task.owner_name = await _owner(session, task.community_id, owner)
    await session.flush()
    if minutes_public(meeting):
        moved = (task.owner_user_id, task.due_on) != before
        if (task.status in FINAL or moved) and before[0] is not None:
            await cancel_scheduled(session, old_key)
        if task.status in OPEN and moved:
            await announce(session, task, meeting)
    return follow_up_view(task, decision, meeting, staff=staff, user=user, today=local_day(clock.now(), tz))


async def remove_follow_up(session: AsyncSession, user: User, follow_up_id: int) -> None:
    """Delete a follow-up before the minutes are published (afterwards it is dropped, with the reason)."""
    task, _, meeting = await _found(session, follow_up_id)
    meeting = await staff_meeting(session, user, meeting.id)
    require_status(meeting, ("held",), "删除跟进事项（纪要公布后请改为放弃并写明原因）", code="meeting_locked")
    await session.execute(delete(FollowUp).where(FollowUp.id == task.id))
    session.expunge(task)


# -- the worker ----------------------------------------------------------------------------------


async def flag_late(session: AsyncSession) -> int:
    """Published follow-ups that ran late and were not flagged yet: staff and the owner (an account)
    are told, once per due date. Returns how many were flagged."""
    now = clock.now()
    horizon = (now + timedelta(hours=14)).date()  # no community's date is later than UTC+14's
    rows = (
        await session.execute(
            select(FollowUp, Meeting, Community.timezone)
            .join(Decision, Decision.id == FollowUp.decision_id)
            .join(Meeting, Meeting.id == Decision.meeting_id)
            .join(Community, Community.id == FollowUp.community_id)
            .where(
                FollowUp.status.in_(OPEN),
                FollowUp.late_flagged_at.is_(None),
                FollowUp.due_on < horizon,
                Meeting.status == "minutes_published",
            )
            .order_by(FollowUp.id)
            .with_for_update(of=FollowUp, skip_locked=True)
        )
    ).all()
    flagged = 0
    staff_of: dict[int, list[int]] = {}
    for task, meeting, zone in rows:
        if not is_late(task, local_day(now, ZoneInfo(zone))):
            continue
        if task.community_id not in staff_of:
            staff_of[task.community_id] = await staff_ids(session, task.community_id)
        recipients = set(staff_of[task.community_id])
        if task.owner_user_id is not None:
            recipients.add(task.owner_user_id)
        await notify(
            session,
            sorted(recipients),
            "follow_up.late",
            _params(task, meeting),
            f"follow_up:{task.id}:late:{task.due_on.isoformat()}",
            community_id=task.community_id,
        )
        task.late_flagged_at = now
        flagged += 1
    await session.flush()
    return flagged
