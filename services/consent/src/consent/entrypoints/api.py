"""The consent HTTP API (`/v1/…`, SPEC §4): thin translators between HTTP and the handlers."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from consent.domain.model import (
    Collector,
    ConsentProof,
    DataCategory,
    Party,
    Purpose,
    SecurityMeasures,
    Transfer,
    truncate_ip,
)
from consent.domain.processors import Location, Processor, ProcessorContract, SubProcessor, contract_gaps
from consent.entrypoints import schemas
from consent.entrypoints.deps import AdminWriter, IntegratorWriter, Reader, UnitOfWorkDep
from consent.service_layer import commands, handlers

router = APIRouter(prefix="/v1", tags=["consent"])


def _party(body: schemas.Party | None) -> Party | None:
    return Party(name=body.name, contact=body.contact) if body is not None else None


def _purpose_read(purpose: Purpose) -> schemas.PurposeRead:
    current = purpose.current
    return schemas.PurposeRead(
        purpose_id=purpose.purpose_id, current_version=current.version if current else None,
        versions=[schemas.PurposeVersionRead.model_validate(v, from_attributes=True) for v in purpose.versions])


def _processor_read(processor: Processor) -> schemas.ProcessorRead:
    now = datetime.now(UTC)
    read = schemas.ProcessorRead.model_validate(processor, from_attributes=True)
    return read.model_copy(update={"gaps": contract_gaps(processor, at=now), "usable": processor.is_usable(at=now)})


def _stored_ip(ip: str | None) -> str | None:
    # Because only a truncated or keyed-hashed IP may be kept (UNI-04): a full address is cut to its network.
    if ip is None:
        return None
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return truncate_ip(ip)


# --- Register of processing.


@router.post("/purposes", status_code=201, response_model=schemas.PurposeRead)
async def register_purpose(body: schemas.PurposeCreate, uow: UnitOfWorkDep, principal: AdminWriter,
                           response: Response) -> schemas.PurposeRead:
    """Enters a purpose in the register of processing at version 1."""
    measures = body.security_measures
    fields: dict[str, Any] = {
        "purpose_id": body.purpose_id, "name": body.name, "controller": _party(body.controller),
        "dpo": _party(body.dpo), "description": body.description, "lawful_basis": body.lawful_basis,
        "legitimate_interest": body.legitimate_interest,
        "data_categories": {DataCategory(c): tuple(items) for c, items in body.data_categories.items()},
        "special_categories": body.special_categories, "special_categories_detail": body.special_categories_detail,
        "data_subjects": body.data_subjects, "recipients_internal": body.recipients_internal,
        "recipients_external": body.recipients_external, "processor_ids": body.processor_ids,
        "retention": body.retention,
        "transfers": [Transfer(recipient=t.recipient, country=t.country.upper(), safeguard=t.safeguard,
                               documentation=t.documentation) for t in body.transfers],
        "security_measures": SecurityMeasures(**measures.model_dump()) if measures else None,
        "dpia_required": body.dpia_required, "joint_controller": _party(body.joint_controller),
        "software": body.software,
    }
    purpose = await handlers.register_purpose(commands.RegisterPurpose(actor=principal.actor, fields=fields), uow)
    response.headers["Location"] = f"/v1/purposes/{purpose.purpose_id}"
    return _purpose_read(purpose)


@router.get("/purposes", response_model=schemas.PurposeList)
async def list_purposes(uow: UnitOfWorkDep, _principal: Reader) -> schemas.PurposeList:
    """Lists the register's entries with their version history."""
    return schemas.PurposeList(items=[_purpose_read(p) for p in await handlers.list_purposes(uow)])


@router.get("/register", response_model=None)
async def export_register(uow: UnitOfWorkDep, _principal: Reader,
                          format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - SPEC name.
                          at: Annotated[datetime | None, Query()] = None) -> Any:
    """Exports the register in the CNIL template's columns (M.4), as of now or of `at`."""
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    exported = await handlers.register_export(uow, at=at, fmt=format)
    if format == "csv":
        return Response(content=exported, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="registre.csv"'})
    return exported


# --- Notices.


@router.post("/notices", status_code=201, response_model=schemas.NoticeRead)
async def publish_notice(body: schemas.NoticeCreate, uow: UnitOfWorkDep, principal: AdminWriter,
                         response: Response) -> schemas.NoticeRead:
    """Checks a notice's mandatory Art. 13/14 content and publishes it; 422 names the missing items."""
    notice = await handlers.publish_notice(commands.PublishNotice(
        actor=principal.actor, language=body.language, article=body.article, purpose_ids=tuple(body.purpose_ids),
        content=body.content, not_applicable=tuple(body.not_applicable), notice_id=body.notice_id), uow)
    response.headers["Location"] = f"/v1/notices/{notice.notice_id}"
    return schemas.NoticeRead(notice_id=notice.notice_id, version=notice.version, language=notice.language,
                              article=notice.article.value, purpose_ids=list(notice.purpose_ids),
                              not_applicable=sorted(notice.not_applicable), content_hash=notice.content_hash,
                              published_at=notice.published_at)


@router.post("/notices/{notice_id}/deliveries", status_code=201, response_model=schemas.DeliveryRead)
async def deliver_notice(notice_id: str, body: schemas.DeliveryCreate, uow: UnitOfWorkDep,
                         principal: IntegratorWriter) -> schemas.DeliveryRead:
    """Records that a published notice version (default: the latest) reached a contact."""
    delivery = await handlers.deliver_notice(commands.DeliverNotice(
        actor=principal.actor, notice_id=notice_id, contact_id=body.contact_id, channel=body.channel,
        delivered_at=body.delivered_at, notice_version=body.notice_version, evidence=body.evidence), uow)
    return schemas.DeliveryRead.model_validate(delivery, from_attributes=True)


# --- Consents and objections.


@router.post("/consents", status_code=201, response_model=schemas.ConsentRead)
async def grant_consent(body: schemas.ConsentCreate, uow: UnitOfWorkDep, principal: IntegratorWriter,
                        response: Response) -> schemas.ConsentRead:
    """Records a consent; 422 when the purpose is unregistered or its lawful basis is not consent."""
    proof = ConsentProof(captured_at=body.proof.captured_at, source=body.proof.source,
                         ip=_stored_ip(body.proof.ip), user_agent=body.proof.user_agent)
    collector = (Collector(kind=body.collector.kind, name=body.collector.name,
                           partner_list_shown=tuple(body.collector.partner_list_shown))
                 if body.collector else None)
    consent = await handlers.grant_consent(commands.GrantConsent(
        actor=principal.actor, contact_id=body.contact_id, purpose_id=body.purpose_id, channel=body.channel,
        collection_method=body.collection_method, wording=body.wording, proof=proof, notice_id=body.notice_id,
        notice_version=body.notice_version, collector=collector, double_opt_in=body.double_opt_in), uow)
    response.headers["Location"] = f"/v1/consents/{consent.consent_id}"
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.post("/consents/{consent_id}/confirmation", response_model=schemas.ConsentRead)
async def confirm_consent(consent_id: str, uow: UnitOfWorkDep, principal: IntegratorWriter) -> schemas.ConsentRead:
    """Confirms a pending double opt-in consent."""
    consent = await handlers.confirm_consent(commands.ConfirmConsent(actor=principal.actor, consent_id=consent_id),
                                             uow)
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.post("/consents/{consent_id}/withdrawal", response_model=schemas.ConsentRead)
async def withdraw_consent(consent_id: str, uow: UnitOfWorkDep, principal: IntegratorWriter,
                           body: schemas.WithdrawalCreate | None = None) -> schemas.ConsentRead:
    """Withdraws a consent; the record stays with its grant and withdrawal times (409 if already withdrawn)."""
    consent = await handlers.withdraw_consent(commands.WithdrawConsent(
        actor=principal.actor, consent_id=consent_id, source=body.source if body else None), uow)
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.get("/contacts/{contact_id}/consents", response_model=schemas.ContactConsents)
async def contact_consents(contact_id: str, uow: UnitOfWorkDep, _principal: Reader) -> schemas.ContactConsents:
    """Returns a contact's consents (history included), notice deliveries and objections; 404 when none."""
    data = await handlers.contact_consents(contact_id, uow)
    return schemas.ContactConsents(
        contact_id=contact_id,
        consents=[schemas.ConsentRead.model_validate(c, from_attributes=True) for c in data.consents],
        deliveries=[schemas.DeliveryRead.model_validate(d, from_attributes=True) for d in data.deliveries],
        objections=[schemas.ObjectionRead.model_validate(o, from_attributes=True) for o in data.objections])


@router.post("/objections", status_code=201, response_model=schemas.ObjectionRead)
async def record_objection(body: schemas.ObjectionCreate, uow: UnitOfWorkDep,
                           principal: IntegratorWriter) -> schemas.ObjectionRead:
    """Records an objection to direct marketing; it is never refused and outlives an erasure."""
    objection = await handlers.record_objection(commands.RecordObjection(
        actor=principal.actor, scope=str(body.scope), contact_id=body.contact_id, email=body.email,
        phone=body.phone, blind_indexes=tuple(body.blind_indexes)), uow)
    return schemas.ObjectionRead.model_validate(objection, from_attributes=True)


# --- Processors.


def _processor_fields(body: schemas.ProcessorCreate | schemas.ProcessorUpdate, names: set[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if name == "contract":
            value = ProcessorContract(**value.model_dump()) if value is not None else None
        elif name == "sub_processors":
            value = tuple(SubProcessor(**{**s.model_dump(), "country": s.country.upper()}) for s in value or ())
        elif name == "locations":
            value = tuple(Location(country=loc.country.upper(), activity=loc.activity) for loc in value or ())
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    return fields


@router.post("/processors", status_code=201, response_model=schemas.ProcessorRead)
async def register_processor(body: schemas.ProcessorCreate, uow: UnitOfWorkDep, principal: AdminWriter,
                             response: Response) -> schemas.ProcessorRead:
    """Registers a vendor; its contract gaps are listed, they do not stop the registration."""
    fields = _processor_fields(body, set(schemas.ProcessorCreate.model_fields) - {"legal_name", "role"})
    processor = await handlers.register_processor(commands.RegisterProcessor(
        actor=principal.actor, legal_name=body.legal_name, role=body.role, fields=fields), uow)
    response.headers["Location"] = f"/v1/processors/{processor.processor_id}"
    return _processor_read(processor)


@router.get("/processors", response_model=schemas.ProcessorList)
async def list_processors(uow: UnitOfWorkDep, _principal: Reader) -> schemas.ProcessorList:
    """Lists the vendor registry with each vendor's current gaps."""
    return schemas.ProcessorList(items=[_processor_read(p) for p in await handlers.list_processors(uow)])


@router.patch("/processors/{processor_id}", response_model=schemas.ProcessorRead)
async def update_processor(processor_id: str, body: schemas.ProcessorUpdate, uow: UnitOfWorkDep,
                           principal: AdminWriter) -> schemas.ProcessorRead:
    """Changes the given fields of a vendor (409 once it has ended)."""
    changes = _processor_fields(body, body.model_fields_set)
    processor = await handlers.update_processor(commands.UpdateProcessor(
        actor=principal.actor, processor_id=processor_id, changes=changes), uow)
    return _processor_read(processor)
