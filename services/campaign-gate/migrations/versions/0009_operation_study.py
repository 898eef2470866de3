"""operation study: gate_consents.partners, partner_categories, email_tracking (issue 19)

The per-operation study itself lives in the campaign's spec (JSON) and its sign-offs in the review: no
campaign column changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Consents projected before 0009 name no partner and cover no e-mail tracking until consent's events
    # are replayed (a projection rebuild reads them from consent.events).
    with op.batch_alter_table("gate_consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partners", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("partner_categories", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("email_tracking", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("gate_consents", schema=None) as batch_op:
        batch_op.drop_column("email_tracking")
        batch_op.drop_column("partner_categories")
        batch_op.drop_column("partners")
