"""Test harness: a real database per run (SQLite file by default, a fresh PostgreSQL database when
LINLI_TEST_DATABASE_URL is set), migrated with Alembic; tables emptied after every test; the app
driven over HTTP through httpx's ASGI transport; WeChat faked in-process (api.wechat_fake)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api import clock
from api.config import Settings
from api.db.base import Base
from api.db.migrate import upgrade
from api.db.session import Database
from api.main import create_app, shutdown
from api.wechat_fake import FakeWeChat
from tests.contract import api_client

PG_URL = os.environ.get("LINLI_TEST_DATABASE_URL")
TEST_SECRET = "test-secret-" + "x" * 32
MEDIA_DIR = tempfile.mkdtemp(prefix="linli-test-media-")  # photos of this run, never the developer's var/


def pytest_report_header(config: pytest.Config) -> str:
    return f"linli database: {'PostgreSQL ' + str(make_url(PG_URL).host) if PG_URL else 'SQLite'}"


async def _pg_admin_execute(url: str, statement: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database or "postgres"
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database() -> tuple[str, Any]:
    """A new empty database: (url, cleanup coroutine function)."""
    if PG_URL:
        name = f"linli_test_{uuid.uuid4().hex[:12]}"
        await _pg_admin_execute(PG_URL, f'CREATE DATABASE "{name}"')
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            await _pg_admin_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return url, drop
    import tempfile

    directory = tempfile.mkdtemp(prefix="linli-test-")
    url = f"sqlite+aiosqlite:///{directory}/test.db"

    async def remove() -> None:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)

    return url, remove


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    url, cleanup = await create_database()
    db = Database(url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    yield url
    await cleanup()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "development",
        "jwt_secret": TEST_SECRET,
        "wechat_mode": "fake",
        "embedded_worker": False,
        "worker_backoff_base_seconds": 10.0,
        "worker_max_attempts": 3,
        "log_level": "WARNING",
        # tests that are about them turn these on; elsewhere a night-time CI run must behave like noon
        "quiet_hours": "",
        "notify_send_rate_per_second": 0,
        "media_dir": MEDIA_DIR,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def _empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(autouse=True)
def _reset_clock() -> AsyncIterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    await _empty_tables(application.state.db)
    await shutdown(application)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture
def db(app: Any) -> Database:
    database: Database = app.state.db
    return database


WECHAT_APPID = "wx-test-app"
WECHAT_SECRET = "wx-test-secret"


@asynccontextmanager
async def real_wechat_app(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeWeChat, Any]]:
    """The app in real WeChat mode, talking to the in-process fake WeChat server."""
    fake = FakeWeChat(appid=WECHAT_APPID, secret=WECHAT_SECRET)
    settings = make_settings(
        database_url,
        wechat_mode="real",
        wechat_appid=WECHAT_APPID,
        wechat_secret=WECHAT_SECRET,
        wechat_api_base="https://wechat.test",
        **overrides,
    )
    http = httpx.AsyncClient(base_url=settings.wechat_api_base, transport=httpx.MockTransport(fake.handle))
    application = create_app(settings, wechat_http=http)
    try:
        async with api_client(application) as c:
            yield c, fake, application
    finally:
        await _empty_tables(application.state.db)
        await shutdown(application)


@pytest.fixture
async def real_wechat(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, FakeWeChat, Any]]:
    async with real_wechat_app(database_url) as running:
        yield running
