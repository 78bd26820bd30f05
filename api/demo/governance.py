"""The demo's governance (议事协商): a dozen concerns (烦心事) of B社区's residents from the field
reports' world — an old compound's e-bikes charging in the stairwell, boxes piled in the
corridors, a broken slide, square dancing at night, rubbish sorting, dark street lamps, dog mess,
too few parking spaces, a leak — in every state of their triage, and the five-party meetings
(五方议事会) that act on them: one held last month with its minutes, decisions and follow-ups, one
coming with the waiting level-3 concern on its agenda.

Written directly as the concerns and meetings services would have written it at the time (the
past cannot be raised, triaged or minuted through the API), against the real clock: every change
of a concern is an event of its timeline, its counters (me too, comments, reopenings) agree with
the rows, its clocks come from `governance.common` (`accept_deadline`, `resolution_deadline`),
and the late ones are left for the worker to flag (`late_flagged_at` unset). Notifications of
these past changes are not written: the residents' inboxes start from today.

The concerns (days before today; the meeting held last month is day H):
   1 submitted now, a few hours ago           楼道里给电动车充电 (zhou, 1栋; chen: me too, a comment)
   2 submitted 6 days ago, its clock run out  5栋门口路灯不亮 (xu; sun: me too)
   3 accepted, level 1 (物业保洁)             3栋楼道堆满纸箱和旧家具 (zhang, name hidden)
   4 accepted late, level 2 (工作小组)        垃圾分类点太远 (recorded by 李社工 at a 坝坝会; wu: me too)
   5 accepted, level 3, waiting → on the coming meeting's agenda   停车位太少 (ma; huang, zhou)
   6 in progress, level 1 (物业维修)          儿童游乐区滑梯开裂 (li; a comment)
   7 level 3, decided at last month's meeting → in progress        电动车乱停、充电难 (huang)
   8 resolved: solved ×2, partly ×1           广场舞音响太吵 (huang; wang, sun: me too)
   9 resolved: solved                          中心花园的宠物粪便 (wang, name hidden)
  10 resolved, "not solved" → reopened, due date moved   单元门禁坏了 (sun; zhao: me too)
  11 accepted, then unresolvable (reason)     希望后门24小时开放 (wu)
  12 referred to 街道城管                      小区门口流动摊贩占道 (zhao)
  13 duplicate of 8                            晚上跳广场舞太吵 (zhao)
  14 resolved long ago, closed by the worker  2栋地下室管道漏水 (liu)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import (
    AgendaItem,
    Community,
    Concern,
    ConcernComment,
    ConcernSupporter,
    ConcernVerdict,
    Decision,
    FollowUp,
    Meeting,
    MeetingParticipant,
    User,
)
from api.services.governance.common import (
    DECISION_METHOD_LABELS,
    FOLLOW_UP_STATUS_LABELS,
    LEVEL_LABELS,
    MEETING_KIND_LABELS,
    STATUS_LABELS,
    VERDICT_LABELS,
    Clocks,
    accept_deadline,
    add_event,
    clocks,
    resolution_deadline,
)

PLACE = "B社区复合空间议事角"


@dataclass
class Scene:
    session: AsyncSession
    community: Community
    tz: ZoneInfo
    now: datetime
    today: date
    policy: Clocks
    users: dict[str, User]

    def at(self, day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), self.tz)

    def ago(self, days: int, hhmm: str) -> datetime:
        return self.at(self.today - timedelta(days=days), hhmm)

    def user(self, login: str) -> User:
        return self.users[login]

    @property
    def staff(self) -> User:
        return self.users["staff"]


def held_day(today: date) -> date:
    """Last month's five-party meeting: the Friday a week before the month's last Friday (at least
    eight days ago, so that its follow-ups have had their due dates)."""
    last = today.replace(day=1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 4) % 7) - timedelta(days=7)


def coming_day(today: date) -> date:
    """The next five-party meeting: the first Friday at least a week away."""
    day = today + timedelta(days=7)
    return day + timedelta(days=(4 - day.weekday()) % 7)


# -- a concern's life, as the service writes it ---------------------------------------------------


async def _raise(
    s: Scene,
    login: str,
    at: datetime,
    category: str,
    building: str,
    title: str,
    body: str,
    *,
    place: str = "",
    hide_name: bool = False,
    by_staff: bool = False,
) -> Concern:
    concern = Concern(
        community_id=s.community.id,
        raised_by=s.user(login).id,
        category=category,
        building=building,
        place=place,
        title=title,
        body=body,
        hide_name=hide_name,
        by_staff=by_staff,
        visibility="visible",
        text_verdict="pass",
        status="submitted",
        accept_by=accept_deadline(at, s.policy, s.tz),
        created_at=at,
        updated_at=at,
    )
    s.session.add(concern)
    await s.session.flush()
    add_event(s.session, concern, "submitted", s.user(login), at=at, data={"status": [None, "submitted"]})
    return concern


def _move(s: Scene, concern: Concern, status: str, at: datetime) -> list[str | None]:
    change: list[str | None] = [concern.status, status]
    concern.status, concern.updated_at = status, at
    return change


def _accept(
    s: Scene,
    concern: Concern,
    at: datetime,
    level: int,
    responsible: str,
    *,
    by: str = "staff",
    due: datetime | None = None,
) -> None:
    change = _move(s, concern, "accepted", at)
    concern.level, concern.responsible, concern.triaged_by = level, responsible, s.user(by).id
    concern.responded_at = concern.responded_at or at
    concern.due_at = due or resolution_deadline(at, level, s.policy)
    concern.late_flagged_at = None  # a new clock
    add_event(
        s.session,
        concern,
        "accepted",
        s.user(by),
        at=at,
        body=f"已受理：{LEVEL_LABELS[level]}，由{responsible}负责",
        data={
            "status": change,
            "level": [None, level],
            "responsible": responsible,
            "due_at": concern.due_at.isoformat(),
        },
    )


def _start(s: Scene, concern: Concern, at: datetime, body: str = "", actor: User | None = None) -> None:
    change = _move(s, concern, "in_progress", at)
    add_event(s.session, concern, "in_progress", actor or s.staff, at=at, body=body, data={"status": change})


def _update(s: Scene, concern: Concern, at: datetime, body: str) -> None:
    concern.updated_at = at
    add_event(s.session, concern, "update", s.staff, at=at, body=body)


def _resolve(s: Scene, concern: Concern, at: datetime, result: str) -> None:
    change = _move(s, concern, "resolved", at)
    concern.outcome, concern.resolved_at, concern.result = "resolved", at, result
    add_event(s.session, concern, "resolved", s.staff, at=at, body=result, data={"status": change})


def _turn_down(s: Scene, concern: Concern, at: datetime, outcome: str, body: str, **fields: Any) -> None:
    change = _move(s, concern, outcome, at)
    concern.outcome = outcome
    concern.responded_at = concern.responded_at or at
    for name, value in fields.items():
        setattr(concern, name, value)
    add_event(s.session, concern, outcome, s.staff, at=at, body=body, data={"status": change, **fields})


def _close(s: Scene, concern: Concern, at: datetime) -> None:
    """Closed by the worker once the reopening window had passed (no actor)."""
    change = _move(s, concern, "closed", at)
    concern.closed_at = at
    add_event(
        s.session,
        concern,
        "closed",
        None,
        at=at,
        body=f"{s.policy.reopen_days} 天内没有人表示没有解决，自动关闭",
        data={"status": change, "outcome": concern.outcome},
    )


async def _metoo(s: Scene, concern: Concern, login: str, at: datetime) -> None:
    s.session.add(ConcernSupporter(concern_id=concern.id, user_id=s.user(login).id, created_at=at))
    concern.metoo_count += 1


async def _comment(s: Scene, concern: Concern, login: str, at: datetime, body: str, hide_name: bool = False) -> None:
    s.session.add(
        ConcernComment(
            concern_id=concern.id,
            author_id=s.user(login).id,
            body=body,
            hide_name=hide_name,
            visibility="visible",
            text_verdict="pass",
            created_at=at,
            updated_at=at,
        )
    )
    concern.comment_count += 1


async def _verdict(
    s: Scene, concern: Concern, login: str, at: datetime, answer: str, stars: int, word: str = ""
) -> ConcernVerdict:
    verdict = ConcernVerdict(
        concern_id=concern.id,
        user_id=s.user(login).id,
        round=concern.reopen_count,
        answer=answer,
        stars=stars,
        word=word,
        raiser=concern.raised_by == s.user(login).id,
        created_at=at,
    )
    s.session.add(verdict)
    await s.session.flush()
    # the answer is public; the word only for staff (on the verdict)
    add_event(
        s.session,
        concern,
        "verdict",
        s.user(login),
        at=at,
        body=f"{VERDICT_LABELS[answer]} · {stars} 星",
        data={"verdict_id": verdict.id, "answer": answer, "stars": stars, "round": verdict.round},
    )
    return verdict


def _reopen(s: Scene, concern: Concern, login: str, at: datetime) -> None:
    change = _move(s, concern, "in_progress", at)
    concern.outcome = None
    concern.reopen_count += 1
    concern.reopened_at = at
    add_event(
        s.session,
        concern,
        "reopened",
        s.user(login),
        at=at,
        body="居民表示没有解决，重新办理",
        data={"status": change, "round": concern.reopen_count},
    )


# -- the concerns -------------------------------------------------------------------------------


async def _concerns(s: Scene, held: date) -> dict[str, Concern]:
    c: dict[str, Concern] = {}
    ago = s.ago

    # 1: raised a few hours ago, nobody has answered yet
    raised = s.now - timedelta(hours=3)
    c["charging"] = await _raise(
        s, "zhou", raised, "safety", "1栋", "楼道里给电动车充电，怕起火",
        "1栋2单元有邻居把电动车推进楼道充电，电线从窗户拉进来，晚上一直充着，楼道又窄，真怕出事。",
    )  # fmt: skip
    await _metoo(s, c["charging"], "chen", raised + timedelta(minutes=40))
    await _comment(s, c["charging"], "chen", raised + timedelta(minutes=42), "我们1单元也有，晚上下楼都要侧着身子过。")

    # 2: six days ago, not answered in time: late
    c["lamp"] = await _raise(
        s, "xu", ago(6, "20:30"), "repair", "5栋", "5栋门口路灯不亮",
        "5栋单元门口的路灯坏了快一个星期，晚上接孩子回来黑漆漆的，老人也怕摔。",
    )  # fmt: skip
    await _metoo(s, c["lamp"], "sun", ago(5, "08:15"))

    # 3: accepted at level 1, the property's cleaners; the raiser hid her name
    c["boxes"] = await _raise(
        s, "zhang", ago(3, "09:10"), "sanitation", "3栋", "3栋楼道堆满纸箱和旧家具",
        "3栋1单元三楼到五楼的楼道里堆了纸箱、旧沙发和花盆，消防通道都堵了一半。", hide_name=True,
    )  # fmt: skip
    _accept(s, c["boxes"], ago(2, "10:00"), 1, "物业（保洁班）")

    # 4: recorded by a social worker at the courtyard meeting; accepted late, at level 2
    c["sorting"] = await _raise(
        s, "staff2", ago(8, "19:40"), "sanitation", "4栋", "垃圾分类点太远，老人倒垃圾不方便",
        "坝坝会上4栋几位老人反映：撤桶并点后最近的分类点在小区西门，来回要走十分钟，下雨天更难。",
        by_staff=True,
    )  # fmt: skip
    await _metoo(s, c["sorting"], "wu", ago(7, "09:00"))
    _accept(s, c["sorting"], ago(3, "16:00"), 2, "垃圾分类工作小组", by="staff2")

    # 14: a leak, resolved long ago and closed by the worker after the reopening window
    c["leak"] = await _raise(
        s, "liu", ago(40, "08:30"), "repair", "2栋", "2栋地下室管道漏水",
        "2栋地下室的水管接头一直在滴水，地面积水发臭，还有蚊子。",
    )  # fmt: skip
    _accept(s, c["leak"], ago(39, "10:00"), 1, "物业（维修班）")
    _start(s, c["leak"], ago(38, "14:00"), "维修师傅已到现场，先关阀止水。")
    _resolve(s, c["leak"], ago(36, "17:00"), "更换了地下室两处水管接头，积水已清理并消杀。")
    await _verdict(s, c["leak"], "liu", ago(35, "09:00"), "solved", 4, "修得挺快，谢谢师傅。")
    _close(s, c["leak"], ago(35 - s.policy.reopen_days, "03:00"))  # the night after the window closed

    # 8: square dancing at night, a level-2 working group; resolved, with a "partly"
    c["dancing"] = await _raise(
        s, "huang", ago(10, "21:30"), "noise", "4栋", "广场舞音响太吵",
        "每天晚上广场舞的音响开到很大，九点半还没停，孩子写作业、老人睡觉都受影响。", place="小区广场",
    )  # fmt: skip
    await _metoo(s, c["dancing"], "wang", ago(10, "22:05"))
    await _metoo(s, c["dancing"], "sun", ago(9, "07:30"))
    _accept(s, c["dancing"], ago(9, "10:00"), 2, "文体队与物业工作小组")
    _start(s, c["dancing"], ago(9, "15:00"), "工作小组约了广场舞队的领队，周五晚上一起商量。")
    _update(s, c["dancing"], ago(7, "21:00"), "已和广场舞队商量：时间改为19:00–20:30，音量由物业用分贝仪把关。")
    _resolve(s, c["dancing"], ago(4, "10:00"),
             "广场舞队同意19:00–20:30活动、音量不超过55分贝；物业每周抽查两次，结果在公告栏公示。")  # fmt: skip
    await _verdict(s, c["dancing"], "huang", ago(3, "21:00"), "partly", 3, "工作日好多了，周末还是到九点多。")
    await _verdict(s, c["dancing"], "wang", ago(3, "21:40"), "solved", 5)
    await _verdict(s, c["dancing"], "sun", ago(2, "08:00"), "solved", 4, "安静多了。")

    # 13: the same complaint again: a duplicate of 8
    c["dancing2"] = await _raise(
        s, "zhao", ago(9, "21:50"), "noise", "3栋", "晚上跳广场舞太吵", "广场那边的音乐太大声了，能不能管一管。",
        place="小区广场",
    )  # fmt: skip
    same = "和「广场舞音响太吵」是同一件事，合并处理，请关注那一条的进展。"
    _turn_down(s, c["dancing2"], ago(8, "09:30"), "duplicate", same, duplicate_of=c["dancing"].id)

    # 9: dog mess in the central garden, level 1 with the volunteers; resolved, name hidden
    c["dogs"] = await _raise(
        s, "wang", ago(13, "07:50"), "sanitation", "2栋", "中心花园的宠物粪便没人清理",
        "中心花园草坪上经常有狗狗的粪便，孩子在那里玩很容易踩到。", place="中心花园", hide_name=True,
    )  # fmt: skip
    _accept(s, c["dogs"], ago(12, "10:00"), 1, "公益志愿队")
    _start(s, c["dogs"], ago(11, "16:00"), "志愿队在花园入口装了粪便袋取用盒，并开始每天傍晚巡查。")
    _resolve(s, c["dogs"], ago(6, "18:00"), "花园三个入口都放了粪便袋，张贴了文明养犬提示，志愿队每天傍晚巡查一次。")
    await _verdict(s, c["dogs"], "wang", ago(5, "08:30"), "solved", 5, "干净多了，谢谢志愿者！")

    # 10: the entrance gate: resolved, "not solved" within the window → reopened, its due date moved
    c["gate"] = await _raise(
        s, "sun", ago(16, "18:20"), "safety", "5栋", "5栋单元门禁坏了，陌生人随便进",
        "5栋2单元的门禁刷卡没反应，门一直关不上，经常有发小广告的人进来。",
    )  # fmt: skip
    await _metoo(s, c["gate"], "zhao", ago(16, "20:00"))
    _accept(s, c["gate"], ago(15, "10:00"), 1, "物业（维修班）")
    _resolve(s, c["gate"], ago(10, "16:00"), "更换了门禁的电磁锁，门已经可以正常关闭。")
    await _verdict(s, c["gate"], "sun", ago(9, "19:00"), "not_solved", 1, "锁换了，但刷卡还是时灵时不灵。")
    _reopen(s, c["gate"], "sun", ago(9, "19:00"))
    due = ago(-5, "18:00")
    add_event(
        s.session, c["gate"], "level", s.staff, at=ago(5, "11:00"), body="读卡器需要厂家更换，处理期限延后",
        data={"due_at": [c["gate"].due_at.isoformat() if c["gate"].due_at else None, due.isoformat()]},
    )  # fmt: skip
    c["gate"].due_at = due
    _update(s, c["gate"], ago(5, "11:00"), "已联系门禁厂家，读卡器主板下周更换。")

    # 11: the back gate open all night: accepted, then cannot be done
    c["backgate"] = await _raise(
        s, "wu", ago(11, "10:15"), "other", "4栋", "希望后门24小时开放",
        "后门晚上十点就锁了，从菜市场回来要绕一大圈。",
    )  # fmt: skip
    _accept(s, c["backgate"], ago(10, "10:00"), 2, "社区与物业")
    _turn_down(
        s, c["backgate"], ago(7, "15:00"), "unresolvable", "暂时无法解决",
        reason="后门外是没有路灯的小巷，夜间开放存在安全隐患；经物业和居民代表商议维持22:00关门，"
        "已在后门加装呼叫门铃，晚归可呼叫值班保安开门。",
    )  # fmt: skip

    # 12: street vendors at the gate: not the community's to solve, referred
    c["vendors"] = await _raise(
        s, "zhao", ago(9, "20:10"), "other", "3栋", "小区门口流动摊贩占道，晚上油烟大",
        "每天傍晚小区正门两边都是烧烤摊，占了人行道，油烟飘到3栋楼上。",
    )  # fmt: skip
    _turn_down(s, c["vendors"], ago(8, "10:30"), "referred", "占道经营由街道城管负责，已转交并附上照片和时段。",
               referred_to="街道城管（综合执法中队）")  # fmt: skip

    # 6: a broken slide in the children's play area: level 1, in progress
    c["slide"] = await _raise(
        s, "li", ago(5, "17:30"), "children_elders", "", "儿童游乐区滑梯开裂",
        "中心花园儿童游乐区的滑梯侧面开裂了，有尖角，孩子玩的时候容易划伤。", place="中心花园儿童游乐区",
    )  # fmt: skip
    await _comment(s, c["slide"], "zhou", ago(5, "19:00"), "乐乐昨天就在那里划了一下，希望早点修好。")
    _accept(s, c["slide"], ago(4, "10:00"), 1, "物业（维修班）")
    _start(s, c["slide"], ago(3, "09:00"), "已拉警戒线暂停使用，配件已向厂家订购。")

    # 7: e-bikes everywhere and nowhere to charge: level 3, on last month's five-party meeting
    c["ebikes"] = await _raise(
        s, "huang", s.at(held - timedelta(days=10), "20:00"), "parking", "4栋", "电动车乱停乱放、充电难",
        "4栋到6栋之间的通道停满了电动车，消防车都进不来；大家说不是不想停车棚，是车棚没有充电的地方。",
    )  # fmt: skip
    await _metoo(s, c["ebikes"], "ma", s.at(held - timedelta(days=10), "21:10"))
    await _metoo(s, c["ebikes"], "zhang", s.at(held - timedelta(days=9), "07:40"))
    _accept(s, c["ebikes"], s.at(held - timedelta(days=9), "10:00"), 3, "五方议事会")

    # 5: too few parking spaces: level 3 after last month's meeting: waits for the next one
    c["parking"] = await _raise(
        s, "ma", s.at(held + timedelta(days=1), "21:00"), "parking", "6栋", "小区停车位太少，外来车占位",
        "晚上八点以后小区里基本找不到车位，有些外来车长期停着不走。能不能给业主车辆登记、外来车限时？",
    )  # fmt: skip
    await _metoo(s, c["parking"], "huang", s.at(held + timedelta(days=2), "08:10"))
    await _metoo(s, c["parking"], "zhou", s.at(held + timedelta(days=2), "12:30"))
    await _comment(s, c["parking"], "huang", s.at(held + timedelta(days=2), "08:12"),
                   "建议白天上班时把空着的车位共享给外来办事的车，晚上留给住户。", hide_name=True)  # fmt: skip
    _accept(s, c["parking"], s.at(held + timedelta(days=2), "10:00"), 3, "五方议事会")
    await s.session.flush()
    return c


# -- the meetings -------------------------------------------------------------------------------

# (party, name, role, login or None, present at last month's meeting)
PARTICIPANTS: list[tuple[str, str, str, str | None, bool]] = [
    ("community", "杨书记", "社区党委书记", None, True),
    ("community", "陈主任", "社区居委会副主任", None, True),
    ("property", "王经理", "物业项目经理", None, True),
    ("social_worker", "王社工", "社工（主持）", "staff", True),
    ("social_worker", "李社工", "社工（记录）", "staff2", True),
    ("self_org", "刘阿姨", "公益志愿队队长", "liu", True),
    ("self_org", "马爸爸", "空间营造队", "ma", False),
    ("resident_rep", "张大爷", "3栋楼栋长", "zhang", True),
    ("resident_rep", "黄先生", "4栋居民代表", "huang", True),
    ("resident_rep", "徐妈妈", "5栋居民代表", "xu", True),
]


def _meeting(s: Scene, title: str, start: datetime, status: str, created: datetime, **fields: Any) -> Meeting:
    meeting = Meeting(
        community_id=s.community.id,
        kind="five_party",
        title=title,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        place=PLACE,
        status=status,
        created_by=s.staff.id,
        created_at=created,
        updated_at=fields.pop("updated_at", created),
        **fields,
    )
    s.session.add(meeting)
    return meeting


async def _participants(s: Scene, meeting: Meeting, start: datetime, held: bool) -> None:
    for n, (party, name, role, login, present) in enumerate(PARTICIPANTS):
        checked_in = start - timedelta(minutes=15 - n) if held and present else None
        s.session.add(
            MeetingParticipant(
                meeting_id=meeting.id,
                party=party,
                name=name,
                role=role,
                user_id=s.user(login).id if login else None,
                checked_in_at=checked_in,
                # those with the app scanned the meeting's code; staff ticked the others
                checkin_method=None if checked_in is None else ("self" if login else "staff"),
                created_at=meeting.created_at,
                updated_at=checked_in or meeting.created_at,
            )
        )


def _on_agenda(s: Scene, concern: Concern, meeting: Meeting, item: AgendaItem, at: datetime) -> None:
    """What `common.place_on_agenda` writes on the concern's timeline."""
    add_event(
        s.session,
        concern,
        "agenda",
        s.staff,
        at=at,
        body=f"已列入{MEETING_KIND_LABELS[meeting.kind]}「{meeting.title}」的议程",
        data={"meeting_id": meeting.id, "agenda_item_id": item.id},
    )


async def _held(s: Scene, c: dict[str, Concern], day: date) -> Meeting:
    """Last month's five-party meeting, its minutes published two days later."""
    start = s.at(day, "19:00")
    published = s.at(day + timedelta(days=2), "10:00")
    meeting = _meeting(
        s, f"{day.month}月五方议事会", start, "minutes_published", s.at(day - timedelta(days=12), "10:00"),
        walkin_count=7, agenda_published_at=s.at(day - timedelta(days=7), "10:00"), held_at=start + timedelta(hours=2),
        minutes_published_at=published, updated_at=published,
        summary="杨书记主持，社区、物业、社工、居民自组织和居民代表五方代表9人到会（马爸爸请假），另有7位居民旁听。"
        "会议通报了上月跟进事项，讨论了两项议题，形成两项决议。",
    )  # fmt: skip
    await s.session.flush()
    await _participants(s, meeting, start, held=True)
    ebikes = c["ebikes"]
    item1 = AgendaItem(
        meeting_id=meeting.id, position=0, title=ebikes.title, body=ebikes.body[:500], concern_id=ebikes.id,
        minutes="物业介绍了6栋东侧车棚的改造方案和费用；居民代表认为充电口至少要12个，收费要公开；"
        "社区表示可以协调电力报装。大家同意先建充电棚，再清理通道。",
        created_at=s.at(day - timedelta(days=9), "10:00"), updated_at=published,
    )  # fmt: skip
    item2 = AgendaItem(
        meeting_id=meeting.id, position=1, title="楼道堆物清理公约",
        body="社工起草的《楼道堆物清理公约》征求意见稿。",
        minutes="逐条讨论了公约草案，删去了罚款条款，改为志愿队上门劝导；举手表决通过。",
        created_at=s.at(day - timedelta(days=12), "10:00"), updated_at=published,
    )  # fmt: skip
    s.session.add_all([item1, item2])
    await s.session.flush()
    _on_agenda(s, ebikes, meeting, item1, s.at(day - timedelta(days=9), "10:00"))

    d1 = Decision(
        meeting_id=meeting.id, agenda_item_id=item1.id, method="consensus", created_by=s.staff.id,
        text="在6栋东侧车棚加装12个充电口，电动车一律进棚充电；物业负责施工，社区协调电力报装，收费标准公示后执行。",
        created_at=start + timedelta(hours=2), updated_at=published,
    )  # fmt: skip
    d2 = Decision(
        meeting_id=meeting.id, agenda_item_id=item2.id, method="vote", votes_for=14, votes_against=2, votes_abstain=1,
        created_by=s.staff.id,
        text="通过《楼道堆物清理公约》：每月最后一个周六集中清理，逾期未清的由公益志愿队协助清运。",
        created_at=start + timedelta(hours=2), updated_at=published,
    )  # fmt: skip
    s.session.add_all([d1, d2])
    await s.session.flush()

    def follow_up(
        decision: Decision, title: str, party: str, owner: str, due: date, status: str, *, login: str | None = None,
        done: datetime | None = None, note: str = "",
    ) -> FollowUp:  # fmt: skip
        row = FollowUp(
            community_id=s.community.id, decision_id=decision.id, title=title, owner_party=party, owner_name=owner,
            owner_user_id=s.user(login).id if login else None, due_on=due, status=status, note=note, done_at=done,
            created_at=start + timedelta(hours=2), updated_at=done or published,
        )  # fmt: skip
        s.session.add(row)
        return row

    ups = [
        follow_up(d1, "物业提交充电棚施工方案并在公告栏公示", "property", "王经理（物业）", day + timedelta(days=7),
                  "done", done=s.at(day + timedelta(days=6), "16:00"), note="方案已公示，居民无异议。"),
        # its due date passed and it is still open: late (the worker flags it)
        follow_up(d1, "向供电所申请充电棚电力报装", "community", "杨书记（社区）", day + timedelta(days=5), "open"),
        follow_up(d1, "充电棚施工并投入使用", "property", "王经理（物业）", s.today + timedelta(days=20),
                  "in_progress", note="立柱和顶棚材料已进场。"),
        follow_up(d2, "张贴公约并逐户告知", "self_org", "公益志愿队", day + timedelta(days=3), "done", login="liu",
                  done=s.at(day + timedelta(days=3), "20:30"), note="3栋至6栋已全部张贴，走访了42户。"),
        follow_up(d2, "组织第一次楼道集中清理", "self_org", "公益志愿队", s.today + timedelta(days=15), "open",
                  login="liu"),
        follow_up(d2, "在楼道加装监控", "property", "王经理（物业）", day + timedelta(days=20), "dropped",
                  note="费用过高、涉及住户隐私，经议事会同意改为志愿队每周巡查。"),
    ]  # fmt: skip
    await s.session.flush()

    # the minutes published: the decision on the concern's timeline, with its follow-ups; an
    # accepted concern moves to in progress
    lines = "；".join(
        f"{f.title}（{f.owner_name}，{f.due_on:%m月%d日}前，{FOLLOW_UP_STATUS_LABELS['open']}）" for f in ups[:3]
    )
    add_event(
        s.session, ebikes, "decision", s.staff, at=published,
        body=f"{DECISION_METHOD_LABELS[d1.method]}：{d1.text} 跟进：{lines}",
        data={"meeting_id": meeting.id, "decision_id": d1.id, "follow_up_ids": [f.id for f in ups[:3]]},
    )  # fmt: skip
    _start(s, ebikes, published, actor=s.staff)
    _update(s, ebikes, s.at(day + timedelta(days=6), "16:30"), "充电棚施工方案已在公告栏公示，欢迎提意见。")
    return meeting


async def _coming(s: Scene, c: dict[str, Concern], day: date) -> Meeting:
    """Next five-party meeting, created three days ago: it took up the waiting level-3 concern."""
    created = s.ago(3, "10:00")
    meeting = _meeting(
        s, f"{day.month}月五方议事会", s.at(day, "19:00"), "agenda_published", created,
        agenda_published_at=s.ago(2, "10:00"), updated_at=s.ago(2, "10:00"),
    )  # fmt: skip
    await s.session.flush()
    await _participants(s, meeting, meeting.starts_at, held=False)
    parking = c["parking"]
    items = [
        AgendaItem(meeting_id=meeting.id, position=0, title=parking.title, body=parking.body[:500],
                   concern_id=parking.id, created_at=created, updated_at=created),
        AgendaItem(meeting_id=meeting.id, position=1, title="通报上月跟进事项",
                   body="充电棚方案、电力报装、楼道清理的进展。", created_at=created, updated_at=created),
        AgendaItem(meeting_id=meeting.id, position=2, title="复合空间寒假开放时间",
                   body="寒假期间是否延长开放到晚上八点，需要多少志愿者值班。", created_at=created, updated_at=created),
    ]  # fmt: skip
    s.session.add_all(items)
    await s.session.flush()
    _on_agenda(s, parking, meeting, items[0], created)
    return meeting


async def governance(session: AsyncSession, community: Community) -> None:
    """The concerns and the two five-party meetings (see the module's docstring)."""
    tz = ZoneInfo(community.timezone)
    now = clock.now()
    users = {u.openid.removeprefix("dev-"): u for u in (await session.execute(select(User))).scalars()}
    s = Scene(session, community, tz, now, now.astimezone(tz).date(), await clocks(session, community.id), users)
    held = held_day(s.today)
    concerns = await _concerns(s, held)
    await _held(s, concerns, held)
    await _coming(s, concerns, coming_day(s.today))
    await session.flush()
    assert set(STATUS_LABELS) == {c.status for c in concerns.values()}  # every state, as promised
