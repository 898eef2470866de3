"""Fixtures of the gate's integration tests that run consent beside it (register, parties, vendors)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from campaign_gate import contracts
from campaign_gate.main import create_app as create_gate
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent
from consent.settings import ConsentSettings
from shared.kafka import ensure_topics
from shared.testing.harness import common_settings, migrated_database, running

from tests.producers import Upstream

#: The blind-index key consent, the gate and the producers share in these tests.
BLIND_KEY = "test-blind-index-key-0123456789abcdef"


@pytest.fixture
async def both(kafka_bootstrap: str, postgres_admin_url: str) -> AsyncIterator[tuple[Any, Any]]:
    """Consent and the gate, each on its own database, sharing Kafka and the blind-index key."""
    await ensure_topics(kafka_bootstrap, [*contracts.CONSUMED_TOPICS, contracts.CAMPAIGNS_EVENTS])
    consent_settings = ConsentSettings(
        database_url=await migrated_database(postgres_admin_url, "consent"),
        consumer_group=f"consent-{uuid.uuid4().hex[:8]}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(kafka_bootstrap),
    )
    gate_settings = CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"gate-{uuid.uuid4().hex[:8]}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(kafka_bootstrap),
    )
    async with running(create_consent(consent_settings)) as consent:
        async with running(create_gate(gate_settings)) as gate:
            yield consent, gate


@pytest.fixture
async def upstream(kafka_bootstrap: str) -> AsyncIterator[Upstream]:
    async with Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as producers:
        yield producers
