"""A post's status from its checks: WeChat's verdicts on its text and photos, and its author told
when it is refused. Photos settle their posts from here (`media`) as the text check does (`posts`),
so it depends on neither."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Media, Post, PostMedia
from api.services.notifications import notify

LABELS = {
    10001: "广告",
    20001: "时政",
    20002: "色情",
    20003: "辱骂",
    20006: "违法犯罪",
    20008: "欺诈",
    20012: "低俗",
    20013: "版权",
    21000: "其他",
}


async def _tell_author(session: AsyncSession, post: Post, reason: str, cause: str) -> None:
    """The author hears why their post is not (or no longer) shown; `cause`: rejected or hidden."""
    if post.author_id is not None:
        await notify(
            session,
            [post.author_id],
            "post.rejected",
            {"post_id": post.id, "reason": reason},
            f"post:{post.id}:{cause}",
            community_id=post.community_id,
        )


async def settle(session: AsyncSession, post_id: int) -> Post | None:
    """The post's status from its checks: refused if its text or a photo is risky (or a photo
    could not be read), for staff if any check was unsure, visible once everything passed. The
    post is locked first, so that two verdicts arriving together see each other."""
    post = await session.get(Post, post_id, with_for_update=True, populate_existing=True)
    if post is None or post.status not in ("checking", "review"):
        return post
    statuses = list(
        (
            await session.execute(
                select(Media.status).join(PostMedia, PostMedia.media_id == Media.id).where(PostMedia.post_id == post_id)
            )
        ).scalars()
    )
    before = post.status
    if post.text_verdict == "risky" or any(s in ("rejected", "failed") for s in statuses):
        post.status = "rejected"
        post.moderation_note = post.moderation_note or _reason(post, statuses)
    elif post.text_verdict == "review" or "review" in statuses:
        post.status = "review"
    elif post.text_verdict == "pass" and all(s == "approved" for s in statuses):
        post.status = "visible"
        post.visible_at = clock.now()
    await session.flush()
    if post.status != before and post.status == "rejected":
        await _tell_author(session, post, post.moderation_note or "内容未通过审核", "rejected")
    return post


def _reason(post: Post, statuses: list[str]) -> str:
    if post.text_verdict == "risky":
        label = LABELS.get(post.text_label or 0, "不适宜发布")
        return f"文字内容涉及{label}，未通过安全检查"
    if "failed" in statuses:
        return "有照片无法读取，请换一张再发"
    return "有照片未通过安全检查"
