"""Activity jobs: counting the no-shows after activities end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.activities import noshows
from workers.registry import job
from workers.runner import JobContext


@job("activities.close_attendance", every=timedelta(minutes=10))
async def close_attendance(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Mark no-shows of ended activities and block repeat no-shows (see noshows)."""
    await noshows.close_attendance(ctx.session)
