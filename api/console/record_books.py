"""The monthly record book (台账): the community's books with their state, a form to request a
month (for evaluators, or the internal archive with children's photos), and their downloads.
Books being made are polled until the worker is done."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api.console import web
from api.deps import IdPath
from api.documents import attachment
from api.services.reports import record_book

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

POLL_SECONDS = 3


def _base(community_id: int) -> str:
    return f"{web.PREFIX}/c/{community_id}/record-books"


async def _listing(desk: web.Desk) -> dict[str, object]:
    books, _ = await record_book.list_books(desk.session, desk.viewer.user, desk.community.id, limit=50)
    for book in books:
        book["size_text"] = record_book.size_text(book["size"]) if book["size"] is not None else ""
    return {
        "books": books,
        "pending": any(b["state"] == "pending" for b in books),
        "poll": POLL_SECONDS,
        "rbase": _base(desk.community.id),
    }


@router.get("/record-books")
async def books_page(request: Request, desk: web.DeskDep) -> Response:
    """The books made and being made, and the form to ask for a month."""
    months = await record_book.months_to_choose(desk.session, desk.viewer.user, desk.community.id)
    context = {**await _listing(desk), "months": months, "chosen": months[1] if len(months) > 1 else months[0]}
    return web.render(request, "record_books/books.html", context, desk=desk, nav="record_books")


@router.get("/record-books/list")
async def books_list(request: Request, desk: web.DeskDep) -> Response:
    """The list alone: what the page polls while a book is being made."""
    return web.render(request, "record_books/_list.html", await _listing(desk), desk=desk)


@router.post("/record-books", dependencies=[web.CsrfChecked])
async def request_book(
    request: Request,
    desk: web.DeskDep,
    month: Annotated[str, Form(max_length=7)],
    internal: Annotated[Literal["", "1"], Form()] = "",
) -> Response:
    """Ask the worker for a month's book; back to the list, where it shows as being made."""
    await record_book.request_book(desk.session, desk.viewer.user, desk.community.id, month, internal == "1")
    return web.redirect(_base(desk.community.id), request)


@router.get("/record-books/{record_book_id}/download")
async def download(record_book_id: IdPath, desk: web.DeskDep) -> Response:
    data, name = await record_book.download(desk.session, desk.viewer.user, record_book_id, desk.community.id)
    return Response(
        data,
        media_type=record_book.ZIP_TYPE,
        headers={"Content-Disposition": attachment(name, f"record-book-{record_book_id}.zip")},
    )
