"""The report as funders' templates take it: an XLSX workbook (an overview, one sheet per
breakdown, a sheet of definitions) or a CSV of one of those sheets (UTF-8 with a BOM)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import User
from api.documents import attachment
from api.documents.csvfile import csv_bytes
from api.documents.xlsx import Sheet, workbook
from api.errors import invalid_field
from api.services.reports import report
from api.services.reports.periods import month_span, parse_period
from api.services.reports.registry import BREAKDOWNS, INDICATORS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def disposition(filename: str) -> str:
    return attachment(filename, "report" + filename[filename.rindex(".") :])


def _number(value: Any) -> Any:
    return "" if value is None else value


def overview(data: dict[str, Any]) -> Sheet:
    with_plan = data["project"] is not None
    headers = ["指标", "数值", "单位", "分项"]
    if with_plan:
        headers += ["截至今天计划", "完成百分比（%）", "合同期目标"]
    headers += ["口径"]
    rows = []
    for entry in data["indicators"]:
        parts = "；".join(f"{p['name']} {_number(p['value'])}" for p in entry["parts"])
        if not entry["project_scoped"] and with_plan:
            parts = (parts + "；" if parts else "") + "社区整体，不分项目"
        row: list[Any] = [entry["name"], _number(entry["value"]), entry["unit"], parts]
        if with_plan:
            row += [_number(entry.get("plan")), _number(entry.get("percent")), _number(entry.get("target_total"))]
        row.append(entry["definition"])
        rows.append(row)
    widths = [16, 10, 8, 30] + ([14, 16, 12] if with_plan else []) + [60]
    return Sheet("总表", headers, rows, widths)


def breakdown_sheet(data: dict[str, Any], breakdown: str, with_parts: bool = False) -> Sheet:
    """Rows: the breakdown's groups; columns: the indicators that support it — with `with_parts`
    (the exports), a rate's or a median's figure followed by its numerator and denominator (or n)
    in the next columns. Without it (the dashboard's table, whose every cell opens its rows),
    one column per indicator."""
    entries = [e for e in data["indicators"] if breakdown in e["breakdowns"]]
    labels: dict[str, str] = {}
    values: dict[str, dict[tuple[str, str | None], Any]] = {}
    columns: list[tuple[str, str | None, str]] = []  # (indicator, part or None, header)
    for entry in entries:
        columns.append((entry["key"], None, f"{entry['name']}（{entry['unit']}）"))
        figures = entry["breakdowns"][breakdown]
        if with_parts and figures and figures[0].get("parts") is not None:
            columns += [(entry["key"], p["key"], f"{entry['name']}：{p['name']}") for p in figures[0]["parts"]]
        for figure in figures:
            labels.setdefault(figure["key"], figure["label"])
            cells = values.setdefault(figure["key"], {})
            cells[entry["key"], None] = figure["value"]
            for part in figure.get("parts") or ():
                cells[entry["key"], part["key"]] = part["value"]
    headers = [BREAKDOWNS[breakdown]] + [header for _key, _part, header in columns]
    rows = [[labels[key]] + [_number(values[key].get((k, p))) for k, p, _h in columns] for key in labels]
    return Sheet(f"按{BREAKDOWNS[breakdown]}".replace("/", "与"), headers, rows, [18] + [12] * len(columns))


def definitions_sheet() -> Sheet:
    rows = [
        [
            i.name,
            i.unit,
            i.definition,
            "、".join(BREAKDOWNS[b] for b in i.breakdowns),
            "是" if i.project_scoped else "否（社区整体）",
        ]
        for i in INDICATORS.values()
    ]
    return Sheet("指标口径", ["指标", "单位", "口径", "可细分", "按项目统计"], rows, [16, 8, 70, 40, 14])


def title_of(data: dict[str, Any]) -> str:
    scope = data["project"]["name"] if data["project"] else data["community"]["name"]
    return f"服务数据-{scope}-{data['from']}至{data['to']}"


def sheets(data: dict[str, Any]) -> list[Sheet]:
    used = [b["key"] for b in data["breakdowns"]]
    return [overview(data), *(breakdown_sheet(data, b, with_parts=True) for b in used), definitions_sheet()]


async def export(
    session: AsyncSession,
    user: User,
    community_id: int,
    first: date,
    last: date,
    project_id: int | None,
    format: str,
    breakdown: str | None,
) -> tuple[bytes, str, str]:
    if breakdown is not None and breakdown not in BREAKDOWNS:
        raise invalid_field("breakdown", "没有这个细分维度", kind="breakdown_unknown", source="query")
    data = await report.build(session, user, community_id, first, last, project_id)
    name = title_of(data)
    if format == "csv":
        sheet = breakdown_sheet(data, breakdown, with_parts=True) if breakdown else overview(data)
        return csv_bytes(sheet.headers, sheet.rows), CSV, f"{name}.csv"
    # a year's workbook takes a moment to write: off the event loop, which other requests share
    return await asyncio.to_thread(workbook, sheets(data)), XLSX, f"{name}.xlsx"


async def month_workbook(session: AsyncSession, user: User, community_id: int, month: str) -> bytes:
    """The month's indicator sheet for the record book (the whole community)."""
    period = parse_period(month, field="month")
    whole = month_span(period.first.year, period.first.month)
    data = await report.build(session, user, community_id, whole.first, whole.last)
    return await asyncio.to_thread(workbook, sheets(data))
