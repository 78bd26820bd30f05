from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.errors import AppError
from api.routers.library import XLSX, _upload
from api.schemas.common import Page
from api.schemas.households import (
    FlatImportSummary,
    FlatPreview,
    HouseholdCreate,
    HouseholdRead,
    HouseholdRegistered,
    HouseholdSummary,
    HouseholdUpdate,
    JoinRequest,
    JoinResult,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from api.services import flats, households
from api.services.households import member_view

router = APIRouter(tags=["households"])


@router.post(
    "/communities/{community_id}/join",
    response_model=JoinResult,
    status_code=201,
    summary="以住户身份加入社区（登记门牌）",
    description="新门牌：建立新户，你是户主。已有住户的门牌：等待户主或社工确认（pending），确认前看不到该户信息。",
)
async def join(
    community_id: IdPath, body: JoinRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await households.join(session, user, community_id, body.model_dump())
    return await idem.respond(JoinResult(**result))


@router.get(
    "/communities/{community_id}/households", response_model=Page[HouseholdSummary], summary="住户档案列表（社工）"
)
async def list_households(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    building: Annotated[str | None, Query(max_length=32)] = None,
    pending: Annotated[bool, Query(description="只看有待确认成员的住户")] = False,
) -> Page[HouseholdSummary]:
    items, next_cursor = await households.list_households(
        session, user, community_id, building=building, pending_only=pending, cursor=page.cursor, limit=page.limit
    )
    return Page[HouseholdSummary](items=[HouseholdSummary(**i) for i in items], next_cursor=next_cursor)


@router.post(
    "/communities/{community_id}/households",
    response_model=HouseholdRegistered,
    status_code=201,
    summary="社工登记一户（代办：没有微信的居民，如独居老人）",
    description=(
        "社工在服务台为没有微信的居民登记一户：门牌、成员（第一位为户主，都没有微信账号；儿童需出生年份和"
        "监护人同意）和联系电话（加密保存）。门牌已有住户：409 household_exists（details.household_id），"
        "请在该户中添加成员。请带 Idempotency-Key。"
    ),
)
async def register_household(
    community_id: IdPath, body: HouseholdCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    registered = await households.register_household(session, user, community_id, body.model_dump())
    return await idem.respond(HouseholdRegistered(**registered))


@router.get("/households/{household_id}", response_model=HouseholdRead, summary="一户一档：住户及其成员")
async def get_household(household_id: IdPath, user: CurrentUser, session: SessionDep) -> HouseholdRead:
    return HouseholdRead(**await households.get_household(session, user, household_id))


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdRead,
    summary="登记住户的专有部分面积和业主（社工）",
    description=(
        "floor_area：面积（㎡），数字或文字，最多两位小数；null 清除。is_owner：是否业主。没传的字段不改。"
        "按面积表决（《民法典》第二百七十八条）用这里登记的面积和业主。本户成员可以看到但不能修改（403）。"
    ),
)
async def update_household(
    household_id: IdPath, body: HouseholdUpdate, user: CurrentUser, session: SessionDep
) -> HouseholdRead:
    await flats.update_flat(session, user, household_id, body.model_dump(exclude_unset=True))
    return HouseholdRead(**await households.get_household(session, user, household_id))


SHEET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
SHEET_TEXT = (
    "列：楼栋、单元、房号、面积(㎡)、业主(是/否)；按门牌对应住户（3栋2单元501 与 3 2 501室 是同一户），"
    "社区里没有的门牌新建为住户；空着的格子不改原来登记的。同一户出现两次、面积或业主写错，"
    "都带行号和列名全部列出。"
)


def _kind(request: Request, format: Literal["csv", "xlsx"] | None) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = format or ("xlsx" if content_type == XLSX else "csv" if content_type in ("text/csv", "text/plain") else None)
    if kind is None:
        raise AppError("import_type_unsupported", "请上传 CSV 或 XLSX 文件", status=415)
    return kind


@router.post(
    "/communities/{community_id}/households/flats/preview",
    response_model=FlatPreview,
    summary="检查房屋面积和业主表（CSV 或 XLSX，社工）：导入会做什么，什么也不写入",
    description="请求体就是文件本身：Content-Type 为 text/csv 或 XLSX 的类型（或用 ?format=csv|xlsx）。"
    + SHEET_TEXT
    + "返回每一行的结果（新建、更新前后的数字、不变）和需要修改的地方。",
    openapi_extra=SHEET_BODY,
)
async def preview_flats(
    community_id: IdPath,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    format: Literal["csv", "xlsx"] | None = None,
) -> FlatPreview:
    kind = _kind(request, format)
    return FlatPreview(**await flats.preview_file(session, user, community_id, await _upload(request), kind))


@router.post(
    "/communities/{community_id}/households/flats/import",
    response_model=FlatImportSummary,
    summary="导入房屋面积和业主表（CSV 或 XLSX，社工）",
    description="请求体就是文件本身：Content-Type 为 text/csv 或 XLSX 的类型（或用 ?format=csv|xlsx）。"
    + SHEET_TEXT
    + "有任何问题就什么也不导入（422 import_invalid）；同一个文件再导入一次不会有变化。",
    openapi_extra=SHEET_BODY,
)
async def import_flats(
    community_id: IdPath,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    idem: IdempotencyDep,
    format: Literal["csv", "xlsx"] | None = None,
) -> JSONResponse:
    kind = _kind(request, format)
    summary = await flats.import_file(session, user, community_id, await _upload(request), kind)
    return await idem.respond(FlatImportSummary(**summary), 200)


@router.post(
    "/households/{household_id}/members",
    response_model=MemberRead,
    status_code=201,
    summary="添加没有微信账号的家庭成员（儿童、老人）",
)
async def add_member(
    household_id: IdPath, body: MemberCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    member = await households.add_member(session, user, household_id, body.model_dump())
    return await idem.respond(MemberRead(**member_view(member, user.id)))


@router.patch("/members/{member_id}", response_model=MemberRead, summary="修改成员信息")
async def update_member(member_id: IdPath, body: MemberUpdate, user: CurrentUser, session: SessionDep) -> MemberRead:
    member = await households.update_member(session, user, member_id, body.model_dump(exclude_unset=True))
    return MemberRead(**member_view(member, user.id))


@router.delete("/members/{member_id}", status_code=204, summary="移除成员，或自己退出该户")
async def remove_member(member_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await households.remove_member(session, user, member_id)
    return Response(status_code=204)


@router.post("/members/{member_id}/approve", response_model=MemberRead, summary="确认加入本户的申请（户主或社工）")
async def approve_member(
    member_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    member = await households.approve_request(session, user, member_id)
    return await idem.respond(MemberRead(**member_view(member, user.id)), status_code=200)


@router.post("/members/{member_id}/reject", status_code=204, summary="拒绝加入本户的申请（户主或社工）")
async def reject_member(member_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await households.reject_request(session, user, member_id)
    return Response(status_code=204)
