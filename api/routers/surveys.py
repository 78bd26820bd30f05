from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import (
    BlindIdempotencyDep,
    CommunityTimes,
    CurrentUser,
    IdempotencyDep,
    IdPath,
    PageDep,
    SessionDep,
    SurveyTimes,
)
from api.documents import attachment, xlsx
from api.schemas.surveys import (
    PaperSurveyEntry,
    SurveyAnswers,
    SurveyCancel,
    SurveyCreate,
    SurveyPage,
    SurveyPaperEntered,
    SurveyRead,
    SurveyResponded,
    SurveyResults,
    SurveyStatus,
    SurveyUpdate,
)
from api.services.votes import survey_results, surveys

router = APIRouter(tags=["surveys"])

WHO = (
    "社工管理本社区的需求调研；本社区居民在问卷开始后看到并填写，草稿只有社工能看（居民为 404）。"
    "其他社区的人什么都看不到（404）。居民做社工的操作为 403。"
)
WRONG_STATE = (
    "状态不对时为 409（survey_not_draft、survey_not_open、survey_not_cancellable），消息里写明问卷现在的状态。"
)
ANONYMOUS = (
    "匿名问卷（默认）的回答不和任何人关联：不记成员、不记住户、只记日期，编号随机；"
    "一个单向的标记（问卷和人或户的 HMAC）只用来拒绝重复填写，谁也不能从它找到回答。"
)
RESULTS_WHEN = (
    "实名问卷随时可看；匿名问卷在调研结束（截止时间已过、提前结束或取消）后才能看，之前为 409 "
    "survey_results_after_close，消息里写明截止时间——进行中社工只能在问卷详情里看到收到的份数（按渠道），"
    "以免前后两次查看之间的一份回答被认出来。"
)
BLIND = (
    "Idempotency-Key 只记方法和路径，不核对请求内容（服务器不留下所填内容的痕迹）：用同一个 Idempotency-Key 重试，"
    "返回第一次的结果；换了内容也只返回第一次的结果、不报错——换了内容请换一个 Idempotency-Key。"
)


def _without_respondent(entered: dict[str, Any]) -> dict[str, Any] | None:
    """What a retry with the same Idempotency-Key answers for an anonymous survey's paper
    questionnaire: the respondent is not stored with the key (next to the moment the response was
    kept, that would tie them to it)."""
    if entered["anonymous"] and entered["respondent"] is not None:
        return {**entered, "respondent": None, "respondent_withheld": True}
    return None


@router.post(
    "/communities/{community_id}/surveys",
    response_model=SurveyRead,
    status_code=201,
    summary="新建需求调研问卷（社工，草稿）",
    description=(
        "题型：single 单选、multiple 多选（可设至少、最多选几项）、scale 打分（1–5）、text 填空；单选和多选可以加"
        "「其他（请注明）」。默认匿名、每人一份。" + WHO
    ),
    dependencies=[CommunityTimes],
)
async def create_survey(
    community_id: IdPath, body: SurveyCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await surveys.create_survey(session, user, community_id, body.model_dump())
    return await idem.respond(SurveyRead(**view))


@router.get(
    "/communities/{community_id}/surveys",
    response_model=SurveyPage,
    summary="需求调研列表",
    description="新的在前。status 按显示的状态筛选（截止时间已过的算已结束）。" + WHO,
)
async def list_surveys(
    community_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep, status: SurveyStatus | None = None
) -> SurveyPage:
    listing = await surveys.list_surveys(
        session, user, community_id, status=status, cursor=page.cursor, limit=page.limit
    )
    return SurveyPage(**listing)


@router.get(
    "/surveys/{survey_id}",
    response_model=SurveyRead,
    summary="问卷详情",
    description="answered：我（每户一份的：我家）是否已经填写过。" + WHO,
)
async def get_survey(survey_id: IdPath, user: CurrentUser, session: SessionDep) -> SurveyRead:
    return SurveyRead(**await surveys.survey_view(session, user, survey_id))


@router.patch(
    "/surveys/{survey_id}",
    response_model=SurveyRead,
    summary="修改问卷（社工，草稿）",
    description=(
        "开始后不能再改（409 survey_not_draft）。questions 整份替换；project_id 填 null 表示不属于任何服务项目。"
    ),
    dependencies=[SurveyTimes],
)
async def update_survey(survey_id: IdPath, body: SurveyUpdate, user: CurrentUser, session: SessionDep) -> SurveyRead:
    return SurveyRead(**await surveys.update_survey(session, user, survey_id, body.model_dump(exclude_unset=True)))


@router.post(
    "/surveys/{survey_id}/open",
    response_model=SurveyRead,
    summary="开始调研（社工）：草稿 → 进行中",
    description=(
        "居民从此可以填写，到截止时间自动结束；本社区有账号的居民收到调研邀请。截止时间已过的为 409 "
        "survey_closes_at_passed。" + WRONG_STATE
    ),
)
async def open_survey(survey_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(SurveyRead(**await surveys.open_survey(session, user, survey_id)), 200)


@router.post(
    "/surveys/{survey_id}/close",
    response_model=SurveyRead,
    summary="提前结束调研（社工）：进行中 → 已结束",
    description="之后谁也不能再填写。" + WRONG_STATE,
)
async def close_survey(survey_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(SurveyRead(**await surveys.close_survey(session, user, survey_id)), 200)


@router.post(
    "/surveys/{survey_id}/cancel",
    response_model=SurveyRead,
    summary="取消调研（社工）：草稿或进行中 → 已取消",
    description="居民在问卷页面看到原因；收件箱里的调研邀请随之撤回。已收到的回答保留，社工仍可查看。" + WRONG_STATE,
)
async def cancel_survey(
    survey_id: IdPath, body: SurveyCancel, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(SurveyRead(**await surveys.cancel_survey(session, user, survey_id, body.reason)), 200)


@router.post(
    "/surveys/{survey_id}/responses",
    response_model=SurveyResponded,
    status_code=201,
    summary="填写问卷（居民）",
    description=(
        "每人一份或每户一份（按问卷）：已经填写过的（每户一份的：家里已有人填写，或社工已录入这一户的纸质问卷）为 409 "
        "survey_already_answered，不说是谁填的。不是本社区居民的为 403 survey_not_resident；问卷不在进行中为 409 "
        "survey_not_open。答案不合题目要求为 422，指出是哪一题。" + ANONYMOUS + BLIND
    ),
)
async def respond(
    survey_id: IdPath, body: SurveyAnswers, user: CurrentUser, session: SessionDep, idem: BlindIdempotencyDep
) -> JSONResponse:
    answers = [a.model_dump() for a in body.answers]
    return await idem.respond(SurveyResponded(**await surveys.respond(session, user, survey_id, answers)))


@router.post(
    "/surveys/{survey_id}/paper",
    response_model=SurveyPaperEntered,
    status_code=201,
    summary="录入纸质问卷（社工，进行中）",
    description=(
        "可以记下填写人（member_id；每户一份的也可以只记 household_id）：这个人（这一户）就不能再在小程序里填写，"
        "已经填写过的为 409 survey_already_answered。匿名问卷即使记了填写人，回答也不和他关联。"
        "不记填写人时可以填问卷上写的楼栋（building）。" + BLIND
    ),
)
async def enter_paper(
    survey_id: IdPath, body: PaperSurveyEntry, user: CurrentUser, session: SessionDep, idem: BlindIdempotencyDep
) -> JSONResponse:
    entered = await surveys.enter_paper(
        session,
        user,
        survey_id,
        [a.model_dump() for a in body.answers],
        member_id=body.member_id,
        household_id=body.household_id,
        building=body.building,
    )
    return await idem.respond(SurveyPaperEntered(**entered), replay=_without_respondent(entered))


@router.get(
    "/surveys/{survey_id}/results",
    response_model=SurveyResults,
    summary="调研结果（社工；匿名问卷在结束后）",
    description=(
        "每题的人数和百分比（占答了这一题的人数）；打分题的分布和平均分；填空和「其他」的文字按随机顺序列出。"
        "按楼栋的分项里，少于5人的楼栋不显示（少于5人）；隐藏的合计仍少于5人时，人数最少的楼栋一并隐藏，"
        "以免从合计推算。每一题也一样：一栋里答这一题的人少于5人时不列这一题的数字，这一题隐藏的回答合计"
        "少于5份时，答题人数最少的楼栋也一并不列。" + RESULTS_WHEN + "居民看不到结果（403）。"
    ),
)
async def results(survey_id: IdPath, user: CurrentUser, session: SessionDep) -> SurveyResults:
    return SurveyResults(**await survey_results.results(session, user, survey_id))


@router.get(
    "/surveys/{survey_id}/export.xlsx",
    summary="导出调研（XLSX，社工）",
    description=(
        "工作表：说明、回答（每份一行、每题一列，「其他」的文字单独一列）、结果、按楼栋。匿名问卷的回答不列任何人，"
        "按随机顺序排列，不列渠道和日期（按渠道的份数在「说明」里），人数少的楼栋不列出楼栋；"
        "实名问卷列出填写人、住址、渠道和日期。" + RESULTS_WHEN
    ),
    response_class=Response,
    responses={200: {"content": {xlsx.CONTENT_TYPE: {}}}},
)
async def export(survey_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    data = await survey_results.export(session, user, survey_id)
    name = f"{survey_id}.xlsx"
    return Response(
        data,
        media_type=xlsx.CONTENT_TYPE,
        headers={"Content-Disposition": attachment("需求调研-" + name, "survey-" + name)},
    )
