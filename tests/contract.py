"""What every answer of the API keeps to, checked on every response the tests receive (an httpx
response hook) and by the property-based run over the whole OpenAPI (test_api_contract.py):

- every datetime is ISO 8601 in the community's offset (+08:00 in the tests), never UTC's `Z`;
- an error is the envelope with a stable snake_case code and a zh-CN message without English words
  (field names, which the message quotes, and upper-case acronyms such as ISBN or MB aside).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

OFFSET = "+08:00"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# a word with a lower-case Latin letter: English, as opposed to ISBN, XLSX, MB, HH:MM
_ENGLISH = re.compile(r"[A-Za-z]*[a-z][A-Za-z]*")
# what a message may quote: ids of fields, parameters, template ids, the values it expects
_NAMED = re.compile(r"([A-Za-z_][\w.\[\]]*(?:、[A-Za-z_][\w.\[\]]*)*)：|（([^）]*)）")
_CHOICES = re.compile(r"之一：([\w、.-]+)")
_QUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]/-]*")


def datetimes_off_offset(value: Any, path: str = "") -> list[str]:
    """Paths of datetimes in a JSON value that are not in the community's offset."""
    found: list[str] = []
    if isinstance(value, str):
        if _DATETIME.match(value) and not value.endswith(OFFSET):
            found.append(f"{path or '<root>'}={value}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += datetimes_off_offset(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += datetimes_off_offset(item, f"{path}[{index}]")
    return found


def english_in(message: str, allowed: set[str]) -> list[str]:
    """English words of a zh-CN message, leaving out what it quotes: field and parameter names
    (snake_case, or the request's own), headers (Idempotency-Key), types (multipart/form-data)."""
    words = []
    # the fields a message is about, named before its colon ("starts、ends：…") or in brackets
    for values in _CHOICES.findall(message):  # "应为以下之一：activity、post"
        allowed = allowed | set(values.split("、"))
    for before_colon, in_brackets in _NAMED.findall(message):
        allowed = allowed | set(re.split(r"[、,，\s]+", before_colon or in_brackets))
    for token in _QUOTED.findall(message):
        if token in allowed or token.split(".")[-1] in allowed or any(c in token for c in "_-/."):
            continue
        words += [w for w in _ENGLISH.findall(token) if len(w) > 1]
    return words


def allowed_words(body: dict[str, Any]) -> set[str]:
    details = body.get("details")
    names: set[str] = set()
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and item.get("field"):
            field = str(item["field"])
            names.add(field)
            names.update(re.split(r"[.\[\]]+", field))
    return names


def problems(status: int, content_type: str, content: bytes) -> list[str]:
    """What is wrong with one answer of the API."""
    if "json" not in content_type or not content:
        return []
    try:
        body = json.loads(content)
    except ValueError:
        return ["the body is not JSON"]
    found = [f"datetime not in {OFFSET}: {p}" for p in datetimes_off_offset(body)]
    if status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        if not isinstance(error.get("code"), str) or not _CODE.match(error["code"]):
            found.append(f"error code {error.get('code')!r} is not snake_case")
        message = error.get("message")
        if not isinstance(message, str) or not message:
            found.append("error without a message")
        else:
            english = english_in(message, allowed_words(error) | FIELD_WORDS)
            if english:
                found.append(f"English in the message {message!r}: {english}")
    return found


# identifiers a message may name although no detail carries them (the request's own fields)
FIELD_WORDS = {
    "true",
    "false",
    "null",
    "http",
    "https",
    "token",
    "errMsg",
    "accept",
    "reject",
    "ban",
    "filter",
    "Bearer",
    "Token",
    "EncodingAESKey",
    "WebP",
    *("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}


async def check_response(response: httpx.Response) -> None:
    """httpx response hook: fails the test at the first answer that breaks the contract."""
    if response.request.url.path.startswith(("/docs", "/openapi", "/redoc")):
        return
    await response.aread()
    found = problems(response.status_code, response.headers.get("content-type", ""), response.content)
    assert not found, f"{response.request.method} {response.request.url.path} → {response.status_code}: {found}"


def api_client(app: Any) -> httpx.AsyncClient:
    """An HTTP client for the app in-process whose every answer is checked against the contract."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://linli.test",
        event_hooks={"response": [check_response]},
    )
