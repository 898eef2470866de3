"""The composition root of contacts: settings in, wired unit-of-work factory and runtime out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contacts import contracts
from contacts.adapters import orm
from contacts.adapters.protection import PersonalDataVault
from contacts.service_layer import handlers
from contacts.service_layer.unit_of_work import ContactsUnitOfWork
from contacts.settings import ContactsSettings
from shared.blind_index import BlindIndexer
from shared.envelope_crypto import KeyRing
from shared.runtime import Runtime


@dataclass
class Contacts:
    """Everything the entry points need: settings, runtime and a unit-of-work factory."""

    settings: ContactsSettings
    runtime: Runtime
    vault: PersonalDataVault
    clock: Callable[[], datetime] | None = None

    def uow(self) -> ContactsUnitOfWork:
        """Returns a new unit of work."""
        return ContactsUnitOfWork(vault=self.vault, session_factory=self.runtime.session_factory,
                                  after_commit=self.runtime.wake_relay, clock=self.clock)

    def now(self) -> datetime:
        """Returns the service's current time (the injected clock in tests)."""
        return self.clock() if self.clock is not None else datetime.now(UTC)

    async def sweep_retention(self, *, actor: str) -> handlers.SweepReport:
        """Runs one full retention sweep now: flags, then erases after the grace (each step an event)."""
        return await handlers.sweep_all_retention(
            actor=actor, now=self.now(), grace=timedelta(days=self.settings.retention_grace_days), new_uow=self.uow)


def bootstrap(settings: ContactsSettings | None = None, *, clock: Callable[[], datetime] | None = None) -> Contacts:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or ContactsSettings()
    keks, active = settings.kek_ring()
    vault = PersonalDataVault(key_ring=KeyRing(keks, active),
                              indexer=BlindIndexer(settings.blind_index_key.get_secret_value().encode()))
    runtime = Runtime(settings=settings, outbox_table=orm.outbox, topics=[contracts.CONTACTS_EVENTS])
    return Contacts(settings=settings, runtime=runtime, vault=vault, clock=clock)
