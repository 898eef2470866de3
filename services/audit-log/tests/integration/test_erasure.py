"""Crypto-shredding: after an erasure the subject's entries read as redacted and the log still verifies."""

from __future__ import annotations

import base64

import pytest
from shared.testing.harness import auth
from vigie_verify.checkpoint import open_checkpoint
from vigie_verify.merkle import leaf_hash, verify_consistency, verify_inclusion

from .conftest import Log

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")


async def _entries(log: Log, subject: str) -> list[dict]:
    response = await log.client.get("/v1/entries", params={"subject": subject}, headers=AUDITOR)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_after_an_erasure_the_subjects_entries_are_redacted_and_proofs_and_verification_pass(
    log: Log,
) -> None:
    erased, kept = "contact-erased", "contact-kept"
    created, kept_created, updated = await log.ingest(erased, kept, erased)
    await log.checkpoint()
    vkey = (await log.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]
    before = open_checkpoint((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text, vkey=vkey)
    assert [e["event"]["id"] for e in await _entries(log, erased)] == [created.id, updated.id]

    the_erasure = await log.erase(erased)
    kept_updated = await log.touch(kept)
    await log.feed()
    await log.checkpoint()

    entries = await _entries(log, erased)
    assert [(e["redacted"], e["event"]) for e in entries[:2]] == [(True, None), (True, None)]
    assert entries[2]["event_id"] == the_erasure.id and not entries[2]["redacted"]
    assert entries[2]["event"]["type"] == "vigie.contacts.contact_erased.v1"
    assert [e["event"]["id"] for e in await _entries(log, kept)] == [kept_created.id, kept_updated.id]

    after = open_checkpoint((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text, vkey=vkey)
    assert after.size == 5
    for entry in entries + await _entries(log, kept):
        assert leaf_hash(base64.b64decode(entry["canonical"])).hex() == entry["leaf_hash"]
        proof = (
            await log.client.get(
                "/v1/proofs/inclusion", params={"index": entry["index"], "tree_size": 5}, headers=AUDITOR
            )
        ).json()
        verify_inclusion(
            leaf_hash=bytes.fromhex(entry["leaf_hash"]),
            index=entry["index"],
            tree_size=5,
            proof=[bytes.fromhex(h) for h in proof["audit_path"]],
            root=after.root_hash,
        )
    consistency = (
        await log.client.get(
            "/v1/proofs/consistency", params={"first": before.size, "second": 5}, headers=AUDITOR
        )
    ).json()
    verify_consistency(
        first=before.size,
        second=5,
        first_root=before.root_hash,
        second_root=after.root_hash,
        proof=[bytes.fromhex(h) for h in consistency["consistency_path"]],
    )
    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert verdict["ok"] and verdict["tree_size"] == 5 and verdict["root_hash"] == after.root_hash.hex()


async def test_the_erased_subjects_data_is_gone_from_exports_and_the_database(log: Log) -> None:
    erased = "contact-erased-2"
    secret = "marker-7f3a9c"
    log.contacts[erased] = await log.upstream.contact(contact_id=erased, profession=f"boulanger {secret}")
    (created,) = await log.feed()
    assert created.data["facts"]["profession"] == f"boulanger {secret}"
    await log.erase(erased)
    await log.feed()

    export = (await log.client.get("/v1/export", params={"subject": erased}, headers=AUDITOR)).text
    assert len(export.splitlines()) == 2
    assert secret not in export
    assert (await _entries(log, erased))[0]["event"] is None
    async with log.service.runtime.engine.connect() as conn:
        import sqlalchemy as sa

        rows = (await conn.execute(sa.text("SELECT sealed_event, canonical FROM entries"))).all()
    assert all(secret.encode() not in bytes(sealed) + bytes(canonical) for sealed, canonical in rows)


async def test_events_after_an_erasure_are_sealed_under_a_new_stored_key_and_stay_readable(log: Log) -> None:
    subject = "contact-returning"
    await log.ingest(subject)
    await log.erase(subject)
    await log.feed()
    # The person comes back (a new contact record under the same id, as a re-import makes).
    del log.contacts[subject]
    (returned,) = await log.ingest(subject)

    entries = await _entries(log, subject)
    assert [e["event"] is None for e in entries] == [True, False, False]
    assert entries[2]["event"]["id"] == returned.id


async def test_a_batch_that_rolls_back_leaves_no_subject_key_behind_in_the_writers_cache(log: Log) -> None:
    subject = "contact-rolled-back"

    class Abort(Exception):
        pass

    await log.touch(subject)
    (doomed,) = log.skip_published()
    with pytest.raises(Abort):
        async with log.service.uow() as uow:
            await uow.log.append([(doomed, doomed.encode())], shred_after=lambda _: False, at=uow.clock())
            raise Abort
    (kept,) = await log.ingest(subject)

    entries = await _entries(log, subject)
    assert [e["event"]["id"] for e in entries] == [kept.id]
