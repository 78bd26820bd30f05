"""The monthly record book (台账): staff request a month, the worker assembles it, staff download it."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.documents import attachment
from api.schemas.record_books import RecordBookPage, RecordBookRead, RecordBookRequest
from api.services.reports import record_book

router = APIRouter(tags=["reports"])


@router.post(
    "/communities/{community_id}/record-books",
    response_model=RecordBookRead,
    status_code=202,
    summary="生成某月的台账（社工）",
    description=(
        "后台生成压缩包：每场本月举办的活动一个文件夹（签到表、活动总结、照片），以及本月的指标表。"
        "完成后在消息里通知本社区的社工。同一月份、同一用途还在生成中的，返回那一份。"
        "月份须在本社区建立以来、到本月为止（否则 422 month_invalid）。"
    ),
)
async def request_book(
    community_id: IdPath, body: RecordBookRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    book = await record_book.request_book(session, user, community_id, body.month, body.internal)
    return await idem.respond(RecordBookRead(**book), 202)


@router.get(
    "/communities/{community_id}/record-books",
    response_model=RecordBookPage,
    summary="本社区的台账（最新在前，社工）",
)
async def list_books(community_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep) -> RecordBookPage:
    items, next_cursor = await record_book.list_books(session, user, community_id, page.cursor, page.limit)
    return RecordBookPage(items=[RecordBookRead(**b) for b in items], next_cursor=next_cursor)


@router.get("/record-books/{record_book_id}", response_model=RecordBookRead, summary="一份台账（社工）")
async def get_book(record_book_id: IdPath, user: CurrentUser, session: SessionDep) -> RecordBookRead:
    return RecordBookRead(**await record_book.get_book(session, user, record_book_id))


@router.get(
    "/record-books/{record_book_id}/download",
    summary="下载台账压缩包（社工）",
    description="生成完成后才能下载（之前 409 record_book_not_ready）。",
    response_class=Response,
    responses={200: {"content": {record_book.ZIP_TYPE: {}}}},
)
async def download(record_book_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    data, name = await record_book.download(session, user, record_book_id)
    return Response(
        data,
        media_type=record_book.ZIP_TYPE,
        headers={"Content-Disposition": attachment(name, f"record-book-{record_book_id}.zip")},
    )
