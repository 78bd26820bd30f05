"""Write side effects as outbox jobs in the caller's transaction.

A job exists exactly when the transaction that caused it commits: a rolled-back change leaves
no job behind, and a committed one is never lost (the worker runs it at least once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import OutboxJob
from api.db.upsert import insert_ignore


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    *,
    max_attempts: int | None = None,
) -> bool:
    """Add a job to run at `run_at` (now by default). With a `dedup_key`, a second job with the
    same key is silently dropped. `max_attempts` defaults to the worker's setting.
    Returns whether a job was added."""
    values: dict[str, Any] = {
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "run_at": run_at or clock.now(),
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedup_key": dedup_key,
        "created_at": clock.now(),
        "updated_at": clock.now(),
    }
    if dedup_key is None:
        session.add(OutboxJob(**values))
        await session.flush()
        return True
    return await insert_ignore(session, OutboxJob, values, ["dedup_key"])
