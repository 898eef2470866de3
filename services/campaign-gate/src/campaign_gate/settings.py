"""Settings of the campaign-gate service (environment prefix `CAMPAIGN_GATE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class CampaignGateSettings(ServiceSettings):
    """Where the gate keeps its projection, campaigns and decisions, and how stale it may get."""

    model_config = SettingsConfigDict(
        env_prefix="CAMPAIGN_GATE_", extra="ignore", frozen=True, populate_by_name=True
    )
    service_name: ClassVar[str] = "campaign-gate"

    database_url: str = "sqlite+aiosqlite:///./.run/campaign-gate.db"
    blind_index_key: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-blind-index-key-0123456789"), validation_alias="VIGIE_BLIND_INDEX_KEY"
    )
    #: The projection's consumer group; a rebuild empties the projection and consumes with a new group.
    consumer_group: str = "campaign-gate"
    #: Checks answer GATE_STALE whenever a record already on the topics when they began is still
    #: unapplied after `projection_catch_up_seconds` (no late allow); past this age, by its timestamp in
    #: Kafka, the reason says the projection is stuck (alert on it) rather than catching up.
    max_projection_lag_seconds: float = 5.0
    #: A data broker's consent records count as verified (UNI-05) for this many days after a check.
    broker_verification_max_age_days: int = 365
    #: How long a check waits for the projection to apply what was already published when it began.
    projection_catch_up_seconds: float = 0.5
    #: How long a submission waits for the projection to apply what was published before it (a register
    #: entry, a processor, a purpose the review reads); past it the submission answers 503 with
    #: Retry-After rather than review against facts the gate has not applied yet.
    review_catch_up_seconds: float = 5.0
