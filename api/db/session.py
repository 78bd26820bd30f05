"""Async engine and sessions.

SQLite gets WAL, a busy timeout and foreign keys, and write transactions start with
BEGIN IMMEDIATE: SQLite has one writer, and taking the write lock up front makes concurrent
writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from api.config import Settings, get_settings

if TYPE_CHECKING:
    from api.storage import Storage

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(database_url: str, *, echo: bool = False, connect_timeout: float = 5.0) -> AsyncEngine:
    """The engine. On PostgreSQL, a pooled connection is pinged as it is checked out and replaced
    if the server dropped it (a restart, a terminated backend): that is the one safe retry, made
    before the transaction has done anything. A server out of reach fails within
    `connect_timeout`, so requests answer 503 at once rather than hanging."""
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args={"timeout": connect_timeout})
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take over BEGIN from the driver, so that we can choose DEFERRED or IMMEDIATE
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """The engine plus two session factories: one for reads, one for transactions that write.

    Sessions carry the process's settings (`settings_of(session)`), so that rules deep in a service
    (which notification kinds have a WeChat template, the quiet hours) read the same configuration
    as the app or worker that opened them."""

    def __init__(
        self,
        database_url: str,
        *,
        echo: bool = False,
        settings: Settings | None = None,
        storage: Storage | None = None,
    ) -> None:
        timeout = settings.database_connect_timeout_seconds if settings is not None else 5.0
        self.engine = create_engine(database_url, echo=echo, connect_timeout=timeout)
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(self.engine) else self.engine
        )
        info: dict[str, Any] = {"settings": settings} if settings is not None else {}
        if storage is not None:
            info["storage"] = storage
        self.storage = storage
        self.read_sessions = async_sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.write_sessions = async_sessionmaker(write_engine, expire_on_commit=False, info=info)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> AsyncSession:
        return (self.write_sessions if write else self.read_sessions)()

    async def dispose(self) -> None:
        await self.engine.dispose()


def storage_of(session: AsyncSession) -> Storage:
    """Where the process that opened `session` keeps photos (see Database)."""
    storage = session.info.get("storage")
    if storage is None:
        raise RuntimeError("this Database was opened without a media storage")
    return cast("Storage", storage)


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the process that opened `session` (see Database)."""
    settings = session.info.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()
