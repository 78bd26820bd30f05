"""What the benchmarks share: a fresh database, the real server in a subprocess, a bare HTTP/1.1
load generator (httpx tops out near 250 requests/s on a small machine and would measure itself),
and latency percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-" + "x" * 40
Request = tuple[str, str, dict[str, str], Any]


async def admin_execute(url: str, statement: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database on LINLI_BENCH_DATABASE_URL's server, dropped afterwards."""
    base = os.environ.get("LINLI_BENCH_DATABASE_URL", DEFAULT_URL)
    name = f"linli_bench_{uuid.uuid4().hex[:8]}"
    await admin_execute(base, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_JWT_SECRET": SECRET,
        "LINLI_EMBEDDED_WORKER": "false",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_WECHAT_MODE": "fake",
    }
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/linli"), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT
    )


async def wait_ready(port: int) -> None:
    for _ in range(150):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: bench\r\n\r\n")
            await writer.drain()
            status = (await reader.readline()).split()
            writer.close()
            if len(status) > 1 and status[1] == b"200":
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the server did not get ready")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


async def burst(
    port: int, concurrency: int, requests: list[tuple[str, str, dict[str, str], dict[str, Any] | None]]
) -> tuple[float, list[dict[str, Any]]]:
    """Send the requests over `concurrency` keep-alive connections; returns the wall time and, per
    request, when it was sent, its latency and its answer. A bare HTTP/1.1 client: httpx tops out
    near 250 requests/s on this machine and would measure itself instead of the server."""
    queue: asyncio.Queue[tuple[int, str, str, dict[str, str], Any]] = asyncio.Queue()
    for index, request in enumerate(requests):
        queue.put_nowait((index, *request))
    results: list[dict[str, Any]] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                results.append(await _exchange(reader, writer, *queue.get_nowait()))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, results


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    index: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    sent: float | None = None,
) -> dict[str, Any]:
    """One request and its answer on a keep-alive connection; latency from `sent` (when it was due,
    for paced load: waiting for a free connection counts) or from the write."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = "".join(
        [
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\n",
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n",
            *(f"{k}: {v}\r\n" for k, v in headers.items()),
            "\r\n",
        ]
    )
    sent = time.perf_counter() if sent is None else sent
    writer.write(head.encode() + payload)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    data = await reader.readexactly(length)
    return {
        "index": index,
        "sent": sent,
        "latency": time.perf_counter() - sent,
        "status": status,
        "body": json.loads(data) if data else None,
    }


async def paced(
    port: int, rate: float, connections: int, requests: list[tuple[str, str, dict[str, str], dict[str, Any] | None]]
) -> tuple[float, list[dict[str, Any]]]:
    """Send the requests at a steady `rate` per second (request i due at i / rate), each on the next
    free of `connections` keep-alive connections; a request's latency runs from when it was due, so
    a server falling behind shows as latency rather than as a slower sender."""
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    started = time.perf_counter()

    async def one(index: int, request: tuple[str, str, dict[str, str], Any]) -> dict[str, Any]:
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await idle.get()
        try:
            return await _exchange(reader, writer, index, *request, sent=due)
        finally:
            idle.put_nowait((reader, writer))

    results = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    elapsed = time.perf_counter() - started
    while not idle.empty():
        idle.get_nowait()[1].close()
    return elapsed, list(results)
