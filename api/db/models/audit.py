"""The audit list of a community's settings: who changed what, when, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api import clock
from api.db.base import Base, IdMixin, IdType
from api.db.models._util import one_of

# what an entry is about, and what was done to it (services.audit labels them for staff)
AUDIT_SUBJECTS = (
    "community",
    "space",
    "closure",
    "role",
    "activity_policy",
    "loan_policy",
    "volunteer_policy",
    "governance_policy",
    "quiet_hours",
)
AUDIT_ACTIONS = ("create", "update", "delete", "grant", "revoke")


class AuditEntry(IdMixin, Base):
    """One change to a community's settings (its details, spaces and closures, staff roles, the
    policies of its domains, its quiet hours), written in the change's own transaction. The actor
    may be deleted later; their name stays as it was written."""

    __tablename__ = "audit_entries"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=clock.now)
    # what was changed: "community", "space", "closure", "role", "activity_policy", ... and its id
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(IdType)
    action: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]

    __table_args__ = (
        one_of("subject_kind", AUDIT_SUBJECTS, "subject_kind"),
        one_of("action", AUDIT_ACTIONS, "action"),
        # the list, newest first, and the list of one subject
        Index("ix_audit_entries_community_at", "community_id", "at", "id"),
        Index("ix_audit_entries_subject", "community_id", "subject_kind", "subject_id", "at"),
    )
