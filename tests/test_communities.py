from __future__ import annotations

from datetime import UTC, datetime

from api import clock
from tests.factories import community, grant, join, login, platform_admin


async def test_only_platform_admins_create_communities(client, db):
    alice = await login(client, "alice")
    refused = await client.post("/api/v1/communities", json={"name": "X社区"}, headers=alice.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "platform_admin_only"

    root = await platform_admin(client, db)
    created = await community(client, root, "B社区")
    assert created["timezone"] == "Asia/Shanghai"
    duplicate = await client.post("/api/v1/communities", json={"name": "B社区"}, headers=root.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "community_exists"

    listed = await client.get("/api/v1/communities", headers=alice.headers)
    assert [c["name"] for c in listed.json()] == ["B社区"]


async def test_space_defaults_to_tuesday_to_sunday_and_knows_when_it_is_open(client, db):
    clock.freeze(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    root = await platform_admin(client, db)
    b = await community(client, root)
    response = await client.post(
        f"/api/v1/communities/{b['id']}/spaces", json={"name": "复合空间"}, headers=root.headers
    )
    assert response.status_code == 201
    space = response.json()
    assert space["opening_hours"]["mon"] == []
    assert all(space["opening_hours"][d] == [["09:00", "21:00"]] for d in ("tue", "wed", "thu", "fri", "sat", "sun"))

    async def open_at(utc: datetime) -> bool:
        clock.freeze(utc)
        alice = await login(client, "alice")
        spaces = (await client.get(f"/api/v1/communities/{b['id']}/spaces", headers=alice.headers)).json()
        return bool(spaces[0]["open_now"])

    assert await open_at(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)) is True  # Tuesday 10:00 in Shanghai
    assert await open_at(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)) is False  # Monday: closed all day
    assert await open_at(datetime(2026, 11, 24, 13, 30, tzinfo=UTC)) is False  # Tuesday 21:30: after hours
    assert await open_at(datetime(2026, 11, 29, 12, 59, tzinfo=UTC)) is True  # Sunday 20:59


async def test_closures_close_the_space_and_only_staff_add_them(client, db):
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # Tuesday morning in Shanghai
    root = await platform_admin(client, db)
    b = await community(client, root)
    space = (
        await client.post(f"/api/v1/communities/{b['id']}/spaces", json={"name": "复合空间"}, headers=root.headers)
    ).json()
    alice = await login(client, "alice")
    await join(client, alice, b["id"])
    closure = {"starts_on": "2026-11-24", "ends_on": "2026-11-25", "reason": "消防检查"}
    refused = await client.post(f"/api/v1/spaces/{space['id']}/closures", json=closure, headers=alice.headers)
    assert refused.status_code == 403

    staff = await login(client, "staff")
    await grant(client, root, b["id"], staff, "staff")
    added = await client.post(f"/api/v1/spaces/{space['id']}/closures", json=closure, headers=staff.headers)
    assert added.status_code == 201
    spaces = (await client.get(f"/api/v1/communities/{b['id']}/spaces", headers=alice.headers)).json()
    assert spaces[0]["open_now"] is False
    listed = (await client.get(f"/api/v1/spaces/{space['id']}/closures", headers=alice.headers)).json()
    assert [c["reason"] for c in listed] == ["消防检查"]

    backwards = await client.post(
        f"/api/v1/spaces/{space['id']}/closures",
        json={"starts_on": "2026-12-02", "ends_on": "2026-12-01"},
        headers=staff.headers,
    )
    assert backwards.status_code == 422

    removed = await client.delete(f"/api/v1/closures/{added.json()['id']}", headers=staff.headers)
    assert removed.status_code == 204
    spaces = (await client.get(f"/api/v1/communities/{b['id']}/spaces", headers=alice.headers)).json()
    assert spaces[0]["open_now"] is True


async def test_opening_hours_are_validated(client, db):
    root = await platform_admin(client, db)
    b = await community(client, root)
    for hours in (
        {"tue": [["21:00", "09:00"]]},
        {"tue": [["09:00", "12:00"], ["11:00", "13:00"]]},
        {"tue": [["9am", "5pm"]]},
    ):
        response = await client.post(
            f"/api/v1/communities/{b['id']}/spaces", json={"name": "x", "opening_hours": hours}, headers=root.headers
        )
        assert response.status_code == 422, hours
    ok = await client.post(
        f"/api/v1/communities/{b['id']}/spaces",
        json={"name": "议事厅", "opening_hours": {"sat": [["14:00", "18:00"], ["09:00", "12:00"]]}},
        headers=root.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["opening_hours"]["sat"] == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert ok.json()["opening_hours"]["tue"] == []


async def test_community_admins_grant_staff_but_not_admin(client, db):
    root = await platform_admin(client, db)
    b = await community(client, root)
    lead = await login(client, "lead")
    await grant(client, root, b["id"], lead, "admin")
    staff = await login(client, "staff")
    await grant(client, lead, b["id"], staff, "staff")

    me = (await client.get("/api/v1/me", headers=staff.headers)).json()
    assert me["memberships"] == [
        {
            "community_id": b["id"],
            "community_name": "B社区",
            "role": "staff",
            "member_id": None,
            "household_id": None,
            "status": "active",
        }
    ]
    other = await login(client, "other")
    refused = await client.put(
        f"/api/v1/communities/{b['id']}/roles/{other.user_id}", json={"role": "admin"}, headers=lead.headers
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "platform_admin_only"
    by_staff = await client.put(
        f"/api/v1/communities/{b['id']}/roles/{other.user_id}", json={"role": "staff"}, headers=staff.headers
    )
    assert by_staff.status_code == 403
    assert by_staff.json()["error"]["code"] == "admin_only"

    listed = (await client.get(f"/api/v1/communities/{b['id']}/staff", headers=staff.headers)).json()
    assert {(s["display_name"] or s["user_id"], s["role"]) for s in listed} == {
        (lead.user_id, "admin"),
        (staff.user_id, "staff"),
    }
    resident = await login(client, "resident")
    await join(client, resident, b["id"])
    assert (await client.get(f"/api/v1/communities/{b['id']}/staff", headers=resident.headers)).status_code == 403

    # revoking: a staff member without a household leaves the community; one with a household stays a resident
    await join(client, lead, b["id"], "9栋", "1单元", "101")
    await grant(client, root, b["id"], lead, "resident")
    await grant(client, root, b["id"], staff, "resident")
    assert (await client.get(f"/api/v1/communities/{b['id']}/staff", headers=staff.headers)).status_code == 403
    assert (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"] == []
    lead_roles = (await client.get("/api/v1/me", headers=lead.headers)).json()["memberships"]
    assert [(m["role"], m["status"]) for m in lead_roles] == [("resident", "active")]


async def test_staff_of_one_community_have_no_power_in_another(client, db):
    root = await platform_admin(client, db)
    a = await community(client, root, "A社区")
    b = await community(client, root, "B社区")
    staff = await login(client, "staff")
    await grant(client, root, a["id"], staff, "admin")
    space = await client.post(f"/api/v1/communities/{b['id']}/spaces", json={"name": "x"}, headers=staff.headers)
    assert space.status_code == 403
    assert (await client.get(f"/api/v1/communities/{b['id']}/households", headers=staff.headers)).status_code == 403
    detail = (await client.get(f"/api/v1/communities/{b['id']}", headers=staff.headers)).json()
    assert detail["my_role"] is None
