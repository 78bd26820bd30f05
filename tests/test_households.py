from __future__ import annotations

from tests.factories import add_child, community, grant, join, login, platform_admin


async def setup_b(client, db):
    root = await platform_admin(client, db)
    b = await community(client, root, "B社区")
    staff = await login(client, "staff")
    await grant(client, root, b["id"], staff, "staff")
    return root, b, staff


async def test_new_address_makes_the_caller_head_of_a_new_household(client, db):
    _, b, _ = await setup_b(client, db)
    chen = await login(client, "chen")
    result = await join(client, chen, b["id"], "1栋", "1单元", "301")
    assert result["status"] == "active"
    assert result["member"]["is_head"] is True
    assert result["member"]["is_me"] is True
    household = result["household"]
    assert (household["building"], household["unit"], household["room"]) == ("1栋", "1单元", "301")
    assert [m["display_name"] for m in household["members"]] == ["chen"]

    me = (await client.get("/api/v1/me", headers=chen.headers)).json()
    assert me["memberships"] == [
        {
            "community_id": b["id"],
            "community_name": "B社区",
            "role": "resident",
            "member_id": result["member"]["id"],
            "household_id": household["id"],
            "status": "active",
        }
    ]


async def test_existing_address_waits_for_the_head_and_sees_nothing_meanwhile(client, db):
    _, b, _ = await setup_b(client, db)
    chen = await login(client, "chen")
    head = await join(client, chen, b["id"], "1栋", "1单元", "301")
    await add_child(client, chen, head["household"]["id"], "小雨", 2018)

    stranger = await login(client, "stranger")
    # the same address typed differently: full-width digits, suffixes dropped
    pending = await join(client, stranger, b["id"], "1", "1", "３０１室")
    assert pending["status"] == "pending"
    assert pending["household"] is None
    assert pending["member"]["household_id"] == head["household"]["id"]

    hidden = await client.get(f"/api/v1/households/{head['household']['id']}", headers=stranger.headers)
    assert hidden.status_code == 404
    assert "小雨" not in hidden.text
    me = (await client.get("/api/v1/me", headers=stranger.headers)).json()
    assert me["memberships"][0]["status"] == "pending"

    # the head sees the request and approves it
    seen = (await client.get(f"/api/v1/households/{head['household']['id']}", headers=chen.headers)).json()
    assert [(m["display_name"], m["status"]) for m in seen["members"]] == [
        ("chen", "active"),
        ("小雨", "active"),
        ("stranger", "pending"),
    ]
    approved = await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=chen.headers)
    assert approved.status_code == 200
    assert approved.json()["status"] == "active"
    now_visible = await client.get(f"/api/v1/households/{head['household']['id']}", headers=stranger.headers)
    assert now_visible.status_code == 200
    assert {m["display_name"] for m in now_visible.json()["members"]} == {"chen", "小雨", "stranger"}
    again = await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=chen.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "member_not_pending"


async def test_a_pending_member_cannot_approve_themselves_and_rejection_frees_them(client, db):
    _, b, staff = await setup_b(client, db)
    chen = await login(client, "chen")
    head = await join(client, chen, b["id"], "1栋", "1单元", "301")
    eve = await login(client, "eve")
    pending = await join(client, eve, b["id"], "1栋", "1单元", "301")

    self_approve = await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=eve.headers)
    assert self_approve.status_code == 404
    rejected = await client.post(f"/api/v1/members/{pending['member']['id']}/reject", headers=staff.headers)
    assert rejected.status_code == 204
    assert (await client.get("/api/v1/me", headers=eve.headers)).json()["memberships"] == []
    household = (await client.get(f"/api/v1/households/{head['household']['id']}", headers=chen.headers)).json()
    assert [m["display_name"] for m in household["members"]] == ["chen"]
    # free to register her real address now
    own = await join(client, eve, b["id"], "2栋", "1单元", "101")
    assert own["status"] == "active"


async def test_joining_twice_is_refused(client, db):
    _, b, _ = await setup_b(client, db)
    chen = await login(client, "chen")
    await join(client, chen, b["id"], "1栋", "1单元", "301")
    again = await client.post(
        f"/api/v1/communities/{b['id']}/join",
        json={"display_name": "chen", "building": "9栋", "unit": "", "room": "1"},
        headers=chen.headers,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_in_household"


async def test_residents_never_read_another_household(client, db):
    _, b, staff = await setup_b(client, db)
    chen = await login(client, "chen")
    chen_home = await join(client, chen, b["id"], "1栋", "1单元", "301")
    child_id = (await add_child(client, chen, chen_home["household"]["id"], "小雨", 2018))["id"]
    zhou = await login(client, "zhou")
    zhou_home = await join(client, zhou, b["id"], "1栋", "2单元", "502")

    other = await client.get(f"/api/v1/households/{chen_home['household']['id']}", headers=zhou.headers)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "household_not_found"
    assert "小雨" not in other.text
    listing = await client.get(f"/api/v1/communities/{b['id']}/households", headers=zhou.headers)
    assert listing.status_code == 403
    for method, path, body in (
        ("PATCH", f"/api/v1/members/{child_id}", {"display_name": "改名"}),
        ("DELETE", f"/api/v1/members/{child_id}", None),
        ("POST", f"/api/v1/households/{chen_home['household']['id']}/members", {"display_name": "x", "kind": "elder"}),
    ):
        response = await client.request(method, path, json=body, headers=zhou.headers)
        assert response.status_code == 404, (method, path, response.text)

    # staff see both households in one place
    seen = await client.get(f"/api/v1/households/{chen_home['household']['id']}", headers=staff.headers)
    assert {m["display_name"] for m in seen.json()["members"]} == {"chen", "小雨"}
    assert zhou_home["household"]["id"] != chen_home["household"]["id"]


async def test_residents_never_read_another_community(client, db):
    root, b, _ = await setup_b(client, db)
    a = await community(client, root, "A社区")
    a_staff = await login(client, "a_staff")
    await grant(client, root, a["id"], a_staff, "staff")
    chen = await login(client, "chen")
    home = await join(client, chen, b["id"], "1栋", "1单元", "301")
    liu = await login(client, "liu")
    await join(client, liu, a["id"], "1栋", "1单元", "301")  # the same address in another community

    for person in (liu, a_staff):
        response = await client.get(f"/api/v1/households/{home['household']['id']}", headers=person.headers)
        assert response.status_code == 404
        listing = await client.get(f"/api/v1/communities/{b['id']}/households", headers=person.headers)
        assert listing.status_code == 403


async def test_children_keep_the_minimum_and_need_consent(client, db):
    _, b, _ = await setup_b(client, db)
    chen = await login(client, "chen")
    home = await join(client, chen, b["id"], "1栋", "1单元", "301")
    hid = home["household"]["id"]
    no_consent = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018},
        headers=chen.headers,
    )
    assert no_consent.status_code == 422
    assert no_consent.json()["error"]["code"] == "guardian_consent_required"
    no_year = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "小雨", "kind": "child", "guardian_consent": True},
        headers=chen.headers,
    )
    assert no_year.status_code == 422
    adult_as_child = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "大雨", "kind": "child", "birth_year": 1990, "guardian_consent": True},
        headers=chen.headers,
    )
    assert adult_as_child.status_code == 422
    assert adult_as_child.json()["error"]["code"] == "child_age_invalid"
    extra = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True, "school": "X小学"},
        headers=chen.headers,
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["code"] == "unknown_field"
    assert extra.json()["error"]["details"][0]["field"] == "school"
    extra = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True},
        headers=chen.headers,
    )
    assert extra.status_code == 201
    child = extra.json()
    assert child["consent_at"] is not None
    assert set(child) == {
        "id",
        "household_id",
        "display_name",
        "kind",
        "birth_year",
        "gender",
        "status",
        "is_head",
        "has_account",
        "is_me",
        "consent_at",
    }
    assert child["has_account"] is False and child["gender"] is None  # optional, never asked for
    elder = await client.post(
        f"/api/v1/households/{hid}/members", json={"display_name": "陈奶奶", "kind": "elder"}, headers=chen.headers
    )
    assert elder.status_code == 201
    assert elder.json()["consent_at"] is None


async def test_only_the_head_or_staff_manage_members(client, db):
    _, b, staff = await setup_b(client, db)
    chen = await login(client, "chen")
    home = await join(client, chen, b["id"], "1栋", "1单元", "301")
    hid = home["household"]["id"]
    spouse = await login(client, "spouse")
    pending = await join(client, spouse, b["id"], "1栋", "1单元", "301")
    await client.post(f"/api/v1/members/{pending['member']['id']}/approve", headers=chen.headers)

    refused = await client.post(
        f"/api/v1/households/{hid}/members", json={"display_name": "陈奶奶", "kind": "elder"}, headers=spouse.headers
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "household_head_only"
    by_staff = await client.post(
        f"/api/v1/households/{hid}/members",
        json={"display_name": "小树", "kind": "child", "birth_year": 2021, "guardian_consent": True},
        headers=staff.headers,
    )
    assert by_staff.status_code == 201
    renamed = await client.patch(
        f"/api/v1/members/{by_staff.json()['id']}", json={"display_name": "小树苗"}, headers=chen.headers
    )
    assert renamed.json()["display_name"] == "小树苗"
    own_name = await client.patch(
        f"/api/v1/members/{pending['member']['id']}", json={"display_name": "陈爸爸"}, headers=spouse.headers
    )
    assert own_name.status_code == 200
    head_leaves = await client.delete(f"/api/v1/members/{home['member']['id']}", headers=chen.headers)
    assert head_leaves.status_code == 409
    assert head_leaves.json()["error"]["code"] == "head_cannot_leave"
    spouse_leaves = await client.delete(f"/api/v1/members/{pending['member']['id']}", headers=spouse.headers)
    assert spouse_leaves.status_code == 204
    assert (await client.get("/api/v1/me", headers=spouse.headers)).json()["memberships"] == []


async def test_staff_page_through_households_with_filters(client, db):
    _, b, staff = await setup_b(client, db)
    people = [await login(client, f"r{i}") for i in range(5)]
    for i, person in enumerate(people):
        await join(client, person, b["id"], "1栋" if i < 3 else "2栋", "1单元", str(101 + i))
    late = await login(client, "late")
    await join(client, late, b["id"], "1栋", "1单元", "101")

    first = (await client.get(f"/api/v1/communities/{b['id']}/households?limit=2", headers=staff.headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            f"/api/v1/communities/{b['id']}/households?limit=10&cursor={first['next_cursor']}", headers=staff.headers
        )
    ).json()
    assert rest["next_cursor"] is None
    rooms = [h["room"] for h in first["items"] + rest["items"]]
    assert rooms == ["101", "102", "103", "104", "105"]

    building_two = (
        await client.get(f"/api/v1/communities/{b['id']}/households?building=2栋", headers=staff.headers)
    ).json()
    assert [h["room"] for h in building_two["items"]] == ["104", "105"]
    pending = (await client.get(f"/api/v1/communities/{b['id']}/households?pending=true", headers=staff.headers)).json()
    assert [(h["room"], h["member_count"], h["pending_count"]) for h in pending["items"]] == [("101", 1, 1)]
    bad = await client.get(f"/api/v1/communities/{b['id']}/households?cursor=@@@", headers=staff.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"
