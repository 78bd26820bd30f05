"""Households (一户一档) and acting for residents without WeChat (代办): households by building and
search, join requests, a household's file with its history, registering a household at the desk,
and booking seats for its members. Every read and change goes through the services
(`household_file`, `households`, `bookings`), which check that the person is staff here."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import Field

from api.console import web
from api.deps import IdPath
from api.errors import invalid_field
from api.schemas.common import Id, Input
from api.services import flats, household_file, households

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

MEMBER_ROWS = 4  # rows of the registration form; more members are added from the file
PageQuery = Annotated[int, Query(ge=1, le=10_000)]
Section = Literal["bookings", "loans", "holds", "volunteering"]
HISTORY = {
    "bookings": household_file.history_bookings,
    "loans": household_file.history_loans,
    "holds": household_file.history_holds,
    "volunteering": household_file.history_volunteering,
}

Kind = Literal["adult", "child", "elder"]
BirthYear = Annotated[str, Field(max_length=4, pattern=r"^(\d{4})?$")]
Gender = Literal["", "female", "male"]  # optional: "" is not recorded


def _base(community_id: int) -> str:
    return f"{web.PREFIX}/c/{community_id}/households"


def _person(name: str, kind: str, birth_year: str, consent: bool, gender: str = "") -> dict[str, object]:
    return {
        "display_name": name,
        "kind": kind,
        "birth_year": int(birth_year) if birth_year else None,
        "gender": gender or None,
        "guardian_consent": consent,
    }


class RegisterForm(Input):
    """The desk's registration form: the address, a phone, and up to MEMBER_ROWS members (rows
    left without a name are skipped; the first named row is the head)."""

    building: str = Field(min_length=1, max_length=32)
    unit: str = Field(default="", max_length=32)
    room: str = Field(min_length=1, max_length=32)
    contact_phone: str = Field(default="", max_length=20)
    name: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=MEMBER_ROWS)
    kind: list[Kind] = Field(default_factory=list, max_length=MEMBER_ROWS)
    birth_year: list[BirthYear] = Field(default_factory=list, max_length=MEMBER_ROWS)
    gender: list[Gender] = Field(default_factory=list, max_length=MEMBER_ROWS)
    consent: list[Annotated[str, Field(pattern=r"^[1-9]$")]] = Field(default_factory=list, max_length=MEMBER_ROWS)

    def members(self) -> list[dict[str, object]]:
        rows = []
        for n, name in enumerate(self.name):
            if not name:
                continue
            kind = self.kind[n] if n < len(self.kind) else "adult"
            year = self.birth_year[n] if n < len(self.birth_year) else ""
            gender = self.gender[n] if n < len(self.gender) else ""
            rows.append(_person(name, kind, year, str(n + 1) in self.consent, gender))
        return rows


class FlatForm(Input):
    """The flat's area (blank: not recorded) and whether the household owns it (unticked: no)."""

    floor_area: str = Field(default="", max_length=16)
    is_owner: Literal["", "1"] = ""


class MemberForm(Input):
    display_name: str = Field(min_length=1, max_length=32)
    kind: Kind
    birth_year: BirthYear = ""
    gender: Gender = ""
    consent: Literal["", "1"] = ""


# -- lists -----------------------------------------------------------------------------------------


@router.get("/households")
async def households_page(
    request: Request,
    desk: web.DeskDep,
    building: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=32)] = "",
    page: PageQuery = 1,
    requests_page: PageQuery = 1,
) -> Response:
    """Households by building and search (name, room), and the join requests waiting."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    found = await household_file.search(session, user, cid, building=building or None, q=q or None, page=page)
    context = {
        "found": found,
        "buildings": await household_file.buildings(session, user, cid),
        "requests": await household_file.join_requests(session, user, cid, page=requests_page),
        "building": building,
        "q": q,
        "hbase": _base(cid),
    }
    return web.render(request, "households/list.html", context, desk=desk, nav="households")


@router.post("/households/requests/{member_id}/{decision}", dependencies=[web.CsrfChecked])
async def decide(
    member_id: IdPath,
    decision: Literal["approve", "reject"],
    request: Request,
    desk: web.DeskDep,
    back: Annotated[Literal["list", "file"], Form()] = "list",
) -> Response:
    """Approve or refuse a request to join a household; back to where staff decided it."""
    cid = desk.community.id
    household_id = await household_file.decide_request(
        desk.session, desk.viewer.user, cid, member_id, decision == "approve"
    )
    target = f"{_base(cid)}/{household_id}" if back == "file" else _base(cid)
    return web.redirect(target, request)


# -- registering at the desk ----------------------------------------------------------------------


@router.get("/households/new")
async def new_household(request: Request, desk: web.DeskDep) -> Response:
    context = {"rows": range(1, MEMBER_ROWS + 1), "hbase": _base(desk.community.id)}
    return web.render(request, "households/new.html", context, desk=desk, nav="households")


@router.post("/households", dependencies=[web.CsrfChecked])
async def register(request: Request, desk: web.DeskDep, form: Annotated[RegisterForm, Form()]) -> Response:
    """Register a household (its members without WeChat, its phone sealed): the service's rules,
    as the API's POST /communities/{id}/households."""
    data = {
        "building": form.building,
        "unit": form.unit,
        "room": form.room,
        "contact_phone": form.contact_phone or None,
        "members": form.members(),
    }
    registered = await households.register_household(desk.session, desk.viewer.user, desk.community.id, data)
    return web.redirect(f"{_base(desk.community.id)}/{registered['id']}?registered=1", request)


# -- the file --------------------------------------------------------------------------------------


@router.get("/households/{household_id}")
async def household_page(
    household_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    booked: Annotated[Id | None, Query()] = None,
    registered: Annotated[bool, Query()] = False,
    flat: Annotated[bool, Query()] = False,
) -> Response:
    """The household's file: members, phone, booking for it, and its history in one place."""
    session, user, cid = desk.session, desk.viewer.user, desk.community.id
    context = {
        "h": await household_file.household_file(session, user, cid, household_id),
        "bookable": await household_file.bookable(session, user, cid),
        "booked": await household_file.booking_of(session, user, cid, household_id, booked) if booked else None,
        "registered": registered,
        "flat_saved": flat,
        "household_id": household_id,
        "hbase": _base(cid),
    }
    for section, read in HISTORY.items():
        context[section] = await read(session, user, cid, household_id, page=1)
    return web.render(request, "households/file.html", context, desk=desk, nav="households")


@router.get("/households/{household_id}/history/{section}")
async def history(
    household_id: IdPath, section: Section, request: Request, desk: web.DeskDep, page: PageQuery = 1
) -> Response:
    """One page of one part of the household's history (an htmx fragment; its pager swaps it)."""
    cid = desk.community.id
    found = await HISTORY[section](desk.session, desk.viewer.user, cid, household_id, page=page)
    context = {section: found, "household_id": household_id, "hbase": _base(cid)}
    return web.render(request, f"households/_{section}.html", context, desk=desk)


@router.post("/households/{household_id}/bookings", dependencies=[web.CsrfChecked])
async def book(
    household_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    activity_id: Annotated[Id, Form()],
    member_ids: Annotated[list[Id] | None, Form(max_length=10)] = None,
) -> Response:
    """Book a seat at the desk for members of this household: the bookings service's rules (none
    ticked: the service says to choose)."""
    cid = desk.community.id
    session, user = desk.session, desk.viewer.user
    booking = await household_file.book_for(session, user, cid, household_id, activity_id, member_ids or [])
    return web.redirect(f"{_base(cid)}/{household_id}?booked={booking['id']}#desk-booking", request)


@router.post("/households/{household_id}/bookings/{booking_id}/cancel", dependencies=[web.CsrfChecked])
async def cancel(household_id: IdPath, booking_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    cid = desk.community.id
    await household_file.cancel_for(desk.session, desk.viewer.user, cid, household_id, booking_id)
    return web.redirect(f"{_base(cid)}/{household_id}#bookings", request)


@router.post("/households/{household_id}/members", dependencies=[web.CsrfChecked])
async def add_member(
    household_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[MemberForm, Form()]
) -> Response:
    """Add a member without WeChat to the household (the households service's rule)."""
    cid = desk.community.id
    household = await household_file.household_in(desk.session, desk.viewer.user, cid, household_id)
    data = _person(form.display_name, form.kind, form.birth_year, form.consent == "1", form.gender)
    await households.add_member(desk.session, desk.viewer.user, household.id, data)
    return web.redirect(f"{_base(cid)}/{household_id}", request)


@router.post("/households/{household_id}/members/{member_id}/gender", dependencies=[web.CsrfChecked])
async def member_gender(
    household_id: IdPath,
    member_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    gender: Annotated[Gender, Form()] = "",
) -> Response:
    """Record (or with an empty choice, clear) a member's gender; nothing requires it."""
    cid = desk.community.id
    household = await household_file.household_in(desk.session, desk.viewer.user, cid, household_id)
    await households.update_member(
        desk.session, desk.viewer.user, member_id, {"gender": gender or None}, household_id=household.id
    )
    return web.redirect(f"{_base(cid)}/{household_id}#members", request)


@router.post("/households/{household_id}/contact-phone", dependencies=[web.CsrfChecked])
async def contact_phone(
    household_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    contact_phone: Annotated[str, Form(max_length=20)] = "",
    remove: Annotated[bool, Form()] = False,
) -> Response:
    """Record the household's contact phone (sealed); removing it is its own button (an empty
    field is a slip, not a wish to lose an elder's only number)."""
    cid = desk.community.id
    if not remove and not contact_phone.strip():
        raise invalid_field("contact_phone", "请填写号码；要删除已登记的号码，请点“删除号码”", kind="missing")
    household = await household_file.household_in(desk.session, desk.viewer.user, cid, household_id)
    number = None if remove else contact_phone.strip()
    await households.set_contact_phone(desk.session, desk.viewer.user, household.id, number)
    return web.redirect(f"{_base(cid)}/{household_id}", request)


@router.post("/households/{household_id}/flat", dependencies=[web.CsrfChecked])
async def flat(
    household_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[FlatForm, Form()]
) -> Response:
    """Record the flat's floor area and owner flag (the flats service's rules, as the API's PATCH
    /households/{id}); a blank area is none recorded."""
    cid = desk.community.id
    household = await household_file.household_in(desk.session, desk.viewer.user, cid, household_id)
    fields = {"floor_area": form.floor_area or None, "is_owner": form.is_owner == "1"}
    await flats.update_flat(desk.session, desk.viewer.user, household.id, fields)
    return web.redirect(f"{_base(cid)}/{household_id}?flat=1#flat", request)
