"""The consent unit of work: the port the handlers type against, and its SQLAlchemy implementation."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from shared.blind_index import BlindIndexer
from shared.uow import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from consent.adapters import orm, outgoing
from consent.adapters.repository import (
    AbstractBreachRepository,
    AbstractConsentRepository,
    AbstractContactIndexRepository,
    AbstractContractRepository,
    AbstractDeliveryRepository,
    AbstractNoticeRepository,
    AbstractObjectionRepository,
    AbstractPartyRepository,
    AbstractProcessorRepository,
    AbstractPurposeRepository,
    BreachRepository,
    ConsentRepository,
    ContactIndexRepository,
    ContractRepository,
    DeliveryRepository,
    NoticeRepository,
    ObjectionRepository,
    PartyRepository,
    ProcessorRepository,
    PurposeRepository,
)


class AbstractConsentUnitOfWork(AbstractUnitOfWork):
    """Every consent repository, the inbox and the outbox behind one `async with uow:` … `commit`."""

    indexer: BlindIndexer
    purposes: AbstractPurposeRepository
    notices: AbstractNoticeRepository
    deliveries: AbstractDeliveryRepository
    consents: AbstractConsentRepository
    objections: AbstractObjectionRepository
    processors: AbstractProcessorRepository
    parties: AbstractPartyRepository
    contracts: AbstractContractRepository
    contact_indexes: AbstractContactIndexRepository
    breaches: AbstractBreachRepository

    @abc.abstractmethod
    def publish(self, event: Any) -> None:
        """Queues an event that belongs to no loaded aggregate (an erasure's) for the outbox."""

    @abc.abstractmethod
    async def first_delivery(self, *, event_id: str, topic: str) -> bool:
        """Records a consumed event id in the inbox; False when it was already processed (a duplicate)."""


class ConsentUnitOfWork(SqlAlchemyUnitOfWork, AbstractConsentUnitOfWork):
    """Opens a session with the consent repositories; commit writes state, then outbox rows, once."""

    def __init__(self, *, indexer: BlindIndexer, **kwargs: Any) -> None:
        super().__init__(
            outbox_table=orm.outbox, inbox_table=orm.inbox, to_envelope=outgoing.to_envelope, **kwargs
        )
        self.indexer = indexer
        self.purposes: PurposeRepository
        self.notices: NoticeRepository
        self.deliveries: DeliveryRepository
        self.consents: ConsentRepository
        self.objections: ObjectionRepository
        self.processors: ProcessorRepository
        self.parties: PartyRepository
        self.contracts: ContractRepository
        self.contact_indexes: ContactIndexRepository
        self.breaches: BreachRepository

    def _open(self, session: AsyncSession) -> None:
        self.purposes = PurposeRepository(session)
        self.notices = NoticeRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.consents = ConsentRepository(session)
        self.objections = ObjectionRepository(session)
        self.processors = ProcessorRepository(session)
        self.parties = PartyRepository(session)
        self.contracts = ContractRepository(session)
        self.contact_indexes = ContactIndexRepository(session)
        self.breaches = BreachRepository(session)

    def _repositories(self) -> Iterable[Any]:
        # Parties before contracts: a contract row refers to its party.
        return [
            self.purposes,
            self.notices,
            self.deliveries,
            self.consents,
            self.objections,
            self.processors,
            self.parties,
            self.contracts,
            self.breaches,
        ]

    async def _flush(self) -> None:
        for repository in self._repositories():
            await repository.flush()
