# STAND-IN: replaced at merge — the lead writes the real report builder; only month_workbook, as
# the record book calls it, with the same signature and authorisation, so that its tests run.
"""The month's indicator sheet (stand-in)."""

from __future__ import annotations

import io

from openpyxl import Workbook  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import User
from api.services.access import require_staff


async def month_workbook(session: AsyncSession, user: User, community_id: int, month: str) -> bytes:
    community = await require_staff(session, user, community_id)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = month
    sheet.append([community.name, month])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
