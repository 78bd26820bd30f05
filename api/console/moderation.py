"""Moderation in the console (内容审核): the queue of posts and comments waiting for staff, with
every photo large enough to judge (click to enlarge), WeChat's verdict and label per photo and per
text, residents' reports with their reasons, children-flagged posts marked; approve, refuse with a
reason, take a shown post down with a reason, bring a hidden one back; the posts already shown and
the recently decided ones. Reads go through `services.feed.moderation`, changes through the
services the API calls (`services.feed.posts`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.console import web
from api.deps import IdPath
from api.errors import AppError
from api.services.feed import moderation, posts

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}", include_in_schema=False)

Back = Literal["queue", "shown", "decided"]
BACK_PATHS = {"queue": "", "shown": "/shown", "decided": "/decided"}
DECIDED_FILTERS = [("", "全部"), ("visible", "已公开"), ("rejected", "未通过"), ("hidden", "已下架")]
NOTE_MAX = 200
# what each reason form is called, and what it says when the reason is missing
REASONS = {
    "reject": ("不通过的原因（作者会看到）", "请填写不通过的原因，作者会看到"),
    "hide": ("下架的原因（作者会看到）", "请填写下架的原因，作者会看到"),
}


def _base(desk: web.Desk) -> str:
    return f"{web.PREFIX}/c/{desk.community.id}/moderation"


def _back(desk: web.Desk, back: str, status: str = "") -> str:
    target = _base(desk) + BACK_PATHS.get(back, "")
    return f"{target}?status={status}" if back == "decided" and status else target


@router.get("/moderation")
async def queue_page(request: Request, desk: web.DeskDep) -> Response:
    """What waits for staff: posts and comments, oldest first."""
    found = await moderation.queue(desk.session, desk.viewer.user, desk.community.id)
    context: dict[str, Any] = {"posts": found["posts"], "comments": found["comments"], "checking": found["checking"]}
    context |= {"mbase": _base(desk), "tab": "queue", "back": "queue", "status": "", "reasons": REASONS}
    return web.render(request, "moderation/queue.html", context, desk=desk, nav="moderation")


@router.get("/moderation/shown")
async def shown_page(request: Request, desk: web.DeskDep) -> Response:
    """The posts residents see now, newest first, each of which staff may take down."""
    found = await moderation.shown(desk.session, desk.viewer.user, desk.community.id)
    context: dict[str, Any] = {
        "posts": found,
        "mbase": _base(desk),
        "tab": "shown",
        "back": "shown",
        "status": "",
        "reasons": REASONS,
    }
    return web.render(request, "moderation/list.html", context, desk=desk, nav="moderation")


@router.get("/moderation/decided")
async def decided_page(
    request: Request, desk: web.DeskDep, status: Annotated[str, Query(max_length=12)] = ""
) -> Response:
    """The posts decided lately (by staff, or refused by WeChat's check), most recent first."""
    status = status if status in moderation.DECIDED_STATUSES else ""
    found = await moderation.decided(desk.session, desk.viewer.user, desk.community.id, status or None)
    context: dict[str, Any] = {
        "posts": found,
        "mbase": _base(desk),
        "tab": "decided",
        "back": "decided",
        "status": status,
    }
    context |= {"filters": DECIDED_FILTERS, "reasons": REASONS}
    return web.render(request, "moderation/list.html", context, desk=desk, nav="moderation")


class BackForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    back: Back = "queue"
    status: Literal["", "visible", "rejected", "hidden"] = ""


class ReasonForm(BackForm):
    note: str = Field(default="", max_length=1000)


@router.post("/moderation/posts/{post_id}/approve", dependencies=[web.CsrfChecked])
async def approve(post_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[BackForm, Form()]) -> Response:
    """Let a post waiting for staff be seen, keep a reported one (its reports are cleared), or bring
    back one taken down (`posts.moderate`)."""
    await moderation.community_post(desk.session, desk.viewer.user, desk.community.id, post_id)
    await posts.moderate(desk.session, desk.viewer.user, post_id, True, None)
    return web.redirect(_back(desk, form.back, form.status), request)


async def _with_reason(
    action: Literal["reject", "hide"], post_id: int, request: Request, desk: web.Desk, form: ReasonForm
) -> Response:
    session, user = desk.session, desk.viewer.user
    await moderation.community_post(session, user, desk.community.id, post_id)
    errors: dict[str, str] = {}
    if len(form.note) > NOTE_MAX:
        errors["note"] = f"原因最多 {NOTE_MAX} 个字"
    elif action == "hide" and not form.note:
        errors["note"] = REASONS["hide"][1]
    if not errors:
        try:
            async with session.begin_nested():
                if action == "reject":
                    await posts.moderate(session, user, post_id, False, form.note or None)
                else:
                    await posts.hide(session, user, post_id, form.note)
        except AppError as exc:
            if exc.code != "reason_required":
                raise
            errors["note"] = REASONS["reject"][1]
    if errors:
        context: dict[str, Any] = {"pid": post_id, "action": action, "reasons": REASONS, "values": {"note": form.note}}
        context |= {"errors": errors, "back": form.back, "status": form.status, "mbase": _base(desk)}
        return web.render(request, "moderation/_reason.html", context, status_code=422, desk=desk)
    return web.redirect(_back(desk, form.back, form.status), request)


@router.post("/moderation/posts/{post_id}/reject", dependencies=[web.CsrfChecked])
async def reject(post_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ReasonForm, Form()]) -> Response:
    """Refuse a post waiting for staff, with the reason its author is told (`posts.moderate`)."""
    return await _with_reason("reject", post_id, request, desk, form)


@router.post("/moderation/posts/{post_id}/hide", dependencies=[web.CsrfChecked])
async def hide(post_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[ReasonForm, Form()]) -> Response:
    """Take a shown post down, with the reason its author is told (`posts.hide`)."""
    return await _with_reason("hide", post_id, request, desk, form)


@router.post("/moderation/posts/{post_id}/children", dependencies=[web.CsrfChecked])
async def mark_children(
    post_id: IdPath, request: Request, desk: web.DeskDep, form: Annotated[BackForm, Form()]
) -> Response:
    """Mark a post as showing children: it stays in the community, never in a public share
    (`posts.update_post`)."""
    await moderation.community_post(desk.session, desk.viewer.user, desk.community.id, post_id)
    await posts.update_post(desk.session, desk.viewer.user, post_id, {"shows_children": True})
    return web.redirect(_back(desk, form.back, form.status), request)


@router.post("/moderation/comments/{comment_id}", dependencies=[web.CsrfChecked])
async def moderate_comment(
    comment_id: IdPath,
    request: Request,
    desk: web.DeskDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
) -> Response:
    """Let a comment waiting for staff be seen, or refuse it (`posts.moderate_comment`)."""
    await moderation.community_comment(desk.session, desk.viewer.user, desk.community.id, comment_id)
    await posts.moderate_comment(desk.session, desk.viewer.user, comment_id, decision == "approve")
    return web.redirect(_base(desk), request)
