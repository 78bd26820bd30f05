from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "no_credit", "cancelled")
ATTEMPT_OUTCOMES = ("sent", "retry", "failed", "no_credit")
SUBSCRIPTION_RESULTS = ("accept", "reject", "ban")
AUDIENCE_KINDS = ("community", "buildings", "children", "team", "activity")


class Notification(IdMixin, Base):
    """An in-app inbox entry. One per (cause, recipient): the same cause never notifies a person twice.

    Title, body and page are rendered when the cause happens, so the entry keeps its words."""

    __tablename__ = "notifications"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    cause_key: Mapped[str] = mapped_column(String(191))
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    page: Mapped[str] = mapped_column(String(512))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    retracted_at: Mapped[datetime | None]  # its cause was withdrawn: hidden from the inbox

    __table_args__ = (
        UniqueConstraint("cause_key", "user_id"),
        Index("ix_notifications_inbox", "user_id", "id"),
    )


class Delivery(IdMixin, TimestampMixin, Base):
    """The WeChat subscribe-message push of one inbox entry; made only for a recipient holding a
    credit for the kind's template when the cause happened."""

    __tablename__ = "notification_deliveries"

    notification_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("notifications.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]  # while `sending`: a worker that vanished loses it then
    errcode: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(512))
    request: Mapped[dict[str, Any] | None]  # what was (or, in fake mode, would be) sent to WeChat
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("status", DELIVERY_STATUSES, "status"),
        Index("ix_notification_deliveries_community", "community_id", "id"),
    )


class DeliveryAttempt(IdMixin, Base):
    """Every call made (or refused locally) for a delivery: when, outcome, WeChat's errcode."""

    __tablename__ = "notification_delivery_attempts"

    delivery_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("notification_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None]
    errmsg: Mapped[str | None] = mapped_column(String(512))

    __table_args__ = (one_of("outcome", ATTEMPT_OUTCOMES, "outcome"),)


class SubscriptionCredit(Base):
    """The credit ledger of one-time subscribe-message grants: +1 per accept, −1 per send, zero
    after WeChat's 43101 or a ban. WeChat has no API to read it, so Linli keeps its own."""

    __tablename__ = "subscription_credits"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    credits: Mapped[int] = mapped_column(default=0)
    last_result: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("credits >= 0", name="not_negative"),
        one_of("last_result", SUBSCRIPTION_RESULTS, "last_result"),
    )


class SendSlot(Base):
    """The global WeChat send rate: the next free slot, shared by every worker."""

    __tablename__ = "send_slots"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[datetime]


class Announcement(IdMixin, TimestampMixin, Base):
    """A staff notice. Published once `publish_at` has passed (now or a set time), unless withdrawn.

    The audience is kept as entered (`audience`) and in queryable form: its kind, the building keys
    (announcement_buildings), the children's birth-year range, the team or the activity."""

    __tablename__ = "announcements"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(default=False)
    audience: Mapped[dict[str, Any]]
    audience_kind: Mapped[str] = mapped_column(String(16))
    child_birth_year_min: Mapped[int | None]
    child_birth_year_max: Mapped[int | None]
    # no ON DELETE: a team or activity that has been announced to stays (the CHECKs need it)
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id"))
    activity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("activities.id"))
    publish_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        one_of("audience_kind", AUDIENCE_KINDS, "audience_kind"),
        CheckConstraint(
            "audience_kind <> 'children' OR (child_birth_year_min IS NOT NULL AND child_birth_year_max IS NOT NULL"
            " AND child_birth_year_min <= child_birth_year_max)",
            name="children_range",
        ),
        CheckConstraint("audience_kind <> 'team' OR team_id IS NOT NULL", name="team_target"),
        CheckConstraint("audience_kind <> 'activity' OR activity_id IS NOT NULL", name="activity_target"),
        Index("ix_announcements_listing", "community_id", "pinned", "publish_at", "id"),
    )


class AnnouncementBuilding(Base):
    """A building an announcement is addressed to, by its normalised key (as in households.address_key)."""

    __tablename__ = "announcement_buildings"

    announcement_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    building_key: Mapped[str] = mapped_column(String(32), primary_key=True)


class AnnouncementRevision(IdMixin, Base):
    """The words an announcement had before an edit made after it was published."""

    __tablename__ = "announcement_revisions"

    announcement_id: Mapped[int] = mapped_column(IdType, ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    editor_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    edited_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)


class AnnouncementReadMark(Base):
    """Who has read an announcement, once each (the read count staff see)."""

    __tablename__ = "announcement_reads"

    announcement_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime]
