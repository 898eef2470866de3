"""gate facts on contacts, interaction details, pending objection forwards

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00

Existing contacts get `Europe/Paris` as a `default` zone: their phone is sealed, so the migration
cannot derive it; the next change of phone or address (or a PATCH of `timezone`) sets it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "contacts", sa.Column("timezone", sa.String(length=64), nullable=False, server_default="Europe/Paris")
    )
    op.add_column(
        "contacts",
        sa.Column("timezone_source", sa.String(length=16), nullable=False, server_default="default"),
    )
    op.add_column("contacts", sa.Column("profession", sa.String(length=200), nullable=True))
    op.add_column("contacts", sa.Column("phone_collection", sa.JSON(), nullable=True))
    op.add_column("contacts", sa.Column("stop_pub", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("contacts", sa.Column("purchases", sa.JSON(), nullable=True))
    op.add_column("contacts", sa.Column("contracts", sa.JSON(), nullable=True))
    op.add_column("contacts", sa.Column("call_attempts", sa.JSON(), nullable=True))
    op.add_column("contacts", sa.Column("last_call_refusal_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("interactions", sa.Column("seller", sa.String(length=200), nullable=True))
    op.add_column("interactions", sa.Column("product_categories", sa.JSON(), nullable=True))
    op.add_column("interactions", sa.Column("outcome", sa.String(length=16), nullable=True))
    op.create_table(
        "objection_forwards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("blind_indexes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection_forwards")),
    )
    op.create_index(
        "ix_objection_forwards_pending", "objection_forwards", ["forwarded_at", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_objection_forwards_pending", table_name="objection_forwards")
    op.drop_table("objection_forwards")
    for column in ("outcome", "product_categories", "seller"):
        with op.batch_alter_table("interactions") as batch:
            batch.drop_column(column)
    for column in (
        "last_call_refusal_at",
        "call_attempts",
        "contracts",
        "purchases",
        "stop_pub",
        "phone_collection",
        "profession",
        "timezone_source",
        "timezone",
    ):
        with op.batch_alter_table("contacts") as batch:
            batch.drop_column(column)
