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
import struct
import zlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from api import clock
from api.wechat import push as wechat_push

# WECHAT.md's limits of subscribe-message data values, by keyword type
_FIELD_LIMITS = {"thing": 20, "phrase": 5, "number": 32, "character_string": 32, "phone_number": 17, "letter": 32}
_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")
_DAY_TIME = r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?"
_TIME = re.compile(rf"^{_DAY_TIME}(~{_DAY_TIME})?$|^\d{{2}}:\d{{2}}(~\d{{2}}:\d{{2}})?$")
_MINIPROGRAM_STATES = ("formal", "trial", "developer")
# content security (WECHAT.md): the fake's labels for its verdicts, scenes, the text limit
_LABELS = {"pass": 100, "review": 20002, "risky": 20001}
_SUGGESTS = ("pass", "review", "risky")
_SCENES = (1, 2, 3, 4)
_MAX_TEXT = 2500
# mini-program codes
_WXACODE_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
_ENV_VERSIONS = ("release", "trial", "develop")


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
    # content security: text containing a risky word is "risky" (label 20001), a review word
    # "review" (20002), else "pass" (100); images get `image_verdict` unless scripted
    risky_words: list[str] = field(default_factory=lambda: ["违禁词"])
    review_words: list[str] = field(default_factory=lambda: ["待审核"])
    image_verdict: str = "pass"
    verdicts: dict[str, str] = field(default_factory=dict)  # trace_id -> the suggest its push carries
    media_checks: list[dict[str, Any]] = field(default_factory=list)  # media_check_async requests
    original_id: str = "gh_fake0000000"  # the mini-program's original id: ToUserName of pushes
    # mini-program codes: when set, check_path=true needs the page to be one of these (41030)
    pages: set[str] | None = None
    codes: list[dict[str, Any]] = field(default_factory=list)  # getwxacodeunlimit requests answered
    _next_media_verdicts: deque[str] = field(default_factory=deque)
    _pushed: set[str] = field(default_factory=set)
    _trace_serial: int = 0

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

    def script_media_verdict(self, suggest: str) -> None:
        """The next media check's verdict (queued: one call per check), instead of image_verdict."""
        if suggest not in _SUGGESTS:
            raise ValueError(f"suggest must be one of {_SUGGESTS}")
        self._next_media_verdicts.append(suggest)

    def pushes_due(self) -> list[dict[str, Any]]:
        """The `wxa_media_check` events of the media checks not pushed yet, each returned once, as
        the decrypted message WeChat would push (see push_body for the POST itself)."""
        events = []
        for check in self.media_checks:
            if check["trace_id"] in self._pushed:
                continue
            self._pushed.add(check["trace_id"])
            suggest = self.verdicts.get(check["trace_id"]) or check["scripted"] or self.image_verdict
            label = _LABELS.get(suggest, 100)
            events.append(
                {
                    "ToUserName": self.original_id,
                    "FromUserName": check["openid"],
                    "CreateTime": int(clock.now().timestamp()),
                    "MsgType": "event",
                    "Event": "wxa_media_check",
                    "appid": self.appid,
                    "trace_id": check["trace_id"],
                    "version": 2,
                    "detail": [
                        {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}
                    ],
                    "errcode": 0,
                    "errmsg": "ok",
                    "result": {"suggest": suggest, "label": label},
                }
            )
        return events

    def push_body(
        self,
        event: dict[str, Any],
        *,
        token: str,
        aes_key: str,
        appid: str | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """(body, query params) of WeChat's safe-mode POST of `event`: the JSON envelope
        {"ToUserName", "Encrypt"} and timestamp, nonce, signature, encrypt_type=aes, msg_signature.
        `appid` defaults to ours, `timestamp` to now and `nonce` to a random one."""
        timestamp = timestamp or str(int(clock.now().timestamp()))
        nonce = nonce or str(secrets.randbelow(10**10))
        message = json.dumps(event, ensure_ascii=False).encode()
        encrypted, msg_signature = wechat_push.encrypt(
            token, aes_key, appid or self.appid, message, timestamp=timestamp, nonce=nonce
        )
        envelope = {"ToUserName": str(event.get("ToUserName", self.original_id)), "Encrypt": encrypted}
        params = {
            "signature": wechat_push.sign(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        }
        return json.dumps(envelope).encode(), params

    @staticmethod
    def png_text(png: bytes) -> dict[str, str]:
        """The tEXt chunks of a PNG (the fake's mini-program codes carry scene, page, env_version)."""
        if png[:8] != _PNG_SIGNATURE:
            raise ValueError("not a PNG")
        texts: dict[str, str] = {}
        at = 8
        while at + 8 <= len(png):
            (length,) = struct.unpack(">I", png[at : at + 4])
            kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
            if kind == b"tEXt":
                key, _, value = data.partition(b"\0")
                texts[key.decode("latin-1")] = value.decode("latin-1")
            at += 12 + length
        return texts

    # -- the server -----------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body: dict[str, Any] = {}
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                return self._json({"errcode": 47001, "errmsg": "data format error"})
            if not isinstance(body, dict):
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
            "/wxa/msg_sec_check": self._msg_sec_check,
            "/wxa/media_check_async": self._media_check_async,
        }.get(path)
        if path == "/wxa/getwxacodeunlimit":  # success is an image, not JSON
            return self._wxacode_unlimit(params, body)
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
        # the name makes the openid: no longer than a real one could be (users.openid holds 64)
        if params.get("grant_type") != "authorization_code" or not code.startswith("dev:") or not 4 < len(code) <= 64:
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
        valid = number.isascii() and number.isdigit() and len(number) <= 20  # what a phone number can be
        if not code.startswith("dev-phone:") or not valid or code in self._used_phone_codes:
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

    # -- content security -------------------------------------------------------------------

    def _new_trace_id(self) -> str:
        self._trace_serial += 1
        return f"fake-trace-{self._trace_serial:06d}-{secrets.token_hex(4)}"

    @staticmethod
    def _openid_error(body: dict[str, Any]) -> dict[str, Any] | None:
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return None

    @staticmethod
    def _scene_error(body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("version") != 2:
            return {"errcode": 47001, "errmsg": "data format error: version"}
        if body.get("scene") not in _SCENES or isinstance(body.get("scene"), bool):
            return {"errcode": 47001, "errmsg": "data format error: scene"}
        return None

    def _msg_sec_check(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if error := self._token_error(params):
            return error
        if error := self._scene_error(body) or self._openid_error(body):
            return error
        content = body.get("content")
        if not isinstance(content, str) or not content:
            return {"errcode": 47001, "errmsg": "data format error: content"}
        if len(content) > _MAX_TEXT:
            return {"errcode": 47001, "errmsg": "data format error: content too long"}
        hit = next((w for w in self.risky_words if w and w in content), None)
        suggest = "risky" if hit else "pass"
        if hit is None:
            hit = next((w for w in self.review_words if w and w in content), None)
            suggest = "review" if hit else "pass"
        label = _LABELS[suggest]
        detail: dict[str, Any] = {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label}
        if hit:
            detail.update(level=90, keyword=hit)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": [detail],
            "trace_id": self._new_trace_id(),
        }

    def _media_check_async(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if error := self._token_error(params):
            return error
        if error := self._scene_error(body) or self._openid_error(body):
            return error
        media_url = body.get("media_url")
        if not isinstance(media_url, str) or not media_url.startswith(("https://", "http://")):
            return {"errcode": 47001, "errmsg": "data format error: media_url"}
        if body.get("media_type") not in (1, 2) or isinstance(body.get("media_type"), bool):
            return {"errcode": 47001, "errmsg": "data format error: media_type"}
        trace_id = self._new_trace_id()
        scripted = self._next_media_verdicts.popleft() if self._next_media_verdicts else None
        self.media_checks.append(
            {
                "trace_id": trace_id,
                "media_url": media_url,
                "media_type": body["media_type"],
                "openid": body["openid"],
                "scene": body["scene"],
                "scripted": scripted,
            }
        )
        return {"errcode": 0, "errmsg": "ok", "trace_id": trace_id}

    # -- mini-program codes -----------------------------------------------------------------

    def _wxacode_unlimit(self, params: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        if error := self._token_error(params):
            return self._json(error)
        scene = body.get("scene")
        if not isinstance(scene, str) or not _WXACODE_SCENE.fullmatch(scene):
            return self._json({"errcode": 40129, "errmsg": "invalid scene"})
        page = body.get("page", "")
        if not isinstance(page, str) or page.startswith("/") or "?" in page or " " in page:
            return self._json({"errcode": 41030, "errmsg": "invalid page"})
        check_path = body.get("check_path", True)  # WeChat's default
        if check_path and self.pages is not None and page and page not in self.pages:
            return self._json({"errcode": 41030, "errmsg": "invalid page"})
        env_version = body.get("env_version", "release")
        if env_version not in _ENV_VERSIONS:
            return self._json({"errcode": 40097, "errmsg": "invalid args: env_version"})
        width = body.get("width", 430)
        if not isinstance(width, int) or isinstance(width, bool):
            return self._json({"errcode": 47001, "errmsg": "data format error: width"})
        width = min(max(width, 280), 1280)  # WeChat keeps the width inside 280-1280
        self.codes.append({"scene": scene, "page": page, "env_version": env_version, "width": width})
        png = _png(width, {"scene": scene, "page": page, "env_version": env_version})
        return httpx.Response(200, content=png, headers={"Content-Type": "image/png"})


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(size: int, texts: dict[str, str]) -> bytes:
    """A valid white size×size greyscale PNG carrying `texts` as tEXt chunks (deterministic)."""
    rows = (b"\x00" + b"\xff" * size) * size  # filter byte 0, then white pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    text_chunks = b"".join(
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")) for key, value in texts.items()
    )
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + text_chunks
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )
