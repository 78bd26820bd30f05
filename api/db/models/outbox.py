from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, TimestampMixin
from api.db.models._util import one_of

JOB_STATUSES = ("pending", "running", "done", "dead")


class OutboxJob(IdMixin, TimestampMixin, Base):
    """A side effect to run later, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox_jobs"

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(8), default="pending")
    run_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int | None]  # NULL: the worker's LINLI_WORKER_MAX_ATTEMPTS
    last_error: Mapped[str | None] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("status", JOB_STATUSES, "status"),
        Index("ix_outbox_jobs_due", "status", "run_at"),
    )
