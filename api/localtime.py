"""Where a request's times are read and shown: the community's time zone.

Times are stored and compared in UTC. What goes out is in the zone of the community the request is
about: every datetime in a response carries that offset (`2026-12-05T14:00:00+08:00`), and a
datetime a client sends without an offset is read in it. The zone is request-scoped: the request
middleware starts each request with the deployment's default (`LINLI_TIMEZONE`); looking up a
community to authorise the caller (`access.get_community`), or a route's zone dependency, sets that
community's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")

# the zone responses are written in; None until the request knows it
_response_zone: ContextVar[ZoneInfo | None] = ContextVar("response_zone", default=None)
# the zone a datetime without an offset is read in; None where the route does not know its community
_input_zone: ContextVar[ZoneInfo | None] = ContextVar("input_zone", default=None)
_default_zone: ContextVar[ZoneInfo] = ContextVar("default_zone", default=DEFAULT_ZONE)

# what a date or time may be: anything outside is a typing slip (year 9999), not a plan
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


@contextmanager
def request_scope(default: ZoneInfo) -> Iterator[None]:
    """One request: responses in `default` until the request names its community."""
    tokens = (_default_zone.set(default), _response_zone.set(None), _input_zone.set(None))
    try:
        yield
    finally:
        _input_zone.reset(tokens[2])
        _response_zone.reset(tokens[1])
        _default_zone.reset(tokens[0])


def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def use_community_zone(name: str) -> None:
    """The request is about a community in zone `name`: its times go out in that zone (the first
    community looked up decides, so that one answer never mixes offsets)."""
    if _response_zone.get() is None:
        _response_zone.set(ZoneInfo(name))


def read_naive_in(zone: ZoneInfo) -> None:
    """The route knows its community: datetimes sent without an offset mean its local time."""
    _input_zone.set(zone)
    if _response_zone.get() is None:
        _response_zone.set(zone)


def input_zone() -> ZoneInfo | None:
    return _input_zone.get()


def response_zone() -> ZoneInfo:
    return _response_zone.get() or _default_zone.get()


def to_local(value: datetime) -> datetime:
    return value.astimezone(response_zone())


def iso(value: datetime) -> str:
    """A datetime as every response writes it: ISO 8601 with the community's offset."""
    return value.astimezone(response_zone()).isoformat()


def localize_json(value: Any) -> Any:
    """Datetimes anywhere inside `value` (error details, hand-built answers) as `iso` writes them."""
    if isinstance(value, datetime):
        return iso(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, dict):
        return {key: localize_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [localize_json(item) for item in value]
    return value


def text(at: datetime, zone: ZoneInfo | None = None) -> str:
    """A time as residents read it: 12月5日 13:30, in the community's time."""
    local = at.astimezone(zone or response_zone())
    return f"{local.month}月{local.day}日 {local:%H:%M}"
