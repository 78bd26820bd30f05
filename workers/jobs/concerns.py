"""Concern jobs: text checks of concerns and their comments, staff told of clocks that ran out,
concerns closed once their outcome is old enough."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.governance import concern_clocks, concerns
from workers.registry import job
from workers.runner import JobContext


@job(concerns.CHECK_JOB)
async def check_text(ctx: JobContext, payload: dict[str, Any]) -> None:
    """WeChat's text check of a concern (scene 4) or a comment on one (scene 2)."""
    await concerns.check_text(ctx, str(payload["kind"]), int(payload["id"]))


@job("concerns.flag_late", every=timedelta(minutes=10))
async def flag_late(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Staff hear once per clock of each concern not answered or not resolved in time."""
    await concern_clocks.flag_late(ctx.session)


@job("concerns.close_settled", every=timedelta(hours=1))
async def close_settled(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Concerns resolved or turned down `reopen_days` ago are closed."""
    await concern_clocks.close_settled(ctx.session)
