"""The rules a booking is judged by (booking_batch.py applies them to each request of a batch):
the registration window, who may book for whom, the attendees' household and ages, no-show blocks,
and who hears of a booking made at the desk."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from api import localtime
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.services.access import RANK
from api.services.activities import booking_sql as sql
from api.services.activities.common import age_in


class Window(Protocol):
    status: str
    registration_opens_at: datetime | None
    registration_closes_at: datetime
    published_at: datetime | None


def registration_state(activity: Window, now: datetime) -> str:
    """not_yet / open / closed, for a published activity."""
    opens = activity.registration_opens_at or activity.published_at
    if opens is None or now < opens:
        return "not_yet"
    return "open" if now < activity.registration_closes_at else "closed"


def check_open(activity: Window, now: datetime, tz: ZoneInfo) -> None:
    """Bookings are for a published activity inside its registration window; a refusal says when
    it opens or closed, in the community's time (`tz`)."""
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消")
    if activity.status != "published":
        raise NotFound("activity_not_found", "活动不存在")
    state = registration_state(activity, now)
    if state == "not_yet":
        opens = activity.registration_opens_at or activity.published_at
        when = f" {localtime.text(opens, tz)} " if opens is not None else "还没有"
        raise Conflict("registration_not_open", f"报名{when}开始", details={"opens_at": opens})
    if state == "closed":
        closed = activity.registration_closes_at
        raise Conflict(
            "registration_closed", f"报名已于 {localtime.text(closed, tz)} 截止", details={"closed_at": closed}
        )


def resident_household(act: Any, caller: Any) -> int:
    """The household the caller books for: theirs in the activity's community. A visitor (no
    household there) is told to join first; one whose join still waits, to wait for it; neither
    learns anything of a draft."""
    if caller.member_id is not None:
        return int(caller.household_id)
    if role_of(caller) is None:
        if act.published_at is None:
            raise NotFound("activity_not_found", "活动不存在")
        raise Forbidden("not_a_member", "请先登记住址（楼栋和门牌）加入本社区，再预约活动")
    raise Forbidden("not_a_resident", "请先登记为本社区的居民（所在楼栋和门牌），审核通过后再预约")


def role_of(caller: Any) -> str | None:
    """The caller's role in the activity's community; platform admins are admins everywhere."""
    return "admin" if caller.is_platform_admin else caller.role


async def desk_household(conn: AsyncConnection, act: Any, caller: Any, household_id: int) -> int:
    """Booking at the desk (代办) is for staff of the activity's community, for one of its
    households. A resident, or staff of another community, is refused (a visitor learns nothing
    of drafts); a household of another community is not found."""
    role = role_of(caller)
    if role is None or RANK[role] < RANK["staff"]:
        if role is None and act.published_at is None:
            raise NotFound("activity_not_found", "活动不存在")
        raise Forbidden("desk_staff_only", "只有本社区的工作人员可以代居民预约")
    household = (await conn.execute(sql.HOUSEHOLD, {"h": household_id})).one_or_none()
    if household is None or household.community_id != act.community_id:
        raise NotFound("household_not_found", "找不到该住户")
    return int(household.id)


async def household_account(conn: AsyncConnection, household_id: int, attendees: list[Any]) -> int | None:
    """Who hears of a booking made at the desk (confirmation, reminder, promotion, changes): the
    first attendee with a WeChat account, else the head if they have one, else another member
    with one. A household without WeChat has nobody (None): its notices are skipped, staff call."""
    for member in attendees:
        if member.user_id is not None:
            return int(member.user_id)
    account = (await conn.execute(sql.HOUSEHOLD_ACCOUNT, {"h": household_id})).scalar_one_or_none()
    return int(account) if account is not None else None


def attendees(
    act: Any, members: dict[int, Any], household_id: int, ids: list[int], tz: ZoneInfo, *, desk: bool
) -> list[Any]:
    """The named attendees: active members of the booking's household, within the per-booking
    limit and the activity's age range (children, by year of birth)."""
    if len(set(ids)) != len(ids):
        raise Unprocessable("duplicate_attendee", "同一个人不能占两个座位")
    if len(ids) > act.max_seats_per_booking:
        raise Unprocessable(
            "too_many_seats",
            f"每次最多预约{act.max_seats_per_booking}个座位",
            details={"max_seats_per_booking": act.max_seats_per_booking},
        )
    chosen = [members[i] for i in ids if i in members and members[i].household_id == household_id]
    if len(chosen) != len(ids):
        message = "只能为该户的成员预约" if desk else "只能为本户的家庭成员预约"
        raise Unprocessable("attendee_not_in_household", message)
    if act.child_min_age is not None or act.child_max_age is not None:
        low, high = act.child_min_age or 0, act.child_max_age or 200
        for member in sorted(chosen, key=lambda m: m.id):
            if member.kind == "child" and member.birth_year is not None:
                age = age_in(member.birth_year, act.start_at, tz)
                if not low <= age <= high:
                    raise Unprocessable(
                        "attendee_age",
                        f"{member.display_name}的年龄不在本活动的{low}–{high}岁范围内",
                        details={"member_id": member.id, "age": age, "min_age": low, "max_age": high},
                    )
    return chosen


def check_blocks(chosen: list[Any], blocks: dict[int, Any], tz: ZoneInfo) -> None:
    """A no-show block of any attendee refuses the booking (the one lasting longest is named)."""
    found = [blocks[m.id] for m in chosen if m.id in blocks]
    if not found:
        return
    block = max(found, key=lambda b: b.until)
    name = next(m.display_name for m in chosen if m.id == block.member_id)
    raise Forbidden(
        "booking_blocked",
        f"{name}近期多次预约未到场，暂停预约至 {localtime.text(block.until, tz)}；如有特殊情况请联系社工",
        details={"member_id": block.member_id, "until": block.until, "no_shows": block.no_shows},
    )
