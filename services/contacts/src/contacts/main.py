"""The contacts ASGI app: `uvicorn contacts.main:app` (or `create_app(settings)` in tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from contacts.bootstrap import Contacts, bootstrap
from contacts.domain import errors
from contacts.entrypoints.api import router
from contacts.entrypoints.requests_api import router as requests_router
from contacts.entrypoints.requests_consumer import requests_consumers, watch_requests_periodically
from contacts.settings import ContactsSettings
from shared.auth import build_token_verifier
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

log = logging.getLogger(__name__)

#: The actor the periodic sweeper writes in its events.
SWEEPER_ACTOR = "contacts/retention-sweeper"


async def sweep_retention_periodically(service: Contacts, *, interval_seconds: float) -> None:
    """Runs a retention sweep every `interval_seconds` until cancelled; a failed sweep is logged and retried."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            report = await service.sweep_retention(actor=SWEEPER_ACTOR)
            log.info("retention sweep: %s", report.as_dict())
        except Exception:  # noqa: BLE001 - the next period retries; one bad sweep must not stop the loop.
            log.exception("retention sweep failed")


def create_app(settings: ContactsSettings | None = None, *, service: Contacts | None = None) -> FastAPI:
    """Builds the contacts app; its lifespan runs the relay in-process unless settings say otherwise."""
    service = service or bootstrap(settings)
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.runtime.running(requests_consumers(service)):
            watcher = asyncio.create_task(watch_requests_periodically(service), name="requests watcher")
            interval = settings.retention_sweep_interval_seconds
            sweeper = (asyncio.create_task(sweep_retention_periodically(service, interval_seconds=interval),
                                           name="retention sweeper") if interval > 0 else None)
            try:
                yield
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                if sweeper is not None:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper

    app = create_platform_app(
        title="Vigie contacts",
        routers=[router, requests_router],
        lifespan=lifespan,
        token_verifier=build_token_verifier(settings), settings=settings,
        readiness_checks=service.runtime.readiness_checks(),
        problem_statuses={errors.ContactNotFoundError: 404, errors.ContactErasedError: 410,
                          errors.DuplicateContactError: 409, errors.VersionConflictError: 412,
                          errors.InteractionRejectedError: 422},
        registry=service.runtime.registry,
    )
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = ContactsSettings()
    configure_logging(service="contacts", level=settings.log_level)
    return create_app(settings)
