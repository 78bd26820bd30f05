"""JWT issue and verification (python-jose, HS256 pinned).

The algorithm never comes from the token: decode accepts HS256 only, so `alg: none` and
algorithm-confusion tokens are refused. Every token carries sub, iat, exp and jti.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jose import JWTError, jwk, jwt
from jose.backends.base import Key

from api import clock
from api.config import Settings
from api.errors import Unauthorized
from api.pagination import MAX_ID

ALGORITHM = "HS256"
ISSUER = "linli"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    jti: str


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(settings: Settings, user_id: int) -> IssuedToken:
    now = clock.now()
    jti = uuid.uuid4().hex
    claims = {
        "sub": str(user_id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.jwt_ttl_seconds)).timestamp()),
        "jti": jti,
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return IssuedToken(token=token, expires_in=settings.jwt_ttl_seconds, jti=jti)


# what a token's numbers may be: ids a 64-bit column holds, times a datetime holds
_LATEST = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp())
_DECIMAL_ID = re.compile(r"[1-9][0-9]{0,18}")


def _instant(value: object) -> datetime:
    """`exp` or `iat` as issued: whole seconds since 1970 in a datetime's range. A string, a float,
    a boolean (an int to Python) or a number past year 9999 is not one of ours."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _LATEST:
        raise ValueError("exp and iat are whole seconds")
    return datetime.fromtimestamp(value, UTC)


def _user_id(value: object) -> int:
    """`sub` as issued: a user id in decimal, no sign, blanks, underscores or other digits."""
    if not isinstance(value, str) or not _DECIMAL_ID.fullmatch(value) or int(value) > MAX_ID:
        raise ValueError("sub is a user id")
    return int(value)


# tokens already verified, keyed by the secret and the token: a client sends the same token with
# every request, and python-jose's parsing and checks cost more than the rest of a small request's
# Python. Only tokens that verified are kept (a forged or damaged one is checked every time); the
# expiry is still checked against the clock on every use. Emptied when full.
_verified: dict[tuple[str, str], TokenClaims] = {}
_VERIFIED_MAX = 10_000


def verify_access_token(settings: Settings, token: str) -> TokenClaims:
    secret = settings.jwt_secret.get_secret_value()
    claims = _verified.get((secret, token))
    if claims is None:
        claims = _decode(secret, token)
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[(secret, token)] = claims
    if clock.now() >= claims.expires_at:
        raise Unauthorized("token_expired", "登录已过期，请重新登录")
    return claims


@functools.cache
def _key(secret: str) -> Key:
    """The secret as python-jose's key, made once (made from the string on every call otherwise,
    after a failed attempt to read it as JSON)."""
    return jwk.construct(secret, ALGORITHM)


def _decode(secret: str, token: str) -> TokenClaims:
    """The token's claims, its signature and form checked (not its expiry)."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录")
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # expiry is checked by the caller against the project clock, so tests can move time. exp and
            # iat are not "required" here: python-jose turns a required claim's verification back on
            # (against the wall clock); their presence is checked below, where a missing one is a KeyError.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require_sub": True,
                "require_jti": True,
            },
        )
        expires_at = _instant(claims["exp"])
        issued_at = _instant(claims["iat"])
        user_id = _user_id(claims["sub"])
    except (JWTError, KeyError, TypeError, ValueError) as exc:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录") from exc
    return TokenClaims(user_id=user_id, jti=str(claims["jti"]), issued_at=issued_at, expires_at=expires_at)


# -- check-in codes ------------------------------------------------------------------------------
# A booking's code is a QR the resident shows at the door: the booking id and a MAC, so it cannot be
# made up for another booking. The on-site code is shown on a staff screen and changes every minute,
# so a photo of yesterday's code, or one sent to a friend at home, does not check anyone in.

ONSITE_CODE_SECONDS = 60


def _mac(settings: Settings, message: str) -> bytes:
    return hmac.new(settings.jwt_secret.get_secret_value().encode(), message.encode(), hashlib.sha256).digest()


def checkin_token(settings: Settings, booking_id: int) -> str:
    mac = base64.urlsafe_b64encode(_mac(settings, f"checkin:{booking_id}")).decode()[:16]
    return f"{booking_id}.{mac}"


def verify_checkin_token(settings: Settings, token: str) -> int | None:
    """The booking id the token was made for, or None if it is not one of ours."""
    booking, _, _ = token.partition(".")
    if not token.isascii() or not booking.isdigit() or len(booking) > 18:
        return None
    return int(booking) if hmac.compare_digest(token, checkin_token(settings, int(booking))) else None


def onsite_code(settings: Settings, target: int, at: datetime, *, scope: str = "activity") -> str:
    """The on-site code of an activity (or a volunteer shift, `scope="shift"`) for the minute
    containing `at` (8 characters, A–Z and 2–7)."""
    minute = int(at.timestamp()) // ONSITE_CODE_SECONDS
    return base64.b32encode(_mac(settings, f"onsite:{scope}:{target}:{minute}")).decode()[:8]


def onsite_code_valid(settings: Settings, target: int, code: str, at: datetime, *, scope: str = "activity") -> bool:
    """The current code, or the previous minute's (the resident may have scanned it just before it
    changed)."""
    code = code.strip().upper()
    if not code.isascii():
        return False
    candidates = (
        onsite_code(settings, target, at - timedelta(seconds=s), scope=scope) for s in (0, ONSITE_CODE_SECONDS)
    )
    return any(hmac.compare_digest(code, c) for c in candidates)


# -- personal data at rest -----------------------------------------------------------------------


def seal(settings: Settings, plaintext: str, *, purpose: str) -> str:
    """AES-256-GCM with LINLI_DATA_KEY; `purpose` is bound in as associated data, so a sealed value
    cannot be moved to another field. base64 of nonce + ciphertext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(settings.data_key_bytes).encrypt(nonce, plaintext.encode(), purpose.encode())
    return base64.b64encode(nonce + sealed).decode()


class SealError(ValueError):
    """A sealed value that cannot be opened: another key (LINLI_DATA_KEY changed), another field,
    or damaged."""


def unseal(settings: Settings, token: str, *, purpose: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.b64decode(token, validate=True)
        return AESGCM(settings.data_key_bytes).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealError("the sealed value cannot be opened with this LINLI_DATA_KEY") from exc
