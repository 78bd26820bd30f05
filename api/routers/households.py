from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.schemas.common import Page
from api.schemas.households import (
    HouseholdCreate,
    HouseholdRead,
    HouseholdRegistered,
    HouseholdSummary,
    JoinRequest,
    JoinResult,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from api.services import households
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
