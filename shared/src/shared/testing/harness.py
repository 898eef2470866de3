"""Runs Vigie's services in the test process against the real Kafka broker and PostgreSQL (tests only)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from shared.auth import issue_local_token
from shared.events import EventEnvelope
from shared.migrations import upgrade

#: The repository checkout (this file is shared/src/shared/testing/harness.py in it).
ROOT = Path(__file__).resolve().parents[4]
JWT = {
    "VIGIE_JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "VIGIE_JWT_ISSUER": "vigie-test",
    "VIGIE_JWT_AUDIENCE": "vigie",
}


def token(*roles: str, subject: str = "tester") -> str:
    """Returns a bearer token for the roles, signed with the test key."""
    return issue_local_token(
        secret=JWT["VIGIE_JWT_SECRET"],
        issuer=JWT["VIGIE_JWT_ISSUER"],
        audience=JWT["VIGIE_JWT_AUDIENCE"],
        roles=roles,
        subject=subject,
        client="e2e",
    )


def auth(*roles: str) -> dict[str, str]:
    """Returns the Authorization header for the roles."""
    return {"Authorization": f"Bearer {token(*roles)}"}


async def migrated_database(admin_url: str, service_folder: str) -> str:
    """Creates a fresh PostgreSQL database for a service and runs its migrations; returns its URL."""
    url = await create_postgres_database(
        admin_url, f"{service_folder.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    )
    await asyncio.to_thread(upgrade, ROOT / "services" / service_folder, url)
    return url


async def create_postgres_database(admin_url: str, name: str) -> str:
    """Creates an empty database on the admin URL's server and returns its URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def service_role_url(
    database_url: str, *, member_of: str, role: str, password: str = "test-only-service-role"
) -> str:
    """Returns `database_url` as a login role that holds only what `member_of` was granted.

    Services whose migrations separate ownership from use (audit-log: `vigie_audit_log_app`) connect
    this way in tests, as in the cluster: the tables and their guards belong to the role that ran
    the migrations (here the admin), and the service's role is not their owner. The role is
    cluster-wide and created on first use; `database_url` must be an admin's.
    """
    import asyncpg

    driver_url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(driver_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                await conn.execute(
                    f"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'"
                )
        await conn.execute(f'GRANT "{member_of}" TO "{role}"')
    finally:
        await conn.close()
    scheme, rest = database_url.split("://", 1)
    host_and_path = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{role}:{password}@{host_and_path}"


def common_settings(kafka: str) -> dict[str, Any]:
    """Returns the settings every service shares in a test."""
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka, "VIGIE_PROFILE": "test", **JWT}


@dataclass
class RunningApp:
    """An app whose lifespan runs, reachable through an in-process HTTP client."""

    app: FastAPI
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[RunningApp]:
    """Runs the app's lifespan (relay, consumers) and yields a client bound to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield RunningApp(app, client)


async def eventually(probe: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Awaits probe() until it returns something truthy, or fails with the last value after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def read_events(
    kafka: str, topic: str, done: Callable[[list[EventEnvelope]], bool], subjects: set[str]
) -> list[EventEnvelope]:
    """Reads `topic` from its start with a fresh group until `done` holds for the envelopes about
    `subjects` (in topic order), asserting each is keyed by its subject; fails after 30 s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    seen: list[EventEnvelope] = []
    try:

        async def _probe() -> list[EventEnvelope] | None:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = EventEnvelope.decode(record.value)
                    if envelope.subject in subjects:
                        assert record.key == envelope.subject.encode()
                        seen.append(envelope)
            return seen if done(seen) else None

        result: list[EventEnvelope] = await eventually(_probe, timeout=30)
        return result
    finally:
        await consumer.stop()


class ManualClock:
    """A clock a test moves by hand (`clock.now = …`); calling it returns the time it shows."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now
