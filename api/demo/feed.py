"""Demo data for the record → share → re-participate loop: three activities already held (two
Saturday reading clubs and an elders' phone class, plus a garden morning), with check-ins, albums
of generated photos, likes and comments, a post waiting for review, shares and their opens, a
booking made from a share and a newcomer who joined from one — so the loop figures have something
to say. Rows are written as the services would have written them at the time (the past cannot be
booked through the API); the photos go through the same renditions as an upload."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    Booking,
    BookingAttendee,
    Comment,
    Community,
    Media,
    Member,
    Post,
    PostLike,
    PostMedia,
    PostMember,
    Series,
    Share,
    ShareOpen,
    User,
)
from api.db.session import storage_of
from api.media import images
from api.services import households
from api.services.feed.shares import new_token

# activities already held: (days ago, start, minutes, title, category, in the reading-club series,
# location, description, attendees as (login, [names, "me" for the booker]))
HELD: list[tuple[int, str, int, str, str, bool, str, str, list[tuple[str, list[str]]]]] = [
    (14, "10:00", 90, "周六读书会：《猜猜我有多爱你》", "children", True, "儿童阅读角",
     "读书会第一期：读绘本，画一画爱有多大。",
     [("chen", ["小雨"]), ("zhou", ["乐乐"]), ("xu", ["可可"]), ("ma", ["小南"]), ("li", ["朵朵"])]),
    (10, "09:30", 120, "社区花园：种下冬天的蒜苗", "parent_child", False, "党群服务站后院",
     "一起翻土、播种，认识冬天的蔬菜。", [("chen", ["me", "小树"]), ("huang", ["me", "果果"]), ("sun", ["me"])]),
    (7, "10:00", 90, "周六读书会：《好饿的毛毛虫》", "children", True, "儿童阅读角",
     "读书会第二期：数一数毛毛虫吃了什么。",
     [("chen", ["小雨"]), ("zhou", ["乐乐"]), ("huang", ["糖糖"]), ("li", ["朵朵"])]),
    (5, "15:00", 90, "长者智能手机课：学会视频通话", "elders", False, "党群服务站二楼会议室",
     "志愿者一对一教长辈用微信视频通话、看天气、挂号。",
     [("zhang", ["me"]), ("wu", ["me", "吴爷爷"]), ("liu", ["刘奶奶"])]),
]  # fmt: skip
# posts of those activities: (activity index, author login, text, photos, shows children, public,
# members it is about, liked by, comments as (login, text))
POSTS: list[tuple[int, str, str, int, bool, bool, list[str], list[str], list[tuple[str, str]]]] = [
    (0, "staff", "第一期读书会圆满结束！孩子们画出了自己心里“爱有多大”。下周六继续，欢迎报名。", 4, True, False, [],
     ["chen", "zhou", "xu", "li"], [("chen", "小雨回家还在讲大兔子和小兔子的故事。")]),
    (0, "chen", "小雨第一次在大家面前读绘本，声音有点小，但读完了！", 2, True, False, ["小雨"], ["zhou", "staff"],
     [("xu", "好棒！下次一起来。")]),
    (1, "staff", "后院的小菜地种上了蒜苗，三周后一起来看看它们长多高了。", 3, True, False, [],
     ["chen", "huang", "sun"], []),
    (2, "staff", "第二期读书会：毛毛虫吃了一个星期，孩子们数得可认真了。", 3, True, False, [], ["chen", "li", "huang"],
     [("li", "朵朵说她也想变成蝴蝶。")]),
    (2, "zhou", "乐乐今天自己借了两本书回家。", 0, True, False, ["乐乐"], ["chen"], []),
    (3, "staff", "长者智能手机课：张大爷第一次和外地的孙子视频通话。下个月还有第二课。", 3, False, True, [],
     ["zhang", "wu", "liu", "sun"], [("zhang", "谢谢志愿者，教得很耐心。")]),
]  # fmt: skip
# shares: (sharer, a post's index or an upcoming activity's title)
SHARES: list[tuple[str, int | str]] = [
    ("chen", 1),  # chen shares her post about 小雨 (community-only: members see it)
    ("staff", 5),  # the phone class's public post, to the building group chats
    ("zhou", "周六读书会：《小王子》"),  # zhou invites others to the next reading club
]
# opens: (viewer login, share index, days ago, already a resident); a viewer opens a share once a day
OPENS: list[tuple[str, int, int, bool]] = [
    ("zhou", 0, 12, True), ("xu", 0, 12, True), ("li", 0, 11, True), ("huang", 0, 6, True),
    ("zhang", 1, 4, True), ("wu", 1, 4, True), ("qian", 1, 3, False), ("sun", 1, 2, True),
    ("xu", 2, 1, True), ("ma", 2, 1, True), ("huang", 2, 0, True),
]  # fmt: skip
PALETTES = [((255, 214, 165), (253, 255, 182)), ((202, 255, 191), (155, 246, 255)), ((255, 198, 255), (189, 178, 255))]


def photo(seed: int, width: int = 960, height: int = 720) -> bytes:
    """A cheerful generated picture: a gradient, some soft shapes (no people, no words)."""
    rng = random.Random(seed)  # noqa: S311 - pictures, not secrets
    top, bottom = PALETTES[seed % len(PALETTES)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    for _ in range(9):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(40, 160)
        colour = (rng.randrange(80, 255), rng.randrange(80, 255), rng.randrange(80, 255))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def _store_photo(session: AsyncSession, community: Community, staff: User, seed: int, when: datetime) -> Media:
    data = photo(seed)
    renditions = await asyncio.to_thread(images.process, data, max_pixels=40_000_000)
    key = f"media/{community.id}/{when:%Y%m}/demo-{seed}"
    storage = storage_of(session)
    for rendition in renditions:
        await storage.put(f"{key}/{rendition.name}.jpg", rendition.data, rendition.content_type)
    media = Media(
        community_id=community.id, uploaded_by=staff.id, status="approved", kind="jpeg", size_bytes=len(data),
        width=renditions[0].width, height=renditions[0].height, key=key, created_at=when, updated_at=when,
    )  # fmt: skip
    session.add(media)
    await session.flush()
    return media


# the service project's type of each kind of activity held (all delivered under the project)
SERVICE_TYPES = {"children": "group", "parent_child": "community", "elders": "training"}


async def record_and_share(session: AsyncSession, community: Community, project_id: int | None = None) -> None:
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    staff = users["staff"]
    tz = ZoneInfo(community.timezone)
    today = clock.now().astimezone(tz).date()
    series = (
        await session.execute(select(Series).where(Series.community_id == community.id, Series.title == "周六读书会"))
    ).scalar_one()
    members: dict[str, dict[str, int]] = {}  # login → {display name or "me": member id}
    for login, user in users.items():
        mine = (
            await session.execute(select(Member).where(Member.community_id == community.id, Member.user_id == user.id))
        ).scalar_one_or_none()
        if mine is not None:
            family = (await session.execute(select(Member).where(Member.household_id == mine.household_id))).scalars()
            members[login] = {m.display_name: m.id for m in family} | {"me": mine.id}

    held: list[Activity] = []
    for days, hhmm, minutes, title, category, in_series, location, description, attendees in HELD:
        start = datetime.combine(today - timedelta(days=days), time.fromisoformat(hhmm), tz)
        published = start - timedelta(days=6)
        seats = sum(len(names) for _, names in attendees)
        activity = Activity(
            community_id=community.id, series_id=series.id if in_series else None, location=location, title=title,
            description=description, category=category, status="published", start_at=start,
            end_at=start + timedelta(minutes=minutes), capacity=max(seats, 12), taken=seats,
            registration_closes_at=start, cancel_deadline=start - timedelta(hours=2),
            checkin_opens_at=start - timedelta(minutes=30), checkin_closes_at=start + timedelta(minutes=minutes),
            child_min_age=6 if category == "children" else None, child_max_age=12 if category == "children" else None,
            published_at=published, attendance_closed_at=start + timedelta(minutes=minutes, hours=2),
            album_sent_at=start + timedelta(minutes=minutes, hours=24), created_by=staff.id,
            project_id=project_id, service_type=SERVICE_TYPES[category] if project_id else None,
            created_at=published, updated_at=published,
        )  # fmt: skip
        session.add(activity)
        await session.flush()
        held.append(activity)
        for n, (login, names) in enumerate(attendees):
            booked_at = published + timedelta(hours=2 + n)
            household = await session.get(Member, members[login]["me"])
            assert household is not None
            booking = Booking(
                activity_id=activity.id, community_id=community.id, household_id=household.household_id,
                booked_by=users[login].id, seats=len(names), status="confirmed", confirmed_at=booked_at,
                created_at=booked_at, updated_at=booked_at,
            )  # fmt: skip
            session.add(booking)
            await session.flush()
            for name in names:
                session.add(
                    BookingAttendee(
                        booking_id=booking.id,
                        activity_id=activity.id,
                        member_id=members[login][name],
                        checked_in_at=start - timedelta(minutes=5),
                        checked_in_by=staff.id,
                        checkin_method="scan",
                    )
                )
    await session.flush()

    posts: list[Post] = []
    seed = 0
    for index, login, body, photos, children, public, about, liked_by, comments in POSTS:
        activity = held[index]
        when = activity.end_at + timedelta(hours=1 + len(posts))
        author = users[login]
        post = Post(
            community_id=community.id, author_id=author.id, activity_id=activity.id, body=body,
            visibility="public" if public else "community", shows_children=children, by_staff=login == "staff",
            status="visible", text_verdict="pass", photo_count=photos, like_count=len(liked_by),
            comment_count=len(comments), visible_at=when, created_at=when, updated_at=when,
        )  # fmt: skip
        session.add(post)
        await session.flush()
        posts.append(post)
        for position in range(photos):
            seed += 1
            media = await _store_photo(session, community, author, seed, when)
            session.add(PostMedia(post_id=post.id, media_id=media.id, position=position))
        for name in about:
            session.add(PostMember(post_id=post.id, member_id=members[login][name]))
        for n, liker in enumerate(liked_by):
            session.add(PostLike(post_id=post.id, user_id=users[liker].id, created_at=when + timedelta(minutes=5 + n)))
        for n, (commenter, text) in enumerate(comments):
            at = when + timedelta(minutes=30 + n)
            session.add(
                Comment(
                    post_id=post.id,
                    author_id=users[commenter].id,
                    body=text,
                    status="visible",
                    text_verdict="pass",
                    created_at=at,
                    updated_at=at,
                )
            )
    # waiting for the social worker: WeChat's check was unsure about this one
    waiting_at = clock.now() - timedelta(hours=3)
    session.add(
        Post(
            community_id=community.id,
            author_id=users["wang"].id,
            activity_id=None,
            body="3栋楼下的车位到底归谁管？上周又被外来车辆占了，希望议事会能说清楚。",
            status="review",
            text_verdict="review",
            visible_at=None,
            created_at=waiting_at,
            updated_at=waiting_at,
        )
    )
    await session.flush()

    # the newcomer: opened the phone class's post from her building's group chat, then joined
    qian = User(openid="dev-qian", display_name="钱女士", created_at=clock.now(), updated_at=clock.now())
    session.add(qian)
    await session.flush()
    users["qian"] = qian
    shares: list[Share] = []
    for login, shared in SHARES:
        activity_id: int | None = None
        post_id: int | None = None
        if isinstance(shared, str):
            target = (
                await session.execute(
                    select(Activity).where(Activity.community_id == community.id, Activity.title == shared)
                )
            ).scalar_one()
            activity_id, made = target.id, clock.now() - timedelta(days=2)
        else:
            post_id, made = posts[shared].id, posts[shared].created_at + timedelta(hours=1)
        share = Share(
            token=new_token(), community_id=community.id, target="post" if post_id else "activity",
            activity_id=activity_id, post_id=post_id, created_by=users[login].id, created_at=made,
        )  # fmt: skip
        session.add(share)
        await session.flush()
        shares.append(share)
    for viewer, share_index, days_ago, was_member in OPENS:
        opened = max(clock.now() - timedelta(days=days_ago), shares[share_index].created_at + timedelta(minutes=30))
        session.add(
            ShareOpen(
                share_id=shares[share_index].id,
                user_id=users[viewer].id,
                day=opened.astimezone(tz).date(),
                opened_at=opened,
                was_member=was_member,
            )
        )
    await session.flush()
    # qian joins three days after opening: households.join attributes her to the share (7 days)
    await households.join(
        session, qian, community.id, {"display_name": "钱女士", "building": "6栋", "unit": "2单元", "room": "902"}
    )
    # xu booked the next reading club the day she opened zhou's invitation: attributed to it
    club = shares[2].activity_id
    xu_booking = (
        await session.execute(select(Booking).where(Booking.activity_id == club, Booking.booked_by == users["xu"].id))
    ).scalar_one_or_none()
    if xu_booking is not None:
        xu_booking.share_id = shares[2].id
    await session.flush()
