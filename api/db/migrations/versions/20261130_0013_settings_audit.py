"""settings audit: who changed a community's settings, when, from what to what; communities' own quiet hours

Revision ID: 0013_audit
Revises: 0012_votes
Create Date: 2026-11-30 17:47:42
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0013_audit"
down_revision: str | None = "0012_votes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_entries_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_audit_entries_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "subject_kind IN ('community', 'space', 'closure', 'role', 'activity_policy', 'loan_policy', "
            "'volunteer_policy', 'governance_policy', 'quiet_hours')",
            name=op.f("ck_audit_entries_subject_kind"),
        ),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'delete', 'grant', 'revoke')", name=op.f("ck_audit_entries_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index("ix_audit_entries_community_at", ["community_id", "at", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_entries_subject", ["community_id", "subject_kind", "subject_id", "at"], unique=False
        )

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quiet_hours", sa.String(length=11), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("quiet_hours")

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_subject")
        batch_op.drop_index("ix_audit_entries_community_at")
        batch_op.drop_index(batch_op.f("ix_audit_entries_actor_id"))

    op.drop_table("audit_entries")
