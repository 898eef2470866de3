"""Domain events → the CloudEvents this service publishes on `campaigns.events` (its public contract)."""

from __future__ import annotations

from typing import Any

from shared.events import EventEnvelope, event_data

from campaign_gate import contracts
from campaign_gate.domain import events, receipts

_TYPES: dict[type, str] = {
    events.CampaignDrafted: contracts.CAMPAIGN_DRAFTED,
    events.CampaignSubmitted: contracts.CAMPAIGN_SUBMITTED,
    events.CampaignApproved: contracts.CAMPAIGN_APPROVED,
    events.CampaignRejected: contracts.CAMPAIGN_REJECTED,
    events.ReceiptChunkCommitted: contracts.RECEIPT_CHUNK_COMMITTED,
    events.CheckCompleted: contracts.CHECK_COMPLETED,
    events.SuppressionListImported: contracts.SUPPRESSION_LIST_IMPORTED,
    events.ContactForgotten: contracts.CONTACT_FORGOTTEN,
}


def subject_of(event: Any) -> str:
    """Returns the contact id for facts about a person, else the aggregate id (a chunk: its campaign)."""
    if isinstance(event, events.ContactForgotten):
        return event.contact_id
    if isinstance(event, events.SuppressionListImported):
        return f"suppression-list:{event.list_name}"
    return str(event.campaign_id)


def event_id(event: Any) -> str | None:
    """Returns the id a chunk event must carry (the hash of its header), None for a random one."""
    if isinstance(event, events.ReceiptChunkCommitted):
        return receipts.chunk_event_id(
            {
                "at": receipts.timestamp(event.at),
                "campaign_id": event.campaign_id,
                "campaign_version": event.campaign_version,
                "check_id": event.check_id,
                "chunk": event.chunk,
                "count": event.count,
                "first_index": event.first_index,
                "root": event.root,
                "ruleset_version": event.ruleset_version,
            }
        )
    return None


def to_envelope(event: Any, *, actor: str, correlation_id: str | None) -> tuple[str, EventEnvelope]:
    """Returns the topic and envelope of a campaign-gate domain event."""
    fixed = event_id(event)
    return contracts.CAMPAIGNS_EVENTS, EventEnvelope(
        **({"id": fixed} if fixed is not None else {}),
        source=contracts.SOURCE,
        type=_TYPES[type(event)],
        subject=subject_of(event),
        actor=actor,
        correlationid=correlation_id,
        data=event_data(event),
    )
