"""INSERT … ON CONFLICT DO NOTHING on both engines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def insert_ignore(
    session: AsyncSession,
    model: type[Any],
    values: dict[str, Any],
    conflict_columns: Sequence[str],
    index_where: ColumnElement[bool] | None = None,
) -> bool:
    """Insert a row unless one with the same `conflict_columns` exists; True if inserted.
    `index_where` names the predicate of a partial unique index, which both engines need to
    match the conflict to that index."""
    stmt = (
        _insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns), index_where=index_where)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def insert_ignore_many(
    session: AsyncSession,
    model: type[Any],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    returning: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
) -> list[Row[Any]]:
    """Insert `rows` in one statement, skipping those that conflict on `conflict_columns`;
    returns the `returning` columns of the rows actually inserted."""
    if not rows:
        return []
    stmt = (
        _insert(session, model)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*returning)
    )
    return list((await session.execute(stmt)).all())


async def toggle_mark(
    session: AsyncSession,
    mark: type[Any],
    keys: dict[str, Any],
    on: bool,
    counter: InstrumentedAttribute[int],
    owner_id: int,
    extra: dict[str, Any] | None = None,
) -> int:
    """Set or clear one person's mark on something (a like, a "me too"), whose primary key is
    `keys`, and move the owner's `counter` (a column of the marked table, whose row has id
    `owner_id`) by what actually changed: a mark set twice, or cleared when absent, counts
    nothing, and taps at once count once (the primary key decides). Returns the change (-1, 0, 1)."""
    if on:
        change = 1 if await insert_ignore(session, mark, {**keys, **(extra or {})}, list(keys)) else 0
    else:
        gone = await session.execute(
            delete(mark)
            .where(*(getattr(mark, name) == value for name, value in keys.items()))
            .execution_options(synchronize_session=False)
        )
        change = -1 if getattr(gone, "rowcount", 0) else 0
    if change:
        owner = counter.class_
        await session.execute(
            update(owner)
            .where(owner.id == owner_id)
            .values({counter.key: counter + change})
            .execution_options(synchronize_session=False)
        )
    return change
