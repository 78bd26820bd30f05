"""The catalogue: books (titles) and their physical copies, searched by residents, kept by staff."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import String, cast, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Book, BookCopy, Hold, Loan, Member, Space, User
from api.errors import Conflict, NotFound, Unprocessable
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.access import is_staff, require_member, require_staff
from api.services.library import isbn as isbns
from api.services.library.common import lock_book, my_member
from api.services.library.holds import pass_on

STAFF_STATES = ("available", "repair", "lost", "withdrawn")  # what staff may set by hand
CLEARABLE = frozenset({"isbn", "year", "cover_url", "age_min", "age_max"})  # null clears these; elsewhere it is ignored


def normalise_isbn(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return isbns.normalise(raw)
    except ValueError as exc:
        raise Unprocessable("isbn_invalid", f"ISBN 不正确：{exc}", details={"isbn": raw}) from exc


async def create_book(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Book:
    """Staff add a title; an ISBN already in the catalogue is refused with the book it belongs to."""
    await require_staff(session, user, community_id)
    data = {**data, "isbn": normalise_isbn(data.get("isbn"))}
    if data["isbn"] is not None:
        existing = (
            await session.execute(select(Book.id).where(Book.community_id == community_id, Book.isbn == data["isbn"]))
        ).scalar_one_or_none()
        if existing is not None:
            raise Conflict("book_exists", "书目里已有这个 ISBN", details={"book_id": existing})
    book = Book(community_id=community_id, **data)
    session.add(book)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("book_exists", "书目里已有这个 ISBN") from exc
    return book


async def _book(session: AsyncSession, book_id: int) -> Book:
    book = await session.get(Book, book_id)
    if book is None:
        raise NotFound("book_not_found", "找不到这本书")
    return book


async def update_book(session: AsyncSession, user: User, book_id: int, fields: dict[str, Any]) -> Book:
    book = await _book(session, book_id)
    await require_staff(session, user, book.community_id)
    fields = {k: v for k, v in fields.items() if v is not None or k in CLEARABLE}
    if "isbn" in fields:
        fields["isbn"] = normalise_isbn(fields["isbn"])
    for name, value in fields.items():
        setattr(book, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("book_exists", "书目里已有这个 ISBN") from exc
    return book


async def add_copy(session: AsyncSession, user: User, book_id: int, data: dict[str, Any]) -> BookCopy:
    """Staff label a copy; a barcode is unique in the community."""
    book = await _book(session, book_id)
    await require_staff(session, user, book.community_id)
    if data.get("space_id") is not None:
        space = await session.get(Space, data["space_id"])
        if space is None or space.community_id != book.community_id:
            raise Unprocessable("space_not_found", "本社区没有这个空间", details={"space_id": data["space_id"]})
    copy = BookCopy(book_id=book.id, community_id=book.community_id, state="available", **data)
    session.add(copy)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("barcode_exists", "这个条码已经用过了", details={"barcode": data["barcode"]}) from exc
    return copy


async def update_copy(session: AsyncSession, user: User, copy_id: int, fields: dict[str, Any]) -> BookCopy:
    """Staff move a copy between available, repair, lost and withdrawn, or note where it is.
    A copy on loan or on the hold shelf changes only by return, loan or hold (a lent copy that is
    lost: `POST /loans/{id}/lost`). A copy put back on the shelf goes to the first hold in line."""
    copy = await session.get(BookCopy, copy_id)
    if copy is None:
        raise NotFound("copy_not_found", "找不到这册书")
    await require_staff(session, user, copy.community_id)
    await lock_book(session, copy.book_id)
    await session.refresh(copy)
    state = fields.pop("state", None)
    for name, value in fields.items():
        setattr(copy, name, value)
    await session.flush()
    if state is not None and state != copy.state:
        if copy.state not in STAFF_STATES:
            raise Conflict(
                "copy_in_circulation",
                "这册书正在借出或在预约书架上，请先归还或取消预约",
                details={"state": copy.state},
            )
        if state == "available":
            await pass_on(session, copy.id, copy.state)
        else:
            copy.state = state
            await session.flush()
        await session.refresh(copy)
    return copy


# -- reading -------------------------------------------------------------------------------------


async def _counts(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {i: {"copies": 0, "available": 0, "holds": 0} for i in ids}
    if not ids:
        return counts
    copies = await session.execute(
        select(BookCopy.book_id, BookCopy.state, func.count())
        .where(BookCopy.book_id.in_(ids), BookCopy.state != "withdrawn")
        .group_by(BookCopy.book_id, BookCopy.state)
    )
    for book_id, state, n in copies.all():
        counts[book_id]["copies"] += n
        if state == "available":
            counts[book_id]["available"] += n
    holds = await session.execute(
        select(Hold.book_id, func.count()).where(Hold.book_id.in_(ids), Hold.status == "waiting").group_by(Hold.book_id)
    )
    for book_id, n in holds.all():
        counts[book_id]["holds"] = n
    return counts


def book_item(book: Book, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "isbn": book.isbn,
        "cover_url": book.cover_url,
        "age_min": book.age_min,
        "age_max": book.age_max,
        "tags": book.tags,
        **counts,
    }


async def search(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    q: str | None,
    tag: str | None,
    age: int | None,
    available: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Residents and staff search the catalogue by title, author, ISBN or tag, for an age, and
    for what is on the shelf now."""
    await require_member(session, user, community_id)
    query = select(Book).where(Book.community_id == community_id).order_by(Book.id).limit(limit + 1)
    if q and q.strip():
        text = q.strip()
        matches = [
            func.lower(Book.title).contains(text.lower(), autoescape=True),
            func.lower(Book.author).contains(text.lower(), autoescape=True),
        ]
        with contextlib.suppress(ValueError):  # an ISBN, typed or scanned
            matches.append(Book.isbn == isbns.normalise(text))
        query = query.where(or_(*matches))
    if tag and tag.strip():
        # tags are a JSON list; the serialised tag, quotes and all, is a whole tag
        query = query.where(cast(Book.tags, String).contains(json.dumps(tag.strip()), autoescape=True))
    if age is not None:
        query = query.where(
            or_(Book.age_min.is_(None), Book.age_min <= age), or_(Book.age_max.is_(None), Book.age_max >= age)
        )
    if available:
        query = query.where(exists().where(BookCopy.book_id == Book.id, BookCopy.state == "available"))
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(Book.id > cursor_int(after))
    books = list((await session.execute(query)).scalars())
    page = books[:limit]
    counts = await _counts(session, [b.id for b in page])
    next_cursor = encode_cursor(page[-1].id) if len(books) > limit else None
    return [book_item(b, counts[b.id]) for b in page], next_cursor


async def book_detail(session: AsyncSession, user: User, book_id: int) -> dict[str, Any]:
    """A title with its copies (barcodes and where they are for staff), the hold queue's length,
    and the caller's household's loans and holds of it."""
    book = await _book(session, book_id)
    await require_member(session, user, book.community_id)
    staff = await is_staff(session, user, book.community_id)
    counts = (await _counts(session, [book.id]))[book.id]
    copies = (
        await session.execute(select(BookCopy).where(BookCopy.book_id == book.id).order_by(BookCopy.id))
    ).scalars()
    mine = await my_member(session, user, book.community_id)
    household: dict[str, Any] = {"loans": [], "holds": []}
    if mine is not None:
        loans = await session.execute(
            select(Loan.id, Loan.due_at, Member.display_name)
            .join(Member, Member.id == Loan.member_id)
            .where(Loan.book_id == book.id, Loan.household_id == mine.household_id, Loan.returned_at.is_(None))
        )
        household["loans"] = [{"loan_id": i, "due_at": d, "member_name": n} for i, d, n in loans.all()]
        holds = await session.execute(
            select(Hold.id, Hold.status, Member.display_name)
            .join(Member, Member.id == Hold.member_id)
            .where(
                Hold.book_id == book.id,
                Hold.household_id == mine.household_id,
                Hold.status.in_(("waiting", "ready")),
            )
        )
        household["holds"] = [{"hold_id": i, "status": s, "member_name": n} for i, s, n in holds.all()]
    return {
        **book_item(book, counts),
        "publisher": book.publisher,
        "year": book.year,
        "summary": book.summary,
        "copies_detail": [
            {
                "id": c.id,
                "state": c.state,
                "location": c.location,
                **({"barcode": c.barcode, "condition": c.condition, "donated_by": c.donated_by} if staff else {}),
            }
            for c in copies
            if staff or c.state != "withdrawn"
        ],
        "mine": household,
    }


async def copies_by_state(
    session: AsyncSession, user: User, community_id: int, states: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Staff: copies in repair, lost or withdrawn — the list to chase."""
    await require_staff(session, user, community_id)
    rows = await session.execute(
        select(BookCopy, Book.title)
        .join(Book, Book.id == BookCopy.book_id)
        .where(BookCopy.community_id == community_id, BookCopy.state.in_(states))
        .order_by(BookCopy.updated_at.desc())
    )
    return [
        {"id": c.id, "book_id": c.book_id, "title": title, "barcode": c.barcode, "state": c.state,
         "location": c.location, "condition": c.condition, "since": c.updated_at}
        for c, title in rows.all()
    ]  # fmt: skip
