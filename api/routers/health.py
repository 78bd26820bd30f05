from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.db.migrate import current_revision, head_revision
from api.db.session import Database
from api.openapi import RETRY_AFTER
from api.schemas.common import ErrorResponse

router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and its schema is at the newest migration",
    responses={
        503: {
            "model": ErrorResponse,
            "description": "数据库不可达，或数据库结构不是最新版本（not_ready）",
            "headers": RETRY_AFTER,
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    checks: dict[str, Any] = {}

    async def probe() -> None:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = await current_revision(db.engine), head_revision()
        checks["migrations"] = {"current": current, "head": head, "ok": current == head}

    try:
        # a load balancer asks often: answer within a few seconds whatever the database does
        await asyncio.wait_for(probe(), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to reach the database means "not ready"
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = checks.get("database") == "ok" and checks.get("migrations", {}).get("ok", False)
    if ready:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {"error": {"code": "not_ready", "message": "服务尚未就绪", "details": checks}},
        status_code=503,
        headers={"Retry-After": "5"},
    )
