"""Domain events → the CloudEvents this service publishes on `contacts.events` (its public contract)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from typing import Any

from contacts import contracts
from contacts.domain import events
from shared.events import EventEnvelope

_TYPES: dict[type, str] = {
    events.ContactCreated: contracts.CONTACT_CREATED,
    events.ContactUpdated: contracts.CONTACT_UPDATED,
    events.InteractionRecorded: contracts.INTERACTION_RECORDED,
    events.RetentionFlagged: contracts.CONTACT_RETENTION_FLAGGED,
    events.ContactErased: contracts.CONTACT_ERASED,
}


def _plain(value: Any) -> Any:
    # Shallow by design: `dataclasses.asdict` deep-copies every value, which dominated bulk imports.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_envelope(event: Any, *, actor: str, correlation_id: str | None) -> tuple[str, EventEnvelope]:
    """Returns the topic and envelope of a contacts domain event (key = the contact id)."""
    return contracts.CONTACTS_EVENTS, EventEnvelope(
        source=contracts.SOURCE, type=_TYPES[type(event)], subject=event.contact_id, actor=actor,
        correlationid=correlation_id,
        data={f.name: _plain(getattr(event, f.name)) for f in fields(event)},
    )
