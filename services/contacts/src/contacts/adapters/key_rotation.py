"""Key-encryption-key rotation: re-wraps every contact's data key under the active KEK.

The personal data is not re-encrypted: only the small wrapped data keys change, so a rotation of a
million contacts is a million tiny updates, done in batches, resumable, and safe to run while the
service serves (each row is re-wrapped from what it holds at that moment).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from shared.envelope_crypto import KeyRing
from sqlalchemy.ext.asyncio import AsyncEngine

from contacts.adapters import orm


@dataclass(frozen=True)
class RotationReport:
    """How many data keys were re-wrapped, and how many were already under the active KEK."""

    rewrapped: int
    already_current: int


async def rewrap_data_keys(
    engine: AsyncEngine, key_ring: KeyRing, *, batch_size: int = 1000
) -> RotationReport:
    """Re-wraps, batch by batch, every data key not yet wrapped under the active KEK."""
    table = orm.contacts
    rewrapped = current = 0
    last_id = ""
    while True:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(table.c.id, table.c.wrapped_key)
                    .where(table.c.id > last_id, table.c.wrapped_key.is_not(None))
                    .order_by(table.c.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return RotationReport(rewrapped=rewrapped, already_current=current)
            for contact_id, wrapped in rows:
                if KeyRing.kek_id_of(bytes(wrapped)) == key_ring.active_kek_id:
                    current += 1
                    continue
                # Because the row may have changed since it was read, the update matches the old wrapping.
                result = await conn.execute(
                    table.update()
                    .where(table.c.id == contact_id, table.c.wrapped_key == wrapped)
                    .values(wrapped_key=key_ring.rewrap(bytes(wrapped)))
                )
                rewrapped += result.rowcount
            last_id = rows[-1][0]
