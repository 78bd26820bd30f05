"""Write side effects as outbox jobs in the caller's transaction.

A job exists exactly when the transaction that caused it commits: a rolled-back change leaves
no job behind, and a committed one is never lost (the worker runs it at least once).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.config import Settings
from api.db.models import OutboxJob
from api.db.upsert import insert_ignore


def job_row(
    kind: str, payload: dict[str, Any], run_at: datetime | None, dedup_key: str | None, max_attempts: int | None
) -> dict[str, Any]:
    now = clock.now()
    return {
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedup_key": dedup_key,
        "created_at": now,
        "updated_at": now,
    }


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
    values = job_row(kind, payload, run_at, dedup_key, max_attempts)
    if dedup_key is None:
        session.add(OutboxJob(**values))
        await session.flush()
        return True
    return await insert_ignore(session, OutboxJob, values, ["dedup_key"])


async def enqueue_many(
    session: AsyncSession, kind: str, payloads: Sequence[dict[str, Any]], run_at: datetime | None = None
) -> None:
    """Add one job of `kind` per payload in a single statement (fan-out)."""
    if payloads:
        await session.execute(insert(OutboxJob), [job_row(kind, p, run_at, None, None) for p in payloads])


async def cancel(session: AsyncSession, dedup_key: str) -> bool:
    """Withdraw the job with `dedup_key` unless it has finished. A worker that is running it
    finds the row gone when it tries to mark it done, and rolls its own changes back."""
    result = await session.execute(
        delete(OutboxJob).where(OutboxJob.dedup_key == dedup_key, OutboxJob.status.in_(("pending", "running")))
    )
    return bool(getattr(result, "rowcount", 0))


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait before retry number `attempts`: base × 2^(attempts−1), capped, with ±20 % jitter
    so that failures do not retry in lockstep."""
    base = settings.worker_backoff_base_seconds * (2 ** max(attempts - 1, 0))
    delay = min(base, settings.worker_backoff_max_seconds)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311
