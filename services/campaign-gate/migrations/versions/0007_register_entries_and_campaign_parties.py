"""register entries and campaign parties: reserved for the register work of issue 19

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:20:00
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
