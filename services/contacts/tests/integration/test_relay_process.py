"""The contacts relay in its own process (`contacts.relay`): API processes with the relay off only write
the outbox; the relay app publishes what they commit, woken by NOTIFY, and serves no API route."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from contacts import contracts
from contacts.adapters import orm
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.relay import create_relay_app
from contacts.settings import ContactsSettings
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.integration

WRITER = auth("integrator")


async def test_api_processes_only_write_the_outbox_and_the_relay_process_publishes_it(
    postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    url = await migrated_database(postgres_admin_url, "contacts")
    settings = ContactsSettings(
        database_url=url,
        retention_sweep_interval_seconds=0,
        run_relay=False,
        run_consumers=False,
        **common_settings(kafka_bootstrap),
    )
    body = {
        "kind": "consumer",
        "email": f"relay.{uuid.uuid4().hex[:8]}@example.org",
        "collected_from_person": True,
        "source": "web_form",
        "obtained_at": "2026-01-01T10:00:00+00:00",
    }
    consumer = AIOKafkaConsumer(
        contracts.CONTACTS_EVENTS,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
    )
    async with running(create_app(service=bootstrap(settings))) as api:
        created = await api.client.post("/v1/contacts", json=body, headers=WRITER)
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]
        engine = api.app.state.service.runtime.engine

        async def _pending() -> int:
            async with engine.connect() as conn:
                query = (
                    sa.select(sa.func.count())
                    .select_from(orm.outbox)
                    .where(orm.outbox.c.published_at.is_(None))
                )
                return (await conn.execute(query)).scalar_one()

        assert await _pending() == 1, "an API process with the relay off leaves its event in the outbox"

        async with running(create_relay_app(settings.model_copy(update={"run_relay": True}))) as relay:
            assert (await relay.client.get("/readyz")).status_code in (200, 503)
            assert (await relay.client.post("/v1/contacts", json=body, headers=WRITER)).status_code == 404
            await eventually(lambda: _is_zero(_pending()), timeout=30)
            again = await api.client.post(
                "/v1/contacts",
                json={**body, "email": f"relay2.{uuid.uuid4().hex[:8]}@example.org"},
                headers=WRITER,
            )
            assert again.status_code == 201
            # Woken by the API process's NOTIFY, not by the slow poll.
            await eventually(lambda: _is_zero(_pending()), timeout=5)

    await consumer.start()
    try:
        keys: set[bytes] = set()

        async def _published() -> bool:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                keys.update(r.key for r in batch)
            return contact_id.encode() in keys and again.json()["id"].encode() in keys

        await eventually(_published, timeout=30)
    finally:
        await consumer.stop()


async def _is_zero(count: object) -> bool:
    return await count == 0  # type: ignore[misc]
