"""Photos: the upload, the worker's renditions, WeChat's image check and its verdict.

The upload request only checks what is cheap and certain — the size, the type from the bytes, the
pixel count from the header — and keeps the bytes as they came under an `incoming/` key that is
never served. The worker decodes them (with a bomb guard), applies the orientation, drops every
piece of metadata (GPS above all) and stores three renditions; only then is the upload deleted.
A resident's photo is then sent to WeChat's asynchronous image check and stays visible to its
author and staff only until the verdict arrives by message push; staff photos need no check.
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, metrics
from api.config import Settings
from api.db.models import ConcernMedia, Media, PollParticipation, PostMedia, User
from api.db.session import settings_of, storage_of
from api.errors import AppError, Conflict, NotFound, TooManyRequests, Unprocessable
from api.media import images
from api.media.storage import LocalStorage, Storage
from api.services.access import RANK, is_staff, require_reader, role_in
from api.services.activities.common import community_tz
from api.services.feed.checks import settle
from api.services.governance.concern_checks import settle_concerns_of
from workers.outbox import enqueue

RENDITIONS = ("large", "feed", "thumb")
IMAGE_SCENE = 4  # WeChat's "social log" scene: posts and albums
FAKE_MODE_BASE_URL = "http://localhost:8000"  # fake mode without LINLI_PUBLIC_URL (development)


def rendition_key(media: Media, name: str) -> str:
    return f"{media.key}/{name}.jpg"


async def upload(
    session: AsyncSession, user: User, community_id: int, data: bytes, declared_type: str | None
) -> dict[str, Any]:
    """Keep an upload for the worker: refused unless the bytes are a JPEG, PNG or WebP within the
    size and pixel limits (whatever the file is called or claims to be), and once the uploader has
    reached their number of uploads in the window (see `_within_upload_rate`)."""
    await require_reader(session, user, community_id)
    settings = settings_of(session)
    await _within_upload_rate(session, user, community_id, settings)
    try:
        found = images.inspect(data, max_bytes=settings.media_max_bytes, max_pixels=settings.media_max_pixels)
    except images.ImageRejected as exc:
        status = 413 if exc.code == "image_too_large" else 415 if exc.code.endswith("unsupported") else 422
        raise AppError(exc.code, exc.message, details=exc.details, status=status) from exc
    now = clock.now()
    stamp = f"{now:%Y%m}"
    key = f"media/{community_id}/{stamp}/{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'y')}"
    incoming = f"incoming/{stamp}/{secrets.token_hex(16)}"
    await storage_of(session).put(incoming, data, f"image/{found.kind}")
    media = Media(
        community_id=community_id,
        uploaded_by=user.id,
        status="processing",
        kind=found.kind,
        size_bytes=len(data),
        width=found.width,
        height=found.height,
        key=key,
        incoming_key=incoming,
    )
    session.add(media)
    await session.flush()
    await enqueue(session, "feed.process_media", {"media_id": media.id}, dedup_key=f"media:{media.id}:process")
    return await media_view(session, media, owner=True)


async def _within_upload_rate(session: AsyncSession, user: User, community_id: int, settings: Settings) -> None:
    """At most `media_uploads_per_window` uploads per person in any `media_upload_window_seconds`
    (sliding), counted from their photo rows, whatever became of them; over it: 429
    too_many_uploads, with when the oldest upload counted leaves the window (Retry-After, and the
    time in the community's time zone). Checked before the bytes are looked at or stored.

    Uploads by one person at once are counted one after another: the person's row is locked for the
    rest of the upload's transaction (on SQLite the writer's transaction already is the lock), so
    two requests cannot both count 29 and both store a 30th."""
    limit, window = settings.media_uploads_per_window, timedelta(seconds=settings.media_upload_window_seconds)
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    now = clock.now()
    recent = (
        (
            await session.execute(
                select(Media.created_at)
                .where(Media.uploaded_by == user.id, Media.created_at > now - window)
                .order_by(Media.created_at.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if len(recent) < limit:
        return
    free_at = recent[-1] + window  # the oldest of the last `limit` uploads is out of the window then
    wait = max(1, math.ceil((free_at - now).total_seconds()))
    raise TooManyRequests(
        "too_many_uploads",
        f"上传太频繁，请在 {_local_minute(free_at, now, await community_tz(session, community_id))} 后再试",
        details={
            "limit": limit,
            "window_seconds": settings.media_upload_window_seconds,
            "retry_at": free_at,  # written in the community's offset, like every time
        },
        headers={"Retry-After": str(wait)},
    )


def _local_minute(at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """`at` as residents read a time, rounded up to the minute (at 14:35 they may; at 14:34 perhaps
    not yet), with 明天 if that is another day where they live."""
    local = at.astimezone(tz)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = "明天 " if local.date() != now.astimezone(tz).date() else ""
    return f"{day}{local:%H:%M}"


async def media_view(session: AsyncSession, media: Media, *, owner: bool) -> dict[str, Any]:
    """A photo as its viewer gets it: time-limited URLs of the renditions once they exist; the
    verdict and any error only for its uploader and staff."""
    ready = media.status in ("checking", "approved", "review")
    storage = storage_of(session)
    settings = settings_of(session)
    urls = {name: public_url(settings.public_url, storage.url(rendition_key(media, name))) for name in RENDITIONS}
    view: dict[str, Any] = {
        "id": media.id,
        "width": media.width,
        "height": media.height,
        "urls": urls if ready else None,
    }
    if owner:
        view.update(status=media.status, error=media.error)
    return view


def photo_view(session: AsyncSession, media: Any, sizes: tuple[str, ...], privileged: bool) -> dict[str, Any]:
    """A photo in a post or a concern (`media`: a Media, or a row with its id, width, height, status
    and key): links to `sizes` only once WeChat (or staff) approved it; its author and staff
    (`privileged`) also see it while it is being checked."""
    storage = storage_of(session)
    base = settings_of(session).public_url
    ready = media.status == "approved" or (privileged and media.status in ("checking", "review"))
    return {
        "id": media.id,
        "width": media.width,
        "height": media.height,
        "urls": {s: public_url(base, storage.url(rendition_key(media, s))) for s in sizes} if ready else None,
    }


async def claim_photos(session: AsyncSession, user: User, community_id: int, media_ids: list[int]) -> list[Media]:
    """The photos a post or a concern is about to use, locked, in `media_ids`' order: each once, the
    user's own uploads of this community, not refused or unreadable, and in no post or concern yet
    (a photo belongs to one). Locked so that a verdict or the worker finishing a photo now waits for
    the new post's or concern's rows to commit and then settles it (without the lock each side
    could miss the other), and a second post or concern taking the same photo waits and then finds
    it used."""
    if len(set(media_ids)) != len(media_ids):
        raise Unprocessable("media_repeated", "同一张照片只能用一次")
    photos = list(
        (
            await session.execute(select(Media).where(Media.id.in_(media_ids)).order_by(Media.id).with_for_update())
        ).scalars()
    )
    by_id = {m.id: m for m in photos}
    for media_id in media_ids:
        media = by_id.get(media_id)
        if media is None or media.uploaded_by != user.id or media.community_id != community_id:
            raise Unprocessable("media_not_found", "只能用自己在本社区上传的照片", details={"media_id": media_id})
        if media.status in ("failed", "rejected"):
            raise Unprocessable("media_unusable", "这张照片无法使用", details={"media_id": media_id})
    ever_used: Any = union_all(
        select(PostMedia.media_id).where(PostMedia.media_id.in_(media_ids)),
        select(ConcernMedia.media_id).where(ConcernMedia.media_id.in_(media_ids)),
        # a photo of a paper ballot or a proxy's authorisation stays with staff (votes.voting)
        select(PollParticipation.photo_media_id).where(PollParticipation.photo_media_id.in_(media_ids)),
    ).limit(1)
    used = (await session.execute(ever_used)).scalar_one_or_none()
    if used is not None:
        raise Conflict("media_in_use", "这张照片已经用过了", details={"media_id": used})
    return [by_id[m] for m in media_ids]


def public_url(base: str, url: str) -> str:
    """Storage URLs of the local store are paths of this API: made absolute with LINLI_PUBLIC_URL."""
    return f"{base.rstrip('/')}{url}" if url.startswith("/") and base else url


async def served_file(storage: Storage | None, key: str, exp: int, sig: str) -> tuple[bytes, str, int]:
    """A file of the local store behind a signed link: its bytes, type, and the seconds the link
    has left. Uploads as they came (EXIF and all) are never served, whatever signature comes along."""
    if key.startswith("incoming/") or not isinstance(storage, LocalStorage) or not storage.verify_url(key, exp, sig):
        raise NotFound("file_not_found", "链接已过期或不存在")
    data = await storage.get(key)
    if data is None:
        raise NotFound("file_not_found", "链接已过期或不存在")
    left = max(int(exp - clock.now().timestamp()), 0)
    return data, "image/png" if key.endswith(".png") else "image/jpeg", left


async def get_media(session: AsyncSession, user: User, media_id: int) -> dict[str, Any]:
    """Its uploader and the community's staff see a photo before it is in a visible post."""
    media = await session.get(Media, media_id)
    role = await role_in(session, user, media.community_id) if media is not None else None
    if media is None or role is None or (media.uploaded_by != user.id and RANK[role] < RANK["staff"]):
        raise NotFound("media_not_found", "找不到这张照片")
    return await media_view(session, media, owner=True)


# -- the worker ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Work:
    media_id: int
    incoming_key: str
    key: str
    community_id: int
    uploader_openid: str | None
    by_staff: bool


async def _work_of(session: AsyncSession, media_id: int) -> _Work | None:
    media = await session.get(Media, media_id)
    if media is None or media.status != "processing" or media.incoming_key is None:
        return None  # done already (a job that ran twice), or the photo is gone
    uploader = await session.get(User, media.uploaded_by) if media.uploaded_by else None
    return _Work(
        media.id,
        media.incoming_key,
        media.key,
        media.community_id,
        uploader.openid if uploader is not None else None,
        uploader is not None and await is_staff(session, uploader, media.community_id),
    )


async def process(ctx: Any, media_id: int) -> None:
    """Make the renditions and start the image check. Nothing is held open while the image is
    decoded or WeChat answers: what is needed is read first, the result written last."""
    async with ctx.db.session(write=False) as reader:
        work = await _work_of(reader, media_id)
    if work is None:
        return
    storage = storage_of(ctx.session)
    renditions = await _renditions(ctx, work)
    trace_id: str | None = None
    if isinstance(renditions, str):
        status, error = "failed", renditions
    else:
        for rendition in renditions:
            await storage.put(f"{work.key}/{rendition.name}.jpg", rendition.data, rendition.content_type)
        status, error = "approved" if work.by_staff else "checking", None
        if not work.by_staff:
            status, trace_id, error = await _start_check(ctx, work)
    media = await ctx.session.get(Media, media_id, with_for_update=True, populate_existing=True)
    if media is None or media.status != "processing":
        return
    media.status = status
    media.error = error
    media.trace_id = trace_id
    media.incoming_key = None
    if status == "approved":
        media.verdict = "pass"
    await ctx.session.flush()
    await enqueue(ctx.session, "feed.drop_upload", {"key": work.incoming_key}, dedup_key=f"media:{media.id}:drop")
    await settle_posts_of(ctx.session, [media.id])


async def _renditions(ctx: Any, work: _Work) -> list[images.Rendition] | str:
    """The upload's renditions, or why there are none, made once one of the process's decode slots
    is free (`decode_slots`). A job waiting for a slot holds nothing but ids, not even the upload's
    bytes, which are read only when its turn comes; the wait is no failure and costs no attempt."""
    limit = ctx.settings.media_decode_concurrency
    async with decode_slots(limit):
        data = await storage_of(ctx.session).get(work.incoming_key)
        if data is None:
            return "upload_missing"
        decode = functools.partial(images.process, data, max_pixels=ctx.settings.media_max_pixels)
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(_decode_threads(limit), decode)
        except images.ImageRejected as exc:
            return exc.code
        finally:
            metrics.PHOTO_SECONDS.observe(time.perf_counter() - started)


def decode_slots(limit: int) -> asyncio.Semaphore:
    """At most `limit` photos decoded at once in this process, however many jobs the worker runs side
    by side (LINLI_WORKER_CONCURRENCY): a photo near the pixel limit holds ~180 MB while it is
    decoded (a PNG has no smaller decode), and four at once took a worker from 96 MB to 1 GB.

    One semaphore per event loop and limit, which in a worker or an API process (with its embedded
    worker) is one per process: an asyncio semaphore belongs to one loop, and tests run several."""
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    if limit not in per_loop:
        per_loop[limit] = asyncio.Semaphore(limit)
    return per_loop[limit]


def _decode_threads(limit: int) -> ThreadPoolExecutor:
    """The process's `limit` decoding threads. Always the same few threads rather than any of the
    default executor's: glibc gives each thread its own malloc arena and keeps what a decode freed
    there for that thread, so decodes moving from thread to thread left ~160 MB behind in each (one
    decode at a time still peaked at 548 MB; on their own threads, 295 MB). They also hold the bound
    when a job is cancelled mid-decode: its slot is freed, but its thread stays busy until done."""
    with _threads_lock:
        if limit not in _threads:
            _threads[limit] = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="linli-decode")
        return _threads[limit]


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = weakref.WeakKeyDictionary()
_threads: dict[int, ThreadPoolExecutor] = {}
_threads_lock = threading.Lock()


async def _start_check(ctx: Any, work: _Work) -> tuple[str, str | None, str | None]:
    """Ask WeChat to check the photo (feed size: what others will see). A WeChat refusal sends the
    photo to staff; WeChat being away is retried by the job."""
    from api.wechat.client import WeChatError

    if ctx.wechat is None or work.uploader_openid is None:
        return "review", None, "no_check"
    storage = storage_of(ctx.session)
    base = ctx.settings.public_url
    if not base and ctx.settings.wechat_mode == "fake":
        # the fake never downloads the photo but, like WeChat, takes only absolute URLs: without a base
        # every development photo went to staff review (47001) instead of the configured fake verdict
        base = FAKE_MODE_BASE_URL
    url = public_url(
        base,
        storage.url(f"{work.key}/feed.jpg", ttl_seconds=max(ctx.settings.media_url_ttl_seconds, 3600)),
    )
    try:
        trace_id = await ctx.wechat.media_check_async(openid=work.uploader_openid, media_url=url, scene=IMAGE_SCENE)
    except WeChatError as exc:
        return "review", None, f"wechat_{exc.errcode}"
    return "checking", trace_id, None


async def apply_verdict(session: AsyncSession, trace_id: str, suggest: str, label: int | None) -> str:
    """WeChat's verdict on a photo (pass / review / risky): "applied"; "repeat" for a verdict
    already applied (WeChat repeats pushes), which changes nothing; "unknown" for a trace id not
    (yet) recorded."""
    media = (
        await session.execute(select(Media).where(Media.trace_id == trace_id).with_for_update())
    ).scalar_one_or_none()
    if media is None:
        return "unknown"
    if media.verdict is not None or media.status != "checking":
        return "repeat"
    media.verdict = suggest if suggest in ("pass", "review", "risky") else "review"
    media.label = label
    media.status = {"pass": "approved", "review": "review", "risky": "rejected"}[media.verdict]
    await session.flush()
    if media.status == "rejected":  # a refused photo is not kept, nor its links left working
        await enqueue(session, "feed.drop_renditions", {"key": media.key}, dedup_key=f"media:{media.id}:drop-files")
    await settle_posts_of(session, [media.id])
    return "applied"


async def drop_renditions(session: AsyncSession, key: str) -> None:
    storage = storage_of(session)
    for name in RENDITIONS:
        await storage.delete(f"{key}/{name}.jpg")


async def settle_posts_of(session: AsyncSession, media_ids: list[int]) -> None:
    post_ids = (
        await session.execute(select(PostMedia.post_id).where(PostMedia.media_id.in_(media_ids)).distinct())
    ).scalars()
    for post_id in sorted(post_ids):
        await settle(session, post_id)
    await settle_concerns_of(session, media_ids)  # photos of concerns settle them too


UPLOAD_KEPT = timedelta(days=2)


async def sweep_uploads(session: AsyncSession) -> int:
    """Uploads as they came (EXIF, GPS and all) that no photo waits for any more: left behind when
    the request that stored one failed before it committed. The local store is swept here; an S3
    bucket gets a lifecycle rule on `incoming/` (README). Returns how many were deleted."""
    storage = storage_of(session)
    if not isinstance(storage, LocalStorage):
        return 0
    old = await storage.keys_older_than("incoming/", clock.now() - UPLOAD_KEPT)
    if not old:
        return 0
    waiting = set(
        (
            await session.execute(
                select(Media.incoming_key).where(Media.incoming_key.in_(old), Media.status == "processing")
            )
        ).scalars()
    )
    gone = [key for key in old if key not in waiting]
    for key in gone:
        await storage.delete(key)
    return len(gone)
