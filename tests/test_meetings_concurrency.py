"""Meetings under simultaneous requests: what decides whether a level-3 concern is on an agenda
(planning, cancelling a five-party meeting) and what decides a follow-up's reminder (publishing
the minutes, updating the follow-up) never interleave. Each scenario runs a few rounds, since a
race shows only sometimes. On PostgreSQL the requests run on real parallel connections; on SQLite
they queue for the single writer, and the same outcomes must come out."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api import clock
from api.db.models import AgendaItem, Meeting, OutboxJob
from tests.contract import api_client
from tests.test_meetings import API, NOW, World, settings  # noqa: F401 - settings is a fixture

ROUNDS = 5


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


async def level_3(w: World, title: str) -> int:
    """A concern staff record (shown at once) and accept at level 3: on the agenda of the next
    five-party meeting, or waiting for one."""
    raised = await w.client.post(
        f"{API}/communities/{w.b}/concerns",
        json={"category": "parking", "building": "3栋", "title": title},
        headers=w.staff.headers,
    )
    assert raised.status_code == 201, raised.text
    accepted = await w.client.post(
        f"{API}/concerns/{raised.json()['id']}/accept", json={"level": 3}, headers=w.staff.headers
    )
    assert accepted.status_code == 200, accepted.text
    return int(raised.json()["id"])


async def upcoming_agendas(w: World, concern_id: int) -> list[int]:
    """The meetings still to come whose agenda holds the concern."""
    async with w.db.session(write=False) as session:
        found = await session.execute(
            select(AgendaItem.meeting_id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(AgendaItem.concern_id == concern_id, Meeting.status.in_(("draft", "agenda_published")))
            .order_by(AgendaItem.meeting_id)
        )
        return list(found.scalars())


def five_party(title: str, days: float) -> dict[str, Any]:
    starts = clock.now() + timedelta(days=days)
    return {
        "kind": "five_party",
        "title": title,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "place": "社区议事厅",
    }


async def at_once(app: Any, *calls: Any) -> list[httpx.Response]:
    """Each call (a function of a client) on its own client, all at the same moment."""
    clients = [api_client(app) for _ in calls]
    try:
        return list(await asyncio.gather(*(call(c) for call, c in zip(calls, clients, strict=True))))
    finally:
        for c in clients:
            await c.aclose()


async def test_two_five_party_meetings_planned_at_once_take_a_waiting_concern_once(app, w):
    waiting: list[int] = []
    for n in range(ROUNDS):
        waiting.append(await level_3(w, f"电动车乱停{n}"))
        for concern in waiting:
            assert await upcoming_agendas(w, concern) == []  # none planned: each waits
        one, two = await at_once(
            app,
            lambda c: c.post(f"{API}/communities/{w.b}/meetings", json=five_party("甲", 7), headers=w.staff.headers),
            lambda c: c.post(f"{API}/communities/{w.b}/meetings", json=five_party("乙", 8), headers=w.staff.headers),
        )
        assert (one.status_code, two.status_code) == (201, 201), (one.text, two.text)
        planned = {one.json()["id"], two.json()["id"]}
        for concern in waiting:
            on = await upcoming_agendas(w, concern)
            assert len(on) == 1 and on[0] in planned, (n, concern, on)
        # both answers together list each concern once
        listed = [i["concern_id"] for m in (one, two) for i in m.json()["agenda"]]
        assert sorted(listed) == sorted(waiting), n
        # both cancelled: the concerns wait again for the next round's meetings
        for meeting_id in sorted(planned):
            assert (await w.step(meeting_id, "cancel", reason="改期")).status_code == 200
        for concern in waiting:
            assert await upcoming_agendas(w, concern) == []


async def test_a_meeting_cancelled_while_another_is_planned_leaves_its_concern_on_the_new_one(app, w):
    for n in range(ROUNDS):
        first = await w.meeting(
            title=f"原定五方会{n}",
            starts_at=(clock.now() + timedelta(days=5)).isoformat(),
            ends_at=(clock.now() + timedelta(days=5, hours=2)).isoformat(),
        )
        concern = await level_3(w, f"楼道堆物{n}")
        assert await upcoming_agendas(w, concern) == [first["id"]]
        cancelled, planned = await at_once(
            app,
            lambda c: c.post(f"{API}/meetings/{first['id']}/cancel", json={"reason": "改期"}, headers=w.staff.headers),
            lambda c: c.post(
                f"{API}/communities/{w.b}/meetings", json=five_party("新定五方会", 9), headers=w.staff.headers
            ),
        )
        assert (cancelled.status_code, planned.status_code) == (200, 201), (cancelled.text, planned.text)
        # whichever came first, the concern is on the new meeting's agenda, once
        assert await upcoming_agendas(w, concern) == [planned.json()["id"]], n
        assert (await w.step(planned.json()["id"], "cancel", reason="清场")).status_code == 200
        down = await w.client.post(f"{API}/concerns/{concern}/level", json={"level": 2}, headers=w.staff.headers)
        assert down.status_code == 200, down.text


# -- a follow-up while the minutes are published -------------------------------------------------


async def pending_reminders(w: World, follow_up_id: int) -> list[str]:
    """The keys of the follow-up's reminders waiting to go out."""
    async with w.db.session(write=False) as session:
        found = await session.execute(
            select(OutboxJob.dedup_key).where(
                OutboxJob.dedup_key.like(f"scheduled:follow_up:{follow_up_id}:reminder:%"),
                OutboxJob.status == "pending",
            )
        )
        return sorted(found.scalars())


async def held_with_follow_up(w: World, n: int) -> tuple[int, int]:
    """A meeting held an hour from now (each round a new one), a decision and a follow-up of zhou's
    due in January: its reminder would go out on 18 January at 09:00."""
    starts = clock.now() + timedelta(hours=1)
    meeting = await w.held(
        title=f"五方会{n}", starts_at=starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat()
    )
    decision = await w.decision(meeting["id"])
    task = await w.follow_up(decision["id"], owner_user_id=w.zhou.user_id, due_on="2027-01-20")
    return meeting["id"], task["id"]


async def test_a_follow_up_done_while_the_minutes_are_published_keeps_no_reminder(app, w):
    for n in range(ROUNDS):
        meeting_id, task_id = await held_with_follow_up(w, n)
        published, done = await at_once(
            app,
            lambda c: c.post(f"{API}/meetings/{meeting_id}/publish-minutes", headers=w.staff.headers),
            lambda c: c.patch(f"{API}/follow-ups/{task_id}", json={"status": "done"}, headers=w.staff.headers),
        )
        assert (published.status_code, done.status_code) == (200, 200), (published.text, done.text)
        assert done.json()["status"] == "done"
        assert await pending_reminders(w, task_id) == [], n


async def test_a_follow_up_reassigned_while_the_minutes_are_published_reminds_only_its_new_owner(app, w):
    for n in range(ROUNDS):
        meeting_id, task_id = await held_with_follow_up(w, n)
        published, moved = await at_once(
            app,
            lambda c: c.post(f"{API}/meetings/{meeting_id}/publish-minutes", headers=w.staff.headers),
            lambda c: c.patch(
                f"{API}/follow-ups/{task_id}", json={"owner_user_id": w.li.user_id}, headers=w.staff.headers
            ),
        )
        assert (published.status_code, moved.status_code) == (200, 200), (published.text, moved.text)
        assert await pending_reminders(w, task_id) == [
            f"scheduled:follow_up:{task_id}:reminder:{w.li.user_id}:2027-01-20"
        ], n
        told = [e for e in await w.inbox(w.li) if e["kind"] == "follow_up.assigned"]
        assert f"pages/follow-ups/detail?id={task_id}" in [e["page"] for e in told], n
