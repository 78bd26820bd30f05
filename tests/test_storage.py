"""Media storage: the SigV4 primitives against AWS's published examples, both stores behind the one
interface (local disk; S3 against the in-process FakeS3), signed URLs, and the fake's refusals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api import clock
from api.media.storage import (
    EMPTY_SHA256,
    Credentials,
    LocalStorage,
    S3Storage,
    Storage,
    StorageError,
    build_storage,
    canonical_request,
    presign,
    sign_headers,
    uri_encode,
    validate_key,
)
from tests.conftest import make_settings
from tests.s3_fake import FakeS3

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ACCESS_KEY = "AKIDLINLITEST"
SECRET_KEY = "linli-test-s3-secret"
REGION = "ap-guangzhou"
BUCKET = "linli-photos"
ENDPOINT = "https://cos.test"

# AWS's examples (Amazon S3 API reference, "Signature Calculations for the Authorization Header:
# Transferring Payload in a Single Chunk" and "Authenticating Requests: Using Query Parameters")
AWS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
AWS_HOST = "examplebucket.s3.amazonaws.com"
AWS_WHEN = datetime(2013, 5, 24, 0, 0, tzinfo=UTC)


def settings_for(tmp_path: Path, **overrides: Any):
    values: dict[str, Any] = {
        "media_dir": str(tmp_path / "media"),
        "s3_endpoint": ENDPOINT,
        "s3_bucket": BUCKET,
        "s3_region": REGION,
        "s3_access_key": ACCESS_KEY,
        "s3_secret_key": SECRET_KEY,
        "media_url_ttl_seconds": 600,
    }
    values.update(overrides)
    return make_settings("sqlite+aiosqlite://", **values)


def fake_s3() -> FakeS3:
    return FakeS3(ACCESS_KEY, SECRET_KEY, REGION, buckets={BUCKET: {}})


def s3_store(tmp_path: Path, fake: FakeS3, handler: Any = None, **overrides: Any) -> S3Storage:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler or fake.handle))
    store = build_storage(settings_for(tmp_path, storage="s3", **overrides), http)
    assert isinstance(store, S3Storage)
    return store


# -- SigV4 against AWS's published examples ----------------------------------------------------


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


def test_fake_accepts_aws_examples_as_published() -> None:
    """The fake's own verification, checked against AWS's literal requests, not against our client.
    (They are virtual-hosted: path-style, the fake then reads "test.txt" as a bucket it lacks. A 404
    NoSuchBucket means the signature was accepted; authentication comes first.)"""
    clock.freeze(AWS_WHEN + timedelta(minutes=5))
    fake = FakeS3(AWS.access_key, AWS.secret_key, "us-east-1")
    signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    headers = {
        "Host": AWS_HOST,
        "Range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}",
    }
    response = fake.handle(httpx.Request("GET", f"https://{AWS_HOST}/test.txt", headers=headers))
    assert response.status_code == 404 and "NoSuchBucket" in response.text
    headers["Authorization"] = headers["Authorization"].replace(signature, "0" + signature[1:])
    response = fake.handle(httpx.Request("GET", f"https://{AWS_HOST}/test.txt", headers=headers))
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text

    presigned = (
        f"https://{AWS_HOST}/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    response = fake.handle(httpx.Request("GET", presigned))
    assert response.status_code == 404 and "NoSuchBucket" in response.text
    clock.advance(timedelta(days=1))
    response = fake.handle(httpx.Request("GET", presigned))
    assert response.status_code == 403 and "Request has expired" in response.text


def test_uri_encode_follows_aws_rules() -> None:
    assert uri_encode("photos/a b+c~d_e-f.g", keep_slash=True) == "photos/a%20b%2Bc~d_e-f.g"
    assert uri_encode("a/b=c*!") == "a%2Fb%3Dc%2A%21"
    assert uri_encode("照片") == "%E7%85%A7%E7%89%87"


async def test_fake_agrees_on_encoding_of_unusual_paths_and_queries() -> None:
    """The client's and the fake's canonicalisation, written separately, agree beyond plain keys."""
    clock.freeze(T0)
    fake = fake_s3()
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, REGION)
    path = f"/{BUCKET}/照片 (1)!*+~.jpg"
    params = [("x-id", "PutObject"), ("a b", "c/d=e")]
    headers = sign_headers(
        "PUT",
        "cos.test",
        path,
        credentials=credentials,
        when=clock.now(),
        payload_hash=hashlib.sha256(b"data").hexdigest(),
        headers={"content-type": "image/jpeg", "x-amz-meta-note": "  two   spaces "},
        params=params,
    )
    query = "a%20b=c%2Fd%3De&x-id=PutObject"
    url = f"{ENDPOINT}{uri_encode(path, keep_slash=True)}?{query}"
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as http:
        response = await http.put(url, content=b"data", headers=headers)
    assert response.status_code == 200, response.text
    stored = fake.object(BUCKET, "照片 (1)!*+~.jpg")
    assert stored is not None and stored.data == b"data"


# -- both stores, one interface ---------------------------------------------------------------


@dataclass
class Store:
    kind: str
    storage: Storage
    fake: FakeS3 | None
    http: httpx.AsyncClient


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    clock.freeze(T0)
    fake = fake_s3()
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    settings = settings_for(tmp_path, storage=request.param)
    yield Store(request.param, build_storage(settings, http), fake if request.param == "s3" else None, http)
    await http.aclose()


async def test_put_get_delete_roundtrip(store: Store) -> None:
    data = bytes(range(256)) * 40
    await store.storage.put("photos/2025/abc.jpg", data, "image/jpeg")
    assert await store.storage.get("photos/2025/abc.jpg") == data

    await store.storage.put("photos/2025/abc.jpg", b"replaced", "image/jpeg")
    assert await store.storage.get("photos/2025/abc.jpg") == b"replaced"

    await store.storage.delete("photos/2025/abc.jpg")
    assert await store.storage.get("photos/2025/abc.jpg") is None
    await store.storage.delete("photos/2025/abc.jpg")  # twice is fine


async def test_missing_key_is_none(store: Store) -> None:
    assert await store.storage.get("photos/none.jpg") is None
    await store.storage.delete("photos/none.jpg")


async def test_empty_object(store: Store) -> None:
    await store.storage.put("empty.bin", b"", "application/octet-stream")
    assert await store.storage.get("empty.bin") == b""


@pytest.mark.parametrize(
    "key",
    [
        "照片/a.jpg",
        "photos/a b.jpg",
        "photos/a+b.jpg",
        "/photos/a.jpg",
        "photos//a.jpg",
        "photos/a.jpg/",
        "photos/../secret",
        "..",
        ".",
        "photos/./a.jpg",
        "a\\b",
        "a?b",
        "a%2Fb",
        "",
        "x" * 1025,
    ],
)
async def test_bad_keys_are_refused(store: Store, key: str) -> None:
    with pytest.raises(ValueError):
        await store.storage.put(key, b"x", "image/jpeg")
    with pytest.raises(ValueError):
        await store.storage.get(key)
    with pytest.raises(ValueError):
        await store.storage.delete(key)
    with pytest.raises(ValueError):
        store.storage.url(key)
    if store.fake is not None:
        assert store.fake.calls == []  # refused before anything was sent


def test_good_keys() -> None:
    for key in ("a", "photos/2025/03/0f9e-A_b.c.webp", "x" * 1024, "-/_/.a"):
        assert validate_key(key) == key


async def test_url_serves_the_object_until_it_expires(store: Store, tmp_path: Path) -> None:
    await store.storage.put("photos/p1.jpg", b"jpeg bytes", "image/jpeg")
    url = store.storage.url("photos/p1.jpg", ttl_seconds=60)

    if isinstance(store.storage, LocalStorage):
        local = store.storage
        parts = urlsplit(url)
        assert parts.path == "/api/v1/media/files/photos/p1.jpg"
        query = parse_qs(parts.query)
        exp, sig = int(query["exp"][0]), query["sig"][0]
        assert exp == int(T0.timestamp()) + 60
        assert local.verify_url("photos/p1.jpg", exp, sig)
        assert await local.read_for_serving("photos/p1.jpg") == b"jpeg bytes"
        assert not local.verify_url("photos/p2.jpg", exp, sig)  # another key
        assert not local.verify_url("photos/p1.jpg", exp + 3600, sig)  # a longer life
        tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
        assert not local.verify_url("photos/p1.jpg", exp, tampered)
        assert not local.verify_url("photos/p1.jpg", exp, "")
        assert not local.verify_url("photos/p1.jpg", exp, "签名")
        assert not local.verify_url("../p1.jpg", exp, sig)
        # another secret, another signature
        other = LocalStorage(settings_for(tmp_path, jwt_secret="another-secret-" + "y" * 32))
        assert not other.verify_url("photos/p1.jpg", exp, sig)
        clock.advance(timedelta(seconds=59))
        assert local.verify_url("photos/p1.jpg", exp, sig)
        clock.advance(timedelta(seconds=1))
        assert not local.verify_url("photos/p1.jpg", exp, sig)
    else:
        assert url.startswith(f"{ENDPOINT}/{BUCKET}/photos/p1.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&")
        assert "X-Amz-SignedHeaders=host" in url and "X-Amz-Expires=60" in url
        # a phone: no credentials, only the URL
        response = await store.http.get(url)
        assert response.status_code == 200
        assert response.content == b"jpeg bytes"
        assert response.headers["content-type"] == "image/jpeg"
        clock.advance(timedelta(seconds=61))
        response = await store.http.get(url)
        assert response.status_code == 403
        assert "<Code>AccessDenied</Code>" in response.text
        assert "Request has expired" in response.text


async def test_a_url_stays_the_same_for_a_sixth_of_its_life_so_phones_can_cache_the_photo(store: Store) -> None:
    await store.storage.put("photos/p1.jpg", b"jpeg bytes", "image/jpeg")
    ttl = 6 * 3600
    first = store.storage.url("photos/p1.jpg", ttl_seconds=ttl)
    clock.advance(timedelta(minutes=59, seconds=59))
    assert store.storage.url("photos/p1.jpg", ttl_seconds=ttl) == first  # the same URL, from the cache
    clock.advance(timedelta(seconds=1))
    later = store.storage.url("photos/p1.jpg", ttl_seconds=ttl)
    assert later != first
    # a URL handed out just before the hour turns still works for five sixths of its life
    clock.advance(timedelta(hours=5, seconds=-1))
    if isinstance(store.storage, LocalStorage):
        query = parse_qs(urlsplit(first).query)
        assert store.storage.verify_url("photos/p1.jpg", int(query["exp"][0]), query["sig"][0])
    else:
        assert (await store.http.get(first)).status_code == 200
    clock.advance(timedelta(seconds=2))  # (just past: the exact second of expiry is S3's to judge)
    if isinstance(store.storage, LocalStorage):
        query = parse_qs(urlsplit(first).query)
        assert not store.storage.verify_url("photos/p1.jpg", int(query["exp"][0]), query["sig"][0])
    else:
        assert (await store.http.get(first)).status_code == 403


async def test_url_ttl_defaults_to_the_settings(store: Store) -> None:
    url = store.storage.url("photos/p1.jpg")
    if store.kind == "local":
        assert f"exp={int(T0.timestamp()) + 600}&" in url
    else:
        assert "X-Amz-Expires=600&" in url
    with pytest.raises(ValueError):
        store.storage.url("photos/p1.jpg", ttl_seconds=0)
    with pytest.raises(ValueError):
        store.storage.url("photos/p1.jpg", ttl_seconds=8 * 24 * 3600)


# -- local specifics ---------------------------------------------------------------------------


async def test_local_writes_files_atomically_under_media_dir(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = build_storage(settings)
    assert isinstance(store, LocalStorage)
    await store.put("photos/x/y.png", b"png", "image/png")
    path = tmp_path / "media" / "photos" / "x" / "y.png"
    assert path.read_bytes() == b"png"
    assert sorted(p.name for p in path.parent.iterdir()) == ["y.png"]  # no temporary left behind


async def test_local_disk_failure_is_a_storage_error(tmp_path: Path) -> None:
    store = LocalStorage(settings_for(tmp_path))
    await store.put("photos/a.jpg", b"a", "image/jpeg")
    with pytest.raises(StorageError):  # "photos/a.jpg" is a file, not a directory
        await store.put("photos/a.jpg/b.jpg", b"b", "image/jpeg")
    assert await store.get("photos/a.jpg/b.jpg") is None
    assert await store.get("photos") is None  # a directory is not an object
    assert await store.get("photos/a.jpg") == b"a"


# -- S3 specifics, and the fake's refusals -------------------------------------------------------


async def test_s3_keeps_content_type_and_signs_every_request(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake)
    await store.put("photos/a.webp", b"webp", "image/webp")
    stored = fake.object(BUCKET, "photos/a.webp")
    assert stored is not None
    assert stored.content_type == "image/webp"
    assert stored.etag == '"' + hashlib.md5(b"webp").hexdigest() + '"'
    assert fake.calls == [("PUT", f"/{BUCKET}/photos/a.webp", 200)]


async def test_s3_endpoint_with_port_and_path_prefix(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["host"] == "minio.test:9000"
        assert request.url.raw_path.startswith(b"/s3/")
        return fake.handle(request)

    # the prefix is sent and signed: the fake (which serves /{bucket}/… only) authenticates the request,
    # then finds no bucket "s3"
    store = s3_store(tmp_path, fake, handler, s3_endpoint="http://minio.test:9000/s3/")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        await store.put("a.jpg", b"a", "image/jpeg")
    assert store.url("a.jpg").startswith(f"http://minio.test:9000/s3/{BUCKET}/a.jpg?")

    plain = s3_store(tmp_path, fake, s3_endpoint="http://minio.test:9000")
    await plain.put("a.jpg", b"a", "image/jpeg")
    assert await plain.get("a.jpg") == b"a"


async def test_wrong_secret_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake, s3_secret_key="not-the-secret")
    with pytest.raises(StorageError, match="403 SignatureDoesNotMatch"):
        await store.put("photos/a.jpg", b"a", "image/jpeg")
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        await store.get("photos/a.jpg")
    assert fake.object(BUCKET, "photos/a.jpg") is None

    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as phone:
        response = await phone.get(store.url("photos/a.jpg"))
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


async def test_unknown_access_key_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake, s3_access_key="AKIDSOMEONEELSE")
    with pytest.raises(StorageError, match="403 InvalidAccessKeyId"):
        await store.put("photos/a.jpg", b"a", "image/jpeg")


async def test_wrong_region_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    store = s3_store(tmp_path, fake_s3(), s3_region="us-east-1")
    with pytest.raises(StorageError, match="AuthorizationHeaderMalformed"):
        await store.get("photos/a.jpg")


async def test_unknown_bucket_is_an_error_not_an_absent_photo(tmp_path: Path) -> None:
    clock.freeze(T0)
    store = s3_store(tmp_path, fake_s3(), s3_bucket="no-such-bucket")
    with pytest.raises(StorageError, match="404 NoSuchBucket"):
        await store.get("photos/a.jpg")
    with pytest.raises(StorageError, match="404 NoSuchBucket"):
        await store.delete("photos/a.jpg")
    with pytest.raises(StorageError, match="404 NoSuchBucket"):
        await store.put("photos/a.jpg", b"a", "image/jpeg")


def _tampering(fake: FakeS3, body: bytes, *, fix_hash: bool) -> Any:
    """A transport that replaces the body on the way (and, with fix_hash, its declared hash too)."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        headers["content-length"] = str(len(body))
        if fix_hash:
            headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        return fake.handle(httpx.Request(request.method, request.url, headers=headers, content=body))

    return handler


async def test_tampered_body_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake, _tampering(fake, b"evil", fix_hash=False))
    with pytest.raises(StorageError, match="400 XAmzContentSHA256Mismatch"):
        await store.put("photos/a.jpg", b"good", "image/jpeg")

    store = s3_store(tmp_path, fake, _tampering(fake, b"evil", fix_hash=True))
    with pytest.raises(StorageError, match="403 SignatureDoesNotMatch"):
        await store.put("photos/a.jpg", b"good", "image/jpeg")
    assert fake.object(BUCKET, "photos/a.jpg") is None


async def test_tampered_header_or_path_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()

    def retype(request: httpx.Request) -> httpx.Response:
        request.headers["content-type"] = "text/html"
        return fake.handle(request)

    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        await s3_store(tmp_path, fake, retype).put("photos/a.jpg", b"a", "image/jpeg")

    def redirect(request: httpx.Request) -> httpx.Response:
        moved = request.url.copy_with(raw_path=request.url.raw_path.replace(b"a.jpg", b"b.jpg"))
        return fake.handle(httpx.Request(request.method, moved, headers=request.headers, content=request.content))

    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        await s3_store(tmp_path, fake, redirect).put("photos/a.jpg", b"a", "image/jpeg")

    def extra_amz_header(request: httpx.Request) -> httpx.Response:
        request.headers["x-amz-acl"] = "public-read"
        return fake.handle(request)

    with pytest.raises(StorageError, match="403 AccessDenied"):
        await s3_store(tmp_path, fake, extra_amz_header).put("photos/a.jpg", b"a", "image/jpeg")
    assert fake.buckets[BUCKET] == {}


async def test_skewed_clock_is_refused(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()

    def late(request: httpx.Request) -> httpx.Response:
        clock.advance(timedelta(minutes=16))  # the request was signed 16 minutes before it arrived
        return fake.handle(request)

    with pytest.raises(StorageError, match="403 RequestTimeTooSkewed"):
        await s3_store(tmp_path, fake, late).put("photos/a.jpg", b"a", "image/jpeg")

    clock.freeze(T0)

    def a_little_late(request: httpx.Request) -> httpx.Response:
        clock.advance(timedelta(minutes=14))
        return fake.handle(request)

    await s3_store(tmp_path, fake, a_little_late).put("photos/a.jpg", b"a", "image/jpeg")


async def test_presigned_url_cannot_be_stretched_or_moved(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake)
    await store.put("photos/a.jpg", b"a", "image/jpeg")
    await store.put("photos/b.jpg", b"b", "image/jpeg")
    url = store.url("photos/a.jpg", ttl_seconds=60)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as phone:
        assert (await phone.get(url)).status_code == 200
        stretched = await phone.get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=86400"))
        assert stretched.status_code == 403 and "SignatureDoesNotMatch" in stretched.text
        moved = await phone.get(url.replace("photos/a.jpg", "photos/b.jpg"))
        assert moved.status_code == 403 and "SignatureDoesNotMatch" in moved.text
        deleted = await phone.delete(url)  # signed for GET
        assert deleted.status_code == 403
        unsigned = await phone.get(f"{ENDPOINT}/{BUCKET}/photos/a.jpg")
        assert unsigned.status_code == 403 and "AccessDenied" in unsigned.text
        head = await phone.head(url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"))
        assert head.status_code == 403 and head.content == b""
    assert await store.get("photos/a.jpg") == b"a"


async def test_fake_head(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake)
    await store.put("photos/a.jpg", b"abc", "image/jpeg")
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, REGION)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as http:
        for key, status in (("photos/a.jpg", 200), ("photos/none.jpg", 404)):
            path = f"/{BUCKET}/{key}"
            headers = sign_headers(
                "HEAD", "cos.test", path, credentials=credentials, when=clock.now(), payload_hash=EMPTY_SHA256
            )
            response = await http.head(ENDPOINT + path, headers=headers)
            assert response.status_code == status
            assert response.content == b""
            if status == 200:
                assert response.headers["content-length"] == "3"
                assert response.headers["content-type"] == "image/jpeg"


async def test_server_errors_and_network_failures_are_storage_errors(tmp_path: Path) -> None:
    clock.freeze(T0)
    fake = fake_s3()
    store = s3_store(tmp_path, fake)
    fake.fail_next(503, "SlowDown")
    with pytest.raises(StorageError, match="503 SlowDown"):
        await store.put("photos/a.jpg", b"a", "image/jpeg")
    fake.fail_next(500)
    with pytest.raises(StorageError, match="500 InternalError"):
        await store.get("photos/a.jpg")
    fake.fail_next(exc=httpx.ConnectError("connection refused"))
    with pytest.raises(StorageError, match="ConnectError"):
        await store.delete("photos/a.jpg")
    fake.fail_next(exc=httpx.ReadTimeout("timed out"))
    with pytest.raises(StorageError, match="ReadTimeout"):
        await store.get("photos/a.jpg")
    await store.put("photos/a.jpg", b"a", "image/jpeg")  # and then it works again
    assert await store.get("photos/a.jpg") == b"a"


def test_s3_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        S3Storage(settings_for(tmp_path, storage="s3", s3_bucket=""))
    with pytest.raises(ValueError):
        S3Storage(settings_for(tmp_path, storage="s3", s3_endpoint="cos.test"))


async def test_build_storage_owns_its_client_when_none_is_given(tmp_path: Path) -> None:
    store = build_storage(settings_for(tmp_path, storage="s3"))
    assert isinstance(store, S3Storage)
    await store.aclose()
    assert isinstance(build_storage(settings_for(tmp_path)), LocalStorage)
