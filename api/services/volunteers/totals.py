"""What service records add up to: a volunteer's hours by month and year, rankings, the
certificate (the same hours for the same period keep one number, which anyone can check) and the
export.

Only approved records that no approved correction replaces count (`counted`).
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api import clock
from api.db.models import Certificate, Community, Member, ServiceRecord, User, VolunteerProfile
from api.db.session import settings_of
from api.documents import csvfile, pdf, xlsx
from api.errors import Conflict, NotFound, Unprocessable
from api.security import SealError, unseal
from api.services.access import get_community, require_member, require_staff, role_in
from api.services.volunteers.common import hours
from api.services.volunteers.records import _name, record_view

log = logging.getLogger("linli.volunteers")

CERTIFICATE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


def counted() -> ColumnElement[bool]:
    """Approved records that no approved correction replaces."""
    newer = aliased(ServiceRecord)
    return and_(
        ServiceRecord.status == "approved",
        ~exists().where(newer.corrects_id == ServiceRecord.id, newer.status == "approved"),
    )


async def my_records(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    """The caller's records (newest first) with approved hours by month and by year."""
    await require_member(session, user, community_id)
    rows = list(
        (
            await session.execute(
                select(ServiceRecord)
                .where(ServiceRecord.community_id == community_id, ServiceRecord.user_id == user.id)
                .order_by(ServiceRecord.service_date.desc(), ServiceRecord.id.desc())
            )
        ).scalars()
    )
    replaced = {r.corrects_id for r in rows if r.status == "approved" and r.corrects_id}
    by_month: dict[str, int] = defaultdict(int)
    by_year: dict[str, int] = defaultdict(int)
    for record in rows:
        if record.status == "approved" and record.id not in replaced:
            by_month[record.service_date.strftime("%Y-%m")] += record.minutes
            by_year[str(record.service_date.year)] += record.minutes
    return {
        "records": [record_view(r) for r in rows],
        "total_hours": hours(sum(by_year.values())),
        "by_month": [{"period": k, "hours": hours(v)} for k, v in sorted(by_month.items(), reverse=True)],
        "by_year": [{"period": k, "hours": hours(v)} for k, v in sorted(by_year.items(), reverse=True)],
        "counted_ids": sorted(r.id for r in rows if r.status == "approved" and r.id not in replaced),
    }


async def rankings(session: AsyncSession, user: User, community_id: int, team_id: int | None) -> list[dict[str, Any]]:
    """Approved hours per volunteer, most first; those who opted out are left out."""
    await require_member(session, user, community_id)
    query = (
        select(User.id, User.display_name, func.sum(ServiceRecord.minutes))
        .join(ServiceRecord, ServiceRecord.user_id == User.id)
        .outerjoin(
            VolunteerProfile,
            and_(VolunteerProfile.user_id == User.id, VolunteerProfile.community_id == community_id),
        )
        .where(ServiceRecord.community_id == community_id, counted())
        .where((VolunteerProfile.ranked.is_(None)) | VolunteerProfile.ranked)
        .group_by(User.id, User.display_name)
        .order_by(func.sum(ServiceRecord.minutes).desc(), User.id)
        .limit(50)
    )
    if team_id is not None:
        query = query.where(ServiceRecord.team_id == team_id)
    rows = (await session.execute(query)).all()
    return [
        {"rank": n, "user_id": uid, "display_name": name, "hours": hours(int(minutes))}
        for n, (uid, name, minutes) in enumerate(rows, start=1)
    ]


async def _counted_in(
    session: AsyncSession, community_id: int, user_id: int, period_from: date | None, period_to: date | None
) -> list[ServiceRecord]:
    query = select(ServiceRecord).where(
        ServiceRecord.community_id == community_id, ServiceRecord.user_id == user_id, counted()
    )
    if period_from is not None:
        query = query.where(ServiceRecord.service_date >= period_from)
    if period_to is not None:
        query = query.where(ServiceRecord.service_date <= period_to)
    return list((await session.execute(query.order_by(ServiceRecord.service_date, ServiceRecord.id))).scalars())


async def certificate(
    session: AsyncSession, user: User, community_id: int, period_from: date | None, period_to: date | None
) -> tuple[bytes, str]:
    """A PDF stating the volunteer's approved hours, the services, the period and the recording
    organisation, with a number anyone can check at /certificates/{number}. Free, as the rules
    say. The same hours for the same period keep the same number, however often it is fetched."""
    await require_member(session, user, community_id)
    return await issue(session, user, community_id, period_from, period_to)


async def issue(
    session: AsyncSession, user: User, community_id: int, period_from: date | None, period_to: date | None
) -> tuple[bytes, str]:
    """The certificate of `user`'s approved hours here, whoever asks: the volunteer themselves
    (`certificate`), or staff at the desk for one who has since moved out (`review`)."""
    if period_from is not None and period_to is not None and period_from > period_to:
        raise Unprocessable("period_invalid", "开始日期不能晚于结束日期")
    records = await _counted_in(session, community_id, user.id, period_from, period_to)
    if not records:
        raise Conflict("no_approved_hours", "这段时间还没有审核通过的志愿服务记录")
    name = await _name(session, user.id, community_id)
    minutes = sum(r.minutes for r in records)
    services = sorted({r.service for r in records})
    organiser = "、".join(sorted({r.organiser for r in records}))
    first, last = period_from or records[0].service_date, period_to or records[-1].service_date
    # one at a time per person, so that fetching it twice at once does not issue two numbers
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    issued = (
        await session.execute(
            select(Certificate).where(
                Certificate.community_id == community_id,
                Certificate.user_id == user.id,
                Certificate.period_from == first,
                Certificate.period_to == last,
                Certificate.minutes == minutes,
                Certificate.name == name,
                Certificate.organiser == organiser,
            )
        )
    ).scalars()
    found = next((c for c in issued if c.services == services), None)
    if found is None:
        found = Certificate(
            number="".join(secrets.choice(CERTIFICATE_ALPHABET) for _ in range(12)),
            community_id=community_id,
            user_id=user.id,
            name=name,
            minutes=minutes,
            period_from=first,
            period_to=last,
            services=services,
            organiser=organiser,
            issued_at=clock.now(),
        )
        session.add(found)
        await session.flush()
    community: Community = await get_community(session, community_id)
    day = found.issued_at.astimezone(ZoneInfo(community.timezone)).date()
    check = f"{settings_of(session).public_url.rstrip('/')}/api/v1/certificates/{found.number}"
    data = pdf.certificate(
        name=name,
        hours=hours(minutes),
        period_from=first,
        period_to=last,
        services=services,
        organiser=organiser,
        number=found.number,
        check_url=check,
        issued_on=day,
    )
    return data, found.number


async def verify(session: AsyncSession, number: str) -> dict[str, Any]:
    """Anyone holding a certificate's number (a school, an employer) can check it; the name is
    masked, nothing else personal is shown. `current` says whether the approved records of its
    period still add up to its hours (a later correction may have changed them)."""
    found = await session.get(Certificate, number.strip().upper()) if len(number) <= 16 else None
    if found is None:
        raise NotFound("certificate_not_found", "没有这个编号的证明")
    now_counted = await _counted_in(session, found.community_id, found.user_id, found.period_from, found.period_to)
    return {
        "number": found.number,
        "name": found.name[:1] + "*" * max(len(found.name) - 1, 1),
        "hours": hours(found.minutes),
        "period_from": found.period_from,
        "period_to": found.period_to,
        "services": found.services,
        "organiser": found.organiser,
        "issued_at": found.issued_at,
        "current": sum(r.minutes for r in now_counted) == found.minutes,
    }


EXPORT_COLUMNS = (
    "记录编号", "姓名", "证件号码", "服务内容", "活动名称", "服务日期", "服务地点",
    "开始时间", "结束时间", "服务时长（小时）", "组织单位", "负责人", "记录人", "审核状态", "更正自",
)  # fmt: skip


async def export(
    session: AsyncSession,
    user: User,
    community_id: int,
    period_from: date | None,
    period_to: date | None,
    kind: Literal["xlsx", "csv"] = "xlsx",
) -> bytes:
    """Staff export approved records (those counted) as XLSX (or CSV), in the columns the national
    record rules use, for re-entry into the provincial or national platform: dates and times as
    dates, the hours as numbers. The ID number is written in full only for community admins (who
    file the records); staff see it masked."""
    await require_staff(session, user, community_id)
    community = await get_community(session, community_id)
    tz = ZoneInfo(community.timezone)
    admin = (await role_in(session, user, community_id)) == "admin" or user.is_platform_admin
    query = (
        select(ServiceRecord, VolunteerProfile, Member.display_name, User.display_name)
        .join(User, User.id == ServiceRecord.user_id)
        .outerjoin(
            VolunteerProfile,
            and_(VolunteerProfile.user_id == ServiceRecord.user_id, VolunteerProfile.community_id == community_id),
        )
        .outerjoin(Member, and_(Member.user_id == ServiceRecord.user_id, Member.community_id == community_id))
        .where(ServiceRecord.community_id == community_id, counted())
        .order_by(ServiceRecord.service_date, ServiceRecord.id)
    )
    if period_from is not None:
        query = query.where(ServiceRecord.service_date >= period_from)
    if period_to is not None:
        query = query.where(ServiceRecord.service_date <= period_to)
    settings = settings_of(session)
    rows = []
    for record, profile, member_name, user_name in (await session.execute(query)).all():
        id_number = ""
        if profile is not None and profile.id_number_sealed:
            id_number = profile.id_number_hint or ""
            if admin:
                try:
                    id_number = unseal(settings, profile.id_number_sealed, purpose="volunteer.id_number")
                except SealError:
                    log.error(
                        "an ID number cannot be unsealed: was LINLI_DATA_KEY changed?", extra={"record": record.id}
                    )
                    id_number = f"{id_number}（无法解密）"
        # the recorder: whoever confirmed the check-out for the volunteer, else the reviewer
        by = record.recorded_by or record.reviewed_by
        recorder = await _name(session, by, community_id, fallback="社工") if by else "社工"
        rows.append(
            [
                record.id,
                (profile.real_name if profile and profile.real_name else None) or member_name or user_name,
                id_number,
                record.service,
                record.activity_name,
                record.service_date,
                record.place,
                record.start_at.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0),
                record.end_at.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0),
                float(hours(record.minutes)),
                record.organiser,
                record.person_in_charge,
                recorder,
                "已审核",
                record.corrects_id,
            ]
        )
    if kind == "csv":
        return csvfile.csv_bytes(EXPORT_COLUMNS, rows)
    return xlsx.workbook([xlsx.Sheet("志愿服务记录", EXPORT_COLUMNS, rows)])
