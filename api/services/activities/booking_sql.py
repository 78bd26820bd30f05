"""The statements of a booking batch (booking_batch.py), built once so that each runs from
SQLAlchemy's compiled cache; on PostgreSQL the reads with the lock, and the writes, are one
statement each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ScalarSelect,
    Text,
    and_,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import CTE

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
    ShareOpen,
    Space,
    User,
)
from api.services.feed.attribution import booking_opens

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

# a stored Idempotency-Key's answer, and whether it has expired (`now`)
KEY_COLUMNS = (
    IdempotencyKey.id,
    IdempotencyKey.user_id,
    IdempotencyKey.key,
    IdempotencyKey.fingerprint,
    IdempotencyKey.status_code,
    IdempotencyKey.response_body,
    (IdempotencyKey.expires_at <= bindparam("now")).label("expired"),
)


def _callers(community: Any, users: Any) -> Any:
    """The callers (`users`: a condition on `User.id`) with their member record and role in
    `community`."""
    return (
        select(
            User.id,
            User.display_name,
            User.is_platform_admin,
            Member.id.label("member_id"),
            Member.household_id,
            CommunityMembership.role,
        )
        .select_from(User)
        .outerjoin(Member, and_(Member.user_id == User.id, Member.community_id == community, Member.status == "active"))
        .outerjoin(
            CommunityMembership,
            and_(CommunityMembership.user_id == User.id, CommunityMembership.community_id == community),
        )
        .where(users)
    )


CALLERS = _callers(bindparam("c"), User.id.in_(bindparam("users", expanding=True)))


# PostgreSQL: everything the rules need, and the lock, in one statement (one round trip whatever
# the batch's size): the activity (a row, none if there is no such activity) with the lock's columns
# (`locked_*`: the row as it is once the lock is granted, and `locked_ids`, ids for the batch's
# bookings drawn under the lock), and, as JSON arrays of objects, the callers, the members the
# bookings are for (named, or the callers themselves), their no-show blocks, who of them already
# holds a booking, the callers' stored Idempotency-Keys, each key's advisory lock (taken before the
# row lock: a duplicate still running holds it) and the shares that brought the callers. Those are
# read as of the statement's start, before any wait for the row lock, as they were read before it
# when they were statements of their own: a booking or a key another process stored meanwhile is
# caught by the unique indexes (burst.py then runs the batch again, with the bookings held read
# again under the lock). The arrays are bound as arrays, so the statement's text is the same
# whatever the batch's size and is prepared once per connection.
def _array(name: str, of: Any = BigInteger) -> Any:
    return bindparam(name, type_=postgresql.ARRAY(of))


def _all(cte: CTE, *order: Any) -> ScalarSelect[Any]:
    """The CTE's rows as a JSON array of objects (`[]` when none), in `order` if given."""
    rows = postgresql.aggregate_order_by(cte.table_valued(), *order) if order else cte.table_valued()
    return select(func.coalesce(func.json_agg(rows), text("'[]'::json"), type_=postgresql.JSON)).scalar_subquery()


def _reads_postgresql() -> Any:
    act = ACTIVITY.cte("act")
    community = select(act.c.community_id).scalar_subquery()
    callers = _callers(community, User.id == any_(_array("users"))).cte("callers")
    members = (
        select(Member.id, Member.household_id, Member.display_name, Member.kind, Member.birth_year, Member.user_id)
        .where(
            Member.status == "active",
            or_(Member.id == any_(_array("ids")), Member.id.in_(select(callers.c.member_id))),
        )
        .cte("attendees")
    )
    blocks = (
        select(BookingBlock.member_id, BookingBlock.until, BookingBlock.no_shows)
        .where(
            BookingBlock.member_id.in_(select(members.c.id)),
            BookingBlock.lifted_at.is_(None),
            BookingBlock.until > bindparam("now"),
        )
        .cte("blocks")
    )
    held = (
        select(BookingAttendee.booking_id, BookingAttendee.member_id)
        .where(
            BookingAttendee.activity_id == bindparam("a"),
            BookingAttendee.member_id.in_(select(members.c.id)),
            BookingAttendee.active,
        )
        .cte("held")
    )
    wanted = func.unnest(_array("ks")).table_valued("k").render_derived()
    locks = select(wanted.c.k, func.pg_try_advisory_xact_lock(wanted.c.k).label("got")).cte("locks")
    pairs = func.unnest(_array("k_users"), _array("k_keys", Text)).table_valued("user_id", "key").render_derived()
    keys = (
        select(*KEY_COLUMNS)
        .select_from(IdempotencyKey)
        .join(pairs, and_(IdempotencyKey.user_id == pairs.c.user_id, IdempotencyKey.key == pairs.c.key))
        .cte("keys")
    )
    # the lock, after the keys' advisory locks: the row as it is once granted, and ids for the
    # batch's bookings drawn under it (so that ids follow the order in which batches got the lock,
    # across processes)
    ids = (
        select(func.array_agg(func.nextval(literal_column("'bookings_id_seq'"))))
        .select_from(func.generate_series(1, bindparam("n")))
        .scalar_subquery()
    )
    locked = (
        update(Activity)
        # the keys' advisory locks first (a condition that is always true, but needs them), as
        # before the row lock: a duplicate in another process's batch is told to wait, not booked
        .where(Activity.id == bindparam("a"), select(func.count()).select_from(locks).scalar_subquery() >= 0)
        .values(taken=Activity.taken, updated_at=Activity.updated_at)  # (not the column's onupdate)
        .returning(*(getattr(Activity, name).label(f"locked_{name}") for name in LOCKED), ids.label("locked_ids"))
        .cte("locked")
    )
    opens = booking_opens(ShareOpen.user_id == any_(_array("users")), bindparam("a"), bindparam("since"))
    shares = opens.order_by(None).cte("opened")
    return select(
        *act.c,
        *locked.c,
        _all(callers).label("callers"),
        _all(members).label("members"),
        _all(blocks, blocks.c.until.desc()).label("blocks"),  # the one lasting longest first
        _all(held).label("held"),
        _all(locks).label("locks"),
        _all(keys).label("keys"),
        _all(shares, shares.c.opened_at.desc(), shares.c.id.desc()).label("shares"),  # the last opened first
    ).select_from(act.join(locked, true()))


KEYS = select(*KEY_COLUMNS).where(
    tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(bindparam("pairs", expanding=True))
)
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
# what the lock reads of the activity: its window, seats and counters, and what an answer shows
LOCKED = (
    "status",
    "registration_opens_at",
    "registration_closes_at",
    "published_at",
    "capacity",
    "taken",
    "waiting",
    "start_at",
    "end_at",
    "cancel_deadline",
    "title",
    "location",
    "space_id",
)
LOCK = select(*(getattr(Activity, name) for name in LOCKED)).where(Activity.id == bindparam("a")).with_for_update()
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

READS_POSTGRESQL = _reads_postgresql()
