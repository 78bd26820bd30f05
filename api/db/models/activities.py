from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of
from api.db.models.reports import SERVICE_TYPES_SQL

CATEGORIES = ("children", "parent_child", "elders", "culture", "volunteering", "deliberation", "other")
ACTIVITY_STATUSES = ("draft", "published", "cancelled")
BOOKING_STATUSES = ("confirmed", "waitlisted", "cancelled")
BOOKING_SOURCES = ("app", "walkin")
CHECKIN_METHODS = ("scan", "self", "walkin", "staff")


class Series(IdMixin, TimestampMixin, Base):
    """Sessions that belong together, e.g. the weekly Saturday reading club; residents follow it."""

    __tablename__ = "series"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16), default="other")

    __table_args__ = (one_of("category", CATEGORIES, "category"),)


class SeriesFollow(Base):
    __tablename__ = "series_follows"

    series_id: Mapped[int] = mapped_column(IdType, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class Activity(IdMixin, TimestampMixin, Base):
    """An activity with `capacity` seats of which `taken` are held by confirmed bookings, and
    `waiting` bookings on its waitlist.

    `taken` and `waiting` only change under the activity's row lock (a booking batch, a cancel, a
    promotion; api/services/activities/burst.py and bookings.py), and the CHECK makes overbooking
    impossible whatever the code does. `waiting` is the waitlist's length, so a booking joining it
    learns its position without counting the queue.
    Finished is not a status: a published activity whose end has passed is finished;
    `attendance_closed_at` records when its no-shows were counted."""

    __tablename__ = "activities"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    series_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("series.id", ondelete="SET NULL"), index=True)
    space_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("spaces.id", ondelete="SET NULL"))
    location: Mapped[str] = mapped_column(String(128), default="")
    title: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16))
    cover_url: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    capacity: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)
    waiting: Mapped[int] = mapped_column(default=0, server_default="0")  # waitlisted bookings
    max_seats_per_booking: Mapped[int] = mapped_column(default=3)
    registration_opens_at: Mapped[datetime | None]  # NULL: as soon as it is published
    registration_closes_at: Mapped[datetime]
    cancel_deadline: Mapped[datetime]  # residents cancel before it; staff any time
    checkin_opens_at: Mapped[datetime]
    checkin_closes_at: Mapped[datetime]
    child_min_age: Mapped[int | None]  # child attendees must be in this age range (by birth year)
    child_max_age: Mapped[int | None]
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(256))
    attendance_closed_at: Mapped[datetime | None]
    album_sent_at: Mapped[datetime | None]  # its attendees were sent the album and the next session
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    # the service project it is delivered under and the funders' kind of service; untagged
    # activities still count for the community
    project_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("service_projects.id", ondelete="SET NULL"), index=True
    )
    service_type: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        one_of("status", ACTIVITY_STATUSES, "status"),
        CheckConstraint(f"service_type IS NULL OR service_type IN ({SERVICE_TYPES_SQL})", name="service_type"),
        one_of("category", CATEGORIES, "category"),
        CheckConstraint("taken >= 0 AND taken <= capacity", name="seats"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("waiting >= 0", name="waiting"),
        CheckConstraint("max_seats_per_booking >= 1", name="max_seats"),
        CheckConstraint("end_at > start_at", name="times"),
        CheckConstraint("checkin_closes_at > checkin_opens_at", name="checkin_window"),
        CheckConstraint(
            "child_min_age IS NULL OR child_max_age IS NULL OR child_min_age <= child_max_age", name="ages"
        ),
        Index("ix_activities_listing", "community_id", "start_at", "id"),
    )


class Booking(IdMixin, TimestampMixin, Base):
    """Seats for named attendees of one household. Arrival order is the id: bookings of an activity
    get their ids under the activity's row lock (a batch at a time, in arrival order)."""

    __tablename__ = "bookings"

    activity_id: Mapped[int] = mapped_column(IdType, ForeignKey("activities.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    household_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("households.id", ondelete="SET NULL"))
    booked_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    seats: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8), default="app")
    confirmed_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]  # confirmed from the waitlist
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    # the share the booker opened last within 7 days before booking (the loop's "bookings from shares")
    share_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shares.id", ondelete="SET NULL"), index=True)
    # staff booked it at the desk for the household (代办: an elder without WeChat); `booked_by` is
    # then the household's own account that hears of it, if it has one
    booked_at_desk_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        one_of("status", BOOKING_STATUSES, "status"),
        one_of("source", BOOKING_SOURCES, "source"),
        CheckConstraint("seats >= 1", name="seats"),
        Index("ix_bookings_activity_status", "activity_id", "status", "id"),
        Index("ix_bookings_household", "household_id", "id"),
    )


class BookingAttendee(IdMixin, Base):
    """A person holding a seat: a household member, or a walk-in guest known only by name.

    A member holds at most one active booking per activity (partial unique index)."""

    __tablename__ = "booking_attendees"

    booking_id: Mapped[int] = mapped_column(IdType, ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    activity_id: Mapped[int] = mapped_column(IdType, ForeignKey("activities.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("members.id", ondelete="CASCADE"))
    guest_name: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    checkin_method: Mapped[str | None] = mapped_column(String(8))
    no_show: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (guest_name IS NULL)", name="who"),
        CheckConstraint("NOT (no_show AND checked_in_at IS NOT NULL)", name="attendance"),
        CheckConstraint(
            "checkin_method IS NULL OR checkin_method IN ('scan', 'self', 'walkin', 'staff')", name="checkin_method"
        ),
        Index(
            "uq_booking_attendees_active_member",
            "activity_id",
            "member_id",
            unique=True,
            sqlite_where=text("active AND member_id IS NOT NULL"),
            postgresql_where=text("active AND member_id IS NOT NULL"),
        ),
        Index("ix_booking_attendees_member", "member_id", "no_show"),
    )


class ActivityPolicy(Base):
    """A community's booking rules (defaults in SPEC.md); absent: the defaults."""

    __tablename__ = "activity_policies"

    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    no_show_limit: Mapped[int] = mapped_column(default=3)
    no_show_window_days: Mapped[int] = mapped_column(default=90)
    block_days: Mapped[int] = mapped_column(default=30)
    reminder_hours: Mapped[int] = mapped_column(default=24)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("no_show_limit >= 1 AND no_show_window_days >= 1 AND block_days >= 0", name="no_shows"),
        CheckConstraint("reminder_hours >= 0", name="reminder"),
    )


class BookingBlock(IdMixin, Base):
    """A person may not book until `until`, for repeated no-shows; staff can lift it."""

    __tablename__ = "booking_blocks"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(IdType, ForeignKey("members.id", ondelete="CASCADE"), index=True)
    blocked_at: Mapped[datetime]
    until: Mapped[datetime]
    no_shows: Mapped[int]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("until >= blocked_at", name="period"),
        UniqueConstraint("member_id", "blocked_at"),
    )
