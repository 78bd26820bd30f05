"""One error shape for every failure: {"error": {"code", "message", "details"}}.

Codes are stable snake_case strings that clients branch on; messages are zh-CN for people.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"
    message: str = "请求有误"

    def __init__(
        self,
        code: str | None = None,
        message: str | None = None,
        *,
        status: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.code
        self.message = message or self.message
        self.status = status or self.status
        self.details = details
        self.headers = headers
        super().__init__(f"{self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


class BadRequest(AppError):
    status, code, message = 400, "bad_request", "请求有误"


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "请先登录"

    def __init__(self, code: str | None = None, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(code, message, **kw)


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "没有权限执行此操作"


class NotFound(AppError):
    status, code, message = 404, "not_found", "找不到该资源"


class Conflict(AppError):
    status, code, message = 409, "conflict", "与当前状态冲突"


class Unprocessable(AppError):
    status, code, message = 422, "unprocessable", "请求内容无法处理"


class TooManyRequests(AppError):
    status, code, message = 429, "too_many_requests", "操作太频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status, code, message = 503, "service_unavailable", "服务暂时不可用，请稍后重试"


def invalid_field(field: str, message: str, *, kind: str, source: str = "body") -> Unprocessable:
    """A request field a service found wrong where the request model could not look (a length
    after normalising, a month out of range): the same 422 `validation_error` a model's validator
    gives, naming the field, so that clients handle both alike."""
    loc: list[str | int] = [source]
    for part in field.replace("]", "").replace("[", ".").split("."):
        loc.append(int(part) if part.isdigit() else part)
    detail = {"field": field, "in": source, "loc": loc, "type": kind, "message": message}
    return Unprocessable("validation_error", f"{field}：{message}", details=[detail])
