"""Settings: one pydantic-settings class per service, validated at start-up, with one door to the environment."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Marks a secret that is only good for a laptop; such values are refused outside the local profiles.
PLACEHOLDER_MARK = "local-only-placeholder"
LOCAL_PROFILES = frozenset({"local", "test"})


class PlaceholderSecretError(ValueError):
    """A placeholder secret was configured outside the local profiles."""


class ServiceSettings(BaseSettings):
    """Settings every service shares; a service subclasses it and sets its own `env_prefix`.

    Service-scoped fields read `<PREFIX>_<FIELD>` (for instance `CONTACTS_DATABASE_URL`); the
    fields shared by the whole deployment read fixed names (`KAFKA_BOOTSTRAP_SERVERS`,
    `VIGIE_PROFILE`, `VIGIE_JWT_SECRET`, …).
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    service_name: ClassVar[str] = "service"

    profile: Literal["local", "test", "production"] = Field("local", validation_alias="VIGIE_PROFILE")
    database_url: str = "sqlite+aiosqlite:///./.run/service.db"
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_client_options: dict[str, str] = Field(default_factory=dict, validation_alias="KAFKA_CLIENT_OPTIONS")
    log_level: str = Field("INFO", validation_alias="VIGIE_LOG_LEVEL")
    jwt_secret: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-jwt-signing-key-0123456789abcdef"), validation_alias="VIGIE_JWT_SECRET"
    )
    jwt_issuer: str = Field("vigie-local", validation_alias="VIGIE_JWT_ISSUER")
    jwt_audience: str = Field("vigie", validation_alias="VIGIE_JWT_AUDIENCE")
    jwks_url: str | None = Field(None, validation_alias="VIGIE_JWKS_URL")
    run_relay: bool = True
    run_consumers: bool = True
    outbox_poll_seconds: float = 1.0

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.profile in LOCAL_PROFILES:
            return self
        for name, value in self:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else None
            if secret is not None and (PLACEHOLDER_MARK in secret or len(secret) < 32):
                raise PlaceholderSecretError(
                    f"{name} holds a placeholder or short secret; set a real one for profile {self.profile!r}"
                )
        return self
