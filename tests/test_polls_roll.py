"""The voter roll: a snapshot taken once, unaffected by households and members joining after it;
published to residents with masked names where the poll says so, searched by address only; the
objections residents raise while it is out, and staff's answers that strike an elector off it or
add one before voting starts, with the roll's count and area following."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api import clock
from tests.factories import join, login
from tests.test_polls import API, NOW, YES, World, art278_question, at, error, field_of, settings  # noqa: F401


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


async def object_to(w: World, poll_id: int, person, body: str = "3栋1单元104的孙丽也是业主，名册上没有"):
    return await w.client.post(f"{API}/polls/{poll_id}/objections", json={"body": body}, headers=person.headers)


async def answer(w: World, poll_id: int, objection_id: int, **body):
    return await w.client.post(
        f"{API}/polls/{poll_id}/objections/{objection_id}/answer",
        json={"status": "upheld", "answer": "已核实，补登", **body},
        headers=w.staff.headers,
    )


async def test_the_roll_is_a_snapshot_unaffected_by_households_joining_after_the_open(w):
    households = await w.opened(electorate="household")
    residents = await w.opened(electorate="resident")
    assert (households["roll_count"], residents["roll_count"]) == (3, 5)
    # after the open: a new household, a new member of an existing one, an elder registered by staff
    sun, _ = await w.head("孙丽", "104")
    son = await w.relative("陈小明", w.chen, "101")
    registered = await w.client.post(
        f"{API}/communities/{w.b}/households",
        json={
            "building": "3栋",
            "unit": "1单元",
            "room": "105",
            "members": [{"display_name": "赵爷爷", "kind": "elder"}],
        },
        headers=w.staff.headers,
    )
    assert registered.status_code == 201, registered.text
    for poll in (households, residents):
        view = await w.view(poll["id"])
        assert view["roll_count"] == poll["roll_count"] and view["roll_taken_at"] == at()
        labels = [e["label"] for e in (await w.roll(poll["id"]))["items"]]
        assert not any("104" in label or "105" in label or "陈小明" in label for label in labels), labels
        assert error(await w.vote(sun, poll["id"])) == (403, "poll_not_elector")
        assert (await w.mine(sun, poll["id"]))["eligible"] is False
    # a household on the roll may be voted for by a member who joined it later; a person may not
    assert (await w.vote(son, households["id"])).status_code == 201
    assert error(await w.vote(son, residents["id"])) == (403, "poll_not_elector")
    # the preview, taken now, counts them: the roll does not
    preview = await w.client.get(
        f"{API}/communities/{w.b}/polls/electorate", params={"electorate": "household"}, headers=w.staff.headers
    )
    assert preview.json()["electors"] == 5 and (await w.view(households["id"]))["roll_count"] == 3


async def test_the_roll_for_staff_shows_who_took_part_and_is_searched_by_name_or_address(w):
    poll = await w.opened(electorate="resident")
    assert (await w.vote(w.mei, poll["id"])).status_code == 201
    roll = await w.roll(poll["id"])
    assert [(e["label"], e["weight"], e["participated"]) for e in roll["items"]] == [
        ("3栋1单元101 陈明", "1", False),
        ("3栋1单元101 林梅", "1", True),
        ("3栋1单元102 周强", "1", False),
        ("3栋1单元102 王奶奶", "1", False),
        ("3栋1单元103 李华", "1", False),
    ]
    assert roll["items"][1]["channel_label"] == "小程序" and roll["published"] is False
    assert [e["label"] for e in (await w.roll(poll["id"], q="王奶"))["items"]] == ["3栋1单元102 王奶奶"]
    assert [e["label"] for e in (await w.roll(poll["id"], q="1单元103"))["items"]] == ["3栋1单元103 李华"]
    assert (await w.roll(poll["id"], q="%"))["items"] == []  # taken literally
    first = await w.roll(poll["id"], limit=2)
    rest = await w.roll(poll["id"], cursor=first["next_cursor"], limit=10)
    assert len(first["items"]) == 2 and len(rest["items"]) == 3 and rest["next_cursor"] is None
    # residents do not see a roll the poll does not publish
    hidden = await w.get(poll["id"], w.chen, "/roll")
    assert error(hidden) == (403, "poll_roll_hidden")
    assert error(await w.get(poll["id"], w.c_staff, "/roll")) == (404, "poll_not_found")


async def test_a_roll_out_for_objections_masks_names_and_objections_change_it_before_voting(w):
    # objections need the start at least that many days away
    early = await w.draft(electorate="resident", objection_days=3, opens_at=at(days=2), closes_at=at(days=9))
    short = await w.publish(early["id"])
    assert error(short) == (409, "poll_objection_period_short")
    assert "12月4日 10:00" in short.json()["error"]["message"]
    poll = await w.draft(electorate="resident", objection_days=3, opens_at=at(days=3), closes_at=at(days=10))
    published = (await w.publish(poll["id"])).json()
    assert (published["status"], published["phase"], published["phase_label"]) == (
        "scheduled",
        "objections",
        "名册公示中",
    )
    assert published["roll_count"] == 5 and published["roll_public"] is True
    # residents read it with names masked and nothing of who took part; they search by address only
    seen = await w.roll(poll["id"], w.zhou)
    assert [e["label"] for e in seen["items"]] == [
        "3栋1单元101 陈*",
        "3栋1单元101 林*",
        "3栋1单元102 周*",
        "3栋1单元102 王**",
        "3栋1单元103 李*",
    ]
    assert {(e["participated"], e["member_id"], e["household_id"]) for e in seen["items"]} == {(None, None, None)}
    assert (await w.roll(poll["id"], w.zhou, q="陈明"))["items"] == []  # a name is not confirmed by a search
    assert len((await w.roll(poll["id"], w.zhou, q="1单元101"))["items"]) == 2
    assert error(await w.vote(w.zhou, poll["id"])) == (409, "poll_not_open")
    # 孙丽 moves in during the objection period and objects that she is missing
    sun = await login(w.client, "孙丽")
    sun_member = int((await join(w.client, sun, w.b, "3栋", "1单元", "104"))["member"]["id"])
    raised = await object_to(w, poll["id"], sun)
    assert raised.status_code == 201, raised.text
    assert (raised.json()["status_label"], raised.json()["mine"], raised.json()["raised_by"]) == ("待答复", True, None)
    other = (await object_to(w, poll["id"], w.li, "周强家的王奶奶已经搬走了")).json()
    mine = await w.client.get(f"{API}/polls/{poll['id']}/objections", headers=sun.headers)
    assert [o["id"] for o in mine.json()["items"]] == [raised.json()["id"]]
    everyone = await w.client.get(f"{API}/polls/{poll['id']}/objections", headers=w.staff.headers)
    assert [o["raised_by"] for o in everyone.json()["items"]] == ["孙丽", "李华"]
    # upheld: she is added; 王奶奶 struck off (kept, with the reason)
    dismissed_with_change = await answer(
        w, poll["id"], raised.json()["id"], status="dismissed", add_member_id=sun_member
    )
    assert field_of(dismissed_with_change) == "status"
    wrong_kind = await answer(w, poll["id"], raised.json()["id"], add_household_id=w.h103)
    assert field_of(wrong_kind) == "add_household_id"
    added = await answer(w, poll["id"], raised.json()["id"], add_member_id=sun_member)
    assert added.status_code == 200, added.text
    assert (added.json()["status"], added.json()["answer"]) == ("upheld", "已核实，补登")
    assert error(await answer(w, poll["id"], raised.json()["id"], add_member_id=sun_member)) == (
        409,
        "poll_objection_answered",
    )
    elder = await w.elector(poll["id"], "102 王奶奶")
    struck = await answer(w, poll["id"], other["id"], answer="已搬走，划去", strike_elector_id=elder)
    assert struck.status_code == 200, struck.text
    view = await w.view(poll["id"])
    assert view["roll_count"] == 5  # five, one added, one struck
    staff_roll = {e["label"]: e for e in (await w.roll(poll["id"]))["items"]}
    assert staff_roll["3栋1单元102 王奶奶"]["struck"] is True
    assert staff_roll["3栋1单元102 王奶奶"]["note"].endswith("已搬走，划去")
    assert staff_roll["3栋1单元104 孙丽"]["struck"] is False
    assert "3栋1单元102 王**" not in [e["label"] for e in (await w.roll(poll["id"], w.zhou))["items"]]
    # sun reads the answer
    answered = await w.client.get(f"{API}/polls/{poll['id']}/objections", headers=sun.headers)
    assert answered.json()["items"][0]["status_label"] == "异议成立"
    # once voting starts: no objections, no changes to the roll; the struck elder's paper ballot is refused
    clock.advance(timedelta(days=3))
    assert error(await object_to(w, poll["id"], w.chen)) == (409, "poll_objections_closed")
    late = (await object_to(w, poll["id"], w.chen)).json()
    assert late["error"]["details"] == {"phase": "voting"}
    assert (await w.vote(sun, poll["id"])).status_code == 201
    refused = await w.enter(poll["id"], elder)
    assert field_of(refused) == "elector_id"
    opened = await w.view(poll["id"])
    assert (opened["status"], opened["roll_count"], opened["turnout"]["electors"]) == ("open", 5, 5)


async def test_objections_are_answered_by_staff_and_the_roll_is_locked_once_voting_starts(w):
    poll = await w.draft(electorate="household", objection_days=2, opens_at=at(days=2), closes_at=at(days=9))
    await w.publish(poll["id"])
    raised = (await object_to(w, poll["id"], w.chen, "103已经空置了")).json()
    elsewhere = await w.opened(electorate="household")
    someone_else = await w.elector(elsewhere["id"], "103")
    assert field_of(await answer(w, poll["id"], raised["id"], strike_elector_id=someone_else)) == "strike_elector_id"
    two = await answer(w, poll["id"], raised["id"], strike_elector_id=someone_else, add_household_id=w.h103)
    assert field_of(two) == "strike_elector_id"
    on_it = await answer(w, poll["id"], raised["id"], add_household_id=w.h103)
    assert error(on_it) == (409, "poll_elector_exists")
    by_resident = await w.client.post(
        f"{API}/polls/{poll['id']}/objections/{raised['id']}/answer",
        json={"status": "dismissed", "answer": "不成立"},
        headers=w.chen.headers,
    )
    assert error(by_resident) == (403, "staff_only")
    clock.advance(timedelta(days=2))
    h103 = await w.elector(poll["id"], "103")
    locked = await answer(w, poll["id"], raised["id"], strike_elector_id=h103)
    assert error(locked) == (409, "poll_roll_locked")
    # an answer without a change is still given after voting starts
    dismissed = await answer(w, poll["id"], raised["id"], status="dismissed", answer="仍有业主居住，不成立")
    assert dismissed.status_code == 200 and dismissed.json()["status_label"] == "异议不成立"
    missing = await answer(w, poll["id"], 10**9)
    assert error(missing) == (404, "poll_objection_not_found")


async def test_a_flat_roll_adds_a_flat_with_an_area_only_whoever_lives_there(w):
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, 10047)
    poll = await w.draft(
        electorate="flat", rule="art278", questions=[art278_question()], objection_days=1, opens_at=at(days=1)
    )
    published = (await w.publish(poll["id"])).json()
    assert (published["roll_count"], published["roll_weight"]) == (2, "190.00")
    raised = (await object_to(w, poll["id"], w.li, "103的房东也是业主，房子漏登了")).json()
    no_area = await answer(w, poll["id"], raised["id"], add_household_id=w.h103)
    assert error(no_area) == (409, "poll_roll_area_missing")
    await w.flat(w.h103, 6500, owner=False)  # 李华 rents it: the flat counts all the same
    added = await answer(w, poll["id"], raised["id"], add_household_id=w.h103)
    assert added.status_code == 200, added.text
    view = await w.view(poll["id"])
    assert (view["roll_count"], view["roll_weight"]) == (3, "255.00")
    again = (await object_to(w, poll["id"], w.zhou, "101不应在名册上")).json()
    h101 = await w.elector(poll["id"], "101")
    assert (await answer(w, poll["id"], again["id"], strike_elector_id=h101)).status_code == 200
    view = await w.view(poll["id"])
    assert (view["roll_count"], view["roll_weight"]) == (2, "165.47")
    third = (await object_to(w, poll["id"], w.zhou, "再划一次")).json()
    assert error(await answer(w, poll["id"], third["id"], strike_elector_id=h101)) == (409, "poll_elector_struck")
    # the resident roll shows areas (no names on a flat roll)
    seen = await w.roll(poll["id"], w.zhou)
    assert [(e["label"], e["weight"]) for e in seen["items"]] == [("3栋1单元102", "100.47"), ("3栋1单元103", "65.00")]
    clock.advance(timedelta(days=1))
    assert error(await w.vote(w.li, poll["id"], YES)) == (403, "poll_not_owner")  # the owner votes on paper
    paper = {"elector_id": await w.elector(poll["id"], "103"), "channel": "paper", "answers": YES}
    assert (
        await w.client.post(f"{API}/polls/{poll['id']}/entries", json=paper, headers=w.staff.headers)
    ).status_code == 201
    turnout = await w.view(poll["id"], tail="/turnout")
    assert (turnout["weight_participated"], turnout["area_percent"]) == ("65.00", 39.28)


async def test_a_flat_roll_is_the_register_as_it_was_at_publishing(w):
    """A flat poll without objection days, scheduled: its roll (the flats and their areas) is taken
    when it is published — an owner's area cleared or a flat's area recorded afterwards changes
    nothing of it, at the opening or after."""
    await w.flat(w.h101, 8953)
    await w.flat(w.h102, 10047)
    poll = await w.draft(electorate="flat", rule="art278", questions=[art278_question()], opens_at=at(days=1))
    published = (await w.publish(poll["id"])).json()
    assert (published["status"], published["phase"], published["roll_taken_at"]) == ("scheduled", "scheduled", at())
    assert (published["roll_count"], published["roll_weight"]) == (2, "190.00")

    async def household(household_id: int, **body: Any) -> None:
        response = await w.client.patch(f"{API}/households/{household_id}", json=body, headers=w.staff.headers)
        assert response.status_code == 200, response.text

    await household(w.h101, floor_area=None)  # 101's area cleared after publishing
    await household(w.h103, floor_area="65", is_owner=True)  # 103's recorded after publishing
    clock.advance(timedelta(days=1))
    await w.run_worker()  # polls.open
    opened = await w.view(poll["id"])
    assert (opened["status"], opened["roll_taken_at"]) == ("open", at())
    assert (opened["roll_count"], opened["roll_weight"]) == (2, "190.00")
    roll = await w.roll(poll["id"])
    assert [(e["label"], e["weight"]) for e in roll["items"]] == [("3栋1单元101", "89.53"), ("3栋1单元102", "100.47")]
    assert (await w.vote(w.chen, poll["id"], YES)).status_code == 201  # 101 votes with its area as published
    assert error(await w.vote(w.li, poll["id"], YES)) == (403, "poll_not_elector")  # 103 is not on it
    turnout = await w.view(poll["id"], tail="/turnout")
    assert (turnout["weight_participated"], turnout["weight_total"]) == ("89.53", "190.00")
