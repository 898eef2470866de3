"""Use cases of audit-log: integrate a batch of events, make a checkpoint. Each commits once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from audit_log import contracts
from audit_log.adapters.log_store import LogStore
from audit_log.domain.model import AuditEntry
from shared.events import EventEnvelope


def _is_erasure(envelope: EventEnvelope) -> bool:
    return envelope.type == contracts.CONTACT_ERASED


async def integrate_events(events: Sequence[tuple[EventEnvelope, bytes]], *, engine: AsyncEngine,
                           store: LogStore) -> list[AuditEntry]:
    """Appends the events in one transaction (group commit); an erasure shreds its subject first."""
    async with engine.begin() as conn:
        batch = await store.append(conn, events, shred_after=_is_erasure)
    store.remember_committed(batch)
    return batch.entries


async def make_checkpoint(*, engine: AsyncEngine, store: LogStore) -> str | None:
    """Signs a checkpoint of the current tree if it grew; returns the signed note or None."""
    async with engine.begin() as conn:
        return await store.make_checkpoint(conn)


async def log_status(*, engine: AsyncEngine, store: LogStore) -> tuple[int, datetime | None]:
    """Returns the tree size and when the latest checkpoint was signed (None before the first)."""
    async with engine.connect() as conn:
        size = await store.size(conn)
        latest = await store.latest_checkpoint(conn)
    return size, (latest.created_at if latest is not None else None)
