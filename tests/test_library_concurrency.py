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


async def _library(client, db, families: int):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    root = await platform_admin(client, db)
    b = (await community(client, root))["id"]
    await client.post(f"/api/v1/communities/{b}/spaces", json={"name": "复合空间"}, headers=root.headers)
    staff = await login(client, "staff")
    await grant(client, root, b, staff, "staff")
    people = []
    for n in range(families):
        person = await login(client, f"g{n}")
        joined = await join(client, person, b, "7栋", "1单元", str(100 + n))
        people.append((person, joined["member"]["id"]))
    return b, staff, people


async def _add_book(client, b, staff, title, copies):
    book = (await client.post(f"/api/v1/communities/{b}/books", json={"title": title}, headers=staff.headers)).json()
    for n in range(copies):
        await client.post(f"/api/v1/books/{book['id']}/copies", json={"barcode": f"{title}-{n}"}, headers=staff.headers)
    return book["id"]


async def test_one_member_tapping_many_books_at_once_stays_within_the_limit(client, db):
    b, staff, [(person, member)] = await _library(client, db, 1)
    for n in range(8):
        await _add_book(client, b, staff, f"书{n}", 1)
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/communities/{b}/loans",
                json={"barcode": f"书{n}-0", "member_id": member},
                headers=person.headers,
            )
            for n in range(8)
        )
    )
    assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 5
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"loan_limit"}


async def test_collecting_a_hold_while_it_is_cancelled_leaves_the_books_consistent(client, db):
    """The household cancels a ready hold at the moment staff lend the kept copy to it; another
    family waits next. Whichever wins, the copy, the loans and the holds agree."""
    from api.db.models import Hold

    b, staff, [(first, first_member), (second, second_member)] = await _library(client, db, 2)
    await client.put(
        f"/api/v1/communities/{b}/loan-policy", json={"max_holds": 20, "max_loans": 20}, headers=staff.headers
    )
    for round_ in range(6):
        book_id = await _add_book(client, b, staff, f"热门{round_}", 1)
        kept = (
            await client.post(f"/api/v1/books/{book_id}/holds", json={"member_id": first_member}, headers=first.headers)
        ).json()
        queued = (
            await client.post(
                f"/api/v1/books/{book_id}/holds", json={"member_id": second_member}, headers=second.headers
            )
        ).json()
        assert (kept["status"], queued["status"]) == ("ready", "waiting")
        lend, cancel = await asyncio.gather(
            client.post(
                f"/api/v1/communities/{b}/loans",
                json={"barcode": f"热门{round_}-0", "member_id": first_member},
                headers=staff.headers,
            ),
            client.post(f"/api/v1/holds/{kept['id']}/cancel", headers=first.headers),
        )
        assert lend.status_code in (201, 409) and cancel.status_code == 200, (lend.text, cancel.text)
        async with db.session(write=False) as session:
            state = (
                await session.execute(select(BookCopy.state).where(BookCopy.barcode == f"热门{round_}-0"))
            ).scalar_one()
            active = (
                (
                    await session.execute(
                        select(Loan.member_id).where(Loan.book_id == book_id, Loan.returned_at.is_(None))
                    )
                )
                .scalars()
                .all()
            )
            ready = (
                (await session.execute(select(Hold.member_id).where(Hold.book_id == book_id, Hold.status == "ready")))
                .scalars()
                .all()
            )
        if lend.status_code == 201:  # lent before the cancellation: the hold was already fulfilled
            assert (state, active, ready) == ("on_loan", [first_member], [])
        else:  # cancelled first: the copy waits for the next family
            assert lend.json()["error"]["code"] == "copy_held"
            assert (state, active, ready) == ("on_hold_shelf", [], [second_member])
