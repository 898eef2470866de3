"""The Merkle log on SQL: group-committed appends, stored subtree hashes, checkpoints, crypto-shredding."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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


class SubjectShreddedError(Exception):
    """The subject's key was destroyed; its sealed events can no longer be read."""


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
        t = orm.tree_nodes
        clauses = [sa.and_(t.c.level == level, t.c.idx == index) for level, index in missing]
        for chunk in range(0, len(clauses), 500):
            rows = await conn.execute(sa.select(t.c.level, t.c.idx, t.c.hash).where(sa.or_(*clauses[chunk:chunk + 500])))
            nodes.update({(row.level, row.idx): bytes(row.hash) for row in rows})

    def _get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise merkle.MissingNodeError(f"node ({level}, {index}) is not stored") from None

    return compute(_get)


@dataclass
class LogKeys:
    """The keys of the log: checkpoint signing, subject-key wrapping and subject pseudonyms."""

    signing_key: Ed25519PrivateKey
    key_name: str
    origin: str
    key_ring: KeyRing
    pseudonym_key: bytes

    def pseudonym(self, subject: str) -> str:
        """Returns the keyed pseudonym under which a subject's entries are filed."""
        return hmac.new(self.pseudonym_key, subject.encode(), hashlib.sha256).hexdigest()[:40]

    def vkey(self) -> str:
        """Returns the note verifier key auditors pin."""
        return verifier_key(self.signing_key.public_key(), self.key_name)


class LogStore:
    """Appends events to the log and reads it back; one writer (the consumer) at a time."""

    def __init__(self, keys: LogKeys) -> None:
        self.keys = keys

    async def size(self, conn: AsyncConnection) -> int:
        """Returns the number of entries."""
        value = (await conn.execute(sa.select(sa.func.max(orm.entries.c.idx)))).scalar()
        return 0 if value is None else int(value) + 1

    async def _subject_key(self, conn: AsyncConnection, pseudonym: str, cache: dict[str, bytes]) -> bytes:
        if pseudonym in cache:
            return cache[pseudonym]
        wrapped = (await conn.execute(sa.select(orm.subject_keys.c.wrapped_key).where(
            orm.subject_keys.c.subject == pseudonym))).scalar()
        if wrapped is None:
            data_key = self.keys.key_ring.new_data_key()
            await conn.execute(orm.subject_keys.insert().values(subject=pseudonym, wrapped_key=data_key.wrapped,
                                                                created_at=datetime.now(UTC)))
            cache[pseudonym] = data_key.plaintext
        else:
            cache[pseudonym] = self.keys.key_ring.unwrap(bytes(wrapped))
        return cache[pseudonym]

    async def shred_subject(self, conn: AsyncConnection, *, subject: str, event_id: str) -> None:
        """Destroys a subject's key: its sealed events become unreadable, the tree is untouched."""
        pseudonym = self.keys.pseudonym(subject)
        await conn.execute(orm.subject_keys.delete().where(orm.subject_keys.c.subject == pseudonym))
        exists = (await conn.execute(sa.select(orm.shredded_subjects.c.subject).where(
            orm.shredded_subjects.c.subject == pseudonym))).first()
        if exists is None:
            await conn.execute(orm.shredded_subjects.insert().values(
                subject=pseudonym, shredded_at=datetime.now(UTC), event_id=event_id))

    async def append(self, conn: AsyncConnection, events: Sequence[tuple[EventEnvelope, bytes]], *,
                     shred_after: Callable[[EventEnvelope], bool]) -> list[AuditEntry]:
        """Appends events not yet in the log, in order, with their Merkle nodes; returns the new entries.

        Duplicates (same event id, in the log or earlier in the batch) are skipped, which makes the
        consumer idempotent. An event for which `shred_after` is true destroys its subject's key
        before it is sealed, so the erasure itself stays readable.
        """
        ids = [envelope.id for envelope, _ in events]
        known = set((await conn.execute(sa.select(orm.entries.c.event_id).where(
            orm.entries.c.event_id.in_(ids)))).scalars()) if ids else set()
        start = await self.size(conn)
        now = datetime.now(UTC)
        keys: dict[str, bytes] = {}
        new: list[AuditEntry] = []
        rows: list[dict[str, Any]] = []
        for envelope, raw in events:
            if envelope.id in known:
                continue
            known.add(envelope.id)
            pseudonym = self.keys.pseudonym(envelope.subject)
            if shred_after(envelope):
                await self.shred_subject(conn, subject=envelope.subject, event_id=envelope.id)
                keys.pop(pseudonym, None)
            dek = await self._subject_key(conn, pseudonym, keys)
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
        if not rows:
            return []
        leaf_hashes = [row["leaf_hash"] for row in rows]
        nodes = await with_stored_nodes(conn, lambda get: merkle.complete_nodes_for_append(
            start_size=start, new_leaf_hashes=leaf_hashes, get_node=get))
        await conn.execute(orm.entries.insert(), rows)
        await conn.execute(orm.tree_nodes.insert(), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])
        return new

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

    async def open_event(self, conn: AsyncConnection, row: Any) -> dict[str, Any] | None:
        """Returns the event an entry holds, or None if its subject was shredded."""
        wrapped = (await conn.execute(sa.select(orm.subject_keys.c.wrapped_key).where(
            orm.subject_keys.c.subject == row.subject))).scalar()
        if wrapped is None:
            return None
        try:
            dek = self.keys.key_ring.unwrap(bytes(wrapped))
            raw = decrypt_value(dek, bytes(row.sealed_event), associated_data=row.event_id.encode())
        except Exception:  # noqa: BLE001 - sealed under an older, destroyed key of the same subject.
            return None
        return EventEnvelope.decode(raw).model_dump(mode="json")


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
