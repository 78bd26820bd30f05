"""Reading posts: the community's feed, an activity's album, a person's growth album, one post.

A page is three queries whatever its size: the posts (with their authors' names and avatars and
their activities), their photos, and what the reader has to do with them (the ones they liked, and
the people tagged whom they may see); the feed's first page adds two small ones (pinned posts, the
reader's own posts still waiting), each served by its own partial index.

Who a post is about (its tags, `members`) is the business of those people's household and the
community's staff: anyone else gets the post as its visibility allows, with no tags at all — no
names, no ids, not even how many.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from sqlalchemy import Select, String, cast, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.db.base import IdType
from api.db.models import Activity, Media, Member, Post, PostLike, PostMedia, PostMember, User
from api.errors import NotFound
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import RANK, is_staff, reader_role, require_reader
from api.services.activities.browse import visible_activity
from api.services.activities.common import my_member
from api.services.feed.media import RENDITIONS, photo_view

PINNED_ON_TOP = 3


def unnamed(staff: bool) -> str:
    """What an author without a name is called (a social worker who never joined a household, an
    account gone)."""
    return "社工" if staff else "居民"


class PostRow(NamedTuple):
    """A post with what its views show of the rows around it."""

    post: Any  # a Post, or a plain row with a Post's column names
    author_name: str | None
    author_avatar: str | None
    activity_title: str | None


async def _reader_marks(
    session: AsyncSession, user: User, ids: list[int], staff: bool
) -> tuple[set[int], dict[int, list[dict[str, Any]]]]:
    """Which of the posts the reader liked, and per post the tagged people the reader may see
    (staff: everyone; a resident: the members of their own household). One statement, so that a
    page stays at three queries: the likes are the rows without a member."""
    likes = select(
        PostLike.post_id.label("post_id"),
        cast(null(), IdType).label("member_id"),
        cast(null(), String).label("name"),
    ).where(PostLike.user_id == user.id, PostLike.post_id.in_(ids))
    tags = (
        select(PostMember.post_id, Member.id, Member.display_name)
        .join(Member, Member.id == PostMember.member_id)
        .where(PostMember.post_id.in_(ids))
    )
    if not staff:
        mine = aliased(Member)
        tags = tags.where(
            Member.household_id.in_(
                select(mine.household_id).where(
                    mine.community_id == Member.community_id, mine.user_id == user.id, mine.status == "active"
                )
            )
        )
    liked: set[int] = set()
    tagged: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in (await session.execute(union_all(likes, tags))).all():
        if row.member_id is None:
            liked.add(row.post_id)
        else:
            tagged[row.post_id].append({"id": row.member_id, "name": row.name})
    for people in tagged.values():
        people.sort(key=lambda person: int(person["id"]))
    return liked, tagged


async def views(
    session: AsyncSession,
    user: User,
    posts: list[PostRow],
    *,
    staff: bool,
    sizes: tuple[str, ...] = ("thumb", "feed"),
) -> list[dict[str, Any]]:
    """Posts as a reader gets them: photos ready for them, whether they liked each, and the
    tagged people only of their own household (staff: all)."""
    ids = [row.post.id for row in posts]
    photos: dict[int, list[Any]] = defaultdict(list)
    liked: set[int] = set()
    tagged: dict[int, list[dict[str, Any]]] = {}
    if ids:
        # plain rows, not ORM objects: a page has dozens of photos and nothing here changes them
        rows = await session.execute(
            select(PostMedia.post_id, Media.id, Media.width, Media.height, Media.status, Media.key)
            .join(Media, Media.id == PostMedia.media_id)
            .where(PostMedia.post_id.in_(ids))
            .order_by(PostMedia.post_id, PostMedia.position)
        )
        for row in rows.all():
            photos[row.post_id].append(row)
        liked, tagged = await _reader_marks(session, user, ids, staff)
    out = []
    for post, author, avatar, activity_title in posts:
        own = post.author_id == user.id
        view: dict[str, Any] = {
            "id": post.id,
            "community_id": post.community_id,
            "author": {
                "id": post.author_id,
                "name": author or unnamed(post.by_staff),
                "avatar_url": avatar,
                "staff": post.by_staff,
            },
            "body": post.body,
            "activity": {"id": post.activity_id, "title": activity_title} if post.activity_id else None,
            "photos": [photo_view(session, m, sizes, own or staff) for m in photos[post.id]],
            "members": tagged.get(post.id, []),
            "like_count": post.like_count,
            "comment_count": post.comment_count,
            "liked": post.id in liked,
            "pinned": post.pinned,
            "visibility": post.visibility,
            "shows_children": post.shows_children,
            "created_at": post.created_at,
            "status": post.status if (own or staff) else None,
            "moderation_note": post.moderation_note if (own or staff) else None,
        }
        out.append(view)
    return out


def _with_names(query: Select[Any]) -> Select[Any]:
    return (
        query.add_columns(
            User.display_name.label("author_name"),
            User.avatar_url.label("author_avatar"),
            Activity.title.label("activity_title"),
        )
        .outerjoin(User, User.id == Post.author_id)
        .outerjoin(Activity, Activity.id == Post.activity_id)
    )


# lists of posts are read as plain rows (a Row has the Post's column names), not ORM objects: a
# page is read-only, and building objects was a third of a feed request's CPU time
POST_COLUMNS = tuple(Post.__table__.c)


def posts_query() -> Select[Any]:
    return select(*POST_COLUMNS)


async def rows_of(session: AsyncSession, query: Select[Any]) -> list[PostRow]:
    """The posts of `query` (made with posts_query()) with their author's name and avatar and
    their activity's title, in the same statement."""
    return [
        PostRow(r, r.author_name, r.author_avatar, r.activity_title)
        for r in (await session.execute(_with_names(query))).all()
    ]


async def row_of(session: AsyncSession, post_id: int) -> PostRow:
    """One post as `rows_of` reads it (what a detail or a share shows), as it stands now."""
    (row,) = await rows_of(session, posts_query().where(Post.id == post_id))
    return row


async def _page(
    session: AsyncSession, query: Select[Any], cursor: str | None, limit: int
) -> tuple[list[PostRow], str | None]:
    """Newest first, in (created_at, id) cursor pages."""
    query = query.order_by(Post.created_at.desc(), Post.id.desc()).limit(limit + 1)
    if cursor:
        query = query.where(after_time_and_id(cursor, Post.created_at, Post.id, ascending=False))
    rows = await rows_of(session, query)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][0].created_at.isoformat(), page[-1][0].id) if len(rows) > limit else None
    return page, next_cursor


async def feed(session: AsyncSession, user: User, community_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    """The community's visible posts, newest first, in cursor pages. The first page also carries
    the (up to three) pinned posts, which the pages leave out, and the reader's own posts still
    being checked or refused."""
    staff = await require_reader(session, user, community_id)
    # the pinned posts are on top of the first page, and so left out of the pages below on every
    # page (a small look-up on their partial index), so that nobody sees them twice
    pinned = await rows_of(
        session,
        posts_query()
        .where(Post.community_id == community_id, Post.status == "visible", Post.pinned)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(PINNED_ON_TOP),
    )
    query = posts_query().where(Post.community_id == community_id, Post.status == "visible")
    if pinned:
        query = query.where(Post.id.not_in([row.post.id for row in pinned]))
    page, next_cursor = await _page(session, query, cursor, limit)
    mine: list[PostRow] = []
    if cursor is None:
        mine = await rows_of(
            session,
            posts_query()
            .where(Post.community_id == community_id, Post.author_id == user.id, Post.status != "visible")
            .order_by(Post.id.desc())
            .limit(20),
        )
    else:
        pinned = []
    # one look-up of photos and likes for the three lists together
    viewed = await views(session, user, page + pinned + mine, staff=staff)
    return {
        "items": viewed[: len(page)],
        "next_cursor": next_cursor,
        "pinned": viewed[len(page) : len(page) + len(pinned)],
        "mine_waiting": viewed[len(page) + len(pinned) :],
    }


async def post_detail(session: AsyncSession, user: User, post_id: int) -> dict[str, Any]:
    """One post, for whoever may see it (`seeable_post`), with its photos in every size."""
    post, staff = await seeable_post(session, user, post_id)
    (view,) = await views(session, user, [await row_of(session, post.id)], staff=staff, sizes=RENDITIONS)
    return view


async def album(session: AsyncSession, user: User, activity_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    """An activity's album: its visible posts, newest first."""
    activity, staff = await visible_activity(session, user, activity_id)
    if not staff and await reader_role(session, user, activity.community_id) is None:
        raise NotFound("activity_not_found", "活动不存在")
    page, next_cursor = await _page(
        session, posts_query().where(Post.activity_id == activity.id, Post.status == "visible"), cursor, limit
    )
    return {
        "activity": {"id": activity.id, "title": activity.title, "start_at": activity.start_at},
        "items": await views(session, user, page, staff=staff),
        "next_cursor": next_cursor,
    }


async def growth_album(
    session: AsyncSession, user: User, member_id: int, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A person's growth album (成长相册): the visible posts naming them, for their own household
    and the community's staff only."""
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound("member_not_found", "找不到这个人")
    staff = await is_staff(session, user, member.community_id)
    if not staff:
        mine = await my_member(session, user, member.community_id)
        if mine is None or mine.household_id != member.household_id:
            raise NotFound("member_not_found", "找不到这个人")
    query = (
        posts_query()
        .join(PostMember, PostMember.post_id == Post.id)
        .where(PostMember.member_id == member.id, Post.status == "visible")
    )
    page, next_cursor = await _page(session, query, cursor, limit)
    return {
        "member": {"id": member.id, "name": member.display_name},
        "items": await views(session, user, page, staff=staff),
        "next_cursor": next_cursor,
    }


async def seeable_post(session: AsyncSession, user: User, post_id: int) -> tuple[Post, bool]:
    """The post if the caller may see it: visible ones to anyone of its community, the others to
    their author and staff; everyone else gets 404. Also whether the caller is staff there."""
    post = await session.get(Post, post_id)
    role = await reader_role(session, user, post.community_id) if post is not None else None
    if post is None or role is None:
        raise NotFound("post_not_found", "找不到这条动态")
    staff = RANK[role] >= RANK["staff"]
    if post.status != "visible" and not staff and post.author_id != user.id:
        raise NotFound("post_not_found", "找不到这条动态")
    return post, staff
