"""register entries and campaign parties: the entry facts of a purpose, a party's purposes and term gaps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:20:00

Issue 19: the gate holds each campaign to its purpose's register entry (REG-*) and checks every party a
campaign names (PAR-*). `gate_purposes.entry` keeps the register-entry facts consent publishes with a
purpose's version; `gate_parties.purpose_ids` and `gate_parties.term_gaps` keep the purposes consent
records a party as touching and its contract's TERM gaps. All are nullable: null means the events the
gate projected did not say (rebuilding the projection from the topics fills them).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gate_purposes") as batch:
        batch.add_column(sa.Column("entry", sa.JSON(), nullable=True))
    with op.batch_alter_table("gate_parties") as batch:
        batch.add_column(sa.Column("purpose_ids", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("term_gaps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gate_parties") as batch:
        batch.drop_column("term_gaps")
        batch.drop_column("purpose_ids")
    with op.batch_alter_table("gate_purposes") as batch:
        batch.drop_column("entry")
