"""The in-app inbox: every notification lands here at once, whatever happens to its push."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Notification, User
from api.errors import NotFound
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.notifications import announcements


def _visible(user: User) -> Any:
    return (Notification.user_id == user.id) & Notification.retracted_at.is_(None)


def entry_view(entry: Notification) -> dict[str, Any]:
    return {
        "id": entry.id,
        "community_id": entry.community_id,
        "kind": entry.kind,
        "title": entry.title,
        "body": entry.body,
        "page": entry.page,
        "created_at": entry.created_at,
        "read_at": entry.read_at,
    }


async def list_inbox(
    session: AsyncSession,
    user: User,
    *,
    cursor: str | None,
    limit: int,
    unread_only: bool,
    community_id: int | None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """The caller's entries, newest first, and how many are unread (in all communities)."""
    query = select(Notification).where(_visible(user)).order_by(Notification.id.desc()).limit(limit + 1)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if community_id is not None:
        query = query.where(Notification.community_id == community_id)
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        query = query.where(Notification.id < cursor_int(before))
    entries = list((await session.execute(query)).scalars())
    unread = (
        await session.execute(select(func.count()).where(_visible(user), Notification.read_at.is_(None)))
    ).scalar_one()
    next_cursor = encode_cursor(entries[limit - 1].id) if len(entries) > limit else None
    return [entry_view(e) for e in entries[:limit]], next_cursor, int(unread)


async def mark_read(session: AsyncSession, user: User, notification_id: int) -> Notification:
    """Mark one of the caller's entries read (again is harmless); reading an announcement's entry
    counts as reading the announcement."""
    entry = await session.get(Notification, notification_id)
    if entry is None or entry.user_id != user.id or entry.retracted_at is not None:
        raise NotFound("notification_not_found", "找不到该消息")
    if entry.read_at is None:
        entry.read_at = clock.now()
        await session.flush()
    if entry.kind == "announcement":
        await announcements.record_read(session, user.id, int(entry.params["announcement_id"]))
    return entry


async def mark_all_read(session: AsyncSession, user: User) -> int:
    """Mark every unread entry of the caller read; returns how many."""
    unread = select(Notification.kind, Notification.params).where(_visible(user), Notification.read_at.is_(None))
    announcement_ids = {
        int(params["announcement_id"])
        for kind, params in (await session.execute(unread)).all()
        if kind == "announcement"
    }
    result = await session.execute(
        update(Notification)
        .where(_visible(user), Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    for announcement_id in sorted(announcement_ids):
        await announcements.record_read(session, user.id, announcement_id)
    return int(getattr(result, "rowcount", 0) or 0)
