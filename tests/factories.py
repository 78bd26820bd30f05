"""Small builders that go through the HTTP API (and the database only where no API exists yet)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from api.db.models import User
from api.db.session import Database


@dataclass
class Person:
    name: str
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, name: str) -> Person:
    response = await client.post("/api/v1/auth/wechat/login", json={"code": f"dev:{name}"})
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(name=name, user_id=body["user"]["id"], token=body["access_token"])


async def platform_admin(client: httpx.AsyncClient, db: Database, name: str = "root") -> Person:
    """What `linli create-admin` does, for a test user."""
    person = await login(client, name)
    async with db.session() as session:
        await session.execute(update(User).where(User.id == person.user_id).values(is_platform_admin=True))
        await session.commit()
    return person


async def community(client: httpx.AsyncClient, admin: Person, name: str = "B社区") -> dict[str, Any]:
    response = await client.post("/api/v1/communities", json={"name": name, "city": "成都市"}, headers=admin.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def grant(client: httpx.AsyncClient, admin: Person, community_id: int, person: Person, role: str) -> None:
    response = await client.put(
        f"/api/v1/communities/{community_id}/roles/{person.user_id}", json={"role": role}, headers=admin.headers
    )
    assert response.status_code == 204, response.text


async def join(
    client: httpx.AsyncClient,
    person: Person,
    community_id: int,
    building: str = "1栋",
    unit: str = "1单元",
    room: str = "101",
    **headers: str,
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/communities/{community_id}/join",
        json={"display_name": person.name, "building": building, "unit": unit, "room": room},
        headers={**person.headers, **headers},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def add_child(
    client: httpx.AsyncClient, head: Person, household_id: int, name: str = "小雨", birth_year: int = 2018
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/households/{household_id}/members",
        json={"display_name": name, "kind": "child", "birth_year": birth_year, "guardian_consent": True},
        headers=head.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def team(
    db: Database, community_id: int, name: str, members: list[Person], pending: tuple[Person, ...] = ()
) -> int:
    """A volunteer team with active members (no team API yet: the volunteers issue adds it)."""
    from api import clock
    from api.db.models import Team, TeamMember

    now = clock.now()
    async with db.session() as session:
        row = Team(community_id=community_id, name=name, description="", created_at=now, updated_at=now)
        session.add(row)
        await session.flush()
        for person, status in [(p, "active") for p in members] + [(p, "pending") for p in pending]:
            session.add(
                TeamMember(
                    team_id=row.id, user_id=person.user_id, role="member", status=status, created_at=now, updated_at=now
                )
            )
        await session.commit()
        return row.id


async def subscribe(client: httpx.AsyncClient, person: Person, template_id: str, times: int = 1) -> int:
    """The resident taps "allow" `times` times for `template_id`; returns the credits they hold."""
    credits = 0
    for _ in range(times):
        response = await client.post(
            "/api/v1/me/subscriptions",
            json={"errMsg": "requestSubscribeMessage:ok", template_id: "accept"},
            headers=person.headers,
        )
        assert response.status_code == 200, response.text
        (entry,) = [t for t in response.json()["templates"] if t["template_id"] == template_id]
        credits = entry["credits"]
    return credits


async def activity(
    client: httpx.AsyncClient, staff: Person, community_id: int, *, publish: bool = True, **fields: Any
) -> dict[str, Any]:
    """An activity (published unless told otherwise). Times default to tomorrow 10:00–11:30 UTC."""
    from datetime import timedelta

    from api import clock

    start = clock.now().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    body = {
        "title": "周六亲子阅读会",
        "category": "parent_child",
        "location": "复合空间阅读角",
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(minutes=90)).isoformat(),
        "capacity": 30,
        **fields,
    }
    response = await client.post(f"/api/v1/communities/{community_id}/activities", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    if publish:
        published = await client.post(f"/api/v1/activities/{result['id']}/publish", headers=staff.headers)
        assert published.status_code == 200, published.text
        result = published.json()
    return result


async def book(
    client: httpx.AsyncClient, person: Person, activity_id: int, attendee_ids: list[int] | None = None, **headers: str
) -> httpx.Response:
    body = {"attendee_ids": attendee_ids} if attendee_ids is not None else {}
    return await client.post(
        f"/api/v1/activities/{activity_id}/bookings", json=body, headers={**person.headers, **headers}
    )
