"""Files sent to the console: the body read with a bound (refused as soon as it passes it, without
reading the rest), and sheets (CSV or XLSX) read and parsed before the session is taken — so that
SQLite's writer is not held while a slow upload arrives or a sheet is parsed. The catalogue's import
(图书) and the flats sheet (住户) read their files here; a paper ballot's photo (投票选举) is bounded
here too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.console import web
from api.errors import AppError, Unprocessable

MULTIPART_OVERHEAD = 64 * 1024  # the form's framing around the file
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
P = TypeVar("P")


async def bounded_body(request: Request, limit: int, too_large: AppError) -> None:
    """Read the body, refusing it (`too_large`) as soon as it passes `limit`, without reading the
    rest; what was read is where Starlette's form parser reads it."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    request._body = b"".join(chunks)


def sheet_kind(name: str, content_type: str, data: bytes) -> str:
    """csv or xlsx, from the file's name, its type or its first bytes (an old XLS is refused)."""
    lowered = name.lower()
    if lowered.endswith(".xls"):
        raise Unprocessable("import_type_unsupported", "不支持旧版表格格式 XLS，请另存为 XLSX 或 CSV 后再上传")
    if lowered.endswith(".xlsx") or content_type == XLSX:
        return "xlsx"
    if lowered.endswith((".csv", ".txt")) or content_type in ("text/csv", "text/plain"):
        return "csv"
    return "xlsx" if data.startswith(b"PK\x03\x04") else "csv"


@dataclass
class Sheet(Generic[P]):
    """An uploaded sheet, read and checked on its own — or why it could not be."""

    name: str = ""
    parsed: P | None = None
    error: AppError | None = None


def sheet_reader(parse: Callable[[bytes, str], P], max_bytes: int, missing: str) -> Callable[..., Awaitable[Sheet[P]]]:
    """A dependency reading a sheet from the console's form (multipart, field `file`; `missing`
    when none was chosen) or the file itself as the body, as the API takes it (text/csv or the
    XLSX type, or `?format=`), at most `max_bytes` (the request's 1 MB cap does not apply to the
    paths that use it), parsed by `parse(data, kind)` in a thread."""
    too_large = AppError(
        "import_too_large",
        f"文件不能超过 {max_bytes // (1024 * 1024)} MB",
        status=413,
        details={"max_bytes": max_bytes},
    )

    async def read(request: Request, format: Literal["csv", "xlsx"] | None = None) -> Sheet[P]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if content_type == "multipart/form-data":
                await bounded_body(request, max_bytes + MULTIPART_OVERHEAD, too_large)
                form = await request.form(max_files=1, max_fields=4)
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise Unprocessable("file_missing", missing)
                name, data = upload.filename[:100], await upload.read()
                kind = format or sheet_kind(name, (upload.content_type or "").lower(), data)
            elif format or content_type in ("text/csv", "text/plain", XLSX):
                await bounded_body(request, max_bytes, too_large)
                name, data = "", request._body
                kind = format or ("xlsx" if content_type == XLSX else "csv")
            else:
                raise AppError("import_type_unsupported", "请上传 CSV 或 XLSX 文件", status=415)
            if not data:
                raise Unprocessable("import_empty", "文件是空的")
            parsed = await run_in_threadpool(parse, data, kind)
        except AppError as exc:
            return Sheet(error=exc)
        return Sheet(name=name, parsed=parsed)

    return read


def sheet_refused(sheet: Sheet[Any], exc: AppError) -> dict[str, Any]:
    """A sheet refused, as the import pages show it: the message and every problem by row."""
    problems = exc.details if isinstance(exc.details, list) else []
    message = web.zh_fields(exc.message)
    return {"kind": "refused", "name": sheet.name, "message": message, "code": exc.code, "problems": problems}
