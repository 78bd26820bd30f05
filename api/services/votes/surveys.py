"""Needs surveys (需求调研): questionnaires staff write and residents answer, in the app or on paper.

    draft → open → closed          (cancelled from draft or open)

A survey opens when staff say so (the community's residents hear of it: `survey.opened`) and closes
at its `closes_at` — by the clock at once (nobody may answer after it, whatever the worker has done
yet), and in the table by the `surveys.close` job, or earlier by staff.

Questions (stored on the survey as JSON): `{"text", "kind": single|multiple|scale|text, "options":
[labels], "allow_other", "required", "min_choices", "max_choices"}` — a single choice has min = max
= 1; a multiple choice counts a filled "other" as one choice; a scale is 1–5; scale and text have no
options. Answers in requests: `[{"question": <index>, "options": [<option index>…], "other": "",
"scale": n, "text": ""}]`; stored on the response as `{"<index>": {"options": [...], "other": "…"}}`
(choices), `{"scale": n}` or `{"text": "…"}`; questions left unanswered are absent.

One response per person or per household, as the survey says: answering inserts the one-way token
(`common.survey_token`: an HMAC of the survey and the member or household) into `survey_tokens`
with INSERT … ON CONFLICT DO NOTHING, in the response's transaction, so of two answers at once
(two members of a household, or a member and staff entering their paper questionnaire) exactly one
is kept and the other is told 409 `survey_already_answered`.

Anonymous surveys (the default): the response carries a random id, no member, no household, no
respondent and only the day (and the respondent's building, for breakdowns that hide groups under
five); the token names no one and nothing ties it to the response. No endpoint returns a
response's id, and results and exports list anonymous responses in random-id order. Named
surveys: the response names its member (and household), `respondent_ref` unique per survey.

What the database itself could tell (someone reading its tables or a backup, not the API): on
PostgreSQL a row carries the id of the transaction that wrote it (`xmin`) and sits where it was
written; an anonymous response shares both with its token and with the Idempotency-Key kept for
the request (which names the user), so that a reader of the raw tables could pair a response with
the moment it came and the person who sent it. At the close (staff closing it, the `surveys.close`
job or the sweep; and at a cancel of an open survey), under the survey's FOR UPDATE lock, its
anonymous responses are read, deleted and written again in a random order with new random ids, in
one transaction: from then on they share one `xmin` and their place says nothing. The window that
remains: while the survey is open (and after `closes_at` until the worker has closed it — it runs
at `closes_at`, and the sweep every few minutes), and, after the close, the old rows' dead copies
until PostgreSQL's VACUUM removes them (and the write-ahead log and backups taken meanwhile). That
is why an anonymous survey's results and workbook (`survey_results`) are available only once it
has ended: while it is open staff see how many came in, by channel, and nothing of what they say.
The Idempotency-Key of answering and of a paper questionnaire keeps no fingerprint of the answers
(`api.deps.BlindIdempotencyDep`).

Who sees what: staff of the community see every survey; residents of the community see it once
opened (a draft does not exist for them: 404); another community's people see none (404);
residents asking for staff actions are refused (403). Results (`survey_results`) are for staff only.

The functions take the session and the acting user, and `data` as a plain dict (the request
model's `model_dump()`, as the routers pass it); they flush, never commit, and answer with dicts.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Household, Member, Survey, SurveyResponse, SurveyToken, User
from api.db.upsert import insert_ignore
from api.errors import Conflict, Forbidden, NotFound, invalid_field
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.access import get_community
from api.services.activities.common import community_tz
from api.services.governance.concern_access import community_building
from api.services.governance.meetings import viewer
from api.services.households import address_text
from api.services.notifications import notify, retract
from api.services.reports.projects import check_tag
from api.services.votes.common import (
    STAFF_ONLY_SURVEYS,
    SURVEY_CHANNEL_LABELS,
    SURVEY_MISSING,
    SURVEY_QUESTION_KIND_LABELS,
    SURVEY_STATUS_LABELS,
    SURVEY_UNIT_LABELS,
    locked,
    random_id,
    readable_survey,
    staff_survey,
    survey_token,
)
from workers import outbox

CLOSE_JOB = "surveys.close"
PAGE_LIMIT = 100
SCALE = (1, 2, 3, 4, 5)
CHOICE_KINDS = ("single", "multiple")
ANONYMITY_LABELS = {True: "匿名", False: "实名"}
NOT_RESIDENT = "只有本社区的居民可以填写问卷"


# -- the survey's state by the clock -------------------------------------------------------------


def status_of(survey: Survey, now: datetime | None = None) -> str:
    """The survey's status as everyone sees it: an open survey whose close has passed is closed,
    whether or not the worker has closed it yet."""
    now = now or clock.now()
    if survey.status == "open" and now >= survey.closes_at:
        return "closed"
    return survey.status


def require_status(survey: Survey, allowed: tuple[str, ...], doing: str, code: str) -> None:
    """Refuse (409) what the survey's state does not allow, naming the state in Chinese."""
    status = status_of(survey)
    if status not in allowed:
        raise Conflict(
            code,
            f"问卷当前状态为「{SURVEY_STATUS_LABELS[status]}」，不能{doing}",
            details={"status": status, "allowed": list(allowed)},
        )


async def lock_survey(session: AsyncSession, survey_id: int, *, share: bool = False) -> Survey:
    """The survey's row read again under a lock: FOR SHARE by each answer (many at once; they only
    need the close not to pass under them), FOR UPDATE by what changes the survey (opening,
    closing — which writes an anonymous survey's responses again —, cancelling, editing). SQLite
    has one writer: no lock is needed."""
    return await locked(session, Survey, survey_id, share=share, missing=SURVEY_MISSING)


async def staff_survey_locked(session: AsyncSession, user: User, survey_id: int) -> Survey:
    await staff_survey(session, user, survey_id)
    return await lock_survey(session, survey_id)


async def community_staff(session: AsyncSession, user: User, community_id: int) -> bool:
    """Whether the caller is staff of the community (else a resident of it); 404 to strangers."""
    await get_community(session, community_id)
    return await viewer(session, user, community_id, ("community_not_found", "社区不存在"))


# -- questions -----------------------------------------------------------------------------------


def check_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions as stored, or a 422 naming the field that is wrong."""
    stored = []
    for n, q in enumerate(questions):
        where = f"questions[{n}]"
        kind = q["kind"]
        options = list(q.get("options") or [])
        allow_other = bool(q.get("allow_other"))
        low, high = q.get("min_choices"), q.get("max_choices")
        if kind in CHOICE_KINDS:
            if len(options) < 2:
                raise invalid_field(f"{where}.options", "单选题和多选题至少要有两个选项", kind="too_few_options")
            if len(set(options)) != len(options):
                raise invalid_field(f"{where}.options", "选项不能重复", kind="duplicate_option")
            if "其他" in options and allow_other:
                raise invalid_field(
                    f"{where}.options", "已允许「其他（请注明）」，选项里不用再列「其他」", kind="duplicate_option"
                )
        elif options or allow_other:
            raise invalid_field(f"{where}.options", "打分题和填空题没有选项", kind="options_not_allowed")
        if kind == "multiple":
            choices = len(options) + (1 if allow_other else 0)
            low = 1 if low is None else low
            high = choices if high is None else high
            if high > choices:
                raise invalid_field(
                    f"{where}.max_choices",
                    f"最多只能选 {choices} 项（选项数，「其他」算一项）",
                    kind="too_many_choices",
                )
            if low > high:
                raise invalid_field(f"{where}.min_choices", "至少选的项数不能多于最多选的项数", kind="min_above_max")
        elif low is not None or high is not None:
            raise invalid_field(f"{where}.min_choices", "只有多选题可以设置选几项", kind="choices_not_allowed")
        elif kind == "single":
            low = high = 1
        stored.append(
            {
                "text": q["text"],
                "kind": kind,
                "options": options,
                "allow_other": allow_other,
                "required": bool(q.get("required", True)),
                "min_choices": low,
                "max_choices": high,
            }
        )
    return stored


def question_view(index: int, q: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "text": q["text"],
        "kind": q["kind"],
        "kind_label": SURVEY_QUESTION_KIND_LABELS[q["kind"]],
        "options": list(q.get("options") or []),
        "allow_other": bool(q.get("allow_other")),
        "required": bool(q.get("required", True)),
        "min_choices": q.get("min_choices"),
        "max_choices": q.get("max_choices"),
    }


def _empty(answer: dict[str, Any]) -> bool:
    return (
        not answer.get("options") and not answer.get("other") and answer.get("scale") is None and not answer.get("text")
    )


def check_answers(questions: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The answers as stored, or a 422 naming the answer that is wrong (by its place in the
    request, `answers[i]…`) and the question in words (第 n 题)."""
    stored: dict[str, dict[str, Any]] = {}
    given: set[int] = set()
    for i, answer in enumerate(answers):
        where = f"answers[{i}]"
        index = answer["question"]
        if index >= len(questions):
            raise invalid_field(f"{where}.question", f"问卷只有 {len(questions)} 题", kind="no_such_question")
        if index in given:
            raise invalid_field(f"{where}.question", f"第 {index + 1} 题答了两次", kind="question_repeated")
        given.add(index)
        q = questions[index]
        label = f"第 {index + 1} 题"
        if _empty(answer):
            continue  # left blank: a required question is refused below
        kind = q["kind"]
        options: list[int] = list(answer.get("options") or [])
        other = answer.get("other") or ""
        if kind in CHOICE_KINDS:
            if answer.get("scale") is not None or answer.get("text"):
                raise invalid_field(
                    f"{where}.options",
                    f"{label}是{SURVEY_QUESTION_KIND_LABELS[kind]}题，请选选项",
                    kind="wrong_answer_kind",
                )
            if any(o >= len(q["options"]) for o in options):
                raise invalid_field(
                    f"{where}.options", f"{label}只有 {len(q['options'])} 个选项", kind="no_such_option"
                )
            if len(set(options)) != len(options):
                raise invalid_field(f"{where}.options", f"{label}的选项重复了", kind="option_repeated")
            if other and not q.get("allow_other"):
                raise invalid_field(f"{where}.other", f"{label}没有「其他」这一项", kind="other_not_allowed")
            chosen = len(options) + (1 if other else 0)
            if kind == "single" and chosen != 1:
                raise invalid_field(
                    f"{where}.options", f"{label}是单选题，只能选一项（「其他」算一项）", kind="single_choice"
                )
            if kind == "multiple":
                low, high = q.get("min_choices") or 1, q.get("max_choices") or chosen
                if not low <= chosen <= high:
                    raise invalid_field(
                        f"{where}.options",
                        f"{label}要选 {low}–{high} 项（「其他」算一项），现在选了 {chosen} 项",
                        kind="choice_count",
                    )
            entry: dict[str, Any] = {"options": sorted(options)}
            if other:
                entry["other"] = other
            stored[str(index)] = entry
        elif kind == "scale":
            if options or other or answer.get("text") or answer.get("scale") is None:
                raise invalid_field(f"{where}.scale", f"{label}是打分题，请给 1–5 分", kind="wrong_answer_kind")
            stored[str(index)] = {"scale": answer["scale"]}
        else:
            if options or other or answer.get("scale") is not None:
                raise invalid_field(f"{where}.text", f"{label}是填空题，请填写文字", kind="wrong_answer_kind")
            stored[str(index)] = {"text": answer["text"]}
    missing = [n + 1 for n, q in enumerate(questions) if q.get("required", True) and str(n) not in stored]
    if missing:
        listed = "、".join(str(n) for n in missing)
        raise invalid_field("answers", f"第 {listed} 题是必答题，还没有回答", kind="answer_required")
    if not stored:
        raise invalid_field("answers", "至少要回答一题", kind="answer_required")
    return stored


# -- views ---------------------------------------------------------------------------------------


async def caller_member(session: AsyncSession, user: User, community_id: int) -> Member | None:
    """The caller's active member record in the community (who answers in the app)."""
    found: Member | None = (
        await session.execute(
            select(Member).where(
                Member.community_id == community_id, Member.user_id == user.id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()
    return found


def respondent_ref(survey: Survey, member: Member) -> int:
    """Whose answer it is: the member (one per person) or their household (one per household)."""
    return member.id if survey.unit == "person" else member.household_id


async def has_answered(session: AsyncSession, survey: Survey, ref: int) -> bool:
    token = survey_token(session, survey.id, survey.unit, ref)
    found = await session.execute(
        select(SurveyToken.token).where(SurveyToken.survey_id == survey.id, SurveyToken.token == token)
    )
    return found.first() is not None


async def response_count(session: AsyncSession, survey_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(SurveyResponse).where(SurveyResponse.survey_id == survey_id)
            )
        ).scalar_one()
    )


async def responses_by_channel(session: AsyncSession, survey_id: int) -> dict[str, int]:
    """How many questionnaires came in, by channel (app, paper): all staff see of an anonymous
    survey while it is open."""
    found = dict(
        (
            await session.execute(
                select(SurveyResponse.channel, func.count())
                .where(SurveyResponse.survey_id == survey_id)
                .group_by(SurveyResponse.channel)
            )
        ).all()
    )
    return {channel: int(found.get(channel, 0)) for channel in SURVEY_CHANNEL_LABELS}


def results_available(survey: Survey, now: datetime | None = None) -> bool:
    """Whether staff may read the survey's results and workbook now: a named survey's at any time;
    an anonymous survey's once it has ended (closed, by the clock too, or cancelled) — while it is
    open two reads around one response would give that response away."""
    return not survey.anonymous or status_of(survey, now) in ("closed", "cancelled")


async def view(session: AsyncSession, user: User, survey: Survey, staff: bool) -> dict[str, Any]:
    status = status_of(survey)
    member = await caller_member(session, user, survey.community_id)
    answered = member is not None and await has_answered(session, survey, respondent_ref(survey, member))
    return {
        "id": survey.id,
        "community_id": survey.community_id,
        "project_id": survey.project_id,
        "title": survey.title,
        "intro": survey.intro,
        "anonymous": survey.anonymous,
        "anonymity_label": ANONYMITY_LABELS[survey.anonymous],
        "unit": survey.unit,
        "unit_label": SURVEY_UNIT_LABELS[survey.unit],
        "status": status,
        "status_label": SURVEY_STATUS_LABELS[status],
        "opens_at": survey.opens_at,
        "closes_at": survey.closes_at,
        "closed_at": survey.closed_at
        if survey.status == "closed"
        else (survey.closes_at if status == "closed" else None),
        "cancel_reason": survey.cancel_reason or None,
        "questions": [question_view(n, q) for n, q in enumerate(survey.questions)],
        "answered": answered,
        "can_answer": status == "open" and member is not None and not answered,
        "response_count": await response_count(session, survey.id) if staff else None,
        "responses_by_channel": await responses_by_channel(session, survey.id) if staff else None,
        "results_available": results_available(survey) if staff else None,
        "created_at": survey.created_at,
    }


async def survey_view(session: AsyncSession, user: User, survey_id: int) -> dict[str, Any]:
    """`GET /surveys/{id}`: the survey as the caller may see it, with whether they (or their
    household) answered."""
    survey, staff = await readable_survey(session, user, survey_id)
    return await view(session, user, survey, staff)


async def list_surveys(
    session: AsyncSession,
    user: User,
    community_id: int,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """The community's surveys, newest first: staff see drafts too; residents only those opened.
    `status` filters by the status as shown (an open survey past its close is closed)."""
    staff = await community_staff(session, user, community_id)
    limit = min(max(limit, 1), PAGE_LIMIT)
    now = clock.now()
    query = select(Survey).where(Survey.community_id == community_id)
    if not staff:
        query = query.where(Survey.status != "draft")
    if status == "open":
        query = query.where(Survey.status == "open", Survey.closes_at > now)
    elif status == "closed":
        query = query.where(or_(Survey.status == "closed", and_(Survey.status == "open", Survey.closes_at <= now)))
    elif status is not None:
        query = query.where(Survey.status == status)
    if cursor:
        (last,) = decode_cursor(cursor, 1)
        query = query.where(Survey.id < cursor_int(last))
    surveys = list((await session.execute(query.order_by(Survey.id.desc()).limit(limit + 1))).scalars())
    more = len(surveys) > limit
    surveys = surveys[:limit]
    ids = [s.id for s in surveys]
    counts: dict[int, int] = {}
    if staff and ids:
        counts = dict(
            (
                await session.execute(
                    select(SurveyResponse.survey_id, func.count())
                    .where(SurveyResponse.survey_id.in_(ids))
                    .group_by(SurveyResponse.survey_id)
                )
            ).all()
        )
    answered: set[int] = set()
    member = await caller_member(session, user, community_id)
    if member is not None and ids:
        tokens = {survey_token(session, s.id, s.unit, respondent_ref(s, member)): s.id for s in surveys}
        found = await session.execute(
            select(SurveyToken.survey_id, SurveyToken.token).where(
                SurveyToken.survey_id.in_(ids), SurveyToken.token.in_(tokens)
            )
        )
        answered = {survey_id for survey_id, token in found.all() if tokens.get(token) == survey_id}
    items = []
    for s in surveys:
        shown = status_of(s, now)
        items.append(
            {
                "id": s.id,
                "title": s.title,
                "anonymous": s.anonymous,
                "unit": s.unit,
                "unit_label": SURVEY_UNIT_LABELS[s.unit],
                "status": shown,
                "status_label": SURVEY_STATUS_LABELS[shown],
                "opens_at": s.opens_at,
                "closes_at": s.closes_at,
                "question_count": len(s.questions),
                "answered": s.id in answered,
                "response_count": counts.get(s.id, 0) if staff else None,
                "results_available": results_available(s, now) if staff else None,
            }
        )
    return {"items": items, "next_cursor": encode_cursor(surveys[-1].id) if more else None}


# -- staff: writing, opening, closing ------------------------------------------------------------


def _check_closes_at(closes_at: datetime) -> None:
    if closes_at <= clock.now():
        raise invalid_field("closes_at", "截止时间应晚于现在", kind="closes_at_passed")


async def create_survey(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A draft survey (staff)."""
    if not await community_staff(session, user, community_id):
        raise Forbidden("staff_only", STAFF_ONLY_SURVEYS)
    _check_closes_at(data["closes_at"])
    await check_tag(session, community_id, data.get("project_id"))
    survey = Survey(
        community_id=community_id,
        project_id=data.get("project_id"),
        title=data["title"],
        intro=data.get("intro") or "",
        anonymous=data.get("anonymous", True),
        unit=data.get("unit") or "person",
        status="draft",
        closes_at=data["closes_at"],
        cancel_reason="",
        created_by=user.id,
        questions=check_questions(data["questions"]),
    )
    session.add(survey)
    await session.flush()
    return await view(session, user, survey, True)


async def update_survey(session: AsyncSession, user: User, survey_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Staff change a draft (409 `survey_not_draft` once opened): the fields given; `questions`
    replaces them all; `project_id: null` takes the survey out of its project."""
    survey = await staff_survey_locked(session, user, survey_id)
    require_status(survey, ("draft",), "修改", "survey_not_draft")
    if fields.get("closes_at") is not None:
        _check_closes_at(fields["closes_at"])
        survey.closes_at = fields["closes_at"]
    if "project_id" in fields:
        await check_tag(session, survey.community_id, fields["project_id"])
        survey.project_id = fields["project_id"]
    if fields.get("questions") is not None:
        survey.questions = check_questions(fields["questions"])
    for name in ("title", "intro", "anonymous", "unit"):
        if fields.get(name) is not None:
            setattr(survey, name, fields[name])
    await session.flush()
    return await view(session, user, survey, True)


async def residents(session: AsyncSession, community_id: int) -> list[int]:
    """The accounts of the community's active members (whom a survey's invitation goes to)."""
    found = await session.execute(
        select(Member.user_id)
        .where(Member.community_id == community_id, Member.status == "active", Member.user_id.is_not(None))
        .distinct()
    )
    return sorted(user_id for user_id in found.scalars() if user_id is not None)


def opened_cause(survey: Survey) -> str:
    return f"survey:{survey.id}:opened"


def close_key(survey_id: int) -> str:
    return f"survey:{survey_id}:close"


async def open_survey(session: AsyncSession, user: User, survey_id: int) -> dict[str, Any]:
    """draft → open (staff): residents may answer until `closes_at`, when the `surveys.close` job
    closes it; the community's residents with an account hear of it (`survey.opened`, once)."""
    survey = await staff_survey_locked(session, user, survey_id)
    require_status(survey, ("draft",), "开始", "survey_not_draft")
    now = clock.now()
    if survey.closes_at <= now:
        tz = await community_tz(session, survey.community_id)
        raise Conflict(
            "survey_closes_at_passed",
            f"截止时间 {localtime.text(survey.closes_at, tz)} 已过，请先修改截止时间",
            details={"closes_at": survey.closes_at},
        )
    survey.status = "open"
    survey.opens_at = now
    await session.flush()
    await outbox.enqueue(
        session, CLOSE_JOB, {"survey_id": survey.id}, run_at=survey.closes_at, dedup_key=close_key(survey.id)
    )
    how = ("匿名填写" if survey.anonymous else "实名填写") + ("，每户一份" if survey.unit == "household" else "")
    await notify(
        session,
        await residents(session, survey.community_id),
        "survey.opened",
        {"survey_id": survey.id, "survey_title": survey.title, "closes_at": survey.closes_at, "how": how},
        opened_cause(survey),
        community_id=survey.community_id,
    )
    return await view(session, user, survey, True)


async def rewrite_anonymous(session: AsyncSession, survey: Survey) -> int:
    """An anonymous survey's responses written again, under the survey's FOR UPDATE lock (no
    answer can come in meanwhile): read, deleted, inserted in a random order with new random ids,
    so that no row keeps the transaction id (`xmin`) or the place it was written with — which it
    shared with its token and its Idempotency-Key. How many were written again."""
    if not survey.anonymous:
        return 0
    table = cast(Table, SurveyResponse.__table__)
    rows = [
        dict(row) for row in (await session.execute(select(table).where(table.c.survey_id == survey.id))).mappings()
    ]
    if not rows:
        return 0
    await session.execute(delete(table).where(table.c.survey_id == survey.id))
    secrets.SystemRandom().shuffle(rows)
    await session.execute(insert(table), [{**row, "id": random_id()} for row in rows])
    return len(rows)


async def _close(session: AsyncSession, survey: Survey, now: datetime) -> None:
    survey.status = "closed"
    survey.closed_at = min(now, survey.closes_at)
    await session.flush()
    await rewrite_anonymous(session, survey)


async def close_survey(session: AsyncSession, user: User, survey_id: int) -> dict[str, Any]:
    """open → closed (staff), before its close: nobody may answer any more."""
    survey = await staff_survey_locked(session, user, survey_id)
    require_status(survey, ("open",), "结束", "survey_not_open")
    await _close(session, survey, clock.now())
    await outbox.cancel(session, close_key(survey.id))
    return await view(session, user, survey, True)


async def cancel_survey(session: AsyncSession, user: User, survey_id: int, reason: str) -> dict[str, Any]:
    """draft or open → cancelled (staff), with a reason residents see on the survey's page. The
    invitation residents received is taken back from their inbox; answers already given are kept
    (staff still see them)."""
    survey = await staff_survey_locked(session, user, survey_id)
    require_status(survey, ("draft", "open"), "取消", "survey_not_cancellable")
    was_open = survey.status == "open"
    survey.status = "cancelled"
    survey.cancel_reason = reason
    await session.flush()
    if was_open:
        await outbox.cancel(session, close_key(survey.id))
        await retract(session, opened_cause(survey))
        await rewrite_anonymous(session, survey)
    return await view(session, user, survey, True)


async def close_due(session: AsyncSession, survey_id: int) -> bool:
    """The worker: close the survey if its close has passed (`surveys.close`, run at `closes_at`);
    True if it closed it. A survey closed, cancelled or not yet due is left as it is."""
    try:
        survey = await lock_survey(session, survey_id)
    except NotFound:
        return False
    now = clock.now()
    if survey.status != "open" or now < survey.closes_at:
        return False
    await _close(session, survey, now)
    return True


async def close_overdue(session: AsyncSession) -> int:
    """The sweep: every open survey past its close is closed (in case its job was lost)."""
    due = list(
        (
            await session.execute(
                select(Survey.id).where(Survey.status == "open", Survey.closes_at <= clock.now()).order_by(Survey.id)
            )
        ).scalars()
    )
    closed = 0
    for survey_id in due:
        closed += await close_due(session, survey_id)
    return closed


# -- answering -----------------------------------------------------------------------------------


async def _keep(
    session: AsyncSession,
    survey: Survey,
    answers: dict[str, dict[str, Any]],
    *,
    channel: str,
    ref: int | None,
    member: Member | None,
    household: Household | None,
    building: str,
    entered_by: int | None,
    already: str,
) -> None:
    """One response: the respondent's token first (409 `already` if it is there), then the
    response — with no person when the survey is anonymous."""
    if ref is not None:
        token = survey_token(session, survey.id, survey.unit, ref)
        if not await insert_ignore(
            session, SurveyToken, {"survey_id": survey.id, "token": token}, ["survey_id", "token"]
        ):
            raise Conflict("survey_already_answered", already)
    named = not survey.anonymous
    tz = await community_tz(session, survey.community_id)
    session.add(
        SurveyResponse(
            id=random_id(),
            survey_id=survey.id,
            channel=channel,
            respondent_ref=ref if named else None,
            household_id=household.id if named and household is not None else None,
            member_id=member.id if named and member is not None else None,
            building=building,
            submitted_on=clock.now().astimezone(tz).date(),
            entered_by=entered_by,
            answers=answers,
        )
    )
    await session.flush()


async def respond(session: AsyncSession, user: User, survey_id: int, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """A resident answers (once: per person or per household, as the survey says; 409
    `survey_already_answered`, without saying who answered first)."""
    await readable_survey(session, user, survey_id)
    survey = await lock_survey(session, survey_id, share=True)
    require_status(survey, ("open",), "填写", "survey_not_open")
    member = await caller_member(session, user, survey.community_id)
    if member is None:
        raise Forbidden("survey_not_resident", NOT_RESIDENT)
    stored = check_answers(survey.questions, answers)
    household = await session.get(Household, member.household_id)
    already = "你已经填写过这份问卷" if survey.unit == "person" else "你家已经有人填写过这份问卷（每户一份）"
    await _keep(
        session,
        survey,
        stored,
        channel="app",
        ref=respondent_ref(survey, member),
        member=member,
        household=household,
        building=household.building if household is not None else "",
        entered_by=None,
        already=already,
    )
    thanks = "谢谢！你的回答已匿名保存，谁也看不到是谁填写的。" if survey.anonymous else "谢谢！你的回答已保存。"
    return {"survey_id": survey.id, "answered": True, "anonymous": survey.anonymous, "message": thanks}


async def _paper_respondent(
    session: AsyncSession, survey: Survey, member_id: int | None, household_id: int | None
) -> tuple[Member | None, Household | None]:
    member = household = None
    if member_id is not None:
        member = await session.get(Member, member_id)
        if member is None or member.community_id != survey.community_id or member.status != "active":
            raise invalid_field("member_id", "本社区没有这位成员", kind="member_not_found")
        if member.kind == "child":
            raise invalid_field("member_id", "儿童不能作为问卷的填写人，请由家长填写", kind="member_is_child")
    if household_id is not None:
        household = await session.get(Household, household_id)
        if household is None or household.community_id != survey.community_id:
            raise invalid_field("household_id", "本社区没有这一户", kind="household_not_found")
        if member is not None and member.household_id != household.id:
            raise invalid_field("member_id", "这位成员不是这一户的", kind="member_not_in_household")
    if member is not None and household is None:
        household = await session.get(Household, member.household_id)
    if survey.unit == "person" and household is not None and member is None:
        raise invalid_field("member_id", "这份问卷每人一份，请选择填写的成员", kind="member_required")
    return member, household


async def enter_paper(
    session: AsyncSession,
    user: User,
    survey_id: int,
    answers: list[dict[str, Any]],
    *,
    member_id: int | None = None,
    household_id: int | None = None,
    building: str | None = None,
) -> dict[str, Any]:
    """Staff enter a paper questionnaire while the survey is open. With its respondent (a member;
    for a household survey, a household or one of its members) the respondent's token is used, so
    that they (their household) cannot also answer in the app — and cannot have been entered
    already (409). Without one, `building` may say where it came from (for the breakdown).
    An anonymous survey keeps no person on the response either way."""
    await staff_survey(session, user, survey_id)
    survey = await lock_survey(session, survey_id, share=True)
    require_status(survey, ("open",), "录入纸质问卷", "survey_not_open")
    member, household = await _paper_respondent(session, survey, member_id, household_id)
    where = ""
    if building is not None:
        if household is not None:
            raise invalid_field("building", "记了填写人时，楼栋取自他的住址，不用再填", kind="building_not_needed")
        found = await community_building(session, survey.community_id, building)
        if not found:
            raise invalid_field("building", "本社区没有这个楼栋", kind="building_not_found")
        where = found
    stored = check_answers(survey.questions, answers)
    ref = None
    label = None
    if household is not None:
        ref = member.id if survey.unit == "person" and member is not None else household.id
        label = address_text(household) + (f" {member.display_name}" if member is not None else "")
        where = household.building
    already = "这位居民已经填写过这份问卷" if survey.unit == "person" else "这一户已经有人填写过这份问卷（每户一份）"
    await _keep(
        session,
        survey,
        stored,
        channel="paper",
        ref=ref,
        member=member,
        household=household,
        building=where,
        entered_by=user.id,
        already=already,
    )
    return {
        "survey_id": survey.id,
        "channel": "paper",
        "anonymous": survey.anonymous,
        "respondent": label,
        "token_used": ref is not None,
        "response_count": await response_count(session, survey.id),
    }
