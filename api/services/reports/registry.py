"""The one registry of indicators (指标): each is defined here once — its zh-CN name, the sentence
staff read as its definition, its unit, what it counts and the breakdowns it supports — and the
dashboard, the API, the exports, the record book's sheet and the tests all read it from here.

An indicator counts `items` (facts rows: activities held, check-ins, loans, service records,
announcements, open days, concerns, verdicts, meetings, decisions, follow-ups) with a `measure`;
a breakdown groups the same items by a key, so a breakdown's figures always come from the same
rows as the total, and a rate or a median over several months is computed again from the rows
of those months (never summed or averaged from the months' figures).

A rate's items are its denominator: the drill-down lists exactly the rows it divides by, each
saying whether it is in the numerator; its `parts` are the numerator and the denominator (for
满意率 and the follow-ups, the n), and `parts_per_group` shows them with every figure of its
breakdowns too, so that no percentage appears without what it is a share of."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from api.schemas.activities import CATEGORY_LABELS
from api.services.reports.facts import Facts
from api.services.reports.labels import CONCERN_CATEGORY_LABELS, SERVICE_TYPE_LABELS
from api.services.reports.periods import month_label

CATEGORY_NAMES: dict[str, str] = {str(k): v for k, v in CATEGORY_LABELS.items()}
AGE_GROUP_LABELS = {"adult": "成人", "child": "儿童", "guest": "来宾（未登记）"}
GENDER_LABELS = {"female": "女", "male": "男"}

# breakdown key → its zh-CN name (the column header and the sheet name)
BREAKDOWNS: dict[str, str] = {
    "month": "月份",
    "project": "服务项目",
    "service_type": "服务类型",
    "category": "活动类别",
    "space": "场地",
    "building": "楼栋",
    "age_group": "成人/儿童",
    "gender": "性别",
    "team": "志愿团队",
    "concern_category": "烦心事类别",
}
NONE_LABELS = {
    "project": "未归入项目",
    "service_type": "未分类",
    "space": "未指定场地",
    "building": "未登记楼栋",
    "gender": "未登记",
    "team": "未归入团队",
}

Item = Any
KeyFn = Callable[[Facts, Item], str | None]
Measure = Callable[[Facts, Sequence[Item]], float | int | None]


@dataclass(frozen=True)
class Indicator:
    key: str
    name: str
    definition: str
    unit: str
    source: str  # which facts it counts: held | visits | new | loans | services | notices | open_days | loop
    measure: Measure
    breakdowns: tuple[str, ...]
    parts: tuple[tuple[str, str, Measure], ...] = ()  # (key, zh name, measure) of the same items
    project_scoped: bool = True  # False: a community-wide figure, the same whatever the project
    targetable: bool = True
    drill: bool = True
    parts_per_group: bool = False  # the parts shown with each figure of the breakdowns too


def _attr(attribute: str) -> KeyFn:
    def key(_facts: Facts, item: Item) -> str | None:
        value = getattr(item, attribute)
        return None if value in (None, "") else str(value)

    return key


def _new_month(facts: Facts, item: Item) -> str | None:
    return f"{facts.first_visit[item.person]:%Y-%m}"


KEYS: dict[str, dict[str, KeyFn]] = {
    "held": {
        "month": _attr("month"),
        "project": _attr("project_id"),
        "service_type": _attr("service_type"),
        "category": _attr("category"),
        "space": _attr("space_id"),
    },
    "visits": {
        "month": _attr("month"),
        "project": _attr("project_id"),
        "service_type": _attr("service_type"),
        "category": _attr("category"),
        "building": _attr("building"),
        "age_group": _attr("age_group"),
        "gender": _attr("gender"),
    },
    "loans": {
        "month": _attr("month"),
        "building": _attr("building"),
        "age_group": _attr("age_group"),
        "gender": _attr("gender"),
    },
    "services": {
        "month": _attr("month"),
        "project": _attr("project_id"),
        "service_type": _attr("service_type"),
        "team": _attr("team_id"),
    },
    "notices": {"month": _attr("month")},
    "open_days": {"month": _attr("month")},
    "loop": {"month": _attr("month")},
    "meetings": {"month": _attr("month")},
    "decisions": {"month": _attr("month")},  # the meeting's month
    "follow_ups": {"month": _attr("month")},  # the due date's month
    "polls": {"month": _attr("month")},  # the month voting closed
    "survey_responses": {"month": _attr("month")},
}
KEYS["new"] = {**KEYS["visits"], "month": _new_month}
# a concern (or a verdict on one) by the month it was raised (resolved, given), its building, its category
CONCERN_KEYS: dict[str, KeyFn] = {
    "month": _attr("month"),
    "building": _attr("building"),
    "concern_category": _attr("category"),
}
for _source in ("concerns", "responses", "resolution", "resolved", "verdicts"):
    KEYS[_source] = CONCERN_KEYS


def count(_facts: Facts, items: Sequence[Item]) -> int:
    return len(items)


def persons(_facts: Facts, items: Sequence[Item]) -> int:
    return len({item.person for item in items})


def _persons_of(group: str) -> Measure:
    def measure(_facts: Facts, items: Sequence[Item]) -> int:
        return len({item.person for item in items if item.age_group == group})

    return measure


def _distinct(attribute: str) -> Measure:
    def measure(_facts: Facts, items: Sequence[Item]) -> int:
        return len({getattr(item, attribute) for item in items})

    return measure


def _hours(_facts: Facts, items: Sequence[Item]) -> float:
    return round(sum(int(item.minutes) for item in items) / 60, 1)


def _households_reached(_facts: Facts, items: Sequence[Item]) -> int:
    reached: set[int] = set()
    for notice in items:
        reached |= notice.households
    return len(reached)


def _read_rate(_facts: Facts, items: Sequence[Item]) -> float | None:
    recipients = sum(n.recipients for n in items)
    return round(100 * sum(n.readers for n in items) / recipients, 1) if recipients else None


def _loop_sum(name: str) -> Measure:
    def measure(_facts: Facts, items: Sequence[Item]) -> int:
        return sum(int(item.figures[name] or 0) for item in items)

    return measure


def _reparticipation(_facts: Facts, items: Sequence[Item]) -> float | None:
    attending = sum(item.figures["attending_members"] for item in items)
    back = sum(item.figures["came_back"] for item in items)
    return round(100 * back / attending, 1) if attending else None


def _counting(test: Callable[[Item], bool]) -> Measure:
    def measure(_facts: Facts, items: Sequence[Item]) -> int:
        return sum(1 for item in items if test(item))

    return measure


def _share(test: Callable[[Item], bool]) -> Measure:
    """The percentage of the items that pass `test` (one decimal); None without items."""

    def measure(_facts: Facts, items: Sequence[Item]) -> float | None:
        return round(100 * sum(1 for item in items if test(item)) / len(items), 1) if items else None

    return measure


def _median_days(_facts: Facts, items: Sequence[Item]) -> float | None:
    return round(statistics.median(item.days for item in items), 1) if items else None


def _of_kind(attribute: str, value: str) -> Measure:
    return _counting(lambda item: getattr(item, attribute) == value)


def _in_time(item: Item) -> bool:
    return bool(item.in_time)


def _resolved(item: Item) -> bool:
    return bool(item.outcome == "resolved")


def _satisfied(item: Item) -> bool:
    return int(item.stars) >= 4


def _on_time(item: Item) -> bool:
    return bool(item.on_time)


def _sum_of(attribute: str) -> Measure:
    def measure(_facts: Facts, items: Sequence[Item]) -> int:
        return sum(int(getattr(item, attribute)) for item in items)

    return measure


def _turnout(_facts: Facts, items: Sequence[Item]) -> float | None:
    electors = sum(p.electors for p in items)
    return round(100 * sum(p.participants for p in items) / electors, 1) if electors else None


CONCERN_BREAKDOWNS = ("month", "building", "concern_category")

VISIT_BREAKDOWNS = ("month", "project", "service_type", "category", "building", "age_group", "gender")
PERSON_PARTS: tuple[tuple[str, str, Measure], ...] = (
    ("adults", "成人", _persons_of("adult")),
    ("children", "儿童", _persons_of("child")),
    ("guests", "来宾（未登记）", _persons_of("guest")),
)

INDICATORS: dict[str, Indicator] = {
    i.key: i
    for i in (
        Indicator(
            "activities_held",
            "活动场次",
            "统计期内开始、已结束、未取消且至少一人签到的活动场数。",
            "场",
            "held",
            count,
            ("month", "project", "service_type", "category", "space"),
        ),
        Indicator(
            "service_visits",
            "服务人次",
            "这些活动的签到人次（含现场登记的来宾；签到后又取消的报名不计），同一人参加几场计几次。",
            "人次",
            "visits",
            count,
            VISIT_BREAKDOWNS,
        ),
        Indicator(
            "beneficiaries",
            "受益人数",
            "签到过的不同的人（含无微信的家庭成员，如儿童和老人），同一人只计一次；现场来宾只登记了姓名，每次各计一人。",
            "人",
            "visits",
            persons,
            VISIT_BREAKDOWNS,
            parts=PERSON_PARTS,
        ),
        Indicator(
            "new_participants",
            "新增参与者",
            "受益人中在本空间第一次签到落在统计期内的人（现场来宾计为新增）。",
            "人",
            "new",
            persons,
            VISIT_BREAKDOWNS,
            parts=PERSON_PARTS,
        ),
        Indicator(
            "open_days",
            "开放天数",
            "截至今天，统计期内至少一处场地按每周开放时间开放、且不在闭馆日的天数。",
            "天",
            "open_days",
            count,
            ("month",),
            project_scoped=False,
        ),
        Indicator(
            "open_hours",
            "开放时长",
            "截至今天，统计期内各场地每周开放时间减去闭馆日后的小时数，同一时段多处场地同时开放只计一次。",
            "小时",
            "open_days",
            _hours,
            ("month",),
            project_scoped=False,
        ),
        Indicator(
            "loans",
            "图书借阅",
            "统计期内借出的册次（家长代孩子借的计在孩子名下），并列出借阅人数和户数。",
            "册次",
            "loans",
            count,
            ("month", "building", "age_group", "gender"),
            parts=(
                ("borrowers", "借阅人数", _distinct("member_id")),
                ("households", "借阅户数", _distinct("household_id")),
            ),
            project_scoped=False,
        ),
        Indicator(
            "volunteers",
            "志愿者人数",
            "统计期内有审核通过的志愿服务记录的不同志愿者（被更正的记录以更正后的为准）。",
            "人",
            "services",
            _distinct("user_id"),
            ("month", "project", "service_type", "team"),
        ),
        Indicator(
            "volunteer_visits",
            "志愿服务人次",
            "统计期内审核通过的志愿服务记录条数（被更正的记录以更正后的为准）。",
            "人次",
            "services",
            count,
            ("month", "project", "service_type", "team"),
        ),
        Indicator(
            "volunteer_hours",
            "志愿服务时长",
            "统计期内审核通过的志愿服务记录的时长之和（按社区的取整规则，被更正的记录以更正后的为准）。",
            "小时",
            "services",
            _hours,
            ("month", "project", "service_type", "team"),
        ),
        Indicator(
            "announcements",
            "通知公告",
            "统计期内发布且未撤回的通知公告条数。",
            "条",
            "notices",
            count,
            ("month",),
            project_scoped=False,
        ),
        Indicator(
            "households_reached",
            "通知触达户数",
            "这些通知送达收件箱的居民所在的不同户数。",
            "户",
            "notices",
            _households_reached,
            ("month",),
            project_scoped=False,
        ),
        Indicator(
            "read_rate",
            "通知阅读率",
            "这些通知送达的人中已读的人所占的百分比。",
            "%",
            "notices",
            _read_rate,
            ("month",),
            project_scoped=False,
            targetable=False,
        ),
        Indicator(
            "loop_posts",
            "活动记录动态",
            "统计期内发布并通过审核的动态篇数（活动的记录与分享的起点）。",
            "篇",
            "loop",
            _loop_sum("posts"),
            ("month",),
            project_scoped=False,
            drill=False,
        ),
        Indicator(
            "loop_shares",
            "分享次数",
            "统计期内居民和社工分享活动或动态的次数。",
            "次",
            "loop",
            _loop_sum("shares"),
            ("month",),
            project_scoped=False,
            drill=False,
        ),
        Indicator(
            "loop_share_opens",
            "分享浏览",
            "统计期内分享被打开的次数（同一人同一天只计一次）。",
            "次",
            "loop",
            _loop_sum("share_opens"),
            ("month",),
            project_scoped=False,
            drill=False,
        ),
        Indicator(
            "loop_bookings_from_shares",
            "分享带来的报名",
            "统计期内打开分享后 7 天内报名的次数（含之后取消的）。",
            "次",
            "loop",
            _loop_sum("bookings_from_shares"),
            ("month",),
            project_scoped=False,
            drill=False,
        ),
        Indicator(
            "loop_reparticipation",
            "再参与率",
            "统计期内活动的签到者中，在活动结束后 30 天内又报名其他活动的人所占的百分比（按月计后合并）。",
            "%",
            "loop",
            _reparticipation,
            ("month",),
            project_scoped=False,
            targetable=False,
            drill=False,
        ),
        # -- governance (议事协商): community-wide figures, whatever the project ------------------
        Indicator(
            "concerns_raised",
            "烦心事反映数",
            "统计期内居民提出（含社工代为登记）的烦心事件数，按提出时间计；不含未通过内容安全检查（文字或照片）的。",
            "件",
            "concerns",
            count,
            CONCERN_BREAKDOWNS,
            project_scoped=False,
        ),
        Indicator(
            "response_rate",
            "按时响应率",
            "统计期内提出的烦心事中，已经答复（受理，或转办、重复、无法解决等不予受理）或答复时限已过的，"
            "在答复时限内答复的所占百分比。答复时限按社区设置，默认提出后 2 个工作日的同一时刻，"
            "恰在时限那一分钟答复的算按时；时限未到又还没有答复的暂不计入。",
            "%",
            "responses",
            _share(_in_time),
            CONCERN_BREAKDOWNS,
            parts=(
                ("in_time", "按时答复", _counting(_in_time)),
                ("due", "应答复", count),
            ),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "resolution_rate",
            "办结率",
            "统计期内提出的烦心事（不含作为重复反映并入其他烦心事的）中，现在的结果为已解决（含解决后已关闭）"
            "的所占百分比；解决后居民表示没有解决、重新办理的，再次解决前不算办结。",
            "%",
            "resolution",
            _share(_resolved),
            CONCERN_BREAKDOWNS,
            parts=(
                ("resolved", "已解决", _counting(_resolved)),
                ("raised", "提出（不含重复）", count),
            ),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "resolution_days",
            "办结时长",
            "统计期内解决、现在仍为已解决的烦心事，从提出到解决所用天数的中位数（保留一位小数）；"
            "重新办理过的，按最后一次解决的时间计。",
            "天",
            "resolved",
            _median_days,
            CONCERN_BREAKDOWNS,
            parts=(("resolved", "解决件数", count),),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "satisfaction_rate",
            "满意率",
            "统计期内居民对烦心事办理结果的评价中，打 4 星或 5 星的所占百分比，同时给出评价数 n；"
            "提出人和“我也遇到了”的居民每轮解决各评一次。",
            "%",
            "verdicts",
            _share(_satisfied),
            CONCERN_BREAKDOWNS,
            parts=(
                ("satisfied", "4–5 星", _counting(_satisfied)),
                ("n", "评价数 n", count),
            ),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "meetings_held",
            "议事会召开次数",
            "统计期内开始并已召开（含纪要已公布）的议事会次数：五方议事会、院落议事会和工作小组会。",
            "次",
            "meetings",
            count,
            ("month",),
            parts=(
                ("five_party", "五方议事会", _of_kind("kind", "five_party")),
                ("courtyard", "院落议事会", _of_kind("kind", "courtyard")),
                ("working_group", "工作小组会", _of_kind("kind", "working_group")),
            ),
            project_scoped=False,
        ),
        Indicator(
            "decisions_made",
            "形成决议数",
            "这些议事会记录的决议项数，按议事会召开的月份计；协商一致和表决形成的都计入。",
            "项",
            "decisions",
            count,
            ("month",),
            parts=(
                ("consensus", "协商一致", _of_kind("method", "consensus")),
                ("vote", "表决", _of_kind("method", "vote")),
            ),
            project_scoped=False,
        ),
        Indicator(
            "follow_ups_on_time",
            "跟进事项按时完成率",
            "到期日在统计期内、没有放弃的议事会跟进事项中，在到期日当天或之前完成（按社区当地日期）的所占百分比，"
            "同时给出事项数 n；还没到期也还没完成的暂不计入。",
            "%",
            "follow_ups",
            _share(_on_time),
            ("month",),
            parts=(
                ("on_time", "按时完成", _counting(_on_time)),
                ("n", "事项数 n", count),
            ),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "polls_held",
            "投票和选举场次",
            "统计期内投票截止的投票和选举场数（已发布、未取消；含意向征询和业主大会表决），按截止时间计。",
            "场",
            "polls",
            count,
            ("month",),
            parts=(
                ("elections", "选举", _of_kind("kind", "election")),
                ("consultations", "意向征询", _of_kind("standing", "意向征询")),
                ("decisions", "业主大会表决", _of_kind("standing", "业主大会表决")),
            ),
            project_scoped=False,
        ),
        Indicator(
            "poll_turnout",
            "投票参与率",
            "这些投票和选举中参与的选民（人、户或套，含纸质选票和委托投票）占选民名册（不含异议后除名的）的百分比，"
            "各场合计后再算；按面积计票的投票也按套数计。",
            "%",
            "polls",
            _turnout,
            ("month",),
            parts=(
                ("participants", "参与", _sum_of("participants")),
                ("electors", "名册", _sum_of("electors")),
            ),
            project_scoped=False,
            targetable=False,
            parts_per_group=True,
        ),
        Indicator(
            "survey_responses",
            "调研问卷回收",
            "统计期内收到的需求调研问卷份数（小程序填写和社工录入的纸质问卷），按提交日期计；已取消的调研不计。",
            "份",
            "survey_responses",
            count,
            ("month",),
            parts=(
                ("app", "小程序", _of_kind("channel", "app")),
                ("paper", "纸质", _of_kind("channel", "paper")),
                ("surveys", "问卷数", _distinct("survey_id")),
            ),
            project_scoped=False,
        ),
    )
}

TARGETABLE = {key: i.name for key, i in INDICATORS.items() if i.targetable}


@dataclass(frozen=True)
class LoopMonth:
    month: str
    figures: dict[str, Any]


def items(facts: Facts, source: str) -> Sequence[Item]:
    if source == "held":
        return facts.held
    if source == "visits":
        return facts.visits
    if source == "new":
        first, last = facts.span.bounds(facts.tz)
        return [v for v in facts.visits if first <= facts.first_visit[v.person] < last]
    if source == "loans":
        return facts.loans
    if source == "services":
        return facts.services
    if source == "notices":
        return facts.notices
    if source == "open_days":
        return facts.open_days
    if source == "loop":
        return [LoopMonth(month, figures) for month, figures in facts.loop.items()]
    if source == "concerns":
        return facts.concerns
    if source == "responses":
        return [c for c in facts.concerns if c.answered]
    if source == "resolution":
        return [c for c in facts.concerns if c.outcome != "duplicate"]
    if source == "resolved":
        return facts.resolved
    if source == "verdicts":
        return facts.verdicts
    if source == "meetings":
        return facts.meetings
    if source == "decisions":
        return facts.decisions
    if source == "follow_ups":
        return facts.follow_ups
    if source == "polls":
        return facts.polls
    if source == "survey_responses":
        return facts.survey_responses
    raise ValueError(source)


def label(facts: Facts, breakdown: str, key: str | None) -> str:
    if key is None:
        return NONE_LABELS.get(breakdown, "未登记")
    if breakdown == "month":
        return month_label(key)
    if breakdown == "project":
        return facts.projects.get(int(key), "（已删除的项目）")
    if breakdown == "service_type":
        return SERVICE_TYPE_LABELS.get(key, key)
    if breakdown == "category":
        return CATEGORY_NAMES.get(key, key)
    if breakdown == "space":
        return facts.spaces.get(int(key), "（已删除的场地）")
    if breakdown == "age_group":
        return AGE_GROUP_LABELS.get(key, key)
    if breakdown == "gender":
        return GENDER_LABELS.get(key, key)
    if breakdown == "team":
        return facts.teams.get(int(key), "（已删除的团队）")
    if breakdown == "concern_category":
        return CONCERN_CATEGORY_LABELS.get(key, key)
    return key


def group(facts: Facts, indicator: Indicator, breakdown: str, rows: Sequence[Item]) -> dict[str | None, list[Item]]:
    key_fn = KEYS[indicator.source][breakdown]
    groups: dict[str | None, list[Item]] = {}
    for item in rows:
        groups.setdefault(key_fn(facts, item), []).append(item)
    return groups


def sort_keys(breakdown: str, keys: list[str | None], facts: Facts) -> list[str | None]:
    """Months in order (every month of the period, even empty), the rest by label with "none" last."""
    if breakdown == "month":
        return list(facts.span.months())
    return sorted(keys, key=lambda k: (k is None, label(facts, breakdown, k)))
