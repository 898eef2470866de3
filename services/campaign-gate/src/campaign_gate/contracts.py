"""The public face of campaign-gate: its topic, the event types it publishes and the ones it consumes."""

CAMPAIGNS_EVENTS = "campaigns.events"
SOURCE = "/vigie/campaign-gate"

CAMPAIGN_DRAFTED = "vigie.campaigns.campaign_drafted.v1"
CAMPAIGN_SUBMITTED = "vigie.campaigns.campaign_submitted.v1"
CAMPAIGN_APPROVED = "vigie.campaigns.campaign_approved.v1"
CAMPAIGN_REJECTED = "vigie.campaigns.campaign_rejected.v1"
#: One receipt per recipient of a check, keyed by the contact id: the audit log's answer to
#: "why was this person contacted, or not, by this campaign".
RECIPIENT_CHECKED = "vigie.campaigns.recipient_checked.v1"
CHECK_COMPLETED = "vigie.campaigns.check_completed.v1"
#: The gate's confirmation that it erased its projection of an erased contact (keyed by the contact id).
CONTACT_FORGOTTEN = "vigie.campaigns.contact_forgotten.v1"
SUPPRESSION_LIST_IMPORTED = "vigie.campaigns.suppression_list_imported.v1"

#: What the gate projects (SPEC §1).
CONTACTS_EVENTS = "contacts.events"
CONSENT_EVENTS = "consent.events"
CONSUMED_TOPICS = [CONTACTS_EVENTS, CONSENT_EVENTS]

CONTACT_CREATED = "vigie.contacts.contact_created.v1"
CONTACT_UPDATED = "vigie.contacts.contact_updated.v1"
INTERACTION_RECORDED = "vigie.contacts.interaction_recorded.v1"
CONTACT_RETENTION_FLAGGED = "vigie.contacts.retention_flagged.v1"
CONTACT_ERASED = "vigie.contacts.contact_erased.v1"

PURPOSE_REGISTERED = "vigie.consent.purpose_registered.v1"
PURPOSE_REVISED = "vigie.consent.purpose_revised.v1"
PURPOSE_RETIRED = "vigie.consent.purpose_retired.v1"
CONSENT_REQUESTED = "vigie.consent.consent_requested.v1"
CONSENT_GRANTED = "vigie.consent.consent_granted.v1"
CONSENT_WITHDRAWN = "vigie.consent.consent_withdrawn.v1"
OBJECTION_RECORDED = "vigie.consent.objection_recorded.v1"
NOTICE_PUBLISHED = "vigie.consent.notice_published.v1"
NOTICE_DELIVERED = "vigie.consent.notice_delivered.v1"
PROCESSOR_REGISTERED = "vigie.consent.processor_registered.v1"
PROCESSOR_UPDATED = "vigie.consent.processor_updated.v1"
PARTY_REGISTERED = "vigie.consent.party_registered.v1"
PARTY_UPDATED = "vigie.consent.party_updated.v1"
CONTRACT_SIGNED = "vigie.consent.contract_signed.v1"
CONTRACT_EXPIRING = "vigie.consent.contract_expiring.v1"
CONTRACT_EXPIRED = "vigie.consent.contract_expired.v1"
CONSENT_DATA_ERASED = "vigie.consent.consent_data_erased.v1"
