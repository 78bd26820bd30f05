"""A community's report for a period (and optionally one service project): every indicator of
the registry with its definition, its breakdowns, and against the project's targets the plan to
date and the percentage reached; and the drill-down from a figure to the rows it counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, ProjectTarget, ServiceProject, User
from api.errors import NotFound, invalid_field
from api.services.access import require_staff_hidden
from api.services.reports import facts as facts_module
from api.services.reports import projects
from api.services.reports.facts import (
    ConcernRow,
    DecisionRow,
    Facts,
    FollowUpRow,
    Held,
    LoanRow,
    MeetingRow,
    Notice,
    OpenDay,
    PollRow,
    ResolvedRow,
    ServiceRow,
    SurveyResponseRow,
    VerdictRow,
    Visit,
)
from api.services.reports.labels import (
    CONCERN_CATEGORY_LABELS,
    CONCERN_STATUS_LABELS,
    DECISION_METHOD_LABELS,
    FOLLOW_UP_STATUS_LABELS,
    MEETING_KIND_LABELS,
    MEETING_STATUS_LABELS,
    SERVICE_TYPE_LABELS,
    VERDICT_LABELS,
)
from api.services.reports.periods import Span, month_span, parse_period, span
from api.services.reports.registry import (
    AGE_GROUP_LABELS,
    BREAKDOWNS,
    INDICATORS,
    Indicator,
    group,
    items,
    label,
    sort_keys,
)
from api.services.votes.common import ELECTORATE_LABELS, SURVEY_CHANNEL_LABELS

NONE_KEY = "_none"
MAX_ROWS = 500


async def project_of(session: AsyncSession, community: Community, project_id: int) -> ServiceProject:
    """A project covering the community, as its staff see it; any other is not found."""
    project = await projects.covering_project(session, project_id, community.id)
    if project is None:
        raise NotFound("project_not_found", "没有找到这个服务项目")
    return project


async def require_report_staff(session: AsyncSession, user: User, community_id: int) -> Community:
    """Reports are for the community's staff only: a resident is refused (403); anyone else is told
    the community does not exist (404), staff of another community included."""
    community, _role = await require_staff_hidden(session, user, community_id, "只有社区工作人员可以查看服务数据")
    return community


async def definitions(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The registry as staff read it: each indicator's name, definition, unit and breakdowns."""
    await require_report_staff(session, user, community_id)
    return [
        {
            "key": i.key,
            "name": i.name,
            "definition": i.definition,
            "unit": i.unit,
            "breakdowns": [{"key": b, "name": BREAKDOWNS[b]} for b in i.breakdowns],
            "project_scoped": i.project_scoped,
            "targetable": i.targetable,
        }
        for i in INDICATORS.values()
    ]


async def default_period(
    session: AsyncSession, user: User, community_id: int, first: date | None, last: date | None
) -> tuple[date, date]:
    """The period asked for; without one, this month (community time); with only a start, up to
    today (or that month's end, for a start in the future); with only an end, from its month's start."""
    community = await require_report_staff(session, user, community_id)
    today = clock.now().astimezone(ZoneInfo(community.timezone)).date()
    this_month = month_span(today.year, today.month)
    if first is None and last is None:
        return this_month.first, this_month.last
    if first is None:
        assert last is not None
        return last.replace(day=1), last
    if last is None:
        return first, today if first <= today else month_span(first.year, first.month).last
    return first, last


def group_by_of(text: str | None) -> tuple[str, ...]:
    if not text:
        return tuple(BREAKDOWNS)
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if [part for part in chosen if part not in BREAKDOWNS]:
        names = "、".join(BREAKDOWNS.values())
        raise invalid_field("group_by", f"有不认识的细分维度，可选：{names}", kind="breakdown_unknown", source="query")
    return chosen


async def load(
    session: AsyncSession, user: User, community_id: int, first: date, last: date, project_id: int | None
) -> tuple[Community, ServiceProject | None, Facts]:
    community = await require_report_staff(session, user, community_id)
    period = span(first, last)
    project = await project_of(session, community, project_id) if project_id is not None else None
    return community, project, await facts_module.load(session, community, period, project_id)


async def build_with_facts(
    session: AsyncSession, user: User, community_id: int, period_from: date, period_to: date, project_id: int | None
) -> tuple[dict[str, Any], Facts]:
    """The report and the facts it was made from, for a page that shows more of the same period
    (each project's progress, the adjustments of submissions within it) without reading again."""
    community, project, facts = await load(session, user, community_id, period_from, period_to, project_id)
    targets = await _targets(session, community.id, project) if project is not None else {}
    return compose(facts, project, targets), facts


async def project_progress(
    session: AsyncSession, facts: Facts, projects: Sequence[ServiceProject]
) -> list[dict[str, Any]]:
    """Each project's report for the facts' period, from the community's facts (loaded for no
    project): its indicators against plan. The caller has authorised."""
    out = []
    for project in projects:
        if project.starts_on <= facts.span.last and project.ends_on >= facts.span.first:
            targets = await _targets(session, facts.community.id, project)
            of_project = compose(facts_module.restrict(facts, facts.span, project.id), project, targets, ())
            out.append({"project": project, "rows": [e for e in of_project["indicators"] if e.get("plan") is not None]})
    return out


async def build(
    session: AsyncSession,
    user: User,
    community_id: int,
    period_from: date,
    period_to: date,
    project_id: int | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """The report (staff of the community only): JSON-ready, dates as ISO text, so that a
    submitted period can keep exactly this."""
    breakdowns = group_by_of(group_by)
    community, project, facts = await load(session, user, community_id, period_from, period_to, project_id)
    targets = await _targets(session, community.id, project) if project is not None else {}
    return compose(facts, project, targets, breakdowns)


def compose(
    facts: Facts,
    project: ServiceProject | None,
    targets: dict[tuple[str, str], float],
    breakdowns: Sequence[str] = tuple(BREAKDOWNS),
) -> dict[str, Any]:
    today = facts.now.astimezone(facts.tz).date()
    indicators = []
    # indicators counting the same facts share their rows and each breakdown's groups
    sources: dict[str, Sequence[Any]] = {}
    grouped: dict[tuple[str, str], dict[str | None, list[Any]]] = {}
    for indicator in INDICATORS.values():
        if indicator.source not in sources:
            sources[indicator.source] = items(facts, indicator.source)
        rows = sources[indicator.source]
        entry: dict[str, Any] = {
            "key": indicator.key,
            "name": indicator.name,
            "definition": indicator.definition,
            "unit": indicator.unit,
            "value": indicator.measure(facts, rows),
            "parts": [{"key": k, "name": n, "value": m(facts, rows)} for k, n, m in indicator.parts],
            "project_scoped": indicator.project_scoped,
            "plan": None,
            "target_total": None,
            "percent": None,
            "breakdowns": {},
        }
        if project is not None and indicator.targetable:
            entry.update(_against_plan(indicator, entry["value"], project, targets, facts.span, today))
        for breakdown in breakdowns:
            if breakdown not in indicator.breakdowns:
                continue
            if (indicator.source, breakdown) not in grouped:
                grouped[indicator.source, breakdown] = group(facts, indicator, breakdown, rows)
            groups = grouped[indicator.source, breakdown]
            entry["breakdowns"][breakdown] = [
                _figure(facts, indicator, breakdown, key, groups.get(key, []))
                for key in sort_keys(breakdown, list(groups), facts)
            ]
        indicators.append(entry)
    return {
        "community": {"id": facts.community.id, "name": facts.community.name},
        "from": facts.span.first.isoformat(),
        "to": facts.span.last.isoformat(),
        "as_of": today.isoformat(),
        "generated_at": facts.now.astimezone(facts.tz).isoformat(),
        "project": None if project is None else project_view(project),
        "months": facts.span.months(),
        "breakdowns": [{"key": b, "name": BREAKDOWNS[b]} for b in breakdowns],
        "indicators": indicators,
    }


def _figure(facts: Facts, indicator: Indicator, breakdown: str, key: str | None, rows: Sequence[Any]) -> dict[str, Any]:
    """One group of a breakdown; a rate's (or a median's) with its numerator and denominator."""
    figure: dict[str, Any] = {
        "key": NONE_KEY if key is None else key,
        "label": label(facts, breakdown, key),
        "value": indicator.measure(facts, rows),
    }
    if indicator.parts_per_group:
        figure["parts"] = [{"key": k, "name": n, "value": m(facts, rows)} for k, n, m in indicator.parts]
    return figure


def project_view(project: ServiceProject) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "funder": project.funder,
        "starts_on": project.starts_on.isoformat(),
        "ends_on": project.ends_on.isoformat(),
        "grain": project.grain,
    }


async def _targets(session: AsyncSession, community_id: int, project: ServiceProject) -> dict[tuple[str, str], float]:
    rows = await session.execute(
        select(ProjectTarget.indicator, ProjectTarget.period, ProjectTarget.value).where(
            ProjectTarget.project_id == project.id, ProjectTarget.community_id == community_id
        )
    )
    return {(indicator, period): float(value) for indicator, period, value in rows.all()}


def _against_plan(
    indicator: Indicator,
    actual: float | int | None,
    project: ServiceProject,
    targets: dict[tuple[str, str], float],
    period: Span,
    today: date,
) -> dict[str, Any]:
    """The plan for the part of the period that has passed (up to today, inside the contract):
    the month's or quarter's targets, a partly passed one in proportion to its days; without
    those, the whole contract's target in proportion to the contract's days."""
    contract = Span(project.starts_on, project.ends_on)
    total = targets.get((indicator.key, "total"))
    by_grain = {p: v for (key, p), v in targets.items() if key == indicator.key and p != "total"}
    to_date = period.clip(Span(period.first, max(period.first, today))) if period.first <= today else None
    to_date = to_date.clip(contract) if to_date is not None else None
    plan: float | None = None
    if by_grain:
        plan = 0.0
        for key, value in by_grain.items():
            whole = parse_period(key)
            part = whole.clip(to_date) if to_date is not None else None
            if part is not None:
                plan += value * part.days() / whole.days()
    elif total is not None:
        plan = total * (to_date.days() / contract.days()) if to_date is not None else 0.0
    if plan is None:
        return {"plan": None, "target_total": total, "percent": None}
    percent = round(100 * float(actual or 0) / plan, 1) if plan else None
    return {"plan": round(plan, 1), "target_total": total, "percent": percent}


# -- drill-down ---------------------------------------------------------------------------------


async def drill(
    session: AsyncSession,
    user: User,
    community_id: int,
    period_from: date,
    period_to: date,
    indicator_key: str,
    project_id: int | None = None,
    breakdown: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """The rows a figure counts: which activities, which people, which loans… (children among
    them are shown, as everything here is for the community's staff only)."""
    indicator = INDICATORS.get(indicator_key)
    if indicator is None or not indicator.drill:
        raise invalid_field("indicator", "没有可以展开明细的这个指标", kind="indicator_unknown", source="query")
    if breakdown is not None and breakdown not in indicator.breakdowns:
        raise invalid_field("breakdown", f"{indicator.name}不按这个维度细分", kind="breakdown_unknown", source="query")
    if key is not None and breakdown is None:
        raise invalid_field("breakdown", "给出分组时也要给出细分维度", kind="breakdown_required", source="query")
    _community, _project, facts = await load(session, user, community_id, period_from, period_to, project_id)
    rows = items(facts, indicator.source)
    if breakdown is not None and key is not None:
        rows = group(facts, indicator, breakdown, rows).get(None if key == NONE_KEY else key, [])
    columns, shown = _rows(facts, indicator, rows)
    return {
        "indicator": {
            "key": indicator.key,
            "name": indicator.name,
            "definition": indicator.definition,
            "unit": indicator.unit,
        },
        "value": indicator.measure(facts, rows),
        "breakdown": breakdown,
        "group": None
        if key is None or breakdown is None
        else label(facts, breakdown, None if key == NONE_KEY else key),
        "columns": [{"key": k, "name": n} for k, n in columns],
        "rows": shown[:MAX_ROWS],
        "total_rows": len(shown),
        "truncated": len(shown) > MAX_ROWS,
    }


def _rows(
    facts: Facts, indicator: Indicator, rows: Sequence[Any]
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    held = {h.id: h for h in facts.held}
    if indicator.source == "held":
        return [
            ("activity_id", "活动编号"),
            ("start", "开始时间"),
            ("title", "活动"),
            ("category", "类别"),
            ("service_type", "服务类型"),
            ("checkins", "签到人次"),
        ], [
            {
                "activity_id": h.id,
                "start": h.start.strftime("%Y-%m-%d %H:%M"),
                "title": h.title,
                "category": label(facts, "category", h.category),
                "service_type": label(facts, "service_type", h.service_type),
                "checkins": h.checkins,
            }
            for h in rows
            if isinstance(h, Held)
        ]
    if indicator.key == "service_visits":
        return [
            ("at", "签到时间"),
            ("activity", "活动"),
            ("name", "姓名"),
            ("building", "楼栋"),
            ("age_group", "成人/儿童"),
        ], [
            {
                "at": v.at.strftime("%Y-%m-%d %H:%M"),
                "activity": held[v.activity_id].title,
                "activity_id": v.activity_id,
                "name": v.name,
                "building": v.building,
                "age_group": AGE_GROUP_LABELS[v.age_group],
                "child": v.age_group == "child",
            }
            for v in rows
            if isinstance(v, Visit)
        ]
    if indicator.source in ("visits", "new"):
        people: dict[str, dict[str, Any]] = {}
        for v in rows:
            entry = people.setdefault(
                v.person,
                {
                    "name": v.name,
                    "building": v.building,
                    "age_group": AGE_GROUP_LABELS[v.age_group],
                    "child": v.age_group == "child",
                    "household_id": v.household_id,
                    "visits": 0,
                    "first_visit": facts.first_visit[v.person].strftime("%Y-%m-%d"),
                },
            )
            entry["visits"] += 1
        return [
            ("name", "姓名"),
            ("building", "楼栋"),
            ("age_group", "成人/儿童"),
            ("visits", "统计期内签到次数"),
            ("first_visit", "首次签到"),
        ], sorted(people.values(), key=lambda p: (p["building"], p["name"]))
    if indicator.source == "loans":
        return [("at", "借出时间"), ("title", "书名"), ("name", "借阅人"), ("building", "楼栋")], [
            {
                "at": loan.at.strftime("%Y-%m-%d %H:%M"),
                "title": loan.title,
                "name": loan.name,
                "building": loan.building,
                "child": loan.age_group == "child",
            }
            for loan in rows
            if isinstance(loan, LoanRow)
        ]
    if indicator.source == "services":
        return [
            ("day", "服务日期"),
            ("name", "志愿者"),
            ("service", "服务内容"),
            ("hours", "时长（小时）"),
            ("service_type", "服务类型"),
        ], [
            {
                "record_id": s.id,
                "day": s.day.isoformat(),
                "name": s.name,
                "service": s.service,
                "hours": round(s.minutes / 60, 2),
                "service_type": SERVICE_TYPE_LABELS.get(s.service_type or "", "未分类"),
            }
            for s in rows
            if isinstance(s, ServiceRow)
        ]
    if indicator.source == "notices":
        return [
            ("at", "发布时间"),
            ("title", "通知"),
            ("recipients", "送达人数"),
            ("households", "送达户数"),
            ("readers", "已读人数"),
        ], [
            {
                "announcement_id": n.id,
                "at": n.at.strftime("%Y-%m-%d %H:%M"),
                "title": n.title,
                "recipients": n.recipients,
                "households": len(n.households),
                "readers": n.readers,
            }
            for n in rows
            if isinstance(n, Notice)
        ]
    if indicator.source in GOVERNANCE_ROWS:
        return GOVERNANCE_ROWS[indicator.source](rows)
    return [("day", "日期"), ("hours", "开放小时")], [
        {"day": d.day.isoformat(), "hours": round(d.minutes / 60, 1)} for d in rows if isinstance(d, OpenDay)
    ]


# -- governance's rows ---------------------------------------------------------------------------

Columns = list[tuple[str, str]]
Rows = list[dict[str, Any]]
MINUTE = "%Y-%m-%d %H:%M"


def _when(at: Any) -> str:
    return "" if at is None else str(at.strftime(MINUTE))


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _status(c: ConcernRow) -> str:
    """Its state, and how it ended once closed: 已关闭（已解决）."""
    status = CONCERN_STATUS_LABELS.get(c.status, c.status)
    if c.status == "closed" and c.outcome:
        status += f"（{CONCERN_STATUS_LABELS.get(c.outcome, c.outcome)}）"
    return status


def _concern(c: ConcernRow) -> dict[str, Any]:
    return {
        "concern_id": c.id,
        "at": _when(c.at),
        "title": c.title,
        "category": CONCERN_CATEGORY_LABELS.get(c.category, c.category),
        "building": c.building,
        "raiser": c.raiser + ("（对居民隐藏姓名）" if c.hide_name else ""),
        "status": _status(c),
        "level": "" if c.level is None else f"{c.level}级",
        "accept_by": _when(c.accept_by),
        "responded_at": _when(c.responded_at),
        "in_time": _yes(c.in_time),
        "resolved": _yes(c.outcome == "resolved"),
        "reopened": c.reopen_count,
    }


CONCERN_COLUMNS: Columns = [
    ("at", "提出时间"),
    ("title", "烦心事"),
    ("category", "类别"),
    ("building", "楼栋"),
    ("raiser", "提出人"),
    ("status", "状态"),
]


RowsOf = Callable[[Sequence[Any]], tuple[Columns, Rows]]


def _concern_rows(columns: Columns) -> RowsOf:
    def rows_of(rows: Sequence[Any]) -> tuple[Columns, Rows]:
        return columns, [_concern(c) for c in rows if isinstance(c, ConcernRow)]

    return rows_of


def _resolved_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("raised", "提出时间"),
        ("at", "解决时间"),
        ("days", "用时（天）"),
        ("title", "烦心事"),
        ("category", "类别"),
        ("building", "楼栋"),
        ("reopened", "重新办理次数"),
    ], [
        {
            "concern_id": r.id,
            "raised": _when(r.raised),
            "at": _when(r.at),
            "days": round(r.days, 1),
            "title": r.title,
            "category": CONCERN_CATEGORY_LABELS.get(r.category, r.category),
            "building": r.building,
            "reopened": r.reopen_count,
        }
        for r in rows
        if isinstance(r, ResolvedRow)
    ]


def _verdict_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("at", "评价时间"),
        ("title", "烦心事"),
        ("name", "评价人"),
        ("answer", "是否解决"),
        ("stars", "星级"),
        ("satisfied", "满意（4–5 星）"),
        ("round", "第几轮"),
    ], [
        {
            "verdict_id": v.id,
            "concern_id": v.concern_id,
            "at": _when(v.at),
            "title": v.title,
            "name": v.name + ("（提出人）" if v.raiser else ""),
            "answer": VERDICT_LABELS.get(v.answer, v.answer),
            "stars": v.stars,
            "satisfied": _yes(v.stars >= 4),
            "round": v.round + 1,
        }
        for v in rows
        if isinstance(v, VerdictRow)
    ]


def _meeting_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("start", "开始时间"),
        ("title", "议事会"),
        ("kind", "类型"),
        ("place", "地点"),
        ("present", "到会（签到/参会人）"),
        ("walkins", "未用小程序的到会人数"),
        ("decisions", "决议"),
        ("status", "状态"),
    ], [
        {
            "meeting_id": m.id,
            "start": _when(m.start),
            "title": m.title,
            "kind": MEETING_KIND_LABELS.get(m.kind, m.kind),
            "place": m.place,
            "present": f"{m.present}/{m.participants}",
            "walkins": m.walkins,
            "decisions": m.decisions,
            "status": MEETING_STATUS_LABELS.get(m.status, m.status),
        }
        for m in rows
        if isinstance(m, MeetingRow)
    ]


def _decision_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("start", "议事会时间"),
        ("meeting", "议事会"),
        ("text", "决议"),
        ("method", "形成方式"),
        ("follow_ups", "跟进事项"),
    ], [
        {
            "decision_id": d.id,
            "meeting_id": d.meeting_id,
            "start": _when(d.start),
            "meeting": d.meeting,
            "text": d.text,
            "method": DECISION_METHOD_LABELS.get(d.method, d.method)
            + ("" if d.votes is None else "（赞成 {} · 反对 {} · 弃权 {}）".format(*d.votes)),
            "follow_ups": d.follow_ups,
        }
        for d in rows
        if isinstance(d, DecisionRow)
    ]


def _follow_up_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("due_on", "到期日"),
        ("title", "跟进事项"),
        ("owner", "负责"),
        ("meeting", "议事会"),
        ("status", "状态"),
        ("done_on", "完成日期"),
        ("on_time", "按时完成"),
    ], [
        {
            "follow_up_id": f.id,
            "due_on": f.due_on.isoformat(),
            "title": f.title,
            "owner": f.owner,
            "meeting": f.meeting,
            "status": FOLLOW_UP_STATUS_LABELS.get(f.status, f.status),
            "done_on": "" if f.done_on is None else f.done_on.isoformat(),
            "on_time": _yes(f.on_time),
        }
        for f in rows
        if isinstance(f, FollowUpRow)
    ]


def _poll_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    return [
        ("closes", "截止时间"),
        ("title", "投票或选举"),
        ("standing", "性质"),
        ("electorate", "选民"),
        ("electors", "名册"),
        ("participants", "参与"),
        ("turnout", "参与率"),
    ], [
        {
            "poll_id": p.id,
            "closes": _when(p.closes),
            "title": p.title,
            "standing": p.standing,
            "electorate": ELECTORATE_LABELS.get(p.electorate, p.electorate),
            "electors": p.electors,
            "participants": p.participants,
            "turnout": "" if not p.electors else f"{100 * p.participants / p.electors:.1f}%",
        }
        for p in rows
        if isinstance(p, PollRow)
    ]


def _survey_response_rows(rows: Sequence[Any]) -> tuple[Columns, Rows]:
    """By questionnaire and day, never one row per response: an anonymous response has nothing to
    show, and a list of single answers by time would only help guess whose each was."""
    counted: dict[tuple[int, str, Any, str], int] = {}
    for r in rows:
        if isinstance(r, SurveyResponseRow):
            key = (r.survey_id, r.survey, r.day, r.channel)
            counted[key] = counted.get(key, 0) + 1
    return [
        ("day", "日期"),
        ("survey", "问卷"),
        ("channel", "方式"),
        ("responses", "份数"),
    ], [
        {
            "survey_id": survey_id,
            "day": day.isoformat(),
            "survey": title,
            "channel": SURVEY_CHANNEL_LABELS.get(channel, channel),
            "responses": n,
        }
        for (survey_id, title, day, channel), n in sorted(
            counted.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][3])
        )
    ]


GOVERNANCE_ROWS: dict[str, RowsOf] = {
    "concerns": _concern_rows([*CONCERN_COLUMNS, ("level", "分级")]),
    "responses": _concern_rows(
        [*CONCERN_COLUMNS[:5], ("accept_by", "答复时限"), ("responded_at", "答复时间"), ("in_time", "按时答复")]
    ),
    "resolution": _concern_rows([*CONCERN_COLUMNS, ("resolved", "已解决"), ("reopened", "重新办理次数")]),
    "resolved": _resolved_rows,
    "verdicts": _verdict_rows,
    "meetings": _meeting_rows,
    "decisions": _decision_rows,
    "follow_ups": _follow_up_rows,
    "polls": _poll_rows,
    "survey_responses": _survey_response_rows,
}


async def projects_of(session: AsyncSession, user: User, community_id: int) -> list[ServiceProject]:
    """The projects covering the community (its staff only), the one ending last first."""
    community = await require_report_staff(session, user, community_id)
    return await projects.of_community(session, community.id)


def presets(today: date, projects: Sequence[ServiceProject]) -> list[tuple[str, date, date]]:
    """The periods staff ask for most: this month, last month, this quarter, last quarter, this
    year, and each project's whole contract."""
    this_month = month_span(today.year, today.month)
    last_month = month_span(*((today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)))
    quarter = (today.month - 1) // 3 + 1
    this_quarter = parse_period(f"{today.year}-Q{quarter}")
    last_quarter = parse_period(f"{today.year}-Q{quarter - 1}" if quarter > 1 else f"{today.year - 1}-Q4")
    out = [
        ("本月", this_month.first, this_month.last),
        ("上月", last_month.first, last_month.last),
        ("本季度", this_quarter.first, this_quarter.last),
        ("上季度", last_quarter.first, last_quarter.last),
        ("今年", date(today.year, 1, 1), date(today.year, 12, 31)),
    ]
    out += [(f"{p.name}全期", p.starts_on, p.ends_on) for p in projects]
    return out
