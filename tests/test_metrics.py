"""/metrics: who may read it (the token, or loopback without a proxy), what a request, a job, a
push and a photo leave in it, the outbox read from the database and what an outage leaves of it;
the worker's own endpoint in a real `linli worker` process; `linli serve --workers 2` adding its
processes' counts up, with one log line per request.

Metrics are process-wide and the suite shares its process: tests compare a scrape before with a
scrape after, never an absolute value (the outbox's, read from the emptied tables, aside)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from api import clock, metrics
from api.db.models import OutboxJob
from api.main import create_app, shutdown
from api.services.notifications import catalogue
from tests.conftest import MEDIA_DIR, TEST_SECRET, _empty_tables, make_settings, real_wechat_app
from tests.contract import api_client
from tests.factories import subscribe
from tests.live_servers import ROOT, _free_port
from tests.test_config import PRODUCTION
from tests.test_feed_media import Place, small_jpeg, upload
from tests.test_notifications import HELLO, SEND, TEMPLATE, Env, _setup
from workers import jobs  # noqa: F401 - registers the handlers
from workers.outbox import enqueue
from workers.registry import Registry
from workers.runner import PermanentJobError, Worker

TOKEN = "metrics-token-for-tests"
STARTUP_TRIES = 600  # × 0.1 s: a loaded machine takes a while to start two server processes
BEARER = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The series' value; a series the scrape does not have fails the test (KeyError)."""
    return samples[(name, frozenset(labels.items()))]


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a series grew; one the earlier scrape did not have yet started from 0."""
    return value(after, name, **labels) - before.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    response = await client.get("/metrics", headers=headers if headers is not None else BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@pytest.fixture
async def guarded(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with LINLI_METRICS_TOKEN set."""
    application = create_app(make_settings(database_url, metrics_token=TOKEN))
    try:
        async with api_client(application) as c:
            yield c, application
    finally:
        await _empty_tables(application.state.db)
        await shutdown(application)


# -- who may read ----------------------------------------------------------------------------------


async def test_metrics_are_refused_without_the_token_or_with_a_wrong_one(guarded):
    client, _app = guarded
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"]["code"] == "metrics_unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "linli_" not in refused.text
    # with a token set, being on this machine is not enough
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=BEARER)).status_code == 200
    # the operator's page, not the mini-program's: not in the published API
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_without_a_token_only_loopback_not_through_a_proxy_may_read(app, client):
    # httpx's in-process transport connects from 127.0.0.1
    assert (await client.get("/metrics")).status_code == 200
    # through a reverse proxy on this machine: the connection is local, the caller is not
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        proxied = await client.get("/metrics", headers={header: "127.0.0.1"})
        assert proxied.status_code == 401, header
        assert proxied.json()["error"]["code"] == "metrics_unauthorized"
    # from another machine, whatever it sends
    remote = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://linli.test") as outside:
        assert (await outside.get("/metrics")).status_code == 401
        assert (await outside.get("/metrics", headers={"Authorization": "Bearer anything"})).status_code == 401


async def test_in_production_only_the_token_opens_the_apis_metrics(database_url):
    # the API's port is where the reverse proxy sends the internet: a proxy that adds no
    # X-Forwarded-For would make every caller look local, so loopback alone opens nothing there
    for token, headers, status in (("", {}, 401), (TOKEN, {}, 401), (TOKEN, BEARER, 200)):
        application = create_app(make_settings(database_url, metrics_token=token, **PRODUCTION))
        try:
            async with api_client(application) as c:
                answer = await c.get("/metrics", headers=headers)
                assert answer.status_code == status, (token, headers)
                if status == 401:
                    assert answer.json()["error"]["code"] == "metrics_unauthorized"
        finally:
            await shutdown(application)


# -- what a request leaves -----------------------------------------------------------------------


async def test_a_request_shows_in_the_histogram_by_route_template_and_status(guarded):
    client, _app = guarded
    route = "/api/v1/communities/{community_id}"
    labels = {"method": "GET", "route": route, "status": "401"}
    before = await scrape(client)

    answered = await client.get("/api/v1/communities/987654")  # no one signed in
    assert answered.status_code == 401
    lost = await client.get("/no/such/page/555")
    assert lost.status_code == 404
    assert (await client.get("/console/static/console.css")).status_code == 200
    assert (await client.request("BREW", "/healthz")).status_code == 405

    after = await scrape(client)
    assert delta(before, after, "linli_http_requests_total", **labels) == 1
    histogram = "linli_http_request_duration_seconds"
    assert delta(before, after, f"{histogram}_count", **labels) == 1
    assert delta(before, after, f"{histogram}_bucket", **labels, le="+Inf") == 1
    assert delta(before, after, f"{histogram}_sum", **labels) > 0
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert delta(before, after, "linli_http_requests_total", **unmatched) == 1
    static = {"method": "GET", "route": "/console/static/{path}", "status": "200"}
    assert delta(before, after, "linli_http_requests_total", **static) == 1
    odd = {"method": "OTHER", "route": "/healthz", "status": "405"}  # any token is a method: one series for them
    assert delta(before, after, "linli_http_requests_total", **odd) == 1
    # never a raw path: no series per id
    assert not [key for key in after if any("987654" in v or "555" in v for _k, v in key[1])]
    # the scrape before this one is counted too (once answered), under its own route
    assert delta(before, after, "linli_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert value(after, "linli_http_requests_in_flight") == 1  # the scrape itself


# -- the outbox, read from the database --------------------------------------------------------------


async def test_the_outbox_gauges_show_a_due_job_a_waiting_job_and_a_dead_one(guarded):
    client, app = guarded
    now = clock.now()
    clock.freeze(now)
    async with app.state.db.session() as session:
        await enqueue(session, "metrics.test", {}, run_at=now - timedelta(minutes=7))
        await enqueue(session, "metrics.test", {}, run_at=now + timedelta(hours=1))  # not due yet
        await enqueue(session, "metrics.other", {}, run_at=now - timedelta(minutes=1), dedup_key="gone")
        await session.execute(update(OutboxJob).where(OutboxJob.dedup_key == "gone").values(status="dead"))
        await session.commit()

    samples = await scrape(client)
    assert value(samples, "linli_database_up") == 1
    assert value(samples, "linli_outbox_jobs", kind="metrics.test", state="pending") == 2
    assert value(samples, "linli_outbox_jobs", kind="metrics.other", state="dead") == 1
    assert value(samples, "linli_outbox_dead_jobs") == 1
    # the oldest due job's age: the dead one and the one not yet due do not count
    assert value(samples, "linli_outbox_oldest_due_seconds") == 7 * 60

    clock.advance(timedelta(seconds=30))
    assert value(await scrape(client), "linli_outbox_oldest_due_seconds") == 7 * 60 + 30


async def test_a_database_outage_leaves_the_process_metrics_and_database_up_0():
    # nothing listens on port 1: every connection is refused at once
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/linli"
    application = create_app(make_settings(unreachable, metrics_token=TOKEN))
    try:
        async with api_client(application) as client:
            before = await scrape(client)
            await client.get("/healthz")
            samples = await scrape(client)
            assert value(samples, "linli_database_up") == 0
            assert (
                delta(before, samples, "linli_http_requests_total", method="GET", route="/healthz", status="200") == 1
            )
            assert not [key for key in samples if key[0].startswith("linli_outbox_")]
    finally:
        await shutdown(application)


async def test_the_pool_gauges_show_connections_held_and_callers_waiting(guarded, is_postgres):
    client, app = guarded
    engine = app.state.db.engine
    async with engine.connect() as held:
        await held.execute(text("SELECT 1"))
        # the scrape's own connection has come back by the time the page is written: one is out
        assert value(await scrape(client), "linli_db_pool_in_use") == 1
    assert value(await scrape(client), "linli_db_pool_in_use") == 0

    # every connection the pool may open taken (api.db.session: 20 on PostgreSQL; SQLAlchemy's
    # 5 + 10 overflow on SQLite), then one more asked for
    capacity = 20 if is_postgres else 15
    connections = [await engine.connect() for _ in range(capacity)]
    try:
        for connection in connections:
            await connection.execute(text("SELECT 1"))
        waiting = asyncio.create_task(engine.connect().start())
        for _ in range(STARTUP_TRIES):  # the moment to scrape: once that one is inside the checkout
            if value(parse(metrics.exposition().decode()), "linli_db_pool_waiting") >= 1:
                break
            await asyncio.sleep(0.01)
        samples = await scrape(client)  # its own query waits too, gives up after 3 s, and says so
        assert value(samples, "linli_db_pool_waiting") == 1
        assert value(samples, "linli_db_pool_in_use") == capacity
        assert value(samples, "linli_database_up") == 0
    finally:
        for connection in connections:
            await connection.close()
    await (await waiting).close()
    assert value(await scrape(client), "linli_db_pool_waiting") == 0


# -- jobs, pushes, photos ----------------------------------------------------------------------------


async def test_worker_jobs_are_counted_by_kind_and_outcome(guarded):
    client, app = guarded
    only = Registry()

    @only.job("metrics.ok")
    async def fine(_ctx: Any, _payload: dict[str, Any]) -> None:
        return None

    @only.job("metrics.broken")
    async def broken(_ctx: Any, _payload: dict[str, Any]) -> None:
        raise PermanentJobError("cannot be done")

    @only.job("metrics.flaky")
    async def flaky(_ctx: Any, _payload: dict[str, Any]) -> None:
        raise RuntimeError("try again")

    before = await scrape(client)
    async with app.state.db.session() as session:
        for kind in ("metrics.ok", "metrics.ok", "metrics.broken", "metrics.flaky"):
            await enqueue(session, kind, {})
        await session.commit()
    assert await Worker(app.state.db, app.state.settings, handlers=only).run_until_idle() == 4
    after = await scrape(client)

    def ran(kind: str, outcome: str) -> float:
        return delta(before, after, "linli_worker_jobs_total", kind=kind, outcome=outcome)

    assert (ran("metrics.ok", "done"), ran("metrics.broken", "dead"), ran("metrics.flaky", "failed")) == (2, 1, 1)
    assert ("linli_worker_jobs_total", frozenset({("kind", "metrics.ok"), ("outcome", "failed")})) not in after
    assert delta(before, after, "linli_worker_job_duration_seconds_count", kind="metrics.ok") == 2
    assert value(after, "linli_outbox_dead_jobs") == 1  # the broken one, parked


async def test_pushes_are_counted_by_status_and_wechat_errcode(database_url, monkeypatch):
    monkeypatch.setitem(catalogue.KINDS, HELLO.name, HELLO)
    async with real_wechat_app(database_url, wechat_templates={HELLO.name: {"template_id": TEMPLATE}}) as running:
        wx = Env(*running)
        (chen,) = await _setup(wx, "chen")
        await subscribe(wx.client, chen, TEMPLATE, times=2)
        refused = {"status": "failed", "errcode": "40003"}
        sent = {"status": "sent", "errcode": ""}
        before = await scrape(wx.client, {})

        await wx.notify([chen])
        wx.fake.fail_next(SEND, 40003, "invalid openid")
        await wx.worker().run_until_idle()
        await wx.notify([chen], cause="activity:8:start")
        await wx.worker().run_until_idle()

        after = await scrape(wx.client, {})
        assert [(d["status"], d["errcode"]) for d in await wx.deliveries()] == [("sent", None), ("failed", 40003)]
        assert delta(before, after, "linli_deliveries_total", **refused) == 1
        assert delta(before, after, "linli_deliveries_total", **sent) == 1


async def test_a_processed_photo_shows_in_the_processing_histogram(app, client, db):
    place = await Place().build(client, db)
    before = await scrape(client, {})
    response = await upload(client, place.chen, place.b, small_jpeg((640, 480)))
    assert response.status_code == 202, response.text
    await Worker(db, app.state.settings, app.state.wechat).run_until_idle()
    media = (await client.get(f"/api/v1/media/{response.json()['id']}", headers=place.chen.headers)).json()
    assert (media["status"], media["error"]) == ("checking", None)  # renditions made, WeChat's check under way
    after = await scrape(client, {})
    assert delta(before, after, "linli_photo_processing_seconds_count") == 1
    assert delta(before, after, "linli_photo_processing_seconds_sum") > 0
    # the requests and the job took their connections through the metered pool
    assert delta(before, after, "linli_db_pool_checkout_seconds_count") > 0


# -- real processes --------------------------------------------------------------------------------


def _environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LINLI_", "PROMETHEUS_"))}
    env.update(
        LINLI_DATABASE_URL=database_url,
        LINLI_JWT_SECRET=TEST_SECRET,
        LINLI_WECHAT_MODE="fake",
        LINLI_EMBEDDED_WORKER="false",
        LINLI_QUIET_HOURS="",
        LINLI_MEDIA_DIR=MEDIA_DIR,
        LINLI_WORKER_POLL_SECONDS="0.1",
        LINLI_METRICS_TOKEN=TOKEN,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


async def _start(*args: str, env: dict[str, str], cwd: Path, **kwargs: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "api.cli", *args, env=env, cwd=cwd, **kwargs)


async def _wait_for(url: str, headers: dict[str, str], process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(STARTUP_TRIES):
            assert process.returncode is None, "the process exited"
            try:
                await http.get(url, headers=headers)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_the_worker_process_serves_its_own_metrics_with_the_token(app, db, database_url, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    worker = await _start(
        "worker",
        cwd=tmp_path,
        env=_environment(database_url, LINLI_WORKER_METRICS_PORT=str(port), LINLI_LOG_LEVEL="WARNING"),
    )
    try:
        await _wait_for(url, BEARER, worker)
        async with httpx.AsyncClient() as http:
            refused = await http.get(url)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "metrics_unauthorized"
            assert (await http.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
            assert (await http.get(f"http://127.0.0.1:{port}/other", headers=BEARER)).status_code == 404

            done = {"kind": "feed.drop_upload", "outcome": "done"}
            before = parse((await http.get(url, headers=BEARER)).text)
            async with db.session() as session:
                await enqueue(session, "feed.drop_upload", {"key": "incoming/metrics-test/nothing"})
                await session.commit()
            for _ in range(STARTUP_TRIES):
                after = parse((await http.get(url, headers=BEARER)).text)
                if ("linli_worker_jobs_total", frozenset(done.items())) in after:
                    break
                await asyncio.sleep(0.1)
            assert delta(before, after, "linli_worker_jobs_total", **done) == 1
            assert value(after, "linli_worker_job_duration_seconds_count", kind="feed.drop_upload") >= 1
            # the outbox gauges are the API's alone, so that their alerts fire once
            assert not [key for key in after if key[0].startswith("linli_outbox_")]
    finally:
        await _stop(worker)
    assert worker.returncode == 0


async def test_two_server_processes_answer_for_both_with_one_log_line_per_request(database_url, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")  # cleared at start
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        server = await _start(
            *("serve", "--port", str(port), "--workers", "2"),
            cwd=tmp_path,
            env=_environment(database_url, LINLI_LOG_LEVEL="INFO", PROMETHEUS_MULTIPROC_DIR=str(directory)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            await _wait_for(f"{base}/healthz", {}, server)
            # both processes up: each made its live gauges' file at import
            for _ in range(STARTUP_TRIES):
                if len(_pids(directory, "gauge_livesum_")) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(_pids(directory, "gauge_livesum_")) == 2
            async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as http:
                answers = await asyncio.gather(*(http.get(f"{base}/healthz") for _ in range(40)))
                assert all(a.status_code == 200 for a in answers)
                assert (await http.get(f"{base}/metrics")).status_code == 401
                scraped = parse((await http.get(f"{base}/metrics", headers=BEARER)).text)
        finally:
            await _stop(server)
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    healthz_lines = [
        line
        for line in (json.loads(raw) for raw in log_path.read_text().splitlines() if raw.startswith("{"))
        if line.get("path") == "/healthz"
    ]
    # whichever process answered the scrape, it counted every request either process answered
    assert value(scraped, "linli_http_requests_total", **labels) == len(healthz_lines) >= 41
    # each request logged once, by our middleware (uvicorn's access log is off), with its request id
    assert {line["message"] for line in healthz_lines} == {"request"}
    assert len({line["request_id"] for line in healthz_lines}) == len(healthz_lines)
    assert all(line["route"] == "/healthz" and line["status"] == 200 for line in healthz_lines)
    assert not directory.exists() or not list(directory.glob("counter_1.db"))


def _pids(directory: Path, prefix: str) -> set[str]:
    return {path.stem.removeprefix(prefix) for path in directory.glob(f"{prefix}*.db")}


def test_counts_written_by_two_processes_add_up(tmp_path):
    """prometheus-client's multiprocess mode as `linli serve` uses it, without a server: two
    processes count into one directory, and the sum is what a scrape reads."""
    script = (
        "from api import metrics\n"
        "for _ in range({n}):\n"
        "    metrics.observe_request('POST', '/api/v1/activities/{{activity_id}}/bookings', 201, 0.02)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", script.format(n=n)], env=env, check=True, cwd=tmp_path)
    reader = subprocess.run(
        [sys.executable, "-c", "import sys; from api import metrics; sys.stdout.buffer.write(metrics.exposition())"],
        env=env,
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    samples = parse(reader.stdout.decode())
    labels = {"method": "POST", "route": "/api/v1/activities/{activity_id}/bookings", "status": "201"}
    assert value(samples, "linli_http_requests_total", **labels) == 7
    assert value(samples, "linli_http_request_duration_seconds_count", **labels) == 7
    assert value(samples, "linli_http_request_duration_seconds_bucket", **labels, le="0.025") == 7
    assert value(samples, "linli_http_request_duration_seconds_bucket", **labels, le="0.01") == 0
    assert len(_pids(tmp_path, "counter_")) == 2
