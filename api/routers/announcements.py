from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from api.deps import AnnouncementTimes, CommunityTimes, CurrentUser, IdempotencyDep, IdPath, PageDep, SessionDep
from api.schemas.notifications import (
    AnnouncementCreate,
    AnnouncementPage,
    AnnouncementRead,
    AnnouncementUpdate,
    ResidentAnnouncement,
    StaffAnnouncement,
)
from api.services.notifications import announcements

router = APIRouter(tags=["announcements"])
# residents and staff get different shapes of one announcement, told apart by `view`
ONE: TypeAdapter[ResidentAnnouncement | StaffAnnouncement] = TypeAdapter(AnnouncementRead)


@router.post(
    "/communities/{community_id}/announcements",
    response_model=StaffAnnouncement,
    status_code=201,
    summary="发布公告（社工）",
    description=(
        "对象：全体居民、指定楼栋、有某年龄段孩子的家庭、某个志愿团队。即刻或定时发布；可置顶。"
        "收件箱消息与微信订阅消息由后台分批发送。"
    ),
    dependencies=[CommunityTimes],
)
async def create_announcement(
    community_id: IdPath, body: AnnouncementCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await announcements.create(session, user, community_id, body.model_dump())
    return await idem.respond(StaffAnnouncement(**view))


@router.get(
    "/communities/{community_id}/announcements",
    response_model=AnnouncementPage,
    summary="公告列表（置顶在前）",
    description=(
        "居民：已发布且发给自己的公告（view 为 resident：标题、摘要、置顶、发布时间、是否已读）。"
        "社工：全部（view 为 staff），含状态、发送对象、已读数与推送数，可按状态筛选。"
    ),
)
async def list_announcements(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["scheduled", "published", "withdrawn"] | None, Query(description="社工")] = None,
) -> AnnouncementPage:
    items, next_cursor = await announcements.list_announcements(
        session, user, community_id, status=status, cursor=page.cursor, limit=page.limit
    )
    return AnnouncementPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/announcements/{announcement_id}",
    response_model=AnnouncementRead,
    summary="公告详情",
    description=(
        "居民（view 为 resident）：标题、全文、置顶、发布时间、是否修改过、是否已读，没有社工的统计字段。"
        "本社区社工（view 为 staff）：另有状态、定时发布时间、发送对象、已读数与推送数、修改记录。"
    ),
)
async def get_announcement(
    announcement_id: IdPath, user: CurrentUser, session: SessionDep
) -> ResidentAnnouncement | StaffAnnouncement:
    return ONE.validate_python(await announcements.get_announcement(session, user, announcement_id))


@router.patch(
    "/announcements/{announcement_id}",
    response_model=StaffAnnouncement,
    summary="修改公告（社工）",
    description="发布前可改全部；发布后只能改标题、正文和置顶，原文保留为修改记录。",
    dependencies=[AnnouncementTimes],
)
async def update_announcement(
    announcement_id: IdPath, body: AnnouncementUpdate, user: CurrentUser, session: SessionDep
) -> StaffAnnouncement:
    view = await announcements.update_announcement(session, user, announcement_id, body.model_dump(exclude_unset=True))
    return StaffAnnouncement(**view)


@router.post("/announcements/{announcement_id}/withdraw", response_model=StaffAnnouncement, summary="撤回公告（社工）")
async def withdraw_announcement(
    announcement_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await announcements.withdraw(session, user, announcement_id)
    return await idem.respond(StaffAnnouncement(**view), status_code=200)


@router.post(
    "/announcements/{announcement_id}/read",
    response_model=AnnouncementRead,
    summary="标记公告已读",
    description="答复与公告详情相同：居民为 view=resident，社工为 view=staff（社工预览不计入已读数）。",
)
async def read_announcement(
    announcement_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await announcements.mark_read(session, user, announcement_id)
    view = await announcements.get_announcement(session, user, announcement_id)
    return await idem.respond(ONE.validate_python(view), status_code=200)
