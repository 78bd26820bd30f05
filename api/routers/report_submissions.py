"""Submitted periods (社工): submit a month or quarter to the funder, its figures frozen; list the
submissions; one in full with the adjustments since."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, SessionDep
from api.pagination import MAX_ID
from api.schemas.report_submissions import ReportSubmissionCreate, ReportSubmissionDetail, ReportSubmissionRead
from api.services.reports import submissions

router = APIRouter(tags=["reports"])


@router.post(
    "/communities/{community_id}/report-submissions",
    response_model=ReportSubmissionDetail,
    status_code=201,
    summary="报送一个月或一个季度的服务数据（社工）",
    description=(
        "把统计期（月份或季度，整个社区或一个服务项目）的服务数据冻结保存为报送版本；之后数据的变动只显示为"
        "“报送后的调整”，不改变报送的数字。统计期结束后（社区当地时间）才能报送（409 period_not_ended，"
        "details.submittable_from 为可以报送的第一天）；同一统计期只能报送一次（409 period_already_submitted）。"
        "服务项目的统计期须按项目的报送周期（月或季度）且在合同期内（422）。请带 Idempotency-Key。"
    ),
)
async def submit(
    community_id: IdPath,
    body: ReportSubmissionCreate,
    user: CurrentUser,
    session: SessionDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    view = await submissions.submit(session, user, community_id, body.period, body.project_id, body.note)
    return await idem.respond(ReportSubmissionDetail.model_validate({**view, "adjustments": []}))


@router.get(
    "/communities/{community_id}/report-submissions",
    response_model=list[ReportSubmissionRead],
    summary="报送记录（社工）",
    description="本社区的报送，最新的在前：统计期、服务项目、报送人和时间。可只看一个服务项目的。",
)
async def list_submissions(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    project_id: Annotated[int | None, Query(alias="project", ge=1, le=MAX_ID, description="只看这个服务项目的")] = None,
) -> list[ReportSubmissionRead]:
    return [
        ReportSubmissionRead.model_validate(item)
        for item in await submissions.list_submissions(session, user, community_id, project_id)
    ]


@router.get(
    "/report-submissions/{submission_id}",
    response_model=ReportSubmissionDetail,
    summary="一次报送：冻结的数字和报送后的调整（社工）",
    description=(
        "figures 为报送时冻结的服务数据；adjustments 为同一统计期、同一项目现在重新统计后与报送时不同的指标："
        "报送时、现在和差值，以及其中变化了的分项和每个细分数字。没有变化时为空列表。"
    ),
)
async def get_submission(submission_id: IdPath, user: CurrentUser, session: SessionDep) -> ReportSubmissionDetail:
    return ReportSubmissionDetail.model_validate(await submissions.get_submission(session, user, submission_id))
