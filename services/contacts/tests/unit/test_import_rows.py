"""Import rows validated without the model (issue 15): `importing.quick_command` accepts only rows that
`schemas.ContactCreate` accepts and builds the same command from them; every other row goes through the
model, so a row in error gets the model's problems word for word. Compared here on many rows, valid
and broken in many ways."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contacts.domain.model import PersonalData
from contacts.entrypoints import importing
from pydantic import ValidationError
from shared.blind_index import normalise_email


def _row(n: int, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": rng.choice(["consumer", "professional_named", "legal_person_generic"]),
        "collected_from_person": rng.choice([True, False]),
        "source": rng.choice(["crm_export", "website", "fair"]),
        "obtained_at": rng.choice(
            ["2026-01-01T10:00:00+00:00", "2025-06-30T23:59:59.5Z", "2024-02-29T08:15:00.123456+02:00"]
        ),
    }
    optional: dict[str, Any] = {
        "relationship": rng.choice(
            ["prospect", "account_only", "customer_sale_done", "contract_in_progress"]
        ),
        "given_name": f"Prénom{n}",
        "family_name": f"Nom {n}",
        "email": rng.choice([f"Person.{n}@Example.org", f"  p{n}@exemple.fr ", f"é{n}@exämple.fr"]),
        "phone": rng.choice(
            [f"06 12 34 {n % 100:02d} 78", f"+33 6 12 34 {n % 100:02d} 79", "+44 20 7946 0958"]
        ),
        "postal_address": rng.choice(
            [
                {"line1": f"{n} rue de la Paix", "postal_code": "75002", "city": "Paris"},
                {
                    "line1": "1 chemin",
                    "line2": "",
                    "postal_code": "97400",
                    "city": "Saint-Denis",
                    "country": "RE",
                },
                {
                    "line1": "2 rue",
                    "line2": "bât. B",
                    "postal_code": "69001",
                    "city": "Lyon",
                    "country": "FR",
                },
            ]
        ),
        "external_ref": rng.choice([f"CRM-{n}", f"x {n} y", "é"]),
        "broker_name": rng.choice(["Acme Data", None]),
        "last_contact_from_person_at": "2026-01-02T09:00:00+01:00",
        "attributes": rng.choice([{}, {"segment": "a"}, {"nested": {"list": [1, 2, {"x": None}]}}]),
        "timezone": rng.choice(["Europe/Paris", "Indian/Reunion", None]),
        "profession": rng.choice(["Pharmacien ", "  chef  de  projet", None]),
        "stop_pub": rng.choice([True, False]),
    }
    for name, value in optional.items():
        if rng.random() < 0.6:
            row[name] = value
    return row


#: Ways to break (or merely reshape) a field: each either keeps the row valid in another form, which the
#: model may accept, or makes it invalid.
_MUTATIONS: list[tuple[str, Any]] = [
    ("kind", "person"),
    ("kind", None),
    ("kind", 1),
    ("relationship", None),
    ("relationship", "friend"),
    ("given_name", ""),
    ("given_name", "x" * 201),
    ("given_name", 12),
    ("family_name", None),
    ("email", "not-an-email"),
    ("email", ""),
    ("email", "a@b"),
    ("email", "x" * 250 + "@example.org"),
    ("email", 5),
    ("email", None),
    ("phone", "12"),
    ("phone", "06 12"),
    ("phone", "+33 6 12 34 56 78 90 12 34 56 78 90 12 34 56 78 90"),
    ("phone", ""),
    ("phone", None),
    ("postal_address", {"line1": "x", "postal_code": "1", "city": "c", "country": "FRA"}),
    ("postal_address", {"line1": "", "postal_code": "1", "city": "c"}),
    ("postal_address", {"line1": "x", "postal_code": "1"}),
    ("postal_address", {"line1": "x", "postal_code": "1", "city": "c", "floor": 2}),
    ("postal_address", {"line1": "x", "postal_code": "1", "city": "c", "country": None}),
    ("postal_address", "1 rue de la Paix"),
    ("postal_address", None),
    ("external_ref", " padded"),
    ("external_ref", "padded "),
    ("external_ref", "a\nb"),
    ("external_ref", "\x1fctl"),
    ("external_ref", ""),
    ("external_ref", "r" * 201),
    ("external_ref", 42),
    ("collected_from_person", "true"),
    ("collected_from_person", 1),
    ("collected_from_person", None),
    ("source", ""),
    ("source", "broker"),
    ("source", "partner"),
    ("broker_name", ""),
    ("obtained_at", "2026-01-01"),
    ("obtained_at", "2026-01-01T10:00:00"),
    ("obtained_at", "2026-01-01 10:00:00+00:00"),
    ("obtained_at", "2026-02-30T10:00:00+00:00"),
    ("obtained_at", "2026-01-01T10:00:00+25:00"),
    ("obtained_at", "2026-01-01T10:00:00-00:00"),
    ("obtained_at", "2026-01-01T10:00:00.1234567+00:00"),
    ("obtained_at", "2099-01-01T10:00:00+00:00"),
    ("obtained_at", 1767261600),
    ("obtained_at", None),
    ("last_contact_from_person_at", "2099-01-01T00:00:00Z"),
    ("last_contact_from_person_at", None),
    ("attributes", None),
    ("attributes", []),
    ("attributes", {"": 1}),
    ("attributes", {str(k): k for k in range(101)}),
    ("attributes", {"deep": {"a": {"b": {"c": {"d": 1}}}}}),
    ("attributes", {"big": "x" * 20_000}),
    ("timezone", "Mars/Olympus"),
    ("timezone", ""),
    ("profession", ""),
    ("stop_pub", None),
    ("stop_pub", "false"),
    ("birth_date", "1990-05-01"),
    ("relationship_end_at", "2026-01-01T00:00:00Z"),
    (
        "phone_collection",
        {
            "told_calls_need_consent": True,
            "during_contract": False,
            "contract_states_calls_need_consent": False,
        },
    ),  # fmt: skip
    ("purchases", [{"seller": "Acme", "last_at": "2026-01-01T00:00:00Z"}]),
    ("unknown_field", 1),
]


def _model(fields: dict[str, Any]) -> Any:
    try:
        return importing.to_command(copy.deepcopy(fields), actor="crm")
    except ValidationError:
        return None


def _assert_same(fields: dict[str, Any]) -> bool:
    """Asserts that the quick path accepts only what the model accepts, with the same command; returns
    whether the quick path took the row."""
    quick = importing.quick_command(copy.deepcopy(fields), actor="crm")
    model = _model(fields)
    if quick is None:
        return False
    assert model is not None, f"quick_command accepted a row the model refuses: {sorted(fields)}"
    cmd, email = quick
    assert cmd == model
    # Equal datetimes may still differ in offset: the stored and published forms must not.
    for name in ("obtained_at", "last_contact_from_person_at"):
        ours, theirs = getattr(cmd, name), getattr(model, name)
        assert (ours and ours.isoformat()) == (theirs and theirs.isoformat())
    assert cmd.personal.as_dict() == model.personal.as_dict()
    assert email == (normalise_email(model.personal.email) if model.personal.email else None)
    return True


def test_common_rows_take_the_quick_path_with_the_models_command() -> None:
    rng = random.Random(15)
    rows = [_row(n, rng) for n in range(600)]
    rows = [r for r in rows if not (not r["collected_from_person"] and r["source"] in ("broker", "partner"))]
    taken = sum(_assert_same(row) for row in rows)
    # Not vacuous: the valid common rows do take the quick path.
    assert taken == len(rows)


@pytest.mark.parametrize(("name", "value"), _MUTATIONS)
def test_a_changed_field_is_accepted_by_the_quick_path_only_as_the_model_accepts_it(
    name: str, value: Any
) -> None:
    rng = random.Random(name)
    for n in range(12):
        row = _row(n, rng)
        row[name] = value
        _assert_same(row)


def test_a_missing_required_field_is_left_to_the_model() -> None:
    rng = random.Random(3)
    for name in ("kind", "collected_from_person", "source", "obtained_at"):
        row = _row(1, rng)
        del row[name]
        assert importing.quick_command(row, actor="crm") is None
        assert _model(row) is None


def test_row_command_reports_the_models_problems_for_a_row_in_error() -> None:
    row = {"kind": "consumer", "email": "not-an-email", "collected_from_person": True, "source": "crm",
           "obtained_at": "2026-01-01T10:00:00+00:00", "phone": "12"}  # fmt: skip
    with pytest.raises(ValidationError) as quick:
        importing.row_command(row, actor="crm")
    with pytest.raises(ValidationError) as model:
        importing.to_command(row, actor="crm")
    assert importing.field_errors(quick.value) == importing.field_errors(model.value)
    assert {e["field"] for e in importing.field_errors(quick.value)} == {"email", "phone"}


def test_row_command_gives_the_normalised_email_on_the_model_path_too() -> None:
    row = {"kind": "consumer", "email": " A.B@Example.ORG ", "collected_from_person": True, "source": "crm",
           "obtained_at": "2026-01-01T10:00:00+00:00", "birth_date": "1990-05-01"}  # fmt: skip
    assert importing.quick_command(row, actor="crm") is None  # birth_date is the model's
    cmd, email = importing.row_command(row, actor="crm")
    assert (cmd.personal.email, email) == ("A.B@Example.ORG", "a.b@example.org")


def test_a_time_just_past_now_is_refused_by_both() -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    row = {"kind": "consumer", "collected_from_person": True, "source": "crm", "obtained_at": soon}
    assert importing.quick_command(row, actor="crm") is None
    assert _model(row) is None


def test_personal_data_as_dict_names_every_field() -> None:
    # as_dict lists the fields by hand (a bulk-import hot path): a new field must not be left out.
    from dataclasses import fields

    assert list(PersonalData().as_dict()) == [f.name for f in fields(PersonalData)]


def test_blind_indexes_cross_a_process_pipe_unchanged() -> None:
    import pickle

    from contacts.domain.model import BlindIndexes

    for indexes in (
        BlindIndexes(),
        BlindIndexes("e" * 64, None, "r" * 64),
        BlindIndexes(None, "p" * 64, None),
    ):
        assert pickle.loads(pickle.dumps(indexes, protocol=5)) == indexes
