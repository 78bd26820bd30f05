"""Record → share → re-participate: photos, posts and their albums, likes, comments, reports,
shares and their opens, category follows."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of
from api.db.models.activities import CATEGORIES

# processing: the worker is making its renditions; checking: WeChat's image check is out;
# review: the check was unsure, staff decide; failed: it could not be decoded
MEDIA_STATUSES = ("processing", "checking", "approved", "review", "rejected", "failed")
# checking: text or photos are being checked; review: staff decide; hidden: staff took it down
POST_STATUSES = ("checking", "visible", "review", "rejected", "hidden")
VERDICTS = ("pass", "review", "risky")
SHARE_TARGETS = ("activity", "post")


class Media(IdMixin, TimestampMixin, Base):
    """An uploaded photo. The upload itself is kept under `incoming_key` only until the worker has
    made the renditions (EXIF and GPS gone), which live under `key`."""

    __tablename__ = "media"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    uploaded_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="processing")
    kind: Mapped[str] = mapped_column(String(8))  # what the bytes were: jpeg, png, webp
    size_bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    key: Mapped[str] = mapped_column(String(128), unique=True)  # renditions: {key}/large.jpg, feed.jpg, thumb.jpg
    incoming_key: Mapped[str | None] = mapped_column(String(160))
    trace_id: Mapped[str | None] = mapped_column(String(64))  # WeChat's image check
    verdict: Mapped[str | None] = mapped_column(String(8))
    label: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        one_of("status", MEDIA_STATUSES, "status"),
        # the upload as it came (EXIF, GPS) is kept only until its renditions are made
        CheckConstraint("incoming_key IS NULL OR status = 'processing'", name="upload_kept"),
        Index(
            "uq_media_trace",
            "trace_id",
            unique=True,
            sqlite_where=text("trace_id IS NOT NULL"),
            postgresql_where=text("trace_id IS NOT NULL"),
        ),
    )


class Post(IdMixin, TimestampMixin, Base):
    """A post (动态): text and up to nine photos, perhaps of an activity (then it is in the
    activity's album). Photos showing children make it community-only, which the database keeps."""

    __tablename__ = "posts"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    activity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("activities.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(12), default="community")
    shows_children: Mapped[bool] = mapped_column(default=False)
    by_staff: Mapped[bool] = mapped_column(default=False)
    pinned: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(12), default="checking")
    text_verdict: Mapped[str | None] = mapped_column(String(8))
    text_label: Mapped[int | None]
    photo_count: Mapped[int] = mapped_column(default=0)
    like_count: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    report_count: Mapped[int] = mapped_column(default=0)
    visible_at: Mapped[datetime | None]
    moderated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    moderation_note: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        one_of("status", POST_STATUSES, "status"),
        one_of("visibility", ("community", "public"), "visibility"),
        CheckConstraint("NOT shows_children OR visibility = 'community'", name="children_community_only"),
        CheckConstraint("photo_count BETWEEN 0 AND 9", name="photo_count"),
        CheckConstraint("status <> 'visible' OR visible_at IS NOT NULL", name="visible_at"),
        CheckConstraint("like_count >= 0 AND comment_count >= 0 AND report_count >= 0", name="counts"),
        Index("ix_posts_feed", "community_id", "status", "created_at", "id"),
        # the feed's pinned posts, and each reader's own posts still waiting, found without a scan
        Index(
            "ix_posts_pinned",
            "community_id",
            "created_at",
            "id",
            sqlite_where=text("pinned AND status = 'visible'"),
            postgresql_where=text("pinned AND status = 'visible'"),
        ),
        Index(
            "ix_posts_waiting",
            "author_id",
            "id",
            sqlite_where=text("status <> 'visible'"),
            postgresql_where=text("status <> 'visible'"),
        ),
        Index("ix_posts_activity", "activity_id", "status", "id"),
    )


class PostMedia(Base):
    __tablename__ = "post_media"

    post_id: Mapped[int] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(IdType, ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int]

    __table_args__ = (
        UniqueConstraint("media_id"),  # a photo belongs to one post
        CheckConstraint("position BETWEEN 0 AND 8", name="position"),
    )


class PostMember(Base):
    """A household member a post is about: it is in their growth album (成长相册)."""

    __tablename__ = "post_members"

    post_id: Mapped[int] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PostLike(Base):
    __tablename__ = "post_likes"

    post_id: Mapped[int] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class Comment(IdMixin, TimestampMixin, Base):
    __tablename__ = "comments"

    post_id: Mapped[int] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="checking")
    text_verdict: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (one_of("status", POST_STATUSES, "status"), Index("ix_comments_post", "post_id", "id"))


class PostReport(Base):
    __tablename__ = "post_reports"

    post_id: Mapped[int] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Share(IdMixin, Base):
    """A share of an activity or a post by someone; its token is the mini-program code's scene."""

    __tablename__ = "shares"

    token: Mapped[str] = mapped_column(String(16), unique=True)
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(8))
    activity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("activities.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("posts.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    code_key: Mapped[str | None] = mapped_column(String(64))  # the mini-program code image, once made

    __table_args__ = (
        one_of("target", SHARE_TARGETS, "target"),
        CheckConstraint(
            "(target = 'activity' AND activity_id IS NOT NULL AND post_id IS NULL)"
            " OR (target = 'post' AND post_id IS NOT NULL AND activity_id IS NULL)",
            name="one_target",
        ),
        # one share per person and target: sharing again hands out the same token and code
        Index(
            "uq_shares_activity",
            "created_by",
            "activity_id",
            unique=True,
            sqlite_where=text("target = 'activity'"),
            postgresql_where=text("target = 'activity'"),
        ),
        Index(
            "uq_shares_post",
            "created_by",
            "post_id",
            unique=True,
            sqlite_where=text("target = 'post'"),
            postgresql_where=text("target = 'post'"),
        ),
        Index("ix_shares_community", "community_id", "created_at"),
        Index("ix_shares_activity", "activity_id"),
        Index("ix_shares_post", "post_id"),
    )


class ShareOpen(IdMixin, Base):
    """Someone opened a share: counted once per viewer per day (community time)."""

    __tablename__ = "share_opens"

    share_id: Mapped[int] = mapped_column(IdType, ForeignKey("shares.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date]
    opened_at: Mapped[datetime]
    was_member: Mapped[bool]  # already a resident of the share's community when opening it

    __table_args__ = (
        UniqueConstraint("share_id", "user_id", "day"),
        Index("ix_share_opens_user", "user_id", "opened_at"),
    )


class CategoryFollow(Base):
    """A resident hears of every new activity of a category in their community."""

    __tablename__ = "category_follows"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime]

    __table_args__ = (one_of("category", CATEGORIES, "category"),)
