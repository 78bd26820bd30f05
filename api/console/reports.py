"""Service data (服务数据), the funders' dashboard: every indicator of a period with its
definition, a monthly trend, plan against actual per project, breakdown tables whose figures open
the rows they count, and the exports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from api.console import charts, web
from api.deps import IdPath
from api.errors import invalid_field
from api.pagination import MAX_ID
from api.services.activities import planning
from api.services.reports import exports, report, submissions
from api.services.reports.registry import BREAKDOWNS, INDICATORS

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

# a form's empty choice ("全部") arrives as project=
ProjectQuery = Annotated[str | None, Query(alias="project", max_length=20, pattern=r"^\d*$")]


def _project(text: str | None) -> int | None:
    if not text:
        return None
    if not 1 <= int(text) <= MAX_ID:
        raise invalid_field("project", "没有找到这个服务项目", kind="project_invalid", source="query")
    return int(text)


TREND_DEFAULT = "service_visits"


def _query(base: dict[str, Any] | None = None, **values: Any) -> str:
    merged = {**(base or {}), **values}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _trend(data: dict[str, Any], key: str) -> Any:
    entry = next(e for e in data["indicators"] if e["key"] == key)
    months = entry["breakdowns"].get("month", [])
    values = [round(float(f["value"] or 0)) for f in months]
    words = "；".join(f"{f['label']} {f['value'] if f['value'] is not None else '—'}" for f in months)
    return charts.grouped_bars(
        f"{entry['name']}（{entry['unit']}）按月",
        [f["label"].split("年")[-1] for f in months],
        [charts.Series(entry["name"], fill="#0b6e4f", stroke="#0b6e4f")],
        [values],
        description=f"{entry['name']}按月：{words}" if words else "没有数据",
    )


@router.get("/reports")
async def dashboard(
    request: Request,
    desk: web.DeskDep,
    period_from: Annotated[date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period_to: Annotated[date | None, Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    project_text: ProjectQuery = None,
    by: Annotated[str | None, Query(max_length=32)] = None,
    trend: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    project = _project(project_text)
    first, last = await report.default_period(session, user, cid, period_from, period_to)
    # one read of the period's facts serves the figures, each project's progress and the
    # adjustments of the submissions within it
    data, facts = await report.build_with_facts(session, user, cid, first, last, project)
    projects = await report.projects_of(session, user, cid)
    progress = await report.project_progress(session, facts, projects) if project is None else []
    submitted = await submissions.adjustments(session, user, cid, first, last, project, facts=facts)
    breakdown = by if by in BREAKDOWNS and by != "month" else "service_type"
    trend_key = trend if trend in INDICATORS and "month" in INDICATORS[trend].breakdowns else TREND_DEFAULT
    today = await planning.today(session, cid)
    base = f"{web.PREFIX}/c/{cid}/reports"
    here = {"from": data["from"], "to": data["to"], "project": project}
    return web.render(
        request,
        "reports/dashboard.html",
        {
            "data": data,
            "projects": projects,
            "progress": progress,
            "submitted": submitted,
            "submittable": submissions.submittable(
                today, first, last, next((p.grain for p in projects if p.id == project), "month")
            ),
            "breakdown": breakdown,
            "breakdowns": {k: v for k, v in BREAKDOWNS.items() if k != "month"},
            "table": exports.breakdown_sheet(data, breakdown),
            "table_keys": _keys(data, breakdown),
            "trend_key": trend_key,
            "trend_options": [(i.key, i.name) for i in INDICATORS.values() if "month" in i.breakdowns],
            "chart": _trend(data, trend_key),
            "presets": [(name, a, b) for name, a, b in report.presets(today, projects)],
            "drillable": {i.key for i in INDICATORS.values() if i.drill},
            "reports_url": base,
            "here": here,
            "q": _query,
        },
        desk=desk,
        nav="reports",
    )


def _keys(data: dict[str, Any], breakdown: str) -> list[tuple[str, list[str | None]]]:
    """Per row of the breakdown table: its group key, and per column the indicator it drills into."""
    entries = [e for e in data["indicators"] if breakdown in e["breakdowns"]]
    keys: dict[str, None] = {}
    for entry in entries:
        for figure in entry["breakdowns"][breakdown]:
            keys.setdefault(figure["key"])
    return [(key, [e["key"] if INDICATORS[e["key"]].drill else None for e in entries]) for key in keys]


@router.get("/reports/rows")
async def rows(
    request: Request,
    desk: web.DeskDep,
    indicator: Annotated[str, Query(max_length=32)],
    period_from: Annotated[date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period_to: Annotated[date | None, Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    project_text: ProjectQuery = None,
    breakdown: Annotated[str | None, Query(max_length=32)] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    project = _project(project_text)
    first, last = await report.default_period(session, user, cid, period_from, period_to)
    found = await report.drill(session, user, cid, first, last, indicator, project, breakdown, key)
    back = f"{web.PREFIX}/c/{cid}/reports?" + _query(
        {"from": first.isoformat(), "to": last.isoformat()}, project=project
    )
    return web.render(
        request,
        "reports/rows.html",
        {"found": found, "first": first, "last": last, "back": back},
        desk=desk,
        nav="reports",
    )


@router.get("/reports/export")
async def export(
    desk: web.DeskDep,
    period_from: Annotated[date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period_to: Annotated[date | None, Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    project_text: ProjectQuery = None,
    format: Annotated[Literal["xlsx", "csv"], Query()] = "xlsx",
    breakdown: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    project = _project(project_text)
    first, last = await report.default_period(session, user, cid, period_from, period_to)
    data, media_type, filename = await exports.export(session, user, cid, first, last, project, format, breakdown)
    return Response(data, media_type=media_type, headers={"Content-Disposition": exports.disposition(filename)})


@router.post("/reports/submissions", dependencies=[web.CsrfChecked])
async def submit(
    request: Request,
    desk: web.DeskDep,
    period: Annotated[str, Form(max_length=8)],
    project_text: Annotated[str, Form(alias="project", max_length=20, pattern=r"^\d*$")] = "",
    note: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Submit a month or quarter (of the community, or of a project): its figures are kept as they
    are now; the submission's page shows what changes afterwards."""
    done = await submissions.submit(
        desk.session, desk.viewer.user, desk.community.id, period, _project(project_text), note.strip()
    )
    return web.redirect(f"{web.PREFIX}/c/{desk.community.id}/reports/submissions/{done['id']}", request)


@router.get("/reports/submissions/{submission_id}")
async def submission(submission_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    found = await submissions.get_submission(desk.session, desk.viewer.user, submission_id, desk.community.id)
    back = f"{web.PREFIX}/c/{desk.community.id}/reports?" + _query(
        {"from": found["from"].isoformat(), "to": found["to"].isoformat()},
        project=found["project"]["id"] if found["project"] else None,
    )
    return web.render(request, "reports/submission.html", {"found": found, "back": back}, desk=desk, nav="reports")
