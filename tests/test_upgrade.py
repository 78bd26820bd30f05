"""Upgrading a database that holds the previous release's demo data: `linli migrate` takes it to
head, every row is still there, and the new migration's backfill is right (0014: each activity's
`waiting` is its waitlisted bookings, which the API shows as `waitlist`). On SQLite this caught
0014 emptying bookings (api.db.migrate.migrating). A backup of that release restores as
it was and then migrates the same way.

The previous release is the commit before the newest migration; its demo data, written by that
release's own code, is tests/fixtures/release_0013_demo.sql.gz (tests/fixtures/make_release_fixture.sh
makes it; README, "Upgrading"). On SQLite the dump is loaded as it is; on PostgreSQL a database is
migrated to the release's revision and the dump's rows are copied into it table by table."""

from __future__ import annotations

import asyncio
import gzip
import io
import sqlite3
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from api.cli import main
from api.config import get_settings
from api.db.base import Base
from api.db.migrate import current_revision, head_revision, upgrade
from api.db.models import Activity
from api.db.session import Database
from api.main import create_app, shutdown
from tests.conftest import create_database, make_settings
from tests.contract import api_client
from tests.factories import login
from tests.test_backup import Installation, require_pg_tools

FIXTURE = Path(__file__).parent / "fixtures" / "release_0013_demo.sql.gz"
RELEASE_REVISION = "0013_audit"


def _release_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(gzip.decompress(FIXTURE.read_bytes()).decode())
    finally:
        connection.close()


def _release_facts(path: Path) -> dict[str, Any]:
    """What the release's data says, read with plain SQL before anything is migrated."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            "revision": connection.execute("SELECT version_num FROM alembic_version").fetchone()[0],
            "counts": {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables},
            "published": [row[0] for row in connection.execute("SELECT id FROM activities WHERE status = 'published'")],
            "waitlisted": dict(
                connection.execute(
                    "SELECT activity_id, count(*) FROM bookings WHERE status = 'waitlisted' GROUP BY activity_id"
                ).fetchall()
            ),
            "confirmed_seats": dict(
                connection.execute(
                    "SELECT activity_id, sum(seats) FROM bookings WHERE status = 'confirmed' GROUP BY activity_id"
                ).fetchall()
            ),
        }
    finally:
        connection.close()


async def _copy_rows(source: Path, url: str) -> None:
    """The release's rows into a PostgreSQL database at the release's revision, table by table,
    with the models' column types (so that timestamps and JSON are read and written as values)."""
    reader = create_async_engine(f"sqlite+aiosqlite:///{source}")
    writer = create_async_engine(url)
    try:
        async with reader.connect() as read, writer.begin() as write:
            # foreign-key triggers off while the rows go in (they are the fixture's, consistent as made)
            await write.execute(text("SET LOCAL session_replication_role = replica"))
            for model_table in Base.metadata.sorted_tables:
                name = model_table.name
                present = {c["name"] for c in await read.run_sync(lambda c, n=name: inspect(c).get_columns(n))}
                table = Table(
                    name,
                    MetaData(),
                    *[
                        Column(c.name, c.type, primary_key=c.primary_key)
                        for c in model_table.columns
                        if c.name in present
                    ],
                )
                rows = [dict(row._mapping) for row in await read.execute(select(table))]
                if rows:
                    await write.execute(table.insert(), rows)
                    if "id" in present:
                        await write.execute(
                            text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                        )
            version = (await read.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            await write.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
    finally:
        await reader.dispose()
        await writer.dispose()


@pytest.fixture
async def release_database(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A database holding the previous release's demo data, at that release's migration."""
    dump = tmp_path / "release.db"
    await asyncio.to_thread(_release_sqlite, dump)
    facts = await asyncio.to_thread(_release_facts, dump)
    url, cleanup = await create_database()
    try:
        if make_url(url).get_backend_name() == "sqlite":
            await asyncio.to_thread(_release_sqlite, Path(str(make_url(url).database)))
        else:
            db = Database(url)
            try:
                await upgrade(db.engine, facts["revision"])
            finally:
                await db.dispose()
            await _copy_rows(dump, url)
        yield url, facts
    finally:
        await cleanup()


def _migrate(url: str) -> int:
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(io.StringIO()):
        patch.setenv("LINLI_DATABASE_URL", url)
        patch.setenv("LINLI_LOG_LEVEL", "WARNING")
        get_settings.cache_clear()
        try:
            return main(["migrate"])
        finally:
            get_settings.cache_clear()


async def test_the_previous_releases_demo_data_migrates_to_head(release_database: tuple[str, dict[str, Any]]) -> None:
    url, facts = release_database
    assert facts["revision"] == RELEASE_REVISION
    assert head_revision() != RELEASE_REVISION  # else there is nothing to upgrade: make a new fixture
    assert facts["waitlisted"]  # the demo's full craft activity has a waitlist: the backfill has work to do

    assert await asyncio.to_thread(_migrate, url) == 0

    app = create_app(make_settings(url))
    try:
        db: Database = app.state.db
        assert await current_revision(db.engine) == head_revision()
        async with db.engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
            after = {
                name: (await connection.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one() for name in names
            }
        assert {name: after[name] for name in facts["counts"]} == facts["counts"]  # every row still there

        async with api_client(app) as client:
            chen = await login(client, "chen")  # the release's demo resident, not a new account
            me = await client.get("/api/v1/me", headers=chen.headers)
            assert me.status_code == 200, me.text
            assert me.json()["display_name"] == "陈妈妈"
            for activity_id in facts["published"]:
                detail = await client.get(f"/api/v1/activities/{activity_id}", headers=chen.headers)
                assert detail.status_code == 200, detail.text
                body = detail.json()
                assert body["waitlist"] == facts["waitlisted"].get(activity_id, 0), activity_id
                assert body["taken"] == facts["confirmed_seats"].get(activity_id, 0), activity_id
    finally:
        await shutdown(app)


async def test_a_backup_of_the_previous_release_restores_as_it_was_then_migrates(
    release_database: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    require_pg_tools()
    url, facts = release_database
    source = Installation(url, None, tmp_path / "media-source")
    code, _, err = await asyncio.to_thread(source.linli, "backup", str(tmp_path / "backup"))
    assert code == 0, err

    target_url, cleanup = await create_database()
    try:
        target = Installation(target_url, cleanup, tmp_path / "media-target")
        code, out, err = await asyncio.to_thread(target.linli, "restore", str(tmp_path / "backup"))
        assert code == 0, err
        assert f"the backup is at migration {RELEASE_REVISION}: run `linli migrate`" in out
        db = Database(target_url)
        try:
            assert await current_revision(db.engine) == RELEASE_REVISION  # restored as it was, not migrated
        finally:
            await db.dispose()

        code, _, err = await asyncio.to_thread(target.linli, "migrate")
        assert code == 0, err
        db = Database(target_url)
        try:
            assert await current_revision(db.engine) == head_revision()
            async with db.session(write=False) as session:
                rows = (await session.execute(select(Activity.id, Activity.waiting))).all()
        finally:
            await db.dispose()
        assert {activity_id: waiting for activity_id, waiting in rows if waiting} == facts["waitlisted"]
    finally:
        await cleanup()
