"""In a real browser (the acceptance test of the polls' console): a social worker drafts a household
poll in the console — the electorate's preview answering a change of electorate, a second question
added on the server — and publishes it; two residents vote through the API; the live turnout says
two of three households; an elder's paper ballot is entered in the console with its photo, the
elector found on the roll by address; the roll shows who took part and how; the poll closes (the
clock moved past its close and the worker's `polls.close` run) and the console shows the result
with its turnout, and the XLSX export downloads. Screenshots of each page go to
tests/artifacts/console-polls/."""

from __future__ import annotations

import os
import re
from datetime import timedelta

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_concerns import jpeg
from tests.test_polls import NOW, World, settings  # noqa: F401 - settings is a fixture


async def test_staff_open_a_household_poll_enter_a_paper_ballot_and_read_the_result(page, app, client, db):
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai
    w = await World().build(client, app)
    base = f"/console/c/{w.b}/polls"
    shots = os.path.join(ARTIFACTS, "console-polls")
    os.makedirs(shots, exist_ok=True)
    page.on("dialog", lambda dialog: dialog.accept())

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(w.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "投票选举"
    assert "还没有投票或选举" in await page.inner_text("#polls")

    # a new household poll: the roll's preview follows the electorate
    await page.click("a:has-text('新建投票')")
    await page.wait_for_url(f"**{base}/new?kind=poll", timeout=10_000)
    assert await page.inner_text("#electorate-preview [data-count=electors]") == "3"
    await page.select_option("#p-electorate", "resident")
    await page.wait_for_selector("#electorate-preview [data-electorate=resident]", timeout=10_000)
    assert await page.inner_text("#electorate-preview [data-count=electors]") == "5"  # adults, the elder too
    await page.select_option("#p-electorate", "household")
    await page.wait_for_selector("#electorate-preview [data-electorate=household]", timeout=10_000)
    await page.fill("#p-title", "屋顶花园怎么用")
    await page.fill("#p-body", "3栋屋顶花园明年重新布置，请每户选一个方案。")
    await page.fill("#p-opens", "2026-12-01T10:00")
    await page.fill("#p-closes", "2026-12-01T11:00")
    await page.fill("#q-0-text", "屋顶花园改作什么用？")
    await page.fill("#q-0-options", "种菜\n花园\n晾晒区")
    # a second question, added by the server with what was typed kept
    await page.click("#poll-form button:has-text('添加一题')")
    await page.wait_for_selector("#q-1-text", timeout=10_000)
    assert await page.input_value("#q-0-text") == "屋顶花园改作什么用？"
    await page.fill("#q-1-text", "还想要哪些设施？")
    await page.select_option("#q-1-kind", "multiple")
    assert await page.is_visible("#q-1-max")  # a multiple choice's bounds
    await page.fill("#q-1-max", "2")
    await page.fill("#q-1-options", "花架\n座椅\n遮阳棚")
    await page.check("input[name=q-1-allow_text]")
    await page.screenshot(path=os.path.join(shots, "poll-form.png"), full_page=True, caret="initial")
    await page.click("#poll-form button[value=save]")
    await page.wait_for_url(re.compile(r".*/polls/\d+$"), timeout=10_000)
    poll_id = int(page.url.rsplit("/", 1)[1])
    assert await page.get_attribute("#poll", "data-phase") == "draft"
    assert "意向征询" in await page.inner_text("#poll h1")

    # published with its start come: open, the roll taken
    await page.click("#poll-actions button:has-text('发布')")
    await page.wait_for_selector("#poll[data-phase=voting]", timeout=10_000)
    assert await page.inner_text("#turnout [data-count=electors]") == "3"
    assert await page.inner_text("#turnout [data-count=participants]") == "0"

    # two residents vote in the app
    for person, answers in (
        (w.chen, [{"question": 0, "options": [1]}, {"question": 1, "options": [0, 1]}]),
        (w.li, [{"question": 0, "options": [1]}, {"question": 1, "options": [2], "text": "要有遮阳"}]),
    ):
        voted = await client.post(f"/api/v1/polls/{poll_id}/ballot", json={"answers": answers}, headers=person.headers)
        assert voted.status_code == 201, voted.text
    await page.reload()
    assert await page.inner_text("#turnout [data-count=participants]") == "2"
    assert await page.inner_text("#turnout [data-count=percent]") == "66.67"
    assert await page.locator("#results").count() == 0  # no results before the close, staff included
    await page.screenshot(path=os.path.join(shots, "poll-voting.png"), full_page=True, caret="initial")

    # 王奶奶's paper ballot for 102, found on the roll by address, with its photo
    await page.click("#poll-actions a:has-text('登记纸质选票')")
    await page.wait_for_url(f"**{base}/{poll_id}/entries", timeout=10_000)
    await page.fill("#entry-q", "102")
    choice = page.locator("#entry-electors input[name=elector]")
    await choice.wait_for(timeout=10_000)
    assert "3栋1单元102" in await page.inner_text("#entry-electors")
    await choice.check()
    assert not await page.is_visible("#entry-proxy")  # a proxy's name only for a proxy
    await page.set_input_files(
        "#entry-photo", files=[{"name": "ballot.jpg", "mimeType": "image/jpeg", "buffer": jpeg((30, 60, 90))}]
    )
    await page.check("fieldset[data-question='0'] input[value='0']")
    await page.check("fieldset[data-question='1'] input[value='0']")
    await page.fill("textarea[name=q-1-text]", "楼下也要有座椅")
    await page.click("#entry-form button[type=submit]")
    await page.wait_for_selector("#entry .saved-entry", timeout=10_000)
    assert "已登记 3栋1单元102 的纸质选票（附照片）" in await page.inner_text("#entry .saved-entry")
    await page.screenshot(path=os.path.join(shots, "poll-entries.png"), full_page=True, caret="initial")

    # the roll: who took part and how
    await page.goto(f"{base}/{poll_id}/roll")
    rows = page.locator("#roll tr[data-elector]")
    assert await rows.count() == 3
    assert await page.locator("#roll td[data-participated=true]").count() == 3
    assert "纸质选票" in await page.inner_text("#roll tr:has-text('3栋1单元102')")
    await page.screenshot(path=os.path.join(shots, "poll-roll.png"), full_page=True, caret="initial")

    # the close passes; the worker counts
    clock.advance(timedelta(hours=1, minutes=1))
    await w.run_worker()
    await page.goto(f"{base}/{poll_id}")
    await page.wait_for_selector("#poll[data-phase=closed] #results", timeout=10_000)
    results = page.locator("#results")
    assert await results.locator("[data-count=participants]").inner_text() == "3"
    assert await results.locator("[data-count=percent]").inner_text() == "100.00"
    assert await results.locator("[data-channel=app]").inner_text() == "2"
    assert await results.locator("[data-channel=paper]").inner_text() == "1"
    garden = results.locator("article[data-question='0'] tr[data-option='1']")
    assert "66.67%" in await garden.inner_text() and "过半数" in await garden.inner_text()
    assert "多数意见：花园（66.67%）（仅供参考）" in await results.inner_text()
    await page.screenshot(path=os.path.join(shots, "poll-results.png"), full_page=True, caret="initial")
    async with page.expect_download() as download_info:
        await page.click("#poll-actions a:has-text('导出 XLSX')")
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")

    await page.goto(base)
    row = page.locator(f"#polls tr[data-poll='{poll_id}']")
    assert "3/3户（100.00%）" in await row.inner_text() and "已结束" in await row.inner_text()
    await page.screenshot(path=os.path.join(shots, "polls.png"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation


async def test_an_owners_vote_is_drafted_and_an_election_tie_is_drawn_by_lot(page, app, client, db):
    """The rule changed to art. 278 re-renders the form for the flats with 同意/反对/弃权; an election's
    tie at the last seat is settled by lot on its page."""
    clock.freeze(NOW)
    w = await World().build(client, app)
    base = f"/console/c/{w.b}/polls"
    shots = os.path.join(ARTIFACTS, "console-polls")
    os.makedirs(shots, exist_ok=True)
    page.on("dialog", lambda dialog: dialog.accept())
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, 10120)
    # an election for two seats whose three candidates have two votes of three each
    election = await w.opened(
        kind="election",
        title="院落自治委员会选举",
        opens_at=NOW.isoformat(),
        closes_at=(NOW + timedelta(hours=1)).isoformat(),
    )
    for person, chosen in ((w.chen, [0, 1]), (w.zhou, [1, 2]), (w.li, [0, 2])):
        voted = await client.post(
            f"/api/v1/polls/{election['id']}/ballot",
            json={"answers": [{"question": 0, "options": chosen}]},
            headers=person.headers,
        )
        assert voted.status_code == 201, voted.text

    await page.goto(f"/console/login?next={base}/new")
    await page.select_option("#dev-user", str(w.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: url.endswith(f"{base}/new"), timeout=10_000)
    await page.fill("#p-title", "更换3栋电梯")
    await page.select_option("#p-rule", "art278")
    await page.wait_for_selector("#poll-form[data-rule=art278]", timeout=10_000)
    assert await page.input_value("#p-title") == "更换3栋电梯"  # what was typed stays
    assert await page.input_value("#p-electorate") == "flat"
    assert await page.input_value("#q-0-options") == "同意\n反对\n弃权"
    assert await page.input_value("#q-0-approves") == "同意"
    await page.wait_for_selector("#electorate-preview [data-electorate=flat]", timeout=10_000)
    assert await page.inner_text("#electorate-preview [data-count=weight]") == "190.73"
    await page.check("input[name=owners_assembly]")
    await page.wait_for_selector(".standing-note[data-standing=业主大会表决]", timeout=10_000)
    await page.check("input[name=special_majority]")
    await page.fill("#q-0-text", "是否同意使用维修资金更换3栋电梯？")
    await page.screenshot(path=os.path.join(shots, "poll-form-art278.png"), full_page=True, caret="initial")
    await page.click("#poll-form button[value=save]")
    await page.wait_for_url(re.compile(r".*/polls/\d+$"), timeout=10_000)
    assert "业主大会表决" in await page.inner_text("#poll h1")

    # the election closes with a tie at the last seats; staff record the lot
    clock.advance(timedelta(hours=1, minutes=1))
    await w.run_worker()
    await page.goto(f"{base}/{election['id']}")
    await page.wait_for_selector("#tie-form", timeout=10_000)
    assert await page.locator("#results tr[data-tied=true]").count() == 3
    await page.screenshot(path=os.path.join(shots, "election-tie.png"), full_page=True, caret="initial")
    await page.check("#tie-form input[name=elected][value='0']")
    await page.check("#tie-form input[name=elected][value='2']")
    await page.fill("#tie-note", "12月1日11:30在社区议事厅当众抽签，监督人张书记")
    await page.click("#tie-form button[type=submit]")
    await page.wait_for_selector("#tie:has-text('并列已抽签决定')", timeout=10_000)
    assert await page.locator("#results tr[data-elected=true]").count() == 2
    assert "当选：张桂兰（抽签）、赵小燕（抽签）" in await page.inner_text("#results")
    await page.screenshot(path=os.path.join(shots, "election-result.png"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors
