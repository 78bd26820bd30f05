"""Submitted periods (报送): the request to submit a month or quarter, the submission as listed,
and in full with its frozen figures and the adjustments since."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import Id, Input, Timestamp
from api.services.reports.periods import PERIOD_PATTERN

NOTE_MAX = 256

Number = float | int | None


class ReportSubmissionCreate(Input):
    period: str = Field(
        min_length=7,
        max_length=7,
        pattern=PERIOD_PATTERN,
        description="月份（2026-09）或季度（2026-Q3）；服务项目的须按项目的报送周期，且在合同期内",
    )
    project_id: Id | None = Field(None, description="服务项目；不填为整个社区")
    note: str = Field("", max_length=NOTE_MAX, description="备注（如报送给谁、补充说明）")


class SubmissionProject(BaseModel):
    id: int
    name: str


class Submitter(BaseModel):
    id: int
    name: str


class ReportSubmissionRead(BaseModel):
    id: int
    community_id: int
    period: str = Field(description="2026-09 或 2026-Q3")
    period_label: str = Field(description="2026年9月 或 2026年第三季度")
    from_: date = Field(alias="from", serialization_alias="from", description="统计期第一天")
    to: date = Field(description="统计期最后一天")
    project: SubmissionProject | None = Field(description="服务项目；空为整个社区")
    note: str
    submitted_at: Timestamp
    submitted_by: Submitter | None = Field(description="报送的社工（账号已删除时为空）")

    model_config = {"populate_by_name": True}


class Change(BaseModel):
    breakdown: str = Field(description="细分维度（如 month、building），parts 为指标的分项（如成人/儿童）")
    breakdown_name: str = Field(description="细分维度的名称，如 月份、楼栋、分项")
    key: str = Field(description="分组键；_none 表示未登记/未归入")
    label: str
    submitted: Number = Field(description="报送时的数字；报送时没有这一组为空")
    now: Number = Field(description="现在的数字；现在没有这一组为空")
    difference: Number = Field(description="现在减报送时；任一方为空时为空")


class Adjustment(BaseModel):
    indicator: str = Field(description="指标键")
    name: str
    unit: str
    submitted: Number = Field(description="报送时的数值；报送后新增的指标为空")
    now: Number
    difference: Number = Field(description="现在减报送时；任一方为空时为空")
    changes: list[Change] = Field(description="变化了的分项和细分数字")


class ReportSubmissionDetail(ReportSubmissionRead):
    figures: dict[str, Any] = Field(
        description="报送时冻结的服务数据，结构同“服务数据”接口的回答；之后数据的变动不会改变它"
    )
    adjustments: list[Adjustment] = Field(
        description="报送后的调整：同一统计期、同一项目现在重新统计与报送时不同的指标，及其变化了的分项和细分"
    )


class IndicatorName(BaseModel):
    key: str
    name: str


class ReportSubmissionAdjusted(ReportSubmissionRead):
    changed: int = Field(description="报送后有变化的指标数")
    changed_indicators: list[IndicatorName]
