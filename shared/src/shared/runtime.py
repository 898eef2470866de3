"""What one service process runs besides its API: engine, Kafka publisher, outbox relay, consumers.

The embedded default runs all of them in the API's process (the lifespan below); production runs
the relay and the consumers as their own Deployments through the same pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge

from shared.db import make_engine, make_sessionmaker, ping
from shared.kafka import (
    BatchHandler,
    ConsumerLoop,
    ConsumerMetrics,
    KafkaPublisher,
    RecordHandler,
    ensure_topics,
)
from shared.outbox import OutboxRelay, RelayWaker
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class RelayStalledError(ConnectionError):
    """The relay cannot publish: rows wait and nothing was acknowledged for too long."""


class OutboxBacklogError(RuntimeError):
    """Outbox rows wait for longer than the bound."""


@dataclass
class ConsumerSpec:
    """One consumer a service runs: its topics, group and record handler."""

    topics: list[str]
    group_id: str
    handle: RecordHandler | None = None
    handle_batch: BatchHandler | None = None
    #: Records per poll, and so per batch handed to `handle_batch` (one transaction each).
    max_records: int = 500


@dataclass
class Runtime:
    """The long-lived resources of one service process."""

    settings: ServiceSettings
    outbox_table: sa.Table | None
    topics: list[str]
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.database_url, pool_size=self.settings.database_pool_size)
        self.session_factory = make_sessionmaker(self.engine)
        self.kafka_options = self.settings.kafka_options()
        self.publisher = KafkaPublisher(
            self.settings.kafka_bootstrap_servers,
            client_id=self.settings.service_name,
            options=self.kafka_options,
            ack_timeout=self.settings.kafka_ack_timeout_seconds,
            backoff_max=self.settings.kafka_reconnect_backoff_max_seconds,
        )
        self.consumer_metrics = ConsumerMetrics(self.registry)
        self.relay: OutboxRelay | None = None
        if self.outbox_table is not None:
            self.relay = OutboxRelay(
                engine=self.engine,
                table=self.outbox_table,
                publisher=self.publisher,
                poll_seconds=self.settings.outbox_poll_seconds,
                coalesce_seconds=self.settings.outbox_coalesce_seconds,
            )
        self._waker = (
            RelayWaker(self.engine, self.outbox_table)
            if self.outbox_table is not None and self.engine.dialect.name == "postgresql"
            else None
        )
        self._relay_in_process = False
        self.consumers: list[ConsumerLoop] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._kafka_started = False

    def wake_relay(self) -> None:
        """Wakes the relay after a commit: directly in-process, else by NOTIFY on PostgreSQL."""
        if self.relay is not None and self._relay_in_process:
            self.relay.wake()
        elif self._waker is not None:
            self._waker.wake()

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Returns the checks behind /readyz: the database always; Kafka (the producer is connected, and
        this process's relay can publish) where the relay or consumers run; the outbox (no row older than
        `outbox_max_age_seconds`) where the relay runs; the consumers (none retrying a record for longer
        than `consumer_stuck_seconds`) where they run.

        An API-only process checks its database alone: its writes go to the outbox, so it serves them
        whether Kafka and the relay are up or not, and a NotReady API would refuse a withdrawal for a
        fault in the relay. The relay and consumer processes report what they cannot do.
        """
        runs_relay = self.relay is not None and self.settings.run_relay
        checks: dict[str, Callable[[], Awaitable[None]]] = {"database": lambda: ping(self.engine)}
        if runs_relay or self.settings.run_consumers:
            checks["kafka"] = self._kafka_ready
        if runs_relay:
            checks["outbox"] = self._outbox_ready
        if self.settings.run_consumers:
            checks["consumers"] = self._consumers_ready
        return checks

    async def _consumers_ready(self) -> None:
        """Fails while a consumer of this process has been retrying one record for longer than the bound."""
        for loop in self.consumers:
            loop.check_progress()

    async def _kafka_ready(self) -> None:
        """Fails while the producer is reconnecting, or while this process's relay is stuck (rows wait)."""
        await self.publisher.ping()
        relay = self.relay
        if relay is None or not self._relay_in_process:
            return
        stalled_for = time.monotonic() - relay.last_progress
        if relay.failing or stalled_for > self.settings.outbox_stall_seconds:
            count, _age = await relay.pending_stats()
            if count:
                raise RelayStalledError(f"{count} outbox rows wait; nothing published for {stalled_for:.0f}s")

    async def _outbox_ready(self) -> None:
        """Fails when the oldest unpublished outbox row is older than the bound (whoever runs the relay)."""
        assert self.relay is not None
        count, age = await self.relay.pending_stats()
        if count and age > self.settings.outbox_max_age_seconds:
            raise OutboxBacklogError(f"{count} outbox rows wait, the oldest for {age:.0f}s")

    async def start(
        self, consumers: list[ConsumerSpec] | None = None, *, run_relay: bool | None = None
    ) -> None:
        """Starts the publisher, then the relay and consumers as the settings say."""
        settings = self.settings
        await ensure_topics(settings.kafka_bootstrap_servers, self.topics, options=self.kafka_options)
        await self.publisher.start()
        self._kafka_started = True
        if self.relay is not None and (settings.run_relay if run_relay is None else run_relay):
            self._relay_in_process = True
            self._spawn(self.relay.run(), "relay")
        if settings.run_consumers:
            for spec in consumers or []:
                loop = ConsumerLoop(
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topics=spec.topics,
                    group_id=spec.group_id,
                    handle=spec.handle,
                    handle_batch=spec.handle_batch,
                    publisher=self.publisher,
                    max_records=spec.max_records,
                    options=self.kafka_options,
                    metrics=self.consumer_metrics,
                    stuck_after=settings.consumer_stuck_seconds,
                )
                self.consumers.append(loop)
                self._spawn(loop.run(), f"consumer {spec.group_id}")
        self._register_metrics()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def _guard() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s stopped on an error", name)
                raise

        self._tasks.append(asyncio.create_task(_guard(), name=name))

    def _register_metrics(self) -> None:
        relay = self.relay
        if relay is not None:
            published = Gauge(
                "outbox_published_total", "Outbox rows published by this process", registry=self.registry
            )
            published.set_function(lambda: relay.published_total)
            passes = Gauge(
                "outbox_relay_passes_total",
                "Relay passes made by this process, and those that found no pending row",
                ["outcome"],
                registry=self.registry,
            )
            passes.labels("with_rows").set_function(lambda: relay.passes_total - relay.empty_passes_total)
            passes.labels("empty").set_function(lambda: relay.empty_passes_total)
            backlog = Gauge("outbox_backlog", "Outbox rows not yet published", registry=self.registry)
            oldest = Gauge(
                "outbox_oldest_age_seconds",
                "Age of the oldest unpublished outbox row",
                registry=self.registry,
            )

            async def _watch_outbox() -> None:
                while not self._stopping.is_set():
                    try:
                        count, age = await relay.pending_stats()
                        backlog.set(count)
                        oldest.set(age)
                    except Exception:  # noqa: BLE001 - a metrics probe must never stop the service.
                        log.debug("outbox stats unavailable", exc_info=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.settings.metrics_interval_seconds)

            self._spawn(_watch_outbox(), "outbox metrics")

    async def stop(self) -> None:
        """Stops consumers and relay gracefully, then Kafka and the engine."""
        self._stopping.set()
        for loop in self.consumers:
            loop.stop()
        if self.relay is not None:
            self.relay.stop()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._kafka_started:
            await self.publisher.stop()
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def running(self, consumers: list[ConsumerSpec] | None = None) -> AsyncIterator[Runtime]:
        """Runs the process's background work for the duration of the block."""
        await self.start(consumers)
        try:
            yield self
        finally:
            await self.stop()


async def run_relay_until_signalled(runtime: Runtime, *, process_name: str) -> None:
    """Runs only the outbox relay of a service until SIGTERM or SIGINT (its own Deployment, one replica)."""
    import signal

    from shared.logging import configure_logging

    configure_logging(service=process_name, level=runtime.settings.log_level)
    await runtime.start(run_relay=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.stop()
