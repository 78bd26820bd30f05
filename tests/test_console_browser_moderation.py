"""In a real browser: a social worker of two communities opens 内容审核, enlarges a resident's photo
that WeChat was unsure of, tries to refuse the post without a reason (refused beside the field),
refuses it with one and sees it leave the queue; finds it in 最近处理; then switches to the other
community in the header and lands on its 内容审核."""

from __future__ import annotations

import os

from tests.conftest import ARTIFACTS
from tests.factories import grant
from tests.test_console_moderation import API, World


def shot(name: str) -> str:
    return os.path.join(ARTIFACTS, f"console-moderation-{name}.png")


async def test_reject_a_post_with_a_reason_and_switch_community(page, app, client):
    w = await World().build(client, app)
    await grant(client, w.root, w.c, w.staff, "staff")  # she serves both communities
    doubtful = await w.doubtful_post()
    shown = await w.shown_post("周末一起去公园，二手自行车便宜转让")
    reported = await client.post(f"{API}/posts/{shown}/report", json={"reason": "像是广告"}, headers=w.chen.headers)
    assert reported.status_code == 204
    base = f"/console/c/{w.b}/moderation"
    os.makedirs(ARTIFACTS, exist_ok=True)

    await page.goto(f"/console/login?next={base}")
    await page.select_option("#dev-user", str(w.staff.user_id))
    await page.click(".dev form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url and url.endswith(base), timeout=10_000)
    assert await page.inner_text("header nav a[aria-current=page]") == "内容审核"
    assert await page.title() == "待审核 · 内容审核 · B社区 · 邻里工作台"
    card = page.locator(f"#post-{doubtful}")
    assert "有儿童 · 仅社区内可见" in await card.inner_text()
    assert "色情" in await card.inner_text()
    assert "像是广告" in await page.inner_text(f"#post-{shown}")
    # the photos have loaded (the browser fetched the renditions)
    await page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.mod-photos img')).every(i => i.complete && i.naturalWidth > 0)",
        timeout=10_000,
    )
    await page.screenshot(path=shot("queue"), full_page=True, caret="initial")

    # a click enlarges the photo in the page; a click closes it
    await card.locator("a.zoom").first.click()
    zoom = page.locator("dialog.photo-zoom").first
    await zoom.wait_for(state="visible", timeout=5_000)
    assert "/large.jpg" in (await zoom.locator("img").get_attribute("src") or "")
    await zoom.click()
    await zoom.wait_for(state="hidden", timeout=5_000)

    # refusing without a reason is refused beside the field; with one, the post leaves the queue
    await card.locator("form.reason-form button[type=submit]").click()
    error = card.locator(".field-error")
    await error.wait_for(timeout=10_000)
    assert await error.inner_text() == "请填写不通过的原因，作者会看到"
    assert all("422" in message for message in page.linli_errors), page.linli_errors
    page.linli_errors.clear()
    await card.locator("input[name=note]").fill("照片里孩子的正脸太清楚，请换一张")
    await card.locator("form.reason-form button[type=submit]").click()
    await page.locator(f"#post-{doubtful}").wait_for(state="detached", timeout=10_000)
    assert await page.locator(f"#post-{shown}").count() == 1
    assert await w.status(doubtful) == "rejected"

    # the recently decided list has it, with the reason
    await page.click(".mod-tabs a:has-text('最近处理')")
    await page.wait_for_url(f"**{base}/decided", timeout=10_000)
    entry = page.locator(f"#post-{doubtful}")
    assert "照片里孩子的正脸太清楚，请换一张" in await entry.inner_text()
    assert "未通过" in await entry.inner_text()
    await page.screenshot(path=shot("decided"), full_page=True, caret="initial")

    await page.click(".mod-tabs a:has-text('已公开')")
    await page.wait_for_url(f"**{base}/shown", timeout=10_000)
    assert await page.locator(f"#post-{shown}").count() == 1
    await page.screenshot(path=shot("shown"), full_page=True, caret="initial")

    # switch community in the header: the same section of C社区
    await page.click("#community-switch summary")
    await page.click("#community-switch a:has-text('C社区')")
    await page.wait_for_url(f"**/console/c/{w.c}/moderation", timeout=10_000)
    assert await page.inner_text("#community-switch summary strong") == "C社区"
    assert await page.title() == "待审核 · 内容审核 · C社区 · 邻里工作台"
    assert await page.inner_text("header nav a[aria-current=page]") == "内容审核"
    assert not page.linli_errors, page.linli_errors
