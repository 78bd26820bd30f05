"""In a real browser: lending and returning a book by typing barcodes into the desk's input as a
USB scanner does, and importing a small catalogue sheet through the upload form."""

from __future__ import annotations

import os
from typing import Any

from tests.conftest import ARTIFACTS
from tests.factories import Person, add_child, community, grant, join, login, platform_admin

BAD = "书名,ISBN,作者,册数,条码\n好饿的毛毛虫,9787533259563,艾瑞·卡尔,2,HC-01 HC-02\n,123,无名,1,\n"
GOOD = (
    "书名,ISBN,作者,适读年龄,册数,条码\n"
    "好饿的毛毛虫,9787533259563,艾瑞·卡尔,2-6,2,HC-01 HC-02\n"
    "神奇校车,,乔安娜·柯尔,6-10,1,\n"
)


async def _setup(client: Any, db: Any) -> tuple[int, Person, Person, int, int]:
    admin = await platform_admin(client, db)
    place = (await community(client, admin, "幸福里社区"))["id"]
    await client.post(f"/api/v1/communities/{place}/spaces", json={"name": "复合空间"}, headers=admin.headers)
    worker = await login(client, "社工小王")
    await grant(client, admin, place, worker, "staff")
    mother = await login(client, "陈阿姨")
    home = (await join(client, mother, place, "3栋", "2单元", "501"))["household"]["id"]
    child = (await add_child(client, mother, home, "陈小雨", 2018))["id"]
    return place, worker, mother, home, child


async def _sign_in(page: Any, worker: Person, target: str) -> None:
    await page.goto(f"/console/login?next={target}")
    await page.select_option("#dev-user", str(worker.user_id))
    await page.click(".dev button[type=submit]")
    await page.wait_for_url(f"**{target}", timeout=10_000)


async def _focused(page: Any) -> None:
    """The desk's input has the focus (playwright is imported here: without it the test is skipped)."""
    from playwright.async_api import expect

    await expect(page.locator("#desk-code")).to_be_focused()


async def _scan(page: Any, code: str, answer: str) -> None:
    """What a USB scanner does: type into whatever has the focus, then Enter."""
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"#desk-result [data-answer='{answer}']", timeout=10_000)
    # the answer is in; the input is empty and has the focus again for the next scan
    await _focused(page)
    assert await page.input_value("#desk-code") == ""


async def test_lend_and_return_a_book_by_barcode_at_the_desk(page, client, db):
    place, worker, mother, _home, child = await _setup(client, db)
    book = await client.post(
        f"/api/v1/communities/{place}/books", json={"title": "猜猜我有多爱你"}, headers=worker.headers
    )
    copy = await client.post(
        f"/api/v1/books/{book.json()['id']}/copies", json={"barcode": "BQ00042"}, headers=worker.headers
    )
    assert copy.status_code == 201

    desk = f"/console/c/{place}/library"
    await _sign_in(page, worker, desk)
    # autofocus: ready for the scanner
    await _focused(page)

    await _scan(page, "BQ00042", "ask_reader")
    assert "借给谁" in await page.inner_text("#desk-result")
    await _scan(page, "陈小雨", "lent")  # one reader by that name: chosen, and the book lent to her
    lent = await page.inner_text("#desk-result .answer")
    assert "已借出《猜猜我有多爱你》给 陈小雨" in lent and "12月" in lent
    await page.screenshot(path=os.path.join(ARTIFACTS, "library-desk-lent.png"), full_page=True)
    shelf = (await client.get("/api/v1/me/loans", headers=mother.headers)).json()["loans"]
    assert [(loan["barcode"], loan["member"]["id"]) for loan in shelf] == [("BQ00042", child)]

    await _scan(page, "BQ00042", "again")  # a double read of the label changes nothing
    await _scan(page, "BQ00042", "on_loan")
    assert "陈小雨" in await page.inner_text("#desk-result .copy")
    await page.click("#desk-result .copy button:has-text('还书')")
    await page.wait_for_selector("#desk-result [data-answer='returned']", timeout=10_000)
    await _focused(page)
    assert "已还回《猜猜我有多爱你》" in await page.inner_text("#desk-result .answer")
    assert (await client.get("/api/v1/me/loans", headers=mother.headers)).json()["loans"] == []
    detail = await client.get(f"/api/v1/books/{book.json()['id']}", headers=worker.headers)
    assert detail.json()["available"] == 1
    assert not page.linli_errors, page.linli_errors


async def test_import_a_small_catalogue_through_the_form(page, client, db):
    place, worker, *_ = await _setup(client, db)
    target = f"/console/c/{place}/library/import"
    await _sign_in(page, worker, target)

    # choosing the file checks it at once: row errors, nothing written, no import button
    await page.set_input_files(
        "#import-file", files=[{"name": "书目.csv", "mimeType": "text/csv", "buffer": BAD.encode()}]
    )
    await page.wait_for_selector("#import-result [data-result='preview']", timeout=10_000)
    problems = await page.inner_text("#import-result table.problems")
    assert "书名不能为空" in problems and "ISBN 不正确" in problems
    assert await page.locator("[data-import]").count() == 0
    books = await client.get(f"/api/v1/communities/{place}/books", headers=worker.headers)
    assert books.json()["items"] == []

    # the corrected sheet: checked, then imported
    await page.set_input_files(
        "#import-file", files=[{"name": "书目.csv", "mimeType": "text/csv", "buffer": GOOD.encode()}]
    )
    await page.wait_for_selector("#import-result [data-import]", timeout=10_000)
    assert "检查通过" in await page.inner_text("#import-result")
    await page.screenshot(path=os.path.join(ARTIFACTS, "library-import-preview.png"), full_page=True)
    await page.click("#import-result [data-import]")
    await page.wait_for_selector("#import-result [data-result='imported']", timeout=10_000)
    assert "新书目 2 本，新登记 3 册" in await page.inner_text("#import-result")

    books = await client.get(f"/api/v1/communities/{place}/books", headers=worker.headers)
    assert [(b["title"], b["copies"]) for b in books.json()["items"]] == [("好饿的毛毛虫", 2), ("神奇校车", 1)]
    assert not page.linli_errors, page.linli_errors
