"""Needs surveys in the console (调研问卷): the community's surveys with their state and how many
questionnaires came in; writing a draft (its questions added, removed and moved in the page) and
changing it until it opens; opening, closing early and cancelling; entering paper questionnaires
one after another; the results (per question, and by building with the small groups hidden); the
workbook.

Every change goes through the services the API calls (`services.votes.surveys`, `survey_results`).
The editor's questions are blocks in the form, each with a key of its own (`q` lists the keys in
the page's order, `q-<key>-<field>` holds a block's fields), so that moving or removing a block in
the page (console.js, `surveyQuestions`) needs no renumbering: the order of the blocks is the order
of the questions. A refused form comes back with what was typed and the refusals beside their
fields (a question's beside its block); a paper questionnaire refused keeps what was typed, the
refusal shown above it; once saved, the form comes back empty for the next one (the building
chosen stays)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api import localtime
from api.console import web
from api.console.meetings import refused
from api.deps import IdPath
from api.documents import attachment, xlsx
from api.errors import AppError
from api.schemas.surveys import MAX_QUESTIONS, PaperSurveyEntry, SurveyCancel, SurveyCreate, SurveyUpdate
from api.services import household_file
from api.services.reports import projects
from api.services.votes import common, survey_results, surveys

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

PAGE_SIZE = 20
RESPONDENT_CHOICES = 8  # households a respondent search shows
LONGEST = 10_000  # no field of these forms is longer; a longer one is refused, not cut
KEY = re.compile(r"[a-z0-9]{1,16}")
DIGITS = re.compile(r"\d{1,19}")
QUESTION_FIELD = re.compile(r"^questions\[(\d+)\]\.(\w+)")

# the forms' fields as staff read them (messages name these, never the API's field names)
SURVEY_LABELS = {
    "title": "标题",
    "intro": "说明",
    "anonymous": "匿名或实名",
    "unit": "每人或每户一份",
    "closes_at": "截止时间",
    "project_id": "服务项目",
    "questions": "题目",
    "reason": "取消原因",
}
QUESTION_LABELS = {
    "text": "题目文字",
    "kind": "题型",
    "options": "选项",
    "allow_other": "「其他」",
    "required": "必答",
    "min_choices": "至少选几项",
    "max_choices": "最多选几项",
}
PAPER_LABELS = {
    "member_id": "填写人",
    "household_id": "填写的住户",
    "building": "楼栋",
    "respondent": "填写人",
}
Status = Literal["draft", "open", "closed", "cancelled"]


# -- small pieces ---------------------------------------------------------------------------------


def survey_url(desk: web.Desk, survey_id: int) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/surveys/{survey_id}"


async def _community_survey(desk: web.Desk, survey_id: int) -> None:
    """The survey is this community's and the caller its staff (else 404 / 403)."""
    await common.community_survey(desk.session, desk.viewer.user, desk.community.id, survey_id)


def _local_time(raw: str, tz: ZoneInfo) -> datetime | None:
    """A datetime-local value (the community's time) as an aware datetime; None if it is not one."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _input_time(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str)]


def label_of(name: str, labels: Mapping[str, str] = SURVEY_LABELS) -> str:
    """A field as staff read it: `questions[2].options` is 第 3 题的选项. An answer's refusal
    names its question itself (第 3 题…): it has no label."""
    found = QUESTION_FIELD.match(name)
    if found:
        return f"第 {int(found.group(1)) + 1} 题的{QUESTION_LABELS.get(found.group(2), '内容')}"
    return labels.get(name, "")


def lines_of(errors: Mapping[str, str], labels: Mapping[str, str] = SURVEY_LABELS) -> list[str]:
    """Refusals by field as lines staff read: `第 2 题的选项：选项不能重复`."""
    lines = []
    for name, text in errors.items():
        label = label_of(name, labels)
        lines.append(f"{label}：{text}" if label else text)
    return lines


def _message(error: Mapping[str, Any]) -> str:
    """One refusal of a request model, in Chinese."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("missing", "string_too_short"):
        return "请填写"
    if kind == "string_too_long":
        return f"最多 {ctx.get('max_length')} 个字"
    if kind == "too_short":
        return f"至少 {ctx.get('min_length')} 项"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind == "greater_than_equal":
        return f"不能小于 {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"不能大于 {ctx.get('le')}"
    if kind == "literal_error":
        return "请从列表中选择"
    if kind == "value_error":
        return web.zh_fields(str(ctx.get("error", error["msg"])))
    if any("\u4e00" <= ch <= "\u9fff" for ch in str(error["msg"])):
        return str(error["msg"])  # Linli's own types write Chinese (control characters, times)
    return "填写有误"


def model_refusals(exc: ValidationError) -> dict[str, str]:
    """A request model's refusals by field, a question's (or an answer's) named by its place:
    `questions[2].options`."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) >= 3 and isinstance(loc[1], int):
            name = f"{loc[0]}[{loc[1]}].{loc[2]}"
        elif len(loc) == 2 and isinstance(loc[1], int):
            name = f"{loc[0]}[{loc[1]}].text"
        else:
            name = str(loc[0]) if loc else "_"
        errors.setdefault(name, _message(error))
    return errors


def service_refusals(exc: AppError) -> dict[str, str]:
    """A service's 422 by field (its `invalid_field` details), or its message as a whole."""
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): str(d.get("message")) for d in exc.details}
    if exc.code == "project_not_covering":
        return {"project_id": exc.message}
    return {"_": exc.message}


# -- the list -------------------------------------------------------------------------------------


@router.get("/surveys")
async def surveys_page(
    request: Request,
    desk: web.DeskDep,
    status: Annotated[Status | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The community's surveys, newest first (drafts too), by state, a page at a time (`after` is
    the cursor of the next page), with how many questionnaires each received."""
    listing = await surveys.list_surveys(
        desk.session, desk.viewer.user, desk.community.id, status=status, cursor=after, limit=PAGE_SIZE
    )
    context = {
        "items": listing["items"],
        "next": listing["next_cursor"],
        "paged": after is not None,
        "status": status,
        "statuses": common.SURVEY_STATUS_LABELS,
    }
    return web.render(request, "surveys/list.html", context, desk=desk, nav="surveys")


# -- the editor -----------------------------------------------------------------------------------


def _blank_question(kind: str = "single") -> dict[str, Any]:
    return {
        "key": secrets.token_hex(4),
        "text": "",
        "kind": kind if kind in common.SURVEY_QUESTION_KIND_LABELS else "single",
        "options": "",
        "allow_other": False,
        "required": True,
        "min": "",
        "max": "",
        "errors": [],
    }


def _blank_values() -> dict[str, str]:
    return {"title": "", "intro": "", "anonymous": "1", "unit": "person", "closes_at": "", "project_id": ""}


def _values_of(view: Mapping[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """A draft as its editor shows it."""
    values = {
        "title": view["title"],
        "intro": view["intro"],
        "anonymous": "1" if view["anonymous"] else "0",
        "unit": view["unit"],
        "closes_at": _input_time(view["closes_at"]),
        "project_id": str(view["project_id"] or ""),
    }
    questions = []
    for q in view["questions"]:
        multiple = q["kind"] == "multiple"
        questions.append(
            {
                **_blank_question(q["kind"]),
                "text": q["text"],
                "options": "\n".join(q["options"]),
                "allow_other": q["allow_other"],
                "required": q["required"],
                "min": str(q["min_choices"]) if multiple and q["min_choices"] is not None else "",
                "max": str(q["max_choices"]) if multiple and q["max_choices"] is not None else "",
            }
        )
    return values, questions


def _read_editor(form: FormData) -> tuple[dict[str, str], list[dict[str, Any]], dict[str, str]]:
    """The editor's form as typed: the survey's fields, its question blocks in the page's order,
    and what is refused before any model sees it (a field too long to be meant)."""
    values = {name: _text(form, name) for name in _blank_values()}
    errors: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in _texts(form, "q"):
        if not KEY.fullmatch(key) or key in seen:
            continue  # not a block of this page
        seen.add(key)
        questions.append(
            {
                "key": key,
                "text": _text(form, f"q-{key}-text"),
                "kind": _text(form, f"q-{key}-kind"),
                "options": _text(form, f"q-{key}-options"),
                "allow_other": bool(_text(form, f"q-{key}-other")),
                "required": bool(_text(form, f"q-{key}-required")),
                "min": _text(form, f"q-{key}-min"),
                "max": _text(form, f"q-{key}-max"),
                "errors": [],
            }
        )
    if len(questions) > MAX_QUESTIONS:
        errors["questions"] = f"最多 {MAX_QUESTIONS} 题"
    for name, value in values.items():
        if len(value) > LONGEST:
            errors[name] = f"最多 {LONGEST} 个字"
    for n, q in enumerate(questions):
        if any(len(q[name]) > LONGEST for name in ("text", "options", "min", "max")):
            errors[f"questions[{n}].text"] = "内容太长"
    return values, questions, errors


def _editor_data(
    values: Mapping[str, str], questions: list[dict[str, Any]], tz: ZoneInfo, errors: dict[str, str]
) -> dict[str, Any]:
    """The survey as the API takes it. A scale or text question keeps no options (what was typed
    before its kind was changed is not shown, so it is not sent); only a multiple choice has its
    minimum and maximum."""
    closes_at = None
    if not values["closes_at"]:
        errors.setdefault("closes_at", "请填写")
    else:
        closes_at = _local_time(values["closes_at"], tz)
        if closes_at is None:
            errors.setdefault("closes_at", "请按“年-月-日 时:分”填写，如 2026-12-20 18:00")
    project_id: int | None = None
    if values["project_id"]:
        if DIGITS.fullmatch(values["project_id"]):
            project_id = int(values["project_id"])
        else:
            errors.setdefault("project_id", "请从列表中选择")
    if not questions:
        errors.setdefault("questions", "至少要有一题")
    data_questions = []
    for n, q in enumerate(questions):
        choice = q["kind"] in surveys.CHOICE_KINDS
        limits: dict[str, int | None] = {"min_choices": None, "max_choices": None}
        if q["kind"] == "multiple":
            for field, raw in (("min_choices", q["min"]), ("max_choices", q["max"])):
                if not raw:
                    continue
                if DIGITS.fullmatch(raw):
                    limits[field] = int(raw)
                else:
                    errors.setdefault(f"questions[{n}].{field}", "应为整数")
        lines = [line.strip() for line in q["options"].splitlines()]
        data_questions.append(
            {
                "text": q["text"],
                "kind": q["kind"],
                "options": [line for line in lines if line] if choice else [],
                "allow_other": q["allow_other"] and choice,
                "required": q["required"],
                **limits,
            }
        )
    return {
        "title": values["title"],
        "intro": values["intro"],
        "anonymous": values["anonymous"] != "0",
        "unit": values["unit"],
        "closes_at": closes_at,
        "project_id": project_id,
        "questions": data_questions,
    }


async def _editor(
    request: Request,
    desk: web.Desk,
    values: Mapping[str, str],
    questions: list[dict[str, Any]],
    errors: Mapping[str, str],
    *,
    survey: Mapping[str, Any] | None = None,
    fragment: bool = False,
) -> Response:
    """The editor: a page, or (after a refusal) the form alone, each refusal beside its field
    (a question's in its block) and all of them listed above."""
    for n, q in enumerate(questions):
        q["errors"] = [
            f"{QUESTION_LABELS.get(name.split('.', 1)[1], '')}：{text}".lstrip("：")
            for name, text in errors.items()
            if name.startswith(f"questions[{n}].")
        ]
    cbase = f"{web.PREFIX}/c/{desk.community.id}"
    context = {
        "values": values,
        "questions": questions,
        "errors": errors,
        "summary": lines_of(errors),
        "survey": survey,
        "action": f"{survey_url(desk, survey['id'])}/edit" if survey else f"{cbase}/surveys",
        "projects": await projects.covering(desk.session, desk.viewer.user, desk.community.id),
        "units": common.SURVEY_UNIT_LABELS,
        "kinds": common.SURVEY_QUESTION_KIND_LABELS,
        "cbase": cbase,
    }
    if fragment:
        return web.render(request, "surveys/_editor.html", context, status_code=422, desk=desk)
    return web.render(request, "surveys/edit.html", context, desk=desk, nav="surveys")


@router.get("/surveys/new")
async def new_survey(request: Request, desk: web.DeskDep) -> Response:
    """A new draft's editor, with one single-choice question to start from."""
    return await _editor(request, desk, _blank_values(), [_blank_question()], {})


@router.get("/surveys/question")
async def question_block(
    request: Request,
    desk: web.DeskDep,
    kind: Annotated[Literal["single", "multiple", "scale", "text"], Query()] = "single",
) -> Response:
    """A new question's block, added at the end of the editor's questions (its text focused)."""
    context = {"q": _blank_question(kind), "kinds": common.SURVEY_QUESTION_KIND_LABELS, "focus": True}
    return web.render(request, "surveys/_question.html", context, desk=desk)


async def _save(
    request: Request, desk: web.Desk, survey: Mapping[str, Any] | None
) -> tuple[Response | None, dict[str, Any]]:
    """Read the editor, check it with the API's model, and create (or change) the draft through
    the service in a savepoint: the editor back with the refusals, or the survey."""
    values, questions, errors = _read_editor(await request.form())
    data = _editor_data(values, questions, ZoneInfo(desk.community.timezone), errors)
    body: SurveyCreate | SurveyUpdate | None = None
    if not errors:
        try:
            body = (SurveyUpdate if survey else SurveyCreate).model_validate(data)
        except ValidationError as exc:
            errors = model_refusals(exc)
    if body is None:
        return await _editor(request, desk, values, questions, errors, survey=survey, fragment=True), {}
    session, user = desk.session, desk.viewer.user
    try:
        async with session.begin_nested():
            if survey:
                saved = await surveys.update_survey(session, user, survey["id"], body.model_dump(exclude_unset=True))
            else:
                saved = await surveys.create_survey(session, user, desk.community.id, body.model_dump())
    except AppError as exc:
        if exc.status != 422:
            raise
        refusal = service_refusals(exc)
        return await _editor(request, desk, values, questions, refusal, survey=survey, fragment=True), {}
    return None, saved


@router.post("/surveys", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep) -> Response:
    """A new draft (`surveys.create_survey`); only staff see it until it opens."""
    refusal, made = await _save(request, desk, None)
    return refusal or web.redirect(survey_url(desk, made["id"]), request)


@router.get("/surveys/{survey_id}/edit")
async def edit_page(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A draft's editor (once opened, its questions are fixed: to the survey's page)."""
    await _community_survey(desk, survey_id)
    view = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    if view["status"] != "draft":
        return RedirectResponse(survey_url(desk, survey_id), status_code=303)
    values, questions = _values_of(view)
    return await _editor(request, desk, values, questions, {}, survey=view)


@router.post("/surveys/{survey_id}/edit", dependencies=[web.CsrfChecked])
async def edit(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The draft as the editor has it now, questions and all (`surveys.update_survey`; 409 once
    opened, to #flash)."""
    await _community_survey(desk, survey_id)
    view = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    refusal, _ = await _save(request, desk, view)
    return refusal or web.redirect(survey_url(desk, survey_id), request)


# -- the survey's page ----------------------------------------------------------------------------


async def _survey_context(desk: web.Desk, survey_id: int) -> dict[str, Any]:
    s = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    project = None
    if s["project_id"] is not None:
        names = dict(await projects.covering(desk.session, desk.viewer.user, desk.community.id))
        project = names.get(s["project_id"], f"服务项目 {s['project_id']}")
    return {"s": s, "here": survey_url(desk, survey_id), "project": project, "channels": common.SURVEY_CHANNEL_LABELS}


async def _survey_section(request: Request, desk: web.Desk, survey_id: int) -> Response:
    """The survey's state and next step, as it is now (a change of state re-renders it)."""
    return web.render(request, "surveys/_survey.html", await _survey_context(desk, survey_id), desk=desk)


@router.get("/surveys/{survey_id}")
async def survey_page(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_survey(desk, survey_id)
    context = await _survey_context(desk, survey_id)
    return web.render(request, "surveys/detail.html", context, desk=desk, nav="surveys")


@router.post("/surveys/{survey_id}/open", dependencies=[web.CsrfChecked])
async def open_survey(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """draft → open (`surveys.open_survey`: the community's residents hear of it)."""
    await _community_survey(desk, survey_id)
    await surveys.open_survey(desk.session, desk.viewer.user, survey_id)
    return await _survey_section(request, desk, survey_id)


@router.post("/surveys/{survey_id}/close", dependencies=[web.CsrfChecked])
async def close_survey(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """open → closed before its time (`surveys.close_survey`)."""
    await _community_survey(desk, survey_id)
    await surveys.close_survey(desk.session, desk.viewer.user, survey_id)
    return await _survey_section(request, desk, survey_id)


@router.post("/surveys/{survey_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel_survey(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """draft or open → cancelled, with the reason residents read (`surveys.cancel_survey`)."""
    await _community_survey(desk, survey_id)
    reason = _text(await request.form(), "reason")
    try:
        body = SurveyCancel.model_validate({"reason": reason})
    except ValidationError as exc:
        return refused(request, "cancel-form", lines_of(model_refusals(exc)))
    await surveys.cancel_survey(desk.session, desk.viewer.user, survey_id, body.reason)
    return await _survey_section(request, desk, survey_id)


# -- paper questionnaires -------------------------------------------------------------------------


async def _paper_context(desk: web.Desk, survey_id: int, building: str = "") -> dict[str, Any]:
    s = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    buildings = await household_file.buildings(desk.session, desk.viewer.user, desk.community.id)
    return {"s": s, "here": survey_url(desk, survey_id), "buildings": buildings, "building": building}


@router.get("/surveys/{survey_id}/paper")
async def paper_page(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The paper questionnaire's form, for one questionnaire after another."""
    await _community_survey(desk, survey_id)
    context = await _paper_context(desk, survey_id)
    return web.render(request, "surveys/paper.html", context, desk=desk, nav="surveys")


@router.get("/surveys/{survey_id}/paper/respondents")
async def respondents(
    survey_id: IdPath, request: Request, desk: web.DeskDep, q: Annotated[str, Query(max_length=32)] = ""
) -> Response:
    """The community's households whose address or member's name matches, to name the respondent:
    each adult or elder (a survey per person), or the household (a survey per household)."""
    await _community_survey(desk, survey_id)
    view = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    found: dict[str, Any] = {"items": [], "has_next": False}
    if q.strip():
        found = await household_file.search(
            desk.session,
            desk.viewer.user,
            desk.community.id,
            building=None,
            q=q.strip(),
            page=1,
            per_page=RESPONDENT_CHOICES,
        )
    context = {"found": found["items"], "more": found["has_next"], "q": q.strip(), "unit": view["unit"]}
    return web.render(request, "surveys/_respondents.html", context)


def _paper_answers(questions: list[dict[str, Any]], form: FormData, errors: dict[str, str]) -> list[dict[str, Any]]:
    """The answers as the API takes them (a question left blank is left out); what cannot be an
    answer is noted in `errors` under `answer-<n>`, its message naming the question."""
    given: list[dict[str, Any]] = []
    for q in questions:
        n = q["index"]
        name, where, label = f"a{n}", f"answer-{n}", f"第 {n + 1} 题"
        if q["kind"] in surveys.CHOICE_KINDS:
            other = _text(form, f"{name}-other")
            options = set()
            for value in _texts(form, name):
                if not value:
                    continue
                if value == "other":
                    if not other:
                        errors.setdefault(where, f"{label}选了「其他」，请注明内容")
                elif DIGITS.fullmatch(value) and int(value) < len(q["options"]):
                    options.add(int(value))
                else:
                    errors.setdefault(where, f"{label}的选项有误，请刷新页面后重填")
            if options or other:
                given.append({"question": n, "options": sorted(options), "other": other})
        elif q["kind"] == "scale":
            value = _text(form, name)
            if value in ("1", "2", "3", "4", "5"):
                given.append({"question": n, "scale": int(value)})
            elif value:
                errors.setdefault(where, f"{label}请打 1–5 分")
        elif text := _text(form, name):
            given.append({"question": n, "text": text})
    return given


def _respondent(raw: str, errors: dict[str, str]) -> dict[str, int]:
    """The respondent chosen: `m:<member id>` or `h:<household id>` (none: an empty value)."""
    if not raw:
        return {}
    kind, _, number = raw.partition(":")
    if kind in ("m", "h") and DIGITS.fullmatch(number):
        return {"member_id" if kind == "m" else "household_id": int(number)}
    errors["respondent"] = "请从查找结果中选择"
    return {}


@router.post("/surveys/{survey_id}/paper", dependencies=[web.CsrfChecked])
async def enter_paper(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """One paper questionnaire (`surveys.enter_paper`, in a savepoint): refused, it stays as typed
    with the refusal above it (a respondent who already answered, in the app or on paper, too);
    saved, the form comes back empty for the next one, the building chosen kept."""
    await _community_survey(desk, survey_id)
    view = await surveys.survey_view(desk.session, desk.viewer.user, survey_id)
    form = await request.form()
    errors: dict[str, str] = {}
    given = _paper_answers(view["questions"], form, errors)
    who = _respondent(_text(form, "respondent"), errors)
    building = _text(form, "building")
    if not given and not errors:
        errors["answers"] = "还没有填写任何回答"
    body: PaperSurveyEntry | None = None
    if not errors:
        values: dict[str, Any] = {"answers": given, **who}
        if building and not who:
            values["building"] = building
        try:
            body = PaperSurveyEntry.model_validate(values)
        except ValidationError as exc:
            for name, text in model_refusals(exc).items():
                found = re.match(r"answers\[(\d+)\]", name)
                n = given[int(found.group(1))]["question"] if found else None
                errors.setdefault(name, f"第 {n + 1} 题：{text}" if n is not None else text)
    if body is None:
        return refused(request, "paper-form", lines_of(errors, PAPER_LABELS))
    session, user = desk.session, desk.viewer.user
    try:
        async with session.begin_nested():
            entered = await surveys.enter_paper(
                session,
                user,
                survey_id,
                [a.model_dump() for a in body.answers],
                member_id=body.member_id,
                household_id=body.household_id,
                building=body.building,
            )
    except AppError as exc:
        if exc.status == 422:
            return refused(request, "paper-form", lines_of(service_refusals(exc), PAPER_LABELS))
        if exc.code == "survey_already_answered":
            return refused(request, "paper-form", [exc.message + "，这份问卷没有保存"])
        raise
    context = {**await _paper_context(desk, survey_id, building), "saved": entered}
    return web.render(request, "surveys/_paper_form.html", context, desk=desk)


# -- results --------------------------------------------------------------------------------------


@router.get("/surveys/{survey_id}/results")
async def results_page(survey_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Per question its counts and percentages (a scale's distribution and mean, the texts and
    "other" answers listed), and by building with the groups (and a question's cells) under five
    hidden. An anonymous survey's once it has ended: before, the page says when, with how many
    questionnaires came in by channel."""
    await _community_survey(desk, survey_id)
    session, user = desk.session, desk.viewer.user
    s = await surveys.survey_view(session, user, survey_id)
    context = {"s": s, "here": survey_url(desk, survey_id), "channels": common.SURVEY_CHANNEL_LABELS}
    if not s["results_available"]:
        return web.render(request, "surveys/results_later.html", context, desk=desk, nav="surveys")
    context["r"] = await survey_results.results(session, user, survey_id)
    return web.render(request, "surveys/results.html", context, desk=desk, nav="surveys")


@router.get("/surveys/{survey_id}/export.xlsx")
async def export(survey_id: IdPath, desk: web.DeskDep) -> Response:
    """Every questionnaire received, one row each (`survey_results.export`; an anonymous survey's
    once it has ended, else 409 like the API)."""
    await _community_survey(desk, survey_id)
    data = await survey_results.export(desk.session, desk.viewer.user, survey_id)
    name = f"{survey_id}.xlsx"
    return Response(
        data,
        media_type=xlsx.CONTENT_TYPE,
        headers={"Content-Disposition": attachment("需求调研-" + name, "survey-" + name)},
    )
