"""The composition root of campaign-gate: settings in; runtime, units of work, freshness and metrics out."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from prometheus_client import Counter
from shared.blind_index import BlindIndexer
from shared.runtime import Runtime
from shared.tracing import setup_tracing
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.adapters.contact_view import ContactColumnsView
from campaign_gate.adapters.freshness import Freshness, KafkaFreshness
from campaign_gate.adapters.projection import ProjectionRepository
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from campaign_gate.settings import CampaignGateSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CampaignGate:
    """Everything the entry points need, built once by `bootstrap`."""

    settings: CampaignGateSettings
    runtime: Runtime
    indexer: BlindIndexer
    #: Returns a new unit of work.
    uow: Callable[[], GateUnitOfWork]
    freshness: KafkaFreshness
    #: The next offset to consume per (topic, partition), as the projection recorded it.
    consumed_offsets: Callable[[], Awaitable[dict[tuple[str, int], int]]]
    #: `gate_decisions_total`: recipient decisions by decision and cited rule.
    decisions: Counter
    #: The in-memory columnar view of gate_contacts checks read (PostgreSQL; None elsewhere): loaded at
    #: the first check and refreshed before each check batch.
    contact_view: ContactColumnsView | None = None

    def count_decisions(self, receipts: Iterable[dict[str, Any]]) -> None:
        """Counts decisions by decision and by each rule cited (the `gate_decisions_total` series)."""
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for item in receipts:
            for reason in item.get("reasons") or [{"rule": "none"}]:
                counts[item["decision"], reason["rule"]] += 1
        for (decision, rule), n in counts.items():
            self.decisions.labels(decision, rule).inc(n)

    async def warm_contact_view(self) -> None:
        """Loads the in-memory view checks read (PostgreSQL), so the first check after a start does not
        wait for it; a failure is logged and left to the first check's refresh."""
        if self.contact_view is None:
            return
        try:
            await self.contact_view.refresh()
        except Exception:
            logger.exception("the check view did not load at start; the first check loads it")
        else:
            logger.info("check view loaded", extra=dict(self.contact_view.last_refresh))

    async def projection_freshness(
        self, *, catch_up_seconds: float | None = None, recipients: Collection[str] | None = None
    ) -> Freshness:
        """Returns whether checks must fail closed (GATE_STALE), after waiting up to `catch_up_seconds`
        (the settings' `projection_catch_up_seconds` unless given) for the projection to catch up.

        Without `recipients`, any unapplied record makes it stale. With them (a check's recipients, or
        none for a submission's review), only an unapplied campaign fact does; the contacts and blind
        indexes of unapplied person facts come back for the check to decide those recipients stale."""
        if recipients is None:
            return await self.freshness.check(catch_up_seconds=catch_up_seconds)
        return await self.freshness.check_for(recipients, catch_up_seconds=catch_up_seconds)


def _offsets_reader(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[dict[tuple[str, int], int]]]:
    async def consumed_offsets() -> dict[tuple[str, int], int]:
        async with sessions() as session:
            return await ProjectionRepository(session).offsets()

    return consumed_offsets


def bootstrap(
    settings: CampaignGateSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> CampaignGate:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or CampaignGateSettings()
    runtime = Runtime(
        settings=settings,
        outbox_table=orm.outbox,
        topics=[contracts.CAMPAIGNS_EVENTS, *contracts.CONSUMED_TOPICS],
    )
    # Spans only when an exporter is configured (OTEL_* variables); else nothing is installed.
    setup_tracing(settings.service_name, engines=[runtime.engine])
    consumed_offsets = _offsets_reader(runtime.session_factory)
    # Because the columnar read of the projection is PostgreSQL's only: any other database reads facts.
    view = ContactColumnsView(runtime.engine) if runtime.engine.dialect.name == "postgresql" else None
    return CampaignGate(
        settings=settings,
        runtime=runtime,
        indexer=BlindIndexer(settings.blind_index_key.get_secret_value().encode()),
        uow=partial(
            GateUnitOfWork,
            session_factory=runtime.session_factory,
            after_commit=runtime.wake_relay,
            clock=clock,
            broker_verification_max_age_days=settings.broker_verification_max_age_days,
            contact_view=view,
        ),
        freshness=KafkaFreshness(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=contracts.CONSUMED_TOPICS,
            bound_seconds=settings.max_projection_lag_seconds,
            catch_up_seconds=settings.projection_catch_up_seconds,
            consumed=consumed_offsets,
            options=settings.kafka_options(),
        ),
        consumed_offsets=consumed_offsets,
        decisions=Counter(
            "gate_decisions_total",
            "Recipient decisions by decision and cited rule",
            ["decision", "rule_id"],
            registry=runtime.registry,
        ),
        contact_view=view,
    )
