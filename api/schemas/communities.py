from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from api.schemas.common import Day, Input, Schema, Timestamp

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
QUIET_HOURS_HELP = "免打扰时段：HH:MM-HH:MM（社区时间），如 21:30-08:00；空字符串表示不设；null 表示沿用系统默认"


def validate_quiet_hours(value: str | None) -> str | None:
    """Quiet hours as "HH:MM-HH:MM" (may run past midnight), "" for none, None for the default."""
    if value is None:
        return None
    value = value.strip().replace("–", "-").replace("—", "-").replace("～", "-").replace("~", "-")
    value = value.replace(" ", "")
    if value and (not _QUIET_HOURS.match(value) or value[:5] == value[6:]):
        raise ValueError("免打扰时段应写成 HH:MM-HH:MM，如 21:30-08:00，开始与结束不能相同；留空表示不设")
    return value


# The composite space's usual week: Tuesday to Sunday 09:00–21:00, closed on Monday.
DEFAULT_OPENING_HOURS: dict[str, list[list[str]]] = {
    day: ([] if day == "mon" else [["09:00", "21:00"]]) for day in WEEKDAYS
}

# per weekday, [opens, closes] pairs of HH:MM ("24:00" closes at midnight)
Interval = Annotated[list[Annotated[str, Field(max_length=5)]], Field(min_length=2, max_length=2)]
OpeningHours = dict[Weekday, Annotated[list[Interval], Field(max_length=12)]]


def validate_opening_hours(hours: OpeningHours) -> dict[str, list[list[str]]]:
    normalised: dict[str, list[list[str]]] = {day: [] for day in WEEKDAYS}
    for day, intervals in hours.items():
        ordered = sorted((opens, closes) for opens, closes in intervals)
        for opens, closes in ordered:
            if not _HHMM.match(opens) or not _HHMM.match(closes):
                raise ValueError(f"{day}：时间应写成 HH:MM，如 09:00")
            if opens >= closes:
                raise ValueError(f"{day}：{opens}–{closes} 结束时间应晚于开始时间")
        for (_, first_close), (second_open, _) in itertools.pairwise(ordered):
            if second_open < first_close:
                raise ValueError(f"{day}：开放时段有重叠")
        normalised[day] = [[opens, closes] for opens, closes in ordered]
    return normalised


class CommunityCreate(Input):
    name: str = Field(min_length=1, max_length=64)
    city: str = Field(default="", max_length=32)
    district: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=256)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("未知的时区，如 Asia/Shanghai") from exc
        return value


class CommunityUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    city: str | None = Field(default=None, max_length=32)
    district: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=256)
    quiet_hours: str | None = Field(default=None, max_length=11, description=QUIET_HOURS_HELP)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        return validate_quiet_hours(value)


class CommunityRead(Schema):
    id: int
    name: str
    city: str
    district: str
    address: str
    timezone: str
    quiet_hours: str | None = Field(default=None, description=QUIET_HOURS_HELP)


class CommunityDetail(CommunityRead):
    my_role: Literal["resident", "staff", "admin"] | None
    spaces: list[SpaceRead]


class SpaceCreate(Input):
    name: str = Field(min_length=1, max_length=64)
    address: str = Field(default="", max_length=256)
    opening_hours: OpeningHours | None = Field(default=None, description="默认周二至周日 09:00–21:00，周一闭馆")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: OpeningHours | None) -> OpeningHours | None:
        if value is not None:
            validate_opening_hours(value)
        return value


class SpaceUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    address: str | None = Field(default=None, max_length=256)
    opening_hours: OpeningHours | None = None

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: OpeningHours | None) -> OpeningHours | None:
        if value is not None:
            validate_opening_hours(value)
        return value


class SpaceRead(Schema):
    id: int
    community_id: int
    name: str
    address: str
    opening_hours: dict[str, list[list[str]]]
    open_now: bool


class ClosureCreate(Input):
    starts_on: Day
    ends_on: Day
    reason: str = Field(default="", max_length=128)

    @model_validator(mode="after")
    def _ordered(self) -> ClosureCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on：结束日期不能早于开始日期")
        return self


class ClosureRead(Schema):
    id: int
    space_id: int
    starts_on: date
    ends_on: date
    reason: str


class RoleGrant(Input):
    role: Literal["resident", "staff", "admin"]


class StaffRead(BaseModel):
    user_id: int
    display_name: str
    role: Literal["staff", "admin"]
    since: Timestamp


AuditSubject = Literal[
    "community",
    "space",
    "closure",
    "role",
    "activity_policy",
    "loan_policy",
    "volunteer_policy",
    "governance_policy",
    "quiet_hours",
]


class AuditChange(BaseModel):
    field: str
    before: str
    after: str


class AuditEntryRead(BaseModel):
    id: int
    actor_id: int | None = Field(description="做出修改的人；账号注销后为 null，actor_name 仍保留")
    actor_name: str
    at: Timestamp
    subject_kind: AuditSubject
    subject_id: int | None
    action: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: list[AuditChange]


CommunityDetail.model_rebuild()
