"""The reading corner's library: catalogue, import, lending rules, holds, reminders, the desk."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from tests.conftest import make_settings
from tests.factories import Person, add_child, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai: the space is open (Tue–Sun 09:00–21:00)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def worker(app: Any) -> Worker:
    return Worker(app.state.db, app.state.settings, app.state.wechat)


class Library:
    async def build(self, client: Any, db: Any) -> Library:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        space = await client.post(
            f"/api/v1/communities/{self.b}/spaces", json={"name": "复合空间"}, headers=self.root.headers
        )
        self.space = space.json()["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen, home = await self.household("chen", "301")
        self.xiaoyu = (await add_child(client, self.chen, home, "小雨", 2018))["id"]
        self.chen_me = await self.me(self.chen)
        self.zhou, home = await self.household("zhou", "502")
        self.lele = (await add_child(client, self.zhou, home, "乐乐", 2016))["id"]
        self.zhou_me = await self.me(self.zhou)
        return self

    async def household(self, name: str, room: str) -> tuple[Person, int]:
        person = await login(self.client, name)
        joined = await join(self.client, person, self.b, "1栋", "1单元", room)
        return person, joined["household"]["id"]

    async def me(self, person: Person) -> int:
        me = (await self.client.get("/api/v1/me", headers=person.headers)).json()
        return int(me["memberships"][0]["member_id"])

    async def book(self, title: str = "猜猜我有多爱你", copies: int = 1, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/communities/{self.b}/books", json={"title": title, **fields}, headers=self.staff.headers
        )
        assert response.status_code == 201, response.text
        book: dict[str, Any] = response.json()
        book["barcodes"] = []
        for n in range(copies):
            barcode = f"{title[:2]}-{book['id']}-{n}"
            added = await self.client.post(
                f"/api/v1/books/{book['id']}/copies", json={"barcode": barcode}, headers=self.staff.headers
            )
            assert added.status_code == 201, added.text
            book["barcodes"].append(barcode)
        return book

    async def borrow(self, person: Person, barcode: str, member_id: int, **headers: str) -> Any:
        return await self.client.post(
            f"/api/v1/communities/{self.b}/loans",
            json={"barcode": barcode, "member_id": member_id},
            headers={**person.headers, **headers},
        )

    async def give_back(self, barcode: str) -> Any:
        return await self.client.post(
            f"/api/v1/communities/{self.b}/returns", json={"barcode": barcode}, headers=self.staff.headers
        )

    async def hold(self, person: Person, book_id: int, member_id: int) -> Any:
        return await self.client.post(
            f"/api/v1/books/{book_id}/holds", json={"member_id": member_id}, headers=person.headers
        )

    async def inbox(self, person: Person) -> list[str]:
        items = (await self.client.get("/api/v1/me/inbox", headers=person.headers)).json()["items"]
        return [i["title"] for i in items]


@pytest.fixture
async def lib(client, db) -> Library:
    return await Library().build(client, db)


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- catalogue -----------------------------------------------------------------------------------


async def test_isbns_are_checked_and_kept_as_isbn_13(client, lib):
    book = await lib.book("小王子", isbn="7-02-000220-X")
    assert book["isbn"] == "9787020002207"
    same = await client.post(
        f"/api/v1/communities/{lib.b}/books",
        json={"title": "小王子", "isbn": "978-7-02-000220-7"},
        headers=lib.staff.headers,
    )
    assert code(same) == (409, "book_exists") and same.json()["error"]["details"] == {"book_id": book["id"]}
    wrong = await client.post(
        f"/api/v1/communities/{lib.b}/books",
        json={"title": "x", "isbn": "978-7-02-000220-8"},
        headers=lib.staff.headers,
    )
    assert code(wrong) == (422, "isbn_invalid")
    by_resident = await client.post(f"/api/v1/communities/{lib.b}/books", json={"title": "x"}, headers=lib.chen.headers)
    assert code(by_resident) == (403, "staff_only")


async def test_search_by_words_isbn_tag_age_and_shelf(client, lib):
    a = await lib.book(
        "好饿的毛毛虫", copies=1, author="艾瑞·卡尔", isbn="9787533259563", tags=["绘本", "自然"], age_min=2, age_max=6
    )
    await lib.book("神奇校车：地球内部探秘", copies=1, author="乔安娜·柯尔", tags=["科普"], age_min=6, age_max=10)
    await lib.book("没有书的书", copies=0, tags=["绘本"])

    async def titles(**params: Any) -> list[str]:
        response = await client.get(f"/api/v1/communities/{lib.b}/books", params=params, headers=lib.chen.headers)
        assert response.status_code == 200, response.text
        return [b["title"] for b in response.json()["items"]]

    assert await titles(q="毛毛虫") == ["好饿的毛毛虫"]
    assert await titles(q="柯尔") == ["神奇校车：地球内部探秘"]
    assert await titles(q="978-7-5332-5956-3") == ["好饿的毛毛虫"]
    assert await titles(tag="绘本") == ["好饿的毛毛虫", "没有书的书"]
    assert await titles(tag="绘") == []  # whole tags only
    assert await titles(age=8) == ["神奇校车：地球内部探秘", "没有书的书"]
    assert await titles(available="true") == ["好饿的毛毛虫", "神奇校车：地球内部探秘"]
    await lib.borrow(lib.staff, a["barcodes"][0], lib.xiaoyu)
    assert await titles(available="true") == ["神奇校车：地球内部探秘"]
    item = (await client.get(f"/api/v1/communities/{lib.b}/books?q=毛毛虫", headers=lib.chen.headers)).json()["items"][
        0
    ]
    assert (item["copies"], item["available"], item["holds"]) == (1, 0, 0)
    seen = (await client.get(f"/api/v1/books/{a['id']}", headers=lib.chen.headers)).json()
    assert "barcode" not in seen["copies_detail"][0] or seen["copies_detail"][0]["barcode"] is None
    assert [x["member_name"] for x in seen["mine"]["loans"]] == ["小雨"]
    assert (await client.get(f"/api/v1/books/{a['id']}", headers=lib.zhou.headers)).json()["mine"]["loans"] == []


# -- import --------------------------------------------------------------------------------------

CSV_OK = """书名,ISBN,作者,出版社,出版年,适读年龄,标签,册数,条码
好饿的毛毛虫,978-7-5332-5956-3,艾瑞·卡尔,明天出版社,2008,2-6,绘本、自然,2,A001 A002
小王子,7-02-000220-X,圣埃克苏佩里,人民文学出版社,2003,8岁以上,经典,1,
猜猜我有多爱你,,山姆·麦克布雷尼,明天出版社,2013,3-6,绘本,,B001
"""


async def test_a_sheet_is_imported_whole_and_again_changes_nothing(client, lib):
    path = f"/api/v1/communities/{lib.b}/books/import"
    headers = {**lib.staff.headers, "content-type": "text/csv"}
    first = await client.post(path, content=CSV_OK.encode(), headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "rows": 3,
        "books_created": 3,
        "books_existing": 0,
        "copies_created": 4,
        "copies_existing": 0,
    }
    again = await client.post(path, content=CSV_OK.encode("gb18030"), headers=headers)  # saved by Excel in China
    assert again.json() == {
        "rows": 3,
        "books_created": 0,
        "books_existing": 3,
        "copies_created": 0,
        "copies_existing": 4,
    }
    books = (await client.get(f"/api/v1/communities/{lib.b}/books?q=小王子", headers=lib.staff.headers)).json()["items"]
    assert (books[0]["isbn"], books[0]["age_min"], books[0]["age_max"], books[0]["copies"]) == (
        "9787020002207",
        8,
        None,
        1,
    )
    caterpillar = (await client.get(f"/api/v1/communities/{lib.b}/books?tag=自然", headers=lib.staff.headers)).json()
    assert caterpillar["items"][0]["tags"] == ["绘本", "自然"]


async def test_a_sheet_with_mistakes_imports_nothing_and_says_where(client, lib):
    await lib.book("已有的书", copies=1)  # its barcode: 已有-<id>-0
    existing = (await client.get(f"/api/v1/communities/{lib.b}/books", headers=lib.staff.headers)).json()["items"][0]
    taken = f"已有-{existing['id']}-0"
    bad = (
        "书名,ISBN,册数,条码,出版年,适读年龄\n"
        "好书,978-7-5332-5956-3,1,C1,2008,3-6\n"
        ",,1,C2,,\n"
        "坏ISBN,978-7-5332-5956-4,1,C3,,\n"
        "条码重复,,2,C1 C4,,\n"
        f"条码已用,,1,{taken},,\n"
        "年龄反了,,1,C5,20x8,9-3\n"
    )
    response = await client.post(
        f"/api/v1/communities/{lib.b}/books/import",
        content=bad.encode(),
        headers={**lib.staff.headers, "content-type": "text/csv"},
    )
    assert code(response) == (422, "import_invalid")
    assert {(p["row"], p["column"]) for p in response.json()["error"]["details"]} == {
        (3, "书名"), (4, "ISBN"), (5, "条码"), (6, "条码"), (7, "出版年"), (7, "适读年龄")
    }  # fmt: skip
    listed = (await client.get(f"/api/v1/communities/{lib.b}/books", headers=lib.staff.headers)).json()["items"]
    assert [b["title"] for b in listed] == ["已有的书"]  # nothing imported, not even the good row
    unknown = await client.post(
        f"/api/v1/communities/{lib.b}/books/import",
        content=b"x",
        headers={**lib.staff.headers, "content-type": "image/png"},
    )
    assert unknown.status_code == 415


def xlsx(rows: list[list[Any]], numbers: list[int] | None = None, mangle: Any = None) -> bytes:
    """A minimal workbook as Excel writes it: the parts a reader needs with their content types,
    shared strings, numbers for numbers. `numbers` are the sheet's row numbers (Excel leaves blank
    rows out); `mangle` edits the sheet's XML."""
    strings: list[str] = []
    cells = []
    for r, row in zip(numbers or range(1, len(rows) + 1), rows, strict=True):
        parts = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, int | float):
                parts.append(f'<c r="{ref}"><v>{float(value)}</v></c>')
            else:
                strings.append(str(value))
                parts.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        cells.append(f'<row r="{r}">{"".join(parts)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>",
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook {ns} {rel}><sheets><sheet name="书目" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>',
        )
        z.writestr("xl/sharedStrings.xml", f"<sst {ns}>" + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
        sheet = f"<worksheet {ns}><sheetData>{''.join(cells)}</sheetData></worksheet>"
        z.writestr("xl/worksheets/sheet1.xml", mangle(sheet) if mangle else sheet)
    return out.getvalue()


async def test_an_xlsx_sheet_imports_like_a_csv(client, lib):
    data = xlsx(
        [["书名", "ISBN", "册数", "条码"], ["好饿的毛毛虫", 9787533259563, 1, "X1"], ["小王子", "7-02-000220-X", 2, ""]]
    )
    response = await client.post(
        f"/api/v1/communities/{lib.b}/books/import?format=xlsx", content=data, headers=lib.staff.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["books_created"] == 2 and response.json()["copies_created"] == 3
    isbns = {
        b["title"]: b["isbn"]
        for b in (await client.get(f"/api/v1/communities/{lib.b}/books", headers=lib.staff.headers)).json()["items"]
    }
    assert isbns == {"好饿的毛毛虫": "9787533259563", "小王子": "9787020002207"}
    bomb = await client.post(
        f"/api/v1/communities/{lib.b}/books/import?format=xlsx",
        content=b"PK\x03\x04 not really",
        headers=lib.staff.headers,
    )
    assert code(bomb) == (422, "import_unreadable")


# -- borrowing rules -----------------------------------------------------------------------------


async def test_a_loan_is_due_in_fourteen_days_moved_off_closed_days(client, lib):
    book = await lib.book(copies=2)
    loan = await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)
    assert loan.status_code == 201, loan.text
    assert loan.json()["due_on"] == "2026-12-15"  # a Tuesday: open
    # closed for repairs on the 15th and 16th: due the 17th
    await client.post(
        f"/api/v1/spaces/{lib.space}/closures",
        json={"starts_on": "2026-12-15", "ends_on": "2026-12-16"},
        headers=lib.staff.headers,
    )
    other = await lib.borrow(lib.staff, book["barcodes"][1], lib.lele)
    assert other.json()["due_on"] == "2026-12-17"
    # children's loans for 13 days would end on a Monday, when the space is closed
    await client.put(
        f"/api/v1/communities/{lib.b}/loan-policy", json={"child_loan_days": 13}, headers=lib.staff.headers
    )
    third = await lib.book("第三本")
    assert (await lib.borrow(lib.staff, third["barcodes"][0], lib.xiaoyu)).json()["due_on"] == "2026-12-17"


async def test_a_member_borrows_up_to_the_limit_and_not_while_anything_is_overdue(client, lib):
    books = [await lib.book(f"书{n}") for n in range(4)]
    for book in books[:3]:
        assert (await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)).status_code == 201
    fourth = await lib.borrow(lib.chen, books[3]["barcodes"][0], lib.xiaoyu)
    assert code(fourth) == (409, "loan_limit") and fourth.json()["error"]["details"] == {"limit": 3}
    # the limit is per person: the parent may borrow
    assert (await lib.borrow(lib.chen, books[3]["barcodes"][0], lib.chen_me)).status_code == 201
    await lib.give_back(books[3]["barcodes"][0])
    clock.advance(timedelta(days=15))  # everything of 小雨 is overdue now (open Wednesday)
    await lib.give_back(books[0]["barcodes"][0])
    blocked = await lib.borrow(lib.chen, books[0]["barcodes"][0], lib.xiaoyu)
    assert code(blocked) == (409, "member_overdue")
    assert len(blocked.json()["error"]["details"]["overdue"]) == 2
    assert (await lib.borrow(lib.chen, books[0]["barcodes"][0], lib.chen_me)).status_code == 201


async def test_residents_borrow_only_for_their_household_and_only_while_open(client, lib):
    book = await lib.book(copies=2)
    other = await lib.borrow(lib.chen, book["barcodes"][0], lib.lele)
    assert code(other) == (422, "member_not_in_household")
    clock.freeze(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # Monday noon: closed
    closed = await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)
    assert code(closed) == (409, "library_closed")
    # Monday is the space's day off: it opens on Tuesday at nine
    assert closed.json()["error"]["message"].startswith("书屋现在没有开放，12月1日 09:00 开门")
    assert closed.json()["error"]["details"]["opens_at"] == "2026-12-01T09:00:00+08:00"
    at_desk = await lib.borrow(lib.staff, book["barcodes"][0], lib.xiaoyu)  # staff at the desk may
    assert at_desk.status_code == 201
    clock.freeze(NOW)
    loan = at_desk.json()
    assert (await client.get(f"/api/v1/loans/{loan['id']}", headers=lib.zhou.headers)).status_code == 404
    assert (await client.post(f"/api/v1/loans/{loan['id']}/renew", headers=lib.zhou.headers)).status_code == 404
    shelf = (await client.get("/api/v1/me/loans", headers=lib.zhou.headers)).json()
    assert shelf["loans"] == []
    mine = (await client.get("/api/v1/me/loans", headers=lib.chen.headers)).json()
    assert [(x["book"]["title"], x["member"]["name"]) for x in mine["loans"]] == [("猜猜我有多爱你", "小雨")]
    outsider = await login(client, "outsider")
    assert (await lib.borrow(outsider, book["barcodes"][1], lib.xiaoyu)).status_code == 403
    assert (
        await client.post(
            f"/api/v1/communities/{lib.b}/returns", json={"barcode": book["barcodes"][0]}, headers=lib.chen.headers
        )
    ).status_code == 403


async def test_a_copy_is_lent_once_and_only_from_the_shelf(client, lib):
    book = await lib.book(copies=1)
    barcode = book["barcodes"][0]
    key = {"Idempotency-Key": "scan-1"}
    first = await lib.borrow(lib.chen, barcode, lib.xiaoyu, **key)
    double_scan = await lib.borrow(lib.chen, barcode, lib.xiaoyu, **key)
    assert first.status_code == double_scan.status_code == 201 and first.json() == double_scan.json()
    assert code(await lib.borrow(lib.zhou, barcode, lib.lele)) == (409, "copy_on_loan")
    returned = await lib.give_back(barcode)
    assert returned.status_code == 200 and returned.json()["returned_at"] is not None
    assert returned.json()["next"] == {"to": "shelf", "hold_id": None, "member_name": None}
    assert code(await lib.give_back(barcode)) == (409, "not_on_loan")
    copy_id = (await client.get(f"/api/v1/books/{book['id']}", headers=lib.staff.headers)).json()["copies_detail"][0][
        "id"
    ]
    await client.patch(f"/api/v1/copies/{copy_id}", json={"state": "repair"}, headers=lib.staff.headers)
    assert code(await lib.borrow(lib.zhou, barcode, lib.lele)) == (409, "copy_unavailable")
    repairs = (await client.get(f"/api/v1/communities/{lib.b}/library/copies", headers=lib.staff.headers)).json()
    assert [(c["barcode"], c["state"]) for c in repairs] == [(barcode, "repair")]
    await client.patch(f"/api/v1/copies/{copy_id}", json={"state": "available"}, headers=lib.staff.headers)
    await lib.borrow(lib.zhou, barcode, lib.lele)
    in_use = await client.patch(f"/api/v1/copies/{copy_id}", json={"state": "lost"}, headers=lib.staff.headers)
    assert code(in_use) == (409, "copy_in_circulation")
    assert code(await lib.borrow(lib.chen, "no-such-code", lib.xiaoyu)) == (404, "copy_not_found")


# -- renewals and holds --------------------------------------------------------------------------


async def test_renewal_is_refused_when_used_up_overdue_or_someone_is_waiting(client, lib):
    book = await lib.book(copies=1)
    loan = (await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)).json()
    renewed = await client.post(f"/api/v1/loans/{loan['id']}/renew", headers=lib.chen.headers)
    assert renewed.status_code == 200
    assert (renewed.json()["due_on"], renewed.json()["renewals_left"]) == ("2026-12-29", 0)
    assert code(await client.post(f"/api/v1/loans/{loan['id']}/renew", headers=lib.chen.headers)) == (
        409,
        "renewal_limit",
    )

    other = (await lib.borrow(lib.zhou, (await lib.book("别的书"))["barcodes"][0], lib.lele)).json()
    await lib.hold(lib.chen, other["book"]["id"], lib.xiaoyu)
    assert code(await client.post(f"/api/v1/loans/{other['id']}/renew", headers=lib.zhou.headers)) == (
        409,
        "book_on_hold",
    )

    third = (await lib.borrow(lib.zhou, (await lib.book("第三本"))["barcodes"][0], lib.zhou_me)).json()
    clock.advance(timedelta(days=15))
    late = await client.post(f"/api/v1/loans/{third['id']}/renew", headers=lib.zhou.headers)
    assert code(late) == (409, "loan_overdue")
    assert late.json()["error"]["message"] == "这本书 12月15日 到期，已经逾期，不能续借，请先归还"
    assert late.json()["error"]["details"]["due_on"] == third["due_on"] == "2026-12-15"


async def test_holds_queue_in_order_and_an_unclaimed_copy_passes_to_the_next(client, app, lib):
    book = await lib.book(copies=1)
    loan = (await lib.borrow(lib.staff, book["barcodes"][0], lib.chen_me)).json()
    first = (await lib.hold(lib.zhou, book["id"], lib.lele)).json()
    second = (await lib.hold(lib.chen, book["id"], lib.xiaoyu)).json()
    assert [(first["status"], first["position"]), (second["status"], second["position"])] == [
        ("waiting", 1),
        ("waiting", 2),
    ]
    assert code(await lib.hold(lib.chen, book["id"], lib.xiaoyu)) == (409, "already_on_hold")

    back = await lib.give_back(book["barcodes"][0])
    assert back.json()["next"]["to"] == "hold_shelf" and back.json()["next"]["member_name"] == "乐乐"
    assert "预约的书到了：《猜猜我有多爱你》" in await lib.inbox(lib.zhou)
    ready = (await client.get(f"/api/v1/holds/{first['id']}", headers=lib.zhou.headers)).json()
    assert ready["status"] == "ready" and ready["expires_at"] == "2026-12-04T00:00:00+08:00"  # end of Thursday 3rd
    waiting = (await client.get(f"/api/v1/holds/{second['id']}", headers=lib.chen.headers)).json()
    assert waiting["position"] == 1
    # kept for 乐乐: nobody else may take it
    kept = await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)
    assert code(kept) == (409, "copy_held")
    assert kept.json()["error"]["message"] == "这册书给预约的读者留到 12月3日，之后没人来取才能借"
    assert kept.json()["error"]["details"]["kept_until"] == "2026-12-03"
    shelf = (await client.get(f"/api/v1/communities/{lib.b}/library/hold-shelf", headers=lib.staff.headers)).json()
    assert [(h["member_name"], h["pickup_by"]) for h in shelf] == [("乐乐", "2026-12-03")]

    clock.advance(timedelta(days=1, hours=3))  # noon the day before its last day: a reminder
    await worker(app).run_until_idle()
    assert "预约的书明天过期：《猜猜我有多爱你》" in await lib.inbox(lib.zhou)
    clock.advance(timedelta(days=2))  # not picked up: it goes to 小雨
    await worker(app).run_until_idle()
    assert (await client.get(f"/api/v1/holds/{first['id']}", headers=lib.zhou.headers)).json()["status"] == "expired"
    assert (await client.get(f"/api/v1/holds/{second['id']}", headers=lib.chen.headers)).json()["status"] == "ready"
    picked = await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)
    assert picked.status_code == 201
    assert (await client.get(f"/api/v1/holds/{second['id']}", headers=lib.chen.headers)).json()["status"] == "fulfilled"
    assert loan["member"]["name"] == "chen"


async def test_a_hold_on_a_book_on_the_shelf_keeps_a_copy_and_cancelling_passes_it_on(client, lib):
    book = await lib.book(copies=1)
    kept = (await lib.hold(lib.chen, book["id"], lib.xiaoyu)).json()
    assert kept["status"] == "ready"
    queued = (await lib.hold(lib.zhou, book["id"], lib.lele)).json()
    assert queued["status"] == "waiting"
    cancelled = await client.post(f"/api/v1/holds/{kept['id']}/cancel", headers=lib.chen.headers)
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/api/v1/holds/{queued['id']}", headers=lib.zhou.headers)).json()["status"] == "ready"
    assert (await client.post(f"/api/v1/holds/{queued['id']}/cancel", headers=lib.chen.headers)).status_code == 404
    await client.post(f"/api/v1/holds/{queued['id']}/cancel", headers=lib.zhou.headers)
    detail = (await client.get(f"/api/v1/books/{book['id']}", headers=lib.staff.headers)).json()
    assert detail["available"] == 1  # back on the shelf
    await client.put(f"/api/v1/communities/{lib.b}/loan-policy", json={"max_holds": 1}, headers=lib.staff.headers)
    await lib.hold(lib.chen, (await lib.book("另一本"))["id"], lib.xiaoyu)
    assert code(await lib.hold(lib.chen, book["id"], lib.xiaoyu)) == (409, "hold_limit")


# -- reminders and the desk ----------------------------------------------------------------------


async def test_due_and_overdue_reminders_and_the_desks_lists(client, app, lib):
    book = await lib.book(copies=1)
    await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)  # due 15 Dec
    clock.freeze(datetime(2026, 12, 13, 3, 59, tzinfo=UTC))  # the 13th, just before noon
    await worker(app).run_until_idle()
    assert await lib.inbox(lib.chen) == []
    clock.freeze(datetime(2026, 12, 13, 4, 0, tzinfo=UTC))
    await worker(app).run_until_idle()
    assert await lib.inbox(lib.chen) == ["还书提醒：《猜猜我有多爱你》"]

    for day in (16, 17, 20, 23, 24):  # the worker runs every day; told the first day, then weekly
        clock.freeze(datetime(2026, 12, day, 2, 0, tzinfo=UTC))
        await worker(app).run_until_idle()
    assert [t for t in await lib.inbox(lib.chen) if "逾期" in t] == [
        "《猜猜我有多爱你》已逾期8天",
        "《猜猜我有多爱你》已逾期1天",
    ]

    overdue = (await client.get(f"/api/v1/communities/{lib.b}/library/overdue", headers=lib.staff.headers)).json()
    assert [(o["member_name"], o["days_overdue"], o["household"]) for o in overdue] == [("小雨", 9, "1栋1单元301")]
    assert (
        await client.get(f"/api/v1/communities/{lib.b}/library/overdue", headers=lib.chen.headers)
    ).status_code == 403
    await lib.give_back(book["barcodes"][0])
    months = (
        await client.get(f"/api/v1/communities/{lib.b}/library/circulation?months=2", headers=lib.staff.headers)
    ).json()
    assert months == [
        {"month": "2026-12", "loans": 1, "returns": 1, "borrowers": 1, "households": 1},
        {"month": "2026-11", "loans": 0, "returns": 0, "borrowers": 0, "households": 0},
    ]
    history = (await client.get("/api/v1/me/loans?state=history", headers=lib.chen.headers)).json()
    assert [x["returned_at"] is not None for x in history["loans"]] == [True]


# -- edges found in review -------------------------------------------------------------------------


async def test_a_copy_back_from_repair_goes_to_the_hold_queue_and_a_lost_loan_is_closed(client, lib):
    book = await lib.book(copies=1)
    copy_id = (await client.get(f"/api/v1/books/{book['id']}", headers=lib.staff.headers)).json()["copies_detail"][0][
        "id"
    ]
    await client.patch(f"/api/v1/copies/{copy_id}", json={"state": "repair"}, headers=lib.staff.headers)
    waiting = (await lib.hold(lib.zhou, book["id"], lib.lele)).json()
    assert waiting["status"] == "waiting"
    mended = await client.patch(f"/api/v1/copies/{copy_id}", json={"state": "available"}, headers=lib.staff.headers)
    assert mended.json()["state"] == "on_hold_shelf"  # not the open shelf: 乐乐 is waiting
    assert (await client.get(f"/api/v1/holds/{waiting['id']}", headers=lib.zhou.headers)).json()["status"] == "ready"
    assert code(await lib.borrow(lib.chen, book["barcodes"][0], lib.xiaoyu)) == (409, "copy_held")

    loan = (await lib.borrow(lib.zhou, book["barcodes"][0], lib.lele)).json()
    clock.advance(timedelta(days=20))
    late = await lib.borrow(lib.staff, (await lib.book("下一本"))["barcodes"][0], lib.lele)
    assert code(late) == (409, "member_overdue")
    assert (await client.post(f"/api/v1/loans/{loan['id']}/lost", headers=lib.zhou.headers)).status_code == 403
    lost = await client.post(f"/api/v1/loans/{loan['id']}/lost", headers=lib.staff.headers)
    assert lost.status_code == 200 and lost.json()["lost"] is True
    assert (await lib.borrow(lib.staff, (await lib.book("再下一本"))["barcodes"][0], lib.lele)).status_code == 201
    copies = (
        await client.get(f"/api/v1/communities/{lib.b}/library/copies?state=lost", headers=lib.staff.headers)
    ).json()
    assert [c["barcode"] for c in copies] == [book["barcodes"][0]]


async def test_children_may_have_their_own_limit(client, lib):
    await client.put(f"/api/v1/communities/{lib.b}/loan-policy", json={"child_max_loans": 1}, headers=lib.staff.headers)
    first, second = await lib.book("一"), await lib.book("二")
    assert (await lib.borrow(lib.chen, first["barcodes"][0], lib.xiaoyu)).status_code == 201
    assert code(await lib.borrow(lib.chen, second["barcodes"][0], lib.xiaoyu)) == (409, "loan_limit")
    assert (await lib.borrow(lib.chen, second["barcodes"][0], lib.chen_me)).status_code == 201  # adults: 3
    kept = await client.put(
        f"/api/v1/communities/{lib.b}/loan-policy", json={"loan_days": None}, headers=lib.staff.headers
    )
    assert kept.status_code == 200 and kept.json()["loan_days"] == 14  # null leaves a rule as it is


async def test_odd_sheets_and_fields_are_clean_errors(client, lib):
    path = f"/api/v1/communities/{lib.b}/books/import"

    async def send(data: bytes, kind: str = "csv") -> Any:
        return await client.post(f"{path}?format={kind}", content=data, headers=lib.staff.headers)

    # Excel leaves blank rows out of the file: the error still names the sheet's row
    assert (await send(xlsx([["书名", "ISBN"], ["好书", "9787533259563"]], [1, 7]), "xlsx")).status_code == 200
    bad_row = xlsx([["书名", "ISBN"], ["好书", "9787533259564"]], [1, 5])
    assert [p["row"] for p in (await send(bad_row, "xlsx")).json()["error"]["details"]] == [5]
    wide = xlsx([["书名"], ["x"]], mangle=lambda sheet: sheet.replace('r="A2"', 'r="ZZZZZZZ2"'))
    assert code(await send(wide, "xlsx")) == (422, "import_unreadable")
    broken = xlsx([["书名"], ["x"]], mangle=lambda sheet: sheet.replace("<v>1</v>", "<v>99</v>"))
    assert code(await send(broken, "xlsx")) == (422, "import_unreadable")
    entity = xlsx([["书名"], ["x"]], mangle=lambda sheet: '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + sheet)
    assert code(await send(entity, "xlsx")) == (422, "import_unreadable")
    huge_age = "书名,适读年龄\n好书,3000000000岁以上\n".encode()
    assert code(await send(huge_age)) == (422, "import_invalid")
    long_field = b'\xe4\xb9\xa6\xe5\x90\x8d\n"' + b"x" * 200_000 + b'"\n'
    assert code(await send(long_field)) == (422, "import_unreadable")
    with_nul = "书名,作者\n好书,张\x00三\n".encode()
    assert (await send(with_nul)).json()["books_created"] == 1
    # what does not fit is said with its row, never cut short in silence
    eleven_tags = "、".join(f"标签{n}" for n in range(11))
    long_author = f"书名,作者,标签\n长书,{'著' * 129},绘本\n多标签,张三,{eleven_tags}\n".encode()
    refused = await send(long_author)
    assert code(refused) == (422, "import_invalid")
    assert [(p["row"], p["column"]) for p in refused.json()["error"]["details"]] == [(2, "作者"), (3, "标签")]
    too_big = await client.post(f"{path}?format=csv", content=b"x" * (5 * 1024 * 1024 + 1), headers=lib.staff.headers)
    assert too_big.status_code == 413
    cover = await client.post(
        f"/api/v1/communities/{lib.b}/books",
        json={"title": "t", "cover_url": "https://img.example/" + "x" * 600},
        headers=lib.staff.headers,
    )
    assert cover.status_code == 422
    wide_isbn = await client.post(
        f"/api/v1/communities/{lib.b}/books",
        json={"title": "全角", "isbn": "７-０２-０００２２０-X"},
        headers=lib.staff.headers,
    )
    assert wide_isbn.json()["isbn"] == "9787020002207"
