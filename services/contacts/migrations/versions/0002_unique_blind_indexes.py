"""unique partial indexes on the blind indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_email_index")
        batch_op.drop_index("ix_contacts_phone_index")
        batch_op.create_index(
            "uq_contacts_email_index",
            ["email_index"],
            unique=True,
            postgresql_where=sa.text("email_index IS NOT NULL"),
            sqlite_where=sa.text("email_index IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_contacts_phone_index",
            ["phone_index"],
            unique=True,
            postgresql_where=sa.text("phone_index IS NOT NULL"),
            sqlite_where=sa.text("phone_index IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("uq_contacts_phone_index")
        batch_op.drop_index("uq_contacts_email_index")
        batch_op.create_index("ix_contacts_email_index", ["email_index"], unique=False)
        batch_op.create_index("ix_contacts_phone_index", ["phone_index"], unique=False)
