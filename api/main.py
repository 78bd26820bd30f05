"""The application factory: settings, database, WeChat client, routers, errors, request ids."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import console, localtime, metrics, openapi
from api.config import Settings, get_settings
from api.console import web as console_web
from api.db.session import Database
from api.errors import AppError, Unauthorized, error_body
from api.logging import configure_logging, request_id_var
from api.media.storage import Storage, build_storage
from api.routers import (
    activities,
    announcements,
    auth,
    categories,
    communities,
    concerns,
    console_logins,
    feed,
    health,
    households,
    library,
    meetings,
    notifications,
    poll_results,
    polls,
    projects,
    record_books,
    report_submissions,
    reports,
    surveys,
    volunteers,
)
from api.schemas.common import has_control
from api.services.activities import booking_batch, burst
from api.services.idempotency import IdempotentReplay
from api.services.notifications import catalogue
from api.validation import describe
from api.wechat.client import WeChatClient, build_http_client

log = logging.getLogger("linli.api")

API_PREFIX = "/api/v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

STATUS_CODES = {
    400: ("bad_request", "请求有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "找不到该资源"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "与当前状态冲突"),
    413: ("body_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "请求参数不正确"),
    429: ("too_many_requests", "操作太频繁，请稍后再试"),
}


# How long a client should wait before retrying when the database is out of reach.
RETRY_AFTER_SECONDS = 5
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is out of reach (down, restarting, connections dropped or
    all busy), not a bug: the request changed nothing and may be retried."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_outage(inner) for inner in exc.exceptions)
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        message = str(exc.orig)
        if "database is locked" in message:  # SQLite's one writer stayed busy past the timeout
            return True
        orig = exc.orig
        states = {getattr(orig, "sqlstate", None), getattr(getattr(orig, "__cause__", None), "sqlstate", None)}
        # 08 connection exception, 57 operator intervention (shutdown, restart), 53 too many connections
        return any(isinstance(state, str) and state[:2] in ("08", "57", "53") for state in states)
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def outage_response(request_id: str) -> JSONResponse:
    return JSONResponse(
        error_body(
            "service_unavailable",
            f"服务暂时不可用，请 {RETRY_AFTER_SECONDS} 秒后重试",
            {"request_id": request_id, "retry_after": RETRY_AFTER_SECONDS},
        ),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class RequestContextMiddleware:
    """Gives every request an X-Request-ID (the client's, if sane) and the deployment's time zone
    until it names its community, logs one JSON line per request and counts it for /metrics (by
    route template and status; /metrics itself included), and turns anything unhandled into
    an answer in the error envelope without a stack trace: 503 with Retry-After when the database
    is out of reach, 500 otherwise."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.zone = settings.tz

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        metrics.HTTP_IN_FLIGHT.inc()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            with localtime.request_scope(self.zone):
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            outage = is_outage(exc)
            if outage:
                log.warning(
                    "database unavailable",
                    extra={"method": scope["method"], "path": scope["path"], "error": repr(exc)[:300]},
                )
            else:
                log.exception("unhandled error", extra={"method": scope["method"], "path": scope["path"]})
            if not response_started:
                response: Response
                if outage and console_web.is_console_path(scope["path"]):
                    response = console_web.outage_page(RETRY_AFTER_SECONDS)
                elif outage:
                    response = outage_response(request_id)
                else:
                    response = JSONResponse(
                        error_body("internal_error", "服务器开小差了，请稍后再试", {"request_id": request_id}),
                        status_code=500,
                    )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = metrics.route_of(scope)  # routing has filled scope["route"] in by now
            metrics.HTTP_IN_FLIGHT.dec()
            metrics.observe_request(scope["method"], route, status, elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` (an HTTPException, so that FastAPI's body reading passes it on)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.limit = limit


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body("body_too_large", f"请求内容太大：最多 {_size_text(limit)}", {"max_bytes": limit}),
        status_code=413,
    )


def _size_text(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024:
        return f"{limit // 1024} KB"
    return f"{limit} 字节"


class RequestGuardMiddleware:
    """Refuses what no route should ever parse, before any of it is read or the caller is known:

    - a body larger than LINLI_MAX_JSON_BYTES (413 `body_too_large`), by its Content-Length at once
      or by counting as it arrives; the upload routes (photos, catalogue sheets in the API and the
      console) bound their own (larger) bodies;
    - a query string or path holding control characters (422), which no text field accepts and
      PostgreSQL refuses (NUL)."""

    def __init__(self, app: ASGIApp, limit: int, exempt: re.Pattern[str]) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _control_in_request(scope)
        if bad is not None:
            await _control_refused(*bad)(scope, receive, send)
            return
        if self.exempt.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _BodyTooLarge:
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _control_in_request(scope: Scope) -> tuple[str, str | None] | None:
    """Where the request's path or query holds a control character: (source, parameter)."""
    if has_control(scope["path"]):
        return "path", None
    raw: bytes = scope.get("query_string", b"")
    if raw and (b"%" in raw or any(byte < 0x20 or byte == 0x7F for byte in raw)):
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if has_control(key) or has_control(value):
                return "query", None if has_control(key) else key
    return None


def _control_refused(source: str, name: str | None) -> JSONResponse:
    where = name or ("查询参数" if source == "query" else "请求路径")
    detail = {"field": name, "in": source, "type": "control_character", "message": "不能含有控制字符"}
    return JSONResponse(error_body("validation_error", f"{where}：不能含有控制字符", [detail]), status_code=422)


def _console(request: Request) -> bool:
    """Whether the request is the staff console's: its errors are pages or htmx fragments."""
    return console_web.is_console_path(request.url.path)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(console_web.LoginRequired)
    async def console_login(request: Request, _exc: console_web.LoginRequired) -> Response:
        return console_web.login_redirect(request)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        if _console(request):
            response = console_web.error_response(request, exc.status, exc.code, exc.message, exc.details)
            response.headers.update(exc.headers or {})
            return response
        # details may carry times and the like: encoded as the responses encode them
        body = localtime.localize_json(exc.body())
        return JSONResponse(to_jsonable_python(body), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(IdempotentReplay)
    async def replay(_request: Request, exc: IdempotentReplay) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code, headers={"Idempotent-Replayed": "true"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        code, message, details = describe(request.scope.get("route"), exc.errors())
        if _console(request):
            return console_web.error_response(request, 422, code, message, details)
        return JSONResponse(error_body(code, message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, _BodyTooLarge):
            return _too_large(exc.limit)
        if _console(request):
            code, message = STATUS_CODES.get(exc.status_code, ("http_error", "请求失败"))
            return console_web.error_response(request, exc.status_code, code, message)
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # a JSON body that is not UTF-8 is as malformed as one that does not parse (422, not 400)
            invalid = [{"type": "json_invalid", "loc": ("body", 0), "msg": "", "input": {}}]
            code, message, details = describe(request.scope.get("route"), invalid)
            return JSONResponse(error_body(code, message, details), status_code=422)
        code, message = STATUS_CODES.get(exc.status_code, ("http_error", "请求失败"))
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        # a constraint caught what the service's own checks did not (usually a race): nothing was written
        log.warning("integrity error", extra={"error": str(exc.orig)[:500]})
        if _console(request):
            return console_web.error_response(request, 409, "conflict", "数据已被其他请求修改，请刷新后重试")
        return JSONResponse(error_body("conflict", "数据已被其他请求修改，请刷新后重试"), status_code=409)


def create_app(
    settings: Settings | None = None,
    *,
    wechat_http: httpx.AsyncClient | None = None,
    storage: Storage | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    catalogue.check_templates(settings)
    storage = storage or build_storage(settings)
    db = Database(settings.database_url, echo=settings.database_echo, settings=settings, storage=storage)
    http = wechat_http or build_http_client(settings)
    wechat = WeChatClient(settings, http, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        worker_task: asyncio.Task[None] | None = None
        if settings.run_embedded_worker:
            from workers import jobs  # noqa: F401 - registers the handlers
            from workers.runner import Worker

            worker_task = asyncio.create_task(Worker(db, settings, wechat).run_forever(stop))
        try:
            await booking_batch.warm_up(db)
        except Exception as exc:  # the database out of reach at start-up: requests will say so (503)
            log.warning("booking statements not warmed up: %s", exc)
        # everything imported and built so far lives as long as the process: moved out of the
        # cyclic collector's sight, its full collections stop walking it (a year's report makes
        # enough objects to trigger several; bench/reports.py: ~0.15 s of CPU less per report)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await shutdown(app)
            metrics.forget_process()

    app = FastAPI(
        title="Linli 邻里",
        version="0.1.0",
        description="社区参与小程序后端：预约活动、借书、志愿服务、记录与分享、议事协商。",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.http = http
    app.state.wechat = wechat

    app.add_middleware(
        RequestGuardMiddleware,
        limit=settings.max_json_bytes,
        # the uploads bound their own bodies: photos, and catalogue sheets (the API's and the console's)
        # and flats sheets (areas and owners: the API's and the console's), paper ballots' photos
        exempt=re.compile(
            rf"^({API_PREFIX}(/media|/communities/[^/]+/books/import)"
            rf"|{API_PREFIX}/communities/[^/]+/households/flats/(preview|import)"
            rf"|{console_web.PREFIX}/c/[^/]+/library/import/(preview|commit)"
            rf"|{console_web.PREFIX}/c/[^/]+/households/flats/(preview|commit)"
            # a paper ballot with its photo (console.polls bounds it by the photo's limit)
            rf"|{console_web.PREFIX}/c/[^/]+/polls/[^/]+/entries)$"
        ),
    )
    app.add_middleware(RequestContextMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    _install_error_handlers(app)

    mounted = [
        # the booking burst's route first: matching it does not walk the other routers' routes
        (API_PREFIX, activities.hot),
        ("", health.router),
        *(
            (API_PREFIX, module.router)
            for module in (
                auth,
                communities,
                households,
                activities,
                library,
                volunteers,
                feed,
                concerns,
                notifications,
                announcements,
                projects,
                reports,
                report_submissions,
                record_books,
                meetings,
                # -- surveys
                surveys,
                # -- polls
                polls,
                poll_results,  # votes: results, export, ties (issue 16)
            )
        ),
        (API_PREFIX, volunteers.public),
        (API_PREFIX, feed.public),
        (API_PREFIX, categories.router),
        (API_PREFIX, console_logins.router),
    ]
    for prefix, router in mounted:
        app.include_router(router, prefix=prefix)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    openapi.install(app, mounted)
    console.install(app)
    return app


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus's page: this server's metrics and the outbox as the database has it (api.metrics).
    Not in the OpenAPI: it is for the operator's Prometheus, not for the mini-program."""
    settings: Settings = request.app.state.settings
    client = request.scope.get("client")
    # in production the API's port is what the reverse proxy forwards the internet to, and a proxy
    # that adds no X-Forwarded-For makes every caller look local: there, the token only
    if not metrics.allowed(
        request.scope["headers"],
        client[0] if client else None,
        settings.metrics_token.get_secret_value(),
        loopback=not settings.is_production,
    ):
        raise Unauthorized(metrics.REFUSED_CODE, metrics.REFUSED_MESSAGE)
    families = await metrics.database_families(request.app.state.db)
    return Response(metrics.exposition(families), media_type=metrics.CONTENT_TYPE)


async def shutdown(app: FastAPI) -> None:
    burst.write_stats()
    await app.state.http.aclose()
    close = getattr(app.state.db.storage, "aclose", None)
    if close is not None:
        await close()
    await app.state.db.dispose()


def build_app() -> FastAPI:
    """Entry point for `uvicorn --factory api.main:build_app`."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
