"""Concerns (烦心事): raising one, its checks and moderation, "me too", and comments.

A resident's concern is seen by the community once its text passed WeChat's text check and each
of its photos WeChat's image check, exactly as a post is: where a check is unsure staff decide,
where one is risky it is refused with the reason. Until then its raiser and staff see it. A
concern staff record (at a 坝坝会, from a phone call) needs no text check; its photos are still
cleaned. The response clock (`accept_by`) starts when it is raised, whatever the checks say.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Concern, ConcernComment, ConcernMedia, ConcernSupporter, Media, User
from api.db.upsert import toggle_mark
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.services.access import get_community, require_reader
from api.services.activities.common import community_tz
from api.services.feed.media import claim_photos
from api.services.governance import common
from api.services.governance.concern_access import (
    Reader,
    community_building,
    person,
    seeable_concern,
    staff_concern,
    to_meeting,
)
from api.services.governance.concern_checks import _refused, settle
from workers.outbox import enqueue

MAX_PHOTOS = 6
TEXT_SCENE = {"concern": 4, "comment": 2}  # WeChat's scenes: social log, comment
CHECK_JOB = "concerns.check_text"


# -- raising -----------------------------------------------------------------------------------------


async def raise_concern(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Concern:
    """A resident (or staff, recording one) raises a concern: a category, a building of the
    community or none, a place, a title and text, up to six of their own photos of this community
    not used by a post or another concern, and whether to hide their name from other residents.
    The response clock starts now; the timeline starts with `submitted`."""
    staff = await require_reader(session, user, community_id)
    community = await get_community(session, community_id)
    building = await community_building(session, community_id, data.get("building", ""))
    if building is None:
        raise Unprocessable("building_not_found", "building：本社区没有这个楼栋")
    media_ids: list[int] = data.get("media_ids", [])
    if len(media_ids) > MAX_PHOTOS:
        raise Unprocessable("too_many_photos", f"最多 {MAX_PHOTOS} 张照片")
    # locked (a verdict arriving now waits for this concern, then settles it), each once, the
    # raiser's own of this community, and in no post or other concern
    await claim_photos(session, user, community_id, media_ids)
    now = clock.now()
    clocks = await common.clocks(session, community_id)
    concern = Concern(
        community_id=community_id,
        raised_by=user.id,
        category=data["category"],
        building=building,
        place=data.get("place", ""),
        title=data["title"],
        body=data.get("body", ""),
        hide_name=bool(data.get("hide_name")),
        by_staff=staff,
        visibility="checking",
        text_verdict="pass" if staff else None,
        status="submitted",
        accept_by=common.accept_deadline(now, clocks, await community_tz(session, community.id)),
        photo_count=len(media_ids),
    )
    session.add(concern)
    await session.flush()
    session.add_all(ConcernMedia(concern_id=concern.id, media_id=m, position=n) for n, m in enumerate(media_ids))
    common.add_event(session, concern, "submitted", user, data={"status": [None, "submitted"]})
    await session.flush()
    if concern.text_verdict is None:
        await enqueue(session, CHECK_JOB, {"kind": "concern", "id": concern.id}, dedup_key=f"concern:{concern.id}:text")
    await settle(session, concern.id)
    return concern


async def check_text(ctx: Any, kind: str, item_id: int) -> None:
    """WeChat's text check of a concern (its title and text) or a comment on one, in the worker.
    WeChat refusing to judge sends it to staff; WeChat being away is retried, and after the last
    attempt it goes to staff as well. Nothing is held open while WeChat answers."""
    from api.wechat.client import WeChatError, WeChatUnavailable

    model: type[Concern] | type[ConcernComment] = Concern if kind == "concern" else ConcernComment
    async with ctx.db.session(write=False) as reader:
        item = await reader.get(model, item_id)
        if item is None or item.text_verdict is not None:
            return
        author_id = item.raised_by if isinstance(item, Concern) else item.author_id
        author = await reader.get(User, author_id) if author_id else None
        content = f"{item.title}\n{item.body}" if isinstance(item, Concern) else item.body
        openid = author.openid if author else None
    suggest, label = "review", None
    if ctx.wechat is not None and openid is not None:
        try:
            verdict = await ctx.wechat.msg_sec_check(openid=openid, content=content, scene=TEXT_SCENE[kind])
            suggest, label = verdict.suggest, verdict.label
        except WeChatError:
            suggest = "review"
        except WeChatUnavailable:
            if ctx.attempt < ctx.settings.worker_max_attempts:
                raise
    if model is Concern:  # the lock order: the community's agenda lock before the concern's row
        found = await ctx.session.get(Concern, item_id)
        if found is None:
            return
        await common.agenda_lock(ctx.session, found.community_id)
    item = await ctx.session.get(model, item_id, with_for_update=True, populate_existing=True)
    if item is None or item.text_verdict is not None:
        return
    item.text_verdict = suggest
    await ctx.session.flush()
    if isinstance(item, Concern):
        await settle(ctx.session, item.id, label)
    else:
        await _settle_comment(ctx.session, item)


# -- moderation --------------------------------------------------------------------------------------


async def moderate(session: AsyncSession, user: User, concern_id: int, approve: bool, note: str | None) -> Concern:
    """Staff decide a concern the checks were unsure of, take a shown one down, or bring a taken
    down one back. Approving never overrules a photo WeChat refused or one still being checked;
    refusing needs a reason, which its raiser is told. Taken down, it leaves the agendas of meetings
    to come; brought back at level 3 (still open), it goes to the next five-party meeting again."""
    await staff_concern(session, user, concern_id, lock=False)  # who asks, before anything is locked
    # the photos first, then the agenda lock and the concern: the order a verdict takes them in, so
    # the two never deadlock
    photos = list(
        (
            await session.execute(
                select(Media)
                .where(Media.id.in_(select(ConcernMedia.media_id).where(ConcernMedia.concern_id == concern_id)))
                .order_by(Media.id)
                .with_for_update()
            )
        ).scalars()
    )
    concern = await staff_concern(session, user, concern_id)
    if concern.visibility not in ("review", "visible", "hidden"):
        raise Conflict("concern_not_waiting", "这件烦心事不需要审核", details={"visibility": concern.visibility})
    before = concern.visibility
    if approve:
        pending = [m.id for m in photos if m.status in ("processing", "checking")]
        if pending:
            raise Conflict("photos_pending", "照片还在检查中，请稍后再审核", details={"media_ids": pending})
        refused = [m.id for m in photos if m.status in ("rejected", "failed")]
        if refused:
            raise Conflict("photo_rejected", "有照片未通过检查，不能公开", details={"media_ids": refused})
        now = clock.now()
        for media in photos:
            if media.status == "review":
                media.status, media.verdict, media.updated_at = "approved", "pass", now
        concern.text_verdict = "pass"
        concern.visibility = "visible"
        if before != "visible":
            common.add_event(
                session, concern, "note", user, public=False, body=note or "", data={"visibility": [before, "visible"]}
            )
        await session.flush()
        if before != "visible" and concern.level == 3 and concern.status in ("accepted", "in_progress"):
            await to_meeting(session, concern, user)
        return concern
    if not note:
        raise Unprocessable("reason_required", "note：不通过或下架时请写明原因，提出人会看到")
    concern.visibility = "hidden" if before in ("visible", "hidden") else "rejected"
    await session.flush()
    if concern.visibility != before:
        await _refused(session, concern, before, note, user, concern.visibility)
    return concern


# -- "me too" ------------------------------------------------------------------------------------------


async def _visible(session: AsyncSession, user: User, concern_id: int) -> tuple[Concern, Reader]:
    concern, reader = await seeable_concern(session, user, concern_id)
    if concern.visibility != "visible":
        raise Conflict("concern_not_visible", "这件烦心事还在审核中")
    return concern, reader


async def me_too(session: AsyncSession, user: User, concern_id: int, on: bool) -> Concern:
    """我也遇到了: one per resident and concern (the primary key), counted with a conditional
    update of the counter, so that taps at once count once; taking it back counts down. Only on
    a visible concern still open, never by its raiser, and not by staff (they follow it at work)."""
    concern, reader = await _visible(session, user, concern_id)
    if concern.status not in common.OPEN_STATUSES:
        raise Conflict(
            "concern_not_open",
            f"这件烦心事{common.STATUS_LABELS[concern.status]}，不能再点“我也遇到了”",
            details={"status": concern.status},
        )
    if concern.raised_by == user.id:
        raise Conflict("concern_own", "这是你自己反映的烦心事")
    if reader.staff:
        raise Forbidden("residents_only", "“我也遇到了”是居民的，社工请在工作台跟进")
    await toggle_mark(
        session,
        ConcernSupporter,
        {"concern_id": concern.id, "user_id": user.id},
        on,
        Concern.metoo_count,
        concern.id,
        extra={"created_at": clock.now()},
    )
    await session.refresh(concern)
    return concern


# -- comments ------------------------------------------------------------------------------------------


def _with_author(query: Select[Any]) -> Select[Any]:
    return query.add_columns(User.display_name, User.avatar_url).outerjoin(User, User.id == ConcernComment.author_id)


def comment_view(row: Any, reader: Reader, hidden_raiser: int | None = None) -> dict[str, Any]:
    """A comment as `reader` gets it (`row`: the comment with its author's name and avatar): its
    state only for its author and staff; its author as they chose to appear. `hidden_raiser`: the
    raiser of the concern if they hid their name, which then stays hidden on all their comments
    there too (a named comment would tell who raised it)."""
    comment, name, avatar = row
    own = comment.author_id == reader.user_id
    hidden = comment.hide_name or (hidden_raiser is not None and comment.author_id == hidden_raiser)
    return {
        "id": comment.id,
        "concern_id": comment.concern_id,
        "author": person(reader, comment.author_id, name, avatar, staff=comment.by_staff, hidden=hidden),
        "body": comment.body,
        "created_at": comment.created_at,
        "status": comment.visibility if (own or reader.staff) else None,
    }


def _hidden_raiser(concern: Concern) -> int | None:
    return concern.raised_by if concern.hide_name else None


async def _comment_read(
    session: AsyncSession, comment: ConcernComment, concern: Concern, reader: Reader
) -> dict[str, Any]:
    row = (await session.execute(_with_author(select(ConcernComment)).where(ConcernComment.id == comment.id))).one()
    return comment_view(row, reader, _hidden_raiser(concern))


async def add_comment(
    session: AsyncSession, user: User, concern_id: int, body: str, hide_name: bool = False
) -> dict[str, Any]:
    """A comment on a visible concern not yet closed, checked like feed comments (staff's are
    not); others see it once it passed. Answered as its author sees it."""
    concern, reader = await _visible(session, user, concern_id)
    if concern.status == "closed":
        raise Conflict("concern_closed", "这件烦心事已关闭，不能再评论")
    comment = ConcernComment(
        concern_id=concern.id,
        author_id=user.id,
        body=body,
        hide_name=hide_name,
        by_staff=reader.staff,
        visibility="checking",
        text_verdict="pass" if reader.staff else None,
    )
    session.add(comment)
    await session.flush()
    if reader.staff:
        await _settle_comment(session, comment)
    else:
        await enqueue(
            session, CHECK_JOB, {"kind": "comment", "id": comment.id}, dedup_key=f"concern-comment:{comment.id}:text"
        )
    return await _comment_read(session, comment, concern, reader)


async def _settle_comment(session: AsyncSession, comment: ConcernComment) -> None:
    if comment.visibility != "checking":  # staff decided before the check answered: their decision stands
        return
    target = {"pass": "visible", "review": "review", "risky": "rejected"}.get(comment.text_verdict or "", "checking")
    await _set_comment_visibility(session, comment, target)


async def _set_comment_visibility(session: AsyncSession, comment: ConcernComment, visibility: str) -> None:
    was_counted = comment.visibility == "visible"
    comment.visibility = visibility
    await session.flush()
    change = (visibility == "visible") - was_counted
    if change:
        await session.execute(
            update(Concern)
            .where(Concern.id == comment.concern_id)
            .values(comment_count=Concern.comment_count + change)
            .execution_options(synchronize_session=False)
        )


async def comments(session: AsyncSession, user: User, concern_id: int) -> list[dict[str, Any]]:
    """The concern's visible comments and the caller's own whatever their state (staff: all),
    oldest first."""
    concern, reader = await seeable_concern(session, user, concern_id)
    query = (
        _with_author(select(ConcernComment))
        .where(ConcernComment.concern_id == concern.id)
        .order_by(ConcernComment.id)
        .limit(500)
    )
    if not reader.staff:
        query = query.where((ConcernComment.visibility == "visible") | (ConcernComment.author_id == user.id))
    hidden_raiser = _hidden_raiser(concern)
    return [comment_view(row, reader, hidden_raiser) for row in (await session.execute(query)).all()]


async def waiting_comments(session: AsyncSession, reader: Reader, community_id: int) -> list[dict[str, Any]]:
    """Comments on the community's concerns that wait for staff (the check was unsure), oldest first."""
    rows = await session.execute(
        _with_author(select(ConcernComment))
        .add_columns(Concern.title)
        .join(Concern, Concern.id == ConcernComment.concern_id)
        .where(Concern.community_id == community_id, ConcernComment.visibility == "review")
        .order_by(ConcernComment.id)
        .limit(100)
    )
    return [comment_view(row[:3], reader) | {"concern_title": row[3]} for row in rows.all()]


async def moderate_comment(
    session: AsyncSession, user: User, comment_id: int, approve: bool, community_id: int | None = None
) -> dict[str, Any]:
    """Staff let a comment be seen, or refuse it (taking down one already shown hides it). With
    `community_id` (the console's page), a comment on another community's concern is not found."""
    missing = NotFound("comment_not_found", "找不到这条评论")
    found = await session.get(ConcernComment, comment_id)
    if found is None:
        raise missing
    try:  # the concern is not locked: the comment's row is, then the concern's counter updated
        concern = await staff_concern(session, user, found.concern_id, lock=False)
    except NotFound:
        raise missing from None
    if community_id is not None and concern.community_id != community_id:
        raise missing
    comment = await session.get(ConcernComment, comment_id, with_for_update=True, populate_existing=True)
    if comment is None:
        raise missing
    refused = "hidden" if comment.visibility == "visible" else "rejected"
    await _set_comment_visibility(session, comment, "visible" if approve else refused)
    return await _comment_read(session, comment, concern, Reader(user.id, True))
