"""The time zone a request is about, looked up before its body is read: a datetime sent without an
offset means that community's local time (see api.localtime)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Activity, Announcement, Community, Concern, Meeting, Poll, ServiceRecord

OWNERS: dict[
    str, type[Activity] | type[Announcement] | type[ServiceRecord] | type[Concern] | type[Meeting] | type[Poll]
] = {
    "activity": Activity,
    "announcement": Announcement,
    "service_record": ServiceRecord,
    "concern": Concern,
    "meeting": Meeting,
    # -- polls
    "poll": Poll,
}


async def community_zone(session: AsyncSession, community_id: int) -> str | None:
    """The community's zone name; None if there is no such community (the route then answers 404)."""
    zone: str | None = (
        await session.execute(select(Community.timezone).where(Community.id == community_id))
    ).scalar_one_or_none()
    return zone


async def zone_of(session: AsyncSession, owner: str, object_id: int) -> str | None:
    """The zone of the community an activity, announcement, service record or meeting belongs to. It
    reveals nothing: the route's own check answers a stranger as before."""
    model = OWNERS[owner]
    zone: str | None = (
        await session.execute(
            select(Community.timezone).join(model, model.community_id == Community.id).where(model.id == object_id)
        )
    ).scalar_one_or_none()
    return zone
