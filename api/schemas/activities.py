from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Id, Input, Page, Schema, Timestamp, Url, When
from api.schemas.projects import ServiceType

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
    project_id: Id | None = Field(
        default=None, description="所属服务项目（须覆盖本社区）；不填：不属于项目，仍计入本社区"
    )
    service_type: ServiceType | None = Field(
        default=None, description="服务类型：社区活动、小组活动、个案、志愿服务、议事协商、培训、其他"
    )


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
    project_id: Id | None = Field(default=None, description="null：不再属于服务项目。活动结束后也可以改")
    service_type: ServiceType | None = Field(default=None, description="null：清除服务类型。活动结束后也可以改")


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
    my_booking_status: Literal["confirmed", "waitlisted"] | None = Field(
        description=(
            "我家对该活动的有效预约（本户任何成员预约的都算，页面显示「已预约」或「候补中」）："
            "confirmed 已确认，waitlisted 候补中（两样都有时为 confirmed），null 没有预约"
        )
    )


class JoinHint(BaseModel):
    """For a visitor (no household in the community): what the 「加入社区」 button needs."""

    community_id: int
    community_name: str
    join_path: str = Field(
        description=(
            "加入社区的接口：POST 到这个路径（相对 /api/v1），请求体为 display_name、building、unit、room；"
            "新门牌立即成为户主，已有住户的门牌等户主或社工确认"
        )
    )
    message: str = Field(description="给访客看的一句提示")


class ActivityPage(Page[ActivityItem]):
    join: JoinHint | None = Field(
        default=None, description="还没有在本社区登记住址的访客：怎样加入；居民（含入户申请待确认的）和社工为 null"
    )


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
    booked_at_desk: bool = Field(description="社工在服务台代办的预约（代办：如没有微信的独居老人）")
    booked_at_desk_by: str | None = Field(description="代办的工作人员（只有社工看得到）")
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
    project_id: int | None = Field(default=None, description="所属服务项目（只有社工看得到）")
    service_type: ServiceType | None = Field(default=None, description="服务类型（只有社工看得到）")
    my_bookings: list[BookingRead] = Field(description="本户对该活动的有效预约（访客为空）")
    next_session: ActivityItem | None = Field(default=None, description="同一系列的下一期")
    similar: list[ActivityItem] = Field(default=[], description="还有名额的同类活动（最多 5 个）")
    join: JoinHint | None = Field(
        default=None,
        description="还没有在本社区登记住址的访客：怎样加入（显示「加入社区」按钮，预约需先加入）；居民和社工为 null",
    )


class BookingCreate(Input):
    attendee_ids: list[Id] | None = Field(
        default=None, max_length=10, description="本户成员的 member id；不填：只为自己预约"
    )
    on_behalf_of: Id | None = Field(
        default=None,
        description=(
            "社工代办（只限本社区工作人员）：为哪一户预约（household id）；attendee_ids 必填，为该户成员。"
            "规则与居民自己预约相同，预约记下代办的工作人员"
        ),
    )

    @model_validator(mode="after")
    def _desk_names_attendees(self) -> BookingCreate:
        if self.on_behalf_of is not None and not self.attendee_ids:
            raise ValueError("attendee_ids：代办预约请选择该户要参加的成员")
        return self


class CheckinCode(BaseModel):
    booking_id: int
    token: str = Field(description="做成二维码，给社工扫")


class ScanCheckin(Input):
    token: str | None = Field(
        default=None, min_length=3, max_length=64, pattern=r"^[0-9A-Za-z._-]+$", description="扫到的预约码"
    )
    booking_id: Id | None = Field(default=None, description="或：在名单上为没带手机的人签到（只限社工）")
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
    code: str = Field(description="居民也可以在小程序里手动输入这 8 个字符")
    qr_text: str = Field(
        description=(
            "做成二维码显示在现场屏幕上的内容：linli://checkin?activity=<活动 id>&code=<签到码>。"
            "居民在小程序里点「扫码签到」（wx.scanCode）扫到后，"
            'POST /activities/<活动 id>/checkins/self，请求体 {"code": <签到码>}'
        )
    )
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


AttendeeKind = Literal["adult", "child", "elder", "guest"]


class CheckinAttendee(BaseModel):
    member_id: int | None = Field(description="本户成员的 id，只为其中几位签到时填在 attendee_ids；来访者为 null")
    name: str = Field(description="称呼；志愿者看到的儿童称呼只留第一个字（小*）")
    kind: AttendeeKind
    checked_in_at: Timestamp | None = Field(description="签到时间；null：还没签到")
    checked_in_now: bool = Field(description="由这次请求签到的")


class CheckinBooking(BaseModel):
    id: int
    status: Literal["confirmed"] = Field(description="只有已确认的预约可以签到")
    seats: int
    source: Literal["app", "walkin"] = Field(description="app：预约；walkin：现场登记")
    attendees: list[CheckinAttendee]


class CheckinActivity(BaseModel):
    id: int
    title: str
    start_at: Timestamp
    end_at: Timestamp
    place: str


class CheckinResult(BaseModel):
    """The answer of every check-in at the door (a scanned code, the roster, the on-site code, a
    walk-in): what the screen shows next."""

    activity: CheckinActivity
    bookings: list[CheckinBooking] = Field(
        description="签到涉及的预约：扫预约码、名单签到、现场登记为一个；居民扫现场码为本户在本活动的所有已确认预约"
    )
    newly_checked_in: int = Field(description="这次签到的人数")
    already_checked_in: bool = Field(
        description="要签到的人之前都已签到（重复扫码）：这次什么也没改变，可提示「已签到」"
    )


class RosterAttendee(BaseModel):
    member_id: int | None
    name: str
    kind: AttendeeKind
    checked_in_at: Timestamp | None
    checkin_method: str | None
    no_show: bool


class RosterBooking(BaseModel):
    booking_id: int
    status: Literal["confirmed", "waitlisted"]
    source: Literal["app", "walkin"]
    seats: int
    booked_by: str | None
    booked_at_desk_by: str | None = Field(
        default=None, description="在服务台代办的预约：代办的工作人员（没有代办为空）"
    )
    household: str | None
    attendees: list[RosterAttendee]
    waitlist_position: int | None = None


class Attendance(BaseModel):
    """The roster as staff see it."""

    view: Literal["staff"] = Field(description="社工看到的完整名单")
    activity_id: int
    capacity: int
    taken: int
    expected: int
    checked_in: int
    no_show: int
    waitlisted_seats: int
    bookings: list[RosterBooking]
    waitlist: list[RosterBooking]


class VolunteerRosterAttendee(BaseModel):
    name: str = Field(description="称呼；儿童只留第一个字（小*）")
    kind: AttendeeKind
    checked_in_at: Timestamp | None


class VolunteerRosterBooking(BaseModel):
    booking_id: int
    source: Literal["app", "walkin"]
    seats: int
    attendees: list[VolunteerRosterAttendee]


class VolunteerAttendance(BaseModel):
    """The roster as a volunteer on duty at the door sees it: a part of the staff's. No address,
    booker, member id, check-in method, no-show or waitlisted name."""

    view: Literal["volunteer"] = Field(description="值班志愿者看到的名单：只有门口签到需要的")
    activity_id: int
    capacity: int
    taken: int
    expected: int
    checked_in: int
    waitlisted_seats: int
    bookings: list[VolunteerRosterBooking] = Field(description="已确认的预约（含现场登记）")


AttendanceView = Annotated[Attendance | VolunteerAttendance, Field(discriminator="view")]


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
