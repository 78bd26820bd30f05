from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Input, Schema, Timestamp

MemberKind = Literal["adult", "child", "elder"]
Gender = Literal["female", "male"]
GENDER_TEXT = "性别（可不填，只用于服务数据按性别统计）"


class JoinRequest(Input):
    display_name: str = Field(min_length=1, max_length=32)
    building: str = Field(min_length=1, max_length=32, description="楼栋，如 3栋")
    unit: str = Field(default="", max_length=32, description="单元，如 2单元")
    room: str = Field(min_length=1, max_length=32, description="门牌，如 501")


class MemberCreate(Input):
    display_name: str = Field(min_length=1, max_length=32, description="称呼即可，如 小雨；不需要真实姓名")
    kind: MemberKind
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    gender: Gender | None = Field(default=None, description=GENDER_TEXT)
    guardian_consent: bool = Field(
        default=False, description="儿童：监护人已阅读并同意《儿童个人信息保护规则》，单独同意"
    )

    @model_validator(mode="after")
    def _child_minimum(self) -> MemberCreate:
        if self.kind == "child" and self.birth_year is None:
            raise ValueError("birth_year：登记儿童需要填写出生年份")
        return self


class HouseholdCreate(Input):
    """Staff register a household at the desk (代办): its address, its members (none of them with
    WeChat; the first is the head), and a phone to reach it."""

    building: str = Field(min_length=1, max_length=32, description="楼栋，如 3栋")
    unit: str = Field(default="", max_length=32, description="单元，如 2单元")
    room: str = Field(min_length=1, max_length=32, description="门牌，如 501")
    contact_phone: str | None = Field(
        default=None,
        max_length=20,
        description="联系电话：11 位手机号或带区号的座机号；加密保存，显示时打码，查看完整号码会被记录",
    )
    members: list[MemberCreate] = Field(
        min_length=1, max_length=10, description="家庭成员，第一位为户主（成人或老人）；都没有微信账号"
    )

    @model_validator(mode="after")
    def _head_first(self) -> HouseholdCreate:
        if self.members and self.members[0].kind == "child":
            raise ValueError("members：第一位成员是户主，应为成人或老人")
        return self


class MemberUpdate(Input):
    display_name: str | None = Field(default=None, min_length=1, max_length=32)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    gender: Gender | None = Field(default=None, description=GENDER_TEXT + "；null 清除")


class MemberRead(Schema):
    id: int
    household_id: int
    display_name: str
    kind: MemberKind
    birth_year: int | None
    gender: Gender | None = Field(default=None, description="性别（没有登记为 null）")
    status: Literal["active", "pending"]
    is_head: bool
    has_account: bool
    is_me: bool
    consent_at: Timestamp | None


class HouseholdRead(Schema):
    id: int
    community_id: int
    building: str
    unit: str
    room: str
    members: list[MemberRead]


class HouseholdRegistered(HouseholdRead):
    contact_phone: str | None = Field(description="登记的联系电话（打码，如 138****1234）")


class HouseholdSummary(Schema):
    id: int
    building: str
    unit: str
    room: str
    member_count: int
    pending_count: int


class JoinResult(BaseModel):
    status: Literal["active", "pending"]
    member: MemberRead
    household: HouseholdRead | None = Field(description="待户主或社工确认前为空")
