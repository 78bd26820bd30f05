from __future__ import annotations

from api.demo import load_demo
from tests.factories import login


async def test_demo_loads_once_and_dev_staff_is_staff_of_b_community(client, db):
    assert await load_demo(db, if_empty=True) is True
    assert await load_demo(db, if_empty=True) is False

    staff = await login(client, "staff")
    me = (await client.get("/api/v1/me", headers=staff.headers)).json()
    assert [(m["community_name"], m["role"]) for m in me["memberships"]] == [("B社区", "staff")]
    community_id = me["memberships"][0]["community_id"]

    households = (
        await client.get(f"/api/v1/communities/{community_id}/households?limit=100", headers=staff.headers)
    ).json()["items"]
    assert len(households) == 12
    assert sum(h["pending_count"] for h in households) == 1

    admin = await login(client, "admin")
    admin_me = (await client.get("/api/v1/me", headers=admin.headers)).json()
    assert admin_me["is_platform_admin"] is True
    assert admin_me["memberships"][0]["role"] == "admin"

    chen = await login(client, "chen")
    chen_me = (await client.get("/api/v1/me", headers=chen.headers)).json()
    home = await client.get(f"/api/v1/households/{chen_me['memberships'][0]['household_id']}", headers=chen.headers)
    kinds = sorted((m["display_name"], m["kind"]) for m in home.json()["members"])
    assert ("小雨", "child") in kinds and ("小树", "child") in kinds
    detail = (await client.get(f"/api/v1/communities/{community_id}", headers=chen.headers)).json()
    assert [s["name"] for s in detail["spaces"]] == ["B社区复合空间"]
