"""Erasure confirmations from the topics, and the watcher of open data-subject requests.

`python -m contacts.entrypoints.requests_consumer` runs both as their own process (for a deployment
whose API pods run no consumer); `contacts.main` runs them in the API process otherwise.

Each service confirms a contact's erasure with an event on its own topic, keyed by the contact id:
contacts `contact_erased`, consent `consent_data_erased`, the gate `contact_forgotten`. The audit
log publishes nothing; the watcher reads its `contact_erased` entry over HTTP. Recording a
confirmation twice changes nothing, so redelivered events need no inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from shared.events import EventDecodeError, EventEnvelope
from shared.kafka import ConsumerRecord, PoisonMessageError
from shared.logging import configure_logging
from shared.runtime import ConsumerSpec

from contacts import contracts
from contacts.bootstrap import Contacts, bootstrap
from contacts.entrypoints.requests_api import desk_for, requests_settings
from contacts.service_layer import requests as rights

log = logging.getLogger(__name__)

#: Event type → the service whose erasure it confirms.
CONFIRMATIONS = {
    "vigie.contacts.contact_erased.v1": "contacts",
    "vigie.consent.consent_data_erased.v1": "consent",
    "vigie.campaigns.contact_forgotten.v1": "campaign-gate",
}
TOPICS = contracts.CONSUMED_TOPICS


async def handle_confirmation(service: Contacts, record: ConsumerRecord) -> None:
    """Records the confirmation an erasure event carries; other events are ignored."""
    try:
        envelope = EventEnvelope.decode(record.value or b"")
    except EventDecodeError as exc:
        raise PoisonMessageError(f"undecodable event: {exc.__class__.__name__}") from exc
    confirming = CONFIRMATIONS.get(envelope.type)
    if confirming is None or not envelope.subject:
        return
    desk = desk_for(service)
    changed = await rights.confirm_erasure(rights.ConfirmErasure(
        actor=desk.actor, contact_id=envelope.subject, service=confirming), desk.new_uow())
    if changed:
        log.info("erasure confirmed", extra={"service": confirming, "requests": [r.id for r in changed]})


def requests_consumers(service: Contacts) -> list[ConsumerSpec]:
    """Returns the consumer of erasure confirmations (to start with the service's runtime)."""

    async def handle(record: ConsumerRecord) -> None:
        await handle_confirmation(service, record)

    # Because the runtime creates its topics before consuming, and contacts may start before its peers;
    # a process that consumes nothing (an API pod) must not touch topics its Kafka user may not describe.
    if service.settings.run_consumers:
        service.runtime.topics.extend(t for t in TOPICS if t not in service.runtime.topics)

    return [ConsumerSpec(topics=list(TOPICS), group_id=requests_settings(service).requests_consumer_group,
                         handle=handle)]


async def watch_requests_periodically(service: Contacts) -> None:
    """Runs the watcher every `requests_watch_interval_seconds` until cancelled (0: not at all); a failed
    pass is logged and retried at the next period."""
    interval = requests_settings(service).requests_watch_interval_seconds
    if interval <= 0:
        return
    desk = desk_for(service)
    while True:
        await asyncio.sleep(interval)
        try:
            report = await desk.watch_once()
            if report.overdue or report.confirmed or report.retried or report.forwarded:
                log.info("requests watch", extra={"overdue": len(report.overdue),
                                                  "confirmed": len(report.confirmed), "retried": len(report.retried),
                                                  "forwarded": len(report.forwarded)})
        except Exception:  # noqa: BLE001 - the next period retries; one bad pass must not stop the watcher.
            log.exception("requests watch failed")


async def run_until_signalled(service: Contacts) -> None:
    """Runs the confirmation consumer and the watcher (no relay) until SIGTERM or SIGINT."""
    configure_logging(service="contacts-requests", level=service.settings.log_level)
    await service.runtime.start(requests_consumers(service), run_relay=False)
    watcher = asyncio.create_task(watch_requests_periodically(service), name="requests watcher")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await service.runtime.stop()


if __name__ == "__main__":
    asyncio.run(run_until_signalled(bootstrap()))
