"""What audit-log reads: every Vigie topic. It publishes nothing; its API is its public face."""

from shared.contracts import CampaignsEvents, ConsentEvents, ContactsEvents

CONSUMED_TOPICS = [ContactsEvents.TOPIC, ConsentEvents.TOPIC, CampaignsEvents.TOPIC]
#: The event type after which a subject's key is destroyed (crypto-shredding).
CONTACT_ERASED = ContactsEvents.CONTACT_ERASED
