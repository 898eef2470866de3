"""Fault injection: the broker stops (SIGTERM, or SIGKILL) under a steady outbox load and comes back.

The test stops the fault suite's own single-node broker (never the session one) and restarts it on
the same port and data directory. The relay must recover by itself, lose nothing, report the outage
on /readyz's checks, and log a handful of lines, not one per failed send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from shared.events import EventEnvelope
from shared.inbox import inbox_table, mark_processed_or_skip
from shared.logging import RepeatLimitFilter
from shared.outbox import add, outbox_table
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from infra import local_kafka
from infra._proc import pid_alive, wait_for_port

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

TOPIC = "faults.events"
WRITE_EVERY = 0.02  # about 50 events a second
OUTAGE_SECONDS = 6.0


class _Lines(logging.Handler):
    """Counts the lines a process configured by `configure_logging` would print (same filter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RepeatLimitFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def own_broker(faults_broker_dir: Path) -> Path:
    """The suite's broker, which each test here stops and starts again (one topic per test)."""
    return faults_broker_dir


def _gone(pid: int) -> bool:
    """Tells whether the broker exited, reaping it (it is this process's child: a zombie otherwise)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not pid_alive(pid)


def _stop_broker(run_dir: Path, sig: signal.Signals) -> None:
    pid = int((run_dir / "kafka.pid").read_text())
    os.kill(pid, sig)
    deadline = time.monotonic() + 60
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid), "the broker did not stop"


def _restart_broker(run_dir: Path) -> None:
    """Starts the broker again on the same properties: same ports, same data directory."""
    proc = local_kafka._java(
        "kafka.Kafka", str(run_dir / "server.properties"), log=run_dir / "kafka.out", background=True
    )
    assert proc is not None
    (run_dir / "kafka.pid").write_text(str(proc.pid))
    port = int((run_dir / "bootstrap").read_text().rsplit(":", 1)[1])
    wait_for_port(port, timeout=60, log=run_dir / "kafka.out")


async def _read_back(bootstrap: str, topic: str) -> list[str]:
    """Returns the event ids on the topic, in partition order, duplicates included."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]  # ensure_topics' default
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ids: list[str] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                ids += [EventEnvelope.decode(r.value or b"").id for r in records]
        return ids
    finally:
        await consumer.stop()


async def _readiness(runtime: Runtime) -> dict[str, str]:
    results = {}
    for name, check in runtime.readiness_checks().items():
        try:
            await asyncio.wait_for(check(), timeout=8)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001
            results[name] = f"failed: {type(exc).__name__}"
    return results


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_the_relay_recovers_from_a_broker_restart_without_losing_an_event(
    own_broker: Path, sig: signal.Signals, tmp_path: Path
) -> None:
    run_dir = own_broker
    topic = f"{TOPIC}.{sig.name.lower()}"
    if _gone(int((run_dir / "kafka.pid").read_text())):
        await asyncio.to_thread(_restart_broker, run_dir)  # An earlier test failed with it stopped.
    bootstrap = (run_dir / "bootstrap").read_text()
    settings = ServiceSettings(
        VIGIE_PROFILE="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}",
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        run_consumers=False,
        outbox_poll_seconds=0.2,
        outbox_stall_seconds=3.0,
        KAFKA_ACK_TIMEOUT_SECONDS=4.0,
        KAFKA_RECONNECT_BACKOFF_MAX_SECONDS=2.0,
    )
    table = outbox_table(sa.MetaData())
    runtime = Runtime(settings=settings, outbox_table=table, topics=[topic])
    async with runtime.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)

    lines = _Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    levels = {name: logging.getLogger(name).level for name in ("shared", "aiokafka")}
    logging.getLogger("shared").setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    written: list[str] = []
    readiness: list[tuple[float, bool]] = []
    stop_writing = asyncio.Event()

    async def _write() -> None:
        while not stop_writing.is_set():
            envelope = EventEnvelope(
                source="faults", type="faults.tick.v1", subject=str(len(written) % 7), actor="t"
            )
            async with AsyncSession(runtime.engine) as session, session.begin():
                await add(session, table, envelope, topic=topic)
            written.append(envelope.id)
            runtime.wake_relay()
            await asyncio.sleep(WRITE_EVERY)

    async def _probe() -> None:
        while True:
            results = await _readiness(runtime)
            readiness.append((time.monotonic(), all(v == "ok" for v in results.values())))
            await asyncio.sleep(0.25)

    await runtime.start(run_relay=True)
    assert runtime.relay is not None
    writer = asyncio.create_task(_write())
    prober = asyncio.create_task(_probe())
    try:
        await asyncio.sleep(2)
        assert runtime.relay.published_total > 0
        down_at = time.monotonic()
        await asyncio.to_thread(_stop_broker, run_dir, sig)
        await asyncio.sleep(OUTAGE_SECONDS)
        acked_before = runtime.publisher.health.acknowledged
        await asyncio.to_thread(_restart_broker, run_dir)
        back_at = time.monotonic()
        while runtime.publisher.health.acknowledged == acked_before:
            assert time.monotonic() - back_at < 45, "the relay did not recover after the broker came back"
            await asyncio.sleep(0.05)
        recovered_after = time.monotonic() - back_at
        await asyncio.sleep(1)
        stop_writing.set()
        await writer
        deadline = time.monotonic() + 60
        while (await runtime.relay.pending_stats())[0]:
            assert time.monotonic() < deadline, "the outbox did not drain"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        final = await _readiness(runtime)
    finally:
        stop_writing.set()
        prober.cancel()
        await asyncio.gather(writer, prober, return_exceptions=True)
        await runtime.stop()
        root.removeHandler(lines)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if _gone(int((run_dir / "kafka.pid").read_text())):
            # Because the suite's later tests use this broker: never leave it stopped.
            await asyncio.to_thread(_restart_broker, run_dir)

    # Nothing lost; duplicates only what at-least-once allows, and an inbox applies each once.
    delivered = await _read_back(bootstrap, topic)
    counts = Counter(delivered)
    missing = set(written) - set(counts)
    assert not missing, f"{len(missing)} of {len(written)} events never reached the topic"
    duplicates = sum(n - 1 for n in counts.values())
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    inbox = inbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(inbox.metadata.create_all)
    applied = 0
    async with AsyncSession(engine) as session, session.begin():
        for event_id in delivered:
            applied += await mark_processed_or_skip(session, inbox, event_id=event_id, topic=topic)
    await engine.dispose()
    assert applied == len(written), "every event applied exactly once"

    # Readiness: failing during the outage, ok after.
    during = [ok for at, ok in readiness if down_at + 1 < at < back_at]
    assert during and not any(during), "readiness said ok while the broker was away"
    assert final == {"database": "ok", "kafka": "ok", "outbox": "ok"}, final

    sends = runtime.publisher.health.acknowledged + runtime.publisher.health.failed
    print(
        f"\n{sig.name}: {len(written)} events, {duplicates} duplicates, recovered {recovered_after:.1f}s "
        f"after the broker listened, {runtime.publisher.health.sessions} producer sessions, "
        f"{len(lines.records)} log lines for {sends} sends ({runtime.publisher.health.failed} failed)"
    )
    for record in lines.records:
        print(f"  {record.levelname} {record.name}: {record.getMessage()}")
    assert len(lines.records) < 60 and len(lines.records) * 10 < sends
