"""The signed-in session: the bearer token in an HttpOnly, SameSite=Strict cookie, verified on every
request as the services verify it, and CSRF tokens for every form that posts."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets

from fastapi import Request, Response
from shared.auth import AuthenticationError, Principal

from console.service_layer.commands import Caller

SESSION_COOKIE = "vigie_session"
CSRF_COOKIE = "vigie_csrf"


class NotSignedInError(Exception):
    """No session, or a token that no longer verifies (expired, revoked key)."""


class CsrfError(Exception):
    """A form posted without the CSRF token of this browser's session."""


async def verify_token(request: Request, token: str) -> Principal:
    """Verifies a bearer token with the deployment's verifier (shared.auth), as each service does."""
    result = request.app.state.console.verifier.verify(token)
    return await result if inspect.isawaitable(result) else result


async def current_caller(request: Request) -> Caller:
    """Returns the signed-in person, or raises NotSignedInError."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedInError("no session")
    try:
        principal = await verify_token(request, token)
    except AuthenticationError as exc:
        raise NotSignedInError(str(exc)) from None
    request.state.principal = principal
    return Caller(token=token, subject=principal.subject, roles=principal.roles)


def start_session(request: Request, response: Response, token: str) -> None:
    """Keeps the token in the session cookie (never readable by scripts, never sent cross-site)."""
    settings = request.app.state.console.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookie(),
        path="/",
    )


def end_session(response: Response) -> None:
    """Forgets the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def _mac(request: Request, nonce: str) -> str:
    secret = request.app.state.console.settings.csrf_secret.get_secret_value().encode()
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> str:
    """Returns this browser's CSRF nonce (from its cookie, or a new one kept on the request to set)."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        request.state.new_csrf_nonce = nonce
    return str(nonce)


def csrf_token(request: Request) -> str:
    """Returns the token a form of this browser posts back (an HMAC of its nonce)."""
    return _mac(request, csrf_nonce(request))


def keep_csrf_cookie(request: Request, response: Response) -> None:
    """Sets the CSRF nonce cookie when this request made a new one."""
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        settings = request.app.state.console.settings
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=settings.secure_cookie(), path="/"
        )


def check_csrf(request: Request, posted: str | None) -> None:
    """Raises CsrfError unless the form's token matches this browser's nonce."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not posted or not hmac.compare_digest(_mac(request, nonce), posted):
        raise CsrfError("the form's CSRF token is missing or does not match this browser's session")
