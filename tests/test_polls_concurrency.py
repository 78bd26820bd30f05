"""Polls under simultaneous requests: one participation per elector whatever the channel. On
PostgreSQL the requests run on real parallel connections (each vote takes the poll FOR SHARE and
inserts its participation ON CONFLICT DO NOTHING against the unique (poll, elector)); on SQLite
they queue for the single writer, and the same outcomes must come out. Each scenario runs a few
rounds, since a race shows only sometimes."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api import clock
from api.db.models import PollBallot, PollElector, PollParticipation
from tests.contract import api_client
from tests.factories import Person, join, login
from tests.test_polls import API, NOW, YES, World, at, settings  # noqa: F401 - settings is a fixture

ROUNDS = 3
MEMBERS = 10  # one household's adults with an account
ATTEMPTS = 5  # each, at once: 50 attempts


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


async def at_once(app: Any, *calls: Any) -> list[httpx.Response]:
    """Each call (a function of a client) on its own client, all at the same moment."""
    clients = [api_client(app) for _ in calls]
    try:
        return list(await asyncio.gather(*(call(c) for call, c in zip(calls, clients, strict=True))))
    finally:
        for c in clients:
            await c.aclose()


async def counts(w: World, poll_id: int) -> tuple[int, int, list[int]]:
    """(participations, ballots, participations per elector) as the database holds them."""
    async with w.db.session(write=False) as session:
        per_elector = list(
            (
                await session.execute(
                    select(func.count())
                    .select_from(PollParticipation)
                    .where(PollParticipation.poll_id == poll_id)
                    .group_by(PollParticipation.elector_id)
                )
            ).scalars()
        )
        ballots = (
            await session.execute(select(func.count()).select_from(PollBallot).where(PollBallot.poll_id == poll_id))
        ).scalar_one()
    return sum(per_elector), int(ballots), per_elector


def vote(poll_id: int, person: Person, key: str):
    headers = {**person.headers, "Idempotency-Key": f"{person.user_id}-{key}"}
    return lambda c: c.post(f"{API}/polls/{poll_id}/ballot", json={"answers": YES}, headers=headers)


async def test_one_participation_per_household_under_fifty_attempts_and_a_paper_ballot_at_once(app, w):
    family = [w.chen, w.mei]
    for n in range(MEMBERS - len(family)):
        family.append(await w.relative(f"陈家{n}", w.chen, "101"))
    for n in range(ROUNDS):
        poll = await w.opened(title=f"屋顶花园{n}", secret=n % 2 == 1)  # open and secret ballots alike
        elector = await w.elector(poll["id"], "101")
        calls = [vote(poll["id"], person, f"{n}-{k}") for person in family for k in range(ATTEMPTS)]
        paper = {"elector_id": elector, "channel": "paper", "answers": YES}
        calls.append(lambda c, p=poll["id"]: c.post(f"{API}/polls/{p}/entries", json=paper, headers=w.staff.headers))
        answers = await at_once(app, *calls)
        statuses = Counter(r.status_code for r in answers)
        assert statuses[201] == 1 and statuses[409] == len(calls) - 1, (n, statuses, [r.text for r in answers][:3])
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"poll_already_voted"}
        (won,) = [r for r in answers if r.status_code == 201]
        channel = "paper" if won.request.url.path.endswith("/entries") else "app"
        # every refusal names the one that won
        voted_by = {r.json()["error"]["details"]["channel"] for r in answers if r.status_code == 409}
        assert voted_by == {channel}, n
        assert await counts(w, poll["id"]) == (1, 1, [1]), n
        turnout = await w.view(poll["id"], tail="/turnout")
        assert (turnout["participants"], sum(c["count"] for c in turnout["by_channel"])) == (1, 1)


async def test_many_households_voting_at_once_each_count_once(app, w):
    people: list[Person] = []
    for n in range(30):
        person = await login(w.client, f"居民{n}")
        await join(w.client, person, w.b, f"{n % 5 + 4}栋", "1单元", str(100 + n))
        people.append(person)
    poll = await w.opened(electorate="household")
    # everyone twice (a double tap, two keys), and the earlier residents too
    everyone = [*people, w.chen, w.zhou, w.li]
    calls = [vote(poll["id"], p, f"{k}") for p in everyone for k in range(2)]
    answers = await at_once(app, *calls)
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: len(everyone), 409: len(everyone)}, statuses
    participations, ballots, per_elector = await counts(w, poll["id"])
    assert participations == ballots == len(everyone) and set(per_elector) == {1}
    assert (await w.view(poll["id"]))["turnout"]["participants"] == len(everyone)


async def test_the_first_votes_after_the_start_open_the_poll_once(app, w):
    people: list[Person] = []
    for n in range(15):
        person = await login(w.client, f"邻居{n}")
        await join(w.client, person, w.b, "8栋", "2单元", str(200 + n))
        people.append(person)
    for n in range(ROUNDS):
        poll = await w.draft(title=f"晾衣区{n}", opens_at=at(hours=n + 1), closes_at=at(days=7))
        assert (await w.publish(poll["id"])).json()["status"] == "scheduled"
        clock.advance(timedelta(hours=n + 1) - (clock.now() - NOW))
        answers = await at_once(app, *(vote(poll["id"], p, f"open-{n}") for p in people))
        assert [r.status_code for r in answers] == [201] * len(people), [
            r.text for r in answers if r.status_code != 201
        ]
        view = await w.view(poll["id"])
        assert (view["status"], view["roll_count"]) == ("open", len(people) + 3)
        async with w.db.session(write=False) as session:
            roll = (
                await session.execute(
                    select(func.count()).select_from(PollElector).where(PollElector.poll_id == poll["id"])
                )
            ).scalar_one()
        assert roll == len(people) + 3, n  # taken once
        for person in people[:3]:
            told = [e for e in await w.inbox(person) if e["kind"] == "poll.opened"]
            assert len(told) == n + 1, (n, person.name)
