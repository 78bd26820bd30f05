"""Service projects in the console (服务项目): the projects covering the community, creating one,
its details, the communities it covers and this community's targets (indicators × the months or
quarters of the contract, and the whole period); and the activity summary (活动总结) staff write
for the record book. Every read and change goes through `services.reports`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.schemas.common import Id
from api.schemas.projects import SUMMARY_MAX, ProjectCreate, ProjectUpdate, SummaryWrite, TargetsWrite
from api.services.activities import browse, planning
from api.services.reports import projects, summaries

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

# the forms' fields as staff read them (messages name these, never the API's field names)
LABELS = {
    "name": "项目名称",
    "funder": "购买方",
    "starts_on": "合同开始日期",
    "ends_on": "合同结束日期",
    "grain": "分期方式",
    "description": "项目说明",
    "community_ids": "覆盖的社区",
    **{name: field["label"] for name, field in summaries.TEMPLATE.items()},
}
PROJECT_FIELDS = ("name", "funder", "starts_on", "ends_on", "grain", "description")
NUMBER = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
CELL = "@"  # a target's input is named "<indicator>@<period>"


def _zh(text: str) -> str:
    return web.zh_fields(text, LABELS)


class ProjectForm(BaseModel):
    """The project form as the browser sends it: text, bounded; checked by the API's request model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    funder: str = Field(default="", max_length=200)
    starts_on: str = Field(default="", max_length=20)
    ends_on: str = Field(default="", max_length=20)
    grain: str = Field(default="month", max_length=10)
    description: str = Field(default="", max_length=4000)


class SummaryForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    background: str = Field(default="", max_length=2 * SUMMARY_MAX)
    goals: str = Field(default="", max_length=2 * SUMMARY_MAX)
    process: str = Field(default="", max_length=2 * SUMMARY_MAX)
    participation: str = Field(default="", max_length=2 * SUMMARY_MAX)
    outcomes: str = Field(default="", max_length=2 * SUMMARY_MAX)
    reflection: str = Field(default="", max_length=2 * SUMMARY_MAX)


def _project_values(form: ProjectForm) -> dict[str, Any]:
    return {name: getattr(form, name) for name in PROJECT_FIELDS}


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


# -- the list and a new project ----------------------------------------------------------------------


def _blank() -> dict[str, str]:
    return {"name": "", "funder": "", "starts_on": "", "ends_on": "", "grain": "month", "description": ""}


@router.get("/projects")
async def projects_page(request: Request, desk: web.DeskDep) -> Response:
    listing = await projects.list_projects(desk.session, desk.viewer.user, desk.community.id)
    context = {
        "projects": listing,
        "values": _blank(),
        "errors": {},
        "labels": LABELS,
        "grains": projects.GRAIN_LABELS,
        "action": f"{_base(desk)}/projects",
        "editing": False,
    }
    return web.render(request, "projects/list.html", context, desk=desk, nav="projects")


def _form_refused(
    request: Request, desk: web.Desk, values: dict[str, Any], errors: dict[str, str], action: str, editing: bool
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "grains": projects.GRAIN_LABELS,
        "action": action,
        "editing": editing,
    }
    return web.render(request, "projects/_form.html", context, status_code=422, desk=desk)


def _service_errors(exc: AppError) -> dict[str, str] | None:
    if exc.code == "period_invalid":
        return {"ends_on": exc.message}
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): _zh(str(d.get("message"))) for d in exc.details}
    return None


@router.post("/projects", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep, form: Annotated[ProjectForm, Form()]) -> Response:
    """A new project covering this community (others are added on its page)."""
    values = _project_values(form)
    action = f"{_base(desk)}/projects"
    try:
        body = ProjectCreate.model_validate(values)
    except ValidationError as exc:
        return _form_refused(request, desk, values, web.model_errors(exc, LABELS), action, False)
    try:
        async with desk.session.begin_nested():
            made = await projects.create_project(desk.session, desk.viewer.user, desk.community.id, body.model_dump())
    except AppError as exc:
        found = _service_errors(exc)
        if found is None:
            raise
        return _form_refused(request, desk, values, found, action, False)
    return web.redirect(f"{_base(desk)}/projects/{made['id']}", request)


# -- one project ---------------------------------------------------------------------------------------


def _grid(targets: dict[str, Any], shown: dict[str, str] | None = None) -> dict[str, Any]:
    """The targets as the grid shows them: the periods (labelled), the indicators, and each cell's
    text (what was saved, or what was typed when it is shown again with its errors)."""
    values = {f"{t['indicator']}{CELL}{t['period']}": _number(t["value"]) for t in targets["targets"]}
    return {
        "periods": [(p, projects.period_label(p)) for p in targets["periods"]],
        "indicators": [(i["key"], i["name"], i["unit"], i["definition"]) for i in targets["indicators"]],
        "cells": values if shown is None else shown,
        "sep": CELL,
    }


async def _project_context(desk: web.Desk, project_id: int) -> dict[str, Any]:
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    await projects.project_in(session, user, cid, project_id)
    project = await projects.get_project(session, user, project_id)
    covered = {c["id"] for c in project["communities"]}
    mine = {c_id for c_id, _ in desk.viewer.communities}
    return {
        "p": project,
        "values": {name: str(project[name]) for name in PROJECT_FIELDS},
        "errors": {},
        "labels": LABELS,
        "grains": projects.GRAIN_LABELS,
        "action": f"{_base(desk)}/projects/{project_id}/edit",
        "editing": True,
        # communities this person serves that the project could also cover
        "addable": [(c_id, name) for c_id, name in desk.viewer.communities if c_id not in covered],
        "removable": covered & mine,
    }


@router.get("/projects/{project_id}")
async def project_page(
    project_id: IdPath, request: Request, desk: web.DeskDep, saved: Annotated[bool, Query()] = False
) -> Response:
    context = await _project_context(desk, project_id)
    targets = await projects.get_targets(desk.session, desk.viewer.user, project_id, desk.community.id)
    context.update(grid=_grid(targets), grid_errors={}, saved=saved)
    return web.render(request, "projects/detail.html", context, desk=desk, nav="projects")


@router.post("/projects/{project_id}/edit", dependencies=[web.CsrfChecked])
async def edit(
    project_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ProjectForm, Form()]
) -> Response:
    context = await _project_context(desk, project_id)
    values = _project_values(form)
    action = context["action"]
    missing = {k: "请填写" for k in ("name", "funder", "starts_on", "ends_on") if not values[k]}
    if missing:  # the API's PATCH would leave these as they are; the form means them
        return _form_refused(request, desk, values, missing, action, True)
    try:
        body = ProjectUpdate.model_validate(values)
    except ValidationError as exc:
        return _form_refused(request, desk, values, web.model_errors(exc, LABELS), action, True)
    try:
        async with desk.session.begin_nested():
            await projects.update_project(
                desk.session, desk.viewer.user, project_id, body.model_dump(exclude_unset=True)
            )
    except AppError as exc:
        found = _service_errors(exc)
        if found is None:
            raise
        return _form_refused(request, desk, values, found, action, True)
    return web.redirect(f"{_base(desk)}/projects/{project_id}", request)


@router.post("/projects/{project_id}/communities", dependencies=[web.CsrfChecked])
async def add_community(
    project_id: IdPath, request: Request, desk: web.DeskDep, other_id: Annotated[Id, Form()]
) -> Response:
    """The project covers another community this person serves too."""
    await projects.project_in(desk.session, desk.viewer.user, desk.community.id, project_id)
    await projects.add_community(desk.session, desk.viewer.user, project_id, other_id)
    return web.redirect(f"{_base(desk)}/projects/{project_id}", request)


@router.post("/projects/{project_id}/communities/{other_id}/remove", dependencies=[web.CsrfChecked])
async def remove_community(project_id: IdPath, other_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The project no longer covers a community (its targets go with it); removing this very
    community leaves its page, which no longer shows the project."""
    await projects.project_in(desk.session, desk.viewer.user, desk.community.id, project_id)
    await projects.remove_community(desk.session, desk.viewer.user, project_id, other_id)
    if other_id == desk.community.id:
        return web.redirect(f"{_base(desk)}/projects", request)
    return web.redirect(f"{_base(desk)}/projects/{project_id}", request)


@router.post("/projects/{project_id}/targets", dependencies=[web.CsrfChecked])
async def save_targets(project_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Save the grid: every cell with a number is a target, an empty cell none. Cells that are not
    numbers come back marked, and nothing is saved."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    current = await projects.get_targets(session, user, project_id, cid)  # which checks who may
    known = {f"{key}{CELL}{period}" for key in projects.TARGETABLE for period in current["periods"]}
    form = await request.form(max_fields=len(known) + 10)
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for name, raw in form.multi_items():
        if name not in known or not isinstance(raw, str):
            continue
        text = raw.strip()
        typed[name] = text
        if not text:
            continue
        if not NUMBER.match(text):
            errors[name] = "应为不小于 0 的数（最多两位小数）"
            continue
        indicator, period = name.split(CELL, 1)
        rows.append({"indicator": indicator, "period": period, "value": float(text)})
    if not errors:
        try:
            body = TargetsWrite.model_validate({"targets": rows})
        except ValidationError:
            errors["_"] = "目标值太大"
    if errors:
        context = {"p": {"id": project_id}, "grid": _grid(current, typed), "grid_errors": errors, "saved": False}
        return web.render(request, "projects/_targets.html", context, status_code=422, desk=desk)
    saved = await projects.set_targets(session, user, project_id, cid, [t.model_dump() for t in body.targets])
    context = {"p": {"id": project_id}, "grid": _grid(saved), "grid_errors": {}, "saved": True}
    return web.render(request, "projects/_targets.html", context, desk=desk)


# -- an activity's summary -------------------------------------------------------------------------------


async def _summary_context(desk: web.Desk, activity_id: int) -> dict[str, Any]:
    session, user = desk.session, desk.viewer.user
    await planning.community_activity(session, user, desk.community.id, activity_id)
    detail = await browse.activity_detail(session, user, activity_id)
    summary = await summaries.get_summary(session, user, activity_id)
    return {
        "a": detail,
        "summary": summary,
        "values": {name: summary[name] for name in summaries.FIELDS},
        "template": summaries.TEMPLATE,
        "errors": {},
        "max_length": SUMMARY_MAX,
    }


@router.get("/activities/{activity_id}/summary")
async def summary_page(
    activity_id: IdPath, request: Request, desk: web.DeskDep, saved: Annotated[bool, Query()] = False
) -> Response:
    context = await _summary_context(desk, activity_id)
    context["saved"] = saved
    return web.render(request, "projects/summary.html", context, desk=desk, nav="activities")


@router.post("/activities/{activity_id}/summary", dependencies=[web.CsrfChecked])
async def write_summary(
    activity_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[SummaryForm, Form()]
) -> Response:
    context = await _summary_context(desk, activity_id)
    values = form.model_dump()
    try:
        body = SummaryWrite.model_validate(values)
    except ValidationError as exc:
        context.update(values=values, errors=web.model_errors(exc, LABELS), saved=False)
        return web.render(request, "projects/_summary_form.html", context, status_code=422, desk=desk)
    await summaries.write_summary(desk.session, desk.viewer.user, activity_id, body.model_dump())
    return web.redirect(f"{_base(desk)}/activities/{activity_id}/summary?saved=1", request)
