from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jose import jwt
from sqlalchemy import select

from api import clock
from api.db.models import User
from api.security import issue_access_token
from tests.conftest import TEST_SECRET, WECHAT_APPID, make_settings
from tests.factories import login

LOGIN = "/api/v1/auth/wechat/login"


# -- fake mode (development) ------------------------------------------------------------------


async def test_fake_login_issues_a_token_for_dev_users(client):
    response = await client.post(LOGIN, json={"code": "dev:alice"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    assert body["user"]["memberships"] == []
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"], issuer="linli")
    assert set(claims) >= {"sub", "exp", "iat", "jti"}
    assert claims["exp"] - claims["iat"] == 24 * 3600

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_logging_in_twice_is_the_same_user(client, db):
    first = await login(client, "alice")
    second = await login(client, "alice")
    assert first.user_id == second.user_id
    async with db.session(write=False) as session:
        openids = (await session.execute(select(User.openid))).scalars().all()
    assert openids == ["dev-alice"]


async def test_concurrent_first_logins_make_one_user(client, db):
    results = await asyncio.gather(*(client.post(LOGIN, json={"code": "dev:bob"}) for _ in range(5)))
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["user"]["id"] for r in results}) == 1
    async with db.session(write=False) as session:
        assert len((await session.execute(select(User))).scalars().all()) == 1


async def test_fake_mode_refuses_codes_that_are_not_dev_codes(client):
    response = await client.post(LOGIN, json={"code": "0a1b2c"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wechat_code_invalid"


async def test_patch_me_changes_name_and_avatar(client):
    alice = await login(client, "alice")
    response = await client.patch(
        "/api/v1/me",
        json={"display_name": "爱丽丝", "avatar_url": "https://thirdwx.qlogo.cn/a.png"},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "爱丽丝"
    assert (await client.get("/api/v1/me", headers=alice.headers)).json()[
        "avatar_url"
    ] == "https://thirdwx.qlogo.cn/a.png"
    bad = await client.patch("/api/v1/me", json={"avatar_url": "javascript:alert(1)"}, headers=alice.headers)
    assert bad.status_code == 422


# -- real mode against the fake WeChat server ---------------------------------------------------


async def test_real_login_success_without_errcode_keeps_unionid(real_wechat):
    client, fake, _ = real_wechat
    fake.unionids["dev-carol"] = "union-carol"
    response = await client.post(LOGIN, json={"code": "dev:carol"})
    assert response.status_code == 200
    path, params = fake.calls[-1]
    assert path == "/sns/jscode2session"
    assert params == {
        "appid": WECHAT_APPID,
        "secret": "wx-test-secret",
        "js_code": "dev:carol",
        "grant_type": "authorization_code",
    }
    _, _, application = real_wechat
    async with application.state.db.session(write=False) as session:
        user = (await session.execute(select(User))).scalar_one()
    assert (user.openid, user.unionid) == ("dev-carol", "union-carol")


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 401, "wechat_code_invalid"),
        (45011, 429, "wechat_rate_limited"),
        (40226, 403, "wechat_user_blocked"),
        (-1, 503, "wechat_unavailable"),
    ],
)
async def test_wechat_login_errors_are_mapped(real_wechat, errcode, status, code):
    client, fake, _ = real_wechat
    fake.fail_next("/sns/jscode2session", errcode, "scripted")
    response = await client.post(LOGIN, json={"code": "dev:dave"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if code == "wechat_unavailable":
        assert response.json()["error"]["details"] == {"retryable": True}
    if status == 429:
        assert response.headers["retry-after"] == "60"
    # nothing was written: the next, successful login creates the user
    assert (await client.post(LOGIN, json={"code": "dev:dave"})).status_code == 200


async def test_wechat_timeout_is_503_retryable(real_wechat):
    client, fake, _ = real_wechat
    fake.fail_next("/sns/jscode2session", exc=httpx.ReadTimeout("slow"))
    response = await client.post(LOGIN, json={"code": "dev:erin"})
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "wechat_unavailable",
        "message": "微信服务繁忙，请稍后重试",
        "details": {"retryable": True},
    }


# -- tokens --------------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_wrong_signature_is_refused(client):
    alice = await login(client, "alice")
    claims = jwt.get_unverified_claims(alice.token)
    forged = jwt.encode(claims, "another-secret-" + "y" * 32, algorithm="HS256")
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_alg_none_is_refused(client):
    alice = await login(client, "alice")
    claims = jwt.get_unverified_claims(alice.token)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_another_algorithm_with_the_right_secret_is_refused(client):
    alice = await login(client, "alice")
    claims = jwt.get_unverified_claims(alice.token)
    hs512 = jwt.encode(claims, TEST_SECRET, algorithm="HS512")
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {hs512}"})
    assert response.status_code == 401


async def test_token_without_jti_is_refused(client):
    alice = await login(client, "alice")
    claims = jwt.get_unverified_claims(alice.token)
    del claims["jti"]
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_token_without_exp_or_iat_is_refused(client):
    alice = await login(client, "alice")
    for claim in ("exp", "iat"):
        claims = jwt.get_unverified_claims(alice.token)
        del claims[claim]
        token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "token_invalid"


async def test_a_token_made_at_a_frozen_past_time_is_judged_by_the_project_clock(client):
    # the wall clock is days past the frozen time, but the token lives 24 h of project time
    clock.freeze(datetime(2020, 1, 1, 12, 0, tzinfo=UTC))
    alice = await login(client, "alice")
    clock.advance(timedelta(hours=23))
    assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200


async def test_expired_token_is_refused(client):
    alice = await login(client, "alice")
    clock.advance(timedelta(hours=24, seconds=1))
    response = await client.get("/api/v1/me", headers=alice.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_missing_or_malformed_authorization(client):
    assert (await client.get("/api/v1/me")).json()["error"]["code"] == "not_authenticated"
    basic = await client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    garbage = await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401


async def test_token_for_a_deleted_user_is_refused(client, database_url):
    token = issue_access_token(make_settings(database_url), user_id=987654).token
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# -- phone number --------------------------------------------------------------------------------


async def test_phone_binding_is_masked_for_residents(real_wechat):
    client, fake, _ = real_wechat
    frank = await login(client, "frank")
    response = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812341234"}, headers=frank.headers
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "138****1234"
    path, params = fake.calls[-1]
    assert path == "/wxa/business/getuserphonenumber"
    assert params["openid"] == "dev-frank"
    assert params["access_token"] == "fake-access-token-1"

    reused = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812341234"}, headers=frank.headers
    )
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "phone_code_invalid"


async def test_admins_see_the_full_number(real_wechat):
    client, _, application = real_wechat
    from tests.factories import platform_admin

    root = await platform_admin(client, application.state.db)
    response = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13900001111"}, headers=root.headers
    )
    assert response.json()["phone"] == "13900001111"


async def test_access_token_is_fetched_once_under_concurrent_demand(real_wechat):
    client, fake, _ = real_wechat
    people = [await login(client, f"p{i}") for i in range(6)]
    results = await asyncio.gather(
        *(
            client.post("/api/v1/auth/wechat/phone", json={"code": f"dev-phone:1380000000{i}"}, headers=p.headers)
            for i, p in enumerate(people)
        )
    )
    assert [r.status_code for r in results] == [200] * 6
    assert fake.count("/cgi-bin/stable_token") == 1
    _, body = next(c for c in fake.calls if c[0] == "/cgi-bin/stable_token")
    assert body["force_refresh"] is False


async def test_token_is_shared_by_separate_processes(real_wechat, database_url):
    """Two WeChat clients with their own engines (as two processes would have) refresh once."""
    from api.db.session import Database
    from api.wechat.client import WeChatClient

    _, fake, application = real_wechat
    settings = application.state.settings
    others = [Database(database_url) for _ in range(2)]
    try:
        clients = [WeChatClient(settings, application.state.http, d) for d in others]
        tokens = await asyncio.gather(*(c.access_token() for c in clients * 3))
    finally:
        for d in others:
            await d.dispose()
    assert len(set(tokens)) == 1
    assert fake.count("/cgi-bin/stable_token") == 1


async def test_refused_token_is_refetched_once(real_wechat):
    client, fake, _ = real_wechat
    gina = await login(client, "gina")
    first = await client.post("/api/v1/auth/wechat/phone", json={"code": "dev-phone:13700000001"}, headers=gina.headers)
    assert first.status_code == 200
    fake.expire_token()  # WeChat no longer accepts the cached token: 40001
    second = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13700000002"}, headers=gina.headers
    )
    assert second.status_code == 200
    assert second.json()["phone"] == "137****0002"
    assert fake.count("/cgi-bin/stable_token") == 2
    phone_calls = [p["access_token"] for path, p in fake.calls if path == "/wxa/business/getuserphonenumber"]
    assert phone_calls == ["fake-access-token-1", "fake-access-token-1", "fake-access-token-2"]


async def test_token_is_refreshed_before_it_expires(real_wechat):
    client, fake, _ = real_wechat
    hana = await login(client, "hana")
    await client.post("/api/v1/auth/wechat/phone", json={"code": "dev-phone:13600000001"}, headers=hana.headers)
    clock.advance(timedelta(seconds=7200 - 200))  # inside the 5-minute refresh margin
    await client.post("/api/v1/auth/wechat/phone", json={"code": "dev-phone:13600000002"}, headers=hana.headers)
    assert fake.count("/cgi-bin/stable_token") == 2


async def test_me_lists_each_membership_and_shows_the_number_to_admins_of_a_community_only(client, db):
    from sqlalchemy import update

    from tests.factories import community, grant, join, platform_admin

    root = await platform_admin(client, db)
    north = (await community(client, root, "北区"))["id"]
    south = (await community(client, root, "南区"))["id"]
    alice, bob = await login(client, "alice"), await login(client, "bob")
    async with db.session() as session:
        await session.execute(
            update(User).where(User.id.in_([alice.user_id, bob.user_id])).values(phone_number="13812345678")
        )
        await session.commit()
    assert (await client.get("/api/v1/me", headers=bob.headers)).json()["memberships"] == []
    assert (await client.get("/api/v1/me", headers=bob.headers)).json()["phone"] == "138****5678"

    joined = await join(client, alice, south, "3栋", "2单元", "301")
    await grant(client, root, north, alice, "staff")  # staff of the north: no household there
    me = (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["id"] == alice.user_id and me["display_name"] == "alice" and me["phone"] == "138****5678"
    assert me["memberships"] == sorted(
        [
            {
                "community_id": north,
                "community_name": "北区",
                "role": "staff",
                "member_id": None,
                "household_id": None,
                "status": "active",
            },
            {
                "community_id": south,
                "community_name": "南区",
                "role": "resident",
                "member_id": joined["member"]["id"],
                "household_id": joined["household"]["id"],
                "status": joined["member"]["status"],
            },
        ],
        key=lambda m: m["community_id"],
    )

    await grant(client, root, north, alice, "admin")  # an admin of one community sees her own number
    me = (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["phone"] == "13812345678" and [m["role"] for m in me["memberships"] if m["community_id"] == north] == [
        "admin"
    ]
    # PATCH /me answers with the same profile
    patched = await client.patch("/api/v1/me", json={"display_name": "爱丽丝"}, headers=alice.headers)
    assert patched.json() == {**me, "display_name": "爱丽丝"}
