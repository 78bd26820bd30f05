from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api import clock
from api.demo.history import MONTHLY_TARGETS
from api.demo.loader import load_demo
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

    households, cursor = [], ""
    while cursor is not None:
        page = (
            await client.get(
                f"/api/v1/communities/{community_id}/households?limit=100&cursor={cursor}", headers=staff.headers
            )
        ).json()
        households += page["items"]
        cursor = page["next_cursor"]
    # every flat of the compound's register; thirteen with residents (with the newcomer who joined
    # from a share), the others nobody has joined yet
    assert len(households) == 376
    assert len([h for h in households if h["member_count"]]) == 13
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


@pytest.mark.parametrize(
    "now",
    [
        None,  # the real clock
        datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI),  # a Monday, the first of the month
        datetime(2027, 1, 3, 1, 30, tzinfo=SHANGHAI),  # a Sunday night: "a few hours ago" was Saturday
        datetime(2026, 12, 31, 20, 0, tzinfo=SHANGHAI),
    ],
    ids=["today", "first-of-month", "sunday-night", "end-of-month"],
)
async def test_demo_governance_has_every_state_consistent_timelines_and_two_meetings(client, db, now):
    from sqlalchemy import func, select

    from api.db.models import (
        AgendaItem,
        Concern,
        ConcernComment,
        ConcernEvent,
        ConcernSupporter,
        ConcernVerdict,
        Decision,
        FollowUp,
        Meeting,
        MeetingParticipant,
    )
    from api.services.governance import common

    if now is not None:
        clock.freeze(now)
    await load_demo(db)
    now = clock.now()
    today = now.astimezone(SHANGHAI).date()
    policy = common.Clocks()
    async with db.session() as session:
        concerns = list((await session.execute(select(Concern).order_by(Concern.id))).scalars())
        assert len(concerns) >= 12
        assert {c.status for c in concerns} == set(common.STATUS_LABELS)  # every state
        assert {c.level for c in concerns if c.status == "accepted"} == {1, 2, 3}
        # one raised hours ago, one whose response clock has run out
        assert sorted(str(common.late(c, now)) for c in concerns if c.status == "submitted") == ["None", "response"]
        assert {c.outcome for c in concerns if c.status == "closed"} == {"resolved"}
        assert any(c.reopen_count == 1 and c.status == "in_progress" for c in concerns)
        assert any(c.by_staff for c in concerns)
        referred = next(c for c in concerns if c.status == "referred")
        assert referred.referred_to.startswith("街道城管")
        duplicate = next(c for c in concerns if c.status == "duplicate")
        assert duplicate.duplicate_of in {c.id for c in concerns}

        for c in concerns:
            assert c.accept_by == common.accept_deadline(c.created_at, policy, SHANGHAI), c.title
            events = list(
                (
                    await session.execute(
                        select(ConcernEvent)
                        .where(ConcernEvent.concern_id == c.id)
                        .order_by(ConcernEvent.at, ConcernEvent.id)
                    )
                ).scalars()
            )
            assert events[0].kind == "submitted" and events[0].at == c.created_at, c.title
            assert all(e.at <= now for e in events) and c.created_at <= now, c.title
            # the timeline replays the concern's status, and every change is on it
            status = None
            for event in events:
                if "status" in event.data:
                    old, new = event.data["status"]
                    assert old == status, (c.title, event.kind)
                    status = new
            assert status == c.status, c.title
            answered = [e.at for e in events if e.kind in ("accepted", "unresolvable", "referred", "duplicate")]
            assert c.responded_at == (answered[0] if answered else None), c.title
            accepted = [e for e in events if e.kind == "accepted"]
            if accepted and not any(e.kind == "level" for e in events):
                assert c.due_at == common.resolution_deadline(accepted[0].at, c.level, policy), c.title
            assert c.reopen_count == sum(e.kind == "reopened" for e in events), c.title
            supporters = await session.scalar(
                select(func.count()).select_from(ConcernSupporter).where(ConcernSupporter.concern_id == c.id)
            )
            comments = await session.scalar(
                select(func.count()).select_from(ConcernComment).where(ConcernComment.concern_id == c.id)
            )
            assert (c.metoo_count, c.comment_count) == (supporters, comments), c.title
            verdicts = list(
                (await session.execute(select(ConcernVerdict).where(ConcernVerdict.concern_id == c.id))).scalars()
            )
            assert len(verdicts) == sum(e.kind == "verdict" for e in events), c.title
            assert all(v.raiser == (v.user_id == c.raised_by) for v in verdicts), c.title
            if c.status == "resolved":
                assert verdicts and c.resolved_at is not None and c.result, c.title
        answers = {v.answer for v in (await session.execute(select(ConcernVerdict))).scalars()}
        assert answers == {"solved", "partly", "not_solved"}
        hidden = [c for c in concerns if c.hide_name]
        assert len(hidden) >= 2 and all(c.raised_by is not None for c in hidden)  # stored, flagged
        assert await session.scalar(select(func.count()).select_from(ConcernComment).where(ConcernComment.hide_name))

        # last month's five-party meeting: five parties, attendance with walk-ins, minutes per item
        meetings = list((await session.execute(select(Meeting).order_by(Meeting.starts_at))).scalars())
        held, coming = meetings
        last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        assert (held.kind, held.status, held.starts_at.astimezone(SHANGHAI).strftime("%Y-%m")) == (
            "five_party", "minutes_published", last_month
        )  # fmt: skip
        people = list(
            (
                await session.execute(select(MeetingParticipant).where(MeetingParticipant.meeting_id == held.id))
            ).scalars()
        )
        assert {p.party for p in people} == {"community", "property", "social_worker", "self_org", "resident_rep"}
        present = [p for p in people if p.checked_in_at is not None]
        assert 0 < len(present) < len(people) and held.walkin_count > 0
        assert {p.checkin_method for p in present} == {"self", "staff"}
        items = list((await session.execute(select(AgendaItem).where(AgendaItem.meeting_id == held.id))).scalars())
        assert items and all(i.minutes for i in items)
        decisions = list((await session.execute(select(Decision).where(Decision.meeting_id == held.id))).scalars())
        assert sorted((d.method, d.votes_for, d.votes_against, d.votes_abstain) for d in decisions) == [
            ("consensus", None, None, None), ("vote", 14, 2, 1)
        ]  # fmt: skip
        follow_ups = list((await session.execute(select(FollowUp))).scalars())
        assert {f.status for f in follow_ups} == {"open", "in_progress", "done", "dropped"}
        late = [f for f in follow_ups if f.status in ("open", "in_progress") and f.due_on < today]
        assert len(late) == 1
        assert all(f.done_at is not None and f.done_at.astimezone(SHANGHAI).date() <= f.due_on for f in follow_ups
                   if f.status == "done")  # fmt: skip
        # the concern the meeting decided on: the decision on its timeline, and in progress
        (decided,) = [i.concern_id for i in items if i.concern_id is not None]
        on_it = [
            e for e in (await session.execute(select(ConcernEvent).where(ConcernEvent.concern_id == decided))).scalars()
        ]
        assert any(e.kind == "decision" and e.data["meeting_id"] == held.id for e in on_it)
        decided_concern = await session.get(Concern, decided)
        assert decided_concern is not None and decided_concern.status == "in_progress"

        # the coming one: the agenda published, with the level-3 concern that waited for it
        assert (coming.kind, coming.status) == ("five_party", "agenda_published") and coming.starts_at > now
        next_one = await common.next_five_party_meeting(session, coming.community_id)
        assert next_one is not None and next_one.id == coming.id
        agenda = list((await session.execute(select(AgendaItem).where(AgendaItem.meeting_id == coming.id))).scalars())
        (waiting,) = [await session.get(Concern, i.concern_id) for i in agenda if i.concern_id is not None]
        assert waiting is not None and (waiting.level, waiting.status) == (3, "accepted")
        assert list((await session.execute(common.waiting_for_agenda(coming.community_id))).scalars()) == []

    # the reports count them: everything raised in the last sixty days
    staff = await login(client, "staff")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    period = {"from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()}
    url = f"/api/v1/communities/{community_id}/reports"
    v = {i["key"]: i for i in (await client.get(url, params=period, headers=staff.headers)).json()["indicators"]}
    assert v["concerns_raised"]["value"] == len(concerns)
    # all answered in time but the lamp (never: late) and the rubbish points (late); the one raised
    # hours ago is not counted yet
    assert {p["key"]: p["value"] for p in v["response_rate"]["parts"]} == {"in_time": 11, "due": 13}
    assert {p["key"]: p["value"] for p in v["satisfaction_rate"]["parts"]} == {"satisfied": 4, "n": 6}
    assert {p["key"]: p["value"] for p in v["resolution_rate"]["parts"]} == {"resolved": 3, "raised": 13}
    assert (v["meetings_held"]["value"], v["decisions_made"]["value"]) == (1, 2)
    drill = await client.get(f"{url}/rows", params={**period, "indicator": "concerns_raised"}, headers=staff.headers)
    assert sum("（对居民隐藏姓名）" in r["raiser"] for r in drill.json()["rows"]) == len(hidden)


@pytest.mark.parametrize(
    "now",
    [
        None,  # the real clock
        datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI),  # a Monday, the first of the month
        datetime(2027, 1, 3, 1, 30, tzinfo=SHANGHAI),  # a Sunday night
    ],
    ids=["today", "first-of-month", "sunday-night"],
)
async def test_demo_votes_an_election_an_open_poll_a_consultation_and_a_survey(client, db, now):
    from api.demo.votes import register
    from api.services.votes.common import area_text

    if now is not None:
        clock.freeze(now)
    await load_demo(db)
    today = clock.now().astimezone(SHANGHAI).date()
    staff, chen = await login(client, "staff"), await login(client, "chen")
    community_id = (await client.get("/api/v1/me", headers=staff.headers)).json()["memberships"][0]["community_id"]
    listed = (await client.get(f"/api/v1/communities/{community_id}/polls", headers=chen.headers)).json()["items"]
    polls = {p["title"]: p for p in listed}
    assert {t: (p["standing"], p["phase"]) for t, p in polls.items()} == {
        "第二届院落自治委员会选举": ("选举", "closed"),
        "党群服务站楼顶花园怎么用": ("意向征询", "voting"),
        "中心停车场增设新能源汽车充电桩": ("意向征询", "closed"),
    }

    # the election: closed, its result for everyone — a tie for the last seat, drawn by lot
    election = polls["第二届院落自治委员会选举"]["id"]
    answer = await client.get(f"/api/v1/polls/{election}/results", headers=chen.headers)
    assert answer.status_code == 200, answer.text
    counted = answer.json()
    assert counted["standing"] == "选举" and counted["secret"] is True
    elected = counted["election"]["elected"]
    assert [(e["name"], e["by"]) for e in elected] == [
        ("刘芳", "votes"), ("张国华", "votes"), ("黄磊", "votes"), ("徐静", "votes"), ("孙秀兰", "lot")
    ]  # fmt: skip
    tie = counted["election"]["tie"]
    assert sorted(tie["names"]) == ["孙秀兰", "马俊"] and tie["seats_left"] == 1 and tie["resolved"]
    assert counted["election"]["label"] == "当选：刘芳、张国华、黄磊、徐静、孙秀兰（抽签）"
    votes = {r["name"]: r["votes"] for r in counted["election"]["ranking"]}
    assert votes == {"刘芳": 11, "张国华": 10, "黄磊": 9, "徐静": 8, "马俊": 7, "孙秀兰": 7, "周涛": 4}
    turnout = counted["turnout"]
    assert (turnout["participants"], turnout["electors"], turnout["percent"]) == (12, 12, 100.0)
    assert {c["channel"]: c["count"] for c in turnout["by_channel"]} == {"app": 9, "paper": 3, "proxy": 0}
    mine = (await client.get(f"/api/v1/polls/{election}/ballot", headers=chen.headers)).json()
    assert (mine["voted"], mine["channel"], mine["answers"]) == (True, "app", None)  # secret: no choices shown
    qian = await login(client, "qian")  # joined after the roll was taken: not on it
    assert (await client.get(f"/api/v1/polls/{election}/ballot", headers=qian.headers)).json()["eligible"] is False

    # the rooftop garden: open; results hidden from everyone, staff too; live turnout for staff only
    rooftop = polls["党群服务站楼顶花园怎么用"]["id"]
    for who in (staff, chen):
        hidden = await client.get(f"/api/v1/polls/{rooftop}/results", headers=who.headers)
        assert (hidden.status_code, hidden.json()["error"]["code"]) == (409, "poll_results_hidden")
    live = (await client.get(f"/api/v1/polls/{rooftop}", headers=staff.headers)).json()["turnout"]
    assert (live["participants"], live["electors"]) == (7, 12)
    assert {c["channel"]: c["count"] for c in live["by_channel"]} == {"app": 5, "paper": 2, "proxy": 0}
    assert (await client.get(f"/api/v1/polls/{rooftop}", headers=chen.headers)).json()["turnout"] is None
    refused = await client.get(f"/api/v1/polls/{rooftop}/turnout", headers=chen.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "poll_turnout_hidden")
    own = (await client.get(f"/api/v1/polls/{rooftop}/ballot", headers=chen.headers)).json()
    assert own["voted"] and own["can_change"] and own["answers"][0]["options"] == [1]
    assert (await client.get(f"/api/v1/polls/{rooftop}/ballot", headers=qian.headers)).json()["eligible"] is False
    wang = await login(client, "wang")  # has not voted yet: still can
    ballot = [{"question": 0, "options": [2]}, {"question": 1, "options": [0]}, {"question": 2, "options": [2]}]
    cast = await client.post(
        f"/api/v1/polls/{rooftop}/ballot",
        json={"answers": ballot},
        headers={**wang.headers, "Idempotency-Key": "wang-rooftop"},
    )
    assert cast.status_code == 201, cast.text
    assert (await client.get(f"/api/v1/polls/{rooftop}/turnout", headers=staff.headers)).json()["participants"] == 8

    # the owners' consultation: art. 278 with the special majority, not convened by the owners'
    # assembly — 意向征询; its roll is every flat with an area, rented and public ones included;
    # two thirds of the area and of the flats took part, three quarters of the participating area
    # agreed but not three quarters of the participating flats: not met
    chargers = polls["中心停车场增设新能源汽车充电桩"]["id"]
    answer = await client.get(f"/api/v1/polls/{chargers}/results", headers=chen.headers)
    assert answer.status_code == 200, answer.text
    counted = answer.json()
    assert (counted["standing"], counted["consultation"], counted["rule"]) == ("意向征询", True, "art278")
    flats = register()
    total = sum(round(float(area) * 100) for *_, area, _owner in flats)
    assert (len(flats), total, sum(1 for *_, owner in flats if owner)) == (376, 3146192, 365)
    turnout = counted["turnout"]
    assert (turnout["electors"], turnout["weight_total"]) == (376, area_text(total)) == (376, "31461.92")
    assert turnout["participants"] == 279 and {c["channel"]: c["count"] for c in turnout["by_channel"]} == {
        "app": 7, "paper": 252, "proxy": 20
    }  # fmt: skip
    assert (turnout["weight_participated"], turnout["percent"], turnout["area_percent"]) == ("23743.05", 74.2, 75.47)
    took_part = {t["key"]: t for t in counted["thresholds"]}
    assert {k: (t["numerator"], t["denominator"], t["percent"], t["met"]) for k, t in took_part.items()} == {
        "participation_area": (2374305, 3146192, 75.47, True),
        "participation_flats": (279, 376, 74.2, True),
    }
    assert 279 * 3 >= 376 * 2 and 2374305 * 3 >= 3146192 * 2  # by hand: two thirds or more
    (question,) = counted["questions"]
    outcome = question["outcome"]
    agreed = {t["key"]: t for t in outcome["thresholds"]}
    assert {k: (t["numerator"], t["denominator"], t["percent"], t["met"]) for k, t in agreed.items()} == {
        "approval_area": (1796874, 2374305, 75.68, True),
        "approval_flats": (197, 279, 70.61, False),
    }
    assert 1796874 * 4 >= 2374305 * 3 and 197 * 4 < 279 * 3  # by hand: three quarters of the area, not of the flats
    assert (
        agreed["approval_area"]["numerator_text"] == "17968.74㎡"
        and agreed["approval_flats"]["required"] == "四分之三以上"
    )
    # the rented flats' owners and the public flats' (the housing office) voted by proxy or on
    # paper; the tenants themselves may not vote for the flat in the app
    proxies = (
        await client.get(f"/api/v1/polls/{chargers}/participations?channel=proxy&limit=100", headers=staff.headers)
    ).json()["items"]
    by_proxy = [p["proxy_name"] for p in proxies]
    assert len(by_proxy) == 20 and by_proxy.count("区房管所经办人（产权单位委托）") == 8
    assert [p["label"] for p in proxies if p["proxy_name"].startswith("王女士")] == ["2栋2单元702"]
    tenant = (await client.get(f"/api/v1/polls/{chargers}/ballot", headers=wang.headers)).json()
    assert (tenant["eligible"], tenant["voted"]) == (False, False) and "不是业主" in tenant["why_not"]
    assert outcome["label"] == "未达到门槛（仅供参考）：同意的人数未达到四分之三"
    assert "通过" not in str(counted) and counted["note"] == "本次为意向征询，结果仅供参考。"
    assert question["texts"]  # the opinions written on the ballots

    # the needs survey: 40 anonymous responses, in the app and on paper; the breakdown hides the
    # buildings with fewer than five
    (survey,) = (await client.get(f"/api/v1/communities/{community_id}/surveys", headers=staff.headers)).json()["items"]
    assert (survey["title"], survey["status"], survey["response_count"]) == (
        "社区儿童托管和课后服务需求调研",
        "closed",
        40,
    )
    found = (await client.get(f"/api/v1/surveys/{survey['id']}/results", headers=staff.headers)).json()
    assert (found["respondents"], found["by_channel"], found["anonymous"]) == (40, {"app": 8, "paper": 32}, True)
    groups = {g["building"]: g for g in found["by_building"]["groups"]}
    assert {b: g["respondents"] for b, g in groups.items() if not g["hidden"]} == {
        "1栋": 8,
        "2栋": 6,
        "3栋": 11,
        "4栋": 9,
    }
    assert {b: (g["respondents"], g["note"]) for b, g in groups.items() if g["hidden"]} == {
        "5栋": (None, "少于5人"), "6栋": (None, "少于5人")
    }  # fmt: skip
    scale = [q for q in found["questions"] if q["kind"] == "scale"]
    assert len(scale) == 2 and all(q["answered"] == 40 and q["scale"]["mean"] for q in scale)
    (texts,) = [q for q in found["questions"] if q["kind"] == "text"]
    assert len(texts["texts"]) == 23 and texts["skipped"] == 17
    assert found["first_day"] < found["last_day"] <= today.isoformat()  # they came over twelve days
    assert (await client.get(f"/api/v1/surveys/{survey['id']}/results", headers=chen.headers)).status_code == 403
    mine = (await client.get(f"/api/v1/surveys/{survey['id']}", headers=chen.headers)).json()
    assert (mine["answered"], mine["can_answer"]) == (True, False)
    # the invitations: read by who answered in the app; the newcomer, who came later, had none
    kinds = {"survey.opened", "poll.opened"}
    chen_inbox = (await client.get("/api/v1/me/inbox", headers=chen.headers)).json()["items"]
    assert sorted((n["kind"], n["read_at"] is not None) for n in chen_inbox if n["kind"] in kinds) == [
        ("poll.opened", True), ("survey.opened", True)
    ]  # fmt: skip
    qian_inbox = (await client.get("/api/v1/me/inbox", headers=qian.headers)).json()["items"]
    assert [n for n in qian_inbox if n["kind"] in kinds] == []
    assert (await client.get(f"/api/v1/surveys/{survey['id']}", headers=qian.headers)).json()["can_answer"] is False

    # the reports count them over the last sixty days
    period = {"from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()}
    url = f"/api/v1/communities/{community_id}/reports"
    v = {i["key"]: i for i in (await client.get(url, params=period, headers=staff.headers)).json()["indicators"]}
    parts = {
        key: {p["key"]: p["value"] for p in v[key]["parts"]}
        for key in ("polls_held", "poll_turnout", "survey_responses")
    }
    assert v["polls_held"]["value"] == 2  # the rooftop poll counts once it has closed
    assert parts["polls_held"] == {"elections": 1, "consultations": 1, "decisions": 0}
    assert parts["poll_turnout"] == {"participants": 12 + 279, "electors": 12 + 376}
    assert v["poll_turnout"]["value"] == round(100 * 291 / 388, 1) == 75.0
    assert (v["survey_responses"]["value"], parts["survey_responses"]) == (40, {"app": 8, "paper": 32, "surveys": 1})

    # the rooftop poll's close: its results appear, with the changed ballot and the late vote counted
    clock.advance(timedelta(days=4))
    staff = await login(client, "staff")
    shown = await client.get(f"/api/v1/polls/{rooftop}/results", headers=staff.headers)
    assert shown.status_code == 200, shown.text
    use = {o["label"].split("：")[0]: o["votes"] for o in shown.json()["questions"][0]["options"]}
    assert use == {"共享菜园": 2, "儿童自然角": 3, "休闲花园": 3, "只做绿化，平时不开放": 0}
    assert shown.json()["turnout"]["participants"] == 8
