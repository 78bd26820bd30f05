"""The staff console (社工工作台): server-rendered pages at /console over the same services as the
API. `install(app)` mounts its routes and static files and wraps its responses in the security
headers every page carries."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.console import (
    activities,
    announcements,
    auth,
    concerns,
    desk,
    flats,
    follow_ups,
    households,
    library,
    meetings,
    moderation,
    phones,
    polls,
    projects,
    record_books,
    reports,
    rules,
    service_records,
    settings,
    spaces,
    surveys,
    today,
    volunteers,
    web,
)

# no inline script or style, nothing from elsewhere; images may come from the photo store
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class ConsoleHeaders:
    """Every /console response carries the CSP, X-Frame-Options, Referrer-Policy and nosniff; its
    pages are never cached by the browser (they show personal data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not web.is_console_path(path):
            await self.app(scope, receive, send)
            return
        static = path.startswith(web.PREFIX + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                replaced = set(dict(SECURITY_HEADERS)) | (set() if static else {b"cache-control"})
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.mount(f"{web.PREFIX}/static", StaticFiles(directory=str(web.HERE / "static")), name="console-static")
    for module in (
        auth,
        phones,
        today,
        activities,
        desk,
        flats,  # before households: /households/flats is not a household's id
        households,
        library,
        reports,
        projects,
        record_books,
        concerns,
        meetings,
        polls,
        follow_ups,
        surveys,
        spaces,
        rules,
        announcements,
        volunteers,
        service_records,
        moderation,
        settings,
    ):
        app.include_router(module.router)
    app.add_middleware(ConsoleHeaders)
