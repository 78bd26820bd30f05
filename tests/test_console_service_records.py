"""Service records in the staff console (志愿服务 › 服务记录审核, 时长记录规则), through HTTP on both
engines: the queue (who, what, where, when, hours, who recorded it; overdue ones flagged), approving
and rejecting with a reason, nobody reviewing their own records (no button, and a forged request
refused by the service), correcting an approved record with a linked one, the records of a
volunteer or a month with a record's history, the export as a real workbook, a volunteer's
certificate as a PDF, and the policy. What changed is read back through the API. Who may open these
pages at all is also checked for every console route by test_console_access.py."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import openpyxl
from pypdf import PdfReader
from sqlalchemy import select

from api import clock
from api.db.models import Member
from api.services.communities import drop_memberships_without_member
from api.services.volunteers.totals import EXPORT_COLUMNS
from tests.factories import Person, community, grant, join, login
from tests.test_volunteers import V
from tests.test_volunteers import _now as _now  # the frozen clock: Tuesday 1 December 2026, 10:00
from tests.test_volunteers import settings as settings  # the same app settings

DAY = timedelta(days=1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def flash(response: httpx.Response) -> str:
    """An htmx refusal: the message swapped into the page's #flash line."""
    assert response.headers.get("HX-Retarget") == "#flash", response.text
    return text_of(response.text).strip()


def redirected(response: httpx.Response) -> str:
    assert response.status_code == 204, (response.status_code, response.text)
    target: str = response.headers["HX-Redirect"]
    return target


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
    return found.group(1) if found else None


def row(html: str, record_id: int) -> str:
    found = re.search(rf'<tr data-record="{record_id}"[^>]*>.*?</tr>', html, re.S)
    assert found is not None, f"no row for record {record_id}"
    return found.group(0)


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-record="(\d+)"', html)]


async def served(
    v: V, people: list[Person], *, hours_long: float = 3, start: float = 0.25, by: Person | None = None
) -> None:
    """`people` serve a shift (start hours from now) and check out at its end: by the code
    themselves, or confirmed by `by` (a leader or staff: they then record it)."""
    begins = clock.now() + timedelta(hours=start)
    made = await v.client.post(
        f"/api/v1/communities/{v.b}/shifts",
        json={
            "role": "开馆值班",
            "place": "复合空间",
            "start_at": begins.isoformat(),
            "end_at": (begins + timedelta(hours=hours_long)).isoformat(),
            "needed": 3,
            "team_id": v.team,
        },
        headers=v.staff.headers,
    )
    assert made.status_code == 201, made.text
    shift = made.json()
    for person in people:
        assert (await v.sign_up(person, shift["id"])).status_code in (200, 201)
        await v.attend(person, shift["id"], out=False)
    clock.advance(timedelta(hours=start + hours_long))
    for person in people:
        body: dict[str, Any] = (
            {"volunteer_id": person.user_id} if by is not None else {"code": await v.code(shift["id"])}
        )
        left = await v.client.post(f"/api/v1/shifts/{shift['id']}/checkout", json=body, headers=(by or person).headers)
        assert left.status_code == 200, left.text


async def records_of(v: V, person: Person) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in (await v.mine(person))["records"]}


async def next_month(v: V) -> None:
    """Forty days on (January 2027): the staff's and the volunteers' phones sign in again."""
    clock.advance(40 * DAY)
    for name in ("staff", "zhang", "sun"):
        again = await login(v.client, name)
        assert again.user_id == getattr(v, name).user_id
        setattr(v, name, again)


async def staff_volunteer(v: V) -> None:
    """The social worker lives here and volunteers in the team too."""
    await join(v.client, v.staff, v.b, room="999")
    await v.member_of(v.team, v.staff, approver=v.liu)


# -- the queue -------------------------------------------------------------------------------------


async def test_the_queue_shows_who_what_where_when_hours_and_recorder_and_flags_overdue(client, db, console):
    v = await V().build(client, db)
    await staff_volunteer(v)
    await served(v, [v.zhang, v.staff])  # scanned out themselves
    await served(v, [v.sun], hours_long=2, by=v.liu)  # the leader confirmed sun's check-out
    zhangs, own = sorted(
        [r for r in await v.pending() if r["user_id"] != v.sun.user_id], key=lambda r: r["user_id"] != v.zhang.user_id
    )
    (suns,) = [r for r in await v.pending() if r["user_id"] == v.sun.user_id]

    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers"
    page = await browser.get(f"{base}/records")
    assert page.status_code == 200, page.text
    assert f'href="/console/c/{v.b}/volunteers" aria-current="page"' in page.text  # the menu's entry
    assert f'href="{base}/records" aria-current="page">服务记录审核' in page.text  # the tab
    assert rows(page.text) == [zhangs["id"], own["id"], suns["id"]]  # the earliest deadline first
    assert re.search(r'data-count="pending">3<', page.text)
    zhang_row = text_of(row(page.text, zhangs["id"]))
    assert "zhang" in zhang_row and "开馆值班" in zhang_row and "复合空间" in zhang_row
    assert "12月1日 10:15–13:15" in zhang_row and " 3 " in zhang_row and "志愿者扫码签退" in zhang_row
    assert "12月15日" in zhang_row and "已超期" not in zhang_row  # ten working days after the 1st
    sun_row = text_of(row(page.text, suns["id"]))
    assert "liu" in sun_row and "12月1日 13:30–15:30" in sun_row and " 2 " in sun_row
    # one's own record: no button to approve or reject it, a word instead
    own_row = row(page.text, own["id"])
    assert "本人的记录，请其他社工审核" in own_row and "hx-post" not in own_row
    assert f"/records/{zhangs['id']}/approve" in row(page.text, zhangs["id"])

    # past the tenth working day the waiting ones are flagged, and counted
    clock.advance(15 * DAY)
    browser = await console(v.staff)  # the console's session ended meanwhile
    late = await browser.get(f"{base}/records")
    assert re.search(r'data-count="overdue">3 条已超期', late.text)
    assert 'class="is-overdue"' in row(late.text, zhangs["id"]) and "已超期" in row(late.text, zhangs["id"])


async def test_approving_and_rejecting_go_through_the_service_and_a_reason_is_required(client, db, console):
    v = await V().build(client, db)
    await served(v, [v.zhang, v.sun])
    zhangs, suns = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers"

    approved = await browser.post(f"{base}/records/{zhangs['id']}/approve", data={"back": "queue"})
    assert redirected(approved) == f"{base}/records"
    assert (await records_of(v, v.zhang))[zhangs["id"]]["status"] == "approved"
    inbox = (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    assert "谢谢你！2026-12-01的志愿服务记为3小时" in [e["title"] for e in inbox]
    again = await browser.post(f"{base}/records/{zhangs['id']}/approve", data={"back": "queue"})
    assert again.status_code == 409 and "已经审核过了" in flash(again)

    # rejecting needs the reason: the form comes back saying so, nothing changed
    bare = await browser.post(f"{base}/records/{suns['id']}/reject", data={"note": "  ", "back": "queue"})
    assert bare.status_code == 422
    assert field_error(bare.text, f"note-{suns['id']}") == "不通过时请写明原因"
    assert f'id="reject-{suns["id"]}"' in bare.text
    assert (await records_of(v, v.sun))[suns["id"]]["status"] == "pending"
    too_long = await browser.post(f"{base}/records/{suns['id']}/reject", data={"note": "长" * 300, "back": "queue"})
    assert too_long.status_code == 422 and field_error(too_long.text, f"note-{suns['id']}") == "最多 256 个字"
    assert f'value="{"长" * 300}"' in too_long.text  # what was typed comes back
    rejected = await browser.post(f"{base}/records/{suns['id']}/reject", data={"note": "当天未到岗", "back": "record"})
    assert redirected(rejected) == f"{base}/records/{suns['id']}"
    record = (await records_of(v, v.sun))[suns["id"]]
    assert (record["status"], record["review_note"]) == ("rejected", "当天未到岗")
    assert rows((await browser.get(f"{base}/records")).text) == []
    assert "没有待审核的服务记录" in (await browser.get(f"{base}/records")).text


async def test_nobody_reviews_or_corrects_their_own_record_here_either(client, db, console):
    v = await V().build(client, db)
    await staff_volunteer(v)
    await served(v, [v.staff])
    (own,) = await v.pending()
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers"
    page = await browser.get(f"{base}/records/{own['id']}")
    assert page.status_code == 200
    assert "这是你本人的服务记录，请由其他社工审核" in page.text and "/approve" not in page.text
    # a forged request is refused by the service, and the page says why
    for action, data in (("approve", {}), ("reject", {"note": "自己不通过"})):
        forged = await browser.post(f"{base}/records/{own['id']}/{action}", data=data)
        assert forged.status_code == 403, forged.text
        assert flash(forged) == "自己的服务记录请由其他社工审核或修改"
    assert (await v.pending())[0]["status"] == "pending"

    # another social worker approves it; its owner may not correct it either
    other = await login(client, "李社工")
    await grant(client, v.root, v.b, other, "staff")
    colleague = await console(other)
    assert redirected(await colleague.post(f"{base}/records/{own['id']}/approve", data={"back": "record"}))
    again = await browser.get(f"{base}/records/{own['id']}")
    assert 'id="correct-form"' not in again.text and "如需更正，请由其他社工提交" in again.text
    forged = await browser.post(
        f"{base}/records/{own['id']}/corrections",
        data={"start_at": "2026-12-01T10:15", "end_at": "2026-12-01T18:00", "reason": "多记"},
    )
    assert forged.status_code == 403 and flash(forged) == "自己的服务记录请由其他社工审核或修改"
    assert [r["id"] for r in (await v.mine(v.staff))["records"]] == [own["id"]]  # no correction made


async def test_a_correction_is_a_new_linked_record_with_its_reason(client, db, console):
    v = await V().build(client, db)
    await served(v, [v.zhang])
    (record,) = await v.pending()
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers"
    page = await browser.get(f"{base}/records/{record['id']}")
    assert 'id="correct-form"' not in page.text  # pending: reviewed, not corrected
    assert redirected(await browser.post(f"{base}/records/{record['id']}/approve", data={"back": "record"}))
    page = await browser.get(f"{base}/records/{record['id']}")
    assert 'id="correct-form"' in page.text
    assert 'value="2026-12-01T10:15"' in page.text and 'value="2026-12-01T13:15"' in page.text

    path = f"{base}/records/{record['id']}/corrections"
    form = {"start_at": "2026-12-01T10:15", "end_at": "2026-12-01T13:45", "hours": "", "service": "开馆值班"}
    no_reason = await browser.post(path, data=form | {"reason": ""})
    assert no_reason.status_code == 422 and field_error(no_reason.text, "reason") == "请填写"
    assert 'value="2026-12-01T13:45"' in no_reason.text  # what was typed comes back
    too_many = await browser.post(path, data=form | {"hours": "5", "reason": "多算"})
    assert too_many.status_code == 422
    assert field_error(too_many.text, "hours") == "记录的时长不能超过开始到结束的时间"
    backwards = await browser.post(path, data=form | {"end_at": "2026-12-01T09:00", "reason": "写反了"})
    assert backwards.status_code == 422 and field_error(backwards.text, "end_at") == "结束时间须晚于开始时间"
    assert len((await v.mine(v.zhang))["records"]) == 1  # nothing made by the refusals

    made = await browser.post(path, data=form | {"reason": "签退时扫码失败，实际服务到 13:45"})
    target = redirected(made)
    correction_id = int(target.rsplit("/", 1)[1])
    mine = await records_of(v, v.zhang)
    fixed = mine[correction_id]
    assert (fixed["corrects_id"], fixed["status"], fixed["minutes"]) == (record["id"], "pending", 210)
    assert fixed["correction_reason"] == "签退时扫码失败，实际服务到 13:45"
    assert mine[record["id"]]["status"] == "approved" and mine[record["id"]]["minutes"] == 180  # unchanged
    # the new record's page names what it corrects; the original's links to it; no second correction
    shown = text_of((await browser.get(target)).text)
    assert f"这是对记录 #{record['id']} 的更正：签退时扫码失败，实际服务到 13:45" in shown
    original = await browser.get(f"{base}/records/{record['id']}")
    assert f'<a href="{base}/records/{correction_id}">#{correction_id}</a>' in original.text
    assert 'id="correct-form"' not in original.text
    assert rows(original.text.split('id="chain"')[1]) == [record["id"], correction_id]
    assert "data-counted" in row(original.text, record["id"])  # still the one that counts
    twice = await browser.post(path, data=form | {"reason": "再改一次"})
    assert twice.status_code == 409 and "已有更正" in flash(twice)
    # approved, the correction counts instead
    assert correction_id in rows((await browser.get(f"{base}/records")).text)
    assert redirected(await browser.post(f"{base}/records/{correction_id}/approve", data={"back": "queue"}))
    assert (await v.mine(v.zhang))["counted_ids"] == [correction_id]
    chain = (await browser.get(f"{base}/records/{record['id']}")).text
    assert "data-counted" in row(chain, correction_id) and "data-counted" not in row(chain, record["id"])
    assert "已被更正替代" in row(chain, record["id"])
    events = re.findall(r'<li data-event="([a-z]+)">', chain)
    assert events == ["recorded", "approved", "corrected"]


async def test_records_by_volunteer_and_month_include_reviewed_ones(client, db, console):
    v = await V().build(client, db)
    await served(v, [v.zhang, v.sun])  # 1 December
    zhangs, suns = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    await v.approve(zhangs["id"])
    await next_month(v)
    await served(v, [v.zhang], hours_long=2)
    (january,) = [r for r in await v.pending() if r["user_id"] == v.zhang.user_id]
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers/records/list"

    this_month = await browser.get(base)  # the month shown first is this one
    assert this_month.status_code == 200
    assert rows(this_month.text) == [january["id"]] and 'value="2027-01"' in this_month.text
    december = await browser.get(base, params={"month": "2026-12"})
    assert sorted(rows(december.text)) == sorted([zhangs["id"], suns["id"]])
    assert "已通过" in row(december.text, zhangs["id"]) and "待审核" in row(december.text, suns["id"])
    assert "王社工" in row(december.text, zhangs["id"])  # who reviewed it
    assert re.search(r'data-count="hours">3<', december.text)  # the approved hours counted
    his = await browser.get(base, params={"volunteer": str(v.zhang.user_id), "month": ""})
    assert rows(his.text) == [january["id"], zhangs["id"]]  # every month, newest first
    assert f'<option value="{v.zhang.user_id}" selected>zhang</option>' in his.text
    approved = await browser.get(base, params={"month": "2026-12", "status": "approved"})
    assert rows(approved.text) == [zhangs["id"]]
    nothing = await browser.get(base, params={"month": "2026-11"})
    assert rows(nothing.text) == [] and "没有符合条件的服务记录" in nothing.text
    # a record's page from the list: what it says, and how it was recorded and reviewed
    page = text_of((await browser.get(f"/console/c/{v.b}/volunteers/records/{zhangs['id']}")).text)
    assert "服务记录 #" in page and "zhang" in page and "3 小时" in page and "B社区" in page
    assert "志愿者扫码签退，记录生成" in page and "审核通过（王社工）" in page


# -- the export and the certificate ----------------------------------------------------------------------


async def test_the_export_is_a_workbook_of_the_periods_approved_records(client, db, console):
    v = await V().build(client, db)
    await client.put(
        f"/api/v1/communities/{v.b}/volunteer-profile", json={"real_name": "张明"}, headers=v.zhang.headers
    )
    await served(v, [v.zhang, v.sun])
    zhangs, _ = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    await v.approve(zhangs["id"])  # sun's waits: not exported
    await next_month(v)
    await served(v, [v.zhang], hours_long=2)
    await v.approve((await v.pending())[-1]["id"])
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers/records"
    page = await browser.get(f"{base}/files")
    assert page.status_code == 200 and 'action="' + base + '/export"' in page.text
    assert 'value="2027-01-01"' in page.text  # from the start of this year

    exported = await browser.get(f"{base}/export", params={"from": "2026-12-01", "to": "2026-12-31"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="service-records-2026-12-01-2026-12-31.xlsx"' in exported.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    table = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert len(table) == 2  # December's one approved record alone
    assert (table[1][0], table[1][1], table[1][3], table[1][9]) == (zhangs["id"], "张明", "开馆值班", 3)
    assert table[1][7] == datetime(2026, 12, 1, 10, 15)
    everything = openpyxl.load_workbook(io.BytesIO((await browser.get(f"{base}/export")).content)).active
    assert [line[9].value for line in everything.iter_rows(min_row=2)] == [3, 2]
    backwards = await browser.get(f"{base}/export", params={"from": "2026-12-31", "to": "2026-12-01"})
    assert backwards.status_code == 422 and field_error(backwards.text, "export-to") == "开始日期不能晚于结束日期"
    bad = await browser.get(f"{base}/export", params={"from": "12/01/2026"})
    assert bad.status_code == 422 and "年-月-日" in (field_error(bad.text, "export-from") or "")


async def test_a_volunteers_certificate_downloads_as_a_pdf_naming_the_hours(client, db, console):
    v = await V().build(client, db)
    await client.put(
        f"/api/v1/communities/{v.b}/volunteer-profile", json={"real_name": "张明"}, headers=v.zhang.headers
    )
    await served(v, [v.zhang, v.sun])
    zhangs, _ = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    browser = await console(v.staff)
    base = f"/console/c/{v.b}/volunteers/records"
    page = await browser.get(f"{base}/files")
    assert f'<option value="{v.zhang.user_id}">张明</option>' in page.text
    assert f'<option value="{v.sun.user_id}">sun</option>' in page.text

    pick = {"volunteer_id": str(v.zhang.user_id), "from": "2026-12-01", "to": "2026-12-31"}
    none_yet = await browser.post(f"{base}/certificates", data=pick)  # nothing approved yet
    assert none_yet.status_code == 422 and "还没有审核通过的志愿服务记录" in none_yet.text
    assert f'<option value="{v.zhang.user_id}" selected>' in none_yet.text
    unpicked = await browser.post(f"{base}/certificates", data=pick | {"volunteer_id": ""})
    assert unpicked.status_code == 422 and field_error(unpicked.text, "volunteer_id") == "请选择志愿者"
    backwards = await browser.post(f"{base}/certificates", data=pick | {"from": "2026-12-31", "to": "2026-12-01"})
    assert backwards.status_code == 422 and field_error(backwards.text, "cert-to") == "开始日期不能晚于结束日期"
    stranger = await browser.post(f"{base}/certificates", data=pick | {"volunteer_id": str(v.ma.user_id)})
    assert stranger.status_code == 422
    assert field_error(stranger.text, "volunteer_id") == "这位志愿者在本社区没有服务记录"

    await v.approve(zhangs["id"])
    issued = await browser.post(f"{base}/certificates", data=pick)
    target = redirected(issued)
    number = target.rsplit("/", 1)[1]
    assert target == f"{base}/certificates/{number}" and len(number) == 12
    pdf = await browser.get(target)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f'filename="certificate-{number}.pdf"' in pdf.headers["content-disposition"]
    assert pdf.headers["x-certificate-number"] == number
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "志愿服务记录证明" in text and "张明" in text and "3 小时" in text and number in text
    # the same hours keep their number, the one anyone can check
    assert redirected(await browser.post(f"{base}/certificates", data=pick)) == target
    checked = (await client.get(f"/api/v1/certificates/{number}")).json()
    assert (checked["name"], checked["hours"], checked["current"]) == ("张*", "3", True)
    # once the volunteer has moved out (the whole household gone: no API moves a head out, so the
    # rows go as households.remove_member would take them), the desk still hands them the certificate
    async with db.session() as session:
        gone = (
            await session.execute(select(Member).where(Member.user_id == v.zhang.user_id, Member.community_id == v.b))
        ).scalar_one()
        await session.delete(gone)
        await session.flush()
        await drop_memberships_without_member(session, v.b, v.zhang.user_id)
        await session.commit()
    mine = await client.get(f"/api/v1/communities/{v.b}/volunteer-profile", headers=v.zhang.headers)
    assert mine.status_code in (403, 404), mine.text  # no longer a member here: their own path is closed
    assert redirected(await browser.post(f"{base}/certificates", data=pick)) == target
    # a certificate of another community is not found here
    other = await community(client, v.root, "C社区")
    cstaff = await login(client, "C社工")
    await grant(client, v.root, other["id"], cstaff, "staff")
    theirs = await console(cstaff)
    assert (await theirs.get(f"/console/c/{other['id']}/volunteers/records/certificates/{number}")).status_code == 404


# -- the policy --------------------------------------------------------------------------------------------


async def test_the_policy_is_shown_and_changed_for_later_records(client, db, console):
    v = await V().build(client, db)
    browser = await console(v.staff)
    path = f"/console/c/{v.b}/volunteers/policy"
    page = await browser.get(path)
    assert page.status_code == 200
    assert f'href="{path}" aria-current="page">时长记录规则' in page.text
    shown = text_of(page.text)
    assert "B社区" in shown and "15 分钟（向下取整）" in shown and "服务后 10 个工作日内审核" in shown
    assert '<option value="15" selected>' in page.text

    wrong = await browser.post(path, data={"organiser": "D社会工作服务中心", "rounding_minutes": "20"})
    assert wrong.status_code == 422 and field_error(wrong.text, "rounding_minutes") == "请从列表中选择"
    assert 'value="D社会工作服务中心"' in wrong.text
    api = f"/api/v1/communities/{v.b}/volunteer-policy"
    assert (await client.get(api, headers=v.staff.headers)).json()["rounding_minutes"] == 15
    saved = await browser.post(path, data={"organiser": "D社会工作服务中心", "rounding_minutes": "30"})
    assert redirected(saved) == f"{path}?saved=1"
    assert (await client.get(api, headers=v.staff.headers)).json() == {
        "organiser": "D社会工作服务中心",
        "rounding_minutes": 30,
    }
    after = await browser.get(f"{path}?saved=1")
    assert "已保存" in after.text and "30 分钟（向下取整）" in text_of(after.text)
    # the next record follows it: 10:15–12:00 in whole half hours
    shift = await v.shift(start=0.25, hours_long=3)
    await v.sign_up(v.zhang, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)
    clock.advance(timedelta(hours=2))
    await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    (record,) = await v.pending()
    assert (record["hours"], record["organiser"]) == ("1.5", "D社会工作服务中心")


# -- who may ---------------------------------------------------------------------------------------------


async def test_residents_are_refused_other_communities_see_nothing_and_changes_need_the_token(client, db, console):
    v = await V().build(client, db)
    await served(v, [v.zhang])
    (record,) = await v.pending()
    base = f"/console/c/{v.b}/volunteers"
    # a social worker who is only a resident in another community may not open its pages
    other = await community(client, v.root, "C社区")
    await join(client, v.staff, other["id"], room="808")
    browser = await console(v.staff)
    cbase = f"/console/c/{other['id']}/volunteers"
    for path in ("/records", "/records/list", f"/records/{record['id']}", "/records/files", "/policy"):
        assert (await browser.get(cbase + path)).status_code == 403, path
    assert (await browser.post(f"{cbase}/records/{record['id']}/approve")).status_code == 403
    # staff of another community: this community's pages are not found, nor its record from theirs
    cstaff = await login(client, "C社工")
    await grant(client, v.root, other["id"], cstaff, "staff")
    theirs = await console(cstaff)
    for path in ("/records", f"/records/{record['id']}", "/policy"):
        assert (await theirs.get(base + path)).status_code == 404, path
    assert (await theirs.get(f"{cbase}/records/{record['id']}")).status_code == 404
    forged = await theirs.post(f"{cbase}/records/{record['id']}/approve")
    assert forged.status_code == 404 and "找不到这条服务记录" in flash(forged)
    # without the page's token a change is refused
    assert (await browser.post(f"{base}/records/{record['id']}/approve", csrf=False)).status_code == 403
    assert (await browser.post(f"{base}/policy", csrf=False, data={"rounding_minutes": "30"})).status_code == 403
    assert (await v.pending())[0]["status"] == "pending"
    api = f"/api/v1/communities/{v.b}/volunteer-policy"
    assert (await client.get(api, headers=v.staff.headers)).json()["rounding_minutes"] == 15
