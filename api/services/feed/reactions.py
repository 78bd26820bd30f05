"""Likes, comments and reports on posts, as their readers see them: only on a post the caller may
see (`reading.seeable_post`), and for likes, comments and reports only once it is visible."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Comment, CommunityMembership, Post, PostLike, PostReport, User
from api.db.upsert import insert_ignore, toggle_mark
from api.errors import Conflict
from api.services.access import RANK, is_staff
from api.services.feed.reading import seeable_post, unnamed
from workers.outbox import enqueue

REPORTS_TO_HOLD = 3  # distinct reports that take a post down until staff look at it


async def _visible_post(session: AsyncSession, user: User, post_id: int) -> Post:
    post, _ = await seeable_post(session, user, post_id)
    if post.status != "visible":
        raise Conflict("post_not_visible", "这条动态还在审核中")
    return post


async def like(session: AsyncSession, user: User, post_id: int, liked: bool) -> Post:
    """Like or unlike; doing it twice changes nothing."""
    post = await _visible_post(session, user, post_id)
    await toggle_mark(
        session,
        PostLike,
        {"post_id": post.id, "user_id": user.id},
        liked,
        Post.like_count,
        post.id,
        extra={"created_at": clock.now()},
    )
    await session.refresh(post)
    return post


async def add_comment(session: AsyncSession, user: User, post_id: int, body: str) -> dict[str, Any]:
    """A comment on a visible post, checked like posts (staff comments are not); answered as its
    author sees it."""
    post = await _visible_post(session, user, post_id)
    staff = await is_staff(session, user, post.community_id)
    comment = Comment(post_id=post.id, author_id=user.id, body=body, status="checking")
    if staff:
        comment.text_verdict = "pass"
    session.add(comment)
    await session.flush()
    if staff:
        await _settle_comment(session, comment)
    else:
        await enqueue(
            session, "feed.check_text", {"kind": "comment", "id": comment.id}, dedup_key=f"comment:{comment.id}:text"
        )
    return await _comment_read(session, user, comment, post.community_id, staff)


async def _settle_comment(session: AsyncSession, comment: Comment) -> None:
    if comment.status != "checking":  # staff decided before the check answered: their decision stands
        return
    target = {"pass": "visible", "review": "review", "risky": "rejected"}.get(comment.text_verdict or "", "checking")
    await _set_comment_status(session, comment, target)


async def _set_comment_status(session: AsyncSession, comment: Comment, status: str) -> None:
    was_counted = comment.status == "visible"
    comment.status = status
    await session.flush()
    change = (status == "visible") - was_counted
    if change:
        await session.execute(
            update(Post)
            .where(Post.id == comment.post_id)
            .values(comment_count=Post.comment_count + change)
            .execution_options(synchronize_session=False)
        )


def _with_author(query: Select[Any], community_id: int) -> Select[Any]:
    """`query` over comments, with their author's name, avatar and whether they are staff of the
    community (platform admins too) — in the same statement."""
    staff_role = (
        select(CommunityMembership.id)
        .where(
            CommunityMembership.user_id == Comment.author_id,
            CommunityMembership.community_id == community_id,
            CommunityMembership.role.in_([role for role, rank in RANK.items() if rank >= RANK["staff"]]),
        )
        .exists()
    )
    return query.add_columns(
        User.display_name, User.avatar_url, (User.is_platform_admin | staff_role).label("by_staff")
    ).outerjoin(User, User.id == Comment.author_id)


def comment_view(row: Any, user: User, staff: bool) -> dict[str, Any]:
    """A comment as its reader gets it (`row`: the comment with its author, from `_with_author`):
    its state only for its author and staff."""
    comment, name, avatar, by_staff = row
    own = comment.author_id == user.id
    return {
        "id": comment.id,
        "post_id": comment.post_id,
        "author": {
            "id": comment.author_id,
            "name": name or unnamed(bool(by_staff)),
            "avatar_url": avatar,
            "staff": bool(by_staff),
        },
        "body": comment.body,
        "created_at": comment.created_at,
        "status": comment.status if (own or staff) else None,
    }


async def _comment_read(
    session: AsyncSession, user: User, comment: Comment, community_id: int, staff: bool
) -> dict[str, Any]:
    row = (await session.execute(_with_author(select(Comment), community_id).where(Comment.id == comment.id))).one()
    return comment_view(row, user, staff)


async def comments(session: AsyncSession, user: User, post_id: int) -> list[dict[str, Any]]:
    """Visible comments, and the caller's own whatever their state (staff see all), oldest first."""
    post, staff = await seeable_post(session, user, post_id)
    query = (
        _with_author(select(Comment), post.community_id)
        .where(Comment.post_id == post.id)
        .order_by(Comment.id)
        .limit(500)
    )
    if not staff:
        query = query.where((Comment.status == "visible") | (Comment.author_id == user.id))
    return [comment_view(row, user, staff) for row in (await session.execute(query)).all()]


async def report(session: AsyncSession, user: User, post_id: int, reason: str) -> Post:
    """A resident reports a post; at the third distinct report it waits for staff, out of sight.
    Reporting twice counts once."""
    post = await _visible_post(session, user, post_id)
    added = await insert_ignore(
        session,
        PostReport,
        {"post_id": post.id, "user_id": user.id, "reason": reason, "created_at": clock.now()},
        ["post_id", "user_id"],
    )
    if added:
        post = await session.get(Post, post.id, with_for_update=True, populate_existing=True) or post
        post.report_count += 1
        if post.report_count >= REPORTS_TO_HOLD and post.status == "visible" and not post.by_staff:
            post.status = "review"
        await session.flush()
    return post
