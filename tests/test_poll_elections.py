"""Elections: candidates ranked, more than half of the ballots to take a seat, a tie at the last
seat reported as a tie with the seats left, settled by the rule the election names — drawn by lot
(staff record whom the lot elected, only among the tied) or a run-off opened from the tie (a draft
election among the tied for the seats left, which elects by the most votes and which the first
election's result names).

The world is the one of test_poll_results: residents chen, zhou, li, wang in 3栋1单元101–104 and an
elder's household (105) whose ballot staff enter on paper. Every election here asks the five
households for 2 seats among 甲 乙 丙 丁, and the ballots are

    chen 甲 乙    zhou 甲 丙    li 甲 乙    wang 甲 丙    105 (paper) 乙 丙

so 甲 has 4 of 5 (elected), 乙 and 丙 3 each — both more than half — tied for the one seat left, and
丁 none."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from api import clock
from tests.conftest import make_settings
from tests.test_poll_results import (
    API,
    CLOSES,
    NOW,
    OPENS,
    VOTING,
    World,
    answers,
    by_key,
    error,
    figures,
    flats,
    local,
)

CANDIDATES = [{"name": "甲", "statement": "退休教师"}, {"name": "乙"}, {"name": "丙"}, {"name": "丁"}]
JIA, YI, BING, DING = 0, 1, 2, 3


@pytest.fixture
def settings(database_url):
    # a month-long login, so that tests can move the clock past a run-off's close
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, app) -> World:
    world = await World().build(client, app)
    await world.elder_household("1单元", "105", "刘大爷")
    return world


async def election(w: World, **fields: Any) -> int:
    body = {"title": "院落自治委员会选举", "questions": [], "candidates": CANDIDATES, "seats": 2, "tie_rule": "lot"}
    poll = await w.poll(kind="election", **{**body, **fields})
    assert poll["candidates"][BING]["name"] == "丙"
    await w.publish(poll["id"])
    return int(poll["id"])


async def vote_the_tie(w: World, pid: int) -> None:
    clock.freeze(VOTING)
    await w.vote(w.chen, pid, answers([JIA, YI]))
    await w.vote(w.zhou, pid, answers([JIA, BING]))
    await w.vote(w.li, pid, answers([JIA, YI]))
    await w.vote(w.wang, pid, answers([JIA, BING]))
    await w.enter(pid, "3栋1单元105", answers([YI, BING]))


async def tie(w: World, pid: int, who: Any = None, **body: Any) -> Any:
    return await w.client.post(f"{API}/polls/{pid}/tie", json=body, headers=(who or w.staff).headers)


async def runoff(w: World, pid: int, who: Any = None) -> Any:
    return await w.client.post(f"{API}/polls/{pid}/runoff", headers=(who or w.staff).headers)


async def test_a_tie_at_the_last_seat_is_reported_and_drawn_by_lot(w):
    pid = await election(w)
    await vote_the_tie(w, pid)
    assert error(await tie(w, pid, elected=[BING], note="抽签")) == (409, "poll_results_hidden")  # before the close
    clock.freeze(CLOSES)
    await w.run_worker()

    result = await w.result(pid, w.chen)
    assert result["standing"] == "选举"
    count = result["election"]
    assert [(r["name"], r["votes"], r["rank"], r["percent"]) for r in count["ranking"]] == [
        ("甲", 4, 1, 80.0),
        ("乙", 3, 2, 60.0),
        ("丙", 3, 2, 60.0),
        ("丁", 0, 4, 0.0),
    ]
    assert [e["name"] for e in count["elected"]] == ["甲"]
    assert count["status"] == "tie" and count["unfilled"] == 0
    assert count["tie"] == {
        "candidates": [YI, BING],
        "names": ["乙", "丙"],
        "seats_left": 1,
        "rule": "lot",
        "rule_label": "抽签",
        "resolved": False,
        "resolution": None,
        "runoff_id": None,
    }
    assert count["label"] == "当选：甲；乙、丙得票相同，并列争取剩下的1个席位，按约定以抽签决定"
    assert [r["tied"] for r in count["ranking"]] == [False, True, True, False]
    (told,) = await w.inbox(w.chen)
    assert told["title"] == "选举结果：院落自治委员会选举" and "乙、丙得票相同" in told["body"]

    # who may settle it, and how
    assert error(await tie(w, pid, w.chen, elected=[BING], note="抽签")) == (403, "staff_only")
    assert error(await tie(w, pid, w.c_staff, elected=[BING], note="抽签")) == (404, "poll_not_found")
    assert error(await runoff(w, pid)) == (409, "poll_tie_rule")  # the election names the lot
    wrong = await tie(w, pid, elected=[DING], note="抽签")
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["field"] == "elected[0]"
    assert "乙、丙" in wrong.json()["error"]["message"]
    both = await tie(w, pid, elected=[YI, BING], note="抽签")
    assert both.status_code == 422 and both.json()["error"]["details"][0]["field"] == "elected"
    assert "应选出1名" in both.json()["error"]["message"]
    assert (await w.result(pid))["election"]["tie"]["resolved"] is False  # nothing was kept

    note = "12月5日上午在社区议事厅由两位居民代表监督抽签"
    drawn = await tie(w, pid, elected=[BING], note=note)
    assert drawn.status_code == 200, drawn.text
    settled = drawn.json()["election"]
    assert [(e["name"], e["by"]) for e in settled["elected"]] == [("甲", "votes"), ("丙", "lot")]
    assert settled["status"] == "elected" and settled["label"] == "当选：甲、丙（抽签）"
    resolution = settled["tie"]["resolution"]
    assert settled["tie"]["resolved"] is True
    assert (resolution["how"], resolution["names"], resolution["note"]) == ("lot", ["丙"], note)
    assert resolution["at"] == local(CLOSES)
    assert (await w.result(pid, w.zhou))["election"] == settled  # residents read the same
    assert error(await tie(w, pid, elected=[YI], note="再抽一次")) == (409, "poll_tie_resolved")
    told = await w.inbox(w.wang)
    assert [t["title"] for t in told] == ["选举结果：院落自治委员会选举"] * 2  # the tie, then whom the lot elected
    assert "当选：甲、丙（抽签）" in told[0]["body"]

    export = await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.staff.headers)
    rows = list(load_workbook(io.BytesIO(export.content))["结果"].iter_rows(min_row=2, values_only=True))
    marks = {row[1]: row[5] for row in rows if str(row[0]).startswith("第")}
    assert marks == {"甲": "当选", "乙": "并列", "丙": "当选（抽签）", "丁": None}
    assert any(row[0] == "并列的决定" and row[5] == note for row in rows)


async def test_a_runoff_is_opened_from_the_tie_and_named_by_the_first_election(w):
    pid = await election(w, tie_rule="runoff", secret=True)
    await vote_the_tie(w, pid)
    clock.freeze(CLOSES)
    await w.run_worker()
    assert (await w.result(pid))["election"]["tie"]["rule"] == "runoff"
    assert error(await tie(w, pid, elected=[BING], note="抽签")) == (409, "poll_tie_rule")
    assert error(await runoff(w, pid, w.chen)) == (403, "staff_only")

    opened = await runoff(w, pid)
    assert opened.status_code == 201, opened.text
    second = opened.json()
    assert (second["kind"], second["status"], second["runoff_of"]) == ("election", "draft", pid)
    assert second["title"] == "院落自治委员会选举（决选）"
    assert [c["name"] for c in second["candidates"]] == ["乙", "丙"]
    assert (second["seats"], second["electorate"], second["secret"], second["tie_rule"]) == (
        1,
        "household",
        True,
        "runoff",
    )
    assert second["opens_at"] == local(CLOSES + timedelta(days=1))
    assert second["closes_at"] == local(CLOSES + timedelta(days=1) + (CLOSES - OPENS))
    assert error(await runoff(w, pid)) == (409, "poll_runoff_exists")  # one run-off at a time
    first = await w.result(pid, w.chen)
    assert first["election"]["status"] == "tie" and first["election"]["tie"]["runoff_id"] == second["id"]
    assert first["runoff"] == {**first["runoff"], "id": second["id"], "status": "draft", "elected": []}
    assert error(await w.client.get(f"{API}/polls/{second['id']}", headers=w.chen.headers)) == (404, "poll_not_found")

    # staff publish it as it is; it opens a day later and runs as long as the first did
    rid = second["id"]
    await w.publish(rid)
    clock.freeze(CLOSES + timedelta(days=1, hours=1))
    await w.vote(w.chen, rid, answers([1]))  # 丙
    await w.vote(w.zhou, rid, answers([1]))
    await w.vote(w.li, rid, answers([0]))  # 乙
    clock.freeze(CLOSES + timedelta(days=5))
    await w.run_worker()

    decided = await w.result(rid, w.li)
    assert decided["runoff_of"] == {"id": pid, "title": "院落自治委员会选举"}
    count = decided["election"]
    assert count["needs_majority"] is False  # a run-off elects by the most votes among the tied
    assert [(e["name"], e["by"]) for e in count["elected"]] == [("丙", "votes")]
    assert count["status"] == "elected"
    first = await w.result(pid, w.chen)
    assert first["runoff"]["status"] == "closed" and first["runoff"]["elected"] == ["丙"]
    assert first["runoff"]["summary"] == "当选：丙"


async def test_a_cancelled_runoff_can_be_opened_again(w):
    pid = await election(w, tie_rule="runoff")
    await vote_the_tie(w, pid)
    clock.freeze(CLOSES)
    first = await runoff(w, pid)  # the first request after the close counts, then opens the run-off
    assert first.status_code == 201, first.text
    cancelled = await w.client.post(
        f"{API}/polls/{first.json()['id']}/cancel", json={"reason": "候选人乙退出"}, headers=w.staff.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    again = await runoff(w, pid)
    assert again.status_code == 201, again.text
    assert (await w.result(pid))["runoff"]["id"] == again.json()["id"] != first.json()["id"]


async def test_a_seat_needs_more_than_half_of_the_ballots(w):
    poll = await w.poll()  # not an election at all
    assert error(await tie(w, poll["id"], elected=[0], note="抽签")) == (409, "poll_not_election")
    pid = await election(w)
    clock.freeze(VOTING)
    # 4 ballots: 甲 4, 乙 2 — exactly half, not more — 丙 1
    await w.vote(w.chen, pid, answers([JIA, YI]))
    await w.vote(w.zhou, pid, answers([JIA, YI]))
    await w.vote(w.li, pid, answers([JIA, BING]))
    await w.vote(w.wang, pid, answers([JIA]))
    clock.freeze(CLOSES)
    count = (await w.result(pid))["election"]
    assert [(r["name"], r["votes"], r["majority"], r["elected"]) for r in count["ranking"]] == [
        ("甲", 4, True, True),
        ("乙", 2, False, False),
        ("丙", 1, False, False),
        ("丁", 0, False, False),
    ]
    assert count["tie"] is None and count["unfilled"] == 1 and count["status"] == "unfilled"
    assert count["label"] == "当选：甲；1个席位没有候选人得票超过所投选票（含空白票）的半数，需另行选举"
    assert count["majority_label"] == "当选须得票超过所投选票数（4张，含0张空白票）的一半，即至少3票"
    assert error(await tie(w, pid, elected=[YI], note="抽签")) == (409, "poll_no_tie")
    assert "另行选举" in json.dumps(await w.result(pid, w.chen), ensure_ascii=False)


async def test_a_blank_ballot_takes_part_and_counts_in_the_majoritys_base(w):
    """弃权: a ballot naming no candidate. Five ballots, three of them blank: 甲 has 2 — all the
    ballots that name anyone, but not more than half of the 5 cast — so no one is elected."""
    pid = await election(w)
    clock.freeze(VOTING)
    await w.vote(w.chen, pid, answers([JIA, YI]))
    await w.vote(w.zhou, pid, answers([JIA]))
    await w.vote(w.li, pid, answers([]))  # the candidates' question answered with none
    await w.vote(w.wang, pid, [])  # the question left out: blank as well
    blank_paper = await w.enter(pid, "3栋1单元105", answers([]))
    assert blank_paper["channel"] == "paper"
    mine = await w.client.get(f"{API}/polls/{pid}/ballot", headers=w.li.headers)
    assert mine.json()["voted"] is True and mine.json()["answers"] == [{"question": 0, "options": [], "text": ""}]
    clock.freeze(CLOSES)
    result = await w.result(pid)
    assert (result["turnout"]["participants"], result["turnout"]["electors"]) == (5, 5)  # blank ballots take part
    count = result["election"]
    assert (count["ballots"], count["blank"]) == (5, 3)
    assert [(r["name"], r["votes"], r["percent"], r["majority"]) for r in count["ranking"][:2]] == [
        ("甲", 2, 40.0, False),
        ("乙", 1, 20.0, False),
    ]
    assert count["elected"] == [] and count["status"] == "none_elected"
    assert count["majority_label"] == "当选须得票超过所投选票数（5张，含3张空白票）的一半，即至少3票"
    assert count["label"] == "2个席位没有候选人得票超过所投选票（含空白票）的半数，需另行选举"
    export = await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.staff.headers)
    rows = list(load_workbook(io.BytesIO(export.content))["结果"].iter_rows(min_row=2, values_only=True))
    assert ("选票", "5张", 5, None, None, "含空白票3张") in rows
    assert any(row[0] == "当选要求" and "含3张空白票" in row[1] for row in rows)


# -- an owners' committee (选举业主委员会) under art. 278 ----------------------------------------------
#
# The six flats of test_poll_results: f1 101 (chen) 160.00, f2 102 (zhou) 160.00, f3 103 (li rents)
# 160.00, f4 2单元202 80.00, f5 2单元203 80.01, f6 104 (wang rents) 79.99 — 720.00 ㎡, 6 flats.
# E1: f1, f2, f4, f5, f6 take part: 560.00 ㎡ (≥ 480.00) and 5 flats (≥ 4). A seat needs more than
#     half of 560.00 ㎡ — at least 280.01 — AND more than half of 5 flats — at least 3:
#       甲 f1 f2          320.00 ㎡, 2 flats: the area, not the flats
#       乙 f1 f2 f4       400.00 ㎡, 3 flats: elected
#       丙 f5 f6          160.00 ㎡, 2 flats
#       丁 f4 f5 f6       240.00 ㎡, 3 flats: the flats, not the area
#     2 seats: 乙 elected, one seat left for another election.
# E2: f1, f4, f5, f6 take part: 400.00 ㎡ < 480.00 (4 flats would do): not a valid election.


async def test_an_owners_committee_is_elected_by_area_and_flats_both(w):
    await flats(w)
    body = {"electorate": "flat", "rule": "art278", "owners_assembly": True}
    e1 = await election(w, title="第一届业主委员会选举", **body)
    e2 = await election(w, title="业主委员会补选", **body)
    clock.freeze(VOTING)
    await w.vote(w.chen, e1, answers([JIA, YI]))  # f1
    await w.vote(w.zhou, e1, answers([JIA, YI]))  # f2
    await w.enter(e1, "3栋2单元202", answers([YI, DING]))  # f4
    await w.enter(e1, "3栋2单元203", answers([BING, DING]))  # f5
    await w.enter(e1, "3栋1单元104", answers([BING, DING]), channel="proxy", proxy_name="104业主的儿子")  # f6
    await w.vote(w.chen, e2, answers([JIA]))
    for label in ("3栋2单元202", "3栋2单元203", "3栋1单元104"):
        await w.enter(e2, label, answers([JIA]))
    clock.freeze(CLOSES)

    one = await w.result(e1, w.li)
    assert (one["standing"], one["rule"], one["valid"]) == ("选举", "art278", True)
    part = by_key(one["thresholds"])
    assert figures(part["participation_area"]) == (56000, 72000, True)
    assert figures(part["participation_flats"]) == (5, 6, True)
    count = one["election"]
    assert count["needs_majority"] is True
    ranking = {r["name"]: r for r in count["ranking"]}
    assert [r["name"] for r in count["ranking"]] == ["乙", "甲", "丁", "丙"]  # by area
    for name, area, flats_, elected in (
        ("甲", (32000, True), (2, False), False),
        ("乙", (40000, True), (3, True), True),
        ("丙", (16000, False), (2, False), False),
        ("丁", (24000, False), (3, True), False),
    ):
        gates = by_key(ranking[name]["thresholds"])
        assert figures(gates["candidate_area"]) == (area[0], 56000, area[1]), name
        assert figures(gates["candidate_flats"]) == (flats_[0], 5, flats_[1]), name
        assert (ranking[name]["majority"], ranking[name]["elected"]) == (elected, elected), name
    assert by_key(ranking["乙"]["thresholds"])["candidate_area"]["needed_text"] == "280.01㎡"
    assert by_key(ranking["乙"]["thresholds"])["candidate_flats"]["needed_text"] == "3套"
    assert [e["name"] for e in count["elected"]] == ["乙"] and count["status"] == "unfilled"
    assert count["label"] == "当选：乙；1个席位没有候选人得票的面积和人数都超过参与表决的一半，需另行选举"
    assert count["majority_label"] == (
        "当选须得票的专有部分面积和业主人数都超过参与表决的一半（参与表决560.00㎡、5套，含0张空白票），"
        "即面积至少280.01㎡且至少3套"
    )
    export = await w.client.get(f"{API}/polls/{e1}/export.xlsx", headers=w.staff.headers)
    rows = list(load_workbook(io.BytesIO(export.content))["结果"].iter_rows(min_row=2, values_only=True))
    assert ("门槛", "得票的业主（套）占参与表决业主过半数") in [(r[0], r[1]) for r in rows]
    assert any(r[5] == "240.00㎡ / 560.00㎡（需过半数，即至少280.01㎡）：未达到" for r in rows)

    two = await w.result(e2)
    assert two["valid"] is False
    assert figures(by_key(two["thresholds"])["participation_area"]) == (40000, 72000, False)
    assert figures(by_key(two["thresholds"])["participation_flats"]) == (4, 6, True)
    assert two["election"]["elected"] == [] and two["election"]["status"] == "invalid"
    assert two["election"]["label"] == "参与表决的面积未达到三分之二，选举无效"
