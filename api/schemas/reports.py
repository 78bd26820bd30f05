"""Reports: the indicators for a period, their breakdowns and plan against actual; drill-downs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Part(BaseModel):
    key: str
    name: str
    value: float | int | None


class Figure(BaseModel):
    key: str = Field(description="分组键；_none 表示未登记/未归入")
    label: str
    value: float | int | None
    parts: list[Part] | None = Field(
        None,
        description="比率和中位数在这一组的分子和分母（或样本数 n）；其他指标没有这一项",
        exclude_if=lambda parts: parts is None,
    )


class IndicatorFigure(BaseModel):
    key: str
    name: str
    definition: str = Field(description="指标口径，随数字一起展示")
    unit: str
    value: float | int | None = Field(description="比率在分母为 0 时为空")
    parts: list[Part] = Field(description="同一批数据的分项，如成人/儿童、借阅人数/户数")
    project_scoped: bool = Field(description="false：社区整体数据，不按项目区分")
    plan: float | None = Field(None, description="截至今天的计划值（指定项目且设了目标时）")
    target_total: float | None = Field(None, description="整个合同期的目标")
    percent: float | None = Field(None, description="实际占计划的百分比")
    breakdowns: dict[str, list[Figure]]


class NamedKey(BaseModel):
    key: str
    name: str


class ProjectBrief(BaseModel):
    id: int
    name: str
    funder: str
    starts_on: str
    ends_on: str
    grain: str


class CommunityBrief(BaseModel):
    id: int
    name: str


class Report(BaseModel):
    community: CommunityBrief
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    as_of: str = Field(description="数据截至的日期（社区本地）")
    generated_at: str
    project: ProjectBrief | None
    months: list[str]
    breakdowns: list[NamedKey]
    indicators: list[IndicatorFigure]

    model_config = {"populate_by_name": True}


class IndicatorDefinition(BaseModel):
    key: str
    name: str
    definition: str
    unit: str
    breakdowns: list[NamedKey]
    project_scoped: bool
    targetable: bool


class IndicatorBrief(BaseModel):
    key: str
    name: str
    definition: str
    unit: str


class ReportRows(BaseModel):
    indicator: IndicatorBrief
    value: float | int | None
    breakdown: str | None
    group: str | None
    columns: list[NamedKey]
    rows: list[dict[str, Any]]
    total_rows: int
    truncated: bool
