from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import (
    BlindIdempotencyDep,
    CommunityTimes,
    CurrentUser,
    IdempotencyDep,
    IdPath,
    PageDep,
    PollTimes,
    SessionDep,
)
from api.schemas.polls import (
    BallotCast,
    BallotResult,
    Channel,
    Electorate,
    ElectoratePreview,
    EntryResult,
    MyBallot,
    ParticipationPage,
    PollCancel,
    PollCreate,
    PollEntryCreate,
    PollObjectionAnswer,
    PollObjectionCreate,
    PollObjectionPage,
    PollObjectionRead,
    PollPage,
    PollRead,
    PollStatus,
    PollTurnoutRead,
    PollUpdate,
    ReceiptRead,
    RollPage,
)
from api.services.votes import polls, roll, voting

router = APIRouter(tags=["polls"])

WHO = (
    "社工管理本社区的投票和选举；本社区居民在发布后看到（草稿为 404）。其他社区的人什么都看不到（404）。"
    "居民做社工的操作为 403。结果在截止时间之前对所有人（包括社工）隐藏。"
)
WRONG_PHASE = (
    "不在投票期间为 409：poll_not_open（还没开始）、poll_closed（已截止）、poll_cancelled（已取消），消息里写明时间。"
)
Receipt = Annotated[
    str, Path(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9 -]+$", description="回执号，如 K7QM-2XHD-PW9C-AR4T")
]


def _without_receipt(result: dict[str, Any]) -> dict[str, Any] | None:
    """What a retry with the same Idempotency-Key answers: the receipt of a secret ballot is not
    stored with the caller's key (that would tie it to them), so a retry answers without it."""
    return {**result, "receipt": None, "receipt_withheld": True} if result.get("receipt") else None


# -- polls ---------------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/polls",
    response_model=PollRead,
    status_code=201,
    summary="新建投票或选举（社工，草稿）",
    description=(
        "投票（kind=poll）填写题目 questions；选举（kind=election）填写候选人 candidates、应选人数 seats "
        "和票数相同时的办法 tie_rule。规则与投票单位的组合不对时为 422，指出是哪个字段。" + WHO
    ),
    dependencies=[CommunityTimes],
)
async def create_poll(
    community_id: IdPath, body: PollCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    view = await polls.create_poll(session, user, community_id, body.model_dump())
    return await idem.respond(PollRead(**view))


@router.get(
    "/communities/{community_id}/polls",
    response_model=PollPage,
    summary="投票和选举列表",
    description="按截止时间从晚到早。居民看不到草稿。" + WHO,
)
async def list_polls(
    community_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep, status: PollStatus | None = None
) -> PollPage:
    return PollPage(**await polls.list_polls(session, user, community_id, status, page))


@router.get(
    "/communities/{community_id}/polls/electorate",
    response_model=ElectoratePreview,
    summary="预览名册（社工）",
    description=(
        "按现在的住户和成员，名册会有多少选民、来自多少户、总面积；按房屋投票时还有：没有登记面积的业主户"
        "（有的话不能发布）、没有登记面积的住户（不在名册上）、名册上不是业主自住的房屋（业主用纸质选票或委托投票）。"
    ),
)
async def electorate_preview(
    community_id: IdPath, user: CurrentUser, session: SessionDep, electorate: Electorate
) -> ElectoratePreview:
    return ElectoratePreview(**await polls.electorate_preview(session, user, community_id, electorate))


@router.get("/polls/{poll_id}", response_model=PollRead, summary="投票详情", description=WHO)
async def get_poll(poll_id: IdPath, user: CurrentUser, session: SessionDep) -> PollRead:
    return PollRead(**await polls.poll_view(session, user, poll_id))


@router.patch(
    "/polls/{poll_id}",
    response_model=PollRead,
    summary="修改草稿（社工）",
    description="只有草稿可以修改（409 poll_not_draft）；给出的字段替换原来的，整体重新检查。",
    dependencies=[PollTimes],
)
async def update_poll(poll_id: IdPath, body: PollUpdate, user: CurrentUser, session: SessionDep) -> PollRead:
    return PollRead(**await polls.update_poll(session, user, poll_id, body.model_dump(exclude_unset=True)))


@router.post(
    "/polls/{poll_id}/publish",
    response_model=PollRead,
    summary="发布（社工）",
    description=(
        "有公示期（objection_days）的：现在生成名册并向居民公示，投票开始时间须在公示期之后（409 "
        "poll_objection_period_short）；没有公示期的：开始时间已到就立即开始（生成名册、通知选民），否则到时自动开始。"
        "按房屋投票的名册（各套房和面积）在发布时生成，不论有没有公示期，之后住户档案的变化不影响它。"
        "按房屋投票而有业主户没有面积时为 409 poll_roll_area_missing；名册为空为 409 poll_roll_empty。"
    ),
)
async def publish(poll_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(PollRead(**await polls.publish(session, user, poll_id)), 200)


@router.post(
    "/polls/{poll_id}/cancel",
    response_model=PollRead,
    summary="取消（社工，截止前）",
    description=(
        "已投的票保留但不计票。截止后不能取消（409 poll_closed）。已发出的“投票开始”“即将截止”通知从收件箱撤回；"
        "投票已经开始的，通知选民投票取消了及原因（poll.cancelled）。"
    ),
)
async def cancel(
    poll_id: IdPath, body: PollCancel, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(PollRead(**await polls.cancel(session, user, poll_id, body.reason)), 200)


# -- the roll and objections ---------------------------------------------------------------------


@router.get(
    "/polls/{poll_id}/roll",
    response_model=RollPage,
    summary="名册",
    description=(
        "社工：全部选民，是否已参与、以什么方式，q 按门牌或姓名搜索。"
        "居民：只有公示的名册（否则 403 poll_roll_hidden），姓名打码，q 只按门牌搜索。"
    ),
)
async def get_roll(
    poll_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=64, description="门牌（社工也可以搜姓名）")] = None,
) -> RollPage:
    return RollPage(**await roll.roll(session, user, poll_id, q, page))


@router.post(
    "/polls/{poll_id}/objections",
    response_model=PollObjectionRead,
    status_code=201,
    summary="对名册提出异议",
    description="只在名册公示期内（409 poll_objections_closed）。",
)
async def object_to_roll(
    poll_id: IdPath, body: PollObjectionCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(PollObjectionRead(**await roll.object_to_roll(session, user, poll_id, body.body)))


@router.get(
    "/polls/{poll_id}/objections",
    response_model=PollObjectionPage,
    summary="名册的异议",
    description="社工看到全部；居民看到自己提的。",
)
async def list_objections(poll_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep) -> PollObjectionPage:
    return PollObjectionPage(**await roll.list_objections(session, user, poll_id, page))


@router.post(
    "/polls/{poll_id}/objections/{objection_id}/answer",
    response_model=PollObjectionRead,
    summary="答复异议（社工）",
    description=(
        "成立（upheld）的可以划去一位选民或补登一位（按人：add_member_id；按户或房屋：add_household_id），"
        "只能在投票开始前（409 poll_roll_locked）；名册人数和面积随之更新。"
        "每条异议只答复一次（409 poll_objection_answered）。"
    ),
)
async def answer_objection(
    poll_id: IdPath,
    objection_id: IdPath,
    body: PollObjectionAnswer,
    user: CurrentUser,
    session: SessionDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    view = await roll.answer_objection(session, user, poll_id, objection_id, body.model_dump())
    return await idem.respond(PollObjectionRead(**view), 200)


# -- voting --------------------------------------------------------------------------------------


@router.post(
    "/polls/{poll_id}/ballot",
    response_model=BallotResult,
    status_code=201,
    summary="投票（居民）",
    description=(
        "为自己（按人）、自己家（按户）或自己家的房屋（按房屋）投票；每人（户、套）只能参与一次，不论方式："
        "已参与为 409 poll_already_voted，说明是谁、以什么方式。不在名册上为 403 poll_not_elector；"
        "按房屋投票而本户登记的不是业主（如租户）为 403 poll_not_owner（业主到社区用纸质选票或委托投票）。"
        "无记名投票的回执号只在这个回答里出现一次。" + WRONG_PHASE
    ),
)
async def cast(
    poll_id: IdPath, body: BallotCast, user: CurrentUser, session: SessionDep, idem: BlindIdempotencyDep
) -> JSONResponse:
    result = await voting.cast(session, user, poll_id, [a.model_dump() for a in body.answers])
    return await idem.respond(BallotResult(**result), replay=_without_receipt(result))


@router.put(
    "/polls/{poll_id}/ballot",
    response_model=BallotResult,
    summary="修改选票（记名投票，本人，截止前）",
    description=(
        "只有在小程序里投票的本人可以改（403 poll_ballot_not_yours）；无记名投票不能改（409 poll_ballot_secret）；"
        "还没投为 409 poll_not_voted。" + WRONG_PHASE
    ),
)
async def change(poll_id: IdPath, body: BallotCast, user: CurrentUser, session: SessionDep) -> BallotResult:
    return BallotResult(**await voting.change(session, user, poll_id, [a.model_dump() for a in body.answers]))


@router.get(
    "/polls/{poll_id}/ballot",
    response_model=MyBallot,
    summary="我的投票",
    description="我能不能投、是否已投（谁投的、以什么方式）；只有我自己投的记名选票显示所选内容。",
)
async def my_ballot(poll_id: IdPath, user: CurrentUser, session: SessionDep) -> MyBallot:
    return MyBallot(**await voting.my_ballot(session, user, poll_id))


@router.post(
    "/polls/{poll_id}/entries",
    response_model=EntryResult,
    status_code=201,
    summary="登记纸质选票或委托投票（社工）",
    description=(
        "为名册上的选民登记；照片（选票或委托书）先上传（POST /media），只有社工能看。同一选民只能参与一次（409 "
        "poll_already_voted）。无记名投票的回执号只在这个回答里出现一次。" + WRONG_PHASE
    ),
)
async def enter(
    poll_id: IdPath, body: PollEntryCreate, user: CurrentUser, session: SessionDep, idem: BlindIdempotencyDep
) -> JSONResponse:
    result = await voting.enter(
        session,
        user,
        poll_id,
        body.elector_id,
        body.channel,
        [a.model_dump() for a in body.answers],
        body.photo_media_id,
        body.proxy_name,
    )
    return await idem.respond(EntryResult(**result), replay=_without_receipt(result))


@router.put(
    "/polls/{poll_id}/entries/{participation_id}",
    response_model=EntryResult,
    summary="更正纸质选票或委托投票（社工，记名投票，截止前）",
    description=(
        "无记名投票不能改（409 poll_ballot_secret）；居民在小程序里投的只有本人能改（403 poll_ballot_not_yours）。"
        + WRONG_PHASE
    ),
)
async def change_entry(
    poll_id: IdPath, participation_id: IdPath, body: BallotCast, user: CurrentUser, session: SessionDep
) -> EntryResult:
    answers = [a.model_dump() for a in body.answers]
    return EntryResult(**await voting.change_entry(session, user, poll_id, participation_id, answers))


@router.get(
    "/polls/{poll_id}/receipts/{receipt}",
    response_model=ReceiptRead,
    summary="凭回执核对选票（无记名投票）",
    description="能看到这次投票的人都可以核对；只显示这张选票的内容，不显示是谁、何时投的。",
)
async def check_receipt(poll_id: IdPath, receipt: Receipt, user: CurrentUser, session: SessionDep) -> ReceiptRead:
    return ReceiptRead(**await voting.check_receipt(session, user, poll_id, receipt))


@router.get(
    "/polls/{poll_id}/turnout",
    response_model=PollTurnoutRead,
    summary="参与情况",
    description=(
        "社工随时可看（投票期间实时）；居民在截止后可看（此前 409 poll_turnout_hidden）。只有人数和面积，没有选择。"
    ),
)
async def turnout(poll_id: IdPath, user: CurrentUser, session: SessionDep) -> PollTurnoutRead:
    return PollTurnoutRead(**await voting.turnout(session, user, poll_id))


@router.get(
    "/polls/{poll_id}/participations",
    response_model=ParticipationPage,
    summary="参与记录（社工）",
    description="谁、以什么方式、什么时候参与的（按先后）；从不包含所选内容。",
)
async def participations(
    poll_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep, channel: Channel | None = None
) -> ParticipationPage:
    return ParticipationPage(**await voting.participations(session, user, poll_id, page, channel))
