"""The platform's first flow, for real: HTTP → contacts row + outbox → Kafka → audit-log entry → HTTP."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from contacts.adapters import orm as contacts_orm
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from shared.events import EventEnvelope
from shared.kafka import dead_letter_topic
from shared.outbox import OutboxRelay
from shared.testing import InMemoryPublisher
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.e2e

NEW_CONTACT = {
    "kind": "consumer",
    "relationship": "prospect",
    "given_name": "Camille",
    "family_name": "Durand",
    "email": "camille.durand@example.org",
    "phone": "+33 6 12 34 56 78",
    "collected_from_person": True,
    "source": "web_form",
    "obtained_at": "2026-10-01T10:00:00+00:00",
}


def _contact(**overrides: object) -> dict[str, object]:
    unique = uuid.uuid4().hex[:8]
    return {**NEW_CONTACT, "email": f"camille.{unique}@example.org", "phone": None, **overrides}


@pytest.fixture
async def stack(kafka_bootstrap: str, postgres_admin_url: str):
    common = common_settings(kafka_bootstrap)
    contacts_url = await migrated_database(postgres_admin_url, "contacts")
    audit_url = await migrated_database(postgres_admin_url, "audit-log")
    contacts_settings = ContactsSettings(database_url=contacts_url, **common)
    audit_settings = AuditLogSettings(
        database_url=audit_url,
        consumer_group=f"audit-{uuid.uuid4().hex[:8]}",
        checkpoint_every_seconds=0.2,
        **common,
    )
    return contacts_settings, audit_settings


async def _entries_for(audit, subject: str) -> list[dict]:
    response = await audit.client.get("/v1/entries", params={"subject": subject}, headers=auth("auditor"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_contact_created_over_http_reaches_the_audit_log_through_kafka(stack) -> None:
    contacts_settings, audit_settings = stack
    async with (
        running(create_contacts_app(contacts_settings)) as contacts,
        running(create_audit_app(audit_settings)) as audit,
    ):
        created = await contacts.client.post("/v1/contacts", json=_contact(), headers=auth("integrator"))
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]

        entries = await eventually(lambda: _entries_for(audit, contact_id))

        assert [e["type"] for e in entries] == ["vigie.contacts.contact_created.v1"]
        assert entries[0]["event"]["subject"] == contact_id
        assert entries[0]["event"]["actor"] == "e2e/tester"
        assert "email" not in entries[0]["event"]["data"]["facts"]
        ready = await audit.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "ok",
            "kafka": "ok",
            "consumers": "ok",
        }


async def test_a_relay_that_dies_between_commit_and_publish_loses_nothing_and_duplicates_nothing(
    stack,
) -> None:
    contacts_settings, audit_settings = stack
    no_relay = contacts_settings.model_copy(update={"run_relay": False})
    async with running(create_contacts_app(no_relay)) as contacts:
        created = await contacts.client.post("/v1/contacts", json=_contact(), headers=auth("integrator"))
        assert created.status_code == 201
        contact_id = created.json()["id"]
        service = contacts.app.state.service
        engine = service.runtime.engine
        async with engine.connect() as conn:
            pending = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(contacts_orm.outbox)
                    .where(contacts_orm.outbox.c.published_at.is_(None))
                )
            ).scalar()
        assert pending == 1, "the commit wrote the outbox row; no relay has published it"

        # A relay that publishes, then dies before it can mark the row: the row stays pending.
        class CrashAfterPublish(InMemoryPublisher):
            async def publish(self, **record: object) -> None:
                await service.runtime.publisher.publish(**record)
                raise ConnectionError("relay killed after publishing")

        crashed = OutboxRelay(engine=engine, table=contacts_orm.outbox, publisher=CrashAfterPublish())
        assert await crashed.publish_pending() == 0

        # The restarted relay publishes the same event again.
        restarted = OutboxRelay(engine=engine, table=contacts_orm.outbox, publisher=service.runtime.publisher)
        assert await restarted.publish_pending() == 1

    async with running(create_audit_app(audit_settings)) as audit:
        entries = await eventually(lambda: _entries_for(audit, contact_id))
        await _wait_for_consumer_idle(audit)
        entries = await _entries_for(audit, contact_id)
        assert len(entries) == 1, "the event was delivered twice and applied once"


async def _wait_for_consumer_idle(audit) -> None:
    consumer = audit.app.state.service.runtime.consumers[0]

    async def _caught_up() -> bool:
        lag = await consumer.lag()
        return bool(lag) and all(v == 0 for v in lag.values())

    await eventually(_caught_up)


async def test_a_malformed_record_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    stack, kafka_bootstrap: str
) -> None:
    _, audit_settings = stack
    async with running(create_audit_app(audit_settings)) as audit:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        garbage_key = f"garbage-{uuid.uuid4().hex[:8]}"
        good = EventEnvelope(
            source="/tests",
            type="vigie.tests.probe.v1",
            subject=f"probe-{uuid.uuid4().hex[:8]}",
            actor="tests",
            data={"n": 1},
        )
        try:
            await producer.send_and_wait("contacts.events", b"{not json", key=garbage_key.encode())
            await producer.send_and_wait("contacts.events", good.encode(), key=good.subject.encode())
        finally:
            await producer.stop()

        entries = await eventually(lambda: _entries_for(audit, good.subject))
        assert entries[0]["event_id"] == good.id

    consumer = AIOKafkaConsumer(
        dead_letter_topic("contacts.events"),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"dlq-reader-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    try:

        async def _garbage_in_dlq() -> list:
            batches = await consumer.getmany(timeout_ms=500)
            return [r for records in batches.values() for r in records if r.key == garbage_key.encode()]

        dead = await eventually(_garbage_in_dlq)
    finally:
        await consumer.stop()
    headers = dict(dead[0].headers)
    assert dead[0].value == b"{not json"
    assert b"undecodable" in headers["dlq-error"]
    assert headers["dlq-source"].startswith(b"contacts.events:")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**NEW_CONTACT, "email": "not-an-email"}, {"body.email"}),
        ({**NEW_CONTACT, "phone": "12"}, {"body.phone"}),
        ({**NEW_CONTACT, "kind": "alien"}, {"body.kind"}),
        ({**NEW_CONTACT, "birth_date": "2999-01-01"}, {"body.birth_date"}),
        ({k: v for k, v in NEW_CONTACT.items() if k != "kind"}, {"body.kind"}),
    ],
)
async def test_bad_input_gets_a_422_problem_naming_the_fields_and_nothing_is_stored(
    stack, body: dict, fields: set[str]
) -> None:
    contacts_settings, _ = stack
    async with running(
        create_contacts_app(contacts_settings.model_copy(update={"run_relay": False}))
    ) as contacts:
        response = await contacts.client.post("/v1/contacts", json=body, headers=auth("integrator"))
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert {e["field"] for e in problem["errors"]} == fields
        assert NEW_CONTACT["email"] not in response.text
        invalid_json = await contacts.client.post(
            "/v1/contacts",
            content=b"{oops",
            headers={**auth("integrator"), "content-type": "application/json"},
        )
        assert invalid_json.status_code == 422 and invalid_json.json()["errors"][0]["type"] == "json_invalid"
        async with contacts.app.state.service.runtime.engine.connect() as conn:
            stored = (
                await conn.execute(sa.select(sa.func.count()).select_from(contacts_orm.contacts))
            ).scalar()
            outbox = (
                await conn.execute(sa.select(sa.func.count()).select_from(contacts_orm.outbox))
            ).scalar()
        assert (stored, outbox) == (0, 0)
