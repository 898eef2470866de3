"""Fault injection: poison and oversized records on every consumed topic, and an oversized import row.

On each of `contacts.events`, `consent.events` and `campaigns.events`, records no consumer can apply
(bytes that are not JSON, JSON that is no event, and one of about 1 MiB, the largest the broker
takes) are followed on the same partition by a valid event. Every consumer group of the topic must
dead-letter each bad record once, naming itself and the error, and go on to apply the valid event.
Garbage and a contact event without facts, each left last on its partition, neither keep the gate
stale nor project a contact. An import row far over the size of a contact is refused without an
outbox row, and the rows after it are published.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from audit_log.adapters import orm as audit_orm
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.adapters import orm as gate_orm
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from contacts.adapters import orm as contacts_orm
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from shared.contracts import ContactsEvents
from shared.events import EventEnvelope
from shared.kafka import dead_letter_topic
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

from tests.faults.conftest import headers_of, read_topic
from tests.producers import Upstream

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
#: Near the broker's default `message.max.bytes` (1,048,588 for a whole batch): the largest record
#: a consumer can be handed, too large to be dead-lettered as is with the headers saying why.
OVERSIZED = 1_048_400
TOPICS = ("contacts.events", "consent.events", "campaigns.events")
GATE_BOUND = 1.0


def _bad_records() -> Iterator[tuple[str, bytes]]:
    yield "not-json", b"\x00\xffnot json at all"
    yield "not-an-event", orjson.dumps({"hello": "world", "id": 12})
    yield "oversized", b"{" + b"x" * OVERSIZED


async def test_poison_and_oversized_records_are_dead_lettered_by_every_group_and_the_stream_goes_on(
    faults_kafka: str, postgres_admin_url: str
) -> None:
    common = common_settings(faults_kafka)
    suffix = uuid.uuid4().hex[:8]
    audit_settings = AuditLogSettings(
        database_url=await migrated_database(postgres_admin_url, "audit-log"),
        consumer_group=f"faults-audit-{suffix}",
        **common,
    )
    gate_settings = CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"faults-gate-{suffix}",
        max_projection_lag_seconds=GATE_BOUND,
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common,
    )
    consent_settings = ConsentSettings(
        database_url=await migrated_database(postgres_admin_url, "consent"),
        consumer_group=f"faults-consent-{suffix}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common,
    )
    contacts_settings = ContactsSettings(
        database_url=await migrated_database(postgres_admin_url, "contacts"),
        requests_consumer_group=f"faults-contacts-{suffix}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common,
    )
    groups = {
        "contacts.events": {g.consumer_group for g in (audit_settings, gate_settings, consent_settings)}
        | {contacts_settings.requests_consumer_group},
        "consent.events": {audit_settings.consumer_group, gate_settings.consumer_group}
        | {contacts_settings.requests_consumer_group},
        "campaigns.events": {audit_settings.consumer_group, contacts_settings.requests_consumer_group},
    }

    async with (
        Upstream(faults_kafka, blind_index_key=BLIND_KEY) as upstream,
        running(create_contacts_app(contacts_settings)) as contacts,
        running(create_consent_app(consent_settings)) as consent,
        running(create_gate_app(gate_settings)) as gate,
        running(create_audit_app(audit_settings)) as audit,
    ):
        # The bad records first, each keyed like the valid event that follows it (same partition).
        contact_id, purpose_id, receipt_for = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        keys = {"contacts.events": contact_id, "consent.events": purpose_id, "campaigns.events": receipt_for}
        bad: dict[tuple[str, int, int], str] = {}
        producer = AIOKafkaProducer(bootstrap_servers=faults_kafka, max_request_size=2_000_000)
        await producer.start()
        try:
            for topic in TOPICS:
                for name, value in _bad_records():
                    meta = await (await producer.send(topic, value=value, key=keys[topic].encode()))
                    bad[(topic, meta.partition, meta.offset)] = name
        finally:
            await producer.stop()
        await upstream.contact(contact_id=contact_id, email=f"{contact_id}@example.org")
        await upstream.purpose(purpose_id)
        await upstream.gate_contact_forgotten(receipt_for)
        valid = list(upstream.published)

        # An import whose second row is far over a contact's size: refused, the others published.
        imported = await contacts.client.post(
            "/v1/contacts:import",
            content=b"\n".join(
                orjson.dumps(row)
                for row in (
                    _import_row("before"),
                    _import_row("huge", given_name="x" * 1_200_000),
                    _import_row("after"),
                )
            ),
            headers={**auth("integrator"), "content-type": "application/x-ndjson"},
        )
        print(f"\nan import with a 1.2 MB row: {imported.status_code} {imported.text[:300]}")
        assert imported.status_code in (200, 413, 422), imported.text

        # Every group dead-letters every bad record of its topics once, saying who and why.
        async def _dead_letters() -> dict[tuple[str, str, int, int], dict[str, str]] | None:
            found: dict[tuple[str, str, int, int], dict[str, str]] = {}
            for topic in TOPICS:
                for record in await read_topic(faults_kafka, dead_letter_topic(topic)):
                    h = headers_of(record)
                    key = (
                        h.get("dlq-group", ""),
                        h.get("dlq-topic", ""),
                        int(h["dlq-partition"]),
                        int(h["dlq-offset"]),
                    )
                    if (key[1], key[2], key[3]) in bad:
                        assert key not in found, f"dead-lettered twice: {key}"
                        found[key] = {**h, "size": str(len(record.value or b""))}
            expected = sum(len(groups[t]) for t, _p, _o in bad)
            return found if len(found) == expected else None

        dead = await eventually(_dead_letters, timeout=60, interval=0.5)
        for (group, topic, partition, offset), h in dead.items():
            assert group in groups[topic]
            assert h["dlq-error-class"] and h["dlq-error-message"], h
            assert h["dlq-source"] == f"{topic}:{partition}:{offset}"
            if bad[(topic, partition, offset)] == "oversized":
                # Cut to fit under the producer's limit, saying how large it was: it no longer blocks.
                assert h["dlq-value-truncated"] == str(OVERSIZED + 1) and int(h["size"]) < OVERSIZED, h

        # The valid events behind them are applied.
        async def _audited() -> bool:
            async with audit.app.state.service.runtime.engine.connect() as conn:
                ids = set((await conn.execute(sa.select(audit_orm.entries.c.event_id))).scalars())
            return {e.id for e in valid} <= ids

        await eventually(_audited, timeout=30, interval=0.3)

        async def _projected() -> bool:
            async with gate.app.state.service.runtime.engine.connect() as conn:
                contact = await conn.scalar(
                    sa.select(sa.func.count()).where(gate_orm.gate_contacts.c.contact_id == contact_id)
                )
                purpose = await conn.scalar(
                    sa.select(sa.func.count()).where(gate_orm.gate_purposes.c.purpose_id == purpose_id)
                )
            return contact == 1 and purpose == 1

        await eventually(_projected, timeout=30, interval=0.3)
        for app in (contacts, consent, gate):
            loop = app.app.state.service.runtime.consumers[0]

            async def _caught_up(loop: Any = loop) -> bool:
                lag = await loop.lag()
                return bool(lag) and not any(lag.values())

            await eventually(_caught_up, timeout=30, interval=0.3)

        # The import's outbox drained: the huge row is not in it, the rows after it were published.
        async def _drained() -> bool:
            async with contacts.app.state.service.runtime.engine.connect() as conn:
                pending = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(contacts_orm.outbox)
                    .where(contacts_orm.outbox.c.published_at.is_(None))
                )
            return pending == 0

        await eventually(_drained, timeout=30, interval=0.3)
        for name, kept in (("before", 1), ("huge", 0), ("after", 1)):
            found = await contacts.client.get(
                "/v1/contacts", params={"email": f"{name}@faults.example"}, headers=auth("integrator")
            )
            assert found.status_code == 200 and len(found.json()["items"]) == kept, (name, found.text)
        # Left last on their partitions, garbage and a contact event without facts: the gate refuses
        # both, projects no contact, and stays fresh once they are older than its bound.
        phantom = str(uuid.uuid4())
        producer = AIOKafkaProducer(bootstrap_servers=faults_kafka)
        await producer.start()
        try:
            for key, value in (
                (str(uuid.uuid4()), b"\x00garbage, last on its partition"),
                (
                    phantom,
                    EventEnvelope(
                        source="contacts", type=ContactsEvents.CONTACT_CREATED, subject=phantom, actor="t"
                    ).encode(),
                ),
            ):
                await producer.send_and_wait("contacts.events", value=value, key=key.encode())
        finally:
            await producer.stop()
        last_at = time.time()
        gate_loop = gate.app.state.service.runtime.consumers[0]

        async def _gate_caught_up() -> bool:
            lag = await gate_loop.lag()
            return bool(lag) and not any(lag.values())

        await eventually(_gate_caught_up, timeout=30, interval=0.2)
        await asyncio.sleep(max(0.0, last_at + GATE_BOUND + 0.5 - time.time()))
        freshness = await gate.app.state.service.projection_freshness()
        assert not freshness.stale, freshness
        async with gate.app.state.service.runtime.engine.connect() as conn:
            phantoms = await conn.scalar(
                sa.select(sa.func.count()).where(gate_orm.gate_contacts.c.contact_id == phantom)
            )
        assert phantoms == 0, "a contact was projected from an event without its facts"
        ready = {
            name: (await app.client.get("/readyz")).status_code
            for name, app in {"contacts": contacts, "consent": consent, "gate": gate, "audit": audit}.items()
        }
        assert set(ready.values()) == {200}, ready
    sizes = {bad[(t, p, o)]: h["size"] for (_g, t, p, o), h in dead.items()}
    print(f"dead-lettered {len(dead)} records; sizes kept: {sizes}")


def _import_row(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "consumer",
        "collected_from_person": True,
        "source": "web",
        "obtained_at": "2024-01-01T00:00:00Z",
        "email": f"{name}@faults.example",
        **fields,
    }
