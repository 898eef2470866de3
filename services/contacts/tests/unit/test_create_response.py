"""`POST /v1/contacts` sends, byte for byte, the body FastAPI's `response_model` path would send for the
same contact (issue 15: the create skips FastAPI's second validation of the ContactRead it built)."""

from __future__ import annotations

from contacts.domain.model import Contact, Kind, Origin, PersonalData, PhoneCollection, Purchase, Relationship
from contacts.entrypoints import api
from contacts_fakes import T0, make_vault
from fastapi.routing import APIRoute


def _contacts(count: int) -> list[Contact]:
    vault = make_vault()
    out = []
    for n in range(count):
        personal = PersonalData(
            given_name=["Léa", None, 'Zoë "Z"'][n % 3],
            email=f"p{n}@example.org" if n % 2 else None,
            phone=f"+3361234{n:04d}" if n % 3 else None,
            postal_address={"country": "FR", "postal_code": "75011"} if n % 4 == 0 else None,
        )
        out.append(
            Contact.create(
                kind=Kind.CONSUMER,
                relationship=Relationship.CUSTOMER_SALE_DONE if n % 5 == 0 else Relationship.PROSPECT,
                personal=personal,
                indexes=vault.indexes_for(personal, source="crm"),
                origin=Origin(collected_from_person=bool(n % 2), source="crm", broker_name=None),
                obtained_at=T0,
                attributes={"segment": "a", "score": n / 7, "tags": ["x", n]},
                timezone="Europe/Paris" if n % 2 else None,
                phone_collection=PhoneCollection(True, False, False) if n % 3 == 1 else None,
                stop_pub=bool(n % 2),
                purchases=[Purchase(seller="Acme", categories=("shoes",), last_at=T0)] if n % 5 == 0 else [],
                at=T0,
            )
        )
    return out


def test_the_create_body_is_fastapis() -> None:
    [route] = [
        r
        for r in api.router.routes
        if isinstance(r, APIRoute) and r.path == "/v1/contacts" and "POST" in r.methods
    ]
    field = route.response_field
    assert field is not None
    contacts = _contacts(300)
    assert any(c.purchases for c in contacts) and any(c.phone_collection for c in contacts)
    for contact in contacts:
        read = api._read(contact)  # noqa: SLF001
        # What FastAPI does with a returned model: validate it against the response field, dump it.
        value, errors = field.validate(read, {}, loc=("response",))
        assert not errors
        expected = field.serialize_json(value, by_alias=True)
        assert api._CONTACT_READ_JSON(read, by_alias=True) == expected  # noqa: SLF001
