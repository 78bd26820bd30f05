"""Poll jobs up to the close: opening a scheduled poll at its start (and a sweep for any the job
missed), and the reminder a day before the close to those who have not voted. (The close and the
tally are `poll_results`.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.votes import polls
from workers.registry import job
from workers.runner import JobContext


@job("polls.open")
async def open_poll(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The poll's start has come: the roll is taken and the electorate told (once)."""
    await polls.open_due(ctx.session, int(payload["poll_id"]))


@job("polls.open_due", every=timedelta(minutes=5))
async def open_overdue(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Scheduled polls whose start has passed and whose job did not run: opened."""
    await polls.open_overdue(ctx.session)


@job("polls.remind")
async def remind(ctx: JobContext, payload: dict[str, Any]) -> None:
    """A day before the close: the electorate's accounts whose elector has not voted hear of it."""
    await polls.remind_due(ctx.session, int(payload["poll_id"]))
