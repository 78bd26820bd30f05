"""The audit list of a community's settings, through the HTTP API: every change to its details,
spaces (hours too), closures, staff roles, the activity, loan, volunteer and governance policies and
its quiet hours writes one entry saying who made it, when, and what it was before and after. A
change refused or rolled back writes nothing, nor does one that changed nothing; the list is the
community's own, newest first, paged, filtered by subject; the actor's name outlives the account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from api import clock
from api.db.models import User
from tests.factories import Person, community, grant, join, login, platform_admin

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class World:
    client: httpx.AsyncClient
    root: Person
    a: int
    b: int
    admin: Person
    staff: Person
    chen: Person
    other: Person  # staff of B


async def named(client: httpx.AsyncClient, name: str, display: str) -> Person:
    person = await login(client, name)
    response = await client.patch("/api/v1/me", json={"display_name": display}, headers=person.headers)
    assert response.status_code == 200, response.text
    return person


@pytest.fixture
async def w(client, db) -> World:
    clock.freeze(NOW)
    world = World()
    world.client = client
    world.root = await named(client, "root", "平台管理员")
    await platform_admin(client, db)
    world.a = (await community(client, world.root, "A社区"))["id"]
    world.b = (await community(client, world.root, "B社区"))["id"]
    world.admin = await named(client, "admin", "李主任")
    await grant(client, world.root, world.a, world.admin, "admin")
    world.staff = await named(client, "staff", "王社工")
    await grant(client, world.root, world.a, world.staff, "staff")
    world.chen = await named(client, "chen", "陈阿姨")
    await join(client, world.chen, world.a)
    world.other = await named(client, "other", "赵社工")
    await grant(client, world.root, world.b, world.other, "staff")
    return world


async def entries(w: World, person: Person | None = None, community_id: int | None = None, **query: Any) -> Any:
    response = await w.client.get(
        f"/api/v1/communities/{community_id or w.a}/audit",
        params=query,
        headers=(person or w.staff).headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def latest(w: World) -> dict[str, Any]:
    items = (await entries(w))["items"]
    assert items
    first: dict[str, Any] = items[0]
    return first


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_every_change_to_the_settings_writes_its_entry_with_who_and_when(w: World):
    c = w.client
    steps: list[tuple[str, str]] = []  # (subject, actor's name), oldest first

    async def step(subject: str, actor: Person, actor_name: str) -> dict[str, Any]:
        entry = await latest(w)
        assert entry["subject_kind"] == subject
        assert entry["actor_name"] == actor_name and entry["actor_id"] == actor.user_id
        assert datetime.fromisoformat(entry["at"]) == clock.now()
        steps.append((subject, actor_name))
        return entry

    clock.advance(timedelta(minutes=1))
    ok(await c.patch(f"/api/v1/communities/{w.a}", json={"address": "幸福路 1 号"}, headers=w.admin.headers))
    entry = await step("community", w.admin, "李主任")
    assert entry["before"] == {"address": ""} and entry["after"] == {"address": "幸福路 1 号"}
    assert entry["changes"] == [{"field": "地址", "before": "（空）", "after": "幸福路 1 号"}]

    clock.advance(timedelta(minutes=1))
    ok(await c.patch(f"/api/v1/communities/{w.a}", json={"quiet_hours": "21:00-07:30"}, headers=w.admin.headers))
    entry = await step("quiet_hours", w.admin, "李主任")
    assert entry["changes"] == [{"field": "免打扰时段", "before": "系统默认", "after": "21:00-07:30"}]

    clock.advance(timedelta(minutes=1))
    space = ok(
        await c.post(f"/api/v1/communities/{w.a}/spaces", json={"name": "复合空间"}, headers=w.admin.headers), 201
    )
    entry = await step("space", w.admin, "李主任")
    assert entry["action"] == "create" and entry["subject_id"] == space["id"] and "复合空间" in entry["summary"]

    clock.advance(timedelta(minutes=1))
    hours = {"mon": [], "tue": [["09:00", "18:00"]]}
    ok(await c.patch(f"/api/v1/spaces/{space['id']}", json={"opening_hours": hours}, headers=w.admin.headers))
    entry = await step("space", w.admin, "李主任")
    assert entry["summary"] == "修改空间「复合空间」的开放时间"
    assert entry["before"]["opening_hours"]["tue"] == [["09:00", "21:00"]]
    assert entry["after"]["opening_hours"]["tue"] == [["09:00", "18:00"]]
    (change,) = entry["changes"]
    assert "周二 09:00–21:00" in change["before"] and "周二 09:00–18:00" in change["after"]

    clock.advance(timedelta(minutes=1))
    closure = ok(
        await c.post(
            f"/api/v1/spaces/{space['id']}/closures",
            json={"starts_on": "2027-01-01", "ends_on": "2027-01-03", "reason": "元旦"},
            headers=w.staff.headers,
        ),
        201,
    )
    entry = await step("closure", w.staff, "王社工")
    assert entry["after"] == {"space": "复合空间", "starts_on": "2027-01-01", "ends_on": "2027-01-03", "reason": "元旦"}

    clock.advance(timedelta(minutes=1))
    ok(await c.delete(f"/api/v1/closures/{closure['id']}", headers=w.staff.headers), 204)
    entry = await step("closure", w.staff, "王社工")
    assert entry["action"] == "delete" and entry["after"] is None and entry["before"]["reason"] == "元旦"

    clock.advance(timedelta(minutes=1))
    ok(
        await c.put(
            f"/api/v1/communities/{w.a}/roles/{w.chen.user_id}", json={"role": "staff"}, headers=w.admin.headers
        ),
        204,
    )
    entry = await step("role", w.admin, "李主任")
    assert entry["summary"] == "任命陈阿姨为工作人员" and entry["subject_id"] == w.chen.user_id
    assert entry["changes"] == [{"field": "角色", "before": "居民", "after": "工作人员"}]

    clock.advance(timedelta(minutes=1))
    ok(
        await c.put(
            f"/api/v1/communities/{w.a}/roles/{w.chen.user_id}", json={"role": "resident"}, headers=w.admin.headers
        ),
        204,
    )
    entry = await step("role", w.admin, "李主任")
    assert entry["action"] == "revoke" and entry["summary"] == "撤销陈阿姨的工作人员身份"

    clock.advance(timedelta(minutes=1))
    ok(
        await c.put(
            f"/api/v1/communities/{w.a}/roles/{w.staff.user_id}", json={"role": "admin"}, headers=w.root.headers
        ),
        204,
    )
    entry = await step("role", w.root, "平台管理员")
    assert entry["summary"] == "任命王社工为管理员"
    ok(
        await c.put(
            f"/api/v1/communities/{w.a}/roles/{w.staff.user_id}", json={"role": "staff"}, headers=w.root.headers
        ),
        204,
    )
    await step("role", w.root, "平台管理员")

    clock.advance(timedelta(minutes=1))
    ok(await c.put(f"/api/v1/communities/{w.a}/activity-policy", json={"no_show_limit": 5}, headers=w.staff.headers))
    entry = await step("activity_policy", w.staff, "王社工")
    assert entry["before"] == {"no_show_limit": 3} and entry["after"] == {"no_show_limit": 5}

    clock.advance(timedelta(minutes=1))
    ok(await c.put(f"/api/v1/communities/{w.a}/loan-policy", json={"loan_days": 21}, headers=w.staff.headers))
    entry = await step("loan_policy", w.staff, "王社工")
    assert entry["changes"] == [{"field": "借期（天）", "before": "14", "after": "21"}]

    clock.advance(timedelta(minutes=1))
    ok(
        await c.put(
            f"/api/v1/communities/{w.a}/volunteer-policy", json={"rounding_minutes": 30}, headers=w.staff.headers
        )
    )
    entry = await step("volunteer_policy", w.staff, "王社工")
    assert entry["before"] == {"rounding_minutes": 15} and entry["after"] == {"rounding_minutes": 30}

    clock.advance(timedelta(minutes=1))
    clocks = {
        "accept_working_days": 3,
        "level1_days": 7,
        "level2_days": 30,
        "level3_days": 60,
        "reopen_days": 14,
        "follow_up_reminder_days": 2,
    }
    ok(await c.put(f"/api/v1/communities/{w.a}/governance/policy", json=clocks, headers=w.admin.headers))
    entry = await step("governance_policy", w.admin, "李主任")
    assert entry["before"] == {"accept_working_days": 2} and entry["after"] == {"accept_working_days": 3}

    # the whole list, newest first; B's list has none of it
    listed = (await entries(w, limit=100))["items"]
    assert [(e["subject_kind"], e["actor_name"]) for e in listed[: len(steps)]] == list(reversed(steps))
    # before them: the community's creation and its first admin and staff, by the platform admin
    assert [e["summary"] for e in listed[len(steps) :]] == [
        "任命王社工为工作人员",
        "任命李主任为管理员",
        "新建社区「A社区」",
    ]
    assert [e["summary"] for e in (await entries(w, w.other, w.b))["items"]] == [
        "任命赵社工为工作人员",
        "新建社区「B社区」",
    ]


async def test_refused_and_empty_changes_write_nothing(w: World):
    c = w.client
    before = (await entries(w))["items"]
    # plain staff may not change the details, the quiet hours, the spaces or the staff
    assert (
        await c.patch(f"/api/v1/communities/{w.a}", json={"name": "改名"}, headers=w.staff.headers)
    ).status_code == 403
    body = {"quiet_hours": "20:00-08:00"}
    assert (await c.patch(f"/api/v1/communities/{w.a}", json=body, headers=w.staff.headers)).status_code == 403
    assert (
        await c.post(f"/api/v1/communities/{w.a}/spaces", json={"name": "x"}, headers=w.staff.headers)
    ).status_code == 403
    url = f"/api/v1/communities/{w.a}/roles/{w.chen.user_id}"
    assert (await c.put(url, json={"role": "staff"}, headers=w.staff.headers)).status_code == 403
    # an admin may not make admins; a taken name rolls the change back
    assert (await c.put(url, json={"role": "admin"}, headers=w.admin.headers)).status_code == 403
    assert (
        await c.patch(f"/api/v1/communities/{w.a}", json={"name": "B社区"}, headers=w.admin.headers)
    ).status_code == 409
    # the same values again change nothing
    assert (
        await c.patch(f"/api/v1/communities/{w.a}", json={"name": "A社区"}, headers=w.admin.headers)
    ).status_code == 200
    ok(await c.put(f"/api/v1/communities/{w.a}/activity-policy", json={"no_show_limit": 3}, headers=w.staff.headers))
    assert (await entries(w))["items"] == before


async def test_the_list_is_for_the_communitys_staff_paged_and_filtered(w: World):
    c = w.client
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        ok(await c.put(f"/api/v1/communities/{w.a}/loan-policy", json={"loan_days": 10 + i}, headers=w.staff.headers))
    ok(await c.patch(f"/api/v1/communities/{w.a}", json={"city": "北京市"}, headers=w.admin.headers))
    first = await entries(w, limit=4)
    second = await entries(w, limit=4, cursor=first["next_cursor"])
    third = await entries(w, limit=4, cursor=second["next_cursor"])
    assert [len(p["items"]) for p in (first, second, third)] == [4, 4, 1]
    assert third["next_cursor"] is None
    listed = first["items"] + second["items"] + third["items"]
    assert [e["at"] for e in listed] == sorted((e["at"] for e in listed), reverse=True)
    # six changes, the community's creation, its admin and its staff
    assert len({e["id"] for e in listed}) == len(listed) == 9
    loans = (await entries(w, subject="loan_policy"))["items"]
    assert [e["after"]["loan_days"] for e in loans] == [14, 13, 12, 11, 10]
    own = (await entries(w, subject="community", subject_id=w.a))["items"]
    assert [e["action"] for e in own] == ["update", "create"]
    # residents and staff of another community may not read it
    for person in (w.chen, w.other):
        response = await c.get(f"/api/v1/communities/{w.a}/audit", headers=person.headers)
        assert response.status_code == 403
    assert (await c.get(f"/api/v1/communities/{w.a}/audit?subject=nothing", headers=w.staff.headers)).status_code == 422


async def test_the_actors_name_outlives_their_account(w: World, db):
    ok(await w.client.put(f"/api/v1/communities/{w.a}/loan-policy", json={"max_loans": 5}, headers=w.staff.headers))
    async with db.session() as session:
        await session.execute(delete(User).where(User.id == w.staff.user_id))
        await session.commit()
    entry = (await entries(w, w.admin))["items"][0]
    assert entry["actor_id"] is None and entry["actor_name"] == "王社工" and entry["subject_kind"] == "loan_policy"


async def test_the_database_refuses_an_entry_of_an_unknown_subject_or_action(w, db):
    from sqlalchemy.exc import IntegrityError

    from api.db.models import AuditEntry
    from api.db.models.audit import AUDIT_SUBJECTS
    from api.services import audit

    assert set(audit.SUBJECTS) == set(AUDIT_SUBJECTS)  # every subject staff can read is one the table takes
    for subject, action in (("settings", "update"), ("space", "rename")):
        async with db.session(write=True) as session:
            session.add(AuditEntry(community_id=w.a, actor_name="x", subject_kind=subject, action=action, summary="x"))
            with pytest.raises(IntegrityError):
                await session.flush()
