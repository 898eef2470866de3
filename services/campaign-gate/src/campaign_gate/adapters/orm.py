"""The campaign-gate database. Only the platform tables so far; the projection and campaigns come next."""

from shared.db import new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = new_metadata()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
