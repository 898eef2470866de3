"""The public face of contacts: its topic and the event types it publishes
(payloads in `adapters/outgoing`)."""

CONTACTS_EVENTS = "contacts.events"
SOURCE = "/vigie/contacts"

CONTACT_CREATED = "vigie.contacts.contact_created.v1"
CONTACT_UPDATED = "vigie.contacts.contact_updated.v1"
INTERACTION_RECORDED = "vigie.contacts.interaction_recorded.v1"
CONTACT_RETENTION_FLAGGED = "vigie.contacts.retention_flagged.v1"
CONTACT_ERASED = "vigie.contacts.contact_erased.v1"
REQUEST_RECEIVED = "vigie.contacts.request_received.v1"
REQUEST_COMPLETED = "vigie.contacts.request_completed.v1"
REQUEST_OVERDUE = "vigie.contacts.request_overdue.v1"
REQUEST_EXTENDED = "vigie.contacts.request_extended.v1"

#: What contacts reads: erasure confirmations of the data-subject requests (consent, campaign-gate), and
#: its own topic for the audit-log's confirmation order.
CONSUMED_TOPICS = ["contacts.events", "consent.events", "campaigns.events"]

# Other services' event types contacts reads (their payloads are not read: the subject is the contact id).
CONSENT_DATA_ERASED = "vigie.consent.consent_data_erased.v1"
GATE_CONTACT_FORGOTTEN = "vigie.campaigns.contact_forgotten.v1"
#: The gate's decision receipts, listed from the audit log in an access export.
GATE_RECIPIENT_CHECKED = "vigie.campaigns.recipient_checked.v1"

#: Event type → the service whose erasure of a contact it confirms (the audit log publishes nothing:
#: its confirmation is its `contact_erased` entry, read over HTTP).
ERASURE_CONFIRMATIONS = {
    CONTACT_ERASED: "contacts",
    CONSENT_DATA_ERASED: "consent",
    GATE_CONTACT_FORGOTTEN: "campaign-gate",
}
