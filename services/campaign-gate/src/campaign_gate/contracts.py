"""The public face of campaign-gate: its topic, the event types it publishes and the ones it consumes."""

from shared.contracts import CampaignsEvents, ConsentEvents, ContactsEvents

CAMPAIGNS_EVENTS = CampaignsEvents.TOPIC
SOURCE = CampaignsEvents.SOURCE

CAMPAIGN_DRAFTED = CampaignsEvents.CAMPAIGN_DRAFTED
CAMPAIGN_SUBMITTED = CampaignsEvents.CAMPAIGN_SUBMITTED
CAMPAIGN_APPROVED = CampaignsEvents.CAMPAIGN_APPROVED
CAMPAIGN_REJECTED = CampaignsEvents.CAMPAIGN_REJECTED
#: One event per chunk of a check's receipts (at most 5,000), keyed by the campaign id, carrying the
#: root of the Merkle tree over the chunk's receipts. A person's receipt, with its proof into that
#: root, is served by the gate: "why was this person contacted, or not, by this campaign".
RECEIPT_CHUNK_COMMITTED = CampaignsEvents.RECEIPT_CHUNK_COMMITTED
CHECK_COMPLETED = CampaignsEvents.CHECK_COMPLETED
#: The gate's confirmation that it erased its projection of an erased contact (keyed by the contact id).
CONTACT_FORGOTTEN = CampaignsEvents.CONTACT_FORGOTTEN
SUPPRESSION_LIST_IMPORTED = CampaignsEvents.SUPPRESSION_LIST_IMPORTED

#: What the gate projects (SPEC §1).
CONTACTS_EVENTS = ContactsEvents.TOPIC
CONSENT_EVENTS = ConsentEvents.TOPIC
CONSUMED_TOPICS = [CONTACTS_EVENTS, CONSENT_EVENTS]

CONTACT_CREATED = ContactsEvents.CONTACT_CREATED
CONTACT_UPDATED = ContactsEvents.CONTACT_UPDATED
INTERACTION_RECORDED = ContactsEvents.INTERACTION_RECORDED
CONTACT_RETENTION_FLAGGED = ContactsEvents.RETENTION_FLAGGED
CONTACT_ERASED = ContactsEvents.CONTACT_ERASED
#: Art. 18: both carry the contact's new facts (`facts.restriction`), as a contact update does.
PROCESSING_RESTRICTED = ContactsEvents.PROCESSING_RESTRICTED
RESTRICTION_LIFTED = ContactsEvents.RESTRICTION_LIFTED

PURPOSE_REGISTERED = ConsentEvents.PURPOSE_REGISTERED
PURPOSE_REVISED = ConsentEvents.PURPOSE_REVISED
PURPOSE_RETIRED = ConsentEvents.PURPOSE_RETIRED
CONSENT_REQUESTED = ConsentEvents.CONSENT_REQUESTED
CONSENT_GRANTED = ConsentEvents.CONSENT_GRANTED
CONSENT_WITHDRAWN = ConsentEvents.CONSENT_WITHDRAWN
OBJECTION_RECORDED = ConsentEvents.OBJECTION_RECORDED
NOTICE_PUBLISHED = ConsentEvents.NOTICE_PUBLISHED
NOTICE_DELIVERED = ConsentEvents.NOTICE_DELIVERED
PROCESSOR_REGISTERED = ConsentEvents.PROCESSOR_REGISTERED
PROCESSOR_UPDATED = ConsentEvents.PROCESSOR_UPDATED
PARTY_REGISTERED = ConsentEvents.PARTY_REGISTERED
PARTY_UPDATED = ConsentEvents.PARTY_UPDATED
CONTRACT_SIGNED = ConsentEvents.CONTRACT_SIGNED
CONTRACT_EXPIRING = ConsentEvents.CONTRACT_EXPIRING
CONTRACT_EXPIRED = ConsentEvents.CONTRACT_EXPIRED
CONSENT_DATA_ERASED = ConsentEvents.CONSENT_DATA_ERASED

#: Consumed types whose facts concern one person: the record's key and its `data.contact_id` (and, for
#: an objection, its `data.blind_indexes`) name everyone whose decision it may change. Until the
#: projection applies such a record, only those recipients are decided stale.
PERSON_FACT_TYPES = frozenset(
    {
        CONTACT_CREATED,
        CONTACT_UPDATED,
        INTERACTION_RECORDED,
        CONTACT_RETENTION_FLAGGED,
        CONTACT_ERASED,
        PROCESSING_RESTRICTED,
        RESTRICTION_LIFTED,
        CONSENT_REQUESTED,
        CONSENT_GRANTED,
        CONSENT_WITHDRAWN,
        OBJECTION_RECORDED,
        NOTICE_DELIVERED,
        CONSENT_DATA_ERASED,
    }
)
#: Consumed types whose facts weigh on whole campaigns (purposes and their register entries, notices,
#: processors, parties and their contracts): one unapplied makes the whole check, and a submission's
#: review, wait. Every other type the gate applies nothing for; a test keeps the three sets exact.
CAMPAIGN_FACT_TYPES = frozenset(
    {
        PURPOSE_REGISTERED,
        PURPOSE_REVISED,
        PURPOSE_RETIRED,
        NOTICE_PUBLISHED,
        PROCESSOR_REGISTERED,
        PROCESSOR_UPDATED,
        PARTY_REGISTERED,
        PARTY_UPDATED,
        CONTRACT_SIGNED,
        CONTRACT_EXPIRING,
        CONTRACT_EXPIRED,
    }
)
