from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

ROLES = ("resident", "staff", "admin")
MEMBER_KINDS = ("adult", "child", "elder")
MEMBER_STATUSES = ("active", "pending")
# where a phone number was revealed: the household's file, the library's overdue list
PHONE_REVEAL_CONTEXTS = ("household", "overdue")


class Community(IdMixin, TimestampMixin, Base):
    __tablename__ = "communities"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    city: Mapped[str] = mapped_column(String(32), default="")
    district: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # pushes wait outside these local hours, "HH:MM-HH:MM" ("" none); NULL: the deployment's default
    quiet_hours: Mapped[str | None] = mapped_column(String(11))


class Space(IdMixin, TimestampMixin, Base):
    """A place residents come to (the composite space, a meeting room) with weekly opening hours."""

    __tablename__ = "spaces"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(256), default="")
    # {"mon": [], "tue": [["09:00", "21:00"]], ...}: local times in the community's time zone
    opening_hours: Mapped[dict[str, Any]]

    __table_args__ = (UniqueConstraint("community_id", "name"),)


class SpaceClosure(IdMixin, TimestampMixin, Base):
    """Days a space is closed outside its weekly rule (holidays, repairs); both ends inclusive."""

    __tablename__ = "space_closures"

    space_id: Mapped[int] = mapped_column(IdType, ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(128), default="")

    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ordered"),)


class CommunityMembership(IdMixin, TimestampMixin, Base):
    """A user's role in one community. Residents also have a Member record in a household."""

    __tablename__ = "community_memberships"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="resident")
    granted_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("community_id", "user_id"), one_of("role", ROLES, "role"))


class Household(IdMixin, TimestampMixin, Base):
    """户: an address in a community. One household, one file (一户一档)."""

    __tablename__ = "households"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    building: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(32), default="")
    room: Mapped[str] = mapped_column(String(32))
    # normalised "building|unit|room", so "3栋 2单元 501" and "3栋 2单元 ５０１" are one household
    address_key: Mapped[str] = mapped_column(String(100))
    # a phone to reach the household, recorded by staff at the desk (an elder without WeChat):
    # sealed at rest (api.services.phones), shown masked, in full only on a logged reveal
    contact_phone_sealed: Mapped[str | None] = mapped_column(Text)
    # the flat (专有部分): its floor area in hundredths of ㎡ and whether the household owns it (业主),
    # for owners' votes weighted by area (Civil Code art. 278); imported by staff
    floor_area_centi: Mapped[int | None]
    is_owner: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("community_id", "address_key"),
        CheckConstraint("floor_area_centi IS NULL OR floor_area_centi BETWEEN 1 AND 100000000", name="floor_area"),
    )


class Member(IdMixin, TimestampMixin, Base):
    """A person in a household; children and elders may have no WeChat account (user_id NULL).

    For a child only the minimum is kept: display name, birth year and the guardian's consent.
    """

    __tablename__ = "members"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    display_name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8), default="adult")
    birth_year: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(8), default="active")
    is_head: Mapped[bool] = mapped_column(default=False)
    consent_by_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    consent_at: Mapped[datetime | None]
    added_by_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    # joined within 7 days of opening this share, not having been a resident (the loop's new residents)
    via_share_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shares.id", ondelete="SET NULL"))
    approved_by_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None]
    # optional, never required: funders' templates split beneficiaries by it
    gender: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (
        one_of("kind", MEMBER_KINDS, "kind"),
        CheckConstraint("gender IS NULL OR gender IN ('female', 'male')", name="gender"),
        one_of("status", MEMBER_STATUSES, "status"),
        CheckConstraint(
            "kind <> 'child' OR (birth_year IS NOT NULL AND consent_at IS NOT NULL AND user_id IS NULL)",
            name="child_minimum",
        ),
        CheckConstraint("NOT is_head OR status = 'active'", name="head_active"),
        # a WeChat user belongs to one household per community
        Index(
            "uq_members_community_user",
            "community_id",
            "user_id",
            unique=True,
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        # one head per household
        Index(
            "uq_members_household_head",
            "household_id",
            unique=True,
            sqlite_where=text("is_head"),
            postgresql_where=text("is_head"),
        ),
    )


class PhoneReveal(IdMixin, Base):
    """A staff member saw a household's phone number in full (a deliberate click in the console):
    who, whose, where they were, when."""

    __tablename__ = "phone_reveals"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id", ondelete="CASCADE"), index=True)
    revealed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    context: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]

    __table_args__ = (
        one_of("context", PHONE_REVEAL_CONTEXTS, "context"),
        Index("ix_phone_reveals_community_created", "community_id", "created_at"),
    )
