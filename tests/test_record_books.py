"""The monthly record book (台账), through the API, the worker and the console, on both engines:
staff request a month, the worker assembles the ZIP (a folder per activity held that month with
its sign-in sheet, summary and photos; the indicator sheet; a readme), staff are told in their
inbox and download it. Children's photos only in the internal archive; children's phones never.

September 2026 in community B (Shanghai time): 亲子绘本会 on the 5th (the Chen household with
their daughter 小雨, the Zhou household, 刘奶奶 registered at the desk as a walk-in, a guest 王奶奶),
长者智能手机课 on the 12th (chen), 中秋手工 on the 19th (cancelled during the activity, after a
check-in), 社区讲座 on the 25th (booked, nobody came); 八月读书会 on 30 August (held, but in August).
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from api import clock
from api.db.models import ActivitySummary, Media, Notification, RecordBook
from api.services.reports import exports, record_book
from tests.conftest import make_settings
from tests.factories import Person, activity, add_child, book, community, grant, join, login, platform_admin
from workers import jobs  # noqa: F401 - registers the handlers
from workers.outbox import enqueue
from workers.runner import Worker

SET_UP = datetime(2026, 8, 20, 2, 0, tzinfo=UTC)  # the community is set up (10:00 in Shanghai)
OCTOBER = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # when staff ask for September's book


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time in 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


async def drain(app: Any) -> int:
    return await Worker(app.state.db, app.state.settings, app.state.wechat).run_until_idle()


class World:
    async def build(self, client: httpx.AsyncClient, app: Any) -> World:
        self.client, self.app, self.db = client, app, app.state.db
        clock.freeze(SET_UP)
        self.root = await platform_admin(client, self.db)
        self.b = (await community(client, self.root))["id"]
        self.c = (await community(client, self.root, "C社区"))["id"]
        self.staff = await self.named("社工小王")
        await grant(client, self.root, self.b, self.staff, "staff")
        self.lead = await self.named("社工老李")
        await grant(client, self.root, self.b, self.lead, "admin")
        self.other_staff = await login(client, "C社区社工")
        await grant(client, self.root, self.c, self.other_staff, "staff")
        # the Chen household: chen (WeChat with a bound phone) and their daughter 小雨
        self.chen = await login(client, "陈先生")
        joined = await join(client, self.chen, self.b, "3栋", "2单元", "501")
        self.chen_home, self.chen_me = joined["household"]["id"], joined["member"]["id"]
        self.xiaoyu = (await add_child(client, self.chen, self.chen_home, "陈小雨", 2018))["id"]
        bound = await client.post(
            "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13812341234"}, headers=self.chen.headers
        )
        assert bound.status_code == 200, bound.text
        # the Zhou household: no phone anywhere
        self.zhou = await login(client, "周阿姨")
        joined = await join(client, self.zhou, self.b, "5栋", "1单元", "302")
        self.zhou_me = joined["member"]["id"]
        # 刘奶奶, registered at the desk without WeChat: the household's contact phone
        desk = await client.post(
            f"/api/v1/communities/{self.b}/households",
            json={
                "building": "7栋",
                "room": "101",
                "contact_phone": "13987654321",
                "members": [{"display_name": "刘奶奶", "kind": "elder"}],
            },
            headers=self.staff.headers,
        )
        assert desk.status_code == 201, desk.text
        self.liu = desk.json()["members"][0]["id"]

        self.picture_book = await self.activity("亲子绘本会", local(9, 5, 10), 90)
        self.phones = await self.activity("长者智能手机课", local(9, 12, 14), 90)
        self.crafts = await self.activity("中秋手工", local(9, 19, 10), 120)
        self.talk = await self.activity("社区讲座", local(9, 25, 19), 60)
        self.august = await self.activity("八月读书会", local(8, 30, 10), 60)
        chen_booking = await self.book(self.chen, self.picture_book, [self.chen_me, self.xiaoyu])
        zhou_booking = await self.book(self.zhou, self.picture_book, [self.zhou_me])
        chen_phones = await self.book(self.chen, self.phones, [self.chen_me])
        await self.book(self.zhou, self.talk, [self.zhou_me])  # nobody comes

        # 30 August: held, but not in September
        await self.at(local(8, 30, 10, 5))
        await self.walk_in(self.august, guests=["李爷爷"])
        # 5 September: the picture-book club, and its photos
        await self.at(local(9, 5, 9, 50))
        await self.check_in(self.picture_book, chen_booking)
        await self.at(local(9, 5, 10, 2))
        await self.check_in(self.picture_book, zhou_booking)
        await self.at(local(9, 5, 10, 10))
        await self.walk_in(self.picture_book, member_ids=[self.liu], guests=["王奶奶"])
        await self.at(local(9, 5, 12, 0))
        self.group_photo = await self.upload((200, 60, 40))
        self.child_photo = await self.upload((40, 60, 200))
        self.hidden_photo = await self.upload((40, 200, 60))
        await drain(app)
        self.group_post = await self.post(body="大家的合影", media_ids=[self.group_photo])
        self.child_post = await self.post(body="小朋友在画画", media_ids=[self.child_photo], shows_children=True)
        hidden = await self.post(body="拍糊了", media_ids=[self.hidden_photo])
        await drain(app)
        taken_down = await client.post(
            f"/api/v1/posts/{hidden}/hide", json={"note": "拍糊了"}, headers=self.staff.headers
        )
        assert taken_down.status_code == 200, taken_down.text
        # 12 September: the phone class (no summary written)
        await self.at(local(9, 12, 14, 0))
        await self.check_in(self.phones, chen_phones)
        # 19 September: a guest checks in, then the activity is called off
        await self.at(local(9, 19, 10, 5))
        await self.walk_in(self.crafts, guests=["赵大爷"])
        cancelled = await client.post(
            f"/api/v1/activities/{self.crafts}/cancel", json={"reason": "暴雨"}, headers=self.staff.headers
        )
        assert cancelled.status_code == 200, cancelled.text
        # what staff wrote about the picture-book club
        async with self.db.session() as session:
            session.add(
                ActivitySummary(
                    activity_id=self.picture_book,
                    background="社区里双职工家庭多，孩子放学后缺少陪伴。",
                    goals="培养亲子阅读习惯。",
                    process="社工带读《猜猜我有多爱你》，家长和孩子一起画画。",
                    participation="三户家庭和两位老人参加。",
                    outcomes="家长希望每月办一次。",
                    reflection="下次提前准备更多画具。",
                    updated_at=clock.now(),
                    updated_by=self.staff.user_id,
                )
            )
            await session.commit()
        await drain(app)
        await self.at(OCTOBER)
        return self

    async def at(self, moment: datetime) -> None:
        """The clock moves on (weeks at a time): everyone logs in again, as the mini-program would."""
        clock.freeze(moment)
        for person in (self.root, self.staff, self.lead, self.other_staff, self.chen, self.zhou):
            person.token = (await login(self.client, person.name)).token

    async def named(self, name: str) -> Person:
        person = await login(self.client, name)
        named = await self.client.patch("/api/v1/me", json={"display_name": name}, headers=person.headers)
        assert named.status_code == 200, named.text
        return person

    async def activity(self, title: str, start: datetime, minutes: int) -> int:
        made = await activity(
            self.client,
            self.staff,
            self.b,
            title=title,
            start_at=start.isoformat(),
            end_at=(start + timedelta(minutes=minutes)).isoformat(),
        )
        return int(made["id"])

    async def book(self, person: Person, activity_id: int, member_ids: list[int]) -> int:
        booked = await book(self.client, person, activity_id, member_ids)
        assert booked.status_code == 201, booked.text
        return int(booked.json()["id"])

    async def check_in(self, activity_id: int, booking_id: int) -> None:
        checked = await self.client.post(
            f"/api/v1/activities/{activity_id}/checkins", json={"booking_id": booking_id}, headers=self.staff.headers
        )
        assert checked.status_code == 200, checked.text

    async def walk_in(self, activity_id: int, *, member_ids: list[int] | None = None, guests: list[str]) -> None:
        came = await self.client.post(
            f"/api/v1/activities/{activity_id}/walkins",
            json={"member_ids": member_ids or [], "guests": guests},
            headers=self.staff.headers,
        )
        assert came.status_code == 201, came.text

    async def upload(self, color: tuple[int, int, int]) -> int:
        response = await self.client.post(
            "/api/v1/media",
            data={"community_id": str(self.b)},
            files={"file": ("photo.jpg", jpeg(color), "image/jpeg")},
            headers=self.staff.headers,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def post(self, **body: Any) -> int:
        response = await self.client.post(
            f"/api/v1/communities/{self.b}/posts",
            json={"activity_id": self.picture_book, **body},
            headers=self.staff.headers,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def rendition(self, media_id: int) -> bytes:
        async with self.db.session(write=False) as session:
            media = await session.get(Media, media_id)
            assert media is not None
        data = await self.db.storage.get(f"{media.key}/large.jpg")
        assert data is not None
        return data

    async def request(self, person: Person, month: str = "2026-09", internal: bool = False) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/communities/{self.b}/record-books",
            json={"month": month, "internal": internal},
            headers=person.headers,
        )

    async def requested(self, month: str = "2026-09", internal: bool = False) -> dict[str, Any]:
        response = await self.request(self.staff, month, internal)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    async def download(self, person: Person, book_id: int) -> httpx.Response:
        return await self.client.get(f"/api/v1/record-books/{book_id}/download", headers=person.headers)

    async def archive(self, book_id: int) -> zipfile.ZipFile:
        response = await self.download(self.staff, book_id)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        return zipfile.ZipFile(io.BytesIO(response.content))


@pytest.fixture
async def w(client, app) -> World:
    return await World().build(client, app)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def folders(archive: zipfile.ZipFile) -> list[str]:
    return sorted({name.split("/")[0] for name in archive.namelist() if "/" in name})


# -- the book ------------------------------------------------------------------------------------


async def test_a_month_book_is_made_by_the_worker_and_staff_are_told(client, app, w):
    asked = await w.requested()
    assert asked["state"] == "pending" and asked["month"] == "2026-09" and asked["internal"] is False
    assert asked["requested_by"] == {"id": w.staff.user_id, "name": "社工小王"}
    assert asked["download_url"] is None and asked["file_name"] == "台账-B社区-2026-09.zip"
    assert asked["requested_at"] == "2026-10-02T10:00:00+08:00"
    early = await w.download(w.staff, asked["id"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "record_book_not_ready"
    # asked again while it is being made: the same book, no second job
    again = await w.requested()
    assert again["id"] == asked["id"]

    await drain(app)
    ready = await client.get(f"/api/v1/record-books/{asked['id']}", headers=w.staff.headers)
    assert ready.status_code == 200, ready.text
    book_ = ready.json()
    assert book_["state"] == "ready" and book_["error"] is None
    assert book_["ready_at"] == "2026-10-02T10:00:00+08:00"
    assert book_["download_url"] == f"/api/v1/record-books/{asked['id']}/download"

    # the requester and every member of staff hear of it, with where to download it; residents do not
    for person in (w.staff, w.lead):
        inbox = (await client.get("/api/v1/me/inbox", headers=person.headers)).json()["items"]
        (entry,) = [e for e in inbox if e["kind"] == "record_book.ready"]
        assert entry["title"] == "2026-09的台账已生成"
        assert f"/console/c/{w.b}/record-books" in entry["body"] and "供评估查阅" in entry["body"]
        assert entry["page"] == f"pages/staff/record-books?id={asked['id']}"
    chen_inbox = (await client.get("/api/v1/me/inbox", headers=w.chen.headers)).json()["items"]
    assert not [e for e in chen_inbox if e["kind"].startswith("record_book")]

    response = await w.download(w.staff, asked["id"])
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"record-book-{asked['id']}.zip\"; filename*=UTF-8''"
        + quote("台账-B社区-2026-09.zip", safe="")
    )
    assert int(book_["size"]) == len(response.content)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    # only the activities held in September, in start order: not the cancelled one, not the one
    # nobody came to, not August's
    assert folders(archive) == ["01-0905-亲子绘本会", "02-0912-长者智能手机课"]
    names = set(archive.namelist())
    for folder in ("01-0905-亲子绘本会/", "02-0912-长者智能手机课/"):
        assert {folder + "签到表.pdf", folder + "活动总结.pdf"} <= names
    assert {"指标-2026-09.xlsx", "说明.txt"} <= names
    # texts and PDFs compressed, photos stored as they are
    assert archive.getinfo("01-0905-亲子绘本会/签到表.pdf").compress_type == zipfile.ZIP_DEFLATED
    assert archive.getinfo("说明.txt").compress_type == zipfile.ZIP_DEFLATED

    # the sign-in sheet: who came, when (local time), masked phones, a child without one, the
    # walk-ins, then blank numbered rows for signatures
    sheet = pdf_text(archive.read("01-0905-亲子绘本会/签到表.pdf"))
    for name in ("陈先生", "陈小雨", "周阿姨", "刘奶奶", "王奶奶"):
        assert name in sheet, name
    assert "138****1234" in sheet  # chen's own WeChat number
    assert "139****4321" in sheet  # 刘奶奶's household's contact phone
    assert "13812341234" not in sheet and "13987654321" not in sheet
    assert "09:50" in sheet and "10:02" in sheet and "10:10" in sheet
    assert "3栋2单元501" in sheet
    child_line = next(line for line in sheet.splitlines() if "陈小雨" in line)
    assert "****" not in child_line  # a child's row carries no phone
    tokens = set(sheet.split())
    assert {str(n) for n in range(1, 5 + 10 + 1)} <= tokens  # five attendees, then ten blank rows
    other = pdf_text(archive.read("02-0912-长者智能手机课/签到表.pdf"))
    assert "陈先生" in other and "周阿姨" not in other and "王奶奶" not in other

    # the summaries: as written, or marked not written
    summary = pdf_text(archive.read("01-0905-亲子绘本会/活动总结.pdf"))
    for text in ("背景", "双职工家庭", "目标", "培养亲子阅读习惯", "反思", "更多画具"):
        assert text in summary, text
    empty = pdf_text(archive.read("02-0912-长者智能手机课/活动总结.pdf"))
    assert "未填写" in empty and "背景" in empty

    # the photos: the visible post's, never the child-flagged one's, nor the hidden one's
    photos = sorted(n for n in names if n.startswith("01-0905-亲子绘本会/照片/"))
    assert photos == ["01-0905-亲子绘本会/照片/01.jpg"]
    assert archive.read(photos[0]) == await w.rendition(w.group_photo)
    assert archive.getinfo(photos[0]).compress_type == zipfile.ZIP_STORED
    assert not [n for n in names if n.startswith("02-0912-长者智能手机课/照片/")]

    # the indicator sheet
    workbook = load_workbook(io.BytesIO(archive.read("指标-2026-09.xlsx")))
    assert (workbook.sheetnames[0], workbook.sheetnames[-1]) == ("总表", "指标口径")
    overview = {row[0]: row[1] for row in workbook["总表"].iter_rows(values_only=True)}
    assert (overview["活动场次"], overview["服务人次"]) == (2, 6)  # the two folders, their six check-ins
    # the readme: what is inside, when, by whom, for whom
    readme = archive.read("说明.txt").decode("utf-8-sig")
    assert "B社区 2026-09 台账" in readme
    assert "生成时间：2026年10月2日 10:00" in readme and "申请人：社工小王" in readme
    assert "供评估查阅" in readme and "本月举办的活动：2 场" in readme
    assert "签到人次：6" in readme and "照片：1 张" in readme and "未收入的儿童照片：1 张" in readme


async def test_the_internal_archive_keeps_the_childrens_photos(client, app, w):
    public = await w.requested()
    internal = await w.requested(internal=True)
    assert internal["id"] != public["id"] and internal["internal"] is True
    await drain(app)
    kept = await w.archive(internal["id"])
    photos = sorted(n for n in kept.namelist() if n.startswith("01-0905-亲子绘本会/照片/"))
    assert [kept.read(n) for n in photos] == [await w.rendition(w.group_photo), await w.rendition(w.child_photo)]
    readme = kept.read("说明.txt").decode("utf-8-sig")
    assert "内部存档" in readme and "照片：2 张" in readme and "未收入" not in readme
    left = await w.archive(public["id"])
    assert [n for n in left.namelist() if "/照片/" in n] == ["01-0905-亲子绘本会/照片/01.jpg"]
    assert left.read("01-0905-亲子绘本会/照片/01.jpg") != await w.rendition(w.child_photo)
    listing = await client.get(f"/api/v1/communities/{w.b}/record-books", headers=w.staff.headers)
    assert listing.status_code == 200
    assert [b["id"] for b in listing.json()["items"]] == [internal["id"], public["id"]]  # newest first
    assert [b["state"] for b in listing.json()["items"]] == ["ready", "ready"]


async def test_a_book_is_made_once_however_often_its_job_runs(client, app, w):
    asked = await w.requested()
    await drain(app)
    async with w.db.session() as session:
        first = await session.get(RecordBook, asked["id"])
        assert first is not None and first.state == "ready"
        stamp = (first.ready_at, first.size, first.storage_key)
        # the same job again (a worker that lost its lease, a replay)
        await enqueue(session, record_book.JOB, {"record_book_id": asked["id"]})
        await session.commit()
    clock.advance(timedelta(minutes=5))
    assert await drain(app) >= 1
    async with w.db.session(write=False) as session:
        again = await session.get(RecordBook, asked["id"])
        assert again is not None and (again.ready_at, again.size, again.storage_key) == stamp
        told = (await session.execute(select(Notification).where(Notification.kind == "record_book.ready"))).scalars()
        assert sorted(n.user_id for n in told) == sorted([w.staff.user_id, w.lead.user_id])


async def test_a_failure_marks_the_book_failed_and_tells_staff(client, app, w, monkeypatch):
    async def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise RuntimeError("the indicator sheet broke")

    monkeypatch.setattr(exports, "month_workbook", broken)
    asked = await w.requested()
    for _ in range(record_book.BUILD_ATTEMPTS):
        await drain(app)
        state = (await client.get(f"/api/v1/record-books/{asked['id']}", headers=w.staff.headers)).json()
        clock.advance(timedelta(hours=1))  # past the retry's backoff
    assert state["state"] == "failed" and state["state_label"] == "生成失败"
    assert state["error"] == record_book.BUILD_FAILED and state["download_url"] is None
    inbox = (await client.get("/api/v1/me/inbox", headers=w.staff.headers)).json()["items"]
    (entry,) = [e for e in inbox if e["kind"] == "record_book.failed"]
    assert "2026-09" in entry["title"] and "重新申请" in entry["body"]
    refused = await w.download(w.staff, asked["id"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "record_book_not_ready"
    # asked again once the sheet works: a new book, made
    monkeypatch.undo()
    retry = await w.requested()
    assert retry["id"] != asked["id"]
    await drain(app)
    assert (await w.download(w.staff, retry["id"])).status_code == 200


# -- who may, which months ----------------------------------------------------------------------


async def test_months_and_who_may(client, app, w):
    for month in ("2026-11", "2026-07", "2025-09"):  # the future; before the community was set up
        refused = await w.request(w.staff, month)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "month_invalid", month
        assert refused.json()["error"]["details"]["earliest"] == "2026-08"
        assert refused.json()["error"]["details"]["latest"] == "2026-10"
    malformed = await w.request(w.staff, "2026-13")
    assert malformed.status_code == 422
    assert (await w.request(w.staff, "2026-08")).status_code == 202  # the month it was set up
    current = await w.request(w.staff, "2026-10")  # the month so far
    assert current.status_code == 202
    asked = await w.requested()
    await drain(app)

    # a resident of the community: 403; staff of another community: 404, as if there were none
    resident = await w.request(w.chen)
    assert resident.status_code == 403 and resident.json()["error"]["code"] == "staff_only"
    stranger = await w.request(w.other_staff)
    assert stranger.status_code == 404
    for path in (
        f"/api/v1/communities/{w.b}/record-books",
        f"/api/v1/record-books/{asked['id']}",
        f"/api/v1/record-books/{asked['id']}/download",
    ):
        assert (await client.get(path, headers=w.chen.headers)).status_code == 403, path
        assert (await client.get(path, headers=w.other_staff.headers)).status_code == 404, path
        assert (await client.get(path, headers=w.lead.headers)).status_code == 200, path
    missing = await client.get("/api/v1/record-books/999999", headers=w.staff.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "record_book_not_found"
    # the October book so far holds nothing held yet, and says so
    october = await w.archive(current.json()["id"])
    assert folders(october) == [] and "本月没有举办的活动" in october.read("说明.txt").decode("utf-8-sig")


# -- the console ----------------------------------------------------------------------------------


async def test_the_console_page_requests_lists_and_downloads(client, app, w, console):
    browser = await console(w.staff)
    base = f"/console/c/{w.b}/record-books"
    page = await browser.get(base)
    assert page.status_code == 200, page.text
    assert ">台账</a>" in page.text and 'aria-current="page"' in page.text
    assert "内部存档（含儿童照片）" in page.text and "不能交给评估方" in page.text
    assert '<option value="2026-09" selected>' in page.text  # last month by default
    assert "还没有生成过台账" in page.text

    asked = await browser.post(base, data={"month": "2026-09", "internal": "1"})
    assert asked.status_code == 204 and asked.headers["HX-Redirect"] == base
    page = await browser.get(base)
    assert "生成中" in page.text and "内部存档（含儿童照片）" in page.text
    assert f'hx-get="{base}/list"' in page.text  # polls while a book is being made
    async with w.db.session(write=False) as session:
        (book_,) = (await session.execute(select(RecordBook))).scalars()
        assert book_.internal and book_.month == "2026-09" and book_.requested_by == w.staff.user_id

    await drain(app)
    fragment = await browser.get(f"{base}/list", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "已生成" in fragment.text and "hx-trigger" not in fragment.text  # done: no more polling
    link = re.search(rf'href="({base}/{book_.id}/download)"', fragment.text)
    assert link is not None and "台账-B社区-2026-09.zip" in fragment.text
    download = await browser.get(link.group(1))
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert "filename*=UTF-8''" in download.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert len([n for n in archive.namelist() if "/照片/" in n]) == 2  # internal: the child's photo too

    wrong = await browser.post(base, data={"month": "2027-01"})
    assert wrong.status_code == 422 and "本月为止" in wrong.text
    # a book of another community is not found through this one's page
    other = await console(w.other_staff)
    assert (await other.get(f"/console/c/{w.c}/record-books/{book_.id}/download")).status_code == 404
