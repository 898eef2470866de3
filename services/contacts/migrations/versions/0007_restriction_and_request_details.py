"""restriction of processing (Art. 18) and the details of a request (grounds, contestation)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:30:00

`contacts.restriction` holds {request_id, grounds, since} while processing is restricted (the gate blocks
every send, RIGHTS-01), NULL otherwise: no contact was restricted before, so NULL is every row's truth.
`data_subject_requests.details` holds what a kind needs besides the person: a restriction's grounds and
its lifting (with when and how the person was informed, Art. 18(3)), a contestation's decision, point of
view, reviewer, outcome and reasons (Art. 22(3)); NULL for the kinds that need nothing more.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restriction", sa.JSON(), nullable=True))
    with op.batch_alter_table("data_subject_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_subject_requests", schema=None) as batch_op:
        batch_op.drop_column("details")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("restriction")
