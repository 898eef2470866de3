"""Audit-log test fixtures: migrated SQLite and PostgreSQL databases, a service without Kafka, tampering."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from audit_log import contracts
from audit_log.bootstrap import AuditLog, bootstrap
from audit_log.main import create_app
from audit_log.service_layer import handlers
from audit_log.settings import AuditLogSettings
from fastapi import FastAPI
from shared.events import EventEnvelope
from shared.migrations import upgrade

from shared.testing.harness import JWT, ROOT, migrated_database

SERVICE_DIR = ROOT / "services" / "audit-log"


def event(subject: str, *, type_: str = "vigie.contacts.contact_updated.v1", actor: str = "crm/alice",
          **data: Any) -> EventEnvelope:
    """Returns an event about a subject, as a producing service would publish it."""
    return EventEnvelope(source="/contacts", type=type_, subject=subject, actor=actor, data=data or {"n": 1})


def erasure(subject: str) -> EventEnvelope:
    """Returns the contacts service's erasure event for a subject."""
    return event(subject, type_=contracts.CONTACT_ERASED, actor="crm/dpo", reason="art17")


def settings_for(database_url: str, *, kafka: str = "127.0.0.1:9", **overrides: Any) -> AuditLogSettings:
    """Returns test settings; without a real `kafka` the service runs no consumer."""
    values: dict[str, Any] = {"database_url": database_url, "KAFKA_BOOTSTRAP_SERVERS": kafka,
                              "VIGIE_PROFILE": "test", "consumer_group": f"audit-{uuid.uuid4().hex[:8]}",
                              **JWT, **overrides}
    return AuditLogSettings(**values)


@dataclass
class Log:
    """An audit-log service whose API is called in-process and whose events are fed directly."""

    url: str
    service: AuditLog
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def dialect(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    async def feed(self, events: Iterable[EventEnvelope]) -> None:
        """Integrates events as the consumer does for one polled batch."""
        batch = [(envelope, envelope.encode()) for envelope in events]
        await handlers.integrate_events(batch, engine=self.service.runtime.engine, store=self.service.store)

    async def checkpoint(self) -> str | None:
        """Signs a checkpoint as the checkpointer loop does."""
        return await handlers.make_checkpoint(engine=self.service.runtime.engine, store=self.service.store)


async def sqlite_database(directory: Any) -> str:
    """Returns the URL of a fresh, migrated SQLite database file."""
    url = f"sqlite+aiosqlite:///{directory}/audit-{uuid.uuid4().hex[:6]}.db"
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return await sqlite_database(tmp_path)
    return await migrated_database(request.getfixturevalue("postgres_admin_url"), "audit-log")


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> str:
    """A fresh migrated PostgreSQL database (the admin URL's superuser owns it)."""
    return await migrated_database(postgres_admin_url, "audit-log")


@contextlib.asynccontextmanager
async def in_process(url: str) -> AsyncIterator[Log]:
    """Yields the service on a database, without its lifespan (no Kafka, no checkpointer)."""
    service = bootstrap(settings_for(url, run_consumers=False))
    app = create_app(service=service)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit") as client:
            yield Log(url, service, app, client)
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
    """Runs a statement behind the append-only triggers' back, as a database superuser could."""
    if url.startswith("postgresql"):
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(statement.replace("?", "${}").format(*range(1, len(params) + 1)), *params)
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
