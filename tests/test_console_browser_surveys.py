"""In a real browser: a social worker writes a needs survey in the console — a single choice with
"other", a scale and a free text (a question added by mistake removed, one moved up) — saves the
draft and opens it; three residents answer through the API; the worker types in two paper
questionnaires with the keyboard alone (a digit per answer, Ctrl+Enter to save, the form ready
for the next one); the results wait for the survey's end (an anonymous survey: only how many came
in while it is open); closed early, the results page shows the counts, the "other" texts, the mean,
and every building hidden below five respondents (少于5人)."""

from __future__ import annotations

import os
import re

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_surveys import API, NOW, World


async def added(page, n: int) -> None:
    """The n-th question's block is in the editor, its text focused (htmx focuses it once settled)."""
    await page.locator(f"li.question:nth-child({n}) input[name$='-text']:focus").wait_for(timeout=10_000)


async def test_write_open_enter_paper_and_read_the_results_of_a_survey(page, app, client, db):
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai
    w = await World().build(client, app)
    base = f"/console/c/{w.b}"
    shots = os.path.join(ARTIFACTS, "console-surveys")
    os.makedirs(shots, exist_ok=True)
    page.on("dialog", lambda dialog: dialog.accept())
    # screenshots leave the caret alone (caret="initial"): hiding it writes a style attribute that
    # htmx's settling would copy onto a swapped-in form (an inline style the CSP refuses)

    await page.goto(f"/console/login?next={base}/surveys")
    await page.select_option("#dev-user", str(w.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(f"{base}/surveys"), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "调研问卷"
    assert "还没有调研问卷" in await page.inner_text("#surveys")

    # a new draft: its first question is there to start from
    await page.click("a:has-text('新建问卷')")
    await page.wait_for_url(f"**{base}/surveys/new", timeout=10_000)
    await page.fill("#s-title", "社区服务需求调研")
    await page.fill("#s-intro", "帮助我们安排明年的活动")
    await page.fill("#s-closes", "2026-12-08T18:00")
    first = page.locator("li.question").nth(0)
    await first.locator("input[name$='-text']").fill("你最希望社区开展哪类活动？")
    await first.locator("textarea[name$='-options']").fill("亲子阅读\n老年健身\n手工")
    await first.locator("input[name$='-other']").check()
    assert not await first.locator("input[name$='-max']").is_visible()  # only a multiple choice has them

    # a text question, then a multiple choice added by mistake and removed, then a scale moved up
    await page.click(".add-question button[data-add=text]")
    await added(page, 2)
    text_block = page.locator("li.question").nth(1)
    assert not await text_block.locator("textarea[name$='-options']").is_visible()
    await page.keyboard.type("还有什么建议？")
    await text_block.locator("input[name$='-required']").uncheck()
    await page.click(".add-question button[data-add=multiple]")
    await added(page, 3)
    assert await page.locator("li.question").nth(2).locator("input[name$='-max']").is_visible()
    await page.locator("li.question").nth(2).locator("button[data-remove]").click()
    assert await page.locator("li.question").count() == 2
    await page.click(".add-question button[data-add=scale]")
    await added(page, 3)
    await page.keyboard.type("你对复合空间的满意度")
    await page.locator("li.question").nth(2).locator("button[aria-label='上移这一题']").click()
    texts = await page.locator("li.question input[name$='-text']").evaluate_all("els => els.map(e => e.value)")
    assert texts == ["你最希望社区开展哪类活动？", "你对复合空间的满意度", "还有什么建议？"]
    await page.screenshot(path=os.path.join(shots, "survey-editor.png"), full_page=True, caret="initial")

    # a choice with one option is refused beside its block; the form comes back as typed, its
    # blocks still working: the faulty one removed, the draft saved
    await page.click(".add-question button[data-add=single]")
    await added(page, 4)
    await page.keyboard.type("只有一个选项")
    await page.locator("li.question").nth(3).locator("textarea[name$='-options']").fill("是")
    await page.click("#survey-form button[type=submit]")
    await page.wait_for_selector("li.question:nth-child(4) .q-errors", timeout=10_000)
    assert "选项：单选题和多选题至少要有两个选项" in await page.inner_text("li.question:nth-child(4) .q-errors")
    assert "第 4 题的选项" in await page.inner_text("#survey-form .alert")
    assert await page.input_value("#s-title") == "社区服务需求调研"
    assert all("422" in message for message in page.linli_errors), page.linli_errors  # the refusal, logged
    page.linli_errors.clear()
    await page.locator("li.question").nth(3).locator("button[data-remove]").click()
    assert await page.locator("li.question").count() == 3
    await page.click("#survey-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/surveys/\d+$"), timeout=10_000)
    survey_id = int(page.url.rsplit("/", 1)[1])
    assert await page.get_attribute("#survey", "data-status") == "draft"
    made = await w.view(survey_id)
    assert [(q["kind"], q["required"]) for q in made["questions"]] == [
        ("single", True),
        ("scale", True),
        ("text", False),
    ]
    assert made["questions"][0]["options"] == ["亲子阅读", "老年健身", "手工"] and made["questions"][0]["allow_other"]
    await page.screenshot(path=os.path.join(shots, "survey-draft.png"), full_page=True, caret="initial")

    # open: residents may answer
    await page.click("#survey-actions button:has-text('开始调研')")
    await page.wait_for_selector("#survey[data-status=open]", timeout=10_000)
    given = [
        (
            w.chen,
            [{"question": 0, "options": [0]}, {"question": 1, "scale": 5}, {"question": 2, "text": "多办亲子活动"}],
        ),
        (w.zhou, [{"question": 0, "options": [0]}, {"question": 1, "scale": 4}]),
        (w.wang, [{"question": 0, "other": "社区菜园"}, {"question": 1, "scale": 3}]),
    ]
    for person, answers in given:
        answered = await client.post(
            f"{API}/surveys/{survey_id}/responses", json={"answers": answers}, headers=person.headers
        )
        assert answered.status_code == 201, answered.text

    # two paper questionnaires, with the keyboard alone
    await page.click("#survey-actions a:has-text('录入纸质问卷')")
    await page.wait_for_url(f"**{base}/surveys/{survey_id}/paper", timeout=10_000)
    focused = "el => el === document.activeElement"
    assert await page.locator("input[name=a0][value='0']").evaluate(focused)  # the first answer
    await page.keyboard.press("0")  # on to the next question, and back
    assert await page.locator("input[name=a1][value='1']").evaluate(focused)
    await page.keyboard.press("Shift+Tab")  # the "other" words
    await page.keyboard.press("Shift+Tab")  # the choices
    assert await page.evaluate("document.activeElement.name") == "a0"
    await page.keyboard.press("2")  # 老年健身: on to the next question
    assert await page.locator("input[name=a0][value='1']").is_checked()
    assert await page.locator("input[name=a1][value='4']").evaluate("el => document.activeElement.name === 'a1'")
    await page.keyboard.press("4")  # 4 points: on to the text
    assert await page.locator("textarea[name=a2]").evaluate(focused)
    await page.keyboard.type("晚上也开放")
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#paper-saved[data-count='4']", timeout=10_000)
    # ready for the next one (focused once htmx has settled the new form)
    await page.locator("input[name=a0][value='0']:focus").wait_for(timeout=10_000)
    assert await page.locator("input[name=a0]:checked").count() == 0

    # the second came from 4栋: "other" (the fourth choice) with its words, 5 points, no text
    await page.select_option("#p-building", "4栋")
    await page.locator("input[name=a0][value='0']").focus()
    await page.keyboard.press("4")
    assert await page.locator("input[name=a0-other]").evaluate(focused)
    await page.keyboard.type("社区菜园")
    assert await page.locator("input[name=a0][value=other]").is_checked()
    await page.keyboard.press("Tab")
    await page.keyboard.press("5")
    await page.screenshot(path=os.path.join(shots, "survey-paper.png"), full_page=True, caret="initial")
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#paper-saved[data-count='5']", timeout=10_000)
    assert await page.locator("#p-building").input_value() == "4栋"  # the building stays for the next

    # while it is open, an anonymous survey's results wait for its end: only how many came in
    await page.goto(f"{base}/surveys/{survey_id}")
    assert "匿名问卷的结果和导出在调研结束后才能查看" in await page.inner_text("#next-step")
    assert await page.locator("#survey-actions a[download]").count() == 0  # no workbook yet
    await page.click("#survey-actions a:has-text('结果（结束后可看）')")
    await page.wait_for_url(f"**{base}/surveys/{survey_id}/results", timeout=10_000)
    assert "结束后才能查看：2026年12月8日 18:00 截止" in await page.inner_text("#results-later")
    assert await page.inner_text("#totals [data-count=respondents]") == "5"
    assert await page.inner_text("#totals [data-count=paper]") == "2"
    assert await page.locator(".question-result").count() == 0

    # the list: open, five questionnaires received
    await page.goto(f"{base}/surveys")
    row = page.locator(f"tr[data-survey='{survey_id}']")
    assert await row.locator("[data-status]").inner_text() == "进行中"
    assert await row.locator("[data-count=responses]").inner_text() == "5"
    await page.screenshot(path=os.path.join(shots, "surveys.png"), full_page=True, caret="initial")

    # closed early: the results: counts, "other" texts, the mean; every building below five hidden
    await page.click(f"tr[data-survey='{survey_id}'] a.title")
    await page.wait_for_url(f"**{base}/surveys/{survey_id}", timeout=10_000)
    await page.click("#survey-actions button:has-text('提前结束')")
    await page.wait_for_selector("#survey[data-status=closed]", timeout=10_000)
    await page.click("#survey-actions a:has-text('查看结果')")
    await page.wait_for_url(f"**{base}/surveys/{survey_id}/results", timeout=10_000)
    assert await page.inner_text("#totals [data-count=respondents]") == "5"
    assert await page.inner_text("#totals [data-count=paper]") == "2"
    rows = await page.locator("#q0 tr[data-option]").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()).filter(Boolean))"
    )
    assert rows == [
        ["亲子阅读", "2", "40.0%"],
        ["老年健身", "1", "20.0%"],
        ["手工", "0", "0.0%"],
        ["其他（请注明）", "2", "40.0%"],
    ]
    assert await page.locator("#q0 [data-texts=other] li").all_inner_texts() == ["社区菜园", "社区菜园"]
    assert await page.inner_text("#q1 [data-mean]") == "4.2"  # (5 + 4 + 3 + 4 + 5) / 5
    assert sorted(await page.locator("#q2 [data-texts=text] li").all_inner_texts()) == ["多办亲子活动", "晚上也开放"]
    buildings = await page.locator("#by-building table.buildings tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.building, r.hasAttribute('data-hidden'), r.cells[1].innerText.trim()])"
    )
    assert buildings == [["3栋", True, "少于5人"], ["4栋", True, "少于5人"], ["未注明楼栋", True, "少于5人"]]
    assert await page.locator("#by-building table.breakdown").count() == 0
    await page.screenshot(path=os.path.join(shots, "survey-results.png"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
