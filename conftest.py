"""Session-wide test infrastructure: a real Kafka broker and a real PostgreSQL, started once.

`KAFKA_BOOTSTRAP_SERVERS` and `VIGIE_TEST_DATABASE_URL` (an admin URL) point the tests at existing
servers (a laptop with Docker can start them with containers and export these); otherwise the
fixtures start a KRaft broker from Maven Central jars and a private PostgreSQL cluster (installing
Debian's package when absent), and stop them by PID at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Because the repository's `shared/` folder would otherwise shadow the installed `shared` package
# under pytest's importlib mode.
import shared  # noqa: F401

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Returns the bootstrap address of a real Kafka broker for the whole session."""
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield env
        return
    from infra import local_kafka

    run_dir = Path(tempfile.mkdtemp(prefix="vigie-kafka-"))
    bootstrap = local_kafka.start(run_dir)
    try:
        yield bootstrap
    finally:
        local_kafka.stop(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """Returns an admin URL of a real PostgreSQL server for the whole session."""
    if env := os.environ.get("VIGIE_TEST_DATABASE_URL"):
        yield env
        return
    from infra import local_postgres

    run_dir = Path(tempfile.mkdtemp(prefix="vigie-pgrun-"))
    url = local_postgres.start(run_dir)
    try:
        yield url
    finally:
        local_postgres.stop(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
