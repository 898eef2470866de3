"""vendor facts as consent publishes them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A party names the processor record it works under (consent's `processor_id`), so that a campaign run
through that processor is blocked when the party's contract lacks a clause its role requires. The
processors' `contract` JSON now holds consent's missing clauses and gaps as published; a rebuild from
the topics refills both.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gate_parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("processor_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_gate_parties_processor_id"), ["processor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gate_parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gate_parties_processor_id"))
        batch_op.drop_column("processor_id")
