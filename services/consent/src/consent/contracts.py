"""The public face of consent: its topic, the event types it publishes and the ones it consumes."""

CONSENT_EVENTS = "consent.events"
SOURCE = "/vigie/consent"

PURPOSE_REGISTERED = "vigie.consent.purpose_registered.v1"
PURPOSE_REVISED = "vigie.consent.purpose_revised.v1"
PURPOSE_RETIRED = "vigie.consent.purpose_retired.v1"
CONSENT_REQUESTED = "vigie.consent.consent_requested.v1"
CONSENT_GRANTED = "vigie.consent.consent_granted.v1"
CONSENT_WITHDRAWN = "vigie.consent.consent_withdrawn.v1"
OBJECTION_RECORDED = "vigie.consent.objection_recorded.v1"
OBJECTION_INDEXES_ADDED = "vigie.consent.objection_indexes_added.v1"
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

#: What consent listens to: the contacts' blind indexes (to attach them to objections) and erasures (SPEC §1,
#: §7).
CONTACTS_EVENTS = "contacts.events"
CONTACT_CREATED = "vigie.contacts.contact_created.v1"
CONTACT_UPDATED = "vigie.contacts.contact_updated.v1"
CONTACT_ERASED = "vigie.contacts.contact_erased.v1"
CONSUMED_TOPICS = [CONTACTS_EVENTS]
