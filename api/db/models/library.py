from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

COPY_STATES = ("available", "on_loan", "on_hold_shelf", "repair", "lost", "withdrawn")
HOLD_STATUSES = ("waiting", "ready", "fulfilled", "cancelled", "expired")


class Book(IdMixin, TimestampMixin, Base):
    """A title in a community's reading corner. ISBNs are kept as ISBN-13 digits."""

    __tablename__ = "books"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(128))
    isbn: Mapped[str | None] = mapped_column(String(13))
    author: Mapped[str] = mapped_column(String(128), default="")
    publisher: Mapped[str] = mapped_column(String(128), default="")
    year: Mapped[int | None]
    cover_url: Mapped[str | None] = mapped_column(String(512))
    age_min: Mapped[int | None]  # the age band it suits
    age_max: Mapped[int | None]
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index(
            "uq_books_community_isbn",
            "community_id",
            "isbn",
            unique=True,
            sqlite_where=text("isbn IS NOT NULL"),
            postgresql_where=text("isbn IS NOT NULL"),
        ),
        Index("ix_books_community_title", "community_id", "title"),
        CheckConstraint("age_min IS NULL OR age_max IS NULL OR age_min <= age_max", name="ages"),
    )


class BookCopy(IdMixin, TimestampMixin, Base):
    """A physical copy with a barcode. Its state changes only by conditional UPDATEs, in the same
    transaction as the loan or hold that explains it."""

    __tablename__ = "book_copies"

    book_id: Mapped[int] = mapped_column(IdType, ForeignKey("books.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    space_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("spaces.id", ondelete="SET NULL"))
    barcode: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64), default="")
    condition: Mapped[str] = mapped_column(String(64), default="")
    donated_by: Mapped[str] = mapped_column(String(64), default="")
    # on_hold_shelf: kept for the one ready hold whose copy_id it is
    state: Mapped[str] = mapped_column(String(16), default="available")

    __table_args__ = (
        UniqueConstraint("community_id", "barcode"),
        one_of("state", COPY_STATES, "state"),
        Index("ix_book_copies_book_state", "book_id", "state"),
    )


class Loan(IdMixin, Base):
    """A copy lent to a member (a guardian borrows for a child: the loan is the child's)."""

    __tablename__ = "loans"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    copy_id: Mapped[int] = mapped_column(IdType, ForeignKey("book_copies.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(IdType, ForeignKey("books.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(IdType, ForeignKey("members.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id", ondelete="CASCADE"))
    borrowed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    borrowed_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the end of the due day, community time
    renewals: Mapped[int] = mapped_column(default=0)
    returned_at: Mapped[datetime | None]  # or, with `lost`, the day staff wrote the copy off
    returned_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    lost: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # never lent twice: one active loan per copy
        Index(
            "uq_loans_active_copy",
            "copy_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
        Index("ix_loans_member_active", "member_id", "returned_at"),
        Index("ix_loans_household", "household_id", "id"),
        Index("ix_loans_community_due", "community_id", "returned_at", "due_at"),
        CheckConstraint("renewals >= 0", name="renewals"),
        CheckConstraint("NOT lost OR returned_at IS NOT NULL", name="lost_closed"),
    )


class Hold(IdMixin, Base):
    """A member waiting for a book (预约). Ready: a copy waits on the hold shelf until it expires."""

    __tablename__ = "holds"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(IdType, ForeignKey("books.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(IdType, ForeignKey("members.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id", ondelete="CASCADE"))
    placed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    copy_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("book_copies.id", ondelete="SET NULL"))
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("status", HOLD_STATUSES, "status"),
        Index(
            "uq_holds_active_member_book",
            "book_id",
            "member_id",
            unique=True,
            sqlite_where=text("status IN ('waiting', 'ready')"),
            postgresql_where=text("status IN ('waiting', 'ready')"),
        ),
        # a copy on the hold shelf waits for one hold only
        Index(
            "uq_holds_ready_copy",
            "copy_id",
            unique=True,
            sqlite_where=text("status = 'ready'"),
            postgresql_where=text("status = 'ready'"),
        ),
        Index("ix_holds_book_status", "book_id", "status", "id"),
        Index("ix_holds_member_status", "member_id", "status"),
        CheckConstraint("status <> 'ready' OR (copy_id IS NOT NULL AND expires_at IS NOT NULL)", name="ready"),
    )


class LoanPolicy(Base):
    """A community's lending rules (defaults in SPEC.md); children may have their own."""

    __tablename__ = "loan_policies"

    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    loan_days: Mapped[int] = mapped_column(default=14)
    max_loans: Mapped[int] = mapped_column(default=3)
    child_loan_days: Mapped[int | None]  # NULL: as adults
    child_max_loans: Mapped[int | None]
    renewals: Mapped[int] = mapped_column(default=1)
    hold_shelf_days: Mapped[int] = mapped_column(default=3)
    max_holds: Mapped[int] = mapped_column(default=3)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(
            "loan_days >= 1 AND max_loans >= 1 AND renewals >= 0 AND hold_shelf_days >= 1 AND max_holds >= 0",
            name="limits",
        ),
    )
