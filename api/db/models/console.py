"""The staff console's sign-in: tickets shown as a mini-program code in a browser, confirmed from
the phone, and the browser sessions they open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType
from api.db.models._util import one_of

TICKET_STATES = ("pending", "scanned", "confirmed", "rejected", "consumed")


class ConsoleLoginTicket(IdMixin, Base):
    """A single-use sign-in ticket. `ticket` is public (it is the code's scene, shown on screen);
    only the browser holding the cookie whose hash is `browser_hash` may turn it into a session."""

    __tablename__ = "console_login_tickets"

    ticket: Mapped[str] = mapped_column(String(32), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    scanned_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    consumed_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("state", TICKET_STATES, "state"),
        # the per-address rate limit counts recent tickets of one address
        Index("ix_console_login_tickets_ip_created", "ip", "created_at"),
    )


class ConsoleSession(IdMixin, Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored. Ends after
    `idle` without use, at `expires_at` whatever happens, or when revoked (from the phone or by
    signing out)."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
