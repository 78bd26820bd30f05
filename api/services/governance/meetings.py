"""Meetings (议事会): a five-party meeting, a courtyard meeting or a working group, planned and run by
the community's staff.

    draft → agenda_published → held → minutes_published      (cancelled from draft or agenda_published)

Who sees what: staff of the community see everything, drafts included. Residents of the community
see a meeting once its agenda is published (its time, place, agenda and participants, and a
cancellation with its reason), and its minutes, decisions and follow-ups once the minutes are
published; a draft does not exist for them (404). An agenda item from a concern is shown to
residents only while that concern is (visible: not refused by the text check, nor waiting for
review, nor taken down); staff see every item, those hidden from residents marked. To anyone
else — another community's staff or residents — no meeting exists at all (404). Residents asking
for staff actions on a meeting they can see are refused (403).

The functions here are what the API and the console call: each takes the session and the acting
user, checks the caller, and answers with plain dicts (the same the API's schemas are built from).
Participants and agenda are in `meeting_agenda`, attendance in `meeting_attendance`, decisions and
the publishing of the minutes in `meeting_minutes`, follow-ups in `follow_ups`.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import (
    AgendaItem,
    Community,
    Concern,
    Decision,
    Meeting,
    MeetingParticipant,
    User,
)
from api.errors import Conflict, Forbidden, NotFound, invalid_field
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import RANK, get_community, reader_role, role_in
from api.services.activities.common import community_tz
from api.services.governance import common
from api.services.notifications import notify

LONGEST = timedelta(days=1)  # a meeting's length: anything longer is a typing slip
UPCOMING = common.MEETING_UPCOMING
STAFF_ONLY = "只有社区工作人员可以管理议事会"
MISSING = ("meeting_not_found", "找不到这个议事会")
PAGE_LIMIT = 100


# -- who may see and do what ---------------------------------------------------------------------


async def viewer(session: AsyncSession, user: User, community_id: int, missing: tuple[str, str]) -> bool:
    """Whether the caller is staff of the community (else a resident of it). Someone with no role
    there is told `missing` (404: nothing of another community leaks, not even that it exists); a
    resident whose household has not confirmed them yet is refused (403)."""
    role = await role_in(session, user, community_id)
    if role is None:
        raise NotFound(*missing)
    if RANK[role] >= RANK["staff"]:
        return True
    if await reader_role(session, user, community_id) is None:
        raise Forbidden("membership_pending", "入户申请确认后才能看到社区的议事会")
    return False


async def community_viewer(session: AsyncSession, user: User, community_id: int) -> tuple[Community, bool]:
    """The community (its zone for the answer) and whether the caller is its staff."""
    community = await get_community(session, community_id)
    return community, await viewer(session, user, community_id, ("community_not_found", "社区不存在"))


async def community_staff(session: AsyncSession, user: User, community_id: int) -> Community:
    community, staff = await community_viewer(session, user, community_id)
    if not staff:
        raise Forbidden("staff_only", STAFF_ONLY)
    return community


def is_public(meeting: Meeting) -> bool:
    """Residents see a meeting once its agenda was published (a cancelled one too, if it was)."""
    return meeting.agenda_published_at is not None


def minutes_public(meeting: Meeting) -> bool:
    return meeting.status == "minutes_published"


async def readable_meeting(session: AsyncSession, user: User, meeting_id: int) -> tuple[Meeting, bool]:
    """The meeting if the caller may see it, and whether they are staff of its community."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(*MISSING)
    staff = await viewer(session, user, meeting.community_id, MISSING)
    if not staff and not is_public(meeting):
        raise NotFound(*MISSING)
    await get_community(session, meeting.community_id)  # the answer in the community's zone
    return meeting, staff


async def lock_meeting(session: AsyncSession, meeting: Meeting) -> Meeting:
    """The meeting locked for a change, by the lock rule of governance: the community's agenda lock
    first (`common.agenda_lock`), then the meeting's row, read again. Every change of a meeting, its
    agenda, decisions and follow-ups takes it so — the agenda lock, then the meeting, then the
    follow-up's or concern's rows — so that a meeting's change (which may put concerns on agendas or
    take them off) and a concern's triage (the agenda lock, then the concern) never interleave, nor
    wait on each other's rows."""
    await common.agenda_lock(session, meeting.community_id)  # a meeting's community never changes
    locked = await session.get(Meeting, meeting.id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise NotFound(*MISSING)
    return locked


async def staff_meeting(session: AsyncSession, user: User, meeting_id: int, *, lock: bool = True) -> Meeting:
    """The meeting (locked by `lock_meeting`, unless only read) for a staff action: residents who
    can see it are refused (403)."""
    found, staff = await readable_meeting(session, user, meeting_id)
    if not staff:
        raise Forbidden("staff_only", STAFF_ONLY)
    if not lock:
        return found
    return await lock_meeting(session, found)


async def community_meeting(session: AsyncSession, user: User, community_id: int, meeting_id: int) -> Meeting:
    """The meeting, for staff of `community_id` (404 for strangers, 403 for residents), and only if
    it is one of that community's: another community's meeting is 404 here, as one that does not
    exist (a console page's address names its community)."""
    await community_staff(session, user, community_id)
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or meeting.community_id != community_id:
        raise NotFound(*MISSING)
    return meeting


def require_status(
    meeting: Meeting, allowed: tuple[str, ...], doing: str, code: str = "meeting_transition_invalid"
) -> None:
    """Refuse (409) what the meeting's state does not allow, naming the state in Chinese."""
    if meeting.status not in allowed:
        label = common.MEETING_STATUS_LABELS[meeting.status]
        raise Conflict(
            code,
            f"议事会当前状态为「{label}」，不能{doing}",
            details={"status": meeting.status, "allowed": list(allowed)},
        )


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def meeting_ref(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "kind": meeting.kind,
        "kind_label": common.MEETING_KIND_LABELS[meeting.kind],
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "status": meeting.status,
    }


# -- views ---------------------------------------------------------------------------------------


def participant_view(p: MeetingParticipant, staff: bool) -> dict[str, Any]:
    return {
        "id": p.id,
        "party": p.party,
        "party_label": common.PARTY_LABELS[p.party],
        "name": p.name,
        "role": p.role,
        "user_id": p.user_id if staff else None,
        "has_account": p.user_id is not None,
        "checked_in_at": p.checked_in_at,
        "checkin_method": p.checkin_method,
    }


def agenda_view(item: AgendaItem, minutes_visible: bool, hidden: bool = False) -> dict[str, Any]:
    return {
        "id": item.id,
        "meeting_id": item.meeting_id,
        "position": item.position,
        "title": item.title,
        "body": item.body,
        "concern_id": item.concern_id,
        "minutes": item.minutes if minutes_visible else None,
        "hidden_from_residents": hidden,
    }


SHOWN = "visible"  # a concern residents see


def shown_item() -> Any:
    """SQL: an agenda item residents may see — written by staff, or from a concern they see."""
    return or_(
        AgendaItem.concern_id.is_(None),
        AgendaItem.concern_id.in_(select(Concern.id).where(Concern.visibility == SHOWN)),
    )


async def hidden_items(session: AsyncSession, items: list[AgendaItem]) -> set[int]:
    """The ids of those items that come from a concern residents do not see now."""
    concern_ids = {i.concern_id for i in items if i.concern_id is not None}
    if not concern_ids:
        return set()
    unseen = set(
        (
            await session.execute(select(Concern.id).where(Concern.id.in_(concern_ids), Concern.visibility != SHOWN))
        ).scalars()
    )
    return {i.id for i in items if i.concern_id in unseen}


async def agenda_views(
    session: AsyncSession, items: list[AgendaItem], *, staff: bool, minutes_visible: bool
) -> list[dict[str, Any]]:
    """The items as the caller sees them: staff all (those hidden from residents marked), residents
    only those they may see."""
    hidden = await hidden_items(session, items)
    return [agenda_view(i, minutes_visible, i.id in hidden) for i in items if staff or i.id not in hidden]


def attendance_view(meeting: Meeting, participants: list[MeetingParticipant]) -> dict[str, Any]:
    """Attendance by party (in the order of common.PARTY_LABELS), and the people without the app."""
    parties = []
    for party, label in common.PARTY_LABELS.items():
        of_party = [p for p in participants if p.party == party]
        if of_party:
            parties.append(
                {
                    "party": party,
                    "label": label,
                    "expected": len(of_party),
                    "present": sum(1 for p in of_party if p.checked_in_at is not None),
                }
            )
    present = sum(1 for p in participants if p.checked_in_at is not None)
    return {
        "parties": parties,
        "expected": len(participants),
        "present": present,
        "walkins": meeting.walkin_count,
        "total": present + meeting.walkin_count,
    }


async def participants_of(session: AsyncSession, meeting_id: int) -> list[MeetingParticipant]:
    return list(
        (
            await session.execute(
                select(MeetingParticipant)
                .where(MeetingParticipant.meeting_id == meeting_id)
                .order_by(MeetingParticipant.id)
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )


async def agenda_of(session: AsyncSession, meeting_id: int) -> list[AgendaItem]:
    return list(
        (
            await session.execute(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == meeting_id)
                .order_by(AgendaItem.position, AgendaItem.id)
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )


async def meeting_view(session: AsyncSession, user: User, meeting: Meeting, staff: bool) -> dict[str, Any]:
    """A meeting's page: its agenda, participants and attendance; its summary, per-item minutes,
    decisions and follow-ups for staff, and for residents once the minutes are published."""
    from api.services.governance import meeting_minutes

    minutes_visible = staff or minutes_public(meeting)
    participants = await participants_of(session, meeting.id)
    agenda = await agenda_of(session, meeting.id)
    decisions = await meeting_minutes.decision_views(session, user, meeting, staff) if minutes_visible else []
    mine = next((p for p in participants if p.user_id == user.id), None)
    view = {
        "id": meeting.id,
        "community_id": meeting.community_id,
        "kind": meeting.kind,
        "kind_label": common.MEETING_KIND_LABELS[meeting.kind],
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "place": meeting.place,
        "status": meeting.status,
        "status_label": common.MEETING_STATUS_LABELS[meeting.status],
        "agenda_published_at": meeting.agenda_published_at,
        "held_at": meeting.held_at,
        "minutes_published_at": meeting.minutes_published_at,
        "cancelled_at": meeting.cancelled_at,
        "cancel_reason": meeting.cancel_reason or None,
        "summary": meeting.summary if minutes_visible else None,
        "minutes_public": minutes_public(meeting),
        "agenda": await agenda_views(session, agenda, staff=staff, minutes_visible=minutes_visible),
        "participants": [participant_view(p, staff) for p in participants],
        "attendance": attendance_view(meeting, participants),
        "decisions": decisions,
        "me": None if mine is None else {"participant_id": mine.id, "checked_in_at": mine.checked_in_at},
        "checkin_window": checkin_window(meeting),
    }
    return view


def checkin_window(meeting: Meeting) -> dict[str, datetime]:
    """Participants check themselves in from an hour before the start to the end."""
    return {"opens_at": meeting.starts_at - CHECKIN_EARLY, "closes_at": meeting.ends_at}


CHECKIN_EARLY = timedelta(hours=1)


async def meeting_detail(session: AsyncSession, user: User, meeting_id: int) -> dict[str, Any]:
    """`GET /meetings/{id}`: the meeting's page as the caller may see it."""
    meeting, staff = await readable_meeting(session, user, meeting_id)
    return await meeting_view(session, user, meeting, staff)


async def list_meetings(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    when: str = "upcoming",
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """The community's meetings: `upcoming` (not yet held: drafts for staff, published agendas),
    soonest first; or `past` (held, minutes published, cancelled), latest first. Residents see
    only meetings whose agenda was published. Each with its counts, for a list page."""
    _, staff = await community_viewer(session, user, community_id)
    limit = min(max(limit, 1), PAGE_LIMIT)
    query = select(Meeting).where(Meeting.community_id == community_id)
    upcoming = when == "upcoming"
    query = query.where(Meeting.status.in_(UPCOMING) if upcoming else Meeting.status.not_in(UPCOMING))
    if not staff:
        query = query.where(Meeting.agenda_published_at.is_not(None))
    if kind is not None:
        query = query.where(Meeting.kind == kind)
    if cursor:
        query = query.where(after_time_and_id(cursor, Meeting.starts_at, Meeting.id, ascending=upcoming))
    order = (Meeting.starts_at, Meeting.id) if upcoming else (Meeting.starts_at.desc(), Meeting.id.desc())
    meetings = list((await session.execute(query.order_by(*order).limit(limit + 1))).scalars())
    more = len(meetings) > limit
    meetings = meetings[:limit]
    ids = [m.id for m in meetings]
    counted = select(AgendaItem.meeting_id, func.count()).where(AgendaItem.meeting_id.in_(ids))
    if not staff:
        counted = counted.where(shown_item())
    agenda_counts = dict((await session.execute(counted.group_by(AgendaItem.meeting_id))).all())
    people = (
        await session.execute(
            select(
                MeetingParticipant.meeting_id,
                func.count(),
                func.count(MeetingParticipant.checked_in_at),
            )
            .where(MeetingParticipant.meeting_id.in_(ids))
            .group_by(MeetingParticipant.meeting_id)
        )
    ).all()
    by_meeting = {m: (n, present) for m, n, present in people}
    decision_counts = dict(
        (
            await session.execute(
                select(Decision.meeting_id, func.count())
                .where(Decision.meeting_id.in_(ids))
                .group_by(Decision.meeting_id)
            )
        ).all()
    )
    items = []
    for m in meetings:
        expected, present = by_meeting.get(m.id, (0, 0))
        items.append(
            {
                **meeting_ref(m),
                "ends_at": m.ends_at,
                "place": m.place,
                "status_label": common.MEETING_STATUS_LABELS[m.status],
                "agenda_count": agenda_counts.get(m.id, 0),
                "participant_count": expected,
                "present": present + m.walkin_count,
                "decision_count": decision_counts.get(m.id, 0) if staff or minutes_public(m) else None,
                "cancel_reason": m.cancel_reason or None,
            }
        )
    next_cursor = encode_cursor(localtime.iso(meetings[-1].starts_at), meetings[-1].id) if more else None
    return {"items": items, "next_cursor": next_cursor}


# -- planning ------------------------------------------------------------------------------------


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise invalid_field("ends_at", "结束时间应晚于开始时间", kind="ends_before_start")
    if ends_at - starts_at > LONGEST:
        raise invalid_field("ends_at", "议事会最长一天，请检查结束时间", kind="meeting_too_long")


async def create_meeting(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A draft meeting. A five-party meeting still to come takes up at once every level-3 concern
    waiting for one (`common.take_up_waiting`); one recorded after the fact (its start has passed)
    takes up none, since they were not discussed there. A five-party meeting is planned under the
    community's agenda lock: two planned at once, or one planned while a concern is accepted at
    level 3, take each waiting concern once."""
    await community_staff(session, user, community_id)
    _check_times(data["starts_at"], data["ends_at"])
    if data["kind"] == "five_party":
        await common.agenda_lock(session, community_id)
    meeting = Meeting(
        community_id=community_id,
        kind=data["kind"],
        title=data["title"],
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        place=data["place"],
        summary=data.get("summary") or "",
        status="draft",
        walkin_count=0,
        cancel_reason="",
        created_by=user.id,
    )
    session.add(meeting)
    await session.flush()
    if meeting.starts_at > clock.now():
        await common.take_up_waiting(session, meeting, user)
    return await meeting_view(session, user, meeting, True)


PLANNED_FIELDS = ("title", "starts_at", "ends_at", "place")


async def update_meeting(session: AsyncSession, user: User, meeting_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Staff change the title, time or place while the meeting is still to be held (moving the start
    moves the end with it unless a new end is given), and the summary until the minutes are
    published. Participants with an account who were told of the meeting hear of a new time or
    place. A five-party meeting moved to a start still to come takes up the level-3 concerns
    waiting for one (say, one whose start had passed without it being held)."""
    meeting = await staff_meeting(session, user, meeting_id)
    planned = {k: v for k, v in fields.items() if k in PLANNED_FIELDS and v is not None}
    if planned:
        require_status(meeting, UPCOMING, "修改时间、地点和名称", code="meeting_locked")
    if fields.get("summary") is not None:
        require_status(meeting, (*UPCOMING, "held"), "修改纪要", code="meeting_locked")
        meeting.summary = fields["summary"]
    before = (meeting.starts_at, meeting.ends_at, meeting.place)
    if "starts_at" in planned and "ends_at" not in planned:
        planned["ends_at"] = meeting.ends_at + (planned["starts_at"] - meeting.starts_at)
    _check_times(planned.get("starts_at", meeting.starts_at), planned.get("ends_at", meeting.ends_at))
    for name, value in planned.items():
        setattr(meeting, name, value)
    await session.flush()
    if meeting.starts_at != before[0] and meeting.starts_at > clock.now():
        await common.take_up_waiting(session, meeting, user)
    if meeting.status == "agenda_published" and (meeting.starts_at, meeting.ends_at, meeting.place) != before:
        await _tell_participants(
            session,
            meeting,
            "meeting.changed",
            f"meeting:{meeting.id}:changed:{int(meeting.starts_at.timestamp())}:{int(meeting.ends_at.timestamp())}:"
            + hashlib.sha256(meeting.place.encode()).hexdigest()[:16],
        )
    return await meeting_view(session, user, meeting, True)


async def participant_accounts(session: AsyncSession, meeting_id: int) -> list[int]:
    """The accounts on the meeting's list (whom its notifications go to)."""
    found = await session.execute(
        select(MeetingParticipant.user_id).where(
            MeetingParticipant.meeting_id == meeting_id, MeetingParticipant.user_id.is_not(None)
        )
    )
    return sorted({user_id for user_id in found.scalars() if user_id is not None})


def meeting_params(meeting: Meeting) -> dict[str, Any]:
    return {
        "meeting_id": meeting.id,
        "meeting_title": meeting.title,
        "kind_label": common.MEETING_KIND_LABELS[meeting.kind],
        "starts_at": meeting.starts_at,
        "place": meeting.place,
    }


async def agenda_text(session: AsyncSession, meeting_id: int) -> str:
    """The agenda in a notification to participants: the items residents may see."""
    items = await agenda_of(session, meeting_id)
    hidden = await hidden_items(session, items)
    titles = [i.title for i in items if i.id not in hidden]
    text = "；".join(f"{n}. {t}" for n, t in enumerate(titles, start=1))
    return text if len(text) <= 300 else text[:299] + "…"


async def _tell_participants(
    session: AsyncSession, meeting: Meeting, kind: str, cause: str, recipients: list[int] | None = None, **extra: Any
) -> int:
    people = recipients if recipients is not None else await participant_accounts(session, meeting.id)
    if not people:
        return 0
    params = {**meeting_params(meeting), **extra}
    if kind == "meeting.agenda":
        params["agenda"] = await agenda_text(session, meeting.id)
    return await notify(session, people, kind, params, cause, community_id=meeting.community_id)


async def tell_of_agenda(session: AsyncSession, meeting: Meeting, recipients: list[int] | None = None) -> int:
    """Participants with an account hear of the meeting and its agenda (each once)."""
    return await _tell_participants(session, meeting, "meeting.agenda", f"meeting:{meeting.id}:agenda", recipients)


# -- the meeting's states ------------------------------------------------------------------------


async def publish_agenda(session: AsyncSession, user: User, meeting_id: int) -> dict[str, Any]:
    """draft → agenda_published: residents of the community now see the meeting, and participants
    with an account hear of it and its agenda. An empty agenda cannot be published."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, ("draft",), "公布议程")
    if not await agenda_of(session, meeting.id):
        raise Conflict("agenda_empty", "议程还没有议题，请先添加议题再公布")
    meeting.status = "agenda_published"
    meeting.agenda_published_at = clock.now()
    await session.flush()
    await tell_of_agenda(session, meeting)
    return await meeting_view(session, user, meeting, True)


async def hold(session: AsyncSession, user: User, meeting_id: int) -> dict[str, Any]:
    """agenda_published → held, once the meeting has started: the minutes, decisions and
    follow-ups may now be written."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, ("agenda_published",), "标记为已召开")
    now = clock.now()
    if now < meeting.starts_at:
        tz = await community_tz(session, meeting.community_id)
        raise Conflict(
            "meeting_not_started",
            f"议事会 {localtime.text(meeting.starts_at, tz)} 才开始，开始后才能标记为已召开",
            details={"starts_at": meeting.starts_at},
        )
    meeting.status = "held"
    meeting.held_at = now
    await session.flush()
    return await meeting_view(session, user, meeting, True)


async def cancel(session: AsyncSession, user: User, meeting_id: int, reason: str) -> dict[str, Any]:
    """draft or agenda_published → cancelled, with a reason: participants who were told of the
    meeting hear of the cancellation. Its level-3 concerns go to the next five-party meeting
    planned, or wait for one (their timelines say so)."""
    meeting = await staff_meeting(session, user, meeting_id)
    require_status(meeting, UPCOMING, "取消")
    told = meeting.status == "agenda_published"
    meeting.status = "cancelled"
    meeting.cancelled_at = clock.now()
    meeting.cancel_reason = reason
    await session.flush()
    if told:
        await _tell_participants(
            session, meeting, "meeting.cancelled", f"meeting:{meeting.id}:cancelled", reason=reason
        )
    why = f"议事会「{meeting.title}」已取消，议题随之撤下" if is_public(meeting) else taken_off_draft(meeting)
    for item in await agenda_of(session, meeting.id):
        if item.concern_id is not None:
            await requeue_concern(session, item.concern_id, meeting, user, why)
    return await meeting_view(session, user, meeting, True)


def taken_off_draft(meeting: Meeting) -> str:
    """What a concern's public timeline says when it leaves a meeting whose agenda was never
    published: residents never saw that meeting, so it is not named."""
    return f"已从下一次{common.MEETING_KIND_LABELS[meeting.kind]}的议程中撤下"


async def requeue_concern(
    session: AsyncSession, concern_id: int, left: Meeting, user: User | None, why: str, *, carry: bool = True
) -> None:
    """A concern a meeting no longer takes up (its item was taken off, the meeting was cancelled,
    or it ended without a decision on it): its timeline says `why`. A level-3 concern still open
    goes onto the next five-party meeting already planned (with `carry`: not when staff took it off
    an agenda themselves), or waits for one — to be taken up when a five-party meeting is created
    (`common.take_up_waiting`) — and says so. A concern residents do not see now (refused, under
    review, taken down) is carried onto no agenda. The caller holds `left` by `lock_meeting` (the
    agenda lock first)."""
    concern = await session.get(Concern, concern_id)
    if concern is None:
        return
    carried = concern.level == 3 and concern.status in ("accepted", "in_progress")
    following = (
        await common.next_five_party_meeting(session, concern.community_id, other_than=left.id)
        if carried and carry and concern.visibility == SHOWN
        else None
    )
    tail = "，等待下一次五方议事会" if carried and following is None else ""
    common.add_event(session, concern, "agenda", user, body=why + tail, data={"meeting_id": left.id, "removed": True})
    if following is not None:
        await common.place_on_agenda(session, concern, following, user)
