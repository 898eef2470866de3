"""The inbox: idempotent consumers record each event id in the same transaction as its effect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    """Declares the inbox table on a service's own metadata."""
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


async def mark_processed_or_skip(
    session: AsyncSession, table: sa.Table, *, event_id: str, topic: str
) -> bool:
    """Records the event id; returns False when it was already processed (a duplicate delivery)."""
    values = {"event_id": event_id, "topic": topic, "processed_at": datetime.now(UTC)}
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    result = await session.execute(
        insert.values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    )
    # An INSERT's result is a CursorResult, which the session's signature does not say.
    first = cast("CursorResult[Any]", result).rowcount == 1
    if not first:
        # Because a redelivery is worth seeing in the consumer's span (a no-op when tracing is off).
        trace.get_current_span().set_attribute("vigie.inbox.duplicate", True)
    return first
