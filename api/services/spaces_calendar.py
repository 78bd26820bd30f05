"""The spaces' calendar for the console's settings: a space of a community (and a closure of one),
the closures touching a span of days, and a month laid out as weeks, each day marked open, closed
by the weekly rule, or closed by a closure (holidays, repairs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Community, Space, SpaceClosure, User
from api.errors import NotFound
from api.schemas.communities import WEEKDAYS
from api.services.access import require_staff
from api.services.communities import today_in


async def community_space(session: AsyncSession, user: User, community_id: int, space_id: int) -> Space:
    """A space of this community, for its staff (any other space does not exist here)."""
    await require_staff(session, user, community_id)
    space = await session.get(Space, space_id)
    if space is None or space.community_id != community_id:
        raise NotFound("space_not_found", "空间不存在")
    return space


async def community_closure(session: AsyncSession, user: User, community_id: int, closure_id: int) -> SpaceClosure:
    """A closure of one of this community's spaces, for its staff."""
    await require_staff(session, user, community_id)
    closure = await session.get(SpaceClosure, closure_id)
    space = await session.get(Space, closure.space_id) if closure is not None else None
    if closure is None or space is None or space.community_id != community_id:
        raise NotFound("closure_not_found", "闭馆安排不存在")
    return closure


async def closures_between(session: AsyncSession, space_id: int, first: date, last: date) -> list[SpaceClosure]:
    """The space's closures that touch any day from `first` to `last` (both inclusive), earliest
    first."""
    rows = await session.execute(
        select(SpaceClosure)
        .where(SpaceClosure.space_id == space_id, SpaceClosure.ends_on >= first, SpaceClosure.starts_on <= last)
        .order_by(SpaceClosure.starts_on, SpaceClosure.id)
    )
    return list(rows.scalars())


def month_start(day: date) -> date:
    return day.replace(day=1)


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    today: bool
    hours: list[list[str]]  # the weekly rule's periods that day ([] : closed every such weekday)
    closures: list[SpaceClosure] = field(default_factory=list)

    @property
    def state(self) -> str:
        """open, weekly (closed by the weekly rule) or closure (closed by a closure)."""
        if self.closures:
            return "closure"
        return "open" if self.hours else "weekly"


def month_grid(space: Space, first: date, closures: list[SpaceClosure], today: date) -> list[list[CalendarDay]]:
    """The month of `first` as weeks from Monday to Sunday (days of the months around it fill the
    first and last weeks), each day with its weekly hours and the closures covering it."""
    start = first - timedelta(days=first.weekday())
    following = shift_month(first, 1)
    end = following + timedelta(days=(7 - following.weekday()) % 7)
    weeks: list[list[CalendarDay]] = []
    day = start
    while day < end:
        week = []
        for _ in range(7):
            week.append(
                CalendarDay(
                    day=day,
                    in_month=day.month == first.month,
                    today=day == today,
                    hours=list(space.opening_hours.get(WEEKDAYS[day.weekday()], [])),
                    closures=[c for c in closures if c.starts_on <= day <= c.ends_on],
                )
            )
            day += timedelta(days=1)
        weeks.append(week)
    return weeks


async def month_calendar(
    session: AsyncSession, user: User, community: Community, space_id: int, first: date
) -> dict[str, Any]:
    """Staff: one space's month — its weeks, the closures touching it, the weekdays it never opens."""
    space = await community_space(session, user, community.id, space_id)
    following = shift_month(first, 1)
    grid_first = first - timedelta(days=first.weekday())
    grid_last = following + timedelta(days=(7 - following.weekday()) % 7 - 1)
    closures = await closures_between(session, space.id, grid_first, grid_last)
    return {
        "space": space,
        "month": first,
        "weeks": month_grid(space, first, closures, today_in(community)),
        "closures": [c for c in closures if c.ends_on >= first and c.starts_on < following],
        "closed_weekdays": [n for n, name in enumerate(WEEKDAYS) if not space.opening_hours.get(name)],
    }
