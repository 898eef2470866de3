"""The public face of campaign-gate: its topic (payloads arrive with the campaign-gate issue)."""

CAMPAIGNS_EVENTS = "campaigns.events"
CONSUMED_TOPICS = ["contacts.events", "consent.events"]
SOURCE = "/vigie/campaign-gate"
