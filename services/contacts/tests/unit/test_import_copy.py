"""An import batch prepared at once (issue 15, third round) writes the bytes the row-by-row path writes:
ids as `uuid.uuid4` gives them, sealed data as `PersonalDataVault.seal` seals it from the same random
bytes, the contacts and outbox rows as `copy_binary.RowEncoder` encodes `repository.contact_row` and
`outgoing.created_outbox_row`; and a whole batch gives the row-by-row path's contacts and events."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from contacts.adapters import import_copy, orm, outgoing
from contacts.adapters.protection import OpenedPersonalData, SealedPersonalData
from contacts.adapters.repository import CONTACT_COLUMNS, contact_row
from contacts.domain.model import Contact, Origin, PersonalData, PhoneCollection, Purchase
from contacts.entrypoints import import_pool, importing
from contacts.service_layer import commands
from contacts.service_layer.unit_of_work import OUTBOX_COLUMNS
from contacts_fakes import T0, make_vault
from shared.copy_binary import RowEncoder
from shared.envelope_crypto import KeyRing, decrypt_fields
from shared.kafka import decode_or_poison
from shared.tracing import TraceContext, current_trace


class _Stream:
    """os.urandom's stand-in: successive bytes of one seeded stream, however they are asked for."""

    def __init__(self, seed: int) -> None:
        self._bytes = random.Random(seed).randbytes(1 << 20)
        self._at = 0

    def __call__(self, size: int) -> bytes:
        out = self._bytes[self._at : self._at + size]
        self._at += size
        return out


def test_ids_are_uuid4s_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "urandom", _Stream(1))
    ids = import_copy.uuid4_strings(5000)
    stream = _Stream(1)
    expected = [str(uuid.UUID(bytes=stream(16), version=4)) for _ in range(5000)]
    assert ids == expected
    assert import_copy.uuid4_strings(0) == []


def _people(count: int, seed: int) -> Iterator[tuple[str, PersonalData, dict[str, Any] | None]]:
    rng = random.Random(seed)
    for n in range(count):
        personal = PersonalData(
            given_name=rng.choice([None, f"Zoé{n}", "O'Brien\t\\ \u2028"]),
            email=rng.choice([None, f"p{n}@example.org"]),
            phone=rng.choice([None, f"+3361234{n % 10000:04d}"]),
            postal_address=rng.choice([None, {"line1": "1 rue", "postal_code": "97400", "city": "X"}]),
            birth_date=rng.choice([None, date(1990, 5, 1)]),
            external_ref=rng.choice([None, f"R{n}"]),
        )
        yield str(uuid.uuid4()), personal, rng.choice([None, {}, {"a": [1, "é", None, {"b": 1.5}]}])


def test_a_batch_is_sealed_as_seal_seals_each_record(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = make_vault()
    records = list(_people(400, 2))
    monkeypatch.setattr(os, "urandom", _Stream(3))
    batch = vault.seal_new_many(records)
    monkeypatch.setattr(os, "urandom", _Stream(3))
    one_by_one = [vault.seal(cid, personal, attributes=attributes) for cid, personal, attributes in records]
    assert batch == one_by_one
    monkeypatch.undo()
    ring = KeyRing({"k1": b"k" * 32}, "k1")
    for (cid, personal, attributes), sealed in zip(records, vault.seal_new_many(records), strict=True):
        opened = vault.open(cid, sealed)
        assert (opened.personal, opened.attributes) == (personal, attributes or {})
        values = decrypt_fields(
            ring.unwrap(sealed.wrapped_key), sealed.ciphertext, associated_data=cid.encode()
        )
        assert values["email"] == personal.email
    # A fresh data key and fresh nonces for every record, also for the same person twice.
    again = vault.seal_new_many([records[0], records[0]])
    keys = {ring.unwrap(s.wrapped_key) for s in again}
    assert len(keys) == 2 and again[0].ciphertext[1:13] != again[1].ciphertext[1:13]
    assert again[0].wrapped_key[-60:-48] != again[1].wrapped_key[-60:-48]


def test_a_vault_built_from_a_key_ring_alone_seals_a_batch_that_opens() -> None:
    vault = make_vault()
    bare = type(vault)(key_ring=vault.key_ring, indexer=vault.indexer)
    records = list(_people(20, 4))
    for (cid, personal, attributes), sealed in zip(records, bare.seal_new_many(records), strict=True):
        assert vault.open(cid, sealed) == OpenedPersonalData(personal, attributes or {})


def _contacts(count: int) -> list[Contact]:
    rng = random.Random(152)
    vault = make_vault()
    out = []
    for n, (_, personal, attributes) in enumerate(_people(count, 5)):
        at = T0 + timedelta(microseconds=rng.choice([0, 1, 123456]))
        out.append(
            Contact.create(
                kind=rng.choice(list(importing._KINDS.values())),  # noqa: SLF001
                relationship=rng.choice(list(importing._RELATIONSHIPS.values())),  # noqa: SLF001
                personal=personal,
                indexes=vault.indexes_for(personal, source="crm"),
                origin=Origin(
                    collected_from_person=rng.choice([True, False]),
                    source=rng.choice(["crm", "salon é"]),
                    broker_name=rng.choice([None, "Acme"]),
                ),  # fmt: skip
                obtained_at=rng.choice(
                    [
                        T0,
                        datetime(2025, 1, 1, 8, tzinfo=UTC),
                        datetime.fromisoformat("2025-01-01T09:00:00+01:00"),
                    ]
                ),
                last_contact_from_person_at=rng.choice([None, T0 - timedelta(days=3)]),
                attributes=attributes,
                timezone=rng.choice([None, "Europe/Paris", "America/Cayenne"]),
                profession=rng.choice([None, "Pharmacien"]),
                phone_collection=rng.choice([None, PhoneCollection(True, False, False)]),
                stop_pub=rng.choice([True, False]),
                purchases=rng.choice(
                    [
                        [],
                        [Purchase(seller="Acme", categories=("shoes",), last_at=T0)],
                        # The same instant as another offset: the JSON keeps each one's text.
                        [Purchase(seller="Acme", categories=("b", "a"), last_at=T0.astimezone(_PLUS_TWO))],
                    ]
                ),
                at=at,
                contact_id=f"c-{n}" if n % 7 == 0 else None,
            )
        )
    return out


_PLUS_TWO = datetime.fromisoformat("2026-01-01T00:00:00+02:00").tzinfo


def test_contact_rows_are_the_encoded_stored_rows() -> None:
    vault = make_vault()
    encoder = RowEncoder(orm.contacts, CONTACT_COLUMNS)
    rows = import_copy.ImportCopyRows(actor="crm", correlation_id="c", now=T0)
    for contact in _contacts(600):
        sealed = vault.seal(contact.id, contact.personal, attributes=contact.attributes)
        fixed = make_vault()
        fixed.seal = lambda *_, s=sealed, **__: s  # type: ignore[method-assign]
        # A new contact's row is sealed through the batch path (one record).
        fixed.seal_new_many = lambda records, s=sealed: [s] * len(records)  # type: ignore[method-assign]
        expected = contact_row(contact, fixed)
        assert (expected["wrapped_key"], expected["personal_data"]) == (sealed.wrapped_key, sealed.ciphertext)
        assert rows.contact_row(contact, sealed) == encoder.row(tuple(expected[c] for c in CONTACT_COLUMNS))


@pytest.mark.parametrize("correlation_id", [None, "", "req-7f3a", 'q"é\\'])
@pytest.mark.parametrize("traced", [False, True])
def test_event_rows_are_the_encoded_outbox_rows(correlation_id: str | None, traced: bool) -> None:
    token = (
        current_trace.set(TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        if traced
        else None
    )
    try:
        now = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
        encoder = RowEncoder(orm.outbox, OUTBOX_COLUMNS)
        rows = import_copy.ImportCopyRows(actor="crm ü", correlation_id=correlation_id, now=now)
        for contact in _contacts(300):
            [event] = contact.events
            event_id = str(uuid.uuid4())
            expected = outgoing.created_outbox_row(
                event, actor="crm ü", correlation_id=correlation_id, event_id=event_id, time=now, now=now
            )
            assert rows.event_row(event, event_id) == encoder.row(tuple(expected[c] for c in OUTBOX_COLUMNS))
    finally:
        if token is not None:
            current_trace.reset(token)


def test_an_event_too_large_is_refused_as_the_row_by_row_path_refuses_it() -> None:
    [contact] = _contacts(1)
    [event] = contact.events
    event = type(event)(contact_id=event.contact_id, facts={**event.facts, "x": "y" * 1_100_000}, at=event.at)
    rows = import_copy.ImportCopyRows(actor="crm", correlation_id=None, now=T0)
    with pytest.raises(outgoing.EventTooLargeError):
        outgoing.created_outbox_row(event, actor="crm", correlation_id=None)
    with pytest.raises(outgoing.EventTooLargeError):
        rows.event_row(event, str(uuid.uuid4()))


def _fields(row: bytes) -> list[bytes | None]:
    count, at, out = int.from_bytes(row[:2], "big"), 2, []
    for _ in range(count):
        size = int.from_bytes(row[at : at + 4], "big", signed=True)
        at += 4
        out.append(None if size < 0 else row[at : at + size])
        at += max(size, 0)
    assert at == len(row)
    return out


def test_a_batch_prepares_the_row_by_row_paths_contacts_and_events() -> None:
    rng = random.Random(9)
    people: list[dict[str, Any]] = []
    for n in range(1200):
        row: dict[str, Any] = {
            "kind": rng.choice(["consumer", "professional_named"]),
            "given_name": f"Prénom{n}",
            "email": rng.choice([f"person.{n}@example.org", f"Person.{n}@Example.org ", "not-an-email"]),
            "collected_from_person": True,
            "source": "crm_export",
            "obtained_at": rng.choice(["2026-01-01T10:00:00+00:00", "2025-06-01T10:00:00.5+02:00"]),
            "attributes": {"segment": rng.choice(["a", "b"])},
            "external_ref": f"CRM-{n}",
        }
        if n % 3 == 0:
            row["phone"] = f"06 12 {n // 100 % 100:02d} {n % 100:02d} 00"
        if n % 5 == 0:
            row["postal_address"] = {"line1": f"{n} rue", "postal_code": "75002", "city": "Paris"}
        if n % 11 == 0:  # the model's path
            row["purchases"] = [{"seller": "Acme", "categories": ["x"], "last_at": "2025-05-05T05:05:05Z"}]
            row["relationship"] = "customer_sale_done"
        people.append(row)
    raw: list[import_pool.RawRow] = [(n + 1, orjson.dumps(r)) for n, r in enumerate(people)]
    raw += [(2000, b"{not json"), (2001, b"[1]"), (2002, {"kind": "consumer", "source": "crm"})]
    vault = make_vault()
    at = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    args: dict[str, Any] = {"vault": vault, "actor": "crm", "at": at, "correlation_id": "c-1"}
    batch = import_pool.prepare_rows(raw, binary=True, **args)
    one_by_one = import_pool.prepare_rows(raw, binary=False, **args)
    assert len(batch) == len(one_by_one) == len(raw)
    for (ours, ref), (theirs, their_ref) in zip(batch, one_by_one, strict=True):
        assert ref == their_ref
        if not isinstance(theirs, commands.PreparedContact):
            assert ours == theirs  # the same problems, word for word
            continue
        assert isinstance(ours, commands.PreparedContact)
        assert (ours.row, ours.indexes) == (theirs.row, theirs.indexes)
        assert isinstance(ours.contact_row, bytes) and isinstance(ours.outbox_row, bytes)
        stored, values = _fields(ours.contact_row), theirs.contact_row
        assert isinstance(values, tuple)
        assert stored[0] == ours.contact_id.encode()
        sealed = SealedPersonalData(stored[21], stored[22])  # type: ignore[arg-type]
        assert vault.open(ours.contact_id, sealed) == vault.open(
            theirs.contact_id, SealedPersonalData(values[21], values[22])
        )
        # Every other column encodes the row-by-row path's value.
        encoder = RowEncoder(orm.contacts, CONTACT_COLUMNS)
        for n, name in enumerate(CONTACT_COLUMNS):
            if name not in ("id", "wrapped_key", "personal_data"):
                assert (
                    stored[n] is None
                    if values[n] is None
                    else encoder.field(name, values[n])[4:] == stored[n]
                )
        event_id, topic, key, value, headers, _ = _fields(ours.outbox_row)
        envelope = decode_or_poison(value)  # type: ignore[arg-type]
        their_envelope = decode_or_poison(theirs.outbox_row[3])  # type: ignore[index]
        assert (envelope.id, envelope.subject, key) == (event_id.decode(), ours.contact_id, key)  # type: ignore[union-attr]
        assert envelope.data == {**their_envelope.data, "contact_id": ours.contact_id}
        assert (envelope.type, envelope.actor, envelope.correlationid) == (
            their_envelope.type,
            their_envelope.actor,
            their_envelope.correlationid,
        )
        assert topic == theirs.outbox_row[1].encode()  # type: ignore[index]
        assert orjson.loads(headers) == [[k, v.decode()] for k, v in envelope.kafka_headers()]  # type: ignore[arg-type]
        assert b"@example.org" not in value  # type: ignore[operator]
    ids = [p.contact_id for p, _ in batch if isinstance(p, commands.PreparedContact)]
    assert len(set(ids)) == len(ids)
