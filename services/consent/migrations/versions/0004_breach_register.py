"""breaches: the breach register (Art. 33(5) GDPR) with its 72-hour clock

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 05:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("breach_id", sa.String(length=64), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("breach_id", name=op.f("pk_breaches")),
    )
    with op.batch_alter_table("breaches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breaches_aware_at"), ["aware_at"], unique=False)
        batch_op.create_index("ix_breaches_status_deadline_at", ["status", "deadline_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("breaches", schema=None) as batch_op:
        batch_op.drop_index("ix_breaches_status_deadline_at")
        batch_op.drop_index(batch_op.f("ix_breaches_aware_at"))
    op.drop_table("breaches")
