"""The library desk in the console, through HTTP on both engines: lending, returning and renewing
by barcode at the desk's one input (the rules' refusals shown in the page), readers by card, name
or address, the hold shelf, the overdue list with its masked phones and logged reveal, the
catalogue, and importing a catalogue sheet (preview with row errors, then import). Outcomes are
checked through the API."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api import clock
from api.console import library as console_library
from api.console import uploads
from api.db.models import PhoneReveal
from api.services.library import counter
from tests.conftest import make_settings
from tests.factories import Person, add_child, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai (the space opens Tuesday to Sunday)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class World:
    """A community with a space, a social worker and two households (each with a child)."""

    async def build(self, client: Any, db: Any) -> World:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        await client.post(f"/api/v1/communities/{self.b}/spaces", json={"name": "复合空间"}, headers=self.root.headers)
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, self.chen_home = await self.household("陈阿姨", "3栋", "2单元", "501")
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "陈小雨", 2018))["id"]
        self.zhou, self.zhou_home = await self.household("周叔叔", "5栋", "1单元", "302")
        self.chen_me = await self.me(self.chen)
        self.zhou_me = await self.me(self.zhou)
        self.path = f"/console/c/{self.b}/library"
        return self

    async def household(self, name: str, building: str, unit: str, room: str) -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, building, unit, room)
        return person, joined["household"]["id"]

    async def me(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    async def book(self, title: str, copies: int = 1, **fields: Any) -> dict[str, Any]:
        made = await self.client.post(
            f"/api/v1/communities/{self.b}/books", json={"title": title, **fields}, headers=self.staff.headers
        )
        assert made.status_code == 201, made.text
        book: dict[str, Any] = made.json()
        book["barcodes"] = []
        for n in range(copies):
            barcode = f"B{book['id']:04d}{n}"
            added = await self.client.post(
                f"/api/v1/books/{book['id']}/copies", json={"barcode": barcode}, headers=self.staff.headers
            )
            assert added.status_code == 201, added.text
            book["barcodes"].append(barcode)
        return book

    async def lend(self, barcode: str, member_id: int) -> None:
        lent = await self.client.post(
            f"/api/v1/communities/{self.b}/loans",
            json={"barcode": barcode, "member_id": member_id},
            headers=self.staff.headers,
        )
        assert lent.status_code == 201, lent.text

    async def loans(self, person: Person) -> list[dict[str, Any]]:
        shelf = await self.client.get("/api/v1/me/loans", headers=person.headers)
        loans: list[dict[str, Any]] = shelf.json()["loans"]
        return loans

    async def titles(self) -> list[str]:
        """The catalogue's titles, through the API."""
        found = await self.client.get(
            f"/api/v1/communities/{self.b}/books", params={"limit": 100}, headers=self.staff.headers
        )
        return [b["title"] for b in found.json()["items"]]


@pytest.fixture
async def world(client, db) -> World:
    return await World().build(client, db)


def answer(html: str) -> str:
    """The kind of answer the desk gave (data-answer)."""
    found = re.search(r'data-answer="([a-z_]+)"', html)
    assert found, html
    return found.group(1)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


def state(html: str) -> dict[str, str]:
    """The desk's hidden fields after an answer, to send with the next scan (as the page does)."""
    return {name: hidden(html, name) for name in ("member_id", "barcode", "last")}


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- lending, returning, renewing -------------------------------------------------------------------


async def test_lend_by_barcode_then_card_renew_and_return_by_scanning_twice(world, console):
    book = await world.book("猜猜我有多爱你")
    barcode = book["barcodes"][0]
    browser = await console(world.staff)
    page = await browser.get(world.path)
    assert page.status_code == 200
    assert 'name="code"' in page.text and "autofocus" in page.text and "data-scan-input" in page.text
    assert f'hx-post="{world.path}/scan"' in page.text
    assert f'href="/console/c/{world.b}/library" aria-current="page">图书' in page.text

    # the copy first: the desk asks whom to lend it to
    scanned = await browser.post(f"{world.path}/scan", data={"code": barcode})
    assert scanned.status_code == 200 and answer(scanned.text) == "ask_reader"
    assert "借给谁" in scanned.text and hidden(scanned.text, "barcode") == barcode
    assert "在架" in scanned.text

    # then the reader's card: lent at once, with the due date in the community's time
    card = counter.card_code(world.chen_me)
    lent = await browser.post(f"{world.path}/scan", data={"code": card, **state(scanned.text)})
    assert answer(lent.text) == "lent", lent.text
    assert "已借出《猜猜我有多爱你》给 陈阿姨" in text(lent.text) and "12月15日 周二" in lent.text
    assert hidden(lent.text, "member_id") == str(world.chen_me) and hidden(lent.text, "last") == barcode
    assert f"读者证 <strong>{card}</strong>" in lent.text and "在借 1 本" in text(lent.text)
    (loan,) = await world.loans(world.chen)
    assert loan["barcode"] == barcode and loan["due_on"] == "2026-12-15" and loan["member"]["id"] == world.chen_me

    # the scanner reads the same label again: nothing happens
    again = await browser.post(f"{world.path}/scan", data={"code": barcode, **state(lent.text)})
    assert answer(again.text) == "again" and len(await world.loans(world.chen)) == 1

    # scanned on its own: on loan, with who has it, the due day and the return and renew buttons
    shown = await browser.post(f"{world.path}/scan", data={"code": barcode, **state(again.text)})
    assert answer(shown.text) == "on_loan"
    assert "陈阿姨" in shown.text and "3栋2单元501" in shown.text and "还可续借 1 次" in shown.text
    assert f'hx-post="{world.path}/return"' in shown.text and f'hx-post="{world.path}/renew"' in shown.text

    renewed = await browser.post(f"{world.path}/renew", data=state(shown.text))
    assert answer(renewed.text) == "renewed" and "12月29日 周二" in renewed.text
    (loan,) = await world.loans(world.chen)
    assert loan["due_on"] == "2026-12-29" and loan["renewals_left"] == 0

    assert hidden(renewed.text, "last") == barcode  # the reader keeps it: a scan now changes nothing
    assert "续借次数已用完" in renewed.text and f'hx-post="{world.path}/renew"' not in renewed.text
    refused = await browser.post(f"{world.path}/renew", data={**state(renewed.text), "barcode": barcode})
    assert answer(refused.text) == "refused" and "最多续借1次" in refused.text
    assert 'data-code="renewal_limit"' in refused.text

    # a second scan of the copy in view returns it
    returned = await browser.post(f"{world.path}/scan", data={"code": barcode, **state(refused.text)})
    assert answer(returned.text) == "returned", returned.text
    assert "已还回《猜猜我有多爱你》" in returned.text and "请把书放回书架" in returned.text
    assert await world.loans(world.chen) == []
    detail = await world.client.get(f"/api/v1/books/{book['id']}", headers=world.staff.headers)
    assert detail.json()["copies_detail"][0]["state"] == "available"


async def test_reader_first_then_several_books_and_the_return_button(world, console):
    first, second = await world.book("好饿的毛毛虫"), await world.book("神奇校车")
    browser = await console(world.staff)
    # the households page links here with the reader chosen
    page = await browser.get(f"{world.path}?member_id={world.xiaoyu}")
    assert "读者：陈小雨" in page.text and "儿童" in page.text and hidden(page.text, "member_id") == str(world.xiaoyu)
    form = state(page.text)
    for book in (first, second):
        lent = await browser.post(f"{world.path}/scan", data={"code": book["barcodes"][0], **form})
        assert answer(lent.text) == "lent" and "给 陈小雨" in text(lent.text)
        form = state(lent.text)
    assert "在借 2 本" in text(lent.text)
    shelf = {loan["book"]["title"]: loan["member"]["name"] for loan in await world.loans(world.chen)}
    assert shelf == {"好饿的毛毛虫": "陈小雨", "神奇校车": "陈小雨"}

    # the return button of a copy in view
    shown = await browser.post(f"{world.path}/scan", data={"code": first["barcodes"][0], **form})
    back = await browser.post(f"{world.path}/return", data=state(shown.text))
    assert answer(back.text) == "returned"
    assert [loan["book"]["title"] for loan in await world.loans(world.chen)] == ["神奇校车"]
    # returning it again is refused in the services' words
    twice = await browser.post(f"{world.path}/return", data={"barcode": first["barcodes"][0]})
    assert answer(twice.text) == "refused" and "没有借出记录" in twice.text

    # the next reader: forget the one chosen
    forgot = await browser.post(f"{world.path}/forget", data=state(back.text))
    assert answer(forgot.text) == "forgot" and hidden(forgot.text, "member_id") == ""

    # a reader who is not of this community (or no such card)
    unknown = await browser.get(f"{world.path}?member_id=999999")
    assert unknown.status_code == 200 and "找不到这位读者" in unknown.text


async def test_the_rules_refusals_appear_at_the_desk_in_chinese(world, console, client):
    books = [await world.book(f"绘本{n}") for n in range(4)]
    for book in books[:3]:
        await world.lend(book["barcodes"][0], world.zhou_me)
    browser = await console(world.staff)
    form = {"member_id": str(world.zhou_me)}

    over = await browser.post(f"{world.path}/scan", data={"code": books[3]["barcodes"][0], **form})
    assert answer(over.text) == "refused" and 'data-code="loan_limit"' in over.text
    assert "周叔叔已经借了3本，最多3本" in over.text
    # the copy stays in view: another reader's card lends it
    assert hidden(over.text, "barcode") == books[3]["barcodes"][0]
    assert len(await world.loans(world.zhou)) == 3
    to_chen = await browser.post(
        f"{world.path}/scan", data={"code": counter.card_code(world.chen_me), **state(over.text)}
    )
    assert answer(to_chen.text) == "lent" and "给 陈阿姨" in text(to_chen.text)

    # not a barcode, not a reader
    nothing = await browser.post(f"{world.path}/scan", data={"code": "XYZ-404"})
    assert answer(nothing.text) == "refused" and "没有条码为“XYZ-404”的书，也没有找到这位读者" in nothing.text
    # a card of another community's reader
    elsewhere = (await community(client, world.root, "青杠社区"))["id"]
    stranger = await login(client, "外社区居民")
    await join(client, stranger, elsewhere)
    other_me = await world.me(stranger)
    foreign = await browser.post(f"{world.path}/scan", data={"code": f"M{other_me}"})
    assert answer(foreign.text) == "refused" and "找不到这位读者" in foreign.text
    empty = await browser.post(f"{world.path}/scan", data={"code": "  "})
    assert answer(empty.text) == "refused" and "请扫描条码" in empty.text

    # anything overdue: no new loans (signed in again: the console session does not last 20 days)
    clock.advance(timedelta(days=20))
    browser = await console(world.staff)
    spare = await world.book("小猪佩奇")
    overdue = await browser.post(f"{world.path}/scan", data={"code": spare["barcodes"][0], **form})
    assert answer(overdue.text) == "refused" and 'data-code="member_overdue"' in overdue.text
    assert "周叔叔有逾期未还的书，请先归还再借" in overdue.text
    shown = await browser.post(f"{world.path}/scan", data={"code": books[0]["barcodes"][0]})
    assert "逾期 6 天" in shown.text  # due 15 December, today the 21st
    late = await browser.post(f"{world.path}/renew", data=state(shown.text))
    assert answer(late.text) == "refused" and "已经逾期，不能续借" in late.text
    reader = await browser.get(f"{world.path}?member_id={world.zhou_me}")
    assert "3 本逾期" in reader.text


async def test_readers_are_found_by_name_or_address(world, console):
    book = await world.book("小王子")
    browser = await console(world.staff)
    pending = await browser.post(f"{world.path}/scan", data={"code": book["barcodes"][0]})

    # several readers at one address, however it is typed: the desk offers them
    for typed in ("3-2-501", "3栋2单元501", "３栋501室", "3-501"):
        found = await browser.post(f"{world.path}/scan", data={"code": typed, **state(pending.text)})
        assert answer(found.text) == "choose", (typed, found.text)
        assert re.findall(r'data-member="(\d+)"', found.text)[:2] == [str(world.chen_me), str(world.xiaoyu)]
        assert hidden(found.text, "barcode") == book["barcodes"][0]  # still waiting for its reader
    picked = await browser.post(f"{world.path}/reader", data={"pick": str(world.xiaoyu), **state(found.text)})
    assert answer(picked.text) == "lent" and "给 陈小雨" in text(picked.text)
    assert [loan["member"]["name"] for loan in await world.loans(world.chen)] == ["陈小雨"]

    # one reader by name: chosen at once
    one = await browser.post(f"{world.path}/scan", data={"code": "周叔"})
    assert answer(one.text) == "reader" and "读者：周叔叔" in one.text and "5栋1单元302" in one.text


async def test_the_hold_shelf_and_lending_a_held_copy(world, console, client):
    book = await world.book("窗边的小豆豆")
    barcode = book["barcodes"][0]
    await world.lend(barcode, world.chen_me)
    held = await client.post(
        f"/api/v1/books/{book['id']}/holds", json={"member_id": world.zhou_me}, headers=world.zhou.headers
    )
    assert held.status_code == 201, held.text
    browser = await console(world.staff)

    # on loan, someone waiting: the desk says so, and renewing is refused
    shown = await browser.post(f"{world.path}/scan", data={"code": barcode})
    assert "1 人在排队" in shown.text
    no_renewal = await browser.post(f"{world.path}/renew", data=state(shown.text))
    assert "有邻居在排队预约这本书，不能续借" in no_renewal.text

    returned = await browser.post(f"{world.path}/return", data={"barcode": barcode})
    assert 'data-next="hold_shelf"' in returned.text and "留给 <strong>周叔叔</strong>" in returned.text
    assert "在预约书架上，留给" in returned.text and "12月3日 周四" in returned.text

    shelf = await browser.get(f"{world.path}/holds")
    assert shelf.status_code == 200
    row = re.search(r'<tr data-hold="\d+">(.*?)</tr>', shelf.text, re.S)
    assert row is not None
    assert "窗边的小豆豆" in row.group(1) and "周叔叔" in row.group(1) and "5栋1单元302" in row.group(1)
    assert "12月3日 周四" in row.group(1)

    # kept for 周叔叔: not for 陈阿姨, but one click lends it to him
    to_chen = await browser.post(f"{world.path}/scan", data={"code": barcode, "member_id": str(world.chen_me)})
    assert answer(to_chen.text) == "refused" and "这册书给预约的读者留到 12月3日" in to_chen.text
    assert "借给 周叔叔" in to_chen.text
    lent = await browser.post(f"{world.path}/reader", data={"pick": str(world.zhou_me), **state(to_chen.text)})
    assert answer(lent.text) == "lent" and "给 周叔叔" in text(lent.text)
    assert [loan["book"]["title"] for loan in await world.loans(world.zhou)] == ["窗边的小豆豆"]
    assert "预约书架上现在没有书" in (await browser.get(f"{world.path}/holds")).text


async def test_a_reader_sees_the_copies_waiting_for_them(world, console, client):
    book = await world.book("犟龟")
    await client.post(
        f"/api/v1/books/{book['id']}/holds", json={"member_id": world.zhou_me}, headers=world.zhou.headers
    )
    browser = await console(world.staff)
    page = await browser.get(f"{world.path}?member_id={world.zhou_me}")
    assert "预约的《犟龟》已到" in page.text and book["barcodes"][0] in page.text


async def test_lists_are_paginated(world, console, client, monkeypatch):
    monkeypatch.setattr(counter, "PAGE", 2)
    monkeypatch.setattr(console_library, "CATALOGUE_PAGE", 2)
    policy = await client.put(
        f"/api/v1/communities/{world.b}/loan-policy",
        json={"max_loans": 10, "max_holds": 10},
        headers=world.staff.headers,
    )
    assert policy.status_code == 200
    books = [await world.book(f"第{n}本书") for n in range(6)]
    for book in books[:3]:  # held by 周叔叔 while on loan, then returned: three on the hold shelf
        await world.lend(book["barcodes"][0], world.chen_me)
        await client.post(
            f"/api/v1/books/{book['id']}/holds", json={"member_id": world.zhou_me}, headers=world.zhou.headers
        )
        await client.post(
            f"/api/v1/communities/{world.b}/returns", json={"barcode": book["barcodes"][0]}, headers=world.staff.headers
        )
    for book in books[3:]:
        await world.lend(book["barcodes"][0], world.chen_me)
    browser = await console(world.staff)

    first = await browser.get(f"{world.path}/holds")
    assert first.text.count("<tr data-hold=") == 2 and f'href="{world.path}/holds?page=2"' in first.text
    second = await browser.get(f"{world.path}/holds?page=2")
    assert second.text.count("<tr data-hold=") == 1 and "下一页" not in second.text and "上一页" in second.text

    page = await browser.get(f"{world.path}/books")
    assert page.text.count("<tr data-book=") == 2
    seen = re.findall(r"<tr data-book=\"(\d+)\"", page.text)
    cursor = re.search(r'rel="next" href="[^"]*cursor=([^"&]+)"', page.text)
    while cursor is not None:
        page = await browser.get(f"{world.path}/books?cursor={cursor.group(1)}")
        seen += re.findall(r"<tr data-book=\"(\d+)\"", page.text)
        cursor = re.search(r'rel="next" href="[^"]*cursor=([^"&]+)"', page.text)
    assert seen == [str(b["id"]) for b in books] and "回到第一页" in page.text

    clock.advance(timedelta(days=16))  # the three loans are overdue
    browser = await console(world.staff)
    first = await browser.get(f"{world.path}/overdue")
    assert first.text.count("<tr data-loan=") == 2 and f'href="{world.path}/overdue?page=2"' in first.text
    second = await browser.get(f"{world.path}/overdue?page=2")
    assert second.text.count("<tr data-loan=") == 1 and "下一页" not in second.text
    assert (await browser.get(f"{world.path}/overdue?page=0")).status_code == 422


# -- overdue loans and their phones -----------------------------------------------------------------


async def test_overdue_list_shows_the_phone_masked_and_the_reveal_is_logged(world, console, client, db):
    bound = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812345678"}, headers=world.chen.headers
    )
    assert bound.status_code == 200, bound.text
    late, fine = await world.book("夏洛的网"), await world.book("青蛙弗洛格")
    await world.lend(late["barcodes"][0], world.xiaoyu)
    clock.advance(timedelta(days=10))
    await world.lend(fine["barcodes"][0], world.zhou_me)
    clock.advance(timedelta(days=7))  # 17 days after the first loan: due the 15th, today the 18th
    browser = await console(world.staff)

    page = await browser.get(f"{world.path}/overdue")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-loan="\d+">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 1
    (row,) = rows
    assert "夏洛的网" in row and "陈小雨" in row and "3栋2单元501" in row and "3 天" in row and "12月15日" in row
    assert "138****5678" in row and "13812345678" not in page.text
    assert f"/households/{world.chen_home}/phone?context=overdue" in row
    assert f"{world.path}?member_id={world.xiaoyu}" in row

    revealed = await browser.post(f"/console/c/{world.b}/households/{world.chen_home}/phone?context=overdue")
    assert revealed.status_code == 200 and "13812345678" in revealed.text
    async with db.session() as session:
        reveals = (await session.execute(select(PhoneReveal))).scalars().all()
    assert [(r.household_id, r.revealed_by, r.context) for r in reveals] == [
        (world.chen_home, world.staff.user_id, "overdue")
    ]


# -- the catalogue -------------------------------------------------------------------------------------


async def test_catalogue_search_add_a_title_and_label_its_copies(world, console):
    await world.book("好饿的毛毛虫", author="艾瑞·卡尔")
    browser = await console(world.staff)

    added = await browser.post(
        f"{world.path}/books",
        data={"title": "小王子", "author": "圣埃克苏佩里", "isbn": "7-02-000220-X", "year": "2003",
              "age_min": "8", "age_max": "14", "tags": "经典，童话", "summary": "一个小王子的旅行"},
    )  # fmt: skip
    assert added.status_code == 204, added.text
    book_path = added.headers["HX-Redirect"]
    assert re.fullmatch(rf"{world.path}/books/\d+", book_path)
    book_id = int(book_path.rsplit("/", 1)[1])
    page = await browser.get(book_path)
    assert "《小王子》" in page.text and "ISBN 9787020002207" in page.text and "适读 8–14 岁" in page.text
    assert "还没有登记任何一册" in page.text

    labelled = await browser.post(f"{book_path}/copies", data={"barcode": "XZ-0001", "location": "文学区 B1"})
    assert labelled.status_code == 204 and labelled.headers["HX-Redirect"] == f"{book_path}?added=XZ-0001"
    page = await browser.get(labelled.headers["HX-Redirect"])
    assert "已登记条码 XZ-0001" in page.text and '<tr data-copy="XZ-0001">' in page.text and "文学区 B1" in page.text

    # the rules' refusals, in the page's flash line
    twice = await browser.post(f"{book_path}/copies", data={"barcode": "XZ-0001"})
    assert twice.status_code == 409 and "这个条码已经用过了" in twice.text and twice.headers["HX-Retarget"] == "#flash"
    same_isbn = await browser.post(f"{world.path}/books", data={"title": "小王子（另一版）", "isbn": "9787020002207"})
    assert same_isbn.status_code == 409 and "书目里已有这个 ISBN" in same_isbn.text
    ages = await browser.post(f"{world.path}/books", data={"title": "x", "age_min": "9", "age_max": "3"})
    assert ages.status_code == 422 and "最小年龄不能大于最大年龄" in ages.text
    blank = await browser.post(f"{world.path}/books", data={"title": "   "})
    assert blank.status_code == 422

    detail = await world.client.get(f"/api/v1/books/{book_id}", headers=world.staff.headers)
    assert detail.json()["tags"] == ["经典", "童话"] and detail.json()["copies"] == 1
    assert detail.json()["copies_detail"][0]["barcode"] == "XZ-0001"

    found = await browser.get(f"{world.path}/books?q=小王")
    assert "小王子" in found.text and "好饿的毛毛虫" not in found.text
    by_author = await browser.get(f"{world.path}/books?q=艾瑞")
    assert "好饿的毛毛虫" in by_author.text and "小王子" not in by_author.text
    by_isbn = await browser.get(f"{world.path}/books?q=978-7-02-000220-7")
    assert "小王子" in by_isbn.text
    assert "没有找到“恐龙”相关的书" in (await browser.get(f"{world.path}/books?q=恐龙")).text

    # the copy on loan shows who has it
    await world.lend("XZ-0001", world.chen_me)
    page = await browser.get(book_path)
    assert "陈阿姨" in page.text and "12月15日 周二" in page.text


async def test_a_book_of_another_community_is_not_found_here(world, console, client):
    elsewhere = (await community(client, world.root, "青杠社区"))["id"]
    await grant(client, world.root, elsewhere, world.staff, "staff")
    theirs = await client.post(
        f"/api/v1/communities/{elsewhere}/books", json={"title": "别处的书"}, headers=world.staff.headers
    )
    copy = await client.post(
        f"/api/v1/books/{theirs.json()['id']}/copies", json={"barcode": "ELSE-1"}, headers=world.staff.headers
    )
    assert copy.status_code == 201
    browser = await console(world.staff)
    assert (await browser.get(f"{world.path}/books/{theirs.json()['id']}")).status_code == 404
    refused = await browser.post(f"{world.path}/books/{theirs.json()['id']}/copies", data={"barcode": "ELSE-2"})
    assert refused.status_code == 404
    scanned = await browser.post(f"{world.path}/scan", data={"code": "ELSE-1"})
    assert answer(scanned.text) == "refused"
    renewal = await browser.post(f"{world.path}/renew", data={"barcode": "ELSE-1"})
    assert answer(renewal.text) == "refused" and "没有这个条码的书" in renewal.text


# -- importing a catalogue sheet -------------------------------------------------------------------

GOOD = (
    "书名,ISBN,作者,适读年龄,册数,条码\n"
    "好饿的毛毛虫,9787533259563,艾瑞·卡尔,2-6,2,HC-01 HC-02\n"
    "神奇校车,,乔安娜·柯尔,6-10,1,\n"
)
BAD = (
    "书名,ISBN,作者,适读年龄,册数,条码\n"
    "好饿的毛毛虫,9787533259563,艾瑞·卡尔,2-6,2,HC-01 HC-02\n"
    ",123,无名,,1,\n"
    "神奇校车,,乔安娜·柯尔,10-6,1,HC-01\n"
)


def xlsx(rows: list[list[str]]) -> bytes:
    """A one-sheet workbook with inline strings, as a spreadsheet program would save it."""
    cells = "".join(
        f'<row r="{r}">' + "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in row) + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>",
        )
        book.writestr(
            "xl/workbook.xml",
            f'<workbook {ns} {rel}><sheets><sheet name="书目" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>',
        )
        book.writestr("xl/worksheets/sheet1.xml", f"<worksheet {ns}><sheetData>{cells}</sheetData></worksheet>")
    return buffer.getvalue()


async def test_import_preview_shows_row_errors_before_anything_is_written_then_imports(world, console):
    await world.book("已有的书")
    browser = await console(world.staff)
    page = await browser.get(f"{world.path}/import")
    assert page.status_code == 200 and 'type="file"' in page.text and 'hx-encoding="multipart/form-data"' in page.text

    checked = await browser.post(f"{world.path}/import/preview", files={"file": ("书目.csv", BAD.encode(), "text/csv")})
    assert checked.status_code == 200, checked.text
    assert 'data-result="preview"' in checked.text and "有 4 处需要修改，本次没有导入任何内容" in checked.text
    problems = re.findall(
        r'<tr data-row="(\d+)"><td class="num">\d+</td><td>([^<]*)</td><td>([^<]*)</td>', checked.text
    )
    assert ("3", "书名", "书名不能为空") in problems
    assert ("4", "适读年龄", "年龄段小的在前，如 3-6") in problems
    assert ("4", "条码", "条码 HC-01 与第2行重复") in problems
    assert any(row == "3" and column == "ISBN" for row, column, _ in problems)
    assert "data-import" not in checked.text  # no import button
    assert await world.titles() == ["已有的书"]  # nothing written

    # the fixed sheet: every row as it would be imported, and the import button
    checked = await browser.post(
        f"{world.path}/import/preview", files={"file": ("书目.csv", GOOD.encode("gb18030"), "text/csv")}
    )
    assert "检查通过，还没有导入任何内容" in checked.text and "data-import" in checked.text
    assert "共 2 行：新书目 2 本，已有书目 0 本；新登记 3 册，已有 0 册" in text(checked.text)
    assert "HC-01、HC-02" in checked.text and "（自动生成）" in checked.text
    assert await world.titles() == ["已有的书"]

    imported = await browser.post(
        f"{world.path}/import/commit", files={"file": ("书目.csv", GOOD.encode("gb18030"), "text/csv")}
    )
    assert 'data-result="imported"' in imported.text and "新书目 2 本，新登记 3 册" in imported.text
    assert await world.titles() == ["已有的书", "好饿的毛毛虫", "神奇校车"]
    found = await world.client.get(
        f"/api/v1/communities/{world.b}/books", params={"q": "毛毛虫"}, headers=world.staff.headers
    )
    assert found.json()["items"][0]["copies"] == 2 and found.json()["items"][0]["isbn"] == "9787533259563"

    # the same sheet again: the preview says all is known, and importing changes nothing
    again = await browser.post(f"{world.path}/import/preview", files={"file": ("书目.csv", GOOD.encode(), "text/csv")})
    assert "新书目 0 本，已有书目 2 本；新登记 0 册，已有 3 册" in text(again.text)
    await browser.post(f"{world.path}/import/commit", files={"file": ("书目.csv", GOOD.encode(), "text/csv")})
    assert await world.titles() == ["已有的书", "好饿的毛毛虫", "神奇校车"]

    # a barcode already on another book is found before importing, and at the import too
    clash = "书名,条码\n另一本书,HC-01\n"
    checked = await browser.post(f"{world.path}/import/preview", files={"file": ("x.csv", clash.encode(), "text/csv")})
    assert "条码 HC-01 已贴在书目里的另一本书上" in checked.text
    refused = await browser.post(f"{world.path}/import/commit", files={"file": ("x.csv", clash.encode(), "text/csv")})
    assert 'data-result="refused"' in refused.text and "条码 HC-01 已贴在书目里的另一本书上" in refused.text
    assert "另一本书" not in await world.titles()


async def test_import_takes_xlsx_and_the_raw_body_and_says_what_it_cannot_read(world, console):
    browser = await console(world.staff)
    sheet = xlsx([["书名", "作者", "条码"], ["犟龟", "米切尔·恩德", "JG-1, JG-2"]])
    checked = await browser.post(
        f"{world.path}/import/preview", files={"file": ("绘本.xlsx", sheet, "application/octet-stream")}
    )
    assert "共 1 行：新书目 1 本" in text(checked.text) and "JG-1、JG-2" in checked.text
    # the file itself as the body, as the API takes it
    raw = await browser.post(f"{world.path}/import/commit", content=sheet, headers={"Content-Type": uploads.XLSX})
    assert 'data-result="imported"' in raw.text and await world.titles() == ["犟龟"]
    as_csv = await browser.post(f"{world.path}/import/preview?format=csv", content="书名\n窗边的小豆豆\n".encode())
    assert "共 1 行：新书目 1 本" in text(as_csv.text)
    # without htmx (a plain form post), the whole page with the result in it
    whole = await browser.post(
        f"{world.path}/import/preview",
        files={"file": ("a.csv", "书名\n窗边的小豆豆\n".encode(), "text/csv")},
        htmx=False,
    )
    assert whole.text.startswith("<!doctype html>") and 'data-result="preview"' in whole.text

    for name, data, message in (
        ("旧表.xls", b"\xd0\xcf\x11\xe0", "不支持旧版表格格式 XLS"),
        ("坏表.xlsx", b"PK\x03\x04broken", "无法读取这个 XLSX 文件"),
        ("空.csv", b"", "文件是空的"),
    ):
        refused = await browser.post(f"{world.path}/import/preview", files={"file": (name, data, "text/csv")})
        assert 'data-result="refused"' in refused.text and message in refused.text, (name, refused.text)
    nothing = await browser.post(f"{world.path}/import/preview", files={"file": ("", b"", "application/octet-stream")})
    assert "请选择要导入的书目表" in nothing.text
    unknown = await browser.post(
        f"{world.path}/import/preview", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert "请上传 CSV 或 XLSX 文件" in unknown.text
    assert await world.titles() == ["犟龟"]


async def test_uploads_past_the_json_cap_are_taken_up_to_the_importers_bound(world, console):
    browser = await console(world.staff)
    # 1.5 MB (the request cap elsewhere is 1 MB): a hundred books with long summaries
    long_summary = "这是一本关于社区和邻里的书。" * 350
    sheet = "书名,简介\n" + "".join(f"第{n}本,{long_summary}\n" for n in range(100))
    assert 1024 * 1024 < len(sheet.encode()) < 5 * 1024 * 1024
    checked = await browser.post(
        f"{world.path}/import/preview", files={"file": ("大表.csv", sheet.encode(), "text/csv")}
    )
    assert checked.status_code == 200 and "共 100 行：新书目 100 本" in text(checked.text)

    too_big = b"a" * (5 * 1024 * 1024 + 100 * 1024)
    refused = await browser.post(f"{world.path}/import/preview", files={"file": ("太大.csv", too_big, "text/csv")})
    assert refused.status_code == 200 and "文件不能超过 5 MB" in refused.text
    raw = await browser.post(f"{world.path}/import/commit", content=too_big, headers={"Content-Type": "text/csv"})
    assert "文件不能超过 5 MB" in raw.text
    assert await world.titles() == []
    # the desk's other posts keep the request cap
    flood = await browser.post(f"{world.path}/scan", data={"code": "x" * (1024 * 1024 + 10)})
    assert flood.status_code == 413


# -- who may use it ------------------------------------------------------------------------------


async def test_who_may_open_the_library_desk(world, console, client):
    elsewhere = (await community(client, world.root, "青杠社区"))["id"]
    book = await world.book("小王子")
    # staff of another community only: no such community for them
    outsider = await login(client, "别处社工")
    await grant(client, world.root, elsewhere, outsider, "staff")
    # staff elsewhere and a resident here: refused
    resident = await login(client, "住这儿的社工")
    await grant(client, world.root, elsewhere, resident, "staff")
    await join(client, resident, world.b, "9栋", "1单元", "101")
    paths = ["", "/holds", "/overdue", "/books", f"/books/{book['id']}", "/import"]
    posts = [
        ("/scan", {"code": book["barcodes"][0]}),
        ("/return", {"barcode": book["barcodes"][0]}),
        ("/renew", {"barcode": book["barcodes"][0]}),
        ("/reader", {"pick": str(world.chen_me)}),
        ("/forget", {}),
        ("/books", {"title": "x"}),
        (f"/books/{book['id']}/copies", {"barcode": "NEW-1"}),
    ]
    for person, status in ((outsider, 404), (resident, 403)):
        browser = await console(person)
        for path in paths:
            assert (await browser.get(world.path + path)).status_code == status, (person.name, path)
        for path, data in posts:
            assert (await browser.post(world.path + path, data=data)).status_code == status, (person.name, path)
        upload = await browser.post(
            f"{world.path}/import/commit", files={"file": ("a.csv", b"\xe4\xb9\xa6\xe5\x90\x8d\nx\n", "text/csv")}
        )
        assert upload.status_code == status
    assert await world.titles() == ["小王子"]

    # CSRF: every change needs the page's token
    browser = await console(world.staff)
    for path, data in posts:
        refused = await browser.post(world.path + path, data=data, csrf=False)
        assert refused.status_code == 403 and "页面已过期" in refused.text, path
    refused = await browser.post(
        f"{world.path}/import/commit",
        files={"file": ("a.csv", b"\xe4\xb9\xa6\xe5\x90\x8d\nx\n", "text/csv")},
        csrf=False,
    )
    assert refused.status_code == 403
    assert await world.loans(world.chen) == [] and await world.titles() == ["小王子"]

    # not signed in: to the login page
    anonymous = await console()
    assert (await anonymous.get(world.path)).status_code == 303
