"""`linli backup DEST` and `linli restore SRC`: a consistent copy of the database and the local
photo store, described by a manifest that a restore checks before and after it writes anything.

A backup directory holds the database (SQLite: `database.sqlite3`, a copy taken with SQLite's
online backup API, consistent while the API writes; PostgreSQL: `database.pgdump`, `pg_dump`'s
custom format), the local photo store under `media/`, and `manifest.json`, written last and
atomically: a directory without it is an unfinished backup and is refused. The manifest holds the
migration revision, the row count and a checksum of every table, and a sha256 of every file.

The counts and checksums describe the same snapshot as the dump. On PostgreSQL they are read in a
REPEATABLE READ transaction whose snapshot `pg_dump --snapshot` shares; on SQLite they are read
from the copy. A checksum is only compared within one engine: rows are hashed as the driver returns
them, in any order.

A restore goes into an empty database only: SQLite, a file that is missing or holds no tables;
PostgreSQL, a database whose schema has no tables, views or sequences (create it with createdb).
It checks the files' checksums and that this code knows the backup's migration before touching
anything, and checks the counts and checksums of what it restored afterwards. It does not migrate:
a backup of an older release is restored as it was and `linli migrate` upgrades it, as it upgrades
a live database (README, "Upgrading").

Messages are for the operator, in English (as the rest of cli.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import UUID

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from api import clock
from api.config import Settings
from api.db.migrate import alembic_config, head_revision, revision_of

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
MEDIA = "media"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class Tables:
    counts: dict[str, int]
    checksums: dict[str, str]


# -- table counts and checksums -----------------------------------------------------------------


def _normalise(value: Any) -> Any:
    """A row value as JSON, the same for the same stored value whichever connection read it."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # exact: the shortest text that reads back as the same float
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID, timedelta)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return str(value)


def _table_names(connection: Connection) -> list[str]:
    """Every table of the default schema."""
    return sorted(inspect(connection).get_table_names())


async def table_summary(connection: AsyncConnection) -> Tables:
    """Row count and sha256 of every table, read on `connection` (in its transaction)."""
    quote = connection.dialect.identifier_preparer.quote
    counts: dict[str, int] = {}
    checksums: dict[str, str] = {}
    for name in await connection.run_sync(_table_names):
        # Each row is hashed on its own and the table's checksum is taken over the sorted row
        # hashes: the same rows give the same checksum in whatever order the server returns them
        # (a text key sorts by the database's collation, which a restore onto another server may
        # not share).
        rows: list[bytes] = []
        result = await connection.stream(text(f"SELECT * FROM {quote(name)}"))  # noqa: S608 - names from the catalogue
        async for row in result:
            rows.append(hashlib.sha256(json.dumps([_normalise(v) for v in row], ensure_ascii=False).encode()).digest())
        rows.sort()
        counts[name] = len(rows)
        checksums[name] = hashlib.sha256(b"".join(rows)).hexdigest()
    return Tables(counts, checksums)


# -- files --------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _media_files(root: Path) -> Iterator[Path]:
    """The photo store's files; "~" marks a file still being written (api.media.storage)."""
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and "~" not in path.name:
                yield path


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _write_manifest(dest: Path, manifest: dict[str, Any]) -> None:
    temporary = dest / (MANIFEST + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, dest / MANIFEST)


def _app_version() -> str:
    try:
        return metadata.version("linli")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- PostgreSQL's tools -------------------------------------------------------------------------


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection as libpq's environment variables: the password never appears in argv."""
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value:
            env[variable] = str(value)
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on the PATH: install PostgreSQL's client tools of the server's major version "
            "(Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return found


async def _run(argv: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {stderr.decode(errors='replace').strip()}")


# -- backup -------------------------------------------------------------------------------------


def _prepare_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty directory: give a new one")
    dest.mkdir(parents=True, exist_ok=True)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _sqlite_engine(path: Path) -> AsyncEngine:
    return create_async_engine(URL.create("sqlite+aiosqlite", database=str(path)))


async def _backup_sqlite(url: URL, dest: Path) -> tuple[Tables, str | None]:
    source = _sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    copy = dest / SQLITE_FILE

    def online_backup() -> None:
        # the copy is one read transaction of the live file: consistent, while writers carry on (WAL)
        live = sqlite3.connect(source, timeout=30)
        target = sqlite3.connect(copy)
        try:
            live.backup(target)
        finally:
            target.close()
            live.close()
        _fsync(copy)

    await asyncio.to_thread(online_backup)
    engine = _sqlite_engine(copy)
    try:
        async with engine.connect() as connection:
            tables = await table_summary(connection)
            revision = await connection.run_sync(revision_of)
    finally:
        await engine.dispose()
    return tables, revision


async def _backup_postgresql(url: URL, engine: AsyncEngine, dest: Path) -> tuple[Tables, str | None]:
    pg_dump = _pg_tool("pg_dump")
    async with engine.connect() as connection:
        # pg_dump reads the snapshot of this transaction, which stays open until the counts are read
        connection = await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        async with connection.begin():
            # the transaction sits idle while pg_dump runs: a server that ends idle transactions
            # (common on managed PostgreSQL) would end it, and the snapshot with it
            await connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            await _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dest / PG_FILE}"], _libpq_env(url)
            )
            tables = await table_summary(connection)
            revision = await connection.run_sync(revision_of)
    await asyncio.to_thread(_fsync, dest / PG_FILE)
    return tables, revision


async def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Write a backup of the configured database and photo store to the new directory `dest`;
    returns its manifest. A backup that fails removes what it wrote, so the name can be used again."""
    await asyncio.to_thread(_prepare_dest, dest)
    try:
        return await _backup(settings, dest)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, dest, True)
        raise


async def _backup(settings: Settings, dest: Path) -> dict[str, Any]:
    url = make_url(settings.database_url)
    engine_name = url.get_backend_name()
    if engine_name == "sqlite":
        tables, revision = await _backup_sqlite(url, dest)
        database_file = SQLITE_FILE
    elif engine_name == "postgresql":
        engine = create_async_engine(url, connect_args={"timeout": settings.database_connect_timeout_seconds})
        try:
            tables, revision = await _backup_postgresql(url, engine, dest)
        finally:
            await engine.dispose()
        database_file = PG_FILE
    else:
        raise BackupError(f"cannot back up a {engine_name} database")

    files = {database_file: await asyncio.to_thread(sha256_file, dest / database_file)}
    media: dict[str, Any] = {"storage": settings.storage}
    if settings.storage == "local":
        files.update(await asyncio.to_thread(_copy_media_out, Path(settings.media_dir), dest / MEDIA))
    else:
        media["note"] = (
            f"photos stay in the S3 bucket {settings.s3_bucket!r}: "
            "the provider's versioning or replication backs them up"
        )
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": clock.now().isoformat(),
        "app_version": _app_version(),
        "engine": engine_name,
        "revision": revision,
        "database_file": database_file,
        "tables": {name: {"rows": tables.counts[name], "sha256": tables.checksums[name]} for name in tables.counts},
        "media": media,
        "files": files,
    }
    await asyncio.to_thread(_write_manifest, dest, manifest)
    return manifest


def _copy_media_out(root: Path, target: Path) -> dict[str, str]:
    files = {}
    for path in _media_files(root):
        relative = path.relative_to(root).as_posix()
        copy = target / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, copy)
        except FileNotFoundError:
            # deleted since it was listed (a risky photo dropped, an upload swept): the database
            # was copied before, so the backup may hold a row for it, as it would a moment later
            continue
        files[f"{MEDIA}/{relative}"] = sha256_file(copy)
    return files


# -- restore ------------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} has no {MANIFEST}: not a backup, or one that did not finish")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{path} is not a backup manifest of format {FORMAT_VERSION}")
    return manifest


def _check_files(src: Path, manifest: dict[str, Any]) -> None:
    damaged = []
    for relative, expected in sorted(manifest["files"].items()):
        path = src / relative
        outside = Path(relative).is_absolute() or ".." in Path(relative).parts
        if outside or not path.is_file() or sha256_file(path) != expected:
            damaged.append(relative)
    if damaged:
        raise BackupError("the backup is damaged: missing or changed files: " + ", ".join(damaged))


def check_revision(revision: str | None) -> None:
    """Refuse a backup whose migration this code does not have (a newer release's)."""
    if revision is None:
        raise BackupError("the backup has no migration revision: it is not of a Linli database")
    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"the backup is at migration {revision}, which this release does not know (its newest is "
            f"{head_revision()}): restore it with the release that made it, or a newer one"
        )


def _has_content(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


async def _sqlite_is_empty(path: Path) -> bool:
    if not await asyncio.to_thread(_has_content, path):
        return True
    engine = _sqlite_engine(path)
    try:
        async with engine.connect() as connection:
            names: list[str] = await connection.run_sync(_table_names)
            return not names
    finally:
        await engine.dispose()


async def _postgresql_is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
            )
        )
        return int(found.scalar_one()) == 0


def _media_root_is_empty(root: Path) -> bool:
    return not root.exists() or not any(path.is_file() for path in root.rglob("*"))


def _copy_sqlite_in(copy: Path, target: Path) -> None:
    """Put the copy at `target` in one rename; the empty database's WAL files go first, or SQLite
    would apply their pages to the restored file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".restore", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(copy, temporary)
        _fsync(Path(temporary))
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _copy_media_in(src: Path, root: Path, files: dict[str, str]) -> list[str]:
    """Copy the backup's photos into `root`; returns those whose copy does not match."""
    damaged = []
    prefix = MEDIA + "/"
    for relative, expected in sorted(files.items()):
        if not relative.startswith(prefix):
            continue
        target = root.joinpath(*relative[len(prefix) :].split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / relative, target)
        if sha256_file(target) != expected:
            damaged.append(relative)
    return damaged


async def restore(settings: Settings, src: Path) -> dict[str, Any]:
    """Restore the backup at `src` into the configured (empty) database and photo store, and check
    it against the manifest; returns the manifest."""
    manifest = read_manifest(src)
    url = make_url(settings.database_url)
    engine_name = url.get_backend_name()
    if manifest.get("engine") != engine_name:
        raise BackupError(f"the backup is of a {manifest.get('engine')} database; the configured one is {engine_name}")
    await asyncio.to_thread(_check_files, src, manifest)
    check_revision(manifest.get("revision"))
    media_root = Path(settings.media_dir)
    restores_media = settings.storage == "local" and any(name.startswith(MEDIA + "/") for name in manifest["files"])
    if restores_media and not await asyncio.to_thread(_media_root_is_empty, media_root):
        raise BackupError(
            f"the photo store {media_root} (LINLI_MEDIA_DIR) already has files: restore into an empty one"
        )

    if engine_name == "sqlite":
        target = _sqlite_path(url)
        if not await _sqlite_is_empty(target):
            raise BackupError(f"the database {target} already has tables: restore into a new file")
        await asyncio.to_thread(_copy_sqlite_in, src / SQLITE_FILE, target)
        engine = _sqlite_engine(target)
    else:
        engine = create_async_engine(url, connect_args={"timeout": settings.database_connect_timeout_seconds})
        try:
            if not await _postgresql_is_empty(engine):
                raise BackupError(f"the database {url.database} is not empty: restore into a new one (createdb)")
            pg_restore = _pg_tool("pg_restore")
            # one transaction: a restore that fails leaves the database as empty as it was
            await _run(
                [
                    pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--dbname={url.database}",
                    str(src / PG_FILE),
                ],
                _libpq_env(url),
            )
        except BaseException:
            await engine.dispose()
            raise
    try:
        async with engine.connect() as connection:
            tables = await table_summary(connection)
    finally:
        await engine.dispose()

    problems = _compare(manifest, tables)
    if restores_media:
        damaged = await asyncio.to_thread(_copy_media_in, src, media_root, manifest["files"])
        if damaged:
            problems.append("photos that differ after copying: " + ", ".join(damaged))
    if problems:
        raise BackupError("the restored data does not match the backup: " + "; ".join(problems))
    return manifest


def _compare(manifest: dict[str, Any], tables: Tables) -> list[str]:
    expected = manifest["tables"]
    problems = []
    missing = sorted(set(expected) - set(tables.counts))
    extra = sorted(set(tables.counts) - set(expected))
    if missing:
        problems.append("tables missing: " + ", ".join(missing))
    if extra:
        problems.append("tables not in the backup: " + ", ".join(extra))
    counts = [
        f"{name} ({tables.counts[name]} rows, the backup has {expected[name]['rows']})"
        for name in sorted(set(expected) & set(tables.counts))
        if tables.counts[name] != expected[name]["rows"]
    ]
    if counts:
        problems.append("row counts differ: " + ", ".join(counts))
    checksums = [
        name
        for name in sorted(set(expected) & set(tables.counts))
        if tables.counts[name] == expected[name]["rows"] and tables.checksums[name] != expected[name]["sha256"]
    ]
    if checksums:
        problems.append("contents differ: " + ", ".join(checksums))
    return problems
