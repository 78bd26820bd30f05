from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Id, Input, Timestamp, When

# the models' SURVEY_UNITS, SURVEY_STATUSES, SURVEY_QUESTION_KINDS, SURVEY_CHANNELS (tests check they agree)
SurveyUnit = Literal["person", "household"]
SurveyStatus = Literal["draft", "open", "closed", "cancelled"]
SurveyQuestionKind = Literal["single", "multiple", "scale", "text"]
SurveyChannel = Literal["app", "paper"]

MAX_QUESTIONS = 50
MAX_OPTIONS = 30
OptionLabel = Annotated[str, Field(min_length=1, max_length=100)]
QuestionIndex = Annotated[int, Field(ge=0, le=MAX_QUESTIONS - 1)]
OptionIndex = Annotated[int, Field(ge=0, le=MAX_OPTIONS - 1)]


# -- requests ------------------------------------------------------------------------------------


class SurveyQuestionIn(Input):
    text: str = Field(min_length=1, max_length=200, description="题目")
    kind: SurveyQuestionKind = Field(description="single 单选、multiple 多选、scale 打分（1–5）、text 填空")
    options: list[OptionLabel] = Field(
        default_factory=list,
        max_length=MAX_OPTIONS,
        description="单选、多选的选项（至少两个，不能重复）；打分和填空不填",
    )
    allow_other: bool = Field(default=False, description="单选、多选：加一个「其他（请注明）」，填写的文字会列出和导出")
    required: bool = Field(default=True, description="必答")
    min_choices: int | None = Field(
        default=None, ge=1, le=MAX_OPTIONS + 1, description="多选：至少选几项（「其他」算一项），默认 1"
    )
    max_choices: int | None = Field(
        default=None, ge=1, le=MAX_OPTIONS + 1, description="多选：最多选几项（「其他」算一项），默认不限"
    )


class SurveyCreate(Input):
    title: str = Field(min_length=1, max_length=64)
    intro: str = Field(default="", max_length=5000, description="问卷开头的说明：调研的目的、结果怎么用")
    anonymous: bool = Field(
        default=True,
        description="匿名（默认）：回答不和任何人关联，社工也看不到谁答了什么；实名：回答记下填写人（和住址）",
    )
    unit: SurveyUnit = Field(default="person", description="person 每人一份；household 每户一份（一户只能有一人填写）")
    closes_at: When = Field(description="截止时间：到时自动结束")
    project_id: Id | None = Field(default=None, description="所属服务项目（须覆盖本社区）")
    questions: list[SurveyQuestionIn] = Field(min_length=1, max_length=MAX_QUESTIONS)


class SurveyUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=64)
    intro: str | None = Field(default=None, max_length=5000)
    anonymous: bool | None = None
    unit: SurveyUnit | None = None
    closes_at: When | None = None
    project_id: Id | None = Field(default=None, description="填 null 表示不属于任何服务项目")
    questions: list[SurveyQuestionIn] | None = Field(
        default=None, min_length=1, max_length=MAX_QUESTIONS, description="整份替换"
    )


class SurveyCancel(Input):
    reason: str = Field(min_length=1, max_length=200, description="居民会在问卷页面看到")


class SurveyAnswerIn(Input):
    question: QuestionIndex = Field(description="第几题，从 0 开始")
    options: list[OptionIndex] = Field(
        default_factory=list, max_length=MAX_OPTIONS, description="单选、多选：选中的选项，从 0 开始"
    )
    other: str = Field(default="", max_length=200, description="「其他（请注明）」的文字；填了就算选了「其他」")
    scale: int | None = Field(default=None, ge=1, le=5, description="打分题：1–5")
    text: str = Field(default="", max_length=2000, description="填空题的回答")


class SurveyAnswers(Input):
    answers: list[SurveyAnswerIn] = Field(
        min_length=1, max_length=MAX_QUESTIONS, description="每题一项；非必答题可以不填"
    )


class PaperSurveyEntry(Input):
    answers: list[SurveyAnswerIn] = Field(min_length=1, max_length=MAX_QUESTIONS)
    member_id: Id | None = Field(
        default=None,
        description="填写人（本社区的成员，成人或老人）：记下后这个人（每户一份的：这一户）不能再在小程序里填写",
    )
    household_id: Id | None = Field(
        default=None, description="每户一份的问卷：填写的这一户（也可以只填 member_id）。记下后这一户不能再填写"
    )
    building: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="不记填写人时，问卷上写的楼栋（用于按楼栋统计）；须是本社区已有的楼栋",
    )


# -- answers -------------------------------------------------------------------------------------


class SurveyQuestionRead(BaseModel):
    index: int
    text: str
    kind: str
    kind_label: str
    options: list[str]
    allow_other: bool
    required: bool
    min_choices: int | None = Field(description="单选为 1；打分和填空为空")
    max_choices: int | None = Field(description="单选为 1；打分和填空为空")


class SurveyRead(BaseModel):
    id: int
    community_id: int
    project_id: int | None
    title: str
    intro: str
    anonymous: bool
    anonymity_label: str = Field(description="匿名 / 实名")
    unit: str
    unit_label: str
    status: str = Field(description="draft、open、closed、cancelled；截止时间已过的按已结束（closed）显示")
    status_label: str
    opens_at: Timestamp | None
    closes_at: Timestamp
    closed_at: Timestamp | None
    cancel_reason: str | None
    questions: list[SurveyQuestionRead]
    answered: bool = Field(description="我（每户一份的：我家）已经填写过")
    can_answer: bool = Field(description="我现在可以填写：进行中、我是本社区的居民、还没有填写过")
    response_count: int | None = Field(description="社工可见：已收到的问卷数")
    responses_by_channel: dict[str, int] | None = Field(
        description="社工可见：已收到的问卷数，按渠道（app 小程序、paper 纸质问卷）"
    )
    results_available: bool | None = Field(
        description="社工可见：现在能不能看结果和导出——实名问卷随时可以；匿名问卷在调研结束（或取消）后才可以"
    )
    created_at: Timestamp


class SurveySummary(BaseModel):
    id: int
    title: str
    anonymous: bool
    unit: str
    unit_label: str
    status: str
    status_label: str
    opens_at: Timestamp | None
    closes_at: Timestamp
    question_count: int
    answered: bool
    response_count: int | None = Field(description="社工可见")
    results_available: bool | None = Field(description="社工可见：现在能不能看结果（匿名问卷在结束后才可以）")


class SurveyPage(BaseModel):
    items: list[SurveySummary]
    next_cursor: str | None


class SurveyResponded(BaseModel):
    survey_id: int
    answered: bool
    anonymous: bool
    message: str


class SurveyPaperEntered(BaseModel):
    survey_id: int
    channel: str
    anonymous: bool
    respondent: str | None = Field(description="记下的填写人（住址和称呼）；没有记填写人时为空")
    respondent_withheld: bool = Field(
        default=False,
        description=(
            "匿名问卷用同一 Idempotency-Key 重试得到的回答：填写人只在第一次的回答里给出，"
            "服务器不把他和这次录入存在一起"
        ),
    )
    token_used: bool = Field(description="记下了填写人：他（每户一份的：这一户）不能再在小程序里填写")
    response_count: int


class OptionCount(BaseModel):
    index: int
    label: str
    count: int
    percent: float | None = Field(description="占答了这一题的人数的百分比（一位小数）；多选题各项相加可超过 100")


class OtherAnswers(BaseModel):
    count: int
    percent: float | None
    texts: list[str] = Field(description="填写的文字，按随机顺序（不按提交顺序）")


class ScaleValue(BaseModel):
    value: int
    count: int
    percent: float | None


class ScaleResult(BaseModel):
    distribution: list[ScaleValue]
    mean: float | None = Field(description="平均分（两位小数）；没有人打分时为空")


class QuestionResult(BaseModel):
    index: int
    text: str
    kind: str
    kind_label: str
    required: bool
    answered: int = Field(description="答了这一题的人数")
    skipped: int = Field(description="没有答这一题的人数")
    options: list[OptionCount] = Field(description="单选、多选")
    other: OtherAnswers | None = Field(description="允许「其他」的单选、多选")
    scale: ScaleResult | None = Field(description="打分题")
    texts: list[str] | None = Field(description="填空题的回答，按随机顺序（不按提交顺序）")


class GroupQuestion(BaseModel):
    index: int
    hidden: bool = Field(
        description="这一栋答这一题的人少于5人，或为免从这一题的合计推算出隐藏的回答而一并隐藏：不列数字"
    )
    note: str | None = Field(description="隐藏的原因")
    answered: int | None = Field(description="答了这一题的人数；隐藏时为空")
    options: list[OptionCount] = Field(description="隐藏时为空")
    other_count: int | None
    scale_mean: float | None


class BuildingGroup(BaseModel):
    building: str = Field(description="楼栋；没有楼栋的纸质问卷为「未注明楼栋」")
    hidden: bool
    note: str | None = Field(description="隐藏的原因：少于5人，或为免推算出人数少的楼栋一并隐藏")
    respondents: int | None = Field(description="隐藏时为空")
    questions: list[GroupQuestion] = Field(description="隐藏时为空；填空题只有答题人数，不列文字")


class BuildingBreakdown(BaseModel):
    small_group: int = Field(description="少于这个人数的楼栋不显示")
    groups: list[BuildingGroup]


class SurveyResults(BaseModel):
    survey_id: int
    title: str
    status: str
    status_label: str
    anonymous: bool
    unit: str
    unit_label: str
    respondents: int = Field(description="收到的问卷总数")
    by_channel: dict[str, int] = Field(description="app 小程序、paper 纸质问卷")
    first_day: date | None = Field(description="最早一份的日期")
    last_day: date | None = Field(description="最近一份的日期")
    questions: list[QuestionResult]
    by_building: BuildingBreakdown
