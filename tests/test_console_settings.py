"""The settings pages of the staff console (设置) through HTTP, on both engines: the community's
details and quiet hours (admins edit, staff read; a forged change by staff is refused by the
service), the staff (admins grant to a resident found by name or room, and revoke; only platform
admins touch admins), the audit list (who, when in the community's time, before → after, newest
first, paged, by kind), and a new community (platform admins only). Every change is read back
through the API or a page, not trusted from the answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import clock
from tests.factories import Person, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def flat(html: str) -> str:
    """The page's text without spaces: `免打扰时段：系统默认→21:00-07:30`."""
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))


async def named(client: Any, key: str, display: str) -> Person:
    person = await login(client, key)
    response = await client.patch("/api/v1/me", json={"display_name": display}, headers=person.headers)
    assert response.status_code == 200, response.text
    return person


class World:
    async def build(self, client: Any, db: Any, console: Any) -> World:
        self.client, self.console = client, console
        self.root = await named(client, "root", "平台管理员")
        await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.admin = await named(client, "admin", "李主任")
        await grant(client, self.root, self.b, self.admin, "admin")
        self.staff = await named(client, "staff", "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.chen = await named(client, "chen", "陈阿姨")
        await join(client, self.chen, self.b, "3栋", "2单元", "501")
        self.zhou = await named(client, "zhou", "周叔叔")
        await join(client, self.zhou, self.b, "5栋", "1单元", "102")
        self.stranger = await named(client, "stranger", "社工小张")
        await grant(client, self.root, self.c, self.stranger, "staff")
        return self

    @property
    def base(self) -> str:
        return f"/console/c/{self.b}/settings"

    async def api_community(self) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/communities/{self.b}", headers=self.staff.headers)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    async def audit(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/v1/communities/{self.b}/audit", headers=self.staff.headers)
        assert response.status_code == 200
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def staff_roles(self) -> dict[int, str]:
        response = await self.client.get(f"/api/v1/communities/{self.b}/staff", headers=self.staff.headers)
        assert response.status_code == 200
        return {row["user_id"]: row["role"] for row in response.json()}


@pytest.fixture
async def w(client, db, console) -> World:
    return await World().build(client, db, console)


DETAILS = {
    "name": "幸福里社区",
    "city": "成都市",
    "district": "武侯区",
    "address": "幸福路 8 号",
    "quiet_mode": "custom",
    "quiet_start": "21:00",
    "quiet_end": "07:30",
}


# -- the community's details ------------------------------------------------------------------------


async def test_admins_change_the_details_and_quiet_hours_and_the_audit_list_says_so(w: World):
    admin = await w.console(w.admin)
    page = await admin.get(w.base)
    assert page.status_code == 200
    assert 'id="community-form"' in page.text and 'value="幸福里社区"' in page.text
    clock.advance(timedelta(minutes=30))  # 10:30 in Shanghai
    saved = await admin.post(w.base, data=DETAILS)
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == f"{w.base}?saved=1"
    detail = await w.api_community()
    assert (detail["district"], detail["address"], detail["quiet_hours"]) == ("武侯区", "幸福路 8 号", "21:00-07:30")
    page = await admin.get(f"{w.base}?saved=1")
    assert "已保存" in page.text and 'value="幸福路 8 号"' in page.text and 'value="21:00"' in page.text

    entries = await w.audit()
    assert [e["subject_kind"] for e in entries[:2]] == ["quiet_hours", "community"]
    assert all(e["actor_name"] == "李主任" for e in entries[:2])
    listing = text_of((await admin.get(f"{w.base}/audit")).text)
    assert "2026年12月1日 10:30 李主任" in listing  # the community's time
    changes = flat((await admin.get(f"{w.base}/audit")).text)
    assert "免打扰时段：系统默认→21:00-07:30" in changes
    assert "地址：（空）→幸福路8号" in changes

    # "none" and "default"
    assert (await admin.post(w.base, data={**DETAILS, "quiet_mode": "none"})).status_code == 204
    assert (await w.api_community())["quiet_hours"] == ""
    assert (await admin.post(w.base, data={**DETAILS, "quiet_mode": "default"})).status_code == 204
    assert (await w.api_community())["quiet_hours"] is None


async def test_a_refused_form_comes_back_with_what_was_typed(w: World):
    admin = await w.console(w.admin)
    await admin.get(w.base)
    bad = {**DETAILS, "name": "", "address": "新地址", "quiet_start": "21:00", "quiet_end": "21:00"}
    refused = await admin.post(w.base, data=bad)
    assert refused.status_code == 422
    assert "社区名称：请填写" in text_of(refused.text) and 'value="新地址"' in refused.text
    refused = await admin.post(w.base, data={**DETAILS, "quiet_start": "21:00", "quiet_end": "21:00"})
    assert refused.status_code == 422
    assert 'id="err-quiet_hours"' in refused.text and "免打扰时段应写成 HH:MM-HH:MM" in refused.text
    refused = await admin.post(w.base, data={**DETAILS, "quiet_end": ""})
    assert refused.status_code == 422 and "请填写免打扰的开始和结束时间" in refused.text
    taken = await admin.post(w.base, data={**DETAILS, "name": "C社区"})
    assert taken.status_code == 422 and "已有同名社区" in taken.text and 'value="C社区"' in taken.text
    detail = await w.api_community()
    assert (detail["name"], detail["address"], detail["quiet_hours"]) == ("幸福里社区", "", None)
    assert [e["subject_kind"] for e in await w.audit()] == ["role", "role", "community"]  # nothing new


async def test_staff_see_the_details_read_only_and_a_forged_change_is_refused(w: World):
    staff = await w.console(w.staff)
    page = await staff.get(w.base)
    assert page.status_code == 200
    assert 'id="community-form"' not in page.text and "只有社区管理员可以修改社区信息" in page.text
    assert "沿用系统默认" in page.text
    forged = await staff.post(w.base, data=DETAILS)
    assert forged.status_code == 403 and "只有社区管理员" in forged.text
    assert (await w.api_community())["quiet_hours"] is None
    assert len(await w.audit()) == 3


# -- staff -----------------------------------------------------------------------------------------


async def test_admins_grant_staff_to_a_resident_found_by_name_or_room_and_revoke(w: World):
    admin = await w.console(w.admin)
    page = await admin.get(f"{w.base}/staff")
    assert page.status_code == 200
    listed = text_of(page.text)
    assert "李主任 我 管理员" in listed and "社工小王 工作人员" in listed and "添加工作人员" in listed
    by_room = await admin.get(f"{w.base}/staff/candidates", params={"q": "501"})
    assert "陈阿姨" in by_room.text and "3栋 2单元 501" in by_room.text and "周叔叔" not in by_room.text
    by_name = await admin.get(f"{w.base}/staff/candidates", params={"q": "周"})
    assert "周叔叔" in by_name.text and "陈阿姨" not in by_name.text
    none = await admin.get(f"{w.base}/staff/candidates", params={"q": "社工小王"})  # staff already
    assert "没有找到" in none.text

    granted = await admin.post(f"{w.base}/staff/{w.chen.user_id}", data={"role": "staff"})
    assert granted.status_code == 204 and granted.headers["HX-Redirect"] == f"{w.base}/staff"
    assert (await w.staff_roles())[w.chen.user_id] == "staff"
    assert "陈阿姨 工作人员" in text_of((await admin.get(f"{w.base}/staff")).text)
    # the new staff member opens the console
    assert (await (await w.console(w.chen)).get(f"/console/c/{w.b}/today")).status_code == 200

    revoked = await admin.post(f"{w.base}/staff/{w.chen.user_id}", data={"role": "resident"})
    assert revoked.status_code == 204
    assert w.chen.user_id not in await w.staff_roles()
    summaries = [e["summary"] for e in (await w.audit())[:2]]
    assert summaries == ["撤销陈阿姨的工作人员身份", "任命陈阿姨为工作人员"]


async def test_staff_may_not_grant_or_revoke_and_admins_may_not_touch_admins(w: World):
    staff = await w.console(w.staff)
    page = await staff.get(f"{w.base}/staff")
    assert page.status_code == 200 and "添加工作人员" not in page.text and "只有社区管理员可以添加" in page.text
    assert (await staff.get(f"{w.base}/staff/candidates", params={"q": "陈"})).status_code == 403
    assert (await staff.post(f"{w.base}/staff/{w.chen.user_id}", data={"role": "staff"})).status_code == 403
    assert (await staff.post(f"{w.base}/staff/{w.staff.user_id}", data={"role": "admin"})).status_code == 403
    admin = await w.console(w.admin)
    await admin.get(f"{w.base}/staff")
    refused = await admin.post(f"{w.base}/staff/{w.staff.user_id}", data={"role": "admin"})
    assert refused.status_code == 403 and "只有平台管理员可以任免社区管理员" in refused.text
    assert (await admin.post(f"{w.base}/staff/{w.admin.user_id}", data={"role": "resident"})).status_code == 403
    roles = await w.staff_roles()
    assert roles == {w.admin.user_id: "admin", w.staff.user_id: "staff"}
    # a platform admin may
    root = await w.console(w.root)
    await root.get(f"{w.base}/staff")
    assert (await root.post(f"{w.base}/staff/{w.staff.user_id}", data={"role": "admin"})).status_code == 204
    assert (await w.staff_roles())[w.staff.user_id] == "admin"


# -- the audit list ---------------------------------------------------------------------------------


async def test_the_audit_list_is_newest_first_paged_and_by_kind(w: World):
    for i in range(22):
        clock.advance(timedelta(minutes=1))
        response = await w.client.put(
            f"/api/v1/communities/{w.b}/loan-policy", json={"loan_days": 20 + i}, headers=w.staff.headers
        )
        assert response.status_code == 200
    staff = await w.console(w.staff)
    first = await staff.get(f"{w.base}/audit")
    assert first.status_code == 200
    rows = re.findall(r'data-entry="(\d+)"', first.text)
    assert len(rows) == 20
    assert flat(first.text).index("借期（天）：40→41") < flat(first.text).index("借期（天）：39→40")  # newest first
    assert "2026年12月1日 10:22 社工小王" in text_of(first.text)
    after = re.search(r'rel="next" href="[^"]*after=([^"]+)"', first.text)
    assert after is not None
    second = await staff.get(f"{w.base}/audit?after={after.group(1)}")
    more = re.findall(r'data-entry="(\d+)"', second.text)
    assert len(more) == 5 and not set(more) & set(rows)  # 2 policy changes, 2 roles, the creation
    assert 'rel="next"' not in second.text and "新建社区「幸福里社区」" in text_of(second.text)
    roles = await staff.get(f"{w.base}/audit?subject=role")
    assert re.findall(r'data-subject="(\w+)"', roles.text) == ["role", "role"]
    assert (await staff.get(f"{w.base}/audit?subject=nothing")).status_code == 422


# -- a new community ----------------------------------------------------------------------------------


async def test_platform_admins_open_a_community_and_land_in_it(w: World):
    root = await w.console(w.root)
    page = await root.get("/console/communities/new")
    assert page.status_code == 200 and 'id="new-community-form"' in page.text
    assert "新建社区" in (await root.get("/console/communities")).text
    refused = await root.post("/console/communities/new", data={"name": "", "timezone": "Mars/Olympus"})
    assert refused.status_code == 422 and "社区名称：请填写" in text_of(refused.text) and "未知的时区" in refused.text
    taken = await root.post("/console/communities/new", data={"name": "C社区", "timezone": "Asia/Shanghai"})
    assert taken.status_code == 422 and "已有同名社区" in taken.text
    made = await root.post(
        "/console/communities/new", data={"name": "新村社区", "city": "成都市", "timezone": "Asia/Shanghai"}
    )
    assert made.status_code == 204
    target = made.headers["HX-Redirect"]
    new_id = int(re.fullmatch(r"/console/c/(\d+)/settings", target).group(1))  # type: ignore[union-attr]
    landed = await root.get(target)
    assert landed.status_code == 200 and 'value="新村社区"' in landed.text
    listed = (await w.client.get("/api/v1/communities", headers=w.chen.headers)).json()
    assert {"新村社区"} <= {c["name"] for c in listed if c["id"] == new_id}
    audit = (await w.client.get(f"/api/v1/communities/{new_id}/audit", headers=w.root.headers)).json()["items"]
    assert [(e["summary"], e["actor_name"]) for e in audit] == [("新建社区「新村社区」", "平台管理员")]


async def test_no_one_else_opens_communities(w: World):
    for person in (w.admin, w.staff):
        browser = await w.console(person)
        assert (await browser.get("/console/communities/new")).status_code == 403
        await browser.get(f"/console/c/{w.b}/today")
        refused = await browser.post("/console/communities/new", data={"name": "私开社区"})
        assert refused.status_code == 403
        assert "新建社区" not in (await browser.get("/console/communities")).text
    root = await w.console(w.root)
    await root.get("/console/communities/new")
    assert (await root.post("/console/communities/new", data={"name": "无令牌"}, csrf=False)).status_code == 403
    names = {c["name"] for c in (await w.client.get("/api/v1/communities", headers=w.chen.headers)).json()}
    assert names == {"幸福里社区", "C社区"}


async def test_residents_get_403_and_staff_of_another_community_404(w: World):
    resident = await w.console(w.stranger)  # staff of C, nothing in B
    for path in ("", "/staff", "/audit"):
        assert (await resident.get(f"{w.base}{path}")).status_code == 404
    mine = await w.console(w.staff)
    await join(w.client, w.staff, w.c)  # a resident of C
    for path in ("", "/staff", "/audit"):
        assert (await mine.get(f"/console/c/{w.c}/settings{path}")).status_code == 403
    await mine.get(w.base)
    assert (await mine.post(f"/console/c/{w.c}/settings", data=DETAILS)).status_code == 403
