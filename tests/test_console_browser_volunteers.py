"""In a real browser: a social worker opens the volunteer teams, approves a resident's request to
join the public volunteer team, opens the week's shifts, creates a shift for Saturday morning and
sees it in its week with its slots (one volunteer signs up through the API: 1/3 and their name);
then opens the on-duty screen of a shift under way, sees the rotating code, and confirms by hand
the check-in of a volunteer without a phone. Screenshots: the teams, a team, the week, the
on-duty screen."""

from __future__ import annotations

import os
import re

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_volunteers import NOW, V

API = "/api/v1"


def shot(name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, f"console-volunteers-{name}.png")


async def test_staff_run_teams_and_the_week_of_shifts_and_the_door_screen(page, app, client, db):
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai
    v = await V().build(client, db)
    base = f"/console/c/{v.b}/volunteers"
    wu = await v.resident("wu", "105")
    assert (await client.post(f"{API}/teams/{v.team}/join", headers=wu.headers)).status_code == 200
    under_way = await v.shift(start=0.25, hours_long=3, needed=2)  # 10:15–13:15
    assert (await v.sign_up(v.zhang, under_way["id"])).status_code == 201
    page.on("dialog", lambda dialog: dialog.accept())

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(v.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "志愿服务"
    row = page.locator(f"tr[data-team='{v.team}']")
    assert await row.locator("[data-leaders]").inner_text() == "liu"
    assert await row.locator("[data-count=members]").inner_text() == "3"
    assert await row.locator("[data-count=pending]").inner_text() == "1"
    await page.screenshot(path=shot("teams"), full_page=True, caret="initial")

    # the team: wu's request approved, wu listed among the members
    await row.locator("a.title").click()
    await page.wait_for_url(f"**{base}/teams/{v.team}", timeout=10_000)
    await page.click(f"tr[data-request='{wu.user_id}'] button:has-text('通过')")
    await page.wait_for_selector(f"tr[data-member='{wu.user_id}']", timeout=10_000)
    assert await page.inner_text("#requests [data-count=pending]") == "0"
    assert await page.inner_text("#team-people [data-count=members]") == "4"
    roster = (await client.get(f"{API}/teams/{v.team}", headers=v.staff.headers)).json()["roster"]
    assert ("wu", "active") in [(m["display_name"], m["status"]) for m in roster]
    await page.screenshot(path=shot("team"), full_page=True, caret="initial")

    # the week: a new shift on Saturday morning
    await page.click("nav.tabs a:has-text('岗位排班')")
    await page.wait_for_url(f"**{base}/shifts", timeout=10_000)
    await page.click(".vol-week-head a:has-text('新建岗位')")
    await page.wait_for_url(f"**{base}/shifts/new", timeout=10_000)
    await page.fill("#s-role", "周末绘本共读")
    await page.fill("#s-place", "复合空间二楼")
    await page.fill("#s-start", "2026-12-05T09:00")
    await page.fill("#s-end", "2026-12-05T11:30")
    await page.fill("#s-needed", "3")
    await page.click("#shift-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/shifts\?week=2026-12-05.*"), timeout=10_000)
    made = page.locator("section[data-day='2026-12-05'] tr[data-shift]")
    assert await made.count() == 1
    shift_id = int(await made.get_attribute("data-shift") or 0)
    assert "周末绘本共读" in await made.inner_text()
    assert await made.locator("[data-slots]").inner_text() == "0/3"
    assert (await v.sign_up(v.sun, shift_id)).status_code == 201
    await page.reload()
    made = page.locator(f"tr#shift-{shift_id}")
    assert await made.locator("[data-slots]").inner_text() == "1/3"
    assert "sun" in await made.locator("[data-people]").inner_text()
    await page.screenshot(path=shot("week"), full_page=True, caret="initial")

    # the door's screen of the shift under way: the code, and zhang checked in by hand
    clock.freeze(NOW.replace(minute=20))
    await page.click(f"tr#shift-{under_way['id']} a:has-text('值班屏')")
    await page.wait_for_url(f"**{base}/shifts/{under_way['id']}/duty", timeout=10_000)
    code = await page.get_attribute("#onsite [data-code]", "data-code")
    assert code and code == await v.code(under_way["id"])
    assert await page.locator("#onsite svg.qr").count() == 1
    await page.click(f"#duty-people tr[data-person='{v.zhang.user_id}'] button:has-text('确认签到')")
    await page.wait_for_selector(f"tr[data-person='{v.zhang.user_id}'] [data-person-state=in]", timeout=10_000)
    signups = (await client.get(f"{API}/shifts/{under_way['id']}", headers=v.staff.headers)).json()["signups"]
    assert [(s["user_id"], s["checked_in_at"] is not None) for s in signups] == [(v.zhang.user_id, True)]
    await page.screenshot(path=shot("duty"), full_page=True, caret="initial")

    # a standing duty: opening the space on Tuesdays and Thursdays afternoons, four weeks made
    await page.goto(f"{base}/rules")
    await page.fill("#r-role", "开馆值班")
    await page.fill("#r-place", "复合空间")
    for day in ("tue", "thu"):
        await page.check(f"#rule-form input[name=weekdays][value={day}]")
    await page.click("#rule-form button[type=submit]")
    await page.wait_for_selector("#made", timeout=10_000)
    assert "8 个岗位" in await page.inner_text("#made")
    duty = page.locator("#rules tr[data-rule]")
    assert await duty.count() == 1 and "周二、周四" in await duty.inner_text()
    await page.screenshot(path=shot("rules"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
