"""The demo's service project and its three months of history, so that every indicator of the
reports (issue 14) and every chart has real numbers to show.

The project: B社区儿童友好空间运营项目, bought by the street office (某某街道办事处) for twelve months
from the first of the month about three months ago (the demo runs against the real clock), with
monthly and whole-contract targets for every indicator that can have one, at the level a
community of this size reaches.

The history, written directly as the services would have written it at the time (the past cannot
be booked, lent or served through the API), from the contract's start until two weeks ago (the
feed's held activities and the volunteers' last three weeks take over from there):
- activities every week: the Tuesday after-school class (四点半课堂), a Thursday afternoon for the
  elders, a Saturday parent–child afternoon, a courtyard meeting every other Friday, a volunteers'
  training and a casework home visit every month — tagged with the project and a service type —
  and, untagged, the party branch's monthly theme day and a health check by the community health
  centre; one Saturday cancelled for rain. Check-ins include children and elders without WeChat,
  neighbours who walked in (registered by name), a few no-shows and a cancelled booking;
- the reading corner's loans, every open day, all returned;
- the space closed one day for repairs;
- the volunteers' opening duty since the contract began (two a day, Tue–Sun), the space team's
  monthly shelf day, the after-school helpers and the caring alliance's visits, all tagged with
  the project and approved — one of them corrected;
- an announcement a week, with its inbox entries and who has read it;
- the adults' gender where the household gave it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    ActivitySummary,
    Announcement,
    AnnouncementBuilding,
    AnnouncementReadMark,
    Book,
    BookCopy,
    Booking,
    BookingAttendee,
    Community,
    Household,
    Loan,
    Member,
    Notification,
    ProjectCommunity,
    ProjectTarget,
    Series,
    ServiceProject,
    ServiceRecord,
    Shift,
    ShiftRule,
    ShiftSignup,
    Space,
    SpaceClosure,
    Team,
    User,
)
from api.schemas.communities import WEEKDAYS
from api.services.notifications import catalogue
from api.services.notifications.announcements import cause_key, excerpt
from api.services.notifications.core import MAX_TITLE
from api.services.volunteers.common import credited_minutes, crediting, working_days_after

PROJECT_NAME = "B社区儿童友好空间运营项目"
FUNDER = "某某街道办事处"
PROJECT_DESCRIPTION = (
    "政府购买社会工作服务项目：依托B社区党群服务站改造的复合空间（儿童阅读区、亲子活动区、议事角），"
    "每周开放六天，开展四点半课堂、亲子活动、长者服务、志愿者培育和院落议事，建设儿童友好社区。"
)
# what the contract asks of the community each month (the whole contract: twelve times as much)
MONTHLY_TARGETS: dict[str, float] = {
    "activities_held": 16,
    "service_visits": 110,
    "beneficiaries": 35,
    "new_participants": 12,
    "open_days": 24,
    "open_hours": 290,
    "loans": 65,
    "volunteers": 8,
    "volunteer_visits": 55,
    "volunteer_hours": 200,
    "announcements": 4,
    "households_reached": 11,
}
CONTRACT_MONTHS = 12
HISTORY_DAYS = 90  # the contract began on the first of the month this many days ago
QUIET_DAYS = 14  # the last two weeks belong to the feed's activities (api/demo/feed.py)

# the gender households gave (optional: the others left it blank)
GENDERS: dict[str, str] = {
    "陈妈妈": "female", "周爸爸": "male", "刘阿姨": "female", "王女士": "female", "张大爷": "male",
    "李妈妈": "female", "黄先生": "male", "吴奶奶": "female", "徐妈妈": "female", "孙阿姨": "female",
    "马爸爸": "male", "刘奶奶": "female", "吴爷爷": "male", "小雨": "female", "乐乐": "male", "朵朵": "female",
}  # fmt: skip


def contract(today: date) -> tuple[date, date]:
    """The contract period: twelve months from the first of the month ~three months ago."""
    first = (today - timedelta(days=HISTORY_DAYS)).replace(day=1)
    year, month = divmod(first.month - 1 + CONTRACT_MONTHS, 12)
    return first, date(first.year + year, month + 1, 1) - timedelta(days=1)


def _months(first: date, last: date) -> list[str]:
    out, day = [], first
    while day <= last:
        out.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return out


async def create_project(session: AsyncSession, community: Community, admin: User) -> ServiceProject:
    """The street office's contract covering B社区, with its targets."""
    now = clock.now()
    today = now.astimezone(ZoneInfo(community.timezone)).date()
    starts, ends = contract(today)
    project = ServiceProject(
        name=PROJECT_NAME,
        funder=FUNDER,
        starts_on=starts,
        ends_on=ends,
        grain="month",
        description=PROJECT_DESCRIPTION,
        created_by=admin.id,
        created_at=datetime.combine(starts - timedelta(days=10), time(10), ZoneInfo(community.timezone)),
        updated_at=now,
    )
    session.add(project)
    await session.flush()
    session.add(ProjectCommunity(project_id=project.id, community_id=community.id, added_at=project.created_at))
    periods = [("total", CONTRACT_MONTHS)] + [(month, 1) for month in _months(starts, ends)]
    await _insert(
        session,
        ProjectTarget,
        [
            {
                "project_id": project.id, "community_id": community.id, "indicator": indicator, "period": period,
                "value": monthly * months, "updated_at": project.created_at, "updated_by": admin.id,
            }
            for indicator, monthly in MONTHLY_TARGETS.items()
            for period, months in periods
        ],
    )  # fmt: skip
    return project


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]], ids: bool = False) -> list[int]:
    """Rows in one statement (many on SQLite's executemany), their ids in order if asked."""
    if not rows:
        return []
    if ids:
        result = await session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
        return [int(i) for i in result.scalars()]
    await session.execute(insert(model), rows)
    return []


# -- who lives here ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    member_id: int
    household_id: int
    login: str  # the household's login (its head's)
    name: str  # display name ("me" is the head)
    kind: str
    birth_year: int | None


@dataclass
class World:
    community: Community
    tz: ZoneInfo
    today: date
    first: date  # the contract's first day: the history starts here
    project: ServiceProject
    staff: User
    users: dict[str, User]
    people: dict[tuple[str, str], Person]  # (login, name or "me")
    space: Space | None
    closed: date  # the day the space was closed for repairs
    rng: random.Random

    def at(self, day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), self.tz)

    def age(self, person: Person) -> int | None:
        return None if person.birth_year is None else self.today.year - person.birth_year


async def _world(session: AsyncSession, community: Community, project: ServiceProject) -> World:
    tz = ZoneInfo(community.timezone)
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    by_user = {u.id: login for login, u in users.items()}
    members = (
        (await session.execute(select(Member).where(Member.community_id == community.id, Member.status == "active")))
        .scalars()
        .all()
    )
    heads = {m.household_id: by_user[m.user_id] for m in members if m.is_head and m.user_id is not None}
    people: dict[tuple[str, str], Person] = {}
    for m in members:
        login = heads.get(m.household_id)
        if login is None:
            continue
        name = "me" if m.is_head else m.display_name
        people[(login, name)] = Person(m.id, m.household_id, login, name, m.kind, m.birth_year)
    today = clock.now().astimezone(tz).date()
    first = project.starts_on
    space = (await session.execute(select(Space).where(Space.community_id == community.id))).scalars().first()
    # a Wednesday about five weeks ago: no activity is held on Wednesdays but the monthly training
    closed = today - timedelta(days=35)
    while closed.weekday() != 2 or closed.day <= 7:
        closed -= timedelta(days=1)
    return World(
        community,
        tz,
        today,
        first,
        project,
        users["staff"],
        users,
        people,
        space,
        closed,
        random.Random(14),  # noqa: S311 - demo data
    )


async def set_genders(session: AsyncSession, community: Community) -> None:
    members = (await session.execute(select(Member).where(Member.community_id == community.id))).scalars()
    for member in members:
        member.gender = GENDERS.get(member.display_name)
    await session.flush()


# -- activities ----------------------------------------------------------------------------------

KIDS = [("chen", "小雨"), ("zhou", "乐乐"), ("liu", "豆豆"), ("li", "朵朵"), ("huang", "糖糖"), ("xu", "可可"),
        ("wang", "安安"), ("ma", "小南")]  # fmt: skip
# children who started coming later in the contract (as a share of the history), so that every
# month has its newcomers
LATE = {("wang", "安安"): 0.35, ("ma", "小南"): 0.6, ("zhao", "一一"): 0.8}
ELDERS = [("zhang", "me"), ("wu", "me"), ("wu", "吴爷爷"), ("liu", "刘奶奶"), ("sun", "me")]
FAMILIES: list[tuple[str, list[str]]] = [
    ("chen", ["me", "小雨", "小树"]), ("zhou", ["me", "乐乐"]), ("liu", ["me", "豆豆"]), ("wang", ["me", "安安"]),
    ("li", ["me", "朵朵"]), ("huang", ["me", "糖糖", "果果"]), ("xu", ["me", "可可"]), ("ma", ["me", "小北", "小南"]),
    ("zhao", ["me", "一一"]),
]  # fmt: skip
NEIGHBOURS = ["zhang", "li", "zhao", "sun", "huang", "ma", "zhou", "wang", "wu", "chen"]
VOLUNTEERS = ["liu", "zhang", "sun", "wu", "zhao", "ma", "huang", "li"]
PARTY = ["zhang", "zhao", "huang", "sun", "wang", "liu"]
# people from the next compounds who came without booking (registered at the door by name)
GUEST_ELDERS = ["何婆婆", "杨大爷", "邓阿姨", "罗爷爷", "蒋婆婆", "曾大爷"]
GUEST_CHILDREN = ["小米（朵朵的同学）", "阳阳", "小满", "豆包", "妞妞", "甜甜"]
GUEST_PARENTS = ["阳阳妈妈", "小满爸爸", "豆包奶奶", "妞妞妈妈"]

ELDER_AFTERNOONS = [
    ("长者健康操：八段锦", "community", "社区康复师带长辈们练八段锦，活动肩颈腰背。"),
    ("长者智能手机课：扫码与支付", "training", "志愿者一对一教长辈扫码、付款、识别诈骗短信。"),
    ("银龄茶话会：说说老院子的故事", "community", "长辈们带来老照片，讲B社区三十年的变化。"),
    ("长者智能手机课：网上挂号", "training", "学会用手机在社区卫生服务中心预约挂号、查看报告。"),
    ("长者健康讲座：秋冬季防跌倒", "community", "社区卫生服务中心的医生讲居家防跌倒，现场做平衡测试。"),
]
SATURDAYS = [
    "亲子手工：树叶拼贴画", "亲子自然观察：找一找秋天", "亲子科学实验：会跳舞的盐", "亲子手工：扎染小方巾",
    "亲子阅读：绘本剧表演", "垃圾分类亲子小课堂", "亲子桌游日：大富翁与飞行棋", "亲子绘画：我的社区地图",
    "旧书交换集市", "亲子烘焙：小熊饼干", "亲子运动会：趣味接力", "亲子手工：纸杯小花盆", "亲子手工：不织布书签",
    "亲子观影：《寻梦环游记》", "亲子种植：阳台小菜园", "亲子手工：超轻黏土动物", "亲子戏剧：我们的社区故事",
    "亲子手工：风筝制作",
]  # fmt: skip
MEETINGS = [
    "院落议事会：电动车充电桩选址", "院落议事会：楼道堆物清理公约", "院落议事会：复合空间开放时间征求意见",
    "院落议事会：垃圾分类点位调整", "院落议事会：儿童游乐区围栏维修", "院落议事会：小区绿化认养",
    "院落议事会：夜间噪音怎么管", "院落议事会：公共空间使用公约", "院落议事会：楼栋长推选办法",
]  # fmt: skip
TRAININGS = [
    "志愿者培训：活动签到与安全", "志愿者培训：如何给孩子读绘本", "志愿者培训：急救常识与应急处置",
    "志愿者培训：与长者沟通的技巧",
]  # fmt: skip
SUMMARIES: dict[str, dict[str, str]] = {
    "亲子手工：树叶拼贴画": {
        "background": "社区儿童周末缺少与家长一起动手的活动，前期需求调研中有家长希望多开展自然主题的亲子活动。",
        "goals": "增进亲子互动；让孩子在收集和拼贴中观察自然；邀请新家庭走进复合空间。",
        "process": "社工讲解树叶的形状和颜色，家庭到后院收集落叶，再用树叶拼出动物和房子，最后每组介绍作品。",
        "participation": "预约家庭基本到场，另有邻小区的亲子现场登记参加；志愿者协助签到和材料分发。",
        "outcomes": "作品在复合空间“成长相册”墙展出；两户新家庭加入了活动群，并预约了下周的活动。",
        "reflection": "材料准备偏少，下次按报名人数多备三成；低龄孩子需要家长更多协助，可按年龄分桌。",
    },
    "院落议事会：电动车充电桩选址": {
        "background": "楼道内给电动车充电的现象时有发生，存在消防隐患，居民多次在群里反映。",
        "goals": "听取各楼栋居民意见，形成充电桩选址的初步方案，提交社区和物业。",
        "process": "社工介绍议事规则，物业说明可选位置和费用，居民代表逐一发言，最后举手表决两个备选点位。",
        "participation": "各楼栋居民代表、物业负责人、社区网格员参加，发言有序，均按时签到。",
        "outcomes": "形成“后院车棚旁”为首选点位的意见，物业承诺一个月内给出施工方案并公示。",
        "reflection": "部分老人对扫码充电有顾虑，下次邀请厂家现场演示；会议纪要需在三天内公示。",
    },
}


async def _activity(
    session: AsyncSession,
    w: World,
    *,
    day: date,
    hhmm: str,
    minutes: int,
    title: str,
    category: str,
    service_type: str | None,
    location: str,
    description: str,
    capacity: int,
    booked: list[tuple[str, list[str]]],
    walkins: Sequence[str] = (),
    no_shows: int = 0,
    series: Series | None = None,
    ages: tuple[int, int] | None = None,
    in_space: bool = True,
    cancelled: str | None = None,
) -> Activity:
    """An activity held (or cancelled) on `day`, booked by households and attended, with walk-ins."""
    start = w.at(day, hhmm)
    end = start + timedelta(minutes=minutes)
    published = start - timedelta(days=6)
    seats = sum(len(names) for _, names in booked) + len(walkins)
    activity = Activity(
        community_id=w.community.id, series_id=series.id if series else None,
        space_id=w.space.id if in_space and w.space else None, location=location, title=title,
        description=description, category=category, status="cancelled" if cancelled else "published",
        start_at=start, end_at=end, capacity=max(capacity, seats), taken=0 if cancelled else seats,
        registration_closes_at=start, cancel_deadline=start - timedelta(hours=2),
        checkin_opens_at=start - timedelta(minutes=30), checkin_closes_at=end,
        child_min_age=ages[0] if ages else None, child_max_age=ages[1] if ages else None,
        published_at=published, cancelled_at=start - timedelta(hours=20) if cancelled else None,
        cancel_reason=cancelled, attendance_closed_at=None if cancelled else end + timedelta(hours=2),
        album_sent_at=None if cancelled else end + timedelta(hours=24), created_by=w.staff.id,
        project_id=w.project.id if service_type else None, service_type=service_type,
        created_at=published, updated_at=published,
    )  # fmt: skip
    session.add(activity)
    await session.flush()
    households: list[tuple[int, list[Person]]] = []  # (booked by, who)
    rows: list[dict[str, Any]] = []
    for n, (login, names) in enumerate(booked):
        at = published + timedelta(hours=2 + 3 * n)
        people = [w.people[(login, name)] for name in names]
        households.append((w.users[login].id, people))
        rows.append(
            {
                "activity_id": activity.id, "community_id": w.community.id, "household_id": people[0].household_id,
                "booked_by": w.users[login].id, "seats": len(people), "source": "app",
                "status": "cancelled" if cancelled else "confirmed", "confirmed_at": at,
                "cancelled_at": activity.cancelled_at, "cancelled_by": w.staff.id if cancelled else None,
                "created_at": at, "updated_at": at,
            }
        )  # fmt: skip
    walkin_at = start + timedelta(minutes=5)
    if walkins and not cancelled:
        rows.append(
            {
                "activity_id": activity.id, "community_id": w.community.id, "household_id": None, "booked_by": None,
                "seats": len(walkins), "source": "walkin", "status": "confirmed", "confirmed_at": walkin_at,
                "cancelled_at": None, "cancelled_by": None, "created_at": walkin_at, "updated_at": walkin_at,
            }
        )  # fmt: skip
    booking_ids = await _insert(session, Booking, rows, ids=True)
    # the no-shows: the first-named attendee of the last `no_shows` households
    absent = {people[0].member_id for _, people in households[len(households) - no_shows :]} if no_shows else set()
    attendees: list[dict[str, Any]] = []
    for booking_id, (_, people) in zip(booking_ids, households, strict=False):
        for person in people:
            came = not cancelled and person.member_id not in absent
            attendees.append(
                {
                    "booking_id": booking_id, "activity_id": activity.id, "member_id": person.member_id,
                    "guest_name": None, "active": not cancelled,
                    "checked_in_at": start - timedelta(minutes=w.rng.randint(1, 12)) if came else None,
                    "checked_in_by": w.staff.id if came else None,
                    "checkin_method": ("staff" if person.kind == "elder" else "scan") if came else None,
                    "no_show": not cancelled and not came,
                }
            )  # fmt: skip
    if walkins and not cancelled:
        for guest in walkins:
            attendees.append(
                {
                    "booking_id": booking_ids[-1], "activity_id": activity.id, "member_id": None, "guest_name": guest,
                    "active": True, "checked_in_at": start + timedelta(minutes=w.rng.randint(0, 15)),
                    "checked_in_by": w.staff.id, "checkin_method": "walkin", "no_show": False,
                }
            )  # fmt: skip
    await _insert(session, BookingAttendee, attendees)
    if title in SUMMARIES and not cancelled:
        session.add(ActivitySummary(activity_id=activity.id, updated_at=end + timedelta(days=1), updated_by=w.staff.id,
                                    **SUMMARIES[title]))  # fmt: skip
    return activity


def _started(w: World, key: tuple[str, str], day: date, last: date) -> bool:
    share = LATE.get(key)
    return share is None or day >= w.first + (last - w.first) * share


async def _activities(session: AsyncSession, w: World) -> None:
    rng = w.rng
    last = w.today - timedelta(days=QUIET_DAYS + 1)
    club = Series(
        community_id=w.community.id, title="四点半课堂", category="children",
        description="每周二放学后，复合空间儿童阅读区：志愿者陪伴写作业，再读半小时书。6–12岁。",
        created_at=datetime.combine(w.first, time(9), w.tz), updated_at=datetime.combine(w.first, time(9), w.tz),
    )  # fmt: skip
    session.add(club)
    await session.flush()
    counters = {"club": 0, "elders": 0, "saturday": 0, "meeting": 0, "training": 0}
    day = w.first
    while day <= last:
        weekday = day.weekday()
        week = (day - w.first).days // 7
        if weekday == 1:  # Tuesday: the after-school class
            counters["club"] += 1
            kids = [k for k in [*KIDS, ("zhao", "一一")] if _started(w, k, day, last)]
            came = rng.sample(kids, min(len(kids), rng.randint(5, 7)))
            guests = [GUEST_CHILDREN[counters["club"] % len(GUEST_CHILDREN)]] if counters["club"] % 3 == 0 else []
            await _activity(
                session, w, day=day, hhmm="16:30", minutes=90, title=f"四点半课堂（第{counters['club']}期）",
                category="children", service_type="group", location="儿童阅读区",
                description="放学后来复合空间：志愿者陪伴写作业，再一起读半小时绘本。", capacity=15,
                booked=[(login, [name]) for login, name in came], walkins=guests,
                no_shows=1 if counters["club"] % 4 == 2 else 0, series=club, ages=(6, 12),
            )  # fmt: skip
        elif weekday == 3 and not (8 <= day.day <= 14):  # Thursday: the elders (not casework week)
            title, service_type, description = ELDER_AFTERNOONS[counters["elders"] % len(ELDER_AFTERNOONS)]
            counters["elders"] += 1
            if counters["elders"] > len(ELDER_AFTERNOONS):
                title += f"（{day.month}月{day.day}日）"
            came = rng.sample(ELDERS, rng.randint(3, 5))
            households: dict[str, list[str]] = {}
            for login, name in came:
                households.setdefault(login, []).append(name)
            await _activity(
                session, w, day=day, hhmm="15:00", minutes=90, title=title, category="elders",
                service_type=service_type, location="党群服务站二楼会议室", description=description, capacity=30,
                booked=list(households.items()), walkins=rng.sample(GUEST_ELDERS, rng.randint(1, 3)), in_space=False,
            )  # fmt: skip
        elif weekday == 3:  # the second Thursday: a casework home visit
            await _activity(
                session, w, day=day, hhmm="10:00", minutes=60, title=f"个案服务：高龄长者居家探访（{day.month}月）",
                category="elders", service_type="casework", location="4栋2单元104（入户）",
                description="社工入户探访高龄长者，评估居家安全，跟进用药和就医需要。", capacity=2,
                booked=[("wu", ["me", "吴爷爷"])], in_space=False,
            )  # fmt: skip
        elif weekday == 5:  # Saturday: parents and children
            title = SATURDAYS[counters["saturday"] % len(SATURDAYS)]
            counters["saturday"] += 1
            families = [(login, [n for n in names if _started(w, (login, n), day, last)]) for login, names in FAMILIES]
            chosen = rng.sample([f for f in families if len(f[1]) > 1], rng.randint(3, 5))
            guests = rng.sample(GUEST_CHILDREN, 1) + rng.sample(GUEST_PARENTS, 1) if week % 2 == 0 else []
            await _activity(
                session, w, day=day, hhmm="15:00", minutes=90, title=title, category="parent_child",
                service_type="community", location="亲子活动区", description="家长和孩子一起参加，材料由项目准备。",
                capacity=20, booked=[(login, names[: rng.randint(2, len(names))]) for login, names in chosen],
                walkins=guests, no_shows=1 if counters["saturday"] % 5 == 0 else 0,
                cancelled="因降雨取消，改期另行通知" if counters["saturday"] == 3 else None,
            )  # fmt: skip
        elif weekday == 4 and week % 2 == 1:  # every other Friday evening: the courtyard meeting
            title = MEETINGS[counters["meeting"] % len(MEETINGS)]
            counters["meeting"] += 1
            await _activity(
                session, w, day=day, hhmm="19:30", minutes=90, title=title, category="deliberation",
                service_type="deliberation", location="议事角", description="居民代表、物业、社工一起商量。",
                capacity=30, booked=[(login, ["me"]) for login in rng.sample(NEIGHBOURS, rng.randint(5, 7))],
            )  # fmt: skip
        elif weekday == 2 and day.day <= 7 and day != w.closed:  # the first Wednesday: volunteers' training
            title = TRAININGS[counters["training"] % len(TRAININGS)]
            counters["training"] += 1
            await _activity(
                session, w, day=day, hhmm="19:00", minutes=90, title=title, category="volunteering",
                service_type="training", location="议事角", description="项目为社区志愿者开展的专项培训。",
                capacity=20, booked=[(login, ["me"]) for login in rng.sample(VOLUNTEERS, rng.randint(5, 7))],
            )  # fmt: skip
        elif weekday == 6 and day.day <= 7:  # the first Sunday: the party branch's theme day
            await _activity(
                session, w, day=day, hhmm="09:30", minutes=90, title=f"主题党日：重温入党誓词（{day.month}月）",
                category="other", service_type=None, location="党群服务站二楼会议室",
                description="社区党委组织的主题党日（社区党建经费）。", capacity=30,
                booked=[(login, ["me"]) for login in rng.sample(PARTY, 4)], in_space=False,
            )  # fmt: skip
        elif weekday == 6 and 15 <= day.day <= 21:  # the third Sunday: the health centre's check-up
            await _activity(
                session, w, day=day, hhmm="09:00", minutes=120, title=f"社区义诊：量血压、测血糖（{day.month}月）",
                category="elders", service_type=None, location="党群服务站门口",
                description="社区卫生服务中心的医生和护士来社区义诊。", capacity=60,
                booked=[(login, names) for login, names in (("zhang", ["me"]), ("wu", ["me", "吴爷爷"]),
                                                             ("liu", ["刘奶奶"]))],
                walkins=rng.sample(GUEST_ELDERS, 3), in_space=False,
            )  # fmt: skip
        day += timedelta(days=1)
    await session.flush()


# -- the space, the reading corner ---------------------------------------------------------------


async def _closure(session: AsyncSession, w: World) -> None:
    if w.space is not None:
        at = datetime.combine(w.closed - timedelta(days=3), time(17), w.tz)
        session.add(
            SpaceClosure(
                space_id=w.space.id, starts_on=w.closed, ends_on=w.closed, reason="空调检修，闭馆一天",
                created_at=at, updated_at=at,
            )
        )  # fmt: skip
        await session.flush()


def _open(w: World, day: date) -> bool:
    return day.weekday() != 0 and day != w.closed


async def loans(session: AsyncSession, community: Community, project: ServiceProject, keep: set[str]) -> None:
    """Loans every open day since the contract began, all returned (before the demo's current
    loans, so that a household's history lists them in order). `keep`: titles lent or held now."""
    w = await _world(session, community, project)
    rng = random.Random(7)  # noqa: S311 - demo data
    copies = (
        await session.execute(
            select(BookCopy.id, BookCopy.book_id, Book.title, Book.age_min, Book.age_max)
            .join(Book, Book.id == BookCopy.book_id)
            .where(BookCopy.community_id == community.id)
            .order_by(BookCopy.id)
        )
    ).all()
    shelf = [c for c in copies if c.title not in keep]
    children = [p for p in w.people.values() if p.kind == "child"]
    adults = [w.people[(login, "me")] for login in ("wang", "zhao", "zhang", "chen", "xu")]
    free_from: dict[int, datetime] = {}
    last = w.today - timedelta(days=3)
    day = w.first
    rows: list[dict[str, Any]] = []
    while day <= last:
        if _open(w, day):
            for _ in range(rng.randint(3, 5) if day.weekday() >= 5 else rng.randint(1, 3)):
                reader = rng.choice(children) if rng.random() < 0.85 else rng.choice(adults)
                at = datetime.combine(day, time(rng.randint(10, 19), rng.choice((5, 20, 35, 50))), w.tz)
                age = w.age(reader)
                fits = [
                    c
                    for c in shelf
                    if free_from.get(c.id, at) <= at
                    and (age is None or reader.kind != "child" or (c.age_min or 0) <= age <= (c.age_max or 99))
                ] or [c for c in shelf if free_from.get(c.id, at) <= at]
                copy = rng.choice(fits)
                due_day = day + timedelta(days=14)
                if due_day.weekday() == 0:
                    due_day += timedelta(days=1)
                kept = min(rng.randint(4, 20), (w.today - day).days - 1)
                back = datetime.combine(day + timedelta(days=kept), time(rng.randint(10, 19), 15), w.tz)
                free_from[copy.id] = back
                rows.append(
                    {
                        "community_id": community.id, "copy_id": copy.id, "book_id": copy.book_id,
                        "member_id": reader.member_id, "household_id": reader.household_id, "borrowed_by": w.staff.id,
                        "borrowed_at": at, "due_at": datetime.combine(due_day + timedelta(days=1), time(0), w.tz),
                        "renewals": 0, "returned_at": back, "returned_by": w.staff.id,
                    }
                )  # fmt: skip
        day += timedelta(days=1)
    rows.sort(key=lambda r: r["borrowed_at"])
    await _insert(session, Loan, rows)


# -- announcements -------------------------------------------------------------------------------

# (title, body, audience)
NOTICES: list[tuple[str, str, dict[str, Any]]] = [
    ("复合空间开放时间", "复合空间周二至周日 9:00–21:00 开放，周一闭馆。借书、还书请到服务台。", {"kind": "community"}),
    ("四点半课堂开始报名", "每周二16:30，志愿者陪伴孩子写作业、读绘本，适合6–12岁，请在小程序预约。",
     {"kind": "children", "min_age": 6, "max_age": 12}),
    ("院落议事会：电动车充电桩选址", "本周五19:30在议事角讨论充电桩选址，欢迎各楼栋居民代表参加。",
     {"kind": "community"}),
    ("绘本漂流：欢迎捐赠闲置童书", "家里孩子看过的绘本可以捐到复合空间，让更多孩子读到。服务台登记即可。",
     {"kind": "community"}),
    ("秋季流感疫苗接种提醒", "社区卫生服务中心已开始接种流感疫苗，60岁以上长者免费，请带身份证。",
     {"kind": "community"}),
    ("3栋楼道堆物清理通知", "本周六上午物业将协助清理3栋楼道堆放的杂物，请提前将个人物品搬回家中。",
     {"kind": "buildings", "buildings": ["3栋"]}),
    ("志愿者招募：复合空间值班", "复合空间每天下午需要两位志愿者值班，欢迎在小程序“志愿服务”中报名。",
     {"kind": "community"}),
    ("防范电信诈骗提醒", "近期有冒充快递客服退款的诈骗电话，请不要透露验证码，有疑问请找社工。", {"kind": "community"}),
    ("亲子活动预告：本周六手工课", "本周六15:00亲子活动区，家长和孩子一起做手工，名额20个。",
     {"kind": "children", "min_age": 3, "max_age": 12}),
    ("垃圾分类积分兑换日", "本月最后一个周日可用垃圾分类积分兑换日用品，地点党群服务站门口。", {"kind": "community"}),
    ("院落议事会会议纪要公示", "上次议事会形成的意见已整理成纪要，张贴在各楼栋公告栏，欢迎补充意见。",
     {"kind": "community"}),
    ("长者智能手机课招募", "每周四下午志愿者一对一教长辈用手机，家中老人需要的请帮忙预约。", {"kind": "community"}),
    ("3栋绿地改造意见征集", "3栋楼下绿地改造有两个方案，请3栋住户在服务台或小程序中留言。",
     {"kind": "buildings", "buildings": ["3栋"]}),
    ("社区义诊通知", "本周日上午社区卫生服务中心来社区义诊，免费量血压、测血糖。", {"kind": "community"}),
    ("冬季用电安全提醒", "请勿在楼道给电动车充电，取暖器使用后及时断电。", {"kind": "community"}),
]  # fmt: skip


async def _announcements(session: AsyncSession, w: World) -> None:
    """A notice a week, with the inbox entries the worker would have written at the time and who
    read them (chen reads everything: the demo's inbox stays as it was)."""
    rng = random.Random(21)  # noqa: S311 - demo data
    spec = catalogue.kind("announcement")
    households = {
        h.id: h.building
        for h in (await session.execute(select(Household).where(Household.community_id == w.community.id))).scalars()
    }
    heads = {login: p for (login, name), p in w.people.items() if name == "me"}
    schedule: list[tuple[datetime, str, str, dict[str, Any]]] = []
    day, n = w.first + timedelta(days=1), 0
    while day <= w.today - timedelta(days=2):
        title, body, audience = NOTICES[n % len(NOTICES)]
        schedule.append(
            (w.at(day, "09:30"), title if n < len(NOTICES) else f"{title}（{day.month}月）", body, audience)
        )
        n, day = n + 1, day + timedelta(days=7)
    closure = "因空调检修，复合空间本周三闭馆一天，其余时间照常开放，借阅到期日自动顺延。"
    schedule.append((w.at(w.closed - timedelta(days=2), "17:00"), "复合空间闭馆通知", closure, {"kind": "community"}))
    notifications: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    for at, title, body, audience in sorted(schedule, key=lambda entry: entry[0]):
        day = at.date()
        announcement = Announcement(
            community_id=w.community.id, author_id=w.staff.id, title=title, body=body, audience=audience,
            audience_kind=audience["kind"], publish_at=at, created_at=at, updated_at=at,
        )  # fmt: skip
        if audience["kind"] == "children":
            announcement.child_birth_year_min = day.year - audience["max_age"]
            announcement.child_birth_year_max = day.year - audience["min_age"]
        session.add(announcement)
        await session.flush()
        recipients = list(heads)
        if audience["kind"] == "buildings":
            session.add(AnnouncementBuilding(announcement_id=announcement.id, building_key=audience["buildings"][0]))
            recipients = [login for login in heads if households[heads[login].household_id] in audience["buildings"]]
        elif audience["kind"] == "children":
            low, high = announcement.child_birth_year_min, announcement.child_birth_year_max
            assert low is not None and high is not None
            with_children = {
                p.household_id
                for p in w.people.values()
                if p.kind == "child" and p.birth_year is not None and low <= p.birth_year <= high
            }
            recipients = [login for login in heads if heads[login].household_id in with_children]
        rendered = catalogue.render_params(
            {
                "announcement_id": announcement.id,
                "title": title,
                "excerpt": excerpt(body),
                "community_name": w.community.name,
                "published_at": at,
            },
            w.tz,
        )
        for login in sorted(recipients, key=lambda name: w.users[name].id):
            read = login == "chen" or rng.random() < 0.7
            read_at = at + timedelta(minutes=rng.randint(5, 600)) if read else None
            notifications.append(
                {
                    "community_id": w.community.id, "user_id": w.users[login].id, "kind": "announcement",
                    "cause_key": cause_key(announcement.id), "title": catalogue.fill(spec.title, rendered)[:MAX_TITLE],
                    "body": catalogue.fill(spec.body, rendered), "page": catalogue.fill(spec.page, rendered),
                    "params": rendered, "created_at": at + timedelta(seconds=30), "read_at": read_at,
                }
            )  # fmt: skip
            if read_at is not None:
                reads.append({"announcement_id": announcement.id, "user_id": w.users[login].id, "read_at": read_at})
    await _insert(session, Notification, notifications)
    await _insert(session, AnnouncementReadMark, reads)


async def history(session: AsyncSession, community: Community, project: ServiceProject) -> None:
    """Activities, check-ins, the closure and the announcements since the contract began."""
    w = await _world(session, community, project)
    await _closure(session, w)
    await _activities(session, w)
    await _announcements(session, w)


# -- volunteers ----------------------------------------------------------------------------------


async def service(
    session: AsyncSession, community: Community, project: ServiceProject, served: dict[str, list[str]]
) -> None:
    """Opening duty since the contract began (two volunteers a day, Tue–Sun, as `served`), the
    space team's monthly shelf day, the after-school helpers and the caring alliance's visits to
    elders living alone: all tagged with the project, approved the next day, one corrected. The
    demo's own duty (the weekly rule's shifts) is tagged with the project as well."""
    w = await _world(session, community, project)
    rng = random.Random(28)  # noqa: S311 - demo data
    teams = {t.name: t.id for t in (await session.execute(select(Team).where(Team.community_id == community.id)))
             .scalars()}  # fmt: skip
    rule = (
        await session.execute(select(ShiftRule).where(ShiftRule.community_id == community.id).order_by(ShiftRule.id))
    ).scalar_one()
    await session.execute(
        update(Shift)
        .where(Shift.community_id == community.id)
        .values(project_id=project.id, service_type="volunteering")
    )
    policy = await crediting(session, community.id)
    duty_until = min(rule.active_from, w.today) - timedelta(days=1)
    rule.active_from = w.first
    staff_name = w.staff.display_name

    async def shift(
        day: date, starts: str, hours: float, role: str, place: str, team: str, volunteers: list[str],
        *, rule_id: int | None = None, activity_id: int | None = None, activity_name: str = "",
        mistaken: str | None = None,
    ) -> None:  # fmt: skip
        """A shift served and its approved records; `mistaken`'s check-out was tapped an hour in."""
        start = w.at(day, starts)
        end = start + timedelta(hours=hours)
        made = Shift(
            community_id=community.id, team_id=teams[team], rule_id=rule_id, activity_id=activity_id, role=role,
            place=place, start_at=start, end_at=end, needed=len(volunteers), taken=len(volunteers),
            withdraw_deadline=start - timedelta(hours=12), closed_at=end + timedelta(hours=2),
            created_by=w.staff.id, project_id=project.id, service_type="volunteering",
            created_at=start - timedelta(days=7), updated_at=end,
        )  # fmt: skip
        session.add(made)
        await session.flush()
        times = []
        for login in volunteers:
            checked_in = start - timedelta(minutes=rng.choice((0, 5, 10, 15)))
            out = end + timedelta(minutes=rng.choice((-30, -15, -10, 0, 5, 10)))
            times.append((login, checked_in, start + timedelta(hours=1) if login == mistaken else out))
        signup_ids = await _insert(
            session,
            ShiftSignup,
            [
                {
                    "shift_id": made.id, "user_id": w.users[login].id, "status": "completed",
                    "checked_in_at": checked_in, "checked_out_at": checked_out,
                    "created_at": start - timedelta(days=5), "updated_at": end,
                }
                for login, checked_in, checked_out in times
            ],
            ids=True,
        )  # fmt: skip
        reviewed = datetime.combine(day + timedelta(days=1), time(10), w.tz)
        fixed = datetime.combine(day + timedelta(days=3), time(11), w.tz)

        def record(login: str, signup_id: int, checked_in: datetime, checked_out: datetime) -> dict[str, Any]:
            begun = max(start, checked_in)
            return {
                "community_id": community.id, "user_id": w.users[login].id, "signup_id": signup_id,
                "shift_id": made.id, "team_id": made.team_id, "service": role, "activity_name": activity_name,
                "service_date": day, "place": place, "start_at": begun,
                "end_at": max(min(end, checked_out), begun + timedelta(seconds=1)),
                "minutes": credited_minutes(start, end, checked_in, checked_out, policy.rounding_minutes),
                "organiser": policy.organiser, "person_in_charge": staff_name, "recorded_by": None,
                "status": "approved", "review_by": working_days_after(day, 10), "reviewed_by": w.staff.id,
                "reviewed_at": reviewed, "corrects_id": None, "correction_reason": None, "created_at": end,
                "updated_at": reviewed,
            }  # fmt: skip

        records = [
            record(*entry[:1], signup_id, *entry[1:]) for entry, signup_id in zip(times, signup_ids, strict=True)
        ]
        record_ids = await _insert(session, ServiceRecord, records, ids=True)
        for (login, checked_in, _out), signup_id, original in zip(times, signup_ids, record_ids, strict=True):
            if login == mistaken:  # the approved original stays as it was; the approved correction counts instead
                correction = record(login, signup_id, checked_in, end) | {
                    "recorded_by": w.staff.id, "review_by": working_days_after(fixed.date(), 10),
                    "reviewed_at": fixed + timedelta(days=1), "corrects_id": original,
                    "correction_reason": "签退时误点，提前了三个小时；按值班登记表更正为实际在岗时间",
                    "created_at": fixed, "updated_at": fixed + timedelta(days=1),
                }  # fmt: skip
                await _insert(session, ServiceRecord, [correction])

    day, corrected = w.first, False
    while day <= duty_until:
        weekday = WEEKDAYS[day.weekday()]
        if weekday in served and day != w.closed:
            on_duty = served[weekday]
            mistaken = on_duty[1] if not corrected and day >= w.first + timedelta(days=20) else None
            corrected = corrected or mistaken is not None
            await shift(
                day, "14:00", 4, rule.role, rule.place, "公益志愿队", on_duty, rule_id=rule.id, mistaken=mistaken
            )
        if day.weekday() == 6 and 8 <= day.day <= 14:
            await shift(day, "09:30", 2, "书架整理与空间维护", "复合空间", "空间营造队", ["ma", "huang", "zhou"])
        if day.weekday() == 3 and 15 <= day.day <= 21:
            await shift(day, "09:30", 2.5, "探访独居长者", "社区各楼栋", "爱心联盟", ["sun", "li"])
        day += timedelta(days=1)
    clubs = (
        await session.execute(
            select(Activity.id, Activity.title, Activity.start_at, Activity.end_at).where(
                Activity.community_id == community.id, Activity.title.startswith("四点半课堂"),
                Activity.status == "published",
            )
        )
    ).all()  # fmt: skip
    for activity_id, title, start, end in clubs:
        local = start.astimezone(w.tz)
        await shift(
            local.date(), f"{local:%H:%M}", (end - start).total_seconds() / 3600, "四点半课堂作业辅导",
            "复合空间儿童阅读区", "公益志愿队", ["zhao"] if local.day % 2 else ["zhao", "li"],
            activity_id=activity_id, activity_name=title,
        )  # fmt: skip
    await session.flush()
