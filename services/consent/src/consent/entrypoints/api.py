"""The consent HTTP API (`/v1/…`, SPEC §4): thin translators between HTTP and the handlers."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Response
from shared.web import MAX_INTEGER

from consent.domain import breaches, parties, register
from consent.domain.contract_terms import (
    Assignment,
    Confidentiality,
    ContractTerms,
    Licence,
    Reversibility,
    SecurityObligations,
)
from consent.domain.model import (
    Collector,
    ConsentProof,
    DataCategory,
    Party,
    Purpose,
    SecurityMeasures,
    TermsEntered,
    Transfer,
    truncate_ip,
)
from consent.domain.notices import Notice
from consent.domain.processors import Location, Processor, ProcessorContract, SubProcessor, contract_gaps
from consent.entrypoints import schemas
from consent.entrypoints.deps import (
    AdminWriter,
    AuditReader,
    DpoReader,
    DpoWriter,
    IntegratorWriter,
    Reader,
    ServiceDep,
    UnitOfWorkDep,
)
from consent.service_layer import commands, handlers

router = APIRouter(prefix="/v1", tags=["consent"])


def _party(body: schemas.Party | None) -> Party | None:
    return Party(name=body.name, contact=body.contact) if body is not None else None


def _purpose_read(purpose: Purpose) -> schemas.PurposeRead:
    current = purpose.current
    return schemas.PurposeRead(
        purpose_id=purpose.purpose_id,
        current_version=current.version if current else None,
        versions=[
            schemas.PurposeVersionRead.model_validate(v, from_attributes=True) for v in purpose.versions
        ],
    )


def _processor_read(processor: Processor, now: datetime) -> schemas.ProcessorRead:
    read = schemas.ProcessorRead.model_validate(processor, from_attributes=True)
    return read.model_copy(
        update={"gaps": contract_gaps(processor, at=now), "usable": processor.is_usable(at=now)}
    )


def _stored_ip(ip: str | None) -> str | None:
    # Because only a truncated or keyed-hashed IP may be kept (UNI-04): a full address is cut to its network.
    if ip is None:
        return None
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return truncate_ip(ip)


Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=500)]


def _encode_cursor(kind: str, value: Any, record_id: str) -> str:
    # Because the cursor is opaque to callers: a keyset (sort value, id) they hand back unchanged.
    plain_value = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([kind, plain_value, record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: str, cursor: str | None, *, as_time: bool = False) -> tuple[Any, Any] | None:
    if cursor is None:
        return None
    try:
        found_kind, value, record_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if found_kind != kind or not isinstance(record_id, str):
            raise ValueError(kind)
        return (datetime.fromisoformat(value) if as_time else str(value)), record_id
    except (ValueError, TypeError, binascii.Error) as exc:
        raise HTTPException(status_code=422, detail="cursor: not a cursor of this list") from exc


def _next_cursor(kind: str, items: list[Any], limit: int, key: Any) -> str | None:
    if len(items) < limit:
        return None
    value, record_id = key(items[-1])
    return _encode_cursor(kind, value, record_id)


_MaybeTime = TypeVar("_MaybeTime", bound=datetime | None)


def _aware_query(name: str, value: _MaybeTime) -> _MaybeTime:
    if value is not None and value.tzinfo is None:
        raise HTTPException(status_code=422, detail=f"{name}: must carry a time zone")
    return value


# --- Register of processing.


@router.post("/purposes", status_code=201, response_model=schemas.PurposeRead)
async def register_purpose(
    body: schemas.PurposeCreate, uow: UnitOfWorkDep, principal: AdminWriter, response: Response
) -> schemas.PurposeRead:
    """Enters a purpose in the register of processing at version 1."""
    measures = body.security_measures
    purpose = await handlers.register_purpose(
        commands.RegisterPurpose(
            actor=principal.actor,
            purpose_id=body.purpose_id,
            name=body.name,
            controller=Party(name=body.controller.name, contact=body.controller.contact),
            dpo=_party(body.dpo),
            description=body.description,
            lawful_basis=body.lawful_basis,
            legitimate_interest=body.legitimate_interest,
            data_categories={DataCategory(c): tuple(items) for c, items in body.data_categories.items()},
            special_categories=body.special_categories,
            special_categories_detail=tuple(body.special_categories_detail),
            data_subjects=tuple(body.data_subjects),
            recipients_internal=tuple(body.recipients_internal),
            recipients_external=tuple(body.recipients_external),
            processor_ids=tuple(body.processor_ids),
            retention=body.retention,
            transfers=tuple(
                Transfer(
                    recipient=t.recipient,
                    country=t.country.upper(),
                    safeguard=t.safeguard,
                    documentation=t.documentation,
                )
                for t in body.transfers
            ),
            security_measures=SecurityMeasures(**measures.model_dump()) if measures else None,
            dpia_required=body.dpia_required,
            joint_controller=_party(body.joint_controller),
            software=body.software,
            art14_exemption_claimed=body.art14_exemption_claimed,
            art14_exemption_ground=body.art14_exemption_ground,
            channels=tuple(body.channels),
            retention_months=body.retention_months,
            profiling=body.profiling,
            dpia_reference=body.dpia_reference,
        ),
        uow,
    )
    response.headers["Location"] = f"/v1/purposes/{purpose.purpose_id}"
    return _purpose_read(purpose)


@router.get("/purposes", response_model=schemas.PurposeList)
async def list_purposes(
    uow: UnitOfWorkDep, _principal: Reader, limit: Limit = 100, cursor: Cursor = None
) -> schemas.PurposeList:
    """Lists the register's entries with their version history, in order of registration (paginated)."""
    found = await handlers.list_purposes(
        uow, after=_decode_cursor("purposes", cursor, as_time=True), limit=limit
    )
    return schemas.PurposeList(
        items=[_purpose_read(p) for p in found],
        next_cursor=_next_cursor(
            "purposes", found, limit, lambda p: (p.versions[0].valid_from, p.purpose_id)
        ),
    )


@router.get("/purposes/{purpose_id}", response_model=schemas.PurposeRead)
async def get_purpose(purpose_id: str, uow: UnitOfWorkDep, _principal: AuditReader) -> schemas.PurposeRead:
    """Returns one register entry with its version history (404 if unknown)."""
    return _purpose_read(await handlers.get_purpose_or_raise(purpose_id, uow))


def _purpose_fields(body: schemas.PurposeUpdate) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name in ("controller", "dpo", "joint_controller"):
            value = _party(value)
        elif name == "data_categories":
            value = {DataCategory(c): tuple(items) for c, items in (value or {}).items()}
        elif name == "transfers":
            value = tuple(
                Transfer(
                    recipient=t.recipient,
                    country=t.country.upper(),
                    safeguard=t.safeguard,
                    documentation=t.documentation,
                )
                for t in value or ()
            )
        elif name == "security_measures":
            value = SecurityMeasures(**value.model_dump()) if value is not None else SecurityMeasures()
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    return fields


@router.patch("/purposes/{purpose_id}", response_model=schemas.PurposeRead)
async def revise_purpose(
    purpose_id: str, body: schemas.PurposeUpdate, uow: UnitOfWorkDep, principal: AdminWriter
) -> schemas.PurposeRead:
    """Makes the next version of a register entry with the given fields; the previous one is closed."""
    purpose = await handlers.revise_purpose(
        commands.RevisePurpose(
            actor=principal.actor,
            purpose_id=purpose_id,
            changes=commands.PurposeChanges(**_purpose_fields(body)),
        ),
        uow,
    )
    return _purpose_read(purpose)


@router.post("/purposes/{purpose_id}/retirement", response_model=schemas.PurposeRead)
async def retire_purpose(purpose_id: str, uow: UnitOfWorkDep, principal: AdminWriter) -> schemas.PurposeRead:
    """Ends a register entry: no version stays in force, consents for it are refused, history stays."""
    purpose = await handlers.retire_purpose(
        commands.RetirePurpose(actor=principal.actor, purpose_id=purpose_id), uow
    )
    return _purpose_read(purpose)


@router.get("/register", response_model=None)
async def export_register(
    uow: UnitOfWorkDep,
    _principal: AuditReader,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - SPEC name.
    at: Annotated[datetime | None, Query()] = None,
) -> Any:
    """Exports the register in the CNIL template's columns (M.4), as of now or of `at`."""
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    exported = await handlers.register_export(uow, at=at, fmt=format)
    if format == "csv":
        return Response(
            content=exported,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="registre.csv"'},
        )
    return exported


# --- Notices.


@router.post("/notices", status_code=201, response_model=schemas.NoticeRead)
async def publish_notice(
    body: schemas.NoticeCreate, uow: UnitOfWorkDep, principal: AdminWriter, response: Response
) -> schemas.NoticeRead:
    """Checks a notice's mandatory Art. 13/14 content and publishes it; 422 names the missing items."""
    notice = await handlers.publish_notice(
        commands.PublishNotice(
            actor=principal.actor,
            language=body.language,
            article=body.article,
            purpose_ids=tuple(body.purpose_ids),
            content=body.content,
            not_applicable=tuple(body.not_applicable),
            notice_id=body.notice_id,
        ),
        uow,
    )
    response.headers["Location"] = f"/v1/notices/{notice.notice_id}"
    return _notice_read(notice)


def _notice_read(notice: Notice) -> schemas.NoticeRead:
    return schemas.NoticeRead(
        notice_id=notice.notice_id,
        version=notice.version,
        language=notice.language,
        article=notice.article.value,
        purpose_ids=list(notice.purpose_ids),
        not_applicable=sorted(notice.not_applicable),
        content_hash=notice.content_hash,
        published_at=notice.published_at,
    )


@router.get("/notices/{notice_id}", response_model=schemas.NoticeRead)
async def get_notice(
    notice_id: str,
    uow: UnitOfWorkDep,
    _principal: AuditReader,
    version: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
) -> schemas.NoticeRead:
    """Returns a notice version (default: the latest) with its content hash (404 if unknown)."""
    return _notice_read(await handlers.get_notice_or_raise(notice_id, uow, version=version))


@router.post("/notices/{notice_id}/deliveries", status_code=201, response_model=schemas.DeliveryRead)
async def deliver_notice(
    notice_id: str, body: schemas.DeliveryCreate, uow: UnitOfWorkDep, principal: IntegratorWriter
) -> schemas.DeliveryRead:
    """Records that a published notice version (default: the latest) reached a contact."""
    delivery = await handlers.deliver_notice(
        commands.DeliverNotice(
            actor=principal.actor,
            notice_id=notice_id,
            contact_id=body.contact_id,
            channel=body.channel,
            delivered_at=body.delivered_at,
            notice_version=body.notice_version,
            evidence=body.evidence,
        ),
        uow,
    )
    return schemas.DeliveryRead.model_validate(delivery, from_attributes=True)


# --- Consents and objections.


@router.post("/consents", status_code=201, response_model=schemas.ConsentRead)
async def grant_consent(
    body: schemas.ConsentCreate, uow: UnitOfWorkDep, principal: IntegratorWriter, response: Response
) -> schemas.ConsentRead:
    """Records a consent; 422 when the purpose is unregistered or its lawful basis is not consent."""
    proof = ConsentProof(
        captured_at=body.proof.captured_at,
        source=body.proof.source,
        ip=_stored_ip(body.proof.ip),
        user_agent=body.proof.user_agent,
    )
    collector = (
        Collector(
            kind=body.collector.kind,
            name=body.collector.name,
            partner_list_shown=tuple(body.collector.partner_list_shown),
        )
        if body.collector
        else None
    )
    consent = await handlers.grant_consent(
        commands.GrantConsent(
            actor=principal.actor,
            contact_id=body.contact_id,
            purpose_id=body.purpose_id,
            channel=body.channel,
            collection_method=body.collection_method,
            wording=body.wording,
            proof=proof,
            notice_id=body.notice_id,
            notice_version=body.notice_version,
            collector=collector,
            double_opt_in=body.double_opt_in,
            terms=TermsEntered(
                act=body.terms.act,
                positive_act=body.terms.positive_act,
                withdrawal_info_given=body.terms.withdrawal_info_given,
                withdrawal_statement=body.terms.withdrawal_statement,
                explicit=body.terms.explicit,
                given_by=tuple(body.terms.given_by),
            ),
            out_of_hours_calls=body.out_of_hours_calls,
            partners=tuple(body.partners),
            partner_categories=tuple(body.partner_categories),
            email_tracking=body.email_tracking,
        ),
        uow,
    )
    response.headers["Location"] = f"/v1/consents/{consent.consent_id}"
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.get("/consents/{consent_id}", response_model=schemas.ConsentRead)
async def get_consent(consent_id: str, uow: UnitOfWorkDep, _principal: Reader) -> schemas.ConsentRead:
    """Returns one consent record with its proof (404 if unknown or erased)."""
    return schemas.ConsentRead.model_validate(
        await handlers.get_consent_or_raise(consent_id, uow), from_attributes=True
    )


@router.post("/consents/{consent_id}/confirmation", response_model=schemas.ConsentRead)
async def confirm_consent(
    consent_id: str, uow: UnitOfWorkDep, principal: IntegratorWriter
) -> schemas.ConsentRead:
    """Confirms a pending double opt-in consent."""
    consent = await handlers.confirm_consent(
        commands.ConfirmConsent(actor=principal.actor, consent_id=consent_id), uow
    )
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.post("/consents/{consent_id}/withdrawal", response_model=schemas.ConsentRead)
async def withdraw_consent(
    consent_id: str,
    uow: UnitOfWorkDep,
    principal: IntegratorWriter,
    body: schemas.WithdrawalCreate | None = None,
) -> schemas.ConsentRead:
    """Withdraws a consent; the record stays with its grant and withdrawal times (409 if already
    withdrawn)."""
    consent = await handlers.withdraw_consent(
        commands.WithdrawConsent(
            actor=principal.actor, consent_id=consent_id, source=body.source if body else None
        ),
        uow,
    )
    return schemas.ConsentRead.model_validate(consent, from_attributes=True)


@router.get("/contacts/{contact_id}/consents", response_model=schemas.ContactConsents)
async def contact_consents(
    contact_id: str, uow: UnitOfWorkDep, _principal: Reader
) -> schemas.ContactConsents:
    """Returns a contact's consents (history included), notice deliveries and objections; 404 when none."""
    data = await handlers.contact_consents(contact_id, uow)
    return schemas.ContactConsents(
        contact_id=contact_id,
        consents=[schemas.ConsentRead.model_validate(c, from_attributes=True) for c in data.consents],
        deliveries=[schemas.DeliveryRead.model_validate(d, from_attributes=True) for d in data.deliveries],
        objections=[schemas.ObjectionRead.model_validate(o, from_attributes=True) for o in data.objections],
    )


@router.post("/objections", status_code=201, response_model=schemas.ObjectionRead)
async def record_objection(
    body: schemas.ObjectionCreate, uow: UnitOfWorkDep, principal: IntegratorWriter
) -> schemas.ObjectionRead:
    """Records an objection to direct marketing; it is never refused and outlives an erasure."""
    objection = await handlers.record_objection(
        commands.RecordObjection(
            actor=principal.actor,
            scope=str(body.scope),
            channel=body.channel.value if body.channel else None,
            purpose_id=body.purpose_id,
            contact_id=body.contact_id,
            email=body.email,
            phone=body.phone,
            blind_indexes=tuple(body.blind_indexes),
        ),
        uow,
    )
    return schemas.ObjectionRead.model_validate(objection, from_attributes=True)


def _matches(indexes: list[str], found: list[Any]) -> schemas.ObjectionMatches:
    asked = set(indexes)
    matched = sorted({i for o in found for i in o.blind_indexes if i in asked})
    return schemas.ObjectionMatches(
        matched_blind_indexes=matched,
        items=[schemas.ObjectionRead.model_validate(o, from_attributes=True) for o in found],
    )


@router.get("/objections", response_model=schemas.ObjectionMatches)
async def find_objections(
    service: ServiceDep,
    uow: UnitOfWorkDep,
    _principal: Reader,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    blind_index: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
) -> schemas.ObjectionMatches:
    """Finds the objections of a person by e-mail, phone or blind index, erased contacts' included (UNI-02).

    E-mail and phone are only turned into blind indexes, never stored or logged.
    """
    indexes = [blind_index] if blind_index else []
    if email:
        indexes.append(service.indexer.email(email))
    if phone:
        indexes.append(service.indexer.phone(phone))
    if not indexes:
        raise HTTPException(status_code=422, detail="give email, phone or blind_index")
    return _matches(indexes, await handlers.match_objections(indexes, uow))


@router.post("/objections/matches", response_model=schemas.ObjectionMatches)
async def match_objections(
    body: schemas.ObjectionMatchQuery, uow: UnitOfWorkDep, _principal: Reader
) -> schemas.ObjectionMatches:
    """Matches up to 1000 blind indexes against the objection list at once (an import's check, UNI-02)."""
    indexes = list(dict.fromkeys(body.blind_indexes))
    return _matches(indexes, await handlers.match_objections(indexes, uow))


@router.get("/contacts/{contact_id}/art14-deadline", response_model=schemas.Art14StatusRead)
async def art14_deadline(
    contact_id: str,
    uow: UnitOfWorkDep,
    _principal: Reader,
    obtained_at: Annotated[datetime, Query()],
    first_communication_at: Annotated[datetime | None, Query()] = None,
    first_disclosure_at: Annotated[datetime | None, Query()] = None,
) -> schemas.Art14StatusRead:
    """Returns when the contact's Art. 14 notice is due (INFO-02) and whether one was delivered by then.

    The caller (contacts, the gate) gives when the data was obtained and, if known, the first
    communication and disclosure; consent holds the deliveries.
    """
    status = await handlers.art14_status(
        contact_id,
        uow,
        obtained_at=_aware_query("obtained_at", obtained_at),
        first_communication_at=_aware_query("first_communication_at", first_communication_at),
        first_disclosure_at=_aware_query("first_disclosure_at", first_disclosure_at),
    )
    return schemas.Art14StatusRead.model_validate(status, from_attributes=True)


# --- Processors.


def _processor_fields(
    body: schemas.ProcessorCreate | schemas.ProcessorUpdate, names: set[str]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if name == "contract":
            value = ProcessorContract(**value.model_dump()) if value is not None else None
        elif name == "sub_processors":
            value = tuple(
                SubProcessor(**{**s.model_dump(), "country": s.country.upper()}) for s in value or ()
            )
        elif name == "locations":
            value = tuple(Location(country=loc.country.upper(), activity=loc.activity) for loc in value or ())
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    return fields


@router.post("/processors", status_code=201, response_model=schemas.ProcessorRead)
async def register_processor(
    body: schemas.ProcessorCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: AdminWriter,
    response: Response,
) -> schemas.ProcessorRead:
    """Registers a vendor; its contract gaps are listed, they do not stop the registration."""
    fields = _processor_fields(body, set(schemas.ProcessorCreate.model_fields) - {"legal_name", "role"})
    processor = await handlers.register_processor(
        commands.RegisterProcessor(
            actor=principal.actor, legal_name=body.legal_name, role=body.role, **fields
        ),
        uow,
    )
    response.headers["Location"] = f"/v1/processors/{processor.processor_id}"
    return _processor_read(processor, service.now())


@router.get("/processors", response_model=schemas.ProcessorList)
async def list_processors(
    uow: UnitOfWorkDep, service: ServiceDep, _principal: Reader, limit: Limit = 100, cursor: Cursor = None
) -> schemas.ProcessorList:
    """Lists the vendor registry with each vendor's current gaps, by legal name (paginated)."""
    found = await handlers.list_processors(uow, after=_decode_cursor("processors", cursor), limit=limit)
    now = service.now()
    return schemas.ProcessorList(
        items=[_processor_read(p, now) for p in found],
        next_cursor=_next_cursor("processors", found, limit, lambda p: (p.legal_name, p.processor_id)),
    )


@router.patch("/processors/{processor_id}", response_model=schemas.ProcessorRead)
async def update_processor(
    processor_id: str,
    body: schemas.ProcessorUpdate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: AdminWriter,
) -> schemas.ProcessorRead:
    """Changes the given fields of a vendor (409 once it has ended)."""
    changes = commands.ProcessorChanges(**_processor_fields(body, body.model_fields_set))
    processor = await handlers.update_processor(
        commands.UpdateProcessor(actor=principal.actor, processor_id=processor_id, changes=changes), uow
    )
    return _processor_read(processor, service.now())


# --- Parties and their contracts (issue 10).


def _contract_read(
    party: parties.Party, contract: parties.Contract, now: datetime
) -> schemas.PartyContractRead:
    return schemas.PartyContractRead(
        contract_id=contract.contract_id,
        party_id=contract.party_id,
        version=contract.version,
        reference=contract.reference,
        signed_at=contract.signed_at,
        expires_at=contract.expires_at,
        recorded_at=contract.recorded_at,
        clauses=sorted(contract.clauses),
        clauses_present=sorted(contract.present_clauses()),
        missing_clauses=contract.missing_clauses(party.roles),
        breach_notification_hours=contract.breach_notification_hours,
        scc_2021_915=contract.scc_2021_915,
        licence_scope=contract.licence_scope,
        in_force=contract.in_force_at(now),
        terms=schemas.ContractTermsRead.model_validate(contract.terms, from_attributes=True)
        if contract.terms
        else None,
        term_findings=_rule_findings(parties.term_findings(party, contract, at=now)),
    )


def _rule_findings(found: list[Any]) -> list[schemas.RuleFindingRead]:
    return [schemas.RuleFindingRead(rule=f.rule, field=f.field, message=f.message) for f in found]


def _territory(values: list[str]) -> tuple[str, ...]:
    # Because country codes are compared upper-case, as the processors' locations are.
    return tuple(v.upper() if len(v) == 2 else v for v in values)


def _contract_terms(body: schemas.ContractTermsIn | None) -> ContractTerms | None:
    if body is None:
        return None
    a, lic, c, sec = body.assignment, body.licence, body.confidentiality, body.security
    return ContractTerms(
        developments_owner=body.developments_owner,
        parameterisation_owner=body.parameterisation_owner,
        assignment=None
        if a is None
        else Assignment(
            document=a.document,
            covers=tuple(dict.fromkeys(a.covers)),
            rights=tuple(a.rights),
            territory=_territory(a.territory),
            duration_years=a.duration_years,
            full_term_of_protection=a.full_term_of_protection,
            destination=a.destination,
        ),
        licence=None
        if lic is None
        else Licence(
            scope=lic.scope,
            territory=_territory(lic.territory),
            duration_years=lic.duration_years,
            exclusive=lic.exclusive,
            may_modify=lic.may_modify,
        ),
        confidentiality=None
        if c is None
        else Confidentiality(staff_bound=c.staff_bound, instrument=c.instrument, reference=c.reference),
        security=None if sec is None else SecurityObligations(**sec.model_dump()),
        reversibility=None
        if body.reversibility is None
        else Reversibility(**body.reversibility.model_dump()),
    )


def _party_public(view: handlers.PartyView, now: datetime) -> schemas.PartyPublic:
    party = view.party
    return schemas.PartyPublic(
        party_id=party.party_id,
        legal_name=party.legal_name,
        roles=list(party.roles),
        status=party.status,
        registration_id=party.registration_id,
        contact=party.contact,
        purpose_ids=list(party.purpose_ids),
        data_categories=list(party.data_categories),
        systems=list(party.systems),
        processor_id=party.processor_id,
        broker_last_verified_at=party.broker_last_verified_at,
        registered_at=party.registered_at,
        updated_at=party.updated_at,
        required_clauses=list(parties.required_clauses(party.roles)),
        current_contract=_contract_read(party, view.current, now) if view.current else None,
        findings=[
            schemas.FindingRead(code=f.code, message=f.message, role=f.role, clause=f.clause)
            for f in view.findings
        ],
        usable=not view.findings,
        term_findings=_rule_findings(parties.term_findings(party, view.current, at=now)),
    )


def _party_fields(body: schemas.PartyCreate | schemas.PartyUpdate, names: set[str]) -> dict[str, Any]:
    return {name: tuple(value) if isinstance(value := getattr(body, name), list) else value for name in names}


@router.post("/parties", status_code=201, response_model=schemas.PartyPublic)
async def register_party(
    body: schemas.PartyCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: AdminWriter,
    response: Response,
) -> schemas.PartyPublic:
    """Registers a party with its roles and scope; what it lacks (a contract first) is listed in
    `findings`."""
    fields = _party_fields(body, set(schemas.PartyCreate.model_fields) - {"legal_name", "roles"})
    view = await handlers.register_party(
        commands.RegisterParty(
            actor=principal.actor, legal_name=body.legal_name, roles=tuple(body.roles), **fields
        ),
        uow,
        broker_max_age=service.broker_max_age,
    )
    response.headers["Location"] = f"/v1/parties/{view.party.party_id}"
    return _party_public(view, service.now())


@router.get("/parties", response_model=schemas.PartyList)
async def list_parties(
    uow: UnitOfWorkDep,
    service: ServiceDep,
    _principal: AuditReader,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> schemas.PartyList:
    """Lists the parties by legal name with their current contract and findings (paginated)."""
    views = await handlers.list_parties(
        uow, after=_decode_cursor("parties", cursor), limit=limit, broker_max_age=service.broker_max_age
    )
    now = service.now()
    return schemas.PartyList(
        items=[_party_public(v, now) for v in views],
        next_cursor=_next_cursor("parties", views, limit, lambda v: (v.party.legal_name, v.party.party_id)),
    )


@router.get("/parties/export.csv", response_model=None)
async def export_parties(uow: UnitOfWorkDep, service: ServiceDep, _principal: AuditReader) -> Response:
    """Exports every party and contract version as CSV for auditors (clauses present, missing, findings)."""
    views = await handlers.all_parties(uow, broker_max_age=service.broker_max_age)
    body = register.parties_csv([(v.party, v.contracts, v.findings) for v in views], at=service.now())
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="parties.csv"'},
    )


@router.get("/parties/{party_id}", response_model=schemas.PartyPublic)
async def get_party(
    party_id: str, uow: UnitOfWorkDep, service: ServiceDep, _principal: AuditReader
) -> schemas.PartyPublic:
    """Returns a party with its current contract and findings (404 if unknown)."""
    view = await handlers.get_party_or_raise(party_id, uow, broker_max_age=service.broker_max_age)
    return _party_public(view, service.now())


@router.patch("/parties/{party_id}", response_model=schemas.PartyPublic)
async def update_party(
    party_id: str, body: schemas.PartyUpdate, uow: UnitOfWorkDep, service: ServiceDep, principal: AdminWriter
) -> schemas.PartyPublic:
    """Changes the given fields of a party, e.g. its roles or its broker verification date (409 once
    ended)."""
    view = await handlers.update_party(
        commands.UpdateParty(
            actor=principal.actor,
            party_id=party_id,
            changes=commands.PartyChanges(**_party_fields(body, body.model_fields_set)),
        ),
        uow,
        broker_max_age=service.broker_max_age,
    )
    return _party_public(view, service.now())


@router.post("/parties/{party_id}/contracts", status_code=201, response_model=schemas.PartyContractRead)
async def sign_contract(
    party_id: str,
    body: schemas.ContractCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: AdminWriter,
    response: Response,
) -> schemas.PartyContractRead:
    """Records the next contract version with a party; `missing_clauses` names what its roles still need."""
    contract = await handlers.sign_contract(
        commands.SignContract(
            actor=principal.actor,
            party_id=party_id,
            reference=body.reference,
            signed_at=body.signed_at,
            expires_at=body.expires_at,
            clauses=tuple(body.clauses),
            breach_notification_hours=body.breach_notification_hours,
            scc_2021_915=body.scc_2021_915,
            licence_scope=body.licence_scope,
            terms=_contract_terms(body.terms),
        ),
        uow,
    )
    view = await handlers.get_party_or_raise(party_id, service.uow())
    response.headers["Location"] = f"/v1/parties/{party_id}/contracts"
    return _contract_read(view.party, contract, service.now())


@router.get("/parties/{party_id}/contracts", response_model=schemas.PartyContractList)
async def list_contracts(
    party_id: str, uow: UnitOfWorkDep, service: ServiceDep, _principal: AuditReader
) -> schemas.PartyContractList:
    """Returns a party's contract versions, oldest first (404 if the party is unknown)."""
    view = await handlers.get_party_or_raise(party_id, uow)
    now = service.now()
    return schemas.PartyContractList(items=[_contract_read(view.party, c, now) for c in view.contracts])


@router.get("/contracts:expiring", response_model=schemas.ExpiringContractList)
async def expiring_contracts(
    uow: UnitOfWorkDep,
    service: ServiceDep,
    _principal: AuditReader,
    within_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> schemas.ExpiringContractList:
    """Lists the current contracts that expire within `within_days` (default: the configured window)."""
    days = within_days or service.settings.contract_expiry_window_days
    found = await handlers.expiring_contracts(uow, within_days=days)
    now = service.now()
    items = []
    for party, contract in found:
        read = _contract_read(party, contract, now)
        left = (contract.expires_at - now).days if contract.expires_at else 0
        items.append(
            schemas.ExpiringContractRead(
                **read.model_dump(), legal_name=party.legal_name, roles=list(party.roles), days_left=left
            )
        )
    return schemas.ExpiringContractList(within_days=days, items=items)


@router.post("/contracts:watch", response_model=schemas.ExpiryWatchRead)
async def watch_contracts(
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: AdminWriter,
) -> schemas.ExpiryWatchRead:
    """Runs the expiry watch now: raises `contract_expiring` / `contract_expired` once per contract."""
    days = service.settings.contract_expiry_window_days
    report = await handlers.watch_contract_expiry(
        commands.WatchContractExpiry(actor=principal.actor, window_days=days), uow
    )
    return schemas.ExpiryWatchRead(within_days=days, expiring=report.expiring, expired=report.expired)


# --- The breach register (Art. 33(5), 33, 34 GDPR).


def _breach_read(breach: breaches.Breach, at: datetime) -> schemas.BreachRead:
    state = breach.state_at(at)
    return schemas.BreachRead(
        breach_id=breach.breach_id,
        reference=breach.reference,
        aware_at=breach.aware_at,
        deadline_at=breach.deadline,
        state=state,
        overdue=state is breaches.ClockState.OVERDUE,
        recorded_at=breach.recorded_at,
        updated_at=breach.updated_at,
        nature=list(breach.nature),
        description=breach.description,
        occurred_from=breach.occurred_from,
        occurred_until=breach.occurred_until,
        data_categories=list(breach.data_categories),
        special_categories=breach.special_categories,
        subject_categories=list(breach.subject_categories),
        approx_subjects=breach.approx_subjects,
        approx_records=breach.approx_records,
        likely_consequences=breach.likely_consequences,
        measures_taken=breach.measures_taken,
        measures_proposed=breach.measures_proposed,
        dpo=schemas.PartyRead.model_validate(breach.dpo, from_attributes=True) if breach.dpo else None,
        source_party_id=breach.source_party_id,
        assessment=schemas.AssessmentRead.model_validate(breach.assessment, from_attributes=True)
        if breach.assessment
        else None,
        notification=schemas.NotificationRead.model_validate(breach.notification, from_attributes=True)
        if breach.notification
        else None,
        communication=schemas.CommunicationRead.model_validate(breach.communication, from_attributes=True)
        if breach.communication
        else None,
        findings=_rule_findings(breach.findings(at)),
        record_hash=breach.record_hash(),
    )


def _breach_facts(body: schemas.BreachCreate | schemas.BreachUpdate, names: set[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if name == "dpo":
            value = _party(value)
        elif isinstance(value, list):
            value = tuple(value)
        facts[name] = value
    return facts


@router.post("/breaches", status_code=201, response_model=schemas.BreachRead)
async def record_breach(
    body: schemas.BreachCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: DpoWriter,
    response: Response,
) -> schemas.BreachRead:
    """Enters a breach in the register (Art. 33(5)); its 72-hour clock runs from `aware_at`."""
    given = body.model_fields_set - {"aware_at", "nature", "description", "risk", "risk_justification"}
    breach = await handlers.record_breach(
        commands.RecordBreach(
            actor=principal.actor,
            aware_at=body.aware_at,
            nature=tuple(body.nature),
            description=body.description,
            facts=_breach_facts(body, given),
            risk=body.risk,
            risk_justification=body.risk_justification,
        ),
        uow,
    )
    response.headers["Location"] = f"/v1/breaches/{breach.breach_id}"
    return _breach_read(breach, service.now())


@router.get("/breaches", response_model=schemas.BreachList)
async def list_breaches(
    uow: UnitOfWorkDep,
    _principal: DpoReader,
    overdue: bool = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> schemas.BreachList:
    """Lists the breach register by awareness time; `overdue=true` keeps the breaches past their 72 hours
    with neither a notification nor a justified finding of no risk (paginated)."""
    kind = "breaches-overdue" if overdue else "breaches"
    found, at = await handlers.list_breaches(
        uow, after=_decode_cursor(kind, cursor, as_time=True), limit=limit, overdue=overdue
    )
    return schemas.BreachList(
        items=[_breach_read(b, at) for b in found],
        next_cursor=_next_cursor(kind, found, limit, lambda b: (b.aware_at, b.breach_id)),
    )


@router.post("/breaches:watch", response_model=schemas.BreachWatchRead)
async def watch_breaches(service: ServiceDep, principal: DpoWriter) -> schemas.BreachWatchRead:
    """Runs the breach watch now: raises `breach_overdue` once per breach past its 72 hours and refreshes
    the `consent_breaches_overdue` gauge."""
    report = await service.watch_breaches_once(principal.actor)
    return schemas.BreachWatchRead(overdue=report.overdue, newly_overdue=report.newly_overdue)


@router.get("/breaches/{breach_id}", response_model=schemas.BreachRead)
async def get_breach(breach_id: str, uow: UnitOfWorkDep, _principal: DpoReader) -> schemas.BreachRead:
    """Returns a register entry with its clock and findings (404 if unknown)."""
    breach, at = await handlers.get_breach_or_raise(breach_id, uow)
    return _breach_read(breach, at)


@router.patch("/breaches/{breach_id}", response_model=schemas.BreachRead)
async def update_breach(
    breach_id: str, body: schemas.BreachUpdate, uow: UnitOfWorkDep, service: ServiceDep, principal: DpoWriter
) -> schemas.BreachRead:
    """Completes or corrects a breach's facts, e.g. the numbers once known (Art. 33(4))."""
    breach = await handlers.update_breach(
        commands.UpdateBreach(
            actor=principal.actor, breach_id=breach_id, changes=_breach_facts(body, body.model_fields_set)
        ),
        uow,
    )
    return _breach_read(breach, service.now())


@router.post("/breaches/{breach_id}/assessment", response_model=schemas.BreachRead)
async def assess_breach(
    breach_id: str,
    body: schemas.AssessmentCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: DpoWriter,
) -> schemas.BreachRead:
    """Records the risk assessment; `unlikely` with its justification makes the breach not notifiable."""
    breach = await handlers.assess_breach(
        commands.AssessBreach(
            actor=principal.actor, breach_id=breach_id, risk=body.risk, justification=body.justification
        ),
        uow,
    )
    return _breach_read(breach, service.now())


@router.post("/breaches/{breach_id}/notification", response_model=schemas.BreachRead)
async def notify_breach(
    breach_id: str,
    body: schemas.NotificationCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: DpoWriter,
) -> schemas.BreachRead:
    """Records the controller's notification to the CNIL (date, reference, reasons if late); 409 if
    already recorded. Vigie does not notify the CNIL itself."""
    breach = await handlers.notify_breach(
        commands.NotifyBreach(
            actor=principal.actor,
            breach_id=breach_id,
            notified_at=body.notified_at,
            reference=body.reference,
            delay_reasons=body.delay_reasons,
            phased=body.phased,
        ),
        uow,
    )
    return _breach_read(breach, service.now())


@router.post("/breaches/{breach_id}/communication", response_model=schemas.BreachRead)
async def communicate_breach(
    breach_id: str,
    body: schemas.CommunicationCreate,
    uow: UnitOfWorkDep,
    service: ServiceDep,
    principal: DpoWriter,
) -> schemas.BreachRead:
    """Records the communication to the people (date, means) or the Art. 34(3) exception relied on; 409
    if already recorded."""
    breach = await handlers.communicate_breach(
        commands.CommunicateBreach(
            actor=principal.actor,
            breach_id=breach_id,
            communicated_at=body.communicated_at,
            means=body.means,
            subjects_informed=body.subjects_informed,
            exemption=body.exemption,
            justification=body.justification,
        ),
        uow,
    )
    return _breach_read(breach, service.now())
