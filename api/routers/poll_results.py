from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyDep, IdPath, SessionDep, writes
from api.documents import attachment, xlsx
from api.schemas.poll_results import PollResults, TieResolve
from api.schemas.polls import PollRead
from api.services.votes import results

router = APIRouter(tags=["poll results"])
XLSX = ".xlsx"

HIDDEN = (
    "投票结束（closes_at）之前，任何人（包括社区工作人员）都看不到结果：409 poll_results_hidden，"
    "消息里写明结果何时公布；"
    "已取消的投票没有结果（409 poll_cancelled）。结束后如果计票任务还没有运行，这次请求就按同一个办法计票并保存。"
)
WHO = "本社区居民（草稿除外）和社工可以看；其他社区的人为 404。"


@router.get(
    "/polls/{poll_id}/results",
    response_model=PollResults,
    summary="投票或选举的结果（结束后公布，含参与情况）",
    description=(
        "每个问题各选项的票数、加权票数（按套投票时为面积）和百分比，填写的意见；规则的结论：过半数、参与率，"
        "或《民法典》第二百七十八条的双门槛（参与面积和人数都达到三分之二以上，同意面积和人数都过半数，"
        "特别事项为四分之三以上），每个门槛给出分子、分母、百分比、至少需要多少、是否达到。"
        "不是业主大会依法召集的投票标为 意向征询，只说 多数意见 / 达到门槛（仅供参考），从不说通过。"
        "选举：名次、当选的人、最后席位的并列（剩下的席位数、约定的解决办法、抽签结果或决选投票）。" + HIDDEN + WHO
    ),
)
@writes  # the first reader after the close may count and close the poll
async def get_results(poll_id: IdPath, user: CurrentUser, session: SessionDep) -> PollResults:
    return PollResults(**await results.results(session, user, poll_id))


@router.get(
    "/polls/{poll_id}/export.xlsx",
    summary="导出投票结果（XLSX，社工，结束后）",
    description=(
        "三张表：结果（参与情况、门槛、每个问题的票数和结论）；名册（每位选民是否参与、参与方式，不含选择）；"
        "选票（记名投票：选民和选择；不记名投票：只有回执号和选择，按回执号排序，不含面积或权重，无法对应到选民）。"
        + HIDDEN
        + "居民为 403。"
    ),
    response_class=Response,
    responses={200: {"content": {xlsx.CONTENT_TYPE: {}}}},
)
@writes
async def export(poll_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    data = await results.export(session, user, poll_id)
    return Response(
        data,
        media_type=xlsx.CONTENT_TYPE,
        headers={"Content-Disposition": attachment(f"投票结果-{poll_id}{XLSX}", f"poll-{poll_id}-results{XLSX}")},
    )


@router.post(
    "/polls/{poll_id}/tie",
    response_model=PollResults,
    summary="记录抽签结果（社工，选举结束后，约定以抽签解决并列的）",
    description=(
        "只能在并列争取最后席位的候选人中选，人数等于剩下的席位数（422，字段 elected）。"
        "没有并列为 409 poll_no_tie；约定决选投票的为 409 poll_tie_rule；已经抽签的为 409 poll_tie_resolved。"
        "保存后按抽签结果重新给出结果，全体居民收到最终结果的通知。" + HIDDEN
    ),
)
async def resolve_tie(
    poll_id: IdPath, body: TieResolve, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await results.resolve_tie(session, user, poll_id, body.elected, body.note)
    return await idem.respond(PollResults(**view), 200)


@router.post(
    "/polls/{poll_id}/runoff",
    response_model=PollRead,
    status_code=201,
    summary="从并列发起决选投票（社工，选举结束后，约定以决选投票解决并列的）",
    description=(
        "新建一次选举草稿：候选人为并列争取最后席位的人，应选人数为剩下的席位数，投票人范围、规则、是否无记名"
        "与原选举相同（名册在发布后重新生成）；默认一天后开始、投票时长与原选举相同，"
        "发布前可以修改（PATCH /polls/{id}）。"
        "原选举的结果里写明这次决选投票。没有并列为 409 poll_no_tie；约定抽签的为 409 poll_tie_rule；"
        "已经发起（且没有取消）的为 409 poll_runoff_exists。" + HIDDEN
    ),
)
async def open_runoff(poll_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    view = await results.open_runoff(session, user, poll_id)
    return await idem.respond(PollRead(**view))
