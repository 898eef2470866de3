"""restriction and objection scope: the rights work of issue 19

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:20:00

Objections: `scope` was `all_direct_marketing` or a channel's name; it becomes `all_direct_marketing`,
`channel` (with the new `channel` column) or `purpose` (with `purpose_id`). Objections projected before
keep their meaning: a channel-named scope becomes `channel` on that channel. Downgrading turns a purpose
objection into one to all direct marketing (never narrower).

Contacts: `restricted` (Art. 18 GDPR: processing restricted, no marketing use) and the data-subject
request that restricted it, cited as evidence.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CHANNELS = (
    "email",
    "sms_mms",
    "automated_call",
    "fax",
    "phone_human",
    "postal_addressed",
    "postal_unaddressed",
)


def upgrade() -> None:
    with op.batch_alter_table("gate_objections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("purpose_id", sa.String(length=64), nullable=True))
    objections = sa.table("gate_objections", sa.column("scope", sa.String), sa.column("channel", sa.String))
    op.execute(
        objections.update()
        .where(objections.c.scope.in_(_CHANNELS))
        .values(channel=objections.c.scope, scope="channel")
    )
    with op.batch_alter_table("gate_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("restriction_request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gate_contacts", schema=None) as batch_op:
        batch_op.drop_column("restriction_request_id")
        batch_op.drop_column("restricted")
    objections = sa.table("gate_objections", sa.column("scope", sa.String), sa.column("channel", sa.String))
    op.execute(
        objections.update()
        .where(objections.c.scope == "channel")
        .values(scope=sa.func.coalesce(objections.c.channel, "all_direct_marketing"))
    )
    op.execute(
        objections.update().where(objections.c.scope == "purpose").values(scope="all_direct_marketing")
    )
    with op.batch_alter_table("gate_objections", schema=None) as batch_op:
        batch_op.drop_column("purpose_id")
        batch_op.drop_column("channel")
