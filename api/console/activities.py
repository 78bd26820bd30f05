"""Activities in the console (活动): the week's list and the month's calendar, creating, editing,
publishing and cancelling (with what it means shown first), the roster and the waitlist, and the
series with their sessions. Every change goes through the services the API calls."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import localtime
from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.schemas.activities import CATEGORY_LABELS, ActivityCreate, ActivityUpdate, SeriesCreate
from api.services import communities
from api.services.activities import browse, checkin, manage, planning
from api.services.activities.manage import CLEARABLE
from api.services.reports import projects
from api.services.reports.labels import SERVICE_TYPE_LABELS

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

PAGE_SIZE = 20
ROSTER_PAGE = 30
PageNumber = Annotated[int, Query(ge=1, le=10_000)]

# the form's fields as staff read them (messages name these, never the API's field names)
LABELS = {
    "title": "标题",
    "category": "类别",
    "description": "介绍",
    "space_id": "活动空间",
    "location": "地点",
    "start_at": "开始时间",
    "end_at": "结束时间",
    "capacity": "座位数",
    "max_seats_per_booking": "每次最多预约",
    "registration_opens_at": "报名开始",
    "registration_closes_at": "报名截止",
    "cancel_deadline": "取消截止",
    "checkin_opens_at": "签到开始",
    "checkin_closes_at": "签到结束",
    "child_min_age": "儿童最小年龄",
    "child_max_age": "儿童最大年龄",
    "series_id": "所属系列",
    "project_id": "服务项目",
    "service_type": "服务类型",
    "reason": "取消原因",
}
TEXTS = ("title", "category", "description", "location")
NUMBERS = ("capacity", "max_seats_per_booking", "child_min_age", "child_max_age", "space_id", "series_id", "project_id")
TIMES = (
    "start_at",
    "end_at",
    "registration_opens_at",
    "registration_closes_at",
    "cancel_deadline",
    "checkin_opens_at",
    "checkin_closes_at",
)
REQUIRED = ("title", "category", "start_at", "end_at", "capacity", "max_seats_per_booking")


def _zh(text: str) -> str:
    """A service's or model's message with the API's field names replaced by the form's labels."""
    return web.zh_fields(text, LABELS)


class ActivityForm(BaseModel):
    """The activity form as the browser sends it: text, bounded; read and checked by `_read`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=20)
    description: str = Field(default="", max_length=6000)
    space_id: str = Field(default="", max_length=20)
    location: str = Field(default="", max_length=300)
    start_at: str = Field(default="", max_length=40)
    end_at: str = Field(default="", max_length=40)
    capacity: str = Field(default="", max_length=20)
    max_seats_per_booking: str = Field(default="", max_length=20)
    registration_opens_at: str = Field(default="", max_length=40)
    registration_closes_at: str = Field(default="", max_length=40)
    cancel_deadline: str = Field(default="", max_length=40)
    checkin_opens_at: str = Field(default="", max_length=40)
    checkin_closes_at: str = Field(default="", max_length=40)
    child_min_age: str = Field(default="", max_length=20)
    child_max_age: str = Field(default="", max_length=20)
    series_id: str = Field(default="", max_length=20)
    project_id: str = Field(default="", max_length=20)
    service_type: str = Field(default="", max_length=20)


def _read(form: ActivityForm, tz: ZoneInfo) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the API's request takes them (empty: None; times in the community's
    zone), and the fields that could not be read."""
    values: dict[str, Any] = {name: getattr(form, name) for name in TEXTS}
    values["service_type"] = form.service_type or None
    errors: dict[str, str] = {}
    for name in NUMBERS:
        raw = getattr(form, name)
        values[name] = None
        if raw:
            if re.fullmatch(r"\d{1,19}", raw):
                values[name] = int(raw)
            else:
                errors[name] = "应为整数"
    for name in TIMES:
        raw = getattr(form, name)
        values[name] = None
        if raw:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                errors[name] = "请按“年-月-日 时:分”填写，如 2026-12-05 14:00"
                continue
            values[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    for name in REQUIRED:
        if not getattr(form, name) and name not in errors:
            errors[name] = "请选择" if name == "category" else "请填写"
    return values, errors


def _service_errors(exc: AppError) -> dict[str, str] | None:
    """A service's refusal that is about fields of the form, by field; None for any other."""
    details = exc.details
    if exc.code == "activity_times_invalid" and isinstance(details, list):
        found: dict[str, str] = {}
        for problem in details:
            field = problem["field"]
            found[field] = "；".join(filter(None, [found.get(field), _zh(problem["message"])]))
        return found
    if exc.code == "activity_place_missing":
        return {"location": "请选择活动空间或填写地点", "space_id": "请选择活动空间或填写地点"}
    if exc.code == "activity_ages_invalid":
        return {"child_min_age": _zh(exc.message)}
    if exc.code == "capacity_below_taken":
        return {"capacity": exc.message}
    if exc.code in ("space_not_found", "series_not_found"):
        return {exc.code.replace("_not_found", "_id"): exc.message}
    if exc.code == "project_not_covering":
        return {"project_id": exc.message}
    if exc.code == "validation_error" and isinstance(details, list):
        return {str(d.get("field")): _zh(str(d.get("message"))) for d in details}
    return None


def _input(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _as_form(fields: dict[str, Any]) -> dict[str, str]:
    """An activity's (or a template's) fields as the form's text."""
    shown: dict[str, str] = {}
    for name in ActivityForm.model_fields:
        value = fields.get(name)
        if name in TIMES:
            shown[name] = _input(value)
        else:
            shown[name] = "" if value is None else str(value)
    return shown


async def _form_context(desk: web.Desk, **context: Any) -> dict[str, Any]:
    """What the activity form needs besides its values: the community's spaces, series, categories,
    the service projects covering it and the service types."""
    spaces = await communities.list_spaces(desk.session, desk.community.id)
    series = await browse.list_series(desk.session, desk.viewer.user, desk.community.id)
    return {
        "spaces": [(s["id"], s["name"]) for s in spaces],
        "series": [(s.id, s.title) for s in series],
        "projects": await projects.covering(desk.session, desk.viewer.user, desk.community.id),
        "service_types": list(SERVICE_TYPE_LABELS.items()),
        "categories": list(CATEGORY_LABELS.items()),
        "labels": LABELS,
        "errors": {},
        **context,
    }


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}"


def _pages(total: int, page: int, size: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // size)), "total": total}


# -- the week and the month ------------------------------------------------------------------------


@router.get("/activities")
async def week_page(
    request: Request,
    desk: web.DeskDep,
    week: Annotated[date | None, Query(ge=date(2000, 1, 10), le=date(2100, 12, 20))] = None,
    page: PageNumber = 1,
) -> Response:
    """The activities of a week (this week unless `week` names a day of another), every status."""
    today = await planning.today(desk.session, desk.community.id)
    listing = await planning.week(
        desk.session, desk.viewer.user, desk.community.id, week or today, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    monday = listing["monday"]
    return web.render(
        request,
        "activities/week.html",
        {
            "listing": listing,
            "pager": _pages(listing["total"], page, PAGE_SIZE),
            "prev_week": monday - timedelta(days=7),
            "next_week": monday + timedelta(days=7),
            "this_week": monday == planning.monday_of(today),
            "tab": "week",
        },
        desk=desk,
        nav="activities",
    )


@router.get("/activities/calendar")
async def month_page(
    request: Request,
    desk: web.DeskDep,
    month: Annotated[str | None, Query(pattern=r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")] = None,
) -> Response:
    """A month's calendar (this month unless `month` is given as 2026-12)."""
    if month:
        year, number = int(month[:4]), int(month[5:])
    else:
        today = await planning.today(desk.session, desk.community.id)
        year, number = today.year, today.month
    calendar = await planning.month(desk.session, desk.viewer.user, desk.community.id, year, number)
    prev_year, prev_month = (year, number - 1) if number > 1 else (year - 1, 12)
    next_year, next_month = (year, number + 1) if number < 12 else (year + 1, 1)
    return web.render(
        request,
        "activities/month.html",
        {
            "calendar": calendar,
            "prev": f"{prev_year}-{prev_month:02d}" if prev_year >= 2000 else None,
            "next": f"{next_year}-{next_month:02d}" if next_year <= 2100 else None,
            "weekdays": web.WEEKDAYS,
            "tab": "month",
        },
        desk=desk,
        nav="activities",
    )


# -- creating and editing ------------------------------------------------------------------------


@router.get("/activities/new")
async def new_page(
    request: Request,
    desk: web.DeskDep,
    series_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The form for a new activity; for a series, prefilled as its next session."""
    if series_id is not None:
        fields = await planning.next_session(desk.session, desk.viewer.user, desk.community.id, series_id)
    else:
        fields = {"capacity": 20, "max_seats_per_booking": 3}
    context = await _form_context(
        desk, values=_as_form(fields), action=f"{_base(desk)}/activities", editing=False, from_series=series_id
    )
    return web.render(request, "activities/form.html", context, desk=desk, nav="activities")


def _form_refused(request: Request, desk: web.Desk, context: dict[str, Any], errors: dict[str, str]) -> Response:
    context["errors"] = errors
    return web.render(request, "activities/_form.html", context, status_code=422, desk=desk)


async def _saved(
    request: Request, desk: web.Desk, context: dict[str, Any], write: Callable[[], Awaitable[str]]
) -> Response:
    """Run the service's `write` and go where it says; a refusal leaves nothing half-written, and
    one about fields of the form comes back beside them (any other goes up)."""
    try:
        async with desk.session.begin_nested():
            url = await write()
    except AppError as exc:
        found = _service_errors(exc)
        if found is None:
            raise
        return _form_refused(request, desk, context, found)
    return web.redirect(url, request)


@router.post("/activities", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep, form: Annotated[ActivityForm, Form()]) -> Response:
    """A new draft, through the API's request model and `manage.create_activity`; what they refuse
    comes back beside the fields it is about."""
    tz = ZoneInfo(desk.community.timezone)
    context = await _form_context(
        desk, values=form.model_dump(), action=f"{_base(desk)}/activities", editing=False, from_series=None
    )
    values, errors = _read(form, tz)
    if errors:
        return _form_refused(request, desk, context, errors)
    try:
        body = ActivityCreate.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        return _form_refused(request, desk, context, web.model_errors(exc, LABELS))

    async def write() -> str:
        activity = await manage.create_activity(desk.session, desk.viewer.user, desk.community.id, body.model_dump())
        return f"{_base(desk)}/activities/{activity.id}"

    return await _saved(request, desk, context, write)


async def _editing(
    desk: web.Desk, activity_id: int, shown: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The activity (of this community, for its staff) as the form shows it, and the edit form's
    context showing `shown` (by default the activity as it is)."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    current = _as_form({**detail, "series_id": detail["series"]["id"] if detail["series"] else None})
    context = await _form_context(
        desk,
        values=current if shown is None else shown,
        action=f"{_base(desk)}/activities/{activity_id}/edit",
        editing=True,
        activity=detail,
        from_series=None,
    )
    return current, context


@router.get("/activities/{activity_id}/edit")
async def edit_page(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    _, context = await _editing(desk, activity_id)
    return web.render(request, "activities/form.html", context, desk=desk, nav="activities")


@router.post("/activities/{activity_id}/edit", dependencies=[web.CsrfChecked])
async def edit(
    activity_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ActivityForm, Form()]
) -> Response:
    """Only what changed is sent to `manage.update_activity`, so that a new start moves the
    windows left as they were (its rule), and an unchanged capacity is not re-checked."""
    current, context = await _editing(desk, activity_id, form.model_dump())
    values, errors = _read(form, ZoneInfo(desk.community.timezone))
    if errors:
        return _form_refused(request, desk, context, errors)
    changed = {
        name: values[name]
        for name, shown in form.model_dump().items()
        if shown != current[name] and (values[name] is not None or name in CLEARABLE or name in TEXTS)
    }
    if not changed:
        return web.redirect(f"{_base(desk)}/activities/{activity_id}", request)
    try:
        body = ActivityUpdate.model_validate(changed)
    except ValidationError as exc:
        return _form_refused(request, desk, context, web.model_errors(exc, LABELS))

    async def write() -> str:
        await manage.update_activity(desk.session, desk.viewer.user, activity_id, body.model_dump(exclude_unset=True))
        return f"{_base(desk)}/activities/{activity_id}"

    return await _saved(request, desk, context, write)


# -- one activity ----------------------------------------------------------------------------------


@router.get("/activities/{activity_id}")
async def activity_page(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    roster = await checkin.attendance(desk.session, desk.viewer.user, activity_id)
    return web.render(
        request,
        "activities/detail.html",
        {
            "a": detail,
            "roster": roster,
            "labels": dict(CATEGORY_LABELS),
            "project_names": dict(await projects.covering(desk.session, desk.viewer.user, desk.community.id)),
            "service_types": SERVICE_TYPE_LABELS,
            "week": detail["start_at"].astimezone(localtime.response_zone()).date().isoformat(),
        },
        desk=desk,
        nav="activities",
    )


@router.post("/activities/{activity_id}/publish", dependencies=[web.CsrfChecked])
async def publish(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    await manage.publish(desk.session, desk.viewer.user, activity_id)
    return web.redirect(f"{_base(desk)}/activities/{activity_id}", request)


@router.get("/activities/{activity_id}/cancel")
async def cancel_page(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Before cancelling: who would be told, and what would go."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    preview = await manage.cancel_preview(desk.session, desk.viewer.user, activity_id)
    return web.render(request, "activities/cancel.html", {"a": detail, "preview": preview}, desk=desk, nav="activities")


@router.post("/activities/{activity_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel(
    activity_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    await manage.cancel_activity(desk.session, desk.viewer.user, activity_id, reason.strip())
    return web.redirect(f"{_base(desk)}/activities/{activity_id}", request)


@router.get("/activities/{activity_id}/roster")
async def roster_page(
    activity_id: IdPath, request: Request, desk: web.DeskDep, page: PageNumber = 1, wpage: PageNumber = 1
) -> Response:
    """The roster (confirmed bookings and who came) and the waitlist in its order, each paged."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    roster = await checkin.attendance(desk.session, desk.viewer.user, activity_id)
    booked, waiting = roster["bookings"], roster["waitlist"]
    return web.render(
        request,
        "activities/roster.html",
        {
            "a": detail,
            "roster": roster,
            "booked": booked[(page - 1) * ROSTER_PAGE : page * ROSTER_PAGE],
            "waiting": waiting[(wpage - 1) * ROSTER_PAGE : wpage * ROSTER_PAGE],
            "pager": _pages(len(booked), page, ROSTER_PAGE),
            "wpager": _pages(len(waiting), wpage, ROSTER_PAGE),
        },
        desk=desk,
        nav="activities",
    )


# -- series --------------------------------------------------------------------------------------


@router.get("/series")
async def series_page(request: Request, desk: web.DeskDep, page: PageNumber = 1) -> Response:
    listing = await planning.series_overview(
        desk.session, desk.viewer.user, desk.community.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return web.render(
        request,
        "activities/series.html",
        {
            "listing": listing,
            "pager": _pages(listing["total"], page, PAGE_SIZE),
            "categories": list(CATEGORY_LABELS.items()),
            "values": {"title": "", "description": "", "category": "other"},
            "errors": {},
            "tab": "series",
        },
        desk=desk,
        nav="activities",
    )


@router.post("/series", dependencies=[web.CsrfChecked])
async def create_series(
    request: Request,
    desk: web.DeskDep,
    title: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    category: Annotated[str, Form(max_length=20)] = "other",
) -> Response:
    values = {"title": title.strip(), "description": description.strip(), "category": category}
    try:
        body = SeriesCreate.model_validate(values)
    except ValidationError as exc:
        context = {
            "values": values,
            "errors": web.model_errors(exc, LABELS),
            "categories": list(CATEGORY_LABELS.items()),
        }
        return web.render(request, "activities/_series_form.html", context, status_code=422, desk=desk)
    series = await manage.create_series(desk.session, desk.viewer.user, desk.community.id, body.model_dump())
    return web.redirect(f"{_base(desk)}/series/{series.id}", request)


@router.get("/series/{series_id}")
async def series_detail_page(series_id: IdPath, request: Request, desk: web.DeskDep, page: PageNumber = 1) -> Response:
    listing = await planning.series_sessions(
        desk.session,
        desk.viewer.user,
        desk.community.id,
        series_id,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return web.render(
        request,
        "activities/series_detail.html",
        {"listing": listing, "pager": _pages(listing["total"], page, PAGE_SIZE), "tab": "series"},
        desk=desk,
        nav="activities",
    )
