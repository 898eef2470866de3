"""data-subject requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 01:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_subject_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("confirmations", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("overdue_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_subject_requests")),
    )
    op.create_index(
        op.f("ix_data_subject_requests_contact_id"), "data_subject_requests", ["contact_id"], unique=False
    )
    op.create_index(
        "ix_data_subject_requests_status_due", "data_subject_requests", ["status", "due_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_data_subject_requests_status_due", table_name="data_subject_requests")
    op.drop_index(op.f("ix_data_subject_requests_contact_id"), table_name="data_subject_requests")
    op.drop_table("data_subject_requests")
