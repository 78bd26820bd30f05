"""Meetings (议事会): their states and who may change them, what residents and other communities
see, participants and agenda, level-3 concerns landing on five-party meetings, attendance by the
on-site code and by staff, decisions, and publishing the minutes with what it does to concerns.

The concerns these tests need are raised by a resident, checked by the worker (the fake WeChat
passes their text), "me too"-ed and triaged by staff through the concerns API, and their state and
timeline are read back through `GET /concerns/{id}` as staff see them: so a concern's timeline
starts with its `submitted` and `accepted` events, and its raiser has heard of the acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api import clock
from api.db.models.governance import DECISION_METHODS, FOLLOW_UP_STATUSES, MEETING_KINDS, PARTIES
from api.security import onsite_code
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.test_concerns import drain
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings(database_url):
    # a month-long login, so that tests can move the clock across weeks
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def worker(app: Any) -> Worker:
    return Worker(app.state.db, app.state.settings, app.state.wechat)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    """A time `days`… after NOW, as answers write it (in Shanghai's offset)."""
    return (NOW + timedelta(days=days, hours=hours, minutes=minutes)).astimezone(SHANGHAI).isoformat()


class World:
    """Community B with its staff and residents (chen, zhou, li); community C with its own."""

    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.app, self.db = client, app, app.state.db
        self.root = await platform_admin(client, app.state.db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await self.resident("chen", "101")
        self.zhou = await self.resident("zhou", "102")
        self.li = await self.resident("li", "103")
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.c_staff = await login(client, "c-staff")
        await grant(client, self.root, self.c, self.c_staff, "staff")
        self.c_resident = await login(client, "c-resident")
        await join(client, self.c_resident, self.c, "9栋", "1单元", "901")
        return self

    async def resident(self, name: str, room: str) -> Person:
        person = await login(self.client, name)
        await join(self.client, person, self.b, "3栋", "1单元", room)
        return person

    async def meeting(self, **fields: Any) -> dict[str, Any]:
        body = {
            "kind": "five_party",
            "title": "十二月五方议事会",
            "starts_at": at(days=7),
            "ends_at": at(days=7, hours=2),
            "place": "社区议事厅",
            **fields,
        }
        response = await self.client.post(f"{API}/communities/{self.b}/meetings", json=body, headers=self.staff.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def item(self, meeting_id: int, title: str = "小区广场的照明") -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/meetings/{meeting_id}/agenda", json={"title": title, "body": "晚上太暗"}, headers=self.staff.headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def participant(self, meeting_id: int, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/meetings/{meeting_id}/participants", json=body, headers=self.staff.headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def step(self, meeting_id: int, action: str, person: Person | None = None, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"{API}/meetings/{meeting_id}/{action}", json=body or None, headers=(person or self.staff).headers
        )

    async def ok(self, meeting_id: int, action: str, **body: Any) -> dict[str, Any]:
        response = await self.step(meeting_id, action, **body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, meeting_id: int, person: Person | None = None) -> httpx.Response:
        return await self.client.get(f"{API}/meetings/{meeting_id}", headers=(person or self.staff).headers)

    async def view(self, meeting_id: int, person: Person | None = None) -> dict[str, Any]:
        response = await self.get(meeting_id, person)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def decision(self, meeting_id: int, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/meetings/{meeting_id}/decisions",
            json={"text": "在3栋东侧加装两盏路灯", "method": "consensus", **body},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def follow_up(self, decision_id: int, **body: Any) -> dict[str, Any]:
        """A follow-up (by default the property manager's, by 20 December)."""
        owner = {} if "owner_user_id" in body else {"owner_party": "property", "owner_name": "王经理"}
        response = await self.client.post(
            f"{API}/decisions/{decision_id}/follow-ups",
            json={"title": "联系物业报价", "due_on": "2026-12-20", **owner, **body},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def held(self, **fields: Any) -> dict[str, Any]:
        """A meeting with one item, its agenda published, started and marked held."""
        meeting = await self.meeting(**fields)
        if not meeting["agenda"]:
            await self.item(meeting["id"])
        await self.ok(meeting["id"], "publish-agenda")
        clock.advance(datetime.fromisoformat(meeting["starts_at"]) - clock.now())
        return await self.ok(meeting["id"], "hold")

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/me/inbox", headers=person.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def kinds(self, person: Person) -> list[str]:
        return [entry["kind"] for entry in await self.inbox(person)]

    async def concern(
        self, title: str, *, level: int = 3, status: str = "accepted", raised_by: Person | None = None, metoo=()
    ) -> int:
        """A concern as a resident raises it and staff triage it, through the concerns API: raised by
        `raised_by` (chen) in 3栋, its text checked by the worker (`drain`: the clock moves on half a
        minute), "me too" from each of `metoo` while it waits, accepted at `level` (level 1 with 物业
        responsible), then started (`in_progress`) or resolved."""
        raised = await self.client.post(
            f"{API}/communities/{self.b}/concerns",
            json={
                "category": "parking",
                "building": "3栋",
                "place": "3栋东侧",
                "title": title,
                "body": f"{title}，已经好几个月了",
            },
            headers=(raised_by or self.chen).headers,
        )
        assert raised.status_code == 201, raised.text
        concern_id: int = raised.json()["id"]
        await drain(self.app)
        for person in metoo:
            await self.triage(concern_id, "metoo", person)
        await self.triage(concern_id, "accept", level=level, responsible="物业" if level == 1 else "")
        if status == "in_progress":
            await self.triage(concern_id, "start")
        elif status == "resolved":
            await self.triage(concern_id, "resolve", result="已经处理好了")
        detail = await self.concern_detail(concern_id)
        assert (detail["status"], detail["level"], detail["visibility"]) == (status, level, "visible")
        assert detail["metoo_count"] == len(metoo)
        return concern_id

    async def triage(self, concern_id: int, action: str, person: Person | None = None, **body: Any) -> None:
        """One step on a concern (staff's unless `person` is given), which must succeed."""
        response = await self.client.post(
            f"{API}/concerns/{concern_id}/{action}", json=body or None, headers=(person or self.staff).headers
        )
        assert response.status_code == 200, response.text

    async def concern_detail(self, concern_id: int) -> dict[str, Any]:
        response = await self.client.get(f"{API}/concerns/{concern_id}", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def concern_state(self, concern_id: int) -> tuple[str, list[dict[str, Any]]]:
        """The concern's status and timeline as staff read them: every event, oldest first, with its
        kind, body, data and whether residents see it."""
        detail = await self.concern_detail(concern_id)
        return detail["status"], detail["timeline"]


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def agenda_concerns(meeting: dict[str, Any]) -> list[int]:
    return [i["concern_id"] for i in meeting["agenda"] if i["concern_id"] is not None]


def test_the_schemas_choices_are_the_models():
    from typing import get_args

    from api.schemas import meetings as schemas

    assert get_args(schemas.MeetingKind) == MEETING_KINDS
    assert get_args(schemas.Party) == PARTIES
    assert get_args(schemas.Method) == DECISION_METHODS
    assert get_args(schemas.FollowUpStatus) == FOLLOW_UP_STATUSES


# -- the meeting's states ------------------------------------------------------------------------


async def test_a_meeting_goes_through_its_states_and_a_wrong_step_names_the_state(client, w):
    meeting = await w.meeting(summary="社区书记主持")
    mid = meeting["id"]
    assert (meeting["status"], meeting["kind_label"], meeting["status_label"]) == ("draft", "五方议事会", "草稿")
    assert meeting["starts_at"] == "2026-12-08T10:00:00+08:00"
    # moving the start moves the end with it
    moved = await client.patch(
        f"{API}/meetings/{mid}",
        json={"starts_at": "2026-12-08T14:00", "place": "党群服务中心"},
        headers=w.staff.headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["starts_at"], moved.json()["ends_at"], moved.json()["place"]) == (
        "2026-12-08T14:00:00+08:00",
        "2026-12-08T16:00:00+08:00",
        "党群服务中心",
    )
    backwards = await client.patch(
        f"{API}/meetings/{mid}", json={"ends_at": "2026-12-08T13:00"}, headers=w.staff.headers
    )
    assert error(backwards) == (422, "validation_error")
    assert backwards.json()["error"]["details"][0]["field"] == "ends_at"
    empty = await w.step(mid, "publish-agenda")
    assert error(empty) == (409, "agenda_empty")
    await w.item(mid)
    published = await w.ok(mid, "publish-agenda")
    assert published["status"] == "agenda_published" and published["agenda_published_at"] == at()
    again = await w.step(mid, "publish-agenda")
    assert error(again) == (409, "meeting_transition_invalid")
    assert "议程已公布" in again.json()["error"]["message"]
    early = await w.step(mid, "hold")
    assert error(early) == (409, "meeting_not_started")
    assert "12月8日 14:00" in early.json()["error"]["message"]
    clock.freeze(datetime(2026, 12, 8, 6, 0, tzinfo=UTC))  # 14:00 in Shanghai: it starts
    held = await w.ok(mid, "hold")
    assert (held["status"], held["held_at"]) == ("held", "2026-12-08T14:00:00+08:00")
    late_move = await client.patch(f"{API}/meetings/{mid}", json={"place": "广场"}, headers=w.staff.headers)
    assert error(late_move) == (409, "meeting_locked")
    summary = await client.patch(f"{API}/meetings/{mid}", json={"summary": "到会 12 人"}, headers=w.staff.headers)
    assert summary.status_code == 200 and summary.json()["summary"] == "到会 12 人"
    no_cancel = await w.step(mid, "cancel", reason="下雨")
    assert error(no_cancel) == (409, "meeting_transition_invalid")
    assert "已召开" in no_cancel.json()["error"]["message"]
    done = await w.ok(mid, "publish-minutes")
    assert (done["status"], done["minutes_published_at"]) == ("minutes_published", "2026-12-08T14:00:00+08:00")
    for action, body in (("hold", {}), ("publish-minutes", {}), ("cancel", {"reason": "无"})):
        refused = await w.step(mid, action, **body)
        assert error(refused) == (409, "meeting_transition_invalid")
        assert "纪要已公布" in refused.json()["error"]["message"]
    final = await client.patch(f"{API}/meetings/{mid}", json={"summary": "改"}, headers=w.staff.headers)
    assert error(final) == (409, "meeting_locked")
    assert (await w.view(mid))["summary"] == "到会 12 人"


async def test_a_meeting_is_cancelled_before_it_is_held_with_a_reason(client, w):
    draft = await w.meeting(kind="courtyard", title="3栋院落会")
    no_reason = await w.step(draft["id"], "cancel", reason="  ")
    assert error(no_reason) == (422, "validation_error")
    cancelled = await w.ok(draft["id"], "cancel", reason="改到下个月")
    assert (cancelled["status"], cancelled["cancel_reason"], cancelled["cancelled_at"]) == (
        "cancelled",
        "改到下个月",
        at(),
    )
    for action in ("publish-agenda", "hold", "publish-minutes"):
        refused = await w.step(draft["id"], action)
        assert error(refused) == (409, "meeting_transition_invalid")
        assert "已取消" in refused.json()["error"]["message"]
    published = await w.meeting(kind="working_group", title="停车工作小组")
    await w.item(published["id"])
    await w.ok(published["id"], "publish-agenda")
    assert (await w.ok(published["id"], "cancel", reason="人没到齐"))["status"] == "cancelled"
    # the cancelled meetings are past; residents see the one whose agenda they had seen, not the draft
    staff_past = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.staff.headers)).json()[
        "items"
    ]
    assert [m["id"] for m in staff_past] == [published["id"], draft["id"]]
    resident_past = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)).json()[
        "items"
    ]
    assert [(m["id"], m["cancel_reason"]) for m in resident_past] == [(published["id"], "人没到齐")]
    assert (await w.get(draft["id"], w.chen)).status_code == 404


async def test_residents_may_not_run_meetings_and_do_not_see_drafts(client, w):
    draft = await w.meeting()
    mid = draft["id"]
    item = await w.item(mid)
    # a draft does not exist for residents, whatever they try
    assert error(await w.get(mid, w.chen)) == (404, "meeting_not_found")
    assert error(await w.step(mid, "publish-agenda", w.chen)) == (404, "meeting_not_found")
    listed = (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.chen.headers)).json()["items"]
    assert listed == []
    staff_listed = (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.staff.headers)).json()["items"]
    assert [(m["id"], m["agenda_count"]) for m in staff_listed] == [(mid, 1)]
    create = await client.post(
        f"{API}/communities/{w.b}/meetings",
        json={"kind": "courtyard", "title": "院落会", "starts_at": at(1), "ends_at": at(1, 1), "place": "院子"},
        headers=w.chen.headers,
    )
    assert error(create) == (403, "staff_only")
    await w.ok(mid, "publish-agenda")
    # published: residents read it and are refused (403) every staff action
    assert (await w.view(mid, w.chen))["agenda"][0]["title"] == item["title"]
    refusals = [
        await w.step(mid, "hold", w.chen),
        await w.step(mid, "cancel", w.chen, reason="不想开"),
        await w.step(mid, "publish-minutes", w.chen),
        await client.patch(f"{API}/meetings/{mid}", json={"title": "改名"}, headers=w.chen.headers),
        await client.post(f"{API}/meetings/{mid}/agenda", json={"title": "我的议题"}, headers=w.chen.headers),
        await client.delete(f"{API}/meetings/{mid}/agenda/{item['id']}", headers=w.chen.headers),
        await client.post(
            f"{API}/meetings/{mid}/participants", json={"party": "resident_rep", "name": "陈"}, headers=w.chen.headers
        ),
        await client.get(f"{API}/meetings/{mid}/onsite-code", headers=w.chen.headers),
        await client.put(f"{API}/meetings/{mid}/walkins", json={"count": 3}, headers=w.chen.headers),
    ]
    assert [error(r) for r in refusals] == [(403, "staff_only")] * len(refusals)
    after = await w.view(mid)
    assert (after["status"], after["title"], len(after["agenda"]), after["participants"]) == (
        "agenda_published",
        "十二月五方议事会",
        1,
        [],
    )


async def test_another_community_sees_nothing_of_a_meeting(client, w):
    meeting = await w.held()
    mid = meeting["id"]
    decision = await w.decision(mid)
    task = await w.follow_up(decision["id"])
    await w.ok(mid, "publish-minutes")
    for person in (w.c_staff, w.c_resident):
        answers = [
            await w.get(mid, person),
            await client.patch(f"{API}/meetings/{mid}", json={"title": "x"}, headers=person.headers),
            await w.step(mid, "cancel", person, reason="x"),
            await client.get(f"{API}/meetings/{mid}/onsite-code", headers=person.headers),
            await client.post(f"{API}/meetings/{mid}/checkins/self", json={"code": "ABCDEFGH"}, headers=person.headers),
            await client.patch(f"{API}/decisions/{decision['id']}", json={"text": "x"}, headers=person.headers),
        ]
        assert {error(a) for a in answers} == {(404, "meeting_not_found")}, [a.text for a in answers]
        assert error(await client.get(f"{API}/follow-ups/{task['id']}", headers=person.headers)) == (
            404,
            "follow_up_not_found",
        )
        assert error(
            await client.patch(f"{API}/follow-ups/{task['id']}", json={"status": "done"}, headers=person.headers)
        ) == (404, "follow_up_not_found")
        for path in ("meetings", "follow-ups"):
            listing = await client.get(f"{API}/communities/{w.b}/{path}", headers=person.headers)
            assert error(listing) == (404, "community_not_found")
        create = await client.post(
            f"{API}/communities/{w.b}/meetings",
            json={"kind": "courtyard", "title": "院落会", "starts_at": at(1), "ends_at": at(1, 1), "place": "院子"},
            headers=person.headers,
        )
        assert error(create) == (404, "community_not_found")
    assert (await w.view(mid, w.chen))["decisions"][0]["follow_ups"][0]["id"] == task["id"]


async def test_residents_read_the_agenda_once_published_and_the_minutes_once_those_are(client, w):
    meeting = await w.meeting(summary="社区书记主持")
    mid = meeting["id"]
    item = await w.item(mid)
    await w.participant(mid, party="property", name="王经理", role="物业经理")
    await w.ok(mid, "publish-agenda")
    seen = await w.view(mid, w.chen)
    assert [(p["party_label"], p["name"], p["user_id"]) for p in seen["participants"]] == [("物业", "王经理", None)]
    assert (seen["summary"], seen["agenda"][0]["minutes"], seen["decisions"]) == (None, None, [])
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    written = await client.patch(
        f"{API}/meetings/{mid}/agenda/{item['id']}", json={"minutes": "大家同意加装路灯"}, headers=w.staff.headers
    )
    assert written.status_code == 200 and written.json()["minutes"] == "大家同意加装路灯"
    decision = await w.decision(mid, agenda_item_id=item["id"])
    await w.follow_up(decision["id"])
    staff_view = await w.view(mid)
    assert (staff_view["summary"], staff_view["agenda"][0]["minutes"], len(staff_view["decisions"])) == (
        "社区书记主持",
        "大家同意加装路灯",
        1,
    )
    held = await w.view(mid, w.chen)  # held, minutes not yet out
    assert (held["status"], held["summary"], held["agenda"][0]["minutes"], held["decisions"]) == (
        "held",
        None,
        None,
        [],
    )
    listed = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)).json()
    assert [(m["id"], m["decision_count"]) for m in listed["items"]] == [(mid, None)]
    await w.ok(mid, "publish-minutes")
    public = await w.view(mid, w.chen)
    assert public["summary"] == "社区书记主持" and public["agenda"][0]["minutes"] == "大家同意加装路灯"
    (shown,) = public["decisions"]
    assert (shown["text"], shown["how"], shown["agenda_item_title"]) == (
        "在3栋东侧加装两盏路灯",
        "协商一致",
        item["title"],
    )
    assert [(f["title"], f["owner_name"], f["due_on"], f["owner_user_id"]) for f in shown["follow_ups"]] == [
        ("联系物业报价", "王经理", "2026-12-20", None)
    ]
    listed = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)).json()
    assert [(m["id"], m["decision_count"]) for m in listed["items"]] == [(mid, 1)]


async def test_meetings_are_listed_upcoming_soonest_first_and_past_latest_first_a_page_at_a_time(client, w):
    later = await w.meeting(title="一月", starts_at=at(30), ends_at=at(30, 2))
    sooner = await w.meeting(title="下周", kind="courtyard", starts_at=at(7), ends_at=at(7, 2))
    soonest = await w.meeting(title="明天", kind="working_group", starts_at=at(1), ends_at=at(1, 2))
    first = await client.get(f"{API}/communities/{w.b}/meetings?limit=2", headers=w.staff.headers)
    assert [m["title"] for m in first.json()["items"]] == ["明天", "下周"]
    rest = await client.get(
        f"{API}/communities/{w.b}/meetings?limit=2&cursor={first.json()['next_cursor']}", headers=w.staff.headers
    )
    assert [m["title"] for m in rest.json()["items"]] == ["一月"] and rest.json()["next_cursor"] is None
    courtyard = await client.get(f"{API}/communities/{w.b}/meetings?kind=courtyard", headers=w.staff.headers)
    assert [m["id"] for m in courtyard.json()["items"]] == [sooner["id"]]
    for meeting in (soonest, sooner):
        await w.item(meeting["id"])
        await w.ok(meeting["id"], "publish-agenda")
    clock.advance(timedelta(days=8))
    for meeting in (soonest, sooner):
        await w.ok(meeting["id"], "hold")
    past = await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)
    assert [m["title"] for m in past.json()["items"]] == ["下周", "明天"]
    upcoming = await client.get(f"{API}/communities/{w.b}/meetings", headers=w.chen.headers)
    assert upcoming.json()["items"] == []  # the January one is still a draft
    assert [
        m["id"]
        for m in (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.staff.headers)).json()["items"]
    ] == [later["id"]]


# -- participants and agenda ---------------------------------------------------------------------


async def test_participants_by_party_with_accounts_of_the_community(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    rep = await w.participant(mid, party="resident_rep", role="3栋楼栋长", user_id=w.chen.user_id)
    assert (rep["name"], rep["party_label"], rep["user_id"], rep["has_account"]) == (
        "chen",
        "居民代表",
        w.chen.user_id,
        True,
    )
    manager = await w.participant(mid, party="property", name="王经理", role="物业经理")
    assert (manager["user_id"], manager["has_account"]) == (None, False)
    social = await w.participant(mid, party="social_worker", name="小刘", user_id=w.staff.user_id)
    assert social["name"] == "小刘"
    twice = await client.post(
        f"{API}/meetings/{mid}/participants",
        json={"party": "resident_rep", "name": "陈", "user_id": w.chen.user_id},
        headers=w.staff.headers,
    )
    assert error(twice) == (409, "participant_exists")
    stranger = await client.post(
        f"{API}/meetings/{mid}/participants",
        json={"party": "resident_rep", "name": "外人", "user_id": w.c_resident.user_id},
        headers=w.staff.headers,
    )
    assert error(stranger) == (422, "validation_error") and stranger.json()["error"]["details"][0]["field"] == "user_id"
    not_resident = await client.post(
        f"{API}/meetings/{mid}/participants",
        json={"party": "resident_rep", "user_id": w.root.user_id},  # a platform admin, no home here
        headers=w.staff.headers,
    )
    assert error(not_resident) == (422, "validation_error")
    nameless = await client.post(
        f"{API}/meetings/{mid}/participants", json={"party": "self_org"}, headers=w.staff.headers
    )
    assert error(nameless) == (422, "validation_error") and nameless.json()["error"]["details"][0]["field"] == "name"
    removed = await client.delete(f"{API}/meetings/{mid}/participants/{social['id']}", headers=w.staff.headers)
    assert removed.status_code == 204
    gone = await client.delete(f"{API}/meetings/{mid}/participants/{social['id']}", headers=w.staff.headers)
    assert error(gone) == (404, "participant_not_found")
    await w.item(mid)
    await w.ok(mid, "publish-agenda")
    assert await w.kinds(w.chen) == ["meeting.agenda"]
    assert await w.kinds(w.staff) == []  # taken off the list before the agenda went out
    # someone added once the agenda is out hears of it at once
    await w.participant(mid, party="resident_rep", user_id=w.zhou.user_id)
    (told,) = await w.inbox(w.zhou)
    assert told["kind"] == "meeting.agenda" and "十二月五方议事会" in told["title"]
    assert told["page"] == f"pages/meetings/detail?id={mid}"
    assert "12-08 10:00" in told["body"] and "社区议事厅" in told["body"] and "小区广场的照明" in told["body"]
    view = await w.view(mid)
    assert [(p["party"], p["name"]) for p in view["participants"]] == [
        ("resident_rep", "chen"),
        ("property", "王经理"),
        ("resident_rep", "zhou"),
    ]
    assert [(p["party"], p["expected"], p["present"]) for p in view["attendance"]["parties"]] == [
        ("property", 1, 0),
        ("resident_rep", 2, 0),
    ]
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    locked = await client.post(
        f"{API}/meetings/{mid}/participants", json={"party": "other", "name": "晚到的"}, headers=w.staff.headers
    )
    assert error(locked) == (409, "meeting_locked")
    assert error(
        await client.delete(f"{API}/meetings/{mid}/participants/{manager['id']}", headers=w.staff.headers)
    ) == (
        409,
        "meeting_locked",
    )


async def test_agenda_items_are_written_edited_reordered_and_then_get_their_minutes(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    lights = await w.item(mid, "广场照明")
    parking = await w.item(mid, "电动车停放")
    dance = await w.item(mid, "广场舞噪音")
    assert [lights["position"], parking["position"], dance["position"]] == [0, 1, 2]
    edited = await client.patch(
        f"{API}/meetings/{mid}/agenda/{dance['id']}", json={"title": "广场舞音量和时间"}, headers=w.staff.headers
    )
    assert edited.status_code == 200 and edited.json()["title"] == "广场舞音量和时间"
    early_minutes = await client.patch(
        f"{API}/meetings/{mid}/agenda/{dance['id']}", json={"minutes": "还没开"}, headers=w.staff.headers
    )
    assert error(early_minutes) == (409, "meeting_locked")
    partial = await client.put(
        f"{API}/meetings/{mid}/agenda/order", json={"item_ids": [dance["id"], lights["id"]]}, headers=w.staff.headers
    )
    assert error(partial) == (422, "agenda_order_invalid")
    order = [dance["id"], lights["id"], parking["id"]]
    reordered = await client.put(
        f"{API}/meetings/{mid}/agenda/order", json={"item_ids": order}, headers=w.staff.headers
    )
    assert [(i["id"], i["position"]) for i in reordered.json()] == [(i, n) for n, i in enumerate(order)]
    other = await w.meeting(title="另一次")
    foreign = await client.patch(
        f"{API}/meetings/{other['id']}/agenda/{dance['id']}", json={"title": "x"}, headers=w.staff.headers
    )
    assert error(foreign) == (404, "agenda_item_not_found")
    assert (
        await client.delete(f"{API}/meetings/{mid}/agenda/{parking['id']}", headers=w.staff.headers)
    ).status_code == 204
    assert [i["title"] for i in (await w.view(mid))["agenda"]] == ["广场舞音量和时间", "广场照明"]
    await w.ok(mid, "publish-agenda")
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    for request in (
        client.patch(f"{API}/meetings/{mid}/agenda/{dance['id']}", json={"title": "改"}, headers=w.staff.headers),
        client.post(f"{API}/meetings/{mid}/agenda", json={"title": "临时动议"}, headers=w.staff.headers),
        client.delete(f"{API}/meetings/{mid}/agenda/{dance['id']}", headers=w.staff.headers),
        client.put(f"{API}/meetings/{mid}/agenda/order", json={"item_ids": order[:2]}, headers=w.staff.headers),
    ):
        refused = await request
        assert error(refused) == (409, "meeting_locked"), refused.text
        assert "已召开" in refused.json()["error"]["message"]
    minutes = await client.patch(
        f"{API}/meetings/{mid}/agenda/{dance['id']}", json={"minutes": "晚上九点后停止"}, headers=w.staff.headers
    )
    assert minutes.json()["minutes"] == "晚上九点后停止"
    await w.ok(mid, "publish-minutes")
    closed = await client.patch(
        f"{API}/meetings/{mid}/agenda/{dance['id']}", json={"minutes": "改纪要"}, headers=w.staff.headers
    )
    assert error(closed) == (409, "meeting_locked")
    assert (await w.view(mid, w.chen))["agenda"][0]["minutes"] == "晚上九点后停止"


# -- level-3 concerns and the five-party meeting -------------------------------------------------


async def test_level_3_concerns_land_on_the_next_five_party_meeting_when_it_is_created(client, w):
    parking = await w.concern("电动车乱停")
    stairs = await w.concern("楼道堆物", status="in_progress")
    await w.concern("儿童游乐设施损坏", level=2)
    await w.concern("广场舞噪音", status="resolved")
    courtyard = await w.meeting(kind="courtyard", title="3栋院落会")
    assert courtyard["agenda"] == []
    recorded = await w.meeting(title="补记上月的会", starts_at=at(-3), ends_at=at(-3, 2))
    assert recorded["agenda"] == []  # held already: nothing waiting was discussed there
    first = await w.meeting()
    assert agenda_concerns(first) == [parking, stairs]
    assert [i["title"] for i in first["agenda"]] == ["电动车乱停", "楼道堆物"]
    status, events = await w.concern_state(parking)
    assert status == "accepted"
    assert [(e["kind"], e["public"], e["data"].get("meeting_id")) for e in events] == [
        ("submitted", True, None),
        ("accepted", True, None),  # waiting: no five-party meeting was planned yet
        ("agenda", True, first["id"]),
    ]
    assert events[2]["body"] == "已列入下一次五方议事会的议程"  # a draft: not named
    # already on an upcoming agenda: a second meeting does not take them again
    second = await w.meeting(title="一月五方议事会", starts_at=at(30), ends_at=at(30, 2))
    assert second["agenda"] == []
    # taken off the agenda by staff, the concern waits again (its timeline says so) — even with another
    # meeting planned — and the next five-party meeting created takes it up
    item = next(i for i in first["agenda"] if i["concern_id"] == parking)
    removed = await client.delete(f"{API}/meetings/{first['id']}/agenda/{item['id']}", headers=w.staff.headers)
    assert removed.status_code == 204
    assert (await w.view(second["id"]))["agenda"] == []
    _, events = await w.concern_state(parking)
    assert [(e["kind"], e["data"].get("meeting_id")) for e in events] == [
        ("submitted", None),
        ("accepted", None),
        ("agenda", first["id"]),
        ("agenda", first["id"]),
    ]
    assert events[3]["body"] == "已从下一次五方议事会的议程中撤下，等待下一次五方议事会"
    assert events[3]["data"]["removed"] is True
    third = await w.meeting(title="临时五方议事会", starts_at=at(10), ends_at=at(10, 2))
    assert agenda_concerns(third) == [parking]
    _, events = await w.concern_state(parking)
    assert (events[-1]["kind"], events[-1]["data"]["meeting_id"]) == ("agenda", third["id"])
    assert agenda_concerns(await w.view(first["id"])) == [stairs]


async def test_a_concern_a_meeting_left_undecided_is_carried_to_the_next_one(client, w):
    parking = await w.concern("电动车乱停", metoo=[w.zhou])
    stairs = await w.concern("楼道堆物")
    meeting = await w.held()
    items = {i["concern_id"]: i["id"] for i in meeting["agenda"]}
    assert set(items) == {parking, stairs}
    await w.decision(meeting["id"], agenda_item_id=items[parking], text="划定电动车停放区")
    await w.ok(meeting["id"], "publish-minutes")
    status, events = await w.concern_state(stairs)
    assert status == "accepted"
    assert events[-1]["kind"] == "agenda"
    assert events[-1]["body"] == "议事会「十二月五方议事会」未对此作出决定，等待下一次五方议事会"
    following = await w.meeting(title="一月五方议事会", starts_at=at(40), ends_at=at(40, 2))
    assert agenda_concerns(following) == [stairs]  # the decided one is not carried


async def test_cancelling_tells_those_who_were_told_and_the_concerns_wait_again(client, w):
    parking = await w.concern("电动车乱停")
    draft = await w.meeting(title="草稿会")
    await w.participant(draft["id"], party="resident_rep", user_id=w.zhou.user_id)
    meeting = await w.meeting(title="五方会", starts_at=at(8), ends_at=at(8, 2))
    assert agenda_concerns(draft) == [parking] and agenda_concerns(meeting) == []
    await w.participant(meeting["id"], party="resident_rep", user_id=w.chen.user_id)
    await w.item(meeting["id"])
    await w.ok(meeting["id"], "publish-agenda")
    await w.ok(draft["id"], "cancel", reason="合并开会")
    assert await w.kinds(w.zhou) == []  # never told of the draft, not told of its end
    _, events = await w.concern_state(parking)
    assert [e["body"] for e in events[-2:]] == [
        "已从下一次五方议事会的议程中撤下",  # a draft: not named
        "已列入五方议事会「五方会」的议程",
    ]
    assert agenda_concerns(await w.view(meeting["id"])) == [parking]
    await w.ok(meeting["id"], "cancel", reason="场地临时被占用")
    cancelled = [e for e in await w.inbox(w.chen) if e["kind"] == "meeting.cancelled"]
    assert len(cancelled) == 1 and "场地临时被占用" in cancelled[0]["body"]
    _, events = await w.concern_state(parking)
    assert events[-1]["body"] == "议事会「五方会」已取消，议题随之撤下，等待下一次五方议事会"
    assert agenda_concerns(await w.meeting(title="新的五方会")) == [parking]


async def test_a_new_time_or_place_is_told_to_participants_once_the_agenda_is_out(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    await w.participant(mid, party="resident_rep", user_id=w.chen.user_id)
    await client.patch(f"{API}/meetings/{mid}", json={"place": "草稿时改的地点"}, headers=w.staff.headers)
    await w.item(mid)
    await w.ok(mid, "publish-agenda")
    await client.patch(f"{API}/meetings/{mid}", json={"title": "只改名称"}, headers=w.staff.headers)
    assert await w.kinds(w.chen) == ["meeting.agenda"]
    await client.patch(f"{API}/meetings/{mid}", json={"place": "党群服务中心二楼"}, headers=w.staff.headers)
    await client.patch(f"{API}/meetings/{mid}", json={"place": "党群服务中心二楼"}, headers=w.staff.headers)
    inbox = await w.inbox(w.chen)
    assert [e["kind"] for e in inbox] == ["meeting.changed", "meeting.agenda"]
    assert "党群服务中心二楼" in inbox[0]["body"]


# -- attendance ----------------------------------------------------------------------------------


def code(app: Any, meeting_id: int, *, ago: timedelta = timedelta(0)) -> str:
    return onsite_code(app.state.settings, meeting_id, clock.now() - ago, scope="meeting")


async def test_participants_check_in_with_the_on_site_code_inside_the_window(client, app, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    chen = await w.participant(mid, party="resident_rep", user_id=w.chen.user_id)
    manager = await w.participant(mid, party="property", name="王经理")
    await w.item(mid)
    unpublished = await client.get(f"{API}/meetings/{mid}/onsite-code", headers=w.staff.headers)
    assert error(unpublished) == (409, "meeting_checkin_unavailable")
    await w.ok(mid, "publish-agenda")

    async def scan(person: Person, text: str) -> httpx.Response:
        return await client.post(f"{API}/meetings/{mid}/checkins/self", json={"code": text}, headers=person.headers)

    clock.advance(timedelta(days=7, hours=-1, minutes=-1))  # 09:59 on the day: a minute too early
    screen = (await client.get(f"{API}/meetings/{mid}/onsite-code", headers=w.staff.headers)).json()
    assert screen["qr_text"] == f"linli://checkin?meeting={mid}&code={screen['code']}"
    assert screen["code"] == code(app, mid) and screen["valid_until"] == "2026-12-08T09:00:00+08:00"
    assert screen["window"] == {"opens_at": "2026-12-08T09:00:00+08:00", "closes_at": "2026-12-08T12:00:00+08:00"}
    too_early = await scan(w.chen, screen["code"])
    assert error(too_early) == (409, "checkin_not_open") and "12月8日 09:00" in too_early.json()["error"]["message"]
    clock.advance(timedelta(minutes=2))
    assert error(await scan(w.chen, "WRONG234")) == (422, "onsite_code_invalid")
    assert error(await scan(w.chen, code(app, mid, ago=timedelta(minutes=3)))) == (422, "onsite_code_invalid")
    assert error(await scan(w.li, code(app, mid))) == (403, "not_a_participant")
    assert error(await scan(w.c_resident, code(app, mid))) == (404, "meeting_not_found")
    other = await w.meeting(title="另一次")
    await w.item(other["id"])
    await w.ok(other["id"], "publish-agenda")
    assert error(await scan(w.chen, code(app, other["id"]))) == (422, "onsite_code_invalid")
    checked = await scan(w.chen, code(app, mid, ago=timedelta(seconds=60)))  # the previous minute's still counts
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["checked_in_now"], body["already_checked_in"], body["participant"]["id"]) == (True, False, chen["id"])
    assert body["participant"]["checkin_method"] == "self" and body["participant"]["user_id"] is None
    assert body["participant"]["checked_in_at"] == "2026-12-08T09:01:00+08:00"
    again = (await scan(w.chen, code(app, mid))).json()
    assert (again["checked_in_now"], again["already_checked_in"]) == (False, True)
    assert again["participant"]["checked_in_at"] == "2026-12-08T09:01:00+08:00"
    # staff tick the manager, who has no phone, and count those who came without the app
    ticked = await client.post(
        f"{API}/meetings/{mid}/checkins", json={"participant_id": manager["id"]}, headers=w.staff.headers
    )
    assert ticked.status_code == 200 and ticked.json()["participant"]["checkin_method"] == "staff"
    foreign = await client.post(
        f"{API}/meetings/{other['id']}/checkins", json={"participant_id": manager["id"]}, headers=w.staff.headers
    )
    assert error(foreign) == (404, "participant_not_found")
    walkins = await client.put(f"{API}/meetings/{mid}/walkins", json={"count": 12}, headers=w.staff.headers)
    assert walkins.json() == {
        "parties": [
            {"party": "property", "label": "物业", "expected": 1, "present": 1},
            {"party": "resident_rep", "label": "居民代表", "expected": 1, "present": 1},
        ],
        "expected": 2,
        "present": 2,
        "walkins": 12,
        "total": 14,
    }
    assert (await w.view(mid, w.chen))["me"] == {
        "participant_id": chen["id"],
        "checked_in_at": "2026-12-08T09:01:00+08:00",
    }
    clock.advance(timedelta(hours=3))  # 12:01, past the end
    late = await scan(w.chen, code(app, mid))
    assert error(late) == (409, "checkin_closed")
    await w.ok(mid, "hold")
    fixed = await client.put(f"{API}/meetings/{mid}/walkins", json={"count": 13}, headers=w.staff.headers)
    assert fixed.json()["total"] == 15  # staff still correct the count while writing the minutes
    await w.ok(mid, "publish-minutes")
    assert error(await client.put(f"{API}/meetings/{mid}/walkins", json={"count": 1}, headers=w.staff.headers)) == (
        409,
        "meeting_checkin_unavailable",
    )
    listed = (await client.get(f"{API}/communities/{w.b}/meetings?when=past", headers=w.chen.headers)).json()
    assert [(m["participant_count"], m["present"]) for m in listed["items"]] == [(2, 15)]


# -- decisions and the minutes -------------------------------------------------------------------


async def test_decisions_say_how_they_were_reached_and_change_until_the_minutes_are_out(client, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    item = await w.item(mid)
    early = await client.post(
        f"{API}/meetings/{mid}/decisions", json={"text": "提前决定", "method": "consensus"}, headers=w.staff.headers
    )
    assert error(early) == (409, "meeting_locked")
    await w.ok(mid, "publish-agenda")
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    missing_votes = await client.post(
        f"{API}/meetings/{mid}/decisions",
        json={"text": "表决", "method": "vote", "votes_for": 7},
        headers=w.staff.headers,
    )
    assert error(missing_votes) == (422, "validation_error")
    assert missing_votes.json()["error"]["details"][0]["field"] == "votes_against"
    counted = await client.post(
        f"{API}/meetings/{mid}/decisions",
        json={"text": "协商", "method": "consensus", "votes_for": 3},
        headers=w.staff.headers,
    )
    assert error(counted) == (422, "validation_error") and counted.json()["error"]["details"][0]["field"] == "votes_for"
    other = await w.meeting(title="另一次")
    foreign_item = await w.item(other["id"])
    foreign = await client.post(
        f"{API}/meetings/{mid}/decisions",
        json={"text": "x", "method": "consensus", "agenda_item_id": foreign_item["id"]},
        headers=w.staff.headers,
    )
    assert error(foreign) == (422, "validation_error")
    vote = await w.decision(
        mid, agenda_item_id=item["id"], method="vote", votes_for=7, votes_against=1, votes_abstain=2
    )
    assert (vote["how"], vote["method_label"]) == ("表决：赞成 7 票，反对 1 票，弃权 2 票", "表决")
    to_consensus = await client.patch(
        f"{API}/decisions/{vote['id']}", json={"method": "consensus", "agenda_item_id": None}, headers=w.staff.headers
    )
    assert to_consensus.status_code == 200, to_consensus.text
    assert (to_consensus.json()["votes_for"], to_consensus.json()["agenda_item_id"]) == (None, None)
    to_vote = await client.patch(f"{API}/decisions/{vote['id']}", json={"method": "vote"}, headers=w.staff.headers)
    assert error(to_vote) == (422, "validation_error")
    counts = {"method": "vote", "votes_for": 5, "votes_against": 0, "votes_abstain": 0}
    assert (await client.patch(f"{API}/decisions/{vote['id']}", json=counts, headers=w.staff.headers)).json()[
        "how"
    ] == "表决：赞成 5 票，反对 0 票，弃权 0 票"
    kept = await client.patch(f"{API}/decisions/{vote['id']}", json={"text": "改写"}, headers=w.staff.headers)
    assert (kept.json()["text"], kept.json()["votes_for"]) == ("改写", 5)
    spare = await w.decision(mid, text="多余的决定")
    await w.follow_up(spare["id"])
    assert (await client.delete(f"{API}/decisions/{spare['id']}", headers=w.staff.headers)).status_code == 204
    assert [d["id"] for d in (await w.view(mid))["decisions"]] == [vote["id"]]
    assert (await client.get(f"{API}/communities/{w.b}/follow-ups", headers=w.staff.headers)).json()["items"] == []
    await w.ok(mid, "publish-minutes")
    for request in (
        client.patch(f"{API}/decisions/{vote['id']}", json={"text": "再改"}, headers=w.staff.headers),
        client.delete(f"{API}/decisions/{vote['id']}", headers=w.staff.headers),
        client.post(
            f"{API}/meetings/{mid}/decisions", json={"text": "补", "method": "consensus"}, headers=w.staff.headers
        ),
    ):
        refused = await request
        assert error(refused) == (409, "meeting_locked") and "纪要已公布" in refused.json()["error"]["message"]


async def test_publishing_the_minutes_publishes_the_decisions_and_updates_their_concerns(client, w):
    parking = await w.concern("电动车乱停", raised_by=w.chen, metoo=[w.zhou])
    stairs = await w.concern("楼道堆物", status="in_progress", raised_by=w.li)
    meeting = await w.held()
    mid = meeting["id"]
    items = {i["concern_id"]: i["id"] for i in meeting["agenda"]}
    decided = await w.decision(mid, agenda_item_id=items[parking], text="在3栋东侧划定电动车停放区")
    await w.follow_up(decided["id"], title="施划停放区标线", owner_user_id=w.zhou.user_id, due_on="2026-12-20")
    await w.follow_up(
        decided["id"], title="张贴告示", owner_party="self_org", owner_name="楼栋志愿队", due_on="2026-12-12"
    )
    voted = await w.decision(
        mid, agenda_item_id=items[stairs], text="清理楼道", method="vote", votes_for=9, votes_against=0, votes_abstain=1
    )
    # before: nothing of it reaches the concerns or the residents (they heard of the acceptance only)
    status, events = await w.concern_state(parking)
    assert status == "accepted" and [e["kind"] for e in events] == ["submitted", "accepted", "agenda"]
    assert await w.kinds(w.chen) == ["concern.accepted"] and await w.kinds(w.zhou) == ["concern.accepted"]
    published = await w.ok(mid, "publish-minutes")
    assert [len(d["follow_ups"]) for d in published["decisions"]] == [2, 0]
    assert all(f["published"] for f in published["decisions"][0]["follow_ups"])
    status, events = await w.concern_state(parking)
    assert status == "in_progress"
    assert [(e["kind"], e["public"]) for e in events] == [
        ("submitted", True),
        ("accepted", True),
        ("agenda", True),
        ("decision", True),
        ("in_progress", True),
    ]
    decision_event = events[3]
    assert decision_event["body"] == (
        "五方议事会「十二月五方议事会」决定：在3栋东侧划定电动车停放区（协商一致）。跟进事项："
        "张贴告示，由楼栋志愿队负责，2026年12月12日前完成；施划停放区标线，由zhou负责，2026年12月20日前完成"
    )
    assert decision_event["data"]["decision_id"] == decided["id"] and decision_event["data"]["method"] == "consensus"
    assert [(f["title"], f["owner_name"], f["due_on"]) for f in decision_event["data"]["follow_ups"]] == [
        ("张贴告示", "楼栋志愿队", "2026-12-12"),
        ("施划停放区标线", "zhou", "2026-12-20"),
    ]
    assert events[4]["data"]["status"] == ["accepted", "in_progress"]
    status, events = await w.concern_state(stairs)  # in progress already: no second move
    assert status == "in_progress"
    assert [e["kind"] for e in events] == ["submitted", "accepted", "in_progress", "agenda", "decision"]
    assert "表决：赞成 9 票，反对 0 票，弃权 1 票" in events[4]["body"]
    assert events[4]["data"]["decision_id"] == voted["id"]
    # the followers of each concern hear of its decision, once; the owner of a follow-up of it
    chen = await w.inbox(w.chen)
    assert [e["kind"] for e in chen] == ["meeting.decision", "concern.accepted"]
    assert chen[0]["page"] == f"pages/concerns/detail?id={parking}" and "在3栋东侧划定电动车停放区" in chen[0]["body"]
    assert sorted(await w.kinds(w.zhou)) == ["concern.accepted", "follow_up.assigned", "meeting.decision"]
    assert await w.kinds(w.li) == ["meeting.decision", "concern.accepted"]
    # residents now read the follow-ups
    listed = (await w.client.get(f"{API}/communities/{w.b}/follow-ups", headers=w.li.headers)).json()
    assert [f["title"] for f in listed["items"]] == ["施划停放区标线", "张贴告示"]


async def test_publishing_the_minutes_is_all_or_nothing(client, w, monkeypatch):
    from api.services.governance import follow_ups

    parking = await w.concern("电动车乱停", metoo=[w.zhou])
    meeting = await w.held()
    mid = meeting["id"]
    decided = await w.decision(mid, agenda_item_id=meeting["agenda"][0]["id"])
    await w.follow_up(decided["id"], owner_user_id=w.zhou.user_id)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the database went away halfway")

    monkeypatch.setattr(follow_ups, "announce", broken)  # the last step: the concern is written by then
    try:
        failed = await w.step(mid, "publish-minutes")
        assert failed.status_code == 500
    except RuntimeError:
        pass
    monkeypatch.undo()
    status, events = await w.concern_state(parking)
    assert status == "accepted" and [e["kind"] for e in events] == ["submitted", "accepted", "agenda"]
    assert (await w.view(mid))["status"] == "held"
    assert await w.kinds(w.chen) == ["concern.accepted"] and await w.kinds(w.zhou) == ["concern.accepted"]
    assert (await w.ok(mid, "publish-minutes"))["status"] == "minutes_published"
    status, events = await w.concern_state(parking)
    assert status == "in_progress"
    assert [e["kind"] for e in events] == ["submitted", "accepted", "agenda", "decision", "in_progress"]


async def test_publishing_twice_at_once_publishes_once(app, w, is_postgres):
    """Two staff tap "publish" together: one publishes, the other is told it already was; the
    concern gets one decision event (on PostgreSQL on real parallel connections)."""
    import asyncio

    from tests.contract import api_client

    parking = await w.concern("电动车乱停")
    meeting = await w.held()
    await w.decision(meeting["id"], agenda_item_id=meeting["agenda"][0]["id"])
    async with api_client(app) as one, api_client(app) as two:
        answers = await asyncio.gather(
            *(c.post(f"{API}/meetings/{meeting['id']}/publish-minutes", headers=w.staff.headers) for c in (one, two))
        )
    assert sorted(a.status_code for a in answers) == [200, 409]
    _, events = await w.concern_state(parking)
    assert [e["kind"] for e in events] == ["submitted", "accepted", "agenda", "decision", "in_progress"]
    assert (await w.view(meeting["id"]))["status"] == "minutes_published"


async def test_the_longest_texts_each_field_takes_are_kept_whole(client, w):
    """Written for real in Chinese characters: PostgreSQL refuses what does not fit its varchar."""
    x = "邻"
    meeting = await w.meeting(title=x * 64, place=x * 64, summary=x * 5000)
    mid = meeting["id"]
    patched = await client.patch(
        f"{API}/meetings/{mid}", json={"title": "里" * 64, "place": "里" * 64}, headers=w.staff.headers
    )
    assert patched.status_code == 200, patched.text
    too_long = await client.patch(f"{API}/meetings/{mid}", json={"title": x * 65}, headers=w.staff.headers)
    assert error(too_long) == (422, "validation_error")
    person = await w.participant(mid, party="other", name=x * 32, role=x * 32)
    item = await w.item(mid, x * 64)
    body = await client.patch(
        f"{API}/meetings/{mid}/agenda/{item['id']}", json={"body": x * 2000}, headers=w.staff.headers
    )
    assert body.status_code == 200, body.text
    await w.ok(mid, "publish-agenda")
    clock.advance(timedelta(days=7))
    await w.ok(mid, "hold")
    minutes = await client.patch(
        f"{API}/meetings/{mid}/agenda/{item['id']}", json={"minutes": x * 5000}, headers=w.staff.headers
    )
    assert minutes.status_code == 200, minutes.text
    decision = await w.decision(mid, text=x * 2000)
    task = await w.follow_up(decision["id"], title=x * 200, owner_name=x * 32)
    noted = await client.patch(
        f"{API}/follow-ups/{task['id']}", json={"status": "dropped", "note": x * 500}, headers=w.staff.headers
    )
    assert noted.status_code == 200, noted.text
    other = await w.meeting(title="另一次")
    cancelled = await w.step(other["id"], "cancel", reason=x * 200)
    assert cancelled.status_code == 200, cancelled.text
    view = await w.view(mid)
    assert (view["title"], view["summary"], view["participants"][0]["name"], view["participants"][0]["role"]) == (
        "里" * 64,
        x * 5000,
        x * 32,
        x * 32,
    )
    assert view["agenda"][0]["minutes"] == x * 5000 and view["decisions"][0]["text"] == x * 2000
    assert (view["decisions"][0]["follow_ups"][0]["title"], view["decisions"][0]["follow_ups"][0]["note"]) == (
        x * 200,
        x * 500,
    )
    assert person["name"] == x * 32
