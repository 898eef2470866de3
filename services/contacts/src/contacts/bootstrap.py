"""The composition root of contacts: settings in; runtime, units of work, rights desk and watchers out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from shared.runtime import Runtime
from shared.tracing import setup_tracing

from contacts import contracts
from contacts.adapters import orm
from contacts.adapters.peers import AUDIT_LOG, CAMPAIGN_GATE, CONSENT, AbstractPeers, Peers
from contacts.adapters.protection import PersonalDataVault
from contacts.service_layer import handlers
from contacts.service_layer.rights_desk import RightsDesk
from contacts.service_layer.unit_of_work import ContactsUnitOfWork
from contacts.settings import ContactsSettings

log = logging.getLogger(__name__)

#: The actor the periodic sweeper writes in its events.
SWEEPER_ACTOR = "contacts/retention-sweeper"


@dataclass
class Contacts:
    """Everything the entry points need: settings, runtime, vault, rights desk and a unit-of-work factory."""

    settings: ContactsSettings
    runtime: Runtime
    vault: PersonalDataVault
    #: Returns a new unit of work.
    uow: Callable[[], ContactsUnitOfWork]
    desk: RightsDesk
    clock: Callable[[], datetime] | None = None

    def now(self) -> datetime:
        """Returns the service's current time (the injected clock in tests)."""
        return self.clock() if self.clock is not None else datetime.now(UTC)

    async def sweep_retention(self, *, actor: str) -> handlers.SweepReport:
        """Runs one full retention sweep now: flags, then erases after the grace (each step an event)."""
        return await handlers.sweep_all_retention(
            actor=actor,
            now=self.now(),
            grace=timedelta(days=self.settings.retention_grace_days),
            new_uow=self.uow,
        )

    async def sweep_retention_forever(self) -> None:
        """Runs a retention sweep every `retention_sweep_interval_seconds` (0: never).

        A failed sweep is logged and retried at the next period.
        """
        interval = self.settings.retention_sweep_interval_seconds
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                report = await self.sweep_retention(actor=SWEEPER_ACTOR)
                log.info("retention sweep: %s", report.as_dict())
            except Exception:  # noqa: BLE001 - the next period retries; one bad sweep must not stop the loop.
                log.exception("retention sweep failed")

    async def watch_requests_forever(self) -> None:
        """Runs the rights desk's watcher every `requests_watch_interval_seconds` (0: never).

        A failed pass is logged and retried at the next period.
        """
        interval = self.settings.requests_watch_interval_seconds
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                report = await self.desk.watch_once()
                if report.overdue or report.confirmed or report.retried or report.forwarded:
                    log.info(
                        "requests watch",
                        extra={
                            "overdue": len(report.overdue),
                            "confirmed": len(report.confirmed),
                            "retried": len(report.retried),
                            "forwarded": len(report.forwarded),
                        },
                    )
            except Exception:  # noqa: BLE001 - the next period retries; a bad pass must not stop it.
                log.exception("requests watch failed")


def bootstrap(
    settings: ContactsSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    peers: AbstractPeers | None = None,
    peer_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Contacts:
    """Builds the service from its settings (read from the environment when not given).

    `peers` replaces the HTTP clients of consent, campaign-gate and audit-log (tests); `peer_transports`
    ({service name: transport}) keeps the clients but reaches the peers in-process.
    """
    settings = settings or ContactsSettings()
    keks, active = settings.kek_ring()
    vault = PersonalDataVault.from_keys(
        keks=keks, active_kek=active, blind_index_key=settings.blind_index_key.get_secret_value().encode()
    )
    topics = [contracts.CONTACTS_EVENTS]
    # Because the runtime creates its topics before consuming, and contacts may start before its peers;
    # a process that consumes nothing (an API pod) must not touch topics its Kafka user may not describe.
    if settings.run_consumers:
        topics += [t for t in contracts.CONSUMED_TOPICS if t not in topics]
    runtime = Runtime(settings=settings, outbox_table=orm.outbox, topics=topics)
    # Spans only when an exporter is configured (OTEL_* variables); else nothing is installed.
    setup_tracing(settings.service_name, engines=[runtime.engine])

    def new_uow() -> ContactsUnitOfWork:
        return ContactsUnitOfWork(
            vault=vault, session_factory=runtime.session_factory, after_commit=runtime.wake_relay, clock=clock
        )

    peers = peers or Peers(
        urls={
            CONSENT: settings.consent_url,
            CAMPAIGN_GATE: settings.campaign_gate_url,
            AUDIT_LOG: settings.audit_log_url,
        },
        settings=settings,
        timeout_seconds=settings.peer_timeout_seconds,
        transports=peer_transports,
    )
    desk = RightsDesk(new_uow=new_uow, peers=peers, clock=clock or (lambda: datetime.now(UTC)))
    return Contacts(settings=settings, runtime=runtime, vault=vault, uow=new_uow, desk=desk, clock=clock)
