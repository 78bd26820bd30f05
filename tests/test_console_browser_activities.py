"""In a real browser: a social worker creates and publishes an activity through the console's forms,
then checks a resident in at the desk by typing her booking's QR token into the focused input, as a
scanner does."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from api import clock
from tests.conftest import ARTIFACTS
from tests.factories import add_child, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


async def _loop_or_nothing(route):
    """The activity's loop funnel is another page's fragment: where it is not built yet (404), the
    page gets an empty answer instead, so that this test is about what it tests."""
    response = await route.fetch()
    if response.status == 404:
        await route.fulfill(status=200, body="", content_type="text/html; charset=utf-8")
    else:
        await route.fulfill(response=response)


async def test_create_publish_and_check_a_resident_in_at_the_desk(page, client, db):
    clock.freeze(NOW)
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, place["id"], worker, "staff")
    chen = await login(client, "陈阿姨")
    home = (await join(client, chen, place["id"], "1栋", "1单元", "101"))["household"]["id"]
    await add_child(client, chen, home, "小雨", 2018)
    base = f"/console/c/{place['id']}"
    await page.route("**/activities/*/loop", _loop_or_nothing)
    shots = os.path.join(ARTIFACTS, "console-activities")
    os.makedirs(shots, exist_ok=True)

    # the development login, straight to the activities
    await page.goto(f"/console/login?next={base}/activities")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(f"{base}/activities"), timeout=10_000)
    assert "11月30日 周一 – 12月6日 周日" in await page.inner_text("#week-title")

    # create: the form, filled with the keyboard's values
    await page.click("text=＋ 新建活动")
    await page.wait_for_url(f"**{base}/activities/new")
    assert await page.evaluate("document.activeElement.id") == "f-title"
    await page.fill("#f-title", "周二下午故事会")
    await page.select_option("#f-category", "children")
    await page.fill("#f-start", "2026-12-01T09:20")
    await page.fill("#f-end", "2026-12-01T10:30")
    await page.fill("#f-location", "复合空间阅读角")
    await page.fill("#f-capacity", "12")
    await page.fill("#f-description", "绘本故事和手工，家长陪同。")
    # first with the end before the start: the service's rule comes back beside the field
    await page.fill("#f-end", "2026-12-01T09:00")
    await page.click("text=保存为草稿")
    await page.wait_for_selector("#err-end_at", timeout=10_000)
    assert "结束时间应晚于开始时间" in await page.inner_text("#err-end_at")
    await page.screenshot(path=os.path.join(shots, "form-refused.png"), full_page=True)
    # Chromium and htmx log the refused form's status (422) as errors: expected here, and only that
    assert all("422" in message for message in page.linli_errors), page.linli_errors
    page.linli_errors.clear()
    await page.fill("#f-end", "2026-12-01T10:30")
    await page.click("text=保存为草稿")
    await page.wait_for_selector("h1 >> text=周二下午故事会", timeout=10_000)
    assert await page.inner_text("h1 [data-status]") == "草稿"
    activity_id = int(page.url.rsplit("/", 1)[1])

    # publish, after the browser's question
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#activity-actions >> text=发布")
    await page.wait_for_selector("h1 [data-status='published']", timeout=10_000)
    await page.screenshot(path=os.path.join(shots, "activity.png"), full_page=True)
    published = (await client.get(f"/api/v1/activities/{activity_id}", headers=chen.headers)).json()
    assert published["status"] == "published" and published["start_at"] == "2026-12-01T09:20:00+08:00"

    # the resident books on her phone and opens her booking's QR
    booked = await client.post(f"/api/v1/activities/{activity_id}/bookings", json={}, headers=chen.headers)
    assert booked.status_code == 201, booked.text
    code = await client.get(f"/api/v1/bookings/{booked.json()['id']}/checkin-code", headers=chen.headers)
    token = code.json()["token"]

    # what staff look at before the door opens (kept as screenshots to look at)
    await page.goto(f"{base}/activities/{activity_id}/cancel")
    assert await page.inner_text("[data-count='told']") == "1"
    await page.screenshot(path=os.path.join(shots, "cancel-preview.png"), full_page=True)
    await page.goto(f"{base}/activities/calendar")
    await page.screenshot(path=os.path.join(shots, "calendar.png"), full_page=True)
    await page.goto(f"{base}/activities")
    assert await page.locator(f"tr[data-activity='{activity_id}']").count() == 1
    await page.screenshot(path=os.path.join(shots, "week.png"), full_page=True)
    await page.goto(f"{base}/activities/{activity_id}")

    # the desk: the scan input has the focus; the scanner types the token and Enter
    await page.click("#activity-actions >> text=签到台")
    await page.wait_for_url(f"**{base}/activities/{activity_id}/desk")
    assert await page.evaluate("document.activeElement.id") == "scan"
    assert await page.locator("#onsite svg.qr").count() == 1
    await page.keyboard.type(token)
    await page.keyboard.press("Enter")
    answer = page.locator("#scan-result [data-outcome]")
    await answer.wait_for(timeout=10_000)
    assert await answer.get_attribute("data-outcome") == "checked_in"
    assert "签到成功，1 人" in await answer.inner_text() and "陈阿姨" in await answer.inner_text()
    # ready for the next scan: cleared and focused; the roster has her ticked
    assert await page.input_value("#scan") == ""
    assert await page.evaluate("document.activeElement.id") == "scan"
    await page.wait_for_selector("#roster .tick-done >> text=陈阿姨", timeout=10_000)
    assert await page.inner_text("#roster [data-count='checked_in']") == "1"

    attendance = await client.get(f"/api/v1/activities/{activity_id}/attendance", headers=worker.headers)
    (person,) = attendance.json()["bookings"][0]["attendees"]
    assert person["name"] == "陈阿姨" and person["checked_in_at"] == "2026-12-01T09:00:00+08:00"
    assert person["checkin_method"] == "scan"

    # the same code again: the desk says so and changes nothing
    await page.keyboard.type(token)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#scan-result [data-outcome='already']", timeout=10_000)

    # the on-site code, large, on a second screen turned towards the residents
    screen = await page.context.new_page()
    screen.on("console", lambda m: page.linli_errors.append(m.text) if m.type == "error" else None)
    await screen.goto(f"{base}/activities/{activity_id}/desk/screen")
    assert await screen.locator("main.screen svg.qr").count() == 1
    await screen.screenshot(path=os.path.join(shots, "onsite-screen.png"), full_page=True)
    await screen.close()
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
