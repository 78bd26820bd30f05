"""Property-based test of the whole API (schemathesis over the app's own OpenAPI document).

For every operation, schemathesis generates requests from the documented schema — valid ones and,
just as many, invalid ones — and each is sent as a resident (`dev:chen`), as staff (`dev:staff`) and
as an admin of the demo community (`dev:admin`, who is platform admin too), in that order. Every
answer must:

- not be a 5xx;
- have a documented status, content type, headers and body (the error envelope included);
- refuse what the schema says is invalid (a 4xx for a wrong type, an unknown field, a missing value);
- keep the contract of tests/contract.py: datetimes in +08:00, error messages without English.

The app runs in-process against the test database (SQLite, or PostgreSQL with
LINLI_TEST_DATABASE_URL) loaded with the demo (`linli demo`). Generated ids are mixed with the ids of
the demo's objects (activities, bookings, posts, books, shifts…), in paths, queries and bodies, so
that requests get past their 404s to the rules behind them; a value replaced is always by another
valid one, so an invalid request stays invalid. The run is deterministic (the same requests every
time, so that CI does not fail at random on a bug nobody touched); to explore, run it with
`LINLI_FUZZ_RANDOM=1` and more examples, e.g. `LINLI_FUZZ_EXAMPLES=100`. The worker does not run;
what the requests change is emptied after the module, as after every other test.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from sqlalchemy import text

from api.demo.loader import load_demo
from api.main import create_app, shutdown
from api.pagination import MAX_ID
from tests.conftest import _empty_tables, make_settings
from tests.contract import problems

# examples per operation and mode: 148 operations × 3 roles, about two minutes on a busy 2-core machine
EXAMPLES = int(os.environ.get("LINLI_FUZZ_EXAMPLES", "6"))
ROLES = {"resident": "chen", "staff": "staff", "admin": "admin"}


def _openapi() -> dict[str, Any]:
    """The document /openapi.json serves (it does not depend on the database)."""
    schema: dict[str, Any] = create_app(make_settings("sqlite+aiosqlite:///:memory:")).openapi()
    return schema


CONFIG = SchemathesisConfig.from_dict(
    {
        # generation is bounded by max-examples; a slow or heavily filtered operation is fine here
        "suppress-health-check": ["all"],
        "generation": {
            "max-examples": EXAMPLES,
            "deterministic": not os.environ.get("LINLI_FUZZ_RANDOM"),
            "database": "none",
        },
        # no links between operations for a stateful phase. The coverage phase (boundary values of
        # every parameter) takes three times as long; tried with LINLI_FUZZ_COVERAGE=1, it found
        # nothing the contract tests do not already pin down
        "phases": {
            "examples": {"enabled": True},
            "fuzzing": {"enabled": True},
            "coverage": {"enabled": bool(os.environ.get("LINLI_FUZZ_COVERAGE"))},
            "stateful": {"enabled": False},
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
        },
    }
)
SCHEMA = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)


# -- real objects ----------------------------------------------------------------------------------

# the demo's objects, by the name of the parameter or field that refers to them (filled by `world`)
KNOWN: dict[str, list[Any]] = {}
ID_TABLES = {
    "community_id": "communities",
    "space_id": "spaces",
    "closure_id": "space_closures",
    "household_id": "households",
    "member_id": "members",
    "user_id": "users",
    "activity_id": "activities",
    "series_id": "series",
    "booking_id": "bookings",
    "block_id": "booking_blocks",
    "book_id": "books",
    "copy_id": "book_copies",
    "loan_id": "loans",
    "hold_id": "holds",
    "team_id": "teams",
    "shift_id": "shifts",
    "rule_id": "shift_rules",
    "signup_id": "shift_signups",
    "record_id": "service_records",
    "story_id": "volunteer_stories",
    "announcement_id": "announcements",
    "notification_id": "notifications",
    "delivery_id": "notification_deliveries",
    "post_id": "posts",
    "comment_id": "comments",
    "media_id": "media",
    "project_id": "service_projects",
    "submission_id": "report_submissions",
    "record_book_id": "record_books",
    "meeting_id": "meetings",
    "participant_id": "meeting_participants",
    "item_id": "agenda_items",
    "decision_id": "decisions",
    "follow_up_id": "follow_ups",
    "concern_id": "concerns",
    "concern_comment_id": "concern_comments",
    # -- surveys
    "survey_id": "surveys",
    # -- polls
    "poll_id": "polls",
    "objection_id": "poll_objections",
    "participation_id": "poll_participations",
    "elector_id": "poll_electors",
}
TEXT_COLUMNS = {
    "token": "SELECT token FROM shares ORDER BY id",
    "barcode": "SELECT barcode FROM book_copies ORDER BY id",
}
# fields named otherwise than the parameter of the same object
ALIASES = {
    "attendee_ids": "member_id",
    "member_ids": "member_id",
    "leader_ids": "user_id",
    "volunteer_id": "user_id",
    "media_ids": "media_id",
    "id": "target_id",  # a share's target: an activity or a post
    # -- polls
    "strike_elector_id": "elector_id",
    "add_member_id": "member_id",
    "add_household_id": "household_id",
    "photo_media_id": "media_id",
}
_PLAIN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _real(name: str, value: Any, operation: str) -> st.SearchStrategy[Any] | None:
    """Another value for `name` that names a real object, if `value` is a valid one to replace: an
    invalid value (negative testing) is left as it is."""
    pool = KNOWN.get(ALIASES.get(name, name))
    if not pool:
        return None
    # each operation starts from another object (hypothesis tries the first one first), so that the
    # activity one operation cancels is not the only one the next operations ever see
    turn = zlib.crc32(operation.encode()) % len(pool)
    pool = pool[turn:] + pool[:turn]
    if _is_id(value) and isinstance(pool[0], int):
        return st.sampled_from(pool)
    if isinstance(value, list) and value and all(_is_id(v) for v in value) and isinstance(pool[0], int):
        return st.lists(st.sampled_from(pool), min_size=1, max_size=len(value), unique=True)
    if isinstance(value, str) and _PLAIN.fullmatch(value) and isinstance(pool[0], str):
        return st.sampled_from(pool)
    return None


def _with_real_objects(context: Any, values: Any) -> st.SearchStrategy[Any]:
    if not isinstance(values, dict):
        return st.just(values)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, value in values.items():
        real = _real(name, value, context.operation.label)
        # two in three point at a real object
        fields[name] = st.just(value) if real is None else st.one_of(real, real, st.just(value))
    return st.fixed_dictionaries(fields)


@SCHEMA.hook("flatmap_path_parameters")
def _real_in_paths(context: Any, values: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _with_real_objects(context, values)


@SCHEMA.hook("flatmap_query")
def _real_in_queries(context: Any, values: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _with_real_objects(context, values)


@SCHEMA.hook("flatmap_body")
def _real_in_bodies(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return _with_real_objects(context, body)


# Bodies that pass the rules behind the schema (an end after the start, a seat for one's own
# household, a copy's real barcode), which random text seldom does. Half of the valid cases of these
# operations carry one instead of the generated body; invalid cases are never touched.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(days: int, hour: int) -> str:
    day = datetime.now(SHANGHAI) + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def _last_month() -> datetime:
    return datetime.now(SHANGHAI).replace(day=1) - timedelta(days=1)


def _known(name: str) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: st.sampled_from(KNOWN[name]))


_DAYS = st.integers(1, 14)
VALID_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "POST /api/v1/communities/{community_id}/activities": st.builds(
        lambda days, capacity, category: {
            "title": "周末亲子绘本",
            "category": category,
            "location": "复合空间",
            "capacity": capacity,
            "start_at": _local(days, 14),
            "end_at": _local(days, 16),
        },
        _DAYS,
        st.integers(1, 20),
        st.sampled_from(["children", "parent_child", "elders", "culture"]),
    ),
    "PATCH /api/v1/activities/{activity_id}": st.builds(lambda n: {"capacity": n}, st.integers(30, 60)),
    "POST /api/v1/activities/{activity_id}/bookings": st.one_of(
        st.just({}), st.builds(lambda m: {"attendee_ids": [m]}, _known("member_id"))
    ),
    "POST /api/v1/activities/{activity_id}/walkins": st.just({"guests": ["王阿姨"]}),
    "POST /api/v1/activities/{activity_id}/checkins": st.builds(lambda b: {"booking_id": b}, _known("booking_id")),
    "POST /api/v1/communities/{community_id}/posts": st.just({"body": "今天的绘本课，孩子们读得很认真"}),
    "POST /api/v1/posts/{post_id}/comments": st.just({"body": "下次还想参加"}),
    "POST /api/v1/shares": st.one_of(
        st.builds(lambda i: {"target": "activity", "id": i}, _known("activity_id")),
        st.builds(lambda i: {"target": "post", "id": i}, _known("post_id")),
    ),
    "POST /api/v1/communities/{community_id}/books": st.just({"title": "好饿的毛毛虫", "age_min": 3, "age_max": 6}),
    "POST /api/v1/communities/{community_id}/loans": st.builds(
        lambda b, m: {"barcode": b, "member_id": m}, _known("barcode"), _known("member_id")
    ),
    "POST /api/v1/communities/{community_id}/returns": st.builds(lambda b: {"barcode": b}, _known("barcode")),
    "POST /api/v1/books/{book_id}/holds": st.builds(lambda m: {"member_id": m}, _known("member_id")),
    "POST /api/v1/communities/{community_id}/announcements": st.just(
        {"title": "周六停水通知", "body": "周六上午停水。"}
    ),
    "POST /api/v1/communities/{community_id}/shifts": st.builds(
        lambda days: {"role": "活动签到", "start_at": _local(days, 9), "end_at": _local(days, 12), "needed": 2}, _DAYS
    ),
    "POST /api/v1/shifts/{shift_id}/signups": st.just({}),
    "POST /api/v1/communities/{community_id}/report-submissions": st.deferred(
        lambda: st.just({"period": f"{_last_month():%Y-%m}", "note": "报街道办"})
    ),
    "POST /api/v1/me/subscriptions": st.just(
        {"errMsg": "requestSubscribeMessage:ok", "demo-announcement": "accept", "demo-booking.confirmed": "reject"}
    ),
}


@SCHEMA.hook("flatmap_case")
def _valid_bodies(_context: Any, case: Any) -> st.SearchStrategy[Any]:
    valid = VALID_BODIES.get(case.operation.label)
    if valid is None or case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return st.just(case)

    def carrying(body: Any) -> Any:
        derived = case.derive(keep_auth=True)
        derived.body = body
        return derived

    # first: the simplest example hypothesis draws, the one every run makes, is the valid body
    return st.one_of(valid.map(carrying), st.just(case))


# -- the app ---------------------------------------------------------------------------------------


class _KeepsItsLifespan:
    """The app as schemathesis calls it. Schemathesis ends an ASGI app's lifespan after every test,
    and the app's own lifespan would close its WeChat client for good; only the database pool is let
    go then, because its connections belong to the event loop that made them (schemathesis's)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await self.app.state.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class World:
    client: Any
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def world(database_url: str) -> AsyncIterator[World]:
    app = create_app(make_settings(database_url))
    db = app.state.db
    await load_demo(db)
    async with db.session(write=False) as session:
        for name, table in ID_TABLES.items():
            KNOWN[name] = list((await session.execute(text(f"SELECT id FROM {table} ORDER BY id"))).scalars())
        for name, query in TEXT_COLUMNS.items():
            KNOWN[name] = list((await session.execute(text(query))).scalars())
    KNOWN["target_id"] = KNOWN["activity_id"] + KNOWN["post_id"]
    await db.dispose()  # from here on the app's pool lives in schemathesis's event loop
    try:
        # entered: the lifespan (and so the pool) is started again by the first request of each test
        with asgi.get_client(_KeepsItsLifespan(app)) as client:
            headers = {}
            for role, name in ROLES.items():
                response = client.post("/api/v1/auth/wechat/login", json={"code": f"dev:{name}"})
                assert response.status_code == 200, response.text
                headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            yield World(client, headers)
    finally:
        KNOWN.clear()
        asgi.shutdown_lifespans()  # the pool is let go in the loop that holds it
        await _empty_tables(db)
        await shutdown(app)


@SCHEMA.parametrize()
def test_every_operation_keeps_its_contract_for_every_role(case: Any, world: World) -> None:
    for role, headers in world.headers.items():
        response = case.call(session=world.client, headers=headers)
        try:
            case.validate_response(response, headers=headers)
        except AssertionError as failure:
            failure.add_note(f"as {role}")
            raise
        found = problems(response.status_code, response.headers.get("content-type", ""), response.content)
        assert not found, f"as {role}: {case.method} {case.formatted_path} → {response.status_code}: {found}"
