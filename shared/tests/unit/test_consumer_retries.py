"""The consumer loop retries what is away (database, broker) without limit and dead-letters only poison."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg.exceptions
import pydantic
import pytest
import sqlalchemy.exc
from aiokafka import ConsumerRecord, TopicPartition
from shared.kafka import (
    ConsumerLoop,
    ConsumerStuckError,
    PoisonMessageError,
    PublisherUnavailableError,
    is_poison,
    is_transient,
    retry_delay,
)

from shared import kafka

TP = TopicPartition("audit.events", 0)


def _record(offset: int = 7) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=TP.topic,
        partition=TP.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=[],
    )


def _db_down() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT ...", {}, ConnectionRefusedError("connection refused"))


class FakeConsumer:
    """Hands out the given records once, then nothing; records commits."""

    def __init__(self, loop: ConsumerLoop, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        self.loop = loop
        self.pending = {TP: records} if records else {}
        self.commits: list[dict[TopicPartition, int]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        batches, self.pending = self.pending, {}
        if not batches:
            self.loop.stop()
        return batches

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None


class FakePublisher:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[dict[str, Any]] = []

    async def publish(self, **record: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise PublisherUnavailableError("Kafka producer reconnecting")
        self.published.append(record)


class Clock:
    """A monotonic clock that the loop's pauses advance, so that no test waits for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []


def _loop(
    monkeypatch: pytest.MonkeyPatch,
    records: list[ConsumerRecord[bytes, bytes]],
    *,
    handle: Any = None,
    handle_batch: Any = None,
    publisher: FakePublisher | None = None,
    **options: Any,
) -> tuple[ConsumerLoop, FakeConsumer, FakePublisher, Clock]:
    publisher = publisher or FakePublisher()
    loop = ConsumerLoop(
        bootstrap_servers="localhost:1",
        topics=[TP.topic],
        group_id="audit-log",
        handle=handle,
        handle_batch=handle_batch,
        publisher=publisher,  # type: ignore[arg-type]
        **options,
    )
    consumer = FakeConsumer(loop, records)
    loop._consumer._closed = True  # Never started: no "unclosed consumer" warning.
    loop._consumer = consumer  # type: ignore[assignment]
    clock = Clock()
    monkeypatch.setattr(kafka.time, "monotonic", lambda: clock.now)

    async def pause(delay: float) -> None:
        clock.pauses.append(delay)
        clock.now += delay

    monkeypatch.setattr(loop, "_pause", pause)
    return loop, consumer, publisher, clock


async def test_a_handler_failing_20_times_on_the_database_applies_the_record_once_and_dead_letters_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    applied: list[int] = []
    commits_seen_while_failing: list[int] = []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal calls
        calls += 1
        commits_seen_while_failing.append(len(consumer.commits))
        if calls <= 20:
            raise _db_down()
        applied.append(record.offset)

    loop, consumer, publisher, clock = _loop(monkeypatch, [_record(7)], handle=handle)
    await loop.run()

    assert applied == [7]
    assert calls == 21
    assert publisher.published == [] and loop.stats.dead_lettered == 0
    assert not any(commits_seen_while_failing), "nothing committed while the record was failing"
    assert consumer.commits == [{TP: 8}]
    assert loop.stats.handled == 1 and loop.stats.retries == 20
    assert len(clock.pauses) == 20


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad payload"),
        PoisonMessageError("undecodable event"),
        KeyError("subject"),
        TypeError("not a mapping"),
    ],
)
async def test_a_poison_record_is_dead_lettered_at_once(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    calls = 0

    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal calls
        calls += 1
        raise error

    loop, consumer, publisher, clock = _loop(monkeypatch, [_record(3)], handle=handle)
    await loop.run()

    assert calls == 1 and clock.pauses == []
    assert len(publisher.published) == 1 and publisher.published[0]["topic"] == "audit.events.dlq"
    assert dict(publisher.published[0]["headers"])["dlq-error-class"] == type(error).__name__.encode()
    assert consumer.commits == [{TP: 4}], "a dead-lettered record's offset is committed"


async def test_a_validation_error_is_poison() -> None:
    class Model(pydantic.BaseModel):
        n: int

    with pytest.raises(pydantic.ValidationError) as caught:
        Model.model_validate({"n": "x"})
    assert is_poison(caught.value) and not is_transient(caught.value)


def test_database_and_broker_errors_are_transient_and_never_poison() -> None:
    invalidated = sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    wrapped: ValueError
    try:
        try:
            raise _db_down()
        except sqlalchemy.exc.OperationalError as exc:
            raise ValueError("could not load") from exc
    except ValueError as exc:
        wrapped = exc
    for error in [
        _db_down(),
        sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("closed")),
        invalidated,
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        ConnectionRefusedError(),
        TimeoutError(),
        OSError("network unreachable"),
        kafka.kafka_errors.KafkaConnectionError(),
        PublisherUnavailableError("reconnecting"),
        wrapped,
    ]:
        assert is_transient(error), error
        assert not is_poison(error), error
    assert not is_transient(sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("syntax")))


def test_the_backoff_doubles_from_its_start_and_is_bounded() -> None:
    delays = [retry_delay(n, initial=0.1, maximum=5.0) for n in range(1, 200)]
    assert delays[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert max(delays) == 5.0 and delays[-1] == 5.0


async def test_the_loop_pauses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 100:
            raise ConnectionResetError()

    loop, _consumer, _publisher, clock = _loop(monkeypatch, [_record()], handle=handle)
    await loop.run()

    assert len(clock.pauses) == 100
    assert 0.08 <= clock.pauses[0] <= 0.1
    assert max(clock.pauses) <= 5.0 and min(clock.pauses[-50:]) >= 4.0
    assert loop.stats.longest_backoff <= 5.0


async def test_the_log_lines_of_a_long_outage_are_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 1000:
            raise _db_down()

    loop, _consumer, _publisher, clock = _loop(monkeypatch, [_record()], handle=handle)
    with caplog.at_level(logging.INFO, logger="shared.kafka"):
        await loop.run()

    lines = [r for r in caplog.records if r.name == "shared.kafka" and r.levelno >= logging.WARNING]
    outage = sum(clock.pauses)
    assert outage > 3600
    assert "retrying until it can" in lines[0].getMessage()
    assert "recovered" in lines[-1].getMessage()
    summaries = lines[1:-1]
    assert all("still failing" in r.getMessage() for r in summaries)
    assert len(summaries) <= outage / 30 + 1
    assert len(lines) < 200, "bounded by time, never a line per attempt"


async def test_readiness_fails_once_the_retrying_lasts_longer_than_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            loop.check_progress()
            seen.append(True)
        except ConsumerStuckError:
            seen.append(False)
        if len(seen) <= 20:
            raise _db_down()

    loop, _consumer, _publisher, _clock = _loop(monkeypatch, [_record()], handle=handle, stuck_after=30.0)
    await loop.run()

    assert seen[0] and not seen[-1], "ready at first, not ready once retrying for more than 30 s"
    loop.check_progress()  # Recovered: ready again.
    assert loop.retrying_for() == 0


async def test_a_loop_stopped_while_retrying_commits_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        if loop.stats.retries >= 5:
            loop.stop()
        raise _db_down()

    loop, consumer, publisher, _clock = _loop(monkeypatch, [_record()], handle=handle)
    monkeypatch.undo()  # The real pause, which notices the stop.
    loop._backoff_initial = loop._backoff_max = 0.001
    await loop.run()

    assert consumer.commits == [] and publisher.published == []


async def test_a_batch_failing_on_the_database_is_retried_whole_then_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0

    async def handle_batch(
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> list[tuple[ConsumerRecord[bytes, bytes], BaseException]]:
        nonlocal calls
        calls += 1
        if calls <= 20:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        return []

    records = [_record(n) for n in range(5)]
    loop, consumer, publisher, _clock = _loop(monkeypatch, records, handle_batch=handle_batch)
    await loop.run()

    assert calls == 21 and publisher.published == []
    assert consumer.commits == [{TP: 5}] and loop.stats.handled == 5


async def test_a_poison_record_of_a_batch_is_isolated_and_the_others_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    applied: list[int] = []

    async def handle_batch(
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> list[tuple[ConsumerRecord[bytes, bytes], BaseException]]:
        if any(r.offset == 2 for r in records):
            raise ValueError("bad payload")
        applied.extend(r.offset for r in records)
        return []

    records = [_record(n) for n in range(4)]
    loop, consumer, publisher, clock = _loop(monkeypatch, records, handle_batch=handle_batch)
    await loop.run()

    assert applied == [0, 1, 3] and clock.pauses == []
    assert [dict(p["headers"])["dlq-offset"] for p in publisher.published] == [b"2"]
    assert consumer.commits == [{TP: 4}]


async def test_a_dead_letter_the_broker_refuses_is_retried_before_the_offset_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def handle(_record: ConsumerRecord[bytes, bytes]) -> None:
        raise PoisonMessageError("undecodable event")

    loop, consumer, publisher, clock = _loop(
        monkeypatch, [_record(9)], handle=handle, publisher=FakePublisher(failures=7)
    )
    await loop.run()

    assert len(clock.pauses) == 7 and len(publisher.published) == 1
    assert consumer.commits == [{TP: 10}]
