from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, UrlConstraints

from api.pagination import MAX_ID

T = TypeVar("T")

# an id given by a client: what a 64-bit id column can hold, so a huge number is a 422, not a crash
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# a link Linli stores (covers, avatars): as long as its column holds
Url = Annotated[HttpUrl, UrlConstraints(max_length=512)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """A request body: text is trimmed before it is checked, so "   " is not a title."""

    model_config = ConfigDict(str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: object | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
