"""The composition root of audit-log: keys, store, runtime and the batch consumer."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import contracts
from audit_log.adapters.log_store import LogKeys, LogStore
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
            await handlers.integrate_events(events, engine=self.runtime.engine, store=self.store)
        return refused

    def consumers(self) -> list[ConsumerSpec]:
        """Returns the consumer of every topic."""
        return [ConsumerSpec(topics=list(contracts.CONSUMED_TOPICS), group_id=self.settings.consumer_group,
                             handle_batch=self.handle_batch)]

    async def checkpoint_loop(self) -> None:
        """Signs a new checkpoint whenever the tree grew, every few seconds at most."""
        while True:
            try:
                await handlers.make_checkpoint(engine=self.runtime.engine, store=self.store)
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
