"""Reports for funders: service projects and their targets, activity summaries for the record
book, submitted (frozen) periods and the monthly record books the worker assembles."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

# 社区活动 / 小组活动 / 个案 / 志愿服务 / 议事协商 / 培训 / 其他: what funders' templates count by
SERVICE_TYPES = ("community", "group", "casework", "volunteering", "deliberation", "training", "other")
SERVICE_TYPES_SQL = ", ".join(f"'{t}'" for t in SERVICE_TYPES)
GENDERS = ("female", "male")
TARGET_GRAINS = ("month", "quarter")
RECORD_BOOK_STATES = ("pending", "ready", "failed")


class ServiceProject(IdMixin, TimestampMixin, Base):
    """A government-purchased service contract (服务项目): who pays, for how long, which
    communities it covers. Activities and shifts are tagged with it; its targets are per community."""

    __tablename__ = "service_projects"

    name: Mapped[str] = mapped_column(String(64))
    funder: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    # targets are set per month or per quarter besides the whole period
    grain: Mapped[str] = mapped_column(String(8), default="month")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        one_of("grain", TARGET_GRAINS, "grain"),
        CheckConstraint("ends_on >= starts_on", name="period"),
    )


class ProjectCommunity(Base):
    """A community a project covers. Each community's staff see the project's figures for their
    community only."""

    __tablename__ = "project_communities"

    project_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("service_projects.id", ondelete="CASCADE"), primary_key=True
    )
    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime]


class ProjectTarget(IdMixin, Base):
    """A target of one indicator for one community of a project: for the whole contract period
    (`period` = "total") or one month ("2026-09") or quarter ("2026-Q3")."""

    __tablename__ = "project_targets"

    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("service_projects.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(8))
    value: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("project_id", "community_id", "indicator", "period"),
        CheckConstraint("value >= 0", name="value"),
    )


class ActivitySummary(Base):
    """What staff write about an activity for the record book (活动总结): 背景 / 目标 / 过程 /
    参与情况 / 成效 / 反思."""

    __tablename__ = "activity_summaries"

    activity_id: Mapped[int] = mapped_column(IdType, ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True)
    background: Mapped[str] = mapped_column(Text, default="")
    goals: Mapped[str] = mapped_column(Text, default="")
    process: Mapped[str] = mapped_column(Text, default="")
    participation: Mapped[str] = mapped_column(Text, default="")
    outcomes: Mapped[str] = mapped_column(Text, default="")
    reflection: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))


class ReportSubmission(IdMixin, Base):
    """A month or quarter submitted to the funder: the report as it stood, frozen (`figures`).
    Later changes to data of the period show as adjustments, never alter this."""

    __tablename__ = "report_submissions"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("service_projects.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(8))  # "2026-09" or "2026-Q3"
    period_from: Mapped[date]
    period_to: Mapped[date]
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(256), default="")
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period"),
        Index(
            "uq_report_submissions_project",
            "community_id",
            "project_id",
            "period",
            unique=True,
            sqlite_where=text("project_id IS NOT NULL"),
            postgresql_where=text("project_id IS NOT NULL"),
        ),
        Index(
            "uq_report_submissions_community",
            "community_id",
            "period",
            unique=True,
            sqlite_where=text("project_id IS NULL"),
            postgresql_where=text("project_id IS NULL"),
        ),
    )


class RecordBook(IdMixin, Base):
    """A month's record book (台账) the worker assembles as a ZIP: sign-in sheets, summaries,
    photos and the indicator sheet. `internal` books may include photos flagged as showing
    children (for the organisation's own archive, never for evaluators)."""

    __tablename__ = "record_books"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-09"
    internal: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    storage_key: Mapped[str | None] = mapped_column(String(256))
    size: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(256))
    requested_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("state", RECORD_BOOK_STATES, "state"),
        Index("ix_record_books_community", "community_id", "month", "id"),
    )
