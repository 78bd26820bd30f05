"""Housekeeping that keeps tables small."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from api import clock
from api.db.models import OutboxJob
from api.services import console_auth
from api.services.idempotency import purge_expired
from workers.registry import job
from workers.runner import JobContext


@job("idempotency.expire", every=timedelta(hours=1))
async def expire_idempotency_keys(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Idempotency keys are kept for LINLI_IDEMPOTENCY_TTL_HOURS (24 h), then forgotten."""
    await purge_expired(ctx.session)


@job("outbox.purge", every=timedelta(hours=6))
async def purge_done_jobs(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Finished jobs are kept a few days for inspection; dead ones stay until someone looks."""
    cutoff = clock.now() - timedelta(days=ctx.settings.outbox_keep_done_days)
    await ctx.session.execute(delete(OutboxJob).where(OutboxJob.status == "done", OutboxJob.finished_at < cutoff))


@job("console.purge", every=timedelta(hours=6))
async def purge_console_logins(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Console sign-in tickets and ended sessions are forgotten after a while (every login page
    asks for tickets)."""
    await console_auth.purge_ended(ctx.session)
