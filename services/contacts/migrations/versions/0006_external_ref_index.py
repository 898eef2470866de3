"""the caller's external reference: its blind index, unique per source

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 06:00:00

The reference itself is sealed with the personal data (no column); its blind index is keyed on the
source and the reference, so the unique partial index makes it unique per source.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref_index", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_contacts_external_ref_index",
            ["external_ref_index"],
            unique=True,
            postgresql_where=sa.text("external_ref_index IS NOT NULL"),
            sqlite_where=sa.text("external_ref_index IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("uq_contacts_external_ref_index")
        batch_op.drop_column("external_ref_index")
