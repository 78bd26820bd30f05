"""Meeting jobs: follow-ups that ran late. (Reminders before a follow-up's due date are scheduled
notifications: `notifications.scheduled` sends them.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.governance import follow_ups
from workers.registry import job
from workers.runner import JobContext


@job("meetings.flag_late_follow_ups", every=timedelta(hours=1))
async def flag_late_follow_ups(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Published follow-ups past their due date and not done or dropped: staff and the owner are
    told, once per due date."""
    await follow_ups.flag_late(ctx.session)
