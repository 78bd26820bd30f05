"""The library desk (图书): one input for barcodes and readers to lend, return and renew; the hold
shelf; the overdue list with phones to call; the catalogue; importing a catalogue sheet.

The desk's input takes, as a USB scanner types it (the code, then Enter): a copy's barcode, a
reader's card (`M` + member id, see `counter`), or a reader's name or address typed by hand. What
the desk is in the middle of travels in the form's hidden fields: the reader chosen (`member_id`),
the copy in view (`barcode`: one waiting for a reader, or one on loan whose second scan returns
it) and the copy just lent or returned (`last`: a scanner's double read of it changes nothing).
Lending, returning and renewing go through the library services' rules; a refusal is shown next to
the input, in the services' words.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from api.console import uploads, web
from api.deps import IdPath
from api.errors import AppError, invalid_field
from api.pagination import MAX_ID
from api.services.library import books, circulation, counter, importer

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

CATALOGUE_PAGE = 30
PREVIEW_ROWS = 100  # rows of a sheet shown before importing; every problem is shown

Code = Annotated[str, Form(max_length=64)]
Barcode = Annotated[str, Form(max_length=64)]
MemberField = Annotated[int | None, Form(ge=1, le=MAX_ID)]
PageQuery = Annotated[int, Query(ge=1, le=10_000)]
T = TypeVar("T")
TAG_SPLIT = re.compile(r"[,，;；、/\s]+")  # as the import sheet's tags column


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/library"


async def _attempt(desk: web.Desk, action: Callable[[], Awaitable[T]]) -> tuple[T | None, AppError | None]:
    """Run a service call in a savepoint: a refusal (AppError) undoes whatever it began and is
    returned to be shown at the desk, while the request's transaction goes on."""
    try:
        async with desk.session.begin_nested():
            return await action(), None
    except AppError as exc:
        return None, exc


# -- the desk ------------------------------------------------------------------------------------


def _refusal(exc: AppError) -> dict[str, Any]:
    return {"kind": "refused", "message": web.zh_fields(exc.message), "code": exc.code}


@dataclass
class DeskState:
    """What the desk is in the middle of (the form's hidden fields)."""

    member_id: int | None = None
    barcode: str = ""
    last: str = ""


async def _render_desk(
    request: Request,
    desk: web.Desk,
    state: DeskState,
    outcome: dict[str, Any] | None = None,
    *,
    page: bool = False,
) -> Response:
    """The desk's answer (or, with `page`, the whole desk): the reader chosen, the copy in view,
    and what just happened."""
    user, cid = desk.viewer.user, desk.community.id
    reader = copy = None
    if state.member_id is not None:
        reader, refused = await _attempt(desk, lambda: counter.reader(desk.session, user, cid, state.member_id or 0))
        if refused is not None:
            state.member_id = None
            outcome = outcome or _refusal(refused)
    shown = state.barcode or (outcome or {}).get("barcode", "")
    if shown:
        copy, _ = await _attempt(desk, lambda: counter.copy_at_desk(desk.session, user, cid, shown))
        if copy is None and state.barcode == shown:
            state.barcode = ""
    context = {"state": state, "reader": reader, "copy": copy, "outcome": outcome or {}, "lib": _base(desk)}
    if page:
        return web.render(request, "library/desk.html", context, desk=desk, nav="library")
    return web.render(request, "library/_desk.html", context, desk=desk)


async def _lend(desk: web.Desk, state: DeskState, barcode: str, member_id: int) -> dict[str, Any]:
    """Lend `barcode` to `member_id` (circulation.borrow: staff at the desk, the community's rules)."""
    user, cid = desk.viewer.user, desk.community.id
    loan, refused = await _attempt(desk, lambda: circulation.borrow(desk.session, user, cid, barcode, member_id))
    if refused is not None:
        state.barcode = barcode  # still in view: another reader's card may follow
        return _refusal(refused)
    state.barcode, state.last = "", barcode
    return {"kind": "lent", "loan": loan}


async def _give_back(desk: web.Desk, state: DeskState, barcode: str) -> dict[str, Any]:
    user, cid = desk.viewer.user, desk.community.id
    loan, refused = await _attempt(desk, lambda: circulation.return_copy(desk.session, user, cid, barcode))
    if refused is not None:
        return _refusal(refused)
    state.barcode, state.last = "", barcode
    return {"kind": "returned", "loan": loan, "barcode": barcode}


async def _choose_reader(desk: web.Desk, state: DeskState, member_id: int) -> dict[str, Any]:
    """A reader chosen (card, search, or a click): the copy waiting in view is lent to them."""
    state.member_id = member_id
    if state.barcode:
        copy, _ = await _attempt(
            desk, lambda: counter.copy_at_desk(desk.session, desk.viewer.user, desk.community.id, state.barcode)
        )
        if copy is not None and copy["loan"] is None:
            return await _lend(desk, state, state.barcode, member_id)
    return {"kind": "reader"}


@router.get("/library")
async def desk_page(
    request: Request,
    desk: web.DeskDep,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The lending desk; `?member_id=` chooses the reader first (the households page links so)."""
    return await _render_desk(request, desk, DeskState(member_id=member_id), page=True)


@router.post("/library/scan", dependencies=[web.CsrfChecked])
async def scan(
    request: Request,
    desk: web.DeskDep,
    code: Code = "",
    barcode: Barcode = "",
    member_id: MemberField = None,
    last: Barcode = "",
) -> Response:
    """What was scanned or typed: a copy (lend it to the reader chosen, or wait for one; a copy on
    loan is shown with its return and renewal, and a second scan returns it), a reader's card, or a
    name or address (one reader found is chosen, several are offered)."""
    state = DeskState(member_id=member_id, barcode=barcode.strip(), last=last.strip())
    user, cid = desk.viewer.user, desk.community.id
    found, refused = await _attempt(desk, lambda: counter.identify(desk.session, user, cid, code))
    if refused is not None or found is None:
        return await _render_desk(request, desk, state, _refusal(refused) if refused else None)
    if found["kind"] == "copy":
        scanned = found["barcode"]
        just_done, state.last = state.last == scanned, ""
        copy = await counter.copy_at_desk(desk.session, user, cid, scanned)
        if just_done:  # the scanner read it twice, or it was scanned again at once: nothing more
            state.barcode = ""
            outcome: dict[str, Any] = {"kind": "again", "barcode": scanned}
        elif copy["loan"] is not None:
            if state.barcode == scanned:
                outcome = await _give_back(desk, state, scanned)
            else:
                state.barcode = scanned
                outcome = {"kind": "on_loan"}
        elif state.member_id is not None:
            outcome = await _lend(desk, state, scanned, state.member_id)
        else:
            state.barcode = scanned
            outcome = {"kind": "ask_reader"}
        return await _render_desk(request, desk, state, outcome)
    if found["kind"] == "member":
        return await _render_desk(request, desk, state, await _choose_reader(desk, state, found["member_id"]))
    if len(found["members"]) == 1:
        return await _render_desk(request, desk, state, await _choose_reader(desk, state, found["members"][0]["id"]))
    return await _render_desk(
        request, desk, state, {"kind": "choose", "members": found["members"], "more": found["more"]}
    )


@router.post("/library/reader", dependencies=[web.CsrfChecked])
async def choose_reader(
    request: Request,
    desk: web.DeskDep,
    pick: Annotated[int, Form(ge=1, le=MAX_ID)],
    barcode: Barcode = "",
    member_id: MemberField = None,
) -> Response:
    """A reader picked from the search results, or the one a copy on the hold shelf is kept for:
    the copy waiting in view is lent to them."""
    state = DeskState(member_id=member_id, barcode=barcode.strip())
    return await _render_desk(request, desk, state, await _choose_reader(desk, state, pick))


@router.post("/library/forget", dependencies=[web.CsrfChecked])
async def forget_reader(request: Request, desk: web.DeskDep, barcode: Barcode = "") -> Response:
    """The next reader steps up: nobody is chosen any more (the copy in view stays)."""
    return await _render_desk(request, desk, DeskState(barcode=barcode.strip()), {"kind": "forgot"})


@router.post("/library/return", dependencies=[web.CsrfChecked])
async def give_back(
    request: Request, desk: web.DeskDep, barcode: Barcode = "", member_id: MemberField = None
) -> Response:
    """Return the copy in view (circulation.return_copy: to the first hold in line, else the shelf)."""
    state = DeskState(member_id=member_id)
    return await _render_desk(request, desk, state, await _give_back(desk, state, barcode.strip()))


@router.post("/library/renew", dependencies=[web.CsrfChecked])
async def renew(request: Request, desk: web.DeskDep, barcode: Barcode = "", member_id: MemberField = None) -> Response:
    """Renew the loan of the copy in view (circulation.renew's rules). Renewed, the reader keeps
    it: an immediate scan of it changes nothing, as after a loan."""
    state = DeskState(member_id=member_id, barcode=barcode.strip())
    user, cid = desk.viewer.user, desk.community.id
    loan, refused = await _attempt(desk, lambda: counter.renew_copy(desk.session, user, cid, state.barcode))
    if refused is not None:
        return await _render_desk(request, desk, state, _refusal(refused))
    outcome = {"kind": "renewed", "loan": loan, "barcode": state.barcode}
    state.barcode, state.last = "", state.barcode
    return await _render_desk(request, desk, state, outcome)


# -- the hold shelf and the overdue list ---------------------------------------------------------------


@router.get("/library/holds")
async def hold_shelf(request: Request, desk: web.DeskDep, page: PageQuery = 1) -> Response:
    listing = await counter.hold_shelf_page(desk.session, desk.viewer.user, desk.community.id, page)
    return web.render(
        request,
        "library/holds.html",
        {"listing": listing, "lib": _base(desk), "tab": "holds"},
        desk=desk,
        nav="library",
    )


@router.get("/library/overdue")
async def overdue(request: Request, desk: web.DeskDep, page: PageQuery = 1) -> Response:
    listing = await counter.overdue_page(desk.session, desk.viewer.user, desk.community.id, page)
    return web.render(
        request,
        "library/overdue.html",
        {"listing": listing, "lib": _base(desk), "tab": "overdue"},
        desk=desk,
        nav="library",
    )


# -- the catalogue -------------------------------------------------------------------------------


@router.get("/library/books")
async def catalogue(
    request: Request,
    desk: web.DeskDep,
    q: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The catalogue: search by title, author or ISBN, a page at a time; add a title."""
    items, next_cursor = await books.search(
        desk.session,
        desk.viewer.user,
        desk.community.id,
        q=q,
        tag=None,
        age=None,
        available=False,
        cursor=cursor,
        limit=CATALOGUE_PAGE,
    )
    context = {"items": items, "next_cursor": next_cursor, "q": q or "", "cursor": cursor, "lib": _base(desk)}
    return web.render(request, "library/books.html", {**context, "tab": "books"}, desk=desk, nav="library")


def _tags(text: str) -> list[str]:
    tags = [t for t in TAG_SPLIT.split(text) if t]
    if len(tags) > 10 or any(len(t) > 16 for t in tags):
        raise invalid_field("tags", "标签最多10个，每个最多16字", kind="tags_invalid")
    return tags


@router.post("/library/books", dependencies=[web.CsrfChecked])
async def add_book(
    request: Request,
    desk: web.DeskDep,
    title: Annotated[str, Form(min_length=1, max_length=128)],
    author: Annotated[str, Form(max_length=128)] = "",
    isbn: Annotated[str, Form(max_length=32)] = "",
    publisher: Annotated[str, Form(max_length=128)] = "",
    year: Annotated[int | None, Form(ge=1900, le=2100)] = None,
    age_min: Annotated[int | None, Form(ge=0, le=18)] = None,
    age_max: Annotated[int | None, Form(ge=0, le=18)] = None,
    tags: Annotated[str, Form(max_length=200)] = "",
    summary: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Add a title (books.create_book: an ISBN already in the catalogue is refused), then open it
    to label its copies."""
    if not title.strip():
        raise invalid_field("title", "书名不能为空", kind="string_too_short")
    if age_min is not None and age_max is not None and age_min > age_max:
        raise invalid_field("age_max", "最小年龄不能大于最大年龄", kind="ages_invalid")
    data = {
        "title": title.strip(),
        "author": author.strip(),
        "isbn": isbn.strip() or None,
        "publisher": publisher.strip(),
        "year": year,
        "age_min": age_min,
        "age_max": age_max,
        "tags": _tags(tags),
        "summary": summary.strip(),
        "cover_url": None,
    }
    book = await books.create_book(desk.session, desk.viewer.user, desk.community.id, data)
    return web.redirect(f"{_base(desk)}/books/{book.id}", request)


@router.get("/library/books/{book_id}")
async def book_page(book_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    book = await counter.book_at_desk(desk.session, desk.viewer.user, desk.community.id, book_id)
    return web.render(
        request, "library/book.html", {"book": book, "lib": _base(desk), "tab": "books"}, desk=desk, nav="library"
    )


@router.post("/library/books/{book_id}/copies", dependencies=[web.CsrfChecked])
async def add_copy(
    book_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    barcode: Annotated[str, Form(min_length=1, max_length=64)],
    location: Annotated[str, Form(max_length=64)] = "",
    donated_by: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Label a copy of the title (a barcode is unique in the community); the page opens again,
    ready for the next one."""
    if not barcode.strip():
        raise invalid_field("barcode", "请扫描或输入条码", kind="string_too_short")
    data = {"barcode": barcode.strip(), "location": location.strip(), "donated_by": donated_by.strip()}
    await counter.add_copy(desk.session, desk.viewer.user, desk.community.id, book_id, data)
    return web.redirect(f"{_base(desk)}/books/{book_id}?added={quote(barcode.strip())}", request)


# -- importing a catalogue sheet -------------------------------------------------------------------


read_sheet = uploads.sheet_reader(importer.parse, importer.MAX_BYTES, "请选择要导入的书目表（CSV 或 XLSX 文件）")
SheetDep = Annotated[uploads.Sheet[importer.Parsed], Depends(read_sheet)]


def _render_import(request: Request, desk: web.Desk, result: dict[str, Any] | None) -> Response:
    context = {"result": result, "lib": _base(desk), "tab": "import", "shown": PREVIEW_ROWS}
    if web.is_htmx(request):
        return web.render(request, "library/_import_result.html", context, desk=desk)
    return web.render(request, "library/import.html", context, desk=desk, nav="library")


@router.get("/library/import")
async def import_page(request: Request, desk: web.DeskDep) -> Response:
    return _render_import(request, desk, None)


# `sheet` comes before `desk`: the file is in and checked before the session (and, on SQLite, the
# writer's lock) is taken; the CSRF check and whether the browser is signed in (a short read of
# its own) come before either, so that nobody signed out gets a file read and parsed


@router.post("/library/import/preview", dependencies=[web.CsrfChecked, web.SignedInChecked])
async def import_preview(request: Request, sheet: SheetDep, desk: web.DeskDep) -> Response:
    """What importing the sheet would do, with every row's problem, writing nothing."""
    if sheet.parsed is None:
        assert sheet.error is not None
        return _render_import(request, desk, uploads.sheet_refused(sheet, sheet.error))
    preview = await importer.preview_catalogue(desk.session, desk.viewer.user, desk.community.id, sheet.parsed)
    return _render_import(request, desk, {"kind": "preview", "name": sheet.name, **preview})


@router.post("/library/import/commit", dependencies=[web.CsrfChecked, web.SignedInChecked])
async def import_commit(request: Request, sheet: SheetDep, desk: web.DeskDep) -> Response:
    """Import the sheet whole (checked again as it is now), or nothing and every problem."""
    if sheet.parsed is None:
        assert sheet.error is not None
        return _render_import(request, desk, uploads.sheet_refused(sheet, sheet.error))
    parsed = sheet.parsed
    summary, refused = await _attempt(
        desk, lambda: importer.import_parsed(desk.session, desk.viewer.user, desk.community.id, parsed)
    )
    if refused is not None:
        return _render_import(request, desk, uploads.sheet_refused(sheet, refused))
    return _render_import(request, desk, {"kind": "imported", "name": sheet.name, "summary": summary})
