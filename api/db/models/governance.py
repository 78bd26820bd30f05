"""Participation and governance (议事协商): concerns (烦心事) with their triage and timeline, the
residents' verdicts, and the meetings that act on them — agenda, attendance, minutes, decisions
and their follow-ups (四议两公开)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

CONCERN_CATEGORIES = ("parking", "sanitation", "noise", "repair", "safety", "neighbours", "children_elders", "other")
# submitted → accepted → in_progress → resolved | unresolvable | referred | duplicate → closed
CONCERN_STATUSES = (
    "submitted",
    "accepted",
    "in_progress",
    "resolved",
    "unresolvable",
    "referred",
    "duplicate",
    "closed",
)
CONCERN_OUTCOMES = ("resolved", "unresolvable", "referred", "duplicate")
# what other residents may see of a resident's words: checking (WeChat's text check is out),
# visible, review (the check was unsure: staff decide), rejected (the check refused it), hidden (staff)
VISIBILITIES = ("checking", "visible", "review", "rejected", "hidden")
VERDICT_ANSWERS = ("solved", "partly", "not_solved")
CONCERN_EVENT_KINDS = (
    "submitted",  # raised
    "accepted",  # triaged: level (and for level 1 who and by when)
    "level",  # the level, the party responsible or the due date changed
    "in_progress",
    "update",  # a public update from staff
    "note",  # a note only staff see
    "agenda",  # put on a meeting's agenda
    "decision",  # a meeting decided about it (published with the minutes)
    "resolved",
    "unresolvable",
    "referred",
    "duplicate",
    "reopened",  # a resident answered "not solved" within the window
    "closed",
    "verdict",  # a resident's verdict (the answer is public, the word only to staff)
)
MEETING_KINDS = ("five_party", "courtyard", "working_group")
MEETING_STATUSES = ("draft", "agenda_published", "held", "minutes_published", "cancelled")
PARTIES = ("community", "property", "social_worker", "self_org", "resident_rep", "owners_committee", "other")
DECISION_METHODS = ("consensus", "vote")
FOLLOW_UP_STATUSES = ("open", "in_progress", "done", "dropped")
CHECKIN_METHODS = ("self", "staff")


class GovernancePolicy(TimestampMixin, Base):
    """A community's clocks for concerns and follow-ups (defaults when it has no row)."""

    __tablename__ = "governance_policies"

    community_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    accept_working_days: Mapped[int] = mapped_column(default=2)  # accepted or turned down within
    level1_days: Mapped[int] = mapped_column(default=7)  # resolved within, from acceptance
    level2_days: Mapped[int] = mapped_column(default=30)
    level3_days: Mapped[int] = mapped_column(default=60)
    reopen_days: Mapped[int] = mapped_column(default=14)  # "not solved" reopens within, after resolution
    follow_up_reminder_days: Mapped[int] = mapped_column(default=2)  # owners reminded before the due date
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("accept_working_days BETWEEN 1 AND 30", name="accept_working_days"),
        CheckConstraint("level1_days BETWEEN 1 AND 365", name="level1_days"),
        CheckConstraint("level2_days BETWEEN 1 AND 365", name="level2_days"),
        CheckConstraint("level3_days BETWEEN 1 AND 365", name="level3_days"),
        CheckConstraint("reopen_days BETWEEN 1 AND 90", name="reopen_days"),
        CheckConstraint("follow_up_reminder_days BETWEEN 0 AND 30", name="follow_up_reminder_days"),
    )


class Concern(IdMixin, TimestampMixin, Base):
    """烦心事: a concern a resident raised, public to the community once its text passed the check.

    `accept_by` is the response clock (set when raised); `due_at` the resolution clock (set on
    acceptance from the level, or the party's due date for level 1), both to the minute.
    `responded_at` is the first answer from staff (acceptance or turning it down), `resolved_at`
    the latest resolution, `reopened_at` the latest reopening (a resident's "not solved": the
    current round's clock starts there, and a meeting's decision before it no longer counts as
    taking the concern up). `outcome` keeps how it ended once it is closed."""

    __tablename__ = "concerns"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    raised_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    building: Mapped[str] = mapped_column(String(32), default="")  # a building (楼栋) of the community, or ""
    place: Mapped[str] = mapped_column(String(64), default="")  # where exactly: 3栋东侧车棚, 小区广场
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    hide_name: Mapped[bool] = mapped_column(default=False)  # other residents see 居民; staff see who
    by_staff: Mapped[bool] = mapped_column(default=False)  # recorded by staff (at a 坝坝会, on the phone)
    visibility: Mapped[str] = mapped_column(String(10), default="checking")
    text_verdict: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    level: Mapped[int | None]
    responsible: Mapped[str] = mapped_column(String(64), default="")  # who handles it: 物业, 志愿者队, 工作小组
    accept_by: Mapped[datetime]
    due_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(12))
    result: Mapped[str] = mapped_column(Text, default="")  # the published result
    reason: Mapped[str] = mapped_column(String(500), default="")  # why it cannot be resolved
    referred_to: Mapped[str] = mapped_column(String(64), default="")
    # no ON DELETE action: a duplicate must keep its original (CHECK duplicate_of), so the original
    # cannot go alone; deleted together (the community, the tests' cleanup) both go, checked at the
    # statement's end (SET NULL would break the CHECK halfway through the statement on SQLite)
    duplicate_of: Mapped[int | None] = mapped_column(IdType, ForeignKey("concerns.id"))
    photo_count: Mapped[int] = mapped_column(default=0)
    metoo_count: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)  # also the round a verdict answers
    triaged_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    late_flagged_at: Mapped[datetime | None]  # staff were told its current clock ran out (reset with the clock)

    __table_args__ = (
        one_of("category", CONCERN_CATEGORIES, "category"),
        one_of("status", CONCERN_STATUSES, "status"),
        one_of("visibility", VISIBILITIES, "visibility"),
        CheckConstraint(
            f"outcome IS NULL OR outcome IN ({', '.join(repr(o) for o in CONCERN_OUTCOMES)})", name="outcome"
        ),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 3", name="level"),
        CheckConstraint("status NOT IN ('accepted', 'in_progress') OR level IS NOT NULL", name="triaged_level"),
        CheckConstraint(
            "(status IN ('resolved', 'unresolvable', 'referred', 'duplicate') AND outcome = status)"
            " OR (status = 'closed' AND outcome IS NOT NULL AND closed_at IS NOT NULL)"
            " OR (status IN ('submitted', 'accepted', 'in_progress') AND outcome IS NULL)",
            name="outcome_matches",
        ),
        CheckConstraint("outcome <> 'duplicate' OR duplicate_of IS NOT NULL", name="duplicate_of"),
        CheckConstraint("outcome <> 'referred' OR referred_to <> ''", name="referred_to"),
        CheckConstraint("outcome <> 'unresolvable' OR reason <> ''", name="reason"),
        CheckConstraint("outcome <> 'resolved' OR resolved_at IS NOT NULL", name="resolved_at"),
        CheckConstraint("duplicate_of IS NULL OR duplicate_of <> id", name="not_own_duplicate"),
        CheckConstraint("photo_count BETWEEN 0 AND 6", name="photo_count"),
        CheckConstraint("metoo_count >= 0 AND comment_count >= 0 AND reopen_count >= 0", name="counts"),
        Index("ix_concerns_board", "community_id", "status", "id"),
        Index("ix_concerns_similar", "community_id", "building", "category", "status"),
    )


class ConcernMedia(Base):
    __tablename__ = "concern_media"

    concern_id: Mapped[int] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(IdType, ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int]

    __table_args__ = (
        UniqueConstraint("media_id"),  # a photo belongs to one concern (and to no post: checked by the service)
        CheckConstraint("position BETWEEN 0 AND 5", name="position"),
    )


class ConcernSupporter(Base):
    """ "我也遇到了" (me too): one per person and concern."""

    __tablename__ = "concern_supporters"

    concern_id: Mapped[int] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]


class ConcernComment(IdMixin, TimestampMixin, Base):
    __tablename__ = "concern_comments"

    concern_id: Mapped[int] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(Text)
    hide_name: Mapped[bool] = mapped_column(default=False)
    by_staff: Mapped[bool] = mapped_column(default=False)
    visibility: Mapped[str] = mapped_column(String(10), default="checking")
    text_verdict: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (
        one_of("visibility", VISIBILITIES, "visibility"),
        Index("ix_concern_comments_thread", "concern_id", "id"),
    )


class ConcernEvent(IdMixin, Base):
    """The concern's timeline: every change, who made it, when. `public` events are shown to the
    community (with the actor as 社工 or the resident's name as they chose); the rest to staff."""

    __tablename__ = "concern_events"

    concern_id: Mapped[int] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    public: Mapped[bool] = mapped_column(default=True)
    body: Mapped[str] = mapped_column(Text, default="")
    # what changed: {"status": [old, new], "level": [old, new], "meeting_id": …, "decision_id": …}
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        one_of("kind", CONCERN_EVENT_KINDS, "kind"),
        Index("ix_concern_events_timeline", "concern_id", "at", "id"),
    )


class ConcernVerdict(IdMixin, Base):
    """A resident's verdict on a resolution: one per person per round (a reopened concern resolved
    again asks again)."""

    __tablename__ = "concern_verdicts"

    concern_id: Mapped[int] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    round: Mapped[int]
    answer: Mapped[str] = mapped_column(String(12))
    stars: Mapped[int]
    word: Mapped[str] = mapped_column(String(200), default="")
    raiser: Mapped[bool] = mapped_column(default=False)  # the one who raised it (else a "me too")
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("concern_id", "user_id", "round"),
        one_of("answer", VERDICT_ANSWERS, "answer"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
        CheckConstraint("round >= 0", name="round"),
    )


class Meeting(IdMixin, TimestampMixin, Base):
    """议事会: a five-party meeting (社区、物业、社工、自组织、居民代表), a courtyard meeting or a
    working group. draft → agenda_published → held → minutes_published (or cancelled)."""

    __tablename__ = "meetings"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    walkin_count: Mapped[int] = mapped_column(default=0)  # people at the meeting without the app
    summary: Mapped[str] = mapped_column(Text, default="")  # the minutes' opening (who chaired, overall)
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    agenda_published_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    minutes_published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")  # told to the participants

    __table_args__ = (
        one_of("kind", MEETING_KINDS, "kind"),
        one_of("status", MEETING_STATUSES, "status"),
        CheckConstraint("ends_at > starts_at", name="ordered"),
        CheckConstraint("walkin_count BETWEEN 0 AND 10000", name="walkin_count"),
        CheckConstraint("status <> 'minutes_published' OR minutes_published_at IS NOT NULL", name="published_at"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason <> '')", name="cancelled"
        ),
        Index("ix_meetings_community", "community_id", "starts_at", "id"),
    )


class MeetingParticipant(IdMixin, TimestampMixin, Base):
    """Who takes part, by party: a name and role, and the account when they have one (then they
    check in by scanning the meeting's on-site code, and hear of the meeting)."""

    __tablename__ = "meeting_participants"

    meeting_id: Mapped[int] = mapped_column(IdType, ForeignKey("meetings.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32), default="")  # 物业经理, 3栋楼栋长
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    checked_in_at: Mapped[datetime | None]
    checkin_method: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (
        one_of("party", PARTIES, "party"),
        CheckConstraint(
            f"checkin_method IS NULL OR checkin_method IN ({', '.join(repr(m) for m in CHECKIN_METHODS)})",
            name="checkin_method",
        ),
        CheckConstraint("(checked_in_at IS NULL) = (checkin_method IS NULL)", name="checked_in"),
        Index(
            "uq_meeting_participants_user",
            "meeting_id",
            "user_id",
            unique=True,
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index("ix_meeting_participants_meeting", "meeting_id", "id"),
    )


class AgendaItem(IdMixin, TimestampMixin, Base):
    """An item of a meeting's agenda: a level-3 concern (placed automatically) or one staff wrote;
    its minutes are written after the meeting."""

    __tablename__ = "agenda_items"

    meeting_id: Mapped[int] = mapped_column(IdType, ForeignKey("meetings.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    concern_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("concerns.id", ondelete="SET NULL"), index=True)
    minutes: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("position >= 0", name="position"),
        Index(
            "uq_agenda_items_concern",
            "meeting_id",
            "concern_id",
            unique=True,
            sqlite_where=text("concern_id IS NOT NULL"),
            postgresql_where=text("concern_id IS NOT NULL"),
        ),
        Index("ix_agenda_items_meeting", "meeting_id", "position", "id"),
    )


class Decision(IdMixin, TimestampMixin, Base):
    """What a meeting decided, and how: by consensus, or by a show of hands with the counts."""

    __tablename__ = "decisions"

    meeting_id: Mapped[int] = mapped_column(IdType, ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("agenda_items.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(10))
    votes_for: Mapped[int | None]
    votes_against: Mapped[int | None]
    votes_abstain: Mapped[int | None]
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        one_of("method", DECISION_METHODS, "method"),
        CheckConstraint(
            "(method = 'consensus' AND votes_for IS NULL AND votes_against IS NULL AND votes_abstain IS NULL)"
            " OR (method = 'vote' AND votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0)",
            name="votes",
        ),
    )


class FollowUp(IdMixin, TimestampMixin, Base):
    """A decision's follow-up: what, who (a person with an account, or a party by name), by when.
    open → in_progress → done | dropped (reason). Published with the minutes."""

    __tablename__ = "follow_ups"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(IdType, ForeignKey("decisions.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    owner_party: Mapped[str | None] = mapped_column(String(20))
    owner_name: Mapped[str] = mapped_column(String(32))  # as shown: 王经理（物业）, 绿色家园志愿队
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(12), default="open")
    note: Mapped[str] = mapped_column(String(500), default="")  # progress, or why it was dropped
    done_at: Mapped[datetime | None]
    late_flagged_at: Mapped[datetime | None]  # staff were told it ran late (once)

    __table_args__ = (
        one_of("status", FOLLOW_UP_STATUSES, "status"),
        CheckConstraint(
            f"owner_party IS NULL OR owner_party IN ({', '.join(repr(p) for p in PARTIES)})", name="owner_party"
        ),
        CheckConstraint("(status = 'done') = (done_at IS NOT NULL)", name="done_at"),
        CheckConstraint("status <> 'dropped' OR note <> ''", name="dropped_reason"),
        Index("ix_follow_ups_due", "community_id", "status", "due_on", "id"),
    )
