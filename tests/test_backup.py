"""`linli backup` and `linli restore` through the CLI against a real database: the demo community
backed up, wiped (file or database and photo store gone) and restored gives the same rows and
photos, which the API then serves; a backup taken while the app writes restores with matching
counts; a newer release's backup, a damaged or unfinished one, and a target that is not empty are
refused with the target left as it was. On PostgreSQL (LINLI_TEST_DATABASE_URL) the same tests run
through pg_dump and pg_restore: skipped where they are missing, failed under CI=true."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from api.cli import main
from api.config import get_settings
from api.db.backup import table_summary
from api.db.models import Activity, Community
from api.db.session import Database
from api.main import create_app, shutdown
from tests.conftest import PG_URL, _pg_admin_execute, create_database, make_settings
from tests.contract import api_client
from tests.factories import login


@pytest.fixture(autouse=True)
def _pg_tools() -> None:
    require_pg_tools()


def require_pg_tools() -> None:
    if PG_URL and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        if os.environ.get("CI") == "true":
            pytest.fail("pg_dump and pg_restore must be on the PATH in CI")
        pytest.skip("pg_dump or pg_restore is not on the PATH")


class Installation:
    """A database and a photo store, and `linli` run against them (as an operator's shell would,
    with LINLI_DATABASE_URL and LINLI_MEDIA_DIR set)."""

    def __init__(self, url: str, cleanup: Any, media: Path) -> None:
        self.url = url
        self.cleanup = cleanup
        self.media = media

    def linli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
            patch.setenv("LINLI_DATABASE_URL", self.url)
            patch.setenv("LINLI_MEDIA_DIR", str(self.media))
            patch.setenv("LINLI_LOG_LEVEL", "WARNING")
            patch.setenv("LINLI_STORAGE", "local")
            get_settings.cache_clear()
            try:
                code = main(list(argv))
            finally:
                get_settings.cache_clear()
        return code, out.getvalue(), err.getvalue()

    def wipe(self) -> None:
        """The disaster: the database and every photo gone; an empty database of the same name back."""
        shutil.rmtree(self.media, ignore_errors=True)
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(str(url.database) + suffix).unlink(missing_ok=True)
        else:
            name = url.database
            asyncio.run(_pg_admin_execute(PG_URL or "", f'DROP DATABASE "{name}" WITH (FORCE)'))
            asyncio.run(_pg_admin_execute(PG_URL or "", f'CREATE DATABASE "{name}"'))


@pytest.fixture
def installations(tmp_path: Path) -> Iterator[Any]:
    made: list[Installation] = []

    def make() -> Installation:
        url, cleanup = asyncio.run(create_database())
        installation = Installation(url, cleanup, tmp_path / f"media-{len(made)}")
        made.append(installation)
        return installation

    yield make
    for installation in made:
        asyncio.run(installation.cleanup())


def _run(url: str, work: Any) -> Any:
    async def go() -> Any:
        db = Database(url)
        try:
            async with db.engine.connect() as connection:
                return await work(connection)
        finally:
            await db.dispose()

    return asyncio.run(go())


def counts(url: str) -> dict[str, int]:
    """Rows per table, counted with count(*) (not the backup's own code)."""

    async def work(connection: Any) -> dict[str, int]:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
        return {name: (await connection.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one() for name in names}

    result: dict[str, int] = _run(url, work)
    return result


def checksums(url: str) -> dict[str, str]:
    async def work(connection: Any) -> dict[str, str]:
        return (await table_summary(connection)).checksums

    result: dict[str, str] = _run(url, work)
    return result


def files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def is_empty(installation: Installation) -> bool:
    url = make_url(installation.url)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        return not files(installation.media) if installation.media.exists() else True
    return not counts(installation.url) and (not installation.media.exists() or not files(installation.media))


@dataclass
class DemoBackup:
    """The demo community, what it held when it was backed up, and the backup."""

    source: Installation
    backup: Path
    rows: dict[str, int]
    sums: dict[str, str]
    photos: dict[str, str]
    out: str


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBackup]:
    root = tmp_path_factory.mktemp("demo")
    url, cleanup = asyncio.run(create_database())
    source = Installation(url, cleanup, root / "media")
    try:
        assert source.linli("migrate")[0] == 0
        assert source.linli("demo")[0] == 0
        rows, sums, photos = counts(url), checksums(url), files(source.media)
        code, out, err = source.linli("backup", str(root / "backup"))
        assert code == 0, err
        yield DemoBackup(source, root / "backup", rows, sums, photos, out)
    finally:
        asyncio.run(cleanup())


@pytest.fixture
def backup(demo_backup: DemoBackup, tmp_path: Path) -> Path:
    """A copy of the demo's backup, for a test to damage."""
    copy = tmp_path / "backup"
    shutil.copytree(demo_backup.backup, copy)
    return copy


def test_backup_wipe_restore_gives_back_the_same_rows_and_photos(demo_backup: DemoBackup) -> None:
    demo, rows, sums, photos = demo_backup.source, demo_backup.rows, demo_backup.sums, demo_backup.photos
    assert rows["activities"] > 0 and rows["bookings"] > 0 and len(photos) > 0  # the demo has photos
    assert f"{sum(rows.values())} rows" in demo_backup.out
    manifest = json.loads((demo_backup.backup / "manifest.json").read_text())
    assert {name: table["rows"] for name, table in manifest["tables"].items()} == rows
    assert manifest["revision"] == "0014_booking_counters"
    assert {name[len("media/") :] for name in manifest["files"] if name.startswith("media/")} == set(photos)

    demo.wipe()
    assert is_empty(demo)
    code, out, err = demo.linli("restore", str(demo_backup.backup))
    assert code == 0, err
    assert "match the backup" in out

    assert counts(demo.url) == rows
    assert checksums(demo.url) == sums
    assert files(demo.media) == photos

    async def through_the_api() -> None:
        app = create_app(make_settings(demo.url, media_dir=str(demo.media)))
        try:
            async with api_client(app) as client:
                db: Database = app.state.db
                async with db.session(write=False) as session:
                    community_id = (await session.execute(select(Community.id))).scalar_one()
                    full = (
                        await session.execute(
                            select(Activity.id, Activity.waiting).where(Activity.waiting > 0).limit(1)
                        )
                    ).one()
                chen = await login(client, "chen")
                detail = await client.get(f"/api/v1/activities/{full.id}", headers=chen.headers)
                assert detail.status_code == 200, detail.text
                assert detail.json()["waitlist"] == full.waiting

                feed = await client.get(f"/api/v1/communities/{community_id}/feed", headers=chen.headers)
                assert feed.status_code == 200, feed.text
                urls = [
                    photo["urls"]["thumb"]
                    for post in feed.json()["items"]
                    for photo in post.get("photos", [])
                    if photo.get("urls")
                ]
                assert urls, feed.json()
                served = await client.get(urls[0])
                assert served.status_code == 200
                assert hashlib.sha256(served.content).hexdigest() in photos.values()
        finally:
            await shutdown(app)

    asyncio.run(through_the_api())


def test_a_backup_taken_while_the_app_writes_restores_with_matching_counts(installations: Any, tmp_path: Path) -> None:
    source, target = installations(), installations()
    assert source.linli("migrate")[0] == 0
    stop, written = threading.Event(), []

    def writer() -> None:
        async def write() -> None:
            db = Database(source.url)
            try:
                while not stop.is_set():
                    async with db.session() as session:
                        await session.execute(
                            text(
                                "INSERT INTO users (openid, display_name, is_platform_admin, created_at, updated_at)"
                                " VALUES (:openid, '写入中', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                            ),
                            {"openid": f"o-writer-{len(written)}"},
                        )
                        await session.commit()
                    written.append(1)
            finally:
                await db.dispose()

        asyncio.run(write())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(written) < 20:
            assert thread.is_alive() and time.monotonic() < deadline, "the writer stopped before writing 20 users"
            threading.Event().wait(0.01)
        before = len(written)
        code, _, err = source.linli("backup", str(tmp_path / "backup"))
        after = len(written)
    finally:
        stop.set()
        thread.join()
    assert code == 0, err
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert before <= manifest["tables"]["users"]["rows"] <= after + 1
    assert after > before  # the writer went on while the backup ran

    code, _, err = target.linli("restore", str(tmp_path / "backup"))
    assert code == 0, err  # the restore checks what it restored against the manifest
    assert counts(target.url)["users"] == manifest["tables"]["users"]["rows"]


def _fix_manifest(backup: Path, change: Any) -> None:
    path = backup / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_restoring_a_newer_releases_backup_is_refused(backup: Path, installations: Any) -> None:
    _fix_manifest(backup, lambda manifest: manifest.update(revision="0099_from_a_later_release"))
    target = installations()

    code, _, err = target.linli("restore", str(backup))
    assert code == 1
    assert "0099_from_a_later_release" in err and "does not know" in err
    assert is_empty(target)


def test_restoring_into_a_database_with_tables_is_refused(backup: Path, installations: Any) -> None:
    target = installations()
    assert target.linli("migrate")[0] == 0
    assert target.linli("create-admin", "o-existing")[0] == 0
    before = counts(target.url)

    code, _, err = target.linli("restore", str(backup))
    assert code == 1
    assert "restore into a new" in err
    assert counts(target.url) == before
    assert not target.media.exists()


def test_restoring_into_a_photo_store_with_files_is_refused(backup: Path, installations: Any) -> None:
    target = installations()
    (target.media / "media").mkdir(parents=True)
    (target.media / "media" / "other.jpg").write_bytes(b"someone else's photo")

    code, _, err = target.linli("restore", str(backup))
    assert code == 1
    assert "LINLI_MEDIA_DIR" in err
    assert not counts(target.url)
    assert files(target.media) == {"media/other.jpg": hashlib.sha256(b"someone else's photo").hexdigest()}


def test_a_damaged_or_unfinished_backup_is_refused(backup: Path, installations: Any) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    target = installations()

    database = backup / manifest["database_file"]
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))
    photo = next(name for name in manifest["files"] if name.startswith("media/"))
    (backup / photo).unlink()
    code, _, err = target.linli("restore", str(backup))
    assert code == 1
    assert "damaged" in err and manifest["database_file"] in err and photo in err
    assert is_empty(target)

    (backup / "manifest.json").unlink()  # as a backup cut short before its manifest was written
    code, _, err = target.linli("restore", str(backup))
    assert code == 1
    assert "did not finish" in err
    assert is_empty(target)


def test_backup_needs_a_new_directory(installations: Any, tmp_path: Path) -> None:
    source = installations()
    assert source.linli("migrate")[0] == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")

    code, _, err = source.linli("backup", str(tmp_path / "taken"))
    assert code == 1
    assert "not an empty directory" in err
    assert [path.name for path in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_a_failed_backup_leaves_nothing_behind(installations: Any, tmp_path: Path) -> None:
    source = installations()  # an empty PostgreSQL database, or no SQLite file at all
    url = make_url(source.url)
    if url.get_backend_name() == "postgresql":
        source.url = url.set(database=url.database + "_missing").render_as_string(hide_password=False)

    code, _, err = source.linli("backup", str(tmp_path / "backup"))
    assert code == 1
    assert err.startswith("backup failed:")
    assert not (tmp_path / "backup").exists()
