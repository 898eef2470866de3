"""`vigie-verify receipt`: a receipt file verifies, and every tampering with it fails, saying where."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vigie_verify.checkpoint import verifier_key
from vigie_verify.cli import main
from vigie_verify.errors import CheckpointError, VerificationError
from vigie_verify.merkle import InMemoryNodeStore, inclusion_proof, leaf_hash, root_hash
from vigie_verify.receipt import CHUNK_EVENT_TYPE, FORMAT, ReceiptError, chunk_event_id, verify_receipt_file

AT = "2026-12-07T06:00:00.123456+00:00"
CHECK = "3f9a1c2e-0000-4000-8000-000000000001"


def _receipt(contact_id: str, decision: str = "allow") -> dict[str, Any]:
    return {
        "at": AT,
        "campaign_id": "c-1",
        "campaign_version": 2,
        "check_id": CHECK,
        "contact_id": contact_id,
        "decision": decision,
        "evidence": [f"consent:{contact_id}"],
        "reasons": [{"message": "ok", "rule": "EMAIL-01"}] if decision == "block" else [],
        "ruleset_version": "2026.12",
    }


def _bytes(receipt: dict[str, Any]) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode()


def _bundle(log: FakeLog, *, count: int = 7, index: int = 4) -> dict[str, Any]:
    """A chunk of `count` receipts committed as entry 3 of a log of 6 entries; the file of receipt `index`."""
    receipts = [_receipt(f"r-{i}", "block" if i % 3 == 0 else "allow") for i in range(count)]
    store = InMemoryNodeStore()
    store.append([leaf_hash(_bytes(r)) for r in receipts])
    root = root_hash(count, store.get_node)
    header = {
        "at": AT,
        "campaign_id": "c-1",
        "campaign_version": 2,
        "check_id": CHECK,
        "chunk": 1,
        "count": count,
        "first_index": 5000,
        "root": root.hex(),
        "ruleset_version": "2026.12",
    }
    event_id = chunk_event_id(header)
    start = len(log.entries)
    others = [json.dumps({"event_id": f"e-{i}", "index": start + i}).encode() for i in range(6)]
    entry = json.dumps(
        {"event_id": event_id, "event_type": CHUNK_EVENT_TYPE, "index": start + 3, "sealed_event": "AAAA"},
        sort_keys=True,
    ).encode()
    log.append([*others[:3], entry, *others[4:]])
    note = log.publish()
    served = {
        **receipts[index],
        "canonical": base64.b64encode(_bytes(receipts[index])).decode(),
        "index": index,
        "inclusion_proof": [h.hex() for h in inclusion_proof(index, count, store.get_node)],
        "chunk": {"number": 1, "first_index": 5000, "count": count, "root": root.hex(), "event_id": event_id},
    }
    return {
        "format": FORMAT,
        "receipt": served,
        "audit_entry": {
            "index": start + 3,
            "event_id": event_id,
            "canonical": base64.b64encode(entry).decode(),
        },
        "entry_proof": {
            "index": start + 3,
            "tree_size": start + 6,
            "audit_path": [h.hex() for h in inclusion_proof(start + 3, start + 6, log.store.get_node)],
        },
        "checkpoint": note,
    }


FakeLog = Any  # conftest's in-memory audit log that signs checkpoints like the service


@pytest.fixture
def log(fake_log: FakeLog) -> FakeLog:
    return fake_log


def test_a_receipt_verifies_down_to_the_signed_checkpoint(log: FakeLog) -> None:
    verified = verify_receipt_file(_bundle(log), vkey=log.vkey)
    assert (verified.receipt["contact_id"], verified.chunk, verified.index) == ("r-4", 1, 4)
    assert verified.entry_index == verified.checkpoint.size - 3, "the 4th of the 6 entries appended"
    assert "This proves" in verified.summary() and "does not prove" in verified.summary()


@pytest.mark.parametrize("count,index", [(1, 0), (2, 1), (5000, 4999), (13, 8)])
def test_every_position_in_chunks_of_any_size_verifies(log: FakeLog, count: int, index: int) -> None:
    assert verify_receipt_file(_bundle(log, count=count, index=index), vkey=log.vkey).index == index


def _tampered(log: FakeLog, change: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(_bundle(log))
    change(bundle)
    return bundle


def _set_canonical_decision(bundle: dict[str, Any]) -> None:
    receipt = json.loads(base64.b64decode(bundle["receipt"]["canonical"]))
    receipt["decision"] = "allow" if receipt["decision"] == "block" else "block"
    bundle["receipt"]["canonical"] = base64.b64encode(_bytes(receipt)).decode()
    bundle["receipt"]["decision"] = receipt["decision"]


def _flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[0] ^= 0x10
    return raw.hex()


TAMPERING = {
    "decision changed in the served fields only": lambda b: b["receipt"].update(decision="block"),
    "decision changed in the canonical bytes": _set_canonical_decision,
    "proof element changed": lambda b: b["receipt"]["inclusion_proof"].__setitem__(
        0, _flip(b["receipt"]["inclusion_proof"][0])
    ),
    "proof truncated": lambda b: b["receipt"]["inclusion_proof"].pop(),
    "index moved": lambda b: b["receipt"].update(index=3),
    "chunk root changed": lambda b: b["receipt"]["chunk"].update(root=_flip(b["receipt"]["chunk"]["root"])),
    "chunk count changed": lambda b: b["receipt"]["chunk"].update(count=8),
    "chunk number changed": lambda b: b["receipt"]["chunk"].update(number=2),
    "first index changed": lambda b: b["receipt"]["chunk"].update(first_index=0),
    "entry proof changed": lambda b: b["entry_proof"]["audit_path"].__setitem__(
        0, _flip(b["entry_proof"]["audit_path"][0])
    ),
    "opened event names another root": lambda b: b["audit_entry"].update(
        event={"id": b["receipt"]["chunk"]["event_id"], "data": {"root": "00" * 32, "chunk": 1}}
    ),
    "another audit entry": lambda b: b["audit_entry"].update(
        canonical=base64.b64encode(json.dumps({"event_id": "e-2", "index": 0}).encode()).decode()
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampering_fails(log: FakeLog, name: str) -> None:
    with pytest.raises(VerificationError):
        verify_receipt_file(_tampered(log, TAMPERING[name]), vkey=log.vkey)


def test_a_root_changed_consistently_in_the_gate_still_fails_against_the_log(log: FakeLog) -> None:
    """Receipts rewritten and their chunk root recomputed: the log's entry names the old root's event."""
    bundle = _bundle(log, count=1, index=0)
    receipt = json.loads(base64.b64decode(bundle["receipt"]["canonical"]))
    receipt["decision"] = "allow"
    new = _bytes(receipt)
    bundle["receipt"].update(canonical=base64.b64encode(new).decode(), decision="allow")
    bundle["receipt"]["chunk"]["root"] = leaf_hash(new).hex()
    del bundle["receipt"]["chunk"]["event_id"]
    with pytest.raises(ReceiptError, match="audit entry holds event"):
        verify_receipt_file(bundle, vkey=log.vkey)


def test_an_opened_event_that_agrees_passes(log: FakeLog) -> None:
    bundle = _bundle(log)
    chunk = bundle["receipt"]["chunk"]
    bundle["audit_entry"]["event"] = {
        "id": chunk["event_id"],
        "data": {"check_id": CHECK, "chunk": 1, "count": 7, "first_index": 5000, "root": chunk["root"]},
    }
    assert verify_receipt_file(bundle, vkey=log.vkey).chunk == 1


def test_a_wrong_key_fails(log: FakeLog) -> None:
    other = verifier_key(Ed25519PrivateKey.generate().public_key(), log.origin)
    with pytest.raises(CheckpointError):
        verify_receipt_file(_bundle(log), vkey=other)


def test_the_cli_says_ok_and_what_it_proves_or_fails_with_exit_1(
    log: FakeLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "receipt.json", tmp_path / "bad.json"
    bundle = _bundle(log)
    good.write_text(json.dumps(bundle))
    bundle["receipt"]["chunk"]["root"] = _flip(bundle["receipt"]["chunk"]["root"])
    bad.write_text(json.dumps(bundle))
    assert main(["receipt", str(good), "--vkey", log.vkey]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK receipt of contact r-4") and "This proves" in out
    assert main(["receipt", str(bad), "--vkey", log.vkey]) == 1
    assert "FAILED" in capsys.readouterr().err
    assert main(["receipt", str(good)]) == 2, "no key: a usage error"
