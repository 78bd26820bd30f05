"""Activity summaries (活动总结) for the record book: what staff write about an activity — 背景 /
目标 / 过程 / 参与情况 / 成效 / 反思 — with a template saying what each part is for. Staff of the
activity's community only."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Activity, ActivitySummary, User
from api.errors import Conflict
from api.services.access import require_staff
from api.services.activities.common import get_activity

# each part of a summary: its label and a line on what to write (the console's placeholders)
TEMPLATE: dict[str, dict[str, str]] = {
    "background": {"label": "背景", "prompt": "为什么做这次活动：居民的什么需求、什么问题，从哪里了解到的"},
    "goals": {"label": "目标", "prompt": "希望达到什么：服务对象有什么收获或改变，尽量具体、可以衡量"},
    "process": {"label": "过程", "prompt": "活动怎样进行：各环节、内容和方法，社工与志愿者各做了什么"},
    "participation": {"label": "参与情况", "prompt": "谁来了：人数、人群（儿童、老人、家庭），居民的投入和互动"},
    "outcomes": {"label": "成效", "prompt": "达到了什么：目标的完成情况，居民的反馈，有什么成果或照片"},
    "reflection": {"label": "反思", "prompt": "做得好的和不足的，下次怎样改进，需要跟进的居民或事情"},
}
FIELDS = tuple(TEMPLATE)


async def _for_staff(session: AsyncSession, user: User, activity_id: int) -> Activity:
    activity = await get_activity(session, activity_id)
    await require_staff(session, user, activity.community_id)
    return activity


async def _view(session: AsyncSession, activity: Activity, row: ActivitySummary | None) -> dict[str, Any]:
    editor = await session.get(User, row.updated_by) if row is not None and row.updated_by is not None else None
    return {
        "activity_id": activity.id,
        "written": row is not None,
        **{name: getattr(row, name) if row is not None else "" for name in FIELDS},
        "updated_at": row.updated_at if row is not None else None,
        "updated_by": (editor.display_name or "工作人员") if editor is not None else None,
        "template": TEMPLATE,
    }


async def get_summary(session: AsyncSession, user: User, activity_id: int) -> dict[str, Any]:
    """The activity's summary as written so far (empty parts if none), with the template."""
    activity = await _for_staff(session, user, activity_id)
    return await _view(session, activity, await session.get(ActivitySummary, activity.id))


async def write_summary(session: AsyncSession, user: User, activity_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Write (or rewrite) the summary: every part as given, a part not given is left empty.
    Records who wrote it and when. A cancelled activity has nothing to sum up."""
    activity = await _for_staff(session, user, activity_id)
    if activity.status == "cancelled":
        raise Conflict("activity_cancelled", "活动已取消，不需要写活动总结")
    row = await session.get(ActivitySummary, activity.id)
    if row is None:
        row = ActivitySummary(activity_id=activity.id, updated_at=clock.now())
        session.add(row)
    for name in FIELDS:
        setattr(row, name, (data.get(name) or "").strip())
    row.updated_at = clock.now()
    row.updated_by = user.id
    await session.flush()
    return await _view(session, activity, row)
