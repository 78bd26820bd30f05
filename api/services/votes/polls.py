"""Polls and elections up to the close: drafts, publishing, opening, cancelling, reading.

    draft → scheduled (published; the roll may be out for objections) → open → closed    (or cancelled)

A poll asks questions (single or multiple choice with a minimum and a maximum, optionally a free
text); an election has one question whose options are the candidates (nominated by staff, each
with a short statement), multiple choice, at most `seats` and at least none: a blank ballot (弃权)
takes part, and counts in the base of the majority a seat needs (see `tally`). Each says who votes (the
electorate: each adult resident, each household, or each flat with a recorded area, weighted by it,
whoever lives there — see `roll`), how it is decided (`rule`: a majority of votes cast, a quorum of the roll then the
majority, or the Civil Code art. 278 dual thresholds, flats only — for polls, and for elections such
as the owners' committee's, 选举业主委员会, where each candidate needs more than half of the
participating area and flats; never the special majority), whether ballots are secret (never
for flats: the result publishes each option's area total, and with the roll's areas a subset sum
tells who chose what — 422 naming `secret`, on create and on any patch that would make the pair), and
what it is (`common.standing`: 选举, 业主大会表决 only when convened under the owners' assembly rules
by art. 278, otherwise 意向征询 — a consultation, never a decision).

Publishing (`publish`): with an objection period (`objection_days` > 0) the roll is taken now and
published to residents (names masked) until voting starts, which must then be at least that many
days away; otherwise a poll whose start has come opens now (roll taken, electorate told), and one
whose start is still to come is scheduled: the worker's `polls.open` (or the first vote after the
start, or the sweep) opens it with the same `open_due`.

A flat poll's roll — the register of flats and their areas, art. 278's denominators — is taken when
it is published, whatever its objection days: publishing is refused while an owner household has no
area, and what was checked then is what counts. Households' later changes (an area recorded,
corrected or cleared, a flat's owner flag) do not touch it; only an upheld objection does, while
the roll is out for objections. (Residents' and households' rolls are taken at the opening, unless
published for objections: who lives there when voting starts is who votes.) Publishing enqueues `polls.open`,
`polls.remind` (a day before the close, to those who have not voted) and `polls.close` (helper
`results.close_due`: the tally).

`data` (create and update) is a plain dict: the request model's `model_dump()` (for an update,
`exclude_unset=True`: only what was given), with `questions` as a list of dicts
`{text, kind, min_choices, max_choices, allow_text, options: [{label, statement, approves}]}` and
`candidates` as `[{name, statement}]`. The console builds the same dicts.

Who may do what: see `common`. Services flush, never commit, and answer with plain dicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Poll, User
from api.errors import Conflict, Forbidden, invalid_field
from api.pagination import after_time_and_id, encode_cursor
from api.services.activities.common import community_tz
from api.services.governance.meetings import community_viewer
from api.services.notifications import notify, retract
from api.services.votes import common, roll
from workers import outbox

QUESTION_KIND_LABELS = {"single": "单选", "multiple": "多选"}
MAX_QUESTIONS = 20
REMIND_BEFORE = timedelta(days=1)
NULLABLE = ("quorum_percent", "seats", "tie_rule")


def job_key(poll_id: int, what: str) -> str:
    """The dedup key of a poll's job: open, remind, close."""
    return f"poll:{poll_id}:{what}"


# -- the draft, checked ------------------------------------------------------------------------------


def _as_data(poll: Poll) -> dict[str, Any]:
    """The poll's fields in the shape `data` takes (an election's candidates from its question)."""
    election = poll.kind == "election"
    options = poll.questions[0]["options"] if election and poll.questions else []
    return {
        "kind": poll.kind,
        "title": poll.title,
        "body": poll.body,
        "electorate": poll.electorate,
        "rule": poll.rule,
        "quorum_percent": poll.quorum_percent,
        "special_majority": poll.special_majority,
        "owners_assembly": poll.owners_assembly,
        "secret": poll.secret,
        "seats": poll.seats,
        "tie_rule": poll.tie_rule,
        "objection_days": poll.objection_days,
        "opens_at": poll.opens_at,
        "closes_at": poll.closes_at,
        "questions": [] if election else list(poll.questions),
        "candidates": [{"name": o["label"], "statement": o.get("statement", "")} for o in options],
    }


def _check_rule(data: dict[str, Any]) -> None:
    rule, election = data["rule"], data["kind"] == "election"
    if rule == "quorum" and data.get("quorum_percent") is None:
        raise invalid_field("quorum_percent", "规则为达到参与率后过半数时必填（1–100）", kind="quorum_required")
    if rule != "quorum" and data.get("quorum_percent") is not None:
        raise invalid_field(
            "quorum_percent", "只有规则为达到参与率后过半数（quorum）时才填写", kind="quorum_not_allowed"
        )
    if rule == "art278" and data["electorate"] != "flat":
        raise invalid_field(
            "rule",
            "按《民法典》第二百七十八条表决时，应以每套房（按专有部分面积）为投票单位（electorate 为 flat）",
            kind="art278_needs_flats",
        )
    if data.get("secret") and data["electorate"] == "flat":
        raise invalid_field(
            "secret",
            "按面积计票的投票公布各选项的面积合计，无法做到无记名（由各套房的面积可以推算出谁投了什么）："
            "请改为记名投票，或按户、按人投票",
            kind="secret_flat",
        )
    if data.get("special_majority") and election:
        raise invalid_field(
            "special_majority",
            "选举不适用四分之三的特别多数：候选人须得到参与表决的面积和人数都过半数",
            kind="special_majority_election",
        )
    if data.get("special_majority") and rule != "art278":
        raise invalid_field(
            "special_majority", "四分之三的特别多数只用于按第二百七十八条的表决（rule 为 art278）", kind="art278_only"
        )
    if data.get("owners_assembly") and rule != "art278":
        raise invalid_field(
            "owners_assembly", "业主大会表决须按第二百七十八条计票（rule 为 art278）", kind="art278_only"
        )


def _check_times(data: dict[str, Any], now: datetime) -> None:
    if data["closes_at"] <= data["opens_at"]:
        raise invalid_field("closes_at", "截止时间应晚于开始时间", kind="closes_before_opens")
    if data["closes_at"] <= now:
        raise invalid_field("closes_at", "截止时间应在将来", kind="closes_in_past")


def _question(index: int, q: dict[str, Any], art278: bool) -> dict[str, Any]:
    """A question as stored, its choices' bounds filled in and checked."""
    where = f"questions[{index}]"
    options = q.get("options") or []
    if len(options) < 2:
        raise invalid_field(f"{where}.options", "至少要有两个选项", kind="too_few_options")
    labels = [o["label"] for o in options]
    if len(set(labels)) != len(labels):
        raise invalid_field(f"{where}.options", "选项不能重复", kind="options_repeated")
    kind = q.get("kind") or "single"
    low, high = q.get("min_choices"), q.get("max_choices")
    if kind == "single":
        if (low is not None and low != 1) or (high is not None and high != 1):
            raise invalid_field(
                f"{where}.max_choices", "单选题只能选一项（min_choices、max_choices 为 1）", kind="single_choice"
            )
        low = high = 1
    else:
        high = len(options) if high is None else high
        low = 1 if low is None else low
        if high > len(options):
            raise invalid_field(
                f"{where}.max_choices", f"最多可选的项数不能超过选项数（{len(options)}）", kind="max_above_options"
            )
        if low > high:
            raise invalid_field(f"{where}.min_choices", "最少应选的项数不能多于最多可选的项数", kind="min_above_max")
    if art278:
        if kind != "single":
            raise invalid_field(
                f"{where}.kind", "按第二百七十八条表决的每道题都应为单选（同意、反对、弃权）", kind="art278_single"
            )
        if sum(1 for o in options if o.get("approves")) != 1:
            raise invalid_field(
                f"{where}.options",
                "按第二百七十八条表决的每道题应有且只有一个表示同意的选项（approves 为 true）",
                kind="art278_approves",
            )
    return {
        "text": q["text"],
        "kind": kind,
        "min_choices": low,
        "max_choices": high,
        "allow_text": bool(q.get("allow_text")),
        "options": [
            {"label": o["label"], "statement": o.get("statement") or "", "approves": bool(o.get("approves"))}
            for o in options
        ],
    }


def ballot_text(seats: int) -> str:
    """An election's one question: up to `seats` names, or none (a blank ballot, 弃权)."""
    return f"应选{seats}名，每张选票最多选{seats}人，也可以一人不选（弃权）"


def _questions(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions to store: a poll's as given (checked), or an election's one question built from
    its candidates."""
    if data["kind"] == "election":
        if data.get("questions"):
            raise invalid_field("questions", "选举不填写题目，请填写候选人（candidates）", kind="election_questions")
        seats, tie_rule = data.get("seats"), data.get("tie_rule")
        if seats is None:
            raise invalid_field("seats", "选举须填写应选人数（1–50）", kind="seats_required")
        if tie_rule is None:
            raise invalid_field(
                "tie_rule",
                "选举须说明最后一个名额票数相同时怎么办：决选投票（runoff）或抽签（lot）",
                kind="tie_rule_required",
            )
        candidates = data.get("candidates") or []
        if not candidates:
            raise invalid_field("candidates", "选举至少要有一位候选人", kind="candidates_required")
        if len(candidates) < seats:
            raise invalid_field("candidates", f"候选人不能少于应选人数（{seats}）", kind="too_few_candidates")
        names = [c["name"] for c in candidates]
        if len(set(names)) != len(names):
            raise invalid_field(
                "candidates", "候选人不能重名，请在名字后注明区分（如 楼栋）", kind="candidates_repeated"
            )
        return [
            {
                "text": ballot_text(seats),
                "kind": "multiple",
                "min_choices": 0,  # a blank ballot (弃权) takes part
                "max_choices": seats,
                "allow_text": False,
                "options": [
                    {"label": c["name"], "statement": c.get("statement") or "", "approves": False} for c in candidates
                ],
            }
        ]
    if data.get("candidates"):
        raise invalid_field("candidates", "只有选举才填写候选人", kind="poll_candidates")
    if data.get("seats") is not None:
        raise invalid_field("seats", "只有选举才填写应选人数", kind="poll_seats")
    if data.get("tie_rule") is not None:
        raise invalid_field("tie_rule", "只有选举才填写票数相同时的办法", kind="poll_tie_rule")
    questions = data.get("questions") or []
    if not questions:
        raise invalid_field("questions", "至少要有一道题", kind="questions_required")
    if len(questions) > MAX_QUESTIONS:
        raise invalid_field("questions", f"最多 {MAX_QUESTIONS} 道题", kind="too_many_questions")
    return [_question(i, q, data["rule"] == "art278") for i, q in enumerate(questions)]


def checked(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The poll's columns from a draft's fields, or a 422 naming the field that does not fit."""
    _check_times(data, now)
    _check_rule(data)
    questions = _questions(data)
    election = data["kind"] == "election"
    return {
        "kind": data["kind"],
        "title": data["title"],
        "body": data.get("body") or "",
        "electorate": data["electorate"],
        "rule": data["rule"],
        "quorum_percent": data.get("quorum_percent"),
        "special_majority": bool(data.get("special_majority")),
        "owners_assembly": bool(data.get("owners_assembly")),
        "secret": bool(data.get("secret")),
        "seats": data.get("seats") if election else None,
        "tie_rule": data.get("tie_rule") if election else None,
        "objection_days": data.get("objection_days") or 0,
        "opens_at": data["opens_at"],
        "closes_at": data["closes_at"],
        "questions": questions,
    }


# -- views -----------------------------------------------------------------------------------------------


def question_views(poll: Poll) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "text": q["text"],
            "kind": q["kind"],
            "kind_label": QUESTION_KIND_LABELS[q["kind"]],
            "min_choices": q["min_choices"],
            "max_choices": q["max_choices"],
            "allow_text": q["allow_text"],
            "options": [
                {"index": j, "label": o["label"], "statement": o["statement"], "approves": o["approves"]}
                for j, o in enumerate(q["options"])
            ],
        }
        for i, q in enumerate(poll.questions)
    ]


def poll_ref(poll: Poll) -> dict[str, Any]:
    """What a list shows of a poll."""
    phase = common.phase(poll)
    return {
        "id": poll.id,
        "community_id": poll.community_id,
        "kind": poll.kind,
        "kind_label": common.KIND_LABELS[poll.kind],
        "title": poll.title,
        "standing": common.standing(poll),
        "electorate": poll.electorate,
        "electorate_label": common.ELECTORATE_LABELS[poll.electorate],
        "secret": poll.secret,
        "opens_at": poll.opens_at,
        "closes_at": poll.closes_at,
        "status": poll.status,
        "status_label": common.POLL_STATUS_LABELS[poll.status],
        "phase": phase,
        "phase_label": common.PHASE_LABELS[phase],
        "roll_count": poll.roll_count,
        "results_visible": common.results_visible(poll),
    }


async def view_of(session: AsyncSession, poll: Poll, staff: bool) -> dict[str, Any]:
    """A poll's page: its questions (or candidates), rule, electorate, phase and roll; turnout for
    staff while voting, and for everyone after the close."""
    from api.services.votes import voting

    phase = common.phase(poll)
    turnout = None
    if phase == "closed" or (staff and phase == "voting"):
        turnout = await voting.turnout_of(session, poll)
    election = poll.kind == "election"
    return {
        **poll_ref(poll),
        "body": poll.body,
        "unit": common.ELECTOR_UNIT[poll.electorate],
        "rule": poll.rule,
        "rule_label": common.RULE_LABELS[poll.rule],
        "quorum_percent": poll.quorum_percent,
        "special_majority": poll.special_majority,
        "owners_assembly": poll.owners_assembly,
        "seats": poll.seats,
        "tie_rule": poll.tie_rule,
        "tie_rule_label": common.TIE_RULE_LABELS[poll.tie_rule] if poll.tie_rule else None,
        "objection_days": poll.objection_days,
        "published_at": poll.published_at,
        "roll_taken_at": poll.roll_taken_at,
        "roll_weight": common.area_text(poll.roll_weight) if poll.electorate == "flat" else None,
        "roll_public": roll.roll_public(poll),
        "questions": question_views(poll),
        "candidates": (
            [
                {"index": j, "name": o["label"], "statement": o["statement"]}
                for j, o in enumerate(poll.questions[0]["options"])
            ]
            if election and poll.questions
            else []
        ),
        "cancel_reason": poll.cancel_reason or None,
        "runoff_of": poll.runoff_of,
        "tallied_at": poll.tallied_at,
        "turnout": turnout,
        "created_at": poll.created_at,
        "updated_at": poll.updated_at,
    }


async def poll_view(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`GET /polls/{id}`: the poll as the caller may see it (a draft only for staff)."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    return await view_of(session, poll, staff)


async def list_polls(
    session: AsyncSession, user: User, community_id: int, status: str | None, page: roll.PageLike
) -> dict[str, Any]:
    """`GET /communities/{cid}/polls`: the community's polls, latest close first; residents never see
    drafts (nor one cancelled before it was published)."""
    _, staff = await community_viewer(session, user, community_id)
    limit = min(max(page.limit, 1), 100)
    query = select(Poll).where(Poll.community_id == community_id)
    if status is not None:
        query = query.where(Poll.status == status)
    if not staff:
        query = query.where(Poll.published_at.is_not(None))
    if page.cursor:
        query = query.where(after_time_and_id(page.cursor, Poll.closes_at, Poll.id, ascending=False))
    found = list(
        (await session.execute(query.order_by(Poll.closes_at.desc(), Poll.id.desc()).limit(limit + 1))).scalars()
    )
    more = len(found) > limit
    found = found[:limit]
    next_cursor = encode_cursor(localtime.iso(found[-1].closes_at), found[-1].id) if more else None
    return {"items": [poll_ref(p) for p in found], "next_cursor": next_cursor}


async def _community_staff(session: AsyncSession, user: User, community_id: int) -> None:
    _, staff = await community_viewer(session, user, community_id)
    if not staff:
        raise Forbidden("staff_only", common.STAFF_ONLY_POLLS)


async def electorate_preview(session: AsyncSession, user: User, community_id: int, electorate: str) -> dict[str, Any]:
    """`GET /communities/{cid}/polls/electorate` (staff): who would be on the roll if it were taken
    now — electors, the households they come from, the total area (flats), owner households
    without an area (a flat poll cannot be published while there are any), every household
    without an area (not a flat on the roll), the flats on the roll that are not owner-occupied
    (their owners vote on paper or by proxy), and how many could vote in the app (the rest vote on
    paper or by proxy)."""
    await _community_staff(session, user, community_id)
    rows = await roll.electorate_now(session, community_id, electorate)
    flat = electorate == "flat"
    return {
        "electorate": electorate,
        "electorate_label": common.ELECTORATE_LABELS[electorate],
        "unit": common.ELECTOR_UNIT[electorate],
        "electors": len(rows),
        "households": len({r["household_id"] for r in rows}),
        "weight": common.area_text(sum(r["weight"] for r in rows)) if flat else None,
        "missing_area": await roll.missing_area(session, community_id) if flat else 0,
        "without_area": await roll.without_area(session, community_id) if flat else 0,
        "not_owner_occupied": await roll.not_owner_occupied(session, community_id) if flat else 0,
        "with_account": await roll.with_account(session, community_id, electorate),
    }


# -- drafts ------------------------------------------------------------------------------------------------


async def create_poll(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """`POST /communities/{cid}/polls` (staff): a draft, checked as a whole (422 naming the field)."""
    await _community_staff(session, user, community_id)
    poll = Poll(
        community_id=community_id,
        status="draft",
        created_by=user.id,
        cancel_reason="",
        roll_count=0,
        roll_weight=0,
        **checked(data, clock.now()),
    )
    session.add(poll)
    await session.flush()
    return await view_of(session, poll, True)


def require_draft(poll: Poll, doing: str) -> None:
    if poll.status != "draft":
        raise Conflict(
            "poll_not_draft",
            f"投票当前状态为「{common.POLL_STATUS_LABELS[poll.status]}」，只有草稿才能{doing}",
            details={"status": poll.status},
        )


async def update_poll(session: AsyncSession, user: User, poll_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """`PATCH /polls/{id}` (staff, drafts only: 409 poll_not_draft): the fields given replace the
    draft's, and the whole is checked again."""
    await common.staff_poll(session, user, poll_id)
    poll = await common.lock_poll(session, poll_id)
    require_draft(poll, "修改")
    # null clears only what may be empty (a quorum, seats, a tie rule); elsewhere it changes nothing
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE}
    merged = {**_as_data(poll), **data}
    if merged["kind"] != poll.kind:  # the other kind's fields go unless given again
        dropped = ("candidates", "seats", "tie_rule") if merged["kind"] == "poll" else ("questions",)
        for name in dropped:
            if name not in data:
                merged[name] = None if name in ("seats", "tie_rule") else []
    if merged["rule"] != "quorum" and "quorum_percent" not in data:
        merged["quorum_percent"] = None
    if merged["rule"] != "art278":  # the owners' assembly and its special majority go with art. 278
        for name in ("special_majority", "owners_assembly"):
            if name not in data:
                merged[name] = False
    for name, value in checked(merged, clock.now()).items():
        setattr(poll, name, value)
    await session.flush()
    return await view_of(session, poll, True)


# -- publishing, opening, cancelling --------------------------------------------------------------------------


async def publish(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`POST /polls/{id}/publish` (staff): the draft is checked again (its close must still be to
    come). A flat poll is refused while owner households lack an area (409 poll_roll_area_missing,
    naming how many), and any poll whose roll would be empty (409 poll_roll_empty). With an
    objection period the start must be at least that many days away (409
    poll_objection_period_short, saying the earliest); the roll is taken now and published. A flat
    poll's roll is taken now in any case (see the module's docstring). Else a poll whose start has
    come opens now, one still to come is scheduled. Its jobs are enqueued."""
    await common.staff_poll(session, user, poll_id)
    poll = await common.lock_poll(session, poll_id)
    require_draft(poll, "发布")
    now = clock.now()
    checked(_as_data(poll), now)
    if poll.electorate == "flat":
        missing = await roll.missing_area(session, poll.community_id)
        if missing:
            raise Conflict(
                "poll_roll_area_missing",
                f"有 {missing} 户业主还没有登记专有部分面积，按面积计票需要每套房的面积："
                "请先在住户档案中补全或导入面积",
                details={"missing_area": missing},
            )
    if not await roll.electorate_now(session, poll.community_id, poll.electorate):
        raise Conflict(
            "poll_roll_empty",
            f"按「{common.ELECTORATE_LABELS[poll.electorate]}」，名册上一个人也没有，不能发布",
            details={"electorate": poll.electorate},
        )
    if poll.objection_days > 0:
        earliest = now + timedelta(days=poll.objection_days)
        if poll.opens_at < earliest:
            tz = await community_tz(session, poll.community_id)
            raise Conflict(
                "poll_objection_period_short",
                f"名册要公示 {poll.objection_days} 天，投票最早 {localtime.text(earliest, tz)} 开始，请先修改开始时间",
                details={"earliest_opens_at": earliest, "objection_days": poll.objection_days},
            )
    poll.published_at = now
    poll.status = "scheduled"
    if poll.objection_days > 0 or poll.electorate == "flat":  # a flat roll: the register as checked now
        await roll.take_roll(session, poll)
    await session.flush()
    if poll.opens_at <= now:
        await _open(session, poll)
    await _plan_jobs(session, poll)
    return await view_of(session, poll, True)


async def _plan_jobs(session: AsyncSession, poll: Poll) -> None:
    payload = {"poll_id": poll.id}
    await outbox.enqueue(session, "polls.open", payload, run_at=poll.opens_at, dedup_key=job_key(poll.id, "open"))
    remind_at = poll.closes_at - REMIND_BEFORE
    if remind_at > max(clock.now(), poll.opens_at):
        await outbox.enqueue(session, "polls.remind", payload, run_at=remind_at, dedup_key=job_key(poll.id, "remind"))
    await outbox.enqueue(session, "polls.close", payload, run_at=poll.closes_at, dedup_key=job_key(poll.id, "close"))


def _params(poll: Poll) -> dict[str, Any]:
    return {
        "poll_id": poll.id,
        "poll_title": poll.title,
        "standing": common.standing(poll),
        "closes_at": poll.closes_at,
    }


async def _open(session: AsyncSession, poll: Poll) -> None:
    """scheduled → open (the caller holds the poll FOR UPDATE): the roll is taken if it was not yet,
    and, unless the close has passed already, the electorate hears that voting has started."""
    await roll.take_roll(session, poll)
    poll.status = "open"
    await session.flush()
    if clock.now() < poll.closes_at:
        people = await roll.electorate_users(session, poll)
        if people:
            await notify(
                session,
                people,
                "poll.opened",
                _params(poll),
                job_key(poll.id, "opened"),
                community_id=poll.community_id,
            )


async def open_due(session: AsyncSession, poll_id: int) -> bool:
    """Open a scheduled poll whose start has come (the worker's `polls.open`, the sweep, or the first
    vote after the start): under the poll's lock, so it opens once. Whether it opened now."""
    poll = await common.lock_poll(session, poll_id)
    if poll.status != "scheduled" or clock.now() < poll.opens_at:
        return False
    await _open(session, poll)
    return True


async def open_overdue(session: AsyncSession) -> int:
    """Every scheduled poll whose start has passed (a job that could not run): opened."""
    due = (
        await session.execute(
            select(Poll.id).where(Poll.status == "scheduled", Poll.opens_at <= clock.now()).order_by(Poll.id)
        )
    ).scalars()
    return sum([await open_due(session, poll_id) for poll_id in list(due)])


async def remind_due(session: AsyncSession, poll_id: int) -> int:
    """`polls.remind`, a day before the close: the electorate's accounts whose elector has not voted
    yet hear that it closes soon (once). Returns how many were told."""
    poll = await session.get(Poll, poll_id)
    if poll is None or common.phase(poll) != "voting":
        return 0
    if poll.status == "scheduled":
        await open_due(session, poll_id)
    people = await roll.electorate_users(session, poll, not_voted=True)
    if not people:
        return 0
    return await notify(
        session, people, "poll.closing", _params(poll), job_key(poll.id, "closing"), community_id=poll.community_id
    )


async def cancel(session: AsyncSession, user: User, poll_id: int, reason: str) -> dict[str, Any]:
    """`POST /polls/{id}/cancel` (staff): before the close, with a reason residents read. Its jobs
    are withdrawn (and a job already taken finds the poll cancelled and does nothing: `open_due`
    opens only a scheduled poll, `remind_due` reminds only while voting, `results.close_due`
    leaves a cancelled poll); the notices that voting started or closes soon are retracted from
    the inboxes; if voting had started, the electorate hears it was cancelled, with the reason
    (`poll.cancelled`). Ballots already cast are kept but never counted."""
    await common.staff_poll(session, user, poll_id)
    poll = await common.lock_poll(session, poll_id)
    if poll.status == "cancelled":
        raise Conflict("poll_cancelled", "这次投票已经取消了", details={"status": poll.status})
    if common.phase(poll) == "closed":
        raise Conflict("poll_closed", "投票已经结束，不能取消", details={"status": poll.status})
    voting = poll.status == "open"  # the electorate was told; votes may have been cast
    poll.status = "cancelled"
    poll.cancel_reason = reason
    await session.flush()
    for what in ("open", "remind", "close"):
        await outbox.cancel(session, job_key(poll.id, what))
    for told in ("opened", "closing"):
        await retract(session, job_key(poll.id, told))
    if voting:
        people = await roll.electorate_users(session, poll)
        if people:
            await notify(
                session,
                people,
                "poll.cancelled",
                {"poll_id": poll.id, "poll_title": poll.title, "standing": common.standing(poll), "reason": reason},
                job_key(poll.id, "cancelled"),
                community_id=poll.community_id,
            )
    return await view_of(session, poll, True)
