"""In a real browser: a concern a resident raised through the API (its text checked by the worker)
appears on the console's board under 待受理; staff filter the board by building, open the concern,
accept it at level 3 and see it placed on the agenda of the coming five-party meeting, post a
public update; the resident reads the update through the API."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from tests.conftest import ARTIFACTS
from tests.factories import community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker


async def test_a_raised_concern_is_triaged_to_the_five_party_meeting_and_updated(page, app, client, db):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "幸福里社区")
    cid = place["id"]
    worker = await login(client, "社工小王")
    await grant(client, admin, cid, worker, "staff")
    chen = await login(client, "陈阿姨")
    await join(client, chen, cid, building="3栋", room="301")
    sun = await login(client, "孙大爷")
    await join(client, sun, cid, building="5栋", room="502")

    raised = await client.post(
        f"/api/v1/communities/{cid}/concerns",
        json={
            "category": "parking",
            "building": "3栋",
            "place": "3栋单元门口",
            "title": "电动车乱停堵住楼道口",
            "body": "晚上电动车停满单元门口，老人推轮椅出不去。",
        },
        headers=chen.headers,
    )
    assert raised.status_code == 201, raised.text
    concern_id = raised.json()["id"]
    elsewhere = await client.post(
        f"/api/v1/communities/{cid}/concerns",
        json={"category": "noise", "building": "5栋", "title": "广场舞音响太吵"},
        headers=sun.headers,
    )
    assert elsewhere.status_code == 201, elsewhere.text
    other_id = elsewhere.json()["id"]
    await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()  # the text checks
    assert (await client.get(f"/api/v1/concerns/{concern_id}", headers=sun.headers)).status_code == 200  # visible

    starts = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    meeting = await client.post(
        f"/api/v1/communities/{cid}/meetings",
        json={
            "kind": "five_party",
            "title": "本月五方议事会",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "place": "社区议事厅",
        },
        headers=worker.headers,
    )
    assert meeting.status_code == 201, meeting.text
    meeting_id = meeting.json()["id"]

    board = f"/console/c/{cid}/concerns"
    await page.goto(f"/console/login?next={board}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(board), timeout=10_000)
    submitted = page.locator('section[data-column="submitted"]')
    assert await submitted.locator(f'article[data-concern="{concern_id}"]').count() == 1
    assert await submitted.locator(f'article[data-concern="{other_id}"]').count() == 1
    assert "电动车乱停堵住楼道口" in await submitted.inner_text()
    assert (await page.inner_text("#col-submitted .count")).strip() == "2"

    # filter by building: the filters go into the URL, and only 3栋's concern stays
    await page.select_option("#f-building", "3栋")
    async with page.expect_navigation(timeout=10_000):
        await page.click("form.filters button[type=submit]")
    assert "building=3%E6%A0%8B" in page.url or "building=3栋" in page.url
    assert await submitted.locator(f'article[data-concern="{concern_id}"]').count() == 1
    assert await submitted.locator(f'article[data-concern="{other_id}"]').count() == 0
    assert (await page.inner_text("#col-submitted .count")).strip() == "1"
    await page.screenshot(path=os.path.join(ARTIFACTS, "concerns-board.png"), full_page=True)

    # open it and accept it at level 3: it goes on the coming five-party meeting's agenda
    async with page.expect_navigation(timeout=10_000):
        await page.click(f'article[data-concern="{concern_id}"] a.card-title')
    assert "电动车乱停堵住楼道口" in await page.inner_text("h1")
    assert "陈阿姨" in await page.inner_text("#raiser")
    assert "本月五方议事会" in await page.inner_text("#accept-meeting-hint")
    await page.check('#accept-form input[name="level"][value="3"]')
    await page.screenshot(path=os.path.join(ARTIFACTS, "concerns-accept.png"), full_page=True)
    async with page.expect_navigation(timeout=10_000):
        await page.click("#accept-form button[type=submit]")
    await page.wait_for_selector(f'#agenda a[href="/console/c/{cid}/meetings/{meeting_id}"]', timeout=10_000)
    assert "本月五方议事会" in await page.inner_text("#agenda")
    assert "三级：提交五方议事会" in await page.inner_text("#facts")
    assert "列入议程" in await page.inner_text("#timeline")

    # a public update
    await page.fill("#u-body", "已列入本月五方议事会议程，物业和业委会将一起商量车棚位置。")
    async with page.expect_navigation(timeout=10_000):
        await page.click("#update-form button[type=submit]")
    await page.wait_for_selector('#timeline li[data-event="update"]', timeout=10_000)
    assert "物业和业委会将一起商量车棚位置" in await page.inner_text('#timeline li[data-event="update"]')
    await page.screenshot(path=os.path.join(ARTIFACTS, "concerns-concern.png"), full_page=True)

    # the resident reads it through the API: the meeting, once its agenda is out
    hidden = (await client.get(f"/api/v1/concerns/{concern_id}", headers=chen.headers)).json()
    assert hidden["agenda"] == []  # a draft meeting is not shown to residents
    published = await client.post(f"/api/v1/meetings/{meeting_id}/publish-agenda", headers=worker.headers)
    assert published.status_code == 200, published.text
    seen = await client.get(f"/api/v1/concerns/{concern_id}", headers=chen.headers)
    assert seen.status_code == 200
    body = seen.json()
    assert (body["status"], body["level"]) == ("accepted", 3)
    assert [a["meeting_id"] for a in body["agenda"]] == [meeting_id]
    updates = [e for e in body["timeline"] if e["kind"] == "update"]
    assert [e["body"] for e in updates] == ["已列入本月五方议事会议程，物业和业委会将一起商量车棚位置。"]
    assert updates[0]["actor"]["name"] == "社工"
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
