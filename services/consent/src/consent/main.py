"""The consent ASGI app: `uvicorn consent.main:app --factory` (or `create_app(settings)` in tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.auth import build_token_verifier
from shared.background import running_loops
from shared.blind_index import InvalidIdentifierError
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from consent.bootstrap import ConsentService, bootstrap
from consent.domain import errors
from consent.entrypoints import consumer
from consent.entrypoints.api import router
from consent.settings import ConsentSettings

#: Domain errors → HTTP statuses; the most specific class wins, every other rule refusal is a 422.
PROBLEM_STATUSES: dict[type[Exception], int] = {
    errors.NotFoundError: 404,
    errors.AlreadyExistsError: 409,
    errors.ConsentError: 422,
    InvalidIdentifierError: 422,
    errors.ConsentAlreadyWithdrawnError: 409,
    errors.ConsentAlreadyActiveError: 409,
    errors.ConsentNotPendingError: 409,
    errors.NoticeAlreadyPublishedError: 409,
    errors.ProcessorEndedError: 409,
    errors.PartyEndedError: 409,
    errors.BreachStepConflictError: 409,
}


def create_app(settings: ConsentSettings | None = None, *, service: ConsentService | None = None) -> FastAPI:
    """Builds the consent app; its lifespan runs the relay and the erasure consumer in-process."""
    service = service or bootstrap(settings)
    settings = service.settings
    consumers = consumer.consumers(service)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watch = ("consent-contract-watch", service.watch_contracts_forever)
        breach_watch = ("consent-breach-watch", service.watch_breaches_forever)
        async with (
            service.runtime.running(consumers),
            running_loops(
                watch if settings.contract_watch_interval_seconds > 0 else None,
                breach_watch if settings.breach_watch_interval_seconds > 0 else None,
            ),
        ):
            yield

    app = create_platform_app(
        title="Vigie consent",
        routers=[router],
        lifespan=lifespan,
        token_verifier=build_token_verifier(settings),
        settings=settings,
        readiness_checks=service.runtime.readiness_checks(),
        problem_statuses=PROBLEM_STATUSES,
        registry=service.runtime.registry,
    )
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = ConsentSettings()
    configure_logging(service="consent", level=settings.log_level)
    return create_app(settings)
