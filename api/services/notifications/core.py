"""One way to notify: `notify()` inside the caller's transaction.

It writes the inbox entries and, for recipients holding a subscribe-message credit for the kind's
template, a WeChat delivery with its outbox job, all in the transaction of the change that caused
them: a committed cause is never without its notifications, a rolled-back one never has any.
(cause_key, recipient) is unique, so a cause notifies each person once however often it is
replayed. `schedule()` does the same later (reminders), `cancel_scheduled()` takes a reminder back
when its cause goes away, and `retract()` hides what a withdrawn cause already said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.config import Settings
from api.db.models import Community, Delivery, Notification, SubscriptionCredit
from api.db.session import settings_of
from api.db.upsert import insert_ignore_many
from api.services.notifications import catalogue
from workers import outbox

CHUNK = 500
DELIVERIES_PER_JOB = 100
DELIVER_JOB = "notifications.deliver"
SCHEDULED_JOB = "notifications.scheduled"
MAX_TITLE = 128


def push_time(at: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None) -> datetime:
    """The first moment from `at` outside the quiet hours (community time)."""
    if quiet is None:
        return at
    start, end = quiet
    local = at.astimezone(tz)
    now = local.time()
    in_quiet = start <= now < end if start < end else (now >= start or now < end)
    if not in_quiet:
        return at
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


def quiet_window(settings: Settings, own: str | None) -> tuple[time, time] | None:
    """A community's quiet hours: its own ("HH:MM-HH:MM", or "" for none), else the deployment's."""
    if own is None:
        return settings.quiet_window
    if not own:
        return None
    start, end = own.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


async def _community(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise ValueError(f"community {community_id} does not exist")
    return community


async def notify(
    session: AsyncSession,
    recipients: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    cause_key: str,
    *,
    community_id: int,
) -> int:
    """Notify users (ids) of `kind` because of `cause_key`, in the caller's transaction.

    Each recipient gets one inbox entry per cause (repeats are ignored); those holding a credit
    for the kind's WeChat template also get a push, sent by the worker outside the quiet hours.
    Datetime params are shown in the community's time zone. Returns how many entries are new."""
    spec = catalogue.kind(kind)
    if missing := spec.params - params.keys():
        raise ValueError(f"{kind} needs the params {sorted(missing)}")
    community = await _community(session, community_id)
    tz = ZoneInfo(community.timezone)
    rendered = catalogue.render_params(params, tz)
    title = catalogue.fill(spec.title, rendered)[:MAX_TITLE]
    body = catalogue.fill(spec.body, rendered)
    page = catalogue.fill(spec.page, rendered)
    settings = settings_of(session)
    template = catalogue.template_for(settings, kind)
    now = clock.now()
    user_ids = sorted(set(recipients))
    created = 0
    for start in range(0, len(user_ids), CHUNK):
        rows = [
            {
                "community_id": community_id,
                "user_id": user_id,
                "kind": kind,
                "cause_key": cause_key,
                "title": title,
                "body": body,
                "page": page,
                "params": rendered,
                "created_at": now,
            }
            for user_id in user_ids[start : start + CHUNK]
        ]
        inserted = await insert_ignore_many(
            session, Notification, rows, ["cause_key", "user_id"], returning=(Notification.id, Notification.user_id)
        )
        created += len(inserted)
        if template is not None and inserted:
            await _plan_pushes(
                session,
                template.template_id,
                inserted,
                community_id,
                push_time(now, tz, quiet_window(settings, community.quiet_hours)),
            )
    return created


async def _plan_pushes(
    session: AsyncSession, template_id: str, inserted: list[Any], community_id: int, run_at: datetime
) -> None:
    """A delivery and its job for each new entry whose recipient holds a credit for the template."""
    by_user = {row.user_id: row.id for row in inserted}
    with_credit = (
        await session.execute(
            select(SubscriptionCredit.user_id).where(
                SubscriptionCredit.template_id == template_id,
                SubscriptionCredit.user_id.in_(by_user),
                SubscriptionCredit.credits > 0,
            )
        )
    ).scalars()
    now = clock.now()
    rows = [
        {
            "notification_id": by_user[user_id],
            "user_id": user_id,
            "community_id": community_id,
            "template_id": template_id,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for user_id in sorted(with_credit)
    ]
    if not rows:
        return
    ids = list((await session.execute(insert(Delivery).values(rows).returning(Delivery.id))).scalars())
    batches = [ids[i : i + DELIVERIES_PER_JOB] for i in range(0, len(ids), DELIVERIES_PER_JOB)]
    await outbox.enqueue_many(session, DELIVER_JOB, [{"delivery_ids": batch} for batch in batches], run_at=run_at)


def _scheduled_key(cause_key: str) -> str:
    return f"scheduled:{cause_key}"


async def schedule(
    session: AsyncSession,
    at: datetime,
    recipients: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    cause_key: str,
    *,
    community_id: int,
) -> bool:
    """Notify at `at` (a reminder), unless `cancel_scheduled(cause_key)` comes first. The inbox
    entry appears at `at`; its push waits for the end of the quiet hours if need be.

    One reminder per cause_key: schedule a changed reminder under a key that names what changed
    (e.g. the new start time), or cancel the old one first. Returns whether it was scheduled."""
    community = await _community(session, community_id)
    job = scheduled_job(at, recipients, kind, params, cause_key, community_id, ZoneInfo(community.timezone))
    return await outbox.enqueue(session, SCHEDULED_JOB, job.payload, run_at=at, dedup_key=job.dedup_key)


class ScheduledJob(NamedTuple):
    payload: dict[str, Any]
    dedup_key: str


def scheduled_job(
    at: datetime,
    recipients: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    cause_key: str,
    community_id: int,
    tz: ZoneInfo,
) -> ScheduledJob:
    """What `schedule` enqueues, for a caller that writes many at once (a batch of bookings):
    the job's payload, with the params rendered in the community's zone `tz`, and its key."""
    if missing := catalogue.kind(kind).params - params.keys():
        raise ValueError(f"{kind} needs the params {sorted(missing)}")
    payload = {
        "recipients": sorted(set(recipients)),
        "kind": kind,
        "params": catalogue.render_params(params, tz),
        "cause_key": cause_key,
        "community_id": community_id,
    }
    return ScheduledJob(payload, _scheduled_key(cause_key))


async def cancel_scheduled(session: AsyncSession, cause_key: str) -> bool:
    """Take back a reminder that has not gone out; True if there was one."""
    return await outbox.cancel(session, _scheduled_key(cause_key))


async def retract(session: AsyncSession, cause_key: str) -> int:
    """The cause was withdrawn: hide its inbox entries, stop its pushes that have not started,
    and cancel its reminder. Returns how many entries were hidden."""
    # first: a reminder firing right now then either fails to commit, or has committed its rows
    # before the updates below run, so they see them
    await cancel_scheduled(session, cause_key)
    now = clock.now()
    of_cause = select(Notification.id).where(Notification.cause_key == cause_key)
    await session.execute(
        update(Delivery)
        .where(Delivery.notification_id.in_(of_cause.scalar_subquery()), Delivery.status == "pending")
        .values(status="cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    hidden = await session.execute(
        update(Notification)
        .where(Notification.cause_key == cause_key, Notification.retracted_at.is_(None))
        .values(retracted_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(hidden, "rowcount", 0) or 0)
