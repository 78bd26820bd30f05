from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Input, Schema, Url


class LoginRequest(Input):
    code: str = Field(min_length=1, max_length=128, description="wx.login 得到的 code")


class PhoneBindRequest(Input):
    code: str = Field(min_length=1, max_length=128, description="getPhoneNumber 按钮得到的 code")


class MembershipRead(Schema):
    community_id: int
    community_name: str
    role: Literal["resident", "staff", "admin"]
    member_id: int | None
    household_id: int | None
    status: Literal["active", "pending"]


class MeRead(Schema):
    id: int
    display_name: str
    avatar_url: str | None
    phone: str | None = Field(description="手机号，除管理员外均打码显示（138****1234）")
    is_platform_admin: bool
    memberships: list[MembershipRead]


class MeUpdate(Input):
    display_name: str | None = Field(default=None, min_length=1, max_length=32)
    avatar_url: Url | None = None


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: MeRead
