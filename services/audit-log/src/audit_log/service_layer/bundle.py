"""The proof-of-consent bundle of one person: every audit-log entry filed under them and every gate
receipt of theirs, each with its proof down to ONE signed checkpoint, signed as a whole.

The checkpoint is the latest one when the bundle is assembled, read first: the person's entries at
or beyond its size (appended since, at most a checkpoint interval ago) are left out and only counted
(`covers.counts.after_checkpoint`), because only the single writer signs checkpoints and a proof
needs a signed root. Every proof is computed at that checkpoint's size over stored nodes, which never
change, so the two read transactions (before and after the gate is asked) agree.

The format, the canonical bytes the signature covers and the signing are `vigie_verify.bundle`'s, the
auditors' verifier, so the log and the verifier cannot drift apart. The bundle is signed with the
log's checkpoint key, domain-separated (`vigie_verify.bundle.SIGNATURE_DOMAIN`): auditors pin one key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.envelope_crypto import decrypt_value
from vigie_verify import merkle
from vigie_verify.bundle import ERASURE_EVENT_TYPE, FORMAT, sign_bundle
from vigie_verify.entries import canonical_document

from audit_log.adapters.receipts_client import AbstractGateReceipts
from audit_log.adapters.repository import AbstractLogRepository, LogKeys
from audit_log.adapters.subject_keys import subject_data_key
from audit_log.domain.errors import AuditLogError, NoCheckpointError
from audit_log.domain.model import EntrySelection, StoredEntry
from audit_log.service_layer.unit_of_work import AbstractAuditUnitOfWork

#: Reads a subject's pseudonym and live data key in the log's transaction.
SubjectKeyReader = Callable[[AbstractLogRepository, str], Awaitable[tuple[str, "bytes | None"]]]


class NothingAboutSubjectError(AuditLogError):
    """The log holds no entry about the subject below its latest checkpoint."""

    def __init__(self, subject_id: str, *, later: int) -> None:
        detail = (
            f"{later} entries about this subject are not yet covered by a signed checkpoint; retry shortly"
            if later
            else "the log holds no entry about this subject"
        )
        super().__init__(detail)
        self.subject_id = subject_id
        self.later = later


class BundleTooLargeError(AuditLogError):
    """The person has more entries than one bundle holds (`AUDIT_LOG_BUNDLE_MAX_ITEMS`)."""


@dataclass(frozen=True)
class BuildProofBundle:
    """Assemble and sign the proof bundle of one subject (the contact id)."""

    subject_id: str
    max_items: int = 20_000


def _opened(entry: StoredEntry, document: dict[str, Any], key: bytes | None) -> Any:
    """Returns the event an entry sealed, parsed from its published bytes; None if it does not open."""
    if key is None:
        return None
    try:
        sealed = base64.b64decode(document["sealed_event"], validate=True)
        raw = decrypt_value(key, sealed, associated_data=entry.event_id.encode())
    except Exception:  # noqa: BLE001 - sealed under an older key of the subject, destroyed by an erasure.
        return None
    return json.loads(raw)


async def _paths(log: AbstractLogRepository, indices: list[int], size: int) -> list[list[str]]:
    """Returns the audit paths (hex) of entries in the tree of `size`, over stored nodes in one read."""
    paths = await log.with_nodes(lambda get: [merkle.inclusion_proof(i, size, get) for i in indices])
    return [[node.hex() for node in path] for path in paths]


def _unproven(receipt: dict[str, Any], why: str) -> dict[str, Any]:
    """Returns what a bundle lists of a receipt it cannot prove: the decision, never a proof."""
    keep = (
        "contact_id",
        "check_id",
        "campaign_id",
        "campaign_version",
        "ruleset_version",
        "decision",
        "reasons",
        "evidence",
        "at",
        "checked_at",
        "chunk",
    )
    return {**{k: receipt[k] for k in keep if k in receipt}, "why": why}


async def build_proof_bundle(
    cmd: BuildProofBundle,
    uow_factory: Callable[[], AbstractAuditUnitOfWork],
    gate: AbstractGateReceipts,
    *,
    keys: LogKeys,
    now: datetime,
    subject_keys: SubjectKeyReader = subject_data_key,
) -> dict[str, Any]:
    """Returns the signed proof bundle of a subject.

    Raises NoCheckpointError (empty log), NothingAboutSubjectError, BundleTooLargeError, the gate
    client's GateUnavailableError, and TamperedEntryError for an entry that fails its own checks.
    """
    subject_id = cmd.subject_id
    async with uow_factory() as uow:
        checkpoint = await uow.log.latest_checkpoint()
        if checkpoint is None:
            raise NoCheckpointError()
        size = checkpoint.tree_size
        entries: list[StoredEntry] = []
        later = 0
        async for entry in uow.log.stream(EntrySelection(subject=subject_id)):
            if entry.index >= size:
                later += 1
                continue
            entries.append(entry)
            if len(entries) > cmd.max_items:
                raise BundleTooLargeError(f"the subject has more than {cmd.max_items} entries")
        if not entries:
            raise NothingAboutSubjectError(subject_id, later=later)
        pseudonym, key = await subject_keys(uow.log, subject_id)
        paths = await _paths(uow.log, [e.index for e in entries], size)

    listed: list[dict[str, Any]] = []
    erased = False
    readable = 0
    for entry, path in zip(entries, paths, strict=True):
        document = canonical_document(entry.canonical)
        event = _opened(entry, document, key)
        readable += event is not None
        erased = erased or entry.event_type == ERASURE_EVENT_TYPE
        listed.append(
            {
                "index": entry.index,
                "type": entry.event_type,
                "actor": entry.actor,
                "event_time": entry.event_time.isoformat(),
                "canonical": base64.b64encode(entry.canonical).decode(),
                "audit_path": path,
                "event": event,
            }
        )

    proofs, without_chunk = await gate.proven_receipts(subject_id, limit=cmd.max_items)

    receipts: list[dict[str, Any]] = []
    pending = [
        _unproven(r, "decided before receipts were committed in chunks: no proof route")
        for r in without_chunk
    ]
    chunk_entries: dict[int, StoredEntry] = {}
    async with uow_factory() as uow:
        for proof in proofs:
            event_id = str(proof["chunk"]["event_id"])
            found = await uow.log.find(EntrySelection(event_id=event_id), from_index=None, limit=1)
            if not found:
                pending.append(_unproven(proof, "its chunk is not yet in the audit log"))
            elif found[0].index >= size:
                pending.append(_unproven(proof, "its chunk's audit entry came after the checkpoint"))
            else:
                chunk_entries[found[0].index] = found[0]
                receipts.append({**proof, "chunk_entry": found[0].index})
        indices = sorted(chunk_entries)
        chunk_paths = await _paths(uow.log, indices, size) if indices else []

    bundle = {
        "format": FORMAT,
        "covers": {
            "subject_id": subject_id,
            "subject": pseudonym,
            "log": keys.origin,
            "checkpoint": {"size": size, "root": checkpoint.root_hash.hex()},
            "generated_at": now.isoformat(),
            "erased": erased,
            "counts": {
                "entries": len(listed),
                "readable": readable,
                "redacted": len(listed) - readable,
                "receipts": len(receipts),
                "chunk_entries": len(indices),
                "receipts_pending": len(pending),
                "after_checkpoint": later,
            },
        },
        "checkpoint": checkpoint.note,
        "subject_key": None if key is None else base64.b64encode(key).decode(),
        "entries": listed,
        "receipts": receipts,
        "chunk_entries": [
            {
                "index": index,
                "type": chunk_entries[index].event_type,
                "canonical": base64.b64encode(chunk_entries[index].canonical).decode(),
                "audit_path": path,
            }
            for index, path in zip(indices, chunk_paths, strict=True)
        ],
        "receipts_pending": pending,
    }
    return sign_bundle(bundle, private_key=keys.signing_key, key_name=keys.key_name)
