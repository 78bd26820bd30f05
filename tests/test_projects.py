"""Service projects (服务项目) through the API: creating and editing them, the communities they
cover, their targets per community (each community's staff see only their own), tagging
activities and shifts with a project and a service type, members' optional gender, and activity
summaries (活动总结) for the record book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from api.services.reports.labels import SERVICE_TYPE_LABELS
from api.services.reports.projects import TARGETABLE, periods
from tests.conftest import make_settings
from tests.factories import Person, activity, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)  # the tests move the clock on days


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(days: float = 0, hours: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours)).isoformat()


PROJECT = {
    "name": "B社区儿童友好空间运营项目",
    "funder": "某街道办事处",
    "starts_on": "2026-09-01",
    "ends_on": "2027-08-31",
    "grain": "month",
    "description": "政府购买社会工作服务",
}


class W:
    """Communities A and B (one project may cover both) and C; staff of A, of B, of both, of C; a
    resident of A."""

    async def build(self, client: Any, db: Any) -> W:
        self.client = client
        self.root = await platform_admin(client, db)
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.b = (await community(client, self.root, "B社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff_a = await login(client, "社工甲")
        self.staff_b = await login(client, "社工乙")
        self.staff_ab = await login(client, "督导丙")
        self.staff_c = await login(client, "社工丁")
        await grant(client, self.root, self.a, self.staff_a, "staff")
        await grant(client, self.root, self.b, self.staff_b, "staff")
        await grant(client, self.root, self.a, self.staff_ab, "admin")
        await grant(client, self.root, self.b, self.staff_ab, "staff")
        await grant(client, self.root, self.c, self.staff_c, "staff")
        named = await client.patch("/api/v1/me", json={"display_name": "社工甲"}, headers=self.staff_a.headers)
        assert named.status_code == 200, named.text
        self.chen = await login(client, "chen")
        self.chen_home = (await join(client, self.chen, self.a))["household"]["id"]
        return self

    async def project(self, person: Person | None = None, community_id: int | None = None, **fields: Any) -> Any:
        response = await self.client.post(
            f"/api/v1/communities/{community_id or self.a}/projects",
            json={**PROJECT, **fields},
            headers=(person or self.staff_ab).headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def targets(self, person: Person, project_id: int, community_id: int, rows: list[Any]) -> Any:
        return await self.client.put(
            f"/api/v1/projects/{project_id}/communities/{community_id}/targets",
            json={"targets": rows},
            headers=person.headers,
        )


@pytest.fixture
async def w(client, db) -> W:
    return await W().build(client, db)


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# -- projects ----------------------------------------------------------------------------------------


async def test_a_project_covering_two_communities_is_seen_by_their_staff_only(w, client):
    made = await w.project(community_ids=[w.b, w.a])  # the path's community is always covered, once
    assert made["name"] == PROJECT["name"] and made["funder"] == "某街道办事处"
    assert made["starts_on"] == "2026-09-01" and made["ends_on"] == "2027-08-31" and made["grain"] == "month"
    assert [c["id"] for c in made["communities"]] == [w.a, w.b]
    assert [c["name"] for c in made["communities"]] == ["A社区", "B社区"]
    assert made["created_at"].endswith("+08:00")
    pid = made["id"]

    for person, cid in ((w.staff_a, w.a), (w.staff_b, w.b), (w.staff_ab, w.b)):
        listed = await client.get(f"/api/v1/communities/{cid}/projects", headers=person.headers)
        assert listed.status_code == 200 and [p["id"] for p in listed.json()] == [pid], listed.text
        one = await client.get(f"/api/v1/projects/{pid}", headers=person.headers)
        assert one.status_code == 200 and one.json()["id"] == pid
    # C's staff: nothing covers C, and the project does not exist for them
    listed = await client.get(f"/api/v1/communities/{w.c}/projects", headers=w.staff_c.headers)
    assert listed.status_code == 200 and listed.json() == []
    hidden = await client.get(f"/api/v1/projects/{pid}", headers=w.staff_c.headers)
    assert hidden.status_code == 404 and code(hidden) == "project_not_found"
    # another community's staff asking about A's projects are refused as for any staff page
    assert (await client.get(f"/api/v1/communities/{w.a}/projects", headers=w.staff_c.headers)).status_code == 403
    # a resident of a covered community sees no project
    resident = await client.get(f"/api/v1/communities/{w.a}/projects", headers=w.chen.headers)
    assert resident.status_code == 403 and code(resident) == "staff_only"
    assert (await client.get(f"/api/v1/projects/{pid}", headers=w.chen.headers)).status_code == 404
    missing = await client.get("/api/v1/projects/999999", headers=w.root.headers)
    assert missing.status_code == 404 and code(missing) == "project_not_found"
    # a platform admin sees every project
    assert (await client.get(f"/api/v1/projects/{pid}", headers=w.root.headers)).status_code == 200


async def test_only_staff_of_every_listed_community_create_a_project(w, client):
    url = f"/api/v1/communities/{w.a}/projects"
    refused = await client.post(url, json={**PROJECT, "community_ids": [w.b]}, headers=w.staff_a.headers)
    assert refused.status_code == 403 and code(refused) == "staff_only"
    resident = await client.post(url, json=PROJECT, headers=w.chen.headers)
    assert resident.status_code == 403
    nowhere = await client.post(url, json={**PROJECT, "community_ids": [999999]}, headers=w.staff_ab.headers)
    assert nowhere.status_code == 404 and code(nowhere) == "community_not_found"
    # nothing was made by the refusals
    assert (await client.get(url, headers=w.staff_a.headers)).json() == []
    mine = await client.post(url, json=PROJECT, headers=w.staff_a.headers)
    assert mine.status_code == 201 and [c["id"] for c in mine.json()["communities"]] == [w.a]
    admin = await client.post(
        f"/api/v1/communities/{w.c}/projects", json={**PROJECT, "community_ids": [w.a]}, headers=w.root.headers
    )
    assert admin.status_code == 201 and [c["id"] for c in admin.json()["communities"]] == [w.c, w.a]


async def test_a_project_is_checked(w, client):
    url = f"/api/v1/communities/{w.a}/projects"

    async def refused(body: dict[str, Any]) -> Any:
        response = await client.post(url, json=body, headers=w.staff_a.headers)
        assert response.status_code == 422, response.text
        return response.json()["error"]

    backwards = await refused({**PROJECT, "starts_on": "2027-01-01", "ends_on": "2026-12-31"})
    assert backwards["code"] == "period_invalid" and "结束日期不能早于开始日期" in backwards["message"]
    too_long = await refused({**PROJECT, "starts_on": "2026-01-01", "ends_on": "2033-01-01"})
    assert too_long["code"] == "period_invalid" and "六年" in too_long["message"]
    assert (await refused({**PROJECT, "name": "  "}))["code"] == "validation_error"
    assert (await refused({**PROJECT, "funder": ""}))["code"] == "validation_error"
    assert (await refused({**PROJECT, "grain": "week"}))["code"] == "validation_error"
    assert (await refused({**PROJECT, "budget": 100}))["code"] == "unknown_field"
    assert (await refused({k: v for k, v in PROJECT.items() if k != "ends_on"}))["code"] == "validation_error"
    assert (await client.get(url, headers=w.staff_a.headers)).json() == []


async def test_staff_of_a_covered_community_edit_the_project(w, client):
    pid = (await w.project(community_ids=[w.b]))["id"]
    url = f"/api/v1/projects/{pid}"
    changed = await client.patch(
        url,
        json={"name": "儿童友好空间项目（二期）", "funder": "区民政局", "description": ""},
        headers=w.staff_b.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "儿童友好空间项目（二期）" and body["funder"] == "区民政局" and body["description"] == ""
    assert body["starts_on"] == "2026-09-01" and body["grain"] == "month"  # left as they were
    hidden = await client.patch(url, json={"name": "别人的"}, headers=w.staff_c.headers)
    assert hidden.status_code == 404 and code(hidden) == "project_not_found"
    backwards = await client.patch(url, json={"ends_on": "2026-08-01"}, headers=w.staff_a.headers)
    assert backwards.status_code == 422 and code(backwards) == "period_invalid"

    # a month's target would be left out by quarters: refused until it is cleared
    assert (
        await w.targets(w.staff_b, pid, w.b, [{"indicator": "loans", "period": "2026-10", "value": 50}])
    ).status_code == 200
    quarters = await client.patch(url, json={"grain": "quarter"}, headers=w.staff_a.headers)
    assert quarters.status_code == 409 and code(quarters) == "targets_outside_period"
    assert quarters.json()["error"]["details"] == {"targets": 1}
    shorter = await client.patch(url, json={"starts_on": "2026-11-01"}, headers=w.staff_a.headers)
    assert shorter.status_code == 409 and code(shorter) == "targets_outside_period"
    longer = await client.patch(url, json={"ends_on": "2027-12-31"}, headers=w.staff_a.headers)
    assert longer.status_code == 200 and longer.json()["ends_on"] == "2027-12-31"  # the target still fits
    assert (
        await w.targets(w.staff_b, pid, w.b, [{"indicator": "loans", "period": "total", "value": 600}])
    ).status_code == 200
    quarters = await client.patch(url, json={"grain": "quarter"}, headers=w.staff_a.headers)
    assert quarters.status_code == 200 and quarters.json()["grain"] == "quarter"
    got = (await client.get(f"{url}/communities/{w.b}/targets", headers=w.staff_b.headers)).json()
    assert got["periods"][:3] == ["total", "2026-Q3", "2026-Q4"] and got["periods"][-1] == "2027-Q4"
    assert [(t["indicator"], t["period"], t["value"]) for t in got["targets"]] == [("loans", "total", 600)]


async def test_covered_communities_are_added_and_removed_by_staff_of_both(w, client):
    pid = (await w.project(w.staff_a))["id"]
    url = f"/api/v1/projects/{pid}/communities"
    not_theirs = await client.put(f"{url}/{w.b}", headers=w.staff_a.headers)  # not staff of B
    assert not_theirs.status_code == 403 and code(not_theirs) == "staff_only"
    outsider = await client.put(f"{url}/{w.c}", headers=w.staff_c.headers)  # does not see the project
    assert outsider.status_code == 404 and code(outsider) == "project_not_found"
    added = await client.put(f"{url}/{w.b}", headers=w.staff_ab.headers)
    assert added.status_code == 200 and [c["id"] for c in added.json()["communities"]] == [w.a, w.b]
    again = await client.put(f"{url}/{w.b}", headers=w.staff_ab.headers)
    assert again.status_code == 200 and [c["id"] for c in again.json()["communities"]] == [w.a, w.b]
    # B's staff now see it, and set B's targets
    assert (await client.get(f"/api/v1/projects/{pid}", headers=w.staff_b.headers)).status_code == 200
    set_b = await w.targets(w.staff_b, pid, w.b, [{"indicator": "loans", "period": "total", "value": 100}])
    assert set_b.status_code == 200

    # B's activities tagged with the project keep B in it
    tagged = await activity(client, w.staff_b, w.b, project_id=pid, service_type="group")
    in_use = await client.delete(f"{url}/{w.b}", headers=w.staff_ab.headers)
    assert in_use.status_code == 409 and code(in_use) == "project_in_use"
    assert in_use.json()["error"]["details"] == {"activities": 1, "shifts": 0}
    untag = await client.patch(
        f"/api/v1/activities/{tagged['id']}", json={"project_id": None}, headers=w.staff_b.headers
    )
    assert untag.status_code == 200 and untag.json()["project_id"] is None

    only_a = await client.delete(f"{url}/{w.b}", headers=w.staff_a.headers)  # A's staff alone may not
    assert only_a.status_code == 403
    removed = await client.delete(f"{url}/{w.b}", headers=w.staff_ab.headers)
    assert removed.status_code == 200 and [c["id"] for c in removed.json()["communities"]] == [w.a]
    assert (await client.get(f"/api/v1/projects/{pid}", headers=w.staff_b.headers)).status_code == 404
    last = await client.delete(f"{url}/{w.a}", headers=w.staff_a.headers)
    assert last.status_code == 409 and code(last) == "project_last_community"
    # B's targets went with it: covering B again starts from none
    await client.put(f"{url}/{w.b}", headers=w.staff_ab.headers)
    again_b = await client.get(f"/api/v1/projects/{pid}/communities/{w.b}/targets", headers=w.staff_b.headers)
    assert again_b.status_code == 200 and again_b.json()["targets"] == []


# -- targets -----------------------------------------------------------------------------------------


async def test_targets_are_set_per_community_and_seen_by_its_staff_only(w, client):
    pid = (await w.project(community_ids=[w.b]))["id"]
    url_a = f"/api/v1/projects/{pid}/communities/{w.a}/targets"
    url_b = f"/api/v1/projects/{pid}/communities/{w.b}/targets"

    empty = await client.get(url_a, headers=w.staff_a.headers)
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["targets"] == [] and body["grain"] == "month" and body["community_id"] == w.a
    assert body["periods"] == [
        "total",
        *[f"2026-{m:02d}" for m in (9, 10, 11, 12)],
        *[f"2027-{m:02d}" for m in range(1, 9)],
    ]
    assert [i["key"] for i in body["indicators"]] == list(TARGETABLE)
    assert {i["key"]: i["name"] for i in body["indicators"]}["service_visits"] == "服务人次"

    rows = [
        {"indicator": "service_visits", "period": "total", "value": 2400},
        {"indicator": "service_visits", "period": "2026-09", "value": 200},
        {"indicator": "activities_held", "period": "2026-10", "value": 12},
        {"indicator": "volunteer_hours", "period": "total", "value": 1500.5},
        {"indicator": "loans", "period": "total", "value": None},  # blank: no target
    ]
    saved = await w.targets(w.staff_a, pid, w.a, rows)
    assert saved.status_code == 200, saved.text
    assert [(t["indicator"], t["period"], t["value"]) for t in saved.json()["targets"]] == [
        ("activities_held", "2026-10", 12),
        ("service_visits", "total", 2400),
        ("service_visits", "2026-09", 200),
        ("volunteer_hours", "total", 1500.5),
    ]
    assert all(t["updated_at"].endswith("+08:00") for t in saved.json()["targets"])

    # B's staff never see or change A's targets; C's staff do not see the project at all
    before = (await client.get(url_a, headers=w.staff_a.headers)).json()["targets"]
    for person, refusal in ((w.staff_b, (403, "staff_only")), (w.chen, (404, "project_not_found"))):
        read = await client.get(url_a, headers=person.headers)
        assert (read.status_code, code(read)) == refusal
        wiped = await w.targets(person, pid, w.a, [])
        assert (wiped.status_code, code(wiped)) == refusal
    assert (await client.get(url_a, headers=w.staff_a.headers)).json()["targets"] == before  # nothing wiped
    refused = await client.get(url_a, headers=w.staff_b.headers)
    assert refused.status_code == 403 and code(refused) == "staff_only"
    assert code(await client.get(url_a, headers=w.chen.headers)) == "project_not_found"
    outsider = await client.get(url_a, headers=w.staff_c.headers)
    assert outsider.status_code == 404 and code(outsider) == "project_not_found"
    not_covered = await client.get(f"/api/v1/projects/{pid}/communities/{w.c}/targets", headers=w.staff_ab.headers)
    assert (not_covered.status_code, code(not_covered)) == (403, "staff_only")  # not staff of C
    c_staff = await client.get(f"/api/v1/projects/{pid}/communities/{w.c}/targets", headers=w.root.headers)
    assert c_staff.status_code == 404 and code(c_staff) == "project_not_found"  # C is not covered

    # B's own targets are B's
    assert (await client.get(url_b, headers=w.staff_b.headers)).json()["targets"] == []
    b_rows = [{"indicator": "service_visits", "period": "total", "value": 1000}]
    assert (await w.targets(w.staff_b, pid, w.b, b_rows)).status_code == 200
    a_again = (await client.get(url_a, headers=w.staff_ab.headers)).json()["targets"]
    assert [(t["indicator"], t["period"], t["value"]) for t in a_again][1] == ("service_visits", "total", 2400)

    # replacing: what is not listed goes, a changed value is changed
    replaced = await w.targets(w.staff_a, pid, w.a, [{"indicator": "service_visits", "period": "total", "value": 2500}])
    assert [(t["indicator"], t["period"], t["value"]) for t in replaced.json()["targets"]] == [
        ("service_visits", "total", 2500)
    ]
    b_after = (await client.get(url_b, headers=w.staff_b.headers)).json()["targets"]
    assert [(t["period"], t["value"]) for t in b_after] == [("total", 1000)]
    cleared = await w.targets(w.staff_a, pid, w.a, [])
    assert cleared.status_code == 200 and cleared.json()["targets"] == []


async def test_targets_are_checked(w, client):
    pid = (await w.project(w.staff_a))["id"]
    quarterly = (await w.project(w.staff_a, grain="quarter", starts_on="2026-08-15", ends_on="2027-02-10"))["id"]

    async def refused(project_id: int, rows: list[Any]) -> Any:
        response = await w.targets(w.staff_a, project_id, w.a, rows)
        assert response.status_code == 422, response.text
        return response.json()["error"]

    unknown = await refused(pid, [{"indicator": "smiles", "period": "total", "value": 1}])
    assert unknown["code"] == "indicator_unknown" and unknown["details"]["indicator"] == "smiles"
    outside = await refused(pid, [{"indicator": "loans", "period": "2027-09", "value": 1}])
    assert outside["code"] == "target_period_invalid" and "2027-09" in outside["message"]
    wrong_grain = await refused(pid, [{"indicator": "loans", "period": "2026-Q4", "value": 1}])
    assert wrong_grain["code"] == "target_period_invalid" and "按月" in wrong_grain["message"]
    months = await refused(quarterly, [{"indicator": "loans", "period": "2026-10", "value": 1}])
    assert months["code"] == "target_period_invalid" and "按季度" in months["message"]
    twice = [
        {"indicator": "loans", "period": "total", "value": 1},
        {"indicator": "loans", "period": "total", "value": 2},
    ]
    assert (await refused(pid, twice))["code"] == "target_duplicate"
    for bad in (
        {"indicator": "loans", "period": "total", "value": -1},
        {"indicator": "loans", "period": "2026-13", "value": 1},
        {"indicator": "loans", "period": "total", "value": "12"},
        {"indicator": "loans", "period": "total", "value": True},
        {"indicator": "loans", "period": "total", "value": 1, "note": "x"},
        {"indicator": "Loans!", "period": "total", "value": 1},
    ):
        assert (await refused(pid, [bad]))["code"] in ("validation_error", "unknown_field"), bad
    # the quarters of a contract from mid-August to mid-February
    ok = await w.targets(w.staff_a, quarterly, w.a, [{"indicator": "loans", "period": "2027-Q1", "value": 30}])
    assert ok.status_code == 200 and ok.json()["periods"] == ["total", "2026-Q3", "2026-Q4", "2027-Q1"]
    # nothing of the refusals was kept
    got = await client.get(f"/api/v1/projects/{pid}/communities/{w.a}/targets", headers=w.staff_a.headers)
    assert got.json()["targets"] == []


def test_periods_of_a_contract():
    from datetime import date

    assert periods(date(2026, 11, 20), date(2027, 2, 1), "month") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert periods(date(2026, 12, 31), date(2027, 1, 1), "quarter") == ["2026-Q4", "2027-Q1"]
    assert periods(date(2026, 4, 1), date(2026, 6, 30), "quarter") == ["2026-Q2"]
    assert list(SERVICE_TYPE_LABELS.values()) == [
        "社区活动",
        "小组活动",
        "个案",
        "志愿服务",
        "议事协商",
        "培训",
        "其他",
    ]


# -- tagging -----------------------------------------------------------------------------------------


async def test_activities_carry_a_project_and_a_service_type(w, client):
    pid = (await w.project(community_ids=[w.b]))["id"]
    only_b = (await w.project(w.staff_b, w.b, name="B社区为老服务项目"))["id"]
    made = await activity(client, w.staff_a, w.a, publish=False, project_id=pid, service_type="group")
    assert made["project_id"] == pid and made["service_type"] == "group"
    published = await client.post(f"/api/v1/activities/{made['id']}/publish", headers=w.staff_a.headers)
    assert published.json()["project_id"] == pid
    # residents see the activity, not what reports count it under
    seen = (await client.get(f"/api/v1/activities/{made['id']}", headers=w.chen.headers)).json()
    assert seen["project_id"] is None and seen["service_type"] is None

    url = f"/api/v1/communities/{w.a}/activities"
    body = {
        "title": "长者茶话会",
        "category": "elders",
        "location": "活动室",
        "start_at": at(2),
        "end_at": at(2, 2),
        "capacity": 20,
    }
    foreign = await client.post(url, json={**body, "project_id": only_b}, headers=w.staff_a.headers)
    assert foreign.status_code == 422 and code(foreign) == "project_not_covering"
    missing = await client.post(url, json={**body, "project_id": 999999}, headers=w.staff_a.headers)
    assert missing.status_code == 422 and code(missing) == "project_not_covering"
    bad_type = await client.post(url, json={**body, "service_type": "party"}, headers=w.staff_a.headers)
    assert bad_type.status_code == 422 and code(bad_type) == "validation_error"
    untagged = await client.post(url, json=body, headers=w.staff_a.headers)
    assert untagged.status_code == 201 and untagged.json()["project_id"] is None

    item = f"/api/v1/activities/{made['id']}"
    moved = await client.patch(item, json={"project_id": only_b}, headers=w.staff_a.headers)
    assert moved.status_code == 422 and code(moved) == "project_not_covering"
    retyped = await client.patch(item, json={"service_type": "training"}, headers=w.staff_a.headers)
    assert retyped.status_code == 200 and retyped.json()["service_type"] == "training"
    assert retyped.json()["project_id"] == pid  # left as it was
    # after it has ended, only what reports count it under may change
    clock.freeze(NOW + timedelta(days=3))
    late = await client.patch(item, json={"title": "改名"}, headers=w.staff_a.headers)
    assert late.status_code == 409 and code(late) == "activity_finished"
    cleared = await client.patch(
        item, json={"project_id": None, "service_type": "community"}, headers=w.staff_a.headers
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["project_id"] is None and cleared.json()["service_type"] == "community"


async def test_shifts_carry_a_project_and_a_service_type(w, client):
    pid = (await w.project(community_ids=[w.b]))["id"]
    only_b = (await w.project(w.staff_b, w.b, name="B社区为老服务项目"))["id"]
    url = f"/api/v1/communities/{w.a}/shifts"
    body = {"role": "开馆值班", "place": "复合空间", "start_at": at(2), "end_at": at(2, 4), "needed": 2}
    made = await client.post(
        url, json={**body, "project_id": pid, "service_type": "volunteering"}, headers=w.staff_a.headers
    )
    assert made.status_code == 201, made.text
    shift = made.json()
    assert shift["project_id"] == pid and shift["service_type"] == "volunteering"
    listed = await client.get(url, headers=w.staff_a.headers)
    assert [(s["id"], s["project_id"], s["service_type"]) for s in listed.json()["items"]] == [
        (shift["id"], pid, "volunteering")
    ]
    foreign = await client.post(url, json={**body, "project_id": only_b}, headers=w.staff_a.headers)
    assert foreign.status_code == 422 and code(foreign) == "project_not_covering"

    item = f"/api/v1/shifts/{shift['id']}"
    moved = await client.patch(item, json={"project_id": only_b}, headers=w.staff_a.headers)
    assert moved.status_code == 422 and code(moved) == "project_not_covering"
    by_resident = await client.patch(item, json={"service_type": "other"}, headers=w.chen.headers)
    assert by_resident.status_code == 403
    clock.freeze(NOW + timedelta(days=5))  # after it ended too
    retagged = await client.patch(item, json={"service_type": "training"}, headers=w.staff_a.headers)
    assert retagged.status_code == 200 and retagged.json()["service_type"] == "training"
    assert retagged.json()["project_id"] == pid
    cleared = await client.patch(item, json={"project_id": None}, headers=w.staff_a.headers)
    assert cleared.status_code == 200 and cleared.json()["project_id"] is None
    assert cleared.json()["service_type"] == "training"


# -- members' gender ---------------------------------------------------------------------------------


async def test_members_may_have_a_gender(w, client):
    registered = await client.post(
        f"/api/v1/communities/{w.a}/households",
        json={
            "building": "3栋",
            "room": "501",
            "members": [
                {"display_name": "王奶奶", "kind": "elder", "gender": "female"},
                {"display_name": "王爷爷", "kind": "elder"},
            ],
        },
        headers=w.staff_a.headers,
    )
    assert registered.status_code == 201, registered.text
    members = registered.json()["members"]
    assert [(m["display_name"], m["gender"]) for m in members] == [("王奶奶", "female"), ("王爷爷", None)]

    added = await client.post(
        f"/api/v1/households/{w.chen_home}/members",
        json={"display_name": "陈爸爸", "kind": "adult", "gender": "male"},
        headers=w.chen.headers,
    )
    assert added.status_code == 201 and added.json()["gender"] == "male"
    mid = added.json()["id"]
    wrong = await client.post(
        f"/api/v1/households/{w.chen_home}/members",
        json={"display_name": "某某", "kind": "adult", "gender": "other"},
        headers=w.chen.headers,
    )
    assert wrong.status_code == 422 and code(wrong) == "validation_error"

    changed = await client.patch(f"/api/v1/members/{mid}", json={"gender": "female"}, headers=w.staff_a.headers)
    assert changed.status_code == 200 and changed.json()["gender"] == "female"
    kept = await client.patch(f"/api/v1/members/{mid}", json={"display_name": "陈妈妈"}, headers=w.chen.headers)
    assert kept.status_code == 200 and kept.json()["gender"] == "female"  # not given: left as it was
    cleared = await client.patch(f"/api/v1/members/{mid}", json={"gender": None}, headers=w.chen.headers)
    assert cleared.status_code == 200 and cleared.json()["gender"] is None
    home = await client.get(f"/api/v1/households/{w.chen_home}", headers=w.chen.headers)
    assert {m["display_name"]: m["gender"] for m in home.json()["members"]}["陈妈妈"] is None
    # someone else's household stays hidden, gender and all
    assert (await client.get(f"/api/v1/households/{w.chen_home}", headers=w.staff_c.headers)).status_code == 404


# -- activity summaries ------------------------------------------------------------------------------


async def test_staff_write_an_activity_summary(w, client):
    held = await activity(client, w.staff_a, w.a)
    url = f"/api/v1/activities/{held['id']}/summary"
    blank = await client.get(url, headers=w.staff_a.headers)
    assert blank.status_code == 200, blank.text
    body = blank.json()
    fields = ["background", "goals", "process", "participation", "outcomes", "reflection"]
    assert body["written"] is False and all(body[f] == "" for f in fields)
    assert body["updated_at"] is None and body["updated_by"] is None
    assert [body["template"][f]["label"] for f in fields] == ["背景", "目标", "过程", "参与情况", "成效", "反思"]
    assert "需求" in body["template"]["background"]["prompt"]

    text = {
        f: f"{label}：第一段\n第二段"
        for f, label in zip(fields, ["背景", "目标", "过程", "参与", "成效", "反思"], strict=True)
    }
    written = await client.put(url, json=text, headers=w.staff_a.headers)
    assert written.status_code == 200, written.text
    saved = written.json()
    assert saved["written"] is True and saved["process"] == "过程：第一段\n第二段"
    assert saved["updated_by"] == "社工甲"  # who wrote it
    assert saved["updated_at"].endswith("+08:00")
    again = (await client.get(url, headers=w.staff_ab.headers)).json()
    assert {f: again[f] for f in fields} == text
    # a part not given is emptied: PUT is the whole summary
    partial = await client.put(url, json={"background": "只写背景"}, headers=w.staff_ab.headers)
    assert partial.json()["background"] == "只写背景" and partial.json()["goals"] == ""

    resident = await client.get(url, headers=w.chen.headers)
    assert resident.status_code == 403 and code(resident) == "staff_only"
    assert (await client.put(url, json=text, headers=w.chen.headers)).status_code == 403
    other = await client.get(url, headers=w.staff_c.headers)
    assert other.status_code == 403
    too_long = await client.put(url, json={"outcomes": "好" * 2001}, headers=w.staff_a.headers)
    assert too_long.status_code == 422 and code(too_long) == "validation_error"
    unknown = await client.put(url, json={"summary": "x"}, headers=w.staff_a.headers)
    assert unknown.status_code == 422
    assert (await client.get("/api/v1/activities/999999/summary", headers=w.staff_a.headers)).status_code == 404

    cancelled = await activity(client, w.staff_a, w.a, title="取消的活动")
    await client.post(
        f"/api/v1/activities/{cancelled['id']}/cancel", json={"reason": "下雨"}, headers=w.staff_a.headers
    )
    refused = await client.put(f"/api/v1/activities/{cancelled['id']}/summary", json=text, headers=w.staff_a.headers)
    assert refused.status_code == 409 and code(refused) == "activity_cancelled"
