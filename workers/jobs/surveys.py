"""Survey jobs: a survey closes at its `closes_at` (`surveys.close`, enqueued when it opens), and a
sweep closes any open survey past its close whose job was lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.votes import surveys
from workers.registry import job
from workers.runner import JobContext


@job(surveys.CLOSE_JOB)
async def close(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Close the survey if its close has passed (a closed or cancelled one is left as it is)."""
    await surveys.close_due(ctx.session, int(payload["survey_id"]))


@job("surveys.close_due", every=timedelta(minutes=10))
async def close_overdue(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Every open survey past its close is closed."""
    await surveys.close_overdue(ctx.session)
