"""Attendance at a meeting, with the same on-site code as activities:

- staff show the meeting's on-site code on a screen (`current_onsite_code`); it changes every
  minute and its QR holds `linli://checkin?meeting=<meeting id>&code=<code>`;
- a participant with an account scans it (`self_checkin`): their own row on the list is checked in,
  from an hour before the start to the end of the meeting (`meetings.checkin_window`); someone not
  on the list is refused and sent to staff;
- staff tick participants without a phone by hand (`staff_checkin`), from the window's opening until
  the minutes are published, and count the people present without the app (`set_walkins`).

Check-in is open while the agenda is published and after the meeting was marked held (until its
minutes are published). Checking in again changes nothing and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import Meeting, MeetingParticipant, User
from api.db.session import settings_of
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.security import ONSITE_CODE_SECONDS, onsite_code, onsite_code_valid
from api.services.activities.checkin import ONSITE_QR_PREFIX
from api.services.activities.common import community_tz
from api.services.governance import common
from api.services.governance.meetings import (
    attendance_view,
    checkin_window,
    participant_view,
    participants_of,
    readable_meeting,
    staff_meeting,
)

SCOPE = "meeting"
OPEN_STATUSES = ("agenda_published", "held")


def _check_open(meeting: Meeting) -> None:
    if meeting.status not in OPEN_STATUSES:
        label = common.MEETING_STATUS_LABELS[meeting.status]
        raise Conflict(
            "meeting_checkin_unavailable",
            f"议事会当前状态为「{label}」，不能签到",
            details={"status": meeting.status, "allowed": list(OPEN_STATUSES)},
        )


async def _check_window(session: AsyncSession, meeting: Meeting, now: datetime, *, until_end: bool) -> None:
    """Open, and inside the window (`until_end`: participants scanning; staff may tick people and
    count walk-ins after the end too, while writing the minutes)."""
    _check_open(meeting)
    window = checkin_window(meeting)
    tz = await community_tz(session, meeting.community_id)
    if now < window["opens_at"]:
        raise Conflict("checkin_not_open", f"签到 {localtime.text(window['opens_at'], tz)} 开始", details=window)
    if until_end and now > window["closes_at"]:
        raise Conflict(
            "checkin_closed", f"签到已于 {localtime.text(window['closes_at'], tz)} 结束，请找社工登记", details=window
        )


def onsite_qr_text(meeting_id: int, code: str) -> str:
    """What the meeting's on-site QR code holds: `linli://checkin?meeting=<meeting id>&code=<code>`.
    The mini-program's 扫码签到 reads it and sends `POST /api/v1/meetings/<meeting id>/checkins/self`
    with `{"code": "<code>"}`. It carries nothing personal; the code alone is useless a minute later."""
    return f"{ONSITE_QR_PREFIX}?meeting={meeting_id}&code={code}"


async def current_onsite_code(session: AsyncSession, user: User, meeting_id: int) -> dict[str, Any]:
    """For the staff screen at the meeting: the code of this minute, its QR text, and when it changes."""
    meeting = await staff_meeting(session, user, meeting_id, lock=False)
    _check_open(meeting)
    now = clock.now()
    minute_start = int(now.timestamp()) // ONSITE_CODE_SECONDS * ONSITE_CODE_SECONDS
    code = onsite_code(settings_of(session), meeting.id, now, scope=SCOPE)
    return {
        "meeting_id": meeting.id,
        "code": code,
        "qr_text": onsite_qr_text(meeting.id, code),
        "valid_until": datetime.fromtimestamp(minute_start + ONSITE_CODE_SECONDS, UTC),
        "rotates_every_seconds": ONSITE_CODE_SECONDS,
        "window": checkin_window(meeting),
    }


async def _check_in(
    session: AsyncSession, meeting: Meeting, participant: MeetingParticipant, method: str, staff: bool
) -> dict[str, Any]:
    result = await session.execute(
        update(MeetingParticipant)
        .where(MeetingParticipant.id == participant.id, MeetingParticipant.checked_in_at.is_(None))
        .values(checked_in_at=clock.now(), checkin_method=method)
        .returning(MeetingParticipant.id)
        .execution_options(synchronize_session=False)
    )
    now_in = result.scalar_one_or_none() is not None
    participants = await participants_of(session, meeting.id)  # read again after the bulk update
    row = next(p for p in participants if p.id == participant.id)
    return {
        "meeting_id": meeting.id,
        "participant": participant_view(row, staff),
        "checked_in_now": now_in,
        "already_checked_in": not now_in,
        "attendance": attendance_view(meeting, participants),
    }


async def self_checkin(session: AsyncSession, user: User, meeting_id: int, code: str) -> dict[str, Any]:
    """A participant scans the on-site code: their own row on the list is checked in."""
    meeting, staff = await readable_meeting(session, user, meeting_id)
    now = clock.now()
    if not onsite_code_valid(settings_of(session), meeting.id, code, now, scope=SCOPE):
        raise Unprocessable("onsite_code_invalid", "签到码已过期或不正确，请扫描现场屏幕上最新的二维码")
    await _check_window(session, meeting, now, until_end=True)
    participant = (
        await session.execute(
            select(MeetingParticipant).where(
                MeetingParticipant.meeting_id == meeting.id, MeetingParticipant.user_id == user.id
            )
        )
    ).scalar_one_or_none()
    if participant is None:
        raise Forbidden("not_a_participant", "你不在本次议事会的参会名单上，请到现场找社工登记")
    return await _check_in(session, meeting, participant, "self", staff)


async def staff_checkin(session: AsyncSession, user: User, meeting_id: int, participant_id: int) -> dict[str, Any]:
    """Staff check a participant in by hand (someone without a phone)."""
    meeting = await staff_meeting(session, user, meeting_id)
    participant = await session.get(MeetingParticipant, participant_id)
    if participant is None or participant.meeting_id != meeting.id:
        raise NotFound("participant_not_found", "参会名单上没有这位")
    await _check_window(session, meeting, clock.now(), until_end=False)
    return await _check_in(session, meeting, participant, "staff", True)


async def set_walkins(session: AsyncSession, user: User, meeting_id: int, count: int) -> dict[str, Any]:
    """How many people were there without the app (residents who came to listen, say)."""
    meeting = await staff_meeting(session, user, meeting_id)
    await _check_window(session, meeting, clock.now(), until_end=False)
    meeting.walkin_count = count
    await session.flush()
    return attendance_view(meeting, await participants_of(session, meeting.id))
