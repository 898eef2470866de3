"""What audit-log reads: every Vigie topic. It publishes nothing; its API is its public face."""

CONSUMED_TOPICS = ["contacts.events", "consent.events", "campaigns.events"]
#: The event type after which a subject's key is destroyed (crypto-shredding).
CONTACT_ERASED = "vigie.contacts.contact_erased.v1"
