"""The transactional outbox: events are written with the state change, then relayed to Kafka.

Delivery is at-least-once: a crash after publishing but before marking a row publishes it again,
so consumers must dedupe on the event id (see `shared.inbox`). Per-key order holds because one
relay publishes rows in id order and stops at the first failure.

On PostgreSQL a relay pass is one transaction on asyncpg's own connection: one statement claims the
oldest pending rows (marks them published, `FOR UPDATE SKIP LOCKED`, returning them), the records go
to Kafka, the rows whose records were not all acknowledged are unmarked again, and the commit makes
the marks durable; a crash or a failed commit before it leaves every claimed row pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

import orjson
import sqlalchemy as sa
from opentelemetry.trace import Link, Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import as_utc, asyncpg_connection, is_postgres, pooled_asyncpg
from shared.events import EventEnvelope
from shared.logging import FailureRun
from shared.tracing import links_to, mark_failed, parent_context, started_span, tracer

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Anything that can durably publish one record (KafkaPublisher, InMemoryPublisher)."""

    async def publish(
        self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None: ...

    async def send(
        self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]:
        """Hands one record to the producer; the returned awaitable resolves on acknowledgement."""
        ...


class _Record(NamedTuple):
    """One outbox row as the relay publishes it (headers as stored: [name, value] text pairs)."""

    id: int
    topic: str
    key: str
    value: bytes
    headers: Sequence[Sequence[str]]


class _PgStatements:
    """The relay's statements on PostgreSQL, run on asyncpg's connection (prepared once per connection)."""

    def __init__(self, table: sa.Table, engine: AsyncEngine) -> None:
        name = engine.dialect.identifier_preparer.format_table(table)
        # Claims the oldest pending rows: marked in the pass's transaction, released again if their
        # records are not acknowledged; rows another transaction holds are skipped, not waited for.
        self.claim = (
            f"UPDATE {name} SET published_at = now() WHERE id IN ("
            f"SELECT id FROM {name} WHERE published_at IS NULL ORDER BY id LIMIT $1 "
            # The headers as text: orjson reads them at a fraction of the stdlib json codec's cost.
            "FOR UPDATE SKIP LOCKED) RETURNING id, topic, key, value, headers::text"
        )
        self.release = f"UPDATE {name} SET published_at = NULL WHERE id = ANY($1::bigint[])"


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """Declares the outbox table on a service's own metadata."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        ),
    )


def notify_channel(table: sa.Table) -> str:
    """Returns the PostgreSQL NOTIFY channel of an outbox table."""
    return f"vigie_outbox_{table.metadata.schema or 'public'}"


def row_for(envelope: EventEnvelope, *, topic: str) -> dict[str, object]:
    """Returns the outbox row of an envelope, for callers that write it in a statement of their own."""
    return _row(envelope, topic, datetime.now(UTC))


#: The largest record (value, key and headers) an outbox row may hold: under Kafka's default limits
#: (the producer's `max_request_size` of 1 MiB, the broker's `message.max.bytes`) with room for the
#: batch's own overhead, so that no written row can be refused by the broker and block those after it.
MAX_EVENT_BYTES = 1_000_000


class EventTooLargeError(ValueError):
    """An event is larger than a Kafka record may be; it is refused before it reaches the outbox."""

    def __init__(self, event_type: str, size: int) -> None:
        super().__init__(
            f"the {event_type} event would be {size} bytes, over the {MAX_EVENT_BYTES} bytes a record may be"
        )
        self.event_type = event_type
        self.size = size


def _row(envelope: EventEnvelope, topic: str, now: datetime) -> dict[str, object]:
    value = envelope.encode()
    headers = envelope.kafka_headers()
    size = len(value) + len(envelope.subject.encode()) + sum(len(k) + len(v) for k, v in headers)
    if size > MAX_EVENT_BYTES:
        raise EventTooLargeError(envelope.type, size)
    return {
        "event_id": envelope.id,
        "topic": topic,
        "key": envelope.subject,
        "value": value,
        "headers": [[k, v.decode()] for k, v in headers],
        "created_at": now,
    }


async def add(session: AsyncSession, table: sa.Table, envelope: EventEnvelope, *, topic: str) -> None:
    """Adds the envelope to the outbox inside the caller's transaction (key = its subject)."""
    # Parameters apart from the statement, so that the compiled INSERT is cached, not rebuilt per row.
    await session.execute(table.insert(), _row(envelope, topic, datetime.now(UTC)))


async def add_many(session: AsyncSession, table: sa.Table, items: list[tuple[str, EventEnvelope]]) -> None:
    """Adds (topic, envelope) pairs to the outbox in order, in one statement per batch (one round trip)."""
    now = datetime.now(UTC)
    rows = [_row(envelope, topic, now) for topic, envelope in items]
    if len(rows) == 1:
        await session.execute(table.insert(), rows[0])
    elif rows:
        # executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues"), ids in list order.
        await session.execute(table.insert(), rows)


class RelayWaker:
    """Wakes a relay in another process after commits: one coalesced NOTIFY at a time.

    The NOTIFY is sent after the writer's commit, not inside it, because PostgreSQL serialises the
    commits of notifying transactions, which would defeat group commit under load.
    """

    def __init__(self, engine: AsyncEngine, table: sa.Table) -> None:
        self._engine = engine
        self._channel = notify_channel(table)
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        """Schedules a NOTIFY (coalesced with one already in flight)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        while True:
            self._again = False
            try:
                # One autocommitted statement on asyncpg's connection: one round trip, where
                # SQLAlchemy's execute and commit cost three (BEGIN, the statement, COMMIT).
                async with pooled_asyncpg(self._engine) as driver:
                    await driver.execute("SELECT pg_notify($1, '')", self._channel)
            except Exception:  # noqa: BLE001 - the relay's slow poll is the fallback.
                log.warning("could not notify the outbox relay", exc_info=True)
            if not self._again:
                return


class _RecordSpans:
    """The spans of one relay pass (tracing on): one for the batch, linked to the requests that wrote
    its rows, and one per record, a child of the request that wrote it (its stored `traceparent`),
    from the hand-over to the producer to the cluster's acknowledgement."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = rows
        self._traceparents = [_header(row.headers, "traceparent") for row in rows]
        self._spans: dict[int, Span] = {}
        self._batch: Span | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        topics = sorted({row.topic for row in self._rows})
        with started_span(
            "outbox publish",
            kind=SpanKind.PRODUCER,
            links=links_to(self._traceparents),
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.batch.message_count": len(self._rows),
                "messaging.destination.name": ", ".join(topics),
            },
            propagate=False,
        ) as span:
            self._batch = span
            try:
                yield
            finally:
                self.fail(None)

    def start(self, index: int) -> None:
        active = tracer()
        if active is None:
            return
        row = self._rows[index]
        links = [Link(self._batch.get_span_context())] if self._batch is not None else []
        self._spans[index] = active.start_span(
            f"{row.topic} publish",
            context=parent_context(self._traceparents[index]),
            kind=SpanKind.PRODUCER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": row.topic,
                "messaging.message.id": _header(row.headers, "ce_id") or "",
            },
        )

    def end(self, index: int) -> None:
        span = self._spans.pop(index, None)
        if span is not None:
            span.end()

    def fail(self, error: BaseException | None) -> None:
        """Ends the record spans still open: failed with `error`, or unfinished (None)."""
        if error is not None:
            mark_failed(self._batch, error)
        for span in self._spans.values():
            if error is not None:
                mark_failed(span, error)
            span.end()
        self._spans.clear()


def _claimed_records(claimed: Sequence[Sequence[Any]]) -> list[_Record]:
    """Returns the rows a claim returned (id, topic, key, value, headers as JSON text) in id order,
    their headers parsed in one `orjson.loads` for the whole pass instead of one per row."""
    # RETURNING follows no order: publish in id order (per-key order).
    ordered = sorted(claimed, key=itemgetter(0))
    # Each row's text is a JSON array as PostgreSQL stored it: joined, they are one valid array.
    headers = orjson.loads("[" + ",".join([row[4] for row in ordered]) + "]")
    return [
        _Record(row[0], row[1], row[2], row[3], pairs) for row, pairs in zip(ordered, headers, strict=True)
    ]


def _kafka_records(rows: Sequence[_Record]) -> list[tuple[str, str, bytes, list[tuple[str, bytes]]]]:
    """Returns the rows' (topic, key, value, headers) records, the headers as the request wrote them
    (its traceparent included), their values as the bytes Kafka carries."""
    return [(row.topic, row.key, row.value, [(k, v.encode()) for k, v in row.headers]) for row in rows]


def _header(headers: Sequence[Sequence[str]], name: str) -> str | None:
    """Returns a header of an outbox row (stored as [name, value] pairs)."""
    for key, value in headers:
        if key == name:
            return value
    return None


class OutboxRelay:
    """Publishes pending outbox rows in id order and marks those that were published.

    Run exactly one relay per service database: two relays could reorder events of one key.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: sa.Table,
        publisher: Publisher,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        coalesce_seconds: float = 0.004,
    ) -> None:
        self._engine = engine
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._coalesce_seconds = coalesce_seconds
        self._last_busy = float("-inf")
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published_total = 0
        #: Passes made, and those that found no pending row (diagnosis: rows per pass, stale wakes).
        self.passes_total = 0
        self.empty_passes_total = 0
        #: Monotonic time of the last pass that published rows or found none pending.
        self.last_progress = time.monotonic()
        self._failures = FailureRun(log, "outbox relay publishing")
        self._pg = _PgStatements(table, engine) if is_postgres(engine) else None

    def wake(self) -> None:
        """Asks the relay to look at the outbox now (called after a commit in the same process)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Asks the loop to finish its current batch and return."""
        self._stopping.set()
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publishes one batch of pending rows; returns how many were published and marked."""
        if self._pg is not None:
            return await self._publish_pending_pg(self._pg)
        t = self._table
        query = (
            sa.select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.headers)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.id)
            .limit(self._batch_size)
        )
        async with self._engine.begin() as conn:
            rows = [_Record(*row) for row in (await conn.execute(query)).all()]
            if not rows:
                return self._passed(0, 0, None)

            async def mark(done: list[int]) -> None:
                if done:
                    await conn.execute(
                        t.update().where(t.c.id.in_(done)).values(published_at=datetime.now(UTC))
                    )

            done, failure = await self._publish(rows, mark)
        return self._passed(len(done), len(rows), failure)

    async def _publish_pending_pg(self, statements: _PgStatements) -> int:
        async with pooled_asyncpg(self._engine) as driver, driver.transaction():
            claimed = await driver.fetch(statements.claim, self._batch_size)
            if not claimed:
                return self._passed(0, 0, None)
            rows = _claimed_records(claimed)

            async def release(done: list[int]) -> None:
                # `done` is a prefix of the rows (publishing stops at the first failure).
                if len(done) < len(rows):
                    await driver.execute(statements.release, [row.id for row in rows[len(done) :]])

            done, failure = await self._publish(rows, release)
        return self._passed(len(done), len(rows), failure)

    def _passed(self, done: int, taken: int, failure: BaseException | None) -> int:
        """Notes the outcome of a pass (progress, logs) and returns how many rows were published."""
        self.passes_total += 1
        self.empty_passes_total += not taken
        self.published_total += done
        if done or failure is None:
            self.last_progress = time.monotonic()
        self._note(failure, done, taken)
        return done

    async def _publish(
        self, rows: list[_Record], mark: Callable[[list[int]], Awaitable[None]]
    ) -> tuple[list[int], BaseException | None]:
        """Hands the rows' records to the producer, awaits their acknowledgements in id order, then
        calls `mark` with the ids acknowledged before the first failure (inside the batch's span);
        returns those ids and that failure."""
        done: list[int] = []
        spans = _RecordSpans(rows) if tracer() is not None else None
        with spans.batch() if spans is not None else contextlib.nullcontext():
            # Pipelined: every record is handed to the producer before any acknowledgement is
            # awaited; the idempotent producer keeps per-partition order, so per-key order holds.
            if spans is not None:
                for index in range(len(rows)):
                    spans.start(index)
            acknowledgements, failure = await self._send_all(rows)
            for index, acknowledged in enumerate(acknowledgements):
                try:
                    await acknowledged
                except Exception as exc:  # noqa: BLE001 - the rows stay pending and are retried in order.
                    # Because rows after a failed one may share its key: stop here, retry them in order.
                    failure = exc
                    break
                done.append(rows[index].id)
                if spans is not None:
                    spans.end(index)
            if failure is not None and spans is not None:
                spans.fail(failure)
            await mark(done)
        return done, failure

    async def _send_all(self, rows: list[_Record]) -> tuple[list[Awaitable[object]], BaseException | None]:
        """Hands the rows' records to the producer in order; returns the acknowledgements of those it
        took (a prefix of the rows) and the error that stopped the hand-over, if one did."""
        records = _kafka_records(rows)
        send_many = getattr(self._publisher, "send_many", None)
        if send_many is not None:
            handed: tuple[list[Awaitable[object]], BaseException | None] = await send_many(records)
            return handed
        pending: list[Awaitable[object]] = []
        for topic, key, value, headers in records:
            try:
                pending.append(await self._publisher.send(topic=topic, key=key, value=value, headers=headers))
            except Exception as exc:  # noqa: BLE001 - those handed over are still awaited and marked.
                return pending, exc
        return pending, None

    def _note(self, failure: BaseException | None, done: int, taken: int) -> None:
        """Logs state changes and a periodic summary, never a line per failed pass or record."""
        if failure is None:
            self._failures.recovered()
        else:
            self._failures.failed(failure, then=f"published {done} of {taken} rows; retrying with backoff")

    @property
    def failing(self) -> bool:
        """Tells whether the last pass failed to publish."""
        return self._failures.failing

    def retry_delay(self) -> float:
        """Returns how long to wait before the next pass after a failed one."""
        retry_after = getattr(self._publisher, "retry_after", None)
        delay = float(retry_after()) if callable(retry_after) else 0.5
        return min(5.0, max(0.1, delay))

    async def pending_stats(self) -> tuple[int, float]:
        """Returns the number of pending rows and the age in seconds of the oldest."""
        t = self._table
        async with self._engine.connect() as conn:
            count, oldest = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.min(t.c.created_at)).where(t.c.published_at.is_(None))
                )
            ).one()
        if oldest is None:
            return int(count), 0.0
        return int(count), (datetime.now(UTC) - as_utc(oldest)).total_seconds()

    async def run(self) -> None:
        """Publishes until stopped, woken by commits (in-process or LISTEN/NOTIFY) or by a slow poll."""
        listener = await self._listen() if is_postgres(self._engine) else None
        try:
            loop = asyncio.get_running_loop()
            while not self._stopping.is_set():
                # Under load, a short pause after a wake gathers the commits of many requests into
                # one pass (one SELECT, one UPDATE, one produce batch) instead of a pass per commit;
                # after an idle spell the first event goes at once.
                if self._coalesce_seconds and loop.time() - self._last_busy < 0.05:
                    await asyncio.sleep(self._coalesce_seconds)
                self._wakeup.clear()
                try:
                    while (published := await self.publish_pending()) == self._batch_size:
                        pass
                    if published:
                        self._last_busy = loop.time()
                except Exception as exc:  # noqa: BLE001 - a database error: noted, then retried.
                    self._note(exc, 0, 0)
                    await asyncio.sleep(self.retry_delay())
                    continue
                if self._failures.failing:
                    # Because a broken producer must not be retried on every commit: back off.
                    await asyncio.sleep(self.retry_delay())
                    continue
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_seconds)
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                await listener()

    async def _listen(self) -> Callable[[], Awaitable[None]]:
        conn = await self._engine.connect()
        driver = await asyncpg_connection(conn)
        channel = notify_channel(self._table)

        def _on_notify(*_args: object) -> None:
            self._wakeup.set()

        await driver.add_listener(channel, _on_notify)

        async def _close() -> None:
            try:
                await driver.remove_listener(channel, _on_notify)
            finally:
                await conn.close()

        return _close
