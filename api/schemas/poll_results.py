"""A poll's results (the count `votes.tally` makes at the close), settling a tie, opening a run-off."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import Input, Timestamp
from api.schemas.polls import PollTurnout

# -- requests ------------------------------------------------------------------------------------


class TieResolve(Input):
    elected: list[Annotated[int, Field(ge=0, le=199)]] = Field(
        min_length=1,
        max_length=50,
        description="抽签选中的候选人（选项序号，从 0 开始）：只能在并列的候选人中选，人数等于剩下的席位数",
    )
    note: str = Field(
        min_length=1, max_length=200, description="抽签的记录：时间、地点、方式、在场监督的人（向全体居民公布）"
    )


# -- answers -------------------------------------------------------------------------------------


class Threshold(BaseModel):
    key: str = Field(
        description=(
            "participation_area、participation_flats（《民法典》第二百七十八条的参与门槛）；approval_area、"
            "approval_flats（每个事项的同意门槛）；candidate_area、candidate_flats（按第二百七十八条的选举中"
            "每位候选人的当选门槛）；quorum（参与率）"
        )
    )
    label: str
    measure: str = Field(description="area 面积（分子分母以 0.01㎡ 为单位的整数）；count 人数、户数或套数")
    numerator: int
    denominator: int
    numerator_text: str = Field(description="如 400.00㎡、4套")
    denominator_text: str
    percent: float = Field(description="百分比，两位小数（四舍五入，仅供阅读；是否达到看 met）")
    required: str = Field(description="如 三分之二以上、过半数、四分之三以上")
    fraction: str = Field(description="如 2/3")
    strict: bool = Field(description="true：须超过（过半数）；false：达到即可（以上，含本数）")
    needed: int = Field(description="达到门槛至少需要的分子")
    needed_text: str
    met: bool = Field(description="按整数精确计算：以上为 分子×分母份数 ≥ 分母×份数，过半数为 >")


class OptionCount(BaseModel):
    index: int
    label: str
    statement: str
    approves: bool = Field(description="《民法典》第二百七十八条表决中表示同意的选项")
    votes: int = Field(description="选这一项的选票数")
    area: str | None = Field(description="按套投票：选这一项的面积合计（㎡）")
    percent: float = Field(description="占回答这个问题的票数（按套投票时为面积）的百分比")
    majority: bool = Field(description="过半数规则下，这一项超过了回答这个问题的（加权）票数的一半")


class QuestionOutcome(BaseModel):
    status: str | None = Field(
        default=None,
        description=(
            "过半数/参与率规则：majority 有过半数的意见、no_majority、invalid（参与率未达到）；"
            "第二百七十八条：passed / not_passed（业主大会表决），threshold_met / threshold_not_met（意向征询）"
        ),
    )
    label: str | None = Field(default=None, description="意向征询只说 多数意见 / 达到门槛（仅供参考），从不说通过")
    majority: list[int] | None = None
    met: bool | None = None
    thresholds: list[Threshold] | None = None


class QuestionCount(BaseModel):
    index: int
    text: str
    kind: str
    answered: int = Field(description="回答了这个问题的选票数")
    answered_area: str | None = Field(description="按套投票：回答了这个问题的面积（㎡）")
    options: list[OptionCount]
    texts: list[str] = Field(description="填写的意见，按文字排序（不按投票先后）")
    outcome: QuestionOutcome = Field(description="选举为空，见 election")


class Candidate(BaseModel):
    rank: int = Field(description="得票相同的名次相同")
    index: int
    name: str
    votes: int
    area: str | None = Field(description="按房屋投票：得票的面积合计（㎡）")
    percent: float = Field(description="占选票总数（按房屋投票时为面积）的百分比")
    majority: bool = Field(
        description="得票超过所投选票总数（含空白票）的一半；按第二百七十八条的选举：得票的面积和人数都超过参与表决的一半"
    )
    thresholds: list[Threshold] = Field(
        default=[],
        description="按第二百七十八条的选举：这位候选人的两个当选门槛（candidate_area、candidate_flats），含分子分母",
    )
    elected: bool
    tied: bool = Field(description="与其他候选人并列争取最后的席位")
    by: str | None = Field(description="votes 按得票当选；lot 抽签当选")


class Elected(BaseModel):
    index: int
    name: str
    by: str | None


class TieResolution(BaseModel):
    how: str = Field(description="lot 抽签；runoff 决选投票")
    how_label: str
    elected: list[int]
    names: list[str]
    note: str
    at: Timestamp | None


class Tie(BaseModel):
    candidates: list[int]
    names: list[str]
    seats_left: int = Field(description="他们争取的席位数")
    rule: str | None = Field(description="选举约定的解决办法：lot 抽签、runoff 决选投票")
    rule_label: str
    resolved: bool
    resolution: TieResolution | None
    runoff_id: int | None


class ElectionCount(BaseModel):
    seats: int
    ballots: int = Field(description="所投选票数（含空白票）")
    blank: int = Field(default=0, description="空白票（弃权：一位候选人也没选），算参与，也算在过半数的基数里")
    area_cast: str | None = Field(description="按房屋投票：选票的面积合计（㎡）")
    needs_majority: bool = Field(
        description="须得票过半数才能当选（决选投票按得票多少，不要求过半数；按第二百七十八条的选举决选也要求）"
    )
    majority_label: str = Field(
        default="", description="当选要求及其基数，如 当选须得票超过所投选票数（5张，含1张空白票）的一半，即至少3票"
    )
    ranking: list[Candidate]
    elected: list[Elected]
    tie: Tie | None
    unfilled: int = Field(description="没有候选人得票过半数的席位数（需另行选举）")
    status: str = Field(description="elected、tie、unfilled、none_elected、invalid")
    label: str


class RunoffRef(BaseModel):
    id: int
    title: str
    status: str
    phase: str
    phase_label: str
    closes_at: Timestamp
    elected: list[str] = Field(description="决选结束后当选的人")
    summary: str | None


class PollRef(BaseModel):
    id: int
    title: str


class PollResults(BaseModel):
    poll_id: int
    community_id: int
    status: str
    kind: str
    kind_label: str
    title: str
    standing: str = Field(description="选举、业主大会表决，或 意向征询（不是业主大会依法召集的，结果仅供参考）")
    consultation: bool
    note: str
    electorate: str
    electorate_label: str
    rule: str
    rule_label: str
    quorum_percent: int | None
    special_majority: bool
    secret: bool
    opens_at: Timestamp
    closes_at: Timestamp
    tallied_at: Timestamp | None
    turnout: PollTurnout = Field(description="与投票中的参与情况（GET /polls/{id}/turnout）同一形状")
    thresholds: list[Threshold] = Field(description="整个投票的门槛：参与率，或第二百七十八条的两个参与门槛")
    valid: bool = Field(description="参与门槛达到（没有参与门槛时为 true）")
    questions: list[QuestionCount]
    election: ElectionCount | None
    summary: str
    runoff: RunoffRef | None = Field(description="从这次选举的并列发起的决选投票")
    runoff_of: PollRef | None = Field(description="这是哪次选举的决选投票")
