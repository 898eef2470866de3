"""The contacts ASGI app: `uvicorn contacts.main:app` (or `create_app(settings)` in tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.auth import build_token_verifier
from shared.background import running_loops
from shared.db import is_postgres
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from contacts.bootstrap import Contacts, bootstrap
from contacts.domain import errors
from contacts.entrypoints import consumer, import_pool
from contacts.entrypoints.api import requests_router, router
from contacts.settings import ContactsSettings


def create_app(settings: ContactsSettings | None = None, *, service: Contacts | None = None) -> FastAPI:
    """Builds the contacts app; its lifespan runs the relay, the consumer, the requests watcher and the
    retention sweeper in-process, as the settings say."""
    service = service or bootstrap(settings)
    settings = service.settings
    keks, active = settings.kek_ring()
    preparer = import_pool.RowPreparer(
        vault=service.vault,
        keys=(keks, active, settings.blind_index_key.get_secret_value().encode()),
        workers=settings.import_workers,
        parallel_min_rows=settings.import_parallel_min_rows,
        # On PostgreSQL the workers hand back rows already encoded for its binary COPY.
        binary=is_postgres(service.runtime.engine),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with (
            service.runtime.running(consumer.consumers(service)),
            running_loops(
                ("requests watcher", service.watch_requests_forever),
                ("retention sweeper", service.sweep_retention_forever),
            ),
        ):
            try:
                yield
            finally:
                await asyncio.to_thread(preparer.close)

    app = create_platform_app(
        title="Vigie contacts",
        routers=[router, requests_router],
        lifespan=lifespan,
        token_verifier=build_token_verifier(settings),
        settings=settings,
        readiness_checks=service.runtime.readiness_checks(),
        problem_statuses={
            errors.ContactNotFoundError: 404,
            errors.ContactErasedError: 410,
            errors.DuplicateContactError: 409,
            errors.VersionConflictError: 412,
            errors.InteractionRejectedError: 422,
        },
        registry=service.runtime.registry,
    )
    app.state.service = service
    app.state.import_preparer = preparer
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = ContactsSettings()
    configure_logging(service="contacts", level=settings.log_level)
    return create_app(settings)
