"""The audit list of a community's settings (设置): every change to its details, spaces and
closures, staff roles, the policies of its domains and its quiet hours says who made it, when, and
what it was before and after.

`record()` is called by the service that makes the change, in the same transaction: a change that
rolls back leaves no entry, and a committed one always has its entry. The actor's name is written
with the entry, so it still reads right after the account is gone (actor_id is then NULL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import AuditEntry, User
from api.pagination import after_time_and_id, encode_cursor
from api.services.access import require_staff

# what an entry is about, as staff read it
SUBJECTS = {
    "community": "社区信息",
    "space": "空间",
    "closure": "闭馆安排",
    "role": "工作人员",
    "activity_policy": "活动规则",
    "loan_policy": "借阅规则",
    "volunteer_policy": "志愿服务规则",
    "governance_policy": "议事时限",
    "quiet_hours": "免打扰时段",
}

# the fields an entry's before/after may carry, as staff read them
FIELDS = {
    "name": "名称",
    "city": "城市",
    "district": "区",
    "address": "地址",
    "timezone": "时区",
    "quiet_hours": "免打扰时段",
    "opening_hours": "开放时间",
    "starts_on": "开始日期",
    "ends_on": "结束日期",
    "reason": "原因",
    "space": "空间",
    "role": "角色",
    "user": "人员",
    "no_show_limit": "爽约次数上限",
    "no_show_window_days": "爽约统计天数",
    "block_days": "暂停预约天数",
    "reminder_hours": "提前提醒小时数",
    "loan_days": "借期（天）",
    "max_loans": "可借册数",
    "child_loan_days": "儿童借期（天）",
    "child_max_loans": "儿童可借册数",
    "renewals": "可续借次数",
    "hold_shelf_days": "预约保留天数",
    "max_holds": "可预约册数",
    "organiser": "组织单位",
    "rounding_minutes": "时长计算单位（分钟）",
    "accept_working_days": "受理时限（工作日）",
    "level1_days": "一级办结天数",
    "level2_days": "二级办结天数",
    "level3_days": "三级办结天数",
    "reopen_days": "可申请重开天数",
    "follow_up_reminder_days": "跟进提醒提前天数",
}

ROLE_NAMES = {"resident": "居民", "staff": "工作人员", "admin": "管理员", None: "无"}
WEEKDAY_NAMES = {"mon": "一", "tue": "二", "wed": "三", "thu": "四", "fri": "五", "sat": "六", "sun": "日"}
SUMMARY_LENGTH = 200
PAGE_SIZE = 20


def jsonable(value: Any) -> Any:
    """A value as the entry's JSON keeps it: dates and times as ISO text, the rest as it is."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def snapshot(row: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a row (or of a mapping) as the entry keeps them."""
    if isinstance(row, Mapping):
        return {name: jsonable(row.get(name)) for name in names}
    return {name: jsonable(getattr(row, name)) for name in names}


def _name_of(actor: User | None) -> str:
    if actor is None:
        return ""
    if actor.display_name:
        return actor.display_name
    return "平台管理员" if actor.is_platform_admin else f"用户 {actor.id}"


async def record(
    session: AsyncSession,
    actor: User | None,
    community_id: int,
    *,
    subject: str,
    subject_id: int | None,
    action: str,
    summary: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry | None:
    """Write one entry in the caller's transaction. Only the fields that changed are kept; a
    change that changed nothing (before equal to after) writes nothing and returns None."""
    old = jsonable(dict(before)) if before is not None else None
    new = jsonable(dict(after)) if after is not None else None
    if old is not None and new is not None:
        changed = [name for name in new if old.get(name) != new.get(name)]
        if not changed:
            return None
        old = {name: old.get(name) for name in changed}
        new = {name: new[name] for name in changed}
    entry = AuditEntry(
        community_id=community_id,
        actor_id=actor.id if actor is not None else None,
        actor_name=_name_of(actor)[:64],
        at=clock.now(),
        subject_kind=subject,
        subject_id=subject_id,
        action=action,
        summary=summary[:SUMMARY_LENGTH],
        before=old,
        after=new,
    )
    session.add(entry)
    await session.flush()
    return entry


def shown(name: str, value: Any) -> str:
    """A value of an entry as staff read it."""
    if name == "role":
        return ROLE_NAMES.get(value, str(value))
    if value is None or value == "":
        if name == "quiet_hours":
            return "不设" if value == "" else "系统默认"
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if name == "opening_hours" and isinstance(value, Mapping):
        parts = []
        for day, label in WEEKDAY_NAMES.items():
            intervals = value.get(day) or []
            times = "、".join(f"{pair[0]}–{pair[1]}" for pair in intervals if len(pair) == 2) or "闭馆"
            parts.append(f"周{label} {times}")
        return "；".join(parts)
    return str(value)


def changes(entry: AuditEntry) -> list[dict[str, str]]:
    """What an entry changed, field by field: label, before, after (as staff read them)."""
    before = entry.before or {}
    after = entry.after or {}
    names = list(dict.fromkeys([*before, *after]))
    return [
        {
            "field": FIELDS.get(name, "内容"),
            "before": shown(name, before.get(name)) if entry.before is not None else "",
            "after": shown(name, after.get(name)) if entry.after is not None else "",
        }
        for name in names
    ]


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name or ("（系统）" if entry.actor_id is None else "（未填姓名）"),
        "at": entry.at,
        "subject_kind": entry.subject_kind,
        "subject_label": SUBJECTS.get(entry.subject_kind, "设置"),
        "subject_id": entry.subject_id,
        "action": entry.action,
        "summary": entry.summary,
        "before": entry.before,
        "after": entry.after,
        "changes": changes(entry),
    }


async def list_entries(
    session: AsyncSession,
    user: User,
    community_id: int,
    *,
    subject: str | None = None,
    subject_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """The community's entries for its staff, newest first, a page at a time (`next_cursor` is the
    next page's cursor), of one kind of subject (and one subject) if asked."""
    await require_staff(session, user, community_id)
    query = select(AuditEntry).where(AuditEntry.community_id == community_id)
    if subject is not None:
        query = query.where(AuditEntry.subject_kind == subject)
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    if cursor:
        query = query.where(after_time_and_id(cursor, AuditEntry.at, AuditEntry.id, ascending=False))
    rows = list(
        (await session.execute(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1))).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "items": [entry_view(row) for row in rows],
        "next_cursor": encode_cursor(last.at.isoformat(), last.id) if more and last is not None else None,
    }
