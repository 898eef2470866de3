"""The composition root of campaign-gate: settings in; runtime, projection consumer, freshness and units of work out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import Counter
from shared.blind_index import BlindIndexer
from shared.events import EventDecodeError, EventEnvelope
from shared.kafka import PoisonMessageError
from shared.runtime import ConsumerSpec, Runtime

from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.adapters.freshness import Freshness, KafkaFreshness
from campaign_gate.adapters.projection import ProjectionRepository
from campaign_gate.service_layer.projection import ProjectEvent, project_event
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from campaign_gate.settings import CampaignGateSettings

log = logging.getLogger(__name__)


@dataclass
class CampaignGate:
    """Everything the entry points need."""

    settings: CampaignGateSettings
    runtime: Runtime
    indexer: BlindIndexer
    freshness: KafkaFreshness
    clock: Callable[[], datetime] | None = None

    def __post_init__(self) -> None:
        self.decisions = Counter("gate_decisions_total", "Recipient decisions by decision and cited rule",
                                 ["decision", "rule_id"], registry=self.runtime.registry)

    def uow(self) -> GateUnitOfWork:
        """Returns a new unit of work."""
        return GateUnitOfWork(session_factory=self.runtime.session_factory, after_commit=self.runtime.wake_relay,
                              clock=self.clock,
                              broker_verification_max_age_days=self.settings.broker_verification_max_age_days)

    def count_decisions(self, receipts: Iterable[dict[str, Any]]) -> None:
        """Counts decisions by decision and by each rule cited (the `gate_decisions_total` series)."""
        for item in receipts:
            for reason in item.get("reasons") or [{"rule": "none"}]:
                self.decisions.labels(item["decision"], reason["rule"]).inc()

    async def consumed_offsets(self) -> dict[tuple[str, int], int]:
        """Returns the projection's recorded offsets."""
        async with self.runtime.session_factory() as session:
            return await ProjectionRepository(session).offsets()

    async def handle_record(self, record: ConsumerRecord) -> None:
        """Projects one contacts or consent record (a duplicate is a no-op)."""
        try:
            envelope = EventEnvelope.decode(record.value or b"")
        except EventDecodeError as exc:
            raise PoisonMessageError(f"undecodable event: {exc.__class__.__name__}") from exc
        try:
            await project_event(ProjectEvent(envelope, record.topic, record.partition, record.offset), self.uow())
        except (KeyError, ValueError, TypeError) as exc:
            raise PoisonMessageError(f"unusable {envelope.type}: {exc.__class__.__name__}") from exc

    async def projection_freshness(self) -> Freshness:
        """Returns whether checks must fail closed (GATE_STALE)."""
        return await self.freshness.check()

    def consumers(self) -> list[ConsumerSpec]:
        """Returns the projection's consumer of `contacts.events` and `consent.events`."""
        return [ConsumerSpec(topics=list(contracts.CONSUMED_TOPICS), group_id=self.settings.consumer_group,
                             handle=self.handle_record)]


def bootstrap(settings: CampaignGateSettings | None = None, *,
              clock: Callable[[], datetime] | None = None) -> CampaignGate:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or CampaignGateSettings()
    runtime = Runtime(settings=settings, outbox_table=orm.outbox,
                      topics=[contracts.CAMPAIGNS_EVENTS, *contracts.CONSUMED_TOPICS])
    indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
    service = CampaignGate(settings=settings, runtime=runtime, indexer=indexer, freshness=None,  # type: ignore[arg-type]
                           clock=clock)
    service.freshness = KafkaFreshness(bootstrap_servers=settings.kafka_bootstrap_servers,
                                       topics=contracts.CONSUMED_TOPICS,
                                       bound_seconds=settings.max_projection_lag_seconds,
                                       catch_up_seconds=settings.projection_catch_up_seconds,
                                       consumed=service.consumed_offsets, options=settings.kafka_options())
    return service
