from __future__ import annotations

from datetime import timedelta

import pytest

from api import clock
from api.services import idempotency
from tests.factories import community, login, platform_admin
from workers import jobs  # noqa: F401 - registers idempotency.expire
from workers.runner import Worker

JOIN = {"display_name": "陈妈妈", "building": "1栋", "unit": "1单元", "room": "301"}


async def setup(client, db):
    root = await platform_admin(client, db)
    b = await community(client, root)
    chen = await login(client, "chen")
    return b, chen


async def test_a_retry_replays_the_first_answer_and_changes_nothing(client, db):
    b, chen = await setup(client, db)
    headers = {**chen.headers, "Idempotency-Key": "join-1"}
    first = await client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # the same body with keys reordered and other spacing is the same request
    retry = await client.post(
        f"/api/v1/communities/{b['id']}/join",
        content='{"room": "301", "unit": "1单元", "building": "1栋",   "display_name": "陈妈妈"}'.encode(),
        headers={**headers, "content-type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()

    hid = first.json()["household"]["id"]
    add = {"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True}
    key = {**chen.headers, "Idempotency-Key": "child-1"}
    one = await client.post(f"/api/v1/households/{hid}/members", json=add, headers=key)
    two = await client.post(f"/api/v1/households/{hid}/members", json=add, headers=key)
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] == two.json()["id"]
    household = (await client.get(f"/api/v1/households/{hid}", headers=chen.headers)).json()
    assert [m["display_name"] for m in household["members"]] == ["陈妈妈", "小雨"]


async def test_a_reused_key_with_a_different_body_is_422(client, db):
    b, chen = await setup(client, db)
    headers = {**chen.headers, "Idempotency-Key": "join-1"}
    assert (await client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers=headers)).status_code == 201
    other = await client.post(f"/api/v1/communities/{b['id']}/join", json={**JOIN, "room": "302"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_mismatch"


async def test_keys_belong_to_one_user(client, db):
    b, chen = await setup(client, db)
    zhou = await login(client, "zhou")
    key = {"Idempotency-Key": "same-key"}
    first = await client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers={**chen.headers, **key})
    second = await client.post(
        f"/api/v1/communities/{b['id']}/join", json={**JOIN, "room": "902"}, headers={**zhou.headers, **key}
    )
    assert second.status_code == 201
    assert second.json()["member"]["id"] != first.json()["member"]["id"]


async def test_a_failed_request_stores_nothing_under_its_key(client, db):
    b, chen = await setup(client, db)
    key = {**chen.headers, "Idempotency-Key": "k"}
    missing = await client.post("/api/v1/communities/999999/join", json=JOIN, headers=key)
    assert missing.status_code == 404
    ok = await client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers=key)
    assert ok.status_code == 201


async def test_invalid_keys_are_refused(client, db):
    b, chen = await setup(client, db)
    for bad in (b"", b"x" * 256, "中文键".encode()):
        response = await client.post(
            f"/api/v1/communities/{b['id']}/join", json=JOIN, headers={**chen.headers, "Idempotency-Key": bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "idempotency_key_invalid"


async def test_keys_expire_after_24_hours(client, db, settings):
    b, chen = await setup(client, db)
    hid = (await client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers=chen.headers)).json()[
        "household"
    ]["id"]
    add = {"display_name": "陈奶奶", "kind": "elder"}
    first = await client.post(
        f"/api/v1/households/{hid}/members", json=add, headers={**chen.headers, "Idempotency-Key": "elder"}
    )
    clock.advance(timedelta(hours=23))
    relogin = await login(client, "chen")
    within = await client.post(
        f"/api/v1/households/{hid}/members", json=add, headers={**relogin.headers, "Idempotency-Key": "elder"}
    )
    assert within.json()["id"] == first.json()["id"]

    clock.advance(timedelta(hours=1, seconds=1))
    await Worker(db, settings).run_until_idle()  # the periodic idempotency.expire job
    async with db.session(write=False) as session:
        from sqlalchemy import func, select

        from api.db.models import IdempotencyKey

        assert (await session.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one() == 0
    relogin = await login(client, "chen")
    after = await client.post(
        f"/api/v1/households/{hid}/members", json=add, headers={**relogin.headers, "Idempotency-Key": "elder"}
    )
    assert after.status_code == 201
    assert after.json()["id"] != first.json()["id"]


@pytest.mark.postgres
async def test_a_duplicate_in_flight_is_409(client, db, is_postgres):
    if not is_postgres:
        pytest.skip("on SQLite writers are serialised: the duplicate waits, then replays")
    b, chen = await setup(client, db)
    path = f"/api/v1/communities/{b['id']}/join"
    # another connection is still working on the same key (it holds the key's advisory lock)
    async with db.session() as in_flight:
        await idempotency.begin(in_flight, chen.user_id, "busy-key", idempotency.fingerprint("POST", path, b"{}"))
        response = await client.post(path, json=JOIN, headers={**chen.headers, "Idempotency-Key": "busy-key"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_in_flight"
        await in_flight.rollback()
    retry = await client.post(path, json=JOIN, headers={**chen.headers, "Idempotency-Key": "busy-key"})
    assert retry.status_code == 201


async def test_simultaneous_duplicates_change_things_once(client, db):
    """However the duplicates interleave (SQLite queues them, PostgreSQL may answer 409 while the
    first is in flight), one household member is created and every success is the same answer."""
    import asyncio

    b, chen = await setup(client, db)
    headers = {**chen.headers, "Idempotency-Key": "tap-tap-tap"}
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/communities/{b['id']}/join", json=JOIN, headers=headers) for _ in range(6))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert len({r.text for r in responses if r.status_code == 201}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] in {"idempotency_in_flight", "already_in_household"}
    me = (await client.get("/api/v1/me", headers=chen.headers)).json()
    assert len(me["memberships"]) == 1
    household = await client.get(f"/api/v1/households/{me['memberships'][0]['household_id']}", headers=chen.headers)
    assert [m["display_name"] for m in household.json()["members"]] == ["陈妈妈"]
