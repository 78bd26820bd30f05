from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema, model_validator

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


FLOOR_AREA_TEXT = '专有部分面积（㎡），最多两位小数，如 "89.53"；没有登记为 null'
IS_OWNER_TEXT = (
    "是否业主（本户拥有这套房）：按面积表决（《民法典》第二百七十八条）时登记了面积的每套房都算一套，不论谁住；"
    "只有业主户的成员可以在小程序里投票，租户家的房屋由业主用纸质选票或委托投票"
)


class HouseholdRead(Schema):
    id: int
    community_id: int
    building: str
    unit: str
    room: str
    floor_area: str | None = Field(description=FLOOR_AREA_TEXT + "；只有社工和本户成员看得到")
    is_owner: bool = Field(description=IS_OWNER_TEXT + "；只有社工和本户成员看得到")
    members: list[MemberRead]


class HouseholdRegistered(HouseholdRead):
    contact_phone: str | None = Field(description="登记的联系电话（打码，如 138****1234）")


class HouseholdSummary(Schema):
    id: int
    building: str
    unit: str
    room: str
    floor_area: str | None = Field(description=FLOOR_AREA_TEXT)
    is_owner: bool = Field(description=IS_OWNER_TEXT)
    member_count: int
    pending_count: int


class JoinResult(BaseModel):
    status: Literal["active", "pending"]
    member: MemberRead
    household: HouseholdRead | None = Field(description="待户主或社工确认前为空")


# -- flats (专有部分): area and owner flag ------------------------------------------------------------

AREA_TEXT_MAX = 16


def _area_as_text(value: Any) -> Any:
    """A JSON number (89.53) is read as the text it is written as ("89.53"); text stays text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    return value


# an area as a client sends it: "89.53" or 89.53 (the service checks it: positive, two decimals)
FloorArea = Annotated[
    str,
    BeforeValidator(_area_as_text),
    Field(min_length=1, max_length=AREA_TEXT_MAX),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": AREA_TEXT_MAX},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000},
            ]
        }
    ),
]


class HouseholdUpdate(Input):
    """Staff record the flat's floor area and owner flag; a field not sent is left as it is."""

    floor_area: FloorArea | None = Field(
        default=None,
        description='专有部分面积（㎡）：数字或文字，如 89.53 或 "89.53"，最多两位小数，不超过 1000000；null 清除',
    )
    is_owner: bool | None = Field(default=None, description=IS_OWNER_TEXT + "；不传或 null：不改")


class FlatImportSummary(BaseModel):
    rows: int = Field(description="表格中的户数（行数，空行不算）")
    created: int = Field(description="新建的住户（社区里还没有这个门牌）")
    updated: int = Field(description="面积或业主有变化的住户")
    unchanged: int = Field(description="没有变化的住户")
    owners_without_area: int = Field(description="表格里的业主户中仍没有面积的户数：按面积表决前需要补上")


class ImportProblem(BaseModel):
    row: int = Field(description="表格中的行号（表头是第 1 行）")
    column: str = Field(description="列名，如 面积")
    message: str


class FlatPreviewRow(BaseModel):
    row: int
    address: str = Field(description="门牌：已有住户按档案写法，新住户按表格写法")
    household_id: int | None = Field(description="已有住户的 id；新建的为 null")
    action: Literal["create", "update", "unchanged"] = Field(description="新建、更新或不变")
    floor_area: str | None = Field(description="导入后的面积（㎡）")
    floor_area_before: str | None = Field(description="现在登记的面积（㎡）")
    is_owner: bool = Field(description="导入后是否业主")
    is_owner_before: bool | None = Field(description="现在是否业主；新住户为 null")
    owner_without_area: bool = Field(description="导入后是业主却没有面积")
    has_problem: bool


class FlatPreview(BaseModel):
    ready: bool = Field(description="没有需要修改的地方，可以导入")
    rows: list[FlatPreviewRow]
    problems: list[ImportProblem]
    summary: FlatImportSummary
