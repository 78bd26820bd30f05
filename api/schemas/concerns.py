"""Concerns (烦心事): raising them, the board, a concern's page, "me too", comments, triage,
verdicts and the community's clocks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Id, Input, Timestamp, When
from api.schemas.feed import PhotoRead

Category = Literal["parking", "sanitation", "noise", "repair", "safety", "neighbours", "children_elders", "other"]
Status = Literal["submitted", "accepted", "in_progress", "resolved", "unresolvable", "referred", "duplicate", "closed"]
Outcome = Literal["resolved", "unresolvable", "referred", "duplicate"]
Visibility = Literal["checking", "visible", "review", "rejected", "hidden"]
Answer = Literal["solved", "partly", "not_solved"]
Late = Literal["response", "resolution"]


class ConcernCreate(Input):
    category: Category = Field(description="停车、环境卫生、噪音、设施维修、安全、邻里关系、儿童与养老、其他")
    building: str = Field(default="", max_length=32, description="本社区的楼栋（如 3栋），或空")
    place: str = Field(default="", max_length=64, description="具体位置：3栋东侧车棚、小区广场")
    title: str = Field(min_length=1, max_length=64)
    body: str = Field(default="", max_length=2000)
    media_ids: list[Id] = Field(default=[], max_length=6, description="自己在本社区上传、还没用过的照片，最多 6 张")
    hide_name: bool = Field(default=False, description="不让其他居民看到我的名字（社工始终看得到）")


class Person(BaseModel):
    id: int | None = Field(description="隐藏姓名的居民和社工对其他居民为空")
    name: str = Field(description="隐藏姓名的居民对其他居民显示为“居民”，社工显示为“社工”")
    avatar_url: str | None
    staff: bool
    hidden: bool = Field(description="这个人选择了对其他居民隐藏姓名")


class ConcernCard(BaseModel):
    """A concern on the board (and among the suggestions when raising one)."""

    id: int
    community_id: int
    title: str
    category: Category
    category_label: str
    building: str
    place: str
    status: Status
    status_label: str
    outcome: Outcome | None
    level: int | None
    level_label: str | None
    responsible: str
    accept_by: Timestamp = Field(description="受理期限（提交后若干个工作日）")
    due_at: Timestamp | None = Field(description="办结期限（受理时按等级确定）")
    late: Late | None = Field(description="现在已超时的时限：response 未按时受理，resolution 未按时办结")
    metoo_count: int
    comment_count: int
    photo_count: int
    cover: PhotoRead | None = Field(description="第一张照片的缩略图（审核通过后）")
    raiser: Person
    me_too: bool = Field(description="我点过“我也遇到了”")
    created_at: Timestamp
    visibility: Visibility | None = Field(description="提出人和社工可见：checking 审核中、visible、review、rejected")


class BoardCounts(BaseModel):
    by_status: dict[str, int] = Field(description="各状态的件数（按筛选条件，不含状态筛选）")
    late: int = Field(description="其中现在已超时的件数")


class ConcernBoard(BaseModel):
    items: list[ConcernCard]
    next_cursor: str | None
    counts: BoardCounts | None = Field(description="社工：各状态和超时的件数（工作台的各列）；居民为空")


class TimelineEvent(BaseModel):
    id: int
    kind: str
    kind_label: str
    at: Timestamp
    actor: Person | None = Field(description="空：系统（如到期自动关闭）")
    body: str
    data: dict[str, Any] = Field(description="改了什么：status、level、responsible、due_at（前后值）、meeting_id…")
    public: bool


class AgendaRef(BaseModel):
    meeting_id: int
    agenda_item_id: int
    meeting_title: str
    meeting_kind: str
    meeting_kind_label: str
    starts_at: Timestamp
    meeting_status: str
    meeting_status_label: str


class VerdictRead(BaseModel):
    round: int
    answer: Answer
    answer_label: str
    stars: int
    word: str | None = Field(description="评价的话：只有本人和社工看得到")
    created_at: Timestamp
    person: Person | None = Field(description="社工可见：谁评价的")
    raiser: bool


class VerdictSummary(BaseModel):
    round: int
    n: int
    solved: int
    partly: int
    not_solved: int
    satisfied: int = Field(description="4–5 星的人数")


class ConcernDetail(ConcernCard):
    body: str
    photos: list[PhotoRead]
    result: str
    reason: str
    referred_to: str
    duplicate_of: int | None
    responded_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    reopen_count: int
    timeline: list[TimelineEvent] = Field(description="居民：公开的记录（社工显示为“社工”）；社工：全部")
    agenda: list[AgendaRef] = Field(description="列入了哪些议事会的议程")
    waiting_for_meeting: bool = Field(description="三级：等待下一次五方议事会")
    verdicts: VerdictSummary | None = Field(description="本轮评价的汇总（已解决后）")
    verdict_list: list[VerdictRead] | None = Field(description="社工：每一条评价（含评价的话）；居民为空")
    is_raiser: bool
    can_answer_verdict: bool = Field(description="我可以评价（解决了吗？）")
    my_verdict: VerdictRead | None = Field(description="我本轮的评价")
    moderation_note: str | None = Field(description="提出人和社工可见：未公开的原因")
    staff_actions: list[str] = Field(
        description="社工现在可以做的：accept、level、start、resolve、decline、close、updates、moderate；居民为空"
    )


class ConcernModeration(Input):
    approve: bool
    note: str | None = Field(default=None, max_length=200, description="不通过或下架时必填，提出人会看到")


class ReviewQueue(BaseModel):
    concerns: list[ConcernCard]
    comments: list[ConcernCommentRead]


class ConcernCommentCreate(Input):
    body: str = Field(min_length=1, max_length=500)
    hide_name: bool = Field(default=False, description="不让其他居民看到我的名字")


class ConcernCommentModeration(Input):
    approve: bool


class ConcernCommentRead(BaseModel):
    id: int
    concern_id: int
    author: Person
    body: str
    created_at: Timestamp
    status: Visibility | None = Field(description="作者和社工可见")


class ConcernAccept(Input):
    level: Literal[1, 2, 3] = Field(description="1 物业或自组织快速处理；2 工作小组处理；3 提交五方议事会")
    responsible: str = Field(default="", max_length=64, description="负责的一方（一级必填）：物业、志愿者队")
    due_at: When | None = Field(
        default=None, description="一级的完成时间（默认受理后 level1_days 天）；二、三级按时限计算，不能指定"
    )
    note: str = Field(default="", max_length=500, description="受理说明（公开）")


class ConcernLevelChange(Input):
    level: Literal[1, 2, 3]
    responsible: str | None = Field(default=None, max_length=64, description="不填则不变；一级必须有负责方")
    due_at: When | None = Field(default=None, description="仅一级：完成时间；不填则从受理时起按时限重新计算")
    note: str = Field(default="", max_length=500, description="调整说明（公开）")


class ConcernResolve(Input):
    result: str = Field(min_length=1, max_length=2000, description="处理结果（公开）")


class ConcernDecline(Input):
    outcome: Literal["unresolvable", "referred", "duplicate"]
    reason: str = Field(default="", max_length=500, description="无法解决的原因（unresolvable 必填）")
    referred_to: str = Field(default="", max_length=64, description="转给谁办（referred 必填）：街道城管科")
    duplicate_of: Id | None = Field(default=None, description="与哪件烦心事重复（duplicate 必填）")

    @model_validator(mode="after")
    def _what_the_outcome_needs(self) -> ConcernDecline:
        if self.outcome == "unresolvable" and not self.reason:
            raise ValueError("reason：无法解决时请写明原因")
        if self.outcome == "referred" and not self.referred_to:
            raise ValueError("referred_to：转办时请写明转给谁")
        if self.outcome == "duplicate" and self.duplicate_of is None:
            raise ValueError("duplicate_of：重复反映时请指明是哪一件")
        return self


class ConcernUpdateCreate(Input):
    body: str = Field(min_length=1, max_length=2000)
    public: bool = Field(default=True, description="公开（提出人和“我也遇到了”的居民会收到通知）；否则只有社工看得到")


class ConcernVerdictCreate(Input):
    answer: Answer = Field(description="solved 解决了、partly 部分解决、not_solved 没有解决")
    stars: int = Field(ge=1, le=5)
    word: str = Field(default="", max_length=200, description="想说的话（只有社工看得到）")


class GovernancePolicyWrite(Input):
    accept_working_days: int = Field(ge=1, le=30, description="提交后几个工作日内受理或答复")
    level1_days: int = Field(ge=1, le=365, description="一级：受理后几天内办结")
    level2_days: int = Field(ge=1, le=365)
    level3_days: int = Field(ge=1, le=365)
    reopen_days: int = Field(ge=1, le=90, description="解决后几天内“没有解决”会重新处理；过后自动关闭")
    follow_up_reminder_days: int = Field(ge=0, le=30, description="跟进事项到期前几天提醒负责人")


class GovernancePolicyRead(BaseModel):
    accept_working_days: int
    level1_days: int
    level2_days: int
    level3_days: int
    reopen_days: int
    follow_up_reminder_days: int
    is_default: bool = Field(description="还没有设置过，用的是默认时限")
    updated_at: Timestamp | None


ReviewQueue.model_rebuild()
