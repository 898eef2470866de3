"""Settings of the campaign-gate service (environment prefix `CAMPAIGN_GATE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class CampaignGateSettings(ServiceSettings):
    """Where the gate keeps its projection, campaigns and decisions."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_GATE_", extra="ignore", frozen=True, populate_by_name=True)
    service_name: ClassVar[str] = "campaign-gate"

    database_url: str = "sqlite+aiosqlite:///./.run/campaign-gate.db"
