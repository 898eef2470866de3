"""The contacts outbox relay in its own process: `uvicorn contacts.relay:app --factory`.

It serves no API: only /healthz, /readyz (database, Kafka, the relay's progress and the outbox
backlog) and /metrics, and publishes the outbox rows the API processes commit, woken by their
NOTIFY on PostgreSQL (a slow poll elsewhere). Exactly one runs per database (per-key order); the
API processes then run with `CONTACTS_RUN_RELAY=false` and only write the outbox, so that as many
of them as there are cores can serve requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.auth import build_token_verifier
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from contacts.bootstrap import Contacts, bootstrap
from contacts.settings import ContactsSettings


def create_relay_app(settings: ContactsSettings | None = None, *, service: Contacts | None = None) -> FastAPI:
    """Builds the relay process's app: the relay runs for the app's lifetime, no consumer, no route."""
    if service is None:
        settings = (settings or ContactsSettings()).model_copy(update={"run_consumers": False})
        service = bootstrap(settings)
    runtime = service.runtime

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start([], run_relay=True)
        try:
            yield
        finally:
            await runtime.stop()

    app = create_platform_app(
        title="Vigie contacts relay",
        routers=[],
        lifespan=lifespan,
        token_verifier=build_token_verifier(service.settings),
        settings=service.settings,
        readiness_checks=runtime.readiness_checks(),
        registry=runtime.registry,
    )
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = ContactsSettings()
    configure_logging(service="contacts-relay", level=settings.log_level)
    return create_relay_app(settings)
