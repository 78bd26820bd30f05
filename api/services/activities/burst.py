"""Booking in a burst (活动开放预约的那一刻): the one path every booking takes, built for the
morning a popular activity opens and every parent presses "book" in the same seconds.

`book_many(session, activity_id, asks)` judges a batch of booking requests for one activity by
every rule, in arrival order, and writes the confirmed and waitlisted ones in the caller's
transaction with the same dozen statements whatever the batch's size:

- before the lock, reads: the activity with its community's zone, its space and the community's
  reminder rule; the callers with their member record and role; their Idempotency-Keys (on
  PostgreSQL each key's advisory lock first, so that a duplicate still running is refused); the
  attendees; their no-show blocks; the shares that brought the callers; attendees already booked.
- under the activity's row lock (SELECT … FOR UPDATE; on SQLite the write transaction is the
  lock): the window re-checked, seats taken or waitlist places given in arrival order from the
  counters on the row (`taken`, `waiting`: a waitlist position needs no count), then the bookings
  (their ids are the arrival order), their attendees, the reminders (outbox jobs), the answers
  kept for the Idempotency-Keys, and the counters; the caller commits.

Each request gets its own answer or error; a request refused by a rule never fails the others.
The answers are built before the lock and finished under it with the id, status and position.

`Bookings` (one per process) runs the batches: while one batch for an activity is in its
transaction, the requests that arrive for that activity wait together and go as the next batch,
so a rush of N requests is a few transactions instead of N transactions queued on one row. Several
API processes each batch their own requests; their batches queue on the row lock, briefly each.
A batch that the database refuses as a whole (a unique index caught a race with another process)
is run again one request at a time, so that only the request at fault gets the error.

The guarantees stay the database's: the CHECK on `taken <= capacity` and the partial unique index
on active attendees refuse a wrong write whatever the code does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, delete, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api import clock, localtime
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
from api.db.session import Database
from api.errors import AppError, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from api.services import idempotency
from api.services.access import RANK
from api.services.activities.common import DEFAULT_POLICY, age_in, place_text, reminder_key
from api.services.feed.attribution import shares_for_bookings
from api.services.notifications.core import SCHEDULED_JOB, scheduled_job
from workers.outbox import job_row

MAX_BATCH = 256  # requests in one transaction; the rest wait for the next


@dataclass(slots=True, eq=False)
class Ask:
    """One booking request: who asks, for whom (default: themselves), at the desk for which
    household (`on_behalf_of`), and its Idempotency-Key with the request's fingerprint."""

    user_id: int
    attendee_ids: list[int] | None = None
    on_behalf_of: int | None = None
    key: str | None = None
    print_: str = ""
    path: str = ""


@dataclass(slots=True, eq=False)
class Outcome:
    """The answer to one Ask: a booking (`body`, as the API writes it, times in `zone`), the
    replay of a retried request's first answer, or an error."""

    zone: str | None = None
    body: dict[str, Any] | None = None
    status_code: int = 201
    replayed: bool = False
    error: BaseException | None = None


class _Window(Protocol):
    status: str
    registration_opens_at: datetime | None
    registration_closes_at: datetime
    published_at: datetime | None


def registration_state(activity: _Window, now: datetime) -> str:
    """not_yet / open / closed, for a published activity."""
    opens = activity.registration_opens_at or activity.published_at
    if opens is None or now < opens:
        return "not_yet"
    return "open" if now < activity.registration_closes_at else "closed"


def check_open(activity: _Window, now: datetime, tz: ZoneInfo) -> None:
    """Bookings are for a published activity inside its registration window; a refusal says when
    it opens or closed, in the community's time (`tz`)."""
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消")
    if activity.status != "published":
        raise NotFound("activity_not_found", "活动不存在")
    state = registration_state(activity, now)
    if state == "not_yet":
        opens = activity.registration_opens_at or activity.published_at
        when = f" {localtime.text(opens, tz)} " if opens is not None else "还没有"
        raise Conflict("registration_not_open", f"报名{when}开始", details={"opens_at": opens})
    if state == "closed":
        closed = activity.registration_closes_at
        raise Conflict(
            "registration_closed", f"报名已于 {localtime.text(closed, tz)} 截止", details={"closed_at": closed}
        )


# -- the statements (built once: each runs from SQLAlchemy's compiled cache) ---------------------

_ACTIVITY = (
    select(
        Activity.id,
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
_CALLERS = (
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
_KEY_LOCKS = text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:ks AS BIGINT[])) AS t(k)")
_KEYS = select(
    IdempotencyKey.id,
    IdempotencyKey.user_id,
    IdempotencyKey.key,
    IdempotencyKey.fingerprint,
    IdempotencyKey.status_code,
    IdempotencyKey.response_body,
    IdempotencyKey.expires_at,
).where(tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(bindparam("pairs", expanding=True)))
_MEMBERS = select(
    Member.id, Member.household_id, Member.display_name, Member.kind, Member.birth_year, Member.user_id
).where(Member.id.in_(bindparam("ids", expanding=True)), Member.status == "active")
_BLOCKS = (
    select(BookingBlock.member_id, BookingBlock.until, BookingBlock.no_shows)
    .where(
        BookingBlock.member_id.in_(bindparam("ids", expanding=True)),
        BookingBlock.lifted_at.is_(None),
        BookingBlock.until > bindparam("now"),
    )
    .order_by(BookingBlock.until.desc())
)
_HELD = select(BookingAttendee.booking_id, BookingAttendee.member_id).where(
    BookingAttendee.activity_id == bindparam("a"),
    BookingAttendee.member_id.in_(bindparam("ids", expanding=True)),
    BookingAttendee.active,
)
_LOCK = (
    select(
        Activity.status,
        Activity.registration_opens_at,
        Activity.registration_closes_at,
        Activity.published_at,
        Activity.capacity,
        Activity.taken,
        Activity.waiting,
    )
    .where(Activity.id == bindparam("a"))
    .with_for_update()
)
# PostgreSQL: the lock, with an id for each booking of the batch drawn under it
_LOCK_POSTGRESQL = text(
    "UPDATE activities SET taken = taken WHERE id = :a RETURNING status, registration_opens_at,"
    " registration_closes_at, published_at, capacity, taken, waiting,"
    " ARRAY(SELECT nextval('bookings_id_seq') FROM generate_series(1, :n)) AS ids"
).columns(registration_opens_at=UTCDateTime(), registration_closes_at=UTCDateTime(), published_at=UTCDateTime())
# PostgreSQL: every write of a batch in one statement
_WRITE_POSTGRESQL = text(
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
_INSERT_BOOKINGS = insert(Booking).returning(Booking.id, sort_by_parameter_order=True)
_INSERT_ATTENDEES = insert(BookingAttendee)
_INSERT_KEYS = insert(IdempotencyKey)
_COUNTERS = (
    update(Activity).where(Activity.id == bindparam("a")).values(taken=bindparam("taken"), waiting=bindparam("waiting"))
)
_HOUSEHOLD = select(Household.id, Household.community_id).where(Household.id == bindparam("h"))
_HOUSEHOLD_ACCOUNT = (
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


_INSERT_JOBS = {name: _insert_jobs(name) for name in ("postgresql", "sqlite")}


# -- one batch ----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Pending:
    """An Ask that passed the rules read before the lock, on its way to a seat or the waitlist."""

    index: int
    ask: Ask
    household_id: int
    members: list[Any]
    told: int | None
    desk_by: int | None
    share_id: int | None
    body: dict[str, Any]
    key_row: dict[str, Any] | None = None
    rest: str = ""  # the answer but for what the lock decides (DECIDED), as JSON, when it is kept
    status: str = ""
    booking_id: int | None = None
    after: _Pending | None = None  # refused: a batch-mate booked the same person first
    held: list[int] = field(default_factory=list)


async def book_many(
    session: AsyncSession, activity_id: int, asks: list[Ask], *, ttl: timedelta = timedelta(hours=24)
) -> tuple[list[Outcome], float | None]:
    """Judge and write `asks` (arrival order) for one activity in the session's transaction; the
    caller commits. Returns an Outcome per Ask and when the activity's row lock was taken
    (`time.perf_counter()`, None if it was not: nothing to write)."""
    now = clock.now()
    conn = await session.connection()
    dialect = conn.dialect.name
    act = (await conn.execute(_ACTIVITY, {"a": activity_id})).one_or_none()
    if act is None:
        return [Outcome(error=NotFound("activity_not_found", "活动不存在")) for _ in asks], None
    zone = act.timezone
    tz = ZoneInfo(zone)
    outcomes = [Outcome(zone=zone) for _ in asks]
    callers = {
        row.id: row
        for row in await conn.execute(_CALLERS, {"c": act.community_id, "users": sorted({a.user_id for a in asks})})
    }
    keyed = await _replays(conn, asks, outcomes, callers, now)

    # who each booking is for, and the rules read before the lock
    wanted = {i for a in asks for i in (a.attendee_ids or ())}
    wanted |= {c.member_id for c in callers.values() if c.member_id is not None}
    members = {m.id: m for m in await conn.execute(_MEMBERS, {"ids": sorted(wanted)})} if wanted else {}
    blocks: dict[int, Any] = {}
    held: dict[int, int] = {}
    if members:
        for row in await conn.execute(_BLOCKS, {"ids": sorted(members), "now": now}):
            blocks.setdefault(row.member_id, row)
        held = {
            r.member_id: r.booking_id for r in await conn.execute(_HELD, {"a": activity_id, "ids": sorted(members)})
        }
    app_users = [a.user_id for i, a in enumerate(asks) if a.on_behalf_of is None and outcomes[i].error is None]
    shares = await shares_for_bookings(session, app_users, activity_id) if app_users else {}

    activity_json = {
        "id": act.id,
        "title": act.title,
        "start_at": act.start_at.astimezone(tz).isoformat(),
        "end_at": act.end_at.astimezone(tz).isoformat(),
        "place": place_text(act.space_name, act.location),
        "status": act.status,
    }
    created = now.astimezone(tz).isoformat()
    deadline = act.cancel_deadline.astimezone(tz).isoformat()
    pending: list[_Pending] = []
    for index, ask in enumerate(asks):
        if outcomes[index].error is not None or outcomes[index].replayed:
            continue
        try:
            caller = callers[ask.user_id]
            if ask.on_behalf_of is not None:
                household_id = await _desk_household(conn, act, caller, ask.on_behalf_of)
                if not ask.attendee_ids:
                    raise Unprocessable("attendees_required", "代办预约请选择该户要参加的成员")
                ids, desk_by = ask.attendee_ids, caller.id
            else:
                household_id, ids, desk_by = _resident(act, caller, ask), ask.attendee_ids or [caller.member_id], None
            check_open(act, now, tz)
            chosen = _attendees(act, members, household_id, ids, tz, desk=desk_by is not None)
            _check_blocks(chosen, blocks, tz)
            told = caller.id if desk_by is None else await _household_account(conn, household_id, chosen)
        except AppError as exc:
            outcomes[index].error = exc
            continue
        body = {
            "id": None,
            "status": None,
            "seats": len(chosen),
            "waitlist_position": None,
            "source": "app",
            "booked_at_desk": desk_by is not None,
            "booked_at_desk_by": (caller.display_name or "工作人员") if desk_by is not None else None,
            "activity": activity_json,
            "attendees": [
                {"member_id": m.id, "name": m.display_name, "checked_in_at": None, "no_show": False} for m in chosen
            ],
            "can_cancel": None,
            "cancel_deadline": deadline,
            "created_at": created,
            "cancelled_at": None,
        }
        share_id = shares.get(ask.user_id) if desk_by is None else None
        key_row = keyed.get(index)
        rest = json.dumps({k: v for k, v in body.items() if k not in DECIDED}, ensure_ascii=False) if key_row else ""
        pending.append(_Pending(index, ask, household_id, chosen, told, desk_by, share_id, body, key_row, rest))
    if not pending:
        return outcomes, None

    # from here on, one batch at a time for this activity
    locked_at = time.perf_counter()
    if dialect == "postgresql":
        # the lock, the counters and ids for the bookings (taken under the lock: arrival order)
        seats = (await conn.execute(_LOCK_POSTGRESQL, {"a": activity_id, "n": len(pending)})).one()
    else:
        seats = (await conn.execute(_LOCK, {"a": activity_id})).one()
    written, taken, waiting = _decide(pending, outcomes, seats, held, now, tz)
    if written:
        for p in written:
            p.body["status"] = p.status
            p.body["can_cancel"] = act.end_at > now and (
                p.desk_by is not None or now < act.cancel_deadline or p.status == "waitlisted"
            )
        if dialect == "postgresql":
            for p, booking_id in zip(written, seats.ids, strict=False):
                p.booking_id = p.body["id"] = booking_id
            await _write_postgresql(conn, act, tz, written, taken, waiting, now, ttl)
        else:
            await _write(conn, act, tz, written, taken, waiting, now, ttl)
    for p in pending:
        if p.after is not None:
            outcomes[p.index].error = Conflict(
                "already_booked", "已经预约过本活动", details={"booking_id": p.after.booking_id, "member_ids": p.held}
            )
    for p in written:
        outcomes[p.index].body = p.body
    return outcomes, locked_at


def _decide(
    pending: list[_Pending], outcomes: list[Outcome], seats: Any, held: dict[int, int], now: datetime, tz: ZoneInfo
) -> tuple[list[_Pending], int, int]:
    """Under the lock, in arrival order: the window again (the activity may have been cancelled
    meanwhile), attendees already booked (before, or by a batch-mate), then a seat while enough
    are free, else the next place on the waitlist. Returns the bookings to write and the counters."""
    taken, waiting, capacity = seats.taken, seats.waiting, seats.capacity
    booked: dict[int, _Pending] = {}  # member id → the batch-mate booking them
    written: list[_Pending] = []
    for p in pending:
        try:
            check_open(seats, now, tz)
        except AppError as exc:
            outcomes[p.index].error = exc
            continue
        ids = [m.id for m in p.members]
        p.held = sorted(i for i in ids if i in held)
        if p.held:
            outcomes[p.index].error = Conflict(
                "already_booked", "已经预约过本活动", details={"booking_id": held[p.held[0]], "member_ids": p.held}
            )
            continue
        mate = next((booked[i] for i in ids if i in booked), None)
        if mate is not None:  # refused once its batch-mate's booking has an id
            p.after, p.held = mate, sorted(i for i in ids if i in booked)
            continue
        booked.update((i, p) for i in ids)
        if taken + len(ids) <= capacity:
            taken += len(ids)
            p.status = "confirmed"
        else:
            waiting += 1
            p.status = "waitlisted"
            p.body["waitlist_position"] = waiting
        written.append(p)
    return written, taken, waiting


async def _write(
    conn: AsyncConnection,
    act: Any,
    tz: ZoneInfo,
    written: list[_Pending],
    taken: int,
    waiting: int,
    now: datetime,
    ttl: timedelta,
) -> None:
    """The bookings, their attendees, reminders and keys, and the counters, statement by statement
    (SQLite: its one writer needs no more)."""
    rows = [
        {
            "activity_id": act.id,
            "community_id": act.community_id,
            "household_id": p.household_id,
            "booked_by": p.told,
            "booked_at_desk_by": p.desk_by,
            "seats": len(p.members),
            "status": p.status,
            "source": "app",
            "confirmed_at": now if p.status == "confirmed" else None,
            "share_id": p.share_id,
            "created_at": now,
            "updated_at": now,
        }
        for p in written
    ]
    ids = (await conn.execute(_INSERT_BOOKINGS, rows)).scalars().all()
    for p, booking_id in zip(written, ids, strict=True):
        p.booking_id = p.body["id"] = booking_id
    attendees = [
        {"booking_id": p.booking_id, "activity_id": act.id, "member_id": m.id, "active": True}
        for p in written
        for m in p.members
    ]
    await conn.execute(_INSERT_ATTENDEES, attendees)
    jobs = _reminders(act, tz, written, now)
    if jobs:
        await conn.execute(_INSERT_JOBS[conn.dialect.name], jobs)
    keys = [
        {**p.key_row, "response_body": p.body, "created_at": now, "expires_at": now + ttl}
        for p in written
        if p.key_row is not None
    ]
    if keys:
        await conn.execute(_INSERT_KEYS, keys)
    await conn.execute(_COUNTERS, {"a": act.id, "taken": taken, "waiting": waiting})


# what the lock decides of an answer; the rest is encoded before it (`_Pending.rest`)
DECIDED = ("id", "status", "waitlist_position", "can_cancel")


def _stored(p: _Pending) -> str:
    """The answer kept for the Idempotency-Key, as JSON: what the lock decided, then the rest."""
    body = p.body
    decided = json.dumps([body[k] for k in DECIDED])[1:-1].split(", ")
    return "{" + ", ".join(f'"{k}": {v}' for k, v in zip(DECIDED, decided, strict=True)) + ", " + p.rest[1:]


async def _write_postgresql(
    conn: AsyncConnection,
    act: Any,
    tz: ZoneInfo,
    written: list[_Pending],
    taken: int,
    waiting: int,
    now: datetime,
    ttl: timedelta,
) -> None:
    """The same writes as `_write` in one statement (one round trip while the lock is held): the
    rows go as arrays, one per column."""
    jobs = _reminders(act, tz, written, now)
    keyed = [p for p in written if p.key_row is not None]
    await conn.execute(
        _WRITE_POSTGRESQL,
        {
            "a": act.id,
            "c": act.community_id,
            "now": now,
            "expires": now + ttl,
            "taken": taken,
            "waiting": waiting,
            "b_id": [p.booking_id for p in written],
            "b_household": [p.household_id for p in written],
            "b_told": [p.told for p in written],
            "b_desk": [p.desk_by for p in written],
            "b_seats": [len(p.members) for p in written],
            "b_status": [p.status for p in written],
            "b_share": [p.share_id for p in written],
            "at_booking": [p.booking_id for p in written for _ in p.members],
            "at_member": [m.id for p in written for m in p.members],
            "j_kind": SCHEDULED_JOB,
            "j_run_at": jobs[0]["run_at"] if jobs else now,
            "j_payload": [json.dumps(j["payload"], ensure_ascii=False) for j in jobs],
            "j_key": [j["dedup_key"] for j in jobs],
            "k_user": [p.ask.user_id for p in keyed],
            "k_key": [p.ask.key for p in keyed],
            "k_path": [p.ask.path for p in keyed],
            "k_print": [p.ask.print_ for p in keyed],
            "k_body": [_stored(p) for p in keyed],
        },
    )


async def _replays(
    conn: AsyncConnection, asks: list[Ask], outcomes: list[Outcome], callers: dict[int, Any], now: datetime
) -> dict[int, dict[str, Any]]:
    """The callers' checks that come first: the caller exists (401), then its Idempotency-Key — a
    retry replays its first answer, a key used for another request is refused, a duplicate still
    running (in this batch, or elsewhere: its advisory lock is held) is told to wait. Returns, per
    Ask that goes on with a key, the key's row to store with the answer."""
    keyed: dict[int, dict[str, Any]] = {}
    seen: set[tuple[int, str]] = set()
    for index, ask in enumerate(asks):
        if ask.user_id not in callers:
            outcomes[index].error = Unauthorized("token_invalid", "登录凭证无效，请重新登录")
        elif ask.key is not None:
            if (ask.user_id, ask.key) in seen:
                outcomes[index].error = Conflict("idempotency_in_flight", "相同的请求正在处理中，请稍候")
            else:
                seen.add((ask.user_id, ask.key))
                keyed[index] = {
                    "user_id": ask.user_id,
                    "key": ask.key,
                    "method": "POST",
                    "path": ask.path,
                    "fingerprint": ask.print_,
                    "status_code": 201,
                }
    if not keyed:
        return keyed
    if conn.dialect.name == "postgresql":
        lock_ids = {index: idempotency.lock_id(asks[index].user_id, asks[index].key or "") for index in keyed}
        locks = await conn.execute(_KEY_LOCKS, {"ks": sorted(set(lock_ids.values()))})
        got: dict[int, bool] = {lock: taken for lock, taken in locks}
        for index, lock_id in lock_ids.items():
            if not got[lock_id]:
                outcomes[index].error = Conflict("idempotency_in_flight", "相同的请求正在处理中，请稍候")
                del keyed[index]
    pairs = [(asks[index].user_id, asks[index].key) for index in keyed]
    stored = {(r.user_id, r.key): r for r in await conn.execute(_KEYS, {"pairs": pairs})} if pairs else {}
    expired = []
    for index in list(keyed):
        row = stored.get((asks[index].user_id, asks[index].key))
        if row is None:
            continue
        if row.expires_at <= now:
            expired.append(row.id)
        elif row.fingerprint != asks[index].print_:
            key = asks[index].key
            outcomes[index].error = Unprocessable(
                "idempotency_key_mismatch", "该 Idempotency-Key 已用于另一个请求", details={"key": key}
            )
            del keyed[index]
        else:
            outcomes[index].body, outcomes[index].status_code = row.response_body, row.status_code
            outcomes[index].replayed = True
            del keyed[index]
    if expired:
        await conn.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired)))
    return keyed


def _resident(act: Any, caller: Any, ask: Ask) -> int:
    """The household the caller books for: theirs in the activity's community. A visitor (no
    household there) is told to join first; one whose join still waits, to wait for it; neither
    learns anything of a draft."""
    if caller.member_id is not None:
        return int(caller.household_id)
    if _role(caller) is None:
        if act.published_at is None:
            raise NotFound("activity_not_found", "活动不存在")
        raise Forbidden("not_a_member", "请先登记住址（楼栋和门牌）加入本社区，再预约活动")
    raise Forbidden("not_a_resident", "请先登记为本社区的居民（所在楼栋和门牌），审核通过后再预约")


def _role(caller: Any) -> str | None:
    """The caller's role in the activity's community; platform admins are admins everywhere."""
    return "admin" if caller.is_platform_admin else caller.role


async def _desk_household(conn: AsyncConnection, act: Any, caller: Any, household_id: int) -> int:
    """Booking at the desk (代办) is for staff of the activity's community, for one of its
    households. A resident, or staff of another community, is refused (a visitor learns nothing
    of drafts); a household of another community is not found."""
    role = _role(caller)
    if role is None or RANK[role] < RANK["staff"]:
        if role is None and act.published_at is None:
            raise NotFound("activity_not_found", "活动不存在")
        raise Forbidden("desk_staff_only", "只有本社区的工作人员可以代居民预约")
    household = (await conn.execute(_HOUSEHOLD, {"h": household_id})).one_or_none()
    if household is None or household.community_id != act.community_id:
        raise NotFound("household_not_found", "找不到该住户")
    return int(household.id)


async def _household_account(conn: AsyncConnection, household_id: int, attendees: list[Any]) -> int | None:
    """Who hears of a booking made at the desk (confirmation, reminder, promotion, changes): the
    first attendee with a WeChat account, else the head if they have one, else another member
    with one. A household without WeChat has nobody (None): its notices are skipped, staff call."""
    for member in attendees:
        if member.user_id is not None:
            return int(member.user_id)
    account = (await conn.execute(_HOUSEHOLD_ACCOUNT, {"h": household_id})).scalar_one_or_none()
    return int(account) if account is not None else None


def _attendees(
    act: Any, members: dict[int, Any], household_id: int, ids: list[int], tz: ZoneInfo, *, desk: bool
) -> list[Any]:
    """The named attendees: active members of the booking's household, within the per-booking
    limit and the activity's age range (children, by year of birth)."""
    if len(set(ids)) != len(ids):
        raise Unprocessable("duplicate_attendee", "同一个人不能占两个座位")
    if len(ids) > act.max_seats_per_booking:
        raise Unprocessable(
            "too_many_seats",
            f"每次最多预约{act.max_seats_per_booking}个座位",
            details={"max_seats_per_booking": act.max_seats_per_booking},
        )
    chosen = [members[i] for i in ids if i in members and members[i].household_id == household_id]
    if len(chosen) != len(ids):
        message = "只能为该户的成员预约" if desk else "只能为本户的家庭成员预约"
        raise Unprocessable("attendee_not_in_household", message)
    if act.child_min_age is not None or act.child_max_age is not None:
        low, high = act.child_min_age or 0, act.child_max_age or 200
        for member in sorted(chosen, key=lambda m: m.id):
            if member.kind == "child" and member.birth_year is not None:
                age = age_in(member.birth_year, act.start_at, tz)
                if not low <= age <= high:
                    raise Unprocessable(
                        "attendee_age",
                        f"{member.display_name}的年龄不在本活动的{low}–{high}岁范围内",
                        details={"member_id": member.id, "age": age, "min_age": low, "max_age": high},
                    )
    return chosen


def _check_blocks(chosen: list[Any], blocks: dict[int, Any], tz: ZoneInfo) -> None:
    """A no-show block of any attendee refuses the booking (the one lasting longest is named)."""
    found = [blocks[m.id] for m in chosen if m.id in blocks]
    if not found:
        return
    block = max(found, key=lambda b: b.until)
    name = next(m.display_name for m in chosen if m.id == block.member_id)
    raise Forbidden(
        "booking_blocked",
        f"{name}近期多次预约未到场，暂停预约至 {localtime.text(block.until, tz)}；如有特殊情况请联系社工",
        details={"member_id": block.member_id, "until": block.until, "no_shows": block.no_shows},
    )


def _reminders(act: Any, tz: ZoneInfo, written: list[_Pending], now: datetime) -> list[dict[str, Any]]:
    """The confirmed bookings' reminders (`reminder_hours` before the start, if that is still
    ahead), as outbox jobs: what `schedule_reminder` writes for one booking."""
    hours = act.reminder_hours if act.reminder_hours is not None else DEFAULT_POLICY["reminder_hours"]
    at = act.start_at - timedelta(hours=hours)
    if hours == 0 or at <= now:
        return []
    params = {
        "activity_id": act.id,
        "activity_title": act.title,
        "start_at": act.start_at,
        "place": place_text(act.space_name, act.location) or "社区",
    }
    jobs = []
    for p in written:
        if p.status == "confirmed" and p.told is not None:
            cause = reminder_key(p.booking_id or 0, act.start_at)
            job = scheduled_job(at, [p.told], "activity.reminder", params, cause, act.community_id, tz)
            jobs.append(job_row(SCHEDULED_JOB, job.payload, at, job.dedup_key, None))
    return jobs


# -- the batches of one process ------------------------------------------------------------------

STATS = {"batches": 0, "requests": 0, "lock_held_s": 0.0, "lock_held_max_s": 0.0}


def write_stats() -> None:
    """For the booking benchmark: with LINLI_BOOKING_STATS_FILE set, the process's figures go to
    `<that path>.<pid>` as it shuts down (how many batches, requests, and how long the lock was
    held in all and at most)."""
    path = os.environ.get("LINLI_BOOKING_STATS_FILE")
    if path and STATS["batches"]:
        with open(f"{path}.{os.getpid()}", "w", encoding="utf-8") as out:
            json.dump(STATS, out)


class Bookings:
    """The process's booking batches: one running per activity at a time; what arrives meanwhile
    waits for the next."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl
        self.waiting: dict[int, list[tuple[Ask, asyncio.Future[Outcome]]]] = {}
        self.running: dict[int, asyncio.Task[None]] = {}

    async def book(self, activity_id: int, ask: Ask) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(activity_id, []).append((ask, future))
        if activity_id not in self.running:
            self.running[activity_id] = asyncio.create_task(self._drain(activity_id))
        return await future

    async def _drain(self, activity_id: int) -> None:
        try:
            while queue := self.waiting.pop(activity_id, None):
                if len(queue) > MAX_BATCH:
                    self.waiting[activity_id] = queue[MAX_BATCH:]
                    queue = queue[:MAX_BATCH]
                await self._run(activity_id, queue)
        finally:
            del self.running[activity_id]

    async def _run(self, activity_id: int, batch: list[tuple[Ask, asyncio.Future[Outcome]]]) -> None:
        asks = [ask for ask, _ in batch]
        try:
            async with self.db.session() as session:
                outcomes, locked_at = await book_many(session, activity_id, asks, ttl=self.ttl)
                await session.commit()
        except IntegrityError as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for one in batch:  # a race with another process: only the request at fault fails
                await self._run(activity_id, [one])
            return
        except Exception as exc:  # the database is out of reach: every request is told
            for _, future in batch:
                _settle(future, error=exc)
            return
        if locked_at is not None:
            held = time.perf_counter() - locked_at
            STATS["batches"] += 1
            STATS["requests"] += len(batch)
            STATS["lock_held_s"] += held
            STATS["lock_held_max_s"] = max(STATS["lock_held_max_s"], held)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome=outcome)


def bookings_of(app: Any) -> Bookings:
    """The app's booking batches (made on first use, from its database and settings)."""
    batches: Bookings | None = getattr(app.state, "bookings", None)
    if batches is None:
        ttl = timedelta(hours=app.state.settings.idempotency_ttl_hours)
        batches = app.state.bookings = Bookings(app.state.db, ttl)
    return batches


def _settle(
    future: asyncio.Future[Outcome], *, outcome: Outcome | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # the client went away; what was booked stays booked (a retry replays it)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome or Outcome())
