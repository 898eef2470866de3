"""The contact aggregate: PATCH semantics, versions, interactions, erasure and the gate facts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from contacts.domain import events
from contacts.domain.errors import ContactErasedError, VersionConflictError
from contacts.domain.model import (
    BlindIndexes,
    Contact,
    InteractionKind,
    Kind,
    Origin,
    PersonalData,
    Relationship,
    Status,
)

AT = datetime(2026, 5, 1, tzinfo=UTC)


def _contact(**overrides: object) -> Contact:
    fields: dict[str, Any] = {
        "kind": Kind.CONSUMER,
        "relationship": Relationship.PROSPECT,
        "personal": PersonalData(given_name="Léa", email="lea@example.org", birth_date=date(2010, 6, 1)),
        "indexes": BlindIndexes(email="e" * 64),
        "origin": Origin(collected_from_person=False, source="broker", broker_name="DataCo"),
        "obtained_at": datetime(2026, 1, 1, tzinfo=UTC),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return Contact.create(**fields)


def test_a_new_contact_records_one_created_event_with_the_gate_facts() -> None:
    contact = _contact()

    [created] = contact.events
    assert isinstance(created, events.ContactCreated)
    assert created.facts["kind"] == "consumer" and created.facts["collected_from_person"] is False
    assert created.facts["broker_name"] == "DataCo" and created.facts["channels"] == ["email"]
    assert (
        created.facts["majority_on"] == "2028-06-01"
        and created.facts["digital_consent_age_on"] == "2025-06-01"
    )
    assert "lea@example.org" not in repr(created) and "Léa" not in repr(created)
    assert not {"birth_year", "minor_until", "attributes"} & set(created.facts)


def test_an_adult_still_has_the_dates_of_majority_and_digital_consent_age_published() -> None:
    contact = _contact(personal=PersonalData(birth_date=date(1990, 2, 28)))

    facts = contact.gate_facts(at=AT)
    assert facts["majority_on"] == "2008-02-28" and facts["digital_consent_age_on"] == "2005-02-28"


def test_without_a_birth_date_both_ages_are_null() -> None:
    facts = _contact(personal=PersonalData(email="x@example.org")).gate_facts(at=AT)

    assert facts["majority_on"] is None and facts["digital_consent_age_on"] is None


def test_an_update_that_changes_nothing_records_nothing_and_keeps_the_version() -> None:
    contact = _contact()
    contact.events.clear()

    contact.update(changes={"given_name": "Léa", "kind": Kind.CONSUMER}, at=AT)

    assert contact.events == [] and contact.version == 1


def test_an_update_at_another_version_is_refused() -> None:
    contact = _contact()

    with pytest.raises(VersionConflictError):
        contact.update(changes={"given_name": "X"}, at=AT, expected_version=7)


def test_a_purchase_turns_an_account_into_a_customer() -> None:
    contact = _contact(relationship=Relationship.ACCOUNT_ONLY)

    contact.record_interaction(
        kind=InteractionKind.PURCHASE, channel="web", occurred_at=AT, at=AT, seller="Shop SAS"
    )

    assert contact.relationship is Relationship.CUSTOMER_SALE_DONE
    assert contact.last_contact_from_person_at == AT


def test_a_reply_unflags_a_contact_flagged_for_retention_but_an_open_does_not() -> None:
    contact = _contact()
    contact.status = Status.RETENTION_FLAGGED

    contact.record_interaction(kind=InteractionKind.OPEN, channel="email", occurred_at=AT, at=AT)
    after_open = contact.status
    contact.record_interaction(kind=InteractionKind.REPLY, channel="email", occurred_at=AT, at=AT)

    assert after_open is Status.RETENTION_FLAGGED and contact.status is Status.ACTIVE


def test_interactions_arriving_out_of_order_never_move_the_clock_back() -> None:
    contact = _contact()

    contact.record_interaction(kind=InteractionKind.CLICK, channel=None, occurred_at=AT, at=AT)
    contact.record_interaction(
        kind=InteractionKind.CLICK, channel=None, occurred_at=datetime(2026, 2, 1, tzinfo=UTC), at=AT
    )

    assert contact.last_contact_from_person_at == AT


def test_an_erased_contact_keeps_no_personal_data_and_refuses_further_changes() -> None:
    contact = _contact()

    contact.erase(reason="request", at=AT)

    assert contact.personal == PersonalData() and contact.attributes == {}
    assert isinstance(contact.events[-1], events.ContactErased)
    with pytest.raises(ContactErasedError):
        contact.update(changes={"given_name": "X"}, at=AT)
    with pytest.raises(ContactErasedError):
        contact.record_interaction(kind=InteractionKind.CLICK, channel=None, occurred_at=AT, at=AT)
