from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Day, Id, Input, Timestamp, When

# the models' MEETING_KINDS, PARTIES, DECISION_METHODS, FOLLOW_UP_STATUSES (tests check they agree)
MeetingKind = Literal["five_party", "courtyard", "working_group"]
Party = Literal["community", "property", "social_worker", "self_org", "resident_rep", "owners_committee", "other"]
Method = Literal["consensus", "vote"]
FollowUpStatus = Literal["open", "in_progress", "done", "dropped"]
Votes = Annotated[int, Field(ge=0, le=10000)]


# -- requests ------------------------------------------------------------------------------------


class MeetingCreate(Input):
    kind: MeetingKind = Field(description="five_party 五方议事会、courtyard 院落议事会、working_group 工作小组会")
    title: str = Field(min_length=1, max_length=64)
    starts_at: When
    ends_at: When
    place: str = Field(min_length=1, max_length=64)
    summary: str = Field(default="", max_length=5000, description="纪要的开头：主持人、总体情况（公布纪要后居民可见）")


class MeetingUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=64)
    starts_at: When | None = Field(default=None, description="只改开始时间时，结束时间随之平移")
    ends_at: When | None = None
    place: str | None = Field(default=None, min_length=1, max_length=64)
    summary: str | None = Field(default=None, max_length=5000, description="召开后、公布纪要前也可以修改")


class MeetingCancel(Input):
    reason: str = Field(min_length=1, max_length=200, description="已收到通知的参会人会看到")


class ParticipantCreate(Input):
    party: Party = Field(
        description=(
            "community 社区、property 物业、social_worker 社工、self_org 居民自组织、resident_rep 居民代表、"
            "owners_committee 业主委员会、other 其他"
        )
    )
    name: str = Field(default="", max_length=32, description="不填时用所选账号在本社区的称呼")
    role: str = Field(default="", max_length=32, description="如 物业经理、3栋楼栋长")
    user_id: Id | None = Field(
        default=None, description="本社区的账号（居民代表须为本社区居民）：可扫码签到、会收到议事会通知"
    )


class AgendaItemCreate(Input):
    title: str = Field(min_length=1, max_length=64)
    body: str = Field(default="", max_length=2000)


class AgendaItemUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=64, description="召开前")
    body: str | None = Field(default=None, max_length=2000, description="召开前")
    minutes: str | None = Field(default=None, max_length=5000, description="这个议题的纪要：召开后、公布纪要前")


class AgendaOrder(Input):
    item_ids: list[Id] = Field(min_length=1, max_length=100, description="本次议程的全部议题，按新的顺序")


class MeetingSelfCheckin(Input):
    code: str = Field(
        min_length=4, max_length=16, pattern=r"^[0-9A-Za-z]+$", description="现场屏幕上的签到码（每分钟更换）"
    )


class ParticipantCheckin(Input):
    participant_id: Id


class WalkinCount(Input):
    count: int = Field(ge=0, le=10000, description="没有用小程序签到的到场人数")


class DecisionCreate(Input):
    agenda_item_id: Id | None = Field(default=None, description="针对的议题（本次议程上的）；不填为议程外的决定")
    text: str = Field(min_length=1, max_length=2000)
    method: Method = Field(description="consensus 协商一致；vote 表决（须填三个票数）")
    votes_for: Votes | None = None
    votes_against: Votes | None = None
    votes_abstain: Votes | None = None


class DecisionUpdate(Input):
    agenda_item_id: Id | None = Field(default=None, description="填 null 表示不针对任何议题")
    text: str | None = Field(default=None, min_length=1, max_length=2000)
    method: Method | None = None
    votes_for: Votes | None = None
    votes_against: Votes | None = None
    votes_abstain: Votes | None = None


class FollowUpCreate(Input):
    title: str = Field(min_length=1, max_length=200)
    owner_user_id: Id | None = Field(default=None, description="负责人是本社区的账号时填；否则填负责的一方和名称")
    owner_party: Party | None = Field(default=None, description="负责的一方，取值同参会人的 party")
    owner_name: str | None = Field(default=None, min_length=1, max_length=32, description="如 王经理（物业）")
    due_on: Day = Field(description="期限（社区当地日期），不早于议事会召开的日期")


class FollowUpUpdate(Input):
    status: FollowUpStatus | None = Field(
        default=None, description="open → in_progress → done | dropped（放弃须在 note 写明原因）；完成和放弃后不能再改"
    )
    note: str | None = Field(default=None, max_length=500, description="进展，或放弃的原因")
    due_on: Day | None = Field(default=None, description="社工")
    owner_user_id: Id | None = Field(default=None, description="社工：改负责人时按新建的规则给出负责人")
    owner_party: Party | None = None
    owner_name: str | None = Field(default=None, min_length=1, max_length=32)


# -- answers -------------------------------------------------------------------------------------


class MeetingRef(BaseModel):
    id: int
    kind: str
    kind_label: str
    title: str
    starts_at: Timestamp
    status: str


class ParticipantRead(BaseModel):
    id: int
    party: str
    party_label: str
    name: str
    role: str
    user_id: int | None = Field(description="社工可见")
    has_account: bool
    checked_in_at: Timestamp | None
    checkin_method: str | None = Field(description="self 扫码、staff 社工登记")


class AgendaItemRead(BaseModel):
    id: int
    meeting_id: int
    position: int
    title: str
    body: str
    concern_id: int | None = Field(description="来自哪件烦心事（三级，自动列入）")
    minutes: str | None = Field(description="这个议题的纪要；居民在公布纪要后可见")
    hidden_from_residents: bool = Field(
        description="社工可见：来自的烦心事现在居民看不到（未通过检查、待审核或已下架），居民看到的议程里没有这个议题"
    )


class PartyAttendance(BaseModel):
    party: str
    label: str
    expected: int
    present: int


class MeetingAttendance(BaseModel):
    parties: list[PartyAttendance]
    expected: int = Field(description="名单上的人数")
    present: int = Field(description="其中已签到")
    walkins: int = Field(description="没有用小程序的到场人数")
    total: int = Field(description="到场总人数")


class FollowUpRead(BaseModel):
    id: int
    community_id: int
    decision_id: int
    decision_text: str
    meeting: MeetingRef
    title: str
    owner_user_id: int | None = Field(description="社工可见")
    owner_party: str | None
    owner_party_label: str | None
    owner_name: str
    mine: bool = Field(description="我负责的")
    due_on: date
    status: str
    status_label: str
    note: str
    done_at: Timestamp | None
    late: bool = Field(description="过了期限（社区当地日期）还没有完成或放弃")
    late_flagged_at: Timestamp | None = Field(description="社工可见：已提醒过逾期")
    published: bool = Field(description="纪要已公布（居民可见）")
    created_at: Timestamp
    updated_at: Timestamp


class DecisionRead(BaseModel):
    id: int
    meeting_id: int
    agenda_item_id: int | None
    agenda_item_title: str | None
    text: str
    method: str
    method_label: str
    how: str = Field(description="如：协商一致；表决：赞成 7 票，反对 1 票，弃权 2 票")
    votes_for: int | None
    votes_against: int | None
    votes_abstain: int | None
    follow_ups: list[FollowUpRead]


class CheckinWindow(BaseModel):
    opens_at: Timestamp
    closes_at: Timestamp


class MyParticipation(BaseModel):
    participant_id: int
    checked_in_at: Timestamp | None


class MeetingRead(BaseModel):
    id: int
    community_id: int
    kind: str
    kind_label: str
    title: str
    starts_at: Timestamp
    ends_at: Timestamp
    place: str
    status: str = Field(description="draft、agenda_published、held、minutes_published、cancelled")
    status_label: str
    agenda_published_at: Timestamp | None
    held_at: Timestamp | None
    minutes_published_at: Timestamp | None
    cancelled_at: Timestamp | None
    cancel_reason: str | None
    summary: str | None = Field(description="纪要开头；居民在公布纪要后可见")
    minutes_public: bool
    agenda: list[AgendaItemRead]
    participants: list[ParticipantRead]
    attendance: MeetingAttendance
    decisions: list[DecisionRead] = Field(description="居民在公布纪要后可见，此前为空")
    me: MyParticipation | None = Field(description="我在参会名单上时")
    checkin_window: CheckinWindow = Field(description="扫码签到的时段：开始前 1 小时到结束")


class MeetingSummary(MeetingRef):
    ends_at: Timestamp
    place: str
    status_label: str
    agenda_count: int
    participant_count: int
    present: int = Field(description="已签到和没有用小程序的到场人数")
    decision_count: int | None = Field(description="居民在公布纪要后可见")
    cancel_reason: str | None


class MeetingPage(BaseModel):
    items: list[MeetingSummary]
    next_cursor: str | None


class MeetingOnsiteCode(BaseModel):
    meeting_id: int
    code: str = Field(description="参会人也可以在小程序里手动输入这 8 个字符")
    qr_text: str = Field(
        description=(
            "做成二维码显示在现场屏幕上的内容：linli://checkin?meeting=<议事会 id>&code=<签到码>。"
            '参会人扫到后 POST /meetings/<议事会 id>/checkins/self，请求体 {"code": <签到码>}'
        )
    )
    valid_until: Timestamp
    rotates_every_seconds: int
    window: CheckinWindow


class MeetingCheckinResult(BaseModel):
    meeting_id: int
    participant: ParticipantRead
    checked_in_now: bool
    already_checked_in: bool = Field(description="之前已签到：这次什么也没改变")
    attendance: MeetingAttendance


class OwnerSummary(BaseModel):
    owner_name: str
    owner_party: str | None
    owner_party_label: str | None
    total: int
    open: int = Field(description="待办和进行中")
    late: int


class FollowUpCounts(BaseModel):
    open: int
    in_progress: int
    done: int
    dropped: int
    late: int


class FollowUpList(BaseModel):
    items: list[FollowUpRead] = Field(description="按负责人、期限排列")
    owners: list[OwnerSummary]
    counts: FollowUpCounts
    truncated: bool = Field(description="超过 500 条时只列出前 500 条")
