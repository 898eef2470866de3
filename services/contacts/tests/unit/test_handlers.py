"""The contacts use cases against in-memory fakes of the repository and unit of work."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contacts.domain import events
from contacts.domain.errors import (
    ContactErasedError,
    ContactNotFoundError,
    DuplicateContactError,
    VersionConflictError,
)
from contacts.domain.model import InteractionKind, Kind, Origin, PersonalData, Relationship, Status
from contacts.service_layer import commands, handlers
from contacts_fakes import T0, FakeStore, FakeUnitOfWork

# Lyon, not Paris: the city must be absent from events, and "Europe/Paris" is the published time zone.
CAMILLE = PersonalData(
    given_name="Camille",
    family_name="Durand",
    email="Camille.Durand@Example.org",
    phone="+33612345678",
    postal_address={"line1": "1 rue de la Paix", "postal_code": "69002", "city": "Lyon", "country": "FR"},
)
GRACE = timedelta(days=30)


def _create(personal: PersonalData = CAMILLE, **overrides: object) -> commands.CreateContact:
    fields: dict[str, Any] = {
        "actor": "tests",
        "kind": Kind.CONSUMER,
        "relationship": Relationship.PROSPECT,
        "personal": personal,
        "origin": Origin(collected_from_person=True, source="web_form"),
        "obtained_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return commands.CreateContact(**fields)


def _plaintexts(personal: PersonalData) -> list[str]:
    values = [
        personal.given_name,
        personal.family_name,
        personal.email,
        personal.phone,
        *(personal.postal_address or {}).values(),
    ]
    return [v for v in values if v and len(v) > 2]


async def test_a_created_contact_is_stored_and_announced_without_any_identifier() -> None:
    uow = FakeUnitOfWork()
    contact = await handlers.create_contact(_create(), uow)

    assert uow.commits == 1
    assert uow.store.contacts[contact.id].personal == CAMILLE
    [(actor, event)] = uow.store.published
    assert actor == "tests" and isinstance(event, events.ContactCreated)
    text = repr(asdict(event)).lower()
    for value in _plaintexts(CAMILLE):
        assert value.lower() not in text
    assert event.facts["channels"] == ["email", "phone", "sms_mms", "postal_addressed"]
    assert event.facts["email_index"] == uow.vault.indexer.email("camille.durand@example.org")


async def test_a_second_contact_with_the_same_email_in_another_case_is_refused_naming_the_first() -> None:
    store = FakeStore()
    first = await handlers.create_contact(_create(), FakeUnitOfWork(store))

    with pytest.raises(DuplicateContactError) as raised:
        await handlers.create_contact(
            _create(PersonalData(email="  CAMILLE.durand@example.ORG ")), FakeUnitOfWork(store)
        )

    assert raised.value.problem_extra == {"existing_contact_id": first.id, "matched_on": "email"}
    assert len(store.contacts) == 1 and len(store.published) == 1


async def test_a_second_contact_with_the_same_phone_in_national_format_is_refused() -> None:
    store = FakeStore()
    first = await handlers.create_contact(_create(), FakeUnitOfWork(store))

    with pytest.raises(DuplicateContactError) as raised:
        await handlers.create_contact(_create(PersonalData(phone="06 12 34 56 78")), FakeUnitOfWork(store))

    assert raised.value.problem_extra == {"existing_contact_id": first.id, "matched_on": "phone"}


async def test_find_contacts_matches_the_email_and_phone_written_differently() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))

    by_email = await handlers.find_contacts(
        email="CAMILLE.DURAND@example.org", phone=None, uow=FakeUnitOfWork(store)
    )
    by_phone = await handlers.find_contacts(
        email=None, phone="+33 (0)6 12 34 56 78", uow=FakeUnitOfWork(store)
    )
    nobody = await handlers.find_contacts(email="someone@example.org", phone=None, uow=FakeUnitOfWork(store))

    assert [c.id for c in by_email] == [created.id] == [c.id for c in by_phone]
    assert nobody == []


async def test_a_patch_changes_only_the_named_fields_and_announces_their_names() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))

    updated = await handlers.update_contact(
        commands.UpdateContact(
            actor="tests",
            contact_id=created.id,
            changes=commands.ContactChanges(given_name="Camilla", relationship=Relationship.ACCOUNT_ONLY),
            expected_version=1,
        ),
        FakeUnitOfWork(store),
    )

    assert updated.version == 2
    assert updated.personal.given_name == "Camilla" and updated.personal.email == CAMILLE.email
    event = store.published[-1][1]
    assert isinstance(event, events.ContactUpdated)
    assert event.changed == ("given_name", "relationship")
    assert "Camilla" not in repr(asdict(event))


async def test_a_patch_at_a_stale_version_is_refused_and_changes_nothing() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    await handlers.update_contact(
        commands.UpdateContact(
            actor="tests", contact_id=created.id, changes=commands.ContactChanges(given_name="A")
        ),
        FakeUnitOfWork(store),
    )

    with pytest.raises(VersionConflictError):
        await handlers.update_contact(
            commands.UpdateContact(
                actor="tests",
                contact_id=created.id,
                changes=commands.ContactChanges(given_name="B"),
                expected_version=1,
            ),
            FakeUnitOfWork(store),
        )

    assert store.contacts[created.id].personal.given_name == "A"
    assert store.contacts[created.id].version == 2


async def test_a_patch_of_the_email_reindexes_it_and_refuses_one_taken_by_another_contact() -> None:
    store = FakeStore()
    first = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    second = await handlers.create_contact(
        _create(PersonalData(email="other@example.org")), FakeUnitOfWork(store)
    )

    moved = await handlers.update_contact(
        commands.UpdateContact(
            actor="tests", contact_id=second.id, changes=commands.ContactChanges(email="new@example.org")
        ),
        FakeUnitOfWork(store),
    )
    with pytest.raises(DuplicateContactError) as raised:
        await handlers.update_contact(
            commands.UpdateContact(
                actor="tests",
                contact_id=second.id,
                changes=commands.ContactChanges(email="camille.durand@example.org"),
            ),
            FakeUnitOfWork(store),
        )

    assert moved.indexes.email == FakeUnitOfWork().vault.indexer.email("new@example.org")
    assert raised.value.problem_extra["existing_contact_id"] == first.id


async def test_a_sale_makes_a_prospect_a_customer_and_counts_as_contact_from_the_person() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    sold_at = datetime(2026, 3, 1, tzinfo=UTC)

    interaction_id = await handlers.record_interaction(
        commands.RecordInteraction(
            actor="tests",
            contact_id=created.id,
            kind=InteractionKind.SALE,
            occurred_at=sold_at,
            seller="Chaussures SA",
        ),
        FakeUnitOfWork(store),
    )

    contact = store.contacts[created.id]
    assert contact.relationship is Relationship.CUSTOMER_SALE_DONE
    assert contact.last_contact_from_person_at == sold_at
    assert store.interactions[interaction_id].kind == "sale"
    assert store.interactions[interaction_id].seller == "Chaussures SA"


async def test_an_open_does_not_move_the_last_contact_from_the_person_but_a_click_does() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    opened, clicked = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC)

    await handlers.record_interaction(
        commands.RecordInteraction(
            actor="tests", contact_id=created.id, kind=InteractionKind.OPEN, occurred_at=opened
        ),
        FakeUnitOfWork(store),
    )
    after_open = store.contacts[created.id].last_contact_from_person_at
    await handlers.record_interaction(
        commands.RecordInteraction(
            actor="tests", contact_id=created.id, kind=InteractionKind.CLICK, occurred_at=clicked
        ),
        FakeUnitOfWork(store),
    )

    assert after_open is None
    assert store.contacts[created.id].last_contact_from_person_at == clicked
    assert store.contacts[created.id].relationship is Relationship.PROSPECT
    recorded = [e for _, e in store.published if isinstance(e, events.InteractionRecorded)]
    assert [e.counts_as_contact_from_person for e in recorded] == [False, True]


async def test_an_interaction_with_an_unknown_contact_is_refused() -> None:
    with pytest.raises(ContactNotFoundError):
        await handlers.record_interaction(
            commands.RecordInteraction(
                actor="tests", contact_id="nobody", kind=InteractionKind.CLICK, occurred_at=T0
            ),
            FakeUnitOfWork(),
        )


async def test_erasing_a_contact_destroys_its_personal_data_and_interactions_and_frees_its_email() -> None:
    store = FakeStore()
    created = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    await handlers.record_interaction(
        commands.RecordInteraction(
            actor="tests", contact_id=created.id, kind=InteractionKind.REPLY, occurred_at=T0
        ),
        FakeUnitOfWork(store),
    )

    await handlers.erase_contact(
        commands.EraseContact(actor="tests", contact_id=created.id, reason="request"), FakeUnitOfWork(store)
    )

    erased = store.contacts[created.id]
    assert erased.status is Status.ERASED and erased.personal == PersonalData()
    assert store.interactions == {}
    assert isinstance(store.published[-1][1], events.ContactErased)
    again = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    assert again.id != created.id
    with pytest.raises(ContactErasedError):
        await handlers.update_contact(
            commands.UpdateContact(
                actor="tests", contact_id=created.id, changes=commands.ContactChanges(given_name="X")
            ),
            FakeUnitOfWork(store),
        )


def _sweep(now: datetime) -> commands.SweepRetention:
    return commands.SweepRetention(actor="sweeper", now=now)


async def test_a_prospect_without_contact_for_three_years_is_flagged_then_erased_after_the_grace() -> None:
    store = FakeStore()
    created = await handlers.create_contact(
        _create(obtained_at=datetime(2026, 1, 1, tzinfo=UTC)), FakeUnitOfWork(store)
    )

    before = await handlers.sweep_retention(
        _sweep(datetime(2028, 12, 31, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )
    flagged = await handlers.sweep_retention(
        _sweep(datetime(2029, 1, 2, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )
    within_grace = await handlers.sweep_retention(
        _sweep(datetime(2029, 1, 20, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )
    status_during_grace = store.contacts[created.id].status
    erased = await handlers.sweep_retention(
        _sweep(datetime(2029, 2, 1, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )

    assert (before.flagged, before.erased) == (0, 0)
    assert (flagged.flagged, flagged.erased) == (1, 0)
    assert (within_grace.flagged, within_grace.erased) == (0, 0)
    assert status_during_grace is Status.RETENTION_FLAGGED
    assert (erased.flagged, erased.erased) == (0, 1)
    assert store.contacts[created.id].status is Status.ERASED
    kinds = [type(e).__name__ for _, e in store.published]
    assert kinds == ["ContactCreated", "RetentionFlagged", "ContactErased"]
    flag = store.published[1][1]
    assert flag.rule == "RET-01" and flag.erase_after == datetime(2029, 1, 31, tzinfo=UTC)


async def test_an_open_does_not_reset_the_retention_clock_but_a_click_does() -> None:
    store = FakeStore()
    opened = await handlers.create_contact(
        _create(PersonalData(email="a@example.org")), FakeUnitOfWork(store)
    )
    clicked = await handlers.create_contact(
        _create(PersonalData(email="b@example.org")), FakeUnitOfWork(store)
    )
    for contact, kind in ((opened, InteractionKind.OPEN), (clicked, InteractionKind.CLICK)):
        await handlers.record_interaction(
            commands.RecordInteraction(
                actor="tests", contact_id=contact.id, kind=kind, occurred_at=datetime(2027, 6, 1, tzinfo=UTC)
            ),
            FakeUnitOfWork(store),
        )

    report = await handlers.sweep_retention(
        _sweep(datetime(2029, 1, 2, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )

    assert report.flagged == 1
    assert store.contacts[opened.id].status is Status.RETENTION_FLAGGED
    assert store.contacts[clicked.id].status is Status.ACTIVE


async def test_a_contact_found_past_the_grace_is_flagged_and_erased_in_one_sweep_with_both_events() -> None:
    store = FakeStore()
    await handlers.create_contact(
        _create(obtained_at=datetime(2020, 1, 1, tzinfo=UTC)), FakeUnitOfWork(store)
    )

    report = await handlers.sweep_retention(
        _sweep(datetime(2026, 1, 1, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )

    assert (report.flagged, report.erased) == (1, 1)
    assert [type(e).__name__ for _, e in store.published][1:] == ["RetentionFlagged", "ContactErased"]


async def test_a_customer_is_kept_while_the_contract_runs_and_flagged_three_years_after_it_ends() -> None:
    store = FakeStore()
    running = await handlers.create_contact(
        _create(PersonalData(email="a@example.org"), relationship=Relationship.CONTRACT_IN_PROGRESS),
        FakeUnitOfWork(store),
    )
    ended = await handlers.create_contact(
        _create(
            PersonalData(email="b@example.org"),
            relationship=Relationship.CUSTOMER_SALE_DONE,
            relationship_end_at=datetime(2026, 6, 1, tzinfo=UTC),
        ),
        FakeUnitOfWork(store),
    )

    early = await handlers.sweep_retention(
        _sweep(datetime(2029, 5, 1, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )
    late = await handlers.sweep_retention(
        _sweep(datetime(2029, 6, 2, tzinfo=UTC)), FakeUnitOfWork(store), grace=GRACE
    )

    assert early.flagged == 0 and late.flagged == 1
    assert store.contacts[ended.id].status is Status.RETENTION_FLAGGED
    assert store.contacts[running.id].status is Status.ACTIVE
    assert store.published[-1][1].rule == "RET-02"


async def test_sweeping_in_small_batches_examines_every_contact() -> None:
    store = FakeStore()
    for n in range(7):
        await handlers.create_contact(_create(PersonalData(email=f"p{n}@example.org")), FakeUnitOfWork(store))

    report = await handlers.sweep_all_retention(
        actor="sweeper",
        now=datetime(2029, 1, 2, tzinfo=UTC),
        grace=GRACE,
        new_uow=lambda: FakeUnitOfWork(store),
        batch=3,
    )

    assert (report.examined, report.flagged) == (7, 7)


async def test_an_import_creates_new_people_once_and_recognises_known_ones_by_email_or_phone() -> None:
    store = FakeStore()
    existing = await handlers.create_contact(_create(), FakeUnitOfWork(store))
    rows = [
        (1, _create(PersonalData(email="new1@example.org"))),
        (2, _create(PersonalData(email="CAMILLE.DURAND@example.org"))),  # the existing contact, by e-mail
        (3, _create(PersonalData(phone="06 12 34 56 78"))),  # the existing contact, by phone
        (4, _create(PersonalData(email="new2@example.org", phone="+33 7 81 23 45 67"))),
        (5, _create(PersonalData(email="NEW1@example.org"))),  # row 1 again
        (6, _create(PersonalData(phone="07 81 23 45 67"))),  # row 4 again, by phone
    ]
    uow = FakeUnitOfWork(store)

    outcome = await handlers.import_contacts(commands.ImportContacts(actor="importer", rows=rows), uow)

    assert sorted(outcome.created) == [1, 4]
    assert outcome.known == {
        2: (existing.id, "email"),
        3: (existing.id, "phone"),
        5: (outcome.created[1], "email"),
        6: (outcome.created[4], "phone"),
    }
    assert uow.commits == 1
    created_events = [e for a, e in store.published if a == "importer"]
    assert sorted(e.contact_id for e in created_events) == sorted(outcome.created.values())
    assert all(isinstance(e, events.ContactCreated) for e in created_events)
    assert len(store.contacts) == 3
