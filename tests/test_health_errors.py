from __future__ import annotations

from sqlalchemy import text


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


async def test_readyz_refuses_a_schema_behind_the_code(client, db):
    async with db.engine.begin() as conn:
        (head,) = (await conn.execute(text("SELECT version_num FROM alembic_version"))).one()
        await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert error["details"]["migrations"] == {"current": "older", "head": head, "ok": False}
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


async def test_every_response_has_a_request_id_and_keeps_a_sane_one(client):
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    kept = await client.get("/healthz", headers={"X-Request-ID": "mini-abc_123"})
    assert kept.headers["x-request-id"] == "mini-abc_123"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


async def test_unknown_route_uses_the_error_envelope(client):
    response = await client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "找不到该资源", "details": None}}


async def test_validation_errors_use_the_envelope(client):
    response = await client.post("/api/v1/auth/wechat/login", json={"code": ""})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "code：应为 1–128 个字，不能为空"
    assert error["details"][0]["loc"] == ["body", "code"]
    assert error["details"][0]["field"] == "code"
    assert error["details"][0]["type"] == "string_too_short"

    malformed = await client.post(
        "/api/v1/auth/wechat/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "validation_error"
    assert malformed.json()["error"]["message"] == "请求体不是合法的 JSON"


async def test_a_bug_is_a_500_without_a_stack_trace(app, client):
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/boom", boom)
    response = await client.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    body = response.json()
    assert body == {
        "error": {
            "code": "internal_error",
            "message": "服务器开小差了，请稍后再试",
            "details": {"request_id": "trace-me"},
        }
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "trace-me"
