"""A household's phone in the console: masked, revealed in full only by a deliberate, logged request
of staff of its community."""

from __future__ import annotations

from sqlalchemy import select

from api.db.models import PhoneReveal
from tests.factories import community, grant, join, login, platform_admin


async def test_staff_reveal_a_phone_deliberately_and_it_is_logged(client, db, console):
    admin = await platform_admin(client, db)
    place = await community(client, admin, "A社区")
    elsewhere = await community(client, admin, "C社区")
    worker, stranger = await login(client, "社工小王"), await login(client, "社工小张")
    await grant(client, admin, place["id"], worker, "staff")
    await grant(client, admin, elsewhere["id"], stranger, "staff")
    resident = await login(client, "居民老李")
    bound = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812345678"}, headers=resident.headers
    )
    assert bound.status_code == 200, bound.text
    household_id = (await join(client, resident, place["id"]))["member"]["household_id"]

    browser = await console(worker)
    path = f"/console/c/{place['id']}/households/{household_id}/phone?context=household"
    refused = await browser.post(path, csrf=False)
    assert refused.status_code == 403
    shown = await browser.post(path)
    assert shown.status_code == 200 and "13812345678" in shown.text

    other = await console(stranger)
    assert (await other.post(f"/console/c/{elsewhere['id']}/households/{household_id}/phone")).status_code == 404
    assert (await other.post(path)).status_code == 404  # not staff there: no such community for them

    async with db.session() as session:
        reveals = (await session.execute(select(PhoneReveal))).scalars().all()
    assert [(r.household_id, r.revealed_by, r.context) for r in reveals] == [
        (household_id, worker.user_id, "household")
    ]
