from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, IdPath, SessionDep
from api.schemas.projects import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    SummaryRead,
    SummaryWrite,
    Targets,
    TargetsWrite,
)
from api.services.reports import projects, summaries

router = APIRouter(tags=["reports"])


# -- service projects ------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/projects",
    response_model=ProjectRead,
    status_code=201,
    summary="新建服务项目（社工）",
    description=(
        "政府购买服务的项目：名称、购买方、合同期、分期方式（按月或按季度设目标）。"
        "项目覆盖路径中的社区，以及 community_ids 列出的社区（创建者须是这些社区的工作人员）。"
    ),
)
async def create_project(
    community_id: IdPath, body: ProjectCreate, user: CurrentUser, session: SessionDep
) -> ProjectRead:
    return ProjectRead(**await projects.create_project(session, user, community_id, body.model_dump()))


@router.get(
    "/communities/{community_id}/projects",
    response_model=list[ProjectRead],
    summary="覆盖本社区的服务项目（社工）",
)
async def list_projects(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[ProjectRead]:
    return [ProjectRead(**p) for p in await projects.list_projects(session, user, community_id)]


@router.get(
    "/projects/{project_id}",
    response_model=ProjectRead,
    summary="服务项目详情（所覆盖社区的社工）",
    description="只有项目所覆盖社区的工作人员能看到；其他人得到 404。",
)
async def get_project(project_id: IdPath, user: CurrentUser, session: SessionDep) -> ProjectRead:
    return ProjectRead(**await projects.get_project(session, user, project_id))


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectRead,
    summary="修改服务项目（所覆盖社区的社工）",
    description="不填或为 null 的字段不变。改合同期或分期方式后仍有不适用的分期目标时拒绝（409）。",
)
async def update_project(
    project_id: IdPath, body: ProjectUpdate, user: CurrentUser, session: SessionDep
) -> ProjectRead:
    return ProjectRead(**await projects.update_project(session, user, project_id, body.model_dump(exclude_unset=True)))


@router.put(
    "/projects/{project_id}/communities/{community_id}",
    response_model=ProjectRead,
    summary="项目覆盖一个社区（须同时是该社区的社工）",
)
async def add_community(
    project_id: IdPath, community_id: IdPath, user: CurrentUser, session: SessionDep
) -> ProjectRead:
    return ProjectRead(**await projects.add_community(session, user, project_id, community_id))


@router.delete(
    "/projects/{project_id}/communities/{community_id}",
    response_model=ProjectRead,
    summary="项目不再覆盖一个社区（须同时是该社区的社工；该社区的目标一并删除）",
)
async def remove_community(
    project_id: IdPath, community_id: IdPath, user: CurrentUser, session: SessionDep
) -> ProjectRead:
    return ProjectRead(**await projects.remove_community(session, user, project_id, community_id))


@router.get(
    "/projects/{project_id}/communities/{community_id}/targets",
    response_model=Targets,
    summary="项目在一个社区的目标（该社区的社工）",
)
async def get_targets(project_id: IdPath, community_id: IdPath, user: CurrentUser, session: SessionDep) -> Targets:
    return Targets(**await projects.get_targets(session, user, project_id, community_id))


@router.put(
    "/projects/{project_id}/communities/{community_id}/targets",
    response_model=Targets,
    summary="设置项目在一个社区的目标（整体替换；该社区的社工）",
    description="列出的每个（指标，期间）按给出的值保存；没有列出的或值为 null 的删除。",
)
async def set_targets(
    project_id: IdPath, community_id: IdPath, body: TargetsWrite, user: CurrentUser, session: SessionDep
) -> Targets:
    rows = [t.model_dump() for t in body.targets]
    return Targets(**await projects.set_targets(session, user, project_id, community_id, rows))


# -- activity summaries ----------------------------------------------------------------------------


@router.get(
    "/activities/{activity_id}/summary",
    response_model=SummaryRead,
    summary="活动总结（社工，用于台账）",
    description="没写过时各栏为空字符串；template 给出各栏的名称和填写提示。",
)
async def get_summary(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> SummaryRead:
    return SummaryRead(**await summaries.get_summary(session, user, activity_id))


@router.put(
    "/activities/{activity_id}/summary",
    response_model=SummaryRead,
    summary="写活动总结（社工）",
    description="整体保存六栏：背景、目标、过程、参与情况、成效、反思（每栏最多 2000 字；没有给出的栏为空）。",
)
async def write_summary(activity_id: IdPath, body: SummaryWrite, user: CurrentUser, session: SessionDep) -> SummaryRead:
    return SummaryRead(**await summaries.write_summary(session, user, activity_id, body.model_dump()))
