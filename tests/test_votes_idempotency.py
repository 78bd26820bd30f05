"""Idempotency-Key on the routes that take a choice that must stay apart from the chooser: a secret
ballot (in the app, or entered by staff from paper) and an anonymous questionnaire (in the app, or
entered by staff). What the server keeps for a key — the user, the time, a fingerprint of the
request and the answer to replay — must say nothing of the choice: a hash of the body would, there
being few bodies to try (three candidates, a yes or a no). So these routes' fingerprint covers the
method and the path only, and their stored answer holds no choice, no receipt and (for an anonymous
questionnaire entered by staff) no respondent. A retry replays the first answer; a different body
under the same key is not detected and replays the first answer too.

The world is built through the API: community B, its staff, residents chen and zhou (3栋), an elder
without WeChat registered by staff (5栋)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api import clock
from api.db.models import IdempotencyKey
from api.services import idempotency
from tests.conftest import make_settings
from tests.factories import Person, community, grant, join, login, platform_admin

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
API = "/api/v1"
CANDIDATES = ["张三", "李四", "王五"]


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


class World:
    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.db = client, app.state.db
        root = await platform_admin(client, app.state.db)
        self.b = (await community(client, root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, root, self.b, self.staff, "staff")
        self.chen = await login(client, "chen")
        await join(client, self.chen, self.b, "3栋", "1单元", "101")
        self.zhou = await login(client, "zhou")
        await join(client, self.zhou, self.b, "3栋", "1单元", "102")
        elder = await client.post(
            f"{API}/communities/{self.b}/households",
            json={
                "building": "5栋",
                "unit": "1单元",
                "room": "501",
                "members": [{"display_name": "王奶奶", "kind": "elder"}],
            },
            headers=self.staff.headers,
        )
        assert elder.status_code == 201, elder.text
        self.elder_household, self.elder = elder.json()["id"], elder.json()["members"][0]["id"]
        return self

    async def post(self, path: str, body: dict[str, Any], person: Person, key: str) -> tuple[httpx.Response, bytes]:
        """POST `body` with an Idempotency-Key; the bytes sent, to hash as the server would."""
        sent = json.dumps(body, ensure_ascii=False).encode()
        response = await self.client.post(
            API + path,
            content=sent,
            headers={**person.headers, "Idempotency-Key": key, "Content-Type": "application/json"},
        )
        return response, sent

    async def keys(self) -> list[IdempotencyKey]:
        async with self.db.session(write=False) as session:
            return list((await session.execute(select(IdempotencyKey).order_by(IdempotencyKey.id))).scalars())


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def prints(path: str, bodies: list[dict[str, Any]]) -> set[str]:
    """The fingerprints of every body one could try, written as clients write them."""
    found = set()
    for body in bodies:
        for ascii_ in (True, False):
            for separators in ((", ", ": "), (",", ":")):
                sent = json.dumps(body, ensure_ascii=ascii_, separators=separators).encode()
                found.add(idempotency.fingerprint("POST", path, sent))
    return found


def ballots() -> list[dict[str, Any]]:
    """Every ballot of a one-seat election among three: one candidate, with or without a text."""
    found: list[dict[str, Any]] = []
    for option in range(len(CANDIDATES)):
        found.append({"answers": [{"question": 0, "options": [option]}]})
        found.append({"answers": [{"question": 0, "options": [option], "text": ""}]})
    return found


async def test_a_secret_ballots_key_keeps_nothing_of_the_choice_and_still_replays(w):
    made = await w.client.post(
        f"{API}/communities/{w.b}/polls",
        json={
            "title": "院落自治委员会选举",
            "kind": "election",
            "seats": 1,
            "tie_rule": "lot",
            "secret": True,
            "electorate": "household",
            "opens_at": (NOW + timedelta(hours=1)).isoformat(),
            "closes_at": (NOW + timedelta(days=3)).isoformat(),
            "questions": [],
            "candidates": [{"name": name} for name in CANDIDATES],
        },
        headers=w.staff.headers,
    )
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    assert (await w.client.post(f"{API}/polls/{pid}/publish", headers=w.staff.headers)).status_code == 200
    clock.freeze(NOW + timedelta(hours=2))

    path = f"/polls/{pid}/ballot"
    chosen = {"answers": [{"question": 0, "options": [2]}]}
    first, _ = await w.post(path, chosen, w.chen, "ballot-1")
    assert first.status_code == 201, first.text
    receipt = first.json()["receipt"]
    assert receipt
    # staff enter the elder's paper ballot, with a key too
    roll = await w.client.get(f"{API}/polls/{pid}/roll?limit=100", headers=w.staff.headers)
    (elector,) = [i["id"] for i in roll.json()["items"] if i["label"].startswith("5栋")]
    entry = {"elector_id": elector, "channel": "paper", "answers": [{"question": 0, "options": [1]}]}
    entered, _ = await w.post(f"/polls/{pid}/entries", entry, w.staff, "entry-1")
    assert entered.status_code == 201, entered.text
    assert entered.json()["receipt"]

    # nothing kept for the keys gives a choice away: no fingerprint is any ballot's, no answer holds one
    kept = await w.keys()
    assert len(kept) == 2
    entries = [
        {**entry, "answers": b["answers"]} for b in ballots()
    ]  # the elector and channel are known to staff: only the choice is unknown
    candidates = prints(API + path, ballots()) | prints(f"{API}/polls/{pid}/entries", entries)
    for row in kept:
        assert row.fingerprint not in candidates
        stored = json.dumps(row.response_body, ensure_ascii=False)
        assert '"receipt": null' in stored and receipt not in stored
        assert entered.json()["receipt"] not in stored
        for name in CANDIDATES:
            assert name not in stored
        assert "answers" not in row.response_body and "options" not in stored

    # a retry replays the first answer, without the receipt; so does a different body under the key
    for body in (chosen, {"answers": [{"question": 0, "options": [0]}]}):
        again, _ = await w.post(path, body, w.chen, "ballot-1")
        assert again.status_code == 201, again.text
        assert again.json() == {**first.json(), "receipt": None, "receipt_withheld": True}
    again, _ = await w.post(
        f"/polls/{pid}/entries", {**entry, "answers": [{"question": 0, "options": [0]}]}, w.staff, "entry-1"
    )
    assert again.status_code == 201
    assert again.json() == {**entered.json(), "receipt": None, "receipt_withheld": True}
    assert len(await w.keys()) == 2  # the replays kept nothing more


async def test_an_anonymous_responses_key_keeps_nothing_of_the_answers_nor_whose_they_are(w):
    questions = [
        {"text": "家里有没有卧床的老人？", "kind": "single", "options": ["有", "没有"]},
        {"text": "希望上门服务吗？", "kind": "single", "options": ["希望", "不需要"], "required": False},
        {"text": "满意度", "kind": "scale", "required": False},
    ]
    made = await w.client.post(
        f"{API}/communities/{w.b}/surveys",
        json={"title": "居家养老需求调研", "closes_at": "2026-12-08T18:00", "questions": questions},
        headers=w.staff.headers,
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    assert made.json()["anonymous"] is True
    assert (await w.client.post(f"{API}/surveys/{sid}/open", headers=w.staff.headers)).status_code == 200

    given = {"answers": [{"question": 0, "options": [0]}, {"question": 1, "options": [0]}, {"question": 2, "scale": 2}]}
    first, _ = await w.post(f"/surveys/{sid}/responses", given, w.chen, "answer-1")
    assert first.status_code == 201, first.text
    paper = {"answers": [{"question": 0, "options": [1]}], "member_id": w.elder}
    entered, _ = await w.post(f"/surveys/{sid}/paper", paper, w.staff, "paper-1")
    assert entered.status_code == 201, entered.text
    assert entered.json()["respondent"] == "5栋1单元501 王奶奶" and entered.json()["respondent_withheld"] is False

    # every possible questionnaire, hashed: none is a kept fingerprint
    possible = []
    for first_q, second, scale in itertools.product([[0], [1]], [None, [0], [1]], [None, 1, 2, 3, 4, 5]):
        answers: list[dict[str, Any]] = [{"question": 0, "options": first_q}]
        if second is not None:
            answers.append({"question": 1, "options": second})
        if scale is not None:
            answers.append({"question": 2, "scale": scale})
        possible.append({"answers": answers})
    papers = [{**p, "member_id": w.elder} for p in possible]
    candidates = prints(f"{API}/surveys/{sid}/responses", possible) | prints(f"{API}/surveys/{sid}/paper", papers)
    kept = [k for k in await w.keys() if k.path.startswith(f"{API}/surveys/{sid}/")]
    assert len(kept) == 2
    for row in kept:
        assert row.fingerprint not in candidates
        stored = json.dumps(row.response_body, ensure_ascii=False)
        for word in ("answers", "有", "希望", "王奶奶", "501", "5栋"):
            assert word not in stored, (word, stored)

    # retries replay the first answer (the paper's without its respondent), whatever the body
    for body in (given, {"answers": [{"question": 0, "options": [1]}]}):
        again, _ = await w.post(f"/surveys/{sid}/responses", body, w.chen, "answer-1")
        assert (again.status_code, again.json()) == (201, first.json())
    again, _ = await w.post(f"/surveys/{sid}/paper", {**paper, "answers": given["answers"]}, w.staff, "paper-1")
    assert again.status_code == 201
    assert again.json() == {**entered.json(), "respondent": None, "respondent_withheld": True}
    count = (await w.client.get(f"{API}/surveys/{sid}", headers=w.staff.headers)).json()["response_count"]
    assert count == 2  # the retries kept nothing more
    # a named survey's paper entry keeps its respondent for the retry: nothing there to hide
    named = await w.client.post(
        f"{API}/communities/{w.b}/surveys",
        json={"title": "实名调研", "anonymous": False, "closes_at": "2026-12-08T18:00", "questions": questions},
        headers=w.staff.headers,
    )
    nid = named.json()["id"]
    assert (await w.client.post(f"{API}/surveys/{nid}/open", headers=w.staff.headers)).status_code == 200
    entered, _ = await w.post(f"/surveys/{nid}/paper", paper, w.staff, "paper-2")
    again, _ = await w.post(f"/surveys/{nid}/paper", paper, w.staff, "paper-2")
    assert again.json() == entered.json() and again.json()["respondent"] == "5栋1单元501 王奶奶"


async def test_other_routes_still_tell_a_different_body_under_the_same_key(w):
    body = {"title": "社区调研", "closes_at": "2026-12-08T18:00", "questions": [{"text": "建议", "kind": "text"}]}
    made, _ = await w.post(f"/communities/{w.b}/surveys", body, w.staff, "create-1")
    assert made.status_code == 201
    other, _ = await w.post(f"/communities/{w.b}/surveys", {**body, "title": "另一份"}, w.staff, "create-1")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_mismatch")
