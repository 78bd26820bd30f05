from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import ConcernTimes, CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.schemas.concerns import (
    Category,
    ConcernAccept,
    ConcernBoard,
    ConcernCard,
    ConcernCommentCreate,
    ConcernCommentModeration,
    ConcernCommentRead,
    ConcernCreate,
    ConcernDecline,
    ConcernDetail,
    ConcernLevelChange,
    ConcernModeration,
    ConcernResolve,
    ConcernUpdateCreate,
    ConcernVerdictCreate,
    GovernancePolicyRead,
    GovernancePolicyWrite,
    ReviewQueue,
    Status,
)
from api.services.governance import concern_clocks, concern_triage, concern_views, concerns

router = APIRouter(tags=["concerns"])


async def _detail(session: Any, user: Any, concern_id: int) -> ConcernDetail:
    return ConcernDetail(**await concern_views.concern_detail(session, user, concern_id))


# -- raising and reading -------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/concerns",
    response_model=ConcernDetail,
    status_code=201,
    summary="说说烦心事（文字和照片审核通过后社区可见）",
)
async def raise_concern(
    community_id: IdPath, body: ConcernCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    concern = await concerns.raise_concern(session, user, community_id, body.model_dump())
    return await idem.respond(await _detail(session, user, concern.id))


@router.get(
    "/communities/{community_id}/concerns",
    response_model=ConcernBoard,
    summary="烦心事（最新在前；社工另有各状态和超时的件数）",
)
async def board(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[list[Status] | None, Query(description="一个或几个状态")] = None,
    category: Category | None = None,
    building: Annotated[str | None, Query(max_length=32, description="楼栋，如 3栋")] = None,
    level: Annotated[int | None, Query(ge=1, le=3, description="等级 1–3")] = None,
    late: Annotated[bool | None, Query(description="true：现在已超时的；false：没有超时的")] = None,
    mine: Annotated[bool, Query(description="只看我提出的和我点了“我也遇到了”的")] = False,
) -> ConcernBoard:
    filters = concern_views.BoardFilters(
        statuses=tuple(status or ()), category=category, building=building, level=level, late=late, mine=mine
    )
    return ConcernBoard(**await concern_views.board(session, user, community_id, filters, page.cursor, page.limit))


@router.get(
    "/communities/{community_id}/concerns/similar",
    response_model=list[ConcernCard],
    summary="同一楼栋、同一类别还没解决的烦心事（提交前先看看，可以点“我也遇到了”）",
)
async def similar(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    category: Category,
    building: Annotated[str, Query(max_length=32, description="楼栋；空：不分楼栋的")] = "",
) -> list[ConcernCard]:
    return [ConcernCard(**c) for c in await concern_views.similar(session, user, community_id, building, category)]


@router.get(
    "/communities/{community_id}/concerns/review",
    response_model=ReviewQueue,
    summary="待审核的烦心事和评论（社工）",
)
async def review_queue(community_id: IdPath, user: CurrentUser, session: SessionDep) -> ReviewQueue:
    return ReviewQueue(**await concern_views.review_queue(session, user, community_id))


@router.get("/concerns/{concern_id}", response_model=ConcernDetail, summary="烦心事详情：进展、时间线、评价")
async def get_concern(concern_id: IdPath, user: CurrentUser, session: SessionDep) -> ConcernDetail:
    return await _detail(session, user, concern_id)


@router.post("/concerns/{concern_id}/moderate", response_model=ConcernDetail, summary="审核、下架或恢复（社工）")
async def moderate(
    concern_id: IdPath, body: ConcernModeration, user: CurrentUser, session: SessionDep
) -> ConcernDetail:
    await concerns.moderate(session, user, concern_id, body.approve, body.note)
    return await _detail(session, user, concern_id)


@router.post("/concerns/{concern_id}/metoo", response_model=ConcernDetail, summary="我也遇到了（重复点不变）")
async def me_too(concern_id: IdPath, user: CurrentUser, session: SessionDep) -> ConcernDetail:
    await concerns.me_too(session, user, concern_id, True)
    return await _detail(session, user, concern_id)


@router.delete("/concerns/{concern_id}/metoo", response_model=ConcernDetail, summary="取消“我也遇到了”")
async def not_me_too(concern_id: IdPath, user: CurrentUser, session: SessionDep) -> ConcernDetail:
    await concerns.me_too(session, user, concern_id, False)
    return await _detail(session, user, concern_id)


@router.get("/concerns/{concern_id}/comments", response_model=list[ConcernCommentRead], summary="评论")
async def list_comments(concern_id: IdPath, user: CurrentUser, session: SessionDep) -> list[ConcernCommentRead]:
    return [ConcernCommentRead(**c) for c in await concerns.comments(session, user, concern_id)]


@router.post(
    "/concerns/{concern_id}/comments",
    response_model=ConcernCommentRead,
    status_code=201,
    summary="评论（审核后可见）",
)
async def add_comment(
    concern_id: IdPath, body: ConcernCommentCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    comment = await concerns.add_comment(session, user, concern_id, body.body, body.hide_name)
    return await idem.respond(ConcernCommentRead(**comment))


@router.post(
    "/concern-comments/{concern_comment_id}/moderate",
    response_model=ConcernCommentRead,
    summary="审核烦心事的评论（社工）",
)
async def moderate_comment(
    concern_comment_id: IdPath, body: ConcernCommentModeration, user: CurrentUser, session: SessionDep
) -> ConcernCommentRead:
    return ConcernCommentRead(**await concerns.moderate_comment(session, user, concern_comment_id, body.approve))


# -- triage (staff) ------------------------------------------------------------------------------------


@router.post(
    "/concerns/{concern_id}/accept",
    response_model=ConcernDetail,
    summary="受理并分级（社工）：一级须有负责方和完成时间，三级自动列入下一次五方议事会",
    dependencies=[ConcernTimes],
)
async def accept(
    concern_id: IdPath, body: ConcernAccept, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.accept(session, user, concern_id, body.model_dump())
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post(
    "/concerns/{concern_id}/level",
    response_model=ConcernDetail,
    summary="调整等级、负责方或完成时间（社工）：时限从受理时重新计算",
    dependencies=[ConcernTimes],
)
async def change_level(
    concern_id: IdPath, body: ConcernLevelChange, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.change_level(session, user, concern_id, body.model_dump())
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post("/concerns/{concern_id}/start", response_model=ConcernDetail, summary="开始处理（社工）")
async def start(concern_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    await concern_triage.start(session, user, concern_id)
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post("/concerns/{concern_id}/resolve", response_model=ConcernDetail, summary="公布处理结果（社工）")
async def resolve(
    concern_id: IdPath, body: ConcernResolve, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.resolve(session, user, concern_id, body.result)
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post(
    "/concerns/{concern_id}/decline",
    response_model=ConcernDetail,
    summary="答复为无法解决、转办或重复反映（社工）",
)
async def decline(
    concern_id: IdPath, body: ConcernDecline, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.decline(session, user, concern_id, body.model_dump())
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post("/concerns/{concern_id}/close", response_model=ConcernDetail, summary="关闭（社工）")
async def close(concern_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    await concern_triage.close(session, user, concern_id)
    return await idem.respond(await _detail(session, user, concern_id), 200)


@router.post(
    "/concerns/{concern_id}/updates",
    response_model=ConcernDetail,
    status_code=201,
    summary="发布进展（社工；公开的会通知提出人和“我也遇到了”的居民）或内部备注",
)
async def post_update(
    concern_id: IdPath, body: ConcernUpdateCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.post_update(session, user, concern_id, body.body, body.public)
    return await idem.respond(await _detail(session, user, concern_id))


@router.post(
    "/concerns/{concern_id}/verdict",
    response_model=ConcernDetail,
    status_code=201,
    summary="解决了吗？（提出人和“我也遇到了”的居民，每轮一次；“没有解决”在期限内重新处理）",
)
async def give_verdict(
    concern_id: IdPath, body: ConcernVerdictCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await concern_triage.give_verdict(session, user, concern_id, body.model_dump())
    return await idem.respond(await _detail(session, user, concern_id))


# -- the community's clocks ----------------------------------------------------------------------------


@router.get(
    "/communities/{community_id}/governance/policy",
    response_model=GovernancePolicyRead,
    summary="议事时限（社工）",
)
async def get_policy(community_id: IdPath, user: CurrentUser, session: SessionDep) -> GovernancePolicyRead:
    return GovernancePolicyRead(**await concern_clocks.policy(session, user, community_id))


@router.put(
    "/communities/{community_id}/governance/policy",
    response_model=GovernancePolicyRead,
    summary="设置议事时限（社区管理员）",
)
async def set_policy(
    community_id: IdPath, body: GovernancePolicyWrite, user: CurrentUser, session: SessionDep
) -> GovernancePolicyRead:
    return GovernancePolicyRead(**await concern_clocks.set_policy(session, user, community_id, body.model_dump()))
