"""Settings of the audit-log service (environment prefix `AUDIT_LOG_`)."""

from __future__ import annotations

import base64
from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from shared.settings import PLACEHOLDER_MARK, ServiceSettings


class AuditLogSettings(ServiceSettings):
    """Where the log lives, how its checkpoints are signed and how subjects' data is sealed."""

    model_config = SettingsConfigDict(
        env_prefix="AUDIT_LOG_", extra="ignore", frozen=True, populate_by_name=True
    )
    service_name: ClassVar[str] = "audit-log"

    database_url: str = "sqlite+aiosqlite:///./.run/audit-log.db"
    run_relay: bool = False
    origin: str = "vigie.local/audit-log"
    key_name: str = "vigie-audit-local"
    #: The Ed25519 signing key's 32-byte seed, base64.
    signing_key_seed: SecretStr = SecretStr(base64.b64encode(b"local-only-placeholder-ed25519-!").decode())
    #: Key-encryption key for the per-subject keys, `id:base64`.
    subject_kek: SecretStr = SecretStr(
        "local:" + base64.b64encode(b"local-only-placeholder-kek-32byt").decode()
    )
    pseudonym_key: SecretStr = SecretStr(f"{PLACEHOLDER_MARK}-audit-pseudonym-key-0123")
    checkpoint_every_seconds: float = 1.0
    consumer_group: str = "audit-log"
    #: Records integrated per transaction (group commit); larger batches amortise the fsync.
    consumer_batch_records: int = 5000
    #: Worker processes sealing a group commit's entries beside the writer (0: the writer alone). Pays
    #: where PostgreSQL has cores of its own; on a 2-core machine shared with it, it did not.
    sealing_workers: int = 0
    #: Where campaign-gate answers, for the receipts of a proof bundle (GET /v1/subjects/{id}/proof-bundle).
    campaign_gate_url: str = "http://127.0.0.1:8003"
    #: Seconds a call to campaign-gate may take while a proof bundle is assembled.
    peer_timeout_seconds: float = 10.0
    #: The most entries (and, separately, receipts) one proof bundle holds; a person past it is a 413.
    bundle_max_items: int = 20_000

    def subject_kek_pair(self) -> tuple[str, bytes]:
        """Returns the subject key-encryption key's id and bytes."""
        kid, value = self.subject_kek.get_secret_value().split(":", 1)
        return kid, base64.b64decode(value)
