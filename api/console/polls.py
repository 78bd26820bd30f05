"""Polls and elections in the console (投票选举): the community's polls with their phase, standing
(意向征询 / 业主大会表决 / 选举) and turnout; a new draft poll or election and editing it (the electorate
with a live preview of who would be on the roll, the rule and its thresholds, the times, the
questions with their options one per line — art. 278 questions prefilled 同意/反对/弃权 with 同意
approving — or the candidates, the seats and the tie rule); publishing and cancelling; the roll
(searched by address, who took part and how, objections answered with an elector struck or added);
paper ballots and proxies entered for an elector found on the roll, with the photo of the ballot or
the authorisation (a secret poll's paper ballot without one; its receipt shown once, to write on the
paper); live turnout (counts,
never choices) while voting; and after the close the results with every threshold's figures, the
election's ties settled by lot or sent to a run-off, and the XLSX export.

Every read and change goes through the services the API calls (`services.votes`: `polls`, `roll`,
`voting`, `results`); they check that the caller is staff here and that the poll is in a phase
that allows the change. A form refused on its fields comes back with the refusals beside them
(422); a refusal about the poll's state (409: already voted, area missing, not a draft…) goes to
the page's #flash line as everywhere in the console.

Results are hidden from staff too until the close: the poll's page asks for them only once the
close has passed. If the worker has not counted the poll yet, the page asks for the count with a
POST of its own (`/tally`), so that a page view stays a reader.

The draft's form is one form whose questions and candidates grow and shrink on the server: the
buttons to add or remove one, and a change of rule or kind, send the form as it is and get it back
re-rendered (nothing saved); a change of electorate asks only for the preview of the roll."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from api import clock, localtime
from api.console import uploads, web
from api.console.meetings import attempt, messages, refused, service_errors, validated
from api.db.models import Poll
from api.deps import IdPath, SettingsDep
from api.documents import attachment, xlsx
from api.errors import AppError
from api.pagination import MAX_ID
from api.schemas.poll_results import TieResolve
from api.schemas.polls import (
    PollCancel,
    PollCandidate,
    PollCreate,
    PollEntryCreate,
    PollObjectionAnswer,
    PollQuestion,
)
from api.services import household_file
from api.services.feed import media
from api.services.votes import common, polls, results, roll, voting

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

LIST_PAGE = 20
ROLL_PAGE = 50
SEARCH_LIMIT = 12  # electors or households offered by a search
TURNOUT_POLL_SECONDS = 30
MAX_FORM_QUESTIONS = polls.MAX_QUESTIONS
MAX_FORM_CANDIDATES = 100
BLANK_CANDIDATES = 3  # rows of a new election's candidates
ART278_OPTIONS = ("同意", "反对", "弃权")
DIGITS = re.compile(r"\d{1,19}")
XLSX = ".xlsx"  # the export's suffix (kept out of the file's Chinese name)

Status = Literal["draft", "scheduled", "open", "closed", "cancelled"]
CursorQuery = Annotated[str | None, Query(max_length=512)]
SearchQuery = Annotated[str, Query(max_length=64)]

# each form's fields as staff read them (messages name these, never the API's field names)
POLL_LABELS = {
    "kind": "类型",
    "title": "名称",
    "body": "说明",
    "electorate": "投票单位",
    "rule": "计票规则",
    "quorum_percent": "参与率门槛",
    "special_majority": "四分之三特别多数",
    "owners_assembly": "业主大会表决",
    "secret": "无记名投票",
    "objection_days": "名册公示天数",
    "opens_at": "开始时间",
    "closes_at": "截止时间",
    "seats": "应选人数",
    "tie_rule": "票数相同时",
    "questions": "题目",
    "candidates": "候选人",
}
QUESTION_LABELS = {
    "text": "题目",
    "kind": "单选或多选",
    "min": "最少选几项",
    "max": "最多选几项",
    "min_choices": "最少选几项",
    "max_choices": "最多选几项",
    "allow_text": "可以填写意见",
    "options": "选项",
    "approves": "表示同意的选项",
}
CANDIDATE_LABELS = {"name": "姓名", "statement": "简介"}
# a question's fields in the API (and the services' messages) → the form's
QUESTION_FIELDS = {"text": "text", "kind": "kind", "min_choices": "min", "max_choices": "max", "options": "options"}
CANCEL_LABELS = {"reason": "取消原因"}
ENTRY_LABELS = {
    "elector_id": "选民",
    "channel": "方式",
    "answers": "选票",
    "photo_media_id": "照片",
    "proxy_name": "受托人姓名",
    "file": "照片",
}
OBJECTION_LABELS = {
    "status": "答复结论",
    "answer": "答复",
    "strike_elector_id": "划去的选民",
    "add_member_id": "补登的居民",
    "add_household_id": "补登的户",
}
TIE_LABELS = {"elected": "抽中的候选人", "note": "抽签记录"}


@dataclass
class Page:
    """A page of a list as the services take it (`roll.PageLike`)."""

    cursor: str | None
    limit: int


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/polls"


def poll_url(desk: web.Desk, poll_id: int) -> str:
    return f"{_base(desk)}/{poll_id}"


async def _community_poll(desk: web.Desk, poll_id: int) -> Poll:
    """The poll, if it is this community's (another community's is not found here: 404)."""
    return await common.community_poll(desk.session, desk.viewer.user, desk.community.id, poll_id)


def _number(raw: str, name: str, errors: dict[str, str]) -> int | None:
    """A whole number typed into a form (empty: None); what is not one is noted in `errors`."""
    raw = raw.strip()
    if not raw:
        return None
    if DIGITS.fullmatch(raw):
        return int(raw)
    errors[name] = "应为整数"
    return None


def _local_time(raw: str, name: str, tz: ZoneInfo, errors: dict[str, str]) -> datetime | None:
    """A datetime-local value (the community's time) as an aware datetime (empty: None)."""
    raw = raw.strip()
    if not raw:
        errors[name] = "请填写"
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


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# -- the list ------------------------------------------------------------------------------------------


@router.get("/polls")
async def polls_page(
    request: Request,
    desk: web.DeskDep,
    status: Annotated[Status | None, Query()] = None,
    cursor: CursorQuery = None,
) -> Response:
    """The community's polls and elections, latest close first (drafts too), a page at a time, with
    their phase, standing and turnout (counts: staff see it while voting)."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    found = await polls.list_polls(session, user, cid, status, Page(cursor, LIST_PAGE))
    turnouts: dict[int, dict[str, Any]] = {}
    for p in found["items"]:
        if p["phase"] in ("voting", "closed"):
            turnouts[p["id"]] = await voting.turnout(session, user, p["id"])
    context = {
        "items": found["items"],
        "turnouts": turnouts,
        "next_cursor": found["next_cursor"],
        "paged": cursor is not None,
        "status": status,
        "statuses": common.POLL_STATUS_LABELS,
        "pbase": _base(desk),
    }
    return web.render(request, "polls/list.html", context, desk=desk, nav="polls")


# -- the draft's form ------------------------------------------------------------------------------------


def _blank_question(rule: str) -> dict[str, Any]:
    art278 = rule == "art278"
    return {
        "text": "",
        "kind": "single",
        "min": "",
        "max": "",
        "allow_text": False,
        "options": "\n".join(ART278_OPTIONS) if art278 else "",
        "approves": ART278_OPTIONS[0] if art278 else "",
    }


def _blank_candidate() -> dict[str, str]:
    return {"name": "", "statement": ""}


def _blank(kind: str) -> dict[str, Any]:
    """A new draft's form: voting from the next full hour for a week."""
    now = clock.now().astimezone(localtime.response_zone())
    opens = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    election = kind == "election"
    return {
        "kind": kind,
        "title": "",
        "body": "",
        "electorate": "household",
        "rule": "majority",
        "quorum_percent": "",
        "special_majority": False,
        "owners_assembly": False,
        "secret": election,
        "objection_days": "0",
        "opens_at": _input_time(opens),
        "closes_at": _input_time(opens + timedelta(days=7)),
        "seats": "1" if election else "",
        "tie_rule": "lot" if election else "",
        "questions": [] if election else [_blank_question("majority")],
        "candidates": [_blank_candidate() for _ in range(BLANK_CANDIDATES)] if election else [],
    }


def _values_of(view: dict[str, Any]) -> dict[str, Any]:
    """A draft as its form shows it (editing)."""
    election = view["kind"] == "election"
    questions = []
    for q in [] if election else view["questions"]:
        approving = [o["label"] for o in q["options"] if o["approves"]]
        multiple = q["kind"] == "multiple"
        questions.append(
            {
                "text": q["text"],
                "kind": q["kind"],
                "min": str(q["min_choices"]) if multiple else "",
                "max": str(q["max_choices"]) if multiple else "",
                "allow_text": q["allow_text"],
                "options": "\n".join(o["label"] for o in q["options"]),
                "approves": approving[0] if approving else "",
            }
        )
    return {
        "kind": view["kind"],
        "title": view["title"],
        "body": view["body"],
        "electorate": view["electorate"],
        "rule": view["rule"],
        "quorum_percent": "" if view["quorum_percent"] is None else str(view["quorum_percent"]),
        "special_majority": view["special_majority"],
        "owners_assembly": view["owners_assembly"],
        "secret": view["secret"],
        "objection_days": str(view["objection_days"]),
        "opens_at": _input_time(view["opens_at"]),
        "closes_at": _input_time(view["closes_at"]),
        "seats": "" if view["seats"] is None else str(view["seats"]),
        "tie_rule": view["tie_rule"] or "",
        "questions": questions,
        "candidates": [{"name": c["name"], "statement": c["statement"]} for c in view["candidates"]],
    }


def _count(form: FormData, name: str, upper: int) -> int:
    raw = _text(form, name)
    return min(int(raw), upper) if DIGITS.fullmatch(raw) else 0


def _read_form(form: FormData) -> tuple[dict[str, Any], str]:
    """The draft's form as typed, and what was asked (save, refresh, add or remove a row)."""
    kind = "election" if _text(form, "kind") == "election" else "poll"
    questions = [
        {
            "text": _text(form, f"q-{i}-text"),
            "kind": _text(form, f"q-{i}-kind") or "single",
            "min": _text(form, f"q-{i}-min"),
            "max": _text(form, f"q-{i}-max"),
            "allow_text": bool(_text(form, f"q-{i}-allow_text")),
            "options": _text(form, f"q-{i}-options"),
            "approves": _text(form, f"q-{i}-approves"),
        }
        for i in range(_count(form, "question_count", MAX_FORM_QUESTIONS))
    ]
    candidates = [
        {"name": _text(form, f"c-{i}-name"), "statement": _text(form, f"c-{i}-statement")}
        for i in range(_count(form, "candidate_count", MAX_FORM_CANDIDATES))
    ]
    values = {
        "kind": kind,
        "title": _text(form, "title"),
        "body": _text(form, "body"),
        "electorate": _text(form, "electorate"),
        "rule": _text(form, "rule") or "majority",
        "quorum_percent": _text(form, "quorum_percent"),
        "special_majority": bool(_text(form, "special_majority")),
        "owners_assembly": bool(_text(form, "owners_assembly")),
        "secret": bool(_text(form, "secret")),
        "objection_days": _text(form, "objection_days"),
        "opens_at": _text(form, "opens_at"),
        "closes_at": _text(form, "closes_at"),
        "seats": _text(form, "seats"),
        "tie_rule": _text(form, "tie_rule"),
        "questions": questions,
        "candidates": candidates,
    }
    return values, _text(form, "action") or "save"


def _rearranged(values: dict[str, Any], action: str) -> dict[str, Any]:
    """The form after a button that changes its shape: a question or candidate more or fewer; a
    change of rule (art. 278, for a poll or an election: the electorate is the flats, the ballot
    open, and a poll's blank questions get 同意/反对/弃权) or of kind (an election's candidates, a
    poll's questions)."""
    rule = values["rule"]
    questions, candidates = values["questions"], values["candidates"]
    if action == "add_question" and len(questions) < MAX_FORM_QUESTIONS:
        questions.append(_blank_question(rule))
    elif action == "add_candidate" and len(candidates) < MAX_FORM_CANDIDATES:
        candidates.append(_blank_candidate())
    elif action.startswith("remove_question-"):
        index = _count_of(action)
        if index is not None and index < len(questions):
            questions.pop(index)
    elif action.startswith("remove_candidate-"):
        index = _count_of(action)
        if index is not None and index < len(candidates):
            candidates.pop(index)
    elif action == "refresh":
        if rule == "art278":  # by flat (polls and elections alike), and so never secret
            values["electorate"], values["secret"] = "flat", False
            for q in questions:
                if not q["options"].strip():
                    q.update(kind="single", options="\n".join(ART278_OPTIONS), approves=ART278_OPTIONS[0])
        if values["kind"] == "election" and not candidates:
            candidates.extend(_blank_candidate() for _ in range(BLANK_CANDIDATES))
            values["seats"] = values["seats"] or "1"
            values["tie_rule"] = values["tie_rule"] or "lot"
        if values["kind"] == "poll" and not questions:
            questions.append(_blank_question(rule))
    return values


def _count_of(action: str) -> int | None:
    tail = action.rsplit("-", 1)[-1]
    return int(tail) if DIGITS.fullmatch(tail) else None


def _blank_row(row: dict[str, Any], *names: str) -> bool:
    return not any(str(row[name]).strip() for name in names)


def _prefixed(errors: dict[str, str], prefix: str) -> dict[str, str]:
    return {f"{prefix}{QUESTION_FIELDS.get(name, name)}": text for name, text in errors.items()}


def _poll_data(values: dict[str, Any], tz: ZoneInfo) -> tuple[dict[str, Any], dict[str, str], dict[str, int]]:
    """The draft's fields as the services take them (`polls.create_poll`'s `data`), the refusals
    found on the way (by the form's field names: `title`, `q-0-options`, `c-1-name`), and which
    form row each question or candidate sent came from (blank rows are left out)."""
    errors: dict[str, str] = {}
    rows: dict[str, int] = {}
    rule = values["rule"]
    data: dict[str, Any] = {
        "kind": values["kind"],
        "title": values["title"],
        "body": values["body"],
        "electorate": values["electorate"],
        "rule": rule,
        "quorum_percent": _number(values["quorum_percent"], "quorum_percent", errors) if rule == "quorum" else None,
        "special_majority": values["special_majority"] and rule == "art278" and values["kind"] == "poll",
        "owners_assembly": values["owners_assembly"] and rule == "art278",
        "secret": values["secret"],
        "objection_days": _number(values["objection_days"], "objection_days", errors) or 0,
        "opens_at": _local_time(values["opens_at"], "opens_at", tz, errors),
        "closes_at": _local_time(values["closes_at"], "closes_at", tz, errors),
        "questions": [],
        "candidates": [],
        "seats": None,
        "tie_rule": None,
    }
    if values["kind"] == "election":
        data["seats"] = _number(values["seats"], "seats", errors)
        data["tie_rule"] = values["tie_rule"] or None
        for i, c in enumerate(values["candidates"]):
            if _blank_row(c, "name", "statement"):
                continue
            candidate = {"name": c["name"], "statement": c["statement"]}
            checked = validated(PollCandidate, candidate, CANDIDATE_LABELS)
            if isinstance(checked, dict):
                errors.update({f"c-{i}-{name}": text for name, text in checked.items()})
            rows[f"candidates[{len(data['candidates'])}]"] = i
            data["candidates"].append(candidate)
        return data, errors, rows
    for i, q in enumerate(values["questions"]):
        if _blank_row(q, "text", "options"):
            continue
        labels = [line.strip() for line in q["options"].splitlines() if line.strip()]
        if len(labels) < 2:
            errors[f"q-{i}-options"] = "至少要有两个选项，每行写一个"
        approves = q["approves"].strip()
        if rule == "art278" and approves and approves not in labels:
            errors[f"q-{i}-approves"] = "应与上面的某一个选项完全一样，如 同意"
        question: dict[str, Any] = {
            "text": q["text"],
            "kind": q["kind"],
            "allow_text": q["allow_text"],
            "options": [{"label": label, "approves": rule == "art278" and label == approves} for label in labels],
        }
        if q["kind"] == "multiple":
            question["min_choices"] = _number(q["min"], f"q-{i}-min", errors)
            question["max_choices"] = _number(q["max"], f"q-{i}-max", errors)
        checked_q = validated(PollQuestion, question, QUESTION_LABELS)
        if isinstance(checked_q, dict):
            for key, text in _prefixed(checked_q, f"q-{i}-").items():
                errors.setdefault(key, text)
        rows[f"questions[{len(data['questions'])}]"] = i
        data["questions"].append(question)
    return data, errors, rows


def _form_key(field: str, rows: dict[str, int]) -> str:
    """A service's field (`questions[1].options`) as the form names it (`q-2-options`: the row)."""
    found = re.fullmatch(r"(questions|candidates)\[(\d+)\](?:\.([a-z_]+))?.*", field)
    if found is None:
        return field
    what, index, name = found.groups()
    row = rows.get(f"{what}[{index}]", int(index))
    prefix = "q" if what == "questions" else "c"
    name = QUESTION_FIELDS.get(name or "", name or ("options" if prefix == "q" else "name"))
    return f"{prefix}-{row}-{name}"


def _service_refusals(exc: AppError, rows: dict[str, int]) -> dict[str, str]:
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {
            _form_key(str(d.get("field")), rows): web.zh_fields(str(d.get("message")), POLL_LABELS) for d in exc.details
        }
    return {"_": web.zh_fields(exc.message, POLL_LABELS)}


def field_label(key: str) -> str:
    """A refusal's field as staff read it: 名称, 第2题的选项, 第1位候选人的姓名."""
    found = re.fullmatch(r"([qc])-(\d+)-([a-z_]+)", key)
    if found is None:
        return POLL_LABELS.get(key, "")
    prefix, row, name = found.groups()
    if prefix == "q":
        return f"第{int(row) + 1}题的{QUESTION_LABELS.get(name, name)}"
    return f"第{int(row) + 1}位候选人的{CANDIDATE_LABELS.get(name, name)}"


async def _form_context(
    desk: web.Desk, values: dict[str, Any], errors: dict[str, str], poll_id: int | None = None
) -> dict[str, Any]:
    preview = None
    if values["electorate"] in common.ELECTORATE_LABELS:
        electorate = values["electorate"]
        preview = await polls.electorate_preview(desk.session, desk.viewer.user, desk.community.id, electorate)
    return {
        "values": values,
        "errors": errors,
        "labels": {key: field_label(key) for key in errors},
        "preview": preview,
        "electorates": common.ELECTORATE_LABELS,
        "rules": common.RULE_LABELS,
        "tie_rules": common.TIE_RULE_LABELS,
        "kinds": common.KIND_LABELS,
        "standing": common.standing_of(values["kind"], values["rule"], values["owners_assembly"]),
        "poll_id": poll_id,
        "action": f"{_base(desk)}/{poll_id}/edit" if poll_id else _base(desk),
        "pbase": _base(desk),
        "max_questions": MAX_FORM_QUESTIONS,
        "max_candidates": MAX_FORM_CANDIDATES,
    }


async def _form(
    request: Request, desk: web.Desk, values: dict[str, Any], errors: dict[str, str], poll_id: int | None = None
) -> Response:
    context = await _form_context(desk, values, errors, poll_id)
    status = 422 if errors else 200
    return web.render(request, "polls/_form.html", context, status_code=status, desk=desk)


async def _save(request: Request, desk: web.Desk, poll_id: int | None) -> Response:
    """The draft's form sent: re-rendered if a button changed its shape; else checked and saved
    (`polls.create_poll` or `polls.update_poll`), or re-rendered with the refusals."""
    form = await request.form(max_files=0, max_fields=4 * MAX_FORM_CANDIDATES + 10 * MAX_FORM_QUESTIONS + 40)
    values, action = _read_form(form)
    if action != "save":
        return await _form(request, desk, _rearranged(values, action), {}, poll_id)
    data, errors, rows = _poll_data(values, ZoneInfo(desk.community.timezone))
    body = validated(PollCreate, data, POLL_LABELS)
    if isinstance(body, dict):
        # a question's or a candidate's own refusals were found row by row
        if any(key.startswith(("q-", "c-")) for key in errors):
            body = {k: v for k, v in body.items() if k not in ("questions", "candidates")}
        errors = {**body, **errors}
    if errors or isinstance(body, dict):
        return await _form(request, desk, values, errors or {"_": "填写有误"}, poll_id)
    session, user = desk.session, desk.viewer.user
    try:
        async with session.begin_nested():
            if poll_id is None:
                made = await polls.create_poll(session, user, desk.community.id, body.model_dump())
            else:
                made = await polls.update_poll(session, user, poll_id, body.model_dump())
    except AppError as exc:
        if exc.status != 422:
            raise
        return await _form(request, desk, values, _service_refusals(exc, rows), poll_id)
    return web.redirect(poll_url(desk, made["id"]), request)


@router.get("/polls/new")
async def new_page(
    request: Request, desk: web.DeskDep, kind: Annotated[Literal["poll", "election"], Query()] = "poll"
) -> Response:
    """A new draft poll or election."""
    context = await _form_context(desk, _blank(kind), {})
    return web.render(request, "polls/new.html", context, desk=desk, nav="polls")


@router.post("/polls", dependencies=[web.CsrfChecked])
async def create(request: Request, desk: web.DeskDep) -> Response:
    """A new draft (`polls.create_poll`), or the form again (a row added or removed, the rule or kind
    changed, or refusals beside the fields)."""
    return await _save(request, desk, None)


@router.get("/polls/electorate")
async def electorate(
    request: Request,
    desk: web.DeskDep,
    electorate: Annotated[Literal["resident", "household", "flat"], Query()] = "household",
) -> Response:
    """Who would be on the roll if it were taken now (`polls.electorate_preview`): the form asks for
    it when the electorate changes."""
    preview = await polls.electorate_preview(desk.session, desk.viewer.user, desk.community.id, electorate)
    return web.render(request, "polls/_preview.html", {"preview": preview, "community": desk.community})


@router.get("/polls/{poll_id}/edit")
async def edit_page(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The draft's form, filled in (only a draft can be changed: 409 otherwise)."""
    polls.require_draft(await _community_poll(desk, poll_id), "修改")
    view = await polls.poll_view(desk.session, desk.viewer.user, poll_id)
    context = {**await _form_context(desk, _values_of(view), {}, poll_id), "p": view}
    return web.render(request, "polls/edit.html", context, desk=desk, nav="polls")


@router.post("/polls/{poll_id}/edit", dependencies=[web.CsrfChecked])
async def edit(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The draft changed (`polls.update_poll`: drafts only, checked as a whole again)."""
    await _community_poll(desk, poll_id)
    return await _save(request, desk, poll_id)


# -- one poll -----------------------------------------------------------------------------------------


async def poll_context(desk: web.Desk, poll_id: int) -> dict[str, Any]:
    """The poll's page: the poll as staff see it (turnout while voting), and after the close its
    results (only once counted: the page asks for the count itself otherwise)."""
    p = await polls.poll_view(desk.session, desk.viewer.user, poll_id)
    counted = p["status"] == "closed"
    result = await results.results(desk.session, desk.viewer.user, poll_id) if counted else None
    return {
        "p": p,
        "r": result,
        "here": poll_url(desk, poll_id),
        "pbase": _base(desk),
        "poll_seconds": TURNOUT_POLL_SECONDS,
    }


@router.get("/polls/{poll_id}")
async def poll_page(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    await _community_poll(desk, poll_id)
    context = await poll_context(desk, poll_id)
    return web.render(request, "polls/detail.html", context, desk=desk, nav="polls")


async def _whole(request: Request, desk: web.Desk, poll_id: int, **extra: Any) -> Response:
    """The poll's page content (`#poll`) as it is now, after a change of state."""
    context = {**await poll_context(desk, poll_id), **extra}
    return web.render(request, "polls/_poll.html", context, desk=desk)


@router.post("/polls/{poll_id}/publish", dependencies=[web.CsrfChecked])
async def publish(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """`polls.publish`: the roll out for objections, open now, or scheduled (409 with why not: owner
    households without an area, an empty roll, an objection period too short for the start)."""
    await _community_poll(desk, poll_id)
    await polls.publish(desk.session, desk.viewer.user, poll_id)
    return await _whole(request, desk, poll_id)


@router.post("/polls/{poll_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel(
    poll_id: IdPath, request: Request, desk: web.DeskDep, reason: Annotated[str, Form(max_length=400)] = ""
) -> Response:
    """`polls.cancel`, before the close, with a reason residents read."""
    await _community_poll(desk, poll_id)
    body = validated(PollCancel, {"reason": reason}, CANCEL_LABELS)
    if isinstance(body, dict):
        return refused(request, "cancel-form", messages(body, CANCEL_LABELS))
    await polls.cancel(desk.session, desk.viewer.user, poll_id, body.reason)
    return await _whole(request, desk, poll_id)


@router.get("/polls/{poll_id}/turnout")
async def turnout(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The live turnout (counts, never choices), asked for by the poll's page every half minute
    while voting."""
    await _community_poll(desk, poll_id)
    p = await polls.poll_view(desk.session, desk.viewer.user, poll_id)
    t = await voting.turnout(desk.session, desk.viewer.user, poll_id)
    context = {"p": p, "t": t, "here": poll_url(desk, poll_id), "poll_seconds": TURNOUT_POLL_SECONDS}
    return web.render(request, "polls/_turnout.html", context)


@router.post("/polls/{poll_id}/tally", dependencies=[web.CsrfChecked])
async def tally(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The close has passed but the worker has not counted yet: the count now, as the worker would
    (`results.results`: 409 before the close, for staff too)."""
    await _community_poll(desk, poll_id)
    await results.results(desk.session, desk.viewer.user, poll_id)
    return await _whole(request, desk, poll_id)


@router.get("/polls/{poll_id}/export.xlsx")
async def export(poll_id: IdPath, desk: web.DeskDep) -> Response:
    """The XLSX export (`results.export`: after the close; a secret poll's ballots by receipt only)."""
    await _community_poll(desk, poll_id)
    data = await results.export(desk.session, desk.viewer.user, poll_id)
    disposition = attachment(f"投票结果-{poll_id}{XLSX}", f"poll-{poll_id}-results{XLSX}")
    return Response(data, media_type=xlsx.CONTENT_TYPE, headers={"Content-Disposition": disposition})


@router.post("/polls/{poll_id}/tie", dependencies=[web.CsrfChecked])
async def resolve_tie(
    poll_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    elected: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Whom the lot elected among the tied (`results.resolve_tie`: exactly the seats left, with the
    record of the draw everyone reads)."""
    await _community_poll(desk, poll_id)
    errors: dict[str, str] = {}
    chosen = [int(i) for i in elected if DIGITS.fullmatch(i)]
    if not chosen:
        errors["elected"] = "请勾选抽中的候选人"
    body = errors or validated(TieResolve, {"elected": chosen, "note": note}, TIE_LABELS)
    if isinstance(body, dict):
        return refused(request, "tie-form", messages(body, TIE_LABELS))
    call = partial(results.resolve_tie, desk.session, desk.viewer.user, poll_id, body.elected, body.note)
    return await attempt(request, desk, "tie-form", TIE_LABELS, call) or await _whole(request, desk, poll_id)


@router.post("/polls/{poll_id}/runoff", dependencies=[web.CsrfChecked])
async def runoff(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A draft run-off election among the tied (`results.open_runoff`), opened for editing."""
    await _community_poll(desk, poll_id)
    made = await results.open_runoff(desk.session, desk.viewer.user, poll_id)
    return web.redirect(f"{poll_url(desk, made['id'])}/edit", request)


# -- the roll, who took part, objections -----------------------------------------------------------------


@router.get("/polls/{poll_id}/roll")
async def roll_page(
    poll_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    q: SearchQuery = "",
    cursor: CursorQuery = None,
    tab: Annotated[Literal["roll", "taken"], Query()] = "roll",
    channel: Annotated[Literal["app", "paper", "proxy"] | None, Query()] = None,
) -> Response:
    """The roll in address order (`roll.roll`: searched by address or name; each elector whether and
    how they took part, struck ones with the reason), or who took part (`voting.participations`: by
    channel, who voted or entered it, the proxy, the photo — never a choice); and the objections
    with their answers (`roll.list_objections`)."""
    await _community_poll(desk, poll_id)
    session, user = desk.session, desk.viewer.user
    p = await polls.poll_view(session, user, poll_id)
    page = Page(cursor, ROLL_PAGE)
    listing = (
        await roll.roll(session, user, poll_id, q.strip() or None, page)
        if tab == "roll"
        else await voting.participations(session, user, poll_id, page, channel)
    )
    objections = await roll.list_objections(session, user, poll_id, Page(None, 100))
    context = {
        "p": p,
        "tab": tab,
        "q": q.strip(),
        "channel": channel,
        "channels": common.CHANNEL_LABELS,
        "listing": listing,
        "paged": cursor is not None,
        "objections": objections["items"],
        "more_objections": objections["next_cursor"] is not None,
        "roll_open": p["roll_taken_at"] is not None and p["phase"] in ("objections", "scheduled"),
        "here": poll_url(desk, poll_id),
        "pbase": _base(desk),
    }
    return web.render(request, "polls/roll.html", context, desk=desk, nav="polls")


@router.get("/polls/{poll_id}/electors")
async def electors(
    poll_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    q: SearchQuery = "",
    field: Annotated[Literal["elector", "strike_elector_id"], Query()] = "elector",
    form: Annotated[str, Query(max_length=40, pattern=r"^[a-z0-9-]*$")] = "entry-form",
) -> Response:
    """Electors of the roll whose address (or name) matches, to choose from as `field`: a paper
    ballot's elector, or one an objection strikes off."""
    await _community_poll(desk, poll_id)
    text = q.strip()
    found: list[dict[str, Any]] = []
    if text:
        listing = await roll.roll(desk.session, desk.viewer.user, poll_id, text, Page(None, SEARCH_LIMIT))
        found = [e for e in listing["items"] if not e["struck"]]
    context = {"found": found, "q": text, "field": field, "form_id": form, "more": len(found) >= SEARCH_LIMIT}
    return web.render(request, "polls/_electors.html", context)


@router.get("/polls/{poll_id}/households")
async def households(
    poll_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    q: SearchQuery = "",
    form: Annotated[str, Query(max_length=40, pattern=r"^[a-z0-9-]*$")] = "objection",
) -> Response:
    """Households (or, for a roll of residents, adult members) of the community whose room or
    member's name matches (`household_file.search`), to add to the roll by an objection."""
    await _community_poll(desk, poll_id)
    session, user = desk.session, desk.viewer.user
    p = await polls.poll_view(session, user, poll_id)
    text = q.strip()
    found: list[dict[str, Any]] = []
    if text:
        listing = await household_file.search(
            session, user, desk.community.id, building=None, q=text, page=1, per_page=SEARCH_LIMIT
        )
        found = listing["items"]
    context = {
        "found": found,
        "q": text,
        "residents": p["electorate"] == "resident",
        "form_id": form,
        "adults": roll.ADULT_KINDS,
        "more": len(found) >= SEARCH_LIMIT,
    }
    return web.render(request, "polls/_households.html", context)


def _id_field(raw: str, name: str, errors: dict[str, str]) -> int | None:
    number = _number(raw, name, errors)
    if number is not None and not 1 <= number <= MAX_ID:
        errors[name] = "请从列表中选择"
        return None
    return number


@router.post("/polls/{poll_id}/objections/{objection_id}/answer", dependencies=[web.CsrfChecked])
async def answer_objection(
    poll_id: IdPath,
    objection_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    status: Annotated[str, Form(max_length=20)] = "",
    answer: Annotated[str, Form(max_length=1000)] = "",
    change: Annotated[str, Form(max_length=20)] = "",
    strike_elector_id: Annotated[str, Form(max_length=20)] = "",
    add_id: Annotated[str, Form(max_length=20)] = "",
    q: Annotated[str, Form(max_length=64)] = "",  # the searches' own inputs
) -> Response:
    """Upheld or dismissed with an answer the resident reads; upheld, it may strike an elector off or
    add one (`roll.answer_objection`: only before voting starts)."""
    await _community_poll(desk, poll_id)
    form_id = f"objection-{objection_id}-form"
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"status": status, "answer": answer}
    p = await polls.poll_view(desk.session, desk.viewer.user, poll_id)
    if change == "strike":
        data["strike_elector_id"] = _id_field(strike_elector_id, "strike_elector_id", errors)
        if data["strike_elector_id"] is None:
            errors.setdefault("strike_elector_id", "请先按门牌查找，再选择要划去的选民")
    elif change == "add":
        name = "add_member_id" if p["electorate"] == "resident" else "add_household_id"
        data[name] = _id_field(add_id, name, errors)
        if data[name] is None:
            errors.setdefault(name, "请先查找，再选择要补登的" + ("居民" if name == "add_member_id" else "户"))
    body = errors or validated(PollObjectionAnswer, data, OBJECTION_LABELS)
    if isinstance(body, dict):
        return refused(request, form_id, messages(body, OBJECTION_LABELS))
    values = body.model_dump()
    call = partial(roll.answer_objection, desk.session, desk.viewer.user, poll_id, objection_id, values)
    return await attempt(request, desk, form_id, OBJECTION_LABELS, call) or web.redirect(
        f"{poll_url(desk, poll_id)}/roll#objections", request
    )


# -- paper ballots and proxies -------------------------------------------------------------------------------


@router.get("/polls/{poll_id}/entries")
async def entries_page(poll_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """Entering a paper ballot or a proxy's vote: find the elector on the roll by address, tick the
    choices as the paper says, attach the photo of the ballot or the authorisation."""
    await _community_poll(desk, poll_id)
    p = await polls.poll_view(desk.session, desk.viewer.user, poll_id)
    context = {"p": p, "here": poll_url(desk, poll_id), "pbase": _base(desk), "saved": None, "values": {}}
    return web.render(request, "polls/entries.html", context, desk=desk, nav="polls")


@dataclass
class Entry:
    """A paper ballot's form, read before the session is taken (a photo may take a while to
    arrive), or why it could not be read."""

    form: FormData | None = None
    photo: bytes | None = None
    photo_type: str | None = None
    error: AppError | None = None


async def read_entry(request: Request, settings: SettingsDep) -> Entry:
    """The entry's form (multipart: the photo is optional), its body bounded by the photo's limit."""
    limit = settings.media_max_bytes + uploads.MULTIPART_OVERHEAD
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        too_large = AppError(
            "image_too_large", "照片太大了", status=413, details={"max_bytes": settings.media_max_bytes}
        )
        await uploads.bounded_body(request, limit, too_large)
        if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            return Entry(form=FormData())
        form = await request.form(max_files=1, max_fields=2 * MAX_FORM_QUESTIONS + 20)
        upload = form.get("photo")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            return Entry(form=form, photo=data or None, photo_type=upload.content_type)
        return Entry(form=form)
    except AppError as exc:
        return Entry(error=exc)


EntryDep = Annotated[Entry, Depends(read_entry)]


def _answers(form: FormData, p: dict[str, Any]) -> list[dict[str, Any]]:
    """The ballot's answers as the API takes them: each question's ticked options (`q-<i>`), and its
    text (`q-<i>-text`)."""
    answers = []
    for question in p["questions"]:
        i = question["index"]
        picked = [int(v) for v in form.getlist(f"q-{i}") if isinstance(v, str) and DIGITS.fullmatch(v) and len(v) < 4]
        text = _text(form, f"q-{i}-text")
        if picked or text.strip():
            answers.append({"question": i, "options": picked, "text": text})
    return answers


def _entry_values(form: FormData, p: dict[str, Any]) -> dict[str, Any]:
    """What was typed, to fill the form again after a refusal."""
    elector = _text(form, "elector")
    return {
        "elector": elector,
        "elector_id": elector.split(":", 1)[0],
        "elector_label": elector.split(":", 1)[1] if ":" in elector else "",
        "channel": _text(form, "channel") or "paper",
        "proxy_name": _text(form, "proxy_name"),
        "picked": {str(q["index"]): form.getlist(f"q-{q['index']}") for q in p["questions"]},
        "texts": {str(q["index"]): _text(form, f"q-{q['index']}-text") for q in p["questions"]},
    }


def _entry_form(request: Request, desk: web.Desk, p: dict[str, Any], **context: Any) -> Response:
    values = {"p": p, "here": poll_url(desk, p["id"]), "saved": None, "values": {}, **context}
    return web.render(request, "polls/_entry.html", values, desk=desk)


# the form's body is read first (before the desk and its session), after the CSRF check and whether
# the browser is signed in, as the console's imports do
@router.post("/polls/{poll_id}/entries", dependencies=[web.CsrfChecked, web.SignedInChecked])
async def enter(poll_id: IdPath, request: Request, entry: EntryDep, desk: web.DeskDep) -> Response:
    """A paper ballot or a proxy's vote for an elector on the roll (`voting.enter`, with the photo
    uploaded as the API's `POST /media` keeps it: staff's, never shown to residents). The same one
    participation per elector as the app: 409 poll_already_voted says who or how. A secret ballot's
    receipt is shown this once. A secret poll's paper ballot takes no photo (it would pair the
    choices with the voter; the form offers one only for a proxy's authorisation): one sent anyway
    is refused beside the form before it is stored, as the service would refuse it."""
    await _community_poll(desk, poll_id)
    session, user = desk.session, desk.viewer.user
    if entry.error is not None:
        raise entry.error
    assert entry.form is not None
    form = entry.form
    p = await polls.poll_view(session, user, poll_id)
    values = _entry_values(form, p)
    errors: dict[str, str] = {}
    channel = values["channel"]
    data: dict[str, Any] = {
        "elector_id": _id_field(values["elector_id"], "elector_id", errors),
        "channel": channel,
        "answers": _answers(form, p),
        "proxy_name": values["proxy_name"] if channel == "proxy" else "",
    }
    if data["elector_id"] is None:
        errors.setdefault("elector_id", "请先按门牌查找，再选择选民")
    if p["secret"] and channel == "paper" and entry.photo is not None:  # refused before it is stored
        errors["photo_media_id"] = voting.SECRET_PAPER_PHOTO
    body = errors or validated(PollEntryCreate, data, ENTRY_LABELS)
    if isinstance(body, dict):
        return _refused_entry(request, desk, p, values, messages(body, ENTRY_LABELS))
    made: dict[str, Any] = {}
    photo_id: int | None = None
    try:
        async with session.begin_nested():
            if entry.photo is not None:
                uploaded = await media.upload(session, user, desk.community.id, entry.photo, entry.photo_type)
                photo_id = int(uploaded["id"])
            made = await voting.enter(
                session, user, poll_id, body.elector_id, body.channel, data["answers"], photo_id, body.proxy_name
            )
    except AppError as exc:
        if exc.status not in (413, 415, 422):
            raise
        return _refused_entry(request, desk, p, values, messages(service_errors(exc, ENTRY_LABELS), ENTRY_LABELS))
    saved = {**made, "label": values["elector_label"], "photo": photo_id is not None}
    return _entry_form(request, desk, p, saved=saved)


def _refused_entry(
    request: Request, desk: web.Desk, p: dict[str, Any], values: dict[str, Any], lines: list[str]
) -> Response:
    """The entry's form again, as it was filled in, with the refusals above it (the photo must be
    chosen again: a browser never refills a file input)."""
    response = _entry_form(request, desk, p, values=values, lines=lines)
    response.status_code = 422
    return response
