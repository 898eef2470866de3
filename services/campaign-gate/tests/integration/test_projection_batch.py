"""The projection applies a polled batch in one transaction and ends where one-by-one application ends
(issue 14, item 2); a record it refuses cannot keep checks stale, and an envelope without a contact's
facts projects no contact (issue 17, item 4).

Real PostgreSQL and Kafka; every valid event is made by its producer's own code (`tests.producers`),
only the deliberately malformed records are written by hand.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.bootstrap import bootstrap
from campaign_gate.entrypoints import consumer
from campaign_gate.main import create_app
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from campaign_gate.settings import CampaignGateSettings
from contacts import contracts as contacts_contracts
from shared.db import make_engine, make_sessionmaker
from shared.events import EventEnvelope
from shared.kafka import KafkaPublisher, dead_letter_topic, ensure_topics
from shared.migrations import upgrade
from shared.testing.harness import common_settings, eventually, migrated_database, running

from tests.producers import RecordingPublisher, Upstream, now

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
BLIND_KEY = "test-blind-index-key-0123456789abcdef"
BOUND_SECONDS = 2.0
TABLES = (
    orm.gate_contacts,
    orm.gate_consents,
    orm.gate_notice_deliveries,
    orm.gate_objections,
    orm.gate_purposes,
    orm.projection_offsets,
)


async def _settings(kafka_bootstrap: str, postgres_admin_url: str) -> CampaignGateSettings:
    url = await migrated_database(postgres_admin_url, "campaign-gate")
    return CampaignGateSettings(
        database_url=url,
        consumer_group=f"gate-{uuid.uuid4().hex[:8]}",
        max_projection_lag_seconds=BOUND_SECONDS,
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(kafka_bootstrap),
    )


@pytest.fixture
async def topics(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, [*contracts.CONSUMED_TOPICS, contracts.CAMPAIGNS_EVENTS])


@pytest.fixture
async def upstream(kafka_bootstrap: str, topics: None) -> AsyncIterator[Upstream]:
    async with Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as producers:
        yield producers


async def _records(kafka_bootstrap: str, keys: set[str]) -> list[ConsumerRecord]:
    """Reads the consumed topics from their beginning to their end; returns the records of `keys`, in
    each partition's order (the order a consumer polls them)."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await reader.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in contracts.CONSUMED_TOPICS
            for p in reader.partitions_for_topic(topic) or await _partitions(reader, topic)
        ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp, end in ends.items() if await reader.position(tp) < end]:
            for batch in (await reader.getmany(timeout_ms=500)).values():
                records += [r for r in batch if r.key is not None and r.key.decode() in keys]
        return records
    finally:
        await reader.stop()


async def _partitions(reader: AIOKafkaConsumer, topic: str) -> set[int]:
    await reader._client.force_metadata_update()  # noqa: SLF001 - a topic the reader has not seen yet
    return reader.partitions_for_topic(topic) or set()


async def _state(settings: CampaignGateSettings | str) -> dict[str, list[str]]:
    """Returns every row of the projection's tables, the inbox and the gate's own events (subject and
    actor), without the times a row was written at."""
    engine = make_engine(settings if isinstance(settings, str) else settings.database_url)
    try:
        async with engine.connect() as conn:
            out = {}
            for table in TABLES:
                rows = (await conn.execute(sa.select(table))).mappings().all()
                out[table.name] = sorted(
                    repr(sorted((k, v) for k, v in row.items() if k != "updated_at")) for row in rows
                )
            out["inbox"] = sorted((await conn.scalars(sa.select(orm.inbox.c.event_id))).all())
            published = await conn.execute(sa.select(orm.outbox.c.key, orm.outbox.c.value))
            out["published"] = sorted(
                f"{key} {EventEnvelope.decode(value).type} {EventEnvelope.decode(value).actor}"
                for key, value in published
            )
            return out
    finally:
        await engine.dispose()


async def _contact(settings: CampaignGateSettings, contact_id: str) -> dict[str, Any] | None:
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(orm.gate_contacts).where(orm.gate_contacts.c.contact_id == contact_id)
            row = (await conn.execute(query)).mappings().first()
            return dict(row) if row else None
    finally:
        await engine.dispose()


async def test_a_batch_ends_in_the_state_one_by_one_application_leaves(
    kafka_bootstrap: str, postgres_admin_url: str, upstream: Upstream
) -> None:
    """Create, update, interaction, consent, withdrawal, a redelivered duplicate, an older version
    published late and an erasure, for two contacts: one batch, and the same records one by one."""
    purpose = await upstream.purpose()
    notice = await upstream.notice([purpose.purpose_id])
    kept, erased = str(uuid.uuid4()), str(uuid.uuid4())
    contact = await upstream.contact(contact_id=kept, email=f"{kept}@example.org", obtained_at=now())
    stale_copy = copy.deepcopy(contact)  # the same contact as another writer saw it at version 1
    await upstream.deliver(notice, kept)
    await upstream.update_contact(contact, profession="Boulanger")
    updated_version = contact.version
    await upstream.interaction(contact, "purchase", seller="Acme SAS", product_categories=["pain"])
    before = len(upstream.published)
    consent = await upstream.consent(kept, purpose.purpose_id, notice=notice)
    grant = upstream.published[-1]
    assert len(upstream.published) > before and grant.type == contracts.CONSENT_GRANTED
    await upstream.withdraw(consent)
    await upstream.redeliver(grant)  # delivered twice, the second time after the withdrawal
    await upstream.update_contact(stale_copy, profession="Plombier")  # version 2, after version 3
    assert stale_copy.version == updated_version < contact.version
    other = await upstream.contact(contact_id=erased, email=f"{erased}@example.org")
    await upstream.consent(erased, purpose.purpose_id, notice=notice)
    await upstream.erase(other)

    records = await _records(kafka_bootstrap, {kept, erased})
    ids = [EventEnvelope.decode(r.value).id for r in records]
    assert len(ids) > len(set(ids)), "the redelivered grant is among the records"

    batched, one_by_one = (
        await _settings(kafka_bootstrap, postgres_admin_url),
        await _settings(kafka_bootstrap, postgres_admin_url),
    )
    batch_gate, single_gate = bootstrap(batched), bootstrap(one_by_one)
    try:
        assert await consumer.project_records(records, batch_gate.uow) == []
        for record in records:
            assert await consumer.project_records([record], single_gate.uow) == []
        state = await _state(batched)
        assert state == await _state(one_by_one)
        # A whole batch delivered again changes nothing.
        assert await consumer.project_records(records, batch_gate.uow) == []
        assert await _state(batched) == state
    finally:
        await batch_gate.runtime.engine.dispose()
        await single_gate.runtime.engine.dispose()

    row = await _contact(batched, kept)
    assert row is not None
    assert (row["version"], row["profession"], row["status"]) == (contact.version, "boulanger", "active")
    assert [p["seller"] for p in row["purchases"]] == ["Acme SAS"]
    consents = [r for r in state["gate_consents"] if consent.consent_id in r]
    assert len(consents) == 1 and "'withdrawn'" in consents[0]
    gone = await _contact(batched, erased)
    assert gone is not None and (gone["status"], gone["email_index"]) == ("erased", None)
    assert state["published"] == [f"{erased} {contracts.CONTACT_FORGOTTEN} contacts/rights-desk"]


async def _dead_lettered(
    kafka_bootstrap: str, topic: str, key: str, *, timeout: float = 20
) -> ConsumerRecord:
    reader = AIOKafkaConsumer(
        dead_letter_topic(topic), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=500)).values():
                for record in batch:
                    if record.key is not None and record.key.decode() == key:
                        return record
        raise AssertionError(f"nothing dead-lettered under {key} within {timeout}s")
    finally:
        await reader.stop()


async def test_a_refused_record_last_on_its_partition_leaves_the_gate_fresh_and_no_contact(
    kafka_bootstrap: str, postgres_admin_url: str, topics: None
) -> None:
    """Garbage, then an envelope with `data: {}`, each the last record of its partition: both are
    dead-lettered, their offsets recorded, the gate fresh past the bound, and no phantom contact."""
    settings = await _settings(kafka_bootstrap, postgres_admin_url)
    garbage_key, phantom = f"garbage-{uuid.uuid4()}", str(uuid.uuid4())
    empty = EventEnvelope(
        source=contacts_contracts.SOURCE,
        type=contracts.CONTACT_CREATED,
        subject=phantom,
        actor="contacts/api",
        data={},
    )
    publisher = KafkaPublisher(kafka_bootstrap, client_id="test-malformed")
    await publisher.start()
    try:
        async with running(create_app(settings)) as gate:
            service = gate.app.state.service

            async def fresh_and_applied() -> bool:
                freshness = await service.projection_freshness()
                return not freshness.stale and all(v == 0 for v in freshness.lag.values())

            await eventually(fresh_and_applied, timeout=60, interval=0.1)
            await publisher.publish(
                topic=contracts.CONTACTS_EVENTS, key=garbage_key, value=b"\x00{not json", headers=[]
            )
            await publisher.publish(
                topic=contracts.CONTACTS_EVENTS, key=phantom, value=empty.encode(), headers=[]
            )
            await _dead_lettered(kafka_bootstrap, contracts.CONTACTS_EVENTS, garbage_key)
            await _dead_lettered(kafka_bootstrap, contracts.CONTACTS_EVENTS, phantom)
            await eventually(fresh_and_applied, timeout=20, interval=0.1)
            # Past the bound, a record that was never applied would make every check stale.
            await asyncio.sleep(BOUND_SECONDS + 1)
            freshness = await service.projection_freshness()
            assert not freshness.stale, freshness.reason
            assert all(v == 0 for v in freshness.lag.values()), freshness.lag
        assert await _contact(settings, phantom) is None
    finally:
        await publisher.stop()


async def test_on_sqlite_a_batch_ends_in_the_state_one_by_one_application_leaves(tmp_path: Path) -> None:
    """The `make run` path (SQLite, executemany upserts): the same events, made by the producers' code
    and taken as the relay hands them over, in one batch and one by one."""
    async with Upstream(None, blind_index_key=BLIND_KEY) as upstream:
        purpose = await upstream.purpose()
        contact = await upstream.contact(email="lea@example.org", obtained_at=now())
        stale_copy = copy.deepcopy(contact)
        await upstream.update_contact(contact, profession="Boulanger")
        await upstream.update_contact(contact, timezone="Europe/Paris")
        consent = await upstream.consent(contact.id, purpose.purpose_id)
        await upstream.withdraw(consent)
        await upstream.redeliver(upstream.published[0])
        await upstream.update_contact(stale_copy, profession="Plombier")
        assert isinstance(upstream.publisher, RecordingPublisher)
        offsets: dict[str, int] = {}
        records = []
        for topic, key, value, _headers in upstream.publisher.records:
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            records.append(
                ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            )
    urls = []
    for name in ("batched", "one_by_one"):
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        await asyncio.to_thread(upgrade, ROOT / "services" / "campaign-gate", url)
        urls.append(url)
    engines = [make_engine(url) for url in urls]
    try:
        batched, single = (make_sessionmaker(engine) for engine in engines)
        assert await consumer.project_records(records, lambda: GateUnitOfWork(session_factory=batched)) == []
        for record in records:
            assert (
                await consumer.project_records([record], lambda: GateUnitOfWork(session_factory=single)) == []
            )
    finally:
        for engine in engines:
            await engine.dispose()
    state = await _state(urls[0])
    assert state == await _state(urls[1])
    [row] = state["gate_contacts"]
    assert f"('version', {contact.version})" in row and "'boulanger'" in row
    assert len(state["gate_consents"]) == 1 and "'withdrawn'" in state["gate_consents"][0]
