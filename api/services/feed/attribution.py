"""Which share brought someone, within the window after they opened it:

- a booking, to the share they opened last among those of the booked activity and of the posts
  about it (its album): a share of something else did not bring this booking, however recently
  it was opened;
- a new resident, to the last share of the community they opened before they were one.

One indexed lookup each; a booking batch reads its callers' in the batch's read statement
(`booking_opens`, on PostgreSQL with the rest the rules need)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Post, Share, ShareOpen

ATTRIBUTION_WINDOW = timedelta(days=7)


def _last_open(user_id: int, *which: ColumnElement[bool]) -> Select[int]:
    """The share among `which` that `user_id` opened last within the window."""
    return (
        select(ShareOpen.share_id)
        .join(Share, Share.id == ShareOpen.share_id)
        .where(ShareOpen.user_id == user_id, ShareOpen.opened_at >= clock.now() - ATTRIBUTION_WINDOW, *which)
        .order_by(ShareOpen.opened_at.desc(), ShareOpen.id.desc())
        .limit(1)
    )


def booking_opens(
    users: ColumnElement[bool], activity_id: int | ColumnElement[int], since: datetime | ColumnElement[datetime]
) -> Select[int, int, datetime, int]:
    """The opens since `since` (the window's start), by the users that `users` selects (a
    condition on `ShareOpen.user_id`), of shares of the activity and of the posts about it; the
    last opened first: for each user, the first of theirs is the share that brought the booking."""
    about = select(Post.id).where(Post.activity_id == activity_id)
    return (
        select(ShareOpen.user_id, ShareOpen.share_id, ShareOpen.opened_at, ShareOpen.id)
        .join(Share, Share.id == ShareOpen.share_id)
        .where(
            users,
            ShareOpen.opened_at >= since,
            or_(Share.activity_id == activity_id, Share.post_id.in_(about)),
        )
        .order_by(ShareOpen.opened_at.desc(), ShareOpen.id.desc())
    )


async def last_share_opened(
    session: AsyncSession, user_id: int, community_id: int, *, as_outsider: bool = False
) -> int | None:
    """The share of `community_id` that `user_id` opened last within the window (with
    `as_outsider`, only one opened before they were a resident): what brought a new resident."""
    query = _last_open(user_id, Share.community_id == community_id)
    if as_outsider:
        query = query.where(ShareOpen.was_member.is_(False))
    return (await session.execute(query)).scalar_one_or_none()
