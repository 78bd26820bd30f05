from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api import localtime
from api.deps import (
    ActivityTimes,
    CommunityTimes,
    CurrentUser,
    DatabaseDep,
    IdempotencyDep,
    IdempotencyKeyDep,
    IdPath,
    PageDep,
    SessionDep,
    TokenClaimsDep,
)
from api.pagination import MAX_ID
from api.schemas.activities import (
    ActivityCancel,
    ActivityCreate,
    ActivityDetail,
    ActivityPage,
    ActivityUpdate,
    Attendance,
    AttendanceView,
    BlockRead,
    BookingCreate,
    BookingRead,
    Category,
    CheckinCode,
    CheckinResult,
    OnsiteCode,
    PolicyRead,
    PolicyUpdate,
    ScanCheckin,
    SelfCheckin,
    SeriesCreate,
    SeriesDetail,
    SeriesRead,
    VolunteerAttendance,
    WalkIn,
)
from api.schemas.common import Page
from api.services import idempotency
from api.services.activities import booking_batch, bookings, browse, burst, checkin, manage, noshows
from api.services.idempotency import IdempotentReplay

router = APIRouter(tags=["activities"])


def _fields(body: ActivityCreate | ActivityUpdate, *, unset: bool) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=unset)
    if fields.get("cover_url") is not None:
        fields["cover_url"] = str(fields["cover_url"])
    return fields


# -- activities (staff write, members read) --------------------------------------------------------


@router.post(
    "/communities/{community_id}/activities",
    response_model=ActivityDetail,
    status_code=201,
    summary="新建活动（社工，草稿）",
    dependencies=[CommunityTimes],
)
async def create_activity(
    community_id: IdPath, body: ActivityCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    activity = await manage.create_activity(session, user, community_id, _fields(body, unset=False))
    return await idem.respond(ActivityDetail(**await browse.activity_detail(session, user, activity.id)))


@router.get(
    "/communities/{community_id}/activities",
    response_model=ActivityPage,
    summary="活动列表（即将开始的在前）",
    description=(
        "居民看到已发布的活动，每项带 my_booking_status（我家是否已预约）；社工还能按状态看草稿、已取消的"
        "（status 只对社工开放）。还没加入本社区的人也能先看看已发布的活动（只有公开的信息），"
        "并从 join 得知怎样加入。日期按社区当地日期。"
    ),
)
async def list_activities(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    when: Literal["upcoming", "past"] = "upcoming",
    status: Annotated[Literal["draft", "published", "cancelled"] | None, Query(description="社工")] = None,
    category: Category | None = None,
    series_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    date_from: Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    date_to: Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    has_seats: Annotated[bool, Query(description="只看还有名额的")] = False,
    for_my_children: Annotated[
        bool,
        Query(
            description=(
                "只看适合我家孩子的：有年龄范围的，按出生年份至少有一个孩子在范围内；没有年龄范围的，"
                "只有儿童、亲子类。家里没有登记孩子时为空"
            )
        ),
    ] = False,
) -> ActivityPage:
    listing = await browse.list_activities(
        session,
        user,
        community_id,
        when=when,
        status=status,
        category=category,
        series_id=series_id,
        date_from=date_from,
        date_to=date_to,
        has_seats=has_seats,
        for_my_children=for_my_children,
        cursor=page.cursor,
        limit=page.limit,
    )
    return ActivityPage(**listing)


@router.get(
    "/activities/{activity_id}",
    response_model=ActivityDetail,
    summary="活动详情（含余位、候补数、我的预约）",
    description=(
        "本社区居民看到余位、候补数和本户的预约。还没加入的访客也能看已发布（含发布后取消）的活动，"
        "只有公开的信息，并从 join 得知怎样加入；预约要先加入社区（403 not_a_member）。草稿只有社工能看。"
    ),
)
async def get_activity(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> ActivityDetail:
    return ActivityDetail(**await browse.activity_detail(session, user, activity_id))


@router.patch(
    "/activities/{activity_id}", response_model=ActivityDetail, summary="修改活动（社工）", dependencies=[ActivityTimes]
)
async def update_activity(
    activity_id: IdPath, body: ActivityUpdate, user: CurrentUser, session: SessionDep
) -> ActivityDetail:
    await manage.update_activity(session, user, activity_id, _fields(body, unset=True))
    return ActivityDetail(**await browse.activity_detail(session, user, activity_id))


@router.post("/activities/{activity_id}/publish", response_model=ActivityDetail, summary="发布活动（社工）")
async def publish_activity(
    activity_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await manage.publish(session, user, activity_id)
    return await idem.respond(ActivityDetail(**await browse.activity_detail(session, user, activity_id)), 200)


@router.post(
    "/activities/{activity_id}/cancel",
    response_model=ActivityDetail,
    summary="取消活动（社工）",
    description="所有预约随之取消，已预约和候补的居民都会收到通知。",
)
async def cancel_activity(
    activity_id: IdPath, body: ActivityCancel, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    await manage.cancel_activity(session, user, activity_id, body.reason.strip())
    return await idem.respond(ActivityDetail(**await browse.activity_detail(session, user, activity_id)), 200)


# -- bookings ------------------------------------------------------------------------------------


# the route of a booking burst, mounted before every other (api.main): matching a request to it is
# then one comparison instead of a walk past the other routers' routes
hot = APIRouter(tags=["activities"])


@hot.post(
    "/activities/{activity_id}/bookings",
    response_model=BookingRead,
    status_code=201,
    summary="预约活动",
    description=(
        "为本户成员预约（默认只为自己）。有名额即确认（confirmed），否则按先后进入候补（waitlisted，"
        "附候补位次）。请带 Idempotency-Key：网络不好重试时不会重复预约。"
        "社工代办：on_behalf_of 为本社区某一户，attendee_ids 为该户成员，规则相同，预约标明由社工代办。"
    ),
)
async def book(
    activity_id: IdPath,
    body: BookingCreate,
    request: Request,
    claims: TokenClaimsDep,
    key: IdempotencyKeyDep,
    db: DatabaseDep,
) -> JSONResponse:
    # no session here: the request joins its activity's next booking batch, which checks the
    # caller, replays or keeps the Idempotency-Key and writes the booking in one transaction
    ask = booking_batch.Ask(claims.user_id, body.attendee_ids, body.on_behalf_of)
    if key is not None:
        ask.key, ask.path = key, request.url.path
        ask.print_ = idempotency.fingerprint(request.method, request.url.path, await request.body())
    outcome = await burst.bookings_of(request.app, db).book(activity_id, ask)
    if outcome.zone is not None:
        localtime.use_community_zone(outcome.zone)
    if outcome.error is not None:
        raise outcome.error
    if outcome.replayed:
        raise IdempotentReplay(outcome.status_code, outcome.body or {})
    return JSONResponse(outcome.body, status_code=201)


@router.get("/me/bookings", response_model=Page[BookingRead], summary="我家的预约")
async def my_bookings(
    user: CurrentUser, session: SessionDep, page: PageDep, when: Literal["upcoming", "past"] = "upcoming"
) -> Page[BookingRead]:
    items, next_cursor = await bookings.my_bookings(session, user, when=when, cursor=page.cursor, limit=page.limit)
    return Page[BookingRead](items=[BookingRead(**i) for i in items], next_cursor=next_cursor)


@router.get("/bookings/{booking_id}", response_model=BookingRead, summary="预约详情")
async def get_booking(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> BookingRead:
    return BookingRead(**await bookings.get_booking(session, user, booking_id))


@router.post(
    "/bookings/{booking_id}/cancel",
    response_model=BookingRead,
    summary="取消预约",
    description="居民在取消截止时间前可取消，社工随时可取消；空出的名额按顺序给候补的邻居。",
)
async def cancel_booking(
    booking_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(BookingRead(**await bookings.cancel(session, user, booking_id)), 200)


# -- check-in ------------------------------------------------------------------------------------


@router.get("/bookings/{booking_id}/checkin-code", response_model=CheckinCode, summary="我的签到码（给社工扫）")
async def booking_code(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> CheckinCode:
    return CheckinCode(**await checkin.booking_code(session, user, booking_id))


CHECKIN_ANSWER = (
    "签到的三种方式（扫预约码、居民扫现场码、现场登记）回答同一个结构：活动、涉及的预约和其中每个人的签到时间、"
    "这次签到了谁（每人的 checked_in_now）和几位（newly_checked_in），以及是否之前都已签到"
    "（already_checked_in：重复扫码什么也不改变）。"
)


@router.post(
    "/activities/{activity_id}/checkins",
    response_model=CheckinResult,
    summary="签到（社工、值班志愿者）：扫居民的预约码，或在名单上勾选",
    description=(
        "社工：扫预约码（token），或为没带手机的人在名单上签到（booking_id）；attendee_ids 只为其中几位签到。"
        "本活动正在值班（已在岗位签到、未签退）的志愿者只能扫预约码，看到的儿童称呼只留第一个字。"
        "只在活动的签到时段内。" + CHECKIN_ANSWER
    ),
)
async def scan(
    activity_id: IdPath, body: ScanCheckin, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await checkin.scan(
        session, user, activity_id, token=body.token, booking_id=body.booking_id, member_ids=body.attendee_ids
    )
    return await idem.respond(CheckinResult(**result), 200)


@router.get("/activities/{activity_id}/onsite-code", response_model=OnsiteCode, summary="现场签到码（社工的屏幕）")
async def onsite_code(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> OnsiteCode:
    return OnsiteCode(**await checkin.current_onsite_code(session, user, activity_id))


@router.post(
    "/activities/{activity_id}/checkins/self",
    response_model=CheckinResult,
    summary="扫现场签到码签到（居民）",
    description="本户在本活动已确认的预约都签到（或只为 attendee_ids 中的几位）。" + CHECKIN_ANSWER,
)
async def self_checkin(
    activity_id: IdPath, body: SelfCheckin, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await checkin.self_checkin(session, user, activity_id, body.code, body.attendee_ids)
    return await idem.respond(CheckinResult(**result), 200)


@router.post(
    "/activities/{activity_id}/walkins",
    response_model=CheckinResult,
    status_code=201,
    summary="登记现场来的人（社工、值班志愿者）",
    description=(
        "有空位时登记没预约就来的人，并立即签到。社工可登记本社区同一户的成员（member_ids）和来访者（guests）；"
        "本活动正在值班的志愿者只能按称呼登记来访者（填 member_ids 为 403 walkin_members_staff_only）。"
        + CHECKIN_ANSWER
    ),
)
async def walk_in(
    activity_id: IdPath, body: WalkIn, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    result = await checkin.walk_in(session, user, activity_id, body.member_ids, [g.strip() for g in body.guests])
    return await idem.respond(CheckinResult(**result))


@router.get(
    "/activities/{activity_id}/attendance",
    response_model=AttendanceView,
    summary="签到名单（社工、值班志愿者）",
    description=(
        "社工看到完整名单（view=staff）：每个已确认的预约及其住户门牌、预约人、每个人的签到方式、爽约，以及候补名单。"
        "本活动正在值班（已在岗位签到、未签退）的志愿者看到其中门口签到需要的部分（view=volunteer）："
        "人数、每个预约的座位数和其中每个人的称呼（儿童只留第一个字）、类别和签到时间；"
        "没有门牌、预约人、成员 id、爽约和候补者的名字。其他人 403。"
    ),
)
async def attendance(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> Attendance | VolunteerAttendance:
    roster = await checkin.attendance(session, user, activity_id)
    return Attendance(**roster) if roster["view"] == "staff" else VolunteerAttendance(**roster)


# -- series --------------------------------------------------------------------------------------


@router.post(
    "/communities/{community_id}/series", response_model=SeriesRead, status_code=201, summary="新建系列（社工）"
)
async def create_series(
    community_id: IdPath, body: SeriesCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    series = await manage.create_series(session, user, community_id, body.model_dump())
    return await idem.respond(SeriesRead.model_validate(series))


@router.get(
    "/communities/{community_id}/series",
    response_model=list[SeriesRead],
    summary="社区的系列活动",
    description="登录即可看（还没加入的访客也能先看看）。",
)
async def list_series(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[SeriesRead]:
    return [SeriesRead.model_validate(s) for s in await browse.list_series(session, user, community_id)]


@router.get(
    "/series/{series_id}",
    response_model=SeriesDetail,
    summary="系列详情与接下来的几期",
    description="登录即可看（还没加入的访客也能先看看）；关注要先加入社区。",
)
async def get_series(series_id: IdPath, user: CurrentUser, session: SessionDep) -> SeriesDetail:
    series = await manage.get_series(session, user, series_id)
    return SeriesDetail(**await browse.series_detail(session, user, series))


@router.post(
    "/series/{series_id}/follow",
    response_model=SeriesDetail,
    summary="关注系列：新一期发布时通知我",
    description="本社区居民才能关注；还没加入的访客为 403 not_a_member。",
)
async def follow_series(
    series_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    series = await manage.follow(session, user, series_id, True)
    return await idem.respond(SeriesDetail(**await browse.series_detail(session, user, series)), 200)


@router.delete("/series/{series_id}/follow", status_code=204, summary="取消关注")
async def unfollow_series(series_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await manage.follow(session, user, series_id, False)
    return Response(status_code=204)


# -- policy and no-show blocks -------------------------------------------------------------------


@router.get("/communities/{community_id}/activity-policy", response_model=PolicyRead, summary="爽约与提醒规则")
async def get_policy(community_id: IdPath, user: CurrentUser, session: SessionDep) -> PolicyRead:
    return PolicyRead(**await manage.get_policy(session, user, community_id))


@router.put("/communities/{community_id}/activity-policy", response_model=PolicyRead, summary="修改规则（社工）")
async def set_policy(community_id: IdPath, body: PolicyUpdate, user: CurrentUser, session: SessionDep) -> PolicyRead:
    result = await manage.set_policy(session, user, community_id, body.model_dump(exclude_none=True))
    return PolicyRead(**result)


@router.get(
    "/communities/{community_id}/booking-blocks", response_model=list[BlockRead], summary="暂停预约名单（社工）"
)
async def list_blocks(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[BlockRead]:
    return [BlockRead(**b) for b in await noshows.list_blocks(session, user, community_id)]


@router.post("/booking-blocks/{block_id}/lift", response_model=BlockRead, summary="解除暂停（社工）")
async def lift_block(block_id: IdPath, user: CurrentUser, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    return await idem.respond(BlockRead(**await noshows.lift_block(session, user, block_id)), 200)
