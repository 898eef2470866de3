"""The console's ASGI app: server-rendered pages over the four services' APIs (`console.main:app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from shared.logging import configure_logging
from shared.web import create_app as create_platform_app

from console.adapters.apis import ApiError
from console.bootstrap import Console, bootstrap
from console.domain.views import Problem
from console.entrypoints.session import CsrfError, NotSignedInError, current_caller
from console.entrypoints.web import HERE, problem_page, router
from console.settings import ConsoleSettings

#: Scripts, styles and images from the console itself only; no frame, no form to elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(settings: ConsoleSettings | None = None, *, console: Console | None = None) -> FastAPI:
    """Builds the console app."""
    console = console or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await console.aclose()

    app = create_platform_app(
        title="Vigie console",
        routers=[router],
        lifespan=lifespan,
        token_verifier=console.verifier,
        settings=console.settings,
        # Because each page needs only its own API: one service down must not take every page away, so
        # readiness does not depend on the services (a page says which one did not answer).
        readiness_checks={},
    )
    app.state.console = console
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(NotSignedInError)
    async def _sign_in(request: Request, _exc: NotSignedInError) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        return problem_page(request, None, Problem(403, "Form refused", str(exc)))

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        try:
            caller = await current_caller(request)
        except NotSignedInError:
            caller = None
        return problem_page(request, caller, exc.problem)

    return app


def app() -> FastAPI:
    """The app factory uvicorn calls (`--factory`), configuring logging first."""
    settings = ConsoleSettings()
    configure_logging(service="console", level=settings.log_level)
    return create_app(settings)
