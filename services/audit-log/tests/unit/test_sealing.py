"""A group commit's batch-wide sealing: in worker processes or not, each entry is sealed under its own
key and bound to its event id, its canonical bytes are the writer's encoding and its leaf their hash."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime

import pytest
from audit_log.adapters import sealing
from audit_log.domain.model import reference_canonical_entry_bytes
from shared.envelope_crypto import decrypt_value

AT = "2026-12-07T06:00:00.123456+00:00"


def _items(count: int) -> list[sealing.ToSeal]:
    keys = [os.urandom(32) for _ in range(7)]
    return [
        (
            100 + n,
            f"event-{n}",
            "vigie.contacts.contact_updated.v1",
            "/vigie/contacts",
            f"sub-{n % 7}",
            "crm/é-alice" if n % 2 else "crm/bob",
            f"2026-12-07T05:{n % 60:02d}:00+00:00",
            json.dumps({"n": n}).encode(),
            keys[n % 7],
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("parallel", [False, True])
async def test_a_batch_is_sealed_encoded_and_hashed_in_order(parallel: bool) -> None:
    items = _items(2 * sealing.PARALLEL_FROM + 3)
    sealing.configure(2 if parallel else 0)
    try:
        executor = sealing.sealing_pool()
        assert (executor is not None) == parallel
        sealed = await sealing.seal_batch(items, AT, executor=executor)
    finally:
        sealing.configure(0)

    assert len(sealed) == len(items)
    for item, (seal, canonical, leaf) in zip(items, sealed, strict=True):
        index, event_id, event_type, source, subject, actor, event_time, raw, dek = item
        assert decrypt_value(dek, seal, associated_data=event_id.encode()) == raw
        document = json.loads(canonical)
        assert document["index"] == index and document["actor"] == actor
        assert base64.b64decode(document["sealed_event"]) == seal
        assert leaf == hashlib.sha256(b"\x00" + canonical).digest()
        assert canonical == reference_canonical_entry_bytes(
            index=index,
            event_id=event_id,
            event_type=event_type,
            source=source,
            subject_pseudonym=subject,
            actor=actor,
            event_time=datetime.fromisoformat(event_time),
            integrated_at=datetime.fromisoformat(AT),
            sealed_event=seal,
        )
