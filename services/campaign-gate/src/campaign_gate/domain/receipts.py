"""Check receipts as Merkle chunks: a receipt's canonical bytes, a chunk's RFC 9162 tree and proofs.

A check's receipts are cut, in check order, into chunks of at most RECEIPT_CHUNK. Each chunk is an
RFC 9162 tree whose leaves are the receipts' canonical bytes; the audit log receives one event per
chunk, whose id is the SHA-256 of the chunk's header (so the id the log keeps in the clear commits to
the root). The hashing and the header's encoding are vigie_verify's, the auditors' verifier, so the
gate and the verifier cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from vigie_verify import merkle
from vigie_verify.receipt import CHUNK_EVENT_TYPE, chunk_event_id

__all__ = [
    "CHUNK_EVENT_TYPE",
    "RECEIPT_CHUNK",
    "ChunkHeader",
    "ChunkTree",
    "chunk_event_id",
    "chunk_receipt_bytes",
    "chunk_root",
    "receipt_bytes",
    "timestamp",
]

#: Receipts per chunk, at most: 10^6 recipients make 200 audit entries, a proof is 13 hashes.
RECEIPT_CHUNK = 5000


def timestamp(at: datetime) -> str:
    """Returns the text a receipt and its chunk carry for a time: ISO 8601 in UTC, as events spell it."""
    return at.astimezone(UTC).isoformat()


def receipt_bytes(
    *,
    check_id: str,
    campaign_id: str,
    campaign_version: int,
    ruleset_version: str,
    at: str,
    contact_id: str,
    decision: str,
    reasons: Sequence[Mapping[str, str]],
    evidence: Sequence[str],
) -> bytes:
    """Returns a receipt's canonical bytes: UTF-8 JSON, keys sorted at every level, no spaces.

    The same values always give the same bytes, so the gate can rebuild a chunk's leaves from its
    stored receipts to prove one of them, and an auditor hashes the bytes as served.
    """
    receipt = {"contact_id": contact_id, "decision": decision, "reasons": reasons, "evidence": evidence}
    return chunk_receipt_bytes(
        check_id=check_id,
        campaign_id=campaign_id,
        campaign_version=campaign_version,
        ruleset_version=ruleset_version,
        at=at,
        receipts=[receipt],
    )[0]


def chunk_receipt_bytes(
    *,
    check_id: str,
    campaign_id: str,
    campaign_version: int,
    ruleset_version: str,
    at: str,
    receipts: Iterable[Mapping[str, Any]],
) -> list[bytes]:
    """Returns the canonical bytes of receipts of one check decided at one time (`receipt_bytes` each).

    Each receipt maps contact_id, decision, reasons and evidence (other keys are ignored). The fields
    the receipts share are encoded once: every object key sorts after `check_id` and before
    `ruleset_version`, so each receipt's own four fields are spliced between a common head and tail.
    """
    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    head = (
        dumps(
            {
                "at": at,
                "campaign_id": campaign_id,
                "campaign_version": campaign_version,
                "check_id": check_id,
            },
            option=sort,
        )[:-1]
        + b","
    )
    tail = b"," + dumps({"ruleset_version": ruleset_version})[1:]
    return [
        head
        + dumps(
            {
                "contact_id": r["contact_id"],
                "decision": r["decision"],
                "evidence": r["evidence"],
                "reasons": r["reasons"],
            },
            option=sort,
        )[1:-1]
        + tail
        for r in receipts
    ]


@dataclass(frozen=True)
class ChunkHeader:
    """What the audit log's entry of a chunk commits to: the check, the chunk's place and its root."""

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    chunk: int
    first_index: int
    count: int
    root: bytes
    at: str

    def fields(self) -> dict[str, Any]:
        """Returns the header as the JSON fields its event id hashes (root in hex)."""
        return {
            "at": self.at,
            "campaign_id": self.campaign_id,
            "campaign_version": self.campaign_version,
            "check_id": self.check_id,
            "chunk": self.chunk,
            "count": self.count,
            "first_index": self.first_index,
            "root": self.root.hex(),
            "ruleset_version": self.ruleset_version,
        }

    @property
    def event_id(self) -> str:
        """Returns the id of the chunk's event: SHA-256 (hex) of the header's canonical bytes."""
        return chunk_event_id(self.fields())


class ChunkTree:
    """The RFC 9162 tree over one chunk's receipts, in order: its root, size and inclusion proofs."""

    def __init__(self, receipts: Iterable[bytes]) -> None:
        self._store = merkle.InMemoryNodeStore()
        self._store.append([merkle.leaf_hash(r) for r in receipts])

    @property
    def count(self) -> int:
        """Returns the number of receipts (the tree size)."""
        return self._store.size

    @property
    def root(self) -> bytes:
        """Returns the root hash."""
        return merkle.root_hash(self._store.size, self._store.get_node)

    def proof(self, index: int) -> list[bytes]:
        """Returns the inclusion proof of the receipt at `index` (TreeRangeError outside the chunk)."""
        return merkle.inclusion_proof(index, self._store.size, self._store.get_node)


def chunk_root(receipts: Iterable[bytes]) -> bytes:
    """Returns the root of a chunk's tree without keeping its nodes (what a check needs)."""
    return merkle.root_from_leaf_hashes([merkle.leaf_hash(r) for r in receipts])
