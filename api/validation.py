"""Validation errors people can read: a zh-CN message that names each field and says what it should
be (`capacity：应为 1–10000 的整数`), read off the same schema the API documents.

`details` keep, per problem, the field's path, pydantic's stable error type and the message; the
English text pydantic writes is never shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from api.pagination import MAX_ID

# how many problems the message spells out; details carry up to MAX_DETAILS
MAX_IN_MESSAGE = 3
MAX_DETAILS = 20

_SOURCES = {"body": "请求体", "query": "查询参数", "path": "路径参数", "header": "请求头", "cookie": "Cookie"}
_OWN_MESSAGES = {
    # raised by Linli's own types and validators, with their own zh-CN message
    "control_character",
    "timezone_required",
    "datetime_out_of_range",
    "date_out_of_range",
    "timezone_not_allowed",
}

_schemas: dict[int, dict[str, Any]] = {}
# a validator's message that starts with the fields it is about: "end_at：…", "token、booking_id：…"
_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:、[A-Za-z_][A-Za-z0-9_]*)*)：(.+)$", re.S)


def _route_schemas(route: APIRoute) -> dict[str, Any]:
    """JSON schemas of the route's body and parameters, as /docs shows them (cached per route)."""
    cached = _schemas.get(id(route))
    if cached is not None:
        return cached
    schemas: dict[str, Any] = {"query": {}, "path": {}, "header": {}, "cookie": {}}
    if route.body_field is not None:
        schemas["body"] = _schema_of(route.body_field.field_info.annotation, route.body_field.field_info)
    pending = [route.dependant]
    while pending:  # the route's own parameters and its dependencies' (pagination, Idempotency-Key)
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for source, params in (
            ("query", dependant.query_params),
            ("path", dependant.path_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
        ):
            for param in params:
                schemas[source][param.alias] = _schema_of(param.field_info.annotation, param.field_info)
    _schemas[id(route)] = schemas
    return schemas


def _schema_of(annotation: Any, field_info: Any) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = TypeAdapter(Annotated[annotation, field_info]).json_schema()
    except Exception:  # a type without a JSON schema (an upload): describe by error type alone
        return {}
    return schema


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    for _ in range(20):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            schema = {**defs.get(ref.rsplit("/", 1)[-1], {}), **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        options = schema.get("anyOf")
        if isinstance(options, list):
            real = [option for option in options if option.get("type") != "null"]
            if len(real) == 1:
                schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **real[0]}
                continue
        break
    return schema


def _walk(schema: dict[str, Any] | None, parts: Sequence[int | str]) -> tuple[dict[str, Any] | None, list[str]]:
    """The schema at `parts` (None where it cannot be followed) and the readable field path."""
    path: list[str] = []
    if schema is None:
        return None, [str(p) for p in parts]
    defs = schema.get("$defs", {})
    current: dict[str, Any] | None = _resolve(schema, defs)
    for part in parts:
        if current is None:
            path.append(f"[{part}]" if isinstance(part, int) else str(part))
            continue
        if isinstance(part, int):
            path.append(f"[{part}]")
            items = current.get("items")
            current = _resolve(items, defs) if isinstance(items, dict) else None
            continue
        properties = current.get("properties", {})
        if part in properties:
            path.append(part)
            current = _resolve(properties[part], defs)
            continue
        branches = current.get("oneOf") or current.get("anyOf") or []
        tagged = [_resolve(b, defs) for b in branches if isinstance(b, dict)]
        chosen = next((b for b in tagged if _tag_of(b) == part), None)
        if chosen is not None:  # a union's tag (audience.kind): not a field of its own
            current = chosen
            continue
        extra = current.get("additionalProperties")
        path.append(str(part))
        current = _resolve(extra, defs) if isinstance(extra, dict) else None
    return current, path


def _tag_of(branch: dict[str, Any]) -> Any:
    for prop in branch.get("properties", {}).values():
        if isinstance(prop, dict) and "const" in prop:
            return prop["const"]
    return None


def _branch_tags(schema: dict[str, Any] | None) -> list[str]:
    mapping = ((schema or {}).get("discriminator") or {}).get("mapping") or {}
    return [str(tag) for tag in mapping]


def _range(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}–{high} {unit}" if low != high else f"{low} {unit}"
    if low is not None:
        return f"至少 {low} {unit}"
    if high is not None:
        return f"最多 {high} {unit}"
    return ""


def expectation(schema: dict[str, Any] | None) -> str:
    """What a value of `schema` should be, in a few Chinese words."""
    if not schema:
        return "格式不正确"
    if "const" in schema:
        return f"应为 {schema['const']}"
    if isinstance(schema.get("enum"), list):
        return "应为以下之一：" + "、".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        noun = "整数" if kind == "integer" else "数"
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if kind == "integer" and low == 1 and high == MAX_ID:
            return "应为正整数编号"
        if low is not None and high is not None:
            return f"应为 {low}–{high} 的{noun}"
        if low is not None:
            return f"应为不小于 {low} 的{noun}"
        if high is not None:
            return f"应为不大于 {high} 的{noun}"
        return f"应为{noun}"
    if kind == "boolean":
        return "应为 true 或 false"
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "应为日期时间，如 2026-12-05T14:00:00+08:00"
        if fmt == "date":
            return "应为日期，如 2026-12-05"
        if fmt in ("time", "partial-time"):
            return "应为钟点，如 14:00"
        if fmt == "uri":
            return f"应为 http 或 https 网址，最长 {schema.get('maxLength', 512)} 个字符"
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low == 1 and high is not None:
            return f"应为 1–{high} 个字，不能为空"
        length = _range(low, high, "个字")
        shape = "，格式不正确" if "pattern" in schema else ""
        return f"应为文字{('，' + length) if length else ''}{shape}"
    if kind == "array":
        length = _range(schema.get("minItems"), schema.get("maxItems"), "项")
        return f"应为列表{('，' + length) if length else ''}"
    if kind == "object":
        return "应为 JSON 对象"
    return "格式不正确"


def describe(route: Any, errors: Sequence[Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(code, message, details) for pydantic's errors on a request to `route`."""
    schemas = _route_schemas(route) if isinstance(route, APIRoute) else {}
    details: list[dict[str, Any]] = []
    unknown = False
    for error in errors[:MAX_DETAILS]:
        loc = list(error.get("loc", ()))
        source = str(loc[0]) if loc else "body"
        parts = loc[1:]
        kind = str(error.get("type", "value_error"))
        if source == "body":
            schema, path = _walk(schemas.get("body"), parts)
        elif parts and source in schemas:
            schema, path = _walk(schemas[source].get(str(parts[0])), parts[1:])
            path = [str(parts[0]), *path]
        else:
            schema, path = None, [str(p) for p in parts]
        if kind == "json_invalid":
            path = []  # loc names the character where the JSON broke, not a field
        if kind in ("union_tag_invalid", "union_tag_not_found"):  # the field that picks the kind
            path = [*path, str((error.get("ctx") or {}).get("discriminator", "kind")).strip("'")]
        message = _message(kind, error, schema, source, bool(path))
        named = _NAMED.match(message) if kind == "value_error" else None
        if named:  # a rule over several fields names them itself: "end_at：结束时间应晚于开始时间"
            path = [*path, *named.group(1).split("、")[:1]]
            message = named.group(2) if len(named.group(1).split("、")) == 1 else message
        unknown = unknown or kind == "extra_forbidden"
        field = "".join(p if p.startswith("[") else f".{p}" for p in path).lstrip(".")
        details.append({"field": field or None, "in": source, "loc": loc, "type": kind, "message": message})
    shown = [f"{d['field']}：{d['message']}" if d["field"] else d["message"] for d in details[:MAX_IN_MESSAGE]]
    text = "；".join(shown)
    if len(errors) > MAX_IN_MESSAGE:
        text += f"（等 {len(errors)} 处）"
    return ("unknown_field" if unknown else "validation_error"), text, details


def _message(kind: str, error: Any, schema: dict[str, Any] | None, source: str, named: bool) -> str:
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "不认识的字段（请检查拼写，或删去）"
    if kind == "json_invalid":
        return "请求体不是合法的 JSON"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind in _OWN_MESSAGES:
        return str(error.get("msg", "格式不正确"))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = str(ctx.get("expected_tags", "")).replace("'", "").split(", ")
        tags = tags if tags != [""] else _branch_tags(schema)
        return ("必填，" if kind == "union_tag_not_found" else "") + "应为以下之一：" + "、".join(tags)
    if kind == "string_unicode":  # half of a surrogate pair ("\ud800"): no database keeps it
        return "含有无效的字符"
    if kind == "timezone_aware":
        return "需要带时区，如 2026-12-05T14:00:00+08:00"
    if kind == "missing":
        where = "" if named else _SOURCES.get(source, "")
        expected = expectation(schema)
        return f"{where}必填" + (f"，{expected}" if expected != "格式不正确" else "")
    if not named and source == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
        return "请求体应为 JSON 对象"
    return expectation(schema)
