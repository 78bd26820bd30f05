"""Polls and elections in the staff console, through HTTP on both engines: the list with phase,
standing and turnout; a draft from the form (questions added and removed, art. 278's options
prefilled, an election's candidates, an election under art. 278) with the refusals beside the
fields; the electorate's preview (for flats: those without an area, off the roll, and the rented
ones on it); editing a draft and not after publishing; publishing and cancelling; the roll searched
by address, who took part and how, objections answered with an elector struck or added; paper and
proxy ballots with their photo (a secret poll's receipt shown once, its paper ballot refused a
photo, a proxy's authorisation kept), refused for an elector who voted in the app; live turnout
while voting and no results before the close, staff included; after the close the results with
their thresholds (an art. 278 election's per candidate, its blank ballots), a tie settled by lot or
sent to a run-off, and the export.
Who may see what, and CSRF.

Every change is read back through the API, so that each test shows the console went through the
services."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from api import clock
from tests.console import Browser
from tests.test_concerns import jpeg
from tests.test_polls import API, NO, NOW, YES, World, at, question, settings  # noqa: F401 - settings is a fixture


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
    return f"/console/c/{w.b}/polls"


def flashed(response: Any) -> str:
    """A refusal sent to the page's #flash line."""
    assert response.headers.get("HX-Retarget") == "#flash", response.headers
    return text_of(response.text)


def beside(response: Any, form_id: str) -> str:
    """A refusal shown in a form's own slot: the form keeps what was typed."""
    assert response.status_code == 422, response.text
    assert response.headers.get("HX-Retarget") == f"#{form_id}-errors", response.headers
    return text_of(response.text)


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the end of its section."""
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


async def staff_console(console: Any, w: World) -> Browser:
    browser: Browser = await console(w.staff)
    return browser


def poll_form(**fields: Any) -> dict[str, Any]:
    """The draft's form as the browser sends it: a household poll with one question."""
    form: dict[str, Any] = {
        "kind": "poll",
        "title": "屋顶花园怎么用",
        "body": "3栋屋顶花园今年重新布置。",
        "electorate": "household",
        "rule": "majority",
        "objection_days": "0",
        "opens_at": "2026-12-01T10:00",
        "closes_at": "2026-12-08T10:00",
        "question_count": "1",
        "candidate_count": "0",
        "q-0-text": "屋顶花园改作什么用？",
        "q-0-kind": "single",
        "q-0-options": "种菜\n花园\n晾晒区",
        "action": "save",
    }
    form.update(fields)
    return form


async def polls_of(w: World) -> list[dict[str, Any]]:
    listed = await w.client.get(f"{API}/communities/{w.b}/polls", headers=w.staff.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def close(w: World, poll_id: int) -> None:
    """Past the close, and the worker's `polls.close` counts it."""
    closes = datetime.fromisoformat((await w.view(poll_id))["closes_at"])
    clock.freeze(closes + timedelta(minutes=1))
    await w.run_worker()
    assert (await w.view(poll_id))["status"] == "closed"


# -- the list and a new draft ----------------------------------------------------------------------


async def test_the_list_shows_each_poll_with_its_phase_standing_and_turnout(client, console, w):
    draft = await w.draft(title="草稿里的投票")
    opened = await w.opened()
    assert (await w.vote(w.chen, opened["id"])).status_code == 201
    election = await w.opened(kind="election", electorate="resident")
    c_poll = await w.create(w.c_staff, w.c, title="C社区的投票")
    assert c_poll.status_code == 201

    browser = await staff_console(console, w)
    page = await browser.get(base(w))
    assert page.status_code == 200, page.text
    assert 'aria-current="page">投票选举</a>' in page.text
    rows = {
        int(m.group(1)): text_of(m.group(2)) for m in re.finditer(r'<tr data-poll="(\d+)">(.*?)</tr>', page.text, re.S)
    }
    assert set(rows) == {draft["id"], opened["id"], election["id"]}  # not C's
    assert "草稿里的投票" in rows[draft["id"]] and "草稿" in rows[draft["id"]] and "意向征询" in rows[draft["id"]]
    assert "投票中" in rows[opened["id"]] and "每户" in rows[opened["id"]]
    assert "1/3户（33.33%）" in rows[opened["id"]]  # 101 voted of 101, 102, 103
    assert "选举" in rows[election["id"]] and "0/5人（0.00%）" in rows[election["id"]]
    # by status
    drafts = await browser.get(f"{base(w)}?status=draft")
    assert f'data-poll="{draft["id"]}"' in drafts.text and f'data-poll="{opened["id"]}"' not in drafts.text


async def test_a_new_poll_comes_from_the_form_and_refusals_come_back_beside_the_fields(client, console, w):
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/new?kind=poll")
    assert page.status_code == 200, page.text
    assert 'id="poll-form"' in page.text and 'name="q-0-text"' in page.text
    # the electorate's preview: three households with an adult
    preview = section(page.text, "electorate-preview")
    assert re.search(r'data-count="electors">3<', preview) and re.search(r'data-count="households">3<', preview)

    refused = await browser.post(
        base(w), data=poll_form(title=" ", **{"q-0-options": "只有一个", "closes_at": "2026-12-01T09:00"})
    )
    assert refused.status_code == 422, refused.text
    said = text_of(refused.text)
    assert "名称：请填写" in said
    assert "第1题的选项：至少要有两个选项，每行写一个" in said
    assert 'value="屋顶花园改作什么用？"' in refused.text  # what was typed stays
    # the service's own rules come back beside their field too
    backwards = await browser.post(base(w), data=poll_form(closes_at="2026-12-01T09:00"))
    assert backwards.status_code == 422 and "截止时间：截止时间应晚于开始时间" in text_of(backwards.text)
    assert 'id="err-closes_at"' in backwards.text
    too_many = await browser.post(base(w), data=poll_form(**{"q-0-kind": "multiple", "q-0-min": "1", "q-0-max": "5"}))
    assert too_many.status_code == 422
    assert "第1题的最多选几项：最多可选的项数不能超过选项数（3）" in text_of(too_many.text)
    assert 'id="err-q-0-max"' in too_many.text
    assert await polls_of(w) == []  # nothing of the refused attempts

    made = await browser.post(
        base(w), data=poll_form(**{"q-0-kind": "multiple", "q-0-max": "2", "q-0-allow_text": "1"})
    )
    assert made.status_code == 204, made.text
    (poll,) = await polls_of(w)
    assert made.headers["HX-Redirect"] == f"{base(w)}/{poll['id']}"
    view = await w.view(poll["id"])
    assert (view["title"], view["electorate"], view["rule"], view["status"]) == (
        "屋顶花园怎么用",
        "household",
        "majority",
        "draft",
    )
    assert (view["opens_at"], view["closes_at"]) == ("2026-12-01T10:00:00+08:00", "2026-12-08T10:00:00+08:00")
    (q,) = view["questions"]
    assert [o["label"] for o in q["options"]] == ["种菜", "花园", "晾晒区"]
    assert (q["kind"], q["min_choices"], q["max_choices"], q["allow_text"]) == ("multiple", 1, 2, True)


async def test_questions_are_added_and_removed_and_art278_questions_come_prefilled(client, console, w):
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/new")
    more = await browser.post(base(w), data=poll_form(action="add_question"))
    assert more.status_code == 200 and more.text.count('class="question"') == 2
    assert 'name="question_count" value="2"' in more.text
    assert 'value="屋顶花园改作什么用？"' in more.text  # the first stays as typed
    fewer = await browser.post(
        base(w), data=poll_form(question_count="2", action="remove_question-0", **{"q-1-text": "第二题"})
    )
    assert fewer.text.count('class="question"') == 1 and 'value="第二题"' in fewer.text
    assert await polls_of(w) == []  # nothing saved by those buttons

    # the rule changes to art. 278: the flats, and a blank question offered 同意/反对/弃权 with 同意 approving
    art278 = await browser.post(
        base(w),
        data=poll_form(
            rule="art278",
            question_count="2",
            action="refresh",
            **{"q-0-options": "", "q-0-text": "是否同意更换电梯？"},
        ),
    )
    assert art278.status_code == 200
    assert '<option value="flat" selected>' in art278.text
    assert "同意\n反对\n弃权</textarea>" in art278.text and 'name="q-0-approves" value="同意"' in art278.text
    assert 'name="owners_assembly"' in art278.text and 'name="special_majority"' in art278.text

    form = poll_form(
        rule="art278",
        electorate="flat",
        owners_assembly="1",
        special_majority="1",
        **{"q-0-text": "是否同意使用维修资金更换电梯？", "q-0-options": "同意\n反对\n弃权", "q-0-approves": "赞成"},
    )
    wrong = await browser.post(base(w), data=form)
    assert wrong.status_code == 422 and "第1题的表示同意的选项：应与上面的某一个选项完全一样" in text_of(wrong.text)
    made = await browser.post(base(w), data={**form, "q-0-approves": "同意"})
    assert made.status_code == 204, made.text
    (poll,) = await polls_of(w)
    view = await w.view(poll["id"])
    assert (view["standing"], view["rule"], view["electorate"], view["special_majority"]) == (
        "业主大会表决",
        "art278",
        "flat",
        True,
    )
    (q,) = view["questions"]
    assert [(o["label"], o["approves"]) for o in q["options"]] == [("同意", True), ("反对", False), ("弃权", False)]


async def test_an_election_comes_from_the_form_with_its_candidates_seats_and_tie_rule(client, console, w):
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/new?kind=election")
    assert page.text.count('class="candidate"') == 3 and 'name="seats"' in page.text
    form = {
        "kind": "election",
        "title": "院落自治委员会选举",
        "body": "",
        "electorate": "resident",
        "rule": "majority",
        "secret": "1",
        "objection_days": "0",
        "opens_at": "2026-12-01T10:00",
        "closes_at": "2026-12-08T10:00",
        "seats": "2",
        "tie_rule": "runoff",
        "question_count": "0",
        "candidate_count": "4",
        "c-0-name": "张桂兰",
        "c-0-statement": "3栋楼栋长",
        "c-1-name": "刘建国",
        "c-2-name": "",  # a blank row is left out
        "c-3-name": "赵小燕",
        "c-3-statement": "想把院子里的路灯修好",
        "action": "save",
    }
    one_short = await browser.post(base(w), data={**form, "seats": "4"})
    assert one_short.status_code == 422 and "候选人：候选人不能少于应选人数（4）" in text_of(one_short.text)
    added = await browser.post(base(w), data={**form, "action": "add_candidate"})
    assert added.text.count('class="candidate"') == 5
    made = await browser.post(base(w), data=form)
    assert made.status_code == 204, made.text
    (poll,) = await polls_of(w)
    view = await w.view(poll["id"])
    assert (view["kind"], view["standing"], view["seats"], view["tie_rule"], view["secret"]) == (
        "election",
        "选举",
        2,
        "runoff",
        True,
    )
    assert [(c["name"], c["statement"]) for c in view["candidates"]] == [
        ("张桂兰", "3栋楼栋长"),
        ("刘建国", ""),
        ("赵小燕", "想把院子里的路灯修好"),
    ]


async def test_the_electorate_preview_counts_electors_households_area_and_flats_missing_an_area(client, console, w):
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, None)  # an owner without an area
    await w.flat(w.h103, 10000, owner=False)  # rented: on the roll all the same
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/new")
    residents = await browser.get(f"{base(w)}/electorate?electorate=resident", headers={"HX-Request": "true"})
    assert residents.status_code == 200
    # 陈明, 林梅, 周强, 王奶奶 (an elder), 李华: the child is not an elector
    assert re.search(r'data-count="electors">5<', residents.text)
    assert re.search(r'data-count="households">3<', residents.text)
    assert "data-without-area" not in residents.text and "data-not-owner-occupied" not in residents.text
    # by flat: every flat with an area, whoever lives there — 101 (89.53) and the rented 103 (100.00);
    # only 101's owners vote in the app, 103's owner on paper or by proxy; 102 has no area
    flats = await browser.get(f"{base(w)}/electorate?electorate=flat", headers={"HX-Request": "true"})
    assert re.search(r'data-count="electors">2<', flats.text) and re.search(r'data-count="households">2<', flats.text)
    assert re.search(r'data-count="weight">189.53<', flats.text)
    assert re.search(r'data-count="with_account">1<', flats.text)
    said = text_of(flats.text)
    assert 'data-missing-area="1"' in flats.text and "有 1 户业主还没有登记专有部分面积" in said
    assert 'data-without-area="1"' in flats.text and "有 1 户没有登记专有部分面积，不在名册上" in said
    assert 'data-not-owner-occupied="1"' in flats.text and "名册上有 1 套不是业主自住" in said
    assert f'href="/console/c/{w.b}/households/flats"' in flats.text.split("data-without-area", 1)[1]
    # 102 no longer the owner: nothing keeps the poll from being published, but it is still off the roll
    await w.flat(w.h102, None, owner=False)
    flats = await browser.get(f"{base(w)}/electorate?electorate=flat", headers={"HX-Request": "true"})
    assert "data-missing-area" not in flats.text and 'data-without-area="1"' in flats.text
    assert 'data-not-owner-occupied="1"' in flats.text and re.search(r'data-count="electors">2<', flats.text)
    # the form itself shows the same preview
    form = await browser.post(base(w), data=poll_form(electorate="flat", action="refresh"))
    preview = section(form.text, "electorate-preview")
    assert 'data-without-area="1"' in preview and 'data-not-owner-occupied="1"' in preview
    assert f'href="/console/c/{w.b}/households/flats"' in preview


# -- a draft, published, cancelled -------------------------------------------------------------------


async def test_a_draft_is_edited_published_and_then_no_longer_edited(client, console, w):
    poll = await w.draft(questions=[question(), question("还想要什么？", "花架", "座椅", kind="multiple")])
    pid = poll["id"]
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    assert page.status_code == 200, page.text
    assert 'data-phase="draft"' in page.text and "发布" in page.text
    edit = await browser.get(f"{base(w)}/{pid}/edit")
    assert edit.status_code == 200
    assert 'value="屋顶花园怎么用"' in edit.text and "同意\n反对</textarea>" in edit.text
    assert 'name="q-1-kind"' in edit.text and '<option value="multiple" selected>' in edit.text
    form = poll_form(
        title="屋顶花园怎么用（修改）",
        question_count="2",
        **{
            "q-0-options": "同意\n反对",
            "q-1-text": "还想要什么？",
            "q-1-kind": "multiple",
            "q-1-options": "花架\n座椅",
        },
    )
    saved = await browser.post(f"{base(w)}/{pid}/edit", data=form)
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == f"{base(w)}/{pid}"
    view = await w.view(pid)
    assert view["title"] == "屋顶花园怎么用（修改）" and len(view["questions"]) == 2

    published = await browser.post(f"{base(w)}/{pid}/publish")
    assert published.status_code == 200, published.text
    assert 'data-phase="voting"' in published.text and "登记纸质选票" in published.text
    assert (await w.view(pid))["status"] == "open"
    again = await browser.get(f"{base(w)}/{pid}/edit")
    assert again.status_code == 409 and "只有草稿才能修改" in text_of(again.text)
    late = await browser.post(f"{base(w)}/{pid}/edit", data=form)
    assert late.status_code == 409 and "只有草稿才能修改" in flashed(late)


async def test_publishing_is_refused_with_the_reason_and_cancelling_needs_a_reason(client, console, w):
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, None)
    flats = await w.draft(electorate="flat")
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/{flats['id']}")
    refused = await browser.post(f"{base(w)}/{flats['id']}/publish")
    assert refused.status_code == 409 and "有 1 户业主还没有登记专有部分面积" in flashed(refused)
    assert (await w.view(flats["id"]))["status"] == "draft"

    opened = await w.opened()
    blank = await browser.post(f"{base(w)}/{opened['id']}/cancel", data={"reason": " "})
    assert "取消原因：请填写" in beside(blank, "cancel-form")
    assert (await w.view(opened["id"]))["status"] == "open"
    cancelled = await browser.post(f"{base(w)}/{opened['id']}/cancel", data={"reason": "方案要调整"})
    assert cancelled.status_code == 200 and 'data-phase="cancelled"' in cancelled.text
    assert "已取消：方案要调整" in text_of(cancelled.text)
    view = await w.view(opened["id"])
    assert (view["status"], view["cancel_reason"]) == ("cancelled", "方案要调整")


# -- who may see and do what ------------------------------------------------------------------------------


async def test_residents_are_refused_other_communities_see_nothing_and_changes_need_the_token(client, console, w):
    from tests.factories import join

    poll = await w.opened()
    pid = poll["id"]
    await join(client, w.c_staff, w.b, "3栋", "1单元", "909")  # C's staff is a resident of B
    theirs = await console(w.c_staff)
    for path in ("", f"/{pid}", f"/{pid}/roll", f"/{pid}/entries", f"/{pid}/turnout", "/new"):
        as_resident = await theirs.get(f"{base(w)}{path}")
        assert as_resident.status_code == 403, (path, as_resident.status_code)
    c_base = f"/console/c/{w.c}/polls"
    for path in (
        f"/{pid}",
        f"/{pid}/roll",
        f"/{pid}/entries",
        f"/{pid}/turnout",
        f"/{pid}/edit",
        f"/{pid}/export.xlsx",
    ):
        hidden = await theirs.get(f"{c_base}{path}")
        assert hidden.status_code == 404, (path, hidden.status_code)
        assert "屋顶花园" not in hidden.text
    await theirs.get(c_base)
    for path, data in (
        (f"/{pid}/cancel", {"reason": "别人的投票"}),
        (f"/{pid}/publish", {}),
        (f"/{pid}/tally", {}),
    ):
        hidden = await theirs.post(f"{c_base}{path}", data=data)
        assert hidden.status_code == 404, (path, hidden.status_code)
    mine = await staff_console(console, w)
    no_token = await mine.post(f"{base(w)}/{pid}/cancel", data={"reason": "没有令牌"}, csrf=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    assert (await w.view(pid))["status"] == "open"


# -- the roll and its objections ------------------------------------------------------------------------


async def test_the_roll_is_searched_by_address_and_shows_who_took_part_and_how(client, console, w):
    poll = await w.opened()
    pid = poll["id"]
    assert (await w.vote(w.mei, pid)).status_code == 201  # 林梅 for 101
    elder = await w.elector(pid, "102")
    assert (await w.enter(pid, elder, proxy_name="周强", channel="proxy")).status_code == 201
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}/roll")
    assert page.status_code == 200, page.text
    rows = {
        text_of(m.group(2)).split()[0]: text_of(m.group(2))
        for m in re.finditer(r'<tr data-elector="(\d+)"[^>]*>(.*?)</tr>', page.text, re.S)
    }
    assert set(rows) == {"3栋1单元101", "3栋1单元102", "3栋1单元103"}
    assert "小程序" in rows["3栋1单元101"] and "委托投票" in rows["3栋1单元102"] and "未参与" in rows["3栋1单元103"]
    assert re.search(r'data-count="roll">3<', page.text)
    found = await browser.get(f"{base(w)}/{pid}/roll?q=103")
    assert len(re.findall(r"<tr data-elector=", found.text)) == 1 and "3栋1单元103" in found.text
    nobody = await browser.get(f"{base(w)}/{pid}/roll?q=909")
    assert "<tr data-elector=" not in nobody.text and "名册上没有「909」" in text_of(nobody.text)
    # who took part: by channel, who voted or entered it — never a choice
    taken = await browser.get(f"{base(w)}/{pid}/roll?tab=taken")
    assert len(re.findall(r"<tr data-participation=", taken.text)) == 2
    assert "林梅" in taken.text and "受托人 周强" in taken.text and "工作人员 登记" in text_of(taken.text)
    proxies = await browser.get(f"{base(w)}/{pid}/roll?tab=taken&channel=proxy")
    assert len(re.findall(r"<tr data-participation=", proxies.text)) == 1 and "林梅" not in proxies.text
    assert "同意" not in section(taken.text, "roll")


async def test_objections_are_answered_in_the_console_striking_or_adding_an_elector(client, console, w):
    poll = await w.draft(electorate="household", objection_days=2, opens_at=at(days=2), closes_at=at(days=9))
    pid = poll["id"]
    assert (await w.publish(pid)).status_code == 200
    # 103 moved out; an elder's flat registered at the desk after the roll was taken is missing
    moved = await client.post(f"{API}/polls/{pid}/objections", json={"body": "103已经搬走了"}, headers=w.chen.headers)
    missing = await client.post(
        f"{API}/polls/{pid}/objections", json={"body": "105的孙奶奶漏登了"}, headers=w.li.headers
    )
    chat = await client.post(f"{API}/polls/{pid}/objections", json={"body": "投票时间太短"}, headers=w.zhou.headers)
    assert moved.status_code == missing.status_code == chat.status_code == 201
    desk = await client.post(
        f"{API}/communities/{w.b}/households",
        json={
            "building": "3栋",
            "unit": "1单元",
            "room": "105",
            "members": [{"display_name": "孙奶奶", "kind": "elder"}],
        },
        headers=w.staff.headers,
    )
    assert desk.status_code == 201, desk.text
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}/roll")
    objections = section(page.text, "objections")
    assert objections.count('<article class="objection"') == 3 and "103已经搬走了" in objections
    assert 'value="strike"' in objections  # before voting the roll can change

    # strike: the elector found by address
    form_id = f"objection-{moved.json()['id']}-form"
    found = await browser.get(
        f"{base(w)}/{pid}/electors?q=103&field=strike_elector_id&form={form_id}", headers={"HX-Request": "true"}
    )
    choice = re.search(r'name="strike_elector_id" value="(\d+)"', found.text)
    assert choice is not None and "3栋1单元103" in found.text
    no_choice = await browser.post(
        f"{base(w)}/{pid}/objections/{moved.json()['id']}/answer",
        data={"status": "upheld", "answer": "核实已搬走", "change": "strike"},
    )
    assert "划去的选民：请先按门牌查找，再选择要划去的选民" in beside(no_choice, form_id)
    struck = await browser.post(
        f"{base(w)}/{pid}/objections/{moved.json()['id']}/answer",
        data={"status": "upheld", "answer": "核实已搬走", "change": "strike", "strike_elector_id": choice.group(1)},
    )
    assert struck.status_code == 204 and struck.headers["HX-Redirect"] == f"{base(w)}/{pid}/roll#objections"
    # add: the household found by room
    found = await browser.get(f"{base(w)}/{pid}/households?q=105", headers={"HX-Request": "true"})
    household = re.search(r'name="add_id" value="(\d+)"', found.text)
    assert household is not None and "孙奶奶" in found.text
    added = await browser.post(
        f"{base(w)}/{pid}/objections/{missing.json()['id']}/answer",
        data={"status": "upheld", "answer": "已补登", "change": "add", "add_id": household.group(1)},
    )
    assert added.status_code == 204, added.text
    # a change of the roll needs the objection upheld (the service's rule, beside the form)
    wrong = await browser.post(
        f"{base(w)}/{pid}/objections/{chat.json()['id']}/answer",
        data={"status": "dismissed", "answer": "不涉及名册", "change": "strike", "strike_elector_id": choice.group(1)},
    )
    assert "异议应为成立" in beside(wrong, f"objection-{chat.json()['id']}-form")
    dismissed = await browser.post(
        f"{base(w)}/{pid}/objections/{chat.json()['id']}/answer",
        data={"status": "dismissed", "answer": "时间按议事会决定"},
    )
    assert dismissed.status_code == 204

    roll = await w.roll(pid)
    labels = {e["label"]: e["struck"] for e in roll["items"]}
    assert labels == {"3栋1单元101": False, "3栋1单元102": False, "3栋1单元103": True, "3栋1单元105": False}
    assert roll["roll_count"] == 3
    answers = await client.get(f"{API}/polls/{pid}/objections", headers=w.chen.headers)
    assert [(o["status"], o["answer"]) for o in answers.json()["items"]] == [("upheld", "核实已搬走")]
    page = await browser.get(f"{base(w)}/{pid}/roll")
    assert 'data-struck="true"' in page.text and "核实已搬走" in page.text
    assert "答复</summary>" not in section(page.text, "objections")  # every one answered


# -- paper ballots and proxies --------------------------------------------------------------------------


async def _elector_choice(browser: Browser, w: World, pid: int, room: str) -> str:
    found = await browser.get(f"{base(w)}/{pid}/electors?q=1单元{room}", headers={"HX-Request": "true"})
    choice = re.search(r'name="elector" value="([^"]+)"', found.text)
    assert choice is not None, found.text
    return choice.group(1)


async def test_a_paper_ballot_is_entered_with_its_photo_and_refused_for_an_elector_who_voted_in_the_app(
    client, console, w
):
    poll = await w.opened(
        questions=[question(), question("还想要什么？", "花架", "座椅", kind="multiple", allow_text=True)]
    )
    pid = poll["id"]
    assert (
        await w.vote(w.chen, pid, [{"question": 0, "options": [0]}, {"question": 1, "options": [0]}])
    ).status_code == 201
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}/entries")
    assert page.status_code == 200 and 'id="entry-form"' in page.text
    assert 'type="checkbox" name="q-1"' in page.text and 'name="q-1-text"' in page.text
    # 101 voted in the app: offered but not selectable, and refused if sent anyway
    found = await browser.get(f"{base(w)}/{pid}/electors?q=101", headers={"HX-Request": "true"})
    assert "已参与：小程序" in found.text and " disabled>" in found.text
    chen = re.search(r'name="elector" value="([^"]+)"', found.text)
    assert chen is not None
    voted = await browser.post(
        f"{base(w)}/{pid}/entries", data={"elector": chen.group(1), "channel": "paper", "q-0": "1", "q-1": "1"}
    )
    assert voted.status_code == 409 and "陈明已在小程序里投票" in flashed(voted)

    elder = await _elector_choice(browser, w, pid, "102")
    incomplete = await browser.post(f"{base(w)}/{pid}/entries", data={"elector": elder, "channel": "paper", "q-1": "0"})
    assert incomplete.status_code == 422 and "第 1 题还没有选择" in text_of(incomplete.text)
    assert 'value="' + elder + '" checked' in incomplete.text  # the elector stays chosen
    no_proxy = await browser.post(
        f"{base(w)}/{pid}/entries", data={"elector": elder, "channel": "proxy", "q-0": "0", "q-1": "0"}
    )
    assert no_proxy.status_code == 422 and "受托人" in text_of(no_proxy.text)
    saved = await browser.post(
        f"{base(w)}/{pid}/entries",
        data={"elector": elder, "channel": "paper", "q-0": "1", "q-1": ["0", "1"], "q-1-text": "希望有遮阳棚"},
        files={"photo": ("ballot.jpg", jpeg((30, 60, 90)), "image/jpeg")},
    )
    assert saved.status_code == 200, saved.text
    assert "已登记 3栋1单元102 的纸质选票（附照片）" in text_of(saved.text) and "data-receipt" not in saved.text
    again = await browser.post(
        f"{base(w)}/{pid}/entries", data={"elector": elder, "channel": "paper", "q-0": "0", "q-1": "0"}
    )
    assert again.status_code == 409 and "已有纸质选票" in flashed(again)

    taken = (await w.view(pid, tail="/participations"))["items"]
    assert [(t["label"], t["channel"]) for t in taken] == [("3栋1单元101", "app"), ("3栋1单元102", "paper")]
    assert taken[1]["photo"] is not None and taken[1]["entered_by_name"] is not None
    # the paper ballot's choices as the count will read them
    clock.freeze(NOW + timedelta(days=7, minutes=1))
    result = await w.view(pid, tail="/results")
    first, second = result["questions"]
    assert [o["votes"] for o in first["options"]] == [1, 1]
    assert [o["votes"] for o in second["options"]] == [2, 1] and second["texts"] == ["希望有遮阳棚"]


async def test_a_secret_paper_ballot_shows_its_receipt_once_and_the_receipt_finds_the_choices(client, console, w):
    poll = await w.opened(kind="election", electorate="household", secret=True)
    pid = poll["id"]
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}/entries")
    assert "最多选 2 人" in text_of(page.text) and "回执号" in page.text
    elder = await _elector_choice(browser, w, pid, "102")
    saved = await browser.post(
        f"{base(w)}/{pid}/entries",
        data={"elector": elder, "channel": "proxy", "proxy_name": "周强", "q-0": ["0", "2"]},
    )
    assert saved.status_code == 200, saved.text
    receipt = re.search(r'data-receipt="([A-Z0-9-]+)"', saved.text)
    assert receipt is not None and "只显示这一次" in saved.text
    checked = await w.view(pid, w.li, f"/receipts/{receipt.group(1)}")
    assert [o["label"] for o in checked["answers"][0]["options"]] == ["张桂兰", "赵小燕"]
    # the page again: no receipt anywhere
    page = await browser.get(f"{base(w)}/{pid}/entries")
    assert receipt.group(1) not in page.text
    roll_page = await browser.get(f"{base(w)}/{pid}/roll?tab=taken")
    assert receipt.group(1) not in roll_page.text and "受托人 周强" in roll_page.text


def stored_files(w: World) -> set[Path]:
    """The files of the media storage (an upload is written there before its row)."""
    return {f for f in Path(w.app.state.settings.media_dir).rglob("*") if f.is_file()}


async def test_a_secret_polls_paper_ballot_takes_no_photo_and_a_proxys_authorisation_does(client, console, w):
    from sqlalchemy import func, select

    from api.db.models import Media

    poll = await w.opened(kind="election", electorate="household", secret=True)
    pid = poll["id"]
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}/entries")
    form = section(page.text, "entry")
    # the photo is offered only with the proxy's fields (its authorisation), and the page says why
    assert form.count('name="photo"') == 1 and "委托书照片" in form
    assert '<div class="field if-proxy"><label for="entry-photo">' in form
    assert "无记名投票的纸质选票不拍照：照片上的选择会和投票人对上" in text_of(form)
    elder = await _elector_choice(browser, w, pid, "102")
    photo = {"photo": ("ballot.jpg", jpeg((30, 60, 90)), "image/jpeg")}
    files_before = stored_files(w)
    refused_photo = await browser.post(
        f"{base(w)}/{pid}/entries", data={"elector": elder, "channel": "paper", "q-0": ["0"]}, files=photo
    )
    assert refused_photo.status_code == 422, refused_photo.text
    assert "照片：无记名投票的纸质选票不能附照片" in text_of(refused_photo.text)
    assert 'value="' + elder + '" checked' in refused_photo.text  # the form as it was filled in
    assert (await w.view(pid, tail="/participations"))["items"] == []
    async with w.db.session() as session:  # the photo was not even stored
        assert (await session.execute(select(func.count()).select_from(Media))).scalar_one() == 0
    assert stored_files(w) == files_before
    # without the photo the paper ballot is taken; a proxy's authorisation photo is kept
    paper = await browser.post(f"{base(w)}/{pid}/entries", data={"elector": elder, "channel": "paper", "q-0": ["0"]})
    assert paper.status_code == 200 and "data-receipt" in paper.text
    li = await _elector_choice(browser, w, pid, "103")
    proxy = await browser.post(
        f"{base(w)}/{pid}/entries",
        data={"elector": li, "channel": "proxy", "proxy_name": "李华的女儿", "q-0": ["1"]},
        files=photo,
    )
    assert proxy.status_code == 200 and "（附照片）" in text_of(proxy.text)
    taken = (await w.view(pid, tail="/participations"))["items"]
    assert [(t["channel"], t["photo"] is not None) for t in taken] == [("paper", False), ("proxy", True)]
    # an open poll's paper ballot keeps its photo field for every channel
    open_poll = await w.opened()
    page = await browser.get(f"{base(w)}/{open_poll['id']}/entries")
    assert "data-no-ballot-photo" not in page.text and "纸质选票或委托书" in page.text


async def test_paper_ballots_wait_for_voting_and_stop_at_the_close(client, console, w):
    later = await w.draft(opens_at=at(days=1))
    assert (await w.publish(later["id"])).status_code == 200
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{later['id']}/entries")
    assert 'id="entry-form"' not in page.text and "现在不能登记：未开始" in text_of(page.text)
    poll = await w.opened()
    elder = await _elector_choice(browser, w, poll["id"], "102")
    clock.freeze(NOW + timedelta(days=7, minutes=1))
    browser = await staff_console(console, w)  # a week later: signed in again
    late = await browser.post(
        f"{base(w)}/{poll['id']}/entries", data={"elector": elder, "channel": "paper", "q-0": "0"}
    )
    assert late.status_code == 409 and "投票已于" in flashed(late)
    assert (await w.view(poll["id"], tail="/participations"))["items"] == []


async def three_way_tie(w: World, tie_rule: str) -> int:
    """A closed election for two seats whose three candidates have two votes of three each."""
    poll = await w.opened(kind="election", tie_rule=tie_rule)
    pid = int(poll["id"])
    for person, chosen in ((w.chen, [0, 1]), (w.zhou, [1, 2]), (w.li, [0, 2])):
        assert (await w.vote(person, pid, [{"question": 0, "options": chosen}])).status_code == 201
    await close(w, pid)
    return pid


# -- turnout while voting, results after the close ------------------------------------------------------


async def test_staff_see_live_turnout_while_voting_and_no_results_before_the_close(client, console, w):
    poll = await w.opened()
    pid = poll["id"]
    assert (await w.vote(w.chen, pid)).status_code == 201
    assert (await w.vote(w.zhou, pid, NO)).status_code == 201
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    turnout = section(page.text, "turnout")
    assert re.search(r'data-count="participants">2<', turnout) and 'data-channel="app">2<' in turnout
    assert f'hx-get="{base(w)}/{pid}/turnout"' in page.text
    assert 'id="results"' not in page.text and "export.xlsx" not in page.text
    assert "data-option=" not in page.text and "data-votes" not in page.text and "多数意见" not in page.text
    live = await browser.get(f"{base(w)}/{pid}/turnout", headers={"HX-Request": "true"})
    assert re.search(r'data-count="participants">2<', live.text)
    # results and the export are refused before the close, staff included
    export = await browser.get(f"{base(w)}/{pid}/export.xlsx")
    assert export.status_code == 409 and "任何人（包括社区工作人员）都看不到" in text_of(export.text)
    counted = await browser.post(f"{base(w)}/{pid}/tally")
    assert counted.status_code == 409 and "投票结束" in flashed(counted)
    assert (await w.view(pid))["status"] == "open"


async def test_after_the_close_the_page_shows_the_results_with_turnout_and_the_export(client, console, w):
    poll = await w.opened(rule="quorum", quorum_percent=60)
    pid = poll["id"]
    assert (await w.vote(w.chen, pid)).status_code == 201
    assert (await w.vote(w.zhou, pid)).status_code == 201
    assert (await w.vote(w.li, pid, NO)).status_code == 201
    await close(w, pid)
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    results = section(page.text, "results")
    assert 'data-standing="意向征询"' in results
    assert re.search(r'data-count="participants">3<', results) and "100.00" in results
    quorum = re.search(r'<tr data-threshold="quorum" data-met="true">(.*?)</tr>', results, re.S)
    assert quorum is not None and "3户 / 3户" in text_of(quorum.group(1))
    options = re.findall(r'<tr data-option="\d+">(.*?)</tr>', results, re.S)
    assert "同意" in text_of(options[0]) and "66.67%" in options[0] and "过半数" in options[0]
    assert "33.33%" in options[1] and 'width="66.67"' in options[0]
    assert "多数意见：同意（66.67%）（仅供参考）" in text_of(results)
    assert "通过" not in text_of(results)  # a consultation never says it passed
    export = await browser.get(f"{base(w)}/{pid}/export.xlsx")
    assert export.status_code == 200 and export.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    book = load_workbook(io.BytesIO(export.content))
    assert book.sheetnames == ["结果", "名册", "选票"]


async def test_a_close_not_counted_yet_is_counted_by_the_page_itself(client, console, w):
    poll = await w.opened()
    pid = poll["id"]
    assert (await w.vote(w.chen, pid)).status_code == 201
    clock.freeze(NOW + timedelta(days=7, minutes=1))  # no worker ran
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    assert f'hx-post="{base(w)}/{pid}/tally"' in page.text and "正在计票" in page.text
    assert (await w.view(pid))["status"] == "open"  # a page view writes nothing
    counted = await browser.post(f"{base(w)}/{pid}/tally")
    assert counted.status_code == 200 and 'id="results"' in counted.text
    assert (await w.view(pid))["status"] == "closed"


async def test_an_art278_result_shows_every_threshold_with_its_figures(client, console, w):
    await w.flat(w.h101, 9000)
    await w.flat(w.h102, 6000)
    await w.flat(w.h103, 5000)
    from tests.test_polls import art278_question

    poll = await w.opened(electorate="flat", rule="art278", owners_assembly=True, questions=[art278_question()])
    pid = poll["id"]
    assert (await w.vote(w.chen, pid)).status_code == 201  # 90 ㎡ agree
    assert (await w.vote(w.zhou, pid, NO)).status_code == 201  # 60 ㎡ against
    await close(w, pid)
    browser = await staff_console(console, w)
    results = section((await browser.get(f"{base(w)}/{pid}")).text, "results")
    assert 'data-standing="业主大会表决"' in results
    area = re.search(r'<tr data-threshold="participation_area" data-met="true">(.*?)</tr>', results, re.S)
    flats = re.search(r'<tr data-threshold="participation_flats" data-met="true">(.*?)</tr>', results, re.S)
    assert area is not None and "150.00㎡ / 200.00㎡" in text_of(area.group(1)) and "75.00%" in area.group(1)
    assert flats is not None and "2套 / 3套" in text_of(flats.group(1))
    approval = re.search(r'<tr data-threshold="approval_flats" data-met="false">(.*?)</tr>', results, re.S)
    assert approval is not None and "1套 / 2套" in text_of(approval.group(1))
    assert "未通过" in text_of(results)


async def test_an_election_under_art278_comes_from_the_form_and_its_result_shows_each_candidates_thresholds(
    client, console, w
):
    for household, area in ((w.h101, 9000), (w.h102, 6000), (w.h103, 5000)):
        await w.flat(household, area)
    browser = await staff_console(console, w)
    form = {
        "kind": "election",
        "title": "第一届业主委员会选举",
        "body": "",
        "electorate": "household",
        "rule": "art278",
        "secret": "1",
        "objection_days": "0",
        "opens_at": "2026-12-01T10:00",
        "closes_at": "2026-12-08T10:00",
        "seats": "2",
        "tie_rule": "lot",
        "question_count": "0",
        "candidate_count": "3",
        "c-0-name": "张桂兰",
        "c-1-name": "刘建国",
        "c-2-name": "赵小燕",
        "action": "refresh",
    }
    # the rule changed to art. 278: by flat, an open ballot, no special majority for an election
    refreshed = await browser.post(base(w), data=form)
    assert refreshed.status_code == 200, refreshed.text
    assert '<option value="flat" selected>' in refreshed.text and 'data-art278="election"' in refreshed.text
    assert 'name="secret" value="1" disabled' in refreshed.text and 'name="special_majority"' not in refreshed.text
    assert "候选人得票的面积和人数都须超过参与表决的一半" in text_of(refreshed.text)
    form.update(electorate="flat", action="save", special_majority="1")  # a stale tick is not sent on
    del form["secret"]
    made = await browser.post(base(w), data=form)
    assert made.status_code == 204, made.text
    (poll,) = await polls_of(w)
    view = await w.view(poll["id"])
    assert (view["kind"], view["rule"], view["electorate"], view["secret"], view["special_majority"]) == (
        "election",
        "art278",
        "flat",
        False,
        False,
    )
    pid = poll["id"]
    assert (await w.publish(pid)).status_code == 200
    # 200 ㎡, 3 flats, all take part; a seat needs more than 100 ㎡ and more than 1.5 flats
    assert (await w.vote(w.chen, pid, [{"question": 0, "options": [0, 1]}])).status_code == 201  # 90 ㎡
    assert (await w.vote(w.zhou, pid, [{"question": 0, "options": [0]}])).status_code == 201  # 60 ㎡
    assert (await w.vote(w.li, pid, [{"question": 0, "options": []}])).status_code == 201  # 50 ㎡, blank
    await close(w, pid)
    browser = await staff_console(console, w)  # a week later: signed in again
    results = section((await browser.get(f"{base(w)}/{pid}")).text, "results")
    assert 'data-standing="选举"' in results and re.search(r'data-count="blank">1<', results)
    assert "参与表决200.00㎡、3套，含1张空白票" in text_of(results)
    for index, key, met, figures in (
        (0, "candidate_area", "true", "150.00㎡ / 200.00㎡"),
        (0, "candidate_flats", "true", "2套 / 3套"),
        (1, "candidate_area", "false", "90.00㎡ / 200.00㎡"),
        (1, "candidate_flats", "false", "1套 / 3套"),
        (2, "candidate_area", "false", "0.00㎡ / 200.00㎡"),
    ):
        gates = results.split(f'data-candidate-thresholds="{index}"', 1)[1].split("</table>", 1)[0]
        row = re.search(rf'<tr data-threshold="{key}" data-met="{met}">(.*?)</tr>', gates, re.S)
        assert row is not None and figures in text_of(row.group(1)), (index, key)
    assert "当选：张桂兰；1个席位没有候选人得票的面积和人数都超过参与表决的一半" in text_of(results)
    result = await w.view(pid, tail="/results")
    assert [e["name"] for e in result["election"]["elected"]] == ["张桂兰"] and result["election"]["blank"] == 1


async def test_an_election_tie_is_drawn_by_lot_in_the_console(client, console, w):
    pid = await three_way_tie(w, "lot")
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    tie = section(page.text, "results").split('id="tie"', 1)[1]
    assert 'id="tie-form"' in tie and "张桂兰、刘建国、赵小燕 得票相同，争取剩下的 2 个席位" in text_of(tie)
    assert len(re.findall(r'data-tied="true"', page.text)) == 3
    no_note = await browser.post(f"{base(w)}/{pid}/tie", data={"elected": "0"})
    assert "抽签记录：请填写" in beside(no_note, "tie-form")
    one = await browser.post(f"{base(w)}/{pid}/tie", data={"elected": ["0"], "note": "当众抽签"})
    assert "应选出2名" in beside(one, "tie-form")
    drawn = await browser.post(f"{base(w)}/{pid}/tie", data={"elected": ["0", "2"], "note": "12月9日当众抽签"})
    assert drawn.status_code == 200, drawn.text
    assert "并列已抽签决定：张桂兰、赵小燕 当选（12月9日当众抽签）" in text_of(drawn.text)
    result = await w.view(pid, tail="/results")
    assert [e["name"] for e in result["election"]["elected"]] == ["张桂兰", "赵小燕"]


async def test_an_election_tie_opens_a_runoff_draft_from_the_console(client, console, w):
    pid = await three_way_tie(w, "runoff")
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/{pid}")
    assert f'hx-post="{base(w)}/{pid}/runoff"' in page.text
    opened = await browser.post(f"{base(w)}/{pid}/runoff")
    assert opened.status_code == 204, opened.text
    runoff = [p for p in await polls_of(w) if p["id"] != pid]
    assert len(runoff) == 1 and opened.headers["HX-Redirect"] == f"{base(w)}/{runoff[0]['id']}/edit"
    view = await w.view(runoff[0]["id"])
    assert (view["status"], view["runoff_of"], [c["name"] for c in view["candidates"]]) == (
        "draft",
        pid,
        ["张桂兰", "刘建国", "赵小燕"],
    )
    edit = await browser.get(opened.headers["HX-Redirect"])
    assert edit.status_code == 200 and 'value="张桂兰"' in edit.text
    page = await browser.get(f"{base(w)}/{pid}")
    assert f'href="{base(w)}/{runoff[0]["id"]}"' in page.text and "已发起决选投票" in text_of(page.text)


async def test_a_ballot_photo_larger_than_a_form_may_be_is_taken_and_one_too_large_refused(client, console, w):
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000)).save(buffer, "JPEG", quality=95)
    photo = buffer.getvalue()
    assert len(photo) > 1024 * 1024  # past the 1 MB every other form is held to
    poll = await w.opened()
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/{poll['id']}/entries")
    elder = await _elector_choice(browser, w, poll["id"], "102")
    saved = await browser.post(
        f"{base(w)}/{poll['id']}/entries",
        data={"elector": elder, "channel": "paper", "q-0": "0"},
        files={"photo": ("ballot.jpg", photo, "image/jpeg")},
    )
    assert saved.status_code == 200 and "（附照片）" in text_of(saved.text)
    limit = w.app.state.settings.media_max_bytes
    too_large = await browser.post(
        f"{base(w)}/{poll['id']}/entries",
        data={"elector": elder, "channel": "paper", "q-0": "0"},
        files={"photo": ("ballot.jpg", b"\xff" * (limit + 70 * 1024), "image/jpeg")},
    )
    assert too_large.status_code == 413 and "照片太大了" in flashed(too_large)
