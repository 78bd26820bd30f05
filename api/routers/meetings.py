from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import CommunityTimes, CurrentUser, IdempotencyDep, IdPath, MeetingTimes, PageDep, SessionDep
from api.pagination import MAX_ID
from api.schemas.meetings import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    AgendaOrder,
    DecisionCreate,
    DecisionRead,
    DecisionUpdate,
    FollowUpCreate,
    FollowUpList,
    FollowUpRead,
    FollowUpStatus,
    FollowUpUpdate,
    MeetingAttendance,
    MeetingCancel,
    MeetingCheckinResult,
    MeetingCreate,
    MeetingKind,
    MeetingOnsiteCode,
    MeetingPage,
    MeetingRead,
    MeetingSelfCheckin,
    MeetingUpdate,
    ParticipantCheckin,
    ParticipantCreate,
    ParticipantRead,
    Party,
    WalkinCount,
)
from api.services.governance import follow_ups, meeting_agenda, meeting_attendance, meeting_minutes, meetings

router = APIRouter(tags=["meetings"])

WHO = (
    "社工管理本社区的议事会；本社区居民在议程公布后看到议事会（议程、参会人员），纪要公布后看到纪要、决定和跟进事项；"
    "草稿只有社工能看（居民为 404）。其他社区的人什么都看不到（404）。居民做社工的操作为 403。"
)
WRONG_STATE = "状态不对时为 409 meeting_transition_invalid（或 meeting_locked），消息里写明议事会现在的状态。"


# -- meetings ------------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/meetings",
    response_model=MeetingRead,
    status_code=201,
    summary="新建议事会（社工，草稿）",
    description=("五方议事会（开始时间在将来的）建立时，把所有等待上会的三级烦心事列入议程。" + WHO),
    dependencies=[CommunityTimes],
)
async def create_meeting(
    community_id: IdPath, body: MeetingCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await meetings.create_meeting(session, user, community_id, body.model_dump())
    return await idem.respond(MeetingRead(**view))


@router.get(
    "/communities/{community_id}/meetings",
    response_model=MeetingPage,
    summary="议事会列表",
    description="upcoming：还没召开的（社工含草稿），近的在前；past：已召开、已公布纪要、已取消的，新的在前。" + WHO,
)
async def list_meetings(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    when: Literal["upcoming", "past"] = "upcoming",
    kind: MeetingKind | None = None,
) -> MeetingPage:
    listing = await meetings.list_meetings(
        session, user, community_id, when=when, kind=kind, cursor=page.cursor, limit=page.limit
    )
    return MeetingPage(**listing)


@router.get("/meetings/{meeting_id}", response_model=MeetingRead, summary="议事会详情", description=WHO)
async def get_meeting(meeting_id: IdPath, user: CurrentUser, session: SessionDep) -> MeetingRead:
    return MeetingRead(**await meetings.meeting_detail(session, user, meeting_id))


@router.patch(
    "/meetings/{meeting_id}",
    response_model=MeetingRead,
    summary="修改议事会（社工）",
    description=(
        "名称、时间、地点在召开前可以改（议程已公布的，参会人会收到变更通知）；纪要开头（summary）在公布纪要前可以改。"
        + WRONG_STATE
    ),
    dependencies=[MeetingTimes],
)
async def update_meeting(
    meeting_id: IdPath, body: MeetingUpdate, user: CurrentUser, session: SessionDep
) -> MeetingRead:
    return MeetingRead(**await meetings.update_meeting(session, user, meeting_id, body.model_dump(exclude_unset=True)))


@router.post(
    "/meetings/{meeting_id}/publish-agenda",
    response_model=MeetingRead,
    summary="公布议程（社工）：草稿 → 议程已公布",
    description="居民从此看到这次议事会；有账号的参会人收到议事会和议程的通知。议程不能为空。" + WRONG_STATE,
)
async def publish_agenda(
    meeting_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(MeetingRead(**await meetings.publish_agenda(session, user, meeting_id)), 200)


@router.post(
    "/meetings/{meeting_id}/hold",
    response_model=MeetingRead,
    summary="标记为已召开（社工）：议程已公布 → 已召开",
    description="开始时间到了才能标记（409 meeting_not_started）。之后可以写纪要、记录决定和跟进事项。" + WRONG_STATE,
)
async def hold(meeting_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(MeetingRead(**await meetings.hold(session, user, meeting_id)), 200)


@router.post(
    "/meetings/{meeting_id}/publish-minutes",
    response_model=MeetingRead,
    summary="公布纪要（社工）：已召开 → 纪要已公布",
    description=(
        "纪要、决定和跟进事项向本社区公开；来自烦心事的议题：烦心事的进展里记下决定（内容、方式、跟进事项及负责人和期限），"
        "已受理的转为处理中，提出和附议的居民收到通知；没有作出决定的烦心事转到下一次五方议事会（或等待）。"
        "有账号的跟进负责人收到通知，并在到期前收到提醒。全部在一个事务里完成。" + WRONG_STATE
    ),
)
async def publish_minutes(
    meeting_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(MeetingRead(**await meeting_minutes.publish_minutes(session, user, meeting_id)), 200)


@router.post(
    "/meetings/{meeting_id}/cancel",
    response_model=MeetingRead,
    summary="取消议事会（社工）：草稿或议程已公布 → 已取消",
    description=(
        "已收到通知的参会人收到取消通知和原因；议程上的三级烦心事转到下一次五方议事会（或等待）。" + WRONG_STATE
    ),
)
async def cancel(
    meeting_id: IdPath, body: MeetingCancel, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(MeetingRead(**await meetings.cancel(session, user, meeting_id, body.reason)), 200)


# -- participants --------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/participants",
    response_model=ParticipantRead,
    status_code=201,
    summary="添加参会人（社工，召开前）",
    description="同一账号只能添加一次（409 participant_exists）。议程已公布时，有账号的参会人立即收到通知。",
)
async def add_participant(
    meeting_id: IdPath, body: ParticipantCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await meeting_agenda.add_participant(session, user, meeting_id, body.model_dump())
    return await idem.respond(ParticipantRead(**view))


@router.delete(
    "/meetings/{meeting_id}/participants/{participant_id}", status_code=204, summary="移除参会人（社工，召开前）"
)
async def remove_participant(
    meeting_id: IdPath, participant_id: IdPath, user: CurrentUser, session: SessionDep
) -> Response:
    await meeting_agenda.remove_participant(session, user, meeting_id, participant_id)
    return Response(status_code=204)


# -- agenda --------------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/agenda",
    response_model=AgendaItemRead,
    status_code=201,
    summary="添加议题（社工，召开前）",
    description="三级烦心事由系统自动列入，这里添加社工写的议题，排在最后。",
)
async def add_item(
    meeting_id: IdPath, body: AgendaItemCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(
        AgendaItemRead(**await meeting_agenda.add_item(session, user, meeting_id, body.model_dump()))
    )


@router.put(
    "/meetings/{meeting_id}/agenda/order",
    response_model=list[AgendaItemRead],
    summary="调整议题顺序（社工，召开前）",
)
async def reorder(
    meeting_id: IdPath, body: AgendaOrder, user: CurrentUser, session: SessionDep
) -> list[AgendaItemRead]:
    return [AgendaItemRead(**i) for i in await meeting_agenda.reorder(session, user, meeting_id, body.item_ids)]


@router.patch(
    "/meetings/{meeting_id}/agenda/{item_id}",
    response_model=AgendaItemRead,
    summary="修改议题或写议题纪要（社工）",
    description="标题和内容在召开前可以改；纪要（minutes）在召开后、公布纪要前写。",
)
async def update_item(
    meeting_id: IdPath, item_id: IdPath, body: AgendaItemUpdate, user: CurrentUser, session: SessionDep
) -> AgendaItemRead:
    view = await meeting_agenda.update_item(session, user, meeting_id, item_id, body.model_dump(exclude_unset=True))
    return AgendaItemRead(**view)


@router.delete(
    "/meetings/{meeting_id}/agenda/{item_id}",
    status_code=204,
    summary="撤下议题（社工，召开前）",
    description="来自烦心事的议题撤下后，烦心事的进展里写明撤下，烦心事重新等待下一次新建的五方议事会。",
)
async def remove_item(meeting_id: IdPath, item_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await meeting_agenda.remove_item(session, user, meeting_id, item_id)
    return Response(status_code=204)


# -- attendance ----------------------------------------------------------------------------------


@router.get(
    "/meetings/{meeting_id}/onsite-code",
    response_model=MeetingOnsiteCode,
    summary="现场签到码（社工的屏幕）",
    description="议程公布后到公布纪要前可用；每分钟更换。",
)
async def onsite_code(meeting_id: IdPath, user: CurrentUser, session: SessionDep) -> MeetingOnsiteCode:
    return MeetingOnsiteCode(**await meeting_attendance.current_onsite_code(session, user, meeting_id))


@router.post(
    "/meetings/{meeting_id}/checkins/self",
    response_model=MeetingCheckinResult,
    summary="扫现场签到码签到（参会人）",
    description=(
        "签到名单上本人（用账号添加的参会人）。签到时段：开始前 1 小时到结束。码不对或过期为 422 onsite_code_invalid，"
        "不在名单上为 403 not_a_participant，时段外为 409 checkin_not_open / checkin_closed。重复签到什么也不改变。"
    ),
)
async def self_checkin(
    meeting_id: IdPath, body: MeetingSelfCheckin, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await meeting_attendance.self_checkin(session, user, meeting_id, body.code)
    return await idem.respond(MeetingCheckinResult(**result), 200)


@router.post(
    "/meetings/{meeting_id}/checkins",
    response_model=MeetingCheckinResult,
    summary="为参会人签到（社工）",
    description="为没带手机的参会人在名单上签到：签到时段开始后，到公布纪要前。",
)
async def staff_checkin(
    meeting_id: IdPath, body: ParticipantCheckin, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await meeting_attendance.staff_checkin(session, user, meeting_id, body.participant_id)
    return await idem.respond(MeetingCheckinResult(**result), 200)


@router.put(
    "/meetings/{meeting_id}/walkins",
    response_model=MeetingAttendance,
    summary="没有用小程序的到场人数（社工）",
    description="签到时段开始后，到公布纪要前。",
)
async def set_walkins(
    meeting_id: IdPath, body: WalkinCount, user: CurrentUser, session: SessionDep
) -> MeetingAttendance:
    return MeetingAttendance(**await meeting_attendance.set_walkins(session, user, meeting_id, body.count))


# -- decisions -----------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/decisions",
    response_model=DecisionRead,
    status_code=201,
    summary="记录决定（社工，召开后、公布纪要前）",
    description="协商一致（consensus，不填票数）或表决（vote，赞成、反对、弃权票数都要填）。",
)
async def add_decision(
    meeting_id: IdPath, body: DecisionCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await meeting_minutes.add_decision(session, user, meeting_id, body.model_dump())
    return await idem.respond(DecisionRead(**view))


@router.patch("/decisions/{decision_id}", response_model=DecisionRead, summary="修改决定（社工，公布纪要前）")
async def update_decision(
    decision_id: IdPath, body: DecisionUpdate, user: CurrentUser, session: SessionDep
) -> DecisionRead:
    view = await meeting_minutes.update_decision(session, user, decision_id, body.model_dump(exclude_unset=True))
    return DecisionRead(**view)


@router.delete("/decisions/{decision_id}", status_code=204, summary="删除决定及其跟进事项（社工，公布纪要前）")
async def remove_decision(decision_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await meeting_minutes.remove_decision(session, user, decision_id)
    return Response(status_code=204)


# -- follow-ups ----------------------------------------------------------------------------------


@router.post(
    "/decisions/{decision_id}/follow-ups",
    response_model=FollowUpRead,
    status_code=201,
    summary="添加跟进事项（社工，召开后）",
    description=(
        "负责人：本社区的账号（owner_user_id），或负责的一方（owner_party）和名称（owner_name）。期限不早于议事会召开的日期。"
        "纪要已公布的，立即公开，负责人（账号）收到通知。"
    ),
)
async def add_follow_up(
    decision_id: IdPath, body: FollowUpCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await follow_ups.add_follow_up(session, user, decision_id, body.model_dump())
    return await idem.respond(FollowUpRead(**view))


@router.get(
    "/communities/{community_id}/follow-ups",
    response_model=FollowUpList,
    summary="跟进事项（按负责人、期限）",
    description="居民看到已公布纪要的；社工看到全部。late=true 只看逾期的（过了期限还没完成或放弃，按社区当地日期）。",
)
async def list_follow_ups(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    status: FollowUpStatus | None = None,
    owner_user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    owner_party: Party | None = None,
    mine: Annotated[bool, Query(description="只看我负责的")] = False,
    late: bool | None = None,
) -> FollowUpList:
    listing = await follow_ups.list_follow_ups(
        session,
        user,
        community_id,
        status=status,
        owner_user_id=owner_user_id,
        owner_party=owner_party,
        mine=mine,
        late=late,
    )
    return FollowUpList(**listing)


@router.get("/follow-ups/{follow_up_id}", response_model=FollowUpRead, summary="跟进事项详情")
async def get_follow_up(follow_up_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowUpRead:
    return FollowUpRead(**await follow_ups.get_follow_up(session, user, follow_up_id))


@router.patch(
    "/follow-ups/{follow_up_id}",
    response_model=FollowUpRead,
    summary="更新跟进事项",
    description=(
        "状态：open → in_progress → done | dropped（待办也可以直接完成或放弃；放弃须在 note 写明原因），"
        "附进展说明（note）。"
        "社工可以改一切，还可以改期限和负责人；负责人（账号）只能改自己这项的状态和进展。完成和放弃后不能再改"
        "（409 follow_up_closed）。"
    ),
)
async def update_follow_up(
    follow_up_id: IdPath, body: FollowUpUpdate, user: CurrentUser, session: SessionDep
) -> FollowUpRead:
    view = await follow_ups.update_follow_up(session, user, follow_up_id, body.model_dump(exclude_unset=True))
    return FollowUpRead(**view)


@router.delete(
    "/follow-ups/{follow_up_id}",
    status_code=204,
    summary="删除跟进事项（社工，公布纪要前）",
    description="纪要公布后不能删除，请改为放弃并写明原因。",
)
async def remove_follow_up(follow_up_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await follow_ups.remove_follow_up(session, user, follow_up_id)
    return Response(status_code=204)
