"""Every topic and event type of Vigie, in one versioned place that producers and consumers share.

A producer publishes only the types listed under its topic; a consumer names what it reads from here,
never from a copy. A type's `.vN` suffix is its payload version: a change a reader would notice gets a
new type (`…v2`), published beside the old one until every consumer reads it. The payloads themselves
are documented in `docs/asyncapi.yaml`, generated from the producers' code.
"""

from __future__ import annotations

from typing import Final


class ContactsEvents:
    """`contacts.events`: published by contacts, keyed by the contact id."""

    TOPIC: Final = "contacts.events"
    SOURCE: Final = "/vigie/contacts"
    CONTACT_CREATED: Final = "vigie.contacts.contact_created.v1"
    CONTACT_UPDATED: Final = "vigie.contacts.contact_updated.v1"
    INTERACTION_RECORDED: Final = "vigie.contacts.interaction_recorded.v1"
    RETENTION_FLAGGED: Final = "vigie.contacts.retention_flagged.v1"
    CONTACT_ERASED: Final = "vigie.contacts.contact_erased.v1"
    REQUEST_RECEIVED: Final = "vigie.contacts.request_received.v1"
    REQUEST_COMPLETED: Final = "vigie.contacts.request_completed.v1"
    REQUEST_OVERDUE: Final = "vigie.contacts.request_overdue.v1"
    REQUEST_EXTENDED: Final = "vigie.contacts.request_extended.v1"
    PROCESSING_RESTRICTED: Final = "vigie.contacts.processing_restricted.v1"
    RESTRICTION_LIFTED: Final = "vigie.contacts.restriction_lifted.v1"
    CONTESTATION_REVIEW_STARTED: Final = "vigie.contacts.contestation_review_started.v1"
    CONTESTATION_DECIDED: Final = "vigie.contacts.contestation_decided.v1"


class ConsentEvents:
    """`consent.events`: published by consent, keyed by the contact id or the purpose/party/processor/breach
    id."""

    TOPIC: Final = "consent.events"
    SOURCE: Final = "/vigie/consent"
    PURPOSE_REGISTERED: Final = "vigie.consent.purpose_registered.v1"
    PURPOSE_REVISED: Final = "vigie.consent.purpose_revised.v1"
    PURPOSE_RETIRED: Final = "vigie.consent.purpose_retired.v1"
    CONSENT_REQUESTED: Final = "vigie.consent.consent_requested.v1"
    CONSENT_GRANTED: Final = "vigie.consent.consent_granted.v1"
    CONSENT_WITHDRAWN: Final = "vigie.consent.consent_withdrawn.v1"
    OBJECTION_RECORDED: Final = "vigie.consent.objection_recorded.v1"
    OBJECTION_INDEXES_ADDED: Final = "vigie.consent.objection_indexes_added.v1"
    NOTICE_PUBLISHED: Final = "vigie.consent.notice_published.v1"
    NOTICE_DELIVERED: Final = "vigie.consent.notice_delivered.v1"
    PROCESSOR_REGISTERED: Final = "vigie.consent.processor_registered.v1"
    PROCESSOR_UPDATED: Final = "vigie.consent.processor_updated.v1"
    PARTY_REGISTERED: Final = "vigie.consent.party_registered.v1"
    PARTY_UPDATED: Final = "vigie.consent.party_updated.v1"
    CONTRACT_SIGNED: Final = "vigie.consent.contract_signed.v1"
    CONTRACT_EXPIRING: Final = "vigie.consent.contract_expiring.v1"
    CONTRACT_EXPIRED: Final = "vigie.consent.contract_expired.v1"
    CONSENT_DATA_ERASED: Final = "vigie.consent.consent_data_erased.v1"
    BREACH_RECORDED: Final = "vigie.consent.breach_recorded.v1"
    BREACH_UPDATED: Final = "vigie.consent.breach_updated.v1"
    BREACH_ASSESSED: Final = "vigie.consent.breach_assessed.v1"
    BREACH_NOTIFIED: Final = "vigie.consent.breach_notified.v1"
    BREACH_COMMUNICATED: Final = "vigie.consent.breach_communicated.v1"
    BREACH_OVERDUE: Final = "vigie.consent.breach_overdue.v1"


class CampaignsEvents:
    """`campaigns.events`: published by campaign-gate, keyed by the contact id or the campaign id."""

    TOPIC: Final = "campaigns.events"
    SOURCE: Final = "/vigie/campaign-gate"
    CAMPAIGN_DRAFTED: Final = "vigie.campaigns.campaign_drafted.v1"
    CAMPAIGN_SUBMITTED: Final = "vigie.campaigns.campaign_submitted.v1"
    CAMPAIGN_APPROVED: Final = "vigie.campaigns.campaign_approved.v1"
    CAMPAIGN_REJECTED: Final = "vigie.campaigns.campaign_rejected.v1"
    RECEIPT_CHUNK_COMMITTED: Final = "vigie.campaigns.receipt_chunk_committed.v1"
    CHECK_COMPLETED: Final = "vigie.campaigns.check_completed.v1"
    CONTACT_FORGOTTEN: Final = "vigie.campaigns.contact_forgotten.v1"
    SUPPRESSION_LIST_IMPORTED: Final = "vigie.campaigns.suppression_list_imported.v1"


#: Every topic, with the class that lists its event types.
TOPICS: Final = {c.TOPIC: c for c in (ContactsEvents, ConsentEvents, CampaignsEvents)}


def event_types(topic_class: type) -> frozenset[str]:
    """Returns the event types listed under one topic's class."""
    return frozenset(
        value
        for name, value in vars(topic_class).items()
        if name.isupper() and name not in ("TOPIC", "SOURCE")
    )
