"""Real server processes for the concurrency tests: N `linli serve` subprocesses on the test
database, with the suite's settings (its JWT secret, so that a token issued in-process or by
api.security is accepted by every process), and one HTTP client that deals its requests out to
them in turn. PostgreSQL only: several processes on one SQLite file would test SQLite's file
locking, not the service (SQLite is served by one process, one writer).

    async with live_servers(database_url, 2) as http:
        await http.post("/api/v1/...")   # 1st process, then the 2nd, then the 1st…

The `crowd` fixture is the client a test's concurrent part goes through, parametrized indirectly:
"in-process" (the suite's ASGI client) or "two processes"."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import api
from tests.contract import check_response

ROOT = Path(api.__file__).resolve().parent.parent  # the tree whose `api` the tests import
READY_SECONDS = 60.0
STOP_SECONDS = 15.0
PROCESSES = {"in-process": 0, "two processes": 2}


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next server in turn, over that server's own keep-alive pool of
    at most `connections` connections; counts the answers each gave (`answered`)."""

    def __init__(self, ports: list[int], connections: int, ready: asyncio.Task[Any]) -> None:
        # idle connections are dropped well before the server's keep-alive (uvicorn: 5 s) would
        # close them: a request sent on a connection the server is closing gets no answer
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=1.0)
        self.ports = ports
        self.answered: Counter[int] = Counter()
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in ports]
        self._turn = 0
        self.ready = ready

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.ready.done():  # the first requests wait for the processes to be ready
            await asyncio.shield(self.ready)
        self.ready.result()
        index, self._turn = self._turn, (self._turn + 1) % len(self.ports)
        port = self.ports[index]
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        request.headers["Host"] = f"127.0.0.1:{port}"
        response = await self._pools[index].handle_async_request(request)
        self.answered[port] += 1
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


async def until_ready(http: httpx.AsyncClient) -> None:
    """Wait until every process of a live_servers client is ready (at once for any other client)."""
    transport = http._transport
    if isinstance(transport, RoundRobin):
        await asyncio.shield(transport.ready)
        transport.ready.result()


def served(http: httpx.AsyncClient) -> Counter[int]:
    """How many answers each server process of a live_servers client gave, by port."""
    transport = http._transport  # httpx keeps the transport it was given there
    assert isinstance(transport, RoundRobin)
    return transport.answered


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(database_url: str) -> dict[str, str]:
    """The suite's settings (conftest.settings_values) as LINLI_ variables, and nothing else of
    the developer's LINLI_ environment; the subprocess runs outside the tree so no .env is read."""
    from tests.conftest import settings_values

    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    for name, value in settings_values(database_url).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"LINLI_{name.upper()}"] = text
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


class Server:
    def __init__(self, database_url: str, workdir: str) -> None:
        self.port = _free_port()
        self.log_path = os.path.join(workdir, f"serve-{self.port}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=_environment(database_url),
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    async def ready(self, http: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_SECONDS
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"linli serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                response = await http.get(f"http://127.0.0.1:{self.port}/readyz", timeout=5.0)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"linli serve on port {self.port} was not ready in {READY_SECONDS:.0f} s:\n{self.log()}")

    async def stop(self) -> None:
        """SIGTERM (uvicorn finishes what is in flight, closes its pool), then SIGKILL if it hangs."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(self.process.wait, STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    await asyncio.to_thread(self.process.wait)
        finally:
            self._log.close()


@asynccontextmanager
async def live_servers(database_url: str, count: int, connections: int = 50) -> AsyncIterator[httpx.AsyncClient]:
    """`count` server processes on the database, and a client that spreads requests over them
    (its transport, a RoundRobin, tells how many each answered). The processes start at once and
    the client's first requests wait until all are ready, so a test can set up in-process while
    they boot. They are stopped on the way out, whatever happened, before the suite empties the
    tables."""
    if not database_url.startswith("postgresql"):
        raise RuntimeError("live servers need PostgreSQL")
    workdir = tempfile.mkdtemp(prefix="linli-live-")
    servers: list[Server] = []
    ready: asyncio.Task[None] | None = None

    async def all_ready() -> None:
        async with httpx.AsyncClient() as probe:
            await asyncio.gather(*(s.ready(probe) for s in servers))

    try:
        for _ in range(count):
            servers.append(Server(database_url, workdir))
        ready = asyncio.create_task(all_ready())
        async with httpx.AsyncClient(
            transport=RoundRobin([s.port for s in servers], connections, ready),
            base_url="http://linli.test",
            event_hooks={"response": [check_response]},
            timeout=httpx.Timeout(120.0, pool=None),
        ) as http:
            yield http
    finally:
        if ready is not None:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in servers))
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def crowd(request: pytest.FixtureRequest, client: httpx.AsyncClient, database_url: str) -> AsyncIterator[Any]:
    """The client for a test's concurrent part: `request.param` is "in-process" (the suite's own
    client) or "two processes" (two `linli serve` on the same database; PostgreSQL only)."""
    count = PROCESSES[request.param]
    if count == 0:
        yield client
        return
    if not database_url.startswith("postgresql"):
        pytest.skip("separate server processes on one SQLite file are not a deployment")
    async with live_servers(database_url, count) as http:
        yield http
