from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of
from api.db.models.reports import SERVICE_TYPES_SQL

TEAM_ROLES = ("leader", "member")
TEAM_MEMBER_STATUSES = ("pending", "active")
SIGNUP_STATUSES = ("active", "withdrawn", "completed", "absent")
RECORD_STATUSES = ("pending", "approved", "rejected")


class Team(IdMixin, TimestampMixin, Base):
    """A self-organised team (自组织): the public volunteer team, the space-building team…"""

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
    approved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        one_of("role", TEAM_ROLES, "role"),
        one_of("status", TEAM_MEMBER_STATUSES, "status"),
        CheckConstraint("role <> 'leader' OR status = 'active'", name="leader_active"),
    )


class VolunteerProfile(TimestampMixin, Base):
    """A resident who volunteers in a community. The identity an official record needs is given
    only if they choose: the ID number is kept encrypted (AES-GCM) and shown masked."""

    __tablename__ = "volunteer_profiles"

    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    availability: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"tue": [["14:00", "18:00"]]}
    real_name: Mapped[str | None] = mapped_column(String(32))
    id_number_sealed: Mapped[str | None] = mapped_column(String(256))
    id_number_hint: Mapped[str | None] = mapped_column(String(32))  # 5101**********123X
    ranked: Mapped[bool] = mapped_column(default=True)  # False: left out of rankings


class ShiftRule(IdMixin, TimestampMixin, Base):
    """A standing duty repeated every week (e.g. opening the space Tue–Sun 14:00–18:00)."""

    __tablename__ = "shift_rules"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(128), default="")
    weekdays: Mapped[list[str]] = mapped_column(JSON)
    starts: Mapped[time]
    ends: Mapped[time]  # before `starts`: the shift ends the next day
    needed: Mapped[int]
    active_from: Mapped[date]
    active_until: Mapped[date | None]
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (CheckConstraint("needed >= 1", name="needed"),)


class Shift(IdMixin, TimestampMixin, Base):
    """A slot for `needed` volunteers. `taken` counts active sign-ups and only grows through a
    conditional UPDATE; the CHECK makes overfilling impossible."""

    __tablename__ = "shifts"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("activities.id", ondelete="SET NULL"))
    rule_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shift_rules.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(128), default="")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    needed: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)
    withdraw_deadline: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # the worker closed its sign-ups after the end
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    # as on activities: the service project and the kind of service its records count for
    project_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("service_projects.id", ondelete="SET NULL"), index=True
    )
    service_type: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("taken >= 0 AND taken <= needed", name="slots"),
        CheckConstraint(f"service_type IS NULL OR service_type IN ({SERVICE_TYPES_SQL})", name="service_type"),
        CheckConstraint("end_at > start_at", name="times"),
        Index("ix_shifts_listing", "community_id", "start_at", "id"),
        Index(
            "uq_shifts_rule_start",
            "rule_id",
            "start_at",
            unique=True,
            sqlite_where=text("rule_id IS NOT NULL"),
            postgresql_where=text("rule_id IS NOT NULL"),
        ),
    )


class ShiftSignup(IdMixin, TimestampMixin, Base):
    __tablename__ = "shift_signups"

    shift_id: Mapped[int] = mapped_column(IdType, ForeignKey("shifts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="active")
    assigned_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    checked_in_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    auto_closed: Mapped[bool] = mapped_column(default=False)  # the worker checked them out: review it

    __table_args__ = (
        one_of("status", SIGNUP_STATUSES, "status"),
        Index(
            "uq_shift_signups_active",
            "shift_id",
            "user_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'completed')"),
            postgresql_where=text("status IN ('active', 'completed')"),
        ),
        CheckConstraint("checked_out_at IS NULL OR checked_in_at IS NOT NULL", name="out_after_in"),
    )


class ServiceRecord(IdMixin, TimestampMixin, Base):
    """A record of volunteer service (志愿服务记录) as the national rules want it: who, what service,
    which activity or duty, when and where, the hours actually given, the organising unit, the
    person in charge and who recorded it. Approved records never change (a database trigger
    refuses it); a correction is a new record pointing at the one it corrects."""

    __tablename__ = "service_records"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    signup_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shift_signups.id", ondelete="SET NULL"))
    shift_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shifts.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id", ondelete="SET NULL"))
    service: Mapped[str] = mapped_column(String(128))
    activity_name: Mapped[str] = mapped_column(String(128), default="")
    service_date: Mapped[date]
    place: Mapped[str] = mapped_column(String(128), default="")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    minutes: Mapped[int]  # credited, after the community's rounding
    organiser: Mapped[str] = mapped_column(String(128))
    person_in_charge: Mapped[str] = mapped_column(String(64), default="")
    recorded_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    review_by: Mapped[date]  # 10 working days after the service
    reviewed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(String(256))
    flagged: Mapped[bool] = mapped_column(default=False)  # its check-out was closed by the worker
    corrects_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("service_records.id", ondelete="SET NULL"))
    correction_reason: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (
        one_of("status", RECORD_STATUSES, "status"),
        CheckConstraint("minutes >= 0", name="minutes"),
        CheckConstraint("end_at > start_at", name="times"),
        CheckConstraint("corrects_id IS NULL OR correction_reason IS NOT NULL", name="correction_reason"),
        Index("ix_service_records_community_status", "community_id", "status", "review_by"),
        Index(
            "uq_service_records_signup",
            "signup_id",
            unique=True,
            sqlite_where=text("signup_id IS NOT NULL AND corrects_id IS NULL"),
            postgresql_where=text("signup_id IS NOT NULL AND corrects_id IS NULL"),
        ),
        Index(  # a record is corrected once; a correction is corrected in turn
            "uq_service_records_correction",
            "corrects_id",
            unique=True,
            sqlite_where=text("corrects_id IS NOT NULL AND status <> 'rejected'"),
            postgresql_where=text("corrects_id IS NOT NULL AND status <> 'rejected'"),
        ),
    )


class VolunteerPolicy(Base):
    """How a community credits hours: in whole `rounding_minutes`, rounded down."""

    __tablename__ = "volunteer_policies"

    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    organiser: Mapped[str] = mapped_column(String(128), default="")  # the recording organisation's name
    rounding_minutes: Mapped[int] = mapped_column(default=15)
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("rounding_minutes IN (1, 5, 10, 15, 30, 60)", name="rounding"),)


class Certificate(Base):
    """A certificate of hours handed out, so that anyone holding its number can check it."""

    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    minutes: Mapped[int]
    period_from: Mapped[date]
    period_to: Mapped[date]
    services: Mapped[list[str]] = mapped_column(JSON)
    # every organiser its records name, joined: more than one column's worth after a rename
    organiser: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]


class VolunteerStory(IdMixin, TimestampMixin, Base):
    """人物故事: a staff-written story featuring a volunteer, shown only once they consent."""

    __tablename__ = "volunteer_stories"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    written_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    consented_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
