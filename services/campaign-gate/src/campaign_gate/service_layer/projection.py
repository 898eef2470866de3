"""Applies contacts and consent events to the gate's projection: idempotent (inbox), offset recorded with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaign_gate import contracts
from campaign_gate.adapters.projection import parse_time
from campaign_gate.domain import events
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from shared.events import EventEnvelope


@dataclass(frozen=True)
class ProjectEvent:
    """One consumed record: its envelope and where it sits in its topic."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int


async def _apply(uow: GateUnitOfWork, envelope: EventEnvelope) -> None:
    p, t, data, at = uow.projection, envelope.type, envelope.data, envelope.time
    if t in (contracts.CONTACT_CREATED, contracts.CONTACT_UPDATED, contracts.INTERACTION_RECORDED):
        await p.put_contact(envelope.subject, data.get("facts") or {}, at=at)
    elif t == contracts.CONTACT_RETENTION_FLAGGED:
        await p.set_contact_status(envelope.subject, "retention_flagged", at=at, retention_rule=data.get("rule"))
    elif t == contracts.CONTACT_ERASED:
        await p.erase_contact(envelope.subject, at=at)
        await p.erase_consent_data(envelope.subject, (), ())
        kept = await uow.checks.count_receipts(envelope.subject)
        uow.publish(events.ContactForgotten(envelope.subject, kept, at))
    elif t in (contracts.CONSENT_REQUESTED, contracts.CONSENT_GRANTED):
        granted = t == contracts.CONSENT_GRANTED
        await p.put_consent({
            "consent_id": data["consent_id"], "contact_id": data["contact_id"], "purpose_id": data["purpose_id"],
            "channel": data["channel"], "status": "granted" if granted else "requested",
            "granted_at": parse_time(data.get("granted_at")) if granted else None, "withdrawn_at": None,
            "notice_id": data.get("notice_id"), "notice_version": data.get("notice_version"),
            "collector_kind": data.get("collector_kind"), "collector_name": data.get("collector_name"),
            "requested_at": parse_time(data.get("requested_at")),
            # Consent's own record of how the consent was given: absent means not shown, never assumed.
            "proof_present": bool(data.get("proof_present", False)),
            "positive_act": bool(data.get("positive_act", False)),
            "withdrawal_info_given": bool(data.get("withdrawal_info_given", False)),
            "explicit": bool(data.get("explicit", False)),
            "given_by": [str(g) for g in data.get("given_by") or ()],
            "out_of_hours_calls": bool(data.get("out_of_hours_calls", False)),
            "updated_at": at})
    elif t == contracts.CONSENT_WITHDRAWN:
        await p.withdraw_consent(consent_id=data["consent_id"], contact_id=data["contact_id"],
                                 purpose_id=data["purpose_id"], channel=data["channel"],
                                 granted_at=parse_time(data.get("granted_at")),
                                 withdrawn_at=parse_time(data["withdrawn_at"]) or at, at=at)
    elif t == contracts.OBJECTION_RECORDED:
        await p.put_objection(objection_id=data["objection_id"], contact_id=data.get("contact_id"),
                              scope=data["scope"], at=parse_time(data.get("at")) or at,
                              blind_indexes=data.get("blind_indexes") or ())
    elif t == contracts.NOTICE_PUBLISHED:
        await p.put_notice(notice_id=data["notice_id"], version=int(data["version"]), article=str(data["article"]),
                           purpose_ids=[str(i) for i in data.get("purpose_ids") or ()])
    elif t == contracts.NOTICE_DELIVERED:
        await p.put_delivery({"delivery_id": data["delivery_id"], "contact_id": data["contact_id"],
                              "notice_id": data["notice_id"], "notice_version": int(data["notice_version"]),
                              "channel": data.get("channel"), "delivered_at": parse_time(data.get("at")) or at})
    elif t in (contracts.PURPOSE_REGISTERED, contracts.PURPOSE_REVISED, contracts.PURPOSE_RETIRED):
        await p.put_purpose(purpose_id=data["purpose_id"], version=int(data["version"]),
                            lawful_basis=data.get("lawful_basis"), name=data.get("name"),
                            retired=t == contracts.PURPOSE_RETIRED,
                            art14_exemption_claimed=(None if t == contracts.PURPOSE_RETIRED
                                                     else bool(data.get("art14_exemption_claimed", False))))
    elif t in (contracts.PARTY_REGISTERED, contracts.PARTY_UPDATED):
        values = {"legal_name": data["legal_name"], "roles": list(data.get("roles") or []),
                  "status": data["status"], "broker_last_verified_at": parse_time(data.get("broker_last_verified_at")),
                  "processor_id": data.get("processor_id")}
        if data.get("missing_clauses") is not None:
            # Because a party update restates its current contract's missing clauses for its new roles.
            values["missing_clauses"] = data["missing_clauses"]
        await p.put_party(party_id=data["party_id"], values=values)
    elif t in (contracts.CONTRACT_SIGNED, contracts.CONTRACT_EXPIRING, contracts.CONTRACT_EXPIRED):
        await p.put_party(party_id=data["party_id"], values={
            "roles": list(data.get("roles") or []), "status": data.get("party_status") or "active",
            "contract_id": data["contract_id"], "contract_signed_at": parse_time(data.get("signed_at")),
            "contract_expires_at": parse_time(data.get("expires_at")),
            "missing_clauses": data.get("missing_clauses") or {},
            "broker_last_verified_at": parse_time(data.get("broker_last_verified_at"))})
    elif t in (contracts.PROCESSOR_REGISTERED, contracts.PROCESSOR_UPDATED):
        contract: Any = data.get("contract") or _contract_from_consent_facts(data.get("facts"))
        await p.put_processor(processor_id=data["processor_id"], legal_name=data.get("legal_name"),
                              role=data.get("role"), status=data["status"],
                              contract=contract if isinstance(contract, dict) else None)
    elif t == contracts.CONSENT_DATA_ERASED:
        await p.erase_consent_data(envelope.subject, data.get("consent_ids") or (), data.get("delivery_ids") or ())


def _contract_from_consent_facts(facts: Any) -> dict[str, Any] | None:
    """Keeps consent's processor facts as published: contract dates, the Art. 28(3) clauses it lacks and
    every other gap consent computed (sub-processors, transfers). The gate keeps no clause or EEA list."""
    if not isinstance(facts, dict):
        return None
    return {
        "signed_at": facts.get("signed_at"), "expires_at": facts.get("expires_at"),
        "missing_clauses": list(facts.get("missing_clauses") or []),
        "gaps": [g for g in facts.get("gaps") or [] if isinstance(g, dict) and g.get("code")
                 and g.get("topic")],
    }


async def project_event(event: ProjectEvent, uow: GateUnitOfWork) -> bool:
    """Applies one event to the projection; returns False for a duplicate (already in the inbox)."""
    async with uow:
        await uow.projection.record_offset(topic=event.topic, partition=event.partition, offset=event.offset,
                                           event_time=event.envelope.time)
        first = await uow.first_delivery(event_id=event.envelope.id, topic=event.topic)
        if first:
            await _apply(uow, event.envelope)
        await uow.commit(actor=event.envelope.actor)
        return first


async def reset_projection(uow: GateUnitOfWork, *, at: datetime | None = None) -> None:
    """Empties the projection before a rebuild from the topics (run it, then consume with a new group)."""
    async with uow:
        await uow.projection.reset(contracts.CONSUMED_TOPICS)
        await uow.commit(actor="campaign-gate/rebuild")
