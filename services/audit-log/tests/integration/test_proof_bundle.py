"""The proof-of-consent bundle (`GET /v1/subjects/{id}/proof-bundle`) on a real database, fed by the
producers' own events: it verifies offline with `vigie-verify bundle`, holds what the log holds about
the person and nothing about anyone else, leaves out what came after its checkpoint, and says what an
erasure left. campaign-gate is replaced by a port serving receipts made by the gate's own receipt code
(the end-to-end test `tests/e2e/test_proof_bundle.py` asks the real gate over HTTP)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from audit_log.adapters.receipts_client import AbstractGateReceipts, GateUnavailableError
from campaign_gate.domain import receipts as gate_receipts
from shared.events import EventEnvelope
from shared.testing.harness import auth
from vigie_verify.bundle import BundleError, verify_bundle
from vigie_verify.merkle import InMemoryNodeStore, inclusion_proof, leaf_hash

from .conftest import Log

pytestmark = pytest.mark.integration

AUDITOR, ADMIN, MARKETER = auth("auditor"), auth("admin"), auth("marketer")
EMAIL, PHONE = "camille.bundle@example.org", "+33 6 12 34 56 78"


class ChunkGate(AbstractGateReceipts):
    """Serves the receipts of the chunks a test committed, as campaign-gate's routes answer them."""

    def __init__(self) -> None:
        self.chunks: list[tuple[dict[str, Any], list[str], str]] = []
        self.down = False

    def commit(self, envelope: EventEnvelope, contact_ids: Sequence[str], decision: str = "allow") -> None:
        self.chunks.append((dict(envelope.data), list(contact_ids), decision))

    def _leaves(self, data: dict[str, Any], ids: list[str], decision: str) -> list[bytes]:
        at = gate_receipts.timestamp(datetime.fromisoformat(data["at"]))
        return [
            gate_receipts.receipt_bytes(
                check_id=data["check_id"],
                campaign_id=data["campaign_id"],
                campaign_version=data["campaign_version"],
                ruleset_version=data["ruleset_version"],
                at=at,
                contact_id=cid,
                decision=decision,
                reasons=(),
                evidence=(),
            )
            for cid in ids
        ]

    async def receipts_of(self, contact_id: str) -> list[dict[str, Any]]:
        if self.down:
            raise GateUnavailableError("GET /v1/contacts/…/receipts failed: ConnectError")
        return [
            {"check_id": data["check_id"], "contact_id": contact_id, "decision": decision, "chunk": 0}
            for data, ids, decision in reversed(self.chunks)
            if contact_id in ids
        ]

    async def receipt_proof(self, check_id: str, contact_id: str) -> dict[str, Any]:
        data, ids, decision = next(c for c in self.chunks if c[0]["check_id"] == check_id)
        leaves = self._leaves(data, ids, decision)
        store = InMemoryNodeStore()
        store.append([leaf_hash(leaf) for leaf in leaves])
        index = ids.index(contact_id)
        canonical = leaves[index]
        receipt = json.loads(canonical)
        header = {
            k: receipt[k] for k in ("at", "campaign_id", "campaign_version", "check_id", "ruleset_version")
        }
        header |= {"chunk": 0, "count": len(ids), "first_index": 0, "root": data["root"]}
        return {
            **receipt,
            "canonical": base64.b64encode(canonical).decode(),
            "leaf_hash": leaf_hash(canonical).hex(),
            "index": index,
            "inclusion_proof": [h.hex() for h in inclusion_proof(index, len(ids), store.get_node)],
            "chunk": {
                "number": 0,
                "first_index": 0,
                "count": len(ids),
                "root": data["root"],
                "event_id": gate_receipts.chunk_event_id(header),
                "event_type": gate_receipts.CHUNK_EVENT_TYPE,
            },
        }


async def _story(log: Log, person: str) -> ChunkGate:
    """The person's trail, made by the producers' code: created (with an e-mail and phone), informed,
    consents by double opt-in then withdraws, objects; two gate checks name them, another person too."""
    up = log.upstream
    log.contacts[person] = await up.contact(contact_id=person, email=EMAIL, phone=PHONE)
    await up.contact(contact_id="someone-else", email="other@example.org")
    purpose = await up.purpose()
    notice = await up.notice([purpose.purpose_id])
    await up.deliver(notice, person)
    consent = await up.consent(person, purpose.purpose_id, notice=notice)
    await up.withdraw(consent)
    await up.objection(contact_id=person)
    gate = ChunkGate()
    first = await up.gate_receipt_chunk(["someone-else", person, "a-third"])
    gate.commit(first, ["someone-else", person, "a-third"])
    await log.feed()
    await log.checkpoint()
    log.service.gate_receipts = gate
    return gate


async def _bundle(log: Log, subject: str, headers: dict[str, str] = AUDITOR) -> dict[str, Any]:
    response = await log.client.get(f"/v1/subjects/{subject}/proof-bundle", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == f'attachment; filename="proof-bundle-{subject}.json"'
    assert EMAIL not in response.text and PHONE not in response.text and "example.org" not in response.text
    return response.json()


async def _vkey(log: Log) -> str:
    return (await log.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]


async def test_a_persons_bundle_verifies_and_holds_their_trail_and_receipts(log: Log) -> None:
    person = "bundle-person"
    gate = await _story(log, person)
    # A chunk committed after the checkpoint, and an update of the person after it: left out, counted.
    late = await log.upstream.gate_receipt_chunk([person], decision="block")
    gate.commit(late, [person], decision="block")
    await log.touch(person)
    await log.feed()

    bundle = await _bundle(log, person)
    verified = verify_bundle(bundle, vkey=await _vkey(log))

    types = {t.rsplit(".", 2)[-2] for t in verified.types}
    assert {"contact_created", "notice_delivered", "consent_granted", "consent_withdrawn"} <= types
    assert "objection_recorded" in types or any("objection" in t for t in types)
    assert verified.redacted == 0 and verified.readable == verified.entries and not verified.erased
    assert verified.receipts == 1 and verified.decisions == {"allow": 1} and verified.chunk_entries == 1
    assert verified.pending == 1 and bundle["receipts_pending"][0]["why"].startswith("its chunk")
    assert verified.after_checkpoint == 1
    delivered = next(e["event"] for e in bundle["entries"] if e["type"].endswith("notice_delivered.v1"))
    assert delivered["data"]["content_hash"], "a notice delivered carries the notice's content hash"
    assert all(e["event"]["subject"] == person for e in bundle["entries"])
    assert bundle["covers"]["checkpoint"]["size"] == verified.checkpoint.size
    assert all(e["index"] < verified.checkpoint.size for e in bundle["entries"])
    assert "someone-else" not in json.dumps(bundle["entries"])

    # The admin may assemble it too; the marketer may not.
    assert verify_bundle(await _bundle(log, person, ADMIN), vkey=await _vkey(log)).entries == verified.entries
    refused = await log.client.get(f"/v1/subjects/{person}/proof-bundle", headers=MARKETER)
    assert refused.status_code == 403


async def test_a_tampered_bundle_is_refused(log: Log) -> None:
    person = "bundle-tampered"
    await _story(log, person)
    bundle = await _bundle(log, person)
    vkey = await _vkey(log)
    changed = json.loads(json.dumps(bundle))
    changed["entries"][1]["event"]["data"]["channel"] = "sms"
    with pytest.raises(BundleError, match="differs from the event the log sealed"):
        verify_bundle(changed, vkey=vkey)
    changed = json.loads(json.dumps(bundle))
    changed["covers"]["subject_id"] = "someone-else"
    with pytest.raises(BundleError, match="not the bundle's subject"):
        verify_bundle(changed, vkey=vkey)


async def test_an_erased_persons_bundle_keeps_proofs_and_receipts_but_no_content(log: Log) -> None:
    person = "bundle-erased"
    await _story(log, person)
    before = await _bundle(log, person)
    await log.erase(person)
    await log.feed()
    await log.checkpoint()

    bundle = await _bundle(log, person)
    verified = verify_bundle(bundle, vkey=await _vkey(log))
    assert verified.erased
    assert verified.entries == len(before["entries"]) + 1
    # Everything sealed before the erasure is unreadable; the erasure itself is readable.
    assert [e["event"] is None for e in bundle["entries"]] == [True] * len(before["entries"]) + [False]
    assert bundle["entries"][-1]["event"]["type"] == "vigie.contacts.contact_erased.v1"
    assert verified.redacted == len(before["entries"]) and verified.readable == 1
    assert verified.receipts == 1, "the gate keeps receipts after an erasure, and so does the bundle"
    assert bundle["subject_key"] != before["subject_key"]
    assert "erased" in verified.summary()


async def test_unknown_subject_is_404_and_gate_down_is_503(log: Log) -> None:
    gate = await _story(log, "bundle-known")
    unknown = await log.client.get("/v1/subjects/nobody-at-all/proof-bundle", headers=AUDITOR)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    gate.down = True
    down = await log.client.get("/v1/subjects/bundle-known/proof-bundle", headers=AUDITOR)
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.json()["title"] == "campaign-gate unavailable"
