"""Households' phone numbers as staff see them: masked everywhere (138****1234), in full only on a
deliberate reveal that is logged (who saw whose number, where, when).

A household's number is the contact phone staff recorded at the desk (sealed at rest, like ID
numbers), else the WeChat-bound number of its head, else of another member with WeChat.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Household, Member, PhoneReveal, User
from api.db.session import settings_of
from api.errors import NotFound, invalid_field
from api.security import SealError, seal, unseal
from api.services import access
from api.services.users import mask_phone

PURPOSE = "household.contact_phone"
# a mainland mobile (13812345678) or a landline with its area code (028-12345678)
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
PHONE_PATTERN = PHONE.pattern

Context = Literal["household", "overdue"]


def normalise(number: str, *, field: str = "contact_phone") -> str:
    """Spaces and dashes people type are dropped from a mobile number; anything that is not a
    mainland mobile or a landline with its area code is a 422 naming `field`."""
    compact = re.sub(r"[\s]", "", number)
    if compact.startswith("1"):
        compact = compact.replace("-", "")
    if not PHONE.fullmatch(compact):
        raise invalid_field(field, "应为 11 位手机号或带区号的座机号", kind="phone_invalid")
    return compact


async def set_contact_phone(session: AsyncSession, household: Household, number: str | None) -> None:
    """Record (or with None, remove) the household's contact phone, sealed."""
    if number is None or number == "":
        household.contact_phone_sealed = None
    else:
        household.contact_phone_sealed = seal(settings_of(session), normalise(number), purpose=PURPOSE)
    await session.flush()


async def numbers(session: AsyncSession, household_ids: list[int]) -> dict[int, str]:
    """The full number of each household that has one (internal: callers mask it)."""
    if not household_ids:
        return {}
    found: dict[int, str] = {}
    settings = settings_of(session)
    rows = await session.execute(
        select(Household.id, Household.contact_phone_sealed).where(
            Household.id.in_(household_ids), Household.contact_phone_sealed.is_not(None)
        )
    )
    for household_id, sealed in rows:
        if sealed is None:
            continue
        try:
            found[household_id] = unseal(settings, sealed, purpose=PURPOSE)
        except SealError:
            continue  # sealed with another key: as if none were recorded
    missing = [h for h in household_ids if h not in found]
    if missing:
        phones = await session.execute(
            select(Member.household_id, User.phone_number)
            .join(User, User.id == Member.user_id)
            .where(Member.household_id.in_(missing), Member.status == "active", User.phone_number.is_not(None))
            .order_by(Member.household_id, Member.is_head.desc(), Member.id)
        )
        for household_id, number in phones:
            if number:
                found.setdefault(household_id, number)
    return found


async def masked(session: AsyncSession, household_ids: list[int]) -> dict[int, str]:
    """138****1234 for each household that has a number."""
    return {h: mask_phone(n) or "" for h, n in (await numbers(session, household_ids)).items()}


async def reveal(session: AsyncSession, user: User, community_id: int, household_id: int, context: Context) -> str:
    """The household's number in full, for staff of its community; the reveal is logged. A
    household of another community is not found; one without a number: 404 phone_not_recorded."""
    await access.require_staff(session, user, community_id)
    household = await session.get(Household, household_id)
    if household is None or household.community_id != community_id:
        raise NotFound("household_not_found", "找不到该住户")
    number = (await numbers(session, [household.id])).get(household.id)
    if number is None:
        raise NotFound("phone_not_recorded", "该住户没有登记电话")
    session.add(
        PhoneReveal(
            community_id=household.community_id,
            household_id=household.id,
            revealed_by=user.id,
            context=context,
            created_at=clock.now(),
        )
    )
    await session.flush()
    return number
