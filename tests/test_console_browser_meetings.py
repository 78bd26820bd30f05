"""In a real browser: a social worker plans a five-party meeting in the console (it takes up the
level-3 concern waiting for one), adds participants of five parties (a residents' representative
found by name among the community's accounts), adds an agenda item, publishes the agenda, opens the
check-in screen with its rotating code, ticks someone in, marks the meeting held once it has
started, writes the minutes, records a decision by vote with a follow-up owned by a resident with a
due date, publishes the minutes (the concern's timeline says what was decided) and finds the
follow-up in the follow-ups list under its owner."""

from __future__ import annotations

import os
from datetime import timedelta

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_meetings import NOW, World, code


async def _add_participant(page, party: str, name: str, role: str) -> None:
    form = page.locator("#participant-form")
    await form.locator("select[name=party]").select_option(party)
    await form.locator("input[name=name]").fill(name)
    await form.locator("input[name=role]").fill(role)
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector(f"#participants li:has-text('{name}')", timeout=10_000)


async def test_plan_hold_and_publish_a_five_party_meeting(page, app, client, db):
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai
    w = await World().build(client, app)
    parking = await w.concern("电动车乱停", raised_by=w.chen)
    base = f"/console/c/{w.b}"
    shots = os.path.join(ARTIFACTS, "console-meetings")
    os.makedirs(shots, exist_ok=True)
    page.on("dialog", lambda dialog: dialog.accept())
    # screenshots leave the caret alone: hiding it writes an empty style attribute on inputs, which
    # htmx's settling would then copy onto the swapped-in form (an inline style the CSP refuses)

    await page.goto(f"/console/login?next={base}/meetings")
    await page.select_option("#dev-user", str(w.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(f"{base}/meetings"), timeout=10_000)
    assert "还没有安排议事会" in await page.inner_text("#upcoming")
    assert await page.inner_text("header nav a[aria-current=page]") == "议事"

    # a five-party meeting starting half an hour from now
    await page.select_option("#m-kind", "five_party")
    await page.fill("#m-title", "十二月五方议事会")
    await page.fill("#m-starts", "2026-12-01T10:30")
    await page.fill("#m-ends", "2026-12-01T12:00")
    await page.fill("#m-place", "社区议事厅")
    await page.click("#meeting-form button[type=submit]")
    await page.wait_for_url(lambda url: "/meetings/" in url, timeout=10_000)
    meeting_id = int(page.url.rsplit("/", 1)[1])
    assert await page.get_attribute("#meeting", "data-status") == "draft"
    # the concern waiting for a five-party meeting is on its agenda, linked to its page
    concern_link = page.locator(f"#agenda a[data-concern='{parking}']")
    assert await concern_link.get_attribute("href") == f"{base}/concerns/{parking}"

    # participants of five parties; the residents' representative by her account, found by name
    await _add_participant(page, "community", "张书记", "社区党委书记")
    await _add_participant(page, "property", "王经理", "物业经理")
    await _add_participant(page, "social_worker", "小刘", "驻点社工")
    await _add_participant(page, "self_org", "李队长", "楼栋志愿队")
    form = page.locator("#participant-form")  # still open after the last one added
    await form.locator("select[name=party]").select_option("resident_rep")
    await form.locator("input[name=role]").fill("3栋楼栋长")
    await form.locator("input[data-account-search]").fill("zho")
    choice = page.locator(f"#participant-form-accounts input[value='{w.zhou.user_id}']")
    await choice.wait_for(timeout=10_000)
    await choice.check()
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("#participants [data-party=resident_rep] li:has-text('zhou')", timeout=10_000)
    parties = await page.locator("#participants .party").evaluate_all("els => els.map(e => e.dataset.party)")
    assert parties == ["community", "property", "social_worker", "self_org", "resident_rep"]
    assert await page.inner_text("#attendance [data-count=expected]") == "5"

    # an item of staff's own, then the agenda goes out
    await page.click("#agenda summary:has-text('添加议题')")
    await page.fill("#item-title", "小区广场夜间照明")
    await page.fill("#item-body", "东侧路灯坏了两个月")
    await page.click("#item-form button[type=submit]")
    await page.wait_for_selector("#agenda li:has-text('小区广场夜间照明')", timeout=10_000)
    await page.screenshot(path=os.path.join(shots, "meeting-draft.png"), full_page=True, caret="initial")
    await page.click("#meeting-actions button:has-text('公布议程')")
    await page.wait_for_selector("#meeting[data-status=agenda_published]", timeout=10_000)

    # the check-in screen, turned towards the room: the code of this minute, as a QR code
    screen = await page.context.new_page()
    screen.on("console", lambda m: page.linli_errors.append(m.text) if m.type == "error" else None)
    await screen.goto(f"{base}/meetings/{meeting_id}/screen")
    assert await screen.locator("main.screen #onsite svg.qr").count() == 1
    assert await screen.get_attribute("#onsite .code", "data-code") == code(app, meeting_id)
    await screen.screenshot(path=os.path.join(shots, "meeting-screen.png"), full_page=True, caret="initial")
    await screen.close()

    # the property manager has no phone with him: ticked in by staff
    manager = page.locator("#participants li:has-text('王经理')")
    await manager.locator("button:has-text('登记签到')").click()
    await page.wait_for_selector("#participants li:has-text('王经理') [data-checked-in]", timeout=10_000)
    assert await page.inner_text("#attendance [data-count=present]") == "1"

    # it has started: held
    clock.advance(timedelta(minutes=30))
    await page.click("#meeting-actions button:has-text('标记为已召开')")
    await page.wait_for_selector("#meeting[data-status=held]", timeout=10_000)

    # minutes: the summary and the concern's item
    await page.fill("#summary", "张书记主持，五方到会。")
    await page.click("#summary-form button[type=submit]")
    await page.wait_for_selector("#summary-form-status .saved", timeout=10_000)
    item = page.locator(f"#minutes li:has(a[data-concern='{parking}'])")
    await item.locator("textarea[name=minutes]").fill("物业同意在3栋东侧划定停放区，居民代表负责统计车辆。")
    await item.locator("button[type=submit]").click()
    await item.locator(".saved").wait_for(timeout=10_000)

    # a decision by vote on the concern's item
    decision_form = page.locator("#decision-form")
    item_id = await item.get_attribute("data-item")
    await decision_form.locator("select[name=agenda_item_id]").select_option(item_id)
    await decision_form.locator("textarea[name=text]").fill("在3栋东侧划定电动车停放区")
    assert not await decision_form.locator("input[name=votes_for]").is_visible()  # consensus: no counts
    await decision_form.locator("input[name=method][value=vote]").check()
    await decision_form.locator("input[name=votes_for]").fill("9")
    await decision_form.locator("input[name=votes_against]").fill("1")
    await decision_form.locator("input[name=votes_abstain]").fill("2")
    await decision_form.locator("button[type=submit]").click()
    decision = page.locator("#decisions article.decision")
    await decision.wait_for(timeout=10_000)
    assert await decision.locator("[data-how]").inner_text() == "表决：赞成 9 票，反对 1 票，弃权 2 票"

    # its follow-up: the residents' representative, by a date
    follow_up = decision.locator("form.follow-up-form")
    await follow_up.locator("input[name=title]").fill("统计3栋电动车数量")
    await follow_up.locator("select[name=owner_party]").select_option("resident_rep")
    await follow_up.locator("input[name=due_on]").fill("2026-12-15")
    await follow_up.locator("input[data-account-search]").fill("zhou")
    owner = follow_up.locator(f"input[name=owner_user_id][value='{w.zhou.user_id}']")
    await owner.wait_for(timeout=10_000)
    await owner.check()
    await follow_up.locator("button[type=submit]").click()
    await page.wait_for_selector("#decisions tr[data-follow-up]:has-text('统计3栋电动车数量')", timeout=10_000)
    row = page.locator("#decisions tr[data-follow-up]")
    assert "zhou" in await row.inner_text() and "12月15日" in await row.inner_text()
    await page.screenshot(path=os.path.join(shots, "meeting-held.png"), full_page=True, caret="initial")

    # the minutes go out: read-only, and the concern's timeline says what was decided
    await page.click("#meeting-actions button:has-text('公布纪要')")
    await page.wait_for_selector("#meeting[data-status=minutes_published]", timeout=10_000)
    assert await page.locator("#meeting textarea").count() == 0
    assert "物业同意在3栋东侧划定停放区" in await page.inner_text("#minutes")
    await page.screenshot(path=os.path.join(shots, "meeting-published.png"), full_page=True, caret="initial")
    status, events = await w.concern_state(parking)
    assert status == "in_progress"
    assert [e["kind"] for e in events] == ["submitted", "accepted", "agenda", "decision", "in_progress"]
    assert "统计3栋电动车数量，由zhou负责，2026年12月15日前完成" in events[3]["body"]

    # the follow-ups list, by owner
    await page.click("#meeting-actions a:has-text('全部跟进事项')")
    await page.wait_for_url(f"**{base}/follow-ups", timeout=10_000)
    group = page.locator("tbody[data-owner-group='zhou']")
    assert await group.count() == 1
    assert "统计3栋电动车数量" in await group.inner_text() and "待办" in await group.inner_text()
    await group.locator("select[name=status]").select_option("in_progress")
    await group.locator("input[name=note]").fill("已统计 1 单元")
    await group.locator("button[type=submit]").click()
    await page.wait_for_selector("tbody[data-owner-group='zhou'] tr[data-status=in_progress]", timeout=10_000)
    # the counts above ask for themselves again
    await page.wait_for_selector("#counts [data-count=in_progress]:text-is('1')", timeout=10_000)
    assert await page.inner_text("#counts [data-count=open]") == "0"
    await page.screenshot(path=os.path.join(shots, "follow-ups.png"), full_page=True, caret="initial")
    await page.goto(f"{base}/meetings")
    await page.screenshot(path=os.path.join(shots, "meetings.png"), full_page=True, caret="initial")
    listed = (await client.get(f"/api/v1/communities/{w.b}/follow-ups", headers=w.zhou.headers)).json()
    assert [(f["title"], f["status"], f["note"], f["mine"]) for f in listed["items"]] == [
        ("统计3栋电动车数量", "in_progress", "已统计 1 单元", True)
    ]
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
