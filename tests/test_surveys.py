"""Needs surveys (需求调研): writing and opening them, who hears and who may answer, one response
per person or per household whatever the channel, anonymity (nothing ties an anonymous response to
anyone, for staff neither), paper questionnaires, the results with their building breakdown hidden
below five respondents, the workbook, the close by the clock and by the worker, and who may do
what (residents 403 on staff actions, other communities 404).

Residents join through the API (chen, zhou in 3栋; the Wangs, two adults of one household in 4栋);
elders without WeChat are registered at the desk by staff, and their paper questionnaires are
entered by staff."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.encoders import jsonable_encoder
from openpyxl import load_workbook
from sqlalchemy import delete, select, text

from api import clock
from api.db.models import OutboxJob, Survey, SurveyResponse, SurveyToken
from api.db.models.voting import SURVEY_CHANNELS, SURVEY_QUESTION_KINDS, SURVEY_STATUSES, SURVEY_UNITS
from api.schemas.surveys import SurveyChannel, SurveyQuestionKind, SurveyStatus, SurveyUnit
from api.services.votes import survey_results
from tests.conftest import make_settings
from tests.contract import api_client
from tests.factories import Person, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
API = "/api/v1"
CLOSES = "2026-12-08T18:00"  # the community's local time (read in Shanghai)
COMPLEMENT = "为免从合计推算出人数少的楼栋，一并隐藏"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


QUESTIONS: list[dict[str, Any]] = [
    {
        "text": "你最希望社区开展哪类活动？",
        "kind": "single",
        "options": ["亲子阅读", "老年健身", "手工"],
        "allow_other": True,
    },
    {
        "text": "你方便参加的时间（可多选，最多两项）",
        "kind": "multiple",
        "options": ["工作日白天", "工作日晚上", "周末"],
        "max_choices": 2,
    },
    {"text": "你对复合空间的满意度", "kind": "scale"},
    {"text": "还有什么建议？", "kind": "text", "required": False},
]


def answers(single: int | str = 0, multiple: tuple[int, ...] = (2,), scale: int = 4, text: str = "") -> list[Any]:
    """A full set of answers to QUESTIONS; `single` as a string answers "other"."""
    first = {"question": 0, "other": single} if isinstance(single, str) else {"question": 0, "options": [single]}
    given = [first, {"question": 1, "options": list(multiple)}, {"question": 2, "scale": scale}]
    if text:
        given.append({"question": 3, "text": text})
    return given


class World:
    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.app, self.db = client, app, app.state.db
        self.root = await platform_admin(client, app.state.db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await self.resident("chen", "3栋", "101")
        self.zhou = await self.resident("zhou", "3栋", "102")
        self.wang = await self.resident("wang", "4栋", "201")
        # mei joins the Wangs' household; wang (its head) lets her in
        self.mei = await login(client, "mei")
        asked = await join(client, self.mei, self.b, "4栋", "1单元", "201")
        approved = await client.post(f"{API}/members/{asked['member']['id']}/approve", headers=self.wang.headers)
        assert approved.status_code == 200, approved.text
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.c_staff = await login(client, "c-staff")
        await grant(client, self.root, self.c, self.c_staff, "staff")
        self.c_resident = await login(client, "c-resident")
        await join(client, self.c_resident, self.c, "9栋", "1单元", "901")
        return self

    async def resident(self, name: str, building: str, room: str) -> Person:
        person = await login(self.client, name)
        await join(self.client, person, self.b, building, "1单元", room)
        return person

    async def elder(self, building: str, room: str, name: str = "王奶奶") -> tuple[int, int]:
        """A household registered at the desk with one elder without WeChat: (household, member)."""
        response = await self.client.post(
            f"{API}/communities/{self.b}/households",
            json={
                "building": building,
                "unit": "1单元",
                "room": room,
                "members": [{"display_name": name, "kind": "elder"}],
            },
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["members"][0]["id"]

    async def survey(self, *, open_: bool = True, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "社区服务需求调研",
            "intro": "帮助我们安排明年的活动",
            "closes_at": CLOSES,
            "questions": QUESTIONS,
        }
        response = await self.client.post(
            f"{API}/communities/{self.b}/surveys", json={**body, **fields}, headers=self.staff.headers
        )
        assert response.status_code == 201, response.text
        survey: dict[str, Any] = response.json()
        if open_:
            survey = await self.ok(survey["id"], "open")
        return survey

    async def step(self, survey_id: int, action: str, person: Person | None = None, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"{API}/surveys/{survey_id}/{action}", json=body or None, headers=(person or self.staff).headers
        )

    async def ok(self, survey_id: int, action: str, **body: Any) -> dict[str, Any]:
        response = await self.step(survey_id, action, **body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def answer(self, survey_id: int, person: Person, given: list[Any] | None = None) -> httpx.Response:
        return await self.client.post(
            f"{API}/surveys/{survey_id}/responses", json={"answers": given or answers()}, headers=person.headers
        )

    async def paper(self, survey_id: int, given: list[Any] | None = None, **who: Any) -> httpx.Response:
        return await self.client.post(
            f"{API}/surveys/{survey_id}/paper", json={"answers": given or answers(), **who}, headers=self.staff.headers
        )

    async def view(self, survey_id: int, person: Person | None = None) -> dict[str, Any]:
        response = await self.client.get(f"{API}/surveys/{survey_id}", headers=(person or self.staff).headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def results(self, survey_id: int) -> dict[str, Any]:
        response = await self.client.get(f"{API}/surveys/{survey_id}/results", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def workbook(self, survey_id: int) -> dict[str, list[list[Any]]]:
        response = await self.client.get(f"{API}/surveys/{survey_id}/export.xlsx", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        sheets = {}
        for sheet in book.worksheets:
            rows = [list(row) for row in sheet.iter_rows(values_only=True)]
            width = len(rows[0]) if rows else 0  # rows read back end at their last value: padded
            sheets[sheet.title] = [row + [None] * (width - len(row)) for row in rows]
        return sheets

    async def inbox(self, person: Person) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/me/inbox", headers=person.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def rows(self, survey_id: int) -> list[SurveyResponse]:
        async with self.db.session(write=False) as session:
            found = await session.execute(select(SurveyResponse).where(SurveyResponse.survey_id == survey_id))
            return list(found.scalars())


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def test_the_schemas_name_the_models_values():
    assert SurveyUnit.__args__ == SURVEY_UNITS
    assert SurveyStatus.__args__ == SURVEY_STATUSES
    assert SurveyQuestionKind.__args__ == SURVEY_QUESTION_KINDS
    assert SurveyChannel.__args__ == SURVEY_CHANNELS


# -- the survey's life ---------------------------------------------------------------------------


async def test_a_draft_is_staffs_until_opened_then_residents_hear_of_it_and_answer_once(w):
    draft = await w.survey(open_=False)
    assert (draft["status"], draft["anonymous"], draft["unit"]) == ("draft", True, "person")
    assert draft["closes_at"] == "2026-12-08T18:00:00+08:00"  # read in the community's time
    assert [q["min_choices"] for q in draft["questions"]] == [1, 1, None, None]  # single 1–1, multiple from 1
    assert [q["max_choices"] for q in draft["questions"]] == [1, 2, None, None]
    assert error(await w.client.get(f"{API}/surveys/{draft['id']}", headers=w.chen.headers)) == (
        404,
        "survey_not_found",
    )
    listed = await w.client.get(f"{API}/communities/{w.b}/surveys", headers=w.chen.headers)
    assert listed.json()["items"] == []
    assert error(await w.answer(draft["id"], w.chen)) == (404, "survey_not_found")
    assert not any(n["kind"] == "survey.opened" for n in await w.inbox(w.chen))

    opened = await w.ok(draft["id"], "open")
    assert opened["status"] == "open" and opened["opens_at"] == "2026-12-01T10:00:00+08:00"
    for person in (w.chen, w.zhou, w.wang, w.mei):
        (note,) = [n for n in await w.inbox(person) if n["kind"] == "survey.opened"]
        assert "社区服务需求调研" in note["title"] and "匿名填写" in note["body"] and "12-08 18:00" in note["body"]
    assert not any(n["kind"] == "survey.opened" for n in await w.inbox(w.c_resident))

    mine = await w.view(draft["id"], w.chen)
    assert (mine["answered"], mine["can_answer"], mine["response_count"]) == (False, True, None)
    answered = await w.answer(draft["id"], w.chen)
    assert answered.status_code == 201, answered.text
    assert answered.json() == {
        "survey_id": draft["id"],
        "answered": True,
        "anonymous": True,
        "message": "谢谢！你的回答已匿名保存，谁也看不到是谁填写的。",
    }
    again = await w.answer(draft["id"], w.chen, answers(1))
    assert error(again) == (409, "survey_already_answered")
    assert again.json()["error"]["message"] == "你已经填写过这份问卷"
    mine = await w.view(draft["id"], w.chen)
    assert (mine["answered"], mine["can_answer"]) == (True, False)
    assert (await w.view(draft["id"], w.zhou))["answered"] is False  # one per person: zhou still may
    assert (await w.answer(draft["id"], w.zhou)).status_code == 201
    assert (await w.view(draft["id"]))["response_count"] == 2
    (item,) = (await w.client.get(f"{API}/communities/{w.b}/surveys", headers=w.chen.headers)).json()["items"]
    assert (item["id"], item["answered"], item["response_count"], item["question_count"]) == (
        draft["id"],
        True,
        None,
        4,
    )


async def test_staff_edit_a_draft_only_and_check_its_questions(w):
    draft = await w.survey(open_=False)
    path = f"{API}/surveys/{draft['id']}"
    changed = await w.client.patch(
        path,
        json={"title": "楼道改造意见征集", "unit": "household", "anonymous": False, "closes_at": "2026-12-20T12:00"},
        headers=w.staff.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["title"], body["unit"], body["anonymous"], body["anonymity_label"]) == (
        "楼道改造意见征集",
        "household",
        False,
        "实名",
    )
    assert body["closes_at"] == "2026-12-20T12:00:00+08:00"

    def bad(question: dict[str, Any]) -> dict[str, Any]:
        return {"questions": [question]}

    for payload, field in [
        (bad({"text": "只有一个选项", "kind": "single", "options": ["是"]}), "questions[0].options"),
        (bad({"text": "重复", "kind": "multiple", "options": ["是", "是"]}), "questions[0].options"),
        (bad({"text": "打分", "kind": "scale", "options": ["1", "2"]}), "questions[0].options"),
        (
            bad({"text": "多选", "kind": "multiple", "options": ["甲", "乙"], "max_choices": 3}),
            "questions[0].max_choices",
        ),
        (
            bad(
                {"text": "多选", "kind": "multiple", "options": ["甲", "乙", "丙"], "min_choices": 3, "max_choices": 2}
            ),
            "questions[0].min_choices",
        ),
        (
            bad({"text": "单选", "kind": "single", "options": ["甲", "乙"], "max_choices": 1}),
            "questions[0].min_choices",
        ),
        ({"closes_at": "2026-11-30T12:00"}, "closes_at"),
    ]:
        refused = await w.client.patch(path, json=payload, headers=w.staff.headers)
        assert error(refused) == (422, "validation_error"), (payload, refused.text)
        assert refused.json()["error"]["details"][0]["field"] == field
    # "other" makes a choice of its own: three options and other may allow four
    four = await w.client.patch(
        path,
        json=bad(
            {"text": "多选", "kind": "multiple", "options": ["甲", "乙", "丙"], "allow_other": True, "max_choices": 4}
        ),
        headers=w.staff.headers,
    )
    assert four.status_code == 200 and four.json()["questions"][0]["max_choices"] == 4
    assert error(await w.client.patch(path, json={"title": "x"}, headers=w.chen.headers)) == (404, "survey_not_found")

    await w.ok(draft["id"], "open")
    late = await w.client.patch(path, json={"title": "再改"}, headers=w.staff.headers)
    assert error(late) == (409, "survey_not_draft")
    assert "进行中" in late.json()["error"]["message"]


async def test_a_survey_closes_by_the_clock_then_by_the_worker_and_staff_may_close_or_cancel(w, app):
    survey = await w.survey()
    async with w.db.session(write=False) as session:
        (job,) = (await session.execute(select(OutboxJob).where(OutboxJob.kind == "surveys.close"))).scalars()
        assert job.payload == {"survey_id": survey["id"]} and job.run_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    clock.advance(datetime(2026, 12, 8, 10, 0, tzinfo=UTC) - clock.now())
    # the close has passed: nobody may answer, though the worker has not run yet
    assert (await w.view(survey["id"], w.chen))["status"] == "closed"
    late = await w.answer(survey["id"], w.chen)
    assert error(late) == (409, "survey_not_open") and "已结束" in late.json()["error"]["message"]
    assert error(await w.paper(survey["id"])) == (409, "survey_not_open")
    async with w.db.session(write=False) as session:
        assert (await session.get(Survey, survey["id"])).status == "open"
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()
    async with w.db.session(write=False) as session:
        stored = await session.get(Survey, survey["id"])
        assert (stored.status, stored.closed_at) == ("closed", datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    closed = await w.client.get(f"{API}/communities/{w.b}/surveys?status=closed", headers=w.chen.headers)
    assert [s["id"] for s in closed.json()["items"]] == [survey["id"]]
    assert error(await w.step(survey["id"], "cancel", reason="不需要了")) == (409, "survey_not_cancellable")

    # staff close one early; cancel another, whose invitation leaves the inbox
    early = await w.survey(title="早结束", closes_at="2026-12-20T18:00")
    assert (await w.ok(early["id"], "close"))["closed_at"] == "2026-12-08T18:00:00+08:00"
    assert error(await w.answer(early["id"], w.chen)) == (409, "survey_not_open")
    assert error(await w.step(early["id"], "close")) == (409, "survey_not_open")
    dropped = await w.survey(title="要取消的", closes_at="2026-12-20T18:00")
    page = f"pages/surveys/detail?id={dropped['id']}"
    assert any(n["page"] == page for n in await w.inbox(w.chen))
    assert error(await w.step(dropped["id"], "cancel", w.chen, reason="不要了")) == (403, "staff_only")
    cancelled = await w.ok(dropped["id"], "cancel", reason="与楼道改造调研合并")
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "与楼道改造调研合并")
    seen = await w.view(dropped["id"], w.chen)
    assert (seen["status_label"], seen["cancel_reason"], seen["can_answer"]) == ("已取消", "与楼道改造调研合并", False)
    assert not any(n["page"] == page for n in await w.inbox(w.chen))
    assert error(await w.answer(dropped["id"], w.chen)) == (409, "survey_not_open")
    # a draft whose close has passed cannot be opened
    stale = await w.survey(open_=False, title="过期草稿", closes_at="2026-12-09T18:00")
    clock.advance(timedelta(days=2))
    assert error(await w.step(stale["id"], "open")) == (409, "survey_closes_at_passed")


async def test_the_sweep_closes_a_survey_whose_close_job_was_lost(w, app):
    survey = await w.survey()
    async with w.db.session() as session:
        await session.execute(delete(OutboxJob).where(OutboxJob.kind == "surveys.close"))
        await session.commit()
    clock.advance(timedelta(days=8))
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()
    async with w.db.session(write=False) as session:
        stored = await session.get(Survey, survey["id"])
        assert (stored.status, stored.closed_at) == ("closed", datetime(2026, 12, 8, 10, 0, tzinfo=UTC))


async def test_the_longest_values_accepted_are_kept_whole(w):
    long_questions = [
        {
            "text": "问" * 200,
            "kind": "multiple",
            "options": [f"{n:02d}" + "选" * 98 for n in range(30)],
            "allow_other": True,
        },
        {"text": "填空", "kind": "text"},
    ]
    survey = await w.survey(title="调" * 64, intro="说明。\n" * 1249 + "说明说明", questions=long_questions)
    assert survey["title"] == "调" * 64 and len(survey["intro"]) == 5000
    given = [
        {"question": 0, "options": list(range(30)), "other": "其" * 200},
        {"question": 1, "text": "长\n" * 999 + "长长"},
    ]
    assert (await w.answer(survey["id"], w.chen, given)).status_code == 201
    assert (await w.paper(survey["id"], given, building="3" * 32)).status_code == 422  # no such building
    (row,) = await w.rows(survey["id"])
    assert row.answers == {"0": {"options": list(range(30)), "other": "其" * 200}, "1": {"text": "长\n" * 999 + "长长"}}
    cancelled = await w.ok(survey["id"], "cancel", reason="因" * 200)
    assert cancelled["cancel_reason"] == "因" * 200
    for body in ({"title": "调" * 65}, {"intro": "说" * 5001}, {"title": "a\u0007b"}):
        assert (
            await w.client.post(f"{API}/communities/{w.b}/surveys", json=body, headers=w.staff.headers)
        ).status_code == 422


# -- anonymity -----------------------------------------------------------------------------------


async def test_an_anonymous_response_is_tied_to_nobody_anywhere(w):
    survey = await w.survey()
    people = [w.chen, w.zhou, w.wang, w.mei]
    for n, person in enumerate(people):
        response = await w.answer(survey["id"], person, answers(n % 3, text=f"第{n + 1}份"))
        assert response.status_code == 201
        assert set(response.json()) == {"survey_id", "answered", "anonymous", "message"}  # no id to keep
    _, elder = await w.elder("5栋", "501")
    assert (await w.paper(survey["id"], answers(text="第5份"), member_id=elder)).status_code == 201
    await w.ok(survey["id"], "close")  # an anonymous survey's results: once it has ended

    rows = await w.rows(survey["id"])
    assert len(rows) == 5
    for row in rows:
        assert (row.member_id, row.household_id, row.respondent_ref) == (None, None, None)
        assert row.submitted_on == date(2026, 12, 1) and isinstance(row.submitted_on, date)
    assert {r.channel for r in rows} == {"app", "paper"}
    async with w.db.session(write=False) as session:
        tokens = list((await session.execute(select(SurveyToken.token))).scalars())
    assert len(tokens) == 5 and all(re.fullmatch("[0-9a-f]{64}", t) for t in tokens)  # HMACs, kept apart

    # staff's results and workbook name no one, and list the texts in the random ids' order
    in_id_order = [r.answers["3"]["text"] for r in sorted(rows, key=lambda r: r.id)]
    result = await w.results(survey["id"])
    assert result["questions"][3]["texts"] == in_id_order
    text = str(result)
    for name in ("chen", "zhou", "wang", "mei", "王奶奶", "101", "102", "201", "501"):
        assert name not in text
    book = await w.workbook(survey["id"])
    header, *lines = book["回答"]
    assert header[:3] == ["序号", "楼栋", "1. 你最希望社区开展哪类活动？"]
    assert "填写人" not in header and "日期" not in header and "渠道" not in header
    assert [line[header.index("4. 还有什么建议？")] for line in lines] == in_id_order
    flat = str(book)
    for name in ("chen", "zhou", "wang", "mei", "王奶奶", "1单元"):
        assert name not in flat
    # every building here has fewer than five: none is named next to an answer
    assert {line[1] for line in lines} == {"少于5人"}


async def test_texts_are_listed_in_random_order_not_as_they_came(w):
    survey = await w.survey(questions=[{"text": "一句话建议", "kind": "text"}])
    await w.elder("5栋", "502", "李爷爷")
    for n in range(10):
        entered = await w.paper(survey["id"], [{"question": 0, "text": f"第{n + 1}份"}], building="5栋")
        assert entered.status_code == 201, entered.text
    await w.ok(survey["id"], "close")
    listed = (await w.results(survey["id"]))["questions"][0]["texts"]
    assert sorted(listed) == sorted(f"第{n + 1}份" for n in range(10))
    assert listed != [f"第{n + 1}份" for n in range(10)]  # 1 chance in 3.6 million of failing by luck


async def test_a_household_survey_takes_one_answer_per_household_whoever_gives_it(w):
    survey = await w.survey(unit="household")
    assert (await w.answer(survey["id"], w.wang)).status_code == 201
    other = await w.answer(survey["id"], w.mei)
    assert error(other) == (409, "survey_already_answered")
    assert other.json()["error"]["message"] == "你家已经有人填写过这份问卷（每户一份）"  # not who
    assert ((await w.view(survey["id"], w.mei))["answered"], (await w.view(survey["id"], w.mei))["can_answer"]) == (
        True,
        False,
    )
    assert (await w.view(survey["id"], w.chen))["answered"] is False
    # staff cannot enter the Wangs' paper questionnaire either, by household or by member
    wangs = (await w.client.get(f"{API}/communities/{w.b}/households", headers=w.staff.headers)).json()["items"]
    (wang_household,) = [h["id"] for h in wangs if h["building"] == "4栋"]
    paper = await w.paper(survey["id"], household_id=wang_household)
    assert error(paper) == (409, "survey_already_answered")
    assert paper.json()["error"]["message"] == "这一户已经有人填写过这份问卷（每户一份）"
    # chen's household is entered on paper first: then chen may not answer in the app
    chen_household = [h["id"] for h in wangs if h["building"] == "3栋"]
    entered = await w.paper(survey["id"], household_id=chen_household[0])
    assert entered.status_code == 201 and entered.json()["token_used"] is True
    assert error(await w.answer(survey["id"], w.chen)) == (409, "survey_already_answered")
    assert (await w.view(survey["id"], w.chen))["answered"] is True
    assert len(await w.rows(survey["id"])) == 2


async def test_members_of_a_household_and_staff_at_once_leave_one_response(app, w):
    """The token's primary key decides: on PostgreSQL on parallel connections, on SQLite queued."""
    more = []
    for n in range(3):
        person = await login(w.client, f"wang-{n}")
        asked = await join(w.client, person, w.b, "4栋", "1单元", "201")
        approved = await w.client.post(f"{API}/members/{asked['member']['id']}/approve", headers=w.wang.headers)
        assert approved.status_code == 200
        more.append(person)
    members = [w.wang, w.mei, *more]
    (wang_household,) = [
        h["id"]
        for h in (await w.client.get(f"{API}/communities/{w.b}/households", headers=w.staff.headers)).json()["items"]
        if h["building"] == "4栋"
    ]
    for round_ in range(3):
        survey = await w.survey(unit="household", title=f"每户一份{round_}")
        clients = [api_client(app) for _ in range(len(members) + 1)]
        try:
            calls = [
                c.post(f"{API}/surveys/{survey['id']}/responses", json={"answers": answers()}, headers=p.headers)
                for c, p in zip(clients, members, strict=False)
            ]
            calls.append(
                clients[-1].post(
                    f"{API}/surveys/{survey['id']}/paper",
                    json={"answers": answers(), "household_id": wang_household},
                    headers=w.staff.headers,
                )
            )
            replies = await asyncio.gather(*calls)
        finally:
            for c in clients:
                await c.aclose()
        codes = sorted(r.status_code for r in replies)
        assert codes == [201] + [409] * len(members), [r.text for r in replies]
        assert all(r.json()["error"]["code"] == "survey_already_answered" for r in replies if r.status_code == 409)
        assert len(await w.rows(survey["id"])) == 1


# -- paper questionnaires ------------------------------------------------------------------------


async def test_staff_enter_paper_questionnaires_with_or_without_their_respondent(w):
    survey = await w.survey()
    household, elder = await w.elder("5栋", "503")
    entered = await w.paper(survey["id"], answers(1), member_id=elder)
    assert entered.status_code == 201, entered.text
    assert entered.json() == {
        "survey_id": survey["id"],
        "channel": "paper",
        "anonymous": True,
        "respondent": "5栋1单元503 王奶奶",
        "respondent_withheld": False,
        "token_used": True,
        "response_count": 1,
    }
    assert error(await w.paper(survey["id"], member_id=elder)) == (409, "survey_already_answered")
    # a resident's questionnaire on paper: then not again in the app
    chen_member = await w.client.get(f"{API}/communities/{w.b}/households", headers=w.staff.headers)
    (chen_household,) = [h["id"] for h in chen_member.json()["items"] if h["building"] == "3栋"][:1]
    chen_file = (await w.client.get(f"{API}/households/{chen_household}", headers=w.staff.headers)).json()
    (chen_id,) = [m["id"] for m in chen_file["members"] if m["display_name"] == "chen"]
    assert (await w.paper(survey["id"], member_id=chen_id)).status_code == 201
    assert error(await w.answer(survey["id"], w.chen)) == (409, "survey_already_answered")
    # without a respondent: as many as there are, with the building written on them
    for _ in range(2):
        anonymous = await w.paper(survey["id"], building="5号楼")
        assert anonymous.status_code == 201 and anonymous.json()["token_used"] is False
    buildings = sorted(r.building for r in await w.rows(survey["id"]))
    assert buildings == ["3栋", "5栋", "5栋", "5栋"]  # "5号楼" is the community's 5栋
    assert {r.channel for r in await w.rows(survey["id"])} == {"paper"}
    assert all(r.entered_by == w.staff.user_id for r in await w.rows(survey["id"]))

    # what cannot be entered
    c_household = (await w.client.get(f"{API}/communities/{w.c}/households", headers=w.c_staff.headers)).json()
    for who, field in [
        ({"member_id": 10**12}, "member_id"),
        ({"household_id": c_household["items"][0]["id"]}, "household_id"),
        ({"household_id": household}, "member_id"),  # one per person: the member is needed
        ({"member_id": elder, "household_id": chen_household}, "member_id"),
        ({"building": "8栋"}, "building"),
        ({"building": "5栋", "member_id": elder}, "building"),
    ]:
        refused = await w.paper(survey["id"], **who)
        assert error(refused) == (422, "validation_error"), (who, refused.text)
        assert refused.json()["error"]["details"][0]["field"] == field
    child = await w.client.post(
        f"{API}/households/{household}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True},
        headers=w.staff.headers,
    )
    assert child.status_code == 201, child.text
    refused = await w.paper(survey["id"], member_id=child.json()["id"])
    assert error(refused) == (422, "validation_error") and "儿童" in refused.json()["error"]["message"]
    assert len(await w.rows(survey["id"])) == 4


async def test_a_named_survey_keeps_its_respondents_and_its_workbook_names_them(w):
    survey = await w.survey(anonymous=False)
    assert (await w.answer(survey["id"], w.chen, answers("社区菜园", (0, 2), 5, "多办几次"))).status_code == 201
    assert (await w.answer(survey["id"], w.zhou, answers(2, (1,), 3))).status_code == 201
    assert (await w.answer(survey["id"], w.chen)).json()["error"]["code"] == "survey_already_answered"
    _, elder = await w.elder("5栋", "504")
    assert (await w.paper(survey["id"], answers(0), member_id=elder)).status_code == 201
    rows = await w.rows(survey["id"])
    assert all(r.member_id is not None and r.household_id is not None for r in rows)
    assert len({r.respondent_ref for r in rows}) == 3
    book = await w.workbook(survey["id"])
    header, *lines = book["回答"]
    assert header == [
        "序号",
        "填写人",
        "住址",
        "楼栋",
        "渠道",
        "日期",
        "1. 你最希望社区开展哪类活动？",
        "1. 其他（请注明）",
        "2. 你方便参加的时间（可多选，最多两项）",
        "3. 你对复合空间的满意度",
        "4. 还有什么建议？",
    ]
    assert [line[1:5] for line in lines] == [
        ["chen", "3栋1单元101", "3栋", "小程序"],
        ["zhou", "3栋1单元102", "3栋", "小程序"],
        ["王奶奶", "5栋1单元504", "5栋", "纸质问卷"],
    ]
    assert lines[0][5:] == [datetime(2026, 12, 1), "其他", "社区菜园", "工作日白天；周末", 5, "多办几次"]
    assert lines[1][6:] == ["手工", None, "工作日晚上", 3, None]
    # the results still list no one
    assert "chen" not in str(await w.results(survey["id"]))


# -- answers -------------------------------------------------------------------------------------


async def test_answers_that_do_not_fit_their_question_are_refused_by_name_and_nothing_is_kept(w):
    survey = await w.survey()
    cases = [
        ([{"question": 0, "options": [0, 1]}, *answers()[1:]], "answers[0].options"),  # single: two
        ([{"question": 0, "options": [0], "other": "菜园"}, *answers()[1:]], "answers[0].options"),  # one and other
        ([{"question": 0, "options": [3]}, *answers()[1:]], "answers[0].options"),  # no such option
        ([answers()[0], {"question": 1, "options": [0, 1, 2]}, answers()[2]], "answers[1].options"),  # max two
        ([answers()[0], {"question": 1, "other": "晚上"}, answers()[2]], "answers[1].other"),  # no other there
        ([answers()[0], {"question": 1, "options": [1, 1]}, answers()[2]], "answers[1].options"),
        ([*answers()[:2], {"question": 2, "text": "很好"}], "answers[2].scale"),
        ([*answers(), {"question": 3, "scale": 3}], "answers[3].text"),
        ([*answers(), {"question": 4, "text": "多一题"}], "answers[3].question"),
        ([*answers(), {"question": 0, "options": [1]}], "answers[3].question"),  # twice
        (answers()[:2], "answers"),  # the scale is required
        ([{"question": 0, "options": []}, *answers()[1:]], "answers"),  # left blank: required
    ]
    for given, field in cases:
        refused = await w.answer(survey["id"], w.chen, given)
        assert error(refused) == (422, "validation_error"), (given, refused.text)
        assert refused.json()["error"]["details"][0]["field"] == field, (given, refused.text)
    required = await w.answer(survey["id"], w.chen, answers()[:2])
    assert "第 3 题是必答题" in required.json()["error"]["message"]
    for body in ({"answers": []}, {"answers": [{"question": 2, "scale": 6}]}, {"answers": answers(), "x": 1}):
        refused = await w.client.post(f"{API}/surveys/{survey['id']}/responses", json=body, headers=w.chen.headers)
        assert refused.status_code == 422, body
    assert await w.rows(survey["id"]) == []
    # the refusals used nothing up: chen answers now, "other" counting as the single choice
    assert (await w.answer(survey["id"], w.chen, answers("社区菜园"))).status_code == 201


# -- results -------------------------------------------------------------------------------------


async def test_results_count_each_answer_with_percentages_means_and_texts(w):
    survey = await w.survey()
    given = [
        (w.chen, answers(0, (0, 2), 5, "多办亲子活动")),
        (w.zhou, answers(0, (2,), 4)),
        (w.wang, answers(1, (1, 2), 2, "晚上也开放")),
        (w.mei, answers("社区菜园", (0,), 4)),
    ]
    for person, a in given:
        assert (await w.answer(survey["id"], person, a)).status_code == 201
    clock.advance(timedelta(days=8))  # closed by the clock: the worker need not have run
    result = await w.results(survey["id"])
    assert (result["status"], result["respondents"], result["by_channel"]) == ("closed", 4, {"app": 4, "paper": 0})
    assert (result["first_day"], result["last_day"]) == ("2026-12-01", "2026-12-01")
    single, multiple, scale, text = result["questions"]
    assert [(o["label"], o["count"], o["percent"]) for o in single["options"]] == [
        ("亲子阅读", 2, 50.0),
        ("老年健身", 1, 25.0),
        ("手工", 0, 0.0),
    ]
    assert single["other"] == {"count": 1, "percent": 25.0, "texts": ["社区菜园"]}
    assert [(o["count"], o["percent"]) for o in multiple["options"]] == [(2, 50.0), (1, 25.0), (3, 75.0)]
    assert multiple["other"] is None
    assert scale["scale"]["mean"] == 3.75
    assert [(v["value"], v["count"], v["percent"]) for v in scale["scale"]["distribution"]] == [
        (1, 0, 0.0),
        (2, 1, 25.0),
        (3, 0, 0.0),
        (4, 2, 50.0),
        (5, 1, 25.0),
    ]
    assert (text["answered"], text["skipped"]) == (2, 2)
    assert sorted(text["texts"]) == ["多办亲子活动", "晚上也开放"]
    book = await w.workbook(survey["id"])
    summary = book["结果"]
    assert ["1. 你最希望社区开展哪类活动？", "其他", 1, 25] in summary
    assert ["3. 你对复合空间的满意度", "平均分", 3.75, None] in summary
    assert ("收到问卷", 4) in [tuple(row) for row in book["说明"]]
    # every "other" text is in the workbook, in its own column
    header, *lines = book["回答"]
    assert [line[header.index("1. 其他（请注明）")] for line in lines].count("社区菜园") == 1


async def test_the_building_breakdown_hides_groups_below_five_at_the_edge(w):
    """3栋: 5 respondents (shown); 4栋: 4 (hidden); 5栋: 1 (hidden). What is hidden adds up to 5,
    so nothing more is hidden. Then a survey with 3栋 6 and 4栋 4: 4栋 is hidden, and 3栋 with it
    (else the total minus 3栋 would give 4栋 away); a fifth respondent in 4栋 shows both."""
    survey = await w.survey()
    await w.elder("5栋", "505")
    assert (await w.answer(survey["id"], w.chen, answers(0))).status_code == 201  # 3栋, in the app
    assert (await w.answer(survey["id"], w.zhou, answers(0))).status_code == 201
    for _ in range(3):
        assert (await w.paper(survey["id"], answers(1), building="3栋")).status_code == 201
    assert (await w.answer(survey["id"], w.wang, answers(2))).status_code == 201  # 4栋
    for _ in range(3):
        assert (await w.paper(survey["id"], answers(2), building="4号楼")).status_code == 201
    assert (await w.paper(survey["id"], answers(0), building="5栋")).status_code == 201
    await w.ok(survey["id"], "close")
    result = await w.results(survey["id"])
    assert result["respondents"] == 10
    groups = result["by_building"]["groups"]
    assert result["by_building"]["small_group"] == 5
    assert [(g["building"], g["hidden"], g["respondents"], g["note"]) for g in groups] == [
        ("3栋", False, 5, None),
        ("4栋", True, None, "少于5人"),
        ("5栋", True, None, "少于5人"),
    ]
    three = groups[0]["questions"][0]
    assert [(o["count"], o["percent"]) for o in three["options"]] == [(2, 40.0), (3, 60.0), (0, 0.0)]
    assert groups[0]["questions"][2]["scale_mean"] == 4.0
    assert groups[1]["questions"] == [] and groups[2]["questions"] == []
    book = await w.workbook(survey["id"])
    _, *lines = book["回答"]
    assert sorted({line[1] for line in lines}) == ["3栋", "少于5人"]
    assert sum(1 for line in lines if line[1] == "3栋") == 5
    by_building = book["按楼栋"]
    assert ["4栋", "少于5人", None, None, None, None] in by_building
    assert all(row[0] != "5栋" or row[1] == "少于5人" for row in by_building[1:])

    # the complement: one small group hidden alone would be the total minus the rest
    for fourth, expected in (
        (4, [("3栋", True, None, COMPLEMENT), ("4栋", True, None, "少于5人")]),
        (5, [("3栋", False, 6, None), ("4栋", False, 5, None)]),  # a fifth respondent in 4栋 shows both
    ):
        other = await w.survey(title=f"4栋{fourth}人")
        for _ in range(6):
            assert (await w.paper(other["id"], answers(0), building="3栋")).status_code == 201
        for _ in range(fourth):
            assert (await w.paper(other["id"], answers(1), building="4栋")).status_code == 201
        await w.ok(other["id"], "close")
        groups = (await w.results(other["id"]))["by_building"]["groups"]
        assert [(g["building"], g["hidden"], g["respondents"], g["note"]) for g in groups] == expected


async def test_an_anonymous_surveys_results_wait_for_its_end_while_a_named_ones_are_live(w):
    """Two reads around one response would give that response away: an anonymous survey's results
    and workbook wait for its end (staff see how many came in, by channel); a named one's do not."""
    survey = await w.survey()
    sid = survey["id"]
    assert (await w.answer(sid, w.chen, answers(0))).status_code == 201
    assert (await w.paper(sid, answers(1), building="3栋")).status_code == 201
    for path in (f"/surveys/{sid}/results", f"/surveys/{sid}/export.xlsx"):
        refused = await w.client.get(API + path, headers=w.staff.headers)
        assert error(refused) == (409, "survey_results_after_close"), path
        assert "12月8日 18:00" in refused.json()["error"]["message"]  # says when
        assert refused.json()["error"]["details"]["closes_at"] == "2026-12-08T18:00:00+08:00"
        assert error(await w.client.get(API + path, headers=w.chen.headers)) == (403, "staff_only")
    seen = await w.view(sid)
    assert (seen["response_count"], seen["responses_by_channel"], seen["results_available"]) == (
        2,
        {"app": 1, "paper": 1},
        False,
    )
    mine = await w.view(sid, w.chen)
    assert (mine["response_count"], mine["responses_by_channel"], mine["results_available"]) == (None, None, None)
    (item,) = (await w.client.get(f"{API}/communities/{w.b}/surveys", headers=w.staff.headers)).json()["items"]
    assert (item["response_count"], item["results_available"]) == (2, False)
    # a draft has none yet either
    draft = await w.survey(open_=False, title="草稿")
    assert error(await w.client.get(f"{API}/surveys/{draft['id']}/results", headers=w.staff.headers)) == (
        409,
        "survey_results_after_close",
    )

    # a named survey's are live; a cancelled anonymous one's are there (nothing more can come in)
    named = await w.survey(anonymous=False, title="实名调研")
    assert (await w.answer(named["id"], w.chen, answers(2))).status_code == 201
    assert (await w.view(named["id"]))["results_available"] is True
    assert (await w.results(named["id"]))["respondents"] == 1
    dropped = await w.survey(title="要取消的")
    assert (await w.answer(dropped["id"], w.zhou, answers(1))).status_code == 201
    await w.ok(dropped["id"], "cancel", reason="与楼道改造调研合并")
    assert (await w.results(dropped["id"]))["respondents"] == 1

    # the close by the clock: there at once, whether or not the worker has closed it yet
    clock.advance(datetime(2026, 12, 8, 10, 0, tzinfo=UTC) - clock.now())
    assert (await w.view(sid))["results_available"] is True
    result = await w.results(sid)
    assert (result["status"], result["respondents"], result["by_channel"]) == ("closed", 2, {"app": 1, "paper": 1})
    assert "回答" in await w.workbook(sid)


async def test_the_anonymous_workbook_has_no_channel_or_day_that_would_single_out_a_hidden_building(w):
    """Staff type every paper questionnaire: were the channel listed, the app's rows among those
    whose building is hidden would be the small building's residents'. The counts by channel stay,
    as totals."""
    survey = await w.survey()
    sid = survey["id"]
    assert (await w.answer(sid, w.wang, answers(2, text="楼道灯坏了很久"))).status_code == 201  # 4栋, alone
    for _ in range(6):
        assert (await w.paper(sid, answers(0), building="3栋")).status_code == 201
    await w.ok(sid, "close")
    groups = (await w.results(sid))["by_building"]["groups"]
    assert [(g["building"], g["hidden"]) for g in groups] == [("3栋", True), ("4栋", True)]
    book = await w.workbook(sid)
    header, *lines = book["回答"]
    assert header[:2] == ["序号", "楼栋"] and "渠道" not in header and "日期" not in header
    assert {line[1] for line in lines} == {"少于5人"}
    cells = [cell for line in lines for cell in line]
    assert "小程序" not in cells and "纸质问卷" not in cells
    assert not any(isinstance(cell, (date, datetime)) for cell in cells)
    assert [line[0] for line in lines] == list(range(1, 8))  # numbered in the random ids' order
    about = {row[0]: row[1] for row in book["说明"]}
    assert (about["收到问卷"], about["其中小程序"], about["其中纸质问卷"]) == (7, 1, 6)
    assert "不列渠道和日期" in about["说明"]


async def test_a_question_few_answered_in_a_building_is_hidden_there_with_its_complement(w):
    """Per question too: 3栋 6 respondents, 4栋 5, 5栋 3 and 6栋 2 (hidden, five together). The
    optional question: 6 answered in 3栋, 5 in 4栋, 1 in 5栋 — the hidden pool of this question is
    one answer, which its total minus 3栋 and 4栋 would give: 4栋 (the smallest) is hidden too.
    Then a building of 5 where 2 answered it: that cell is hidden (fewer than five)."""
    questions = [
        {"text": "最需要哪项服务？", "kind": "single", "options": ["助餐", "助浴"]},
        {"text": "家里有没有卧床的老人？", "kind": "single", "options": ["有", "没有"], "required": False},
        {"text": "满意度", "kind": "scale", "required": False},
    ]
    survey = await w.survey(questions=questions)
    sid = survey["id"]

    def given(bedridden: int | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = [{"question": 0, "options": [0]}]
        if bedridden is not None:
            found += [{"question": 1, "options": [bedridden]}, {"question": 2, "scale": 3}]
        return found

    await w.elder("5栋", "501")
    await w.elder("6栋", "601", "李爷爷")
    for building, count, answered in (("3栋", 6, 6), ("4栋", 5, 5), ("5栋", 3, 1), ("6栋", 2, 0)):
        for n in range(count):
            entered = await w.paper(sid, given(n % 2 if n < answered else None), building=building)
            assert entered.status_code == 201, entered.text
    await w.ok(sid, "close")
    result = await w.results(sid)
    assert result["questions"][1]["answered"] == 12
    groups = {g["building"]: g for g in result["by_building"]["groups"]}
    assert [(b, g["hidden"], g["respondents"]) for b, g in groups.items()] == [
        ("3栋", False, 6),
        ("4栋", False, 5),
        ("5栋", True, None),
        ("6栋", True, None),
    ]
    three, four = groups["3栋"]["questions"], groups["4栋"]["questions"]
    assert [(f["hidden"], f["answered"]) for f in three] == [(False, 6), (False, 6), (False, 6)]
    assert [(f["hidden"], f["note"], f["answered"]) for f in four] == [
        (False, None, 5),
        (True, COMPLEMENT, None),  # else 12 − 6 would give 5栋's one answer
        (True, COMPLEMENT, None),
    ]
    assert four[1]["options"] == [] and four[2]["scale_mean"] is None
    # what is not shown of each question is never fewer than five answers
    for n, q in enumerate(result["questions"]):
        shown = sum(
            g["questions"][n]["answered"]
            for g in groups.values()
            if not g["hidden"] and not g["questions"][n]["hidden"]
        )
        assert q["answered"] - shown == 0 or q["answered"] - shown >= 5, n
    book = await w.workbook(sid)
    assert ["4栋", 5, "2. 家里有没有卧床的老人？", COMPLEMENT, None, None] in book["按楼栋"]

    # a building shown whose few answered a question: that question is hidden there
    other = await w.survey(questions=questions, title="第二次调研")
    for building, count, answered in (("3栋", 5, 5), ("4栋", 5, 5), ("5栋", 5, 2)):
        for n in range(count):
            assert (
                await w.paper(other["id"], given(n % 2 if n < answered else None), building=building)
            ).status_code == 201
    await w.ok(other["id"], "close")
    groups = {g["building"]: g for g in (await w.results(other["id"]))["by_building"]["groups"]}
    assert [g["hidden"] for g in groups.values()] == [False, False, False]
    assert [(f["hidden"], f["note"]) for f in groups["5栋"]["questions"]] == [
        (False, None),
        (True, "少于5人"),
        (True, "少于5人"),
    ]
    # hidden alone, its two would be the total minus the rest: 3栋's cells (the first of the smallest) go too
    assert [f["hidden"] for f in groups["3栋"]["questions"]] == [False, True, True]
    assert [f["hidden"] for f in groups["4栋"]["questions"]] == [False, False, False]


async def test_the_close_writes_anonymous_responses_again_apart_from_their_tokens(w):
    """On PostgreSQL a row keeps the id of the transaction that wrote it (xmin): an anonymous
    response shares it with its token and its Idempotency-Key until the close writes the responses
    again, in a random order, with new random ids. The figures are the same."""
    survey = await w.survey()
    sid = survey["id"]
    for n, person in enumerate((w.chen, w.zhou, w.wang, w.mei)):
        response = await w.client.post(
            f"{API}/surveys/{sid}/responses",
            json={"answers": answers(n % 3, text=f"第{n + 1}份")},
            headers={**person.headers, "Idempotency-Key": f"answer-{n}"},
        )
        assert response.status_code == 201, response.text
    for n in range(6):
        assert (await w.paper(sid, answers(1, text=f"纸质{n + 1}"), building="3栋")).status_code == 201
    before = await w.rows(sid)
    postgres = w.db.engine.dialect.name == "postgresql"

    async def xmins() -> tuple[list[str], set[str], set[str]]:
        async with w.db.session(write=False) as session:
            rows = [
                r[0]
                for r in await session.execute(
                    text("SELECT xmin::text FROM survey_responses WHERE survey_id = :s ORDER BY ctid"), {"s": sid}
                )
            ]
            tokens = {r[0] for r in await session.execute(text("SELECT xmin::text FROM survey_tokens"))}
            keys = {r[0] for r in await session.execute(text("SELECT xmin::text FROM idempotency_keys"))}
        return rows, tokens, keys

    if postgres:  # what the close undoes: each app response is its token's and its key's transaction
        rows, tokens, keys = await xmins()
        assert len(set(rows) & tokens & keys) == 4

    closed = await w.client.post(f"{API}/surveys/{sid}/close", headers=w.staff.headers)
    assert closed.status_code == 200, closed.text
    after = await w.rows(sid)
    assert not {r.id for r in before} & {r.id for r in after}
    assert len(after) == 10 and all(r.id > 0 for r in after)

    def kept(rows: list[SurveyResponse]) -> list[tuple[Any, ...]]:
        return sorted(
            (r.channel, r.building, r.submitted_on, r.entered_by, r.member_id, r.household_id, repr(r.answers))
            for r in rows
        )

    assert kept(after) == kept(before)
    async with w.db.session(write=False) as session:
        questions = (await session.get(Survey, sid)).questions
    expected = jsonable_encoder(survey_results.tally(questions, before))
    result = await w.results(sid)
    for figures in (expected, result):  # the texts follow the ids, new ones now
        figures["questions"][3]["texts"].sort()
        figures["questions"][0]["other"]["texts"].sort()
    assert {k: result[k] for k in expected} == expected
    if postgres:
        rows, tokens, keys = await xmins()
        assert len(set(rows)) == 1 and not set(rows) & (tokens | keys)  # one transaction, the close's
        async with w.db.session(write=False) as session:
            placed = [
                r[0]
                for r in await session.execute(
                    text("SELECT answers FROM survey_responses WHERE survey_id = :s ORDER BY ctid"), {"s": sid}
                )
            ]
        came = [f"第{n + 1}份" for n in range(4)] + [f"纸质{n + 1}" for n in range(6)]
        assert [a["3"]["text"] for a in placed] != came  # not as they came: 1 chance in 10! of failing by luck
    # the worker's close at closes_at does the same
    later = await w.survey(title="按时结束", closes_at="2026-12-09T18:00")
    assert (await w.answer(later["id"], w.chen)).status_code == 201
    (row,) = await w.rows(later["id"])
    clock.advance(datetime(2026, 12, 9, 10, 0, tzinfo=UTC) - clock.now())
    await Worker(w.app.state.db, w.app.state.settings, w.app.state.wechat).run_until_idle()
    (again,) = await w.rows(later["id"])
    assert again.id != row.id and again.answers == row.answers
    # and so does the cancel of an open survey (its results are there from then on)
    dropped = await w.survey(title="要取消的", closes_at="2026-12-20T18:00")
    assert (await w.answer(dropped["id"], w.zhou)).status_code == 201
    (row,) = await w.rows(dropped["id"])
    await w.ok(dropped["id"], "cancel", reason="与楼道改造调研合并")
    (again,) = await w.rows(dropped["id"])
    assert again.id != row.id and again.answers == row.answers
    # a named survey's responses are left as they are
    named = await w.survey(anonymous=False, title="实名调研", closes_at="2026-12-20T18:00")
    assert (await w.answer(named["id"], w.chen)).status_code == 201
    (row,) = await w.rows(named["id"])
    await w.ok(named["id"], "close")
    assert [r.id for r in await w.rows(named["id"])] == [row.id]


# -- who may do what -----------------------------------------------------------------------------


async def test_residents_are_refused_staff_actions_and_other_communities_see_nothing(w):
    draft = await w.survey(open_=False)
    survey = await w.survey(title="进行中的调研")
    sid = survey["id"]
    create = {"title": "t", "closes_at": CLOSES, "questions": QUESTIONS}
    assert error(await w.client.post(f"{API}/communities/{w.b}/surveys", json=create, headers=w.chen.headers)) == (
        403,
        "staff_only",
    )
    for action, body in [
        ("open", None),
        ("close", None),
        ("cancel", {"reason": "x"}),
        ("paper", {"answers": answers()}),
    ]:
        refused = await w.client.post(f"{API}/surveys/{sid}/{action}", json=body, headers=w.chen.headers)
        assert error(refused) == (403, "staff_only"), action
    # a draft does not exist for residents
    refused = await w.client.post(f"{API}/surveys/{draft['id']}/open", headers=w.chen.headers)
    assert error(refused) == (404, "survey_not_found")
    patch = await w.client.patch(f"{API}/surveys/{sid}", json={"title": "x"}, headers=w.chen.headers)
    assert error(patch) == (403, "staff_only")
    for path in (f"/surveys/{sid}/results", f"/surveys/{sid}/export.xlsx"):
        assert error(await w.client.get(API + path, headers=w.chen.headers)) == (403, "staff_only")

    # another community's staff and residents: no such survey, no such community
    for person in (w.c_staff, w.c_resident):
        for path in (f"/surveys/{sid}", f"/surveys/{sid}/results", f"/surveys/{sid}/export.xlsx"):
            assert error(await w.client.get(API + path, headers=person.headers)) == (404, "survey_not_found")
        for action, body in [
            ("responses", {"answers": answers()}),
            ("paper", {"answers": answers()}),
            ("open", None),
            ("close", None),
            ("cancel", {"reason": "x"}),
        ]:
            refused = await w.client.post(f"{API}/surveys/{sid}/{action}", json=body, headers=person.headers)
            assert error(refused) == (404, "survey_not_found"), (action, refused.text)
        patch = await w.client.patch(f"{API}/surveys/{sid}", json={"title": "x"}, headers=person.headers)
        assert error(patch) == (404, "survey_not_found")
        listed = await w.client.get(f"{API}/communities/{w.b}/surveys", headers=person.headers)
        assert error(listed) == (404, "community_not_found")
        made = await w.client.post(f"{API}/communities/{w.b}/surveys", json=create, headers=person.headers)
        assert error(made) == (404, "community_not_found")
    # staff who live nowhere in the community may not answer
    assert error(await w.answer(sid, w.staff)) == (403, "survey_not_resident")
    # nothing of it changed anything
    assert await w.rows(sid) == []
    assert ((await w.view(sid))["status"], (await w.view(draft["id"]))["status"]) == ("open", "draft")


async def test_a_survey_may_belong_to_a_project_covering_the_community(w):
    async def project(person: Person, community_id: int) -> int:
        made = await w.client.post(
            f"{API}/communities/{community_id}/projects",
            json={"name": "社区营造项目", "funder": "民政局", "starts_on": "2026-01-01", "ends_on": "2027-12-31"},
            headers=person.headers,
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    ours, theirs = await project(w.staff, w.b), await project(w.c_staff, w.c)
    body = {"title": "t", "closes_at": CLOSES, "questions": QUESTIONS}
    refused = await w.client.post(
        f"{API}/communities/{w.b}/surveys", json={**body, "project_id": theirs}, headers=w.staff.headers
    )
    assert error(refused) == (422, "project_not_covering")
    made = await w.client.post(
        f"{API}/communities/{w.b}/surveys", json={**body, "project_id": ours}, headers=w.staff.headers
    )
    assert made.status_code == 201 and made.json()["project_id"] == ours
    path = f"{API}/surveys/{made.json()['id']}"
    assert error(await w.client.patch(path, json={"project_id": theirs}, headers=w.staff.headers)) == (
        422,
        "project_not_covering",
    )
    cleared = await w.client.patch(path, json={"project_id": None}, headers=w.staff.headers)
    assert cleared.status_code == 200 and cleared.json()["project_id"] is None
