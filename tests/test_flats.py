"""Flats (专有部分): households' floor area and owner flag through the HTTP API, on both engines —
who sees and edits them, the values taken and refused, and the flats sheet (CSV or XLSX) previewed
and imported whole or not at all: matched by address, unknown addresses created as households,
created/updated/unchanged counted, every problem named by row and column, nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api import clock
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.test_library import code, xlsx

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class World:
    a: int
    elsewhere: int
    root: Person
    staff: Person
    chen: Person
    wang: Person
    outsider: Person
    chen_home: int
    wang_home: int
    client: Any

    def flats(self, action: str, community_id: int | None = None) -> str:
        return f"/api/v1/communities/{community_id or self.a}/households/flats/{action}"

    async def household(self, household_id: int, person: Person | None = None) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/households/{household_id}", headers=(person or self.staff).headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def listed(self) -> dict[str, dict[str, Any]]:
        """The community's households by address, as staff list them."""
        response = await self.client.get(
            f"/api/v1/communities/{self.a}/households?limit=100", headers=self.staff.headers
        )
        assert response.status_code == 200, response.text
        return {f"{h['building']}{h['unit']}{h['room']}": h for h in response.json()["items"]}

    async def send(self, sheet: str | bytes, action: str = "import", person: Person | None = None, **kw: Any) -> Any:
        data = sheet.encode() if isinstance(sheet, str) else sheet
        headers = {**(person or self.staff).headers, "content-type": kw.pop("content_type", "text/csv")}
        return await self.client.post(self.flats(action), content=data, headers={**headers, **kw.pop("headers", {})})


@pytest.fixture
async def w(client, db) -> World:
    clock.freeze(NOW)
    world = World()
    world.client = client
    world.root = await platform_admin(client, db)
    world.a = (await community(client, world.root, "A社区"))["id"]
    world.elsewhere = (await community(client, world.root, "C社区"))["id"]
    world.staff = await login(client, "社工小王")
    await grant(client, world.root, world.a, world.staff, "staff")
    world.chen = await login(client, "chen")
    world.chen_home = (await join(client, world.chen, world.a, "1栋", "1单元", "101"))["household"]["id"]
    world.wang = await login(client, "wang")
    world.wang_home = (await join(client, world.wang, world.a, "2栋", "", "5"))["household"]["id"]
    world.outsider = await login(client, "别处社工")
    await grant(client, world.root, world.elsewhere, world.outsider, "staff")
    return world


# -- one household ---------------------------------------------------------------------------------


async def test_staff_record_the_area_and_owner_and_the_household_sees_its_own(client, w):
    fresh = await w.household(w.chen_home)
    assert (fresh["floor_area"], fresh["is_owner"]) == (None, False)

    path = f"/api/v1/households/{w.chen_home}"
    saved = await client.patch(path, json={"floor_area": "89.53", "is_owner": True}, headers=w.staff.headers)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["floor_area"], saved.json()["is_owner"]) == ("89.53", True)
    assert [m["display_name"] for m in saved.json()["members"]] == ["chen"]  # the whole file comes back

    # the household's own member sees it, read-only
    mine = await w.household(w.chen_home, w.chen)
    assert (mine["floor_area"], mine["is_owner"]) == ("89.53", True)
    refused = await client.patch(path, json={"floor_area": "120"}, headers=w.chen.headers)
    assert code(refused) == (403, "staff_only")
    # another household of the community, and another community's staff: no such household
    for person in (w.wang, w.outsider):
        assert code(await client.get(path, headers=person.headers)) == (404, "household_not_found")
        assert code(await client.patch(path, json={"is_owner": False}, headers=person.headers)) == (
            404,
            "household_not_found",
        )
    assert (await w.household(w.chen_home))["floor_area"] == "89.53"  # none of them changed it

    # a number as JSON, a field left out, full-width digits and the unit written out
    for body, expected in (
        ({"floor_area": 120}, ("120.00", True)),
        ({"floor_area": 89.5}, ("89.50", True)),
        ({"is_owner": False}, ("89.50", False)),
        ({"floor_area": "１０２．３㎡"}, ("102.30", False)),
        ({"floor_area": "76.4 平方米", "is_owner": True}, ("76.40", True)),
        ({}, ("76.40", True)),
        ({"floor_area": None}, (None, True)),
    ):
        response = await client.patch(path, json=body, headers=w.staff.headers)
        assert response.status_code == 200, (body, response.text)
        assert (response.json()["floor_area"], response.json()["is_owner"]) == expected, body

    listed = await w.listed()
    assert (listed["1栋1单元101"]["floor_area"], listed["1栋1单元101"]["is_owner"]) == (None, True)
    assert (listed["2栋5"]["floor_area"], listed["2栋5"]["is_owner"]) == (None, False)


async def test_a_wrong_area_is_refused_by_name_and_changes_nothing(client, w):
    path = f"/api/v1/households/{w.chen_home}"
    assert (await client.patch(path, json={"floor_area": "89.53"}, headers=w.staff.headers)).status_code == 200
    for wrong in ("0", "-5", "89.531", "八十", "1e30", 1e30, 0, -1.5, 1_000_000.01, "1000000.01", "", True, [1]):
        response = await client.patch(path, json={"floor_area": wrong, "is_owner": True}, headers=w.staff.headers)
        assert code(response) == (422, "validation_error"), (wrong, response.text)
        error = response.json()["error"]
        assert error["details"][0]["field"] == "floor_area" and error["message"].startswith("floor_area："), wrong
    assert code(await client.patch(path, json={"is_owner": "是"}, headers=w.staff.headers)) == (422, "validation_error")
    assert code(await client.patch(path, json={"area": "90"}, headers=w.staff.headers)) == (422, "unknown_field")
    kept = await w.household(w.chen_home)
    assert (kept["floor_area"], kept["is_owner"]) == ("89.53", False)  # the owner flag sent with them was not kept
    biggest = await client.patch(path, json={"floor_area": "1000000"}, headers=w.staff.headers)
    assert biggest.json()["floor_area"] == "1000000.00"
    assert (await client.patch("/api/v1/households/999999", json={}, headers=w.staff.headers)).status_code == 404


async def test_a_comma_is_a_thousands_separator_or_refused_never_a_decimal_point(client, w):
    """1,200 ㎡ read as 1.20 ㎡ would slip a wrong area into art. 278's denominators: a comma counts
    only before exactly three final digits; any other comma is refused, by name."""
    path = f"/api/v1/households/{w.chen_home}"
    for typed, expected in (("1,200", "1200.00"), ("１，２００㎡", "1200.00"), ("999,999", "999999.00")):
        saved = await client.patch(path, json={"floor_area": typed}, headers=w.staff.headers)
        assert saved.status_code == 200, (typed, saved.text)
        assert saved.json()["floor_area"] == expected, typed
    for wrong in ("89,53", "89,5", "1,2000", "1,200.5", "1,200,000", ",200", "0,500", "12,34,567"):
        response = await client.patch(path, json={"floor_area": wrong}, headers=w.staff.headers)
        assert code(response) == (422, "validation_error"), (wrong, response.text)
        assert response.json()["error"]["details"][0]["field"] == "floor_area", wrong
    assert (await w.household(w.chen_home))["floor_area"] == "999999.00"  # none of them was kept

    sheet = '楼栋,单元,房号,面积,业主\n1栋,1单元,101,"1,200",是\n2栋,,5,"89,53",是\n'
    refused = await w.send(sheet)
    assert code(refused) == (422, "import_invalid")
    assert [(p["row"], p["column"]) for p in refused.json()["error"]["details"]] == [(3, "面积")]
    imported = await w.send(sheet.replace('"89,53"', "89.53"))
    assert imported.status_code == 200, imported.text
    listed = await w.listed()
    assert (listed["1栋1单元101"]["floor_area"], listed["2栋5"]["floor_area"]) == ("1200.00", "89.53")


# -- the sheet -------------------------------------------------------------------------------------

SHEET = """楼栋,单元,房号,面积（㎡）,业主（是/否）
1栋,1单元,101室,89.53,是
3号楼,2单元,501,120,是
3栋,2单元,502,76.4,否
2,,５,,是
"""


async def test_a_sheet_updates_known_households_creates_the_others_and_again_changes_nothing(client, w):
    first = await w.send(SHEET.encode("gb18030"))  # saved by Excel in China
    assert first.status_code == 200, first.text
    assert first.json() == {"rows": 4, "created": 2, "updated": 2, "unchanged": 0, "owners_without_area": 1}

    listed = await w.listed()
    assert set(listed) == {"1栋1单元101", "2栋5", "3号楼2单元501", "3栋2单元502"}
    figures = {address: (h["floor_area"], h["is_owner"], h["member_count"]) for address, h in listed.items()}
    assert figures == {
        "1栋1单元101": ("89.53", True, 1),  # matched by address: "101室" is chen's "101"
        "2栋5": (None, True, 1),  # "2" and "５" are wang's "2栋" and "5"; a blank area stays blank
        "3号楼2单元501": ("120.00", True, 0),  # a flat nobody has joined yet
        "3栋2单元502": ("76.40", False, 0),
    }
    # residents see their own figures
    assert (await w.household(w.chen_home, w.chen))["floor_area"] == "89.53"

    again = await w.send(SHEET)
    assert again.json() == {"rows": 4, "created": 0, "updated": 0, "unchanged": 4, "owners_without_area": 1}
    # blank cells leave what is recorded; a filled one changes it
    partial = await w.send("楼栋,单元,房号,面积,业主\n1栋,1单元,101,,否\n2栋,,5,66.6,\n")
    assert partial.json() == {"rows": 2, "created": 0, "updated": 2, "unchanged": 0, "owners_without_area": 0}
    listed = await w.listed()
    assert (listed["1栋1单元101"]["floor_area"], listed["1栋1单元101"]["is_owner"]) == ("89.53", False)
    assert (listed["2栋5"]["floor_area"], listed["2栋5"]["is_owner"]) == ("66.60", True)
    # a sheet of areas only (no owner column) is taken too
    areas = await w.send("building,room,area\n3栋,502,80\n")
    assert areas.json()["updated"] == 0 and areas.json()["created"] == 1  # no unit: "3栋502" is another flat

    # someone joining later at an imported address waits for staff, as at any known address
    li = await login(client, "li")
    joined = await join(client, li, w.a, "3号楼", "2单元", "501")
    assert joined["status"] == "pending" and joined["household"] is None


async def test_a_sheet_with_mistakes_imports_nothing_and_says_where(client, w):
    bad = (
        "楼栋,单元,房号,面积,业主\n"
        "1栋,1单元,101,95,是\n"  # fine on its own
        "9栋,1单元,901,89.531,是\n"  # three decimals
        "9栋,1单元,902,0,是\n"
        "9栋,1单元,903,70,也许\n"
        ",1单元,904,70,是\n"
        "9栋,1单元,\n"
        "1,1,101室,95,是\n"  # row 2's household written another way
        f"9栋,1单元,{'9' * 33},70,否\n"
        "9栋,1单元,905,-3,否\n"
        "\n"  # a blank line is skipped, and the row numbers still follow the sheet
        "9栋,1单元,906,abc,否\n"
    )
    response = await w.send(bad)
    assert code(response) == (422, "import_invalid")
    error = response.json()["error"]
    assert {(p["row"], p["column"]) for p in error["details"]} == {
        (3, "面积"), (4, "面积"), (5, "业主"), (6, "楼栋"), (7, "房号"), (8, "房号"), (9, "房号"), (10, "面积"),
        (12, "面积"),
    }  # fmt: skip
    messages = {(p["row"], p["column"]): p["message"] for p in error["details"]}
    assert messages[(8, "房号")] == "与第2行是同一户，每户只能有一行"
    assert messages[(5, "业主")] == "填“是”或“否”"
    assert "本次没有导入任何内容" in error["message"]
    listed = await w.listed()
    assert set(listed) == {"1栋1单元101", "2栋5"}  # nothing created
    assert listed["1栋1单元101"]["floor_area"] is None  # not even the good row's area

    # the preview says the same, row by row, and writes nothing either
    preview = await w.send(bad, "preview")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["ready"] is False and len(body["problems"]) == 9
    assert [r["row"] for r in body["rows"] if r["has_problem"]] == [3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert (await w.listed())["1栋1单元101"]["floor_area"] is None


async def test_the_preview_shows_each_row_before_and_after_and_writes_nothing(client, w):
    await client.patch(
        f"/api/v1/households/{w.chen_home}", json={"floor_area": "88", "is_owner": True}, headers=w.staff.headers
    )
    sheet = "楼栋,单元,房号,面积,业主\n1栋,1单元,101,88,是\n2栋,,5,70.5,是\n4栋,1单元,401,,是\n"
    response = await w.send(sheet, "preview")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["problems"] == []
    assert body["summary"] == {"rows": 3, "created": 1, "updated": 1, "unchanged": 1, "owners_without_area": 1}
    rows = {r["address"]: r for r in body["rows"]}
    assert rows["1栋1单元101"] == {
        "row": 2,
        "address": "1栋1单元101",
        "household_id": w.chen_home,
        "action": "unchanged",
        "floor_area": "88.00",
        "floor_area_before": "88.00",
        "is_owner": True,
        "is_owner_before": True,
        "owner_without_area": False,
        "has_problem": False,
    }
    assert (rows["2栋5"]["action"], rows["2栋5"]["floor_area_before"], rows["2栋5"]["floor_area"]) == (
        "update",
        None,
        "70.50",
    )
    assert (rows["2栋5"]["is_owner_before"], rows["2栋5"]["is_owner"]) == (False, True)
    new = rows["4栋1单元401"]
    assert (new["action"], new["household_id"], new["is_owner_before"], new["owner_without_area"]) == (
        "create",
        None,
        None,
        True,
    )
    assert set(await w.listed()) == {"1栋1单元101", "2栋5"}  # nothing written
    assert (await w.listed())["2栋5"]["floor_area"] is None


async def test_an_xlsx_sheet_imports_like_a_csv_numbers_as_typed(client, w):
    data = xlsx(
        [
            ["楼栋", "单元", "房号", "面积(㎡)", "业主(是/否)"],
            ["1栋", "1单元", 101, 89.53000000000001, "是"],  # what a spreadsheet stores for a typed 89.53
            ["5栋", "", 1, 120, "否"],
            ["5栋", "", 2, 64.25, 1],
        ]
    )
    response = await client.post(w.flats("import") + "?format=xlsx", content=data, headers=w.staff.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": 3, "created": 2, "updated": 1, "unchanged": 0, "owners_without_area": 0}
    listed = await w.listed()
    assert (listed["1栋1单元101"]["floor_area"], listed["1栋1单元101"]["is_owner"]) == ("89.53", True)
    assert (listed["5栋1"]["floor_area"], listed["5栋1"]["is_owner"]) == ("120.00", False)
    assert (listed["5栋2"]["floor_area"], listed["5栋2"]["is_owner"]) == ("64.25", True)
    # more decimals than a spreadsheet's noise are refused, not rounded
    blunt = xlsx([["楼栋", "房号", "面积"], ["5栋", 3, 64.254]])
    refused = await client.post(w.flats("import") + "?format=xlsx", content=blunt, headers=w.staff.headers)
    assert code(refused) == (422, "import_invalid") and refused.json()["error"]["details"][0]["row"] == 2
    broken = await client.post(w.flats("preview") + "?format=xlsx", content=b"PK\x03\x04 no", headers=w.staff.headers)
    assert code(broken) == (422, "import_unreadable")


async def test_a_sheet_without_the_columns_it_needs_is_refused_at_its_header(client, w):
    for sheet, columns in (
        ("门牌,面积\n101,80\n", {(1, "楼栋")}),
        ("楼栋,单元,房号\n1栋,1单元,101\n", {(1, "面积")}),
        ("楼栋,面积\n1栋,80\n", {(1, "房号")}),
        ("\n1栋,1单元,101\n", {(1, "")}),
    ):
        response = await w.send(sheet)
        assert code(response) == (422, "import_invalid"), sheet
        assert {(p["row"], p["column"]) for p in response.json()["error"]["details"]} == columns, sheet
    assert code(await w.send(b"", content_type="text/csv")) == (422, "import_invalid")
    assert (await w.send("x", content_type="image/png")).status_code == 415
    assert code(await w.send(b"\xff\xfe\x00\x00\xff", content_type="text/csv")) == (422, "import_unreadable")
    too_big = b"a" * (5 * 1024 * 1024 + 10)
    assert code(await w.send(too_big)) == (413, "import_too_large")
    assert set(await w.listed()) == {"1栋1单元101", "2栋5"}


async def test_only_staff_of_the_community_preview_or_import(client, w):
    sheet = "楼栋,单元,房号,面积,业主\n7栋,1单元,701,90,是\n"
    for action in ("preview", "import"):
        assert code(await w.send(sheet, action, w.chen)) == (403, "staff_only"), action
        assert code(await w.send(sheet, action, w.outsider)) == (404, "community_not_found"), action
        # a file the server cannot read tells an outsider nothing more
        assert code(await w.send(b"PK\x03\x04", action, w.outsider, content_type="text/csv")) == (
            404,
            "community_not_found",
        )
        missing = await client.post(w.flats(action, 999999), content=sheet.encode(), headers={
            **w.staff.headers, "content-type": "text/csv"
        })  # fmt: skip
        assert code(missing) == (404, "community_not_found")
    assert set(await w.listed()) == {"1栋1单元101", "2栋5"}


async def test_an_import_retried_with_its_key_answers_the_same_once(client, w):
    sheet = "楼栋,单元,房号,面积,业主\n7栋,1单元,701,90,是\n"
    first = await w.send(sheet, headers={"Idempotency-Key": "flats-1"})
    again = await w.send(sheet, headers={"Idempotency-Key": "flats-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {
        "rows": 1, "created": 1, "updated": 0, "unchanged": 0, "owners_without_area": 0
    }  # fmt: skip
    assert (await w.listed())["7栋1单元701"]["floor_area"] == "90.00"


# -- at once ---------------------------------------------------------------------------------------

ROUNDS = 3


async def test_two_imports_and_residents_joining_at_once_make_one_household_per_address(app, client, w):
    """Two staff import sheets naming the same new flats in opposite orders while residents join at
    some of them: each address ends as one household with the sheet's figures, and the households
    created are counted once between the imports and the joins. On PostgreSQL the requests run on
    real parallel connections (opposite orders would deadlock if inserts were not ordered)."""
    from tests.test_meetings_concurrency import at_once

    second = await login(client, "社工小李")
    await grant(client, w.root, w.a, second, "staff")
    before = len(await w.listed())
    for n in range(ROUNDS):
        flats = [(f"{10 + n}栋", "1单元", str(100 + r), f"{60 + r}.5") for r in range(20)]
        lines = [f"{b},{u},{room},{area},是" for b, u, room, area in flats]
        header = "楼栋,单元,房号,面积,业主\n"
        forward, backward = header + "\n".join(lines), header + "\n".join(reversed(lines))
        joiners = [await login(client, f"居民{n}-{k}") for k in range(4)]

        def importing(sheet: str, person: Person) -> Any:
            headers = {**person.headers, "content-type": "text/csv"}
            return lambda c: c.post(w.flats("import"), content=sheet.encode(), headers=headers)

        def joining(person: Person, k: int) -> Any:
            building, unit, room, _ = flats[k * 5]
            body = {"display_name": person.name, "building": building, "unit": unit, "room": room}
            return lambda c: c.post(f"/api/v1/communities/{w.a}/join", json=body, headers=person.headers)

        answers = await at_once(
            app,
            importing(forward, w.staff),
            importing(backward, second),
            *(joining(person, k) for k, person in enumerate(joiners)),
        )
        assert [a.status_code for a in answers] == [200, 200, 201, 201, 201, 201], [a.text for a in answers]
        imports, joins = answers[:2], [a.json() for a in answers[2:]]
        created_by_joins = sum(1 for j in joins if j["status"] == "active")  # the first at a new address
        assert sum(i.json()["created"] for i in imports) + created_by_joins == 20, [i.json() for i in imports]
        for i in imports:
            assert i.json()["rows"] == 20 and i.json()["created"] + i.json()["updated"] + i.json()["unchanged"] == 20

        listed = await w.listed()
        assert len(listed) == before + 20 * (n + 1)
        for building, unit, room, area in flats:
            assert (listed[f"{building}{unit}{room}"]["floor_area"], listed[f"{building}{unit}{room}"]["is_owner"]) == (
                f"{area}0",
                True,
            )
        for k, joined in enumerate(joins):
            building, unit, room, _ = flats[k * 5]
            assert joined["member"]["household_id"] == listed[f"{building}{unit}{room}"]["id"]


# -- people joining a flat imported before anyone lived in it in the app ----------------------------


async def test_the_first_adult_let_into_an_imported_flat_heads_it(client, w):
    await w.send("楼栋,单元,房号,面积,业主\n3号楼,2单元,501,120,是\n")
    flat = (await w.listed())["3号楼2单元501"]
    li, zhao = await login(client, "li"), await login(client, "zhao")
    first = await join(client, li, w.a, "3栋", "2单元", "501室")
    assert (first["status"], first["member"]["household_id"]) == ("pending", flat["id"])
    # while they wait, the flat's figures are not theirs to read
    assert code(await client.get(f"/api/v1/households/{flat['id']}", headers=li.headers)) == (
        404,
        "household_not_found",
    )
    approved = await client.post(f"/api/v1/members/{first['member']['id']}/approve", headers=w.staff.headers)
    assert approved.status_code == 200 and approved.json()["is_head"] is True, approved.text
    seen = await w.household(flat["id"], li)
    assert (seen["floor_area"], seen["is_owner"]) == ("120.00", True)
    # as head, they add their child and decide the next request themselves
    child = await client.post(
        f"/api/v1/households/{flat['id']}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True},
        headers=li.headers,
    )
    assert child.status_code == 201, child.text
    second = await join(client, zhao, w.a, "3号楼", "2单元", "501")
    let_in = await client.post(f"/api/v1/members/{second['member']['id']}/approve", headers=li.headers)
    assert let_in.status_code == 200 and let_in.json()["is_head"] is False
    heads = [m["display_name"] for m in (await w.household(flat["id"]))["members"] if m["is_head"]]
    assert heads == ["li"]


async def test_two_let_into_an_imported_flat_at_once_leave_it_one_head(app, client, w):
    from tests.test_meetings_concurrency import at_once

    second = await login(client, "社工小李")
    await grant(client, w.root, w.a, second, "staff")
    for n in range(ROUNDS):
        await w.send(f"楼栋,单元,房号,面积,业主\n{20 + n}栋,1单元,101,90,是\n")
        waiting = [
            (await join(client, await login(client, f"住户{n}-{k}"), w.a, f"{20 + n}栋", "1单元", "101"))
            for k in range(2)
        ]
        assert [j["status"] for j in waiting] == ["pending", "pending"]
        answers = await at_once(
            app,
            *(
                (lambda c, m=j["member"]["id"], s=staff: c.post(f"/api/v1/members/{m}/approve", headers=s.headers))
                for j, staff in zip(waiting, (w.staff, second), strict=True)
            ),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        members = (await w.household(waiting[0]["member"]["household_id"]))["members"]
        assert sorted(m["is_head"] for m in members) == [False, True], (n, members)
        assert all(m["status"] == "active" for m in members)
