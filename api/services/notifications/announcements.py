"""Staff announcements (通知公告): to the whole community, chosen buildings, households with
children of an age range, a volunteer team, or the households booked for an activity; now or at a
set time; pinned or not.

An announcement is published once its `publish_at` has passed and until it is withdrawn; nothing
else marks the state. Residents list what is published and addressed to them, judged against
their household as it is now, so a family that moved in last week still sees last month's notice
to its building. The inbox entries and WeChat pushes go to the audience as it was at publishing:
the worker fans out in batches (`fan_out`), never the request. Editing a published announcement
keeps the earlier words as a revision; withdrawing hides it, its inbox entries and the pushes
that have not gone out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, cast, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api import clock
from api.db.models import (
    Announcement,
    AnnouncementReadMark,
    AnnouncementRevision,
    Community,
    Delivery,
    Notification,
    User,
)
from api.db.models.notifications import DELIVERY_STATUSES
from api.db.session import Database
from api.db.upsert import insert_ignore
from api.errors import Conflict, NotFound
from api.pagination import cursor_int, cursor_time, decode_cursor, encode_cursor
from api.services.access import require_staff, role_in
from api.services.notifications import core
from api.services.notifications.announcement_audience import Reader, _apply_audience, _recipients, reader
from workers import outbox

FANOUT_JOB = "announcements.fanout"
EXCERPT_LENGTH = 60


CAUSE_PREFIX = "announcement:"


def cause_key(announcement_id: int) -> str:
    return f"{CAUSE_PREFIX}{announcement_id}"


def announcement_of(cause: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[int]:
    """The announcement id of a `cause_key` column, in SQL (for rows known to be announcements')."""
    return cast(func.substr(cause, len(CAUSE_PREFIX) + 1), BigInteger)


def _fanout_key(announcement_id: int) -> str:
    return f"announcement:{announcement_id}:fanout"


def excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_LENGTH else flat[: EXCERPT_LENGTH - 1] + "…"


def status_of(announcement: Announcement, now: datetime) -> str:
    if announcement.withdrawn_at is not None:
        return "withdrawn"
    return "published" if announcement.publish_at <= now else "scheduled"


def _published_now() -> ColumnElement[bool]:
    return and_(Announcement.publish_at <= clock.now(), Announcement.withdrawn_at.is_(None))


# -- staff: write --------------------------------------------------------------------------------


async def _schedule_fanout(session: AsyncSession, announcement: Announcement) -> None:
    await outbox.enqueue(
        session,
        FANOUT_JOB,
        {"announcement_id": announcement.id},
        run_at=announcement.publish_at,
        dedup_key=_fanout_key(announcement.id),
    )


async def create(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff write an announcement; it goes out at `publish_at` (now when absent or past)."""
    await require_staff(session, user, community_id)
    now = clock.now()
    publish_at = data.get("publish_at") or now
    announcement = Announcement(
        community_id=community_id,
        author_id=user.id,
        title=data["title"].strip(),
        body=data["body"].strip(),
        pinned=data.get("pinned", False),
        publish_at=max(publish_at, now),
        audience={},
        audience_kind="community",
    )
    session.add(announcement)
    await session.flush()
    await _apply_audience(session, announcement, data["audience"])
    await _schedule_fanout(session, announcement)
    return await staff_view(session, announcement)


async def _for_staff(session: AsyncSession, user: User, announcement_id: int) -> Announcement:
    """The announcement, locked: a change waits for a fan-out batch in flight (which holds it FOR
    SHARE), and a fan-out starting now waits for the change, so "scheduled" or "published" as
    judged here stays true until the change commits."""
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound("announcement_not_found", "找不到该公告")
    await require_staff(session, user, announcement.community_id)
    locked = await session.execute(
        select(Announcement)
        .where(Announcement.id == announcement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return locked.scalar_one()


async def update_announcement(
    session: AsyncSession, user: User, announcement_id: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """Staff edit. Before publishing anything may change; after, only the words and the pin, and
    the earlier words are kept as a revision."""
    announcement = await _for_staff(session, user, announcement_id)
    now = clock.now()
    status = status_of(announcement, now)
    if status == "withdrawn":
        raise Conflict("announcement_withdrawn", "公告已撤回，不能再修改")
    if status == "published" and ({"audience", "publish_at"} & fields.keys()):
        raise Conflict("announcement_published", "公告已发布，不能再修改发送对象或发布时间")
    words = {k: v.strip() for k, v in fields.items() if k in ("title", "body") and v is not None}
    changed = {k: v for k, v in words.items() if getattr(announcement, k) != v}
    if status == "published" and changed:
        session.add(
            AnnouncementRevision(
                announcement_id=announcement.id,
                editor_id=user.id,
                edited_at=now,
                title=announcement.title,
                body=announcement.body,
            )
        )
        announcement.edited_at = now
    for name, value in changed.items():
        setattr(announcement, name, value)
    if fields.get("pinned") is not None:
        announcement.pinned = fields["pinned"]
    if status == "scheduled" and ({"audience", "publish_at"} & fields.keys()):
        if "publish_at" in fields:
            announcement.publish_at = max(fields["publish_at"] or now, now)
        await _apply_audience(session, announcement, fields.get("audience") or announcement.audience)
        await outbox.cancel(session, _fanout_key(announcement.id))
        await session.flush()
        await _schedule_fanout(session, announcement)
    await session.flush()
    return await staff_view(session, announcement)


async def withdraw(session: AsyncSession, user: User, announcement_id: int) -> dict[str, Any]:
    """Staff withdraw: residents no longer see it, its inbox entries are hidden and pushes that
    have not gone out are stopped. Withdrawing twice changes nothing."""
    announcement = await _for_staff(session, user, announcement_id)
    if announcement.withdrawn_at is None:
        announcement.withdrawn_at = clock.now()
        announcement.withdrawn_by = user.id
        await session.flush()
        await outbox.cancel(session, _fanout_key(announcement.id))
        await core.retract(session, cause_key(announcement.id))
    return await staff_view(session, announcement)


# -- fan-out (worker) ----------------------------------------------------------------------------


def inbox_params(announcement: Announcement, community: Community) -> dict[str, Any]:
    """The params of the announcement's inbox entries and pushes (the catalogue's "announcement")."""
    return {
        "announcement_id": announcement.id,
        "title": announcement.title,
        "excerpt": excerpt(announcement.body),
        "community_name": community.name,
        "published_at": announcement.publish_at,
    }


async def fan_out_batch(session: AsyncSession, announcement_id: int, after: int, batch_size: int) -> int | None:
    """Notify the next `batch_size` recipients (by user id, after `after`) in the caller's
    transaction. Returns the last user id notified, or None when nobody is left — or the
    announcement is withdrawn or not yet due."""
    announcement = (
        await session.execute(
            # FOR SHARE: a withdrawal waits for this batch, then retracts it with the rest
            select(Announcement).where(Announcement.id == announcement_id).with_for_update(read=True)
        )
    ).scalar_one_or_none()
    if announcement is None or status_of(announcement, clock.now()) != "published":
        return None
    recipients = (await _recipients(session, announcement)).subquery()
    user_ids = list(
        (
            await session.execute(
                select(recipients.c.user_id)
                .where(recipients.c.user_id > after)
                .order_by(recipients.c.user_id)
                .limit(batch_size)
            )
        ).scalars()
    )
    if not user_ids:
        return None
    community = await session.get(Community, announcement.community_id)
    assert community is not None
    params = inbox_params(announcement, community)
    await core.notify(session, user_ids, "announcement", params, cause_key(announcement.id), community_id=community.id)
    return int(user_ids[-1])


async def fan_out(db: Database, announcement_id: int, batch_size: int) -> int:
    """Notify everyone the announcement is addressed to, one transaction per batch, so the inbox
    fills in seconds however many pushes are queued. A run that stops half-way (a crash, a lost
    lease) is simply run again: entries already written are skipped. Returns the batches run."""
    after, batches = 0, 0
    while True:
        async with db.session() as session:
            last = await fan_out_batch(session, announcement_id, after, batch_size)
            await session.commit()
        if last is None:
            return batches
        after, batches = last, batches + 1


# -- reading -------------------------------------------------------------------------------------


def _cursor_after(cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor in (pinned desc, publish_at desc, id desc) order."""
    pinned, at, last_id = decode_cursor(cursor, 3)
    published, last = cursor_time(at), cursor_int(last_id)
    later_in_group = or_(
        Announcement.publish_at < published, and_(Announcement.publish_at == published, Announcement.id < last)
    )
    if pinned:
        return or_(Announcement.pinned == false(), and_(Announcement.pinned == true(), later_in_group))
    return and_(Announcement.pinned == false(), later_in_group)


async def list_announcements(
    session: AsyncSession, user: User, community_id: int, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Pinned first, then newest. Residents: what is published and addressed to them. Staff:
    everything, with counts, optionally by status."""
    me = await reader(session, user, community_id)
    query = (
        select(Announcement)
        .where(Announcement.community_id == community_id)
        .order_by(Announcement.pinned.desc(), Announcement.publish_at.desc(), Announcement.id.desc())
        .limit(limit + 1)
    )
    now = clock.now()
    if not me.is_staff:
        query = query.where(_published_now(), me.addressed())
    elif status == "withdrawn":
        query = query.where(Announcement.withdrawn_at.is_not(None))
    elif status == "published":
        query = query.where(_published_now())
    elif status == "scheduled":
        query = query.where(Announcement.withdrawn_at.is_(None), Announcement.publish_at > now)
    if cursor:
        query = query.where(_cursor_after(cursor))
    rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    read = await _read_by(session, user.id, [a.id for a in page])
    stats = await _stats(session, [a.id for a in page]) if me.is_staff else {}
    items = [_view(a, now, read=a.id in read, full=False, stats=stats.get(a.id)) for a in page]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.pinned, last.publish_at.isoformat(), last.id)
    return items, next_cursor


async def _visible(session: AsyncSession, user: User, announcement_id: int) -> tuple[Announcement, Reader]:
    """The announcement if the caller may read it (staff of its community: any; residents: when
    published and addressed to them); else the same 404 as for one that does not exist."""
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound("announcement_not_found", "找不到该公告")
    role = await role_in(session, user, announcement.community_id)
    if role is None:
        raise NotFound("announcement_not_found", "找不到该公告")
    me = await reader(session, user, announcement.community_id)
    if not me.is_staff and not await _addressed(session, announcement.id, me):
        raise NotFound("announcement_not_found", "找不到该公告")
    return announcement, me


async def _addressed(session: AsyncSession, announcement_id: int, me: Reader) -> bool:
    found = await session.execute(
        select(Announcement.id).where(Announcement.id == announcement_id, _published_now(), me.addressed())
    )
    return found.first() is not None


async def get_announcement(session: AsyncSession, user: User, announcement_id: int) -> dict[str, Any]:
    """One announcement in full: the staff's view for the community's staff, a resident's (what it
    says, whether they read it) for the residents it is addressed to."""
    announcement, me = await _visible(session, user, announcement_id)
    if me.is_staff:
        return await staff_view(
            session, announcement, read=announcement.id in await _read_by(session, user.id, [announcement.id])
        )
    read = announcement.id in await _read_by(session, user.id, [announcement.id])
    return _view(announcement, clock.now(), read=read, full=True)


async def mark_read(session: AsyncSession, user: User, announcement_id: int) -> None:
    """The reader opened it. Counted once per person, and only for the residents it is addressed
    to (staff previewing, or someone still waiting to join a household, do not count)."""
    announcement, me = await _visible(session, user, announcement_id)
    resident = me.building_key is not None or announcement.audience_kind == "team"
    if resident and await _addressed(session, announcement.id, me):
        await record_read(session, user.id, announcement.id)


async def record_read(session: AsyncSession, user_id: int, announcement_id: int) -> None:
    """Count one reader (again is harmless), and clear the inbox entry it came with."""
    now = clock.now()
    await insert_ignore(
        session,
        AnnouncementReadMark,
        {"announcement_id": announcement_id, "user_id": user_id, "read_at": now},
        ["announcement_id", "user_id"],
    )
    await session.execute(
        update(Notification)
        .where(
            Notification.cause_key == cause_key(announcement_id),
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )


# -- views ---------------------------------------------------------------------------------------


async def _read_by(session: AsyncSession, user_id: int, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    rows = await session.execute(
        select(AnnouncementReadMark.announcement_id).where(
            AnnouncementReadMark.user_id == user_id, AnnouncementReadMark.announcement_id.in_(ids)
        )
    )
    return set(rows.scalars())


async def _stats(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per announcement: recipients (inbox entries), readers, and WeChat pushes by status."""
    stats: dict[int, dict[str, Any]] = {
        i: {"recipients": 0, "read": 0, "inbox": 0, "wechat": dict.fromkeys(DELIVERY_STATUSES, 0)} for i in ids
    }
    if not ids:
        return stats
    by_cause = {cause_key(i): i for i in ids}
    entries = await session.execute(
        select(Notification.cause_key, func.count())
        .where(Notification.cause_key.in_(by_cause))
        .group_by(Notification.cause_key)
    )
    for cause, count in entries.all():
        stats[by_cause[cause]]["recipients"] = stats[by_cause[cause]]["inbox"] = count
    reads = await session.execute(
        select(AnnouncementReadMark.announcement_id, func.count())
        .where(AnnouncementReadMark.announcement_id.in_(ids))
        .group_by(AnnouncementReadMark.announcement_id)
    )
    for announcement_id, count in reads.all():
        stats[announcement_id]["read"] = count
    pushes = await session.execute(
        select(Notification.cause_key, Delivery.status, func.count())
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(Notification.cause_key.in_(by_cause))
        .group_by(Notification.cause_key, Delivery.status)
    )
    for cause, status, count in pushes.all():
        stats[by_cause[cause]]["wechat"][status] = count
    return stats


def _view(
    announcement: Announcement, now: datetime, *, read: bool, full: bool, stats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A resident's view (nothing but what the notice says and whether they read it); with
    `stats`, the staff's, which adds its state, audience and counts."""
    status = status_of(announcement, now)
    view: dict[str, Any] = {
        "view": "resident" if stats is None else "staff",
        "id": announcement.id,
        "community_id": announcement.community_id,
        "title": announcement.title,
        "excerpt": excerpt(announcement.body),
        "body": announcement.body if full else None,
        "pinned": announcement.pinned,
        "published_at": announcement.publish_at if status != "scheduled" else None,
        "edited_at": announcement.edited_at,
        "read": read,
    }
    if stats is not None:
        view.update(
            status=status,
            publish_at=announcement.publish_at,
            audience=announcement.audience,
            author_id=announcement.author_id,
            withdrawn_at=announcement.withdrawn_at,
            stats=stats,
            revisions=None,
        )
    return view


async def staff_view(session: AsyncSession, announcement: Announcement, *, read: bool = False) -> dict[str, Any]:
    """The staff's detail: the staff view with its revisions."""
    stats = (await _stats(session, [announcement.id]))[announcement.id]
    view = _view(announcement, clock.now(), read=read, full=True, stats=stats)
    revisions = await session.execute(
        select(AnnouncementRevision)
        .where(AnnouncementRevision.announcement_id == announcement.id)
        .order_by(AnnouncementRevision.id)
    )
    view["revisions"] = [
        {"editor_id": r.editor_id, "edited_at": r.edited_at, "title": r.title, "body": r.body}
        for r in revisions.scalars()
    ]
    return view
