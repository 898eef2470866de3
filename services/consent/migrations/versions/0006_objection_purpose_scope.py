"""objection scope made explicit: all direct marketing, one channel, or one purpose

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:20:00

An objection's `scope` was `all_direct_marketing` or a channel's name. It becomes
`all_direct_marketing`, `channel` (with the new `channel` column) or `purpose` (with `purpose_id`), and
the objections recorded before keep their meaning: a channel-named scope becomes `channel` on that
channel. Downgrading turns a purpose objection into one to all direct marketing (the older schema
cannot say less, and an objection is never dropped nor narrowed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
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
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("purpose_id", sa.String(length=64), nullable=True))
    objections = sa.table("objections", sa.column("scope", sa.String), sa.column("channel", sa.String))
    op.execute(
        objections.update()
        .where(objections.c.scope.in_(_CHANNELS))
        .values(channel=objections.c.scope, scope="channel")
    )


def downgrade() -> None:
    objections = sa.table("objections", sa.column("scope", sa.String), sa.column("channel", sa.String))
    op.execute(
        objections.update()
        .where(objections.c.scope == "channel")
        .values(scope=sa.func.coalesce(objections.c.channel, "all_direct_marketing"))
    )
    op.execute(
        objections.update().where(objections.c.scope == "purpose").values(scope="all_direct_marketing")
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_column("purpose_id")
        batch_op.drop_column("channel")
