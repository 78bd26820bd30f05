"""Poll results: closing a poll at its close (`polls.close`, enqueued when it is published), and a
sweep for any poll past its close that a lost or late job left open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.votes import results
from workers.registry import job
from workers.runner import JobContext


@job(results.CLOSE_JOB)
async def close(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Count the poll and store its result, once its close has passed; everyone in the community
    hears the result. A poll closed already, cancelled, or not due yet is left as it is."""
    await results.close_due(ctx.session, int(payload["poll_id"]))


@job(results.SWEEP_JOB, every=timedelta(minutes=5))
async def close_due(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Polls past their close and not closed yet are closed (a batch per run)."""
    await results.close_all_due(ctx.session)
