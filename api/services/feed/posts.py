"""Posts (动态): writing them, their text check, and staff's moderation of posts and comments.

A resident's post is seen by others only once its text passed WeChat's text check and each of its
photos WeChat's image check; where a check is unsure, staff decide; where it is risky, the post
is refused with the reason. Until then its author and staff see it, with its status. Staff posts
are the organisation's own words and need no check (their photos are still cleaned).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    BookingAttendee,
    Comment,
    Media,
    Member,
    Post,
    PostMedia,
    PostMember,
    PostReport,
    User,
)
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.services.access import is_staff, reader_role, require_reader, require_staff
from api.services.activities.common import my_member
from api.services.feed import reading
from api.services.feed.checks import _tell_author, settle
from api.services.feed.media import RENDITIONS, claim_photos
from api.services.feed.reactions import _comment_read, _set_comment_status, _settle_comment, _with_author, comment_view
from workers.outbox import enqueue

MAX_PHOTOS = 9
TEXT_SCENE = {"post": 4, "comment": 2}  # WeChat's scenes: social log, comment


async def _attended(session: AsyncSession, member: Member, activity_id: int) -> bool:
    """Someone of the member's household was checked in at the activity."""
    found = await session.execute(
        select(BookingAttendee.id)
        .join(Member, Member.id == BookingAttendee.member_id)
        .where(
            BookingAttendee.activity_id == activity_id,
            BookingAttendee.checked_in_at.is_not(None),
            Member.household_id == member.household_id,
        )
        .limit(1)
    )
    return found.first() is not None


async def create_post(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Post:
    """Staff may always post; a resident may post to an activity's album only if they or their
    household were checked in there. Photos are the author's own uploads of this community, each
    in one post. Members named are the author's household's (staff: people who came to the
    activity); a post naming a child shows children, and such a post stays in the community."""
    staff = await require_reader(session, user, community_id)
    me = await my_member(session, user, community_id)
    activity_id = data.get("activity_id")
    if activity_id is not None:
        activity = await session.get(Activity, activity_id)
        if activity is None or activity.community_id != community_id or activity.status == "draft":
            raise Unprocessable("activity_not_found", "本社区没有这个活动")
        if not staff and (me is None or not await _attended(session, me, activity_id)):
            raise Forbidden("not_an_attendee", "只有参加了（已签到）这个活动的家庭可以发到它的相册")
    media_ids: list[int] = data.get("media_ids", [])
    await claim_photos(session, user, community_id, media_ids)
    if not data.get("body") and not media_ids:
        raise Unprocessable("post_empty", "写点什么，或者选几张照片")
    tagged = await _tagged(session, user, community_id, staff, me, activity_id, data.get("member_ids", []))
    shows_children = bool(data.get("shows_children")) or any(m.kind == "child" for m in tagged)
    visibility = data.get("visibility", "community")
    if shows_children and visibility == "public":
        raise Unprocessable("children_community_only", "有孩子的照片只在社区内可见，不能公开分享")
    post = Post(
        community_id=community_id,
        author_id=user.id,
        activity_id=activity_id,
        body=data.get("body", ""),
        visibility=visibility,
        shows_children=shows_children,
        by_staff=staff,
        status="checking",
        text_verdict="pass" if staff or not data.get("body") else None,
        photo_count=len(media_ids),
    )
    session.add(post)
    await session.flush()
    session.add_all(PostMedia(post_id=post.id, media_id=m, position=n) for n, m in enumerate(media_ids))
    session.add_all(PostMember(post_id=post.id, member_id=m.id) for m in tagged)
    await session.flush()
    if post.text_verdict is None:
        await enqueue(session, "feed.check_text", {"kind": "post", "id": post.id}, dedup_key=f"post:{post.id}:text")
    await settle(session, post.id)
    return post


async def _tagged(
    session: AsyncSession,
    user: User,
    community_id: int,
    staff: bool,
    me: Member | None,
    activity_id: int | None,
    member_ids: list[int],
) -> list[Member]:
    if not member_ids:
        return []
    members = list(
        (
            await session.execute(
                select(Member).where(
                    Member.id.in_(member_ids), Member.community_id == community_id, Member.status == "active"
                )
            )
        ).scalars()
    )
    allowed: set[int] = set()
    if me is not None:
        allowed |= {m.id for m in members if m.household_id == me.household_id}
    if staff and activity_id is not None:
        came = await session.execute(
            select(BookingAttendee.member_id).where(
                BookingAttendee.activity_id == activity_id,
                BookingAttendee.checked_in_at.is_not(None),
                BookingAttendee.member_id.in_(member_ids),
            )
        )
        allowed |= {m for m in came.scalars() if m is not None}
    if set(member_ids) - allowed:
        raise Unprocessable(
            "member_not_taggable",
            "只能标记自己家里的人（社工：来参加活动的人）",
            details={"member_ids": sorted(set(member_ids) - allowed)},
        )
    return members


async def check_text(ctx: Any, kind: str, item_id: int) -> None:
    """WeChat's text check of a post or comment, in the worker. WeChat refusing to judge it (a
    user not seen lately, say) sends it to staff; WeChat being away is retried, and after the last
    attempt it goes to staff as well."""
    from api.wechat.client import WeChatError, WeChatUnavailable

    model = Post if kind == "post" else Comment
    async with ctx.db.session(write=False) as reader:
        item = await reader.get(model, item_id)
        if item is None or item.text_verdict is not None:
            return
        author = await reader.get(User, item.author_id) if item.author_id else None
        body, openid = item.body, author.openid if author else None
    suggest, label = "review", None
    if ctx.wechat is not None and openid is not None:
        try:
            verdict = await ctx.wechat.msg_sec_check(openid=openid, content=body, scene=TEXT_SCENE[kind])
            suggest, label = verdict.suggest, verdict.label
        except WeChatError:
            suggest = "review"
        except WeChatUnavailable:
            if ctx.attempt < ctx.settings.worker_max_attempts:
                raise
    item = await ctx.session.get(model, item_id, with_for_update=True, populate_existing=True)
    if item is None or item.text_verdict is not None:
        return
    item.text_verdict = suggest
    if isinstance(item, Post):
        item.text_label = label
        await ctx.session.flush()
        await settle(ctx.session, item.id)
    else:
        await _settle_comment(ctx.session, item)


# -- staff -----------------------------------------------------------------------------------------


async def moderation_queue(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """What waits for staff: posts the checks were unsure of or that residents reported, and
    comments the check was unsure of; oldest first."""
    await require_staff(session, user, community_id)
    waiting = await reading.rows_of(
        session,
        reading.posts_query()
        .where(
            Post.community_id == community_id,
            (Post.status == "review") | ((Post.status == "visible") & (Post.report_count > 0)),
        )
        .order_by(Post.id)
        .limit(100),
    )
    comments = await session.execute(
        _with_author(select(Comment).join(Post, Post.id == Comment.post_id), community_id)
        .where(Post.community_id == community_id, Comment.status == "review")
        .order_by(Comment.id)
        .limit(100)
    )
    return {
        "posts": await reading.views(session, user, waiting, staff=True, sizes=RENDITIONS),
        "comments": [comment_view(row, user, True) for row in comments.all()],
    }


async def _staff_of(session: AsyncSession, user: User, community_id: int, missing: NotFound) -> None:
    """Staff of the community go on; its residents are refused (403); to anyone else the item does
    not exist (404), so another community's staff learn nothing of it."""
    if await reader_role(session, user, community_id) is None:
        raise missing
    await require_staff(session, user, community_id)


async def _staff_post(session: AsyncSession, user: User, post_id: int) -> Post:
    missing = NotFound("post_not_found", "找不到这条动态")
    found = await session.get(Post, post_id)
    if found is None:
        raise missing
    await _staff_of(session, user, found.community_id, missing)
    post = await session.get(Post, post_id, with_for_update=True, populate_existing=True)
    if post is None:
        raise missing
    return post


async def moderate(session: AsyncSession, user: User, post_id: int, approve: bool, note: str | None) -> Post:
    """Staff decide a post waiting for them (or reported): approved, it is visible with all its
    photos; refused, its author is told why."""
    missing = NotFound("post_not_found", "找不到这条动态")
    found = await session.get(Post, post_id)
    if found is None:
        raise missing
    await _staff_of(session, user, found.community_id, missing)
    # the photos first, then the post: the order a verdict takes them in, so the two never deadlock
    photos = list(
        (
            await session.execute(
                select(Media)
                .where(Media.id.in_(select(PostMedia.media_id).where(PostMedia.post_id == post_id)))
                .order_by(Media.id)
                .with_for_update()
            )
        ).scalars()
    )
    post = await _staff_post(session, user, post_id)
    if post.status not in ("review", "visible", "hidden"):
        raise Conflict("post_not_waiting", "这条动态不需要审核", details={"status": post.status})
    now = clock.now()
    post.moderated_by = user.id
    post.moderation_note = note
    if approve:
        # staff decide what WeChat was unsure of; they do not overrule a photo it found risky, nor
        # one whose check is still out
        pending = [m.id for m in photos if m.status in ("processing", "checking")]
        if pending:
            raise Conflict("photos_pending", "照片还在检查中，请稍后再审核", details={"media_ids": pending})
        refused = [m.id for m in photos if m.status in ("rejected", "failed")]
        if refused:
            raise Conflict("photo_rejected", "有照片未通过检查，这条动态不能通过", details={"media_ids": refused})
        for media in photos:
            if media.status == "review":
                media.status, media.verdict, media.updated_at = "approved", "pass", now
        post.text_verdict = "pass"
        post.status = "visible"
        post.visible_at = post.visible_at or now
        post.report_count = 0
        await session.execute(delete(PostReport).where(PostReport.post_id == post.id))
    else:
        if not note:
            raise Unprocessable("reason_required", "不通过时请写明原因，作者会看到")
        post.status = "rejected"
        await _tell_author(session, post, note, "rejected")
    await session.flush()
    return post


async def hide(session: AsyncSession, user: User, post_id: int, note: str) -> Post:
    """Staff take a post down at any time; its author is told why."""
    post = await _staff_post(session, user, post_id)
    if post.status != "hidden":
        post.status = "hidden"
        post.moderated_by = user.id
        post.moderation_note = note
        await session.flush()
        if post.author_id != user.id:
            await _tell_author(session, post, note, "hidden")
    return post


async def update_post(session: AsyncSession, user: User, post_id: int, fields: dict[str, Any]) -> Post:
    """Staff pin a post or mark it as showing children (which keeps it in the community); the
    author may mark their own as showing children too."""
    post = await session.get(Post, post_id, with_for_update=True, populate_existing=True)
    if post is None:
        raise NotFound("post_not_found", "找不到这条动态")
    staff = await is_staff(session, user, post.community_id)
    if not staff and post.author_id != user.id:
        raise NotFound("post_not_found", "找不到这条动态")
    if "pinned" in fields:
        if not staff:
            raise Forbidden("staff_only", "只有社工可以置顶")
        post.pinned = fields["pinned"]
    if fields.get("shows_children"):
        post.shows_children = True
        post.visibility = "community"
    elif fields.get("shows_children") is False and staff:
        post.shows_children = False
    await session.flush()
    return post


async def moderate_comment(session: AsyncSession, user: User, comment_id: int, approve: bool) -> dict[str, Any]:
    """Staff let a comment waiting for them be seen, or refuse it; answered as staff see it."""
    missing = NotFound("comment_not_found", "找不到这条评论")
    found = await session.get(Comment, comment_id)
    post = await session.get(Post, found.post_id) if found is not None else None
    if found is None or post is None:
        raise missing
    await _staff_of(session, user, post.community_id, missing)
    comment = await session.get(Comment, comment_id, with_for_update=True, populate_existing=True)
    if comment is None:
        raise missing
    # refusing one that waits is a rejection, as for posts; taking down one already shown hides it
    refused = "hidden" if comment.status == "visible" else "rejected"
    await _set_comment_status(session, comment, "visible" if approve else refused)
    return await _comment_read(session, user, comment, post.community_id, True)
