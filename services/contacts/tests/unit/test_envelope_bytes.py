"""A ContactCreated's outbox row written without the envelope model (issue 15) is, byte for byte, the
row `outbox.row_for(*to_envelope(event))` writes, and the consumers decode it to the same envelope."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contacts import contracts
from contacts.adapters import outgoing
from contacts.domain.model import Contact, Origin, PersonalData, PhoneCollection, Purchase
from contacts.entrypoints import importing
from contacts.service_layer import handlers
from contacts_fakes import T0, make_vault
from shared.events import EventEnvelope
from shared.kafka import decode_or_poison
from shared.tracing import TraceContext, current_trace

from shared import outbox


def _contacts(count: int) -> list[Contact]:
    rng = random.Random(151)
    vault = make_vault()
    out = []
    for n in range(count):
        phone = rng.choice([None, f"+3361234{n % 10000:04d}", "+262692123456"])
        personal = PersonalData(
            given_name=rng.choice([None, f"Zoé{n}"]),
            email=rng.choice([None, f"p{n}@example.org"]),
            phone=phone,
            postal_address=rng.choice([None, {"line1": "1 rue", "postal_code": "97400", "city": "X"}]),
            birth_date=rng.choice([None, datetime(1990, 5, 1).date()]),
            external_ref=rng.choice([None, f"R{n}"]),
        )
        at = T0 + timedelta(microseconds=rng.choice([0, 1, 123456]))
        out.append(
            Contact.create(
                kind=rng.choice(list(importing._KINDS.values())),  # noqa: SLF001
                relationship=rng.choice(list(importing._RELATIONSHIPS.values())),  # noqa: SLF001
                personal=personal,
                indexes=vault.indexes_for(personal, source="crm"),
                origin=Origin(
                    collected_from_person=rng.choice([True, False]),
                    source="crm",
                    broker_name=rng.choice([None, "Acme"]),
                ),  # fmt: skip
                obtained_at=rng.choice([T0, datetime(2025, 1, 1, 8, tzinfo=UTC)]),
                last_contact_from_person_at=rng.choice([None, T0 - timedelta(days=3)]),
                attributes={"segment": "a"},
                timezone=rng.choice([None, "Europe/Paris"]),
                profession=rng.choice([None, "Pharmacien"]),
                phone_collection=rng.choice([None, PhoneCollection(True, False, False)]),
                stop_pub=rng.choice([True, False]),
                purchases=rng.choice([[], [Purchase(seller="Acme", categories=("shoes",), last_at=T0)]]),
                at=at,
            )
        )
    return out


@pytest.mark.parametrize("correlation_id", [None, "", "req-7f3a"])
@pytest.mark.parametrize("traced", [False, True])
def test_the_rows_bytes_are_the_models(correlation_id: str | None, traced: bool) -> None:
    token = (
        current_trace.set(TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        if traced
        else None
    )
    try:
        for contact in _contacts(300):
            [event] = contact.events
            topic, envelope = outgoing.to_envelope(event, actor="crm", correlation_id=correlation_id)
            expected = outbox.row_for(envelope, topic=topic)
            ours = outgoing.created_outbox_row(
                event,
                actor="crm",
                correlation_id=correlation_id,
                event_id=envelope.id,
                time=envelope.time,
                now=expected["created_at"],  # type: ignore[arg-type]
            )
            assert ours == expected
            assert ours["value"] == envelope.encode()
            # The consumers' decode (the gate's, audit-log's, consent's) sees the same envelope.
            assert decode_or_poison(ours["value"]) == EventEnvelope.decode(envelope.encode()) == envelope
    finally:
        if token is not None:
            current_trace.reset(token)


def test_an_import_row_writes_the_events_bytes_and_headers() -> None:
    fields: dict[str, Any] = {"kind": "consumer", "email": "a@example.org", "collected_from_person": True,
                              "source": "crm", "obtained_at": "2026-01-01T10:00:00+00:00"}  # fmt: skip
    cmd, email = importing.row_command(fields, actor="crm")
    prepared = handlers.prepare_import_row(
        cmd, make_vault(), at=T0, correlation_id="c-1", number=1, email_normalised=email
    )
    event_id, topic, key, value, headers, _ = prepared.outbox_row  # type: ignore[misc]
    envelope = decode_or_poison(value)
    assert (envelope.id, envelope.subject, envelope.type, envelope.correlationid) == (
        event_id,
        prepared.contact_id,
        contracts.CONTACT_CREATED,
        "c-1",
    )
    assert (topic, key) == (contracts.CONTACTS_EVENTS, prepared.contact_id)
    assert headers == [[k, v.decode()] for k, v in envelope.kafka_headers()]
    assert "a@example.org" not in value.decode()  # never raw in the event
