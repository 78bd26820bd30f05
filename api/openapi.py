"""The error answers in the OpenAPI document (/docs, /openapi.json).

FastAPI documents a route's success and a 422 of its own shape; every other answer of Linli is the
error envelope (`{"error": {"code", "message", "details"}}`) with a real status. Which of them a route
can give follows from what it depends on, so they are added here from the routes themselves rather
than repeated on each decorator: a mini-program developer sees every status to handle, and the
property-based run (tests/test_api_schemathesis.py) holds each answer to its documented schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.deps import get_database, get_session, get_token_claims, get_wechat
from api.schemas.common import ErrorResponse

_ENVELOPE = "ErrorResponse"
RETRY_AFTER = {
    "Retry-After": {"description": "多少秒后再试", "schema": {"type": "integer", "minimum": 0}},
}

DESCRIPTIONS: dict[int, str] = {
    400: "请求有误（如 invalid_cursor：分页游标无效）",
    401: (
        "未登录，或登录凭证无效、已过期（not_authenticated、token_invalid、token_expired）："
        "用 wx.login 新取得的登录码重新登录"
    ),
    403: "没有权限（如 staff_only、not_a_member），或链接的签名不正确",
    404: "找不到该资源，或无权查看",
    409: (
        "与当前状态冲突（如名额已满、重复操作；idempotency_in_flight：相同 Idempotency-Key 的请求仍在处理中，稍候重试）"
    ),
    413: "请求内容过大（body_too_large）",
    415: "不支持的内容类型",
    422: "请求参数不正确（validation_error、unknown_field，details 逐项说明；或业务规则不允许）",
    429: "操作太频繁：按 Retry-After 秒数后再试",
    503: (
        "服务暂时不可用（service_unavailable，如数据库不可达）：按 Retry-After 秒数后重试；"
        "带 Idempotency-Key 的重试只生效一次"
    ),
}


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    """Every function the route runs to resolve its parameters, its own dependencies' included."""
    found: set[Callable[..., Any]] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is not None:
            found.add(current.call)
        pending.extend(current.dependencies)
    return found


def _query_names(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return names


def error_statuses(path: str, route: APIRoute, operation: dict[str, Any], method: str) -> set[int]:
    """The error statuses `route` can answer with, from what it depends on:

    - 422 everywhere (a body, parameter or query string that does not fit, control characters);
    - 403 and 404 under the API (not allowed or a bad signature; an unknown or hidden object);
    - 401 where a bearer token is needed, and 409 there and on every change (a state that does not
      allow it, a duplicate still in flight);
    - 503 where the database is used (out of reach, every connection busy);
    - 400, 413 (and 415 unless it is JSON) where a body is read; 400 for a cursor that is not ours;
    - where WeChat is asked (login, phone number): its refusals (400, 401), its rate limit (429)
      and its outages (503)."""
    calls = _calls(route.dependant)
    statuses = {422}
    if path.startswith("/api/"):
        statuses |= {403, 404}
    if get_token_claims in calls:
        statuses |= {401, 409}
    if method not in ("GET", "HEAD", "OPTIONS"):
        statuses.add(409)
    if calls & {get_session, get_database}:
        statuses.add(503)
    body = operation.get("requestBody")
    if body is not None:
        statuses |= {400, 413}
        if any(not media.endswith("json") for media in body.get("content", {})):
            statuses.add(415)
    if "cursor" in _query_names(route.dependant):
        statuses.add(400)
    if get_wechat in calls:
        statuses |= {400, 401, 429, 503}
    return statuses


def _response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "请求失败"),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{_ENVELOPE}"}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def document_errors(schema: dict[str, Any], mounted: Sequence[tuple[str, APIRouter]]) -> dict[str, Any]:
    """Add the error envelope, and each route's error statuses, to the generated `schema`. `mounted`
    is each router with the prefix it is included under. What a route declares itself (its
    `responses=`) is kept; FastAPI's own 422 shape, which Linli never sends, is replaced."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    envelope = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(envelope.pop("$defs", {}))
    components[_ENVELOPE] = envelope
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    paths = schema.get("paths", {})
    for prefix, router in mounted:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = paths.get(prefix + route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                statuses = error_statuses(prefix + route.path_format, route, operation, method)
                for status in sorted(statuses | _declared_errors(responses)):
                    declared = responses.get(str(status), {})
                    if "content" not in declared or _is_fastapi_validation(declared):
                        responses[str(status)] = {**_response(status), **_kept(declared)}
                operation["responses"] = dict(sorted(responses.items()))
    return schema


def _declared_errors(responses: dict[str, Any]) -> set[int]:
    return {int(code) for code in responses if code.isdigit() and int(code) >= 400}


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _kept(declared: dict[str, Any]) -> dict[str, Any]:
    # a route's own description of an error (what its 503 means) is more precise than the general one
    return {key: value for key, value in declared.items() if key == "description" and value != "Validation Error"}


def install(app: FastAPI, mounted: Sequence[tuple[str, APIRouter]]) -> None:
    """Make `app.openapi()` (and so /openapi.json and /docs) document the error answers of the routes
    of `mounted` (each router with the prefix it is included under)."""
    generate = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached until routes are added
        if not documented or documented[0] is not schema:
            documented[:] = [document_errors(schema, mounted)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
