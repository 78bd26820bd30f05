"""Notifications: notify() in the cause's transaction, the inbox, the credit ledger, WeChat pushes
through the worker (credits, field limits, retries, quiet hours, the shared token), reminders."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update

from api import clock
from api.db.models import Delivery, Notification, OutboxJob
from api.db.session import Database
from api.services.notifications import cancel_scheduled, catalogue, notify, schedule
from api.services.notifications.catalogue import NotificationKind
from api.services.notifications.delivery import reserve_send_slot
from api.wechat.client import WeChatClient
from tests.conftest import real_wechat_app
from tests.factories import Person, community, grant, join, login, platform_admin, subscribe
from workers import jobs  # noqa: F401 - registers the handlers
from workers.outbox import enqueue
from workers.registry import Registry, registry
from workers.runner import Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEND = "/cgi-bin/message/subscribe/send"
TEMPLATE = "tmpl-activity-start"
HELLO = NotificationKind(
    name="test.activity_start",
    label="活动开始提醒",
    params=frozenset({"activity_id", "activity_title", "start_at", "status", "place"}),
    title="{activity_title}就要开始了",
    body="{activity_title}将于{start_at}在{place}开始",
    page="pages/activities/detail?id={activity_id}",
    fields={"thing1": "{activity_title}", "time2": "{start_at}", "phrase3": "{status}", "thing4": "{place}"},
)
PARAMS: dict[str, Any] = {
    "activity_id": 7,
    "activity_title": "周六亲子阅读会",
    "start_at": datetime(2026, 11, 28, 1, 30, tzinfo=UTC),  # 09:30 in Shanghai
    "status": "已确认",
    "place": "B社区复合空间",
}


def handlers() -> Registry:
    """The real handlers without the periodic housekeeping, so that counts of jobs run are ours."""
    only = Registry()
    only.handlers = dict(registry.handlers)
    return only


@pytest.fixture(autouse=True)
def activity_start_kind(monkeypatch):
    monkeypatch.setitem(catalogue.KINDS, HELLO.name, HELLO)


@dataclass
class Env:
    client: httpx.AsyncClient
    fake: Any
    app: Any
    community_id: int = 0
    staff: Person | None = None

    @property
    def db(self) -> Database:
        return self.app.state.db

    def worker(self, name: str = "w1") -> Worker:
        return Worker(self.db, self.app.state.settings, self.app.state.wechat, handlers=handlers(), name=name)

    async def notify(self, people: list[Person], cause: str = "activity:7:start", **params: Any) -> int:
        async with self.db.session() as session:
            created = await notify(
                session,
                [p.user_id for p in people],
                HELLO.name,
                {**PARAMS, **params},
                cause,
                community_id=self.community_id,
            )
            await session.commit()
        return created

    async def deliveries(self, **query: Any) -> list[dict[str, Any]]:
        assert self.staff is not None
        response = await self.client.get(
            f"/api/v1/communities/{self.community_id}/deliveries", params=query, headers=self.staff.headers
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def credits(self, person: Person) -> int:
        listed = (await self.client.get("/api/v1/me/subscriptions", headers=person.headers)).json()
        return next(t["credits"] for t in listed if t["template_id"] == TEMPLATE)

    async def inbox(self, person: Person) -> dict[str, Any]:
        response = await self.client.get("/api/v1/me/inbox", headers=person.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def jobs(self, kind: str = "notifications.deliver") -> list[OutboxJob]:
        async with self.db.session(write=False) as session:
            rows = await session.execute(select(OutboxJob).where(OutboxJob.kind == kind).order_by(OutboxJob.id))
            return list(rows.scalars())


async def _setup(env: Env, *names: str) -> list[Person]:
    root = await platform_admin(env.client, env.db)
    b = await community(env.client, root)
    env.community_id = b["id"]
    env.staff = await login(env.client, "staff")
    await grant(env.client, root, b["id"], env.staff, "staff")
    people = []
    for i, name in enumerate(names):
        person = await login(env.client, name)
        await join(env.client, person, b["id"], "1栋", "1单元", str(101 + i))
        people.append(person)
    return people


@pytest.fixture
async def wx(database_url):
    """Real WeChat mode against the in-process fake WeChat, with a template for the test kind."""
    async with real_wechat_app(database_url, wechat_templates={HELLO.name: {"template_id": TEMPLATE}}) as (c, f, a):
        yield Env(c, f, a)


@pytest.fixture
def dev(client, app):
    """Fake WeChat mode, as `make run` has it: every kind has a demo template."""
    return Env(client, None, app)


# -- notify() and the inbox ----------------------------------------------------------------------


async def test_notify_exists_exactly_when_its_cause_commits(dev):
    (chen,) = await _setup(dev, "chen")
    await subscribe(dev.client, chen, "demo-test-activity_start")

    async with dev.db.session() as session:
        await notify(session, [chen.user_id], HELLO.name, PARAMS, "activity:7:start", community_id=dev.community_id)
        await session.rollback()  # the booking that caused it failed
    assert (await dev.inbox(chen))["items"] == []
    assert await dev.jobs() == []

    assert await dev.notify([chen]) == 1
    inbox = await dev.inbox(chen)
    (entry,) = inbox["items"]
    assert entry["title"] == "周六亲子阅读会就要开始了"
    assert entry["body"] == "周六亲子阅读会将于2026-11-28 09:30在B社区复合空间开始"  # community time
    assert entry["page"] == "pages/activities/detail?id=7"
    assert (entry["read_at"], inbox["unread_count"]) == (None, 1)
    assert len(await dev.jobs()) == 1

    # the same cause again (a retried request, a job run twice) notifies nobody twice
    assert await dev.notify([chen]) == 0
    assert len((await dev.inbox(chen))["items"]) == 1
    assert len(await dev.jobs()) == 1


async def test_the_inbox_pages_counts_and_marks_read(dev):
    chen, zhou = await _setup(dev, "chen", "zhou")
    for n in range(25):
        await dev.notify([chen], cause=f"activity:{n}:start", activity_id=n)
    await dev.notify([zhou], cause="activity:99:start")

    seen, cursor = [], None
    while True:
        page = (
            await dev.client.get(
                "/api/v1/me/inbox", params={"limit": 10, **({"cursor": cursor} if cursor else {})}, headers=chen.headers
            )
        ).json()
        assert page["unread_count"] == 25
        seen += [item["page"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"pages/activities/detail?id={n}" for n in reversed(range(25))]  # newest first, each once

    first = (await dev.inbox(chen))["items"][0]
    read = await dev.client.post(f"/api/v1/me/inbox/{first['id']}/read", headers=chen.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert (await dev.inbox(chen))["unread_count"] == 24
    # someone else's message does not exist for zhou
    other = await dev.client.post(f"/api/v1/me/inbox/{first['id']}/read", headers=zhou.headers)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "notification_not_found"

    everything = await dev.client.post("/api/v1/me/inbox/read-all", headers=chen.headers)
    assert everything.json() == {"updated": 24}
    assert (await dev.inbox(chen))["unread_count"] == 0
    unread = await dev.client.get("/api/v1/me/inbox", params={"unread": "true"}, headers=chen.headers)
    assert unread.json()["items"] == []
    assert (await dev.inbox(zhou))["unread_count"] == 1


async def test_subscription_reports_keep_a_credit_ledger(dev):
    (chen,) = await _setup(dev, "chen")
    template = "demo-test-activity_start"
    listed = (await dev.client.get("/api/v1/me/subscriptions", headers=chen.headers)).json()
    entry = next(t for t in listed if t["template_id"] == template)
    assert entry["kinds"] == [{"kind": HELLO.name, "label": "活动开始提醒"}]
    assert (entry["credits"], entry["last_result"]) == (0, None)

    def report(result: str, key: str) -> Any:
        return dev.client.post(
            "/api/v1/me/subscriptions",
            json={"errMsg": "requestSubscribeMessage:ok", template: result, "unknown-tmpl": "accept"},
            headers={**chen.headers, "Idempotency-Key": key},
        )

    first = await report("accept", "tap-1")
    assert first.json()["ignored"] == ["unknown-tmpl"]
    retried = await report("accept", "tap-1")  # the phone retries the same report
    assert retried.headers["idempotent-replayed"] == "true"
    await report("accept", "tap-2")
    credits = {t["template_id"]: t["credits"] for t in (await report("reject", "tap-3")).json()["templates"]}
    assert credits[template] == 2  # a later "reject" leaves earlier grants
    banned = await report("ban", "tap-4")
    entry = next(t for t in banned.json()["templates"] if t["template_id"] == template)
    assert (entry["credits"], entry["last_result"]) == (0, "ban")

    bad = await dev.client.post("/api/v1/me/subscriptions", json={template: "maybe"}, headers=chen.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


# -- pushes --------------------------------------------------------------------------------------


async def test_a_push_takes_a_credit_and_fits_wechats_field_limits(wx):
    chen, zhou = await _setup(wx, "chen", "zhou")
    assert await subscribe(wx.client, chen, TEMPLATE, times=2) == 2
    long_title = "二〇二六年冬季社区亲子共读与手工绘本创作分享会第三期"  # 26 characters
    await wx.notify([chen, zhou], activity_title=long_title, status="候补转为已确认", place="B社区复合空间")

    assert await wx.worker().run_until_idle() == 1  # zhou holds no credit: inbox only
    (message,) = wx.fake.sent
    assert message["touser"] == "dev-chen"
    assert message["template_id"] == TEMPLATE
    assert message["page"] == "pages/activities/detail?id=7"
    assert message["miniprogram_state"] == "formal"
    data = {k: v["value"] for k, v in message["data"].items()}
    assert data["thing1"] == long_title[:19] + "…" and len(data["thing1"]) == 20
    assert data["time2"] == "2026-11-28 09:30"
    assert data["phrase3"] == "候补转为…"
    assert data["thing4"] == "B社区复合空间"
    assert await wx.credits(chen) == 1
    assert len((await wx.inbox(zhou))["items"]) == 1

    (delivery,) = await wx.deliveries()
    assert (delivery["recipient"]["display_name"], delivery["status"], delivery["attempts"]) == ("chen", "sent", 1)
    assert delivery["request"]["data"] == message["data"]
    detail = (await wx.client.get(f"/api/v1/deliveries/{delivery['id']}", headers=wx.staff.headers)).json()
    assert [(a["outcome"], a["errcode"]) for a in detail["attempt_log"]] == [("sent", None)]


async def test_a_delivery_job_run_twice_sends_once(wx):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE, times=3)
    await wx.notify([chen])
    (job,) = await wx.jobs()
    async with wx.db.session() as session:  # the same job queued twice
        await enqueue(session, "notifications.deliver", job.payload)
        await session.commit()
    assert await wx.worker().run_until_idle() == 2
    # and a finished job that runs again (its worker lost the lease after sending)
    async with wx.db.session() as session:
        await session.execute(update(OutboxJob).where(OutboxJob.id == job.id).values(status="pending"))
        await session.commit()
    assert await wx.worker("w2").run_until_idle() == 1
    assert len(wx.fake.sent) == 1
    assert await wx.credits(chen) == 2
    (delivery,) = await wx.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("sent", 1)


async def test_43101_zeroes_the_ledger_and_later_causes_stay_in_the_inbox(wx):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE, times=3)
    await wx.notify([chen])
    wx.fake.fail_next(SEND, 43101, "user refuse to accept the msg")
    await wx.worker().run_until_idle()
    (delivery,) = await wx.deliveries()
    assert (delivery["status"], delivery["errcode"]) == ("no_credit", 43101)
    assert await wx.credits(chen) == 0
    assert [j.status for j in await wx.jobs()] == ["done"]  # not retried

    await wx.notify([chen], cause="activity:8:start")
    assert await wx.worker().run_until_idle() == 0  # no credit: no push planned
    assert wx.fake.sent == [] and len(await wx.deliveries()) == 1
    assert len((await wx.inbox(chen))["items"]) == 2


@pytest.mark.parametrize(
    "failure",
    [
        {"errcode": -1, "errmsg": "system error"},
        {"errcode": 45009, "errmsg": "reach max api daily quota limit"},
        {"exc": httpx.ReadTimeout("timed out")},
    ],
    ids=["busy", "rate-limited", "timeout"],
)
async def test_retryable_errors_are_retried_with_backoff(wx, failure):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE)
    clock.freeze(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    await wx.notify([chen])
    wx.fake.fail_next(SEND, **failure)
    worker = wx.worker()
    assert await worker.run_once() == 1
    (delivery,) = await wx.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert await wx.credits(chen) == 1  # WeChat did not take it: the credit is kept
    first, retry = await wx.jobs()
    assert first.status == "done"  # the delivery retries on its own job
    assert retry.payload == {"delivery_ids": [delivery["id"]]}
    assert retry.status == "pending" and 8 <= (retry.run_at - clock.now()).total_seconds() <= 12
    assert await worker.run_once() == 0  # waits for its backoff

    clock.advance(timedelta(seconds=12))
    assert await worker.run_once() == 1
    (delivery,) = await wx.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    detail = (await wx.client.get(f"/api/v1/deliveries/{delivery['id']}", headers=wx.staff.headers)).json()
    assert [a["outcome"] for a in detail["attempt_log"]] == ["retry", "sent"]
    assert len(wx.fake.sent) == 1 and await wx.credits(chen) == 0


@pytest.mark.parametrize("errcode", [40003, 47003, 40037, 41030])
async def test_permanent_errors_are_recorded_and_not_retried(wx, errcode):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE)
    await wx.notify([chen])
    wx.fake.fail_next(SEND, errcode, "scripted")
    await wx.worker().run_until_idle()
    clock.advance(timedelta(hours=2))
    assert await wx.worker().run_until_idle() == 0
    (delivery,) = await wx.deliveries()
    assert (delivery["status"], delivery["errcode"], delivery["attempts"]) == ("failed", errcode, 1)
    assert wx.fake.count(SEND) == 1
    assert await wx.credits(chen) == 1
    assert [j.status for j in await wx.jobs()] == ["done"]


async def test_a_push_that_keeps_failing_gives_up_after_the_last_attempt(wx):
    (chen, zhou) = await _setup(wx, "chen", "zhou")
    await subscribe(wx.client, chen, TEMPLATE)
    await subscribe(wx.client, zhou, TEMPLATE)
    await wx.notify([chen, zhou])  # one job for both
    wx.fake.failing_users["dev-chen"] = {"errcode": -1, "errmsg": "system error"}
    for _ in range(4):  # LINLI_WORKER_MAX_ATTEMPTS is 3 in the tests
        await wx.worker().run_once()
        clock.advance(timedelta(minutes=5))
    chens, zhous = sorted(await wx.deliveries(), key=lambda d: d["recipient"]["display_name"])
    assert (chens["status"], chens["attempts"], chens["errcode"]) == ("failed", 3, None)
    assert "busy" in chens["error"]
    assert (zhous["status"], zhous["attempts"]) == ("sent", 1)  # one resident's trouble holds up nobody else
    assert [j.status for j in await wx.jobs()] == ["done"] * 3  # the batch, then chen's two retries
    assert [m["touser"] for m in wx.fake.sent] == ["dev-zhou"] and await wx.credits(chen) == 1


async def test_a_template_mapping_that_exceeds_nothing_still_sends_short_values_untouched(wx):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE)
    await wx.notify([chen], activity_title="读书会", status="已确认", place="")
    await wx.worker().run_until_idle()
    data = {k: v["value"] for k, v in wx.fake.sent[0]["data"].items()}
    assert data == {"thing1": "读书会", "time2": "2026-11-28 09:30", "phrase3": "已确认", "thing4": "-"}


async def test_a_push_whose_mapping_no_longer_fits_its_entry_fails_cleanly(wx, monkeypatch):
    """An entry written before a deploy changed the kind's template mapping: nothing half-sent."""
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE)
    await wx.notify([chen])
    changed = NotificationKind(**{**HELLO.__dict__, "fields": {"thing1": "{activity_title}", "amount2": "{price}"}})
    monkeypatch.setitem(catalogue.KINDS, HELLO.name, changed)
    await wx.worker().run_until_idle()
    (delivery,) = await wx.deliveries()
    assert delivery["status"] == "failed" and "{price}" in delivery["error"]
    assert wx.fake.count(SEND) == 0 and await wx.credits(chen) == 1
    assert len((await wx.inbox(chen))["items"]) == 1


def test_a_template_configuration_that_could_not_be_sent_is_refused_at_start(database_url):
    from api.main import create_app
    from tests.conftest import make_settings

    good = {HELLO.name: {"template_id": "t1", "fields": {"thing1": "{activity_title}", "time2": "{start_at}"}}}
    catalogue.check_templates(make_settings(database_url, wechat_templates=good))
    bad = {
        "no.such.kind": {"template_id": "t1"},
        HELLO.name: {"template_id": "t2", "fields": {"title": "{activity_title}", "thing2": "{price}"}},
        "announcement": {"template_id": "t3", "page": "/pages/a?id={id}"},
    }
    with pytest.raises(ValueError) as refused:
        create_app(make_settings(database_url, wechat_templates=bad))
    message = str(refused.value)
    for problem in (
        "no.such.kind: no such notification kind",
        "'title' is not a template keyword",
        "thing2: {price} is not a param",
        "page: {id} is not a param",
        "no leading /",
    ):
        assert problem in message


async def test_notify_refuses_a_cause_without_the_kinds_params(dev):
    await _setup(dev)
    async with dev.db.session() as session:
        with pytest.raises(ValueError, match="needs the params"):
            await notify(session, [1], HELLO.name, {"activity_id": 1}, "x", community_id=dev.community_id)


def test_fit_follows_wechats_limits_per_keyword_type():
    fit = catalogue.fit
    assert fit("thing1", "一" * 20) == "一" * 20
    assert fit("thing1", "一" * 21) == "一" * 19 + "…"
    assert fit("thing1", "第一行\n第二行") == "第一行 第二行"
    assert fit("phrase2", "已确认") == "已确认"
    assert fit("name3", "欧阳娜娜娜娜娜娜娜娜娜") == "欧阳娜娜娜娜娜娜娜…"
    assert fit("name3", "Alexandra Montgomery-Smith") == "Alexandra Montgomer…"
    assert fit("number4", "第 12 位") == "12"
    assert fit("character_string5", "BK-2026-0001 候补") == "BK-2026-0001"
    assert fit("phone_number6", "138 0000 1234") == "13800001234"
    assert fit("time7", "2026-11-28 09:30~11:00") == "2026-11-28 09:30~11:00"
    with pytest.raises(ValueError):
        fit("title", "x")


# -- the shared access token ---------------------------------------------------------------------


async def test_the_token_is_fetched_once_by_concurrent_workers_and_refetched_on_40001(wx, database_url):
    people = await _setup(wx, "p0", "p1", "p2", "p3", "p4", "p5")
    for person in people:
        await subscribe(wx.client, person, TEMPLATE, times=2)
    await wx.notify(people)
    settings = wx.app.state.settings
    engines = [Database(database_url, settings=settings) for _ in range(3)]  # three worker processes
    try:
        workers = [
            Worker(d, settings, WeChatClient(settings, wx.app.state.http, d), handlers=handlers(), name=f"w{i}")
            for i, d in enumerate(engines)
        ]
        await asyncio.gather(*(w.run_until_idle() for w in workers))
        assert sorted(m["touser"] for m in wx.fake.sent) == [f"dev-p{i}" for i in range(6)]
        assert wx.fake.count("/cgi-bin/stable_token") == 1

        wx.fake.expire_token()  # WeChat stops accepting it: 40001, one refetch
        await wx.notify(people[:1], cause="activity:8:start")
        await workers[0].run_until_idle()
    finally:
        for d in engines:
            await d.dispose()
    assert len(wx.fake.sent) == 7
    assert wx.fake.count("/cgi-bin/stable_token") == 2
    tokens = [p["access_token"] for path, p in wx.fake.calls if path == SEND]
    assert tokens[-2:] == ["fake-access-token-1", "fake-access-token-2"]


# -- quiet hours ---------------------------------------------------------------------------------


async def test_quiet_hours_hold_pushes_until_morning_but_not_the_inbox(database_url):
    templates = {HELLO.name: {"template_id": TEMPLATE}}
    async with real_wechat_app(database_url, wechat_templates=templates, quiet_hours="21:30-08:00") as running:
        wx = Env(*running)
        clock.freeze(datetime(2026, 11, 24, 20, 0, tzinfo=SHANGHAI))
        (chen,) = await _setup(wx, "chen")
        await subscribe(wx.client, chen, TEMPLATE, times=2)
        clock.advance(timedelta(hours=2))  # 22:00
        await wx.notify([chen])
        assert len((await wx.inbox(chen))["items"]) == 1  # at once
        (job,) = await wx.jobs()
        assert job.run_at == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
        clock.advance(timedelta(hours=9, minutes=59))  # 07:59
        assert await wx.worker().run_until_idle() == 0
        clock.advance(timedelta(minutes=1))
        assert await wx.worker().run_until_idle() == 1
        assert len(wx.fake.sent) == 1

        # a retry whose backoff ends inside the quiet hours waits for the morning too, uncounted
        clock.freeze(datetime(2026, 11, 25, 21, 29, 55, tzinfo=SHANGHAI))
        await wx.notify([chen], cause="activity:8:start")
        wx.fake.fail_next(SEND, -1, "system error")
        await wx.worker().run_until_idle()
        clock.advance(timedelta(seconds=15))  # 21:30:10, the retry is due
        assert await wx.worker().run_once() == 1
        retry = (await wx.jobs())[-1]
        assert (retry.status, retry.attempts) == ("pending", 0)
        assert retry.run_at == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)
        assert len(wx.fake.sent) == 1


# -- reminders -----------------------------------------------------------------------------------


async def test_reminders_arrive_at_their_time_unless_their_cause_goes_away(dev):
    chen, zhou = await _setup(dev, "chen", "zhou")
    now = clock.now()
    async with dev.db.session() as session:
        for person, cause in ((chen, "booking:1:remind"), (zhou, "booking:2:remind")):
            await schedule(
                session,
                now + timedelta(hours=1),
                [person.user_id],
                HELLO.name,
                PARAMS,
                cause,
                community_id=dev.community_id,
            )
        await session.commit()
    async with dev.db.session() as session:
        assert await cancel_scheduled(session, "booking:2:remind") is True  # zhou cancelled the booking
        await session.commit()
    async with dev.db.session() as session:  # a reminder scheduled by a change that rolled back
        await schedule(
            session, now, [zhou.user_id], HELLO.name, PARAMS, "booking:3:remind", community_id=dev.community_id
        )
        await session.rollback()

    worker = dev.worker()
    await worker.run_until_idle()
    assert (await dev.inbox(chen))["items"] == []
    clock.advance(timedelta(hours=1))
    await worker.run_until_idle()
    assert [e["title"] for e in (await dev.inbox(chen))["items"]] == ["周六亲子阅读会就要开始了"]
    assert (await dev.inbox(zhou))["items"] == []


# -- the global send rate ------------------------------------------------------------------------


async def test_the_send_rate_is_shared_by_all_workers(db, database_url):
    clock.freeze(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    engines = [Database(database_url) for _ in range(2)]
    try:
        slots = await asyncio.gather(*(reserve_send_slot(engines[i % 2], 1000) for i in range(12)))
    finally:
        for d in engines:
            await d.dispose()
    ordered = sorted(s for s in slots if s is not None)
    assert len(set(ordered)) == 12
    assert ordered[0] == clock.now()
    assert all(b - a == timedelta(milliseconds=1) for a, b in itertools.pairwise(ordered))
    assert await reserve_send_slot(db, 0) is None  # 0: unlimited


# -- staff inspect pushes ------------------------------------------------------------------------


async def test_only_the_communitys_staff_inspect_its_pushes(wx):
    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE)
    await wx.notify([chen])
    await wx.worker().run_until_idle()
    (delivery,) = await wx.deliveries(status="sent")
    assert await wx.deliveries(status="failed") == []
    assert len(await wx.deliveries(cause="activity:7:start")) == 1

    as_resident = await wx.client.get(f"/api/v1/communities/{wx.community_id}/deliveries", headers=chen.headers)
    assert as_resident.status_code == 403
    assert (await wx.client.get(f"/api/v1/deliveries/{delivery['id']}", headers=chen.headers)).status_code == 403
    root = await login(wx.client, "root")
    other = await community(wx.client, root, "C社区")
    outsider = await login(wx.client, "c-staff")
    await grant(wx.client, root, other["id"], outsider, "staff")
    assert (await wx.client.get(f"/api/v1/deliveries/{delivery['id']}", headers=outsider.headers)).status_code == 403


# -- at scale, on real connections ---------------------------------------------------------------


async def test_concurrent_workers_and_duplicate_jobs_push_each_entry_once(wx, database_url):
    people = await _setup(wx, *(f"r{i}" for i in range(12)))
    for person in people:
        await subscribe(wx.client, person, TEMPLATE)
    await wx.notify(people)
    async with wx.db.session() as session:
        for job in await wx.jobs():
            await enqueue(session, "notifications.deliver", job.payload)  # every job twice
        await session.commit()
    settings = wx.app.state.settings.model_copy(update={"worker_batch_size": 3})
    engines = [Database(database_url, settings=settings) for _ in range(3)]
    try:
        workers = [
            Worker(d, settings, WeChatClient(settings, wx.app.state.http, d), handlers=handlers(), name=f"w{i}")
            for i, d in enumerate(engines)
        ]
        await asyncio.gather(*(w.run_until_idle() for w in workers))
    finally:
        for d in engines:
            await d.dispose()
    assert sorted(m["touser"] for m in wx.fake.sent) == sorted(f"dev-r{i}" for i in range(12))
    async with wx.db.session(write=False) as session:
        statuses = (await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all()
        entries = (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
    assert dict(statuses) == {"sent": 12}
    assert entries == 12


async def test_a_push_whose_worker_died_mid_send_goes_out_after_its_lease(wx):
    from api.services.notifications import delivery

    (chen,) = await _setup(wx, "chen")
    await subscribe(wx.client, chen, TEMPLATE, times=2)
    await wx.notify([chen])
    (job,) = await wx.jobs()
    settings = wx.app.state.settings
    # a worker claims the delivery (taking a credit), then dies before WeChat answers
    (delivery_id,) = job.payload["delivery_ids"]
    assert await delivery._claim(wx.db, settings, delivery_id) is not None
    assert await wx.credits(chen) == 1

    worker = wx.worker()
    await worker.run_until_idle()  # the job comes round: the delivery is still held
    (held,) = await wx.jobs()
    assert held.status == "pending" and held.run_at > clock.now()
    assert wx.fake.sent == []
    clock.advance(timedelta(seconds=settings.worker_lease_seconds + 2))
    await worker.run_until_idle()
    assert [m["touser"] for m in wx.fake.sent] == ["dev-chen"]
    (sent,) = await wx.deliveries()
    assert (sent["status"], sent["attempts"]) == ("sent", 2)
    assert await wx.credits(chen) == 1  # one message, one credit: the takeover took none


@pytest.mark.parametrize(
    "cursor", ["WyJ4Il0", "W251bGxd", "W1sxXV0", "WzEuNWUzMF0", "WzkyMjMzNzIwMzY4NTQ3NzU4MDhd", "not-base64!"]
)
async def test_malformed_cursors_are_400_not_500(dev, cursor):
    """["x"], [null], [[1]], [1.5e30], [2**63] and garbage."""
    (chen,) = await _setup(dev, "chen")
    for path, who in (
        ("/api/v1/me/inbox", chen),
        (f"/api/v1/communities/{dev.community_id}/deliveries", dev.staff),
        (f"/api/v1/communities/{dev.community_id}/households", dev.staff),
    ):
        response = await dev.client.get(path, params={"cursor": cursor}, headers=who.headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"


async def test_ids_beyond_64_bits_are_422_not_500(dev):
    (chen,) = await _setup(dev, "chen")
    huge = 2**70
    for method, path in (
        ("POST", f"/api/v1/me/inbox/{huge}/read"),
        ("GET", f"/api/v1/announcements/{huge}"),
        ("GET", f"/api/v1/deliveries/{huge}"),
        ("GET", f"/api/v1/households/{huge}"),
        ("GET", f"/api/v1/activities/{huge}"),
    ):
        response = await dev.client.request(method, path, headers=chen.headers)
        assert response.status_code == 422, path
    body = {"title": "t", "body": "b", "audience": {"kind": "team", "team_id": huge}}
    response = await dev.client.post(
        f"/api/v1/communities/{dev.community_id}/announcements", json=body, headers=dev.staff.headers
    )
    assert response.status_code == 422
