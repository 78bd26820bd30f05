"""The console's 服务数据 (reports) page through HTTP on both engines, on the Today scenario's
November (tests/test_console_today.py): its figures are the API's, each with its definition;
a figure opens the rows it counts (the child marked); a project's plan against actual; the
exports open in a spreadsheet reader."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from api import clock
from api.db.models import ProjectCommunity, ProjectTarget, ServiceProject
from tests.conftest import make_settings
from tests.test_console_today import NOW, Scene, ok

NOVEMBER = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


async def project_for(db, scene: Scene, activity_title: str) -> int:
    """A project covering B, with a monthly target of 4 service visits in November and 60 for the
    year, and the second week's craft session tagged with it."""
    from sqlalchemy import update

    from api.db.models import Activity

    now = clock.now()
    async with db.session() as session:
        project = ServiceProject(
            name="B社区儿童友好空间运营项目",
            funder="某街道办事处",
            starts_on=date(2026, 9, 1),
            ends_on=date(2027, 8, 31),
            grain="month",
            description="",
            created_at=now,
            updated_at=now,
        )
        session.add(project)
        await session.flush()
        session.add(ProjectCommunity(project_id=project.id, community_id=scene.b, added_at=now))
        session.add_all(
            [
                ProjectTarget(
                    project_id=project.id,
                    community_id=scene.b,
                    indicator="service_visits",
                    period="2026-11",
                    value=4,
                    updated_at=now,
                ),
                ProjectTarget(
                    project_id=project.id,
                    community_id=scene.b,
                    indicator="activities_held",
                    period="2026-11",
                    value=2,
                    updated_at=now,
                ),
            ]
        )
        await session.execute(
            update(Activity)
            .where(Activity.title == activity_title, Activity.community_id == scene.b)
            .values(project_id=project.id, service_type="group")
        )
        await session.commit()
        return project.id


def figure(html: str, key: str) -> str:
    row = re.search(rf'<tr data-indicator="{key}">(.*?)</tr>', html, re.S)
    assert row, key
    value = re.search(r"data-value>([^<]*)<", row.group(1))
    assert value, row.group(1)
    return value.group(1).strip()


async def test_the_dashboard_shows_the_apis_figures_with_their_definitions(client, db, app, console):
    scene = await (await Scene().build(client, db, app)).play()
    assert clock.now() == NOW
    browser = await console(scene.staff)
    page = await browser.get(f"/console/c/{scene.b}/reports?{NOVEMBER}")
    assert page.status_code == 200, page.text
    html = page.text
    api = ok(await client.get(f"/api/v1/communities/{scene.b}/reports?{NOVEMBER}", headers=scene.staff.headers))
    by_key = {e["key"]: e for e in api["indicators"]}
    # November: the first week's reading club (chen and 小雨) and the second week's craft session
    # (li, zhou and the walk-in 王阿姨); the lecture was called off, the film on the 30th had nobody
    assert by_key["activities_held"]["value"] == 2
    assert by_key["service_visits"]["value"] == 2 + 3
    assert by_key["beneficiaries"]["value"] == 5
    assert {p["key"]: p["value"] for p in by_key["beneficiaries"]["parts"]} == {"adults": 3, "children": 1, "guests": 1}
    for entry in api["indicators"]:
        assert entry["definition"] in html  # every figure says what it counts
        if entry["value"] is not None and entry["key"] not in ("read_rate", "loop_reparticipation"):
            assert figure(html, entry["key"]) == str(entry["value"])
    assert "按月趋势" in html and 'data-chart="bars"' in html
    assert 'aria-current="page">服务数据' in html


async def test_a_figure_opens_the_rows_it_counts(client, db, app, console):
    scene = await (await Scene().build(client, db, app)).play()
    browser = await console(scene.staff)
    people = await browser.get(f"/console/c/{scene.b}/reports/rows?{NOVEMBER}&indicator=beneficiaries")
    assert people.status_code == 200, people.text
    assert all(name in people.text for name in ("chen", "小雨", "li", "zhou", "王阿姨"))
    assert re.search(r"小雨</a> <span class=\"badge warn\">儿童</span>", people.text)
    held = await browser.get(f"/console/c/{scene.b}/reports/rows?{NOVEMBER}&indicator=activities_held")
    assert "第一周读书会" in held.text and "第二周手工" in held.text
    assert "取消的讲座" not in held.text and "昨晚电影" not in held.text
    # a group of a breakdown: the children among those served
    children = await browser.get(
        f"/console/c/{scene.b}/reports/rows?{NOVEMBER}&indicator=beneficiaries&breakdown=age_group&key=child"
    )
    assert "小雨" in children.text and "王阿姨" not in children.text
    assert "<h1>受益人数 · 儿童</h1>" in children.text  # the group named in the heading
    unknown = await browser.get(f"/console/c/{scene.b}/reports/rows?{NOVEMBER}&indicator=nothing")
    assert unknown.status_code == 422 and "没有可以展开明细的这个指标" in unknown.text


async def test_a_projects_plan_against_actual(client, db, app, console):
    scene = await (await Scene().build(client, db, app)).play()
    project = await project_for(db, scene, "第二周手工")
    browser = await console(scene.staff)
    page = await browser.get(f"/console/c/{scene.b}/reports?{NOVEMBER}")
    # without a project chosen, each project's progress: 3 visits of 4 planned, 1 activity of 2
    section = page.text[page.text.index("各项目完成情况") :]
    assert "B社区儿童友好空间运营项目" in section
    assert re.search(r"服务人次</th><td class=\"num\">4.0 人次</td><td class=\"num\">3 人次</td>", section)
    assert "75.0%" in section and "50.0%" in section
    chosen = await browser.get(f"/console/c/{scene.b}/reports?{NOVEMBER}&project={project}")
    assert figure(chosen.text, "service_visits") == "3"
    assert figure(chosen.text, "activities_held") == "1"
    assert "社区整体，不分项目" in chosen.text  # open days, loans… are the community's
    # another community's staff do not learn the project exists
    other = await console(scene.stranger)
    hidden = await other.get(f"/console/c/{scene.c}/reports?{NOVEMBER}&project={project}")
    assert hidden.status_code == 404


async def test_the_exports_open_in_a_spreadsheet(client, db, app, console):
    scene = await (await Scene().build(client, db, app)).play()
    browser = await console(scene.staff)
    xlsx = await browser.get(f"/console/c/{scene.b}/reports/export?{NOVEMBER}")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert book.sheetnames[0] == "总表" and book.sheetnames[-1] == "指标口径"
    rows = {r[0]: r for r in book["总表"].iter_rows(values_only=True)}
    assert rows["指标"][:3] == ("指标", "数值", "单位")
    assert rows["服务人次"][1] == 5 and isinstance(rows["服务人次"][1], int)
    csv = await browser.get(f"/console/c/{scene.b}/reports/export?{NOVEMBER}&format=csv&breakdown=age_group")
    assert csv.content.startswith(b"\xef\xbb\xbf")
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("成人/儿童,")
    assert any(line.startswith("儿童,") for line in text.splitlines())


async def test_a_submitted_month_keeps_its_figures_and_shows_the_adjustment(client, db, app, console):
    scene = await (await Scene().build(client, db, app)).play()
    browser = await console(scene.staff)
    page = await browser.get(f"/console/c/{scene.b}/reports?{NOVEMBER}")
    assert '<option value="2026-11">2026年11月</option>' in page.text  # November has ended
    sent = await browser.post(f"/console/c/{scene.b}/reports/submissions", data={"period": "2026-11", "note": "首报"})
    assert sent.status_code == 204 and "/reports/submissions/" in sent.headers["HX-Redirect"]
    submitted = await browser.get(sent.headers["HX-Redirect"])
    assert "报送后数据没有变化" in submitted.text
    assert re.search(r'data-frozen="volunteer_hours">.*?<td class="num value">0.0', submitted.text, re.S)

    # the two November shifts' records are approved afterwards: checked in 5 minutes late and out
    # on the hour, 1 h 55 min each, credited in quarter hours as 1.75 h: 3.5 hours, one volunteer
    pending = ok(await client.get(f"/api/v1/communities/{scene.b}/service-records/pending", headers=scene.root.headers))
    assert len(pending) == 2
    for record in pending:
        ok(
            await client.post(
                f"/api/v1/service-records/{record['id']}/review", json={"approve": True}, headers=scene.root.headers
            )
        )
    again = await browser.get(sent.headers["HX-Redirect"])
    assert re.search(r'data-frozen="volunteer_hours">.*?<td class="num value">0.0', again.text, re.S)  # kept
    adjusted = re.search(r'<tr data-adjusted="volunteer_hours">(.*?)</tr>', again.text, re.S)
    assert adjusted and "+3.5" in adjusted.group(1) and "2026年11月：0.0 → 3.5" in adjusted.group(1)
    assert 'data-adjusted="volunteers"' in again.text and 'data-adjusted="service_visits"' not in again.text
    dashboard = await browser.get(f"/console/c/{scene.b}/reports?{NOVEMBER}")
    assert 'data-changed="3"' in dashboard.text  # volunteers, their visits, their hours
    twice = await browser.post(f"/console/c/{scene.b}/reports/submissions", data={"period": "2026-11"})
    assert twice.status_code == 409 and "已经报送" in twice.text
