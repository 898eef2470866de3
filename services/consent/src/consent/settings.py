"""Settings of the consent service (environment prefix `CONSENT_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class ConsentSettings(ServiceSettings):
    """Where consent keeps its data, the blind-index key and its consumer group."""

    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore", frozen=True, populate_by_name=True)
    service_name: ClassVar[str] = "consent"

    database_url: str = "sqlite+aiosqlite:///./.run/consent.db"
    blind_index_key: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-blind-index-key-0123456789"), validation_alias="VIGIE_BLIND_INDEX_KEY")
    consumer_group: str = "consent"
