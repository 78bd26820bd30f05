"""Moderation (内容审核) as staff read it in the console: the queue with each photo's and each text's
WeChat verdict and label in plain words, the residents' reports with their reasons, the posts
already shown (to take one down later), and the recently decided ones (so that a post taken down
can be found again). The decisions themselves are `posts.moderate`, `posts.hide`,
`posts.moderate_comment` and `posts.update_post`, which the API calls too; this module only reads,
and finds a post or comment of the community in the console's path."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Comment, Media, Post, PostMedia, PostReport, User
from api.errors import NotFound
from api.services.access import require_staff
from api.services.feed import reading
from api.services.feed.checks import LABELS
from api.services.feed.media import RENDITIONS, photo_view

# WeChat's content labels (WECHAT.md), as staff read them
LABEL_NAMES = {100: "正常", **LABELS}
VERDICT_NAMES = {"pass": "通过", "review": "不确定，需人工判断", "risky": "有风险"}
POST_STATUS_NAMES = {
    "checking": "机器审核中",
    "review": "待人工审核",
    "visible": "已公开",
    "rejected": "未通过",
    "hidden": "已下架",
}
PHOTO_STATUS_NAMES = {
    "processing": "处理中",
    "checking": "微信检查中",
    "approved": "已通过",
    "review": "待人工判断",
    "rejected": "未通过",
    "failed": "无法读取",
}
DECIDED_STATUSES = ("visible", "rejected", "hidden")
LIST_LIMIT = 100


def label_name(label: int | None) -> str | None:
    """A WeChat label code in words (an unknown code: 其他，with its number)."""
    if label is None:
        return None
    return LABEL_NAMES.get(label, f"其他（{label}）")


def _photo_error(error: str | None) -> str | None:
    """Why a photo has no verdict from WeChat, in words."""
    if not error:
        return None
    if error.startswith("wechat_"):
        return f"微信未能检查这张照片（错误码 {error.removeprefix('wechat_')}），请人工判断"
    return "照片无法读取"


def _text_verdict(post: Any) -> dict[str, Any]:
    """The post's text as WeChat judged it (or why it was not asked)."""
    if not post.body:
        return {"verdict": None, "name": "没有文字", "label": None}
    if post.by_staff:
        return {"verdict": "pass", "name": "社工发布，无需检查", "label": None}
    if post.text_verdict is None:
        return {"verdict": None, "name": "微信检查中", "label": None}
    label = post.text_label if post.text_label not in (None, 100) else None
    return {"verdict": post.text_verdict, "name": VERDICT_NAMES.get(post.text_verdict), "label": label_name(label)}


async def community_post(session: AsyncSession, user: User, community_id: int, post_id: int) -> Post:
    """A post of the community, for its staff (404 for another community's, as for none)."""
    await require_staff(session, user, community_id)
    post = await session.get(Post, post_id)
    if post is None or post.community_id != community_id:
        raise NotFound("post_not_found", "找不到这条动态")
    return post


async def community_comment(session: AsyncSession, user: User, community_id: int, comment_id: int) -> Comment:
    """A comment on a post of the community, for its staff (404 otherwise)."""
    await require_staff(session, user, community_id)
    found = (
        await session.execute(
            select(Comment)
            .join(Post, Post.id == Comment.post_id)
            .where(Comment.id == comment_id, Post.community_id == community_id)
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("comment_not_found", "找不到这条评论")
    return found


async def _details(session: AsyncSession, rows: list[reading.PostRow]) -> list[dict[str, Any]]:
    """Posts as the moderation pages show them: every photo (all sizes, staff see them while they
    are checked) with its status, verdict and label; the text's verdict; the residents' reports
    with their reasons; who decided last. Three queries besides the posts'."""
    ids = [row.post.id for row in rows]
    photos: dict[int, list[dict[str, Any]]] = defaultdict(list)
    reports: dict[int, list[dict[str, Any]]] = defaultdict(list)
    deciders: dict[int, str] = {}
    if ids:
        found = await session.execute(
            select(
                PostMedia.post_id,
                Media.id,
                Media.width,
                Media.height,
                Media.status,
                Media.key,
                Media.verdict,
                Media.label,
                Media.error,
            )
            .join(Media, Media.id == PostMedia.media_id)
            .where(PostMedia.post_id.in_(ids))
            .order_by(PostMedia.post_id, PostMedia.position)
        )
        for m in found.all():
            label = m.label if m.label not in (None, 100) else None
            photos[m.post_id].append(
                photo_view(session, m, RENDITIONS, True)
                | {
                    "status": m.status,
                    "status_name": PHOTO_STATUS_NAMES.get(m.status, m.status),
                    "verdict": m.verdict,
                    "verdict_name": VERDICT_NAMES.get(m.verdict or ""),
                    "label": label_name(label),
                    "error": _photo_error(m.error),
                }
            )
        said = await session.execute(
            select(PostReport.post_id, PostReport.reason, PostReport.created_at)
            .where(PostReport.post_id.in_(ids))
            .order_by(PostReport.post_id, PostReport.created_at)
        )
        for r in said.all():
            reports[r.post_id].append({"reason": r.reason, "at": r.created_at})
        moderators = {row.post.moderated_by for row in rows if row.post.moderated_by is not None}
        if moderators:
            named = await session.execute(select(User.id, User.display_name).where(User.id.in_(moderators)))
            deciders = {u.id: u.display_name or "工作人员" for u in named.all()}
    out = []
    for post, author, _avatar, activity_title in rows:
        out.append(
            {
                "id": post.id,
                "author": {"id": post.author_id, "name": author or reading.unnamed(post.by_staff)},
                "by_staff": post.by_staff,
                "body": post.body,
                "activity": {"id": post.activity_id, "title": activity_title} if post.activity_id else None,
                "status": post.status,
                "status_name": POST_STATUS_NAMES.get(post.status, post.status),
                "visibility": post.visibility,
                "shows_children": post.shows_children,
                "text": _text_verdict(post),
                "photos": photos.get(post.id, []),
                "photo_count": post.photo_count,
                "report_count": post.report_count,
                "reports": reports.get(post.id, []),
                "created_at": post.created_at,
                "updated_at": post.updated_at,
                "moderation_note": post.moderation_note,
                "moderated_by": deciders.get(post.moderated_by) if post.moderated_by else None,
            }
        )
    return out


async def queue(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """What waits for staff, oldest first: posts the checks were unsure of, shown posts residents
    reported, comments the check was unsure of; and how many posts WeChat is still checking."""
    await require_staff(session, user, community_id)
    rows = await reading.rows_of(
        session,
        reading.posts_query()
        .where(
            Post.community_id == community_id,
            (Post.status == "review") | ((Post.status == "visible") & (Post.report_count > 0)),
        )
        .order_by(Post.id)
        .limit(LIST_LIMIT),
    )
    checking = (
        await session.execute(
            select(func.count()).select_from(Post).where(Post.community_id == community_id, Post.status == "checking")
        )
    ).scalar_one()
    found = await session.execute(
        select(Comment, User.display_name, Post.body.label("post_body"))
        .join(Post, Post.id == Comment.post_id)
        .outerjoin(User, User.id == Comment.author_id)
        .where(Post.community_id == community_id, Comment.status == "review")
        .order_by(Comment.id)
        .limit(LIST_LIMIT)
    )
    comments = [
        {
            "id": comment.id,
            "post_id": comment.post_id,
            "post_excerpt": _excerpt(post_body),
            "author": name or "居民",
            "body": comment.body,
            "verdict_name": VERDICT_NAMES.get(comment.text_verdict or "", "微信未能检查，请人工判断"),
            "created_at": comment.created_at,
        }
        for comment, name, post_body in found.all()
    ]
    return {"posts": await _details(session, rows), "comments": comments, "checking": checking}


def _excerpt(body: str | None, size: int = 30) -> str:
    text = (body or "").strip()
    return text if len(text) <= size else text[:size] + "…"


async def shown(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The community's shown posts, newest first: staff may take any of them down."""
    await require_staff(session, user, community_id)
    rows = await reading.rows_of(
        session,
        reading.posts_query()
        .where(Post.community_id == community_id, Post.status == "visible")
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(LIST_LIMIT),
    )
    return await _details(session, rows)


async def decided(session: AsyncSession, user: User, community_id: int, status: str | None) -> list[dict[str, Any]]:
    """Posts recently decided, most recent change first: those staff decided (approved, refused,
    taken down) and those WeChat's check refused; `status` (visible, rejected, hidden) narrows
    it, so that a post taken down is found to bring it back."""
    await require_staff(session, user, community_id)
    query = reading.posts_query().where(
        Post.community_id == community_id,
        Post.moderated_by.is_not(None) | Post.status.in_(("rejected", "hidden")),
    )
    if status in DECIDED_STATUSES:
        query = query.where(Post.status == status)
    else:
        query = query.where(Post.status.in_(DECIDED_STATUSES))
    rows = await reading.rows_of(session, query.order_by(Post.updated_at.desc(), Post.id.desc()).limit(LIST_LIMIT))
    return await _details(session, rows)
