"""The space's settings in the console (设置): the community's spaces with their weekly opening
hours (a grid: per weekday open or closed, and one or more periods from–to), and the calendar of
closed days (a month per space, closures added and removed).

Spaces are set up by the community's admins (`communities.create_space`, `update_space` check so;
plain staff see the hours read-only, and a forged change is refused by the service). Closures are
staff's (`communities.add_closure`, `remove_closure`). A refused form comes back with what was
typed and each refusal beside its field (a day's beside that day's row)."""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData

from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.pagination import MAX_ID
from api.schemas.communities import (
    DEFAULT_OPENING_HOURS,
    WEEKDAYS,
    ClosureCreate,
    SpaceCreate,
    SpaceUpdate,
)
from api.services import access, communities, spaces_calendar

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}/settings", include_in_schema=False)

DAY_LABELS = dict(zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))
SPACE_LABELS = {"name": "空间名称", "address": "地址", "opening_hours": "开放时间"}
CLOSURE_LABELS = {"starts_on": "开始日期", "ends_on": "结束日期", "reason": "原因"}
MAX_PERIODS = 12  # a day's periods (the API's bound)
MIN_ROWS = 2  # period rows the grid shows for a day, at least
HHMM = re.compile(r"^(\d{1,2})[:：](\d{2})$")
VALID_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/settings"


def _text(form: FormData, name: str, longest: int = 300) -> str:
    value = form.get(name)
    return value.strip()[:longest] if isinstance(value, str) else ""


# -- the weekly grid -------------------------------------------------------------------------------


def _grid_of(hours: dict[str, list[list[str]]]) -> dict[str, dict[str, Any]]:
    """Saved hours as the grid shows them: per weekday open or not, and its periods' rows (one
    empty row more than it has, for another period)."""
    grid: dict[str, dict[str, Any]] = {}
    for day in WEEKDAYS:
        periods = [(opens, closes) for opens, closes in hours.get(day, [])]
        rows = periods + [("", "")] * max(MIN_ROWS - len(periods), 1)
        grid[day] = {"open": bool(periods), "rows": rows[:MAX_PERIODS]}
    return grid


def _time(raw: str) -> str | None:
    """`9:00`, `09:00` or `09：00` as HH:MM; None if it is not a time of day."""
    found = HHMM.match(raw)
    if found is None:
        return None
    text = f"{int(found.group(1)):02d}:{found.group(2)}"
    return text if VALID_HHMM.match(text) else None


def _read_grid(form: FormData) -> tuple[dict[str, dict[str, Any]], dict[str, list[list[str]]], dict[str, str]]:
    """The grid as typed, the hours it means, and each day's refusal (by `hours-<day>`)."""
    grid: dict[str, dict[str, Any]] = {}
    hours: dict[str, list[list[str]]] = {}
    errors: dict[str, str] = {}
    for day in WEEKDAYS:
        is_open = bool(_text(form, f"open-{day}"))
        typed = [(_text(form, f"from-{day}-{n}", 10), _text(form, f"to-{day}-{n}", 10)) for n in range(MAX_PERIODS)]
        rows = [row for row in typed if row[0] or row[1]]
        grid[day] = {"open": is_open, "rows": (rows + [("", "")] * max(MIN_ROWS - len(rows), 1))[:MAX_PERIODS]}
        hours[day] = []
        if not is_open:
            continue
        problem = None
        periods: list[tuple[str, str]] = []
        for opens_raw, closes_raw in rows:
            if not opens_raw or not closes_raw:
                problem = problem or "每个时段请填写开始和结束时间"
                continue
            opens, closes = _time(opens_raw), _time(closes_raw)
            if opens is None or closes is None:
                problem = problem or "时间应写成“时:分”，如 09:00"
                continue
            if opens >= closes:
                problem = problem or f"{opens}–{closes}：结束时间应晚于开始时间"
                continue
            periods.append((opens, closes))
        periods.sort()
        if problem is None and not periods:
            problem = "请填写开放时段，或取消勾选“开放”"
        if problem is None and any(b[0] < a[1] for a, b in itertools.pairwise(periods)):
            problem = "开放时段有重叠"
        if problem is not None:
            errors[f"hours-{day}"] = problem
        else:
            hours[day] = [[opens, closes] for opens, closes in periods]
    return grid, hours, errors


def _space_context(
    desk: web.Desk,
    values: dict[str, str],
    grid: dict[str, dict[str, Any]],
    errors: dict[str, str],
    action: str,
    editing: bool,
) -> dict[str, Any]:
    return {
        "values": values,
        "grid": grid,
        "errors": errors,
        "labels": {**SPACE_LABELS, **{f"hours-{d}": label for d, label in DAY_LABELS.items()}},
        "days": DAY_LABELS,
        "action": action,
        "editing": editing,
        "may_edit": desk.role == "admin",
    }


def _space_refused(request: Request, desk: web.Desk, context: dict[str, Any]) -> Response:
    return web.render(request, "settings/spaces_form.html", context, status_code=422, desk=desk)


def _name_errors(exc: ValidationError) -> dict[str, str]:
    return web.model_errors(exc, SPACE_LABELS)


async def _save_space(request: Request, desk: web.Desk, space_id: int | None) -> Response:
    """Create (space_id None) or change a space from the form; only admins (the service's rule)."""
    await access.require_admin(desk.session, desk.viewer.user, desk.community.id)
    form = await request.form()
    values = {"name": _text(form, "name", 200), "address": _text(form, "address", 600)}
    grid, hours, errors = _read_grid(form)
    action = f"{_base(desk)}/spaces" + (f"/{space_id}" if space_id else "")
    model: type[SpaceCreate] | type[SpaceUpdate] = SpaceCreate if space_id is None else SpaceUpdate
    if not values["name"]:
        errors.setdefault("name", "请填写")
    try:
        model.model_validate({**values, "opening_hours": hours})
    except ValidationError as exc:
        for name, message in _name_errors(exc).items():
            errors.setdefault(name, message)
    context = _space_context(desk, values, grid, errors, action, space_id is not None)
    if errors:
        return _space_refused(request, desk, context)
    fields = {**values, "opening_hours": hours}
    try:
        async with desk.session.begin_nested():
            if space_id is None:
                made = await communities.create_space(desk.session, desk.viewer.user, desk.community.id, fields)
                space_id = int(made["id"])
            else:
                await communities.update_space(desk.session, desk.viewer.user, space_id, fields)
    except AppError as exc:
        if exc.code != "space_exists":
            raise
        context["errors"] = {"name": exc.message}
        return _space_refused(request, desk, context)
    return web.redirect(f"{_base(desk)}/spaces?saved={space_id}", request)


# -- spaces ------------------------------------------------------------------------------------------


@router.get("/spaces")
async def spaces_page(
    request: Request, desk: web.DeskDep, saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    """The community's spaces and their week; a new space's form for admins."""
    spaces = await communities.list_spaces(desk.session, desk.community.id)
    context = _space_context(
        desk, {"name": "", "address": ""}, _grid_of(DEFAULT_OPENING_HOURS), {}, f"{_base(desk)}/spaces", False
    )
    context.update(spaces=spaces, saved=saved, tab="spaces")
    return web.render(request, "settings/spaces.html", context, desk=desk, nav="settings")


@router.post("/spaces", dependencies=[web.CsrfChecked])
async def create_space(request: Request, desk: web.DeskDep) -> Response:
    return await _save_space(request, desk, None)


@router.get("/spaces/{space_id}")
async def space_page(space_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """One space's name, address and weekly hours: a form for admins, read-only for staff."""
    space = await spaces_calendar.community_space(desk.session, desk.viewer.user, desk.community.id, space_id)
    values = {"name": space.name, "address": space.address}
    action = f"{_base(desk)}/spaces/{space.id}"
    context = _space_context(desk, values, _grid_of(space.opening_hours), {}, action, True)
    context.update(space=space, tab="spaces")
    return web.render(request, "settings/spaces_edit.html", context, desk=desk, nav="settings")


@router.post("/spaces/{space_id}", dependencies=[web.CsrfChecked])
async def update_space(space_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await spaces_calendar.community_space(desk.session, desk.viewer.user, desk.community.id, space_id)
    return await _save_space(request, desk, space_id)


# -- the calendar of closed days ---------------------------------------------------------------------


def _month(raw: str | None, today: date) -> date:
    if not raw:
        return spaces_calendar.month_start(today)
    found = MONTH.match(raw)
    if found is None or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2100:
        raise AppError("month_invalid", "月份应写成“年-月”，如 2026-12", status=422)
    return date(int(found.group(1)), int(found.group(2)), 1)


class ClosureForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    starts_on: str = Field(default="", max_length=20)
    ends_on: str = Field(default="", max_length=20)
    reason: str = Field(default="", max_length=400)


async def _closures_context(desk: web.Desk, space_id: int | None, first: date) -> dict[str, Any]:
    spaces = await communities.list_spaces(desk.session, desk.community.id)
    context: dict[str, Any] = {
        "spaces": spaces,
        "tab": "closures",
        "days": list(DAY_LABELS.values()),
        "values": {"starts_on": "", "ends_on": "", "reason": ""},
        "errors": {},
        "labels": CLOSURE_LABELS,
    }
    if space_id is None and spaces:
        space_id = int(spaces[0]["id"])
    if space_id is None:
        return {**context, "calendar": None}
    calendar = await spaces_calendar.month_calendar(desk.session, desk.viewer.user, desk.community, space_id, first)
    upcoming = await communities.space_closures(desk.session, space_id)
    context.update(
        calendar=calendar,
        upcoming=upcoming,
        prev=spaces_calendar.shift_month(first, -1),
        next=spaces_calendar.shift_month(first, 1),
        closed_weekdays="、".join(DAY_LABELS[WEEKDAYS[n]] for n in calendar["closed_weekdays"]),
        here=f"{_base(desk)}/closures?space={space_id}&month={first:%Y-%m}",
    )
    return context


@router.get("/closures")
async def closures_page(
    request: Request,
    desk: web.DeskDep,
    space: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    month: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """A space's month of days: open, closed every such weekday, or closed by a closure; the
    closures from today on, each removable; a closure's form."""
    first = _month(month, communities.today_in(desk.community))
    context = await _closures_context(desk, space, first)
    return web.render(request, "settings/closures.html", context, desk=desk, nav="settings")


@router.post("/spaces/{space_id}/closures", dependencies=[web.CsrfChecked])
async def add_closure(
    space_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ClosureForm, Form()]
) -> Response:
    """Close the space from one day to another (both inclusive), with the reason residents see."""
    space = await spaces_calendar.community_space(desk.session, desk.viewer.user, desk.community.id, space_id)
    values = form.model_dump()
    errors: dict[str, str] = {}
    body = None
    try:
        body = ClosureCreate.model_validate({k: v for k, v in values.items() if v or k == "reason"})
    except ValidationError as exc:
        errors = web.model_errors(exc, CLOSURE_LABELS)
    if body is None:
        context = {
            "values": values,
            "errors": errors,
            "labels": CLOSURE_LABELS,
            "calendar": {"space": space},
        }
        return web.render(request, "settings/closures_form.html", context, status_code=422, desk=desk)
    await communities.add_closure(desk.session, desk.viewer.user, space.id, body.model_dump())
    return web.redirect(f"{_base(desk)}/closures?space={space.id}&month={body.starts_on:%Y-%m}", request)


@router.post("/closures/{closure_id}/remove", dependencies=[web.CsrfChecked])
async def remove_closure(
    closure_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    month: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """Cancel a closure: the space opens on those days by its weekly hours again."""
    closure = await spaces_calendar.community_closure(desk.session, desk.viewer.user, desk.community.id, closure_id)
    space_id, starts = closure.space_id, closure.starts_on
    first = _month(month, starts)
    await communities.remove_closure(desk.session, desk.viewer.user, closure.id)
    return web.redirect(f"{_base(desk)}/closures?space={space_id}&month={first:%Y-%m}", request)
