"""An in-memory view of the projection rows a check reads per recipient (PostgreSQL): `gate_contacts` as
columns, `gate_consents` and `gate_notice_deliveries` by contact, the contacts some check allowed;
checks read it instead of querying those tables per batch.

The view holds `columns.contact_arrays` of every projected contact (one numpy array per column, the
columns that do not depend on a campaign already resolved) with a contact id → row index map, every
consent as `columns.CONSENT_COLUMNS` reads it (indexed by contact, purpose and channel), every notice
delivery (indexed by contact) and the contacts some check allowed (`gate_allowed_contacts`). It is
loaded from the database at its first refresh and, at each later refresh, reads only the rows written
since the previous one, found by the change record migration 0010 keeps with triggers: each row's
`change_xid` (the transaction that last wrote it) and `gate_projection_tombstones` (deleted rows). The
projection's consumer may run in another process: the record is in the database, not in a callback.

Each refresh reads in one REPEATABLE READ snapshot: the snapshot's `xmin` (the oldest transaction still
running), the tombstones and the rows whose `change_xid` is at least the previous refresh's `xmin`, plus
the tombstoned keys' current rows. Every transaction that committed after the previous snapshot has an
id at least that `xmin`, so a refresh misses no committed change; a row seen before may be read again,
and is written again, unchanged. A check refreshes before each batch, after its wait for the projection:
a decision never rests on rows older than the database the check waited for.

The contact columns grow when contacts appear (capacity doubling) and a deleted contact leaves the map;
a TRUNCATE of one of the tables (a tombstone without a key) makes the view load everything again.
Memory: about 1 kB per contact with a consent and a delivery (10^6 contacts: ~1 GB per API process).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_gate.adapters.columns import (
    CONSENT_COLUMNS,
    CONTACT_DTYPES,
    CONTACTS_SELECT,
    DELIVERY_COLUMNS,
    contact_arrays,
)

#: Rows fetched per round trip while the view loads.
LOAD_CHUNK = 50_000

#: The tables a refresh reads changes of.
_PROBED = (
    "gate_projection_tombstones",
    "gate_contacts",
    "gate_consents",
    "gate_notice_deliveries",
    "gate_allowed_contacts",
)
#: The snapshot's xmin, and the last transaction that wrote each table. A max over the index, not
#: `EXISTS (… WHERE change_xid >= $1)`: after five runs PostgreSQL keeps a generic plan for that one,
#: which scans the whole table when nothing matches (75 ms per 10^6 rows, measured).
_PROBE = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, " + ", ".join(
    f"(SELECT max(change_xid) FROM {table})" for table in _PROBED
)
_CONSENTS = f"SELECT {CONSENT_COLUMNS}, purpose_id, channel FROM gate_consents"
_DELIVERIES = f"SELECT {DELIVERY_COLUMNS} FROM gate_notice_deliveries"
#: A consent row: the `CONSENT_COLUMNS` values (contact id first, consent id second, `at` fifth).
_Consent = tuple[Any, ...]
#: A delivery row: contact id, delivery id, notice id, notice version, delivered at.
_Delivery = tuple[str, str, str, int, datetime]


class ContactColumnsView:
    """The columns of every projected contact, kept in step with `gate_contacts` by `refresh`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        self._arrays: dict[str, np.ndarray] = {}
        self._size = 0
        self._where: dict[str, int] = {}
        #: consent id → ((contact id, purpose id, channel), row); (contact, purpose, channel) → consent ids.
        self._consents: dict[str, tuple[tuple[str, str, str], _Consent]] = {}
        self._consents_of: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
        #: delivery id → row; contact id → delivery ids.
        self._deliveries: dict[str, _Delivery] = {}
        self._deliveries_of: defaultdict[str, set[str]] = defaultdict(set)
        #: The contacts some check allowed (`gate_allowed_contacts`: only ever added to).
        self._allowed: set[str] = set()
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
        """Brings the view up to the database's latest committed rows (loads it the first time)."""
        async with self._lock:
            started = time.perf_counter()
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                conn: Any = raw.driver_connection
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    since = self._xmin
                    # One statement says what changed (the snapshot is taken at it); only those are read.
                    probe = await conn.fetchrow(_PROBE)
                    xmin = int(probe[0])
                    changed = {
                        table: last is not None and since is not None and last >= since
                        for table, last in zip(_PROBED, probe[1:], strict=True)
                    }
                    dead: list[Any] = []
                    if since is not None and changed["gate_projection_tombstones"]:
                        dead = await conn.fetch(
                            "SELECT table_name, row_id FROM gate_projection_tombstones "
                            "WHERE change_xid >= $1",
                            since,
                        )
                    try:
                        if since is None or any(r[1] is None for r in dead):
                            # Loaded apart and swapped in at once: a batch reading the view meanwhile
                            # (between its own awaits) never sees it half loaded.
                            fresh = ContactColumnsView(self._engine)
                            await fresh._load(conn)
                            self._take_over(fresh)
                            kind, rows = "load", self._size + len(self._consents) + len(self._deliveries)
                        else:
                            rows = await self._changes(conn, since, dead, changed)
                            kind = "changes"
                    except BaseException:
                        # Because a refresh stopped midway leaves some rows applied and others not: the
                        # next one loads everything again.
                        self._xmin = None
                        raise
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

    def consents_for(self, contact_ids: Sequence[str], *, purpose_id: str, channel: str) -> list[_Consent]:
        """Returns, for each of `contact_ids` that has one, its consent for the purpose and channel granted
        (or requested) last, the smallest consent id first among equal times: what the query's
        `DISTINCT ON` returns."""
        out: list[_Consent] = []
        consents, of = self._consents, self._consents_of
        for cid in contact_ids:
            held = of.get((cid, purpose_id, channel))
            if not held:
                continue
            best: _Consent | None = None
            for consent_id in held:
                row = consents[consent_id][1]
                if best is None or row[4] > best[4] or (row[4] == best[4] and row[1] < best[1]):
                    best = row
            if best is not None:
                out.append(best)
        return out

    def allowed_among(self, contact_ids: Sequence[str]) -> set[str]:
        """Returns those of `contact_ids` some check allowed."""
        return self._allowed.intersection(contact_ids)

    def deliveries_for(self, contact_ids: Sequence[str]) -> list[_Delivery]:
        """Returns the notice deliveries of `contact_ids`, contact by contact, each contact's by delivery
        time."""
        deliveries, of = self._deliveries, self._deliveries_of
        out: list[_Delivery] = []
        for cid in contact_ids:
            held = of.get(cid)
            if not held:
                continue
            if len(held) == 1:
                out.extend(deliveries[d] for d in held)
            else:
                # Because only each contact's own order counts (its first delivery per article).
                out.extend(sorted((deliveries[d] for d in held), key=lambda r: r[4]))
        return out

    async def _load(self, conn: Any) -> None:
        cursor = await conn.cursor(CONTACTS_SELECT)
        while True:
            rows = await cursor.fetch(LOAD_CHUNK)
            if not rows:
                break
            self._apply(contact_arrays(rows))
        self._allowed.update(r[0] for r in await conn.fetch("SELECT contact_id FROM gate_allowed_contacts"))
        for query, put in ((_CONSENTS, self._put_consents), (_DELIVERIES, self._put_deliveries)):
            cursor = await conn.cursor(query)
            while True:
                rows = await cursor.fetch(LOAD_CHUNK)
                if not rows:
                    break
                put(rows)

    async def _changes(self, conn: Any, since: int, dead: Sequence[Any], changed: dict[str, bool]) -> int:
        """Applies the rows written and deleted by transactions `since` onwards (in the tables `changed`
        says hold some); returns the rows read."""
        gone: defaultdict[str, list[str]] = defaultdict(list)
        for table, key in dead:
            gone[table].append(key)
        read = 0
        for table, select, key, drop, put in (
            ("gate_contacts", CONTACTS_SELECT, "contact_id", self._drop_contacts, None),
            ("gate_consents", _CONSENTS, "consent_id", self._drop_consents, self._put_consents),
            (
                "gate_notice_deliveries",
                _DELIVERIES,
                "delivery_id",
                self._drop_deliveries,
                self._put_deliveries,
            ),
        ):
            rows = list(await conn.fetch(f"{select} WHERE change_xid >= $1", since)) if changed[table] else []
            if gone[table]:
                # A key deleted and written again since: its current row, read in the same snapshot.
                rows += await conn.fetch(f"{select} WHERE {key} = ANY($1::text[])", gone[table])
                drop(gone[table])
            if rows:
                if put is None:
                    self._apply(contact_arrays(rows))
                else:
                    put(rows)
            read += len(rows)
        if changed["gate_allowed_contacts"]:
            allowed = await conn.fetch(
                "SELECT contact_id FROM gate_allowed_contacts WHERE change_xid >= $1", since
            )
            self._allowed.update(r[0] for r in allowed)
            read += len(allowed)
        return read

    def _drop_contacts(self, keys: Sequence[str]) -> None:
        for cid in keys:
            self._where.pop(cid, None)

    def _drop_consents(self, keys: Sequence[str]) -> None:
        for consent_id in keys:
            held = self._consents.pop(consent_id, None)
            if held is not None:
                self._consents_of[held[0]].discard(consent_id)

    def _drop_deliveries(self, keys: Sequence[str]) -> None:
        for delivery_id in keys:
            held = self._deliveries.pop(delivery_id, None)
            if held is not None:
                self._deliveries_of[held[0]].discard(delivery_id)

    def _put_consents(self, rows: Sequence[Any]) -> None:
        self._drop_consents([r[1] for r in rows])
        consents, of = self._consents, self._consents_of
        for r in rows:
            values = tuple(r)
            key = (values[0], values[-2], values[-1])
            consents[values[1]] = (key, values[:-2])
            of[key].add(values[1])

    def _put_deliveries(self, rows: Sequence[Any]) -> None:
        self._drop_deliveries([r[1] for r in rows])
        deliveries, of = self._deliveries, self._deliveries_of
        for r in rows:
            values: _Delivery = tuple(r)
            deliveries[values[1]] = values
            of[values[0]].add(values[1])

    def _take_over(self, other: ContactColumnsView) -> None:
        self._arrays, self._size, self._where = other._arrays, other._size, other._where
        self._consents, self._consents_of = other._consents, other._consents_of
        self._deliveries, self._deliveries_of = other._deliveries, other._deliveries_of
        self._allowed = other._allowed

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
