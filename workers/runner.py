"""The worker: claims due outbox jobs, runs their handlers, retries with backoff, parks the dead.

Claiming is one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) on PostgreSQL, so any
number of workers can run side by side without two of them taking the same job. On SQLite the
claim runs in a BEGIN IMMEDIATE transaction: one writer at a time does the same job.

A claimed job carries a lease; a worker that dies mid-job loses it and the job is claimed again
when the lease runs out. Each job runs in one transaction with the handler's own changes, and the
job is marked done in that transaction only if this worker still holds the lease.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, metrics
from api.config import Settings
from api.db.models import OutboxJob
from api.db.session import Database
from api.wechat.client import WeChatClient
from workers.outbox import backoff, enqueue
from workers.registry import Registry, registry

log = logging.getLogger("linli.worker")

MAX_ERROR_LENGTH = 2000
PERIODIC_CHECK = timedelta(seconds=30)


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job is parked dead at once."""


class RescheduleJob(Exception):
    """Raised by a handler that cannot run yet (e.g. quiet hours): the job waits until `run_at`,
    and this run does not count as an attempt."""

    def __init__(self, run_at: datetime, reason: str = "") -> None:
        self.run_at = run_at
        self.reason = reason
        super().__init__(f"rescheduled to {run_at.isoformat()}: {reason}")


@dataclass
class JobContext:
    """What a handler gets. `session` is the job's own transaction (committed with the job's
    `done`, rolled back if the handler fails or the lease was lost); `db` opens independent
    transactions for effects that must be recorded whatever happens to the job (a WeChat send)."""

    session: AsyncSession
    settings: Settings
    wechat: WeChatClient | None
    job_id: int
    kind: str
    attempt: int
    db: Database


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        wechat: WeChatClient | None = None,
        *,
        handlers: Registry | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wechat = wechat
        self.registry = handlers or registry
        self._periodic_checked_at: datetime | None = None
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 16):04x}"  # noqa: S311

    # -- scheduling -----------------------------------------------------------------------

    async def schedule_periodic(self) -> int:
        """Enqueue each periodic job once per period, whichever worker gets there first.
        Looks at most every PERIODIC_CHECK, not on every poll."""
        now = clock.now()
        if not self.registry.periodic or (
            self._periodic_checked_at is not None and now - self._periodic_checked_at < PERIODIC_CHECK
        ):
            return 0
        self._periodic_checked_at = now
        added = 0
        async with self.db.session(write=True) as session:
            for periodic in self.registry.periodic.values():
                slot = math.floor(now.timestamp() / periodic.every.total_seconds())
                added += await enqueue(
                    session, periodic.kind, {}, run_at=now, dedup_key=f"periodic:{periodic.kind}:{slot}"
                )
            await session.commit()
        return added

    # -- claiming -------------------------------------------------------------------------

    async def claim(self, limit: int | None = None) -> list[ClaimedJob]:
        now = clock.now()
        limit = limit or self.settings.worker_batch_size
        due = or_(
            and_(OutboxJob.status == "pending", OutboxJob.run_at <= now),
            and_(OutboxJob.status == "running", OutboxJob.locked_until < now),  # lease lost
        )
        candidates = select(OutboxJob.id).where(due).order_by(OutboxJob.run_at, OutboxJob.id).limit(limit)
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            update(OutboxJob)
            .where(OutboxJob.id.in_(candidates.scalar_subquery()))
            .values(
                status="running",
                locked_by=self.name,
                locked_until=now + timedelta(seconds=self.settings.worker_lease_seconds),
                attempts=OutboxJob.attempts + 1,
                updated_at=now,
            )
            .returning(OutboxJob.id, OutboxJob.kind, OutboxJob.payload, OutboxJob.attempts, OutboxJob.max_attempts)
            .execution_options(synchronize_session=False)
        )
        async with self.db.session(write=True) as session:
            rows = (await session.execute(stmt)).all()
            await session.commit()
        jobs = [
            ClaimedJob(
                id=row.id,
                kind=row.kind,
                payload=row.payload,
                attempts=row.attempts,
                max_attempts=row.max_attempts or self.settings.worker_max_attempts,
            )
            for row in rows
        ]
        return sorted(jobs, key=lambda job: job.id)

    # -- running --------------------------------------------------------------------------

    async def run_job(self, job: ClaimedJob) -> bool:
        """Run one claimed job; True if it succeeded. Counted for /metrics by kind and outcome."""
        started = time.perf_counter()
        outcome = "failed"
        try:
            outcome = await self._run(job)
        finally:
            metrics.WORKER_JOBS.labels(job.kind, outcome).inc()
            metrics.WORKER_JOB_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
        return outcome == "done"

    async def _run(self, job: ClaimedJob) -> str:
        """Run one claimed job; its outcome: done, failed (will retry), dead, rescheduled or lost."""
        handler = self.registry.handlers.get(job.kind)
        async with self.db.session(write=True) as session:
            try:
                if handler is None:
                    raise PermanentJobError(f"no handler registered for {job.kind!r}")
                context = JobContext(session, self.settings, self.wechat, job.id, job.kind, job.attempts, self.db)
                await handler(context, job.payload)
                done = await session.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id == job.id, OutboxJob.locked_by == self.name, OutboxJob.status == "running")
                    .values(
                        status="done",
                        finished_at=clock.now(),
                        locked_by=None,
                        locked_until=None,
                        updated_at=clock.now(),
                    )
                )
                if getattr(done, "rowcount", 0) != 1:
                    # another worker took the job over after our lease ran out: its run counts
                    await session.rollback()
                    log.warning("job lease lost; result discarded", extra={"job_id": job.id, "kind": job.kind})
                    return "lost"
                await session.commit()
                log.info("job done", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts})
                return "done"
            except RescheduleJob as later:
                await session.rollback()
                await self._reschedule(job, later)
                return "rescheduled"
            except Exception as exc:  # any failure of the handler is recorded on the job
                await session.rollback()
                return "dead" if await self._record_failure(job, exc) else "failed"

    async def _reschedule(self, job: ClaimedJob, later: RescheduleJob) -> None:
        async with self.db.session(write=True) as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job.id, OutboxJob.locked_by == self.name)
                .values(
                    status="pending",
                    run_at=later.run_at,
                    attempts=OutboxJob.attempts - 1,
                    locked_by=None,
                    locked_until=None,
                    updated_at=clock.now(),
                )
            )
            await session.commit()
        log.info("job rescheduled", extra={"job_id": job.id, "kind": job.kind, "run_at": later.run_at.isoformat()})

    async def _record_failure(self, job: ClaimedJob, exc: BaseException) -> bool:
        """Record a failed run: retried after a backoff, or parked dead (True) after its last attempt."""
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        dead = isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts
        now = clock.now()
        values: dict[str, Any] = {"last_error": error, "locked_by": None, "locked_until": None, "updated_at": now}
        if dead:
            values.update(status="dead", finished_at=now)
        else:
            values.update(status="pending", run_at=now + self.backoff(job.attempts))
        async with self.db.session(write=True) as session:
            await session.execute(
                update(OutboxJob).where(OutboxJob.id == job.id, OutboxJob.locked_by == self.name).values(**values)
            )
            await session.commit()
        level = logging.ERROR if dead else logging.WARNING
        log.log(
            level,
            "job parked dead" if dead else "job failed; will retry",
            extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts, "error": error},
            exc_info=dead and not isinstance(exc, PermanentJobError),
        )
        return dead

    def backoff(self, attempts: int) -> timedelta:
        return backoff(self.settings, attempts)

    async def run_once(self) -> int:
        """Schedule periodic jobs, then claim and run one batch. Returns how many jobs ran."""
        await self.schedule_periodic()
        jobs = await self.claim()
        if self.settings.worker_concurrency <= 1 or len(jobs) <= 1:
            for job in jobs:
                await self.run_job(job)
            return len(jobs)
        # jobs of a batch are independent (each its own transaction and lease); most of a job's time
        # is spent waiting on the database or WeChat, so a few run side by side
        slots = asyncio.Semaphore(self.settings.worker_concurrency)

        async def run(job: ClaimedJob) -> None:
            async with slots:
                await self.run_job(job)

        await asyncio.gather(*(run(job) for job in jobs))
        return len(jobs)

    async def run_until_idle(self, max_rounds: int = 100) -> int:
        """Run batches until nothing is due (tests, demo)."""
        total = 0
        for _ in range(max_rounds):
            ran = await self.run_once()
            total += ran
            if ran == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep up to LINLI_WORKER_CONCURRENCY jobs running, claiming more whenever one finishes,
        so a long job (a batch of rate-limited pushes) never holds up the others. Finishes the
        jobs in hand when `stop` is set."""
        log.info("worker started", extra={"worker": self.name})
        running: set[asyncio.Task[None]] = set()
        stopping = asyncio.ensure_future(stop.wait())
        failures = 0
        try:
            while not stop.is_set():
                free = self.settings.worker_concurrency - len(running)
                claimed: list[ClaimedJob] = []
                if free > 0:
                    try:
                        await self.schedule_periodic()
                        claimed = await self.claim(free)
                        failures = 0
                    except Exception:
                        failures += 1
                        log.exception("worker round failed", extra={"worker": self.name})
                for job in claimed:
                    task = asyncio.create_task(self._run_logged(job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if claimed and len(claimed) == free:
                    continue  # every slot taken and perhaps more due: claim again once one frees
                # nothing more due now: wait for a slot to free, the next poll, or the stop
                pause = self.settings.worker_poll_seconds * min(2**failures, 30)
                await asyncio.wait({stopping, *running}, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        log.info("worker stopped", extra={"worker": self.name})

    async def _run_logged(self, job: ClaimedJob) -> None:
        try:
            await self.run_job(job)
        except Exception:  # recording the failure itself failed (the database is gone): the lease retries it
            log.exception("job could not be recorded", extra={"job_id": job.id, "kind": job.kind})
