"""Staff announcements: audiences reach exactly the intended people, listing, scheduling, read and
delivery counts, edits and withdrawal, fan-out in batches, and nobody outside the community."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from api import clock
from tests.factories import Person, add_child, community, grant, join, login, platform_admin, subscribe, team
from workers import jobs  # noqa: F401 - registers the handlers
from workers.registry import Registry, registry
from workers.runner import Worker

TEMPLATE = "demo-announcement"  # fake mode's template for announcements


def worker(app: Any, name: str = "w") -> Worker:
    only = Registry()
    only.handlers = dict(registry.handlers)
    return Worker(app.state.db, app.state.settings, app.state.wechat, handlers=only, name=name)


class B:
    """Community B: staff, and residents in three buildings; children of several ages."""

    async def build(self, client: Any, db: Any) -> B:
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        this_year = clock.now().year
        self.chen = await self._household(client, "chen", "1栋", "301", child_age=8, year=this_year)
        self.wang = await self._household(client, "wang", "1号楼", "702")  # building 1 written differently
        self.zhou = await self._household(client, "zhou", "2栋", "502", child_age=14, year=this_year)
        self.liu = await self._household(client, "liu", "3栋", "101")
        # chen's spouse waits for approval: not yet a resident of the household
        self.chen2 = await login(client, "chen2")
        await join(client, self.chen2, self.b, "1栋", "1单元", "301")
        self.team = await team(db, self.b, "公益志愿队", [self.liu, self.zhou], pending=(self.wang,))
        return self

    async def _household(
        self, client: Any, name: str, building: str, room: str, child_age: int | None = None, year: int = 0
    ) -> Person:
        person = await login(client, name)
        joined = await join(client, person, self.b, building, "1单元", room)
        if child_age is not None:
            await add_child(client, person, joined["household"]["id"], f"{name}-child", year - child_age)
        return person

    @property
    def residents(self) -> list[Person]:
        return [self.chen, self.wang, self.zhou, self.liu, self.chen2]


async def announce(client: Any, staff: Person, community_id: int, **fields: Any) -> dict[str, Any]:
    body = {"title": "通知", "body": "内容", **fields}
    response = await client.post(f"/api/v1/communities/{community_id}/announcements", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def listed(client: Any, person: Person, community_id: int, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/communities/{community_id}/announcements", params=params, headers=person.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def inbox_titles(client: Any, person: Person) -> list[str]:
    response = await client.get("/api/v1/me/inbox", headers=person.headers)
    return [e["title"] for e in response.json()["items"]]


@pytest.fixture
async def b(client, db) -> B:
    return await B().build(client, db)


async def test_each_audience_reaches_exactly_its_people(client, app, b):
    await announce(client, b.staff, b.b, title="全体", audience={"kind": "community"})
    await announce(client, b.staff, b.b, title="一栋停水", audience={"kind": "buildings", "buildings": ["1"]})
    await announce(client, b.staff, b.b, title="六到十岁", audience={"kind": "children", "min_age": 6, "max_age": 10})
    await announce(
        client, b.staff, b.b, title="十二岁以上", audience={"kind": "children", "min_age": 12, "max_age": 17}
    )
    await announce(client, b.staff, b.b, title="志愿队", audience={"kind": "team", "team_id": b.team})
    await worker(app).run_until_idle()

    expected = {
        "chen": {"全体", "一栋停水", "六到十岁"},
        "wang": {"全体", "一栋停水"},  # 1号楼 is building 1; a pending team member is not in the team
        "zhou": {"全体", "十二岁以上", "志愿队"},
        "liu": {"全体", "志愿队"},
        "chen2": set(),  # pending approval into chen's household
    }
    for person in b.residents:
        assert set(await inbox_titles(client, person)) == expected[person.name], person.name
        visible = {a["title"] for a in await listed(client, person, b.b)}
        # the listing follows the household as it is; a pending member sees only the community-wide one
        assert visible == (expected[person.name] or {"全体"}), person.name

    staff_view = {a["title"]: a["stats"]["recipients"] for a in await listed(client, b.staff, b.b)}
    assert staff_view == {"全体": 4, "一栋停水": 2, "六到十岁": 1, "十二岁以上": 1, "志愿队": 2}


async def test_a_household_that_moves_in_later_sees_earlier_notices_to_its_building(client, app, b):
    await announce(client, b.staff, b.b, title="一栋电梯检修", audience={"kind": "buildings", "buildings": ["1栋"]})
    await worker(app).run_until_idle()
    newcomer = await login(client, "newcomer")
    await join(client, newcomer, b.b, "1栋", "2单元", "1001")
    assert [a["title"] for a in await listed(client, newcomer, b.b)] == ["一栋电梯检修"]
    assert await inbox_titles(client, newcomer) == []  # the inbox went to the building as it was


async def test_nobody_sees_another_communitys_announcements(client, app, b):
    notice = await announce(client, b.staff, b.b, title="B社区内部通知")
    await worker(app).run_until_idle()
    c = (await community(client, b.root, "C社区"))["id"]
    outsider = await login(client, "outsider")
    await join(client, outsider, c, "1栋", "1单元", "301")  # same address, other community
    c_staff = await login(client, "c-staff")
    await grant(client, b.root, c, c_staff, "staff")

    for person in (outsider, c_staff):
        refused = await client.get(f"/api/v1/communities/{b.b}/announcements", headers=person.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_a_member"
        hidden = await client.get(f"/api/v1/announcements/{notice['id']}", headers=person.headers)
        assert hidden.status_code == 404
        assert "B社区内部通知" not in hidden.text
        assert (
            await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=person.headers)
        ).status_code == 404
    assert await inbox_titles(client, outsider) == []
    assert await listed(client, outsider, c) == []
    edit = await client.patch(f"/api/v1/announcements/{notice['id']}", json={"title": "改"}, headers=c_staff.headers)
    assert edit.status_code == 403


async def test_residents_see_pinned_first_and_scheduled_ones_only_when_due(client, app, b):
    await announce(client, b.staff, b.b, title="旧通知")
    clock.advance(timedelta(minutes=1))
    await announce(client, b.staff, b.b, title="欢迎", pinned=True)
    clock.advance(timedelta(minutes=1))
    await announce(client, b.staff, b.b, title="新通知")
    later = (clock.now() + timedelta(hours=2)).isoformat()
    scheduled = await announce(client, b.staff, b.b, title="周六活动预告", publish_at=later)
    assert (scheduled["status"], scheduled["published_at"]) == ("scheduled", None)
    await worker(app).run_until_idle()

    assert [a["title"] for a in await listed(client, b.chen, b.b)] == ["欢迎", "新通知", "旧通知"]
    hidden = await client.get(f"/api/v1/announcements/{scheduled['id']}", headers=b.chen.headers)
    assert hidden.status_code == 404
    assert [a["title"] for a in await listed(client, b.staff, b.b, status="scheduled")] == ["周六活动预告"]

    clock.advance(timedelta(hours=2))
    assert "周六活动预告" not in await inbox_titles(client, b.chen)  # the fan-out has not run yet
    await worker(app).run_until_idle()
    inbox = await inbox_titles(client, b.chen)
    assert inbox[0] == "周六活动预告" and sorted(inbox[1:]) == sorted(["新通知", "欢迎", "旧通知"])

    titles, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"/api/v1/communities/{b.b}/announcements", params=params, headers=b.chen.headers)
        ).json()
        titles += [a["title"] for a in page["items"]]
        assert all(a["body"] is None and a["excerpt"] for a in page["items"])  # lists stay small
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert titles == ["欢迎", "周六活动预告", "新通知", "旧通知"]


async def test_staff_see_read_counts_and_pushes_per_channel(client, app, b):
    await subscribe(client, b.chen, TEMPLATE)
    await subscribe(client, b.wang, TEMPLATE)
    notice = await announce(client, b.staff, b.b, title="社区书屋开放时间调整", body="周一闭馆。" * 30)
    await worker(app).run_until_idle()

    opened = await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.chen.headers)
    assert opened.status_code == 200
    assert opened.json()["read"] is True and opened.json()["body"] == "周一闭馆。" * 30
    await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.chen.headers)  # twice: once
    assert (await client.get("/api/v1/me/inbox", headers=b.chen.headers)).json()["unread_count"] == 0
    (entry,) = (await client.get("/api/v1/me/inbox", headers=b.zhou.headers)).json()["items"]
    assert entry["page"] == f"pages/announcements/detail?id={notice['id']}"
    await client.post(f"/api/v1/me/inbox/{entry['id']}/read", headers=b.zhou.headers)  # read from the inbox
    await client.post(f"/api/v1/announcements/{notice['id']}/read", headers=b.staff.headers)  # a preview

    detail = (await client.get(f"/api/v1/announcements/{notice['id']}", headers=b.staff.headers)).json()
    stats = detail["stats"]
    assert (stats["recipients"], stats["inbox"], stats["read"]) == (4, 4, 2)
    assert stats["wechat"]["sent"] == 2 and sum(stats["wechat"].values()) == 2
    resident_view = (await client.get(f"/api/v1/announcements/{notice['id']}", headers=b.zhou.headers)).json()
    assert resident_view["read"] is True and resident_view["view"] == "resident"
    assert "stats" not in resident_view and "audience" not in resident_view  # the staff's alone

    sent = (
        await client.get(
            f"/api/v1/communities/{b.b}/deliveries",
            params={"cause": f"announcement:{notice['id']}"},
            headers=b.staff.headers,
        )
    ).json()["items"]
    assert sorted(d["recipient"]["display_name"] for d in sent) == ["chen", "wang"]
    data = sent[0]["request"]["data"]
    assert data["thing1"]["value"] == "社区书屋开放时间调整" and data["thing2"]["value"] == "B社区"


async def test_edits_after_publishing_are_recorded_and_withdrawing_hides_everything(database_url):
    from tests.conftest import real_wechat_app

    async with real_wechat_app(
        database_url, wechat_templates={"announcement": {"template_id": "tmpl-notice"}}, quiet_hours="21:30-08:00"
    ) as (client, fake, app):
        from datetime import datetime
        from zoneinfo import ZoneInfo

        clock.freeze(datetime(2026, 11, 24, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
        b = await B().build(client, app.state.db)
        await subscribe(client, b.chen, "tmpl-notice")
        notice = await announce(client, b.staff, b.b, title="停水通知", body="明天停水")
        clock.advance(timedelta(minutes=45))  # 21:45: the pushes wait for the morning
        await worker(app).run_until_idle()
        assert fake.sent == []

        edited = await client.patch(
            f"/api/v1/announcements/{notice['id']}", json={"body": "明天 9:00–12:00 停水"}, headers=b.staff.headers
        )
        assert edited.status_code == 200
        assert [(r["title"], r["body"]) for r in edited.json()["revisions"]] == [("停水通知", "明天停水")]
        assert edited.json()["edited_at"] is not None
        moved = await client.patch(
            f"/api/v1/announcements/{notice['id']}",
            json={"audience": {"kind": "buildings", "buildings": ["2"]}},
            headers=b.staff.headers,
        )
        assert moved.status_code == 409
        assert moved.json()["error"]["code"] == "announcement_published"
        seen = (await client.get(f"/api/v1/announcements/{notice['id']}", headers=b.chen.headers)).json()
        assert seen["body"] == "明天 9:00–12:00 停水" and seen["edited_at"] is not None

        withdrawn = await client.post(f"/api/v1/announcements/{notice['id']}/withdraw", headers=b.staff.headers)
        assert withdrawn.json()["status"] == "withdrawn"
        assert withdrawn.json()["stats"]["wechat"]["cancelled"] == 1
        assert await listed(client, b.chen, b.b) == []
        assert (await client.get(f"/api/v1/announcements/{notice['id']}", headers=b.chen.headers)).status_code == 404
        assert await inbox_titles(client, b.chen) == []
        assert [a["status"] for a in await listed(client, b.staff, b.b, status="withdrawn")] == ["withdrawn"]
        again = await client.patch(
            f"/api/v1/announcements/{notice['id']}", json={"title": "x"}, headers=b.staff.headers
        )
        assert again.status_code == 409

        clock.advance(timedelta(hours=12))  # morning: nothing goes out for a withdrawn notice
        await worker(app).run_until_idle()
        assert fake.sent == []


async def test_a_scheduled_announcement_can_change_everything_before_it_goes_out(client, app, b):
    at = clock.now() + timedelta(hours=1)
    notice = await announce(client, b.staff, b.b, title="预告", publish_at=at.isoformat())
    changed = await client.patch(
        f"/api/v1/announcements/{notice['id']}",
        json={
            "audience": {"kind": "buildings", "buildings": ["3栋"]},
            "publish_at": (at + timedelta(hours=1)).isoformat(),
        },
        headers=b.staff.headers,
    )
    assert changed.status_code == 200 and changed.json()["revisions"] == []
    clock.advance(timedelta(hours=1))
    await worker(app).run_until_idle()
    assert await inbox_titles(client, b.liu) == []
    clock.advance(timedelta(hours=1))
    await worker(app).run_until_idle()
    assert await inbox_titles(client, b.liu) == ["预告"]
    assert await inbox_titles(client, b.chen) == []


async def test_fan_out_runs_in_batches_again_without_repeats_and_stops_when_withdrawn(client, app, b):
    from api.services.notifications import announcements

    await subscribe(client, b.chen, TEMPLATE)
    db = app.state.db
    notice = await announce(client, b.staff, b.b, title="全体通知")

    async def recipients() -> int:
        view = (await client.get(f"/api/v1/announcements/{notice['id']}", headers=b.staff.headers)).json()
        return int(view["stats"]["recipients"])

    assert await announcements.fan_out(db, notice["id"], batch_size=3) == 2  # 4 residents: 3 + 1
    assert await recipients() == 4
    # a worker that died after its batches committed runs the job again: nobody is notified twice
    assert await announcements.fan_out(db, notice["id"], batch_size=3) == 2
    await worker(app).run_until_idle()
    assert await recipients() == 4
    pushes = (await client.get(f"/api/v1/communities/{b.b}/deliveries", headers=b.staff.headers)).json()["items"]
    assert [(d["recipient"]["display_name"], d["status"]) for d in pushes] == [("chen", "sent")]

    second = await announce(client, b.staff, b.b, title="第二条")
    async with db.session() as session:  # the first batch of two, then the staff withdraw it
        assert await announcements.fan_out_batch(session, second["id"], 0, 2) is not None
        await session.commit()
    await client.post(f"/api/v1/announcements/{second['id']}/withdraw", headers=b.staff.headers)
    assert await announcements.fan_out(db, second["id"], batch_size=2) == 0
    for person in b.residents:
        assert "第二条" not in await inbox_titles(client, person)


async def test_only_staff_write_and_audiences_are_checked(client, app, b):
    path = f"/api/v1/communities/{b.b}/announcements"
    as_resident = await client.post(path, json={"title": "t", "body": "b"}, headers=b.chen.headers)
    assert as_resident.status_code == 403 and as_resident.json()["error"]["code"] == "staff_only"
    cases = [
        ({"kind": "children", "min_age": 10, "max_age": 6}, 422, "validation_error"),
        ({"kind": "buildings", "buildings": []}, 422, "validation_error"),
        ({"kind": "buildings", "buildings": ["  "]}, 422, "validation_error"),
        ({"kind": "street"}, 422, "validation_error"),
    ]
    c = (await community(client, b.root, "C社区"))["id"]
    elsewhere = await team(app.state.db, c, "C队", [])
    cases.append(({"kind": "team", "team_id": elsewhere}, 422, "team_not_found"))
    for audience, status, code in cases:
        response = await client.post(
            path, json={"title": "t", "body": "b", "audience": audience}, headers=b.staff.headers
        )
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), audience
    # a date picker's local time: 09:00 where the community is (Shanghai, UTC+8), the day after
    # tomorrow (a fixed date would be in the past one day: published at once, not at 09:00)
    day = (clock.now() + timedelta(days=2)).astimezone(timezone(timedelta(hours=8))).date()
    naive = await client.post(
        path, json={"title": "t", "body": "b", "publish_at": f"{day}T09:00:00"}, headers=b.staff.headers
    )
    assert naive.status_code == 201 and naive.json()["publish_at"] == f"{day}T09:00:00+08:00"
    await client.post(f"/api/v1/announcements/{naive.json()['id']}/withdraw", headers=b.staff.headers)
    blank = await client.post(path, json={"title": "   ", "body": "b"}, headers=b.staff.headers)
    assert blank.status_code == 422
    # nothing half-written: only the notice read in local time is there (withdrawn)
    assert [a["status"] for a in await listed(client, b.staff, b.b)] == ["withdrawn"]


async def test_paging_is_exact_when_announcements_share_a_publish_time(client, app, b):
    clock.freeze(clock.now())
    for n in range(5):
        await announce(client, b.staff, b.b, title=f"同时发布{n}", pinned=n == 2)
    titles, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"/api/v1/communities/{b.b}/announcements", params=params, headers=b.chen.headers)
        ).json()
        titles += [a["title"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert titles == ["同时发布2", "同时发布4", "同时发布3", "同时发布1", "同时发布0"]
    bad = await client.get(
        f"/api/v1/communities/{b.b}/announcements", params={"cursor": "WzEsIngiLDFd"}, headers=b.chen.headers
    )
    assert bad.status_code == 400  # [1, "x", 1]


@pytest.mark.postgres
async def test_a_withdrawal_waits_for_the_batch_in_flight_and_retracts_it(client, app, b, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has one writer: the withdrawal cannot overlap a batch")
    import asyncio

    from api.services.notifications import announcements

    notice = await announce(client, b.staff, b.b, title="停电通知")
    async with app.state.db.session() as batch:  # a fan-out batch, not yet committed
        assert await announcements.fan_out_batch(batch, notice["id"], 0, 500) is not None
        withdrawing = asyncio.create_task(
            client.post(f"/api/v1/announcements/{notice['id']}/withdraw", headers=b.staff.headers)
        )
        await asyncio.sleep(0.3)
        assert not withdrawing.done()  # it waits for the batch's FOR SHARE lock
        await batch.commit()
    assert (await withdrawing).status_code == 200
    for person in b.residents:
        assert "停电通知" not in await inbox_titles(client, person)
