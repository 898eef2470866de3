"""The composition root of campaign-gate."""

from __future__ import annotations

from dataclasses import dataclass

from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.settings import CampaignGateSettings
from shared.runtime import Runtime


@dataclass
class CampaignGate:
    """Everything the entry points need."""

    settings: CampaignGateSettings
    runtime: Runtime


def bootstrap(settings: CampaignGateSettings | None = None) -> CampaignGate:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or CampaignGateSettings()
    runtime = Runtime(settings=settings, outbox_table=orm.outbox,
                      topics=[contracts.CAMPAIGNS_EVENTS, *contracts.CONSUMED_TOPICS])
    return CampaignGate(settings=settings, runtime=runtime)
