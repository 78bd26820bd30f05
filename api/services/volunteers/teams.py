"""Teams (自组织), volunteer profiles and people's stories.

Residents ask to join a team and wait until a leader or staff approve. Leaders see their members'
phones masked; staff see the community's teams. A profile holds skills and availability, and —
only if the volunteer chooses — the real name and ID number an official record needs, the ID
sealed with LINLI_DATA_KEY and shown masked.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Member, Team, TeamMember, User, VolunteerProfile, VolunteerStory
from api.db.session import settings_of
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.security import seal
from api.services.access import is_staff, require_member, require_staff
from api.services.notifications import notify
from api.services.users import mask_phone
from api.services.volunteers.common import get_team, membership, require_leader_or_staff

ID_PURPOSE = "volunteer.id_number"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


async def _resident(session: AsyncSession, user_id: int, community_id: int) -> Member | None:
    return (
        await session.execute(
            select(Member).where(
                Member.community_id == community_id, Member.user_id == user_id, Member.status == "active"
            )
        )
    ).scalar_one_or_none()


# -- teams ---------------------------------------------------------------------------------------


async def create_team(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> Team:
    """Staff set up a team and name its leaders (residents of the community)."""
    await require_staff(session, user, community_id)
    team = Team(community_id=community_id, name=data["name"], description=data.get("description", ""))
    session.add(team)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("team_exists", "已有同名团队") from exc
    for leader_id in sorted(set(data.get("leader_ids", []))):
        if await _resident(session, leader_id, community_id) is None:
            raise Unprocessable("leader_not_resident", "队长须是本社区登记的居民", details={"user_id": leader_id})
        session.add(TeamMember(team_id=team.id, user_id=leader_id, role="leader", status="active", approved_by=user.id))
    await session.flush()
    return team


async def _counts(session: AsyncSession, team_ids: list[int]) -> dict[int, int]:
    if not team_ids:
        return {}
    rows = await session.execute(
        select(TeamMember.team_id, func.count())
        .where(TeamMember.team_id.in_(team_ids), TeamMember.status == "active")
        .group_by(TeamMember.team_id)
    )
    return {team_id: n for team_id, n in rows.all()}


async def list_teams(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Every team of the community with its public member count and the caller's place in it."""
    await require_member(session, user, community_id)
    teams = list(
        (await session.execute(select(Team).where(Team.community_id == community_id).order_by(Team.id))).scalars()
    )
    counts = await _counts(session, [t.id for t in teams])
    mine = {
        m.team_id: m
        for m in (
            await session.execute(
                select(TeamMember).where(TeamMember.user_id == user.id, TeamMember.team_id.in_([t.id for t in teams]))
            )
        ).scalars()
    }
    return [_team_view(t, counts.get(t.id, 0), mine.get(t.id)) for t in teams]


def _team_view(team: Team, members: int, mine: TeamMember | None) -> dict[str, Any]:
    return {
        "id": team.id,
        "community_id": team.community_id,
        "name": team.name,
        "description": team.description,
        "members": members,
        "my_status": mine.status if mine else None,
        "my_role": mine.role if mine else None,
    }


async def team_detail(session: AsyncSession, user: User, team_id: int) -> dict[str, Any]:
    """The team; its leaders and staff also see the members (phones masked) and the requests."""
    team = await get_team(session, team_id)
    await require_member(session, user, team.community_id)
    mine = await membership(session, user.id, team.id)
    view = _team_view(team, (await _counts(session, [team.id])).get(team.id, 0), mine)
    manages = await is_staff(session, user, team.community_id) or (
        mine is not None and mine.role == "leader" and mine.status == "active"
    )
    view["roster"] = None
    if manages:
        rows = await session.execute(
            select(TeamMember, User)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id == team.id)
            .order_by(TeamMember.role, TeamMember.id)
        )
        view["roster"] = [
            {
                "user_id": u.id,
                "display_name": u.display_name,
                "phone": mask_phone(u.phone_number),
                "role": m.role,
                "status": m.status,
                "since": m.created_at,
            }
            for m, u in rows.all()
        ]
    return view


async def join(session: AsyncSession, user: User, team_id: int) -> dict[str, Any]:
    """A resident asks to join; the team's leaders are told."""
    team = await get_team(session, team_id)
    if await _resident(session, user.id, team.community_id) is None:
        raise Forbidden("not_a_resident", "请先登记为本社区居民（审核通过后）再加入团队")
    if await membership(session, user.id, team.id) is not None:
        raise Conflict("already_in_team", "已经申请或加入了这个团队")
    session.add(TeamMember(team_id=team.id, user_id=user.id, role="member", status="pending"))
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("already_in_team", "已经申请或加入了这个团队") from exc
    leaders = (
        await session.execute(
            select(TeamMember.user_id).where(
                TeamMember.team_id == team.id, TeamMember.role == "leader", TeamMember.status == "active"
            )
        )
    ).scalars()
    await notify(
        session,
        list(leaders),
        "team.join_request",
        {"team_id": team.id, "team_name": team.name, "applicant": user.display_name or "一位居民"},
        f"team:{team.id}:join:{user.id}:{int(clock.now().timestamp())}",
        community_id=team.community_id,
    )
    return await team_detail(session, user, team.id)


async def review(session: AsyncSession, user: User, team_id: int, applicant_id: int, approve: bool) -> None:
    """A leader of the team, or staff, let a request in or turn it down, and the applicant is told
    in the same transaction. The request is locked first, so of two decisions at once the second
    finds it decided: approving it again changes nothing and tells nobody twice, refusing an
    approved one is refused (409). A refused request is gone, so the resident may ask again; that
    is a new request and a new decision (the cause names the request by its id and time)."""
    team = await get_team(session, team_id)
    await require_leader_or_staff(session, user, team)
    request = (
        await session.execute(
            select(TeamMember)
            .where(TeamMember.team_id == team.id, TeamMember.user_id == applicant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if request is None:
        raise NotFound("request_not_found", "没有这个入队申请")
    if request.status == "active":
        if approve:
            return  # approved already (a double tap, or another leader first)
        raise Conflict("request_already_approved", "这个申请已经通过了，对方已是队员")
    decision = "approved" if approve else "refused"
    # a row id alone could be reused on SQLite once the refused row is deleted
    cause = f"team:{team.id}:request:{request.id}:{request.created_at:%Y%m%d%H%M%S%f}:{decision}"
    if approve:
        request.status = "active"
        request.approved_by = user.id
    else:
        await session.delete(request)
    await session.flush()
    await notify(
        session,
        [applicant_id],
        f"team.request_{decision}",
        {"team_id": team.id, "team_name": team.name},
        cause,
        community_id=team.community_id,
    )


async def leave(session: AsyncSession, user: User, team_id: int) -> None:
    """A member leaves (or withdraws a request). The last leader cannot leave the team leaderless."""
    team = await get_team(session, team_id)
    mine = await membership(session, user.id, team.id)
    if mine is None:
        raise NotFound("not_in_team", "你不在这个团队里")
    if mine.role == "leader":
        leaders = (
            await session.execute(
                select(func.count()).where(TeamMember.team_id == team.id, TeamMember.role == "leader")
            )
        ).scalar_one()
        if leaders <= 1:
            raise Conflict("last_leader", "你是唯一的队长，请先请社工指定新队长")
    await session.delete(mine)
    await session.flush()


async def set_role(session: AsyncSession, user: User, team_id: int, member_id: int, role: str) -> None:
    """Staff make an active member a leader, or a leader a member again."""
    team = await get_team(session, team_id)
    await require_staff(session, user, team.community_id)
    member = await membership(session, member_id, team.id)
    if member is None or member.status != "active":
        raise NotFound("team_member_not_found", "这个人不是本团队的队员")
    member.role = role
    await session.flush()


# -- profiles ------------------------------------------------------------------------------------


def normalise_id_number(raw: str) -> str:
    """A mainland resident ID: 18 characters with its check digit (or the old 15 digits)."""
    text = raw.strip().upper()
    if re.fullmatch(r"[0-9]{15}", text):
        return text
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        raise Unprocessable("id_number_invalid", "身份证号码格式不正确")
    check = "10X98765432"[sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True)) % 11]
    if check != text[17]:
        raise Unprocessable("id_number_invalid", "身份证号码校验位不正确")
    return text


def _profile_view(profile: VolunteerProfile) -> dict[str, Any]:
    return {
        "community_id": profile.community_id,
        "skills": profile.skills,
        "availability": profile.availability,
        "real_name": profile.real_name,
        "id_number": profile.id_number_hint,
        "ranked": profile.ranked,
    }


async def get_profile(session: AsyncSession, user: User, community_id: int) -> dict[str, Any]:
    await require_member(session, user, community_id)
    profile = await session.get(VolunteerProfile, (community_id, user.id))
    if profile is None:
        raise NotFound("profile_not_found", "还没有登记志愿者信息")
    return _profile_view(profile)


async def save_profile(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Opt in or update. The ID number is sealed and only its masked form is ever shown; giving
    an empty one removes it (and the real name with `real_name: null`)."""
    if await _resident(session, user.id, community_id) is None:
        raise Forbidden("not_a_resident", "请先登记为本社区居民（审核通过后）")
    profile = await session.get(VolunteerProfile, (community_id, user.id))
    if profile is None:
        profile = VolunteerProfile(community_id=community_id, user_id=user.id, skills=[], availability={})
        session.add(profile)
    for name in ("skills", "availability", "ranked", "real_name"):
        if name in data:
            setattr(profile, name, data[name])
    if "id_number" in data:
        raw = data["id_number"]
        if raw:
            number = normalise_id_number(raw)
            profile.id_number_sealed = seal(settings_of(session), number, purpose=ID_PURPOSE)
            profile.id_number_hint = number[:4] + "*" * (len(number) - 8) + number[-4:]
        else:
            profile.id_number_sealed = profile.id_number_hint = None
    await session.flush()
    return _profile_view(profile)


# -- people's stories ----------------------------------------------------------------------------


def _story_view(story: VolunteerStory) -> dict[str, Any]:
    status = "consented" if story.consented_at else "declined" if story.declined_at else "waiting"
    return {"id": story.id, "user_id": story.user_id, "title": story.title, "body": story.body, "status": status}


async def write_story(session: AsyncSession, user: User, community_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Staff write a story featuring a volunteer; it waits for the volunteer's consent."""
    await require_staff(session, user, community_id)
    if await _resident(session, data["user_id"], community_id) is None:
        raise Unprocessable("volunteer_not_found", "故事的主人公须是本社区居民")
    story = VolunteerStory(
        community_id=community_id, user_id=data["user_id"], title=data["title"], body=data["body"], written_by=user.id
    )
    session.add(story)
    await session.flush()
    await notify(
        session,
        [story.user_id],
        "volunteer.story",
        {"story_id": story.id, "title": story.title},
        f"story:{story.id}:consent",
        community_id=community_id,
    )
    return _story_view(story)


async def answer_story(session: AsyncSession, user: User, story_id: int, consent: bool) -> dict[str, Any]:
    """The featured volunteer consents (or not; they may change their mind)."""
    story = await session.get(VolunteerStory, story_id)
    if story is None or story.user_id != user.id:
        raise NotFound("story_not_found", "找不到这篇故事")
    now = clock.now()
    story.consented_at, story.declined_at = (now, None) if consent else (None, now)
    await session.flush()
    return _story_view(story)


async def stories(session: AsyncSession, user: User, community_id: int) -> list[dict[str, Any]]:
    """Staff see every story; a volunteer the ones about them; others the consented ones."""
    await require_member(session, user, community_id)
    query = select(VolunteerStory).where(VolunteerStory.community_id == community_id).order_by(VolunteerStory.id.desc())
    if not await is_staff(session, user, community_id):
        query = query.where((VolunteerStory.user_id == user.id) | VolunteerStory.consented_at.is_not(None))
    return [_story_view(s) for s in (await session.execute(query)).scalars()]
