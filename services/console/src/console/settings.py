"""Settings of the console (environment prefix `CONSOLE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Where the four services answer, how the session cookie is kept, and the identity provider's login."""

    model_config = SettingsConfigDict(
        env_prefix="CONSOLE_", extra="ignore", frozen=True, populate_by_name=True
    )
    service_name: ClassVar[str] = "console"

    #: Unused: the console has no database; every fact comes from the services' APIs.
    database_url: str = ""
    run_relay: bool = False
    run_consumers: bool = False
    contacts_url: str = "http://127.0.0.1:8001"
    consent_url: str = "http://127.0.0.1:8002"
    gate_url: str = "http://127.0.0.1:8003"
    audit_url: str = "http://127.0.0.1:8004"
    #: Seconds the console waits for a service (a full log verification may take longer: see verify).
    api_timeout_seconds: float = 30.0
    verify_timeout_seconds: float = 600.0
    #: Where "Sign in with your identity provider" sends the browser when the provider hands tokens out
    #: itself (a plain redirect); the OIDC settings below run the code flow instead. None: token only.
    idp_login_url: str | None = None
    #: OpenID Connect authorization-code flow with PKCE (production): the provider's endpoints, this
    #: console's client id and (confidential client) secret, and the callback URL registered with it
    #: (`https://<console>/login/callback`; derived from the request when unset). The access token the
    #: provider issues must be one the services accept (VIGIE_JWKS_URL, issuer, audience, scopes).
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_client_id: str = "vigie-console"
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = None
    oidc_scope: str = "openid"
    #: Sends the session cookie over HTTPS only; on by default outside the local and test profiles.
    cookie_secure: bool | None = None
    #: Lifetime of the session cookie; the token's own expiry still applies on every call.
    session_max_age_seconds: int = 8 * 3600
    #: Keys the CSRF tokens of the forms (HMAC of the session); refused as a placeholder in production.
    csrf_secret: SecretStr = SecretStr(f"{PLACEHOLDER_MARK}-console-csrf-key-0123456789")
    #: Contact ids one check form accepts (pasted or uploaded).
    max_check_ids: int = 100_000

    def oidc_enabled(self) -> bool:
        """Tells whether sign-in runs the OIDC code flow (both endpoints configured)."""
        return bool(self.oidc_authorization_endpoint and self.oidc_token_endpoint)

    def secure_cookie(self) -> bool:
        """Tells whether the session cookie carries `Secure`."""
        return self.cookie_secure if self.cookie_secure is not None else self.profile == "production"
