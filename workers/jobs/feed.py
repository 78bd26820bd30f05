"""Feed jobs: photos' renditions and checks, text checks, share codes, albums after activities,
and in fake mode the fake WeChat's pushes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.db.session import storage_of
from api.services.feed import callback, comeback, media, posts, shares
from workers.registry import job
from workers.runner import JobContext


@job("feed.process_media")
async def process_media(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Renditions without metadata, then WeChat's image check (residents' photos)."""
    await media.process(ctx, int(payload["media_id"]))


@job("feed.drop_upload")
async def drop_upload(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The upload as it came (EXIF and all) is deleted once its renditions are committed."""
    await storage_of(ctx.session).delete(str(payload["key"]))


@job("feed.drop_renditions")
async def drop_renditions(ctx: JobContext, payload: dict[str, Any]) -> None:
    """A photo WeChat found risky: its files go, so links already handed out stop working."""
    await media.drop_renditions(ctx.session, str(payload["key"]))


@job("feed.sweep_uploads", every=timedelta(hours=6))
async def sweep_uploads(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Uploads left behind by a request that failed after storing them."""
    await media.sweep_uploads(ctx.session)


@job("feed.late_verdict")
async def late_verdict(ctx: JobContext, payload: dict[str, Any]) -> None:
    """An image verdict that arrived before its trace id was recorded."""
    await callback.late_verdict(ctx.session, payload)


@job("feed.check_text")
async def check_text(ctx: JobContext, payload: dict[str, Any]) -> None:
    await posts.check_text(ctx, str(payload["kind"]), int(payload["id"]))


@job("feed.share_code")
async def share_code(ctx: JobContext, payload: dict[str, Any]) -> None:
    await shares.make_code(ctx, int(payload["share_id"]))


@job("feed.send_albums", every=timedelta(minutes=10))
async def send_albums(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """A day after an activity, its attendees get the album and the next session."""
    await comeback.send_albums(ctx.session)


@job("feed.fake_pushes", every=timedelta(seconds=30))
async def fake_pushes(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Fake mode only: the fake WeChat's image verdicts arrive as WeChat would push them."""
    if ctx.settings.wechat_mode == "fake":
        await callback.deliver_fake_pushes(ctx)
