"""Test harness: a real database per run (SQLite file by default, a fresh PostgreSQL database when
LINLI_TEST_DATABASE_URL is set), migrated with Alembic; tables emptied after every test; the app
driven over HTTP through httpx's ASGI transport; WeChat faked in-process (api.wechat.fake)."""

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
from api.wechat.fake import FakeWeChat
from tests.contract import api_client
from tests.live_servers import crowd  # noqa: F401 - the fixture: in-process, or real server processes
from tests.s3_server import moto_s3  # noqa: F401 - the fixture: moto's S3 server, once per session

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


def settings_values(database_url: str, **overrides: Any) -> dict[str, Any]:
    """The suite's settings as field → value (tests.live_servers hands them to `linli serve`)."""
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
    return values


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(_env_file=None, **settings_values(database_url, **overrides))  # type: ignore[call-arg]


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


@pytest.fixture
async def console(app: Any, client: httpx.AsyncClient) -> AsyncIterator[Any]:
    """`await console(person)`: a new browser (its own cookies) on the staff console, signed in as
    `person` by a scan-to-login ticket their phone confirms; `await console()` one not signed in."""
    from tests.console import Browser
    from tests.factories import Person

    opened: list[httpx.AsyncClient] = []

    async def open_browser(person: Person | None = None) -> Browser:
        http = api_client(app)
        await http.__aenter__()
        opened.append(http)
        browser = Browser(http)
        if person is not None:
            await browser.sign_in(client, person)
        return browser

    yield open_browser
    for http in opened:
        await http.__aexit__(None, None, None)


# -- the console in a real browser -----------------------------------------------------------------

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(os.path.dirname(__file__), "artifacts")


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or set LINLI_CHROMIUM)"
    return None


@pytest.fixture
async def live_console(app: Any) -> AsyncIterator[str]:
    """The app served over real HTTP on a free local port (in the tests' event loop): its base URL."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    import asyncio

    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def page(live_console: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A Chromium page (Debian's, launched by its path: browsers cannot be downloaded here) on the
    live console. Skipped where Chromium is missing, except with CI=true, where that fails the run.
    A screenshot of the page as the test left it goes to tests/artifacts/<test>.png."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = await browser.new_context(
            base_url=live_console, locale="zh-CN", viewport={"width": 1366, "height": 900}
        )
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.linli_errors = errors  # type: ignore[attr-defined]
        try:
            yield tab
        finally:
            os.makedirs(ARTIFACTS, exist_ok=True)
            name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
            try:
                await tab.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)
            finally:
                await context.close()
                await browser.close()
