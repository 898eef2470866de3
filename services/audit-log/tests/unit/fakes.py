"""In-memory fakes of audit-log's ports (the log store and its unit of work), for the handlers' tests.

The fake log is a real Merkle log (vigie_verify's node arithmetic over a dict): proofs and roots it
returns verify. Sealing is modelled by key generations: an entry is readable while its subject's key
generation at sealing time still exists, and an erasure destroys the generation.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from audit_log.adapters.repository import AbstractLogRepository
from audit_log.domain.model import (
    AuditEntry,
    EntrySelection,
    Problem,
    SignedCheckpoint,
    SignerKey,
    StoredEntry,
    VerifyReport,
)
from audit_log.service_layer.unit_of_work import AbstractAuditUnitOfWork
from shared.events import EventEnvelope
from vigie_verify import merkle

T = TypeVar("T")
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


@dataclass
class LogState:
    """Everything the fake log holds (copied per transaction, replaced on commit)."""

    entries: list[tuple[AuditEntry, bytes, tuple[str, int]]] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    checkpoints: list[SignedCheckpoint] = field(default_factory=list)
    #: The live key generation of each subject (absent once shredded).
    keys: dict[str, int] = field(default_factory=dict)
    generations: int = 0


def pseudonym(subject: str) -> str:
    """The fake's subject pseudonym."""
    return f"p:{subject}"


class FakeLogRepository(AbstractLogRepository):
    """The log in memory; `committed_calls` counts the unit of work's post-commit notices."""

    def __init__(self, state: LogState) -> None:
        self.state = state
        self.committed_calls = 0

    def committed(self) -> None:
        self.committed_calls += 1

    async def append(
        self,
        events: Sequence[tuple[EventEnvelope, bytes]],
        *,
        shred_after: Callable[[EventEnvelope], bool],
        at: datetime,
    ) -> list[AuditEntry]:
        s = self.state
        known = {entry.event_id for entry, _, _ in s.entries}
        new: list[AuditEntry] = []
        for envelope, raw in events:
            if envelope.id in known:
                continue
            known.add(envelope.id)
            p = pseudonym(envelope.subject)
            if shred_after(envelope):
                s.keys.pop(p, None)
            if p not in s.keys:
                s.generations += 1
                s.keys[p] = s.generations
            entry = AuditEntry(
                index=len(s.entries),
                event_id=envelope.id,
                event_type=envelope.type,
                source=envelope.source,
                subject_pseudonym=p,
                actor=envelope.actor,
                event_time=envelope.time,
                integrated_at=at,
                sealed_event=raw,
            )
            s.entries.append((entry, entry.canonical_bytes(), (p, s.keys[p])))
            new.append(entry)
        if new:
            store = merkle.InMemoryNodeStore()
            store.size, store._nodes = len(s.entries) - len(new), s.nodes  # noqa: SLF001 - the fake's own store.
            store.append([merkle.leaf_hash(canonical) for _, canonical, _ in s.entries[-len(new) :]])
        return new

    async def size(self) -> int:
        return len(self.state.entries)

    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        return self.state.checkpoints[-1] if self.state.checkpoints else None

    async def add_checkpoint(self, *, tree_size: int, root_hash: bytes, at: datetime) -> SignedCheckpoint:
        signed = SignedCheckpoint(
            tree_size=tree_size,
            root_hash=root_hash,
            note=f"fake checkpoint {tree_size} {root_hash.hex()}",
            signed_at=at,
        )
        self.state.checkpoints.append(signed)
        return signed

    async def with_nodes(self, compute: Callable[[merkle.GetNode], T]) -> T:
        def get(level: int, index: int) -> bytes:
            try:
                return self.state.nodes[(level, index)]
            except KeyError:
                raise merkle.MissingNodeError(f"node ({level}, {index}) is not stored") from None

        return compute(get)

    def signer(self) -> SignerKey:
        return SignerKey(
            origin="fake.example/log", key_name="fake", vkey="fake+00000000+AA==", public_key=b"\0" * 32
        )

    def _stored(self, row: tuple[AuditEntry, bytes, tuple[str, int]], *, opened: bool) -> StoredEntry:
        entry, canonical, (p, generation) = row
        readable = opened and self.state.keys.get(p) == generation
        return StoredEntry(
            index=entry.index,
            event_id=entry.event_id,
            event_type=entry.event_type,
            source=entry.source,
            subject_pseudonym=p,
            actor=entry.actor,
            event_time=entry.event_time,
            integrated_at=entry.integrated_at,
            leaf_hash=merkle.leaf_hash(canonical),
            canonical=canonical,
            event=EventEnvelope.decode(entry.sealed_event).model_dump(mode="json") if readable else None,
        )

    def _selected(self, selection: EntrySelection) -> list[tuple[AuditEntry, bytes, tuple[str, int]]]:
        def wanted(entry: AuditEntry) -> bool:
            return (
                (selection.subject is None or entry.subject_pseudonym == pseudonym(selection.subject))
                and (selection.event_type is None or entry.event_type == selection.event_type)
                and (selection.actor is None or entry.actor == selection.actor)
                and (selection.since is None or entry.event_time >= selection.since)
                and (selection.until is None or entry.event_time < selection.until)
                and (selection.event_id is None or entry.event_id == selection.event_id)
            )

        return [row for row in self.state.entries if wanted(row[0])]

    async def find(
        self, selection: EntrySelection, *, from_index: int | None, limit: int
    ) -> list[StoredEntry]:
        rows = [row for row in self._selected(selection) if from_index is None or row[0].index >= from_index]
        return [self._stored(row, opened=True) for row in rows[:limit]]

    async def get(self, index: int) -> StoredEntry | None:
        rows = self.state.entries
        return self._stored(rows[index], opened=True) if 0 <= index < len(rows) else None

    async def stream(self, selection: EntrySelection) -> AsyncIterator[StoredEntry]:
        for row in self._selected(selection):
            yield self._stored(row, opened=False)

    async def verify(self, *, chunk: int, max_problems: int) -> VerifyReport:
        leaves = [merkle.leaf_hash(canonical) for _, canonical, _ in self.state.entries]
        problems = [
            Problem(n, "entry does not match its leaf hash in the tree")
            for n, leaf in enumerate(leaves)
            if self.state.nodes.get((0, n)) != leaf
        ]
        latest = self.state.checkpoints[-1] if self.state.checkpoints else None
        return VerifyReport(
            tree_size=len(leaves),
            root_hash=merkle.root_from_leaf_hashes(leaves),
            problems=problems[:max_problems],
            checkpoint_size=latest.tree_size if latest else None,
        )


class FakeUnitOfWork(AbstractAuditUnitOfWork):
    """A transaction on a copy of the fake log's state: commit replaces the state, else it is dropped."""

    def __init__(self, state: LogState | None = None, *, clock: Callable[[], datetime] = lambda: T0) -> None:
        self.state = state or LogState()
        self.clock = clock
        self.commits = 0
        self.log: FakeLogRepository

    async def __aenter__(self) -> FakeUnitOfWork:
        self.log = FakeLogRepository(copy.deepcopy(self.state))
        return await super().__aenter__()

    async def _commit(self) -> None:
        self.state.__dict__.update(self.log.state.__dict__)
        self.commits += 1

    async def rollback(self) -> None:
        pass


def envelope(
    subject: str,
    *,
    type_: str = "vigie.contacts.contact_updated.v1",
    actor: str = "crm/alice",
    at: datetime = T0,
    **data: Any,
) -> EventEnvelope:
    """Returns an envelope for the handlers' tests (the integration tests use the producers' own events)."""
    return EventEnvelope(
        source="/vigie/contacts",
        type=type_,
        subject=subject,
        actor=actor,
        time=at,
        data=data or {"contact_id": subject},
    )
