"""receipt chunks: a check's receipts committed to the audit log as Merkle chunks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

A check's receipts are cut into chunks (at most 5,000, in check order); the audit log receives one
event per chunk with the root of the RFC 9162 tree over its receipts. `check_chunks` keeps each
chunk's root, size, first index, time and event id; each receipt keeps its chunk and its index in
it, so the gate can rebuild the chunk's tree and prove the receipt. Receipts stored before this
revision have no chunk (their audit entry is their own `recipient_checked` event).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_chunks",
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("check_id", "chunk", name=op.f("pk_check_chunks")),
        sa.UniqueConstraint("event_id", name=op.f("uq_check_chunks_event_id")),
    )
    with op.batch_alter_table("check_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chunk", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("chunk_index", sa.Integer(), nullable=True))
        batch_op.create_index("ix_check_receipts_check_id_chunk", ["check_id", "chunk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("check_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_check_receipts_check_id_chunk")
        batch_op.drop_column("chunk_index")
        batch_op.drop_column("chunk")
    op.drop_table("check_chunks")
