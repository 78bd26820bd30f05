"""Async engine and sessions.

SQLite gets WAL, a busy timeout and foreign keys, and write transactions start with
BEGIN IMMEDIATE: SQLite has one writer, and taking the write lock up front makes concurrent
writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.

PostgreSQL (asyncpg) connections begin their transaction as they are taken from the pool, and a
pooled connection found dead there is replaced: see `_configure_postgresql`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from api.config import Settings, get_settings
from api.metrics import MeteredPool

if TYPE_CHECKING:
    from api.media.storage import Storage

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(database_url: str, *, echo: bool = False, connect_timeout: float = 5.0) -> AsyncEngine:
    """The engine. On PostgreSQL, a pooled connection the server dropped (a restart, a terminated
    backend) is replaced as it is taken, before the transaction has done anything: the one safe
    retry (`_configure_postgresql`). A server out of reach fails within `connect_timeout`, so
    requests answer 503 at once rather than hanging."""
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if url.database and url.database != ":memory:":
            kwargs["poolclass"] = MeteredPool  # the pool a file gets anyway, counted for /metrics
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # up to 20 connections, as before (10 kept plus 10 "overflow"), but all 20 kept once open: an
    # overflow connection is closed whenever it comes back to a full pool, and under a burst that
    # meant a new connection (TCP, TLS negotiation, authentication, codecs) every few requests.
    # Last in, first out: the connection handed out is the one used last, whose statements are
    # already prepared (asyncpg prepares each statement once per connection: a round trip, and
    # the type look-ups of a new statement), rather than the one idle longest.
    kwargs.update(
        pool_size=20,
        max_overflow=0,
        pool_use_lifo=True,
        connect_args={"timeout": connect_timeout},
        poolclass=MeteredPool,  # SQLAlchemy's asyncio pool, counted for /metrics (api.metrics)
    )
    engine = create_async_engine(url, **kwargs)
    if url.get_driver_name() == "asyncpg":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: AsyncEngine) -> None:
    """Begin the transaction as the connection is taken from the pool, and take another connection
    if that BEGIN finds this one dead.

    asyncpg's adapter sends BEGIN as a round trip of its own before a transaction's first statement;
    here it is sent a moment earlier, when the pool hands the connection out, where a
    DisconnectionError makes the pool invalidate the connection and try again on a new one. So a
    connection dropped while it sat in the pool costs its request one reconnect, not a 503, and no
    request pays for a ping (pool_pre_ping: BEGIN, a ping and ROLLBACK, three round trips per
    checkout). Nothing of the transaction had run, so the retry is safe. A connection that dies
    later, in the middle of a transaction, is not retried: the request answers 503 (api.main).

    A connection the request then switches to another isolation level has the BEGIN rolled back
    first (the adapter does that), as one that is given back unused has."""

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["linli_fresh"] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _begin(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        fresh = record.info.pop("linli_fresh", False)
        if dbapi_connection._transaction is not None or dbapi_connection.isolation_level == "autocommit":
            return
        driver = dbapi_connection.driver_connection
        if driver.is_closed() and not fresh:  # the server's goodbye already arrived: no round trip
            raise DisconnectionError("the pooled connection was closed by the server")
        try:
            await_only(dbapi_connection._start_transaction())
        except Exception as exc:
            # a new connection that cannot begin means the server is in trouble: that error is
            # the answer (a 503), not another connection
            if fresh or not driver.is_closed():
                raise
            raise DisconnectionError("the pooled connection was dropped by the server") from exc


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
