from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.errors import AppError
from api.schemas.common import Page
from api.schemas.library import (
    BookCreate,
    BookDetail,
    BookItem,
    BookUpdate,
    BorrowRequest,
    CirculationMonth,
    CopyCreate,
    CopyRead,
    CopyStateRead,
    CopyUpdate,
    HoldRead,
    HoldRequest,
    HoldShelfRead,
    ImportSummary,
    LoanPolicyRead,
    LoanPolicyUpdate,
    LoanRead,
    OverdueRead,
    ReturnRequest,
    Shelf,
)
from api.services.library import books, circulation, desk, holds, importer

router = APIRouter(tags=["library"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _book_fields(body: BookCreate | BookUpdate, *, unset: bool) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=unset)
    if fields.get("cover_url") is not None:
        fields["cover_url"] = str(fields["cover_url"])
    return fields


# -- catalogue -----------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/books", response_model=BookDetail, status_code=201, summary="添加书目（社工）"
)
async def create_book(
    community_id: IdPath, body: BookCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    book = await books.create_book(session, user, community_id, _book_fields(body, unset=False))
    return await idem.respond(BookDetail(**await books.book_detail(session, user, book.id)))


@router.get(
    "/communities/{community_id}/books",
    response_model=Page[BookItem],
    summary="找书：书名、作者、ISBN、标签，适读年龄，在架",
)
async def search_books(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=64, description="书名、作者或 ISBN")] = None,
    tag: Annotated[str | None, Query(max_length=16)] = None,
    age: Annotated[int | None, Query(ge=0, le=18, description="适合这个年龄的")] = None,
    available: Annotated[bool, Query(description="只看在架可借的")] = False,
) -> Page[BookItem]:
    items, next_cursor = await books.search(
        session, user, community_id, q=q, tag=tag, age=age, available=available, cursor=page.cursor, limit=page.limit
    )
    return Page[BookItem](items=[BookItem(**i) for i in items], next_cursor=next_cursor)


async def _upload(request: Request) -> bytes:
    """The request body, refused past the import limit without reading it all."""
    too_large = AppError("import_too_large", "文件不能超过 5 MB", status=413, details={"max_bytes": importer.MAX_BYTES})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > importer.MAX_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > importer.MAX_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/communities/{community_id}/books/import",
    response_model=ImportSummary,
    summary="导入书目表（CSV 或 XLSX，社工）",
    description=(
        "请求体就是文件本身：Content-Type 为 text/csv 或 XLSX 的类型（或用 ?format=csv|xlsx）。"
        "先检查每一行，有问题就带行号全部返回、什么也不导入；同一个文件再导入一次不会有变化。"
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_books(
    community_id: IdPath,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    idem: IdempotencyDep,
    format: Literal["csv", "xlsx"] | None = None,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = format or ("xlsx" if content_type == XLSX else "csv" if content_type in ("text/csv", "text/plain") else None)
    if kind is None:
        raise AppError("import_type_unsupported", "请上传 CSV 或 XLSX 文件", status=415)
    summary = await importer.import_catalogue(session, user, community_id, await _upload(request), kind)
    return await idem.respond(ImportSummary(**summary), 200)


@router.get("/books/{book_id}", response_model=BookDetail, summary="书目详情")
async def get_book(book_id: IdPath, user: CurrentUser, session: SessionDep) -> BookDetail:
    return BookDetail(**await books.book_detail(session, user, book_id))


@router.patch("/books/{book_id}", response_model=BookDetail, summary="修改书目（社工）")
async def update_book(book_id: IdPath, body: BookUpdate, user: CurrentUser, session: SessionDep) -> BookDetail:
    await books.update_book(session, user, book_id, _book_fields(body, unset=True))
    return BookDetail(**await books.book_detail(session, user, book_id))


@router.post("/books/{book_id}/copies", response_model=CopyRead, status_code=201, summary="登记一册书（贴条码，社工）")
async def add_copy(
    book_id: IdPath, body: CopyCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    copy = await books.add_copy(session, user, book_id, body.model_dump())
    return await idem.respond(CopyRead.model_validate(copy, from_attributes=True))


@router.patch("/copies/{copy_id}", response_model=CopyRead, summary="修补、遗失、下架或重新上架；改位置（社工）")
async def update_copy(copy_id: IdPath, body: CopyUpdate, user: CurrentUser, session: SessionDep) -> CopyRead:
    copy = await books.update_copy(session, user, copy_id, body.model_dump(exclude_none=True))
    return CopyRead.model_validate(copy, from_attributes=True)


# -- lending -------------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/loans",
    response_model=LoanRead,
    status_code=201,
    summary="借书（扫条码）",
    description=(
        "社工在服务台为本社区任何人借；居民为本户成员自助借（仅在书屋开放时间内）。重复扫码请带同一个 Idempotency-Key。"
    ),
)
async def borrow(
    community_id: IdPath, body: BorrowRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    loan = await circulation.borrow(session, user, community_id, body.barcode, body.member_id)
    return await idem.respond(LoanRead(**loan))


@router.post(
    "/communities/{community_id}/returns",
    response_model=LoanRead,
    summary="还书（社工扫条码，或清点还书箱）",
    description="有人预约时，这册书放到预约书架（next.to = hold_shelf）并通知预约者。",
)
async def return_copy(
    community_id: IdPath, body: ReturnRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(LoanRead(**await circulation.return_copy(session, user, community_id, body.barcode)), 200)


@router.get("/loans/{loan_id}", response_model=LoanRead, summary="借阅详情")
async def get_loan(loan_id: IdPath, user: CurrentUser, session: SessionDep) -> LoanRead:
    return LoanRead(**await circulation.get_loan(session, user, loan_id))


@router.post("/loans/{loan_id}/lost", response_model=LoanRead, summary="登记借出的书遗失（社工）：结清借阅")
async def mark_lost(loan_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(LoanRead(**await circulation.mark_lost(session, user, loan_id)), 200)


@router.post("/loans/{loan_id}/renew", response_model=LoanRead, summary="续借")
async def renew(loan_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(LoanRead(**await circulation.renew(session, user, loan_id)), 200)


@router.post("/books/{book_id}/holds", response_model=HoldRead, status_code=201, summary="预约这本书（为本户成员）")
async def place_hold(
    book_id: IdPath, body: HoldRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(HoldRead(**await holds.place_hold(session, user, book_id, body.member_id)))


@router.get("/holds/{hold_id}", response_model=HoldRead, summary="预约详情与排队位置")
async def get_hold(hold_id: IdPath, user: CurrentUser, session: SessionDep) -> HoldRead:
    return HoldRead(**await holds.get_hold(session, user, hold_id))


@router.post("/holds/{hold_id}/cancel", response_model=HoldRead, summary="取消预约")
async def cancel_hold(hold_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(HoldRead(**await holds.cancel_hold(session, user, hold_id)), 200)


@router.get(
    "/me/loans",
    response_model=Shelf,
    summary="我家的书架：在借（含到期、逾期）与预约，或借阅历史",
)
async def my_loans(
    user: CurrentUser, session: SessionDep, page: PageDep, state: Literal["current", "history"] = "current"
) -> Shelf:
    shelf = await circulation.my_shelf(session, user, history=state == "history", cursor=page.cursor, limit=page.limit)
    return Shelf(**shelf)


# -- the desk ------------------------------------------------------------------------------------


@router.get("/communities/{community_id}/loan-policy", response_model=LoanPolicyRead, summary="借阅规则")
async def get_policy(community_id: IdPath, user: CurrentUser, session: SessionDep) -> LoanPolicyRead:
    return LoanPolicyRead(**await desk.get_policy(session, user, community_id))


@router.put("/communities/{community_id}/loan-policy", response_model=LoanPolicyRead, summary="修改借阅规则（社工）")
async def set_policy(
    community_id: IdPath, body: LoanPolicyUpdate, user: CurrentUser, session: SessionDep
) -> LoanPolicyRead:
    return LoanPolicyRead(**await desk.set_policy(session, user, community_id, body.model_dump(exclude_unset=True)))


@router.get("/communities/{community_id}/library/overdue", response_model=list[OverdueRead], summary="逾期名单（社工）")
async def overdue(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[OverdueRead]:
    return [OverdueRead(**row) for row in await desk.overdue(session, user, community_id)]


@router.get(
    "/communities/{community_id}/library/hold-shelf", response_model=list[HoldShelfRead], summary="预约书架（社工）"
)
async def hold_shelf(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[HoldShelfRead]:
    return [HoldShelfRead(**row) for row in await desk.hold_shelf(session, user, community_id)]


@router.get(
    "/communities/{community_id}/library/copies",
    response_model=list[CopyStateRead],
    summary="待处理的书：修补、遗失、下架（社工）",
)
async def copies_by_state(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    state: Annotated[list[Literal["repair", "lost", "withdrawn"]] | None, Query()] = None,
) -> list[CopyStateRead]:
    states = tuple(state or ("repair", "lost"))
    return [CopyStateRead(**row) for row in await books.copies_by_state(session, user, community_id, states)]


@router.get(
    "/communities/{community_id}/library/circulation",
    response_model=list[CirculationMonth],
    summary="每月借还统计（社工）",
)
async def circulation_counts(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> list[CirculationMonth]:
    return [CirculationMonth(**row) for row in await desk.circulation(session, user, community_id, months)]
