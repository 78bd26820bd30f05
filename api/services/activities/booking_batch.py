"""A batch of bookings for one activity: the one path every booking takes (the app's, in batches
of a burst; one at a time at the desk and in the demo).

`book_many(session, activity_id, asks)` judges a batch of booking requests for one activity by
every rule, in arrival order, and writes the confirmed and waitlisted ones in the caller's
transaction with the same few statements whatever the batch's size:

- the reads: the activity with its community's zone, its space and the community's reminder
  rule; the callers with their member record and role; their Idempotency-Keys (on PostgreSQL with
  each key's advisory lock, so that a duplicate still running is refused); the attendees; their
  no-show blocks; attendees already booked; the shares that brought the callers.
- under the activity's row lock: the window re-checked, seats taken or waitlist places given in
  arrival order from the counters on the row (`taken`, `waiting`: a waitlist position needs no
  count), then the bookings (their ids are the arrival order), their attendees, the reminders
  (outbox jobs), the answers kept for the Idempotency-Keys, and the counters; the caller commits.

On PostgreSQL that is two statements and the commit: the reads are one statement, which takes the
keys' advisory locks, then the row lock, and draws the bookings' ids under it
(`booking_sql.READS_POSTGRESQL`), and every write is another, as arrays; so a batch is four round
trips with BEGIN, three of them under the lock, whatever its size (a desk booking's household, an
expired key's deletion, an activity moved meanwhile or a booking held are read or written under it
too, each a statement more). On SQLite the reads go statement by statement before the lock, the
write transaction is the lock, and the writes go one statement each.

Every batch on PostgreSQL takes the lock, even one with nothing to write (only replays or
refusals), and draws an id per request: ids of refused requests are never used (positions are
counted, not taken from ids).

Each request gets its own answer or error; a request refused by a rule never fails the others.
The answers are built before the lock and finished under it with the id, status and position.

The guarantees stay the database's: the CHECK on `taken <= capacity` and the partial unique index
on active attendees refuse a wrong write whatever the code does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api import clock
from api.db.models import IdempotencyKey, ShareOpen
from api.db.session import Database
from api.errors import AppError, Conflict, NotFound, Unauthorized, Unprocessable
from api.services import idempotency
from api.services.activities import booking_rules as rules
from api.services.activities import booking_sql as sql
from api.services.activities.common import DEFAULT_POLICY, place_text, reminder_at, reminder_key
from api.services.feed.attribution import ATTRIBUTION_WINDOW, booking_opens
from api.services.notifications.core import SCHEDULED_JOB, scheduled_job
from workers.outbox import job_row


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
    encoded: str = ""  # the answer as JSON but for what the lock decides (`_template`), when it is kept
    status: str = ""
    booking_id: int | None = None
    after: _Pending | None = None  # refused: a batch-mate booked the same person first
    held: list[int] = field(default_factory=list)


async def book_many(
    session: AsyncSession,
    activity_id: int,
    asks: list[Ask],
    *,
    ttl: timedelta = timedelta(hours=24),
    recheck_held: bool = False,
) -> tuple[list[Outcome], float | None]:
    """Judge and write `asks` (arrival order) for one activity in the session's transaction; the
    caller commits. Returns an Outcome per Ask and when the activity's row lock was taken
    (`time.perf_counter()`, None if it was not). Who already holds a booking is read with the rest
    (on PostgreSQL in the statement that waits for the lock, as of its start), and again under the
    lock when someone did (or with `recheck_held`: after a race with another process)."""
    now = clock.now()
    conn = await session.connection()
    dialect = conn.dialect.name
    reads = await (_read_postgresql if dialect == "postgresql" else _read)(conn, activity_id, asks, now)
    if reads is None:
        return [Outcome(error=NotFound("activity_not_found", "活动不存在")) for _ in asks], None
    act, callers, members, held = reads.act, reads.callers, reads.members, reads.held
    zone = act.timezone
    tz = ZoneInfo(zone)
    outcomes = [Outcome(zone=zone) for _ in asks]
    keyed = await _replays(conn, asks, outcomes, reads, now)

    activity_json, deadline = _activity_parts(act, tz)
    created = now.astimezone(tz).isoformat()
    pending: list[_Pending] = []
    for index, ask in enumerate(asks):
        if outcomes[index].error is not None or outcomes[index].replayed:
            continue
        try:
            caller = callers[ask.user_id]
            if ask.on_behalf_of is not None:
                household_id = await rules.desk_household(conn, act, caller, ask.on_behalf_of)
                if not ask.attendee_ids:
                    raise Unprocessable("attendees_required", "代办预约请选择该户要参加的成员")
                ids, desk_by = ask.attendee_ids, caller.id
            else:
                household_id = rules.resident_household(act, caller)
                ids, desk_by = ask.attendee_ids or [caller.member_id], None
            rules.check_open(act, now, tz)
            chosen = rules.attendees(act, members, household_id, ids, tz, desk=desk_by is not None)
            rules.check_blocks(chosen, reads.blocks, tz)
            told = caller.id if desk_by is None else await rules.household_account(conn, household_id, chosen)
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
        share_id = reads.shares.get(ask.user_id) if desk_by is None else None
        key_row = keyed.get(index)
        encoded = _template(body) if key_row is not None else ""
        pending.append(_Pending(index, ask, household_id, chosen, told, desk_by, share_id, body, key_row, encoded))
    if not pending:
        return outcomes, reads.locked_at

    # from here on, one batch at a time for this activity: on PostgreSQL the reads took the lock
    # (`reads.seats`, with ids for the bookings drawn under it)
    if reads.seats is not None:
        seats, locked_at = reads.seats, reads.locked_at
    else:
        seats = (await conn.execute(sql.LOCK, {"a": activity_id})).one_or_none()
        locked_at = time.perf_counter()  # (on SQLite the lock is the write transaction, since BEGIN)
    if seats is None:
        for p in pending:
            outcomes[p.index].error = NotFound("activity_not_found", "活动不存在")
        return outcomes, locked_at
    if _moved(act, seats):  # staff changed its time or place meanwhile: the answers and reminders follow
        act = (await conn.execute(sql.ACTIVITY, {"a": activity_id})).one()
        activity_json, deadline = _activity_parts(act, tz)
        for p in pending:
            p.body["activity"], p.body["cancel_deadline"] = activity_json, deadline
            p.encoded = _template(p.body) if p.key_row is not None else ""
    if recheck_held or any(m.id in held for p in pending for m in p.members):
        # someone of the batch held a booking a moment ago: whether they still do, under the lock
        ids = sorted({m.id for p in pending for m in p.members})
        held = {r.member_id: r.booking_id for r in await conn.execute(sql.HELD, {"a": activity_id, "ids": ids})}
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


def _activity_parts(act: Any, tz: ZoneInfo) -> tuple[dict[str, Any], str]:
    """The answer's activity and cancellation deadline, as the API writes them (times in `tz`)."""
    activity = {
        "id": act.id,
        "title": act.title,
        "start_at": act.start_at.astimezone(tz).isoformat(),
        "end_at": act.end_at.astimezone(tz).isoformat(),
        "place": place_text(act.space_name, act.location),
        "status": act.status,
    }
    return activity, act.cancel_deadline.astimezone(tz).isoformat()


MOVABLE = ("start_at", "end_at", "cancel_deadline", "title", "location", "space_id")


def _moved(act: Any, locked: Any) -> bool:
    """Whether the activity's time, deadline, title or place changed between the read before the
    lock and the lock."""
    return any(getattr(act, name) != getattr(locked, name) for name in MOVABLE)


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
            rules.check_open(seats, now, tz)
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
    ids = (await conn.execute(sql.INSERT_BOOKINGS, rows)).scalars().all()
    for p, booking_id in zip(written, ids, strict=True):
        p.booking_id = p.body["id"] = booking_id
    attendees = [
        {"booking_id": p.booking_id, "activity_id": act.id, "member_id": m.id, "active": True}
        for p in written
        for m in p.members
    ]
    await conn.execute(sql.INSERT_ATTENDEES, attendees)
    jobs = _reminders(act, tz, written, now)
    if jobs:
        await conn.execute(sql.INSERT_JOBS[conn.dialect.name], jobs)
    keys = [
        {**p.key_row, "response_body": p.body, "created_at": now, "expires_at": now + ttl}
        for p in written
        if p.key_row is not None
    ]
    if keys:
        await conn.execute(sql.INSERT_KEYS, keys)
    await conn.execute(sql.COUNTERS, {"a": act.id, "taken": taken, "waiting": waiting})


# what the lock decides of an answer: encoded before it as placeholders, filled in under it
DECIDED = ("id", "status", "waitlist_position", "can_cancel")
_PLACEHOLDERS = {name: json.dumps(f"\u0000{name}\u0000") for name in DECIDED}


def _template(body: dict[str, Any]) -> str:
    """The answer as JSON, but for what the lock decides (placeholders, in their places)."""
    return json.dumps({**body, **{name: f"\u0000{name}\u0000" for name in DECIDED}}, ensure_ascii=False)


def _stored(p: _Pending) -> str:
    """The answer kept for the Idempotency-Key, as JSON: the template with what the lock decided."""
    text = p.encoded
    for name in DECIDED:
        text = text.replace(_PLACEHOLDERS[name], json.dumps(p.body[name]), 1)
    return text


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
        sql.WRITE_POSTGRESQL,
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


async def warm_up(db: Database) -> None:
    """As the process starts (PostgreSQL): the batch's read statement compiled and prepared on a
    connection, so that the first batch of a rush does not wait for that (tens of milliseconds: a
    large statement, and asyncpg looks up its types) while the other processes' batches seat their
    requests. It reads for no activity: nothing is locked or written."""
    if db.dialect != "postgresql":
        return
    async with db.session() as session:
        await _read_postgresql(await session.connection(), 0, [], clock.now())
        await session.rollback()


@dataclass(slots=True, eq=False)
class _Reads:
    """What the rules need, read before the lock for a whole batch."""

    act: Any  # the activity, with its community's zone, its space's name and the reminder rule
    callers: dict[int, Any]  # user id → the user with their member record and role there
    members: dict[int, Any]  # member id → the member (named attendees, and the callers themselves)
    blocks: dict[int, Any]  # member id → their no-show block lasting longest, if any
    held: dict[int, int]  # member id → their booking of the activity, if they hold one
    keys: dict[tuple[int, str], Any]  # (user id, key) → the stored answer, `expired` or not
    busy: set[int]  # the advisory locks of keys a duplicate still running holds (PostgreSQL)
    shares: dict[int, int]  # user id → the share that brought them
    seats: Any = None  # PostgreSQL: the activity's row as locked, with ids for the batch's bookings
    locked_at: float | None = None  # when the lock was granted (`time.perf_counter()`), if it was


async def _read_postgresql(conn: AsyncConnection, activity_id: int, asks: list[Ask], now: datetime) -> _Reads | None:
    """The batch's reads in one statement (`booking_sql.READS_POSTGRESQL`); None if there is no
    such activity. Each Idempotency-Key's advisory lock is taken in it."""
    pairs = sorted({(a.user_id, a.key) for a in asks if a.key is not None})
    row = (
        await conn.execute(
            sql.READS_POSTGRESQL,
            {
                "a": activity_id,
                "n": len(asks),
                "users": sorted({a.user_id for a in asks}),
                "ids": sorted({i for a in asks for i in (a.attendee_ids or ())}),
                "now": now,
                "since": now - ATTRIBUTION_WINDOW,
                "ks": sorted({idempotency.lock_id(user_id, key) for user_id, key in pairs}),
                "k_users": [user_id for user_id, _ in pairs],
                "k_keys": [key for _, key in pairs],
            },
        )
    ).one_or_none()
    locked_at = time.perf_counter()
    if row is None:
        return None
    seats = SimpleNamespace(**{name: getattr(row, f"locked_{name}") for name in (*sql.LOCKED, "ids")})
    blocks: dict[int, Any] = {}
    for found in row.blocks:  # the one lasting longest first
        until = datetime.fromisoformat(found["until"]).astimezone(UTC)
        blocks.setdefault(found["member_id"], SimpleNamespace(**{**found, "until": until}))
    shares: dict[int, int] = {}
    for opened in row.shares:  # the last opened first
        shares.setdefault(opened["user_id"], opened["share_id"])
    return _Reads(
        act=row,
        callers={c["id"]: SimpleNamespace(**c) for c in row.callers},
        members={m["id"]: SimpleNamespace(**m) for m in row.members},
        blocks=blocks,
        held={h["member_id"]: h["booking_id"] for h in row.held},
        keys={(k["user_id"], k["key"]): SimpleNamespace(**k) for k in row.keys},
        busy={lock["k"] for lock in row.locks if not lock["got"]},
        shares=shares,
        seats=seats,
        locked_at=locked_at,
    )


async def _read(conn: AsyncConnection, activity_id: int, asks: list[Ask], now: datetime) -> _Reads | None:
    """The batch's reads, statement by statement (SQLite)."""
    act = (await conn.execute(sql.ACTIVITY, {"a": activity_id})).one_or_none()
    if act is None:
        return None
    users = sorted({a.user_id for a in asks})
    callers = {row.id: row for row in await conn.execute(sql.CALLERS, {"c": act.community_id, "users": users})}
    pairs = sorted({(a.user_id, a.key) for a in asks if a.key is not None})
    keys = {(r.user_id, r.key): r for r in await conn.execute(sql.KEYS, {"pairs": pairs, "now": now})} if pairs else {}
    wanted = {i for a in asks for i in (a.attendee_ids or ())}
    wanted |= {c.member_id for c in callers.values() if c.member_id is not None}
    members = {m.id: m for m in await conn.execute(sql.MEMBERS, {"ids": sorted(wanted)})} if wanted else {}
    blocks: dict[int, Any] = {}
    held: dict[int, int] = {}
    if members:
        for row in await conn.execute(sql.BLOCKS, {"ids": sorted(members), "now": now}):
            blocks.setdefault(row.member_id, row)  # the one lasting longest first
        held = {
            r.member_id: r.booking_id for r in await conn.execute(sql.HELD, {"a": activity_id, "ids": sorted(members)})
        }
    app_users = {a.user_id for a in asks if a.on_behalf_of is None and a.user_id in callers}
    shares: dict[int, int] = {}
    if app_users:
        opens = booking_opens(ShareOpen.user_id.in_(sorted(app_users)), activity_id, now - ATTRIBUTION_WINDOW)
        for user_id, share_id, _, _ in await conn.execute(opens):  # the last opened first
            shares.setdefault(user_id, share_id)
    return _Reads(act, callers, members, blocks, held, keys, set(), shares)


async def _replays(
    conn: AsyncConnection, asks: list[Ask], outcomes: list[Outcome], reads: _Reads, now: datetime
) -> dict[int, dict[str, Any]]:
    """The callers' checks that come first: the caller exists (401), then its Idempotency-Key — a
    retry replays its first answer, a key used for another request is refused, a duplicate still
    running (in this batch, or elsewhere: its advisory lock is held) is told to wait. Returns, per
    Ask that goes on with a key, the key's row to store with the answer."""
    keyed: dict[int, dict[str, Any]] = {}
    seen: set[tuple[int, str]] = set()
    for index, ask in enumerate(asks):
        if ask.user_id not in reads.callers:
            outcomes[index].error = Unauthorized("token_invalid", "登录凭证无效，请重新登录")
        elif ask.key is not None:
            if (ask.user_id, ask.key) in seen or idempotency.lock_id(ask.user_id, ask.key) in reads.busy:
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
    expired = []
    for index in list(keyed):
        row = reads.keys.get((asks[index].user_id, asks[index].key or ""))
        if row is None:
            continue
        if row.expired:
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


def _reminders(act: Any, tz: ZoneInfo, written: list[_Pending], now: datetime) -> list[dict[str, Any]]:
    """The confirmed bookings' reminders (`reminder_hours` before the start, if that is still
    ahead), as outbox jobs: what `schedule_reminder` writes for one booking."""
    hours = act.reminder_hours if act.reminder_hours is not None else DEFAULT_POLICY["reminder_hours"]
    at = reminder_at(act.start_at, hours, now)
    if at is None:
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
