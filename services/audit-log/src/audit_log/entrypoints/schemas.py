"""HTTP schemas of audit-log (response bodies; the API takes query parameters only).

Times are ISO 8601 text with an explicit `+00:00`, and hashes hex, as the auditors' verifier reads them.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel

from audit_log.domain.model import StoredEntry, VerifyReport
from audit_log.service_layer.handlers import ConsistencyProof, InclusionProof


class EntryPublic(BaseModel):
    """One entry with its canonical bytes (base64), leaf hash and event (null once redacted)."""

    index: int
    event_id: str
    type: str
    source: str
    subject: str
    actor: str
    event_time: str
    integrated_at: str
    leaf_hash: str
    canonical: str
    redacted: bool
    event: dict[str, Any] | None

    @classmethod
    def of(cls, entry: StoredEntry) -> EntryPublic:
        return cls(
            index=entry.index,
            event_id=entry.event_id,
            type=entry.event_type,
            source=entry.source,
            subject=entry.subject_pseudonym,
            actor=entry.actor,
            event_time=entry.event_time.isoformat(),
            integrated_at=entry.integrated_at.isoformat(),
            leaf_hash=entry.leaf_hash.hex(),
            canonical=base64.b64encode(entry.canonical).decode(),
            redacted=entry.event is None,
            event=entry.event,
        )


class EntryPage(BaseModel):
    """A page of entries, oldest first; `next_cursor` is null on the last page."""

    items: list[EntryPublic]
    next_cursor: str | None


def export_fields(entry: StoredEntry) -> dict[str, Any]:
    """Returns the fields of an exported entry (NDJSON object, CSV row), in the export's column order."""
    return {
        "index": entry.index,
        "event_id": entry.event_id,
        "type": entry.event_type,
        "subject": entry.subject_pseudonym,
        "actor": entry.actor,
        "event_time": entry.event_time.isoformat(),
        "leaf_hash": entry.leaf_hash.hex(),
        "canonical": base64.b64encode(entry.canonical).decode(),
    }


EXPORT_COLUMNS = ["index", "event_id", "type", "subject", "actor", "event_time", "leaf_hash", "canonical"]


class PublicKeyPublic(BaseModel):
    """The checkpoint signing key: as a note verifier key, and raw."""

    origin: str
    key_name: str
    vkey: str
    public_key_hex: str


class InclusionProofPublic(BaseModel):
    """An RFC 9162 audit path, hex."""

    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]
    root_hash: str

    @classmethod
    def of(cls, proof: InclusionProof) -> InclusionProofPublic:
        return cls(
            index=proof.index,
            tree_size=proof.tree_size,
            leaf_hash=proof.leaf_hash.hex(),
            audit_path=[h.hex() for h in proof.audit_path],
            root_hash=proof.root_hash.hex(),
        )


class ConsistencyProofPublic(BaseModel):
    """An RFC 9162 consistency path and both roots, hex."""

    first: int
    second: int
    consistency_path: list[str]
    first_root: str
    second_root: str

    @classmethod
    def of(cls, proof: ConsistencyProof) -> ConsistencyProofPublic:
        return cls(
            first=proof.first,
            second=proof.second,
            consistency_path=[h.hex() for h in proof.consistency_path],
            first_root=proof.first_root.hex(),
            second_root=proof.second_root.hex(),
        )


class ProblemPublic(BaseModel):
    """Where verification failed (null: the whole tree) and how."""

    index: int | None
    problem: str


class VerifyReportPublic(BaseModel):
    """The outcome of a full recomputation of the log."""

    ok: bool
    tree_size: int
    root_hash: str
    first_bad_index: int | None
    problems: list[ProblemPublic]
    checkpoint_size: int | None

    @classmethod
    def of(cls, report: VerifyReport) -> VerifyReportPublic:
        return cls(
            ok=not report.problems,
            tree_size=report.tree_size,
            root_hash=report.root_hash.hex(),
            first_bad_index=report.first_bad_index,
            problems=[ProblemPublic(index=p.index, problem=p.problem) for p in report.problems],
            checkpoint_size=report.checkpoint_size,
        )
