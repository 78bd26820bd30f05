"""A household's phone number in full, on a deliberate click (logged); masked everywhere else.
Pages show it with the `phone` macro of `_macros.html`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.console import web
from api.deps import IdPath
from api.services import phones

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)


@router.post("/households/{household_id}/phone", dependencies=[web.CsrfChecked])
async def reveal_phone(
    household_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    context: Annotated[Literal["household", "overdue"], Query()] = "household",
) -> Response:
    number = await phones.reveal(desk.session, desk.viewer.user, desk.community.id, household_id, context)
    return web.render(request, "_phone_full.html", {"number": number, "household_id": household_id})
