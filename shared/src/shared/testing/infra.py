"""Where the tests' Kafka broker and PostgreSQL come from: containers when a Docker engine answers,
else the local Maven-jar broker and private cluster (`infra.local_kafka`, `infra.local_postgres`).

`VIGIE_TEST_INFRA` chooses: `auto` (the default) asks the engine; `containers` insists on it and
fails, saying why, when none answers; `local` never asks. Either way a fixture hands the tests the
same thing: the broker's bootstrap address and an admin URL of the PostgreSQL server
(`postgresql://postgres@host:port/postgres`), as a `Server` that knows how to stop itself.
`KAFKA_BOOTSTRAP_SERVERS` and `VIGIE_TEST_DATABASE_URL` still bypass both (servers you run).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: The variable that chooses, and its values.
INFRA_VARIABLE = "VIGIE_TEST_INFRA"
#: The broker image: Confluent Platform 8.0 is Apache Kafka 4.0, the version `infra/kafka/pom.xml` pins.
KAFKA_IMAGE = "confluentinc/cp-kafka:8.0.0"
#: The PostgreSQL image (its major version is that of Debian's `postgresql` package on CI).
POSTGRES_IMAGE = "postgres:17"
#: Admin credentials of the PostgreSQL container (a throw-away server on a random local port).
POSTGRES_ADMIN = ("postgres", "postgres-test-only")

#: The local broker's `server.properties` (`infra.local_kafka`), as the Confluent image's variables.
#: Topics are created by the services' `ensure_topics` in both cases, with `LogAppendTime`.
KAFKA_BROKER_ENV = {
    "KAFKA_NUM_PARTITIONS": "3",
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
}
#: The local cluster's server options (`infra.local_postgres`).
POSTGRES_COMMAND = "postgres -c max_connections=300 -c shared_buffers=256MB"


class Infra(enum.Enum):
    """Where the servers come from."""

    LOCAL = "local"
    CONTAINERS = "containers"


class InfraChoiceError(RuntimeError):
    """`VIGIE_TEST_INFRA` asks for something impossible here (named in the message)."""


def choose(environ: Mapping[str, str], *, engine_reachable: Callable[[], bool]) -> Infra:
    """Returns where the servers come from, per `VIGIE_TEST_INFRA` (`auto`, `containers`, `local`).

    `engine_reachable` is asked only when the answer depends on it. Raises InfraChoiceError on an
    unknown value, and on `containers` with no engine answering (never a silent fall-back).
    """
    value = environ.get(INFRA_VARIABLE, "").strip().lower() or "auto"
    if value == Infra.LOCAL.value:
        return Infra.LOCAL
    if value == Infra.CONTAINERS.value:
        if not engine_reachable():
            where = environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
            raise InfraChoiceError(
                f"{INFRA_VARIABLE}=containers but no Docker engine answers at {where}: start one "
                f"(or set DOCKER_HOST), or use {INFRA_VARIABLE}=local or auto"
            )
        return Infra.CONTAINERS
    if value == "auto":
        return Infra.CONTAINERS if engine_reachable() else Infra.LOCAL
    raise InfraChoiceError(f"{INFRA_VARIABLE}={value!r} is not one of auto, containers, local")


def docker_engine_reachable(timeout: float = 3.0) -> bool:
    """Tells whether a Docker engine answers a ping where testcontainers would look for one.

    That is testcontainers' own host (its properties file, `DOCKER_HOST`, the current docker
    context), else the default socket; no socket and no host means no engine, without a try.
    """
    home = Path.home()
    if not (
        os.environ.get("DOCKER_HOST")
        or Path("/var/run/docker.sock").exists()
        or (home / ".docker").exists()
        or (home / ".testcontainers.properties").exists()
    ):
        return False  # Nothing could point at an engine: no need to load the clients to know it.
    import docker  # type: ignore[import-untyped]
    from testcontainers.core.docker_client import get_docker_host

    host = get_docker_host()
    if host is None and not Path("/var/run/docker.sock").exists():
        return False
    environment = {**os.environ, "DOCKER_HOST": host} if host else dict(os.environ)
    try:
        client = docker.from_env(timeout=timeout, environment=environment)
    except Exception:  # noqa: BLE001 - no usable engine configuration: none reachable.
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - the engine did not answer.
        return False
    finally:
        client.close()


@dataclass(frozen=True)
class Server:
    """A server the tests use: what they connect to, where it runs, and how to stop it."""

    #: The Kafka bootstrap address (`host:port`) or the PostgreSQL admin URL.
    address: str
    infra: Infra
    stop: Callable[[], None]


def start_kafka_container(image: str | None = None, *, timeout: int = 120) -> Server:
    """Starts a single-node KRaft broker in a container (testcontainers' Kafka module)."""
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(image or os.environ.get("VIGIE_TEST_KAFKA_IMAGE", KAFKA_IMAGE)).with_kraft()
    for key, value in KAFKA_BROKER_ENV.items():
        container.with_env(key, value)
    container.start(timeout=timeout)
    try:
        bootstrap = str(container.get_bootstrap_server())
    except BaseException:
        container.stop()
        raise
    return Server(bootstrap, Infra.CONTAINERS, container.stop)


def start_postgres_container(image: str | None = None) -> Server:
    """Starts PostgreSQL in a container; the address is an admin URL like the local cluster's."""
    from testcontainers.community.postgres import PostgresContainer

    user, password = POSTGRES_ADMIN
    container = PostgresContainer(
        image or os.environ.get("VIGIE_TEST_POSTGRES_IMAGE", POSTGRES_IMAGE),
        username=user,
        password=password,
        dbname="postgres",
        driver=None,
    )
    container.with_command(POSTGRES_COMMAND)
    container.start()
    try:
        url = container.get_connection_url(driver=None)
    except BaseException:
        container.stop()
        raise
    return Server(url, Infra.CONTAINERS, container.stop)
