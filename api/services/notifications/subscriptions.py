"""The subscribe-message credit ledger, fed by what `wx.requestSubscribeMessage` reports.

Each `accept` allows exactly one message of that template (WECHAT.md), so the ledger adds one;
each send takes one; WeChat's 43101 or the resident's `ban` (turned off in settings) zeroes it;
`reject` leaves earlier grants as they are. A retried report must carry the same Idempotency-Key,
or the accepts are counted twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import SubscriptionCredit, User
from api.db.session import settings_of
from api.db.upsert import insert_ignore
from api.services.notifications import catalogue


async def report(session: AsyncSession, user: User, results: dict[str, str]) -> dict[str, Any]:
    """Record one `wx.requestSubscribeMessage` result: {template_id: accept | reject | ban | filter}
    (`filter`: WeChat hid the template; counts as a reject). Template ids Linli does not use are
    listed back as ignored."""
    known = catalogue.configured_templates(settings_of(session))
    now = clock.now()
    ignored = []
    for template_id, answer in results.items():
        result = "reject" if answer == "filter" else answer
        if template_id not in known:
            ignored.append(template_id)
            continue
        await insert_ignore(
            session,
            SubscriptionCredit,
            {"user_id": user.id, "template_id": template_id, "credits": 0, "last_result": result, "updated_at": now},
            ["user_id", "template_id"],
        )
        credits: Any = {
            "accept": SubscriptionCredit.credits + 1,
            "ban": 0,
            "reject": SubscriptionCredit.credits,
        }[result]
        await session.execute(
            update(SubscriptionCredit)
            .where(SubscriptionCredit.user_id == user.id, SubscriptionCredit.template_id == template_id)
            .values(credits=credits, last_result=result, updated_at=now)
        )
    return {"templates": await list_subscriptions(session, user), "ignored": sorted(ignored)}


async def list_subscriptions(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    """Every template Linli may send, what it is for, and how many messages of it the user will
    still receive."""
    known = catalogue.configured_templates(settings_of(session))
    rows = {
        credit.template_id: credit
        for credit in (
            await session.execute(select(SubscriptionCredit).where(SubscriptionCredit.user_id == user.id))
        ).scalars()
    }
    result = []
    for template_id, kinds in known.items():
        credit = rows.get(template_id)
        result.append(
            {
                "template_id": template_id,
                "kinds": [{"kind": k.name, "label": k.label} for k in kinds],
                "credits": credit.credits if credit else 0,
                "last_result": credit.last_result if credit else None,
                "updated_at": credit.updated_at if credit else None,
            }
        )
    return result
