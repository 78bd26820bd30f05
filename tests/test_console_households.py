"""Households (一户一档) and acting for residents without WeChat (代办) in the staff console,
through HTTP on both engines: who may see the pages, CSRF, pagination, registering a household at
the desk, booking and cancelling for its members under the residents' rules, join requests, and
the household's history in one place. Outcomes are checked through the API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from api import clock
from api.db.models import ServiceRecord
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 09:00 in Shanghai
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


ELDER = {
    "building": "3栋",
    "unit": "2单元",
    "room": "501",
    "contact_phone": "13812345678",
    "members": [{"display_name": "王奶奶", "kind": "elder"}],
}


class W:
    async def build(self, client: Any, db: Any, console: Any) -> W:
        self.client, self.db = client, db
        self.root = await platform_admin(client, db)
        self.a = (await community(client, self.root, "A社区"))["id"]
        self.staff = await login(client, "社工小王")
        await grant(client, self.root, self.a, self.staff, "staff")
        await client.patch("/api/v1/me", json={"display_name": "社工小王"}, headers=self.staff.headers)
        self.chen = await login(client, "chen")
        self.chen_home = (await join(client, self.chen, self.a, "1栋", "1单元", "101"))["household"]["id"]
        self.browser = await console(self.staff)
        return self

    @property
    def base(self) -> str:
        return f"/console/c/{self.a}/households"

    async def register(self, body: dict[str, Any], person: Person | None = None) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/communities/{self.a}/households", json=body, headers=(person or self.staff).headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def household(self, household_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/households/{household_id}", headers=self.staff.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def taken(self, activity_id: int) -> int:
        detail = await self.client.get(f"/api/v1/activities/{activity_id}", headers=self.staff.headers)
        return int(detail.json()["taken"])


@pytest.fixture
async def w(client, db, console) -> W:
    return await W().build(client, db, console)


def flash(response: Any) -> str:
    """The message an htmx request got in the page's #flash line."""
    assert response.headers.get("HX-Retarget") == "#flash", (response.status_code, response.text)
    found = re.search(r'<div class="alert" data-code="([a-z_]+)">([^<]*)</div>', response.text)
    assert found is not None, response.text
    return f"{found.group(1)}: {found.group(2)}"


# -- who may see it ---------------------------------------------------------------------------------


async def test_only_staff_of_the_community_open_the_households_pages(client, w, console):
    elder = await w.register(ELDER)
    b = (await community(client, w.root, "B社区"))["id"]
    c = (await community(client, w.root, "C社区"))["id"]
    # staff of A who lives in B, and staff of C only
    both = await login(client, "社工老李")
    await grant(client, w.root, w.a, both, "staff")
    await join(client, both, b, "9栋", "", "1")
    other = await login(client, "社工小张")
    await grant(client, w.root, c, other, "staff")

    paths = [
        "",
        "/new",
        f"/{elder['id']}",
        f"/{elder['id']}/history/bookings",
        f"/{elder['id']}/history/loans",
        f"/{elder['id']}/history/holds",
        f"/{elder['id']}/history/volunteering",
    ]
    for path in paths:
        page = await w.browser.get(w.base + path)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-security-policy"].startswith("default-src 'self'")

    resident_there = await console(both)
    for path in paths:
        assert (await resident_there.get(f"/console/c/{b}/households{path}")).status_code == 403, path
    assert (await resident_there.post(f"/console/c/{b}/households", data={"building": "1"})).status_code == 403
    stranger = await console(other)
    for path in paths:
        assert (await stranger.get(w.base + path)).status_code == 404, path
    # their own console does not open another community's household either
    assert (await stranger.get(f"/console/c/{c}/households/{elder['id']}")).status_code == 404
    for section in ("bookings", "loans"):
        assert (await stranger.get(f"/console/c/{c}/households/{elder['id']}/history/{section}")).status_code == 404
    nobody = await console()
    signed_out = await nobody.get(w.base)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/console/login")


async def test_changes_without_the_csrf_token_are_refused(client, w):
    await w.browser.get(w.base)
    form = {"building": "5栋", "room": "1", "name": ["刘爷爷"], "kind": ["elder"], "birth_year": [""]}
    refused = await w.browser.post(w.base, data=form, csrf=False)
    assert refused.status_code == 403 and "页面已过期" in refused.text
    listed = (await client.get(f"/api/v1/communities/{w.a}/households", headers=w.staff.headers)).json()
    assert len(listed["items"]) == 1  # nothing was registered
    a = await activity(client, w.staff, w.a)
    booking = await w.browser.post(
        f"{w.base}/{w.chen_home}/bookings", data={"activity_id": a["id"], "member_ids": [1]}, csrf=False
    )
    assert booking.status_code == 403 and await w.taken(a["id"]) == 0


# -- finding households ----------------------------------------------------------------------------


async def test_households_by_building_and_search_are_paginated(client, w):
    for n in range(1, 23):
        await w.register(
            {"building": "2号楼", "room": f"{n:02d}", "members": [{"display_name": f"住户{n}", "kind": "adult"}]}
        )
    await w.register(ELDER)

    first = await w.browser.get(w.base)
    assert first.status_code == 200
    assert first.text.count('data-household="') == 20
    assert "下一页" in first.text and "第 1 页" in first.text
    assert f'href="{w.base}/new"' in first.text and f'href="{w.base}/{w.chen_home}"' in first.text
    assert "2号楼（22 户）" in first.text and "3栋（1 户）" in first.text and "1栋（1 户）" in first.text
    second = await w.browser.get(w.base + "?page=2")
    assert second.text.count('data-household="') == 4 and "上一页" in second.text and "下一页" not in second.text

    # one building: "2栋" and "2号楼" are the same building
    building = await w.browser.get(w.base + "?building=2栋")
    assert building.text.count('data-household="') == 20 and "3栋2单元501" not in building.text
    building_2 = await w.browser.get(w.base + "?building=2&page=2")
    assert building_2.text.count('data-household="') == 2

    # by a member's name, or by room (as people type it)
    by_name = await w.browser.get(w.base + "?q=王奶奶")
    assert by_name.text.count('data-household="') == 1 and "3栋2单元501" in by_name.text
    assert "138****5678" in by_name.text and "13812345678" not in by_name.text
    assert "无微信" in by_name.text
    by_room = await w.browser.get(w.base + "?q=501室")
    assert by_room.text.count('data-household="') == 1 and "王奶奶" in by_room.text
    nothing = await w.browser.get(w.base + "?q=%25")  # a wildcard typed is a character, not "anything"
    assert nothing.text.count('data-household="') == 0 and "没有找到" in nothing.text


# -- registering at the desk -----------------------------------------------------------------------


async def test_staff_register_an_elder_without_wechat_through_the_form(client, w):
    page = await w.browser.get(w.base + "/new")
    assert "登记新住户" in page.text and 'name="contact_phone"' in page.text
    form = {
        "building": "3栋",
        "unit": "2单元",
        "room": "501",
        "contact_phone": "138-1234-5678",
        "name": ["王奶奶", "", "", ""],
        "kind": ["elder", "adult", "adult", "adult"],
        "birth_year": ["", "", "", ""],
    }
    done = await w.browser.post(w.base, data=form)
    assert done.status_code == 204, done.text
    target = done.headers["HX-Redirect"]
    household_id = int(re.search(r"/households/(\d+)\?registered=1", target).group(1))  # type: ignore[union-attr]

    registered = await w.household(household_id)
    assert [(m["display_name"], m["kind"], m["is_head"], m["has_account"]) for m in registered["members"]] == [
        ("王奶奶", "elder", True, False)
    ]
    file = await w.browser.get(target)
    assert file.status_code == 200
    assert "3栋2单元501" in file.text and "已登记" in file.text and "无微信" in file.text
    assert "138****5678" in file.text and "13812345678" not in file.text
    # the full number only through the logged reveal
    shown = await w.browser.post(f"/console/c/{w.a}/households/{household_id}/phone?context=household")
    assert "13812345678" in shown.text

    again = await w.browser.post(w.base, data={**form, "room": "５０１室"})
    assert flash(again) == "household_exists: 该门牌已登记为一户（3栋2单元501），请在该户档案中添加成员"
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ["王奶奶", "豆豆"], "kind": ["elder", "child"], "birth_year": ["", "2019"]},
         "guardian_consent_required: 第2位成员：登记儿童信息需要监护人单独同意《儿童个人信息保护规则》"),
        ({"name": ["王奶奶", "豆豆"], "kind": ["elder", "child"], "birth_year": ["", ""], "consent": ["2"]},
         "child_birth_year_required: 第2位成员：儿童需要出生年份"),
        ({"name": ["", "", "", ""]}, "validation_error: 成员：至少登记一位成员（第一位为户主）"),
        ({"contact_phone": "12345"}, "validation_error: 联系电话：应为 11 位手机号或带区号的座机号"),
        ({"room": ""}, "validation_error: 门牌号：必填"),
    ],
)  # fmt: skip
async def test_registration_refusals_appear_in_the_page(client, w, change, message):
    await w.browser.get(w.base + "/new")
    form = {"building": "5栋", "room": "1", "name": ["王奶奶"], "kind": ["elder"], "birth_year": [""], **change}
    refused = await w.browser.post(w.base, data=form)
    assert refused.status_code == 422
    assert flash(refused).startswith(message), flash(refused)
    listed = (await client.get(f"/api/v1/communities/{w.a}/households", headers=w.staff.headers)).json()
    assert len(listed["items"]) == 1


async def test_a_child_is_registered_with_the_guardians_consent_and_members_added_later(client, w):
    form = {
        "building": "6栋",
        "room": "302",
        "name": ["刘爷爷", "豆豆", ""],
        "kind": ["elder", "child", "adult"],
        "birth_year": ["", "2019", ""],
        "consent": ["2"],
    }
    done = await w.browser.post(w.base, data=form)
    household_id = int(re.search(r"/households/(\d+)", done.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    members = (await w.household(household_id))["members"]
    assert [(m["display_name"], m["kind"], m["birth_year"]) for m in members] == [
        ("刘爷爷", "elder", None), ("豆豆", "child", 2019)
    ]  # fmt: skip
    assert members[1]["consent_at"] is not None

    added = await w.browser.post(f"{w.base}/{household_id}/members", data={"display_name": "刘奶奶", "kind": "elder"})
    assert added.status_code == 204
    refused = await w.browser.post(
        f"{w.base}/{household_id}/members", data={"display_name": "小豆", "kind": "child", "birth_year": "2020"}
    )
    assert flash(refused).startswith("guardian_consent_required")
    assert [m["display_name"] for m in (await w.household(household_id))["members"]] == ["刘爷爷", "豆豆", "刘奶奶"]

    # the phone is recorded later, and removed
    assert (
        await w.browser.post(f"{w.base}/{household_id}/contact-phone", data={"contact_phone": "028-87654321"})
    ).status_code == 204
    assert "028****4321" in (await w.browser.get(f"{w.base}/{household_id}")).text
    bad = await w.browser.post(f"{w.base}/{household_id}/contact-phone", data={"contact_phone": "87654321"})
    assert flash(bad).startswith("validation_error: 联系电话：")  # the label, not the API's field name
    # an empty field is a slip, not a wish: removing the number is its own button
    empty = await w.browser.post(f"{w.base}/{household_id}/contact-phone", data={"contact_phone": ""})
    assert empty.status_code == 422 and "请点“删除号码”" in empty.text
    assert "028****4321" in (await w.browser.get(f"{w.base}/{household_id}")).text
    await w.browser.post(f"{w.base}/{household_id}/contact-phone", data={"remove": "true"})
    assert "未登记电话" in (await w.browser.get(f"{w.base}/{household_id}")).text


# -- booking at the desk ---------------------------------------------------------------------------


async def test_staff_book_and_cancel_a_seat_for_an_elder_from_her_file(client, w):
    elder = await w.register(ELDER)
    grandma = elder["members"][0]["id"]
    talk = await activity(client, w.staff, w.a, title="长者健康讲座", category="elders", capacity=1)
    await activity(client, w.staff, w.a, title="还没发布的活动", publish=False)
    file_path = f"{w.base}/{elder['id']}"

    page = await w.browser.get(file_path)
    assert "长者健康讲座" in page.text and "余 1 座" in page.text and "还没发布的活动" not in page.text
    assert f'href="/console/c/{w.a}/library?member_id={grandma}"' in page.text  # borrow for her at the desk
    assert f'hx-post="{file_path}/bookings"' in page.text and f'hx-post="{file_path}/members"' in page.text

    done = await w.browser.post(f"{file_path}/bookings", data={"activity_id": talk["id"], "member_ids": [grandma]})
    assert done.status_code == 204, done.text
    assert re.search(r"\?booked=\d+#desk-booking$", done.headers["HX-Redirect"])
    after = await w.browser.get(done.headers["HX-Redirect"].split("#")[0])
    assert "已为王奶奶预约「长者健康讲座」" in after.text and "已确认" in after.text
    assert "这一户没有微信，收不到提醒" in after.text
    assert "社工代办：社工小王" in after.text
    assert await w.taken(talk["id"]) == 1
    booking_id = int(re.search(r"booked=(\d+)", done.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    seen = (await client.get(f"/api/v1/bookings/{booking_id}", headers=w.staff.headers)).json()
    assert (seen["status"], seen["booked_at_desk"], seen["booked_at_desk_by"]) == ("confirmed", True, "社工小王")
    # the activity's roster says who booked it at the desk
    roster = await w.browser.get(f"/console/c/{w.a}/activities/{talk['id']}/roster")
    assert "社工小王代办" in roster.text

    # the same rules as a resident: booked once
    twice = await w.browser.post(f"{file_path}/bookings", data={"activity_id": talk["id"], "member_ids": [grandma]})
    assert twice.status_code == 409 and flash(twice) == "already_booked: 已经预约过本活动"
    # only this household's members
    other = await w.browser.post(
        f"{file_path}/bookings", data={"activity_id": talk["id"], "member_ids": [grandma, 999999]}
    )
    assert flash(other) == "attendee_not_in_household: 只能为该户的成员预约"

    cancelled = await w.browser.post(f"{file_path}/bookings/{booking_id}/cancel")
    assert cancelled.status_code == 204
    assert (await client.get(f"/api/v1/bookings/{booking_id}", headers=w.staff.headers)).json()["status"] == "cancelled"
    assert await w.taken(talk["id"]) == 0
    # a booking of another household is not cancelled through this file
    theirs = await client.post(f"/api/v1/activities/{talk['id']}/bookings", json={}, headers=w.chen.headers)
    wrong = await w.browser.post(f"{file_path}/bookings/{theirs.json()['id']}/cancel")
    assert wrong.status_code == 404 and flash(wrong) == "booking_not_found: 找不到该预约"
    assert (await client.get(f"/api/v1/bookings/{theirs.json()['id']}", headers=w.chen.headers)).json()[
        "status"
    ] == "confirmed"


async def test_the_desk_meets_capacity_waitlist_and_age_rules(client, w):
    elder = await w.register(ELDER)
    grandma = elder["members"][0]["id"]
    xiaoyu = (await add_child(client, w.chen, w.chen_home, "小雨", 2018))["id"]  # 8
    xiaoshu = (await add_child(client, w.chen, w.chen_home, "小树", 2021))["id"]  # 5
    full = await activity(client, w.staff, w.a, title="剪纸课", capacity=1)
    picture_books = await activity(client, w.staff, w.a, title="绘本课", child_min_age=6, child_max_age=12)
    assert (
        await client.post(f"/api/v1/activities/{full['id']}/bookings", json={}, headers=w.chen.headers)
    ).status_code == 201

    page = await w.browser.get(f"{w.base}/{elder['id']}")
    assert "已满，可候补" in page.text and "（6–12岁）" in page.text
    waiting = await w.browser.post(
        f"{w.base}/{elder['id']}/bookings", data={"activity_id": full["id"], "member_ids": [grandma]}
    )
    after = await w.browser.get(waiting.headers["HX-Redirect"].split("#")[0])
    assert "候补第 1 位" in after.text

    young = await w.browser.post(
        f"{w.base}/{w.chen_home}/bookings", data={"activity_id": picture_books["id"], "member_ids": [xiaoshu]}
    )
    assert young.status_code == 422 and flash(young) == "attendee_age: 小树的年龄不在本活动的6–12岁范围内"
    ok = await w.browser.post(
        f"{w.base}/{w.chen_home}/bookings", data={"activity_id": picture_books["id"], "member_ids": [xiaoyu]}
    )
    assert ok.status_code == 204
    mine = (await client.get("/api/v1/me/bookings", headers=w.chen.headers)).json()["items"]
    assert {(x["activity"]["title"], x["booked_at_desk"]) for x in mine} == {("剪纸课", False), ("绘本课", True)}
    nobody = await w.browser.post(f"{w.base}/{elder['id']}/bookings", data={"activity_id": full["id"]})
    assert nobody.status_code == 422 and flash(nobody) == "attendees_required: 代办预约请选择该户要参加的成员"


# -- join requests ---------------------------------------------------------------------------------


async def test_join_requests_are_approved_or_refused_from_the_list_and_the_file(client, w):
    elder = await w.register(ELDER)
    son = await login(client, "son")
    asked = await join(client, son, w.a, "3栋", "2单元", "501")
    stranger = await login(client, "stranger")
    also = await join(client, stranger, w.a, "1", "1", "101")
    listing = await w.browser.get(w.base)
    assert listing.text.count('data-request="') == 2 and "待确认的入户申请" in listing.text
    assert "1 人待确认" in listing.text

    approved = await w.browser.post(f"{w.base}/requests/{asked['member']['id']}/approve", data={"back": "file"})
    assert approved.status_code == 204 and approved.headers["HX-Redirect"] == f"{w.base}/{elder['id']}"
    members = (await w.household(elder["id"]))["members"]
    assert [(m["display_name"], m["status"]) for m in members] == [("王奶奶", "active"), ("son", "active")]
    assert "有微信" in (await w.browser.get(f"{w.base}/{elder['id']}")).text

    file = await w.browser.get(f"{w.base}/{w.chen_home}")
    assert f'data-request="{also["member"]["id"]}"' in file.text
    refused = await w.browser.post(f"{w.base}/requests/{also['member']['id']}/reject", data={"back": "list"})
    assert refused.status_code == 204 and refused.headers["HX-Redirect"] == w.base
    assert [m["display_name"] for m in (await w.household(w.chen_home))["members"]] == ["chen"]
    assert (await client.get("/api/v1/me", headers=stranger.headers)).json()["memberships"] == []
    assert 'data-request="' not in (await w.browser.get(w.base)).text
    gone = await w.browser.post(f"{w.base}/requests/{also['member']['id']}/approve")
    assert gone.status_code == 404


# -- the history in one place ----------------------------------------------------------------------


async def test_the_file_shows_bookings_loans_holds_and_volunteer_hours_with_pages(client, w, db):
    staff_h = w.staff.headers
    chen_me = (await client.get("/api/v1/me", headers=w.chen.headers)).json()["memberships"][0]["member_id"]
    book = await client.post(f"/api/v1/communities/{w.a}/books", json={"title": "小王子"}, headers=staff_h)
    copy = await client.post(f"/api/v1/books/{book.json()['id']}/copies", json={"barcode": "LL0001"}, headers=staff_h)
    assert copy.status_code == 201, copy.text
    lent = await client.post(
        f"/api/v1/communities/{w.a}/loans", json={"barcode": "LL0001", "member_id": chen_me}, headers=staff_h
    )
    assert lent.status_code == 201, lent.text
    other = await client.post(f"/api/v1/communities/{w.a}/books", json={"title": "窗边的小豆豆"}, headers=staff_h)
    await client.post(f"/api/v1/books/{other.json()['id']}/copies", json={"barcode": "LL0002"}, headers=staff_h)
    zhou = await login(client, "zhou")
    zhou_me = (await join(client, zhou, w.a, "1栋", "1单元", "102"))["member"]["id"]
    await client.post(
        f"/api/v1/communities/{w.a}/loans", json={"barcode": "LL0002", "member_id": zhou_me}, headers=staff_h
    )
    held = await client.post(
        f"/api/v1/books/{other.json()['id']}/holds", json={"member_id": chen_me}, headers=w.chen.headers
    )
    assert held.status_code == 201, held.text
    async with db.session() as session:
        start = NOW - timedelta(days=3)
        session.add(
            ServiceRecord(
                community_id=w.a, user_id=w.chen.user_id, service="图书整理", service_date=date(2026, 11, 28),
                start_at=start, end_at=start + timedelta(hours=2), minutes=90, organiser="A社区",
                status="approved", review_by=date(2026, 12, 10), created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        await session.commit()
    for n in range(12):
        start = NOW + timedelta(days=n + 1)
        a = await activity(
            client, w.staff, w.a, title=f"读书会第{n + 1}期", start_at=start.isoformat(),
            end_at=(start + timedelta(hours=1)).isoformat(),
        )  # fmt: skip
        booked = await client.post(f"/api/v1/activities/{a['id']}/bookings", json={}, headers=w.chen.headers)
        assert booked.status_code == 201

    file = await w.browser.get(f"{w.base}/{w.chen_home}")
    assert file.status_code == 200
    assert "小王子" in file.text and "借阅中" in file.text and "LL0001" in file.text
    assert "窗边的小豆豆" in file.text and "排队第 1 位" in file.text
    assert "图书整理" in file.text and "已计入" in file.text and "chen：<strong>1.5</strong> 小时" in file.text
    assert file.text.count('data-booking="') == 10 and "居民自己预约" in file.text
    history = file.text.split('id="bookings"', 1)[1].split("</section>", 1)[0]
    assert "读书会第12期" in history and "读书会第3期" in history and "读书会第2期" not in history
    more = await w.browser.get(f"{w.base}/{w.chen_home}/history/bookings?page=2", headers={"HX-Request": "true"})
    assert more.status_code == 200 and more.text.count('data-booking="') == 2
    assert "读书会第1期" in more.text and "上一页" in more.text and "<html" not in more.text
    assert f'hx-get="{w.base}/{w.chen_home}/history/bookings?page=1"' in more.text
    # zhou's loan is not chen's household's
    assert "LL0002" not in (await w.browser.get(f"{w.base}/{w.chen_home}/history/loans")).text
