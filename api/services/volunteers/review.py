"""What the console's review of service records reads besides `records`: the queue with who
recorded each record, the records of a month or a volunteer (reviewed ones too), one record with
its corrections before and after it, the volunteers who have records, and the certificate staff
hand out for a volunteer (issued by `totals.certificate`, then fetched by its number).

The rules stay in `records`: reviewing, correcting and issuing go through it, and nobody reviews
or corrects their own records there."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Certificate, ServiceRecord, User
from api.db.session import settings_of
from api.documents import pdf
from api.errors import NotFound, Unprocessable
from api.services.access import get_community, require_staff
from api.services.activities import planning
from api.services.volunteers import records, totals
from api.services.volunteers.common import hours

STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "未通过"}
SEARCH_LIMIT = 300


async def _views(
    session: AsyncSession, user: User, community_id: int, rows: list[ServiceRecord]
) -> list[dict[str, Any]]:
    """Records as the console shows them: the service's view, the names of the volunteer, of who
    recorded it (none: the volunteer scanned out, or the shift's end closed it) and of who reviewed
    it, whether it is late for review, whether it is the viewer's own, and what corrected it."""
    people = await records.names(
        session, community_id, [p for r in rows for p in (r.user_id, r.recorded_by, r.reviewed_by)]
    )
    ids = [r.id for r in rows]
    corrections: dict[int, list[tuple[int, str]]] = {}
    if ids:
        found = await session.execute(
            select(ServiceRecord.corrects_id, ServiceRecord.id, ServiceRecord.status)
            .where(ServiceRecord.corrects_id.in_(ids))
            .order_by(ServiceRecord.id)
        )
        for corrects, cid, status in found.all():
            if corrects is not None:
                corrections.setdefault(corrects, []).append((cid, status))
    today = await planning.today(session, community_id)
    views = []
    for r in rows:
        mine = corrections.get(r.id, [])
        views.append(
            {
                **records.record_view(r, people.get(r.user_id)),
                "status_label": STATUS_LABELS.get(r.status, r.status),
                "recorder": people.get(r.recorded_by) if r.recorded_by else None,
                "reviewer": people.get(r.reviewed_by) if r.reviewed_by else None,
                "created_at": r.created_at,
                "overdue": r.status == "pending" and r.review_by < today,
                "own": r.user_id == user.id,
                "corrections": [{"id": c, "status": s, "status_label": STATUS_LABELS.get(s, s)} for c, s in mine],
                # an approved correction counts instead of this one
                "replaced": any(s == "approved" for _, s in mine),
                "open_correction": next((c for c, s in mine if s != "rejected"), None),
            }
        )
    return views


async def queue(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Staff: the records waiting for review, the most urgent first (`records.to_review`'s order
    and its overdue flag: past the tenth working day after the service)."""
    waiting = await records.to_review(session, user, community_id)
    ids = [r["id"] for r in waiting]
    rows: list[ServiceRecord] = []
    if ids:
        rows = list((await session.execute(select(ServiceRecord).where(ServiceRecord.id.in_(ids)))).scalars())
    views = {v["id"]: v for v in await _views(session, user, community_id, rows)}
    return [views[r["id"]] | {"overdue": r["overdue"]} for r in waiting if r["id"] in views]


def month_bounds(month: date) -> tuple[date, date]:
    """The first and last day of `month`'s month."""
    first = month.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)


async def search(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    volunteer_id: int | None = None,
    month: date | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Staff: the community's records (any state) of a volunteer, of a month (by the day of
    service), or of both; newest first, at most SEARCH_LIMIT, with the approved hours they count."""
    await require_staff(session, user, community_id)
    query = select(ServiceRecord).where(ServiceRecord.community_id == community_id)
    if volunteer_id is not None:
        query = query.where(ServiceRecord.user_id == volunteer_id)
    if month is not None:
        first, last = month_bounds(month)
        query = query.where(ServiceRecord.service_date >= first, ServiceRecord.service_date <= last)
    if status is not None:
        if status not in STATUS_LABELS:
            raise Unprocessable("status_invalid", "没有这个审核状态")
        query = query.where(ServiceRecord.status == status)
    rows = list(
        (
            await session.execute(
                query.order_by(ServiceRecord.service_date.desc(), ServiceRecord.id.desc()).limit(SEARCH_LIMIT + 1)
            )
        ).scalars()
    )
    more = len(rows) > SEARCH_LIMIT
    items = await _views(session, user, community_id, rows[:SEARCH_LIMIT])
    counted = sum(i["minutes"] for i in items if i["status"] == "approved" and not i["replaced"])
    return {"items": items, "more": more, "counted_hours": hours(counted)}


async def volunteers(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Staff: everyone with a service record in the community, by name."""
    await require_staff(session, user, community_id)
    ids = (
        await session.execute(
            select(ServiceRecord.user_id).where(ServiceRecord.community_id == community_id).distinct()
        )
    ).scalars()
    people = await records.names(session, community_id, ids)
    return [{"id": uid, "name": name} for uid, name in sorted(people.items(), key=lambda p: (p[1], p[0]))]


async def of_community(session: AsyncSession, user: User, community_id: int, record_id: int) -> None:
    """Staff of this community, asking about one of its records (another's is not found)."""
    await require_staff(session, user, community_id)
    found = await session.get(ServiceRecord, record_id)
    if found is None or found.community_id != community_id:
        raise NotFound("record_not_found", "找不到这条服务记录")


async def history(session: AsyncSession, user: User, community_id: int, record_id: int) -> dict[str, Any]:
    """Staff: a record of this community, the chain of corrections it belongs to (the record it
    corrects, back to the first, and every correction made of them, rejected ones too, oldest
    first) and its own events: recorded, reviewed, corrected."""
    await of_community(session, user, community_id, record_id)
    record = await session.get(ServiceRecord, record_id)
    assert record is not None
    root = record
    while root.corrects_id is not None:
        parent = await session.get(ServiceRecord, root.corrects_id)
        if parent is None:
            break
        root = parent
    family = [root]
    frontier = [root.id]
    while frontier:
        found = list(
            (
                await session.execute(
                    select(ServiceRecord).where(
                        and_(ServiceRecord.corrects_id.in_(frontier), ServiceRecord.community_id == community_id)
                    )
                )
            ).scalars()
        )
        family.extend(found)
        frontier = [r.id for r in found]
    family.sort(key=lambda r: (r.created_at, r.id))
    views = await _views(session, user, community_id, family)
    by_id = {v["id"]: v for v in views}
    this = by_id[record.id]
    events: list[dict[str, Any]] = [
        {
            "at": record.created_at,
            "kind": "recorded",
            "who": this["recorder"],
            "text": f"由{this['recorder']}确认签退，记录生成"
            if this["recorder"]
            else ("签退未完成，岗位结束时自动记录" if record.flagged else "志愿者扫码签退，记录生成"),
        }
    ]
    if record.corrects_id is not None:
        events[0]["text"] = f"{this['recorder'] or '社工'}提交更正（更正记录 #{record.corrects_id}）"
    if record.reviewed_at is not None:
        verdict = "审核通过" if record.status == "approved" else "审核不通过"
        events.append({"at": record.reviewed_at, "kind": record.status, "who": this["reviewer"], "text": verdict})
    for c in this["corrections"]:
        fixed = by_id.get(c["id"])
        if fixed is not None:
            events.append(
                {
                    "at": fixed["created_at"],
                    "kind": "corrected",
                    "who": fixed["recorder"],
                    "text": f"提交更正 #{c['id']}（{c['status_label']}）",
                    "record_id": c["id"],
                }
            )
    events.sort(key=lambda e: e["at"])
    counted = [v["id"] for v in views if v["status"] == "approved" and not v["replaced"]]
    return {"record": this, "family": views, "events": events, "counted_id": counted[-1] if counted else None}


async def issue_certificate(
    session: AsyncSession,
    user: User,
    community_id: int,
    volunteer_id: int,
    period_from: date | None,
    period_to: date | None,
) -> str:
    """Staff hand a volunteer the certificate of their approved hours (as the volunteer would get
    it: the same hours keep the same number), also once they have moved out; its number."""
    await require_staff(session, user, community_id)
    has_records = (
        await session.execute(
            select(ServiceRecord.id)
            .where(ServiceRecord.community_id == community_id, ServiceRecord.user_id == volunteer_id)
            .limit(1)
        )
    ).scalar_one_or_none()
    volunteer = await session.get(User, volunteer_id) if has_records is not None else None
    if volunteer is None:
        raise NotFound("volunteer_not_found", "这位志愿者在本社区没有服务记录")
    _, number = await totals.issue(session, volunteer, community_id, period_from, period_to)
    return number


async def certificate_pdf(session: AsyncSession, user: User, community_id: int, number: str) -> tuple[bytes, str]:
    """Staff: a certificate of this community already issued, as its PDF (read only), and its
    number as issued."""
    await require_staff(session, user, community_id)
    found = await session.get(Certificate, number.strip().upper()) if len(number) <= 16 else None
    if found is None or found.community_id != community_id:
        raise NotFound("certificate_not_found", "没有这个编号的证明")
    community = await get_community(session, community_id)
    check = f"{settings_of(session).public_url.rstrip('/')}/api/v1/certificates/{found.number}"
    data = pdf.certificate(
        name=found.name,
        hours=hours(found.minutes),
        period_from=found.period_from,
        period_to=found.period_to,
        services=list(found.services),
        organiser=found.organiser,
        number=found.number,
        check_url=check,
        issued_on=found.issued_at.astimezone(ZoneInfo(community.timezone)).date(),
    )
    return data, found.number
