"""The monthly record book (台账): requesting one, and what staff see of it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Input, Timestamp

MONTH_PATTERN = r"^(20\d\d|2100)-(0[1-9]|1[0-2])$"


class RecordBookRequest(Input):
    month: str = Field(
        min_length=7, max_length=7, pattern=MONTH_PATTERN, description="月份，如 2026-09；本社区建立以来到本月为止"
    )
    internal: bool = Field(
        default=False,
        description="内部存档：含标记为有儿童的照片，只供机构自己留存，不能交给评估方",
    )


class RecordBookRequester(BaseModel):
    id: int
    name: str


class RecordBookRead(BaseModel):
    id: int
    community_id: int
    month: str = Field(description="月份，如 2026-09")
    internal: bool = Field(description="内部存档（含儿童照片）")
    state: Literal["pending", "ready", "failed"] = Field(description="pending 生成中；ready 可下载；failed 生成失败")
    state_label: str
    size: int | None = Field(description="压缩包的字节数（生成后）")
    error: str | None = Field(description="生成失败的原因")
    requested_by: RecordBookRequester | None
    requested_at: Timestamp
    ready_at: Timestamp | None
    file_name: str = Field(description="下载时的文件名，如 台账-B社区-2026-09.zip")
    download_url: str | None = Field(description="生成后的下载地址（需登录）")


class RecordBookPage(BaseModel):
    items: list[RecordBookRead]
    next_cursor: str | None = None
