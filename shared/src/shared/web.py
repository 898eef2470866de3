"""The FastAPI app factory every service uses: health, readiness, metrics, problem+json, correlation ids."""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import AuthenticationError, PermissionDeniedError, TokenVerifier
from shared.blind_index import InvalidIdentifierError
from shared.logging import correlation_id
from shared.outbox import EventTooLargeError
from shared.tracing import (
    active_tracing,
    continue_or_start,
    current_span_trace,
    current_trace,
    instrument_app,
)

log = logging.getLogger("vigie.http")

PROBLEM_JSON = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[None]]


def problem(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Returns an RFC 9457 problem document."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if cid := correlation_id.get():
        body["correlation_id"] = cid
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Returns one {field, message, type} per error, without echoing the offending input."""
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {"field": ".".join(loc), "message": err.get("msg", "invalid"), "type": err.get("type", "")}
        )
    return errors


class HttpMetrics:
    """Prometheus series for HTTP traffic, on a registry of the app's own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        # The labelled series by (method, route, status): `labels()` validates and looks them up on every
        # call; routes are templates (or "unmatched"), so the keys are few.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counts one request and records its latency."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            if len(self._series) > 10_000:
                self._series.clear()  # Because unknown methods could otherwise grow it without end.
            series = self._series[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)


#: The largest integer a query, path or body parameter takes: a database's signed 64-bit integer.
MAX_INTEGER = 2**63 - 1

#: Path endings of bulk routes, which accept the larger body limit.
BULK_ROUTE_SUFFIXES = (":import", "/checks", "/entries")


class BodyTooLargeError(Exception):
    """The request body is over the limit."""


class LimitsMiddleware:
    """Refuses oversized bodies (413) and callers over their rate (429 with Retry-After).

    The rate is a token bucket per calling client, keyed by a hash of the bearer token (or the
    peer address without one), so that one noisy integration cannot starve the others.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_bulk_body: int, rate: float, burst: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_bulk_body = max_bulk_body
        self.rate = rate
        self.burst = burst
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def _take(self, key: bytes) -> float:
        """Takes one token; returns 0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()  # Because an unbounded map is a memory attack of its own.
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if self.rate > 0:
            client = scope.get("client")
            key = hashlib.sha256(
                headers.get(b"authorization") or (client[0] if client else "?").encode()
            ).digest()
            wait = self._take(key)
            if wait > 0:
                response = problem(
                    429,
                    "Too many requests",
                    detail="slow down and retry later",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
                await response(scope, receive, send)
                return
        limit = self.max_bulk_body if scope["path"].endswith(BULK_ROUTE_SUFFIXES) else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem(413, "Request body too large", detail=f"the limit is {limit} bytes")(
                scope, receive, send
            )
            return
        received = 0
        too_large = False
        started = False

        async def _receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLargeError(f"the limit is {limit} bytes")
            return message

        async def _send(message: Message) -> None:
            # Because a framework that reads the body for the handler turns the limit's error into a
            # 400 of its own: a body read past the limit is answered 413 whatever the app answers.
            nonlocal started
            if too_large:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(scope, receive, send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except BodyTooLargeError:
            if started:
                raise
            await _refuse(scope, receive, send, limit)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    await problem(413, "Request body too large", detail=f"the limit is {limit} bytes")(scope, receive, send)


class RequestContextMiddleware:
    """Sets the correlation id, echoes it, and records metrics and one access line per request."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())  # once: both headers below come from it
        incoming = headers.get(b"x-correlation-id")
        cid = incoming.decode("latin-1")[:128] if incoming else uuid.uuid4().hex
        token = correlation_id.set(cid)
        # With spans on, the FastAPI instrumentation's server span (outside this middleware) already
        # continued the incoming trace: propagate its ids, so that logs, events and spans agree.
        trace_token = current_trace.set(
            (current_span_trace() if active_tracing() is not None else None)
            or continue_or_start(headers.get(b"traceparent"))
        )
        status = 500
        started = time.perf_counter()

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-correlation-id", cid.encode("latin-1")))
                trace = current_trace.get()
                if trace is not None:
                    message["headers"].append((b"traceparent", trace.header().encode()))
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], template, status, elapsed)
            if template not in ("/healthz", "/metrics", "/readyz"):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )
            correlation_id.reset(token)
            current_trace.reset(trace_token)


def create_app(
    *,
    title: str,
    routers: Iterable[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None,
    token_verifier: TokenVerifier,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    problem_statuses: Mapping[type[Exception], int] | None = None,
    registry: CollectorRegistry | None = None,
    settings: Any = None,
) -> FastAPI:
    """Builds a service's app with the platform's endpoints, error shape and middleware.

    `problem_statuses` maps a service's domain error classes to HTTP statuses; the error's text
    becomes the problem's detail, so domain errors must never quote personal data.
    """
    registry = registry or CollectorRegistry()
    app = FastAPI(title=title, lifespan=lifespan)
    app.state.token_verifier = token_verifier
    app.state.registry = registry
    app.state.readiness_checks = dict(readiness_checks or {})
    metrics = HttpMetrics(registry)
    app.add_middleware(
        LimitsMiddleware,
        max_body=getattr(settings, "max_body_bytes", 1_048_576),
        max_bulk_body=getattr(settings, "max_bulk_body_bytes", 512 * 1_048_576),
        rate=getattr(settings, "rate_limit_per_second", 2000.0),
        burst=getattr(settings, "rate_limit_burst", 4000),
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    @app.exception_handler(BodyTooLargeError)
    async def _too_large(_request: Request, exc: BodyTooLargeError) -> JSONResponse:
        return problem(413, "Request body too large", detail=str(exc))

    @app.exception_handler(EventTooLargeError)
    async def _event_too_large(_request: Request, exc: EventTooLargeError) -> JSONResponse:
        # Because the outbox refuses what Kafka would refuse, rather than hold back every later event.
        return problem(413, "Request too large", detail=str(exc))

    @app.exception_handler(Exception)
    async def _server_error(_request: Request, exc: Exception) -> JSONResponse:
        # Because even a failure is answered as a problem document; the error itself is not echoed.
        log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
        return problem(500, "Server error", detail="An unexpected error occurred.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422,
            "Invalid request",
            detail="The request has invalid or missing fields.",
            type_="https://vigie.dev/problems/validation",
            errors=validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail) if exc.status_code < 500 else "Server error",
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(AuthenticationError)
    async def _unauthenticated(_request: Request, exc: AuthenticationError) -> JSONResponse:
        return problem(401, "Unauthenticated", detail=str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PermissionDeniedError)
    async def _forbidden(_request: Request, exc: PermissionDeniedError) -> JSONResponse:
        return problem(403, "Forbidden", detail=str(exc))

    @app.exception_handler(InvalidIdentifierError)
    async def _invalid_identifier(_request: Request, exc: InvalidIdentifierError) -> JSONResponse:
        return problem(
            422,
            "Invalid request",
            detail="The request has invalid or missing fields.",
            type_="https://vigie.dev/problems/validation",
            errors=[{"field": exc.field, "message": exc.reason, "type": "invalid_identifier"}],
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Because a constraint the handler did not foresee is still the caller's conflict, not a crash;
        # the database's message is not echoed, as it may quote the values.
        log.warning("integrity conflict", extra={"constraint_error": type(exc.orig).__name__})
        return problem(409, "Conflict", detail="The request conflicts with data already stored.")

    for error_class, status in (problem_statuses or {}).items():
        app.add_exception_handler(error_class, _domain_handler(status))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Says the process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Says whether every dependency (database, Kafka) answers."""
        results: dict[str, str] = {}
        for name, check in app.state.readiness_checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure makes the service not ready.
                results[name] = f"failed: {type(exc).__name__}"
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks() -> JSONResponse:
        """Serves the public halves of the local signing keys (empty without any)."""
        return JSONResponse(getattr(app.state.token_verifier, "public_jwks", None) or {"keys": []})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> PlainTextResponse:
        """Exposes Prometheus metrics."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    instrument_app(app)
    return app


def _domain_handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def _handle(_request: Request, exc: Exception) -> JSONResponse:
        extra = getattr(exc, "problem_extra", None) or {}
        headers = getattr(exc, "problem_headers", None)
        return problem(status, type(exc).__name__, detail=str(exc), headers=headers, **extra)

    return _handle
