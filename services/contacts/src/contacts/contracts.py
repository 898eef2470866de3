"""The public face of contacts: its topic and the event types it publishes
(payloads in `adapters/outgoing`)."""

from shared.contracts import CampaignsEvents, ConsentEvents, ContactsEvents

CONTACTS_EVENTS = ContactsEvents.TOPIC
SOURCE = ContactsEvents.SOURCE

CONTACT_CREATED = ContactsEvents.CONTACT_CREATED
CONTACT_UPDATED = ContactsEvents.CONTACT_UPDATED
INTERACTION_RECORDED = ContactsEvents.INTERACTION_RECORDED
CONTACT_RETENTION_FLAGGED = ContactsEvents.RETENTION_FLAGGED
CONTACT_ERASED = ContactsEvents.CONTACT_ERASED
REQUEST_RECEIVED = ContactsEvents.REQUEST_RECEIVED
REQUEST_COMPLETED = ContactsEvents.REQUEST_COMPLETED
REQUEST_OVERDUE = ContactsEvents.REQUEST_OVERDUE
REQUEST_EXTENDED = ContactsEvents.REQUEST_EXTENDED
#: Art. 18: a contact's processing restricted, then lifted (both carry the new gate facts).
PROCESSING_RESTRICTED = ContactsEvents.PROCESSING_RESTRICTED
RESTRICTION_LIFTED = ContactsEvents.RESTRICTION_LIFTED
#: Art. 22(3): a contested automated decision taken up by a human, then decided with reasons.
CONTESTATION_REVIEW_STARTED = ContactsEvents.CONTESTATION_REVIEW_STARTED
CONTESTATION_DECIDED = ContactsEvents.CONTESTATION_DECIDED

#: What contacts reads: erasure confirmations of the data-subject requests (consent, campaign-gate), and
#: its own topic for the audit-log's confirmation order.
CONSUMED_TOPICS = [ContactsEvents.TOPIC, ConsentEvents.TOPIC, CampaignsEvents.TOPIC]

# Other services' event types contacts reads (their payloads are not read: the subject is the contact id).
CONSENT_DATA_ERASED = ConsentEvents.CONSENT_DATA_ERASED
GATE_CONTACT_FORGOTTEN = CampaignsEvents.CONTACT_FORGOTTEN

#: Event type → the service whose erasure of a contact it confirms (the audit log publishes nothing:
#: its confirmation is its `contact_erased` entry, read over HTTP).
ERASURE_CONFIRMATIONS = {
    CONTACT_ERASED: "contacts",
    CONSENT_DATA_ERASED: "consent",
    GATE_CONTACT_FORGOTTEN: "campaign-gate",
}
