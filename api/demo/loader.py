"""Demo data (`linli demo`): B社区 in Chengdu with its composite space, an admin, two social
workers and a dozen households, several with children; three volunteer teams; a pinned welcome
announcement and two targeted ones, whose inbox entries and (fake) WeChat pushes the worker
sends once the service runs; a week of activities (the Saturday reading club series, a
parent–child craft already full with a waitlist, an elders' health talk, a courtyard meeting)
with bookings; the reading corner's ~190 children's books, a few on loan (one overdue) and a hold
queue; the volunteers' month of opening duty (Tue–Sun 14:00–18:00) from a weekly rule, a helper's
shift at the reading club, and three weeks already served with approved service records (the
last day's waiting for review); four activities already held, with albums of generated photos,
likes, comments, a post waiting for review, shares, their opens, a booking from a share and a
newcomer who joined from one (`api/demo/feed.py`); and for the reports, the street office's service
project with its targets and three months of history since the contract began — activities tagged
with the project and a service type, check-ins, loans, duty served, notices read
(`api/demo/history.py`); the concerns and five-party meetings (`api/demo/governance.py`); and the
votes (`api/demo/votes.py`): the compound's flats with their areas and owners, a finished courtyard
committee election, an open household poll on the rooftop garden, a finished owners' consultation
with area figures and a needs survey with 40 responses. Log in with `dev:<name>` in fake mode."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    Book,
    BookCopy,
    Community,
    Loan,
    Member,
    ServiceProject,
    ServiceRecord,
    Shift,
    ShiftRule,
    ShiftSignup,
    Space,
    Team,
    TeamMember,
    User,
)
from api.db.session import Database, settings_of
from api.demo import governance as demo_governance
from api.demo import history as demo_history
from api.demo import votes as demo_votes
from api.demo.books import catalogue as demo_books
from api.demo.feed import record_and_share
from api.schemas.communities import WEEKDAYS
from api.services import communities, households
from api.services.activities import bookings, manage
from api.services.library import circulation, holds, reminders
from api.services.notifications import announcements, cancel_scheduled, catalogue, subscriptions
from api.services.volunteers import common as volunteers_common
from api.services.volunteers import records as volunteer_records
from api.services.volunteers import shifts as volunteer_shifts
from api.services.volunteers import signups
from api.services.volunteers import teams as volunteer_teams

# (login name, display name, building, unit, room, [(child or elder name, kind, age)]): ages, not years,
# so that the demo's children fit its activities' age ranges whenever it is loaded
HOUSEHOLDS: list[tuple[str, str, str, str, str, list[tuple[str, str, int]]]] = [
    ("chen", "陈妈妈", "1栋", "1单元", "301", [("小雨", "child", 8), ("小树", "child", 5)]),
    ("zhou", "周爸爸", "1栋", "2单元", "502", [("乐乐", "child", 10)]),
    ("liu", "刘阿姨", "2栋", "1单元", "101", [("刘奶奶", "elder", 80), ("豆豆", "child", 7)]),
    ("wang", "王女士", "2栋", "2单元", "702", [("安安", "child", 12)]),
    ("zhang", "张大爷", "3栋", "1单元", "201", []),
    ("li", "李妈妈", "3栋", "1单元", "602", [("朵朵", "child", 6)]),
    ("zhao", "赵老师", "3栋", "2单元", "403", [("一一", "child", 14)]),
    ("huang", "黄先生", "4栋", "1单元", "1101", [("糖糖", "child", 9), ("果果", "child", 4)]),
    ("wu", "吴奶奶", "4栋", "2单元", "104", [("吴爷爷", "elder", 84)]),
    ("xu", "徐妈妈", "5栋", "1单元", "808", [("可可", "child", 11)]),
    ("sun", "孙阿姨", "5栋", "2单元", "305", []),
    ("ma", "马爸爸", "6栋", "1单元", "1203", [("小北", "child", 13), ("小南", "child", 7)]),
]


# volunteer teams (自组织) and their members, by login name
TEAMS: list[tuple[str, str, list[str]]] = [
    ("公益志愿队", "社区公共服务：复合空间值班、活动签到、环境整治", ["liu", "zhang", "sun", "wu", "zhao"]),
    ("空间营造队", "复合空间的布置与维护：书架、活动室、议事角", ["ma", "huang", "zhou"]),
    ("爱心联盟", "助老助困：探访独居老人、节日慰问、爱心义卖", ["sun", "wu", "li"]),
]
# volunteers who filled in a profile: (login, skills, availability, real name, ID number, ranked)
PROFILES: list[tuple[str, list[str], dict[str, list[list[str]]], str | None, str | None, bool]] = [
    ("liu", ["绘本共读", "活动签到"], {"tue": [["14:00", "18:00"]], "sat": [["09:00", "12:00"]]}, "刘芳",
     "510105196503150022", True),
    ("zhang", ["维修", "值班"], {"wed": [["14:00", "18:00"]], "fri": [["14:00", "18:00"]]}, None, None, True),
    ("sun", ["探访", "手工"], {"thu": [["14:00", "18:00"]], "sun": [["14:00", "18:00"]]}, None, None, True),
    ("zhao", ["绘本共读", "书法"], {"sat": [["14:00", "18:00"]]}, None, None, False),  # keeps out of rankings
]  # fmt: skip
# the last three weeks of opening duty, already served: who was on it each weekday
SERVED: dict[str, list[str]] = {
    "tue": ["liu", "wu"],
    "wed": ["zhang", "zhao"],
    "thu": ["sun", "liu"],
    "fri": ["zhang", "wu"],
    "sat": ["zhao", "liu"],
    "sun": ["sun", "zhang"],
}
# residents who tapped "allow" for announcement messages (each tap is one message)
SUBSCRIBED = ["chen", "zhou", "liu", "wang", "li", "zhao", "xu", "ma"]

WELCOME = (
    "欢迎来到B社区复合空间！这里是孩子们的阅读角、亲子活动室，也是大家议事的地方。"
    "开放时间：周二至周日 9:00–21:00，周一闭馆。"
    "在小程序里可以预约活动、借阅绘本、报名志愿服务，也可以说说你的烦心事。"
    "有任何问题，欢迎找王社工、李社工。"
)


async def _user(session: AsyncSession, name: str, display_name: str, *, platform_admin: bool = False) -> User:
    now = clock.now()
    user = User(
        openid=f"dev-{name}",
        display_name=display_name,
        is_platform_admin=platform_admin,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def load_demo(db: Database, *, if_empty: bool = True) -> bool:
    """Load the demo community; with `if_empty`, only into a database without communities."""
    async with db.session() as session:
        if if_empty and (await session.execute(select(Community.id).limit(1))).first() is not None:
            return False
        admin = await _user(session, "admin", "D机构负责人", platform_admin=True)
        community = await communities.create_community(
            session,
            admin,
            {
                "name": "B社区",
                "city": "成都市",
                "district": "",
                "address": "B社区党群服务站",
                "timezone": "Asia/Shanghai",
            },
        )
        await communities.create_space(
            session,
            admin,
            community.id,
            {"name": "B社区复合空间", "address": "党群服务站一楼：儿童阅读区、亲子活动区、议事角"},
        )
        await communities.set_role(session, admin, community.id, admin.id, "admin")
        for name, display_name in (("staff", "王社工"), ("staff2", "李社工")):
            staff = await _user(session, name, display_name)
            await communities.set_role(session, admin, community.id, staff.id, "staff")

        for name, display_name, building, unit, room, dependants in HOUSEHOLDS:
            resident = await _user(session, name, display_name)
            joined = await households.join(
                session,
                resident,
                community.id,
                {"display_name": display_name, "building": building, "unit": unit, "room": room},
            )
            household_id = joined["household"]["id"]
            for member_name, kind, age in dependants:
                await households.add_member(
                    session,
                    resident,
                    household_id,
                    {
                        "display_name": member_name,
                        "kind": kind,
                        "birth_year": clock.now().year - age,
                        "guardian_consent": True,
                    },
                )
        # a spouse asking to join the Chen household, waiting for the head's approval
        spouse = await _user(session, "chen2", "陈爸爸")
        await households.join(
            session, spouse, community.id, {"display_name": "陈爸爸", "building": "1栋", "unit": "1单元", "room": "301"}
        )
        await demo_history.set_genders(session, community)
        project = await demo_history.create_project(session, community, admin)
        await demo_history.history(session, community, project)
        await _teams_and_announcements(session, community)
        await _activities(session, community, project)
        await _library(session, community, project)
        await _volunteers(session, community)
        await demo_history.service(session, community, project, SERVED)
        await demo_votes.rooftop_poll(session, community)  # opened before the newcomer joined
        await record_and_share(session, community, project.id)
        await demo_governance.governance(session, community)
        await demo_votes.votes(session, community, project)
        await session.commit()
    return True


# who has what from the reading corner: (login, member, title); the last one is long overdue
LENT = [
    ("chen", "小雨", "猜猜我有多爱你"),
    ("chen", "小雨", "不一样的卡梅拉：我想去看海"),
    ("zhou", "乐乐", "神奇校车：地球内部探秘"),
    ("ma", "小北", "窗边的小豆豆"),
]
# waiting for the school-bus book: (login, member)
HOLDING = [("li", "朵朵"), ("xu", "可可")]
HELD_TITLE = "神奇校车：地球内部探秘"


async def _library(session: AsyncSession, community: Community, project: ServiceProject) -> None:
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    staff = users["staff"]
    ids: dict[str, int] = {}
    barcodes: dict[str, str] = {}
    number = 0
    for n, entry in enumerate(demo_books(), start=1):
        book = Book(
            community_id=community.id,
            title=entry.title,
            isbn=entry.isbn,
            author=entry.author,
            publisher=entry.publisher,
            age_min=entry.age_min,
            age_max=entry.age_max,
            tags=entry.tags,
        )
        session.add(book)
        await session.flush()
        ids[book.title] = book.id
        for _ in range(2 if n % 7 == 1 else 1):  # the favourites have two copies
            number += 1
            barcode = f"BQ{number:05d}"
            session.add(BookCopy(book_id=book.id, community_id=community.id, barcode=barcode, state="available"))
            barcodes.setdefault(book.title, barcode)
    await session.flush()
    # three months of loans, all returned, before today's
    await demo_history.loans(session, community, project, {title for _, _, title in LENT} | {HELD_TITLE})

    async def member(login: str, name: str) -> int:
        head = (
            await session.execute(
                select(Member).where(Member.community_id == community.id, Member.user_id == users[login].id)
            )
        ).scalar_one()
        return (
            await session.execute(
                select(Member.id).where(Member.household_id == head.household_id, Member.display_name == name)
            )
        ).scalar_one()

    loans = [
        await circulation.borrow(session, staff, community.id, barcodes[title], await member(login, name))
        for login, name, title in LENT
    ]
    # 小北's book was borrowed seventeen days ago: three days overdue
    late = await session.get(Loan, loans[-1]["id"])
    assert late is not None
    await cancel_scheduled(session, reminders.due_key(late))  # no "due soon" for a book long overdue
    late.borrowed_at -= timedelta(days=17)
    late.due_at -= timedelta(days=17)
    for login, name in HOLDING:
        await holds.place_hold(session, users[login], ids[HELD_TITLE], await member(login, name))


# a week at the composite space: (days from today, local start, minutes, title, category, capacity,
# child ages, series?, location, description)
WEEK: list[tuple[int, str, int, str, str, int, tuple[int, int] | None, bool, str, str]] = [
    (1, "19:00", 90, "长者健康讲座：冬季慢病管理", "elders", 40, None, False, "党群服务站二楼会议室",
     "社区卫生服务中心的医生讲冬季高血压、糖尿病的日常管理，现场免费量血压。"),
    (2, "18:30", 90, "亲子手工：做一盏元宵灯笼", "parent_child", 6, (4, 10), False, "复合空间亲子活动区",
     "家长和孩子一起动手，材料由社区准备。每户最多3人。"),
    (3, "19:30", 120, "院落议事会：3栋楼下停车与绿地", "deliberation", 30, None, False, "复合空间议事角",
     "围绕3栋楼下的停车和绿地改造听取大家的意见，物业、居民代表、社工一起商量。"),
    (5, "10:00", 90, "周六读书会：《小王子》", "children", 20, (6, 12), True, "复合空间儿童阅读角",
     "志愿者带领孩子们共读，读完一起画一画自己的星球。"),
    (12, "10:00", 90, "周六读书会：《夏洛的网》", "children", 20, (6, 12), True, "复合空间儿童阅读角",
     "每周六上午的读书会，第二期。"),
]  # fmt: skip
# who booked what: (login name, activity title, attendee names — the booker is "me")
BOOKED = [
    ("chen", "亲子手工：做一盏元宵灯笼", ["me", "小雨", "小树"]),
    ("huang", "亲子手工：做一盏元宵灯笼", ["me", "糖糖", "果果"]),
    ("li", "亲子手工：做一盏元宵灯笼", ["me", "朵朵"]),  # full by now: waitlisted
    ("ma", "亲子手工：做一盏元宵灯笼", ["me", "小南"]),
    ("chen", "周六读书会：《小王子》", ["小雨"]),
    ("zhou", "周六读书会：《小王子》", ["乐乐"]) ,
    ("xu", "周六读书会：《小王子》", ["可可"]),
    ("wu", "长者健康讲座：冬季慢病管理", ["me", "吴爷爷"]),
    ("liu", "长者健康讲座：冬季慢病管理", ["刘奶奶"]),
    ("zhang", "长者健康讲座：冬季慢病管理", ["me"]),
    ("zhang", "院落议事会：3栋楼下停车与绿地", ["me"]),
    ("li", "院落议事会：3栋楼下停车与绿地", ["me"]),
]  # fmt: skip


# the project's service type of each (the health talk is the health centre's: not the project's)
WEEK_TYPES = {
    "亲子手工：做一盏元宵灯笼": "community",
    "院落议事会：3栋楼下停车与绿地": "deliberation",
    "周六读书会": "group",
}


async def _activities(session: AsyncSession, community: Community, project: ServiceProject) -> None:
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    staff = users["staff"]
    tz = ZoneInfo(community.timezone)
    today = clock.now().astimezone(tz).date()
    space = (await session.execute(select(Space).where(Space.community_id == community.id))).scalars().first()
    series = await manage.create_series(
        session,
        staff,
        community.id,
        {"title": "周六读书会", "description": "每周六上午，复合空间儿童阅读角，6–12岁。", "category": "children"},
    )
    for name in ("chen", "zhou", "xu", "zhao"):
        await manage.follow(session, users[name], series.id, True)
    ids = {}
    for days, hhmm, minutes, title, category, capacity, ages, in_series, location, description in WEEK:
        start = datetime.combine(today + timedelta(days=days), time.fromisoformat(hhmm), tz)
        activity = await manage.create_activity(
            session,
            staff,
            community.id,
            {
                "title": title,
                "description": description,
                "category": category,
                "space_id": space.id if space is not None and "复合空间" in location else None,
                "location": location.removeprefix("复合空间"),
                "start_at": start,
                "end_at": start + timedelta(minutes=minutes),
                "capacity": capacity,
                "child_min_age": ages[0] if ages else None,
                "child_max_age": ages[1] if ages else None,
                "series_id": series.id if in_series else None,
            },
        )
        await manage.publish(session, staff, activity.id)
        service_type = WEEK_TYPES.get(title.partition("：")[0] if in_series else title)
        if service_type is not None:
            activity.project_id, activity.service_type = project.id, service_type
        ids[title] = activity.id
    for name, title, attendees in BOOKED:
        user = users[name]
        mine = (
            await session.execute(select(Member).where(Member.community_id == community.id, Member.user_id == user.id))
        ).scalar_one()
        family = {
            m.display_name: m.id
            for m in (await session.execute(select(Member).where(Member.household_id == mine.household_id))).scalars()
        }
        member_ids = [mine.id if a == "me" else family[a] for a in attendees]
        await bookings.book(session, user, ids[title], member_ids)


async def _teams_and_announcements(session: AsyncSession, community: Community) -> None:
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    now = clock.now()
    team_ids = {}
    for name, description, members in TEAMS:
        team = Team(community_id=community.id, name=name, description=description, created_at=now, updated_at=now)
        session.add(team)
        await session.flush()
        team_ids[name] = team.id
        for i, member in enumerate(members):
            session.add(
                TeamMember(
                    team_id=team.id,
                    user_id=users[member].id,
                    role="leader" if i == 0 else "member",
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
    template = catalogue.template_for(settings_of(session), "announcement")
    if template is not None:
        for name in SUBSCRIBED:
            await subscriptions.report(session, users[name], {template.template_id: "accept"})
    staff = users["staff"]
    await announcements.create(
        session,
        staff,
        community.id,
        {"title": "欢迎来到B社区复合空间", "body": WELCOME, "pinned": True, "audience": {"kind": "community"}},
    )
    await announcements.create(
        session,
        staff,
        community.id,
        {
            "title": "周六亲子绘本共读开始报名",
            "body": "本周六上午10点，复合空间阅读角，适合3–12岁的孩子和家长一起参加，名额30个。",
            "audience": {"kind": "children", "min_age": 3, "max_age": 12},
        },
    )
    await announcements.create(
        session,
        staff,
        community.id,
        {
            "title": "本周复合空间值班安排",
            "body": "周二至周日14:00–18:00需要两位队员值班，请在小程序“志愿服务”中认领。",
            "audience": {"kind": "team", "team_id": team_ids["公益志愿队"]},
        },
    )


async def _volunteers(session: AsyncSession, community: Community) -> None:
    """Profiles, a month of opening duty from the weekly rule with some sign-ups, a helper's shift
    at the reading club, and three weeks of duty already served: approved records, and the last
    one waiting for review (its check-out forgotten)."""
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    staff = users["staff"]
    tz = ZoneInfo(community.timezone)
    today = clock.now().astimezone(tz).date()
    teams = {t.name: t.id for t in (await session.execute(select(Team))).scalars()}
    organiser = {"organiser": "D社会工作服务中心（B社区复合空间）"}
    await volunteers_common.set_policy(session, staff, community.id, organiser)
    for login, skills, availability, real_name, id_number, ranked in PROFILES:
        data: dict[str, object] = {"skills": skills, "availability": availability, "ranked": ranked}
        if real_name:
            data |= {"real_name": real_name, "id_number": id_number}
        await volunteer_teams.save_profile(session, users[login], community.id, data)
    # wang asks to join the public volunteer team; its leader liu sees the request
    await volunteer_teams.join(session, users["wang"], teams["公益志愿队"])

    duty = {"role": "复合空间开馆值班", "place": "复合空间服务台", "weekdays": list(SERVED), "needed": 2,
            "starts": time(14, 0), "ends": time(18, 0), "team_id": teams["公益志愿队"]}  # fmt: skip
    made = await volunteer_shifts.create_rule(
        session, staff, community.id, {**duty, "active_from": today - timedelta(days=21)}
    )
    upcoming = (
        (await session.execute(select(Shift).where(Shift.rule_id == made["id"]).order_by(Shift.start_at)))
        .scalars()
        .all()
    )
    for shift in upcoming[:6]:  # this week's duty is half taken
        on_duty = SERVED[WEEKDAYS[shift.start_at.astimezone(tz).weekday()]][0]
        await signups.sign_up(session, users[on_duty], shift.id, None)
    club = (
        await session.execute(
            select(Activity).where(Activity.community_id == community.id, Activity.title == "周六读书会：《小王子》")
        )
    ).scalar_one()
    helper = await volunteer_shifts.create_shift(
        session,
        staff,
        community.id,
        {"role": "读书会签到引导", "place": "复合空间儿童阅读角", "start_at": club.start_at - timedelta(minutes=30),
         "end_at": club.end_at, "needed": 2, "team_id": teams["公益志愿队"], "activity_id": club.id},
    )  # fmt: skip
    await signups.sign_up(session, users["liu"], helper.id, None)  # liu may scan the club's codes

    # three weeks of duty already served (made as the rule would have, minus the sign-up flow)
    rule = await session.get(ShiftRule, made["id"])
    assert rule is not None
    days = [today - timedelta(days=back) for back in range(21, 0, -1)]
    days = [day for day in days if WEEKDAYS[day.weekday()] in SERVED]
    served: list[ServiceRecord] = []
    for day in days:
        start = datetime.combine(day, time(14, 0), tz)
        shift = Shift(
            community_id=community.id, team_id=rule.team_id, rule_id=rule.id, role=rule.role, place=rule.place,
            start_at=start, end_at=start + timedelta(hours=4), needed=2, taken=2,
            withdraw_deadline=start - timedelta(hours=12), closed_at=start + timedelta(hours=6), created_by=staff.id,
        )  # fmt: skip
        session.add(shift)
        await session.flush()
        for n, login in enumerate(SERVED[WEEKDAYS[day.weekday()]]):
            forgot = day == days[-1] and n == 1  # the worker checked them out at the end
            signup = ShiftSignup(
                shift_id=shift.id,
                user_id=users[login].id,
                status="completed",
                checked_in_at=start - timedelta(minutes=10),
                checked_out_at=shift.end_at if forgot else start + timedelta(hours=3, minutes=50 - 20 * n),
                auto_closed=forgot,
            )
            session.add(signup)
            await session.flush()
            record = await volunteer_records.from_signup(session, signup, shift, recorded_by=None, flagged=forgot)
            if day != days[-1]:
                served.append(record)
    for record in served:  # reviewed by the social worker the next day
        record.status = "approved"
        record.reviewed_by = staff.id
        record.reviewed_at = datetime.combine(record.service_date + timedelta(days=1), time(10, 0), tz)
    await session.flush()
    story = await volunteer_teams.write_story(
        session,
        staff,
        community.id,
        {"user_id": users["liu"].id, "title": "刘阿姨的周二下午",
         "body": "退休后的刘阿姨每周二下午都在复合空间值班，给孩子们读绘本，也教他们把书放回原处。"},
    )  # fmt: skip
    await volunteer_teams.answer_story(session, users["liu"], story["id"], True)
