"""The projection's Kafka consumer: each polled batch of contacts' and consent's records → ProjectEvents →
`handlers.project_events`, one transaction per batch.

Records that can never be applied (undecodable, or an event missing what the gate needs) are handed
back to the consumer loop, which dead-letters them; their offsets are recorded with the batch's, so a
bad record left last on a partition does not keep checks stale. `bootstrap` builds what the handler
needs; `main.create_app` runs the consumers listed here in its lifespan, so every process that sets
`run_consumers` projects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from aiokafka import ConsumerRecord
from shared.events import EventEnvelope
from shared.kafka import (
    BatchHandler,
    PoisonMessageError,
    StagedBatchHandler,
    decode_or_poison,
    is_poison,
)
from shared.runtime import ConsumerSpec

from campaign_gate import contracts
from campaign_gate.bootstrap import CampaignGate
from campaign_gate.service_layer import handlers
from campaign_gate.service_layer.commands import ProjectEvent, ProjectEvents
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork

#: Records per poll, and so per transaction: large enough that a 100,000-contact import is a few dozen
#: commits, small enough that one batch holds a few MB and a second or so of work.
BATCH_RECORDS = 4000

Refused = list[tuple[ConsumerRecord, BaseException]]
#: A record's envelope, or why it has none.
Decoded = EventEnvelope | PoisonMessageError


def _unusable(event: ProjectEvent, exc: BaseException) -> PoisonMessageError:
    error = PoisonMessageError(f"unusable {event.envelope.type}: {exc.__class__.__name__}")
    error.__cause__ = exc
    return error


def decode(record: ConsumerRecord) -> Decoded:
    """Returns a record's envelope, or the error that makes it poison (as a value, not raised): the
    stage the consumer loop runs ahead, while the previous batch's transaction is in flight."""
    try:
        return decode_or_poison(record.value)
    except PoisonMessageError as exc:
        return exc


async def project_records(
    records: list[ConsumerRecord],
    uow: Callable[[], AbstractGateUnitOfWork],
    decoded: list[Decoded] | None = None,
) -> Refused:
    """Projects a polled batch in one transaction; returns the records refused as poison (their
    offsets are recorded all the same). `decoded` is each record's `decode`, when done already.

    Raises PoisonMessageError when the batch as a whole failed on a record `projection_change` let
    through: the consumer loop then hands each record back alone, and a record that fails alone is
    refused, its offset recorded in a transaction of its own.
    """
    refused: Refused = []
    events: list[ProjectEvent] = []
    by_event: dict[int, ConsumerRecord] = {}
    undecodable: list[tuple[str, int, int]] = []
    for record, envelope in zip(records, decoded or [decode(r) for r in records], strict=True):
        if isinstance(envelope, PoisonMessageError):
            refused.append((record, envelope))
            undecodable.append((record.topic, record.partition, record.offset))
            continue
        event = ProjectEvent(envelope, record.topic, record.partition, record.offset)
        by_event[id(event)] = record
        events.append(event)
    try:
        result = await handlers.project_events(ProjectEvents(tuple(events), tuple(undecodable)), uow())
    except Exception as exc:
        # Transient: the loop retries the batch. Poison in a batch: the loop hands each record back alone.
        if not is_poison(exc) or len(records) > 1:
            raise
        # Alone and still failing: it can never be applied. Record its offset, and refuse it.
        record = records[0]
        await handlers.project_events(
            ProjectEvents((), ((record.topic, record.partition, record.offset),)), uow()
        )
        unusable = exc if isinstance(exc, PoisonMessageError) or not events else _unusable(events[0], exc)
        return [(record, unusable)]
    refused += [(by_event[id(event)], _unusable(event, exc)) for event, exc in result.refused]
    return refused


def batch_handler(service: CampaignGate) -> BatchHandler:
    """Returns the batch handler of the projection's consumer, in two stages: records are decoded
    ahead (while the previous batch's transaction runs), then applied in one transaction."""

    async def apply(records: list[ConsumerRecord], decoded: list[object]) -> Refused:
        return await project_records(
            records, service.uow, cast("list[EventEnvelope | PoisonMessageError]", decoded)
        )

    return StagedBatchHandler(decode, apply)


def consumers(service: CampaignGate) -> list[ConsumerSpec]:
    """Returns the projection's consumer of `contacts.events` and `consent.events`."""
    return [
        ConsumerSpec(
            topics=list(contracts.CONSUMED_TOPICS),
            group_id=service.settings.consumer_group,
            handle_batch=batch_handler(service),
            max_records=BATCH_RECORDS,
        )
    ]
