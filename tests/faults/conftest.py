"""What the fault-injection suite shares: a broker of its own, a PostgreSQL it may stop, read-back helpers.

Every fault test runs on servers it may break: the broker here (`faults_kafka`) is the suite's, not
the session's, and `own_postgres` is a cluster of the test's own that it stops and starts again on
the same port and data directory. The session's PostgreSQL only ever serves databases nobody stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from infra import local_kafka, local_postgres
from infra._proc import pid_alive


@pytest.fixture(scope="package")
def faults_broker_dir() -> Iterator[Path]:
    """The run directory of the suite's broker (bootstrap, pid, properties), for tests that restart it."""
    run_dir = Path(tempfile.mkdtemp(prefix="vigie-faults-kafka-"))
    local_kafka.start(run_dir)
    try:
        yield run_dir
    finally:
        # Because a broker's controlled shutdown takes seconds and nothing here must survive it.
        kill_broker(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def faults_kafka(faults_broker_dir: Path) -> str:
    """The bootstrap address of the suite's broker (tests that stop it start it again on the same port)."""
    return (faults_broker_dir / "bootstrap").read_text()


def kill_broker(run_dir: Path) -> None:
    """Kills the broker started under run_dir (SIGKILL) and reaps it."""
    pid_file = run_dir / "kafka.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    pid_file.unlink()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.05)


@dataclass
class OwnPostgres:
    """A private PostgreSQL cluster that a test may stop and start again (same port, same data)."""

    run_dir: Path
    url: str

    def _pg_ctl(self, *args: str) -> None:
        bindir = local_postgres.install()
        data = (self.run_dir / "pgdata").read_text().strip()
        subprocess.run(
            local_postgres._as_postgres([str(bindir / "pg_ctl"), "-D", data, *args]),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stops the server at once: every connection is cut (`-m fast`), nothing is flushed by clients."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Starts the stopped server again on its port."""
        port = self.url.rsplit(":", 1)[1].split("/", 1)[0]
        data = (self.run_dir / "pgdata").read_text().strip()
        opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._pg_ctl("-o", opts, "-l", f"{data}/server.log", "-w", "start")


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster of the module's own, which its tests may stop."""
    run_dir = Path(tempfile.mkdtemp(prefix="vigie-faults-pg-"))
    url = local_postgres.start(run_dir)
    try:
        yield OwnPostgres(run_dir, url)
    finally:
        with contextlib.suppress(Exception):
            local_postgres.stop(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Returns every committed record on the topic, partition by partition, duplicates included."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            ids = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    """Returns a record's headers as text."""
    return {key: (value or b"").decode(errors="replace") for key, value in record.headers or ()}


async def readiness(checks: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, str]:
    """Runs /readyz's checks as the endpoint does: `ok`, or `failed: <error class>` per check."""
    results = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=8)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001
            results[name] = f"failed: {type(exc).__name__}"
    return results
