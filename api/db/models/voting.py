"""Votes and surveys (议事协商, part 2): polls and elections with a voter roll snapshot, one
participation per elector whatever the channel, secret ballots kept apart from who voted, and
needs surveys (需求调研) whose anonymous responses no one can tie to a person.

Areas are whole hundredths of a square metre (`*_centi`), so the art. 278 thresholds are exact
integer comparisons on both engines.

Secret ballots: the participation row says only that an elector voted; the ballot row carries no
participation, no timestamp and a random id (so neither its key nor its order follows the
participations), and a random receipt the voter keeps to check it. Anonymous survey responses
likewise carry a random id, no respondent and only the day; a one-way token (an HMAC of the survey
and the respondent, stored apart) refuses a second answer without saying whose the first was."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, IdType, TimestampMixin
from api.db.models._util import one_of

POLL_KINDS = ("poll", "election")
# who votes: each adult resident (member), each household, each owner's flat weighted by its area
ELECTORATES = ("resident", "household", "flat")
# majority: more than half of the votes cast; quorum: participation of at least quorum_percent of
# the roll, then the majority; art278: the Civil Code's dual thresholds (flats only; polls and
# elections — a candidate needs more than half of the participating area and flats)
POLL_RULES = ("majority", "quorum", "art278")
# draft → scheduled (published; the roll may be out for objections) → open → closed, or cancelled
POLL_STATUSES = ("draft", "scheduled", "open", "closed", "cancelled")
TIE_RULES = ("runoff", "lot")  # 决选投票, 抽签
QUESTION_KINDS = ("single", "multiple")
CHANNELS = ("app", "paper", "proxy")
OBJECTION_STATUSES = ("open", "upheld", "dismissed")
SURVEY_UNITS = ("person", "household")
SURVEY_STATUSES = ("draft", "open", "closed", "cancelled")
SURVEY_QUESTION_KINDS = ("single", "multiple", "scale", "text")
SURVEY_CHANNELS = ("app", "paper")


class Poll(IdMixin, TimestampMixin, Base):
    """A poll (表决/意向征询) or an election (选举). Questions hold their options as JSON:
    [{"label": …, "statement": …, "approves": bool}] — an election's one question has the
    candidates; an art. 278 question marks the option that approves (同意)."""

    __tablename__ = "polls"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="poll")
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")  # what is asked, the motion, the election's rules
    electorate: Mapped[str] = mapped_column(String(10))
    rule: Mapped[str] = mapped_column(String(10), default="majority")
    quorum_percent: Mapped[int | None]  # rule quorum: participation of at least this share of the roll
    special_majority: Mapped[bool] = mapped_column(default=False)  # art278: 3/4 (repair funds, rebuilding, use)
    owners_assembly: Mapped[bool] = mapped_column(default=False)  # convened by the owners' assembly, else 意向征询
    secret: Mapped[bool] = mapped_column(default=False)
    seats: Mapped[int | None]  # election: how many are elected
    tie_rule: Mapped[str | None] = mapped_column(String(8))  # election: how a tie for the last seat is settled
    objection_days: Mapped[int] = mapped_column(default=0)  # the roll is published this many days before voting
    opens_at: Mapped[datetime]  # voting starts
    closes_at: Mapped[datetime]  # voting ends; results appear
    status: Mapped[str] = mapped_column(String(10), default="draft")
    published_at: Mapped[datetime | None]  # staff opened (or scheduled) it
    roll_taken_at: Mapped[datetime | None]  # the voter roll's snapshot
    roll_count: Mapped[int] = mapped_column(default=0)  # electors on the roll
    roll_weight: Mapped[int] = mapped_column(BigInteger, default=0)  # flats: their area, hundredths of ㎡
    tallied_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]  # the tally, stored at the close
    runoff_of: Mapped[int | None] = mapped_column(IdType, ForeignKey("polls.id", ondelete="SET NULL"), index=True)
    tie_resolution: Mapped[dict[str, Any] | None]  # {"elected": [...], "how": "lot", "note": …, "by": …, "at": …}
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    questions: Mapped[list[Any]] = mapped_column(JSON, default=list)

    __table_args__ = (
        one_of("kind", POLL_KINDS, "kind"),
        one_of("electorate", ELECTORATES, "electorate"),
        one_of("rule", POLL_RULES, "rule"),
        one_of("status", POLL_STATUSES, "status"),
        CheckConstraint("closes_at > opens_at", name="ordered"),
        CheckConstraint(
            "(rule = 'quorum') = (quorum_percent IS NOT NULL)"
            " AND (quorum_percent IS NULL OR quorum_percent BETWEEN 1 AND 100)",
            name="quorum",
        ),
        # art. 278 counts flats: polls, and elections such as the owners' committee's (选举业主委员会)
        CheckConstraint("rule <> 'art278' OR electorate = 'flat'", name="art278_flats"),
        # a flat's area next to each option's area total would tell who chose what
        CheckConstraint("NOT (secret AND electorate = 'flat')", name="secret_flat"),
        CheckConstraint("NOT special_majority OR (rule = 'art278' AND kind = 'poll')", name="special_majority"),
        CheckConstraint("NOT owners_assembly OR rule = 'art278'", name="owners_assembly"),
        CheckConstraint(
            "(kind = 'election' AND seats BETWEEN 1 AND 50 AND tie_rule IN ('runoff', 'lot'))"
            " OR (kind = 'poll' AND seats IS NULL AND tie_rule IS NULL)",
            name="election",
        ),
        CheckConstraint("objection_days BETWEEN 0 AND 30", name="objection_days"),
        CheckConstraint("status IN ('draft', 'cancelled') OR published_at IS NOT NULL", name="published"),
        CheckConstraint("status NOT IN ('open', 'closed') OR roll_taken_at IS NOT NULL", name="roll_taken"),
        CheckConstraint("status <> 'closed' OR (tallied_at IS NOT NULL AND result IS NOT NULL)", name="tallied"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason <> ''", name="cancelled"),
        CheckConstraint("roll_count >= 0 AND roll_weight >= 0", name="roll_sizes"),
        Index("ix_polls_community", "community_id", "status", "closes_at", "id"),
    )


class PollElector(IdMixin, Base):
    """The voter roll: one row per elector, a snapshot taken when the poll opens (households joining
    later are not on it). `elector_ref` is the member's id (residents) or the household's (households,
    flats); `weight` is 1, or a flat's area in hundredths of ㎡. Objections may strike or add a row
    while the roll is out for objections."""

    __tablename__ = "poll_electors"

    poll_id: Mapped[int] = mapped_column(IdType, ForeignKey("polls.id", ondelete="CASCADE"))
    elector_ref: Mapped[int] = mapped_column(BigInteger)
    household_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("households.id", ondelete="SET NULL"))
    member_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("members.id", ondelete="SET NULL"))
    building: Mapped[str] = mapped_column(String(32), default="")
    label: Mapped[str] = mapped_column(String(120))  # as on the roll: 3栋2单元501 (and the resident's name)
    weight: Mapped[int] = mapped_column(BigInteger, default=1)
    struck_at: Mapped[datetime | None]  # struck off after an objection (kept, with the reason)
    note: Mapped[str] = mapped_column(String(200), default="")  # why it was added or struck

    __table_args__ = (
        UniqueConstraint("poll_id", "elector_ref"),
        CheckConstraint("weight >= 1", name="weight"),
        CheckConstraint("struck_at IS NULL OR note <> ''", name="struck_reason"),
        Index("ix_poll_electors_household", "poll_id", "household_id"),
    )


class PollObjection(IdMixin, TimestampMixin, Base):
    """An objection to the published roll (异议): a resident says who is missing or wrongly on it."""

    __tablename__ = "poll_objections"

    poll_id: Mapped[int] = mapped_column(IdType, ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="open")
    answer: Mapped[str] = mapped_column(String(500), default="")
    answered_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("status", OBJECTION_STATUSES, "status"),
        CheckConstraint("status = 'open' OR (answered_at IS NOT NULL AND answer <> '')", name="answered"),
    )


class PollParticipation(IdMixin, TimestampMixin, Base):
    """That an elector took part, once, whatever the channel: the app (the member who voted), a
    paper ballot entered by staff (with its photo) or a proxy recorded by staff (with the
    authorisation). The unique (poll, elector) is the one-participation rule."""

    __tablename__ = "poll_participations"

    poll_id: Mapped[int] = mapped_column(IdType, ForeignKey("polls.id", ondelete="CASCADE"))
    elector_id: Mapped[int] = mapped_column(IdType, ForeignKey("poll_electors.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    voter_member_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("members.id", ondelete="SET NULL"))
    entered_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    proxy_name: Mapped[str] = mapped_column(String(32), default="")  # who voted by proxy (委托人)
    photo_media_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("media.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("poll_id", "elector_id"),
        one_of("channel", CHANNELS, "channel"),
        CheckConstraint("channel <> 'proxy' OR proxy_name <> ''", name="proxy_name"),
        CheckConstraint("channel = 'app' OR entered_by IS NOT NULL", name="entered_by"),
    )


class PollBallot(Base):
    """A ballot's choices: {"<question index>": {"options": [indices], "text": "…"}}.

    Open ballots name their participation and may change until the close (`changed_at`); secret
    ballots name nothing, carry the receipt, and never change. The id is random for both."""

    __tablename__ = "poll_ballots"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    poll_id: Mapped[int] = mapped_column(IdType, ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    participation_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("poll_participations.id", ondelete="CASCADE"), unique=True
    )
    receipt: Mapped[str | None] = mapped_column(String(24))
    weight: Mapped[int] = mapped_column(BigInteger, default=1)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("poll_id", "receipt"),
        CheckConstraint("(participation_id IS NULL) = (receipt IS NOT NULL)", name="secret_or_open"),
        CheckConstraint("receipt IS NULL OR changed_at IS NULL", name="secret_unchanged"),
        CheckConstraint("weight >= 1", name="weight"),
    )


class Survey(IdMixin, TimestampMixin, Base):
    """需求调研: a questionnaire. Questions as JSON: [{"text", "kind", "options": [labels],
    "allow_other", "required", "min_choices", "max_choices"}]."""

    __tablename__ = "surveys"

    community_id: Mapped[int] = mapped_column(IdType, ForeignKey("communities.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("service_projects.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(64))
    intro: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(default=True)
    unit: Mapped[str] = mapped_column(String(10), default="person")  # one response per person or per household
    status: Mapped[str] = mapped_column(String(10), default="draft")
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    questions: Mapped[list[Any]] = mapped_column(JSON, default=list)

    __table_args__ = (
        one_of("unit", SURVEY_UNITS, "unit"),
        one_of("status", SURVEY_STATUSES, "status"),
        CheckConstraint("status = 'draft' OR status = 'cancelled' OR opens_at IS NOT NULL", name="opened"),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason <> ''", name="cancelled"),
        Index("ix_surveys_community", "community_id", "status", "id"),
    )


class SurveyResponse(Base):
    """One questionnaire's answers: {"<question index>": {"options": [indices], "other": "…",
    "scale": 1–5, "text": "…"}}. Anonymous ones carry a random id, no respondent, only the day;
    named ones carry the member or household (`respondent_ref`, unique per survey)."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    survey_id: Mapped[int] = mapped_column(IdType, ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(8), default="app")
    respondent_ref: Mapped[int | None] = mapped_column(BigInteger)  # named surveys: member or household id
    household_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("households.id", ondelete="SET NULL"))
    member_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("members.id", ondelete="SET NULL"))
    building: Mapped[str] = mapped_column(String(32), default="")  # for breakdowns (hidden below 5)
    submitted_on: Mapped[date]
    entered_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        one_of("channel", SURVEY_CHANNELS, "channel"),
        UniqueConstraint("survey_id", "respondent_ref"),
        CheckConstraint("channel = 'app' OR entered_by IS NOT NULL", name="entered_by"),
    )


class SurveyToken(Base):
    """A respondent has answered: HMAC(key, survey and person or household). Nothing ties it to the
    response."""

    __tablename__ = "survey_tokens"

    survey_id: Mapped[int] = mapped_column(IdType, ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
