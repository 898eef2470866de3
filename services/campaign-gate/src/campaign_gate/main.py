"""The campaign-gate ASGI app: `uvicorn campaign_gate.main:app --factory` (or `create_app(settings)` in
tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.auth import build_token_verifier
from shared.blind_index import InvalidIdentifierError
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from campaign_gate.bootstrap import CampaignGate, bootstrap
from campaign_gate.domain import errors
from campaign_gate.entrypoints import consumer
from campaign_gate.entrypoints.api import InvalidCheckInputError, router
from campaign_gate.settings import CampaignGateSettings

#: Domain errors → HTTP statuses; the most specific class wins.
PROBLEM_STATUSES: dict[type[Exception], int] = {
    errors.NotFoundError: 404,
    # Because stored receipts contradict the root the audit log holds (audit-log answers a tampered entry so).
    errors.ReceiptIntegrityError: 409,
    errors.CampaignError: 422,
    # Because the check finished, or its campaign or the rule set changed since it began.
    errors.CheckNotResumableError: 409,
    errors.InvalidTransitionError: 409,
    errors.FourEyesError: 403,
    errors.ApprovalRefusedError: 422,
    InvalidIdentifierError: 422,
    InvalidCheckInputError: 422,
}


def create_app(
    settings: CampaignGateSettings | None = None, *, service: CampaignGate | None = None
) -> FastAPI:
    """Builds the campaign-gate app; its lifespan runs the relay and the projection's consumer in-process."""
    service = service or bootstrap(settings)
    settings = service.settings
    consumers = consumer.consumers(service)

    # Because the pods that only relay or only consume (as deployed) serve no check: the API pods (neither
    # role) and the all-in-one process (both) load the check view at start.
    serves_checks = settings.run_relay == settings.run_consumers

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.runtime.running(consumers):
            warming = asyncio.create_task(service.warm_contact_view()) if serves_checks else None
            try:
                yield
            finally:
                if warming is not None and not warming.done():
                    warming.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await warming
                await service.freshness.close()

    app = create_platform_app(
        title="Vigie campaign-gate",
        routers=[router],
        lifespan=lifespan,
        token_verifier=build_token_verifier(settings),
        readiness_checks=service.runtime.readiness_checks(),
        problem_statuses=PROBLEM_STATUSES,
        registry=service.runtime.registry,
        settings=settings,
    )
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = CampaignGateSettings()
    configure_logging(service="campaign-gate", level=settings.log_level)
    return create_app(settings)
