"""Meetings in the console (议事): the community's meetings to come and past, creating one, and a
meeting's page — its state and the next step (publish the agenda, mark it held, publish the
minutes, cancel with a reason), participants by party, the agenda (from concerns and written by
staff), attendance (staff ticks, the count of people without the app, the on-site code's screen),
and once held its minutes and decisions. Follow-ups are in `follow_ups`.

Every change goes through the services the API calls (`services.governance`). The meeting's page is
in sections (participants, agenda, minutes, decisions) that a change re-renders in place, so that
text being written in another section is not lost; a change of state re-renders the whole meeting.
A refused form keeps what was typed and shows the refusal beside it (its `…-errors` slot); a refusal
about the meeting's state (409) goes to the page's #flash line as everywhere in the console."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import clock, localtime
from api.console import web
from api.console.desk import qr_svg
from api.deps import IdPath
from api.errors import AppError
from api.pagination import MAX_ID
from api.schemas.meetings import (
    AgendaItemCreate,
    AgendaItemUpdate,
    DecisionCreate,
    DecisionUpdate,
    MeetingCancel,
    MeetingCreate,
    MeetingUpdate,
    ParticipantCreate,
    WalkinCount,
)
from api.services.governance import common, meeting_agenda, meeting_attendance, meeting_minutes, meetings

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

PAST_PAGE = 20
UPCOMING_LIMIT = 100
# the on-site code changes every minute; the screen asks for it this often
ONSITE_POLL_SECONDS = 10

# each form's fields as staff read them (messages name these, never the API's field names)
MEETING_LABELS = {
    "kind": "类型",
    "title": "名称",
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "place": "地点",
    "summary": "总体纪要",
    "reason": "取消原因",
}
PARTICIPANT_LABELS = {"party": "哪一方", "name": "姓名", "role": "身份或职务", "user_id": "账号"}
ITEM_LABELS = {"title": "议题", "body": "说明", "minutes": "议题纪要", "item_ids": "议题顺序"}
ATTENDANCE_LABELS = {"count": "未用小程序的到场人数", "participant_id": "参会人"}
DECISION_LABELS = {
    "agenda_item_id": "针对的议题",
    "text": "决定内容",
    "method": "形成方式",
    "votes_for": "赞成票数",
    "votes_against": "反对票数",
    "votes_abstain": "弃权票数",
}
VOTES = ("votes_for", "votes_against", "votes_abstain")
DIGITS = re.compile(r"\d{1,19}")


# -- reading forms -----------------------------------------------------------------------------------


def _number(raw: str, name: str, errors: dict[str, str]) -> int | None:
    """A whole number typed into a form (empty: None); what is not one is noted in `errors`."""
    if not raw:
        return None
    if DIGITS.fullmatch(raw):
        return int(raw)
    errors[name] = "应为整数"
    return None


def _local_time(raw: str, name: str, tz: ZoneInfo, errors: dict[str, str]) -> datetime | None:
    """A datetime-local value (the community's time) as an aware datetime (empty: None)."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = "请按“年-月-日 时:分”填写，如 2026-12-05 14:00"
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _input_time(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def messages(errors: dict[str, str], labels: dict[str, str]) -> list[str]:
    """Refusals by field as lines staff read: `名称：请填写`."""
    return [
        f"{labels[name]}：{text}" if name in labels else web.zh_fields(text, labels) for name, text in errors.items()
    ]


def service_errors(exc: AppError, labels: dict[str, str]) -> dict[str, str]:
    """A service's 422 by field (its `invalid_field` details), or its message as a whole."""
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): web.zh_fields(str(d.get("message")), labels) for d in exc.details}
    return {"_": web.zh_fields(exc.message, labels)}


def refused(request: Request, form_id: str, lines: list[str]) -> Response:
    """A form's refusal, shown in its `<form id>-errors` slot; the form keeps what was typed."""
    response = web.render(request, "meetings/_errors.html", {"lines": lines}, status_code=422)
    response.headers.update({"HX-Retarget": f"#{form_id}-errors", "HX-Reswap": "innerHTML"})
    return response


async def attempt(
    request: Request,
    desk: web.Desk,
    form_id: str,
    labels: dict[str, str],
    call: Callable[[], Awaitable[Any]],
) -> Response | None:
    """Run a service's change in a savepoint: its refusal about the form's fields (422) comes back
    beside the form, with nothing of the attempt left; any other refusal goes up (to #flash)."""
    try:
        async with desk.session.begin_nested():
            await call()
    except AppError as exc:
        if exc.status != 422:
            raise
        return refused(request, form_id, messages(service_errors(exc, labels), labels))
    return None


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: dict[str, Any], labels: dict[str, str]) -> Model | dict[str, str]:
    """The API's request model over the form's values, or the refusals by field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        return web.model_errors(exc, labels)


# -- the meeting's page and its sections --------------------------------------------------------------


def meeting_url(desk: web.Desk, meeting_id: int) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/meetings/{meeting_id}"


async def meeting_context(desk: web.Desk, meeting_id: int) -> dict[str, Any]:
    """What the meeting's page and each of its sections show: the meeting as staff see it, and the
    choices its forms offer."""
    m = await meetings.meeting_detail(desk.session, desk.viewer.user, meeting_id)
    return {
        "m": m,
        "here": meeting_url(desk, meeting_id),
        "parties": common.PARTY_LABELS,
        "methods": common.DECISION_METHOD_LABELS,
        "kinds": common.MEETING_KIND_LABELS,
        "edit": {
            "title": m["title"],
            "starts_at": _input_time(m["starts_at"]),
            "ends_at": _input_time(m["ends_at"]),
            "place": m["place"],
        },
    }


async def section(request: Request, desk: web.Desk, meeting_id: int, name: str, **extra: Any) -> Response:
    """One section of the meeting's page (`meeting` is all of it), as it is now; `extra` tells it
    what was just done (`adding`: its form stays open for the next one)."""
    context = {**await meeting_context(desk, meeting_id), **extra}
    return web.render(request, f"meetings/_{name}.html", context, desk=desk)


async def _community_meeting(desk: web.Desk, meeting_id: int) -> None:
    await meetings.community_meeting(desk.session, desk.viewer.user, desk.community.id, meeting_id)


# -- the list and a new meeting -------------------------------------------------------------------------


class MeetingForm(BaseModel):
    """The new meeting's form as the browser sends it: text, bounded; checked by `MeetingCreate`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(default="", max_length=20)
    title: str = Field(default="", max_length=200)
    starts_at: str = Field(default="", max_length=40)
    ends_at: str = Field(default="", max_length=40)
    place: str = Field(default="", max_length=200)


def _blank() -> dict[str, str]:
    return {"kind": "five_party", "title": "", "starts_at": "", "ends_at": "", "place": ""}


def _create_context(desk: web.Desk, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "labels": MEETING_LABELS,
        "kinds": common.MEETING_KIND_LABELS,
        "action": f"{web.PREFIX}/c/{desk.community.id}/meetings",
    }


@router.get("/meetings")
async def meetings_page(
    request: Request, desk: web.DeskDep, past: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    """The meetings to come (drafts too), soonest first, and the past ones, latest first, a page at a
    time (`past` is the cursor of the next page); the form for a new one."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    upcoming = await meetings.list_meetings(session, user, cid, when="upcoming", limit=UPCOMING_LIMIT)
    earlier = await meetings.list_meetings(session, user, cid, when="past", cursor=past, limit=PAST_PAGE)
    context = {
        "upcoming": upcoming["items"],
        "more_upcoming": upcoming["next_cursor"] is not None,
        "past": earlier["items"],
        "past_next": earlier["next_cursor"],
        "paged": past is not None,
        **_create_context(desk, _blank(), {}),
    }
    return web.render(request, "meetings/list.html", context, desk=desk, nav="meetings")


@router.post("/meetings", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep, form: Annotated[MeetingForm, Form()]) -> Response:
    """A new draft (`meetings.create_meeting`; a five-party meeting to come takes up the level-3
    concerns waiting for one); what is refused comes back beside its field."""
    values = form.model_dump()
    tz = ZoneInfo(desk.community.timezone)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "kind": form.kind,
        "title": form.title,
        "place": form.place,
        "starts_at": _local_time(form.starts_at, "starts_at", tz, errors),
        "ends_at": _local_time(form.ends_at, "ends_at", tz, errors),
    }
    for name in ("starts_at", "ends_at"):
        if not getattr(form, name):
            errors.setdefault(name, "请填写")
    body = errors or validated(MeetingCreate, data, MEETING_LABELS)
    if isinstance(body, dict):
        context = _create_context(desk, values, body)
        return web.render(request, "meetings/_create_form.html", context, status_code=422, desk=desk)
    made: dict[str, Any] = {}
    try:
        async with desk.session.begin_nested():
            made = await meetings.create_meeting(desk.session, desk.viewer.user, desk.community.id, body.model_dump())
    except AppError as exc:
        if exc.status != 422:
            raise
        context = _create_context(desk, values, service_errors(exc, MEETING_LABELS))
        return web.render(request, "meetings/_create_form.html", context, status_code=422, desk=desk)
    return web.redirect(meeting_url(desk, made["id"]), request)


# -- one meeting --------------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}")
async def meeting_page(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_meeting(desk, meeting_id)
    context = await meeting_context(desk, meeting_id)
    return web.render(request, "meetings/detail.html", context, desk=desk, nav="meetings")


class DetailsForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=200)
    starts_at: str = Field(default="", max_length=40)
    ends_at: str = Field(default="", max_length=40)
    place: str = Field(default="", max_length=200)


@router.post("/meetings/{meeting_id}/edit", dependencies=[web.CsrfChecked])
async def edit(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[DetailsForm, Form()]
) -> Response:
    """The name, time and place, before the meeting is held (`meetings.update_meeting`: participants
    told of the meeting hear of a new time or place)."""
    await _community_meeting(desk, meeting_id)
    tz = ZoneInfo(desk.community.timezone)
    errors: dict[str, str] = {}
    data = {
        "title": form.title,
        "place": form.place,
        "starts_at": _local_time(form.starts_at, "starts_at", tz, errors),
        "ends_at": _local_time(form.ends_at, "ends_at", tz, errors),
    }
    for name in ("title", "starts_at", "ends_at", "place"):
        if not getattr(form, name):
            errors.setdefault(name, "请填写")
    body = errors or validated(MeetingUpdate, data, MEETING_LABELS)
    if isinstance(body, dict):
        return refused(request, "details-form", messages(body, MEETING_LABELS))
    fields = body.model_dump(exclude_unset=True)
    call = partial(meetings.update_meeting, desk.session, desk.viewer.user, meeting_id, fields)
    return await attempt(request, desk, "details-form", MEETING_LABELS, call) or await section(
        request, desk, meeting_id, "meeting"
    )


@router.post("/meetings/{meeting_id}/publish-agenda", dependencies=[web.CsrfChecked])
async def publish_agenda(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_meeting(desk, meeting_id)
    await meetings.publish_agenda(desk.session, desk.viewer.user, meeting_id)
    return await section(request, desk, meeting_id, "meeting")


@router.post("/meetings/{meeting_id}/hold", dependencies=[web.CsrfChecked])
async def hold(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_meeting(desk, meeting_id)
    await meetings.hold(desk.session, desk.viewer.user, meeting_id)
    return await section(request, desk, meeting_id, "meeting")


@router.post("/meetings/{meeting_id}/publish-minutes", dependencies=[web.CsrfChecked])
async def publish_minutes(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The minutes, decisions and follow-ups go public; the concerns they came from hear of them
    (`meeting_minutes.publish_minutes`, all in this request's transaction)."""
    await _community_meeting(desk, meeting_id)
    await meeting_minutes.publish_minutes(desk.session, desk.viewer.user, meeting_id)
    return await section(request, desk, meeting_id, "meeting")


@router.post("/meetings/{meeting_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, reason: Annotated[str, Form(max_length=400)] = ""
) -> Response:
    await _community_meeting(desk, meeting_id)
    body = validated(MeetingCancel, {"reason": reason}, MEETING_LABELS)
    if isinstance(body, dict):
        return refused(request, "cancel-form", messages(body, MEETING_LABELS))
    await meetings.cancel(desk.session, desk.viewer.user, meeting_id, body.reason)
    return await section(request, desk, meeting_id, "meeting")


# -- participants and attendance ------------------------------------------------------------------------


class ParticipantForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    party: str = Field(default="", max_length=20)
    name: str = Field(default="", max_length=100)
    role: str = Field(default="", max_length=100)
    user_id: str = Field(default="", max_length=20)
    q: str = Field(default="", max_length=32)  # the account search's own input


@router.post("/meetings/{meeting_id}/participants", dependencies=[web.CsrfChecked])
async def add_participant(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ParticipantForm, Form()]
) -> Response:
    """Someone of a party, by name and role, optionally with their account of the community
    (`meeting_agenda.add_participant`: one told of the published agenda at once)."""
    await _community_meeting(desk, meeting_id)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"party": form.party, "name": form.name, "role": form.role}
    user_id = _number(form.user_id, "user_id", errors)
    if user_id is not None:
        data["user_id"] = user_id
    body = errors or validated(ParticipantCreate, data, PARTICIPANT_LABELS)
    if isinstance(body, dict):
        return refused(request, "participant-form", messages(body, PARTICIPANT_LABELS))
    values = body.model_dump()
    call = partial(meeting_agenda.add_participant, desk.session, desk.viewer.user, meeting_id, values)
    return await attempt(request, desk, "participant-form", PARTICIPANT_LABELS, call) or await section(
        request, desk, meeting_id, "participants", adding=True
    )


@router.post("/meetings/{meeting_id}/participants/{participant_id}/remove", dependencies=[web.CsrfChecked])
async def remove_participant(
    meeting_id: IdPath, participant_id: IdPath, request: Request, desk: web.DeskDep
) -> Response:
    await _community_meeting(desk, meeting_id)
    await meeting_agenda.remove_participant(desk.session, desk.viewer.user, meeting_id, participant_id)
    return await section(request, desk, meeting_id, "participants")


@router.get("/meetings/{meeting_id}/accounts")
async def accounts(
    meeting_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    q: Annotated[str, Query(max_length=32)] = "",
    field: Annotated[Literal["user_id", "owner_user_id"], Query()] = "user_id",
) -> Response:
    """Accounts of the community whose name or address matches, to choose from (as `field`)."""
    await _community_meeting(desk, meeting_id)
    found = await meeting_agenda.account_choices(desk.session, desk.viewer.user, desk.community.id, q)
    context = {
        "choices": found,
        "q": q.strip(),
        "field": field,
        "more": len(found) >= meeting_agenda.ACCOUNT_SEARCH_LIMIT,
    }
    return web.render(request, "meetings/_accounts.html", context)


@router.post("/meetings/{meeting_id}/checkins", dependencies=[web.CsrfChecked])
async def tick(
    meeting_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    participant_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    """Staff tick a participant in by hand (`meeting_attendance.staff_checkin`)."""
    await _community_meeting(desk, meeting_id)
    await meeting_attendance.staff_checkin(desk.session, desk.viewer.user, meeting_id, participant_id)
    return await section(request, desk, meeting_id, "participants")


@router.post("/meetings/{meeting_id}/walkins", dependencies=[web.CsrfChecked])
async def walkins(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, count: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """How many were there without the app (`meeting_attendance.set_walkins`)."""
    await _community_meeting(desk, meeting_id)
    errors: dict[str, str] = {}
    number = _number(count.strip(), "count", errors)
    if number is None and not errors:
        errors["count"] = "请填写"
    body = errors or validated(WalkinCount, {"count": number}, ATTENDANCE_LABELS)
    if isinstance(body, dict):
        return refused(request, "walkins-form", messages(body, ATTENDANCE_LABELS))
    await meeting_attendance.set_walkins(desk.session, desk.viewer.user, meeting_id, body.count)
    return await section(request, desk, meeting_id, "participants")


# -- the on-site code's screen -------------------------------------------------------------------------


async def _onsite(desk: web.Desk, meeting_id: int) -> dict[str, Any]:
    """The on-site code of this minute as a QR code, or why there is none."""
    context: dict[str, Any] = {"poll": ONSITE_POLL_SECONDS}
    try:
        code = await meeting_attendance.current_onsite_code(desk.session, desk.viewer.user, meeting_id)
    except AppError as exc:
        context["unavailable"] = exc.message
        return context
    context["code"] = code
    context["qr"] = qr_svg(code["qr_text"], "议事会签到二维码")
    return context


@router.get("/meetings/{meeting_id}/screen")
async def screen(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The meeting's on-site code, large, for a screen turned towards the participants: they scan it
    with the mini-program; it changes every minute and the page asks for the new one itself."""
    await _community_meeting(desk, meeting_id)
    m = await meetings.meeting_detail(desk.session, desk.viewer.user, meeting_id)
    context = {"m": m, "here": meeting_url(desk, meeting_id), "onsite": await _onsite(desk, meeting_id)}
    return web.render(request, "meetings/screen.html", context, desk=desk)


@router.get("/meetings/{meeting_id}/screen/code")
async def screen_code(meeting_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_meeting(desk, meeting_id)
    context = {"here": meeting_url(desk, meeting_id), "onsite": await _onsite(desk, meeting_id)}
    return web.render(request, "meetings/_onsite.html", context)


# -- the agenda --------------------------------------------------------------------------------------------


class ItemForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=4000)


@router.post("/meetings/{meeting_id}/agenda", dependencies=[web.CsrfChecked])
async def add_item(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ItemForm, Form()]
) -> Response:
    await _community_meeting(desk, meeting_id)
    body = validated(AgendaItemCreate, form.model_dump(), ITEM_LABELS)
    if isinstance(body, dict):
        return refused(request, "item-form", messages(body, ITEM_LABELS))
    values = body.model_dump()
    await meeting_agenda.add_item(desk.session, desk.viewer.user, meeting_id, values)
    return await section(request, desk, meeting_id, "agenda", adding=True)


@router.post("/meetings/{meeting_id}/agenda/{item_id}/edit", dependencies=[web.CsrfChecked])
async def edit_item(
    meeting_id: IdPath, item_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ItemForm, Form()]
) -> Response:
    """An item's title and text, before the meeting is held."""
    await _community_meeting(desk, meeting_id)
    form_id = f"item-{item_id}-form"
    body = validated(AgendaItemUpdate, form.model_dump(), ITEM_LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, ITEM_LABELS))
    fields = body.model_dump(exclude_unset=True)
    call = partial(meeting_agenda.update_item, desk.session, desk.viewer.user, meeting_id, item_id, fields)
    return await attempt(request, desk, form_id, ITEM_LABELS, call) or await section(
        request, desk, meeting_id, "agenda"
    )


@router.post("/meetings/{meeting_id}/agenda/{item_id}/remove", dependencies=[web.CsrfChecked])
async def remove_item(meeting_id: IdPath, item_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Take an item off (a concern's item: its timeline says so, and it waits again)."""
    await _community_meeting(desk, meeting_id)
    await meeting_agenda.remove_item(desk.session, desk.viewer.user, meeting_id, item_id)
    return await section(request, desk, meeting_id, "agenda")


@router.post("/meetings/{meeting_id}/agenda/{item_id}/move", dependencies=[web.CsrfChecked])
async def move_item(
    meeting_id: IdPath,
    item_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    to: Annotated[Literal["up", "down"], Query()] = "up",
) -> Response:
    await _community_meeting(desk, meeting_id)
    step = -1 if to == "up" else 1
    await meeting_agenda.move_item(desk.session, desk.viewer.user, meeting_id, item_id, step)
    return await section(request, desk, meeting_id, "agenda")


# -- the minutes ----------------------------------------------------------------------------------------


def _saved(request: Request, form_id: str, what: str) -> Response:
    """A text saved where it is written: only the line beside its button changes (and the form's
    refusal, if any, goes), so that what is being written elsewhere on the page stays."""
    return web.render(request, "meetings/_saved.html", {"what": what, "at": clock.now(), "form_id": form_id})


@router.post("/meetings/{meeting_id}/agenda/{item_id}/minutes", dependencies=[web.CsrfChecked])
async def write_minutes(
    meeting_id: IdPath,
    item_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    minutes: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """An item's minutes, once the meeting was held, until they are published."""
    await _community_meeting(desk, meeting_id)
    form_id = f"item-{item_id}-minutes"
    body = validated(AgendaItemUpdate, {"minutes": minutes}, ITEM_LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, ITEM_LABELS))
    fields = body.model_dump(exclude_unset=True)
    call = partial(meeting_agenda.update_item, desk.session, desk.viewer.user, meeting_id, item_id, fields)
    return await attempt(request, desk, form_id, ITEM_LABELS, call) or _saved(request, form_id, "议题纪要")


@router.post("/meetings/{meeting_id}/summary", dependencies=[web.CsrfChecked])
async def write_summary(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, summary: Annotated[str, Form(max_length=10_000)] = ""
) -> Response:
    """The minutes' opening (who chaired, how it went), until the minutes are published."""
    await _community_meeting(desk, meeting_id)
    body = validated(MeetingUpdate, {"summary": summary}, MEETING_LABELS)
    if isinstance(body, dict):
        return refused(request, "summary-form", messages(body, MEETING_LABELS))
    fields = body.model_dump(exclude_unset=True)
    call = partial(meetings.update_meeting, desk.session, desk.viewer.user, meeting_id, fields)
    return await attempt(request, desk, "summary-form", MEETING_LABELS, call) or _saved(
        request, "summary-form", "总体纪要"
    )


# -- decisions ------------------------------------------------------------------------------------------


class DecisionForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agenda_item_id: str = Field(default="", max_length=20)
    text: str = Field(default="", max_length=4000)
    method: str = Field(default="", max_length=20)
    votes_for: str = Field(default="", max_length=20)
    votes_against: str = Field(default="", max_length=20)
    votes_abstain: str = Field(default="", max_length=20)


def _decision_values(form: DecisionForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The decision's values as the API takes them: the counts only for a vote (a consensus form
    may still hold counts typed before the method was changed)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "agenda_item_id": _number(form.agenda_item_id, "agenda_item_id", errors),
        "text": form.text,
        "method": form.method,
    }
    for name in VOTES:
        count = _number(getattr(form, name), name, errors)
        values[name] = count if form.method == "vote" else None
    if form.method != "vote":
        for name in VOTES:
            errors.pop(name, None)
    return values, errors


@router.post("/meetings/{meeting_id}/decisions", dependencies=[web.CsrfChecked])
async def add_decision(
    meeting_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[DecisionForm, Form()]
) -> Response:
    """A decision, on an item or none, by consensus or by a vote with its counts."""
    await _community_meeting(desk, meeting_id)
    values, errors = _decision_values(form)
    body = errors or validated(DecisionCreate, values, DECISION_LABELS)
    if isinstance(body, dict):
        return refused(request, "decision-form", messages(body, DECISION_LABELS))
    data = body.model_dump()
    call = partial(meeting_minutes.add_decision, desk.session, desk.viewer.user, meeting_id, data)
    return await attempt(request, desk, "decision-form", DECISION_LABELS, call) or await section(
        request, desk, meeting_id, "decisions"
    )


@router.post("/meetings/{meeting_id}/decisions/{decision_id}/edit", dependencies=[web.CsrfChecked])
async def edit_decision(
    meeting_id: IdPath,
    decision_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """Everything of a decision: its item (none takes it off), text, method and counts."""
    session, user = desk.session, desk.viewer.user
    await meeting_minutes.community_decision(session, user, desk.community.id, meeting_id, decision_id)
    form_id = f"decision-{decision_id}-form"
    values, errors = _decision_values(form)
    body = errors or validated(DecisionUpdate, values, DECISION_LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, DECISION_LABELS))
    fields = body.model_dump()
    call = partial(meeting_minutes.update_decision, session, user, decision_id, fields)
    return await attempt(request, desk, form_id, DECISION_LABELS, call) or await section(
        request, desk, meeting_id, "decisions"
    )


@router.post("/meetings/{meeting_id}/decisions/{decision_id}/remove", dependencies=[web.CsrfChecked])
async def remove_decision(meeting_id: IdPath, decision_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A decision and its follow-ups, until the minutes are published."""
    session, user = desk.session, desk.viewer.user
    await meeting_minutes.community_decision(session, user, desk.community.id, meeting_id, decision_id)
    await meeting_minutes.remove_decision(session, user, decision_id)
    return await section(request, desk, meeting_id, "decisions")
