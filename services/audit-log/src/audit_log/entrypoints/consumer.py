"""The audit log's Kafka entry point: every polled batch of every topic becomes one group commit.

Undecodable records are handed back to the consumer loop, which dead-letters them; the rest of the
batch is appended.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from shared.events import EventEnvelope
from shared.kafka import BatchHandler, PoisonMessageError, decode_or_poison
from shared.runtime import ConsumerSpec

from audit_log import contracts
from audit_log.adapters.collector import paused_gc
from audit_log.bootstrap import AuditLog
from audit_log.domain.model import AuditEntry
from audit_log.service_layer import commands, handlers
from audit_log.service_layer.unit_of_work import AbstractAuditUnitOfWork

Refused = list[tuple[ConsumerRecord, BaseException]]


#: The envelope's own JSON validator, what `EventEnvelope.decode` runs, called here without the three
#: calls around it (~1 us of a record's ~5 measured).
_validate_envelope = EventEnvelope.__pydantic_validator__.validate_json


def decode_record(record: ConsumerRecord) -> commands.ConsumedEvent | PoisonMessageError:
    """Returns a consumed record's event, or the PoisonMessageError that dead-letters it (as a value);
    the envelope and the error are `shared.kafka.decode_or_poison`'s."""
    value = record.value
    if value:
        try:
            return commands.ConsumedEvent(_validate_envelope(value), value)
        except Exception:  # noqa: BLE001, S110 - decoded again below, for decode_or_poison's own error.
            pass
    try:
        return commands.ConsumedEvent(decode_or_poison(value), value or b"")
    except PoisonMessageError as exc:
        return exc


async def integrate_records(
    records: list[ConsumerRecord], uow: AbstractAuditUnitOfWork
) -> tuple[Sequence[AuditEntry], Refused]:
    """Integrates the decodable records in one transaction; returns the new entries and the refused ones."""
    refused: Refused = []
    events: list[commands.ConsumedEvent] = []
    for record in records:
        event = decode_record(record)
        if isinstance(event, PoisonMessageError):
            refused.append((record, event))
        else:
            events.append(event)
    if not events:
        return [], refused
    return await handlers.integrate_events(commands.IntegrateEvents(events=tuple(events)), uow), refused


def batch_handler(service: AuditLog) -> BatchHandler:
    """Returns the batch handler of the service's consumer (it counts what it appended).

    One batch at a time, decoded inside the collector's pause: decoding the next batch ahead (a
    `StagedBatchHandler`, while this one's transaction waits) was measured no faster here and cost
    1-3 us more CPU per entry, the collector walking what the decoding allocates outside the pause.
    """

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
