"""The composition root of consent: settings in; runtime, unit-of-work factory and contract watch out.

Its Kafka consumer's record handler is in `entrypoints.consumer` (started by `main.create_app`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge
from shared.blind_index import BlindIndexer
from shared.runtime import Runtime
from shared.tracing import setup_tracing

from consent import contracts
from consent.adapters import orm
from consent.service_layer import commands, handlers
from consent.service_layer.unit_of_work import ConsentUnitOfWork
from consent.settings import ConsentSettings

log = logging.getLogger(__name__)


@dataclass
class ConsentService:
    """Everything the entry points need: settings, runtime, blind indexer and a unit-of-work factory."""

    settings: ConsentSettings
    runtime: Runtime
    indexer: BlindIndexer
    clock: Callable[[], datetime] | None = None

    def __post_init__(self) -> None:
        # Because an overdue breach must be visible where operators look (alerts on /metrics), not only
        # to whoever opens the register; readiness stays about dependencies (a missed legal deadline is
        # no reason to stop serving).
        self.breaches_overdue = Gauge(
            "consent_breaches_overdue",
            "Breaches past their 72 hours with neither a notification nor a justified no-risk finding, "
            "as of the last breach watch",
            registry=self.runtime.registry,
        )

    async def watch_breaches_once(self, actor: str) -> handlers.BreachWatchReport:
        """Runs one pass of the breach watch and refreshes the overdue gauge."""
        report = await handlers.watch_breaches(commands.WatchBreaches(actor=actor), self.uow())
        self.breaches_overdue.set(len(report.overdue))
        return report

    async def watch_breaches_forever(self) -> None:
        """Runs the breach watch every `breach_watch_interval_seconds`; a failed pass is logged, retried."""
        while True:
            try:
                report = await self.watch_breaches_once("consent/breach-watch")
                if report.newly_overdue:
                    log.warning("breaches overdue", extra={"newly_overdue": len(report.newly_overdue)})
            except Exception:  # noqa: BLE001 - the watch must outlive a database hiccup.
                log.exception("breach watch failed; retrying at the next interval")
            await asyncio.sleep(self.settings.breach_watch_interval_seconds)

    def now(self) -> datetime:
        """Returns the service's time (the injected clock in tests)."""
        return self.clock() if self.clock is not None else datetime.now(UTC)

    @property
    def broker_max_age(self) -> timedelta:
        """Returns how old a broker verification may be before the party reports it stale."""
        return timedelta(days=self.settings.broker_verification_max_age_days)

    async def watch_contracts_forever(self) -> None:
        """Runs the expiry watch every `contract_watch_interval_seconds`; a failed pass is logged and
        retried."""
        interval = self.settings.contract_watch_interval_seconds
        while True:
            try:
                report = await handlers.watch_contract_expiry(
                    commands.WatchContractExpiry(
                        actor="consent/contract-watch", window_days=self.settings.contract_expiry_window_days
                    ),
                    self.uow(),
                )
                if report.expiring or report.expired:
                    log.info(
                        "contract expiry watch",
                        extra={"expiring": len(report.expiring), "expired": len(report.expired)},
                    )
            except Exception:  # noqa: BLE001 - the watch must outlive a database hiccup.
                log.exception("contract expiry watch failed; retrying at the next interval")
            await asyncio.sleep(interval)

    def uow(self) -> ConsentUnitOfWork:
        """Returns a new unit of work."""
        return ConsentUnitOfWork(
            indexer=self.indexer,
            session_factory=self.runtime.session_factory,
            after_commit=self.runtime.wake_relay,
            clock=self.clock,
        )


def bootstrap(
    settings: ConsentSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> ConsentService:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or ConsentSettings()
    indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
    runtime = Runtime(
        settings=settings,
        outbox_table=orm.outbox,
        topics=[contracts.CONSENT_EVENTS, *contracts.CONSUMED_TOPICS],
    )
    # Spans only when an exporter is configured (OTEL_* variables); else nothing is installed.
    setup_tracing(settings.service_name, engines=[runtime.engine])
    return ConsentService(settings=settings, runtime=runtime, indexer=indexer, clock=clock)
