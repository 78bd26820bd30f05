from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, field_validator, model_validator

from api.schemas.common import Id, Input, Schema, Timestamp, When
from api.schemas.common import has_control as _has_control

SubscribeResult = Literal["accept", "reject", "ban", "filter"]
TEMPLATE_ID_MAX = 128  # subscription_credits.template_id
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "no_credit", "cancelled"]

# -- inbox ---------------------------------------------------------------------------------------


class InboxEntry(Schema):
    id: int
    community_id: int
    kind: str
    title: str
    body: str
    page: str = Field(description="小程序内的跳转页面（含参数）")
    created_at: Timestamp
    read_at: Timestamp | None


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
        if len(value.get("errMsg", "")) > 256 or any(_has_control(k) or _has_control(v) for k, v in value.items()):
            raise ValueError("不能含有换行或控制字符，errMsg 最多 256 个字符")
        results = {k: v for k, v in value.items() if k != "errMsg"}
        if not results:
            raise ValueError("没有任何模板的订阅结果")
        if len(results) > 20:
            raise ValueError("一次最多 20 个模板")
        for template_id, result in results.items():
            if not 1 <= len(template_id) <= TEMPLATE_ID_MAX:
                raise ValueError(f"模板编号应为 1–{TEMPLATE_ID_MAX} 个字符")
            if result not in ("accept", "reject", "ban", "filter"):
                raise ValueError(f"{template_id}：结果应为 accept、reject、ban 或 filter")
        return results


class KindLabel(BaseModel):
    kind: str
    label: str


class SubscriptionTemplate(BaseModel):
    template_id: str
    kinds: list[KindLabel] = Field(description="这个模板会发送的消息")
    credits: int = Field(description="还能收到几条该模板的微信消息（每次“允许”加一条）")
    last_result: Literal["accept", "reject", "ban"] | None
    updated_at: Timestamp | None


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
    created_at: Timestamp
    sent_at: Timestamp | None


class DeliveryAttemptRead(BaseModel):
    attempted_at: Timestamp
    outcome: Literal["sent", "retry", "failed", "no_credit"]
    errcode: int | None
    errmsg: str | None


class DeliveryDetail(DeliveryRead):
    attempt_log: list[DeliveryAttemptRead]


# -- announcements -------------------------------------------------------------------------------


class CommunityAudience(Input):
    kind: Literal["community"] = "community"


class BuildingsAudience(Input):
    kind: Literal["buildings"]
    buildings: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=100, description="楼栋，如 3栋、5号楼"
    )


class ChildrenAudience(Input):
    kind: Literal["children"]
    min_age: int = Field(ge=0, le=17, description="有该年龄段孩子的家庭（按出生年份计）")
    max_age: int = Field(ge=0, le=17)

    @model_validator(mode="after")
    def _ordered(self) -> ChildrenAudience:
        if self.min_age > self.max_age:
            raise ValueError("min_age：最小年龄不能大于 max_age")
        return self


class TeamAudience(Input):
    kind: Literal["team"]
    team_id: Id


class ActivityAudience(Input):
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
    publish_at: When | None = Field(default=None, description="定时发布；不填即刻发布")


class AnnouncementUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=64)
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    pinned: bool | None = None
    audience: Audience | None = Field(default=None, description="仅发布前可改")
    publish_at: When | None = Field(default=None, description="仅发布前可改")


class AnnouncementStats(BaseModel):
    recipients: int = Field(description="发布时送达收件箱的人数")
    read: int = Field(description="已读人数")
    inbox: int
    wechat: dict[DeliveryStatus, int] = Field(description="微信订阅消息，按状态计数")


class AnnouncementRevisionRead(BaseModel):
    editor_id: int | None
    edited_at: Timestamp
    title: str
    body: str


class ResidentAnnouncement(BaseModel):
    """A resident's view: what the notice says, when it came out, and whether they have read it."""

    view: Literal["resident"] = Field(description="居民看到的公告（没有统计、发送对象等社工字段）")
    id: int
    community_id: int
    title: str
    excerpt: str = Field(description="正文开头（列表用）")
    body: str | None = Field(description="列表中为空，详情中为全文")
    pinned: bool
    published_at: Timestamp
    edited_at: Timestamp | None = Field(description="发布后被修改过的时间（显示“已修改”）")
    read: bool = Field(description="我是否已读")


class StaffAnnouncement(BaseModel):
    """The staff's view: the notice with its state, audience, read counts, pushes and revisions."""

    view: Literal["staff"] = Field(description="社工看到的公告（含状态、发送对象、已读数与推送统计）")
    id: int
    community_id: int
    title: str
    excerpt: str
    body: str | None = Field(description="列表中为空，详情中为全文")
    pinned: bool
    published_at: Timestamp | None = Field(description="定时发布、尚未发出时为空")
    edited_at: Timestamp | None = Field(description="发布后被修改过的时间")
    read: bool
    status: Literal["scheduled", "published", "withdrawn"]
    publish_at: Timestamp = Field(description="发布时间（定时发布的时间）")
    audience: dict[str, Any] = Field(description="发送对象，与发布时填写的 audience 相同")
    author_id: int | None
    withdrawn_at: Timestamp | None
    stats: AnnouncementStats
    revisions: list[AnnouncementRevisionRead] | None = Field(description="发布后的修改记录（原文）；列表中为空")


AnnouncementRead = Annotated[
    ResidentAnnouncement | StaffAnnouncement,
    Field(
        discriminator="view",
        description="view 为 resident：居民的公告；view 为 staff：本社区社工的公告（含统计）",
    ),
]


class AnnouncementPage(BaseModel):
    items: list[AnnouncementRead]
    next_cursor: str | None = None
