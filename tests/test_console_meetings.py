"""Meetings and follow-ups in the staff console, through HTTP on both engines: the list and a new
meeting (the services' rules beside the fields), a meeting's page through its states, participants
(with accounts found by name), agenda, attendance and the on-site code's screen, minutes, decisions
and follow-ups, publishing the minutes onto the concerns they came from, and the follow-ups list
by owner and due date with its state changes in place; who may see what, CSRF.

Every change is read back through the API (or, for a concern, the database, as tests/test_meetings
does: the concerns API is built in parallel), so that each test shows the console went through the
service."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from api import clock
from tests.console import Browser
from tests.test_meetings import API, NOW, World, at, code, error, settings  # noqa: F401 - settings is a fixture


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
    """A refusal sent to the page's #flash line (its status, its text)."""
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


# -- the list and a new meeting ----------------------------------------------------------------------


async def test_the_list_shows_meetings_to_come_and_past_with_their_counts(client, console, w):
    coming = await w.meeting()
    await w.item(coming["id"])
    await w.item(coming["id"], "楼道堆物")
    await w.participant(coming["id"], party="property", name="王经理")
    dropped = await w.meeting(kind="courtyard", title="3栋院落会", starts_at=at(days=2), ends_at=at(days=2, hours=1))
    await w.ok(dropped["id"], "cancel", reason="场地临时不能用")
    c_meeting = await client.post(
        f"{API}/communities/{w.c}/meetings",
        json={"kind": "five_party", "title": "C社区的会", "starts_at": at(1), "ends_at": at(1, 1), "place": "C"},
        headers=w.c_staff.headers,
    )
    assert c_meeting.status_code == 201

    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/meetings")
    assert page.status_code == 200, page.text
    html = page.text
    upcoming = html.split('id="upcoming"')[1].split("</section>")[0]
    past = html.split('id="past"')[1].split("</section>")[0]
    row = re.search(rf'<tr data-meeting="{coming["id"]}">(.*?)</tr>', upcoming, re.S)
    assert row is not None
    assert text_of(row.group(1)).split() == [
        "12月8日",
        "周二",
        "10:00–12:00",
        "十二月五方议事会",
        "五方议事会",
        "社区议事厅",
        "草稿",
        "2",
        "1",
    ]
    cancelled = re.search(rf'<tr data-meeting="{dropped["id"]}">(.*?)</tr>', past, re.S)
    assert cancelled is not None
    assert "已取消" in text_of(cancelled.group(1)) and "场地临时不能用" in text_of(cancelled.group(1))
    assert "C社区的会" not in html
    assert 'aria-current="page">议事</a>' in html


async def test_a_new_meeting_is_created_from_the_form_and_refusals_come_back_beside_the_fields(client, console, w):
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/meetings")
    form = {
        "kind": "five_party",
        "title": "一月五方议事会",
        "starts_at": "2027-01-05T14:00",
        "ends_at": "2027-01-05T13:00",
        "place": "社区议事厅",
    }
    backwards = await browser.post(f"{base(w)}/meetings", data=form)
    assert backwards.status_code == 422
    assert 'id="err-ends_at"' in backwards.text and "结束时间应晚于开始时间" in text_of(backwards.text)
    assert 'value="一月五方议事会"' in backwards.text  # what was typed stays
    blank = await browser.post(f"{base(w)}/meetings", data={**form, "title": " ", "ends_at": "2027-01-05T16:00"})
    assert blank.status_code == 422 and "名称：请填写" in text_of(blank.text)
    wrong_kind = await browser.post(
        f"{base(w)}/meetings", data={**form, "kind": "party", "ends_at": "2027-01-05T16:00"}
    )
    assert wrong_kind.status_code == 422 and "类型：请从列表中选择" in text_of(wrong_kind.text)
    listed = (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.staff.headers)).json()
    assert listed["items"] == []  # nothing of the refused attempts

    made = await browser.post(f"{base(w)}/meetings", data={**form, "ends_at": "2027-01-05T16:00"})
    assert made.status_code == 204, made.text
    (meeting,) = (await client.get(f"{API}/communities/{w.b}/meetings", headers=w.staff.headers)).json()["items"]
    assert made.headers["HX-Redirect"] == f"{base(w)}/meetings/{meeting['id']}"
    assert (meeting["kind"], meeting["title"], meeting["place"], meeting["status"]) == (
        "five_party",
        "一月五方议事会",
        "社区议事厅",
        "draft",
    )
    assert (meeting["starts_at"], meeting["ends_at"]) == ("2027-01-05T14:00:00+08:00", "2027-01-05T16:00:00+08:00")


async def test_a_new_five_party_meeting_takes_up_the_concerns_waiting_and_links_them(client, console, w):
    waiting = await w.concern("电动车乱停")
    browser = await staff_console(console, w)
    await browser.get(f"{base(w)}/meetings")
    form = {
        "kind": "five_party",
        "title": "一月五方议事会",
        "starts_at": "2027-01-05T14:00",
        "ends_at": "2027-01-05T16:00",
        "place": "社区议事厅",
    }
    made = await browser.post(f"{base(w)}/meetings", data=form)
    page = await browser.get(made.headers["HX-Redirect"])
    assert page.status_code == 200
    link = f'href="{base(w)}/concerns/{waiting}"'
    assert link in page.text and "来自烦心事" in page.text
    item = re.search(r'<li data-item="(\d+)">(.*?)</li>', page.text, re.S)
    assert item is not None and "电动车乱停" in item.group(2)


# -- who may see and do what ----------------------------------------------------------------------------


async def test_residents_are_refused_other_communities_see_nothing_and_changes_need_the_token(client, console, w):
    from tests.factories import join

    meeting = await w.held()
    mid = meeting["id"]
    decided = await w.decision(mid, agenda_item_id=meeting["agenda"][0]["id"])
    task = await w.follow_up(decided["id"])
    # staff of C, also a resident of B: 403 on B's console, 404 for B's meeting through C's
    await join(client, w.c_staff, w.b, "3栋", "1单元", "909")
    theirs = await console(w.c_staff)
    for path in ("/meetings", f"/meetings/{mid}", f"/meetings/{mid}/screen", "/follow-ups"):
        refused = await theirs.get(f"{base(w)}{path}")
        assert refused.status_code == 403, (path, refused.status_code)
    for path in (f"/meetings/{mid}", f"/meetings/{mid}/screen", f"/meetings/{mid}/screen/code"):
        hidden = await theirs.get(f"/console/c/{w.c}{path}")
        assert hidden.status_code == 404, (path, hidden.status_code)
        assert "十二月五方议事会" not in hidden.text
    await theirs.get(f"/console/c/{w.c}/meetings")
    for path, data in (
        (f"/meetings/{mid}/publish-minutes", {}),
        (f"/meetings/{mid}/decisions", {"text": "别人的决定", "method": "consensus"}),
        (f"/meetings/{mid}/decisions/{decided['id']}/remove", {}),
        (f"/follow-ups/{task['id']}/status", {"status": "done"}),
    ):
        hidden = await theirs.post(f"/console/c/{w.c}{path}", data=data)
        assert hidden.status_code == 404, (path, hidden.status_code)
    own = await theirs.get(f"/console/c/{w.c}/follow-ups")
    assert own.status_code == 200 and "联系物业报价" not in own.text
    # without the page's token nothing changes
    mine = await staff_console(console, w)
    no_token = await mine.post(f"{base(w)}/meetings/{mid}/publish-minutes", csrf=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    view = await w.view(mid)
    assert view["status"] == "held" and len(view["decisions"]) == 1
    assert (await w.client.get(f"{API}/follow-ups/{task['id']}", headers=w.staff.headers)).json()["status"] == "open"


# -- a meeting's states ----------------------------------------------------------------------------------


async def test_the_meetings_page_offers_only_what_its_state_allows_and_a_wrong_step_is_told(client, console, w):
    meeting = await w.meeting(starts_at=at(hours=1), ends_at=at(hours=3))  # within a console session's idle time
    mid = meeting["id"]
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    page = await browser.get(here)
    actions = page.text.split('id="meeting-actions"')[1].split('id="next-step"')[0]
    assert "公布议程" in actions and "标记为已召开" not in actions and "公布纪要" not in actions
    assert "取消议事会" in actions and "签到屏幕" not in actions
    # a step the state does not allow: its 409 message in #flash, nothing changed
    wrong = await browser.post(f"{here}/publish-minutes")
    assert wrong.status_code == 409
    assert "议事会当前状态为「草稿」，不能公布纪要" in flashed(wrong)
    empty = await browser.post(f"{here}/publish-agenda")
    assert empty.status_code == 409 and "议程还没有议题" in flashed(empty)
    await w.item(mid)
    published = await browser.post(f"{here}/publish-agenda")
    assert published.status_code == 200, published.text
    assert 'id="meeting"' in published.text and 'data-status="agenda_published"' in published.text
    assert (
        "标记为已召开" in published.text and "签到屏幕" in published.text and "公布议程</button>" not in published.text
    )
    assert (await w.view(mid))["status"] == "agenda_published"
    early = await browser.post(f"{here}/hold")
    assert early.status_code == 409 and "开始后才能标记为已召开" in flashed(early)
    assert (await w.view(mid))["status"] == "agenda_published"
    clock.advance(timedelta(hours=1))
    held = await browser.post(f"{here}/hold")
    assert held.status_code == 200 and 'data-status="held"' in held.text
    assert 'id="minutes"' in held.text and 'id="decisions"' in held.text and "取消议事会" not in held.text
    view = await w.view(mid)
    assert view["status"] == "held" and view["held_at"] == at(hours=1)


async def test_a_meeting_is_cancelled_with_its_reason_and_a_new_time_is_saved(client, console, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    await browser.get(here)
    moved = await browser.post(
        f"{here}/edit",
        data={
            "title": "十二月五方议事会",
            "starts_at": "2026-12-09T14:00",
            "ends_at": "2026-12-09T16:00",
            "place": "党群服务中心",
        },
    )
    assert moved.status_code == 200, moved.text
    view = await w.view(mid)
    assert (view["starts_at"], view["place"]) == ("2026-12-09T14:00:00+08:00", "党群服务中心")
    backwards = await browser.post(
        f"{here}/edit",
        data={
            "title": "十二月五方议事会",
            "starts_at": "2026-12-09T14:00",
            "ends_at": "2026-12-09T13:00",
            "place": "x",
        },
    )
    assert "结束时间：结束时间应晚于开始时间" in beside(backwards, "details-form")
    assert (await w.view(mid))["place"] == "党群服务中心"
    no_reason = await browser.post(f"{here}/cancel", data={"reason": "  "})
    assert "取消原因：请填写" in beside(no_reason, "cancel-form")
    assert (await w.view(mid))["status"] == "draft"
    cancelled = await browser.post(f"{here}/cancel", data={"reason": "场地临时不能用"})
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text
    assert "场地临时不能用" in text_of(cancelled.text)
    view = await w.view(mid)
    assert (view["status"], view["cancel_reason"]) == ("cancelled", "场地临时不能用")
    again = await browser.post(f"{here}/cancel", data={"reason": "再取消"})
    assert again.status_code == 409 and "已取消" in flashed(again)


# -- participants, attendance, the screen -------------------------------------------------------------------


async def test_participants_are_added_by_party_with_accounts_found_by_name_and_removed(client, console, w):
    meeting = await w.meeting()
    mid = meeting["id"]
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    await browser.get(here)
    found = await browser.get(f"{here}/accounts", params={"q": "zho", "field": "user_id"})
    assert found.status_code == 200
    assert f'name="user_id" value="{w.zhou.user_id}"' in found.text and "3栋 1单元 102" in text_of(found.text)
    assert f'value="{w.chen.user_id}"' not in found.text
    by_room = await browser.get(f"{here}/accounts", params={"q": "101", "field": "owner_user_id"})
    assert f'name="owner_user_id" value="{w.chen.user_id}"' in by_room.text
    nobody = await browser.get(f"{here}/accounts", params={"q": "c-resident"})
    assert "没有找到" in text_of(nobody.text)  # another community's resident is not offered

    rep = await browser.post(
        f"{here}/participants",
        data={"party": "resident_rep", "name": "", "role": "3栋楼栋长", "user_id": str(w.zhou.user_id), "q": "zho"},
    )
    assert rep.status_code == 200, rep.text
    assert 'id="participants"' in rep.text and "3栋楼栋长" in rep.text
    manager = await browser.post(
        f"{here}/participants", data={"party": "property", "name": "王经理", "role": "物业经理"}
    )
    assert manager.status_code == 200
    await browser.post(f"{here}/participants", data={"party": "social_worker", "name": "小刘", "role": ""})
    nameless = await browser.post(f"{here}/participants", data={"party": "self_org", "name": "", "role": ""})
    assert "姓名：请填写参会人的姓名" in beside(nameless, "participant-form")
    staff_as_rep = await browser.post(
        f"{here}/participants", data={"party": "resident_rep", "name": "社工", "user_id": str(w.staff.user_id)}
    )
    assert "账号：居民代表应为本社区的居民" in beside(staff_as_rep, "participant-form")
    twice = await browser.post(f"{here}/participants", data={"party": "resident_rep", "user_id": str(w.zhou.user_id)})
    assert twice.status_code == 409 and "这位已经在参会名单上了" in flashed(twice)
    no_party = await browser.post(f"{here}/participants", data={"party": "", "name": "某人"})
    assert "哪一方：请从列表中选择" in beside(no_party, "participant-form")

    view = await w.view(mid)
    assert [(p["party"], p["name"], p["role"], p["user_id"]) for p in view["participants"]] == [
        ("resident_rep", "zhou", "3栋楼栋长", w.zhou.user_id),
        ("property", "王经理", "物业经理", None),
        ("social_worker", "小刘", "", None),
    ]
    page = await browser.get(here)
    parties = re.findall(r'data-party="([a-z_]+)"', page.text)
    assert parties == ["property", "social_worker", "resident_rep"]  # in the parties' order
    social = view["participants"][2]["id"]
    removed = await browser.post(f"{here}/participants/{social}/remove")
    assert removed.status_code == 200 and "小刘" not in removed.text
    assert [p["name"] for p in (await w.view(mid))["participants"]] == ["zhou", "王经理"]


async def test_staff_tick_participants_in_count_walk_ins_and_show_the_on_site_code(app, client, console, w):
    meeting = await w.meeting(starts_at=at(hours=2), ends_at=at(hours=4))
    mid = meeting["id"]
    manager = await w.participant(mid, party="property", name="王经理")
    await w.participant(mid, party="resident_rep", user_id=w.chen.user_id)
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    draft_screen = await browser.get(f"{here}/screen")
    assert draft_screen.status_code == 200 and "不能签到，没有现场签到码" in text_of(draft_screen.text)
    await w.item(mid)
    await w.ok(mid, "publish-agenda")
    too_early = await browser.post(f"{here}/checkins", data={"participant_id": str(manager["id"])})
    assert too_early.status_code == 409 and "签到 12月1日 11:00 开始" in flashed(too_early)

    clock.advance(timedelta(minutes=90))  # half an hour before the start
    screen = await browser.get(f"{here}/screen")
    assert screen.status_code == 200 and '<main class="screen">' in screen.text
    assert f'data-code="{code(app, mid)}"' in screen.text and "<svg" in screen.text
    assert f'hx-get="{here}/screen/code"' in screen.text
    clock.advance(timedelta(minutes=1))
    fresh = await browser.get(f"{here}/screen/code")
    assert f'data-code="{code(app, mid)}"' in fresh.text and 'id="onsite"' in fresh.text

    ticked = await browser.post(f"{here}/checkins", data={"participant_id": str(manager["id"])})
    assert ticked.status_code == 200, ticked.text
    assert 'data-count="present">1<' in ticked.text and "社工登记" in ticked.text
    bad_count = await browser.post(f"{here}/walkins", data={"count": "很多"})
    assert "未用小程序的到场人数：应为整数" in beside(bad_count, "walkins-form")
    counted = await browser.post(f"{here}/walkins", data={"count": "12"})
    assert counted.status_code == 200 and 'data-count="total">13<' in counted.text
    view = await w.view(mid)
    (checked,) = [p for p in view["participants"] if p["checked_in_at"]]
    assert (checked["name"], checked["checkin_method"]) == ("王经理", "staff")
    assert (view["attendance"]["walkins"], view["attendance"]["total"]) == (12, 13)
    listed = await browser.get(f"{base(w)}/meetings")
    row = re.search(rf'<tr data-meeting="{mid}">(.*?)</tr>', listed.text, re.S)
    assert row is not None and 'data-count="attendance">2<' in row.group(1)


# -- the agenda ---------------------------------------------------------------------------------------------


async def test_agenda_items_are_added_edited_moved_and_taken_off(client, console, w):
    concern = await w.concern("电动车乱停")
    meeting = await w.meeting()  # takes the concern up
    mid = meeting["id"]
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    await browser.get(here)
    added = await browser.post(f"{here}/agenda", data={"title": "小区广场的照明", "body": "晚上太暗"})
    assert added.status_code == 200 and 'id="agenda"' in added.text
    blank = await browser.post(f"{here}/agenda", data={"title": "", "body": ""})
    assert "议题：请填写" in beside(blank, "item-form")
    view = await w.view(mid)
    first, second = view["agenda"][0]["id"], view["agenda"][1]["id"]
    assert [(i["title"], i["concern_id"]) for i in view["agenda"]] == [
        ("电动车乱停", concern),
        ("小区广场的照明", None),
    ]

    edited = await browser.post(f"{here}/agenda/{second}/edit", data={"title": "广场夜间照明", "body": "东侧路灯坏了"})
    assert edited.status_code == 200
    too_long = await browser.post(f"{here}/agenda/{second}/edit", data={"title": "长" * 65, "body": ""})
    assert "议题：最多 64 个字" in beside(too_long, f"item-{second}-form")
    moved = await browser.post(f"{here}/agenda/{second}/move?to=up")
    assert moved.status_code == 200
    view = await w.view(mid)
    assert [(i["id"], i["title"], i["body"]) for i in view["agenda"]] == [
        (second, "广场夜间照明", "东侧路灯坏了"),
        (first, "电动车乱停", "电动车乱停，已经好几个月了"),
    ]
    at_top = await browser.post(f"{here}/agenda/{second}/move?to=up")  # already first: stays
    assert at_top.status_code == 200
    assert [i["id"] for i in (await w.view(mid))["agenda"]] == [second, first]
    await browser.post(f"{here}/agenda/{second}/move?to=down")
    assert [i["id"] for i in (await w.view(mid))["agenda"]] == [first, second]

    taken_off = await browser.post(f"{here}/agenda/{first}/remove")
    assert taken_off.status_code == 200 and "电动车乱停" not in taken_off.text
    assert [i["id"] for i in (await w.view(mid))["agenda"]] == [second]
    _, events = await w.concern_state(concern)
    assert [e["kind"] for e in events] == ["submitted", "accepted", "agenda", "agenda"]
    assert "已从下一次五方议事会的议程中撤下" in events[-1]["body"]  # a draft: not named


# -- minutes, decisions, follow-ups, publishing --------------------------------------------------------------


async def test_minutes_decisions_and_follow_ups_are_written_and_publishing_updates_the_concern(client, console, w):
    parking = await w.concern("电动车乱停", raised_by=w.chen, metoo=[w.zhou])
    meeting = await w.held()
    mid = meeting["id"]
    item = next(i["id"] for i in meeting["agenda"] if i["concern_id"] == parking)
    browser = await staff_console(console, w)
    here = f"{base(w)}/meetings/{mid}"
    page = await browser.get(here)
    assert 'id="decision-form"' in page.text and 'name="minutes"' in page.text

    summary = await browser.post(f"{here}/summary", data={"summary": "社区书记主持，到会 12 人"})
    assert summary.status_code == 200 and "总体纪要已保存" in summary.text
    minutes = await browser.post(f"{here}/agenda/{item}/minutes", data={"minutes": "物业同意在东侧划线"})
    assert minutes.status_code == 200 and "议题纪要已保存" in minutes.text
    assert f'id="item-{item}-minutes-errors"' in minutes.text and 'hx-swap-oob="true"' in minutes.text

    no_counts = await browser.post(
        f"{here}/decisions", data={"agenda_item_id": str(item), "text": "划定停放区", "method": "vote"}
    )
    assert "赞成票数：表决时请填写赞成、反对、弃权的票数" in beside(no_counts, "decision-form")
    nothing = await browser.post(f"{here}/decisions", data={"agenda_item_id": "", "text": "", "method": ""})
    assert "决定内容：请填写" in beside(nothing, "decision-form")
    voted = await browser.post(
        f"{here}/decisions",
        data={
            "agenda_item_id": str(item),
            "text": "在3栋东侧划定电动车停放区",
            "method": "vote",
            "votes_for": "9",
            "votes_against": "1",
            "votes_abstain": "2",
        },
    )
    assert voted.status_code == 200 and 'id="decisions"' in voted.text
    assert "表决：赞成 9 票，反对 1 票，弃权 2 票" in voted.text
    # counts left in a consensus form are not sent
    agreed = await browser.post(
        f"{here}/decisions", data={"text": "下月再议充电桩", "method": "consensus", "votes_for": "3"}
    )
    assert agreed.status_code == 200, agreed.text
    decisions = (await w.view(mid))["decisions"]
    assert [(d["text"], d["method"], d["votes_for"], d["agenda_item_id"]) for d in decisions] == [
        ("在3栋东侧划定电动车停放区", "vote", 9, item),
        ("下月再议充电桩", "consensus", None, None),
    ]
    main, extra = decisions[0]["id"], decisions[1]["id"]
    edited = await browser.post(
        f"{here}/decisions/{extra}/edit",
        data={"agenda_item_id": "", "text": "下月再议充电桩安装", "method": "consensus"},
    )
    assert edited.status_code == 200 and "下月再议充电桩安装" in edited.text

    owner_missing = await browser.post(
        f"{here}/decisions/{main}/follow-ups", data={"title": "施划停放区标线", "due_on": "2026-12-20"}
    )
    assert "负责人：请选择负责人的账号，或选择负责的一方并填写负责人或单位的名称" in beside(
        owner_missing, f"decision-{main}-follow-up"
    )
    too_soon = await browser.post(
        f"{here}/decisions/{main}/follow-ups",
        data={"title": "施划停放区标线", "owner_party": "property", "owner_name": "王经理", "due_on": "2026-12-01"},
    )
    assert "期限：期限不能早于议事会召开的日期" in beside(too_soon, f"decision-{main}-follow-up")
    by_party = await browser.post(
        f"{here}/decisions/{main}/follow-ups",
        data={
            "title": "施划停放区标线",
            "owner_party": "property",
            "owner_name": "王经理",
            "due_on": "2026-12-20",
            "q": "",
        },
    )
    assert by_party.status_code == 200 and "施划停放区标线" in by_party.text
    by_account = await browser.post(
        f"{here}/decisions/{main}/follow-ups",
        data={
            "title": "张贴告示",
            "owner_party": "",
            "owner_name": "",
            "owner_user_id": str(w.zhou.user_id),
            "due_on": "2026-12-12",
        },
    )
    assert by_account.status_code == 200, by_account.text
    tasks = (await w.view(mid))["decisions"][0]["follow_ups"]
    assert [(t["title"], t["owner_name"], t["owner_party"], t["owner_user_id"], t["due_on"]) for t in tasks] == [
        ("张贴告示", "zhou", None, w.zhou.user_id, "2026-12-12"),
        ("施划停放区标线", "王经理", "property", None, "2026-12-20"),
    ]
    later = await browser.post(
        f"{here}/follow-ups/{tasks[1]['id']}/edit",
        data={"owner_party": "property", "owner_name": "李经理", "due_on": "2026-12-22"},
    )
    assert later.status_code == 200
    task = (await w.client.get(f"{API}/follow-ups/{tasks[1]['id']}", headers=w.staff.headers)).json()
    assert (task["owner_name"], task["due_on"]) == ("李经理", "2026-12-22")
    removed_extra = await browser.post(f"{here}/decisions/{extra}/remove")
    assert removed_extra.status_code == 200 and "下月再议充电桩安装" not in removed_extra.text

    # before publishing nothing of it reaches the concern
    status, events = await w.concern_state(parking)
    assert status == "accepted" and [e["kind"] for e in events] == ["submitted", "accepted", "agenda"]
    published = await browser.post(f"{here}/publish-minutes")
    assert published.status_code == 200, published.text
    assert 'data-status="minutes_published"' in published.text
    assert 'id="decision-form"' not in published.text and 'name="minutes"' not in published.text  # read-only now
    assert "社区书记主持，到会 12 人" in published.text and "物业同意在东侧划线" in published.text
    status, events = await w.concern_state(parking)
    assert status == "in_progress"
    assert [e["kind"] for e in events] == ["submitted", "accepted", "agenda", "decision", "in_progress"]
    assert "决定：在3栋东侧划定电动车停放区（表决：赞成 9 票，反对 1 票，弃权 2 票）" in events[3]["body"]
    assert "张贴告示，由zhou负责，2026年12月12日前完成" in events[3]["body"]
    assert "施划停放区标线，由李经理负责，2026年12月22日前完成" in events[3]["body"]
    assert [e["kind"] for e in await w.inbox(w.chen)] == ["meeting.decision", "concern.accepted"]
    view = await w.view(mid, w.chen)  # residents read what was published
    assert view["summary"] == "社区书记主持，到会 12 人" and len(view["decisions"]) == 1
    late_change = await browser.post(f"{here}/summary", data={"summary": "改"})
    assert late_change.status_code == 409 and "纪要已公布" in flashed(late_change)


# -- the follow-ups list ----------------------------------------------------------------------------------


async def test_the_follow_ups_list_by_owner_and_due_date_with_filters_and_state_changes_in_place(client, console, w):
    meeting = await w.held()
    mid = meeting["id"]
    decided = await w.decision(mid, agenda_item_id=meeting["agenda"][0]["id"])
    late = await w.follow_up(decided["id"], title="联系物业报价", due_on="2026-12-08")
    soon = await w.follow_up(
        decided["id"], title="张贴告示", owner_party="self_org", owner_name="楼栋志愿队", due_on="2026-12-20"
    )
    mine = await w.follow_up(decided["id"], title="统计车辆", owner_user_id=w.zhou.user_id, due_on="2026-12-15")
    first = await w.follow_up(decided["id"], title="核对车位", owner_user_id=w.zhou.user_id, due_on="2026-12-11")
    await w.ok(mid, "publish-minutes")
    clock.advance(timedelta(days=2))  # 10 December: the 8th's is late
    browser = await staff_console(console, w)
    page = await browser.get(f"{base(w)}/follow-ups")
    assert page.status_code == 200, page.text
    rows = re.findall(r'<tr id="follow-up-(\d+)"', page.text)
    # by owner (character order), then due date
    assert [int(r) for r in rows] == [first["id"], mine["id"], soon["id"], late["id"]]
    assert re.findall(r'data-owner-group="([^"]+)"', page.text) == ["zhou", "楼栋志愿队", "王经理"]
    late_row = page.text.split(f'<tr id="follow-up-{late["id"]}"')[1].split("</tr>")[0]
    assert 'class="late"' in late_row.split(">")[0]
    assert 'class=""' in page.text.split(f'<tr id="follow-up-{soon["id"]}"')[1].split(">")[0]
    assert "逾期 2 天" in text_of(late_row)
    assert f'href="{base(w)}/meetings/{mid}#decision-{decided["id"]}"' in late_row
    assert 'data-count="late">1<' in page.text

    only_late = await browser.get(f"{base(w)}/follow-ups", params={"late": "true"})
    assert re.findall(r'<tr id="follow-up-(\d+)"', only_late.text) == [str(late["id"])]
    by_owner = await browser.get(f"{base(w)}/follow-ups", params={"owner": "楼栋志愿队"})
    assert re.findall(r'<tr id="follow-up-(\d+)"', by_owner.text) == [str(soon["id"])]

    started = await browser.post(
        f"{base(w)}/follow-ups/{late['id']}/status", data={"status": "in_progress", "note": "已约物业"}
    )
    assert started.status_code == 200, started.text
    assert started.text.lstrip().startswith(f'<tr id="follow-up-{late["id"]}"') and "进行中" in started.text
    assert "已约物业" in started.text
    assert started.headers["HX-Trigger"] == "follow-up-changed"  # the counts above refresh themselves
    assert 'hx-trigger="follow-up-changed from:body" hx-select="#follow-up-summary"' in page.text
    no_reason = await browser.post(f"{base(w)}/follow-ups/{soon['id']}/status", data={"status": "dropped", "note": ""})
    assert "进展或原因：放弃时请写明原因" in beside(no_reason, f"state-{soon['id']}")
    dropped = await browser.post(
        f"{base(w)}/follow-ups/{soon['id']}/status", data={"status": "dropped", "note": "告示已由物业张贴"}
    )
    assert dropped.status_code == 200 and "已放弃" in dropped.text and "已结束" in dropped.text
    done = await browser.post(f"{base(w)}/follow-ups/{late['id']}/status", data={"status": "done"})
    assert done.status_code == 200 and "已完成" in done.text
    again = await browser.post(f"{base(w)}/follow-ups/{late['id']}/status", data={"status": "in_progress"})
    assert again.status_code == 409 and "跟进事项已完成，不能再更改" in flashed(again)
    states = {
        f["id"]: (f["status"], f["note"])
        for f in (await client.get(f"{API}/communities/{w.b}/follow-ups", headers=w.staff.headers)).json()["items"]
    }
    assert states == {
        late["id"]: ("done", "已约物业"),
        soon["id"]: ("dropped", "告示已由物业张贴"),
        mine["id"]: ("open", ""),
        first["id"]: ("open", ""),
    }
    finished = await browser.get(f"{base(w)}/follow-ups", params={"status": "done"})
    assert re.findall(r'<tr id="follow-up-(\d+)"', finished.text) == [str(late["id"])]
    # a state the page does not offer (an edited address) filters nothing, and says nothing in English
    edited = await browser.get(f"{base(w)}/follow-ups", params={"status": "finished"})
    assert edited.status_code == 200 and len(re.findall(r'<tr id="follow-up-(\d+)"', edited.text)) == 4
    assert 'data-count="late">0<' in (await browser.get(f"{base(w)}/follow-ups")).text
