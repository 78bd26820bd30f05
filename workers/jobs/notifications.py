"""Notification jobs: WeChat pushes, scheduled reminders, announcement fan-out."""

from __future__ import annotations

from typing import Any

from api.services.notifications import announcements, core, delivery
from workers.registry import job
from workers.runner import JobContext, PermanentJobError, RescheduleJob


@job(core.DELIVER_JOB)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Push one inbox entry as a WeChat subscribe message (see api.services.notifications.delivery)."""
    if ctx.wechat is None:
        raise RuntimeError("this worker has no WeChat client")
    try:
        await delivery.deliver(
            ctx.db, ctx.wechat, ctx.settings, int(payload["delivery_id"]), final_attempt=ctx.final_attempt
        )
    except delivery.DeferDelivery as quiet:
        raise RescheduleJob(quiet.until, "quiet hours") from quiet
    except delivery.DeliveryFailed as exc:
        raise PermanentJobError(str(exc)) from exc


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
    """One batch of an announcement's recipients; the batch queues the next."""
    await announcements.fan_out(
        ctx.session, int(payload["announcement_id"]), int(payload["after"]), ctx.settings.notify_fanout_batch_size
    )
