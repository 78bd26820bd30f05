"""The community's clocks for concerns, and what the worker does when they run out.

Staff read the clocks; the community's admins set them (bounded as the table's CHECKs are). A
change applies to the clocks set from then on: concerns already raised or accepted keep theirs.

Every ten minutes the worker tells a community's staff of each concern whose clock has just run
out, once per clock (`late_flagged_at`, which acceptance, a new due date and a reopening clear);
every hour it closes the concerns whose outcome is `reopen_days` old (after that a "not solved"
no longer reopens them anyway).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Concern, ConcernEvent, GovernancePolicy, User
from api.errors import Forbidden
from api.services import audit
from api.services.access import RANK, require_staff_hidden, staff_ids
from api.services.governance import common
from api.services.governance.concern_access import OUTCOMES, late_for_staff
from api.services.governance.concern_triage import close_concern
from api.services.notifications import notify

CLOCK_LABELS = {"response": "受理", "resolution": "办结"}
BATCH = 500


async def policy(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """The community's clocks (its defaults until an admin set them), for its staff."""
    await require_staff_hidden(session, user, community_id, "只有社区工作人员可以查看议事时限")
    row = await session.get(GovernancePolicy, community_id)
    clocks = await common.clocks(session, community_id)
    return asdict(clocks) | {"is_default": row is None, "updated_at": row.updated_at if row is not None else None}


async def set_policy(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """The community's admins set its clocks, all of them at once."""
    _, role = await require_staff_hidden(session, user, community_id, "只有社区工作人员可以查看议事时限")
    if RANK[role] < RANK["admin"]:
        raise Forbidden("admin_only", "只有社区管理员可以修改议事时限")
    row = await session.get(GovernancePolicy, community_id, with_for_update=True)
    before = asdict(await common.clocks(session, community_id))
    if row is None:
        row = GovernancePolicy(community_id=community_id)
        session.add(row)
    for name in before:
        setattr(row, name, data[name])
    row.updated_by = user.id
    await session.flush()
    await audit.record(
        session,
        user,
        community_id,
        subject="governance_policy",
        subject_id=None,
        action="update",
        summary="修改议事时限",
        before=before,
        after={name: getattr(row, name) for name in before},
    )
    return await policy(session, user, community_id)


async def flag_late(session: AsyncSession) -> int:
    """Tell each community's staff of the concerns whose clock has run out since they were last
    told: once per clock, however often this runs (the flag is set by a conditional update, and
    the notification's cause names the clock and its deadline). Concerns refused or taken down by
    moderation are left alone. Returns how many concerns were flagged."""
    now = clock.now()
    late = list(
        (
            await session.execute(
                select(Concern)
                .where(late_for_staff(now), Concern.late_flagged_at.is_(None))
                .order_by(Concern.id)
                .limit(BATCH)
            )
        ).scalars()
    )
    staff: dict[int, list[int]] = {}
    flagged = 0
    for concern in late:
        which = common.late(concern, now)
        deadline = concern.accept_by if which == "response" else concern.due_at
        if which is None or deadline is None:
            continue
        marked = await session.execute(
            update(Concern)
            .where(Concern.id == concern.id, Concern.late_flagged_at.is_(None))
            .values(late_flagged_at=now)
            .execution_options(synchronize_session=False)
        )
        if not getattr(marked, "rowcount", 0):
            continue  # another worker got there first
        flagged += 1
        if concern.community_id not in staff:
            staff[concern.community_id] = await staff_ids(session, concern.community_id)
        await notify(
            session,
            staff[concern.community_id],
            "concern.late",
            {
                "concern_id": concern.id,
                "title": concern.title,
                "clock_label": CLOCK_LABELS[which],
                "due_at": deadline,
            },
            f"concern:{concern.id}:late:{which}:{int(deadline.timestamp())}",
            community_id=concern.community_id,
        )
    return flagged


async def close_settled(session: AsyncSession) -> int:
    """Close the concerns whose outcome (resolution, or turning down) is more than `reopen_days`
    old in their community. Returns how many were closed."""
    now = clock.now()
    outcome_at = (
        select(func.max(ConcernEvent.at))
        .where(ConcernEvent.concern_id == Concern.id, ConcernEvent.kind == Concern.status)
        .correlate(Concern)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Concern.id, Concern.community_id, Concern.status, Concern.resolved_at, outcome_at)
            .where(Concern.status.in_(OUTCOMES))
            .order_by(Concern.id)
        )
    ).all()
    clocks: dict[int, common.Clocks] = {}
    closed = 0
    for concern_id, community_id, status, resolved_at, decided_at in rows:
        if community_id not in clocks:
            clocks[community_id] = await common.clocks(session, community_id)
        at = resolved_at if status == "resolved" else decided_at
        if at is None or now <= at + timedelta(days=clocks[community_id].reopen_days):
            continue
        await common.agenda_lock(session, community_id)  # the lock order, as staff closing it
        concern = await session.get(Concern, concern_id, with_for_update=True, populate_existing=True)
        if concern is None or concern.status != status:
            continue
        await close_concern(session, concern, None)
        closed += 1
    return closed
