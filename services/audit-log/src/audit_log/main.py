"""The audit-log ASGI app; its lifespan runs the consumer of every topic and the checkpointer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.auth import build_token_verifier
from shared.background import running_loops
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from audit_log.bootstrap import AuditLog, bootstrap
from audit_log.entrypoints import consumer
from audit_log.entrypoints.api import router
from audit_log.settings import AuditLogSettings


def create_app(settings: AuditLogSettings | None = None, *, service: AuditLog | None = None) -> FastAPI:
    """Builds the audit-log app."""
    service = service or bootstrap(settings)
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Because only the single writer may sign: the checkpointer runs where the consumer runs.
        checkpointer = ("checkpointer", service.checkpoint_loop)
        async with (
            service.runtime.running(consumer.consumers(service)),
            running_loops(checkpointer if settings.run_consumers else None),
        ):
            yield

    app = create_platform_app(
        title="Vigie audit-log",
        routers=[router],
        lifespan=lifespan,
        token_verifier=build_token_verifier(settings),
        settings=settings,
        readiness_checks=service.runtime.readiness_checks(),
        registry=service.runtime.registry,
    )
    app.state.service = service
    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = AuditLogSettings()
    configure_logging(service="audit-log", level=settings.log_level)
    return create_app(settings)
