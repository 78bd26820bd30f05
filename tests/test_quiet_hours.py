"""Quiet hours per community: an admin sets the community's own hours through PATCH
/communities/{id} ("" for none, null for the deployment's default); its pushes wait for their end,
another community's pushes do not. Checked when a push is planned (notify) and when the worker
sends it (a delivery planned before the hours were set waits too)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from api import clock
from api.db.models import Delivery, OutboxJob
from api.services.notifications import catalogue, notify
from tests.conftest import real_wechat_app
from tests.factories import Person, community, grant, join, login, platform_admin, subscribe
from tests.test_notifications import HELLO, PARAMS, TEMPLATE, handlers
from workers.runner import Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def activity_start_kind(monkeypatch):
    monkeypatch.setitem(catalogue.KINDS, HELLO.name, HELLO)


class World:
    client: Any
    fake: Any
    app: Any
    root: Person
    admin: Person
    staff: Person
    a: int
    b: int
    chen: Person  # lives in A
    wang: Person  # lives in B


async def _world(client: Any, fake: Any, app: Any) -> World:
    w = World()
    w.client, w.fake, w.app = client, fake, app
    w.root = await platform_admin(client, app.state.db)
    w.a = (await community(client, w.root, "A社区"))["id"]
    w.b = (await community(client, w.root, "B社区"))["id"]
    w.admin = await login(client, "admin")
    await grant(client, w.root, w.a, w.admin, "admin")
    w.staff = await login(client, "staff")
    await grant(client, w.root, w.a, w.staff, "staff")
    w.chen = await login(client, "chen")
    await join(client, w.chen, w.a)
    w.wang = await login(client, "wang")
    await join(client, w.wang, w.b)
    for person in (w.chen, w.wang):
        await subscribe(client, person, TEMPLATE, times=3)
    return w


async def _notify(w: World, person: Person, community_id: int, cause: str) -> None:
    async with w.app.state.db.session() as session:
        await notify(session, [person.user_id], HELLO.name, PARAMS, cause, community_id=community_id)
        await session.commit()


async def _job_for(w: World, person: Person) -> OutboxJob:
    """The latest delivery job carrying one of the person's deliveries."""
    async with w.app.state.db.session(write=False) as session:
        ids = set((await session.execute(select(Delivery.id).where(Delivery.user_id == person.user_id))).scalars())
        jobs = (
            await session.execute(
                select(OutboxJob).where(OutboxJob.kind == "notifications.deliver").order_by(OutboxJob.id)
            )
        ).scalars()
        return [job for job in jobs if set(job.payload["delivery_ids"]) & ids][-1]


def _worker(w: World) -> Worker:
    return Worker(w.app.state.db, w.app.state.settings, w.app.state.wechat, handlers=handlers())


async def _patch(w: World, person: Person, community_id: int, body: dict[str, Any]) -> Any:
    return await w.client.patch(f"/api/v1/communities/{community_id}", json=body, headers=person.headers)


async def test_a_communitys_own_quiet_hours_defer_its_pushes_and_not_anothers(database_url):
    templates = {HELLO.name: {"template_id": TEMPLATE}}
    # the deployment has no quiet hours
    async with real_wechat_app(database_url, wechat_templates=templates, quiet_hours="") as running:
        w = await _world(*running)
        clock.freeze(datetime(2026, 11, 24, 20, 0, tzinfo=SHANGHAI))
        response = await _patch(w, w.admin, w.a, {"quiet_hours": "21:30-08:00"})
        assert response.status_code == 200, response.text
        assert response.json()["quiet_hours"] == "21:30-08:00"
        detail = (await w.client.get(f"/api/v1/communities/{w.a}", headers=w.chen.headers)).json()
        assert detail["quiet_hours"] == "21:30-08:00"

        clock.advance(timedelta(hours=2))  # 22:00 in Shanghai
        await _notify(w, w.chen, w.a, "activity:1:start")
        await _notify(w, w.wang, w.b, "activity:2:start")
        assert (await _job_for(w, w.chen)).run_at == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
        assert (await _job_for(w, w.wang)).run_at == clock.now()
        assert await _worker(w).run_until_idle() == 1  # B's push goes now; A's waits
        assert len(w.fake.sent) == 1
        clock.freeze(datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI))
        assert await _worker(w).run_until_idle() == 1
        assert len(w.fake.sent) == 2


async def test_a_push_planned_before_the_hours_were_set_waits_at_the_worker(database_url):
    templates = {HELLO.name: {"template_id": TEMPLATE}}
    async with real_wechat_app(database_url, wechat_templates=templates, quiet_hours="") as running:
        w = await _world(*running)
        clock.freeze(datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI))
        await _notify(w, w.chen, w.a, "activity:1:start")  # planned for now: no quiet hours yet
        assert (await _job_for(w, w.chen)).run_at == clock.now()
        assert (await _patch(w, w.admin, w.a, {"quiet_hours": "11:00-13:00"})).status_code == 200
        await _worker(w).run_until_idle()  # the job runs, finds itself in the quiet hours and waits
        assert w.fake.sent == []
        assert (await _job_for(w, w.chen)).run_at == datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI)
        clock.freeze(datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI))
        assert await _worker(w).run_until_idle() == 1
        assert len(w.fake.sent) == 1


async def test_empty_means_none_and_null_means_the_deployments_default(database_url):
    templates = {HELLO.name: {"template_id": TEMPLATE}}
    async with real_wechat_app(database_url, wechat_templates=templates, quiet_hours="21:30-08:00") as running:
        w = await _world(*running)
        clock.freeze(datetime(2026, 11, 24, 22, 0, tzinfo=SHANGHAI))
        assert (await _patch(w, w.admin, w.a, {"quiet_hours": ""})).json()["quiet_hours"] == ""
        await _notify(w, w.chen, w.a, "activity:1:start")
        await _notify(w, w.wang, w.b, "activity:2:start")
        assert (await _job_for(w, w.chen)).run_at == clock.now()  # A: none
        assert (await _job_for(w, w.wang)).run_at == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)  # B: default
        response = await _patch(w, w.admin, w.a, {"quiet_hours": None})
        assert response.status_code == 200 and response.json()["quiet_hours"] is None
        await _notify(w, w.chen, w.a, "activity:3:start")
        assert (await _job_for(w, w.chen)).run_at == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
        # a PATCH without the field leaves the hours as they are
        await _patch(w, w.admin, w.a, {"quiet_hours": "22:00-07:00"})
        assert (await _patch(w, w.admin, w.a, {"address": "幸福路 1 号"})).json()["quiet_hours"] == "22:00-07:00"


@pytest.mark.parametrize("value", ["21:30", "25:00-08:00", "08:00-08:00", "晚上", "21:30-8:00"])
async def test_malformed_quiet_hours_are_refused_in_chinese_naming_the_field(client, db, value):
    root = await platform_admin(client, db)
    a = (await community(client, root, "A社区"))["id"]
    response = await client.patch(f"/api/v1/communities/{a}", json={"quiet_hours": value}, headers=root.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    text = str(error)
    assert "免打扰时段" in text and "HH:MM-HH:MM" in text
    assert [d["field"] for d in error["details"]] == ["quiet_hours"]
    assert (await client.get(f"/api/v1/communities/{a}", headers=root.headers)).json()["quiet_hours"] is None


async def test_only_admins_set_quiet_hours(client, db):
    root = await platform_admin(client, db)
    a = (await community(client, root, "A社区"))["id"]
    staff = await login(client, "staff")
    await grant(client, root, a, staff, "staff")
    response = await client.patch(
        f"/api/v1/communities/{a}", json={"quiet_hours": "21:00-07:00"}, headers=staff.headers
    )
    assert response.status_code == 403
    assert (await client.get(f"/api/v1/communities/{a}", headers=root.headers)).json()["quiet_hours"] is None
