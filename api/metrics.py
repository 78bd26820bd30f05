"""Prometheus metrics: defined once here, observed where things happen, served at /metrics.

Two kinds of numbers:

- what a process saw (requests, pool checkouts, jobs run, pushes, photo renditions), kept in the
  process by prometheus-client. Under `linli serve --workers N` every server process writes its
  own into files under PROMETHEUS_MULTIPROC_DIR (set by `linli serve`), and whichever process
  answers a scrape adds them all up, so one scrape of the port sees the whole server;
- what the database holds (the outbox), read at scrape time by one grouped query. Only the API
  serves these, so that an alert on them fires once, not once per process that could answer.

Who may scrape: a request carrying `Authorization: Bearer <LINLI_METRICS_TOKEN>`, or, when no token
is set, one from this machine (loopback) that came through no proxy (see `allowed`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, event, func, select
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection

from api import clock
from api.db.models import OutboxJob
from api.errors import error_body

if TYPE_CHECKING:
    from api.db.session import Database

log = logging.getLogger("linli.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # the route label of a path no route matched (404s of scanners): one series, not one per path
SCRAPE_QUERY_TIMEOUT_SECONDS = 3.0
_LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
# a request that passed through a proxy carries one of these, whatever address it arrives from
_FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")

# -- what processes see --------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "linli_http_requests",
    "HTTP requests answered, by method, route template (unmatched: no route) and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "linli_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge("linli_http_requests_in_flight", "HTTP requests being answered now", multiprocess_mode="livesum")
POOL_IN_USE = Gauge(
    "linli_db_pool_in_use",
    "Database connections checked out of the pool (held by a request or job) as of the last checkout or return",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "linli_db_pool_waiting",
    "Callers inside the pool's checkout now: waiting for a free connection, opening a new one, "
    "or (PostgreSQL) sending the BEGIN that starts each checkout",
    multiprocess_mode="livesum",
)
POOL_CHECKOUT_SECONDS = Histogram(
    "linli_db_pool_checkout_seconds",
    "Time taken to get a connection from the pool (waiting for a free one included)",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0),
)
WORKER_JOBS = Counter(
    "linli_worker_jobs",
    "Outbox jobs run by this worker, by kind and outcome "
    "(done; failed: will retry; dead: parked; rescheduled: not yet due, no attempt counted; lost: lease lost)",
    ["kind", "outcome"],
)
WORKER_JOB_SECONDS = Histogram(
    "linli_worker_job_duration_seconds",
    "Time a job's run took, whatever its outcome, by kind",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
DELIVERIES = Counter(
    "linli_deliveries",
    "WeChat subscribe-message pushes attempted, by the status recorded and WeChat's errcode "
    '("" when WeChat gave none: sent, or out of reach)',
    ["status", "errcode"],
)
PHOTO_SECONDS = Histogram(
    "linli_photo_processing_seconds",
    "Time to decode a photo and make its renditions (waiting for a decode slot excluded)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0),
)


# (method, route, status) → its counter and histogram: the labels looked up once per combination
# (each lookup takes a lock), one dict look-up per request after that
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    if method not in _METHODS:  # any token is a method to the HTTP parser: one series for the odd ones
        method = "OTHER"
    series = _request_series.get((method, route, status))
    if series is None:
        labels = (method, route, str(status))
        series = _request_series[(method, route, status)] = (
            HTTP_REQUESTS.labels(*labels),
            HTTP_SECONDS.labels(*labels),
        )
    series[0].inc()
    series[1].observe(seconds)


def route_of(scope: Mapping[str, Any]) -> str:
    """The template of the route that answered (`/api/v1/activities/{activity_id}`), never the
    raw path, which would make a series per id. FastAPI leaves the route as its router declared
    it in scope["route"] (without the prefix it was included under) and the route as included in
    scope["fastapi"]["effective_route_context"]; a mounted app (the console's static files) leaves only its
    mount point, in root_path."""
    included = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(included, "path", None) or getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None:
        return f"{scope.get('root_path', '')}/{{path}}"
    return UNMATCHED


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, counting who is inside a checkout and how long it takes.

    The pool tells how many connections are out (`checkedout()`) but not who waits for one: the
    wait happens inside `connect()`, so that is where it is counted. The in-use gauge is set from
    the pool's own count whenever it changes (a checkout, a return), so it cannot drift. The
    gauges are the process's, as is its one Database (the API's, or the worker's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        event.listen(self, "checkin", self._returned)

    def connect(self) -> PoolProxiedConnection:
        POOL_WAITING.inc()
        started = time.perf_counter()
        try:
            connection = super().connect()
        finally:
            POOL_WAITING.dec()
            POOL_CHECKOUT_SECONDS.observe(time.perf_counter() - started)
        POOL_IN_USE.set(self.checkedout())
        return connection

    def _returned(self, _dbapi_connection: Any, _record: Any) -> None:
        # "checkin" comes just before the connection goes back, so the pool still counts it as out
        POOL_IN_USE.set(max(self.checkedout() - 1, 0))


# SQLAlchemy names a pool's logger after its class: this one falls outside the "sqlalchemy" loggers
# (quiet below WARNING unless echo is asked for), and would log every dispose at INFO
if logging.getLogger(f"{__name__}.MeteredPool").level == logging.NOTSET:
    logging.getLogger(f"{__name__}.MeteredPool").setLevel(logging.WARNING)


# -- what the database holds -----------------------------------------------------------------------


class _Snapshot(Collector):
    """Metric families built for one scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self.families)


async def database_families(db: Database) -> list[GaugeMetricFamily]:
    """The outbox as the database has it now, in one grouped query (its done jobs are kept
    LINLI_OUTBOX_KEEP_DONE_DAYS, so the table stays small); if the database does not answer
    within a few seconds, only `linli_database_up 0`."""
    now = clock.now()
    due = case((and_(OutboxJob.status == "pending", OutboxJob.run_at <= now), OutboxJob.run_at))
    query = select(OutboxJob.kind, OutboxJob.status, func.count(), func.min(due)).group_by(
        OutboxJob.kind, OutboxJob.status
    )

    async def read() -> list[Any]:
        async with db.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    up = GaugeMetricFamily("linli_database_up", "1 if the database answered this scrape's query, else 0")
    try:
        rows = await asyncio.wait_for(read(), SCRAPE_QUERY_TIMEOUT_SECONDS)
    except Exception as exc:  # an outage must not fail the scrape: the process's own metrics still count
        log.warning("metrics: database unavailable", extra={"error": repr(exc)[:300]})
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    jobs = GaugeMetricFamily("linli_outbox_jobs", "Outbox jobs by kind and state", labels=["kind", "state"])
    dead = GaugeMetricFamily("linli_outbox_dead_jobs", "Jobs parked dead after their last attempt (all kinds)")
    oldest = GaugeMetricFamily(
        "linli_outbox_oldest_due_seconds", "Age of the oldest job waiting to run (pending and due), 0 if none"
    )
    dead_count = 0
    oldest_at: datetime | None = None
    for kind, state, count, first_due in rows:
        jobs.add_metric([kind, state], count)
        if state == "dead":
            dead_count += count
        if first_due is not None and (oldest_at is None or first_due < oldest_at):
            oldest_at = first_due
    dead.add_metric([], dead_count)
    oldest.add_metric([], max((now - oldest_at).total_seconds(), 0.0) if oldest_at is not None else 0.0)
    return [up, jobs, dead, oldest]


# -- exposition ------------------------------------------------------------------------------------


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition(extra: Iterable[GaugeMetricFamily] = ()) -> bytes:
    """The text a scrape gets: this process's metrics (all server processes' in multiprocess mode),
    then `extra`."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    families = list(extra)
    if families:
        snapshot = CollectorRegistry(auto_describe=False)
        snapshot.register(_Snapshot(families))
        text += generate_latest(snapshot)
    return text


def forget_process() -> None:
    """A server process that stops drops its live gauges (in flight, pool) from the sum."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def allowed(
    headers: Iterable[tuple[bytes, bytes]], client_host: str | None, token: str, *, loopback: bool = True
) -> bool:
    """Whether a scrape may read the metrics.

    With a token set: only with `Authorization: Bearer <token>` (compared in constant time).
    Without: nobody when `loopback` is false (the API in production, whose port sits behind the
    internet's reverse proxy); otherwise only from loopback, and only when no proxy header is
    present. The address is the one uvicorn reports, which with proxy_headers is taken from
    X-Forwarded-For when the connection comes from a trusted proxy (loopback by default); a reverse
    proxy on this machine would make every internet request look local, so a request that passed
    through one (it carries X-Forwarded-For, Forwarded or X-Real-IP) is never treated as local. A
    proxy that adds none of these cannot be told apart: set a token whenever the port is reachable
    through a proxy."""
    names = {name.lower(): value for name, value in headers}
    if token:
        given = names.get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token.encode())
    if not loopback or any(name in names for name in _FORWARDED):
        return False
    return client_host in _LOOPBACK


CONTENT_TYPE = CONTENT_TYPE_LATEST
REFUSED_CODE = "metrics_unauthorized"
REFUSED_MESSAGE = "需要监控令牌，或从本机访问"


# -- the worker's endpoint -------------------------------------------------------------------------

_READ_TIMEOUT_SECONDS = 5.0


class _QuietHandler(WSGIRequestHandler):
    timeout = _READ_TIMEOUT_SECONDS  # a client that sends nothing is dropped, not waited on

    def log_message(self, format: str, *args: Any) -> None:
        pass  # wsgiref writes every request to stderr; Prometheus's scrape every few seconds is not news


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _worker_metrics_app(token: str) -> Any:
    """The WSGI app behind the worker's port: /metrics with the API's rule for who may read it."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [
            (key[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1"))
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        extra: list[tuple[str, str]] = []
        content_type = "application/json"
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != "/metrics":
            status, body = (
                "404 Not Found",
                json.dumps(error_body("not_found", "找不到该资源"), ensure_ascii=False).encode(),
            )
        elif not allowed(headers, environ.get("REMOTE_ADDR"), token):
            status, body = (
                "401 Unauthorized",
                json.dumps(error_body(REFUSED_CODE, REFUSED_MESSAGE), ensure_ascii=False).encode(),
            )
            extra.append(("WWW-Authenticate", "Bearer"))
        else:
            status, body, content_type = "200 OK", exposition(), CONTENT_TYPE
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra])
        return [body]

    return app


class WorkerMetricsServer:
    """The worker's /metrics on `host`:`port`: the standard library's WSGI server in a thread of its
    own (prometheus-client's own server is the same, but has no way to check a token), so a busy
    event loop does not delay a scrape and the scrape does not touch the loop."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.server = make_server(
            host, port, _worker_metrics_app(token), server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, name="worker-metrics", daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.shutdown)
        self.server.server_close()
