"""Which share brought someone: the last share of the community they opened within the window
before booking (a booking from a share) or before joining as a resident (a new resident from a
share). Read before any lock: one indexed lookup."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Share, ShareOpen

ATTRIBUTION_WINDOW = timedelta(days=7)


async def last_share_opened(
    session: AsyncSession, user_id: int, community_id: int, *, as_outsider: bool = False
) -> int | None:
    """The share of `community_id` that `user_id` opened last within the window (with
    `as_outsider`, only one opened before they were a resident)."""
    query = (
        select(ShareOpen.share_id)
        .join(Share, Share.id == ShareOpen.share_id)
        .where(
            ShareOpen.user_id == user_id,
            ShareOpen.opened_at >= clock.now() - ATTRIBUTION_WINDOW,
            Share.community_id == community_id,
        )
        .order_by(ShareOpen.opened_at.desc(), ShareOpen.id.desc())
        .limit(1)
    )
    if as_outsider:
        query = query.where(ShareOpen.was_member.is_(False))
    return (await session.execute(query)).scalar_one_or_none()
