"""Use cases of data-subject requests: each handler takes a command and a unit of work, and commits once.

`RightsDesk` sequences them with the contacts handlers (erase, update) and the peer services to
honour a request; every step is its own transaction, so a crash between steps leaves an open
request that the watcher (`watch_once`) takes up again.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters import orm
from contacts.adapters.requests_orm import RequestRepository
from contacts.domain.errors import ContactErasedError, ContactNotFoundError, ContactsError
from contacts.domain.model import Contact, Status
from contacts.domain.requests import (
    DataSubjectRequest,
    ObjectionForward,
    RequestError,
    RequestKind,
    RequestStatus,
)
from contacts.service_layer import commands, handlers
from contacts.service_layer.unit_of_work import ContactsUnitOfWork

log = logging.getLogger(__name__)

RECIPIENT_CHECKED = "vigie.campaigns.recipient_checked.v1"


class RequestsUnitOfWork(ContactsUnitOfWork):
    """The contacts unit of work plus the requests repository; request events go through the same outbox."""

    requests: RequestRepository

    def _open(self, session: AsyncSession) -> None:
        super()._open(session)
        self.requests = RequestRepository(session)

    def _repositories(self) -> Iterable[Any]:
        return [*super()._repositories(), self.requests]

    async def _flush(self) -> None:
        await super()._flush()
        await self.requests.flush()


# --- Commands.


@dataclass(frozen=True)
class ReceiveRequest:
    """Record a request about the person named by contact id, e-mail or phone."""

    actor: str
    kind: RequestKind
    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class CompleteRequest:
    """Close a request as honoured."""

    actor: str
    request_id: str
    note: str | None = None


@dataclass(frozen=True)
class FailRequest:
    """Close a request as not honoured, with a reason free of personal data."""

    actor: str
    request_id: str
    reason: str


@dataclass(frozen=True)
class ExtendRequest:
    """Push a request's due date back (Art. 12(3)), with a reason."""

    actor: str
    request_id: str
    months: int
    reason: str


@dataclass(frozen=True)
class ConfirmErasure:
    """Record that a service confirmed a contact's erasure, for every open erasure request about it."""

    actor: str
    contact_id: str
    service: str


@dataclass(frozen=True)
class RecordForwardAttempt:
    """Record one attempt to hand an objection forward to consent, accepted or not."""

    actor: str
    forward_id: str
    accepted: bool


@dataclass(frozen=True)
class ReportOverdue:
    """Record RequestOverdue for each open request past its due date."""

    actor: str
    now: datetime
    limit: int = 500


# --- Handlers.


async def _person(cmd: ReceiveRequest, uow: RequestsUnitOfWork) -> Contact | None:
    contact: Contact | None = None
    if cmd.contact_id:
        try:
            contact = await uow.contacts.get_or_raise(cmd.contact_id)
        except ContactNotFoundError:
            return None
    else:
        indexer = uow.vault.indexer
        ids = await uow.contacts.find_by_index(email_index=indexer.email(cmd.email) if cmd.email else None,
                                               phone_index=indexer.phone(cmd.phone) if cmd.phone else None)
        if ids:
            contact = await uow.contacts.get_or_raise(ids[0])
    # An erased contact holds no personal data any more: a request about it finds none.
    return None if contact is None or contact.status is Status.ERASED else contact


async def receive_request(cmd: ReceiveRequest, uow: RequestsUnitOfWork) -> DataSubjectRequest:
    """Records a request; unknown (or erased) people get a request closed at once as `no_data_found`.

    An objection from a person we hold no contact for is still owed to consent (UNI-02: it must
    suppress a later import of the same e-mail or phone): a pending forward of its blind indexes is
    stored in the same transaction, for the desk to hand over now and the watcher to retry.
    """
    async with uow:
        contact = await _person(cmd, uow)
        request = DataSubjectRequest.receive(kind=cmd.kind, contact_id=contact.id if contact else None,
                                             at=uow.clock())
        if contact is not None:
            note = ("awaiting erasure confirmations from every service" if cmd.kind is RequestKind.ERASURE
                    else None)
            request.start(at=uow.clock(), note=note)
        uow.requests.add(request)
        if contact is None and cmd.kind is RequestKind.OBJECTION:
            indexer = uow.vault.indexer
            indexes = [i for i in (indexer.email(cmd.email) if cmd.email else None,
                                   indexer.phone(cmd.phone) if cmd.phone else None) if i]
            if indexes:
                uow.requests.add_forward(ObjectionForward.new(request_id=request.id, blind_indexes=indexes,
                                                              at=uow.clock()))
        await uow.commit(actor=cmd.actor)
    return request


async def pending_objection_forwards(uow: RequestsUnitOfWork, *, request_id: str | None = None,
                                     limit: int = 500) -> list[ObjectionForward]:
    """Returns the objection forwards consent has not accepted yet (of one request if given)."""
    async with uow:
        return await uow.requests.pending_forwards(request_id=request_id, limit=limit)


async def record_forward_attempt(cmd: RecordForwardAttempt, uow: RequestsUnitOfWork) -> ObjectionForward | None:
    """Records an attempt on an objection forward; returns it (None if it does not exist)."""
    async with uow:
        forward = await uow.requests.get_forward(cmd.forward_id)
        if forward is not None and forward.pending:
            forward.attempted(at=uow.clock(), accepted=cmd.accepted)
        await uow.commit(actor=cmd.actor)
    return forward


async def get_request(request_id: str, uow: RequestsUnitOfWork) -> DataSubjectRequest:
    """Returns a request or raises RequestNotFoundError."""
    async with uow:
        return await uow.requests.get_or_raise(request_id)


async def list_open_requests(uow: RequestsUnitOfWork, *, overdue_at: datetime | None = None,
                             limit: int = 500) -> list[DataSubjectRequest]:
    """Returns the open requests (only those overdue at `overdue_at` when given), oldest due first."""
    async with uow:
        return await uow.requests.open_requests(due_before=overdue_at, limit=limit)


async def complete_request(cmd: CompleteRequest, uow: RequestsUnitOfWork) -> DataSubjectRequest:
    """Closes a request as honoured (RequestError if closed, or an erasure not yet confirmed everywhere)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.complete(at=uow.clock(), note=cmd.note)
        await uow.commit(actor=cmd.actor)
    return request


async def fail_request(cmd: FailRequest, uow: RequestsUnitOfWork) -> DataSubjectRequest:
    """Closes a request as not honoured."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.fail(at=uow.clock(), reason=cmd.reason)
        await uow.commit(actor=cmd.actor)
    return request


async def extend_request(cmd: ExtendRequest, uow: RequestsUnitOfWork) -> DataSubjectRequest:
    """Extends a request's due date (ExtensionRefusedError past two months, without reason or too late)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.extend(months=cmd.months, reason=cmd.reason, at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return request


async def confirm_erasure(cmd: ConfirmErasure, uow: RequestsUnitOfWork) -> list[DataSubjectRequest]:
    """Records a service's confirmation on the contact's open erasure requests; returns those it changed."""
    async with uow:
        changed = [r for r in await uow.requests.open_for_contact(cmd.contact_id, kind=RequestKind.ERASURE,
                                                                  for_update=True)
                   if r.confirm_erasure(service=cmd.service, at=uow.clock())]
        await uow.commit(actor=cmd.actor)
    return changed


async def report_overdue(cmd: ReportOverdue, uow: RequestsUnitOfWork) -> list[DataSubjectRequest]:
    """Records RequestOverdue once for each open request past its due date; returns them."""
    async with uow:
        reported = [r for r in await uow.requests.open_requests(due_before=cmd.now, limit=cmd.limit)
                    if r.report_overdue(now=cmd.now)]
        await uow.commit(actor=cmd.actor)
    return reported


async def contact_interactions(contact_id: str, uow: RequestsUnitOfWork) -> list[dict[str, Any]]:
    """Returns the interactions recorded for a contact (no personal data in them)."""
    async with uow:
        i = orm.interactions.c
        rows = (await uow.session.execute(sa.select(orm.interactions).where(i.contact_id == contact_id)
                                          .order_by(i.occurred_at))).mappings()
        return [{"id": r["id"], "kind": r["kind"], "channel": r["channel"],
                 "occurred_at": _iso(r["occurred_at"]), "recorded_at": _iso(r["recorded_at"]),
                 "seller": r["seller"], "product_categories": r["product_categories"], "outcome": r["outcome"]}
                for r in rows]


# --- Honouring requests across the services.


class PeerServices(Protocol):
    """What the desk asks of consent, campaign-gate and audit-log (adapters.peers.Peers)."""

    async def consent_data(self, contact_id: str) -> dict[str, Any]: ...
    async def record_objection(self, *, contact_id: str, blind_indexes: list[str]) -> dict[str, Any]: ...
    async def record_objection_by_indexes(self, blind_indexes: list[str]) -> dict[str, Any]: ...
    async def audit_entries(self, subject: str, *, event_type: str | None = None) -> list[dict[str, Any]]: ...
    async def audit_log_erased(self, contact_id: str) -> bool: ...
    async def gate_data(self, contact_id: str) -> dict[str, Any]: ...


@dataclass
class WatchReport:
    """What one watcher pass did."""

    overdue: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    #: Requests whose objection (of a person with no contact) consent accepted in this pass.
    forwarded: list[str] = field(default_factory=list)


@dataclass
class RightsDesk:
    """Honours data-subject requests: records them, acts in contacts, asks the peers, closes them."""

    new_uow: Callable[[], RequestsUnitOfWork]
    peers: PeerServices
    clock: Callable[[], datetime]
    actor: str = "contacts/data-subject-requests"
    #: How long an open request stays with its first attempt before the watcher retries it.
    retry_after: timedelta = timedelta(minutes=1)

    async def submit(self, cmd: ReceiveRequest, *, changes: dict[str, Any] | None = None) -> DataSubjectRequest:
        """Records a request and honours what can be honoured now; returns it as it then stands.

        A peer that does not answer leaves the request open for the watcher; an erasure completes
        later, when the last service's confirmation arrives.
        """
        request = await receive_request(cmd, self.new_uow())
        if request.contact_id is None:
            for forward in await pending_objection_forwards(self.new_uow(), request_id=request.id):
                await self._forward(forward)
            return request
        try:
            await self._honour(request, actor=cmd.actor, changes=changes)
        except Exception:  # noqa: BLE001 - the request stays open and the watcher retries it.
            log.warning("data-subject request step failed; left open for a retry",
                        extra={"request_id": request.id, "kind": request.kind.value}, exc_info=True)
        return await get_request(request.id, self.new_uow())

    async def _honour(self, request: DataSubjectRequest, *, actor: str,
                      changes: dict[str, Any] | None = None) -> None:
        assert request.contact_id is not None
        if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            # The export is assembled again on each GET; completing means every service answered now.
            await self.export(request)
            await complete_request(CompleteRequest(actor=actor, request_id=request.id,
                                                   note="export available from every service"), self.new_uow())
        elif request.kind is RequestKind.OBJECTION:
            contact = await handlers.get_contact(request.contact_id, self.new_uow())
            indexes = [i for i in (contact.indexes.email, contact.indexes.phone) if i]
            await self.peers.record_objection(contact_id=request.contact_id, blind_indexes=indexes)
            await complete_request(CompleteRequest(actor=actor, request_id=request.id,
                                                   note="objection recorded in consent"), self.new_uow())
        elif request.kind is RequestKind.RECTIFICATION:
            await self._rectify(request, actor=actor, changes=changes or {})
        elif request.kind is RequestKind.ERASURE:
            await self._erase(request, actor=actor)

    async def _rectify(self, request: DataSubjectRequest, *, actor: str, changes: dict[str, Any]) -> None:
        assert request.contact_id is not None
        try:
            contact = await handlers.update_contact(commands.UpdateContact(
                actor=actor, contact_id=request.contact_id, changes=changes), self.new_uow())
        except ContactsError as error:
            await fail_request(FailRequest(actor=actor, request_id=request.id,
                                           reason=f"rectification refused: {type(error).__name__}"), self.new_uow())
            return
        del contact
        await complete_request(CompleteRequest(actor=actor, request_id=request.id,
                                               note="rectified: " + ", ".join(sorted(changes)) if changes
                                               else "nothing to change"), self.new_uow())

    async def _erase(self, request: DataSubjectRequest, *, actor: str) -> None:
        assert request.contact_id is not None
        try:
            await handlers.erase_contact(commands.EraseContact(
                actor=actor, contact_id=request.contact_id, reason=f"erasure request {request.id}"), self.new_uow())
        except ContactErasedError:
            pass  # Already erased (a retry, or the retention sweep got there first): its event did the rest.

    async def _forward(self, forward: ObjectionForward) -> bool:
        # Because an objection outlives the data: a person we hold nothing about is still
        # suppressed for a later import of the same e-mail or phone (UNI-02); only hashes travel.
        try:
            await self.peers.record_objection_by_indexes(forward.blind_indexes)
            accepted = True
        except Exception:  # noqa: BLE001 - the forward stays pending; the watcher retries it.
            log.warning("objection by blind index not yet recorded in consent; will retry",
                        extra={"request_id": forward.request_id, "attempts": forward.attempts + 1}, exc_info=True)
            accepted = False
        await record_forward_attempt(RecordForwardAttempt(actor=self.actor, forward_id=forward.id,
                                                          accepted=accepted), self.new_uow())
        return accepted

    async def export(self, request: DataSubjectRequest) -> dict[str, Any]:
        """Gathers what every service holds about the request's person (PeerUnavailableError if one is down)."""
        generated_at = self.clock().isoformat()
        base = {"request_id": request.id, "kind": request.kind.value, "generated_at": generated_at}
        if request.contact_id is None:
            return {**base, "status": RequestStatus.NO_DATA_FOUND.value, "contact": None}
        contact_id = request.contact_id
        try:
            contact = await handlers.get_contact(contact_id, self.new_uow())
        except ContactNotFoundError:
            contact = None
        interactions = await contact_interactions(contact_id, self.new_uow())
        consent = await self.peers.consent_data(contact_id)
        gate = await self.peers.gate_data(contact_id)
        entries = await self.peers.audit_entries(contact_id)
        gate["decisions"] = [e["event"]["data"] for e in entries
                             if e["type"] == RECIPIENT_CHECKED and e.get("event")]
        return {
            **base,
            "contact_id": contact_id,
            "contacts": {"contact": contact_record(contact) if contact else None, "interactions": interactions},
            "consent": {"consents": consent.get("consents", []), "notice_deliveries": consent.get("deliveries", []),
                        "objections": consent.get("objections", [])},
            "campaign_gate": gate,
            "audit_log": {"entries": [_audit_entry(e) for e in entries]},
        }

    async def watch_once(self) -> WatchReport:
        """One pass: overdue requests, audit-log erasure confirmations, retries of stalled requests and of
        objections not yet accepted by consent."""
        report = WatchReport()
        now = self.clock()
        report.overdue = [r.id for r in await report_overdue(ReportOverdue(actor=self.actor, now=now),
                                                             self.new_uow())]
        for request in await list_open_requests(self.new_uow()):
            if request.contact_id is None:
                continue
            try:
                if request.kind is RequestKind.ERASURE:
                    if "contacts" not in request.confirmations and now - request.received_at >= self.retry_after:
                        await self._erase(request, actor=self.actor)
                    if "audit-log" not in request.confirmations and await self.peers.audit_log_erased(
                            request.contact_id):
                        await confirm_erasure(ConfirmErasure(actor=self.actor, contact_id=request.contact_id,
                                                             service="audit-log"), self.new_uow())
                        report.confirmed.append(request.id)
                elif request.kind is not RequestKind.RECTIFICATION and now - request.received_at >= self.retry_after:
                    await self._honour(request, actor=self.actor)
                    report.retried.append(request.id)
            except (RequestError, ContactsError):
                continue  # Another step closed or changed it meanwhile; the next pass sees the new state.
            except Exception:  # noqa: BLE001 - a peer being down must not stop the pass.
                log.warning("data-subject request step failed in the watcher",
                            extra={"request_id": request.id}, exc_info=True)
        for forward in await pending_objection_forwards(self.new_uow()):
            # The grace keeps the watcher off a forward whose first attempt `submit` is making now.
            if forward.due(now=now, first_attempt_grace=self.retry_after) and await self._forward(forward):
                report.forwarded.append(forward.request_id)
        return report


def contact_record(contact: Contact) -> dict[str, Any]:
    """Returns the contact as the person may read it: decrypted personal data and the facts held."""
    return {
        "id": contact.id, "kind": contact.kind.value, "relationship": contact.relationship.value,
        "status": contact.status.value, **contact.personal.as_dict(),
        "collected_from_person": contact.origin.collected_from_person, "source": contact.origin.source,
        "broker_name": contact.origin.broker_name, "obtained_at": _iso(contact.obtained_at),
        "last_contact_from_person_at": _iso(contact.last_contact_from_person_at),
        "relationship_end_at": _iso(contact.relationship_end_at), "attributes": contact.attributes,
        "timezone": contact.timezone, "profession": contact.profession,
        "phone_collection": contact.phone_collection.as_dict() if contact.phone_collection else None,
        "stop_pub": contact.stop_pub, "purchases": [p.as_dict() for p in contact.purchases],
        "contracts": [c.as_dict() for c in contact.contracts],
        "call_attempts": [_iso(t) for t in contact.call_attempts],
        "last_call_refusal_at": _iso(contact.last_call_refusal_at),
        "created_at": _iso(contact.created_at), "updated_at": _iso(contact.updated_at),
    }


def _audit_entry(entry: dict[str, Any]) -> dict[str, Any]:
    event = entry.get("event") or {}
    return {"index": entry["index"], "type": entry["type"], "source": entry.get("source"),
            "actor": entry.get("actor"), "event_time": entry.get("event_time"), "redacted": entry.get("redacted"),
            "data": event.get("data")}


def portability_rows(export: dict[str, Any]) -> list[tuple[str, str]]:
    """Flattens the data the person provided (their contact record and consents) into (field, value) rows."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{prefix}.{key}" if prefix else key, value[key])
        elif isinstance(value, list):
            for n, item in enumerate(value):
                walk(f"{prefix}[{n}]", item)
        elif value is not None:
            rows.append((prefix, str(value)))

    walk("contact", (export.get("contacts") or {}).get("contact") or {})
    walk("consents", (export.get("consent") or {}).get("consents") or [])
    return rows


def portability_csv(export: dict[str, Any]) -> str:
    """Returns the portability rows as RFC 4180 CSV with a `field,value` header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["field", "value"])
    writer.writerows(portability_rows(export))
    return buffer.getvalue()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
