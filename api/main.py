"""The application factory: settings, database, WeChat client, routers, errors, request ids."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.config import Settings, get_settings
from api.db.session import Database
from api.errors import AppError, error_body
from api.logging import configure_logging, request_id_var
from api.routers import (
    activities,
    announcements,
    auth,
    communities,
    feed,
    health,
    households,
    library,
    notifications,
    volunteers,
)
from api.services.idempotency import IdempotentReplay
from api.services.notifications import catalogue
from api.storage import Storage, build_storage
from api.wechat import WeChatClient, build_http_client

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
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "请求参数不正确"),
    429: ("too_many_requests", "操作太频繁，请稍后再试"),
}


class RequestContextMiddleware:
    """Gives every request an X-Request-ID (the client's, if sane), logs one JSON line per request,
    and turns anything unhandled into a 500 in the error envelope, without a stack trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
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
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"method": scope["method"], "path": scope["path"]})
            if not response_started:
                response = JSONResponse(
                    error_body("internal_error", "服务器开小差了，请稍后再试", {"request_id": request_id}),
                    status_code=500,
                )
                await response(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_request: Request, exc: AppError) -> JSONResponse:
        # details may carry times and the like: encoded as the responses encode them
        return JSONResponse(to_jsonable_python(exc.body()), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(IdempotentReplay)
    async def replay(_request: Request, exc: IdempotentReplay) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code, headers={"Idempotent-Replayed": "true"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return JSONResponse(error_body("validation_error", "请求参数不正确", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = STATUS_CODES.get(exc.status_code, ("http_error", "请求失败"))
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # a constraint caught what the service's own checks did not (usually a race): nothing was written
        log.warning("integrity error", extra={"error": str(exc.orig)[:500]})
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
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await shutdown(app)

    app = FastAPI(
        title="Linli 邻里",
        version="0.1.0",
        description="社区参与小程序后端：预约活动、借书、志愿服务、记录与分享、议事协商。",
        lifespan=lifespan,
        responses={422: {"description": "请求参数不正确"}},
    )
    app.state.settings = settings
    app.state.db = db
    app.state.http = http
    app.state.wechat = wechat

    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    _install_error_handlers(app)

    app.include_router(health.router)
    for module in (
        auth,
        communities,
        households,
        activities,
        library,
        volunteers,
        feed,
        notifications,
        announcements,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(volunteers.public, prefix=API_PREFIX)
    app.include_router(feed.public, prefix=API_PREFIX)
    return app


async def shutdown(app: FastAPI) -> None:
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
