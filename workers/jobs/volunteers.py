"""Volunteer jobs: closing ended shifts, keeping standing duties scheduled, nudging reviewers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services.volunteers import records, shifts, signups
from workers.registry import job
from workers.runner import JobContext


@job("volunteers.close_shifts", every=timedelta(minutes=10))
async def close_shifts(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Forgotten check-outs are closed at the shift's end and flagged; no-shows marked absent."""
    await signups.close_ended(ctx.session)


@job("volunteers.extend_rules", every=timedelta(hours=6))
async def extend_rules(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Standing duties keep four weeks of shifts ahead."""
    await shifts.extend_all_rules(ctx.session)


@job("volunteers.remind_reviewers", every=timedelta(hours=24))
async def remind_reviewers(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Staff hear each day how many service records wait for review and how many are late."""
    await records.remind_reviewers(ctx.session)
