"""partner consent: consents.partners, consents.partner_categories, consents.email_tracking

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing consents name no partner and cover no e-mail tracking: a campaign that transfers data or
    # tracks its e-mails cannot rely on them (RENT-01, TRACK-01) until the person is asked again.
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partners", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("partner_categories", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("email_tracking", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("email_tracking")
        batch_op.drop_column("partner_categories")
        batch_op.drop_column("partners")
