"""The publisher replaces a broken idempotent session, backs off while the broker is away, logs little."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.producer.producer import _DEFAULT_PARTITIONER
from shared.events import EventEnvelope
from shared.kafka import (
    _MURMUR2_NUMPY_FROM,
    AcknowledgementTimeoutError,
    KafkaPublisher,
    PublisherUnavailableError,
    _partitions,
    murmur2_many,
)
from shared.outbox import OutboxRelay, add, outbox_table
from sqlalchemy.ext.asyncio import create_async_engine


class FakeBroker:
    """What the fake producers talk to: up or down, acknowledging, refusing the sequence, or silent."""

    def __init__(self) -> None:
        self.up = True
        self.mode = "ok"  # ok, out_of_order, silent
        self.producers: list[FakeProducer] = []
        self.delivered: list[bytes] = []
        self.batches: list[tuple[int, int]] = []
        self.refused_partitions: set[int] = set()


class FakeClient:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker

    async def force_metadata_update(self) -> bool:
        return self.broker.up

    async def _wait_on_metadata(self, topic: str) -> None:
        return None

    class cluster:  # noqa: N801 - mimics aiokafka's attribute.
        @staticmethod
        def brokers() -> set[int]:
            return {1}


class FakeAccumulator:
    def __init__(self) -> None:
        self.pending: list[asyncio.Future[object]] = []


class FakeSender:
    def __init__(self) -> None:
        self.sender_task: asyncio.Task[None] = asyncio.get_running_loop().create_task(asyncio.sleep(3600))


class FakeProducer:
    def __init__(self, broker: FakeBroker, **_config: Any) -> None:
        self.broker = broker
        self.client = FakeClient(broker)
        self._message_accumulator = FakeAccumulator()
        self._sender = FakeSender()
        self.stopped = False
        broker.producers.append(self)

    async def start(self) -> None:
        if not self.broker.up:
            raise KafkaConnectionError("broker away")

    async def stop(self) -> None:
        # Like aiokafka: stop flushes, and waits as long as records are unacknowledged.
        pending = [f for f in self._message_accumulator.pending if not f.done()]
        if pending:
            await asyncio.wait([self._sender.sender_task, *pending], return_when=asyncio.FIRST_COMPLETED)
        self._sender.sender_task.cancel()
        self.stopped = True

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: Any) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.broker.mode == "ok" and self.broker.up:
            self.broker.delivered.append(value)
            fut.set_result(None)
        elif self.broker.mode == "out_of_order":
            fut.set_exception(OutOfOrderSequenceNumber())
        else:
            self._message_accumulator.pending.append(fut)
        return fut

    # aiokafka's batch API, as `KafkaPublisher.send_many` uses it.
    def _partition(self, topic: str, partition: Any, key: Any, value: Any, key_bytes: bytes, _v: Any) -> int:
        return int(key_bytes.decode()[-1]) % 3 if key_bytes.decode()[-1].isdigit() else 0

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[object]:
        if partition in self.broker.refused_partitions:
            raise KafkaConnectionError("refused")
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.broker.mode == "ok" and self.broker.up:
            self.broker.delivered += batch.values
            self.broker.batches.append((partition, len(batch.values)))
            fut.set_result(None)
        elif self.broker.mode == "out_of_order":
            fut.set_exception(OutOfOrderSequenceNumber())
        else:
            self._message_accumulator.pending.append(fut)
        return fut


class FakeBatch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, timestamp: None, key: bytes, value: bytes, headers: Any) -> object | None:
        if len(self.values) == 4:
            return None
        self.values.append(value)
        return object()

    def close(self) -> None:
        pass


def _publisher(broker: FakeBroker, **kwargs: Any) -> KafkaPublisher:
    return KafkaPublisher(
        "fake:9092",
        client_id="test",
        producer_factory=lambda **config: FakeProducer(broker, **config),  # type: ignore[arg-type,return-value]
        **{"backoff_initial": 0.01, "backoff_max": 0.05, "ack_timeout": 0.2, **kwargs},
    )


async def _send(publisher: KafkaPublisher, value: bytes = b"v") -> object:
    ack = await publisher.send(topic="t", key="k", value=value, headers=[])
    return await ack


async def test_an_out_of_order_sequence_replaces_the_producer_with_a_new_session() -> None:
    broker = FakeBroker()
    publisher = _publisher(broker)
    await publisher.start()
    broker.mode = "out_of_order"
    with pytest.raises(OutOfOrderSequenceNumber):
        await _send(publisher)
    assert publisher.reconnecting
    with pytest.raises(PublisherUnavailableError):
        await publisher.ping()
    broker.mode = "ok"
    await _send(publisher, b"after")
    assert not publisher.reconnecting
    assert len(broker.producers) == 2 and broker.producers[0].stopped
    assert broker.delivered == [b"after"]
    assert publisher.health.sessions == 2
    await publisher.ping()
    await publisher.stop()


async def test_while_the_broker_is_away_attempts_back_off_exponentially_within_the_bound() -> None:
    broker = FakeBroker()
    publisher = _publisher(broker, backoff_initial=0.01, backoff_max=0.08)
    await publisher.start()
    broker.up = False
    publisher.mark_broken("test")
    delays = []
    for _ in range(6):
        with pytest.raises(PublisherUnavailableError):
            await _send(publisher)
        delays.append(publisher.backoff)
        # A send inside the backoff is refused without a new producer.
        created = len(broker.producers)
        with pytest.raises(PublisherUnavailableError):
            await _send(publisher)
        assert len(broker.producers) == created
        await asyncio.sleep(publisher.retry_after())
    assert delays[0] < delays[1] < delays[2]
    assert max(delays) <= 0.08
    broker.up = True
    await asyncio.sleep(publisher.retry_after())
    await _send(publisher)
    assert not publisher.reconnecting
    await publisher.stop()


async def test_records_never_acknowledged_time_out_and_the_stuck_producer_is_closed_without_flushing() -> (
    None
):
    broker = FakeBroker()
    publisher = _publisher(broker)
    await publisher.start()
    broker.mode = "silent"
    with pytest.raises(AcknowledgementTimeoutError):
        await _send(publisher)
    assert publisher.reconnecting
    broker.mode = "ok"
    await asyncio.wait_for(_send(publisher), timeout=5)
    assert broker.producers[0].stopped, "the stuck producer was closed without its flush"
    await publisher.stop()


async def test_an_outage_logs_a_few_lines_not_one_per_failed_send(caplog: pytest.LogCaptureFixture) -> None:
    broker = FakeBroker()
    publisher = _publisher(broker, backoff_max=0.01, summary_every=3600)
    await publisher.start()
    caplog.set_level(logging.INFO, logger="shared")
    broker.mode = "out_of_order"
    broker.up = False
    failures = 0
    for _ in range(500):
        try:
            await _send(publisher)
        except Exception:  # noqa: BLE001
            failures += 1
        await asyncio.sleep(0)
    broker.mode, broker.up = "ok", True
    await asyncio.sleep(0.02)
    await _send(publisher)
    assert failures == 500
    lines = [r for r in caplog.records if r.name.startswith("shared")]
    assert len(lines) == 2, [r.getMessage() for r in lines]  # broken, then replaced
    await publisher.stop()


async def test_the_relay_marks_only_acknowledged_rows_and_drains_after_the_session_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    table = outbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine) as session, session.begin():
        for i in range(20):
            await add(
                session,
                table,
                EventEnvelope(source="test", type="t.v1", subject=f"s{i}", actor="test"),
                topic="t",
            )
    broker = FakeBroker()
    publisher = _publisher(broker)
    await publisher.start()
    relay = OutboxRelay(engine=engine, table=table, publisher=publisher, batch_size=5)
    broker.mode = "out_of_order"
    caplog.set_level(logging.INFO, logger="shared")
    for _ in range(10):
        assert await relay.publish_pending() == 0
    assert relay.failing
    assert (await relay.pending_stats())[0] == 20
    broker.mode = "ok"
    while await relay.publish_pending():
        pass
    assert not relay.failing
    assert (await relay.pending_stats())[0] == 0
    assert len(broker.delivered) == 20
    relay_lines = [r for r in caplog.records if r.name == "shared.outbox"]
    assert len(relay_lines) == 2  # failing, then publishing again
    await publisher.stop()
    await engine.dispose()


async def test_send_many_batches_per_partition_in_order_and_returns_one_acknowledgement_per_record() -> None:
    broker = FakeBroker()
    publisher = _publisher(broker)
    await publisher.start()
    records = [("t", f"k{n % 2}", f"v{n}".encode(), []) for n in range(10)]
    taken, failure = await publisher.send_many(records)
    assert failure is None and len(taken) == 10
    await asyncio.gather(*taken)
    # Partition 0 (k0) then 1 (k1), each in batches of at most 4, each in the records' order.
    assert broker.batches == [(0, 4), (0, 1), (1, 4), (1, 1)]
    assert broker.delivered == [f"v{n}".encode() for n in (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)]
    assert publisher.health.acknowledged == 10
    await publisher.stop()


async def test_send_many_stops_at_a_refused_batch_and_returns_what_was_taken_before_it() -> None:
    broker = FakeBroker()
    publisher = _publisher(broker)
    await publisher.start()
    broker.refused_partitions = {1}
    records = [("t", "k0", b"a", []), ("t", "k0", b"b", []), ("t", "k1", b"c", []), ("t", "k0", b"d", [])]
    taken, failure = await publisher.send_many(records)
    assert isinstance(failure, KafkaConnectionError)
    # k0's batch (a, b, d) was handed over, k1's refused: only the records before c count as taken.
    assert len(taken) == 2
    await asyncio.gather(*taken)
    await publisher.stop()


def _random_keys(count: int, seed: int) -> list[bytes]:
    """Keys of every length from 0 to 100 bytes: random bytes, and UTF-8 text with non-ASCII letters."""
    rng = random.Random(seed)
    alphabet = "abcXYZ-09 éàü€😀ß\u0301"
    keys = [rng.randbytes(rng.randrange(0, 101)) for _ in range(count)]
    keys += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))).encode() for _ in range(count)
    ]
    keys += [b"", b"\xff" * 4, b"\x80" * 7, b"\x00" * 100]
    return keys


def test_murmur2_many_gives_aiokafkas_murmur2_for_every_key() -> None:
    keys = _random_keys(3000, seed=15)
    assert {len(key) for key in keys} >= set(range(101))
    assert murmur2_many(keys) == [murmur2(key) for key in keys]
    # Every length in turn, by numpy (a batch of one length) and by the few-keys path.
    for length in range(101):
        same = [key for key in keys if len(key) == length]
        assert len(same) >= _MURMUR2_NUMPY_FROM
        assert murmur2_many(same) == [murmur2(key) for key in same]
        assert murmur2_many(same[: _MURMUR2_NUMPY_FROM - 1]) == [
            murmur2(key) for key in same[: _MURMUR2_NUMPY_FROM - 1]
        ]
    assert murmur2_many([]) == []


class _MetadataProducer:
    """A producer with aiokafka's default partitioner and metadata of a few topics."""

    def __init__(self, partitioner: object) -> None:
        self._partitioner = partitioner
        self._metadata = self

    @staticmethod
    def partitions_for_topic(topic: str) -> set[int]:
        return set(range({"one": 1, "three": 3, "seven": 7, "many": 50}[topic]))


def test_send_many_partitions_each_record_where_the_default_partitioner_puts_it() -> None:
    keys = _random_keys(2000, seed=16)
    topics = ["one", "three", "seven", "many"]
    records = [(topics[n % 4], key.decode(errors="surrogateescape"), b"v", []) for n, key in enumerate(keys)]
    expected = []
    for topic, key in zip((r[0] for r in records), keys, strict=True):
        partitions = sorted(_MetadataProducer.partitions_for_topic(topic))
        expected.append(DefaultPartitioner()(key, partitions, partitions))
    for partitioner in (_DEFAULT_PARTITIONER, DefaultPartitioner):
        producer = _MetadataProducer(partitioner)
        assert _partitions(producer, records, keys) == expected  # type: ignore[arg-type]
    assert len(set(expected)) == 50


def test_another_partitioner_is_asked_once_per_distinct_key() -> None:
    asked: list[bytes] = []

    class Custom(FakeProducer):
        _partitioner = object()

        def _partition(
            self, topic: str, partition: Any, key: Any, value: Any, key_bytes: bytes, _v: Any
        ) -> int:
            asked.append(key_bytes)
            return len(key_bytes) % 3

    producer = Custom.__new__(Custom)
    records = [("t", k, b"v", []) for k in ("a", "bb", "a", "ccc", "bb")]
    keys = [r[1].encode() for r in records]
    assert _partitions(producer, records, keys) == [1, 2, 1, 0, 2]  # type: ignore[arg-type]
    assert asked == [b"a", b"bb", b"ccc"]


async def test_the_producer_batches_up_to_256_kib_unless_the_options_say_otherwise() -> None:
    configs: list[dict[str, Any]] = []

    def factory(**config: Any) -> FakeProducer:
        configs.append(config)
        return FakeProducer(FakeBroker(), **config)

    for options in (None, {"max_batch_size": 16384}):
        publisher = KafkaPublisher("fake:9092", client_id="t", options=options, producer_factory=factory)  # type: ignore[arg-type]
        await publisher.start()
        await publisher.stop()
    assert [config["max_batch_size"] for config in configs] == [262144, 16384]
