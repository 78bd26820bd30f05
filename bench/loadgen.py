"""What the benchmarks share: a fresh database, the real server in a subprocess, a bare HTTP/1.1
load generator (httpx tops out near 250 requests/s on a small machine and would measure itself),
and latency percentiles."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
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


def _python() -> str:
    venv = ROOT / ".venv/bin/python"
    return str(venv) if venv.exists() else sys.executable


@functools.cache
def serve_has_workers() -> bool:
    """Whether this tree's `linli serve` takes `--workers N`."""
    shown = subprocess.run(
        [_python(), "-m", "api.cli", "serve", "--help"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return "--workers" in shown.stdout


def start_server(url: str, port: int, workers: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The real server, this tree's code (`python -m api.cli` from the project root, not the
    installed `linli` script, which may be another checkout's). `workers` > 1: uvicorn's worker
    processes under one supervisor, through `linli serve --workers N` when it has the option,
    else uvicorn's own command line with the same app factory."""
    environment = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_JWT_SECRET": SECRET,
        "LINLI_EMBEDDED_WORKER": "false",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_WECHAT_MODE": "fake",
        **(env or {}),
    }
    address = ["--host", "127.0.0.1", "--port", str(port)]
    if workers == 1:
        command = [_python(), "-m", "api.cli", "serve", *address]
    elif serve_has_workers():
        command = [_python(), "-m", "api.cli", "serve", *address, "--workers", str(workers)]
    else:
        command = [
            _python(),
            "-m",
            "uvicorn",
            "api.main:build_app",
            "--factory",
            *address,
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    return subprocess.Popen(command, env=environment, cwd=ROOT)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's supervisor and its worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rpartition(b")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def _stat_fields(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split()  # after the command name, which may hold spaces


def cpu_seconds(pids: list[int], children: bool = False) -> float:
    """utime + stime of the processes (plus the CPU of their exited, reaped children if
    `children`), in seconds; a process gone meanwhile counts 0."""
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        # fields[0] is the state (field 3 of proc(5)): utime, stime, cutime, cstime are fields 14-17
        ticks += int(fields[11]) + int(fields[12])
        if children:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (postmaster and backends), if any."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", "rb") as f:
                    if f.read().strip() == b"postgres":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, which is counted in user already
    return total - idle, total


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


def _encode(method: str, path: str, headers: dict[str, str], body: Any) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = "".join(
        [
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\n",
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n",
            *(f"{k}: {v}\r\n" for k, v in headers.items()),
            "\r\n",
        ]
    )
    return head.encode() + payload


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one answer: the head in one read up to its blank line, the body by
    its Content-Length (the server always sends one)."""
    head = await reader.readuntil(b"\r\n\r\n")
    at = head.lower().find(b"\r\ncontent-length:")
    length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
    return int(head[9:12]), await reader.readexactly(length) if length else b""


def _decoded(raw: list[tuple[int, float, float, int, bytes]]) -> list[dict[str, Any]]:
    return [
        {"index": i, "sent": sent, "latency": latency, "status": status, "body": json.loads(data) if data else None}
        for i, sent, latency, status, data in raw
    ]


async def burst(
    port: int, concurrency: int, requests: Sequence[tuple[str, str, dict[str, str], dict[str, Any] | None]]
) -> tuple[float, list[dict[str, Any]]]:
    """Send the requests over `concurrency` keep-alive connections, each taking the next request
    when its answer is in; returns the wall time and, per request (in the order answered), when it
    was sent, its latency, its status and its JSON body. A bare HTTP/1.1 client: httpx tops out
    near 250 requests/s on this machine and would measure itself instead of the server. To keep
    its own CPU small on the cores it shares with the server, the requests are encoded before the
    clock starts and the answers' JSON decoded after it stops."""
    encoded = [_encode(*request) for request in requests]
    pending = iter(range(len(encoded)))
    raw: list[tuple[int, float, float, int, bytes]] = []
    clock = time.perf_counter

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in pending:  # one iterator shared by every connection: each request taken once
                sent = clock()
                writer.write(encoded[index])
                status, data = await _answer(reader)
                raw.append((index, sent, clock() - sent, status, data))
        finally:
            writer.close()

    started = clock()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = clock() - started
    return elapsed, _decoded(raw)


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
    payload = _encode(method, path, headers, body)
    sent = time.perf_counter() if sent is None else sent
    writer.write(payload)
    status, data = await _answer(reader)
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
