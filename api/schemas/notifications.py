from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, RootModel, field_validator, model_validator

from api.schemas.common import Id, Input, Schema

SubscribeResult = Literal["accept", "reject", "ban", "filter"]
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "no_credit", "cancelled"]

# -- inbox ---------------------------------------------------------------------------------------


class InboxEntry(Schema):
    id: int
    community_id: int
    kind: str
    title: str
    body: str
    page: str = Field(description="小程序内的跳转页面（含参数）")
    created_at: datetime
    read_at: datetime | None


class InboxPage(BaseModel):
    items: list[InboxEntry]
    next_cursor: str | None = None
    unread_count: int = Field(description="所有社区的未读消息数")


class ReadAllResult(BaseModel):
    updated: int


# -- subscriptions -------------------------------------------------------------------------------


class SubscriptionReport(RootModel[dict[str, str]]):
    """What `wx.requestSubscribeMessage` answered, as it answered it:
    `{"errMsg": "requestSubscribeMessage:ok", "<template id>": "accept" | "reject" | "ban" | "filter"}`."""

    @field_validator("root")
    @classmethod
    def _results(cls, value: dict[str, str]) -> dict[str, str]:
        results = {k: v for k, v in value.items() if k != "errMsg"}
        if not results:
            raise ValueError("no template results")
        if len(results) > 20:
            raise ValueError("at most 20 templates at a time")
        for template_id, result in results.items():
            if not 1 <= len(template_id) <= 128:
                raise ValueError("template ids are 1–128 characters")
            if result not in ("accept", "reject", "ban", "filter"):
                raise ValueError(f"{template_id}: the result is accept, reject, ban or filter")
        return results


class KindLabel(BaseModel):
    kind: str
    label: str


class SubscriptionTemplate(BaseModel):
    template_id: str
    kinds: list[KindLabel] = Field(description="这个模板会发送的消息")
    credits: int = Field(description="还能收到几条该模板的微信消息（每次“允许”加一条）")
    last_result: Literal["accept", "reject", "ban"] | None
    updated_at: datetime | None


class SubscriptionsRead(BaseModel):
    templates: list[SubscriptionTemplate]
    ignored: list[str] = Field(default=[], description="本服务不使用的模板 id，未记录")


# -- deliveries (staff) --------------------------------------------------------------------------


class Recipient(BaseModel):
    user_id: int
    display_name: str


class DeliveryRead(BaseModel):
    id: int
    notification_id: int
    kind: str
    cause_key: str
    title: str
    recipient: Recipient
    template_id: str
    status: DeliveryStatus
    attempts: int
    errcode: int | None
    error: str | None
    request: dict[str, Any] | None = Field(
        description="发给微信的 subscribe/send 请求体（fake 模式下即“本应发送”的内容）"
    )
    created_at: datetime
    sent_at: datetime | None


class DeliveryAttemptRead(BaseModel):
    attempted_at: datetime
    outcome: Literal["sent", "retry", "failed", "no_credit"]
    errcode: int | None
    errmsg: str | None


class DeliveryDetail(DeliveryRead):
    attempt_log: list[DeliveryAttemptRead]


# -- announcements -------------------------------------------------------------------------------


class CommunityAudience(BaseModel):
    kind: Literal["community"] = "community"


class BuildingsAudience(Input):
    kind: Literal["buildings"]
    buildings: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=100, description="楼栋，如 3栋、5号楼"
    )


class ChildrenAudience(BaseModel):
    kind: Literal["children"]
    min_age: int = Field(ge=0, le=17, description="有该年龄段孩子的家庭（按出生年份计）")
    max_age: int = Field(ge=0, le=17)

    @model_validator(mode="after")
    def _ordered(self) -> ChildrenAudience:
        if self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        return self


class TeamAudience(BaseModel):
    kind: Literal["team"]
    team_id: Id


class ActivityAudience(BaseModel):
    kind: Literal["activity"]
    activity_id: Id = Field(description="该活动已确认预约的家庭")


Audience = Annotated[
    CommunityAudience | BuildingsAudience | ChildrenAudience | TeamAudience | ActivityAudience,
    Field(discriminator="kind"),
]


class AnnouncementCreate(Input):
    title: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=5000)
    audience: Audience = Field(default_factory=CommunityAudience, description="默认全体居民")
    pinned: bool = False
    publish_at: AwareDatetime | None = Field(default=None, description="定时发布；不填即刻发布")


class AnnouncementUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=64)
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    pinned: bool | None = None
    audience: Audience | None = Field(default=None, description="仅发布前可改")
    publish_at: AwareDatetime | None = Field(default=None, description="仅发布前可改")


class AnnouncementStats(BaseModel):
    recipients: int = Field(description="发布时送达收件箱的人数")
    read: int = Field(description="已读人数")
    inbox: int
    wechat: dict[DeliveryStatus, int] = Field(description="微信订阅消息，按状态计数")


class AnnouncementRevisionRead(BaseModel):
    editor_id: int | None
    edited_at: datetime
    title: str
    body: str


class AnnouncementView(BaseModel):
    id: int
    community_id: int
    title: str
    excerpt: str
    body: str | None = Field(description="列表中为空，详情中为全文")
    pinned: bool
    published_at: datetime | None
    edited_at: datetime | None = Field(description="发布后被修改过的时间")
    read: bool
    # staff only
    status: Literal["scheduled", "published", "withdrawn"] | None = None
    publish_at: datetime | None = None
    audience: dict[str, Any] | None = None
    author_id: int | None = None
    withdrawn_at: datetime | None = None
    stats: AnnouncementStats | None = None
    revisions: list[AnnouncementRevisionRead] | None = None


class AnnouncementPage(BaseModel):
    items: list[AnnouncementView]
    next_cursor: str | None = None
