"""An in-process S3-compatible server for the tests: `httpx.MockTransport(FakeS3(...).handle)`.

It is strict the way S3 is: every request must carry a valid AWS Signature Version 4, either in
the Authorization header or as a presigned URL's query, checked against the request as it arrived
(method, path, query, the signed headers, the body's SHA-256, the time). What it refuses it refuses
with S3's status and XML error code, so a client that works against it has a good chance of
working against COS or MinIO.

The signature check is written here again from the specification, on purpose not with the helpers
of api.media.storage: a canonicalisation bug in the client then shows up as a refused request instead of
being repeated on both sides.

Path-style addressing only: /{bucket}/{key}. Objects: PUT, GET, HEAD, DELETE.

Why it stays beside moto's server (tests/s3_server.py, where the storage suite and the S3 upload
flow run): moto checks the signature of a header-signed request but not a presigned URL's, nor its
expiry, the request's age, the body against x-amz-content-sha256, unsigned x-amz-* headers or the
region in the credential scope; and a test cannot make moto fail on demand. Those refusals, which
a phone's URL and the app's error handling depend on, are tested here (tests/test_storage.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import httpx

from api import clock

_ALGORITHM = "AWS4-HMAC-SHA256"
_MAX_SKEW = timedelta(minutes=15)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = "0123456789ABCDEF"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


# -- canonicalisation, from the specification ----------------------------------------------


def _percent_decode(text: str) -> bytes:
    """The bytes a percent-encoded URL component stands for ("+" is a plus, as S3 reads paths)."""
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == ord("%") and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in pair)


def _aws_encode(raw: bytes, *, keep_slash: bool) -> str:
    """UriEncode(): unreserved bytes as they are, "/" kept in paths, every other byte as %XX."""
    out = []
    for byte in raw:
        if byte in _UNRESERVED or (keep_slash and byte == ord("/")):
            out.append(chr(byte))
        else:
            out.append("%" + _HEX[byte >> 4] + _HEX[byte & 15])
    return "".join(out)


def _split_target(request: httpx.Request) -> tuple[str, list[tuple[bytes, bytes]]]:
    """(the path as sent, the query's (name, value) pairs decoded to bytes)."""
    target = request.url.raw_path.decode("ascii")
    path, _, query = target.partition("?")
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((_percent_decode(name), _percent_decode(value)))
    return path, pairs


def _canonical_query(pairs: list[tuple[bytes, bytes]]) -> str:
    encoded = sorted((_aws_encode(n, keep_slash=False), _aws_encode(v, keep_slash=False)) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in encoded)


def _canonical_headers(request: httpx.Request, names: list[str]) -> str:
    """The canonical headers block of the signed `names`, as they arrived (one not sent is empty)."""
    lines = []
    for name in names:
        values = request.headers.get_list(name)
        joined = ",".join(re.sub(r"\s+", " ", v.strip()) for v in values)
        lines.append(f"{name}:{joined}\n")
    return "".join(lines)


def _signature(secret: str, scope: list[str], timestamp: str, canonical_request: str) -> str:
    """HMAC chain over the scope (date, region, service, "aws4_request"), then over the string to sign."""
    key = b"AWS4" + secret.encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = f"{_ALGORITHM}\n{timestamp}\n{'/'.join(scope)}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _parse_amz_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


# -- the server -------------------------------------------------------------------------------


class S3Refusal(Exception):
    """What S3 would answer instead of doing the request."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass
class FakeObject:
    data: bytes
    content_type: str
    etag: str
    last_modified: datetime


@dataclass
class _Auth:
    access_key: str
    scope: list[str]  # date, region, service, "aws4_request"
    timestamp: str
    signed_headers: list[str]
    signature: str
    payload_hash: str
    presigned: bool


@dataclass
class FakeS3:
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    buckets: dict[str, dict[str, FakeObject]] = field(default_factory=lambda: {"linli": {}})
    # every request answered: (method, path as sent, status)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    _failures: deque[httpx.Response | Exception] = field(default_factory=deque)

    # -- scripting (tests) ----------------------------------------------------------------

    def fail_next(self, status: int = 500, code: str = "InternalError", *, exc: Exception | None = None) -> None:
        """The next request (whatever it is) gets this error answer, or raises `exc` (e.g. httpx.ConnectError)."""
        self._failures.append(exc if exc is not None else _error(status, code, "We encountered an internal error."))

    def object(self, bucket: str, key: str) -> FakeObject | None:
        return self.buckets.get(bucket, {}).get(key)

    # -- the transport handler ----------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, _ = _split_target(request)
        if self._failures:
            failure = self._failures.popleft()
            if isinstance(failure, Exception):
                raise failure
            response = failure
        else:
            try:
                response = self._handle(request)
            except S3Refusal as refusal:
                response = _error(refusal.status, refusal.code, refusal.message, refusal.details)
        if request.method == "HEAD" and response.content:  # a HEAD answer has no body, errors neither
            response = httpx.Response(response.status_code, headers={"Content-Type": "application/xml"})
        self.calls.append((request.method, path, response.status_code))
        return response

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self._authenticate(request)
        path, _ = _split_target(request)
        bucket_name, _, encoded_key = path.lstrip("/").partition("/")
        bucket_name = _percent_decode(bucket_name).decode("utf-8", "replace")
        bucket = self.buckets.get(bucket_name)
        if bucket is None:
            raise S3Refusal(404, "NoSuchBucket", "The specified bucket does not exist", {"BucketName": bucket_name})
        try:
            key = _percent_decode(encoded_key).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise S3Refusal(400, "InvalidURI", "Couldn't parse the specified URI.") from exc
        if not key:
            raise S3Refusal(501, "NotImplemented", "Only object requests are implemented by this fake.")

        method = request.method
        if method == "PUT":
            data = request.content
            stored = FakeObject(
                data=data,
                content_type=request.headers.get("content-type", "binary/octet-stream"),
                etag='"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"',
                last_modified=clock.now(),
            )
            bucket[key] = stored
            return httpx.Response(200, headers={"ETag": stored.etag})
        if method in ("GET", "HEAD"):
            found = bucket.get(key)
            if found is None:
                if method == "HEAD":
                    return httpx.Response(404)
                raise S3Refusal(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})
            headers = {
                "Content-Type": found.content_type,
                "ETag": found.etag,
                "Last-Modified": format_datetime(found.last_modified, usegmt=True),
            }
            if method == "HEAD":
                return httpx.Response(200, headers={**headers, "Content-Length": str(len(found.data))})
            return httpx.Response(200, headers=headers, content=found.data)
        if method == "DELETE":
            bucket.pop(key, None)
            return httpx.Response(204)
        raise S3Refusal(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    # -- authentication -------------------------------------------------------------------------

    def _authenticate(self, request: httpx.Request) -> None:
        path, query = _split_target(request)
        auth = self._read_auth(request, query)
        if not hmac.compare_digest(auth.access_key, self.access_key):
            raise S3Refusal(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                {"AWSAccessKeyId": auth.access_key},
            )
        date, region, service, terminator = auth.scope
        if region != self.region or service != "s3" or terminator != "aws4_request":
            raise S3Refusal(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; the region '{region}' is wrong; expecting '{self.region}'",
                {"Region": self.region},
            )
        signed_at = _parse_amz_date(auth.timestamp)
        if signed_at is None or date != auth.timestamp[:8]:
            raise S3Refusal(403, "AccessDenied", "X-Amz-Date is not a valid ISO 8601 basic date for the credential")
        if "host" not in auth.signed_headers:
            raise S3Refusal(403, "AccessDenied", "The host header must be signed")

        now = clock.now()
        if auth.presigned:
            expires = _presign_expires(query)
            if now > signed_at + timedelta(seconds=expires):
                raise S3Refusal(
                    403,
                    "AccessDenied",
                    "Request has expired",
                    {
                        "X-Amz-Expires": str(expires),
                        "Expires": _iso(signed_at + timedelta(seconds=expires)),
                        "ServerTime": _iso(now),
                    },
                )
        elif abs(now - signed_at) > _MAX_SKEW:
            raise S3Refusal(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                {"RequestTime": auth.timestamp, "ServerTime": _iso(now)},
            )

        if not auth.presigned and auth.payload_hash != "UNSIGNED-PAYLOAD":
            actual = hashlib.sha256(request.content).hexdigest()
            if auth.payload_hash != actual:
                raise S3Refusal(
                    400,
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    {"ClientComputedContentSHA256": auth.payload_hash, "S3ComputedContentSHA256": actual},
                )

        unsigned = sorted(
            name
            for name in {n.lower() for n in request.headers}
            if name.startswith("x-amz-") and name not in auth.signed_headers
        )
        if unsigned:
            raise S3Refusal(
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed",
                {"HeadersNotSigned": ", ".join(unsigned)},
            )
        headers_block = _canonical_headers(request, auth.signed_headers)
        # S3 reads the path, then encodes it again: what the client should have signed
        canonical_path = _aws_encode(_percent_decode(path), keep_slash=True)
        signed_query = [(n, v) for n, v in query if n != b"X-Amz-Signature"] if auth.presigned else query
        canonical_request = "\n".join(
            [
                request.method,
                canonical_path,
                _canonical_query(signed_query),
                headers_block,
                ";".join(auth.signed_headers),
                auth.payload_hash,
            ]
        )
        expected = _signature(self.secret_key, auth.scope, auth.timestamp, canonical_request)
        if not hmac.compare_digest(expected, auth.signature):
            raise S3Refusal(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                {"AWSAccessKeyId": auth.access_key, "CanonicalRequest": canonical_request},
            )

    def _read_auth(self, request: httpx.Request, query: list[tuple[bytes, bytes]]) -> _Auth:
        params = {n.decode("utf-8", "replace"): v.decode("utf-8", "replace") for n, v in query}
        header = request.headers.get("authorization")
        if header is not None and "X-Amz-Signature" in params:
            raise S3Refusal(400, "InvalidArgument", "Only one auth mechanism allowed")
        if header is not None:
            match = _AUTHORIZATION.match(header.strip())
            if match is None:
                raise S3Refusal(400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
            payload_hash = request.headers.get("x-amz-content-sha256")
            if payload_hash is None:
                raise S3Refusal(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
            timestamp = request.headers.get("x-amz-date", "")
            credential, signed, given = match["credential"], match["signed"], match["signature"]
            presigned = False
        elif "X-Amz-Signature" in params:
            if params.get("X-Amz-Algorithm") != _ALGORITHM:
                raise S3Refusal(
                    400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports AWS4-HMAC-SHA256"
                )
            missing = [
                name
                for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
                if name not in params
            ]
            if missing:
                raise S3Refusal(
                    400, "AuthorizationQueryParametersError", f"Query-string authentication requires {missing[0]}"
                )
            credential, signed, given = (
                params["X-Amz-Credential"],
                params["X-Amz-SignedHeaders"],
                params["X-Amz-Signature"],
            )
            timestamp = params["X-Amz-Date"]
            payload_hash = "UNSIGNED-PAYLOAD"
            presigned = True
        else:
            raise S3Refusal(403, "AccessDenied", "Access Denied")

        access_key, _, scope_text = credential.partition("/")
        scope = scope_text.split("/")
        names = signed.split(";")
        if len(scope) != 4 or names != sorted(names) or any(n != n.lower() or not n for n in names):
            raise S3Refusal(400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
        return _Auth(access_key, scope, timestamp, names, given, payload_hash, presigned)


def _presign_expires(query: list[tuple[bytes, bytes]]) -> int:
    raw = dict(query).get(b"X-Amz-Expires", b"")
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_PRESIGN_SECONDS:
        raise S3Refusal(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be a number of seconds between 1 and 604800 (7 days)",
        )
    return int(raw)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str, details: dict[str, str] | None = None) -> httpx.Response:
    """An S3 error answer: an <Error> document."""
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in (details or {}).items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return httpx.Response(status, headers={"Content-Type": "application/xml"}, content=body.encode())
