"""What staff see of WeChat pushes: who was (or, in fake mode, would have been) sent what, and
how each attempt went — the answer to "why did Mrs Chen get no message?"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Delivery, DeliveryAttempt, Notification, User
from api.errors import NotFound
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.access import require_staff


def _view(delivery: Delivery, notification: Notification, display_name: str) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "notification_id": notification.id,
        "kind": notification.kind,
        "cause_key": notification.cause_key,
        "title": notification.title,
        "recipient": {"user_id": delivery.user_id, "display_name": display_name},
        "template_id": delivery.template_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "errcode": delivery.errcode,
        "error": delivery.error,
        # the resident's openid stays on the server: staff need what was said, not the account id
        "request": {k: v for k, v in delivery.request.items() if k != "touser"} if delivery.request else None,
        "created_at": delivery.created_at,
        "sent_at": delivery.sent_at,
    }


def _query() -> Any:
    return (
        select(Delivery, Notification, User.display_name)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(User, User.id == Delivery.user_id)
    )


async def list_deliveries(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    status: str | None,
    cause_key: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Staff: the community's pushes, newest first, by status or cause."""
    await require_staff(session, user, community_id)
    query = _query().where(Delivery.community_id == community_id).order_by(Delivery.id.desc()).limit(limit + 1)
    if status:
        query = query.where(Delivery.status == status)
    if cause_key:
        query = query.where(Notification.cause_key == cause_key)
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        query = query.where(Delivery.id < cursor_int(before))
    rows = (await session.execute(query)).all()
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return [_view(*row) for row in rows[:limit]], next_cursor


async def get_delivery(session: AsyncSession, user: User, delivery_id: int) -> dict[str, Any]:
    """Staff: one push with every attempt."""
    row = (await session.execute(_query().where(Delivery.id == delivery_id))).first()
    if row is None:
        raise NotFound("delivery_not_found", "找不到该推送记录")
    await require_staff(session, user, row[0].community_id)
    attempts = await session.execute(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
    )
    return {
        **_view(*row),
        "attempt_log": [
            {"attempted_at": a.attempted_at, "outcome": a.outcome, "errcode": a.errcode, "errmsg": a.errmsg}
            for a in attempts.scalars()
        ],
    }
