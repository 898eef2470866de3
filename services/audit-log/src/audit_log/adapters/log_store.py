"""The Merkle log on SQL: group-committed appends, stored subtree hashes, checkpoints, crypto-shredding."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from audit_log.adapters import orm
from audit_log.domain.model import AuditEntry
from shared.envelope_crypto import KeyRing, decrypt_value, encrypt_value
from shared.events import EventEnvelope
from vigie_verify import merkle
from vigie_verify.checkpoint import Checkpoint, sign_checkpoint
from vigie_verify.note import verifier_key


T = TypeVar("T")
_DUMMY = b"\x00" * 32


async def with_stored_nodes(conn: AsyncConnection, compute: Callable[[merkle.GetNode], T],
                            extra: dict[tuple[int, int], bytes] | None = None) -> T:
    """Runs a Merkle computation over stored nodes, fetching exactly the nodes it asks for in one query.

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

    def _get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise merkle.MissingNodeError(f"node ({level}, {index}) is not stored") from None

    return compute(_get)


async def _fetch_nodes(conn: AsyncConnection, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Returns the stored nodes among `wanted` in one indexed query."""
    if conn.dialect.name == "postgresql":
        # Because joining two arrays keeps one statement text (prepared once) and one index probe per
        # node, where a row-value IN list is re-planned for every length and scanned as a bitmap OR.
        driver = (await conn.get_raw_connection()).driver_connection
        rows = await driver.fetch(
            "SELECT t.level, t.idx, t.hash FROM tree_nodes t JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) "
            "ON t.level = w.level AND t.idx = w.idx", [level for level, _ in wanted], [index for _, index in wanted])
        return {(row[0], row[1]): bytes(row[2]) for row in rows}
    t = orm.tree_nodes.c
    found: dict[tuple[int, int], bytes] = {}
    for chunk in range(0, len(wanted), 400):
        rows = await conn.execute(sa.select(t.level, t.idx, t.hash).where(
            sa.tuple_(t.level, t.idx).in_(wanted[chunk:chunk + 400])))
        found.update({(row.level, row.idx): bytes(row.hash) for row in rows})
    return found


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
            known = self._pseudonyms[subject] = hmac.new(self.pseudonym_key, subject.encode(),
                                                         hashlib.sha256).hexdigest()[:40]
        return known

    def vkey(self) -> str:
        """Returns the note verifier key auditors pin."""
        return verifier_key(self.signing_key.public_key(), self.key_name)


@dataclass
class AppendedBatch:
    """What one append wrote: the new entries, and the subject keys and shreds to remember after commit."""

    entries: list[AuditEntry]
    subject_keys: dict[str, bytes]
    shredded: set[str]


class LogStore:
    """Appends events to the log and reads it back; one writer (the consumer) at a time.

    The writer caches subjects' data keys between batches, which is sound only because it is the
    one process that creates and shreds them.
    """

    def __init__(self, keys: LogKeys, *, key_cache_size: int = 200_000) -> None:
        self.keys = keys
        self.key_cache_size = key_cache_size
        self._key_cache: OrderedDict[str, bytes] = OrderedDict()

    async def size(self, conn: AsyncConnection) -> int:
        """Returns the number of entries."""
        value = (await conn.execute(sa.select(sa.func.max(orm.entries.c.idx)))).scalar()
        return 0 if value is None else int(value) + 1

    async def _load_subject_keys(self, conn: AsyncConnection, pseudonyms: set[str]) -> dict[str, bytes]:
        """Returns the data keys of the subjects that have one, from the cache or in one query."""
        found = {p: self._key_cache[p] for p in pseudonyms if p in self._key_cache}
        missing = [p for p in pseudonyms if p not in found]
        for chunk in range(0, len(missing), 1000):
            k = orm.subject_keys.c
            rows = await conn.execute(sa.select(k.subject, k.wrapped_key).where(
                k.subject.in_(missing[chunk:chunk + 1000])))
            found.update({row.subject: self.keys.key_ring.unwrap(bytes(row.wrapped_key)) for row in rows})
        return found

    def remember_committed(self, batch: AppendedBatch) -> None:
        """Updates the subject-key cache once the batch's transaction has committed.

        Because a key generated in a transaction that rolls back was never stored, the cache only
        learns keys after the commit; shredded subjects leave it at the same moment.
        """
        for pseudonym in batch.shredded:
            self._key_cache.pop(pseudonym, None)
        self._key_cache.update(batch.subject_keys)
        while len(self._key_cache) > self.key_cache_size:
            self._key_cache.popitem(last=False)

    async def append(self, conn: AsyncConnection, events: Sequence[tuple[EventEnvelope, bytes]], *,
                     shred_after: Callable[[EventEnvelope], bool]) -> AppendedBatch:
        """Appends events not yet in the log, in order, with their Merkle nodes; returns the new entries.

        Duplicates (same event id, in the log or earlier in the batch) are skipped, which makes the
        consumer idempotent. An event for which `shred_after` is true destroys its subject's key
        before it is sealed, so the erasure itself stays readable. The caller passes the result to
        `remember_committed` after the commit.
        """
        ids = [envelope.id for envelope, _ in events]
        known = set((await conn.execute(sa.select(orm.entries.c.event_id).where(
            orm.entries.c.event_id.in_(ids)))).scalars()) if ids else set()
        fresh = []
        for envelope, raw in events:
            if envelope.id not in known:
                known.add(envelope.id)
                fresh.append((envelope, raw, self.keys.pseudonym(envelope.subject)))
        if not fresh:
            return AppendedBatch([], {}, set())
        start = await self.size(conn)
        now = datetime.now(UTC)
        keys: dict[str, bytes | None] = dict(await self._load_subject_keys(conn, {p for _, _, p in fresh}))
        created: dict[str, bytes] = {}
        shredded: dict[str, str] = {}
        new: list[AuditEntry] = []
        rows: list[dict[str, Any]] = []
        for envelope, raw, pseudonym in fresh:
            if shred_after(envelope):
                shredded.setdefault(pseudonym, envelope.id)
                keys[pseudonym] = None
            dek = keys.get(pseudonym)
            if dek is None:
                data_key = self.keys.key_ring.new_data_key()
                dek = keys[pseudonym] = data_key.plaintext
                created[pseudonym] = data_key.wrapped
            entry = AuditEntry(
                index=start + len(new), event_id=envelope.id, event_type=envelope.type, source=envelope.source,
                subject_pseudonym=pseudonym, actor=envelope.actor, event_time=utc(envelope.time), integrated_at=now,
                sealed_event=encrypt_value(dek, raw, associated_data=envelope.id.encode()))
            canonical = entry.canonical_bytes()
            new.append(entry)
            rows.append({"idx": entry.index, "event_id": entry.event_id, "event_type": entry.event_type,
                         "source": entry.source, "subject": pseudonym, "actor": entry.actor,
                         "event_time": entry.event_time, "integrated_at": now, "sealed_event": entry.sealed_event,
                         "canonical": canonical, "leaf_hash": merkle.leaf_hash(canonical)})
        if shredded:
            await self._shred(conn, shredded, now)
        if created:
            await conn.execute(orm.subject_keys.insert(), [
                {"subject": p, "wrapped_key": wrapped, "created_at": now} for p, wrapped in created.items()])
        leaf_hashes = [row["leaf_hash"] for row in rows]
        nodes = await with_stored_nodes(conn, lambda get: merkle.complete_nodes_for_append(
            start_size=start, new_leaf_hashes=leaf_hashes, get_node=get))
        await _insert_many(conn, orm.entries, rows)
        await _insert_many(conn, orm.tree_nodes, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])
        final_keys = {p: dek for p, dek in keys.items() if dek is not None and (p in created or p not in shredded)}
        return AppendedBatch(new, final_keys, set(shredded))

    async def _shred(self, conn: AsyncConnection, shredded: dict[str, str], now: datetime) -> None:
        """Destroys the subjects' stored keys (their sealed events become unreadable) and records it."""
        k, s = orm.subject_keys.c, orm.shredded_subjects.c
        await conn.execute(orm.subject_keys.delete().where(k.subject.in_(list(shredded))))
        already = set((await conn.execute(sa.select(s.subject).where(s.subject.in_(list(shredded))))).scalars())
        records = [{"subject": p, "shredded_at": now, "event_id": event_id}
                   for p, event_id in shredded.items() if p not in already]
        if records:
            await conn.execute(orm.shredded_subjects.insert(), records)

    async def latest_checkpoint(self, conn: AsyncConnection) -> Any:
        """Returns the newest checkpoint row, or None."""
        c = orm.checkpoints
        return (await conn.execute(sa.select(c).order_by(c.c.tree_size.desc()).limit(1))).first()

    async def make_checkpoint(self, conn: AsyncConnection) -> str | None:
        """Signs a checkpoint for the current size after proving it consistent with the previous one."""
        size = await self.size(conn)
        previous = await self.latest_checkpoint(conn)
        if size == 0 or (previous is not None and previous.tree_size >= size):
            return None
        root = await with_stored_nodes(conn, lambda get: merkle.root_hash(size, get))
        if previous is not None:
            proof = await with_stored_nodes(conn, lambda get: merkle.consistency_proof(previous.tree_size, size, get))
            # Because a checkpoint that is not an extension of the last one would be a fork.
            merkle.verify_consistency(first=previous.tree_size, second=size, first_root=bytes(previous.root_hash),
                                      second_root=root, proof=proof)
        note = sign_checkpoint(Checkpoint(origin=self.keys.origin, size=size, root_hash=root),
                               private_key=self.keys.signing_key, key_name=self.keys.key_name)
        await conn.execute(orm.checkpoints.insert().values(tree_size=size, root_hash=root, note=note,
                                                           created_at=datetime.now(UTC)))
        return note

    def open_event(self, row: Any, wrapped_key: bytes | None) -> dict[str, Any] | None:
        """Returns the event an entry holds, given its subject's wrapped key; None if the subject was shredded."""
        if wrapped_key is None:
            return None
        try:
            dek = self.keys.key_ring.unwrap(bytes(wrapped_key))
            raw = decrypt_value(dek, bytes(row.sealed_event), associated_data=row.event_id.encode())
        except Exception:  # noqa: BLE001 - sealed under an older, destroyed key of the same subject.
            return None
        return EventEnvelope.decode(raw).model_dump(mode="json")


async def _insert_many(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Inserts rows in the connection's transaction: by COPY on PostgreSQL, an executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), rows)
        return
    # Because COPY moves a group commit's rows several times faster than multi-row INSERTs, and the
    # driver connection is the one whose transaction SQLAlchemy has open.
    driver = (await conn.get_raw_connection()).driver_connection
    columns = list(rows[0])
    await driver.copy_records_to_table(table.name, columns=columns,
                                       records=[tuple(row[c] for c in columns) for row in rows])


def utc(value: datetime) -> datetime:
    """Returns an instant in UTC; a naive value (SQLite hands them back) is taken as UTC already.

    Because SQLite stores wall-clock text without the offset, every time is normalised to UTC before
    it is stored or compared, and given its offset back when read.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry_filters(*, subject_pseudonym: str | None, event_type: str | None, actor: str | None,
                  since: datetime | None, until: datetime | None) -> Iterable[Any]:
    """Returns the WHERE clauses of an auditor's query."""
    e = orm.entries.c
    if subject_pseudonym:
        yield e.subject == subject_pseudonym
    if event_type:
        yield e.event_type == event_type
    if actor:
        yield e.actor == actor
    if since:
        yield e.event_time >= utc(since)
    if until:
        yield e.event_time < utc(until)


@dataclass
class VerifyReport:
    """The outcome of a full recomputation of the log."""

    tree_size: int
    root_hash: bytes
    problems: list[dict[str, Any]]
    checkpoint_size: int | None

    @property
    def first_bad_index(self) -> int | None:
        return min((p["index"] for p in self.problems if p["index"] is not None), default=None)


async def _read_chunk(conn: AsyncConnection, low: int, high: int) -> list[Any]:
    """Returns (idx, canonical, leaf_hash, level-0 node hash or None) of the entries with low <= idx < high."""
    if conn.dialect.name == "postgresql":
        # Because the driver's own fetch reads rows several times faster than result-row objects.
        driver = (await conn.get_raw_connection()).driver_connection
        return list(await driver.fetch(
            "SELECT e.idx, e.canonical, e.leaf_hash, n.hash FROM entries e LEFT JOIN tree_nodes n "
            "ON n.level = 0 AND n.idx = e.idx AND n.idx >= $1 AND n.idx < $2 "
            "WHERE e.idx >= $1 AND e.idx < $2 ORDER BY e.idx", low, high))
    e, n = orm.entries.c, orm.tree_nodes
    query = (sa.select(e.idx, e.canonical, e.leaf_hash, n.c.hash)
             .select_from(orm.entries.outerjoin(n, sa.and_(n.c.level == 0, n.c.idx == e.idx)))
             .where(e.idx >= low, e.idx < high).order_by(e.idx))
    return list((await conn.execute(query)).all())


def _chunk_problems(rows: list[Any], computed: list[bytes], expected: int) -> list[dict[str, Any]]:
    """Returns the problems of one chunk: where a gap starts, and each entry that does not hash to its leaf."""
    problems: list[dict[str, Any]] = []
    gap_reported = False
    for position, row in enumerate(rows):
        idx = row[0]
        if not gap_reported and idx != expected + position:
            problems.append({"index": expected + position, "problem": f"gap or duplicate: next stored index is {idx}"})
            gap_reported = True  # Because one gap shifts every later index: report where it starts only.
        if computed[position] != row[2] or computed[position] != row[3]:
            problems.append({"index": idx, "problem": "entry does not match its leaf hash in the tree"})
    return problems


async def verify_log(conn: AsyncConnection, store: LogStore, *, chunk: int = 20_000,
                     max_problems: int = 100) -> VerifyReport:
    """Recomputes every leaf and the root from the canonical bytes, in chunks, and names the bad indices.

    Each leaf is checked against the stored leaf hash and the stored tree's level-0 node, and the
    recomputed root at the latest checkpoint's size against that signed root, so that an entry
    altered behind the triggers' back is found even if its stored hashes were altered too. Indices
    must run 0..n-1: a gap or a duplicate is reported at the index where it starts.
    """
    checkpoint = await store.latest_checkpoint(conn)
    checkpoint_size = checkpoint.tree_size if checkpoint is not None else None
    size = await store.size(conn)
    problems: list[dict[str, Any]] = []
    accumulator = merkle.RootAccumulator()
    checkpoint_root: bytes | None = merkle.EMPTY_ROOT if checkpoint_size == 0 else None
    sha256, prefix = hashlib.sha256, b"\x00"  # RFC 9162 leaf prefix.
    expected = 0
    # Because the database reads the next chunk while this process hashes the current one.
    pending = asyncio.ensure_future(_read_chunk(conn, 0, chunk)) if size else None
    try:
        for low in range(0, size, chunk):
            assert pending is not None
            rows = await pending
            pending = (asyncio.ensure_future(_read_chunk(conn, low + chunk, low + 2 * chunk))
                       if low + chunk < size else None)
            computed = [sha256(prefix + row[1]).digest() for row in rows]
            regular = bool(rows) and rows[0][0] == expected and rows[-1][0] == expected + len(rows) - 1
            if not regular or computed != [row[2] for row in rows] or computed != [row[3] for row in rows]:
                problems += _chunk_problems(rows, computed, expected)
            if checkpoint_size is not None and accumulator.size < checkpoint_size <= accumulator.size + len(computed):
                split = checkpoint_size - accumulator.size
                accumulator.extend(computed[:split])
                checkpoint_root = accumulator.root()
                accumulator.extend(computed[split:])
            else:
                accumulator.extend(computed)
            if rows:
                expected = rows[-1][0] + 1
    finally:
        if pending is not None:
            pending.cancel()
    if checkpoint is not None:
        if checkpoint_size > accumulator.size:
            problems.append({"index": accumulator.size, "problem":
                             f"checkpoint covers {checkpoint_size} entries, log has {accumulator.size}"})
        elif checkpoint_root != bytes(checkpoint.root_hash):
            problems.append({"index": None, "problem": "recomputed root differs from the signed checkpoint"})
    return VerifyReport(tree_size=accumulator.size, root_hash=accumulator.root(), problems=problems[:max_problems],
                        checkpoint_size=checkpoint_size)
