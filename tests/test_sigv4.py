"""The hand-written SigV4 signer (api/media/storage.py) against two references written by others:
AWS's own Signature Version 4 test suite (the published requests and their signatures), and
botocore's signers (SigV4Auth, S3SigV4Auth, S3SigV4QueryAuth) on a few hundred random requests,
both signed in the Authorization header and presigned, with keys, query parameters, headers and
payloads that stray far from the plain keys the app itself uses."""

from __future__ import annotations

import hashlib
import os
import random
import string
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.utils import percent_encode

from api.media.storage import (
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    Credentials,
    amz_date,
    canonical_request,
    credential_scope,
    presign,
    sign_headers,
    signature,
    string_to_sign,
)

# -- AWS's Signature Version 4 test suite ------------------------------------------------------
# (aws-sig-v4-test-suite, as botocore ships it in tests/unit/auth/aws4_testsuite: Apache-2.0,
# Copyright Amazon.com, Inc.) Each case: name, method, path (decoded), query (decoded pairs),
# headers as sent, body, and the signature AWS publishes. Left out, as they do not apply to an S3
# signer: normalize-path/* (S3 never normalises a path: "a/../b" is a key of its own), a header
# sent twice or folded over lines (the signer takes one value per name), and the session-token
# cases (Linli has long-lived keys).

SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)

# (name, method, path, query, headers besides Host and X-Amz-Date, body, published signature)
AWS_VECTORS = [
    (
        "get-header-value-trim",
        "GET",
        "/",
        [],
        {"My-Header1": " value1", "My-Header2": ' "a   b   c"'},
        "",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
    (
        "get-unreserved",
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        [],
        {},
        "",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    ("get-utf8", "GET", "/ሴ", [], {}, "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-vanilla", "GET", "/", [], {}, "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    (
        "get-vanilla-empty-query-key",
        "GET",
        "/",
        [("Param1", "value1")],
        {},
        "",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    ),
    ("get-vanilla-query", "GET", "/", [], {}, "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    (
        "get-vanilla-query-order-encoded",
        "GET",
        "/",
        [("Param-3", "Value3"), ("Param", "Value2"), ("ሴ", "Value1")],
        {},
        "",
        "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
    ),
    (
        "get-vanilla-query-order-key",
        "GET",
        "/",
        [("Param1", "value2"), ("Param1", "Value1")],
        {},
        "",
        "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    ),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "/",
        [("Param2", "value2"), ("Param1", "value1")],
        {},
        "",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-vanilla-query-order-value",
        "GET",
        "/",
        [("Param1", "value2"), ("Param1", "value1")],
        {},
        "",
        "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    ),
    (
        "get-vanilla-query-unreserved",
        "GET",
        "/",
        [
            (
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            )
        ],
        {},
        "",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    ),
    (
        "get-vanilla-utf8-query",
        "GET",
        "/",
        [("ሴ", "bar")],
        {},
        "",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    ),
    (
        "post-header-key-case",
        "POST",
        "/",
        [],
        {},
        "",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    (
        "post-header-key-sort",
        "POST",
        "/",
        [],
        {"My-Header1": "value1"},
        "",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    ),
    (
        "post-header-value-case",
        "POST",
        "/",
        [],
        {"My-Header1": "VALUE1"},
        "",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    ),
    ("post-vanilla", "POST", "/", [], {}, "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    (
        "post-vanilla-empty-query-value",
        "POST",
        "/",
        [("Param1", "value1")],
        {},
        "",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    (
        "post-vanilla-query",
        "POST",
        "/",
        [("Param1", "value1")],
        {},
        "",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    (
        "post-x-www-form-urlencoded",
        "POST",
        "/",
        [],
        {"Content-Type": "application/x-www-form-urlencoded"},
        "Param1=value1",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
    (
        "post-x-www-form-urlencoded-parameters",
        "POST",
        "/",
        [],
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf8"},
        "Param1=value1",
        "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    ),
]


def boto_credentials(credentials: Credentials) -> BotoCredentials:
    return BotoCredentials(credentials.access_key, credentials.secret_key)


@pytest.fixture
def botocore_at(monkeypatch: pytest.MonkeyPatch):
    """Set the moment botocore's signers take as "now" (they read the clock themselves)."""

    def at(when: datetime) -> None:
        naive = when.astimezone(UTC).replace(tzinfo=None)
        monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda *args, **kwargs: naive)

    return at


def botocore_sign(signer: botocore_auth.SigV4Auth, request: AWSRequest) -> tuple[str, str]:
    """(the Authorization header, the canonical request) botocore makes of `request`."""
    signer.add_auth(request)
    authorization = request.headers["Authorization"]
    del request.headers["Authorization"]  # not part of what was signed
    return authorization, signer.canonical_request(request)


@pytest.mark.parametrize("case", AWS_VECTORS, ids=[case[0] for case in AWS_VECTORS])
def test_signer_matches_the_aws_test_suite(case, botocore_at) -> None:
    _, method, path, params, extra_headers, body, published = case
    headers = {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z", **extra_headers}
    payload_hash = hashlib.sha256(body.encode()).hexdigest()
    timestamp = amz_date(SUITE_TIME)
    ours = canonical_request(method, path, params, headers, payload_hash)
    assert signature(SUITE, timestamp, ours) == published

    # botocore's generic signer on the same request agrees, canonical request and all
    botocore_at(SUITE_TIME)
    request = AWSRequest(
        method=method, url=f"https://example.amazonaws.com{path}", headers=headers, data=body, params=params
    )
    signer = botocore_auth.SigV4Auth(boto_credentials(SUITE), SUITE.service, SUITE.region)
    authorization, canonical = botocore_sign(signer, request)
    assert canonical == ours
    assert authorization.endswith(f"Signature={published}")


# S3's own examples (Amazon S3 API reference, "Signature Calculations for the Authorization Header:
# Transferring Payload in a Single Chunk" and "Authenticating Requests: Using Query Parameters"),
# where the payload hash header and UNSIGNED-PAYLOAD come in
AWS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
AWS_HOST = "examplebucket.s3.amazonaws.com"
AWS_WHEN = datetime(2013, 5, 24, 0, 0, tzinfo=UTC)


def test_sigv4_get_object_example() -> None:
    headers = sign_headers(
        "GET",
        AWS_HOST,
        "/test.txt",
        credentials=AWS,
        when=AWS_WHEN,
        payload_hash=EMPTY_SHA256,
        headers={"Range": "bytes=0-9"},
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["x-amz-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_sigv4_canonical_request_of_the_example() -> None:
    signed = {
        "host": AWS_HOST,
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    assert canonical_request("GET", "/test.txt", [], signed, EMPTY_SHA256) == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )


def test_sigv4_presigned_url_example() -> None:
    query = presign("GET", AWS_HOST, "/test.txt", credentials=AWS, when=AWS_WHEN, expires_seconds=86400)
    assert query == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


# -- random requests against botocore's S3 signers -----------------------------------------------

SEED = int(os.environ.get("LINLI_TEST_SIGV4_SEED", "20150830"))
CASES = 300
REGIONS = ["us-east-1", "ap-guangzhou", "ap-shanghai", "eu-west-3", "cn-north-1", "me-central-1"]
# what a key may hold on S3 beyond the app's own plain keys: spaces, reserved and percent signs,
# CJK, emoji, a tilde (unreserved, never encoded)
KEY_CHARS = string.ascii_letters + string.digits + " -_.~!*'()+=&$@,;:?#%[]{}^`|\"<>\\" + "照片邻里活动二〇二五" + "😀é"
VALUE_CHARS = string.ascii_letters + string.digits + " -_.~/+=&%:,;*'()" + "报名签到"
HEADER_VALUE_CHARS = string.ascii_letters + string.digits + " -_.~/+=&%:,;*'()\"<>"
# botocore leaves some hop-by-hop and tracing headers out of what it signs; Linli never signs them
UNSIGNABLE = {name.lower() for name in botocore_auth.SIGNED_HEADERS_BLACKLIST} | {
    "host",
    "x-amz-date",
    "x-amz-content-sha256",
    "authorization",
}


def random_text(rng: random.Random, chars: str, low: int, high: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))


def random_request(rng: random.Random):
    bucket = "linli-" + random_text(rng, string.ascii_lowercase + string.digits, 3, 12)
    key = "/".join(random_text(rng, KEY_CHARS, 1, 12) for _ in range(rng.randint(1, 4)))
    path = f"/{bucket}/{key}"
    names: set[str] = set()
    params = []
    for _ in range(rng.randint(0, 4)):
        name = random_text(rng, VALUE_CHARS, 1, 10)
        if name not in names and not name.startswith("X-Amz-"):
            names.add(name)
            params.append((name, random_text(rng, VALUE_CHARS, 0, 12)))
    headers = {}
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(["x-amz-meta-", "X-Amz-Meta-", "content-", "Cache-", "x-linli-"]) + random_text(
            rng, string.ascii_letters + string.digits + "-", 1, 8
        )
        if name.lower() not in UNSIGNABLE and name.lower() not in {n.lower() for n in headers}:
            # runs of spaces inside, spaces around: both signers trim and collapse them
            headers[name] = random_text(rng, HEADER_VALUE_CHARS, 1, 20)
    body = rng.randbytes(rng.randint(0, 256)) if rng.random() < 0.6 else b""
    credentials = Credentials(
        "AKID" + random_text(rng, string.ascii_uppercase + string.digits, 8, 16),
        random_text(rng, string.ascii_letters + string.digits + "+/", 20, 40),
        rng.choice(REGIONS),
    )
    when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10 * 365 * 86400))
    method = rng.choice(["GET", "PUT", "DELETE", "HEAD", "POST"])
    host = rng.choice(["cos.ap-guangzhou.myqcloud.com", "127.0.0.1:9000", "minio.internal:9000", "s3.amazonaws.com"])
    return method, host, path, params, headers, body, credentials, when


def botocore_url(host: str, path: str) -> str:
    # the URL as botocore's own S3 serializer would write it: the key percent-encoded, "/" and "~" kept
    return f"https://{host}{percent_encode(path, safe='/~')}"


def test_header_signing_agrees_with_botocore_on_random_requests(botocore_at) -> None:
    print(f"SigV4 random cases: seed {SEED} (set LINLI_TEST_SIGV4_SEED to replay another)")
    rng = random.Random(SEED)
    for case in range(CASES):
        method, host, path, params, headers, body, credentials, when = random_request(rng)
        payload_hash = hashlib.sha256(body).hexdigest()
        ours = sign_headers(
            method,
            host,
            path,
            credentials=credentials,
            when=when,
            payload_hash=payload_hash,
            headers=headers,
            params=params,
        )

        botocore_at(when)
        request = AWSRequest(
            method=method, url=botocore_url(host, path), headers={**headers, "Host": host}, data=body, params=params
        )
        signer = botocore_auth.S3SigV4Auth(boto_credentials(credentials), "s3", credentials.region)
        authorization, canonical = botocore_sign(signer, request)

        context = f"case {case} (seed {SEED}): {method} {host} {path!r} {params!r} {headers!r}"
        signed = {name: value for name, value in ours.items() if name not in ("host", "authorization")}
        expected = canonical_request(method, path, params, {**signed, "host": host}, payload_hash)
        assert canonical == expected, context
        timestamp = amz_date(when)
        assert signer.string_to_sign(request, expected) == string_to_sign(
            timestamp, credential_scope(timestamp[:8], credentials), expected
        ), context
        assert request.headers["X-Amz-Date"] == ours["x-amz-date"], context
        assert request.headers["X-Amz-Content-SHA256"] == ours["x-amz-content-sha256"] == payload_hash, context
        assert authorization == ours["authorization"], context


def test_presigned_urls_agree_with_botocore_on_random_requests(botocore_at) -> None:
    print(f"SigV4 random cases: seed {SEED} (set LINLI_TEST_SIGV4_SEED to replay another)")
    rng = random.Random(SEED + 1)
    for case in range(CASES):
        method, host, path, params, _, _, credentials, when = random_request(rng)
        expires = rng.randint(1, 7 * 24 * 3600)
        ours = presign(method, host, path, credentials=credentials, when=when, expires_seconds=expires, params=params)

        botocore_at(when)
        request = AWSRequest(method=method, url=botocore_url(host, path), headers={"Host": host}, params=params)
        signer = botocore_auth.S3SigV4QueryAuth(boto_credentials(credentials), "s3", credentials.region, expires)
        signer.add_auth(request)

        context = f"case {case} (seed {SEED}): {method} {host} {path!r} {params!r} {expires}"
        theirs = urlsplit(request.url).query
        # the same parameters with the same values (botocore puts the request's own first, the
        # signature last; the order of the others does not matter to S3)
        assert sorted(parse_qsl(ours, keep_blank_values=True)) == sorted(parse_qsl(theirs, keep_blank_values=True)), (
            context
        )
        query = [pair for pair in parse_qsl(ours, keep_blank_values=True) if pair[0] != "X-Amz-Signature"]
        expected = canonical_request(method, path, query, {"host": host}, UNSIGNED_PAYLOAD)
        request.url = request.url.rsplit("&", 1)[0]  # what was signed: the URL without its signature
        assert signer.canonical_request(request) == expected, context
        assert ours.rsplit("&", 1)[1] == theirs.rsplit("&", 1)[1], context  # X-Amz-Signature=…, last in both
