"""Service projects (服务项目): a government-purchased contract — who pays, for how long, which
communities it covers — and its targets per community, indicator and period.

Who sees what: a project is seen by the staff of the communities it covers (anyone else is told it
does not exist); its targets for a community only by that community's staff. Activities and shifts
are tagged with a project that covers their community, and with a service type.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Community, ProjectCommunity, ProjectTarget, ServiceProject, Shift, User
from api.errors import Conflict, NotFound, Unprocessable
from api.services.access import get_community, is_staff, require_staff
from api.services.reports import registry

# the indicators a target may be set for, with their names: the registry's
TARGETABLE = registry.TARGETABLE

GRAIN_LABELS = {"month": "按月", "quarter": "按季度"}
TOTAL = "total"
LONGEST = 6 * 366  # days: a contract runs a few years at most; the targets grid stays readable
FIELDS = ("name", "funder", "starts_on", "ends_on", "grain", "description")


def _not_found() -> NotFound:
    return NotFound("project_not_found", "服务项目不存在")


# -- periods -----------------------------------------------------------------------------------------


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def periods(starts_on: date, ends_on: date, grain: str) -> list[str]:
    """The months ("2026-09") or quarters ("2026-Q3") the contract period touches, in order."""
    found: list[str] = []
    if grain == "month":
        year, month = starts_on.year, starts_on.month
        while (year, month) <= (ends_on.year, ends_on.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    else:
        year, quarter = _quarter(starts_on)
        while (year, quarter) <= _quarter(ends_on):
            found.append(f"{year:04d}-Q{quarter}")
            year, quarter = (year, quarter + 1) if quarter < 4 else (year + 1, 1)
    return found


def target_periods(project: ServiceProject) -> list[str]:
    """Where a target may be set: the whole period, then each month or quarter of it."""
    return [TOTAL, *periods(project.starts_on, project.ends_on, project.grain)]


def period_label(period: str) -> str:
    """How staff read a period: 合计, 2026年9月, 2026年第3季度."""
    if period == TOTAL:
        return "合计"
    if "-Q" in period:
        return f"{period[:4]}年第{period[-1]}季度"
    return f"{period[:4]}年{int(period[5:])}月"


def _check_period(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise Unprocessable(
            "period_invalid",
            "合同期不对：结束日期不能早于开始日期",
            details={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        )
    if ends_on - starts_on > timedelta(days=LONGEST):
        raise Unprocessable(
            "period_invalid",
            "合同期太长：最长六年",
            details={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        )


# -- who may see a project ---------------------------------------------------------------------------


async def _covered(session: AsyncSession, project_id: int) -> list[int]:
    rows = await session.execute(
        select(ProjectCommunity.community_id)
        .where(ProjectCommunity.project_id == project_id)
        .order_by(ProjectCommunity.added_at, ProjectCommunity.community_id)
    )
    return list(rows.scalars())


async def visible_project(
    session: AsyncSession, user: User, project_id: int, *, lock: bool = False
) -> tuple[ServiceProject, list[int]]:
    """The project and the communities it covers, if the caller is staff of one of them (a
    platform admin always is); otherwise 404, as for a project that does not exist. Answers are
    in the time zone of the first covered community the caller serves. With `lock`, read under
    the project's row lock: changes to a project, its communities and its targets happen one at
    a time (on SQLite the write transaction is the lock)."""
    query = select(ServiceProject).where(ServiceProject.id == project_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    project = (await session.execute(query)).scalar_one_or_none()
    if project is None:
        raise _not_found()
    covered = await _covered(session, project.id)
    for community_id in covered:
        if await is_staff(session, user, community_id):
            await get_community(session, community_id)
            return project, covered
    raise _not_found()


async def covering_project(session: AsyncSession, project_id: int, community_id: int) -> ServiceProject | None:
    """The project, if it covers the community (the caller has authorised)."""
    if await session.get(ProjectCommunity, (project_id, community_id)) is None:
        return None
    return await session.get(ServiceProject, project_id)


async def of_community(session: AsyncSession, community_id: int) -> list[ServiceProject]:
    """The projects covering the community, the one whose contract ends last first (the caller has
    authorised)."""
    rows = await session.execute(
        select(ServiceProject)
        .join(ProjectCommunity, ProjectCommunity.project_id == ServiceProject.id)
        .where(ProjectCommunity.community_id == community_id)
        .order_by(ServiceProject.ends_on.desc(), ServiceProject.id.desc())
    )
    return list(rows.scalars())


async def project_in(session: AsyncSession, user: User, community_id: int, project_id: int) -> ServiceProject:
    """The project, for staff of `community_id`, if it covers that community (else 404)."""
    await require_staff(session, user, community_id)
    project = await covering_project(session, project_id, community_id)
    if project is None:
        raise _not_found()
    return project


async def _view(session: AsyncSession, project: ServiceProject, covered: list[int]) -> dict[str, Any]:
    names: dict[int, str] = {}
    if covered:
        rows = await session.execute(select(Community.id, Community.name).where(Community.id.in_(covered)))
        names = {cid: name for cid, name in rows.all()}
    return {
        "id": project.id,
        "name": project.name,
        "funder": project.funder,
        "starts_on": project.starts_on,
        "ends_on": project.ends_on,
        "grain": project.grain,
        "description": project.description,
        "communities": [{"id": cid, "name": names.get(cid, "")} for cid in covered],
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


# -- projects ----------------------------------------------------------------------------------------


async def create_project(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A project covering `community_id` and any other communities listed; the creator is staff
    of every one of them (a platform admin of any)."""
    await require_staff(session, user, community_id)
    others = [cid for cid in dict.fromkeys(data.get("community_ids") or []) if cid != community_id]
    for other in others:
        await require_staff(session, user, other)
    await get_community(session, community_id)  # answers in the first community's zone
    _check_period(data["starts_on"], data["ends_on"])
    project = ServiceProject(
        name=data["name"],
        funder=data["funder"],
        starts_on=data["starts_on"],
        ends_on=data["ends_on"],
        grain=data.get("grain") or "month",
        description=data.get("description") or "",
        created_by=user.id,
    )
    session.add(project)
    await session.flush()
    now = clock.now()
    covered = [community_id, *others]
    for n, cid in enumerate(covered):
        # one after the other, so that the order they were added in is the order they are listed in
        session.add(ProjectCommunity(project_id=project.id, community_id=cid, added_at=now + timedelta(microseconds=n)))
    await session.flush()
    return await _view(session, project, covered)


async def list_projects(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """The projects covering the community, the one whose contract ends last first. Staff of the
    community."""
    await require_staff(session, user, community_id)
    projects = await of_community(session, community_id)
    covered: dict[int, list[int]] = {p.id: [] for p in projects}
    if projects:
        found = await session.execute(
            select(ProjectCommunity.project_id, ProjectCommunity.community_id)
            .where(ProjectCommunity.project_id.in_(covered))
            .order_by(ProjectCommunity.added_at, ProjectCommunity.community_id)
        )
        for project_id, cid in found.all():
            covered[project_id].append(cid)
    return [await _view(session, p, covered[p.id]) for p in projects]


async def covering(session: AsyncSession, user: User, community_id: int) -> list[tuple[int, str]]:
    """(id, name) of the projects covering the community, for a form's select."""
    return [(p["id"], p["name"]) for p in await list_projects(session, user, community_id)]


async def get_project(session: AsyncSession, user: User, project_id: int) -> dict[str, Any]:
    project, covered = await visible_project(session, user, project_id)
    return await _view(session, project, covered)


async def _misfits(session: AsyncSession, project_id: int, allowed: set[str]) -> int:
    """How many targets of the project (of any community) are for a period not in `allowed`."""
    rows = await session.execute(select(ProjectTarget.period).where(ProjectTarget.project_id == project_id))
    return sum(1 for period in rows.scalars() if period not in allowed)


async def update_project(session: AsyncSession, user: User, project_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Staff of a covered community change the name, funder, period, grain or description; null
    leaves a field as it is. A new period or grain that would leave targets outside it is refused
    until those targets are cleared."""
    project, covered = await visible_project(session, user, project_id, lock=True)
    changes = {name: value for name, value in fields.items() if name in FIELDS and value is not None}
    starts_on = changes.get("starts_on", project.starts_on)
    ends_on = changes.get("ends_on", project.ends_on)
    grain = changes.get("grain", project.grain)
    _check_period(starts_on, ends_on)
    if (starts_on, ends_on, grain) != (project.starts_on, project.ends_on, project.grain):
        left_out = await _misfits(session, project.id, {TOTAL, *periods(starts_on, ends_on, grain)})
        if left_out:
            raise Conflict(
                "targets_outside_period",
                f"有 {left_out} 个分期目标不在新的合同期或分期方式内，请先清除这些目标再修改",
                details={"targets": left_out},
            )
    for name, value in changes.items():
        setattr(project, name, value)
    project.updated_at = clock.now()
    await session.flush()
    return await _view(session, project, covered)


async def add_community(session: AsyncSession, user: User, project_id: int, community_id: int) -> dict[str, Any]:
    """The project covers one more community: the caller sees the project and is staff of that
    community too. Adding a covered community again changes nothing."""
    project, covered = await visible_project(session, user, project_id, lock=True)
    await require_staff(session, user, community_id)
    if community_id not in covered:
        session.add(ProjectCommunity(project_id=project.id, community_id=community_id, added_at=clock.now()))
        await session.flush()
        covered.append(community_id)
    return await _view(session, project, covered)


async def remove_community(session: AsyncSession, user: User, project_id: int, community_id: int) -> dict[str, Any]:
    """The project no longer covers a community (the caller is staff there too); that
    community's targets go with it. Refused for the last community (nobody would see the
    project), and while activities or shifts of that community are tagged with the project."""
    project, covered = await visible_project(session, user, project_id, lock=True)
    await require_staff(session, user, community_id)
    if community_id not in covered:
        return await _view(session, project, covered)
    if covered == [community_id]:
        raise Conflict("project_last_community", "这是项目覆盖的最后一个社区，不能移除")
    activities = (
        await session.execute(
            select(func.count())
            .select_from(Activity)
            .where(Activity.project_id == project.id, Activity.community_id == community_id)
        )
    ).scalar_one()
    shifts = (
        await session.execute(
            select(func.count())
            .select_from(Shift)
            .where(Shift.project_id == project.id, Shift.community_id == community_id)
        )
    ).scalar_one()
    if activities or shifts:
        raise Conflict(
            "project_in_use",
            f"本社区有 {activities} 个活动、{shifts} 个志愿岗位标记为这个项目，请先改掉它们的标记",
            details={"activities": activities, "shifts": shifts},
        )
    await session.execute(
        delete(ProjectTarget).where(ProjectTarget.project_id == project.id, ProjectTarget.community_id == community_id)
    )
    await session.execute(
        delete(ProjectCommunity).where(
            ProjectCommunity.project_id == project.id, ProjectCommunity.community_id == community_id
        )
    )
    await session.flush()
    covered.remove(community_id)
    return await _view(session, project, covered)


# -- targets -----------------------------------------------------------------------------------------


def _targets_view(project: ServiceProject, community_id: int, rows: list[ProjectTarget]) -> dict[str, Any]:
    order = {key: n for n, key in enumerate(TARGETABLE)}
    when = {period: n for n, period in enumerate(target_periods(project))}
    rows = sorted(rows, key=lambda t: (order.get(t.indicator, len(order)), when.get(t.period, len(when)), t.period))
    return {
        "project_id": project.id,
        "community_id": community_id,
        "grain": project.grain,
        "periods": target_periods(project),
        "indicators": [
            {
                "key": key,
                "name": name,
                "unit": registry.INDICATORS[key].unit,
                "definition": registry.INDICATORS[key].definition,
            }
            for key, name in TARGETABLE.items()
        ],
        "targets": [
            {"indicator": t.indicator, "period": t.period, "value": t.value, "updated_at": t.updated_at} for t in rows
        ],
    }


async def _rows(session: AsyncSession, project_id: int, community_id: int) -> list[ProjectTarget]:
    found = await session.execute(
        select(ProjectTarget).where(ProjectTarget.project_id == project_id, ProjectTarget.community_id == community_id)
    )
    return list(found.scalars())


async def get_targets(session: AsyncSession, user: User, project_id: int, community_id: int) -> dict[str, Any]:
    """The project's targets for one community: its staff only (a covered community's staff read
    their own community's targets, never another's)."""
    await visible_project(session, user, project_id)
    project = await project_in(session, user, community_id, project_id)
    return _targets_view(project, community_id, await _rows(session, project.id, community_id))


async def set_targets(
    session: AsyncSession, user: User, project_id: int, community_id: int, targets: list[dict[str, Any]]
) -> dict[str, Any]:
    """Replace the community's targets of the project: each (indicator, period) listed with a
    value is kept (values ≥ 0), anything not listed or with no value is removed."""
    await visible_project(session, user, project_id, lock=True)
    project = await project_in(session, user, community_id, project_id)
    allowed = target_periods(project)
    wanted: dict[tuple[str, str], float] = {}
    seen: set[tuple[str, str]] = set()
    for n, target in enumerate(targets):
        key = (target["indicator"], target["period"])
        if key[0] not in TARGETABLE:
            raise Unprocessable(
                "indicator_unknown",
                f"第{n + 1}项：没有这个指标（{key[0]}）",
                details={"index": n, "indicator": key[0], "known": list(TARGETABLE)},
            )
        if key[1] not in allowed:
            raise Unprocessable(
                "target_period_invalid",
                f"第{n + 1}项：期间 {key[1]} 不在合同期内，或与项目的分期方式（{GRAIN_LABELS[project.grain]}）不符",
                details={"index": n, "period": key[1], "allowed": allowed},
            )
        if key in seen:
            raise Unprocessable(
                "target_duplicate",
                f"第{n + 1}项：同一指标、同一期间的目标重复了",
                details={"index": n, "indicator": key[0], "period": key[1]},
            )
        seen.add(key)
        if target.get("value") is not None:
            wanted[key] = float(target["value"])
    now = clock.now()
    existing = {(t.indicator, t.period): t for t in await _rows(session, project.id, community_id)}
    for key, row in existing.items():
        if key not in wanted:
            await session.delete(row)
        elif row.value != wanted[key]:
            row.value, row.updated_at, row.updated_by = wanted[key], now, user.id
    for key, value in wanted.items():
        if key not in existing:
            session.add(
                ProjectTarget(
                    project_id=project.id,
                    community_id=community_id,
                    indicator=key[0],
                    period=key[1],
                    value=value,
                    updated_at=now,
                    updated_by=user.id,
                )
            )
    await session.flush()
    return _targets_view(project, community_id, await _rows(session, project.id, community_id))


# -- tagging -----------------------------------------------------------------------------------------


async def check_tag(session: AsyncSession, community_id: int, project_id: int | None) -> None:
    """An activity or shift of `community_id` may be tagged only with a project covering it."""
    if project_id is None:
        return
    if await session.get(ProjectCommunity, (project_id, community_id)) is None:
        raise Unprocessable(
            "project_not_covering",
            "所选的服务项目不覆盖本社区，请选择本社区的服务项目",
            details={"project_id": project_id},
        )
