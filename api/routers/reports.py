"""Reports for funders (staff): the indicators of a period, the rows behind a figure, exports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import CurrentUser, IdPath, SessionDep
from api.pagination import MAX_ID
from api.schemas.reports import IndicatorDefinition, Report, ReportRows
from api.services.reports import exports, report
from api.services.reports.registry import BREAKDOWNS

router = APIRouter(tags=["reports"])

From = Annotated[
    date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31), description="开始日期，默认本月 1 日")
]
To = Annotated[
    date | None,
    Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31), description="结束日期（含），默认本月最后一天"),
]
ProjectQuery = Annotated[int | None, Query(alias="project", ge=1, le=MAX_ID, description="只统计这个服务项目")]


@router.get(
    "/communities/{community_id}/reports/indicators",
    response_model=list[IndicatorDefinition],
    summary="指标口径（社工）",
)
async def indicators(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[IndicatorDefinition]:
    return [IndicatorDefinition(**d) for d in await report.definitions(session, user, community_id)]


@router.get(
    "/communities/{community_id}/reports",
    response_model=Report,
    summary="服务数据（社工）",
    description="统计期内的全部指标、口径和细分；指定服务项目时给出截至今天的计划值和完成百分比。",
)
async def get_report(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    period_from: From = None,
    period_to: To = None,
    project_id: ProjectQuery = None,
    group_by: Annotated[
        str | None, Query(max_length=128, description="细分维度，逗号分隔：" + "、".join(BREAKDOWNS))
    ] = None,
) -> Report:
    first, last = await report.default_period(session, user, community_id, period_from, period_to)
    return Report.model_validate(await report.build(session, user, community_id, first, last, project_id, group_by))


@router.get(
    "/communities/{community_id}/reports/rows",
    response_model=ReportRows,
    summary="指标明细（社工）",
    description="一个数字背后计入的活动、人员或记录；可按某个细分维度的分组（key 为 _none 表示未登记）。",
)
async def report_rows(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    indicator: Annotated[str, Query(max_length=32)],
    period_from: From = None,
    period_to: To = None,
    project_id: ProjectQuery = None,
    breakdown: Annotated[str | None, Query(max_length=32)] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> ReportRows:
    first, last = await report.default_period(session, user, community_id, period_from, period_to)
    return ReportRows.model_validate(
        await report.drill(session, user, community_id, first, last, indicator, project_id, breakdown, key)
    )


@router.get(
    "/communities/{community_id}/reports/export",
    summary="导出服务数据（XLSX 或 CSV，社工）",
    description="XLSX：总表、每个细分维度一张表和指标口径表；CSV（UTF-8 带 BOM）：总表，或 breakdown 指定的细分表。",
    response_class=Response,
    responses={200: {"content": {exports.XLSX: {}, exports.CSV: {}}}},
)
async def export(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    period_from: From = None,
    period_to: To = None,
    project_id: ProjectQuery = None,
    format: Annotated[Literal["xlsx", "csv"], Query()] = "xlsx",
    breakdown: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    first, last = await report.default_period(session, user, community_id, period_from, period_to)
    data, media_type, filename = await exports.export(
        session, user, community_id, first, last, project_id, format, breakdown
    )
    return Response(data, media_type=media_type, headers={"Content-Disposition": exports.disposition(filename)})
