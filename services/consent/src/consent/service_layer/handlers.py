"""Use cases of consent: each takes a command and a unit of work, and commits once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consent.domain import register
from consent.domain.erasure import ErasurePlan, erase_subject
from consent.domain.model import Consent, Objection, Purpose
from consent.domain.notices import Notice, NoticeDelivery
from consent.domain.processors import Processor
from consent.service_layer import commands
from consent.service_layer.errors import NotFoundError
from consent.service_layer.unit_of_work import ConsentUnitOfWork

# --- Register of processing.


async def register_purpose(cmd: commands.RegisterPurpose, uow: ConsentUnitOfWork) -> Purpose:
    """Enters a purpose in the register at version 1."""
    async with uow:
        purpose = Purpose.register(at=uow.clock(), **cmd.fields)
        uow.purposes.add(purpose)
        await uow.commit(actor=cmd.actor)
    return purpose


async def list_purposes(uow: ConsentUnitOfWork) -> list[Purpose]:
    """Returns every purpose with its version history."""
    async with uow:
        return await uow.purposes.list_all()


async def register_export(uow: ConsentUnitOfWork, *, at: datetime | None = None,
                          fmt: str = "json") -> str | dict[str, object]:
    """Returns the register in the CNIL template's columns, as CSV text or a JSON document."""
    async with uow:
        purposes = await uow.purposes.list_all()
        names = {p.processor_id: p.legal_name for p in await uow.processors.list_all()}
    if fmt == "csv":
        return register.register_csv(purposes, at=at, processor_names=names)
    return {"columns": list(register.REGISTER_COLUMNS),
            "common_pages": register.register_common_pages(purposes, at=at),
            "rows": register.register_rows(purposes, at=at, processor_names=names)}


# --- Notices.


async def publish_notice(cmd: commands.PublishNotice, uow: ConsentUnitOfWork) -> Notice:
    """Checks a notice's mandatory content and publishes it (a new notice, or the next version of one)."""
    async with uow:
        previous = await uow.notices.get(cmd.notice_id) if cmd.notice_id else None
        notice = Notice.draft(language=cmd.language, article=cmd.article, purpose_ids=cmd.purpose_ids,
                              content=cmd.content, not_applicable=cmd.not_applicable, notice_id=cmd.notice_id,
                              version=previous.version + 1 if previous else 1)
        purposes = {pid: p for pid in notice.purpose_ids if (p := await uow.purposes.get(pid)) is not None}
        notice.publish(at=uow.clock(), purposes=purposes)
        uow.notices.add(notice)
        await uow.commit(actor=cmd.actor)
    return notice


async def deliver_notice(cmd: commands.DeliverNotice, uow: ConsentUnitOfWork) -> NoticeDelivery:
    """Records the delivery of a published notice version (default: its latest) to a contact."""
    async with uow:
        notice = await uow.notices.get(cmd.notice_id, cmd.notice_version)
        if notice is None:
            raise NotFoundError("notice", cmd.notice_id)
        delivery = NoticeDelivery.deliver(notice=notice, contact_id=cmd.contact_id, channel=cmd.channel,
                                          at=cmd.delivered_at or uow.clock(), evidence=cmd.evidence)
        uow.deliveries.add(delivery)
        await uow.commit(actor=cmd.actor)
    return delivery


# --- Consents and objections.


async def grant_consent(cmd: commands.GrantConsent, uow: ConsentUnitOfWork) -> Consent:
    """Records a consent, refusing unregistered purposes, other lawful bases and a second active one."""
    async with uow:
        existing = await uow.consents.for_contact(cmd.contact_id, for_update=True)
        consent = Consent.grant(
            contact_id=cmd.contact_id, purpose_id=cmd.purpose_id, purpose=await uow.purposes.get(cmd.purpose_id),
            channel=cmd.channel, at=uow.clock(), collection_method=cmd.collection_method, wording=cmd.wording,
            proof=cmd.proof, notice_id=cmd.notice_id, notice_version=cmd.notice_version, collector=cmd.collector,
            double_opt_in=cmd.double_opt_in, existing=existing)
        uow.consents.add(consent)
        await uow.commit(actor=cmd.actor)
    return consent


async def _consent_or_raise(uow: ConsentUnitOfWork, consent_id: str) -> Consent:
    consent = await uow.consents.get(consent_id, for_update=True)
    if consent is None:
        raise NotFoundError("consent", consent_id)
    return consent


async def confirm_consent(cmd: commands.ConfirmConsent, uow: ConsentUnitOfWork) -> Consent:
    """Confirms a pending double opt-in consent."""
    async with uow:
        consent = await _consent_or_raise(uow, cmd.consent_id)
        consent.confirm(uow.clock())
        await uow.commit(actor=cmd.actor)
    return consent


async def withdraw_consent(cmd: commands.WithdrawConsent, uow: ConsentUnitOfWork) -> Consent:
    """Withdraws a consent, keeping the record with its grant and withdrawal times."""
    async with uow:
        consent = await _consent_or_raise(uow, cmd.consent_id)
        consent.withdraw(uow.clock(), source=cmd.source)
        await uow.commit(actor=cmd.actor)
    return consent


async def record_objection(cmd: commands.RecordObjection, uow: ConsentUnitOfWork) -> Objection:
    """Records an objection with the blind indexes of the given e-mail and phone (never stored in clear)."""
    indexes = list(cmd.blind_indexes)
    if cmd.email:
        indexes.append(uow.indexer.email(cmd.email))
    if cmd.phone:
        indexes.append(uow.indexer.phone(cmd.phone))
    async with uow:
        objection = Objection.record(contact_id=cmd.contact_id, scope=cmd.scope, at=uow.clock(),
                                     blind_indexes=indexes)
        uow.objections.add(objection)
        await uow.commit(actor=cmd.actor)
    return objection


@dataclass(frozen=True)
class ContactConsentData:
    """What consent holds about one contact."""

    contact_id: str
    consents: list[Consent]
    deliveries: list[NoticeDelivery]
    objections: list[Objection]


async def contact_consents(contact_id: str, uow: ConsentUnitOfWork) -> ContactConsentData:
    """Returns a contact's consents (history included), deliveries and objections; NotFoundError if none."""
    async with uow:
        data = ContactConsentData(contact_id=contact_id, consents=await uow.consents.for_contact(contact_id),
                                  deliveries=await uow.deliveries.for_contact(contact_id),
                                  objections=await uow.objections.for_contact(contact_id))
    if not (data.consents or data.deliveries or data.objections):
        raise NotFoundError("consent data of contact", contact_id)
    return data


# --- Processors.


async def register_processor(cmd: commands.RegisterProcessor, uow: ConsentUnitOfWork) -> Processor:
    """Enters a vendor in the registry; gaps do not stop registration."""
    async with uow:
        processor = Processor.register(legal_name=cmd.legal_name, role=cmd.role, at=uow.clock(), **cmd.fields)
        uow.processors.add(processor)
        await uow.commit(actor=cmd.actor)
    return processor


async def list_processors(uow: ConsentUnitOfWork) -> list[Processor]:
    """Returns every vendor of the registry."""
    async with uow:
        return await uow.processors.list_all()


async def update_processor(cmd: commands.UpdateProcessor, uow: ConsentUnitOfWork) -> Processor:
    """Applies a PATCH to a vendor (an ended one cannot change)."""
    async with uow:
        processor = await uow.processors.get(cmd.processor_id, for_update=True)
        if processor is None:
            raise NotFoundError("processor", cmd.processor_id)
        processor.update(at=uow.clock(), **cmd.changes)
        await uow.commit(actor=cmd.actor)
    return processor


# --- Erasure (consumer of contacts.events).


async def erase_contact_data(cmd: commands.EraseContactData, uow: ConsentUnitOfWork) -> ErasurePlan | None:
    """Deletes a contact's consents and deliveries, keeps its objections' blind indexes; once per event."""
    async with uow:
        if not await uow.first_delivery(event_id=cmd.event_id, topic=cmd.topic):
            return None
        plan = erase_subject(contact_id=cmd.contact_id,
                             consents=await uow.consents.for_contact(cmd.contact_id, for_update=True),
                             deliveries=await uow.deliveries.for_contact(cmd.contact_id),
                             objections=await uow.objections.for_contact(cmd.contact_id), at=uow.clock())
        await uow.consents.delete(plan.consent_ids)
        await uow.deliveries.delete(plan.delivery_ids)
        for kept in plan.kept_objections:
            uow.objections.add(kept)
        uow.publish(plan.event)
        await uow.commit(actor=cmd.actor)
    return plan
