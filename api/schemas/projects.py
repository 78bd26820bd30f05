"""Service projects (服务项目), their targets, and activity summaries (活动总结)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Day, Id, Input, Timestamp

# 社区活动 / 小组活动 / 个案 / 志愿服务 / 议事协商 / 培训 / 其他 (api.db.models.reports.SERVICE_TYPES)
ServiceType = Literal["community", "group", "casework", "volunteering", "deliberation", "training", "other"]
Grain = Literal["month", "quarter"]

# "total", a month "2026-09" or a quarter "2026-Q3"
TargetPeriod = Annotated[
    str, Field(min_length=5, max_length=8, pattern=r"^(total|\d{4}-(0[1-9]|1[0-2])|\d{4}-Q[1-4])$")
]
IndicatorKey = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=64, description="项目名称，如 B社区儿童友好空间运营项目")
    funder: str = Field(min_length=1, max_length=64, description="购买方，如 某街道办事处、区民政局")
    starts_on: Day = Field(description="合同开始日期")
    ends_on: Day = Field(description="合同结束日期（含）")
    grain: Grain = Field(default="month", description="分期目标按月（month）还是按季度（quarter）")
    description: str = Field(default="", max_length=2000)
    community_ids: list[Id] = Field(
        default=[],
        max_length=20,
        description="项目还覆盖的其他社区（创建者须是这些社区的工作人员）；路径中的社区总是覆盖",
    )


class ProjectUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    funder: str | None = Field(default=None, min_length=1, max_length=64)
    starts_on: Day | None = None
    ends_on: Day | None = None
    grain: Grain | None = Field(default=None, description="改分期方式或缩短合同期时，已有的不再适用的分期目标须先清除")
    description: str | None = Field(default=None, max_length=2000)


class ProjectCommunityRead(BaseModel):
    id: int
    name: str


class ProjectRead(BaseModel):
    id: int
    name: str
    funder: str
    starts_on: date
    ends_on: date
    grain: Grain
    description: str
    communities: list[ProjectCommunityRead] = Field(description="项目覆盖的社区")
    created_at: Timestamp
    updated_at: Timestamp


class TargetWrite(Input):
    indicator: IndicatorKey = Field(description="指标，如 service_visits（见 indicators）")
    period: TargetPeriod = Field(description="total（整个合同期）、某月 2026-09 或某季度 2026-Q3，与项目的分期方式一致")
    value: float | None = Field(default=None, ge=0, le=1_000_000_000, description="目标值；null：不设")


class TargetsWrite(Input):
    targets: list[TargetWrite] = Field(
        max_length=2000, description="本社区在该项目下的全部目标：没有列出的（或值为 null 的）被删除"
    )


class TargetRead(BaseModel):
    indicator: str
    period: str
    value: float
    updated_at: Timestamp


class IndicatorRef(BaseModel):
    key: str
    name: str
    unit: str
    definition: str = Field(description="指标口径")


class Targets(BaseModel):
    project_id: int
    community_id: int
    grain: Grain
    periods: list[str] = Field(description="可以设目标的期间：total 和合同期内的各月或各季度")
    indicators: list[IndicatorRef] = Field(description="可以设目标的指标")
    targets: list[TargetRead]


# -- activity summaries -----------------------------------------------------------------------------

SUMMARY_MAX = 2000


class SummaryWrite(Input):
    background: str = Field(default="", max_length=SUMMARY_MAX, description="背景")
    goals: str = Field(default="", max_length=SUMMARY_MAX, description="目标")
    process: str = Field(default="", max_length=SUMMARY_MAX, description="过程")
    participation: str = Field(default="", max_length=SUMMARY_MAX, description="参与情况")
    outcomes: str = Field(default="", max_length=SUMMARY_MAX, description="成效")
    reflection: str = Field(default="", max_length=SUMMARY_MAX, description="反思")


class SummaryField(BaseModel):
    label: str
    prompt: str = Field(description="提示：这一栏写什么")


class SummaryRead(BaseModel):
    activity_id: int
    written: bool = Field(description="已经写过（没写过时各栏为空，可按 template 的提示填写）")
    background: str
    goals: str
    process: str
    participation: str
    outcomes: str
    reflection: str
    updated_at: Timestamp | None
    updated_by: str | None = Field(description="最后修改的工作人员")
    template: dict[str, SummaryField] = Field(description="各栏的中文名称和填写提示")
