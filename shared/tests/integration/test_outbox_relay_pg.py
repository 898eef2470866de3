"""The outbox relay on a real PostgreSQL and Kafka: each pass claims rows in one statement, publishes
them, releases what was not acknowledged and commits; nothing lost, per-key order kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from shared.db import DEFAULT_POOL_SIZE, make_engine
from shared.events import EventEnvelope
from shared.kafka import KafkaPublisher, ensure_topics
from shared.outbox import OutboxRelay, add_many, outbox_table
from shared.testing import InMemoryPublisher
from shared.testing.harness import create_postgres_database
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

pytestmark = pytest.mark.integration


async def _outbox(admin_url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> tuple[AsyncEngine, sa.Table]:
    url = await create_postgres_database(admin_url, f"outbox_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url, pool_size=pool_size)
    table = outbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    return engine, table


async def _write(engine: AsyncEngine, table: sa.Table, topic: str, keys: list[str]) -> list[str]:
    """Writes one event per key, in order; returns their ids."""
    envelopes = [
        EventEnvelope(source="test", type="t.v1", subject=key, actor="test", data={"n": n})
        for n, key in enumerate(keys)
    ]
    async with AsyncSession(engine) as session, session.begin():
        await add_many(session, table, [(topic, e) for e in envelopes])
    return [e.id for e in envelopes]


async def _pending_ids(engine: AsyncEngine, table: sa.Table) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(table.c.id).where(table.c.published_at.is_(None)).order_by(table.c.id)
        )
        return [row[0] for row in rows]


async def test_every_row_reaches_kafka_once_in_order_per_key_and_is_marked(
    postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    engine, table = await _outbox(postgres_admin_url)
    topic = f"relay-pg-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic])
    keys = [f"contact-{n % 7}" for n in range(130)]
    ids = await _write(engine, table, topic, keys)
    publisher = KafkaPublisher(kafka_bootstrap, client_id="relay-test")
    await publisher.start()
    relay = OutboxRelay(engine=engine, table=table, publisher=publisher, batch_size=50)
    try:
        published = [await relay.publish_pending() for _ in range(4)]
    finally:
        await publisher.stop()
    assert published == [50, 50, 30, 0]
    assert (relay.passes_total, relay.empty_passes_total, relay.published_total) == (4, 1, 130)
    assert await _pending_ids(engine, table) == []
    async with engine.connect() as conn:
        marked = (
            await conn.execute(sa.select(sa.func.count()).where(table.c.published_at.is_not(None)))
        ).scalar()
    assert marked == 130

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=uuid.uuid4().hex
    )
    await consumer.start()
    seen: list[tuple[str, str]] = []
    partitions = sorted(consumer.partitions_for_topic(topic) or [])
    assert partitions == [0, 1, 2]
    try:
        while len(seen) < 130:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "records missing from the topic"
            for records in batch.values():
                seen += [(r.key.decode(), dict(r.headers)["ce_id"].decode()) for r in records]
                # The partition `send` (aiokafka's default partitioner over the key) would have chosen.
                assert all(
                    r.partition == DefaultPartitioner()(r.key, partitions, partitions) for r in records
                )
    finally:
        await consumer.stop()
    assert sorted(event for _, event in seen) == sorted(ids), "each event once"
    for key in set(keys):
        written = [event for k, event in zip(keys, ids, strict=True) if k == key]
        assert [event for k, event in seen if k == key] == written, f"order of {key}"
    await engine.dispose()


async def test_a_failed_record_and_those_after_it_stay_pending_and_go_out_next_in_order(
    postgres_admin_url: str,
) -> None:
    engine, table = await _outbox(postgres_admin_url)
    ids = await _write(engine, table, "t", [f"k{n % 3}" for n in range(20)])
    publisher = InMemoryPublisher(fail_after=7)
    relay = OutboxRelay(engine=engine, table=table, publisher=publisher, batch_size=50)
    assert await relay.publish_pending() == 7
    assert relay.failing
    assert len(await _pending_ids(engine, table)) == 13, "unacknowledged rows released in the same pass"
    publisher.fail_after = None
    assert await relay.publish_pending() == 13
    assert not relay.failing
    assert [dict(r.headers)["ce_id"].decode() for r in publisher.records] == ids
    await engine.dispose()


async def test_a_pass_cancelled_while_awaiting_acknowledgements_leaves_every_claimed_row_pending(
    postgres_admin_url: str,
) -> None:
    engine, table = await _outbox(postgres_admin_url)
    await _write(engine, table, "t", [f"k{n}" for n in range(10)])
    before = await _pending_ids(engine, table)
    handed: list[str] = []

    class Silent:
        """A producer that takes records and never hears back (a crash before the commit)."""

        async def publish(self, **_record: object) -> None:
            raise AssertionError("not used")

        async def send(
            self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
        ) -> object:
            handed.append(key)
            return asyncio.get_running_loop().create_future()

    relay = OutboxRelay(engine=engine, table=table, publisher=Silent())
    task = asyncio.create_task(relay.publish_pending())
    for _ in range(500):
        if len(handed) == 10 or task.done():
            break
        await asyncio.sleep(0.01)
    assert len(handed) == 10, task
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _pending_ids(engine, table) == before
    await engine.dispose()


async def test_a_connection_the_server_dropped_is_not_handed_to_the_next_pass(
    postgres_admin_url: str,
) -> None:
    import asyncpg

    # One pooled connection: every pass gets the same one.
    engine, table = await _outbox(postgres_admin_url, pool_size=1)
    relay = OutboxRelay(engine=engine, table=table, publisher=InMemoryPublisher())
    await _write(engine, table, "t", ["k1"])
    assert await relay.publish_pending() == 1
    async with engine.connect() as conn:
        backend = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", backend)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)
    await _write(engine, table, "t", ["k2"])
    assert await relay.publish_pending() == 1, "the dead connection was dropped, a new one opened"
    await engine.dispose()


async def test_each_rows_stored_headers_reach_its_record_as_written_in_id_order(
    postgres_admin_url: str,
) -> None:
    """The relay parses a pass's headers in one go: each record still gets its own row's pairs, byte
    for byte (non-ASCII, escaped characters, no header, many), in id order."""
    engine, table = await _outbox(postgres_admin_url)
    values = ["plain", 'quote " and \\ backslash', "zoé ✓ 日本 😀", "new\nline\ttab", "", "[],{}:"]
    written: list[list[list[str]]] = []
    async with engine.begin() as conn:
        for n in range(60):
            headers = [[f"h{m}", values[(n + m) % len(values)]] for m in range(n % 4)]
            written.append(headers)
            await conn.execute(
                table.insert(),
                {
                    "event_id": f"e{n}",
                    "topic": "t",
                    "key": f"k{n % 5}",
                    "value": f"v{n}".encode(),
                    "headers": headers,
                    "created_at": datetime.now(UTC),
                },
            )
    publisher = InMemoryPublisher()
    relay = OutboxRelay(engine=engine, table=table, publisher=publisher, batch_size=25)
    assert [await relay.publish_pending() for _ in range(4)] == [25, 25, 10, 0]
    assert [r.value for r in publisher.records] == [f"v{n}".encode() for n in range(60)]
    assert [r.headers for r in publisher.records] == [[(k, v.encode()) for k, v in h] for h in written]
    await engine.dispose()


async def test_records_larger_than_a_batch_go_out_alone_between_batched_small_ones(
    kafka_bootstrap: str,
) -> None:
    """A record over the producer's 256 KiB batch size (under the 1 MB a row may hold) gets a batch of
    its own; the small records around it are batched; every one arrives once, in order."""
    topic = f"relay-big-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic])
    values = [b"s%d" % n for n in range(300)]
    values[100] = b"L" * 600_000
    values[200] = b"M" * 300_000
    publisher = KafkaPublisher(kafka_bootstrap, client_id="relay-big-test")
    await publisher.start()
    try:
        taken, failure = await publisher.send_many([(topic, "same-key", value, []) for value in values])
        assert failure is None and len(taken) == 300
        await asyncio.gather(*taken)
    finally:
        await publisher.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=uuid.uuid4().hex,
        fetch_max_bytes=4_000_000,
        max_partition_fetch_bytes=2_000_000,
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        while len(seen) < 300:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "records missing from the topic"
            for records in batch.values():
                seen += [r.value for r in records]
    finally:
        await consumer.stop()
    assert seen == values
