"""Library jobs: holds not picked up pass on; overdue loans are reminded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.library import holds, reminders
from workers.registry import job
from workers.runner import JobContext


@job("library.expire_holds", every=timedelta(minutes=15))
async def expire_holds(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """A hold not picked up by its last day passes its copy to the next in line."""
    await holds.expire_holds(ctx.session)


@job("library.remind_overdue", every=timedelta(hours=1))
async def remind_overdue(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Overdue loans: the first day, then weekly (each told once: the cause names the day)."""
    await reminders.remind_overdue(ctx.session)
