"""The count of a poll or an election: a pure function of the poll, its roll, its ballots and its
participations — no session, no clock — so the close, the results page and the export all say the
same thing, and a tie resolved by lot is the same count with the lot applied.

`tally(poll, electors, ballots, participations) -> dict` (stored as `polls.result` at the close):

- `turnout`: electors on the roll (struck ones are not on it), participants by channel, the roll's
  weight and the participating weight (flats: areas in hundredths of ㎡, with `area` texts),
  percentages.
- `questions`: for each question, each option's votes (ballots choosing it), weight (the same,
  weighted: a flat's area; 1 otherwise) and percentage of the weight answering the question; the
  free texts, sorted (never in the order they were cast); and its `outcome` under the poll's rule.
- `rule`: `majority` — an option carries a question when its weight is more than half of the weight
  answering it; `quorum` — the same, once the participating weight reached `quorum_percent` of the
  roll; `art278` — the Civil Code's dual thresholds: participation of at least 2/3 of the roll's
  area AND at least 2/3 of its flats, then for each question the option that approves (同意) must
  have more than 1/2 (special majority: at least 3/4) of the participating area AND of the
  participating flats. Every threshold carries its numerator, denominator, percentage, what was
  needed and whether it was met; the comparisons are exact integer arithmetic (`n × q ≥ d × p`).
- Elections (`election`): candidates ranked by weight; under `majority`/`quorum` a candidate must
  have more than half of the weight cast to be elected (参加投票的过半数) — every ballot cast, blank
  ones (弃权, no candidate chosen) included, which `majority_label` says with its figures; a run-off
  (`runoff_of`) elects by the most votes among the tied. Under `art278` (an owners' committee,
  选举业主委员会, by flat) the election needs the same participation as a poll (at least 2/3 of the
  area AND of the flats), and a candidate is elected only with more than half of the participating
  area AND of the participating flats (each candidate's `thresholds`, with the figures; a run-off
  too) — then the most area first, up to the seats. If candidates with equal weight straddle the last seat they are
  reported as a tie with `seats_left`, and nobody among them is elected until staff resolve it by
  the rule the poll names (`tie_resolution`: drawn by lot, or a run-off poll).
- `standing` (选举 / 业主大会表决 / 意向征询): a consultation's outcomes say 多数意见 / 达到门槛（仅供参考）,
  never that anything passed or was decided.

Percentages are texts with two decimals, rounded half up, for people; `met` is what counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from api.db.models import Poll
from api.services.votes import common

CONSULTATION = "意向征询"
ASSEMBLY = "业主大会表决"
FOR_REFERENCE = "（仅供参考）"


class ElectorLike(Protocol):
    id: int
    weight: int
    struck_at: Any


class BallotLike(Protocol):
    weight: int
    answers: dict[str, Any]


class ParticipationLike(Protocol):
    elector_id: int
    channel: str


# -- arithmetic ----------------------------------------------------------------------------------


def percent(numerator: int, denominator: int) -> float:
    """numerator / denominator in per cent, rounded half up to two decimals (computed in integers):
    66.67. For people only: whether a threshold is met is decided on the integers."""
    if denominator <= 0:
        return 0.0
    hundredths = (numerator * 20000 + denominator) // (2 * denominator)
    return hundredths / 100


def at_least(numerator: int, denominator: int, p: int, q: int) -> bool:
    """numerator ≥ p/q of denominator ("以上" includes the figure); nothing is met on an empty base."""
    return denominator > 0 and numerator * q >= denominator * p


def more_than(numerator: int, denominator: int, p: int, q: int) -> bool:
    return denominator > 0 and numerator * q > denominator * p


def needed_at_least(denominator: int, p: int, q: int) -> int:
    """The smallest numerator that is at least p/q of the denominator."""
    return -(-denominator * p // q)


def needed_more_than(denominator: int, p: int, q: int) -> int:
    return denominator * p // q + 1


FRACTIONS = {(2, 3): "三分之二", (1, 2): "二分之一", (3, 4): "四分之三"}


def _amount(value: int, measure: str, unit: str) -> str:
    return f"{common.area_text(value)}㎡" if measure == "area" else f"{value}{unit}"


def threshold(
    key: str,
    label: str,
    numerator: int,
    denominator: int,
    *,
    p: int,
    q: int,
    strict: bool,
    measure: str,
    unit: str,
) -> dict[str, Any]:
    """One threshold with its figures: `measure` is "area" (hundredths of ㎡) or "count"."""
    met = more_than(numerator, denominator, p, q) if strict else at_least(numerator, denominator, p, q)
    needed = needed_more_than(denominator, p, q) if strict else needed_at_least(denominator, p, q)
    words = FRACTIONS.get((p, q), f"{p}/{q}")
    required = ("过半数" if (p, q) == (1, 2) else f"超过{words}") if strict else f"{words}以上"
    return {
        "key": key,
        "label": label,
        "measure": measure,
        "numerator": numerator,
        "denominator": denominator,
        "numerator_text": _amount(numerator, measure, unit),
        "denominator_text": _amount(denominator, measure, unit),
        "percent": percent(numerator, denominator),
        "required": required,
        "fraction": f"{p}/{q}",
        "strict": strict,
        "needed": needed,
        "needed_text": _amount(needed, measure, unit),
        "met": met,
    }


# -- the count -----------------------------------------------------------------------------------


def _chosen(ballot: BallotLike, question: int, options: int) -> tuple[set[int], str]:
    answer = (ballot.answers or {}).get(str(question)) or {}
    picked = {o for o in answer.get("options") or [] if isinstance(o, int) and 0 <= o < options}
    text = answer.get("text") or ""
    return picked, text.strip() if isinstance(text, str) else ""


def _count_question(index: int, question: dict[str, Any], ballots: Sequence[BallotLike], flats: bool) -> dict[str, Any]:
    options = question.get("options") or []
    votes = [0] * len(options)
    weights = [0] * len(options)
    answered = answered_weight = 0
    texts: list[str] = []
    for ballot in ballots:
        picked, text = _chosen(ballot, index, len(options))
        if picked:
            answered += 1
            answered_weight += ballot.weight
            for o in picked:
                votes[o] += 1
                weights[o] += ballot.weight
        if text:
            texts.append(text)
    return {
        "index": index,
        "text": question.get("text", ""),
        "kind": question.get("kind", "single"),
        "answered": answered,
        "_w": answered_weight,
        "answered_area": common.area_text(answered_weight) if flats else None,
        "options": [
            {
                "index": o,
                "label": option.get("label", ""),
                "statement": option.get("statement", ""),
                "approves": bool(option.get("approves")),
                "votes": votes[o],
                "_w": weights[o],
                "area": common.area_text(weights[o]) if flats else None,
                "percent": percent(weights[o], answered_weight),
                "majority": False,
            }
            for o, option in enumerate(options)
        ],
        "texts": sorted(texts),
        "outcome": {},
    }


def _turnout(poll: Poll, roll: Sequence[ElectorLike], participations: Sequence[ParticipationLike]) -> dict[str, Any]:
    """The same shape as the live turnout (`voting.turnout_of`), with the integer weights kept
    aside (`_total`, `_in`) for the thresholds."""
    weight_of = {e.id: e.weight for e in roll}
    taking_part = [p for p in participations if p.elector_id in weight_of]
    flats = poll.electorate == "flat"
    weight_total = sum(weight_of.values())
    weight_participated = sum(weight_of[p.elector_id] for p in taking_part)
    return {
        "unit": common.ELECTOR_UNIT[poll.electorate],
        "electors": len(roll),
        "participants": len(taking_part),
        "by_channel": [
            {"channel": channel, "label": label, "count": sum(1 for p in taking_part if p.channel == channel)}
            for channel, label in common.CHANNEL_LABELS.items()
        ],
        "weight_total": common.area_text(weight_total) if flats else None,
        "weight_participated": common.area_text(weight_participated) if flats else None,
        "percent": percent(len(taking_part), len(roll)),
        "area_percent": percent(weight_participated, weight_total) if flats else None,
        "_total": weight_total,
        "_in": weight_participated,
    }


def _majority_outcome(question: dict[str, Any], valid: bool, why_not: str) -> dict[str, Any]:
    """majority/quorum (always a consultation for a poll): the options with more than half of the
    weight answering the question."""
    base = question["_w"]
    carried = [o for o in question["options"] if more_than(o["_w"], base, 1, 2)]
    for option in question["options"]:
        option["majority"] = valid and any(o["index"] == option["index"] for o in carried)
    if not valid:
        return {"status": "invalid", "label": why_not + FOR_REFERENCE, "majority": []}
    if not carried:
        return {"status": "no_majority", "label": "没有过半数的意见" + FOR_REFERENCE, "majority": []}
    names = "、".join(f"{o['label']}（{o['percent']:.2f}%）" for o in carried)
    label = f"多数意见：{names}{FOR_REFERENCE}"
    return {"status": "majority", "label": label, "majority": [o["index"] for o in carried]}


def _short(thresholds: list[dict[str, Any]]) -> str:
    """Which of a pair of thresholds failed: 面积, 人数, or 面积和人数."""
    return "和".join("面积" if t["measure"] == "area" else "人数" for t in thresholds if not t["met"])


def _art278_outcome(
    poll: Poll, question: dict[str, Any], participated: tuple[int, int], participation: list[dict[str, Any]]
) -> dict[str, Any]:
    participation_met = all(t["met"] for t in participation)
    area, flats = participated
    approving = [o for o in question["options"] if o["approves"]]
    approve_area = sum(o["_w"] for o in approving)
    approve_flats = sum(o["votes"] for o in approving)
    p, q, strict = (3, 4, False) if poll.special_majority else (1, 2, True)
    words = "四分之三以上" if poll.special_majority else "过半数"
    thresholds = [
        threshold(
            "approval_area",
            f"同意的专有部分面积占参与表决面积{words}",
            approve_area,
            area,
            p=p,
            q=q,
            strict=strict,
            measure="area",
            unit="套",
        ),
        threshold(
            "approval_flats",
            f"同意的业主（套）占参与表决业主{words}",
            approve_flats,
            flats,
            p=p,
            q=q,
            strict=strict,
            measure="count",
            unit="套",
        ),
    ]
    approved = all(t["met"] for t in thresholds)
    reached = participation_met and approved
    assembly = common.standing(poll) == ASSEMBLY
    if assembly:
        label = "通过" if reached else "未通过"
        status = "passed" if reached else "not_passed"
    else:
        label = ("达到门槛" if reached else "未达到门槛") + FOR_REFERENCE
        status = "threshold_met" if reached else "threshold_not_met"
    if not participation_met:
        label += f"：参与表决的{_short(participation)}未达到三分之二"
    elif not approved:
        short = _short(thresholds)
        label += f"：同意的{short}未过半数" if not poll.special_majority else f"：同意的{short}未达到四分之三"
    return {"status": status, "label": label, "met": reached, "thresholds": thresholds}


def _majority_label(
    poll: Poll, ballots: int, cast_weight: int, blank: int, participated: tuple[int, int] | None
) -> str:
    """What a seat needs, said with its base: the ballots cast, blank ones included (art. 278: the
    participating area and flats, blank ballots included)."""
    if participated is not None:
        area, flats = participated
        return (
            f"当选须得票的专有部分面积和业主人数都超过参与表决的一半（参与表决{common.area_text(area)}㎡、{flats}套，"
            f"含{blank}张空白票），即面积至少{common.area_text(needed_more_than(area, 1, 2))}㎡"
            f"且至少{needed_more_than(flats, 1, 2)}套"
        )
    if poll.runoff_of is not None:
        return "决选投票按得票多少当选，不要求过半数"
    if poll.electorate == "flat":
        return (
            f"当选须得票的面积超过所投选票的面积合计（{common.area_text(cast_weight)}㎡，"
            f"{ballots}张选票，含{blank}张空白票）的一半"
        )
    return (
        f"当选须得票超过所投选票数（{ballots}张，含{blank}张空白票）的一半，即至少{needed_more_than(ballots, 1, 2)}票"
    )


def _candidate_thresholds(candidate: dict[str, Any], participated: tuple[int, int]) -> list[dict[str, Any]]:
    """Art. 278 for a candidate: more than half of the participating area AND of the participating
    flats voted for them."""
    area, flats = participated
    return [
        threshold(
            "candidate_area",
            "得票的专有部分面积占参与表决面积过半数",
            candidate["_w"],
            area,
            p=1,
            q=2,
            strict=True,
            measure="area",
            unit="套",
        ),
        threshold(
            "candidate_flats",
            "得票的业主（套）占参与表决业主过半数",
            candidate["votes"],
            flats,
            p=1,
            q=2,
            strict=True,
            measure="count",
            unit="套",
        ),
    ]


def _election(
    poll: Poll,
    question: dict[str, Any],
    cast: tuple[int, int, int],
    valid: bool,
    why_not: str,
    participated: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Ranking, elected, a tie at the last seat, the tie's resolution. `cast`: the ballots, their
    weight and how many of them are blank (弃权: no candidate chosen) — a blank ballot takes part and
    counts in the majority's base. `participated` (art. 278 only): the participating area and
    flats, the bases of each candidate's two thresholds — which a run-off must meet too."""
    seats = poll.seats or 1
    ballots, cast_weight, blank = cast
    art278 = participated is not None
    runoff = poll.runoff_of is not None and not art278
    candidates = question["options"]
    ordered = sorted(candidates, key=lambda c: (-c["_w"], c["index"]))
    first_at: dict[int, int] = {}  # equal weights share a rank (1, 2, 2, 4)
    for position, c in enumerate(ordered):
        first_at.setdefault(c["_w"], position + 1)
    ranking = []
    for c in ordered:
        thresholds = _candidate_thresholds(c, participated) if participated is not None else []
        ranking.append(
            {
                "rank": first_at[c["_w"]],
                "index": c["index"],
                "name": c["label"],
                "votes": c["votes"],
                "_w": c["_w"],
                "area": c["area"],
                "percent": percent(c["_w"], cast_weight),
                "majority": all(t["met"] for t in thresholds) if art278 else more_than(c["_w"], cast_weight, 1, 2),
                "thresholds": thresholds,
                "elected": False,
                "tied": False,
                "by": None,
            }
        )
    # who may take a seat: more than half of the weight cast (art. 278: of the participating area and
    # flats, both; a run-off otherwise: any votes at all); the most weight first
    eligible = [r for r in ranking if r["_w"] > 0 and (runoff or r["majority"])] if valid else []
    elected: list[dict[str, Any]] = []
    tie: dict[str, Any] | None = None
    if len(eligible) <= seats:
        elected = eligible
    else:
        cutoff = eligible[seats - 1]["_w"]
        above = [r for r in eligible if r["_w"] > cutoff]
        level = [r for r in eligible if r["_w"] == cutoff]
        if len(above) + len(level) == seats:
            elected = above + level
        else:
            elected = above
            tie = {
                "candidates": [r["index"] for r in level],
                "names": [r["name"] for r in level],
                "seats_left": seats - len(above),
                "rule": poll.tie_rule,
                "rule_label": common.TIE_RULE_LABELS.get(poll.tie_rule or "", ""),
                "resolved": False,
                "resolution": None,
                "runoff_id": None,
            }
            for r in level:
                r["tied"] = True
    for r in elected:
        r["elected"], r["by"] = True, "votes"
    resolution = poll.tie_resolution or None
    if tie is not None and resolution:
        if resolution.get("how") == "lot":
            drawn = [i for i in resolution.get("elected") or [] if i in tie["candidates"]]
            for r in ranking:
                if r["index"] in drawn:
                    r["elected"], r["by"] = True, "lot"
            tie["resolved"] = True
            tie["resolution"] = {
                "how": "lot",
                "how_label": common.TIE_RULE_LABELS["lot"],
                "elected": drawn,
                "names": [r["name"] for r in ranking if r["index"] in drawn],
                "note": resolution.get("note", ""),
                "at": resolution.get("at"),
            }
        elif resolution.get("how") == "runoff":
            tie["runoff_id"] = resolution.get("runoff_id")
            tie["resolution"] = {
                "how": "runoff",
                "how_label": common.TIE_RULE_LABELS["runoff"],
                "elected": [],
                "names": [],
                "note": resolution.get("note", ""),
                "at": resolution.get("at"),
            }
    chosen = [r for r in ranking if r["elected"]]
    filled = len(chosen)
    pending = tie["seats_left"] if tie is not None and not tie["resolved"] else 0
    unfilled = seats - filled - pending
    names = "、".join(r["name"] + ("（抽签）" if r["by"] == "lot" else "") for r in chosen)
    if not valid:
        status, label = "invalid", why_not + "，选举无效"
    elif tie is not None and not tie["resolved"]:
        status = "tie"
        label = (f"当选：{names}；" if names else "") + (
            f"{'、'.join(tie['names'])}得票相同，并列争取剩下的{tie['seats_left']}个席位，"
            f"按约定以{tie['rule_label']}决定"
        )
    elif unfilled > 0:
        status = "unfilled" if filled else "none_elected"
        short = "得票的面积和人数都超过参与表决的一半" if art278 else "得票超过所投选票（含空白票）的半数"
        label = (f"当选：{names}；" if names else "") + f"{unfilled}个席位没有候选人{short}，需另行选举"
    else:
        status, label = "elected", f"当选：{names}"
    return {
        "seats": seats,
        "ballots": ballots,
        "blank": blank,
        "area_cast": common.area_text(cast_weight) if poll.electorate == "flat" else None,
        "needs_majority": not runoff,
        "majority_label": _majority_label(poll, ballots, cast_weight, blank, participated),
        "ranking": ranking,
        "elected": [{"index": r["index"], "name": r["name"], "by": r["by"]} for r in chosen],
        "tie": tie,
        "unfilled": max(unfilled, 0),
        "status": status,
        "label": label,
    }


def tally(
    poll: Poll,
    electors: Iterable[ElectorLike],
    ballots: Iterable[BallotLike],
    participations: Iterable[ParticipationLike],
) -> dict[str, Any]:
    """The whole count (see the module's docstring). `electors` may include struck ones (they are
    left out); `ballots` are the poll's ballots, open and secret alike."""
    roll = [e for e in electors if e.struck_at is None]
    ballot_list = list(ballots)
    turnout = _turnout(poll, roll, list(participations))
    flats = poll.electorate == "flat"
    questions = [_count_question(i, q, ballot_list, flats) for i, q in enumerate(poll.questions or [])]
    standing = common.standing(poll)
    consultation = standing == CONSULTATION
    unit = turnout["unit"]
    thresholds: list[dict[str, Any]] = []
    valid, why_not = True, ""
    if poll.rule == "quorum":
        quorum = poll.quorum_percent or 100
        measure = "area" if flats else "count"
        thresholds.append(
            threshold(
                "quorum",
                f"参与{'面积' if flats else '人数'}达到名册的{quorum}%",
                turnout["_in"],
                turnout["_total"],
                p=quorum,
                q=100,
                strict=False,
                measure=measure,
                unit=unit,
            )
        )
        valid = thresholds[0]["met"]
        why_not = f"参与率未达到{quorum}%"
    elif poll.rule == "art278":
        thresholds += [
            threshold(
                "participation_area",
                "参与表决的专有部分面积占总面积三分之二以上",
                turnout["_in"],
                turnout["_total"],
                p=2,
                q=3,
                strict=False,
                measure="area",
                unit="套",
            ),
            threshold(
                "participation_flats",
                "参与表决的业主（套）占业主总数三分之二以上",
                turnout["participants"],
                turnout["electors"],
                p=2,
                q=3,
                strict=False,
                measure="count",
                unit="套",
            ),
        ]
        valid = all(t["met"] for t in thresholds)
        why_not = f"参与表决的{_short(thresholds)}未达到三分之二"
    election = None
    if poll.kind == "election":
        candidates = len((poll.questions or [{}])[0].get("options") or [])
        blank = sum(1 for b in ballot_list if not _chosen(b, 0, candidates)[0])
        cast = (len(ballot_list), sum(b.weight for b in ballot_list), blank)
        participated = (turnout["_in"], turnout["participants"]) if poll.rule == "art278" else None
        election = _election(poll, questions[0], cast, valid, why_not, participated) if questions else None
    elif poll.rule == "art278":
        participated = (turnout["_in"], turnout["participants"])
        for question in questions:
            question["outcome"] = _art278_outcome(poll, question, participated, thresholds)
    else:
        for question in questions:
            question["outcome"] = _majority_outcome(question, valid, why_not)
    return public(
        {
            "kind": poll.kind,
            "kind_label": common.KIND_LABELS[poll.kind],
            "title": poll.title,
            "standing": standing,
            "consultation": consultation,
            "note": "本次为意向征询，结果仅供参考。" if consultation else "",
            "electorate": poll.electorate,
            "electorate_label": common.ELECTORATE_LABELS[poll.electorate],
            "rule": poll.rule,
            "rule_label": common.RULE_LABELS[poll.rule],
            "quorum_percent": poll.quorum_percent,
            "special_majority": poll.special_majority,
            "secret": poll.secret,
            "turnout": turnout,
            "thresholds": thresholds,
            "valid": valid,
            "questions": questions,
            "election": election,
            "summary": summary(poll, questions, election, thresholds, valid, why_not),
        }
    )


def public(value: dict[str, Any]) -> dict[str, Any]:
    """The count without the integer weights kept aside while counting (keys starting with _)."""
    stripped: dict[str, Any] = _public(value)
    return stripped


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def summary(
    poll: Poll,
    questions: list[dict[str, Any]],
    election: dict[str, Any] | None,
    thresholds: list[dict[str, Any]],
    valid: bool,
    why_not: str,
) -> str:
    """One line for the notification and the list: the election's outcome, or each question's."""
    if election is not None:
        return str(election["label"])
    if not questions:
        return "没有问题"
    if len(questions) == 1:
        return str(questions[0]["outcome"]["label"])
    if poll.rule == "art278":
        reached = sum(1 for q in questions if q["outcome"]["met"])
        if common.standing(poll) == ASSEMBLY:
            return f"{len(questions)}项表决中{reached}项通过"
        return f"{len(questions)}个事项中{reached}个达到门槛{FOR_REFERENCE}"
    if not valid:
        return why_not + FOR_REFERENCE
    carried = sum(1 for q in questions if q["outcome"]["status"] == "majority")
    return f"{len(questions)}个问题中{carried}个有过半数的意见{FOR_REFERENCE}"
