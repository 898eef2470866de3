"""Use cases of contacts: each takes a command and a unit of work, and commits once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contacts.adapters import outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.adapters.repository import CONTACT_COLUMNS, InteractionRow, contact_row
from contacts.domain import retention
from contacts.domain.errors import ContactNotFoundError
from contacts.domain.model import BlindIndexes, Contact, PersonalData, RestrictionConflictError, Status
from contacts.domain.requests import (
    RESTRICTION_ARTICLES,
    DataSubjectRequest,
    ObjectionForward,
    RequestError,
    RequestKind,
)
from contacts.service_layer import commands
from contacts.service_layer.unit_of_work import OUTBOX_COLUMNS, AbstractContactsUnitOfWork


def _new_contact(cmd: commands.CreateContact, uow: AbstractContactsUnitOfWork) -> Contact:
    return new_contact(cmd, uow.vault, at=uow.clock())


def new_contact(
    cmd: commands.CreateContact,
    vault: PersonalDataVault,
    *,
    at: datetime,
    email_normalised: str | None = None,
    contact_id: str | None = None,
) -> Contact:
    """Returns the new contact a create command describes (its blind indexes from the vault;
    `email_normalised` spares normalising an e-mail validation already normalised)."""
    return Contact.create(
        kind=cmd.kind,
        relationship=cmd.relationship,
        personal=cmd.personal,
        indexes=vault.indexes_for(cmd.personal, source=cmd.origin.source, email_normalised=email_normalised),
        origin=cmd.origin,
        obtained_at=cmd.obtained_at,
        last_contact_from_person_at=cmd.last_contact_from_person_at,
        relationship_end_at=cmd.relationship_end_at,
        attributes=cmd.attributes,
        timezone=cmd.timezone,
        profession=cmd.profession,
        phone_collection=cmd.phone_collection,
        stop_pub=cmd.stop_pub,
        purchases=cmd.purchases,
        at=at,
        contact_id=contact_id,
    )


async def create_contact(cmd: commands.CreateContact, uow: AbstractContactsUnitOfWork) -> Contact:
    """Creates a contact unless the same e-mail or phone is already known
    (DuplicateContactError on commit)."""
    async with uow:
        contact = _new_contact(cmd, uow)
        uow.contacts.add(contact)
        await uow.commit(actor=cmd.actor)
    return contact


async def get_contact(contact_id: str, uow: AbstractContactsUnitOfWork) -> Contact:
    """Returns a contact (its personal data decrypted) or raises ContactNotFoundError."""
    async with uow:
        return await uow.contacts.get_or_raise(contact_id)


async def find_contacts(
    *,
    email: str | None,
    phone: str | None,
    uow: AbstractContactsUnitOfWork,
    source: str | None = None,
    external_ref: str | None = None,
) -> list[Contact]:
    """Returns the live contacts with this e-mail, phone or (source, external reference), found through
    the blind indexes."""
    async with uow:
        indexes = _lookup_indexes(uow, email=email, phone=phone)
        ids = await uow.contacts.find_by_index(
            email_index=indexes.email,
            phone_index=indexes.phone,
            external_ref_index=(
                uow.vault.external_ref_index(source or "", external_ref) if external_ref else None
            ),
        )
        return [await uow.contacts.get_or_raise(cid) for cid in ids]


def _lookup_indexes(uow: AbstractContactsUnitOfWork, *, email: str | None, phone: str | None) -> BlindIndexes:
    """Returns the blind indexes to look a person up by (None for a value not given)."""
    indexer = uow.vault.indexer
    return BlindIndexes(
        email=indexer.email(email) if email else None,
        phone=indexer.phone(phone) if phone else None,
    )


async def update_contact(cmd: commands.UpdateContact, uow: AbstractContactsUnitOfWork) -> Contact:
    """Applies a PATCH; new e-mail or phone values get new blind indexes (DuplicateContactError if taken)."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        changes = cmd.changes.given()
        if {"email", "phone", "external_ref"} & set(changes):
            contact.check_not_erased()
            merged: dict[str, Any] = {
                **contact.personal.as_dict(),
                **{k: changes[k] for k in ("email", "phone", "external_ref") if k in changes},
            }
            changes["indexes"] = uow.vault.indexes_for(
                PersonalData.from_dict(merged), source=contact.origin.source
            )
        contact.update(changes=changes, at=uow.clock(), expected_version=cmd.expected_version)
        await uow.commit(actor=cmd.actor)
    return contact


async def record_interaction(cmd: commands.RecordInteraction, uow: AbstractContactsUnitOfWork) -> str:
    """Records an interaction and returns its id."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        at = uow.clock()
        interaction_id = contact.record_interaction(
            kind=cmd.kind,
            channel=cmd.channel,
            occurred_at=cmd.occurred_at,
            at=at,
            seller=cmd.seller,
            product_categories=cmd.product_categories,
            outcome=cmd.outcome,
        )
        recorded = contact.events[-1]
        # The contact row goes first because the interaction row references it.
        await uow.contacts.flush()
        await uow.contacts.add_interaction(
            InteractionRow(
                id=interaction_id,
                contact_id=contact.id,
                kind=cmd.kind.value,
                channel=cmd.channel,
                occurred_at=cmd.occurred_at,
                recorded_at=at,
                seller=recorded.seller,
                product_categories=recorded.product_categories,
                outcome=recorded.outcome,
            )
        )
        await uow.commit(actor=cmd.actor)
    return interaction_id


async def erase_contact(cmd: commands.EraseContact, uow: AbstractContactsUnitOfWork) -> None:
    """Destroys a contact's personal data and data key; its interactions go too."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        contact.erase(reason=cmd.reason, at=uow.clock())
        await uow.contacts.delete_interactions(contact.id)
        await _forget_points_of_view(uow, contact.id)
        await uow.commit(actor=cmd.actor)


async def _forget_points_of_view(uow: AbstractContactsUnitOfWork, contact_id: str) -> None:
    # Because a contestation keeps the person's own words, which must go with their erasure; the
    # decision, the reviewer and the outcome stay as the record of the human review.
    for request in await uow.requests.of_contact(contact_id, kind=RequestKind.CONTESTATION):
        request.forget_point_of_view(at=uow.clock())


@dataclass
class SweepReport:
    """What one retention sweep did."""

    examined: int = 0
    flagged: int = 0
    erased: int = 0
    last_id: str | None = None

    def as_dict(self) -> dict[str, int]:
        """Returns the counts by name."""
        return {"examined": self.examined, "flagged": self.flagged, "erased": self.erased}


def _cutoff(cmd: commands.SweepRetention) -> datetime:
    # A sound superset: a contact is due only if some date of its clock lies a full period back,
    # and the extra day covers 29 February ending on 28 February.
    years = min(rule.period_years for rule in retention.RETENTION_RULES)
    return retention.add_calendar_years(cmd.now, -years) + timedelta(days=1)


async def sweep_retention(
    cmd: commands.SweepRetention, uow: AbstractContactsUnitOfWork, *, grace: timedelta
) -> SweepReport:
    """Flags contacts past their retention deadline and erases those past the grace too (one batch).

    Each step is an event: RetentionFlagged, then ContactErased. A contact found already past the
    grace but never flagged (the sweeper was off) is flagged and erased in the same sweep. Returns
    the counts; `examined < cmd.limit` means the sweep reached the end (`cmd.after` pages on).
    """
    report = SweepReport()
    async with uow:
        ids = await uow.contacts.ids_for_retention_sweep(
            cutoff=_cutoff(cmd), after=cmd.after, limit=cmd.limit
        )
        for contact_id in ids:
            contact = await uow.contacts.get_or_raise(contact_id, for_update=True)
            report.examined += 1
            report.last_id = contact_id
            status = contact.retention_status(now=cmd.now, grace=grace)
            if status.state == "retained":
                continue
            if contact.status is Status.ACTIVE:
                contact.flag_for_retention(status=status, at=cmd.now)
                report.flagged += 1
            if status.state == "erase" and contact.restriction is None:
                # Because a restricted contact's data must be stored (Art. 18(2)): the person may need it
                # for legal claims (18(1)(c)) or opposed its erasure (18(1)(b)); it waits for the lifting.
                contact.erase(reason=f"retention {status.rule_id}", at=cmd.now)
                await uow.contacts.delete_interactions(contact.id)
                await _forget_points_of_view(uow, contact.id)
                report.erased += 1
        await uow.commit(actor=cmd.actor)
    return report


async def sweep_all_retention(
    *,
    actor: str,
    now: datetime,
    grace: timedelta,
    new_uow: Callable[[], AbstractContactsUnitOfWork],
    batch: int = 500,
) -> SweepReport:
    """Runs `sweep_retention` batch after batch (one transaction each) until every contact was examined."""
    total = SweepReport()
    after: str | None = None
    while True:
        report = await sweep_retention(
            commands.SweepRetention(actor=actor, now=now, limit=batch, after=after), new_uow(), grace=grace
        )
        total.examined += report.examined
        total.flagged += report.flagged
        total.erased += report.erased
        if report.examined < batch:
            return total
        after = report.last_id


@dataclass
class ImportOutcome:
    """What an import batch did: created ids by row number, rows recognised as known people."""

    created: dict[int, str] = field(default_factory=dict)
    known: dict[int, tuple[str, str]] = field(default_factory=dict)


_MATCH_ORDER = ("external_ref", "email", "phone")


def _decide(
    existing: dict[tuple[str, str], str], candidates: list[tuple[int, str, BlindIndexes]]
) -> ImportOutcome:
    """Decides, in row order, which candidates are created and which name a known person.

    A row whose external reference, e-mail or phone index (in that order) belongs to a live contact
    or to an earlier row of the import is known (with that contact's id and what matched); the others
    are created, and their indexes known to the rows after them. `existing` is updated in place.
    """
    outcome = ImportOutcome()
    for number, contact_id, indexes in candidates:
        # In _MATCH_ORDER, spelled out: this runs once per imported row, in the API process.
        keys = [
            (kind, value)
            for kind, value in (
                ("external_ref", indexes.external_ref),
                ("email", indexes.email),
                ("phone", indexes.phone),
            )
            if value is not None
        ]
        match = None
        for key in keys:
            if key in existing:
                match = (existing[key], key[0])
                break
        if match is not None:
            outcome.known[number] = match
            continue
        for key in keys:
            existing[key] = contact_id
        outcome.created[number] = contact_id
    return outcome


async def _existing(
    uow: AbstractContactsUnitOfWork, indexes: list[BlindIndexes]
) -> dict[tuple[str, str], str]:
    return await uow.contacts.find_known(
        email_indexes=[i.email for i in indexes if i.email],
        phone_indexes=[i.phone for i in indexes if i.phone],
        external_ref_indexes=[i.external_ref for i in indexes if i.external_ref],
    )


async def import_contacts(cmd: commands.ImportContacts, uow: AbstractContactsUnitOfWork) -> ImportOutcome:
    """Creates the rows' contacts in one batch, recognising known people through the blind indexes.

    A row whose external reference, e-mail or phone index belongs to an existing contact, or to an
    earlier row of the import, is reported under `known` (with the contact id and what matched) instead
    of duplicated. One ContactCreated event per created contact.
    """
    async with uow:
        candidates = [(number, _new_contact(row, uow)) for number, row in cmd.rows]
        existing = await _existing(uow, [c.indexes for _, c in candidates])
        outcome = _decide(existing, [(n, c.id, c.indexes) for n, c in candidates])
        created = set(outcome.created)
        uow.contacts.add_all([c for n, c in candidates if n in created])
        await uow.commit(actor=cmd.actor)
    return outcome


def prepare_import_row(
    cmd: commands.CreateContact,
    vault: PersonalDataVault,
    *,
    at: datetime,
    correlation_id: str | None,
    number: int,
    email_normalised: str | None = None,
) -> commands.PreparedContact:
    """Does a row's CPU-bound work ahead of its batch, anywhere (a worker process): the contact with its
    blind indexes, its stored row (sealed under a new data key) and its ContactCreated outbox row, the
    same ones `import_contacts` writes (PostgreSQL's binary COPY rows come from the import's batch path,
    `entrypoints.import_pool`).

    `email_normalised` is the e-mail's normalised form when validation computed it (one normalisation
    per row, not two).
    """
    contact = new_contact(cmd, vault, at=at, email_normalised=email_normalised)
    [event] = contact.events
    row = contact_row(contact, vault)
    # The outbox row written straight from the event: the same bytes as outbox.row_for(to_envelope(…)).
    event_row = outgoing.created_outbox_row(event, actor=cmd.actor, correlation_id=correlation_id)
    return commands.PreparedContact(
        row=number,
        contact_id=contact.id,
        indexes=contact.indexes,
        contact_row=tuple(row[name] for name in CONTACT_COLUMNS),
        outbox_row=tuple(event_row[name] for name in OUTBOX_COLUMNS),
    )


async def import_prepared(cmd: commands.ImportPrepared, uow: AbstractContactsUnitOfWork) -> ImportOutcome:
    """Stores prepared rows as `import_contacts` would: known people decided the same way (one lookup
    for the batch), then the created contacts and their events written in one transaction (COPY on
    PostgreSQL), committed once. DuplicateContactError when a concurrent writer took an index."""
    async with uow:
        existing = await _existing(uow, [p.indexes for p in cmd.rows])
        outcome = _decide(existing, [(p.row, p.contact_id, p.indexes) for p in cmd.rows])
        created = [p for p in cmd.rows if p.row in outcome.created]
        await uow.contacts.insert_rows([p.contact_row for p in created])
        await uow.add_outbox_rows([p.outbox_row for p in created])
        await uow.commit(actor=cmd.actor)
    return outcome


async def contact_interactions(contact_id: str, uow: AbstractContactsUnitOfWork) -> list[InteractionRow]:
    """Returns the interactions recorded for a contact, oldest first (no personal data in them)."""
    async with uow:
        return await uow.contacts.interactions_of(contact_id)


# Data-subject requests (the rights desk sequences them with the handlers above and the peers).


async def _person(cmd: commands.ReceiveRequest, uow: AbstractContactsUnitOfWork) -> Contact | None:
    contact: Contact | None = None
    if cmd.contact_id:
        try:
            contact = await uow.contacts.get_or_raise(cmd.contact_id)
        except ContactNotFoundError:
            return None
    else:
        indexes = _lookup_indexes(uow, email=cmd.email, phone=cmd.phone)
        ids = await uow.contacts.find_by_index(email_index=indexes.email, phone_index=indexes.phone)
        if ids:
            contact = await uow.contacts.get_or_raise(ids[0])
    # An erased contact holds no personal data any more: a request about it finds none.
    return None if contact is None or contact.status is Status.ERASED else contact


async def receive_request(
    cmd: commands.ReceiveRequest, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """Records a request; unknown (or erased) people get a request closed at once as `no_data_found`.

    An objection from a person we hold no contact for is still owed to consent (UNI-02: it must
    suppress a later import of the same e-mail or phone): a pending forward of its blind indexes is
    stored in the same transaction, for the desk to hand over now and the watcher to retry.
    """
    async with uow:
        contact = await _person(cmd, uow)
        request = DataSubjectRequest.receive(
            kind=cmd.kind, contact_id=contact.id if contact else None, at=uow.clock(), details=cmd.details
        )
        # A contestation stays open until a human takes it up (Art. 22(3)); the others start now.
        if contact is not None and cmd.kind is not RequestKind.CONTESTATION:
            note = (
                "awaiting erasure confirmations from every service"
                if cmd.kind is RequestKind.ERASURE
                else None
            )
            request.start(at=uow.clock(), note=note)
        uow.requests.add(request)
        if contact is None and cmd.kind is RequestKind.OBJECTION:
            lookup = _lookup_indexes(uow, email=cmd.email, phone=cmd.phone)
            indexes = [i for i in (lookup.email, lookup.phone) if i]
            if indexes:
                uow.requests.add_forward(
                    ObjectionForward.new(request_id=request.id, blind_indexes=indexes, at=uow.clock())
                )
        await uow.commit(actor=cmd.actor)
    return request


async def pending_objection_forwards(
    uow: AbstractContactsUnitOfWork, *, request_id: str | None = None, limit: int = 500
) -> list[ObjectionForward]:
    """Returns the objection forwards consent has not accepted yet (of one request if given)."""
    async with uow:
        return await uow.requests.pending_forwards(request_id=request_id, limit=limit)


async def record_forward_attempt(
    cmd: commands.RecordForwardAttempt, uow: AbstractContactsUnitOfWork
) -> ObjectionForward | None:
    """Records an attempt on an objection forward; returns it (None if it does not exist)."""
    async with uow:
        forward = await uow.requests.get_forward(cmd.forward_id)
        if forward is not None and forward.pending:
            forward.attempted(at=uow.clock(), accepted=cmd.accepted)
        await uow.commit(actor=cmd.actor)
    return forward


async def get_request(request_id: str, uow: AbstractContactsUnitOfWork) -> DataSubjectRequest:
    """Returns a request or raises RequestNotFoundError."""
    async with uow:
        return await uow.requests.get_or_raise(request_id)


async def list_open_requests(
    uow: AbstractContactsUnitOfWork,
    *,
    overdue_at: datetime | None = None,
    kind: RequestKind | None = None,
    limit: int = 500,
) -> list[DataSubjectRequest]:
    """Returns the open requests (only those overdue at `overdue_at`, or of one kind, when given), oldest
    due first."""
    async with uow:
        return await uow.requests.open_requests(due_before=overdue_at, kind=kind, limit=limit)


async def complete_request(
    cmd: commands.CompleteRequest, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """Closes a request as honoured (RequestError if closed, or an erasure not yet confirmed everywhere)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.complete(at=uow.clock(), note=cmd.note)
        await uow.commit(actor=cmd.actor)
    return request


async def fail_request(cmd: commands.FailRequest, uow: AbstractContactsUnitOfWork) -> DataSubjectRequest:
    """Closes a request as not honoured."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.fail(at=uow.clock(), reason=cmd.reason)
        await uow.commit(actor=cmd.actor)
    return request


async def extend_request(cmd: commands.ExtendRequest, uow: AbstractContactsUnitOfWork) -> DataSubjectRequest:
    """Extends a request's due date (ExtensionRefusedError past two months, without reason or too late)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.extend(months=cmd.months, reason=cmd.reason, at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return request


async def confirm_erasure(
    cmd: commands.ConfirmErasure, uow: AbstractContactsUnitOfWork
) -> list[DataSubjectRequest]:
    """Records a service's confirmation on the contact's open erasure requests; returns those it changed."""
    async with uow:
        changed = [
            r
            for r in await uow.requests.open_for_contact(
                cmd.contact_id, kind=RequestKind.ERASURE, for_update=True
            )
            if r.confirm_erasure(service=cmd.service, at=uow.clock())
        ]
        await uow.commit(actor=cmd.actor)
    return changed


async def report_overdue(
    cmd: commands.ReportOverdue, uow: AbstractContactsUnitOfWork
) -> list[DataSubjectRequest]:
    """Records RequestOverdue once for each open request past its due date; returns them."""
    async with uow:
        reported = [
            r
            for r in await uow.requests.open_requests(due_before=cmd.now, limit=cmd.limit)
            if r.report_overdue(now=cmd.now)
        ]
        await uow.commit(actor=cmd.actor)
    return reported


# Restriction of processing (Art. 18) and contestation of an automated decision (Art. 22(3)).


async def restrict_processing(
    cmd: commands.RestrictProcessing, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """Restricts the contact's processing on the request's grounds and completes the request (one
    transaction: ProcessingRestricted with the new gate facts, RequestCompleted). A contact already
    restricted by another request stays under that one; the request completes saying so."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        if (
            request.kind is not RequestKind.RESTRICTION
            or request.contact_id is None
            or request.grounds is None
        ):
            raise RequestError(f"request {request.id} is not a restriction of a known contact")
        contact = await uow.contacts.get_or_raise(request.contact_id, for_update=True)
        try:
            contact.restrict(request_id=request.id, grounds=request.grounds.value, at=uow.clock())
            note = f"processing restricted ({RESTRICTION_ARTICLES[request.grounds]}): stored, not used"
        except RestrictionConflictError as conflict:
            note = f"already restricted: {conflict}"
        request.complete(at=uow.clock(), note=note)
        await uow.commit(actor=cmd.actor)
    return request


async def lift_restriction(
    cmd: commands.LiftRestriction, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """Lifts the restriction a request obtained, once the person was informed (Art. 18(3)): the request's
    history and RestrictionLifted (with the contact's new gate facts) in one transaction.

    RequestStepRefusedError names a missing reason, information time or means; RequestError when the
    request restricts nothing (any more)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        now = uow.clock()
        request.record_restriction_lifted(
            at=now, reason=cmd.reason, informed_at=cmd.informed_at, informed_by=cmd.informed_by
        )
        assert request.contact_id is not None and cmd.informed_at is not None
        contact = await uow.contacts.get_or_raise(request.contact_id, for_update=True)
        try:
            contact.lift_restriction(request_id=request.id, informed_at=cmd.informed_at, at=now)
        except RestrictionConflictError as conflict:
            raise RequestError(str(conflict)) from conflict
        await uow.commit(actor=cmd.actor)
    return request


async def attach_contested_receipt(
    cmd: commands.AttachContestedReceipt, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """Keeps the gate's receipt of the contested check with the contestation, for the human reviewer."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.attach_contested_receipt(receipt=cmd.receipt, at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return request


async def start_human_review(
    cmd: commands.StartHumanReview, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """A human takes up a contestation (open → human review); the event's actor is that human."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.start_human_review(reviewer=cmd.actor, at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return request


async def decide_contestation(
    cmd: commands.DecideContestation, uow: AbstractContactsUnitOfWork
) -> DataSubjectRequest:
    """The reviewer who took the contestation up decides it with reasons (human review → outcome)."""
    async with uow:
        request = await uow.requests.get_or_raise(cmd.request_id, for_update=True)
        request.decide_contestation(
            reviewer=cmd.actor, outcome=cmd.outcome, reasons=cmd.reasons, at=uow.clock()
        )
        await uow.commit(actor=cmd.actor)
    return request


async def list_contestations(
    uow: AbstractContactsUnitOfWork, *, limit: int = 500
) -> list[DataSubjectRequest]:
    """The human-review queue: open contestations, oldest due first."""
    async with uow:
        return await uow.requests.open_requests(kind=RequestKind.CONTESTATION, limit=limit)
