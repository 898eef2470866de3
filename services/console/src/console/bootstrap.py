"""The composition root of the console: settings, the token verifier, the services' HTTP clients and the
checks it streams for marketers."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import CompositeTokenVerifier, build_token_verifier
from shared.tracing import setup_tracing

from console.adapters.apis import AbstractApis, HttpApis
from console.adapters.oidc import OidcTokenClient
from console.service_layer.checks import CheckJobs
from console.settings import ConsoleSettings


@dataclass
class Console:
    """Everything the entry points need."""

    settings: ConsoleSettings
    apis: AbstractApis
    jobs: CheckJobs
    verifier: CompositeTokenVerifier
    #: The identity provider's token endpoint, when sign-in runs the OIDC code flow.
    oidc: OidcTokenClient | None = None

    async def aclose(self) -> None:
        """Stops the checks still streaming and closes the connection pools."""
        await self.jobs.aclose()
        await self.apis.aclose()


def bootstrap(settings: ConsoleSettings | None = None) -> Console:
    """Builds the console from its settings (read from the environment when not given)."""
    settings = settings or ConsoleSettings()
    # Spans when the environment configures an exporter (OTEL_*): pages, and the calls to the APIs.
    setup_tracing(settings.service_name)
    apis = HttpApis(
        {
            "contacts": settings.contacts_url,
            "consent": settings.consent_url,
            "campaign-gate": settings.gate_url,
            "audit-log": settings.audit_url,
        },
        timeout=settings.api_timeout_seconds,
        long_timeout=settings.verify_timeout_seconds,
    )
    return Console(
        settings=settings,
        apis=apis,
        jobs=CheckJobs(apis),
        verifier=build_token_verifier(settings),
        oidc=oidc_token_client(settings),
    )


def oidc_token_client(settings: ConsoleSettings) -> OidcTokenClient | None:
    """Returns the token-endpoint client of the OIDC code flow, or None when it is not configured."""
    if not (settings.oidc_enabled() and settings.oidc_token_endpoint):
        return None
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return OidcTokenClient(
        settings.oidc_token_endpoint,
        client_id=settings.oidc_client_id,
        client_secret=secret,
        timeout=settings.api_timeout_seconds,
    )
