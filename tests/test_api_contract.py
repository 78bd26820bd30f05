"""The API contract: strict bodies, bounded sizes, readable errors, local times, polite outages.

Every answer in the suite is also checked by the client's contract hook (tests/contract.py): its
datetimes are in +08:00 and its error messages hold no English."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import time
import typing
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

import api.routers
from api import clock
from api.deps import (
    ActivityTimes,
    AnnouncementTimes,
    CommunityTimes,
    ConcernTimes,
    MeetingTimes,
    PollTimes,
    RecordTimes,
)
from api.main import create_app, shutdown
from api.schemas.common import Input, When
from tests.conftest import make_settings
from tests.contract import api_client, datetimes_off_offset
from tests.factories import Person, activity, community, grant, join, login, platform_admin

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class B:
    b: int
    root: Person
    staff: Person
    chen: Person


@pytest.fixture
async def b(client, db) -> B:
    clock.freeze(NOW)
    world = B()
    world.root = await platform_admin(client, db)
    world.b = (await community(client, world.root))["id"]
    world.staff = await login(client, "staff")
    await grant(client, world.root, world.b, world.staff, "staff")
    world.chen = await login(client, "chen")
    await join(client, world.chen, world.b)
    return world


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- 1. bodies ------------------------------------------------------------------------------------


async def test_an_unknown_field_is_refused_by_name_and_nothing_is_booked(client, b):
    a = await activity(client, b.staff, b.b)
    wrong = await client.post(
        f"/api/v1/activities/{a['id']}/bookings", json={"member_ids": [29, 30]}, headers=b.chen.headers
    )
    assert wrong.status_code == 422
    error = _error(wrong)
    assert error["code"] == "unknown_field"
    assert [d["field"] for d in error["details"]] == ["member_ids"]
    assert error["message"].startswith("member_ids：不认识的字段")
    mine = await client.get("/api/v1/me/bookings", headers=b.chen.headers)
    assert mine.json()["items"] == []  # the caller was not booked alone instead
    nested = await client.post(
        f"/api/v1/communities/{b.b}/announcements",
        json={"title": "t", "body": "b", "audience": {"kind": "children", "min_age": 3, "max_age": 6, "x": 1}},
        headers=b.staff.headers,
    )
    assert _error(nested)["code"] == "unknown_field" and _error(nested)["details"][0]["field"] == "audience.x"


def _every_request_model() -> dict[type[BaseModel], str]:
    seen: dict[type[BaseModel], str] = {}

    def walk(tp: Any, where: str) -> None:
        if inspect.isclass(tp) and issubclass(tp, BaseModel):
            if tp not in seen:
                seen[tp] = where
                for field in tp.model_fields.values():
                    walk(field.annotation, where)
            return
        for arg in typing.get_args(tp):
            walk(arg, where)

    for module in pkgutil.iter_modules(api.routers.__path__):
        routers = importlib.import_module(f"api.routers.{module.name}")
        for name in ("router", "public"):
            for route in getattr(getattr(routers, name, None), "routes", []):
                if isinstance(route, APIRoute) and route.body_field is not None:
                    walk(route.body_field.field_info.annotation, f"{sorted(route.methods)[0]} {route.path}")
    return seen


def test_every_request_model_is_strict():
    models = _every_request_model()
    assert len(models) > 50
    loose = [
        f"{model.__name__} ({where})"
        for model, where in models.items()
        if not issubclass(model, Input) and model.__name__ != "SubscriptionReport"  # a dict of WeChat's answer
    ]
    assert not loose, f"request models not built on Input (unknown fields, strict types, control characters): {loose}"


def test_every_route_with_datetimes_knows_its_community():
    """A datetime without an offset is read in the community's time only where the route looks up
    its community before the body is read."""
    zone_deps = {
        d.dependency
        for d in (
            CommunityTimes,
            ActivityTimes,
            AnnouncementTimes,
            RecordTimes,
            ConcernTimes,
            MeetingTimes,
            # -- polls
            PollTimes,
        )
    }

    def has_when(tp: Any) -> bool:
        if tp is When:
            return True
        if inspect.isclass(tp) and issubclass(tp, BaseModel):
            return any(has_when(f.rebuild_annotation()) for f in tp.model_fields.values())
        return any(has_when(a) for a in typing.get_args(tp))

    missing = []
    for module in pkgutil.iter_modules(api.routers.__path__):
        routers = importlib.import_module(f"api.routers.{module.name}")
        for route in getattr(getattr(routers, "router", None), "routes", []):
            if not isinstance(route, APIRoute) or route.body_field is None:
                continue
            knows = {d.call for d in route.dependant.dependencies} & zone_deps
            if has_when(route.body_field.field_info.annotation) and not knows:
                missing.append(route.path)
    assert not missing, missing


async def test_bodies_are_capped_before_they_are_read_for_anyone(client, b, settings):
    limit = settings.max_json_bytes
    big = b'{"code": "' + b"x" * (limit + 10) + b'"}'
    declared = await client.post("/api/v1/auth/wechat/login", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert _error(declared)["code"] == "body_too_large" and _error(declared)["details"]["max_bytes"] == limit

    async def chunks():  # no Content-Length: counted as it arrives
        yield b'{"code": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    streamed = await client.post(
        "/api/v1/auth/wechat/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and _error(streamed)["code"] == "body_too_large"
    anonymous = await client.post(f"/api/v1/communities/{b.b}/activities", content=big)
    assert anonymous.status_code == 413  # before the 401: a stranger's body is not parsed either
    fits = await client.post("/api/v1/auth/wechat/login", json={"code": "dev:fits"})
    assert fits.status_code == 200


async def test_integers_and_booleans_are_strict_and_errors_say_what_is_expected(client, b):
    path = f"/api/v1/communities/{b.b}/activities"
    base = {"title": "读书会", "category": "culture", "location": "活动室"}
    times = {"start_at": "2026-12-05T14:00:00+08:00", "end_at": "2026-12-05T16:00:00+08:00"}
    for capacity in ("10", True, 0, 10001, 2.5):
        response = await client.post(path, json={**base, **times, "capacity": capacity}, headers=b.staff.headers)
        assert response.status_code == 422, capacity
        assert _error(response)["message"] == "capacity：应为 1–10000 的整数", capacity
        (detail,) = _error(response)["details"]
        assert detail["field"] == "capacity" and detail["loc"] == ["body", "capacity"] and detail["type"]
    flag = await client.post(
        f"/api/v1/communities/{b.b}/posts", json={"body": "好", "shows_children": "true"}, headers=b.chen.headers
    )
    assert flag.status_code == 422 and _error(flag)["message"] == "shows_children：应为 true 或 false"
    several = await client.post(path, json={"category": "sport"}, headers=b.staff.headers)
    message = _error(several)["message"]
    assert "title：必填，应为 1–64 个字，不能为空" in message
    assert "category：应为以下之一：children、parent_child" in message
    assert len(_error(several)["details"]) == 5  # title, category, start_at, end_at, capacity


async def test_strings_fit_their_columns_after_normalising(client, b):
    me = await client.patch("/api/v1/me", json={"avatar_url": "https://a.example/" + "x" * 700}, headers=b.chen.headers)
    assert me.status_code == 422 and _error(me)["details"][0]["field"] == "avatar_url"
    # 512 characters as sent, 513 once normalised (the slash after the host): one too many to keep
    cover = "https://a.example?" + "q" * (512 - len("https://a.example?"))
    assert len(cover) == 512
    made = await client.post(
        f"/api/v1/communities/{b.b}/activities",
        json={
            "title": "t",
            "category": "culture",
            "location": "活动室",
            "capacity": 5,
            "start_at": "2026-12-05T14:00:00+08:00",
            "end_at": "2026-12-05T16:00:00+08:00",
            "cover_url": cover,
        },
        headers=b.staff.headers,
    )
    assert made.status_code == 422 and _error(made)["details"][0]["field"] == "cover_url"
    assert "512" in _error(made)["message"]


async def test_control_characters_are_refused_in_every_text_tab_and_newline_in_long_texts(client, b):
    path = f"/api/v1/communities/{b.b}/activities"
    base = {
        "category": "culture",
        "capacity": 5,
        "start_at": "2026-12-05T14:00:00+08:00",
        "end_at": "2026-12-05T16:00:00+08:00",
    }
    for bad in ("读书\\u0000会", "读书\\u001b会", "读书\\n会", "\\ud800读书会"):  # as JSON escapes
        raw = json.dumps({**base, "location": "活动室"}, ensure_ascii=False)[:-1] + f', "title": "{bad}"}}'
        response = await client.post(
            path, content=raw.encode(), headers={**b.staff.headers, "content-type": "application/json"}
        )
        assert response.status_code == 422, repr(bad)
        (detail,) = _error(response)["details"]
        if bad.startswith("\\ud800"):  # half a surrogate pair is not text at all
            assert (detail["field"], detail["type"], detail["message"]) == ("title", "string_unicode", "含有无效的字符")
            continue
        assert detail == {
            "field": "title",
            "in": "body",
            "loc": ["body", "title"],
            "type": "control_character",
            "message": "不能含有换行或控制字符",
        }
    nul_in_long = await client.post(
        path,
        json={**base, "title": "读书会", "location": "活动室", "description": "第一行\x00"},
        headers=b.staff.headers,
    )
    assert nul_in_long.status_code == 422
    kept = await client.post(
        path,
        json={**base, "title": "读书会", "location": "活动室", "description": "第一行\r\n\t第二行"},
        headers=b.staff.headers,
    )
    assert kept.status_code == 201 and kept.json()["description"] == "第一行\n\t第二行"
    guests = await client.post(
        f"/api/v1/activities/{kept.json()['id']}/walkins", json={"guests": ["王\x00阿姨"]}, headers=b.staff.headers
    )
    assert guests.status_code == 422 and _error(guests)["details"][0]["type"] == "control_character"
    for query in ("q=%00", "q=%E8%AF%BB%1F"):
        search = await client.get(f"/api/v1/communities/{b.b}/books?{query}", headers=b.chen.headers)
        assert search.status_code == 422 and _error(search)["details"][0]["field"] == "q"
    share = await client.get("/api/v1/shares/ab%00cd", headers=b.chen.headers)
    assert share.status_code == 422


async def test_dates_far_outside_reason_are_refused(client, b):
    far = await client.post(
        f"/api/v1/communities/{b.b}/activities",
        json={
            "title": "t",
            "category": "culture",
            "location": "活动室",
            "capacity": 5,
            "start_at": "9999-12-05T14:00:00+08:00",
            "end_at": "9999-12-05T16:00:00+08:00",
        },
        headers=b.staff.headers,
    )
    assert far.status_code == 422 and {d["type"] for d in _error(far)["details"]} == {"datetime_out_of_range"}
    assert _error(far)["message"].startswith("start_at：应在 2000 年到 2100 年之间")
    space = await client.post(f"/api/v1/communities/{b.b}/spaces", json={"name": "活动室"}, headers=b.root.headers)
    closure = await client.post(
        f"/api/v1/spaces/{space.json()['id']}/closures",
        json={"starts_on": "0001-01-01", "ends_on": "2026-12-31"},
        headers=b.staff.headers,
    )
    assert closure.status_code == 422 and _error(closure)["details"][0]["type"] == "date_out_of_range"


# -- 3. times --------------------------------------------------------------------------------------


async def test_a_datetime_without_offset_is_community_time_and_every_answer_is_in_its_offset(client, b):
    made = await client.post(
        f"/api/v1/communities/{b.b}/activities",
        json={
            "title": "读书会",
            "category": "culture",
            "location": "活动室",
            "capacity": 5,
            "start_at": "2026-12-05T14:00",  # what a date picker sends
            "end_at": "2026-12-05T16:00:00",
            "checkin_opens_at": "2026-12-05T05:30:00Z",  # an offset given is kept: 13:30 in Shanghai
        },
        headers=b.staff.headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["start_at"], body["end_at"]) == ("2026-12-05T14:00:00+08:00", "2026-12-05T16:00:00+08:00")
    assert body["checkin_opens_at"] == "2026-12-05T13:30:00+08:00"
    moved = await client.patch(
        f"/api/v1/activities/{body['id']}",
        json={"start_at": "2026-12-05T15:00", "end_at": "2026-12-05T17:00"},
        headers=b.staff.headers,
    )
    assert moved.json()["start_at"] == "2026-12-05T15:00:00+08:00"
    assert datetime.fromisoformat(moved.json()["start_at"]) == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


async def test_a_due_date_reads_the_same_from_the_desk_and_from_the_shelf(client, b):
    book = await client.post(
        f"/api/v1/communities/{b.b}/books", json={"title": "猜猜我有多爱你"}, headers=b.staff.headers
    )
    await client.post(f"/api/v1/books/{book.json()['id']}/copies", json={"barcode": "BQ1"}, headers=b.staff.headers)
    me = (await client.get("/api/v1/me", headers=b.chen.headers)).json()
    lent = await client.post(
        f"/api/v1/communities/{b.b}/loans",
        json={"barcode": "BQ1", "member_id": me["memberships"][0]["member_id"]},
        headers=b.staff.headers,
    )
    assert lent.status_code == 201, lent.text
    shelf = await client.get("/api/v1/me/loans", headers=b.chen.headers)
    (loan,) = [item for item in shelf.json()["loans"] if item["id"] == lent.json()["id"]]
    assert loan["due_at"] == lent.json()["due_at"] and loan["due_at"].endswith("+08:00")
    assert not datetimes_off_offset(shelf.json())


# -- 4. outages ------------------------------------------------------------------------------------


async def test_a_database_out_of_reach_is_a_503_with_retry_after_and_readyz_says_so_at_once(database_url):
    # nothing listens on port 9: connections are refused, as while PostgreSQL restarts
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/linli", database_connect_timeout_seconds=2)
    app = create_app(settings)
    try:
        async with api_client(app) as down:
            started = time.perf_counter()
            ready = await down.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"]
            assert time.perf_counter() - started < 10
            login_ = await down.post("/api/v1/auth/wechat/login", json={"code": "dev:chen"})
            assert login_.status_code == 503
            assert login_.headers["retry-after"] == "5"
            assert _error(login_)["code"] == "service_unavailable"
            assert "秒后重试" in _error(login_)["message"]
            assert (await down.get("/healthz")).status_code == 200  # the process itself is alive
    finally:
        await shutdown(app)


async def test_when_the_database_is_back_the_same_app_answers_again(app, client, b, is_postgres):
    """The pool checks each connection as it is taken and replaces a dead one: after every pooled
    connection was dropped, the next request is answered normally (no 503)."""
    if not is_postgres:
        pytest.skip("SQLite has no connections to drop")
    from sqlalchemy import text

    engine = app.state.db.engine
    async with engine.connect() as conn:  # warm the pool with a few connections, then cut them
        await conn.execute(text("SELECT 1"))
    from tests.conftest import _pg_admin_execute

    url = engine.url.render_as_string(hide_password=False)
    await _pg_admin_execute(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    again = await client.get("/api/v1/me", headers=b.chen.headers)
    assert again.status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200


async def test_query_path_and_nested_errors_name_their_field(client, b):
    limit = await client.get(f"/api/v1/communities/{b.b}/activities?limit=abc", headers=b.chen.headers)
    assert _error(limit)["message"] == "limit：应为 1–100 的整数" and _error(limit)["details"][0]["in"] == "query"
    path = await client.get("/api/v1/communities/abc/activities", headers=b.chen.headers)
    assert _error(path)["message"] == "community_id：应为正整数编号"
    kinds = await client.post(
        f"/api/v1/communities/{b.b}/announcements",
        json={"title": "t", "body": "b", "audience": {"kind": "everyone"}},
        headers=b.staff.headers,
    )
    assert _error(kinds)["message"] == "audience.kind：应为以下之一：community、buildings、children、team、activity"
    not_json = await client.post(f"/api/v1/communities/{b.b}/join", json=[1, 2], headers=b.chen.headers)
    assert _error(not_json)["message"] == "请求体应为 JSON 对象"
