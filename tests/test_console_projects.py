"""Service projects in the staff console, through HTTP on both engines: the list and a new
project, its details, the communities it covers, this community's targets grid; tagging an
activity with a project and a service type in the activity form; the activity summary; members'
gender on the household pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api import clock
from tests.conftest import make_settings
from tests.factories import Person, activity, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class World:
    """Community B (its social worker, who also serves A) and A; a resident of B; staff of C."""

    async def build(self, client: Any, db: Any) -> World:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root, "幸福里社区"))["id"]
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        await grant(client, self.root, self.a, self.staff, "staff")
        named = await client.patch("/api/v1/me", json={"display_name": "社工小王"}, headers=self.staff.headers)
        assert named.status_code == 200
        self.staff_a = await login(client, "社工小李")  # A only
        await grant(client, self.root, self.a, self.staff_a, "staff")
        self.chen = await login(client, "陈阿姨")
        self.chen_home = (await join(client, self.chen, self.b, "1栋", "1单元", "101"))["household"]["id"]
        self.stranger = await login(client, "社工小张")
        await grant(client, self.root, self.c, self.stranger, "staff")
        return self

    @property
    def base(self) -> str:
        return f"/console/c/{self.b}"

    async def project(self, person: Person | None = None, community_id: int | None = None, **fields: Any) -> Any:
        body = {
            "name": "儿童友好空间运营项目",
            "funder": "某街道办事处",
            "starts_on": "2026-09-01",
            "ends_on": "2027-08-31",
        }
        response = await self.client.post(
            f"/api/v1/communities/{community_id or self.b}/projects",
            json={**body, **fields},
            headers=(person or self.staff).headers,
        )
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def w(client, db) -> World:
    return await World().build(client, db)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
    return found.group(1) if found else None


PROJECT_FORM = {
    "name": "B社区儿童友好空间运营项目",
    "funder": "某街道办事处",
    "starts_on": "2026-09-01",
    "ends_on": "2027-08-31",
    "grain": "month",
    "description": "政府购买社会工作服务",
}


async def test_staff_create_a_project_and_set_its_targets(client, console, w):
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/projects")
    assert page.status_code == 200, page.text
    assert f'href="{w.base}/projects" aria-current="page"' in page.text  # the menu's entry
    assert "还没有覆盖本社区的服务项目" in page.text and 'id="project-form"' in page.text

    create = f"{w.base}/projects"
    blank = await browser.post(create, data={**PROJECT_FORM, "name": ""})
    assert blank.status_code == 422 and field_error(blank.text, "name") == "请填写"
    assert 'id="project-form"' in blank.text and 'value="某街道办事处"' in blank.text  # what was typed stays
    backwards = await browser.post(create, data={**PROJECT_FORM, "ends_on": "2026-08-01"})
    assert backwards.status_code == 422
    assert "结束日期不能早于开始日期" in (field_error(backwards.text, "ends_on") or "")
    not_a_date = await browser.post(create, data={**PROJECT_FORM, "starts_on": "九月"})
    assert not_a_date.status_code == 422 and "年-月-日" in (field_error(not_a_date.text, "starts_on") or "")
    assert (await client.get(f"/api/v1/communities/{w.b}/projects", headers=w.staff.headers)).json() == []

    made = await browser.post(create, data=PROJECT_FORM)
    assert made.status_code == 204, made.text
    target = made.headers["HX-Redirect"]
    project_id = int(target.rsplit("/", 1)[1])
    assert target == f"{w.base}/projects/{project_id}"
    saved = (await client.get(f"/api/v1/projects/{project_id}", headers=w.staff.headers)).json()
    assert saved["name"] == "B社区儿童友好空间运营项目" and saved["funder"] == "某街道办事处"
    assert [c["id"] for c in saved["communities"]] == [w.b] and saved["grain"] == "month"

    listed = await browser.get(f"{w.base}/projects")
    assert f'href="{w.base}/projects/{project_id}"' in listed.text and "2026-09-01 至 2027-08-31" in listed.text

    shown = await browser.get(target)
    assert shown.status_code == 200
    text = text_of(shown.text)
    assert "本社区的目标" in text and "服务人次" in text and "2026年9月" in text and "2027年8月" in text
    assert 'name="service_visits@total"' in shown.text and 'name="loans@2027-08"' in shown.text
    assert 'name="loans@2027-09"' not in shown.text  # after the contract

    grid = f"{target}/targets"
    bad = await browser.post(grid, data={"service_visits@total": "很多", "loans@2026-09": "30"})
    assert bad.status_code == 422 and 'id="targets"' in bad.text
    assert re.search(r'name="service_visits@total" value="很多"[^>]*aria-invalid="true"', bad.text)
    assert 'name="loans@2026-09" value="30"' in bad.text  # what was typed stays
    api_targets = f"/api/v1/projects/{project_id}/communities/{w.b}/targets"
    assert (await client.get(api_targets, headers=w.staff.headers)).json()["targets"] == []

    done = await browser.post(
        grid,
        data={
            "service_visits@total": "2400",
            "service_visits@2026-09": "200",
            "activities_held@2026-10": " 12 ",
            "volunteer_hours@total": "1500.5",
            "loans@total": "",
            "smiles@total": "5",  # not a cell of the grid: ignored
        },
    )
    assert done.status_code == 200, done.text
    assert "目标已保存" in done.text and 'name="volunteer_hours@total" value="1500.5"' in done.text
    got = (await client.get(api_targets, headers=w.staff.headers)).json()["targets"]
    assert [(t["indicator"], t["period"], t["value"]) for t in got] == [
        ("activities_held", "2026-10", 12),
        ("service_visits", "total", 2400),
        ("service_visits", "2026-09", 200),
        ("volunteer_hours", "total", 1500.5),
    ]
    again = await browser.get(target)
    assert 'name="service_visits@total" value="2400"' in again.text
    # an empty cell removes its target
    cleared = await browser.post(grid, data={"service_visits@total": "2500", "service_visits@2026-09": ""})
    assert cleared.status_code == 200
    got = (await client.get(api_targets, headers=w.staff.headers)).json()["targets"]
    assert [(t["indicator"], t["period"], t["value"]) for t in got] == [("service_visits", "total", 2500)]


async def test_the_project_is_edited_and_covers_the_communities_its_staff_serve(client, console, w):
    project = await w.project()
    page_path = f"{w.base}/projects/{project['id']}"
    browser = await console(w.staff)
    page = await browser.get(page_path)
    assert 'value="儿童友好空间运营项目"' in page.text
    assert f'<option value="{w.a}">A社区</option>' in page.text  # a community they serve too

    edited = await browser.post(f"{page_path}/edit", data={**PROJECT_FORM, "name": "儿童友好空间项目（二期）"})
    assert edited.status_code == 204 and edited.headers["HX-Redirect"] == page_path
    assert (await client.get(f"/api/v1/projects/{project['id']}", headers=w.staff.headers)).json()["name"] == (
        "儿童友好空间项目（二期）"
    )
    emptied = await browser.post(f"{page_path}/edit", data={**PROJECT_FORM, "funder": ""})
    assert emptied.status_code == 422 and field_error(emptied.text, "funder") == "请填写"

    # a monthly target blocks quarters until it is cleared: said in the page's flash line
    await browser.post(f"{page_path}/targets", data={"loans@2026-10": "40"})
    quarters = await browser.post(f"{page_path}/edit", data={**PROJECT_FORM, "grain": "quarter"})
    assert quarters.status_code == 409 and quarters.headers.get("HX-Retarget") == "#flash"
    assert "请先清除这些目标" in quarters.text

    added = await browser.post(f"{page_path}/communities", data={"other_id": str(w.a)})
    assert added.status_code == 204
    covered = (await client.get(f"/api/v1/projects/{project['id']}", headers=w.staff_a.headers)).json()
    assert [c["id"] for c in covered["communities"]] == [w.b, w.a]
    # A's staff see it in A's console, with A's (empty) targets and never B's
    a_browser = await console(w.staff_a)
    a_page = await a_browser.get(f"/console/c/{w.a}/projects/{project['id']}")
    assert a_page.status_code == 200 and 'name="loans@2026-10" value=""' in a_page.text
    # but not through B's console, which they do not serve
    assert (await a_browser.get(page_path)).status_code == 404
    # C's staff do not see it at all, even under their own community
    c_browser = await console(w.stranger)
    assert (await c_browser.get(f"/console/c/{w.c}/projects/{project['id']}")).status_code == 404

    removed = await browser.post(f"{page_path}/communities/{w.a}/remove")
    assert removed.status_code == 204 and removed.headers["HX-Redirect"] == page_path
    assert (await a_browser.get(f"/console/c/{w.a}/projects/{project['id']}")).status_code == 404
    last = await browser.post(f"{page_path}/communities/{w.b}/remove")
    assert last.status_code == 409 and "最后一个社区" in last.text


async def test_an_activity_is_tagged_in_the_console_form(client, console, w):
    project = await w.project()
    elsewhere = await w.project(w.staff_a, w.a, name="A社区为老服务项目")
    browser = await console(w.staff)
    new = await browser.get(f"{w.base}/activities/new")
    assert f'<option value="{project["id"]}" >儿童友好空间运营项目</option>' in new.text
    assert "A社区为老服务项目" not in new.text  # only projects covering this community
    assert '<option value="group" >小组活动</option>' in new.text

    form = {
        "title": "亲子绘本小组",
        "category": "parent_child",
        "location": "复合空间阅读角",
        "start_at": "2026-12-05T14:00",
        "end_at": "2026-12-05T15:30",
        "capacity": "20",
        "max_seats_per_booking": "3",
        "project_id": str(project["id"]),
        "service_type": "group",
    }
    refused = await browser.post(f"{w.base}/activities", data={**form, "project_id": str(elsewhere["id"])})
    assert refused.status_code == 422
    assert "不覆盖本社区" in (field_error(refused.text, "project_id") or "")
    wrong_type = await browser.post(f"{w.base}/activities", data={**form, "service_type": "party"})
    assert wrong_type.status_code == 422 and field_error(wrong_type.text, "service_type") == "请从列表中选择"

    made = await browser.post(f"{w.base}/activities", data=form)
    assert made.status_code == 204, made.text
    activity_id = int(made.headers["HX-Redirect"].rsplit("/", 1)[1])
    detail = (await client.get(f"/api/v1/activities/{activity_id}", headers=w.staff.headers)).json()
    assert detail["project_id"] == project["id"] and detail["service_type"] == "group"
    shown = text_of((await browser.get(f"{w.base}/activities/{activity_id}")).text)
    assert "服务项目 儿童友好空间运营项目 ，小组活动" in shown

    edit = await browser.get(f"{w.base}/activities/{activity_id}/edit")
    assert f'<option value="{project["id"]}" selected>' in edit.text and '<option value="group" selected>' in edit.text
    cleared = await browser.post(
        f"{w.base}/activities/{activity_id}/edit", data={**form, "project_id": "", "service_type": "training"}
    )
    assert cleared.status_code == 204, cleared.text
    detail = (await client.get(f"/api/v1/activities/{activity_id}", headers=w.staff.headers)).json()
    assert detail["project_id"] is None and detail["service_type"] == "training"


async def test_the_next_session_of_a_series_keeps_its_tags(client, console, w):
    project = await w.project()
    series = await client.post(f"/api/v1/communities/{w.b}/series", json={"title": "绘本小组"}, headers=w.staff.headers)
    series_id = series.json()["id"]
    await activity(client, w.staff, w.b, series_id=series_id, project_id=project["id"], service_type="group")
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/new?series_id={series_id}")
    assert f'<option value="{project["id"]}" selected>' in page.text
    assert '<option value="group" selected>' in page.text


async def test_staff_write_the_activity_summary(client, console, w):
    held = await activity(client, w.staff, w.b)
    browser = await console(w.staff)
    page_path = f"{w.base}/activities/{held['id']}"
    assert f'href="{page_path}/summary"' in (await browser.get(page_path)).text
    page = await browser.get(f"{page_path}/summary")
    assert page.status_code == 200
    for label in ("背景", "目标", "过程", "参与情况", "成效", "反思"):
        assert f">{label}</label>" in page.text
    assert 'placeholder="为什么做这次活动：居民的什么需求' in page.text  # the template's prompts

    too_long = await browser.post(f"{page_path}/summary", data={"outcomes": "好" * 2001, "background": "写了"})
    assert too_long.status_code == 422 and "最多 2000 个字" in (field_error(too_long.text, "outcomes") or "")
    assert ">写了</textarea>" in too_long.text
    unsaved = (await client.get(f"/api/v1/activities/{held['id']}/summary", headers=w.staff.headers)).json()
    assert unsaved["written"] is False

    written = {
        "background": "小区里双职工家庭多，孩子放学后缺少看护",
        "goals": "十组亲子家庭参加",
        "process": "绘本共读\r\n手工",
        "participation": "12组家庭",
        "outcomes": "家长反馈很好",
        "reflection": "下次提前发通知",
    }
    saved = await browser.post(f"{page_path}/summary", data=written)
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == f"{page_path}/summary?saved=1"
    got = (await client.get(f"/api/v1/activities/{held['id']}/summary", headers=w.staff.headers)).json()
    assert got["written"] is True and got["process"] == "绘本共读\n手工" and got["updated_by"] == "社工小王"
    again = await browser.get(f"{page_path}/summary?saved=1")
    assert "总结已保存" in again.text and "小区里双职工家庭多" in again.text and "社工小王" in again.text

    # another community's staff: neither under this community's address nor under their own
    other = await console(w.stranger)
    assert (await other.get(f"{page_path}/summary")).status_code == 404
    assert (await other.get(f"/console/c/{w.c}/activities/{held['id']}/summary")).status_code == 404


async def test_members_gender_on_the_household_pages(client, console, w):
    browser = await console(w.staff)
    households = f"{w.base}/households"
    new = await browser.get(f"{households}/new")
    assert 'name="gender" id="gender-1"' in new.text
    done = await browser.post(
        households,
        data={
            "building": "3栋",
            "room": "501",
            "name": ["王奶奶", "王爷爷", "", ""],
            "kind": ["elder", "elder", "adult", "adult"],
            "birth_year": ["", "", "", ""],
            "gender": ["female", "", "", ""],
        },
    )
    assert done.status_code == 204, done.text
    household_id = int(re.search(r"/households/(\d+)\?", done.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    members = (await client.get(f"/api/v1/households/{household_id}", headers=w.staff.headers)).json()["members"]
    assert [(m["display_name"], m["gender"]) for m in members] == [("王奶奶", "female"), ("王爷爷", None)]

    added = await browser.post(
        f"{households}/{household_id}/members", data={"display_name": "王叔叔", "kind": "adult", "gender": "male"}
    )
    assert added.status_code == 204
    members = (await client.get(f"/api/v1/households/{household_id}", headers=w.staff.headers)).json()["members"]
    grandpa = next(m for m in members if m["display_name"] == "王爷爷")
    assert {m["display_name"]: m["gender"] for m in members}["王叔叔"] == "male"

    file = await browser.get(f"{households}/{household_id}")
    assert f'hx-post="{households}/{household_id}/members/{grandpa["id"]}/gender"' in file.text
    changed = await browser.post(f"{households}/{household_id}/members/{grandpa['id']}/gender", data={"gender": "male"})
    assert changed.status_code == 204
    members = (await client.get(f"/api/v1/households/{household_id}", headers=w.staff.headers)).json()["members"]
    assert {m["display_name"]: m["gender"] for m in members}["王爷爷"] == "male"
    # a member of another household is not changed through this one's page
    chen = (await client.get(f"/api/v1/households/{w.chen_home}", headers=w.staff.headers)).json()["members"][0]
    other = await browser.post(f"{households}/{household_id}/members/{chen['id']}/gender", data={"gender": "male"})
    assert other.status_code == 404
    assert (await client.get(f"/api/v1/households/{w.chen_home}", headers=w.staff.headers)).json()["members"][0][
        "gender"
    ] is None
    refused = await browser.post(f"{households}/{household_id}/members/{grandpa['id']}/gender", data={"gender": "x"})
    assert refused.status_code == 422
