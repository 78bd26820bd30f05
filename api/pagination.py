"""Opaque cursors for keyset pagination: the last row's sort key, base64url-encoded JSON."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from api.errors import BadRequest
from api.localtime import EARLIEST, LATEST


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError) as exc:  # RecursionError: thousands of nested brackets
        raise BadRequest("invalid_cursor", "分页游标无效") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise BadRequest("invalid_cursor", "分页游标无效")
    return values


def cursor_time(value: Any) -> datetime:
    """A datetime carried in a cursor (as ISO text)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise BadRequest("invalid_cursor", "分页游标无效") from exc
    # a time this API never wrote (year 1 at +14:00) would overflow on its way to UTC
    if parsed.tzinfo is None or not EARLIEST <= parsed <= LATEST:
        raise BadRequest("invalid_cursor", "分页游标无效")
    return parsed


MAX_ID = 2**63 - 1


def cursor_int(value: Any) -> int:
    """An id carried in a cursor: a JSON integer a 64-bit column can hold."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise BadRequest("invalid_cursor", "分页游标无效")
    return value


def after_time_and_id(cursor: str, time_column: Any, id_column: Any, *, ascending: bool) -> Any:
    """The rows after a (time, id) cursor in `ORDER BY time, id` (or both descending)."""
    at, last = decode_cursor(cursor, 2)
    when, last_id = cursor_time(at), cursor_int(last)
    if ascending:
        return or_(time_column > when, and_(time_column == when, id_column > last_id))
    return or_(time_column < when, and_(time_column == when, id_column < last_id))
