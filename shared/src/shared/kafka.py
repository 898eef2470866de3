"""Kafka over aiokafka: an idempotent publisher and a consumer loop with a dead-letter topic.

The consumer commits a record's offset only after its handler returned, that is after the
handler's own database commit; a crash in between redelivers the record, which the handler's
inbox turns into a no-op. A record that can never be applied (undecodable, invalid: see
`is_poison`) goes to the dead-letter topic with the error attached, and the loop goes on. Any other
failure (a database or broker away: see `is_transient`) is retried without limit, with bounded
exponential backoff and bounded logging, the record's offset uncommitted; meanwhile the loop's lag
grows and `check_progress` (behind readiness) fails once the retrying has lasted `stuck_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg.exceptions
import numpy as np
import pydantic
import sqlalchemy.exc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IllegalStateError,
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.events import EventDecodeError, EventEnvelope
from shared.logging import FailureRun, correlation_id
from shared.tracing import (
    continue_or_start,
    current_trace,
    links_to,
    mark_failed,
    parent_context,
    started_span,
    tracer,
)

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


#: Errors of a record that can never be applied, whatever the number of retries: dead-lettered at once.
POISON_ERRORS: tuple[type[BaseException], ...] = (
    PoisonMessageError,
    EventDecodeError,
    pydantic.ValidationError,
    KeyError,
    TypeError,
    ValueError,  # Also UnicodeDecodeError and json.JSONDecodeError.
)

#: Errors of something away for now (a database, a broker, the network): retried without limit.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # The connection pool's.
    sqlalchemy.exc.DisconnectionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # Admin or crash shutdown of the server.
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InsufficientResourcesError,
    kafka_errors.KafkaError,
    OSError,  # ConnectionError among them.
    TimeoutError,
)


def _chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def is_transient(error: BaseException) -> bool:
    """Tells whether an error, or one it was raised from, is of something away for now (retry it)."""
    for exc in _chain(error):
        if isinstance(exc, TRANSIENT_ERRORS):
            return True
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            return True
    return False


def is_poison(error: BaseException) -> bool:
    """Tells whether a handler's error means its record can never be applied (dead-letter it).

    PoisonMessageError always is; a decode or validation error (or KeyError, TypeError, ValueError
    on a bad payload) is, unless it was raised from a transient error. Anything else is retried: a
    record is dead-lettered only when no retry can ever apply it, never because something was away.
    """
    if isinstance(error, PoisonMessageError):
        return True
    return isinstance(error, POISON_ERRORS) and not is_transient(error)


def retry_delay(attempt: int, *, initial: float, maximum: float) -> float:
    """Returns the pause before retry `attempt` (1, 2, ...): doubling from `initial`, at most `maximum`."""
    doublings = min(max(attempt - 1, 0), 62)
    return float(min(maximum, initial * float(2**doublings)))


class ConsumerStuckError(RuntimeError):
    """A consumer has been retrying a record (or batch) for longer than its bound."""


class _Stopping(Exception):
    """The loop was asked to stop while retrying: leave without committing the record in hand."""


_MURMUR2_SEED = 0x9747B28C
_MURMUR2_M = np.uint32(0x5BD1E995)
#: The fewest keys of one length hashed with numpy (fewer: aiokafka's `murmur2`, one call per key).
_MURMUR2_NUMPY_FROM = 8


def murmur2_many(keys: Sequence[bytes]) -> list[int]:
    """Returns Kafka's murmur2 hash of each key (the value `aiokafka.partitioner.murmur2` returns),
    computed batch-wide with numpy: the keys of one length at a time, each step over all of them
    (groups of fewer than `_MURMUR2_NUMPY_FROM` keys with aiokafka's own function)."""
    hashes = [0] * len(keys)
    by_length: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(index)
    m = _MURMUR2_M
    for length, indexes in by_length.items():
        if len(indexes) < _MURMUR2_NUMPY_FROM:
            # Because numpy's fixed cost per step outweighs a few keys' pure-Python hashes.
            for index in indexes:
                hashes[index] = murmur2(keys[index])
            continue
        data = np.frombuffer(b"".join([keys[i] for i in indexes]), dtype=np.uint8).reshape(
            len(indexes), length
        )
        h = np.full(len(indexes), (_MURMUR2_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
        whole = length // 4 * 4
        # Little-endian 32-bit words, as the Java client reads them; uint32 arithmetic wraps like its ints.
        words = np.ascontiguousarray(data[:, :whole]).view("<u4").astype(np.uint32)
        for column in range(whole // 4):
            k = words[:, column] * m
            k ^= k >> 24
            k *= m
            h *= m
            h ^= k
        extra = length - whole
        if extra >= 3:
            h ^= data[:, whole + 2].astype(np.uint32) << 16
        if extra >= 2:
            h ^= data[:, whole + 1].astype(np.uint32) << 8
        if extra >= 1:
            h ^= data[:, whole].astype(np.uint32)
            h *= m
        h ^= h >> 13
        h *= m
        h ^= h >> 15
        for index, value in zip(indexes, h.tolist(), strict=True):
            hashes[index] = value
    return hashes


def _partitions(
    producer: AIOKafkaProducer, records: Sequence[tuple[str, str, bytes, object]], keys: list[bytes]
) -> list[int]:
    """Returns the partition the producer's `send` would pick for each record (key = `keys[i]`).

    With aiokafka's default partitioner (every publisher's), its formula over `murmur2_many`'s hashes:
    `all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]`, the list built as the producer
    builds it, so that each record lands where `send` puts it without a pure-Python hash per record.
    Any other partitioner is asked once per distinct (topic, key).
    """
    partitioner = getattr(producer, "_partitioner", None)
    if partitioner is DefaultPartitioner or type(partitioner) is DefaultPartitioner:
        hashes = murmur2_many(keys)
        by_topic: dict[str, list[int]] = {}
        result = []
        for (topic, *_rest), hashed in zip(records, hashes, strict=True):
            all_partitions = by_topic.get(topic)
            if all_partitions is None:
                all_partitions = by_topic[topic] = list(producer._metadata.partitions_for_topic(topic))
            result.append(all_partitions[(hashed & 0x7FFFFFFF) % len(all_partitions)])
        return result
    partitions: dict[tuple[str, bytes], int] = {}
    result = []
    for (topic, _key, value, _headers), key in zip(records, keys, strict=True):
        partition = partitions.get((topic, key))
        if partition is None:
            partition = partitions[(topic, key)] = producer._partition(topic, None, key, value, key, value)
        result.append(partition)
    return result


class PublisherUnavailableError(ConnectionError):
    """The publisher has no working producer right now (it is reconnecting); retry after `retry_after()`."""


class AcknowledgementTimeoutError(TimeoutError):
    """The cluster did not acknowledge a record in time (broker away, or a producer session stuck)."""


#: Errors after which an idempotent producer session can never deliver again: only a new session helps.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    ProducerFenced,
    InvalidProducerEpoch,
    ProducerClosed,
    IllegalStateError,
)


#: Errors of one record the cluster will never take as it is (too large), not of the producer session:
#: they fail that record alone and say nothing of the session's health.
RECORD_REFUSED_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
)


def _sender_task(producer: AIOKafkaProducer) -> asyncio.Task[None] | None:
    """Returns the producer's background sender task (aiokafka internals), if it has one."""
    task: asyncio.Task[None] | None = getattr(getattr(producer, "_sender", None), "sender_task", None)
    return task


@dataclass
class PublisherHealth:
    """What the publisher knows of its producer session, for readiness and metrics."""

    state: str = "stopped"  # stopped, connected, reconnecting
    #: Monotonic time of the last acknowledged record (or of the last (re)connection).
    last_ack: float = float("-inf")
    sessions: int = 0
    acknowledged: int = 0
    failed: int = 0


class KafkaPublisher:
    """Owns an idempotent AIOKafkaProducer (`acks=all`) and replaces it when its session breaks.

    An idempotent session ends for good on OutOfOrderSequenceNumber, UnknownProducerId or a fenced
    epoch (after a broker restart, for instance), and a session whose records stay unacknowledged
    past `ack_timeout` is as good as ended. Either marks the producer broken; the next `send` closes
    it and starts a new one (a new producer id), retrying with bounded exponential backoff in the
    meantime and raising PublisherUnavailableError without touching the network. A record failed by
    the old session was never acknowledged, so its outbox row stays pending and is sent again:
    at-least-once, deduplicated by event id downstream.

    Logging is bounded: one line when the session breaks, one when a new one is up, and a summary
    every `summary_every` seconds while reconnecting, never a line per failed record.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        options: dict[str, str] | None = None,
        ack_timeout: float = 20.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        summary_every: float = 30.0,
        producer_factory: Callable[..., AIOKafkaProducer] | None = None,
    ) -> None:
        self._config = dict(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            # 256 KiB batches (aiokafka's default: 16 KiB): a relay pass's records go out in a tenth of
            # the produce requests, and the socket writes and request encoding per request were the
            # largest part of the relay's CPU (import bench: the API process 65-69 -> 40-44 us per row).
            # Under the broker's default 1 MB message.max.bytes; a record larger still gets a batch alone.
            max_batch_size=256 * 1024,
            request_timeout_ms=15000,
        )
        # The options (settings' `kafka_client_options` included) may change the batch size above.
        self._config.update(options or {})
        self._factory = producer_factory or AIOKafkaProducer
        self._ack_timeout = ack_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._summary_every = summary_every
        self._producer_or_none: AIOKafkaProducer | None = None
        self._broken_since: float | None = None
        self._broken_reason = ""
        self._attempts = 0
        self._next_attempt = 0.0
        self._last_summary = 0.0
        self._failed_while_broken = 0
        self._first_failure: float | None = None
        #: The pause chosen after the last failed attempt at a new session (seconds).
        self.backoff = 0.0
        self._lock = asyncio.Lock()
        self.health = PublisherHealth()

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._producer_or_none is None:
            raise ConnectionError("the Kafka publisher is not started")
        return self._producer_or_none

    @property
    def reconnecting(self) -> bool:
        """Tells whether the producer session is broken and not yet replaced."""
        return self._broken_since is not None

    def retry_after(self) -> float:
        """Returns the seconds a caller should wait before sending again (0 when connected)."""
        if self._broken_since is None:
            return 0.0
        return max(0.05, self._next_attempt - time.monotonic())

    async def start(self) -> None:
        """Connects to the cluster (the producer is created here, inside the running event loop)."""
        producer = self._factory(**self._config)
        await producer.start()
        self._producer_or_none = producer
        self.health.state = "connected"
        self.health.sessions += 1
        self.health.last_ack = time.monotonic()

    async def stop(self) -> None:
        """Flushes and disconnects."""
        if self._producer_or_none is not None:
            producer, self._producer_or_none = self._producer_or_none, None
            await self._close(producer, grace=10.0 if self._broken_since is None else 1.0)
        self.health.state = "stopped"

    async def publish(self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Publishes one record and waits for the cluster's acknowledgement."""
        await (await self.send(topic=topic, key=key, value=value, headers=headers))

    async def send(
        self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        """Hands one record to the producer; the returned future resolves on the cluster's acknowledgement.

        The future fails with AcknowledgementTimeoutError after `ack_timeout` seconds without one.
        """
        if self._broken_since is not None:
            await self._replace()
        producer = self._producer
        try:
            acknowledged: asyncio.Future[object] = await producer.send(
                topic, value=value, key=key.encode(), headers=headers
            )
        except Exception as exc:
            self._failed(producer, exc)
            raise
        return self._watch(producer, acknowledged)

    async def send_many(
        self, records: Sequence[tuple[str, str, bytes, list[tuple[str, bytes]]]]
    ) -> tuple[list[asyncio.Future[object]], BaseException | None]:
        """Hands (topic, key, value, headers) records to the producer in order, per partition in as few
        batches as the producer's batch size allows (aiokafka's batch API: one future and one timer per
        batch instead of per record).

        Each record goes to the partition `send` would pick (the producer's own partitioner over its
        key: see `_partitions`), and a partition's records keep their order. Returns one
        future per record taken (the records of a batch share it), resolving on that batch's
        acknowledgement or failing like `send`'s, and the error that stopped the hand-over, if one
        did: the records after it were not taken.
        """
        futures: list[asyncio.Future[object] | None] = [None] * len(records)
        failure: BaseException | None = None
        try:
            if self._broken_since is not None:
                await self._replace()
            producer = self._producer
            # Each record's partition, then its (topic, partition) group, in the records' order.
            groups: dict[tuple[str, int], list[int]] = {}
            for topic in {record[0] for record in records}:
                await producer.client._wait_on_metadata(topic)
            keys = [record[1].encode() for record in records]
            for index, partition in enumerate(_partitions(producer, records, keys)):
                groups.setdefault((records[index][0], partition), []).append(index)
            # Because a batch's acknowledgement stands for its records only once every earlier batch's
            # has too, hand-over order per partition is record order; partitions are independent.
            for (topic, partition), indexes in groups.items():
                start = 0
                while start < len(indexes):
                    batch = producer.create_batch()
                    end = start
                    while end < len(indexes):
                        _topic, _key, value, headers = records[indexes[end]]
                        if (
                            batch.append(timestamp=None, key=keys[indexes[end]], value=value, headers=headers)
                            is None
                        ):
                            break
                        end += 1
                    if end == start:
                        raise kafka_errors.MessageSizeTooLargeError(
                            f"a record of {len(value)} bytes does not fit in a batch"
                        )
                    batch.close()
                    try:
                        acknowledged = await producer.send_batch(batch, topic, partition=partition)
                    except Exception as exc:
                        self._failed(producer, exc)
                        raise
                    watched = self._watch(producer, acknowledged, records=end - start)
                    for index in indexes[start:end]:
                        futures[index] = watched
                    start = end
        except Exception as exc:  # noqa: BLE001 - the caller awaits what was taken and retries the rest.
            failure = exc
        # Taken: the records before the first one not handed over (a later partition's records handed
        # over meanwhile are published, and sent again by the caller's retry: at least once).
        taken: list[asyncio.Future[object]] = []
        for future in futures:
            if future is None:
                break
            taken.append(future)
        return taken, failure

    def _watch(
        self, producer: AIOKafkaProducer, acknowledged: asyncio.Future[object], *, records: int = 1
    ) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[object] = loop.create_future()

        def _timeout() -> None:
            if not result.done():
                exc = AcknowledgementTimeoutError(f"no acknowledgement within {self._ack_timeout:g}s")
                result.set_exception(exc)
                self._failed(producer, exc)

        timer = loop.call_later(self._ack_timeout, _timeout)

        def _done(fut: asyncio.Future[object]) -> None:
            timer.cancel()
            if fut.cancelled():
                if not result.done():
                    result.cancel()
                return
            exc = fut.exception()
            if exc is None:
                self.health.acknowledged += records
                self.health.last_ack = time.monotonic()
                self._first_failure = None
                if not result.done():
                    result.set_result(fut.result())
            else:
                if not result.done():
                    result.set_exception(exc)
                self._failed(producer, exc)

        acknowledged.add_done_callback(_done)
        # Because a caller that gave up on a batch must not leave "exception never retrieved" noise.
        result.add_done_callback(lambda f: f.cancelled() or f.exception())
        return result

    def _failed(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        self.health.failed += 1
        if isinstance(exc, RECORD_REFUSED_ERRORS):
            return  # One record refused for its size: the session itself is sound.
        if producer is not self._producer_or_none:
            return  # A record of a session already replaced.
        if self._broken_since is not None:
            self._failed_while_broken += 1
            return
        now = time.monotonic()
        if self._first_failure is None:
            self._first_failure = now
        sender_task = _sender_task(producer)
        if (
            isinstance(exc, FATAL_PRODUCER_ERRORS + (AcknowledgementTimeoutError,))
            # Because a producer whose sender task died fails every later record the same way.
            or (sender_task is not None and sender_task.done())
            # Because records that keep failing, none acknowledged, mean a session that will not heal.
            or now - self._first_failure > self._ack_timeout
        ):
            self.mark_broken(exc)

    def mark_broken(self, reason: BaseException | str) -> None:
        """Declares the producer session unusable: the next send replaces it."""
        if self._broken_since is not None:
            return
        now = time.monotonic()
        self._broken_since = now
        self._broken_reason = reason if isinstance(reason, str) else type(reason).__name__
        self._attempts = 0
        self._next_attempt = now
        self._last_summary = now
        self._failed_while_broken = 0
        self.health.state = "reconnecting"
        log.warning(
            "Kafka producer session broken (%s); replacing it with a new idempotent session",
            self._broken_reason,
        )

    async def _replace(self) -> None:
        async with self._lock:
            if self._broken_since is None:
                return
            now = time.monotonic()
            if now < self._next_attempt:
                self._failed_while_broken += 1
                raise PublisherUnavailableError(f"Kafka producer reconnecting ({self._broken_reason})")
            self._attempts += 1
            old, self._producer_or_none = self._producer_or_none, None
            if old is not None:
                await self._close(old, grace=1.0)
            producer = self._factory(**self._config)
            try:
                await asyncio.wait_for(producer.start(), timeout=max(self._ack_timeout, 5.0))
            except Exception as exc:  # noqa: BLE001 - the broker is still away: back off and retry.
                await self._close(producer, grace=0.0)
                delay = retry_delay(self._attempts, initial=self._backoff_initial, maximum=self._backoff_max)
                self.backoff = delay * random.uniform(0.8, 1.0)
                self._next_attempt = time.monotonic() + self.backoff
                self._failed_while_broken += 1
                if time.monotonic() - self._last_summary >= self._summary_every:
                    self._last_summary = time.monotonic()
                    log.warning(
                        "Kafka producer still reconnecting after %.0fs: %d attempts, %d sends refused, "
                        "last error %s",
                        time.monotonic() - self._broken_since,
                        self._attempts,
                        self._failed_while_broken,
                        type(exc).__name__,
                    )
                raise PublisherUnavailableError(
                    f"Kafka producer reconnecting ({type(exc).__name__})"
                ) from exc
            self._producer_or_none = producer
            log.warning(
                "Kafka producer replaced: new idempotent session after %.1fs, %d attempts, %d sends refused",
                time.monotonic() - self._broken_since,
                self._attempts,
                self._failed_while_broken,
            )
            self._broken_since = None
            self._first_failure = None
            self.health.state = "connected"
            self.health.sessions += 1
            self.health.last_ack = time.monotonic()

    async def _close(self, producer: AIOKafkaProducer, *, grace: float) -> None:
        """Stops a producer; one that cannot flush within `grace` (broker away) is closed without flushing."""
        stopping = asyncio.ensure_future(producer.stop())
        done, _ = await asyncio.wait({stopping}, timeout=grace)
        if not done:
            # Because an idempotent producer never expires its batches, its flush waits for a broker
            # that may never come back: end its sender task, after which `stop` closes the client.
            # Its unacknowledged records never resolve; `send`'s acknowledgement timeout answers them.
            sender_task = _sender_task(producer)
            if sender_task is not None:
                sender_task.cancel()
            done, _ = await asyncio.wait({stopping}, timeout=2.0)
        if not done:
            stopping.cancel()
        with contextlib.suppress(BaseException):
            await stopping

    async def ping(self) -> None:
        """Fetches cluster metadata or raises; also raises while the producer session is being replaced."""
        if self._broken_since is not None:
            raise PublisherUnavailableError(f"Kafka producer reconnecting ({self._broken_reason})")
        updated = await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout=5.0)
        if not updated or not self._producer.client.cluster.brokers():
            raise ConnectionError("no Kafka broker answers")


#: The configuration every topic `ensure_topics` manages gets. The broker stamps each record with the
#: time it appended it, so no producer's clock can make a record look newer than it is: the gate's
#: staleness (the age of its oldest unapplied record) reads these timestamps.
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}

#: A config's source in a DescribeConfigs answer when it was set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    options: dict[str, object] | None = None,
) -> None:
    """Creates the topics and their dead-letter topics if they do not exist, with `TOPIC_CONFIG`.

    A topic that exists without it (created before, or by hand) is altered to it, keeping its other
    settings; where this process may not describe or alter topic configs (a production user that
    only describes and writes), a warning says so and the topic's own definition must set it.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **(options or {}))
    await admin.start()
    try:
        names = {name for topic in topics for name in (topic, dead_letter_topic(topic))}
        existing = set(await admin.list_topics())
        if wanted := names - existing:
            try:
                await admin.create_topics(
                    [NewTopic(name, partitions, 1, topic_configs=TOPIC_CONFIG) for name in sorted(wanted)]
                )
            except TopicAlreadyExistsError:
                pass
        if present := names & existing:
            try:
                await _configure(admin, sorted(present))
            except Exception as exc:  # noqa: BLE001 - a missing permission must not stop the service.
                log.warning(
                    "could not check the configuration of topics %s (%s); their definitions must set %s",
                    ", ".join(sorted(present)),
                    type(exc).__name__,
                    TOPIC_CONFIG,
                )
    finally:
        await admin.close()


async def _configure(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Sets `TOPIC_CONFIG` on the topics that lack it, keeping the settings each has of its own."""
    answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    changes = []
    for answer in answers:
        for error_code, error_message, _type, name, entries, *_rest in answer.resources:
            if error_code:
                raise kafka_errors.for_code(error_code)(f"{name}: {error_message}")
            current = {entry[0]: entry[1] for entry in entries}
            if all(current.get(key) == value for key, value in TOPIC_CONFIG.items()):
                continue
            # Because AlterConfigs replaces a topic's whole set of its own settings: carry them over.
            own = {entry[0]: entry[1] for entry in entries if entry[3] == _DYNAMIC_TOPIC_CONFIG}
            changes.append(ConfigResource(ConfigResourceType.TOPIC, name, {**own, **TOPIC_CONFIG}))
    if not changes:
        return
    for answer in await admin.alter_configs(changes):
        for error_code, error_message, _type, name in answer.resources:
            if error_code:
                raise kafka_errors.for_code(error_code)(f"{name}: {error_message}")
    log.warning(
        "topics %s now stamp records with the broker's append time", ", ".join(c.name for c in changes)
    )


RecordHandler = Callable[[ConsumerRecord], Awaitable[None]]
Refused = list[tuple[ConsumerRecord, BaseException]]
#: Handles a batch in one transaction; returns the records it refused as poison, with their errors.
BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[Refused]]


class StagedBatchHandler:
    """A batch handler in two stages, so that the consumer loop can work one batch ahead.

    `prepare` turns one record into what `apply` needs (its decoded envelope, say): CPU only, no I/O,
    no state, the same answer whenever it is called, and it returns a record's error as a value rather
    than raising. `apply` handles a polled batch in one transaction, given each record's prepared
    value in record order, and returns the records it refused, as a `BatchHandler` does. Called as a
    plain `BatchHandler`, it prepares and then applies.

    `ConsumerLoop` prepares the next polled batch while the current one's transaction waits on the
    database; the next batch is applied only once the current one is committed (its effects, its
    offsets), so the order of records and what a crash leaves are those of the one-batch-at-a-time loop.
    """

    def __init__(
        self,
        prepare: Callable[[ConsumerRecord], object],
        apply: Callable[[list[ConsumerRecord], list[object]], Awaitable[Refused]],
    ) -> None:
        self.prepare = prepare
        self.apply = apply

    async def __call__(self, records: list[ConsumerRecord]) -> Refused:
        return await self.apply(records, [self.prepare(record) for record in records])


#: Records prepared between two yields to the event loop, while a batch's transaction is in flight.
PREPARE_CHUNK = 250

#: The young-generation threshold of CPython's garbage collector while a batch consumer runs (default
#: 700): a polled batch allocates hundreds of thousands of objects that all live until its commit, so
#: collecting every 700 allocations only promotes them, and walks them again in the older generations.
#: Measured on the gate's projection (B7, 100,000 events): CPU per event 49-54 µs at 700, 45-46 µs at
#: 50,000, 39-41 µs at 200,000 (two young collections per 100,000 events).
BATCH_GC_THRESHOLD = 200_000

_gc_tuned = False


def tune_gc_for_batches() -> None:
    """Freezes what the process has allocated so far and raises the young-generation threshold; once.

    `gc.freeze` moves every object alive now (modules, the app, its settings and pools: nothing that
    will become garbage) out of the collector's sight, so that the collections a batch triggers stop
    walking them. Cycles are still collected; only the startup heap is no longer scanned.
    """
    global _gc_tuned  # noqa: PLW0603 - the process's collector is process-wide state
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(max(_young, BATCH_GC_THRESHOLD), middle, old)


class ConsumerMetrics:
    """Prometheus series of consumer loops: lag per partition, handled, dead-lettered and retried records."""

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
        self.retries = Counter(
            "kafka_consumer_retries_total",
            "Failed attempts at a record or batch that were retried (a database or broker away)",
            ["group"],
            registry=registry,
        )
        self.retrying = Gauge(
            "kafka_consumer_retrying_seconds",
            "How long the consumer has been retrying the record or batch in hand (0 when it is not)",
            ["group"],
            registry=registry,
        )


@dataclass
class ConsumerStats:
    """What a consumer loop has done, for metrics and tests."""

    handled: int = 0
    dead_lettered: int = 0
    #: Failed attempts that were retried.
    retries: int = 0
    #: The longest pause between two attempts so far (seconds).
    longest_backoff: float = 0.0


class _Retrying:
    """The state of one retried operation: backoff, bounded logging, metrics."""

    def __init__(self, loop: ConsumerLoop, what: str) -> None:
        self.loop = loop
        self.failures = FailureRun(
            log, f"consumer {loop._group_id} applying {what}", summary_every=loop._summary_every
        )

    async def failed(self, exc: BaseException) -> None:
        loop = self.loop
        loop.stats.retries += 1
        starting = not self.failures.failing
        self.failures.failed(exc, then="retrying until it can, the offset uncommitted")
        if starting:
            loop._retrying_since = self.failures.since
        if loop._metrics is not None:
            loop._metrics.retries.labels(loop._group_id).inc()
            loop._metrics.retrying.labels(loop._group_id).set(self.failures.lasted())
        delay = retry_delay(self.failures.attempts, initial=loop._backoff_initial, maximum=loop._backoff_max)
        delay *= random.uniform(0.8, 1.0)
        loop.stats.longest_backoff = max(loop.stats.longest_backoff, delay)
        await loop._pause(delay)

    def recovered(self) -> None:
        if not self.failures.failing:
            return
        self.failures.recovered()
        loop = self.loop
        loop._retrying_since = None
        if loop._metrics is not None:
            loop._metrics.retrying.labels(loop._group_id).set(0)


class ConsumerLoop:
    """Consumes topics in a group, hands each record to `handle`, commits after it, dead-letters poison.

    A record whose handler fails with a poison error (`is_poison`) is dead-lettered at once; any
    other failure is retried without limit (pauses doubling from `backoff_initial` to `backoff_max`),
    the offset left uncommitted, one log line when the retrying starts, one when it recovers and a
    summary at most every `summary_every` seconds. `check_progress` fails once the retrying has
    lasted `stuck_after` seconds.

    With a `StagedBatchHandler`, the loop polls and prepares the next batch while the current one is
    being applied (its transaction waits on the database most of the time), and applies it after the
    current one is committed; records of a partition no longer assigned by then are dropped (the
    group's new owner reads them again from the committed offset). With `tune_gc` (the default), a
    batch loop calls `tune_gc_for_batches` when it starts.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str,
        handle: RecordHandler | None = None,
        handle_batch: BatchHandler | None = None,
        publisher: KafkaPublisher,
        max_records: int = 500,
        options: dict[str, str] | None = None,
        metrics: ConsumerMetrics | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        summary_every: float = 30.0,
        stuck_after: float = 30.0,
        tune_gc: bool = True,
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
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._summary_every = summary_every
        self._stuck_after = stuck_after
        self._tune_gc = tune_gc
        self._retrying_since: float | None = None
        self._stopping = asyncio.Event()
        self.stats = ConsumerStats()
        #: The open per-record spans of the batch in hand (tracing on), by record identity.
        self._record_spans: dict[int, Span] = {}

    @property
    def group_id(self) -> str:
        """The consumer group."""
        return self._group_id

    def stop(self) -> None:
        """Asks the loop to finish the record in hand, commit and return (a retried one stays uncommitted)."""
        self._stopping.set()

    def retrying_for(self) -> float:
        """Returns how long the loop has been retrying the record or batch in hand (0 when it is not)."""
        return 0.0 if self._retrying_since is None else time.monotonic() - self._retrying_since

    def check_progress(self) -> None:
        """Raises ConsumerStuckError once the loop has been retrying for longer than `stuck_after`."""
        stuck_for = self.retrying_for()
        if stuck_for > self._stuck_after:
            raise ConsumerStuckError(
                f"consumer {self._group_id} has been retrying a record for {stuck_for:.0f}s"
            )

    async def _pause(self, delay: float) -> None:
        """Waits `delay` seconds, or raises _Stopping as soon as the loop is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
        if self._stopping.is_set():
            raise _Stopping

    async def lag(self) -> dict[str, int]:
        """Returns the records not yet handled per assigned partition, as `topic:partition` → count.

        Counted from what the handler has finished (and committed), not from the fetch position,
        which runs ahead of the handler while a fetched batch is being applied (or retried).
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
            if self._handle_batch is not None:
                if self._tune_gc:
                    tune_gc_for_batches()
                await self._run_batches()
                return
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self._max_records)
                for tp, records in batches.items():
                    for record in records:
                        await self._handle_one(record)
                        await self._consumer.commit({tp: record.offset + 1})
                        self._observe(tp, record.offset + 1)
                        if self._stopping.is_set():
                            break
                    if self._stopping.is_set():
                        break
        except _Stopping:
            log.info(
                "consumer %s stopped while retrying; the record in hand stays uncommitted", self._group_id
            )
        finally:
            if self._metrics is not None:
                self._metrics.retrying.labels(self._group_id).set(0)
            await self._consumer.stop()

    async def _run_batches(self) -> None:
        """Polls and applies batches until stopped; with a StagedBatchHandler, one batch ahead."""
        staged = self._handle_batch if isinstance(self._handle_batch, StagedBatchHandler) else None
        batches: dict[TopicPartition, list[ConsumerRecord]] = {}
        prepared: dict[TopicPartition, list[object]] | None = None
        while not self._stopping.is_set():
            if not batches:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self._max_records)
                prepared = None
                continue
            if staged is None:
                await self._handle_batches(batches)
                batches = {}
                continue
            if prepared is None:
                prepared = await self._prepare(staged, batches)
            # Because this batch's transaction mostly waits on the database: poll and prepare the next
            # meanwhile. Nothing of it is applied before this one is committed.
            ahead = asyncio.ensure_future(self._poll_ahead(staged))
            try:
                await self._handle_batches(batches, prepared)
            except BaseException:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
                raise
            if self._stopping.is_set():
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
                return
            batches, prepared = await ahead
            if batches:
                batches, prepared = self._still_assigned(batches, prepared)

    async def _poll_ahead(
        self, staged: StagedBatchHandler
    ) -> tuple[dict[TopicPartition, list[ConsumerRecord]], dict[TopicPartition, list[object]] | None]:
        """Polls the next batch and prepares it (while the current one is being applied)."""
        batches = await self._consumer.getmany(timeout_ms=200, max_records=self._max_records)
        return batches, (await self._prepare(staged, batches) if batches else None)

    async def _prepare(
        self, staged: StagedBatchHandler, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, list[object]] | None:
        """Returns each record's prepared value, per partition; None if `prepare` broke its contract and
        raised (the batch is then handed to the handler whole, which prepares it again and fails as it
        will: retried or isolated like any other)."""
        out: dict[TopicPartition, list[object]] = {}
        try:
            for tp, records in batches.items():
                values: list[object] = []
                for start in range(0, len(records), PREPARE_CHUNK):
                    values += [staged.prepare(record) for record in records[start : start + PREPARE_CHUNK]]
                    # Because the batch being applied is waiting for database answers meanwhile.
                    await asyncio.sleep(0)
                out[tp] = values
        except Exception:  # noqa: BLE001 - see the docstring
            return None
        return out

    def _still_assigned(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        prepared: dict[TopicPartition, list[object]] | None,
    ) -> tuple[dict[TopicPartition, list[ConsumerRecord]], dict[TopicPartition, list[object]] | None]:
        """Drops the records, polled ahead, of partitions revoked since (a rebalance meanwhile)."""
        assigned = self._consumer.assignment()
        if all(tp in assigned for tp in batches):
            return batches, prepared
        kept = {tp: records for tp, records in batches.items() if tp in assigned}
        return kept, ({tp: prepared[tp] for tp in kept} if prepared is not None else None)

    def _span_attributes(self, record: ConsumerRecord) -> dict[str, str | int]:
        return {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self._group_id,
            "messaging.message.id": _header(record, "ce_id") or "",
        }

    async def _handle_batches(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        prepared: dict[TopicPartition, list[object]] | None = None,
    ) -> None:
        active = tracer()
        if active is None:
            await self._apply_batches(batches, prepared)
            return
        # Tracing on: a span for the batch (its transaction and commit), linked to every record's
        # trace, and in each record's trace a span of its own, a child of the request that caused it,
        # lasting until the batch is committed.
        records = [record for tp_records in batches.values() for record in tp_records]
        traceparents = [_header(record, "traceparent") for record in records]
        topics = ", ".join(sorted({record.topic for record in records}))
        with started_span(
            f"{topics} process",
            kind=SpanKind.CONSUMER,
            links=links_to(traceparents),
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(records),
                "messaging.consumer.group.name": self._group_id,
            },
            propagate=False,
        ) as batch_span:
            batch_link = [Link(batch_span.get_span_context())] if batch_span is not None else []
            self._record_spans = {
                id(record): active.start_span(
                    f"{record.topic} process",
                    context=parent_context(traceparent),
                    kind=SpanKind.CONSUMER,
                    links=batch_link,
                    attributes=self._span_attributes(record),
                )
                for record, traceparent in zip(records, traceparents, strict=True)
            }
            try:
                await self._apply_batches(batches, prepared)
            finally:
                for span in self._record_spans.values():
                    span.end()
                self._record_spans = {}

    async def _apply_batches(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        prepared: dict[TopicPartition, list[object]] | None = None,
    ) -> None:
        assert self._handle_batch is not None
        records = [record for tp_records in batches.values() for record in tp_records]
        values = None if prepared is None else [value for tp in batches for value in prepared[tp]]
        staged = self._handle_batch if isinstance(self._handle_batch, StagedBatchHandler) else None
        retrying = _Retrying(self, f"a batch of {len(records)} records")
        refused: list[tuple[ConsumerRecord, BaseException]] | None = None
        while refused is None:
            try:
                if staged is not None and values is not None:
                    # Prepared values are pure functions of the records: a retry reuses them.
                    refused = await staged.apply(records, values)
                else:
                    refused = await self._handle_batch(records)
            except Exception as exc:  # noqa: BLE001 - poison isolated record by record, the rest retried.
                if is_poison(exc):
                    # Because one bad record must not hold the whole batch back: isolate it.
                    retrying.recovered()
                    refused = []
                    for record in records:
                        refused += await self._apply_isolated(record)
                    break
                await retrying.failed(exc)
        retrying.recovered()
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

    async def _apply_isolated(self, record: ConsumerRecord) -> list[tuple[ConsumerRecord, BaseException]]:
        """Hands one record of a refused batch to the batch handler alone; returns it if it is poison."""
        assert self._handle_batch is not None
        retrying = _Retrying(self, f"{record.topic}:{record.partition}@{record.offset}")
        while True:
            try:
                refused = await self._handle_batch([record])
            except Exception as exc:  # noqa: BLE001 - poison is dead-lettered, the rest retried.
                if is_poison(exc):
                    retrying.recovered()
                    return [(record, exc)]
                await retrying.failed(exc)
            else:
                retrying.recovered()
                return refused

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
        if tracer() is not None:
            # Tracing on: the record's span, a child of the request that caused it, is the trace
            # its log lines and the events its handler writes carry.
            with started_span(
                f"{record.topic} process",
                kind=SpanKind.CONSUMER,
                parent=_header(record, "traceparent"),
                attributes=self._span_attributes(record),
            ):
                cid_token = correlation_id.set(_header(record, "correlationid"))
                try:
                    await self._handle_one_in_context(record)
                finally:
                    correlation_id.reset(cid_token)
            return
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
        retrying = _Retrying(self, f"{record.topic}:{record.partition}@{record.offset}")
        while True:
            try:
                await self._handle(record)
            except Exception as exc:  # noqa: BLE001 - poison is dead-lettered, the rest retried.
                if is_poison(exc):
                    retrying.recovered()
                    await self._dead_letter(record, exc)
                    return
                await retrying.failed(exc)
                continue
            retrying.recovered()
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

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException | None) -> None:
        if tracer() is not None:
            span = self._record_spans.get(id(record)) or trace.get_current_span()
            mark_failed(span, error or PoisonMessageError("unknown"))
            span.set_attribute("vigie.dead_lettered", True)
        headers = dead_letter_headers(record, error, group_id=self._group_id)
        key = record.key or b""
        value, headers = fit_dead_letter(record.value or b"", key, headers)
        retrying = _Retrying(self, f"the dead-lettering of {record.topic}:{record.partition}@{record.offset}")
        while True:
            try:
                await self._publisher.publish(
                    topic=dead_letter_topic(record.topic),
                    key=key.decode(errors="replace"),
                    value=value,
                    headers=headers,
                )
                break
            except RECORD_REFUSED_ERRORS as exc:
                if value:
                    # Because the cluster's own limit is lower than ours: keep only why, and where it is.
                    value, headers = fit_dead_letter(record.value or b"", key, headers, limit=0)
                    continue
                await retrying.failed(exc)
            except Exception as exc:  # noqa: BLE001 - a record is never skipped unless it is dead-lettered.
                await retrying.failed(exc)
        retrying.recovered()
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


#: The longest error message a dead-lettered record carries (in bytes, UTF-8).
MAX_DEAD_LETTER_MESSAGE = 1000


def dead_letter_headers(
    record: ConsumerRecord, error: BaseException | None, *, group_id: str
) -> list[tuple[str, bytes]]:
    """Returns the record's own headers and why, where and by which consumer group it was dead-lettered.

    `dlq-group`, `dlq-error-class`, `dlq-error-message` (at most MAX_DEAD_LETTER_MESSAGE bytes),
    `dlq-topic`, `dlq-partition`, `dlq-offset`; `dlq-error` and `dlq-source` (`topic:partition:offset`)
    as before. Those of an earlier dead-lettering (a replayed record) are replaced.
    """
    message = str(error) if error is not None else "unknown"
    error_class = type(error).__name__ if error is not None else "unknown"
    reason = "".join(traceback.format_exception_only(type(error), error)).strip() if error else "unknown"
    own = [(key, value) for key, value in record.headers or [] if not key.startswith("dlq-")]
    return own + [
        ("dlq-group", group_id.encode()),
        ("dlq-error-class", error_class.encode()),
        ("dlq-error-message", _bounded(message, MAX_DEAD_LETTER_MESSAGE)),
        ("dlq-error", _bounded(reason, MAX_DEAD_LETTER_MESSAGE)),
        ("dlq-topic", record.topic.encode()),
        ("dlq-partition", str(record.partition).encode()),
        ("dlq-offset", str(record.offset).encode()),
        ("dlq-source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
    ]


def _bounded(text: str, limit: int) -> bytes:
    # Cut on a character boundary, so that the header stays valid UTF-8.
    return text.encode()[:limit].decode(errors="ignore").encode()


#: The largest dead-letter record (value, key and headers), under the producer's default
#: `max_request_size` (1 MiB) and the broker's `message.max.bytes` with room for the batch's overhead.
MAX_DEAD_LETTER_BYTES = 1_000_000


def fit_dead_letter(
    value: bytes, key: bytes, headers: list[tuple[str, bytes]], *, limit: int = MAX_DEAD_LETTER_BYTES
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Returns the value and headers of a dead-letter record no larger than `limit` bytes.

    A record that fits is kept whole. A larger one (a record near the broker's limit gains the
    dead-letter headers and would be refused, holding its partition back for ever) keeps its first
    bytes, with `dlq-value-truncated` (its size) and `dlq-value-sha256` (of the whole value): the whole
    record stays on its topic at `dlq-topic`/`dlq-partition`/`dlq-offset` for the topic's retention.
    """
    own = [(k, v) for k, v in headers if k not in ("dlq-value-truncated", "dlq-value-sha256")]
    overhead = 512 + len(key) + sum(len(k) + len(v) + 8 for k, v in own)
    if len(value) + overhead <= limit:
        return value, own
    marks = [
        ("dlq-value-truncated", str(len(value)).encode()),
        ("dlq-value-sha256", hashlib.sha256(value).hexdigest().encode()),
    ]
    kept = max(0, limit - overhead - 128)
    return value[:kept], own + marks


def _header(record: ConsumerRecord, name: str) -> str | None:
    headers: Iterable[tuple[str, bytes | None]] = record.headers or ()
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("latin-1")
    return None


__all__ = [
    "BATCH_GC_THRESHOLD",
    "BatchHandler",
    "ConsumerLoop",
    "ConsumerStuckError",
    "ConsumerRecord",
    "FATAL_PRODUCER_ERRORS",
    "AcknowledgementTimeoutError",
    "KafkaPublisher",
    "MAX_DEAD_LETTER_BYTES",
    "POISON_ERRORS",
    "PoisonMessageError",
    "PublisherHealth",
    "PublisherUnavailableError",
    "RECORD_REFUSED_ERRORS",
    "Refused",
    "StagedBatchHandler",
    "TOPIC_CONFIG",
    "TRANSIENT_ERRORS",
    "TopicPartition",
    "dead_letter_headers",
    "dead_letter_topic",
    "ensure_topics",
    "fit_dead_letter",
    "is_poison",
    "is_transient",
    "retry_delay",
    "tune_gc_for_batches",
]
