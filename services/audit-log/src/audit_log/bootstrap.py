"""The composition root of audit-log: keys, store, runtime and the batch consumer."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import Counter, Gauge

from audit_log import contracts
from audit_log.adapters.log_store import LogKeys, LogStore, utc
from audit_log.service_layer import handlers
from audit_log.settings import AuditLogSettings
from shared.envelope_crypto import KeyRing
from shared.events import EventDecodeError, EventEnvelope
from shared.kafka import PoisonMessageError
from shared.runtime import ConsumerSpec, Runtime


log = logging.getLogger(__name__)


@dataclass
class AuditLog:
    """Everything the entry points need."""

    settings: AuditLogSettings
    runtime: Runtime
    store: LogStore
    tree_size: int = 0
    last_checkpoint_at: float | None = field(default=None)

    def __post_init__(self) -> None:
        registry = self.runtime.registry
        self.appended = Counter("audit_log_appended", "Entries appended to the log by this process",
                                registry=registry)
        Gauge("audit_log_entries", "Entries in the log (the tree size)", registry=registry).set_function(
            lambda: self.tree_size)
        Gauge("audit_log_checkpoint_age_seconds", "Seconds since the latest checkpoint was signed (NaN before one)",
              registry=registry).set_function(self._checkpoint_age)

    def _checkpoint_age(self) -> float:
        return math.nan if self.last_checkpoint_at is None else max(0.0, time.time() - self.last_checkpoint_at)

    async def refresh_status(self) -> None:
        """Reads the tree size and the latest checkpoint's time into the metrics."""
        size, signed_at = await handlers.log_status(engine=self.runtime.engine, store=self.store)
        self.tree_size = max(self.tree_size, size)
        self.last_checkpoint_at = utc(signed_at).timestamp() if signed_at is not None else None

    async def handle_batch(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, BaseException]]:
        """Decodes records, dead-letters the undecodable, integrates the rest in one transaction."""
        refused: list[tuple[ConsumerRecord, BaseException]] = []
        events: list[tuple[EventEnvelope, bytes]] = []
        for record in records:
            try:
                events.append((EventEnvelope.decode(record.value or b""), record.value))
            except EventDecodeError as exc:
                refused.append((record, PoisonMessageError(f"undecodable event: {exc.__class__.__name__}")))
        if events:
            new = await handlers.integrate_events(events, engine=self.runtime.engine, store=self.store)
            if new:
                self.appended.inc(len(new))
                self.tree_size = max(self.tree_size, new[-1].index + 1)
        return refused

    def consumers(self) -> list[ConsumerSpec]:
        """Returns the consumer of every topic."""
        return [ConsumerSpec(topics=list(contracts.CONSUMED_TOPICS), group_id=self.settings.consumer_group,
                             handle_batch=self.handle_batch, max_records=self.settings.consumer_batch_records)]

    async def checkpoint_loop(self) -> None:
        """Signs a new checkpoint whenever the tree grew, every few seconds at most."""
        while True:
            try:
                await handlers.make_checkpoint(engine=self.runtime.engine, store=self.store)
                await self.refresh_status()
            except Exception:
                log.exception("checkpoint failed")
            await asyncio.sleep(self.settings.checkpoint_every_seconds)


def bootstrap(settings: AuditLogSettings | None = None) -> AuditLog:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or AuditLogSettings()
    kid, kek = settings.subject_kek_pair()
    keys = LogKeys(
        signing_key=Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.signing_key_seed.get_secret_value())),
        key_name=settings.key_name, origin=settings.origin, key_ring=KeyRing({kid: kek}, kid),
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode())
    runtime = Runtime(settings=settings, outbox_table=None, topics=list(contracts.CONSUMED_TOPICS))
    return AuditLog(settings=settings, runtime=runtime, store=LogStore(keys))
