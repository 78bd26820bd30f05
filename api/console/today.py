"""Today (今日), a community's landing page: today's activities, what waits for staff, the spaces'
hours, and the last twelve weeks as a chart; and an activity's loop as a funnel, the fragment the
activity's page loads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console import charts, web
from api.deps import IdPath
from api.services import dashboard

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)


@router.get("/today")
async def today(request: Request, desk: web.DeskDep) -> Response:
    board = await dashboard.today(desk.session, desk.viewer.user, desk.community.id)
    return web.render(
        request,
        "today/today.html",
        {**board, "chart": charts.weekly_chart(board["weeks"])},
        desk=desk,
        nav="today",
    )


@router.get("/activities/{activity_id}/loop")
async def activity_loop(activity_id: IdPath, request: Request, desk: web.DeskDep) -> Response:
    """The funnel as an htmx fragment (the activity's page embeds it with hx-trigger="load"); asked
    for as a page (a link, printing), the same inside the console's frame."""
    figures = await dashboard.activity_funnel(desk.session, desk.viewer.user, desk.community.id, activity_id)
    context = {"figures": figures, "funnel": charts.loop_funnel(figures)}
    if web.is_htmx(request):
        return web.render(request, "today/_loop.html", {**context, "embedded": True}, desk=desk)
    return web.render(request, "today/loop.html", context, desk=desk, nav="activities")
