"""Domain events → the CloudEvents this service publishes on `consent.events` (its public contract)."""

from __future__ import annotations

from typing import Any

from shared.events import EventEnvelope, event_data

from consent import contracts
from consent.domain import events

_TYPES: dict[type, str] = {
    events.PurposeRegistered: contracts.PURPOSE_REGISTERED,
    events.PurposeRevised: contracts.PURPOSE_REVISED,
    events.PurposeRetired: contracts.PURPOSE_RETIRED,
    events.ConsentRequested: contracts.CONSENT_REQUESTED,
    events.ConsentGranted: contracts.CONSENT_GRANTED,
    events.ConsentWithdrawn: contracts.CONSENT_WITHDRAWN,
    events.ObjectionRecorded: contracts.OBJECTION_RECORDED,
    events.ObjectionIndexesAdded: contracts.OBJECTION_INDEXES_ADDED,
    events.NoticePublished: contracts.NOTICE_PUBLISHED,
    events.NoticeDelivered: contracts.NOTICE_DELIVERED,
    events.ProcessorRegistered: contracts.PROCESSOR_REGISTERED,
    events.ProcessorUpdated: contracts.PROCESSOR_UPDATED,
    events.ConsentDataErased: contracts.CONSENT_DATA_ERASED,
    events.PartyRegistered: contracts.PARTY_REGISTERED,
    events.PartyUpdated: contracts.PARTY_UPDATED,
    events.ContractSigned: contracts.CONTRACT_SIGNED,
    events.ContractExpiring: contracts.CONTRACT_EXPIRING,
    events.ContractExpired: contracts.CONTRACT_EXPIRED,
    events.BreachRecorded: contracts.BREACH_RECORDED,
    events.BreachUpdated: contracts.BREACH_UPDATED,
    events.BreachAssessed: contracts.BREACH_ASSESSED,
    events.BreachNotified: contracts.BREACH_NOTIFIED,
    events.BreachCommunicated: contracts.BREACH_COMMUNICATED,
    events.BreachOverdue: contracts.BREACH_OVERDUE,
}

#: For events that concern no person, the aggregate id that becomes the subject (and Kafka key).
_OWN_ID = ("purpose_id", "notice_id", "processor_id", "party_id", "objection_id", "breach_id")


def subject_of(event: Any) -> str:
    """Returns the contact id for facts about a person, else the aggregate's own id."""
    contact_id = getattr(event, "contact_id", None)
    if contact_id:
        return str(contact_id)
    return next(str(getattr(event, name)) for name in _OWN_ID if getattr(event, name, None))


def to_envelope(event: Any, *, actor: str, correlation_id: str | None) -> tuple[str, EventEnvelope]:
    """Returns the topic and envelope of a consent domain event; data holds ids, indexes and times only."""
    return contracts.CONSENT_EVENTS, EventEnvelope(
        source=contracts.SOURCE,
        type=_TYPES[type(event)],
        subject=subject_of(event),
        actor=actor,
        correlationid=correlation_id,
        data=event_data(event),
    )
