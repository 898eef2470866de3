"""Settings of the contacts service (environment prefix `CONTACTS_`)."""

from __future__ import annotations

import base64
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class ContactsSettings(ServiceSettings):
    """Where contacts keeps its data, the keys that protect it, and the peers data-subject requests ask."""

    model_config = SettingsConfigDict(
        env_prefix="CONTACTS_", extra="ignore", frozen=True, populate_by_name=True
    )
    service_name: ClassVar[str] = "contacts"

    database_url: str = "sqlite+aiosqlite:///./.run/contacts.db"
    blind_index_key: SecretStr = Field(
        SecretStr(f"{PLACEHOLDER_MARK}-blind-index-key-0123456789"), validation_alias="VIGIE_BLIND_INDEX_KEY"
    )
    #: Key-encryption keys as `id:base64,id:base64`; the first is active (see `kek_ring`).
    keks: SecretStr = SecretStr("local:" + base64.b64encode(b"local-only-placeholder-kek-32byt").decode())
    #: Days between flagging a contact past retention and erasing it (the one-time re-contact window).
    retention_grace_days: int = 30
    #: Seconds between retention sweeps run by the API process; 0 turns the periodic sweep off.
    retention_sweep_interval_seconds: float = 3600.0
    #: Rows per transaction of a bulk import.
    import_batch_rows: int = 2000
    #: Worker processes that validate, seal and build the events of import rows; 0: one per core.
    import_workers: int = 0
    #: Batches smaller than this are prepared in the API process (starting workers would cost more).
    import_parallel_min_rows: int = 1000

    # Data-subject requests: where the peer services answer, and how often open requests are watched.
    consent_url: str = "http://127.0.0.1:8002"
    campaign_gate_url: str = "http://127.0.0.1:8003"
    audit_log_url: str = "http://127.0.0.1:8004"
    #: Seconds a call to a peer may take before the request step is retried later.
    peer_timeout_seconds: float = 10.0
    #: Seconds between passes of the watcher (audit-log confirmations, overdue requests); 0 turns it off.
    requests_watch_interval_seconds: float = 30.0
    #: The consumer group reading the erasure confirmations on consent.events and campaigns.events.
    requests_consumer_group: str = "contacts-requests"

    def kek_ring(self) -> tuple[dict[str, bytes], str]:
        """Returns the key-encryption keys by id and the id of the active one."""
        pairs = [item.split(":", 1) for item in self.keks.get_secret_value().split(",") if item]
        return {kid: base64.b64decode(value) for kid, value in pairs}, pairs[0][0]
