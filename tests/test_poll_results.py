"""Poll results: hidden from everyone — staff included — until the close, then published to the
community with turnout; the Civil Code art. 278 dual thresholds at their edges, with the area and
headcount worked out by hand below; a consultation (意向征询) that never says it passed; secret
ballots that no endpoint and no export ties to their voters.

The world is built through the API (residents join, staff register households of elders without
WeChat, staff create and publish polls, residents vote in the app, staff enter paper and proxy
ballots); a household's floor area and owner flag are written to the database, since their API
belongs to another part of the issue. The clock is frozen and moved across the opening and the
close; the worker runs the `polls.close` job."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, text, update

from api import clock
from api.db.models import Household, OutboxJob, PollBallot, User
from api.services.votes import voting
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
OPENS = NOW + timedelta(hours=1)
CLOSES = NOW + timedelta(days=3)  # Friday 4 December, 10:00 in Shanghai
VOTING = NOW + timedelta(hours=2)
API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings(database_url):
    # a month-long login, so that tests can move the clock past a poll's close
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def answers(*choices: int | list[int], text: str = "") -> list[dict[str, Any]]:
    """A ballot: one choice (or several) per question, in order; `text` goes with the first."""
    ballot = []
    for index, chosen in enumerate(choices):
        answer: dict[str, Any] = {"question": index, "options": chosen if isinstance(chosen, list) else [chosen]}
        if text and index == 0:
            answer["text"] = text
        ballot.append(answer)
    return ballot


def art278_question(text: str) -> dict[str, Any]:
    return {"text": text, "options": [{"label": "同意", "approves": True}, {"label": "反对"}, {"label": "弃权"}]}


AGREE, AGAINST, ABSTAIN = 0, 1, 2


class World:
    """Community B: staff; residents chen, zhou, li, wang (3栋1单元101–104), each their household's
    head; households of elders without WeChat registered by staff. Community C with its own staff."""

    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.app, self.db = client, app, app.state.db
        self.root = await platform_admin(client, app.state.db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.homes: dict[str, int] = {}
        self.chen = await self.resident("chen", "101")
        self.zhou = await self.resident("zhou", "102")
        self.li = await self.resident("li", "103")
        self.wang = await self.resident("wang", "104")
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.c_staff = await login(client, "c-staff")
        await grant(client, self.root, self.c, self.c_staff, "staff")
        return self

    async def resident(self, name: str, room: str) -> Person:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, "3栋", "1单元", room)
        self.homes[name] = joined["household"]["id"]
        return person

    async def elder_household(self, unit: str, room: str, name: str) -> int:
        """A household staff register at the desk: an elder without WeChat (votes on paper)."""
        response = await self.client.post(
            f"{API}/communities/{self.b}/households",
            json={"building": "3栋", "unit": unit, "room": room, "members": [{"display_name": name, "kind": "elder"}]},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        household_id: int = response.json()["id"]
        return household_id

    async def own(self, household_id: int, area_centi: int, owner: bool = True) -> None:
        """The household's flat has this area (hundredths of ㎡), and the household owns it (or
        rents it: `owner` False). The database: the API for areas belongs to the flats part."""
        async with self.db.session() as session:
            await session.execute(
                update(Household)
                .where(Household.id == household_id)
                .values(is_owner=owner, floor_area_centi=area_centi)
            )
            await session.commit()

    async def poll(self, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "屋顶花园怎么用",
            "electorate": "household",
            "opens_at": local(OPENS),
            "closes_at": local(CLOSES),
            "questions": [{"text": "屋顶花园改作什么用？", "options": [{"label": "种菜"}, {"label": "晾晒"}]}],
            **fields,
        }
        response = await self.client.post(f"{API}/communities/{self.b}/polls", json=body, headers=self.staff.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def publish(self, poll_id: int) -> dict[str, Any]:
        response = await self.client.post(f"{API}/polls/{poll_id}/publish", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def vote(self, person: Person, poll_id: int, ballot: list[dict[str, Any]]) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/polls/{poll_id}/ballot", json={"answers": ballot}, headers=person.headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def roll(self, poll_id: int) -> dict[str, int]:
        """The roll as staff see it: elector id by label (its address)."""
        response = await self.client.get(f"{API}/polls/{poll_id}/roll?limit=100", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        return {item["label"]: item["id"] for item in response.json()["items"]}

    async def enter(
        self, poll_id: int, label: str, ballot: list[dict[str, Any]], channel: str = "paper", **extra: Any
    ) -> dict[str, Any]:
        """Staff enter a paper ballot (or a proxy's) for the elector at `label`, found on the roll."""
        elector_id = (await self.roll(poll_id))[label]
        response = await self.client.post(
            f"{API}/polls/{poll_id}/entries",
            json={"elector_id": elector_id, "channel": channel, "answers": ballot, **extra},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def results(self, poll_id: int, person: Person | None = None) -> httpx.Response:
        return await self.client.get(f"{API}/polls/{poll_id}/results", headers=(person or self.staff).headers)

    async def result(self, poll_id: int, person: Person | None = None) -> dict[str, Any]:
        response = await self.results(poll_id, person)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def run_worker(self) -> None:
        await Worker(self.app.state.db, self.app.state.settings, self.app.state.wechat).run_until_idle()

    async def inbox(self, person: Person, kind: str = "poll.result") -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/me/inbox?limit=100", headers=person.headers)
        assert response.status_code == 200, response.text
        return [entry for entry in response.json()["items"] if entry["kind"] == kind]


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def by_key(thresholds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in thresholds}


def figures(t: dict[str, Any]) -> tuple[int, int, bool]:
    return t["numerator"], t["denominator"], t["met"]


# -- hidden until the close ------------------------------------------------------------------------


async def test_results_are_hidden_until_the_close_from_staff_and_residents_alike(w):
    poll = await w.poll()
    pid = poll["id"]
    # a draft: staff are told there is nothing yet; residents do not see the poll at all
    assert error(await w.results(pid)) == (409, "poll_results_hidden")
    assert error(await w.results(pid, w.chen)) == (404, "poll_not_found")
    await w.publish(pid)  # scheduled: voting starts in an hour
    for person in (w.staff, w.chen):
        assert error(await w.results(pid, person)) == (409, "poll_results_hidden")

    clock.freeze(VOTING)
    await w.vote(w.chen, pid, answers(0))
    await w.vote(w.zhou, pid, answers(1))
    await w.vote(w.li, pid, answers(0))
    for person in (w.staff, w.chen, w.zhou):
        hidden = await w.results(pid, person)
        assert error(hidden) == (409, "poll_results_hidden")
        assert "12月4日 10:00" in hidden.json()["error"]["message"]  # says when the results appear
        assert hidden.json()["error"]["details"]["closes_at"] == local(CLOSES)
    export = await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.staff.headers)
    assert error(export) == (409, "poll_results_hidden")
    assert error(await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.chen.headers)) == (403, "staff_only")
    assert error(await w.results(pid, w.c_staff)) == (404, "poll_not_found")
    # while voting staff see how many took part — never what anyone chose
    page = (await w.client.get(f"{API}/polls/{pid}", headers=w.staff.headers)).json()
    assert page["results_visible"] is False and page["turnout"]["participants"] == 3
    assert "种菜" not in json.dumps(page["turnout"], ensure_ascii=False)
    assert (await w.client.get(f"{API}/polls/{pid}", headers=w.chen.headers)).json()["turnout"] is None

    clock.freeze(CLOSES - timedelta(seconds=1))  # a second before the close: still nothing
    for person in (w.staff, w.chen):
        assert error(await w.results(pid, person)) == (409, "poll_results_hidden")

    clock.freeze(CLOSES)  # the close: the worker has not run yet, the first reader's request counts
    seen = await w.result(pid, w.chen)
    assert seen["status"] == "closed" and seen["tallied_at"] == local(CLOSES)
    assert [o["votes"] for o in seen["questions"][0]["options"]] == [2, 1]
    assert seen["turnout"]["participants"] == 3 and seen["turnout"]["electors"] == 4
    staff_view = await w.result(pid)
    assert staff_view == seen  # one count for everyone
    await w.run_worker()  # the close job finds it counted: nothing counted twice, nobody told twice
    assert (await w.result(pid))["tallied_at"] == local(CLOSES)
    for person in (w.chen, w.zhou, w.li, w.wang, w.staff):
        (told,) = await w.inbox(person)
        assert told["title"] == "意向征询结果：屋顶花园怎么用"
    assert await w.inbox(w.c_staff) == []
    assert error(await w.results(pid, w.c_staff)) == (404, "poll_not_found")


async def test_the_result_is_published_with_turnout_once_the_worker_closes_the_poll(w):
    await w.elder_household("1单元", "105", "刘大爷")  # votes on paper
    await w.elder_household("1单元", "106", "孙奶奶")  # votes by proxy
    poll = await w.poll(
        questions=[
            {
                "text": "屋顶花园改作什么用？",
                "options": [{"label": "种菜"}, {"label": "晾晒"}, {"label": "休闲座椅"}],
                "allow_text": True,
            },
            {
                "text": "需要添置什么？（最多两项）",
                "kind": "multiple",
                "max_choices": 2,
                "options": [{"label": "水龙头"}, {"label": "遮阳棚"}, {"label": "长椅"}],
            },
        ]
    )
    pid = poll["id"]
    await w.publish(pid)
    clock.freeze(VOTING)
    # six households on the roll; wang's does not vote
    await w.vote(w.chen, pid, answers(0, [0, 1], text="希望有水龙头"))
    await w.vote(w.zhou, pid, answers(0, [0]))
    await w.vote(w.li, pid, answers(2, [2, 1], text="给老人留座位"))
    await w.enter(pid, "3栋1单元105", answers(0, [0, 2]))
    await w.enter(pid, "3栋1单元106", answers(1, [1]), channel="proxy", proxy_name="孙阿姨")

    clock.freeze(CLOSES + timedelta(minutes=1))
    await w.run_worker()  # polls.close: counted, stored, everyone told
    page = (await w.client.get(f"{API}/polls/{pid}", headers=w.chen.headers)).json()
    assert page["status"] == "closed" and page["tallied_at"] == local(CLOSES + timedelta(minutes=1))

    result = await w.result(pid, w.chen)
    assert result["standing"] == "意向征询" and result["consultation"] is True
    turnout = result["turnout"]
    assert (turnout["electors"], turnout["participants"], turnout["unit"]) == (6, 5, "户")
    assert turnout["percent"] == 83.33  # 5 of 6
    assert {c["channel"]: c["count"] for c in turnout["by_channel"]} == {"app": 3, "paper": 1, "proxy": 1}
    first, second = result["questions"]
    assert [(o["label"], o["votes"], o["percent"]) for o in first["options"]] == [
        ("种菜", 3, 60.0),
        ("晾晒", 1, 20.0),
        ("休闲座椅", 1, 20.0),
    ]
    assert first["answered"] == 5
    assert first["outcome"]["status"] == "majority" and first["outcome"]["majority"] == [0]
    assert first["outcome"]["label"] == "多数意见：种菜（60.00%）（仅供参考）"
    assert first["texts"] == sorted(["希望有水龙头", "给老人留座位"])
    # several answers each: 水龙头 3, 遮阳棚 3, 长椅 2 of 5 ballots — more than half for two of them
    assert [(o["votes"], o["majority"]) for o in second["options"]] == [(3, True), (3, True), (2, False)]
    assert second["outcome"]["label"] == "多数意见：水龙头（60.00%）、遮阳棚（60.00%）（仅供参考）"
    assert result["summary"] == "2个问题中2个有过半数的意见（仅供参考）"
    text = json.dumps(result, ensure_ascii=False)
    assert "通过" not in text and "决定" not in text  # a consultation decides nothing

    (told,) = await w.inbox(w.wang)  # everyone hears, also those who did not vote
    assert told["title"] == "意向征询结果：屋顶花园怎么用"
    assert "参与5/6户（83.33%）" in told["body"]
    (staff_told,) = await w.inbox(w.staff)
    assert staff_told["body"] == told["body"]

    export = await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.staff.headers)
    assert export.status_code == 200, export.text
    book = load_workbook(io.BytesIO(export.content))
    assert book.sheetnames == ["结果", "名册", "选票"]
    summary = {row[0]: row for row in book["结果"].iter_rows(min_row=2, values_only=True) if row[0]}
    assert summary["性质"][1] == "意向征询"
    assert summary["参与"][2] == 5 and summary["参与"][4] == 83.33
    roll = list(book["名册"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3] or "") for r in roll] == [
        ("3栋1单元101", "是", "小程序"),
        ("3栋1单元102", "是", "小程序"),
        ("3栋1单元103", "是", "小程序"),
        ("3栋1单元104", "否", ""),
        ("3栋1单元105", "是", "纸质选票"),
        ("3栋1单元106", "是", "委托投票（孙阿姨）"),
    ]
    ballots = list(book["选票"].iter_rows(values_only=True))
    assert ballots[0][:4] == ("选民", "方式", "问题1：屋顶花园改作什么用？", "问题1的意见")
    assert ballots[1][:4] == ("3栋1单元101", "小程序", "种菜", "希望有水龙头")  # open ballots: by elector


# -- the art. 278 thresholds -------------------------------------------------------------------------
#
# Six flats, areas in ㎡:   f1 3栋1单元101 (chen, owner)   160.00     f4 3栋2单元202 (an elder, owner)  80.00
#                           f2 3栋1单元102 (zhou, owner)   160.00     f5 3栋2单元203 (an elder, owner)  80.01
#                           f3 3栋1单元103 (li rents it)   160.00     f6 3栋1单元104 (wang rents it)    79.99
# Every flat with an area is on the roll, whoever lives there: the rented f3 and f6 count as any
# other (their owners live elsewhere and vote on paper or by proxy, entered by staff; li and wang
# may not vote for them in the app). Total 720.00 ㎡ and 6 flats — without the rented flats it would
# be 480.00 ㎡ and 4; two thirds: 480.00 ㎡ and 4 flats ("以上": the figure itself meets it).
#
# P1 (owners' assembly): f1, f2, f5, f6 take part: 160.00 + 160.00 + 80.01 + 79.99 = 480.00 ㎡ —
#     exactly 2/3 of 720.00 — and 4 of 6 flats — exactly 2/3: participation met on both.
#     Q1 同意 f1, f5: 160.00 + 80.01 = 240.01 ㎡ > 240.00 (half of 480.00), but 2 of 4 flats is
#        half, not more than half: not passed.
#     Q2 同意 f2, f5, f6: 320.00 ㎡ > 240.00 and 3 of 4 flats > 2: passed.
# P2 (a consultation): f1, f2, f4, f6 take part: 160.00 + 160.00 + 80.00 + 79.99 = 479.99 ㎡, just
#     below 480.00 (while 4 of 6 flats meets two thirds); all agree: the threshold is not reached.
# P3 (owners' assembly, special majority 3/4): f1, f2, f5, f6 take part (480.00 ㎡, 4 flats).
#     Q1 同意 f1, f2, f6: 399.99 ㎡ ≥ 360.00 (3/4 of 480.00) and 3 of 4 flats — exactly 3/4: passed.
#     Q2 同意 f1, f5, f6: 320.00 ㎡ < 360.00, though 3 of 4 flats: not passed.
# P4 (owners' assembly): f1, f2, f3 (its owner on paper) take part: 480.00 ㎡ meets two thirds of the
#     area, but 3 flats are fewer than the 4 needed: not passed.


async def flats(w: World) -> None:
    await w.own(w.homes["chen"], 16000)
    await w.own(w.homes["zhou"], 16000)
    await w.own(w.homes["li"], 16000, owner=False)
    await w.own(w.homes["wang"], 7999, owner=False)
    for room, area in (("202", 8000), ("203", 8001)):
        await w.own(await w.elder_household("2单元", room, f"业主{room}"), area)


def owners_poll(title: str, *questions: str, **fields: Any) -> dict[str, Any]:
    return {
        "title": title,
        "electorate": "flat",
        "rule": "art278",
        "owners_assembly": True,
        "questions": [art278_question(q) for q in questions],
        **fields,
    }


async def test_the_art278_thresholds_at_their_edges(w):
    await flats(w)
    p1 = (await w.poll(**owners_poll("加装电梯", "是否同意加装电梯？", "是否同意用公共收益分摊电费？")))["id"]
    p2 = (await w.poll(**owners_poll("地面停车位意向", "是否同意划设地面停车位？", owners_assembly=False)))["id"]
    p3 = (
        await w.poll(
            **owners_poll(
                "使用维修资金", "是否同意使用维修资金更换水泵？", "是否同意改建门卫室？", special_majority=True
            )
        )
    )["id"]
    p4 = (await w.poll(**owners_poll("外墙翻新", "是否同意翻新外墙？")))["id"]
    for pid in (p1, p2, p3, p4):
        published = await w.publish(pid)
        assert (published["roll_count"], published["roll_weight"]) == (6, "720.00")  # the rented flats too
    clock.freeze(VOTING)
    tenant = await w.client.post(f"{API}/polls/{p1}/ballot", json={"answers": answers(AGREE)}, headers=w.li.headers)
    assert error(tenant) == (403, "poll_not_owner")  # li rents f3: its owner votes, on paper

    await w.vote(w.chen, p1, answers(AGREE, AGAINST))  # f1
    await w.vote(w.zhou, p1, answers(AGAINST, AGREE))  # f2
    await w.enter(p1, "3栋2单元203", answers(AGREE, AGREE))  # f5
    await w.enter(p1, "3栋1单元104", answers(ABSTAIN, AGREE), channel="proxy", proxy_name="104业主的女儿")  # f6

    await w.vote(w.chen, p2, answers(AGREE))  # f1
    await w.vote(w.zhou, p2, answers(AGREE))  # f2
    await w.enter(p2, "3栋2单元202", answers(AGREE))  # f4
    await w.enter(p2, "3栋1单元104", answers(AGREE))  # f6

    await w.vote(w.chen, p3, answers(AGREE, AGREE))  # f1
    await w.vote(w.zhou, p3, answers(AGREE, AGAINST))  # f2
    await w.enter(p3, "3栋2单元203", answers(AGAINST, AGREE))  # f5
    await w.enter(p3, "3栋1单元104", answers(AGREE, AGREE))  # f6

    await w.vote(w.chen, p4, answers(AGREE))  # f1
    await w.vote(w.zhou, p4, answers(AGREE))  # f2
    await w.enter(p4, "3栋1单元103", answers(AGREE))  # f3, its owner on paper

    clock.freeze(CLOSES)
    await w.run_worker()

    # P1: participation exactly two thirds of the area and of the flats
    one = await w.result(p1, w.li)  # a tenant reads the owners' result too
    assert one["standing"] == "业主大会表决" and one["valid"] is True
    assert one["turnout"]["weight_total"] == "720.00" and one["turnout"]["weight_participated"] == "480.00"
    part = by_key(one["thresholds"])
    assert figures(part["participation_area"]) == (48000, 72000, True)
    assert part["participation_area"]["numerator_text"] == "480.00㎡"
    assert part["participation_area"]["needed_text"] == "480.00㎡"
    assert part["participation_area"]["percent"] == 66.67
    assert figures(part["participation_flats"]) == (4, 6, True)
    q1, q2 = one["questions"]
    approval = by_key(q1["outcome"]["thresholds"])
    assert figures(approval["approval_area"]) == (24001, 48000, True)  # 240.01 > 240.00
    assert approval["approval_area"]["needed_text"] == "240.01㎡"
    assert figures(approval["approval_flats"]) == (2, 4, False)  # half is not more than half
    assert approval["approval_flats"]["needed"] == 3
    assert q1["outcome"]["status"] == "not_passed" and q1["outcome"]["label"] == "未通过：同意的人数未过半数"
    assert [(o["votes"], o["area"]) for o in q1["options"]] == [(2, "240.01"), (1, "160.00"), (1, "79.99")]
    approval = by_key(q2["outcome"]["thresholds"])
    assert figures(approval["approval_area"]) == (32000, 48000, True)
    assert figures(approval["approval_flats"]) == (3, 4, True)
    assert q2["outcome"] == {**q2["outcome"], "status": "passed", "label": "通过", "met": True}
    assert one["summary"] == "2项表决中1项通过"

    # P2: 479.99 ㎡ is just below two thirds; a consultation never says it passed
    two = await w.result(p2, w.chen)
    assert two["standing"] == "意向征询" and two["valid"] is False
    part = by_key(two["thresholds"])
    assert figures(part["participation_area"]) == (47999, 72000, False)
    assert part["participation_area"]["needed"] == 48000
    assert figures(part["participation_flats"]) == (4, 6, True)
    (q,) = two["questions"]
    assert figures(by_key(q["outcome"]["thresholds"])["approval_area"]) == (47999, 47999, True)
    assert q["outcome"]["status"] == "threshold_not_met"
    assert q["outcome"]["label"] == "未达到门槛（仅供参考）：参与表决的面积未达到三分之二"
    text = json.dumps(two, ensure_ascii=False)
    assert "通过" not in text and "决定" not in text
    assert "本次为意向征询" in two["note"]

    # P3: the special majority, exactly three quarters of the flats
    three = await w.result(p3)
    q1, q2 = three["questions"]
    approval = by_key(q1["outcome"]["thresholds"])
    assert figures(approval["approval_area"]) == (39999, 48000, True)
    assert figures(approval["approval_flats"]) == (3, 4, True)
    assert approval["approval_flats"]["required"] == "四分之三以上"
    assert q1["outcome"]["status"] == "passed"
    approval = by_key(q2["outcome"]["thresholds"])
    assert figures(approval["approval_area"]) == (32000, 48000, False)
    assert approval["approval_area"]["needed_text"] == "360.00㎡"
    assert q2["outcome"]["label"] == "未通过：同意的面积未达到四分之三"

    # P4: two thirds of the area from only three of six flats
    four = await w.result(p4)
    part = by_key(four["thresholds"])
    assert figures(part["participation_area"]) == (48000, 72000, True)
    assert figures(part["participation_flats"]) == (3, 6, False)
    (q,) = four["questions"]
    assert figures(by_key(q["outcome"]["thresholds"])["approval_flats"]) == (3, 3, True)
    assert q["outcome"]["label"] == "未通过：参与表决的人数未达到三分之二"

    export = await w.client.get(f"{API}/polls/{p1}/export.xlsx", headers=w.staff.headers)
    rows = list(load_workbook(io.BytesIO(export.content))["结果"].iter_rows(min_row=2, values_only=True))
    gates = [row for row in rows if row[0] == "门槛"]
    assert gates[0][1] == "参与表决的专有部分面积占总面积三分之二以上"
    assert gates[0][5] == "480.00㎡ / 720.00㎡（需三分之二以上，即至少480.00㎡）：达到"
    assert any(row[5] == "2套 / 4套（需过半数，即至少3套）：未达到" for row in gates)
    roll = list(load_workbook(io.BytesIO(export.content))["名册"].iter_rows(min_row=2, values_only=True))
    assert sorted(float(r[2]) for r in roll) == [79.99, 80.0, 80.01, 160.0, 160.0, 160.0]


# -- secret ballots --------------------------------------------------------------------------------


async def test_secret_ballots_cannot_be_tied_to_their_voters_through_any_endpoint_or_export(w):
    # by household (a poll by flat is never secret: its options' area totals would name the flats)
    await w.elder_household("2单元", "203", "业主203")
    await w.elder_household("2单元", "204", "业主204")
    poll = await w.poll(
        title="外墙颜色",
        electorate="household",
        secret=True,
        questions=[{"text": "外墙刷什么颜色？", "options": [{"label": "米白"}, {"label": "浅灰"}], "allow_text": True}],
    )
    pid = poll["id"]
    await w.publish(pid)
    clock.freeze(VOTING)
    receipts = {
        "chen": (await w.vote(w.chen, pid, answers(0, text="米白显干净")))["receipt"],
        "zhou": (await w.vote(w.zhou, pid, answers(1)))["receipt"],
        "203": (await w.enter(pid, "3栋2单元203", answers(1)))["receipt"],
        "204": (await w.enter(pid, "3栋2单元204", answers(0), channel="proxy", proxy_name="业主204的女儿"))["receipt"],
    }
    assert all(receipts.values()) and len(set(receipts.values())) == 4
    async with w.db.session() as session:
        ballot_ids = [
            str(i) for i in (await session.execute(select(PollBallot.id).where(PollBallot.poll_id == pid))).scalars()
        ]
        assert len(ballot_ids) == 4
        stored = list((await session.execute(select(PollBallot).where(PollBallot.poll_id == pid))).scalars())
        assert all(b.participation_id is None and b.changed_at is None for b in stored)

    seen: dict[str, str] = {}  # every answer of every poll endpoint, by when, who asked and what

    async def look(who: Person, path: str, when: str = "closed") -> httpx.Response:
        response = await w.client.get(f"{API}{path}", headers=who.headers)
        seen[f"{when} {who.name} {path}"] = response.text
        return response

    async def look_everywhere(when: str) -> None:
        for who in (w.staff, w.chen, w.zhou, w.li):
            for path in (
                f"/communities/{w.b}/polls",
                f"/polls/{pid}",
                f"/polls/{pid}/roll?limit=100",
                f"/polls/{pid}/participations?limit=100",
                f"/polls/{pid}/turnout",
                f"/polls/{pid}/ballot",
                f"/polls/{pid}/objections",
                f"/polls/{pid}/results",
                "/me/inbox?limit=100",
            ):
                await look(who, path, when)

    await look_everywhere("voting")
    clock.freeze(CLOSES)
    await w.run_worker()
    await look_everywhere("closed")
    mine = await look(w.chen, f"/polls/{pid}/ballot")
    assert mine.json()["voted"] is True and mine.json()["answers"] is None  # a secret ballot is not shown back
    participations = (await look(w.staff, f"/polls/{pid}/participations?limit=100")).json()["items"]
    assert len(participations) == 4

    # the receipt shows the choices to anyone who may see the poll, and nothing of who voted
    for name, receipt in receipts.items():
        for who in (w.chen, w.staff):
            checked = await w.client.get(f"{API}/polls/{pid}/receipts/{receipt}", headers=who.headers)
            assert checked.status_code == 200, checked.text
            body = checked.json()  # the poll, the receipt, the choices: no elector, member, time or order
            assert set(body) == {"poll_id", "receipt", "answers"} and body["receipt"] == receipt
            for answer in body["answers"]:
                assert set(answer) == {"question", "question_text", "options", "text"}
                assert all(set(option) == {"index", "label"} for option in answer["options"])
            assert "3栋" not in checked.text and "chen" not in checked.text and "zhou" not in checked.text

    everything = "\n".join(seen.values())
    for ballot_id in ballot_ids:  # a secret ballot's id goes out nowhere
        assert not re.search(rf"\b{ballot_id}\b", everything), ballot_id
    for receipt in receipts.values():  # nor its receipt, except on the receipt's own page
        assert receipt not in everything, receipt
    assert "米白显干净" in seen[f"closed chen /polls/{pid}/results"]  # texts are listed…
    result = await w.result(pid)
    assert result["questions"][0]["texts"] == ["米白显干净"]  # …apart from who wrote them
    assert [o["votes"] for o in result["questions"][0]["options"]] == [2, 2]

    export = await w.client.get(f"{API}/polls/{pid}/export.xlsx", headers=w.staff.headers)
    assert export.status_code == 200, export.text
    book = load_workbook(io.BytesIO(export.content))
    ballots = list(book["选票"].iter_rows(values_only=True))
    assert ballots[0] == ("回执号", "问题1：外墙刷什么颜色？", "问题1的意见")  # no voter, no area, no time
    assert [row[0] for row in ballots[1:]] == sorted(receipts.values())  # in receipt order, whoever voted first
    assert {row[1] for row in ballots[1:]} == {"米白", "浅灰"}
    cells = [str(c) for sheet in ("名册", "结果") for row in book[sheet].iter_rows(values_only=True) for c in row]
    for receipt in receipts.values():
        assert receipt not in cells  # the roll says who took part, never with which ballot
    roll = list(book["名册"].iter_rows(min_row=2, values_only=True))
    assert sum(1 for r in roll if r[2] == "是") == 4  # 已参与
    for ballot_id in ballot_ids:
        assert ballot_id not in cells


# -- closing ---------------------------------------------------------------------------------------


async def test_a_poll_whose_jobs_were_lost_is_opened_and_closed_by_the_sweep(w):
    pid = (await w.poll())["id"]
    await w.publish(pid)  # scheduled: nobody votes, and its jobs are lost
    async with w.db.session() as session:
        await session.execute(delete(OutboxJob).where(OutboxJob.kind.in_(("polls.open", "polls.close"))))
        await session.commit()
    clock.freeze(CLOSES + timedelta(minutes=10))
    await w.run_worker()  # the periodic polls.close_due
    page = (await w.client.get(f"{API}/polls/{pid}", headers=w.staff.headers)).json()
    assert (page["status"], page["tallied_at"]) == ("closed", local(CLOSES + timedelta(minutes=10)))
    result = await w.result(pid, w.chen)
    # the roll taken as the poll opened late, and nobody told it opened after its close
    assert (result["turnout"]["electors"], result["turnout"]["participants"]) == (4, 0)
    assert result["questions"][0]["outcome"]["label"] == "没有过半数的意见（仅供参考）"
    assert await w.inbox(w.chen, "poll.opened") == []
    assert len(await w.inbox(w.chen)) == 1


async def test_the_count_waits_for_a_vote_under_way_and_a_later_vote_is_refused(w):
    """A vote holds the poll FOR SHARE while it writes; closing takes it FOR UPDATE, so the count
    (here by the first reader after the close) waits for the vote and counts it. On SQLite the two
    queue for the single writer, with the same outcome."""
    pid = (await w.poll())["id"]
    await w.publish(pid)
    clock.freeze(VOTING)
    await w.vote(w.zhou, pid, answers(1))
    async with w.db.session() as session:
        chen = await session.get(User, w.chen.user_id)
        assert chen is not None
        await voting.cast(session, chen, pid, answers(0))  # under way: not committed yet
        clock.freeze(CLOSES)
        reading = asyncio.create_task(w.results(pid, w.li))
        await asyncio.sleep(0.5)
        assert not reading.done()  # the count waits for the vote
        await session.commit()
    result = (await reading).json()
    assert [o["votes"] for o in result["questions"][0]["options"]] == [1, 1]
    assert result["turnout"]["participants"] == 2
    late = await w.client.post(f"{API}/polls/{pid}/ballot", json={"answers": answers(0)}, headers=w.li.headers)
    assert late.status_code == 409
    assert (await w.result(pid))["turnout"]["participants"] == 2


async def test_a_quorum_not_reached_leaves_no_majority_view(w):
    # 4 households on the roll, a quorum of 60 %: 2.4 households, so 3 are needed; 2 take part
    pid = (await w.poll(rule="quorum", quorum_percent=60))["id"]
    await w.publish(pid)
    clock.freeze(VOTING)
    await w.vote(w.chen, pid, answers(0))
    await w.vote(w.zhou, pid, answers(0))
    clock.freeze(CLOSES)
    result = await w.result(pid)
    (quorum,) = result["thresholds"]
    assert (quorum["key"], quorum["numerator"], quorum["denominator"], quorum["needed"]) == ("quorum", 2, 4, 3)
    assert quorum["met"] is False and quorum["percent"] == 50.0
    assert result["valid"] is False
    (q,) = result["questions"]
    assert [o["votes"] for o in q["options"]] == [2, 0]  # the figures are still published
    assert q["outcome"] == {**q["outcome"], "status": "invalid", "label": "参与率未达到60%（仅供参考）"}
    assert all(o["majority"] is False for o in q["options"])


async def test_the_close_writes_secret_ballots_again_so_nothing_pairs_them_with_their_voters(w):
    """On PostgreSQL a ballot written with its participation shares its transaction id (xmin) and
    its place in the table's pages. At the close, before counting, the secret ballots are written
    again in a random order with new ids: the receipts still find the same choices."""
    pid = (await w.poll(title="外墙颜色", secret=True))["id"]
    await w.publish(pid)
    clock.freeze(VOTING)
    receipts = {
        "chen": ((await w.vote(w.chen, pid, answers(0)))["receipt"], ["种菜"]),
        "zhou": ((await w.vote(w.zhou, pid, answers(1)))["receipt"], ["晾晒"]),
        "li": ((await w.vote(w.li, pid, answers(1)))["receipt"], ["晾晒"]),
    }
    postgres = w.db.engine.dialect.name == "postgresql"

    async def paired() -> int:
        """Ballots whose transaction id is a participation's (PostgreSQL)."""
        async with w.db.session(write=False) as session:
            found = await session.execute(
                text(
                    "SELECT count(*) FROM poll_ballots b JOIN poll_participations p ON p.xmin = b.xmin"
                    " WHERE b.poll_id = :poll"
                ),
                {"poll": pid},
            )
            return int(found.scalar_one())

    async def stored() -> dict[str, int]:
        async with w.db.session(write=False) as session:
            found = await session.execute(select(PollBallot.receipt, PollBallot.id).where(PollBallot.poll_id == pid))
            return {receipt: ballot_id for receipt, ballot_id in found.all() if receipt}

    before = await stored()
    assert set(before) == {receipt for receipt, _ in receipts.values()}
    if postgres:
        assert await paired() == 3  # while voting: each ballot shares its participation's xmin

    clock.freeze(CLOSES)
    await w.run_worker()  # polls.close
    after = await stored()
    assert set(after) == set(before)  # the same receipts…
    assert not set(after.values()) & set(before.values())  # …every ballot under a new id
    if postgres:
        assert await paired() == 0
    for receipt, labels in receipts.values():  # each receipt still finds its choices
        checked = await w.client.get(f"{API}/polls/{pid}/receipts/{receipt}", headers=w.wang.headers)
        assert checked.status_code == 200, checked.text
        assert [o["label"] for o in checked.json()["answers"][0]["options"]] == labels
    result = await w.result(pid)
    assert [o["votes"] for o in result["questions"][0]["options"]] == [1, 2]
    assert result["turnout"]["participants"] == 3
    await w.run_worker()  # closed already: not written again
    assert await stored() == after
