"""The statements of a booking batch (booking_batch.py), built once so that each runs from
SQLAlchemy's compiled cache; on PostgreSQL the lock and the writes are one statement each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from api.db.base import UTCDateTime
from api.db.models import (
    Activity,
    ActivityPolicy,
    Booking,
    BookingAttendee,
    BookingBlock,
    Community,
    CommunityMembership,
    Household,
    IdempotencyKey,
    Member,
    OutboxJob,
    Space,
    User,
)

ACTIVITY = (
    select(
        Activity.id,
        Activity.space_id,
        Activity.community_id,
        Activity.title,
        Activity.status,
        Activity.start_at,
        Activity.end_at,
        Activity.location,
        Activity.max_seats_per_booking,
        Activity.registration_opens_at,
        Activity.registration_closes_at,
        Activity.published_at,
        Activity.cancel_deadline,
        Activity.child_min_age,
        Activity.child_max_age,
        Community.timezone,
        Space.name.label("space_name"),
        ActivityPolicy.reminder_hours,
    )
    .join(Community, Community.id == Activity.community_id)
    .outerjoin(Space, Space.id == Activity.space_id)
    .outerjoin(ActivityPolicy, ActivityPolicy.community_id == Activity.community_id)
    .where(Activity.id == bindparam("a"))
)
CALLERS = (
    select(
        User.id,
        User.display_name,
        User.is_platform_admin,
        Member.id.label("member_id"),
        Member.household_id,
        CommunityMembership.role,
    )
    .outerjoin(
        Member, and_(Member.user_id == User.id, Member.community_id == bindparam("c"), Member.status == "active")
    )
    .outerjoin(
        CommunityMembership,
        and_(CommunityMembership.user_id == User.id, CommunityMembership.community_id == bindparam("c")),
    )
    .where(User.id.in_(bindparam("users", expanding=True)))
)
KEY_LOCKS = text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:ks AS BIGINT[])) AS t(k)")
KEYS = select(
    IdempotencyKey.id,
    IdempotencyKey.user_id,
    IdempotencyKey.key,
    IdempotencyKey.fingerprint,
    IdempotencyKey.status_code,
    IdempotencyKey.response_body,
    IdempotencyKey.expires_at,
).where(tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(bindparam("pairs", expanding=True)))
MEMBERS = select(
    Member.id, Member.household_id, Member.display_name, Member.kind, Member.birth_year, Member.user_id
).where(Member.id.in_(bindparam("ids", expanding=True)), Member.status == "active")
BLOCKS = (
    select(BookingBlock.member_id, BookingBlock.until, BookingBlock.no_shows)
    .where(
        BookingBlock.member_id.in_(bindparam("ids", expanding=True)),
        BookingBlock.lifted_at.is_(None),
        BookingBlock.until > bindparam("now"),
    )
    .order_by(BookingBlock.until.desc())
)
HELD = select(BookingAttendee.booking_id, BookingAttendee.member_id).where(
    BookingAttendee.activity_id == bindparam("a"),
    BookingAttendee.member_id.in_(bindparam("ids", expanding=True)),
    BookingAttendee.active,
)
LOCK = (
    select(
        Activity.status,
        Activity.registration_opens_at,
        Activity.registration_closes_at,
        Activity.published_at,
        Activity.capacity,
        Activity.taken,
        Activity.waiting,
        Activity.start_at,
        Activity.end_at,
        Activity.cancel_deadline,
        Activity.title,
        Activity.location,
        Activity.space_id,
    )
    .where(Activity.id == bindparam("a"))
    .with_for_update()
)
# PostgreSQL: the lock, with an id for each booking of the batch drawn under it
LOCK_POSTGRESQL = text(
    "UPDATE activities SET taken = taken WHERE id = :a RETURNING status, registration_opens_at,"
    " registration_closes_at, published_at, capacity, taken, waiting, start_at, end_at, cancel_deadline, title,"
    " location, space_id, ARRAY(SELECT nextval('bookings_id_seq') FROM generate_series(1, :n)) AS ids"
).columns(
    registration_opens_at=UTCDateTime(),
    registration_closes_at=UTCDateTime(),
    published_at=UTCDateTime(),
    start_at=UTCDateTime(),
    end_at=UTCDateTime(),
    cancel_deadline=UTCDateTime(),
)
# PostgreSQL: every write of a batch in one statement
WRITE_POSTGRESQL = text(
    """
WITH b AS (
  INSERT INTO bookings (id, activity_id, community_id, household_id, booked_by, booked_at_desk_by, seats,
                        status, source, confirmed_at, share_id, created_at, updated_at)
  SELECT id, :a, :c, household_id, booked_by, desk_by, seats, status, 'app',
         CASE WHEN status = 'confirmed' THEN CAST(:now AS timestamptz) END, share_id,
         CAST(:now AS timestamptz), CAST(:now AS timestamptz)
  FROM unnest(CAST(:b_id AS bigint[]), CAST(:b_household AS bigint[]), CAST(:b_told AS bigint[]),
              CAST(:b_desk AS bigint[]), CAST(:b_seats AS int[]), CAST(:b_status AS text[]),
              CAST(:b_share AS bigint[])) AS t(id, household_id, booked_by, desk_by, seats, status, share_id)
), a AS (
  INSERT INTO booking_attendees (booking_id, activity_id, member_id, active, no_show)
  SELECT booking_id, :a, member_id, true, false
  FROM unnest(CAST(:at_booking AS bigint[]), CAST(:at_member AS bigint[])) AS t(booking_id, member_id)
), j AS (
  INSERT INTO outbox_jobs (kind, payload, status, run_at, attempts, max_attempts, dedup_key, created_at, updated_at)
  SELECT :j_kind, CAST(payload AS json), 'pending', CAST(:j_run_at AS timestamptz), 0, NULL, dedup_key,
         CAST(:now AS timestamptz), CAST(:now AS timestamptz)
  FROM unnest(CAST(:j_payload AS text[]), CAST(:j_key AS text[])) AS t(payload, dedup_key)
  ON CONFLICT (dedup_key) DO NOTHING
), k AS (
  INSERT INTO idempotency_keys (user_id, key, method, path, fingerprint, status_code, response_body,
                                created_at, expires_at)
  SELECT user_id, key, 'POST', path, fingerprint, 201, CAST(body AS json), CAST(:now AS timestamptz),
         CAST(:expires AS timestamptz)
  FROM unnest(CAST(:k_user AS bigint[]), CAST(:k_key AS text[]), CAST(:k_path AS text[]),
              CAST(:k_print AS text[]), CAST(:k_body AS text[])) AS t(user_id, key, path, fingerprint, body)
)
UPDATE activities SET taken = :taken, waiting = :waiting, updated_at = CAST(:now AS timestamptz) WHERE id = :a
"""
)
INSERT_BOOKINGS = insert(Booking).returning(Booking.id, sort_by_parameter_order=True)
INSERT_ATTENDEES = insert(BookingAttendee)
INSERT_KEYS = insert(IdempotencyKey)
COUNTERS = (
    update(Activity).where(Activity.id == bindparam("a")).values(taken=bindparam("taken"), waiting=bindparam("waiting"))
)
HOUSEHOLD = select(Household.id, Household.community_id).where(Household.id == bindparam("h"))
HOUSEHOLD_ACCOUNT = (
    select(Member.user_id)
    .where(Member.household_id == bindparam("h"), Member.status == "active", Member.user_id.is_not(None))
    .order_by(Member.is_head.desc(), Member.id)
    .limit(1)
)


def _insert_jobs(dialect: str) -> Any:
    """Reminders, unless one with the same key is there (as `schedule` does)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OutboxJob).on_conflict_do_nothing(
        index_elements=["dedup_key"]
    )


INSERT_JOBS = {name: _insert_jobs(name) for name in ("postgresql", "sqlite")}
