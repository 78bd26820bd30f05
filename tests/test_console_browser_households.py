"""In a real browser: a social worker registers a household without WeChat for an elder living
alone through the desk's form, and books her a seat; the API then shows the seat taken and the
booking marked as done at the desk."""

from __future__ import annotations

import os

from tests.conftest import ARTIFACTS
from tests.factories import activity, community, grant, login, platform_admin


async def test_register_an_elder_without_wechat_and_book_her_a_seat(page, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    worker = await login(client, "社工小王")
    await grant(client, admin, place["id"], worker, "staff")
    await client.patch("/api/v1/me", json={"display_name": "社工小王"}, headers=worker.headers)
    talk = await activity(client, worker, place["id"], title="长者健康讲座", category="elders", capacity=20)
    base = f"/console/c/{place['id']}/households"

    # the development login (fake WeChat), straight to the households
    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: url.endswith(base), timeout=10_000)
    assert "还没有住户" in await page.inner_text("#households")

    await page.click("text=登记新住户（代办）")
    await page.wait_for_url(lambda url: url.endswith(f"{base}/new"))
    assert await page.evaluate("document.activeElement.id") == "building"  # keyboard first
    await page.fill("#building", "3栋")
    await page.fill("#unit", "2单元")
    await page.fill("#room", "501")
    await page.fill("#contact_phone", "138 1234 5678")
    await page.fill("#name-1", "王奶奶")
    assert await page.input_value("#kind-1") == "elder"
    await page.screenshot(path=os.path.join(ARTIFACTS, "households-register-form.png"), full_page=True)
    await page.press("#name-1", "Enter")  # Enter submits
    await page.wait_for_url(lambda url: url.endswith("?registered=1"), timeout=10_000)
    assert "3栋2单元501" in await page.inner_text("h1")
    assert "无微信" in await page.inner_text(".heading")
    assert "138****5678" in await page.inner_text("#contact")

    # her phone in full only on a deliberate click (logged)
    await page.click("#contact >> text=显示号码")
    await page.wait_for_selector("#contact .phone.revealed", timeout=10_000)
    assert "13812345678" in await page.inner_text("#contact")

    # book her a seat: the only member is ticked already
    assert "长者健康讲座" in await page.inner_text("#activity")
    assert await page.is_checked("#desk-booking input[name=member_ids]")
    await page.click("#desk-booking >> text=预约")
    await page.wait_for_selector("#desk-booking .notice[data-booked]", timeout=10_000)
    notice = await page.inner_text("#desk-booking .notice")
    assert "已为王奶奶预约「长者健康讲座」" in notice and "已确认" in notice
    assert "社工代办：社工小王" in await page.inner_text("#bookings")
    # and she is one household of the list, found by her name
    await page.click("text=← 住户档案")
    await page.fill("#q", "王奶奶")
    await page.press("#q", "Enter")
    await page.wait_for_url(lambda url: "q=" in url)
    assert "3栋2单元501" in await page.inner_text("#households")
    await page.screenshot(path=os.path.join(ARTIFACTS, "households-list.png"), full_page=True)
    await page.go_back()
    await page.go_back()
    await page.wait_for_selector("#bookings")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation

    # through the API: the household, the seat taken, the booking made at the desk
    listed = (await client.get(f"/api/v1/communities/{place['id']}/households", headers=worker.headers)).json()
    (household,) = listed["items"]
    detail = (await client.get(f"/api/v1/households/{household['id']}", headers=worker.headers)).json()
    assert [(m["display_name"], m["kind"], m["has_account"]) for m in detail["members"]] == [("王奶奶", "elder", False)]
    assert (await client.get(f"/api/v1/activities/{talk['id']}", headers=worker.headers)).json()["taken"] == 1
    roster = (await client.get(f"/api/v1/activities/{talk['id']}/attendance", headers=worker.headers)).json()
    (booking,) = roster["bookings"]
    assert booking["household"] == "3栋2单元501" and booking["attendees"][0]["name"] == "王奶奶"
    seen = (await client.get(f"/api/v1/bookings/{booking['booking_id']}", headers=worker.headers)).json()
    assert (seen["status"], seen["booked_at_desk"], seen["booked_at_desk_by"]) == ("confirmed", True, "社工小王")
