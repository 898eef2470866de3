"""The composition root of consent: settings in, wired unit-of-work factory, runtime and consumer out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from consent import contracts
from consent.adapters import orm
from consent.service_layer import commands, handlers
from consent.service_layer.unit_of_work import ConsentUnitOfWork
from consent.settings import ConsentSettings
from shared.blind_index import BlindIndexer
from shared.events import EventDecodeError, EventEnvelope
from shared.kafka import PoisonMessageError
from shared.runtime import ConsumerSpec, Runtime

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

    async def watch_contracts_once(self) -> handlers.ExpiryWatchReport:
        """Runs one pass of the contract expiry watch."""
        return await handlers.watch_contract_expiry(commands.WatchContractExpiry(
            actor="consent/contract-watch", window_days=self.settings.contract_expiry_window_days), self.uow())

    async def watch_contracts_forever(self) -> None:
        """Runs the expiry watch every `contract_watch_interval_seconds`; a failed pass is logged and retried."""
        interval = self.settings.contract_watch_interval_seconds
        while True:
            try:
                report = await self.watch_contracts_once()
                if report.expiring or report.expired:
                    log.info("contract expiry watch", extra={"expiring": len(report.expiring),
                                                             "expired": len(report.expired)})
            except Exception:  # noqa: BLE001 - the watch must outlive a database hiccup.
                log.exception("contract expiry watch failed; retrying at the next interval")
            await asyncio.sleep(interval)

    def uow(self) -> ConsentUnitOfWork:
        """Returns a new unit of work."""
        return ConsentUnitOfWork(indexer=self.indexer, session_factory=self.runtime.session_factory,
                                 after_commit=self.runtime.wake_relay, clock=self.clock)

    async def handle_contacts_event(self, record: ConsumerRecord) -> None:
        """Keeps a contact's blind indexes for its objections and applies its erasure; other events are ignored."""
        try:
            envelope = EventEnvelope.decode(record.value or b"")
        except EventDecodeError as exc:
            raise PoisonMessageError(f"undecodable event: {exc.__class__.__name__}") from exc
        if envelope.type in (contracts.CONTACT_CREATED, contracts.CONTACT_UPDATED):
            indexes = _blind_indexes_of(envelope)
            if indexes and envelope.subject:
                await handlers.record_contact_indexes(commands.RecordContactIndexes(
                    actor=envelope.actor, contact_id=envelope.subject, blind_indexes=indexes), self.uow())
            return
        if envelope.type != contracts.CONTACT_ERASED:
            return
        plan = await handlers.erase_contact_data(commands.EraseContactData(
            actor=envelope.actor, contact_id=envelope.subject, event_id=envelope.id, topic=record.topic,
            blind_indexes=_erased_blind_indexes(envelope)), self.uow())
        if plan is not None:
            log.info("contact consent data erased", extra={
                "consents": len(plan.consent_ids), "deliveries": len(plan.delivery_ids),
                "kept_objections": len(plan.kept_objections),
                "objections_without_blind_index": len(plan.objections_without_blind_index)})

    def consumers(self) -> list[ConsumerSpec]:
        """Returns the consumer of `contacts.events` (erasures)."""
        return [ConsumerSpec(topics=list(contracts.CONSUMED_TOPICS), group_id=self.settings.consumer_group,
                             handle=self.handle_contacts_event)]


def _blind_indexes_of(envelope: EventEnvelope) -> tuple[str, ...]:
    # The contact's gate facts carry its e-mail and phone blind indexes (contacts' `gate_facts`).
    facts = envelope.data.get("facts") if isinstance(envelope.data, dict) else None
    if not isinstance(facts, dict):
        return ()
    found = (facts.get("email_index"), facts.get("phone_index"))
    return tuple(i for i in found if isinstance(i, str) and i)


def _erased_blind_indexes(envelope: EventEnvelope) -> tuple[str, ...]:
    # contact_erased carries the contact's e-mail and phone blind indexes at erasure (WAVE2 contract).
    found = envelope.data.get("blind_indexes") if isinstance(envelope.data, dict) else None
    return tuple(i for i in found if isinstance(i, str) and i) if isinstance(found, list) else ()


def bootstrap(settings: ConsentSettings | None = None, *,
              clock: Callable[[], datetime] | None = None) -> ConsentService:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or ConsentSettings()
    indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
    runtime = Runtime(settings=settings, outbox_table=orm.outbox,
                      topics=[contracts.CONSENT_EVENTS, *contracts.CONSUMED_TOPICS])
    return ConsentService(settings=settings, runtime=runtime, indexer=indexer, clock=clock)
