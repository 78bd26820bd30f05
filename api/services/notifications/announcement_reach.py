"""Whom an announcement would reach, before anything is saved: the console's audience picker
shows staff how many households and people a choice reaches (and how many of them may get a
WeChat message) while they compose. The count runs the very query the fan-out notifies by
(`announcement_audience.recipients_of`), so the number shown is the number of inbox entries it makes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Booking, Member, SubscriptionCredit, Team, TeamMember, User
from api.db.session import settings_of
from api.services import household_file
from api.services.access import require_staff
from api.services.notifications import catalogue
from api.services.notifications.announcement_audience import recipients_of, resolve_audience

ACTIVITY_CHOICES = 60  # activities offered in the picker
RECENT_ACTIVITIES = timedelta(days=30)  # ended this long ago still offered (a follow-up notice)


async def reach(
    session: AsyncSession,
    user: User,
    community_id: int,
    audience: dict[str, Any],
    publish_at: datetime | None = None,
) -> dict[str, int]:
    """How many people (residents with an account: each gets an inbox entry), the households
    they live in, and how many of them hold a WeChat grant for announcements, if the audience were
    published at `publish_at` (now when absent). Nothing is written."""
    await require_staff(session, user, community_id)
    target = await resolve_audience(session, community_id, publish_at or clock.now(), audience)
    recipients = recipients_of(target).subquery()
    people = (await session.execute(select(func.count(func.distinct(recipients.c.user_id))))).scalar_one()
    households = (
        await session.execute(
            select(func.count(func.distinct(Member.household_id))).where(
                Member.community_id == community_id,
                Member.status == "active",
                Member.user_id.in_(select(recipients.c.user_id)),
            )
        )
    ).scalar_one()
    wechat = 0
    template = catalogue.template_for(settings_of(session), "announcement")
    if template is not None:
        wechat = (
            await session.execute(
                select(func.count(func.distinct(SubscriptionCredit.user_id))).where(
                    SubscriptionCredit.template_id == template.template_id,
                    SubscriptionCredit.credits > 0,
                    SubscriptionCredit.user_id.in_(select(recipients.c.user_id)),
                )
            )
        ).scalar_one()
    return {"people": int(people), "households": int(households), "wechat": int(wechat)}


async def audience_choices(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """What the picker offers: the community's buildings (with their households), its volunteer
    teams (with their active members), and its activities of the last month and to come (with the
    households holding a confirmed booking)."""
    await require_staff(session, user, community_id)
    buildings = await household_file.buildings(session, user, community_id)
    members = (
        select(TeamMember.team_id, func.count().label("n"))
        .where(TeamMember.status == "active")
        .group_by(TeamMember.team_id)
        .subquery()
    )
    teams = [
        {"id": team_id, "name": name, "members": int(n or 0)}
        for team_id, name, n in (
            await session.execute(
                select(Team.id, Team.name, members.c.n)
                .outerjoin(members, members.c.team_id == Team.id)
                .where(Team.community_id == community_id)
                .order_by(Team.name, Team.id)
            )
        ).all()
    ]
    booked = (
        select(Booking.activity_id, func.count(func.distinct(Booking.household_id)).label("n"))
        .where(Booking.status == "confirmed")
        .group_by(Booking.activity_id)
        .subquery()
    )
    rows = await session.execute(
        select(Activity.id, Activity.title, Activity.start_at, booked.c.n)
        .outerjoin(booked, booked.c.activity_id == Activity.id)
        .where(
            Activity.community_id == community_id,
            Activity.status == "published",
            Activity.start_at >= clock.now() - RECENT_ACTIVITIES,
        )
        .order_by(Activity.start_at, Activity.id)
        .limit(ACTIVITY_CHOICES)
    )
    activities = [
        {"id": activity_id, "title": title, "start_at": start_at, "households": int(n or 0)}
        for activity_id, title, start_at, n in rows.all()
    ]
    return {"buildings": buildings, "teams": teams, "activities": activities}


async def describe(session: AsyncSession, user: User, community_id: int, audience: dict[str, Any]) -> str:
    """An audience in words: 全体居民, 楼栋：1栋、3栋, 有 6–10 岁孩子的家庭, 志愿团队「…」的成员,
    活动「…」已预约的家庭."""
    await require_staff(session, user, community_id)
    kind = audience.get("kind", "community")
    if kind == "buildings":
        return "楼栋：" + "、".join(str(b) for b in audience.get("buildings", []))
    if kind == "children":
        return f"有 {audience.get('min_age')}–{audience.get('max_age')} 岁孩子的家庭"
    if kind == "team":
        team = await session.get(Team, int(audience.get("team_id", 0)))
        name = team.name if team is not None and team.community_id == community_id else "（已不存在）"
        return f"志愿团队「{name}」的成员"
    if kind == "activity":
        activity = await session.get(Activity, int(audience.get("activity_id", 0)))
        title = activity.title if activity is not None and activity.community_id == community_id else "（已不存在）"
        return f"活动「{title}」已预约的家庭"
    return "全体居民"
