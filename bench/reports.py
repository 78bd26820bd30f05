"""Reports: a year of one busy community on PostgreSQL — the dashboard's figures for the year and
its XLSX export, with times and peak memory (issue 14: the year's dashboard under 1 s, the export
under 5 s and 150 MB).

Generates, in a fresh database on LINLI_BENCH_DATABASE_URL's server (dropped afterwards), with bulk
inserts (Core `insert()` with lists of rows): one community of 1,000 households (~2,250 members,
~1,300 with WeChat: children and elders without WeChat, some with gender), a space open Tue–Sun
with a few closure days, the reading corner (3,000 titles, 4,000 copies), 500 activities over the
year (some cancelled; most tagged with a service project and a service type) with 20,000 check-ins
(walk-ins included) and some no-shows, 10,000 loans, 3,000 approved service records of ~150
volunteers (some corrected), 100 announcements to every resident with their inbox entries and
readers, and the loop's posts, shares and opens. Then, in a fresh process for each case (so that
its peak memory is the request's, not the generator's nor another case's), runs the real app
in-process (httpx's ASGI transport against `api.main.create_app`), signs in as the community's
social worker (the development login), and requests:

- `GET /api/v1/communities/{id}/reports?from=<year start>&to=<year end>` (every breakdown),
  `--runs` times after a warm-up: median and 95th percentile, CPU time, statements;
- the same for the service project (`&project=`);
- `GET /api/v1/communities/{id}/reports/export?...` (XLSX), `--export-runs` times.

Memory, for each case in its own process: the peak resident set during the timed requests over
the warmed-up process's (`VmHWM` from /proc/self/status, the kernel's high-water mark, reset just
before them through /proc/self/clear_refs, minus `VmRSS` then); `resource.getrusage`'s
`ru_maxrss` growth over the same requests (the process's lifetime peak, so it shows only growth
beyond the start-up's peak: here the same figure); and the Python heap's peak during one more
request (`tracemalloc`, which slows the request it traces, so that run is not timed).
`--freeze` calls `gc.freeze()` after the warm-up, as a server could once started (the cyclic
garbage collector then leaves the app's ~280,000 long-lived objects alone). `--profile` prints a
cProfile of one request of each case.

    .venv/bin/python bench/reports.py
    .venv/bin/python bench/reports.py --runs 20 --export-runs 5 --freeze --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import event, insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import (  # noqa: E402
    Activity,
    Announcement,
    AnnouncementReadMark,
    Book,
    BookCopy,
    Booking,
    BookingAttendee,
    Community,
    CommunityMembership,
    Household,
    Loan,
    Member,
    Notification,
    Post,
    ProjectCommunity,
    ProjectTarget,
    ServiceProject,
    ServiceRecord,
    Share,
    ShareOpen,
    Shift,
    ShiftSignup,
    Space,
    SpaceClosure,
    Team,
    User,
)
from api.db.session import Database  # noqa: E402
from api.main import create_app, shutdown  # noqa: E402
from bench.loadgen import SECRET, fresh_database  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
GOALS = {"dashboard_s": 1.0, "export_s": 5.0, "export_mb": 150.0}
HOURS = {d: [["09:00", "21:00"]] for d in ("tue", "wed", "thu", "fri", "sat", "sun")} | {"mon": []}
CATEGORIES = ["children", "parent_child", "elders", "culture", "volunteering", "deliberation", "other"]
SERVICE_TYPES = ["community", "group", "casework", "volunteering", "deliberation", "training", "other"]
BUILDINGS = [f"{n}栋" for n in range(1, 21)]


def year_span(today: date) -> tuple[date, date]:
    """The twelve full months before this one."""
    last = today.replace(day=1) - timedelta(days=1)
    first = date(last.year, 1, 1) if last.month == 12 else date(last.year - 1, last.month + 1, 1)
    return first, last


async def _rows(session: AsyncSession, model: Any, rows: list[dict[str, Any]], ids: bool = False) -> list[int]:
    """Bulk insert, a thousand rows a statement (SQLAlchemy's insertmanyvalues); ids in order."""
    out: list[int] = []
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        if ids:
            result = await session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), chunk)
            out += [int(i) for i in result.scalars()]
        else:
            await session.execute(insert(model), chunk)
    return out


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), TZ)


async def generate(db: Database, seed: int) -> dict[str, Any]:
    """A year of one community; returns what the measurement needs and the counts made."""
    rng = random.Random(seed)
    today = clock.now().astimezone(TZ).date()
    first, last = year_span(today)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    open_days = [d for d in days if d.weekday() != 0]
    counts: dict[str, int] = {}
    async with db.session() as session:
        made = at(first - timedelta(days=30), 9)
        (community_id,) = await _rows(
            session, Community, [{"name": "基准社区", "city": "成都市", "timezone": "Asia/Shanghai"}], ids=True
        )
        (space_id,) = await _rows(
            session,
            Space,
            [{"community_id": community_id, "name": "复合空间", "address": "一楼", "opening_hours": HOURS}],
            ids=True,
        )
        closures = rng.sample(open_days, 10)
        await _rows(
            session,
            SpaceClosure,
            [{"space_id": space_id, "starts_on": d, "ends_on": d, "reason": "检修"} for d in closures],
        )
        (staff_id,) = await _rows(session, User, [{"openid": "dev-staff", "display_name": "王社工"}], ids=True)
        await _rows(
            session, CommunityMembership, [{"community_id": community_id, "user_id": staff_id, "role": "staff"}]
        )

        # households and members: a head with WeChat, often a second adult, children, an elder
        household_rows = [
            {
                "community_id": community_id,
                "building": BUILDINGS[n % len(BUILDINGS)],
                "unit": f"{n % 3 + 1}单元",
                "room": f"{n // 60 + 1}{n % 20:02d}",
                "address_key": f"{BUILDINGS[n % len(BUILDINGS)]}|{n % 3 + 1}单元|{n // 60 + 1}{n % 20:02d}",
            }
            for n in range(1000)
        ]
        households = await _rows(session, Household, household_rows, ids=True)
        user_rows: list[dict[str, Any]] = []
        member_plan: list[tuple[int, str, bool, int | None]] = []  # (household, kind, has user, birth year)
        for household in households:
            member_plan.append((household, "adult", True, None))
            if rng.random() < 0.3:
                member_plan.append((household, "adult", True, None))
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                member_plan.append((household, "child", False, today.year - rng.randint(2, 13)))
            if rng.random() < 0.15:
                member_plan.append((household, "elder", False, today.year - rng.randint(70, 90)))
        for n, (_, _, has_user, _) in enumerate(member_plan):
            if has_user:
                user_rows.append({"openid": f"bench-{n}", "display_name": f"居民{n}"})
        user_ids = iter(await _rows(session, User, user_rows, ids=True))
        member_rows = []
        heads: set[int] = set()
        for n, (household, kind, has_user, birth_year) in enumerate(member_plan):
            head = household not in heads
            heads.add(household)
            member_rows.append(
                {
                    "community_id": community_id,
                    "household_id": household,
                    "user_id": next(user_ids) if has_user else None,
                    "display_name": f"成员{n}",
                    "kind": kind,
                    "birth_year": birth_year,
                    "status": "active",
                    "is_head": head,
                    "consent_at": made if kind == "child" else None,
                    "gender": rng.choice(("female", "male", None)),
                    "created_at": made,
                    "updated_at": made,
                }
            )
        member_ids = await _rows(session, Member, member_rows, ids=True)
        members = [
            (mid, row["household_id"], row["kind"], row["user_id"])
            for mid, row in zip(member_ids, member_rows, strict=True)
        ]
        await _rows(
            session,
            CommunityMembership,
            [{"community_id": community_id, "user_id": m[3], "role": "resident"} for m in members if m[3]],
        )
        resident_users = [m[3] for m in members if m[3]]
        counts |= {"households": len(households), "members": len(members), "users": len(resident_users) + 1}

        (project_id,) = await _rows(
            session,
            ServiceProject,
            [
                {
                    "name": "基准社区儿童友好空间运营项目",
                    "funder": "某某街道办事处",
                    "starts_on": first,
                    "ends_on": last,
                    "grain": "month",
                    "created_by": staff_id,
                }
            ],
            ids=True,
        )
        await _rows(
            session, ProjectCommunity, [{"project_id": project_id, "community_id": community_id, "added_at": made}]
        )
        months = sorted({f"{d:%Y-%m}" for d in days})
        targets = {"activities_held": 40, "service_visits": 1600, "beneficiaries": 600, "loans": 800,
                   "volunteer_hours": 900, "open_days": 24, "announcements": 8}  # fmt: skip
        await _rows(
            session,
            ProjectTarget,
            [
                {
                    "project_id": project_id,
                    "community_id": community_id,
                    "indicator": key,
                    "period": period,
                    "value": value * (12 if period == "total" else 1),
                    "updated_at": made,
                }
                for key, value in targets.items()
                for period in ["total", *months]
            ],
        )

        # 500 activities (20 cancelled) with 20,000 check-ins among 480 held ones
        activity_rows = []
        for n in range(500):
            day = open_days[n * len(open_days) // 500]
            start = at(day, rng.choice((10, 15, 19)))
            end = start + timedelta(minutes=90)
            cancelled = n % 25 == 7
            tagged = rng.random() < 0.8
            activity_rows.append(
                {
                    "community_id": community_id, "space_id": space_id if n % 3 else None, "location": "活动室",
                    "title": f"活动{n + 1}", "description": "", "category": CATEGORIES[n % len(CATEGORIES)],
                    "status": "cancelled" if cancelled else "published", "start_at": start, "end_at": end,
                    "capacity": 80, "taken": 0, "registration_closes_at": start, "cancel_deadline": start,
                    "checkin_opens_at": start - timedelta(minutes=30), "checkin_closes_at": end,
                    "published_at": start - timedelta(days=7),
                    "cancelled_at": start - timedelta(days=1) if cancelled else None,
                    "attendance_closed_at": None if cancelled else end + timedelta(hours=2),
                    "album_sent_at": None if cancelled else end + timedelta(hours=24), "created_by": staff_id,
                    "project_id": project_id if tagged else None,
                    "service_type": SERVICE_TYPES[n % len(SERVICE_TYPES)] if tagged else None,
                    "created_at": start - timedelta(days=7), "updated_at": start - timedelta(days=7),
                }
            )  # fmt: skip
        activity_ids = await _rows(session, Activity, activity_rows, ids=True)
        held = [
            (aid, row) for aid, row in zip(activity_ids, activity_rows, strict=True) if row["status"] == "published"
        ]
        by_household: dict[int, list[int]] = {}
        for mid, household, _kind, _user in members:
            by_household.setdefault(household, []).append(mid)
        head_user = {m[1]: m[3] for m in members if m[3]}
        # each held activity: ~16 households book their members; ~10 % don't come; two walk-ins
        per_activity = [20_000 // len(held) + (1 if n < 20_000 % len(held) else 0) for n in range(len(held))]
        booking_rows, attendee_plan = [], []
        for (aid, row), wanted in zip(held, per_activity, strict=True):
            start = row["start_at"]
            walkins = 2
            checked = 0
            for household in rng.sample(households, 40):
                if checked >= wanted - walkins:
                    break
                people = by_household[household][: wanted - walkins - checked]
                booked_at = start - timedelta(days=rng.randint(1, 6))
                booking_rows.append(
                    {
                        "activity_id": aid, "community_id": community_id, "household_id": household,
                        "booked_by": head_user.get(household), "seats": len(people), "status": "confirmed",
                        "source": "app", "confirmed_at": booked_at, "created_at": booked_at, "updated_at": booked_at,
                    }
                )  # fmt: skip
                came = rng.random() > 0.1
                attendee_plan.append([(aid, mid, None, start if came else None) for mid in people])
                checked += len(people) if came else 0
            booking_rows.append(
                {
                    "activity_id": aid, "community_id": community_id, "household_id": None, "booked_by": None,
                    "seats": walkins + wanted - walkins - checked, "status": "confirmed", "source": "walkin",
                    "confirmed_at": start, "created_at": start, "updated_at": start,
                }
            )  # fmt: skip
            attendee_plan.append(
                [(aid, None, f"来宾{aid}-{k}", start + timedelta(minutes=5)) for k in range(wanted - checked)]
            )
        booking_ids = await _rows(session, Booking, booking_rows, ids=True)
        attendee_rows = [
            {
                "booking_id": bid, "activity_id": aid, "member_id": mid, "guest_name": guest, "active": True,
                "checked_in_at": checked_in, "checked_in_by": staff_id if checked_in else None,
                "checkin_method": ("walkin" if guest else "scan") if checked_in else None,
                "no_show": checked_in is None,
            }
            for bid, plan in zip(booking_ids, attendee_plan, strict=True)
            for aid, mid, guest, checked_in in plan
        ]  # fmt: skip
        await _rows(session, BookingAttendee, attendee_rows)
        taken: dict[int, int] = {}
        for row in booking_rows:
            taken[row["activity_id"]] = taken.get(row["activity_id"], 0) + row["seats"]
        await session.execute(
            text("UPDATE activities SET taken = :t, capacity = GREATEST(capacity, :t) WHERE id = :i"),
            [{"t": seats, "i": aid} for aid, seats in taken.items()],
        )
        counts |= {
            "activities": len(activity_rows),
            "held": len(held),
            "bookings": len(booking_rows),
            "attendees": len(attendee_rows),
            "check-ins": sum(1 for a in attendee_rows if a["checked_in_at"]),
        }

        # the reading corner: 3,000 titles, 4,000 copies, 10,000 loans over the year
        book_ids = await _rows(
            session,
            Book,
            [{"community_id": community_id, "title": f"图书{n}", "age_min": 3, "age_max": 12} for n in range(3000)],
            ids=True,
        )
        copy_rows = [
            {"book_id": book_ids[n % 3000], "community_id": community_id, "barcode": f"B{n:06d}", "state": "available"}
            for n in range(4000)
        ]
        copy_ids = await _rows(session, BookCopy, copy_rows, ids=True)
        readers = [m for m in members if m[2] == "child"] * 3 + [m for m in members if m[2] == "adult"]
        loan_rows = []
        for n in range(10_000):
            day = open_days[n * len(open_days) // 10_000]
            reader = rng.choice(readers)
            copy = n % 4000
            borrowed = at(day, rng.randint(10, 19))
            back = borrowed + timedelta(days=rng.randint(3, 20))
            loan_rows.append(
                {
                    "community_id": community_id, "copy_id": copy_ids[copy], "book_id": copy_rows[copy]["book_id"],
                    "member_id": reader[0], "household_id": reader[1], "borrowed_by": staff_id, "borrowed_at": borrowed,
                    "due_at": at(day + timedelta(days=15), 0), "returned_at": back if back < clock.now() else None,
                    "returned_by": staff_id if back < clock.now() else None,
                }
            )  # fmt: skip
        # one active loan per copy at most: only the last loan of a copy may be out
        seen: set[int] = set()
        for row in reversed(loan_rows):
            if row["copy_id"] in seen and row["returned_at"] is None:
                row["returned_at"] = row["borrowed_at"] + timedelta(days=3)
                row["returned_by"] = staff_id
            seen.add(row["copy_id"])
        await _rows(session, Loan, loan_rows)
        counts |= {"books": len(book_ids), "copies": len(copy_ids), "loans": len(loan_rows)}

        # volunteers: 1,500 shifts of two, 3,000 approved records (30 corrected)
        team_ids = await _rows(
            session,
            Team,
            [{"community_id": community_id, "name": name} for name in ("公益志愿队", "空间营造队", "爱心联盟")],
            ids=True,
        )
        volunteers = rng.sample(resident_users, 150)
        shift_rows = []
        for n in range(1500):
            day = open_days[n * len(open_days) // 1500]
            start = at(day, rng.choice((9, 14, 18)))
            shift_rows.append(
                {
                    "community_id": community_id, "team_id": team_ids[n % 3], "role": "开馆值班", "place": "服务台",
                    "start_at": start, "end_at": start + timedelta(hours=3), "needed": 2, "taken": 2,
                    "withdraw_deadline": start - timedelta(hours=12), "closed_at": start + timedelta(hours=5),
                    "created_by": staff_id, "project_id": project_id if n % 5 else None,
                    "service_type": "volunteering" if n % 5 else None,
                }
            )  # fmt: skip
        shift_ids = await _rows(session, Shift, shift_rows, ids=True)
        signup_rows, record_plan = [], []
        for sid, row in zip(shift_ids, shift_rows, strict=True):
            for user in rng.sample(volunteers, 2):
                signup_rows.append(
                    {
                        "shift_id": sid, "user_id": user, "status": "completed", "checked_in_at": row["start_at"],
                        "checked_out_at": row["end_at"],
                    }
                )  # fmt: skip
                record_plan.append((sid, row, user))
        signup_ids = await _rows(session, ShiftSignup, signup_rows, ids=True)
        record_rows = [
            {
                "community_id": community_id, "user_id": user, "signup_id": signup, "shift_id": sid,
                "team_id": row["team_id"], "service": row["role"],
                "service_date": row["start_at"].astimezone(TZ).date(),
                "place": row["place"], "start_at": row["start_at"], "end_at": row["end_at"], "minutes": 180,
                "organiser": "D社会工作服务中心", "status": "approved",
                "review_by": row["start_at"].date() + timedelta(days=14), "reviewed_by": staff_id,
                "reviewed_at": row["end_at"] + timedelta(days=1),
            }
            for signup, (sid, row, user) in zip(signup_ids, record_plan, strict=True)
        ]  # fmt: skip
        record_ids = await _rows(session, ServiceRecord, record_rows, ids=True)
        corrections = [
            record_rows[n]
            | {
                "minutes": 150,
                "corrects_id": record_ids[n],
                "correction_reason": "签退时间有误",
                "recorded_by": staff_id,
            }
            for n in range(0, 3000, 100)
        ]
        await _rows(session, ServiceRecord, corrections)
        counts |= {"shifts": len(shift_ids), "service records": len(record_rows) + len(corrections)}

        # 100 announcements to every resident, ~60 % read
        notices = []
        for n in range(100):
            day = days[n * len(days) // 100]
            notices.append(
                {
                    "community_id": community_id, "author_id": staff_id, "title": f"通知{n + 1}", "body": "通知正文",
                    "audience": {"kind": "community"}, "audience_kind": "community", "publish_at": at(day, 9),
                    "created_at": at(day, 9), "updated_at": at(day, 9),
                }
            )  # fmt: skip
        notice_ids = await _rows(session, Announcement, notices, ids=True)
        notification_rows, read_rows = [], []
        for nid, row in zip(notice_ids, notices, strict=True):
            for user in resident_users:
                read = rng.random() < 0.6
                notification_rows.append(
                    {
                        "community_id": community_id, "user_id": user, "kind": "announcement",
                        "cause_key": f"announcement:{nid}", "title": row["title"], "body": row["body"], "page": "",
                        "params": {}, "created_at": row["publish_at"], "read_at": row["publish_at"] if read else None,
                    }
                )  # fmt: skip
                if read:
                    read_rows.append({"announcement_id": nid, "user_id": user, "read_at": row["publish_at"]})
        await _rows(session, Notification, notification_rows)
        await _rows(session, AnnouncementReadMark, read_rows)
        counts |= {"announcements": len(notice_ids), "inbox entries": len(notification_rows), "reads": len(read_rows)}

        # the loop: a staff post per held activity, some shares and their opens
        post_rows = [
            {
                "community_id": community_id, "author_id": staff_id, "activity_id": aid, "body": "活动回顾",
                "status": "visible", "by_staff": True, "photo_count": 3, "visible_at": row["end_at"],
                "created_at": row["end_at"], "updated_at": row["end_at"],
            }
            for aid, row in held
        ]  # fmt: skip
        post_ids = await _rows(session, Post, post_rows, ids=True)
        share_rows = [
            {
                "token": f"t{n:07d}", "community_id": community_id, "target": "post", "post_id": pid,
                "created_by": resident_users[n], "created_at": row["created_at"] + timedelta(hours=2),
            }
            for n, (pid, row) in enumerate(zip(post_ids, post_rows, strict=True))
        ]  # fmt: skip
        share_ids = await _rows(session, Share, share_rows, ids=True)
        open_rows = [
            {
                "share_id": sid, "user_id": user, "day": (row["created_at"] + timedelta(hours=1)).astimezone(TZ).date(),
                "opened_at": row["created_at"] + timedelta(hours=1), "was_member": True,
            }
            for sid, row in zip(share_ids, share_rows, strict=True)
            for user in rng.sample(resident_users, 5)
        ]  # fmt: skip
        await _rows(session, ShareOpen, open_rows)
        counts |= {"posts": len(post_ids), "shares": len(share_ids), "share opens": len(open_rows)}
        await session.commit()
    async with db.engine.connect() as connection:
        # a live server's autovacuum keeps statistics; freshly bulk-loaded tables have none
        await connection.execute(text("ANALYZE"))
        await connection.commit()
    return {"community": community_id, "project": project_id, "from": first, "to": last, "counts": counts}


def settings_for(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        environment="development",
        jwt_secret=SECRET,
        wechat_mode="fake",
        embedded_worker=False,
        log_level="WARNING",
        media_dir=tempfile.mkdtemp(prefix="linli-bench-media-"),
    )


def memory_kb() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(value.split()[0])
    return values


CASES = {
    "dashboard": ("dashboard, the year", "", False),
    "project": ("dashboard, the year, one project", "", True),
    "export": ("XLSX export, the year", "/export", False),
}


async def measure(url: str, info: dict[str, Any], case: str, runs: int, profile: bool, freeze: bool) -> dict[str, Any]:
    """One case in this (fresh) process: its memory figures are the request's alone."""
    name, suffix, with_project = CASES[case]
    app = create_app(settings_for(url))
    db: Database = app.state.db
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    path = f"/api/v1/communities/{info['community']}/reports{suffix}"
    year = {"from": info["from"].isoformat(), "to": info["to"].isoformat()}
    params = {**year, "project": info["project"]} if with_project else year
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120) as http:
        answer = await http.post("/api/v1/auth/wechat/login", json={"code": "dev:staff"})
        assert answer.status_code == 200, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        # warm-up on one month: the statements compiled and prepared, the code paths imported
        month = {"from": info["to"].replace(day=1).isoformat(), "to": info["to"].isoformat()}
        for _ in range(2):
            assert (await http.get(path, params=month, headers=headers)).status_code == 200
        gc.collect()
        if freeze:
            gc.freeze()
        startup = memory_kb()
        reset = _reset_peak()
        before = memory_kb()
        maxrss_before = _maxrss_kb()
        timings, cpu = [], []
        statements = 0
        size = 0
        for _ in range(runs):
            begun, begun_cpu = time.perf_counter(), time.process_time()
            answer = await http.get(path, params=params, headers=headers)
            timings.append(time.perf_counter() - begun)
            cpu.append(time.process_time() - begun_cpu)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            size = len(answer.content)
        per_request = statements / runs
        after = memory_kb()
        maxrss_after = _maxrss_kb()
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        assert (await http.get(path, params=params, headers=headers)).status_code == 200
        _current, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await http.get(path, params=params, headers=headers)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(f"\n==== cProfile: {name}\n{out.getvalue()}", file=sys.stderr)
    await shutdown(app)
    timings.sort()
    return {
        "name": name,
        "runs": runs,
        "p50_s": statistics.median(timings),
        "p95_s": timings[max(0, round(0.95 * runs) - 1)],
        "max_s": timings[-1],
        "cpu_p50_s": statistics.median(cpu),
        "statements": per_request,
        "bytes": size,
        "rss_before_mb": before["VmRSS"] / 1024,
        # the peak resident set during the timed requests over the warmed-up process's: the
        # kernel's high-water mark (VmHWM), reset before them (/proc/self/clear_refs) when allowed
        "rss_peak_growth_mb": (after["VmHWM"] - before["VmRSS"]) / 1024 if reset else None,
        # getrusage's ru_maxrss: the process's lifetime peak, so only growth beyond the start-up's
        "maxrss_growth_mb": (maxrss_after - maxrss_before) / 1024,
        "maxrss_mb": maxrss_after / 1024,
        "startup_peak_mb": startup["VmHWM"] / 1024,
        "heap_peak_mb": heap_peak / 1024 / 1024,
    }


def _reset_peak() -> bool:
    """Reset the kernel's peak resident set of this process (Linux: "5" to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _maxrss_kb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def main(args: argparse.Namespace) -> None:
    async with fresh_database() as url:
        app = create_app(settings_for(url))
        db: Database = app.state.db
        await upgrade(db.engine)
        started = time.perf_counter()
        info = await generate(db, args.seed)
        generated = time.perf_counter() - started
        await shutdown(app)
        print(f"generated in {generated:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in info["counts"].items()))
        print(f"the year: {info['from']} – {info['to']}")
        # each case measured in a fresh process: its memory is the request's, not the generator's
        # nor the other cases'
        payload = json.dumps({**info, "from": info["from"].isoformat(), "to": info["to"].isoformat()})
        results = {}
        for case in CASES:
            runs = args.export_runs if case == "export" else args.runs
            command = [sys.executable, __file__, "--measure", url, payload, case, "--runs", str(runs)]
            command += (["--profile"] if args.profile else []) + (["--freeze"] if args.freeze else [])
            child = await asyncio.create_subprocess_exec(
                *command,
                cwd=ROOT,
                env=os.environ,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await child.communicate()
            if child.returncode or args.profile:
                print(err.decode())
            if child.returncode:
                raise SystemExit(child.returncode)
            result = json.loads(out)
            results[result["name"]] = result
    print(
        "\n| request | p50 | p95 | max | CPU p50 | statements | response "
        "| RSS peak over the warmed-up process (VmHWM) | ru_maxrss growth | Python heap peak (tracemalloc) |"
        "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name, r in results.items():
        hwm = "n/a" if r["rss_peak_growth_mb"] is None else f"{r['rss_peak_growth_mb']:.1f} MB"
        print(
            f"| {name} | {r['p50_s'] * 1000:.0f} ms | {r['p95_s'] * 1000:.0f} ms | {r['max_s'] * 1000:.0f} ms "
            f"| {r['cpu_p50_s'] * 1000:.0f} ms | {r['statements']:.0f} | {r['bytes'] / 1024:.0f} KB "
            f"| {hwm} (from {r['rss_before_mb']:.0f} MB) | {r['maxrss_growth_mb']:.1f} MB "
            f"| {r['heap_peak_mb']:.1f} MB |"
        )
    dashboard = results["dashboard, the year"]["p95_s"]
    export = results["XLSX export, the year"]
    memory = max(export["rss_peak_growth_mb"] or 0, export["maxrss_growth_mb"], export["heap_peak_mb"])
    print(
        f"\ngoals: the year's dashboard p95 {dashboard:.2f} s < {GOALS['dashboard_s']:.0f} s: "
        f"{'yes' if dashboard < GOALS['dashboard_s'] else 'NO'}; the export p95 {export['p95_s']:.2f} s "
        f"< {GOALS['export_s']:.0f} s: {'yes' if export['p95_s'] < GOALS['export_s'] else 'NO'}; its memory "
        f"{memory:.0f} MB < {GOALS['export_mb']:.0f} MB: {'yes' if memory < GOALS['export_mb'] else 'NO'}"
    )


def measure_main(url: str, payload: str, case: str, args: argparse.Namespace) -> None:
    info = json.loads(payload)
    info["from"], info["to"] = date.fromisoformat(info["from"]), date.fromisoformat(info["to"])
    print(json.dumps(asyncio.run(measure(url, info, case, args.runs, args.profile, args.freeze))))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed dashboard requests")
    parser.add_argument("--export-runs", type=int, default=5, help="timed exports")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one request of each kind")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after the warm-up")
    parser.add_argument("--measure", nargs=3, metavar=("URL", "INFO", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_main(*args.measure, args)
    else:
        asyncio.run(main(args))
