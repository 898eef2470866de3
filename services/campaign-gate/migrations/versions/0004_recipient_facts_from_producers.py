"""recipient facts from their producers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Every fact the rules read now comes from the service where someone enters it: the contact's
purchases by seller, contracts, call attempts, phone-collection information, time zone, profession,
age thresholds and Stop Pub sticker (contacts); how each consent was given and whether it covers
calls outside the legal slots, the purposes a notice covers, the Art. 14(5)(b) claim of a register
entry (consent). A rebuild from the topics fills them for existing rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_FALSE = sa.false()


def upgrade() -> None:
    with op.batch_alter_table("gate_contacts", schema=None) as batch_op:
        batch_op.drop_column("minor_until")
        batch_op.drop_column("purchased_categories")
        batch_op.add_column(sa.Column("retention_rule", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("majority_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("digital_consent_age_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("profession", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("purchases", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("contracts", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("call_attempts", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("last_call_refusal_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("phone_collection", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stop_pub", sa.Boolean(), nullable=False, server_default=_FALSE))
    with op.batch_alter_table("gate_consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_at", _TS, nullable=True))
        for name in (
            "proof_present",
            "positive_act",
            "withdrawal_info_given",
            "explicit",
            "out_of_hours_calls",
        ):
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=_FALSE))
        batch_op.add_column(sa.Column("given_by", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("gate_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose_ids", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("gate_purposes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("art14_exemption_claimed", sa.Boolean(), nullable=False, server_default=_FALSE)
        )


def downgrade() -> None:
    with op.batch_alter_table("gate_purposes", schema=None) as batch_op:
        batch_op.drop_column("art14_exemption_claimed")
    with op.batch_alter_table("gate_notices", schema=None) as batch_op:
        batch_op.drop_column("purpose_ids")
    with op.batch_alter_table("gate_consents", schema=None) as batch_op:
        for name in (
            "given_by",
            "out_of_hours_calls",
            "explicit",
            "withdrawal_info_given",
            "positive_act",
            "proof_present",
            "requested_at",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("gate_contacts", schema=None) as batch_op:
        for name in (
            "stop_pub",
            "phone_collection",
            "last_call_refusal_at",
            "call_attempts",
            "contracts",
            "purchases",
            "profession",
            "timezone",
            "digital_consent_age_on",
            "majority_on",
            "retention_rule",
        ):
            batch_op.drop_column(name)
        batch_op.add_column(sa.Column("purchased_categories", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("minor_until", sa.Date(), nullable=True))
