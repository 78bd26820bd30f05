from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Day, Id, Input, TimeOfDay, Timestamp, When
from api.schemas.communities import OpeningHours, Weekday, validate_opening_hours
from api.schemas.projects import ServiceType

Skill = Annotated[str, Field(min_length=1, max_length=16)]


class TeamCreate(Input):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    leader_ids: list[Id] = Field(default=[], max_length=10, description="队长的用户 id（本社区居民）")


class RosterEntry(BaseModel):
    user_id: int
    display_name: str
    phone: str | None = Field(description="打码显示")
    role: Literal["leader", "member"]
    status: Literal["pending", "active"]
    since: Timestamp


class TeamRead(BaseModel):
    id: int
    community_id: int
    name: str
    description: str
    members: int = Field(description="在队人数")
    my_status: Literal["pending", "active"] | None
    my_role: Literal["leader", "member"] | None
    roster: list[RosterEntry] | None = Field(default=None, description="队长和社工可见")


class ReviewRequest(Input):
    approve: bool


class RoleRequest(Input):
    role: Literal["leader", "member"]


class ProfileWrite(Input):
    skills: list[Skill] | None = Field(default=None, max_length=20)
    availability: OpeningHours | None = Field(default=None, description='可服务时段，如 {"tue": [["14:00", "18:00"]]}')
    real_name: str | None = Field(default=None, max_length=32, description="仅在需要出具官方记录时填写")
    id_number: str | None = Field(default=None, max_length=32, description="身份证号，加密保存、打码显示；空字符串删除")
    ranked: bool | None = Field(default=None, description="是否出现在服务时长排行中")

    @model_validator(mode="after")
    def _hours(self) -> ProfileWrite:
        for name in ("skills", "availability", "ranked"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}：不能为 null；不想修改就不要传这个字段")
        if self.availability is not None:
            validate_opening_hours(self.availability)
        return self


class ProfileRead(BaseModel):
    community_id: int
    skills: list[str]
    availability: dict[str, list[list[str]]]
    real_name: str | None
    id_number: str | None = Field(description="打码显示，如 5101**********123X")
    ranked: bool


class StoryCreate(Input):
    user_id: Id
    title: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=10000)


class StoryAnswer(Input):
    consent: bool


class StoryRead(BaseModel):
    id: int
    user_id: int
    title: str
    body: str
    status: Literal["waiting", "consented", "declined"]


class ShiftCreate(Input):
    role: str = Field(min_length=1, max_length=64, description="岗位，如 开馆值班、活动签到")
    place: str = Field(default="", max_length=128)
    start_at: When
    end_at: When
    needed: int = Field(ge=1, le=500, description="需要几位志愿者")
    team_id: Id | None = Field(default=None, description="只给这个团队的队员")
    activity_id: Id | None = Field(
        default=None, description="为这个活动值班：在岗时可以扫居民的预约码签到、查看签到名单、登记现场来的人"
    )
    withdraw_deadline: When | None = Field(default=None, description="不填：开始前 12 小时")
    project_id: Id | None = Field(default=None, description="所属服务项目（须覆盖本社区；只限社工）")
    service_type: ServiceType | None = Field(default=None, description="服务类型，如 volunteering 志愿服务")

    @model_validator(mode="after")
    def _times(self) -> ShiftCreate:
        if self.end_at <= self.start_at:
            raise ValueError("end_at：结束时间应晚于开始时间")
        if self.end_at - self.start_at > timedelta(hours=24):
            raise ValueError("end_at：一个岗位最长 24 小时")
        return self


class RuleCreate(Input):
    role: str = Field(min_length=1, max_length=64)
    place: str = Field(default="", max_length=128)
    weekdays: list[Weekday] = Field(min_length=1, max_length=7)
    starts: TimeOfDay
    ends: TimeOfDay = Field(description="早于开始时间表示次日结束（夜间值班）")
    needed: int = Field(ge=1, le=500)
    team_id: Id | None = None
    active_from: Day
    active_until: Day | None = None

    @model_validator(mode="after")
    def _valid(self) -> RuleCreate:
        if self.starts.tzinfo is not None or self.ends.tzinfo is not None:
            raise ValueError("starts、ends：写社区当地的钟点，如 14:00，不带时区")
        if self.starts == self.ends:
            raise ValueError("ends：结束钟点不能与开始相同")
        if self.active_until is not None and self.active_until < self.active_from:
            raise ValueError("active_until：不能早于 active_from")
        return self


class RuleMade(BaseModel):
    id: int
    shifts_made: int


class SignupRead(BaseModel):
    id: int
    shift_id: int
    user_id: int
    status: Literal["active", "withdrawn", "completed", "absent"]
    checked_in_at: Timestamp | None
    checked_out_at: Timestamp | None
    auto_closed: bool = Field(description="忘记签退，由系统按结束时间签退：待社工核对")
    display_name: str | None = None


class ShiftRead(BaseModel):
    id: int
    role: str
    place: str
    start_at: Timestamp
    end_at: Timestamp
    needed: int
    taken: int
    team_id: int | None
    team_name: str | None
    activity_id: int | None
    withdraw_deadline: Timestamp
    cancelled: bool
    project_id: int | None = Field(default=None, description="所属服务项目")
    service_type: ServiceType | None = Field(default=None, description="服务类型")
    my_signup: SignupRead | None
    signups: list[SignupRead] | None = Field(default=None, description="社工和队长可见")


class ShiftTags(Input):
    """What reports count a shift under; a field left out stays as it is, null clears it."""

    project_id: Id | None = Field(default=None, description="所属服务项目（须覆盖本社区）；null：不属于项目")
    service_type: ServiceType | None = Field(default=None, description="服务类型；null：清除")


class SignupRequest(Input):
    volunteer_id: Id | None = Field(default=None, description="队长或社工为队员安排；不填：自己报名")


class OnSite(Input):
    code: str | None = Field(default=None, min_length=4, max_length=16, pattern=r"^[0-9A-Za-z]+$")
    volunteer_id: Id | None = Field(default=None, description="队长或社工代为确认时填写")

    @model_validator(mode="after")
    def _one(self) -> OnSite:
        if self.code is None and self.volunteer_id is None:
            raise ValueError("code、volunteer_id：请填写现场签到码，或要确认的志愿者")
        return self


class ShiftCode(BaseModel):
    shift_id: int
    code: str
    valid_until: Timestamp
    rotates_every_seconds: int


class RecordRead(BaseModel):
    id: int
    user_id: int
    volunteer: str | None = None
    service: str
    activity_name: str
    service_date: date
    place: str
    start_at: Timestamp
    end_at: Timestamp
    minutes: int
    hours: str
    organiser: str
    person_in_charge: str
    status: Literal["pending", "approved", "rejected"]
    review_by: date = Field(description="审核期限：服务后 10 个工作日")
    reviewed_at: Timestamp | None
    review_note: str | None
    flagged: bool
    corrects_id: int | None
    correction_reason: str | None
    overdue: bool | None = None


class RecordReview(Input):
    approve: bool
    note: str | None = Field(default=None, max_length=256, description="不通过时必填")


class RecordAmend(Input):
    service: str | None = Field(default=None, min_length=1, max_length=128)
    start_at: When | None = None
    end_at: When | None = None
    minutes: int | None = Field(default=None, ge=0, le=24 * 60)


class RecordCorrection(Input):
    start_at: When | None = None
    end_at: When | None = None
    minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    service: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=256)


class PeriodHours(BaseModel):
    period: str
    hours: str


class MyRecords(BaseModel):
    records: list[RecordRead]
    total_hours: str
    by_month: list[PeriodHours]
    by_year: list[PeriodHours]
    counted_ids: list[int] = Field(description="计入时长的记录（已审核、未被更正替代）")


class RankRead(BaseModel):
    rank: int
    user_id: int
    display_name: str
    hours: str


class CertificateCheck(BaseModel):
    number: str
    name: str = Field(description="只显示姓氏")
    hours: str
    period_from: date
    period_to: date
    services: list[str]
    organiser: str
    issued_at: Timestamp
    current: bool = Field(description="该期间已审核的记录现在仍合计为这些时长（之后的更正可能改变它）")


class PolicyWrite(Input):
    organiser: str | None = Field(
        default=None, max_length=128, description="记录单位（证明和导出里的组织单位）；空则用社区名称"
    )
    rounding_minutes: Literal[1, 5, 10, 15, 30, 60] | None = Field(
        default=None, description="服务时长按此分钟数向下取整（默认15），记录的时长不超过实际服务时间"
    )


class PolicyRead(BaseModel):
    organiser: str
    rounding_minutes: int


class RuleRead(BaseModel):
    id: int
    role: str
    place: str
    weekdays: list[str]
    starts: TimeOfDay
    ends: TimeOfDay
    needed: int
    team_id: int | None
    active_from: date
    active_until: date | None


class RuleEnd(Input):
    last_day: Day = Field(description="最后一天；之后已生成的岗位取消，已报名的队员会收到通知")


class ShiftCancel(Input):
    reason: str = Field(default="", max_length=100, description="告诉已报名的队员")
