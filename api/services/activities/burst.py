"""Booking in a burst (活动开放预约的那一刻): the morning a popular activity opens and every parent
presses "book" in the same seconds.

`Bookings` (one per process) runs the batches: while one batch for an activity is in its
transaction, the requests that arrive for that activity wait together and go as the next batch,
so a rush of N requests is a few transactions instead of N transactions queued on one row. Several
API processes each batch their own requests; their batches queue on the row lock, briefly each.
A batch that the database refuses as a whole (a unique index caught a race with another process)
is run again with the bookings already held read under the lock, then, should it still fail, one
request at a time, so that only the request at fault gets the error.

Each batch is `booking_batch.book_many`: every rule for every request, the same few statements
whatever its size (on PostgreSQL two and the commit).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from api.db.session import Database
from api.services.activities.booking_batch import Ask, Outcome, book_many

MAX_BATCH = 256  # requests in one transaction; the rest wait for the next


# -- the batches of one process ------------------------------------------------------------------

FIGURES = ("batches", "requests", "lock_held_s", "lock_held_max_s")
STATS: dict[int, dict[str, float]] = {}  # activity id → its batches' figures in this process


def write_stats() -> None:
    """For the booking benchmark: with LINLI_BOOKING_STATS_FILE set, the process's figures go to
    `<that path>.<pid>` as it shuts down, per activity (how many batches, requests, and how long
    the lock was held in all and at most)."""
    path = os.environ.get("LINLI_BOOKING_STATS_FILE")
    if path and STATS:
        with open(f"{path}.{os.getpid()}", "w", encoding="utf-8") as out:
            json.dump(STATS, out)


class Bookings:
    """The process's booking batches: one running per activity at a time; what arrives meanwhile
    waits for the next."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl
        self.waiting: dict[int, list[tuple[Ask, asyncio.Future[Outcome]]]] = {}
        self.running: dict[int, asyncio.Task[None]] = {}

    async def book(self, activity_id: int, ask: Ask) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(activity_id, []).append((ask, future))
        if activity_id not in self.running:
            self.running[activity_id] = asyncio.create_task(self._drain(activity_id))
        return await future

    async def _drain(self, activity_id: int) -> None:
        try:
            while queue := self.waiting.pop(activity_id, None):
                if len(queue) > MAX_BATCH:
                    self.waiting[activity_id] = queue[MAX_BATCH:]
                    queue = queue[:MAX_BATCH]
                await self._run(activity_id, queue)
        finally:
            del self.running[activity_id]

    async def _run(
        self, activity_id: int, batch: list[tuple[Ask, asyncio.Future[Outcome]]], *, again: bool = False
    ) -> None:
        asks = [ask for ask, _ in batch]
        try:
            async with self.db.session() as session:
                outcomes, locked_at = await book_many(session, activity_id, asks, ttl=self.ttl, recheck_held=again)
                await session.commit()
        except IntegrityError as exc:
            # a race with another process booked someone of the batch between the read and the
            # lock: once more with that read under the lock, then (should it fail again) one by one,
            # so that only the request at fault fails
            if not again:
                await self._run(activity_id, batch, again=True)
            elif len(batch) == 1:
                _settle(batch[0][1], error=exc)
            else:
                for one in batch:
                    await self._run(activity_id, [one], again=True)
            return
        except Exception as exc:  # the database is out of reach: every request is told
            for _, future in batch:
                _settle(future, error=exc)
            return
        if locked_at is not None:
            held = time.perf_counter() - locked_at
            stats = STATS.setdefault(activity_id, dict.fromkeys(FIGURES, 0))
            stats["batches"] += 1
            stats["requests"] += len(batch)
            stats["lock_held_s"] += held
            stats["lock_held_max_s"] = max(stats["lock_held_max_s"], held)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome=outcome)


def bookings_of(app: Any, db: Database) -> Bookings:
    """The app's booking batches on `db` (made on first use)."""
    batches: Bookings | None = getattr(app.state, "bookings", None)
    if batches is None:
        ttl = timedelta(hours=app.state.settings.idempotency_ttl_hours)
        batches = app.state.bookings = Bookings(db, ttl)
    return batches


def _settle(
    future: asyncio.Future[Outcome], *, outcome: Outcome | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # the client went away; what was booked stays booked (a retry replays it)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome or Outcome())
