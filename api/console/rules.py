"""The rules in the console's settings (活动与借阅规则): the activity policy (no-shows and the
pause of booking they bring, the reminder before an activity) and the library's lending rules
(loan days, copies at a time, children's own limits, renewals, holds), as two forms.

Both go through the services the API calls (`activities.manage.set_policy`,
`library.desk.set_policy`), which say who may change them. A refused form comes back with what was
typed and each refusal beside its field; a saved one says so."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.console import web
from api.schemas.activities import PolicyUpdate
from api.schemas.library import LoanPolicyUpdate
from api.services.activities import manage
from api.services.library import desk as library_desk

router = APIRouter(prefix=web.PREFIX + "/c/{community_id}/settings", include_in_schema=False)

ACTIVITY_LABELS = {
    "no_show_limit": "爽约次数",
    "no_show_window_days": "统计天数",
    "block_days": "暂停预约天数",
    "reminder_hours": "提前提醒小时数",
}
LIBRARY_LABELS = {
    "loan_days": "借期（天）",
    "max_loans": "每人最多借（册）",
    "child_loan_days": "儿童借期（天）",
    "child_max_loans": "儿童最多借（册）",
    "renewals": "可续借次数",
    "hold_shelf_days": "预约书保留天数",
    "max_holds": "每人最多预约（本）",
}
OPTIONAL = {"child_loan_days", "child_max_loans"}  # empty: as the adults'
WHOLE = re.compile(r"^\d{1,6}$")


def _numbers(
    form: FormData, labels: dict[str, str], model: type[BaseModel]
) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The form's fields as typed, as numbers for the API's model, and the refusals by field."""
    values: dict[str, str] = {}
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in labels:
        raw = form.get(name)
        text = raw.strip()[:20] if isinstance(raw, str) else ""
        values[name] = text
        if not text:
            if name in OPTIONAL:
                data[name] = None
            else:
                errors[name] = "请填写"
        elif WHOLE.fullmatch(text):
            data[name] = int(text)
        else:
            errors[name] = "请填写整数"
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for name, message in web.model_errors(exc, labels).items():
            errors.setdefault(name, message)
    return values, data, errors


def _shown(policy: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    return {name: "" if policy.get(name) is None else str(policy[name]) for name in labels}


def _form(
    request: Request,
    desk: web.Desk,
    which: str,
    values: dict[str, str],
    errors: dict[str, str],
    saved: bool = False,
) -> Response:
    labels = ACTIVITY_LABELS if which == "activity" else LIBRARY_LABELS
    context = {"values": values, "errors": errors, "labels": labels, "saved": saved}
    return web.render(request, f"settings/rules_{which}.html", context, status_code=422 if errors else 200, desk=desk)


@router.get("/rules")
async def rules_page(request: Request, desk: web.DeskDep) -> Response:
    user, cid = desk.viewer.user, desk.community.id
    activity = await manage.get_policy(desk.session, user, cid)
    library = await library_desk.get_policy(desk.session, user, cid)
    context = {
        "tab": "rules",
        "activity": {"values": _shown(activity, ACTIVITY_LABELS), "labels": ACTIVITY_LABELS},
        "library": {"values": _shown(library, LIBRARY_LABELS), "labels": LIBRARY_LABELS},
    }
    return web.render(request, "settings/rules.html", context, desk=desk, nav="settings")


@router.post("/rules/activity", dependencies=[web.CsrfChecked])
async def save_activity_rules(request: Request, desk: web.DeskDep) -> Response:
    """The no-show rule and the reminder; every field is set (the form shows them all)."""
    values, data, errors = _numbers(await request.form(), ACTIVITY_LABELS, PolicyUpdate)
    if errors:
        return _form(request, desk, "activity", values, errors)
    saved = await manage.set_policy(desk.session, desk.viewer.user, desk.community.id, data)
    return _form(request, desk, "activity", _shown(saved, ACTIVITY_LABELS), {}, saved=True)


@router.post("/rules/library", dependencies=[web.CsrfChecked])
async def save_library_rules(request: Request, desk: web.DeskDep) -> Response:
    """The lending rules; a child's limits left empty follow the adults'."""
    values, data, errors = _numbers(await request.form(), LIBRARY_LABELS, LoanPolicyUpdate)
    if errors:
        return _form(request, desk, "library", values, errors)
    saved = await library_desk.set_policy(desk.session, desk.viewer.user, desk.community.id, data)
    return _form(request, desk, "library", _shown(saved, LIBRARY_LABELS), {}, saved=True)
