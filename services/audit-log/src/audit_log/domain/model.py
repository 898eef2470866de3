"""The audit entry and its canonical bytes (what the Merkle leaf commits to), and what the log reads back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii as _string
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    """One event integrated into the log at a gap-free, 0-based index.

    The event's bytes are sealed under the subject's key before hashing, so that destroying the key
    (crypto-shredding) leaves the leaf, and thus every proof, intact while the content is gone.
    """

    index: int
    event_id: str
    event_type: str
    source: str
    subject_pseudonym: str
    actor: str
    event_time: datetime
    integrated_at: datetime
    sealed_event: bytes

    def canonical_bytes(self) -> bytes:
        """Returns the bytes the leaf hash commits to: sorted-key JSON without spaces."""
        return canonical_entry_bytes(
            index=self.index,
            event_id=self.event_id,
            event_type=self.event_type,
            source=self.source,
            subject_pseudonym=self.subject_pseudonym,
            actor=self.actor,
            event_time=self.event_time,
            integrated_at=self.integrated_at,
            sealed_event=self.sealed_event,
        )


def canonical_entry_bytes(
    *,
    index: int,
    event_id: str,
    event_type: str,
    source: str,
    subject_pseudonym: str,
    actor: str,
    event_time: datetime,
    integrated_at: datetime,
    sealed_event: bytes,
) -> bytes:
    """Returns the canonical encoding of an entry's fields (the auditors' verifier re-hashes these).

    The bytes are exactly `json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`,
    written out field by field because the keys are fixed and this runs once per appended entry.
    """
    return canonical_entry_text(
        index=index,
        event_id=event_id,
        event_type=event_type,
        source=source,
        subject_pseudonym=subject_pseudonym,
        actor=actor,
        event_time=event_time.isoformat(),
        integrated_at=integrated_at.isoformat(),
        sealed_event_b64=base64.b64encode(sealed_event).decode(),
    )


def canonical_entry_text(
    *,
    index: int,
    event_id: str,
    event_type: str,
    source: str,
    subject_pseudonym: str,
    actor: str,
    event_time: str,
    integrated_at: str,
    sealed_event_b64: str,
) -> bytes:
    """Returns the canonical encoding from the times' ISO 8601 text and the sealed event's base64 (the
    same bytes as `canonical_entry_bytes`; a batch formats a shared time once)."""
    return (
        f'{{"actor":{_string(actor)},"event_id":{_string(event_id)},"event_time":{_string(event_time)},'
        f'"event_type":{_string(event_type)},"index":{int(index)},'
        f'"integrated_at":{_string(integrated_at)},'
        f'"sealed_event":"{sealed_event_b64}",'
        f'"source":{_string(source)},"subject":{_string(subject_pseudonym)}}}'
    ).encode()


def reference_canonical_entry_bytes(
    *,
    index: int,
    event_id: str,
    event_type: str,
    source: str,
    subject_pseudonym: str,
    actor: str,
    event_time: datetime,
    integrated_at: datetime,
    sealed_event: bytes,
) -> bytes:
    """Returns the canonical encoding the plain way; the specification `canonical_entry_bytes` must match."""
    document = {
        "actor": actor,
        "event_id": event_id,
        "event_time": event_time.isoformat(),
        "event_type": event_type,
        "index": index,
        "integrated_at": integrated_at.isoformat(),
        "sealed_event": base64.b64encode(sealed_event).decode(),
        "source": source,
        "subject": subject_pseudonym,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class EntrySelection:
    """What an auditor selects entries by; every criterion given must hold (subject = the contact id)."""

    subject: str | None = None
    event_type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: The id of the event the entry holds (a campaign-gate receipt chunk is found by it).
    event_id: str | None = None


@dataclass(frozen=True)
class StoredEntry:
    """An entry as read back: its fields, canonical bytes and leaf hash, and its event unless shredded."""

    index: int
    event_id: str
    event_type: str
    source: str
    subject_pseudonym: str
    actor: str
    event_time: datetime
    integrated_at: datetime
    leaf_hash: bytes
    canonical: bytes
    #: The event the entry seals, opened with its subject's key; None once the subject was shredded.
    event: dict[str, Any] | None = None


@dataclass(frozen=True)
class SignedCheckpoint:
    """A signed statement of the tree's size and root (a C2SP tlog-checkpoint note)."""

    tree_size: int
    root_hash: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True)
class SignerKey:
    """The key checkpoints are signed with, as auditors pin it."""

    origin: str
    key_name: str
    vkey: str
    public_key: bytes


@dataclass(frozen=True)
class Problem:
    """One finding of a full verification: where (None: the whole tree) and what."""

    index: int | None
    problem: str


@dataclass
class VerifyReport:
    """The outcome of a full recomputation of the log."""

    tree_size: int
    root_hash: bytes
    problems: list[Problem]
    checkpoint_size: int | None

    @property
    def first_bad_index(self) -> int | None:
        return min((p.index for p in self.problems if p.index is not None), default=None)
