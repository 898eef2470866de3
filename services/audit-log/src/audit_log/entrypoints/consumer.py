"""The audit log's Kafka entry point: every polled batch of every topic becomes one group commit.

Undecodable records are handed back to the consumer loop, which dead-letters them; the rest of the
batch is appended.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from shared.kafka import BatchHandler, PoisonMessageError, decode_or_poison
from shared.runtime import ConsumerSpec

from audit_log import contracts
from audit_log.adapters.collector import paused_gc
from audit_log.bootstrap import AuditLog
from audit_log.domain.model import AuditEntry
from audit_log.service_layer import commands, handlers
from audit_log.service_layer.unit_of_work import AbstractAuditUnitOfWork

Refused = list[tuple[ConsumerRecord, BaseException]]


async def integrate_records(
    records: list[ConsumerRecord], uow: AbstractAuditUnitOfWork
) -> tuple[Sequence[AuditEntry], Refused]:
    """Integrates the decodable records in one transaction; returns the new entries and the refused ones."""
    refused: Refused = []
    events: list[commands.ConsumedEvent] = []
    consumed = commands.ConsumedEvent
    for record in records:
        value = record.value
        try:
            events.append(consumed(decode_or_poison(value), value))
        except PoisonMessageError as exc:
            refused.append((record, exc))
    if not events:
        return [], refused
    return await handlers.integrate_events(commands.IntegrateEvents(events=tuple(events)), uow), refused


def batch_handler(service: AuditLog) -> BatchHandler:
    """Returns the batch handler of the service's consumer (it counts what it appended)."""

    async def handle_batch(records: list[ConsumerRecord]) -> Refused:
        # Because decoding a polled batch allocates as much as appending it (adapters/collector.py).
        with paused_gc():
            entries, refused = await integrate_records(records, service.uow())
        service.count_appended(entries)
        return refused

    return handle_batch


def consumers(service: AuditLog) -> list[ConsumerSpec]:
    """Returns the one consumer of every topic, polling up to a group commit's worth of records."""
    settings = service.settings
    return [
        ConsumerSpec(
            topics=list(contracts.CONSUMED_TOPICS),
            group_id=settings.consumer_group,
            handle_batch=batch_handler(service),
            max_records=settings.consumer_batch_records,
        )
    ]
