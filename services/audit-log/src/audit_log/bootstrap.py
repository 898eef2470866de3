"""The composition root of audit-log: keys, the writer's key cache, the unit-of-work factory, the
runtime, the log's metrics and the checkpointer."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import Counter, Gauge
from shared.envelope_crypto import KeyRing
from shared.logging import FailureRun
from shared.runtime import Runtime
from shared.tracing import setup_tracing

from audit_log import contracts
from audit_log.adapters import sealing
from audit_log.adapters.receipts_client import AbstractGateReceipts, HttpGateReceipts
from audit_log.adapters.repository import LogKeys, SubjectKeyCache
from audit_log.domain.model import AuditEntry
from audit_log.service_layer import commands, handlers
from audit_log.service_layer.unit_of_work import SqlAlchemyAuditUnitOfWork
from audit_log.settings import AuditLogSettings

log = logging.getLogger(__name__)


@dataclass
class AuditLog:
    """Everything the entry points need: settings, runtime, a unit-of-work factory and the log's metrics.

    One process writes (the consumer, `settings.run_consumers`): it alone appends and signs, which is
    what makes the gap-free indices and the subject-key cache sound.
    """

    settings: AuditLogSettings
    runtime: Runtime
    keys: LogKeys
    key_cache: SubjectKeyCache = field(default_factory=SubjectKeyCache)
    clock: Callable[[], datetime] | None = None
    tree_size: int = 0
    last_checkpoint_at: float | None = None
    #: campaign-gate's receipts of a person, for proof bundles (None: built from the settings).
    gate_receipts: AbstractGateReceipts | None = None

    def __post_init__(self) -> None:
        registry = self.runtime.registry
        self.appended = Counter(
            "audit_log_appended", "Entries appended to the log by this process", registry=registry
        )
        Gauge("audit_log_entries", "Entries in the log (the tree size)", registry=registry).set_function(
            lambda: self.tree_size
        )
        Gauge(
            "audit_log_checkpoint_age_seconds",
            "Seconds since the latest checkpoint was signed (NaN before one)",
            registry=registry,
        ).set_function(self._checkpoint_age)

    def uow(self) -> SqlAlchemyAuditUnitOfWork:
        """Returns a new unit of work on the log."""
        return SqlAlchemyAuditUnitOfWork(
            engine=self.runtime.engine, keys=self.keys, key_cache=self.key_cache, clock=self.clock
        )

    def gate(self) -> AbstractGateReceipts:
        """Returns the client of campaign-gate's receipt routes (proof bundles)."""
        if self.gate_receipts is None:
            self.gate_receipts = HttpGateReceipts(
                base_url=self.settings.campaign_gate_url,
                settings=self.settings,
                timeout_seconds=self.settings.peer_timeout_seconds,
            )
        return self.gate_receipts

    def count_appended(self, entries: Sequence[AuditEntry]) -> None:
        """Counts entries this process appended into the metrics."""
        if entries:
            self.appended.inc(len(entries))
            self.tree_size = max(self.tree_size, entries[-1].index + 1)

    def _checkpoint_age(self) -> float:
        return (
            math.nan if self.last_checkpoint_at is None else max(0.0, time.time() - self.last_checkpoint_at)
        )

    async def refresh_status(self) -> None:
        """Reads the tree size and the latest checkpoint's time into the metrics."""
        status = await handlers.log_status(self.uow())
        self.tree_size = max(self.tree_size, status.size)
        signed_at = status.last_signed_at
        self.last_checkpoint_at = signed_at.timestamp() if signed_at is not None else None

    async def checkpoint_loop(self) -> None:
        """Signs a new checkpoint whenever the tree grew, every few seconds at most (the writer only)."""
        # Because a database outage fails every pass: one line when it starts, a summary, one when it ends.
        failures = FailureRun(log, "checkpoint signing")
        while True:
            try:
                await handlers.sign_checkpoint(commands.SignCheckpoint(), self.uow())
                await self.refresh_status()
            except Exception as exc:  # noqa: BLE001 - the next pass retries; the run is logged bounded.
                failures.failed(exc)
            else:
                failures.recovered()
            await asyncio.sleep(self.settings.checkpoint_every_seconds)


def bootstrap(
    settings: AuditLogSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> AuditLog:
    """Builds the service from its settings (read from the environment when not given)."""
    settings = settings or AuditLogSettings()
    sealing.configure(settings.sealing_workers)
    kid, kek = settings.subject_kek_pair()
    keys = LogKeys(
        signing_key=Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(settings.signing_key_seed.get_secret_value())
        ),
        key_name=settings.key_name,
        origin=settings.origin,
        key_ring=KeyRing({kid: kek}, kid),
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
    )
    runtime = Runtime(settings=settings, outbox_table=None, topics=list(contracts.CONSUMED_TOPICS))
    # Spans only when an exporter is configured (OTEL_* variables); else nothing is installed.
    setup_tracing(settings.service_name, engines=[runtime.engine])
    return AuditLog(settings=settings, runtime=runtime, keys=keys, clock=clock)
