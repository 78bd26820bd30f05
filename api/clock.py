"""The one clock. Rules never call datetime.now(): they call clock.now(), which tests can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (tests)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC)


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests); works frozen or running."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen += delta
    else:
        _offset += delta


def reset() -> None:
    global _frozen, _offset
    _frozen = None
    _offset = timedelta(0)
