"""The notification kinds, their WeChat templates, and fitting values to WeChat's field limits.

Every kind is declared here, in one place, so an operator sees everything Linli may send when
choosing templates in the mini-program console. A kind has an inbox title and body, a page of the
mini-program, and a default mapping of template keywords to its params. Which template a kind
uses is configuration (`LINLI_WECHAT_TEMPLATES`), because template ids belong to one mini-program
account; a kind without a template goes to the inbox only. In fake mode every kind has a demo
template, so development shows the whole path.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.config import Settings, TemplateConfig


@dataclass(frozen=True)
class NotificationKind:
    name: str
    label: str  # what the resident receives, e.g. 社区公告 (shown next to the subscription)
    params: frozenset[str]  # what every notification of the kind carries (notify() checks)
    title: str  # inbox title, a format string over the params
    body: str  # inbox body
    page: str  # mini-program page with its query, no leading "/"
    fields: Mapping[str, str] = field(default_factory=dict)  # default template keyword → format string


KINDS: dict[str, NotificationKind] = {}


def _declare(kind: NotificationKind) -> None:
    KINDS[kind.name] = kind


_declare(
    NotificationKind(
        name="announcement",
        label="社区公告",
        params=frozenset({"announcement_id", "title", "excerpt", "community_name", "published_at"}),
        title="{title}",
        body="{excerpt}",
        page="pages/announcements/detail?id={announcement_id}",
        fields={"thing1": "{title}", "thing2": "{community_name}", "time3": "{published_at}"},
    )
)


_ACTIVITY = frozenset({"activity_id", "activity_title", "start_at", "place"})
_ACTIVITY_PAGE = "pages/activities/detail?id={activity_id}"
_declare(
    NotificationKind(
        name="booking.promoted",
        label="候补转为预约成功",
        params=_ACTIVITY | {"seats"},
        title="候补成功：{activity_title}",
        body="你候补的「{activity_title}」有名额了，已为你确认{seats}个座位。时间：{start_at}，地点：{place}。",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{place}", "phrase4": "候补成功"},
    )
)
_declare(
    NotificationKind(
        name="activity.reminder",
        label="活动开始前提醒",
        params=_ACTIVITY,
        title="活动提醒：{activity_title}",
        body="「{activity_title}」将于{start_at}在{place}开始，到场后请签到。来不了请提前取消，把名额留给候补的邻居。",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="activity.changed",
        label="活动时间地点变更",
        params=_ACTIVITY,
        title="活动有变：{activity_title}",
        body="「{activity_title}」改为{start_at}在{place}举行。如不能参加，请取消预约，把名额留给候补的邻居。",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="activity.cancelled",
        label="活动取消通知",
        params=frozenset({"activity_id", "activity_title", "start_at", "reason"}),
        title="活动取消：{activity_title}",
        body="原定{start_at}的「{activity_title}」取消了。{reason}",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{reason}"},
    )
)
_declare(
    NotificationKind(
        name="category.new_activity",
        label="关注的活动类别上新",
        params=_ACTIVITY | {"category"},
        title="新的{category}：{activity_title}",
        body="你关注的{category}有新活动：{start_at}，{place}。快来预约吧。",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="activity.album",
        label="活动相册",
        params=frozenset({"activity_id", "activity_title", "next"}),
        title="「{activity_title}」的相册来了",
        body="谢谢你来参加！看看大家拍的照片，也分享你的。{next}",
        page="pages/activities/album?id={activity_id}",
        fields={"thing1": "{activity_title}", "thing2": "{next}"},
    )
)
_declare(
    NotificationKind(
        name="post.rejected",
        label="动态未通过审核",
        params=frozenset({"post_id", "reason"}),
        title="你的动态没有发布",
        body="原因：{reason}。可以修改后重新发布。",
        page="pages/feed/post?id={post_id}",
        fields={"thing1": "{reason}"},
    )
)
_declare(
    NotificationKind(
        name="series.new_session",
        label="关注的系列活动上新",
        params=_ACTIVITY | {"series_title"},
        title="{series_title}：{activity_title}",
        body="你关注的「{series_title}」有新一期：{start_at}，{place}。快来预约吧。",
        page=_ACTIVITY_PAGE,
        fields={"thing1": "{activity_title}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="booking.blocked",
        label="预约暂停通知",
        params=frozenset({"member_name", "no_shows", "until"}),
        title="预约暂停至{until}",
        body="{member_name}近期有{no_shows}次预约未到场，{until}前暂不能预约新活动。如有特殊情况，请联系社工。",
        page="pages/me/bookings",
        fields={"thing1": "{member_name}", "time2": "{until}", "thing3": "近期多次预约未到场"},
    )
)


_LOAN = frozenset({"loan_id", "book_title", "member_name", "due_on"})
_HOLD = frozenset({"hold_id", "book_title", "member_name", "pickup_by", "place"})
_declare(
    NotificationKind(
        name="loan.due_soon",
        label="还书提醒",
        params=_LOAN,
        title="还书提醒：《{book_title}》",
        body="{member_name}借的《{book_title}》{due_on}到期。还没看完可以在小程序里续借一次。",
        page="pages/library/shelf",
        fields={"thing1": "{book_title}", "date2": "{due_on}", "thing3": "{member_name}"},
    )
)
_declare(
    NotificationKind(
        name="loan.overdue",
        label="逾期提醒",
        params=_LOAN | {"days_overdue"},
        title="《{book_title}》已逾期{days_overdue}天",
        body="{member_name}借的《{book_title}》已于{due_on}到期。逾期期间不能借新书，请尽快送回书屋或还书箱。",
        page="pages/library/shelf",
        fields={"thing1": "{book_title}", "date2": "{due_on}", "thing3": "逾期{days_overdue}天，请尽快归还"},
    )
)
_declare(
    NotificationKind(
        name="hold.ready",
        label="预约到书通知",
        params=_HOLD,
        title="预约的书到了：《{book_title}》",
        body="{member_name}预约的《{book_title}》已放在{place}的预约书架，请在{pickup_by}前来借。",
        page="pages/library/shelf",
        fields={"thing1": "{book_title}", "date2": "{pickup_by}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="hold.expiring",
        label="预约即将过期",
        params=_HOLD,
        title="预约的书明天过期：《{book_title}》",
        body="{member_name}预约的《{book_title}》还在{place}的预约书架，{pickup_by}后就给下一位邻居了。",
        page="pages/library/shelf",
        fields={"thing1": "{book_title}", "date2": "{pickup_by}", "thing3": "{place}"},
    )
)


_TEAM_PAGE = "pages/volunteers/team?id={team_id}"
_declare(
    NotificationKind(
        name="team.join_request",
        label="团队入队申请",
        params=frozenset({"team_id", "team_name", "applicant"}),
        title="{applicant}申请加入{team_name}",
        body="{applicant}想加入{team_name}，请在小程序里确认。",
        page=_TEAM_PAGE,
        fields={"thing1": "{team_name}", "name2": "{applicant}"},
    )
)
_declare(
    NotificationKind(
        name="team.request_approved",
        label="入队申请通过",
        params=frozenset({"team_id", "team_name"}),
        title="欢迎加入{team_name}",
        body="你加入{team_name}的申请通过了。团队的值班和活动都在小程序里，期待和你一起为社区出力！",
        page=_TEAM_PAGE,
        fields={"thing1": "{team_name}", "phrase2": "已通过"},
    )
)
_declare(
    NotificationKind(
        name="team.request_refused",
        label="入队申请未通过",
        params=frozenset({"team_id", "team_name"}),
        title="{team_name}的入队申请没有通过",
        body="这次没能加入{team_name}。社区还有别的团队和志愿服务，欢迎看看；有疑问可以问问队长或社工。",
        page=_TEAM_PAGE,
        fields={"thing1": "{team_name}", "phrase2": "未通过"},
    )
)
_declare(
    NotificationKind(
        name="shift.cancelled",
        label="值班取消通知",
        params=frozenset({"shift_id", "role", "start_at", "reason"}),
        title="值班取消：{role}",
        body="你报名的{start_at}「{role}」取消了（{reason}），不用过来了。谢谢你！",
        page="pages/volunteers/shift?id={shift_id}",
        fields={"thing1": "{role}", "time2": "{start_at}", "thing3": "{reason}"},
    )
)
_declare(
    NotificationKind(
        name="shift.changed",
        label="值班安排变更",
        params=frozenset({"shift_id", "role", "start_at", "place"}),
        title="值班有变：{role}",
        body="你报名的{start_at}的值班改为在{place}的「{role}」。来不了请提前退出，让别的队员补上。",
        page="pages/volunteers/shift?id={shift_id}",
        fields={"thing1": "{role}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="shift.tomorrow",
        label="志愿值班提醒",
        params=frozenset({"shift_id", "role", "start_at", "place"}),
        title="明天值班：{role}",
        body="你报名了{start_at}在{place}的「{role}」，到了请扫码签到。来不了请提前退出，让别的队员补上。",
        page="pages/volunteers/shift?id={shift_id}",
        fields={"thing1": "{role}", "time2": "{start_at}", "thing3": "{place}"},
    )
)
_declare(
    NotificationKind(
        name="volunteer.thanks",
        label="志愿服务时长确认",
        params=frozenset({"record_id", "service", "hours", "service_date"}),
        title="谢谢你！{service_date}的志愿服务记为{hours}小时",
        body="你在{service_date}的「{service}」已经审核，记录志愿服务{hours}小时。谢谢你为社区出力！",
        page="pages/volunteers/records",
        fields={"thing1": "{service}", "date2": "{service_date}", "number3": "{hours}"},
    )
)
_declare(
    NotificationKind(
        name="records.awaiting",
        label="志愿服务记录待审核",
        params=frozenset({"pending", "overdue", "day"}),
        title="有{pending}条志愿服务记录待审核",
        body="其中{overdue}条已超过10个工作日的审核期限，请尽快处理。",
        page="pages/staff/service-records",
        fields={"thing1": "待审核{pending}条，超期{overdue}条", "date2": "{day}"},
    )
)
_declare(
    NotificationKind(
        name="volunteer.story",
        label="人物故事征求同意",
        params=frozenset({"story_id", "title"}),
        title="社工想分享你的故事：{title}",
        body="社工写了一篇关于你的人物故事「{title}」。你同意后才会给邻居们看到，不同意也没关系。",
        page="pages/volunteers/story?id={story_id}",
        fields={"thing1": "{title}"},
    )
)

# staff: the monthly record book (台账) the worker assembled, with where to download it (the console)
_RECORD_BOOK = frozenset({"record_book_id", "community_id", "month", "link", "kind_label"})
_declare(
    NotificationKind(
        name="record_book.ready",
        label="台账已生成",
        params=_RECORD_BOOK | {"size"},
        title="{month}的台账已生成",
        body="{month}的台账（{kind_label}，{size}）已生成，请在工作台的「台账」页下载：{link}",
        page="pages/staff/record-books?id={record_book_id}",
        fields={"thing1": "{month}台账", "phrase2": "已生成"},
    )
)
_declare(
    NotificationKind(
        name="record_book.failed",
        label="台账生成失败",
        params=_RECORD_BOOK | {"error"},
        title="{month}的台账没有生成成功",
        body="{month}的台账（{kind_label}）没有生成成功：{error}。可以在工作台的「台账」页重新申请：{link}",
        page="pages/staff/record-books?id={record_book_id}",
        fields={"thing1": "{month}台账", "phrase2": "生成失败"},
    )
)


# -- meetings
_MEETING = frozenset({"meeting_id", "meeting_title", "kind_label", "starts_at", "place"})
_MEETING_PAGE = "pages/meetings/detail?id={meeting_id}"
_MEETING_FIELDS = {"thing1": "{meeting_title}", "time2": "{starts_at}", "thing3": "{place}"}
_declare(
    NotificationKind(
        name="meeting.agenda",
        label="议事会通知",
        params=_MEETING | {"agenda"},
        title="{kind_label}通知：{meeting_title}",
        body="{kind_label}「{meeting_title}」将于{starts_at}在{place}召开，请准时参加，到场后扫码签到。议程：{agenda}",
        page=_MEETING_PAGE,
        fields=_MEETING_FIELDS,
    )
)
_declare(
    NotificationKind(
        name="meeting.changed",
        label="议事会时间地点变更",
        params=_MEETING,
        title="{kind_label}改期或换地点：{meeting_title}",
        body="{kind_label}「{meeting_title}」的时间或地点有变：改为{starts_at}在{place}召开。",
        page=_MEETING_PAGE,
        fields=_MEETING_FIELDS,
    )
)
_declare(
    NotificationKind(
        name="meeting.cancelled",
        label="议事会取消",
        params=_MEETING | {"reason"},
        title="{kind_label}取消：{meeting_title}",
        body="原定{starts_at}在{place}召开的{kind_label}「{meeting_title}」已取消。原因：{reason}",
        page=_MEETING_PAGE,
        fields={"thing1": "{meeting_title}", "time2": "{starts_at}", "thing3": "{reason}"},
    )
)
_declare(
    NotificationKind(
        name="meeting.decision",
        label="烦心事的议事结果",
        params=frozenset({"concern_id", "concern_title", "meeting_id", "meeting_title", "decision"}),
        title="你关注的烦心事有了决定：{concern_title}",
        body="议事会「{meeting_title}」对「{concern_title}」作出了决定：{decision}。跟进情况可以在烦心事页面查看。",
        page="pages/concerns/detail?id={concern_id}",
        fields={"thing1": "{concern_title}", "thing2": "{decision}"},
    )
)
_FOLLOW_UP = frozenset({"follow_up_id", "title", "due_on", "meeting_title", "owner_name"})
_FOLLOW_UP_PAGE = "pages/follow-ups/detail?id={follow_up_id}"
_declare(
    NotificationKind(
        name="follow_up.assigned",
        label="议事会跟进事项",
        params=_FOLLOW_UP,
        title="请你跟进：{title}",
        body="议事会「{meeting_title}」决定由你负责「{title}」，请在{due_on}前完成，进展可以随时在小程序里更新。",
        page=_FOLLOW_UP_PAGE,
        fields={"thing1": "{title}", "date2": "{due_on}"},
    )
)
_declare(
    NotificationKind(
        name="follow_up.reminder",
        label="跟进事项到期提醒",
        params=_FOLLOW_UP,
        title="跟进事项快到期了：{title}",
        body="你负责的「{title}」（议事会「{meeting_title}」的决定）将于{due_on}到期，完成后请在小程序里标为已完成。",
        page=_FOLLOW_UP_PAGE,
        fields={"thing1": "{title}", "date2": "{due_on}"},
    )
)
_declare(
    NotificationKind(
        name="follow_up.late",
        label="跟进事项逾期",
        params=_FOLLOW_UP,
        title="跟进事项已逾期：{title}",
        body="「{title}」（负责：{owner_name}）的期限{due_on}已过，还没有完成。请跟进，或调整期限。",
        page=_FOLLOW_UP_PAGE,
        fields={"thing1": "{title}", "date2": "{due_on}", "thing3": "{owner_name}"},
    )
)


# -- concerns
_CONCERN = frozenset({"concern_id", "title"})
_CONCERN_PAGE = "pages/concerns/detail?id={concern_id}"
_declare(
    NotificationKind(
        name="concern.accepted",
        label="烦心事已受理",
        params=_CONCERN | {"level_label", "detail"},
        title="烦心事已受理：{title}",
        body="你关注的「{title}」已受理。{level_label}；{detail}。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "已受理", "thing3": "{detail}"},
    )
)
_declare(
    NotificationKind(
        name="concern.level",
        label="烦心事处理方式调整",
        params=_CONCERN | {"level_label", "detail"},
        title="处理方式有调整：{title}",
        body="你关注的「{title}」改为{level_label}；{detail}。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "有调整", "thing3": "{detail}"},
    )
)
_declare(
    NotificationKind(
        name="concern.update",
        label="烦心事进展",
        params=_CONCERN | {"excerpt"},
        title="新进展：{title}",
        body="你关注的「{title}」有新进展：{excerpt}",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "有进展", "thing3": "{excerpt}"},
    )
)
_declare(
    NotificationKind(
        name="concern.resolved",
        label="烦心事已解决",
        params=_CONCERN | {"result"},
        title="已解决：{title}",
        body="你关注的「{title}」处理结果：{result}。解决了吗？请告诉我们你的评价。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "已解决", "thing3": "解决了吗？请评价"},
    )
)
_declare(
    NotificationKind(
        name="concern.declined",
        label="烦心事答复",
        params=_CONCERN | {"outcome_label", "detail"},
        title="{outcome_label}：{title}",
        body="你关注的「{title}」答复为{outcome_label}。{detail}。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "{outcome_label}", "thing3": "{detail}"},
    )
)
_declare(
    NotificationKind(
        name="concern.reopened",
        label="烦心事重新处理",
        params=_CONCERN,
        title="重新处理：{title}",
        body="有居民反馈「{title}」没有解决，社工将重新处理。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "重新处理"},
    )
)
_declare(
    NotificationKind(
        name="concern.rejected",
        label="烦心事未公开",
        params=_CONCERN | {"reason"},
        title="你反映的烦心事没有公开：{title}",
        body="原因：{reason}。可以修改后重新提交，或直接联系社工。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "thing2": "{reason}"},
    )
)
# staff: a clock that ran out, a concern a resident reopened
_declare(
    NotificationKind(
        name="concern.late",
        label="烦心事超时",
        params=_CONCERN | {"clock_label", "due_at"},
        title="{clock_label}超时：{title}",
        body="「{title}」应在{due_at}前{clock_label}，现在已超时，请尽快处理。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "{clock_label}超时", "time3": "{due_at}"},
    )
)
_declare(
    NotificationKind(
        name="concern.reopened_staff",
        label="烦心事被居民重新打开",
        params=_CONCERN,
        title="居民反馈没有解决：{title}",
        body="有居民反馈「{title}」没有解决，已重新转为处理中，请跟进。",
        page=_CONCERN_PAGE,
        fields={"thing1": "{title}", "phrase2": "重新处理"},
    )
)


# -- surveys
_declare(
    NotificationKind(
        name="survey.opened",
        label="需求调研邀请",
        params=frozenset({"survey_id", "survey_title", "closes_at", "how"}),
        title="请填写调研问卷：{survey_title}",
        body="社区发起了调研「{survey_title}」，{how}，{closes_at}截止。你的意见会帮助社区安排服务和活动。",
        page="pages/surveys/detail?id={survey_id}",
        fields={"thing1": "{survey_title}", "time2": "{closes_at}", "thing3": "{how}"},
    )
)


# -- polls
# the electorate: voting has started; a day before the close, those who have not voted yet
_POLL = frozenset({"poll_id", "poll_title", "standing", "closes_at"})
_POLL_PAGE = "pages/polls/detail?id={poll_id}"
_declare(
    NotificationKind(
        name="poll.opened",
        label="投票开始",
        params=_POLL,
        title="{standing}开始了：{poll_title}",
        body="「{poll_title}」（{standing}）已经开始，{closes_at}截止。请在小程序里投票，也可以到社区领取纸质选票。",
        page=_POLL_PAGE,
        fields={"thing1": "{poll_title}", "thing2": "{standing}", "time3": "{closes_at}"},
    )
)
_declare(
    NotificationKind(
        name="poll.closing",
        label="投票即将截止",
        params=_POLL,
        title="明天截止：{poll_title}",
        body="「{poll_title}」（{standing}）将于{closes_at}截止，你（或你家）还没有投票。",
        page=_POLL_PAGE,
        fields={"thing1": "{poll_title}", "thing2": "{standing}", "time3": "{closes_at}"},
    )
)
# the electorate, when a poll whose voting had started is cancelled (its opening notice is retracted)
_declare(
    NotificationKind(
        name="poll.cancelled",
        label="投票取消",
        params=frozenset({"poll_id", "poll_title", "standing", "reason"}),
        title="{standing}已取消：{poll_title}",
        body="「{poll_title}」（{standing}）已取消，已经投的票不会计票。原因：{reason}",
        page=_POLL_PAGE,
        fields={"thing1": "{poll_title}", "thing2": "{reason}"},
    )
)


# -- poll results
_declare(
    NotificationKind(
        name="poll.result",
        label="投票和选举结果",
        params=frozenset({"poll_id", "poll_title", "standing", "summary", "turnout"}),
        title="{standing}结果：{poll_title}",
        body="「{poll_title}」已结束（{standing}）。{summary}。{turnout}。详细结果可以在小程序里查看。",
        page="pages/polls/detail?id={poll_id}",
        fields={"thing1": "{poll_title}", "thing2": "{summary}", "thing3": "{turnout}"},
    )
)


def kind(name: str) -> NotificationKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown notification kind {name!r}") from None


@dataclass(frozen=True)
class Template:
    kind: str
    template_id: str
    page: str
    fields: Mapping[str, str]


def template_for(settings: Settings, kind_name: str) -> Template | None:
    """The WeChat template of a kind, or None (inbox only)."""
    spec = kind(kind_name)
    config: TemplateConfig | None = settings.wechat_templates.get(kind_name)
    if config is None and settings.wechat_mode == "fake":
        config = TemplateConfig(template_id=f"demo-{kind_name.replace('.', '-')}")
    if config is None:
        return None
    return Template(
        kind=kind_name,
        template_id=config.template_id,
        page=config.page or spec.page,
        fields=config.fields if config.fields is not None else spec.fields,
    )


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def check_templates(settings: Settings) -> None:
    """Refuse a template configuration that could not be sent: an unknown kind, a keyword that is
    not WeChat's (thing1, time2…), or a placeholder the kind does not carry. Run at start-up, so a
    mistake shows when the service starts rather than as failed pushes."""
    problems = []
    for name in settings.wechat_templates:
        if name not in KINDS:
            problems.append(f"{name}: no such notification kind (known: {', '.join(sorted(KINDS))})")
            continue
        template = template_for(settings, name)
        assert template is not None
        for keyword, fmt in template.fields.items():
            try:
                keyword_type(keyword)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
            unknown = placeholders(fmt) - KINDS[name].params
            if unknown:
                problems.append(f"{name}.{keyword}: {{{', '.join(sorted(unknown))}}} is not a param of the kind")
        if unknown := placeholders(template.page) - KINDS[name].params:
            problems.append(f"{name}.page: {{{', '.join(sorted(unknown))}}} is not a param of the kind")
        if template.page.startswith("/"):
            problems.append(f"{name}.page: a mini-program page has no leading /")
    if problems:
        raise ValueError("LINLI_WECHAT_TEMPLATES: " + "; ".join(problems))


def configured_templates(settings: Settings) -> dict[str, list[NotificationKind]]:
    """template id → the kinds that use it."""
    by_template: dict[str, list[NotificationKind]] = {}
    for name, spec in KINDS.items():
        template = template_for(settings, name)
        if template is not None:
            by_template.setdefault(template.template_id, []).append(spec)
    return by_template


# -- params and rendering ------------------------------------------------------------------------

TIME_FORMAT = "%Y-%m-%d %H:%M"


def render_params(params: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Params as stored with the notification: datetimes in the community's local time, 24-hour
    (the form WeChat's `time` fields take), dates as YYYY-MM-DD; everything JSON."""
    rendered: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"param {key!r} is a naive datetime")
            rendered[key] = value.astimezone(tz).strftime(TIME_FORMAT)
        elif isinstance(value, date):
            rendered[key] = value.isoformat()
        elif value is None or isinstance(value, str | int | float | bool):
            rendered[key] = value
        else:
            rendered[key] = str(value)
    return rendered


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(f"template refers to {{{key}}}, which the notification does not carry")


def fill(template: str, params: Mapping[str, Any]) -> str:
    """`template` with {param} placeholders filled; a placeholder without a param is an error."""
    return string.Formatter().vformat(template, (), _Params(params))


# -- WeChat's field limits (WECHAT.md) -----------------------------------------------------------

ELLIPSIS = "…"
_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "phone_number": 17, "letter": 32, "symbol": 5}
_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")


def keyword_type(keyword: str) -> str:
    match = _KEYWORD.match(keyword)
    if match is None:
        raise ValueError(f"{keyword!r} is not a template keyword (like thing1, time2)")
    return match.group(1)


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def fit(keyword: str, value: str) -> str:
    """`value` made acceptable to WeChat for `keyword`'s type: text is cut to the limit with "…"
    (thing ≤ 20, phrase ≤ 5, name ≤ 10 Chinese or 20 Latin characters…), numbers and codes keep
    only the characters their type allows. Never empty: WeChat refuses empty values."""
    kind = keyword_type(keyword)
    value = " ".join(value.split())
    if kind in ("time", "date"):
        fitted = value
    elif kind == "number":
        fitted = re.sub(r"[^0-9.\-]", "", value)[:32]
    elif kind == "phone_number":
        fitted = re.sub(r"[^0-9+\-]", "", value)[:17]
    elif kind == "character_string":
        fitted = re.sub(r"[^\x21-\x7e]", "", value)[:32]
    elif kind == "name":
        fitted = _cut(value, 20 if value.isascii() else 10)
    else:
        fitted = _cut(value, _LIMITS.get(kind, 20))
    return fitted or "-"


def message_data(template: Template, params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The `data` of a subscribe message: each keyword's format string filled and fitted."""
    return {keyword: {"value": fit(keyword, fill(fmt, params))} for keyword, fmt in template.fields.items()}
