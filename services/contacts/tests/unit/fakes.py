"""In-memory fakes of the contacts ports, for tests of the handlers and the rights desk (fakes, not mocks)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from contacts.adapters.peers import AbstractPeers, PeerUnavailableError
from contacts.adapters.protection import PersonalDataVault
from contacts.adapters.repository import AbstractContactRepository, AbstractRequestRepository, InteractionRow
from contacts.domain.errors import DuplicateContactError, VersionConflictError
from contacts.domain.model import Contact, Status
from contacts.domain.requests import DataSubjectRequest, ObjectionForward, RequestKind, RequestNotFoundError
from contacts.service_layer.unit_of_work import AbstractContactsUnitOfWork

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def make_vault() -> PersonalDataVault:
    """Returns a vault with fixed test keys."""
    return PersonalDataVault.from_keys(
        keks={"k1": b"k" * 32}, active_kek="k1", blind_index_key=b"test-blind-index-key-0123456789abcdef"
    )


class FakeStore:
    """What the fake "database" holds between units of work: contacts, interactions, requests, events."""

    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.interactions: dict[str, InteractionRow] = {}
        self.requests: dict[str, DataSubjectRequest] = {}
        self.forwards: dict[str, ObjectionForward] = {}
        self.published: list[tuple[str, Any]] = []


class FakeContactRepository(AbstractContactRepository):
    """Keeps staged copies; `flush` enforces one live contact per blind index, as the database does."""

    def __init__(self, staged: dict[str, Contact], interactions: dict[str, InteractionRow]) -> None:
        super().__init__()
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

    async def find_known(
        self, *, email_indexes: list[str], phone_indexes: list[str], external_ref_indexes: list[str] = ()
    ) -> dict[tuple[str, str], str]:
        wanted = (
            {("email", i) for i in email_indexes}
            | {("phone", i) for i in phone_indexes}
            | {("external_ref", i) for i in external_ref_indexes}
        )
        found: dict[tuple[str, str], str] = {}
        for contact in self._staged.values():
            if contact.status is Status.ERASED:
                continue
            for kind, index in (
                ("email", contact.indexes.email),
                ("phone", contact.indexes.phone),
                ("external_ref", contact.indexes.external_ref),
            ):
                if index is not None and (kind, index) in wanted:
                    found[(kind, index)] = contact.id
        return found

    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        ids = sorted(
            c.id
            for c in self._staged.values()
            if c.status is not Status.ERASED
            and any(
                d is not None and d <= cutoff
                for d in (c.obtained_at, c.last_contact_from_person_at, c.relationship_end_at)
            )
        )
        return [i for i in ids if after is None or i > after][:limit]

    async def add_interaction(self, interaction: InteractionRow) -> None:
        self._interactions[interaction.id] = interaction

    async def delete_interactions(self, contact_id: str) -> None:
        for key in [k for k, v in self._interactions.items() if v.contact_id == contact_id]:
            del self._interactions[key]

    async def interactions_of(self, contact_id: str) -> list[InteractionRow]:
        return sorted(
            (i for i in self._interactions.values() if i.contact_id == contact_id),
            key=lambda i: i.occurred_at,
        )

    async def flush(self) -> None:
        for contact in self.seen:
            if contact.id in self._versions:
                stored = self._staged[contact.id]
                if stored.version != self._versions[contact.id]:
                    raise VersionConflictError(contact.id, self._versions[contact.id], stored.version)
            for matched_on in ("external_ref", "email", "phone"):
                index = getattr(contact.indexes, matched_on)
                if index is None or contact.status is Status.ERASED:
                    continue
                for other in self._staged.values():
                    if (
                        other.id != contact.id
                        and other.status is not Status.ERASED
                        and getattr(other.indexes, matched_on) == index
                    ):
                        raise DuplicateContactError(other.id, matched_on)
            stored = copy.deepcopy(contact)
            stored.events = []
            self._staged[contact.id] = stored
            self._versions[contact.id] = contact.version


class FakeRequestRepository(AbstractRequestRepository):
    """Data-subject requests and objection forwards on staged copies, as the SQL repository keeps them."""

    def __init__(
        self, requests: dict[str, DataSubjectRequest], forwards: dict[str, ObjectionForward]
    ) -> None:
        super().__init__()
        self._requests = requests
        self._forwards = forwards
        self._seen_forwards: dict[str, ObjectionForward] = {}

    async def get_or_raise(self, request_id: str, *, for_update: bool = False) -> DataSubjectRequest:
        if request_id in self._seen:
            return self._seen[request_id]
        if request_id not in self._requests:
            raise RequestNotFoundError(request_id)
        return self._seen.setdefault(request_id, copy.deepcopy(self._requests[request_id]))

    async def of_contact(self, contact_id: str, *, kind: RequestKind) -> list[DataSubjectRequest]:
        found = sorted(
            (r for r in self._requests.values() if r.contact_id == contact_id and r.kind is kind),
            key=lambda r: r.received_at,
        )
        return [await self.get_or_raise(r.id) for r in found]

    async def open_for_contact(
        self, contact_id: str, *, kind: RequestKind | None = None, for_update: bool = False
    ) -> list[DataSubjectRequest]:
        found = sorted(
            (
                r
                for r in self._requests.values()
                if r.contact_id == contact_id and r.is_open and (kind is None or r.kind is kind)
            ),
            key=lambda r: r.received_at,
        )
        return [await self.get_or_raise(r.id) for r in found]

    async def open_requests(
        self, *, due_before: datetime | None = None, kind: RequestKind | None = None, limit: int = 500
    ) -> list[DataSubjectRequest]:
        found = sorted(
            (
                r
                for r in self._requests.values()
                if r.is_open
                and (due_before is None or r.due_at < due_before)
                and (kind is None or r.kind is kind)
            ),
            key=lambda r: (r.due_at, r.id),
        )
        return [await self.get_or_raise(r.id) for r in found[:limit]]

    def add_forward(self, forward: ObjectionForward) -> None:
        self._seen_forwards[forward.id] = forward

    async def get_forward(self, forward_id: str) -> ObjectionForward | None:
        if forward_id in self._seen_forwards:
            return self._seen_forwards[forward_id]
        if forward_id not in self._forwards:
            return None
        return self._seen_forwards.setdefault(forward_id, copy.deepcopy(self._forwards[forward_id]))

    async def pending_forwards(
        self, *, request_id: str | None = None, limit: int = 500
    ) -> list[ObjectionForward]:
        found = sorted(
            (
                f
                for f in self._forwards.values()
                if f.pending and (request_id is None or f.request_id == request_id)
            ),
            key=lambda f: (f.created_at, f.id),
        )
        return [forward for f in found[:limit] if (forward := await self.get_forward(f.id)) is not None]

    async def flush(self) -> None:
        for request in self.seen:
            stored = copy.deepcopy(request)
            stored.events = []
            self._requests[request.id] = stored
        for forward in self._seen_forwards.values():
            self._forwards[forward.id] = copy.deepcopy(forward)


class FakeUnitOfWork(AbstractContactsUnitOfWork):
    """Stages changes on copies of the store; commit publishes the events and swaps the copies in."""

    def __init__(
        self, store: FakeStore | None = None, *, vault: PersonalDataVault | None = None, clock: Any = None
    ) -> None:
        self.store = store or FakeStore()
        self.vault = vault or make_vault()
        self.now = T0
        self.clock = clock or (lambda: self.now)
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self._staged = copy.deepcopy(self.store.contacts)
        self._interactions = dict(self.store.interactions)
        self._requests = copy.deepcopy(self.store.requests)
        self._forwards = copy.deepcopy(self.store.forwards)
        self.contacts = FakeContactRepository(self._staged, self._interactions)
        self.requests = FakeRequestRepository(self._requests, self._forwards)
        return await super().__aenter__()

    async def commit(self, *, actor: str) -> None:
        await self.contacts.flush()
        await self.requests.flush()
        events = []
        for aggregate in [*self.contacts.seen, *self.requests.seen]:
            events.extend(aggregate.events)
            aggregate.events.clear()
        self.store.contacts = self._staged
        self.store.interactions = self._interactions
        self.store.requests = self._requests
        self.store.forwards = self._forwards
        self.store.published.extend((actor, e) for e in events)
        self.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        pass


class FakePeers(AbstractPeers):
    """Consent, the gate and the audit log as plain data;
    `down` makes every call fail as an unreachable peer."""

    def __init__(self) -> None:
        self.down = False
        self.objections: list[dict[str, Any]] = []
        self.consents: dict[str, list[dict[str, Any]]] = {}
        self.audit: dict[str, list[dict[str, Any]]] = {}

    def _check(self, service: str) -> None:
        if self.down:
            raise PeerUnavailableError(service, "connection refused")

    async def consent_data(self, contact_id: str) -> dict[str, Any]:
        self._check("consent")
        return {
            "contact_id": contact_id,
            "consents": self.consents.get(contact_id, []),
            "deliveries": [],
            "objections": [o for o in self.objections if o.get("contact_id") == contact_id],
        }

    async def record_objection(self, *, contact_id: str, blind_indexes: list[str]) -> dict[str, Any]:
        self._check("consent")
        self.objections.append({"contact_id": contact_id, "blind_indexes": blind_indexes})
        return self.objections[-1]

    async def record_objection_by_indexes(self, blind_indexes: list[str]) -> dict[str, Any]:
        self._check("consent")
        self.objections.append({"contact_id": None, "blind_indexes": blind_indexes})
        return self.objections[-1]

    async def audit_entries(self, subject: str, *, event_type: str | None = None) -> list[dict[str, Any]]:
        self._check("audit-log")
        return [e for e in self.audit.get(subject, []) if event_type is None or e["type"] == event_type]

    async def gate_data(self, contact_id: str) -> dict[str, Any]:
        self._check("campaign-gate")
        return {"contact_id": contact_id, "available": True, "decisions": []}
