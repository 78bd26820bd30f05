"""Follow-ups in the console (跟进事项): the community's list by owner and due date, filtered by
state, owner and lateness, the late ones flagged, each one's state changed in place (in progress,
done, dropped with the reason); and on a meeting's page, a decision's follow-ups added, changed
(owner, due date) and removed. Every change goes through `services.governance.follow_ups`."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.console import web
from api.console.meetings import attempt, messages, refused, section, validated
from api.deps import IdPath
from api.schemas.meetings import FollowUpCreate, FollowUpUpdate
from api.services.governance import common, follow_ups, meeting_minutes, meetings

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

LABELS = {
    "title": "跟进事项",
    "owner_user_id": "负责人账号",
    "owner_party": "负责的一方",
    "owner_name": "负责人",
    "due_on": "期限",
    "status": "状态",
    "note": "进展或原因",
}
OWNER_MISSING = "请选择负责人的账号，或选择负责的一方并填写负责人或单位的名称"


def _day(raw: str, errors: dict[str, str]) -> str | None:
    """The due date as typed (the request model reads it); missing is noted."""
    if not raw:
        errors["due_on"] = "请填写"
        return None
    return raw


class FollowUpForm(BaseModel):
    """A follow-up's form on the meeting's page: what, whose (an account, or a party and a name),
    by when."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=400)
    owner_user_id: str = Field(default="", max_length=20)
    owner_party: str = Field(default="", max_length=20)
    owner_name: str = Field(default="", max_length=100)
    due_on: str = Field(default="", max_length=20)
    q: str = Field(default="", max_length=32)  # the account search's own input


def _owner(form: FollowUpForm, errors: dict[str, str]) -> dict[str, Any]:
    """The owner as the API takes it: an account (with the party and name if given), or a party
    with a name."""
    owner: dict[str, Any] = {
        "owner_user_id": None,
        "owner_party": form.owner_party or None,
        "owner_name": form.owner_name or None,
    }
    if form.owner_user_id:
        if form.owner_user_id.isdigit() and len(form.owner_user_id) <= 19:
            owner["owner_user_id"] = int(form.owner_user_id)
        else:
            errors["owner_user_id"] = "请从查找结果中选择"
    elif not (form.owner_party and form.owner_name):
        errors["owner_name"] = OWNER_MISSING
    return owner


@router.post("/meetings/{meeting_id}/decisions/{decision_id}/follow-ups", dependencies=[web.CsrfChecked])
async def add(
    meeting_id: IdPath,
    decision_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    form: Annotated[FollowUpForm, Form()],
) -> Response:
    """A follow-up of a decision (`follow_ups.add_follow_up`)."""
    session, user = desk.session, desk.viewer.user
    await meeting_minutes.community_decision(session, user, desk.community.id, meeting_id, decision_id)
    form_id = f"decision-{decision_id}-follow-up"
    errors: dict[str, str] = {}
    values = {"title": form.title, **_owner(form, errors), "due_on": _day(form.due_on, errors)}
    body = errors or validated(FollowUpCreate, values, LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, LABELS))
    data = body.model_dump()
    call = partial(follow_ups.add_follow_up, session, user, decision_id, data)
    return await attempt(request, desk, form_id, LABELS, call) or await section(request, desk, meeting_id, "decisions")


@router.post("/meetings/{meeting_id}/follow-ups/{follow_up_id}/edit", dependencies=[web.CsrfChecked])
async def edit(
    meeting_id: IdPath,
    follow_up_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    form: Annotated[FollowUpForm, Form()],
) -> Response:
    """A follow-up's owner and due date (its title stays as it was decided)."""
    session, user = desk.session, desk.viewer.user
    await meetings.community_meeting(session, user, desk.community.id, meeting_id)
    await follow_ups.community_follow_up(session, user, desk.community.id, follow_up_id)
    form_id = f"follow-up-{follow_up_id}-form"
    errors: dict[str, str] = {}
    values = {**_owner(form, errors), "due_on": _day(form.due_on, errors)}
    body = errors or validated(FollowUpUpdate, values, LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, LABELS))
    fields = body.model_dump(exclude_unset=True)
    call = partial(follow_ups.update_follow_up, session, user, follow_up_id, fields)
    return await attempt(request, desk, form_id, LABELS, call) or await section(request, desk, meeting_id, "decisions")


@router.post("/meetings/{meeting_id}/follow-ups/{follow_up_id}/remove", dependencies=[web.CsrfChecked])
async def remove(meeting_id: IdPath, follow_up_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A follow-up deleted, before the minutes are published (afterwards it is dropped)."""
    session, user = desk.session, desk.viewer.user
    await meetings.community_meeting(session, user, desk.community.id, meeting_id)
    await follow_ups.community_follow_up(session, user, desk.community.id, follow_up_id)
    await follow_ups.remove_follow_up(session, user, follow_up_id)
    return await section(request, desk, meeting_id, "decisions")


# -- the list ----------------------------------------------------------------------------------------


@router.get("/follow-ups")
async def follow_ups_page(
    request: Request,
    desk: web.DeskDep,
    status: Annotated[str, Query(max_length=20)] = "",
    owner: Annotated[str, Query(max_length=32)] = "",
    late: Annotated[bool, Query()] = False,
) -> Response:
    """Every follow-up of the community's meetings, by owner and due date (`follow_ups.list_follow_ups`),
    with the summary per owner; `owner` is an owner's name as listed, `late` only those running late.
    A state the page does not offer (an edited address) filters nothing."""
    owner = owner.strip()
    status = status if status in common.FOLLOW_UP_STATUS_LABELS else ""
    listing = await follow_ups.list_follow_ups(
        desk.session,
        desk.viewer.user,
        desk.community.id,
        status=status or None,
        owner_name=owner or None,
        late=True if late else None,
    )
    context = {
        "listing": listing,
        "filters": {"status": status, "owner": owner, "late": late},
        "statuses": common.FOLLOW_UP_STATUS_LABELS,
        "moves": follow_ups.MOVES,
    }
    return web.render(request, "follow_ups/list.html", context, desk=desk, nav="meetings")


class StateForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: str = Field(default="", max_length=20)
    note: str = Field(default="", max_length=1000)


@router.post("/follow-ups/{follow_up_id}/status", dependencies=[web.CsrfChecked])
async def change_state(
    follow_up_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[StateForm, Form()]
) -> Response:
    """A follow-up's next state with a note (dropping needs the reason), in place: its row again."""
    session, user = desk.session, desk.viewer.user
    await follow_ups.community_follow_up(session, user, desk.community.id, follow_up_id)
    form_id = f"state-{follow_up_id}"
    values: dict[str, Any] = {"status": form.status or None}
    if form.note:
        values["note"] = form.note
    body = validated(FollowUpUpdate, values, LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, LABELS))
    if body.status is None:
        return refused(request, form_id, messages({"status": "请选择"}, LABELS))
    fields = body.model_dump(exclude_unset=True)
    changed: dict[str, Any] = {}

    async def change() -> None:
        changed.update(await follow_ups.update_follow_up(session, user, follow_up_id, fields))

    refusal = await attempt(request, desk, form_id, LABELS, change)
    if refusal is not None:
        return refusal
    context = {"f": changed, "moves": follow_ups.MOVES, "statuses": common.FOLLOW_UP_STATUS_LABELS}
    response = web.render(request, "follow_ups/_row.html", context, desk=desk)
    response.headers["HX-Trigger"] = "follow-up-changed"  # the page's counts ask for themselves again
    return response
