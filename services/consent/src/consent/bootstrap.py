"""The composition root of consent: settings in; runtime, unit-of-work factory and contract watch out.

Its Kafka consumer's record handler is in `entrypoints.consumer` (started by `main.create_app`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.blind_index import BlindIndexer
from shared.runtime import Runtime

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
    return ConsentService(settings=settings, runtime=runtime, indexer=indexer, clock=clock)
