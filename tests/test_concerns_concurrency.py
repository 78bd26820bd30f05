""" "Me too" under simultaneous taps: one person tapping thirty times at once counts once; thirty
people at once count thirty; taps and take-backs together keep the counter equal to the rows. A
level-3 concern accepted (or reopened) while a five-party meeting is being planned ends on exactly
one agenda, never waiting while the meeting exists. On PostgreSQL the requests run on real
parallel connections; on SQLite they queue for the single writer, and the same outcomes must come
out."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from api import clock
from api.db.models import AgendaItem, Concern, ConcernSupporter
from tests.factories import Person, community, grant, join, login, platform_admin

ROUNDS = 12  # each round races the two requests afresh (before the agenda lock, a third of them went wrong)


async def _world(client, db, count: int) -> tuple[int, Person, list[Person]]:
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    people = []
    for n in range(count):
        person = await login(client, f"r{n}")
        await join(client, person, b, f"{n % 5 + 1}栋", "1单元", str(100 + n))
        people.append(person)
    return b, staff, people


async def _stored(db, concern_id: int) -> tuple[int, int]:
    async with db.session(write=False) as session:
        counter = (await session.execute(select(Concern.metoo_count).where(Concern.id == concern_id))).scalar_one()
        rows = (
            await session.execute(select(func.count()).where(ConcernSupporter.concern_id == concern_id))
        ).scalar_one()
    return counter, rows


async def _concern(client, staff: Person, b: int) -> int:
    # staff record it: visible at once, no worker needed
    raised = await client.post(
        f"/api/v1/communities/{b}/concerns",
        json={"category": "parking", "building": "1栋", "title": "电动车乱停"},
        headers=staff.headers,
    )
    assert raised.status_code == 201, raised.text
    assert raised.json()["visibility"] == "visible"
    return int(raised.json()["id"])


async def test_thirty_taps_by_one_person_at_once_count_once(client, db):
    b, staff, (me,) = await _world(client, db, 1)
    concern_id = await _concern(client, staff, b)
    answers = await asyncio.gather(
        *(client.post(f"/api/v1/concerns/{concern_id}/metoo", headers=me.headers) for _ in range(30))
    )
    assert {a.status_code for a in answers} == {200}
    assert await _stored(db, concern_id) == (1, 1)
    seen = await client.get(f"/api/v1/concerns/{concern_id}", headers=me.headers)
    assert (seen.json()["metoo_count"], seen.json()["me_too"]) == (1, True)


async def test_thirty_people_at_once_count_thirty_and_take_backs_keep_the_count(client, db):
    b, staff, people = await _world(client, db, 40)
    concern_id = await _concern(client, staff, b)
    answers = await asyncio.gather(
        *(client.post(f"/api/v1/concerns/{concern_id}/metoo", headers=p.headers) for p in people[:30])
    )
    assert {a.status_code for a in answers} == {200}
    assert await _stored(db, concern_id) == (30, 30)

    # the first ten take theirs back (twice each) while the last ten tap (twice each), all at once
    calls = [client.delete(f"/api/v1/concerns/{concern_id}/metoo", headers=p.headers) for p in people[:10] * 2]
    calls += [client.post(f"/api/v1/concerns/{concern_id}/metoo", headers=p.headers) for p in people[30:] * 2]
    answers = await asyncio.gather(*calls)
    assert {a.status_code for a in answers} == {200}
    assert await _stored(db, concern_id) == (30, 30)
    seen = await client.get(f"/api/v1/concerns/{concern_id}", headers=people[0].headers)
    assert (seen.json()["metoo_count"], seen.json()["me_too"]) == (30, False)


# -- level 3 and a meeting being planned, at once ------------------------------------------------------


async def _meeting_and(client: httpx.AsyncClient, staff: Person, b: int, other: Any, n: int) -> tuple[Any, int]:
    """A five-party meeting created at the same moment as `other` (a request), in either order."""
    starts = clock.now() + timedelta(days=7)
    plan = client.post(
        f"/api/v1/communities/{b}/meetings",
        json={
            "kind": "five_party",
            "title": f"第{n}次五方议事会",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "place": "社区议事厅",
        },
        headers=staff.headers,
    )
    if n % 2:
        made, answer = await asyncio.gather(plan, other)
    else:
        answer, made = await asyncio.gather(other, plan)
    assert made.status_code == 201, made.text
    return answer, int(made.json()["id"])


async def _on_exactly_one_agenda(client: httpx.AsyncClient, db: Any, staff: Person, concern_id: int) -> None:
    async with db.session(write=False) as session:
        items = (await session.execute(select(func.count()).where(AgendaItem.concern_id == concern_id))).scalar_one()
    seen = (await client.get(f"/api/v1/concerns/{concern_id}", headers=staff.headers)).json()
    assert (items, len(seen["agenda"]), seen["waiting_for_meeting"]) == (1, 1, False), concern_id


async def _clear(client: httpx.AsyncClient, staff: Person, concern_id: int, meeting_id: int) -> None:
    """The round's concern moved off level 3 and its meeting cancelled: the next round starts with
    no meeting planned and nothing waiting."""
    down = await client.post(f"/api/v1/concerns/{concern_id}/level", json={"level": 2}, headers=staff.headers)
    assert down.status_code == 200, down.text
    cancelled = await client.post(
        f"/api/v1/meetings/{meeting_id}/cancel", json={"reason": "改期"}, headers=staff.headers
    )
    assert cancelled.status_code == 200, cancelled.text


async def test_accepted_at_level_3_while_a_five_party_meeting_is_planned_it_lands_on_one_agenda(client, db):
    b, staff, _ = await _world(client, db, 1)  # a household of 1栋, where the concerns are
    for n in range(ROUNDS):
        concern_id = await _concern(client, staff, b)
        accept = client.post(f"/api/v1/concerns/{concern_id}/accept", json={"level": 3}, headers=staff.headers)
        accepted, meeting_id = await _meeting_and(client, staff, b, accept, n)
        assert accepted.status_code == 200, accepted.text
        await _on_exactly_one_agenda(client, db, staff, concern_id)
        await _clear(client, staff, concern_id, meeting_id)


async def test_reopened_at_level_3_while_a_five_party_meeting_is_planned_it_lands_on_one_agenda(client, db):
    b, staff, (me,) = await _world(client, db, 1)
    for n in range(ROUNDS):
        concern_id = await _concern(client, staff, b)
        assert (await client.post(f"/api/v1/concerns/{concern_id}/metoo", headers=me.headers)).status_code == 200
        for action, body in (("accept", {"level": 3}), ("resolve", {"result": "已处理"})):
            done = await client.post(f"/api/v1/concerns/{concern_id}/{action}", json=body, headers=staff.headers)
            assert done.status_code == 200, done.text
        verdict = client.post(
            f"/api/v1/concerns/{concern_id}/verdict", json={"answer": "not_solved", "stars": 1}, headers=me.headers
        )
        reopened, meeting_id = await _meeting_and(client, staff, b, verdict, n)
        assert reopened.status_code == 201 and reopened.json()["status"] == "in_progress", reopened.text
        await _on_exactly_one_agenda(client, db, staff, concern_id)
        await _clear(client, staff, concern_id, meeting_id)
