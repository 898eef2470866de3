"""The facts contacts publishes for the gate (WAVE2 contract):
time zone, ages, purchases, contracts, calls."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from contacts.domain import events, timezones
from contacts.domain.errors import InteractionRejectedError
from contacts.domain.model import (
    BlindIndexes,
    CallOutcome,
    Contact,
    InteractionKind,
    Kind,
    Origin,
    PersonalData,
    PhoneCollection,
    Purchase,
    Relationship,
    Status,
)
from contacts.entrypoints import importing, schemas
from contacts.service_layer import commands, handlers
from contacts_fakes import FakeStore, FakeUnitOfWork
from pydantic import ValidationError

AT = datetime(2026, 5, 1, tzinfo=UTC)
CONTRACT_KEYS = {
    "timezone",
    "profession",
    "majority_on",
    "digital_consent_age_on",
    "purchases",
    "contracts",
    "call_attempts",
    "last_call_refusal_at",
    "phone_collection",
    "stop_pub",
}


def _contact(**overrides: object) -> Contact:
    fields: dict[str, Any] = {
        "kind": Kind.CONSUMER,
        "relationship": Relationship.PROSPECT,
        "personal": PersonalData(email="lea@example.org"),
        "indexes": BlindIndexes(email="e" * 64, phone="p" * 64),
        "origin": Origin(collected_from_person=True, source="web_form"),
        "obtained_at": datetime(2026, 1, 1, tzinfo=UTC),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return Contact.create(**fields)


# --- Time zone.


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("+262692123456", "Indian/Reunion"),
        ("+262262123456", "Indian/Reunion"),
        ("+262639012345", "Indian/Mayotte"),
        ("+262269612345", "Indian/Mayotte"),
        ("+590690123456", "America/Guadeloupe"),
        ("+594694123456", "America/Cayenne"),
        ("+596696123456", "America/Martinique"),
        ("+508551234", "America/Miquelon"),
        ("+687751234", "Pacific/Noumea"),
        ("+68987123456", "Pacific/Tahiti"),
        ("+33612345678", "Europe/Paris"),
        ("+33123456789", "Europe/Paris"),
        ("+4915123456789", "Europe/Berlin"),
    ],
)
def test_the_time_zone_is_derived_from_the_phone_numbers_region(phone: str, zone: str) -> None:
    assert timezones.derive_timezone(phone=phone, postal_address=None) == (zone, timezones.PHONE)


@pytest.mark.parametrize(
    ("postal_code", "zone"),
    [
        ("97110", "America/Guadeloupe"),
        ("97200", "America/Martinique"),
        ("97300", "America/Cayenne"),
        ("97400", "Indian/Reunion"),
        ("97500", "America/Miquelon"),
        ("97600", "Indian/Mayotte"),
        ("98800", "Pacific/Noumea"),
    ],
)
def test_without_a_phone_an_overseas_postal_code_gives_the_zone(postal_code: str, zone: str) -> None:
    address = {"line1": "1 rue", "postal_code": postal_code, "city": "X", "country": "FR"}
    assert timezones.derive_timezone(phone=None, postal_address=address) == (zone, timezones.POSTAL_CODE)


def test_a_metropolitan_or_foreign_address_gives_its_countrys_zone_and_nothing_gives_paris() -> None:
    paris = timezones.derive_timezone(phone=None, postal_address={"postal_code": "29200", "country": "FR"})
    berlin = timezones.derive_timezone(phone=None, postal_address={"postal_code": "10115", "country": "DE"})
    overseas_country = timezones.derive_timezone(
        phone=None, postal_address={"postal_code": "97490", "country": "RE"}
    )

    assert paris == ("Europe/Paris", timezones.COUNTRY)
    assert berlin == ("Europe/Berlin", timezones.COUNTRY)
    assert overseas_country == ("Indian/Reunion", timezones.POSTAL_CODE)
    assert timezones.derive_timezone(phone=None, postal_address=None) == ("Europe/Paris", timezones.DEFAULT)


def test_a_phone_spanning_several_zones_leaves_the_choice_to_the_address() -> None:
    zone = timezones.derive_timezone(
        phone="+61412345678", postal_address={"postal_code": "97400", "country": "FR"}
    )

    assert zone == ("Indian/Reunion", timezones.POSTAL_CODE)


def test_every_zone_the_derivation_can_give_is_a_known_iana_name() -> None:
    for zone in [*timezones.REGION_ZONES.values(), *timezones.POSTAL_PREFIX_ZONES.values()]:
        assert timezones.is_valid_timezone(zone), zone
    assert not timezones.is_valid_timezone("Europe/Pariss") and not timezones.is_valid_timezone("CET+1")


def test_a_reunion_mobile_is_published_in_reunion_time_and_a_given_zone_wins() -> None:
    derived = _contact(personal=PersonalData(phone="+262692123456"))
    given = _contact(personal=PersonalData(phone="+262692123456"), timezone="Europe/Paris")

    assert derived.events[0].facts["timezone"] == "Indian/Reunion" and derived.timezone_source == "phone"
    assert given.events[0].facts["timezone"] == "Europe/Paris" and given.timezone_source == "given"


def test_a_derived_zone_follows_a_new_phone_a_given_one_stays_and_null_goes_back_to_deriving() -> None:
    contact = _contact(personal=PersonalData(phone="+33612345678"))
    contact.update(changes={"phone": "+596696123456"}, at=AT)
    moved = contact.timezone
    contact.update(changes={"timezone": "Europe/Paris"}, at=AT)
    contact.update(changes={"phone": "+594694123456"}, at=AT)
    kept = contact.timezone
    contact.update(changes={"timezone": None}, at=AT)

    assert moved == "America/Martinique" and "timezone" in contact.events[1].changed
    assert kept == "Europe/Paris"
    assert contact.timezone == "America/Cayenne" and contact.timezone_source == "phone"
    assert contact.events[-1].facts["timezone"] == "America/Cayenne"


def test_an_unknown_time_zone_name_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        schemas.ContactUpdate.model_validate({"timezone": "Mars/Olympus_Mons"})

    assert [e["loc"] for e in raised.value.errors()] == [("timezone",)]


# --- Ages.


def test_majority_and_digital_consent_age_are_the_18th_and_15th_birthdays_past_or_future() -> None:
    facts = _contact(personal=PersonalData(birth_date=date(2012, 6, 1))).events[0].facts

    assert facts["majority_on"] == "2030-06-01" and facts["digital_consent_age_on"] == "2027-06-01"
    assert not {"birth_year", "minor_until", "birth_date"} & set(facts)


def test_a_person_born_on_29_february_comes_of_age_on_1_march_in_a_common_year() -> None:
    contact = _contact(personal=PersonalData(birth_date=date(2008, 2, 29)))

    assert contact.majority_on() == date(2026, 3, 1)
    assert contact.digital_consent_age_on() == date(2023, 3, 1)


# --- Profession, stop pub, phone collection, attributes.


def test_profession_stop_pub_and_phone_collection_are_published_and_attributes_are_not() -> None:
    contact = _contact(
        profession="  Pharmacien  D'officine ",
        stop_pub=True,
        attributes={"segment": "vip"},
        phone_collection=PhoneCollection(
            told_calls_need_consent=True, during_contract=False, contract_states_calls_need_consent=False
        ),
    )
    facts = contact.events[0].facts

    assert facts["profession"] == "pharmacien d'officine" and facts["stop_pub"] is True
    assert facts["phone_collection"] == {
        "told_calls_need_consent": True,
        "during_contract": False,
        "contract_states_calls_need_consent": False,
    }
    assert "attributes" not in facts and contact.attributes == {"segment": "vip"}
    assert CONTRACT_KEYS <= set(facts)


def test_a_phone_collection_object_needs_its_three_answers() -> None:
    with pytest.raises(ValidationError) as raised:
        schemas.ContactUpdate.model_validate({"phone_collection": {"told_calls_need_consent": True}})

    assert {e["loc"] for e in raised.value.errors()} == {
        ("phone_collection", "during_contract"),
        ("phone_collection", "contract_states_calls_need_consent"),
    }


async def test_a_patch_of_profession_and_stop_pub_is_announced_with_the_new_facts() -> None:
    store = FakeStore()
    created = await handlers.create_contact(
        commands.CreateContact(
            actor="t",
            kind=Kind.PROFESSIONAL_NAMED,
            relationship=Relationship.PROSPECT,
            personal=PersonalData(email="dr@example.org"),
            origin=Origin(collected_from_person=True, source="fair"),
            obtained_at=AT,
        ),
        FakeUnitOfWork(store),
    )

    await handlers.update_contact(
        commands.UpdateContact(
            actor="t",
            contact_id=created.id,
            changes=(commands.ContactChanges(profession="Médecin Généraliste", stop_pub=True)),
        ),
        FakeUnitOfWork(store),
    )

    [_, (_, updated)] = store.published
    assert updated.changed == ("profession", "stop_pub")
    assert updated.facts["profession"] == "médecin généraliste" and updated.facts["stop_pub"] is True


# --- Purchases.


def test_sales_fold_into_one_purchase_per_seller_with_united_categories_and_the_latest_time() -> None:
    contact = _contact()
    first, later = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)

    contact.record_interaction(
        kind=InteractionKind.SALE,
        channel="shop",
        occurred_at=later,
        at=AT,
        seller="Chaussures SA",
        product_categories=["Shoes"],
    )
    contact.record_interaction(
        kind=InteractionKind.PURCHASE,
        channel="web",
        occurred_at=first,
        at=AT,
        seller=" Chaussures  SA ",
        product_categories=["socks", "shoes"],
    )
    contact.record_interaction(
        kind=InteractionKind.SALE, channel="web", occurred_at=first, at=AT, seller="Autre SAS"
    )

    assert contact.events[-1].facts["purchases"] == [
        {"seller": "Chaussures SA", "categories": ["shoes", "socks"], "last_at": later.isoformat()},
        {"seller": "Autre SAS", "categories": [], "last_at": first.isoformat()},
    ]
    assert contact.relationship is Relationship.CUSTOMER_SALE_DONE


def test_the_interaction_event_carries_the_seller_and_categories_of_a_sale() -> None:
    contact = _contact()

    contact.record_interaction(
        kind=InteractionKind.SALE,
        channel=None,
        occurred_at=AT,
        at=AT,
        seller="Chaussures SA",
        product_categories=["shoes"],
    )
    contact.record_interaction(kind=InteractionKind.CLICK, channel=None, occurred_at=AT, at=AT)

    sale, click = contact.events[-2:]
    assert (sale.seller, sale.product_categories, sale.outcome) == ("Chaussures SA", ["shoes"], None)
    assert (click.seller, click.product_categories, click.outcome) == (None, None, None)


@pytest.mark.parametrize(
    "kind",
    [
        InteractionKind.SALE,
        InteractionKind.PURCHASE,
        InteractionKind.CONTRACT_START,
        InteractionKind.CONTRACT_END,
    ],
)
def test_a_sale_purchase_or_contract_without_a_seller_is_refused_naming_the_seller(
    kind: InteractionKind,
) -> None:
    contact = _contact()
    with pytest.raises(InteractionRejectedError) as raised:
        contact.record_interaction(kind=kind, channel=None, occurred_at=AT, at=AT)
    with pytest.raises(ValidationError) as invalid:
        schemas.InteractionCreate.model_validate(
            {"kind": kind.value, "occurred_at": "2026-01-02T00:00:00+00:00"}
        )

    assert [e["field"] for e in raised.value.problem_extra["errors"]] == ["seller"]
    assert [e["loc"] for e in invalid.value.errors()] == [("seller",)]
    assert contact.purchases == [] and contact.relationship is Relationship.PROSPECT


def test_a_seller_or_an_outcome_on_a_kind_that_does_not_take_it_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.InteractionCreate.model_validate(
            {
                "kind": "click",
                "occurred_at": "2026-01-02T00:00:00+00:00",
                "seller": "X",
                "outcome": "answered",
            }
        )

    assert {e["loc"] for e in invalid.value.errors()} == {("seller",), ("outcome",)}


async def test_an_existing_customers_purchases_on_create_make_a_customer_and_move_the_last_contact() -> None:
    body = schemas.ContactCreate.model_validate(
        {
            "kind": "consumer",
            "email": "client@example.org",
            "collected_from_person": True,
            "source": "shop",
            "obtained_at": "2025-01-01T00:00:00+00:00",
            "purchases": [
                {"seller": "Chaussures SA", "categories": ["shoes"], "last_at": "2025-06-01T00:00:00+00:00"},
                {"seller": "Chaussures SA", "categories": ["boots"], "last_at": "2025-03-01T00:00:00+00:00"},
            ],
        }
    )
    uow = FakeUnitOfWork()

    contact = await handlers.create_contact(importing.create_command(body, actor="t"), uow)

    assert contact.relationship is Relationship.CUSTOMER_SALE_DONE
    assert contact.last_contact_from_person_at == datetime(2025, 6, 1, tzinfo=UTC)
    [(_, created)] = uow.store.published
    assert created.facts["purchases"] == [
        {"seller": "Chaussures SA", "categories": ["boots", "shoes"], "last_at": "2025-06-01T00:00:00+00:00"}
    ]


def test_purchases_with_an_explicit_prospect_relationship_are_refused() -> None:
    with pytest.raises(ValidationError, match="purchases are those of a customer"):
        schemas.ContactCreate.model_validate(
            {
                "kind": "consumer",
                "relationship": "prospect",
                "collected_from_person": True,
                "source": "shop",
                "obtained_at": "2025-01-01T00:00:00+00:00",
                "purchases": [{"seller": "S", "last_at": "2025-06-01T00:00:00+00:00"}],
            }
        )


# --- Contracts.


def test_a_contract_start_makes_the_relationship_contract_in_progress_and_its_end_closes_it() -> None:
    contact = _contact(
        relationship=Relationship.CUSTOMER_SALE_DONE, relationship_end_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)

    contact.record_interaction(
        kind=InteractionKind.CONTRACT_START,
        channel=None,
        occurred_at=start,
        at=AT,
        seller="Énergie SA",
        product_categories=["electricity"],
    )
    during = (contact.relationship, contact.relationship_end_at, contact.last_contact_from_person_at)
    contact.record_interaction(
        kind=InteractionKind.CONTRACT_END, channel=None, occurred_at=end, at=AT, seller="Énergie SA"
    )

    assert during == (Relationship.CONTRACT_IN_PROGRESS, None, start)
    assert contact.relationship is Relationship.CUSTOMER_SALE_DONE and contact.relationship_end_at == end
    assert contact.last_contact_from_person_at == start, "a contract's end is not a contact from the person"
    assert contact.events[-1].facts["contracts"] == [
        {
            "seller": "Énergie SA",
            "categories": ["electricity"],
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
        }
    ]


def test_ending_one_of_two_contracts_keeps_the_contract_in_progress() -> None:
    contact = _contact()
    for seller in ("Énergie SA", "Telecom SAS"):
        contact.record_interaction(
            kind=InteractionKind.CONTRACT_START, channel=None, occurred_at=AT, at=AT, seller=seller
        )

    contact.record_interaction(
        kind=InteractionKind.CONTRACT_END, channel=None, occurred_at=AT, at=AT, seller="Telecom SAS"
    )

    assert contact.relationship is Relationship.CONTRACT_IN_PROGRESS and contact.relationship_end_at is None
    assert [c.ended_at for c in contact.contracts] == [None, AT]


def test_ending_a_contract_the_seller_does_not_have_is_refused() -> None:
    contact = _contact()

    with pytest.raises(InteractionRejectedError, match="no open contract"):
        contact.record_interaction(
            kind=InteractionKind.CONTRACT_END, channel=None, occurred_at=AT, at=AT, seller="Nobody SA"
        )


# --- Call attempts.


def test_the_four_latest_call_attempts_and_the_last_refusal_are_published() -> None:
    contact = _contact(personal=PersonalData(phone="+33612345678"))
    times = [datetime(2026, 4, day, 10, tzinfo=UTC) for day in (3, 1, 5, 2, 4)]
    outcomes = [
        CallOutcome.NO_ANSWER,
        CallOutcome.REFUSED,
        CallOutcome.ANSWERED,
        CallOutcome.NO_ANSWER,
        CallOutcome.NO_ANSWER,
    ]

    for when, outcome in zip(times, outcomes, strict=True):
        contact.record_interaction(
            kind=InteractionKind.CALL_ATTEMPT, channel="phone_human", occurred_at=when, at=AT, outcome=outcome
        )

    facts = contact.events[-1].facts
    assert facts["call_attempts"] == [datetime(2026, 4, d, 10, tzinfo=UTC).isoformat() for d in (2, 3, 4, 5)]
    assert facts["last_call_refusal_at"] == datetime(2026, 4, 1, 10, tzinfo=UTC).isoformat()
    assert contact.events[-1].outcome == "no_answer"


def test_a_call_attempt_never_moves_the_retention_clock_nor_reactivates_a_flagged_contact() -> None:
    contact = _contact()
    contact.status = Status.RETENTION_FLAGGED

    contact.record_interaction(
        kind=InteractionKind.CALL_ATTEMPT, channel=None, occurred_at=AT, at=AT, outcome=CallOutcome.ANSWERED
    )

    assert contact.last_contact_from_person_at is None and contact.status is Status.RETENTION_FLAGGED
    assert contact.events[-1].counts_as_contact_from_person is False


def test_a_call_attempt_without_an_outcome_is_refused_naming_the_outcome() -> None:
    with pytest.raises(InteractionRejectedError) as raised:
        _contact().record_interaction(kind=InteractionKind.CALL_ATTEMPT, channel=None, occurred_at=AT, at=AT)
    with pytest.raises(ValidationError) as invalid:
        schemas.InteractionCreate.model_validate(
            {"kind": "call_attempt", "occurred_at": "2026-01-02T00:00:00+00:00"}
        )

    assert [e["field"] for e in raised.value.problem_extra["errors"]] == ["outcome"]
    assert [e["loc"] for e in invalid.value.errors()] == [("outcome",)]


async def test_a_recorded_call_attempt_is_stored_with_its_outcome() -> None:
    store = FakeStore()
    contact = _contact()
    contact.events.clear()
    store.contacts[contact.id] = contact

    interaction_id = await handlers.record_interaction(
        commands.RecordInteraction(
            actor="t",
            contact_id=contact.id,
            kind=InteractionKind.CALL_ATTEMPT,
            occurred_at=AT,
            outcome=CallOutcome.REFUSED,
        ),
        FakeUnitOfWork(store),
    )

    assert store.interactions[interaction_id].outcome == "refused"
    [(_, recorded)] = store.published
    assert recorded.facts["last_call_refusal_at"] == AT.isoformat()


# --- Erasure.


def test_an_erasure_event_carries_the_blind_indexes_and_the_contact_keeps_no_facts_about_the_person() -> None:
    contact = _contact(profession="notaire", purchases=[Purchase(seller="S", categories=("x",), last_at=AT)])

    contact.erase(reason="request", at=AT + timedelta(days=1))

    erased = contact.events[-1]
    assert isinstance(erased, events.ContactErased) and erased.blind_indexes == ["e" * 64, "p" * 64]
    assert contact.profession is None and contact.purchases == [] and contact.indexes.email == "e" * 64
    assert "lea@example.org" not in repr(asdict(erased))


# --- Import.


def test_a_csv_row_takes_the_phone_collection_stop_pub_timezone_and_one_purchase_as_dotted_columns() -> None:
    body = (
        b"kind,email,collected_from_person,source,obtained_at,timezone,profession,stop_pub,"
        b"phone_collection.told_calls_need_consent,phone_collection.during_contract,"
        b"phone_collection.contract_states_calls_need_consent,purchase.seller,purchase.categories,"
        b"purchase.last_at\n"
        b"consumer,a@example.org,true,shop,2026-01-01T00:00:00+00:00,Indian/Reunion,Boulanger,true,"
        b"true,false,true,Chaussures SA,shoes|socks,2026-01-02T00:00:00+00:00\n"
    )

    [(number, fields, error)] = list(importing.rows_of(body, "text/csv"))
    command = importing.to_command(fields or {}, actor="t")

    assert number == 1 and error is None
    assert (
        command.timezone == "Indian/Reunion"
        and command.profession == "Boulanger"
        and command.stop_pub is True
    )
    assert command.phone_collection == PhoneCollection(
        told_calls_need_consent=True, during_contract=False, contract_states_calls_need_consent=True
    )
    assert command.purchases == [
        Purchase(
            seller="Chaussures SA", categories=("shoes", "socks"), last_at=datetime(2026, 1, 2, tzinfo=UTC)
        )
    ]
    assert command.relationship is Relationship.CUSTOMER_SALE_DONE


def test_an_import_row_with_an_unknown_time_zone_is_reported_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        importing.to_command(
            {
                "kind": "consumer",
                "collected_from_person": True,
                "source": "x",
                "obtained_at": "2026-01-01T00:00:00+00:00",
                "timezone": "Paris",
            },
            actor="t",
        )

    assert [e["field"] for e in importing.field_errors(raised.value)] == ["timezone"]
