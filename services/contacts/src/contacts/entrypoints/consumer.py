"""Kafka record handlers of contacts: the erasure confirmations of data-subject requests.

Each service confirms a contact's erasure with an event on its own topic, keyed by the contact id:
contacts `contact_erased`, consent `consent_data_erased`, the gate `contact_forgotten`. The audit
log publishes nothing; the rights desk's watcher reads its `contact_erased` entry over HTTP.
Recording a confirmation twice changes nothing, so redelivered events need no inbox.
"""

from __future__ import annotations

import logging

from shared.kafka import ConsumerRecord, decode_or_poison
from shared.runtime import ConsumerSpec

from contacts import contracts
from contacts.bootstrap import Contacts
from contacts.service_layer import commands, handlers

log = logging.getLogger(__name__)


async def handle_confirmation(service: Contacts, record: ConsumerRecord) -> None:
    """Records the confirmation an erasure event carries; other events are ignored."""
    # Because every contact created comes back on this consumer's own topic: a record whose CloudEvents
    # type header names no confirmation is skipped before it is decoded (a record without the header
    # is decoded, as before).
    declared = dict(record.headers or ()).get("ce_type")
    if declared is not None and declared.decode(errors="replace") not in contracts.ERASURE_CONFIRMATIONS:
        return
    envelope = decode_or_poison(record.value)
    confirming = contracts.ERASURE_CONFIRMATIONS.get(envelope.type)
    if confirming is None or not envelope.subject:
        return
    changed = await handlers.confirm_erasure(
        commands.ConfirmErasure(actor=service.desk.actor, contact_id=envelope.subject, service=confirming),
        service.uow(),
    )
    if changed:
        log.info("erasure confirmed", extra={"service": confirming, "requests": [r.id for r in changed]})


def consumers(service: Contacts) -> list[ConsumerSpec]:
    """Returns the consumer of erasure confirmations, for the service's runtime to start."""

    async def handle(record: ConsumerRecord) -> None:
        await handle_confirmation(service, record)

    return [
        ConsumerSpec(
            topics=list(contracts.CONSUMED_TOPICS),
            group_id=service.settings.requests_consumer_group,
            handle=handle,
        )
    ]
