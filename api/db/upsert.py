"""INSERT … ON CONFLICT DO NOTHING on both engines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(
    session: AsyncSession, model: type[Any], values: dict[str, Any], conflict_columns: Sequence[str]
) -> bool:
    """Insert a row unless one with the same `conflict_columns` exists; True if inserted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict_columns))
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
