from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from api.deps import CommunityTimes, CurrentUser, IdempotencyDep, IdPath, PageDep, RecordTimes, SessionDep, writes
from api.documents import csvfile, xlsx
from api.pagination import MAX_ID
from api.schemas.common import Page
from api.schemas.volunteers import (
    CertificateCheck,
    MyRecords,
    OnSite,
    PolicyRead,
    PolicyWrite,
    ProfileRead,
    ProfileWrite,
    RankRead,
    RecordAmend,
    RecordCorrection,
    RecordRead,
    RecordReview,
    ReviewRequest,
    RoleRequest,
    RuleCreate,
    RuleEnd,
    RuleMade,
    RuleRead,
    ShiftCancel,
    ShiftCode,
    ShiftCreate,
    ShiftRead,
    ShiftTags,
    SignupRead,
    SignupRequest,
    StoryAnswer,
    StoryCreate,
    StoryRead,
    TeamCreate,
    TeamRead,
)
from api.services.volunteers import common, records, shifts, signups, teams, totals

router = APIRouter(tags=["volunteers"])
public = APIRouter(tags=["volunteers"])
CommunityQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="社区")]


# -- teams and profiles --------------------------------------------------------------------------


@router.post("/communities/{community_id}/teams", response_model=TeamRead, status_code=201, summary="成立团队（社工）")
async def create_team(
    community_id: IdPath, body: TeamCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    team = await teams.create_team(session, user, community_id, body.model_dump())
    return await idem.respond(TeamRead(**await teams.team_detail(session, user, team.id)))


@router.get("/communities/{community_id}/teams", response_model=list[TeamRead], summary="社区的志愿团队")
async def list_teams(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[TeamRead]:
    return [TeamRead(**t) for t in await teams.list_teams(session, user, community_id)]


@router.get("/teams/{team_id}", response_model=TeamRead, summary="团队详情（队长和社工看得到队员名单）")
async def get_team(team_id: IdPath, user: CurrentUser, session: SessionDep) -> TeamRead:
    return TeamRead(**await teams.team_detail(session, user, team_id))


@router.post("/teams/{team_id}/join", response_model=TeamRead, summary="申请加入（队长或社工确认）")
async def join_team(team_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(TeamRead(**await teams.join(session, user, team_id)), 200)


@router.post("/teams/{team_id}/requests/{user_id}", response_model=TeamRead, summary="通过或拒绝入队申请（队长或社工）")
async def review_request(
    team_id: IdPath, user_id: IdPath, body: ReviewRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await teams.review(session, user, team_id, user_id, body.approve)
    return await idem.respond(TeamRead(**await teams.team_detail(session, user, team_id)), 200)


@router.post("/teams/{team_id}/leave", status_code=204, summary="退出团队（或撤回申请）")
async def leave_team(team_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await teams.leave(session, user, team_id)
    return Response(status_code=204)


@router.put("/teams/{team_id}/members/{user_id}/role", status_code=204, summary="指定或卸任队长（社工）")
async def set_role(
    team_id: IdPath, user_id: IdPath, body: RoleRequest, user: CurrentUser, session: SessionDep
) -> Response:
    await teams.set_role(session, user, team_id, user_id, body.role)
    return Response(status_code=204)


@router.get("/communities/{community_id}/volunteer-profile", response_model=ProfileRead, summary="我的志愿者信息")
async def get_profile(community_id: IdPath, user: CurrentUser, session: SessionDep) -> ProfileRead:
    return ProfileRead(**await teams.get_profile(session, user, community_id))


@router.put(
    "/communities/{community_id}/volunteer-profile",
    response_model=ProfileRead,
    summary="登记或修改志愿者信息",
    description="技能与可服务时段；真实姓名和身份证号只在需要官方记录时填写，身份证号加密保存、只显示打码。",
)
async def save_profile(community_id: IdPath, body: ProfileWrite, user: CurrentUser, session: SessionDep) -> ProfileRead:
    return ProfileRead(**await teams.save_profile(session, user, community_id, body.model_dump(exclude_unset=True)))


@router.post(
    "/communities/{community_id}/stories", response_model=StoryRead, status_code=201, summary="写人物故事（社工）"
)
async def write_story(
    community_id: IdPath, body: StoryCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(StoryRead(**await teams.write_story(session, user, community_id, body.model_dump())))


@router.get("/communities/{community_id}/stories", response_model=list[StoryRead], summary="人物故事")
async def list_stories(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[StoryRead]:
    return [StoryRead(**s) for s in await teams.stories(session, user, community_id)]


@router.post("/stories/{story_id}/answer", response_model=StoryRead, summary="同意或不同意分享关于我的故事")
async def answer_story(
    story_id: IdPath, body: StoryAnswer, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(StoryRead(**await teams.answer_story(session, user, story_id, body.consent)), 200)


# -- shifts --------------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/shifts",
    response_model=ShiftRead,
    status_code=201,
    summary="设置岗位",
    dependencies=[CommunityTimes],
)
async def create_shift(
    community_id: IdPath, body: ShiftCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    shift = await shifts.create_shift(session, user, community_id, body.model_dump())
    return await idem.respond(ShiftRead(**await shifts.shift_detail(session, user, shift.id)))


@router.post(
    "/communities/{community_id}/shift-rules",
    response_model=RuleMade,
    status_code=201,
    summary="每周固定岗位（如周二至周日 14:00–18:00 开馆值班）",
)
async def create_rule(
    community_id: IdPath, body: RuleCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(RuleMade(**await shifts.create_rule(session, user, community_id, body.model_dump())))


@router.get("/communities/{community_id}/shift-rules", response_model=list[RuleRead], summary="每周固定岗位")
async def list_rules(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[RuleRead]:
    return [RuleRead(**r) for r in await shifts.rules(session, user, community_id)]


@router.post(
    "/shift-rules/{rule_id}/end",
    response_model=RuleRead,
    summary="结束固定岗位（社工或队长）：之后的岗位取消，已报名的队员收到通知",
)
async def end_rule(rule_id: IdPath, body: RuleEnd, user: CurrentUser, session: SessionDep) -> RuleRead:
    return RuleRead(**await shifts.end_rule(session, user, rule_id, body.last_day))


@router.post("/shifts/{shift_id}/cancel", response_model=ShiftRead, summary="取消岗位（开始前；已报名的队员收到通知）")
async def cancel_shift(shift_id: IdPath, body: ShiftCancel, user: CurrentUser, session: SessionDep) -> ShiftRead:
    return ShiftRead(**await shifts.cancel_shift(session, user, shift_id, body.reason))


@router.patch(
    "/shifts/{shift_id}",
    response_model=ShiftRead,
    summary="岗位的服务项目和服务类型（社工；队长可改服务类型）",
    description="不填的字段不变，null 清除。岗位结束后也可以改。",
)
async def tag_shift(shift_id: IdPath, body: ShiftTags, user: CurrentUser, session: SessionDep) -> ShiftRead:
    return ShiftRead(**await shifts.tag_shift(session, user, shift_id, body.model_dump(exclude_unset=True)))


@router.get("/communities/{community_id}/shifts", response_model=Page[ShiftRead], summary="接下来的岗位")
async def list_shifts(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    open_only: Annotated[bool, Query(alias="open", description="只看还缺人的")] = False,
    mine: Annotated[bool, Query(description="只看我报名的")] = False,
) -> Page[ShiftRead]:
    items, next_cursor = await shifts.list_shifts(
        session,
        user,
        community_id,
        team_id=team_id,
        open_only=open_only,
        mine_only=mine,
        cursor=page.cursor,
        limit=page.limit,
    )
    return Page[ShiftRead](items=[ShiftRead(**i) for i in items], next_cursor=next_cursor)


@router.get("/shifts/{shift_id}", response_model=ShiftRead, summary="岗位详情")
async def get_shift(shift_id: IdPath, user: CurrentUser, session: SessionDep) -> ShiftRead:
    return ShiftRead(**await shifts.shift_detail(session, user, shift_id))


@router.post(
    "/shifts/{shift_id}/signups", response_model=ShiftRead, status_code=201, summary="报名（或队长为队员安排）"
)
async def sign_up(
    shift_id: IdPath, body: SignupRequest, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(ShiftRead(**await signups.sign_up(session, user, shift_id, body.volunteer_id)))


@router.post("/signups/{signup_id}/withdraw", response_model=ShiftRead, summary="退出报名（截止时间前）")
async def withdraw(signup_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(ShiftRead(**await signups.withdraw(session, user, signup_id)), 200)


@router.get("/shifts/{shift_id}/code", response_model=ShiftCode, summary="现场签到码（社工或队长的屏幕，每分钟更换）")
async def shift_code(shift_id: IdPath, user: CurrentUser, session: SessionDep) -> ShiftCode:
    return ShiftCode(**await signups.current_code(session, user, shift_id))


@router.post("/shifts/{shift_id}/checkin", response_model=SignupRead, summary="值班签到（扫码，或队长/社工确认）")
async def check_in(
    shift_id: IdPath, body: OnSite, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(
        SignupRead(**await signups.check_in(session, user, shift_id, body.code, body.volunteer_id)), 200
    )


@router.post("/shifts/{shift_id}/checkout", response_model=SignupRead, summary="值班签退：生成待审核的服务记录")
async def check_out(
    shift_id: IdPath, body: OnSite, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(
        SignupRead(**await signups.check_out(session, user, shift_id, body.code, body.volunteer_id)), 200
    )


# -- service records -----------------------------------------------------------------------------


@router.get("/me/service-records", response_model=MyRecords, summary="我的志愿服务记录与时长（按月、按年）")
async def my_records(community_id: CommunityQuery, user: CurrentUser, session: SessionDep) -> MyRecords:
    return MyRecords(**await totals.my_records(session, user, community_id))


@router.get(
    "/me/service-records/certificate",
    summary="志愿服务证明（PDF）",
    description="已审核的服务时长；带证明编号，可在 /api/v1/certificates/{number} 核验。免费出具。",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
@writes
async def certificate(
    community_id: CommunityQuery,
    user: CurrentUser,
    session: SessionDep,
    period_from: Annotated[date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period_to: Annotated[date | None, Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
) -> Response:
    data, number = await totals.certificate(session, user, community_id, period_from, period_to)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{number}.pdf"',
            "X-Certificate-Number": number,
        },
    )


@public.get("/certificates/{number}", response_model=CertificateCheck, summary="核验志愿服务证明（无需登录）")
async def verify(number: Annotated[str, Path(min_length=4, max_length=16)], session: SessionDep) -> CertificateCheck:
    return CertificateCheck(**await totals.verify(session, number))


@router.get(
    "/communities/{community_id}/service-records/pending",
    response_model=list[RecordRead],
    summary="待审核的服务记录（社工）",
)
async def pending(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[RecordRead]:
    return [RecordRead(**r) for r in await records.to_review(session, user, community_id)]


@router.post("/service-records/{record_id}/review", response_model=RecordRead, summary="审核服务记录（社工）")
async def review_record(
    record_id: IdPath, body: RecordReview, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(
        RecordRead(**await records.review(session, user, record_id, body.approve, body.note)), 200
    )


@router.patch(
    "/service-records/{record_id}",
    response_model=RecordRead,
    summary="修改待审核的记录（社工）",
    dependencies=[RecordTimes],
)
async def amend_record(record_id: IdPath, body: RecordAmend, user: CurrentUser, session: SessionDep) -> RecordRead:
    return RecordRead(**await records.amend(session, user, record_id, body.model_dump(exclude_none=True)))


@router.post(
    "/service-records/{record_id}/corrections",
    response_model=RecordRead,
    status_code=201,
    summary="更正已审核的记录（社工）：生成一条关联的新记录",
    dependencies=[RecordTimes],
)
async def correct_record(
    record_id: IdPath, body: RecordCorrection, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(
        RecordRead(**await records.correct(session, user, record_id, body.model_dump(exclude_none=True)))
    )


@router.get(
    "/communities/{community_id}/service-records/export",
    summary="导出服务记录（XLSX 或 CSV，社工）",
    description="已审核的记录，按国家志愿服务记录的字段；身份证号仅社区管理员导出完整号码。"
    "默认 XLSX；?format=csv 为 UTF-8（带 BOM）的 CSV。",
    response_class=Response,
    responses={200: {"content": {xlsx.CONTENT_TYPE: {}, csvfile.CONTENT_TYPE: {}}}},
)
async def export(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    period_from: Annotated[date | None, Query(alias="from", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period_to: Annotated[date | None, Query(alias="to", ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    data = await totals.export(session, user, community_id, period_from, period_to, format)
    media_type = csvfile.CONTENT_TYPE if format == "csv" else xlsx.CONTENT_TYPE
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="service-records.{format}"'},
    )


@router.get("/communities/{community_id}/volunteers/rankings", response_model=list[RankRead], summary="服务时长排行")
async def rankings(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[RankRead]:
    return [RankRead(**r) for r in await totals.rankings(session, user, community_id, team_id)]


@router.get("/communities/{community_id}/volunteer-policy", response_model=PolicyRead, summary="时长记录规则")
async def policy(community_id: IdPath, user: CurrentUser, session: SessionDep) -> PolicyRead:
    return PolicyRead(**await common.get_policy(session, user, community_id))


@router.put(
    "/communities/{community_id}/volunteer-policy",
    response_model=PolicyRead,
    summary="设置时长记录规则（社工）",
    description="记录单位和取整方式；只影响之后生成的记录，已有记录不变。",
)
async def set_policy(community_id: IdPath, body: PolicyWrite, user: CurrentUser, session: SessionDep) -> PolicyRead:
    return PolicyRead(**await common.set_policy(session, user, community_id, body.model_dump(exclude_none=True)))
