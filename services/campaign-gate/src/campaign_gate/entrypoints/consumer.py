"""The projection's Kafka consumer: contacts' and consent's records → ProjectEvent → `handlers.project_event`.

`bootstrap` builds what the handler needs (units of work, the consumer group); `main.create_app` runs
the consumers listed here in its lifespan, so every process that sets `run_consumers` projects.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord
from shared.kafka import PoisonMessageError, decode_or_poison
from shared.runtime import ConsumerSpec

from campaign_gate import contracts
from campaign_gate.bootstrap import CampaignGate
from campaign_gate.service_layer import handlers
from campaign_gate.service_layer.commands import ProjectEvent
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork


async def project_record(record: ConsumerRecord, uow: AbstractGateUnitOfWork) -> None:
    """Projects one contacts or consent record (a duplicate is a no-op); an unusable one is poison."""
    envelope = decode_or_poison(record.value)
    try:
        await handlers.project_event(
            ProjectEvent(envelope, record.topic, record.partition, record.offset), uow
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise PoisonMessageError(f"unusable {envelope.type}: {exc.__class__.__name__}") from exc


def consumers(service: CampaignGate) -> list[ConsumerSpec]:
    """Returns the projection's consumer of `contacts.events` and `consent.events`."""

    async def handle(record: ConsumerRecord) -> None:
        await project_record(record, service.uow())

    return [
        ConsumerSpec(
            topics=list(contracts.CONSUMED_TOPICS), group_id=service.settings.consumer_group, handle=handle
        )
    ]
