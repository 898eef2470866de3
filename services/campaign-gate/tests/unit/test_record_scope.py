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


def test_a_partition_s_tail_answers_what_weighs_on_a_check_and_forgets_what_is_applied() -> None:
    from campaign_gate.adapters.freshness import _Tail

    tail = _Tail(10)
    tail.add(10, RecordScope(False, ("a",)))
    tail.add(11, RecordScope(False, ("b",)))
    tail.add(12, RecordScope(False, ("o-1",), ("bi-1",)))
    tail.add(13, RecordScope(False, ("a",)))  # published after the check began (end offset 13)
    # A check of b waits for b's record and the objection by index; a check of a for everything before
    # its end, since a's last record lies past it and may hide one before.
    assert tail.last_weighing({"b"}, below=13) == 12
    assert tail.last_weighing({"a"}, below=13) == 12
    assert tail.last_weighing(set(), below=13) == -1  # a review: no campaign fact
    assert tail.contacts_between({"a", "b", "c"}, 11) == {"a", "b"}
    assert tail.indexes_between(11, 13) == {"bi-1"}
    tail.add(14, RecordScope(True))
    assert tail.last_weighing(set(), below=15) == 14 and tail.campaign_between(12, 15) == 1
    tail.forget_before(14)
    assert tail.contacts_between({"a", "b"}, 14) == set() and tail.indexes_between(0, 20) == set()
    assert tail.campaign_between(0, 20) == 1
