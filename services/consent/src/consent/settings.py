"""Settings of the consent service (environment prefix `CONSENT_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class ConsentSettings(ServiceSettings):
    """Where consent keeps its data, the blind-index key, its consumer group and the contract watch."""

    model_config = SettingsConfigDict(
        env_prefix="CONSENT_", extra="ignore", frozen=True, populate_by_name=True
    )
    service_name: ClassVar[str] = "consent"

    database_url: str = "sqlite+aiosqlite:///./.run/consent.db"
    blind_index_key: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-blind-index-key-0123456789"), validation_alias="VIGIE_BLIND_INDEX_KEY"
    )
    consumer_group: str = "consent"
    #: A contract expiring within this many days is listed and raises `contract_expiring` (issue 10).
    contract_expiry_window_days: int = Field(30, ge=1, le=3650)
    #: How often the in-process expiry watch runs; 0 turns it off (run it through the admin route).
    contract_watch_interval_seconds: float = Field(3600.0, ge=0)
    #: A broker verification older than this is reported stale on the party (UNI-05; the gate has its own).
    broker_verification_max_age_days: int = Field(365, ge=1, le=3650)
    #: How often the in-process breach watch runs (raises `breach_overdue` once per breach past its 72
    #: hours and refreshes the `consent_breaches_overdue` gauge); 0 turns it off.
    breach_watch_interval_seconds: float = Field(300.0, ge=0)
