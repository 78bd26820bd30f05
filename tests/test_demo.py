from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api import clock
from api.demo import load_demo
from api.demo_history import MONTHLY_TARGETS
from api.services.reports.periods import Span
from api.services.reports.registry import TARGETABLE
from tests.factories import login
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker


async def test_demo_loads_once_and_dev_staff_is_staff_of_b_community(client, db):
    assert await load_demo(db, if_empty=True) is True
    assert await load_demo(db, if_empty=True) is False

    staff = await login(client, "staff")
    me = (await client.get("/api/v1/me", headers=staff.headers)).json()
    assert [(m["community_name"], m["role"]) for m in me["memberships"]] == [("B社区", "staff")]
    community_id = me["memberships"][0]["community_id"]

    households = (
        await client.get(f"/api/v1/communities/{community_id}/households?limit=100", headers=staff.headers)
    ).json()["items"]
    assert len(households) == 13  # with the newcomer who joined from a share
    assert sum(h["pending_count"] for h in households) == 1

    admin = await login(client, "admin")
    admin_me = (await client.get("/api/v1/me", headers=admin.headers)).json()
    assert admin_me["is_platform_admin"] is True
    assert admin_me["memberships"][0]["role"] == "admin"

    chen = await login(client, "chen")
    chen_me = (await client.get("/api/v1/me", headers=chen.headers)).json()
    home = await client.get(f"/api/v1/households/{chen_me['memberships'][0]['household_id']}", headers=chen.headers)
    kinds = sorted((m["display_name"], m["kind"]) for m in home.json()["members"])
    assert ("小雨", "child") in kinds and ("小树", "child") in kinds
    detail = (await client.get(f"/api/v1/communities/{community_id}", headers=chen.headers)).json()
    assert [s["name"] for s in detail["spaces"]] == ["B社区复合空间"]


async def test_demo_has_a_pinned_welcome_and_fake_pushes_to_inspect(client, app, db):
    await load_demo(db)
    await Worker(db, app.state.settings, app.state.wechat).run_until_idle()

    chen = await login(client, "chen")  # children of 8 and 5, not in a team, subscribed
    community_id = (await client.get("/api/v1/me", headers=chen.headers)).json()["memberships"][0]["community_id"]
    notices = (await client.get(f"/api/v1/communities/{community_id}/announcements", headers=chen.headers)).json()
    assert [(a["title"], a["pinned"]) for a in notices["items"][:2]] == [
        ("欢迎来到B社区复合空间", True),
        ("周六亲子绘本共读开始报名", False),
    ]
    # then the three months' weekly notices, all read (chen reads everything)
    assert len(notices["items"]) > 10 and all(a["read"] for a in notices["items"][2:])
    inbox = (await client.get("/api/v1/me/inbox", headers=chen.headers)).json()
    # the two notices, and the two reading-club sessions of the series chen follows
    assert inbox["unread_count"] == 4

    staff = await login(client, "staff")
    pushes = (
        await client.get(f"/api/v1/communities/{community_id}/deliveries?limit=100", headers=staff.headers)
    ).json()["items"]
    assert {d["status"] for d in pushes} == {"sent", "no_credit"}  # one grant each: the second message finds none
    sent = [d for d in pushes if d["status"] == "sent"]
    assert len(sent) == 8  # everyone who tapped "allow" got their one message
    assert all(d["request"]["template_id"] == "demo-announcement" for d in sent)
    mine = [d for d in sent if d["recipient"]["display_name"] == "陈妈妈"]
    assert len(mine) == 1 and "touser" not in mine[0]["request"]  # staff never see openids


async def test_demo_has_a_week_of_activities_one_full_with_a_waitlist(client, db):
    await load_demo(db)
    chen = await login(client, "chen")
    community_id = (await client.get("/api/v1/me", headers=chen.headers)).json()["memberships"][0]["community_id"]
    week = (await client.get(f"/api/v1/communities/{community_id}/activities", headers=chen.headers)).json()
    by_title = {a["title"]: a for a in week["items"]}
    assert len(by_title) == 5
    craft = by_title["亲子手工：做一盏元宵灯笼"]
    assert (craft["seats_left"], craft["waitlist"]) == (0, 2)
    mine = (await client.get("/api/v1/me/bookings", headers=chen.headers)).json()["items"]
    assert {b["activity"]["title"]: b["status"] for b in mine} == {
        "亲子手工：做一盏元宵灯笼": "confirmed",
        "周六读书会：《小王子》": "confirmed",
    }
    li = await login(client, "li")
    (waiting,) = [
        b
        for b in (await client.get("/api/v1/me/bookings", headers=li.headers)).json()["items"]
        if b["status"] == "waitlisted"
    ]
    assert waiting["waitlist_position"] == 1


async def test_demo_reading_corner_has_books_loans_an_overdue_and_a_queue(client, db):
    await load_demo(db)
    staff = await login(client, "staff")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    found = (await client.get(f"/api/v1/communities/{community_id}/books?limit=100", headers=staff.headers)).json()
    more = (
        await client.get(
            f"/api/v1/communities/{community_id}/books?limit=100&cursor={found['next_cursor']}", headers=staff.headers
        )
    ).json()
    assert len(found["items"]) + len(more["items"]) >= 180
    overdue = (await client.get(f"/api/v1/communities/{community_id}/library/overdue", headers=staff.headers)).json()
    assert [(o["member_name"], o["title"]) for o in overdue] == [("小北", "窗边的小豆豆")]
    bus = (await client.get(f"/api/v1/communities/{community_id}/books?q=地球内部探秘", headers=staff.headers)).json()[
        "items"
    ][0]
    assert (bus["available"], bus["holds"]) == (0, 2)
    chen = await login(client, "chen")
    shelf = (await client.get("/api/v1/me/loans", headers=chen.headers)).json()
    assert sorted(x["book"]["title"] for x in shelf["loans"]) == ["不一样的卡梅拉：我想去看海", "猜猜我有多爱你"]


async def test_demo_volunteers_have_three_teams_a_month_of_duty_and_served_hours(client, db):
    await load_demo(db)
    staff = await login(client, "staff")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    teams = (await client.get(f"/api/v1/communities/{community_id}/teams", headers=staff.headers)).json()
    assert sorted(t["name"] for t in teams) == ["公益志愿队", "爱心联盟", "空间营造队"]
    liu = await login(client, "liu")
    shifts = (await client.get(f"/api/v1/communities/{community_id}/shifts?limit=100", headers=liu.headers)).json()
    duty = [s for s in shifts["items"] if s["role"] == "复合空间开馆值班"]
    assert 20 <= len(duty) <= 24  # Tue–Sun for four weeks, less what already started today
    assert any(s["role"] == "读书会签到引导" and s["my_signup"] for s in shifts["items"])
    mine = (await client.get(f"/api/v1/me/service-records?community_id={community_id}", headers=liu.headers)).json()
    assert float(mine["total_hours"]) >= 3 * 3  # three weeks, three duties a week, some 4 hours each
    assert (
        await client.get(f"/api/v1/me/service-records/certificate?community_id={community_id}", headers=liu.headers)
    ).status_code == 200
    pending = (
        await client.get(f"/api/v1/communities/{community_id}/service-records/pending", headers=staff.headers)
    ).json()
    assert len(pending) == 2 and [r["flagged"] for r in pending].count(True) == 1
    ranking = (await client.get(f"/api/v1/communities/{community_id}/volunteers/rankings", headers=liu.headers)).json()
    # the duty roster's four (赵老师 keeps out of rankings), the space team's three and 李妈妈, who
    # helps at the after-school class and visits elders
    assert "赵老师" not in [r["display_name"] for r in ranking] and len(ranking) == 8


async def test_demo_albums_and_the_loop_figures_have_something_to_say(client, app, db):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from api import clock

    clock.freeze(datetime(2026, 11, 28, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    await load_demo(db)
    staff = await login(client, "staff")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    held = (
        await client.get(f"/api/v1/communities/{community_id}/activities?when=past&limit=20", headers=staff.headers)
    ).json()["items"]
    by_title = {a["title"]: a["id"] for a in held}
    phone_class = by_title["长者智能手机课：学会视频通话"]

    album = (await client.get(f"/api/v1/activities/{phone_class}/album", headers=staff.headers)).json()
    [post] = album["items"]
    assert post["visibility"] == "public" and len(post["photos"]) == 3
    thumb = await client.get(post["photos"][0]["urls"]["thumb"].removeprefix("http://linli.test"))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"

    # the phone class: zhang (1 seat), wu and 吴爷爷 (2), 刘奶奶 (1), all checked in, all booked the
    # health talk since; one staff post of 3 photos, shared once by staff and opened by zhang, wu,
    # sun and the newcomer qian, who joined from it
    loop = (await client.get(f"/api/v1/activities/{phone_class}/loop", headers=staff.headers)).json()
    assert {k: loop[k] for k in ("booked", "attended", "posts", "photos", "shares", "share_opens")} == {
        "booked": 4, "attended": 4, "posts": 1, "photos": 3, "shares": 1, "share_opens": 4
    }  # fmt: skip
    assert (loop["bookings_from_shares"], loop["new_residents_from_shares"]) == (0, 1)
    assert (loop["attending_members"], loop["came_back"], loop["reparticipation_rate"]) == (4, 4, 1.0)
    # the garden morning: sun came alone and has booked nothing since: 4 of 5 came back
    garden = (
        await client.get(f"/api/v1/activities/{by_title['社区花园：种下冬天的蒜苗']}/loop", headers=staff.headers)
    ).json()
    assert (garden["attending_members"], garden["came_back"], garden["reparticipation_rate"]) == (5, 4, 0.8)

    month = (await client.get(f"/api/v1/communities/{community_id}/loop?month=2026-11", headers=staff.headers)).json()
    assert month["shares"] == 3 and month["share_opens"] == 11
    assert month["bookings_from_shares"] == 1 and month["new_residents_from_shares"] == 1
    assert month["posts"] == 6 and month["photos"] == 15

    queue = (await client.get(f"/api/v1/communities/{community_id}/moderation", headers=staff.headers)).json()
    assert len(queue["posts"]) == 1


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    "now",
    [
        None,  # the real clock, as `linli demo` runs
        datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI),  # the last full month ended yesterday
        datetime(2026, 12, 31, 20, 0, tzinfo=SHANGHAI),  # it ended a month ago
    ],
    ids=["today", "first-of-month", "end-of-month"],
)
async def test_demo_reports_last_full_month_has_every_indicator_against_the_project(client, db, now):
    if now is not None:
        clock.freeze(now)
    await load_demo(db)
    staff = await login(client, "staff")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    today = clock.now().astimezone(SHANGHAI).date()
    last = today.replace(day=1) - timedelta(days=1)
    period = {"from": last.replace(day=1).isoformat(), "to": last.isoformat()}
    url = f"/api/v1/communities/{community_id}/reports"

    everything = (await client.get(url, params=period, headers=staff.headers)).json()
    whole = {i["key"]: i for i in everything["indicators"]}
    (project,) = [g for g in whole["activities_held"]["breakdowns"]["project"] if g["key"] != "_none"]
    assert project["label"] == "B社区儿童友好空间运营项目" and project["value"] > 0
    untagged = [g for g in whole["activities_held"]["breakdowns"]["project"] if g["key"] == "_none"]
    assert untagged and untagged[0]["value"] > 0  # the party branch's day, the health centre's check-up

    answer = await client.get(url, params={**period, "project": project["key"]}, headers=staff.headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["project"]["funder"] == "某某街道办事处"
    figures = {i["key"]: i for i in report["indicators"]}
    assert set(MONTHLY_TARGETS) <= set(TARGETABLE)
    for key in MONTHLY_TARGETS:
        indicator = figures[key]
        assert indicator["value"] > 0, key
        assert indicator["plan"] > 0 and indicator["percent"] is not None, key
        assert indicator["target_total"] == 12 * MONTHLY_TARGETS[key], key
        assert sum(m["value"] for m in indicator["breakdowns"]["month"]) > 0, key
    # children without WeChat, elders, walk-ins who gave only a name
    parts = {p["key"]: p["value"] for p in figures["beneficiaries"]["parts"]}
    assert parts["children"] > 0 and parts["adults"] > 0 and parts["guests"] > 0
    genders = {g["key"]: g["value"] for g in figures["service_visits"]["breakdowns"]["gender"]}
    assert genders.get("female", 0) > 0 and genders.get("male", 0) > 0 and genders.get("_none", 0) > 0
    types = {g["key"] for g in figures["activities_held"]["breakdowns"]["service_type"]}
    assert {"group", "community", "deliberation", "casework"} <= types
    assert figures["open_days"]["value"] < 27  # six days a week at most (minus the closure, in its month)
    assert figures["read_rate"]["value"] > 50

    # the trend: every month since the contract began has its activities, visits, loans, service and notices
    trend = await client.get(
        url, params={"from": report["project"]["starts_on"], "to": last.isoformat()}, headers=staff.headers
    )
    months = {i["key"]: i["breakdowns"]["month"] for i in trend.json()["indicators"]}
    since = date.fromisoformat(report["project"]["starts_on"])
    expected = Span(since, last).months()  # every month, an empty one with its 0
    assert len(expected) >= 2 and all([m["key"] for m in months[key]] == expected for key in months if months[key])
    for key in ("activities_held", "service_visits", "new_participants", "loans", "volunteer_hours", "announcements"):
        assert all(m["value"] > 0 for m in months[key]), (key, months[key])
