"""All tables, imported so that Base.metadata knows them (Alembic autogenerate, tests)."""

from api.db.models.activities import (
    Activity,
    ActivityPolicy,
    Booking,
    BookingAttendee,
    BookingBlock,
    Series,
    SeriesFollow,
)
from api.db.models.communities import Community, CommunityMembership, Household, Member, Space, SpaceClosure
from api.db.models.idempotency import IdempotencyKey
from api.db.models.library import Book, BookCopy, Hold, Loan, LoanPolicy
from api.db.models.notifications import (
    Announcement,
    AnnouncementBuilding,
    AnnouncementReadMark,
    AnnouncementRevision,
    Delivery,
    DeliveryAttempt,
    Notification,
    SendSlot,
    SubscriptionCredit,
)
from api.db.models.outbox import OutboxJob
from api.db.models.users import User
from api.db.models.volunteers import (
    Certificate,
    ServiceRecord,
    Shift,
    ShiftRule,
    ShiftSignup,
    Team,
    TeamMember,
    VolunteerPolicy,
    VolunteerProfile,
    VolunteerStory,
)
from api.db.models.wechat import WechatAccessToken

__all__ = [
    "Activity",
    "ActivityPolicy",
    "Announcement",
    "AnnouncementBuilding",
    "AnnouncementReadMark",
    "AnnouncementRevision",
    "Book",
    "BookCopy",
    "Booking",
    "BookingAttendee",
    "BookingBlock",
    "Certificate",
    "Community",
    "CommunityMembership",
    "Delivery",
    "DeliveryAttempt",
    "Hold",
    "Household",
    "IdempotencyKey",
    "Loan",
    "LoanPolicy",
    "Member",
    "Notification",
    "OutboxJob",
    "SendSlot",
    "Series",
    "SeriesFollow",
    "ServiceRecord",
    "Shift",
    "ShiftRule",
    "ShiftSignup",
    "Space",
    "SpaceClosure",
    "SubscriptionCredit",
    "Team",
    "TeamMember",
    "User",
    "VolunteerPolicy",
    "VolunteerProfile",
    "VolunteerStory",
    "WechatAccessToken",
]
