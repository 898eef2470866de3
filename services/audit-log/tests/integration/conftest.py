"""Audit-log test fixtures: migrated SQLite and PostgreSQL databases, a service without Kafka fed by the
producers' own code (tests/producers.py), tampering."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from aiokafka import ConsumerRecord
from audit_log.bootstrap import AuditLog, bootstrap
from audit_log.entrypoints import consumer
from audit_log.main import create_app
from audit_log.service_layer import commands, handlers
from audit_log.settings import AuditLogSettings
from contacts.domain.model import Contact
from fastapi import FastAPI
from shared.events import EventEnvelope
from shared.migrations import upgrade
from shared.testing.harness import JWT, ROOT, migrated_database, service_role_url

from tests.producers import Upstream

SERVICE_DIR = ROOT / "services" / "audit-log"
#: The producers' blind-index key (contacts' vault indexes e-mails and phones with it).
BLIND_INDEX_KEY = "audit-log-tests-blind-index-key-0123456789"


def settings_for(database_url: str, *, kafka: str = "127.0.0.1:9", **overrides: Any) -> AuditLogSettings:
    """Returns test settings; without a real `kafka` the service runs no consumer."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "consumer_group": f"audit-{uuid.uuid4().hex[:8]}",
        **JWT,
        **overrides,
    }
    return AuditLogSettings(**values)


APPEND_ONLY = ("entries", "tree_nodes", "checkpoints")


def consumed(
    topic: str,
    value: bytes,
    *,
    offset: int = 0,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> ConsumerRecord:
    """Returns a record as the consumer loop polls it."""
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=tuple(headers),
    )


@dataclass
class Log:
    """An audit-log service whose API is called in-process, fed by the producers' own code.

    `upstream` makes contacts', consent's and the gate's events with their code and publishes them
    through their outbox relay to a recording publisher; `feed` hands what was published since the
    last feed to the consumer's batch handler as one polled batch.
    """

    url: str
    service: AuditLog
    app: FastAPI
    client: httpx.AsyncClient
    upstream: Upstream
    contacts: dict[str, Contact] = field(default_factory=dict)
    _delivered: int = 0

    @property
    def dialect(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    async def touch(self, subject: str, *, actor: str = "contacts/api") -> EventEnvelope:
        """Publishes contact_created for a new subject, else contact_updated, as contacts does."""
        contact = self.contacts.get(subject)
        if contact is None:
            self.contacts[subject] = await self.upstream.contact(contact_id=subject, actor=actor)
        else:
            await self.upstream.update_contact(
                contact, actor=actor, attributes={"touched": len(self.upstream.published)}
            )
        return self.upstream.published[-1]

    async def erase(self, subject: str) -> EventEnvelope:
        """Publishes contact_erased for a subject, as contacts' rights desk does."""
        return await self.upstream.erase(self.contacts[subject])

    async def feed(self, *envelopes: EventEnvelope) -> list[EventEnvelope]:
        """Delivers, as one polled batch, what the upstream published since the last feed (or `envelopes`)."""
        if envelopes:
            self.skip_published()
            records = [consumed("contacts.events", e.encode()) for e in envelopes]
        else:
            published = self.upstream.publisher.records[self._delivered :]
            self._delivered += len(published)
            records = [
                consumed(topic, value, offset=n, key=key.encode(), headers=headers)
                for n, (topic, key, value, headers) in enumerate(published)
            ]
        refused = await consumer.batch_handler(self.service)(records)
        assert refused == [], refused
        return [EventEnvelope.decode(r.value) for r in records]

    def skip_published(self) -> list[EventEnvelope]:
        """Returns what was published since the last feed, undelivered (the test hands it on itself)."""
        published = self.upstream.publisher.records[self._delivered :]
        self._delivered += len(published)
        return [EventEnvelope.decode(value) for _topic, _key, value, _headers in published]

    async def ingest(self, *subjects: str, actor: str = "contacts/api") -> list[EventEnvelope]:
        """Publishes an event about each subject (in order), then feeds them as one batch."""
        for subject in subjects:
            await self.touch(subject, actor=actor)
        return await self.feed()

    async def checkpoint(self) -> str | None:
        """Signs a checkpoint as the checkpointer loop does; returns its note."""
        signed = await handlers.sign_checkpoint(commands.SignCheckpoint(), self.service.uow())
        return None if signed is None else signed.note


async def sqlite_database(directory: Any) -> str:
    """Returns the URL of a fresh, migrated SQLite database file."""
    url = f"sqlite+aiosqlite:///{directory}/audit-{uuid.uuid4().hex[:6]}.db"
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    return url


#: The role the service connects as on PostgreSQL: a member of the group the migrations grant to.
SERVICE_ROLE = "vigie_audit_log_test_service"
APP_ROLE = "vigie_audit_log_app"
#: A service URL -> the admin URL of the same database (the owner's, for tampering).
OWNER_URL: dict[str, str] = {}


async def postgres_database(admin_url: str) -> str:
    """Returns the service's URL of a fresh migrated PostgreSQL database: the admin (superuser) ran
    the migrations and owns the tables and their guards; the service connects as SERVICE_ROLE."""
    owner_url = await migrated_database(admin_url, "audit-log")
    url = await service_role_url(owner_url, member_of=APP_ROLE, role=SERVICE_ROLE)
    OWNER_URL[url] = owner_url
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL (as the service's role)."""
    if request.param == "sqlite":
        return await sqlite_database(tmp_path)
    return await postgres_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> str:
    """A fresh migrated PostgreSQL database, as the service's role (the admin owns the tables)."""
    return await postgres_database(postgres_admin_url)


@contextlib.asynccontextmanager
async def in_process(url: str) -> AsyncIterator[Log]:
    """Yields the service on a database, without its lifespan (no Kafka, no checkpointer)."""
    service = bootstrap(settings_for(url, run_consumers=False))
    app = create_app(service=service)
    try:
        async with (
            Upstream(None, blind_index_key=BLIND_INDEX_KEY) as upstream,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit") as client,
        ):
            yield Log(url, service, app, client, upstream)
    finally:
        await service.runtime.engine.dispose()


@pytest.fixture
async def log(database_url: str) -> AsyncIterator[Log]:
    """The service on SQLite and on PostgreSQL."""
    async with in_process(database_url) as running_log:
        yield running_log


@contextlib.asynccontextmanager
async def served_over_http(app: FastAPI) -> AsyncIterator[str]:
    """Serves the app with uvicorn on a free loopback port (no lifespan); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def tamper(url: str, statement: str, *params: Any) -> None:
    """Runs a statement behind the append-only triggers' back, as the tables' owner (or a superuser)
    could: the guards are disabled, the statement runs, and they are enabled again, in one transaction."""
    if url.startswith("postgresql"):
        owner = OWNER_URL.get(url, url)
        conn = await asyncpg.connect(owner.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                for table in APPEND_ONLY:
                    await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                await conn.execute(statement.replace("?", "${}").format(*range(1, len(params) + 1)), *params)
                for table in APPEND_ONLY:
                    await conn.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_update_delete")
                    await conn.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")
        finally:
            await conn.close()
        return
    path = url.split("///", 1)[1]

    def _run() -> None:
        db = sqlite3.connect(path)
        try:
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
            for name, _ in triggers:
                db.execute(f"DROP TRIGGER {name}")
            db.execute(statement, params)
            for _, sql in triggers:
                db.execute(sql)
            db.commit()
        finally:
            db.close()

    await asyncio.to_thread(_run)
