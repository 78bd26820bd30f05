"""Volunteers in the staff console, teams and shifts, through HTTP on both engines: the teams with
leaders and counts, a new team, a team's page (requests approved and turned down, leaders appointed
and stepped down); the week's shifts with slots and who signed up and came, a new shift, changing
and cancelling one (its volunteers told); the standing weekly duties (created, changed, stopped);
the on-duty screen's code and staff confirming check-in and check-out; who may see what, CSRF.

Every change is read back through the API (`tests/test_volunteers.V`), so that each test shows the
console went through the services."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from api import clock
from tests.console import Browser
from tests.factories import community, grant, join, login
from tests.test_volunteers import NOW, V, settings  # noqa: F401 - a fixture

API = "/api/v1"


@pytest.fixture(autouse=True)
def _now():
    clock.freeze(NOW)  # Tuesday 1 December 2026, 10:00 in Shanghai


@pytest.fixture
async def v(client, db) -> V:
    return await V().build(client, db)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def base(v: V) -> str:
    return f"/console/c/{v.b}/volunteers"


def flashed(response: Any) -> str:
    assert response.headers.get("HX-Retarget") == "#flash", response.headers
    return text_of(response.text)


def field_error(response: Any, name: str) -> str:
    """The message a refused form shows beside field `name` (the form came back, 422)."""
    assert response.status_code == 422, response.text
    found = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', response.text)
    assert found is not None, (name, text_of(response.text))
    return found.group(1)


async def staff_console(console: Any, v: V) -> Browser:
    browser: Browser = await console(v.staff)
    assert (await browser.get(base(v))).status_code == 200
    return browser


async def team_api(v: V, team_id: int) -> dict[str, Any]:
    found = await v.client.get(f"{API}/teams/{team_id}", headers=v.staff.headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def inbox(v: V, person: Any) -> list[dict[str, Any]]:
    found = await v.client.get(f"{API}/me/inbox", headers=person.headers)
    items: list[dict[str, Any]] = found.json()["items"]
    return items


def shift_form(**fields: Any) -> dict[str, str]:
    return {
        "role": "周末绘本共读",
        "place": "复合空间二楼",
        "start_at": "2026-12-05T09:00",
        "end_at": "2026-12-05T11:30",
        "needed": "3",
        "team_id": "",
        **fields,
    }


# -- teams ---------------------------------------------------------------------------------------


async def test_the_teams_page_shows_each_team_with_its_leaders_members_and_requests(console, client, v):
    newcomer = await v.resident("wu", "105")
    assert (await client.post(f"{API}/teams/{v.team}/join", headers=newcomer.headers)).status_code == 200
    browser = await staff_console(console, v)
    page = await browser.get(base(v))
    assert page.status_code == 200
    assert 'aria-current="page">志愿服务' in page.text and 'aria-current="page" >团队' not in page.text
    rows = re.findall(r'<tr data-team="(\d+)">(.*?)</tr>', page.text, re.S)
    shown = {int(tid): text_of(body) for tid, body in rows}
    assert set(shown) == {v.team, v.other_team}
    assert "公益志愿队" in shown[v.team] and " liu " in shown[v.team]
    assert re.search(r'data-count="members">3<', dict(rows)[str(v.team)])  # liu, zhang, sun
    assert re.search(r'data-count="pending"><span class="badge warn">1<', dict(rows)[str(v.team)])
    assert " ma " in shown[v.other_team] and re.search(r'data-count="members">1<', dict(rows)[str(v.other_team)])
    # the form offers the residents with an account as the first leader
    assert f'<option value="{newcomer.user_id}"' in page.text and f'<option value="{v.staff.user_id}"' not in page.text


async def test_a_team_made_in_the_console_has_its_leader_and_refusals_stay_beside_the_fields(console, client, v):
    browser = await staff_console(console, v)
    made = await browser.post(
        f"{base(v)}/teams", data={"name": "爱心联盟", "description": "探访独居老人", "leader_id": str(v.sun.user_id)}
    )
    assert made.status_code == 204, made.text
    team_id = int(made.headers["HX-Redirect"].rsplit("/", 1)[1])
    team = await team_api(v, team_id)
    assert team["name"] == "爱心联盟" and team["description"] == "探访独居老人"
    assert [(m["display_name"], m["role"], m["status"]) for m in team["roster"]] == [("sun", "leader", "active")]
    page = await browser.get(made.headers["HX-Redirect"])
    assert re.search(rf'data-leader="{v.sun.user_id}"><strong>sun</strong>', page.text)

    same = await browser.post(f"{base(v)}/teams", data={"name": "爱心联盟", "description": "", "leader_id": ""})
    assert field_error(same, "name") == "已有同名团队"
    assert 'value="爱心联盟"' in same.text  # what was typed stays
    stranger = await login(client, "路人")
    not_here = await browser.post(
        f"{base(v)}/teams", data={"name": "新队", "description": "", "leader_id": str(stranger.user_id)}
    )
    assert field_error(not_here, "leader_id") == "队长须是本社区登记的居民"
    empty = await browser.post(f"{base(v)}/teams", data={"name": "", "description": "", "leader_id": ""})
    assert field_error(empty, "name") == "请填写"
    teams = (await client.get(f"{API}/communities/{v.b}/teams", headers=v.staff.headers)).json()
    assert [t["name"] for t in teams] == ["公益志愿队", "空间营造队", "爱心联盟"]  # nothing refused was kept


async def test_join_requests_are_approved_or_turned_down_and_the_applicant_is_told(console, client, v):
    wu = await v.resident("wu", "105")
    qian = await v.resident("qian", "106")
    for person in (wu, qian):
        assert (await client.post(f"{API}/teams/{v.team}/join", headers=person.headers)).status_code == 200
    browser = await staff_console(console, v)
    page = await browser.get(f"{base(v)}/teams/{v.team}")
    assert page.status_code == 200
    waiting = re.findall(r'data-request="(\d+)"', page.text)
    assert sorted(map(int, waiting)) == sorted([wu.user_id, qian.user_id])

    approved = await browser.post(f"{base(v)}/teams/{v.team}/requests/{wu.user_id}", data={"decision": "approve"})
    assert approved.status_code == 200 and 'id="team-people"' in approved.text
    assert f'data-member="{wu.user_id}"' in approved.text and f'data-request="{wu.user_id}"' not in approved.text
    assert 'data-count="members">4<' in approved.text  # liu, zhang, sun and wu
    refused = await browser.post(f"{base(v)}/teams/{v.team}/requests/{qian.user_id}", data={"decision": "reject"})
    assert refused.status_code == 200 and f'data-request="{qian.user_id}"' not in refused.text

    roster = {m["display_name"]: m["status"] for m in (await team_api(v, v.team))["roster"]}
    assert roster["wu"] == "active" and "qian" not in roster
    assert (await inbox(v, wu))[0]["kind"] == "team.request_approved"
    assert (await inbox(v, qian))[0]["kind"] == "team.request_refused"
    # deciding a request that is no longer there: the service's refusal in the flash line
    again = await browser.post(f"{base(v)}/teams/{v.team}/requests/{qian.user_id}", data={"decision": "approve"})
    assert again.status_code == 404 and "没有这个入队申请" in flashed(again)
    odd = await browser.post(f"{base(v)}/teams/{v.team}/requests/{wu.user_id}", data={"decision": "maybe"})
    assert odd.status_code == 422 and "请选择通过或拒绝" in flashed(odd)


async def test_staff_appoint_a_leader_and_let_one_step_down(console, v):
    browser = await staff_console(console, v)
    appointed = await browser.post(f"{base(v)}/teams/{v.team}/members/{v.zhang.user_id}/role", data={"role": "leader"})
    assert appointed.status_code == 200 and f'data-leader="{v.zhang.user_id}"' in appointed.text
    roles = {m["display_name"]: m["role"] for m in (await team_api(v, v.team))["roster"]}
    assert roles == {"liu": "leader", "zhang": "leader", "sun": "member"}
    down = await browser.post(f"{base(v)}/teams/{v.team}/members/{v.liu.user_id}/role", data={"role": "member"})
    assert down.status_code == 200 and f'data-member="{v.liu.user_id}"' in down.text
    roles = {m["display_name"]: m["role"] for m in (await team_api(v, v.team))["roster"]}
    assert roles == {"liu": "member", "zhang": "leader", "sun": "member"}
    # someone not in the team
    outsider = await browser.post(f"{base(v)}/teams/{v.team}/members/{v.ma.user_id}/role", data={"role": "leader"})
    assert outsider.status_code == 404 and "这个人不是本团队的队员" in flashed(outsider)


# -- shifts --------------------------------------------------------------------------------------


async def test_a_shift_made_in_the_console_is_in_its_week_with_its_slots(console, client, v):
    browser = await staff_console(console, v)
    form = await browser.get(f"{base(v)}/shifts/new?day=2026-12-05")
    assert 'value="2026-12-05T14:00"' in form.text and 'value="2026-12-05T18:00"' in form.text
    made = await browser.post(f"{base(v)}/shifts", data=shift_form(team_id=str(v.team)))
    assert made.status_code == 204, made.text
    target = made.headers["HX-Redirect"]
    assert target.startswith(f"{base(v)}/shifts?week=2026-12-05#shift-")
    shift_id = int(target.rsplit("-", 1)[1])
    listed = (await client.get(f"{API}/communities/{v.b}/shifts", headers=v.staff.headers)).json()["items"]
    (shift,) = [s for s in listed if s["id"] == shift_id]
    assert (shift["role"], shift["place"], shift["needed"], shift["team_id"]) == (
        "周末绘本共读",
        "复合空间二楼",
        3,
        v.team,
    )
    assert shift["start_at"].startswith("2026-12-05T09:00") and shift["end_at"].startswith("2026-12-05T11:30")

    assert (await v.sign_up(v.zhang, shift_id)).status_code == 201
    week = await browser.get(target.split("#")[0])
    assert week.status_code == 200
    row = re.search(rf'<tr id="shift-{shift_id}".*?</tr>', week.text, re.S)
    assert row is not None
    shown = text_of(row.group(0))
    assert "09:00–11:30" in shown and "周末绘本共读" in shown and "复合空间二楼" in shown and "限公益志愿队" in shown
    assert 'data-slots="1/3"' in row.group(0) and "zhang 未签到" in shown
    assert re.search(r'data-day="2026-12-05".*?shift-' + str(shift_id), week.text, re.S)
    assert "11月30日 周一 – 12月6日 周日" in text_of(week.text)


async def test_the_week_moves_by_week_and_shows_who_came(console, client, v):
    today = await v.shift(start=0.25, hours_long=3, needed=2)  # 10:15–13:15 today
    later = await v.shift(start=24 * 7, needed=1)  # next Tuesday
    assert (await v.sign_up(v.zhang, today["id"])).status_code == 201
    assert (await v.sign_up(v.sun, today["id"])).status_code == 201
    clock.freeze(NOW + timedelta(minutes=20))
    await v.attend(v.zhang, today["id"], out=False)
    browser = await staff_console(console, v)
    week = await browser.get(f"{base(v)}/shifts")
    assert 'rel="next" href="' + f'{base(v)}/shifts?week=2026-12-07"' in week.text
    assert 'rel="prev" href="' + f'{base(v)}/shifts?week=2026-11-23"' in week.text
    row = re.search(rf'<tr id="shift-{today["id"]}".*?</tr>', week.text, re.S)
    assert row is not None
    assert 'data-slots="2/2"' in row.group(0) and 'data-state="on"' in row.group(0)
    assert re.search(
        rf'data-person="{v.zhang.user_id}">zhang <span class="badge good" data-person-state="in">10:20', row.group(0)
    )
    assert re.search(
        rf'data-person="{v.sun.user_id}">sun <span class="badge" data-person-state="signed">', row.group(0)
    )
    assert f'id="shift-{later["id"]}"' not in week.text
    following = await browser.get(f"{base(v)}/shifts?week=2026-12-07")
    assert f'id="shift-{later["id"]}"' in following.text and f'id="shift-{today["id"]}"' not in following.text
    assert 'data-slots="0/1"' in following.text


async def test_refused_shifts_come_back_beside_their_fields(console, client, v):
    browser = await staff_console(console, v)
    backwards = await browser.post(f"{base(v)}/shifts", data=shift_form(end_at="2026-12-05T08:00"))
    assert field_error(backwards, "end_at") == "结束时间应晚于开始时间"
    assert 'value="周末绘本共读"' in backwards.text
    past = await browser.post(
        f"{base(v)}/shifts", data=shift_form(start_at="2026-11-30T09:00", end_at="2026-11-30T10:00")
    )
    assert "已经过去了" in field_error(past, "start_at")
    nothing = await browser.post(f"{base(v)}/shifts", data=shift_form(role="", needed="x"))
    assert field_error(nothing, "role") == "请填写" and field_error(nothing, "needed") == "应为整数"
    listed = (await client.get(f"{API}/communities/{v.b}/shifts", headers=v.staff.headers)).json()["items"]
    assert listed == []


async def test_a_shift_is_changed_within_what_its_sign_ups_allow(console, client, v):
    shift = await v.shift(start=28, needed=3)  # tomorrow 14:00–18:00
    browser = await staff_console(console, v)
    page = await browser.get(f"{base(v)}/shifts/{shift['id']}")
    assert page.status_code == 200 and 'value="2026-12-02T14:00"' in page.text
    changed = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/edit",
        data=shift_form(
            role="开馆值班", place="一楼前台", start_at="2026-12-02T15:00", end_at="2026-12-02T19:00", needed="2"
        ),
    )
    assert changed.status_code == 204, changed.text
    now = (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()
    assert (now["place"], now["needed"]) == ("一楼前台", 2)
    assert now["start_at"].startswith("2026-12-02T15:00") and now["withdraw_deadline"].startswith("2026-12-02T03:00")
    assert now["team_id"] == v.team  # the team stays

    for person in (v.zhang, v.sun):
        assert (await v.sign_up(person, shift["id"])).status_code == 201
    fewer = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/edit",
        data=shift_form(
            role="开馆值班", place="一楼前台", start_at="2026-12-02T15:00", end_at="2026-12-02T19:00", needed="1"
        ),
    )
    assert field_error(fewer, "needed") == "已有 2 人报名，需要人数不能少于 2"
    moved = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/edit",
        data=shift_form(
            role="开馆值班", place="一楼前台", start_at="2026-12-02T16:00", end_at="2026-12-02T19:00", needed="2"
        ),
    )
    assert "已经有人报名，不能再改时间" in field_error(moved, "start_at")
    now = (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()
    assert now["needed"] == 2 and now["start_at"].startswith("2026-12-02T15:00")


async def test_a_shift_moved_elsewhere_tells_its_volunteers_and_their_reminder_follows(console, client, app, v):
    from tests.test_announcements import worker

    shift = await v.shift(start=52.01, needed=3)  # Thursday 3 December 14:00:36 (made through the API)
    assert (await v.sign_up(v.zhang, shift["id"])).status_code == 201
    browser = await staff_console(console, v)
    page = await browser.get(f"{base(v)}/shifts/{shift['id']}")
    shown = {n: re.search(rf'name="{n}"[^>]*value="([^"]*)"', page.text) for n in ("start_at", "end_at")}
    assert {n: m.group(1) for n, m in shown.items() if m} == {
        "start_at": "2026-12-03T14:00",
        "end_at": "2026-12-03T18:00",
    }
    # the times as the form shows them (to the minute) are no move, so a signed-up shift may change place
    changed = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/edit",
        data=shift_form(
            role="开馆值班", place="二楼书屋", start_at="2026-12-03T14:00", end_at="2026-12-03T18:00", needed="4"
        ),
    )
    assert changed.status_code == 204, changed.text
    now = (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()
    assert (now["place"], now["needed"]) == ("二楼书屋", 4) and now["start_at"] == shift["start_at"]
    told = [e for e in await inbox(v, v.zhang) if e["kind"] == "shift.changed"]
    assert len(told) == 1 and "二楼书屋" in told[0]["body"]
    # the needed number alone changes nothing the volunteer needs to hear
    again = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/edit",
        data=shift_form(
            role="开馆值班", place="二楼书屋", start_at="2026-12-03T14:00", end_at="2026-12-03T18:00", needed="5"
        ),
    )
    assert again.status_code == 204
    assert len([e for e in await inbox(v, v.zhang) if e["kind"] == "shift.changed"]) == 1
    # the day before, the reminder names the new place (the old one was replaced, not sent too)
    clock.advance(timedelta(days=1, hours=5))  # Wednesday 15:00
    await worker(app).run_until_idle()
    reminders = [e for e in await inbox(v, v.zhang) if e["kind"] == "shift.tomorrow"]
    assert len(reminders) == 1 and "二楼书屋" in reminders[0]["body"] and "复合空间" not in reminders[0]["body"]


async def test_cancelling_a_shift_tells_its_volunteers(console, client, v):
    shift = await v.shift(start=28, needed=3)
    for person in (v.zhang, v.sun):
        assert (await v.sign_up(person, shift["id"])).status_code == 201
    browser = await staff_console(console, v)
    cancelled = await browser.post(f"{base(v)}/shifts/{shift['id']}/cancel", data={"reason": "停电检修"})
    assert cancelled.status_code == 204
    assert cancelled.headers["HX-Redirect"] == f"{base(v)}/shifts/{shift['id']}?told=2"
    read = (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()
    assert read["cancelled"] and read["taken"] == 0
    for person in (v.zhang, v.sun):
        told = [e for e in await inbox(v, person) if e["kind"] == "shift.cancelled"]
        assert len(told) == 1 and told[0]["title"] == "值班取消：开馆值班" and "停电检修" in told[0]["body"]
    page = await browser.get(cancelled.headers["HX-Redirect"])
    assert 'data-state="cancelled"' in page.text and "已通知 2 位报名的志愿者" in text_of(page.text)
    assert 'id="cancel-form"' not in page.text and 'id="shift-form"' not in page.text
    week = await browser.get(f"{base(v)}/shifts")
    assert re.search(rf'<tr id="shift-{shift["id"]}" data-shift="\d+" class="cancelled">', week.text)
    # a shift that has started cannot be called off
    started = await v.shift(start=0.5, needed=1)
    clock.freeze(NOW + timedelta(hours=1))
    late = await browser.post(f"{base(v)}/shifts/{started['id']}/cancel", data={"reason": ""})
    assert late.status_code == 409 and "不能取消" in flashed(late)


# -- the on-duty screen --------------------------------------------------------------------------


async def test_the_on_duty_screen_shows_the_code_and_staff_confirm_check_in_and_out(console, client, v):
    shift = await v.shift(start=0.25, hours_long=2, needed=2)  # 10:15–12:15
    assert (await v.sign_up(v.zhang, shift["id"])).status_code == 201
    browser = await staff_console(console, v)
    duty = await browser.get(f"{base(v)}/shifts/{shift['id']}/duty")
    assert duty.status_code == 200
    code = re.search(r'data-code="(\w+)"', duty.text)
    assert code is not None and code.group(1) == await v.code(shift["id"])
    assert re.search(r'<svg[^>]*class="qr"', duty.text) and 'hx-trigger="every 10s"' in duty.text
    clock.freeze(NOW + timedelta(minutes=2))
    polled = await browser.get(f"{base(v)}/shifts/{shift['id']}/duty/code")
    fresh = re.search(r'data-code="(\w+)"', polled.text)
    assert fresh is not None and fresh.group(1) == await v.code(shift["id"]) != code.group(1)

    came = await browser.post(f"{base(v)}/shifts/{shift['id']}/checkin", data={"volunteer_id": str(v.zhang.user_id)})
    assert came.status_code == 200 and 'data-person-state="in"' in came.text
    read = (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()
    (signup,) = read["signups"]
    assert signup["user_id"] == v.zhang.user_id and signup["checked_in_at"] is not None
    not_signed = await browser.post(
        f"{base(v)}/shifts/{shift['id']}/checkin", data={"volunteer_id": str(v.sun.user_id)}
    )
    assert not_signed.status_code == 409 and "没有报名这个岗位" in flashed(not_signed)
    clock.freeze(NOW + timedelta(hours=2))
    left = await browser.post(f"{base(v)}/shifts/{shift['id']}/checkout", data={"volunteer_id": str(v.zhang.user_id)})
    assert left.status_code == 200 and 'data-person-state="out"' in left.text
    pending = await v.pending()
    assert [(r["volunteer"], r["status"]) for r in pending] == [("zhang", "pending")]
    people = await browser.get(f"{base(v)}/shifts/{shift['id']}/duty/people")
    assert 'data-count="checked-in">1<' in people.text

    gone = await v.shift(start=30, needed=1)
    await browser.post(f"{base(v)}/shifts/{gone['id']}/cancel", data={"reason": ""})
    screen = await browser.get(f"{base(v)}/shifts/{gone['id']}/duty")
    assert screen.status_code == 200 and "这个岗位已经取消了，没有现场签到码" in text_of(screen.text)


# -- standing duties -----------------------------------------------------------------------------


async def test_a_weekly_duty_is_made_changed_and_stopped(console, client, v):
    browser = await staff_console(console, v)
    form = {
        "role": "开馆值班",
        "place": "复合空间",
        "weekdays": ["tue", "thu"],
        "starts": "14:00",
        "ends": "18:00",
        "needed": "2",
        "team_id": str(v.team),
        "active_from": "2026-12-01",
        "active_until": "",
    }
    made = await browser.post(f"{base(v)}/rules", data=form)
    assert made.status_code == 204, made.text
    assert made.headers["HX-Redirect"].startswith(f"{base(v)}/rules?made=8#rule-")
    rule_id = int(made.headers["HX-Redirect"].rsplit("-", 1)[1])
    (rule,) = (await client.get(f"{API}/communities/{v.b}/shift-rules", headers=v.staff.headers)).json()
    assert (rule["id"], rule["weekdays"], rule["starts"], rule["needed"]) == (rule_id, ["tue", "thu"], "14:00:00", 2)
    page = await browser.get(made.headers["HX-Redirect"].split("#")[0])
    row = re.search(rf'<tr id="rule-{rule_id}".*?</tr>', page.text, re.S)
    assert row is not None and "周二、周四" in row.group(0) and "14:00–18:00" in row.group(0)
    assert 'data-count="coming">8<' in row.group(0) and "生成了未来四周的 8 个岗位" in text_of(page.text)
    week = await browser.get(f"{base(v)}/shifts")
    assert len(re.findall(r'<tr id="shift-\d+"', week.text)) == 2  # Tuesday and Thursday

    # changed: its shifts to come follow
    shifts_api = (await client.get(f"{API}/communities/{v.b}/shifts?limit=50", headers=v.staff.headers)).json()
    first = shifts_api["items"][0]["id"]
    assert (await v.sign_up(v.zhang, first)).status_code == 201
    assert (await v.sign_up(v.sun, first)).status_code == 201
    changed = await browser.post(
        f"{base(v)}/rules/{rule_id}/edit", data={"role": "开馆值班（下午）", "place": "一楼", "needed": "1"}
    )
    assert changed.status_code == 204
    items = (await client.get(f"{API}/communities/{v.b}/shifts?limit=50", headers=v.staff.headers)).json()["items"]
    assert {(s["role"], s["place"]) for s in items} == {("开馆值班（下午）", "一楼")}
    assert [s["needed"] for s in items] == [2] + [1] * 7  # never below those signed up
    for person in (v.zhang, v.sun):  # the two signed up for the first are told where it is now
        told = [e for e in await inbox(v, person) if e["kind"] == "shift.changed"]
        assert len(told) == 1 and "一楼" in told[0]["body"] and "开馆值班（下午）" in told[0]["title"]
    bad = await browser.post(f"{base(v)}/rules/{rule_id}/edit", data={"role": "", "place": "", "needed": "0"})
    assert field_error(bad, "role") == "请填写" and field_error(bad, "needed") == "不能小于 1"

    # stopped after next Sunday: later shifts called off, their volunteers told
    later = items[2]["id"]  # Tuesday 8 December
    assert (await v.sign_up(v.zhang, later)).status_code == 201
    stopped = await browser.post(f"{base(v)}/rules/{rule_id}/end", data={"last_day": "2026-12-06"})
    assert stopped.status_code == 204
    (rule,) = (await client.get(f"{API}/communities/{v.b}/shift-rules", headers=v.staff.headers)).json()
    assert rule["active_until"] == "2026-12-06"
    left = (await client.get(f"{API}/communities/{v.b}/shifts?limit=50", headers=v.staff.headers)).json()["items"]
    assert len(left) == 2
    assert any(e["kind"] == "shift.cancelled" for e in await inbox(v, v.zhang))
    early = await browser.post(f"{base(v)}/rules/{rule_id}/end", data={"last_day": "2026-11-01"})
    assert field_error(early, "last_day") == "最后一天不能早于开始日期"

    refused = await browser.post(f"{base(v)}/rules", data={**form, "weekdays": [], "starts": "2pm"})
    assert field_error(refused, "weekdays") == "请至少选一天" and "时:分" in field_error(refused, "starts")
    same = await browser.post(f"{base(v)}/rules", data={**form, "ends": "14:00"})
    assert field_error(same, "ends") == "结束钟点不能与开始相同"


# -- who may see what ----------------------------------------------------------------------------


async def test_only_staff_of_the_community_see_its_volunteers_and_changes_need_the_token(console, client, v):
    shift = await v.shift(start=28)
    rule = await client.post(
        f"{API}/communities/{v.b}/shift-rules",
        json={"role": "开馆值班", "weekdays": ["sat"], "starts": "09:00", "ends": "12:00", "needed": 1,
              "active_from": "2026-12-01"},
        headers=v.staff.headers,
    )  # fmt: skip
    rule_id = rule.json()["id"]
    # staff of another community, who live here: residents here (403); this community's teams,
    # shifts and duties do not exist in their own community's pages (404)
    elsewhere = (await community(client, v.root, "C社区"))["id"]
    other = await login(client, "other-staff")
    await grant(client, v.root, elsewhere, other, "staff")
    await join(client, other, v.b, "5栋", "1单元", "101")
    theirs = await console(other)
    for path in (base(v), f"{base(v)}/teams/{v.team}", f"{base(v)}/shifts", f"{base(v)}/shifts/{shift['id']}/duty"):
        assert (await theirs.get(path)).status_code == 403, path
    resident_cancel = await theirs.post(f"{base(v)}/shifts/{shift['id']}/cancel", data={"reason": ""})
    assert resident_cancel.status_code == 403
    there = f"/console/c/{elsewhere}/volunteers"
    for path in (f"{there}/teams/{v.team}", f"{there}/shifts/{shift['id']}", f"{there}/shifts/{shift['id']}/duty"):
        assert (await theirs.get(path)).status_code == 404, path
    for path, data in (
        (f"{there}/shifts/{shift['id']}/cancel", {"reason": ""}),
        (f"{there}/teams/{v.team}/members/{v.zhang.user_id}/role", {"role": "leader"}),
        (f"{there}/rules/{rule_id}/end", {"last_day": "2026-12-10"}),
        (f"{there}/rules/{rule_id}/edit", {"role": "x", "place": "", "needed": "1"}),
    ):
        assert (await theirs.post(path, data=data)).status_code == 404, path
    assert not (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()["cancelled"]
    # no token: nothing changes
    browser = await staff_console(console, v)
    forged = await browser.post(f"{base(v)}/shifts/{shift['id']}/cancel", data={"reason": ""}, csrf=False)
    assert forged.status_code == 403 and "页面已过期" in forged.text
    assert not (await client.get(f"{API}/shifts/{shift['id']}", headers=v.staff.headers)).json()["cancelled"]
