"""In-memory fakes of the contacts ports, for unit tests of handlers (fakes, not mocks)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from contacts.adapters.protection import PersonalDataVault
from contacts.adapters.repository import AbstractContactRepository, InteractionRow
from contacts.domain.errors import DuplicateContactError, VersionConflictError
from contacts.domain.model import Contact, Status
from contacts.service_layer.unit_of_work import AbstractContactsUnitOfWork
from shared.blind_index import BlindIndexer
from shared.envelope_crypto import KeyRing

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def make_vault() -> PersonalDataVault:
    """Returns a vault with fixed test keys."""
    return PersonalDataVault(key_ring=KeyRing({"k1": b"k" * 32}, "k1"),
                             indexer=BlindIndexer(b"test-blind-index-key-0123456789abcdef"))


class FakeStore:
    """What the fake "database" holds between units of work: committed contacts, interactions, events."""

    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.interactions: dict[str, InteractionRow] = {}
        self.published: list[tuple[str, Any]] = []


class FakeContactRepository(AbstractContactRepository):
    """Keeps staged copies; `flush` enforces one live contact per blind index, as the database does."""

    def __init__(self, store: FakeStore, staged: dict[str, Contact], interactions: dict[str, InteractionRow]) -> None:
        super().__init__()
        self._store = store
        self._staged = staged
        self._interactions = interactions
        self._versions: dict[str, int] = {}

    async def _get(self, contact_id: str, *, for_update: bool) -> Contact | None:
        found = self._staged.get(contact_id)
        if found is None:
            return None
        contact = copy.deepcopy(found)
        self._versions[contact.id] = contact.version
        return contact

    async def find_known(self, *, email_indexes: list[str], phone_indexes: list[str]) -> dict[tuple[str, str], str]:
        wanted = {("email", i) for i in email_indexes} | {("phone", i) for i in phone_indexes}
        found = {}
        for contact in self._staged.values():
            if contact.status is Status.ERASED:
                continue
            for key in (("email", contact.indexes.email), ("phone", contact.indexes.phone)):
                if key in wanted:
                    found[key] = contact.id
        return found  # type: ignore[return-value]

    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        ids = sorted(c.id for c in self._staged.values() if c.status is not Status.ERASED and any(
            d is not None and d <= cutoff
            for d in (c.obtained_at, c.last_contact_from_person_at, c.relationship_end_at)))
        return [i for i in ids if after is None or i > after][:limit]

    async def add_interaction(self, interaction: InteractionRow) -> None:
        self._interactions[interaction.id] = interaction

    async def delete_interactions(self, contact_id: str) -> None:
        for key in [k for k, v in self._interactions.items() if v.contact_id == contact_id]:
            del self._interactions[key]

    async def flush(self) -> None:
        for contact in self.seen:
            if contact.id in self._versions:
                stored = self._staged[contact.id]
                if stored.version != self._versions[contact.id]:
                    raise VersionConflictError(contact.id, self._versions[contact.id], stored.version)
            for matched_on in ("email", "phone"):
                index = getattr(contact.indexes, matched_on)
                if index is None or contact.status is Status.ERASED:
                    continue
                for other in self._staged.values():
                    if (other.id != contact.id and other.status is not Status.ERASED
                            and getattr(other.indexes, matched_on) == index):
                        raise DuplicateContactError(other.id, matched_on)
            stored = copy.deepcopy(contact)
            stored.events = []
            self._staged[contact.id] = stored
            self._versions[contact.id] = contact.version


class FakeUnitOfWork(AbstractContactsUnitOfWork):
    """Stages changes on copies of the store; commit publishes the events and swaps the copies in."""

    def __init__(self, store: FakeStore | None = None, *, vault: PersonalDataVault | None = None,
                 clock: Any = None) -> None:
        self.store = store or FakeStore()
        self.vault = vault or make_vault()
        self.now = T0
        self.clock = clock or (lambda: self.now)
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self._staged = copy.deepcopy(self.store.contacts)
        self._interactions = dict(self.store.interactions)
        self.contacts = FakeContactRepository(self.store, self._staged, self._interactions)
        return await super().__aenter__()  # type: ignore[return-value]

    def _pending_events(self) -> Iterable[Any]:
        for contact in self.contacts.seen:
            yield from contact.events
            contact.events.clear()

    async def commit(self, *, actor: str) -> None:
        await self.contacts.flush()
        events = list(self._pending_events())
        self.store.contacts = self._staged
        self.store.interactions = self._interactions
        self.store.published.extend((actor, e) for e in events)
        self.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        pass


class FakeRequestRepository:
    """Data-subject requests and objection forwards on staged copies, as `RequestRepository` keeps them."""

    def __init__(self, requests: dict[str, Any], forwards: dict[str, Any]) -> None:
        self._requests = requests
        self._forwards = forwards
        self._seen: dict[str, Any] = {}
        self._seen_forwards: dict[str, Any] = {}

    @property
    def seen(self) -> list[Any]:
        return list(self._seen.values())

    def add(self, request: Any) -> None:
        self._seen[request.id] = request

    async def get_or_raise(self, request_id: str, *, for_update: bool = False) -> Any:
        from contacts.domain.requests import RequestNotFoundError

        if request_id not in self._requests:
            raise RequestNotFoundError(request_id)
        return self._seen.setdefault(request_id, copy.deepcopy(self._requests[request_id]))

    async def open_for_contact(self, contact_id: str, *, kind: Any = None, for_update: bool = False) -> list[Any]:
        return [await self.get_or_raise(r.id) for r in self._requests.values()
                if r.contact_id == contact_id and r.is_open and (kind is None or r.kind is kind)]

    async def open_requests(self, *, due_before: datetime | None = None, kind: Any = None,
                            limit: int = 500) -> list[Any]:
        found = sorted((r for r in self._requests.values()
                        if r.is_open and (due_before is None or r.due_at < due_before)
                        and (kind is None or r.kind is kind)), key=lambda r: (r.due_at, r.id))
        return [await self.get_or_raise(r.id) for r in found[:limit]]

    def add_forward(self, forward: Any) -> None:
        self._seen_forwards[forward.id] = forward

    async def get_forward(self, forward_id: str) -> Any:
        if forward_id not in self._forwards:
            return None
        return self._seen_forwards.setdefault(forward_id, copy.deepcopy(self._forwards[forward_id]))

    async def pending_forwards(self, *, request_id: str | None = None, limit: int = 500) -> list[Any]:
        found = sorted((f for f in self._forwards.values() if f.pending
                        and (request_id is None or f.request_id == request_id)), key=lambda f: (f.created_at, f.id))
        return [await self.get_forward(f.id) for f in found[:limit]]

    async def flush(self) -> None:
        for request in self.seen:
            stored = copy.deepcopy(request)
            stored.events = []
            self._requests[request.id] = stored
        for forward in self._seen_forwards.values():
            self._forwards[forward.id] = copy.deepcopy(forward)


class FakeRequestsUnitOfWork(FakeUnitOfWork):
    """The fake unit of work plus requests and objection forwards (kept on the store between units of work)."""

    def __init__(self, store: FakeStore | None = None, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        if not hasattr(self.store, "requests"):
            self.store.requests = {}  # type: ignore[attr-defined]
            self.store.forwards = {}  # type: ignore[attr-defined]

    async def __aenter__(self) -> FakeRequestsUnitOfWork:
        await super().__aenter__()
        self._requests = copy.deepcopy(self.store.requests)  # type: ignore[attr-defined]
        self._forwards_staged = copy.deepcopy(self.store.forwards)  # type: ignore[attr-defined]
        self.requests = FakeRequestRepository(self._requests, self._forwards_staged)
        return self

    def _pending_events(self) -> Iterable[Any]:
        yield from super()._pending_events()
        for request in self.requests.seen:
            yield from request.events
            request.events.clear()

    async def commit(self, *, actor: str) -> None:
        await self.requests.flush()
        self.store.requests = self._requests  # type: ignore[attr-defined]
        self.store.forwards = self._forwards_staged  # type: ignore[attr-defined]
        await super().commit(actor=actor)
