"""Following a category of activities: a resident hears of each new one in their community."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api import clock
from api.db.models import Activity, CategoryFollow, CommunityMembership, Member, User
from api.db.upsert import insert_ignore
from api.schemas.activities import CATEGORY_LABELS
from api.services.access import require_member
from api.services.activities.common import activity_params, community_tz, for_children_of
from api.services.notifications import notify

# what a notice calls a category: its label, as /categories gives it ("儿童活动", "议事协商活动")
CATEGORY_NAMES: dict[str, str] = {value: f"{label}活动" for value, label in CATEGORY_LABELS.items()}


async def follow(session: AsyncSession, user: User, community_id: int, category: str, on: bool) -> None:
    """Follow or stop following; doing it twice changes nothing."""
    await require_member(session, user, community_id)
    if on:
        await insert_ignore(
            session,
            CategoryFollow,
            {"user_id": user.id, "community_id": community_id, "category": category, "created_at": clock.now()},
            ["user_id", "community_id", "category"],
        )
    else:
        await session.execute(
            delete(CategoryFollow).where(
                CategoryFollow.user_id == user.id,
                CategoryFollow.community_id == community_id,
                CategoryFollow.category == category,
            )
        )


async def followed(session: AsyncSession, user: User, community_id: int) -> list[str]:
    await require_member(session, user, community_id)
    rows = await session.execute(
        select(CategoryFollow.category).where(
            CategoryFollow.user_id == user.id, CategoryFollow.community_id == community_id
        )
    )
    return sorted(rows.scalars())


async def tell_followers(session: AsyncSession, activity: Activity) -> int:
    """A new activity was published: its category's followers hear of it — of one with an age
    range, only those with a child it suits (`for_children_of`, the rule of "for my children"),
    of one without, every follower. The cause is the same as the series' new-session notice, so
    someone following both hears once."""
    query = (
        select(CategoryFollow.user_id)
        .join(  # who has left the community hears no more of it
            CommunityMembership,
            (CommunityMembership.user_id == CategoryFollow.user_id)
            & (CommunityMembership.community_id == CategoryFollow.community_id),
        )
        .where(CategoryFollow.community_id == activity.community_id, CategoryFollow.category == activity.category)
    )
    if activity.child_min_age is not None or activity.child_max_age is not None:
        follower = aliased(Member)
        query = (
            query.join(Activity, Activity.id == activity.id)
            .join(
                follower,
                (follower.community_id == CategoryFollow.community_id)
                & (follower.user_id == CategoryFollow.user_id)
                & (follower.status == "active"),
            )
            .where(for_children_of(follower.household_id, await community_tz(session, activity.community_id)))
        )
    followers = (await session.execute(query)).scalars()
    return await notify(
        session,
        list(followers),
        "category.new_activity",
        {**await activity_params(session, activity), "category": CATEGORY_NAMES[activity.category]},
        f"activity:{activity.id}:published",
        community_id=activity.community_id,
    )
