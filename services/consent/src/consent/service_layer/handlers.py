"""Use cases of consent: each takes a command and a unit of work, and commits once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from consent.adapters.repository import Keyset
from consent.domain import breaches, errors, parties, register
from consent.domain.breaches import Breach
from consent.domain.erasure import ErasurePlan, erase_subject
from consent.domain.errors import AlreadyExistsError, NotFoundError
from consent.domain.model import Consent, ConsentTerms, Objection, Purpose, check_objection_scope
from consent.domain.notices import Notice, NoticeArticle, NoticeDelivery, art14_deadline
from consent.domain.parties import Contract, Finding, Party
from consent.domain.processors import Processor
from consent.service_layer import commands
from consent.service_layer.unit_of_work import AbstractConsentUnitOfWork

# --- Register of processing.


async def register_purpose(cmd: commands.RegisterPurpose, uow: AbstractConsentUnitOfWork) -> Purpose:
    """Enters a purpose in the register at version 1."""
    async with uow:
        purpose = Purpose.register(
            at=uow.clock(),
            name=cmd.name,
            controller=cmd.controller,
            description=cmd.description,
            lawful_basis=cmd.lawful_basis,
            purpose_id=cmd.purpose_id,
            dpo=cmd.dpo,
            legitimate_interest=cmd.legitimate_interest,
            data_categories=dict(cmd.data_categories),
            special_categories=cmd.special_categories,
            special_categories_detail=cmd.special_categories_detail,
            data_subjects=cmd.data_subjects,
            recipients_internal=cmd.recipients_internal,
            recipients_external=cmd.recipients_external,
            processor_ids=cmd.processor_ids,
            retention=dict(cmd.retention),
            transfers=cmd.transfers,
            security_measures=cmd.security_measures,
            dpia_required=cmd.dpia_required,
            joint_controller=cmd.joint_controller,
            software=cmd.software,
            art14_exemption_claimed=cmd.art14_exemption_claimed,
            art14_exemption_ground=cmd.art14_exemption_ground,
            channels=cmd.channels,
            retention_months=cmd.retention_months,
            profiling=cmd.profiling,
            dpia_reference=cmd.dpia_reference,
        )
        if await uow.purposes.get(purpose.purpose_id) is not None:
            raise AlreadyExistsError("purpose", purpose.purpose_id)
        uow.purposes.add(purpose)
        try:
            await uow.commit(actor=cmd.actor)
        except IntegrityError as exc:
            raise AlreadyExistsError("purpose", purpose.purpose_id) from exc
    return purpose


async def list_purposes(
    uow: AbstractConsentUnitOfWork, *, after: Keyset | None = None, limit: int = 100
) -> list[Purpose]:
    """Returns a page of purposes with their version history, in order of registration."""
    async with uow:
        return await uow.purposes.page(after=after, limit=limit)


async def get_purpose_or_raise(purpose_id: str, uow: AbstractConsentUnitOfWork) -> Purpose:
    """Returns one purpose with its history; NotFoundError if unknown."""
    async with uow:
        purpose = await uow.purposes.get(purpose_id)
    if purpose is None:
        raise NotFoundError("purpose", purpose_id)
    return purpose


async def revise_purpose(cmd: commands.RevisePurpose, uow: AbstractConsentUnitOfWork) -> Purpose:
    """Makes the next version of a register entry (no change, no version)."""
    async with uow:
        purpose = await uow.purposes.get(cmd.purpose_id, for_update=True)
        if purpose is None:
            raise NotFoundError("purpose", cmd.purpose_id)
        purpose.revise(at=uow.clock(), **cmd.changes.given())
        await uow.commit(actor=cmd.actor)
    return purpose


async def retire_purpose(cmd: commands.RetirePurpose, uow: AbstractConsentUnitOfWork) -> Purpose:
    """Ends a register entry; its versions stay in the history."""
    async with uow:
        purpose = await uow.purposes.get(cmd.purpose_id, for_update=True)
        if purpose is None:
            raise NotFoundError("purpose", cmd.purpose_id)
        purpose.retire(at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return purpose


async def register_export(
    uow: AbstractConsentUnitOfWork, *, at: datetime | None = None, fmt: str = "json"
) -> str | dict[str, object]:
    """Returns the register in the CNIL template's columns, as CSV text or a JSON document."""
    async with uow:
        purposes = await uow.purposes.list_all()
        names = {p.processor_id: p.legal_name for p in await uow.processors.list_all()}
        all_parties = await uow.parties.list_all()
        contracts = await uow.contracts.list_all()
    when = at or uow.clock()
    framed = register.framed_parties(all_parties, contracts, at=when)
    if fmt == "csv":
        return register.register_csv(purposes, at=at, processor_names=names, parties=framed)
    return {
        "columns": list(register.REGISTER_COLUMNS),
        "common_pages": register.register_common_pages(purposes, at=at),
        "rows": register.register_rows(purposes, at=at, processor_names=names, parties=framed),
    }


# --- Notices.


async def publish_notice(cmd: commands.PublishNotice, uow: AbstractConsentUnitOfWork) -> Notice:
    """Checks a notice's mandatory content and publishes it (a new notice, or the next version of one)."""
    async with uow:
        previous = await uow.notices.get(cmd.notice_id) if cmd.notice_id else None
        notice = Notice.draft(
            language=cmd.language,
            article=cmd.article,
            purpose_ids=cmd.purpose_ids,
            content=cmd.content,
            not_applicable=cmd.not_applicable,
            notice_id=cmd.notice_id,
            version=previous.version + 1 if previous else 1,
        )
        purposes = {pid: p for pid in notice.purpose_ids if (p := await uow.purposes.get(pid)) is not None}
        notice.publish(at=uow.clock(), purposes=purposes)
        uow.notices.add(notice)
        try:
            await uow.commit(actor=cmd.actor)
        except IntegrityError as exc:
            # Because another version of this notice was published at the same time.
            raise AlreadyExistsError("notice version", f"{notice.notice_id} v{notice.version}") from exc
    return notice


async def get_notice_or_raise(
    notice_id: str, uow: AbstractConsentUnitOfWork, *, version: int | None = None
) -> Notice:
    """Returns a notice version (default: the latest); NotFoundError if unknown."""
    async with uow:
        notice = await uow.notices.get(notice_id, version)
    if notice is None:
        raise NotFoundError("notice", notice_id if version is None else f"{notice_id} v{version}")
    return notice


async def deliver_notice(cmd: commands.DeliverNotice, uow: AbstractConsentUnitOfWork) -> NoticeDelivery:
    """Records the delivery of a published notice version (default: its latest) to a contact."""
    async with uow:
        notice = await uow.notices.get(cmd.notice_id, cmd.notice_version)
        if notice is None:
            raise NotFoundError("notice", cmd.notice_id)
        delivery = NoticeDelivery.deliver(
            notice=notice,
            contact_id=cmd.contact_id,
            channel=cmd.channel,
            at=cmd.delivered_at or uow.clock(),
            evidence=cmd.evidence,
        )
        uow.deliveries.add(delivery)
        await uow.commit(actor=cmd.actor)
    return delivery


# --- Consents and objections.


async def grant_consent(cmd: commands.GrantConsent, uow: AbstractConsentUnitOfWork) -> Consent:
    """Records a consent, refusing unregistered purposes, other lawful bases and a second active one."""
    async with uow:
        existing = await uow.consents.for_contact(cmd.contact_id, for_update=True)
        notice = await uow.notices.get(cmd.notice_id, cmd.notice_version) if cmd.notice_id else None
        # Because the gate reads these terms as consent's record: derived from what was entered, never
        # assumed.
        terms = ConsentTerms.derive(
            cmd.terms,
            wording=cmd.wording,
            notice_states_withdrawal=(
                notice is not None and notice.tells_consent_can_be_withdrawn(cmd.purpose_id)
            ),
        )
        consent = Consent.grant(
            contact_id=cmd.contact_id,
            purpose_id=cmd.purpose_id,
            purpose=await uow.purposes.get(cmd.purpose_id),
            channel=cmd.channel,
            at=uow.clock(),
            collection_method=cmd.collection_method,
            wording=cmd.wording,
            proof=cmd.proof,
            notice_id=cmd.notice_id,
            notice_version=cmd.notice_version,
            collector=cmd.collector,
            double_opt_in=cmd.double_opt_in,
            existing=existing,
            terms=terms,
            out_of_hours_calls=cmd.out_of_hours_calls,
            partners=cmd.partners,
            partner_categories=cmd.partner_categories,
            email_tracking=cmd.email_tracking,
        )
        uow.consents.add(consent)
        try:
            await uow.commit(actor=cmd.actor)
        except IntegrityError as exc:
            # Because a simultaneous grant for the same (contact, purpose, channel) committed first; the
            # partial unique index `uq_consents_active` refused this one.
            raise errors.ConsentAlreadyActiveError("(simultaneous grant)") from exc
    return consent


async def get_consent_or_raise(consent_id: str, uow: AbstractConsentUnitOfWork) -> Consent:
    """Returns one consent record; NotFoundError if unknown or erased."""
    async with uow:
        consent = await uow.consents.get(consent_id)
    if consent is None:
        raise NotFoundError("consent", consent_id)
    return consent


async def _consent_or_raise(uow: AbstractConsentUnitOfWork, consent_id: str) -> Consent:
    consent = await uow.consents.get(consent_id, for_update=True)
    if consent is None:
        raise NotFoundError("consent", consent_id)
    return consent


async def confirm_consent(cmd: commands.ConfirmConsent, uow: AbstractConsentUnitOfWork) -> Consent:
    """Confirms a pending double opt-in consent."""
    async with uow:
        consent = await _consent_or_raise(uow, cmd.consent_id)
        consent.confirm(uow.clock())
        await uow.commit(actor=cmd.actor)
    return consent


async def withdraw_consent(cmd: commands.WithdrawConsent, uow: AbstractConsentUnitOfWork) -> Consent:
    """Withdraws a consent, keeping the record with its grant and withdrawal times."""
    async with uow:
        consent = await _consent_or_raise(uow, cmd.consent_id)
        consent.withdraw(uow.clock(), source=cmd.source)
        await uow.commit(actor=cmd.actor)
    return consent


async def record_objection(cmd: commands.RecordObjection, uow: AbstractConsentUnitOfWork) -> Objection:
    """Records an objection with the blind indexes of the given e-mail and phone (never stored in clear)."""
    indexes = list(cmd.blind_indexes)
    if cmd.email:
        indexes.append(uow.indexer.email(cmd.email))
    if cmd.phone:
        indexes.append(uow.indexer.phone(cmd.phone))
    async with uow:
        _, _, purpose_id = check_objection_scope(cmd.scope, channel=cmd.channel, purpose_id=cmd.purpose_id)
        if purpose_id is not None and await uow.purposes.get(purpose_id) is None:
            # Because a purpose objection must name an entry of the register, retired ones included.
            raise errors.ObjectionScopeError(
                "the objection names no purpose of the register",
                [errors.FieldProblem("OBJ-03", "purpose_id", "not a purpose of the register")],
            )
        if cmd.contact_id:
            # Because an objection given by contact id alone must still outlive the contact's erasure.
            indexes += await uow.contact_indexes.get(cmd.contact_id)
        objection = Objection.record(
            contact_id=cmd.contact_id,
            scope=cmd.scope,
            at=uow.clock(),
            blind_indexes=indexes,
            channel=cmd.channel,
            purpose_id=cmd.purpose_id,
        )
        uow.objections.add(objection)
        await uow.commit(actor=cmd.actor)
    return objection


async def record_contact_indexes(
    cmd: commands.RecordContactIndexes, uow: AbstractConsentUnitOfWork
) -> tuple[str, ...]:
    """Adds a contact's blind indexes to its known set and to its objections; returns the indexes added to
    them."""
    async with uow:
        at = uow.clock()
        merged = await uow.contact_indexes.merge(cmd.contact_id, cmd.blind_indexes, at=at)
        added: list[str] = []
        for objection in await uow.objections.for_contact(cmd.contact_id):
            added += objection.add_blind_indexes(merged, at=at)
        await uow.commit(actor=cmd.actor)
    return tuple(dict.fromkeys(added))


@dataclass(frozen=True)
class ContactConsentData:
    """What consent holds about one contact."""

    contact_id: str
    consents: list[Consent]
    deliveries: list[NoticeDelivery]
    objections: list[Objection]


async def contact_consents(contact_id: str, uow: AbstractConsentUnitOfWork) -> ContactConsentData:
    """Returns a contact's consents (history included), deliveries and objections; NotFoundError if none."""
    async with uow:
        data = ContactConsentData(
            contact_id=contact_id,
            consents=await uow.consents.for_contact(contact_id),
            deliveries=await uow.deliveries.for_contact(contact_id),
            objections=await uow.objections.for_contact(contact_id),
        )
    if not (data.consents or data.deliveries or data.objections):
        raise NotFoundError("consent data of contact", contact_id)
    return data


async def match_objections(blind_indexes: list[str], uow: AbstractConsentUnitOfWork) -> list[Objection]:
    """Returns the objections carrying any of the blind indexes (erased contacts' included; UNI-02)."""
    if not blind_indexes:
        return []
    async with uow:
        return await uow.objections.matching(blind_indexes)


@dataclass(frozen=True)
class Art14Status:
    """When a contact's Art. 14 notice is due (INFO-02) and whether one was delivered in time."""

    contact_id: str
    deadline: datetime
    delivered_at: datetime | None
    delivery_id: str | None
    met: bool
    overdue: bool


async def art14_status(
    contact_id: str,
    uow: AbstractConsentUnitOfWork,
    *,
    obtained_at: datetime,
    first_communication_at: datetime | None = None,
    first_disclosure_at: datetime | None = None,
) -> Art14Status:
    """Returns a contact's Art. 14 deadline and its first Art. 14 notice delivery, as of the clock."""
    deadline = art14_deadline(
        obtained_at=obtained_at,
        first_communication_at=first_communication_at,
        first_disclosure_at=first_disclosure_at,
    )
    async with uow:
        first = None
        for delivery in await uow.deliveries.for_contact(contact_id):
            notice = await uow.notices.get(delivery.notice_id, delivery.notice_version)
            if notice is not None and notice.article is NoticeArticle.ART14:
                first = delivery
                break
        now = uow.clock()
    met = first is not None and first.delivered_at <= deadline
    return Art14Status(
        contact_id=contact_id,
        deadline=deadline,
        delivered_at=first.delivered_at if first else None,
        delivery_id=first.delivery_id if first else None,
        met=met,
        overdue=not met and now > deadline,
    )


# --- Processors.


async def register_processor(cmd: commands.RegisterProcessor, uow: AbstractConsentUnitOfWork) -> Processor:
    """Enters a vendor in the registry; gaps do not stop registration."""
    async with uow:
        processor = Processor.register(
            legal_name=cmd.legal_name,
            role=cmd.role,
            at=uow.clock(),
            status=cmd.status,
            contact=cmd.contact,
            dpo_contact=cmd.dpo_contact,
            registration_id=cmd.registration_id,
            purpose_ids=cmd.purpose_ids,
            contract=cmd.contract,
            sub_processors=cmd.sub_processors,
            locations=cmd.locations,
            transfer_mechanism=cmd.transfer_mechanism,
            tia_done_at=cmd.tia_done_at,
        )
        uow.processors.add(processor)
        await uow.commit(actor=cmd.actor)
    return processor


async def list_processors(
    uow: AbstractConsentUnitOfWork, *, after: Keyset | None = None, limit: int = 100
) -> list[Processor]:
    """Returns a page of the vendor registry, by legal name."""
    async with uow:
        return await uow.processors.page(after=after, limit=limit)


async def update_processor(cmd: commands.UpdateProcessor, uow: AbstractConsentUnitOfWork) -> Processor:
    """Applies a PATCH to a vendor (an ended one cannot change)."""
    async with uow:
        processor = await uow.processors.get(cmd.processor_id, for_update=True)
        if processor is None:
            raise NotFoundError("processor", cmd.processor_id)
        processor.update(at=uow.clock(), **cmd.changes.given())
        await uow.commit(actor=cmd.actor)
    return processor


# --- Parties and their contracts.


@dataclass(frozen=True)
class PartyView:
    """A party with its contract versions and what keeps it from being relied on now."""

    party: Party
    contracts: list[Contract]
    current: Contract | None
    findings: list[Finding]


def _view(
    party: Party, contracts: list[Contract], *, at: datetime, broker_max_age: timedelta | None
) -> PartyView:
    return PartyView(
        party=party,
        contracts=contracts,
        current=parties.current_contract(contracts, at=at),
        findings=parties.party_findings(party, contracts, at=at, broker_verification_max_age=broker_max_age),
    )


async def register_party(
    cmd: commands.RegisterParty, uow: AbstractConsentUnitOfWork, *, broker_max_age: timedelta | None = None
) -> PartyView:
    """Enters a party; what it lacks (a contract first) is reported, not refused."""
    async with uow:
        at = uow.clock()
        if cmd.processor_id and await uow.processors.get(cmd.processor_id) is None:
            raise NotFoundError("processor", cmd.processor_id)
        party = Party.register(
            legal_name=cmd.legal_name,
            roles=cmd.roles,
            at=at,
            registration_id=cmd.registration_id,
            contact=cmd.contact,
            purpose_ids=cmd.purpose_ids,
            data_categories=cmd.data_categories,
            systems=cmd.systems,
            processor_id=cmd.processor_id,
            broker_last_verified_at=cmd.broker_last_verified_at,
            status=cmd.status,
        )
        uow.parties.add(party)
        await uow.commit(actor=cmd.actor)
    return _view(party, [], at=at, broker_max_age=broker_max_age)


async def _party_or_raise(
    uow: AbstractConsentUnitOfWork, party_id: str, *, for_update: bool = False
) -> Party:
    party = await uow.parties.get(party_id, for_update=for_update)
    if party is None:
        raise NotFoundError("party", party_id)
    return party


async def update_party(
    cmd: commands.UpdateParty, uow: AbstractConsentUnitOfWork, *, broker_max_age: timedelta | None = None
) -> PartyView:
    """Applies a PATCH to a party; the event restates its current contract's gaps for its roles."""
    async with uow:
        at = uow.clock()
        party = await _party_or_raise(uow, cmd.party_id, for_update=True)
        processor_id = cmd.changes.processor_id
        if isinstance(processor_id, str) and processor_id and await uow.processors.get(processor_id) is None:
            raise NotFoundError("processor", processor_id)
        contracts = await uow.contracts.for_party(party.party_id)
        party.update(at=at, contract=parties.current_contract(contracts), **cmd.changes.given())
        await uow.commit(actor=cmd.actor)
    return _view(party, contracts, at=at, broker_max_age=broker_max_age)


async def sign_contract(cmd: commands.SignContract, uow: AbstractConsentUnitOfWork) -> Contract:
    """Records the next contract version with a party."""
    async with uow:
        party = await _party_or_raise(uow, cmd.party_id, for_update=True)
        versions = await uow.contracts.for_party(party.party_id, for_update=True)
        contract = Contract.sign(
            party=party,
            version=max((c.version for c in versions), default=0) + 1,
            at=uow.clock(),
            reference=cmd.reference,
            signed_at=cmd.signed_at,
            expires_at=cmd.expires_at,
            clauses=cmd.clauses,
            breach_notification_hours=cmd.breach_notification_hours,
            scc_2021_915=cmd.scc_2021_915,
            licence_scope=cmd.licence_scope,
            terms=cmd.terms,
        )
        uow.contracts.add(contract)
        try:
            await uow.commit(actor=cmd.actor)
        except IntegrityError as exc:
            # Because a simultaneous signature took this version number first (on PostgreSQL the party
            # row is locked, so only SQLite's looser isolation gets here).
            raise errors.InvalidContractError(
                "another contract version was recorded at the same time; retry"
            ) from exc
    return contract


async def get_party_or_raise(
    party_id: str, uow: AbstractConsentUnitOfWork, *, broker_max_age: timedelta | None = None
) -> PartyView:
    """Returns a party with its contracts and current findings; NotFoundError if unknown."""
    async with uow:
        party = await _party_or_raise(uow, party_id)
        contracts = await uow.contracts.for_party(party_id)
        at = uow.clock()
    return _view(party, contracts, at=at, broker_max_age=broker_max_age)


async def list_parties(
    uow: AbstractConsentUnitOfWork,
    *,
    after: Keyset | None = None,
    limit: int = 100,
    broker_max_age: timedelta | None = None,
) -> list[PartyView]:
    """Returns a page of parties by legal name, each with its contracts and findings."""
    async with uow:
        page = await uow.parties.page(after=after, limit=limit)
        contracts = await uow.contracts.for_parties(p.party_id for p in page)
        at = uow.clock()
    return [
        _view(p, [c for c in contracts if c.party_id == p.party_id], at=at, broker_max_age=broker_max_age)
        for p in page
    ]


async def all_parties(
    uow: AbstractConsentUnitOfWork, *, broker_max_age: timedelta | None = None
) -> list[PartyView]:
    """Returns every party with its contracts and findings (the auditors' export)."""
    async with uow:
        found = await uow.parties.list_all()
        contracts = await uow.contracts.list_all()
        at = uow.clock()
    return [
        _view(p, [c for c in contracts if c.party_id == p.party_id], at=at, broker_max_age=broker_max_age)
        for p in found
    ]


async def expiring_contracts(
    uow: AbstractConsentUnitOfWork, *, within_days: int
) -> list[tuple[Party, Contract]]:
    """Returns the current contracts that expire within `within_days` of the clock, soonest first."""
    async with uow:
        at = uow.clock()
        window = timedelta(days=within_days)
        contracts = await uow.contracts.expiring_or_expired_by(at + window)
        by_id = {p.party_id: p for p in await uow.parties.list_all()}
    return [
        (by_id[c.party_id], c) for c in parties.expiring_contracts(by_id, contracts, at=at, window=window)
    ]


@dataclass(frozen=True)
class ExpiryWatchReport:
    """What one pass of the expiry watch raised."""

    expiring: list[str]
    expired: list[str]


async def watch_contract_expiry(
    cmd: commands.WatchContractExpiry, uow: AbstractConsentUnitOfWork
) -> ExpiryWatchReport:
    """Raises `contract_expiring` for current contracts entering the window and `contract_expired` once
    each."""
    async with uow:
        at = uow.clock()
        window = timedelta(days=cmd.window_days)
        contracts = await uow.contracts.expiring_or_expired_by(at + window, for_update=True)
        by_party: dict[str, list[Contract]] = {}
        for contract in contracts:
            by_party.setdefault(contract.party_id, []).append(contract)
        expiring, expired = [], []
        for party_id, versions in by_party.items():
            party = await uow.parties.get(party_id)
            current = parties.current_contract(versions)
            if party is None or current is None or party.status is parties.PartyStatus.ENDED:
                continue
            if current.notice_expired(party, at=at):
                expired.append(current.contract_id)
            elif current.notice_expiring(party, at=at, window=window):
                expiring.append(current.contract_id)
        await uow.commit(actor=cmd.actor)
    return ExpiryWatchReport(expiring=expiring, expired=expired)


# --- Erasure (consumer of contacts.events).


async def erase_contact_data(
    cmd: commands.EraseContactData, uow: AbstractConsentUnitOfWork
) -> ErasurePlan | None:
    """Deletes a contact's consents and deliveries, keeps its objections' blind indexes; once per event."""
    async with uow:
        if not await uow.first_delivery(event_id=cmd.event_id, topic=cmd.topic):
            return None
        # Because the event's indexes are the ones at erasure, and the known ones cover earlier addresses.
        indexes = (*cmd.blind_indexes, *await uow.contact_indexes.get(cmd.contact_id))
        plan = erase_subject(
            contact_id=cmd.contact_id,
            consents=await uow.consents.for_contact(cmd.contact_id, for_update=True),
            deliveries=await uow.deliveries.for_contact(cmd.contact_id),
            objections=await uow.objections.for_contact(cmd.contact_id),
            at=uow.clock(),
            blind_indexes=indexes,
        )
        await uow.consents.delete(plan.consent_ids)
        await uow.deliveries.delete(plan.delivery_ids)
        await uow.contact_indexes.delete(cmd.contact_id)
        for kept in plan.kept_objections:
            uow.objections.add(kept)
        uow.publish(plan.event)
        await uow.commit(actor=cmd.actor)
    return plan


# --- The breach register (Art. 33(5), 33, 34 GDPR).


async def _breach_or_raise(
    uow: AbstractConsentUnitOfWork, breach_id: str, *, for_update: bool = False
) -> Breach:
    breach = await uow.breaches.get(breach_id, for_update=for_update)
    if breach is None:
        raise NotFoundError("breach", breach_id)
    return breach


async def _check_source_party(uow: AbstractConsentUnitOfWork, party_id: object) -> None:
    if isinstance(party_id, str) and party_id and await uow.parties.get(party_id) is None:
        raise NotFoundError("party", party_id)


async def record_breach(cmd: commands.RecordBreach, uow: AbstractConsentUnitOfWork) -> Breach:
    """Enters a breach in the register; its 72-hour clock runs from `aware_at`."""
    async with uow:
        await _check_source_party(uow, cmd.facts.get("source_party_id"))
        breach = Breach.record(
            at=uow.clock(),
            aware_at=cmd.aware_at,
            nature=cmd.nature,
            description=cmd.description,
            risk=cmd.risk,
            risk_justification=cmd.risk_justification,
            **cmd.facts,
        )
        uow.breaches.add(breach)
        await uow.commit(actor=cmd.actor)
    return breach


async def update_breach(cmd: commands.UpdateBreach, uow: AbstractConsentUnitOfWork) -> Breach:
    """Completes or corrects a breach's facts; no change, no event."""
    async with uow:
        breach = await _breach_or_raise(uow, cmd.breach_id, for_update=True)
        await _check_source_party(uow, cmd.changes.get("source_party_id"))
        breach.update(at=uow.clock(), **cmd.changes)
        await uow.commit(actor=cmd.actor)
    return breach


async def assess_breach(cmd: commands.AssessBreach, uow: AbstractConsentUnitOfWork) -> Breach:
    """Records the risk assessment of a breach."""
    async with uow:
        breach = await _breach_or_raise(uow, cmd.breach_id, for_update=True)
        breach.assess(risk=cmd.risk, justification=cmd.justification, at=uow.clock())
        await uow.commit(actor=cmd.actor)
    return breach


async def notify_breach(cmd: commands.NotifyBreach, uow: AbstractConsentUnitOfWork) -> Breach:
    """Records the notification of a breach to the supervisory authority."""
    async with uow:
        breach = await _breach_or_raise(uow, cmd.breach_id, for_update=True)
        breach.notify(
            notified_at=cmd.notified_at,
            reference=cmd.reference,
            delay_reasons=cmd.delay_reasons,
            phased=cmd.phased,
            at=uow.clock(),
        )
        await uow.commit(actor=cmd.actor)
    return breach


async def communicate_breach(cmd: commands.CommunicateBreach, uow: AbstractConsentUnitOfWork) -> Breach:
    """Records the communication of a breach to the people, or the Art. 34(3) exception relied on."""
    async with uow:
        breach = await _breach_or_raise(uow, cmd.breach_id, for_update=True)
        breach.communicate(
            at=uow.clock(),
            communicated_at=cmd.communicated_at,
            means=cmd.means,
            subjects_informed=cmd.subjects_informed,
            exemption=cmd.exemption,
            justification=cmd.justification,
        )
        await uow.commit(actor=cmd.actor)
    return breach


async def get_breach_or_raise(breach_id: str, uow: AbstractConsentUnitOfWork) -> tuple[Breach, datetime]:
    """Returns a breach and the time it was read at (its state depends on it); NotFoundError if unknown."""
    async with uow:
        breach = await _breach_or_raise(uow, breach_id)
        return breach, uow.clock()


async def list_breaches(
    uow: AbstractConsentUnitOfWork, *, after: Keyset | None = None, limit: int = 100, overdue: bool = False
) -> tuple[list[Breach], datetime]:
    """Returns a page of the register by awareness time (only the overdue ones when asked), and the time."""
    async with uow:
        at = uow.clock()
        found = await uow.breaches.page(after=after, limit=limit, overdue_at=at if overdue else None)
    return found, at


@dataclass(frozen=True)
class BreachWatchReport:
    """What one pass of the breach watch found: every overdue breach, and those raised for the first time."""

    overdue: list[str]
    newly_overdue: list[str]


async def watch_breaches(cmd: commands.WatchBreaches, uow: AbstractConsentUnitOfWork) -> BreachWatchReport:
    """Raises `breach_overdue` once for each breach past its 72 hours with neither notification nor
    justification, and reports every one overdue."""
    async with uow:
        at = uow.clock()
        found = breaches.overdue(await uow.breaches.overdue(at, for_update=True), at=at)
        newly = [b.breach_id for b in found if b.notice_overdue(at=at)]
        await uow.commit(actor=cmd.actor)
    return BreachWatchReport(overdue=[b.breach_id for b in found], newly_overdue=newly)
