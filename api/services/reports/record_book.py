"""The monthly record book (台账) that evaluators read on site: per activity held in the month its
sign-in sheet, its summary and its photos, plus the month's indicator sheet, in one ZIP the worker
assembles.

Staff request a month (`request_book`); the request only records the book (pending) and enqueues
its job. The worker (`build`) reads everything in a short read transaction, makes the PDFs and the
ZIP with no transaction open (a book with hundreds of photos takes a while, and on SQLite a writer
would hold every other writer up), stores it, and only then writes the book ready and tells staff
in their inbox. A job that runs again finds the book no longer pending and does nothing.

What goes in: an activity counts as held in the month when it is published, not cancelled, ended
started within the month (community time), has ended and had at least one check-in that
counts — as the indicators count it (`facts.held_between`, `facts.visited`).
Sign-in sheets list who checked in, with masked phones (a child's never: children appear by name
only); photos are those of the activity's visible posts, and never photos of a post flagged as
showing children unless the book is the organisation's internal archive (`internal`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Activity,
    ActivitySummary,
    Booking,
    BookingAttendee,
    Community,
    Household,
    Media,
    Member,
    Post,
    PostMedia,
    RecordBook,
    ServiceProject,
    User,
)
from api.db.session import storage_of
from api.documents import pdf
from api.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services import access, phones
from api.services.activities.common import place_of
from api.services.notifications.core import notify
from api.services.reports import exports, facts, summaries
from api.services.reports.labels import SERVICE_TYPE_LABELS
from api.services.reports.periods import parse_period
from api.services.users import mask_phone
from workers.outbox import enqueue

log = logging.getLogger("linli.record_book")

JOB = "reports.record_book"
BUILD_ATTEMPTS = 3  # a store or database hiccup is retried; the last failure marks the book failed
MONTH = re.compile(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")  # between 2000 and 2100, as every date
ZIP_TYPE = "application/zip"

# the files' names (kept apart from their extensions: names are Chinese, extensions are not words)
BOOK_NAME = "台账"
SIGNIN_NAME = "签到表"
SUMMARY_NAME = "活动总结"
PHOTOS_DIR = "照片"
INDICATORS_NAME = "指标"
README_NAME = "说明"
PDF, XLSX, TXT, JPG, ZIP = ".pdf", ".xlsx", ".txt", ".jpg", ".zip"

# 社区活动 / 小组活动 / 个案 / 志愿服务 / 议事协商 / 培训 / 其他 (api.db.models.reports.SERVICE_TYPES)
SUMMARY_SECTIONS = tuple((name, entry["label"]) for name, entry in summaries.TEMPLATE.items())
STATE_LABELS = {"pending": "生成中", "ready": "已生成", "failed": "生成失败"}
BUILD_FAILED = "生成时出错，请稍后重新申请；多次失败请联系平台管理员"
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


# -- who may --------------------------------------------------------------------------------------


async def _require_staff(session: AsyncSession, user: User, community_id: int) -> Community:
    """Staff and admins of the community; a resident is refused (403), anyone else is told there is
    no such community (404), as the reports are."""
    community, _role = await access.require_staff_hidden(
        session, user, community_id, "只有社区工作人员可以生成和下载台账"
    )
    return community


async def _book_for(
    session: AsyncSession, user: User, book_id: int, community_id: int | None = None
) -> tuple[RecordBook, Community]:
    """The book for staff of its community (403 for its residents); 404 for anyone else, and for a
    book of another community than `community_id` (the console's page of one community)."""
    book = await session.get(RecordBook, book_id)
    role = await access.role_in(session, user, book.community_id) if book is not None else None
    if book is None or role is None or (community_id is not None and book.community_id != community_id):
        raise NotFound("record_book_not_found", "找不到该台账")
    community = await _require_staff(session, user, book.community_id)
    return book, community


# -- months ---------------------------------------------------------------------------------------


def _first_of(month: str) -> date:
    if MONTH.match(month) is None:
        raise Unprocessable("month_invalid", "月份的格式应为 2026-09", details={"field": "month"})
    return parse_period(month, field="month").first


def months_allowed(community: Community) -> tuple[str, str]:
    """The first and last month a book can be made of: from the month the community was set up to
    the current one (community time)."""
    tz = ZoneInfo(community.timezone)
    return f"{community.created_at.astimezone(tz):%Y-%m}", f"{clock.now().astimezone(tz):%Y-%m}"


def _safe(name: str, limit: int = 40) -> str:
    """A name fit for a file or folder in the archive (and on a Windows desktop)."""
    cleaned = _UNSAFE.sub("", name).strip().strip(".")
    return cleaned[:limit] or "活动"


def file_name(community_name: str, month: str) -> str:
    return f"{BOOK_NAME}-{_safe(community_name)}-{month}{ZIP}"


def storage_key(book: RecordBook) -> str:
    return f"record-books/{book.community_id}/{book.id}.zip"


# -- the API's side -------------------------------------------------------------------------------


def book_view(book: RecordBook, community: Community, requester: str | None) -> dict[str, Any]:
    ready = book.state == "ready"
    return {
        "id": book.id,
        "community_id": book.community_id,
        "month": book.month,
        "internal": book.internal,
        "state": book.state,
        "state_label": STATE_LABELS.get(book.state, book.state),
        "size": book.size,
        "error": book.error,
        "requested_by": {"id": book.requested_by, "name": requester or "工作人员"}
        if book.requested_by is not None
        else None,
        "requested_at": book.requested_at,
        "ready_at": book.ready_at,
        "file_name": file_name(community.name, book.month),
        "download_url": f"/api/v1/record-books/{book.id}/download" if ready else None,
    }


async def _requester_names(session: AsyncSession, books: Sequence[RecordBook]) -> dict[int, str]:
    ids = {b.requested_by for b in books if b.requested_by is not None}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows.all()}


async def request_book(
    session: AsyncSession, user: User, community_id: int, month: str, internal: bool
) -> dict[str, Any]:
    """Ask the worker for a month's book. The month must have begun, and not before the community
    was set up (422 month_invalid). A book of the same month and kind still being made is
    answered instead of a second one."""
    community = await _require_staff(session, user, community_id)
    first, last = months_allowed(community)
    _first_of(month)
    if not first <= month <= last:
        raise Unprocessable(
            "month_invalid",
            f"只能生成本社区建立以来、到本月为止的台账（{first} 至 {last}）",
            details={"field": "month", "earliest": first, "latest": last},
        )
    waiting = (
        await session.execute(
            select(RecordBook)
            .where(
                RecordBook.community_id == community_id,
                RecordBook.month == month,
                RecordBook.internal == internal,
                RecordBook.state == "pending",
            )
            .order_by(RecordBook.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if waiting is not None:
        return book_view(
            waiting, community, (await _requester_names(session, [waiting])).get(waiting.requested_by or 0)
        )
    now = clock.now()
    book = RecordBook(
        community_id=community_id,
        month=month,
        internal=internal,
        state="pending",
        requested_by=user.id,
        requested_at=now,
    )
    session.add(book)
    await session.flush()
    await enqueue(
        session,
        JOB,
        {"record_book_id": book.id},
        dedup_key=f"record_book:{book.id}:{now.timestamp():.6f}",
        max_attempts=BUILD_ATTEMPTS,
    )
    return book_view(book, community, user.display_name)


async def months_to_choose(session: AsyncSession, user: User, community_id: int, limit: int = 36) -> list[str]:
    """The months a book can be requested for, newest first (the console's choice)."""
    community = await _require_staff(session, user, community_id)
    first, last = months_allowed(community)
    months: list[str] = []
    at = _first_of(last)
    while len(months) < limit and f"{at:%Y-%m}" >= first:
        months.append(f"{at:%Y-%m}")
        at = date(at.year - (at.month == 1), (at.month - 2) % 12 + 1, 1)
    return months


async def list_books(
    session: AsyncSession, user: User, community_id: int, cursor: str | None = None, limit: int = 20
) -> tuple[list[dict[str, Any]], str | None]:
    """The community's books, newest first."""
    community = await _require_staff(session, user, community_id)
    query = (
        select(RecordBook)
        .where(RecordBook.community_id == community_id)
        .order_by(RecordBook.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        query = query.where(RecordBook.id < cursor_int(before))
    books = list((await session.execute(query)).scalars())
    names = await _requester_names(session, books)
    next_cursor = encode_cursor(books[limit - 1].id) if len(books) > limit else None
    return [book_view(b, community, names.get(b.requested_by or 0)) for b in books[:limit]], next_cursor


async def get_book(session: AsyncSession, user: User, book_id: int) -> dict[str, Any]:
    book, community = await _book_for(session, user, book_id)
    return book_view(book, community, (await _requester_names(session, [book])).get(book.requested_by or 0))


async def download(
    session: AsyncSession, user: User, book_id: int, community_id: int | None = None
) -> tuple[bytes, str]:
    """The ZIP and its file name, once the book is ready (409 before, or if it failed)."""
    book, community = await _book_for(session, user, book_id, community_id)
    if book.state != "ready" or book.storage_key is None:
        message = (
            "台账还在生成中，完成后会在消息里通知你" if book.state == "pending" else "台账没有生成成功，请重新申请"
        )
        raise Conflict("record_book_not_ready", message, details={"state": book.state})
    data = await storage_of(session).get(book.storage_key)
    if data is None:
        raise NotFound("record_book_file_missing", "台账文件已不存在，请重新生成")
    return data, file_name(community.name, book.month)


# -- what the worker reads ------------------------------------------------------------------------


@dataclass
class _Photo:
    key: str
    children: bool


@dataclass
class _Held:
    """One activity held in the month, as the book shows it."""

    number: int
    activity_id: int
    title: str
    start_at: datetime
    end_at: datetime
    place: str
    project: str
    service_type: str
    organiser: str
    rows: list[pdf.SigninRow]
    summary: list[tuple[str, str]]
    summary_written: bool
    children: int
    guests: int
    photos: list[_Photo] = field(default_factory=list)
    photos_left_out: int = 0

    def folder(self, tz: ZoneInfo) -> str:
        return f"{self.number:02d}-{self.start_at.astimezone(tz):%m%d}-{_safe(self.title)}/"


@dataclass
class _Plan:
    book_id: int
    community_id: int
    community_name: str
    month: str
    internal: bool
    requested_by: int | None
    requester: str
    tz: ZoneInfo
    held: list[_Held]
    workbook: bytes


def _when(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    s, e = start.astimezone(tz), end.astimezone(tz)
    day = f"{s.year}年{s.month}月{s.day}日"
    if s.date() == e.date():
        return f"{day} {s:%H:%M}—{e:%H:%M}"
    return f"{day} {s:%H:%M}—{e.month}月{e.day}日 {e:%H:%M}"


async def held_activities(session: AsyncSession, community_id: int, start: datetime, end: datetime) -> list[Activity]:
    """The activities the month's 活动场次 counts (the registry's definition): published, not
    cancelled, started within [start, end) and ended by now, with at least one check-in of a
    booking that stands; in start order."""
    checked_in = (
        select(BookingAttendee.id)
        .join(Booking, Booking.id == BookingAttendee.booking_id)
        .where(BookingAttendee.activity_id == Activity.id, facts.visited())
        .exists()
    )
    rows = await session.execute(
        select(Activity)
        .where(*facts.held_between(community_id, start, end, clock.now()), checked_in)
        .order_by(Activity.start_at, Activity.id)
    )
    return list(rows.scalars())


async def _signin_rows(session: AsyncSession, activity: Activity, tz: ZoneInfo) -> tuple[list[pdf.SigninRow], int, int]:
    """Who checked in, in the order they came: name, household, masked phone (the person's own
    WeChat number, else the household's; a child's never), local check-in time. Returns the rows,
    how many were children and how many guests."""
    rows = (
        await session.execute(
            select(BookingAttendee, Booking.source, Member, Household, User.phone_number)
            .join(Booking, Booking.id == BookingAttendee.booking_id)
            .outerjoin(Member, Member.id == BookingAttendee.member_id)
            .outerjoin(Household, Household.id == Member.household_id)
            .outerjoin(User, User.id == Member.user_id)
            .where(
                BookingAttendee.activity_id == activity.id,
                facts.visited(),
            )
            .order_by(BookingAttendee.checked_in_at, BookingAttendee.id)
        )
    ).all()
    needs_household_phone = [
        household.id
        for _, _, member, household, own in rows
        if member is not None and household is not None and member.kind != "child" and not own
    ]
    household_phones = await phones.masked(session, sorted(set(needs_household_phone)))
    result: list[pdf.SigninRow] = []
    children = guests = 0
    for attendee, source, member, household, own in rows:
        at = attendee.checked_in_at.astimezone(tz) if attendee.checked_in_at is not None else None
        checked_in = f"{at:%H:%M}" if at is not None else ""
        if member is None:
            guests += 1
            result.append(pdf.SigninRow(attendee.guest_name or "", "", "", checked_in, "来访者"))
            continue
        notes = []
        phone = ""
        if member.kind == "child":
            children += 1
            notes.append("儿童")
        else:
            phone = mask_phone(own) or (household_phones.get(household.id, "") if household is not None else "")
        if source == "walkin":
            notes.append("现场登记")
        address = f"{household.building}{household.unit}{household.room}" if household is not None else ""
        result.append(pdf.SigninRow(member.display_name, address, phone, checked_in, "、".join(notes)))
    return result, children, guests


async def _photos(session: AsyncSession, activity_id: int) -> list[_Photo]:
    """The photos of the activity's visible posts, in the order they were shown."""
    rows = await session.execute(
        select(Media.key, Post.shows_children)
        .join(PostMedia, PostMedia.media_id == Media.id)
        .join(Post, Post.id == PostMedia.post_id)
        .where(Post.activity_id == activity_id, Post.status == "visible", Media.status == "approved")
        .order_by(Post.visible_at, Post.id, PostMedia.position)
    )
    return [_Photo(key, bool(children)) for key, children in rows.all()]


async def _summary(session: AsyncSession, activity_id: int) -> tuple[list[tuple[str, str]], bool]:
    row = await session.get(ActivitySummary, activity_id)
    sections = [
        (label, (getattr(row, name) or "").strip() if row is not None else "") for name, label in SUMMARY_SECTIONS
    ]
    # a section left empty: the summary says 未填写 there
    return sections, any(text for _, text in sections)


async def _plan(session: AsyncSession, book: RecordBook) -> _Plan:
    """Everything the book needs, read in one transaction."""
    community = await session.get(Community, book.community_id)
    if community is None:
        raise AppError("record_book_community_gone", "社区已不存在")
    tz = ZoneInfo(community.timezone)
    requester = await session.get(User, book.requested_by) if book.requested_by is not None else None
    role = await access.role_in(session, requester, community.id) if requester is not None else None
    if requester is None or role is None or access.RANK[role] < access.RANK["staff"]:
        # the indicators are read as the requester may see them: someone no longer staff may not
        raise Forbidden("record_book_requester_gone", "申请人已不是本社区的工作人员，请重新申请")
    start, end = parse_period(book.month, field="month").bounds(tz)
    held: list[_Held] = []
    activities = await held_activities(session, community.id, start, end)
    projects = {
        p.id: p.name
        for p in (
            await session.execute(
                select(ServiceProject).where(
                    ServiceProject.id.in_({a.project_id for a in activities if a.project_id is not None})
                )
            )
        ).scalars()
    }
    organisers = {
        uid: name
        for uid, name in (
            await session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_({a.created_by for a in activities if a.created_by is not None})
                )
            )
        ).all()
    }
    for number, activity in enumerate(activities, start=1):
        rows, children, guests = await _signin_rows(session, activity, tz)
        summary, written = await _summary(session, activity.id)
        photos = await _photos(session, activity.id)
        kept = [p for p in photos if book.internal or not p.children]
        held.append(
            _Held(
                number=number,
                activity_id=activity.id,
                title=activity.title,
                start_at=activity.start_at,
                end_at=activity.end_at,
                place=await place_of(session, activity),
                project=projects.get(activity.project_id or 0, ""),
                service_type=SERVICE_TYPE_LABELS.get(activity.service_type or "", ""),
                organiser=organisers.get(activity.created_by or 0, ""),
                rows=rows,
                summary=summary,
                summary_written=written,
                children=children,
                guests=guests,
                photos=kept,
                photos_left_out=len(photos) - len(kept),
            )
        )
    # the month's indicators, as the requester may see them (staff of the community)
    workbook = await exports.month_workbook(session, requester, community.id, book.month)
    return _Plan(
        book_id=book.id,
        community_id=community.id,
        community_name=community.name,
        month=book.month,
        internal=book.internal,
        requested_by=book.requested_by,
        requester=requester.display_name or "工作人员",
        tz=tz,
        held=held,
        workbook=workbook,
    )


# -- making the archive ---------------------------------------------------------------------------


def _signin_pdf(plan: _Plan, held: _Held) -> bytes:
    return pdf.signin_sheet(
        pdf.SigninSheet(
            community=plan.community_name,
            title=held.title,
            when=_when(held.start_at, held.end_at, plan.tz),
            place=held.place,
            project=held.project,
            service_type=held.service_type,
            rows=held.rows,
            organiser=held.organiser,
        )
    )


def _summary_pdf(plan: _Plan, held: _Held) -> bytes:
    return pdf.activity_summary(
        pdf.SummaryDoc(
            title=held.title,
            when=_when(held.start_at, held.end_at, plan.tz),
            place=held.place,
            project=held.project,
            sections=held.summary,
            figures=[
                ("签到人次", str(len(held.rows))),
                ("其中儿童", str(held.children)),
                ("其中来访者", str(held.guests)),
                ("照片", str(len(held.photos))),
            ],
        )
    )


def _readme(plan: _Plan, photos: int, missing: int, made_at: datetime) -> str:
    local = made_at.astimezone(plan.tz)
    checkins = sum(len(h.rows) for h in plan.held)
    left_out = sum(h.photos_left_out for h in plan.held)
    lines = [
        f"{plan.community_name} {plan.month} 台账",
        "",
        f"生成时间：{local.year}年{local.month}月{local.day}日 {local:%H:%M}",
        f"申请人：{plan.requester}",
        "用途："
        + ("内部存档，含标记为有儿童的照片，请勿对外提供" if plan.internal else "供评估查阅，不含标记为有儿童的照片"),
        "",
        f"本月举办的活动：{len(plan.held)} 场（已发布、未取消、在本月开始并已结束、至少一人签到）",
        f"签到人次：{checkins}",
        f"照片：{photos} 张",
    ]
    if left_out and not plan.internal:
        lines.append(f"未收入的儿童照片：{left_out} 张")
    if missing:
        lines.append(f"文件已不存在、未能收入的照片：{missing} 张")
    lines += [
        "",
        "内容：",
        f"  {INDICATORS_NAME}-{plan.month}" + XLSX + "：本月各项服务指标",
    ]
    for held in plan.held:
        lines.append(f"  {held.folder(plan.tz)}")
        lines.append(
            f"    {SIGNIN_NAME}" + PDF + f"：签到 {len(held.rows)} 人次，电话已打码，儿童不留电话，另附空白行供现场补签"
        )
        summary = "" if held.summary_written else "（未填写）"
        lines.append(f"    {SUMMARY_NAME}" + PDF + f"：背景、目标、过程、参与情况、成效、反思{summary}")
        lines.append(f"    {PHOTOS_DIR}/：{len(held.photos)} 张")
    if not plan.held:
        lines.append("  本月没有举办的活动")
    return "\r\n".join(lines) + "\r\n"


async def _write_archive(plan: _Plan, storage: Any, out: Any) -> tuple[int, int]:
    """The ZIP into the file `out`: texts and PDFs compressed, JPEGs stored as they are. Photos are
    read one at a time. Returns (photos written, photos missing from the store)."""
    written = missing = 0
    with zipfile.ZipFile(out, "w") as archive:
        for held in plan.held:
            folder = held.folder(plan.tz)
            signin = await asyncio.to_thread(_signin_pdf, plan, held)
            archive.writestr(folder + SIGNIN_NAME + PDF, signin, zipfile.ZIP_DEFLATED)
            summary = await asyncio.to_thread(_summary_pdf, plan, held)
            archive.writestr(folder + SUMMARY_NAME + PDF, summary, zipfile.ZIP_DEFLATED)
            number = 0
            for photo in held.photos:
                data = await storage.get(f"{photo.key}/large.jpg")
                if data is None:
                    missing += 1
                    continue
                number += 1
                archive.writestr(f"{folder}{PHOTOS_DIR}/{number:02d}{JPG}", data, zipfile.ZIP_STORED)
                written += 1
        archive.writestr(f"{INDICATORS_NAME}-{plan.month}{XLSX}", plan.workbook, zipfile.ZIP_DEFLATED)
        readme = _readme(plan, written, missing, clock.now())
        archive.writestr(README_NAME + TXT, readme.encode("utf-8-sig"), zipfile.ZIP_DEFLATED)
    return written, missing


def _link(community_id: int) -> str:
    return f"/console/c/{community_id}/record-books"


async def _tell(session: AsyncSession, book: RecordBook, kind: str, params: dict[str, Any]) -> None:
    recipients = set(await access.staff_ids(session, book.community_id))
    if book.requested_by is not None:
        recipients.add(book.requested_by)
    await notify(
        session,
        recipients,
        kind,
        {
            "record_book_id": book.id,
            "community_id": book.community_id,
            "month": book.month,
            "link": _link(book.community_id),
            "kind_label": "内部存档" if book.internal else "供评估查阅",
            **params,
        },
        f"record_book:{book.id}:{kind}",
        community_id=book.community_id,
    )


def size_text(size: int) -> str:
    """A size as staff read it: 860 KB, 12.5 MB."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(size // 1024, 1)} KB"


async def _make(ctx: Any, book_id: int) -> tuple[str, int] | None:
    """Read what the book needs (a read transaction), then make the ZIP and store it with nothing
    held open. The storage key and size, or None when the book is no longer pending."""
    async with ctx.db.session(write=False) as reader:
        book = await reader.get(RecordBook, book_id)
        if book is None or book.state != "pending":
            return None
        key = storage_key(book)
        plan = await _plan(reader, book)
    storage = storage_of(ctx.session)
    with tempfile.TemporaryFile() as out:
        await _write_archive(plan, storage, out)
        size = out.tell()
        out.seek(0)
        data = await asyncio.to_thread(out.read)
    await storage.put(key, data, ZIP_TYPE)
    return key, size


async def build(ctx: Any, book_id: int) -> None:
    """The worker's job: make and store the ZIP, then write the book ready (or failed) and tell
    staff, in the job's transaction. Rebuilding a book that is no longer pending does nothing. A
    failure is retried (the store or the database may be back); the last one marks the book failed."""
    failure: str | None = None
    made: tuple[str, int] | None = None
    try:
        made = await _make(ctx, book_id)
    except AppError as exc:  # the book cannot be made as asked: no retry helps
        failure = exc.message
    except Exception:
        if ctx.attempt < BUILD_ATTEMPTS:
            raise
        log.exception("record book failed", extra={"record_book_id": book_id})
        failure = BUILD_FAILED
    if made is None and failure is None:
        return
    book = await ctx.session.get(RecordBook, book_id, with_for_update=True, populate_existing=True)
    if book is None or book.state != "pending":
        return
    if made is None:
        book.state, book.error = "failed", (failure or BUILD_FAILED)[:256]
        await ctx.session.flush()
        await _tell(ctx.session, book, "record_book.failed", {"error": book.error})
        return
    book.state, book.storage_key, book.size, book.ready_at, book.error = "ready", made[0], made[1], clock.now(), None
    await ctx.session.flush()
    await _tell(ctx.session, book, "record_book.ready", {"size": size_text(made[1])})
