"""In a real browser: a closure added in the console's calendar of closed days, and then a book lent
at the library desk whose due date would have fallen on it comes due the next opening day; an
admin changing a space's weekly hours in the grid; the rules' forms. Screenshots of the spaces,
the closures calendar and the rules page."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from api import clock
from tests.conftest import ARTIFACTS
from tests.factories import Person, add_child, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai: a 14-day loan is due on Tuesday the 15th
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def _setup(client: Any, db: Any) -> tuple[int, int, Person, Person]:
    clock.freeze(NOW)
    root = await platform_admin(client, db)
    place = (await community(client, root, "幸福里社区"))["id"]
    made = await client.post(f"/api/v1/communities/{place}/spaces", json={"name": "复合空间"}, headers=root.headers)
    assert made.status_code == 201
    admin = await login(client, "站长老李")
    await grant(client, root, place, admin, "admin")
    worker = await login(client, "社工小王")
    await grant(client, root, place, worker, "staff")
    return place, made.json()["id"], admin, worker


async def _sign_in(page: Any, person: Person, target: str) -> None:
    await page.goto(f"/console/login?next={target}")
    await page.select_option("#dev-user", str(person.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(f"**{target}", timeout=10_000)


async def _scan(page: Any, code: str, answer: str) -> None:
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"#desk-result [data-answer='{answer}']", timeout=10_000)


async def test_a_closure_added_in_the_calendar_moves_the_library_due_date(page, client, db):
    place, space, _admin, worker = await _setup(client, db)
    mother = await login(client, "陈阿姨")
    home = (await join(client, mother, place, "3栋", "2单元", "501"))["household"]["id"]
    await add_child(client, mother, home, "陈小雨", 2018)
    book = await client.post(
        f"/api/v1/communities/{place}/books", json={"title": "猜猜我有多爱你"}, headers=worker.headers
    )
    copy = await client.post(
        f"/api/v1/books/{book.json()['id']}/copies", json={"barcode": "BQ00042"}, headers=worker.headers
    )
    assert copy.status_code == 201

    calendar = f"/console/c/{place}/settings/closures"
    await _sign_in(page, worker, calendar)
    assert "复合空间 · 2026年12月" in await page.inner_text("#calendar h2")
    assert await page.get_attribute("td[data-day='2026-12-07']", "data-state") == "weekly"  # Mondays
    assert await page.get_attribute("td[data-day='2026-12-15']", "data-state") == "open"
    # a refusal shows beside its field, what was typed kept
    await page.fill("#closure-starts", "2026-12-16")
    await page.fill("#closure-ends", "2026-12-15")
    await page.fill("#closure-reason", "设备维修")
    await page.click("#closure-form button[type=submit]")
    await page.wait_for_selector("#err-ends_on", timeout=10_000)
    assert await page.inner_text("#err-ends_on") == "结束日期不能早于开始日期"
    assert await page.input_value("#closure-reason") == "设备维修"
    assert all("422" in message for message in page.linli_errors), page.linli_errors  # the refusal, logged
    page.linli_errors.clear()

    await page.fill("#closure-starts", "2026-12-15")
    await page.fill("#closure-ends", "2026-12-16")
    await page.click("#closure-form button[type=submit]")
    await page.wait_for_selector("td[data-day='2026-12-15'][data-state='closure']", timeout=10_000)
    assert await page.get_attribute("td[data-day='2026-12-16']", "data-state") == "closure"
    assert "设备维修" in await page.inner_text("td[data-day='2026-12-15']")
    assert "12月15日 周二 至 12月16日 周三" in await page.inner_text("#upcoming-closures")
    closures = await client.get(f"/api/v1/spaces/{space}/closures", headers=worker.headers)
    assert [(c["starts_on"], c["ends_on"]) for c in closures.json()] == [("2026-12-15", "2026-12-16")]
    # next month and back
    await page.click("#calendar a[rel=next]")
    await page.wait_for_selector("#calendar[data-month='2027-01']", timeout=10_000)
    await page.click("#calendar a[rel=prev]")
    await page.wait_for_selector("#calendar[data-month='2026-12']", timeout=10_000)
    await page.screenshot(path=os.path.join(ARTIFACTS, "console-settings-closures.png"), full_page=True)

    # the desk: 14 days from today is the 15th, closed; the 16th too: due on Thursday the 17th
    await page.goto(f"/console/c/{place}/library")
    await page.wait_for_selector("#desk-code", timeout=10_000)
    await page.focus("#desk-code")
    await _scan(page, "BQ00042", "ask_reader")
    await _scan(page, "陈小雨", "lent")
    assert await page.inner_text("#desk-result .answer .due") == "12月17日 周四"
    loans = (await client.get("/api/v1/me/loans", headers=mother.headers)).json()["loans"]
    assert [loan["due_on"] for loan in loans] == ["2026-12-17"]
    assert not page.linli_errors, page.linli_errors


async def test_an_admin_sets_a_spaces_week_and_staff_change_the_rules(page, client, db):
    place, space, admin, _worker = await _setup(client, db)
    target = f"/console/c/{place}/settings/spaces/{space}"
    await _sign_in(page, admin, target)
    # Tuesday: a morning and an afternoon; Sunday closed
    await page.fill("input[name='to-tue-0']", "12:00")
    await page.fill("input[name='from-tue-1']", "14:00")
    await page.fill("input[name='to-tue-1']", "9:00")
    await page.uncheck("input[name='open-sun']")
    await page.click("#space-form button[type=submit]")
    await page.wait_for_selector("#err-hours-tue", timeout=10_000)
    assert await page.inner_text("#err-hours-tue") == "14:00–09:00：结束时间应晚于开始时间"
    assert all("422" in message for message in page.linli_errors), page.linli_errors
    page.linli_errors.clear()
    await page.fill("input[name='to-tue-1']", "18:00")
    await page.click("#space-form button[type=submit]")
    await page.wait_for_selector("[data-saved]", timeout=10_000)
    row = page.locator(f"tr[data-space='{space}']")
    assert await row.locator("td[data-day='tue']").inner_text() == "09:00–12:00\n14:00–18:00"
    assert await row.locator("td[data-day='sun']").inner_text() == "不开放"
    spaces = (await client.get(f"/api/v1/communities/{place}/spaces", headers=admin.headers)).json()
    assert spaces[0]["opening_hours"]["tue"] == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert spaces[0]["opening_hours"]["sun"] == []
    await page.screenshot(path=os.path.join(ARTIFACTS, "console-settings-spaces.png"), full_page=True)

    await page.click("nav.tabs a:has-text('活动与借阅规则')")
    await page.wait_for_selector("#library-rules", timeout=10_000)
    await page.fill("#lib-loan_days", "130")
    await page.click("#library-rules button[type=submit]")
    await page.wait_for_selector("#err-lib-loan_days", timeout=10_000)
    assert await page.inner_text("#err-lib-loan_days") == "不能大于 120"
    assert all("422" in message for message in page.linli_errors), page.linli_errors
    page.linli_errors.clear()
    await page.fill("#lib-loan_days", "21")
    await page.click("#library-rules button[type=submit]")
    await page.wait_for_selector("#library-rules [data-saved]", timeout=10_000)
    await page.fill("#act-reminder_hours", "2")
    await page.click("#activity-rules button[type=submit]")
    await page.wait_for_selector("#activity-rules [data-saved]", timeout=10_000)
    loan = (await client.get(f"/api/v1/communities/{place}/loan-policy", headers=admin.headers)).json()
    activity = (await client.get(f"/api/v1/communities/{place}/activity-policy", headers=admin.headers)).json()
    assert loan["loan_days"] == 21 and activity["reminder_hours"] == 2
    await page.screenshot(path=os.path.join(ARTIFACTS, "console-settings-rules.png"), full_page=True)
    assert not page.linli_errors, page.linli_errors
