"""Session-wide test infrastructure: a real Kafka broker and a real PostgreSQL, started once.

`KAFKA_BOOTSTRAP_SERVERS` and `VIGIE_TEST_DATABASE_URL` (an admin URL) point the tests at existing
servers. Otherwise, where a Docker engine answers, the fixtures start both in containers
(testcontainers); elsewhere a KRaft broker from Maven Central jars and a private PostgreSQL cluster
(installing Debian's package when absent), stopped by PID at the end. `VIGIE_TEST_INFRA` (`auto`,
`containers`, `local`) overrides the choice: see `shared.testing.infra`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from shared.testing.infra import Infra

# Because the repository's `shared/` folder would otherwise shadow the installed `shared` package
# under pytest's importlib mode.
import shared  # noqa: F401

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def infra_choice() -> Infra:
    """Where the session's servers come from: containers where a Docker engine answers, else local."""
    from shared.testing.infra import choose, docker_engine_reachable

    return choose(os.environ, engine_reachable=docker_engine_reachable)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Returns the bootstrap address of a real Kafka broker for the whole session."""
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield env
        return
    if request.getfixturevalue("infra_choice") is Infra.CONTAINERS:
        from shared.testing.infra import start_kafka_container

        server = start_kafka_container()
        try:
            yield server.address
        finally:
            server.stop()
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
def postgres_admin_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Returns an admin URL of a real PostgreSQL server for the whole session."""
    if env := os.environ.get("VIGIE_TEST_DATABASE_URL"):
        yield env
        return
    if request.getfixturevalue("infra_choice") is Infra.CONTAINERS:
        from shared.testing.infra import start_postgres_container

        server = start_postgres_container()
        try:
            yield server.address
        finally:
            server.stop()
        return
    from infra import local_postgres

    run_dir = Path(tempfile.mkdtemp(prefix="vigie-pgrun-"))
    url = local_postgres.start(run_dir)
    try:
        yield url
    finally:
        local_postgres.stop(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
