"""Notification jobs: WeChat pushes, scheduled reminders, announcement fan-out."""

from __future__ import annotations

from typing import Any

from api.services.notifications import announcements, core, delivery
from workers.registry import job
from workers.runner import JobContext, RescheduleJob


@job(core.DELIVER_JOB)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Push inbox entries as WeChat subscribe messages (see api.services.notifications.delivery).
    Each delivery retries on its own; the job fails only if something else breaks (the database)."""
    if ctx.wechat is None:
        raise RuntimeError("this worker has no WeChat client")
    try:
        await delivery.deliver_all(ctx.db, ctx.wechat, ctx.settings, [int(i) for i in payload["delivery_ids"]])
    except delivery.DeferDelivery as later:
        raise RescheduleJob(later.until, later.reason) from later


@job(core.SCHEDULED_JOB)
async def scheduled(ctx: JobContext, payload: dict[str, Any]) -> None:
    """A reminder's time has come: notify as if its cause happened now."""
    await core.notify(
        ctx.session,
        payload["recipients"],
        payload["kind"],
        payload["params"],
        payload["cause_key"],
        community_id=int(payload["community_id"]),
    )


@job(announcements.FANOUT_JOB)
async def fan_out(ctx: JobContext, payload: dict[str, Any]) -> None:
    """An announcement's inbox entries and pushes, batch by batch (each batch commits on its own)."""
    await announcements.fan_out(ctx.db, int(payload["announcement_id"]), ctx.settings.notify_fanout_batch_size)
