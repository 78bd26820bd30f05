"""A needs survey's results and its workbook, for the community's staff (residents never — staff
publish what they make of it as an announcement). A named survey's at any time, drafts included;
an anonymous survey's once it has ended — closed (by staff, or by the clock at `closes_at`) or
cancelled: while it is open, two reads before and after one response would give that response's
answers and building away, so staff see only how many came in, by channel (`GET /surveys/{id}`),
and the results and workbook are 409 `survey_results_after_close`, saying when.

Results per question: choices with their counts and percentages (of those who answered the
question; a multiple choice's add up to more than 100), the "other" answers counted and listed;
a scale's distribution (1–5) and mean; free texts listed. Lists of texts follow the responses'
random ids, never the order they came in.

The breakdown by building hides every group of fewer than five respondents (少于5人) — and, when
what is hidden adds up to fewer than five, the smallest groups shown too, until it does not:
otherwise the total minus the groups shown would give a small group's answers away. The same
again per question inside the groups shown: a question fewer than five of a group answered (an
optional one) has its figures hidden in that group, and when a question's hidden answers (those
of the hidden groups and of the hidden cells) add up to between one and four, the smallest cells
of that question still shown are hidden too, until they do not — else the question's total minus
the cells shown would give them away.

An anonymous survey's workbook says a response's building only where the breakdown shows that
building, and names no one; its rows follow the random ids (written again at the close, see
`surveys`); it has no channel and no date per row (staff type every paper questionnaire, so the
app's rows of a hidden pool would be the small buildings'; a day would be a time of answering) —
the counts by channel are in its 说明 sheet. A named survey's workbook names each respondent.

`tally(questions, responses)` is pure (the responses as rows with building, channel, answers and
submitted_on, in id order); `results` and `export` read and check the caller.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Household, Member, Survey, SurveyResponse, User
from api.documents.xlsx import Sheet, workbook
from api.errors import Conflict
from api.services.activities.common import community_tz
from api.services.households import address_text, building_key
from api.services.votes.common import (
    SMALL_GROUP,
    SURVEY_CHANNEL_LABELS,
    SURVEY_QUESTION_KIND_LABELS,
    SURVEY_STATUS_LABELS,
    SURVEY_UNIT_LABELS,
    staff_survey,
)
from api.services.votes.surveys import ANONYMITY_LABELS, CHOICE_KINDS, SCALE, results_available, status_of

NO_BUILDING = "未注明楼栋"
SMALL = f"少于{SMALL_GROUP}人"
COMPLEMENT = "为免从合计推算出人数少的楼栋，一并隐藏"
OTHER = "其他"


class Row(Protocol):
    building: str
    channel: str
    answers: dict[str, Any]
    submitted_on: date


def percent(count: int, of: int) -> float | None:
    return round(100 * count / of, 1) if of else None


def mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


# -- one question --------------------------------------------------------------------------------


def question_result(index: int, q: dict[str, Any], rows: Sequence[Row], *, texts: bool = True) -> dict[str, Any]:
    """One question's figures over `rows` (with the texts given, unless `texts` is false)."""
    given = [r.answers[str(index)] for r in rows if str(index) in r.answers]
    answered = len(given)
    kind = q["kind"]
    result: dict[str, Any] = {
        "index": index,
        "text": q["text"],
        "kind": kind,
        "kind_label": SURVEY_QUESTION_KIND_LABELS[kind],
        "required": bool(q.get("required", True)),
        "answered": answered,
        "skipped": len(rows) - answered,
        "options": [],
        "other": None,
        "scale": None,
        "texts": None,
    }
    if kind in CHOICE_KINDS:
        counts = [0] * len(q["options"])
        others = []
        for a in given:
            for o in a.get("options", []):
                if 0 <= o < len(counts):
                    counts[o] += 1
            if a.get("other"):
                others.append(a["other"])
        result["options"] = [
            {"index": n, "label": label, "count": counts[n], "percent": percent(counts[n], answered)}
            for n, label in enumerate(q["options"])
        ]
        if q.get("allow_other"):
            result["other"] = {
                "count": len(others),
                "percent": percent(len(others), answered),
                "texts": others if texts else [],
            }
    elif kind == "scale":
        values = [a["scale"] for a in given if a.get("scale") in SCALE]
        result["scale"] = {
            "distribution": [
                {"value": v, "count": values.count(v), "percent": percent(values.count(v), len(values))} for v in SCALE
            ],
            "mean": mean(values),
        }
    else:
        result["texts"] = [a["text"] for a in given if a.get("text")] if texts else []
    return result


# -- buildings -----------------------------------------------------------------------------------


def _natural(key: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", key)]


def group_key(building: str) -> str:
    return building_key(building) if building else ""


def hidden_groups(sizes: dict[str, int]) -> dict[str, str]:
    """The groups not to show, with why: fewer than SMALL_GROUP respondents; then, while what is
    hidden adds up to fewer than SMALL_GROUP (the total minus the groups shown would give it away),
    the smallest group still shown."""
    hidden = {key: SMALL for key, n in sizes.items() if n < SMALL_GROUP}
    shown = sorted((n, _natural(key), key) for key, n in sizes.items() if key not in hidden)
    while hidden and sum(sizes[key] for key in hidden) < SMALL_GROUP and shown:
        _, _, key = shown.pop(0)
        hidden[key] = COMPLEMENT
    return hidden


def groups(rows: Sequence[Row]) -> tuple[dict[str, list[Row]], dict[str, str], dict[str, str]]:
    """The rows by building (normalised: 3栋 and 3号楼 are one), each group's label (as the
    community writes it), and the hidden ones with why."""
    by_key: dict[str, list[Row]] = {}
    written: dict[str, set[str]] = {}
    for r in rows:
        key = group_key(r.building)
        by_key.setdefault(key, []).append(r)
        written.setdefault(key, set()).add(r.building)
    labels = {key: (min(texts) if key else NO_BUILDING) for key, texts in written.items()}
    return by_key, labels, hidden_groups({key: len(rs) for key, rs in by_key.items()})


def hidden_cells(answered: dict[str, int], hidden: dict[str, str]) -> dict[str, str]:
    """One question's cells not to show among the groups shown, with why: fewer than SMALL_GROUP
    of the group answered it; then, while the question's hidden answers (the hidden groups' and
    the hidden cells') add up to between 1 and SMALL_GROUP − 1 — the question's total minus the
    cells shown would give them away — the smallest cell still shown."""
    cells = {key: SMALL for key, n in answered.items() if key not in hidden and n < SMALL_GROUP}
    pool = sum(n for key, n in answered.items() if key in hidden or key in cells)
    shown = sorted((n, _natural(key), key) for key, n in answered.items() if key not in hidden and key not in cells)
    while 0 < pool < SMALL_GROUP and shown:
        n, _, key = shown.pop(0)
        cells[key] = COMPLEMENT
        pool += n
    return cells


def breakdown(questions: list[dict[str, Any]], rows: Sequence[Row]) -> dict[str, Any]:
    by_key, labels, hidden = groups(rows)
    cells = [
        hidden_cells({key: sum(1 for r in members if str(n) in r.answers) for key, members in by_key.items()}, hidden)
        for n in range(len(questions))
    ]
    found = []
    for key in sorted(by_key, key=lambda k: (k == "", _natural(k))):
        members = by_key[key]
        if key in hidden:
            found.append(
                {"building": labels[key], "hidden": True, "note": hidden[key], "respondents": None, "questions": []}
            )
            continue
        figures = []
        for n, q in enumerate(questions):
            if key in cells[n]:
                figures.append(
                    {
                        "index": n,
                        "hidden": True,
                        "note": cells[n][key],
                        "answered": None,
                        "options": [],
                        "other_count": None,
                        "scale_mean": None,
                    }
                )
                continue
            r = question_result(n, q, members, texts=False)
            figures.append(
                {
                    "index": n,
                    "hidden": False,
                    "note": None,
                    "answered": r["answered"],
                    "options": r["options"],
                    "other_count": r["other"]["count"] if r["other"] is not None else None,
                    "scale_mean": r["scale"]["mean"] if r["scale"] is not None else None,
                }
            )
        found.append(
            {"building": labels[key], "hidden": False, "note": None, "respondents": len(members), "questions": figures}
        )
    return {"small_group": SMALL_GROUP, "groups": found}


# -- the whole survey ----------------------------------------------------------------------------


def tally(questions: list[dict[str, Any]], rows: Sequence[Row]) -> dict[str, Any]:
    """Pure: the figures of `rows` (in random-id order) for `questions`."""
    days = [r.submitted_on for r in rows]
    return {
        "respondents": len(rows),
        "by_channel": {channel: sum(1 for r in rows if r.channel == channel) for channel in SURVEY_CHANNEL_LABELS},
        "first_day": min(days) if days else None,
        "last_day": max(days) if days else None,
        "questions": [question_result(n, q, rows) for n, q in enumerate(questions)],
        "by_building": breakdown(questions, rows),
    }


async def responses_of(session: AsyncSession, survey_id: int) -> list[SurveyResponse]:
    """The survey's responses in the order of their random ids."""
    return list(
        (
            await session.execute(
                select(SurveyResponse).where(SurveyResponse.survey_id == survey_id).order_by(SurveyResponse.id)
            )
        ).scalars()
    )


def _header(survey: Survey) -> dict[str, Any]:
    status = status_of(survey)
    return {
        "survey_id": survey.id,
        "title": survey.title,
        "status": status,
        "status_label": SURVEY_STATUS_LABELS[status],
        "anonymous": survey.anonymous,
        "unit": survey.unit,
        "unit_label": SURVEY_UNIT_LABELS[survey.unit],
    }


async def readable_results(session: AsyncSession, user: User, survey_id: int) -> Survey:
    """The survey, if the caller (staff) may read its results now: else 409
    `survey_results_after_close`, saying when (an anonymous survey before it has ended)."""
    survey = await staff_survey(session, user, survey_id)
    if not results_available(survey):
        tz = await community_tz(session, survey.community_id)
        raise Conflict(
            "survey_results_after_close",
            f"匿名问卷的结果在调研结束后才能查看（截止时间 {localtime.text(survey.closes_at, tz)}，"
            "提前结束的从结束时起）；在此之前只能看到收到的份数",
            details={"closes_at": survey.closes_at, "status": status_of(survey)},
        )
    return survey


async def results(session: AsyncSession, user: User, survey_id: int) -> dict[str, Any]:
    """`GET /surveys/{id}/results` (staff; an anonymous survey's once it has ended)."""
    survey = await readable_results(session, user, survey_id)
    return {**_header(survey), **tally(survey.questions, await responses_of(session, survey.id))}


# -- the workbook --------------------------------------------------------------------------------


def _choice_cell(q: dict[str, Any], answer: dict[str, Any] | None) -> str | int | None:
    if answer is None:
        return None
    if q["kind"] in CHOICE_KINDS:
        labels = [q["options"][o] for o in answer.get("options", []) if 0 <= o < len(q["options"])]
        if answer.get("other"):
            labels.append(OTHER)
        return "；".join(labels)
    if q["kind"] == "scale":
        value: int | None = answer.get("scale")
        return value
    text: str | None = answer.get("text")
    return text


def _answer_columns(questions: list[dict[str, Any]]) -> list[str]:
    headers = []
    for n, q in enumerate(questions, start=1):
        headers.append(f"{n}. {q['text']}")
        if q.get("allow_other"):
            headers.append(f"{n}. {OTHER}（请注明）")
    return headers


def _answer_cells(questions: list[dict[str, Any]], answers: dict[str, Any]) -> list[object]:
    cells: list[object] = []
    for n, q in enumerate(questions):
        answer = answers.get(str(n))
        cells.append(_choice_cell(q, answer))
        if q.get("allow_other"):
            cells.append((answer or {}).get("other") or None)
    return cells


async def _people(session: AsyncSession, rows: list[SurveyResponse]) -> tuple[dict[int, Member], dict[int, Household]]:
    member_ids = {r.member_id for r in rows if r.member_id is not None}
    household_ids = {r.household_id for r in rows if r.household_id is not None}
    members = (
        {m.id: m for m in (await session.execute(select(Member).where(Member.id.in_(member_ids)))).scalars()}
        if member_ids
        else {}
    )
    households = (
        {h.id: h for h in (await session.execute(select(Household).where(Household.id.in_(household_ids)))).scalars()}
        if household_ids
        else {}
    )
    return members, households


def _about(survey: Survey, data: dict[str, Any], exported: str) -> Sheet:
    rows: list[list[object]] = [
        ["问卷", survey.title],
        ["方式", f"{ANONYMITY_LABELS[survey.anonymous]}，{SURVEY_UNIT_LABELS[survey.unit]}"],
        ["状态", data["status_label"]],
        ["收到问卷", data["respondents"]],
        *([[f"其中{label}", data["by_channel"][channel]] for channel, label in SURVEY_CHANNEL_LABELS.items()]),
        ["导出时间", exported],
    ]
    if survey.anonymous:
        rows.append(
            [
                "说明",
                "匿名问卷：回答不和任何人关联，按随机顺序排列（不是提交顺序），不列渠道和日期；"
                f"人数少于{SMALL_GROUP}人的楼栋（以及为免推算一并隐藏的楼栋）不列出楼栋。",
            ]
        )
    return Sheet("说明", ["项目", "内容"], rows, widths=[14, 80])


def _summary(data: dict[str, Any]) -> Sheet:
    rows: list[list[object]] = []
    for r in data["questions"]:
        title = f"{r['index'] + 1}. {r['text']}"
        if r["kind"] in CHOICE_KINDS:
            rows += [[title, o["label"], o["count"], o["percent"]] for o in r["options"]]
            if r["other"] is not None:
                rows.append([title, OTHER, r["other"]["count"], r["other"]["percent"]])
        elif r["kind"] == "scale":
            rows += [[title, f"{v['value']} 分", v["count"], v["percent"]] for v in r["scale"]["distribution"]]
            rows.append([title, "平均分", r["scale"]["mean"], None])
        else:
            rows.append([title, "（填空，回答见「回答」）", r["answered"], None])
        rows.append([title, "答题人数", r["answered"], None])
    return Sheet("结果", ["题目", "选项", "人数", "百分比（%）"], rows)


def _by_building(questions: list[dict[str, Any]], data: dict[str, Any]) -> Sheet:
    rows: list[list[object]] = []
    for g in data["by_building"]["groups"]:
        if g["hidden"]:
            rows.append([g["building"], g["note"], None, None, None, None])
            continue
        for figures in g["questions"]:
            q = questions[figures["index"]]
            title = f"{figures['index'] + 1}. {q['text']}"
            if figures["hidden"]:
                rows.append([g["building"], g["respondents"], title, figures["note"], None, None])
                continue
            for o in figures["options"]:
                rows.append([g["building"], g["respondents"], title, o["label"], o["count"], o["percent"]])
            if figures["other_count"] is not None:
                rows.append([g["building"], g["respondents"], title, OTHER, figures["other_count"], None])
            if figures["scale_mean"] is not None:
                rows.append([g["building"], g["respondents"], title, "平均分", figures["scale_mean"], None])
    return Sheet("按楼栋", ["楼栋", "人数", "题目", "选项", "人数", "百分比（%）"], rows)


async def export(session: AsyncSession, user: User, survey_id: int) -> bytes:
    """`GET /surveys/{id}/export.xlsx` (staff; an anonymous survey's once it has ended): sheets 说明,
    回答 (one row per response, a column per question and one per "other"), 结果 and 按楼栋 (the
    breakdown, small groups and small cells hidden)."""
    survey = await readable_results(session, user, survey_id)
    rows = await responses_of(session, survey.id)
    data = {**_header(survey), **tally(survey.questions, rows)}
    tz = await community_tz(session, survey.community_id)
    exported = clock.now().astimezone(tz).strftime("%Y-%m-%d %H:%M")
    questions = survey.questions
    answer_headers = _answer_columns(questions)
    lines: list[list[object]] = []
    if survey.anonymous:
        _, labels, hidden = groups(rows)
        for n, r in enumerate(rows, start=1):  # random-id order
            key = group_key(r.building)
            building = SMALL if key in hidden else labels[key]
            lines.append([n, building, *_answer_cells(questions, r.answers)])
        headers = ["序号", "楼栋", *answer_headers]
    else:
        members, households = await _people(session, rows)

        def place(r: SurveyResponse) -> tuple[int, list[tuple[int, int | str]], int]:
            h = households.get(r.household_id) if r.household_id is not None else None
            return (0, _natural(address_text(h)), r.id) if h is not None else (1, [], r.id)

        for n, r in enumerate(sorted(rows, key=place), start=1):
            h = households.get(r.household_id) if r.household_id is not None else None
            m = members.get(r.member_id) if r.member_id is not None else None
            lines.append(
                [
                    n,
                    m.display_name if m is not None else None,
                    address_text(h) if h is not None else None,
                    r.building or None,
                    SURVEY_CHANNEL_LABELS[r.channel],
                    r.submitted_on,
                    *_answer_cells(questions, r.answers),
                ]
            )
        headers = ["序号", "填写人", "住址", "楼栋", "渠道", "日期", *answer_headers]
    sheets = [
        _about(survey, data, exported),
        Sheet("回答", headers, lines),
        _summary(data),
        _by_building(questions, data),
    ]
    return await asyncio.to_thread(workbook, sheets)
