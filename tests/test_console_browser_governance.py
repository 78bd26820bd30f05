"""In a real browser, the whole chain of issue 15: a concern a resident raised through the API
appears on the console's board; staff triage it to level 3 (no five-party meeting is planned yet,
so it waits), plan the meeting in the console (it takes the concern up), publish the agenda, hold
the meeting once it has started, write the minutes, record a decision with a follow-up, publish
the minutes (the concern moves to 处理中 with the decision on its timeline) and resolve the concern
with the result; the resident reads the result through the API and answers 部分解决, which the
concern's page shows staff."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from api import clock
from tests.conftest import ARTIFACTS
from tests.factories import community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 December 2026, 10:00 in Shanghai


async def test_a_concern_goes_to_the_five_party_meeting_and_comes_back_with_the_residents_verdict(
    page, app, client, db
):
    clock.freeze(NOW)
    admin = await platform_admin(client, db)
    cid = (await community(client, admin, "幸福里社区"))["id"]
    staff = await login(client, "社工小王")
    await grant(client, admin, cid, staff, "staff")
    chen = await login(client, "陈阿姨")
    await join(client, chen, cid, building="3栋", room="301")
    zhou = await login(client, "周叔叔")
    await join(client, zhou, cid, building="3栋", room="402")
    page.on("dialog", lambda dialog: dialog.accept())

    raised = await client.post(
        f"/api/v1/communities/{cid}/concerns",
        json={
            "category": "parking",
            "building": "3栋",
            "place": "3栋单元门口",
            "title": "电动车乱停堵住楼道口",
            "body": "晚上电动车停满单元门口，老人推轮椅出不去。",
            "hide_name": True,
        },
        headers=chen.headers,
    )
    assert raised.status_code == 201, raised.text
    concern_id = raised.json()["id"]
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()  # the text check
    metoo = await client.post(f"/api/v1/concerns/{concern_id}/metoo", headers=zhou.headers)
    assert metoo.status_code == 200, metoo.text

    # the board: waiting for an answer
    base = f"/console/c/{cid}"
    await page.goto(f"/console/login?next={base}/concerns")
    await page.select_option("#dev-user", str(staff.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(f"{base}/concerns"), timeout=10_000)
    card = page.locator(f'section[data-column="submitted"] article[data-concern="{concern_id}"]')
    assert await card.count() == 1 and "电动车乱停堵住楼道口" in await card.inner_text()

    # level 3 with no five-party meeting planned: it waits for one
    async with page.expect_navigation(timeout=10_000):
        await card.locator("a.card-title").click()
    assert "陈阿姨" in await page.inner_text("#raiser")  # staff see who raised it, hidden or not
    await page.check('#accept-form input[name="level"][value="3"]')
    async with page.expect_navigation(timeout=10_000):
        await page.click("#accept-form button[type=submit]")
    assert "三级：提交五方议事会" in await page.inner_text("#facts")
    assert "等待" in await page.inner_text("#agenda")

    # the meeting, planned half an hour ahead, takes the concern up
    await page.goto(f"{base}/meetings")
    await page.select_option("#m-kind", "five_party")
    await page.fill("#m-title", "十二月五方议事会")
    await page.fill("#m-starts", "2026-12-01T10:30")
    await page.fill("#m-ends", "2026-12-01T12:00")
    await page.fill("#m-place", "社区议事厅")
    await page.click("#meeting-form button[type=submit]")
    await page.wait_for_url(lambda url: "/meetings/" in url, timeout=10_000)
    meeting_id = int(page.url.rsplit("/", 1)[1])
    assert await page.locator(f"#agenda a[data-concern='{concern_id}']").count() == 1
    form = page.locator("#participant-form")
    await form.locator("select[name=party]").select_option("property")
    await form.locator("input[name=name]").fill("王经理")
    await form.locator("input[name=role]").fill("物业经理")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("#participants li:has-text('王经理')", timeout=10_000)
    await page.click("#meeting-actions button:has-text('公布议程')")
    await page.wait_for_selector("#meeting[data-status=agenda_published]", timeout=10_000)

    # it has started: held; the minutes of the concern's item, a decision and its follow-up
    clock.advance(timedelta(minutes=30))
    await page.click("#meeting-actions button:has-text('标记为已召开')")
    await page.wait_for_selector("#meeting[data-status=held]", timeout=10_000)
    item = page.locator(f"#minutes li:has(a[data-concern='{concern_id}'])")
    await item.locator("textarea[name=minutes]").fill("物业同意在3栋东侧划定电动车停放区。")
    await item.locator("button[type=submit]").click()
    await item.locator(".saved").wait_for(timeout=10_000)
    decision_form = page.locator("#decision-form")
    await decision_form.locator("select[name=agenda_item_id]").select_option(await item.get_attribute("data-item"))
    await decision_form.locator("textarea[name=text]").fill("在3栋东侧划定电动车停放区")
    await decision_form.locator("button[type=submit]").click()
    decision = page.locator("#decisions article.decision")
    await decision.wait_for(timeout=10_000)
    assert await decision.locator("[data-how]").inner_text() == "协商一致"
    follow_up = decision.locator("form.follow-up-form")
    await follow_up.locator("input[name=title]").fill("施划停放区标线")
    await follow_up.locator("select[name=owner_party]").select_option("property")
    await follow_up.locator("input[name=owner_name]").fill("王经理")
    await follow_up.locator("input[name=due_on]").fill("2026-12-10")
    await follow_up.locator("button[type=submit]").click()
    await page.wait_for_selector("#decisions tr[data-follow-up]:has-text('施划停放区标线')", timeout=10_000)

    # the minutes go out: the concern is being handled, the decision on its timeline
    await page.click("#meeting-actions button:has-text('公布纪要')")
    await page.wait_for_selector("#meeting[data-status=minutes_published]", timeout=10_000)
    await page.goto(f"{base}/concerns/{concern_id}")
    assert "处理中" in await page.inner_text("h1")
    decided = page.locator('#timeline li[data-event="decision"]')
    assert "在3栋东侧划定电动车停放区" in await decided.inner_text()
    assert "施划停放区标线" in await decided.inner_text()

    # the follow-up done, staff resolve it with the result
    await page.fill("#s-result", "物业已在3栋东侧施划停放区标线，单元门口不再停车。")
    async with page.expect_navigation(timeout=10_000):
        await page.click("#resolve-form button[type=submit]")
    assert "已解决" in await page.inner_text("h1")

    # the resident reads the result and answers: partly solved
    seen = await client.get(f"/api/v1/concerns/{concern_id}", headers=chen.headers)
    assert seen.status_code == 200
    body = seen.json()
    assert body["status"] == "resolved" and body["result"] == "物业已在3栋东侧施划停放区标线，单元门口不再停车。"
    assert [e["kind"] for e in body["timeline"] if e["kind"] in ("decision", "resolved")] == ["decision", "resolved"]
    neighbour = (await client.get(f"/api/v1/concerns/{concern_id}", headers=zhou.headers)).json()
    assert "陈阿姨" not in str(neighbour)  # her name stays hidden from the neighbour
    verdict = await client.post(
        f"/api/v1/concerns/{concern_id}/verdict",
        json={"answer": "partly", "stars": 4, "word": "晚上还是有人停在门口"},
        headers=chen.headers,
    )
    assert verdict.status_code == 201, verdict.text
    after = (await client.get(f"/api/v1/concerns/{concern_id}", headers=chen.headers)).json()
    assert after["status"] == "resolved"  # partly solved does not reopen it

    await page.reload()
    summary = await page.inner_text("#verdict-summary")
    assert "部分解决 1" in summary
    assert "晚上还是有人停在门口" in await page.inner_text("#verdicts")  # staff read the word
    await page.screenshot(path=os.path.join(ARTIFACTS, "governance-chain.png"), full_page=True)
    meeting = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=zhou.headers)).json()
    assert [d["text"] for d in meeting["decisions"]] == ["在3栋东侧划定电动车停放区"]
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
