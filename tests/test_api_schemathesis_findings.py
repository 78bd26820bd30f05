"""What the property-based run over the OpenAPI (test_api_schemathesis.py) found, pinned down one by
one so that each stays fixed whatever the run happens to generate."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from api import clock
from tests.factories import community, grant, login, platform_admin

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


async def test_every_error_a_route_can_answer_is_documented_in_the_envelope(app):
    schema = app.openapi()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components  # FastAPI's 422 shape, which Linli never sends
    assert components["ErrorResponse"]["required"] == ["error"]
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        assert responses["422"]["content"] == envelope, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == envelope, (method, path, status)
                assert response["description"] and not re.search(r"[a-z]{4,} [a-z]{4,}", response["description"])
        if path.startswith("/api/v1/") and "Idempotency-Key" in {p["name"] for p in operation.get("parameters", [])}:
            assert {"401", "404", "409", "503"} <= set(responses), (method, path)
            assert "Retry-After" in responses["503"]["headers"]
    booking = schema["paths"]["/api/v1/activities/{activity_id}/bookings"]["post"]["responses"]
    assert sorted(booking) == ["201", "400", "401", "403", "404", "409", "413", "422", "503"]
    login_ = schema["paths"]["/api/v1/auth/wechat/login"]["post"]["responses"]
    assert {"401", "429", "503"} <= set(login_)  # WeChat's refusal, rate limit and outage
    assert "429" in login_ and "Retry-After" in login_["429"]["headers"]
    upload = schema["paths"]["/api/v1/media"]["post"]["responses"]
    assert {"413", "415"} <= set(upload)
    ready = schema["paths"]["/readyz"]["get"]["responses"]["503"]
    assert "not_ready" in ready["description"] and "Retry-After" in ready["headers"]
    assert "401" not in schema["paths"]["/api/v1/certificates/{number}"]["get"]["responses"]  # no login there


async def test_a_json_body_that_is_not_utf8_is_refused_like_any_malformed_json(client):
    for body in (b'{"code": "\xff\xfe"}', b"\xe4\xbd"):
        response = await client.post(
            "/api/v1/auth/wechat/login", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("validation_error", "请求体不是合法的 JSON")


async def test_a_month_of_the_loop_outside_2000_to_2100_is_a_422_not_a_crash(client, db):
    # found as GET /communities/1/loop?month=0000-01 → 500 (strptime: year 0 is out of range)
    clock.freeze(NOW)
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    for month in ("0000-01", "1999-12", "9999-12", "2101-01"):
        response = await client.get(f"/api/v1/communities/{b}/loop?month={month}", headers=staff.headers)
        assert response.status_code == 422, month
        assert response.json()["error"]["details"][0]["field"] == "month"
    for month in ("2000-01", "2100-12", "2026-11"):
        response = await client.get(f"/api/v1/communities/{b}/loop?month={month}", headers=staff.headers)
        assert response.status_code == 200 and response.json()["month"] == month


async def test_a_time_of_day_is_local_without_an_offset_as_documented(app, client, db):
    # found as GET /communities/1/shift-rules: "14:00:00" against `format: time`, which needs an offset
    clock.freeze(NOW)
    rule_read = app.openapi()["components"]["schemas"]["RuleRead"]["properties"]["starts"]
    assert rule_read["format"] == "partial-time"
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    rule = {"role": "开馆值班", "weekdays": ["tue"], "ends": "18:00", "needed": 1, "active_from": "2026-12-01"}
    path = f"/api/v1/communities/{b}/shift-rules"
    offset = await client.post(path, json={**rule, "starts": "14:00+08:00"}, headers=staff.headers)
    assert offset.status_code == 422
    (detail,) = offset.json()["error"]["details"]
    assert (detail["field"], detail["type"]) == ("starts", "timezone_not_allowed")
    assert offset.json()["error"]["message"] == "starts：应为社区当地的钟点，不带时区，如 14:00"
    made = await client.post(path, json={**rule, "starts": "14:00"}, headers=staff.headers)
    assert made.status_code == 201, made.text
    (listed,) = (await client.get(path, headers=staff.headers)).json()
    assert (listed["starts"], listed["ends"]) == ("14:00:00", "18:00:00")
    assert re.fullmatch(rule_read["pattern"], listed["starts"])
