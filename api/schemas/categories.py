from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.activities import Category


class ActivityCategory(BaseModel):
    value: Category = Field(description="请求和筛选时用的值，如 children")
    label: str = Field(description="给人看的名称，如 儿童")


class Categories(BaseModel):
    """Every kind of category a screen offers, each with its zh-CN label. Governance's concern
    categories will be added beside `activity`."""

    activity: list[ActivityCategory] = Field(description="活动类别，按小程序展示的顺序")
