"""The library desk (借还台) as staff use it in the console: one input that takes a copy's barcode,
a reader's card or a name or address typed by hand, and what the desk shows about a copy or a
reader. Lending, returning and renewing themselves stay in `circulation`, under its rules; this
module finds and describes, for staff of the community only.

A reader's card (读者证) is the letter M and the member's id (`M1024`), printed as text or as a
Code 128 barcode that a USB scanner types like a book's barcode. A copy whose barcode is exactly
such a code wins over the card (books are scanned far more often; keep M+digits off book labels).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Book, BookCopy, Hold, Household, Loan, Member, User
from api.errors import Conflict, NotFound, Unprocessable
from api.pagination import MAX_ID
from api.services import phones
from api.services.access import require_staff
from api.services.households import address_key, address_text
from api.services.library import books, circulation, desk
from api.services.library.common import due_day, get_copy_by_barcode, rules

CARD = re.compile(r"^[Mm]0*([1-9][0-9]{0,18})$")
MATCHES = 12  # readers offered for a name or an address; more means: type more of it
PAGE = 30  # rows of the desk's lists (hold shelf, overdue)

# "3-501", "3-2-501", "3栋2单元501", "3号楼 501室": building, optional unit, room
_ADDRESS = re.compile(
    r"^(?P<b>[0-9A-Z]{1,8}?)(?:号楼|栋|幢|座|楼|号|[-#/\s])+"
    r"(?:(?P<u>[0-9A-Z]{1,4}?)(?:单元|[-#/\s])+)?"
    r"(?P<r>[0-9A-Z]{1,8})(?:室|号|户)?$"
)


def card_code(member_id: int) -> str:
    """The code printed on a reader's card."""
    return f"M{member_id}"


def card_member_id(text: str) -> int | None:
    """The member id a card code names, or None when the text is not a card code."""
    match = CARD.fullmatch(text.strip())
    if match is None or int(match.group(1)) > MAX_ID:
        return None
    return int(match.group(1))


async def identify(session: AsyncSession, user: User, community_id: int, text: str) -> dict[str, Any]:
    """Staff: what the desk's input holds — a copy of the community by its barcode
    (`{"kind": "copy", "barcode"}`), else a reader's card (`{"kind": "member", "member_id"}`),
    else readers found by name or address (`{"kind": "search", "members", "more"}`). Nothing
    found at all is 404 `nothing_found`."""
    await require_staff(session, user, community_id)
    code = text.strip()
    if not code:
        raise Unprocessable("scan_empty", "请扫描条码，或输入读者姓名、楼栋房号")
    copy = (
        await session.execute(
            select(BookCopy.barcode).where(BookCopy.community_id == community_id, BookCopy.barcode == code)
        )
    ).scalar_one_or_none()
    if copy is not None:
        return {"kind": "copy", "barcode": copy}
    member_id = card_member_id(code)
    if member_id is not None:
        await reader(session, user, community_id, member_id)  # a card of this community's reader, or refused
        return {"kind": "member", "member_id": member_id}
    found, more = await find_members(session, user, community_id, code)
    if not found:
        raise NotFound(
            "nothing_found",
            f"没有条码为“{code[:32]}”的书，也没有找到这位读者（可输入姓名，或楼栋房号如 3-501）",
            details={"text": code[:64]},
        )
    return {"kind": "search", "members": found, "more": more}


def _address_filter(text: str) -> Any:
    """Households at the address typed, however it is written (see `households.address_key`)."""
    compact = unicodedata.normalize("NFKC", text).strip().upper()
    match = _ADDRESS.fullmatch(compact)
    if match is None:
        return None
    key = address_key(match.group("b"), match.group("u") or "", match.group("r"))
    building, _unit, room = key.split("|")
    if match.group("u"):
        return Household.address_key == key
    return and_(
        Household.address_key.startswith(building + "|", autoescape=True),
        Household.address_key.endswith("|" + room, autoescape=True),
    )


async def find_members(
    session: AsyncSession, user: User, community_id: int, text: str, limit: int = MATCHES
) -> tuple[list[dict[str, Any]], bool]:
    """Staff: the community's active members whose name holds the text, or who live at the
    address typed ("3-501", "3栋2单元501"), by address then name: at most `limit`, and whether
    there are more (then the desk asks for more of the name)."""
    await require_staff(session, user, community_id)
    words = text.strip()[:32]
    if not words:
        return [], False
    matches = [Member.display_name.contains(words, autoescape=True)]
    at_address = _address_filter(words)
    if at_address is not None:
        matches.append(at_address)
    rows = (
        await session.execute(
            select(Member, Household)
            .join(Household, Household.id == Member.household_id)
            .where(Member.community_id == community_id, Member.status == "active", or_(*matches))
            .order_by(Household.address_key, Member.is_head.desc(), Member.id)
            .limit(limit + 1)
        )
    ).all()
    found = [
        {
            "id": member.id,
            "name": member.display_name,
            "kind": member.kind,
            "household_id": household.id,
            "household": address_text(household),
            "card": card_code(member.id),
        }
        for member, household in rows[:limit]
    ]
    return found, len(rows) > limit


async def reader(session: AsyncSession, user: User, community_id: int, member_id: int) -> dict[str, Any]:
    """Staff: a reader at the desk — name, household, card code; their loans now (due days,
    overdue), how many more the rules let them borrow (none while anything is overdue), and the
    copies kept for them on the hold shelf. A member of another community, or one not (or no
    longer) active, is 422 `member_not_found`."""
    community = await require_staff(session, user, community_id)
    member = await session.get(Member, member_id) if 1 <= member_id <= MAX_ID else None
    if member is None or member.community_id != community_id or member.status != "active":
        raise Unprocessable("member_not_found", "找不到这位读者（读者证不属于本社区，或已不在住户中）")
    household = await session.get(Household, member.household_id)
    assert household is not None
    policy = await rules(session, community_id)
    loans = (
        await session.execute(
            select(Loan).where(Loan.member_id == member.id, Loan.returned_at.is_(None)).order_by(Loan.due_at, Loan.id)
        )
    ).scalars()
    current = [await circulation.loan_view(session, loan) for loan in loans]
    ready = (
        await session.execute(
            select(Hold, Book.title, BookCopy.barcode)
            .join(Book, Book.id == Hold.book_id)
            .join(BookCopy, BookCopy.id == Hold.copy_id)
            .where(Hold.member_id == member.id, Hold.status == "ready")
            .order_by(Hold.expires_at, Hold.id)
        )
    ).all()
    waiting = (
        await session.execute(select(func.count()).where(Hold.member_id == member.id, Hold.status == "waiting"))
    ).scalar_one()
    limit = policy.limit_for(member)
    overdue = sum(1 for loan in current if loan["overdue"])
    return {
        "id": member.id,
        "name": member.display_name,
        "kind": member.kind,
        "card": card_code(member.id),
        "household_id": household.id,
        "household": address_text(household),
        "loans": current,
        "limit": limit,
        "can_borrow": 0 if overdue else max(limit - len(current), 0),
        "overdue": overdue,
        "ready_holds": [
            {
                "hold_id": hold.id,
                "title": title,
                "barcode": barcode,
                "pickup_by": due_day(hold.expires_at, community) if hold.expires_at else None,
            }
            for hold, title, barcode in ready
        ],
        "waiting_holds": waiting,
    }


async def copy_at_desk(session: AsyncSession, user: User, community_id: int, barcode: str) -> dict[str, Any]:
    """Staff: a copy as the desk sees it — its book, its state, the loan it is on (who, their
    household, due day, overdue, renewals left), the reader it is kept for on the hold shelf, and
    how many readers queue for the book."""
    community = await require_staff(session, user, community_id)
    copy = await get_copy_by_barcode(session, community_id, barcode)
    book = await session.get(Book, copy.book_id)
    assert book is not None
    view: dict[str, Any] = {
        "barcode": copy.barcode,
        "state": copy.state,
        "location": copy.location,
        "book": {"id": book.id, "title": book.title, "author": book.author},
        "loan": None,
        "kept_for": None,
    }
    loan = (
        await session.execute(select(Loan).where(Loan.copy_id == copy.id, Loan.returned_at.is_(None)))
    ).scalar_one_or_none()
    if loan is not None:
        household = await session.get(Household, loan.household_id)
        assert household is not None
        view["loan"] = {**await circulation.loan_view(session, loan), "household": address_text(household)}
    kept = (
        await session.execute(
            select(Hold, Member.display_name, Household)
            .join(Member, Member.id == Hold.member_id)
            .join(Household, Household.id == Hold.household_id)
            .where(Hold.copy_id == copy.id, Hold.status == "ready")
        )
    ).first()
    if kept is not None:
        hold, name, household = kept
        view["kept_for"] = {
            "hold_id": hold.id,
            "member_id": hold.member_id,
            "name": name,
            "household": address_text(household),
            "pickup_by": due_day(hold.expires_at, community) if hold.expires_at else None,
        }
    view["waiting_holds"] = (
        await session.execute(select(func.count()).where(Hold.book_id == book.id, Hold.status == "waiting"))
    ).scalar_one()
    return view


async def renew_copy(session: AsyncSession, user: User, community_id: int, barcode: str) -> dict[str, Any]:
    """Staff renew the loan a copy of the community is on, by its barcode, under the rules of
    `circulation.renew` (renewals left, not overdue, nobody waiting). A copy not on loan is 409
    `not_on_loan`."""
    await require_staff(session, user, community_id)
    copy = await get_copy_by_barcode(session, community_id, barcode)
    loan_id = (
        await session.execute(select(Loan.id).where(Loan.copy_id == copy.id, Loan.returned_at.is_(None)))
    ).scalar_one_or_none()
    if loan_id is None:
        raise Conflict("not_on_loan", "这册书没有借出记录，不能续借", details={"barcode": copy.barcode})
    return await circulation.renew(session, user, loan_id)


# -- the desk's lists ------------------------------------------------------------------------------


async def hold_shelf_page(session: AsyncSession, user: User, community_id: int, page: int) -> dict[str, Any]:
    """Staff: a page (from 1) of the hold shelf, soonest expiry first, and whether more follow."""
    rows = await desk.hold_shelf(session, user, community_id, limit=PAGE + 1, offset=(page - 1) * PAGE)
    return {"items": rows[:PAGE], "page": page, "has_next": len(rows) > PAGE}


async def overdue_page(session: AsyncSession, user: User, community_id: int, page: int) -> dict[str, Any]:
    """Staff: a page (from 1) of overdue loans, longest overdue first, each with its household's
    phone masked (138****1234; shown in full only by the logged reveal), and whether more follow."""
    rows = await desk.overdue(session, user, community_id, limit=PAGE + 1, offset=(page - 1) * PAGE)
    masked = await phones.masked(session, sorted({r["household_id"] for r in rows[:PAGE]}))
    items = [{**r, "phone": masked.get(r["household_id"])} for r in rows[:PAGE]]
    return {"items": items, "page": page, "has_next": len(rows) > PAGE}


# -- the catalogue ---------------------------------------------------------------------------------


async def _book_here(session: AsyncSession, community_id: int, book_id: int) -> Book:
    book = await session.get(Book, book_id) if 1 <= book_id <= MAX_ID else None
    if book is None or book.community_id != community_id:
        raise NotFound("book_not_found", "找不到这本书")
    return book


async def book_at_desk(session: AsyncSession, user: User, community_id: int, book_id: int) -> dict[str, Any]:
    """Staff: a title of this community with its copies (barcodes, states, where they are) —
    `books.book_detail` — and, for each copy on loan, who has it until when."""
    community = await require_staff(session, user, community_id)
    await _book_here(session, community_id, book_id)
    detail = await books.book_detail(session, user, book_id)
    on_loan = (
        await session.execute(
            select(Loan.copy_id, Member.display_name, Loan.due_at)
            .join(Member, Member.id == Loan.member_id)
            .where(Loan.book_id == book_id, Loan.returned_at.is_(None))
        )
    ).all()
    lent = {copy_id: (name, due_day(due, community)) for copy_id, name, due in on_loan}
    for copy in detail["copies_detail"]:
        name, due = lent.get(copy["id"], (None, None))
        copy["borrower"], copy["due_on"] = name, due
    return detail


async def add_copy(
    session: AsyncSession, user: User, community_id: int, book_id: int, data: dict[str, Any]
) -> BookCopy:
    """Staff label a new copy of a title of this community (`books.add_copy`: a barcode is unique
    in the community)."""
    await require_staff(session, user, community_id)
    await _book_here(session, community_id, book_id)
    return await books.add_copy(session, user, book_id, data)
