"""Shares: a token for an activity or a post, its mini-program code, and counting who opens it.

The token is the mini-program code's `scene` (WeChat's codes never expire and are unlimited, so
the scene is only an opaque id the server resolves). Opening a share is counted once per viewer
per day; a booking within 7 days after is attributed to the share opened last (see
`attribution`). A post showing children, or meant for the community only, is never shown through
a share to anyone outside the community.
"""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Community, Post, Share, ShareOpen, User
from api.db.session import settings_of, storage_of
from api.db.upsert import insert_ignore
from api.errors import NotFound
from api.services.access import RANK, get_community, reader_role
from api.services.activities.browse import activity_detail, visible_activity
from api.services.feed.media import public_url
from api.services.feed.reading import row_of, seeable_post, views
from workers.outbox import enqueue

SHARE_PAGE = "pages/share/index"
TOKEN_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
TOKEN_LENGTH = 10
ENV_VERSION = {"formal": "release", "trial": "trial", "developer": "develop"}


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


async def create_share(session: AsyncSession, user: User, target: str, target_id: int) -> dict[str, Any]:
    """Share what the caller can see. Sharing the same thing again hands out the same token and
    code, so each person's share is counted as one."""
    if target == "activity":
        activity, _ = await visible_activity(session, user, target_id)
        if activity.status != "published":
            raise NotFound("activity_not_found", "活动不存在")
        community_id, activity_id, post_id = activity.community_id, activity.id, None
    else:
        post, _ = await seeable_post(session, user, target_id)
        if post.status != "visible":
            raise NotFound("post_not_found", "找不到这条动态")
        community_id, activity_id, post_id = post.community_id, None, post.id
    existing = await _existing(session, user.id, target, activity_id, post_id)
    if existing is None:
        existing = Share(
            token=new_token(),
            community_id=community_id,
            target=target,
            activity_id=activity_id,
            post_id=post_id,
            created_by=user.id,
            created_at=clock.now(),
        )
        try:
            # added inside the savepoint: begin_nested() flushes what is pending first, outside it
            async with session.begin_nested():
                session.add(existing)
                await session.flush()
        except IntegrityError:  # the same share made at the same moment (a double tap)
            existing = await _existing(session, user.id, target, activity_id, post_id)
            assert existing is not None
        else:
            await enqueue(session, "feed.share_code", {"share_id": existing.id}, dedup_key=f"share:{existing.id}:code")
    return share_view(session, existing)


async def _existing(
    session: AsyncSession, user_id: int, target: str, activity_id: int | None, post_id: int | None
) -> Share | None:
    return (
        await session.execute(
            select(Share).where(
                Share.created_by == user_id,
                Share.target == target,
                Share.activity_id == activity_id if activity_id is not None else Share.post_id == post_id,
            )
        )
    ).scalar_one_or_none()


def share_view(session: AsyncSession, share: Share) -> dict[str, Any]:
    storage = storage_of(session)
    return {
        "token": share.token,
        "target": share.target,
        "id": share.activity_id if share.target == "activity" else share.post_id,
        "path": f"{SHARE_PAGE}?t={share.token}",
        "code_url": public_url(settings_of(session).public_url, storage.url(share.code_key))
        if share.code_key
        else None,
    }


async def make_code(ctx: Any, share_id: int) -> None:
    """The mini-program code of a share, made once and kept: WeChat's call happens outside any
    transaction, the key is written after."""
    async with ctx.db.session(write=False) as reader:
        share = await reader.get(Share, share_id)
        if share is None or share.code_key is not None or ctx.wechat is None:
            return
        token = share.token
    image = await ctx.wechat.get_wxacode_unlimit(
        scene=token, page=SHARE_PAGE, env_version=ENV_VERSION[ctx.settings.wechat_miniprogram_state]
    )
    key = f"codes/{token}.png"
    await storage_of(ctx.session).put(key, image, "image/png")
    share = await ctx.session.get(Share, share_id, with_for_update=True, populate_existing=True)
    if share is not None:
        share.code_key = key
        await ctx.session.flush()


async def open_share(session: AsyncSession, user: User, token: str) -> dict[str, Any]:
    """Resolve a share for whoever opens it: counted once per viewer per day (the sharer's own
    opens are not), and answered with what the viewer may see. A community-only post (and every
    post showing children) is answered to outsiders with `members_only` and nothing of the post."""
    share = (await session.execute(select(Share).where(Share.token == token))).scalar_one_or_none()
    if share is None:
        raise NotFound("share_not_found", "这个分享已失效")
    community = await get_community(session, share.community_id)
    # a resident whose join still waits for approval is not yet shown what only residents see
    role = await reader_role(session, user, community.id)
    member = role is not None
    view: dict[str, Any] = {
        "token": share.token,
        "target": share.target,
        "community": {"id": community.id, "name": community.name},
        "is_member": member,
        "activity": None,
        "post": None,
        "members_only": False,
    }
    if share.target == "activity":
        activity = await session.get(Activity, share.activity_id)
        if activity is None or activity.status == "draft":
            raise NotFound("share_not_found", "这个分享已失效")
        # residents see it as in the app; anyone else as a visitor: what is public, and how to join
        try:
            view["activity"] = await activity_detail(session, user, activity.id)
        except NotFound as exc:  # cancelled before it was ever published
            raise NotFound("share_not_found", "这个分享已失效") from exc
    else:
        post = await session.get(Post, share.post_id)
        if post is None or post.status != "visible":
            raise NotFound("share_not_found", "这个分享已失效")
        if not member and (post.visibility != "public" or post.shows_children):
            # nothing of it is shown, not even its words; the open still counts, so that someone who
            # joins to see it is a new resident from this share
            view["members_only"] = True
            await _count(session, share, user, community, member)
            return view
        # the community's staff see it as in the feed (whom it tags among it); anyone else as a
        # resident would: tags only of their own household, so never through a share from outside
        staff = role is not None and RANK[role] >= RANK["staff"]
        (view["post"],) = await views(session, user, [await row_of(session, post.id)], staff=staff)
    await _count(session, share, user, community, member)
    return view


async def _count(session: AsyncSession, share: Share, user: User, community: Community, member: bool) -> None:
    """One open per viewer and community day; opening again that day moves its time, so the
    attribution window runs from the last time the viewer looked."""
    if share.created_by == user.id:
        return
    now = clock.now()
    day = now.astimezone(ZoneInfo(community.timezone)).date()
    counted = await insert_ignore(
        session,
        ShareOpen,
        {"share_id": share.id, "user_id": user.id, "day": day, "opened_at": now, "was_member": member},
        ["share_id", "user_id", "day"],
    )
    if not counted:
        await session.execute(
            update(ShareOpen)
            .where(ShareOpen.share_id == share.id, ShareOpen.user_id == user.id, ShareOpen.day == day)
            .values(opened_at=now)
            .execution_options(synchronize_session=False)
        )
