"""The community's settings in the console (设置), except its spaces, closures and rules (their
own module): the community's details and quiet hours, its staff (admins grant and revoke), and the
audit list of every change to the settings (who, when, what before and after). Platform admins
open new communities here too (/console/communities/new, outside any community).

Every read and change goes through the services the API calls (`services.communities`,
`services.audit`): plain staff see the details and the staff read-only, and the services refuse
them a change however the form was sent. A refused form comes back with what was typed and the
refusal beside its field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.console import web
from api.deps import IdPath, SessionDep, SettingsDep
from api.errors import AppError
from api.schemas.communities import AuditSubject, CommunityCreate, CommunityUpdate
from api.services import access, audit, communities

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SETTINGS = "/c/{community_id}/settings"

PAGE_SIZE = 20

# the forms' fields as staff read them (messages name these, never the API's field names)
LABELS = {
    "name": "社区名称",
    "city": "城市",
    "district": "区",
    "address": "地址",
    "timezone": "时区",
    "quiet_hours": "免打扰时段",
    "quiet_start": "免打扰开始",
    "quiet_end": "免打扰结束",
    "q": "搜索内容",
    "role": "角色",
}
DETAIL_FIELDS = ("name", "city", "district", "address")
QUIET_MODES = {"default": "沿用系统默认", "none": "不设免打扰", "custom": "自定时段"}
ROLE_LABELS = {"staff": "工作人员", "admin": "管理员"}


def _zh(text: str) -> str:
    return web.zh_fields(text, LABELS)


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/settings"


class DetailsForm(BaseModel):
    """The community form as the browser sends it: text, bounded; checked by the API's model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=200)
    district: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=1000)
    quiet_mode: Literal["default", "none", "custom"] = "default"
    quiet_start: str = Field(default="", max_length=10)
    quiet_end: str = Field(default="", max_length=10)


class NewCommunityForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=200)
    district: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=1000)
    timezone: str = Field(default="Asia/Shanghai", max_length=100)


class RoleForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["resident", "staff", "admin"] = "staff"


def _quiet_values(quiet: str | None) -> dict[str, str]:
    if quiet is None:
        return {"quiet_mode": "default", "quiet_start": "", "quiet_end": ""}
    if not quiet:
        return {"quiet_mode": "none", "quiet_start": "", "quiet_end": ""}
    start, end = quiet.split("-")
    return {"quiet_mode": "custom", "quiet_start": start, "quiet_end": end}


def _quiet_of(form: DetailsForm) -> str | None:
    if form.quiet_mode == "default":
        return None
    if form.quiet_mode == "none":
        return ""
    return f"{form.quiet_start}-{form.quiet_end}"


def _details_context(desk: web.Desk, settings: SettingsDep) -> dict[str, Any]:
    community = desk.community
    values = {name: getattr(community, name) for name in DETAIL_FIELDS} | _quiet_values(community.quiet_hours)
    return {
        "tab": "community",
        "c": community,
        # plain values for the form: a refused change rolls back its savepoint, expiring the row
        "timezone": community.timezone,
        "values": values,
        "errors": {},
        "labels": LABELS,
        "modes": QUIET_MODES,
        "default_quiet": settings.quiet_hours,
        "can_edit": desk.role == "admin",
        "is_platform_admin": desk.viewer.user.is_platform_admin,
        "action": _base(desk),
    }


# -- the community's details and quiet hours ----------------------------------------------------


@router.get(SETTINGS)
async def details_page(
    request: Request, desk: web.DeskDep, settings: SettingsDep, saved: Annotated[bool, Query()] = False
) -> Response:
    """The community's details and quiet hours: a form for its admins, read-only for its staff."""
    context = _details_context(desk, settings) | {"saved": saved}
    return web.render(request, "settings/community.html", context, desk=desk, nav="settings")


@router.post(SETTINGS, dependencies=[web.CsrfChecked])
async def save_details(
    request: Request, desk: web.DeskDep, settings: SettingsDep, form: Annotated[DetailsForm, Form()]
) -> Response:
    """Admins change the details and the quiet hours (the service refuses anyone else)."""
    values = form.model_dump()
    context = _details_context(desk, settings) | {"values": values, "saved": False}
    fields = {name: values[name] for name in DETAIL_FIELDS} | {"quiet_hours": _quiet_of(form)}
    errors: dict[str, str] = {}
    if form.quiet_mode == "custom" and not (form.quiet_start and form.quiet_end):
        errors["quiet_hours"] = "请填写免打扰的开始和结束时间"
    else:
        try:
            body = CommunityUpdate.model_validate(fields)
        except ValidationError as exc:
            errors = web.model_errors(exc, LABELS)
    if errors:
        context["errors"] = errors
        return web.render(request, "settings/_community_form.html", context, status_code=422, desk=desk)
    try:
        async with desk.session.begin_nested():
            await communities.update_community(
                desk.session, desk.viewer.user, desk.community.id, body.model_dump(exclude_unset=True)
            )
    except AppError as exc:
        if exc.code != "community_exists":
            raise
        context["errors"] = {"name": exc.message}
        return web.render(request, "settings/_community_form.html", context, status_code=422, desk=desk)
    return web.redirect(f"{_base(desk)}?saved=1", request)


# -- staff ------------------------------------------------------------------------------------------


@router.get(SETTINGS + "/staff")
async def staff_page(request: Request, desk: web.DeskDep) -> Response:
    """The community's staff and admins; its admins grant staff to residents and revoke them."""
    staff = await communities.list_staff(desk.session, desk.viewer.user, desk.community.id)
    context = {
        "tab": "staff",
        "staff": staff,
        "roles": ROLE_LABELS,
        "can_edit": desk.role == "admin",
        "is_platform_admin": desk.viewer.user.is_platform_admin,
        "me": desk.viewer.user.id,
        "action": f"{_base(desk)}/staff",
    }
    return web.render(request, "settings/staff.html", context, desk=desk, nav="settings")


@router.get(SETTINGS + "/staff/candidates")
async def staff_candidates(
    request: Request, desk: web.DeskDep, q: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """Residents matching a name or a room, to make staff (admins only)."""
    found = await communities.staff_candidates(desk.session, desk.viewer.user, desk.community.id, q)
    context = {"candidates": found, "q": q.strip(), "action": f"{_base(desk)}/staff"}
    return web.render(request, "settings/_candidates.html", context, desk=desk)


@router.post(SETTINGS + "/staff/{user_id}", dependencies=[web.CsrfChecked])
async def set_role(user_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[RoleForm, Form()]) -> Response:
    """Grant staff (or, for platform admins, admin) to a person, or take it back (`resident`):
    the service's rules decide who may."""
    await communities.set_role(desk.session, desk.viewer.user, desk.community.id, user_id, form.role)
    return web.redirect(f"{_base(desk)}/staff", request)


# -- the audit list ---------------------------------------------------------------------------------


@router.get(SETTINGS + "/audit")
async def audit_page(
    request: Request,
    desk: web.DeskDep,
    subject: Annotated[AuditSubject | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Every change to the settings, newest first, a page at a time, of one kind if asked."""
    listing = await audit.list_entries(
        desk.session, desk.viewer.user, desk.community.id, subject=subject, cursor=after, limit=PAGE_SIZE
    )
    context = {
        "tab": "audit",
        "items": listing["items"],
        "next": listing["next_cursor"],
        "paged": after is not None,
        "subject": subject,
        "subjects": audit.SUBJECTS,
    }
    return web.render(request, "settings/audit.html", context, desk=desk, nav="settings")


# -- a new community (platform admins) --------------------------------------------------------------


def _new_context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {"values": values, "errors": errors, "labels": LABELS}


@router.get("/communities/new")
async def new_community_page(request: Request, viewer: web.ViewerDep) -> Response:
    """The form that opens a community (platform admins only)."""
    access.require_platform_admin(viewer.user)
    values = NewCommunityForm().model_dump()
    return web.render(request, "settings/new_community.html", _new_context(values, {}))


@router.post("/communities/new", dependencies=[web.CsrfChecked])
async def create_community(
    request: Request, viewer: web.ViewerDep, session: SessionDep, form: Annotated[NewCommunityForm, Form()]
) -> Response:
    """Open the community and land on its settings (the platform admin is an admin everywhere)."""
    access.require_platform_admin(viewer.user)
    values = form.model_dump()
    try:
        body = CommunityCreate.model_validate(values)
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS)
        return web.render(request, "settings/_new_community_form.html", _new_context(values, errors), status_code=422)
    try:
        async with session.begin_nested():
            made = await communities.create_community(session, viewer.user, body.model_dump())
    except AppError as exc:
        if exc.code != "community_exists":
            raise
        errors = {"name": exc.message}
        return web.render(request, "settings/_new_community_form.html", _new_context(values, errors), status_code=422)
    return web.redirect(f"{web.PREFIX}/c/{made.id}/settings", request)
