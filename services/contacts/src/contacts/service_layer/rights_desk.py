"""The rights desk: honours data-subject requests by sequencing the handlers and the peer services.

Every step is its own transaction (a handler with a fresh unit of work), so a crash between steps
leaves an open request that the watcher (`watch_once`) takes up again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from contacts.adapters.peers import AbstractPeers
from contacts.adapters.repository import InteractionRow
from contacts.domain.errors import ContactErasedError, ContactNotFoundError, ContactsError
from contacts.domain.model import Contact
from contacts.domain.requests import (
    DataSubjectRequest,
    ObjectionForward,
    RequestError,
    RequestKind,
    RequestStatus,
)
from contacts.service_layer import commands, handlers
from contacts.service_layer.unit_of_work import AbstractContactsUnitOfWork

log = logging.getLogger(__name__)


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

    new_uow: Callable[[], AbstractContactsUnitOfWork]
    peers: AbstractPeers
    clock: Callable[[], datetime]
    actor: str = "contacts/data-subject-requests"
    #: How long an open request stays with its first attempt before the watcher retries it.
    retry_after: timedelta = timedelta(minutes=1)

    async def submit(
        self, cmd: commands.ReceiveRequest, *, changes: commands.ContactChanges | None = None
    ) -> DataSubjectRequest:
        """Records a request and honours what can be honoured now; returns it as it then stands.

        A peer that does not answer leaves the request open for the watcher; an erasure completes
        later, when the last service's confirmation arrives.
        """
        request = await handlers.receive_request(cmd, self.new_uow())
        if request.kind is RequestKind.CONTESTATION and request.contact_id is not None:
            await self._find_contested_receipt(request, actor=cmd.actor)
            return await handlers.get_request(request.id, self.new_uow())
        if request.contact_id is None:
            for forward in await handlers.pending_objection_forwards(self.new_uow(), request_id=request.id):
                await self._forward(forward)
            return request
        try:
            await self._honour(request, actor=cmd.actor, changes=changes)
        except Exception:  # noqa: BLE001 - the request stays open and the watcher retries it.
            log.warning(
                "data-subject request step failed; left open for a retry",
                extra={"request_id": request.id, "kind": request.kind.value},
                exc_info=True,
            )
        return await handlers.get_request(request.id, self.new_uow())

    async def _honour(
        self, request: DataSubjectRequest, *, actor: str, changes: commands.ContactChanges | None = None
    ) -> None:
        assert request.contact_id is not None
        if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            # The export is assembled again on each GET; completing means every service answered now.
            await self.export(request)
            await handlers.complete_request(
                commands.CompleteRequest(
                    actor=actor, request_id=request.id, note="export available from every service"
                ),
                self.new_uow(),
            )
        elif request.kind is RequestKind.OBJECTION:
            contact = await handlers.get_contact(request.contact_id, self.new_uow())
            indexes = [i for i in (contact.indexes.email, contact.indexes.phone) if i]
            await self.peers.record_objection(contact_id=request.contact_id, blind_indexes=indexes)
            await handlers.complete_request(
                commands.CompleteRequest(
                    actor=actor, request_id=request.id, note="objection recorded in consent"
                ),
                self.new_uow(),
            )
        elif request.kind is RequestKind.RESTRICTION:
            await handlers.restrict_processing(
                commands.RestrictProcessing(actor=actor, request_id=request.id), self.new_uow()
            )
        elif request.kind is RequestKind.RECTIFICATION:
            await self._rectify(request, actor=actor, changes=changes or commands.ContactChanges())
        elif request.kind is RequestKind.ERASURE:
            await self._erase(request, actor=actor)

    async def _find_contested_receipt(self, request: DataSubjectRequest, *, actor: str) -> None:
        # Because the human reviewer must see what the gate decided and why (Art. 22(3)): the receipt of
        # the contested check about the person, read from the gate. A gate that does not answer leaves the
        # contestation open without it (the reviewer asks the gate); it is never refused for that.
        decision = request.details.get("decision") or {}
        if decision.get("kind") != "gate_check" or request.contact_id is None:
            return
        try:
            held = await self.peers.gate_data(request.contact_id)
        except Exception:  # noqa: BLE001 - the contestation stays open; the reviewer reads the gate.
            log.warning(
                "the gate did not answer for a contested decision",
                extra={"request_id": request.id},
                exc_info=True,
            )
            return
        found = next(
            (r for r in held.get("decisions", []) if r.get("check_id") == decision.get("check_id")), None
        )
        await handlers.attach_contested_receipt(
            commands.AttachContestedReceipt(actor=actor, request_id=request.id, receipt=found), self.new_uow()
        )

    async def _rectify(
        self, request: DataSubjectRequest, *, actor: str, changes: commands.ContactChanges
    ) -> None:
        assert request.contact_id is not None
        try:
            await handlers.update_contact(
                commands.UpdateContact(actor=actor, contact_id=request.contact_id, changes=changes),
                self.new_uow(),
            )
        except ContactsError as error:
            await handlers.fail_request(
                commands.FailRequest(
                    actor=actor,
                    request_id=request.id,
                    reason=f"rectification refused: {type(error).__name__}",
                ),
                self.new_uow(),
            )
            return
        changed = sorted(changes.given())
        await handlers.complete_request(
            commands.CompleteRequest(
                actor=actor,
                request_id=request.id,
                note="rectified: " + ", ".join(changed) if changed else "nothing to change",
            ),
            self.new_uow(),
        )

    async def _erase(self, request: DataSubjectRequest, *, actor: str) -> None:
        assert request.contact_id is not None
        try:
            await handlers.erase_contact(
                commands.EraseContact(
                    actor=actor, contact_id=request.contact_id, reason=f"erasure request {request.id}"
                ),
                self.new_uow(),
            )
        except ContactErasedError:
            pass  # Already erased (a retry, or the retention sweep got there first): its event did the rest.

    async def _forward(self, forward: ObjectionForward) -> bool:
        # Because an objection outlives the data: a person we hold nothing about is still
        # suppressed for a later import of the same e-mail or phone (UNI-02); only hashes travel.
        try:
            await self.peers.record_objection_by_indexes(forward.blind_indexes)
            accepted = True
        except Exception:  # noqa: BLE001 - the forward stays pending; the watcher retries it.
            log.warning(
                "objection by blind index not yet recorded in consent; will retry",
                extra={"request_id": forward.request_id, "attempts": forward.attempts + 1},
                exc_info=True,
            )
            accepted = False
        await handlers.record_forward_attempt(
            commands.RecordForwardAttempt(actor=self.actor, forward_id=forward.id, accepted=accepted),
            self.new_uow(),
        )
        return accepted

    async def export(self, request: DataSubjectRequest) -> dict[str, Any]:
        """Gathers what every service holds about the person (PeerUnavailableError if one is down)."""
        generated_at = self.clock().isoformat()
        base = {"request_id": request.id, "kind": request.kind.value, "generated_at": generated_at}
        if request.contact_id is None:
            return {**base, "status": RequestStatus.NO_DATA_FOUND.value, "contact": None}
        contact_id = request.contact_id
        try:
            contact: Contact | None = await handlers.get_contact(contact_id, self.new_uow())
        except ContactNotFoundError:
            contact = None
        interactions = await handlers.contact_interactions(contact_id, self.new_uow())
        consent = await self.peers.consent_data(contact_id)
        gate = await self.peers.gate_data(contact_id)
        entries = await self.peers.audit_entries(contact_id)
        return {
            **base,
            "contact_id": contact_id,
            "contacts": {
                "contact": contact_record(contact) if contact else None,
                "interactions": [_interaction_record(i) for i in interactions],
            },
            "consent": {
                "consents": consent.get("consents", []),
                "notice_deliveries": consent.get("deliveries", []),
                "objections": consent.get("objections", []),
            },
            "campaign_gate": gate,
            "audit_log": {"entries": [_audit_entry(e) for e in entries]},
        }

    async def watch_once(self) -> WatchReport:
        """One pass: overdue requests, audit-log erasure confirmations, retries of stalled requests and of
        objections not yet accepted by consent."""
        report = WatchReport()
        now = self.clock()
        report.overdue = [
            r.id
            for r in await handlers.report_overdue(
                commands.ReportOverdue(actor=self.actor, now=now), self.new_uow()
            )
        ]
        for request in await handlers.list_open_requests(self.new_uow()):
            if request.contact_id is None:
                continue
            try:
                if request.kind is RequestKind.ERASURE:
                    if (
                        "contacts" not in request.confirmations
                        and now - request.received_at >= self.retry_after
                    ):
                        await self._erase(request, actor=self.actor)
                    if "audit-log" not in request.confirmations and await self.peers.audit_log_erased(
                        request.contact_id
                    ):
                        await handlers.confirm_erasure(
                            commands.ConfirmErasure(
                                actor=self.actor, contact_id=request.contact_id, service="audit-log"
                            ),
                            self.new_uow(),
                        )
                        report.confirmed.append(request.id)
                elif (
                    # A contestation waits for a human (Art. 22(3)), never for a retry.
                    request.kind not in (RequestKind.RECTIFICATION, RequestKind.CONTESTATION)
                    and now - request.received_at >= self.retry_after
                ):
                    await self._honour(request, actor=self.actor)
                    report.retried.append(request.id)
            except (RequestError, ContactsError):
                continue  # Another step closed or changed it meanwhile; the next pass sees the new state.
            except Exception:  # noqa: BLE001 - a peer being down must not stop the pass.
                log.warning(
                    "data-subject request step failed in the watcher",
                    extra={"request_id": request.id},
                    exc_info=True,
                )
        for forward in await handlers.pending_objection_forwards(self.new_uow()):
            # The grace keeps the watcher off a forward whose first attempt `submit` is making now.
            if forward.due(now=now, first_attempt_grace=self.retry_after) and await self._forward(forward):
                report.forwarded.append(forward.request_id)
        return report


def contact_record(contact: Contact) -> dict[str, Any]:
    """Returns the contact as the person may read it: decrypted personal data and the facts held."""
    return {
        "id": contact.id,
        "kind": contact.kind.value,
        "relationship": contact.relationship.value,
        "status": contact.status.value,
        **contact.personal.as_dict(),
        "collected_from_person": contact.origin.collected_from_person,
        "source": contact.origin.source,
        "broker_name": contact.origin.broker_name,
        "obtained_at": _iso(contact.obtained_at),
        "last_contact_from_person_at": _iso(contact.last_contact_from_person_at),
        "relationship_end_at": _iso(contact.relationship_end_at),
        "attributes": contact.attributes,
        "timezone": contact.timezone,
        "profession": contact.profession,
        "phone_collection": contact.phone_collection.as_dict() if contact.phone_collection else None,
        "stop_pub": contact.stop_pub,
        "restriction": contact.restriction.as_dict() if contact.restriction else None,
        "purchases": [p.as_dict() for p in contact.purchases],
        "contracts": [c.as_dict() for c in contact.contracts],
        "call_attempts": [_iso(t) for t in contact.call_attempts],
        "last_call_refusal_at": _iso(contact.last_call_refusal_at),
        "created_at": _iso(contact.created_at),
        "updated_at": _iso(contact.updated_at),
    }


def _interaction_record(row: InteractionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "channel": row.channel,
        "occurred_at": _iso(row.occurred_at),
        "recorded_at": _iso(row.recorded_at),
        "seller": row.seller,
        "product_categories": row.product_categories,
        "outcome": row.outcome,
    }


def _audit_entry(entry: dict[str, Any]) -> dict[str, Any]:
    event = entry.get("event") or {}
    return {
        "index": entry["index"],
        "type": entry["type"],
        "source": entry.get("source"),
        "actor": entry.get("actor"),
        "event_time": entry.get("event_time"),
        "redacted": entry.get("redacted"),
        "data": event.get("data"),
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
