"""The demo's votes and surveys (议事协商, part 2) for B社区, an old compound of six buildings:

- the flats (专有部分): the property office's register of the compound's 376 flats, imported with
  the real importer (`flats.import_flats`) — 1–3栋 are 1990s walk-ups of 55–86 ㎡, 4栋 and 6栋
  later blocks with lifts of 89–139 ㎡, 5栋 a gallery block of small flats — with the owner flag:
  most households own their flat; 王女士 (2栋), 赵老师 (3栋) and the newcomer 钱女士 (6栋) rent
  theirs, and eight ground-floor flats of 5栋 are still public housing (直管公房). Every flat with
  an area is on a flat poll's roll, whoever lives there: most have nobody registered in the app
  yet, and the rented and public ones have their owners elsewhere — all count in art. 278's
  denominators, and the owners who do not live in the app vote on paper or by proxy;
- a finished courtyard autonomy committee election (第二届院落自治委员会选举): 5 seats, 7 candidates
  with short statements, each household one secret ballot (12 of 12, three on paper), the roll
  published for objections three days before (one objection, answered); 马俊 and 孙秀兰 tied for the
  last seat with 7 votes each and the lot, drawn the next evening, elected 孙秀兰 (tie rule `lot`);
- an open household poll on the rooftop garden (党群服务站楼顶花园怎么用), built through the real
  services (`polls.create_poll`, `publish`, `voting.cast`/`change`/`enter`): it opened two days ago
  and closes in three; 7 of its 12 households have voted, five in the app (one changed their
  mind) and two on paper; its results are hidden until the close;
- a finished owners' consultation with area figures (中心停车场增设新能源汽车充电桩): every flat of
  the register one open ballot weighted by its area — all 376, 31461.92 ㎡, the roll taken when it
  was published — art. 278 with the special majority (利用共有部分从事经营活动), not convened by an
  owners' assembly, so 意向征询. 王女士's landlord authorised her to vote for the flat she rents
  (a proxy), 赵老师's came to vote on paper, 钱女士's, abroad, did not take part; the district
  housing office abstained for its eight public flats through one agent (proxies). 279 flats took
  part (74.20%) with 23743.05 ㎡ (75.47%): over two thirds of both; the approving area, 17968.74 ㎡,
  reached three quarters of the participating area (75.68%) — but the approving flats, 197, did not
  reach three quarters of the participating flats (70.61%; the big flats of 4栋 and 6栋 want
  chargers, the small flats of 5栋 mostly do not), so the threshold is not met: counted by area
  alone it would have passed;
- a needs survey (社区儿童托管和课后服务需求调研), anonymous, one per household, open for twelve days
  and closed by staff today, four days early, once the 40th questionnaire was in (an anonymous
  survey's results show only once it has ended), built through the real services
  (`surveys.create_survey`, `open_survey`, `respond`, `enter_paper`, `close_survey`): 40
  responses, 8 in the app and 32 paper questionnaires collected at the after-school class and the
  school gate, from every building — 5栋 and 6栋 with fewer than five, which the breakdown hides.

The past (the election, the consultation) is written directly as the services would have written
it, against the real clock: the roll taken by `roll.take_roll` (the election's from the same
`roll.electorate_now`, filtered to the households of a month ago) and dated as `polls.publish`
dates it, participations and ballots as
`voting` writes them (answers through `voting.checked_answers`, secret ballots with a random id
and a receipt and no participation), the count by `results.count` (the pure `tally.tally`) stored
with `tallied_at` as `results.close_due` stores it, and the lot as `results.resolve_tie` records
it. What the present allows goes through the services, then is moved back to when it happened (a
poll published three days ago, its votes since; the survey's responses on the days they came).
As in `demo_governance`, notifications of the past are not written: the residents' inboxes hold the
rooftop poll's and the survey's invitations, read by those who already answered in the app.

`rooftop_poll` runs before the newcomer joins (she is not on a roll taken before she came);
`votes` runs last.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    Community,
    Household,
    Member,
    Notification,
    Poll,
    PollBallot,
    PollElector,
    PollObjection,
    PollParticipation,
    ServiceProject,
    Survey,
    SurveyResponse,
    User,
)
from api.services import flats
from api.services.votes import common, polls, results, roll, surveys, voting

# -- the scene --------------------------------------------------------------------------------------

# the households of the demo (login of the head → its address), as `demo.HOUSEHOLDS` has them
RESIDENTS = ("chen", "zhou", "liu", "wang", "zhang", "li", "zhao", "huang", "wu", "xu", "sun", "ma")


@dataclass
class Scene:
    session: AsyncSession
    community: Community
    tz: ZoneInfo
    now: datetime
    today: date
    users: dict[str, User]
    heads: dict[str, Member]  # the head of each demo household, by login

    def at(self, days: int, hhmm: str) -> datetime:
        """A local time `days` from today (negative: in the past)."""
        return datetime.combine(self.today + timedelta(days=days), time.fromisoformat(hhmm), self.tz)

    @property
    def staff(self) -> User:
        return self.users["staff"]

    @property
    def staff2(self) -> User:
        return self.users["staff2"]

    def household(self, login: str) -> int:
        return self.heads[login].household_id


async def _scene(session: AsyncSession, community: Community) -> Scene:
    tz = ZoneInfo(community.timezone)
    now = clock.now()
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    by_user = {u.id: login for login, u in users.items()}
    heads = {
        by_user[m.user_id]: m
        for m in (
            await session.execute(
                select(Member).where(
                    Member.community_id == community.id, Member.user_id.is_not(None), Member.status == "active"
                )
            )
        ).scalars()
        if m.user_id is not None
    }
    return Scene(session, community, tz, now, now.astimezone(tz).date(), users, heads)


def _answers(*choices: int | list[int] | tuple[int | list[int], str]) -> list[dict[str, Any]]:
    """A poll ballot's answers as a request carries them: per question an option, a list of
    options, or (options, text)."""
    out = []
    for q, choice in enumerate(choices):
        text = ""
        if isinstance(choice, tuple):
            choice, text = choice
        options = choice if isinstance(choice, list) else [choice]
        out.append({"question": q, "options": options, "text": text})
    return out


# -- the flats ---------------------------------------------------------------------------------------

# building: (floors, the area of each flat on a floor, ㎡ — the same flat on every floor; two units each)
LAYOUT: dict[str, tuple[int, list[str]]] = {
    "1栋": (6, ["63.47", "71.82"]),
    "2栋": (7, ["78.56", "86.13"]),
    "3栋": (6, ["56.28", "67.95", "79.40"]),
    "4栋": (11, ["138.62", "96.35", "89.74", "112.08"]),
    "5栋": (8, ["55.12", "57.80", "58.36", "61.47", "61.47", "58.36", "57.80", "55.12"]),
    "6栋": (12, ["127.55", "98.21", "108.90"]),
}
UNITS = ("1单元", "2单元")
TENANTS = {("2栋", "2单元", "702"), ("3栋", "2单元", "403"), ("6栋", "2单元", "902")}  # 王女士, 赵老师, 钱女士
PUBLIC_HOUSING = {("5栋", "1单元", f"1{n:02d}") for n in range(1, 9)}  # 直管公房: the state owns them


def register() -> list[tuple[str, str, str, str, bool]]:
    """The property office's register: (building, unit, room, area, owner) for every flat."""
    rows = []
    for building, (floors, areas) in LAYOUT.items():
        for unit in UNITS:
            for floor in range(1, floors + 1):
                for n, area in enumerate(areas, start=1):
                    room = f"{floor}{n:02d}"
                    where = (building, unit, room)
                    rows.append((building, unit, room, area, where not in TENANTS and where not in PUBLIC_HOUSING))
    return rows


async def _flats(s: Scene) -> None:
    """The register imported by 王社工 with the real importer, six weeks ago: the demo's households
    get their area and owner flag, every other flat becomes a household nobody has joined yet."""
    before = set(
        (await s.session.execute(select(Household.id).where(Household.community_id == s.community.id))).scalars()
    )
    sheet = io.StringIO()
    writer = csv.writer(sheet)
    writer.writerow(["楼栋", "单元", "房号", "面积(㎡)", "业主"])
    for building, unit, room, area, owner in register():
        writer.writerow([building, unit, room, area, "是" if owner else "否"])
    parsed = flats.parse(sheet.getvalue().encode("utf-8"), "csv")
    summary = await flats.import_flats(s.session, s.staff, s.community.id, parsed)
    assert summary["owners_without_area"] == 0 and summary["created"] + len(before) == len(register())
    imported = s.at(-45, "10:00")
    await s.session.execute(
        update(Household)
        .where(Household.community_id == s.community.id, Household.id.not_in(before))
        .values(created_at=imported, updated_at=imported)
    )


# -- a poll of the past, as the services wrote it ---------------------------------------------------------


@dataclass
class Past:
    poll: Poll
    electors: dict[int, PollElector]  # by household


async def _past_poll(
    s: Scene, data: dict[str, Any], *, created: datetime, published: datetime, households: set[int] | None = None
) -> Past:
    """A published poll, its roll taken by `roll.take_roll` and dated as `polls.publish` would have
    taken it: at publishing when the roll is out for objections or the poll is by flat, else at the
    opening (`households`: the roll as it was, when some joined since — the same rows, filtered)."""
    poll = Poll(
        community_id=s.community.id,
        status="scheduled",  # open once its roll is taken
        created_by=s.staff.id,
        cancel_reason="",
        roll_count=0,
        roll_weight=0,
        **polls.checked(data, created),
        published_at=published,
        created_at=created,
        updated_at=published,
    )
    s.session.add(poll)
    await s.session.flush()
    if households is None:
        await roll.take_roll(s.session, poll)
    else:
        rows = await roll.electorate_now(s.session, s.community.id, poll.electorate)
        rows = [r for r in rows if r["household_id"] in households]
        await s.session.execute(insert(PollElector), [{"poll_id": poll.id, "note": "", **r} for r in rows])
        poll.roll_count = len(rows)
        poll.roll_weight = sum(r["weight"] for r in rows)
    poll.roll_taken_at = published if poll.objection_days > 0 or poll.electorate == "flat" else poll.opens_at
    poll.status = "open"
    electors = {
        e.household_id: e
        for e in (await s.session.execute(select(PollElector).where(PollElector.poll_id == poll.id))).scalars()
        if e.household_id is not None
    }
    return Past(poll, electors)


async def _vote(
    s: Scene,
    past: Past,
    household_id: int,
    answers: list[dict[str, Any]],
    at: datetime,
    *,
    channel: str = "app",
    login: str | None = None,
    entered_by: User | None = None,
    proxy_name: str = "",
    changed_at: datetime | None = None,
) -> None:
    """One participation and its ballot, as `voting` writes them."""
    poll, elector = past.poll, past.electors[household_id]
    participation = PollParticipation(
        poll_id=poll.id,
        elector_id=elector.id,
        channel=channel,
        voter_member_id=s.heads[login].id if login is not None else None,
        entered_by=None if channel == "app" else (entered_by or s.staff).id,
        proxy_name=proxy_name,
        photo_media_id=None,
        created_at=at,
        updated_at=at,
    )
    s.session.add(participation)
    await s.session.flush()
    s.session.add(
        PollBallot(
            id=common.random_id(),
            poll_id=poll.id,
            participation_id=None if poll.secret else participation.id,
            receipt=common.new_receipt() if poll.secret else None,
            weight=elector.weight,
            answers=voting.checked_answers(poll, answers),
            changed_at=changed_at,
        )
    )


async def _close(s: Scene, poll: Poll) -> None:
    """What `results.close_due` does when the worker's `polls.close` runs at the close."""
    await s.session.flush()
    tallied = poll.closes_at + timedelta(seconds=40)
    poll.result = await results.count(s.session, poll)
    poll.tallied_at = tallied
    poll.status = "closed"
    poll.updated_at = tallied
    await s.session.flush()


# -- the courtyard autonomy committee election ------------------------------------------------------------

# the candidates, in the order of their surnames' strokes (按姓氏笔画排序), with their statements
CANDIDATES = [
    ("马俊", "6栋1单元，空间营造队队员。复合空间的书架和议事角是我们队一起搭的。院子里修修补补、"
     "车棚和楼顶这些公共地方怎么用好，交给我。"),
    ("刘芳", "2栋1单元，退休会计，公益志愿队队长，每周二下午在复合空间值班。当选后账目每月公开，"
     "大家的事大家商量。"),
    ("孙秀兰", "5栋2单元，爱心联盟成员，常去看望独居老人。5栋老人多，倒垃圾远、走夜路黑，我想替他们多说几句话。"),
    ("张国华", "3栋楼栋长，在这个院子住了三十年。楼道堆物、停车这些老问题，我愿意挨家挨户去沟通。"),
    ("周涛", "1栋2单元，上班族，孩子在读小学。可以帮大家建群、做表格、发通知，晚上和周末有空。"),
    ("徐静", "5栋居民代表，女儿在读五年级。想推动院子里有个孩子们能安全玩耍的地方，也多听听年轻家庭的想法。"),
    ("黄磊", "4栋居民代表，做工程的。充电棚、门禁这些设施的事我比较懂，愿意盯着物业把事情做好。"),
]  # fmt: skip
ELECTION_BODY = (
    "院落自治委员会由居民选举产生，任期三年，负责院落公共事务的议事协商，监督环境卫生和公共设施，"
    "接受社区党委指导和居民监督。候选人由各楼栋居民推荐，经社区党委和社工审核，共7名（按姓氏笔画排序），应选5名。"
    "每户一票，每张选票最多选5人，不记名投票；得票超过参加投票户数一半的候选人按得票多少当选，"
    "最后一个名额票数相同时当众抽签决定。选民名册公示3天。可在小程序投票，也可到复合空间领取纸质选票。"
)
# the twelve ballots, by candidate (the secret ballots name no household)
BALLOTS = [
    ["刘芳", "张国华", "黄磊", "徐静", "马俊"],
    ["刘芳", "张国华", "黄磊", "徐静", "孙秀兰"],
    ["刘芳", "张国华", "黄磊", "马俊", "孙秀兰"],
    ["刘芳", "张国华", "徐静", "马俊", "周涛"],
    ["刘芳", "张国华", "黄磊", "孙秀兰", "周涛"],
    ["刘芳", "黄磊", "徐静", "马俊", "孙秀兰"],
    ["刘芳", "张国华", "黄磊", "徐静", "马俊"],
    ["刘芳", "张国华", "徐静", "孙秀兰", "周涛"],
    ["刘芳", "张国华", "黄磊", "马俊", "孙秀兰"],
    ["张国华", "黄磊", "徐静", "马俊", "周涛"],
    ["刘芳", "张国华", "黄磊", "徐静", "孙秀兰"],
    ["刘芳"],
]
# who voted how (app: the head in the app; paper: entered by 李社工), days after the opening
TURNOUT = [
    ("liu", "app", 0), ("chen", "app", 0), ("ma", "app", 0), ("huang", "app", 1), ("zhou", "app", 1),
    ("xu", "app", 2), ("li", "app", 3), ("zhao", "app", 4), ("wang", "app", 6),
    ("zhang", "paper", 2), ("wu", "paper", 2), ("sun", "paper", 5),
]  # fmt: skip
LOT = "孙秀兰"
LOT_NOTE = (
    "投票结束次日晚上在复合空间议事角当众抽签，马俊、孙秀兰两位候选人和5名居民代表在场见证，孙秀兰当选。"
    "马俊表示会继续在空间营造队为大家服务。"
)


async def _election(s: Scene) -> Poll:
    created, published = s.at(-33, "10:00"), s.at(-31, "10:00")
    data = {
        "kind": "election", "title": "第二届院落自治委员会选举", "body": ELECTION_BODY, "electorate": "household",
        "rule": "majority", "secret": True, "seats": 5, "tie_rule": "lot", "objection_days": 3,
        "opens_at": s.at(-28, "09:00"), "closes_at": s.at(-21, "20:00"), "questions": [],
        "candidates": [{"name": name, "statement": statement} for name, statement in CANDIDATES],
    }  # fmt: skip
    # the roll as it was a month ago: the newcomer has joined since
    past = await _past_poll(
        s, data, created=created, published=published, households={s.household(login) for login in RESIDENTS}
    )
    poll = past.poll
    asked, answered = s.at(-30, "20:15"), s.at(-29, "10:30")
    s.session.add(
        PollObjection(
            poll_id=poll.id, user_id=s.users["zhang"].id, status="dismissed",
            body="3栋1单元的老李家在院子里住了二十多年，只是没用小程序，名册上没有他家，他家也该有一票。",
            answer="名册按社区登记的住户生成，李家还没有登记，这次名册不变；已请楼栋长陪他家到社区登记，"
            "登记后也可以用纸质选票参加以后的投票。",
            answered_by=s.staff.id, answered_at=answered, created_at=asked, updated_at=answered,
        )
    )  # fmt: skip
    names = [name for name, _ in CANDIDATES]
    for (login, channel, day), ballot in zip(TURNOUT, BALLOTS, strict=True):
        at = poll.opens_at + timedelta(days=day, hours=2 + len(login))
        answers = [{"question": 0, "options": sorted(names.index(n) for n in ballot), "text": ""}]
        await _vote(
            s, past, s.household(login), answers, at, channel=channel,
            login=login if channel == "app" else None, entered_by=s.staff2,
        )  # fmt: skip
    await _close(s, poll)
    tie = poll.result["election"]["tie"] if poll.result else None
    assert tie is not None and sorted(tie["names"]) == sorted(["马俊", LOT]) and tie["seats_left"] == 1
    # the lot, drawn the next evening, as `results.resolve_tie` records it
    drawn = s.at(-20, "19:30")
    poll.tie_resolution = {
        "how": "lot",
        "elected": [names.index(LOT)],
        "note": LOT_NOTE,
        "by": s.staff.id,
        "at": drawn.astimezone(UTC).isoformat(),
    }
    poll.result = await results.count(s.session, poll)
    poll.updated_at = drawn
    await s.session.flush()
    assert [e["name"] for e in poll.result["election"]["elected"]] == ["刘芳", "张国华", "黄磊", "徐静", LOT]
    return poll


# -- the owners' consultation ---------------------------------------------------------------------------

CHARGERS_BODY = (
    "物业和充电运营商提出，在中心停车场增设20个新能源汽车充电桩：由运营商投资建设、负责运营维护，按电量收费，"
    "每年向小区支付场地使用费，计入全体业主的公共收益。这属于利用共有部分从事经营活动，按《民法典》第二百七十八条，"
    "须经参与表决专有部分面积四分之三以上的业主、且参与表决人数四分之三以上的业主同意。"
    "小区尚未成立业主大会，本次由社区和物业组织意向征询，结果仅供参考，将提交五方议事会讨论。"
    "每套房一票，按房屋登记的专有部分面积计；可在小程序投票，公益志愿队也会上门收集纸质表决票，"
    "不在本地的业主可以书面委托他人代为表决。"
)
CHARGERS_QUESTION = "是否同意在中心停车场增设20个新能源汽车充电桩（运营商投资建设和经营，场地使用费计入小区公共收益）？"
AGREE, AGAINST, ABSTAIN = 0, 1, 2
# the demo's owners: (login, choice, channel, opinion)
OWNERS: list[tuple[str, int, str, str]] = [
    ("chen", AGREE, "app", ""),
    ("zhou", AGREE, "app", "同意，但收费标准要公示，场地使用费每年公开账目。"),
    ("liu", AGAINST, "app", "停车位本来就不够，装了充电桩，燃油车晚上停哪里？"),
    ("zhang", ABSTAIN, "paper", ""),
    ("li", AGREE, "app", ""),
    ("huang", AGREE, "app", "支持，现在充电要开到外面商场，排队一两个小时。"),
    ("wu", AGAINST, "paper", "我们家没有车，充电桩对我们没用，还怕不安全。"),
    ("xu", AGREE, "app", ""),
    ("sun", AGAINST, "paper", "充电桩离5栋太近了，出了事谁负责？"),
    ("ma", AGREE, "app", "同意，最好夜里充电便宜些，错开用电高峰。"),
]
# the other owners, by building: the share who took part, and of them the share who agreed
TAKING_PART = {
    "1栋": (0.70, 0.72), "2栋": (0.72, 0.74), "3栋": (0.69, 0.70),
    "4栋": (0.80, 0.90), "5栋": (0.66, 0.50), "6栋": (0.78, 0.88),
}  # fmt: skip
OPINIONS = {
    AGREE: ["早就该装了，家里的电动汽车只能去外面充。", "同意，施工时注意别占消防通道。"],
    AGAINST: ["担心充电桩着火，离楼太近了。", "车位都不够停，先解决停车再说。", "场地费给了谁、用在哪里，说不清楚。"],
    ABSTAIN: ["建议先在停车场东边试点装几个，看看效果再说。", "希望也考虑一下电瓶车充电，老人骑电瓶车的多。"],
}
# the flats whose owners live elsewhere, on the roll like every flat with an area: nobody in them
# may vote in the app (poll_not_owner) — their owners vote on paper or by proxy. (choice, channel,
# proxy, opinion) by address; 钱女士's landlord, abroad, did not take part
LANDLORDS: dict[tuple[str, str, str], tuple[int, str, str, str]] = {
    ("2栋", "2单元", "702"): (AGREE, "proxy", "王女士（租户，业主书面委托）", "业主在深圳工作，委托租户代为表决。"),
    ("3栋", "2单元", "403"): (AGAINST, "paper", "", "房子租出去了，充电桩用不上，还要占车位。"),
}
# the eight public flats of 5栋: their owner, the district housing office, took part through its
# agent with one written authorisation, abstaining for all eight
HOUSING_OFFICE = ("区房管所经办人（产权单位委托）", "直管公房由区房管所统一表决：弃权，尊重业主的多数意见。")
PROXIES = [
    "王建（业主之子）",
    "李淑芬（业主配偶）",
    "陈刚（受托亲属）",
    "赵敏（业主之女）",
    "刘洋（受托亲属）",
    "杨梅（业主之女）",
]


async def _consultation(s: Scene) -> Poll:
    created, published = s.at(-18, "10:00"), s.at(-17, "10:00")
    data = {
        "kind": "poll", "title": "中心停车场增设新能源汽车充电桩", "body": CHARGERS_BODY, "electorate": "flat",
        "rule": "art278", "special_majority": True, "owners_assembly": False, "secret": False,
        "opens_at": s.at(-16, "09:00"), "closes_at": s.at(-6, "18:00"),
        "questions": [{"text": CHARGERS_QUESTION, "kind": "single", "allow_text": True, "options": [
            {"label": "同意", "approves": True}, {"label": "反对"}, {"label": "弃权"}]}],
    }  # fmt: skip
    past = await _past_poll(s, data, created=created, published=published)
    poll = past.poll
    days = (poll.closes_at - poll.opens_at).days
    for n, (login, choice, channel, opinion) in enumerate(OWNERS):
        at = poll.opens_at + timedelta(days=n % 4, hours=3 + n)
        await _vote(s, past, s.household(login), _answers((choice, opinion)), at, channel=channel,
                    login=login if channel == "app" else None)  # fmt: skip
    # the flats whose owners live elsewhere: the landlords of the rented flats (a proxy, a paper
    # ballot) and the housing office for the public flats, entered by 王社工
    mine = {s.household(login) for login, *_ in OWNERS}
    others = await s.session.execute(
        select(Household.id, Household.building, Household.unit, Household.room)
        .where(Household.id.in_(set(past.electors) - mine))
        .order_by(Household.id)
    )
    by_building: dict[str, list[int]] = {}
    office = 0
    for household_id, building, unit, room in others.all():
        where = (building, unit, room)
        if where in LANDLORDS:
            choice, channel, proxy, opinion = LANDLORDS[where]
            at = poll.opens_at + timedelta(days=2 if channel == "proxy" else 4, hours=5)
            await _vote(s, past, household_id, _answers((choice, opinion)), at, channel=channel, proxy_name=proxy)
        elif where in PUBLIC_HOUSING:
            agent, opinion = HOUSING_OFFICE
            at = poll.opens_at + timedelta(days=3, hours=6, minutes=office)
            await _vote(s, past, household_id, _answers((ABSTAIN, "" if office else opinion)), at,
                        channel="proxy", proxy_name=agent)  # fmt: skip
            office += 1
        elif where not in TENANTS:  # 钱女士's landlord did not take part
            by_building.setdefault(building, []).append(household_id)
    assert office == len(PUBLIC_HOUSING)
    # the other owners: the volunteers went door to door in the evenings; the social workers
    # entered the paper ballots (and the proxies' authorisations) the next morning
    rng = random.Random(278)  # noqa: S311 - demo data
    said: dict[int, int] = {AGREE: 0, AGAINST: 0, ABSTAIN: 0}
    n = 0
    for building, (part, agree) in TAKING_PART.items():
        flats_here = by_building.get(building, [])
        rng.shuffle(flats_here)
        voting_here = flats_here[: round(len(flats_here) * part)]
        agreeing = round(len(voting_here) * agree)
        for k, household_id in enumerate(voting_here):
            choice = AGREE if k < agreeing else (AGAINST if k % 3 else ABSTAIN)
            opinion = ""
            if k % 7 == 3 and said[choice] < len(OPINIONS[choice]):  # a few wrote a line on their ballot
                opinion = OPINIONS[choice][said[choice]]
                said[choice] += 1
            proxy = PROXIES[n // 23 % len(PROXIES)] if n % 23 == 11 else ""
            at = poll.opens_at + timedelta(days=1 + n % (days - 1), minutes=30 + n % 50)
            await _vote(s, past, household_id, _answers((choice, opinion)), at, channel="proxy" if proxy else "paper",
                        entered_by=s.staff if n % 2 else s.staff2, proxy_name=proxy)  # fmt: skip
            n += 1
    await _close(s, poll)
    # what the demo shows: turnout over two thirds of both; by area three quarters agree, by
    # flats not — the threshold is not met, though an area-only count would say it was
    result = poll.result or {}
    assert [t["met"] for t in result["thresholds"]] == [True, True], result["thresholds"]
    outcome = result["questions"][0]["outcome"]
    assert [t["met"] for t in outcome["thresholds"]] == [True, False], outcome["thresholds"]
    return poll


# -- the rooftop garden poll, open --------------------------------------------------------------------

ROOFTOP = {
    "kind": "poll",
    "title": "党群服务站楼顶花园怎么用",
    "body": "党群服务站楼顶约120平方米的平台今年做好了防水，准备改成楼顶花园。怎么用、谁来管、什么时候开放，"
    "请每户投一票（投票结束前可以修改）。投票结束后把结果带到院落议事会上，再商量具体方案和预算。",
    "electorate": "household",
    "rule": "majority",
    "secret": False,
    "questions": [
        {
            "text": "楼顶花园主要做什么用？",
            "kind": "single",
            "allow_text": True,
            "options": [
                {"label": "共享菜园：各户认领一小块地种菜"},
                {"label": "儿童自然角：种植观察、亲子活动"},
                {"label": "休闲花园：花草和座椅，给大家歇歇脚"},
                {"label": "只做绿化，平时不开放"},
            ],
        },
        {
            "text": "由谁来管理？（最多选2项）",
            "kind": "multiple",
            "min_choices": 1,
            "max_choices": 2,
            "options": [
                {"label": "公益志愿队轮流值守"},
                {"label": "认领菜地的家庭自己管"},
                {"label": "物业负责"},
                {"label": "社工统筹安排"},
            ],
        },
        {
            "text": "什么时候开放？",
            "kind": "single",
            "options": [
                {"label": "每天 8:00–20:00"},
                {"label": "只在周末和活动时开放"},
                {"label": "和复合空间一样，周二至周日开放"},
            ],
        },
    ],
}
# (login, channel, hours after the opening, answers, changed to — hours later — or None)
ROOFTOP_VOTES: list[tuple[str, str, int, list[dict[str, Any]], tuple[int, list[dict[str, Any]]] | None]] = [
    ("chen", "app", 1, _answers((1, "孩子们可以种向日葵，顺便认识植物。"), [0, 3], 2), None),
    ("ma", "app", 2, _answers((0, "空间营造队可以帮忙做种植箱。"), [1], 0), None),
    ("huang", "app", 3, _answers(0, [1, 2], 0), (28, _answers(2, [0, 2], 0))),
    ("li", "app", 9, _answers(1, [0, 3], 2), None),
    ("xu", "app", 12, _answers(1, [0, 3], 1), None),
    ("zhang", "paper", 25, _answers((0, "别种太高的东西，楼顶风大。"), [1, 2], 0), None),
    ("wu", "paper", 25, _answers(2, [2], 0), None),
]


async def rooftop_poll(session: AsyncSession, community: Community) -> Poll:
    """The household poll on the rooftop garden, through the services: drafted three days ago,
    published that afternoon, opened by the worker two days ago at 09:00 (its roll taken then), and
    voted on since; it closes in three days."""
    s = await _scene(session, community)
    created, published, opens = s.at(-3, "15:00"), s.at(-3, "16:00"), s.at(-2, "09:00")
    draft = await polls.create_poll(
        session, s.staff, community.id, {**ROOFTOP, "opens_at": opens, "closes_at": s.at(3, "20:00")}
    )
    await polls.publish(session, s.staff, draft["id"])  # its start has passed: it opens now
    poll = await session.get(Poll, draft["id"])
    assert poll is not None and poll.status == "open"
    electors = {
        e.household_id: e.id
        for e in (await session.execute(select(PollElector).where(PollElector.poll_id == poll.id))).scalars()
    }
    voted: dict[int, datetime] = {}
    for login, channel, hours, answers, changed in ROOFTOP_VOTES:
        at = opens + timedelta(hours=hours, minutes=7 * len(login))
        if channel == "app":
            await voting.cast(session, s.users[login], poll.id, answers)
            voted[s.users[login].id] = at
        else:
            await voting.enter(session, s.staff2, poll.id, electors[s.household(login)], channel, answers)
        participation = (
            await session.execute(
                select(PollParticipation).where(
                    PollParticipation.poll_id == poll.id,
                    PollParticipation.elector_id == electors[s.household(login)],
                )
            )
        ).scalar_one()
        participation.created_at = participation.updated_at = at
        if changed is not None:
            later, answers = changed
            await voting.change(session, s.users[login], poll.id, answers)
            await session.execute(
                update(PollBallot)
                .where(PollBallot.participation_id == participation.id)
                .values(changed_at=opens + timedelta(hours=later))
            )
    # back to when it happened: the draft, the publishing, the opening (the roll, the invitations)
    poll.created_at, poll.published_at, poll.roll_taken_at, poll.updated_at = created, published, opens, opens
    cause = polls.job_key(poll.id, "opened")
    await session.execute(update(Notification).where(Notification.cause_key == cause).values(created_at=opens))
    for user_id, at in voted.items():  # who voted in the app opened the invitation first
        await session.execute(
            update(Notification)
            .where(Notification.cause_key == cause, Notification.user_id == user_id)
            .values(read_at=at - timedelta(minutes=3))
        )
    await session.flush()
    return poll


# -- the needs survey -------------------------------------------------------------------------------------

SURVEY_INTRO = (
    "为了办好四点半课堂和假期托管，想听听有孩子的家庭的需求。问卷匿名填写，每户一份，大约5分钟。"
    "调研结果会在院落议事会上公布，用来安排明年的课后服务和活动。也可以到复合空间或四点半课堂填写纸质问卷。"
)
SURVEY_QUESTIONS: list[dict[str, Any]] = [
    {"text": "家里孩子在哪个年龄段？（可多选）", "kind": "multiple",
     "options": ["3–6岁（幼儿园）", "小学1–3年级", "小学4–6年级", "初中"]},
    {"text": "放学后（16:00–18:30）孩子通常由谁照看？", "kind": "single", "allow_other": True,
     "options": ["父母", "祖辈（爷爷奶奶、外公外婆）", "校外托管班或辅导机构", "孩子自己在家"]},
    {"text": "最希望社区提供哪些课后服务？（最多选3项）", "kind": "multiple", "max_choices": 3,
     "allow_other": True, "options": ["四点半课堂（作业辅导）", "寒暑假托管", "阅读和绘本活动", "体育和户外活动",
                                      "兴趣课（书法、美术、手工）", "周末亲子活动"]},
    {"text": "如果社区开设课后托管，能接受的费用是？", "kind": "single",
     "options": ["只能参加免费的", "每月200元以内", "每月200–500元", "每月500元以上也可以"]},
    {"text": "希望托管服务在什么时候？", "kind": "single",
     "options": ["工作日放学后到18:30", "工作日放学后到19:30", "周末", "寒暑假全天"]},
    {"text": "对复合空间儿童阅读区的满意程度（1分很不满意，5分很满意）", "kind": "scale"},
    {"text": "对孩子放学后的安全有多担心？（1分不担心，5分非常担心）", "kind": "scale"},
    {"text": "愿意做志愿者，参与四点半课堂的值守吗？", "kind": "single",
     "options": ["愿意", "时间允许时可以", "暂时不行"]},
    {"text": "对社区的儿童服务还有什么建议？", "kind": "text", "required": False},
]  # fmt: skip
SUGGESTIONS = [
    "我们两口子都上班，五点半才下班，孩子三点半放学就只能在小区里晃，希望四点半课堂每天都能开。",
    "爷爷奶奶辅导不了作业，特别是数学和英语，希望有大学生志愿者帮忙看看。",
    "寒暑假最头疼，两个孩子在家天天看电视、玩手机，希望社区能办假期托管。",
    "阅读角周一闭馆，能不能轮流安排志愿者，周一下午也开一会儿？",
    "中心花园的滑梯坏了还没修好，孩子们放学后没地方玩。",
    "费用希望公开透明，低保家庭和困难家庭能不能减免？",
    "希望多一些户外活动，不要只是写作业，孩子也需要跑一跑。",
    "学校门口到小区要过一条大马路，接送是大问题，希望有志愿者护送一段。",
    "孩子上初中了，也想有个安静的地方自习，复合空间晚上能开到八点吗？",
    "托管的老师和志愿者要有资质，安全第一，孩子进出要登记。",
    "周末的亲子活动很好，希望名额多一点，每次一报名就满了。",
    "孩子性格内向，希望有些小组活动，让他多交几个朋友。",
    "我是外公，平时接孙女，愿意在四点半课堂帮忙看着孩子。",
    "能不能和学校联系一下，作业辅导和学校的要求对上，别两边不一样。",
    "希望教孩子一些安全知识，防火、防溺水、过马路这些。",
    "家里老人身体不好，周末也需要有人帮忙带一下孩子，哪怕两三个小时也好。",
    "书法和美术班孩子很喜欢，希望能长期办下去。",
    "希望四点半课堂能准备一点简单的点心，孩子放学回来很饿。",
    "楼顶花园要是做成自然角，孩子们可以去种菜、看虫子。",
    "周末能不能组织孩子们走出社区，去博物馆、科技馆看看。",
    "托管时间能不能灵活一点，有时候加班要七点多才能到。",
    "家长也需要交流，希望办几次家庭教育讲座，讲讲怎么和青春期的孩子沟通。",
    "孩子才上幼儿园，希望也有适合小小孩的绘本时间。",
]
OTHER_CARERS = ["邻居帮忙接，轮流照看", "上初中的哥哥带着"]
OTHER_NEEDS = ["心理辅导", "编程和科学小实验", "游泳"]
# who answered in the app (days after the opening), and the paper questionnaires by building and
# the day they were entered (after the after-school class, the courtyard meeting, the school gate)
IN_APP = [("chen", 0), ("zhou", 0), ("li", 1), ("huang", 1), ("ma", 2), ("liu", 3), ("zhao", 5), ("xu", 8)]
ON_PAPER = {"1栋": 6, "2栋": 5, "3栋": 9, "4栋": 8, "5栋": 3, "6栋": 1}
PAPER_DAYS = (2, 5, 7, 10)


def _pick(rng: random.Random, weights: tuple[int, ...], k: int) -> list[int]:
    """k different options, the likelier by their weights."""
    pool = list(range(len(weights)))
    chosen = []
    for _ in range(k):
        choice = rng.choices(pool, weights=[weights[i] for i in pool])[0]
        chosen.append(choice)
        pool.remove(choice)
    return sorted(chosen)


def _survey_answers(rng: random.Random, n: int, suggestion: str) -> list[dict[str, Any]]:
    """One questionnaire: mostly families of primary-school children, looked after by grandparents."""
    answers: list[dict[str, Any]] = [{"question": 0, "options": _pick(rng, (14, 34, 34, 18), rng.choice((1, 1, 2)))}]
    carer = _pick(rng, (30, 42, 14, 10), 1)
    if n in (17, 29):  # two wrote in who looks after theirs
        answers.append({"question": 1, "other": OTHER_CARERS[n // 20]})
    else:
        answers.append({"question": 1, "options": carer})
    needs = _pick(rng, (40, 22, 14, 18, 16, 12), rng.choice((2, 3, 3)))
    if n % 13 == 6:  # three wrote in a need of their own
        answers.append({"question": 2, "options": needs[:2], "other": OTHER_NEEDS[n // 13]})
    else:
        answers.append({"question": 2, "options": needs})
    answers.append({"question": 3, "options": _pick(rng, (25, 45, 24, 6), 1)})
    answers.append({"question": 4, "options": _pick(rng, (40, 24, 12, 24), 1)})
    answers.append({"question": 5, "scale": rng.choices((2, 3, 4, 5), weights=(4, 20, 46, 30))[0]})
    answers.append({"question": 6, "scale": rng.choices((2, 3, 4, 5), weights=(8, 26, 38, 28))[0]})
    answers.append({"question": 7, "options": _pick(rng, (22, 40, 38), 1)})
    if suggestion:
        answers.append({"question": 8, "text": suggestion})
    return answers


async def _survey(s: Scene, project: ServiceProject) -> Survey:
    """Through the services, then moved back to the days it happened: drafted thirteen days ago,
    opened the next morning, answered since; closed by staff today, four days before its set close,
    so that its results (an anonymous survey's come only once it has ended) can be read."""
    session = s.session
    created, opened = s.at(-13, "16:00"), s.at(-12, "09:30")
    draft = await surveys.create_survey(
        session,
        s.staff,
        s.community.id,
        {
            "title": "社区儿童托管和课后服务需求调研",
            "intro": SURVEY_INTRO,
            "anonymous": True,
            "unit": "household",
            "closes_at": s.at(4, "18:00"),
            "project_id": project.id,
            "questions": SURVEY_QUESTIONS,
        },
    )
    survey_id = draft["id"]
    await surveys.open_survey(session, s.staff, survey_id)
    rng = random.Random(40)  # noqa: S311 - demo data
    words = iter(SUGGESTIONS)  # most wrote something; the others left the last question blank

    def answers(n: int) -> list[dict[str, Any]]:
        return _survey_answers(rng, n, next(words, "") if n % 7 in (0, 1, 3, 5) else "")

    seen: set[int] = set()

    async def dated(day: int) -> None:
        """The response just kept, on the day it came."""
        ids = set(
            (await session.execute(select(SurveyResponse.id).where(SurveyResponse.survey_id == survey_id))).scalars()
        )
        (new,) = ids - seen
        seen.add(new)
        await session.execute(
            update(SurveyResponse)
            .where(SurveyResponse.id == new)
            .values(submitted_on=(opened + timedelta(days=day)).astimezone(s.tz).date())
        )

    n = 0
    read: dict[int, datetime] = {}
    for login, day in IN_APP:
        await surveys.respond(session, s.users[login], survey_id, answers(n))
        await dated(day)
        read[s.users[login].id] = opened + timedelta(days=day, hours=11)
        n += 1
    batches = [(building, k) for building, count in ON_PAPER.items() for k in range(count)]
    for k, (building, _) in enumerate(batches):
        await surveys.enter_paper(session, s.staff2, survey_id, answers(n), building=building)
        await dated(PAPER_DAYS[k % len(PAPER_DAYS)])
        n += 1
    survey = await session.get(Survey, survey_id)
    assert survey is not None and n == 40
    survey.created_at, survey.opens_at, survey.updated_at = created, opened, opened
    cause = surveys.opened_cause(survey)
    await session.execute(update(Notification).where(Notification.cause_key == cause).values(created_at=opened))
    # the newcomer joined after it opened: she was not invited
    residents = [s.users[login].id for login in RESIDENTS]
    await session.execute(
        delete(Notification).where(Notification.cause_key == cause, Notification.user_id.not_in(residents))
    )
    for user_id, at in read.items():
        await session.execute(
            update(Notification)
            .where(Notification.cause_key == cause, Notification.user_id == user_id)
            .values(read_at=at)
        )
    await session.flush()
    await surveys.close_survey(session, s.staff, survey_id)
    await session.refresh(survey)
    return survey


async def votes(session: AsyncSession, community: Community, project: ServiceProject) -> None:
    """The flats, the election, the owners' consultation and the needs survey (see the docstring)."""
    s = await _scene(session, community)
    await _flats(s)
    await _election(s)
    await _consultation(s)
    await _survey(s, project)
    await session.flush()
