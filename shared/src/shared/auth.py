"""Bearer-token authentication: JWTs verified with the local signing key, roles carried as scopes.

The embedded default signs and verifies with one HS256 key from settings. Production verifies
against an issuer's JWKS (the `TokenVerifier` protocol is the seam for it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Protocol

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("integrator", "marketer", "reviewer", "auditor", "admin")


class AuthenticationError(Exception):
    """No token, or a token that does not verify (signature, issuer, audience, expiry)."""


class PermissionDeniedError(Exception):
    """A verified caller whose roles do not allow the call."""

    def __init__(self, needed: Iterable[str]) -> None:
        self.needed = tuple(needed)
        super().__init__(f"requires one of the roles: {', '.join(self.needed)}")


@dataclass(frozen=True)
class Principal:
    """The verified caller: token subject, calling client and roles."""

    subject: str
    client: str
    roles: frozenset[str]

    @property
    def actor(self) -> str:
        """Returns how the caller is recorded in events: `client/subject`."""
        return f"{self.client}/{self.subject}"


class TokenVerifier(Protocol):
    """Turns a bearer token into a Principal or raises AuthenticationError."""

    def verify(self, token: str) -> Principal: ...


class LocalTokenVerifier:
    """Verifies HS256 tokens signed with the local key, checking issuer, audience and expiry."""

    def __init__(self, *, secret: str, issuer: str, audience: str, leeway_seconds: int = 30) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=self._issuer,
                                audience=self._audience, leeway=self._leeway,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        roles = frozenset(str(claims.get("scope", "")).split()) & frozenset(ROLES)
        return Principal(subject=str(claims["sub"]), client=str(claims.get("client_id", claims["sub"])), roles=roles)


def issue_local_token(*, secret: str, issuer: str, audience: str, roles: Iterable[str], subject: str,
                      client: str = "local-cli", ttl_seconds: int = 3600) -> str:
    """Signs a token with the local key (embedded default and tests)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject, "client_id": client, "scope": " ".join(roles),
              "iat": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


def authenticated(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """Returns the caller of this request or raises AuthenticationError."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """Returns a dependency that admits callers holding at least one of the roles."""

    def _check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.roles & set(roles):
            raise PermissionDeniedError(roles)
        return principal

    return _check


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]
