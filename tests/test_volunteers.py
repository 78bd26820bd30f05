"""Volunteers: teams, profiles, shifts and sign-ups, check-in/out, service records, certificates."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader
from sqlalchemy import select, text

from api import clock
from api.db.models import ServiceRecord, VolunteerProfile
from api.services.volunteers.common import credited_minutes
from api.services.volunteers.totals import EXPORT_COLUMNS
from tests.conftest import make_settings
from tests.factories import Person, activity, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.runner import Worker

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ID_NUMBER = "11010519491231002X"  # a valid check digit


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600, public_url="https://linli.example.org")


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)


def at(hours: float = 0, days: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours)).isoformat()


class V:
    async def build(self, client: Any, db: Any) -> V:
        self.client = client
        self.root = await platform_admin(client, db)
        self.b = (await community(client, self.root))["id"]
        self.staff = await login(client, "staff")
        await grant(client, self.root, self.b, self.staff, "staff")
        named = await client.patch("/api/v1/me", json={"display_name": "王社工"}, headers=self.staff.headers)
        assert named.status_code == 200
        self.liu = await self.resident("liu", "101")  # leader of the public volunteer team
        self.zhang = await self.resident("zhang", "102")
        self.sun = await self.resident("sun", "103")
        self.ma = await self.resident("ma", "104")  # leader of another team
        self.team = await self.make_team("公益志愿队", self.liu)
        self.other_team = await self.make_team("空间营造队", self.ma)
        for person in (self.zhang, self.sun):
            await self.member_of(self.team, person)
        return self

    async def resident(self, name: str, room: str) -> Person:
        person = await login(self.client, name)
        await join(self.client, person, self.b, "3栋", "1单元", room)
        return person

    async def make_team(self, name: str, leader: Person) -> int:
        response = await self.client.post(
            f"/api/v1/communities/{self.b}/teams",
            json={"name": name, "leader_ids": [leader.user_id]},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def member_of(self, team_id: int, person: Person, approver: Person | None = None) -> None:
        assert (await self.client.post(f"/api/v1/teams/{team_id}/join", headers=person.headers)).status_code == 200
        answer = await self.client.post(
            f"/api/v1/teams/{team_id}/requests/{person.user_id}",
            json={"approve": True},
            headers=(approver or self.staff).headers,
        )
        assert answer.status_code == 200, answer.text

    async def shift(self, start: float = 4, hours_long: float = 4, needed: int = 3, **fields: Any) -> dict[str, Any]:
        body = {
            "role": "开馆值班",
            "place": "复合空间",
            "start_at": at(start),
            "end_at": at(start + hours_long),
            "needed": needed,
            "team_id": self.team,
            **fields,
        }
        response = await self.client.post(f"/api/v1/communities/{self.b}/shifts", json=body, headers=self.staff.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sign_up(self, person: Person, shift_id: int, **body: Any) -> Any:
        return await self.client.post(f"/api/v1/shifts/{shift_id}/signups", json=body, headers=person.headers)

    async def code(self, shift_id: int) -> str:
        response = await self.client.get(f"/api/v1/shifts/{shift_id}/code", headers=self.staff.headers)
        return str(response.json()["code"])

    async def attend(self, person: Person, shift_id: int, *, out: bool = True) -> None:
        code = await self.code(shift_id)
        came = await self.client.post(f"/api/v1/shifts/{shift_id}/checkin", json={"code": code}, headers=person.headers)
        assert came.status_code == 200, came.text
        if out:
            left = await self.client.post(
                f"/api/v1/shifts/{shift_id}/checkout", json={"code": code}, headers=person.headers
            )
            assert left.status_code == 200, left.text

    async def pending(self) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/v1/communities/{self.b}/service-records/pending", headers=self.staff.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    async def approve(self, record_id: int) -> Any:
        return await self.client.post(
            f"/api/v1/service-records/{record_id}/review", json={"approve": True}, headers=self.staff.headers
        )

    async def mine(self, person: Person) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/me/service-records?community_id={self.b}", headers=person.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def v(client, db) -> V:
    return await V().build(client, db)


def code_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def worker(app: Any) -> Worker:
    return Worker(app.state.db, app.state.settings, app.state.wechat)


# -- teams and profiles --------------------------------------------------------------------------


async def test_joining_a_team_waits_for_its_leader_or_staff(client, v):
    newcomer = await v.resident("wu", "105")
    joined = await client.post(f"/api/v1/teams/{v.team}/join", headers=newcomer.headers)
    assert joined.json()["my_status"] == "pending" and joined.json()["roster"] is None
    again = await client.post(f"/api/v1/teams/{v.team}/join", headers=newcomer.headers)
    assert code_of(again) == (409, "already_in_team")
    seen = (await client.get(f"/api/v1/teams/{v.team}", headers=v.liu.headers)).json()
    assert ("wu", "pending") in [(m["display_name"], m["status"]) for m in seen["roster"]]
    assert (
        "申请加入公益志愿队"
        in (await client.get("/api/v1/me/inbox", headers=v.liu.headers)).json()["items"][0]["title"]
    )
    # the leader of another team may not decide, a member may not either
    for outsider in (v.ma, v.zhang):
        refused = await client.post(
            f"/api/v1/teams/{v.team}/requests/{newcomer.user_id}", json={"approve": True}, headers=outsider.headers
        )
        assert code_of(refused) == (403, "team_leader_only")
    ok = await client.post(
        f"/api/v1/teams/{v.team}/requests/{newcomer.user_id}", json={"approve": True}, headers=v.liu.headers
    )
    assert ok.status_code == 200
    teams = (await client.get(f"/api/v1/communities/{v.b}/teams", headers=newcomer.headers)).json()
    assert [(t["name"], t["members"], t["my_status"]) for t in teams] == [
        ("公益志愿队", 4, "active"),
        ("空间营造队", 1, None),
    ]
    assert (await client.post(f"/api/v1/teams/{v.team}/leave", headers=newcomer.headers)).status_code == 204
    assert code_of(await client.post(f"/api/v1/teams/{v.team}/leave", headers=v.liu.headers)) == (409, "last_leader")


async def test_leaders_see_phones_masked(client, v):
    await client.post("/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812345678"}, headers=v.zhang.headers)
    roster = (await client.get(f"/api/v1/teams/{v.team}", headers=v.liu.headers)).json()["roster"]
    assert next(m["phone"] for m in roster if m["display_name"] == "zhang") == "138****5678"
    assert (await client.get(f"/api/v1/teams/{v.team}", headers=v.sun.headers)).json()["roster"] is None


async def test_a_volunteer_profile_keeps_the_id_number_sealed_and_masked(client, db, v):
    path = f"/api/v1/communities/{v.b}/volunteer-profile"
    bad = await client.put(path, json={"id_number": "110105194912310021"}, headers=v.zhang.headers)
    assert code_of(bad) == (422, "id_number_invalid")
    saved = await client.put(
        path,
        json={
            "skills": ["讲故事", "摄影"],
            "availability": {"sat": [["09:00", "12:00"]]},
            "real_name": "张明",
            "id_number": ID_NUMBER.lower(),
        },
        headers=v.zhang.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["id_number"] == "1101**********002X"
    async with db.session(write=False) as session:
        stored = (await session.execute(select(VolunteerProfile.id_number_sealed))).scalar_one()
    assert ID_NUMBER not in stored and "1949" not in stored
    assert (await client.get(path, headers=v.zhang.headers)).json()["real_name"] == "张明"
    assert code_of(await client.get(path, headers=v.sun.headers)) == (404, "profile_not_found")


# -- shifts --------------------------------------------------------------------------------------


async def test_overlapping_shifts_of_one_person_are_refused(client, v):
    afternoon = await v.shift(start=4, hours_long=4)  # 14:00–18:00
    evening = await v.shift(start=7, hours_long=2)  # 17:00–19:00
    later = await v.shift(start=8, hours_long=2)  # 18:00–20:00
    assert (await v.sign_up(v.zhang, afternoon["id"])).status_code == 201
    assert code_of(await v.sign_up(v.zhang, evening["id"])) == (409, "shift_overlap")
    assert code_of(await v.sign_up(v.zhang, afternoon["id"])) == (409, "already_signed_up")
    assert (await v.sign_up(v.zhang, later["id"])).status_code == 201  # back to back is fine
    other = await v.shift(start=4, team_id=v.other_team)
    assert code_of(await v.sign_up(v.sun, other["id"])) == (403, "team_only")


async def test_leaders_assign_only_in_their_team_and_withdrawal_has_a_deadline(client, v):
    shift = await v.shift(start=30, needed=2)
    assigned = await v.sign_up(v.liu, shift["id"], volunteer_id=v.sun.user_id)
    assert assigned.status_code == 201 and assigned.json()["taken"] == 1
    foreign = await v.sign_up(v.ma, shift["id"], volunteer_id=v.zhang.user_id)
    assert code_of(foreign) == (403, "team_leader_only")
    mine = (await v.sign_up(v.zhang, shift["id"])).json()["my_signup"]
    clock.advance(timedelta(hours=19))  # 11 hours before the start: past the 12-hour deadline
    late = await client.post(f"/api/v1/signups/{mine['id']}/withdraw", headers=v.zhang.headers)
    assert code_of(late) == (409, "withdraw_deadline_passed")
    assert late.json()["error"]["message"] == "退出报名已于 12月2日 04:00 截止，请联系队长或社工"
    by_leader = await client.post(f"/api/v1/signups/{mine['id']}/withdraw", headers=v.liu.headers)
    assert by_leader.status_code == 200 and by_leader.json()["taken"] == 1
    assert "明天值班：开馆值班" not in [
        e["title"] for e in (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    ]


async def test_a_weekly_duty_makes_four_weeks_of_shifts_once(client, app, v):
    rule = await client.post(
        f"/api/v1/communities/{v.b}/shift-rules",
        json={"role": "开馆值班", "weekdays": ["tue", "wed", "thu", "fri", "sat", "sun"], "starts": "14:00",
              "ends": "18:00", "needed": 2, "team_id": v.team, "active_from": "2026-12-01"},
        headers=v.staff.headers,
    )  # fmt: skip
    assert rule.status_code == 201 and rule.json()["shifts_made"] == 24  # 4 weeks × 6 days, today's included
    await worker(app).run_until_idle()  # the worker's round adds nothing new
    listed = (await client.get(f"/api/v1/communities/{v.b}/shifts?limit=100", headers=v.zhang.headers)).json()["items"]
    assert len(listed) == 24
    assert listed[0]["start_at"] == "2026-12-01T14:00:00+08:00"  # 14:00 in Shanghai
    clock.advance(timedelta(days=7))
    await worker(app).run_until_idle()
    listed = (await client.get(f"/api/v1/communities/{v.b}/shifts?limit=100", headers=v.zhang.headers)).json()["items"]
    assert len(listed) == 24  # a week has passed, a week was added


async def test_check_in_only_inside_the_window_with_the_current_code(client, v):
    shift = await v.shift(start=2, hours_long=2)  # 12:00–14:00
    await v.sign_up(v.zhang, shift["id"])
    path = f"/api/v1/shifts/{shift['id']}/checkin"
    code = await v.code(shift["id"])
    early = await client.post(path, json={"code": code}, headers=v.zhang.headers)
    assert code_of(early) == (409, "checkin_not_open")
    assert early.json()["error"]["message"] == "签到 12月1日 11:30 开始"
    assert early.json()["error"]["details"]["opens_at"] == "2026-12-01T11:30:00+08:00"
    clock.advance(timedelta(hours=1, minutes=35))  # 25 minutes before the start
    stale = await client.post(path, json={"code": code}, headers=v.zhang.headers)
    assert code_of(stale) == (422, "onsite_code_invalid")
    fresh = await client.post(path, json={"code": await v.code(shift["id"])}, headers=v.zhang.headers)
    assert fresh.status_code == 200 and fresh.json()["checked_in_at"] is not None
    assert code_of(await client.post(path, json={"code": await v.code(shift["id"])}, headers=v.sun.headers)) == (
        409,
        "not_signed_up",
    )
    assert code_of(await client.get(f"/api/v1/shifts/{shift['id']}/code", headers=v.zhang.headers)) == (
        403,
        "team_leader_only",
    )
    await v.sign_up(v.liu, shift["id"], volunteer_id=v.sun.user_id)
    confirmed = await client.post(path, json={"volunteer_id": v.sun.user_id}, headers=v.liu.headers)
    assert confirmed.status_code == 200
    assert code_of(await client.post(path, json={"volunteer_id": v.zhang.user_id}, headers=v.ma.headers)) == (
        403,
        "team_leader_only",
    )


async def test_nobody_confirms_their_own_attendance_and_an_early_arrival_cannot_check_out(client, v):
    shift = await v.shift(start=0.25, hours_long=2)
    await v.sign_up(v.liu, shift["id"])
    await v.sign_up(v.zhang, shift["id"])
    own = await client.post(
        f"/api/v1/shifts/{shift['id']}/checkin", json={"volunteer_id": v.liu.user_id}, headers=v.liu.headers
    )
    assert code_of(own) == (422, "onsite_code_required")  # the leader scans like everyone else
    await v.attend(v.zhang, shift["id"], out=False)  # 15 minutes early
    early = await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    assert code_of(early) == (409, "shift_not_started")
    assert early.json()["error"]["message"] == "岗位 12月1日 10:15 开始，之后才能签退；来不了的话请退出报名"
    # zhang has to go before it starts: the leader takes them off, and the slot is free again
    signup_id = (await client.get(f"/api/v1/shifts/{shift['id']}", headers=v.zhang.headers)).json()["my_signup"]["id"]
    off = await client.post(f"/api/v1/signups/{signup_id}/withdraw", headers=v.liu.headers)
    assert off.status_code == 200 and off.json()["taken"] == 1
    assert await v.pending() == []


async def test_a_shift_called_off_tells_its_volunteers_and_a_duty_can_be_ended(client, app, v):
    shift = await v.shift(start=30, needed=2)
    await v.sign_up(v.zhang, shift["id"])
    cancel = f"/api/v1/shifts/{shift['id']}/cancel"
    assert code_of(await client.post(cancel, json={}, headers=v.ma.headers)) == (403, "team_leader_only")
    called_off = await client.post(cancel, json={"reason": "停电检修"}, headers=v.liu.headers)
    assert called_off.status_code == 200
    assert (called_off.json()["cancelled"], called_off.json()["taken"]) == (True, 0)
    assert (await client.post(cancel, json={}, headers=v.liu.headers)).status_code == 200  # again: nothing new
    entries = (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    inbox = [e for e in entries if e["kind"].startswith("shift.")]  # zhang was also welcomed to the team
    assert [e["title"] for e in inbox] == ["值班取消：开馆值班"] and "停电检修" in inbox[0]["body"]
    assert code_of(await v.sign_up(v.sun, shift["id"])) == (409, "shift_cancelled")
    clock.advance(timedelta(hours=6))
    await worker(app).run_until_idle()  # the reminder the day before is gone with it
    after = (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    assert [e["kind"] for e in after if e["kind"].startswith("shift.")] == ["shift.cancelled"]

    rule = await client.post(
        f"/api/v1/communities/{v.b}/shift-rules",
        json={"role": "周末值班", "weekdays": ["sat", "sun"], "starts": "09:00", "ends": "12:00", "needed": 1,
              "team_id": v.team, "active_from": "2026-12-01"},
        headers=v.staff.headers,
    )  # fmt: skip
    weekend = (await client.get(f"/api/v1/communities/{v.b}/shifts?limit=100", headers=v.zhang.headers)).json()
    last = next(s for s in weekend["items"] if s["role"] == "周末值班" and s["start_at"] > "2026-12-19")
    await v.sign_up(v.zhang, last["id"])
    ended = await client.post(
        f"/api/v1/shift-rules/{rule.json()['id']}/end", json={"last_day": "2026-12-13"}, headers=v.staff.headers
    )
    assert ended.status_code == 200 and ended.json()["active_until"] == "2026-12-13"
    left = (await client.get(f"/api/v1/communities/{v.b}/shifts?limit=100", headers=v.zhang.headers)).json()
    assert [s["start_at"][:10] for s in left["items"] if s["role"] == "周末值班"] == [
        "2026-12-05", "2026-12-06", "2026-12-12", "2026-12-13"
    ]  # fmt: skip
    assert "值班取消：周末值班" in [
        e["title"] for e in (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    ]
    rules = (await client.get(f"/api/v1/communities/{v.b}/shift-rules", headers=v.zhang.headers)).json()
    assert [(r["role"], r["active_until"]) for r in rules] == [("周末值班", "2026-12-13")]
    clock.advance(timedelta(days=14))
    await worker(app).run_until_idle()  # the worker makes nothing past the last day
    later = (await client.get(f"/api/v1/communities/{v.b}/shifts?limit=100", headers=v.zhang.headers)).json()
    assert [s for s in later["items"] if s["role"] == "周末值班"] == []


async def test_bad_shift_and_profile_input_gets_clear_errors(client, v):
    shifts = f"/api/v1/communities/{v.b}/shifts"
    past = await client.post(
        shifts, json={"role": "值班", "start_at": at(-5), "end_at": at(-1), "needed": 1}, headers=v.staff.headers
    )
    assert code_of(past) == (422, "shift_in_past")
    never = await client.post(
        shifts,
        json={
            "role": "值班",
            "start_at": at(5),
            "end_at": at(8),
            "needed": 1,
            "withdraw_deadline": "2001-01-01T00:00:00Z",
        },
        headers=v.staff.headers,
    )
    assert code_of(never) == (422, "withdraw_deadline_invalid")
    rule = {"role": "值班", "weekdays": ["sat"], "starts": "10:00:00+05:00", "ends": "12:00", "needed": 1,
            "active_from": "2026-12-01"}  # fmt: skip
    assert code_of(await client.post(f"/api/v1/communities/{v.b}/shift-rules", json=rule, headers=v.staff.headers)) == (
        422,
        "validation_error",
    )
    rule["starts"] = "10:00"
    nowhere = await client.post("/api/v1/communities/999999/shift-rules", json=rule, headers=v.root.headers)
    assert nowhere.status_code == 404
    profile = f"/api/v1/communities/{v.b}/volunteer-profile"
    for field in ("skills", "availability", "ranked"):
        nulled = await client.put(profile, json={field: None}, headers=v.zhang.headers)
        assert code_of(nulled) == (422, "validation_error")
    cleared = await client.put(profile, json={"real_name": None, "skills": []}, headers=v.zhang.headers)
    assert cleared.status_code == 200 and cleared.json()["real_name"] is None


# -- records -------------------------------------------------------------------------------------


def test_hours_are_the_time_given_inside_the_shift_in_whole_units_never_more():
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    end = start + timedelta(hours=4)
    assert credited_minutes(start, end, start - timedelta(minutes=40), end + timedelta(hours=1), 30) == 240
    assert credited_minutes(start, end, start, start + timedelta(minutes=119), 30) == 90  # 1 h 59: 1.5 h
    assert credited_minutes(start, end, start, start + timedelta(minutes=135), 30) == 120  # 2 h 15: 2 h, not 2.5
    assert credited_minutes(start, end, start, start + timedelta(minutes=135), 15) == 135
    assert credited_minutes(start, end, start, start + timedelta(minutes=14), 15) == 0
    night = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # an overnight duty, 22:00–02:00
    assert credited_minutes(night, night + timedelta(hours=4), night, night + timedelta(hours=4), 30) == 240
    assert credited_minutes(start, end, end + timedelta(minutes=5), end + timedelta(hours=1), 30) == 0


async def test_a_completed_shift_becomes_a_record_staff_approve_and_nobody_changes(client, db, app, v):
    shift = await v.shift(start=0.25, hours_long=3)  # 10:15–13:15
    await v.sign_up(v.zhang, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)
    clock.advance(timedelta(hours=2, minutes=20))  # leaves at 12:20: 2 h 5 min inside the shift
    left = await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    assert left.status_code == 200 and left.json()["status"] == "completed"
    (record,) = await v.pending()
    assert (record["service"], record["hours"], record["volunteer"], record["status"]) == (
        "开馆值班",
        "2",
        "zhang",
        "pending",
    )
    assert record["review_by"] == "2026-12-15"  # ten working days after Tuesday the 1st
    assert record["organiser"] == "B社区" and record["person_in_charge"] == "王社工"
    assert code_of(
        await client.post(
            f"/api/v1/service-records/{record['id']}/review", json={"approve": False}, headers=v.staff.headers
        )
    ) == (422, "reason_required")
    assert (
        await client.post(
            f"/api/v1/service-records/{record['id']}/review", json={"approve": True}, headers=v.liu.headers
        )
    ).status_code == 403
    approved = await v.approve(record["id"])
    assert approved.json()["status"] == "approved"
    assert "谢谢你！2026-12-01的志愿服务记为2小时" in [
        e["title"] for e in (await client.get("/api/v1/me/inbox", headers=v.zhang.headers)).json()["items"]
    ]
    # approved records never change: the service refuses, and so does the database itself
    changed = await client.patch(
        f"/api/v1/service-records/{record['id']}", json={"minutes": 600}, headers=v.staff.headers
    )
    assert code_of(changed) == (409, "record_immutable")
    with pytest.raises(Exception, match="immutable"):
        async with db.session() as session:
            await session.execute(text("UPDATE service_records SET minutes = 600 WHERE id = :id"), {"id": record["id"]})
            await session.commit()
    again = await client.post(
        f"/api/v1/service-records/{record['id']}/review", json={"approve": True}, headers=v.staff.headers
    )
    assert code_of(again) == (409, "record_not_pending")

    # a correction is a new, linked record; once approved it counts instead
    path = f"/api/v1/service-records/{record['id']}/corrections"
    more = await client.post(path, json={"minutes": 150, "reason": "多记一点"}, headers=v.staff.headers)
    assert code_of(more) == (422, "minutes_exceed_times")  # 10:15–12:20 holds no 2.5 hours
    corrected = await client.post(
        path, json={"end_at": at(2.75), "reason": "签退时扫码失败，实际服务到 12:45"}, headers=v.staff.headers
    )
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["minutes"] == 150
    twice = await client.post(path, json={"end_at": at(3), "reason": "再改一次"}, headers=v.staff.headers)
    assert code_of(twice) == (409, "already_corrected")
    assert (corrected.json()["corrects_id"], corrected.json()["status"]) == (record["id"], "pending")
    assert (await v.mine(v.zhang))["total_hours"] == "2"
    await v.approve(corrected.json()["id"])
    mine = await v.mine(v.zhang)
    assert (mine["total_hours"], mine["counted_ids"]) == ("2.5", [corrected.json()["id"]])
    assert mine["by_month"] == [{"period": "2026-12", "hours": "2.5"}]
    async with db.session(write=False) as session:
        original = await session.get(ServiceRecord, record["id"])
        assert (original.minutes, original.status) == (120, "approved")
    # a correction is itself corrected, and then the newest counts alone
    again = await client.post(
        f"/api/v1/service-records/{corrected.json()['id']}/corrections",
        json={"end_at": at(3), "minutes": 165, "reason": "服务到 13:00"},
        headers=v.staff.headers,
    )
    await v.approve(again.json()["id"])
    mine = await v.mine(v.zhang)
    assert (mine["total_hours"], mine["counted_ids"]) == ("2.75", [again.json()["id"]])


async def test_staff_fix_pending_records_within_their_times_but_never_their_own(client, db, v):
    await join(client, v.staff, v.b, room="999")  # a social worker who lives here and volunteers too
    await v.member_of(v.team, v.staff, approver=v.liu)
    shift = await v.shift(start=0.25, hours_long=3)
    for person in (v.zhang, v.staff):
        await v.sign_up(person, shift["id"])
        await v.attend(person, shift["id"], out=False)
    clock.advance(timedelta(hours=3, minutes=15))
    for person in (v.zhang, v.staff):
        await client.post(
            f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=person.headers
        )
    mine, theirs = sorted(await v.pending(), key=lambda r: r["user_id"] != v.staff.user_id)
    assert code_of(await v.approve(mine["id"])) == (403, "own_record")
    fixed = await client.patch(f"/api/v1/service-records/{mine['id']}", json={"minutes": 60}, headers=v.staff.headers)
    assert code_of(fixed) == (403, "own_record")
    # the volunteer actually came on Monday 30 November for an hour: date and deadline follow
    moved = await client.patch(
        f"/api/v1/service-records/{theirs['id']}",
        json={"start_at": at(-24), "end_at": at(-23)},
        headers=v.staff.headers,
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["service_date"], body["minutes"], body["review_by"]) == ("2026-11-30", 60, "2026-12-14")
    too_much = await client.patch(
        f"/api/v1/service-records/{theirs['id']}", json={"minutes": 61}, headers=v.staff.headers
    )
    assert code_of(too_much) == (422, "minutes_exceed_times")
    # once approved, what the record says and how it was reviewed are frozen in the database;
    # only links to deleted rows may still become empty
    await v.approve(theirs["id"])
    for statement in (
        "UPDATE service_records SET review_note = 'x' WHERE id = :id",
        "UPDATE service_records SET reviewed_by = user_id WHERE id = :id",
        "UPDATE service_records SET status = 'pending' WHERE id = :id",
    ):
        with pytest.raises(Exception, match="immutable"):
            async with db.session() as session:
                await session.execute(text(statement), {"id": theirs["id"]})
                await session.commit()
    async with db.session() as session:
        await session.execute(text("UPDATE service_records SET shift_id = NULL WHERE id = :id"), {"id": theirs["id"]})
        await session.commit()


async def test_a_review_and_a_correction_each_win_once_at_the_same_moment(client, v):
    await grant(client, v.root, v.b, v.ma, "staff")  # a second social worker
    shift = await v.shift(start=0.25, hours_long=2)
    for person in (v.zhang, v.sun):
        await v.sign_up(person, shift["id"])
        await v.attend(person, shift["id"], out=False)
    clock.advance(timedelta(hours=2, minutes=15))
    for person in (v.zhang, v.sun):
        await client.post(
            f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=person.headers
        )
    zhangs, suns = sorted(await v.pending(), key=lambda r: r["user_id"] != v.zhang.user_id)
    path = f"/api/v1/service-records/{zhangs['id']}/review"
    approve, reject = await asyncio.gather(
        client.post(path, json={"approve": True}, headers=v.staff.headers),
        client.post(path, json={"approve": False, "note": "没来"}, headers=v.ma.headers),
    )
    assert sorted([approve.status_code, reject.status_code]) == [200, 409]
    winner = approve if approve.status_code == 200 else reject
    final = (await v.mine(v.zhang))["records"][0]
    assert (final["status"], final["review_note"]) == (winner.json()["status"], winner.json()["review_note"])

    await v.approve(suns["id"])
    fixes = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/service-records/{suns['id']}/corrections",
                json={"minutes": 60 + n, "reason": "核对后更正"},
                headers=who.headers,
            )
            for n, who in enumerate((v.staff, v.ma))
        )
    )
    assert sorted(r.status_code for r in fixes) == [201, 409]
    for fix in fixes:
        if fix.status_code == 201:
            await v.approve(fix.json()["id"])
    assert (await v.mine(v.sun))["total_hours"] in ("1", "1.02")  # one correction counts, never both


async def test_staff_set_the_rounding_and_the_recording_organisation_for_later_records(client, v):
    path = f"/api/v1/communities/{v.b}/volunteer-policy"
    assert (await client.get(path, headers=v.zhang.headers)).json() == {"organiser": "B社区", "rounding_minutes": 15}
    body = {"organiser": "D社会工作服务中心", "rounding_minutes": 30}
    assert code_of(await client.put(path, json=body, headers=v.liu.headers)) == (403, "staff_only")
    assert (await client.put(path, json={"rounding_minutes": 20}, headers=v.staff.headers)).status_code == 422
    assert (await client.put(path, json=body, headers=v.staff.headers)).json() == body
    shift = await v.shift(start=0.25, hours_long=3)
    await v.sign_up(v.zhang, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)
    clock.advance(timedelta(hours=2))  # leaves at 12:00
    await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    (record,) = await v.pending()
    # 10:15 (the start; arriving early is not service) to 12:00 is 1 h 45: 1.5 hours in whole halves
    assert (record["minutes"], record["hours"], record["organiser"]) == (90, "1.5", "D社会工作服务中心")


async def test_a_forgotten_check_out_is_closed_at_the_end_and_flagged(client, app, v):
    shift = await v.shift(start=0.25, hours_long=2)
    await v.sign_up(v.zhang, shift["id"])
    await v.sign_up(v.sun, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)  # sun never comes
    clock.advance(timedelta(hours=4, minutes=30))  # the end and two hours' grace have passed
    await worker(app).run_until_idle()
    detail = (await client.get(f"/api/v1/shifts/{shift['id']}", headers=v.staff.headers)).json()
    states = {s["display_name"]: (s["status"], s["auto_closed"]) for s in detail["signups"]}
    assert states == {"zhang": ("completed", True), "sun": ("absent", False)}
    (record,) = await v.pending()
    assert (record["flagged"], record["hours"]) == (True, "2")
    clock.advance(timedelta(days=1))  # staff hear of waiting records in the next daily round
    await worker(app).run_until_idle()
    assert "有1条志愿服务记录待审核" in [
        e["title"] for e in (await client.get("/api/v1/me/inbox", headers=v.staff.headers)).json()["items"]
    ]
    assert record["overdue"] is False
    clock.advance(timedelta(days=14))  # past the tenth working day: the staff's to-do says it is late
    (late,) = await v.pending()
    assert (late["id"], late["overdue"]) == (record["id"], True)


async def test_a_certificate_states_name_hours_and_a_number_anyone_can_check(client, v):
    shift = await v.shift(start=0.25, hours_long=3)
    await v.sign_up(v.zhang, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)
    clock.advance(timedelta(hours=3, minutes=15))
    await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"volunteer_id": v.zhang.user_id}, headers=v.liu.headers
    )
    await client.put(
        f"/api/v1/communities/{v.b}/volunteer-profile", json={"real_name": "张明"}, headers=v.zhang.headers
    )
    path = f"/api/v1/me/service-records/certificate?community_id={v.b}"
    assert code_of(await client.get(path, headers=v.zhang.headers)) == (409, "no_approved_hours")
    (record,) = await v.pending()
    await v.approve(record["id"])
    response = await client.get(path, headers=v.zhang.headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    number = response.headers["x-certificate-number"]
    (sheet,) = PdfReader(io.BytesIO(response.content)).pages
    page = sheet.extract_text()
    assert "志愿服务记录证明" in page and "张明" in page and "3 小时" in page and number in page
    assert "B社区" in page and "开馆值班" in page
    assert f"https://linli.example.org/api/v1/certificates/{number}" in page
    assert "扫码核验" in page and len(sheet.images) == 1  # the link as a QR code too
    again = await asyncio.gather(*(client.get(path, headers=v.zhang.headers) for _ in range(6)))
    assert {r.headers["x-certificate-number"] for r in again} == {number}  # the same hours keep their number
    checked = await client.get(f"/api/v1/certificates/{number}")  # no login: a school can check it
    assert checked.status_code == 200
    found = checked.json()
    assert (found["name"], found["hours"], found["organiser"], found["current"]) == ("张*", "3", "B社区", True)
    assert code_of(await client.get("/api/v1/certificates/NOSUCHNUMBER")) == (404, "certificate_not_found")
    backwards = await client.get(f"{path}&from=2026-12-31&to=2026-12-01", headers=v.zhang.headers)
    assert code_of(backwards) == (422, "period_invalid")
    # a later correction changes the hours: the old certificate no longer matches the records
    fixed = await client.post(
        f"/api/v1/service-records/{record['id']}/corrections",
        json={"minutes": 120, "reason": "中途离开一小时"},
        headers=v.staff.headers,
    )
    await v.approve(fixed.json()["id"])
    assert (await client.get(f"/api/v1/certificates/{number}")).json()["current"] is False


async def test_the_export_has_the_national_record_columns_and_hides_id_numbers_from_staff(client, v):
    await client.put(
        f"/api/v1/communities/{v.b}/volunteer-profile",
        json={"real_name": "张明", "id_number": ID_NUMBER},
        headers=v.zhang.headers,
    )
    refused = await client.post(  # a stray control character is refused at the door
        f"/api/v1/communities/{v.b}/shifts",
        json={"role": "开馆值班", "place": "复合空间\x01二楼", "start_at": at(0.25), "end_at": at(2.25), "needed": 1},
        headers=v.staff.headers,
    )
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "place"
    shift = await v.shift(start=0.25, hours_long=2, place="复合空间二楼")
    await v.sign_up(v.zhang, shift["id"])
    await v.attend(v.zhang, shift["id"], out=False)
    clock.advance(timedelta(hours=2, minutes=15))
    await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    await v.approve((await v.pending())[0]["id"])
    path = f"/api/v1/communities/{v.b}/service-records/export"
    as_staff = await client.get(path, headers=v.staff.headers)
    assert as_staff.status_code == 200
    assert as_staff.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(as_staff.content))
    (sheet,) = book.worksheets
    assert sheet.title == "志愿服务记录" and sheet.freeze_panes == "A2"
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert tuple(rows[0]) == EXPORT_COLUMNS and all(cell.font.b for cell in sheet[1])
    assert rows[1][1:4] == ["张明", "1101**********002X", "开馆值班"]
    assert rows[1][5] == datetime(2026, 12, 1) and sheet.cell(2, 6).number_format == "yyyy-mm-dd"
    assert rows[1][7] == datetime(2026, 12, 1, 10, 15)  # 10:15 in Shanghai, a real date and time
    assert (rows[1][6], rows[1][9]) == ("复合空间二楼", 2)  # the hours a number, to add up
    assert (rows[1][10], rows[1][11], rows[1][12]) == ("B社区", "王社工", "王社工")  # scanned out: the reviewer records
    assert rows[1][14] is None  # corrects nothing
    assert sheet.column_dimensions["B"].width >= 6 and sheet.column_dimensions["J"].width >= 18  # 服务时长（小时）
    as_admin = openpyxl.load_workbook(io.BytesIO((await client.get(path, headers=v.root.headers)).content))
    assert as_admin.active.cell(2, 3).value == ID_NUMBER
    assert (await client.get(path, headers=v.zhang.headers)).status_code == 403
    with zipfile.ZipFile(io.BytesIO(as_staff.content)) as book_file:
        assert "[Content_Types].xml" in book_file.namelist()
    # the same as CSV, for platforms that take only that: UTF-8 with a BOM, the hours unquoted
    as_csv = await client.get(path, params={"format": "csv"}, headers=v.staff.headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="service-records.csv"' in as_csv.headers["content-disposition"]
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    header, line = as_csv.content.decode("utf-8-sig").split("\r\n")[:2]
    assert header == ",".join(EXPORT_COLUMNS)
    assert ",张明,1101**********002X,开馆值班," in line and ",2026-12-01 10:15,2026-12-01 12:15,2,B社区," in line


async def test_rankings_count_approved_hours_and_leave_out_those_who_opt_out(client, v):
    for person, hours_long in ((v.zhang, 3), (v.sun, 2)):
        shift = await v.shift(start=0.25, hours_long=hours_long)
        await v.sign_up(person, shift["id"])
        await v.attend(person, shift["id"], out=False)
        clock.advance(timedelta(hours=hours_long, minutes=15))
        await client.post(
            f"/api/v1/shifts/{shift['id']}/checkout", json={"volunteer_id": person.user_id}, headers=v.staff.headers
        )
        clock.freeze(NOW)
    for record in await v.pending():
        await v.approve(record["id"])
    ranks = (await client.get(f"/api/v1/communities/{v.b}/volunteers/rankings", headers=v.ma.headers)).json()
    assert [(r["rank"], r["display_name"], r["hours"]) for r in ranks] == [(1, "zhang", "3"), (2, "sun", "2")]
    await client.put(f"/api/v1/communities/{v.b}/volunteer-profile", json={"ranked": False}, headers=v.zhang.headers)
    ranks = (
        await client.get(f"/api/v1/communities/{v.b}/volunteers/rankings?team_id={v.team}", headers=v.ma.headers)
    ).json()
    assert [(r["rank"], r["display_name"]) for r in ranks] == [(1, "sun")]


async def test_a_story_is_shown_only_with_the_volunteers_consent(client, v):
    story = await client.post(
        f"/api/v1/communities/{v.b}/stories",
        json={"user_id": v.zhang.user_id, "title": "书屋的守门人", "body": "每周六下午，张大爷都会准时来开门……"},
        headers=v.staff.headers,
    )
    assert story.status_code == 201 and story.json()["status"] == "waiting"
    assert (await client.get(f"/api/v1/communities/{v.b}/stories", headers=v.sun.headers)).json() == []
    assert (
        await client.post(f"/api/v1/stories/{story.json()['id']}/answer", json={"consent": True}, headers=v.sun.headers)
    ).status_code == 404
    await client.post(f"/api/v1/stories/{story.json()['id']}/answer", json={"consent": True}, headers=v.zhang.headers)
    assert [
        s["title"] for s in (await client.get(f"/api/v1/communities/{v.b}/stories", headers=v.sun.headers)).json()
    ] == ["书屋的守门人"]


# -- volunteers at activities --------------------------------------------------------------------


async def test_a_volunteer_scans_booking_codes_only_for_the_activity_of_their_shift(client, v):
    theirs = await activity(client, v.staff, v.b, title="亲子手工", start_at=at(0.75), end_at=at(2))
    other = await activity(client, v.staff, v.b, title="长者讲座", start_at=at(0.75), end_at=at(2))
    leaders = await client.post(
        f"/api/v1/communities/{v.b}/shifts",
        json={"role": "活动签到", "start_at": at(0.5), "end_at": at(2), "needed": 2, "team_id": v.team,
              "activity_id": other["id"]},
        headers=v.liu.headers,
    )  # fmt: skip
    assert code_of(leaders) == (403, "staff_only")  # only staff hand out scanning
    shift = await v.shift(start=0.5, hours_long=1.5, activity_id=theirs["id"], role="活动签到")
    await v.sign_up(v.zhang, shift["id"])
    family = await v.resident("chen", "201")
    tokens = {}
    for target in (theirs, other):
        booked = (await book(client, family, target["id"])).json()
        tokens[target["id"]] = (
            await client.get(f"/api/v1/bookings/{booked['id']}/checkin-code", headers=family.headers)
        ).json()["token"]

    async def scan(target: dict[str, Any]) -> Any:
        path = f"/api/v1/activities/{target['id']}/checkins"
        return await client.post(path, json={"token": tokens[target["id"]]}, headers=v.zhang.headers)

    clock.advance(timedelta(minutes=15))  # the activity's check-in window is open
    assert code_of(await scan(theirs)) == (403, "not_on_duty")  # signed up, but not on duty yet
    await v.attend(v.zhang, shift["id"], out=False)
    scanned = await scan(theirs)
    assert scanned.status_code == 200, scanned.text
    (booked,) = scanned.json()["bookings"]
    assert booked["attendees"][0]["checked_in_at"] is not None and "can_cancel" not in booked
    assert code_of(await scan(other)) == (403, "not_on_duty")
    roster = await client.post(
        f"/api/v1/activities/{theirs['id']}/checkins", json={"booking_id": booked["id"]}, headers=v.zhang.headers
    )
    assert roster.status_code == 403  # scanning codes only: ticking the roster is the staff's
    seen = await client.get(f"/api/v1/activities/{theirs['id']}/attendance", headers=v.zhang.headers)
    assert seen.json()["view"] == "volunteer"  # the door's part of it (tests/test_activities_frontend.py)
    clock.advance(timedelta(minutes=30))
    await client.post(
        f"/api/v1/shifts/{shift['id']}/checkout", json={"code": await v.code(shift["id"])}, headers=v.zhang.headers
    )
    assert code_of(await scan(theirs)) == (403, "not_on_duty")  # off duty


# -- never overfilled ----------------------------------------------------------------------------


async def test_concurrent_sign_ups_never_overfill_a_shift(client, v):
    volunteers = []
    for n in range(30):
        person = await v.resident(f"vol{n}", str(300 + n))
        await v.member_of(v.team, person, approver=v.liu)
        volunteers.append(person)
    shift = await v.shift(start=26, needed=5)
    answers = await asyncio.gather(*(v.sign_up(person, shift["id"]) for person in volunteers))
    assert sorted(r.status_code for r in answers) == [201] * 5 + [409] * 25
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"shift_full"}
    detail = (await client.get(f"/api/v1/shifts/{shift['id']}", headers=v.staff.headers)).json()
    assert detail["taken"] == 5 and len([s for s in detail["signups"] if s["status"] == "active"]) == 5
    # and one person tapping two overlapping shifts at once gets one
    a, b = await v.shift(start=50, needed=5), await v.shift(start=51, needed=5)
    both = await asyncio.gather(v.sign_up(v.zhang, a["id"]), v.sign_up(v.zhang, b["id"]))
    assert sorted(r.status_code for r in both) == [201, 409]
