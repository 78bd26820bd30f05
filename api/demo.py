"""Demo data (`linli demo`): B社区 in Chengdu with its composite space, an admin, two social
workers and a dozen households, several with children; two volunteer teams; a pinned welcome
announcement and two targeted ones, whose inbox entries and (fake) WeChat pushes the worker
sends once the service runs. Log in with `dev:<name>` in fake mode."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, Team, TeamMember, User
from api.db.session import Database, settings_of
from api.services import communities, households
from api.services.notifications import announcements, catalogue, subscriptions

# (login name, display name, building, unit, room, [(child or elder name, kind, birth year)])
HOUSEHOLDS: list[tuple[str, str, str, str, str, list[tuple[str, str, int]]]] = [
    ("chen", "陈妈妈", "1栋", "1单元", "301", [("小雨", "child", 2018), ("小树", "child", 2021)]),
    ("zhou", "周爸爸", "1栋", "2单元", "502", [("乐乐", "child", 2016)]),
    ("liu", "刘阿姨", "2栋", "1单元", "101", [("刘奶奶", "elder", 1946), ("豆豆", "child", 2019)]),
    ("wang", "王女士", "2栋", "2单元", "702", [("安安", "child", 2014)]),
    ("zhang", "张大爷", "3栋", "1单元", "201", []),
    ("li", "李妈妈", "3栋", "1单元", "602", [("朵朵", "child", 2020)]),
    ("zhao", "赵老师", "3栋", "2单元", "403", [("一一", "child", 2012)]),
    ("huang", "黄先生", "4栋", "1单元", "1101", [("糖糖", "child", 2017), ("果果", "child", 2022)]),
    ("wu", "吴奶奶", "4栋", "2单元", "104", [("吴爷爷", "elder", 1942)]),
    ("xu", "徐妈妈", "5栋", "1单元", "808", [("可可", "child", 2015)]),
    ("sun", "孙阿姨", "5栋", "2单元", "305", []),
    ("ma", "马爸爸", "6栋", "1单元", "1203", [("小北", "child", 2013), ("小南", "child", 2019)]),
]


# volunteer teams (自组织) and their members, by login name
TEAMS: list[tuple[str, str, list[str]]] = [
    ("公益志愿队", "社区公共服务：复合空间值班、活动签到、环境整治", ["liu", "zhang", "sun", "wu", "zhao"]),
    ("空间营造队", "复合空间的布置与维护：书架、活动室、议事角", ["ma", "huang", "zhou"]),
]
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
            for member_name, kind, birth_year in dependants:
                await households.add_member(
                    session,
                    resident,
                    household_id,
                    {"display_name": member_name, "kind": kind, "birth_year": birth_year, "guardian_consent": True},
                )
        # a spouse asking to join the Chen household, waiting for the head's approval
        spouse = await _user(session, "chen2", "陈爸爸")
        await households.join(
            session, spouse, community.id, {"display_name": "陈爸爸", "building": "1栋", "unit": "1单元", "room": "301"}
        )
        await _teams_and_announcements(session, community)
        await session.commit()
    return True


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
