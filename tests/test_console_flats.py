"""Flats (面积和业主) in the staff console, through HTTP on both engines: the import page reached
from the households section (upload → preview → import; every problem by row and column; nothing
written until the import, and nothing at all when a row is wrong), and the area and owner flag
shown and edited on the household's page. Who may use them, and CSRF. Outcomes are checked through
the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api import clock
from api.console import uploads
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.test_console_households import flash
from tests.test_console_library import text, xlsx

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class W:
    async def build(self, client: Any, db: Any, console: Any) -> W:
        self.client = client
        self.root = await platform_admin(client, db)
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.a, self.staff, "staff")
        self.chen = await login(client, "chen")
        self.chen_home = (await join(client, self.chen, self.a, "1栋", "1单元", "101"))["household"]["id"]
        self.browser = await console(self.staff)
        return self

    @property
    def base(self) -> str:
        return f"/console/c/{self.a}/households"

    async def household(self, household_id: int, person: Person | None = None) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/households/{household_id}", headers=(person or self.staff).headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def listed(self) -> dict[str, tuple[str | None, bool]]:
        response = await self.client.get(
            f"/api/v1/communities/{self.a}/households?limit=100", headers=self.staff.headers
        )
        assert response.status_code == 200, response.text
        return {
            f"{h['building']}{h['unit']}{h['room']}": (h["floor_area"], h["is_owner"]) for h in response.json()["items"]
        }

    async def upload(self, action: str, sheet: str | bytes, name: str = "面积.csv", **kw: Any) -> Any:
        data = sheet.encode() if isinstance(sheet, str) else sheet
        return await self.browser.post(f"{self.base}/flats/{action}", files={"file": (name, data, "text/csv")}, **kw)


@pytest.fixture
async def w(client, db, console) -> W:
    return await W().build(client, db, console)


HEADER = "楼栋,单元,房号,面积(㎡),业主(是/否)\n"
BAD = HEADER + "1栋,1单元,101,89.53,是\n3栋,2单元,501,八十,是\n1,1,101室,90,否\n3栋,2单元,,70,也许\n"
GOOD = HEADER + "1栋,1单元,101室,89.53,是\n3栋,2单元,501,120,是\n3栋,2单元,502,,是\n"


def problems(html: str) -> set[tuple[str, str, str]]:
    return set(re.findall(r'<tr data-row="(\d+)"><td class="num">\d+</td><td>([^<]*)</td><td>([^<]*)</td>', html))


# -- the import page --------------------------------------------------------------------------------


async def test_the_flats_sheet_is_previewed_row_by_row_then_imported_whole(w):
    listing = await w.browser.get(w.base)
    assert f'href="{w.base}/flats"' in listing.text  # reached from the households section
    page = await w.browser.get(f"{w.base}/flats")
    assert page.status_code == 200 and 'type="file"' in page.text and 'hx-encoding="multipart/form-data"' in page.text
    assert 'aria-current="page"' in page.text and "导入面积和业主表" in page.text

    checked = await w.upload("preview", BAD)
    assert checked.status_code == 200, checked.text
    assert 'data-result="preview"' in checked.text and "有 4 处需要修改，本次没有导入任何内容" in checked.text
    found = problems(checked.text)
    assert ("3", "面积", "面积应是大于 0 的数（㎡），最多两位小数，不超过 1000000，如 89.53") in found
    assert ("4", "房号", "与第2行是同一户，每户只能有一行") in found
    assert ("5", "房号", "房号不能为空") in found and ("5", "业主", "填“是”或“否”") in found
    assert "data-import" not in checked.text  # no import button
    refused = await w.upload("commit", BAD)  # importing it anyway: refused whole
    assert 'data-result="refused"' in refused.text and "本次没有导入任何内容" in refused.text
    assert ("4", "房号", "与第2行是同一户，每户只能有一行") in problems(refused.text)
    assert await w.listed() == {"1栋1单元101": (None, False)}  # nothing written, not even row 2

    checked = await w.upload("preview", GOOD.encode("gb18030"))  # saved by Excel in China
    assert "检查通过，还没有导入任何内容" in checked.text and "data-import" in checked.text
    assert "共 3 户：新建 2 户，更新 1 户，不变 0 户" in text(checked.text)
    assert "导入后仍有 1 户业主没有面积" in checked.text  # 3栋2单元502
    rows = dict(re.findall(r'<tr data-row="(\d+)" data-action="([a-z]+)"', checked.text))
    assert rows == {"2": "update", "3": "create", "4": "create"}
    assert f'<a href="{w.base}/{w.chen_home}">1栋1单元101</a>' in checked.text  # the known household, linked
    assert await w.listed() == {"1栋1单元101": (None, False)}

    imported = await w.upload("commit", GOOD.encode("gb18030"))
    assert 'data-result="imported"' in imported.text
    assert "新建 2 户，更新 1 户，不变 0 户" in text(imported.text)
    assert await w.listed() == {
        "1栋1单元101": ("89.53", True),
        "3栋2单元501": ("120.00", True),
        "3栋2单元502": (None, True),
    }
    # the same sheet again: every row unchanged, before and at the import
    again = await w.upload("preview", GOOD)
    assert "新建 0 户，更新 0 户，不变 3 户" in text(again.text)
    await w.upload("commit", GOOD)
    assert len(await w.listed()) == 3


async def test_the_import_takes_xlsx_and_the_raw_body_and_says_what_it_cannot_read(w):
    sheet = xlsx([["楼栋", "单元", "房号", "面积", "业主"], ["5栋", "1单元", "101", "66.5", "是"]])
    checked = await w.upload("preview", sheet, "面积.xlsx")
    assert "共 1 户：新建 1 户" in text(checked.text), checked.text
    raw = await w.browser.post(f"{w.base}/flats/commit", content=sheet, headers={"Content-Type": uploads.XLSX})
    assert 'data-result="imported"' in raw.text and (await w.listed())["5栋1单元101"] == ("66.50", True)
    # without htmx (a plain form post), the whole page with the result in it
    whole = await w.upload("preview", "楼栋,房号,面积\n6栋,1,50\n", htmx=False)
    assert whole.text.startswith("<!doctype html>") and 'data-result="preview"' in whole.text
    for name, data, message in (
        ("旧表.xls", b"\xd0\xcf\x11\xe0", "不支持旧版表格格式 XLS"),
        ("坏表.xlsx", b"PK\x03\x04broken", "无法读取这个 XLSX 文件"),
        ("空.csv", b"", "文件是空的"),
    ):
        refused = await w.upload("preview", data, name)
        assert 'data-result="refused"' in refused.text and message in refused.text, (name, refused.text)
    headless = await w.upload("preview", "门牌,面积\n101,80\n")
    assert ("1", "楼栋", "找不到“楼栋”一列") in problems(headless.text) and "data-import" not in headless.text
    nothing = await w.browser.post(f"{w.base}/flats/preview", files={"file": ("", b"", "application/octet-stream")})
    assert "请选择要导入的面积和业主表" in nothing.text
    unknown = await w.browser.post(
        f"{w.base}/flats/commit", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert "请上传 CSV 或 XLSX 文件" in unknown.text
    too_big = b"a" * (5 * 1024 * 1024 + 100 * 1024)
    assert "文件不能超过 5 MB" in (await w.upload("commit", too_big)).text
    assert set(await w.listed()) == {"1栋1单元101", "5栋1单元101"}


# -- the household's page ---------------------------------------------------------------------------


async def test_the_household_page_shows_and_edits_the_area_and_owner_flag(w):
    page = await w.browser.get(f"{w.base}/{w.chen_home}")
    assert page.status_code == 200
    assert 'data-floor-area=""' in page.text and "面积未登记" in page.text and 'data-owner="0"' in page.text
    assert f'hx-post="{w.base}/{w.chen_home}/flat"' in page.text

    saved = await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "89.53", "is_owner": "1"})
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == f"{w.base}/{w.chen_home}?flat=1#flat"
    mine = await w.household(w.chen_home, w.chen)  # the household sees its own figures
    assert (mine["floor_area"], mine["is_owner"]) == ("89.53", True)
    page = await w.browser.get(f"{w.base}/{w.chen_home}?flat=1")
    assert 'data-floor-area="89.53"' in page.text and "89.53 ㎡" in page.text and 'data-owner="1"' in page.text
    assert "已保存" in page.text and 'value="89.53"' in page.text and "data-missing-area" not in page.text

    # a wrong area: said with the form's label, nothing changed
    for wrong in ("89.531", "0", "abc"):
        refused = await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": wrong, "is_owner": ""})
        assert refused.status_code == 422 and flash(refused).startswith("validation_error: 面积："), wrong
    too_long = await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "1" * 17})
    assert too_long.status_code == 422
    assert ((await w.household(w.chen_home))["floor_area"], (await w.household(w.chen_home))["is_owner"]) == (
        "89.53",
        True,
    )

    # the area cleared, the owner kept: the page warns that an owners' vote needs it
    cleared = await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "", "is_owner": "1"})
    assert cleared.status_code == 204
    page = await w.browser.get(f"{w.base}/{w.chen_home}")
    assert "面积未登记" in page.text and "data-missing-area" in page.text
    # unticked: not an owner
    await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "76"})
    assert ((await w.household(w.chen_home))["floor_area"], (await w.household(w.chen_home))["is_owner"]) == (
        "76.00",
        False,
    )


# -- who may use it ---------------------------------------------------------------------------------


async def test_only_staff_of_the_community_see_or_change_flats(client, w, console):
    b = (await community(client, w.root, "B社区"))["id"]
    other_home = (await join(client, await login(client, "zhou"), b, "9栋", "", "1"))["household"]["id"]
    # a resident here who is staff elsewhere; and staff of another community only
    resident = await login(client, "住这儿的社工")
    await grant(client, w.root, b, resident, "staff")
    await join(client, resident, w.a, "8栋", "1单元", "801")
    outsider = await login(client, "别处社工")
    await grant(client, w.root, b, outsider, "staff")
    sheet = {"file": ("a.csv", "楼栋,房号,面积,业主\n7栋,1,90,是\n".encode(), "text/csv")}
    for person, status in ((resident, 403), (outsider, 404)):
        browser = await console(person)
        assert (await browser.get(f"{w.base}/flats")).status_code == status, person.name
        for action in ("preview", "commit"):
            response = await browser.post(f"{w.base}/flats/{action}", files=sheet)
            assert response.status_code == status, (person.name, action)
        flat = await browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "50", "is_owner": "1"})
        assert flat.status_code == status, person.name
    # another community's household through this community's pages: not found
    elsewhere = await w.browser.post(f"{w.base}/{other_home}/flat", data={"floor_area": "50"})
    assert elsewhere.status_code == 404
    # without the CSRF token
    await w.browser.get(f"{w.base}/flats")
    for action in ("preview", "commit"):
        no_token = await w.browser.post(f"{w.base}/flats/{action}", files=sheet, csrf=False)
        assert no_token.status_code == 403 and "页面已过期" in no_token.text
    no_token = await w.browser.post(f"{w.base}/{w.chen_home}/flat", data={"floor_area": "50"}, csrf=False)
    assert no_token.status_code == 403
    signed_out = await (await console()).get(f"{w.base}/flats")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/console/login")

    assert await w.listed() == {"1栋1单元101": (None, False), "8栋1单元801": (None, False)}
    zhou = await client.get(f"/api/v1/communities/{b}/households", headers=outsider.headers)
    assert [h["floor_area"] for h in zhou.json()["items"]] == [None]
