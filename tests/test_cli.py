"""The `linli` commands that `make run` and an operator use, against a fresh SQLite file."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import select

from api.cli import main
from api.config import get_settings
from api.db.models import Community, User
from api.db.session import Database
from api.logging import JsonFormatter, request_id_var


@pytest.fixture
def cli_database(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("LINLI_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _query(url, statement):
    async def run():
        db = Database(url)
        try:
            async with db.session(write=False) as session:
                return (await session.execute(statement)).scalars().all()
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_migrate_demo_and_create_admin(cli_database, capsys):
    assert main(["migrate"]) == 0
    assert main(["demo", "--if-empty"]) == 0
    assert main(["demo", "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "demo data loaded" in out and "demo not loaded" in out
    assert _query(cli_database, select(Community.name)) == ["B社区"]

    assert main(["create-admin", "o-new-admin"]) == 0
    assert main(["create-admin", "dev-staff"]) == 0
    admins = _query(cli_database, select(User.openid).where(User.is_platform_admin).order_by(User.openid))
    assert admins == ["dev-admin", "dev-staff", "o-new-admin"]


def test_log_lines_are_json_with_the_request_id():
    record = logging.LogRecord("linli.api", logging.INFO, __file__, 1, "request", (), None)
    record.status = 201
    token = request_id_var.set("req-42")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "request"
    assert line["request_id"] == "req-42"
    assert line["status"] == 201
    assert line["level"] == "info"
