"""The voter roll (选民名册 / 投票名册): who may vote in a poll, as a snapshot, and the objections
residents raise against it while it is published (异议).

The electorate, from the community's households and members at the moment the roll is taken:

- `resident`: every active adult member (kind adult or elder — an elder is an adult; with or
  without WeChat: elders vote on paper). `elector_ref` is the member's id.
- `household`: every household with at least one active adult member. `elector_ref` is the
  household's id.
- `flat`: every flat (专有部分) of the community with a recorded floor area, weighted by that area
  (hundredths of ㎡), whoever lives there — the owners' household, tenants, or nobody yet: a
  rented flat is still an owner's flat, and art. 278's denominators count every one of them.
  `elector_ref` is the household's id (a household is a flat's record). `is_owner` decides only
  who may vote for the flat in the app: the active adult members of a household marked as the
  owner. For a flat whose owner lives elsewhere (tenants, or nobody registered), the owner votes
  on paper or by proxy at the community, entered by staff. A household marked as the owner without
  an area keeps a flat poll from being published (`missing_area`); any other household without an
  area is not a flat on the roll (the electorate's preview says how many).

The snapshot is taken once (publishing with an objection period, or the opening; a flat poll's at
publishing, whatever its objection days — see `polls`): households joining or members added later,
and areas recorded or cleared later, are not on it. While the roll is out for objections staff answer
each objection, and an upheld one may strike an elector (kept, marked, with the reason) or add
one; the poll's `roll_count` and `roll_weight` follow. After voting starts the roll no longer
changes.

Who sees the roll: staff of the community, always (every row, whether and how the elector took
part). Residents only where the poll publishes it (`objection_days > 0`), from publishing on,
with names masked (陈*) and nothing about who took part; they search it by address only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Household, Member, Poll, PollElector, PollObjection, PollParticipation, User
from api.errors import Conflict, Forbidden, NotFound, invalid_field
from api.pagination import cursor_int, decode_cursor, encode_cursor
from api.services.votes import common

ADULT_KINDS = ("adult", "elder")
OBJECTION_STATUS_LABELS = {"open": "待答复", "upheld": "异议成立", "dismissed": "异议不成立"}
OBJECTION_MISSING = ("poll_objection_not_found", "找不到这条异议")
ROLL_HIDDEN = "这次投票的名册没有公示，只有社区工作人员可以查看"


class PageLike(Protocol):
    """A page request: the API's PageParams, or anything with a cursor and a limit (the console)."""

    cursor: str | None
    limit: int


# -- addresses and labels --------------------------------------------------------------------------


def address(building: str, unit: str, room: str) -> str:
    """3栋2单元501, without spaces (so that a label's first space ends its address)."""
    return re.sub(r"\s+", "", f"{building}{unit}{room}")


def label_for(electorate: str, building: str, unit: str, room: str, name: str | None = None) -> str:
    """As on the roll: the address, and for a resident their name after a space."""
    text = address(building, unit, room)
    if electorate == "resident" and name:
        text = f"{text} {name.strip()}"
    return text[:120]


def mask_name(name: str) -> str:
    """陈明 → 陈*, 欧阳明月 → 欧***."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def masked_label(electorate: str, label: str) -> str:
    """The label as residents read it: a resident's name masked (the address stays)."""
    if electorate != "resident" or " " not in label:
        return label
    where, name = label.split(" ", 1)
    return f"{where} {mask_name(name)}"


def _natural(text: str) -> tuple[Any, ...]:
    """Sort 2栋 before 10栋: digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def weight_text(electorate: str, weight: int) -> str:
    """A weight as read: a flat's area (89.53), else the count (1)."""
    return common.area_text(weight) if electorate == "flat" else str(weight)


# -- the electorate from the community as it is now ---------------------------------------------------


def _adult_member(*where: Any) -> Any:
    return and_(Member.status == "active", Member.kind.in_(ADULT_KINDS), *where)


def _has_adult(*where: Any) -> Any:
    """SQL: the household has an active adult member (and `where`)."""
    return exists().where(Member.household_id == Household.id, _adult_member(*where))


async def electorate_now(session: AsyncSession, community_id: int, electorate: str) -> list[dict[str, Any]]:
    """The electors the roll would hold if taken now, in address order: elector_ref, household_id,
    member_id, building, label, weight."""
    rows: list[dict[str, Any]] = []
    if electorate == "resident":
        found = await session.execute(
            select(Member.id, Member.display_name, Household.id, Household.building, Household.unit, Household.room)
            .join(Household, Household.id == Member.household_id)
            .where(Member.community_id == community_id, _adult_member())
        )
        for member_id, name, household_id, building, unit, room in found.all():
            rows.append(
                {
                    "elector_ref": member_id,
                    "household_id": household_id,
                    "member_id": member_id,
                    "building": building,
                    "label": label_for(electorate, building, unit, room, name),
                    "weight": 1,
                }
            )
    else:
        query = select(Household.id, Household.building, Household.unit, Household.room, Household.floor_area_centi)
        query = query.where(Household.community_id == community_id)
        if electorate == "household":
            query = query.where(_has_adult())
        else:  # every flat with an area, whoever lives there
            query = query.where(Household.floor_area_centi.is_not(None))
        for household_id, building, unit, room, area in (await session.execute(query)).all():
            rows.append(
                {
                    "elector_ref": household_id,
                    "household_id": household_id,
                    "member_id": None,
                    "building": building,
                    "label": label_for(electorate, building, unit, room),
                    "weight": area if electorate == "flat" else 1,
                }
            )
    rows.sort(key=lambda r: (_natural(r["label"].split(" ", 1)[0]), r["elector_ref"]))  # by address, then id
    return rows


async def missing_area(session: AsyncSession, community_id: int) -> int:
    """Owner households without a floor area: a flat poll cannot count them (art. 278 needs every
    flat's area), so it is not published while there are any."""
    found = await session.execute(
        select(func.count())
        .select_from(Household)
        .where(
            Household.community_id == community_id,
            Household.is_owner.is_(True),
            Household.floor_area_centi.is_(None),
        )
    )
    return int(found.scalar_one())


async def without_area(session: AsyncSession, community_id: int) -> int:
    """Households without a floor area, owners' or not: not flats on a flat roll."""
    found = await session.execute(
        select(func.count())
        .select_from(Household)
        .where(Household.community_id == community_id, Household.floor_area_centi.is_(None))
    )
    return int(found.scalar_one())


async def not_owner_occupied(session: AsyncSession, community_id: int) -> int:
    """Flats on a flat roll whose household is not marked as the owner (tenants, or nobody yet):
    their owners vote on paper or by proxy."""
    found = await session.execute(
        select(func.count())
        .select_from(Household)
        .where(
            Household.community_id == community_id,
            Household.floor_area_centi.is_not(None),
            Household.is_owner.is_(False),
        )
    )
    return int(found.scalar_one())


async def with_account(session: AsyncSession, community_id: int, electorate: str) -> int:
    """How many electors could vote in the app now: residents with an account; households with an
    active adult member who has one; flats whose household is the owner's, with such a member."""
    if electorate == "resident":
        query = (
            select(func.count())
            .select_from(Member)
            .where(Member.community_id == community_id, _adult_member(Member.user_id.is_not(None)))
        )
    else:
        query = (
            select(func.count())
            .select_from(Household)
            .where(Household.community_id == community_id, _has_adult(Member.user_id.is_not(None)))
        )
        if electorate == "flat":
            query = query.where(Household.is_owner.is_(True), Household.floor_area_centi.is_not(None))
    return int((await session.execute(query)).scalar_one())


async def take_roll(session: AsyncSession, poll: Poll) -> int:
    """The roll's snapshot, once (the caller holds the poll FOR UPDATE): the electors as they are
    now, and the poll's roll_count, roll_weight and roll_taken_at. Returns how many electors."""
    if poll.roll_taken_at is not None:
        return poll.roll_count
    rows = await electorate_now(session, poll.community_id, poll.electorate)
    if rows:
        await session.execute(insert(PollElector), [{"poll_id": poll.id, "note": "", **r} for r in rows])
    poll.roll_taken_at = clock.now()
    poll.roll_count = len(rows)
    poll.roll_weight = sum(r["weight"] for r in rows)
    await session.flush()
    return len(rows)


def roll_public(poll: Poll) -> bool:
    """Residents see the roll of a poll that publishes it for objections, once it is taken."""
    return poll.objection_days > 0 and poll.roll_taken_at is not None


# -- the roll as staff and residents read it -----------------------------------------------------------


def _cursor_after(cursor: str | None) -> int:
    if not cursor:
        return 0
    (last,) = decode_cursor(cursor, 1)
    return cursor_int(last)


def _search(q: str) -> str:
    """A LIKE pattern for `q` taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def roll(session: AsyncSession, user: User, poll_id: int, q: str | None, page: PageLike) -> dict[str, Any]:
    """`GET /polls/{id}/roll`: a page of the roll in address order. Staff: every elector (struck ones
    marked with the reason), whether they took part and how. Residents: only a published roll
    (403 otherwise), names masked, nothing of who took part; `q` matches the address only (staff:
    the address or the name)."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    if not staff and not roll_public(poll):
        raise Forbidden("poll_roll_hidden", ROLL_HIDDEN)
    limit = min(max(page.limit, 1), 100)
    query = (
        select(PollElector, PollParticipation.channel)
        .outerjoin(PollParticipation, PollParticipation.elector_id == PollElector.id)
        .where(PollElector.poll_id == poll.id, PollElector.id > _cursor_after(page.cursor))
    )
    if q and q.strip():
        pattern = _search(q.strip())
        if staff:
            query = query.where(PollElector.label.like(pattern, escape="\\"))
        else:
            query = query.join(Household, Household.id == PollElector.household_id).where(
                (Household.building + Household.unit + Household.room).like(pattern, escape="\\")
            )
    if not staff:
        query = query.where(PollElector.struck_at.is_(None))
    found = (await session.execute(query.order_by(PollElector.id).limit(limit + 1))).all()
    more = len(found) > limit
    found = found[:limit]
    items = [elector_view(poll, elector, channel, staff) for elector, channel in found]
    return {
        "poll_id": poll.id,
        "electorate": poll.electorate,
        "electorate_label": common.ELECTORATE_LABELS[poll.electorate],
        "unit": common.ELECTOR_UNIT[poll.electorate],
        "roll_taken_at": poll.roll_taken_at,
        "roll_count": poll.roll_count,
        "roll_weight": common.area_text(poll.roll_weight) if poll.electorate == "flat" else None,
        "published": roll_public(poll),
        "items": items,
        "next_cursor": encode_cursor(found[-1][0].id) if more else None,
    }


def elector_view(poll: Poll, elector: PollElector, channel: str | None, staff: bool) -> dict[str, Any]:
    return {
        "id": elector.id,
        "label": elector.label if staff else masked_label(poll.electorate, elector.label),
        "building": elector.building,
        "weight": weight_text(poll.electorate, elector.weight),
        "household_id": elector.household_id if staff else None,
        "member_id": elector.member_id if staff else None,
        "struck": elector.struck_at is not None,
        "struck_at": elector.struck_at if staff else None,
        "note": elector.note if staff else "",
        "participated": channel is not None if staff else None,
        "channel": channel if staff else None,
        "channel_label": common.CHANNEL_LABELS[channel] if staff and channel else None,
    }


# -- objections ----------------------------------------------------------------------------------------


def objection_view(objection: PollObjection, user: User, staff: bool, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": objection.id,
        "poll_id": objection.poll_id,
        "body": objection.body,
        "status": objection.status,
        "status_label": OBJECTION_STATUS_LABELS[objection.status],
        "answer": objection.answer,
        "answered_at": objection.answered_at,
        "mine": objection.user_id == user.id,
        "raised_by": names.get(objection.user_id or 0) if staff else None,
        "created_at": objection.created_at,
    }


async def _names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    found = await session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return {user_id: name or "" for user_id, name in found.all()}


async def object_to_roll(session: AsyncSession, user: User, poll_id: int, body: str) -> dict[str, Any]:
    """`POST /polls/{id}/objections`: anyone of the community who sees the poll says who is missing
    from the published roll or wrongly on it, while it is out for objections (409 otherwise)."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    if common.phase(poll) != "objections":
        raise Conflict(
            "poll_objections_closed",
            "现在不是名册公示期，不能提出异议" if poll.objection_days > 0 else "这次投票的名册不公示，不接受异议",
            details={"phase": common.phase(poll)},
        )
    objection = PollObjection(poll_id=poll.id, user_id=user.id, body=body, status="open", answer="")
    session.add(objection)
    await session.flush()
    return objection_view(objection, user, staff, await _names(session, {user.id}))


async def list_objections(session: AsyncSession, user: User, poll_id: int, page: PageLike) -> dict[str, Any]:
    """`GET /polls/{id}/objections`: staff every objection, residents their own; oldest first."""
    poll, staff = await common.readable_poll(session, user, poll_id)
    limit = min(max(page.limit, 1), 100)
    query = select(PollObjection).where(PollObjection.poll_id == poll.id, PollObjection.id > _cursor_after(page.cursor))
    if not staff:
        query = query.where(PollObjection.user_id == user.id)
    found = list((await session.execute(query.order_by(PollObjection.id).limit(limit + 1))).scalars())
    more = len(found) > limit
    found = found[:limit]
    names = await _names(session, {o.user_id for o in found if o.user_id is not None}) if staff else {}
    return {
        "items": [objection_view(o, user, staff, names) for o in found],
        "next_cursor": encode_cursor(found[-1].id) if more else None,
    }


async def answer_objection(
    session: AsyncSession, user: User, poll_id: int, objection_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """`POST /polls/{id}/objections/{oid}/answer` (staff): upheld or dismissed, with an answer the
    resident reads. An upheld objection may strike an elector off the roll (`strike_elector_id`)
    or add one (`add_member_id` for a resident electorate, `add_household_id` otherwise) — only
    before voting starts, since the roll is what the votes are counted against. Each objection is
    answered once (409 poll_objection_answered)."""
    await common.staff_poll(session, user, poll_id)
    poll = await common.lock_poll(session, poll_id)  # the roll's counts change under the poll's lock
    objection = await session.get(PollObjection, objection_id, with_for_update=True, populate_existing=True)
    if objection is None or objection.poll_id != poll.id:
        raise NotFound(*OBJECTION_MISSING)
    if objection.status != "open":
        raise Conflict("poll_objection_answered", "这条异议已经答复过了", details={"status": objection.status})
    strike, add_member, add_household = (
        data.get("strike_elector_id"),
        data.get("add_member_id"),
        data.get("add_household_id"),
    )
    changes = [name for name, v in (("strike", strike), ("member", add_member), ("household", add_household)) if v]
    if len(changes) > 1:
        raise invalid_field("strike_elector_id", "一条异议只能划去或补登一位选民", kind="one_change_per_objection")
    if changes and data["status"] != "upheld":
        raise invalid_field("status", "划去或补登选民时，异议应为成立（upheld）", kind="change_needs_upheld")
    if common.phase(poll) == "closed" or poll.status == "cancelled":
        raise Conflict("poll_closed", "投票已经结束，不能再答复异议", details={"phase": common.phase(poll)})
    now = clock.now()
    note = f"异议{objection.id}：{data['answer']}"[:200]
    if changes:
        if poll.roll_taken_at is None or now >= poll.opens_at:
            raise Conflict("poll_roll_locked", "投票已经开始，名册不能再修改", details={"phase": common.phase(poll)})
        if strike:
            await _strike(session, poll, strike, note, now)
        elif add_member:
            await _add(session, poll, note, member_id=add_member)
        else:
            await _add(session, poll, note, household_id=add_household)
    objection.status = data["status"]
    objection.answer = data["answer"]
    objection.answered_by = user.id
    objection.answered_at = now
    await session.flush()
    names = await _names(session, {objection.user_id} if objection.user_id else set())
    return objection_view(objection, user, True, names)


async def _strike(session: AsyncSession, poll: Poll, elector_id: int, note: str, now: datetime) -> None:
    elector = await session.get(PollElector, elector_id, with_for_update=True)
    if elector is None or elector.poll_id != poll.id:
        raise invalid_field("strike_elector_id", "名册上没有这位选民", kind="elector_not_found")
    if elector.struck_at is not None:
        raise Conflict("poll_elector_struck", "这位选民已经从名册上划去了")
    elector.struck_at = now
    elector.note = note
    poll.roll_count -= 1
    poll.roll_weight -= elector.weight


async def _add(
    session: AsyncSession, poll: Poll, note: str, *, member_id: int | None = None, household_id: int | None = None
) -> None:
    """Put a member (resident electorate) or a household (household, flat) on the roll, as the
    snapshot would have: an active adult; a household with one; a flat with its area (whoever
    lives there).
    One struck before is put back."""
    field = "add_member_id" if member_id else "add_household_id"
    if (poll.electorate == "resident") != (member_id is not None):
        wanted = "add_member_id（居民）" if poll.electorate == "resident" else "add_household_id（户或房屋）"
        raise invalid_field(
            field, f"这次投票按{common.ELECTORATE_LABELS[poll.electorate]}，应填{wanted}", kind="wrong_electorate"
        )
    if member_id is not None:
        member = await session.get(Member, member_id)
        if member is None or member.community_id != poll.community_id:
            raise invalid_field(field, "本社区没有这位居民", kind="member_not_found")
        if member.status != "active" or member.kind not in ADULT_KINDS:
            raise invalid_field(field, "只有已确认的成年居民可以登记为选民", kind="not_adult")
        household = await session.get(Household, member.household_id)
        assert household is not None
        ref, name = member.id, member.display_name
    else:
        household = await session.get(Household, household_id)
        if household is None or household.community_id != poll.community_id:
            raise invalid_field(field, "本社区没有这一户", kind="household_not_found")
        if poll.electorate == "household":
            has_adult = await session.execute(
                select(Member.id).where(Member.household_id == household.id, _adult_member()).limit(1)
            )
            if has_adult.first() is None:
                raise invalid_field(field, "这一户没有已确认的成年人，不能作为投票户", kind="no_adult")
        elif household.floor_area_centi is None:
            raise Conflict("poll_roll_area_missing", "这套房还没有登记专有部分面积，请先在住户档案中登记")
        ref, name = household.id, None
    weight = household.floor_area_centi if poll.electorate == "flat" and household.floor_area_centi else 1
    existing = (
        await session.execute(
            select(PollElector).where(PollElector.poll_id == poll.id, PollElector.elector_ref == ref).with_for_update()
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.struck_at is None:
            raise Conflict("poll_elector_exists", "这位选民已经在名册上了", details={"elector_id": existing.id})
        existing.struck_at = None
        existing.note = note
        existing.weight = weight
    else:
        session.add(
            PollElector(
                poll_id=poll.id,
                elector_ref=ref,
                household_id=household.id,
                member_id=member_id,
                building=household.building,
                label=label_for(poll.electorate, household.building, household.unit, household.room, name),
                weight=weight,
                note=note,
            )
        )
    poll.roll_count += 1
    poll.roll_weight += weight


# -- whom the notifications go to -----------------------------------------------------------------------


async def electorate_users(session: AsyncSession, poll: Poll, *, not_voted: bool = False) -> list[int]:
    """The accounts that vote for the roll's electors (those not struck): a resident elector's own;
    for a household, its active adult members with an account; for a flat, the same when the
    household is the owner's (tenants do not vote for it: its owner does, on paper or by proxy).
    With `not_voted`, only for electors who have not taken part."""
    pending = ~exists().where(PollParticipation.elector_id == PollElector.id)
    if poll.electorate == "resident":
        query = select(Member.user_id).join(PollElector, PollElector.member_id == Member.id)
    else:
        query = select(Member.user_id).join(PollElector, PollElector.household_id == Member.household_id)
        query = query.where(_adult_member())
        if poll.electorate == "flat":
            query = query.join(Household, Household.id == Member.household_id).where(Household.is_owner.is_(True))
    query = query.where(PollElector.poll_id == poll.id, PollElector.struck_at.is_(None), Member.user_id.is_not(None))
    if not_voted:
        query = query.where(pending)
    return sorted({u for u in (await session.execute(query)).scalars() if u is not None})
