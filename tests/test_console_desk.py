"""The check-in desk in the staff console, through HTTP on both engines: a scanned booking QR
answered in the page (who, how many seats, already in, outside the window), ticks on the roster
per attendee, walk-ins while seats are free, the rotating on-site code as a QR code whose content
the mini-program's self check-in sends; who may use it, CSRF, the roster's pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api import clock
from api.console import desk as console_desk
from api.security import checkin_token
from tests.factories import activity, book
from tests.test_console_activities import NOW, World, at, text_of
from tests.test_console_activities import settings as settings  # the month-long logins (a fixture)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, db) -> World:
    return await World().build(client, db)


async def roster(client: Any, w: World, activity_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/activities/{activity_id}/attendance", headers=w.staff.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def checked_in(result: dict[str, Any]) -> dict[str, bool]:
    return {p["name"]: p["checked_in_at"] is not None for b in result["bookings"] for p in b["attendees"]}


async def token_of(client: Any, person: Any, booking_id: int) -> str:
    """The booking's QR as the resident's phone gets it."""
    code = await client.get(f"/api/v1/bookings/{booking_id}/checkin-code", headers=person.headers)
    assert code.status_code == 200, code.text
    token: str = code.json()["token"]
    return token


def outcome(html: str) -> str:
    found = re.search(r'data-outcome="([a-z_]+)"', html)
    assert found is not None, html
    return found.group(1)


async def open_now(client: Any, w: World, **fields: Any) -> dict[str, Any]:
    """A published activity whose check-in is open: it starts in 10 minutes."""
    return await activity(client, w.staff, w.b, start_at=at(minutes=10), end_at=at(hours=1), **fields)


async def test_a_scanned_code_is_answered_at_once(client, console, w):
    a = await open_now(client, w)
    booking = (await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])).json()
    token = await token_of(client, w.chen, booking["id"])
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/desk")
    assert page.status_code == 200
    scan_input = re.search(r"<input id=\"scan\"[^>]*>", page.text)
    assert scan_input is not None and "autofocus" in scan_input.group(0) and "data-scan-input" in scan_input.group(0)
    assert "正在签到" in page.text
    desk = f"{w.base}/activities/{a['id']}/desk"
    assert f'hx-post="{desk}/scan"' in page.text and f'hx-post="{desk}/walkin"' in page.text
    for url in set(re.findall(r'hx-get="([^"]+)"', page.text)):  # what the page asks for by itself
        assert (await browser.get(url.replace("&amp;", "&"))).status_code == 200, url

    scan = f"{w.base}/activities/{a['id']}/desk/scan"
    answered = await browser.post(scan, data={"token": f"  {token}\n"})  # as a scanner types it
    assert answered.status_code == 200 and outcome(answered.text) == "checked_in"
    assert answered.headers["HX-Trigger"] == "roster-changed"
    shown = text_of(answered.text)
    assert "签到成功，2 人" in shown and "预约 2 座" in shown and "陈阿姨" in shown and "小雨" in shown
    assert checked_in(await roster(client, w, a["id"])) == {"陈阿姨": True, "小雨": True}

    clock.advance(timedelta(minutes=3))
    again = await browser.post(scan, data={"token": token})
    assert outcome(again.text) == "already" and "已经签到过了" in again.text
    assert "09:00 已签到" in text_of(again.text)  # when they came, in the community's time

    forged = await browser.post(scan, data={"token": f"{booking['id']}.AAAAAAAAAAAAAAAA"})
    assert outcome(forged.text) == "refused" and "这不是本活动的预约码" in forged.text
    assert "HX-Trigger" not in forged.headers
    other = await open_now(client, w, title="另一场")
    elsewhere = (await book(client, w.zhou, other["id"])).json()
    wrong = await browser.post(scan, data={"token": await token_of(client, w.zhou, elsewhere["id"])})
    assert 'data-code="checkin_code_invalid"' in wrong.text
    empty = await browser.post(scan, data={"token": "   "})
    assert outcome(empty.text) == "refused" and "请扫描居民手机上的预约码" in empty.text
    junk = await browser.post(scan, data={"token": "扫码枪乱码é"})
    assert outcome(junk.text) == "refused"


async def test_outside_the_window_the_desk_says_when_it_opens_or_closed(client, console, w):
    a = await activity(client, w.staff, w.b, start_at=at(1), end_at=at(1, 1))  # tomorrow 09:00
    booking = (await book(client, w.chen, a["id"])).json()
    token = await token_of(client, w.chen, booking["id"])
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/desk")
    assert "签到 12月2日 08:30 开始" in text_of(page.text)
    early = await browser.post(f"{w.base}/activities/{a['id']}/desk/scan", data={"token": token})
    assert 'data-code="checkin_not_open"' in early.text
    shown = text_of(early.text)
    assert "签到 12月2日 08:30 开始" in shown and "本活动签到时段：12月2日 08:30 至 12月2日 09:30" in shown

    clock.advance(timedelta(days=1, hours=1))  # 10:00 the next day: closed at 09:30
    browser = await console(w.staff)  # signed in again: the console's idle sessions end after 2 hours
    late = await browser.post(f"{w.base}/activities/{a['id']}/desk/scan", data={"token": token})
    assert 'data-code="checkin_closed"' in late.text and "签到已于 12月2日 09:30 结束" in late.text
    assert checked_in(await roster(client, w, a["id"])) == {"陈阿姨": False}


async def test_a_waitlisted_booking_is_not_checked_in(client, console, w, settings):
    a = await open_now(client, w, capacity=1)
    await book(client, w.zhou, a["id"])
    waiting = (await book(client, w.chen, a["id"])).json()
    assert waiting["status"] == "waitlisted"
    # its code cannot even be shown on the phone; one made while it was confirmed would look like this
    browser = await console(w.staff)
    answered = await browser.post(
        f"{w.base}/activities/{a['id']}/desk/scan", data={"token": checkin_token(settings, waiting["id"])}
    )
    assert 'data-code="booking_not_confirmed"' in answered.text and "没有确认" in answered.text


async def test_ticks_on_the_roster_check_in_one_attendee_or_the_booking(client, console, w):
    a = await open_now(client, w)
    booking = (await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])).json()
    await book(client, w.zhou, a["id"])
    browser = await console(w.staff)
    page = await browser.get(f"{w.base}/activities/{a['id']}/desk")
    assert f'"member_id": "{w.xiaoyu}"' in page.text and "全部签到" in page.text
    tick = f"{w.base}/activities/{a['id']}/desk/tick"

    child = await browser.post(tick, data={"booking_id": booking["id"], "member_id": w.xiaoyu})
    assert outcome(child.text) == "checked_in" and "签到成功，1 人" in text_of(child.text)
    assert checked_in(await roster(client, w, a["id"])) == {"陈阿姨": False, "小雨": True, "周叔叔": False}
    result = await roster(client, w, a["id"])
    (by_staff,) = [p for b in result["bookings"] for p in b["attendees"] if p["name"] == "小雨"]
    assert by_staff["checkin_method"] == "staff"

    rest = await browser.post(tick, data={"booking_id": booking["id"]})
    assert "签到成功，1 人" in text_of(rest.text)  # only the one still missing
    assert checked_in(await roster(client, w, a["id"]))["陈阿姨"] is True

    fragment = await browser.get(f"{w.base}/activities/{a['id']}/desk/roster", headers={"HX-Request": "true"})
    counts = dict(re.findall(r'data-count="([a-z_]+)">(\d+)<', fragment.text))
    assert counts == {"checked_in": "2", "expected": "3", "seats_left": "27"}
    assert "✓ 小雨" in fragment.text and 'hx-trigger="roster-changed from:body, every 20s"' in fragment.text

    stranger = await browser.post(tick, data={"booking_id": booking["id"], "member_id": w.zhou_id})
    assert 'data-code="attendee_not_in_booking"' in stranger.text


async def test_the_roster_is_paged(client, console, w, monkeypatch):
    monkeypatch.setattr(console_desk, "ROSTER_PAGE", 1)
    a = await open_now(client, w)
    await book(client, w.chen, a["id"])
    await book(client, w.zhou, a["id"])
    browser = await console(w.staff)
    first = await browser.get(f"{w.base}/activities/{a['id']}/desk/roster")
    assert "陈阿姨" in first.text and "周叔叔" not in first.text and "第 1 / 2 页" in first.text
    second = await browser.get(f"{w.base}/activities/{a['id']}/desk/roster?page=2")
    assert "周叔叔" in second.text and "陈阿姨" not in second.text
    assert f'hx-get="{w.base}/activities/{a["id"]}/desk/roster?page=2"' in second.text  # polls its own page


async def test_walk_ins_by_name_or_as_members_while_seats_are_free(client, console, w):
    a = await open_now(client, w, capacity=4)
    await book(client, w.chen, a["id"])
    browser = await console(w.staff)
    walk = f"{w.base}/activities/{a['id']}/desk/walkin"

    guests = await browser.post(walk, data={"guests": "王奶奶、李爷爷"})
    assert outcome(guests.text) == "checked_in" and "签到成功，2 人" in text_of(guests.text)
    assert "现场登记 2 座" in text_of(guests.text)

    found = await browser.get(f"{w.base}/activities/{a['id']}/desk/members?q=1栋")
    assert "1栋1单元101" in found.text and "已预约，请扫码" in found.text and "小雨" in found.text
    by_name = await browser.get(f"{w.base}/activities/{a['id']}/desk/members?q=周")
    assert "3栋2单元502" in by_name.text and f'value="{w.zhou_id}"' in by_name.text
    nobody = await browser.get(f"{w.base}/activities/{a['id']}/desk/members?q=没有这个人")
    assert "没有找到" in nobody.text
    wildcard = await browser.get(f"{w.base}/activities/{a['id']}/desk/members?q=%25")
    assert "没有找到" in wildcard.text  # % is a character to look for, not a wildcard

    booked_again = await browser.post(walk, data={"member_ids": [w.chen_id]})
    assert 'data-code="already_booked"' in booked_again.text
    two_homes = await browser.post(walk, data={"member_ids": [w.zhou_id, w.xiaoyu]})
    assert 'data-code="walkin_members_invalid"' in two_homes.text
    member = await browser.post(walk, data={"member_ids": [w.zhou_id]})
    assert outcome(member.text) == "checked_in" and "周叔叔" in member.text

    full = await browser.post(walk, data={"guests": "张阿姨"})
    assert 'data-code="activity_full"' in full.text and "名额已满" in full.text
    result = await roster(client, w, a["id"])
    assert (result["taken"], result["expected"], result["checked_in"]) == (4, 4, 3)
    assert checked_in(result) == {"陈阿姨": False, "王奶奶": True, "李爷爷": True, "周叔叔": True}

    nothing = await browser.post(walk, data={"guests": "  、 "})
    assert outcome(nothing.text) == "refused" and "请勾选要登记的成员，或填写来访者的称呼" in nothing.text
    too_long = await browser.post(walk, data={"guests": "长" * 33})
    assert "每位来访者的称呼最多 32 个字" in too_long.text


async def test_the_on_site_code_is_a_qr_code_the_mini_program_checks_in_with(client, console, w):
    a = await open_now(client, w)
    await book(client, w.chen, a["id"], [w.chen_id, w.xiaoyu])
    browser = await console(w.staff)
    fragment = await browser.get(f"{w.base}/activities/{a['id']}/desk/code", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'hx-trigger="every 10s"' in fragment.text and '<svg viewBox="0 0 ' in fragment.text
    api = (await client.get(f"/api/v1/activities/{a['id']}/onsite-code", headers=w.staff.headers)).json()
    assert f'data-code="{api["code"]}"' in fragment.text
    assert api["qr_text"] == f"linli://checkin?activity={a['id']}&code={api['code']}"
    # the picture is that text: segno draws the same modules for it
    drawn = console_desk.qr_svg(api["qr_text"], "现场签到二维码")
    assert str(drawn) in fragment.text

    # what the mini-program does with it: read the activity and the code, and check the family in
    scanned = urlsplit(api["qr_text"])
    query = parse_qs(scanned.query)
    assert (scanned.scheme, scanned.netloc) == ("linli", "checkin")
    selfie = await client.post(
        f"/api/v1/activities/{query['activity'][0]}/checkins/self",
        json={"code": query["code"][0]},
        headers=w.chen.headers,
    )
    assert selfie.status_code == 200, selfie.text
    assert checked_in(await roster(client, w, a["id"])) == {"陈阿姨": True, "小雨": True}

    clock.advance(timedelta(minutes=2))
    later = await browser.get(f"{w.base}/activities/{a['id']}/desk/code")
    assert f'data-code="{api["code"]}"' not in later.text  # it has rotated

    screen = await browser.get(f"{w.base}/activities/{a['id']}/desk/screen")
    assert screen.status_code == 200 and 'class="screen"' in screen.text and "<svg" in screen.text

    draft = await activity(client, w.staff, w.b, publish=False, start_at=at(minutes=10), end_at=at(hours=1))
    none = await browser.get(f"{w.base}/activities/{draft['id']}/desk")
    assert none.status_code == 200 and "活动还没有发布，没有现场签到码" in none.text and "<svg" not in none.text
    refused = await browser.post(f"{w.base}/activities/{draft['id']}/desk/scan", data={"token": "1.x"})
    assert outcome(refused.text) == "refused"


async def test_only_staff_of_the_community_use_its_desk(client, console, w):
    a = await open_now(client, w)
    booking = (await book(client, w.chen, a["id"])).json()
    token = await token_of(client, w.chen, booking["id"])
    staff, mixed, stranger = await console(w.staff), await console(w.mixed), await console(w.stranger)
    desk = f"{w.base}/activities/{a['id']}/desk"
    for path in ("", "/roster", "/code", "/screen", "/members?q=陈"):
        assert (await staff.get(desk + path)).status_code == 200, path
        assert (await mixed.get(desk + path)).status_code == 403, path
        assert (await stranger.get(desk + path)).status_code == 404, path
    for path, data in [
        ("/scan", {"token": token}),
        ("/tick", {"booking_id": booking["id"]}),
        ("/walkin", {"guests": "王奶奶"}),
    ]:
        assert (await mixed.post(desk + path, data=data)).status_code == 403, path
        assert (await stranger.post(desk + path, data=data)).status_code == 404, path
        assert (await staff.post(desk + path, data=data, csrf=False)).status_code == 403, path
    # B's activity at A's desk (the mixed person is staff of A): no such activity there
    assert (await mixed.get(f"/console/c/{w.a}/activities/{a['id']}/desk")).status_code == 404
    assert (
        await mixed.post(f"/console/c/{w.a}/activities/{a['id']}/desk/scan", data={"token": token})
    ).status_code == 404
    result = await roster(client, w, a["id"])
    assert checked_in(result) == {"陈阿姨": False} and result["taken"] == 1
