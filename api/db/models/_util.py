from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CheckConstraint


def one_of(column: str, values: Iterable[str], name: str) -> CheckConstraint:
    """CHECK (column IN (...)): enumerations as plain strings that both engines enforce."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)
