from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api import clock
from api.db.models import OutboxJob
from api.db.session import Database
from workers.outbox import enqueue
from workers.registry import Registry
from workers.runner import PermanentJobError, Worker


def make_registry(*, periodic: bool = False):
    registry = Registry()
    runs: list[tuple[str, int]] = []

    @registry.job("test.record")
    async def record(ctx, payload):
        runs.append((ctx.kind, payload["n"]))
        await asyncio.sleep(payload.get("sleep", 0))

    @registry.job("test.fail")
    async def fail(ctx, payload):
        runs.append((ctx.kind, ctx.attempt))
        raise RuntimeError(f"handler broke on attempt {ctx.attempt}")

    @registry.job("test.permanent")
    async def permanent(ctx, payload):
        runs.append((ctx.kind, ctx.attempt))
        raise PermanentJobError("the template does not exist")

    if periodic:

        @registry.job("test.tick", every=timedelta(hours=1))
        async def tick(ctx, payload):
            runs.append((ctx.kind, 0))

    return registry, runs


async def jobs(db: Database) -> list[OutboxJob]:
    async with db.session(write=False) as session:
        return list((await session.execute(select(OutboxJob).order_by(OutboxJob.id))).scalars())


async def test_rolled_back_transaction_leaves_no_job(app, db):
    async with db.session() as session:
        await enqueue(session, "test.record", {"n": 1})
        await session.rollback()
    async with db.session() as session:
        await enqueue(session, "test.record", {"n": 2})
        await session.commit()
    assert [j.payload for j in await jobs(db)] == [{"n": 2}]


async def test_committed_job_runs_once_and_is_marked_done(app, db, settings):
    registry, runs = make_registry()
    async with db.session() as session:
        await enqueue(session, "test.record", {"n": 7})
        await session.commit()
    worker = Worker(db, settings, handlers=registry)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert runs == [("test.record", 7)]
    (job,) = await jobs(db)
    assert (job.status, job.attempts, job.locked_by) == ("done", 1, None)
    assert job.finished_at is not None


async def test_future_jobs_wait_for_their_time(app, db, settings):
    registry, runs = make_registry()
    async with db.session() as session:
        await enqueue(session, "test.record", {"n": 1}, run_at=clock.now() + timedelta(minutes=5))
        await session.commit()
    worker = Worker(db, settings, handlers=registry)
    assert await worker.run_once() == 0
    clock.advance(timedelta(minutes=5))
    assert await worker.run_once() == 1
    assert runs == [("test.record", 1)]


async def test_dedup_key_drops_the_second_job(app, db):
    async with db.session() as session:
        assert await enqueue(session, "test.record", {"n": 1}, dedup_key="cause-1") is True
        assert await enqueue(session, "test.record", {"n": 2}, dedup_key="cause-1") is False
        await session.commit()
    async with db.session() as session:
        assert await enqueue(session, "test.record", {"n": 3}, dedup_key="cause-1") is False
        await session.commit()
    assert [j.payload for j in await jobs(db)] == [{"n": 1}]


async def test_failing_handler_is_retried_with_backoff_then_parked_dead(app, db, settings):
    registry, runs = make_registry()
    clock.freeze(clock.now())
    async with db.session() as session:
        await enqueue(session, "test.fail", {})
        await session.commit()
    worker = Worker(db, settings, handlers=registry)  # 3 attempts, backoff 10 s, 20 s (±20 %)

    assert await worker.run_once() == 1
    (job,) = await jobs(db)
    assert (job.status, job.attempts) == ("pending", 1)
    assert "handler broke on attempt 1" in job.last_error
    delay = (job.run_at - clock.now()).total_seconds()
    assert 8 <= delay <= 12
    assert await worker.run_once() == 0  # not due yet

    clock.advance(timedelta(seconds=12))
    assert await worker.run_once() == 1
    (job,) = await jobs(db)
    assert (job.status, job.attempts) == ("pending", 2)
    assert 16 <= (job.run_at - clock.now()).total_seconds() <= 24

    clock.advance(timedelta(seconds=24))
    assert await worker.run_once() == 1
    (job,) = await jobs(db)
    assert (job.status, job.attempts) == ("dead", 3)
    assert job.last_error == "RuntimeError: handler broke on attempt 3"
    assert job.finished_at is not None

    clock.advance(timedelta(hours=2))
    assert await worker.run_once() == 0  # dead jobs stay dead
    assert runs == [("test.fail", 1), ("test.fail", 2), ("test.fail", 3)]


async def test_permanent_error_parks_the_job_at_once(app, db, settings):
    registry, _runs = make_registry()
    async with db.session() as session:
        await enqueue(session, "test.permanent", {})
        await enqueue(session, "no.such.kind", {})
        await session.commit()
    await Worker(db, settings, handlers=registry).run_once()
    permanent, unknown = await jobs(db)
    assert (permanent.status, permanent.attempts) == ("dead", 1)
    assert permanent.last_error == "PermanentJobError: the template does not exist"
    assert unknown.status == "dead"
    assert "no handler registered for 'no.such.kind'" in unknown.last_error


async def test_handler_changes_roll_back_with_a_failure(app, db, settings):
    registry = Registry()

    @registry.job("test.enqueue_then_fail")
    async def enqueue_then_fail(ctx, payload):
        await enqueue(ctx.session, "test.record", {"n": 99})
        raise RuntimeError("after writing")

    async with db.session() as session:
        await enqueue(session, "test.enqueue_then_fail", {})
        await session.commit()
    await Worker(db, settings, handlers=registry).run_once()
    assert [j.kind for j in await jobs(db)] == ["test.enqueue_then_fail"]


async def test_periodic_jobs_run_once_per_period_across_workers(app, db, settings):
    registry, runs = make_registry(periodic=True)
    clock.freeze(clock.now().replace(minute=1, second=0, microsecond=0))
    first, second = Worker(db, settings, handlers=registry), Worker(db, settings, handlers=registry)
    await first.run_once()
    await second.run_once()
    await first.run_once()
    assert [kind for kind, _ in runs] == ["test.tick"]
    clock.advance(timedelta(hours=1))
    await second.run_once()
    await first.run_once()
    assert [kind for kind, _ in runs] == ["test.tick", "test.tick"]


async def test_a_job_whose_worker_died_is_taken_over_after_the_lease(app, db, settings):
    registry, runs = make_registry()
    async with db.session() as session:
        await enqueue(session, "test.record", {"n": 5})
        await session.commit()
    crashed = Worker(db, settings, handlers=registry, name="crashed")
    (claimed,) = await crashed.claim()
    survivor = Worker(db, settings, handlers=registry, name="survivor")
    assert await survivor.run_once() == 0  # the lease still holds
    clock.advance(timedelta(seconds=settings.worker_lease_seconds + 1))
    assert await survivor.run_once() == 1
    # the slow worker comes back and finishes: its result is discarded
    assert await crashed.run_job(claimed) is False
    (job,) = [j for j in await jobs(db) if j.kind == "test.record"]
    assert (job.status, job.attempts) == ("done", 2)
    assert runs == [("test.record", 5), ("test.record", 5)]


@pytest.mark.postgres
async def test_two_workers_never_run_the_same_job(app, settings, database_url, is_postgres):
    if not is_postgres:
        pytest.skip("SKIP LOCKED claiming is a PostgreSQL guarantee; SQLite has one writer")
    registry, runs = make_registry()
    dbs = [Database(database_url) for _ in range(2)]  # separate engines, as separate processes
    try:
        async with dbs[0].session() as session:
            for n in range(60):
                await enqueue(session, "test.record", {"n": n, "sleep": 0.005})
            await session.commit()
        batch = settings.model_copy(update={"worker_batch_size": 3})
        workers = [Worker(d, batch, handlers=registry, name=f"w{i}") for i, d in enumerate(dbs)]
        claims = await asyncio.gather(workers[0].claim(10), workers[1].claim(10))
        first, second = ({j.id for j in c} for c in claims)
        assert len(first) == len(second) == 10 and not first & second
        for claimed in claims:
            for job in claimed:
                await workers[0 if claimed is claims[0] else 1].run_job(job)
        totals = await asyncio.gather(*(w.run_until_idle() for w in workers))
        assert sum(totals) == 40
        assert all(total > 0 for total in totals)
    finally:
        for d in dbs:
            await d.dispose()
    assert sorted(n for _, n in runs) == list(range(60))
    async with dbs[0].session(write=False) as session:
        statuses = (await session.execute(select(OutboxJob.status, func.count()).group_by(OutboxJob.status))).all()
    assert dict(statuses) == {"done": 60}


async def test_a_long_job_does_not_hold_up_the_others(app, db, settings):
    """run_forever keeps LINLI_WORKER_CONCURRENCY jobs going and claims more as each finishes."""
    registry = Registry()
    release, fast_done, slow_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    done: list[object] = []

    @registry.job("test.slow")
    async def slow(ctx, payload):
        await release.wait()  # e.g. a batch of rate-limited pushes
        done.append("slow")
        slow_done.set()

    @registry.job("test.fast")
    async def fast(ctx, payload):
        done.append(payload["n"])
        if len(done) == 5:
            fast_done.set()

    async def add(kind: str, n: int = 0) -> None:
        async with db.session() as session:
            await enqueue(session, kind, {"n": n})
            await session.commit()

    await add("test.slow")
    quick = settings.model_copy(update={"worker_concurrency": 2, "worker_poll_seconds": 0.01})
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(db, quick, handlers=registry).run_forever(stop))
    try:
        for n in range(5):  # arriving one by one while the slow job holds a slot
            await add("test.fast", n)
        async with asyncio.timeout(20):  # with the slow job still holding its slot
            await fast_done.wait()
        assert done == [0, 1, 2, 3, 4]
        release.set()
        async with asyncio.timeout(20):
            await slow_done.wait()
    finally:
        release.set()
        stop.set()
        await running
    assert {j.status for j in await jobs(db)} == {"done"}
