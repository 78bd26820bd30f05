"""Polls and elections up to the close: drafts and their checks, publishing and opening, who sees
what, voting in the app (one participation per household whatever the channel, open ballots
changed until the close and not after, secret ballots with receipts that tie to no one), paper and
proxy ballots entered by staff with a photo residents never see, turnout, the participations list,
cancelling, and the notifications of the opening and the day before the close.

The world is built through the API (residents join, heads approve their family, staff register an
elder without WeChat); a household's floor area and owner flag are written to the database, since
their API belongs to another part of the issue. The clock is frozen and moved to cross the close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update

from api import clock
from api.db.models import Household, IdempotencyKey, OutboxJob, PollBallot, PollParticipation
from api.db.models.voting import (
    CHANNELS,
    ELECTORATES,
    OBJECTION_STATUSES,
    POLL_KINDS,
    POLL_RULES,
    POLL_STATUSES,
    QUESTION_KINDS,
    TIE_RULES,
)
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.test_concerns import jpeg
from workers import jobs, outbox  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
YES = [{"question": 0, "options": [0]}]
NO = [{"question": 0, "options": [1]}]


@pytest.fixture
def settings(database_url):
    # a month-long login, so that tests can move the clock past a poll's close
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    """A time `days`… after NOW, as answers write it (in Shanghai's offset)."""
    return (NOW + timedelta(days=days, hours=hours, minutes=minutes)).astimezone(SHANGHAI).isoformat()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def field_of(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["error"]["details"][0]["field"])


def question(text: str = "屋顶花园改作什么用？", *labels: str, **fields: Any) -> dict[str, Any]:
    return {"text": text, "options": [{"label": label} for label in (labels or ("同意", "反对"))], **fields}


def art278_question(text: str = "是否同意使用维修资金更换电梯？") -> dict[str, Any]:
    return {
        "text": text,
        "options": [{"label": "同意", "approves": True}, {"label": "反对"}, {"label": "弃权"}],
    }


class World:
    """Community B: staff; in 3栋1单元101 陈明 (chen, head), his wife 林梅 (mei, approved by him) and
    their child; in 102 周强 (zhou, head) and 王奶奶 (an elder without WeChat, registered by staff); in
    103 李华 (li). Names are Chinese, as messages quote them. Community C with its staff and a resident."""

    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.app, self.db = client, app, app.state.db
        self.root = await platform_admin(client, self.db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, self.h101 = await self.head("陈明", "101")
        self.mei = await self.relative("林梅", self.chen, "101")
        child = await client.post(
            f"{API}/households/{self.h101}/members",
            json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True},
            headers=self.chen.headers,
        )
        assert child.status_code == 201, child.text
        self.zhou, self.h102 = await self.head("周强", "102")
        elder = await client.post(
            f"{API}/households/{self.h102}/members",
            json={"display_name": "王奶奶", "kind": "elder"},
            headers=self.staff.headers,
        )
        assert elder.status_code == 201, elder.text
        self.elder_id = int(elder.json()["id"])
        self.li, self.h103 = await self.head("李华", "103")
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.c_staff = await login(client, "c-staff")
        await grant(client, self.root, self.c, self.c_staff, "staff")
        self.c_resident = await login(client, "c-resident")
        await join(client, self.c_resident, self.c, "9栋", "1单元", "901")
        return self

    async def head(self, name: str, room: str, building: str = "3栋") -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, building, "1单元", room)
        return person, int(joined["household"]["id"])

    async def relative(self, name: str, head: Person, room: str, building: str = "3栋") -> Person:
        """Someone joining an existing household, approved by its head."""
        person = await login(self.client, name)
        asked = await join(self.client, person, self.b, building, "1单元", room)
        approved = await self.client.post(f"{API}/members/{asked['member']['id']}/approve", headers=head.headers)
        assert approved.status_code == 200, approved.text
        return person

    async def flat(self, household_id: int, area_centi: int | None, owner: bool = True) -> None:
        """A household's floor area and owner flag (the households API of this issue's flats part)."""
        async with self.db.session() as session:
            await session.execute(
                update(Household)
                .where(Household.id == household_id)
                .values(floor_area_centi=area_centi, is_owner=owner)
            )
            await session.commit()

    # -- polls

    def body(self, **fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "title": "屋顶花园怎么用",
            "electorate": "household",
            "opens_at": at(),
            "closes_at": at(days=7),
        }
        if fields.get("kind") == "election":
            base.update(title="院落自治委员会选举", seats=2, tie_rule="lot")
            base["candidates"] = [{"name": n, "statement": f"我是{n}"} for n in ("张桂兰", "刘建国", "赵小燕")]
        else:
            base["questions"] = [question()]
        return {**base, **fields}

    async def create(self, person: Person | None = None, community_id: int | None = None, **fields: Any):
        return await self.client.post(
            f"{API}/communities/{community_id or self.b}/polls",
            json=self.body(**fields),
            headers=(person or self.staff).headers,
        )

    async def draft(self, **fields: Any) -> dict[str, Any]:
        response = await self.create(**fields)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def publish(self, poll_id: int, person: Person | None = None) -> httpx.Response:
        return await self.client.post(f"{API}/polls/{poll_id}/publish", headers=(person or self.staff).headers)

    async def opened(self, **fields: Any) -> dict[str, Any]:
        """A poll published with its start now: open."""
        poll = await self.draft(**fields)
        published = await self.publish(poll["id"])
        assert published.status_code == 200, published.text
        result: dict[str, Any] = published.json()
        return result

    async def get(self, poll_id: int, person: Person | None = None, tail: str = "") -> httpx.Response:
        return await self.client.get(f"{API}/polls/{poll_id}{tail}", headers=(person or self.staff).headers)

    async def view(self, poll_id: int, person: Person | None = None, tail: str = "") -> dict[str, Any]:
        response = await self.get(poll_id, person, tail)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def vote(self, person: Person, poll_id: int, answers: list[dict[str, Any]] = YES, **headers: str):
        return await self.client.post(
            f"{API}/polls/{poll_id}/ballot", json={"answers": answers}, headers={**person.headers, **headers}
        )

    async def change(self, person: Person, poll_id: int, answers: list[dict[str, Any]] = NO) -> httpx.Response:
        return await self.client.put(f"{API}/polls/{poll_id}/ballot", json={"answers": answers}, headers=person.headers)

    async def mine(self, person: Person, poll_id: int) -> dict[str, Any]:
        return await self.view(poll_id, person, "/ballot")

    async def roll(self, poll_id: int, person: Person | None = None, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"{API}/polls/{poll_id}/roll", params=params, headers=(person or self.staff).headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def elector(self, poll_id: int, room: str) -> int:
        """The roll's id of the elector at 3栋1单元<room> (staff search by address)."""
        (entry,) = (await self.roll(poll_id, q=f"1单元{room}"))["items"]
        return int(entry["id"])

    async def enter(self, poll_id: int, elector_id: int, answers=YES, **fields: Any) -> httpx.Response:
        body = {"elector_id": elector_id, "channel": "paper", "answers": answers, **fields}
        return await self.client.post(f"{API}/polls/{poll_id}/entries", json=body, headers=self.staff.headers)

    async def upload(self, person: Person) -> int:
        response = await self.client.post(
            f"{API}/media",
            data={"community_id": str(self.b)},
            files={"file": ("ballot.jpg", jpeg((30, 60, 90)), "image/jpeg")},
            headers=person.headers,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/me/inbox", headers=person.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def kinds(self, person: Person) -> list[str]:
        return [entry["kind"] for entry in await self.inbox(person)]

    async def run_worker(self) -> None:
        await Worker(self.db, self.app.state.settings, self.app.state.wechat).run_until_idle()

    async def jobs(self, poll_id: int) -> dict[str, tuple[str, datetime]]:
        async with self.db.session(write=False) as session:
            found = await session.execute(
                select(OutboxJob.dedup_key, OutboxJob.kind, OutboxJob.run_at).where(
                    OutboxJob.dedup_key.like(f"poll:{poll_id}:%")
                )
            )
            return {key: (kind, run_at) for key, kind, run_at in found.all()}


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def test_the_schemas_name_the_models_values():
    from api.schemas import polls as schemas

    assert get_args(schemas.PollKind) == POLL_KINDS
    assert get_args(schemas.Electorate) == ELECTORATES
    assert get_args(schemas.PollRule) == POLL_RULES
    assert get_args(schemas.PollStatus) == POLL_STATUSES
    assert get_args(schemas.TieRule) == TIE_RULES
    assert get_args(schemas.QuestionKind) == QUESTION_KINDS
    assert get_args(schemas.Channel) == CHANNELS
    assert ("open", *get_args(schemas.ObjectionVerdict)) == OBJECTION_STATUSES


# -- drafts ------------------------------------------------------------------------------------------


async def test_a_draft_names_the_field_whose_rule_or_electorate_does_not_fit(w):
    # art. 278 counts flats by area, not households; an election by it has no special majority
    assert field_of(await w.create(rule="art278", questions=[art278_question()])) == "rule"
    assert field_of(await w.create(kind="election", rule="art278")) == "rule"
    owners_committee = {"kind": "election", "electorate": "flat", "rule": "art278"}
    assert field_of(await w.create(**owners_committee, special_majority=True)) == "special_majority"
    assert field_of(await w.create(special_majority=True)) == "special_majority"
    assert field_of(await w.create(owners_assembly=True)) == "owners_assembly"
    assert field_of(await w.create(rule="quorum")) == "quorum_percent"
    assert field_of(await w.create(quorum_percent=50)) == "quorum_percent"
    # every art. 278 question is single choice with exactly one option that approves
    two_yes = {
        **art278_question(),
        "options": [{"label": "同意", "approves": True}, {"label": "赞成", "approves": True}],
    }
    flats = {"electorate": "flat", "rule": "art278"}
    assert field_of(await w.create(**flats, questions=[art278_question(), two_yes])) == "questions[1].options"
    assert (
        field_of(await w.create(**flats, questions=[{**art278_question(), "kind": "multiple"}])) == "questions[0].kind"
    )
    # choices' bounds
    assert field_of(await w.create(questions=[question(max_choices=2)])) == "questions[0].max_choices"
    many = question("想要哪些设施？", "花架", "座椅", "晾衣架", kind="multiple", min_choices=3, max_choices=2)
    assert field_of(await w.create(questions=[many])) == "questions[0].min_choices"
    assert (
        field_of(await w.create(questions=[{**many, "min_choices": 1, "max_choices": 4}])) == "questions[0].max_choices"
    )
    assert field_of(await w.create(questions=[question("重复", "同意", "同意")])) == "questions[0].options"
    assert field_of(await w.create(questions=[])) == "questions"
    # an election has candidates, seats and a tie rule; a poll has none of them
    assert field_of(await w.create(kind="election", seats=None)) == "seats"
    assert field_of(await w.create(kind="election", tie_rule=None)) == "tie_rule"
    assert field_of(await w.create(kind="election", seats=4)) == "candidates"
    assert field_of(await w.create(kind="election", questions=[question()])) == "questions"
    assert field_of(await w.create(seats=2)) == "seats"
    assert field_of(await w.create(candidates=[{"name": "张桂兰"}])) == "candidates"
    # times
    assert field_of(await w.create(closes_at=at(hours=-1))) == "closes_at"
    assert field_of(await w.create(opens_at=at(days=8))) == "closes_at"
    unknown = await w.create(electorate="building")
    assert unknown.status_code == 422 and "electorate" in unknown.json()["error"]["message"]
    # nothing was written
    listed = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.staff.headers)
    assert listed.json()["items"] == []


async def test_a_flat_poll_is_never_secret_whichever_way_the_draft_gets_there(w):
    """Each option's area total is published; with the roll's areas a subset sum names who chose
    what. So `secret` with electorate `flat` is refused, however the pair comes about."""
    refused = await w.create(electorate="flat", secret=True)
    assert field_of(refused) == "secret"
    assert "无记名" in refused.json()["error"]["message"] and "面积" in refused.json()["error"]["message"]
    assert field_of(await w.create(kind="election", electorate="flat", secret=True)) == "secret"

    async def patch(poll_id: int, **body: Any) -> httpx.Response:
        return await w.client.patch(f"{API}/polls/{poll_id}", json=body, headers=w.staff.headers)

    secret = await w.draft(secret=True)  # by household: secret is fine
    assert field_of(await patch(secret["id"], electorate="flat")) == "secret"
    flat = await w.draft(electorate="flat")
    assert field_of(await patch(flat["id"], secret=True)) == "secret"
    assert (await w.view(flat["id"]))["secret"] is False and (await w.view(secret["id"]))["electorate"] == "household"
    both = await patch(flat["id"], secret=True, electorate="resident")  # secret, no longer by area
    assert both.status_code == 200, both.text
    assert (both.json()["secret"], both.json()["electorate"]) == (True, "resident")
    back = await patch(secret["id"], electorate="flat", secret=False)
    assert back.status_code == 200 and (back.json()["secret"], back.json()["electorate"]) == (False, "flat")


async def test_a_valid_draft_of_each_kind(w):
    poll = await w.draft(
        questions=[question(), question("还想要什么？", "花架", "座椅", "晾衣架", kind="multiple", allow_text=True)]
    )
    assert (poll["status"], poll["phase"], poll["standing"], poll["kind_label"]) == (
        "draft",
        "draft",
        "意向征询",
        "投票",
    )
    assert [q["kind_label"] for q in poll["questions"]] == ["单选", "多选"]
    assert (poll["questions"][1]["min_choices"], poll["questions"][1]["max_choices"]) == (1, 3)
    assert poll["opens_at"] == at() and poll["closes_at"] == at(days=7)
    assert poll["roll_count"] == 0 and poll["turnout"] is None and poll["results_visible"] is False
    election = await w.draft(kind="election", secret=True)
    assert election["standing"] == "选举" and election["tie_rule_label"] == "抽签"
    assert [c["name"] for c in election["candidates"]] == ["张桂兰", "刘建国", "赵小燕"]
    (ballot,) = election["questions"]
    assert (ballot["kind"], ballot["min_choices"], ballot["max_choices"]) == ("multiple", 0, 2)  # 0: 弃权
    owners = await w.draft(
        electorate="flat", rule="art278", owners_assembly=True, special_majority=True, questions=[art278_question()]
    )
    assert owners["standing"] == "业主大会表决" and owners["unit"] == "套"
    consultation = await w.draft(electorate="flat", rule="art278", questions=[art278_question()])
    assert consultation["standing"] == "意向征询"  # not convened by the owners' assembly: never a decision


async def test_drafts_are_for_staff_and_only_drafts_change(w):
    poll = await w.draft()
    assert error(await w.get(poll["id"], w.chen)) == (404, "poll_not_found")
    assert error(await w.get(poll["id"], w.c_staff)) == (404, "poll_not_found")
    assert error(await w.create(person=w.chen)) == (403, "staff_only")
    assert error(await w.create(person=w.c_staff)) == (404, "community_not_found")
    mine = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.chen.headers)
    assert mine.json()["items"] == []
    # a draft is edited whole: switching to an election drops the questions
    changed = await w.client.patch(
        f"{API}/polls/{poll['id']}",
        json={"kind": "election", "seats": 1, "tie_rule": "runoff", "candidates": [{"name": "王芳"}, {"name": "李雷"}]},
        headers=w.staff.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["kind"] == "election" and changed.json()["questions"][0]["max_choices"] == 1
    local = await w.client.patch(
        f"{API}/polls/{poll['id']}", json={"closes_at": "2026-12-10T20:00"}, headers=w.staff.headers
    )
    assert local.status_code == 200 and local.json()["closes_at"] == "2026-12-10T20:00:00+08:00"
    nothing = await w.client.patch(
        f"{API}/polls/{poll['id']}", json={"title": None, "questions": None}, headers=w.staff.headers
    )
    assert nothing.status_code == 200 and nothing.json()["title"] == "屋顶花园怎么用"
    bad = await w.client.patch(f"{API}/polls/{poll['id']}", json={"seats": 3}, headers=w.staff.headers)
    assert field_of(bad) == "candidates"
    resident = await w.client.patch(f"{API}/polls/{poll['id']}", json={"title": "改"}, headers=w.chen.headers)
    assert error(resident) == (404, "poll_not_found")
    assert (await w.publish(poll["id"])).status_code == 200
    late = await w.client.patch(f"{API}/polls/{poll['id']}", json={"title": "改"}, headers=w.staff.headers)
    assert error(late) == (409, "poll_not_draft")
    assert error(await w.publish(poll["id"])) == (409, "poll_not_draft")
    assert error(await w.publish(poll["id"], w.chen)) == (403, "staff_only")
    assert (await w.view(poll["id"], w.chen))["title"] == "屋顶花园怎么用"
    assert error(await w.get(poll["id"], w.c_resident)) == (404, "poll_not_found")


# -- publishing and opening ------------------------------------------------------------------------------


async def test_publishing_a_poll_whose_start_has_come_opens_it_and_tells_the_electorate(w):
    poll = await w.opened()
    assert (poll["status"], poll["phase"], poll["phase_label"]) == ("open", "voting", "投票中")
    assert poll["roll_count"] == 3 and poll["roll_taken_at"] == at()  # 101, 102, 103
    assert poll["turnout"]["electors"] == 3 and poll["turnout"]["participants"] == 0  # staff, live
    resident = await w.view(poll["id"], w.chen)
    assert resident["turnout"] is None  # residents see turnout after the close
    # every adult with an account in the households on the roll hears of it, once
    for person in (w.chen, w.mei, w.zhou, w.li):
        assert (await w.kinds(person)).count("poll.opened") == 1, person.name
    (told,) = [n for n in await w.inbox(w.mei) if n["kind"] == "poll.opened"]
    assert told["title"] == "意向征询开始了：屋顶花园怎么用" and "12-08 10:00" in told["body"]
    assert "poll.opened" not in await w.kinds(w.staff)
    jobs_ = await w.jobs(poll["id"])
    assert {key: kind for key, (kind, _) in jobs_.items()} == {
        f"poll:{poll['id']}:open": "polls.open",
        f"poll:{poll['id']}:remind": "polls.remind",
        f"poll:{poll['id']}:close": "polls.close",
    }
    assert jobs_[f"poll:{poll['id']}:remind"][1] == NOW + timedelta(days=6)
    assert jobs_[f"poll:{poll['id']}:close"][1] == NOW + timedelta(days=7)


async def test_a_scheduled_poll_opens_at_its_start_taking_the_roll_then(w):
    poll = await w.draft(opens_at=at(days=2), electorate="resident")
    published = (await w.publish(poll["id"])).json()
    assert (published["status"], published["phase"], published["roll_taken_at"]) == ("scheduled", "scheduled", None)
    assert error(await w.vote(w.chen, poll["id"])) == (409, "poll_not_open")
    assert "12月3日 10:00" in (await w.vote(w.chen, poll["id"])).json()["error"]["message"]
    newcomer, _ = await w.head("孙丽", "104")  # joins before the start: on the roll taken then
    clock.advance(timedelta(days=2))
    await w.run_worker()
    opened = await w.view(poll["id"])
    assert (opened["status"], opened["roll_taken_at"]) == ("open", at(days=2))
    # resident electorate: chen, mei, zhou, 王奶奶 (an elder, no account), li, sun; not the child
    assert opened["roll_count"] == 6
    assert "poll.opened" in await w.kinds(newcomer)
    assert (await w.vote(newcomer, poll["id"])).status_code == 201


async def test_the_first_vote_after_the_start_opens_a_poll_the_worker_has_not_reached(w):
    poll = await w.draft(opens_at=at(hours=1))
    await w.publish(poll["id"])
    clock.advance(timedelta(hours=1))
    voted = await w.vote(w.zhou, poll["id"])
    assert voted.status_code == 201, voted.text
    opened = await w.view(poll["id"])
    assert opened["status"] == "open" and opened["roll_count"] == 3 and opened["turnout"]["participants"] == 1
    assert "poll.opened" in await w.kinds(w.li)
    await w.run_worker()  # the job finds it open: nothing more
    assert (await w.kinds(w.li)).count("poll.opened") == 1


async def test_a_flat_poll_counts_every_flat_with_an_area_and_its_owners_vote(w):
    """The flat roll is every flat with a recorded area, whoever lives there: 101 (陈明's, owners),
    102 (周强's, owners, area not recorded yet) and 103 (李华 rents it; its owner lives elsewhere).
    A flat poll waits for every owner household's area; then 101 89.53 + 102 100.47 + 103 120.00 =
    310.00 ㎡ over 3 flats. 李华 is not the owner: his flat counts, and its owner votes on paper."""
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, None)  # an owner whose area is not recorded yet
    await w.flat(w.h103, 12000, owner=False)  # a rented flat
    preview = await w.client.get(
        f"{API}/communities/{w.b}/polls/electorate", params={"electorate": "flat"}, headers=w.staff.headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "electorate": "flat",
        "electorate_label": "每套房（按专有部分面积）",
        "unit": "套",
        "electors": 2,  # 101 and the rented 103; not 102 (no area)
        "households": 2,
        "weight": "209.53",  # 89.53 + 120.00
        "missing_area": 1,  # 102: an owner without an area keeps the poll from being published
        "without_area": 1,  # 102, not on the roll
        "not_owner_occupied": 1,  # 103: its owner votes on paper or by proxy
        "with_account": 1,  # 101 only
    }
    poll = await w.draft(electorate="flat", rule="art278", questions=[art278_question()])
    refused = await w.publish(poll["id"])
    assert error(refused) == (409, "poll_roll_area_missing")
    assert refused.json()["error"]["details"] == {"missing_area": 1} and "1 户" in refused.json()["error"]["message"]
    assert (await w.view(poll["id"]))["status"] == "draft"
    await w.flat(w.h102, 10047)
    published = (await w.publish(poll["id"])).json()
    assert (published["status"], published["roll_count"], published["roll_weight"]) == ("open", 3, "310.00")
    roll = await w.roll(poll["id"])
    assert [(e["label"], e["weight"]) for e in roll["items"]] == [
        ("3栋1单元101", "89.53"),
        ("3栋1单元102", "100.47"),
        ("3栋1单元103", "120.00"),
    ]
    # the tenant is not told to vote, and may not vote for the flat in the app
    assert "poll.opened" in await w.kinds(w.zhou) and "poll.opened" not in await w.kinds(w.li)
    tenant = await w.vote(w.li, poll["id"])
    assert error(tenant) == (403, "poll_not_owner")
    assert "纸质选票" in tenant.json()["error"]["message"] and "委托" in tenant.json()["error"]["message"]
    mine = await w.mine(w.li, poll["id"])
    assert (mine["eligible"], mine["voted"], mine["why_not"]) == (False, False, tenant.json()["error"]["message"])
    # the owner votes on paper at the community, entered by staff
    assert (await w.enter(poll["id"], await w.elector(poll["id"], "103"))).status_code == 201
    assert (await w.vote(w.zhou, poll["id"])).status_code == 201
    turnout = await w.view(poll["id"], tail="/turnout")
    assert (turnout["participants"], turnout["weight_participated"], turnout["area_percent"]) == (2, "220.47", 71.12)
    assert (await w.mine(w.zhou, poll["id"]))["why_not"] is None


async def test_the_electorate_preview_for_residents_and_households(w):
    async def preview(electorate: str, person: Person | None = None) -> httpx.Response:
        return await w.client.get(
            f"{API}/communities/{w.b}/polls/electorate",
            params={"electorate": electorate},
            headers=(person or w.staff).headers,
        )

    residents = (await preview("resident")).json()
    # chen, mei, zhou, 王奶奶, li (not the child); 王奶奶 has no account
    assert (residents["electors"], residents["households"], residents["with_account"]) == (5, 3, 4)
    assert residents["weight"] is None and residents["missing_area"] == 0
    households = (await preview("household")).json()
    assert (households["electors"], households["households"], households["with_account"]) == (3, 3, 3)
    assert error(await preview("household", w.chen)) == (403, "staff_only")
    assert error(await preview("household", w.c_staff)) == (404, "community_not_found")
    assert (await preview("everyone")).status_code == 422


async def test_an_empty_roll_is_not_published(w):
    poll = await w.draft(electorate="flat")
    assert error(await w.publish(poll["id"])) == (409, "poll_roll_empty")


# -- voting in the app ---------------------------------------------------------------------------------------


async def test_one_household_one_vote_whoever_of_it_votes(w):
    poll = await w.opened()
    first = await w.vote(w.mei, poll["id"], **{"Idempotency-Key": "mei-1"})
    assert first.status_code == 201, first.text
    assert first.json() == {
        "poll_id": poll["id"],
        "voted": True,
        "channel": "app",
        "channel_label": "小程序",
        "receipt": None,
        "receipt_withheld": False,
        "can_change": True,
    }
    replay = await w.vote(w.mei, poll["id"], **{"Idempotency-Key": "mei-1"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    second = await w.vote(w.chen, poll["id"], NO)
    assert error(second) == (409, "poll_already_voted")
    assert second.json()["error"]["details"] == {"channel": "app", "channel_label": "小程序", "voted_by": "林梅"}
    assert "你家已经投过票了（林梅已在小程序里投票）" in second.json()["error"]["message"]
    # chen sees that his household voted, and by whom, but not mei's choices
    assert await w.mine(w.chen, poll["id"]) == {
        "poll_id": poll["id"],
        "eligible": True,
        "elector_label": "3栋1单元101",
        "voted": True,
        "channel": "app",
        "channel_label": "小程序",
        "voted_by": "林梅",
        "voted_at": at(),
        "answers": None,
        "changed_at": None,
        "can_change": False,
        "why_not": None,
    }
    mine = await w.mine(w.mei, poll["id"])
    assert mine["answers"] == [{"question": 0, "options": [0], "text": ""}] and mine["can_change"] is True
    # only mei may change her household's ballot
    assert error(await w.change(w.chen, poll["id"])) == (403, "poll_ballot_not_yours")
    assert error(await w.change(w.zhou, poll["id"])) == (409, "poll_not_voted")
    assert (await w.vote(w.zhou, poll["id"])).status_code == 201
    assert (await w.view(poll["id"]))["turnout"]["participants"] == 2
    async with w.db.session(write=False) as session:
        assert len((await session.execute(select(PollParticipation))).all()) == 2
        assert len((await session.execute(select(PollBallot))).all()) == 2


async def test_an_open_ballot_changes_until_the_close_and_not_after(w):
    poll = await w.opened(closes_at=at(days=3))
    assert (await w.vote(w.li, poll["id"], YES)).status_code == 201
    clock.advance(timedelta(days=2, hours=23, minutes=59))
    changed = await w.change(w.li, poll["id"], NO)
    assert changed.status_code == 200, changed.text
    mine = await w.mine(w.li, poll["id"])
    assert mine["answers"] == [{"question": 0, "options": [1], "text": ""}]
    assert mine["changed_at"] == at(days=2, hours=23, minutes=59) and mine["can_change"] is True
    clock.advance(timedelta(minutes=1))  # the close
    late = await w.change(w.li, poll["id"], YES)
    assert error(late) == (409, "poll_closed") and "12月4日 10:00" in late.json()["error"]["message"]
    assert error(await w.vote(w.zhou, poll["id"])) == (409, "poll_closed")
    after = await w.mine(w.li, poll["id"])
    assert after["answers"] == [{"question": 0, "options": [1], "text": ""}] and after["can_change"] is False
    async with w.db.session(write=False) as session:
        (stored,) = (await session.execute(select(PollBallot.answers))).scalars()
    assert stored == {"0": {"options": [1], "text": ""}}
    # everyone sees the turnout after the close
    turnout = await w.view(poll["id"], w.zhou, "/turnout")
    assert (turnout["electors"], turnout["participants"], turnout["percent"]) == (3, 1, 33.33)


async def test_answers_are_checked_against_their_question(w):
    poll = await w.opened(
        questions=[
            question(),
            question("想要哪些设施？", "花架", "座椅", "晾衣架", kind="multiple", max_choices=2, allow_text=True),
        ]
    )

    async def answer(*answers: dict[str, Any]) -> httpx.Response:
        return await w.vote(w.chen, poll["id"], list(answers))

    both = {"question": 1, "options": [0, 1]}
    assert field_of(await answer({"question": 0, "options": [2]}, both)) == "answers[0].options"
    assert field_of(await answer({"question": 0, "options": [0, 1]}, both)) == "answers[0].options"
    assert field_of(await answer({"question": 0, "options": [0]}, {"question": 1, "options": [0, 1, 2]})) == (
        "answers[1].options"
    )
    assert field_of(await answer({"question": 0, "options": [0]})) == "answers"  # question 2 left out
    assert field_of(await answer({"question": 0, "options": [0], "text": "好"}, both)) == "answers[0].text"
    assert field_of(await answer({"question": 0, "options": [0]}, both, {"question": 0, "options": [1]})) == (
        "answers[2].question"
    )
    assert field_of(await answer({"question": 5, "options": [0]}, both)) == "answers[0].question"
    assert (await answer({"question": 0, "options": ["0"]}, both)).status_code == 422
    assert (await w.mine(w.chen, poll["id"]))["voted"] is False
    ok = await answer(
        {"question": 1, "options": [2, 0], "text": "  还想要一个遮阳棚 "}, {"question": 0, "options": [1]}
    )
    assert ok.status_code == 201, ok.text
    assert (await w.mine(w.chen, poll["id"]))["answers"] == [
        {"question": 0, "options": [1], "text": ""},
        {"question": 1, "options": [0, 2], "text": "还想要一个遮阳棚"},
    ]


async def test_an_elector_chooses_up_to_the_seats_of_a_large_election(w):
    """Up to 50 seats among up to 100 candidates: a ballot names as many as there are seats."""
    candidates = [{"name": f"候选人{i}"} for i in range(100)]
    poll = await w.opened(kind="election", seats=50, candidates=candidates)
    too_many = await w.vote(w.zhou, poll["id"], [{"question": 0, "options": list(range(51))}])
    assert field_of(too_many) == "answers[0].options" and "最多选 50 项" in too_many.json()["error"]["message"]
    full = await w.vote(w.chen, poll["id"], [{"question": 0, "options": list(range(50, 100))}])
    assert full.status_code == 201, full.text
    assert (await w.mine(w.chen, poll["id"]))["answers"] == [
        {"question": 0, "options": list(range(50, 100)), "text": ""}
    ]
    over = await w.vote(w.li, poll["id"], [{"question": 0, "options": list(range(101))}])
    assert over.status_code == 422  # more than any election has candidates: refused by the request's bound


async def test_who_may_vote(w):
    poll = await w.opened(electorate="resident")
    pending = await login(w.client, "pending")
    await join(w.client, pending, w.b, "3栋", "1单元", "103")  # not approved by li
    assert error(await w.vote(pending, poll["id"])) == (403, "membership_pending")
    assert error(await w.vote(w.staff, poll["id"])) == (403, "poll_not_elector")  # staff, not a resident
    assert error(await w.vote(w.c_resident, poll["id"])) == (404, "poll_not_found")
    assert error(await w.vote(w.c_staff, poll["id"])) == (404, "poll_not_found")
    newcomer, _ = await w.head("孙丽", "104")  # after the roll was taken
    refused = await w.vote(newcomer, poll["id"])
    assert error(refused) == (403, "poll_not_elector") and "名册" in refused.json()["error"]["message"]
    assert (await w.mine(newcomer, poll["id"]))["eligible"] is False
    # resident electorate: chen and mei each vote
    assert (await w.vote(w.chen, poll["id"])).status_code == 201
    assert (await w.vote(w.mei, poll["id"], NO)).status_code == 201
    again = await w.vote(w.mei, poll["id"])
    assert error(again) == (409, "poll_already_voted") and "你已经投过票了" in again.json()["error"]["message"]
    draft = await w.draft()
    assert error(await w.vote(w.chen, draft["id"])) == (404, "poll_not_found")
    assert error(await w.vote(w.staff, draft["id"])) == (409, "poll_not_open")


# -- secret ballots ------------------------------------------------------------------------------------------


async def test_a_secret_ballot_has_a_receipt_and_ties_to_no_one(w):
    poll = await w.opened(kind="election", secret=True, electorate="resident")
    cast = await w.vote(w.chen, poll["id"], [{"question": 0, "options": [2, 0]}], **{"Idempotency-Key": "chen-1"})
    assert cast.status_code == 201, cast.text
    receipt = cast.json()["receipt"]
    assert len(receipt) == 19 and receipt.count("-") == 3 and cast.json()["can_change"] is False
    # a retry with the same key is answered without it: the receipt is kept nowhere next to the voter
    replay = await w.vote(w.chen, poll["id"], [{"question": 0, "options": [2, 0]}], **{"Idempotency-Key": "chen-1"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert (replay.json()["receipt"], replay.json()["receipt_withheld"]) == (None, True)
    async with w.db.session(write=False) as session:
        kept = [str(body) for body in (await session.execute(select(IdempotencyKey.response_body))).scalars()]
    assert kept and not any(receipt in body for body in kept)
    other = (await w.vote(w.mei, poll["id"], [{"question": 0, "options": [1]}])).json()["receipt"]
    assert other != receipt
    too_many = await w.vote(w.zhou, poll["id"], [{"question": 0, "options": [0, 1, 2]}])
    assert field_of(too_many) == "answers[0].options"  # two seats: at most two names
    # never changed, by anyone
    assert error(await w.change(w.chen, poll["id"], [{"question": 0, "options": [1]}])) == (409, "poll_ballot_secret")
    mine = await w.mine(w.chen, poll["id"])
    assert mine["voted"] is True and mine["answers"] is None and mine["can_change"] is False
    # the receipt shows its choices to whoever holds it, typed any way, and nothing of who or when
    typed = receipt.lower().replace("-", " ")
    checked = await w.view(poll["id"], w.li, f"/receipts/{typed}")
    assert checked == {
        "poll_id": poll["id"],
        "receipt": receipt,
        "answers": [
            {
                "question": 0,
                "question_text": "应选2名，每张选票最多选2人，也可以一人不选（弃权）",
                "options": [{"index": 0, "label": "张桂兰"}, {"index": 2, "label": "赵小燕"}],
                "text": "",
            }
        ],
    }
    assert error(await w.get(poll["id"], w.li, "/receipts/AAAA-BBBB-CCCC-DDDD")) == (404, "poll_receipt_not_found")
    assert error(await w.get(poll["id"], w.c_resident, f"/receipts/{receipt}")) == (404, "poll_not_found")
    # what staff see of who took part never carries a ballot
    listing = await w.view(poll["id"], tail="/participations")
    assert [p["voter_name"] for p in listing["items"]] == ["陈明", "林梅"]
    roll = await w.roll(poll["id"])
    seen = [str(listing), str(roll), str(await w.view(poll["id"])), str(await w.view(poll["id"], tail="/turnout"))]
    async with w.db.session(write=False) as session:
        ballots = (await session.execute(select(PollBallot))).scalars().all()
    assert {b.participation_id for b in ballots} == {None} and {b.changed_at for b in ballots} == {None}
    assert sorted(b.receipt for b in ballots) == sorted([receipt, other])
    for text in seen:
        assert receipt not in text and other not in text
        assert not any(str(b.id) in text for b in ballots)


# -- paper and proxy ballots ---------------------------------------------------------------------------------


async def test_staff_enter_paper_and_proxy_ballots_with_a_photo_residents_never_see(w):
    poll = await w.opened(electorate="resident")
    elder = await w.elector(poll["id"], "102 王奶奶")
    photo = await w.upload(w.staff)
    await w.run_worker()  # the renditions (a staff photo needs no check)
    entered = await w.enter(poll["id"], elder, photo_media_id=photo, **{"answers": NO})
    assert entered.status_code == 201, entered.text
    assert entered.json()["channel_label"] == "纸质选票" and entered.json()["receipt"] is None
    again = await w.enter(poll["id"], elder)
    assert error(again) == (409, "poll_already_voted")
    assert again.json()["error"]["details"]["voted_by"] == "纸质选票"
    # the photo is staff's only: residents cannot open it, nor can it go into a post
    assert error(await w.client.get(f"{API}/media/{photo}", headers=w.zhou.headers)) == (404, "media_not_found")
    post = await w.client.post(
        f"{API}/communities/{w.b}/posts", json={"body": "今天的选票", "media_ids": [photo]}, headers=w.staff.headers
    )
    assert error(post) == (409, "media_in_use")
    used_twice = await w.enter(poll["id"], await w.elector(poll["id"], "103 李华"), photo_media_id=photo)
    assert error(used_twice) == (409, "media_in_use")
    theirs = await w.upload(w.zhou)
    refused = await w.enter(poll["id"], await w.elector(poll["id"], "103 李华"), photo_media_id=theirs)
    assert field_of(refused) == "photo_media_id"
    # a proxy names who voted
    li = await w.elector(poll["id"], "103 李华")
    assert field_of(await w.enter(poll["id"], li, channel="proxy")) == "proxy_name"
    assert field_of(await w.enter(poll["id"], li, proxy_name="李小华")) == "proxy_name"  # paper has none
    proxy = await w.enter(poll["id"], li, channel="proxy", proxy_name="李小华")
    assert proxy.status_code == 201, proxy.text
    # li then finds his vote taken
    assert (await w.vote(w.li, poll["id"])).json()["error"]["details"]["voted_by"] == "委托投票"
    assert (await w.mine(w.li, poll["id"]))["voted_by"] == "委托投票"
    listing = (await w.view(poll["id"], tail="/participations"))["items"]
    assert [(p["label"], p["channel"], p["entered_by_name"], p["proxy_name"]) for p in listing] == [
        ("3栋1单元102 王奶奶", "paper", "工作人员", None),
        ("3栋1单元103 李华", "proxy", "工作人员", "李小华"),
    ]
    assert listing[0]["photo"]["id"] == photo and listing[0]["photo"]["urls"]["thumb"]
    assert "answers" not in str(listing) and "options" not in str(listing)
    assert error(await w.get(poll["id"], w.chen, "/participations")) == (403, "staff_only")
    assert error(await w.enter(poll["id"], 10**12)) == (422, "validation_error")
    by_resident = await w.client.post(
        f"{API}/polls/{poll['id']}/entries",
        json={"elector_id": li, "channel": "paper", "answers": YES},
        headers=w.chen.headers,
    )
    assert error(by_resident) == (403, "staff_only")
    turnout = await w.view(poll["id"], tail="/turnout")
    assert [(c["channel"], c["count"]) for c in turnout["by_channel"]] == [("app", 0), ("paper", 1), ("proxy", 1)]


async def test_a_secret_paper_ballot_has_no_photo_but_a_proxys_authorisation_may(w):
    """A photo of a secret paper ballot shows its choices on the participation row (who voted): it
    is refused by name; the proxy's authorisation photo is kept, shown only with the participation."""
    poll = await w.opened(secret=True)
    photo = await w.upload(w.staff)
    letter = await w.upload(w.staff)
    await w.run_worker()
    refused = await w.enter(poll["id"], await w.elector(poll["id"], "102"), photo_media_id=photo)
    assert field_of(refused) == "photo_media_id"
    assert "无记名" in refused.json()["error"]["message"] and "委托" in refused.json()["error"]["message"]
    assert (await w.view(poll["id"], tail="/participations"))["items"] == []  # nothing was written
    paper = await w.enter(poll["id"], await w.elector(poll["id"], "102"))
    assert paper.status_code == 201 and paper.json()["receipt"]
    proxy = await w.enter(
        poll["id"], await w.elector(poll["id"], "103"), channel="proxy", proxy_name="李小华", photo_media_id=letter
    )
    assert proxy.status_code == 201, proxy.text
    listing = (await w.view(poll["id"], tail="/participations"))["items"]
    assert [(p["label"], p["channel"], p["photo"]["id"] if p["photo"] else None) for p in listing] == [
        ("3栋1单元102", "paper", None),
        ("3栋1单元103", "proxy", letter),
    ]
    receipt = await w.view(poll["id"], w.zhou, f"/receipts/{paper.json()['receipt']}")
    assert set(receipt) == {"poll_id", "receipt", "answers"}  # a receipt's page: no photo, no one
    # an open poll keeps the paper ballot's photo
    open_poll = await w.opened()
    assert (
        await w.enter(open_poll["id"], await w.elector(open_poll["id"], "102"), photo_media_id=photo)
    ).status_code == 201


async def test_staff_correct_an_open_paper_ballot_but_not_an_app_or_secret_one(w):
    poll = await w.opened()
    paper = (await w.enter(poll["id"], await w.elector(poll["id"], "102"))).json()
    corrected = await w.client.put(
        f"{API}/polls/{poll['id']}/entries/{paper['participation_id']}", json={"answers": NO}, headers=w.staff.headers
    )
    assert corrected.status_code == 200, corrected.text
    # zhou sees that a paper ballot was entered for his household, not its choices
    mine = await w.mine(w.zhou, poll["id"])
    assert (mine["voted_by"], mine["answers"], mine["can_change"]) == ("纸质选票", None, False)
    assert error(await w.change(w.zhou, poll["id"])) == (403, "poll_ballot_not_yours")
    assert (await w.vote(w.chen, poll["id"])).status_code == 201
    app_pid = next(p for p in (await w.view(poll["id"], tail="/participations"))["items"] if p["channel"] == "app")[
        "id"
    ]
    refused = await w.client.put(
        f"{API}/polls/{poll['id']}/entries/{app_pid}", json={"answers": NO}, headers=w.staff.headers
    )
    assert error(refused) == (403, "poll_ballot_not_yours")
    secret = await w.opened(secret=True)
    entered = (await w.enter(secret["id"], await w.elector(secret["id"], "103"))).json()
    assert entered["receipt"] and entered["receipt_withheld"] is False
    fixed = await w.client.put(
        f"{API}/polls/{secret['id']}/entries/{entered['participation_id']}",
        json={"answers": NO},
        headers=w.staff.headers,
    )
    assert error(fixed) == (409, "poll_ballot_secret")
    clock.advance(timedelta(days=7))
    closed = await w.client.put(
        f"{API}/polls/{poll['id']}/entries/{paper['participation_id']}", json={"answers": YES}, headers=w.staff.headers
    )
    assert error(closed) == (409, "poll_closed")
    assert error(await w.enter(poll["id"], await w.elector(poll["id"], "103"))) == (409, "poll_closed")


# -- turnout, cancelling, reminders --------------------------------------------------------------------------


async def test_turnout_is_staffs_while_voting_and_everyones_after_the_close(w):
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, 10047)
    await w.flat(w.h103, 10000)
    poll = await w.opened(electorate="flat", rule="art278", questions=[art278_question()])
    assert (await w.vote(w.mei, poll["id"])).status_code == 201
    assert (await w.enter(poll["id"], await w.elector(poll["id"], "103"), answers=NO)).status_code == 201
    live = await w.view(poll["id"], tail="/turnout")
    assert live == {
        "poll_id": poll["id"],
        "unit": "套",
        "electors": 3,
        "participants": 2,
        "by_channel": [
            {"channel": "app", "label": "小程序", "count": 1},
            {"channel": "paper", "label": "纸质选票", "count": 1},
            {"channel": "proxy", "label": "委托投票", "count": 0},
        ],
        "weight_total": "290.00",
        "weight_participated": "189.53",
        "percent": 66.67,
        "area_percent": 65.36,
    }
    hidden = await w.get(poll["id"], w.zhou, "/turnout")
    assert error(hidden) == (409, "poll_turnout_hidden") and "12月8日 10:00" in hidden.json()["error"]["message"]
    assert (await w.view(poll["id"], w.zhou))["turnout"] is None
    clock.advance(timedelta(days=7))
    assert (await w.view(poll["id"], w.zhou, "/turnout"))["participants"] == 2
    after = await w.view(poll["id"], w.zhou)
    assert after["phase"] == "closed" and after["results_visible"] is True and after["turnout"]["percent"] == 66.67


async def test_cancelling_before_the_close_withdraws_the_jobs_and_stops_the_votes(w):
    poll = await w.opened()
    assert (await w.vote(w.chen, poll["id"])).status_code == 201
    no_reason = await w.client.post(f"{API}/polls/{poll['id']}/cancel", json={}, headers=w.staff.headers)
    assert field_of(no_reason) == "reason"
    by_resident = await w.client.post(
        f"{API}/polls/{poll['id']}/cancel", json={"reason": "不想投了"}, headers=w.chen.headers
    )
    assert error(by_resident) == (403, "staff_only")
    cancelled = await w.client.post(
        f"{API}/polls/{poll['id']}/cancel", json={"reason": "方案要重新征求意见"}, headers=w.staff.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == ("cancelled", "方案要重新征求意见")
    assert await w.jobs(poll["id"]) == {}
    assert error(await w.vote(w.zhou, poll["id"])) == (409, "poll_cancelled")
    assert (await w.view(poll["id"], w.zhou))["phase_label"] == "已取消"
    again = await w.client.post(f"{API}/polls/{poll['id']}/cancel", json={"reason": "再取消"}, headers=w.staff.headers)
    assert error(again) == (409, "poll_cancelled")
    ended = await w.opened(closes_at=at(days=1))
    clock.advance(timedelta(days=1))
    late = await w.client.post(f"{API}/polls/{ended['id']}/cancel", json={"reason": "晚了"}, headers=w.staff.headers)
    assert error(late) == (409, "poll_closed")
    # a draft cancelled before it was published stays unseen by residents
    draft = await w.draft(closes_at=at(days=9))
    await w.client.post(f"{API}/polls/{draft['id']}/cancel", json={"reason": "不办了"}, headers=w.staff.headers)
    assert error(await w.get(draft["id"], w.chen)) == (404, "poll_not_found")
    listed = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.chen.headers)
    assert [p["id"] for p in listed.json()["items"]] == [poll["id"], ended["id"]]


async def test_cancelling_retracts_the_notices_and_tells_the_electorate_why(w):
    poll = await w.opened(closes_at=at(days=3))
    assert (await w.vote(w.chen, poll["id"])).status_code == 201
    clock.advance(timedelta(days=2))
    await w.run_worker()  # polls.remind: zhou and li have not voted
    assert "poll.closing" in await w.kinds(w.zhou)
    later = await w.draft(opens_at=at(days=4), closes_at=at(days=9), title="还没开始的投票")
    assert (await w.publish(later["id"])).status_code == 200  # scheduled: nobody was told anything yet
    for pid in (poll["id"], later["id"]):
        cancelled = await w.client.post(
            f"{API}/polls/{pid}/cancel", json={"reason": "方案要重新征求意见"}, headers=w.staff.headers
        )
        assert cancelled.status_code == 200, cancelled.text
    for person in (w.chen, w.mei, w.zhou, w.li):  # the households on the roll, voted or not
        kinds = await w.kinds(person)
        assert "poll.opened" not in kinds and "poll.closing" not in kinds, person.name  # retracted
        (told,) = [n for n in await w.inbox(person) if n["kind"] == "poll.cancelled"]
        assert told["title"] == "意向征询已取消：屋顶花园怎么用", person.name
        assert "已经投的票不会计票" in told["body"] and "原因：方案要重新征求意见" in told["body"]
        assert told["page"] == f"pages/polls/detail?id={poll['id']}"
    assert "poll.cancelled" not in await w.kinds(w.staff)
    # jobs already taken find the poll cancelled and do nothing
    async with w.db.session() as session:
        for pid in (poll["id"], later["id"]):
            for kind in ("polls.open", "polls.remind", "polls.close"):
                await outbox.enqueue(session, kind, {"poll_id": pid}, run_at=clock.now())
        await session.commit()
    clock.advance(timedelta(days=8))
    await w.run_worker()
    for pid in (poll["id"], later["id"]):
        assert (await w.view(pid))["status"] == "cancelled"
        assert error(await w.get(pid, tail="/results")) == (409, "poll_cancelled")
    for person in (w.chen, w.zhou, w.li):
        assert sorted(await w.kinds(person)) == ["poll.cancelled"], person.name


async def test_a_day_before_the_close_those_who_have_not_voted_hear_of_it(w):
    poll = await w.opened(electorate="household", closes_at=at(days=3))
    assert (await w.vote(w.chen, poll["id"])).status_code == 201  # 101 voted: chen and mei are not reminded
    assert (await w.enter(poll["id"], await w.elector(poll["id"], "103"))).status_code == 201  # 103 on paper
    clock.advance(timedelta(days=2))
    await w.run_worker()
    assert "poll.closing" in await w.kinds(w.zhou)
    (told,) = [n for n in await w.inbox(w.zhou) if n["kind"] == "poll.closing"]
    assert told["title"] == "明天截止：屋顶花园怎么用" and told["page"] == f"pages/polls/detail?id={poll['id']}"
    for person in (w.chen, w.mei, w.li, w.staff):
        assert "poll.closing" not in await w.kinds(person), person.name
    await w.run_worker()
    assert (await w.kinds(w.zhou)).count("poll.closing") == 1


async def test_the_list_of_polls(w):
    first = await w.opened(title="屋顶花园", closes_at=at(days=3))
    second = await w.opened(title="院落委员会", kind="election", closes_at=at(days=5))
    draft = await w.draft(title="草稿", closes_at=at(days=9))
    staff = await w.client.get(f"{API}/communities/{w.b}/polls", params={"limit": 2}, headers=w.staff.headers)
    assert [p["id"] for p in staff.json()["items"]] == [draft["id"], second["id"]]
    rest = await w.client.get(
        f"{API}/communities/{w.b}/polls", params={"cursor": staff.json()["next_cursor"]}, headers=w.staff.headers
    )
    assert [p["id"] for p in rest.json()["items"]] == [first["id"]] and rest.json()["next_cursor"] is None
    drafts = await w.client.get(f"{API}/communities/{w.b}/polls", params={"status": "draft"}, headers=w.staff.headers)
    assert [p["id"] for p in drafts.json()["items"]] == [draft["id"]]
    resident = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.chen.headers)
    assert [(p["title"], p["standing"], p["phase"]) for p in resident.json()["items"]] == [
        ("院落委员会", "选举", "voting"),
        ("屋顶花园", "意向征询", "voting"),
    ]
    other = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.c_resident.headers)
    assert error(other) == (404, "community_not_found")
