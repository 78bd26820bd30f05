"""The rows the indicators count, read once per report: a handful of narrow queries (no ORM
objects), bucketed in Python by local month and every breakdown, so that both engines give the
same figures and a year of one community stays a few tens of thousands of small tuples.

Governance (议事协商) adds concerns raised in the period and those resolved in it, the residents'
verdicts, the meetings held with their decisions, the follow-ups due, the polls and elections
closed and the survey responses received: each row carries what
the rates need (answered in time, resolved now, done by its due date), judged against `now` once
at load, so that a part of the period (`restrict`) counts exactly as reading that part would."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    Announcement,
    AnnouncementReadMark,
    Booking,
    BookingAttendee,
    Community,
    Concern,
    ConcernVerdict,
    Decision,
    FollowUp,
    Household,
    Loan,
    Meeting,
    MeetingParticipant,
    Member,
    Notification,
    Poll,
    PollElector,
    PollParticipation,
    ServiceProject,
    ServiceRecord,
    Shift,
    Space,
    SpaceClosure,
    Survey,
    SurveyResponse,
    Team,
    User,
)
from api.schemas.communities import WEEKDAYS
from api.services.governance.common import MINUTE
from api.services.notifications.announcements import announcement_of, cause_key
from api.services.reports.periods import Span
from api.services.volunteers.totals import counted
from api.services.votes.common import standing_of


@dataclass(frozen=True)
class Held:
    """An activity held: published, not cancelled, ended, with at least one check-in."""

    id: int
    title: str
    start: datetime  # local
    month: str
    category: str
    project_id: int | None
    service_type: str | None
    space_id: int | None
    location: str
    checkins: int


@dataclass(frozen=True)
class Visit:
    """A check-in at an activity held (walk-ins included; bookings cancelled afterwards not)."""

    attendee_id: int
    activity_id: int
    person: str  # "m{member id}" or "g{attendee id}" (a walk-in guest known only by name)
    name: str
    member_id: int | None
    household_id: int | None
    building: str
    age_group: str  # adult | child | guest
    gender: str | None
    at: datetime  # local
    month: str  # the activity's
    method: str | None
    # the activity's tags, kept with each check-in so that its breakdowns need no look-up
    project_id: int | None = None
    service_type: str | None = None
    category: str = ""


@dataclass(frozen=True)
class LoanRow:
    id: int
    member_id: int
    household_id: int
    name: str
    building: str
    age_group: str
    gender: str | None
    title: str
    at: datetime
    month: str


@dataclass(frozen=True)
class ServiceRow:
    id: int
    user_id: int
    name: str
    day: date
    month: str
    minutes: int
    service: str
    project_id: int | None
    service_type: str | None
    team_id: int | None


@dataclass(frozen=True)
class Notice:
    id: int
    title: str
    at: datetime
    month: str
    recipients: int
    households: frozenset[int]
    readers: int


@dataclass(frozen=True)
class OpenDay:
    day: date
    month: str
    minutes: int


@dataclass(frozen=True)
class ConcernRow:
    """A concern raised in the period that the content checks did not refuse."""

    id: int
    title: str
    category: str
    building: str
    raiser: str  # as staff see it (the reports are for staff only)
    hide_name: bool
    at: datetime  # raised, local
    month: str
    status: str
    outcome: str | None  # how it ended, kept once closed; None while open (and after a reopening)
    level: int | None
    accept_by: datetime  # local
    responded_at: datetime | None  # local
    resolved_at: datetime | None  # local
    reopen_count: int
    answered: bool  # counted by 按时响应率: answered, or its response clock had run out at load
    in_time: bool  # answered by accept_by (within that very minute still in time)


@dataclass(frozen=True)
class ResolvedRow:
    """A concern resolved in the period (its latest resolution) and resolved still."""

    id: int
    title: str
    category: str
    building: str
    raised: datetime  # local
    at: datetime  # resolved, local
    month: str  # the resolution's
    days: float  # from raised to resolved
    reopen_count: int


@dataclass(frozen=True)
class VerdictRow:
    id: int
    concern_id: int
    title: str
    category: str
    building: str  # the concern's
    name: str
    raiser: bool
    round: int
    answer: str
    stars: int
    at: datetime  # local
    month: str


@dataclass(frozen=True)
class MeetingRow:
    """A meeting held (minutes published or not) that started in the period."""

    id: int
    title: str
    kind: str
    status: str
    place: str
    start: datetime  # local
    month: str
    participants: int
    present: int  # participants checked in
    walkins: int
    decisions: int


@dataclass(frozen=True)
class DecisionRow:
    id: int
    meeting_id: int
    meeting: str
    start: datetime  # the meeting's, local
    month: str
    text: str
    method: str
    votes: tuple[int, int, int] | None  # for, against, abstaining
    follow_ups: int


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up due in the period, not dropped, and done or past its due date."""

    id: int
    title: str
    owner: str
    meeting: str
    due_on: date
    month: str  # the due date's
    status: str
    done_on: date | None  # local
    on_time: bool  # done on or before its due date


@dataclass(frozen=True)
class PollRow:
    """A poll or election whose voting closed in the period (published, not cancelled): its roll
    (electors not struck off) and how many of them took part, whatever the channel."""

    id: int
    title: str
    kind: str
    standing: str  # 选举, 业主大会表决, 意向征询
    electorate: str
    closes: datetime  # local
    month: str
    electors: int
    participants: int


@dataclass(frozen=True)
class SurveyResponseRow:
    """A questionnaire answered in the period (in the app or entered from paper). Nothing about who
    answered: anonymous responses have nothing to say, and the count needs nothing."""

    id: int
    survey_id: int
    survey: str
    day: date
    month: str
    channel: str


@dataclass
class Facts:
    community: Community
    tz: ZoneInfo
    span: Span
    project_id: int | None
    now: datetime
    held: list[Held] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    # person → the start of the first activity they ever checked in at (a check-in counts in the
    # month its activity starts, as the activity does, even when made after midnight)
    first_visit: dict[str, datetime] = field(default_factory=dict)
    loans: list[LoanRow] = field(default_factory=list)
    services: list[ServiceRow] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    open_days: list[OpenDay] = field(default_factory=list)
    projects: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    spaces: dict[int, str] = field(default_factory=dict)
    loop: dict[str, dict[str, Any]] = field(default_factory=dict)  # month → the loop's figures
    concerns: list[ConcernRow] = field(default_factory=list)
    resolved: list[ResolvedRow] = field(default_factory=list)
    verdicts: list[VerdictRow] = field(default_factory=list)
    meetings: list[MeetingRow] = field(default_factory=list)
    decisions: list[DecisionRow] = field(default_factory=list)
    follow_ups: list[FollowUpRow] = field(default_factory=list)
    polls: list[PollRow] = field(default_factory=list)
    survey_responses: list[SurveyResponseRow] = field(default_factory=list)


def restrict(facts: Facts, span: Span, project_id: int | None = None) -> Facts:
    """The facts of a part of the period (and perhaps of one project), without reading again: the
    same rows a load of that part would read, as long as it lies within the period loaded, months
    whole (the loop's figures are kept by month), and the facts were loaded for no project or for
    that one."""
    assert facts.span.first <= span.first and span.last <= facts.span.last
    assert facts.project_id is None or project_id in (None, facts.project_id)
    project = project_id if project_id is not None else facts.project_id
    start, end = span.bounds(facts.tz)
    held = [h for h in facts.held if start <= h.start < end and (project is None or h.project_id == project)]
    ids = {h.id for h in held}
    months = set(span.months())
    return replace(
        facts,
        span=span,
        project_id=project,
        held=held,
        visits=[v for v in facts.visits if v.activity_id in ids],
        loans=[row for row in facts.loans if start <= row.at < end],
        services=[
            row
            for row in facts.services
            if span.first <= row.day <= span.last and (project is None or row.project_id == project)
        ],
        notices=[n for n in facts.notices if start <= n.at < end],
        open_days=[d for d in facts.open_days if span.first <= d.day <= span.last],
        loop={month: figures for month, figures in facts.loop.items() if month in months},
        concerns=[c for c in facts.concerns if start <= c.at < end],
        resolved=[r for r in facts.resolved if start <= r.at < end],
        verdicts=[v for v in facts.verdicts if start <= v.at < end],
        meetings=[m for m in facts.meetings if start <= m.start < end],
        decisions=[d for d in facts.decisions if start <= d.start < end],
        follow_ups=[f for f in facts.follow_ups if span.first <= f.due_on <= span.last],
        polls=[p for p in facts.polls if start <= p.closes < end],
        survey_responses=[r for r in facts.survey_responses if span.first <= r.day <= span.last],
    )


def age_group(kind: str | None) -> str:
    if kind is None:
        return "guest"
    return "child" if kind == "child" else "adult"


def _member_name(display_name: str | None, guest_name: str | None) -> str:
    return display_name or guest_name or ""


async def load(session: AsyncSession, community: Community, span: Span, project_id: int | None) -> Facts:
    tz = ZoneInfo(community.timezone)
    facts = Facts(community=community, tz=tz, span=span, project_id=project_id, now=clock.now())
    start, end = span.bounds(tz)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # asyncpg prepares every statement; after five runs of one, PostgreSQL may switch to a
        # generic plan that ignores the values (the months' loop queries below run twelve times a
        # year, and each of these once per report): planned for this community and this period
        # instead, a year's report reads ~2 s less (bench/reports.py). Until this transaction ends.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    await _names(session, facts)
    await _activities(session, facts, start, end)
    await _loans(session, facts, start, end)
    await _services(session, facts)
    await _notices(session, facts, start, end)
    await _spaces(session, facts)
    await _loop(session, facts)
    await _concerns(session, facts, start, end)
    await _verdicts(session, facts, start, end)
    await _meetings(session, facts, start, end)
    await _follow_ups(session, facts)
    await _polls(session, facts, start, end)
    await _survey_responses(session, facts)
    return facts


async def _names(session: AsyncSession, facts: Facts) -> None:
    cid = facts.community.id
    facts.teams = dict((await session.execute(select(Team.id, Team.name).where(Team.community_id == cid))).all())
    facts.spaces = dict((await session.execute(select(Space.id, Space.name).where(Space.community_id == cid))).all())
    # every project an activity or shift of this community is tagged with (a project may have
    # stopped covering the community since)
    tagged = (
        select(Activity.project_id)
        .where(Activity.community_id == cid, Activity.project_id.is_not(None))
        .union(select(Shift.project_id).where(Shift.community_id == cid, Shift.project_id.is_not(None)))
    )
    facts.projects = dict(
        (
            await session.execute(select(ServiceProject.id, ServiceProject.name).where(ServiceProject.id.in_(tagged)))
        ).all()
    )


def visited() -> Any:
    """Check-ins that count: the attendee checked in and the booking stands."""
    return and_(BookingAttendee.checked_in_at.is_not(None), Booking.status != "cancelled")


def held_between(community_id: int, start: datetime, end: datetime, now: datetime) -> list[Any]:
    """Activities of the community that may count as held in [start, end): published (so not
    cancelled), started within it and ended by `now`. Held also needs a check-in that counts
    (`visited`): the 活动场次 of the registry and the record book's folders are these."""
    return [
        Activity.community_id == community_id,
        Activity.status == "published",
        Activity.start_at >= start,
        Activity.start_at < end,
        Activity.end_at <= now,
    ]


async def _activities(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    cid = facts.community.id
    held_where = held_between(cid, start, end, facts.now)
    if facts.project_id is not None:
        held_where.append(Activity.project_id == facts.project_id)
    rows = (
        await session.execute(
            select(
                BookingAttendee.id,
                BookingAttendee.activity_id,
                BookingAttendee.member_id,
                BookingAttendee.guest_name,
                BookingAttendee.checked_in_at,
                BookingAttendee.checkin_method,
                Activity.start_at,
                Activity.project_id,
                Activity.service_type,
                Activity.category,
                Booking.household_id,
                Member.display_name,
                Member.kind,
                Member.gender,
                Member.household_id,
                Household.building,
            )
            .join(Booking, Booking.id == BookingAttendee.booking_id)
            .join(Activity, Activity.id == BookingAttendee.activity_id)
            .outerjoin(Member, Member.id == BookingAttendee.member_id)
            .outerjoin(Household, Household.id == func.coalesce(Member.household_id, Booking.household_id))
            .where(*held_where, visited())
            .order_by(BookingAttendee.checked_in_at, BookingAttendee.id)
        )
    ).all()
    per_activity: dict[int, int] = defaultdict(int)
    guests_first: dict[str, datetime] = {}
    for (
        aid,
        activity_id,
        member_id,
        guest,
        at,
        method,
        start,
        project,
        service_type,
        category,
        booking_hh,
        name,
        kind,
        gender,
        member_hh,
        building,
    ) in rows:
        assert at is not None  # the query asks for check-ins
        local, held_at = at.astimezone(facts.tz), start.astimezone(facts.tz)
        if member_id is None:
            guests_first[f"g{aid}"] = held_at
        per_activity[activity_id] += 1
        facts.visits.append(
            Visit(
                attendee_id=aid,
                activity_id=activity_id,
                person=f"m{member_id}" if member_id is not None else f"g{aid}",
                name=_member_name(name, guest),
                member_id=member_id,
                household_id=member_hh if member_id is not None else booking_hh,
                building=building or "",
                age_group=age_group(kind if member_id is not None else None),
                gender=gender,
                at=local,
                month=f"{held_at:%Y-%m}",
                method=method,
                project_id=project,
                service_type=service_type,
                category=category,
            )
        )
    if per_activity:
        activities = (
            await session.execute(
                select(
                    Activity.id,
                    Activity.title,
                    Activity.start_at,
                    Activity.category,
                    Activity.project_id,
                    Activity.service_type,
                    Activity.space_id,
                    Activity.location,
                )
                .where(Activity.id.in_(list(per_activity)))
                .order_by(Activity.start_at, Activity.id)
            )
        ).all()
        for aid, title, at, category, project, service_type, space, location in activities:
            local = at.astimezone(facts.tz)
            facts.held.append(
                Held(
                    id=aid,
                    title=title,
                    start=local,
                    month=f"{local:%Y-%m}",
                    category=category,
                    project_id=project,
                    service_type=service_type,
                    space_id=space,
                    location=location,
                    checkins=per_activity[aid],
                )
            )
    # when each member was first served here, whatever the project: "new" is new to the space
    members = {v.member_id for v in facts.visits if v.member_id is not None}
    if members:
        firsts = (
            await session.execute(
                select(BookingAttendee.member_id, func.min(Activity.start_at))
                .join(Booking, Booking.id == BookingAttendee.booking_id)
                .join(Activity, Activity.id == BookingAttendee.activity_id)
                .where(
                    Activity.community_id == cid,
                    Activity.status == "published",
                    Activity.end_at <= facts.now,
                    BookingAttendee.member_id.is_not(None),
                    visited(),
                )
                .group_by(BookingAttendee.member_id)
            )
        ).all()
        facts.first_visit = {f"m{m}": at.astimezone(facts.tz) for m, at in firsts if m in members and at is not None}
    facts.first_visit.update(guests_first)


async def _loans(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    from api.db.models import Book

    rows = (
        await session.execute(
            select(
                Loan.id,
                Loan.member_id,
                Loan.household_id,
                Loan.borrowed_at,
                Member.display_name,
                Member.kind,
                Member.gender,
                Household.building,
                Book.title,
            )
            .join(Member, Member.id == Loan.member_id)
            .join(Household, Household.id == Loan.household_id)
            .join(Book, Book.id == Loan.book_id)
            .where(Loan.community_id == facts.community.id, Loan.borrowed_at >= start, Loan.borrowed_at < end)
            .order_by(Loan.borrowed_at, Loan.id)
        )
    ).all()
    for lid, member_id, household_id, at, name, kind, gender, building, title in rows:
        local = at.astimezone(facts.tz)
        facts.loans.append(
            LoanRow(
                id=lid,
                member_id=member_id,
                household_id=household_id,
                name=name,
                building=building,
                age_group=age_group(kind),
                gender=gender,
                title=title,
                at=local,
                month=f"{local:%Y-%m}",
            )
        )


async def _services(session: AsyncSession, facts: Facts) -> None:
    cid = facts.community.id
    where = [
        ServiceRecord.community_id == cid,
        ServiceRecord.service_date >= facts.span.first,
        ServiceRecord.service_date <= facts.span.last,
        counted(),
    ]
    if facts.project_id is not None:
        where.append(Shift.project_id == facts.project_id)
    rows = (
        await session.execute(
            select(
                ServiceRecord.id,
                ServiceRecord.user_id,
                ServiceRecord.service_date,
                ServiceRecord.minutes,
                ServiceRecord.service,
                ServiceRecord.team_id,
                Shift.project_id,
                Shift.service_type,
                Member.display_name,
            )
            .outerjoin(Shift, Shift.id == ServiceRecord.shift_id)
            .outerjoin(Member, and_(Member.user_id == ServiceRecord.user_id, Member.community_id == cid))
            .where(*where)
            .order_by(ServiceRecord.service_date, ServiceRecord.id)
        )
    ).all()
    for rid, user_id, day, minutes, service, team, project, service_type, name in rows:
        facts.services.append(
            ServiceRow(
                id=rid,
                user_id=user_id,
                name=name or "志愿者",
                day=day,
                month=f"{day:%Y-%m}",
                minutes=minutes,
                service=service,
                project_id=project,
                service_type=service_type,
                team_id=team,
            )
        )


async def _notices(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    cid = facts.community.id
    rows = (
        await session.execute(
            select(Announcement.id, Announcement.title, Announcement.publish_at)
            .where(
                Announcement.community_id == cid,
                Announcement.withdrawn_at.is_(None),
                Announcement.publish_at >= start,
                Announcement.publish_at < end,
                Announcement.publish_at <= facts.now,
            )
            .order_by(Announcement.publish_at, Announcement.id)
        )
    ).all()
    if not rows:
        return
    by_key = {cause_key(aid): aid for aid, _t, _p in rows}
    reached: dict[int, set[int]] = defaultdict(set)
    recipients: dict[int, int] = defaultdict(int)
    # per notice, how many inbox entries it made, the households they reached (their ids joined by
    # commas, repeats included) and how many of those it reached have read it (someone who joined
    # later may read it in the list too, and is not counted): one row a notice, where a year of
    # notices to a thousand households is ~130,000 inbox entries, cheaper counted in the database
    # than sent as rows
    read = and_(
        AnnouncementReadMark.user_id == Notification.user_id,
        AnnouncementReadMark.announcement_id == announcement_of(Notification.cause_key),
    )
    readers: dict[int, int] = {}
    for key, entries, households, read_by in (
        await session.execute(
            select(
                Notification.cause_key,
                func.count(),
                func.aggregate_strings(cast(Member.household_id, String), ","),
                func.count(AnnouncementReadMark.user_id),
            )
            .outerjoin(Member, and_(Member.user_id == Notification.user_id, Member.community_id == cid))
            .outerjoin(AnnouncementReadMark, read)
            .where(Notification.cause_key.in_(list(by_key)), Notification.retracted_at.is_(None))
            .group_by(Notification.cause_key)
        )
    ).all():
        aid = by_key[key]
        recipients[aid] = int(entries)
        readers[aid] = int(read_by)
        if households:
            reached[aid] = set(map(int, households.split(",")))
    for aid, title, at in rows:
        local = at.astimezone(facts.tz)
        facts.notices.append(
            Notice(
                id=aid,
                title=title,
                at=local,
                month=f"{local:%Y-%m}",
                recipients=recipients[aid],
                households=frozenset(reached[aid]),
                readers=int(readers.get(aid, 0)),
            )
        )


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


async def _spaces(session: AsyncSession, facts: Facts) -> None:
    """Days and minutes open: each space's weekly hours minus its closures, merged across spaces
    (two rooms open at once are one opening), counted up to today."""
    cid = facts.community.id
    spaces = (await session.execute(select(Space.id, Space.opening_hours).where(Space.community_id == cid))).all()
    if not spaces:
        return
    closures = (
        await session.execute(
            select(SpaceClosure.space_id, SpaceClosure.starts_on, SpaceClosure.ends_on).where(
                SpaceClosure.space_id.in_([s for s, _h in spaces]),
                SpaceClosure.ends_on >= facts.span.first,
                SpaceClosure.starts_on <= facts.span.last,
            )
        )
    ).all()
    closed: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for space_id, first, last in closures:
        closed[space_id].append((first, last))
    today = facts.now.astimezone(facts.tz).date()
    day, last = facts.span.first, min(facts.span.last, today)
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        intervals: list[tuple[int, int]] = []
        for space_id, hours in spaces:
            if any(first <= day <= until for first, until in closed[space_id]):
                continue
            intervals.extend((_minutes(a), _minutes(b)) for a, b in hours.get(weekday, []) if _minutes(b) > _minutes(a))
        if intervals:
            total, reach = 0, -1
            for opens, closes in sorted(intervals):
                if closes <= reach:
                    continue
                total += closes - max(opens, reach)
                reach = closes
            facts.open_days.append(OpenDay(day=day, month=f"{day:%Y-%m}", minutes=total))
        day += timedelta(days=1)


async def _loop(session: AsyncSession, facts: Facts) -> None:
    from api.services.feed.loop import period_loop

    for month in facts.span.months():
        year, number = int(month[:4]), int(month[5:7])
        from api.services.reports.periods import month_span

        clipped = month_span(year, number).clip(facts.span)
        assert clipped is not None
        start, end = clipped.bounds(facts.tz)
        facts.loop[month] = await period_loop(session, facts.community.id, start, end)


# -- governance ----------------------------------------------------------------------------------

# a concern refused by the content checks (its text or a photo, by WeChat or by staff) is not counted
COUNTED = Concern.visibility != "rejected"
HELD = ("held", "minutes_published")


def _local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    return None if at is None else at.astimezone(tz)


async def _names_of(session: AsyncSession, community_id: int, user_ids: set[int]) -> dict[int, str]:
    """Each user's name as the community's staff know it: their member name here, else their own."""
    if not user_ids:
        return {}
    names = dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(list(user_ids))))).all())
    members = await session.execute(
        select(Member.user_id, Member.display_name).where(
            Member.community_id == community_id, Member.user_id.in_(list(user_ids))
        )
    )
    for user_id, name in members.all():
        if user_id is not None and name:
            names[user_id] = name
    return {k: v or "居民" for k, v in names.items()}


async def _concerns(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    """Concerns raised in the period and those resolved in it, in one read."""
    tz, now = facts.tz, facts.now
    raised_in = and_(Concern.created_at >= start, Concern.created_at < end)
    resolved_in = and_(Concern.outcome == "resolved", Concern.resolved_at >= start, Concern.resolved_at < end)
    rows = (
        await session.execute(
            select(
                Concern.id,
                Concern.title,
                Concern.category,
                Concern.building,
                Concern.raised_by,
                Concern.hide_name,
                Concern.created_at,
                Concern.status,
                Concern.outcome,
                Concern.level,
                Concern.accept_by,
                Concern.responded_at,
                Concern.resolved_at,
                Concern.reopen_count,
            )
            .where(Concern.community_id == facts.community.id, COUNTED, or_(raised_in, resolved_in))
            .order_by(Concern.created_at, Concern.id)
        )
    ).all()
    names = await _names_of(session, facts.community.id, {r.raised_by for r in rows if r.raised_by is not None})
    for r in rows:
        raised = r.created_at.astimezone(tz)
        if start <= r.created_at < end:
            facts.concerns.append(
                ConcernRow(
                    id=r.id,
                    title=r.title,
                    category=r.category,
                    building=r.building,
                    raiser=names.get(r.raised_by, "居民") if r.raised_by is not None else "居民",
                    hide_name=r.hide_name,
                    at=raised,
                    month=f"{raised:%Y-%m}",
                    status=r.status,
                    outcome=r.outcome,
                    level=r.level,
                    accept_by=r.accept_by.astimezone(tz),
                    responded_at=_local(r.responded_at, tz),
                    resolved_at=_local(r.resolved_at, tz),
                    reopen_count=r.reopen_count,
                    answered=r.responded_at is not None or now >= r.accept_by + MINUTE,
                    in_time=r.responded_at is not None and r.responded_at < r.accept_by + MINUTE,
                )
            )
        if r.outcome == "resolved" and r.resolved_at is not None and start <= r.resolved_at < end:
            resolved = r.resolved_at.astimezone(tz)
            facts.resolved.append(
                ResolvedRow(
                    id=r.id,
                    title=r.title,
                    category=r.category,
                    building=r.building,
                    raised=raised,
                    at=resolved,
                    month=f"{resolved:%Y-%m}",
                    days=(r.resolved_at - r.created_at).total_seconds() / 86400,
                    reopen_count=r.reopen_count,
                )
            )
    facts.resolved.sort(key=lambda row: (row.at, row.id))


async def _verdicts(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    rows = (
        await session.execute(
            select(
                ConcernVerdict.id,
                ConcernVerdict.concern_id,
                ConcernVerdict.user_id,
                ConcernVerdict.raiser,
                ConcernVerdict.round,
                ConcernVerdict.answer,
                ConcernVerdict.stars,
                ConcernVerdict.created_at,
                Concern.title,
                Concern.category,
                Concern.building,
            )
            .join(Concern, Concern.id == ConcernVerdict.concern_id)
            .where(
                Concern.community_id == facts.community.id,
                COUNTED,
                ConcernVerdict.created_at >= start,
                ConcernVerdict.created_at < end,
            )
            .order_by(ConcernVerdict.created_at, ConcernVerdict.id)
        )
    ).all()
    names = await _names_of(session, facts.community.id, {r.user_id for r in rows if r.user_id is not None})
    for r in rows:
        at = r.created_at.astimezone(facts.tz)
        facts.verdicts.append(
            VerdictRow(
                id=r.id,
                concern_id=r.concern_id,
                title=r.title,
                category=r.category,
                building=r.building,
                name=names.get(r.user_id, "居民") if r.user_id is not None else "居民",
                raiser=r.raiser,
                round=r.round,
                answer=r.answer,
                stars=r.stars,
                at=at,
                month=f"{at:%Y-%m}",
            )
        )


async def _meetings(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    """Meetings held that started in the period, and their decisions."""
    meetings = (
        await session.execute(
            select(
                Meeting.id,
                Meeting.title,
                Meeting.kind,
                Meeting.status,
                Meeting.place,
                Meeting.starts_at,
                Meeting.walkin_count,
            )
            .where(
                Meeting.community_id == facts.community.id,
                Meeting.status.in_(HELD),
                Meeting.starts_at >= start,
                Meeting.starts_at < end,
            )
            .order_by(Meeting.starts_at, Meeting.id)
        )
    ).all()
    if not meetings:
        return
    ids = [m.id for m in meetings]
    attendance = {
        meeting_id: (int(total), int(present))
        for meeting_id, total, present in (
            await session.execute(
                select(MeetingParticipant.meeting_id, func.count(), func.count(MeetingParticipant.checked_in_at))
                .where(MeetingParticipant.meeting_id.in_(ids))
                .group_by(MeetingParticipant.meeting_id)
            )
        ).all()
    }
    follow_ups = dict(
        (
            await session.execute(
                select(FollowUp.decision_id, func.count())
                .join(Decision, Decision.id == FollowUp.decision_id)
                .where(Decision.meeting_id.in_(ids))
                .group_by(FollowUp.decision_id)
            )
        ).all()
    )
    decisions = (
        await session.execute(
            select(
                Decision.id,
                Decision.meeting_id,
                Decision.text,
                Decision.method,
                Decision.votes_for,
                Decision.votes_against,
                Decision.votes_abstain,
            )
            .where(Decision.meeting_id.in_(ids))
            .order_by(Decision.id)
        )
    ).all()
    by_meeting: dict[int, list[Any]] = defaultdict(list)
    for d in decisions:
        by_meeting[d.meeting_id].append(d)
    for m in meetings:
        local = m.starts_at.astimezone(facts.tz)
        month = f"{local:%Y-%m}"
        total, present = attendance.get(m.id, (0, 0))
        facts.meetings.append(
            MeetingRow(
                id=m.id,
                title=m.title,
                kind=m.kind,
                status=m.status,
                place=m.place,
                start=local,
                month=month,
                participants=total,
                present=present,
                walkins=m.walkin_count,
                decisions=len(by_meeting[m.id]),
            )
        )
        for d in by_meeting[m.id]:
            facts.decisions.append(
                DecisionRow(
                    id=d.id,
                    meeting_id=m.id,
                    meeting=m.title,
                    start=local,
                    month=month,
                    text=d.text,
                    method=d.method,
                    votes=None if d.method != "vote" else (d.votes_for, d.votes_against, d.votes_abstain),
                    follow_ups=int(follow_ups.get(d.id, 0)),
                )
            )


async def _follow_ups(session: AsyncSession, facts: Facts) -> None:
    """Follow-ups due in the period and not dropped, once they count: done, or their due date
    passed (one due later this month and still open is not yet on time nor late)."""
    today = facts.now.astimezone(facts.tz).date()
    rows = (
        await session.execute(
            select(
                FollowUp.id,
                FollowUp.title,
                FollowUp.owner_name,
                FollowUp.due_on,
                FollowUp.status,
                FollowUp.done_at,
                Meeting.title.label("meeting"),
            )
            .join(Decision, Decision.id == FollowUp.decision_id)
            .join(Meeting, Meeting.id == Decision.meeting_id)
            .where(
                FollowUp.community_id == facts.community.id,
                FollowUp.status != "dropped",
                FollowUp.due_on >= facts.span.first,
                FollowUp.due_on <= facts.span.last,
            )
            .order_by(FollowUp.due_on, FollowUp.id)
        )
    ).all()
    for r in rows:
        done_on = None if r.done_at is None else r.done_at.astimezone(facts.tz).date()
        if done_on is None and r.due_on >= today:
            continue
        facts.follow_ups.append(
            FollowUpRow(
                id=r.id,
                title=r.title,
                owner=r.owner_name,
                meeting=r.meeting,
                due_on=r.due_on,
                month=f"{r.due_on:%Y-%m}",
                status=r.status,
                done_on=done_on,
                on_time=done_on is not None and done_on <= r.due_on,
            )
        )


async def _polls(session: AsyncSession, facts: Facts, start: datetime, end: datetime) -> None:
    """Polls and elections whose voting closed in the period, by now (a poll still open counts in
    the month it closes, once it has), with their roll and participation counted from the rows."""
    polls = (
        await session.execute(
            select(
                Poll.id,
                Poll.title,
                Poll.kind,
                Poll.rule,
                Poll.owners_assembly,
                Poll.electorate,
                Poll.closes_at,
            )
            .where(
                Poll.community_id == facts.community.id,
                Poll.status.in_(("scheduled", "open", "closed")),
                Poll.closes_at >= start,
                Poll.closes_at < end,
                Poll.closes_at <= facts.now,
            )
            .order_by(Poll.closes_at, Poll.id)
        )
    ).all()
    if not polls:
        return
    ids = [p.id for p in polls]
    electors = dict(
        (
            await session.execute(
                select(PollElector.poll_id, func.count())
                .where(PollElector.poll_id.in_(ids), PollElector.struck_at.is_(None))
                .group_by(PollElector.poll_id)
            )
        ).all()
    )
    participants = dict(
        (
            await session.execute(
                select(PollParticipation.poll_id, func.count())
                .where(PollParticipation.poll_id.in_(ids))
                .group_by(PollParticipation.poll_id)
            )
        ).all()
    )
    for p in polls:
        closes = p.closes_at.astimezone(facts.tz)
        facts.polls.append(
            PollRow(
                id=p.id,
                title=p.title,
                kind=p.kind,
                standing=standing_of(p.kind, p.rule, p.owners_assembly),
                electorate=p.electorate,
                closes=closes,
                month=f"{closes:%Y-%m}",
                electors=int(electors.get(p.id, 0)),
                participants=int(participants.get(p.id, 0)),
            )
        )


async def _survey_responses(session: AsyncSession, facts: Facts) -> None:
    """Questionnaires received in the period, by the (local) day each was submitted; not those of
    a survey staff cancelled (its answers are kept, but it was not carried out)."""
    rows = (
        await session.execute(
            select(
                SurveyResponse.id,
                SurveyResponse.survey_id,
                Survey.title,
                SurveyResponse.submitted_on,
                SurveyResponse.channel,
            )
            .join(Survey, Survey.id == SurveyResponse.survey_id)
            .where(
                Survey.community_id == facts.community.id,
                Survey.status != "cancelled",
                SurveyResponse.submitted_on >= facts.span.first,
                SurveyResponse.submitted_on <= facts.span.last,
            )
            .order_by(SurveyResponse.submitted_on, Survey.id, SurveyResponse.id)
        )
    ).all()
    facts.survey_responses.extend(
        SurveyResponseRow(
            id=r.id,
            survey_id=r.survey_id,
            survey=r.title,
            day=r.submitted_on,
            month=f"{r.submitted_on:%Y-%m}",
            channel=r.channel,
        )
        for r in rows
    )
