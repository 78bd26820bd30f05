"""Fifty families reach for the one copy of a popular picture book at the same moment, some phones
scanning twice: one loan, and a clear answer for everyone else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from api import clock
from api.db.models import BookCopy, Loan
from tests.factories import community, grant, join, login, platform_admin


async def test_one_copy_is_lent_once_however_many_reach_for_it(client, db):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # Tuesday 10:00: open, self-service allowed
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    await client.post(f"/api/v1/communities/{b}/spaces", json={"name": "复合空间"}, headers=root.headers)
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    book = await client.post(f"/api/v1/communities/{b}/books", json={"title": "好饿的毛毛虫"}, headers=staff.headers)
    await client.post(f"/api/v1/books/{book.json()['id']}/copies", json={"barcode": "HOT-1"}, headers=staff.headers)

    families = []
    for n in range(55):
        person = await login(client, f"f{n}")
        joined = await join(client, person, b, f"{n % 6 + 1}栋", "1单元", str(200 + n))
        families.append((person, joined["member"]["id"]))

    def scan(person, member_id, key):
        return client.post(
            f"/api/v1/communities/{b}/loans",
            json={"barcode": "HOT-1", "member_id": member_id},
            headers={**person.headers, "Idempotency-Key": key},
        )

    requests = [scan(p, m, f"scan-{p.name}") for p, m in families]
    requests += [scan(p, m, f"scan-{p.name}") for p, m in families[:15]]  # phones that scanned twice
    answers = await asyncio.gather(*requests)

    assert all(r.status_code in (201, 409) for r in answers), [
        r.text for r in answers if r.status_code not in (201, 409)
    ]
    winners = {r.json()["member"]["id"] for r in answers if r.status_code == 201}
    assert len(winners) == 1  # a replayed double scan answers 201 with the same loan
    for response in answers:
        if response.status_code == 409:
            assert response.json()["error"]["code"] in {"copy_on_loan", "idempotency_in_flight"}
    async with db.session(write=False) as session:
        active = (await session.execute(select(Loan.member_id).where(Loan.returned_at.is_(None)))).scalars().all()
        state = (await session.execute(select(BookCopy.state).where(BookCopy.barcode == "HOT-1"))).scalar_one()
        total = (await session.execute(select(func.count()).select_from(Loan))).scalar_one()
    assert active == list(winners) and total == 1
    assert state == "on_loan"
