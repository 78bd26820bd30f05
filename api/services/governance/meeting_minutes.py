"""What a meeting decided, and the publishing of its minutes (四议两公开: the decision and its
follow-up made public).

Decisions are recorded once the meeting was held, until the minutes are published: the text, on
which agenda item (or none), and how it was reached — by consensus, or by a vote with the counts
for, against and abstaining. Publishing the minutes (held → minutes_published), in one
transaction:

- the summary, each item's minutes, the decisions and their follow-ups become public to the
  community;
- for each decision on an item that came from a concern, the concern's timeline gets a public
  `decision` event (the text, how it was reached, the follow-ups with their owners and due dates);
  an `accepted` concern moves to `in_progress`; the concern's followers are told;
- a concern the meeting left undecided goes onto the next five-party meeting planned, or waits for
  one (its timeline says so);
- owners of follow-ups with an account hear of them and their due dates, and get a reminder before.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import AgendaItem, Concern, Decision, FollowUp, Meeting, User
from api.errors import NotFound, invalid_field
from api.services.activities import planning
from api.services.governance import common, follow_ups
from api.services.governance.meetings import (
    agenda_of,
    community_meeting,
    hidden_items,
    meeting_view,
    requeue_concern,
    require_status,
    staff_meeting,
)
from api.services.notifications import notify

VOTES = ("votes_for", "votes_against", "votes_abstain")
DECISION_EXCERPT = 200


def _check_votes(method: str, counts: dict[str, int | None]) -> None:
    """A vote has all three counts; consensus has none."""
    for name in VOTES:
        if method == "vote" and counts.get(name) is None:
            raise invalid_field(name, "表决时请填写赞成、反对、弃权的票数", kind="votes_required")
        if method == "consensus" and counts.get(name) is not None:
            raise invalid_field(name, "协商一致的决定不填票数", kind="votes_not_allowed")


def how_reached(decision: Decision) -> str:
    """协商一致, or 表决：赞成 7 票，反对 1 票，弃权 2 票."""
    if decision.method == "consensus":
        return common.DECISION_METHOD_LABELS["consensus"]
    return f"表决：赞成 {decision.votes_for} 票，反对 {decision.votes_against} 票，弃权 {decision.votes_abstain} 票"


async def decision_views(session: AsyncSession, user: User, meeting: Meeting, staff: bool) -> list[dict[str, Any]]:
    """The meeting's decisions in the agenda's order (those on no item last), each with its
    follow-ups. To residents, a decision on an item they may not see (its concern is not shown)
    names no item."""
    found = await session.execute(
        select(Decision, AgendaItem)
        .outerjoin(AgendaItem, AgendaItem.id == Decision.agenda_item_id)
        .where(Decision.meeting_id == meeting.id)
        .execution_options(populate_existing=True)
    )
    rows = sorted(found.all(), key=lambda r: (r[1] is None, r[1].position if r[1] else 0, r[0].id))
    hidden = set() if staff else await hidden_items(session, [item for _, item in rows if item is not None])
    today = await planning.today(session, meeting.community_id)
    tasks = await follow_ups.of_decisions(session, [r[0].id for r in rows])
    views = []
    for decision, item in rows:
        shown = item is not None and item.id not in hidden
        view = decision_view(
            decision,
            item.title if shown else None,
            meeting,
            tasks.get(decision.id, []),
            staff=staff,
            user=user,
            today=today,
        )
        if item is not None and not shown:
            view["agenda_item_id"] = None
        views.append(view)
    return views


def decision_view(
    decision: Decision,
    item_title: str | None,
    meeting: Meeting,
    tasks: list[FollowUp],
    *,
    staff: bool,
    user: User,
    today: Any,
) -> dict[str, Any]:
    return {
        "id": decision.id,
        "meeting_id": decision.meeting_id,
        "agenda_item_id": decision.agenda_item_id,
        "agenda_item_title": item_title,
        "text": decision.text,
        "method": decision.method,
        "method_label": common.DECISION_METHOD_LABELS[decision.method],
        "how": how_reached(decision),
        "votes_for": decision.votes_for,
        "votes_against": decision.votes_against,
        "votes_abstain": decision.votes_abstain,
        "follow_ups": [
            follow_ups.follow_up_view(t, decision, meeting, staff=staff, user=user, today=today) for t in tasks
        ],
    }


async def _decision(session: AsyncSession, decision_id: int) -> Decision:
    decision = await session.get(Decision, decision_id, populate_existing=True)
    if decision is None:
        raise NotFound("decision_not_found", "找不到这个决定")
    return decision


async def community_decision(
    session: AsyncSession, user: User, community_id: int, meeting_id: int, decision_id: int
) -> Decision:
    """A decision of this meeting of this community, for its staff (`meetings.community_meeting`);
    any other is 404, as one that does not exist."""
    await community_meeting(session, user, community_id, meeting_id)
    decision = await session.get(Decision, decision_id)
    if decision is None or decision.meeting_id != meeting_id:
        raise NotFound("decision_not_found", "找不到这个决定")
    return decision


async def _item_of(session: AsyncSession, meeting: Meeting, item_id: int | None) -> AgendaItem | None:
    if item_id is None:
        return None
    item = await session.get(AgendaItem, item_id)
    if item is None or item.meeting_id != meeting.id:
        raise invalid_field("agenda_item_id", "不是本次议事会议程上的议题", kind="agenda_item_not_found")
    return item


async def _answer(session: AsyncSession, user: User, meeting: Meeting, decision: Decision) -> dict[str, Any]:
    item = await session.get(AgendaItem, decision.agenda_item_id) if decision.agenda_item_id else None
    today = await planning.today(session, meeting.community_id)
    tasks = (await follow_ups.of_decisions(session, [decision.id])).get(decision.id, [])
    return decision_view(decision, item.title if item else None, meeting, tasks, staff=True, user=user, today=today)


async def add_decision(session: AsyncSession, user: User, meeting_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A decision of a meeting that was held, before its minutes are published."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, ("held",), "记录决定（召开后、公布纪要前才能记录）", code="meeting_locked")
    item = await _item_of(session, meeting, data.get("agenda_item_id"))
    counts = {name: data.get(name) for name in VOTES}
    _check_votes(data["method"], counts)
    decision = Decision(
        meeting_id=meeting.id,
        agenda_item_id=item.id if item else None,
        text=data["text"],
        method=data["method"],
        created_by=user.id,
        **counts,
    )
    session.add(decision)
    await session.flush()
    return await _answer(session, user, meeting, decision)


async def _staff_decision(session: AsyncSession, user: User, decision_id: int) -> tuple[Decision, Meeting]:
    decision = await _decision(session, decision_id)
    meeting = await staff_meeting(session, user, decision.meeting_id)
    return decision, meeting


async def update_decision(
    session: AsyncSession, user: User, decision_id: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """Change a decision until the minutes are published (`fields` holds only what was sent; an
    agenda_item_id of None takes it off its item). Switching to a vote needs the counts; switching to
    consensus drops them."""
    decision, meeting = await _staff_decision(session, user, decision_id)
    require_status(meeting, ("held",), "修改决定", code="meeting_locked")
    if "agenda_item_id" in fields:
        item = await _item_of(session, meeting, fields["agenda_item_id"])
        decision.agenda_item_id = item.id if item else None
    if fields.get("text") is not None:
        decision.text = fields["text"]
    method = fields.get("method") or decision.method
    counts: dict[str, int | None] = {}
    for name in VOTES:
        if name in fields:
            counts[name] = fields[name]
        elif method == "vote" and decision.method == "vote":
            counts[name] = getattr(decision, name)
        else:
            counts[name] = None
    _check_votes(method, counts)
    decision.method = method
    for name, value in counts.items():
        setattr(decision, name, value)
    await session.flush()
    return await _answer(session, user, meeting, decision)


async def remove_decision(session: AsyncSession, user: User, decision_id: int) -> None:
    """Delete a decision (and its follow-ups) until the minutes are published."""
    decision, meeting = await _staff_decision(session, user, decision_id)
    require_status(meeting, ("held",), "删除决定", code="meeting_locked")
    await session.execute(delete(FollowUp).where(FollowUp.decision_id == decision.id))
    await session.execute(delete(Decision).where(Decision.id == decision.id))
    session.expunge(decision)


# -- publishing the minutes ----------------------------------------------------------------------


def decision_event_text(meeting: Meeting, decision: Decision, tasks: list[FollowUp]) -> str:
    kind = common.MEETING_KIND_LABELS[meeting.kind]
    text = f"{kind}「{meeting.title}」决定：{decision.text}（{how_reached(decision)}）"
    if tasks:
        text += "。跟进事项：" + "；".join(
            f"{t.title}，由{t.owner_name}负责，{follow_ups.day_text(t.due_on)}前完成" for t in tasks
        )
    return text


async def _publish_decided(
    session: AsyncSession,
    user: User,
    meeting: Meeting,
    concern_id: int,
    decisions: list[Decision],
    tasks: dict[int, list[FollowUp]],
) -> None:
    """The concern hears what the meeting decided about it: its timeline, its status, its followers."""
    concern = await session.get(Concern, concern_id, with_for_update=True, populate_existing=True)
    if concern is None:
        return
    for decision in decisions:
        common.add_event(
            session,
            concern,
            "decision",
            user,
            body=decision_event_text(meeting, decision, tasks.get(decision.id, [])),
            data={
                "meeting_id": meeting.id,
                "decision_id": decision.id,
                "method": decision.method,
                "votes": {name: getattr(decision, name) for name in VOTES},
                "follow_ups": [
                    {"id": t.id, "title": t.title, "owner_name": t.owner_name, "due_on": t.due_on.isoformat()}
                    for t in tasks.get(decision.id, [])
                ],
            },
        )
    if concern.status == "accepted":
        concern.status = "in_progress"
        common.add_event(
            session,
            concern,
            "in_progress",
            user,
            body=f"议事会「{meeting.title}」已作出决定，进入处理",
            data={"status": ["accepted", "in_progress"], "meeting_id": meeting.id},
        )
    await session.flush()
    decided = "；".join(d.text for d in decisions)
    if len(decided) > DECISION_EXCERPT:
        decided = decided[: DECISION_EXCERPT - 1] + "…"
    await notify(
        session,
        await common.followers(session, concern),
        "meeting.decision",
        {
            "concern_id": concern.id,
            "concern_title": concern.title,
            "meeting_id": meeting.id,
            "meeting_title": meeting.title,
            "decision": decided,
        },
        f"concern:{concern.id}:meeting:{meeting.id}:decision",
        community_id=meeting.community_id,
    )


async def publish_minutes(session: AsyncSession, user: User, meeting_id: int) -> dict[str, Any]:
    """held → minutes_published, with everything it sets off (see the module's docstring), in the
    caller's transaction: all of it is written, or none."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, ("held",), "公布纪要")
    meeting.status = "minutes_published"
    meeting.minutes_published_at = clock.now()
    await session.flush()
    decisions = list(
        (
            await session.execute(select(Decision).where(Decision.meeting_id == meeting.id).order_by(Decision.id))
        ).scalars()
    )
    tasks = await follow_ups.of_decisions(session, [d.id for d in decisions])
    by_item: dict[int, list[Decision]] = defaultdict(list)
    for decision in decisions:
        if decision.agenda_item_id is not None:
            by_item[decision.agenda_item_id].append(decision)
    for item in await agenda_of(session, meeting.id):
        if item.concern_id is None:
            continue
        if by_item.get(item.id):
            await _publish_decided(session, user, meeting, item.concern_id, by_item[item.id], tasks)
        else:
            await requeue_concern(session, item.concern_id, meeting, user, f"议事会「{meeting.title}」未对此作出决定")
    for decision in decisions:
        for task in tasks.get(decision.id, []):
            await follow_ups.announce(session, task, meeting)
    await session.flush()
    return await meeting_view(session, user, meeting, True)
