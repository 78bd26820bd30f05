"""Photos residents upload: a cheap check in the request, the real work (renditions) in the worker.

Photos of community activities are taken on phones and often show children, so what leaves this
module never carries the phone's metadata: no EXIF (GPS position, device, time), no XMP, no comment.
Every rendition is decoded and re-encoded from pixels, which is the only way to be sure of that.

The bytes come from strangers, so nothing here trusts them:

* the format is decided by magic bytes, never by the file name, and Pillow is only allowed the one
  decoder that format names (``Image.open(..., formats=[...])``), so a file cannot claim another;
* the size is read from the header and checked against ``max_pixels`` before any pixel is decoded,
  by this module itself: Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) is process-wide state that
  other code may raise or turn off, so it is only a second line (its error is mapped too);
* whatever Pillow raises on bad input becomes :class:`ImageRejected`, the one exception callers handle.

Everything happens in memory: bytes in, bytes out, no temporary files.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from PIL import Image, ImageCms, ImageOps

Kind = Literal["jpeg", "png", "webp"]
RenditionName = Literal["large", "feed", "thumb"]
RejectionCode = Literal[
    "media_type_unsupported", "heic_unsupported", "image_too_large", "image_too_many_pixels", "image_invalid"
]

ACCEPTED: Final[tuple[Kind, ...]] = ("jpeg", "png", "webp")
LARGE_SIDE: Final = 2048  # longest side of "large": a photo opened full screen
FEED_SIDE: Final = 1080  # longest side of "feed": a photo in a list, at phone width
THUMB_SIDE: Final = 320  # "thumb" is a square centre crop of this side
JPEG_QUALITY: Final = 82
CONTENT_TYPE: Final = "image/jpeg"

_REDUCING_GAP: Final = 3.0  # a whole-factor box reduction first leaves 3× the final size: as good as Lanczos alone
_LANCZOS: Final = Image.Resampling.LANCZOS
_LANCZOS_SUPPORT: Final = 3.0  # Lanczos reads three pixels either side, times the scale when shrinking
_BAND_PIXELS: Final = 500_000  # decoded pixels converted at a time while making "large": ~2 MB a copy
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PIL_FORMAT: Final[dict[Kind, str]] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_WHITE: Final = (255, 255, 255)
_SIXTEEN_BIT_MODES: Final = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ICC_MODES: Final = frozenset({"RGB", "RGBA", "CMYK", "L"})
_Transforms = dict[str, ImageCms.ImageCmsTransform | None]  # by mode: one picture's colour transform, or none
# ISO base media file brands: HEIF stills (what iPhones save in their "高效" setting) and AVIF.
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS: Final = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})


class ImageRejected(Exception):
    """An upload refused, with a stable ``code`` for the client and a zh-CN ``message`` for the resident.

    A plain exception rather than an ``AppError``: this module does not decide HTTP statuses (the upload
    route answers the request, the worker marks the photo failed); both read the same three fields.
    """

    code: str
    message: str
    details: dict[str, Any]

    def __init__(self, code: RejectionCode, message: str, details: dict[str, Any] | None = None) -> None:
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Inspected:
    """What the upload request learns from the header: the format and the size as it will be displayed
    (EXIF orientations 5-8 turn the picture a quarter, so width and height are swapped)."""

    kind: Kind
    width: int
    height: int


@dataclass(frozen=True)
class Rendition:
    """One re-encoded JPEG, free of metadata, ready to store and serve."""

    name: RenditionName
    data: bytes = field(repr=False)
    width: int
    height: int
    content_type: str = CONTENT_TYPE


def sniff(data: bytes) -> str | None:
    """The format named by the first bytes: "jpeg", "png", "webp", "gif", "heic", "avif" or None.

    Only the content decides, never the file name or the client's Content-Type: phones and WeChat name
    files freely (a PNG screenshot arrives as ``tmp_xxx.jpg``), and a name is no evidence of anything.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:8] == b"ftyp":
        return _iso_media_brand(data)
    return None


def inspect(data: bytes, *, max_bytes: int, max_pixels: int) -> Inspected:
    """Accept or refuse an upload cheaply, in the request, before anything is stored or queued.

    Order matters: the byte size first (nothing else is looked at in an oversized body), then the magic
    bytes, then the header as Pillow parses it (``Image.open`` reads the header, it does not decode), so
    a picture that would need gigabytes to decode is refused from its first few hundred bytes.
    Raises only :class:`ImageRejected`, whatever the bytes are.
    """
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    kind = _accepted_kind(data)
    max_pixels = pixel_limit(kind, max_pixels)
    _check_webp_canvas(data, kind, max_pixels)
    try:
        im = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]])
        try:
            width, height = im.size
            _check_pixels(width, height, max_pixels)
            # PNG keeps its eXIf chunk wherever it likes, and Pillow's PngImageFile.getexif() decodes the whole
            # image to find one after the pixels; only an eXIf ahead of them is read here.
            orientation = 1 if kind == "png" and "exif" not in im.info else _orientation(im)
        finally:
            im.close()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:  # any parser failure on hostile bytes: the caller handles one exception
        raise _invalid() from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Inspected(kind=kind, width=width, height=height)


def process(data: bytes, *, max_pixels: int) -> list[Rendition]:
    """Decode, turn upright and re-encode as the "large", "feed" and "thumb" JPEG renditions, without metadata.

    Runs in the worker (decoding takes time and memory the request should not spend). The checks of
    :func:`inspect` are repeated, because the worker must not trust what was stored: the size from the
    header is compared with ``max_pixels`` before the pixels are loaded. Animated images give their first
    frame. Transparent areas become white (JPEG has no alpha, and black would hide dark content).

    Memory: the decoded picture is the one big thing held (a JPEG is decoded at the smallest DCT scale that
    still covers "large"); it is converted and shrunk a band of rows at a time, and freed as soon as "large"
    exists. Everything after that works on "large" or smaller.
    """
    kind = _accepted_kind(data)
    max_pixels = pixel_limit(kind, max_pixels)
    _check_webp_canvas(data, kind, max_pixels)
    try:
        source, extent, size = _decode(data, kind, max_pixels)
        try:
            orientation = _orientation(source)
            large = _large_rgb(source, extent, size)
        except BaseException:
            source.close()
            raise
        if large is not source:  # (a picture already plain RGB at "large"'s size is "large" itself)
            source.close()  # frees the pixels now, whatever else may still refer to the object (a traceback)
        del source
        large = _upright(large, orientation)
        renditions = [_encode("large", large), _encode("feed", _bounded(large, FEED_SIDE))]
        thumb = ImageOps.fit(large, (THUMB_SIDE, THUMB_SIDE), method=Image.Resampling.LANCZOS)
        renditions.append(_encode("thumb", thumb))
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:  # truncated or corrupt data that got past inspect(): refuse, never crash the job
        raise _invalid() from exc
    return renditions


def fitted(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``size`` shrunk so that its longest side is at most ``longest``, keeping the aspect; never enlarged."""
    width, height = size
    if max(width, height) <= longest:
        return size
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- decoding -------------------------------------------------------------------------------------------------


def _decode(data: bytes, kind: Kind, max_pixels: int) -> tuple[Image.Image, tuple[float, float], tuple[int, int]]:
    """The picture decoded as stored (its mode, orientation and metadata), the part of it that maps onto the
    whole stored picture (a JPEG decoded at 1/s covers width / s: its last column and row only in part) and
    the size "large" will have."""
    source = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]])
    _check_pixels(source.width, source.height, max_pixels)  # before load(): nothing decoded yet
    size = fitted(source.size, LARGE_SIDE)
    extent: tuple[float, float] = source.size
    if kind == "jpeg" and size != source.size:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale straight from the DCT coefficients, and draft() takes the
        # smallest of these that still covers the size asked for on both sides. Asked for "large"'s own size
        # (not a 2048 square, which left a 6000 × 4000 photo decoded whole for its 2048 × 1365 "large"), a
        # 40-megapixel photo is decoded at a quarter or less of its pixels, and "large" is still a reduction.
        drafted = source.draft(None, size)
        if drafted is not None:
            extent = drafted[1][2], drafted[1][3]
    source.load()  # the first frame of an animation
    return source, extent, size


def _large_rgb(source: Image.Image, extent: tuple[float, float], size: tuple[int, int]) -> Image.Image:
    """The "large" rendition: the decoded picture in 8-bit sRGB (``_to_rgb``), shrunk to ``size`` with Lanczos,
    a band of rows at a time.

    Converting the whole picture at once would hold a second full-size copy beside the decoded one, and a
    third and a fourth for transparency: 160 MB each at 40 megapixels, which PNG and WebP (no DCT scaling)
    are decoded at. Rows are converted and resized across as the bands reach them; each band of "large" is
    then resized down from the rows its filter reaches, over its exact share of the whole (``box``), so bands
    join without a seam and "large" is what converting the whole picture and ``resize(size, LANCZOS,
    reducing_gap=3.0)`` gave (to a level of rounding): the conversions work pixel by pixel, resizing across
    row by row, and the whole-factor box reduction that reducing_gap makes first stays on the same grid
    because bands start on multiples of its factor.
    """
    if size == source.size:
        return _to_rgb(source)  # not shrunk: "large"'s size at most, nothing to save
    width, height = source.size
    extent_width, extent_height = extent
    out_width, out_height = size
    factor_x = max(1, int(extent_width / out_width / _REDUCING_GAP))
    factor_y = max(1, int(extent_height / out_height / _REDUCING_GAP))
    step = extent_height / factor_y / out_height  # rows of the reduced picture per row of "large"
    reach = math.ceil(_LANCZOS_SUPPORT * max(step, 1.0)) + 1  # rows the filter reads beyond a band's own
    reduced_height = -(-height // factor_y)
    rows = max(1, int(_BAND_PIXELS / (width * factor_y * step)))  # rows of "large" made per band
    large = Image.new("RGB", size)
    transforms: _Transforms = {}
    across: Image.Image | None = None  # rows [held, done) of the reduced picture, converted and resized across
    held = done = 0
    for top in range(0, out_height, rows):
        bottom = min(top + rows, out_height)
        first, last = top * step, bottom * step
        cut_top, cut_bottom = max(0, math.floor(first) - reach), min(reduced_height, math.ceil(last) + reach)
        if cut_bottom > done:
            # each row is converted and resized across once; the rows a band shares with the one before are
            # kept from it, since across is the costly pass (every row of the picture goes through it)
            fresh = _to_rgb(source.crop((0, done * factor_y, width, min(cut_bottom * factor_y, height))), transforms)
            if factor_x > 1 or factor_y > 1:
                fresh = fresh.reduce((factor_x, factor_y))
            fresh = fresh.resize((out_width, fresh.height), _LANCZOS, box=(0, 0, extent_width / factor_x, fresh.height))
            joined = Image.new("RGB", (out_width, cut_bottom - cut_top))
            if across is not None and cut_top < done:
                joined.paste(across.crop((0, cut_top - held, out_width, done - held)), (0, 0))
            joined.paste(fresh, (0, done - cut_top))
            across, held, done = joined, cut_top, cut_bottom
        assert across is not None
        # then down, on its own: in one resize, Pillow orders its two passes by their cost, which is not
        # the same for a band as for the whole picture, and the order shows in the rounding
        box = (0, first - held, out_width, last - held)
        large.paste(across.resize((out_width, bottom - top), _LANCZOS, box=box), (0, top))
    return large


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    """Turned as the EXIF orientation of the source says (``ImageOps.exif_transpose``'s table), with an empty
    ``info``: Pillow carries EXIF, XMP, a comment and ICC through resize and transpose, and its JPEG writer
    writes a comment or XMP it finds there, so an empty info is what makes the renditions metadata-free."""
    method = _TRANSPOSE.get(orientation)
    upright = im.transpose(method) if method is not None else im
    upright.info = {}
    return upright


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation, 1 when there is none or it cannot be read: a broken EXIF block is common in phone
    photos and no reason to refuse the pixels (the photo is then kept as it was stored)."""
    try:
        value = im.getexif().get(0x0112, 1)  # Orientation
    except Exception:  # unreadable EXIF: treated as no orientation, as viewers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(im: Image.Image, transforms: _Transforms | None = None) -> Image.Image:
    """Plain 8-bit RGB with colours kept: 16-bit grey scaled (not clipped to white), ICC profiles (Display P3
    photos, CMYK files) converted to sRGB since the profile itself is not kept, transparency over white.
    ``transforms`` keeps the colour transform for the bands of one picture, built once rather than per band."""
    if im.mode in _SIXTEEN_BIT_MODES:
        im = (im if im.mode == "I" else im.convert("I")).point(lambda v: v * (1 / 256)).convert("L")
        im.info.pop("transparency", None)  # a 16-bit colour key means nothing in 8 bits
    im = _to_srgb(im, {} if transforms is None else transforms)
    if im.has_transparency_data:
        rgba = im if im.mode == "RGBA" else im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba)  # an RGBA mask is its alpha: no copies of the picture or its alpha band
        return flat
    return im if im.mode == "RGB" else im.convert("RGB")


def _to_srgb(im: Image.Image, transforms: _Transforms) -> Image.Image:
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in _ICC_MODES:
        return im
    if im.mode not in transforms:
        try:
            transforms[im.mode] = ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                im.mode,
                "RGBA" if im.mode == "RGBA" else "RGB",
            )
        except Exception:  # a broken profile, or one that does not fit the mode: the plain conversion will do
            transforms[im.mode] = None
    transform = transforms[im.mode]
    if transform is None:
        return im
    try:
        converted = ImageCms.applyTransform(im, transform)
    except Exception:  # as above: the plain conversion will do
        return im
    return converted if converted is not None else im


# --- renditions -----------------------------------------------------------------------------------------------


def _bounded(im: Image.Image, longest: int) -> Image.Image:
    """Shrink so the longest side is at most ``longest``, keeping the aspect; never enlarge."""
    size = fitted(im.size, longest)
    if size == im.size:
        return im
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


def _encode(name: RenditionName, im: Image.Image) -> Rendition:
    buffer = io.BytesIO()
    # Nothing but pixels is passed (no exif=, icc_profile=, comment=, xmp=) and im.info is empty.
    im.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Rendition(name=name, data=buffer.getvalue(), width=im.width, height=im.height)


# --- checks ---------------------------------------------------------------------------------------------------


def _accepted_kind(data: bytes) -> Kind:
    kind = sniff(data)
    if kind == "heic":
        raise ImageRejected(
            "heic_unsupported",
            "暂不支持 HEIC 格式的照片。请在手机“设置 > 相机 > 格式”中选择“兼容性最佳”（兼容格式，JPEG）后重新拍摄，"
            "或改选 JPEG 格式的照片上传",
            {"detected": kind, "accepted": list(ACCEPTED)},
        )
    for accepted in ACCEPTED:
        if kind == accepted:
            return accepted
    raise ImageRejected(
        "media_type_unsupported", "只能上传 JPEG、PNG 或 WebP 图片", {"detected": kind, "accepted": list(ACCEPTED)}
    )


# libwebp decodes only at full size and holds the canvas twice over plus the frame: a WebP costs
# about four times what a PNG of as many pixels does (bench/README.md), so it may have a quarter of
# them (10 million by default: more than a phone's WebP; the mini-program sends JPEG anyway)
WEBP_SHARE = 4


def pixel_limit(kind: str, max_pixels: int) -> int:
    """How many pixels a picture of this kind may have, for the worker to stay within its memory."""
    return max_pixels // WEBP_SHARE if kind == "webp" else max_pixels


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise _invalid()
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels, width, height)


def _check_webp_canvas(data: bytes, kind: Kind, max_pixels: int) -> None:
    """libwebp allocates the whole canvas when Pillow merely opens a WebP, so its size is checked from the
    RIFF header first (Pillow checks too, but against the process-wide limit)."""
    if kind == "webp" and (size := _webp_canvas_size(data)) is not None:
        _check_pixels(*size, max_pixels)


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from the first chunk of a WebP file (RFC 9649), or None if it cannot be read."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit width-1 and height-1
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":  # lossy key frame: 14-bit sizes
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless: 14-bit width-1 and height-1
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _iso_media_brand(data: bytes) -> str | None:
    """HEIF (iPhone "高效" photos) or AVIF, from the ftyp box's major and compatible brands."""
    box_size = int.from_bytes(data[:4], "big")
    brands = [data[8:12]]
    end = min(box_size, len(data), 1024) if box_size >= 16 else 16
    brands += [data[i : i + 4] for i in range(16, end - 3, 4)]
    if any(brand in _HEIF_BRANDS for brand in brands):
        return "heic"
    if any(brand in _AVIF_BRANDS for brand in brands):
        return "avif"
    if brands[0] in _HEIF_GENERIC_BRANDS:
        return "heic"
    return None


def _too_large(size: int, max_bytes: int) -> ImageRejected:
    megabytes = f"{round(max_bytes / (1024 * 1024), 1):g}"
    return ImageRejected(
        "image_too_large", f"图片太大，请上传不超过 {megabytes} MB 的图片", {"max_bytes": max_bytes, "size": size}
    )


def _too_many_pixels(max_pixels: int, width: int | None = None, height: int | None = None) -> ImageRejected:
    """``width`` and ``height`` are unknown only when Pillow's own guard refused the header first."""
    details: dict[str, Any] = {"max_pixels": max_pixels}
    if width is not None and height is not None:
        details |= {"width": width, "height": height}
    megapixels = f"{round(max_pixels / 10_000, 1):g}"
    return ImageRejected(
        "image_too_many_pixels", f"图片尺寸过大（最多 {megapixels} 万像素），请缩小或裁剪后再上传", details
    )


def _invalid() -> ImageRejected:
    return ImageRejected("image_invalid", "图片已损坏或无法识别，请重新选择照片")
