"""Kafka over aiokafka: an idempotent publisher and a consumer loop with a dead-letter topic.

The consumer commits a record's offset only after its handler returned, that is after the
handler's own database commit; a crash in between redelivers the record, which the handler's
inbox turns into a no-op. A record that cannot be decoded or handled goes to the dead-letter
topic with the error attached, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.events import EventDecodeError, EventEnvelope
from shared.logging import correlation_id
from shared.tracing import continue_or_start, current_trace

log = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """Returns the dead-letter topic of a topic."""
    return topic + DEAD_LETTER_SUFFIX


class PoisonMessageError(Exception):
    """A record that will never be handled, whatever the number of retries (bad bytes, bad schema)."""


def decode_or_poison(value: bytes | None) -> EventEnvelope:
    """Returns a consumed record's envelope, or raises PoisonMessageError (dead-letter it) if it has none."""
    try:
        return EventEnvelope.decode(value or b"")
    except EventDecodeError as exc:
        raise PoisonMessageError(f"undecodable event: {exc.__class__.__name__}") from exc


class KafkaPublisher:
    """Owns one idempotent AIOKafkaProducer (`acks=all`) for the life of a process."""

    def __init__(
        self, bootstrap_servers: str, *, client_id: str, options: dict[str, str] | None = None
    ) -> None:
        self._config = dict(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=15000,
            **(options or {}),
        )
        self._producer_or_none: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._producer_or_none is None:
            raise ConnectionError("the Kafka publisher is not started")
        return self._producer_or_none

    async def start(self) -> None:
        """Connects to the cluster (the producer is created here, inside the running event loop)."""
        self._producer_or_none = AIOKafkaProducer(**self._config)
        await self._producer_or_none.start()

    async def stop(self) -> None:
        """Flushes and disconnects."""
        if self._producer_or_none is not None:
            await self._producer_or_none.stop()
            self._producer_or_none = None

    async def publish(self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Publishes one record and waits for the cluster's acknowledgement."""
        await self._producer.send_and_wait(topic, value=value, key=key.encode(), headers=headers)

    async def send(
        self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        """Hands one record to the producer; the returned future resolves on the cluster's acknowledgement."""
        acknowledged: asyncio.Future[object] = await self._producer.send(
            topic, value=value, key=key.encode(), headers=headers
        )
        return acknowledged

    async def ping(self) -> None:
        """Fetches cluster metadata or raises."""
        await self._producer.client.force_metadata_update()
        if not self._producer.client.cluster.brokers():
            raise ConnectionError("no Kafka broker known")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    options: dict[str, object] | None = None,
) -> None:
    """Creates the topics and their dead-letter topics if they do not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {name for topic in topics for name in (topic, dead_letter_topic(topic))} - existing
        if wanted:
            try:
                await admin.create_topics([NewTopic(name, partitions, 1) for name in sorted(wanted)])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


RecordHandler = Callable[[ConsumerRecord], Awaitable[None]]
#: Handles a batch in one transaction; returns the records it refused as poison, with their errors.
BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[list[tuple[ConsumerRecord, BaseException]]]]


class ConsumerMetrics:
    """Prometheus series of consumer loops: lag per partition, handled and dead-lettered records."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "kafka_consumer_lag",
            "Records behind the end of the partition",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.handled = Counter(
            "kafka_consumer_handled_total", "Records handled", ["group", "topic"], registry=registry
        )
        self.dead_lettered = Counter(
            "kafka_consumer_dead_lettered_total",
            "Records sent to the dead-letter topic",
            ["group", "topic"],
            registry=registry,
        )


@dataclass
class ConsumerStats:
    """What a consumer loop has done, for metrics and tests."""

    handled: int = 0
    dead_lettered: int = 0


class ConsumerLoop:
    """Consumes topics in a group, hands each record to `handle`, commits after it, dead-letters poison."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str,
        handle: RecordHandler | None = None,
        handle_batch: BatchHandler | None = None,
        publisher: KafkaPublisher,
        retries: int = 3,
        max_records: int = 500,
        options: dict[str, str] | None = None,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **(options or {}),
        )
        if (handle is None) == (handle_batch is None):
            raise ValueError("give exactly one of handle and handle_batch")
        self._handle = handle
        self._handle_batch = handle_batch
        self._max_records = max_records
        self._group_id = group_id
        self._metrics = metrics
        self._handled_up_to: dict[TopicPartition, int] = {}
        self._publisher = publisher
        self._retries = retries
        self._stopping = asyncio.Event()
        self.stats = ConsumerStats()

    def stop(self) -> None:
        """Asks the loop to finish the record in hand, commit and return."""
        self._stopping.set()

    async def lag(self) -> dict[str, int]:
        """Returns the records not yet handled per assigned partition, as `topic:partition` → count.

        Counted from what the handler has finished (and committed), not from the fetch position,
        which runs ahead of the handler while a fetched batch is being applied.
        """
        result: dict[str, int] = {}
        assigned = self._consumer.assignment()
        if not assigned:
            return result
        ends = await self._consumer.end_offsets(list(assigned))
        for tp in assigned:
            done = self._handled_up_to.get(tp)
            if done is None:
                committed = await self._consumer.committed(tp)
                done = (
                    committed if committed is not None else (await self._consumer.beginning_offsets([tp]))[tp]
                )
            result[f"{tp.topic}:{tp.partition}"] = max(0, ends[tp] - done)
        return result

    async def run(self) -> None:
        """Runs until stopped."""
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if self._handle_batch is not None:
                    if batches:
                        await self._handle_batches(batches)
                    continue
                for tp, records in batches.items():
                    for record in records:
                        await self._handle_one(record)
                        await self._consumer.commit({tp: record.offset + 1})
                        self._observe(tp, record.offset + 1)
                        if self._stopping.is_set():
                            break
                    if self._stopping.is_set():
                        break
        finally:
            await self._consumer.stop()

    async def _handle_batches(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self._handle_batch is not None
        records = [record for tp_records in batches.values() for record in tp_records]
        for attempt in range(self._retries):
            try:
                refused = await self._handle_batch(records)
                break
            except Exception:  # noqa: BLE001 - retried, then isolated record by record.
                log.warning(
                    "batch handler failed on %d records (attempt %d)",
                    len(records),
                    attempt + 1,
                    exc_info=True,
                )
                await asyncio.sleep(0.2 * (attempt + 1))
        else:
            # Because one bad record must not hold the whole batch back: isolate it.
            refused = []
            for record in records:
                try:
                    refused += await self._handle_batch([record])
                except Exception as exc:  # noqa: BLE001
                    refused.append((record, exc))
        for record, error in refused:
            await self._dead_letter(record, error)
        self.stats.handled += len(records) - len(refused)
        await self._consumer.commit({tp: tp_records[-1].offset + 1 for tp, tp_records in batches.items()})
        for tp, tp_records in batches.items():
            self._observe(tp, tp_records[-1].offset + 1, handled=len(tp_records))
        # One line per 50 traces, so that every event's trace can be followed into this consumer.
        traces = list(dict.fromkeys(t.split("-")[1] for r in records if (t := _header(r, "traceparent"))))
        for start in range(0, max(len(traces), 1), 50):
            log.info(
                "integrated batch",
                extra={
                    "records": len(records),
                    "refused": len(refused),
                    "group": self._group_id,
                    "trace_ids": traces[start : start + 50],
                },
            )

    def _observe(self, tp: TopicPartition, next_offset: int, *, handled: int = 1) -> None:
        self._handled_up_to[tp] = next_offset
        if self._metrics is None:
            return
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            self._metrics.lag.labels(self._group_id, tp.topic, str(tp.partition)).set(
                max(0, highwater - next_offset)
            )
        self._metrics.handled.labels(self._group_id, tp.topic).inc(handled)

    async def _handle_one(self, record: ConsumerRecord) -> None:
        # Because one trace should follow an event from the API that caused it into every consumer.
        trace_token = current_trace.set(continue_or_start(_header(record, "traceparent")))
        cid = _header(record, "correlationid")
        cid_token = correlation_id.set(cid)
        try:
            await self._handle_one_in_context(record)
        finally:
            current_trace.reset(trace_token)
            correlation_id.reset(cid_token)

    async def _handle_one_in_context(self, record: ConsumerRecord) -> None:
        assert self._handle is not None
        error: BaseException | None = None
        for attempt in range(self._retries):
            try:
                await self._handle(record)
                self.stats.handled += 1
                log.info(
                    "event handled",
                    extra={
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "group": self._group_id,
                    },
                )
                return
            except PoisonMessageError as exc:
                error = exc
                break
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered.
                error = exc
                log.warning(
                    "handler failed on %s:%s@%s (attempt %d)",
                    record.topic,
                    record.partition,
                    record.offset,
                    attempt + 1,
                    exc_info=True,
                )
                await asyncio.sleep(0.2 * (attempt + 1))
        await self._dead_letter(record, error)

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException | None) -> None:
        reason = "".join(traceback.format_exception_only(type(error), error)).strip() if error else "unknown"
        headers = list(record.headers or []) + [
            ("dlq-error", reason[:2000].encode()),
            ("dlq-source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
        ]
        await self._publisher.publish(
            topic=dead_letter_topic(record.topic),
            key=(record.key or b"").decode(errors="replace"),
            value=record.value or b"",
            headers=headers,
        )
        self.stats.dead_lettered += 1
        if self._metrics is not None:
            self._metrics.dead_lettered.labels(self._group_id, record.topic).inc()
        log.error(
            "dead-lettered %s:%s@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__ if error else "unknown",
        )


def _header(record: ConsumerRecord, name: str) -> str | None:
    headers: Iterable[tuple[str, bytes | None]] = record.headers or ()
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("latin-1")
    return None


__all__ = [
    "BatchHandler",
    "ConsumerLoop",
    "ConsumerRecord",
    "KafkaPublisher",
    "PoisonMessageError",
    "TopicPartition",
    "dead_letter_topic",
    "ensure_topics",
]
