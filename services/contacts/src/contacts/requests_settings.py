"""Settings of data-subject requests in contacts (environment prefix `CONTACTS_`), apart from the service's own."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class RequestsSettings(BaseSettings):
    """Where the peer services answer, and how often open requests are watched."""

    model_config = SettingsConfigDict(env_prefix="CONTACTS_", extra="ignore", frozen=True, populate_by_name=True)

    consent_url: str = "http://127.0.0.1:8002"
    campaign_gate_url: str = "http://127.0.0.1:8003"
    audit_log_url: str = "http://127.0.0.1:8004"
    #: Seconds a call to a peer may take before the request step is retried later.
    peer_timeout_seconds: float = 10.0
    #: Seconds between passes of the watcher (audit-log confirmations, overdue requests); 0 turns it off.
    requests_watch_interval_seconds: float = 30.0
    #: The consumer group reading the erasure confirmations on consent.events and campaigns.events.
    requests_consumer_group: str = "contacts-requests"
