"""WeChat's message push (safe mode): the content-security verdicts on photos.

Every push is verified (msg_signature over the token, timestamp, nonce and ciphertext) and
decrypted before anything in it is believed; its appid must be ours. WeChat repeats a push it did
not hear "success" for, so a verdict already applied is ignored; one that arrives before the
commit recording its trace id is tried again for a few minutes. In fake mode the fake WeChat's
pushes go through the same verification, with development credentials when none are set.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.config import Settings
from api.db.session import settings_of
from api.errors import AppError, Forbidden
from api.services.feed import media
from api.wechat import push as wechat_push
from workers.outbox import enqueue

log = logging.getLogger(__name__)

# fake mode without configured push credentials (development, tests): never used in real mode
DEV_PUSH_TOKEN = "linli-dev-push-token"
DEV_PUSH_AES_KEY = "bGlubGktZGV2ZWxvcG1lbnQtcHVzaC1rZXktMzJieXQ"


def credentials(settings: Settings) -> tuple[str, str]:
    token = settings.wechat_push_token.get_secret_value()
    key = settings.wechat_push_aes_key.get_secret_value()
    if settings.wechat_mode == "fake":
        return token or DEV_PUSH_TOKEN, key or DEV_PUSH_AES_KEY
    return token, key


def verify(settings: Settings, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """The server-address check in WeChat's console: echo `echostr` if the signature is ours."""
    token, _ = credentials(settings)
    if not wechat_push.check_signature(token, timestamp, nonce, signature):
        raise Forbidden("push_signature_invalid", "签名不正确")
    return echostr


async def receive(
    session: AsyncSession, body: bytes, content_type: str | None, *, timestamp: str, nonce: str, msg_signature: str
) -> dict[str, Any]:
    """Verify, decrypt and act on one push; returns the message."""
    settings = settings_of(session)
    token, key = credentials(settings)
    if not token or not key:
        raise AppError("push_not_configured", "未配置消息推送的 Token 和 EncodingAESKey", status=503)
    try:
        message = wechat_push.open_push(
            token,
            key,
            settings.wechat_appid,
            body=body,
            content_type=content_type,
            timestamp=timestamp,
            nonce=nonce,
            msg_signature=msg_signature,
        )
    except wechat_push.PushError as exc:
        log.warning("push refused", extra={"code": exc.code})
        status = 400 if exc.code == "push_malformed" else 403
        raise AppError(exc.code, "消息推送无法验证", status=status) from exc
    if message.get("Event") == "wxa_media_check":
        result = message.get("result") or {}
        trace_id = str(message.get("trace_id") or "")
        suggest = str(result.get("suggest") or "review")
        label = result.get("label")
        number = int(label) if isinstance(label, int) or (isinstance(label, str) and label.isdecimal()) else None
        if number is not None and not 0 <= number < 2**31:
            number = None  # WeChat's labels are five digits; media.label is a 32-bit integer
        outcome = await media.apply_verdict(session, trace_id, suggest, number)
        if outcome == "unknown" and trace_id:
            # the verdict can outrun the commit that records its trace id: try again shortly
            await enqueue(
                session,
                "feed.late_verdict",
                {"trace_id": trace_id, "suggest": suggest, "label": number, "tries": 1},
                run_at=clock.now() + LATE_VERDICT_DELAY,
                dedup_key=f"verdict:{trace_id}:1",
            )
        log.info("media verdict", extra={"trace_id": trace_id, "suggest": suggest, "outcome": outcome})
    return message


LATE_VERDICT_DELAY = timedelta(seconds=10)
LATE_VERDICT_TRIES = 30  # five minutes: the image check itself is asked for within seconds


async def late_verdict(session: AsyncSession, payload: dict[str, Any]) -> str:
    """A verdict that came before its trace id was recorded, tried every 10 s for five minutes;
    a trace id still unknown then was never ours."""
    label = payload.get("label")
    trace_id = str(payload["trace_id"])
    outcome = await media.apply_verdict(session, trace_id, str(payload["suggest"]), label)
    tries = int(payload["tries"])
    if outcome == "unknown" and tries < LATE_VERDICT_TRIES:
        await enqueue(
            session,
            "feed.late_verdict",
            {**payload, "tries": tries + 1},
            run_at=clock.now() + LATE_VERDICT_DELAY,
            dedup_key=f"verdict:{trace_id}:{tries + 1}",
        )
    elif outcome == "unknown":
        log.warning("verdict for an unknown trace id", extra={"trace_id": trace_id})
    return outcome


async def deliver_fake_pushes(ctx: Any) -> int:
    """Fake mode: hand the fake WeChat's pending pushes to the callback handling, as WeChat would."""
    from api.wechat.client import fake_wechat

    fake = fake_wechat(ctx.wechat.http) if ctx.wechat is not None else None
    if fake is None:
        return 0
    token, key = credentials(ctx.settings)
    events = fake.pushes_due()
    for event in events:
        body, query = fake.push_body(event, token=token, aes_key=key, appid=ctx.settings.wechat_appid)
        await receive(
            ctx.session,
            body,
            "application/json",
            timestamp=query["timestamp"],
            nonce=query["nonce"],
            msg_signature=query["msg_signature"],
        )
    return len(events)
