"""Reading receipts back: one receipt with its proof into its chunk's root, and a person's receipts.

The audit log holds one entry per chunk of a check's receipts (its root); the gate keeps the
receipts. A receipt is proven by rebuilding its chunk's tree from the stored receipts, checking the
rebuilt root against the one committed, and returning the receipt's audit path.
"""

from __future__ import annotations

import base64
from typing import Any

from vigie_verify.merkle import leaf_hash

from campaign_gate.domain.errors import NotFoundError
from campaign_gate.domain.receipts import CHUNK_EVENT_TYPE, ChunkTree, chunk_receipt_bytes, receipt_bytes
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork

#: The most receipts a person's listing returns (newest checks first).
MAX_RECEIPTS_OF_A_PERSON = 10_000


class ReceiptIntegrityError(Exception):
    """The stored receipts of a chunk no longer hash to the root the audit log holds (tampering)."""


def _bytes(check: dict[str, Any], receipt: dict[str, Any], at: str) -> bytes:
    return receipt_bytes(
        check_id=check["check_id"],
        campaign_id=check["campaign_id"],
        campaign_version=check["campaign_version"],
        ruleset_version=check["ruleset_version"],
        at=at,
        contact_id=receipt["contact_id"],
        decision=receipt["decision"],
        reasons=receipt["reasons"],
        evidence=receipt["evidence"],
    )


async def receipt_with_proof(check_id: str, contact_id: str, uow: AbstractGateUnitOfWork) -> dict[str, Any]:
    """Returns a receipt, its canonical bytes, its chunk and its inclusion proof into the chunk's root.

    NotFoundError when the check holds no receipt for the contact, or the receipt predates chunks.
    """
    async with uow:
        found = await uow.checks.get_receipt(check_id, contact_id)
        if found is None:
            raise NotFoundError(f"check {check_id} holds no receipt for contact {contact_id}")
        if found["chunk"] is None:
            raise NotFoundError(
                f"the receipt of contact {contact_id} in check {check_id} was decided before receipts were "
                "committed in chunks: its audit entry is its own recipient_checked event"
            )
        chunk = await uow.checks.get_chunk(check_id, found["chunk"])
        members = await uow.checks.chunk_receipts(check_id, found["chunk"])
    if chunk is None:
        raise ReceiptIntegrityError(f"chunk {found['chunk']} of check {check_id} is missing")
    at = chunk["at"]
    tree = ChunkTree(
        chunk_receipt_bytes(
            check_id=found["check_id"],
            campaign_id=found["campaign_id"],
            campaign_version=found["campaign_version"],
            ruleset_version=found["ruleset_version"],
            at=at,
            receipts=members,
        )
    )
    index = found["chunk_index"]
    if tree.count != chunk["count"] or tree.root != bytes(chunk["root"]):
        raise ReceiptIntegrityError(
            f"the stored receipts of chunk {chunk['chunk']} of check {check_id} no longer hash to its "
            "committed root"
        )
    canonical = _bytes(found, found, at)
    return {
        "check_id": check_id,
        "campaign_id": found["campaign_id"],
        "campaign_version": found["campaign_version"],
        "ruleset_version": found["ruleset_version"],
        "contact_id": contact_id,
        "decision": found["decision"],
        "reasons": found["reasons"],
        "evidence": found["evidence"],
        "at": at,
        "canonical": base64.b64encode(canonical).decode(),
        "leaf_hash": leaf_hash(canonical).hex(),
        "index": index,
        "inclusion_proof": [h.hex() for h in tree.proof(index)],
        "chunk": {
            "number": chunk["chunk"],
            "first_index": chunk["first_index"],
            "count": chunk["count"],
            "root": bytes(chunk["root"]).hex(),
            "event_id": chunk["event_id"],
            "event_type": CHUNK_EVENT_TYPE,
        },
    }


async def receipts_of(contact_id: str, uow: AbstractGateUnitOfWork) -> list[dict[str, Any]]:
    """Returns what the gate decided about a person: every receipt naming the contact, newest first.

    Each names its check and chunk, so that `GET /v1/checks/{check_id}/receipts/{contact_id}` proves it.
    """
    async with uow:
        rows = await uow.checks.receipts_of(contact_id, limit=MAX_RECEIPTS_OF_A_PERSON)
    return [
        {
            "check_id": row["check_id"],
            "campaign_id": row["campaign_id"],
            "campaign_version": row["campaign_version"],
            "ruleset_version": row["ruleset_version"],
            "checked_at": row["checked_at"].isoformat(),
            "contact_id": row["contact_id"],
            "decision": row["decision"],
            "reasons": row["reasons"],
            "evidence": row["evidence"],
            "chunk": row["chunk"],
            "chunk_index": row["chunk_index"],
        }
        for row in rows
    ]


async def chunks_of(check_id: str, uow: AbstractGateUnitOfWork) -> dict[str, Any]:
    """Returns a check's receipt chunks: what the audit log must hold, one entry per chunk.

    An auditor compares them with the log's `receipt_chunk_committed` entries under the campaign; the
    counts add up to the receipts committed. NotFoundError for a check with no chunk.
    """
    async with uow:
        rows = await uow.checks.chunks_of(check_id)
    if not rows:
        raise NotFoundError(f"check {check_id} has no receipt chunk")
    return {
        "check_id": check_id,
        "receipts": sum(row["count"] for row in rows),
        "chunks": [
            {
                "number": row["chunk"],
                "first_index": row["first_index"],
                "count": row["count"],
                "root": bytes(row["root"]).hex(),
                "at": row["at"],
                "event_id": row["event_id"],
                "event_type": CHUNK_EVENT_TYPE,
            }
            for row in rows
        ],
    }
