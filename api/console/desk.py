"""The check-in desk (签到台) of one activity: a scanner types a booking's QR token and Enter into
the focused input and the page answers at once; the roster with a tick per attendee for people
without phones; walk-ins while seats are free; the rotating on-site code, as a QR code residents
scan with the mini-program, refreshing itself. Every check-in goes through `checkin`'s services,
the ones the API's staff scan, roster, walk-in and self check-in use."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import ValidationError

from api import clock
from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.pagination import MAX_ID
from api.schemas.activities import WalkIn
from api.services.activities import browse, checkin, planning

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

ROSTER_PAGE = 25
# the on-site code changes every minute; the screen asks for it this often
ONSITE_POLL_SECONDS = 10
GUEST_SEPARATORS = re.compile(r"[、，,;；\n]+")


def qr_svg(text: str, label: str) -> Markup:
    """`text` as a QR code, inline SVG scaled by CSS (segno: pure Python, no image files)."""
    code = segno.make(text, error="m", micro=False)
    # the SVG is segno's own drawing of the modules; only `label` (ours, escaped by segno) is text
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, svgclass="qr", title=label))  # noqa: S704


def _base(desk: web.Desk, activity_id: int) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/activities/{activity_id}"


async def _onsite(desk: web.Desk, activity_id: int) -> dict[str, Any]:
    """The on-site code's fragment: the code of this minute as a QR code, or why there is none."""
    activity = await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    window = checkin.window_state(activity, clock.now())
    context: dict[str, Any] = {
        "window": window,
        "opens_at": activity.checkin_opens_at,
        "closes_at": activity.checkin_closes_at,
        "poll": ONSITE_POLL_SECONDS,
    }
    try:
        code = await checkin.current_onsite_code(desk.session, desk.viewer.user, activity_id)
    except AppError as exc:
        context["unavailable"] = exc.message
        return context
    context["code"] = code
    context["qr"] = qr_svg(code["qr_text"], "现场签到二维码")
    return context


async def _roster(desk: web.Desk, activity_id: int, page: int) -> dict[str, Any]:
    roster = await checkin.attendance(desk.session, desk.viewer.user, activity_id)
    booked = roster["bookings"]
    return {
        "roster": roster,
        "booked": booked[(page - 1) * ROSTER_PAGE : page * ROSTER_PAGE],
        "page": page,
        "pages": max(1, -(-len(booked) // ROSTER_PAGE)),
    }


@router.get("/activities/{activity_id}/desk")
async def desk_page(
    activity_id: IdPath, request: Request, desk: web.DeskDep, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    context = {
        "a": detail,
        "desk_url": _base(desk, activity_id),
        "onsite": await _onsite(desk, activity_id),
        **await _roster(desk, activity_id, page),
    }
    return web.render(request, "desk/desk.html", context, desk=desk, nav="activities")


async def _answer(request: Request, desk: web.Desk, check_in: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    """The desk's answer beside its input: who was checked in (or was already), or the refusal
    (outside the window, a code of another activity, a waitlisted booking, no seats left…).
    A refusal is an answer like any other (200), and leaves nothing written."""
    try:
        async with desk.session.begin_nested():
            result = await check_in()
    except AppError as exc:
        refusal = {"code": exc.code, "message": web.zh_fields(exc.message), "details": exc.details}
        return web.render(request, "desk/_result.html", {"refused": refusal})
    response = web.render(request, "desk/_result.html", {"result": result})
    response.headers["HX-Trigger"] = "roster-changed"
    return response


def _refused(request: Request, code: str, message: str) -> Response:
    return web.render(request, "desk/_result.html", {"refused": {"code": code, "message": message, "details": None}})


@router.post("/activities/{activity_id}/desk/scan", dependencies=[web.CsrfChecked])
async def scan(
    activity_id: IdPath, request: Request, desk: web.DeskDep, token: Annotated[str, Form(max_length=300)] = ""
) -> Response:
    """A booking's QR token as the scanner typed it (the same `checkin.scan` as the API's)."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    token = token.strip()
    if not token:
        return _refused(request, "checkin_code_missing", "请扫描居民手机上的预约码")
    return await _answer(
        request,
        desk,
        lambda: checkin.scan(
            desk.session, desk.viewer.user, activity_id, token=token, booking_id=None, member_ids=None
        ),
    )


@router.post("/activities/{activity_id}/desk/tick", dependencies=[web.CsrfChecked])
async def tick(
    activity_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    booking_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    member_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """A tick on the roster for someone without a phone: one attendee (`member_id`) or the whole
    booking; `checkin.scan` by booking, as the API's roster check-in."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    members = [member_id] if member_id is not None else None
    return await _answer(
        request,
        desk,
        lambda: checkin.scan(
            desk.session, desk.viewer.user, activity_id, token=None, booking_id=booking_id, member_ids=members
        ),
    )


def _walkin_refusal(exc: ValidationError) -> str:
    for error in exc.errors():
        if error["type"] == "string_too_long":
            return "每位来访者的称呼最多 32 个字"
        if error["type"] == "too_long":
            return "一次最多登记 10 位成员和 10 位来访者"
        if error["type"] == "control_character":
            return "称呼里不能有换行或控制字符"
    return "请勾选要登记的成员，或填写来访者的称呼"


@router.post("/activities/{activity_id}/desk/walkin", dependencies=[web.CsrfChecked])
async def walk_in(
    activity_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    member_ids: Annotated[list[int], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies defaults
    guests: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """People who came without booking, while seats are free (`checkin.walk_in`): members of one
    household picked from the search, or guests by name (several separated by 、or ，)."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    names = [name.strip() for name in GUEST_SEPARATORS.split(guests) if name.strip()]
    try:
        body = WalkIn.model_validate({"member_ids": member_ids, "guests": names})
    except ValidationError as exc:
        return _refused(request, "walkin_invalid", _walkin_refusal(exc))
    return await _answer(
        request,
        desk,
        lambda: checkin.walk_in(desk.session, desk.viewer.user, activity_id, body.member_ids, body.guests),
    )


@router.get("/activities/{activity_id}/desk/members")
async def members(
    activity_id: IdPath, request: Request, desk: web.DeskDep, q: Annotated[str, Query(max_length=32)] = ""
) -> Response:
    """Residents to register as walk-ins: households whose member's name or address matches."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    found = await checkin.walkin_candidates(desk.session, desk.viewer.user, activity_id, q)
    return web.render(
        request,
        "desk/_members.html",
        {
            "households": found,
            "q": q.strip(),
            "desk_url": _base(desk, activity_id),
            "more": len(found) >= checkin.WALKIN_SEARCH_LIMIT,
        },
    )


@router.get("/activities/{activity_id}/desk/roster")
async def roster(
    activity_id: IdPath, request: Request, desk: web.DeskDep, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    context = {"desk_url": _base(desk, activity_id), **await _roster(desk, activity_id, page)}
    return web.render(request, "desk/_roster.html", context)


@router.get("/activities/{activity_id}/desk/code")
async def onsite_code(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The on-site code of this minute; the fragment asks again every `ONSITE_POLL_SECONDS`."""
    context = {"desk_url": _base(desk, activity_id), "onsite": await _onsite(desk, activity_id)}
    return web.render(request, "desk/_onsite.html", context)


@router.get("/activities/{activity_id}/desk/screen")
async def screen(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The on-site code alone, large, for a screen turned towards the residents."""
    await planning.community_activity(desk.session, desk.viewer.user, desk.community.id, activity_id)
    detail = await browse.activity_detail(desk.session, desk.viewer.user, activity_id)
    context = {"a": detail, "desk_url": _base(desk, activity_id), "onsite": await _onsite(desk, activity_id)}
    return web.render(request, "desk/screen.html", context, desk=desk)
