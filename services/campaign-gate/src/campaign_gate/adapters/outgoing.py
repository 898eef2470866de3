"""Domain events → the CloudEvents this service publishes on `campaigns.events` (its public contract)."""

from __future__ import annotations

from typing import Any

from shared.events import EventEnvelope, event_data

from campaign_gate import contracts
from campaign_gate.domain import events

_TYPES: dict[type, str] = {
    events.CampaignDrafted: contracts.CAMPAIGN_DRAFTED,
    events.CampaignSubmitted: contracts.CAMPAIGN_SUBMITTED,
    events.CampaignApproved: contracts.CAMPAIGN_APPROVED,
    events.CampaignRejected: contracts.CAMPAIGN_REJECTED,
    events.RecipientChecked: contracts.RECIPIENT_CHECKED,
    events.CheckCompleted: contracts.CHECK_COMPLETED,
    events.SuppressionListImported: contracts.SUPPRESSION_LIST_IMPORTED,
    events.ContactForgotten: contracts.CONTACT_FORGOTTEN,
}


def subject_of(event: Any) -> str:
    """Returns the contact id for a receipt (so the audit log finds it per person), else the aggregate id."""
    if isinstance(event, events.RecipientChecked | events.ContactForgotten):
        return event.contact_id
    if isinstance(event, events.SuppressionListImported):
        return f"suppression-list:{event.list_name}"
    return str(event.campaign_id)


def to_envelope(event: Any, *, actor: str, correlation_id: str | None) -> tuple[str, EventEnvelope]:
    """Returns the topic and envelope of a campaign-gate domain event."""
    return contracts.CAMPAIGNS_EVENTS, EventEnvelope(
        source=contracts.SOURCE,
        type=_TYPES[type(event)],
        subject=subject_of(event),
        actor=actor,
        correlationid=correlation_id,
        data=event_data(event),
    )
