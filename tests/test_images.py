"""api.media.images on its own: pictures built in memory with Pillow, read back the way a phone would.

What matters most is privacy (nothing but pixels leaves process()) and that hostile bytes only ever
end in ImageRejected, refused from the header where decoding would cost memory.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import time
import zlib
from collections.abc import Callable
from typing import TypeVar

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageStat
from PIL.TiffImagePlugin import IFDRational

from api.media import images
from api.media.images import ImageRejected, Inspected, Rendition, inspect, process, sniff

T = TypeVar("T")
MB = 1024 * 1024
MAX_BYTES = 10 * MB
MAX_PIXELS = 40_000_000
CODES = {"media_type_unsupported", "heic_unsupported", "image_too_large", "image_too_many_pixels", "image_invalid"}

RED, BLUE, WHITE = (230, 20, 20), (20, 60, 200), (255, 255, 255)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x08meta" + bytes(64)


# --- building pictures ------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def two_halves(size=(300, 200), left=RED, right=BLUE, mode="RGB") -> Image.Image:
    im = Image.new(mode, size, right)
    im.paste(left, (0, 0, size[0] // 2, size[1]))
    return im


def photo(size=(800, 600)) -> Image.Image:
    """Something with texture, so that a truncated file really misses data."""
    noise = Image.effect_noise(size, 60).convert("RGB")
    return Image.blend(two_halves(size), noise, 0.3)


def read(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def close_to(actual, expected, tolerance=40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


def by_name(renditions: list[Rendition]) -> dict[str, Rendition]:
    assert [r.name for r in renditions] == ["large", "feed", "thumb"]
    return {r.name: r for r in renditions}


def rejected(call, *args, **kwargs) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        call(*args, **kwargs)
    assert caught.value.code in CODES
    assert caught.value.message  # something to show the resident
    return caught.value


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))


@functools.cache
def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit PNG of width x height, all black: it compresses to almost nothing."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF header is rewritten to claim another size."""
    data = bytearray(encode(photo((64, 48)), "JPEG"))
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC2):  # walk the marker segments up to the frame header
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """An extended-format WebP header (VP8X) claiming a canvas, and nothing after it."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- privacy: EXIF, GPS, orientation ----------------------------------------------------------------------------

LATITUDE = (IFDRational(31, 1), IFDRational(14, 1), IFDRational(3583, 100))
LONGITUDE = (IFDRational(121, 1), IFDRational(28, 1), IFDRational(1217, 100))
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="LINLI-XMP-CREATOR"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def rational_bytes(values, order: str) -> bytes:
    return b"".join(struct.pack(f"{order}II", v.numerator, v.denominator) for v in values)


def gps_values(order: str | None = None) -> list[bytes]:
    """The coordinates as they sit in a TIFF block: little-endian, big-endian, or both if not said."""
    orders = [order] if order else ["<", ">"]
    return [rational_bytes(values, o) for o in orders for values in (LATITUDE, LONGITUDE)]


@functools.cache
def phone_photo() -> bytes:
    """400x200 as stored by the sensor, Orientation 6 (turn 90° clockwise to view), with GPS, a camera
    make, an XMP packet and a comment; a red marker in the stored top-left corner."""
    im = Image.new("RGB", (400, 200), BLUE)
    im.paste(RED, (0, 0, 60, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "LINLI-CAMERA-MAKE"  # Make
    exif[0x8825] = {  # GPSInfo IFD
        0x0001: "N",
        0x0002: LATITUDE,
        0x0003: "E",
        0x0004: LONGITUDE,
        0x0012: "LINLI-GPS-DATUM",  # GPSMapDatum: a string easy to look for
    }
    return encode(im, "JPEG", quality=95, exif=exif, xmp=XMP, comment=b"LINLI-COMMENT")


def test_the_test_photo_really_carries_gps_and_orientation():
    data = phone_photo()
    source = read(data)
    assert source.getexif()[0x0112] == 6
    gps = source.getexif().get_ifd(0x8825)
    assert gps[0x0001] == "N" and tuple(gps[0x0002]) == LATITUDE and tuple(gps[0x0004]) == LONGITUDE
    tiff_header = data[data.index(b"Exif\x00\x00") + 6 :][:2]
    order = {b"II": "<", b"MM": ">"}[tiff_header]
    markers = [b"LINLI-CAMERA-MAKE", b"LINLI-GPS-DATUM", b"LINLI-COMMENT", b"LINLI-XMP"]
    for secret in [b"Exif", *markers, *gps_values(order)]:
        assert secret in data


def test_process_removes_all_metadata_and_applies_the_orientation():
    assert inspect(phone_photo(), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("jpeg", 200, 400)

    renditions = by_name(process(phone_photo(), max_pixels=MAX_PIXELS))

    for rendition in renditions.values():
        data = rendition.data
        for secret in (b"Exif", b"LINLI-", b"xmpmeta", b"http://ns.adobe.com/xap/1.0/"):
            assert secret not in data, (rendition.name, secret)
        assert not any(value in data for value in gps_values())
        back = read(data)
        assert back.format == "JPEG" and back.mode == "RGB"
        assert len(back.getexif()) == 0
        assert len(back.getexif().get_ifd(0x8825)) == 0
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(back.info)
        assert back.size == (rendition.width, rendition.height)
        assert rendition.content_type == "image/jpeg"

    large = read(renditions["large"].data)
    assert large.size == (200, 400)  # turned upright, not enlarged
    # Turning 90° clockwise moves the stored top-left corner to the top right.
    assert close_to(large.getpixel((175, 25)), RED)
    assert close_to(large.getpixel((25, 25)), BLUE)
    assert close_to(large.getpixel((175, 375)), BLUE)
    feed = read(renditions["feed"].data)
    assert feed.size == (200, 400) and close_to(feed.getpixel((175, 25)), RED)
    assert read(renditions["thumb"].data).size == (320, 320)


def test_a_photo_with_broken_exif_is_still_processed():
    data = bytearray(phone_photo())
    at = data.index(b"Exif\x00\x00") + 6
    data[at : at + 8] = b"XX\x00\x00\xff\xff\xff\xff"  # neither "II" nor "MM": the TIFF header is garbage
    assert inspect(bytes(data), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("jpeg", 400, 200)
    renditions = by_name(process(bytes(data), max_pixels=MAX_PIXELS))
    assert read(renditions["large"].data).size == (400, 200)  # kept as stored
    assert b"LINLI-" not in renditions["large"].data


# --- formats ----------------------------------------------------------------------------------------------------


def test_a_png_named_jpg_is_a_png_and_transparency_becomes_white():
    im = Image.new("RGBA", (300, 200), (0, 0, 0, 0))  # transparent black: a naive conversion shows black
    im.paste((*BLUE, 255), (150, 0, 300, 200))
    data = encode(im, "PNG")  # uploaded as "photo.jpg", image/jpeg: neither is ever looked at

    assert sniff(data) == "png"
    assert inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("png", 300, 200)
    renditions = by_name(process(data, max_pixels=MAX_PIXELS))
    large = read(renditions["large"].data)
    assert large.format == "JPEG" and large.size == (300, 200)
    assert close_to(large.getpixel((40, 100)), WHITE, 5)
    assert close_to(large.getpixel((260, 100)), BLUE)
    thumb = read(renditions["thumb"].data)  # centre crop: the middle 200x200, white then blue
    assert close_to(thumb.getpixel((20, 160)), WHITE, 5) and close_to(thumb.getpixel((300, 160)), BLUE)


def test_half_transparent_pixels_are_blended_over_white():
    im = Image.new("RGBA", (100, 100), (255, 0, 0, 128))
    large = read(by_name(process(encode(im, "PNG"), max_pixels=MAX_PIXELS))["large"].data)
    assert close_to(large.getpixel((50, 50)), (255, 127, 127), 12)


def _palette_with_transparency() -> bytes:
    im = two_halves(left=(0, 0, 0), right=BLUE).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return encode(im, "PNG", transparency=im.getpixel((10, 10)))


def _grey_with_alpha() -> bytes:
    im = Image.new("LA", (300, 200), (0, 0))
    im.paste((100, 255), (150, 0, 300, 200))
    return encode(im, "PNG")


def _sixteen_bit_grey() -> bytes:
    row = struct.pack("<150H", *[8000] * 150) + struct.pack("<150H", *[50000] * 150)  # paste() would clip 50000
    im = Image.frombytes("I;16", (300, 200), row * 200)
    assert im.getpixel((260, 100)) == 50000
    return encode(im, "PNG")


def _cmyk_jpeg() -> bytes:
    return encode(two_halves(left=(0, 255, 255, 0), right=(0, 0, 0, 255), mode="CMYK"), "JPEG", quality=95)


def _bilevel() -> bytes:
    return encode(two_halves(left=0, right=255, mode="1"), "PNG")


def _rgb_with_colour_key() -> bytes:
    return encode(two_halves(left=(0, 0, 0), right=BLUE), "PNG", transparency=(0, 0, 0))


@pytest.mark.parametrize(
    ("build", "left", "right"),
    [
        (_palette_with_transparency, WHITE, BLUE),
        (_grey_with_alpha, WHITE, (100, 100, 100)),
        (_sixteen_bit_grey, (31, 31, 31), (195, 195, 195)),  # scaled, not clipped to white
        (_cmyk_jpeg, (255, 0, 0), (0, 0, 0)),
        (_bilevel, (0, 0, 0), WHITE),
        (_rgb_with_colour_key, WHITE, BLUE),
    ],
    ids=["palette+transparency", "LA", "16-bit grey", "CMYK jpeg", "1-bit", "RGB colour key"],
)
def test_every_mode_becomes_rgb_with_sane_colours(build, left, right):
    data = build()
    assert inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS).width == 300
    large = read(by_name(process(data, max_pixels=MAX_PIXELS))["large"].data)
    assert large.mode == "RGB" and large.size == (300, 200)
    assert close_to(large.getpixel((40, 100)), left, 20)
    assert close_to(large.getpixel((260, 100)), right, 20)


def test_icc_profiles_are_converted_not_kept():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = encode(two_halves(), "JPEG", quality=95, icc_profile=srgb)
    broken = encode(two_halves(), "JPEG", quality=95, icc_profile=b"not a profile" * 10)
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    rgba.paste((*BLUE, 255), (150, 0, 300, 200))
    tagged_rgba = encode(rgba, "PNG", icc_profile=srgb)
    assert read(tagged).info["icc_profile"] == srgb

    for data, left in ((tagged, RED), (broken, RED), (tagged_rgba, WHITE)):
        large = read(by_name(process(data, max_pixels=MAX_PIXELS))["large"].data)
        assert "icc_profile" not in large.info
        assert close_to(large.getpixel((40, 100)), left, 20)  # alpha survives the colour conversion
        assert close_to(large.getpixel((260, 100)), BLUE, 20)


@pytest.mark.parametrize("params", [{"quality": 80}, {"lossless": True}], ids=["lossy", "lossless"])
def test_webp_works(params):
    im = two_halves((640, 480)).convert("RGBA")
    im.paste((0, 0, 0, 0), (0, 0, 100, 100))
    data = encode(im, "WEBP", **params)
    assert sniff(data) == "webp"
    assert inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("webp", 640, 480)
    renditions = by_name(process(data, max_pixels=MAX_PIXELS))
    large = read(renditions["large"].data)
    assert large.format == "JPEG" and large.size == (640, 480)
    assert close_to(large.getpixel((50, 50)), WHITE, 10)
    assert close_to(large.getpixel((50, 300)), RED) and close_to(large.getpixel((600, 300)), BLUE)


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_animations_give_their_first_frame(fmt):
    frames = [Image.new("RGB", (120, 80), colour) for colour in (RED, BLUE, (0, 200, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(read(data), "n_frames", 1) == 3
    renditions = by_name(process(data, max_pixels=MAX_PIXELS))
    for rendition in renditions.values():
        assert close_to(read(rendition.data).getpixel((10, 10)), RED)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("party.gif", encode(Image.new("P", (10, 10)), "GIF")),
        ("photo.jpg", b"this is not a photo, just a text file named photo.jpg\n" * 20),
        ("photo.jpg", b""),
        ("photo.bmp", encode(Image.new("RGB", (10, 10)), "BMP")),
        ("photo.tif", encode(Image.new("RGB", (10, 10)), "TIFF")),
    ],
)
def test_other_formats_are_refused_whatever_their_name(name, data):
    assert sniff(data) in ("gif", None)
    for call in (
        lambda: inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS),
        lambda: process(data, max_pixels=MAX_PIXELS),
    ):
        error = rejected(call)
        assert error.code == "media_type_unsupported"
        assert error.message == "只能上传 JPEG、PNG 或 WebP 图片"
        assert error.details["detected"] == sniff(data)


@pytest.mark.parametrize(
    "data",
    [
        HEIC,
        b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heixmiaf" + bytes(40),  # generic HEIF, HEVC inside
        b"\x00\x00\x00\x14ftypmsf1\x00\x00\x00\x00msf1" + bytes(40),
    ],
)
def test_heic_gets_its_own_answer(data):
    assert sniff(data) == "heic"
    error = rejected(inspect, data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert error.code == "heic_unsupported"
    assert "HEIC" in error.message and "兼容" in error.message and "JPEG" in error.message
    assert rejected(process, data, max_pixels=MAX_PIXELS).code == "heic_unsupported"


def test_avif_is_named_but_refused_as_unsupported():
    data = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(40)
    assert sniff(data) == "avif"
    assert rejected(inspect, data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS).code == "media_type_unsupported"


def test_sniff_reads_magic_bytes_only():
    assert sniff(encode(Image.new("RGB", (4, 4)), "JPEG")) == "jpeg"
    assert sniff(encode(Image.new("RGB", (4, 4)), "PNG")) == "png"
    assert sniff(encode(Image.new("RGB", (4, 4)), "WEBP")) == "webp"
    assert sniff(b"GIF87a") == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None  # RIFF, but not WebP
    assert sniff(b"\xff\xd8") is None


# --- limits -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [b"", b"\x89PNG\r\n\x1a\n", HEIC, b"GIF89a"])
def test_oversized_bytes_are_refused_before_anything_else(head, monkeypatch):
    monkeypatch.setattr(images, "sniff", lambda data: pytest.fail("looked at the content of an oversized upload"))
    data = head + bytes(20 * MB)
    error = rejected(inspect, data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert error.code == "image_too_large"
    assert error.details["max_bytes"] == MAX_BYTES and error.details["size"] == len(data)
    assert "10 MB" in error.message


def test_a_file_at_the_byte_limit_is_accepted():
    data = encode(two_halves(), "PNG")
    assert inspect(data, max_bytes=len(data), max_pixels=MAX_PIXELS).kind == "png"
    assert rejected(inspect, data, max_bytes=len(data) - 1, max_pixels=MAX_PIXELS).code == "image_too_large"


@pytest.fixture
def loads(monkeypatch):
    """Every decode of pixels (ImageFile.load and WebP's own load) is recorded."""
    calls: list[str] = []
    from PIL import WebPImagePlugin

    for cls in (ImageFile.ImageFile, WebPImagePlugin.WebPImageFile):
        original = cls.load

        def spy(self, _original=original):
            calls.append(self.format)
            return _original(self)

        monkeypatch.setattr(cls, "load", spy)
    return calls


def test_a_decompression_bomb_is_refused_from_its_header(loads):
    bomb = png_bomb(20_000, 20_000)  # 400 megapixels in a few tens of KB
    assert len(bomb) < 200_000

    started = time.perf_counter()
    error = rejected(inspect, bomb, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert time.perf_counter() - started < 1.0
    assert error.code == "image_too_many_pixels"
    assert error.details["max_pixels"] == MAX_PIXELS
    assert "4000 万像素" in error.message

    error = rejected(process, bomb, max_pixels=MAX_PIXELS)
    assert error.code == "image_too_many_pixels"
    assert loads == []  # nothing was decoded


def test_the_pixel_limit_does_not_depend_on_pillows_global_setting(loads, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone turned Pillow's own guard off
    bomb = png_bomb(20_000, 20_000)
    for call in (
        lambda: inspect(bomb, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS),
        lambda: process(bomb, max_pixels=MAX_PIXELS),
    ):
        error = rejected(call)
        assert error.code == "image_too_many_pixels"
        assert error.details == {"max_pixels": MAX_PIXELS, "width": 20_000, "height": 20_000}
    assert loads == []


def test_just_over_the_limit_is_refused_with_the_size(loads):
    bomb = png_bomb(8_000, 5_001)  # 40,008,000 pixels: under Pillow's own limit, over ours
    error = rejected(inspect, bomb, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert error.details == {"max_pixels": MAX_PIXELS, "width": 8_000, "height": 5_001}
    assert rejected(process, bomb, max_pixels=MAX_PIXELS).code == "image_too_many_pixels"
    assert loads == []
    assert inspect(png_bomb(8_000, 5_000), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("png", 8000, 5000)


@pytest.mark.parametrize(
    "bomb",
    [jpeg_claiming(60_000, 60_000), jpeg_claiming(9_000, 9_000), webp_claiming(16_000, 16_000)],
    ids=["jpeg 3.6 gigapixels", "jpeg 81 megapixels", "webp canvas 256 megapixels"],
)
def test_jpeg_and_webp_headers_claiming_too_much_are_refused(bomb, loads, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    error = rejected(inspect, bomb, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert error.code == "image_too_many_pixels"
    assert error.details["width"] * error.details["height"] > MAX_PIXELS
    assert rejected(process, bomb, max_pixels=MAX_PIXELS).code == "image_too_many_pixels"
    assert loads == []


def test_a_webp_canvas_is_checked_before_pillow_opens_it(monkeypatch):
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("opened a WebP claiming 256 megapixels"))
    assert rejected(process, webp_claiming(16_000, 16_000), max_pixels=MAX_PIXELS).code == "image_too_many_pixels"


@pytest.mark.parametrize(
    "params", [{"quality": 80}, {"lossless": True}, {"exif": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"}]
)
def test_the_webp_header_size_matches_pillows(params):
    data = encode(photo((333, 217)), "WEBP", **params)
    assert images._webp_canvas_size(data) == (333, 217) == read(data).size


def test_the_decoder_is_the_one_the_magic_bytes_name(monkeypatch):
    seen: list[object] = []
    original = Image.open

    def spy(fp, mode="r", formats=None):
        seen.append(formats)
        return original(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy)
    for fmt, expected in (("PNG", ["PNG"]), ("JPEG", ["JPEG"]), ("WEBP", ["WEBP"])):
        seen.clear()
        data = encode(two_halves(), fmt)
        inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        process(data, max_pixels=MAX_PIXELS)
        assert seen == [expected, expected]

    # JPEG magic in front of a PNG: the JPEG decoder alone is asked, and refuses.
    disguised = b"\xff\xd8\xff" + encode(two_halves(), "PNG")
    assert rejected(inspect, disguised, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS).code == "image_invalid"
    assert rejected(process, disguised, max_pixels=MAX_PIXELS).code == "image_invalid"


# --- corrupt data -----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_file_is_refused_as_invalid(fmt):
    whole = encode(photo(), fmt)
    half = whole[: len(whole) // 2]
    try:
        found = inspect(half, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    except ImageRejected as error:  # the header alone may be enough to accept, or not: both are fine
        assert error.code == "image_invalid"
    else:
        assert found == Inspected(fmt.lower(), 800, 600)
    assert rejected(process, half, max_pixels=MAX_PIXELS).code == "image_invalid"


def test_a_truncated_jpeg_passes_the_header_check_then_fails_in_the_worker():
    half = encode(photo(), "JPEG")[:20_000]
    assert inspect(half, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) == Inspected("jpeg", 800, 600)
    error = rejected(process, half, max_pixels=MAX_PIXELS)
    assert error.code == "image_invalid"
    assert error.message == "图片已损坏或无法识别，请重新选择照片"


# --- renditions -------------------------------------------------------------------------------------------------


def check_rendition(rendition: Rendition) -> Image.Image:
    back = read(rendition.data)
    assert back.format == "JPEG" and back.mode == "RGB"
    assert back.size == (rendition.width, rendition.height)
    assert back.info.get("progressive") or back.info.get("progression")
    assert rendition.content_type == "image/jpeg"
    return back


@pytest.mark.parametrize(
    ("size", "fmt"),
    [((3000, 2000), "PNG"), ((2000, 3000), "JPEG"), ((5000, 4200), "JPEG"), ((4096, 1024), "WEBP")],
)
def test_large_and_feed_are_bounded_keeping_the_aspect(size, fmt):
    width, height = size
    renditions = by_name(process(encode(two_halves(size), fmt), max_pixels=MAX_PIXELS))
    for name, longest in (("large", 2048), ("feed", 1080)):
        back = check_rendition(renditions[name])
        assert max(back.size) == longest
        if width >= height:
            assert abs(back.height - longest * height / width) <= 1
        else:
            assert abs(back.width - longest * width / height) <= 1
        assert close_to(back.getpixel((5, back.height // 2)), RED)  # the left half stays on the left
        assert close_to(back.getpixel((back.width - 5, back.height // 2)), BLUE)
    assert check_rendition(renditions["thumb"]).size == (320, 320)


def test_3000_by_2000_gives_2048_by_1365():
    renditions = by_name(process(encode(two_halves((3000, 2000)), "JPEG"), max_pixels=MAX_PIXELS))
    assert (renditions["large"].width, renditions["large"].height) in ((2048, 1365), (2048, 1366))
    assert (renditions["feed"].width, renditions["feed"].height) == (1080, 720)


@pytest.mark.parametrize(("size", "fmt"), [((500, 300), "JPEG"), ((300, 500), "PNG"), ((1080, 100), "WEBP")])
def test_small_pictures_are_not_enlarged(size, fmt):
    renditions = by_name(process(encode(two_halves(size), fmt), max_pixels=MAX_PIXELS))
    assert check_rendition(renditions["large"]).size == size
    assert check_rendition(renditions["feed"]).size == size
    assert check_rendition(renditions["thumb"]).size == (320, 320)  # the square is always that size


def test_the_thumb_is_the_centre_of_the_picture():
    im = Image.new("RGB", (900, 300), RED)
    im.paste(BLUE, (300, 0, 600, 300))  # only the middle third is blue
    thumb = check_rendition(by_name(process(encode(im, "PNG"), max_pixels=MAX_PIXELS))["thumb"])
    for point in ((10, 10), (160, 160), (310, 310)):
        assert close_to(thumb.getpixel(point), BLUE)


@pytest.mark.parametrize(
    ("size", "scale"),
    [
        ((6000, 4000), 2),  # asking for a 2048 square left this one decoded whole (4000 rows < 2 × 2048)
        ((8400, 4725), 4),
        ((12000, 3000), 4),  # a panorama: a square would not have reduced it at all
        ((6300, 6300), 2),  # 1/4 would be 1575 pixels: less than "large"
        ((4000, 3000), 1),
        ((2048, 1536), 1),
    ],
)
def test_a_big_jpeg_is_decoded_at_the_smallest_dct_scale_that_still_covers_large(size, scale):
    width, height = size
    large = images.fitted(size, 2048)
    data = encode(two_halves(size), "JPEG", quality=80)

    source, _extent, target = images._decode(data, "jpeg", MAX_PIXELS)
    decoded = source.size
    source.close()
    assert target == large
    assert decoded == (-(-width // scale), -(-height // scale))  # what libjpeg made, at 1/scale
    assert decoded[0] >= large[0] and decoded[1] >= large[1]  # "large" is still made by shrinking
    if scale < 8:  # and the next scale down would have been too small
        assert -(-width // (2 * scale)) < large[0] or -(-height // (2 * scale)) < large[1]

    back = check_rendition(by_name(process(data, max_pixels=MAX_PIXELS))["large"])
    assert back.size == large
    assert close_to(back.getpixel((5, back.height // 2)), RED)
    assert close_to(back.getpixel((back.width - 5, back.height // 2)), BLUE)


def _noise(size: tuple[int, int], mode: str) -> Image.Image:
    grain = Image.merge("RGB", [Image.effect_noise(size, sigma) for sigma in (40, 60, 80)])
    if mode == "RGBA":
        grain.putalpha(Image.linear_gradient("L").resize(size))
        return grain
    if mode == "P":
        palette = Image.effect_noise(size, 60).convert("P")
        palette.putpalette([(n * 7) % 256 for n in range(768)])
        palette.info["transparency"] = 0
        return palette
    return grain.convert(mode)


def _whole_picture_large(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The "large" rendition made from the whole picture at once, in the same steps: convert, reduce by
    whole factors to no less than 3× the size, then resize across and then down."""
    rgb = images._to_rgb(source)
    factors = (max(1, int(source.width / size[0] / 3)), max(1, int(source.height / size[1] / 3)))
    if factors != (1, 1):
        rgb = rgb.reduce(factors)
    across = rgb.resize(
        (size[0], rgb.height), Image.Resampling.LANCZOS, box=(0, 0, source.width / factors[0], rgb.height)
    )
    return across.resize(size, Image.Resampling.LANCZOS, box=(0, 0, size[0], source.height / factors[1]))


@pytest.mark.parametrize(
    ("size", "mode"),
    [((4000, 1500), "RGB"), ((1500, 4000), "RGBA"), ((3000, 2000), "P"), ((13001, 601), "RGB"), ((2500, 3000), "L")],
    ids=["landscape", "portrait with alpha", "palette with transparency", "reduced first (13001 × 601)", "grey"],
)
def test_large_is_made_band_by_band_as_it_would_be_from_the_whole_picture(size, mode):
    source = _noise(size, mode)
    large = images.fitted(size, 2048)
    banded = images._large_rgb(source, size, large)
    assert banded.mode == "RGB" and banded.size == large
    # no seam, no shifted row: the same pixels, up to a level where the bands' boxes round differently
    whole = _whole_picture_large(source, large)
    assert max(high for _low, high in ImageChops.difference(banded, whole).getextrema()) <= 1
    # and what a single resize of the whole picture gives, but for the rounding of its passes' order
    pillow = images._to_rgb(source).resize(large, Image.Resampling.LANCZOS, reducing_gap=3.0)
    assert max(ImageStat.Stat(ImageChops.difference(banded, pillow)).mean) < 0.5


def test_process_repeats_the_pixel_check_with_its_own_limit():
    data = encode(two_halves((3000, 2000)), "PNG")
    error = rejected(process, data, max_pixels=5_999_999)
    assert error.details == {"max_pixels": 5_999_999, "width": 3000, "height": 2000}
    assert len(process(data, max_pixels=6_000_000)) == 3


# --- fuzzing ----------------------------------------------------------------------------------------------------

PREFIXES = [
    b"",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"RIFF\x00\x10\x00\x00WEBPVP8L",
    b"RIFF\x00\x10\x00\x00WEBPVP8X",
    b"GIF89a",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x18ftypmif1",
]


@functools.cache
def valid_files() -> tuple[bytes, ...]:
    rgba = photo((160, 120)).convert("RGBA")
    return (
        phone_photo(),
        encode(photo((160, 120)), "JPEG", progressive=True),
        encode(rgba, "PNG"),
        encode(rgba.convert("P"), "PNG", transparency=0),
        encode(rgba, "WEBP"),
        encode(rgba, "WEBP", lossless=True),
        encode(rgba, "WEBP", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"),
    )


def mutated(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.5:
        return data[: rng.randrange(len(data))]
    copy = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        copy[rng.randrange(len(copy))] = rng.randrange(256)
    return bytes(copy)


def outcome(call: Callable[[], T]) -> T | ImageRejected:
    try:
        return call()
    except ImageRejected as error:
        return error
    # anything else propagates and fails the test


@pytest.mark.filterwarnings("ignore")
def test_inspect_raises_nothing_but_image_rejected_on_random_bytes():
    rng = random.Random(20250601)
    cases = [rng.choice(PREFIXES) + rng.randbytes(rng.randrange(0, 4096)) for _ in range(200)]
    cases += [mutated(rng, rng.choice(valid_files())) for _ in range(300)]
    cases += [data[:cut] for data in valid_files() for cut in range(0, 64)]  # every short header

    results = [outcome(functools.partial(inspect, data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)) for data in cases]

    for result in results:
        assert isinstance(result, Inspected | ImageRejected)
        if isinstance(result, ImageRejected):
            assert result.code in CODES and isinstance(result.details, dict)
        else:
            assert result.kind in ("jpeg", "png", "webp") and result.width > 0 and result.height > 0
    codes = {r.code for r in results if isinstance(r, ImageRejected)}
    assert {"media_type_unsupported", "image_invalid", "heic_unsupported"} <= codes
    assert any(isinstance(r, Inspected) for r in results)  # some damaged files still have a good header


@pytest.mark.filterwarnings("ignore")
def test_process_raises_nothing_but_image_rejected_on_damaged_files():
    rng = random.Random(7)
    cases = [mutated(rng, rng.choice(valid_files())) for _ in range(80)]
    results = [outcome(functools.partial(process, data, max_pixels=1_000_000)) for data in cases]
    for result in results:
        if isinstance(result, ImageRejected):
            assert result.code in ("image_invalid", "image_too_many_pixels", "media_type_unsupported")
        else:
            assert [r.name for r in result] == ["large", "feed", "thumb"]
            assert all(read(r.data).format == "JPEG" for r in result)
    assert any(isinstance(r, ImageRejected) and r.code == "image_invalid" for r in results)
