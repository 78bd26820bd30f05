from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, IdPath, PageDep, SessionDep
from api.schemas.common import Page
from api.schemas.communities import (
    AuditEntryRead,
    AuditSubject,
    ClosureCreate,
    ClosureRead,
    CommunityCreate,
    CommunityDetail,
    CommunityRead,
    CommunityUpdate,
    RoleGrant,
    SpaceCreate,
    SpaceRead,
    SpaceUpdate,
    StaffRead,
    validate_opening_hours,
)
from api.services import audit, communities

router = APIRouter(tags=["communities"])


@router.post("/communities", response_model=CommunityRead, status_code=201, summary="新建社区（平台管理员）")
async def create_community(body: CommunityCreate, user: CurrentUser, session: SessionDep) -> CommunityRead:
    community = await communities.create_community(session, user, body.model_dump())
    return CommunityRead.model_validate(community)


@router.get("/communities", response_model=list[CommunityRead], summary="可加入的社区")
async def list_communities(_user: CurrentUser, session: SessionDep) -> list[CommunityRead]:
    return [CommunityRead.model_validate(c) for c in await communities.list_communities(session)]


@router.get("/communities/{community_id}", response_model=CommunityDetail, summary="社区及其空间")
async def get_community(community_id: IdPath, user: CurrentUser, session: SessionDep) -> CommunityDetail:
    return CommunityDetail(**await communities.community_detail(session, user, community_id))


@router.patch("/communities/{community_id}", response_model=CommunityRead, summary="修改社区（社区管理员）")
async def update_community(
    community_id: IdPath, body: CommunityUpdate, user: CurrentUser, session: SessionDep
) -> CommunityRead:
    community = await communities.update_community(session, user, community_id, body.model_dump(exclude_unset=True))
    return CommunityRead.model_validate(community)


@router.get("/communities/{community_id}/spaces", response_model=list[SpaceRead], summary="社区的空间与开放时间")
async def list_spaces(community_id: IdPath, _user: CurrentUser, session: SessionDep) -> list[SpaceRead]:
    return [SpaceRead(**view) for view in await communities.list_spaces(session, community_id)]


@router.post(
    "/communities/{community_id}/spaces", response_model=SpaceRead, status_code=201, summary="新建空间（社区管理员）"
)
async def create_space(community_id: IdPath, body: SpaceCreate, user: CurrentUser, session: SessionDep) -> SpaceRead:
    fields = body.model_dump()
    if body.opening_hours is not None:
        fields["opening_hours"] = validate_opening_hours(body.opening_hours)
    return SpaceRead(**await communities.create_space(session, user, community_id, fields))


@router.patch("/spaces/{space_id}", response_model=SpaceRead, summary="修改空间或开放时间（社区管理员）")
async def update_space(space_id: IdPath, body: SpaceUpdate, user: CurrentUser, session: SessionDep) -> SpaceRead:
    fields = body.model_dump(exclude_unset=True)
    if body.opening_hours is not None:
        fields["opening_hours"] = validate_opening_hours(body.opening_hours)
    return SpaceRead(**await communities.update_space(session, user, space_id, fields))


@router.get("/spaces/{space_id}/closures", response_model=list[ClosureRead], summary="今天起的闭馆安排")
async def list_closures(space_id: IdPath, _user: CurrentUser, session: SessionDep) -> list[ClosureRead]:
    return [ClosureRead.model_validate(c) for c in await communities.space_closures(session, space_id)]


@router.post("/spaces/{space_id}/closures", response_model=ClosureRead, status_code=201, summary="登记闭馆（社工）")
async def add_closure(space_id: IdPath, body: ClosureCreate, user: CurrentUser, session: SessionDep) -> ClosureRead:
    return ClosureRead.model_validate(await communities.add_closure(session, user, space_id, body.model_dump()))


@router.delete("/closures/{closure_id}", status_code=204, summary="取消闭馆安排（社工）")
async def remove_closure(closure_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await communities.remove_closure(session, user, closure_id)
    return Response(status_code=204)


@router.get("/communities/{community_id}/staff", response_model=list[StaffRead], summary="社区工作人员")
async def list_staff(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[StaffRead]:
    return [StaffRead(**row) for row in await communities.list_staff(session, user, community_id)]


@router.put(
    "/communities/{community_id}/roles/{user_id}",
    status_code=204,
    summary="设定用户在社区的角色",
    description="社区管理员可任免社工（staff）；任免社区管理员（admin）需平台管理员。",
)
async def set_role(
    community_id: IdPath, user_id: IdPath, body: RoleGrant, user: CurrentUser, session: SessionDep
) -> Response:
    await communities.set_role(session, user, community_id, user_id, body.role)
    return Response(status_code=204)


@router.get(
    "/communities/{community_id}/audit",
    response_model=Page[AuditEntryRead],
    summary="设置的修改记录（工作人员）",
    description="社区信息、空间与闭馆、工作人员任免、各项规则与免打扰时段的每次修改：谁、何时、改了什么。最新的在前。",
)
async def list_audit(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    subject: Annotated[AuditSubject | None, Query(description="只看某类设置")] = None,
    subject_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="只看某一项（如某个空间）")] = None,
) -> Page[AuditEntryRead]:
    listing = await audit.list_entries(
        session, user, community_id, subject=subject, subject_id=subject_id, cursor=page.cursor, limit=page.limit
    )
    return Page[AuditEntryRead](
        items=[AuditEntryRead(**item) for item in listing["items"]], next_cursor=listing["next_cursor"]
    )
