"""Concerns (烦心事) in the staff console, through HTTP on both engines: the board's columns,
counts and filters, recording a concern a resident told staff, a concern's page (the raiser's name
as staff see it, the timeline, the agenda, the verdicts), every triage action going through its
service (the timeline, the notifications, the service's refusals as field messages or in #flash),
and the review queue. Who may open these pages at all is also checked for every console route by
test_console_access.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from api import clock
from tests.factories import grant, join, login
from tests.test_concerns import NOW, SECRET_NAME, W, drain
from tests.test_concerns import _now as _now  # the frozen clock
from tests.test_concerns import settings as settings  # the same app settings
from tests.test_concerns import w as w  # the world: community B, its staff and residents, C

DAY = timedelta(days=1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
    return found.group(1) if found else None


def column(html: str, key: str) -> list[int]:
    """The concerns shown in a column of the board, top to bottom."""
    found = re.search(rf'<section class="column" data-column="{key}".*?</section>', html, re.S)
    assert found is not None, f"no column {key}"
    return [int(n) for n in re.findall(r'data-concern="(\d+)"', found.group(0))]


def column_count(html: str, key: str) -> int:
    found = re.search(rf'<h2 id="col-{key}">[^<]*<span class="count">(\d+)</span>', html)
    assert found is not None, f"no count for {key}"
    return int(found.group(1))


def flash(response: httpx.Response) -> str:
    """An htmx refusal: the message swapped into the page's #flash line."""
    assert response.headers.get("HX-Retarget") == "#flash", response.text
    return text_of(response.text).strip()


def redirected(response: httpx.Response) -> str:
    assert response.status_code == 204, (response.status_code, response.text)
    target: str = response.headers["HX-Redirect"]
    return target


async def five_party(w: W, starts_in: timedelta, title: str = "十二月五方议事会") -> dict[str, Any]:
    """A five-party meeting planned through the meetings API."""
    start = NOW + starts_in
    response = await w.client.post(
        f"/api/v1/communities/{w.b}/meetings",
        json={
            "kind": "five_party",
            "title": title,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "place": "社区议事厅",
        },
        headers=w.staff.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def kinds(detail: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in detail["timeline"]]


# -- the board -----------------------------------------------------------------------------------------


async def test_the_board_shows_the_columns_their_counts_and_filters(client, app, console, w):
    parking = await w.raised(w.chen, title="电动车乱停", hide_name=True)
    noise = await w.raised(w.sun, building="2栋", category="noise", title="广场舞噪音")
    unsure = await w.raised(w.zhou, title="楼道堆物", category="sanitation", body="这条待审核")
    repair = await w.raised(w.li, building="2栋", category="repair", title="儿童游乐设施损坏")
    await drain(app)
    accepted = await w.post(w.staff, f"/concerns/{repair['id']}/accept", {"level": 2, "responsible": "工作小组"})
    assert accepted.status_code == 200, accepted.text
    other = (await w.raise_(w.cstaff, w.c, title="C社区的事", building="")).json()  # another community's

    browser = await console(w.staff)
    base = f"/console/c/{w.b}/concerns"
    page = await browser.get(base)
    assert page.status_code == 200, page.text
    assert f'href="/console/c/{w.b}/concerns" aria-current="page"' in page.text  # the menu's entry
    html = page.text
    assert column(html, "submitted") == [unsure["id"], noise["id"], parking["id"]]  # newest first
    assert column(html, "accepted") == [repair["id"]]
    assert column(html, "in_progress") == column(html, "resolved") == column(html, "closed") == []
    assert (column_count(html, "submitted"), column_count(html, "accepted"), column_count(html, "other")) == (3, 1, 0)
    assert f'data-concern="{other["id"]}"' not in html
    card = re.search(rf'<article[^>]*data-concern="{repair["id"]}".*?</article>', html, re.S)
    assert card is not None
    shown = text_of(card.group(0))
    assert "儿童游乐设施损坏" in shown and "设施维修" in shown and "二级" in shown and "2栋" in shown
    assert "负责 工作小组" in shown and "办结期限" in shown and "0 人也遇到" in shown
    # the check was unsure of one: it is marked, and the review queue is linked with its count
    assert re.search(rf'data-concern="{unsure["id"]}".*?待人工审核', html, re.S)
    assert re.search(r'id="review-link"[^>]*>待审核 <strong>1</strong>', html)
    assert "响应超时" not in text_of(html.split('id="board"')[1])

    # the filters are a GET form: kept in the URL, narrowing the columns and their counts
    by_building = (await browser.get(base, params={"building": "2栋"})).text
    assert column(by_building, "submitted") == [noise["id"]] and column(by_building, "accepted") == [repair["id"]]
    assert '<option value="2栋" selected>' in by_building
    by_category = (await browser.get(base, params={"category": "parking"})).text
    assert column(by_category, "submitted") == [parking["id"]] and column_count(by_category, "accepted") == 0
    by_level = (await browser.get(base, params={"level": "2"})).text
    assert column(by_level, "submitted") == [] and column(by_level, "accepted") == [repair["id"]]
    nowhere = (await browser.get(base, params={"building": "9栋"})).text
    assert column(nowhere, "submitted") == [] and column_count(nowhere, "submitted") == 0

    # three days on, the submitted ones ran past their response clock (Thursday 10:00)
    clock.advance(3 * DAY)
    browser = await console(w.staff)  # the console's session ended meanwhile
    late = (await browser.get(base, params={"late": "1"})).text
    assert column(late, "submitted") == [unsure["id"], noise["id"], parking["id"]]
    assert column(late, "accepted") == []
    flagged = re.search(rf'<article[^>]*data-concern="{noise["id"]}".*?</article>', late, re.S)
    assert flagged is not None and "is-late" in flagged.group(0)
    assert 'data-late="response">响应超时' in flagged.group(0)
    assert "3 件已超时" in text_of(late)
    on_time = (await browser.get(base, params={"late": "0"})).text
    assert column(on_time, "submitted") == [] and column(on_time, "accepted") == [repair["id"]]

    # one column's every card, with the filters kept
    only = (await browser.get(base, params={"column": "submitted", "building": "1栋"})).text
    assert [int(n) for n in re.findall(r'data-concern="(\d+)"', only)] == [unsure["id"], parking["id"]]
    assert 'name="column" value="submitted"' in only


async def test_the_pages_are_staff_of_the_communitys_only(client, app, console, w):
    concern = await w.visible(w.chen, app)
    theirs = (await w.raise_(w.cstaff, w.c, title="C社区的事", building="")).json()
    base = f"/console/c/{w.b}/concerns"
    # a resident of B (who serves C, so may sign in to the console) is refused; staff of C only: 404
    await join(client, w.cstaff, w.b, building="2栋", room="203")
    resident = await console(w.cstaff)
    for path in (base, f"{base}/review", f"{base}/{concern['id']}"):
        assert (await resident.get(path)).status_code == 403, path
    refused = await resident.post(f"{base}/{concern['id']}/start")
    assert refused.status_code == 403 and "只有社区工作人员" in flash(refused)
    outsider = await login(client, "cstaff2")
    await grant(client, w.root, w.c, outsider, "staff")
    stranger = await console(outsider)
    for path in (base, f"{base}/review", f"{base}/{concern['id']}"):
        assert (await stranger.get(path)).status_code == 404, path
    assert (await stranger.post(f"{base}/{concern['id']}/accept", data={"level": "2"})).status_code == 404
    assert (await w.detail(w.staff, concern["id"]))["status"] == "submitted"

    # staff of both: another community's concern is not found under this one's address
    await grant(client, w.root, w.c, w.staff, "staff")
    both = await console(w.staff)
    assert (await both.get(f"{base}/{theirs['id']}")).status_code == 404
    wrong = await both.post(f"{base}/{theirs['id']}/accept", data={"level": "2"})
    assert wrong.status_code == 404 and "找不到这件烦心事" in flash(wrong)
    assert (await w.detail(w.cstaff, theirs["id"]))["status"] == "submitted"
    assert (await both.get(f"/console/c/{w.c}/concerns/{theirs['id']}")).status_code == 200
    remark = await w.post(w.wang, f"/concerns/{theirs['id']}/comments", {"body": "我也觉得待审核"})
    assert remark.status_code == 201, remark.text
    await drain(app)
    wrong = await both.post(
        f"/console/c/{w.b}/concern-comments/{remark.json()['id']}/moderate", data={"decision": "approve"}
    )
    assert wrong.status_code == 404 and "找不到这条评论" in flash(wrong)
    (waiting,) = (await w.get(w.cstaff, f"/concerns/{theirs['id']}/comments")).json()
    assert waiting["status"] == "review"

    # a change without the page's CSRF token is refused, and nothing changes
    no_token = await both.post(f"{base}/{concern['id']}/accept", data={"level": "2"}, csrf=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    assert (await w.detail(w.staff, concern["id"]))["status"] == "submitted"


# -- recording a concern for a resident ---------------------------------------------------------------


async def test_staff_record_a_concern_a_resident_told_them(client, app, console, w):
    browser = await console(w.staff)
    base = f"/console/c/{w.b}/concerns"
    page = await browser.get(base)
    record_form = page.text.split('id="record-form"')[1]
    assert re.search(r'<option value="2栋"\s*>2栋</option>', record_form)  # the community's buildings

    form = {"category": "repair", "building": "2栋", "place": "2栋楼道", "title": "", "body": "灯不亮一周了"}
    blank = await browser.post(base, data=form)
    assert blank.status_code == 422 and field_error(blank.text, "title") == "请填写"
    assert 'value="2栋楼道"' in blank.text  # what was typed stays
    no_category = await browser.post(base, data={**form, "title": "楼道灯坏了", "category": ""})
    assert no_category.status_code == 422 and field_error(no_category.text, "category") == "请选择"
    elsewhere = await browser.post(base, data={**form, "title": "楼道灯坏了", "building": "9栋"})
    assert elsewhere.status_code == 422 and field_error(elsewhere.text, "building") == "本社区没有这个楼栋"
    too_long = await browser.post(base, data={**form, "title": "灯" * 65})
    assert too_long.status_code == 422 and field_error(too_long.text, "title") == "最多 64 个字"
    assert (await w.board(w.staff))["items"] == []

    made = await browser.post(base, data={**form, "title": "楼道灯坏了", "told_by": "2栋王奶奶，坝坝会上说的"})
    target = redirected(made)
    concern_id = int(target.rsplit("/", 1)[1])
    assert target == f"{base}/{concern_id}"
    # visible at once, raised by 社工 as residents see it; who told staff is a note residents never read
    seen = await w.detail(w.sun, concern_id)
    assert (seen["title"], seen["building"], seen["place"], seen["category"]) == (
        "楼道灯坏了",
        "2栋",
        "2栋楼道",
        "repair",
    )
    assert seen["raiser"]["name"] == "社工" and kinds(seen) == ["submitted"]
    assert "王奶奶" not in str(seen)
    staff_view = await w.detail(w.staff, concern_id)
    assert (
        kinds(staff_view) == ["submitted", "note"]
        and staff_view["timeline"][1]["body"] == "反映人：2栋王奶奶，坝坝会上说的"
    )
    detail = (await browser.get(target)).text
    assert "工作人员代为登记" in detail and "反映人：2栋王奶奶" in detail and "仅工作人员可见" in detail


# -- a concern's page and its actions ------------------------------------------------------------------


async def test_the_hidden_raisers_name_is_shown_to_staff_with_the_mark(client, app, console, w):
    concern = await w.visible(w.chen, app, hide_name=True)
    plain = await w.visible(w.zhou, app, title="垃圾桶满了", category="sanitation")
    browser = await console(w.staff)
    page = await browser.get(f"/console/c/{w.b}/concerns/{concern['id']}")
    assert page.status_code == 200
    raiser = re.search(r'<dd id="raiser">(.*?)</dd>', page.text, re.S)
    assert raiser is not None
    assert SECRET_NAME in raiser.group(1) and "已对居民隐藏姓名" in raiser.group(1)
    assert "对居民隐藏姓名" in text_of(page.text.split('id="timeline"')[1])  # on its submitted event too
    shown = re.search(
        r'<dd id="raiser">(.*?)</dd>', (await browser.get(f"/console/c/{w.b}/concerns/{plain['id']}")).text, re.S
    )
    assert shown is not None and "zhou" in shown.group(1) and "隐藏姓名" not in shown.group(1)
    # other residents read it through the API without the name
    other = await w.detail(w.zhou, concern["id"])
    assert other["raiser"]["name"] == "居民" and SECRET_NAME not in str(other)


async def test_accepting_at_level_1_needs_the_responsible_party_and_tells_the_raiser(client, app, console, w):
    concern = await w.visible(w.chen, app)
    browser = await console(w.staff)
    here = f"/console/c/{w.b}/concerns/{concern['id']}"
    page = await browser.get(here)
    assert page.status_code == 200
    assert 'id="accept-form"' in page.text and 'id="resolve-form"' not in page.text  # what its state allows
    assert "目前没有计划中的五方议事会" in page.text

    missing = await browser.post(f"{here}/accept", data={"level": "1", "responsible": "", "due_at": "", "note": ""})
    assert missing.status_code == 422
    assert field_error(missing.text, "responsible") == "一级（快速处理）须写明负责的一方"
    assert "负责方：一级（快速处理）须写明负责的一方" in text_of(missing.text)
    assert 'id="accept-form"' in missing.text and 'value="1" checked' in missing.text
    no_level = await browser.post(f"{here}/accept", data={"level": "", "responsible": "物业"})
    assert no_level.status_code == 422 and field_error(no_level.text, "level") == "请选择等级"
    past = await browser.post(
        f"{here}/accept", data={"level": "1", "responsible": "物业", "due_at": "2026-11-30T18:00"}
    )
    assert past.status_code == 422 and field_error(past.text, "due_at") == "应晚于现在"
    assert (await w.detail(w.staff, concern["id"]))["status"] == "submitted"
    assert await w.inbox(w.chen) == []

    accepted = await browser.post(
        f"{here}/accept", data={"level": "1", "responsible": "物业", "due_at": "2026-12-04T18:00", "note": "周五前清理"}
    )
    assert redirected(accepted) == here
    seen = await w.detail(w.staff, concern["id"])
    assert (seen["status"], seen["level"], seen["responsible"]) == ("accepted", 1, "物业")
    assert seen["due_at"] == "2026-12-04T18:00:00+08:00"
    assert kinds(seen) == ["submitted", "accepted"]
    assert seen["timeline"][1]["actor"]["id"] == w.staff.user_id and "周五前清理" in seen["timeline"][1]["body"]
    (told,) = await w.inbox(w.chen)
    assert told["kind"] == "concern.accepted" and "物业" in told["body"]
    page = (await browser.get(here)).text
    assert "一级：物业或自组织快速处理" in page and 'id="level-form"' in page and 'id="accept-form"' not in page

    # accepting again is refused by the service: its 409 in the page's flash line
    again = await browser.post(f"{here}/accept", data={"level": "2"})
    assert again.status_code == 409 and flash(again) == "这件烦心事现在是“已受理”，不能受理"
    closing = await browser.post(f"{here}/close")
    assert closing.status_code == 409 and "不能关闭" in flash(closing)


async def test_level_3_goes_on_the_coming_five_party_meetings_agenda(client, app, console, w):
    waits = await w.visible(w.chen, app, title="小区停车位不够")
    browser = await console(w.staff)
    here = f"/console/c/{w.b}/concerns/{waits['id']}"
    assert redirected(await browser.post(f"{here}/accept", data={"level": "3"})) == here
    page = (await browser.get(here)).text
    assert 'id="waiting-for-meeting"' in page

    meeting = await five_party(w, 10 * DAY)  # planning it takes up the waiting one
    page = (await browser.get(here)).text
    assert f'href="/console/c/{w.b}/meetings/{meeting["id"]}">十二月五方议事会</a>' in page
    assert 'id="waiting-for-meeting"' not in page

    # with the meeting planned, the acceptance form says where a level-3 concern goes, and it goes there
    other = await w.visible(w.zhou, app, title="儿童游乐设施损坏", category="children_elders")
    there = f"/console/c/{w.b}/concerns/{other['id']}"
    form = (await browser.get(there)).text
    assert "会列入下一次五方议事会「十二月五方议事会」" in form
    assert redirected(await browser.post(f"{there}/accept", data={"level": "3"})) == there
    seen = await w.detail(w.staff, other["id"])
    assert [a["meeting_id"] for a in seen["agenda"]] == [meeting["id"]] and kinds(seen)[-2:] == ["accepted", "agenda"]
    assert (await w.detail(w.zhou, other["id"]))["agenda"] == []  # a draft meeting: not shown to residents

    # a level change from 2 to 3 puts it there too; a level change needs what level 1 needs
    third = await w.visible(w.sun, app, building="2栋", title="广场舞噪音", category="noise")
    third_here = f"/console/c/{w.b}/concerns/{third['id']}"
    await browser.post(f"{third_here}/accept", data={"level": "2"})
    refused = await browser.post(f"{third_here}/level", data={"level": "1", "responsible": ""})
    assert refused.status_code == 422 and field_error(refused.text, "responsible") == "一级（快速处理）须写明负责的一方"
    assert (
        redirected(await browser.post(f"{third_here}/level", data={"level": "3", "note": "需要五方协商"})) == third_here
    )
    moved = await w.detail(w.staff, third["id"])
    assert moved["level"] == 3 and kinds(moved)[-2:] == ["level", "agenda"]
    assert [a["meeting_id"] for a in moved["agenda"]] == [meeting["id"]]


async def test_updates_resolution_verdicts_and_closing_from_the_console(client, app, console, w):
    concern = await w.visible(w.chen, app)
    supported = await w.post(w.zhou, f"/concerns/{concern['id']}/metoo")
    assert supported.status_code == 200
    browser = await console(w.staff)
    here = f"/console/c/{w.b}/concerns/{concern['id']}"
    await browser.post(f"{here}/accept", data={"level": "2"})

    # starting twice: the second is refused by the service, in #flash
    assert redirected(await browser.post(f"{here}/start")) == here
    twice = await browser.post(f"{here}/start")
    assert twice.status_code == 409 and flash(twice) == "这件烦心事现在是“处理中”，不能开始处理"

    empty = await browser.post(f"{here}/updates", data={"body": "  ", "public": "public"})
    assert empty.status_code == 422 and field_error(empty.text, "body") == "请填写"
    assert redirected(await browser.post(f"{here}/updates", data={"body": "物业已联系车主", "public": "public"}))
    assert redirected(await browser.post(f"{here}/updates", data={"body": "车主是3栋的张先生", "public": "note"}))
    # the public update reaches the raiser and "me too"; the note stays with staff
    for person in (w.chen, w.zhou):
        assert [e["kind"] for e in await w.inbox(person)] == ["concern.update", "concern.accepted"]  # newest first
    resident = await w.detail(w.zhou, concern["id"])
    assert kinds(resident)[-1] == "update" and "张先生" not in str(resident)
    page = (await browser.get(here)).text
    timeline = page.split('id="timeline"')[1].split("</section>")[0]
    assert re.search(r'data-event="note">.*?仅工作人员可见.*?车主是3栋的张先生', timeline, re.S)
    public = re.search(r'data-event="update">.*?</li>', timeline, re.S)
    assert public is not None and "物业已联系车主" in public.group(0) and "仅工作人员可见" not in public.group(0)

    no_result = await browser.post(f"{here}/resolve", data={"result": ""})
    assert no_result.status_code == 422 and field_error(no_result.text, "result") == "请填写"
    assert redirected(await browser.post(f"{here}/resolve", data={"result": "电动车已移走，加装了车棚"}))
    resolved = await w.detail(w.chen, concern["id"])
    assert (resolved["status"], resolved["result"]) == ("resolved", "电动车已移走，加装了车棚")
    assert resolved["can_answer_verdict"] is True
    verdict = await w.post(
        w.chen, f"/concerns/{concern['id']}/verdict", {"answer": "partly", "stars": 4, "word": "还差一点"}
    )
    assert verdict.status_code == 201, verdict.text
    page = (await browser.get(here)).text
    summary = re.search(r'<p id="verdict-summary">(.*?)</p>', page, re.S)
    assert summary is not None
    assert "已有 1 人评价" in text_of(summary.group(1)) and "部分解决 1" in summary.group(1)
    assert "满意（4–5 星）1 / 1" in text_of(summary.group(1))
    assert "还差一点" in page and "★★★★☆" in page and SECRET_NAME in page.split('id="verdicts"')[1]

    assert redirected(await browser.post(f"{here}/close"))
    closed = await w.detail(w.staff, concern["id"])
    assert (closed["status"], closed["outcome"]) == ("closed", "resolved") and kinds(closed)[-1] == "closed"
    page = (await browser.get(here)).text
    assert 'id="update-form"' in page and 'id="resolve-form"' not in page and "已关闭：不能再处理或评价" in page


async def test_turning_a_concern_down_names_the_reason_whom_or_which(client, app, console, w):
    first = await w.visible(w.chen, app, title="电动车乱停")
    repeat = await w.visible(w.zhou, app, title="楼下电动车太多")
    referred = await w.visible(w.sun, app, building="2栋", title="路灯不亮", category="repair")
    hopeless = await w.visible(w.li, app, building="2栋", title="希望小区里建游泳池", category="other")
    browser = await console(w.staff)
    base = f"/console/c/{w.b}/concerns"

    page = (await browser.get(f"{base}/{repeat['id']}")).text
    choices = re.search(r'<select id="d-duplicate".*?</select>', page, re.S)
    assert choices is not None
    offered = [int(n) for n in re.findall(r'<option value="(\d+)"', choices.group(0))]
    assert offered == [hopeless["id"], referred["id"], first["id"]]  # the others still open, not itself

    no_outcome = await browser.post(f"{base}/{hopeless['id']}/decline", data={"reason": "场地不够"})
    assert no_outcome.status_code == 422 and field_error(no_outcome.text, "outcome") == "请选择答复方式"
    no_reason = await browser.post(f"{base}/{hopeless['id']}/decline", data={"outcome": "unresolvable", "reason": ""})
    assert no_reason.status_code == 422 and field_error(no_reason.text, "reason") == "无法解决时请写明原因"
    no_whom = await browser.post(f"{base}/{referred['id']}/decline", data={"outcome": "referred"})
    assert no_whom.status_code == 422 and field_error(no_whom.text, "referred_to") == "转办时请写明转给谁"
    itself = await browser.post(
        f"{base}/{repeat['id']}/decline", data={"outcome": "duplicate", "duplicate_id": str(repeat["id"])}
    )
    assert itself.status_code == 422 and field_error(itself.text, "duplicate_of") == "应为本社区另一件公开的烦心事"
    not_a_number = await browser.post(
        f"{base}/{repeat['id']}/decline", data={"outcome": "duplicate", "duplicate_id": "第一件"}
    )
    assert (
        not_a_number.status_code == 422 and field_error(not_a_number.text, "duplicate_of") == "应为烦心事的编号（数字）"
    )

    done = await browser.post(
        f"{base}/{hopeless['id']}/decline", data={"outcome": "unresolvable", "reason": "小区没有场地"}
    )
    assert redirected(done)
    done = await browser.post(
        f"{base}/{referred['id']}/decline", data={"outcome": "referred", "referred_to": "街道城管科"}
    )
    assert redirected(done)
    done = await browser.post(
        f"{base}/{repeat['id']}/decline", data={"outcome": "duplicate", "duplicate_of": str(first["id"])}
    )
    assert redirected(done)
    assert [(await w.detail(w.staff, c["id"]))["status"] for c in (hopeless, referred, repeat)] == [
        "unresolvable",
        "referred",
        "duplicate",
    ]
    assert (await w.detail(w.staff, repeat["id"]))["duplicate_of"] == first["id"]
    assert [e["kind"] for e in await w.inbox(w.sun)] == ["concern.declined"]
    board = (await browser.get(base)).text
    assert sorted(column(board, "other")) == sorted([hopeless["id"], referred["id"], repeat["id"]])
    assert column(board, "submitted") == [first["id"]]
    page = (await browser.get(f"{base}/{repeat['id']}")).text
    assert f'href="{base}/{first["id"]}">#{first["id"]}</a>' in page and 'id="decline-form"' not in page


# -- the review queue ------------------------------------------------------------------------------------


async def test_the_review_queue_approves_and_refuses_with_a_reason(client, app, console, w):
    unsure = await w.raised(w.chen, title="车棚的事", body="这条待审核")
    refused = await w.raised(w.zhou, title="另一件", body="也是待审核的")
    fine = await w.visible(w.sun, app, building="2栋", title="垃圾桶满了", category="sanitation")
    comment = await w.post(w.li, f"/concerns/{fine['id']}/comments", {"body": "我这里也待审核"})
    assert comment.status_code == 201
    await drain(app)
    browser = await console(w.staff)
    review = f"/console/c/{w.b}/concerns/review"
    page = await browser.get(review)
    assert page.status_code == 200
    assert [int(n) for n in re.findall(r'<li data-concern="(\d+)"', page.text)] == [unsure["id"], refused["id"]]
    assert [int(n) for n in re.findall(r'<li data-comment="(\d+)"', page.text)] == [comment.json()["id"]]
    assert "「垃圾桶满了」" in page.text

    base = f"/console/c/{w.b}/concerns"
    no_reason = await browser.post(f"{base}/{refused['id']}/moderate", data={"decision": "reject", "back": "review"})
    assert no_reason.status_code == 422
    assert field_error(no_reason.text, "note") == "不通过或下架时请写明原因，提出人会看到"
    assert f'id="reject-{refused["id"]}"' in no_reason.text
    rejected = await browser.post(
        f"{base}/{refused['id']}/moderate", data={"decision": "reject", "note": "与社区无关", "back": "review"}
    )
    assert redirected(rejected) == review
    approved = await browser.post(f"{base}/{unsure['id']}/moderate", data={"decision": "approve", "back": "review"})
    assert redirected(approved) == review
    comment_ok = await browser.post(
        f"/console/c/{w.b}/concern-comments/{comment.json()['id']}/moderate", data={"decision": "approve"}
    )
    assert redirected(comment_ok) == review

    assert (await w.detail(w.zhou, unsure["id"]))["visibility"] is None  # visible to the community now
    mine = await w.detail(w.zhou, refused["id"])
    assert mine["visibility"] == "rejected" and mine["moderation_note"] == "与社区无关"
    assert [e["kind"] for e in await w.inbox(w.zhou)] == ["concern.rejected"]
    seen = (await w.get(w.chen, f"/concerns/{fine['id']}/comments")).json()
    assert [c["body"] for c in seen] == ["我这里也待审核"]
    page = (await browser.get(review)).text
    assert "没有待审核的烦心事" in page and "没有待审核的评论" in page
    assert 'id="review-link"' not in (await browser.get(base)).text

    # a concern that needs no review: the service's refusal in #flash
    again = await browser.post(f"{base}/{refused['id']}/moderate", data={"decision": "approve", "back": "concern"})
    assert again.status_code == 409 and flash(again) == "这件烦心事不需要审核"
