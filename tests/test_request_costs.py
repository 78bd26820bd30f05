"""What every request pays, kept small: GET /me reads with one statement and no connection ping;
on PostgreSQL a batch of bookings is two statements (the reads with the lock, the writes) whatever
its size;
a pooled connection the server dropped is replaced as it is taken (the one safe retry, before the
transaction has run anything), so a PostgreSQL restart or a killed backend costs no request a 503.
A database out of reach is still a 503 (tests/test_api_contract.py, tests/test_outage.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from api.services.activities import burst
from tests.factories import Person, activity, book, community, join, login, platform_admin


async def _admin(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )


async def _app_backends(admin: asyncpg.Connection) -> set[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    return {row["pid"] for row in rows}


async def _residents(client: Any, db: Any, n: int) -> tuple[Person, int, list[Person]]:
    """A platform admin, a community and `n` residents of it, each in a household of their own."""
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    people = [await login(client, f"resident{i}") for i in range(n)]
    for i, person in enumerate(people):
        await join(client, person, b, room=str(101 + i))
    return root, b, people


async def test_get_me_reads_with_one_statement_and_pings_nothing(client, db, is_postgres, monkeypatch):
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    alice = await login(client, "alice")
    await join(client, alice, b)
    await client.get("/api/v1/me", headers=alice.headers)  # the statement is compiled and cached

    statements: list[str] = []
    pings = Counter[str]()

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN is sent as a statement
            statements.append(statement)

    def ping(_dbapi_connection: Any) -> bool:
        pings["ping"] += 1
        return True

    engine = db.engine.sync_engine
    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    event.listen(engine, "before_cursor_execute", executed)
    try:
        me = await client.get("/api/v1/me", headers=alice.headers)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert me.status_code == 200 and me.json()["memberships"][0]["community_id"] == b
    assert len(statements) == 1, statements
    assert pings["ping"] == 0
    if is_postgres:
        assert not engine.pool._pre_ping


@pytest.mark.postgres
async def test_a_batch_of_bookings_is_two_statements_whatever_its_size(client, db, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL only: on SQLite the batch's statements go one by one (one writer)")
    root, b, residents = await _residents(client, db, 12)
    a = await activity(client, root, b, capacity=5)

    statements: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    before = int(burst.STATS.get(a["id"], {}).get("batches", 0))  # (another test's activity may have had its id)
    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        answers = await asyncio.gather(
            *(book(client, person, a["id"], **{"Idempotency-Key": f"k{i}"}) for i, person in enumerate(residents))
        )
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert [r.status_code for r in answers] == [201] * 12
    assert sorted(r.json()["status"] for r in answers) == ["confirmed"] * 5 + ["waitlisted"] * 7
    batches = int(burst.STATS[a["id"]]["batches"]) - before
    assert batches < 12  # requests that arrived together went together
    reads = [s for s in statements if "pg_try_advisory_xact_lock" in s]
    writes = [s for s in statements if s.lstrip().startswith("WITH b AS")]
    assert len(reads) == len(writes) == batches and len(statements) == 2 * batches, statements


@pytest.mark.postgres
async def test_the_booking_read_is_prepared_as_a_process_starts_and_touches_nothing(client, db, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL only: on SQLite there is nothing to prepare")
    from api.services.activities import booking_batch

    root = await platform_admin(client, db)
    a = await activity(client, root, (await community(client, root))["id"])

    async def state() -> tuple[Any, ...]:
        async with db.session() as session:
            row = await session.execute(text("SELECT taken, updated_at FROM activities WHERE id = :a"), {"a": a["id"]})
            ids = (await session.execute(text("SELECT last_value, is_called FROM bookings_id_seq"))).one()
            return (*row.one(), *ids)

    before = await state()
    await booking_batch.warm_up(db)
    assert await state() == before  # no activity locked or changed, no booking id drawn


@pytest.mark.postgres
async def test_connections_killed_in_the_pool_are_replaced_without_a_503(app, client, db, database_url, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has no connections to drop")
    *_, people = await _residents(client, db, 8)
    new_connections = Counter[str]()

    def connected(*_args: Any) -> None:
        new_connections["connect"] += 1

    event.listen(db.engine.sync_engine, "connect", connected)
    admin = await _admin(database_url)
    try:
        for settle in (0.0, 0.3):
            # several connections in the pool, each used by a request before
            answers = await asyncio.gather(*(client.get("/api/v1/me", headers=p.headers) for p in people))
            assert all(a.status_code == 200 for a in answers)
            pooled = await _app_backends(admin)
            assert pooled
            new_connections.clear()
            killed = await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            assert killed == len(pooled)
            # at once (the app may not have seen the goodbye yet: BEGIN finds the connection dead),
            # and after a moment (the pool sees it closed as it hands it out)
            await asyncio.sleep(settle)
            answers = await asyncio.gather(*(client.get("/api/v1/me", headers=p.headers) for p in people))
            assert [a.status_code for a in answers] == [200] * len(people), [a.text for a in answers]
            assert [a.json()["id"] for a in answers] == [p.user_id for p in people]
            assert new_connections["connect"] >= 1  # the dead ones were replaced, not pinged
            assert not (await _app_backends(admin)) & pooled
        # a change too (a write transaction)
        changed = await client.patch("/api/v1/me", json={"display_name": "换了名字"}, headers=people[0].headers)
        assert changed.status_code == 200 and changed.json()["display_name"] == "换了名字"
    finally:
        event.remove(db.engine.sync_engine, "connect", connected)
        await admin.close()


@pytest.mark.postgres
async def test_a_connection_taken_for_another_isolation_level_still_works(db, is_postgres):
    """The transaction begun as the connection left the pool is rolled back first."""
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert (await autocommit.execute(text("SELECT 1"))).scalar() == 1
    async with db.engine.connect() as conn:
        serial = await conn.execution_options(isolation_level="SERIALIZABLE")
        level = (await serial.execute(text("SHOW transaction_isolation"))).scalar()
        assert level == "serializable"
    async with db.engine.connect() as conn:  # handed back reset to the default
        level = (await conn.execute(text("SHOW transaction_isolation"))).scalar()
        assert level == "read committed"
