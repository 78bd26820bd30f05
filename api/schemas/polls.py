from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Id, Input, Timestamp, When
from api.schemas.feed import PhotoRead

# the models' POLL_KINDS, ELECTORATES, POLL_RULES, POLL_STATUSES, TIE_RULES, QUESTION_KINDS, CHANNELS,
# OBJECTION_STATUSES (tests check they agree)
PollKind = Literal["poll", "election"]
Electorate = Literal["resident", "household", "flat"]
PollRule = Literal["majority", "quorum", "art278"]
PollStatus = Literal["draft", "scheduled", "open", "closed", "cancelled"]
TieRule = Literal["runoff", "lot"]
QuestionKind = Literal["single", "multiple"]
Channel = Literal["app", "paper", "proxy"]
EntryChannel = Literal["paper", "proxy"]
ObjectionVerdict = Literal["upheld", "dismissed"]


# -- requests ------------------------------------------------------------------------------------


class PollOption(Input):
    label: str = Field(min_length=1, max_length=64, description="选项，如 同意、反对、弃权")
    statement: str = Field(default="", max_length=500, description="说明（可不填）")
    approves: bool = Field(default=False, description="这个选项表示同意（按第二百七十八条表决时每题恰好一个）")


class PollQuestion(Input):
    text: str = Field(min_length=1, max_length=200)
    kind: QuestionKind = Field(default="single", description="single 单选、multiple 多选")
    min_choices: int | None = Field(default=None, ge=0, le=30, description="多选：至少选几项（默认 1）；单选为 1")
    max_choices: int | None = Field(default=None, ge=1, le=30, description="多选：最多选几项（默认为选项数）；单选为 1")
    allow_text: bool = Field(default=False, description="可以另外填写文字意见")
    options: list[PollOption] = Field(min_length=2, max_length=30)


class PollCandidate(Input):
    name: str = Field(min_length=1, max_length=32, description="候选人姓名")
    statement: str = Field(default="", max_length=500, description="简短的个人介绍或承诺")


class PollCreate(Input):
    kind: PollKind = Field(default="poll", description="poll 投票（题目）、election 选举（候选人）")
    title: str = Field(min_length=1, max_length=64)
    body: str = Field(default="", max_length=5000, description="要表决的事项、选举办法等")
    electorate: Electorate = Field(
        description=(
            "resident 每位成年居民、household 每户、flat 每套房（登记了面积的每套房，不论谁住，按专有部分面积计；"
            "只有业主户的成员在小程序里投票，其余房屋的业主用纸质选票或委托投票）"
        )
    )
    rule: PollRule = Field(
        default="majority",
        description=(
            "majority 所投票数过半；quorum 参与率达到 quorum_percent 后过半；"
            "art278 《民法典》第二百七十八条：参与的面积和人数都达到三分之二，"
            "同意的面积和人数都过半（special_majority 为四分之三），只用于 flat；"
            "选举（如选举业主委员会）也可以用：候选人得票的面积和人数都须超过参与表决的一半，再按得票面积取前几名"
        ),
    )
    quorum_percent: int | None = Field(default=None, ge=1, le=100, description="rule 为 quorum 时必填")
    special_majority: bool = Field(
        default=False, description="art278 的投票（不用于选举）：维修资金、改建重建、改变用途等须四分之三"
    )
    owners_assembly: bool = Field(
        default=False, description="art278：按业主大会议事规则召集的表决；否则结果只是意向征询，不是决定"
    )
    secret: bool = Field(
        default=False,
        description=(
            "无记名：选票与投票人分开保存，投票人凭回执核对，投出后不能修改；"
            "按房屋（flat）投票不能无记名（各选项的面积合计会暴露谁投了什么）"
        ),
    )
    seats: int | None = Field(default=None, ge=1, le=50, description="选举：应选人数，每张选票最多选这么多人")
    tie_rule: TieRule | None = Field(default=None, description="选举：最后一个名额票数相同时 runoff 决选投票、lot 抽签")
    objection_days: int = Field(
        default=0, ge=0, le=30, description="名册在投票开始前公示的天数（公示期内居民可提出异议）"
    )
    opens_at: When
    closes_at: When
    questions: list[PollQuestion] = Field(default=[], max_length=20, description="投票的题目（选举不填）")
    candidates: list[PollCandidate] = Field(default=[], max_length=100, description="选举的候选人（投票不填）")


class PollUpdate(Input):
    kind: PollKind | None = None
    title: str | None = Field(default=None, min_length=1, max_length=64)
    body: str | None = Field(default=None, max_length=5000)
    electorate: Electorate | None = None
    rule: PollRule | None = None
    quorum_percent: int | None = Field(default=None, ge=1, le=100)
    special_majority: bool | None = None
    owners_assembly: bool | None = None
    secret: bool | None = None
    seats: int | None = Field(default=None, ge=1, le=50)
    tie_rule: TieRule | None = None
    objection_days: int | None = Field(default=None, ge=0, le=30)
    opens_at: When | None = None
    closes_at: When | None = None
    questions: list[PollQuestion] | None = Field(default=None, max_length=20)
    candidates: list[PollCandidate] | None = Field(default=None, max_length=100)


class PollCancel(Input):
    reason: str = Field(min_length=1, max_length=200, description="居民会看到")


class PollObjectionCreate(Input):
    body: str = Field(min_length=1, max_length=500, description="谁漏登了、谁不应在名册上，为什么")


class PollObjectionAnswer(Input):
    status: ObjectionVerdict = Field(description="upheld 异议成立、dismissed 不成立")
    answer: str = Field(min_length=1, max_length=500, description="给提出异议的居民的答复")
    strike_elector_id: Id | None = Field(default=None, description="成立时：从名册上划去这位选民（名册的 id）")
    add_member_id: Id | None = Field(default=None, description="成立时：补登这位居民（按人投票时）")
    add_household_id: Id | None = Field(default=None, description="成立时：补登这一户（按户或按房屋投票时）")


class BallotAnswer(Input):
    question: int = Field(ge=0, le=19, description="第几题，从 0 数起")
    options: list[int] = Field(
        default=[], max_length=100, description="选了哪几项，从 0 数起（选举最多 100 位候选人、50 个席位）"
    )
    text: str = Field(default="", max_length=500, description="文字意见（题目允许时）")


class BallotCast(Input):
    answers: list[BallotAnswer] = Field(max_length=20, description="每道题一项；最少可选 0 项的题可以不答")


class PollEntryCreate(Input):
    elector_id: Id = Field(description="名册上的选民（GET /polls/{id}/roll 的 id，可按门牌搜索）")
    channel: EntryChannel = Field(description="paper 纸质选票、proxy 委托投票")
    answers: list[BallotAnswer] = Field(max_length=20)
    photo_media_id: Id | None = Field(
        default=None,
        description="选票或委托书的照片（社工上传，只有社工能看）；无记名投票的纸质选票不能附照片，委托投票可以附委托书的照片",
    )
    proxy_name: str = Field(default="", max_length=32, description="委托投票：代为投票的人（受托人）的姓名")


# -- answers -------------------------------------------------------------------------------------


class PollOptionRead(BaseModel):
    index: int
    label: str
    statement: str
    approves: bool


class PollQuestionRead(BaseModel):
    index: int
    text: str
    kind: str
    kind_label: str
    min_choices: int
    max_choices: int
    allow_text: bool
    options: list[PollOptionRead]


class PollCandidateRead(BaseModel):
    index: int = Field(description="在选票上是第几项（投票时的 options）")
    name: str
    statement: str


class ChannelCount(BaseModel):
    channel: str = Field(description="app 小程序、paper 纸质选票、proxy 委托投票")
    label: str
    count: int


class PollTurnout(BaseModel):
    """Who took part: the live turnout (GET /polls/{id}/turnout) and the results' (the same shape)."""

    unit: str = Field(description="人、户或套")
    electors: int = Field(description="名册上的选民（划去的不算）")
    participants: int = Field(description="已参与（任何方式）")
    by_channel: list[ChannelCount]
    weight_total: str | None = Field(description="按房屋投票：名册上的总面积（㎡）")
    weight_participated: str | None = Field(description="按房屋投票：已参与的面积（㎡）")
    percent: float = Field(description="参与率（%，人数）")
    area_percent: float | None = Field(description="按房屋投票：面积参与率（%）")


class PollTurnoutRead(PollTurnout):
    poll_id: int


class PollSummary(BaseModel):
    id: int
    community_id: int
    kind: str
    kind_label: str
    title: str
    standing: str = Field(description="选举、业主大会表决或意向征询")
    electorate: str
    electorate_label: str
    secret: bool
    opens_at: Timestamp
    closes_at: Timestamp
    status: str
    status_label: str
    phase: str = Field(description="按时间：draft、objections（名册公示中）、scheduled、voting、closed、cancelled")
    phase_label: str
    roll_count: int
    results_visible: bool = Field(description="截止时间过后才有结果（社工也一样）")


class PollRead(PollSummary):
    body: str
    unit: str
    rule: str
    rule_label: str
    quorum_percent: int | None
    special_majority: bool
    owners_assembly: bool
    seats: int | None
    tie_rule: str | None
    tie_rule_label: str | None
    objection_days: int
    published_at: Timestamp | None
    roll_taken_at: Timestamp | None
    roll_weight: str | None = Field(description="按房屋投票：名册上的总面积（㎡）")
    roll_public: bool = Field(description="名册向居民公示（姓名打码）")
    questions: list[PollQuestionRead]
    candidates: list[PollCandidateRead] = Field(description="选举的候选人（即唯一一道题的选项）")
    cancel_reason: str | None
    runoff_of: int | None = Field(description="决选投票：原来的选举")
    tallied_at: Timestamp | None
    turnout: PollTurnout | None = Field(description="社工在投票期间可见；截止后所有人可见")
    created_at: Timestamp
    updated_at: Timestamp


class PollPage(BaseModel):
    items: list[PollSummary]
    next_cursor: str | None


class ElectoratePreview(BaseModel):
    electorate: str
    electorate_label: str
    unit: str
    electors: int = Field(description="现在生成名册会有的选民数")
    households: int = Field(description="来自多少户")
    weight: str | None = Field(description="按房屋投票：总面积（㎡）")
    missing_area: int = Field(description="按房屋投票：还没有登记面积的业主户（有的话不能发布）")
    without_area: int = Field(
        description="按房屋投票：没有登记面积的住户（业主户和非业主户都算），不在名册上；其他投票单位为 0"
    )
    not_owner_occupied: int = Field(
        description=(
            "按房屋投票：名册上登记的不是业主自住的房屋（租户或还没有人登记），"
            "由业主到社区用纸质选票或委托投票；其他投票单位为 0"
        )
    )
    with_account: int = Field(
        description="可以在小程序里投票的（按房屋投票：业主户中有账号的成年人的房屋；其余用纸质选票或委托投票）"
    )


class RollEntry(BaseModel):
    id: int = Field(description="名册上的选民 id（登记纸质选票时用）")
    label: str = Field(description="门牌（按人投票时加姓名；居民看到的姓名打码）")
    building: str
    weight: str = Field(description="票数权重：1，或面积（㎡）")
    household_id: int | None = Field(description="社工可见")
    member_id: int | None = Field(description="社工可见")
    struck: bool
    struck_at: Timestamp | None = Field(description="社工可见")
    note: str = Field(description="社工可见：补登或划去的原因")
    participated: bool | None = Field(description="社工可见")
    channel: str | None = Field(description="社工可见")
    channel_label: str | None


class RollPage(BaseModel):
    poll_id: int
    electorate: str
    electorate_label: str
    unit: str
    roll_taken_at: Timestamp | None
    roll_count: int
    roll_weight: str | None
    published: bool = Field(description="向居民公示")
    items: list[RollEntry]
    next_cursor: str | None


class PollObjectionRead(BaseModel):
    id: int
    poll_id: int
    body: str
    status: str
    status_label: str
    answer: str
    answered_at: Timestamp | None
    mine: bool
    raised_by: str | None = Field(description="社工可见")
    created_at: Timestamp


class PollObjectionPage(BaseModel):
    items: list[PollObjectionRead]
    next_cursor: str | None


class BallotAnswerRead(BaseModel):
    question: int
    options: list[int]
    text: str


class BallotResult(BaseModel):
    poll_id: int
    voted: bool
    channel: str
    channel_label: str
    receipt: str | None = Field(description="无记名投票：回执号，只在这里出现一次，请保存以便核对")
    receipt_withheld: bool = Field(
        default=False,
        description="用同一 Idempotency-Key 重试得到的回答：回执已在第一次的回答里给出，服务器不保存谁拿到了哪张回执",
    )
    can_change: bool = Field(description="记名投票在截止前可以修改")


class MyBallot(BaseModel):
    poll_id: int
    eligible: bool = Field(description="在名册上（名册生成前：按现在的情况）")
    elector_label: str | None
    voted: bool = Field(description="我（我家、我家的房屋）已经投票")
    channel: str | None
    channel_label: str | None
    voted_by: str | None = Field(description="谁投的：家庭成员的称呼，或 纸质选票、委托投票")
    voted_at: Timestamp | None
    answers: list[BallotAnswerRead] | None = Field(description="只有我自己投的记名选票")
    changed_at: Timestamp | None
    can_change: bool
    why_not: str | None = Field(
        default=None,
        description="按房屋投票而本户登记的不是业主（如租住）时：为什么不能在小程序里投票（业主用纸质选票或委托投票）",
    )


class EntryResult(BaseModel):
    poll_id: int
    participation_id: int
    elector_id: int
    channel: str
    channel_label: str
    receipt: str | None = Field(description="无记名投票：回执号，只出现这一次，请交给投票人")
    receipt_withheld: bool = Field(
        default=False, description="用同一 Idempotency-Key 重试得到的回答：回执只在第一次的回答里给出"
    )


class ReceiptOption(BaseModel):
    index: int
    label: str


class ReceiptAnswer(BaseModel):
    question: int
    question_text: str
    options: list[ReceiptOption]
    text: str


class ReceiptRead(BaseModel):
    poll_id: int
    receipt: str
    answers: list[ReceiptAnswer]


class ParticipationRead(BaseModel):
    id: int
    elector_id: int
    label: str
    channel: str
    channel_label: str
    voter_name: str | None = Field(description="在小程序里投票的家庭成员")
    entered_by_name: str | None = Field(description="登记纸质选票或委托投票的社工")
    proxy_name: str | None
    photo: PhotoRead | None = Field(description="选票或委托书的照片")
    created_at: Timestamp


class ParticipationPage(BaseModel):
    items: list[ParticipationRead]
    next_cursor: str | None
