"""Submitted periods (报送): staff submit a month or a quarter, for the community or one service
project, and the report as it stood is kept frozen with it. Data of the period changed afterwards
(a late check-in, a corrected service record, a loan entered late) never alters what was
submitted: it shows as adjustments since submission, indicator by indicator, with the breakdown
figures and parts that moved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, ReportSubmission, ServiceProject, User
from api.errors import Conflict, NotFound, invalid_field
from api.services.access import role_in
from api.services.reports import facts as facts_module
from api.services.reports import report
from api.services.reports.facts import Facts
from api.services.reports.periods import MONTH, QUARTER, Span, grain_periods, month_label, parse_period
from api.services.reports.registry import BREAKDOWNS

QUARTER_NAMES = {1: "一", 2: "二", 3: "三", 4: "四"}
PARTS = "parts"  # the `breakdown` of a change to one of an indicator's parts (成人/儿童, 借阅人数…)
PARTS_NAME = "分项"


def period_label(period: str) -> str:
    """2026年9月, 2026年第三季度."""
    if found := QUARTER.match(period):
        return f"{int(found[1])}年第{QUARTER_NAMES[int(found[2])]}季度"
    return month_label(period)


def _day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _today(community: Community) -> date:
    return clock.now().astimezone(ZoneInfo(community.timezone)).date()


# -- submitting ---------------------------------------------------------------------------------


async def submit(
    session: AsyncSession, user: User, community_id: int, period: str, project_id: int | None, note: str = ""
) -> dict[str, Any]:
    """Freeze the report of a month or quarter that has ended (for the community, or one project
    covering it, in the project's grain and inside its contract), once."""
    community = await report.require_report_staff(session, user, community_id)
    span = parse_period(period)
    project = await report.project_of(session, community, project_id) if project_id is not None else None
    label = period_label(period)
    if project is not None:
        _check_against_contract(project, period, span)
    today = _today(community)
    if today <= span.last:
        opens = span.last + timedelta(days=1)
        raise Conflict(
            "period_not_ended",
            f"{label}还没有结束，{_day_text(opens)}起才能报送",
            details={"period": period, "submittable_from": opens.isoformat()},
        )
    existing = await _existing(session, community.id, project_id, period)
    if existing is not None:
        raise _already(label, existing)
    figures = await report.build(session, user, community.id, span.first, span.last, project_id)
    submission = ReportSubmission(
        community_id=community.id,
        project_id=project_id,
        period=period,
        period_from=span.first,
        period_to=span.last,
        figures=figures,
        note=note,
        submitted_at=clock.now(),
        submitted_by=user.id,
    )
    session.add(submission)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # someone else submitted the same period at the same moment
        raise _already(label, None) from exc
    return {**_view(submission, project.name if project is not None else None, user), "figures": figures}


def _check_against_contract(project: ServiceProject, period: str, span: Span) -> None:
    if project.grain == "quarter" and not QUARTER.match(period):
        raise invalid_field("period", "这个服务项目按季度报送，应为季度（如 2026-Q3）", kind="period_grain")
    if project.grain == "month" and not MONTH.match(period):
        raise invalid_field("period", "这个服务项目按月报送，应为月份（如 2026-09）", kind="period_grain")
    if span.clip(Span(project.starts_on, project.ends_on)) is None:
        raise invalid_field(
            "period",
            f"不在服务项目的合同期内（{_day_text(project.starts_on)}至{_day_text(project.ends_on)}）",
            kind="period_outside_contract",
        )


async def _existing(
    session: AsyncSession, community_id: int, project_id: int | None, period: str
) -> ReportSubmission | None:
    found = await session.execute(
        select(ReportSubmission).where(
            ReportSubmission.community_id == community_id,
            ReportSubmission.project_id.is_(None) if project_id is None else ReportSubmission.project_id == project_id,
            ReportSubmission.period == period,
        )
    )
    return found.scalar_one_or_none()


def _already(label: str, existing: ReportSubmission | None) -> Conflict:
    return Conflict(
        "period_already_submitted",
        f"{label}的服务数据已经报送过，不能重复报送",
        details={"submission_id": existing.id if existing is not None else None},
    )


def submittable(today: date, first: date, last: date, grain: str) -> list[tuple[str, str]]:
    """The months (or quarters) of [first, last] that have ended by `today`, the community's day:
    what can be submitted from a page showing that period, newest first, with their labels."""
    out: list[tuple[str, str]] = []
    for key, whole in grain_periods(Span(first, min(last, today)), grain):
        if whole.last < today:
            out.append((key, period_label(key)))
    return out[::-1]


# -- reading ------------------------------------------------------------------------------------


def _view(submission: ReportSubmission, project_name: str | None, by: User | None) -> dict[str, Any]:
    return {
        "id": submission.id,
        "community_id": submission.community_id,
        "period": submission.period,
        "period_label": period_label(submission.period),
        "from": submission.period_from,
        "to": submission.period_to,
        "project": None
        if submission.project_id is None
        else {"id": submission.project_id, "name": project_name or "（已删除的项目）"},
        "note": submission.note,
        "submitted_at": submission.submitted_at,
        "submitted_by": None if by is None else {"id": by.id, "name": by.display_name or "社工"},
    }


def _listed() -> Any:
    return (
        select(ReportSubmission, ServiceProject.name, User)
        .outerjoin(ServiceProject, ServiceProject.id == ReportSubmission.project_id)
        .outerjoin(User, User.id == ReportSubmission.submitted_by)
    )


async def list_submissions(
    session: AsyncSession, user: User, community_id: int, project_id: int | None = None
) -> list[dict[str, Any]]:
    """The community's submissions (of one project, if given), newest first, with who submitted
    them and when."""
    community = await report.require_report_staff(session, user, community_id)
    query = _listed().where(ReportSubmission.community_id == community.id)
    if project_id is not None:
        query = query.where(ReportSubmission.project_id == project_id)
    rows = await session.execute(query.order_by(ReportSubmission.submitted_at.desc(), ReportSubmission.id.desc()))
    return [_view(submission, name, by) for submission, name, by in rows.all()]


async def _visible(
    session: AsyncSession, user: User, submission_id: int, community_id: int | None = None
) -> tuple[ReportSubmission, Community]:
    """The submission, to its community's staff; residents are refused (403); anyone else is told
    it does not exist (404), as is the console's page of another community (`community_id`)."""
    submission = await session.get(ReportSubmission, submission_id)
    if (
        submission is None
        or (community_id is not None and submission.community_id != community_id)
        or await role_in(session, user, submission.community_id) is None
    ):
        raise NotFound("report_submission_not_found", "找不到这次报送")
    community = await report.require_report_staff(session, user, submission.community_id)
    return submission, community


async def get_submission(
    session: AsyncSession, user: User, submission_id: int, community_id: int | None = None
) -> dict[str, Any]:
    """What was submitted (frozen) and the adjustments since: what the same report says now,
    where it differs."""
    submission, community = await _visible(session, user, submission_id, community_id)
    row = (await session.execute(_listed().where(ReportSubmission.id == submission.id))).one()
    now = await _current(session, user, community, submission)
    return {
        **_view(*row),
        "figures": submission.figures,
        "adjustments": compare(submission.figures, now),
    }


async def adjustments(
    session: AsyncSession,
    user: User,
    community_id: int,
    first: date,
    last: date,
    project_id: int | None = None,
    facts: Facts | None = None,
) -> list[dict[str, Any]]:
    """The submissions of the community (and project, or the community as a whole) whose periods
    lie within [first, last], oldest first, each with how many indicators changed since and which:
    what the dashboard shows as adjustments since submission. Given the facts the dashboard has
    read for that period (and project), each submission's part is taken from them."""
    community = await report.require_report_staff(session, user, community_id)
    query = _listed().where(
        ReportSubmission.community_id == community.id,
        ReportSubmission.project_id.is_(None) if project_id is None else ReportSubmission.project_id == project_id,
        ReportSubmission.period_from >= first,
        ReportSubmission.period_to <= last,
    )
    rows = (await session.execute(query.order_by(ReportSubmission.period_from, ReportSubmission.id))).all()
    out = []
    for submission, name, by in rows:
        if (
            facts is not None
            and (facts.span.first, facts.span.last) == (first, last)
            and facts.project_id == project_id
        ):
            part = facts_module.restrict(facts, Span(submission.period_from, submission.period_to))
            project = await session.get(ServiceProject, project_id) if project_id is not None else None
            now = report.compose(part, project, {})
        else:
            now = await _current(session, user, community, submission)
        changed = compare(submission.figures, now)
        out.append(
            {
                **_view(submission, name, by),
                "changed": len(changed),
                "changed_indicators": [{"key": c["indicator"], "name": c["name"]} for c in changed],
            }
        )
    return out


async def _current(
    session: AsyncSession, user: User, community: Community, submission: ReportSubmission
) -> dict[str, Any]:
    """The same report computed now. A project that has since stopped covering the community is
    still counted as it was submitted (its tagged activities and shifts stay in the data)."""
    try:
        return await report.build(
            session, user, community.id, submission.period_from, submission.period_to, submission.project_id
        )
    except NotFound:
        if submission.project_id is None:
            raise
    project = await session.get(ServiceProject, submission.project_id)
    span = Span(submission.period_from, submission.period_to)
    facts = await facts_module.load(session, community, span, submission.project_id)
    return report.compose(facts, project, {})


# -- comparing ----------------------------------------------------------------------------------

Number = float | int | None


def _difference(submitted: Any, now: Any) -> Number:
    numbers = (int, float)
    if not isinstance(submitted, numbers) or not isinstance(now, numbers):
        return None
    if isinstance(submitted, bool) or isinstance(now, bool):
        return None
    change = now - submitted
    return change if isinstance(change, int) else round(change, 6)


def _change(breakdown: str, breakdown_name: str, key: str, label: str, submitted: Any, now: Any) -> dict[str, Any]:
    return {
        "breakdown": breakdown,
        "breakdown_name": breakdown_name,
        "key": key,
        "label": label,
        "submitted": submitted,
        "now": now,
        "difference": _difference(submitted, now),
    }


def _keyed(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(e["key"]): e for e in entries}


def _changes(submitted: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """What moved inside one indicator: its parts, then every figure of every breakdown (a group
    that appeared or vanished is compared with nothing: None)."""
    out: list[dict[str, Any]] = []
    before, after = _keyed(submitted.get("parts") or []), _keyed(now.get("parts") or [])
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        old_value, new_value = (old or {}).get("value"), (new or {}).get("value")
        if old_value != new_value:
            name = str((new or old or {}).get("name", key))
            out.append(_change(PARTS, PARTS_NAME, key, name, old_value, new_value))
    old_breakdowns: dict[str, Any] = submitted.get("breakdowns") or {}
    new_breakdowns: dict[str, Any] = now.get("breakdowns") or {}
    for breakdown in [*new_breakdowns, *(b for b in old_breakdowns if b not in new_breakdowns)]:
        before, after = _keyed(old_breakdowns.get(breakdown) or []), _keyed(new_breakdowns.get(breakdown) or [])
        name = BREAKDOWNS.get(breakdown, breakdown)
        for key in [*after, *(k for k in before if k not in after)]:
            old, new = before.get(key), after.get(key)
            old_value, new_value = (old or {}).get("value"), (new or {}).get("value")
            if old_value != new_value:
                label = str((new or old or {}).get("label", key))
                out.append(_change(breakdown, name, key, label, old_value, new_value))
    return out


def compare(submitted: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """Per indicator (in the registry's order; any the registry has dropped since, last), what
    changed between the submitted report and the same report now; nothing for an indicator that
    did not. An indicator added to the registry since submission appears as new (submitted None)."""
    before = _keyed(submitted.get("indicators") or [])
    after = _keyed(now.get("indicators") or [])
    out: list[dict[str, Any]] = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        ref = new if new is not None else old
        assert ref is not None
        old_value = None if old is None else old.get("value")
        new_value = None if new is None else new.get("value")
        changes = _changes(old, new) if old is not None and new is not None else []
        if old is not None and new is not None and old_value == new_value and not changes:
            continue
        out.append(
            {
                "indicator": key,
                "name": ref.get("name", key),
                "unit": ref.get("unit", ""),
                "submitted": old_value,
                "now": new_value,
                "difference": _difference(old_value, new_value),
                "changes": changes,
            }
        )
    return out
