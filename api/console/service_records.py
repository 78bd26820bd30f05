"""Service records in the console (志愿服务 › 服务记录审核, 时长记录规则): the review queue with
approve and reject (a reason), overdue ones flagged; the records of a volunteer or a month; a
record's page with its corrections before and after it and the correction form (a new linked record
with a reason: approved records never change); the export (XLSX) of a period and a volunteer's
certificate (PDF); the crediting policy. Every read and change goes through the services the API
calls (`services.volunteers.records`, `totals`, `review`, `common`); nobody reviews or corrects
their own records there, so a forged request is refused even though the pages offer no button for
it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import clock, localtime
from api.console import web
from api.deps import IdPath
from api.documents import xlsx
from api.errors import AppError
from api.schemas.volunteers import PolicyWrite, RecordCorrection, RecordReview
from api.services.volunteers import common, records, review, totals

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}/volunteers", include_in_schema=False)

ROUNDINGS = (1, 5, 10, 15, 30, 60)
LABELS = {
    "note": "不通过的原因",
    "reason": "更正原因",
    "start_at": "开始时间",
    "end_at": "结束时间",
    "minutes": "计入时长",
    "hours": "计入时长",
    "service": "服务内容",
    "organiser": "记录单位",
    "rounding_minutes": "取整单位",
    "volunteer_id": "志愿者",
    "period_from": "开始日期",
    "period_to": "结束日期",
    "from": "开始日期",
    "to": "结束日期",
}
# the service's refusals that belong beside a field of the form
FIELD_OF = {
    "reason_required": "note",
    "record_times_invalid": "end_at",
    "minutes_exceed_times": "hours",
    "period_invalid": "to",
    "volunteer_not_found": "volunteer_id",
    "no_approved_hours": "_",
}


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/volunteers"


def _zh(text: str) -> str:
    return web.zh_fields(text, LABELS)


def _input(value: datetime | None) -> str:
    """A time as a datetime-local input shows it, in the community's zone."""
    return value.astimezone(localtime.response_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _day(raw: str, field: str, errors: dict[str, str]) -> date | None:
    """A date input's value (empty: none); a bad one is noted in `errors`."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[field] = "请按“年-月-日”填写，如 2026-12-01"
        return None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        errors[field] = "应在 2000 年到 2100 年之间"
        return None
    return day


def _month(raw: str) -> date | None:
    """`2026-12` (a month input's value) as its first day; None when empty or not a month."""
    try:
        return date.fromisoformat(f"{raw}-01") if raw else None
    except ValueError:
        return None


def _refusal(exc: AppError) -> dict[str, str] | None:
    """A service's refusal that is about a field of the form, by field; None for any other (own
    record, already reviewed…), which goes to the page's flash line."""
    if exc.code == "validation_error" and isinstance(exc.details, list):
        return {str(d.get("field")): _zh(str(d.get("message"))) for d in exc.details}
    field = FIELD_OF.get(exc.code)
    return {field: _zh(exc.message)} if field else None


# -- the review queue ------------------------------------------------------------------------------


@router.get("/records")
async def queue_page(request: Request, desk: web.DeskDep) -> Response:
    """Records waiting for review, the most urgent first; those past their deadline (ten working
    days after the service) flagged; one's own without buttons (another social worker reviews them)."""
    waiting = await review.queue(desk.session, desk.viewer.user, desk.community.id)
    context = {
        "items": waiting,
        "overdue": sum(1 for r in waiting if r["overdue"]),
        "review_days": records.REVIEW_WORKING_DAYS,
        "vbase": _base(desk),
        "errors": {},
        "values": {},
        "tab": "records",
    }
    return web.render(request, "volunteers/records.html", context, desk=desk, nav="volunteers")


class ReviewForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=1000)
    back: Literal["queue", "record"] = "queue"


def _back(desk: web.Desk, record_id: int, back: str) -> str:
    return f"{_base(desk)}/records/{record_id}" if back == "record" else f"{_base(desk)}/records"


@router.post("/records/{record_id}/approve", dependencies=[web.CsrfChecked])
async def approve(
    record_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ReviewForm, Form()]
) -> Response:
    """审核通过 (`records.review`): the volunteer is thanked with the hours. The service refuses
    one's own record, and one already reviewed; the refusal shows in the flash line."""
    await review.of_community(desk.session, desk.viewer.user, desk.community.id, record_id)
    await records.review(desk.session, desk.viewer.user, record_id, True, None)
    return web.redirect(_back(desk, record_id, form.back), request)


@router.post("/records/{record_id}/reject", dependencies=[web.CsrfChecked])
async def reject(
    record_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ReviewForm, Form()]
) -> Response:
    """审核不通过 with the reason (`records.review`); without one the form comes back saying so."""
    session, user = desk.session, desk.viewer.user
    await review.of_community(session, user, desk.community.id, record_id)
    errors: dict[str, str] = {}
    try:
        body = RecordReview.model_validate({"approve": False, "note": form.note or None})
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS)
    if not errors:
        try:
            async with session.begin_nested():
                await records.review(session, user, record_id, False, body.note)
        except AppError as exc:
            found = _refusal(exc)
            if found is None:
                raise
            errors = found
    if errors:
        context: dict[str, Any] = {"r": {"id": record_id}, "back": form.back, "errors": errors}
        context.update(values={"note": form.note}, vbase=_base(desk))
        return web.render(request, "volunteers/_records_reject.html", context, status_code=422, desk=desk)
    return web.redirect(_back(desk, record_id, form.back), request)


# -- the records of a volunteer or a month -----------------------------------------------------------


@router.get("/records/list")
async def list_page(
    request: Request,
    desk: web.DeskDep,
    volunteer: Annotated[str, Query(max_length=20)] = "",
    month: Annotated[str, Query(max_length=7)] = "",
    status: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Every record (reviewed ones too) of a volunteer, a month, or both; the month shown first is
    this one. What a filter does not know is ignored."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    people = await review.volunteers(session, user, cid)
    known = {str(p["id"]): p["id"] for p in people}
    volunteer_id = known.get(volunteer)
    chosen = _month(month)
    if chosen is None and not month and volunteer_id is None:
        chosen = clock.now().astimezone(ZoneInfo(desk.community.timezone)).date().replace(day=1)
    found = await review.search(
        session,
        user,
        cid,
        volunteer_id=volunteer_id,
        month=chosen,
        status=status if status in review.STATUS_LABELS else None,
    )
    context = {
        **found,
        "people": people,
        "filters": {
            "volunteer": str(volunteer_id or ""),
            "month": chosen.strftime("%Y-%m") if chosen else "",
            "status": status if status in review.STATUS_LABELS else "",
        },
        "statuses": review.STATUS_LABELS,
        "vbase": _base(desk),
        "tab": "records",
    }
    return web.render(request, "volunteers/records_list.html", context, desk=desk, nav="volunteers")


# -- the export and the certificate ----------------------------------------------------------------------


async def _files_context(desk: web.Desk, **context: Any) -> dict[str, Any]:
    today = clock.now().astimezone(ZoneInfo(desk.community.timezone)).date()
    return {
        "people": await review.volunteers(desk.session, desk.viewer.user, desk.community.id),
        "this_year": today.replace(month=1, day=1).isoformat(),
        "today": today.isoformat(),
        "values": {"volunteer_id": "", "from": "", "to": ""},
        "errors": {},
        "labels": LABELS,
        "vbase": _base(desk),
        "tab": "records",
        **context,
    }


@router.get("/records/files")
async def files_page(request: Request, desk: web.DeskDep) -> Response:
    """The export of a period's approved records, and a volunteer's certificate."""
    context = await _files_context(desk)
    return web.render(request, "volunteers/records_files.html", context, desk=desk, nav="volunteers")


@router.get("/records/export")
async def export(
    request: Request,
    desk: web.DeskDep,
    period_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    period_to: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    """The approved records of the period (by the day of service) as a workbook (`totals.export`:
    the national record's columns; ID numbers in full only for admins)."""
    errors: dict[str, str] = {}
    first, last = _day(period_from, "from", errors), _day(period_to, "to", errors)
    if first and last and first > last:
        errors["to"] = "开始日期不能晚于结束日期"
    if errors:
        context = await _files_context(
            desk, values={"volunteer_id": "", "from": period_from, "to": period_to}, export_errors=errors
        )
        return web.render(request, "volunteers/records_files.html", context, status_code=422, desk=desk)
    data = await totals.export(desk.session, desk.viewer.user, desk.community.id, first, last, "xlsx")
    name = f"service-records-{first or 'start'}-{last or 'now'}.xlsx"
    return Response(
        data, media_type=xlsx.CONTENT_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class CertificateForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    volunteer_id: str = Field(default="", max_length=20)
    period_from: str = Field(default="", max_length=10, alias="from")
    period_to: str = Field(default="", max_length=10, alias="to")


@router.post("/records/certificates", dependencies=[web.CsrfChecked])
async def issue(request: Request, desk: web.DeskDep, form: Annotated[CertificateForm, Form()]) -> Response:
    """Issue (or find: the same hours keep their number) a volunteer's certificate for the period
    (`totals.certificate` through `review.issue_certificate`), then download it."""
    session, user = desk.session, desk.viewer.user
    values = {"volunteer_id": form.volunteer_id, "from": form.period_from, "to": form.period_to}
    errors: dict[str, str] = {}
    volunteer_id = int(form.volunteer_id) if form.volunteer_id.isdigit() and len(form.volunteer_id) < 19 else None
    if volunteer_id is None:
        errors["volunteer_id"] = "请选择志愿者"
    first, last = _day(form.period_from, "from", errors), _day(form.period_to, "to", errors)
    number = ""
    if not errors:
        assert volunteer_id is not None
        try:
            async with session.begin_nested():
                number = await review.issue_certificate(session, user, desk.community.id, volunteer_id, first, last)
        except AppError as exc:
            found = _refusal(exc)
            if found is None:
                raise
            errors = found
    if errors:
        context = await _files_context(desk, values=values, errors=errors)
        return web.render(request, "volunteers/_records_certificate.html", context, status_code=422, desk=desk)
    return web.redirect(f"{_base(desk)}/records/certificates/{number}", request)


@router.get("/records/certificates/{number}")
async def certificate(number: Annotated[str, Path(max_length=16)], request: Request, desk: web.DeskDep) -> Response:
    """A certificate of this community already issued, as its PDF (only read: issuing wrote it)."""
    data, issued = await review.certificate_pdf(desk.session, desk.viewer.user, desk.community.id, number)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{issued}.pdf"',
            "X-Certificate-Number": issued,
        },
    )


# -- one record ------------------------------------------------------------------------------------------


def _correct_values(r: dict[str, Any]) -> dict[str, str]:
    return {
        "start_at": _input(r["start_at"]),
        "end_at": _input(r["end_at"]),
        "hours": "",
        "service": r["service"],
        "reason": "",
    }


async def _record_context(desk: web.Desk, record_id: int, **context: Any) -> dict[str, Any]:
    found = await review.history(desk.session, desk.viewer.user, desk.community.id, record_id)
    return {
        **found,
        "r": found["record"],
        "values": _correct_values(found["record"]),
        "errors": {},
        "back": "record",
        "vbase": _base(desk),
        "tab": "records",
        **context,
    }


@router.get("/records/{record_id}")
async def record_page(record_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """A record: what it says, how it was recorded and reviewed, the records it corrects and that
    correct it (which of them counts), and the actions its state allows the viewer."""
    context = await _record_context(desk, record_id)
    return web.render(request, "volunteers/records_detail.html", context, desk=desk, nav="volunteers")


class CorrectForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start_at: str = Field(default="", max_length=40)
    end_at: str = Field(default="", max_length=40)
    hours: str = Field(default="", max_length=10)
    service: str = Field(default="", max_length=400)
    reason: str = Field(default="", max_length=1000)


def _read_time(raw: str, tz: ZoneInfo) -> datetime:
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


@router.post("/records/{record_id}/corrections", dependencies=[web.CsrfChecked])
async def correct(
    record_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[CorrectForm, Form()]
) -> Response:
    """更正 an approved record (`records.correct`): a new record linked to it with the reason,
    reviewed like any other. Times left as they were are not sent; hours left empty follow the
    times in the community's units."""
    session, user = desk.session, desk.viewer.user
    context = await _record_context(desk, record_id)
    shown = context["values"]
    tz = ZoneInfo(desk.community.timezone)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"reason": form.reason}
    for field in ("start_at", "end_at"):
        raw = getattr(form, field)
        if not raw:
            errors[field] = "请填写"
        elif raw != shown[field]:
            try:
                data[field] = _read_time(raw, tz)
            except ValueError:
                errors[field] = "请按“年-月-日 时:分”填写，如 2026-12-01 14:00"
    if form.hours:
        try:
            given = float(form.hours)
            if not 0 <= given <= 24:
                raise ValueError
            data["minutes"] = round(given * 60)
        except ValueError:
            errors["hours"] = "请填写 0 到 24 之间的小时数，如 2.5"
    if form.service and form.service != shown["service"]:
        data["service"] = form.service
    body: RecordCorrection | None = None
    if not errors:
        try:
            body = RecordCorrection.model_validate(data)
        except ValidationError as exc:
            errors = web.model_errors(exc, LABELS)
    made: list[int] = []
    if not errors:
        assert body is not None
        try:
            async with session.begin_nested():
                made.append((await records.correct(session, user, record_id, body.model_dump(exclude_none=True)))["id"])
        except AppError as exc:
            found = _refusal(exc)
            if found is None:
                raise
            errors = found
    if errors:
        context.update(values=form.model_dump(), errors=errors)
        return web.render(request, "volunteers/_records_correct.html", context, status_code=422, desk=desk)
    return web.redirect(f"{_base(desk)}/records/{made[0]}", request)


# -- the policy ----------------------------------------------------------------------------------------


async def _policy_context(desk: web.Desk, **context: Any) -> dict[str, Any]:
    policy = await common.get_policy(desk.session, desk.viewer.user, desk.community.id)
    return {
        "policy": policy,
        "values": {"organiser": policy["organiser"], "rounding_minutes": str(policy["rounding_minutes"])},
        "errors": {},
        "roundings": ROUNDINGS,
        "review_days": records.REVIEW_WORKING_DAYS,
        "vbase": _base(desk),
        "tab": "policy",
        **context,
    }


@router.get("/policy")
async def policy_page(request: Request, desk: web.DeskDep, saved: Annotated[str, Query(max_length=1)] = "") -> Response:
    """时长记录规则: the organisation records and certificates name, and the unit hours are
    credited in (rounded down); the review deadline."""
    context = await _policy_context(desk, saved=saved == "1")
    return web.render(request, "volunteers/policy.html", context, desk=desk, nav="volunteers")


class PolicyForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organiser: str = Field(default="", max_length=400)
    rounding_minutes: str = Field(default="", max_length=4)


@router.post("/policy", dependencies=[web.CsrfChecked])
async def save_policy(request: Request, desk: web.DeskDep, form: Annotated[PolicyForm, Form()]) -> Response:
    """Change the policy (`common.set_policy`): records made from now on follow it; those made
    keep their hours."""
    errors: dict[str, str] = {}
    body: PolicyWrite | None = None
    try:
        rounding = int(form.rounding_minutes) if form.rounding_minutes.isdigit() else form.rounding_minutes
        body = PolicyWrite.model_validate({"organiser": form.organiser, "rounding_minutes": rounding})
    except ValidationError as exc:
        errors = web.model_errors(exc, LABELS)
    if errors or body is None:
        context = await _policy_context(desk, values=form.model_dump(), errors=errors)
        return web.render(request, "volunteers/_records_policy.html", context, status_code=422, desk=desk)
    await common.set_policy(desk.session, desk.viewer.user, desk.community.id, body.model_dump(exclude_none=True))
    return web.redirect(f"{_base(desk)}/policy?" + urlencode({"saved": "1"}), request)
