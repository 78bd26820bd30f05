""" "Me too" under simultaneous taps: one person tapping thirty times at once counts once; thirty
people at once count thirty; taps and take-backs together keep the counter equal to the rows. On
PostgreSQL the requests run on real parallel connections; on SQLite they queue for the single
writer, and the same counts must come out."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from api.db.models import Concern, ConcernSupporter
from tests.factories import Person, community, grant, join, login, platform_admin


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
