"""Announcements in the console (通知公告): the community's notices (scheduled, published,
withdrawn; pinned first) with their read counts; composing one with the audience picker, which
shows (htmx, before anything is saved) how many households and people the choice reaches and the
inbox entry residents will see; publishing now or at a set time, pinned or not; editing (before
publishing anything, after it only the words and the pin, the earlier words kept as revisions);
withdrawing, with what that retracts shown before and the result after; and per announcement its
readers day by day, the counts per channel and the delivery log of its WeChat pushes.

Every read and change goes through the services the API calls (`notifications.announcements`,
`announcement_reach`, `announcement_stats`); the reach is counted by the fan-out's own query."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData, QueryParams

from api import clock, localtime
from api.console import charts, web
from api.deps import IdPath
from api.errors import AppError
from api.schemas.notifications import AnnouncementCreate, AnnouncementUpdate, Audience
from api.services.notifications import announcement_reach, announcement_stats, announcements

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

PAGE_SIZE = 20
LOG_SIZE = 20
LONGEST = 10_000  # no field of these forms is longer; a longer one is refused, not cut
DIGITS = re.compile(r"\d{1,19}")
AUDIENCE = TypeAdapter(Audience)

STATUS_LABELS = {"scheduled": "定时待发", "published": "已发布", "withdrawn": "已撤回"}
KIND_LABELS = {
    "community": "全体居民",
    "buildings": "指定楼栋",
    "children": "有孩子的家庭",
    "team": "志愿团队",
    "activity": "活动已预约的家庭",
}
LABELS = {
    "title": "标题",
    "body": "正文",
    "publish_at": "发布时间",
    "audience": "发送对象",
    "kind": "发送对象",
    "buildings": "楼栋",
    "min_age": "最小年龄",
    "max_age": "最大年龄",
    "team_id": "志愿团队",
    "activity_id": "活动",
}
AUDIENCE_FIELDS = ("buildings", "min_age", "max_age", "team_id", "activity_id")
Status = Literal["scheduled", "published", "withdrawn"]


# -- small pieces ---------------------------------------------------------------------------------


def cbase(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}"


def announcement_url(desk: web.Desk, announcement_id: int) -> str:
    return f"{cbase(desk)}/announcements/{announcement_id}"


def _text(form: FormData | QueryParams, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _input_time(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _local_time(raw: str, tz: ZoneInfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _blank_values() -> dict[str, Any]:
    return {
        "title": "",
        "body": "",
        "pinned": False,
        "when": "now",
        "publish_at": "",
        "kind": "community",
        "buildings": [],
        "min_age": "",
        "max_age": "",
        "team_id": "",
        "activity_id": "",
    }


def _values_of(view: dict[str, Any]) -> dict[str, Any]:
    """A saved announcement as its form shows it."""
    audience = view["audience"] or {"kind": "community"}
    return {
        "title": view["title"],
        "body": view["body"] or "",
        "pinned": view["pinned"],
        "when": "later" if view["status"] == "scheduled" else "now",
        "publish_at": _input_time(view["publish_at"]),
        "kind": audience.get("kind", "community"),
        "buildings": [str(b) for b in audience.get("buildings", [])],
        "min_age": str(audience.get("min_age", "")),
        "max_age": str(audience.get("max_age", "")),
        "team_id": str(audience.get("team_id", "")),
        "activity_id": str(audience.get("activity_id", "")),
    }


def _read_form(form: FormData | QueryParams) -> dict[str, Any]:
    """The form (or the picker's query) as typed."""
    values = _blank_values()
    for name in ("title", "body", "when", "publish_at", "kind", "min_age", "max_age", "team_id", "activity_id"):
        values[name] = _text(form, name)
    values["when"] = values["when"] or "now"
    values["kind"] = values["kind"] or "community"
    values["pinned"] = bool(_text(form, "pinned"))
    values["buildings"] = [v.strip() for v in form.getlist("buildings") if isinstance(v, str) and v.strip()]
    return values


def _audience_of(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any] | None:
    """The audience as the API takes it, checked by the API's model; refusals by field."""
    kind = values["kind"]
    raw: dict[str, Any] = {"kind": kind}
    if kind == "buildings":
        if not values["buildings"]:
            errors.setdefault("buildings", "请至少选择一个楼栋")
            return None
        raw["buildings"] = values["buildings"]
    elif kind == "children":
        for name in ("min_age", "max_age"):
            if not DIGITS.fullmatch(values[name]):
                errors.setdefault(name, "请填写 0–17 的整数")
        if errors.keys() & {"min_age", "max_age"}:
            return None
        raw["min_age"], raw["max_age"] = int(values["min_age"]), int(values["max_age"])
    elif kind in ("team", "activity"):
        name = f"{kind}_id"
        if not DIGITS.fullmatch(values[name]):
            errors.setdefault(name, "请从列表中选择")
            return None
        raw[name] = int(values[name])
    try:
        audience: dict[str, Any] = AUDIENCE.validate_python(raw).model_dump()
    except ValidationError as exc:
        errors.update(_refusals(exc))
        return None
    return audience


def _refusals(exc: ValidationError) -> dict[str, str]:
    """A model's refusals by the form's field (an audience's by its own field, not by its kind)."""
    errors = web.model_errors(exc, LABELS)
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        named = next((part for part in reversed(loc) if part in AUDIENCE_FIELDS), None)
        if loc and loc[0] in KIND_LABELS and loc[0] in errors:
            errors.setdefault(named or "kind", errors.pop(loc[0]))
    if "kind" in errors:
        errors["kind"] = "请从列表中选择"
    return errors


def _service_refusals(exc: AppError) -> dict[str, str]:
    """A service's 422 by the form's field."""
    if exc.code == "team_not_found":
        return {"team_id": exc.message}
    if exc.code == "activity_not_found":
        return {"activity_id": exc.message}
    if exc.code == "validation_error" and isinstance(exc.details, list):
        found: dict[str, str] = {}
        for detail in exc.details:
            field = str(detail.get("field", ""))
            name = "buildings" if field.startswith("audience.buildings") else field.split(".")[-1] or "_"
            found.setdefault(name, web.zh_fields(str(detail.get("message", "")), LABELS))
        return found
    return {"_": exc.message}


def _publish_at(values: dict[str, Any], tz: ZoneInfo, errors: dict[str, str]) -> datetime | None:
    """The set time (None: now). A time already past is refused rather than sent at once."""
    if values["when"] != "later":
        return None
    if not values["publish_at"]:
        errors.setdefault("publish_at", "请填写定时发布的时间")
        return None
    at = _local_time(values["publish_at"], tz)
    if at is None:
        errors.setdefault("publish_at", "请按“年-月-日 时:分”填写，如 2026-12-20 09:00")
    elif at <= clock.now():
        errors.setdefault("publish_at", "定时发布的时间应晚于现在")
    return at


def _lines(errors: dict[str, str]) -> list[str]:
    lines = []
    for name, text in errors.items():
        label = LABELS.get(name, "")
        lines.append(f"{label}：{text}" if label else text)
    return lines


async def _describe(desk: web.Desk, audience: dict[str, Any] | None) -> str:
    return await announcement_reach.describe(desk.session, desk.viewer.user, desk.community.id, audience or {})


# -- the list -------------------------------------------------------------------------------------


@router.get("/announcements")
async def announcements_page(
    request: Request,
    desk: web.DeskDep,
    status: Annotated[Status | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The community's announcements, pinned first then newest, by state, with how many residents
    each reached and read it and its WeChat pushes sent, a page at a time."""
    items, next_cursor = await announcements.list_announcements(
        desk.session, desk.viewer.user, desk.community.id, status=status, cursor=after, limit=PAGE_SIZE
    )
    for item in items:
        item["audience_words"] = await _describe(desk, item["audience"])
        item["channels"] = announcement_stats.channels(item["stats"])
    context = {
        "items": items,
        "next": next_cursor,
        "paged": after is not None,
        "status": status,
        "statuses": STATUS_LABELS,
        "cbase": cbase(desk),
    }
    return web.render(request, "announcements/list.html", context, desk=desk, nav="announcements")


# -- composing and editing ------------------------------------------------------------------------


async def _form_page(
    request: Request,
    desk: web.Desk,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    view: dict[str, Any] | None = None,
    fragment: bool = False,
) -> Response:
    """The compose (or edit) form: a page, or after a refusal the form alone with what was typed,
    each refusal beside its field and all of them listed above."""
    locked = view is not None and view["status"] != "scheduled"  # published: words and pin only
    context = {
        "values": values,
        "errors": errors,
        "summary": _lines(errors),
        "a": view,
        "locked": locked,
        "audience_words": await _describe(desk, view["audience"]) if view else "",
        "choices": await announcement_reach.audience_choices(desk.session, desk.viewer.user, desk.community.id),
        "kinds": KIND_LABELS,
        "cbase": cbase(desk),
        "action": f"{announcement_url(desk, view['id'])}/edit" if view else f"{cbase(desk)}/announcements",
    }
    if fragment:
        return web.render(request, "announcements/_form.html", context, status_code=422, desk=desk)
    return web.render(request, "announcements/compose.html", context, desk=desk, nav="announcements")


@router.get("/announcements/new")
async def compose_page(request: Request, desk: web.DeskDep) -> Response:
    """A new announcement's form, addressed to the whole community to start with."""
    return await _form_page(request, desk, _blank_values(), {})


@router.get("/announcements/reach")
async def reach(request: Request, desk: web.DeskDep) -> Response:
    """The picker's answer as staff change it (htmx): the households and people the audience
    reaches (and with WeChat grants), and the inbox entry the words make. Nothing is saved."""
    values = _read_form(request.query_params)
    errors: dict[str, str] = {}
    tz = ZoneInfo(desk.community.timezone)
    publish_at = _publish_at(values, tz, {})  # a time not yet valid: counted as of now
    audience = _audience_of(values, errors)
    counts: dict[str, int] | None = None
    if audience is not None:
        try:
            async with desk.session.begin_nested():
                counts = await announcement_reach.reach(
                    desk.session, desk.viewer.user, desk.community.id, audience, publish_at
                )
        except AppError as exc:
            if exc.status != 422:
                raise
            errors.update(_service_refusals(exc))
    preview = None
    if values["title"] or values["body"]:
        preview = await announcement_stats.draft_preview(
            desk.session,
            desk.viewer.user,
            desk.community.id,
            values["title"][:64],
            values["body"][:LONGEST],
            publish_at,
        )
    context = {
        "counts": counts,
        "hint": _lines(errors),
        "preview": preview,
        "words": await _describe(desk, audience) if audience else "",
    }
    return web.render(request, "announcements/_reach.html", context, desk=desk)


async def _save(
    request: Request, desk: web.Desk, view: dict[str, Any] | None
) -> tuple[Response | None, dict[str, Any]]:
    """Read the form, check it with the API's model, and create (or change) the announcement
    through the service in a savepoint: the form back with the refusals, or the announcement."""
    values = _read_form(await request.form())
    errors: dict[str, str] = {}
    for name in ("title", "body"):
        if len(values[name]) > LONGEST:
            errors[name] = f"最多 {LONGEST} 个字"
    locked = view is not None and view["status"] != "scheduled"
    data: dict[str, Any] = {"title": values["title"], "body": values["body"], "pinned": values["pinned"]}
    if not locked:
        data["audience"] = _audience_of(values, errors)
        data["publish_at"] = _publish_at(values, ZoneInfo(desk.community.timezone), errors)
    body: AnnouncementCreate | AnnouncementUpdate | None = None
    if not errors:
        try:
            body = (AnnouncementUpdate if view else AnnouncementCreate).model_validate(data)
        except ValidationError as exc:
            errors = _refusals(exc)
    if body is None:
        return await _form_page(request, desk, values, errors, view=view, fragment=True), {}
    session, user = desk.session, desk.viewer.user
    try:
        async with session.begin_nested():
            if view:
                # before it goes out, publish_at None is "now" (the service takes it so)
                fields = body.model_dump(exclude_unset=True)
                saved = await announcements.update_announcement(session, user, view["id"], fields)
            else:
                saved = await announcements.create(session, user, desk.community.id, body.model_dump())
    except AppError as exc:
        if exc.status != 422:
            raise
        return await _form_page(request, desk, values, _service_refusals(exc), view=view, fragment=True), {}
    return None, saved


@router.post("/announcements", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep) -> Response:
    """Publish now or at the set time (`announcements.create`; the worker fans it out)."""
    refusal, made = await _save(request, desk, None)
    return refusal or web.redirect(announcement_url(desk, made["id"]), request)


async def _staff_view(desk: web.Desk, announcement_id: int) -> dict[str, Any]:
    await announcement_stats.community_announcement(desk.session, desk.viewer.user, desk.community.id, announcement_id)
    return await announcements.get_announcement(desk.session, desk.viewer.user, announcement_id)


@router.get("/announcements/{announcement_id}/edit")
async def edit_page(announcement_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The form of an announcement: everything before it goes out, after only its words and pin
    (withdrawn: back to its page)."""
    view = await _staff_view(desk, announcement_id)
    if view["status"] == "withdrawn":
        return RedirectResponse(announcement_url(desk, announcement_id), status_code=303)
    return await _form_page(request, desk, _values_of(view), {}, view=view)


@router.post("/announcements/{announcement_id}/edit", dependencies=[web.CsrfChecked])
async def edit(announcement_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The change (`announcements.update_announcement`: a published one's earlier words are kept
    as a revision; withdrawn, 409 to #flash)."""
    view = await _staff_view(desk, announcement_id)
    refusal, _ = await _save(request, desk, view)
    return refusal or web.redirect(announcement_url(desk, announcement_id), request)


@router.post("/announcements/{announcement_id}/pin", dependencies=[web.CsrfChecked])
async def pin(announcement_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Pin it to the top of residents' lists, or unpin it (`update_announcement`)."""
    await _staff_view(desk, announcement_id)
    pinned = _text(await request.form(), "pinned") == "1"
    await announcements.update_announcement(desk.session, desk.viewer.user, announcement_id, {"pinned": pinned})
    return web.redirect(announcement_url(desk, announcement_id), request)


# -- an announcement's page -----------------------------------------------------------------------


def _reads_chart(reads: dict[str, Any]) -> Any:
    days = reads["days"]
    labels = [f"{'之后' if d['later'] else '第' + str(d['n']) + '天'}\n{d['day'].month}/{d['day'].day}" for d in days]
    words = "；".join(
        f"{'第' + str(d['n']) + '天及以后' if d['later'] else '第' + str(d['n']) + '天'} {d['reads']} 人" for d in days
    )
    return charts.grouped_bars(
        "每天新增已读人数（自发布之日起）",
        labels,
        [charts.Series("已读", fill="#0b6e4f", stroke="#0b6e4f")],
        [[d["reads"] for d in days]],
        description=f"每天新增已读：{words}" if words else "还没有人读",
        empty="还没有人读",
    )


@router.get("/announcements/{announcement_id}")
async def announcement_page(
    announcement_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    log: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The announcement: its words and state, audience, revisions; readers by day, counts per
    channel, the inbox entry residents see, and the delivery log a page at a time (`log`)."""
    view = await _staff_view(desk, announcement_id)
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    reads = await announcement_stats.reads_by_day(session, user, cid, announcement_id)
    pushes, next_log = await announcement_stats.delivery_log(
        session, user, cid, announcement_id, cursor=log, limit=LOG_SIZE
    )
    context = {
        "a": view,
        "here": announcement_url(desk, announcement_id),
        "cbase": cbase(desk),
        "statuses": STATUS_LABELS,
        "audience_words": await _describe(desk, view["audience"]),
        "channels": announcement_stats.channels(view["stats"]),
        "reads": reads,
        "chart": _reads_chart(reads) if reads["days"] else None,
        "preview": await announcement_stats.inbox_preview(session, user, cid, announcement_id),
        "pushes": pushes,
        "next_log": next_log,
        "log_paged": log is not None,
    }
    return web.render(request, "announcements/detail.html", context, desk=desk, nav="announcements")


# -- withdrawing ----------------------------------------------------------------------------------


@router.get("/announcements/{announcement_id}/withdraw")
async def withdraw_page(announcement_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """What withdrawing would retract, before staff confirm it."""
    view = await _staff_view(desk, announcement_id)
    before = await announcement_stats.retraction(desk.session, desk.viewer.user, desk.community.id, announcement_id)
    context = {"a": view, "before": before, "here": announcement_url(desk, announcement_id), "cbase": cbase(desk)}
    return web.render(request, "announcements/withdraw.html", context, desk=desk, nav="announcements")


@router.post("/announcements/{announcement_id}/withdraw", dependencies=[web.CsrfChecked])
async def withdraw(announcement_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Withdraw (`announcements.withdraw`: residents no longer see it, its inbox entries are hidden,
    pushes not yet sent are stopped), then what it did, read back."""
    await _staff_view(desk, announcement_id)
    await announcements.withdraw(desk.session, desk.viewer.user, announcement_id)
    after = await announcement_stats.retraction(desk.session, desk.viewer.user, desk.community.id, announcement_id)
    context = {"after": after, "here": announcement_url(desk, announcement_id)}
    return web.render(request, "announcements/_withdrawn.html", context, desk=desk)
