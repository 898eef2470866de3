"""A batch loop with a StagedBatchHandler works one batch ahead (issue 14, projection ingest): it polls and
prepares the next batch while the current one's transaction runs, and still applies batches in order,
each committed (effects and offsets, then the Kafka offsets) before the next is applied; a crash or a
redelivery between batches applies nothing twice.

The "database" here is an in-memory store whose transaction records an inbox, the effects and the
offsets together, as the gate's projection does in PostgreSQL; its transaction yields to the event
loop as a real one waits on the network.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import sqlalchemy.exc
from aiokafka import ConsumerRecord, TopicPartition
from shared.kafka import (
    BATCH_GC_THRESHOLD,
    ConsumerLoop,
    PoisonMessageError,
    Refused,
    StagedBatchHandler,
)

A, B = TopicPartition("contacts.events", 0), TopicPartition("contacts.events", 1)


def _record(tp: TopicPartition, offset: int, value: bytes | None = None) -> ConsumerRecord[bytes, bytes]:
    value = value if value is not None else f"{tp.partition}:{offset}".encode()
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=[],
    )


def _batches(*spans: dict[TopicPartition, range]) -> list[dict[TopicPartition, list[ConsumerRecord]]]:
    return [{tp: [_record(tp, o) for o in offsets] for tp, offsets in span.items()} for span in spans]


class FakeConsumer:
    """Hands out the given polls in turn, then stops the loop; records commits in the shared log."""

    def __init__(
        self, loop: ConsumerLoop, polls: list[dict[TopicPartition, list[ConsumerRecord]]], log: list[str]
    ) -> None:
        self.loop, self.polls, self.log = loop, list(polls), log
        self.committed: dict[TopicPartition, int] = {}
        self.assigned = {A, B}
        #: Called after each poll (to revoke a partition meanwhile, say).
        self.after_poll: Any = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord]]:
        await asyncio.sleep(0)
        if not self.polls:
            self.loop.stop()
            return {}
        batch = self.polls.pop(0)
        self.log.append("poll " + _names(batch))
        if self.after_poll is not None:
            self.after_poll()
        return batch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(0)
        self.log.append(
            "kafka commit " + ",".join(f"{tp.partition}@{o}" for tp, o in sorted(offsets.items()))
        )
        self.committed.update(offsets)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, **record: Any) -> None:
        self.published.append(record)


class Crash(BaseException):
    """The process dies here (not an Exception: nothing retries it)."""


class Store:
    """What the projection's database holds: the inbox, the effects in applied order, the offsets."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.inbox: set[bytes] = set()
        self.applied: list[bytes] = []
        self.offsets: dict[tuple[str, int], int] = {}
        #: Failures to raise at the next transactions (an exception, or Crash after committing).
        self.failures: list[BaseException] = []
        self.crash_after_commit = False

    def prepare(self, record: ConsumerRecord) -> object:
        self.log.append(f"prepare {record.partition}:{record.offset}")
        if record.value == b"bad":
            return PoisonMessageError("undecodable")
        return record.value

    async def apply(self, records: list[ConsumerRecord], values: list[object]) -> Refused:
        self.log.append("apply " + _names({None: records}))  # type: ignore[dict-item]
        for _ in range(3):  # the transaction's round trips
            await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        # One transaction: first deliveries' effects, refused records' offsets too, all at once.
        inbox, applied, refused = set(self.inbox), list(self.applied), []
        offsets = dict(self.offsets)
        for record, value in zip(records, values, strict=True):
            offsets[(record.topic, record.partition)] = max(
                offsets.get((record.topic, record.partition), 0), record.offset + 1
            )
            if isinstance(value, PoisonMessageError):
                refused.append((record, value))
                continue
            assert isinstance(value, bytes)
            if value not in inbox:
                inbox.add(value)
                applied.append(value)
        self.inbox, self.applied, self.offsets = inbox, applied, offsets
        self.log.append("db commit")
        if self.crash_after_commit:
            raise Crash
        return refused


def _names(batch: dict[Any, list[ConsumerRecord]]) -> str:
    return ",".join(f"{r.partition}:{r.offset}" for records in batch.values() for r in records)


def _loop(
    store: Store, polls: list[dict[TopicPartition, list[ConsumerRecord]]], log: list[str]
) -> tuple[ConsumerLoop, FakeConsumer]:
    loop = ConsumerLoop(
        bootstrap_servers="localhost:1",
        topics=[A.topic],
        group_id="campaign-gate",
        handle_batch=StagedBatchHandler(store.prepare, store.apply),
        publisher=FakePublisher(),  # type: ignore[arg-type]
        backoff_initial=0.001,
        backoff_max=0.001,
    )
    consumer = FakeConsumer(loop, polls, log)
    loop._consumer._closed = True  # Never started: no "unclosed consumer" warning.
    loop._consumer = consumer  # type: ignore[assignment]
    return loop, consumer


async def test_the_next_batch_is_prepared_while_one_is_applied_and_applied_only_after_its_commit() -> None:
    log: list[str] = []
    store = Store(log)
    polls = _batches({A: range(0, 3), B: range(0, 2)}, {A: range(3, 6)}, {B: range(2, 4)})
    loop, consumer = _loop(store, polls, log)

    await loop.run()

    # In order per partition, each once, and the offsets recorded with them.
    assert store.applied == [b"0:0", b"0:1", b"0:2", b"1:0", b"1:1", b"0:3", b"0:4", b"0:5", b"1:2", b"1:3"]
    assert store.offsets == {(A.topic, 0): 6, (A.topic, 1): 4}
    assert consumer.committed == {A: 6, B: 4}
    # The second batch was polled and prepared while the first was being applied...
    assert log.index("prepare 0:3") < log.index("db commit")
    # ...and each batch applied only after the previous one's transaction and Kafka commit.
    applies = [i for i, line in enumerate(log) if line.startswith("apply ")]
    commits = [i for i, line in enumerate(log) if line.startswith("kafka commit ")]
    assert log[commits[0]] == "kafka commit 0@3,1@2" and commits[0] < applies[1]
    assert log[commits[1]] == "kafka commit 0@6" and commits[1] < applies[2]
    assert len(applies) == len(commits) == 3
    assert loop.stats.handled == 10


async def test_a_crash_between_batches_and_the_redelivery_apply_each_record_once() -> None:
    log: list[str] = []
    store = Store(log)
    first, second, third = _batches({A: range(0, 4)}, {A: range(4, 8)}, {A: range(8, 10)})
    loop, consumer = _loop(store, [first, second, third], log)
    # The second batch's transaction commits, then the process dies before its Kafka commit.
    original_apply = store.apply

    async def apply(records: list[ConsumerRecord], values: list[object]) -> Refused:
        store.crash_after_commit = records[0].offset == 4
        return await original_apply(records, values)

    loop._handle_batch = StagedBatchHandler(store.prepare, apply)
    with pytest.raises(Crash):
        await loop.run()
    assert consumer.committed == {A: 4}  # Kafka never heard of the second batch
    assert store.offsets == {(A.topic, 0): 8}  # but its effects and offsets are in the database

    # A new process: Kafka redelivers from its committed offset, the third batch was never applied.
    store.crash_after_commit = False
    redelivered = _batches({A: range(4, 8)}, {A: range(8, 10)})
    again, consumer_again = _loop(store, redelivered, log)
    await again.run()

    assert store.applied == [f"0:{o}".encode() for o in range(10)]  # each once, in order
    assert store.offsets == {(A.topic, 0): 10}
    assert consumer_again.committed == {A: 10}


async def test_a_prepared_batch_whose_transaction_failed_is_retried_and_applied_once() -> None:
    log: list[str] = []
    store = Store(log)
    down = sqlalchemy.exc.OperationalError("INSERT ...", {}, ConnectionRefusedError("connection refused"))
    store.failures = [down, down]
    loop, consumer = _loop(store, _batches({A: range(0, 3)}, {A: range(3, 5)}), log)

    await loop.run()

    assert store.applied == [f"0:{o}".encode() for o in range(5)]
    assert consumer.committed == {A: 5}
    assert loop.stats.retries == 2
    # Prepared once: a retry reuses what was prepared.
    assert log.count("prepare 0:0") == 1


async def test_records_polled_ahead_for_a_partition_revoked_meanwhile_are_not_applied() -> None:
    log: list[str] = []
    store = Store(log)
    loop, consumer = _loop(
        store, _batches({A: range(0, 2), B: range(0, 2)}, {A: range(2, 4), B: range(2, 4)}), log
    )
    polls = 0

    def revoke_b_after_the_second_poll() -> None:
        nonlocal polls
        polls += 1
        if polls == 2:
            consumer.assigned = {A}

    consumer.after_poll = revoke_b_after_the_second_poll
    await loop.run()

    assert store.applied == [b"0:0", b"0:1", b"1:0", b"1:1", b"0:2", b"0:3"]
    assert consumer.committed == {A: 4, B: 2}  # B's new owner reads from 2


async def test_a_record_whose_preparation_breaks_the_contract_is_isolated_and_dead_lettered() -> None:
    log: list[str] = []
    store = Store(log)
    polls = [{A: [_record(A, 0), _record(A, 1, b"raises"), _record(A, 2)]}]
    loop, consumer = _loop(store, polls, log)
    original_prepare = store.prepare

    def prepare(record: ConsumerRecord) -> object:
        if record.value == b"raises":
            raise ValueError("a prepare that raises instead of returning the error")
        return original_prepare(record)

    loop._handle_batch = StagedBatchHandler(prepare, store.apply)
    await loop.run()

    assert store.applied == [b"0:0", b"0:2"]
    assert loop.stats.dead_lettered == 1
    assert consumer.committed == {A: 3}


async def test_a_refused_record_is_dead_lettered_and_its_offset_committed_with_the_batch() -> None:
    log: list[str] = []
    store = Store(log)
    polls = [{A: [_record(A, 0), _record(A, 1, b"bad")]}, {A: [_record(A, 2)]}]
    loop, consumer = _loop(store, polls, log)

    await loop.run()

    assert store.applied == [b"0:0", b"0:2"]
    assert store.offsets == {(A.topic, 0): 3}
    assert loop.stats.dead_lettered == 1 and consumer.committed == {A: 3}


async def test_a_batch_loop_raises_the_collector_threshold() -> None:
    log: list[str] = []
    loop, _consumer = _loop(Store(log), _batches({A: range(0, 1)}), log)
    await loop.run()
    assert gc.get_threshold()[0] >= BATCH_GC_THRESHOLD
