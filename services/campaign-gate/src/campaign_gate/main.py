"""The campaign-gate ASGI app. Today: the platform endpoints and the relay; the gate's routes are not built yet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from campaign_gate.bootstrap import CampaignGate, bootstrap
from campaign_gate.settings import CampaignGateSettings
from shared.auth import LocalTokenVerifier
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app


def create_app(settings: CampaignGateSettings | None = None, *, service: CampaignGate | None = None) -> FastAPI:
    """Builds the campaign-gate app."""
    service = service or bootstrap(settings)
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.runtime.running():
            yield

    app = create_platform_app(
        title="Vigie campaign-gate", routers=[], lifespan=lifespan,
        token_verifier=LocalTokenVerifier(secret=settings.jwt_secret.get_secret_value(),
                                          issuer=settings.jwt_issuer, audience=settings.jwt_audience),
        readiness_checks=service.runtime.readiness_checks(), registry=service.runtime.registry)
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = CampaignGateSettings()
    configure_logging(service="campaign-gate", level=settings.log_level)
    return create_app(settings)
