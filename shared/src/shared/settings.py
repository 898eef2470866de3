"""Settings: one pydantic-settings class per service, validated at start-up,
with one door to the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.db import DEFAULT_POOL_SIZE

#: Marks a secret that is only good for a laptop; such values are refused outside the local profiles.
PLACEHOLDER_MARK = "local-only-placeholder"
LOCAL_PROFILES = frozenset({"local", "test"})


class PlaceholderSecretError(ValueError):
    """A placeholder secret was configured outside the local profiles."""


class MountedFileSource(PydanticBaseSettingsSource):
    """Reads `<ENV_NAME>_FILE`: a setting whose value sits in a mounted file (Kubernetes secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix", "")
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            env_name = (
                field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name}"
            )
            path = os.environ.get(f"{env_name.upper()}_FILE")
            if path:
                values[field.validation_alias if isinstance(field.validation_alias, str) else name] = (
                    Path(path).read_text().strip()
                )
        return values


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
    #: PostgreSQL connections this process keeps at most (`<PREFIX>_DATABASE_POOL_SIZE`); no overflow.
    database_pool_size: int = Field(DEFAULT_POOL_SIZE, ge=1)
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_client_options: dict[str, str] = Field(
        default_factory=dict, validation_alias="KAFKA_CLIENT_OPTIONS"
    )
    #: PLAINTEXT (local broker on loopback only), SASL_SSL with SCRAM, or SSL with client certificates (mTLS).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_ssl_cafile: str | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: str | None = Field(None, validation_alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: str | None = Field(None, validation_alias="KAFKA_SSL_KEYFILE")
    log_level: str = Field("INFO", validation_alias="VIGIE_LOG_LEVEL")
    jwt_secret: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-jwt-signing-key-0123456789abcdef"), validation_alias="VIGIE_JWT_SECRET"
    )
    jwt_issuer: str = Field("vigie-local", validation_alias="VIGIE_JWT_ISSUER")
    jwt_audience: str = Field("vigie", validation_alias="VIGIE_JWT_AUDIENCE")
    jwks_url: str | None = Field(None, validation_alias="VIGIE_JWKS_URL")
    #: Local Ed25519 signing keys, `kid:base64-seed,…`; the first signs, all verify (rotation).
    jwt_signing_keys: SecretStr | None = Field(None, validation_alias="VIGIE_JWT_SIGNING_KEYS")
    #: Largest request body accepted, and the larger one for bulk routes (imports, checks, lists).
    max_body_bytes: int = Field(1_048_576, validation_alias="VIGIE_MAX_BODY_BYTES")
    max_bulk_body_bytes: int = Field(512 * 1_048_576, validation_alias="VIGIE_MAX_BULK_BODY_BYTES")
    #: Requests per second allowed per calling client (token), with a burst; 0 disables.
    rate_limit_per_second: float = Field(2000.0, validation_alias="VIGIE_RATE_LIMIT_PER_SECOND")
    rate_limit_burst: int = Field(4000, validation_alias="VIGIE_RATE_LIMIT_BURST")
    run_relay: bool = True
    run_consumers: bool = True
    outbox_poll_seconds: float = 1.0
    #: After a wake while busy (a pass in the last 50 ms) the relay waits this long so that one pass
    #: takes many commits: longer means fewer, larger passes (less CPU per event) and later events.
    outbox_coalesce_seconds: float = Field(0.004, ge=0, le=0.1)
    #: /readyz fails when the oldest unpublished outbox row is older than this.
    outbox_max_age_seconds: float = 60.0
    #: /readyz fails when this process's relay has published nothing for this long while rows wait.
    outbox_stall_seconds: float = 30.0
    #: /readyz fails when a consumer has been retrying a record (database or broker away) for this long.
    consumer_stuck_seconds: float = 30.0
    #: A record unacknowledged for this long marks the producer session broken (it is replaced).
    kafka_ack_timeout_seconds: float = Field(15.0, validation_alias="KAFKA_ACK_TIMEOUT_SECONDS")
    #: Longest pause between two attempts at a new producer session while the broker is away.
    kafka_reconnect_backoff_max_seconds: float = Field(
        5.0, validation_alias="KAFKA_RECONNECT_BACKOFF_MAX_SECONDS"
    )
    metrics_interval_seconds: float = 5.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Reads, in order of precedence: arguments, the environment, `*_FILE` mounted files."""
        return init_settings, env_settings, MountedFileSource(settings_cls), dotenv_settings

    def kafka_options(self) -> dict[str, Any]:
        """Returns the aiokafka connection options: security protocol, SASL and TLS, plus raw extras."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            import ssl

            context = ssl.create_default_context(cafile=self.kafka_ssl_cafile)
            if self.kafka_ssl_certfile:
                context.load_cert_chain(self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
            options["ssl_context"] = context
        if self.kafka_security_protocol.startswith("SASL"):
            options.update(
                sasl_mechanism=self.kafka_sasl_mechanism,
                sasl_plain_username=self.kafka_sasl_username,
                sasl_plain_password=self.kafka_sasl_password.get_secret_value()
                if self.kafka_sasl_password
                else None,
            )
        options.update(self.kafka_client_options)
        return options

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.profile in LOCAL_PROFILES:
            return self
        if self.kafka_security_protocol == "PLAINTEXT" and not all(
            host.split(":")[0] in ("127.0.0.1", "localhost", "::1")
            for host in self.kafka_bootstrap_servers.split(",")
        ):
            raise PlaceholderSecretError(
                "Kafka without TLS or SASL is only allowed on the loopback interface; "
                "set KAFKA_SECURITY_PROTOCOL to SASL_SSL or SSL"
            )
        for name, value in self:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else None
            if secret is not None and (PLACEHOLDER_MARK in secret or len(secret) < 32):
                raise PlaceholderSecretError(
                    f"{name} holds a placeholder or short secret; set a real one for profile {self.profile!r}"
                )
        return self
