"""The producers' real apps and the gate's real projection, wired by their outbox bytes, in one process.

contacts and consent run their real FastAPI apps (HTTP in-process, real unit of work, migrated
SQLite); no Kafka is needed because what the relay would publish is the outbox row's `value`, the
serialized CloudEvent. `World.flush()` takes those bytes in outbox order, decodes them as the gate's
consumer does and applies them with the gate's real `project_event` on a migrated SQLite gate
database; `World.recipient()` reads the `RecipientFacts` back through `ProjectionRepository`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from campaign_gate.domain.facts import Channel, RecipientFacts
from campaign_gate.service_layer.commands import ProjectEvent
from campaign_gate.service_layer.handlers import project_event
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from consent.adapters import orm as consent_orm
from consent.main import create_app as consent_app
from consent.settings import ConsentSettings
from contacts.adapters import orm as contacts_orm
from contacts.main import create_app as contacts_app
from contacts.settings import ContactsSettings
from shared.db import make_engine, make_sessionmaker
from shared.events import EventEnvelope
from shared.migrations import upgrade
from shared.testing.harness import ROOT, auth, common_settings

from tests.bodies import notice_body, purpose_body

BLIND_KEY = "lineage-test-blind-index-key-0123456789"
#: No broker is contacted: the apps' lifespans (relay, consumers) are never started.
NO_KAFKA = common_settings("127.0.0.1:9")
WRITER, ADMIN = auth("integrator"), auth("admin")
SERVICES = ("contacts", "consent", "campaign-gate")


async def migrated_templates(folder: Path) -> dict[str, Path]:
    """Migrates one SQLite database per service into `folder` (copied per test: a file copy is cheap)."""
    paths = {name: folder / f"{name}.db" for name in SERVICES}
    for name, path in paths.items():
        # One at a time: Alembic's migration context is process-global.
        await asyncio.to_thread(upgrade, ROOT / "services" / name, f"sqlite+aiosqlite:///{path}")
    return paths


@dataclass
class World:
    """contacts, consent and the gate's projection, joined by the producers' outbox bytes."""

    contacts: httpx.AsyncClient
    consent: httpx.AsyncClient
    apps: dict[str, Any]
    gate_url: str
    envelopes: list[EventEnvelope] = field(default_factory=list)
    #: The (topic, bytes) of every record fed to the gate, as the relay would have published them.
    records: list[tuple[str, bytes]] = field(default_factory=list)
    _cursor: dict[str, int] = field(default_factory=lambda: {"contacts": 0, "consent": 0})
    _offset: int = 0

    def __post_init__(self) -> None:
        self.gate_engine = make_engine(self.gate_url)
        self.gate_sessions = make_sessionmaker(self.gate_engine)

    def gate_uow(self) -> GateUnitOfWork:
        """Returns a real gate unit of work on the gate's database."""
        return GateUnitOfWork(session_factory=self.gate_sessions)

    async def post(
        self,
        service: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Calls a producer's API and returns the JSON answer (fails on any non-2xx status)."""
        client = self.contacts if service == "contacts" else self.consent
        response = await client.request(method, path, json=body, headers=headers or WRITER)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    async def outbox(self, service: str) -> list[tuple[str, bytes]]:
        """Returns the producer's new outbox rows (topic, serialized envelope) in relay order."""
        table = (contacts_orm if service == "contacts" else consent_orm).outbox
        engine = self.apps[service].state.service.runtime.engine
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(table.c.id, table.c.topic, table.c.value)
                    .where(table.c.id > self._cursor[service])
                    .order_by(table.c.id)
                )
            ).all()
        if rows:
            self._cursor[service] = rows[-1].id
        return [(row.topic, bytes(row.value)) for row in rows]

    async def flush(self) -> list[EventEnvelope]:
        """Feeds every new outbox record of both producers through the gate's projection; returns them."""
        applied = []
        for service in ("contacts", "consent"):
            for topic, value in await self.outbox(service):
                envelope = EventEnvelope.decode(value)
                self.records.append((topic, value))
                self._offset += 1
                await project_event(ProjectEvent(envelope, topic, 0, self._offset), self.gate_uow())
                applied.append(envelope)
        self.envelopes += applied
        return applied

    async def recipient(
        self,
        contact_id: str,
        *,
        purpose_id: str = "p-none",
        channel: Channel = Channel.EMAIL,
        today: date | None = None,
    ) -> RecipientFacts:
        """Flushes, then reads a contact's facts from the gate's projection for a purpose and channel."""
        await self.flush()
        async with self.gate_uow() as uow:
            found = await uow.projection.recipients(
                [contact_id], purpose_id=purpose_id, channel=channel, today=today or datetime.now(UTC).date()
            )
        assert contact_id in found, f"the gate has no projection of contact {contact_id}"
        return found[contact_id]

    # --- Producer helpers (what a person or an integrator enters) -----------------------------------

    async def contact(self, **overrides: Any) -> str:
        """Creates a contact through contacts' API and returns its id."""
        tag = uuid.uuid4().hex[:8]
        body = {
            "kind": "consumer",
            "relationship": "prospect",
            "email": f"lineage.{tag}@example.org",
            "collected_from_person": True,
            "source": "web_form",
            "obtained_at": "2026-06-01T10:00:00+00:00",
            **overrides,
        }
        return str((await self.post("contacts", "/v1/contacts", body))["id"])

    async def interaction(self, contact_id: str, kind: str, occurred_at: str, **extra: Any) -> None:
        """Records an interaction through contacts' API."""
        await self.post(
            "contacts",
            f"/v1/contacts/{contact_id}/interactions",
            {"kind": kind, "occurred_at": occurred_at, **extra},
        )

    async def patch_contact(self, contact_id: str, **changes: Any) -> None:
        """Changes a contact through contacts' API."""
        await self.post("contacts", f"/v1/contacts/{contact_id}", changes, method="PATCH")

    async def purpose(self, **overrides: Any) -> str:
        """Registers a purpose through consent's API and returns its id."""
        body = purpose_body(**overrides)
        return str((await self.post("consent", "/v1/purposes", body, headers=ADMIN))["purpose_id"])

    async def notice(self, purpose_id: str, article: str = "13") -> str:
        """Publishes a complete notice for a purpose through consent's API and returns its id."""
        body = notice_body([purpose_id], article)
        return str((await self.post("consent", "/v1/notices", body, headers=ADMIN))["notice_id"])

    async def deliver(self, notice_id: str, contact_id: str, **extra: Any) -> dict[str, Any]:
        """Records a notice delivery through consent's API."""
        return await self.post(
            "consent",
            f"/v1/notices/{notice_id}/deliveries",
            {"contact_id": contact_id, "channel": "email", **extra},
        )

    async def consent_to(self, contact_id: str, purpose_id: str, **overrides: Any) -> dict[str, Any]:
        """Records a consent through consent's API and returns it."""
        body = {
            "contact_id": contact_id,
            "purpose_id": purpose_id,
            "channel": "email",
            "collection_method": "web_form",
            "wording": "J'accepte de recevoir les offres d'Acme par e-mail. Je peux retirer mon consentement "
            "à tout moment via le lien de désinscription.",
            "proof": {
                "captured_at": "2026-10-01T10:00:00+00:00",
                "source": "https://acme.example/form#v3",
                "ip": "203.0.113.77",
                "user_agent": "Mozilla/5.0",
            },
            "terms": {"act": "ticked_box"},
            **overrides,
        }
        return await self.post("consent", "/v1/consents", body)


@contextlib.asynccontextmanager
async def open_world(templates: dict[str, Path], folder: Path) -> AsyncIterator[World]:
    """Copies the migrated databases into `folder`, builds the producers' apps and yields the world."""
    urls = {}
    for name, template in templates.items():
        target = folder / template.name
        shutil.copy(template, target)
        urls[name] = f"sqlite+aiosqlite:///{target}"
    apps = {
        "contacts": contacts_app(
            ContactsSettings(
                database_url=urls["contacts"],
                retention_sweep_interval_seconds=0,
                VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
                **NO_KAFKA,
            )
        ),
        "consent": consent_app(
            ConsentSettings(database_url=urls["consent"], VIGIE_BLIND_INDEX_KEY=BLIND_KEY, **NO_KAFKA)
        ),
    }
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        for name, app in apps.items()
    }
    world = World(
        contacts=clients["contacts"], consent=clients["consent"], apps=apps, gate_url=urls["campaign-gate"]
    )
    try:
        yield world
    finally:
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            await app.state.service.runtime.engine.dispose()
        await world.gate_engine.dispose()


@pytest.fixture(scope="session")
async def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Migrates contacts', consent's and the gate's SQLite databases once."""
    return await migrated_templates(tmp_path_factory.mktemp("lineage-templates"))


@pytest.fixture
async def world(templates: dict[str, Path], tmp_path: Path) -> AsyncIterator[World]:
    """The producers' apps and the gate's projection on copies of the migrated databases."""
    async with open_world(templates, tmp_path) as opened:
        yield opened
