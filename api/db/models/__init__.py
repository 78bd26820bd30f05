"""All tables, imported so that Base.metadata knows them (Alembic autogenerate, tests)."""

from api.db.models.communities import Community, CommunityMembership, Household, Member, Space, SpaceClosure
from api.db.models.idempotency import IdempotencyKey
from api.db.models.outbox import OutboxJob
from api.db.models.users import User
from api.db.models.wechat import WechatAccessToken

__all__ = [
    "Community",
    "CommunityMembership",
    "Household",
    "IdempotencyKey",
    "Member",
    "OutboxJob",
    "Space",
    "SpaceClosure",
    "User",
    "WechatAccessToken",
]
