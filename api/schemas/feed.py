from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.activities import ActivityDetail
from api.schemas.common import Id, Input, Timestamp


class PhotoRead(BaseModel):
    id: int
    width: int
    height: int
    urls: dict[str, str] | None = Field(
        description="thumb（320×320）、feed（长边 1080）、large（长边 2048，详情页）；有效期内的链接；处理中为空"
    )


class MediaRead(PhotoRead):
    status: Literal["processing", "checking", "approved", "review", "rejected", "failed"] | None = None
    error: str | None = None


class PostCreate(Input):
    body: str = Field(default="", max_length=2000)
    media_ids: list[Id] = Field(default=[], max_length=9, description="自己上传的照片，最多 9 张")
    activity_id: Id | None = Field(default=None, description="发到这个活动的相册（居民须已签到）")
    member_ids: list[Id] = Field(default=[], max_length=20, description="照片里的家人（进入他们的成长相册）")
    visibility: Literal["community", "public"] = Field(default="community", description="public：可以分享给社区外的人")
    shows_children: bool = Field(default=False, description="照片里有孩子：只在社区内可见")


class PostUpdate(Input):
    pinned: bool | None = Field(default=None, description="置顶（社工）")
    shows_children: bool | None = Field(default=None, description="标记有孩子（作者或社工）：之后只在社区内可见")


class Author(BaseModel):
    id: int | None
    name: str = Field(description="昵称；没有昵称或账号已注销时为“居民”（社工为“社工”）")
    avatar_url: str | None = Field(description="头像链接；没有头像时为空（显示默认头像）")
    staff: bool = Field(description="社工")


class ActivityRef(BaseModel):
    id: int | None
    title: str | None


class MemberRef(BaseModel):
    """A household member (a child, an elder, a resident), as their own household and staff see them."""

    id: int
    name: str


class PostRead(BaseModel):
    id: int
    community_id: int
    author: Author
    body: str
    activity: ActivityRef | None
    photos: list[PhotoRead]
    members: list[MemberRef] = Field(
        description="动态标记的家人（成长相册）：只有他们本户的人和社工看得到；其他人看到的总是空列表"
    )
    like_count: int
    comment_count: int
    liked: bool
    pinned: bool
    visibility: str
    shows_children: bool
    created_at: Timestamp
    status: str | None = Field(
        description="作者和社工可见：checking 审核中、visible、review 待社工审核、rejected、hidden"
    )
    moderation_note: str | None


class FeedPage(BaseModel):
    items: list[PostRead]
    next_cursor: str | None
    pinned: list[PostRead] = Field(description="置顶（最多 3 条，仅第一页；不在 items 中重复）")
    mine_waiting: list[PostRead] = Field(description="我还在审核中或未通过的动态（仅第一页）")


class AlbumActivity(BaseModel):
    id: int
    title: str
    start_at: Timestamp


class AlbumPage(BaseModel):
    activity: AlbumActivity
    items: list[PostRead]
    next_cursor: str | None


class GrowthAlbumPage(BaseModel):
    member: MemberRef
    items: list[PostRead]
    next_cursor: str | None


class Decision(Input):
    approve: bool
    note: str | None = Field(default=None, max_length=200, description="不通过时必填，作者会看到")


class HideRequest(Input):
    note: str = Field(min_length=1, max_length=200)


class CommentCreate(Input):
    body: str = Field(min_length=1, max_length=500)


class CommentRead(BaseModel):
    id: int
    post_id: int
    author: Author
    body: str
    created_at: Timestamp
    status: str | None


class ReportCreate(Input):
    reason: str = Field(min_length=1, max_length=200)


class ModerationQueue(BaseModel):
    posts: list[PostRead]
    comments: list[CommentRead]


class ShareCreate(Input):
    target: Literal["activity", "post"]
    id: Id


class ShareRead(BaseModel):
    token: str
    target: str
    id: int | None
    path: str = Field(description="小程序页面路径（带 token），用于 onShareAppMessage")
    code_url: str | None = Field(description="小程序码图片；生成后才有（稍后再取）")


class Community(BaseModel):
    id: int
    name: str


class ShareOpened(BaseModel):
    token: str
    target: str
    community: Community
    is_member: bool
    activity: ActivityDetail | None = Field(
        description="分享的活动：社区居民看到的与小程序里一样；其他人看到公开的内容和加入社区的方式（join）"
    )
    post: PostRead | None = Field(description="空：分享已不可见，或只在社区内可见（见 members_only）")
    members_only: bool = Field(description="只在社区内可见的动态：加入社区后才能看到（不透露任何内容）")


class LoopFigures(BaseModel):
    booked: int
    attended: int
    posts: int
    photos: int
    shares: int
    share_opens: int
    bookings_from_shares: int
    new_residents_from_shares: int
    attending_members: int = Field(description="签到的居民（不含临时来宾）")
    came_back: int = Field(description="其中在活动开始后到结束后 30 天内又预约了别的活动的人")
    reparticipation_rate: float | None


class ActivityLoop(LoopFigures):
    activity_id: int
    title: str


class CommunityLoop(LoopFigures):
    month: str
    activities: int
