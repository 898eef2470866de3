"""Domain events → the CloudEvents this service publishes on `contacts.events` (its public contract)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.events import EventEnvelope, event_data

from contacts import contracts
from contacts.domain import events, requests

_TYPES: dict[type, str] = {
    events.ContactCreated: contracts.CONTACT_CREATED,
    events.ContactUpdated: contracts.CONTACT_UPDATED,
    events.InteractionRecorded: contracts.INTERACTION_RECORDED,
    events.RetentionFlagged: contracts.CONTACT_RETENTION_FLAGGED,
    events.ContactErased: contracts.CONTACT_ERASED,
    requests.RequestReceived: contracts.REQUEST_RECEIVED,
    requests.RequestCompleted: contracts.REQUEST_COMPLETED,
    requests.RequestOverdue: contracts.REQUEST_OVERDUE,
    requests.RequestExtended: contracts.REQUEST_EXTENDED,
    events.ProcessingRestricted: contracts.PROCESSING_RESTRICTED,
    events.RestrictionLifted: contracts.RESTRICTION_LIFTED,
    requests.ContestationReviewStarted: contracts.CONTESTATION_REVIEW_STARTED,
    requests.ContestationDecided: contracts.CONTESTATION_DECIDED,
}


def to_envelope(event: Any, *, actor: str, correlation_id: str | None) -> tuple[str, EventEnvelope]:
    """Returns the topic and envelope of a contacts domain event (key = the contact id)."""
    # Constructed without validation: every value is this service's own (ids, type names, the actor,
    # JSON-ready data), and validating them again was a tenth of the CPU of a bulk-import row.
    # The id and time are given because model_construct inspects each default factory on every call.
    return contracts.CONTACTS_EVENTS, EventEnvelope.model_construct(
        id=str(uuid.uuid4()),
        time=datetime.now(UTC),
        source=contracts.SOURCE,
        type=_TYPES[type(event)],
        # Because a request about an unknown person has no contact: its own id keys it.
        subject=event.contact_id or event.request_id,
        actor=actor,
        correlationid=correlation_id,
        data=_data(event),
    )


def _data(event: Any) -> dict[str, Any]:
    # Because `gate_facts` are JSON-ready already, a ContactCreated needs no walk over them: the same
    # data as `event_data` gives, at a fraction of its cost on every create and import row.
    if type(event) is events.ContactCreated:
        return {"contact_id": event.contact_id, "facts": event.facts, "at": event.at.isoformat()}
    return event_data(event)
