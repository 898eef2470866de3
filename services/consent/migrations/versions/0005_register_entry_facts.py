"""register entry facts: channels, retention in months, profiling, DPIA reference (issue 19)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 08:20:00

The register's versions are one JSON list per purpose (`purposes.versions`): the four new keys of a
version (`channels`, `retention_months`, `profiling`, `dpia_reference`) need no column, and a version
stored before them reads as "not stated" (no channel, no retention in months, no profiling, no DPIA
reference). Nothing is rewritten either way: the history of the register is kept as it was entered.
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the new register keys live in the JSON versions, absent meaning not stated."""


def downgrade() -> None:
    """Nothing to undo: the older code ignores the new keys of a version."""
