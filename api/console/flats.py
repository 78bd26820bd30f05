"""Importing the flats sheet (面积和业主表) in the households section: choose a file (CSV or XLSX) →
the preview (every row as it would be imported: a new household, an update with the figures
before and after, or unchanged; every problem by row and column; nothing written) → import (the
same file sent again and checked again as it is now: all of it, or nothing and every problem).

The upload is read as the catalogue's import reads it (`console.library`: the body bounded at
5 MB while it arrives, the kind from the name, the type or the first bytes; the sheet parsed
before the session is taken), and checked and imported by `services.flats`, which checks that the
caller is staff here. These routes come before the households' `/households/{household_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.console import uploads, web
from api.console.library import _attempt
from api.services import flats
from api.services.library.importer import MAX_BYTES

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

PREVIEW_ROWS = 200  # rows of a sheet shown before importing; every problem is shown


def _base(community_id: int) -> str:
    return f"{web.PREFIX}/c/{community_id}/households"


read_sheet = uploads.sheet_reader(flats.parse, MAX_BYTES, "请选择要导入的面积和业主表（CSV 或 XLSX 文件）")
SheetDep = Annotated[uploads.Sheet[flats.Parsed], Depends(read_sheet)]


def _render(request: Request, desk: web.Desk, result: dict[str, Any] | None) -> Response:
    context = {"result": result, "hbase": _base(desk.community.id), "shown": PREVIEW_ROWS}
    if web.is_htmx(request):
        return web.render(request, "households/_flats_result.html", context, desk=desk)
    return web.render(request, "households/flats.html", context, desk=desk, nav="households")


@router.get("/households/flats")
async def flats_page(request: Request, desk: web.DeskDep) -> Response:
    return _render(request, desk, None)


# `sheet` comes before `desk`: the file is in and checked before the session is taken; the CSRF
# check and whether the browser is signed in come before either (as the catalogue's import)


@router.post("/households/flats/preview", dependencies=[web.CsrfChecked, web.SignedInChecked])
async def flats_preview(request: Request, sheet: SheetDep, desk: web.DeskDep) -> Response:
    """What importing the sheet would do, with every row's problem, writing nothing."""
    if sheet.parsed is None:
        assert sheet.error is not None
        return _render(request, desk, uploads.sheet_refused(sheet, sheet.error))
    preview = await flats.preview_flats(desk.session, desk.viewer.user, desk.community.id, sheet.parsed)
    return _render(request, desk, {"kind": "preview", "name": sheet.name, **preview})


@router.post("/households/flats/commit", dependencies=[web.CsrfChecked, web.SignedInChecked])
async def flats_commit(request: Request, sheet: SheetDep, desk: web.DeskDep) -> Response:
    """Import the sheet whole (checked again as it is now), or nothing and every problem."""
    if sheet.parsed is None:
        assert sheet.error is not None
        return _render(request, desk, uploads.sheet_refused(sheet, sheet.error))
    parsed = sheet.parsed
    summary, refused = await _attempt(
        desk, lambda: flats.import_flats(desk.session, desk.viewer.user, desk.community.id, parsed)
    )
    if refused is not None:
        return _render(request, desk, uploads.sheet_refused(sheet, refused))
    return _render(request, desk, {"kind": "imported", "name": sheet.name, "summary": summary})
