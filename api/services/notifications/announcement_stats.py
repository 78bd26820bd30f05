"""What staff read about one announcement beyond its words: readers day by day since it came
out, the counts per channel (inbox, WeChat pushes by state), each push with its last error in
plain words, what withdrawing it would retract (and, after, what it did), and the inbox entry as
a resident sees it."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Announcement, AnnouncementReadMark, Community, Delivery, Notification, User
from api.db.models.notifications import DELIVERY_STATUSES
from api.db.session import settings_of
from api.errors import NotFound
from api.services.access import get_community, require_staff
from api.services.notifications import catalogue, deliveries
from api.services.notifications.announcements import cause_key, inbox_params, status_of
from api.services.notifications.push_errors import STATUS_LABELS, explain

CHART_DAYS = 14  # days since publishing drawn one bar each; later reads share the last bar


async def community_announcement(
    session: AsyncSession, user: User, community_id: int, announcement_id: int
) -> Announcement:
    """The announcement, if it is this community's and the caller its staff (else 404 / 403)."""
    await require_staff(session, user, community_id)
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None or announcement.community_id != community_id:
        raise NotFound("announcement_not_found", "找不到该公告")
    return announcement


async def reads_by_day(session: AsyncSession, user: User, community_id: int, announcement_id: int) -> dict[str, Any]:
    """Readers per local day since publishing (day 1 is the day it came out), up to today; those
    after CHART_DAYS days share the last row. Empty before it is published."""
    announcement = await community_announcement(session, user, community_id, announcement_id)
    tz = ZoneInfo((await get_community(session, community_id)).timezone)
    now = clock.now()
    if announcement.publish_at > now:
        return {"days": [], "total": 0}
    first = announcement.publish_at.astimezone(tz).date()
    last = now.astimezone(tz).date()
    reads = await session.execute(
        select(AnnouncementReadMark.read_at).where(AnnouncementReadMark.announcement_id == announcement_id)
    )
    per_day: Counter[date] = Counter(at.astimezone(tz).date() for at in reads.scalars())
    span = min((last - first).days + 1, CHART_DAYS + 1)
    days: list[dict[str, Any]] = []
    total = 0
    for n in range(span):
        day = first + timedelta(days=n)
        later = n == CHART_DAYS
        count = sum(c for d, c in per_day.items() if d >= day) if later else per_day.get(day, 0)
        total += count
        days.append({"day": day, "n": n + 1, "later": later, "reads": count, "cumulative": total})
    return {"days": days, "total": total}


def channels(stats: dict[str, Any]) -> dict[str, int]:
    """An announcement's stats (the staff view's) per channel: inbox entries and readers, WeChat
    pushes sent, failed (refused or no grant left), waiting (to send or sending), stopped."""
    wechat = stats["wechat"]
    return {
        "inbox": stats["inbox"],
        "read": stats["read"],
        "sent": wechat.get("sent", 0),
        "failed": wechat.get("failed", 0) + wechat.get("no_credit", 0),
        "no_credit": wechat.get("no_credit", 0),
        "waiting": wechat.get("pending", 0) + wechat.get("sending", 0),
        "cancelled": wechat.get("cancelled", 0),
        "pushes": sum(wechat.values()),
    }


async def delivery_log(
    session: AsyncSession, user: User, community_id: int, announcement_id: int, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The announcement's pushes, newest first (the staff's deliveries of its cause), each with its
    state and last WeChat error in words."""
    await community_announcement(session, user, community_id, announcement_id)
    items, next_cursor = await deliveries.list_deliveries(
        session, user, community_id, status=None, cause_key=cause_key(announcement_id), cursor=cursor, limit=limit
    )
    for item in items:
        item["status_label"] = STATUS_LABELS.get(item["status"], item["status"])
        item["error_words"] = explain(item["status"], item["errcode"], item["error"])
    return items, next_cursor


async def retraction(session: AsyncSession, user: User, community_id: int, announcement_id: int) -> dict[str, Any]:
    """What withdrawing touches: inbox entries still shown (to hide) and hidden, and pushes by
    state: those waiting are stopped, one being sent cannot be, those sent stay on phones."""
    announcement = await community_announcement(session, user, community_id, announcement_id)
    cause = cause_key(announcement_id)
    entries = await session.execute(
        select(Notification.retracted_at.is_(None), func.count())
        .where(Notification.cause_key == cause)
        .group_by(Notification.retracted_at.is_(None))
    )
    shown = hidden = 0
    for visible, count in entries.all():
        if visible:
            shown += int(count)
        else:
            hidden += int(count)
    pushes = dict.fromkeys(DELIVERY_STATUSES, 0)
    rows = await session.execute(
        select(Delivery.status, func.count())
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Notification.cause_key == cause)
        .group_by(Delivery.status)
    )
    for status, count in rows.all():
        pushes[status] = int(count)
    return {
        "status": status_of(announcement, clock.now()),
        "withdrawn_at": announcement.withdrawn_at,
        "inbox_shown": shown,
        "inbox_hidden": hidden,
        "pushes": pushes,
    }


def preview_entry(announcement: Announcement, community: Community, settings: Any) -> dict[str, Any]:
    """The inbox entry a resident gets, made as the fan-out makes it (the catalogue's
    "announcement" filled with the announcement's params), and the WeChat message's fields."""
    spec = catalogue.kind("announcement")
    rendered = catalogue.render_params(inbox_params(announcement, community), ZoneInfo(community.timezone))
    entry = {
        "title": catalogue.fill(spec.title, rendered),
        "body": catalogue.fill(spec.body, rendered),
        "page": catalogue.fill(spec.page, rendered),
        "created_at": announcement.publish_at,
        "wechat": None,
    }
    template = catalogue.template_for(settings, "announcement")
    if template is not None:
        data = catalogue.message_data(template, rendered)
        entry["wechat"] = [value["value"] for value in data.values()]
    return entry


async def inbox_preview(session: AsyncSession, user: User, community_id: int, announcement_id: int) -> dict[str, Any]:
    """What a resident will see of the announcement in the mini-program's inbox."""
    announcement = await community_announcement(session, user, community_id, announcement_id)
    return preview_entry(announcement, await get_community(session, community_id), settings_of(session))


async def draft_preview(
    session: AsyncSession, user: User, community_id: int, title: str, body: str, publish_at: datetime | None
) -> dict[str, Any]:
    """The inbox entry of words not yet saved (the compose page's preview)."""
    await require_staff(session, user, community_id)
    draft = Announcement(
        community_id=community_id, title=title, body=body, publish_at=max(publish_at or clock.now(), clock.now())
    )
    return preview_entry(draft, await get_community(session, community_id), settings_of(session))
