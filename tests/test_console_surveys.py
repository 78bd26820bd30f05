"""Needs surveys in the staff console, through HTTP on both engines: the list with each survey's
state and responses, writing a draft in the editor (questions added, moved and removed; the
services' and the models' refusals beside the fields, nothing kept of a refused form), changing it
until it opens, opening, closing and cancelling, paper questionnaires one after another (a
respondent who already answered is refused here too), the results with the building breakdown
hidden below five, the workbook; who may see what, CSRF.

Every change is read back through the API (`tests/test_surveys.World`), so that each test shows
the console went through the services."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from api import clock
from tests.console import Browser
from tests.factories import join
from tests.test_surveys import API, NOW, QUESTIONS, World, answers, error, settings  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def text_of(html: str) -> str:
    """The page's text, tags and spacing gone, for asserting on what staff read."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def base(w: World) -> str:
    return f"/console/c/{w.b}"


def flashed(response: Any) -> str:
    """A refusal sent to the page's #flash line."""
    assert response.headers.get("HX-Retarget") == "#flash", response.headers
    return text_of(response.text)


def beside(response: Any, form_id: str) -> str:
    """A refusal shown in a form's own slot: the form keeps what was typed."""
    assert response.status_code == 422, response.text
    assert response.headers.get("HX-Retarget") == f"#{form_id}-errors", response.headers
    return text_of(response.text)


async def staff_console(console: Any, w: World) -> Browser:
    browser: Browser = await console(w.staff)
    return browser


def editor_form(**fields: Any) -> dict[str, Any]:
    """The editor's fields as the browser sends them: the survey's, then each question's block
    (`questions`: (key, {text, kind, options, other, required, min, max})) in the page's order."""
    questions = fields.pop("questions", None)
    if questions is None:
        questions = [
            (
                "k1",
                {
                    "text": "你最希望社区开展哪类活动？",
                    "kind": "single",
                    "options": "亲子阅读\n老年健身\n手工",
                    "other": "1",
                },
            ),
            (
                "k2",
                {"text": "你方便参加的时间", "kind": "multiple", "options": "工作日白天\n工作日晚上\n周末", "max": "2"},
            ),
            ("k3", {"text": "你对复合空间的满意度", "kind": "scale"}),
            ("k4", {"text": "还有什么建议？", "kind": "text", "required": ""}),
        ]
    form: dict[str, Any] = {
        "title": "社区服务需求调研",
        "intro": "帮助我们安排明年的活动",
        "anonymous": "1",
        "unit": "person",
        "closes_at": "2026-12-08T18:00",
        "project_id": "",
        **fields,
        "q": [key for key, _ in questions],
    }
    for key, q in questions:
        form[f"q-{key}-text"] = q.get("text", "")
        form[f"q-{key}-kind"] = q.get("kind", "single")
        form[f"q-{key}-options"] = q.get("options", "")
        if q.get("other"):
            form[f"q-{key}-other"] = "1"
        if q.get("required", "1"):
            form[f"q-{key}-required"] = "1"
        form[f"q-{key}-min"] = q.get("min", "")
        form[f"q-{key}-max"] = q.get("max", "")
    return form


async def listed(w: World) -> list[dict[str, Any]]:
    found = await w.client.get(f"{API}/communities/{w.b}/surveys", headers=w.staff.headers)
    assert found.status_code == 200, found.text
    items: list[dict[str, Any]] = found.json()["items"]
    return items


async def member_id(w: World, name: str) -> int:
    households = (await w.client.get(f"{API}/communities/{w.b}/households", headers=w.staff.headers)).json()
    for h in households["items"]:
        file = (await w.client.get(f"{API}/households/{h['id']}", headers=w.staff.headers)).json()
        for m in file["members"]:
            if m["display_name"] == name:
                return int(m["id"])
    raise AssertionError(name)


# -- the list -------------------------------------------------------------------------------------


async def test_the_list_shows_each_survey_with_its_state_and_responses(client, console, w):
    draft = await w.survey(open_=False, title="楼道改造意见征集")
    survey = await w.survey(anonymous=False, unit="household")
    for person in (w.chen, w.zhou):
        assert (await w.answer(survey["id"], person)).status_code == 201
    dropped = await w.survey(title="取消的调研")
    await w.ok(dropped["id"], "cancel", reason="题目要重新设计")
    c_survey = await client.post(
        f"{API}/communities/{w.c}/surveys",
        json={"title": "C社区的调研", "closes_at": "2026-12-08T18:00", "questions": QUESTIONS},
        headers=w.c_staff.headers,
    )
    assert c_survey.status_code == 201

    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'aria-current="page">调研问卷</a>' in html
    assert "C社区的调研" not in html

    def row(survey_id: int, html: str = html) -> list[str]:
        found = re.search(rf'<tr data-survey="{survey_id}">(.*?)</tr>', html, re.S)
        assert found is not None, survey_id
        return text_of(found.group(1)).split()

    assert row(survey["id"]) == ["社区服务需求调研", "进行中", "实名", "·", "每户一份", "12月8日", "18:00", "4", "2"]
    assert row(draft["id"]) == ["楼道改造意见征集", "草稿", "匿名", "·", "每人一份", "12月8日", "18:00", "4", "—"]
    assert row(dropped["id"])[1] == "已取消"
    order = [int(n) for n in re.findall(r'<tr data-survey="(\d+)">', html)]
    assert order == [dropped["id"], survey["id"], draft["id"]]  # newest first

    drafts = await browser.get(f"{base(w)}/surveys?status=draft")
    assert re.findall(r'<tr data-survey="(\d+)">', drafts.text) == [str(draft["id"])]
    none_closed = await browser.get(f"{base(w)}/surveys?status=closed")
    assert "没有已结束的问卷" in text_of(none_closed.text)
    wrong = await browser.get(f"{base(w)}/surveys?status=lost")
    assert wrong.status_code == 422


async def test_the_list_goes_back_a_page_at_a_time(client, console, w):
    made = [(await w.survey(open_=False, title=f"调研{n}"))["id"] for n in range(21)]
    browser = await staff_console(console, w)
    first = await browser.get(f"{base(w)}/surveys")
    shown = [int(n) for n in re.findall(r'<tr data-survey="(\d+)">', first.text)]
    assert shown == made[::-1][:20]
    found = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert found is not None
    second = await browser.get(found.group(1).replace("&amp;", "&"))
    assert [int(n) for n in re.findall(r'<tr data-survey="(\d+)">', second.text)] == [made[0]]
    assert 'rel="next"' not in second.text and "回到最新的" in second.text


# -- the editor -----------------------------------------------------------------------------------


async def test_a_draft_is_written_in_the_editor_and_read_back_through_the_api(client, console, w):
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/new")
    assert page.status_code == 200, page.text
    assert page.text.count('class="question"') == 1  # one question to start from
    block = await browser.get(f"{base(w)}/surveys/question?kind=scale")
    assert block.status_code == 200
    assert re.search(r'<option value="scale" selected>', block.text) and "autofocus" in block.text
    keys = {re.search(r'name="q" value="([a-z0-9]+)"', (await browser.get(f"{base(w)}/surveys/question")).text)}
    assert len(keys) == 1 and None not in keys

    # the scale question had options typed before its kind was changed: they are not kept
    form = editor_form(
        questions=[
            ("b", {"text": "你对复合空间的满意度", "kind": "scale", "options": "好\n不好"}),
            (
                "a",
                {
                    "text": "你最希望社区开展哪类活动？",
                    "kind": "single",
                    "options": "亲子阅读\n\n 老年健身 \n",
                    "other": "1",
                },
            ),
            (
                "c",
                {"text": "你方便参加的时间", "kind": "multiple", "options": "白天\n晚上\n周末", "min": "1", "max": "2"},
            ),
            ("d", {"text": "还有什么建议？", "kind": "text", "required": ""}),
        ]
    )
    made = await browser.post(f"{base(w)}/surveys", data=form)
    assert made.status_code == 204, made.text
    (item,) = await listed(w)
    assert made.headers["HX-Redirect"] == f"{base(w)}/surveys/{item['id']}"
    survey = await w.view(item["id"])
    assert (survey["title"], survey["status"], survey["anonymous"], survey["unit"]) == (
        "社区服务需求调研",
        "draft",
        True,
        "person",
    )
    assert survey["closes_at"] == "2026-12-08T18:00:00+08:00"
    assert [(q["text"], q["kind"], q["options"], q["allow_other"], q["required"]) for q in survey["questions"]] == [
        ("你对复合空间的满意度", "scale", [], False, True),
        ("你最希望社区开展哪类活动？", "single", ["亲子阅读", "老年健身"], True, True),
        ("你方便参加的时间", "multiple", ["白天", "晚上", "周末"], False, True),
        ("还有什么建议？", "text", [], False, False),
    ]
    assert [(q["min_choices"], q["max_choices"]) for q in survey["questions"]][2] == (1, 2)

    shown = await browser.get(f"{base(w)}/surveys/{item['id']}")
    assert shown.status_code == 200
    assert 'data-status="draft"' in shown.text and "开始调研" in shown.text
    assert "其他（请注明）" in text_of(shown.text) and "选 1–2 项" in text_of(shown.text)


async def test_refusals_come_back_beside_their_fields_and_nothing_is_kept(client, console, w):
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/surveys/new")
    cases = [
        (editor_form(title=" "), "标题：请填写", 'id="err-title"'),
        (editor_form(closes_at=""), "截止时间：请填写", 'id="err-closes_at"'),
        (editor_form(closes_at="下周"), "截止时间：请按", 'id="err-closes_at"'),
        (editor_form(closes_at="2026-11-30T18:00"), "截止时间：截止时间应晚于现在", 'id="err-closes_at"'),
        (editor_form(questions=[]), "题目：至少要有一题", 'id="err-questions"'),
        (editor_form(project_id="99999"), "服务项目：所选的服务项目不覆盖本社区", 'id="err-project_id"'),
        (editor_form(unit="flat"), "每人或每户一份：请从列表中选择", 'id="err-unit"'),
        (
            editor_form(questions=[("x", {"text": "只有一个选项", "kind": "single", "options": "是"})]),
            "第 1 题的选项：单选题和多选题至少要有两个选项",
            "选项：单选题和多选题至少要有两个选项",
        ),
        (
            editor_form(
                questions=[
                    ("x", {"text": "好", "kind": "scale"}),
                    ("y", {"text": "", "kind": "single", "options": "甲\n乙"}),
                ]
            ),
            "第 2 题的题目文字：请填写",
            "题目文字：请填写",
        ),
        (
            editor_form(questions=[("x", {"text": "多选", "kind": "multiple", "options": "甲\n乙", "max": "3"})]),
            "第 1 题的最多选几项：最多只能选 2 项",
            "最多选几项：最多只能选 2 项",
        ),
        (
            editor_form(questions=[("x", {"text": "多选", "kind": "multiple", "options": "甲\n乙", "min": "两"})]),
            "第 1 题的至少选几项：应为整数",
            "至少选几项：应为整数",
        ),
        (
            editor_form(questions=[("x", {"text": "选", "kind": "single", "options": "甲\n" + "乙" * 101})]),
            "第 1 题的选项：最多 100 个字",
            "选项：最多 100 个字",
        ),
    ]
    for form, line, beside_field in cases:
        refused = await browser.post(f"{base(w)}/surveys", data=form)
        assert refused.status_code == 422, (line, refused.text)
        assert 'id="survey-form"' in refused.text  # the form, re-rendered in place
        assert line in text_of(refused.text), (line, text_of(refused.text))
        assert beside_field in refused.text, beside_field
    # what was typed stays: the title, the blocks in their order with their keys
    kept = await browser.post(
        f"{base(w)}/surveys",
        data=editor_form(
            title="我的调研",
            questions=[("zz", {"text": "第一题", "kind": "text"}), ("aa", {"text": "", "kind": "scale"})],
        ),
    )
    assert 'value="我的调研"' in kept.text
    assert re.findall(r'name="q" value="([a-z0-9]+)"', kept.text) == ["zz", "aa"]
    assert 'value="第一题"' in kept.text
    assert await listed(w) == []  # nothing of the refused attempts


async def test_a_draft_is_changed_reordered_and_trimmed_until_it_opens(client, console, w):
    draft = await w.survey(open_=False)
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/{draft['id']}/edit")
    assert page.status_code == 200, page.text
    assert 'value="社区服务需求调研"' in page.text and 'value="2026-12-08T18:00"' in page.text
    assert page.text.count('class="question"') == 4
    assert "亲子阅读\n老年健身\n手工</textarea>" in page.text
    keys = re.findall(r'name="q" value="([a-z0-9]+)"', page.text)
    assert len(set(keys)) == 4

    # the text question first, the multiple choice removed, named and per household
    form = editor_form(
        title="楼道改造意见征集",
        anonymous="0",
        unit="household",
        closes_at="2026-12-20T12:00",
        questions=[
            (keys[3], {"text": "还有什么建议？", "kind": "text", "required": ""}),
            (keys[0], {"text": "你最希望社区开展哪类活动？", "kind": "single", "options": "亲子阅读\n老年健身\n手工"}),
            (keys[2], {"text": "你对复合空间的满意度", "kind": "scale"}),
        ],
    )
    changed = await browser.post(f"{base(w)}/surveys/{draft['id']}/edit", data=form)
    assert changed.status_code == 204, changed.text
    assert changed.headers["HX-Redirect"] == f"{base(w)}/surveys/{draft['id']}"
    survey = await w.view(draft["id"])
    assert (survey["title"], survey["anonymous"], survey["unit"], survey["closes_at"]) == (
        "楼道改造意见征集",
        False,
        "household",
        "2026-12-20T12:00:00+08:00",
    )
    assert [q["kind"] for q in survey["questions"]] == ["text", "single", "scale"]
    assert survey["questions"][1]["allow_other"] is False

    refused = await browser.post(f"{base(w)}/surveys/{draft['id']}/edit", data=editor_form(title=""))
    assert "标题：请填写" in text_of(refused.text)
    assert (await w.view(draft["id"]))["title"] == "楼道改造意见征集"

    await w.ok(draft["id"], "open")
    moved_on = await browser.get(f"{base(w)}/surveys/{draft['id']}/edit", follow_redirects=False)
    assert moved_on.status_code == 303 and moved_on.headers["location"] == f"{base(w)}/surveys/{draft['id']}"
    late = await browser.post(f"{base(w)}/surveys/{draft['id']}/edit", data=form)
    assert late.status_code == 409 and "不能修改" in flashed(late)


async def test_a_draft_belongs_to_a_project_chosen_in_the_editor_and_leaves_it(client, console, w):
    made = await client.post(
        f"{API}/communities/{w.b}/projects",
        json={"name": "社区营造项目", "funder": "民政局", "starts_on": "2026-01-01", "ends_on": "2027-12-31"},
        headers=w.staff.headers,
    )
    assert made.status_code == 201, made.text
    project = made.json()["id"]
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/new")
    assert re.search(rf'<option value="{project}"\s*>社区营造项目</option>', page.text)
    saved = await browser.post(f"{base(w)}/surveys", data=editor_form(project_id=str(project)))
    assert saved.status_code == 204, saved.text
    (item,) = await listed(w)
    assert (await w.view(item["id"]))["project_id"] == project
    shown = await browser.get(f"{base(w)}/surveys/{item['id']}")
    assert "服务项目：社区营造项目" in text_of(shown.text)
    editing = await browser.get(f"{base(w)}/surveys/{item['id']}/edit")
    assert re.search(rf'<option value="{project}" selected>', editing.text)
    cleared = await browser.post(f"{base(w)}/surveys/{item['id']}/edit", data=editor_form(project_id=""))
    assert cleared.status_code == 204
    assert (await w.view(item["id"]))["project_id"] is None


# -- opening, closing, cancelling -----------------------------------------------------------------


async def test_staff_open_close_and_cancel_from_the_surveys_page(client, console, w):
    draft = await w.survey(open_=False)
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/{draft['id']}")
    assert 'data-count="responses">0<' in page.text
    opened = await browser.post(f"{base(w)}/surveys/{draft['id']}/open")
    assert opened.status_code == 200, opened.text
    assert 'id="survey"' in opened.text and 'data-status="open"' in opened.text
    assert "录入纸质问卷" in opened.text
    assert (await w.view(draft["id"], w.chen))["can_answer"] is True
    assert any(n["kind"] == "survey.opened" for n in await w.inbox(w.chen))
    again = await browser.post(f"{base(w)}/surveys/{draft['id']}/open")
    assert again.status_code == 409 and "进行中" in flashed(again)

    blank = await browser.post(f"{base(w)}/surveys/{draft['id']}/cancel", data={"reason": "  "})
    assert "取消原因：请填写" in beside(blank, "cancel-form")
    assert (await w.view(draft["id"]))["status"] == "open"
    cancelled = await browser.post(f"{base(w)}/surveys/{draft['id']}/cancel", data={"reason": "题目要重新设计"})
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text
    assert "题目要重新设计" in text_of(cancelled.text)
    assert (await w.view(draft["id"], w.chen))["cancel_reason"] == "题目要重新设计"

    other = await w.survey(title="第二次调研")
    closed = await browser.post(f"{base(w)}/surveys/{other['id']}/close")
    assert closed.status_code == 200 and 'data-status="closed"' in closed.text
    assert (await w.view(other["id"]))["status"] == "closed"
    assert error(await w.answer(other["id"], w.chen)) == (409, "survey_not_open")


# -- paper questionnaires -------------------------------------------------------------------------


def paper_form(**fields: Any) -> dict[str, Any]:
    """A full paper questionnaire to QUESTIONS: activity 0, time 周末, 4 points."""
    return {"a0": "0", "a1": ["2"], "a2": "4", "a3": "", "building": "", "respondent": "", **fields}


async def test_paper_questionnaires_one_after_another_and_who_already_answered_is_refused(client, console, w):
    survey = await w.survey()
    sid = survey["id"]
    _, elder = await w.elder("5栋", "503")
    assert (await w.answer(sid, w.chen)).status_code == 201
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/{sid}/paper")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="paper-form"' in html and 'x-data="paperEntry"' in html
    assert re.search(r'<input type="radio" name="a0" value="0" autofocus>', html)  # anonymous: the first answer
    assert re.search(r"<option value=\"5栋\"\s*>5栋</option>", html)

    # anonymous paper questionnaires from 5栋: the building stays for the next one
    first = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(building="5栋", a3="多办活动"))
    assert first.status_code == 200, first.text
    assert 'id="paper-saved" data-count="2"' in first.text and "已收到 2 份" in text_of(first.text)
    assert '<option value="5栋" selected>' in first.text
    assert 'name="a0" value="0" autofocus' in first.text  # the focus back on the first answer
    assert "checked" not in first.text.split('data-question="0"')[1]  # every answer empty again
    other = await browser.post(
        f"{base(w)}/surveys/{sid}/paper", data=paper_form(a0="other", **{"a0-other": "社区菜园"}, a1=["0", "2"])
    )
    assert other.status_code == 200 and 'data-count="3"' in other.text
    rows = await w.rows(sid)
    assert sorted(r.building for r in rows) == ["", "3栋", "5栋"]
    assert sorted(str(r.answers["0"]) for r in rows if r.channel == "paper") == [
        "{'options': [0]}",
        "{'options': [], 'other': '社区菜园'}",
    ]

    # the respondent found by name: adults and elders, not children
    found = await browser.get(f"{base(w)}/surveys/{sid}/paper/respondents", params={"q": "王奶奶"})
    assert found.status_code == 200
    assert f'value="m:{elder}"' in found.text and "5栋1单元503" in text_of(found.text)
    chen = await member_id(w, "chen")
    by_room = await browser.get(f"{base(w)}/surveys/{sid}/paper/respondents", params={"q": "101"})
    assert f'value="m:{chen}"' in by_room.text
    nobody = await browser.get(f"{base(w)}/surveys/{sid}/paper/respondents", params={"q": "没有这个人"})
    assert "没有找到" in text_of(nobody.text) and 'value=""' in nobody.text

    # chen answered in the app: his paper questionnaire is refused, the form kept as typed
    twice = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(respondent=f"m:{chen}"))
    assert "这位居民已经填写过这份问卷" in beside(twice, "paper-form")
    named = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(respondent=f"m:{elder}"))
    assert named.status_code == 200 and "已保存（5栋1单元503 王奶奶）" in text_of(named.text)
    again = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(respondent=f"m:{elder}"))
    assert "已经填写过" in beside(again, "paper-form")
    assert (await w.view(sid))["response_count"] == 4

    # answers that do not fit their questions, named by question; nothing kept
    for form, line in [
        (paper_form(a2=""), "第 3 题是必答题"),
        (paper_form(a0="other"), "第 1 题选了「其他」，请注明内容"),
        (paper_form(a0="7"), "第 1 题的选项有误"),
        (paper_form(a1=["0", "1", "2"]), "第 2 题要选 1–2 项"),
        (paper_form(a2="9"), "第 3 题请打 1–5 分"),
        (paper_form(a3="长" * 2001), "第 4 题：最多 2000 个字"),
        ({"a0": "", "a2": ""}, "还没有填写任何回答"),
        (paper_form(building="8栋"), "楼栋：本社区没有这个楼栋"),
        (paper_form(respondent="x:1"), "填写人：请从查找结果中选择"),
        (paper_form(respondent="m:999999"), "填写人：本社区没有这位成员"),
    ]:
        refused = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=form)
        assert line in beside(refused, "paper-form"), (line, refused.text)
    assert (await w.view(sid))["response_count"] == 4

    # closed: the page says so, and nothing more is entered
    await w.ok(sid, "close")
    shut = await browser.get(f"{base(w)}/surveys/{sid}/paper")
    assert 'id="not-open"' in shut.text and 'id="paper-form"' not in shut.text
    late = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form())
    assert late.status_code == 409 and "不能录入纸质问卷" in flashed(late)


async def test_a_household_survey_names_the_household_on_paper(client, console, w):
    survey = await w.survey(unit="household", anonymous=False)
    sid = survey["id"]
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/surveys/{sid}/paper")
    assert 'id="p-q"' in page.text and re.search(r'id="p-q"[^>]*autofocus', page.text)  # named: whom first
    households = (await w.client.get(f"{API}/communities/{w.b}/households", headers=w.staff.headers)).json()
    (wangs,) = [h["id"] for h in households["items"] if h["building"] == "4栋"]
    found = await browser.get(f"{base(w)}/surveys/{sid}/paper/respondents", params={"q": "201"})
    assert f'value="h:{wangs}"' in found.text and "wang" in found.text and "mei" in found.text
    assert 'value="m:' not in found.text
    saved = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(respondent=f"h:{wangs}"))
    assert saved.status_code == 200, saved.text
    # the Wangs' household has answered: mei cannot in the app
    assert error(await w.answer(sid, w.mei)) == (409, "survey_already_answered")
    (row,) = await w.rows(sid)
    assert (row.household_id, row.channel, row.entered_by) == (wangs, "paper", w.staff.user_id)
    # the other way round: chen's household answered in the app, its paper questionnaire is refused
    assert (await w.answer(sid, w.chen)).status_code == 201
    (chens,) = [h["id"] for h in households["items"] if h["room"] == "101"]
    refused = await browser.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(respondent=f"h:{chens}"))
    assert "这一户已经有人填写过这份问卷（每户一份）" in beside(refused, "paper-form")
    assert (await w.view(sid))["response_count"] == 2


# -- results and the workbook ---------------------------------------------------------------------


async def test_the_results_page_counts_each_answer_and_hides_small_buildings(client, console, w):
    """3栋 10 respondents, 4栋 5 (both shown), 5栋 3 and 6栋 2 (hidden: 少于5人; together five, so
    nothing more is hidden)."""
    survey = await w.survey()
    sid = survey["id"]
    await w.elder("5栋", "505")
    await w.elder("6栋", "605", "李爷爷")
    assert (await w.answer(sid, w.chen, answers(0, (0, 2), 5, "多办亲子活动"))).status_code == 201  # 3栋
    assert (await w.answer(sid, w.zhou, answers("社区菜园", (2,), 4))).status_code == 201  # 3栋
    for building, count, given in (("3栋", 8, answers(1, (1,), 3)), ("5栋", 3, answers(0)), ("6栋", 2, answers(1))):
        for _ in range(count):
            assert (await w.paper(sid, given, building=building)).status_code == 201
    assert (await w.answer(sid, w.wang, answers(2, (0,), 2))).status_code == 201  # 4栋
    for _ in range(4):
        assert (await w.paper(sid, answers(2), building="4栋")).status_code == 201

    browser = await staff_console(console, w)
    # while it is open: how many came in, by channel, and when the results appear — nothing more
    later = await browser.get(f"{base(w)}/surveys/{sid}/results")
    assert later.status_code == 200, later.text
    assert 'data-results="later"' in later.text
    assert "匿名问卷的结果在调研结束后才能查看：2026年12月8日 18:00 截止" in text_of(later.text)
    assert 'data-count="respondents">20<' in later.text and 'data-count="app">3<' in later.text
    assert 'data-count="paper">17<' in later.text
    assert "亲子阅读" not in later.text and 'id="by-building"' not in later.text
    shown = await browser.get(f"{base(w)}/surveys/{sid}")
    assert "结果（结束后可看）" in shown.text and "/export.xlsx" not in shown.text
    assert 'data-count="app">3<' in shown.text and 'data-count="paper">17<' in shown.text
    listing = await browser.get(f"{base(w)}/surveys")
    assert f'href="{base(w)}/surveys/{sid}/results"' not in listing.text
    closed = await browser.post(f"{base(w)}/surveys/{sid}/close")
    assert closed.status_code == 200 and f'href="{base(w)}/surveys/{sid}/results">查看结果' in closed.text
    assert "/export.xlsx" in closed.text

    page = await browser.get(f"{base(w)}/surveys/{sid}/results")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-count="respondents">20<' in html and 'data-count="app">3<' in html
    assert 'data-count="paper">17<' in html

    def section(index: int) -> str:
        return html.split(f'id="q{index}"')[1].split("</section>")[0]

    def option(part: str, key: str) -> list[str]:
        found = re.search(rf'<tr data-(?:option|value)="{key}">(.*?)</tr>', part, re.S)
        assert found is not None, key
        return text_of(found.group(1)).split()

    single = section(0)
    assert option(single, "0") == ["亲子阅读", "4", "20.0%"]
    assert option(single, "1") == ["老年健身", "10", "50.0%"]
    assert option(single, "2") == ["手工", "5", "25.0%"]
    assert option(single, "other") == ["其他（请注明）", "1", "5.0%"]
    assert '<rect class="fill" width="50.0"' in single  # the bar, drawn to its percentage
    assert "社区菜园" in text_of(single)
    scale = section(2)
    assert "data-mean>3.55<" in scale  # (5 + 4 + 8×3 + 2 + 9×4) / 20
    assert option(scale, "5") == ["5", "分", "1", "5.0%"]
    assert option(scale, "3") == ["3", "分", "8", "40.0%"]
    text = section(3)
    assert "多办亲子活动" in text_of(text) and "1 人回答" in text_of(text)

    by_building = html.split('id="by-building"')[1]
    rows = re.findall(r'<tr data-building="([^"]+)"( data-hidden)?>(.*?)</tr>', by_building.split("</table>")[0], re.S)
    assert [(b, bool(hidden), text_of(cells).split()) for b, hidden, cells in rows] == [
        ("3栋", False, ["3栋", "10"]),
        ("4栋", False, ["4栋", "5"]),
        ("5栋", True, ["5栋", "少于5人"]),
        ("6栋", True, ["6栋", "少于5人"]),
    ]
    first = by_building.split('<table class="breakdown" data-question="0">')[1].split("</table>")[0]
    three = re.search(r'<tr data-building="3栋">(.*?)</tr>', first, re.S)
    assert three is not None and text_of(three.group(1)).split() == [
        "3栋",
        "10",
        "1",
        "10.0%",
        "8",
        "80.0%",
        "0",
        "0.0%",
        "1",
    ]
    assert "少于5人" in text_of(first)

    # the complement: 5栋 alone hidden would be the total minus the rest — the smallest goes too
    small = await w.survey(title="第二次调研")
    for building, count in (("3栋", 6), ("4栋", 4)):
        for _ in range(count):
            assert (await w.paper(small["id"], answers(0), building=building)).status_code == 201
    await w.ok(small["id"], "close")
    hidden = await browser.get(f"{base(w)}/surveys/{small['id']}/results")
    notes = re.findall(r"data-note>([^<]+)<", hidden.text)
    assert notes == ["为免从合计推算出人数少的楼栋，一并隐藏", "少于5人"]
    assert '<table class="breakdown"' not in hidden.text  # no building shown: no breakdown tables

    # a question few answered in a building is hidden there (and its complement with it)
    optional = [
        {"text": "最需要哪项服务？", "kind": "single", "options": ["助餐", "助浴"]},
        {"text": "满意度", "kind": "scale", "required": False},
    ]
    cells = await w.survey(title="第三次调研", questions=optional)
    for building, answered in (("3栋", 2), ("4栋", 5)):
        for n in range(5):
            given = [{"question": 0, "options": [0]}] + ([{"question": 1, "scale": 4}] if n < answered else [])
            assert (await w.paper(cells["id"], given, building=building)).status_code == 201
    await w.ok(cells["id"], "close")
    page = await browser.get(f"{base(w)}/surveys/{cells['id']}/results")
    scale_table = page.text.split('<table class="breakdown" data-question="1">')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-building="([^"]+)" data-hidden-cell>(.*?)</tr>', scale_table, re.S)
    assert [(b, text_of(cells).split()) for b, cells in rows] == [
        ("3栋", ["3栋", "少于5人"]),
        ("4栋", ["4栋", "为免从合计推算出人数少的楼栋，一并隐藏"]),
    ]
    assert "4.0" not in text_of(scale_table)


async def test_the_workbook_downloads_with_every_answer(client, console, w):
    survey = await w.survey()
    assert (await w.answer(survey["id"], w.chen, answers("社区菜园"))).status_code == 201
    browser = await staff_console(console, w)
    early = await browser.get(f"{base(w)}/surveys/{survey['id']}/export.xlsx")
    assert early.status_code == 409 and "结束后才能查看" in early.text  # anonymous: once it has ended
    await w.ok(survey["id"], "close")
    download = await browser.get(f"{base(w)}/surveys/{survey['id']}/export.xlsx")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"survey-{survey['id']}.xlsx" in download.headers["content-disposition"]
    book = load_workbook(io.BytesIO(download.content), read_only=True)
    assert book.sheetnames == ["说明", "回答", "结果", "按楼栋"]
    header, line = [list(row) for row in book["回答"].iter_rows(values_only=True)]
    assert line[header.index("1. 其他（请注明）")] == "社区菜园"


# -- who may see what -----------------------------------------------------------------------------


async def test_residents_are_refused_other_communities_see_nothing_and_changes_need_the_token(client, console, w):
    survey = await w.survey()
    sid = survey["id"]
    assert (await w.answer(sid, w.chen, answers("社区菜园"))).status_code == 201
    # staff of C, also a resident of B: 403 on B's console, 404 for B's survey through C's
    await join(client, w.c_staff, w.b, "3栋", "1单元", "909")
    theirs = await console(w.c_staff)
    tails = ["", "/edit", "/paper", "/results", "/export.xlsx", "/paper/respondents?q=101"]
    for path in ["/surveys", "/surveys/new", "/surveys/question", *(f"/surveys/{sid}{tail}" for tail in tails)]:
        refused = await theirs.get(f"{base(w)}{path}")
        assert refused.status_code == 403, (path, refused.status_code)
        assert "社区菜园" not in refused.text
    for tail in tails:
        hidden = await theirs.get(f"/console/c/{w.c}/surveys/{sid}{tail}")
        assert hidden.status_code == 404, (tail, hidden.status_code)
        assert "社区服务需求调研" not in hidden.text and "社区菜园" not in hidden.text
    await theirs.get(f"/console/c/{w.c}/surveys")
    for path, data in (
        (f"/surveys/{sid}/close", {}),
        (f"/surveys/{sid}/cancel", {"reason": "别人的调研"}),
        (f"/surveys/{sid}/edit", editor_form()),
        (f"/surveys/{sid}/paper", paper_form()),
    ):
        hidden = await theirs.post(f"/console/c/{w.c}{path}", data=data)
        assert hidden.status_code == 404, (path, hidden.status_code)
        refused = await theirs.post(f"{base(w)}{path}", data=data)
        assert refused.status_code == 403, (path, refused.status_code)
    own = await theirs.get(f"/console/c/{w.c}/surveys")
    assert own.status_code == 200 and "社区服务需求调研" not in own.text
    assert (await w.view(sid))["status"] == "open" and (await w.view(sid))["response_count"] == 1

    # without the page's token nothing changes
    mine = await staff_console(console, w)
    no_token = await mine.post(f"{base(w)}/surveys/{sid}/close", csrf=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    forged = await mine.post(f"{base(w)}/surveys", data=editor_form(), csrf=False)
    assert forged.status_code == 403
    paper = await mine.post(f"{base(w)}/surveys/{sid}/paper", data=paper_form(), csrf=False)
    assert paper.status_code == 403
    assert (await w.view(sid))["status"] == "open" and (await w.view(sid))["response_count"] == 1
    assert [s["id"] for s in await listed(w)] == [sid]  # the forged draft was not made
