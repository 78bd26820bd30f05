"""Closing a poll, its results, its export, and settling a tie at an election's last seat.

Closing (`close_due`, by the worker's `polls.close` at `closes_at`, by the sweep `polls.close_due`
for any poll past its close, or by the first request for the results): the poll's row is taken FOR
UPDATE (`common.lock_poll`) — every vote holds it FOR SHARE while it writes, so the count waits
for the votes under way and a vote arriving later finds the poll closed — then counted by the pure
`tally.tally`, the count stored in `polls.result` with `tallied_at`, the status set to closed, and
everyone in the community (active members with an account, and staff) told of the result, once
(`poll.result`, cause `poll:<id>:result`).

At the close, under that lock and before counting, a secret poll's ballots are written again
(`_rewrite_secret_ballots`): read, deleted, and inserted anew in a random order with new random ids,
their receipts, weights and choices unchanged. On PostgreSQL a row carries the id of the
transaction that wrote it (`xmin`) and sits in the table's pages in the order it was written: a
secret ballot written in the same transaction as its participation shares its `xmin`, and lies
next to the ballots cast just before and after it. Written again at the close, every secret ballot
carries the close's transaction id and a place that follows no vote, so after the close nothing in
the live tables pairs a ballot with a participation. What remains, for whoever reads the database
itself (never through the API, which returns neither ids nor transaction ids nor physical order):
before the close, while voting is open, a secret ballot can be paired with its participation by
`xmin` or by its place in the pages; and after it, until autovacuum reclaims them, the deleted
row versions stay in the pages (as they do in WAL archives and backups taken before the close).

Results are hidden from everyone, staff included, until `closes_at` has passed (409
`poll_results_hidden`, saying when they appear); after it, everyone who may see the poll sees the
same count with its turnout. The export (staff) has the count, the roll (who took part and how —
never what they chose on a secret ballot) and the ballots: open ones by elector, secret ones by
receipt only, in receipt order, with no weight (a flat's area would name the flat).

A tie at an election's last seat is settled by the rule the poll names: `lot` — staff record whom
the lot elected (`resolve_tie`), and the count is taken again with the lot applied; `runoff` —
staff open a draft run-off election among the tied for the seats left (`open_runoff`), with the
same electorate, rule and secrecy; the parent's result names it.

Functions take the session and the acting user, check the caller through `votes.common`, raise
`api.errors` AppErrors, flush and never commit, and answer with plain dicts.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Member, Poll, PollBallot, PollElector, PollParticipation, User
from api.documents import xlsx
from api.errors import Conflict, invalid_field
from api.services.access import staff_ids
from api.services.notifications import notify
from api.services.votes import common, tally

CLOSE_JOB = "polls.close"
SWEEP_JOB = "polls.close_due"
RESULT_KIND = "poll.result"
SWEEP_BATCH = 20  # polls closed by one run of the sweep (the rest by the next)
RUNOFF_SUFFIX = "（决选）"
RUNOFF_LEAD = timedelta(days=1)  # a run-off draft opens a day later unless staff change it


def result_cause(poll_id: int, what: str = "result") -> str:
    return f"poll:{poll_id}:{what}"


# -- counting and closing ------------------------------------------------------------------------


async def roll_of(session: AsyncSession, poll_id: int) -> list[PollElector]:
    rows = await session.execute(
        select(PollElector)
        .where(PollElector.poll_id == poll_id)
        .order_by(PollElector.building, PollElector.label, PollElector.id)
    )
    return list(rows.scalars())


async def participations_of(session: AsyncSession, poll_id: int) -> list[PollParticipation]:
    rows = await session.execute(select(PollParticipation).where(PollParticipation.poll_id == poll_id))
    return list(rows.scalars())


async def ballots_of(session: AsyncSession, poll_id: int) -> list[PollBallot]:
    """The poll's ballots, in receipt order (secret) — never by anything that follows the voting."""
    rows = await session.execute(
        select(PollBallot).where(PollBallot.poll_id == poll_id).order_by(PollBallot.receipt, PollBallot.id)
    )
    return list(rows.scalars())


async def count(session: AsyncSession, poll: Poll) -> dict[str, Any]:
    """The poll counted now by `tally.tally` (the poll holds its tie's resolution, if any)."""
    return tally.tally(
        poll,
        await roll_of(session, poll.id),
        await ballots_of(session, poll.id),
        await participations_of(session, poll.id),
    )


async def close_due(session: AsyncSession, poll_id: int) -> dict[str, Any] | None:
    """Close the poll if its close has passed and it is not closed yet: lock, count, store, tell
    everyone. Returns the stored count (also when it was closed before), or None when there is
    nothing to close (a draft, a cancelled poll, a close still to come)."""
    poll = await common.lock_poll(session, poll_id)
    if poll.status == "closed":
        return poll.result
    if poll.status in ("draft", "cancelled") or clock.now() < poll.closes_at:
        return None
    if poll.status == "scheduled":
        await _open_first(session, poll)
    if poll.secret:
        await _rewrite_secret_ballots(session, poll.id)
    now = clock.now()
    poll.result = await count(session, poll)
    poll.tallied_at = now
    poll.status = "closed"
    await session.flush()
    await announce(session, poll, result_cause(poll.id))
    return poll.result


async def _rewrite_secret_ballots(session: AsyncSession, poll_id: int) -> int:
    """The poll's secret ballots, deleted and inserted again in a random order with new random ids
    (receipts, weights and choices unchanged), so that neither their transaction id nor their order
    in the table's pages pairs them with a participation any more (see the module's docstring). The
    caller holds the poll FOR UPDATE: no vote is under way. Returns how many were written again."""
    secret = (PollBallot.poll_id == poll_id, PollBallot.participation_id.is_(None))
    found = (
        await session.execute(
            select(PollBallot.id, PollBallot.receipt, PollBallot.weight, PollBallot.answers).where(*secret)
        )
    ).all()
    if not found:
        return 0
    await session.execute(delete(PollBallot).where(*secret).execution_options(synchronize_session=False))
    old = {row.id for row in found}
    rows = []
    for row in found:
        new_id = common.random_id()
        while new_id in old:  # never an old id (odds of 2^-62, but every id is to change)
            new_id = common.random_id()
        old.add(new_id)
        rows.append(
            {
                "id": new_id,
                "poll_id": poll_id,
                "participation_id": None,
                "receipt": row.receipt,
                "weight": row.weight,
                "answers": row.answers,
                "changed_at": None,
            }
        )
    secrets.SystemRandom().shuffle(rows)
    await session.execute(insert(PollBallot), rows)
    return len(rows)


async def _open_first(session: AsyncSession, poll: Poll) -> None:
    """A poll whose close passed before its opening job ran is opened first, as the job would have
    (its roll taken if it was not during the objections; nobody is told it opened)."""
    from api.services.votes import polls

    await polls.open_due(session, poll.id)
    await session.refresh(poll)


async def close_all_due(session: AsyncSession) -> int:
    """The sweep: polls past their close that are not closed yet (a lost or late job), a batch at
    a time. Returns how many were closed."""
    due = (
        await session.execute(
            select(Poll.id)
            .where(Poll.status.in_(("scheduled", "open")), Poll.closes_at <= clock.now())
            .order_by(Poll.closes_at, Poll.id)
            .limit(SWEEP_BATCH)
        )
    ).scalars()
    closed = 0
    for poll_id in list(due):
        if await close_due(session, poll_id) is not None:
            closed += 1
    return closed


async def everyone(session: AsyncSession, community_id: int) -> list[int]:
    """Whom a result goes to: the community's active members with an account, and its staff."""
    members = await session.execute(
        select(Member.user_id)
        .where(Member.community_id == community_id, Member.status == "active", Member.user_id.is_not(None))
        .distinct()
    )
    people = {user_id for user_id in members.scalars() if user_id is not None}
    return sorted(people | set(await staff_ids(session, community_id)))


def turnout_text(result: dict[str, Any]) -> str:
    turnout = result["turnout"]
    text = f"参与{turnout['participants']}/{turnout['electors']}{turnout['unit']}（{turnout['percent']:.2f}%）"
    if turnout.get("area_percent") is not None:
        text += f"，面积{turnout['area_percent']:.2f}%"
    return text


async def announce(session: AsyncSession, poll: Poll, cause: str) -> int:
    """Everyone in the community hears the result (once per cause)."""
    result = poll.result or {}
    params = {
        "poll_id": poll.id,
        "poll_title": poll.title,
        "standing": common.standing(poll),
        "summary": result.get("summary", ""),
        "turnout": turnout_text(result),
    }
    people = await everyone(session, poll.community_id)
    return await notify(session, people, RESULT_KIND, params, cause, community_id=poll.community_id)


# -- the results ---------------------------------------------------------------------------------


def check_visible(poll: Poll) -> None:
    """Refuse (409) results before the close, for staff and residents alike."""
    if poll.status == "cancelled":
        raise Conflict("poll_cancelled", "这个投票已取消，没有结果", details={"status": poll.status})
    if common.results_visible(poll):
        return
    if poll.status == "draft":
        raise Conflict("poll_results_hidden", "这个投票还没有发布，没有结果", details={"closes_at": poll.closes_at})
    raise Conflict(
        "poll_results_hidden",
        f"投票结束（{localtime.text(poll.closes_at)}）后才公布结果，在此之前任何人（包括社区工作人员）都看不到",
        details={"closes_at": poll.closes_at},
    )


async def closed_poll(session: AsyncSession, poll: Poll) -> Poll:
    """The poll after its close, counted: closed now with the same function if the worker has not
    done it yet."""
    check_visible(poll)
    if poll.status != "closed" or poll.result is None:
        await close_due(session, poll.id)
        await session.refresh(poll)
    return poll


def _when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


async def _runoff_ref(session: AsyncSession, runoff_id: int | None) -> dict[str, Any] | None:
    if runoff_id is None:
        return None
    runoff = await session.get(Poll, runoff_id)
    if runoff is None:
        return None
    election = (runoff.result or {}).get("election") or {}
    phase = common.phase(runoff)
    return {
        "id": runoff.id,
        "title": runoff.title,
        "status": runoff.status,
        "phase": phase,
        "phase_label": common.PHASE_LABELS[phase],
        "closes_at": runoff.closes_at,
        "elected": [e["name"] for e in election.get("elected") or []] if runoff.status == "closed" else [],
        "summary": (runoff.result or {}).get("summary") if runoff.status == "closed" else None,
    }


async def results_view(session: AsyncSession, poll: Poll) -> dict[str, Any]:
    """The stored count as the API answers it, with the poll's times and its run-offs."""
    result = dict(poll.result or {})
    election = result.get("election")
    if election and election.get("tie") and election["tie"].get("resolution"):
        election = {**election, "tie": {**election["tie"]}}
        resolution = dict(election["tie"]["resolution"])
        resolution["at"] = _when(resolution.get("at"))
        election["tie"]["resolution"] = resolution
        result["election"] = election
    parent = await session.get(Poll, poll.runoff_of) if poll.runoff_of is not None else None
    runoff_id = (poll.tie_resolution or {}).get("runoff_id")
    return {
        **result,
        "poll_id": poll.id,
        "community_id": poll.community_id,
        "status": poll.status,
        "opens_at": poll.opens_at,
        "closes_at": poll.closes_at,
        "tallied_at": poll.tallied_at,
        "runoff": await _runoff_ref(session, runoff_id),
        "runoff_of": None if parent is None else {"id": parent.id, "title": parent.title},
    }


async def results(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`GET /polls/{id}/results`: the count with turnout, after the close (409 before, for all)."""
    poll, _ = await common.readable_poll(session, user, poll_id)
    poll = await closed_poll(session, poll)
    return await results_view(session, poll)


# -- ties ----------------------------------------------------------------------------------------


async def _tied_election(session: AsyncSession, user: User, poll_id: int, rule: str) -> tuple[Poll, dict[str, Any]]:
    """The closed election, locked, whose tie at the last seat is still open and is settled by
    `rule`; else 409 saying why."""
    poll = await common.staff_poll(session, user, poll_id)
    if poll.kind != "election":
        raise Conflict("poll_not_election", "只有选举才有并列需要决定")
    poll = await closed_poll(session, poll)
    poll = await common.lock_poll(session, poll.id)
    election = (poll.result or {}).get("election") or {}
    tie = election.get("tie")
    if not tie:
        raise Conflict("poll_no_tie", "这次选举最后的席位没有并列，不需要决定")
    if poll.tie_rule != rule:
        if poll.tie_rule == "runoff":
            raise Conflict("poll_tie_rule", "这次选举约定并列时举行决选投票，不能抽签", details={"tie_rule": "runoff"})
        raise Conflict("poll_tie_rule", "这次选举约定并列时抽签决定，不能举行决选投票", details={"tie_rule": "lot"})
    resolution = poll.tie_resolution or {}
    if resolution.get("how") == "lot":
        raise Conflict("poll_tie_resolved", "并列已经抽签决定", details={"elected": resolution.get("elected")})
    if resolution.get("how") == "runoff":
        runoff = await session.get(Poll, resolution.get("runoff_id") or 0)
        if runoff is not None and runoff.status != "cancelled":
            raise Conflict(
                "poll_runoff_exists", f"已经发起了决选投票「{runoff.title}」", details={"runoff_id": runoff.id}
            )
    return poll, tie


async def resolve_tie(
    session: AsyncSession, user: User, poll_id: int, elected: Sequence[int], note: str
) -> dict[str, Any]:
    """`POST /polls/{id}/tie` (staff, tie rule `lot`, after the close): whom the lot elected —
    exactly the seats left, only among the tied. The count is taken again with the lot applied and
    everyone hears the final result."""
    poll, tie = await _tied_election(session, user, poll_id, "lot")
    chosen = list(elected)
    for position, index in enumerate(chosen):
        if index not in tie["candidates"]:
            names = "、".join(tie["names"])
            raise invalid_field(f"elected[{position}]", f"只能在并列的候选人（{names}）中选", kind="not_tied")
        if index in chosen[:position]:
            raise invalid_field(f"elected[{position}]", "同一位候选人只能选一次", kind="duplicate")
    if len(chosen) != tie["seats_left"]:
        raise invalid_field("elected", f"应选出{tie['seats_left']}名（剩下的席位数）", kind="wrong_count")
    poll.tie_resolution = {
        "how": "lot",
        "elected": sorted(chosen),
        "note": note,
        "by": user.id,
        "at": clock.now().isoformat(),
    }
    poll.result = await count(session, poll)
    await session.flush()
    await announce(session, poll, result_cause(poll.id, "lot"))
    return await results_view(session, poll)


def runoff_title(title: str) -> str:
    return title[: 64 - len(RUNOFF_SUFFIX)] + RUNOFF_SUFFIX


async def open_runoff(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`POST /polls/{id}/runoff` (staff, tie rule `runoff`, after the close): a draft election among
    the tied for the seats left, with the same electorate, rule, quorum, secrecy and tie rule, its
    `runoff_of` naming this poll. It opens a day later for as long as this one ran, unless staff
    change its times before publishing it. One run-off at a time (another only if it was
    cancelled). Answers with the new draft as `GET /polls/{id}` shows it."""
    from api.services.votes import polls

    parent, tie = await _tied_election(session, user, poll_id, "runoff")
    question = dict(parent.questions[0])
    candidates = [option for i, option in enumerate(question.get("options") or []) if i in tie["candidates"]]
    seats = int(tie["seats_left"])
    opens_at = (clock.now() + RUNOFF_LEAD).replace(second=0, microsecond=0)
    runoff = Poll(
        community_id=parent.community_id,
        kind="election",
        title=runoff_title(parent.title),
        body=f"「{parent.title}」中{'、'.join(tie['names'])}得票相同，在他们中选出{seats}名。",
        electorate=parent.electorate,
        rule=parent.rule,
        quorum_percent=parent.quorum_percent,
        special_majority=False,
        owners_assembly=False,
        secret=parent.secret,
        seats=seats,
        tie_rule=parent.tie_rule,
        objection_days=0,
        opens_at=opens_at,
        closes_at=opens_at + (parent.closes_at - parent.opens_at),
        status="draft",
        roll_count=0,
        roll_weight=0,
        runoff_of=parent.id,
        cancel_reason="",
        created_by=user.id,
        questions=[
            {
                **question,
                "text": polls.ballot_text(seats),
                "min_choices": 0,
                "max_choices": seats,
                "options": candidates,
            }
        ],
    )
    session.add(runoff)
    await session.flush()
    parent.tie_resolution = {
        "how": "runoff",
        "runoff_id": runoff.id,
        "note": "",
        "by": user.id,
        "at": clock.now().isoformat(),
    }
    parent.result = await count(session, parent)
    await session.flush()
    return await polls.view_of(session, runoff, True)


# -- the export ----------------------------------------------------------------------------------


RESULT_HEADERS = ["项目", "内容", "票数/人数", "面积（㎡）", "百分比（%）", "说明"]


def _area(text: str | None) -> Decimal | None:
    """An area of the count ("89.53") as a number a spreadsheet adds up."""
    return Decimal(text) if text else None


def _choices(question: dict[str, Any], answer: dict[str, Any] | None) -> str:
    options = question.get("options") or []
    picked = sorted(o for o in (answer or {}).get("options") or [] if isinstance(o, int) and 0 <= o < len(options))
    return "、".join(str(options[o].get("label", "")) for o in picked)


def _result_rows(poll: Poll, result: dict[str, Any]) -> Iterator[list[object]]:
    turnout = result["turnout"]
    unit = turnout["unit"]
    yield ["名称", poll.title, None, None, None, ""]
    yield ["性质", result["standing"], None, None, None, result.get("note", "")]
    yield ["类型", result["kind_label"], None, None, None, ""]
    yield ["投票人", result["electorate_label"], None, None, None, "不记名投票" if poll.secret else "记名投票"]
    yield ["规则", result["rule_label"], None, None, None, ""]
    yield ["投票时间", f"{localtime.text(poll.opens_at)} 至 {localtime.text(poll.closes_at)}", None, None, None, ""]
    if poll.tallied_at is not None:
        yield ["计票时间", localtime.text(poll.tallied_at), None, None, None, ""]
    area_total, area_in = _area(turnout["weight_total"]), _area(turnout["weight_participated"])
    yield ["名册", f"{turnout['electors']}{unit}", turnout["electors"], area_total, None, ""]
    share = turnout["percent"]
    yield ["参与", f"{turnout['participants']}{unit}", turnout["participants"], area_in, share, ""]
    if turnout["area_percent"] is not None:
        yield ["参与面积", f"{turnout['weight_participated']}㎡", None, area_in, turnout["area_percent"], ""]
    for channel in turnout["by_channel"]:
        yield ["", channel["label"], channel["count"], None, None, ""]
    for t in result["thresholds"]:
        yield _threshold_row(t)
    for question in result["questions"]:
        yield [f"问题{question['index'] + 1}", question["text"], question["answered"], None, None, ""]
        for option in question["options"]:
            yield [
                "",
                option["label"],
                option["votes"],
                _area(option["area"]),
                option["percent"],
                "过半数" if option.get("majority") else "",
            ]
        outcome = question.get("outcome") or {}
        for t in outcome.get("thresholds") or []:
            yield _threshold_row(t)
        if outcome.get("label"):
            yield ["结果", outcome["label"], None, None, None, ""]
        for text in question["texts"]:
            yield ["意见", text, None, None, None, ""]
    election = result.get("election")
    if election:
        yield ["应选", f"{election['seats']}名", election["seats"], None, None, ""]
        blank = election.get("blank", 0)
        yield [
            "选票",
            f"{election['ballots']}张",
            election["ballots"],
            _area(election.get("area_cast")),
            None,
            f"含空白票{blank}张",
        ]
        if election.get("majority_label"):
            yield ["当选要求", election["majority_label"], None, None, None, ""]
        for r in election["ranking"]:
            mark = "当选（抽签）" if r["by"] == "lot" else "当选" if r["elected"] else "并列" if r["tied"] else ""
            yield [
                f"第{r['rank']}名",
                r["name"],
                r["votes"],
                _area(r["area"]),
                r["percent"],
                mark,
            ]
            for t in r.get("thresholds") or []:  # art. 278: the candidate's two thresholds
                yield _threshold_row(t)
        tie = election.get("tie")
        if tie and tie.get("resolution"):
            resolution = tie["resolution"]
            yield ["并列的决定", resolution["how_label"], None, None, None, resolution.get("note") or ""]
        yield ["选举结果", election["label"], None, None, None, ""]
    yield ["结论", result["summary"], None, None, None, ""]


def _threshold_row(t: dict[str, Any]) -> list[object]:
    figures = f"{t['numerator_text']} / {t['denominator_text']}（需{t['required']}，即至少{t['needed_text']}）"
    return ["门槛", t["label"], None, None, t["percent"], f"{figures}：{'达到' if t['met'] else '未达到'}"]


def _roll_rows(
    poll: Poll, electors: list[PollElector], taking_part: dict[int, PollParticipation]
) -> Iterator[list[object]]:
    flats = poll.electorate == "flat"
    for struck in (False, True):
        for e in electors:
            if (e.struck_at is not None) != struck:
                continue
            p = taking_part.get(e.id)
            channel = "" if p is None else common.CHANNEL_LABELS[p.channel]
            if p is not None and p.channel == "proxy" and p.proxy_name:
                channel += f"（{p.proxy_name}）"
            row: list[object] = [e.label, e.building]
            if flats:
                row.append(Decimal(e.weight) / 100)
            row += [p is not None, channel, f"已除名：{e.note}" if struck else e.note]
            yield row


def _ballot_rows(
    poll: Poll,
    ballots: list[PollBallot],
    electors: dict[int, PollElector],
    by_participation: dict[int, PollParticipation],
) -> Iterator[list[object]]:
    questions = poll.questions or []
    flats = poll.electorate == "flat"
    if poll.secret:
        for b in sorted(ballots, key=lambda b: b.receipt or ""):
            row: list[object] = [b.receipt]
            for i, q in enumerate(questions):
                answer = (b.answers or {}).get(str(i))
                row.append(_choices(q, answer))
                if q.get("allow_text"):
                    row.append((answer or {}).get("text") or "")
            yield row
        return
    rows = []
    for b in ballots:
        p = by_participation.get(b.participation_id or 0)
        e = electors.get(p.elector_id) if p is not None else None
        row = [e.label if e is not None else "", common.CHANNEL_LABELS[p.channel] if p is not None else ""]
        if flats:
            row.append(Decimal(b.weight) / 100)
        for i, q in enumerate(questions):
            answer = (b.answers or {}).get(str(i))
            row.append(_choices(q, answer))
            if q.get("allow_text"):
                row.append((answer or {}).get("text") or "")
        row.append(b.changed_at is not None)
        rows.append(row)
    yield from sorted(rows, key=lambda r: str(r[0]))


async def export(session: AsyncSession, user: User, poll_id: int) -> bytes:
    """`GET /polls/{id}/export.xlsx` (staff, after the close): 结果 (the count with turnout and
    thresholds), 名册 (the roll: who took part and how, never a secret choice), 选票 (open ballots
    by elector; secret ballots by receipt only, in receipt order, without weights)."""
    poll = await common.staff_poll(session, user, poll_id)
    poll = await closed_poll(session, poll)
    result = poll.result or {}
    electors = await roll_of(session, poll.id)
    participations = await participations_of(session, poll.id)
    ballots = await ballots_of(session, poll.id)
    taking_part = {p.elector_id: p for p in participations}
    flats = poll.electorate == "flat"
    roll_headers = ["选民", "楼栋", *(["面积（㎡）"] if flats else []), "已参与", "方式", "备注"]
    question_headers: list[str] = []
    for i, q in enumerate(poll.questions or []):
        question_headers.append(f"问题{i + 1}：{q.get('text', '')}")
        if q.get("allow_text"):
            question_headers.append(f"问题{i + 1}的意见")
    if poll.secret:
        ballot_headers = ["回执号", *question_headers]
    else:
        ballot_headers = ["选民", "方式", *(["面积（㎡）"] if flats else []), *question_headers, "已修改"]
    by_participation = {p.id: p for p in participations}
    sheets = [  # the rows read now; the workbook written off the event loop
        xlsx.Sheet("结果", RESULT_HEADERS, list(_result_rows(poll, result))),
        xlsx.Sheet("名册", roll_headers, list(_roll_rows(poll, electors, taking_part))),
        xlsx.Sheet(
            "选票", ballot_headers, list(_ballot_rows(poll, ballots, {e.id: e for e in electors}, by_participation))
        ),
    ]
    return await asyncio.to_thread(xlsx.workbook, sheets)
