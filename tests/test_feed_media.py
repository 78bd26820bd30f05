"""Photos through the HTTP API: the upload judged by its bytes, the worker's renditions read back
(no EXIF, no GPS, turned upright, the documented sizes) from the served URL and from the store
itself, on local disk and on S3 (moto's S3 server, tests/s3_server.py); refusals that store nothing; the signed
file URLs; and WeChat's image check answered by its message push (safe mode), in real and fake mode."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import threading
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import func, select, update

from api import clock
from api.db.models import Media, OutboxJob
from api.main import create_app, shutdown
from api.media import images
from api.media.storage import S3Storage
from api.services.feed.callback import DEV_PUSH_AES_KEY, DEV_PUSH_TOKEN
from api.wechat.client import fake_wechat
from tests.conftest import _empty_tables, make_settings, real_wechat_app
from tests.contract import api_client
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.s3_server import MotoS3
from workers import jobs  # noqa: F401 - registers the handlers
from workers.jobs.feed import process_media
from workers.registry import Registry, registry
from workers.runner import JobContext, Worker

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
TTL = 6 * 3600  # media_url_ttl_seconds' default
FILES = "/api/v1/media/files/"
RED, BLUE = (230, 20, 20), (20, 60, 200)

PUSH_TOKEN = "linli-push-token"
PUSH_AES_KEY = "kWxPmHq3Lr8tZ2vYc5NbJd7Fg9Ks4Ae6Tu1Wo0Xi2Mp"  # 43 characters, 32 bytes
PUBLIC_URL = "https://linli.test"


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.freeze(NOW)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(database_url: str, media_dir: Path) -> Any:
    # photos of this test only: "nothing stored" is then a directory with no file in it
    return make_settings(database_url, media_dir=str(media_dir))


# -- pictures ---------------------------------------------------------------------------------------

LATITUDE = (IFDRational(31, 1), IFDRational(14, 1), IFDRational(3583, 100))
LONGITUDE = (IFDRational(121, 1), IFDRational(28, 1), IFDRational(1217, 100))


def gps_bytes() -> list[bytes]:
    """The coordinates as a TIFF block holds them, in either byte order."""
    return [
        b"".join(struct.pack(f"{order}II", v.numerator, v.denominator) for v in values)
        for order in "<>"
        for values in (LATITUDE, LONGITUDE)
    ]


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def phone_photo(size: tuple[int, int] = (2400, 1200)) -> bytes:
    """As a phone's sensor stores it: landscape with Orientation 6 (turn 90° clockwise to view),
    GPS, a camera make and a comment; a red square in the stored top-left corner."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[1] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "LINLI-CAMERA-MAKE"  # Make
    exif[0x8825] = {0x0001: "N", 0x0002: LATITUDE, 0x0003: "E", 0x0004: LONGITUDE, 0x0012: "LINLI-GPS-DATUM"}
    return encode(im, "JPEG", quality=90, exif=exif, comment=b"LINLI-COMMENT")


def small_jpeg(size: tuple[int, int] = (120, 90)) -> bytes:
    return encode(Image.new("RGB", size, BLUE), "JPEG", quality=85)


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    """Incompressible enough to make a file of a wanted size."""
    return encode(Image.effect_noise(size, 80).convert("RGB"), "JPEG", quality=95)


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid all-black 1-bit PNG: a few kilobytes that decode to width × height pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x08meta" + bytes(64)


def read_clean(data: bytes, size: tuple[int, int]) -> Image.Image:
    """A stored or served rendition: a JPEG of `size` carrying nothing but pixels."""
    for secret in (b"Exif", b"LINLI-", b"xmpmeta", *gps_bytes()):
        assert secret not in data, secret
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "JPEG" and im.mode == "RGB"
    assert len(im.getexif()) == 0
    assert len(im.getexif().get_ifd(0x8825)) == 0
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(im.info)
    assert im.size == size
    return im


def close_to(actual: Any, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


# -- helpers ----------------------------------------------------------------------------------------


def worker(app: Any) -> Worker:
    return Worker(app.state.db, app.state.settings, app.state.wechat)


async def upload(
    client: httpx.AsyncClient,
    person: Person,
    community_id: int,
    data: bytes,
    name: str = "IMG_0001.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/v1/media",
        files={"file": (name, data, content_type)},
        data={"community_id": str(community_id)},
        headers=person.headers,
    )


async def media_of(client: httpx.AsyncClient, person: Person, media_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/media/{media_id}", headers=person.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def stored_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def media_rows(app: Any) -> int:
    async with app.state.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Media))).scalar_one())


def served_key(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith(FILES), url
    return path.removeprefix(FILES)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


class Place:
    """A community with staff, two residents, and a resident of another community."""

    async def build(self, client: httpx.AsyncClient, db: Any) -> Place:
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await login(client, "chen")
        await join(client, self.chen, self.b, room="101")
        self.zhou = await login(client, "zhou")
        await join(client, self.zhou, self.b, room="102")
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.wang = await login(client, "wang")
        await join(client, self.wang, self.c, room="201")
        return self


# -- the upload and the renditions (local disk) -----------------------------------------------------


async def test_every_rendition_is_upright_and_free_of_exif_and_the_upload_is_dropped(client, app, db, media_dir):
    place = await Place().build(client, db)
    original = phone_photo()
    source = Image.open(io.BytesIO(original))
    assert source.getexif()[0x0112] == 6 and source.getexif().get_ifd(0x8825)[0x0001] == "N"
    assert all(value in original for value in gps_bytes()[:2]) or all(value in original for value in gps_bytes()[2:])

    response = await upload(client, place.chen, place.b, original)
    assert response.status_code == 202, response.text
    body = response.json()
    # the size as it will be displayed: turned a quarter, so width and height are swapped
    assert (body["width"], body["height"]) == (1200, 2400)
    assert body["status"] == "processing" and body["urls"] is None and body["error"] is None
    (incoming,) = stored_files(media_dir)
    assert incoming.startswith("incoming/")
    assert (media_dir / incoming).read_bytes() == original  # kept as it came, for the worker only

    await worker(app).run_until_idle()

    view = await media_of(client, place.chen, body["id"])
    assert view["status"] in ("checking", "approved"), view["error"]  # fake mode's verdict may come in the same run
    assert view["error"] is None
    assert set(view["urls"]) == {"large", "feed", "thumb"}
    # api/media/images.py: large ≤ 2048 on the longest side, feed ≤ 1080, thumb a 320 square
    sizes = {"large": (1024, 2048), "feed": (540, 1080), "thumb": (320, 320)}
    storage = db.storage
    keys = []
    for name, url in view["urls"].items():
        key = served_key(url)
        assert key.endswith(f"/{name}.jpg") and key.startswith(f"media/{place.b}/")
        keys.append(key)
        served = await client.get(url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        image = read_clean(served.content, sizes[name])
        assert served.content == await storage.get(key) == (media_dir / key).read_bytes()
        if name != "thumb":
            # the stored top-left corner is now top right: turned 90° clockwise, as Orientation 6 says
            w, h = sizes[name]
            assert close_to(image.getpixel((w - 10, 10)), RED)
            assert close_to(image.getpixel((10, 10)), BLUE)
            assert close_to(image.getpixel((w - 10, h - 10)), BLUE)

    # the worker's second job deleted the upload: only the three renditions are left on disk
    assert stored_files(media_dir) == sorted(keys)
    assert await storage.get(incoming) is None
    for path in media_dir.rglob("*"):
        if path.is_file():
            assert b"LINLI-" not in path.read_bytes()


async def test_a_photo_already_processed_is_not_processed_again(client, app, db, media_dir):
    place = await Place().build(client, db)
    media_id = (await upload(client, place.staff, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    first = {p: (media_dir / p).read_bytes() for p in stored_files(media_dir)}
    assert len(first) == 3
    # the job delivered twice (at-least-once): nothing changes, nothing fails
    async with app.state.db.session() as session:
        ctx = JobContext(
            session=session,
            settings=app.state.settings,
            wechat=app.state.wechat,
            job_id=0,
            kind="feed.process_media",
            attempt=2,
            db=app.state.db,
        )
        await process_media(ctx, {"media_id": media_id})
        await session.commit()
    assert {p: (media_dir / p).read_bytes() for p in stored_files(media_dir)} == first
    assert (await media_of(client, place.staff, media_id))["status"] == "approved"


# -- judged by content ------------------------------------------------------------------------------


async def test_a_png_named_jpg_is_accepted_and_becomes_jpeg_renditions(client, app, db, media_dir):
    place = await Place().build(client, db)
    png = encode(Image.new("RGBA", (300, 200), (*RED, 255)), "PNG")
    response = await upload(client, place.chen, place.b, png, "photo.jpg", "image/jpeg")
    assert response.status_code == 202, response.text
    assert (response.json()["width"], response.json()["height"]) == (300, 200)
    await worker(app).run_until_idle()
    view = await media_of(client, place.chen, response.json()["id"])
    assert view["status"] in ("checking", "approved")
    large = await client.get(view["urls"]["large"])
    assert large.status_code == 200
    assert close_to(read_clean(large.content, (300, 200)).getpixel((150, 100)), RED)


async def test_a_jpeg_named_png_is_a_jpeg(client, app, db):
    place = await Place().build(client, db)
    response = await upload(client, place.chen, place.b, small_jpeg(), "picture.png", "image/png")
    assert response.status_code == 202, response.text
    assert (response.json()["width"], response.json()["height"]) == (120, 90)


async def test_a_text_file_named_jpg_is_refused_and_nothing_is_stored(client, app, db, media_dir):
    place = await Place().build(client, db)
    response = await upload(client, place.chen, place.b, b"hello, this is not a photo\n" * 20, "photo.jpg")
    assert response.status_code == 415
    assert error_code(response) == "media_type_unsupported"
    assert response.json()["error"]["details"]["accepted"] == ["jpeg", "png", "webp"]
    assert stored_files(media_dir) == []
    assert await media_rows(app) == 0


async def test_heic_is_refused_with_its_own_code(client, app, db, media_dir):
    place = await Place().build(client, db)
    response = await upload(client, place.chen, place.b, HEIC, "IMG_0002.HEIC", "image/heic")
    assert response.status_code == 415
    assert error_code(response) == "heic_unsupported"
    assert "JPEG" in response.json()["error"]["message"]  # tells the resident what to do instead
    # a HEIC renamed .jpg is still a HEIC
    response = await upload(client, place.chen, place.b, HEIC, "IMG_0002.jpg", "image/jpeg")
    assert response.status_code == 415 and error_code(response) == "heic_unsupported"
    assert stored_files(media_dir) == []
    assert await media_rows(app) == 0


async def test_the_upload_must_be_multipart_with_a_file_and_a_community(client, app, db):
    place = await Place().build(client, db)
    response = await client.post(
        "/api/v1/media", content=small_jpeg(), headers={**place.chen.headers, "Content-Type": "image/jpeg"}
    )
    assert response.status_code == 415 and error_code(response) == "multipart_required"
    response = await client.post(
        "/api/v1/media", data={"community_id": str(place.b)}, files={}, headers=place.chen.headers
    )
    # no file at all: httpx sends a urlencoded form, which is not multipart
    assert response.status_code == 415 and error_code(response) == "multipart_required"
    response = await client.post(
        "/api/v1/media",
        files={"other": ("a.jpg", small_jpeg(), "image/jpeg")},
        data={"community_id": str(place.b)},
        headers=place.chen.headers,
    )
    assert response.status_code == 422 and error_code(response) == "file_missing"
    response = await client.post(
        "/api/v1/media",
        files={"file": ("a.jpg", small_jpeg(), "image/jpeg")},
        data={"community_id": "B"},
        headers=place.chen.headers,
    )
    assert response.status_code == 422 and error_code(response) == "community_id_invalid"
    # a community one does not belong to
    response = await upload(client, place.wang, place.b, small_jpeg())
    assert response.status_code == 403 and error_code(response) == "not_a_member"
    response = await client.post(
        "/api/v1/media", files={"file": ("a.jpg", small_jpeg(), "image/jpeg")}, data={"community_id": str(place.b)}
    )
    assert response.status_code == 401
    assert await media_rows(app) == 0


# -- refusals that store nothing --------------------------------------------------------------------


async def test_an_oversized_photo_is_refused_and_nothing_is_stored(database_url, media_dir):
    limit = 4096
    settings = make_settings(database_url, media_dir=str(media_dir), media_max_bytes=limit)
    app = create_app(settings)
    try:
        async with api_client(app) as client:
            place = await Place().build(client, app.state.db)
            # over the limit but within the multipart allowance: refused from the bytes
            just_over = noisy_jpeg((64, 64))
            assert limit < len(just_over) < limit + 64 * 1024
            response = await upload(client, place.chen, place.b, just_over)
            assert response.status_code == 413
            assert error_code(response) == "image_too_large"
            assert response.json()["error"]["details"]["max_bytes"] == limit
            # far over: refused before the body is even parsed
            huge = noisy_jpeg((400, 400))
            assert len(huge) > limit + 64 * 1024
            response = await upload(client, place.chen, place.b, huge)
            assert response.status_code == 413
            assert error_code(response) == "image_too_large"
            assert stored_files(media_dir) == []
            assert await media_rows(app) == 0
            # the same server takes a photo under the limit
            small = small_jpeg((32, 32))
            assert len(small) <= limit
            assert (await upload(client, place.chen, place.b, small)).status_code == 202
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)


async def test_a_decompression_bomb_is_refused_from_its_header_and_nothing_is_stored(client, app, db, media_dir):
    place = await Place().build(client, db)
    bomb = png_bomb(8000, 8000)  # 64 megapixels (the default limit is 40) in a few kilobytes
    assert len(bomb) < 64 * 1024
    response = await upload(client, place.chen, place.b, bomb, "photo.jpg")
    assert response.status_code == 422
    assert error_code(response) == "image_too_many_pixels"
    details = response.json()["error"]["details"]
    assert details == {"max_pixels": 40_000_000, "width": 8000, "height": 8000}
    assert stored_files(media_dir) == []
    assert await media_rows(app) == 0


async def test_a_webp_may_have_a_quarter_of_the_pixels_the_worker_can_hold(client, app, db, media_dir):
    """libwebp decodes only at full size, holding the canvas twice: a 12-megapixel WebP costs what a
    48-megapixel PNG does, so WebP gets a quarter of LINLI_MEDIA_MAX_PIXELS (the phone sends JPEG)."""
    place = await Place().build(client, db)
    big = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 180, 160)).save(big, "WEBP", quality=10)
    refused = await upload(client, place.chen, place.b, big.getvalue(), "photo.webp")
    assert refused.status_code == 422 and error_code(refused) == "image_too_many_pixels"
    assert refused.json()["error"]["details"] == {"max_pixels": 10_000_000, "width": 4000, "height": 3000}
    assert "1000 万像素" in refused.json()["error"]["message"]
    assert stored_files(media_dir) == [] and await media_rows(app) == 0
    fits = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 180, 160)).save(fits, "WEBP", quality=10)
    assert (await upload(client, place.chen, place.b, fits.getvalue(), "photo.webp")).status_code == 202
    same_as_jpeg = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 180, 160)).save(same_as_jpeg, "JPEG", quality=10)
    assert (await upload(client, place.chen, place.b, same_as_jpeg.getvalue())).status_code == 202


async def test_the_pixel_limit_is_configurable(database_url, media_dir):
    settings = make_settings(database_url, media_dir=str(media_dir), media_max_pixels=10_000)
    app = create_app(settings)
    try:
        async with api_client(app) as client:
            place = await Place().build(client, app.state.db)
            response = await upload(client, place.chen, place.b, small_jpeg((101, 100)))
            assert response.status_code == 422 and error_code(response) == "image_too_many_pixels"
            assert stored_files(media_dir) == [] and await media_rows(app) == 0
            assert (await upload(client, place.chen, place.b, small_jpeg((100, 100)))).status_code == 202
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)


async def test_a_corrupt_jpeg_is_refused_and_a_truncated_one_fails_in_the_worker(client, app, db, media_dir):
    place = await Place().build(client, db)
    # JPEG magic bytes, then garbage: refused in the request
    response = await upload(client, place.chen, place.b, b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    assert response.status_code == 422
    assert error_code(response) == "image_invalid"
    assert stored_files(media_dir) == [] and await media_rows(app) == 0

    # a whole header and half the pixels: only decoding finds out, so the worker marks it failed
    whole = noisy_jpeg((800, 600))
    response = await upload(client, place.chen, place.b, whole[: len(whole) // 2])
    assert response.status_code == 202, response.text
    await worker(app).run_until_idle()
    view = await media_of(client, place.chen, response.json()["id"])
    assert view["status"] == "failed"
    assert view["error"] == "image_invalid"
    assert view["urls"] is None
    assert stored_files(media_dir) == []  # no rendition, and the upload is dropped too


# -- served files and who sees a photo --------------------------------------------------------------


async def test_served_files_are_cached_until_their_signature_expires(client, app, db):
    place = await Place().build(client, db)
    media_id = (await upload(client, place.staff, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    url = (await media_of(client, place.staff, media_id))["urls"]["thumb"]
    query = parse_qs(urlsplit(url).query)
    exp, sig = int(query["exp"][0]), query["sig"][0]
    assert exp == int(NOW.timestamp()) + TTL

    served = await client.get(url)  # no login: a phone's <image> fetches it
    assert served.status_code == 200
    assert served.headers["cache-control"] == f"private, max-age={TTL}, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    read_clean(served.content, (320, 320))

    clock.advance(timedelta(hours=1))
    served = await client.get(url)
    assert served.status_code == 200
    assert served.headers["cache-control"] == f"private, max-age={TTL - 3600}, immutable"

    path = urlsplit(url).path
    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    for params in (
        {"exp": exp, "sig": tampered},
        {"exp": exp + 3600, "sig": sig},  # a longer life
        {"exp": exp, "sig": ""},
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 404, params
        assert error_code(response) == "file_not_found"
    other = path.replace("/thumb.jpg", "/large.jpg")  # another rendition with this one's signature
    response = await client.get(other, params={"exp": exp, "sig": sig})
    assert response.status_code == 404 and error_code(response) == "file_not_found"
    response = await client.get(path)
    assert response.status_code == 422 and error_code(response) == "validation_error"
    # a signed key with nothing under it
    response = await client.get(db.storage.url(f"media/{place.b}/202612/none/thumb.jpg"))
    assert response.status_code == 404 and error_code(response) == "file_not_found"

    clock.advance(timedelta(seconds=TTL - 3600))  # the moment it expires
    response = await client.get(url)
    assert response.status_code == 404 and error_code(response) == "file_not_found"
    # the API hands out a fresh link
    fresh = (await media_of(client, place.staff, media_id))["urls"]["thumb"]
    assert (await client.get(fresh)).status_code == 200


async def test_only_the_uploader_and_staff_see_a_photo_before_it_is_posted(client, app, db):
    place = await Place().build(client, db)
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()

    mine = await media_of(client, place.chen, media_id)
    staff = await media_of(client, place.staff, media_id)
    assert mine == staff
    assert mine["status"] in ("checking", "approved") and mine["urls"] is not None
    for outsider in (place.zhou, place.wang):  # a neighbour; a resident of another community
        response = await client.get(f"/api/v1/media/{media_id}", headers=outsider.headers)
        assert response.status_code == 404
        assert error_code(response) == "media_not_found"
    response = await client.get(f"/api/v1/media/{media_id + 1000}", headers=place.staff.headers)
    assert response.status_code == 404 and error_code(response) == "media_not_found"
    assert (await client.get(f"/api/v1/media/{media_id}")).status_code == 401


# -- S3-compatible storage --------------------------------------------------------------------------


@dataclass
class S3Run:
    client: httpx.AsyncClient
    app: Any
    moto: MotoS3
    bucket: str
    calls: list[str]  # the methods of the requests the app sent to S3


@pytest.fixture
async def s3(database_url: str, tmp_path: Path, moto_s3: MotoS3) -> AsyncIterator[S3Run]:
    bucket = moto_s3.new_bucket()
    settings = make_settings(
        database_url,
        media_dir=str(tmp_path / "unused"),
        storage="s3",
        s3_endpoint=moto_s3.endpoint,
        s3_bucket=bucket,
        s3_region=moto_s3.region,
        s3_access_key=moto_s3.access_key,
        s3_secret_key=moto_s3.secret_key,
    )
    calls: list[str] = []

    async def record(request: httpx.Request) -> None:
        calls.append(request.method)

    s3_http = httpx.AsyncClient(event_hooks={"request": [record]})
    app = create_app(settings, storage=S3Storage(settings, s3_http))
    try:
        async with api_client(app) as client:
            yield S3Run(client, app, moto_s3, bucket, calls)
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)
        await s3_http.aclose()
    assert not (tmp_path / "unused").exists()  # nothing went to local disk


async def test_s3_renditions_are_free_of_exif_and_served_by_presigned_urls(s3: S3Run):
    client, app = s3.client, s3.app
    place = await Place().build(client, app.state.db)
    response = await upload(client, place.chen, place.b, phone_photo((400, 200)))
    assert response.status_code == 202, response.text
    # the upload as it came waits under incoming/: the prefix of the README's lifecycle rule
    (incoming,) = s3.moto.keys(s3.bucket)
    assert incoming.startswith("incoming/")

    await worker(app).run_until_idle()

    view = await media_of(client, place.chen, response.json()["id"])
    sizes = {"large": (200, 400), "feed": (200, 400), "thumb": (320, 320)}
    assert set(view["urls"]) == set(sizes)
    for name, url in view["urls"].items():
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == s3.moto.endpoint
        assert parts.path.startswith(f"/{s3.bucket}/media/{place.b}/") and parts.path.endswith(f"/{name}.jpg")
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == [str(TTL)] and "X-Amz-Signature" in query
        key = parts.path.removeprefix(f"/{s3.bucket}/")
        stored = s3.moto.client.get_object(Bucket=s3.bucket, Key=key)  # read back by boto3, not by us
        data = stored["Body"].read()
        assert stored["ContentType"] == "image/jpeg"
        read_clean(data, sizes[name])
        served = s3.moto.presigned_get(url)  # a phone: no credentials, only the URL, over HTTP
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == "image/jpeg"
    # the upload as it came is gone from the bucket: three renditions are all there is, none of them
    # under the lifecycle rule's prefix
    keys = s3.moto.keys(s3.bucket)
    assert keys == sorted(urlsplit(u).path.removeprefix(f"/{s3.bucket}/") for u in view["urls"].values())
    assert not [key for key in keys if key.startswith("incoming/")]
    # the API does not serve S3 keys itself
    response = await client.get(FILES + keys[0], params={"exp": int(NOW.timestamp()) + 60, "sig": "x"})
    assert response.status_code == 404 and error_code(response) == "file_not_found"


async def test_s3_refusals_store_nothing(s3: S3Run):
    client, app = s3.client, s3.app
    place = await Place().build(client, app.state.db)
    for data, status, code in (
        (b"not a photo at all", 415, "media_type_unsupported"),
        (png_bomb(8000, 8000), 422, "image_too_many_pixels"),
    ):
        response = await upload(client, place.chen, place.b, data)
        assert response.status_code == status and error_code(response) == code
    assert s3.moto.keys(s3.bucket) == []
    assert "PUT" not in s3.calls
    assert await media_rows(app) == 0


# -- WeChat's image check, answered by message push (real mode) -------------------------------------


@pytest.fixture
async def wx(database_url: str, media_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Any]]:
    async with real_wechat_app(
        database_url,
        media_dir=str(media_dir),
        public_url=PUBLIC_URL,
        wechat_push_token=PUSH_TOKEN,
        wechat_push_aes_key=PUSH_AES_KEY,
    ) as running:
        yield running


async def push(client: httpx.AsyncClient, fake: Any, event: dict[str, Any], **changes: Any) -> httpx.Response:
    body, params = fake.push_body(event, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY, appid=changes.pop("appid", None))
    params.update(changes)
    return await client.post(
        "/api/v1/wechat/callback", params=params, content=body, headers={"Content-Type": "application/json"}
    )


def verdict(event: dict[str, Any], suggest: str, label: int) -> dict[str, Any]:
    """The same push with another verdict (as a forged or confused repeat would carry)."""
    changed = json.loads(json.dumps(event))
    changed["result"] = {"suggest": suggest, "label": label}
    changed["detail"][0].update(suggest=suggest, label=label)
    return changed


async def test_a_residents_photo_is_checked_and_the_push_decides(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    good = (await upload(client, place.chen, place.b, phone_photo((400, 200)))).json()["id"]
    bad = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()

    # WeChat was asked about each photo (in whatever order the worker ran them), with a link it can
    # download: the feed rendition, without EXIF
    assert len(fake.media_checks) == 2
    feed_paths = {m: urlsplit((await media_of(client, place.chen, m))["urls"]["feed"]).path for m in (good, bad)}
    trace_of = {}
    for check in fake.media_checks:
        assert check["media_type"] == 2 and check["scene"] == 4 and check["openid"] == "dev-chen"
        assert check["media_url"].startswith(PUBLIC_URL + FILES)
        (media_id,) = [m for m, path in feed_paths.items() if urlsplit(check["media_url"]).path == path]
        trace_of[media_id] = check["trace_id"]
        downloaded = await client.get(check["media_url"].removeprefix(PUBLIC_URL))
        assert downloaded.status_code == 200
        read_clean(downloaded.content, (200, 400) if media_id == good else (120, 90))
    assert (await media_of(client, place.chen, good))["status"] == "checking"
    assert (await media_of(client, place.staff, bad))["status"] == "checking"

    events = {e["trace_id"]: e for e in fake.pushes_due()}
    assert set(events) == set(trace_of.values())
    passed = verdict(events[trace_of[good]], "pass", 100)
    risky = verdict(events[trace_of[bad]], "risky", 20001)
    for event in (passed, risky):
        response = await push(client, fake, event)
        assert response.status_code == 200 and response.text == "success"

    approved = await media_of(client, place.chen, good)
    assert approved["status"] == "approved" and approved["urls"] is not None
    rejected = await media_of(client, place.chen, bad)
    assert rejected["status"] == "rejected"
    assert rejected["urls"] is None  # a refused photo is not handed out, even to its uploader
    # and its files are deleted, so the links WeChat and staff were given stop working
    await worker(app).run_until_idle()
    bad_link = next(c["media_url"] for c in fake.media_checks if c["trace_id"] == trace_of[bad])
    good_link = next(c["media_url"] for c in fake.media_checks if c["trace_id"] == trace_of[good])
    assert (await client.get(bad_link.removeprefix(PUBLIC_URL))).status_code == 404
    assert (await client.get(good_link.removeprefix(PUBLIC_URL))).status_code == 200

    # WeChat repeats a push it is unsure we heard; a repeat with another verdict changes nothing either
    for event in (passed, verdict(passed, "risky", 20001), risky, verdict(risky, "pass", 100)):
        response = await push(client, fake, event)
        assert response.status_code == 200 and response.text == "success"
    assert (await media_of(client, place.chen, good))["status"] == "approved"
    assert (await media_of(client, place.chen, bad))["status"] == "rejected"


async def test_a_verdict_that_outruns_its_trace_id_is_applied_once_the_trace_id_is_recorded(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    photo = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    [event] = fake.pushes_due()
    # as if the push came before the worker's commit of the trace id
    async with app.state.db.session() as session:
        await session.execute(update(Media).where(Media.id == photo).values(trace_id=None))
        await session.commit()
    response = await push(client, fake, verdict(event, "risky", 20001))
    assert (response.status_code, response.text) == (200, "success")
    assert (await media_of(client, place.chen, photo))["status"] == "checking"
    async with app.state.db.session() as session:
        await session.execute(update(Media).where(Media.id == photo).values(trace_id=event["trace_id"]))
        await session.commit()
    clock.advance(timedelta(seconds=11))
    await worker(app).run_until_idle()
    assert (await media_of(client, place.chen, photo))["status"] == "rejected"
    # WeChat's repeat of the push, once recorded, changes nothing
    await push(client, fake, verdict(event, "pass", 100))
    clock.advance(timedelta(seconds=11))
    await worker(app).run_until_idle()
    assert (await media_of(client, place.chen, photo))["status"] == "rejected"


async def test_a_verdict_for_a_trace_id_never_recorded_is_given_up_after_five_minutes(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    await upload(client, place.chen, place.b, small_jpeg())
    await worker(app).run_until_idle()
    [event] = fake.pushes_due()
    stranger = {**event, "trace_id": "trace-nobody-asked-for"}
    assert (await push(client, fake, stranger)).text == "success"
    for _ in range(40):
        clock.advance(timedelta(seconds=11))
        await worker(app).run_until_idle()
    async with app.state.db.session() as session:
        tries = (
            await session.execute(
                select(func.count()).select_from(OutboxJob).where(OutboxJob.kind == "feed.late_verdict")
            )
        ).scalar_one()
    assert tries == 30  # once every 10 s for five minutes, then no more


def wechat_encrypt(message: bytes, appid: str, timestamp: str, nonce: str) -> tuple[str, str]:
    """(Encrypt, msg_signature) made here from WECHAT.md's description, with nothing of api.wechat.push:
    AES-256-CBC, key = base64(EncodingAESKey + "="), IV = its first 16 bytes, PKCS#7 to 32 bytes, over
    16 random bytes + 4-byte big-endian length + message + appid; sha1 of the sorted four strings."""
    key = base64.b64decode(PUSH_AES_KEY + "=")
    content = os.urandom(16) + struct.pack(">I", len(message)) + message + appid.encode()
    pad = 32 - len(content) % 32
    content += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(content) + encryptor.finalize()).decode()
    signature = hashlib.sha1("".join(sorted([PUSH_TOKEN, timestamp, nonce, encrypted])).encode()).hexdigest()
    return encrypted, signature


@pytest.mark.parametrize("envelope", ["json", "xml"])
async def test_a_push_made_with_wechats_documented_algorithm_is_applied(wx, envelope):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    (check,) = fake.media_checks
    timestamp, nonce = str(int(NOW.timestamp())), "8219736450"
    if envelope == "json":
        message = json.dumps(
            {
                "ToUserName": "gh_9df7d78a1234",
                "FromUserName": "dev-chen",
                "CreateTime": int(NOW.timestamp()),
                "MsgType": "event",
                "Event": "wxa_media_check",
                "appid": app.state.settings.wechat_appid,
                "trace_id": check["trace_id"],
                "version": 2,
                "detail": [{"strategy": "content_model", "errcode": 0, "suggest": "risky", "label": 20002, "prob": 90}],
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": "risky", "label": 20002},
            }
        ).encode()
    else:
        message = (
            "<xml><ToUserName><![CDATA[gh_9df7d78a1234]]></ToUserName><FromUserName><![CDATA[dev-chen]]></FromUserName>"
            f"<CreateTime>{int(NOW.timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[wxa_media_check]]></Event>"
            f"<appid><![CDATA[{app.state.settings.wechat_appid}]]></appid>"
            f"<trace_id><![CDATA[{check['trace_id']}]]></trace_id><version>2</version>"
            "<detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode>"
            "<suggest><![CDATA[risky]]></suggest><label>20002</label><prob>90</prob></detail>"
            "<errcode>0</errcode><errmsg><![CDATA[ok]]></errmsg>"
            "<result><suggest><![CDATA[risky]]></suggest><label>20002</label></result></xml>"
        ).encode()
    encrypted, msg_signature = wechat_encrypt(message, app.state.settings.wechat_appid, timestamp, nonce)
    if envelope == "json":
        body = json.dumps({"ToUserName": "gh_9df7d78a1234", "Encrypt": encrypted}).encode()
        content_type = "application/json"
    else:
        body = (
            f"<xml><ToUserName><![CDATA[gh_9df7d78a1234]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        body = body.encode()  # type: ignore[assignment]
        content_type = "text/xml"
    params = {"timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes", "msg_signature": msg_signature}
    response = await client.post(
        "/api/v1/wechat/callback", params=params, content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200 and response.text == "success"
    assert (await media_of(client, place.chen, media_id))["status"] == "rejected"


async def test_a_push_that_cannot_be_verified_changes_nothing(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    (event,) = fake.pushes_due()
    event = verdict(event, "risky", 20001)

    body, params = fake.push_body(event, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY)
    wrong = ("0" if params["msg_signature"][0] != "0" else "1") + params["msg_signature"][1:]
    response = await client.post(
        "/api/v1/wechat/callback", params={**params, "msg_signature": wrong}, content=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 403 and error_code(response) == "push_signature_invalid"
    # signed with another token
    other_body, other = fake.push_body(event, token="another-token", aes_key=PUSH_AES_KEY)
    response = await client.post("/api/v1/wechat/callback", params=other, content=other_body)
    assert response.status_code == 403 and error_code(response) == "push_signature_invalid"
    # the signature covers the timestamp and nonce
    response = await client.post(
        "/api/v1/wechat/callback", params={**params, "nonce": params["nonce"] + "1"}, content=body
    )
    assert response.status_code == 403 and error_code(response) == "push_signature_invalid"
    # another mini-program's push, properly signed with our token
    response = await push(client, fake, event, appid="wx-another-app")
    assert response.status_code == 403 and error_code(response) == "push_appid_mismatch"
    # not an envelope at all
    response = await client.post("/api/v1/wechat/callback", params=params, content=b'{"ToUserName": "gh_x"}')
    assert response.status_code == 400 and error_code(response) == "push_malformed"
    assert (await media_of(client, place.chen, media_id))["status"] == "checking"

    # the genuine push still applies afterwards
    response = await push(client, fake, event)
    assert response.status_code == 200 and response.text == "success"
    assert (await media_of(client, place.chen, media_id))["status"] == "rejected"


async def test_a_push_about_a_check_nobody_asked_for_is_acknowledged_and_ignored(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    (event,) = fake.pushes_due()
    stranger = {**event, "trace_id": "60f96f1d-3845297a-00000000"}
    response = await push(client, fake, stranger)
    assert response.status_code == 200 and response.text == "success"
    assert (await media_of(client, place.chen, media_id))["status"] == "checking"


async def test_the_callback_address_check_echoes_only_to_a_correct_signature(wx):
    client, _fake, _app = wx
    timestamp, nonce, echostr = "1767225600", "1357924680", "echo-5555"
    signature = hashlib.sha1("".join(sorted([PUSH_TOKEN, timestamp, nonce])).encode()).hexdigest()
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
    response = await client.get("/api/v1/wechat/callback", params=query)
    assert response.status_code == 200
    assert response.text == echostr
    for changed in ({"signature": "0" * 40}, {"nonce": "1357924681"}, {"timestamp": "1767225601"}):
        response = await client.get("/api/v1/wechat/callback", params={**query, **changed})
        assert response.status_code == 403, changed
        assert error_code(response) == "push_signature_invalid"
    response = await client.get("/api/v1/wechat/callback", params={k: v for k, v in query.items() if k != "echostr"})
    assert response.status_code == 422


async def test_real_mode_without_push_credentials_refuses_pushes(database_url, media_dir):
    async with real_wechat_app(database_url, media_dir=str(media_dir)) as (client, fake, _app):
        body, params = fake.push_body(
            {"Event": "wxa_media_check", "trace_id": "t"}, token=PUSH_TOKEN, aes_key=PUSH_AES_KEY
        )
        response = await client.post("/api/v1/wechat/callback", params=params, content=body)
        assert response.status_code == 503 and error_code(response) == "push_not_configured"
        # the development credentials are never accepted in real mode
        signature = hashlib.sha1("".join(sorted([DEV_PUSH_TOKEN, "1", "2"])).encode()).hexdigest()
        response = await client.get(
            "/api/v1/wechat/callback", params={"signature": signature, "timestamp": "1", "nonce": "2", "echostr": "e"}
        )
        assert response.status_code == 403 and error_code(response) == "push_signature_invalid"


async def test_staff_photos_skip_the_image_check(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    response = await upload(client, place.staff, place.b, small_jpeg())
    assert response.status_code == 202
    await worker(app).run_until_idle()
    view = await media_of(client, place.staff, response.json()["id"])
    assert view["status"] == "approved" and view["urls"] is not None
    assert fake.media_checks == []
    assert fake.count("/wxa/media_check_async") == 0


async def test_a_refusal_from_wechat_sends_the_photo_to_staff(wx):
    client, fake, app = wx
    place = await Place().build(client, app.state.db)
    fake.fail_next("/wxa/media_check_async", 40003, "invalid openid")
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await worker(app).run_until_idle()
    view = await media_of(client, place.chen, media_id)
    assert view["status"] == "review"
    assert view["error"] == "wechat_40003"
    assert view["urls"] is not None  # staff look at it


# -- fake mode: the offline demo's verdicts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict_setting", "status"), [("pass", "approved"), ("risky", "rejected"), ("review", "review")]
)
async def test_fake_mode_delivers_its_configured_verdict_by_push(database_url, media_dir, verdict_setting, status):
    settings = make_settings(database_url, media_dir=str(media_dir), wechat_fake_image_verdict=verdict_setting)
    app = create_app(settings)
    try:
        async with api_client(app) as client:
            place = await Place().build(client, app.state.db)
            media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
            run = worker(app)
            await run.run_until_idle()
            fake = fake_wechat(app.state.http)
            assert fake is not None
            assert [c["openid"] for c in fake.media_checks] == ["dev-chen"]
            # the periodic fake_pushes job hands the fake's verdict over within its period
            clock.advance(timedelta(seconds=31))
            await run.run_until_idle()
            view = await media_of(client, place.chen, media_id)
            assert view["status"] == status
            assert view["error"] is None
            assert fake.pushes_due() == []  # each pushed once
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)


async def test_fake_mode_pushes_verify_with_the_development_credentials(client, app, db):
    place = await Place().build(client, db)
    run = worker(app)
    await run.run_until_idle()  # this period's periodic jobs (fake_pushes among them) are done with
    media_id = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    await run.run_until_idle()
    assert (await media_of(client, place.chen, media_id))["status"] == "checking"
    fake = fake_wechat(app.state.http)
    assert fake is not None
    (check,) = fake.media_checks
    event = {
        "ToUserName": fake.original_id,
        "Event": "wxa_media_check",
        "appid": app.state.settings.wechat_appid,
        "trace_id": check["trace_id"],
        "version": 2,
        "result": {"suggest": "risky", "label": 20001},
    }
    body, params = fake.push_body(event, token=DEV_PUSH_TOKEN, aes_key=DEV_PUSH_AES_KEY)
    response = await client.post("/api/v1/wechat/callback", params=params, content=body)
    assert response.status_code == 200 and response.text == "success"
    assert (await media_of(client, place.chen, media_id))["status"] == "rejected"
    # the fake's own push (a pass) comes later and is ignored: the verdict was given
    clock.advance(timedelta(seconds=31))
    await run.run_until_idle()
    assert fake.pushes_due() == []  # it was delivered
    assert (await media_of(client, place.chen, media_id))["status"] == "rejected"


async def test_uploads_left_behind_by_a_failed_request_are_swept_after_two_days(client, app, db, media_dir):
    place = await Place().build(client, db)
    # an upload the worker has not got to yet (its worker is down), and one whose request failed
    # after storing it: no photo waits for that one
    waiting = (await upload(client, place.chen, place.b, small_jpeg())).json()["id"]
    (waiting_key,) = stored_files(media_dir)
    orphan = media_dir / "incoming" / "202612" / "0123456789abcdef0123456789abcdef"
    orphan.write_bytes(phone_photo((40, 20)))  # EXIF and GPS: it must not stay
    fresh = media_dir / "incoming" / "202612" / "fedcba9876543210fedcba9876543210"
    fresh.write_bytes(b"stored an hour ago")
    three_days_ago = (NOW - timedelta(days=3)).timestamp()
    for path in (orphan, media_dir / waiting_key):
        os.utime(path, (three_days_ago, three_days_ago))
    an_hour_ago = (NOW - timedelta(hours=1)).timestamp()
    os.utime(fresh, (an_hour_ago, an_hour_ago))

    async with db.session() as session:
        from api.services.feed.media import sweep_uploads

        assert await sweep_uploads(session) == 1
        await session.commit()
    left = stored_files(media_dir)
    assert waiting_key in left and fresh.relative_to(media_dir).as_posix() in left
    assert orphan.relative_to(media_dir).as_posix() not in left
    # the photo still waiting is processed as usual when the worker comes back (its handlers only:
    # fake mode's periodic push of the verdict would race the check and sometimes approve it first)
    only = Registry()
    only.handlers = dict(registry.handlers)
    await Worker(app.state.db, app.state.settings, app.state.wechat, handlers=only).run_until_idle()
    assert (await media_of(client, place.chen, waiting))["status"] == "checking"  # renditions made


# -- the pace of uploads ----------------------------------------------------------------------------


async def test_the_31st_photo_in_ten_minutes_is_refused_until_the_oldest_leaves_the_window(client, app, db, media_dir):
    place = await Place().build(client, db)
    clock.advance(timedelta(seconds=30))  # 10:00:30 in the community (Asia/Shanghai)
    for _ in range(10):
        assert (await upload(client, place.chen, place.b, small_jpeg())).status_code == 202
    clock.advance(timedelta(minutes=4))  # 10:04:30
    for _ in range(20):
        assert (await upload(client, place.chen, place.b, small_jpeg())).status_code == 202
    kept = stored_files(media_dir)
    assert len(kept) == 30

    refused = await upload(client, place.chen, place.b, small_jpeg())
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "too_many_uploads",
        "message": "上传太频繁，请在 10:11 后再试",  # the first ten leave the window at 10:10:30
        "details": {"limit": 30, "window_seconds": 600, "retry_at": "2026-12-05T10:10:30+08:00"},
    }
    assert refused.headers["Retry-After"] == "360"
    assert stored_files(media_dir) == kept and await media_rows(app) == 30  # nothing of it was kept
    # nobody else waits for chen
    assert (await upload(client, place.zhou, place.b, small_jpeg())).status_code == 202

    clock.advance(timedelta(seconds=359))  # 10:10:29
    refused = await upload(client, place.chen, place.b, small_jpeg())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clock.advance(timedelta(seconds=1))  # 10:10:30: the first ten are out, so ten more fit
    for _ in range(10):
        assert (await upload(client, place.chen, place.b, small_jpeg())).status_code == 202
    refused = await upload(client, place.chen, place.b, small_jpeg())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "240"
    assert refused.json()["error"]["message"] == "上传太频繁，请在 10:15 后再试"  # the next twenty, at 10:14:30
    assert await media_rows(app) == 41  # 40 of chen's, 1 of zhou's


async def test_the_time_to_try_again_says_tomorrow_when_it_is(database_url, media_dir):
    settings = make_settings(
        database_url, media_dir=str(media_dir), media_uploads_per_window=2, media_upload_window_seconds=3600
    )
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as client:
            place = await Place().build(client, app.state.db)
            clock.freeze(datetime(2026, 12, 5, 15, 20, tzinfo=UTC))  # 23:20 in the community
            for _ in range(2):
                assert (await upload(client, place.chen, place.b, small_jpeg())).status_code == 202
            refused = await upload(client, place.chen, place.b, small_jpeg())
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
            assert refused.json()["error"]["message"] == "上传太频繁，请在 明天 00:20 后再试"
            assert refused.json()["error"]["details"]["limit"] == 2
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)


# -- decoding in the worker -------------------------------------------------------------------------


class Decodes:
    """images.process, counting the decodes that run at once. The first one waits (a while at
    most) for another to start beside it, so that a missing bound cannot go unseen."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.changed = threading.Condition()
        self.running = self.started = self.peak = 0

    def __call__(self, data: bytes, *, max_pixels: int) -> Any:
        with self.changed:
            self.running += 1
            self.started += 1
            self.peak = max(self.peak, self.running)
            self.changed.notify_all()
            if self.started == 1:
                self.changed.wait_for(lambda: self.running > 1, timeout=2)
        try:
            return self.process(data, max_pixels=max_pixels)
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()


@pytest.mark.parametrize(("bound", "peak"), [(1, 1), (2, 2)], ids=["bound 1", "bound 2 (the jobs do overlap)"])
async def test_a_worker_decodes_no_more_photos_at_once_than_its_bound(
    database_url, media_dir, monkeypatch, bound, peak
):
    settings = make_settings(
        database_url, media_dir=str(media_dir), media_decode_concurrency=bound, worker_concurrency=4
    )
    app = create_app(settings)
    decodes = Decodes(images.process)
    monkeypatch.setattr(images, "process", decodes)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as client:
            place = await Place().build(client, app.state.db)
            ids = [(await upload(client, place.staff, place.b, small_jpeg())).json()["id"] for _ in range(6)]
            await worker(app).run_until_idle()

            assert decodes.started == 6
            assert decodes.peak == peak
            for media_id in ids:  # every photo made it; the waiting cost none of them an attempt
                view = await media_of(client, place.staff, media_id)
                assert view["status"] == "approved" and set(view["urls"]) == {"large", "feed", "thumb"}
            async with app.state.db.session() as session:
                jobs = (
                    await session.execute(select(OutboxJob).where(OutboxJob.kind == "feed.process_media"))
                ).scalars()
                assert sorted((job.status, job.attempts) for job in jobs) == [("done", 1)] * 6
    finally:
        await _empty_tables(app.state.db)
        await shutdown(app)
