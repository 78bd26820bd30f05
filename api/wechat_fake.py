"""An in-process WeChat server that follows WECHAT.md's requests, answers and error codes.

It backs `LINLI_WECHAT_MODE=fake` (development: `dev:<name>` logs in openid `dev-<name>`, phone
codes `dev-phone:<number>` bind that number, subscribe messages are kept in `sent` instead of
reaching a phone) and the tests, which also script failures with `fail_next()`. It is an httpx
transport handler: nothing leaves the process.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from api import clock

# WECHAT.md's limits of subscribe-message data values, by keyword type
_FIELD_LIMITS = {"thing": 20, "phrase": 5, "number": 32, "character_string": 32, "phone_number": 17, "letter": 32}
_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")
_DAY_TIME = r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?"
_TIME = re.compile(rf"^{_DAY_TIME}(~{_DAY_TIME})?$|^\d{{2}}:\d{{2}}(~\d{{2}}:\d{{2}})?$")
_MINIPROGRAM_STATES = ("formal", "trial", "developer")


def _field_error(keyword: str, value: object) -> str | None:
    """Why WeChat would refuse `value` for `keyword` (47003), or None."""
    match = _KEYWORD.match(keyword)
    if match is None or not isinstance(value, str) or not value:
        return f"argument invalid! data.{keyword}.value invalid"
    kind = match.group(1)
    if kind == "name":
        limit = 20 if value.isascii() else 10
    elif kind in ("time", "date"):
        return None if _TIME.match(value) else f"argument invalid! data.{keyword}.value invalid time format"
    else:
        limit = _FIELD_LIMITS.get(kind, 20)
    if kind == "number" and not re.fullmatch(r"[0-9.\-]+", value):
        return f"argument invalid! data.{keyword}.value invalid number"
    if len(value) > limit:
        return f"argument invalid! data.{keyword}.value exceeds limit"
    return None


@dataclass
class _Token:
    value: str
    expires_at: datetime


@dataclass
class FakeWeChat:
    appid: str
    secret: str | None = None  # when set, requests must carry it
    token_ttl_seconds: int = 7200
    unionids: dict[str, str] = field(default_factory=dict)  # openid -> unionid
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    templates: set[str] | None = None  # when set, other template ids answer 40037
    sent: list[dict[str, Any]] = field(default_factory=list)  # subscribe messages WeChat accepted
    failing_users: dict[str, dict[str, Any]] = field(default_factory=dict)  # openid -> the error their sends get
    _failures: dict[str, deque[dict[str, Any] | Exception]] = field(default_factory=lambda: defaultdict(deque))
    _token: _Token | None = None
    _token_serial: int = 0
    _used_phone_codes: set[str] = field(default_factory=set)

    # -- scripting (tests) ----------------------------------------------------------------

    def fail_next(
        self, path: str, errcode: int | None = None, errmsg: str = "", *, exc: Exception | None = None
    ) -> None:
        """The next call to `path` answers {"errcode", "errmsg"} (or raises `exc`, e.g. a timeout)."""
        self._failures[path].append(exc if exc is not None else {"errcode": errcode, "errmsg": errmsg})

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    def expire_token(self) -> None:
        """WeChat invalidates the current token (e.g. it was rotated elsewhere)."""
        self._token = None

    # -- the server -----------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body: dict[str, Any] = {}
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                return self._json({"errcode": 47001, "errmsg": "data format error"})
        params = dict(request.url.params)
        self.calls.append((path, {**params, **body}))
        if self._failures[path]:
            failure = self._failures[path].popleft()
            if isinstance(failure, Exception):
                raise failure
            return self._json(failure)
        route = {
            "/sns/jscode2session": self._jscode2session,
            "/cgi-bin/stable_token": self._stable_token,
            "/wxa/business/getuserphonenumber": self._phone_number,
            "/cgi-bin/message/subscribe/send": self._subscribe_send,
        }.get(path)
        if route is None:
            return httpx.Response(404, text="not found")
        return self._json(route(params, body))

    @staticmethod
    def _json(data: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json=data)

    def _check_credentials(self, appid: str | None, secret: str | None) -> dict[str, Any] | None:
        if appid != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if self.secret is not None and secret != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        return None

    def _jscode2session(self, params: dict[str, str], _body: dict[str, Any]) -> dict[str, Any]:
        if error := self._check_credentials(params.get("appid"), params.get("secret")):
            return error
        code = params.get("js_code", "")
        if params.get("grant_type") != "authorization_code" or not code.startswith("dev:") or len(code) <= 4:
            return {"errcode": 40029, "errmsg": "invalid code"}
        openid = "dev-" + code[4:]
        answer: dict[str, Any] = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if openid in self.unionids:
            answer["unionid"] = self.unionids[openid]
        return answer  # success carries no errcode at all, as WeChat's often does

    def _stable_token(self, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if body.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if error := self._check_credentials(body.get("appid"), body.get("secret")):
            return error
        now = clock.now()
        if body.get("force_refresh") or self._token is None or now >= self._token.expires_at:
            self._token_serial += 1
            self._token = _Token(
                f"fake-access-token-{self._token_serial}", now + timedelta(seconds=self.token_ttl_seconds)
            )
        remaining = int((self._token.expires_at - now).total_seconds())
        return {"access_token": self._token.value, "expires_in": remaining}

    def _token_error(self, params: dict[str, str]) -> dict[str, Any] | None:
        token = params.get("access_token")
        if not token:
            return {"errcode": 41001, "errmsg": "access_token missing"}
        if self._token is None or token != self._token.value:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if clock.now() >= self._token.expires_at:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def _phone_number(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if error := self._token_error(params):
            return error
        code = str(body.get("code", ""))
        number = code.removeprefix("dev-phone:")
        if not code.startswith("dev-phone:") or not number.isdigit() or code in self._used_phone_codes:
            return {"errcode": 40029, "errmsg": "invalid code"}
        self._used_phone_codes.add(code)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": int(clock.now().timestamp()), "appid": self.appid},
            },
        }

    def _subscribe_send(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if error := self._token_error(params):
            return error
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if touser in self.failing_users:
            return self.failing_users[touser]
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or (self.templates is not None and template_id not in self.templates):
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        page = body.get("page", "")
        if not isinstance(page, str) or page.startswith("/") or " " in page:
            return {"errcode": 41030, "errmsg": "invalid page"}
        if body.get("miniprogram_state", "formal") not in _MINIPROGRAM_STATES:
            return {"errcode": 47001, "errmsg": "data format error: miniprogram_state"}
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return {"errcode": 47003, "errmsg": "argument invalid! data is empty"}
        for keyword, entry in data.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if problem := _field_error(keyword, value):
                return {"errcode": 47003, "errmsg": problem}
        self.sent.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": 1_000_000 + len(self.sent)}
