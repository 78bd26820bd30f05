"""Reports jobs: the monthly record book (台账) staff asked for."""

from __future__ import annotations

from typing import Any

from api.services.reports import record_book
from workers.registry import job
from workers.runner import JobContext


@job(record_book.JOB)
async def build_record_book(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Sign-in sheets, summaries, photos and the indicator sheet of a month, as one ZIP."""
    await record_book.build(ctx, int(payload["record_book_id"]))
