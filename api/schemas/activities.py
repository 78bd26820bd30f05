from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Id, Input, Schema, Timestamp, Url, When

Category = Literal["children", "parent_child", "elders", "culture", "volunteering", "deliberation", "other"]
# Each category as residents and social workers call it (the words of the field reports): the one
# definition of the labels, for `GET /categories` and any text that names a category.
CATEGORY_LABELS: dict[Category, str] = {
    "children": "儿童",
    "parent_child": "亲子",
    "elders": "老年人",
    "culture": "文化",
    "volunteering": "志愿服务",
    "deliberation": "议事协商",
    "other": "其他",
}
Age = Annotated[int, Field(ge=0, le=17)]


class _Times(Input):
    @model_validator(mode="after")
    def _ordered(self) -> _Times:
        start, end = getattr(self, "start_at", None), getattr(self, "end_at", None)
        if start is not None and end is not None and end <= start:
            raise ValueError("end_at：结束时间应晚于开始时间")
        low, high = getattr(self, "child_min_age", None), getattr(self, "child_max_age", None)
        if low is not None and high is not None and low > high:
            raise ValueError("child_min_age：最小年龄不能大于 child_max_age")
        return self


class ActivityCreate(_Times):
    title: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=5000)
    category: Category
    space_id: Id | None = Field(default=None, description="本社区的空间；或用 location 写地点")
    location: str = Field(default="", max_length=128, description="地点，如 二楼活动室、3栋楼下")
    start_at: When
    end_at: When
    capacity: int = Field(ge=1, le=10000, description="座位数")
    max_seats_per_booking: int = Field(default=3, ge=1, le=10)
    registration_opens_at: When | None = Field(default=None, description="不填：发布即开放报名")
    registration_closes_at: When | None = Field(default=None, description="不填：活动开始时截止")
    cancel_deadline: When | None = Field(default=None, description="居民取消的截止时间；不填：活动开始时")
    checkin_opens_at: When | None = Field(default=None, description="不填：开始前 30 分钟")
    checkin_closes_at: When | None = Field(default=None, description="不填：开始后 30 分钟")
    child_min_age: Age | None = Field(default=None, description="儿童参加者的年龄下限（按出生年份）")
    child_max_age: Age | None = None
    cover_url: Url | None = None
    series_id: Id | None = None


class ActivityUpdate(_Times):
    title: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=5000)
    category: Category | None = None
    space_id: Id | None = None
    location: str | None = Field(default=None, max_length=128)
    start_at: When | None = Field(default=None, description="改开始时间时，未指定的报名、取消、签到时间随之平移")
    end_at: When | None = None
    capacity: int | None = Field(default=None, ge=1, le=10000, description="加座位会自动为候补者转正")
    max_seats_per_booking: int | None = Field(default=None, ge=1, le=10)
    registration_opens_at: When | None = None
    registration_closes_at: When | None = None
    cancel_deadline: When | None = None
    checkin_opens_at: When | None = None
    checkin_closes_at: When | None = None
    child_min_age: Age | None = None
    child_max_age: Age | None = None
    cover_url: Url | None = None
    series_id: Id | None = None


class ActivityCancel(Input):
    reason: str = Field(default="", max_length=200, description="告诉已预约的居民为什么取消")


ActivityStatus = Literal["draft", "published", "finished", "cancelled"]


class ActivityItem(BaseModel):
    """Small on purpose: the list is read on slow phones."""

    id: int
    title: str
    category: Category
    start_at: Timestamp
    end_at: Timestamp
    place: str
    cover_url: str | None
    status: ActivityStatus
    seats_left: int
    waitlist: int = Field(description="候补的预约数")
    registration: Literal["not_yet", "open", "closed"] | None
    child_min_age: int | None
    child_max_age: int | None
    series_id: int | None


class AttendeeRead(BaseModel):
    member_id: int | None
    name: str
    checked_in_at: Timestamp | None
    no_show: bool


class BookingActivity(BaseModel):
    id: int
    title: str
    start_at: Timestamp
    end_at: Timestamp
    place: str
    status: Literal["draft", "published", "cancelled"]


class BookingRead(BaseModel):
    id: int
    status: Literal["confirmed", "waitlisted", "cancelled"]
    seats: int
    waitlist_position: int | None = Field(description="候补第几位（仅候补时）")
    source: Literal["app", "walkin"]
    activity: BookingActivity
    attendees: list[AttendeeRead]
    can_cancel: bool
    cancel_deadline: Timestamp
    created_at: Timestamp
    cancelled_at: Timestamp | None


class SeriesRef(BaseModel):
    id: int
    title: str


class ActivityDetail(ActivityItem):
    description: str
    capacity: int
    taken: int
    max_seats_per_booking: int
    registration_opens_at: Timestamp | None
    registration_closes_at: Timestamp
    cancel_deadline: Timestamp
    checkin_opens_at: Timestamp
    checkin_closes_at: Timestamp
    space_id: int | None
    location: str
    series: SeriesRef | None
    cancel_reason: str | None
    my_bookings: list[BookingRead] = Field(description="本户对该活动的有效预约")
    next_session: ActivityItem | None = Field(default=None, description="同一系列的下一期")
    similar: list[ActivityItem] = Field(default=[], description="还有名额的同类活动（最多 5 个）")


class BookingCreate(Input):
    attendee_ids: list[Id] | None = Field(
        default=None, max_length=10, description="本户成员的 member id；不填：只为自己预约"
    )


class CheckinCode(BaseModel):
    booking_id: int
    token: str = Field(description="做成二维码，给社工扫")


class ScanCheckin(Input):
    token: str | None = Field(
        default=None, min_length=3, max_length=64, pattern=r"^[0-9A-Za-z._-]+$", description="扫到的预约码"
    )
    booking_id: Id | None = Field(default=None, description="或：在名单上为没带手机的人签到")
    attendee_ids: list[Id] | None = Field(default=None, max_length=10, description="只为其中几位签到；不填：全部")

    @model_validator(mode="after")
    def _one_way(self) -> ScanCheckin:
        if (self.token is None) == (self.booking_id is None):
            raise ValueError("token、booking_id：请二选一填写")
        return self


class SelfCheckin(Input):
    code: str = Field(
        min_length=4, max_length=16, pattern=r"^[0-9A-Za-z]+$", description="现场屏幕上的签到码（每分钟更换）"
    )
    attendee_ids: list[Id] | None = Field(default=None, max_length=10)


class OnsiteCode(BaseModel):
    activity_id: int
    code: str
    valid_until: Timestamp
    rotates_every_seconds: int


class WalkIn(Input):
    member_ids: list[Id] = Field(default=[], max_length=10, description="本社区同一户的成员")
    guests: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default=[], max_length=10, description="未登记的来访者，写称呼即可"
    )

    @model_validator(mode="after")
    def _someone(self) -> WalkIn:
        if not self.member_ids and not self.guests:
            raise ValueError("member_ids、guests：至少填一位成员或来访者")
        return self


class RosterAttendee(BaseModel):
    member_id: int | None
    name: str
    kind: Literal["adult", "child", "elder", "guest"]
    checked_in_at: Timestamp | None
    checkin_method: str | None
    no_show: bool


class RosterBooking(BaseModel):
    booking_id: int
    status: Literal["confirmed", "waitlisted"]
    source: Literal["app", "walkin"]
    seats: int
    booked_by: str | None
    household: str | None
    attendees: list[RosterAttendee]
    waitlist_position: int | None = None


class Attendance(BaseModel):
    activity_id: int
    capacity: int
    taken: int
    expected: int
    checked_in: int
    no_show: int
    waitlisted_seats: int
    bookings: list[RosterBooking]
    waitlist: list[RosterBooking]


class SeriesCreate(Input):
    title: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    category: Category = "other"


class SeriesRead(Schema):
    id: int
    community_id: int
    title: str
    description: str
    category: Category


class SeriesDetail(SeriesRead):
    following: bool
    followers: int
    upcoming: list[ActivityItem]


class PolicyRead(BaseModel):
    no_show_limit: int = Field(description="多少次爽约…")
    no_show_window_days: int = Field(description="…在多少天内…")
    block_days: int = Field(description="…暂停预约多少天（0：不暂停）")
    reminder_hours: int = Field(description="活动开始前多少小时提醒（0：不提醒）")


class PolicyUpdate(Input):
    no_show_limit: int | None = Field(default=None, ge=1, le=50)
    no_show_window_days: int | None = Field(default=None, ge=1, le=365)
    block_days: int | None = Field(default=None, ge=0, le=365)
    reminder_hours: int | None = Field(default=None, ge=0, le=168)


class BlockRead(BaseModel):
    id: int
    member_id: int
    member_name: str
    household: str
    no_shows: int
    blocked_at: Timestamp
    until: Timestamp
    lifted_at: Timestamp | None
    active: bool
