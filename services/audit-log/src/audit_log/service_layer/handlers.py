"""Use cases of audit-log: integrate a batch of events, sign a checkpoint (each commits once), and the
auditors' reads (entries, checkpoints, proofs, exports, full verification)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.events import EventEnvelope
from vigie_verify import merkle

from audit_log import contracts
from audit_log.domain.errors import EntryNotFoundError, NoCheckpointError, ProofOutOfRangeError
from audit_log.domain.model import (
    AuditEntry,
    EntrySelection,
    SignedCheckpoint,
    SignerKey,
    StoredEntry,
    VerifyReport,
)
from audit_log.service_layer import commands
from audit_log.service_layer.unit_of_work import AbstractAuditUnitOfWork


def _is_erasure(envelope: EventEnvelope) -> bool:
    return envelope.type == contracts.CONTACT_ERASED


async def integrate_events(
    cmd: commands.IntegrateEvents, uow: AbstractAuditUnitOfWork
) -> Sequence[AuditEntry]:
    """Appends the events in one transaction (group commit); an erasure shreds its subject first."""
    async with uow:
        entries = await uow.log.append(cmd.events, shred_after=_is_erasure, at=uow.clock())
        await uow.commit()
    return entries


async def sign_checkpoint(
    cmd: commands.SignCheckpoint, uow: AbstractAuditUnitOfWork
) -> SignedCheckpoint | None:
    """Signs a checkpoint of the current tree if it grew, after proving it extends the last one."""
    async with uow:
        size = await uow.log.size()
        previous = await uow.log.latest_checkpoint()
        if size == 0 or (previous is not None and previous.tree_size >= size):
            return None
        root = await uow.log.with_nodes(lambda get: merkle.root_hash(size, get))
        if previous is not None:
            proof = await uow.log.with_nodes(
                lambda get: merkle.consistency_proof(previous.tree_size, size, get)
            )
            # Because a checkpoint that is not an extension of the last one would be a fork.
            merkle.verify_consistency(
                first=previous.tree_size,
                second=size,
                first_root=previous.root_hash,
                second_root=root,
                proof=proof,
            )
        signed = await uow.log.add_checkpoint(tree_size=size, root_hash=root, at=uow.clock())
        await uow.commit()
    return signed


@dataclass(frozen=True)
class LogStatus:
    """The tree size and when the latest checkpoint was signed (None before the first)."""

    size: int
    last_signed_at: datetime | None


async def log_status(uow: AbstractAuditUnitOfWork) -> LogStatus:
    """Returns the tree size and the latest checkpoint's time."""
    async with uow:
        size = await uow.log.size()
        latest = await uow.log.latest_checkpoint()
    return LogStatus(size=size, last_signed_at=latest.signed_at if latest is not None else None)


@dataclass(frozen=True)
class EntryPage:
    """A page of entries and the cursor of the next page (None on the last)."""

    items: list[StoredEntry]
    next_cursor: int | None


async def list_entries(query: commands.ListEntries, uow: AbstractAuditUnitOfWork) -> EntryPage:
    """Returns a page of selected entries, oldest first, with their events (None once shredded)."""
    async with uow:
        found = await uow.log.find(query.selection, from_index=query.cursor, limit=query.limit + 1)
    return EntryPage(
        items=found[: query.limit], next_cursor=found[query.limit].index if len(found) > query.limit else None
    )


async def get_entry_or_raise(index: int, uow: AbstractAuditUnitOfWork) -> StoredEntry:
    """Returns the entry at an index, or raises EntryNotFoundError."""
    async with uow:
        entry = await uow.log.get(index)
    if entry is None:
        raise EntryNotFoundError(index)
    return entry


async def latest_checkpoint_or_raise(uow: AbstractAuditUnitOfWork) -> SignedCheckpoint:
    """Returns the latest signed checkpoint, or raises NoCheckpointError while the log is empty."""
    async with uow:
        latest = await uow.log.latest_checkpoint()
    if latest is None:
        raise NoCheckpointError()
    return latest


async def signer_key(uow: AbstractAuditUnitOfWork) -> SignerKey:
    """Returns the key checkpoints are signed with."""
    async with uow:
        return uow.log.signer()


@dataclass(frozen=True)
class InclusionProof:
    """The RFC 9162 audit path of an entry in a tree, with the leaf and the root it leads to."""

    index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]
    root_hash: bytes


async def prove_inclusion(query: commands.ProveInclusion, uow: AbstractAuditUnitOfWork) -> InclusionProof:
    """Returns the audit path of an entry; ProofOutOfRangeError outside the tree or the log."""
    index, tree_size = query.index, query.tree_size
    if index >= tree_size:
        raise ProofOutOfRangeError("index must be below tree_size")
    async with uow:
        try:
            # Because one query for every node the path, the root and the leaf need keeps a proof one
            # round trip; a tree larger than the log lacks stored nodes, which is how it is refused.
            path, root, leaf = await uow.log.with_nodes(
                lambda get: (
                    merkle.inclusion_proof(index, tree_size, get),
                    merkle.root_hash(tree_size, get),
                    get(0, index),
                )
            )
        except merkle.MissingNodeError:
            raise ProofOutOfRangeError("tree_size must be at most the log's size") from None
    return InclusionProof(index=index, tree_size=tree_size, leaf_hash=leaf, audit_path=path, root_hash=root)


@dataclass(frozen=True)
class ConsistencyProof:
    """The RFC 9162 consistency path between two tree sizes, with both roots."""

    first: int
    second: int
    consistency_path: list[bytes]
    first_root: bytes
    second_root: bytes


async def prove_consistency(
    query: commands.ProveConsistency, uow: AbstractAuditUnitOfWork
) -> ConsistencyProof:
    """Returns the consistency path between two tree sizes; ProofOutOfRangeError outside the log."""
    first, second = query.first, query.second
    if first > second:
        raise ProofOutOfRangeError("first must be at most second")
    async with uow:
        try:
            path, first_root, second_root = await uow.log.with_nodes(
                lambda get: (
                    merkle.consistency_proof(first, second, get),
                    merkle.root_hash(first, get),
                    merkle.root_hash(second, get),
                )
            )
        except merkle.MissingNodeError:
            raise ProofOutOfRangeError("second must be at most the log's size") from None
    return ConsistencyProof(
        first=first, second=second, consistency_path=path, first_root=first_root, second_root=second_root
    )


async def export_entries(
    selection: EntrySelection, uow: AbstractAuditUnitOfWork
) -> AsyncIterator[StoredEntry]:
    """Yields the selected entries oldest first, without their events, in one read transaction."""
    async with uow:
        async for entry in uow.log.stream(selection):
            yield entry


async def verify_log(
    uow: AbstractAuditUnitOfWork, *, chunk: int = 20_000, max_problems: int = 100
) -> VerifyReport:
    """Recomputes every leaf and the root from the canonical bytes; names bad indices, gaps and duplicates."""
    async with uow:
        return await uow.log.verify(chunk=chunk, max_problems=max_problems)
