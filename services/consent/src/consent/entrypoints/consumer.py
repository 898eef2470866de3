"""consent's Kafka consumer: contacts' records → commands → handlers (blind indexes, erasures).

`bootstrap` builds what the handler needs (units of work, the consumer group); `main.create_app` runs
the consumers listed here in its lifespan, so every process that sets `run_consumers` consumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import ConsumerRecord
from shared.events import EventEnvelope
from shared.kafka import decode_or_poison
from shared.runtime import ConsumerSpec

from consent import contracts
from consent.bootstrap import ConsentService
from consent.service_layer import commands, handlers
from consent.service_layer.unit_of_work import AbstractConsentUnitOfWork

log = logging.getLogger(__name__)


async def handle_contacts_event(record: ConsumerRecord, uow: Callable[[], AbstractConsentUnitOfWork]) -> None:
    """Keeps a contact's blind indexes for its objections and applies its erasure; ignores other events."""
    envelope = decode_or_poison(record.value)
    if envelope.type in (contracts.CONTACT_CREATED, contracts.CONTACT_UPDATED):
        indexes = _blind_indexes_of(envelope)
        if indexes and envelope.subject:
            await handlers.record_contact_indexes(
                commands.RecordContactIndexes(
                    actor=envelope.actor, contact_id=envelope.subject, blind_indexes=indexes
                ),
                uow(),
            )
        return
    if envelope.type != contracts.CONTACT_ERASED:
        return
    plan = await handlers.erase_contact_data(
        commands.EraseContactData(
            actor=envelope.actor,
            contact_id=envelope.subject,
            event_id=envelope.id,
            topic=record.topic,
            blind_indexes=_erased_blind_indexes(envelope),
        ),
        uow(),
    )
    if plan is not None:
        log.info(
            "contact consent data erased",
            extra={
                "consents": len(plan.consent_ids),
                "deliveries": len(plan.delivery_ids),
                "kept_objections": len(plan.kept_objections),
                "objections_without_blind_index": len(plan.objections_without_blind_index),
            },
        )


def consumers(service: ConsentService) -> list[ConsumerSpec]:
    """Returns the consumer of `contacts.events` (blind indexes and erasures)."""

    async def handle(record: ConsumerRecord) -> None:
        await handle_contacts_event(record, service.uow)

    return [
        ConsumerSpec(
            topics=list(contracts.CONSUMED_TOPICS), group_id=service.settings.consumer_group, handle=handle
        )
    ]


def _blind_indexes_of(envelope: EventEnvelope) -> tuple[str, ...]:
    # The contact's gate facts carry its e-mail and phone blind indexes (contacts' `gate_facts`).
    facts = envelope.data.get("facts") if isinstance(envelope.data, dict) else None
    if not isinstance(facts, dict):
        return ()
    found = (facts.get("email_index"), facts.get("phone_index"))
    return tuple(i for i in found if isinstance(i, str) and i)


def _erased_blind_indexes(envelope: EventEnvelope) -> tuple[str, ...]:
    # contact_erased carries the contact's e-mail and phone blind indexes at erasure (WAVE2 contract).
    found = envelope.data.get("blind_indexes") if isinstance(envelope.data, dict) else None
    return tuple(i for i in found if isinstance(i, str) and i) if isinstance(found, list) else ()
