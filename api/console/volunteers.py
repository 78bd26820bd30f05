"""Volunteers in the console (志愿服务), teams and shifts: the teams with their leaders and members,
a team's page (requests waiting approved or turned down, leaders appointed or stepped down); the
shifts of a week with slots filled and who signed up and came, creating, changing and cancelling a
shift; the standing weekly duties (created, changed, stopped); and a shift's on-duty screen with
the rotating on-site code and staff confirming check-in and check-out for someone without a phone.

Every read and change goes through `services.volunteers` (teams, shifts, and rota for what only
the console needs). Service records and the volunteer policy are other pages."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import localtime
from api.console import web
from api.console.desk import qr_svg
from api.deps import IdPath
from api.errors import AppError
from api.schemas.communities import WEEKDAYS
from api.schemas.volunteers import RuleCreate, RuleEnd, ShiftCancel, ShiftCreate, TeamCreate
from api.services.activities import planning
from api.services.volunteers import rota, shifts, signups, teams

T = TypeVar("T")

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

# the on-site code changes every minute; the screen asks for it this often, and for who came
ONSITE_POLL_SECONDS = 10
PEOPLE_POLL_SECONDS = 15
WeekDay = Annotated[date | None, Query(ge=date(2000, 1, 10), le=date(2100, 12, 20))]

# the forms' fields as staff read them (messages name these, never the API's field names)
LABELS = {
    "name": "团队名称",
    "description": "介绍",
    "leader_id": "队长",
    "leader_ids": "队长",
    "role": "岗位",
    "place": "地点",
    "start_at": "开始时间",
    "end_at": "结束时间",
    "needed": "需要人数",
    "team_id": "团队",
    "weekdays": "星期",
    "starts": "开始钟点",
    "ends": "结束钟点",
    "active_from": "开始日期",
    "active_until": "结束日期",
    "last_day": "最后一天",
    "reason": "取消原因",
}
NUMBER = re.compile(r"^\d{1,18}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _zh(text: str) -> str:
    return web.zh_fields(text, LABELS)


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/volunteers"


def _number(raw: str, name: str, errors: dict[str, str], *, required: bool = True) -> int | None:
    if not raw:
        if required:
            errors[name] = "请填写"
        return None
    if not NUMBER.match(raw):
        errors[name] = "应为整数"
        return None
    return int(raw)


def _when(raw: str, name: str, tz: ZoneInfo, errors: dict[str, str]) -> datetime | None:
    """A datetime-local input's text in the community's zone."""
    if not raw:
        errors[name] = "请填写"
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = "请按“年-月-日 时:分”填写，如 2026-12-05 14:00"
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _day(raw: str, name: str, errors: dict[str, str], *, required: bool = True) -> date | None:
    if not raw:
        if required:
            errors[name] = "请填写"
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "请按“年-月-日”填写，如 2026-12-05"
        return None


def _input(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


async def _submit(
    desk: web.Desk,
    model: type[BaseModel],
    raw: dict[str, Any],
    errors: dict[str, str],
    call: Callable[[dict[str, Any]], Awaitable[T]],
) -> tuple[T | None, dict[str, str]]:
    """A form's values checked by the API's request model, then `call`ed with them in a savepoint:
    (what the service returned, {}), or (None, the refusals by field) for the form to come back
    with. A service's refusal that is about no field of the form is raised (the flash line)."""
    if errors:
        return None, errors
    try:
        body = model.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        return None, web.model_errors(exc, LABELS)
    try:
        async with desk.session.begin_nested():
            return await call(body.model_dump()), {}
    except AppError as exc:
        found = _service_errors(exc)
        if found is None:
            raise
        return None, found


def _service_errors(exc: AppError) -> dict[str, str] | None:
    """A service's refusal that is about a field of the form, by field; None for any other."""
    fields = {
        "team_exists": "name",
        "leader_not_resident": "leader_id",
        "shift_in_past": "start_at",
        "withdraw_deadline_invalid": "start_at",
        "team_not_found": "team_id",
        "needed_below_taken": "needed",
        "shift_times_fixed": "start_at",
        "last_day_invalid": "last_day",
    }
    if exc.code in fields:
        return {fields[exc.code]: _zh(exc.message)}
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): _zh(str(d.get("message"))) for d in exc.details}
    return None


async def _team_choices(desk: web.Desk) -> list[tuple[int, str]]:
    return [(t["id"], t["name"]) for t in await rota.teams_overview(desk.session, desk.viewer.user, desk.community.id)]


# -- teams ---------------------------------------------------------------------------------------


class TeamForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    leader_id: str = Field(default="", max_length=20)


async def _teams_context(desk: web.Desk, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "residents": await rota.residents(desk.session, desk.viewer.user, desk.community.id),
        "action": f"{_base(desk)}/teams",
    }


@router.get("/volunteers")
async def teams_page(request: Request, desk: web.DeskDep) -> Response:
    """The community's teams: leaders, members, requests waiting; and a new team."""
    context = await _teams_context(desk, {"name": "", "description": "", "leader_id": ""}, {})
    context["teams"] = await rota.teams_overview(desk.session, desk.viewer.user, desk.community.id)
    context["tab"] = "teams"
    return web.render(request, "volunteers/teams.html", context, desk=desk, nav="volunteers")


@router.post("/volunteers/teams", dependencies=[web.CsrfChecked])
async def create_team(request: Request, desk: web.DeskDep, form: Annotated[TeamForm, Form()]) -> Response:
    """A new team through `teams.create_team`, with its first leader (more are named on its page)."""
    values = form.model_dump()
    errors: dict[str, str] = {}
    leader = _number(form.leader_id, "leader_id", errors, required=False)
    raw = {"name": form.name, "description": form.description, "leader_ids": [leader] if leader else []}
    team, errors = await _submit(
        desk,
        TeamCreate,
        raw,
        errors,
        lambda data: teams.create_team(desk.session, desk.viewer.user, desk.community.id, data),
    )
    if team is not None:
        return web.redirect(f"{_base(desk)}/teams/{team.id}", request)
    context = await _teams_context(desk, values, errors)
    return web.render(request, "volunteers/_team_form.html", context, status_code=422, desk=desk)


async def _team_context(desk: web.Desk, team_id: int) -> dict[str, Any]:
    team = await rota.team_page(desk.session, desk.viewer.user, desk.community.id, team_id)
    return {"team": team, "here": f"{_base(desk)}/teams/{team_id}"}


@router.get("/volunteers/teams/{team_id}")
async def team_page(team_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A team: its leaders, members and the requests waiting."""
    context = await _team_context(desk, team_id)
    context["tab"] = "teams"
    return web.render(request, "volunteers/team.html", context, desk=desk, nav="volunteers")


class DecisionForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: str = Field(default="", max_length=10)


@router.post("/volunteers/teams/{team_id}/requests/{user_id}", dependencies=[web.CsrfChecked])
async def review_request(
    team_id: IdPath, user_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[DecisionForm, Form()]
) -> Response:
    """Let a request in or turn it down (`teams.review`: the applicant is told either way)."""
    await rota.community_team(desk.session, desk.viewer.user, desk.community.id, team_id)
    if form.decision not in ("approve", "reject"):
        raise AppError("validation_error", "请选择通过或拒绝", status=422)
    await teams.review(desk.session, desk.viewer.user, team_id, user_id, form.decision == "approve")
    context = await _team_context(desk, team_id)
    return web.render(request, "volunteers/_team_people.html", context, desk=desk)


class RoleForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(default="", max_length=10)


@router.post("/volunteers/teams/{team_id}/members/{user_id}/role", dependencies=[web.CsrfChecked])
async def set_role(
    team_id: IdPath, user_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[RoleForm, Form()]
) -> Response:
    """Appoint a member as leader, or a leader steps down to member (`teams.set_role`)."""
    await rota.community_team(desk.session, desk.viewer.user, desk.community.id, team_id)
    if form.role not in ("leader", "member"):
        raise AppError("validation_error", "请选择队长或队员", status=422)
    await teams.set_role(desk.session, desk.viewer.user, team_id, user_id, form.role)
    context = await _team_context(desk, team_id)
    return web.render(request, "volunteers/_team_people.html", context, desk=desk)


# -- the week's shifts ---------------------------------------------------------------------------


@router.get("/volunteers/shifts")
async def week_page(request: Request, desk: web.DeskDep, week: WeekDay = None) -> Response:
    """The shifts of a week (this week unless `week` names a day of another), by day."""
    today = await planning.today(desk.session, desk.community.id)
    listing = await rota.week(desk.session, desk.viewer.user, desk.community.id, week or today)
    monday = listing["monday"]
    context = {
        "listing": listing,
        "prev_week": date.fromordinal(monday.toordinal() - 7),
        "next_week": date.fromordinal(monday.toordinal() + 7),
        "this_week": monday == planning.monday_of(today),
        "today": today,
        "tab": "shifts",
    }
    return web.render(request, "volunteers/week.html", context, desk=desk, nav="volunteers")


class ShiftForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: str = Field(default="", max_length=200)
    place: str = Field(default="", max_length=400)
    start_at: str = Field(default="", max_length=40)
    end_at: str = Field(default="", max_length=40)
    needed: str = Field(default="", max_length=20)
    team_id: str = Field(default="", max_length=20)


def _read_shift(form: ShiftForm, tz: ZoneInfo) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "role": form.role,
        "place": form.place,
        "start_at": _when(form.start_at, "start_at", tz, errors),
        "end_at": _when(form.end_at, "end_at", tz, errors),
        "needed": _number(form.needed, "needed", errors),
        "team_id": _number(form.team_id, "team_id", errors, required=False),
    }
    if not form.role:
        errors["role"] = "请填写"
    return values, errors


async def _shift_form_context(
    desk: web.Desk, values: dict[str, str], errors: dict[str, str], action: str, shift: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "teams": await _team_choices(desk),
        "action": action,
        "shift": shift,
    }


@router.get("/volunteers/shifts/new")
async def new_shift_page(request: Request, desk: web.DeskDep, day: WeekDay = None) -> Response:
    """The form for a new shift (on `day` at 14:00–18:00 when a day is given)."""
    values = {"role": "", "place": "", "start_at": "", "end_at": "", "needed": "2", "team_id": ""}
    if day is not None:
        values["start_at"] = datetime.combine(day, time(14, 0)).strftime("%Y-%m-%dT%H:%M")
        values["end_at"] = datetime.combine(day, time(18, 0)).strftime("%Y-%m-%dT%H:%M")
    context = await _shift_form_context(desk, values, {}, f"{_base(desk)}/shifts", None)
    context.update(tab="shifts", week=day)
    return web.render(request, "volunteers/shift_new.html", context, desk=desk, nav="volunteers")


@router.post("/volunteers/shifts", dependencies=[web.CsrfChecked])
async def create_shift(request: Request, desk: web.DeskDep, form: Annotated[ShiftForm, Form()]) -> Response:
    """A new shift through the API's request model and `shifts.create_shift`."""
    tz = ZoneInfo(desk.community.timezone)
    values, errors = _read_shift(form, tz)
    shift, errors = await _submit(
        desk,
        ShiftCreate,
        values,
        errors,
        lambda data: shifts.create_shift(desk.session, desk.viewer.user, desk.community.id, data),
    )
    if shift is not None:
        day = shift.start_at.astimezone(tz).date()
        return web.redirect(f"{_base(desk)}/shifts?week={day.isoformat()}#shift-{shift.id}", request)
    context = await _shift_form_context(desk, form.model_dump(), errors, f"{_base(desk)}/shifts", None)
    return web.render(request, "volunteers/_shift_form.html", context, status_code=422, desk=desk)


def _shift_values(shift: dict[str, Any]) -> dict[str, str]:
    return {
        "role": shift["role"],
        "place": shift["place"],
        "start_at": _input(shift["start_at"]),
        "end_at": _input(shift["end_at"]),
        "needed": str(shift["needed"]),
        "team_id": str(shift["team_id"] or ""),
    }


@router.get("/volunteers/shifts/{shift_id}")
async def shift_page(
    shift_id: IdPath, request: Request, desk: web.DeskDep, told: Annotated[int | None, Query(ge=0, le=500)] = None
) -> Response:
    """A shift: who signed up and came; change it, cancel it, open its on-duty screen."""
    shift = await rota.shift_page(desk.session, desk.viewer.user, desk.community.id, shift_id)
    action = f"{_base(desk)}/shifts/{shift_id}/edit"
    context = await _shift_form_context(desk, _shift_values(shift), {}, action, shift)
    context.update(tab="shifts", told=told, cancel_values={"reason": ""}, cancel_errors={})
    return web.render(request, "volunteers/shift.html", context, desk=desk, nav="volunteers")


@router.post("/volunteers/shifts/{shift_id}/edit", dependencies=[web.CsrfChecked])
async def edit_shift(
    shift_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ShiftForm, Form()]
) -> Response:
    """Change a shift (`rota.edit_shift`): its team stays; times only while nobody signed up."""
    shift = await rota.shift_page(desk.session, desk.viewer.user, desk.community.id, shift_id)
    tz = ZoneInfo(desk.community.timezone)
    action = f"{_base(desk)}/shifts/{shift_id}/edit"
    values, errors = _read_shift(form, tz)
    values["team_id"] = shift["team_id"]
    changeable = ("role", "place", "start_at", "end_at", "needed")
    edited, errors = await _submit(
        desk,
        ShiftCreate,
        values,
        errors,
        lambda data: rota.edit_shift(
            desk.session, desk.viewer.user, desk.community.id, shift_id, {k: data[k] for k in changeable}
        ),
    )
    if edited is not None:
        return web.redirect(f"{_base(desk)}/shifts/{shift_id}", request)
    shown = {**form.model_dump(), "team_id": str(shift["team_id"] or "")}
    context = await _shift_form_context(desk, shown, errors, action, shift)
    return web.render(request, "volunteers/_shift_form.html", context, status_code=422, desk=desk)


class CancelForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="", max_length=400)


@router.post("/volunteers/shifts/{shift_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel_shift(
    shift_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[CancelForm, Form()]
) -> Response:
    """Call the shift off (`shifts.cancel_shift`): whoever signed up is told, with the reason."""
    before = await rota.shift_page(desk.session, desk.viewer.user, desk.community.id, shift_id)
    try:
        body = ShiftCancel.model_validate({"reason": form.reason})
    except ValidationError as exc:
        context = {"shift": before, "cancel_values": form.model_dump(), "cancel_errors": web.model_errors(exc, LABELS)}
        return web.render(request, "volunteers/_shift_cancel.html", context, status_code=422, desk=desk)
    await shifts.cancel_shift(desk.session, desk.viewer.user, shift_id, body.reason)
    told = sum(1 for p in before["people"] if p["status"] == "active") if before["state"] == "upcoming" else 0
    return web.redirect(f"{_base(desk)}/shifts/{shift_id}?told={told}", request)


# -- the on-duty screen --------------------------------------------------------------------------


async def _code(desk: web.Desk, shift_id: int) -> dict[str, Any]:
    """The on-site code's fragment: this minute's code as a QR code, or why there is none."""
    context: dict[str, Any] = {"poll": ONSITE_POLL_SECONDS, "here": f"{_base(desk)}/shifts/{shift_id}/duty"}
    try:
        code = await rota.duty_code(desk.session, desk.viewer.user, desk.community.id, shift_id)
    except AppError as exc:
        if exc.status == 404:
            raise
        context["unavailable"] = exc.message
        return context
    context["code"] = code
    context["qr"] = qr_svg(code["qr_text"], "值班签到二维码")
    return context


async def _people_context(desk: web.Desk, shift_id: int) -> dict[str, Any]:
    shift = await rota.shift_page(desk.session, desk.viewer.user, desk.community.id, shift_id)
    return {
        "shift": shift,
        "here": f"{_base(desk)}/shifts/{shift_id}/duty",
        "action": f"{_base(desk)}/shifts/{shift_id}",
        "poll": PEOPLE_POLL_SECONDS,
    }


@router.get("/volunteers/shifts/{shift_id}/duty")
async def duty_page(shift_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The screen at the door: the shift's code of this minute (it asks for the next itself), who
    has checked in, and staff confirming a check-in or check-out by hand."""
    context = await _people_context(desk, shift_id)
    context["onsite"] = await _code(desk, shift_id)
    return web.render(request, "volunteers/duty.html", context, desk=desk, nav="volunteers")


@router.get("/volunteers/shifts/{shift_id}/duty/code")
async def duty_code(shift_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    return web.render(request, "volunteers/_duty_code.html", {"onsite": await _code(desk, shift_id)})


@router.get("/volunteers/shifts/{shift_id}/duty/people")
async def duty_people(shift_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    return web.render(request, "volunteers/_duty_people.html", await _people_context(desk, shift_id), desk=desk)


class OnSiteForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: str = Field(default="", max_length=20)


async def _on_site(request: Request, desk: web.Desk, shift_id: int, form: OnSiteForm, leaving: bool) -> Response:
    await rota.community_shift(desk.session, desk.viewer.user, desk.community.id, shift_id)
    errors: dict[str, str] = {}
    volunteer = _number(form.volunteer_id, "volunteer_id", errors)
    if volunteer is None:
        raise AppError("validation_error", "请选择要确认的志愿者", status=422)
    confirm = signups.check_out if leaving else signups.check_in
    await confirm(desk.session, desk.viewer.user, shift_id, None, volunteer)
    return web.render(request, "volunteers/_duty_people.html", await _people_context(desk, shift_id), desk=desk)


@router.post("/volunteers/shifts/{shift_id}/checkin", dependencies=[web.CsrfChecked])
async def confirm_checkin(
    shift_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[OnSiteForm, Form()]
) -> Response:
    """Staff confirm a volunteer's check-in (`signups.check_in` for someone without a phone)."""
    return await _on_site(request, desk, shift_id, form, leaving=False)


@router.post("/volunteers/shifts/{shift_id}/checkout", dependencies=[web.CsrfChecked])
async def confirm_checkout(
    shift_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[OnSiteForm, Form()]
) -> Response:
    """Staff confirm a volunteer's check-out (`signups.check_out`): the service record waits for review."""
    return await _on_site(request, desk, shift_id, form, leaving=True)


# -- standing weekly duties ----------------------------------------------------------------------


class RuleForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: str = Field(default="", max_length=200)
    place: str = Field(default="", max_length=400)
    weekdays: list[str] = Field(default=[], max_length=7)
    starts: str = Field(default="", max_length=10)
    ends: str = Field(default="", max_length=10)
    needed: str = Field(default="", max_length=20)
    team_id: str = Field(default="", max_length=20)
    active_from: str = Field(default="", max_length=20)
    active_until: str = Field(default="", max_length=20)


class RuleChangeForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: str = Field(default="", max_length=200)
    place: str = Field(default="", max_length=400)
    needed: str = Field(default="", max_length=20)


class RuleEndForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_day: str = Field(default="", max_length=20)


def _blank_rule(today: date) -> dict[str, Any]:
    return {
        "role": "",
        "place": "",
        "weekdays": [],
        "starts": "14:00",
        "ends": "18:00",
        "needed": "2",
        "team_id": "",
        "active_from": today.isoformat(),
        "active_until": "",
    }


async def _rules_context(desk: web.Desk, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "teams": await _team_choices(desk),
        "weekdays": list(rota.WEEKDAY_LABELS.items()),
        "action": f"{_base(desk)}/rules",
    }


@router.get("/volunteers/rules")
async def rules_page(
    request: Request, desk: web.DeskDep, made: Annotated[int | None, Query(ge=0, le=1000)] = None
) -> Response:
    """The standing weekly duties: running ones first, each changed or stopped in place; a new one."""
    today = await planning.today(desk.session, desk.community.id)
    context = await _rules_context(desk, _blank_rule(today), {})
    context.update(
        rules=await rota.rules_overview(desk.session, desk.viewer.user, desk.community.id),
        today=today,
        made=made,
        tab="rules",
    )
    return web.render(request, "volunteers/rules.html", context, desk=desk, nav="volunteers")


@router.post("/volunteers/rules", dependencies=[web.CsrfChecked])
async def create_rule(request: Request, desk: web.DeskDep, form: Annotated[RuleForm, Form()]) -> Response:
    """A standing duty through the API's request model and `shifts.create_rule` (its shifts are made
    four weeks ahead)."""
    errors: dict[str, str] = {}
    raw: dict[str, Any] = {
        "role": form.role,
        "place": form.place,
        "weekdays": [d for d in WEEKDAYS if d in form.weekdays],
        "needed": _number(form.needed, "needed", errors),
        "team_id": _number(form.team_id, "team_id", errors, required=False),
        "active_from": _day(form.active_from, "active_from", errors),
        "active_until": _day(form.active_until, "active_until", errors, required=False),
    }
    for name in ("starts", "ends"):
        text = getattr(form, name)
        if not HHMM.match(text):
            errors[name] = "请按“时:分”填写，如 14:00"
        raw[name] = text
    if not form.weekdays:
        errors["weekdays"] = "请至少选一天"
    made, errors = await _submit(
        desk,
        RuleCreate,
        raw,
        errors,
        lambda data: shifts.create_rule(desk.session, desk.viewer.user, desk.community.id, data),
    )
    if made is not None:
        return web.redirect(f"{_base(desk)}/rules?made={made['shifts_made']}#rule-{made['id']}", request)
    context = await _rules_context(desk, form.model_dump(), errors)
    return web.render(request, "volunteers/_rule_form.html", context, status_code=422, desk=desk)


@router.post("/volunteers/rules/{rule_id}/edit", dependencies=[web.CsrfChecked])
async def change_rule(
    rule_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[RuleChangeForm, Form()]
) -> Response:
    """Rename a duty, move its place, change how many it needs (`rota.change_rule`)."""
    await rota.community_rule(desk.session, desk.viewer.user, desk.community.id, rule_id)
    errors: dict[str, str] = {}
    needed = _number(form.needed, "needed", errors)
    try:  # the same bounds as a new duty's
        RuleCreate.model_validate(
            {"role": form.role, "place": form.place, "needed": needed if needed is not None else 1,
             "weekdays": ["mon"], "starts": "09:00", "ends": "10:00", "active_from": "2026-01-01"}
        )  # fmt: skip
    except ValidationError as exc:
        for name, message in web.model_errors(exc, LABELS).items():
            errors.setdefault(name, message)
    if not errors and needed is not None:
        data = {"role": form.role, "place": form.place, "needed": needed}
        await rota.change_rule(desk.session, desk.viewer.user, desk.community.id, rule_id, data)
        return web.redirect(f"{_base(desk)}/rules#rule-{rule_id}", request)
    rule = {"id": rule_id}
    context = {"rule": rule, "values": form.model_dump(), "errors": errors, "action": f"{_base(desk)}/rules"}
    return web.render(request, "volunteers/_rule_change.html", context, status_code=422, desk=desk)


@router.post("/volunteers/rules/{rule_id}/end", dependencies=[web.CsrfChecked])
async def end_rule(
    rule_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[RuleEndForm, Form()]
) -> Response:
    """Stop a duty after its last day (`shifts.end_rule`: later shifts called off, people told)."""
    await rota.community_rule(desk.session, desk.viewer.user, desk.community.id, rule_id)
    errors: dict[str, str] = {}
    last_day = _day(form.last_day, "last_day", errors)
    ended, errors = await _submit(
        desk,
        RuleEnd,
        {"last_day": last_day},
        errors,
        lambda data: shifts.end_rule(desk.session, desk.viewer.user, rule_id, data["last_day"]),
    )
    if ended is not None:
        return web.redirect(f"{_base(desk)}/rules#rule-{rule_id}", request)
    context = {"rule": {"id": rule_id}, "values": form.model_dump(), "errors": errors, "action": f"{_base(desk)}/rules"}
    return web.render(request, "volunteers/_rule_end.html", context, status_code=422, desk=desk)
