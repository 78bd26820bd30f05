from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Timestamp

TicketState = Literal["pending", "scanned", "confirmed", "rejected", "expired", "consumed"]


class LoginTicketRead(BaseModel):
    """What the phone shows before the person confirms: which browser asks to sign in."""

    state: TicketState = Field(
        description=(
            "pending 待扫码 / scanned 已扫码 / confirmed 已确认 / rejected 已拒绝 / expired 已过期 / consumed 已登录"
        )
    )
    expires_at: Timestamp
    ip: str = Field(description="请求登录的电脑的网络地址")
    browser: str = Field(description="请求登录的浏览器（User-Agent 摘要）")


class ConsoleSessionRead(BaseModel):
    id: int
    ip: str
    browser: str
    created_at: Timestamp
    last_seen_at: Timestamp
    expires_at: Timestamp = Field(description="不再使用的话何时自动退出（空闲 2 小时，最长 12 小时）")
