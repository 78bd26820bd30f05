"""Async client for the few WeChat server APIs Linli uses (see shared WECHAT.md).

One shared httpx.AsyncClient with timeouts. Success is recognised by the expected field, never by
`errcode == 0` (a success may omit errcode). The access_token is one row in the database shared by
every API process and worker, refreshed single-flight through `stable_token`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import httpx
from sqlalchemy import select

from api import clock
from api.config import Settings
from api.db.models import WechatAccessToken
from api.db.session import Database
from api.db.upsert import insert_ignore

if TYPE_CHECKING:
    from api.wechat.fake import FakeWeChat

log = logging.getLogger(__name__)

BUSY = -1
RATE_LIMITED = (45009, 45011)
TOKEN_INVALID = (40001, 42001, 40014)
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
# content security and mini-program codes (WECHAT.md)
MSG_SEC_CHECK_MAX_CHARS = 2500
CONTENT_SCENES = (1, 2, 3, 4)  # profile, comment, forum, social log
SUGGESTS = ("pass", "review", "risky")
WXACODE_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
WXACODE_PAGE = re.compile(r"[0-9A-Za-z_\-./]*")
WXACODE_ENV_VERSIONS = ("release", "trial", "develop")


def _fits(value: Any, longest: int) -> TypeGuard[str]:
    """An identifier WeChat answered: text, not empty, no longer than the column that keeps it."""
    return isinstance(value, str) and 0 < len(value) <= longest


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"wechat errcode {errcode}: {errmsg}")


class WeChatUnavailable(Exception):
    """WeChat did not answer usefully (timeout, network, HTTP 5xx, -1 busy): retryable."""


@dataclass(frozen=True)
class WxSession:
    openid: str
    unionid: str | None


@dataclass(frozen=True)
class PhoneInfo:
    pure_phone_number: str
    country_code: str


@dataclass(frozen=True)
class TextVerdict:
    """msg_sec_check's answer: `suggest` pass / review (to staff) / risky, WeChat's `label`
    (100 normal, 20001 politics…), and the check's trace_id when WeChat gave one."""

    suggest: Literal["pass", "review", "risky"]
    label: int
    trace_id: str | None


class WeChatClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, db: Database) -> None:
        self.settings = settings
        self.http = http
        self.db = db
        self._token_lock = asyncio.Lock()
        # this process's copy of the shared row, so that a burst of sends does not read it every time
        self._cached: tuple[str, datetime] | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        """One call; WeChat out of reach (timeout, network, 5xx) is WeChatUnavailable."""
        try:
            response = await self.http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise WeChatUnavailable(f"timeout calling {path}") from exc
        except httpx.TransportError as exc:
            raise WeChatUnavailable(f"network error calling {path}: {exc}") from exc
        if response.status_code >= 500:
            raise WeChatUnavailable(f"HTTP {response.status_code} from {path}")
        return response

    @staticmethod
    def _answer(path: str, response: httpx.Response, not_json: str) -> dict[str, Any]:
        """WeChat's JSON answer; a non-zero errcode is WeChatError (busy: WeChatUnavailable)."""
        try:
            data = response.json()
        except ValueError as exc:
            raise WeChatUnavailable(not_json) from exc
        if not isinstance(data, dict):
            raise WeChatUnavailable(f"unexpected answer from {path}")
        errcode = data.get("errcode")
        if errcode not in (None, 0):
            if errcode == BUSY:
                raise WeChatUnavailable(f"{path} busy: {data.get('errmsg')}")
            if isinstance(errcode, bool) or not isinstance(errcode, int):  # WeChat's errcodes are integers
                raise WeChatUnavailable(f"odd errcode {errcode!r} from {path}")
            raise WeChatError(errcode, str(data.get("errmsg", "")))
        return data

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        response = await self._send(method, path, params=params, json=json)
        return self._answer(path, response, f"non-JSON answer from {path}")

    @staticmethod
    def _expect(data: dict[str, Any], field: str, path: str) -> Any:
        if field not in data:
            raise WeChatUnavailable(f"{path} answered without {field!r}")
        return data[field]

    # -- login ----------------------------------------------------------------------------

    async def code2session(self, code: str) -> WxSession:
        path = "/sns/jscode2session"
        data = await self._request(
            "GET",
            path,
            params={
                "appid": self.settings.wechat_appid,
                "secret": self.settings.wechat_secret.get_secret_value(),
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid = self._expect(data, "openid", path)
        unionid = data.get("unionid") or None
        # WeChat's ids are 28 characters; users.openid and users.unionid keep up to 64
        if not _fits(openid, 64) or (unionid is not None and not _fits(unionid, 64)):
            raise WeChatUnavailable(f"{path} answered an openid or unionid that is not one")
        return WxSession(openid=openid, unionid=unionid)

    # -- access token ---------------------------------------------------------------------

    async def access_token(self, *, stale: str | None = None) -> str:
        """The shared access_token; refetched (normal mode, never forced) when missing, near
        expiry, or equal to `stale` (a token WeChat just refused)."""
        appid = self.settings.wechat_appid

        def fresh(token: str | None, expires_at: datetime | None) -> str | None:
            if token is None or expires_at is None:
                return None
            if token == stale or clock.now() >= expires_at - TOKEN_REFRESH_MARGIN:
                return None
            return token

        def usable(row: WechatAccessToken | None) -> str | None:
            token = fresh(row.access_token, row.expires_at) if row is not None else None
            if token is not None and row is not None and row.expires_at is not None:
                self._cached = (token, row.expires_at)
            return token

        if self._cached is not None and (token := fresh(*self._cached)):
            return token
        async with self.db.session(write=False) as session:
            token = usable(await session.get(WechatAccessToken, appid))
        if token:
            return token
        async with self._token_lock, self.db.session(write=True) as session:
            # one refresh for all processes: whoever holds the row lock fetches, the rest reuse it
            await insert_ignore(session, WechatAccessToken, {"appid": appid}, ["appid"])
            row = (
                await session.execute(
                    select(WechatAccessToken)
                    .where(WechatAccessToken.appid == appid)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
            token = usable(row)
            if token is None:
                path = "/cgi-bin/stable_token"
                data = await self._request(
                    "POST",
                    path,
                    json={
                        "grant_type": "client_credential",
                        "appid": appid,
                        "secret": self.settings.wechat_secret.get_secret_value(),
                        "force_refresh": False,
                    },
                )
                token = str(self._expect(data, "access_token", path))
                now = clock.now()
                row.access_token = token
                row.expires_at = now + timedelta(seconds=int(data.get("expires_in", 7200)))
                row.refreshed_at = now
                self._cached = (token, row.expires_at)
                log.info("wechat access_token refreshed", extra={"expires_in": data.get("expires_in")})
            await session.commit()
            return token

    async def call_with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `path?access_token=…`, refetching the token once if WeChat refuses it."""
        token = await self.access_token()
        try:
            return await self._request("POST", path, params={"access_token": token}, json=body)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_INVALID:
                raise
            log.warning("wechat refused the access_token; refetching once", extra={"errcode": exc.errcode})
        token = await self.access_token(stale=token)
        return await self._request("POST", path, params={"access_token": token}, json=body)

    # -- phone number ---------------------------------------------------------------------

    async def get_phone_number(self, code: str, openid: str) -> PhoneInfo:
        path = "/wxa/business/getuserphonenumber"
        data = await self.call_with_token(path, {"code": code, "openid": openid})
        info = self._expect(data, "phone_info", path)
        watermark = info.get("watermark") or {}
        if watermark.get("appid") != self.settings.wechat_appid:
            raise WeChatError(-2, "phone_info watermark appid is not ours")
        number, country = info.get("purePhoneNumber"), info.get("countryCode", "86")
        if not _fits(number, 20) or not _fits(country, 8):  # the columns that keep them
            raise WeChatUnavailable(f"{path} answered a phone number that is not one")
        return PhoneInfo(pure_phone_number=number, country_code=country)

    # -- subscribe messages -----------------------------------------------------------------

    async def send_subscribe_message(self, message: dict[str, Any]) -> None:
        """POST /cgi-bin/message/subscribe/send. Returns when WeChat accepted the message; raises
        WeChatError (43101 no credit, 47003 bad field, …) or WeChatUnavailable."""
        await self.call_with_token("/cgi-bin/message/subscribe/send", message)

    # -- content security -------------------------------------------------------------------

    async def msg_sec_check(self, *, openid: str, content: str, scene: int) -> TextVerdict:
        """POST /wxa/msg_sec_check (version 2) on the first 2500 characters of `content`.
        `openid` must have used the mini-program in the last 2 hours; `scene` 1 profile,
        2 comment, 3 forum, 4 social log. Text with nothing but blanks passes without a call. Raises
        ValueError before calling on a bad scene, WeChatError / WeChatUnavailable as the other calls do."""
        if scene not in CONTENT_SCENES:
            raise ValueError(f"scene must be one of {CONTENT_SCENES}")
        if not content.strip():
            return TextVerdict(suggest="pass", label=100, trace_id=None)
        path = "/wxa/msg_sec_check"
        data = await self.call_with_token(
            path, {"version": 2, "openid": openid, "scene": scene, "content": content[:MSG_SEC_CHECK_MAX_CHARS]}
        )
        result = self._expect(data, "result", path)
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in SUGGESTS:
            raise WeChatUnavailable(f"{path} answered an unknown suggest {suggest!r}")
        try:
            label = int(result.get("label", 100))
            if not 0 <= label < 2**31:  # five digits in practice; kept in a 32-bit column
                raise ValueError(label)
        except (TypeError, ValueError) as exc:
            raise WeChatUnavailable(f"{path} answered a bad label") from exc
        trace_id = data.get("trace_id")
        return TextVerdict(suggest=suggest, label=label, trace_id=str(trace_id) if trace_id else None)

    async def media_check_async(self, *, openid: str, media_url: str, scene: int) -> str:
        """POST /wxa/media_check_async for an image (media_type 2, version 2): WeChat downloads
        `media_url` (public, <= 10 MB) and pushes the verdict as a `wxa_media_check` event within 30
        minutes. Returns the trace_id that event will carry. A URL WeChat cannot use is its error
        (WeChatError); a bad scene raises ValueError before calling."""
        if scene not in CONTENT_SCENES:
            raise ValueError(f"scene must be one of {CONTENT_SCENES}")
        path = "/wxa/media_check_async"
        data = await self.call_with_token(
            path, {"media_url": media_url, "media_type": 2, "version": 2, "openid": openid, "scene": scene}
        )
        trace_id = data.get("trace_id") or data.get("traceId")
        if not trace_id:
            raise WeChatUnavailable(f"{path} answered without 'trace_id'")
        return str(trace_id)

    # -- mini-program codes -----------------------------------------------------------------

    async def get_wxacode_unlimit(
        self, *, scene: str, page: str, env_version: str = "release", width: int = 430, check_path: bool = False
    ) -> bytes:
        """POST /wxa/getwxacodeunlimit: the image bytes of a mini-program code opening `page` with
        `scene` (<= 32 characters of WeChat's set; an opaque id the server resolves, never a
        secret). `page` has no leading "/" and no query ("" is the home page). Raises ValueError
        before calling on a bad argument; WeChat's JSON failures raise WeChatError."""
        if not WXACODE_SCENE.fullmatch(scene):
            raise ValueError("scene must be 1-32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]")
        if page.startswith("/") or not WXACODE_PAGE.fullmatch(page):
            raise ValueError("page is a path like pages/index/index: no leading '/', no query")
        if env_version not in WXACODE_ENV_VERSIONS:
            raise ValueError(f"env_version must be one of {WXACODE_ENV_VERSIONS}")
        if not 280 <= width <= 1280:
            raise ValueError("width must be 280-1280")
        path = "/wxa/getwxacodeunlimit"
        body: dict[str, Any] = {
            "scene": scene,
            "page": page,
            "check_path": check_path,
            "env_version": env_version,
            "width": width,
        }
        token = await self.access_token()
        try:
            return await self._request_image(path, params={"access_token": token}, json=body)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_INVALID:
                raise
            log.warning("wechat refused the access_token; refetching once", extra={"errcode": exc.errcode})
        token = await self.access_token(stale=token)
        return await self._request_image(path, params={"access_token": token}, json=body)

    async def _request_image(self, path: str, *, params: dict[str, Any], json: Any) -> bytes:
        """A POST whose success is image bytes (Content-Type image/*) and failure is JSON."""
        response = await self._send("POST", path, params=params, json=json)
        content_type = response.headers.get("content-type", "").lower()
        if response.status_code == 200 and content_type.startswith("image/") and response.content:
            return response.content
        self._answer(path, response, f"{path} answered neither an image nor JSON")
        raise WeChatUnavailable(f"{path} answered without an image")


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one shared client; fake mode routes it to the in-process fake WeChat server."""
    timeout = httpx.Timeout(settings.wechat_timeout_seconds, connect=min(3.0, settings.wechat_timeout_seconds))
    if settings.wechat_mode == "fake":
        from api.wechat.fake import FakeWeChat

        fake = FakeWeChat(
            appid=settings.wechat_appid,
            risky_words=list(settings.wechat_fake_risky_words),
            review_words=list(settings.wechat_fake_review_words),
            image_verdict=settings.wechat_fake_image_verdict,
        )
        client = httpx.AsyncClient(
            base_url=settings.wechat_api_base, transport=httpx.MockTransport(fake.handle), timeout=timeout
        )
        _fakes[client] = fake
        return client
    return httpx.AsyncClient(base_url=settings.wechat_api_base, timeout=timeout)


# the fake behind each client build_http_client made in fake mode
_fakes: weakref.WeakKeyDictionary[httpx.AsyncClient, FakeWeChat] = weakref.WeakKeyDictionary()


def fake_wechat(http: httpx.AsyncClient) -> FakeWeChat | None:
    """The in-process fake WeChat behind `http` when build_http_client made it in fake mode (the
    app's fake mode hands its pending `wxa_media_check` pushes to its own callback), else None."""
    return _fakes.get(http)
