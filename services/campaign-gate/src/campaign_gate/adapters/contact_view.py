"""An in-memory columnar view of `gate_contacts` (PostgreSQL) that checks read instead of querying the
table per batch.

The view holds `columns.contact_arrays` of every projected contact (one numpy array per column, the
columns that do not depend on a campaign already resolved) and a contact id → row index map. It is
loaded from the database at its first refresh and, at each later refresh, reads only the rows written
since the previous one, found by the change record migration 0010 keeps with triggers: each row's
`change_xid` (the transaction that last wrote it) and `gate_contact_tombstones` (deleted rows). The
projection's consumer may run in another process: the record is in the database, not in a callback.

Each refresh reads in one REPEATABLE READ snapshot: the snapshot's `xmin` (the oldest transaction still
running), the tombstones and the rows whose `change_xid` is at least the previous refresh's `xmin`, plus
the tombstoned ids' current rows. Every transaction that committed after the previous snapshot has an id
at least that `xmin`, so a refresh misses no committed change; a row seen before may be read again, and
is written again, unchanged. A check refreshes before each batch, after its wait for the projection: a
decision never rests on contacts older than the database the check waited for.

The view grows when contacts appear (capacity doubling) and drops a deleted contact from its map; a
TRUNCATE of the table (a tombstone without a contact id) makes it load everything again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_gate.adapters.columns import CONTACT_DTYPES, CONTACTS_SELECT, contact_arrays

#: Rows fetched per round trip while the view loads.
LOAD_CHUNK = 50_000

_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


class ContactColumnsView:
    """The columns of every projected contact, kept in step with `gate_contacts` by `refresh`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        self._arrays: dict[str, np.ndarray] = {}
        self._size = 0
        self._where: dict[str, int] = {}
        #: The xmin of the last refresh's snapshot; None before the first load.
        self._xmin: int | None = None
        #: What the last refresh did: "load" or "changes", rows read and seconds (for logs and tests).
        self.last_refresh: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._where)

    @property
    def loaded(self) -> bool:
        """Returns whether the view has loaded the table once."""
        return self._xmin is not None

    async def refresh(self) -> None:
        """Brings the view up to the database's latest committed contacts (loads it the first time)."""
        async with self._lock:
            started = time.perf_counter()
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                conn: Any = raw.driver_connection
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    xmin = int(await conn.fetchval(_XMIN))
                    if self._xmin is None:
                        await self._load(conn)
                        kind, rows = "load", self._size
                    else:
                        dead = [
                            r[0]
                            for r in await conn.fetch(
                                "SELECT contact_id FROM gate_contact_tombstones WHERE change_xid >= $1",
                                self._xmin,
                            )
                        ]
                        if any(d is None for d in dead):
                            self._clear()
                            await self._load(conn)
                            kind, rows = "load", self._size
                        else:
                            changed = await conn.fetch(
                                CONTACTS_SELECT + " WHERE change_xid >= $1", self._xmin
                            )
                            if dead:
                                changed += await conn.fetch(
                                    CONTACTS_SELECT + " WHERE contact_id = ANY($1::text[])", dead
                                )
                            for cid in dead:
                                self._where.pop(cid, None)
                            self._apply(contact_arrays(changed))
                            kind, rows = "changes", len(changed)
                    self._xmin = xmin
            self.last_refresh = {
                "kind": kind,
                "rows": rows,
                "seconds": round(time.perf_counter() - started, 4),
            }

    def take(self, contact_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Returns the columns of the contacts among `contact_ids` the view holds, in that order."""
        where = self._where
        index = np.fromiter((i for i in map(where.get, contact_ids) if i is not None), dtype=np.int64)
        if not self._arrays:
            return contact_arrays([])
        return {name: array[index] for name, array in self._arrays.items()}

    async def _load(self, conn: Any) -> None:
        cursor = await conn.cursor(CONTACTS_SELECT)
        while True:
            rows = await cursor.fetch(LOAD_CHUNK)
            if not rows:
                break
            self._apply(contact_arrays(rows))

    def _clear(self) -> None:
        self._arrays, self._size, self._where = {}, 0, {}

    def _apply(self, part: dict[str, np.ndarray]) -> None:
        """Writes rows over the ones the view holds for the same contacts, appends the others."""
        ids = part["contact_id"].tolist()
        if not ids:
            return
        where = self._where
        positions = np.fromiter((where.get(cid, -1) for cid in ids), dtype=np.int64, count=len(ids))
        known = positions >= 0
        if known.any():
            at = positions[known]
            for name, array in self._arrays.items():
                array[at] = part[name][known]
        if known.all():
            return
        new = ~known
        # A contact twice among the rows read (a changed row that was also tombstoned): the last wins.
        fresh: dict[str, int] = {}
        for i in np.flatnonzero(new).tolist():
            fresh[ids[i]] = i
        take = np.fromiter(fresh.values(), dtype=np.int64, count=len(fresh))
        count = len(take)
        self._reserve(self._size + count)
        start = self._size
        for name, array in self._arrays.items():
            array[start : start + count] = part[name][take]
        for offset, cid in enumerate(fresh):
            where[cid] = start + offset
        self._size += count

    def _reserve(self, size: int) -> None:
        capacity = len(self._arrays["contact_id"]) if self._arrays else 0
        if size <= capacity:
            return
        grown = max(size, capacity * 2, 1024)
        arrays: dict[str, np.ndarray] = {}
        for name, dtype in CONTACT_DTYPES.items():
            array = np.empty(grown, dtype=dtype)
            if self._arrays:
                array[: self._size] = self._arrays[name][: self._size]
            arrays[name] = array
        self._arrays = arrays
