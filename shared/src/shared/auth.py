"""Bearer-token authentication: JWTs verified locally or against an issuer's JWKS, roles carried as scopes.

Three kinds of keys, picked by the token's `alg` and `kid`:
- the embedded default's HS256 secret (`VIGIE_JWT_SECRET`), for a laptop and tests;
- local Ed25519 signing keys (`VIGIE_JWT_SIGNING_KEYS`, `kid:base64-seed,…`, the first signs), whose
  public halves every service serves at `/.well-known/jwks.json`; rotating means putting a new key
  first and keeping the old one listed until the tokens it signed have expired;
- an external issuer's JWKS (`VIGIE_JWKS_URL`), cached, refetched when it expires or when a token
  names a key id it does not know yet (the issuer rotated), at most once every few seconds.
Every path checks signature, issuer, audience, expiry (with a small clock-skew leeway) and roles.

`CompositeTokenVerifier` keeps the claims of tokens it verified in a bounded cache keyed by the exact
token string (docs/security.md, "Verified-token cache"): a hit re-checks expiry and not-before
against the clock, is dropped when the key set that verified it changed, and lasts at most
`cache_seconds`; a token that failed is never cached.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from jwt.types import Options

    from shared.settings import ServiceSettings

ROLES = ("integrator", "marketer", "reviewer", "auditor", "admin")
ASYMMETRIC_ALGORITHMS = ["EdDSA", "RS256", "ES256", "PS256"]


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
    """Turns a bearer token into a Principal or raises AuthenticationError (sync or async)."""

    def verify(self, token: str) -> Principal | Awaitable[Principal]: ...


def _principal(claims: dict[str, Any]) -> Principal:
    roles = frozenset(str(claims.get("scope", "")).split()) & frozenset(ROLES)
    return Principal(
        subject=str(claims["sub"]), client=str(claims.get("client_id", claims["sub"])), roles=roles
    )


_REQUIRED: Options = {"require": ["exp", "iat", "sub", "iss", "aud"]}


class LocalTokenVerifier:
    """Verifies HS256 tokens signed with the local secret, checking issuer, audience and expiry."""

    def __init__(self, *, secret: str, issuer: str, audience: str, leeway_seconds: int = 30) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    #: The key set never changes over the verifier's life (a new secret means a new process).
    generation = 0

    @property
    def leeway(self) -> int:
        """Returns the clock-skew leeway, in seconds, allowed on expiry and not-before."""
        return self._leeway

    def claims(self, token: str) -> dict[str, Any]:
        """Returns the verified claims of a valid token."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=_REQUIRED,
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        return claims

    def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token."""
        return _principal(self.claims(token))


class KeySetTokenVerifier:
    """Verifies asymmetric tokens against a JWK set, by key id."""

    def __init__(self, *, jwks: dict[str, Any], issuer: str, audience: str, leeway_seconds: int = 30) -> None:
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._jwks: dict[str, Any] | None = None
        #: Bumped whenever the key set changes: claims verified under an older one are not trusted.
        self.generation = 0
        self.replace_keys(jwks)

    @property
    def leeway(self) -> int:
        """Returns the clock-skew leeway, in seconds, allowed on expiry and not-before."""
        return self._leeway

    def replace_keys(self, jwks: dict[str, Any]) -> None:
        """Swaps the key set (after a JWKS refetch); a different set starts a new generation."""
        keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys} if jwks.get("keys") else {}
        if jwks != self._jwks:
            self.generation += 1
        self._keys, self._jwks = keys, jwks

    def knows(self, kid: str | None) -> bool:
        """Tells whether a key id is in the set."""
        return kid in self._keys

    def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token signed by a key of the set."""
        return _principal(self.claims(token))

    def claims(self, token: str) -> dict[str, Any]:
        """Returns the verified claims of a valid token signed by a key of the set."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(header.get("kid"))
            if key is None:
                raise AuthenticationError("the token's key id is not in the key set")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ASYMMETRIC_ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=_REQUIRED,
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        return claims


JwksFetcher = Callable[[str], Awaitable[dict[str, Any]]]


async def fetch_jwks(url: str) -> dict[str, Any]:
    """Fetches a JWK set over HTTP(S)."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
        response.raise_for_status()
        jwks: dict[str, Any] = response.json()
        return jwks


class JwksTokenVerifier:
    """Verifies tokens against an issuer's JWKS, cached for `ttl_seconds` and refetched on an unknown kid."""

    def __init__(
        self,
        *,
        url: str,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        ttl_seconds: float = 300,
        min_refetch_seconds: float = 5,
        fetcher: JwksFetcher = fetch_jwks,
    ) -> None:
        self._url = url
        self._fetcher = fetcher
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._keys = KeySetTokenVerifier(
            jwks={}, issuer=issuer, audience=audience, leeway_seconds=leeway_seconds
        )

    @property
    def generation(self) -> int:
        """Returns the generation of the key set in use (it changes when a refetch brings other keys)."""
        return self._keys.generation

    @property
    def leeway(self) -> int:
        """Returns the clock-skew leeway, in seconds, allowed on expiry and not-before."""
        return self._keys.leeway

    async def refresh(self) -> None:
        """Refetches the key set if it is older than `ttl_seconds` (what a cached verification calls)."""
        await self._refresh(force=False)

    async def _refresh(self, *, force: bool) -> None:
        if not force and time.monotonic() - self._fetched_at < self._ttl:
            return  # Because a fresh key set, the common case, needs no lock.
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if (force and age < self._min_refetch) or (not force and age < self._ttl):
                return
            try:
                self._keys.replace_keys(await self._fetcher(self._url))
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                if self._fetched_at == float("-inf"):
                    raise AuthenticationError(
                        f"the issuer's key set is unavailable: {type(exc).__name__}"
                    ) from exc
                return  # Because a stale key set beats refusing everyone while the issuer blips.
            self._fetched_at = time.monotonic()

    async def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token, refreshing the key set when needed."""
        return _principal(await self.claims(token))

    async def claims(self, token: str) -> dict[str, Any]:
        """Returns the verified claims of a valid token, refreshing the key set when needed."""
        await self._refresh(force=False)
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        if not self._keys.knows(kid):
            await self._refresh(force=True)
        return self._keys.claims(token)


@dataclass(frozen=True)
class LocalSigningKeys:
    """Ed25519 signing keys by key id; the first signs new tokens, all of them verify."""

    keys: tuple[tuple[str, Ed25519PrivateKey], ...]

    @classmethod
    def parse(cls, spec: str) -> LocalSigningKeys:
        """Reads `kid:base64-32-byte-seed,kid:…`."""
        keys = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, seed = item.split(":", 1)
            keys.append((kid, Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))))
        if not keys:
            raise ValueError("no signing key given")
        return cls(tuple(keys))

    def jwks(self) -> dict[str, Any]:
        """Returns the public JWK set."""
        keys = []
        for kid, private in self.keys:
            jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any]) -> str:
        """Signs claims with the active (first) key."""
        kid, private = self.keys[0]
        return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})


class _ClaimsVerifier(Protocol):
    """A verifier whose claims can be cached: it tells its leeway and its key set's generation."""

    @property
    def generation(self) -> int: ...

    @property
    def leeway(self) -> int: ...

    def claims(self, token: str) -> dict[str, Any] | Awaitable[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class _Verified:
    """A cached verification: the principal, the claims' time bounds and what verified it."""

    principal: Principal
    expires: float
    not_before: float  # the later of nbf and iat: a token is refused before either
    verifier: Any
    generation: int
    until: float  # monotonic time after which the token is verified again from scratch


def _time_claim(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    return float("-inf") if value is None else float(int(value))


class CompositeTokenVerifier:
    """Routes a token to the verifier of its algorithm family: HS256 locally, others by key set.

    Verified tokens are cached (at most `cache_size`, least recently used dropped first, each for at
    most `cache_seconds`), keyed by the exact token string: a hit skips the signature check and the
    token's parsing, but its expiry and not-before are checked against `clock` on every hit with the
    same leeway as a full verification, and it is verified again from scratch once the key set that
    verified it has changed (a JWKS refetch without its key, for instance). Failures are not cached.
    """

    def __init__(
        self,
        *,
        symmetric: LocalTokenVerifier | None,
        asymmetric: list[TokenVerifier],
        public_jwks: dict[str, Any] | None = None,
        cache_size: int = 4096,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._symmetric = symmetric
        self._asymmetric = asymmetric
        self.public_jwks = public_jwks
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._clock = clock

    async def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token or raises AuthenticationError."""
        hit = self._cache.get(token)
        if hit is not None:
            principal = await self._still_valid(token, hit)
            if principal is not None:
                return principal
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        if header.get("alg") == "HS256":
            if self._symmetric is None:
                raise AuthenticationError("HS256 tokens are not accepted here")
            return await self._verified(token, self._symmetric)
        last: AuthenticationError | None = None
        for verifier in self._asymmetric:
            try:
                return await self._verified(token, verifier)
            except AuthenticationError as exc:
                last = exc
        raise last or AuthenticationError(f"no verifier for algorithm {header.get('alg')!r}")

    async def _still_valid(self, token: str, hit: _Verified) -> Principal | None:
        """Returns the cached principal if the entry still holds; drops it and returns None (verify it
        again) when its key set changed or it is older than `cache_seconds`; raises if the clock says
        the token has expired or is not yet valid."""
        if isinstance(hit.verifier, JwksTokenVerifier):
            # Because the key set's periodic refetch (which may retire the key) must not wait for a miss.
            await hit.verifier.refresh()
        if hit.generation != hit.verifier.generation or time.monotonic() >= hit.until:
            self._cache.pop(token, None)
            return None
        now = self._clock()
        # The same bounds PyJWT applies, with the same leeway.
        leeway = hit.verifier.leeway
        if hit.expires <= now - leeway:
            self._cache.pop(token, None)
            raise AuthenticationError("Signature has expired")
        if hit.not_before > now + leeway:
            self._cache.pop(token, None)
            raise AuthenticationError("The token is not yet valid")
        if token in self._cache:  # Because another request may have dropped it during the refresh.
            self._cache.move_to_end(token)
        return hit.principal

    async def _verified(self, token: str, verifier: TokenVerifier) -> Principal:
        """Verifies a token in full with one verifier and caches the result when it can."""
        claims_of = getattr(verifier, "claims", None)
        if claims_of is None or self._cache_size <= 0:
            result = verifier.verify(token)
            return await result if inspect.isawaitable(result) else result
        cacheable: _ClaimsVerifier = verifier  # type: ignore[assignment]
        generation = cacheable.generation  # before any refetch the verification itself may cause
        result_claims = claims_of(token)
        claims: dict[str, Any] = await result_claims if inspect.isawaitable(result_claims) else result_claims
        principal = _principal(claims)
        if cacheable.generation == generation:
            self._cache[token] = _Verified(
                principal=principal,
                expires=_time_claim(claims, "exp"),
                not_before=max(_time_claim(claims, "nbf"), _time_claim(claims, "iat")),
                verifier=verifier,
                generation=generation,
                until=time.monotonic() + self._cache_seconds,
            )
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal


def build_token_verifier(settings: ServiceSettings) -> CompositeTokenVerifier:
    """Builds the verifier a service's settings ask for (local secret, local keys, issuer JWKS)."""
    issuer, audience = settings.jwt_issuer, settings.jwt_audience
    symmetric = None
    if settings.profile in ("local", "test") or not settings.jwt_signing_keys and not settings.jwks_url:
        symmetric = LocalTokenVerifier(
            secret=settings.jwt_secret.get_secret_value(), issuer=issuer, audience=audience
        )
    asymmetric: list[TokenVerifier] = []
    public = None
    if settings.jwt_signing_keys:
        local = LocalSigningKeys.parse(settings.jwt_signing_keys.get_secret_value())
        public = local.jwks()
        asymmetric.append(KeySetTokenVerifier(jwks=public, issuer=issuer, audience=audience))
    if settings.jwks_url:
        asymmetric.append(JwksTokenVerifier(url=settings.jwks_url, issuer=issuer, audience=audience))
    return CompositeTokenVerifier(symmetric=symmetric, asymmetric=asymmetric, public_jwks=public)


def token_claims(
    *, issuer: str, audience: str, roles: Iterable[str], subject: str, client: str, ttl_seconds: int
) -> dict[str, Any]:
    """Returns the claims of a Vigie token."""
    roles = list(roles)
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client,
        "scope": " ".join(roles),
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }


def issue_local_token(
    *,
    secret: str,
    issuer: str,
    audience: str,
    roles: Iterable[str],
    subject: str,
    client: str = "local-cli",
    ttl_seconds: int = 3600,
    signing_keys: LocalSigningKeys | None = None,
) -> str:
    """Signs a token with the local Ed25519 keys when given, else the local HS256 secret."""
    claims = token_claims(
        issuer=issuer, audience=audience, roles=roles, subject=subject, client=client, ttl_seconds=ttl_seconds
    )
    return signing_keys.sign(claims) if signing_keys else jwt.encode(claims, secret, algorithm="HS256")


def service_token(settings: Any, *, roles: Iterable[str], client: str, ttl_seconds: int = 300) -> str:
    """Mints a short-lived token for one service calling another, with the deployment's own keys.

    Signs with the local Ed25519 keys when configured (production without an external issuer),
    else with the local HS256 secret (laptop, tests).
    """
    keys = (
        LocalSigningKeys.parse(settings.jwt_signing_keys.get_secret_value())
        if settings.jwt_signing_keys
        else None
    )
    return issue_local_token(
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        roles=roles,
        subject=client,
        client=client,
        ttl_seconds=ttl_seconds,
        signing_keys=keys,
    )


_bearer = HTTPBearer(auto_error=False)


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Returns the caller of this request or raises AuthenticationError."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    result = verifier.verify(credentials.credentials)
    principal = await result if inspect.isawaitable(result) else result
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Returns a dependency that admits callers holding at least one of the roles."""

    # Async on purpose: FastAPI runs plain-function dependencies in a thread pool, on every request.
    async def _check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.roles & set(roles):
            raise PermissionDeniedError(roles)
        return principal

    # mypy cannot type an attribute set on a function; the authorization-matrix test reads it.
    _check.vigie_roles = frozenset(roles)  # type: ignore[attr-defined]
    return _check


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]
