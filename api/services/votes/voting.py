"""Voting: ballots cast in the app, paper and proxy ballots entered by staff, receipts, turnout and
the list of who took part.

One participation per elector whatever the channel: the unique (poll, elector) decides — the
participation is inserted with ON CONFLICT DO NOTHING, and whoever finds it taken is told who took
part and how (409 poll_already_voted). For a household any active adult member with an account
may vote in the app; for a flat, any such member of a household marked as the owner (`is_owner`,
as it is when they vote) — a flat whose household is not the owner's (tenants) is on the roll all
the same, and its owner votes on paper or by proxy at the community (403 poll_not_owner in the
app). The first participation wins.

Each vote takes the poll's row FOR SHARE and checks the phase under it; the close takes it FOR
UPDATE before tallying (`results.close_due`): so the tally waits for the votes under way, and a
vote after it finds the poll closed. A vote that finds a scheduled poll whose start has come opens
it first (`polls.open_due`, FOR UPDATE, before the share lock is taken).

Open ballots name their participation: the member who cast one in the app may change it until the
close (`change`); staff may change an open paper or proxy ballot (`change_entry`). Secret ballots
carry no participation, no time, a random id and a receipt, returned once to the voter (or to staff
for a paper ballot), and never change (409 poll_ballot_secret). Written with their participation
in one transaction, they share its `xmin` on PostgreSQL until the close writes them all again
(`results._rewrite_secret_ballots`). Nothing here returns a ballot's id,
and nothing puts a participation next to a secret ballot: `my_ballot` shows choices only of the
caller's own open ballot, `check_receipt` shows a receipt's choices and nothing of who.

Answers come as `[{"question": i, "options": [j…], "text": ""}]` and are stored as
`{"i": {"options": [j…], "text": ""}}` for every question (a question left out is an empty choice,
allowed only where its minimum is 0).

Keep `cast` lean: it is a handful of round trips (the caller, the poll with the caller's member and
elector in one query, the share lock, the participation, the ballot) — the busiest call of a poll.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, func, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock, localtime
from api.db.models import (
    CommunityMembership,
    ConcernMedia,
    Household,
    Media,
    Member,
    Poll,
    PollBallot,
    PollElector,
    PollParticipation,
    PostMedia,
    User,
)
from api.db.upsert import insert_ignore_many
from api.errors import Conflict, Forbidden, NotFound, invalid_field
from api.pagination import encode_cursor
from api.services.access import get_community
from api.services.feed.media import photo_view
from api.services.votes import common, polls, roll

ANSWER_TEXT_MAX = 500
RECEIPT_MISSING = ("poll_receipt_not_found", "找不到这张回执对应的选票，请核对回执号")
PARTICIPATION_MISSING = ("poll_participation_not_found", "找不到这条投票记录")
SECRET_PAPER_PHOTO = (
    "无记名投票的纸质选票不能附照片：照片上的选择会和投票人对应起来。"
    "请把纸质选票投入票箱保存；委托投票仍可附委托书的照片"
)
NOT_OWNER = (
    "这次投票按房屋计票，由业主为每套房投票。你家登记的不是业主（如租住），不能在小程序里投票："
    "房屋的业主可以到社区用纸质选票投票，或委托他人代为投票（由社工登记）"
)


# -- answers --------------------------------------------------------------------------------------------


def checked_answers(poll: Poll, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The ballot's answers as stored, or a 422 naming the answer that does not fit its question."""
    questions = poll.questions
    given: dict[int, tuple[int | None, dict[str, Any]]] = {}
    for n, answer in enumerate(answers):
        q = answer["question"]
        if not 0 <= q < len(questions):
            raise invalid_field(
                f"answers[{n}].question", f"没有这道题（共 {len(questions)} 道，从 0 数起）", kind="no_such_question"
            )
        if q in given:
            raise invalid_field(f"answers[{n}].question", f"第 {q + 1} 题答了两次", kind="question_repeated")
        given[q] = (n, answer)
    stored: dict[str, Any] = {}
    for q, question in enumerate(questions):
        at, answer = given.get(q, (None, {"options": [], "text": ""}))
        # the answer's own field, or `answers` for a question left out
        where = f"answers[{at}]" if at is not None else "answers"
        options_field = f"{where}.options" if at is not None else "answers"
        options = [int(o) for o in answer.get("options") or []]
        text = str(answer.get("text") or "").strip()
        count = len(question["options"])
        if any(not 0 <= o < count for o in options):
            raise invalid_field(
                f"{where}.options", f"第 {q + 1} 题只有 {count} 个选项（从 0 数起）", kind="no_such_option"
            )
        if len(set(options)) != len(options):
            raise invalid_field(f"{where}.options", f"第 {q + 1} 题的选项重复了", kind="option_repeated")
        low, high = question["min_choices"], question["max_choices"]
        if len(options) < low:
            message = f"第 {q + 1} 题还没有选择" if not options else f"第 {q + 1} 题至少选 {low} 项"
            raise invalid_field(options_field, message, kind="too_few_choices")
        if len(options) > high:
            raise invalid_field(f"{where}.options", f"第 {q + 1} 题最多选 {high} 项", kind="too_many_choices")
        if text and not question["allow_text"]:
            raise invalid_field(f"{where}.text", f"第 {q + 1} 题不能填写文字", kind="text_not_allowed")
        stored[str(q)] = {"options": sorted(options), "text": text}
    return stored


def answers_out(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored answers in the request's shape (to fill the form again)."""
    return [
        {"question": int(q), "options": list(a.get("options", [])), "text": a.get("text", "")}
        for q, a in sorted(stored.items(), key=lambda item: int(item[0]))
    ]


def answers_read(poll: Poll, stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored answers with the questions' and options' words (a receipt's check)."""
    out = []
    for q, question in enumerate(poll.questions):
        answer = stored.get(str(q), {"options": [], "text": ""})
        out.append(
            {
                "question": q,
                "question_text": question["text"],
                "options": [{"index": o, "label": question["options"][o]["label"]} for o in answer.get("options", [])],
                "text": answer.get("text", ""),
            }
        )
    return out


# -- the phase, under the lock -------------------------------------------------------------------------


async def _require_voting(session: AsyncSession, poll: Poll) -> None:
    """Refuse (409) unless the poll is taking votes now."""
    phase = common.phase(poll)
    if phase == "voting" and poll.status == "open":
        return
    await get_community(session, poll.community_id)  # the times in the message and details are local
    tz = localtime.response_zone()
    if poll.status == "cancelled":
        raise Conflict("poll_cancelled", "这次投票已经取消了", details={"phase": phase})
    if phase == "closed":
        raise Conflict(
            "poll_closed",
            f"投票已于 {localtime.text(poll.closes_at, tz)} 结束",
            details={"phase": phase, "closes_at": poll.closes_at},
        )
    if phase == "draft":
        raise Conflict("poll_not_open", "投票还没有发布", details={"phase": phase})
    raise Conflict(
        "poll_not_open",
        f"投票 {localtime.text(poll.opens_at, tz)} 才开始",
        details={"phase": phase, "opens_at": poll.opens_at},
    )


async def _opened_and_locked(session: AsyncSession, poll: Poll) -> Poll:
    """The poll FOR SHARE (read again), opened first if its start has come and no job has opened
    it yet."""
    if poll.status == "scheduled" and clock.now() >= poll.opens_at:
        await polls.open_due(session, poll.id)
    return await common.lock_poll(session, poll.id, share=True)


# -- the voter -------------------------------------------------------------------------------------------


def _elector_ref() -> Any:
    return case((Poll.electorate == "resident", Member.id), else_=Member.household_id)


async def _voter(session: AsyncSession, user: User, poll_id: int) -> tuple[Poll, Member, PollElector | None]:
    """The poll, the caller's member record in its community and their elector on its roll, in one
    query (the hot path). Anyone who may not see the poll is refused as `readable_poll` refuses;
    someone who sees it but has no active member record there is not an elector (403); in a poll by
    flat, a member of a household that is not the flat's owner is refused (403 poll_not_owner)."""
    found = (
        await session.execute(
            select(Poll, Member, PollElector, Household.is_owner)
            .select_from(Poll)
            .outerjoin(Member, and_(Member.community_id == Poll.community_id, Member.user_id == user.id))
            .outerjoin(Household, Household.id == Member.household_id)
            .outerjoin(PollElector, and_(PollElector.poll_id == Poll.id, PollElector.elector_ref == _elector_ref()))
            .where(Poll.id == poll_id)
        )
    ).first()
    if found is None:
        raise NotFound(*common.POLL_MISSING)
    poll, member, elector, owner = found
    if member is None or member.status != "active" or poll.published_at is None:
        await common.readable_poll(session, user, poll_id)  # 404 or 403 for those who may not see it
        if poll.published_at is None:
            await _require_voting(session, poll)
        raise Forbidden("poll_not_elector", "你不是本社区已确认的居民，不能在小程序里投票")
    if poll.electorate == "flat" and not owner and member.kind in roll.ADULT_KINDS:
        raise Forbidden("poll_not_owner", NOT_OWNER)
    return poll, member, elector


async def _elector_of(session: AsyncSession, poll: Poll, member: Member) -> PollElector | None:
    ref = member.id if poll.electorate == "resident" else member.household_id
    return (
        await session.execute(select(PollElector).where(PollElector.poll_id == poll.id, PollElector.elector_ref == ref))
    ).scalar_one_or_none()


def _require_elector(poll: Poll, member: Member, elector: PollElector | None) -> PollElector:
    if member.kind not in roll.ADULT_KINDS:
        raise Forbidden("poll_not_elector", "只有成年居民可以投票")
    if elector is None or elector.struck_at is not None:
        what = {"resident": "你", "household": "你家", "flat": "你家的房屋"}[poll.electorate]
        raise Forbidden(
            "poll_not_elector",
            f"{what}不在这次投票的名册上（名册在投票开始时生成；有异议请联系社工）",
        )
    return elector


async def _taken_by(session: AsyncSession, poll: Poll, elector: PollElector) -> Conflict:
    """The 409 for an elector who has taken part already: by whom or how."""
    found = (
        await session.execute(
            select(PollParticipation.channel, Member.display_name)
            .outerjoin(Member, Member.id == PollParticipation.voter_member_id)
            .where(PollParticipation.poll_id == poll.id, PollParticipation.elector_id == elector.id)
        )
    ).first()
    channel, name = found if found is not None else ("app", None)
    by = name if channel == "app" and name else common.CHANNEL_LABELS[channel]
    how = f"{name}已在小程序里投票" if channel == "app" and name else f"已有{common.CHANNEL_LABELS[channel]}"
    whose = {"resident": "你", "household": "你家", "flat": "这套房"}[poll.electorate]
    return Conflict(
        "poll_already_voted",
        f"{whose}已经投过票了（{how}），每{common.ELECTOR_UNIT[poll.electorate]}只能投一次",
        details={"channel": channel, "channel_label": common.CHANNEL_LABELS[channel], "voted_by": by},
    )


async def _participate(
    session: AsyncSession,
    poll: Poll,
    elector: PollElector,
    answers: dict[str, Any],
    *,
    channel: str,
    member_id: int | None = None,
    entered_by: int | None = None,
    proxy_name: str = "",
    photo_media_id: int | None = None,
) -> tuple[int, str | None]:
    """The participation (unless the elector has one: 409) and its ballot: (participation id,
    the receipt of a secret ballot)."""
    now = clock.now()
    inserted = await insert_ignore_many(
        session,
        PollParticipation,
        [
            {
                "poll_id": poll.id,
                "elector_id": elector.id,
                "channel": channel,
                "voter_member_id": member_id,
                "entered_by": entered_by,
                "proxy_name": proxy_name,
                "photo_media_id": photo_media_id,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ["poll_id", "elector_id"],
        returning=(PollParticipation.id,),
    )
    if not inserted:
        raise await _taken_by(session, poll, elector)
    participation_id = int(inserted[0][0])
    receipt = common.new_receipt() if poll.secret else None
    await session.execute(
        insert(PollBallot).values(
            id=common.random_id(),
            poll_id=poll.id,
            participation_id=None if poll.secret else participation_id,
            receipt=receipt,
            weight=elector.weight,
            answers=answers,
            changed_at=None,
        )
    )
    return participation_id, receipt


# -- in the app ------------------------------------------------------------------------------------------


async def cast(session: AsyncSession, user: User, poll_id: int, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """`POST /polls/{id}/ballot`: the caller votes for their elector (themselves, their household or
    their flat). 409 poll_not_open / poll_closed / poll_cancelled outside voting, 403
    poll_not_elector when not on the roll, 409 poll_already_voted (saying who or how) when the
    elector took part already, 422 for answers that do not fit. A secret ballot's receipt is in
    this answer only."""
    poll, member, elector = await _voter(session, user, poll_id)
    opening = poll.status == "scheduled"
    poll = await _opened_and_locked(session, poll)
    await _require_voting(session, poll)
    if opening:  # the roll was taken just now
        elector = await _elector_of(session, poll, member)
    elector = _require_elector(poll, member, elector)
    stored = checked_answers(poll, answers)
    _, receipt = await _participate(session, poll, elector, stored, channel="app", member_id=member.id)
    return {
        "poll_id": poll.id,
        "voted": True,
        "channel": "app",
        "channel_label": common.CHANNEL_LABELS["app"],
        "receipt": receipt,
        "can_change": not poll.secret,
    }


async def _ballot_of(
    session: AsyncSession, poll: Poll, elector_id: int | None = None, participation_id: int | None = None
) -> tuple[PollParticipation, PollBallot | None] | None:
    """A participation and, for an open poll, its ballot."""
    query = (
        select(PollParticipation, PollBallot)
        .outerjoin(PollBallot, PollBallot.participation_id == PollParticipation.id)
        .where(PollParticipation.poll_id == poll.id)
    )
    if elector_id is not None:
        query = query.where(PollParticipation.elector_id == elector_id)
    else:
        query = query.where(PollParticipation.id == participation_id)
    found = (await session.execute(query)).first()
    return None if found is None else (found[0], found[1])


async def change(session: AsyncSession, user: User, poll_id: int, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """`PUT /polls/{id}/ballot`: the member who cast an open ballot in the app changes it, until the
    close. 409 poll_ballot_secret for a secret poll, 409 poll_not_voted before voting, 403
    poll_ballot_not_yours for a ballot another member cast or staff entered, 409 poll_closed after
    the close."""
    poll, member, elector = await _voter(session, user, poll_id)
    poll = await common.lock_poll(session, poll.id, share=True)
    await _require_voting(session, poll)
    elector = _require_elector(poll, member, elector)
    if poll.secret:
        raise Conflict("poll_ballot_secret", "无记名投票的选票投出后不能修改")
    found = await _ballot_of(session, poll, elector_id=elector.id)
    if found is None or found[1] is None:
        raise Conflict("poll_not_voted", "还没有投票，请先投票")
    participation, ballot = found[0], found[1]
    if participation.channel != "app" or participation.voter_member_id != member.id:
        how = "由社工登记" if participation.channel != "app" else "由家里另一位成员投出"
        raise Forbidden("poll_ballot_not_yours", f"这张选票{how}，只有投票人本人可以修改")
    ballot.answers = checked_answers(poll, answers)
    ballot.changed_at = clock.now()
    await session.flush()
    return {
        "poll_id": poll.id,
        "voted": True,
        "channel": "app",
        "channel_label": common.CHANNEL_LABELS["app"],
        "receipt": None,
        "can_change": True,
    }


async def my_ballot(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`GET /polls/{id}/ballot`: whether the caller may vote (on the roll; before the roll is taken,
    by who they are now), whether their elector has voted, how and by whom, the choices of their
    own open ballot only, and whether they may change it now."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    member = (
        await session.execute(
            select(Member).where(
                Member.community_id == poll.community_id, Member.user_id == user.id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()
    view: dict[str, Any] = {
        "poll_id": poll.id,
        "eligible": False,
        "elector_label": None,
        "voted": False,
        "channel": None,
        "channel_label": None,
        "voted_by": None,
        "voted_at": None,
        "answers": None,
        "changed_at": None,
        "can_change": False,
        "why_not": None,
    }
    if member is None or member.kind not in roll.ADULT_KINDS:
        return view
    if poll.electorate == "flat":
        household = await session.get(Household, member.household_id)
        if household is None or not household.is_owner:
            view["why_not"] = NOT_OWNER
            return view
    elector = await _elector_of(session, poll, member) if poll.roll_taken_at is not None else None
    if poll.roll_taken_at is None:
        view["eligible"] = await _would_be_elector(session, poll, member)
        return view
    if elector is None or elector.struck_at is not None:
        return view
    view["eligible"] = True
    view["elector_label"] = roll.masked_label(poll.electorate, elector.label) if not staff else elector.label
    found = await _ballot_of(session, poll, elector_id=elector.id)
    if found is None:
        return view
    participation, ballot = found
    own = participation.channel == "app" and participation.voter_member_id == member.id
    voter = await session.get(Member, participation.voter_member_id) if participation.voter_member_id else None
    view.update(
        voted=True,
        channel=participation.channel,
        channel_label=common.CHANNEL_LABELS[participation.channel],
        voted_by=voter.display_name if voter is not None else common.CHANNEL_LABELS[participation.channel],
        voted_at=participation.created_at,
    )
    if own and ballot is not None:  # an open ballot of the caller's own
        view.update(
            answers=answers_out(ballot.answers),
            changed_at=ballot.changed_at,
            can_change=common.phase(poll) == "voting",
        )
    return view


async def _would_be_elector(session: AsyncSession, poll: Poll, member: Member) -> bool:
    """Before the roll is taken: whether the member (an active adult) would be on it now."""
    if poll.electorate != "flat":
        return True
    household = await session.get(Household, member.household_id)
    return household is not None and household.is_owner and household.floor_area_centi is not None


# -- staff: paper and proxy ballots -------------------------------------------------------------------------


async def _photo(session: AsyncSession, user: User, poll: Poll, media_id: int) -> int:
    """A photo of the paper ballot or the proxy's authorisation: uploaded in this community by its
    staff (so no one else can open it), usable, and used for nothing else (a post, a concern,
    another ballot)."""
    media = await session.get(Media, media_id)
    field = "photo_media_id"
    if media is None or media.community_id != poll.community_id:
        raise invalid_field(field, "找不到这张照片，请先上传（本社区）", kind="media_not_found")
    if media.uploaded_by != user.id:
        staff_upload = await session.execute(
            select(CommunityMembership.id).where(
                CommunityMembership.community_id == poll.community_id,
                CommunityMembership.user_id == media.uploaded_by,
                CommunityMembership.role.in_(("staff", "admin")),
            )
        )
        if staff_upload.first() is None:
            raise invalid_field(field, "选票照片应由社区工作人员上传", kind="media_not_staff")
    if media.status in ("failed", "rejected"):
        raise invalid_field(field, "这张照片无法使用，请重新上传", kind="media_unusable")
    used: Any = await session.execute(
        union_all(
            select(PostMedia.media_id).where(PostMedia.media_id == media_id),
            select(ConcernMedia.media_id).where(ConcernMedia.media_id == media_id),
            select(PollParticipation.photo_media_id).where(PollParticipation.photo_media_id == media_id),
        ).limit(1)
    )
    if used.first() is not None:
        raise Conflict("media_in_use", "这张照片已经用过了", details={"media_id": media_id})
    return media.id


async def enter(
    session: AsyncSession,
    user: User,
    poll_id: int,
    elector_id: int,
    channel: str,
    answers: list[dict[str, Any]],
    photo_media_id: int | None = None,
    proxy_name: str | None = None,
) -> dict[str, Any]:
    """`POST /polls/{id}/entries` (staff): a paper ballot (`paper`) or a proxy's vote (`proxy`, with
    the name of who voted and, like paper, an optional photo) for an elector on the roll, while
    voting is open. The same one participation per elector as the app (409 poll_already_voted).
    A secret ballot's receipt comes back once, for the voter. In a secret poll a paper ballot
    carries no photo (422 photo_media_id): the photo would show the choices next to who voted —
    the participation row it hangs on; a proxy's authorisation photo is kept (it shows who
    authorised whom, not a choice)."""
    poll = await common.staff_poll(session, user, poll_id)
    poll = await _opened_and_locked(session, poll)
    await _require_voting(session, poll)
    elector = await session.get(PollElector, elector_id)
    if elector is None or elector.poll_id != poll.id:
        raise invalid_field("elector_id", "名册上没有这位选民", kind="elector_not_found")
    if elector.struck_at is not None:
        raise invalid_field("elector_id", "这位选民已从名册上划去", kind="elector_struck")
    name = (proxy_name or "").strip()
    if channel == "proxy" and not name:
        raise invalid_field("proxy_name", "委托投票须填写代为投票的人（受托人）的姓名", kind="proxy_name_required")
    if channel != "proxy" and name:
        raise invalid_field("proxy_name", "只有委托投票才填写受托人", kind="proxy_name_not_allowed")
    if poll.secret and channel == "paper" and photo_media_id is not None:
        raise invalid_field("photo_media_id", SECRET_PAPER_PHOTO, kind="secret_ballot_photo")
    stored = checked_answers(poll, answers)
    photo = await _photo(session, user, poll, photo_media_id) if photo_media_id is not None else None
    participation_id, receipt = await _participate(
        session, poll, elector, stored, channel=channel, entered_by=user.id, proxy_name=name, photo_media_id=photo
    )
    return {
        "poll_id": poll.id,
        "participation_id": participation_id,
        "elector_id": elector.id,
        "channel": channel,
        "channel_label": common.CHANNEL_LABELS[channel],
        "receipt": receipt,
    }


async def change_entry(
    session: AsyncSession, user: User, poll_id: int, participation_id: int, answers: list[dict[str, Any]]
) -> dict[str, Any]:
    """`PUT /polls/{id}/entries/{pid}` (staff): correct an open paper or proxy ballot, until the
    close. A secret ballot never changes (409 poll_ballot_secret); one cast in the app only by its
    voter (403 poll_ballot_not_yours)."""
    poll = await common.staff_poll(session, user, poll_id)
    poll = await common.lock_poll(session, poll.id, share=True)
    await _require_voting(session, poll)
    found = await _ballot_of(session, poll, participation_id=participation_id)
    if found is None:
        raise NotFound(*PARTICIPATION_MISSING)
    participation, ballot = found
    if ballot is None:  # a secret ballot names no participation
        raise Conflict("poll_ballot_secret", "无记名投票的选票投出后不能修改")
    if participation.channel == "app":
        raise Forbidden("poll_ballot_not_yours", "这张选票是居民在小程序里投的，只有投票人本人可以修改")
    ballot.answers = checked_answers(poll, answers)
    ballot.changed_at = clock.now()
    await session.flush()
    return {
        "poll_id": poll.id,
        "participation_id": participation.id,
        "elector_id": participation.elector_id,
        "channel": participation.channel,
        "channel_label": common.CHANNEL_LABELS[participation.channel],
        "receipt": None,
    }


# -- receipts, turnout, who took part -------------------------------------------------------------------------


async def check_receipt(session: AsyncSession, user: User, poll_id: int, receipt: str) -> dict[str, Any]:
    """`GET /polls/{id}/receipts/{receipt}`: a secret ballot's choices, for anyone who may see the
    poll and holds its receipt (typed in any case, with or without dashes). Nothing of who cast it,
    nor when."""
    poll, _ = await common.readable_poll(session, user, poll_id)
    printed = common.normal_receipt(receipt)
    ballot = (
        await session.execute(select(PollBallot).where(PollBallot.poll_id == poll.id, PollBallot.receipt == printed))
    ).scalar_one_or_none()
    if ballot is None:
        raise NotFound(*RECEIPT_MISSING)
    return {"poll_id": poll.id, "receipt": printed, "answers": answers_read(poll, ballot.answers)}


def _percent(part: int, whole: int) -> float:
    if whole <= 0:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def turnout_of(session: AsyncSession, poll: Poll) -> dict[str, Any]:
    """How many of the roll took part, by channel; for flats also the area (counts, never choices)."""
    rows = (
        await session.execute(
            select(PollParticipation.channel, func.count(), func.coalesce(func.sum(PollElector.weight), 0))
            .join(PollElector, PollElector.id == PollParticipation.elector_id)
            .where(PollParticipation.poll_id == poll.id, PollElector.struck_at.is_(None))
            .group_by(PollParticipation.channel)
        )
    ).all()
    counts = {channel: (int(n), int(w)) for channel, n, w in rows}
    participants = sum(n for n, _ in counts.values())
    weight = sum(w for _, w in counts.values())
    flat = poll.electorate == "flat"
    return {
        "unit": common.ELECTOR_UNIT[poll.electorate],
        "electors": poll.roll_count,
        "participants": participants,
        "by_channel": [
            {"channel": c, "label": label, "count": counts.get(c, (0, 0))[0]}
            for c, label in common.CHANNEL_LABELS.items()
        ],
        "weight_total": common.area_text(poll.roll_weight) if flat else None,
        "weight_participated": common.area_text(weight) if flat else None,
        "percent": _percent(participants, poll.roll_count),
        "area_percent": _percent(weight, poll.roll_weight) if flat else None,
    }


async def turnout(session: AsyncSession, user: User, poll_id: int) -> dict[str, Any]:
    """`GET /polls/{id}/turnout`: staff at any time (live while voting); residents after the close
    (409 poll_turnout_hidden before, saying when)."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    if not staff and common.phase(poll) != "closed":
        raise Conflict(
            "poll_turnout_hidden",
            f"参与情况在投票结束（{localtime.text(poll.closes_at)}）后公布",
            details={"closes_at": poll.closes_at},
        )
    return {"poll_id": poll.id, **await turnout_of(session, poll)}


async def participations(
    session: AsyncSession, user: User, poll_id: int, page: roll.PageLike, channel: str | None = None
) -> dict[str, Any]:
    """`GET /polls/{id}/participations` (staff): who took part, how and when — the elector, the member
    who voted in the app, who entered a paper or proxy ballot, the proxy's name and the photo —
    in the order they came. Never a choice; in a secret poll only a proxy's authorisation photo
    (a paper ballot's photo would show its choices)."""
    poll = await common.staff_poll(session, user, poll_id)
    limit = min(max(page.limit, 1), 100)
    after = roll._cursor_after(page.cursor)
    voter = Member.display_name
    query = (
        select(PollParticipation, PollElector.label, voter, User.display_name, Media)
        .join(PollElector, PollElector.id == PollParticipation.elector_id)
        .outerjoin(Member, Member.id == PollParticipation.voter_member_id)
        .outerjoin(User, User.id == PollParticipation.entered_by)
        .outerjoin(Media, Media.id == PollParticipation.photo_media_id)
        .where(PollParticipation.poll_id == poll.id, PollParticipation.id > after)
    )
    if channel is not None:
        query = query.where(PollParticipation.channel == channel)
    found = (await session.execute(query.order_by(PollParticipation.id).limit(limit + 1))).all()
    more = len(found) > limit
    found = found[:limit]
    items = [
        {
            "id": p.id,
            "elector_id": p.elector_id,
            "label": label,
            "channel": p.channel,
            "channel_label": common.CHANNEL_LABELS[p.channel],
            "voter_name": voter_name,
            "entered_by_name": (entered_by or "工作人员") if p.entered_by is not None else None,
            "proxy_name": p.proxy_name or None,
            "photo": (
                photo_view(session, media, ("large", "thumb"), True)
                if media is not None and (not poll.secret or p.channel == "proxy")
                else None
            ),
            "created_at": p.created_at,
        }
        for p, label, voter_name, entered_by, media in found
    ]
    return {"items": items, "next_cursor": encode_cursor(found[-1][0].id) if more else None}
