"""The log store (the repository of the audit log): group-committed appends, stored subtree hashes,
checkpoints, crypto-shredding, and every query the auditors' API runs."""

from __future__ import annotations

import abc
import base64
import hashlib
import hmac
import struct
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, overload

import asyncpg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from shared.copy_binary import HEADER, TRAILER, timestamptz_micros
from shared.copy_binary import stream as copy_stream
from shared.db import as_utc, asyncpg_connection
from shared.envelope_crypto import KeyRing, decrypt_value
from shared.events import EventEnvelope
from sqlalchemy.ext.asyncio import AsyncConnection
from vigie_verify import merkle
from vigie_verify.checkpoint import Checkpoint, sign_checkpoint
from vigie_verify.entries import canonical_document, served_mismatches
from vigie_verify.note import verifier_key

from audit_log.adapters import orm
from audit_log.adapters.collector import paused_gc
from audit_log.adapters.sealing import STREAM_SLICE, Sealed, ToSeal, seal_stream, sealing_pool
from audit_log.adapters.verification import verify_stored_log, worker_pool
from audit_log.domain.errors import TamperedEntryError
from audit_log.domain.model import (
    AuditEntry,
    EntrySelection,
    SignedCheckpoint,
    SignerKey,
    StoredEntry,
    VerifyReport,
)

T = TypeVar("T")
_DUMMY = b"\x00" * 32


async def with_stored_nodes(
    conn: AsyncConnection,
    compute: Callable[[merkle.GetNode], T],
    extra: dict[tuple[int, int], bytes] | None = None,
) -> T:
    """Runs a Merkle computation over stored nodes, fetching exactly the nodes it asks for in one query."""
    return compute(await stored_nodes_for(conn, compute, extra))


async def stored_nodes_for(
    conn: AsyncConnection,
    compute: Callable[[merkle.GetNode], object],
    extra: dict[tuple[int, int], bytes] | None = None,
) -> merkle.GetNode:
    """Returns a node getter holding every stored node a Merkle computation reads, fetched in one query
    (MissingNodeError for a node that is not stored).

    The nodes a computation reads depend only on tree sizes and indices, never on hash values, so a
    first pass with dummy hashes names them all.
    """
    wanted: set[tuple[int, int]] = set()

    def _record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _DUMMY

    compute(_record)
    nodes = dict(extra or {})
    missing = [key for key in wanted if key not in nodes]
    if missing:
        nodes.update(await _fetch_nodes(conn, missing))

    return _node_getter(nodes)


def _node_getter(nodes: dict[tuple[int, int], bytes]) -> merkle.GetNode:
    """Returns a lookup of stored nodes by (level, index) that raises MissingNodeError for one not there."""

    def _get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise merkle.MissingNodeError(f"node ({level}, {index}) is not stored") from None

    return _get


def append_frontier(start: int, count: int) -> list[tuple[int, int]]:
    """Returns the stored nodes that appending `count` leaves at index `start` reads: per level where
    the append completes a node, the left sibling of its first new node when that one is odd (what
    `merkle.complete_nodes_for_append` asks for; a test compares both)."""
    end, level, wanted = start + count, 0, []
    while (start >> (level + 1)) < (end >> (level + 1)):
        if (start >> level) & 1:
            wanted.append((level, (start >> level) - 1))
        level += 1
    return wanted


def _append_nodes(
    start: int, leaves: list[bytes]
) -> Callable[[merkle.GetNode], list[tuple[int, int, bytes]]]:
    """Returns the computation of the nodes that appending `leaves` at index `start` completes."""
    return lambda get: merkle.complete_nodes_for_append(
        start_size=start, new_leaf_hashes=leaves, get_node=get
    )


async def _entry_rows(
    times: Sequence[datetime],
    integrated_at: datetime,
    sealed_out: list[tuple[ToSeal, Sealed]],
    stream: AsyncIterator[tuple[list[ToSeal], list[Sealed]]],
) -> AsyncIterator[tuple[Any, ...]]:
    """Yields the entry rows (ENTRY_COLUMNS order) of a batch as its slices are sealed, and keeps each
    item with what was sealed in `sealed_out`."""
    position = 0
    async for items, sealed in stream:
        for item, (seal, canonical, leaf) in zip(items, sealed, strict=True):
            sealed_out.append((item, (seal, canonical, leaf)))
            yield (
                item[0],
                item[1],
                item[2],
                item[3],
                item[4],
                item[5],
                times[position],
                integrated_at,
                seal,
                canonical,
                leaf,
            )
            position += 1


_ROW_START = struct.Struct(">hiqi")
_TIME = struct.Struct(">iq")
_LENGTH = struct.Struct(">i")
_LEAF = _LENGTH.pack(32)
#: A tree node row: three fields, the level (smallint), the index (bigint), the hash (32 bytes).
_NODE_ROW = struct.Struct(">hihiqi32s")


class _EntryCopyRows:
    """Encodes a batch's entry rows (ENTRY_COLUMNS) in PostgreSQL's binary COPY format, the bytes
    asyncpg's `copy_records_to_table` sends for the same values (the same tests compare the tables):
    a slice's rows in one object, each recurring text (type, source, subject, actor) encoded once."""

    def __init__(self, integrated_at: datetime) -> None:
        self._integrated = _TIME.pack(8, timestamptz_micros(integrated_at))
        self._texts: dict[str, bytes] = {}

    def _text(self, value: str) -> bytes:
        field = self._texts.get(value)
        if field is None:
            data = value.encode()
            field = self._texts[value] = _LENGTH.pack(len(data)) + data
        return field

    def rows(self, items: Sequence[ToSeal], sealed: Sequence[Sealed], times: Sequence[datetime]) -> bytes:
        """Returns the rows of a slice: its items, what was sealed of them and their event times."""
        start, length, time, integrated, text = (
            _ROW_START.pack,
            _LENGTH.pack,
            _TIME.pack,
            self._integrated,
            self._texts.get,
        )
        parts: list[bytes] = []
        for (index, event_id, event_type, source, subject, actor, *_), (
            seal,
            canonical,
            leaf,
        ), event_time in zip(items, sealed, times, strict=True):
            eid = event_id.encode()
            parts += (
                start(11, 8, index, len(eid)),
                eid,
                text(event_type) or self._text(event_type),
                text(source) or self._text(source),
                text(subject) or self._text(subject),
                text(actor) or self._text(actor),
                time(8, timestamptz_micros(event_time)),
                integrated,
                length(len(seal)),
                seal,
                length(len(canonical)),
                canonical,
                _LEAF,
                leaf,
            )
        return b"".join(parts)


async def _fetch_nodes(conn: AsyncConnection, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Returns the stored nodes among `wanted` in one indexed query."""
    if conn.dialect.name == "postgresql":
        # Because joining two arrays keeps one statement text (prepared once) and one index probe per
        # node, where a row-value IN list is re-planned for every length and scanned as a bitmap OR.
        driver = await asyncpg_connection(conn)
        records = await driver.fetch(
            "SELECT t.level, t.idx, t.hash FROM tree_nodes t "
            "JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) "
            "ON t.level = w.level AND t.idx = w.idx",
            [level for level, _ in wanted],
            [index for _, index in wanted],
        )
        return {(record[0], record[1]): bytes(record[2]) for record in records}
    t = orm.tree_nodes.c
    found: dict[tuple[int, int], bytes] = {}
    for chunk in range(0, len(wanted), 400):
        rows = await conn.execute(
            sa.select(t.level, t.idx, t.hash).where(
                sa.tuple_(t.level, t.idx).in_(wanted[chunk : chunk + 400])
            )
        )
        found.update({(row.level, row.idx): bytes(row.hash) for row in rows})
    return found


class _AppendedEntries(Sequence[AuditEntry]):
    """A group commit's new entries, each built only when it is read (the consumer reads the last)."""

    def __init__(self, sealed: list[tuple[ToSeal, Sealed]], times: list[datetime], at: datetime) -> None:
        self._sealed, self._times, self._at = sealed, times, at

    def __len__(self) -> int:
        return len(self._sealed)

    @overload
    def __getitem__(self, position: int) -> AuditEntry: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[AuditEntry]: ...

    def __getitem__(self, position: int | slice) -> AuditEntry | Sequence[AuditEntry]:
        if isinstance(position, slice):
            return [self[n] for n in range(*position.indices(len(self)))]
        item, (seal, _, _) = self._sealed[position]
        return AuditEntry(
            index=item[0],
            event_id=item[1],
            event_type=item[2],
            source=item[3],
            subject_pseudonym=item[4],
            actor=item[5],
            event_time=self._times[position],
            integrated_at=self._at,
            sealed_event=seal,
        )


@dataclass
class LogKeys:
    """The keys of the log: checkpoint signing, subject-key wrapping and subject pseudonyms."""

    signing_key: Ed25519PrivateKey
    key_name: str
    origin: str
    key_ring: KeyRing
    pseudonym_key: bytes

    _pseudonyms: dict[str, str] = field(default_factory=dict, repr=False)

    def pseudonym(self, subject: str) -> str:
        """Returns the keyed pseudonym under which a subject's entries are filed."""
        known = self._pseudonyms.get(subject)
        if known is None:
            if len(self._pseudonyms) >= 100_000:
                self._pseudonyms.clear()  # Because a bounded memo is enough: subjects recur in bursts.
            known = self._pseudonyms[subject] = hmac.new(
                self.pseudonym_key, subject.encode(), hashlib.sha256
            ).hexdigest()[:40]
        return known

    def vkey(self) -> str:
        """Returns the note verifier key auditors pin."""
        return verifier_key(self.signing_key.public_key(), self.key_name)


class SubjectKeyCache:
    """The single writer's memory of subjects' data keys, kept between transactions.

    Sound only because the writer (the consumer) is the one process that creates and shreds keys;
    it learns a batch's keys only once that batch's transaction has committed.
    """

    def __init__(self, *, max_size: int = 200_000) -> None:
        self.max_size = max_size
        self._keys: OrderedDict[str, bytes] = OrderedDict()

    def known(self, pseudonyms: Iterable[str]) -> dict[str, bytes]:
        """Returns the cached keys among `pseudonyms`."""
        return {p: self._keys[p] for p in pseudonyms if p in self._keys}

    def learn(self, *, keys: dict[str, bytes], shredded: Iterable[str]) -> None:
        """Forgets the shredded subjects and remembers the keys of a committed batch."""
        for pseudonym in shredded:
            self._keys.pop(pseudonym, None)
        self._keys.update(keys)
        while len(self._keys) > self.max_size:
            self._keys.popitem(last=False)


class AbstractLogRepository(abc.ABC):
    """The log as the use cases see it: appends, stored Merkle nodes, checkpoints and auditors' reads."""

    @abc.abstractmethod
    async def append(
        self,
        events: Sequence[tuple[EventEnvelope, bytes]],
        *,
        shred_after: Callable[[EventEnvelope], bool],
        at: datetime,
    ) -> Sequence[AuditEntry]:
        """Appends the events not yet in the log, in order, at the next indices; returns the new entries.

        Duplicates (same event id, in the log or earlier in the batch) are skipped. An event for which
        `shred_after` is true destroys its subject's key before it is sealed, so that the erasure
        itself stays readable.
        """

    @abc.abstractmethod
    def committed(self) -> None:
        """Called by the unit of work once the transaction has committed."""

    @abc.abstractmethod
    async def size(self) -> int:
        """Returns the number of entries (the tree size)."""

    @abc.abstractmethod
    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        """Returns the newest checkpoint, or None before the first."""

    @abc.abstractmethod
    async def add_checkpoint(self, *, tree_size: int, root_hash: bytes, at: datetime) -> SignedCheckpoint:
        """Signs a checkpoint of the tree size and root with the log's key and stores it."""

    @abc.abstractmethod
    async def with_nodes(self, compute: Callable[[merkle.GetNode], T]) -> T:
        """Runs a Merkle computation over the stored nodes (MissingNodeError beyond the log)."""

    @abc.abstractmethod
    def signer(self) -> SignerKey:
        """Returns the checkpoint signing key as auditors pin it."""

    @abc.abstractmethod
    async def find(
        self, selection: EntrySelection, *, from_index: int | None, limit: int
    ) -> list[StoredEntry]:
        """Returns up to `limit` selected entries from `from_index` on, oldest first, their events opened."""

    @abc.abstractmethod
    async def get(self, index: int) -> StoredEntry | None:
        """Returns the entry at an index with its event opened, or None."""

    @abc.abstractmethod
    def stream(self, selection: EntrySelection) -> AsyncIterator[StoredEntry]:
        """Yields the selected entries oldest first, without their events (exports)."""

    @abc.abstractmethod
    async def verify(self, *, chunk: int, max_problems: int) -> VerifyReport:
        """Recomputes every leaf and the root from the canonical bytes and names the bad indices."""


class SqlLogRepository(AbstractLogRepository):
    """The log in SQL tables, on one connection whose transaction the unit of work owns."""

    def __init__(self, conn: AsyncConnection, *, keys: LogKeys, key_cache: SubjectKeyCache) -> None:
        self.conn = conn
        self.keys = keys
        self._key_cache = key_cache
        self._to_remember: tuple[dict[str, bytes], set[str]] | None = None

    def committed(self) -> None:
        # Because a key generated in a transaction that rolls back was never stored, the cache only
        # learns keys after the commit; shredded subjects leave it at the same moment.
        if self._to_remember is not None:
            keys, shredded = self._to_remember
            self._key_cache.learn(keys=keys, shredded=shredded)
            self._to_remember = None

    async def size(self) -> int:
        value = (await self.conn.execute(sa.select(sa.func.max(orm.entries.c.idx)))).scalar()
        return 0 if value is None else int(value) + 1

    async def _load_subject_keys(self, pseudonyms: set[str]) -> dict[str, bytes]:
        """Returns the data keys of the subjects that have one, from the cache or in one query."""
        found = self._key_cache.known(pseudonyms)
        missing = [p for p in pseudonyms if p not in found]
        if not missing:
            return found
        unwrap = self.keys.key_ring.unwrap
        if self.conn.dialect.name == "postgresql":
            driver = await asyncpg_connection(self.conn)
            records = await driver.fetch(
                "SELECT subject, wrapped_key FROM subject_keys WHERE subject = ANY($1::text[])", missing
            )
            found.update({record[0]: unwrap(bytes(record[1])) for record in records})
            return found
        k = orm.subject_keys.c
        for chunk in range(0, len(missing), 1000):
            rows = await self.conn.execute(
                sa.select(k.subject, k.wrapped_key).where(k.subject.in_(missing[chunk : chunk + 1000]))
            )
            found.update({row.subject: unwrap(bytes(row.wrapped_key)) for row in rows})
        return found

    async def append(
        self,
        events: Sequence[tuple[EventEnvelope, bytes]],
        *,
        shred_after: Callable[[EventEnvelope], bool],
        at: datetime,
    ) -> Sequence[AuditEntry]:
        with paused_gc():
            return await self._append(events, shred_after=shred_after, at=at)

    async def _append(
        self,
        events: Sequence[tuple[EventEnvelope, bytes]],
        *,
        shred_after: Callable[[EventEnvelope], bool],
        at: datetime,
    ) -> Sequence[AuditEntry]:
        # Because the first statement is what opens the transaction (a savepoint needs one to be open).
        start = await self.size()
        if self.conn.dialect.name == "postgresql":
            # Because a polled batch is almost always new, it is written without first asking which of
            # its event ids the log holds (an index probe per event): the unique index on event ids
            # refuses a redelivered one, and then the batch is undone to a savepoint and written again
            # after the probe.
            driver = await asyncpg_connection(self.conn)
            try:
                async with driver.transaction():
                    return await self._write(events, set(), start, shred_after=shred_after, at=at)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != EVENT_ID_UNIQUE:
                    raise
        known = await self._known_event_ids([envelope.id for envelope, _ in events])
        return await self._write(events, known, start, shred_after=shred_after, at=at)

    async def _write(
        self,
        events: Sequence[tuple[EventEnvelope, bytes]],
        known: set[str],
        start: int,
        *,
        shred_after: Callable[[EventEnvelope], bool],
        at: datetime,
    ) -> Sequence[AuditEntry]:
        """Appends the events whose ids are neither in `known` nor earlier in the batch, from index
        `start` (the log's size) on."""
        conn = self.conn
        fresh = []
        for envelope, raw in events:
            if envelope.id not in known:
                known.add(envelope.id)
                fresh.append((envelope, raw, self.keys.pseudonym(envelope.subject)))
        if not fresh:
            return []
        now = as_utc(at)
        keys: dict[str, bytes | None] = dict(await self._load_subject_keys({p for _, _, p in fresh}))
        created: dict[str, bytes] = {}
        shredded: dict[str, str] = {}
        times: list[datetime] = []

        def slices() -> Iterator[list[ToSeal]]:
            # Because this runs while the COPY streams the previous slice: each event gets its subject's
            # key (a new one after an erasure, or for a new subject) and its index, in order.
            for first in range(0, len(fresh), STREAM_SLICE):
                items: list[ToSeal] = []
                for position in range(first, min(first + STREAM_SLICE, len(fresh))):
                    envelope, raw, pseudonym = fresh[position]
                    if shred_after(envelope):
                        shredded.setdefault(pseudonym, envelope.id)
                        keys[pseudonym] = None
                    dek = keys.get(pseudonym)
                    if dek is None:
                        data_key = self.keys.key_ring.new_data_key()
                        dek = keys[pseudonym] = data_key.plaintext
                        created[pseudonym] = data_key.wrapped
                    # Because the canonical bytes hold the time's text: it is normalised to UTC first.
                    event_time = as_utc(envelope.time)
                    times.append(event_time)
                    items.append(
                        (
                            start + position,
                            envelope.id,
                            envelope.type,
                            envelope.source,
                            pseudonym,
                            envelope.actor,
                            event_time.isoformat(),
                            raw,
                            dek,
                        )
                    )
                yield items

        # Because the stored nodes an append reads depend only on where it starts and how many leaves
        # it adds, they are fetched before any leaf is known, and the nodes computed once afterwards.
        wanted = append_frontier(start, len(fresh))
        frontier = await _fetch_nodes(conn, wanted) if wanted else {}
        sealed: list[tuple[ToSeal, Sealed]] = []
        stream = seal_stream(slices(), now.isoformat(), total=len(fresh), executor=sealing_pool())
        if conn.dialect.name == "postgresql":
            # Because PostgreSQL ingests each slice on its own core while the next one is prepared and
            # sealed here: one COPY streamed from the sealing, rather than sealing all, then waiting;
            # each slice encoded here at once (asyncpg encodes value tuples one by one, 11 columns each).
            encoder = _EntryCopyRows(now)

            async def binary_rows() -> AsyncIterator[bytes]:
                yield HEADER
                async for items, out in stream:
                    done = len(sealed)
                    yield encoder.rows(items, out, times[done : done + len(items)])
                    sealed.extend(zip(items, out, strict=True))
                yield TRAILER

            driver: Any = await asyncpg_connection(conn)
            await driver.copy_to_table(
                orm.entries.name, columns=list(ENTRY_COLUMNS), source=binary_rows(), format="binary"
            )
        else:
            rows = _entry_rows(times, now, sealed, stream)
            await _insert_rows(conn, orm.entries, ENTRY_COLUMNS, [row async for row in rows])
        # Keys: an erased subject's stored key is destroyed first, then the batch's new keys stored.
        if shredded:
            await self._shred(shredded, now)
        await _insert_rows(
            conn,
            orm.subject_keys,
            ("subject", "wrapped_key", "created_at"),
            [(p, wrapped, now) for p, wrapped in created.items()],
        )
        nodes = _append_nodes(start, [leaf for _, (_, _, leaf) in sealed])(_node_getter(frontier))
        if conn.dialect.name == "postgresql":
            # Because ~2 node rows per entry, each three values asyncpg would encode one by one.
            node = _NODE_ROW.pack
            encoded = [node(3, 2, level, 8, index, 32, value) for level, index, value in nodes]
            driver = await asyncpg_connection(conn)
            await driver.copy_to_table(
                orm.tree_nodes.name,
                columns=["level", "idx", "hash"],
                source=copy_stream(encoded),
                format="binary",
            )
        else:
            await _insert_rows(conn, orm.tree_nodes, ("level", "idx", "hash"), nodes)
        final_keys = {
            p: dek for p, dek in keys.items() if dek is not None and (p in created or p not in shredded)
        }
        self._to_remember = (final_keys, set(shredded))
        return _AppendedEntries(sealed, times, now)

    async def _known_event_ids(self, ids: list[str]) -> set[str]:
        """Returns the ids among `ids` already in the log (one indexed query)."""
        if not ids:
            return set()
        if self.conn.dialect.name == "postgresql":
            # Because one array parameter keeps the statement prepared once, where an IN list of a
            # thousand parameters is compiled and planned anew for every batch.
            driver = await asyncpg_connection(self.conn)
            records = await driver.fetch("SELECT event_id FROM entries WHERE event_id = ANY($1::text[])", ids)
            return {record[0] for record in records}
        e = orm.entries.c
        return set((await self.conn.execute(sa.select(e.event_id).where(e.event_id.in_(ids)))).scalars())

    async def _shred(self, shredded: dict[str, str], now: datetime) -> None:
        """Destroys the subjects' stored keys (their sealed events become unreadable) and records it."""
        k, s = orm.subject_keys.c, orm.shredded_subjects.c
        await self.conn.execute(orm.subject_keys.delete().where(k.subject.in_(list(shredded))))
        already = set(
            (await self.conn.execute(sa.select(s.subject).where(s.subject.in_(list(shredded))))).scalars()
        )
        records = [
            {"subject": p, "shredded_at": now, "event_id": event_id}
            for p, event_id in shredded.items()
            if p not in already
        ]
        if records:
            await self.conn.execute(orm.shredded_subjects.insert(), records)

    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        c = orm.checkpoints
        row = (await self.conn.execute(sa.select(c).order_by(c.c.tree_size.desc()).limit(1))).first()
        if row is None:
            return None
        return SignedCheckpoint(
            tree_size=row.tree_size, root_hash=bytes(row.root_hash), note=row.note, signed_at=row.created_at
        )

    async def add_checkpoint(self, *, tree_size: int, root_hash: bytes, at: datetime) -> SignedCheckpoint:
        note = sign_checkpoint(
            Checkpoint(origin=self.keys.origin, size=tree_size, root_hash=root_hash),
            private_key=self.keys.signing_key,
            key_name=self.keys.key_name,
        )
        await self.conn.execute(
            orm.checkpoints.insert().values(
                tree_size=tree_size, root_hash=root_hash, note=note, created_at=at
            )
        )
        return SignedCheckpoint(tree_size=tree_size, root_hash=root_hash, note=note, signed_at=as_utc(at))

    async def with_nodes(self, compute: Callable[[merkle.GetNode], T]) -> T:
        return await with_stored_nodes(self.conn, compute)

    def signer(self) -> SignerKey:
        return SignerKey(
            origin=self.keys.origin,
            key_name=self.keys.key_name,
            vkey=self.keys.vkey(),
            public_key=self.keys.signing_key.public_key().public_bytes_raw(),
        )

    async def find(
        self, selection: EntrySelection, *, from_index: int | None, limit: int
    ) -> list[StoredEntry]:
        clauses = self._where(selection)
        if from_index is not None:
            clauses.append(orm.entries.c.idx >= from_index)
        query = (
            _with_subject_key(sa.select(orm.entries)).where(*clauses).order_by(orm.entries.c.idx).limit(limit)
        )
        return [self._opened(row) for row in (await self.conn.execute(query)).all()]

    async def get(self, index: int) -> StoredEntry | None:
        row = (
            await self.conn.execute(
                _with_subject_key(sa.select(orm.entries)).where(orm.entries.c.idx == index)
            )
        ).first()
        return None if row is None else self._opened(row)

    async def stream(self, selection: EntrySelection) -> AsyncIterator[StoredEntry]:
        result = await self.conn.stream(
            _with_leaf_node(sa.select(orm.entries)).where(*self._where(selection)).order_by(orm.entries.c.idx)
        )
        async for row in result:
            yield _verified(row, open_event=None)

    async def verify(self, *, chunk: int, max_problems: int) -> VerifyReport:
        size = await self.size()
        return await verify_stored_log(
            self.conn,
            checkpoint=await self.latest_checkpoint(),
            vkey=self.keys.vkey(),
            size=size,
            chunk=chunk,
            max_problems=max_problems,
            # Because starting worker processes costs more than hashing a small log here.
            executor=worker_pool() if size >= 4 * chunk else None,
        )

    def _where(self, selection: EntrySelection) -> list[Any]:
        """Returns the WHERE clauses of an auditor's selection (the subject is looked up by its pseudonym)."""
        e = orm.entries.c
        clauses: list[Any] = []
        if selection.subject:
            clauses.append(e.subject == self.keys.pseudonym(selection.subject))
        if selection.event_type:
            clauses.append(e.event_type == selection.event_type)
        if selection.actor:
            clauses.append(e.actor == selection.actor)
        if selection.since:
            clauses.append(e.event_time >= selection.since)
        if selection.until:
            clauses.append(e.event_time < selection.until)
        event_id = getattr(selection, "event_id", None)
        if event_id:
            clauses.append(e.event_id == event_id)
        if selection.event_id:
            clauses.append(e.event_id == selection.event_id)
        return clauses

    def _opened(self, row: Any) -> StoredEntry:
        return _verified(row, open_event=lambda document: self._open_event(document, row.wrapped_key))

    def _open_event(self, document: dict[str, Any], wrapped_key: bytes | None) -> dict[str, Any] | None:
        """Returns the event an entry's canonical bytes seal, given its subject's wrapped key; None once
        shredded."""
        if wrapped_key is None:
            return None
        try:
            dek = self.keys.key_ring.unwrap(bytes(wrapped_key))
            sealed = base64.b64decode(document["sealed_event"], validate=True)
            raw = decrypt_value(dek, sealed, associated_data=str(document["event_id"]).encode())
        except Exception:  # noqa: BLE001 - sealed under an older, destroyed key of the same subject.
            return None
        return EventEnvelope.decode(raw).model_dump(mode="json")


def _verified(
    row: Any, *, open_event: Callable[[dict[str, Any]], dict[str, Any] | None] | None
) -> StoredEntry:
    """Returns the entry a row holds, every field taken from its canonical bytes, once those bytes are
    checked against its leaf hash and level-0 tree node and every query column against those bytes;
    raises TamperedEntryError otherwise (so that nothing altered in the database is served)."""
    canonical = bytes(row.canonical)
    computed = merkle.leaf_hash(canonical)
    if computed != bytes(row.leaf_hash) or row.leaf_node is None or computed != bytes(row.leaf_node):
        raise TamperedEntryError(row.idx, "its canonical bytes do not hash to its leaf in the tree")
    try:
        document = canonical_document(canonical)
        wrong = served_mismatches(
            document,
            {
                "index": row.idx,
                "event_id": row.event_id,
                "type": row.event_type,
                "source": row.source,
                "subject": row.subject,
                "actor": row.actor,
                "event_time": row.event_time,
                "integrated_at": row.integrated_at,
            },
        )
        if wrong:
            raise TamperedEntryError(
                row.idx, f"its {', '.join(wrong)} column differs from its canonical bytes"
            )
        return StoredEntry(
            index=document["index"],
            event_id=document["event_id"],
            event_type=document["event_type"],
            source=document["source"],
            subject_pseudonym=document["subject"],
            actor=document["actor"],
            event_time=datetime.fromisoformat(document["event_time"]),
            integrated_at=datetime.fromisoformat(document["integrated_at"]),
            leaf_hash=computed,
            canonical=canonical,
            event=open_event(document) if open_event is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        raise TamperedEntryError(row.idx, "its canonical bytes are not a well-formed entry") from None


def _with_leaf_node(query: sa.Select[Any]) -> sa.Select[Any]:
    """Adds the entry's level-0 tree node (its leaf as the tree holds it) to a query on entries."""
    n = orm.tree_nodes
    return query.add_columns(n.c.hash.label("leaf_node")).outerjoin(
        n, sa.and_(n.c.level == 0, n.c.idx == orm.entries.c.idx)
    )


def _with_subject_key(query: sa.Select[Any]) -> sa.Select[Any]:
    """Adds the entry's subject key (NULL once shredded) and its level-0 tree node to a query on entries,
    saving a round trip per entry."""
    keys = orm.subject_keys
    return _with_leaf_node(
        query.add_columns(keys.c.wrapped_key).select_from(
            orm.entries.outerjoin(keys, keys.c.subject == orm.entries.c.subject)
        )
    )


#: The unique constraint on entries' event ids (migration 0001), which refuses a redelivered event.
EVENT_ID_UNIQUE = "uq_entries_event_id"

#: The entries table's columns in the order the writer builds its rows.
ENTRY_COLUMNS = (
    "idx",
    "event_id",
    "event_type",
    "source",
    "subject",
    "actor",
    "event_time",
    "integrated_at",
    "sealed_event",
    "canonical",
    "leaf_hash",
)


async def _insert_rows(
    conn: AsyncConnection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Inserts rows (tuples in `columns` order) in the connection's transaction: by COPY on PostgreSQL,
    an executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    # Because COPY moves a group commit's rows several times faster than multi-row INSERTs, and the
    # driver connection is the one whose transaction SQLAlchemy has open.
    driver = await asyncpg_connection(conn)
    await driver.copy_records_to_table(table.name, columns=list(columns), records=rows)
