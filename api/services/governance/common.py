"""What concerns and meetings share: the labels, the community's clocks, the concern's timeline,
who follows a concern, and the bridge between a level-3 concern and the next five-party meeting.

The clocks (defaults, per community in `governance_policies`):
- response: accepted or turned down within 2 working days (Monday to Friday) of being raised, at
  the same time of day in the community's zone: raised on Friday 15:00, due on Tuesday 15:00;
  raised on a Saturday or Sunday, the count starts with Monday: due on Wednesday 00:00;
- resolution: from acceptance, level 1 within 7 days (or the responsible party's earlier due
  date), level 2 within 30, level 3 within 60;
Deadlines are kept to the minute (seconds dropped), and a clock runs out when its minute is over:
at its due minute a concern is not late (nor is an answer given then), a minute after it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import AgendaItem, Concern, ConcernEvent, ConcernSupporter, Decision, GovernancePolicy, Meeting, User
from api.services.volunteers.common import working_days_after

CATEGORY_LABELS = {
    "parking": "停车",
    "sanitation": "环境卫生",
    "noise": "噪音",
    "repair": "设施维修",
    "safety": "安全",
    "neighbours": "邻里关系",
    "children_elders": "儿童与养老",
    "other": "其他",
}
STATUS_LABELS = {
    "submitted": "待受理",
    "accepted": "已受理",
    "in_progress": "处理中",
    "resolved": "已解决",
    "unresolvable": "无法解决",
    "referred": "已转办",
    "duplicate": "重复反映",
    "closed": "已关闭",
}
LEVEL_LABELS = {1: "一级：物业或自组织快速处理", 2: "二级：工作小组处理并公布结果", 3: "三级：提交五方议事会"}
VERDICT_LABELS = {"solved": "已解决", "partly": "部分解决", "not_solved": "没有解决"}
MEETING_KIND_LABELS = {"five_party": "五方议事会", "courtyard": "院落议事会", "working_group": "工作小组会"}
MEETING_STATUS_LABELS = {
    "draft": "草稿",
    "agenda_published": "议程已公布",
    "held": "已召开",
    "minutes_published": "纪要已公布",
    "cancelled": "已取消",
}
PARTY_LABELS = {
    "community": "社区",
    "property": "物业",
    "social_worker": "社工",
    "self_org": "居民自组织",
    "resident_rep": "居民代表",
    "owners_committee": "业主委员会",
    "other": "其他",
}
DECISION_METHOD_LABELS = {"consensus": "协商一致", "vote": "表决"}
FOLLOW_UP_STATUS_LABELS = {"open": "待办", "in_progress": "进行中", "done": "已完成", "dropped": "已放弃"}

OPEN_STATUSES = ("submitted", "accepted", "in_progress")  # the concern still waits for an answer or a result
MEETING_UPCOMING = ("draft", "agenda_published")


async def agenda_lock(session: AsyncSession, community_id: int) -> None:
    """Serialise, per community, every change that decides whether a concern is on a meeting's
    agenda or waits for one: triage of a concern, a verdict that reopens it, its moderation, and
    planning, rescheduling, cancelling or closing a meeting. Taken FIRST — before the concern's or
    the meeting's row lock — so that two such changes never wait on each other's rows (a
    transaction-scoped advisory lock on PostgreSQL; SQLite's writers are one at a time anyway)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        raw = hashlib.sha256(f"governance-agenda:{community_id}".encode()).digest()[:8]
        key = int.from_bytes(raw, "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": key})


@dataclass(frozen=True)
class Clocks:
    accept_working_days: int = 2
    level1_days: int = 7
    level2_days: int = 30
    level3_days: int = 60
    reopen_days: int = 14
    follow_up_reminder_days: int = 2

    def level_days(self, level: int) -> int:
        return {1: self.level1_days, 2: self.level2_days, 3: self.level3_days}[level]


async def clocks(session: AsyncSession, community_id: int) -> Clocks:
    """The community's clocks: its policy row, or the defaults."""
    row = await session.get(GovernancePolicy, community_id)
    if row is None:
        return Clocks()
    return Clocks(
        accept_working_days=row.accept_working_days,
        level1_days=row.level1_days,
        level2_days=row.level2_days,
        level3_days=row.level3_days,
        reopen_days=row.reopen_days,
        follow_up_reminder_days=row.follow_up_reminder_days,
    )


MINUTE = timedelta(minutes=1)


def to_the_minute(at: datetime) -> datetime:
    """A deadline as it is kept: the seconds dropped."""
    return at.replace(second=0, microsecond=0)


def working_days_later(at: datetime, days: int, tz: ZoneInfo) -> datetime:
    """`days` working days (Monday to Friday) after `at`, to the minute. From a working day, at the
    same local time of day: raised on Friday 15:00, two working days later is Tuesday 15:00. From a
    Saturday or a Sunday the count starts at 00:00 of the next working day: raised on Sunday 08:00,
    two working days later is Wednesday 00:00 (the end of Tuesday). Public holidays are not known
    here (nor the weekends worked in their place): the deadline errs towards the strict side."""
    local = at.astimezone(tz)
    day = local.date()
    if day.weekday() >= 5:  # the weekend: counted from the start of Monday
        day = working_days_after(day, 1)
        local = datetime.combine(day, time(0), tzinfo=tz)
    due = datetime.combine(working_days_after(day, days), local.timetz().replace(tzinfo=None), tzinfo=tz)
    return to_the_minute(due)


def accept_deadline(raised_at: datetime, policy: Clocks, tz: ZoneInfo) -> datetime:
    return working_days_later(raised_at, policy.accept_working_days, tz)


def resolution_deadline(accepted_at: datetime, level: int, policy: Clocks) -> datetime:
    return to_the_minute(accepted_at + timedelta(days=policy.level_days(level)))


def late(concern: Concern, now: datetime | None = None) -> str | None:
    """Which clock of the concern has run out now (its deadline's minute is over): "response" (not
    yet accepted or turned down), "resolution" (accepted, not yet resolved), or None."""
    now = now or clock.now()
    if concern.status == "submitted" and now >= concern.accept_by + MINUTE:
        return "response"
    if concern.status in ("accepted", "in_progress") and concern.due_at is not None and now >= concern.due_at + MINUTE:
        return "resolution"
    return None


def add_event(
    session: AsyncSession,
    concern: Concern,
    kind: str,
    actor: User | int | None,
    *,
    public: bool = True,
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ConcernEvent:
    """One entry of the concern's timeline (added to the session; flushed with the change)."""
    event = ConcernEvent(
        concern_id=concern.id,
        at=at or clock.now(),
        actor_id=actor.id if isinstance(actor, User) else actor,
        kind=kind,
        public=public,
        body=body,
        data=data or {},
    )
    session.add(event)
    return event


async def followers(session: AsyncSession, concern: Concern) -> list[int]:
    """Who hears of the concern: the one who raised it (not staff who recorded it for a resident:
    they follow it at work, and cannot answer "解决了吗？") and everyone who said "me too"."""
    ids = set(
        (
            await session.execute(select(ConcernSupporter.user_id).where(ConcernSupporter.concern_id == concern.id))
        ).scalars()
    )
    if concern.raised_by is not None and not concern.by_staff:
        ids.add(concern.raised_by)
    return sorted(ids)


async def next_five_party_meeting(
    session: AsyncSession, community_id: int, other_than: int | None = None
) -> Meeting | None:
    """The community's next five-party meeting that has not been held yet (its agenda may still
    grow), soonest first; `other_than`: leaving out that meeting (the one a concern leaves)."""
    query = select(Meeting).where(
        Meeting.community_id == community_id,
        Meeting.kind == "five_party",
        Meeting.status.in_(MEETING_UPCOMING),
        Meeting.starts_at > clock.now(),
    )
    if other_than is not None:
        query = query.where(Meeting.id != other_than)
    return (await session.execute(query.order_by(Meeting.starts_at, Meeting.id).limit(1))).scalar_one_or_none()


async def place_on_agenda(
    session: AsyncSession, concern: Concern, meeting: Meeting, actor: User | int | None
) -> AgendaItem:
    """Put the concern on the meeting's agenda (once: a second call returns the item there), and
    say so on its timeline."""
    item = (
        await session.execute(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.concern_id == concern.id)
        )
    ).scalar_one_or_none()
    if item is not None:
        return item
    last = (
        await session.execute(
            select(AgendaItem.position)
            .where(AgendaItem.meeting_id == meeting.id)
            .order_by(AgendaItem.position.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    item = AgendaItem(
        meeting_id=meeting.id,
        position=0 if last is None else last + 1,
        title=concern.title,
        body=concern.body[:500],
        concern_id=concern.id,
    )
    session.add(item)
    await session.flush()
    add_event(
        session,
        concern,
        "agenda",
        actor,
        body=f"已列入{_meeting_named(meeting)}的议程",
        data={"meeting_id": meeting.id, "agenda_item_id": item.id},
    )
    return item


def _meeting_named(meeting: Meeting) -> str:
    """The meeting as a concern's (public) timeline names it: by its title once its agenda is
    published; before that residents do not see it, and it is "the next" meeting of its kind."""
    if meeting.agenda_published_at is None:
        return f"下一次{MEETING_KIND_LABELS[meeting.kind]}"
    return f"{MEETING_KIND_LABELS[meeting.kind]}「{meeting.title}」"


def waiting_for_agenda(community_id: int) -> Any:
    """The level-3 concerns still open and shown to the community that no meeting has taken up:
    not on the agenda of a meeting to come (or held, its minutes not yet out), and not decided on
    at a meeting since they were last reopened (an item a meeting left undecided is carried to the
    next one; a concern reopened after a decision goes to a meeting again)."""
    taken_up = exists().where(
        AgendaItem.concern_id == Concern.id,
        AgendaItem.meeting_id == Meeting.id,
        Meeting.status.in_((*MEETING_UPCOMING, "held")),  # held: its minutes are still being written
    )
    decided = exists().where(
        and_(
            AgendaItem.concern_id == Concern.id,
            Decision.agenda_item_id == AgendaItem.id,
            or_(Concern.reopened_at.is_(None), Decision.created_at > Concern.reopened_at),
        )
    )
    return (
        select(Concern)
        .where(
            Concern.community_id == community_id,
            Concern.level == 3,
            Concern.status.in_(("accepted", "in_progress")),
            Concern.visibility == "visible",
            ~taken_up,
            ~decided,
        )
        .order_by(Concern.id)
    )


async def take_up_waiting(session: AsyncSession, meeting: Meeting, actor: User | int | None) -> list[AgendaItem]:
    """A five-party meeting being planned takes up every level-3 concern waiting for one."""
    if meeting.kind != "five_party" or meeting.status not in MEETING_UPCOMING:
        return []
    concerns = list((await session.execute(waiting_for_agenda(meeting.community_id))).scalars())
    return [await place_on_agenda(session, concern, meeting, actor) for concern in concerns]


async def take_off_agendas(session: AsyncSession, concern: Concern, actor: User | int | None, why: str) -> int:
    """Take the concern off the agendas of the meetings still to come (a level-3 concern moved to
    another level, resolved, turned down, or no longer shown to the community), saying so on its
    timeline; items of meetings held stay as they were."""
    items = list(
        (
            await session.execute(
                select(AgendaItem, Meeting)
                .join(Meeting, Meeting.id == AgendaItem.meeting_id)
                .where(AgendaItem.concern_id == concern.id, Meeting.status.in_(MEETING_UPCOMING))
                .order_by(AgendaItem.id)
            )
        ).all()
    )
    for item, meeting in items:
        await session.delete(item)
        add_event(
            session,
            concern,
            "agenda",
            actor,
            body=f"{why}，已从{_meeting_named(meeting)}的议程中撤下",
            data={"meeting_id": meeting.id, "removed": True},
        )
    await session.flush()
    return len(items)
