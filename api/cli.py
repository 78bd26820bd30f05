"""`linli`: serve the API, run the worker, migrate, load demo data, make the first admin, back up and
restore."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.config import get_settings
from api.db.migrate import upgrade
from api.db.models import User
from api.db.session import Database
from api.logging import configure_logging
from api.metrics import MULTIPROC_ENV

log = logging.getLogger("linli.cli")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level)
    workers = args.workers or settings.web_concurrency
    if workers > 1 and settings.database_url.startswith("sqlite"):
        # correct (each process waits its turn for the write lock), but slower than one: say so
        log.warning("%d server processes on SQLite, which has one writer: one process serves it better", workers)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104 - only what is printed
    print(f"staff console: http://{shown}:{args.port}/console   API docs: http://{shown}:{args.port}/docs", flush=True)
    # Several processes answer on one port, and a scrape of /metrics reaches any one of them: each
    # writes its metrics into files in one directory, and the one that answers adds them all up
    # (prometheus-client's multiprocess mode). The directory is this run's: made empty now (counts
    # left by an earlier run would be added in), removed at the end unless the operator chose it.
    made: str | None = None
    directory = os.environ.get(MULTIPROC_ENV) or ""
    if directory:  # the operator's (with one process too): emptied all the same
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    elif workers > 1:
        directory = made = tempfile.mkdtemp(prefix="linli-metrics-")
        os.environ[MULTIPROC_ENV] = directory  # inherited by the server processes, which import afresh
    try:
        # each worker is a process of its own, started from the import string: its own app, pool and
        # lifespan (so its own gc.freeze() after start-up, and its own embedded worker if that is on)
        uvicorn.run(
            "api.main:build_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            proxy_headers=True,
            log_config=None,
            access_log=False,
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return 0


async def _worker() -> None:
    from api.media.storage import build_storage
    from api.metrics import WorkerMetricsServer
    from api.services.notifications import catalogue
    from api.wechat.client import WeChatClient, build_http_client
    from workers import jobs  # noqa: F401 - registers the handlers
    from workers.runner import Worker

    settings = get_settings()
    catalogue.check_templates(settings)
    storage = build_storage(settings)
    db = Database(settings.database_url, settings=settings, storage=storage)
    http = build_http_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics_server = None
    if settings.worker_metrics_port:
        metrics_server = WorkerMetricsServer(
            settings.worker_metrics_host, settings.worker_metrics_port, settings.metrics_token.get_secret_value()
        )
        where = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
        print(f"worker metrics: http://{where}/metrics", flush=True)
    gc.collect()  # as the API at start-up: what is loaded now is kept for good, out of the collector's way
    gc.freeze()
    try:
        await Worker(db, settings, WeChatClient(settings, http, db)).run_forever(stop)
    finally:
        if metrics_server is not None:
            await metrics_server.stop()
        await http.aclose()
        close = getattr(storage, "aclose", None)
        if close is not None:
            await close()
        await db.dispose()


async def _migrate() -> None:
    db = Database(get_settings().database_url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()


async def _demo(if_empty: bool) -> bool:
    from api.demo.loader import load_demo
    from api.media.storage import build_storage

    settings = get_settings()
    storage = build_storage(settings)  # the demo's photos go where the service will serve them from
    db = Database(settings.database_url, settings=settings, storage=storage)
    try:
        return await load_demo(db, if_empty=if_empty)
    finally:
        close = getattr(storage, "aclose", None)
        if close is not None:
            await close()
        await db.dispose()


async def _create_admin(openid: str) -> int:
    from api import clock

    db = Database(get_settings().database_url)
    try:
        async with db.session() as session:
            user = (await session.execute(select(User).where(User.openid == openid))).scalar_one_or_none()
            if user is None:
                now = clock.now()
                user = User(openid=openid, display_name="", created_at=now, updated_at=now)
                session.add(user)
            user.is_platform_admin = True
            await session.commit()
            return user.id
    finally:
        await db.dispose()


def _backup(dest: str) -> int:
    from api.db.backup import BackupError, backup

    try:
        manifest = asyncio.run(backup(get_settings(), Path(dest)))
    except (BackupError, OSError, SQLAlchemyError) as exc:  # what the operator can act on, without a traceback
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    rows = sum(table["rows"] for table in manifest["tables"].values())
    photos = sum(1 for name in manifest["files"] if name.startswith("media/"))
    print(f"backup written to {dest}: migration {manifest['revision']}, {rows} rows, {photos} photo files")
    if manifest["media"]["storage"] != "local":
        print(manifest["media"]["note"])
    return 0


def _restore(src: str) -> int:
    from api.db.backup import BackupError, restore
    from api.db.migrate import head_revision

    try:
        manifest = asyncio.run(restore(get_settings(), Path(src)))
    except (BackupError, OSError, SQLAlchemyError) as exc:  # what the operator can act on, without a traceback
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {src} (taken {manifest['created_at']}); counts and checksums match the backup")
    if manifest["revision"] != head_revision():
        print(f"the backup is at migration {manifest['revision']}: run `linli migrate` before starting the service")
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里) backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API (and, in development, an embedded worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="server processes sharing the port (default LINLI_WEB_CONCURRENCY, 1); each has its own database pool",
    )
    sub.add_parser("worker", help="run the outbox worker until SIGTERM")
    sub.add_parser("migrate", help="upgrade the database to the newest migration")
    demo = sub.add_parser("demo", help="load the demo community (B社区)")
    demo.add_argument("--if-empty", action="store_true", help="only when the database has no community yet")
    admin = sub.add_parser("create-admin", help="make a WeChat openid a platform admin")
    admin.add_argument("openid")
    backup = sub.add_parser("backup", help="copy the database and local photos to a new directory")
    backup.add_argument("dest", help="a directory that does not exist yet (or is empty)")
    restore = sub.add_parser("restore", help="restore a backup into an empty database and photo store")
    restore.add_argument("src", help="a directory written by `linli backup`")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(args)
    if args.command == "backup":
        return _backup(args.dest)
    if args.command == "restore":
        return _restore(args.src)
    if args.command == "worker":
        asyncio.run(_worker())
    elif args.command == "migrate":
        asyncio.run(_migrate())
        print("database is at the newest migration")
    elif args.command == "demo":
        loaded = asyncio.run(_demo(args.if_empty))
        print("demo data loaded" if loaded else "database already has data; demo not loaded")
    elif args.command == "create-admin":
        user_id = asyncio.run(_create_admin(args.openid))
        print(f"user {user_id} ({args.openid}) is a platform admin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
