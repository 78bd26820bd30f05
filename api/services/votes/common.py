"""What polls, elections and surveys share: labels, who may see a poll or survey, the poll's
phase by the clock, locks, areas, random ids, receipts and the survey's one-way token.

Who sees what: staff of the community see every poll and survey, drafts included; residents of the
community see them once published (a draft does not exist for them: 404); anyone else — another
community's staff or residents — is told there is none (404). Residents asking for staff actions
are refused (403). Results are hidden from everyone, staff included, until the close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Community, Poll, Survey, User
from api.db.session import settings_of
from api.errors import Forbidden, NotFound
from api.services.access import get_community
from api.services.governance.meetings import viewer

POLL_MISSING = ("poll_not_found", "找不到这个投票")
SURVEY_MISSING = ("survey_not_found", "找不到这个调研问卷")
STAFF_ONLY_POLLS = "只有社区工作人员可以管理投票和选举"
STAFF_ONLY_SURVEYS = "只有社区工作人员可以管理调研问卷"

KIND_LABELS = {"poll": "投票", "election": "选举"}
ELECTORATE_LABELS = {"resident": "每位成年居民", "household": "每户", "flat": "每套房（按专有部分面积）"}
ELECTOR_UNIT = {"resident": "人", "household": "户", "flat": "套"}
RULE_LABELS = {
    "majority": "过半数（所投票数）",
    "quorum": "达到参与率后过半数",
    "art278": "《民法典》第二百七十八条（面积和人数双过）",
}
POLL_STATUS_LABELS = {
    "draft": "草稿",
    "scheduled": "已发布，未开始",
    "open": "投票中",
    "closed": "已结束",
    "cancelled": "已取消",
}
TIE_RULE_LABELS = {"runoff": "决选投票", "lot": "抽签"}
CHANNEL_LABELS = {"app": "小程序", "paper": "纸质选票", "proxy": "委托投票"}
SURVEY_UNIT_LABELS = {"person": "每人一份", "household": "每户一份"}
SURVEY_STATUS_LABELS = {"draft": "草稿", "open": "进行中", "closed": "已结束", "cancelled": "已取消"}
SURVEY_QUESTION_KIND_LABELS = {"single": "单选", "multiple": "多选", "scale": "打分（1–5）", "text": "填空"}
SURVEY_CHANNEL_LABELS = {"app": "小程序", "paper": "纸质问卷"}
SMALL_GROUP = 5  # survey breakdowns of fewer respondents are not shown


def standing(poll: Poll) -> str:
    """What the poll is, said plainly on every page and export: an election; an owners' decision
    (only when convened under the owners' assembly rules, by the art. 278 thresholds); otherwise a
    consultation (意向征询) — never a decision."""
    return standing_of(poll.kind, poll.rule, poll.owners_assembly)


def standing_of(kind: str, rule: str, owners_assembly: bool) -> str:
    if kind == "election":
        return "选举"
    if owners_assembly and rule == "art278":
        return "业主大会表决"
    return "意向征询"


# -- the poll's phase by the clock ----------------------------------------------------------------


def phase(poll: Poll, now: datetime | None = None) -> str:
    """Where the poll is by the clock, whatever the worker has done yet: draft, cancelled,
    objections (the roll is out before voting starts), scheduled, voting, or closed (the close has
    passed: results may be shown)."""
    now = now or clock.now()
    if poll.status in ("draft", "cancelled"):
        return poll.status
    if poll.status == "closed" or now >= poll.closes_at:
        return "closed"
    if now >= poll.opens_at:
        return "voting"
    return "objections" if poll.roll_taken_at is not None and poll.objection_days > 0 else "scheduled"


PHASE_LABELS = {
    "draft": "草稿",
    "cancelled": "已取消",
    "objections": "名册公示中",
    "scheduled": "未开始",
    "voting": "投票中",
    "closed": "已结束",
}


def results_visible(poll: Poll, now: datetime | None = None) -> bool:
    """Results exist for nobody — staff included — before the close."""
    return phase(poll, now) == "closed"


# -- who may see a poll or a survey ---------------------------------------------------------------


async def readable_poll(session: AsyncSession, user: User, poll_id: int) -> tuple[Poll, bool]:
    """The poll if the caller may see it, and whether they are staff of its community."""
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise NotFound(*POLL_MISSING)
    staff = await viewer(session, user, poll.community_id, POLL_MISSING)
    if not staff and poll.published_at is None:  # a draft, or a draft cancelled before it was published
        raise NotFound(*POLL_MISSING)
    await get_community(session, poll.community_id)  # the answer in the community's zone
    return poll, staff


async def staff_poll(session: AsyncSession, user: User, poll_id: int) -> Poll:
    poll, staff = await readable_poll(session, user, poll_id)
    if not staff:
        raise Forbidden("staff_only", STAFF_ONLY_POLLS)
    return poll


async def community_poll(session: AsyncSession, user: User, community_id: int, poll_id: int) -> Poll:
    """For console pages whose address names the community: another community's poll is 404
    there, before anything else (as for surveys: staff of one community living in another get 404,
    not 403, for a poll of where they live asked for through their own community's address)."""
    found = await session.get(Poll, poll_id)
    if found is None or found.community_id != community_id:
        raise NotFound(*POLL_MISSING)
    return await staff_poll(session, user, poll_id)


async def lock_poll(session: AsyncSession, poll_id: int, *, share: bool = False) -> Poll:
    """The poll's row read again under a lock: FOR SHARE by each vote (many at once; they only need
    the close not to pass under them), FOR UPDATE by what changes the poll (publishing, opening,
    closing and tallying, cancelling). So the tally waits for every vote already under way, and a
    vote arriving after the tally sees the poll closed. SQLite has one writer: no lock is needed."""
    return await locked(session, Poll, poll_id, share=share, missing=POLL_MISSING)


Locked = TypeVar("Locked", Poll, Survey)


async def locked(
    session: AsyncSession, model: type[Locked], row_id: int, *, share: bool, missing: tuple[str, str]
) -> Locked:
    """A poll's or survey's row read again, FOR SHARE or FOR UPDATE on PostgreSQL (SQLite has one
    writer: no lock is needed); `missing` (404) when there is none."""
    stmt = select(model).where(model.id == row_id).execution_options(populate_existing=True)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=share)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(*missing)
    return row


async def readable_survey(session: AsyncSession, user: User, survey_id: int) -> tuple[Survey, bool]:
    survey = await session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(*SURVEY_MISSING)
    staff = await viewer(session, user, survey.community_id, SURVEY_MISSING)
    if not staff and survey.status == "draft":
        raise NotFound(*SURVEY_MISSING)
    await get_community(session, survey.community_id)
    return survey, staff


async def staff_survey(session: AsyncSession, user: User, survey_id: int) -> Survey:
    survey, staff = await readable_survey(session, user, survey_id)
    if not staff:
        raise Forbidden("staff_only", STAFF_ONLY_SURVEYS)
    return survey


async def community_survey(session: AsyncSession, user: User, community_id: int, survey_id: int) -> Survey:
    """For console pages whose address names the community: another community's survey is 404
    there, before anything else (staff of one community who live in another get 404, not 403,
    for a survey of where they live asked for through their own community's address)."""
    found = await session.get(Survey, survey_id)
    if found is None or found.community_id != community_id:
        raise NotFound(*SURVEY_MISSING)
    return await staff_survey(session, user, survey_id)


async def community_of(session: AsyncSession, community_id: int) -> Community:
    return await get_community(session, community_id)


# -- areas, ids, receipts, tokens -----------------------------------------------------------------

AREA_STEP = Decimal("0.01")
AREA_MAX = Decimal(1_000_000)  # ㎡: the column keeps at most 100,000,000 hundredths


def area_text(centi: int | None) -> str:
    """89.53 (㎡) from 8953; "" for none."""
    if centi is None:
        return ""
    return f"{Decimal(centi) / 100:.2f}"


_THOUSANDS = re.compile(r"[1-9]\d{0,2},\d{3}")


def parse_area(text: str) -> int | None:
    """Hundredths of ㎡ from "89.53", "89.5㎡", "1,200"; None when it is not a positive area with at
    most two decimals (more decimals are refused, not rounded: an area is copied, not measured).

    A comma is read only as a thousands separator: one comma followed by exactly three digits and
    nothing after them ("1,200" is 1200 ㎡). Any other comma is refused rather than guessed at —
    "89,53" may be a European 89.53 or a slip of the finger, and 1,200 read as 1.20 ㎡ would put a
    wrong area into art. 278's denominators without a word."""
    cleaned = text.strip().replace("㎡", "").replace("平方米", "").replace("平米", "").strip()
    if "," in cleaned:
        if not _THOUSANDS.fullmatch(cleaned):
            return None
        cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    # bounded before quantize(), which cannot hold "1e30" to two decimals (InvalidOperation)
    if not value.is_finite() or not 0 < value <= AREA_MAX:
        return None
    if value != value.quantize(AREA_STEP, rounding=ROUND_HALF_UP):
        return None
    centi = int(value * 100)
    return centi if 1 <= centi <= 100_000_000 else None


def random_id() -> int:
    """A random positive 62-bit id (secret ballots, anonymous responses): neither its value nor the
    index order follows the order of writing."""
    return secrets.randbelow(2**62 - 1) + 1


_RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, copied by hand


def new_receipt() -> str:
    """A ballot's receipt, e.g. K7QM-2XHD-PW9C-AR4T (80 random bits)."""
    raw = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normal_receipt(text: str) -> str:
    """A receipt as typed (lower case, spaces, no dashes) in its printed form."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def survey_token(session: AsyncSession, survey_id: int, unit: str, ref: int) -> str:
    """That a person (or household) answered a survey: an HMAC under the deployment's data key, so
    the token can be recomputed to refuse a second answer but names no one."""
    key = settings_of(session).data_key_bytes
    return hmac.new(key, f"survey:{survey_id}:{unit}:{ref}".encode(), hashlib.sha256).hexdigest()
