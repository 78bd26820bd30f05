"""The votes' indicators of the reports (issue 16): 投票和选举场次, 投票参与率 and 调研问卷回收, each
equal to the figure computed by hand, read through the reports API and its drill-down.

The scene (community B of tests/test_polls.py, Shanghai time; the clock starts Tuesday 1 December
2026 10:00): households 101 (陈明, 林梅 and a child), 102 (周强, and 王奶奶 without WeChat) and 103
(李华).

polls, by the time their voting closes
  P1  each household, closes Dec 3 10:00   101 (app), 102 (paper, staff)       2 of 3 households
  E1  each adult (5: 陈明 林梅 周强 王奶奶 李华), election, closes Dec 20 10:00
                                            陈明, 林梅 (app), 王奶奶 (paper)    3 of 5 residents
  P2  closes Jan 5 — next month             周强 (app)                          not December's
  P3  cancelled, would have closed Dec 10                                      never counted
  P4  closes Dec 31, still open on the day of the report (Dec 25)              not yet counted
  (C's poll, closed Dec 3, is never B's.)

  December: held 2 (1 election, 1 consultation, 0 owners' decisions); turnout (2 + 3) / (3 + 5) =
  5 / 8 = 62.5 %.

survey responses, by the day submitted
  S1 (each person)    Dec 1 陈明 (app) | Dec 2 林梅 (app), one paper questionnaire from 3栋
  S2 (each household) Dec 2 周强 (app)
  S3 cancelled on Dec 3  Dec 2 李华 (app): never counted
  (C's survey, answered Dec 2, is never B's.)

  December: 4 (app 3, paper 1) from 2 questionnaires."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api import clock
from tests.factories import join, login
from tests.test_polls import API, NO, NOW, YES, World, at, settings  # noqa: F401 - settings is a fixture
from tests.test_surveys import QUESTIONS, answers

DECEMBER = {"from": "2026-12-01", "to": "2026-12-31"}


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


async def opened(w: World, *, community: int | None = None, staff: Any = None, **fields: Any) -> int:
    created = await w.client.post(
        f"{API}/communities/{community or w.b}/polls", json=w.body(**fields), headers=(staff or w.staff).headers
    )
    assert created.status_code == 201, created.text
    poll_id = int(created.json()["id"])
    published = await w.client.post(f"{API}/polls/{poll_id}/publish", headers=(staff or w.staff).headers)
    assert published.status_code == 200, published.text
    return poll_id


async def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def survey(w: World, *, community: int | None = None, staff: Any = None, **fields: Any) -> int:
    headers = (staff or w.staff).headers
    body = {"title": "社区服务需求调研", "closes_at": at(days=20), "questions": QUESTIONS, **fields}
    created = await ok(await w.client.post(f"{API}/communities/{community or w.b}/surveys", json=body, headers=headers))
    await ok(await w.client.post(f"{API}/surveys/{created['id']}/open", headers=headers), 200)
    return int(created["id"])


async def scene(w: World) -> dict[str, int]:
    c_poll = await opened(w, community=w.c, staff=w.c_staff, closes_at=at(days=2))
    await ok(await w.vote(w.c_resident, c_poll))
    p1 = await opened(w, closes_at=at(days=2))
    e1 = await opened(w, kind="election", electorate="resident", closes_at=at(days=19))
    p2 = await opened(w, closes_at=at(days=35))
    p3 = await opened(w, closes_at=at(days=9))
    p4 = await opened(w, closes_at=at(days=30))
    await ok(await w.vote(w.chen, p1))
    await ok(await w.enter(p1, await w.elector(p1, "102"), NO))
    await ok(await w.vote(w.chen, e1, [{"question": 0, "options": [0, 1]}]))
    await ok(await w.vote(w.mei, e1, [{"question": 0, "options": [1]}]))
    (elder,) = [e for e in (await w.roll(e1, q="102"))["items"] if "王奶奶" in e["label"]]
    await ok(await w.enter(e1, int(elder["id"]), [{"question": 0, "options": [2]}]))
    await ok(await w.vote(w.zhou, p2))
    await ok(await w.vote(w.li, p3))
    await ok(await w.vote(w.li, p4))
    cancelled = await w.client.post(
        f"{API}/polls/{p3}/cancel", json={"reason": "议题改到议事会讨论"}, headers=w.staff.headers
    )
    assert cancelled.status_code == 200, cancelled.text

    s1 = await survey(w)
    s2 = await survey(w, title="家庭托管需求", unit="household")
    c_survey = await survey(w, community=w.c, staff=w.c_staff)
    await ok(await w.client.post(f"{API}/surveys/{s1}/responses", json={"answers": answers()}, headers=w.chen.headers))
    clock.freeze(NOW + timedelta(days=1))
    await ok(await w.client.post(f"{API}/surveys/{s1}/responses", json={"answers": answers(1)}, headers=w.mei.headers))
    paper = {"answers": answers(2), "building": "3栋"}
    await ok(await w.client.post(f"{API}/surveys/{s1}/paper", json=paper, headers=w.staff.headers))
    await ok(await w.client.post(f"{API}/surveys/{s2}/responses", json={"answers": answers()}, headers=w.zhou.headers))
    answered = {"answers": answers()}
    await ok(await w.client.post(f"{API}/surveys/{c_survey}/responses", json=answered, headers=w.c_resident.headers))
    s3 = await survey(w, title="停车需求（重复发起）")
    await ok(await w.client.post(f"{API}/surveys/{s3}/responses", json=answered, headers=w.li.headers))
    clock.freeze(NOW + timedelta(days=2))
    dropped = {"reason": "与另一份问卷重复"}
    await ok(await w.client.post(f"{API}/surveys/{s3}/cancel", json=dropped, headers=w.staff.headers), 200)

    clock.freeze(NOW + timedelta(days=24))  # Friday 25 December
    return {"p1": p1, "e1": e1, "s1": s1, "s2": s2}


async def report(w: World, community: int | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    response = await w.client.get(
        f"{API}/communities/{community or w.b}/reports", params={**DECEMBER, **params}, headers=w.staff.headers
    )
    assert response.status_code == 200, response.text
    return {i["key"]: i for i in response.json()["indicators"]}


async def rows(w: World, indicator: str) -> dict[str, Any]:
    response = await w.client.get(
        f"{API}/communities/{w.b}/reports/rows", params={**DECEMBER, "indicator": indicator}, headers=w.staff.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def parts(indicator: dict[str, Any]) -> dict[str, Any]:
    return {p["key"]: p["value"] for p in indicator["parts"]}


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


async def test_the_votes_figures_are_the_ones_computed_by_hand(w):
    await scene(w)
    v = await report(w)
    held, turnout, responses = v["polls_held"], v["poll_turnout"], v["survey_responses"]
    assert (held["name"], held["unit"], held["value"]) == ("投票和选举场次", "场", 2)
    assert parts(held) == {"elections": 1, "consultations": 1, "decisions": 0}
    assert {f["key"]: f["value"] for f in held["breakdowns"]["month"]} == {"2026-12": 2}
    assert (turnout["value"], parts(turnout)) == (62.5, {"participants": 5, "electors": 8})
    assert (responses["value"], parts(responses)) == (4, {"app": 3, "paper": 1, "surveys": 2})
    assert {f["key"]: f["value"] for f in responses["breakdowns"]["month"]} == {"2026-12": 4}

    # November: nothing closed nor answered yet
    november = await report(w, **{"from": "2026-11-01", "to": "2026-11-30"})
    assert [november[k]["value"] for k in ("polls_held", "poll_turnout", "survey_responses")] == [0, None, 0]

    # C's own figures: its poll (1 of 1) and its survey's one response, none of B's
    c = await w.client.get(f"{API}/communities/{w.c}/reports", params=DECEMBER, headers=w.c_staff.headers)
    assert c.status_code == 200, c.text
    cv = {i["key"]: i["value"] for i in c.json()["indicators"]}
    assert (cv["polls_held"], cv["poll_turnout"], cv["survey_responses"]) == (1, 100.0, 1)


async def test_the_rows_behind_the_votes_figures(w):
    ids = await scene(w)
    held = await rows(w, "polls_held")
    assert [(r["poll_id"], r["standing"], r["electors"], r["participants"], r["turnout"]) for r in held["rows"]] == [
        (ids["p1"], "意向征询", 3, 2, "66.7%"),
        (ids["e1"], "选举", 5, 3, "60.0%"),
    ]
    assert [r["closes"] for r in held["rows"]] == ["2026-12-03 10:00", "2026-12-20 10:00"]
    assert held["rows"] == (await rows(w, "poll_turnout"))["rows"]

    received = await rows(w, "survey_responses")
    assert [(r["survey_id"], r["day"], r["channel"], r["responses"]) for r in received["rows"]] == [
        (ids["s1"], "2026-12-01", "小程序", 1),
        (ids["s1"], "2026-12-02", "小程序", 1),
        (ids["s1"], "2026-12-02", "纸质问卷", 1),
        (ids["s2"], "2026-12-02", "小程序", 1),
    ]
    # counted by questionnaire and day: nothing that would say whose a response was
    assert {key for r in received["rows"] for key in r} == {"survey_id", "day", "survey", "channel", "responses"}


async def test_a_household_joining_after_the_open_changes_no_turnout(w):
    """The turnout's denominator is the roll taken at the open, not the households of today."""
    ids = await scene(w)
    late = await login(w.client, "newcomer")
    await join(w.client, late, w.b, "3栋", "1单元", "104")
    v = await report(w)
    assert (v["poll_turnout"]["value"], parts(v["poll_turnout"])) == (62.5, {"participants": 5, "electors": 8})
    assert ids["p1"] in [r["poll_id"] for r in (await rows(w, "polls_held"))["rows"]]
