"""`vigie-verify bundle`: a person's proof bundle verifies offline, and every tampering with it fails,
saying what and where (an entry byte, a proof node, a receipt decision, an event, the subject, the
counts, the signature), as does an export holding an entry the bundle left out."""

from __future__ import annotations

import base64
import copy
import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from vigie_verify.bundle import (
    FORMAT,
    SIGNATURE_DOMAIN,
    BundleError,
    check_against_export,
    open_sealed_event,
    sign_bundle,
    signed_bytes,
    verify_bundle,
)
from vigie_verify.checkpoint import verifier_key
from vigie_verify.cli import main
from vigie_verify.errors import CheckpointError
from vigie_verify.merkle import InMemoryNodeStore, inclusion_proof, leaf_hash, root_hash
from vigie_verify.receipt import CHUNK_EVENT_TYPE, chunk_event_id

FakeLog = Any  # conftest's in-memory audit log that signs checkpoints like the service
PERSON, PSEUDONYM, OTHER = "c-0042", "9f" * 20, "ab" * 20
AT = "2026-12-07T06:00:00+00:00"


def _seal(key: bytes, raw: bytes, event_id: str) -> str:
    nonce = os.urandom(12)
    blob = b"\x21" + nonce + AESGCM(key).encrypt(nonce, raw, b"\x21" + event_id.encode())
    return base64.b64encode(blob).decode()


def _canonical(index: int, event_id: str, event_type: str, subject: str, sealed: str) -> bytes:
    document = {
        "actor": "consent/api",
        "event_id": event_id,
        "event_time": AT,
        "event_type": event_type,
        "index": index,
        "integrated_at": AT,
        "sealed_event": sealed,
        "source": "vigie/consent",
        "subject": subject,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _receipts(check_id: str, ids: list[str], decision: str) -> list[bytes]:
    return [
        json.dumps(
            {
                "at": AT,
                "campaign_id": "camp-1",
                "campaign_version": 1,
                "check_id": check_id,
                "contact_id": cid,
                "decision": decision,
                "evidence": [],
                "reasons": [{"message": "Prior consent recorded.", "rule": "ELEC-01"}],
                "ruleset_version": "2026-11-29",
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        for cid in ids
    ]


TYPES = [
    "vigie.contacts.contact_created.v1",
    "vigie.consent.notice_delivered.v1",
    "vigie.consent.consent_granted.v1",
    "vigie.consent.objection_recorded.v1",
]


def make_bundle(log: FakeLog, *, erased: bool = False) -> tuple[dict[str, Any], list[bytes]]:
    """A log of the person's entries among others', one receipt chunk naming them; returns the signed
    bundle and every entry's canonical bytes (a full export)."""
    old_key, key = os.urandom(32), os.urandom(32)
    types = TYPES + (["vigie.contacts.contact_erased.v1"] if erased else [])
    base = len(log.entries)
    canonicals: list[bytes] = []
    mine: list[tuple[int, bytes, dict[str, Any] | None]] = []
    for n, event_type in enumerate(types):
        # Someone else's entry between each of the person's.
        other_id = f"other-{n}"
        canonicals.append(
            _canonical(
                base + len(canonicals), other_id, event_type, OTHER, _seal(os.urandom(32), b"{}", other_id)
            )
        )
        event_id = f"ev-{n}"
        event = {
            "id": event_id,
            "type": event_type,
            "subject": PERSON,
            "data": {"content_hash": "ab" * 32} if "notice" in event_type else {"n": n},
        }
        # After an erasure, only the erasure is sealed under the live key.
        sealing = old_key if erased and event_type != types[-1] else key
        index = base + len(canonicals)
        canonicals.append(
            _canonical(
                index, event_id, event_type, PSEUDONYM, _seal(sealing, json.dumps(event).encode(), event_id)
            )
        )
        mine.append((index, canonicals[-1], event if sealing == key else None))
    check = "chk-1"
    leaves = _receipts(check, ["x-1", PERSON, "x-2"], "block")
    store = InMemoryNodeStore()
    store.append([leaf_hash(leaf) for leaf in leaves])
    root = root_hash(3, store.get_node)
    header = {
        "at": AT,
        "campaign_id": "camp-1",
        "campaign_version": 1,
        "check_id": check,
        "chunk": 0,
        "count": 3,
        "first_index": 0,
        "root": root.hex(),
        "ruleset_version": "2026-11-29",
    }
    chunk_index = base + len(canonicals)
    canonicals.append(
        _canonical(chunk_index, chunk_event_id(header), CHUNK_EVENT_TYPE, "cd" * 20, _seal(key, b"{}", "c"))
    )
    log.append(canonicals)
    note = log.publish()
    size = len(log.entries)

    def path(index: int) -> list[str]:
        return [h.hex() for h in inclusion_proof(index, size, log.store.get_node)]

    entries = [
        {
            "index": index,
            "type": json.loads(canonical)["event_type"],
            "actor": "consent/api",
            "event_time": AT,
            "canonical": base64.b64encode(canonical).decode(),
            "audit_path": path(index),
            "event": event,
        }
        for index, canonical, event in mine
    ]
    receipt = json.loads(leaves[1])
    bundle = {
        "format": FORMAT,
        "covers": {
            "subject_id": PERSON,
            "subject": PSEUDONYM,
            "log": log.origin,
            "checkpoint": {"size": size, "root": root_hash(size, log.store.get_node).hex()},
            "generated_at": AT,
            "erased": erased,
            "counts": {
                "entries": len(entries),
                "readable": sum(e["event"] is not None for e in entries),
                "redacted": sum(e["event"] is None for e in entries),
                "receipts": 1,
                "chunk_entries": 1,
                "receipts_pending": 1,
                "after_checkpoint": 2,
            },
        },
        "checkpoint": note,
        "subject_key": base64.b64encode(key).decode(),
        "entries": entries,
        "receipts": [
            {
                **receipt,
                "canonical": base64.b64encode(leaves[1]).decode(),
                "index": 1,
                "inclusion_proof": [h.hex() for h in inclusion_proof(1, 3, store.get_node)],
                "chunk": {
                    "number": 0,
                    "first_index": 0,
                    "count": 3,
                    "root": root.hex(),
                    "event_id": chunk_event_id(header),
                },
                "chunk_entry": chunk_index,
            }
        ],
        "chunk_entries": [
            {
                "index": chunk_index,
                "canonical": base64.b64encode(canonicals[chunk_index - base]).decode(),
                "audit_path": path(chunk_index),
            }
        ],
        "receipts_pending": [{"contact_id": PERSON, "check_id": "chk-0", "decision": "allow", "why": "old"}],
    }
    return sign_bundle(bundle, private_key=log.private_key, key_name=log.origin), list(log.entries)


def test_a_bundle_verifies_and_says_what_it_proves(fake_log: FakeLog) -> None:
    bundle, _ = make_bundle(fake_log)
    verified = verify_bundle(json.loads(json.dumps(bundle)), vkey=fake_log.vkey)
    assert (verified.entries, verified.readable, verified.redacted) == (4, 4, 0)
    assert (verified.receipts, verified.chunk_entries, verified.pending) == (1, 1, 1)
    assert verified.decisions == {"block": 1} and not verified.erased
    summary = verified.summary()
    assert summary.startswith(f"OK proof bundle of subject {PERSON}")
    assert "This proves" in summary and "It does not prove: that no entry is missing" in summary
    assert "2 later entries" in summary and "WITHOUT proof" in summary


def test_the_signature_is_domain_separated_from_checkpoints(fake_log: FakeLog) -> None:
    bundle, _ = make_bundle(fake_log)
    signed = signed_bytes(bundle)
    assert signed.startswith(SIGNATURE_DOMAIN) and signed[len(SIGNATURE_DOMAIN) :].startswith(b"{")
    assert bundle["signature"]["key_id"] == fake_log.vkey.split("+")[1]


def test_an_erased_persons_bundle_verifies_with_redacted_entries(fake_log: FakeLog) -> None:
    bundle, _ = make_bundle(fake_log, erased=True)
    verified = verify_bundle(bundle, vkey=fake_log.vkey)
    assert verified.erased and (verified.readable, verified.redacted) == (1, 4)
    assert "erased" in verified.summary()


def _entry_canonical(bundle: dict[str, Any], position: int, change: Callable[[bytes], bytes]) -> None:
    entry = bundle["entries"][position]
    entry["canonical"] = base64.b64encode(change(base64.b64decode(entry["canonical"]))).decode()


def _receipt_decision(bundle: dict[str, Any]) -> None:
    served = bundle["receipts"][0]
    receipt = json.loads(base64.b64decode(served["canonical"]))
    receipt["decision"] = served["decision"] = "allow"
    served["canonical"] = base64.b64encode(
        json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode()
    ).decode()


def _proof_node(bundle: dict[str, Any]) -> None:
    node = bundle["entries"][2]["audit_path"][0]
    bundle["entries"][2]["audit_path"][0] = ("0" if node[0] != "0" else "1") + node[1:]


def _signature(bundle: dict[str, Any]) -> None:
    value = bytearray(base64.b64decode(bundle["signature"]["value"]))
    value[0] ^= 1
    bundle["signature"]["value"] = base64.b64encode(bytes(value)).decode()


def _without_entry(bundle: dict[str, Any]) -> None:
    del bundle["entries"][1]
    bundle["covers"]["counts"]["entries"] -= 1
    bundle["covers"]["counts"]["readable"] -= 1


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "an entry byte": (
        lambda b: _entry_canonical(
            b,
            1,
            lambda c: c.replace(
                b'"integrated_at":"2026-12-07T06:00:00', b'"integrated_at":"2026-12-07T06:00:01'
            ),
        ),
        "entry 13: its canonical bytes do not lead to the signed root",
    ),
    "a served field": (lambda b: b["entries"][0].update(type="vigie.x.v1"), "entry 11: its type differ"),
    "a proof node": (_proof_node, "entry 15: its canonical bytes do not lead to the signed root"),
    "a receipt decision": (_receipt_decision, "receipt #0: the receipt is not in its chunk's tree"),
    "an event": (
        lambda b: b["entries"][2]["event"]["data"].update(n=99),
        "entry 15: its event differs from the event the log sealed",
    ),
    "the subject id": (
        lambda b: b["covers"].update(subject_id="c-0043"),
        "not the bundle's subject 'c-0043'",
    ),
    "the pseudonym": (lambda b: b["covers"].update(subject=OTHER), "entry 11 is filed under subject"),
    "a dropped event": (lambda b: b["entries"][0].update(event=None), "the subject key opens its event"),
    "the counts": (lambda b: b["covers"]["counts"].update(receipts=2), "counts disagree"),
    "the erased flag": (lambda b: b["covers"].update(erased=True), "says erased = True"),
    "the receipt's chunk entry": (lambda b: b["receipts"][0].update(chunk_entry=0), "does not hold"),
    "an entry, counts adjusted": (_without_entry, "signature does not verify"),
    "an unchecked count": (
        lambda b: b["covers"]["counts"].update(after_checkpoint=0),
        "signature does not verify",
    ),
    "the signature": (_signature, "signature does not verify"),
    "the signer": (lambda b: b["signature"].update(key_name="someone"), "not by the pinned key"),
    "the checkpoint size": (lambda b: b["covers"]["checkpoint"].update(size=3), "covers checkpoint size 3"),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_each_tampering_is_refused_with_a_clear_reason(fake_log: FakeLog, what: str) -> None:
    bundle, _ = make_bundle(fake_log)
    change, reason = TAMPERING[what]
    changed = copy.deepcopy(bundle)
    change(changed)
    with pytest.raises(BundleError) as failure:
        verify_bundle(changed, vkey=fake_log.vkey)
    assert reason in str(failure.value)


def test_another_log_key_is_refused(fake_log: FakeLog) -> None:
    bundle, _ = make_bundle(fake_log)
    other = verifier_key(Ed25519PrivateKey.generate().public_key(), fake_log.origin)
    with pytest.raises(CheckpointError):
        verify_bundle(bundle, vkey=other)


def test_a_sealed_event_opens_only_with_its_key_and_event_id() -> None:
    key = os.urandom(32)
    sealed = base64.b64decode(_seal(key, b'{"a":1}', "ev-1"))
    assert open_sealed_event(key, sealed, event_id="ev-1") == b'{"a":1}'
    for other_key, event_id in ((os.urandom(32), "ev-1"), (key, "ev-2")):
        with pytest.raises(BundleError):
            open_sealed_event(other_key, sealed, event_id=event_id)


def _export(tmp_path: Path, canonicals: list[bytes]) -> str:
    path = tmp_path / "export.ndjson"
    path.write_text(
        "".join(json.dumps({"canonical": base64.b64encode(c).decode()}) + "\n" for c in canonicals)
    )
    return str(path)


def test_completeness_against_a_full_export(fake_log: FakeLog, tmp_path: Path) -> None:
    bundle, canonicals = make_bundle(fake_log)
    verified = verify_bundle(bundle, vkey=fake_log.vkey)
    assert check_against_export(verified, bundle, _export(tmp_path, canonicals)) == len(canonicals)
    # An entry of the person the log left out of the bundle (and out of the counts, signed anew).
    del bundle["entries"][1]
    bundle["covers"]["counts"].update(entries=3, readable=3)
    bundle = sign_bundle(bundle, private_key=fake_log.private_key, key_name=fake_log.origin)
    verified = verify_bundle(bundle, vkey=fake_log.vkey)
    with pytest.raises(
        BundleError, match="the export holds 1 entry of the subject that the bundle leaves out: 13"
    ):
        check_against_export(verified, bundle, _export(tmp_path, canonicals))


def test_the_command_line(fake_log: FakeLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, canonicals = make_bundle(fake_log)
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(bundle, indent=2))
    assert main(["bundle", str(good), "--vkey", fake_log.vkey]) == 0
    assert capsys.readouterr().out.startswith(f"OK proof bundle of subject {PERSON}")
    export = _export(tmp_path, canonicals)
    assert main(["bundle", str(good), "--public-key", fake_log.vkey, "--export", export]) == 0
    assert "no entry of this subject below size" in capsys.readouterr().out
    bad = copy.deepcopy(bundle)
    _receipt_decision(bad)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bad))
    assert main(["bundle", str(tampered), "--vkey", fake_log.vkey]) == 1
    assert capsys.readouterr().err.startswith("FAILED: receipt #0")
    assert main(["bundle", str(good)]) == 2
    assert main(["bundle", str(tmp_path / "missing.json"), "--vkey", fake_log.vkey]) == 2
    (tmp_path / "not.json").write_text("{")
    assert main(["bundle", str(tmp_path / "not.json"), "--vkey", fake_log.vkey]) == 1


class _BundleServer(ThreadingHTTPServer):
    bundle: bytes = b""
    paths: list[tuple[str, str]]


class _Serve(BaseHTTPRequestHandler):
    server: _BundleServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.server.paths.append((self.path, self.headers.get("Authorization", "")))
        known = self.path == f"/v1/subjects/{PERSON}/proof-bundle"
        body = self.server.bundle if known else b'{"status": 404}'
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_fetch_downloads_the_file_as_served_and_verifies_it(
    fake_log: FakeLog, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    bundle, _ = make_bundle(fake_log)
    server = _BundleServer(("127.0.0.1", 0), _Serve)
    server.bundle, server.paths = json.dumps(bundle, indent=1).encode(), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        args = ["bundle", "--fetch", "--url", url, "--token", "tok", PERSON, "--vkey", fake_log.vkey]
        assert main(args) == 0
        out, err = capsysbinary.readouterr()
        assert out == server.bundle, "the file is written as the log served it"
        assert err.decode().startswith(f"OK proof bundle of subject {PERSON}")
        assert server.paths == [(f"/v1/subjects/{PERSON}/proof-bundle", "Bearer tok")]
        assert main(["bundle", "--fetch", "--url", url, "nobody"]) == 2
        assert b"HTTP 404" in capsysbinary.readouterr().err
        assert main(["bundle", "--fetch", PERSON]) == 2
    finally:
        server.shutdown()
        server.server_close()
