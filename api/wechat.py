"""Async client for the few WeChat server APIs Linli uses (see shared WECHAT.md).

One shared httpx.AsyncClient with timeouts. Success is recognised by the expected field, never by
`errcode == 0` (a success may omit errcode). The access_token is one row in the database shared by
every API process and worker, refreshed single-flight through `stable_token`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from api import clock
from api.config import Settings
from api.db.models import WechatAccessToken
from api.db.session import Database
from api.db.upsert import insert_ignore

log = logging.getLogger(__name__)

BUSY = -1
RATE_LIMITED = (45009, 45011)
TOKEN_INVALID = (40001, 42001, 40014)
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


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


class WeChatClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, db: Database) -> None:
        self.settings = settings
        self.http = http
        self.db = db
        self._token_lock = asyncio.Lock()
        # this process's copy of the shared row, so that a burst of sends does not read it every time
        self._cached: tuple[str, datetime] | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise WeChatUnavailable(f"timeout calling {path}") from exc
        except httpx.TransportError as exc:
            raise WeChatUnavailable(f"network error calling {path}: {exc}") from exc
        if response.status_code >= 500:
            raise WeChatUnavailable(f"HTTP {response.status_code} from {path}")
        try:
            data = response.json()
        except ValueError as exc:
            raise WeChatUnavailable(f"non-JSON answer from {path}") from exc
        if not isinstance(data, dict):
            raise WeChatUnavailable(f"unexpected answer from {path}")
        errcode = data.get("errcode")
        if errcode not in (None, 0):
            if errcode == BUSY:
                raise WeChatUnavailable(f"{path} busy: {data.get('errmsg')}")
            raise WeChatError(int(errcode), str(data.get("errmsg", "")))
        return data

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
        return WxSession(openid=str(openid), unionid=str(unionid) if unionid else None)

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
        return PhoneInfo(
            pure_phone_number=str(info["purePhoneNumber"]), country_code=str(info.get("countryCode", "86"))
        )


    # -- subscribe messages -----------------------------------------------------------------

    async def send_subscribe_message(self, message: dict[str, Any]) -> None:
        """POST /cgi-bin/message/subscribe/send. Returns when WeChat accepted the message; raises
        WeChatError (43101 no credit, 47003 bad field, …) or WeChatUnavailable."""
        await self.call_with_token("/cgi-bin/message/subscribe/send", message)


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one shared client; fake mode routes it to the in-process fake WeChat server."""
    timeout = httpx.Timeout(settings.wechat_timeout_seconds, connect=min(3.0, settings.wechat_timeout_seconds))
    if settings.wechat_mode == "fake":
        from api.wechat_fake import FakeWeChat

        fake = FakeWeChat(appid=settings.wechat_appid)
        return httpx.AsyncClient(
            base_url=settings.wechat_api_base, transport=httpx.MockTransport(fake.handle), timeout=timeout
        )
    return httpx.AsyncClient(base_url=settings.wechat_api_base, timeout=timeout)
