"""The proof bundle's assembly on the fake log (one checkpoint; later entries left out and counted;
receipts proven, pending or too many; the signature over the canonical bytes) and the gate client
against a mock transport (service token, paths, errors)."""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest
from audit_log.adapters.receipts_client import AbstractGateReceipts, GateUnavailableError, HttpGateReceipts
from audit_log.adapters.repository import AbstractLogRepository, LogKeys
from audit_log.domain.errors import NoCheckpointError
from audit_log.service_layer import commands, handlers
from audit_log.service_layer.bundle import (
    BuildProofBundle,
    BundleTooLargeError,
    NothingAboutSubjectError,
    build_proof_bundle,
)
from audit_log.settings import AuditLogSettings
from audit_log_fakes import T0, FakeUnitOfWork, LogState, envelope, pseudonym
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from shared.auth import build_token_verifier
from shared.envelope_crypto import KeyRing
from shared.events import EventEnvelope
from shared.testing.harness import JWT
from vigie_verify import merkle
from vigie_verify.bundle import FORMAT, signed_bytes

KEYS = LogKeys(
    signing_key=Ed25519PrivateKey.generate(),
    key_name="test-log",
    origin="test.example/log",
    key_ring=KeyRing({"k": os.urandom(32)}, "k"),
    pseudonym_key=b"unit-pseudonyms",
)
CHUNK_TYPE = "vigie.campaigns.receipt_chunk_committed.v1"


async def _keys(_log: AbstractLogRepository, subject_id: str) -> tuple[str, bytes | None]:
    return pseudonym(subject_id), None


class Gate(AbstractGateReceipts):
    """Receipts whose chunks are the given event ids (None: a receipt from before chunks)."""

    def __init__(self, chunk_events: list[str | None]) -> None:
        self.chunk_events = chunk_events

    async def receipts_of(self, contact_id: str) -> list[dict[str, Any]]:
        return [
            {
                "check_id": f"check-{n}",
                "contact_id": contact_id,
                "decision": "block",
                "chunk": None if e is None else 0,
            }
            for n, e in enumerate(self.chunk_events)
        ]

    async def receipt_proof(self, check_id: str, contact_id: str) -> dict[str, Any]:
        n = int(check_id.split("-")[1])
        return {
            "check_id": check_id,
            "contact_id": contact_id,
            "decision": "block",
            "chunk": {"event_id": self.chunk_events[n]},
        }


async def _log(*batches: list[EventEnvelope], checkpoint_after: int) -> LogState:
    """Integrates the batches, signing a checkpoint after the first `checkpoint_after` of them."""
    state = LogState()
    for n, batch in enumerate(batches):
        events = tuple(commands.ConsumedEvent(e, e.encode()) for e in batch)
        await handlers.integrate_events(commands.IntegrateEvents(events=events), FakeUnitOfWork(state))
        if n + 1 == checkpoint_after:
            await handlers.sign_checkpoint(commands.SignCheckpoint(), FakeUnitOfWork(state))
    return state


async def _build(
    state: LogState, gate: AbstractGateReceipts, subject: str = "c-1", **kw: Any
) -> dict[str, Any]:
    return await build_proof_bundle(
        BuildProofBundle(subject_id=subject, **kw),
        lambda: FakeUnitOfWork(state),
        gate,
        keys=KEYS,
        now=T0,
        subject_keys=_keys,
    )


async def test_one_checkpoint_every_path_leads_to_it_and_later_entries_are_counted_not_held() -> None:
    chunk = envelope("campaign-1", type_=CHUNK_TYPE)
    late_chunk = envelope("campaign-2", type_=CHUNK_TYPE)
    state = await _log(
        [envelope("c-1"), envelope("c-2"), chunk, envelope("c-1", type_="vigie.consent.consent_granted.v1")],
        [envelope("c-1"), late_chunk],
        checkpoint_after=1,
    )
    gate = Gate([chunk.id, late_chunk.id, "never-logged", None])
    bundle = await _build(state, gate)

    covers = bundle["covers"]
    assert (
        bundle["format"] == FORMAT and covers["subject_id"] == "c-1" and covers["subject"] == pseudonym("c-1")
    )
    assert covers["checkpoint"]["size"] == 4
    assert [e["index"] for e in bundle["entries"]] == [0, 3]
    root = bytes.fromhex(covers["checkpoint"]["root"])
    for entry in bundle["entries"] + bundle["chunk_entries"]:
        merkle.verify_inclusion(
            leaf_hash=merkle.leaf_hash(base64.b64decode(entry["canonical"])),
            index=entry["index"],
            tree_size=4,
            proof=[bytes.fromhex(h) for h in entry["audit_path"]],
            root=root,
        )
    assert [r["chunk_entry"] for r in bundle["receipts"]] == [2]
    assert [p["why"] for p in bundle["receipts_pending"]] == [
        "decided before receipts were committed in chunks: no proof route",
        "its chunk's audit entry came after the checkpoint",
        "its chunk is not yet in the audit log",
    ]
    assert covers["counts"] == {
        "entries": 2,
        "readable": 0,
        "redacted": 2,
        "receipts": 1,
        "chunk_entries": 1,
        "receipts_pending": 3,
        "after_checkpoint": 1,
    }
    assert bundle["subject_key"] is None and covers["erased"] is False


async def test_the_signature_covers_the_canonical_bytes_under_the_log_key() -> None:
    state = await _log([envelope("c-1")], checkpoint_after=1)
    bundle = await _build(state, Gate([]))
    signature = bundle["signature"]
    assert signature["algorithm"] == "Ed25519" and signature["key_name"] == "test-log"
    KEYS.signing_key.public_key().verify(base64.b64decode(signature["value"]), signed_bytes(bundle))
    bundle["covers"]["generated_at"] = "2027-01-01T00:00:00+00:00"
    with pytest.raises(InvalidSignature):
        KEYS.signing_key.public_key().verify(base64.b64decode(signature["value"]), signed_bytes(bundle))


async def test_nothing_to_bundle() -> None:
    with pytest.raises(NoCheckpointError):
        await _build(LogState(), Gate([]))
    state = await _log([envelope("c-2")], [envelope("c-1")], checkpoint_after=1)
    with pytest.raises(NothingAboutSubjectError, match="1 entries about this subject are not yet covered"):
        await _build(state, Gate([]))
    with pytest.raises(NothingAboutSubjectError, match="the log holds no entry about this subject"):
        await _build(state, Gate([]), subject="c-9")


async def test_a_person_past_the_bound_is_refused() -> None:
    state = await _log([envelope("c-1") for _ in range(4)], checkpoint_after=1)
    with pytest.raises(BundleTooLargeError):
        await _build(state, Gate([]), max_items=3)
    with pytest.raises(GateUnavailableError) as failure:
        await _build(state, Gate([None] * 5), max_items=4)
    assert failure.value.status == 413


def _settings() -> AuditLogSettings:
    return AuditLogSettings(VIGIE_PROFILE="test", **JWT)


async def test_the_gate_client_asks_with_an_auditor_service_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.raw_path == b"/v1/contacts/c%201/receipts":
            return httpx.Response(
                200,
                json={
                    "contact_id": "c 1",
                    "receipts": [{"check_id": "k/1", "chunk": 0}, {"check_id": "k2", "chunk": None}],
                },
            )
        return httpx.Response(200, json={"check_id": "k/1", "chunk": {"event_id": "e"}})

    settings = _settings()
    client = HttpGateReceipts(
        base_url="http://gate", settings=settings, transport=httpx.MockTransport(answer)
    )
    proofs, without = await client.proven_receipts("c 1", limit=10)

    assert proofs == [{"check_id": "k/1", "chunk": {"event_id": "e"}}]
    assert without == [{"check_id": "k2", "chunk": None}]
    assert [r.url.raw_path for r in seen] == [
        b"/v1/contacts/c%201/receipts",
        b"/v1/checks/k%2F1/receipts/c%201",
    ]
    verifier = build_token_verifier(settings)
    principal = verifier.verify(seen[0].headers["authorization"].removeprefix("Bearer "))
    principal = await principal if hasattr(principal, "__await__") else principal
    assert set(principal.roles) == {"auditor"} and principal.client == "audit-log"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (httpx.Response(409, json={}), 409),
        (httpx.Response(500, json={}), 500),
        (httpx.ConnectError("refused"), None),
    ],
)
async def test_the_gate_client_reports_what_failed(answer: Any, status: int | None) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = HttpGateReceipts(
        base_url="http://gate", settings=_settings(), transport=httpx.MockTransport(respond)
    )
    with pytest.raises(GateUnavailableError) as failure:
        await client.receipts_of("c-1")
    assert failure.value.status == status
