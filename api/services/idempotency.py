"""Idempotency-Key: a retried state-changing request replays its first answer and changes nothing.

The key is stored with the user, a fingerprint of the request and the response, in the same
transaction as the change, so a key exists exactly when its change committed. On PostgreSQL a
transaction-scoped advisory lock on (user, key) makes a duplicate that arrives while the first is
still running fail fast with 409; on SQLite writers are serialised, so the duplicate waits and
then replays.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import IdempotencyKey
from api.errors import Conflict, Unprocessable

MAX_KEY_LENGTH = 255


class IdempotentReplay(Exception):
    """Carries the stored answer; the app's handler turns it into the response."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__("idempotent replay")


def validate_key(key: str) -> None:
    if not (1 <= len(key) <= MAX_KEY_LENGTH) or not key.isascii() or not key.isprintable():
        raise Unprocessable(
            "idempotency_key_invalid", "Idempotency-Key 须为 1–255 个可打印 ASCII 字符", details={"max_length": 255}
        )


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Same method, path and JSON content (key order and spacing aside) give the same print."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def lock_id(user_id: int, key: str) -> int:
    raw = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


async def begin(session: AsyncSession, user_id: int, key: str, print_: str) -> None:
    """Claim `key` for this request. Raises IdempotentReplay with the stored answer, or
    409 idempotency_in_flight / 422 idempotency_key_mismatch."""
    validate_key(key)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        locked = (
            await session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": lock_id(user_id, key)})
        ).scalar_one()
        if not locked:
            raise Conflict("idempotency_in_flight", "相同的请求正在处理中，请稍候")
    stored = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        )
    ).scalar_one_or_none()
    if stored is None:
        return
    if stored.expires_at <= clock.now():
        await session.delete(stored)
        await session.flush()
        return
    if stored.fingerprint != print_:
        raise Unprocessable("idempotency_key_mismatch", "该 Idempotency-Key 已用于另一个请求", details={"key": key})
    raise IdempotentReplay(stored.status_code, stored.response_body)


async def save(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    method: str,
    path: str,
    print_: str,
    status_code: int,
    body: dict[str, Any],
    ttl: timedelta,
) -> None:
    now = clock.now()
    session.add(
        IdempotencyKey(
            user_id=user_id,
            key=key,
            method=method,
            path=path,
            fingerprint=print_,
            status_code=status_code,
            response_body=body,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()


async def purge_expired(session: AsyncSession) -> int:
    """Forget keys past their expiry (a periodic worker job)."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)
