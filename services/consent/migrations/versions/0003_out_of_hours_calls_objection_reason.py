"""consents.out_of_hours_calls, objections.reason

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing consents claim no consent to out-of-hours calls; existing objections were the person's own.
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("out_of_hours_calls", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason", sa.String(length=32), server_default="objection", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_column("reason")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("out_of_hours_calls")
