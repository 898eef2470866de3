"""In-memory fakes of the consent ports, for unit tests of the handlers (fakes, not mocks).

A `FakeStore` is the "database": what committed units of work left behind, and the events they
published. Each `async with uow:` works on a deep copy of it, so a unit of work that does not
commit leaves the store as it was, as a rolled-back transaction would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar

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
    AbstractRepository,
    Keyset,
)
from consent.domain.breaches import Breach, ClockState
from consent.domain.model import Consent, Objection, Purpose
from consent.domain.notices import Notice, NoticeDelivery
from consent.domain.parties import Contract, Party
from consent.domain.processors import Processor
from consent.service_layer.unit_of_work import AbstractConsentUnitOfWork
from shared.blind_index import BlindIndexer

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
INDEXER = BlindIndexer(b"test-blind-index-key-0123456789abcdef")

A = TypeVar("A")


@dataclass
class Tables:
    """The rows of the fake database, one dict per table, keyed by primary key."""

    purposes: dict[Hashable, Purpose] = field(default_factory=dict)
    notices: dict[Hashable, Notice] = field(default_factory=dict)
    deliveries: dict[Hashable, NoticeDelivery] = field(default_factory=dict)
    consents: dict[Hashable, Consent] = field(default_factory=dict)
    objections: dict[Hashable, Objection] = field(default_factory=dict)
    processors: dict[Hashable, Processor] = field(default_factory=dict)
    parties: dict[Hashable, Party] = field(default_factory=dict)
    contracts: dict[Hashable, Contract] = field(default_factory=dict)
    contact_indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    breaches: dict[Hashable, Breach] = field(default_factory=dict)
    inbox: set[str] = field(default_factory=set)


@dataclass
class FakeStore:
    """What committed units of work left: the tables, and the events published in commit order."""

    tables: Tables = field(default_factory=Tables)
    published: list[Any] = field(default_factory=list)
    commits: int = 0

    def events_of(self, kind: type) -> list[Any]:
        """Returns the published events of one type."""
        return [e for e in self.published if isinstance(e, kind)]


class _FakeRepository(AbstractRepository[A], Generic[A]):
    """Keeps aggregates in a dict by key; everything handed out or added is `seen`."""

    def __init__(self, rows: dict[Hashable, A], key: Callable[[A], Hashable]) -> None:
        self._rows = rows
        self._key = key
        self._seen: dict[Hashable, A] = {}

    @property
    def seen(self) -> list[A]:
        return list(self._seen.values())

    def add(self, aggregate: A) -> None:
        key = self._key(aggregate)
        self._rows[key] = aggregate
        self._seen[key] = aggregate

    def _hand_out(self, found: Iterable[A]) -> list[A]:
        result = list(found)
        for aggregate in result:
            self._seen[self._key(aggregate)] = aggregate
        return result

    def _one(self, key: Hashable) -> A | None:
        found = self._rows.get(key)
        return self._hand_out([found])[0] if found is not None else None

    def _delete(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self._rows.pop(key, None)
            self._seen.pop(key, None)


def _page(items: list[A], sort: Callable[[A], Keyset], after: Keyset | None, limit: int) -> list[A]:
    ordered = sorted(items, key=sort)
    return [i for i in ordered if after is None or sort(i) > tuple(after)][:limit]


class FakePurposeRepository(_FakeRepository[Purpose], AbstractPurposeRepository):
    def __init__(self, rows: dict[Hashable, Purpose]) -> None:
        super().__init__(rows, lambda p: p.purpose_id)

    async def get(self, purpose_id: str, *, for_update: bool = False) -> Purpose | None:
        return self._one(purpose_id)

    async def list_all(self) -> list[Purpose]:
        return self._hand_out(sorted(self._rows.values(), key=_registered))

    async def page(self, *, after: Keyset | None, limit: int) -> list[Purpose]:
        return self._hand_out(_page(list(self._rows.values()), _registered, after, limit))


def _registered(p: Purpose) -> Keyset:
    return p.versions[0].valid_from, p.purpose_id


class FakeNoticeRepository(_FakeRepository[Notice], AbstractNoticeRepository):
    def __init__(self, rows: dict[Hashable, Notice]) -> None:
        super().__init__(rows, lambda n: (n.notice_id, n.version))

    async def get(self, notice_id: str, version: int | None = None) -> Notice | None:
        versions = sorted(
            (
                n
                for n in self._rows.values()
                if n.notice_id == notice_id and (version is None or n.version == version)
            ),
            key=lambda n: n.version,
        )
        return self._hand_out(versions[-1:])[0] if versions else None


class FakeDeliveryRepository(_FakeRepository[NoticeDelivery], AbstractDeliveryRepository):
    def __init__(self, rows: dict[Hashable, NoticeDelivery]) -> None:
        super().__init__(rows, lambda d: d.delivery_id)

    async def for_contact(self, contact_id: str) -> list[NoticeDelivery]:
        return self._hand_out(
            sorted(
                (d for d in self._rows.values() if d.contact_id == contact_id), key=lambda d: d.delivered_at
            )
        )

    async def delete(self, delivery_ids: Iterable[str]) -> None:
        self._delete(delivery_ids)


class FakeConsentRepository(_FakeRepository[Consent], AbstractConsentRepository):
    def __init__(self, rows: dict[Hashable, Consent]) -> None:
        super().__init__(rows, lambda c: c.consent_id)

    async def get(self, consent_id: str, *, for_update: bool = False) -> Consent | None:
        return self._one(consent_id)

    async def for_contact(self, contact_id: str, *, for_update: bool = False) -> list[Consent]:
        return self._hand_out(
            sorted(
                (c for c in self._rows.values() if c.contact_id == contact_id),
                key=lambda c: (c.requested_at, c.consent_id),
            )
        )

    async def delete(self, consent_ids: Iterable[str]) -> None:
        self._delete(consent_ids)


class FakeObjectionRepository(_FakeRepository[Objection], AbstractObjectionRepository):
    def __init__(self, rows: dict[Hashable, Objection]) -> None:
        super().__init__(rows, lambda o: o.objection_id)

    async def for_contact(self, contact_id: str) -> list[Objection]:
        return self._hand_out(
            sorted((o for o in self._rows.values() if o.contact_id == contact_id), key=lambda o: o.at)
        )

    async def list_all(self) -> list[Objection]:
        return self._hand_out(sorted(self._rows.values(), key=lambda o: (o.at, o.objection_id)))

    async def matching(
        self, blind_indexes: Iterable[str], *, after: Keyset | None = None, limit: int = 1000
    ) -> list[Objection]:
        wanted = set(blind_indexes)
        found = [o for o in self._rows.values() if wanted & set(o.blind_indexes)]
        return self._hand_out(_page(found, lambda o: (o.at, o.objection_id), after, limit))


class FakeProcessorRepository(_FakeRepository[Processor], AbstractProcessorRepository):
    def __init__(self, rows: dict[Hashable, Processor]) -> None:
        super().__init__(rows, lambda p: p.processor_id)

    async def get(self, processor_id: str, *, for_update: bool = False) -> Processor | None:
        return self._one(processor_id)

    async def list_all(self) -> list[Processor]:
        return self._hand_out(sorted(self._rows.values(), key=lambda p: (p.legal_name, p.processor_id)))

    async def page(self, *, after: Keyset | None, limit: int) -> list[Processor]:
        return self._hand_out(_page(list(self._rows.values()), _by_name, after, limit))


def _by_name(p: Processor) -> Keyset:
    return p.legal_name, p.processor_id


class FakePartyRepository(_FakeRepository[Party], AbstractPartyRepository):
    def __init__(self, rows: dict[Hashable, Party]) -> None:
        super().__init__(rows, lambda p: p.party_id)

    async def get(self, party_id: str, *, for_update: bool = False) -> Party | None:
        return self._one(party_id)

    async def list_all(self) -> list[Party]:
        return self._hand_out(sorted(self._rows.values(), key=lambda p: (p.legal_name, p.party_id)))

    async def page(self, *, after: Keyset | None, limit: int) -> list[Party]:
        return self._hand_out(
            _page(list(self._rows.values()), lambda p: (p.legal_name, p.party_id), after, limit)
        )


class FakeContractRepository(_FakeRepository[Contract], AbstractContractRepository):
    def __init__(self, rows: dict[Hashable, Contract]) -> None:
        super().__init__(rows, lambda c: c.contract_id)

    def _sorted(self, found: Iterable[Contract]) -> list[Contract]:
        return self._hand_out(sorted(found, key=lambda c: (c.party_id, c.version)))

    async def for_party(self, party_id: str, *, for_update: bool = False) -> list[Contract]:
        return self._sorted(c for c in self._rows.values() if c.party_id == party_id)

    async def for_parties(self, party_ids: Iterable[str]) -> list[Contract]:
        ids = set(party_ids)
        return self._sorted(c for c in self._rows.values() if c.party_id in ids)

    async def list_all(self, *, for_update: bool = False) -> list[Contract]:
        return self._sorted(self._rows.values())

    async def expiring_or_expired_by(self, until: datetime, *, for_update: bool = False) -> list[Contract]:
        ids = {c.party_id for c in self._rows.values() if c.expires_at is not None and c.expires_at <= until}
        return self._sorted(c for c in self._rows.values() if c.party_id in ids)


class FakeBreachRepository(_FakeRepository[Breach], AbstractBreachRepository):
    def __init__(self, rows: dict[Hashable, Breach]) -> None:
        super().__init__(rows, lambda b: b.breach_id)

    async def get(self, breach_id: str, *, for_update: bool = False) -> Breach | None:
        return self._one(breach_id)

    async def page(
        self, *, after: Keyset | None, limit: int, overdue_at: datetime | None = None
    ) -> list[Breach]:
        found = [
            b
            for b in self._rows.values()
            if overdue_at is None or b.state_at(overdue_at) is ClockState.OVERDUE
        ]
        return self._hand_out(_page(found, lambda b: (b.aware_at, b.breach_id), after, limit))

    async def overdue(self, at: datetime, *, for_update: bool = False) -> list[Breach]:
        return await self.page(after=None, limit=10**9, overdue_at=at)


class FakeContactIndexRepository(AbstractContactIndexRepository):
    def __init__(self, rows: dict[str, tuple[str, ...]]) -> None:
        self._rows = rows

    async def get(self, contact_id: str) -> tuple[str, ...]:
        return self._rows.get(contact_id, ())

    async def merge(self, contact_id: str, blind_indexes: Iterable[str], *, at: datetime) -> tuple[str, ...]:
        merged = tuple(dict.fromkeys([*self._rows.get(contact_id, ()), *blind_indexes]))
        self._rows[contact_id] = merged
        return merged

    async def delete(self, contact_id: str) -> None:
        self._rows.pop(contact_id, None)


class FakeUnitOfWork(AbstractConsentUnitOfWork):
    """A unit of work over a FakeStore: `commit` keeps the staged tables and publishes the pending events."""

    def __init__(
        self,
        store: FakeStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: T0,
        indexer: BlindIndexer = INDEXER,
    ) -> None:
        self.store = store if store is not None else FakeStore()
        self.clock = clock
        self.indexer = indexer
        self._staged = Tables()
        self._loose: list[Any] = []

    async def __aenter__(self) -> Self:
        self._staged = copy.deepcopy(self.store.tables)
        self._loose = []
        staged = self._staged
        self.purposes = FakePurposeRepository(staged.purposes)
        self.notices = FakeNoticeRepository(staged.notices)
        self.deliveries = FakeDeliveryRepository(staged.deliveries)
        self.consents = FakeConsentRepository(staged.consents)
        self.objections = FakeObjectionRepository(staged.objections)
        self.processors = FakeProcessorRepository(staged.processors)
        self.parties = FakePartyRepository(staged.parties)
        self.contracts = FakeContractRepository(staged.contracts)
        self.contact_indexes = FakeContactIndexRepository(staged.contact_indexes)
        self.breaches = FakeBreachRepository(staged.breaches)
        return await super().__aenter__()

    def publish(self, event: Any) -> None:
        self._loose.append(event)

    async def first_delivery(self, *, event_id: str, topic: str) -> bool:
        key = f"{topic}:{event_id}"
        if key in self._staged.inbox:
            return False
        self._staged.inbox.add(key)
        return True

    async def commit(self, *, actor: str) -> None:
        for repository in (
            self.purposes,
            self.notices,
            self.deliveries,
            self.consents,
            self.objections,
            self.processors,
            self.parties,
            self.contracts,
            self.breaches,
        ):
            for aggregate in repository.seen:
                self.store.published.extend(aggregate.events)
                aggregate.events.clear()
        self.store.published.extend(self._loose)
        self._loose = []
        self.store.tables = copy.deepcopy(self._staged)
        self.store.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        """Nothing to undo: the staged tables are dropped at the next `async with`."""
