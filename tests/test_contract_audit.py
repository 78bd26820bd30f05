"""The audit of the API's answers to bad input, across every domain (the contract's second half):

1. every string a request carries fits the column it ends up in, after normalisation;
2. errors people can read: one code per situation, no English, times of windows in local time;
3. odd input that used to be a 500 (months, token claims, spreadsheet cells, cursors).

Everything goes through the HTTP API, on SQLite and on PostgreSQL (which, unlike SQLite, enforces
varchar lengths); every answer also passes the contract hook (tests/contract.py)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jose import jwt

from api import clock
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import Person, community, grant, join, login, platform_admin
from tests.test_library import xlsx

# Tuesday 1 December 2026, 10:00 in Shanghai
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, jwt_ttl_seconds=30 * 24 * 3600)


class World:
    root: Person
    b: int
    staff: Person
    chen: Person
    stranger: Person


@pytest.fixture
async def w(client, db) -> World:
    clock.freeze(NOW)
    world = World()
    world.root = await platform_admin(client, db)
    world.b = (await community(client, world.root))["id"]
    world.staff = await login(client, "staff")
    await grant(client, world.root, world.b, world.staff, "staff")
    world.chen = await login(client, "chen")
    await join(client, world.chen, world.b)
    world.stranger = await login(client, "stranger")
    return world


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- 1. every string fits its column -------------------------------------------------------------

# Where each text a request carries ends up: "table.column" (String(n), Text or JSON), or why nothing
# keeps it. A new field fails the test until it is entered here, and an entry whose limit exceeds its
# column fails too. Values normalised on the way (address parts, ISBNs, links) are checked after
# normalising by the services; the write-endpoint tests below send the worst cases.
COLUMNS: dict[str, str] = {
    "ActivityCancel.reason": "activities.cancel_reason",
    "ActivityCreate.title": "activities.title",
    "ActivityCreate.description": "activities.description",
    "ActivityCreate.location": "activities.location",
    "ActivityCreate.cover_url": "activities.cover_url",
    "ActivityUpdate.title": "activities.title",
    "ActivityUpdate.description": "activities.description",
    "ActivityUpdate.location": "activities.location",
    "ActivityUpdate.cover_url": "activities.cover_url",
    "AnnouncementCreate.title": "announcements.title",
    "AnnouncementCreate.body": "announcements.body",
    "AnnouncementUpdate.title": "announcement_revisions.title",
    "AnnouncementUpdate.body": "announcement_revisions.body",
    "BookCreate.title": "books.title",
    "BookCreate.isbn": "-normalised to ISBN-13 (books.isbn) or refused",
    "BookCreate.author": "books.author",
    "BookCreate.publisher": "books.publisher",
    "BookCreate.cover_url": "books.cover_url",
    "BookCreate.tags": "books.tags",
    "BookCreate.summary": "books.summary",
    "BookUpdate.title": "books.title",
    "BookUpdate.isbn": "-normalised to ISBN-13 (books.isbn) or refused",
    "BookUpdate.author": "books.author",
    "BookUpdate.publisher": "books.publisher",
    "BookUpdate.cover_url": "books.cover_url",
    "BookUpdate.tags": "books.tags",
    "BookUpdate.summary": "books.summary",
    "BorrowRequest.barcode": "-looked up in book_copies.barcode",
    "BuildingsAudience.buildings": "announcement_buildings.building_key",  # normalised: checked again
    "ClosureCreate.reason": "space_closures.reason",
    "CommentCreate.body": "comments.body",
    "CommunityCreate.name": "communities.name",
    "CommunityCreate.city": "communities.city",
    "CommunityCreate.district": "communities.district",
    "CommunityCreate.address": "communities.address",
    "CommunityCreate.timezone": "communities.timezone",
    "CommunityUpdate.name": "communities.name",
    "CommunityUpdate.city": "communities.city",
    "CommunityUpdate.district": "communities.district",
    "CommunityUpdate.address": "communities.address",
    "CommunityUpdate.quiet_hours": "communities.quiet_hours",
    "ConcernAccept.note": "concern_events.body",
    "ConcernAccept.responsible": "concerns.responsible",
    "ConcernCommentCreate.body": "concern_comments.body",
    "ConcernCreate.body": "concerns.body",
    "ConcernCreate.building": "concerns.building",  # looked up among the community's buildings, kept as written there
    "ConcernCreate.place": "concerns.place",
    "ConcernCreate.title": "concerns.title",
    "ConcernDecline.reason": "concerns.reason",
    "ConcernDecline.referred_to": "concerns.referred_to",
    "ConcernLevelChange.note": "concern_events.body",
    "ConcernLevelChange.responsible": "concerns.responsible",
    "ConcernModeration.note": "concern_events.body",
    "ConcernResolve.result": "concerns.result",
    "ConcernUpdateCreate.body": "concern_events.body",
    "ConcernVerdictCreate.word": "concern_verdicts.word",
    "CopyCreate.barcode": "book_copies.barcode",
    "CopyCreate.location": "book_copies.location",
    "CopyCreate.condition": "book_copies.condition",
    "CopyCreate.donated_by": "book_copies.donated_by",
    "CopyUpdate.location": "book_copies.location",
    "CopyUpdate.condition": "book_copies.condition",
    "Decision.note": "posts.moderation_note",
    "HideRequest.note": "posts.moderation_note",
    "HouseholdCreate.building": "households.building",  # normalised into households.address_key: checked again
    "HouseholdCreate.unit": "households.unit",
    "HouseholdCreate.room": "households.room",
    "HouseholdCreate.contact_phone": "-normalised, then sealed (households.contact_phone_sealed)",
    "JoinRequest.display_name": "members.display_name",
    "JoinRequest.building": "households.building",  # normalised into households.address_key: checked again
    "JoinRequest.unit": "households.unit",
    "JoinRequest.room": "households.room",
    "LoginRequest.code": "-exchanged with WeChat for an openid, checked to fit users.openid",
    "MeUpdate.display_name": "users.display_name",
    "MeUpdate.avatar_url": "users.avatar_url",
    "MemberCreate.display_name": "members.display_name",
    "MemberUpdate.display_name": "members.display_name",
    "OnSite.code": "-compared with the code of the minute",
    "PhoneBindRequest.code": "-exchanged with WeChat for a number, checked to fit users.phone_number",
    "PolicyWrite.organiser": "volunteer_policies.organiser",
    "PostCreate.body": "posts.body",
    "ProjectCreate.name": "service_projects.name",
    "ProjectCreate.funder": "service_projects.funder",
    "ProjectCreate.description": "service_projects.description",
    "ProjectUpdate.name": "service_projects.name",
    "ProjectUpdate.funder": "service_projects.funder",
    "ProjectUpdate.description": "service_projects.description",
    "ProfileWrite.skills": "volunteer_profiles.skills",
    "ProfileWrite.availability": "volunteer_profiles.availability",
    "ProfileWrite.real_name": "volunteer_profiles.real_name",
    "ProfileWrite.id_number": "-checked as an ID number, then sealed (volunteer_profiles.id_number_sealed)",
    "RecordBookRequest.month": "record_books.month",
    "RecordAmend.service": "service_records.service",
    "RecordCorrection.service": "service_records.service",
    "RecordCorrection.reason": "service_records.correction_reason",
    "RecordReview.note": "service_records.review_note",
    "ReportCreate.reason": "post_reports.reason",
    "ReportSubmissionCreate.period": "report_submissions.period",
    "ReportSubmissionCreate.note": "report_submissions.note",
    "ReturnRequest.barcode": "-looked up in book_copies.barcode",
    "RuleCreate.role": "shift_rules.role",
    "RuleCreate.place": "shift_rules.place",
    "ScanCheckin.token": "-a booking id and its MAC, verified",
    "SelfCheckin.code": "-compared with the code of the minute",
    "SeriesCreate.title": "series.title",
    "SeriesCreate.description": "series.description",
    "ShiftCancel.reason": "notifications.body",
    "ShiftCreate.role": "shifts.role",
    "ShiftCreate.place": "shifts.place",
    "SpaceCreate.name": "spaces.name",
    "SpaceCreate.address": "spaces.address",
    "SpaceCreate.opening_hours": "spaces.opening_hours",
    "SpaceUpdate.name": "spaces.name",
    "SpaceUpdate.address": "spaces.address",
    "SpaceUpdate.opening_hours": "spaces.opening_hours",
    "StoryCreate.title": "volunteer_stories.title",
    "StoryCreate.body": "volunteer_stories.body",
    "SubscriptionReport.root": "subscription_credits.template_id",  # its validator: 1–128 characters
    "SummaryWrite.background": "activity_summaries.background",
    "SummaryWrite.goals": "activity_summaries.goals",
    "SummaryWrite.process": "activity_summaries.process",
    "SummaryWrite.participation": "activity_summaries.participation",
    "SummaryWrite.outcomes": "activity_summaries.outcomes",
    "SummaryWrite.reflection": "activity_summaries.reflection",
    "TargetWrite.indicator": "project_targets.indicator",
    "TargetWrite.period": "project_targets.period",
    "TeamCreate.name": "teams.name",
    "TeamCreate.description": "teams.description",
    "WalkIn.guests": "booking_attendees.guest_name",
    # -- meetings
    "AgendaItemCreate.title": "agenda_items.title",
    "AgendaItemCreate.body": "agenda_items.body",
    "AgendaItemUpdate.title": "agenda_items.title",
    "AgendaItemUpdate.body": "agenda_items.body",
    "AgendaItemUpdate.minutes": "agenda_items.minutes",
    "DecisionCreate.text": "decisions.text",
    "DecisionUpdate.text": "decisions.text",
    "FollowUpCreate.title": "follow_ups.title",
    "FollowUpCreate.owner_name": "follow_ups.owner_name",
    "FollowUpUpdate.note": "follow_ups.note",
    "FollowUpUpdate.owner_name": "follow_ups.owner_name",
    "MeetingCancel.reason": "meetings.cancel_reason",
    "MeetingCreate.title": "meetings.title",
    "MeetingCreate.place": "meetings.place",
    "MeetingCreate.summary": "meetings.summary",
    "MeetingSelfCheckin.code": "-compared with the code of the minute",
    "MeetingUpdate.title": "meetings.title",
    "MeetingUpdate.place": "meetings.place",
    "MeetingUpdate.summary": "meetings.summary",
    "ParticipantCreate.name": "meeting_participants.name",
    "ParticipantCreate.role": "meeting_participants.role",
    # -- surveys
    "SurveyCreate.title": "surveys.title",
    "SurveyCreate.intro": "surveys.intro",
    "SurveyUpdate.title": "surveys.title",
    "SurveyUpdate.intro": "surveys.intro",
    "SurveyCancel.reason": "surveys.cancel_reason",
    "SurveyQuestionIn.text": "surveys.questions",
    "SurveyQuestionIn.options": "surveys.questions",
    "SurveyAnswerIn.other": "survey_responses.answers",
    "SurveyAnswerIn.text": "survey_responses.answers",
    "PaperSurveyEntry.building": "survey_responses.building",  # looked up among the community's buildings
    # -- polls
    "BallotAnswer.text": "poll_ballots.answers",
    "PollCancel.reason": "polls.cancel_reason",
    "PollCandidate.name": "polls.questions",
    "PollCandidate.statement": "polls.questions",
    "PollCreate.body": "polls.body",
    "PollCreate.title": "polls.title",
    "PollEntryCreate.proxy_name": "poll_participations.proxy_name",
    "PollObjectionAnswer.answer": "poll_objections.answer",  # and, cut to 200, the struck or added elector's note
    "PollObjectionCreate.body": "poll_objections.body",
    "PollOption.label": "polls.questions",
    "PollOption.statement": "polls.questions",
    "PollQuestion.text": "polls.questions",
    "PollUpdate.body": "polls.body",
    "PollUpdate.title": "polls.title",
    # votes: results (issue 16)
    "TieResolve.note": "polls.tie_resolution",
}
# values a service copies into another table: (what the request gives, where it is copied)
COPIED = [
    ("activities.title", "service_records.activity_name"),
    ("activities.title", "notifications.title"),  # cut to the column by notify()
    ("shifts.role", "service_records.service"),
    ("shift_rules.role", "shifts.role"),
    ("shift_rules.place", "shifts.place"),
    ("shifts.place", "service_records.place"),
    ("volunteer_policies.organiser", "service_records.organiser"),
    ("communities.name", "service_records.organiser"),  # the organiser by default
    ("service_records.organiser", "certificates.organiser"),  # several joined: Text
    ("volunteer_profiles.real_name", "certificates.name"),
    ("users.display_name", "certificates.name"),
    ("users.display_name", "service_records.person_in_charge"),
    ("members.display_name", "users.display_name"),  # a newcomer's name becomes their account's
    ("announcements.title", "announcement_revisions.title"),
    ("volunteer_stories.title", "notifications.title"),  # cut to the column by notify()
    ("concerns.title", "agenda_items.title"),  # a level-3 concern on a meeting's agenda
    ("concerns.title", "notifications.title"),  # cut to the column by notify()
    ("households.building", "concerns.building"),  # the community's way of writing the building
    # -- surveys
    ("households.building", "survey_responses.building"),  # the respondent's building, for breakdowns
    ("surveys.title", "notifications.title"),  # cut to the column by notify()
]


def _column(name: str) -> Any:
    from api.db.base import Base

    table, column = name.split(".")
    return Base.metadata.tables[table].c[column]


def _longest(column: Any) -> int | None:
    """The most characters a column keeps (None: no limit: Text, JSON)."""
    from sqlalchemy import JSON, String, Text

    kind = column.type
    if isinstance(kind, JSON | Text) or (isinstance(kind, String) and kind.length is None):
        return None
    assert isinstance(kind, String), f"{column} keeps no text"
    return int(kind.length)


def _text_limits(model: type[Any]) -> dict[str, int | str | None]:
    """The model's text fields and how long each may be (None: no limit; "json": a structure)."""
    if model.__name__ == "SubscriptionReport":  # a dict of WeChat's answer: its validator bounds the ids
        from api.schemas.notifications import TEMPLATE_ID_MAX

        return {"root": TEMPLATE_ID_MAX}
    schema = model.model_json_schema()
    found: dict[str, int | str | None] = {}
    for name, prop in schema.get("properties", {}).items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        if len(options) != 1 or "$ref" in options[0]:
            continue  # another model (walked on its own) or a union of them
        kind = options[0]
        if kind.get("type") == "array" and kind.get("items", {}).get("type") == "string":
            kind = kind["items"]  # a list of texts: each item is kept
        if kind.get("type") == "object":
            found[name] = "json"
        elif kind.get("type") == "string" and "enum" not in kind and "const" not in kind:
            if kind.get("format") in ("date", "date-time", "time", "partial-time"):
                continue
            found[name] = kind.get("maxLength")
    return found


def test_every_request_text_has_a_column_it_fits():
    from tests.test_api_contract import _every_request_model

    problems, seen = [], set()
    for model in _every_request_model():
        for field, limit in _text_limits(model).items():
            key = f"{model.__name__}.{field}"
            seen.add(key)
            where = COLUMNS.get(key)
            if where is None:
                problems.append(f"{key}: where does it end up? (add it to COLUMNS)")
                continue
            if limit is None:
                problems.append(f"{key}: no max_length")
                continue
            if where.startswith("-") or limit == "json":
                continue
            longest = _longest(_column(where))
            if longest is not None and isinstance(limit, int) and limit > longest:
                problems.append(f"{key}: max_length {limit} > {where} ({longest})")
    problems += [f"{key}: no such request field any more" for key in COLUMNS.keys() - seen]
    for source, target in COPIED:
        into, longest = _longest(_column(target)), _longest(_column(source))
        if into is not None and (longest is None or longest > into) and not target.startswith("notifications."):
            problems.append(f"{source} ({longest}) copied into {target} ({into})")
    assert not problems, "\n".join(problems)


def test_the_keys_and_links_a_service_checks_fit_their_columns():
    from api.schemas.common import URL_MAX
    from api.services.households import PART_MAX
    from api.services.idempotency import MAX_KEY_LENGTH

    assert _longest(_column("idempotency_keys.key")) == MAX_KEY_LENGTH  # the header, as sent
    assert _longest(_column("announcement_buildings.building_key")) == PART_MAX
    assert (_longest(_column("households.address_key")) or 0) >= 3 * PART_MAX + 2  # three parts and two "|"
    assert _longest(_column("books.isbn")) == 13
    for link in ("users.avatar_url", "activities.cover_url", "books.cover_url"):
        assert _longest(_column(link)) == URL_MAX
    assert _longest(_column("users.openid")) == _longest(_column("users.unionid")) == 64
    assert _longest(_column("users.phone_number")) == 20


X = "邻"  # three bytes in UTF-8; PostgreSQL counts characters, as the limits do
WIDE = "㍿"  # one character that NFKC makes four ("株式会社")
ID_NUMBER = "11010519491231002X"


def ok(response: httpx.Response) -> Any:
    assert 200 <= response.status_code < 300, f"{response.request.url.path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def url(length: int) -> str:
    base = "https://img.example.org/"
    return base + "a" * (length - len(base))


async def test_every_write_endpoint_keeps_the_longest_values_it_accepts(client, w):
    """The longest text each field takes, in Chinese characters, written for real: PostgreSQL
    refuses a value longer than its varchar, so a limit past its column is a 500 there."""
    root, staff, h = w.root, w.staff, w.staff.headers
    c = ok(
        await client.post(
            "/api/v1/communities",
            json={"name": X * 64, "city": X * 32, "district": X * 32, "address": X * 256},
            headers=root.headers,
        )
    )["id"]
    ok(
        await client.patch(
            f"/api/v1/communities/{c}", json={"name": "里" * 64, "address": "里" * 256}, headers=root.headers
        )
    )
    await grant(client, root, c, staff, "staff")
    space = ok(
        await client.post(
            f"/api/v1/communities/{c}/spaces", json={"name": X * 64, "address": X * 256}, headers=root.headers
        )
    )
    ok(await client.patch(f"/api/v1/spaces/{space['id']}", json={"name": "里" * 64}, headers=root.headers))
    ok(
        await client.post(
            f"/api/v1/spaces/{space['id']}/closures",
            json={"starts_on": "2026-12-28", "ends_on": "2026-12-28", "reason": X * 128},
            headers=h,
        )
    )
    li = await login(client, "li")
    joined = ok(
        await client.post(
            f"/api/v1/communities/{c}/join",
            json={"display_name": X * 32, "building": X * 32, "unit": X * 32, "room": X * 32},
            headers=li.headers,
        )
    )
    home = joined["household"]["id"]
    child = ok(
        await client.post(
            f"/api/v1/households/{home}/members",
            json={"display_name": X * 32, "kind": "child", "birth_year": 2018, "guardian_consent": True},
            headers=li.headers,
        )
    )
    ok(await client.patch(f"/api/v1/members/{child['id']}", json={"display_name": "里" * 32}, headers=li.headers))
    ok(await client.patch("/api/v1/me", json={"display_name": X * 32, "avatar_url": url(512)}, headers=li.headers))

    # activities: one under way (walk-ins), one to cancel, a series
    soon = {"start_at": "2026-12-01T10:10:00+08:00", "end_at": "2026-12-01T12:00:00+08:00"}
    a = ok(
        await client.post(
            f"/api/v1/communities/{c}/activities",
            json={
                "title": X * 64,
                "description": X * 5000,
                "category": "culture",
                "location": X * 128,
                "capacity": 20,
                "cover_url": url(512),
                **soon,
            },
            headers=h,
        )
    )
    ok(
        await client.patch(
            f"/api/v1/activities/{a['id']}", json={"title": "里" * 64, "location": "里" * 128}, headers=h
        )
    )
    ok(await client.post(f"/api/v1/activities/{a['id']}/publish", headers=h))
    ok(await client.post(f"/api/v1/activities/{a['id']}/walkins", json={"guests": [X * 32] * 10}, headers=h))
    ok(await client.post(f"/api/v1/activities/{a['id']}/cancel", json={"reason": X * 200}, headers=h))
    ok(await client.post(f"/api/v1/communities/{c}/series", json={"title": X * 64, "description": X * 2000}, headers=h))

    # the library
    book = ok(
        await client.post(
            f"/api/v1/communities/{c}/books",
            json={
                "title": X * 128,
                "author": X * 128,
                "publisher": X * 128,
                "isbn": "ISBN ９７８-７-５３３２-５９５６-３",
                "tags": [X * 16] * 10,
                "summary": X * 5000,
                "cover_url": url(512),
            },
            headers=h,
        )
    )
    assert book["isbn"] == "9787533259563"
    ok(await client.patch(f"/api/v1/books/{book['id']}", json={"title": "里" * 128, "author": "里" * 128}, headers=h))
    copy = ok(
        await client.post(
            f"/api/v1/books/{book['id']}/copies",
            json={"barcode": X * 64, "location": X * 64, "condition": X * 64, "donated_by": X * 64},
            headers=h,
        )
    )
    ok(
        await client.patch(
            f"/api/v1/copies/{copy['id']}", json={"location": "里" * 64, "condition": "里" * 64}, headers=h
        )
    )
    ok(
        await client.post(
            f"/api/v1/communities/{c}/loans", json={"barcode": X * 64, "member_id": child["id"]}, headers=h
        )
    )
    ok(await client.post(f"/api/v1/communities/{c}/returns", json={"barcode": X * 64}, headers=h))

    # volunteers: a team, a profile, the organiser, shifts and a rule, a story
    ok(await client.post(f"/api/v1/communities/{c}/teams", json={"name": X * 64, "description": X * 2000}, headers=h))
    ok(
        await client.put(
            f"/api/v1/communities/{c}/volunteer-profile",
            json={"skills": [X * 16] * 20, "real_name": X * 32, "id_number": ID_NUMBER},
            headers=li.headers,
        )
    )
    ok(await client.put(f"/api/v1/communities/{c}/volunteer-policy", json={"organiser": X * 128}, headers=h))
    shifts = [
        ok(
            await client.post(
                f"/api/v1/communities/{c}/shifts",
                json={
                    "role": X * 64,
                    "place": X * 128,
                    "start_at": f"2026-12-0{day}T14:00:00+08:00",
                    "end_at": f"2026-12-0{day}T16:00:00+08:00",
                    "needed": 2,
                },
                headers=h,
            )
        )
        for day in (1, 2, 3)
    ]
    ok(await client.post(f"/api/v1/shifts/{shifts[2]['id']}/cancel", json={"reason": X * 100}, headers=h))
    ok(
        await client.post(
            f"/api/v1/communities/{c}/shift-rules",
            json={
                "role": X * 64,
                "place": X * 128,
                "weekdays": ["wed"],
                "starts": "09:00",
                "ends": "11:00",
                "needed": 1,
                "active_from": "2026-12-02",
            },
            headers=h,
        )
    )
    for index, shift in enumerate(shifts[:2]):
        ok(await client.post(f"/api/v1/shifts/{shift['id']}/signups", json={}, headers=li.headers))
        clock.freeze(datetime(2026, 12, 1 + index, 6, 0, tzinfo=UTC))  # 14:00 that day
        on_site = {"volunteer_id": li.user_id}
        ok(await client.post(f"/api/v1/shifts/{shift['id']}/checkin", json=on_site, headers=h))
        clock.freeze(datetime(2026, 12, 1 + index, 8, 0, tzinfo=UTC))
        ok(await client.post(f"/api/v1/shifts/{shift['id']}/checkout", json=on_site, headers=h))
        # the second record names another organiser: the certificate names both, 257 characters
        ok(await client.put(f"/api/v1/communities/{c}/volunteer-policy", json={"organiser": "里" * 128}, headers=h))
    pending = ok(await client.get(f"/api/v1/communities/{c}/service-records/pending", headers=h))
    first, second = sorted(r["id"] for r in pending)
    ok(await client.patch(f"/api/v1/service-records/{first}", json={"service": "里" * 128}, headers=h))
    for record in (first, second):
        ok(await client.post(f"/api/v1/service-records/{record}/review", json={"approve": True}, headers=h))
    fixed = ok(
        await client.post(
            f"/api/v1/service-records/{first}/corrections", json={"service": X * 128, "reason": X * 256}, headers=h
        )
    )
    ok(
        await client.post(
            f"/api/v1/service-records/{fixed['id']}/review", json={"approve": False, "note": X * 256}, headers=h
        )
    )
    certificate = await client.get(
        "/api/v1/me/service-records/certificate", params={"community_id": c}, headers=li.headers
    )
    assert certificate.status_code == 200 and certificate.headers["content-type"] == "application/pdf"
    ok(
        await client.post(
            f"/api/v1/communities/{c}/stories",
            json={"user_id": li.user_id, "title": X * 64, "body": X * 10000},
            headers=h,
        )
    )

    # the feed: a post of staff's (seen at once), a comment, a report, a note hiding it
    post = ok(await client.post(f"/api/v1/communities/{c}/posts", json={"body": X * 2000}, headers=h))
    ok(await client.post(f"/api/v1/communities/{c}/posts", json={"body": X * 2000}, headers=li.headers))
    ok(await client.post(f"/api/v1/posts/{post['id']}/comments", json={"body": X * 500}, headers=li.headers))
    assert (
        await client.post(f"/api/v1/posts/{post['id']}/report", json={"reason": X * 200}, headers=li.headers)
    ).status_code == 204
    ok(await client.post(f"/api/v1/posts/{post['id']}/hide", json={"note": X * 200}, headers=h))

    # announcements to a hundred buildings of the longest names; subscriptions
    notice = ok(
        await client.post(
            f"/api/v1/communities/{c}/announcements",
            json={
                "title": X * 64,
                "body": X * 5000,
                "audience": {"kind": "buildings", "buildings": [f"{n:03d}" + X * 29 for n in range(100)]},
            },
            headers=h,
        )
    )
    ok(
        await client.patch(
            f"/api/v1/announcements/{notice['id']}", json={"title": "里" * 64, "body": "里" * 5000}, headers=h
        )
    )
    ok(
        await client.post(
            "/api/v1/me/subscriptions",
            json={"errMsg": "requestSubscribeMessage:ok", X * 128: "accept"},
            headers=li.headers,
        )
    )

    # a submitted month with the longest note
    ok(
        await client.post(
            f"/api/v1/communities/{c}/report-submissions", json={"period": "2026-11", "note": X * 256}, headers=h
        )
    )


async def test_text_that_normalising_lengthens_past_its_column_is_refused_by_field(client, w):
    for field in ("building", "unit", "room"):
        address = {"building": "1栋", "unit": "1单元", "room": "101", field: WIDE * 32}  # 128 once normalised
        person = await login(client, f"wide-{field}")
        refused = await client.post(
            f"/api/v1/communities/{w.b}/join", json={"display_name": "宽", **address}, headers=person.headers
        )
        assert error(refused) == (422, "validation_error")
        (detail,) = refused.json()["error"]["details"]
        assert (detail["field"], detail["type"]) == (field, "string_too_long")
        assert refused.json()["error"]["message"] == f"{field}：按标准写法展开后超过 32 个字，请换一种写法"
        me = await client.get("/api/v1/me", headers=person.headers)
        assert me.json()["memberships"] == []  # nothing was written
    fits = await client.post(
        f"/api/v1/communities/{w.b}/join",
        json={"display_name": "宽", "building": WIDE * 8, "unit": "", "room": "1"},  # exactly 32 once normalised
        headers=(await login(client, "wide-fits")).headers,
    )
    assert fits.status_code == 201
    notice = await client.post(
        f"/api/v1/communities/{w.b}/announcements",
        json={
            "title": "停水通知",
            "body": "明天停水",
            "audience": {"kind": "buildings", "buildings": ["3栋", WIDE * 9]},
        },
        headers=w.staff.headers,
    )
    assert error(notice) == (422, "validation_error")
    assert notice.json()["error"]["details"][0]["field"] == "audience.buildings[1]"
    listed = await client.get(f"/api/v1/communities/{w.b}/announcements", headers=w.staff.headers)
    assert listed.json()["items"] == []


async def test_what_wechat_answers_is_kept_only_if_it_fits(client, w):
    # the fake makes the openid from the code, as long as WeChat's could be (users.openid: 64)
    long_login = await client.post("/api/v1/auth/wechat/login", json={"code": "dev:" + X * 61})
    assert error(long_login) == (401, "wechat_code_invalid")
    assert (await client.post("/api/v1/auth/wechat/login", json={"code": "dev:" + X * 60})).status_code == 200
    for code in ("dev-phone:" + "1" * 21, "dev-phone:１３８００１３８０００"):
        phone = await client.post("/api/v1/auth/wechat/phone", json={"code": code}, headers=w.chen.headers)
        assert error(phone) == (400, "phone_code_invalid")
    bound = await client.post(
        "/api/v1/auth/wechat/phone", json={"code": "dev-phone:13800138000"}, headers=w.chen.headers
    )
    assert bound.status_code == 200 and bound.json()["phone"] == "138****8000"


# -- 2. errors people can read --------------------------------------------------------------------


def _local(value: str) -> str:
    """An answer's ISO time as messages write it: 12月5日 13:30."""
    at = datetime.fromisoformat(value)
    return f"{at.month}月{at.day}日 {at:%H:%M}"


async def test_refusals_about_an_activitys_time_say_when_in_local_time(client, w):
    from tests.factories import activity, book

    draft = await activity(
        client, w.staff, w.b, publish=False, start_at="2026-12-01T08:00:00+08:00", end_at="2026-12-01T09:30:00+08:00"
    )
    late = await client.post(f"/api/v1/activities/{draft['id']}/publish", headers=w.staff.headers)
    assert error(late) == (409, "activity_finished")
    assert late.json()["error"]["message"] == "活动已于 12月1日 09:30 结束，不能再发布"
    assert late.json()["error"]["details"]["ended_at"] == "2026-12-01T09:30:00+08:00"
    walk_in = await client.post(
        f"/api/v1/activities/{draft['id']}/walkins", json={"guests": ["王阿姨"]}, headers=w.staff.headers
    )
    assert error(walk_in) == (409, "activity_not_published")
    a = await activity(client, w.staff, w.b, start_at="2026-12-01T11:00:00+08:00", end_at="2026-12-01T12:00:00+08:00")
    mine = (await book(client, w.chen, a["id"])).json()
    clock.freeze(datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # 12:30, after the end
    too_late = await client.post(f"/api/v1/bookings/{mine['id']}/cancel", headers=w.chen.headers)
    assert error(too_late) == (409, "activity_finished")
    assert too_late.json()["error"]["message"] == "活动已于 12月1日 12:00 结束"
    for path in (f"/api/v1/activities/{a['id']}", f"/api/v1/activities/{a['id']}/cancel"):
        method = client.patch if path.endswith(str(a["id"])) else client.post
        refused = await method(path, json={"title": "改名"} if method == client.patch else {}, headers=w.staff.headers)
        assert error(refused) == (409, "activity_finished")
        assert refused.json()["error"]["message"].startswith("活动已于 12月1日 12:00 结束，不能再")
    gone = await activity(
        client, w.staff, w.b, start_at="2026-12-01T13:00:00+08:00", end_at="2026-12-01T14:00:00+08:00"
    )
    await client.post(f"/api/v1/activities/{gone['id']}/cancel", json={}, headers=w.staff.headers)
    code = await client.get(f"/api/v1/activities/{gone['id']}/onsite-code", headers=w.staff.headers)
    assert error(code) == (409, "activity_cancelled")


async def test_shift_refusals_each_have_their_code_and_their_time(client, w):
    def shift(day: int, **fields: Any) -> dict[str, Any]:
        return {
            "role": "开馆值班",
            "start_at": f"2026-12-0{day}T14:00:00+08:00",
            "end_at": f"2026-12-0{day}T18:00:00+08:00",
            "needed": 2,
            **fields,
        }

    by_resident = await client.post(f"/api/v1/communities/{w.b}/shifts", json=shift(2), headers=w.chen.headers)
    assert error(by_resident) == (403, "team_leader_only")  # staff or the team's leaders: not "staff_only"
    past = await client.post(
        f"/api/v1/communities/{w.b}/shifts",
        json=shift(1, start_at="2026-12-01T09:00:00+08:00", end_at="2026-12-01T10:00:00+08:00"),
        headers=w.staff.headers,
    )
    assert error(past) == (422, "shift_in_past")
    assert past.json()["error"]["message"] == "岗位的开始时间（12月1日 09:00）已经过去了"
    today = (await client.post(f"/api/v1/communities/{w.b}/shifts", json=shift(1), headers=w.staff.headers)).json()
    tomorrow = (await client.post(f"/api/v1/communities/{w.b}/shifts", json=shift(2), headers=w.staff.headers)).json()
    assigned = await client.post(
        f"/api/v1/shifts/{today['id']}/signups", json={"volunteer_id": w.chen.user_id}, headers=w.staff.headers
    )
    assert error(assigned) == (422, "assign_needs_team")
    await client.post(f"/api/v1/shifts/{tomorrow['id']}/cancel", json={"reason": "停电"}, headers=w.staff.headers)
    called_off = await client.post(f"/api/v1/shifts/{tomorrow['id']}/signups", json={}, headers=w.chen.headers)
    assert error(called_off) == (409, "shift_cancelled")
    mine = (await client.post(f"/api/v1/shifts/{today['id']}/signups", json={}, headers=w.chen.headers)).json()
    clock.freeze(datetime(2026, 12, 1, 6, 30, tzinfo=UTC))  # 14:30: under way
    started = await client.post(f"/api/v1/shifts/{today['id']}/signups", json={}, headers=w.staff.headers)
    assert error(started) == (409, "shift_started")
    assert started.json()["error"]["message"] == "岗位已于 12月1日 14:00 开始，不能再报名"
    assert started.json()["error"]["details"]["start_at"] == "2026-12-01T14:00:00+08:00"
    call_off = await client.post(f"/api/v1/shifts/{today['id']}/cancel", json={}, headers=w.staff.headers)
    assert error(call_off) == (409, "shift_started")
    assert call_off.json()["error"]["message"] == "岗位已于 12月1日 14:00 开始，不能取消"
    signup = mine["my_signup"]["id"]
    withdraw = await client.post(f"/api/v1/signups/{signup}/withdraw", headers=w.chen.headers)
    assert error(withdraw) == (409, "withdraw_deadline_passed")
    # made at 10:00, less than 12 hours ahead: the deadline was its making
    assert withdraw.json()["error"]["message"] == "退出报名已于 12月1日 10:00 截止，请联系队长或社工"
    on_site = {"volunteer_id": w.chen.user_id}
    clock.freeze(datetime(2026, 12, 1, 10, 30, tzinfo=UTC))  # 18:30: the shift is over
    missed = await client.post(f"/api/v1/shifts/{today['id']}/checkin", json=on_site, headers=w.staff.headers)
    assert error(missed) == (409, "checkin_closed")
    assert missed.json()["error"]["message"] == "签到已于 12月1日 18:00 结束"
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # 17:00
    assert (
        await client.post(f"/api/v1/shifts/{today['id']}/checkin", json=on_site, headers=w.staff.headers)
    ).status_code == 200
    clock.freeze(datetime(2026, 12, 1, 12, 1, tzinfo=UTC))  # 20:01: past the two hours after the end
    gone = await client.post(f"/api/v1/shifts/{today['id']}/checkout", json=on_site, headers=w.staff.headers)
    assert error(gone) == (409, "checkout_closed")
    assert gone.json()["error"]["message"].startswith("签退已于 12月1日 20:00 截止")
    assert gone.json()["error"]["details"]["closes_at"] == "2026-12-01T20:00:00+08:00"


async def test_specific_codes_where_one_code_served_two_situations(client, w, db):
    me = (await client.get("/api/v1/me", headers=w.chen.headers)).json()["memberships"][0]
    child = await client.post(
        f"/api/v1/households/{me['household_id']}/members",
        json={"display_name": "小雨", "kind": "child", "birth_year": 2018, "guardian_consent": True},
        headers=w.chen.headers,
    )
    kid = child.json()["id"]
    cleared = await client.patch(f"/api/v1/members/{kid}", json={"birth_year": None}, headers=w.chen.headers)
    assert error(cleared) == (422, "child_birth_year_required")
    grown = await client.patch(f"/api/v1/members/{kid}", json={"birth_year": 1990}, headers=w.chen.headers)
    assert error(grown) == (422, "child_age_invalid")  # as when a child is added
    named = await client.patch(f"/api/v1/members/{kid}", json={"display_name": None}, headers=w.chen.headers)
    assert named.status_code == 200 and named.json()["display_name"] == "小雨"  # null leaves it, not a 409

    first = await client.post(f"/api/v1/communities/{w.b}/spaces", json={"name": "活动室"}, headers=w.root.headers)
    await client.post(f"/api/v1/communities/{w.b}/spaces", json={"name": "阅读角"}, headers=w.root.headers)
    renamed = await client.patch(
        f"/api/v1/spaces/{first.json()['id']}", json={"name": "阅读角"}, headers=w.root.headers
    )
    assert error(renamed) == (409, "space_exists")  # not the generic "conflict"
    for body in ({"name": None}, {"address": None}):
        kept = await client.patch(f"/api/v1/spaces/{first.json()['id']}", json=body, headers=w.root.headers)
        assert kept.status_code == 200 and kept.json()["name"] == "活动室"
    for body in ({"name": None}, {"city": None}):
        kept = await client.patch(f"/api/v1/communities/{w.b}", json=body, headers=w.root.headers)
        assert kept.status_code == 200 and kept.json()["name"] == "B社区"  # not "community_exists"

    team = await client.post(f"/api/v1/communities/{w.b}/teams", json={"name": "公益志愿队"}, headers=w.staff.headers)
    role = await client.put(
        f"/api/v1/teams/{team.json()['id']}/members/{w.chen.user_id}/role",
        json={"role": "leader"},
        headers=w.staff.headers,
    )
    assert error(role) == (404, "team_member_not_found")


async def test_the_catalogue_import_says_which_limit_a_file_passed(client, w):
    path = f"/api/v1/communities/{w.b}/books/import"
    too_big = await client.post(f"{path}?format=csv", content=b"x" * (5 * 1024 * 1024 + 1), headers=w.staff.headers)
    assert error(too_big) == (413, "import_too_large")
    assert too_big.json()["error"]["details"] == {"max_bytes": 5 * 1024 * 1024}
    unknown = await client.post(path, content=b"x", headers={**w.staff.headers, "content-type": "image/png"})
    assert error(unknown) == (415, "import_type_unsupported")
    rows = ("书名\n" + "好书\n" * 20_001).encode()
    assert error(await client.post(f"{path}?format=csv", content=rows, headers=w.staff.headers)) == (
        422,
        "import_too_many_rows",
    )
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b"x" * (51 * 1024 * 1024))
    unzipped = await client.post(f"{path}?format=xlsx", content=bomb.getvalue(), headers=w.staff.headers)
    assert error(unzipped) == (422, "import_unzipped_too_large")
    long_cell = ('书名,作者\n好书,张三\n"' + "长" * 200_000 + '",李四\n').encode()  # past csv's field limit
    broken = await client.post(f"{path}?format=csv", content=long_cell, headers=w.staff.headers)
    assert error(broken) == (422, "import_unreadable")
    assert broken.json()["error"]["message"].startswith("CSV 文件第3行附近格式有误")
    assert broken.json()["error"]["details"] == {"line": 3}  # where, not csv's English words


# -- 3. odd input that was a 500 ------------------------------------------------------------------


async def test_a_month_outside_2000_to_2100_is_a_422_after_the_permission_check(client, w):
    path = f"/api/v1/communities/{w.b}/loop"
    for month in ("0000-01", "1999-12", "2101-01", "9999-12"):
        refused = await client.get(path, params={"month": month}, headers=w.staff.headers)
        assert error(refused) == (422, "validation_error"), month
        (detail,) = refused.json()["error"]["details"]
        assert (detail["field"], detail["in"], detail["type"]) == ("month", "query", "date_out_of_range")
        assert refused.json()["error"]["message"] == "month：应在 2000-01 到 2100-12 之间"
        # whoever may not see the figures learns nothing of the month either
        assert error(await client.get(path, params={"month": month}, headers=w.chen.headers)) == (403, "staff_only")
        assert error(await client.get(path, params={"month": month}, headers=w.stranger.headers)) == (403, "staff_only")
        assert error(await client.get(f"/api/v1/communities/999/loop?month={month}", headers=w.staff.headers)) == (
            404,
            "community_not_found",
        )
    for month in ("2000-01", "2100-12"):
        kept = await client.get(path, params={"month": month}, headers=w.staff.headers)
        assert kept.status_code == 200 and kept.json()["month"] == month


def _token(person: Person, **claims: Any) -> dict[str, str]:
    payload = {**jwt.get_unverified_claims(person.token), **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_SECRET, algorithm='HS256')}"}


def _raw_token(header: Any, payload: Any) -> dict[str, str]:
    """A token signed with the right secret whose parts are whatever JSON (or not) we like."""
    import hashlib
    import hmac

    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing = f"{part(header)}.{part(payload)}"
    mac = hmac.new(TEST_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return {"Authorization": f"Bearer {signing}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"}


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", str(2**64)),  # past a 64-bit id
        ("sub", str(2**63)),
        ("sub", " 2"),  # int() would take these
        ("sub", "0002"),
        ("sub", "２"),
        ("sub", "-2"),
        ("exp", "4102444800"),  # a string, a float, a list, a boolean
        ("exp", 4102444800.5),
        ("exp", 1.5e20),
        ("exp", [4102444800]),
        ("exp", True),
        ("exp", 10**30),
        ("exp", -1),
        ("iat", "x"),
        ("iat", 10**30),
        ("iat", 1.0),
        ("iat", False),
        ("iat", None),
        ("iat", {"s": 1}),
        ("jti", 5),  # the other claims python-jose checks itself
        ("nbf", "x"),
        ("nbf", 10**30),
        ("iss", None),
    ],
)
async def test_a_token_with_odd_claims_is_token_invalid(client, w, claim, value):
    refused = await client.get("/api/v1/me", headers=_token(w.chen, **{claim: value}))
    assert error(refused) == (401, "token_invalid")
    assert refused.headers["www-authenticate"] == "Bearer"


async def test_tokens_odd_in_their_shape_are_token_invalid_too(client, w):
    claims = jwt.get_unverified_claims(w.chen.token)
    header = {"alg": "HS256", "typ": "JWT"}
    for odd in (
        _raw_token(header, [claims]),  # a payload that is not an object
        _raw_token(["HS256"], claims),  # nor a header
        _raw_token(header, b"\xff\xfe not json"),
        _raw_token(header, {**claims, "exp": float("inf")}),  # Python's JSON writes Infinity
        _raw_token(header, {**claims, "exp": float("nan")}),
        {"Authorization": "Bearer " + "a." * 3000},
    ):
        assert error(await client.get("/api/v1/me", headers=odd)) == (401, "token_invalid")
    fine = await client.get("/api/v1/me", headers=_raw_token(header, claims))
    assert fine.status_code == 200 and fine.json()["id"] == w.chen.user_id


def _sheet(mangle: Any, rows: list[list[Any]] | None = None) -> bytes:
    return xlsx(rows or [["书名", "作者"], ["小王子", "圣埃克苏佩里"], ["猜猜我有多爱你", "麦克布雷尼"]], mangle=mangle)


async def test_an_xlsx_cell_pointing_at_no_shared_string_is_a_422_naming_its_row(client, w):
    path = f"/api/v1/communities/{w.b}/books/import?format=xlsx"
    # shared strings 0–5: 书名, 作者, 小王子, 圣埃克苏佩里, 猜猜我有多爱你, 麦克布雷尼; row 3's title is no. 4
    for index in ("-1", "6", "99999999999999999999", "x", "1.5", "٤"):
        data = _sheet(lambda sheet, i=index: sheet.replace('<c r="A3" t="s"><v>4</v>', f'<c r="A3" t="s"><v>{i}</v>'))
        refused = await client.post(path, content=data, headers=w.staff.headers)
        assert error(refused) == (422, "import_unreadable"), index
        assert refused.json()["error"]["details"][0] == {
            "row": 3,
            "column": "A",
            "message": "无法读取（文件可能已损坏），请另存为 CSV 再试",
        }
        assert refused.json()["error"]["message"].startswith("第3行 A 列")
    books = await client.get(f"/api/v1/communities/{w.b}/books", headers=w.staff.headers)
    assert books.json()["items"] == []  # nothing of the file was imported


async def test_other_xlsx_cell_kinds_are_read_or_refused_by_row(client, w):
    path = f"/api/v1/communities/{w.b}/books/import?format=xlsx"
    formula_error = _sheet(lambda s: s.replace('<c r="B3" t="s"><v>5</v></c>', '<c r="B3" t="e"><v>#N/A</v></c>'))
    refused = await client.post(path, content=formula_error, headers=w.staff.headers)
    assert error(refused) == (422, "import_invalid")
    assert refused.json()["error"]["details"][0]["row"] == 3 and refused.json()["error"]["details"][0]["column"] == "B"
    assert "#N/A" in refused.json()["error"]["message"]
    # an inline string with runs, a formula's text and a boolean are text; the phonetic guide is not
    kinds = _sheet(
        lambda s: s.replace(
            '<c r="A2" t="s"><v>2</v></c>',
            '<c r="A2" t="inlineStr"><is><r><t>小</t></r><r><t>王子</t></r>'
            '<rPh sb="0" eb="1"><t>xiao</t></rPh></is></c>',
        ).replace('<c r="B3" t="s"><v>5</v></c>', '<c r="B3" t="str"><f>A1</f><v>麦克布雷尼</v></c>')
    )
    made = await client.post(path, content=kinds, headers=w.staff.headers)
    assert made.status_code == 200, made.text
    books = (await client.get(f"/api/v1/communities/{w.b}/books", headers=w.staff.headers)).json()["items"]
    assert sorted((b["title"], b["author"]) for b in books) == [
        ("小王子", "圣埃克苏佩里"),
        ("猜猜我有多爱你", "麦克布雷尼"),
    ]


async def test_damaged_or_locked_xlsx_files_are_unreadable_not_a_crash(client, w):
    path = f"/api/v1/communities/{w.b}/books/import?format=xlsx"
    good = _sheet(None)

    def patched(name: str, flags: int = 0, method: int | None = None) -> bytes:
        """The workbook with one member's flags or compression method changed, in its local header
        and in the central directory alike."""
        raw = bytearray(good)
        with zipfile.ZipFile(io.BytesIO(good)) as z:
            local = z.getinfo(name).header_offset
        central = raw.index(b"PK\x01\x02", raw.index(name.encode(), local + 30))
        while raw[central + 46 : central + 46 + len(name)] != name.encode():
            central = raw.index(b"PK\x01\x02", central + 4)
        for flag_at in (local + 6, central + 8):
            raw[flag_at] |= flags
            if method is not None:
                raw[flag_at + 2 : flag_at + 4] = method.to_bytes(2, "little")
        return bytes(raw)

    deflated = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as z:
        for item in source.infolist():
            z.writestr(item.filename, source.read(item.filename))
    broken = bytearray(deflated.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(broken))) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode())
    broken[start : start + 8] = b"\xff" * 8  # damaged deflate data
    out_of_order = _sheet(lambda s: s.replace('<row r="3">', '<row r="1">'))
    for data in (
        patched("xl/worksheets/sheet1.xml", flags=0x01),  # "encrypted": zipfile asks for a password
        patched("xl/worksheets/sheet1.xml", method=99),  # AES, which zipfile cannot undo
        bytes(broken),
        out_of_order,
    ):
        assert error(await client.post(path, content=data, headers=w.staff.headers)) == (422, "import_unreadable")


async def test_a_cursor_holding_a_time_no_datetime_can_hold_is_an_invalid_cursor(client, w):
    def cursor(*values: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")

    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59+00:00"):
        for path in (f"/api/v1/communities/{w.b}/activities", f"/api/v1/communities/{w.b}/feed", "/api/v1/me/bookings"):
            refused = await client.get(path, params={"cursor": cursor(at, 1)}, headers=w.chen.headers)
            assert error(refused) == (400, "invalid_cursor"), (path, at)
        notices = await client.get(
            f"/api/v1/communities/{w.b}/announcements", params={"cursor": cursor(0, at, 1)}, headers=w.chen.headers
        )
        assert error(notices) == (400, "invalid_cursor")
