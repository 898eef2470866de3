"""The projection's batch path on the fakes: what it refuses (and still records the offset of), and
that a batch decides duplicates and versions as one-by-one application does."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from campaign_gate import contracts
from campaign_gate.entrypoints import consumer
from campaign_gate.service_layer import handlers
from campaign_gate_fakes import T0, FakeStore, FakeUnitOfWork
from contacts import contracts as contacts_contracts
from contacts.adapters import outgoing as contacts_outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.domain.model import Contact, Kind, Origin, PersonalData, Relationship
from shared.blind_index import BlindIndexer
from shared.envelope_crypto import KeyRing
from shared.events import EventEnvelope

VAULT = PersonalDataVault(
    key_ring=KeyRing({"test": os.urandom(32)}, "test"),
    indexer=BlindIndexer(b"test-blind-index-key-0123456789abcdef"),
)


def _contact() -> Contact:
    personal = PersonalData(email="jean@example.org")
    return Contact.create(
        kind=Kind.CONSUMER,
        relationship=Relationship.PROSPECT,
        personal=personal,
        indexes=VAULT.indexes_for(personal),
        origin=Origin(collected_from_person=True, source="web_form"),
        obtained_at=T0,
        at=T0,
    )


def _published(contact: Contact) -> list[bytes]:
    """Returns the contact's pending events as contacts publishes them (its own mapping), and clears them."""
    out = [
        contacts_outgoing.to_envelope(e, actor="contacts/api", correlation_id=None)[1].encode()
        for e in contact.events
    ]
    contact.events.clear()
    return out


def _records(values: list[bytes], partition: int = 0) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(
            contracts.CONTACTS_EVENTS, partition, offset, 0, 0, None, value, None, 0, len(value), ()
        )
        for offset, value in enumerate(values)
    ]


def _malformed(data: dict[str, Any]) -> bytes:
    return EventEnvelope(
        source=contacts_contracts.SOURCE,
        type=contracts.CONTACT_CREATED,
        subject="c-1",
        actor="contacts/api",
        data=data,
    ).encode()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"facts": {}},
        {"facts": "active"},
        {
            "facts": {
                "kind": "consumer",
                "relationship": "prospect",
                "status": "active",
                "obtained_at": T0.isoformat(),
            }
        },
        {
            "facts": {
                "kind": "robot",
                "relationship": "prospect",
                "status": "active",
                "obtained_at": T0.isoformat(),
                "version": 1,
            }
        },
        {
            "facts": {
                "kind": "consumer",
                "relationship": "prospect",
                "status": "active",
                "obtained_at": T0.isoformat(),
                "version": "1",
            }
        },
    ],
    ids=["no data", "no facts", "facts not a mapping", "no version", "unknown kind", "version as text"],
)
async def test_contact_facts_missing_what_the_rules_need_are_refused_and_no_contact_is_projected(
    data: dict[str, Any],
) -> None:
    store = FakeStore()
    with pytest.raises(ValueError):
        handlers.projection_change(EventEnvelope.decode(_malformed(data)))
    [(record, error)] = await consumer.project_records(
        _records([_malformed(data)]), lambda: FakeUnitOfWork(store)
    )
    assert record.offset == 0 and str(error).startswith(f"unusable {contracts.CONTACT_CREATED}: ValueError")
    assert store.state.contacts == {}
    assert store.state.offsets == {(contracts.CONTACTS_EVENTS, 0): 1}


async def test_a_batch_keeps_the_newest_version_applies_a_duplicate_once_and_refuses_the_bad_record() -> None:
    contact = _contact()
    created = _published(contact)
    stale = copy.deepcopy(contact)
    contact.update(changes={"timezone": "Europe/Paris"}, at=T0)
    contact.update(changes={"profession": "Boulanger"}, at=T0)
    newer = _published(contact)
    stale.update(changes={"profession": "Plombier"}, at=T0)
    older = _published(stale)
    values = [*created, *newer, *created, b"garbage", *older]

    batched, single = FakeStore(), FakeStore()
    refused = await consumer.project_records(_records(values), lambda: FakeUnitOfWork(batched))
    for record in _records(values):
        await consumer.project_records([record], lambda: FakeUnitOfWork(single))
    assert [r.offset for r, _ in refused] == [len(created) * 2 + len(newer)]
    assert batched.state.contacts == single.state.contacts
    [row] = batched.state.contacts.values()
    assert stale.version < contact.version
    assert (row["version"], row["profession"]) == (contact.version, "boulanger")
    assert batched.state.offsets == single.state.offsets == {(contracts.CONTACTS_EVENTS, 0): len(values)}
    assert batched.commits == 1
