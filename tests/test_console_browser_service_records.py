"""In a real browser: a social worker who also volunteers opens the review queue of service records:
two waiting, one of them her own, which offers no button (another social worker reviews it). She
rejects nothing without a reason (the form says so), approves the other volunteer's record, opens
it, then downloads that volunteer's certificate for the month: a PDF naming the hours. Last, the
crediting policy is changed. Screenshots: the queue, a record, the policy page."""

from __future__ import annotations

import os

from pypdf import PdfReader

from api import clock
from tests.conftest import ARTIFACTS
from tests.test_console_service_records import served, staff_volunteer
from tests.test_volunteers import NOW, V


def shot(name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, f"console-volunteers-{name}.png")


async def test_approve_a_service_record_and_download_the_volunteers_certificate(page, app, client, db, tmp_path):
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai
    v = await V().build(client, db)
    await client.put(
        f"/api/v1/communities/{v.b}/volunteer-profile", json={"real_name": "张明"}, headers=v.zhang.headers
    )
    await staff_volunteer(v)
    await served(v, [v.zhang, v.staff])  # 10:15–13:15, both scanned out
    zhangs, own = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    base = f"/console/c/{v.b}/volunteers"

    await page.goto(f"/console/login?next={base}/records")
    await page.select_option("#dev-user", str(v.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(f"{base}/records"), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "志愿服务"
    assert await page.inner_text("nav.tabs a[aria-current=page]") == "服务记录审核"
    assert await page.inner_text("#queue [data-count=pending]") == "2"
    mine = page.locator(f"tr[data-record='{own['id']}']")
    assert await mine.locator("button").count() == 0  # her own: nothing to press
    assert "本人的记录，请其他社工审核" in await mine.inner_text()
    theirs = page.locator(f"tr[data-record='{zhangs['id']}']")
    assert "张明" in await theirs.inner_text() and await theirs.locator("[data-hours]").inner_text() == "3"
    await page.screenshot(path=shot("records-queue"), full_page=True, caret="initial")

    # rejecting without a reason is refused beside the field; approving goes through
    await theirs.locator("button:has-text('不通过')").click()
    await page.wait_for_selector(f"#err-note-{zhangs['id']}", timeout=10_000)
    assert await page.inner_text(f"#err-note-{zhangs['id']}") == "不通过时请写明原因"
    assert all("422" in message for message in page.linli_errors), page.linli_errors  # the refusal, logged
    page.linli_errors.clear()
    await theirs.locator("button.primary").click()
    await page.wait_for_selector(f"tr[data-record='{zhangs['id']}']", state="detached", timeout=10_000)
    assert await page.inner_text("#queue [data-count=pending]") == "1"
    approved = {r["id"]: r for r in (await v.mine(v.zhang))["records"]}[zhangs["id"]]
    assert approved["status"] == "approved"

    # the record's page: approved, with its history and the correction form
    await page.goto(f"{base}/records/{zhangs['id']}")
    assert await page.get_attribute("#record", "data-status") == "approved"
    assert await page.locator("#history li[data-event]").evaluate_all("els => els.map(e => e.dataset.event)") == [
        "recorded",
        "approved",
    ]
    assert await page.locator("#correct-form").count() == 1
    await page.screenshot(path=shot("record"), full_page=True, caret="initial")

    # that volunteer's certificate for December
    await page.goto(f"{base}/records/files")
    await page.select_option("#cert-volunteer", str(v.zhang.user_id))
    await page.fill("#cert-from", "2026-12-01")
    await page.fill("#cert-to", "2026-12-31")
    async with page.expect_download(timeout=10_000) as downloading:
        await page.click("#certificate-form button[type=submit]")
    download = await downloading.value
    assert download.suggested_filename.startswith("certificate-") and download.suggested_filename.endswith(".pdf")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    reader = PdfReader(saved)
    assert reader.pdf_header.startswith("%PDF")
    text = reader.pages[0].extract_text()
    assert "志愿服务记录证明" in text and "张明" in text and "3 小时" in text and "开馆值班" in text

    # the policy: half hours from now on
    await page.goto(f"{base}/policy")
    assert await page.inner_text("nav.tabs a[aria-current=page]") == "时长记录规则"
    await page.select_option("#p-rounding", "30")
    await page.fill("#p-organiser", "D社会工作服务中心")
    await page.click("#policy-form button[type=submit]")
    await page.wait_for_selector("#policy-saved", timeout=10_000)
    assert await page.inner_text("[data-policy=rounding]") == "30 分钟（向下取整）"
    assert await page.inner_text("[data-policy=organiser]") == "D社会工作服务中心"
    policy = (await client.get(f"/api/v1/communities/{v.b}/volunteer-policy", headers=v.staff.headers)).json()
    assert policy == {"organiser": "D社会工作服务中心", "rounding_minutes": 30}
    await page.screenshot(path=shot("policy"), full_page=True, caret="initial")
    assert not page.linli_errors, page.linli_errors  # no script error, no CSP violation
