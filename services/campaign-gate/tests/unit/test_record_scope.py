"""Whom an unapplied record concerns (per-recipient staleness): the type sets are exactly what the
projection applies, and a record's scope names the people its key and data name."""

from __future__ import annotations

import pytest
from campaign_gate import contracts
from campaign_gate.adapters.freshness import RecordScope, record_scope
from campaign_gate.service_layer import handlers
from shared.contracts import ConsentEvents, ContactsEvents, event_types
from shared.events import EventEnvelope

CONSUMED = sorted(event_types(ContactsEvents) | event_types(ConsentEvents))


def _applies(kind: str) -> bool:
    """Whether the projection does anything for this type (an incomplete event is refused: it applies)."""
    envelope = EventEnvelope(source="test", type=kind, subject="s-1", actor="test", data={})
    try:
        change = handlers.projection_change(envelope)
    except (KeyError, TypeError, ValueError):
        return True
    return change.apply is not handlers._nothing  # noqa: SLF001 - the marker of "nothing to apply"


@pytest.mark.parametrize("kind", CONSUMED)
def test_every_type_the_projection_applies_is_scoped_and_no_other(kind: str) -> None:
    """A type the projection applies but neither set names would be ignored by the freshness probe: a
    late allow. So the sets are checked against the projection itself, type by type."""
    scoped = kind in contracts.PERSON_FACT_TYPES or kind in contracts.CAMPAIGN_FACT_TYPES
    assert scoped == _applies(kind), kind
    assert not (kind in contracts.PERSON_FACT_TYPES and kind in contracts.CAMPAIGN_FACT_TYPES)


def _record(kind: str, subject: str, **data: object) -> bytes:
    return EventEnvelope(source="test", type=kind, subject=subject, actor="test", data=data).encode()


def test_a_person_fact_names_its_key_subject_and_contact_and_an_objection_its_indexes() -> None:
    assert record_scope(b"c-1", _record(contracts.CONSENT_WITHDRAWN, "c-1", contact_id="c-1")) == RecordScope(
        False, ("c-1",)
    )
    assert record_scope(b"k", _record(contracts.CONTACT_UPDATED, "c-2", contact_id="c-3")) == RecordScope(
        False, ("c-2", "c-3", "k")
    )
    by_email = _record(
        contracts.OBJECTION_RECORDED, "o-1", objection_id="o-1", blind_indexes=["bi-1", "bi-2"]
    )
    assert record_scope(b"o-1", by_email) == RecordScope(False, ("o-1",), ("bi-1", "bi-2"))


def test_a_campaign_fact_or_an_unreadable_record_weighs_on_everyone_and_others_on_no_one() -> None:
    assert record_scope(b"p-1", _record(contracts.PURPOSE_REVISED, "p-1")).campaign
    assert record_scope(b"x", b"not json").campaign
    assert record_scope(b"x", b'{"type": 1}').campaign is False  # an unknown type: applied by no one
    assert record_scope(b"x", b'{"data": {}}').campaign
    odd = _record(contracts.OBJECTION_RECORDED, "o-1", blind_indexes="bi-1")
    assert record_scope(b"o-1", odd).campaign
    breach = _record(ConsentEvents.BREACH_RECORDED, "b-1", breach_id="b-1")
    assert record_scope(b"b-1", breach) == RecordScope(False)
