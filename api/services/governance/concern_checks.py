"""A concern's visibility from its checks, as a post's status from its own (`feed.checks`): WeChat's
verdicts on its text and photos, and its raiser told when it is refused. Photos settle their
concerns from here (`feed.media`) as the text check and staff do (`concerns`), so it depends on
neither.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Concern, ConcernMedia, Media, User
from api.services.feed.checks import LABELS
from api.services.governance import common
from api.services.notifications import notify


async def settle(session: AsyncSession, concern_id: int, label: int | None = None) -> Concern | None:
    """The concern's visibility from its checks, as a post's status: refused if its text or a photo
    is risky (or a photo could not be read), for staff if a check was unsure, visible once
    everything passed. Locked first (after the community's agenda lock: a concern refused leaves
    the agendas of meetings to come), so that two verdicts arriving together see each other."""
    found = await session.get(Concern, concern_id)
    if found is None:
        return None
    await common.agenda_lock(session, found.community_id)
    concern = await session.get(Concern, concern_id, with_for_update=True, populate_existing=True)
    if concern is None or concern.visibility not in ("checking", "review"):
        return concern
    statuses = list(
        (
            await session.execute(
                select(Media.status)
                .join(ConcernMedia, ConcernMedia.media_id == Media.id)
                .where(ConcernMedia.concern_id == concern_id)
            )
        ).scalars()
    )
    before = concern.visibility
    if concern.text_verdict == "risky" or any(s in ("rejected", "failed") for s in statuses):
        concern.visibility = "rejected"
    elif concern.text_verdict == "review" or "review" in statuses:
        concern.visibility = "review"
    elif concern.text_verdict == "pass" and all(s == "approved" for s in statuses):
        concern.visibility = "visible"
    await session.flush()
    if concern.visibility != before and concern.visibility == "rejected":
        if concern.text_verdict == "risky":
            reason = f"文字内容涉及{LABELS.get(label or 0, '不适宜发布')}，未通过安全检查"
        elif "failed" in statuses:
            reason = "有照片无法读取，请换一张再提交"
        else:
            reason = "有照片未通过安全检查"
        await _refused(session, concern, before, reason, None, "rejected")
    return concern


async def _refused(
    session: AsyncSession, concern: Concern, before: str, reason: str, actor: User | None, cause: str
) -> None:
    """Why the concern is not (or no longer) shown: a note on its timeline (its raiser and staff
    read it as the moderation note) and a word to its raiser. Its text is no longer for the
    community: it leaves the (public) agendas of meetings to come."""
    common.add_event(
        session,
        concern,
        "note",
        actor,
        public=False,
        body=reason,
        data={"visibility": [before, concern.visibility]},
    )
    await session.flush()
    await common.take_off_agendas(session, concern, actor, "已下架" if concern.visibility == "hidden" else "未通过审核")
    if concern.raised_by is not None and (actor is None or actor.id != concern.raised_by):
        await notify(
            session,
            [concern.raised_by],
            "concern.rejected",
            {"concern_id": concern.id, "title": concern.title, "reason": reason},
            f"concern:{concern.id}:{cause}",
            community_id=concern.community_id,
        )


async def settle_concerns_of(session: AsyncSession, media_ids: list[int]) -> None:
    """A photo's verdict (or its renditions failing) settles the concerns that use it."""
    concern_ids = (
        await session.execute(select(ConcernMedia.concern_id).where(ConcernMedia.media_id.in_(media_ids)).distinct())
    ).scalars()
    for concern_id in sorted(concern_ids):
        await settle(session, concern_id)
