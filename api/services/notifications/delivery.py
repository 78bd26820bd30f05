"""Sending a delivery: the WeChat subscribe message of one inbox entry (run by the worker).

A delivery is claimed with a conditional update (pending → sending, with a lease) and a credit is
taken from the ledger in the same short transaction; WeChat is called with no transaction open;
the outcome and the attempt are recorded in another. So a job that runs twice sends once, and
SQLite's single writer is never held while WeChat answers. A worker that dies mid-send leaves the
delivery `sending`: its job comes back for it when the delivery's lease runs out and sends it
(at least once, as the outbox is), without taking a second credit.

Outcomes: sent; 43101 (the resident has no grant left: the ledger is zeroed); -1, timeouts,
45009 and a refused token are retried, each delivery on its own with exponential backoff, up to
LINLI_WORKER_MAX_ATTEMPTS; anything else (40003, 47003, 40037, 41030…) fails at once. A message
WeChat did not take gives its credit back. Jobs carry up to DELIVERIES_PER_JOB deliveries, so an
announcement to thousands makes tens of jobs, not thousands.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, metrics
from api.config import Settings
from api.db.models import Community, Delivery, DeliveryAttempt, Notification, SendSlot, SubscriptionCredit, User
from api.db.session import Database
from api.db.upsert import insert_ignore
from api.services.notifications import catalogue
from api.services.notifications.core import DELIVER_JOB, push_time, quiet_window
from api.wechat.client import TOKEN_INVALID, WeChatClient, WeChatError, WeChatUnavailable
from workers import outbox

log = logging.getLogger(__name__)

NO_CREDIT = 43101
RETRYABLE = frozenset({-1, 45009, *TOKEN_INVALID})
SLOT = "wechat.subscribe"


class DeferDelivery(Exception):
    """Not now: quiet hours, or another worker holds the delivery. Try again at `until`."""

    def __init__(self, until: datetime, reason: str = "quiet hours") -> None:
        self.until = until
        self.reason = reason
        super().__init__(f"{reason} until {until.isoformat()}")


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    user_id: int
    template_id: str
    attempt: int
    message: dict[str, Any] | None  # what to send; None when the claim already settled it
    settled: str | None = None  # no_credit, or failed (a template mapping that cannot be filled)


def build_message(
    settings: Settings, kind: str, params: dict[str, Any], template_id: str, openid: str
) -> dict[str, Any]:
    """The subscribe/send body: the kind's template mapping filled from the entry's params and
    fitted to WeChat's limits."""
    template = catalogue.template_for(settings, kind)
    if template is None or template.template_id != template_id:
        spec = catalogue.kind(kind)
        template = catalogue.Template(kind, template_id, spec.page, spec.fields)
    return {
        "touser": openid,
        "template_id": template_id,
        "page": catalogue.fill(template.page, params),
        "data": catalogue.message_data(template, params),
        "miniprogram_state": settings.wechat_miniprogram_state,
        "lang": "zh_CN",
    }


_UNSYNCED = {"synchronize_session": False}


async def _claim(db: Database, settings: Settings, delivery_id: int) -> _Claim | None:
    now = clock.now()
    async with db.session() as session:
        row = (
            await session.execute(
                select(
                    Delivery.user_id,
                    Delivery.template_id,
                    Delivery.status,
                    Delivery.locked_until,
                    Notification.kind,
                    Notification.params,
                    User.openid,
                    Community.timezone,
                    Community.quiet_hours,
                )
                .join(Notification, Notification.id == Delivery.notification_id)
                .join(User, User.id == Delivery.user_id)
                .join(Community, Community.id == Delivery.community_id)
                .where(Delivery.id == delivery_id)
            )
        ).first()
        if row is None:
            return None
        takeover = row.status == "sending"
        if row.status not in ("pending", "sending"):
            return None  # sent, failed, no credit or cancelled: settled
        if takeover and row.locked_until is not None and row.locked_until >= now:
            # another worker is on it — or died on it: look again when its lease has run out
            raise DeferDelivery(row.locked_until + timedelta(seconds=1), "held by another worker")
        morning = push_time(now, ZoneInfo(row.timezone), quiet_window(settings, row.quiet_hours))
        if morning > now:
            raise DeferDelivery(morning)
        message: dict[str, Any] | None
        try:
            message, problem = build_message(settings, row.kind, row.params, row.template_id, row.openid), None
        except (KeyError, ValueError) as exc:
            message, problem = None, f"template mapping: {exc}"
        claimed = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                or_(Delivery.status == "pending", and_(Delivery.status == "sending", Delivery.locked_until < now)),
            )
            .values(
                status="sending",
                attempts=Delivery.attempts + 1,
                locked_until=now + timedelta(seconds=settings.worker_lease_seconds),
                request=message,
                updated_at=now,
            )
            .returning(Delivery.attempts)
            .execution_options(**_UNSYNCED)
        )
        attempt = claimed.scalar_one_or_none()
        if attempt is None:
            await session.rollback()
            return None
        settled: str | None = None
        if problem is not None:
            settled = "failed"
        elif not takeover:  # a worker that died mid-send took the credit already
            taken = await session.execute(
                update(SubscriptionCredit)
                .where(
                    SubscriptionCredit.user_id == row.user_id,
                    SubscriptionCredit.template_id == row.template_id,
                    SubscriptionCredit.credits > 0,
                )
                .values(credits=SubscriptionCredit.credits - 1, updated_at=now)
                .execution_options(**_UNSYNCED)
            )
            if not getattr(taken, "rowcount", 0):
                settled, problem = "no_credit", "no subscription credit left"
        if settled is not None:
            await _finish(session, delivery_id, attempt, settled, None, problem, now)
        await session.commit()
    return _Claim(delivery_id, row.user_id, row.template_id, attempt, None if settled else message, settled)


async def _refund(session: AsyncSession, user_id: int, template_id: str, now: datetime) -> None:
    await session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_id == template_id)
        .values(credits=SubscriptionCredit.credits + 1, updated_at=now)
        .execution_options(**_UNSYNCED)
    )


async def _finish(
    session: AsyncSession,
    delivery_id: int,
    attempt: int,
    status: str,
    errcode: int | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Record the attempt, and the delivery's new status if this attempt still owns it."""
    outcome = {"pending": "retry"}.get(status, status)
    await session.execute(
        insert(DeliveryAttempt).values(
            delivery_id=delivery_id,
            attempted_at=now,
            outcome=outcome,
            errcode=errcode,
            errmsg=error[:512] if error else None,
        )
    )
    owned = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.attempts == attempt)
        .values(
            status=status,
            locked_until=None,
            errcode=errcode,
            error=error[:512] if error else None,
            sent_at=now if status == "sent" else None,
            updated_at=now,
        )
        .execution_options(**_UNSYNCED)
    )
    return bool(getattr(owned, "rowcount", 0))


async def reserve_send_slot(db: Database, rate_per_second: float) -> datetime | None:
    """Take the next slot of the global send rate (shared by all workers through one row) and
    wait for it. Returns the slot's time, or None when the rate is unlimited."""
    if rate_per_second <= 0:
        return None
    interval = timedelta(seconds=1 / rate_per_second)
    async with db.session() as session:
        await insert_ignore(session, SendSlot, {"name": SLOT, "next_at": clock.now()}, ["name"])
        row = (
            await session.execute(
                select(SendSlot)
                .where(SendSlot.name == SLOT)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        slot = max(row.next_at, clock.now())
        row.next_at = slot + interval
        await session.commit()
    wait = (slot - clock.now()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    return slot


async def deliver(db: Database, wechat: WeChatClient, settings: Settings, delivery_id: int) -> str | None:
    """Send one delivery if it is still to be sent; returns its new status (None: nothing to do).

    A retryable failure puts it back to `pending` with its own retry job after a backoff, until
    LINLI_WORKER_MAX_ATTEMPTS attempts of this delivery have failed: then it is `failed`. Raises
    DeferDelivery in the quiet hours."""
    claim = await _claim(db, settings, delivery_id)
    if claim is None:
        return None
    if claim.message is None:
        return claim.settled
    await reserve_send_slot(db, settings.notify_send_rate_per_second)
    errcode: int | None = None
    error: str | None = None
    retryable = False
    try:
        await wechat.send_subscribe_message(claim.message)
        status = "sent"
    except WeChatUnavailable as exc:
        status, error, retryable = "failed", str(exc), True
    except WeChatError as exc:
        errcode, error = exc.errcode, exc.errmsg or str(exc)
        status = "no_credit" if exc.errcode == NO_CREDIT else "failed"
        retryable = exc.errcode in RETRYABLE
    if retryable and claim.attempt < settings.worker_max_attempts:
        status = "pending"
    now = clock.now()
    async with db.session() as session:
        owned = await _finish(session, delivery_id, claim.attempt, status, errcode, error, now)
        if owned and status == "no_credit":
            # WeChat says the resident has no grant left, whatever the ledger thought
            await session.execute(
                update(SubscriptionCredit)
                .where(SubscriptionCredit.user_id == claim.user_id, SubscriptionCredit.template_id == claim.template_id)
                .values(credits=0, updated_at=now)
                .execution_options(**_UNSYNCED)
            )
        elif owned and status != "sent":
            await _refund(session, claim.user_id, claim.template_id, now)
        if owned and status == "pending":
            await outbox.enqueue(
                session,
                DELIVER_JOB,
                {"delivery_ids": [delivery_id]},
                run_at=now + outbox.backoff(settings, claim.attempt),
                dedup_key=f"delivery:{delivery_id}:retry:{claim.attempt}",
            )
        await session.commit()
    # counted here, as it happens, rather than read from the deliveries table at scrape time: the
    # table only grows, a counter gives Prometheus rates (errors per minute by errcode), and it is
    # the worker that pushes, so its /metrics shows them
    metrics.DELIVERIES.labels(status, "" if errcode is None else str(errcode)).inc()
    log.log(
        logging.INFO if status in ("sent", "no_credit") else logging.WARNING,
        "delivery attempted",
        extra={"delivery_id": delivery_id, "status": status, "errcode": errcode, "attempt": claim.attempt},
    )
    return status


async def deliver_all(db: Database, wechat: WeChatClient, settings: Settings, delivery_ids: list[int]) -> None:
    """Send a batch of deliveries one by one (the send rate spaces them). Those already settled
    are skipped, so a batch that runs again sends nothing twice. One held by another worker
    (which may have died mid-send) does not hold up the rest: the batch comes back for it once
    that worker's lease has run out, so no delivery is left behind. Quiet hours stop the batch."""
    held: DeferDelivery | None = None
    for delivery_id in delivery_ids:
        try:
            await deliver(db, wechat, settings, delivery_id)
        except DeferDelivery as later:
            if later.reason == "quiet hours":
                raise
            held = later if held is None or later.until > held.until else held
    if held is not None:
        raise held
