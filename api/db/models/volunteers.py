from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

TEAM_ROLES = ("leader", "member")
TEAM_MEMBER_STATUSES = ("pending", "active")


class Team(IdMixin, TimestampMixin, Base):
    """A self-organised team (自组织): the public volunteer team, the space-building team…

    Only what announcements need to address a team exists so far; the volunteers issue adds the rest."""

    __tablename__ = "teams"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("community_id", "name"),)


class TeamMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(8), default="member")
    status: Mapped[str] = mapped_column(String(8), default="pending")

    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        one_of("role", TEAM_ROLES, "role"),
        one_of("status", TEAM_MEMBER_STATUSES, "status"),
    )
