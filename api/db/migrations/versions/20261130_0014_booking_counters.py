"""booking counters: the waitlist's length on the activity row, so a booking joining it learns its
position without counting the queue

Revision ID: 0014_booking_counters
Revises: 0013_audit
Create Date: 2026-11-30 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_booking_counters"
down_revision: str | None = "0013_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiting", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint(op.f("ck_activities_waiting"), "waiting >= 0")
    op.execute(
        "UPDATE activities SET waiting = (SELECT count(*) FROM bookings"
        " WHERE bookings.activity_id = activities.id AND bookings.status = 'waitlisted')"
    )


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_activities_waiting"), type_="check")
        batch_op.drop_column("waiting")
