"""Service records (志愿服务记录): recording them, their review and corrections, and the names
they give people. What they add up to (totals, rankings, the certificate, the export) is `totals`.

A completed sign-up yields a pending record; staff approve or reject it within 10 working days of
the service. Approved records never change (the database refuses it); a correction is a new
record pointing at the one it corrects, and once approved it counts instead of it. The hours a
volunteer has are the approved records that no approved correction replaces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, Member, ServiceRecord, Shift, ShiftSignup, User, VolunteerProfile
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.services.access import get_community, require_staff, staff_ids
from api.services.notifications import notify
from api.services.volunteers.common import credited_minutes, crediting, hours, working_days_after

REVIEW_WORKING_DAYS = 10


async def _person_in_charge(session: AsyncSession, shift: Shift) -> str:
    """Who set the shift up: the name a certificate gives as the one in charge."""
    if shift.created_by is None:
        return "社工"
    return await _name(session, shift.created_by, shift.community_id, fallback="社工")


async def from_signup(
    session: AsyncSession, signup: ShiftSignup, shift: Shift, *, recorded_by: int | None, flagged: bool
) -> ServiceRecord:
    """The record of a completed sign-up: the time actually given inside the shift, rounded by the
    community's rule, waiting for review."""
    assert signup.checked_in_at is not None and signup.checked_out_at is not None
    policy = await crediting(session, shift.community_id)
    community = await get_community(session, shift.community_id)
    tz = ZoneInfo(community.timezone)
    start = max(shift.start_at, signup.checked_in_at)
    end = max(min(shift.end_at, signup.checked_out_at), start + timedelta(seconds=1))
    activity_name = ""
    if shift.activity_id is not None:
        activity = await session.get(Activity, shift.activity_id)
        activity_name = activity.title if activity else ""
    service_date = start.astimezone(tz).date()
    record = ServiceRecord(
        community_id=shift.community_id,
        user_id=signup.user_id,
        signup_id=signup.id,
        shift_id=shift.id,
        team_id=shift.team_id,
        service=shift.role,
        activity_name=activity_name,
        service_date=service_date,
        place=shift.place,
        start_at=start,
        end_at=end,
        minutes=credited_minutes(
            shift.start_at, shift.end_at, signup.checked_in_at, signup.checked_out_at, policy.rounding_minutes
        ),
        organiser=policy.organiser,
        person_in_charge=await _person_in_charge(session, shift),
        recorded_by=recorded_by,
        status="pending",
        review_by=working_days_after(service_date, REVIEW_WORKING_DAYS),
        flagged=flagged,
    )
    session.add(record)
    await session.flush()
    return record


def record_view(record: ServiceRecord, name: str | None = None) -> dict[str, Any]:
    return {
        "id": record.id,
        "user_id": record.user_id,
        "volunteer": name,
        "service": record.service,
        "activity_name": record.activity_name,
        "service_date": record.service_date,
        "place": record.place,
        "start_at": record.start_at,
        "end_at": record.end_at,
        "minutes": record.minutes,
        "hours": hours(record.minutes),
        "organiser": record.organiser,
        "person_in_charge": record.person_in_charge,
        "status": record.status,
        "review_by": record.review_by,
        "reviewed_at": record.reviewed_at,
        "review_note": record.review_note,
        "flagged": record.flagged,
        "corrects_id": record.corrects_id,
        "correction_reason": record.correction_reason,
    }


async def _record(session: AsyncSession, user: User, record_id: int) -> ServiceRecord:
    """The record, locked, for staff other than its volunteer: nobody reviews or fixes their own
    hours."""
    record = await session.get(ServiceRecord, record_id, with_for_update=True, populate_existing=True)
    if record is None:
        raise NotFound("record_not_found", "找不到这条服务记录")
    await require_staff(session, user, record.community_id)
    if record.user_id == user.id:
        raise Forbidden("own_record", "自己的服务记录请由其他社工审核或修改")
    return record


async def _minutes_for(
    session: AsyncSession, community_id: int, start: datetime, end: datetime, given: int | None
) -> int:
    """The minutes a fixed record credits: those staff give, never more than its times span, or
    the span in the community's units."""
    if end <= start:
        raise Unprocessable("record_times_invalid", "结束时间须晚于开始时间")
    span = int((end - start).total_seconds() // 60)
    if given is None:
        return credited_minutes(start, end, start, end, (await crediting(session, community_id)).rounding_minutes)
    if given > span:
        raise Unprocessable("minutes_exceed_times", "记录的时长不能超过开始到结束的时间", details={"max": span})
    return given


async def _dated(session: AsyncSession, record: ServiceRecord) -> None:
    """The date and review deadline that follow from a record's start."""
    community = await get_community(session, record.community_id)
    record.service_date = record.start_at.astimezone(ZoneInfo(community.timezone)).date()
    record.review_by = working_days_after(record.service_date, REVIEW_WORKING_DAYS)


async def review(session: AsyncSession, user: User, record_id: int, approve: bool, note: str | None) -> dict[str, Any]:
    """Staff approve a pending record (the volunteer is thanked with the hours) or reject it with
    a reason. The record is locked, so an approval and a rejection at once cannot both win."""
    record = await _record(session, user, record_id)
    if record.status != "pending":
        raise Conflict(
            "record_not_pending", "这条记录已经审核过了；需要改动请提交更正", details={"status": record.status}
        )
    if not approve and not note:
        raise Unprocessable("reason_required", "不通过时请写明原因")
    record.status = "approved" if approve else "rejected"
    record.reviewed_by = user.id
    record.reviewed_at = clock.now()
    record.review_note = note
    await session.flush()
    if approve:
        await notify(
            session,
            [record.user_id],
            "volunteer.thanks",
            {
                "record_id": record.id,
                "service": record.service,
                "hours": hours(record.minutes),
                "service_date": record.service_date.isoformat(),
            },
            f"record:{record.id}:approved",
            community_id=record.community_id,
        )
    return record_view(record)


async def amend(session: AsyncSession, user: User, record_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Staff fix a record still pending review (the times, the minutes credited, the service).
    New times give the record its date and, unless minutes are given, the minutes they span."""
    record = await _record(session, user, record_id)
    if record.status != "pending":
        raise Conflict("record_immutable", "已审核的记录不能修改，请提交更正记录", details={"status": record.status})
    start, end = fields.get("start_at", record.start_at), fields.get("end_at", record.end_at)
    if "minutes" in fields or "start_at" in fields or "end_at" in fields:
        record.minutes = await _minutes_for(session, record.community_id, start, end, fields.get("minutes"))
    record.start_at, record.end_at = start, end
    if "service" in fields:
        record.service = fields["service"]
    await _dated(session, record)
    await session.flush()
    return record_view(record)


async def correct(session: AsyncSession, user: User, record_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff correct an approved record: a new record, linked to it, with the reason; it is
    reviewed like any other and, once approved, counts instead of it. A record has one correction
    at a time (a rejected one may be tried again); to correct it further, correct the correction."""
    original = await _record(session, user, record_id)
    if original.status != "approved":
        raise Conflict("record_not_approved", "只有已审核通过的记录需要更正；待审核的可直接修改")
    newer = (
        await session.execute(
            select(ServiceRecord.id).where(ServiceRecord.corrects_id == original.id, ServiceRecord.status != "rejected")
        )
    ).scalar_one_or_none()
    if newer is not None:
        raise Conflict("already_corrected", "这条记录已有更正，请在更正后的记录上修改", details={"record_id": newer})
    start, end = data.get("start_at", original.start_at), data.get("end_at", original.end_at)
    minutes = await _minutes_for(session, original.community_id, start, end, data.get("minutes"))
    community = await get_community(session, original.community_id)
    service_date = start.astimezone(ZoneInfo(community.timezone)).date()
    correction = ServiceRecord(
        community_id=original.community_id,
        user_id=original.user_id,
        signup_id=original.signup_id,
        shift_id=original.shift_id,
        team_id=original.team_id,
        service=data.get("service") or original.service,
        activity_name=original.activity_name,
        service_date=service_date,
        place=original.place,
        start_at=start,
        end_at=end,
        minutes=minutes,
        organiser=original.organiser,
        person_in_charge=original.person_in_charge,
        recorded_by=user.id,
        status="pending",
        review_by=working_days_after(clock.now().astimezone(ZoneInfo(community.timezone)).date(), REVIEW_WORKING_DAYS),
        corrects_id=original.id,
        correction_reason=data["reason"],
    )
    session.add(correction)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the original is locked, so only a foreign writer gets here
        raise Conflict("already_corrected", "这条记录已有更正，请在更正后的记录上修改") from exc
    return record_view(correction)


async def to_review(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Staff: records waiting for review, the most urgent first; overdue and auto-closed ones say so."""
    await require_staff(session, user, community_id)
    rows = await session.execute(
        select(ServiceRecord, User.display_name)
        .join(User, User.id == ServiceRecord.user_id)
        .where(ServiceRecord.community_id == community_id, ServiceRecord.status == "pending")
        .order_by(ServiceRecord.review_by, ServiceRecord.id)
    )
    today = clock.now().astimezone(ZoneInfo((await get_community(session, community_id)).timezone)).date()
    return [{**record_view(r, name), "overdue": r.review_by < today} for r, name in rows.all()]


async def remind_reviewers(session: AsyncSession) -> int:
    """The worker's daily note to each community's staff: how many records wait, how many are late."""
    pending = (
        await session.execute(
            select(ServiceRecord.community_id, ServiceRecord.review_by).where(ServiceRecord.status == "pending")
        )
    ).all()
    by_community: dict[int, list[date]] = defaultdict(list)
    for community_id, review_by in pending:
        by_community[community_id].append(review_by)
    told = 0
    for community_id, due in by_community.items():
        community = await get_community(session, community_id)
        today = clock.now().astimezone(ZoneInfo(community.timezone)).date()
        staff = await staff_ids(session, community_id)
        told += await notify(
            session,
            staff,
            "records.awaiting",
            {"pending": len(due), "overdue": sum(1 for d in due if d < today), "day": today.isoformat()},
            f"records:{community_id}:awaiting:{today.isoformat()}",
            community_id=community_id,
        )
    return told


async def names(
    session: AsyncSession, community_id: int, user_ids: Iterable[int | None], fallback: str = "志愿者"
) -> dict[int, str]:
    """The names records give people: the real name a volunteer filed, else their name in the
    community, else their account's, else `fallback`."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    found: dict[int, str] = {}
    for uid, name in (await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))).all():
        found[uid] = name or ""
    members = await session.execute(
        select(Member.user_id, Member.display_name).where(
            Member.community_id == community_id, Member.user_id.in_(wanted)
        )
    )
    for member_uid, member_name in members.all():
        if member_uid is not None and member_name:
            found[member_uid] = member_name
    profiles = await session.execute(
        select(VolunteerProfile.user_id, VolunteerProfile.real_name).where(
            VolunteerProfile.community_id == community_id, VolunteerProfile.user_id.in_(wanted)
        )
    )
    for uid, real in profiles.all():
        if real:
            found[uid] = real
    return {uid: found.get(uid) or fallback for uid in wanted}


async def _name(session: AsyncSession, user_id: int, community_id: int, fallback: str = "志愿者") -> str:
    return (await names(session, community_id, [user_id], fallback))[user_id]
