"""Reading concerns: the board (with the console's counts per state), the suggestions offered when
raising one, a concern's page with its timeline, and the staff's review queue.

Every function answers plain dicts, the same the API's schemas (`api/schemas/concerns.py`) and the
console's templates read. Names follow `concern_access.person`: a hidden raiser never reaches
another resident, here or anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    AgendaItem,
    Concern,
    ConcernEvent,
    ConcernMedia,
    ConcernSupporter,
    ConcernVerdict,
    Media,
    Meeting,
    User,
)
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import require_staff, require_staff_hidden
from api.services.feed.media import RENDITIONS, photo_view
from api.services.governance import common
from api.services.governance.concern_access import (
    Reader,
    community_building,
    community_reader,
    late_condition,
    late_for_staff,
    person,
    seeable_concern,
    staff_actions,
)
from api.services.governance.concerns import waiting_comments

SIMILAR_SHOWN = 5
EVENT_LABELS = {
    "submitted": "提交",
    "accepted": "受理",
    "level": "调整",
    "in_progress": "开始处理",
    "update": "进展",
    "note": "内部备注",
    "agenda": "列入议程",
    "decision": "议事决定",
    "resolved": "已解决",
    "unresolvable": "无法解决",
    "referred": "转办",
    "duplicate": "重复反映",
    "reopened": "重新处理",
    "closed": "关闭",
    "verdict": "居民评价",
}
RESIDENT_ACTS = ("verdict", "reopened")  # done by a resident other than the raiser: shown as 居民


@dataclass(frozen=True)
class BoardFilters:
    """The board's filters: any of these states, a category, a building (as residents write it),
    a level, only those late now (or only those not), only the reader's own (raised or "me too")."""

    statuses: tuple[str, ...] = ()
    category: str | None = None
    building: str | None = None
    level: int | None = None
    late: bool | None = None
    mine: bool = False


def _raiser(reader: Reader, concern: Concern, name: str | None, avatar: str | None) -> dict[str, Any]:
    return person(reader, concern.raised_by, name, avatar, staff=concern.by_staff, hidden=concern.hide_name)


async def cards(session: AsyncSession, reader: Reader, rows: list[Any]) -> list[dict[str, Any]]:
    """Concerns as cards (`rows`: a concern with its raiser's name and avatar, from `_with_raiser`):
    their first photo's thumbnail, whether the reader said "me too"."""
    ids = [row[0].id for row in rows]
    covers: dict[int, Any] = {}
    supported: set[int] = set()
    if ids:
        found = await session.execute(
            select(ConcernMedia.concern_id, Media.id, Media.width, Media.height, Media.status, Media.key)
            .join(Media, Media.id == ConcernMedia.media_id)
            .where(ConcernMedia.concern_id.in_(ids), ConcernMedia.position == 0)
        )
        covers = {row.concern_id: row for row in found.all()}
        supported = set(
            (
                await session.execute(
                    select(ConcernSupporter.concern_id).where(
                        ConcernSupporter.user_id == reader.user_id, ConcernSupporter.concern_id.in_(ids)
                    )
                )
            ).scalars()
        )
    now = clock.now()
    out = []
    for concern, name, avatar in rows:
        own = concern.raised_by == reader.user_id
        cover = covers.get(concern.id)
        out.append(
            {
                "id": concern.id,
                "community_id": concern.community_id,
                "title": concern.title,
                "category": concern.category,
                "category_label": common.CATEGORY_LABELS[concern.category],
                "building": concern.building,
                "place": concern.place,
                "status": concern.status,
                "status_label": common.STATUS_LABELS[concern.status],
                "outcome": concern.outcome,
                "level": concern.level,
                "level_label": common.LEVEL_LABELS[concern.level] if concern.level else None,
                "responsible": concern.responsible,
                "accept_by": concern.accept_by,
                "due_at": concern.due_at,
                "late": common.late(concern, now),
                "metoo_count": concern.metoo_count,
                "comment_count": concern.comment_count,
                "photo_count": concern.photo_count,
                "cover": photo_view(session, cover, ("thumb",), own or reader.staff) if cover is not None else None,
                "raiser": _raiser(reader, concern, name, avatar),
                "me_too": concern.id in supported,
                "created_at": concern.created_at,
                "visibility": concern.visibility if (own or reader.staff) else None,
            }
        )
    return out


def _with_raiser(query: Select[Any]) -> Select[Any]:
    return query.add_columns(User.display_name, User.avatar_url).outerjoin(User, User.id == Concern.raised_by)


def _seen_by(query: Select[Any], reader: Reader) -> Select[Any]:
    """Staff see every concern; a resident the visible ones and their own."""
    if reader.staff:
        return query
    return query.where(or_(Concern.visibility == "visible", Concern.raised_by == reader.user_id))


async def _filtered(
    session: AsyncSession, query: Select[Any], community_id: int, reader: Reader, filters: BoardFilters
) -> Select[Any] | None:
    """`query` narrowed by the filters other than the states; None when nothing can match (a
    building the community does not have)."""
    query = _seen_by(query.where(Concern.community_id == community_id), reader)
    if filters.category:
        query = query.where(Concern.category == filters.category)
    if filters.building:
        building = await community_building(session, community_id, filters.building)
        if not building:
            return None
        query = query.where(Concern.building == building)
    if filters.level is not None:
        query = query.where(Concern.level == filters.level)
    if filters.late is not None:
        late = late_condition(clock.now())
        query = query.where(late if filters.late else ~late)
    if filters.mine:
        supported = exists().where(
            ConcernSupporter.concern_id == Concern.id, ConcernSupporter.user_id == reader.user_id
        )
        query = query.where(or_(Concern.raised_by == reader.user_id, supported))
    return query


async def board(
    session: AsyncSession,
    user: User,
    community_id: int,
    filters: BoardFilters,
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """The community's concerns, newest first in cursor pages, as the filters narrow them. For
    staff also how many there are in each state and how many are late now (not counting those
    refused or taken down, as the worker's late flags), under the same filters but for the states
    (the console's columns). Anyone with no role in the community is told it does not exist."""
    staff = await community_reader(session, user, community_id)
    reader = Reader(user.id, staff)
    query = await _filtered(session, select(Concern), community_id, reader, filters)
    items: list[dict[str, Any]] = []
    next_cursor = None
    if query is not None:
        page_query = query
        if filters.statuses:
            page_query = page_query.where(Concern.status.in_(filters.statuses))
        page_query = page_query.order_by(Concern.created_at.desc(), Concern.id.desc()).limit(limit + 1)
        if cursor:
            page_query = page_query.where(after_time_and_id(cursor, Concern.created_at, Concern.id, ascending=False))
        rows = list((await session.execute(_with_raiser(page_query))).all())
        page = rows[:limit]
        if len(rows) > limit:
            last = page[-1][0]
            next_cursor = encode_cursor(last.created_at.isoformat(), last.id)
        items = await cards(session, reader, page)
    counts = None
    if staff:
        by_status = dict.fromkeys(common.STATUS_LABELS, 0)
        late_now = 0
        grouped: Any = select(Concern.status, func.count())
        counted = await _filtered(session, grouped, community_id, reader, filters)
        if counted is not None:
            for status, n in (await session.execute(counted.group_by(Concern.status))).all():
                by_status[status] = n
            late = counted.with_only_columns(func.count()).where(late_for_staff(clock.now()))
            late_now = (await session.execute(late)).scalar_one()
        counts = {"by_status": by_status, "late": late_now}
    return {"items": items, "next_cursor": next_cursor, "counts": counts}


async def similar(
    session: AsyncSession, user: User, community_id: int, building: str, category: str
) -> list[dict[str, Any]]:
    """Before raising a concern: the open ones of the same building and category that the
    community sees, the most "me too" first, so the resident may add theirs instead."""
    staff = await community_reader(session, user, community_id)
    reader = Reader(user.id, staff)
    found = await community_building(session, community_id, building)
    if found is None:
        return []
    rows = await session.execute(
        _with_raiser(select(Concern))
        .where(
            Concern.community_id == community_id,
            Concern.building == found,
            Concern.category == category,
            Concern.status.in_(common.OPEN_STATUSES),
            Concern.visibility == "visible",
        )
        .order_by(Concern.metoo_count.desc(), Concern.id.desc())
        .limit(SIMILAR_SHOWN)
    )
    return await cards(session, reader, list(rows.all()))


async def review_queue(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """What waits for staff: concerns and comments the checks were unsure of, oldest first."""
    await require_staff_hidden(session, user, community_id, "只有社区工作人员可以审核")
    reader = Reader(user.id, True)
    rows = await session.execute(
        _with_raiser(select(Concern))
        .where(Concern.community_id == community_id, Concern.visibility == "review")
        .order_by(Concern.id)
        .limit(100)
    )
    return {
        "concerns": await cards(session, reader, list(rows.all())),
        "comments": await waiting_comments(session, reader, community_id),
    }


# -- one concern ---------------------------------------------------------------------------------------


async def _timeline(session: AsyncSession, concern: Concern, reader: Reader) -> tuple[list[dict[str, Any]], str | None]:
    """The concern's events, oldest first (residents: the public ones), and the latest reason it
    was not shown (for its raiser and staff)."""
    events = list(
        (
            await session.execute(
                select(ConcernEvent)
                .where(ConcernEvent.concern_id == concern.id)
                .order_by(ConcernEvent.at, ConcernEvent.id)
            )
        ).scalars()
    )
    own = concern.raised_by == reader.user_id
    note = None
    for event in events:
        if (
            event.kind == "note"
            and "visibility" in event.data
            and event.data["visibility"][1] in ("rejected", "hidden")
        ):
            note = event.body
    if concern.visibility in ("checking", "visible", "review") or not (own or reader.staff):
        note = None
    if not reader.staff:
        events = [e for e in events if e.public]
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    names: dict[int, tuple[str | None, str | None]] = {}
    if actor_ids:
        rows = await session.execute(select(User.id, User.display_name, User.avatar_url).where(User.id.in_(actor_ids)))
        names = {row.id: (row.display_name, row.avatar_url) for row in rows.all()}
    out = []
    for event in events:
        actor = None
        if event.actor_id is not None:
            name, avatar = names.get(event.actor_id, (None, None))
            if event.kind == "submitted":
                staff, hidden = concern.by_staff, concern.hide_name
            elif event.kind in RESIDENT_ACTS:
                staff, hidden = False, True
            else:
                staff, hidden = True, False
            actor = person(reader, event.actor_id, name, avatar, staff=staff, hidden=hidden)
        out.append(
            {
                "id": event.id,
                "kind": event.kind,
                "kind_label": EVENT_LABELS.get(event.kind, event.kind),
                "at": event.at,
                "actor": actor,
                "body": event.body,
                "data": event.data,
                "public": event.public,
            }
        )
    return out, note


async def _agenda(session: AsyncSession, concern: Concern, reader: Reader) -> list[dict[str, Any]]:
    """The meetings the concern is on (not cancelled): for residents only those whose agenda was
    published (a draft meeting is staff's until then), for staff all."""
    query = (
        select(AgendaItem.id, Meeting)
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(AgendaItem.concern_id == concern.id, Meeting.status != "cancelled")
        .order_by(Meeting.starts_at, Meeting.id)
    )
    if not reader.staff:
        query = query.where(Meeting.agenda_published_at.is_not(None))
    rows = await session.execute(query)
    return [
        {
            "meeting_id": meeting.id,
            "agenda_item_id": item_id,
            "meeting_title": meeting.title,
            "meeting_kind": meeting.kind,
            "meeting_kind_label": common.MEETING_KIND_LABELS[meeting.kind],
            "starts_at": meeting.starts_at,
            "meeting_status": meeting.status,
            "meeting_status_label": common.MEETING_STATUS_LABELS[meeting.status],
        }
        for item_id, meeting in rows.all()
    ]


def resolved_now(concern: Concern) -> bool:
    """Its latest outcome is a resolution: resolved, or closed as resolved."""
    return concern.status == "resolved" or (concern.status == "closed" and concern.outcome == "resolved")


async def may_answer(session: AsyncSession, concern: Concern, user_id: int) -> tuple[bool, bool]:
    """Whether the user may give a verdict on the concern (its raiser, unless staff recorded it,
    or one who said "me too"), and whether as its raiser."""
    if concern.raised_by == user_id and not concern.by_staff:
        return True, True
    supported = (
        await session.execute(
            select(ConcernSupporter.user_id).where(
                ConcernSupporter.concern_id == concern.id, ConcernSupporter.user_id == user_id
            )
        )
    ).first()
    return supported is not None, False


def verdict_view(verdict: ConcernVerdict, reader: Reader, name: str | None, avatar: str | None) -> dict[str, Any]:
    own = verdict.user_id == reader.user_id
    return {
        "round": verdict.round,
        "answer": verdict.answer,
        "answer_label": common.VERDICT_LABELS[verdict.answer],
        "stars": verdict.stars,
        "word": verdict.word if (own or reader.staff) else None,
        "created_at": verdict.created_at,
        "person": person(reader, verdict.user_id, name, avatar, staff=False, hidden=True) if reader.staff else None,
        "raiser": verdict.raiser,
    }


async def _verdicts(
    session: AsyncSession, concern: Concern, reader: Reader
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The current round's summary (once resolved), every verdict for staff, the reader's own."""
    rows = list(
        (
            await session.execute(
                select(ConcernVerdict, User.display_name, User.avatar_url)
                .outerjoin(User, User.id == ConcernVerdict.user_id)
                .where(ConcernVerdict.concern_id == concern.id)
                .order_by(ConcernVerdict.round, ConcernVerdict.id)
            )
        ).all()
    )
    current = [v for v, _, _ in rows if v.round == concern.reopen_count]
    summary = None
    if resolved_now(concern) or current:
        summary = {
            "round": concern.reopen_count,
            "n": len(current),
            "solved": sum(v.answer == "solved" for v in current),
            "partly": sum(v.answer == "partly" for v in current),
            "not_solved": sum(v.answer == "not_solved" for v in current),
            "satisfied": sum(v.stars >= 4 for v in current),
        }
    listed = [verdict_view(v, reader, name, avatar) for v, name, avatar in rows] if reader.staff else None
    mine = next(
        (
            verdict_view(v, reader, name, avatar)
            for v, name, avatar in rows
            if v.user_id == reader.user_id and v.round == concern.reopen_count
        ),
        None,
    )
    return summary, listed, mine


async def waiting_for_meeting(session: AsyncSession, concern: Concern) -> bool:
    """A level-3 concern still open that no five-party meeting has taken up yet."""
    if concern.level != 3 or concern.status not in ("accepted", "in_progress"):
        return False
    found = await session.execute(
        common.waiting_for_agenda(concern.community_id).where(Concern.id == concern.id).limit(1)
    )
    return found.first() is not None


async def concern_detail(session: AsyncSession, user: User, concern_id: int) -> dict[str, Any]:
    """A concern's page for whoever may see it (`seeable_concern`): what it is about, its photos in
    every size, where it stands and its clocks, its timeline, the meetings it is on, the residents'
    verdicts, and what the reader has to do with it."""
    concern, reader = await seeable_concern(session, user, concern_id)
    raiser = await session.get(User, concern.raised_by) if concern.raised_by is not None else None
    (card,) = await cards(
        session, reader, [(concern, raiser.display_name if raiser else None, raiser.avatar_url if raiser else None)]
    )
    own = concern.raised_by == reader.user_id
    photos = await session.execute(
        select(Media.id, Media.width, Media.height, Media.status, Media.key)
        .join(ConcernMedia, ConcernMedia.media_id == Media.id)
        .where(ConcernMedia.concern_id == concern.id)
        .order_by(ConcernMedia.position)
    )
    timeline, note = await _timeline(session, concern, reader)
    summary, listed, mine = await _verdicts(session, concern, reader)
    eligible, _ = await may_answer(session, concern, reader.user_id)
    return card | {
        "body": concern.body,
        "photos": [photo_view(session, m, RENDITIONS, own or reader.staff) for m in photos.all()],
        "result": concern.result,
        "reason": concern.reason,
        "referred_to": concern.referred_to,
        "duplicate_of": concern.duplicate_of,
        "responded_at": concern.responded_at,
        "resolved_at": concern.resolved_at,
        "closed_at": concern.closed_at,
        "reopen_count": concern.reopen_count,
        "timeline": timeline,
        "agenda": await _agenda(session, concern, reader),
        "waiting_for_meeting": await waiting_for_meeting(session, concern),
        "verdicts": summary,
        "verdict_list": listed,
        "is_raiser": own,
        "can_answer_verdict": eligible and resolved_now(concern) and mine is None,
        "my_verdict": mine,
        "moderation_note": note,
        "staff_actions": staff_actions(concern) if reader.staff else [],
    }


DUPLICATE_CHOICES = 100


async def triage_options(session: AsyncSession, user: User, community_id: int, concern_id: int) -> dict[str, Any]:
    """What the console's triage forms offer staff of the concern's community: the five-party
    meeting a level-3 acceptance would put it on (None: it would wait for one), the community's
    clocks (a level-1 due date's default), and the concerns it could repeat (the community's other
    open ones residents can see, newest first)."""
    await require_staff(session, user, community_id)
    meeting = await common.next_five_party_meeting(session, community_id)
    rows = await session.execute(
        select(Concern.id, Concern.title, Concern.status, Concern.building)
        .where(
            Concern.community_id == community_id,
            Concern.id != concern_id,
            Concern.visibility == "visible",
            Concern.status.in_(common.OPEN_STATUSES),
        )
        .order_by(Concern.id.desc())
        .limit(DUPLICATE_CHOICES)
    )
    return {
        "meeting": None
        if meeting is None
        else {"id": meeting.id, "title": meeting.title, "starts_at": meeting.starts_at, "status": meeting.status},
        "clocks": await common.clocks(session, community_id),
        "duplicates": [
            {"id": r.id, "title": r.title, "building": r.building, "status_label": common.STATUS_LABELS[r.status]}
            for r in rows.all()
        ],
    }


def group_by_status(cards_: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Cards in the board's columns (for the console), in the order of the states."""
    columns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for card in cards_:
        columns[card["status"]].append(card)
    return {status: columns.get(status, []) for status in common.STATUS_LABELS}
