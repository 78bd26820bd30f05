"""What every request and response model shares.

Requests (`Input`): unknown fields are refused, integers and booleans are strict (`"10"` or `true`
is not a capacity), text is trimmed, and control characters are refused. Datetimes are `When`:
with an offset, or without one where the route knows its community (then read in its local time),
between the years 2000 and 2100. Responses write every datetime as `Timestamp`: ISO 8601 with the
community's offset.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import MaxLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    UrlConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api import localtime
from api.pagination import MAX_ID

T = TypeVar("T")

# an id given by a client: what a 64-bit id column can hold, so a huge number is a 422, not a crash
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

URL_MAX = 512  # the columns that keep links (covers, avatars)


def _fits_column(url: HttpUrl) -> HttpUrl:
    # the check that matters is on the link as stored: normalising may add a slash or escapes
    if len(str(url)) > URL_MAX:
        raise PydanticCustomError("url_too_long", "网址太长，最多 {max_length} 个字符", {"max_length": URL_MAX})
    return url


# a link Linli stores (covers, avatars): http(s), and as long as its column holds once normalised
Url = Annotated[HttpUrl, UrlConstraints(max_length=URL_MAX), AfterValidator(_fits_column)]


def _when(value: datetime) -> datetime:
    if value.tzinfo is None:
        zone = localtime.input_zone()
        if zone is None:
            raise PydanticCustomError("timezone_required", "需要带时区，如 2026-12-05T14:00:00+08:00")
        value = value.replace(tzinfo=zone)
    if not localtime.EARLIEST <= value <= localtime.LATEST:
        raise PydanticCustomError("datetime_out_of_range", "应在 2000 年到 2100 年之间")
    return value


def _day(value: date) -> date:
    if not localtime.EARLIEST_DAY <= value <= localtime.LATEST_DAY:
        raise PydanticCustomError("date_out_of_range", "应在 2000 年到 2100 年之间")
    return value


# A datetime in a request: "2026-12-05T14:00:00+08:00", or "2026-12-05T14:00" on a route that knows
# its community (date pickers send local times). Strict models still take it as text.
When = Annotated[datetime, Field(strict=False), AfterValidator(_when)]
# A calendar date in a request ("2026-12-05"), between 2000 and 2100.
Day = Annotated[date, Field(strict=False), AfterValidator(_day)]


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise PydanticCustomError("timezone_not_allowed", "应为社区当地的钟点，不带时区，如 14:00")
    return value


# A time of day ("14:00"), in the community's time, in requests and responses alike. JSON Schema's
# "time" format requires an offset, which a community's opening hours do not have.
TimeOfDay = Annotated[
    time,
    Field(strict=False),
    AfterValidator(_local_time),
    WithJsonSchema(
        {"type": "string", "format": "partial-time", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"}
    ),
]
# A datetime in a response: ISO 8601 in the community's offset, the same on every endpoint.
Timestamp = Annotated[datetime, PlainSerializer(localtime.iso, return_type=str, when_used="json")]

# Text fields with room for more than a line (descriptions, bodies) may hold newlines and tabs.
MULTILINE_FROM = 201
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control(value: str) -> bool:
    """Whether one-line text holds a control character (or half of a surrogate pair)."""
    return _CONTROL_LINE.search(value) is not None


def _clean(value: Any, multiline: bool) -> Any:
    if isinstance(value, str):
        if multiline:
            value = value.replace("\r\n", "\n")
        if (_CONTROL_TEXT if multiline else _CONTROL_LINE).search(value):
            raise PydanticCustomError(
                "control_character",
                "不能含有控制字符（可以换行）" if multiline else "不能含有换行或控制字符",
            )
        return value
    if isinstance(value, list):
        return [_clean(item, False) for item in value]
    if isinstance(value, dict):
        return {_clean(key, False): _clean(item, False) for key, item in value.items()}
    return value


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """A request body. Unknown fields are refused; integers and booleans are strict; text is trimmed
    before it is checked (so "   " is not a title) and holds no control characters, except newlines
    and tabs in long texts."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str | list | dict) or info.field_name is None:
            return value
        field = cls.model_fields[info.field_name]
        longest = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), 0)
        return _clean(value, multiline=isinstance(value, str) and longest >= MULTILINE_FROM)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: object | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
