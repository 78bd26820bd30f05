from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.pagination import MAX_ID
from api.schemas.common import Page
from api.schemas.notifications import (
    DeliveryDetail,
    DeliveryRead,
    DeliveryStatus,
    InboxEntry,
    InboxPage,
    ReadAllResult,
    SubscriptionReport,
    SubscriptionsRead,
    SubscriptionTemplate,
)
from api.services.notifications import deliveries, inbox, subscriptions

router = APIRouter(tags=["notifications"])


@router.get("/me/inbox", response_model=InboxPage, summary="我的消息（最新在前）与未读数")
async def list_inbox(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="只看未读")] = False,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="只看某个社区的消息")] = None,
) -> InboxPage:
    items, next_cursor, unread_count = await inbox.list_inbox(
        session, user, cursor=page.cursor, limit=page.limit, unread_only=unread, community_id=community_id
    )
    return InboxPage(items=[InboxEntry(**i) for i in items], next_cursor=next_cursor, unread_count=unread_count)


@router.post("/me/inbox/{notification_id}/read", response_model=InboxEntry, summary="标为已读")
async def read_entry(
    notification_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    entry = await inbox.mark_read(session, user, notification_id)
    return await idem.respond(InboxEntry(**inbox.entry_view(entry)), status_code=200)


@router.post("/me/inbox/read-all", response_model=ReadAllResult, summary="全部标为已读")
async def read_all(user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(ReadAllResult(updated=await inbox.mark_all_read(session, user)), status_code=200)


@router.get("/me/subscriptions", response_model=list[SubscriptionTemplate], summary="我会收到哪些微信订阅消息")
async def list_subscriptions(user: CurrentUser, session: SessionDep) -> list[SubscriptionTemplate]:
    return [SubscriptionTemplate(**t) for t in await subscriptions.list_subscriptions(session, user)]


@router.post(
    "/me/subscriptions",
    response_model=SubscriptionsRead,
    summary="上报 wx.requestSubscribeMessage 的结果",
    description=(
        "把 wx.requestSubscribeMessage 成功回调的结果原样上报。每个 accept 允许发送一条该模板的消息；"
        "ban 表示用户在设置中关闭了该模板。重试请带同一个 Idempotency-Key，否则会重复计数。"
    ),
)
async def report_subscriptions(
    body: SubscriptionReport, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await subscriptions.report(session, user, body.root)
    return await idem.respond(SubscriptionsRead(**result), status_code=200)


@router.get(
    "/communities/{community_id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="微信推送记录（社工）",
    description="每条订阅消息推送的状态、错误码和请求内容；fake 模式下即“本应发送”的消息。",
)
async def list_deliveries(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: DeliveryStatus | None = None,
    cause: Annotated[str | None, Query(max_length=191, description="起因，如 announcement:12")] = None,
) -> Page[DeliveryRead]:
    items, next_cursor = await deliveries.list_deliveries(
        session, user, community_id, status=status, cause_key=cause, cursor=page.cursor, limit=page.limit
    )
    return Page[DeliveryRead](items=[DeliveryRead(**i) for i in items], next_cursor=next_cursor)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, summary="一条推送及每次尝试（社工）")
async def get_delivery(delivery_id: IdPath, user: CurrentUser, session: SessionDep) -> DeliveryDetail:
    return DeliveryDetail(**await deliveries.get_delivery(session, user, delivery_id))
