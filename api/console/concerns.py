"""Concerns in the console (烦心事): the board as columns by state with its filters (building,
category, level, late), recording a concern a resident told staff at a 坝坝会 or on the phone, a
concern's page with its facts, photos, comments, timeline, agenda and verdicts, the triage actions
its state allows, and the review queue of what the text check was unsure of. Every read and change
goes through the services the API calls (`services.governance.concern_*`, `concerns`)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import clock, localtime
from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.schemas.concerns import (
    ConcernAccept,
    ConcernCreate,
    ConcernDecline,
    ConcernLevelChange,
    ConcernResolve,
    ConcernUpdateCreate,
)
from api.services import household_file
from api.services.governance import common, concern_access, concern_triage, concern_views, concerns

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

# the board's columns: (key, heading, the states in it)
COLUMNS: list[tuple[str, str, tuple[str, ...]]] = [
    ("submitted", "待受理", ("submitted",)),
    ("accepted", "已受理", ("accepted",)),
    ("in_progress", "处理中", ("in_progress",)),
    ("resolved", "已解决", ("resolved",)),
    ("other", "其他结果", ("unresolvable", "referred", "duplicate")),
    ("closed", "已关闭", ("closed",)),
]
COLUMN_KEYS = {key for key, _, _ in COLUMNS}
OPEN_LIMIT = 200  # cards of the columns before 已关闭 (concerns there close by themselves in 14 days)
CLOSED_SHOWN = 10  # the most recent closed ones; the column's own page lists them all
COLUMN_PAGE = 50
LATE_LABELS = {"response": "响应超时", "resolution": "办结超时"}
LEVEL_SHORT = {1: "一级", 2: "二级", 3: "三级"}
VISIBILITY_LABELS = {
    "checking": "审核中",
    "visible": "已公开",
    "review": "待人工审核",
    "rejected": "未通过审核",
    "hidden": "已下架",
}

# the forms' fields as staff read them (messages name these, never the API's field names)
LABELS = {
    "category": "类别",
    "building": "楼栋",
    "place": "具体位置",
    "title": "标题",
    "body": "内容",
    "told_by": "反映人",
    "level": "等级",
    "responsible": "负责方",
    "due_at": "完成时间",
    "note": "说明",
    "public": "公开范围",
    "result": "处理结果",
    "outcome": "答复方式",
    "reason": "原因",
    "referred_to": "转给谁",
    "duplicate_of": "重复的烦心事",
}


def _zh(text: str) -> str:
    return web.zh_fields(text, LABELS)


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/concerns"


def _tz(desk: web.Desk) -> ZoneInfo:
    return ZoneInfo(desk.community.timezone)


_NAMED = re.compile(r"^([a-z_]+)：(.+)$", re.S)


def _service_errors(exc: AppError) -> dict[str, str] | None:
    """A service's refusal that is about a field of the form, by field (labelled); None for any
    other (a transition refused, a photo still being checked…), which goes to the page's flash."""
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): _zh(str(d.get("message"))) for d in exc.details}
    if exc.status == 422:
        named = _NAMED.match(exc.message)
        if named:
            return {named.group(1): _zh(named.group(2))}
    return None


async def _attempt(action: Callable[[], Awaitable[Any]]) -> dict[str, str] | None:
    """Run a service's change (which opens its own savepoint): its field refusals as the form's
    errors (nothing of it written), any other refusal raised to the error handler."""
    try:
        await action()
    except AppError as exc:
        found = _service_errors(exc)
        if found is None:
            raise
        return found
    return None


def _age(created: datetime, now: datetime) -> str:
    """How long ago, as staff say it: 刚刚, 25分钟前, 3小时前, 2天前."""
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60}分钟前"
    if seconds < 86400:
        return f"{seconds // 3600}小时前"
    return f"{seconds // 86400}天前"


def _shown(card: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A card with what the console writes on it besides the service's fields."""
    return card | {
        "age": _age(card["created_at"], now),
        "late_label": LATE_LABELS.get(card["late"] or ""),
        "level_short": LEVEL_SHORT.get(card["level"] or 0),
        "visibility_label": VISIBILITY_LABELS.get(card["visibility"] or ""),
        "outcome_label": common.STATUS_LABELS.get(card["outcome"] or ""),
    }


def _input(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _read_time(raw: str, tz: ZoneInfo) -> datetime | None:
    """A datetime-local input's value in the community's zone; ValueError when it is not one."""
    if not raw:
        return None
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


# -- the board ---------------------------------------------------------------------------------------


class Filters(BaseModel):
    """The board's filters as the URL carries them; values the board does not know are ignored."""

    building: str = ""
    category: str = ""
    level: str = ""
    late: str = ""

    def board(self, statuses: tuple[str, ...] = ()) -> concern_views.BoardFilters:
        return concern_views.BoardFilters(
            statuses=statuses,
            building=self.building or None,
            category=self.category if self.category in common.CATEGORY_LABELS else None,
            level=int(self.level) if self.level in ("1", "2", "3") else None,
            late={"1": True, "0": False}.get(self.late),
        )

    def query(self, **extra: str) -> str:
        """The filters (and `extra`) as a query string, without the empty ones."""
        values = {**self.model_dump(), **extra}
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return any(self.model_dump().values())


async def _record_context(desk: web.Desk, **context: Any) -> dict[str, Any]:
    """What the form recording a concern needs besides its values."""
    return {
        "buildings": await household_file.buildings(desk.session, desk.viewer.user, desk.community.id),
        "categories": common.CATEGORY_LABELS,
        "values": {"category": "", "building": "", "place": "", "title": "", "body": "", "told_by": ""},
        "errors": {},
        "labels": LABELS,
        "cbase": _base(desk),
        **context,
    }


@router.get("/concerns")
async def board_page(
    request: Request,
    desk: web.DeskDep,
    building: Annotated[str, Query(max_length=32)] = "",
    category: Annotated[str, Query(max_length=20)] = "",
    level: Annotated[str, Query(max_length=1)] = "",
    late: Annotated[str, Query(max_length=1)] = "",
    column: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The board: a column per state (or one column's every card, paged), the filters, the counts,
    what waits for review, and the form recording a concern a resident told staff."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    filters = Filters(building=building, category=category, level=level, late=late)
    now = clock.now()
    columns = []
    single = column if column in COLUMN_KEYS else ""
    next_cursor = None
    if single:
        ((key, heading, states),) = [c for c in COLUMNS if c[0] == single]
        found = await concern_views.board(session, user, cid, filters.board(states), cursor, COLUMN_PAGE)
        counts = found["counts"]
        next_cursor = found["next_cursor"]
        columns.append({"key": key, "heading": heading, "cards": [_shown(c, now) for c in found["items"]]})
    else:
        open_states = tuple(s for s in common.STATUS_LABELS if s != "closed")
        active = await concern_views.board(session, user, cid, filters.board(open_states), None, OPEN_LIMIT)
        closed = await concern_views.board(session, user, cid, filters.board(("closed",)), None, CLOSED_SHOWN)
        counts = active["counts"]
        grouped = concern_views.group_by_status([_shown(c, now) for c in active["items"] + closed["items"]])
        for key, heading, states in COLUMNS:
            columns.append({"key": key, "heading": heading, "cards": [c for s in states for c in grouped[s]]})
    by_status = counts["by_status"] if counts else {}
    for entry in columns:
        states = next(states for key, _, states in COLUMNS if key == entry["key"])
        entry["count"] = sum(by_status.get(s, 0) for s in states)
    waiting = await concern_views.review_queue(session, user, cid)
    context = await _record_context(
        desk,
        columns=columns,
        single=single,
        next_cursor=next_cursor,
        late_count=counts["late"] if counts else 0,
        filters=filters,
        levels=LEVEL_SHORT,
        review_count=len(waiting["concerns"]) + len(waiting["comments"]),
    )
    return web.render(request, "concerns/board.html", context, desk=desk, nav="concerns")


class RecordForm(BaseModel):
    """A concern a resident told staff (at a 坝坝会, on the phone): text, bounded; checked by the
    API's request model. `told_by` (who it was) becomes a note only staff read."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(default="", max_length=20)
    building: str = Field(default="", max_length=64)
    place: str = Field(default="", max_length=128)
    title: str = Field(default="", max_length=128)
    body: str = Field(default="", max_length=4000)
    told_by: str = Field(default="", max_length=400)


@router.post("/concerns", dependencies=[web.CsrfChecked])
async def record(request: Request, desk: web.DeskDep, form: Annotated[RecordForm, Form()]) -> Response:
    """Staff record a concern for a resident (`raise_concern` as staff: no text check, shown at
    once); who told them goes on its timeline as a note only staff read."""
    values = form.model_dump()
    errors: dict[str, str] = {}
    if form.category not in common.CATEGORY_LABELS:
        errors["category"] = "请选择"
    if len(form.told_by) > 200:
        errors["told_by"] = "最多 200 个字"
    fields = {k: values[k] for k in ("category", "building", "place", "title", "body")}
    body: ConcernCreate | None = None
    try:
        body = ConcernCreate.model_validate(fields)
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS) | errors
    made: list[int] = []

    async def save() -> None:
        assert body is not None
        async with desk.session.begin_nested():
            concern = await concerns.raise_concern(desk.session, desk.viewer.user, desk.community.id, body.model_dump())
            if form.told_by:
                await concern_triage.post_update(
                    desk.session, desk.viewer.user, concern.id, f"反映人：{form.told_by}", False
                )
            made.append(concern.id)

    if not errors:
        errors = await _attempt(save) or {}
    if errors:
        context = await _record_context(desk, values=values, errors=errors)
        return web.render(request, "concerns/_record.html", context, status_code=422, desk=desk)
    return web.redirect(f"{_base(desk)}/{made[0]}", request)


# -- the review queue ----------------------------------------------------------------------------------


@router.get("/concerns/review")
async def review_page(request: Request, desk: web.DeskDep) -> Response:
    """Concerns and comments the text check was unsure of, oldest first: approve, or refuse with
    the reason the raiser is told."""
    waiting = await concern_views.review_queue(desk.session, desk.viewer.user, desk.community.id)
    now = clock.now()
    context = {
        "concerns": [_shown(c, now) for c in waiting["concerns"]],
        "comments": waiting["comments"],
        "cbase": _base(desk),
        "errors": {},
        "values": {},
    }
    return web.render(request, "concerns/review.html", context, desk=desk, nav="concerns")


class ModerationForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"]
    note: str = Field(default="", max_length=400)
    back: Literal["review", "concern"] = "concern"


@router.post("/concerns/{concern_id}/moderate", dependencies=[web.CsrfChecked])
async def moderate(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ModerationForm, Form()]
) -> Response:
    """Approve a concern the check was unsure of, refuse it, take a shown one down or bring it
    back (`concerns.moderate`); refusing needs the reason its raiser is told."""
    session, user = desk.session, desk.viewer.user
    await concern_access.community_concern(session, user, desk.community.id, concern_id)
    approve = form.decision == "approve"
    errors: dict[str, str] = {}
    if not approve and len(form.note) > 200:
        errors["note"] = "最多 200 个字"

    async def save() -> None:
        async with session.begin_nested():
            await concerns.moderate(session, user, concern_id, approve, form.note or None)

    if not errors:
        errors = await _attempt(save) or {}
    if errors:
        context: dict[str, Any] = {"cid": concern_id, "back": form.back, "errors": errors}
        context.update(values={"note": form.note}, cbase=_base(desk))
        return web.render(request, "concerns/_reject.html", context, status_code=422, desk=desk)
    target = f"{_base(desk)}/review" if form.back == "review" else f"{_base(desk)}/{concern_id}"
    return web.redirect(target, request)


@router.post("/concern-comments/{comment_id}/moderate", dependencies=[web.CsrfChecked])
async def moderate_comment(
    comment_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
    back: Annotated[Literal["review", "concern"], Form()] = "review",
) -> Response:
    """Let a comment be seen, or refuse it (one already shown is taken down)."""
    comment = await concerns.moderate_comment(
        desk.session, desk.viewer.user, comment_id, decision == "approve", community_id=desk.community.id
    )
    target = f"{_base(desk)}/review" if back == "review" else f"{_base(desk)}/{comment['concern_id']}"
    return web.redirect(target, request)


# -- one concern ---------------------------------------------------------------------------------------


def _triage_values(c: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What each triage form starts with: the concern's level, responsible party, due date."""
    level = {
        "level": str(c["level"] or ""),
        "responsible": c["responsible"],
        "due_at": _input(c["due_at"]) if c["level"] == 1 else "",
        "note": "",
    }
    return {
        "accept": {"level": "", "responsible": "", "due_at": "", "note": ""},
        "level": level,
        "update": {"body": "", "public": "public"},
        "resolve": {"result": ""},
        "decline": {"outcome": "", "reason": "", "referred_to": "", "duplicate_of": "", "duplicate_id": ""},
    }


async def _concern_context(desk: web.Desk, concern_id: int) -> dict[str, Any]:
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    await concern_access.community_concern(session, user, cid, concern_id)
    c = _shown(await concern_views.concern_detail(session, user, concern_id), clock.now())
    return {
        "c": c,
        "comments": await concerns.comments(session, user, concern_id),
        "options": await concern_views.triage_options(session, user, cid, concern_id),
        "values": _triage_values(c),
        "errors": {},
        "cbase": _base(desk),
        "mbase": f"{web.PREFIX}/c/{cid}/meetings",
        "levels": common.LEVEL_LABELS,
        "labels": LABELS,
        "visibility_labels": VISIBILITY_LABELS,
    }


@router.get("/concerns/{concern_id}")
async def concern_page(concern_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A concern: its facts and photos, the raiser (named, marked when hidden from residents),
    comments, the timeline with staff-only entries marked, the meetings it is on, the verdicts,
    and the actions its state allows."""
    context = await _concern_context(desk, concern_id)
    return web.render(request, "concerns/detail.html", context, desk=desk, nav="concerns")


async def _refused_form(
    request: Request, desk: web.Desk, concern_id: int, form: str, values: dict[str, str], errors: dict[str, str]
) -> Response:
    """A triage form shown again where it was, with what was typed and the messages (422)."""
    context = await _concern_context(desk, concern_id)
    context["values"][form] = values
    context["errors"] = errors
    return web.render(request, f"concerns/_{form}.html", context, status_code=422, desk=desk)


class LevelForm(BaseModel):
    """Accepting at a level, or changing it: text as the browser sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: str = Field(default="", max_length=2)
    responsible: str = Field(default="", max_length=128)
    due_at: str = Field(default="", max_length=40)
    note: str = Field(default="", max_length=1000)


def _read_level(form: LevelForm, tz: ZoneInfo) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {"responsible": form.responsible, "note": form.note, "level": None, "due_at": None}
    errors: dict[str, str] = {}
    if form.level in ("1", "2", "3"):
        values["level"] = int(form.level)
    else:
        errors["level"] = "请选择等级"
    try:
        values["due_at"] = _read_time(form.due_at, tz)
    except ValueError:
        errors["due_at"] = "请按“年-月-日 时:分”填写，如 2026-12-08 18:00"
    return values, errors


async def _level_action(
    request: Request, desk: web.Desk, concern_id: int, form: LevelForm, name: str, model: type[BaseModel]
) -> Response:
    session, user = desk.session, desk.viewer.user
    await concern_access.community_concern(session, user, desk.community.id, concern_id)
    values, errors = _read_level(form, _tz(desk))
    body: BaseModel | None = None
    if not errors:
        try:
            body = model.model_validate(values)
        except ValidationError as exc:
            errors = web.model_errors(exc, LABELS)
    service = concern_triage.accept if name == "accept" else concern_triage.change_level

    async def save() -> None:
        assert body is not None
        async with session.begin_nested():
            await service(session, user, concern_id, body.model_dump())

    if not errors:
        errors = await _attempt(save) or {}
    if errors:
        return await _refused_form(request, desk, concern_id, name, form.model_dump(), errors)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)


@router.post("/concerns/{concern_id}/accept", dependencies=[web.CsrfChecked])
async def accept(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[LevelForm, Form()]
) -> Response:
    """受理 at a level (`concern_triage.accept`): level 1 with the party responsible and a due date,
    level 3 onto the next five-party meeting's agenda (or waiting for one)."""
    return await _level_action(request, desk, concern_id, form, "accept", ConcernAccept)


@router.post("/concerns/{concern_id}/level", dependencies=[web.CsrfChecked])
async def change_level(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[LevelForm, Form()]
) -> Response:
    """Change the level, the party responsible or the due date (`concern_triage.change_level`)."""
    return await _level_action(request, desk, concern_id, form, "level", ConcernLevelChange)


@router.post("/concerns/{concern_id}/start", dependencies=[web.CsrfChecked])
async def start(concern_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await concern_access.community_concern(desk.session, desk.viewer.user, desk.community.id, concern_id)
    await concern_triage.start(desk.session, desk.viewer.user, concern_id)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)


@router.post("/concerns/{concern_id}/close", dependencies=[web.CsrfChecked])
async def close(concern_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await concern_access.community_concern(desk.session, desk.viewer.user, desk.community.id, concern_id)
    await concern_triage.close(desk.session, desk.viewer.user, concern_id)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)


class UpdateForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(default="", max_length=4000)
    public: Literal["public", "note"] = "public"


@router.post("/concerns/{concern_id}/updates", dependencies=[web.CsrfChecked])
async def post_update(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[UpdateForm, Form()]
) -> Response:
    """A public update (its raiser and "me too" hear of it) or a note only staff read."""
    session, user = desk.session, desk.viewer.user
    await concern_access.community_concern(session, user, desk.community.id, concern_id)
    try:
        body = ConcernUpdateCreate.model_validate({"body": form.body, "public": form.public == "public"})
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS)
        return await _refused_form(request, desk, concern_id, "update", form.model_dump(), errors)
    await concern_triage.post_update(session, user, concern_id, body.body, body.public)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)


class ResolveForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    result: str = Field(default="", max_length=4000)


@router.post("/concerns/{concern_id}/resolve", dependencies=[web.CsrfChecked])
async def resolve(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ResolveForm, Form()]
) -> Response:
    """Publish the result (`concern_triage.resolve`): the raiser and "me too" are asked whether it
    is solved."""
    session, user = desk.session, desk.viewer.user
    await concern_access.community_concern(session, user, desk.community.id, concern_id)
    try:
        body = ConcernResolve.model_validate(form.model_dump())
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS)
        return await _refused_form(request, desk, concern_id, "resolve", form.model_dump(), errors)
    await concern_triage.resolve(session, user, concern_id, body.result)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)


class DeclineForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: str = Field(default="", max_length=20)
    reason: str = Field(default="", max_length=1000)
    referred_to: str = Field(default="", max_length=128)
    duplicate_of: str = Field(default="", max_length=20)
    duplicate_id: str = Field(default="", max_length=20)


@router.post("/concerns/{concern_id}/decline", dependencies=[web.CsrfChecked])
async def decline(
    concern_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[DeclineForm, Form()]
) -> Response:
    """Answer it as unresolvable (why), referred (to whom) or a duplicate (of which: chosen from
    the community's open concerns, or its number typed)."""
    session, user = desk.session, desk.viewer.user
    await concern_access.community_concern(session, user, desk.community.id, concern_id)
    errors: dict[str, str] = {}
    if form.outcome not in concern_triage.DECLINED:
        errors["outcome"] = "请选择答复方式"
    chosen = form.duplicate_id or form.duplicate_of
    duplicate_of: int | None = None
    if form.outcome == "duplicate" and chosen:
        if re.fullmatch(r"\d{1,18}", chosen):
            duplicate_of = int(chosen)
        else:
            errors["duplicate_of"] = "应为烦心事的编号（数字）"
    values = {
        "outcome": form.outcome,
        "reason": form.reason if form.outcome == "unresolvable" else "",
        "referred_to": form.referred_to if form.outcome == "referred" else "",
        "duplicate_of": duplicate_of,
    }
    body: ConcernDecline | None = None
    if not errors:
        try:
            body = ConcernDecline.model_validate(values)
        except ValidationError as exc:
            errors = web.model_errors(exc, LABELS)

    async def save() -> None:
        assert body is not None
        async with session.begin_nested():
            await concern_triage.decline(session, user, concern_id, body.model_dump())

    if not errors:
        errors = await _attempt(save) or {}
    if errors:
        return await _refused_form(request, desk, concern_id, "decline", form.model_dump(), errors)
    return web.redirect(f"{_base(desk)}/{concern_id}", request)
