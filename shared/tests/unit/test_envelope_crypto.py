import os
from datetime import UTC, datetime
from uuid import UUID

import pytest
from shared.envelope_crypto import (
    DataKey,
    DecryptionError,
    FieldEncodingError,
    InvalidAssociatedDataError,
    InvalidKeyError,
    KeyRing,
    KeyUnavailableError,
    decrypt_fields,
    decrypt_value,
    encrypt_fields,
    encrypt_value,
    generate_key,
)

from shared import envelope_crypto

OLD_KEK = bytes(range(32))
NEW_KEK = bytes(range(100, 132))
RECORD = b"contact:3f6c1b2e-0000-4000-8000-000000000001"
OTHER_RECORD = b"contact:3f6c1b2e-0000-4000-8000-000000000002"
FIELDS = {
    "first_name": "Ondine",
    "last_name": "Vasseur-Quignard",
    "email": "ondine.vasseur@exemple.fr",
    "phone": "+33612345678",
    "birth_date": "1990-04-01",
    "postal_address": {"line1": "12 rue des Tanneurs", "city": "Besançon"},
    "tags": ["a", 1, None, True],
}


def flip_bit(blob: bytes, index: int) -> bytes:
    mutable = bytearray(blob)
    mutable[index] ^= 0x01
    return bytes(mutable)


def test_fields_round_trip_through_encryption() -> None:
    dek = generate_key()
    blob = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    assert decrypt_fields(dek, blob, associated_data=RECORD) == FIELDS


def test_a_single_value_round_trips_through_encryption() -> None:
    dek = generate_key()
    blob = encrypt_value(dek, b"ondine.vasseur@exemple.fr", associated_data=RECORD)
    assert decrypt_value(dek, blob, associated_data=RECORD) == b"ondine.vasseur@exemple.fr"


def test_dates_and_uuids_are_stored_as_iso_strings() -> None:
    dek = generate_key()
    moment = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    identifier = UUID("3f6c1b2e-0000-4000-8000-000000000001")
    blob = encrypt_fields(dek, {"at": moment, "id": identifier}, associated_data=RECORD)
    assert decrypt_fields(dek, blob, associated_data=RECORD) == {
        "at": "2025-03-01T12:30:00+00:00",
        "id": str(identifier),
    }


def test_the_json_fallback_stores_the_same_fields_as_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    dek = generate_key()
    moment = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    fields = {**FIELDS, "at": moment}
    with_orjson = decrypt_fields(
        dek, encrypt_fields(dek, fields, associated_data=RECORD), associated_data=RECORD
    )
    monkeypatch.setattr(envelope_crypto, "orjson", None)
    blob = encrypt_fields(dek, fields, associated_data=RECORD)
    assert decrypt_fields(dek, blob, associated_data=RECORD) == with_orjson


def test_no_plaintext_field_value_appears_in_the_ciphertext() -> None:
    dek = generate_key()
    blob = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    for name, value in FIELDS.items():
        if isinstance(value, str):
            assert value.encode() not in blob
        assert name.encode() not in blob
    assert b"Tanneurs" not in blob and "Besançon".encode() not in blob


def test_two_encryptions_of_the_same_fields_differ() -> None:
    dek = generate_key()
    first = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    second = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    assert first != second


@pytest.mark.parametrize("index", [0, 1, 13, -1, -17])
def test_a_flipped_bit_anywhere_in_the_ciphertext_is_detected(index: int) -> None:
    dek = generate_key()
    blob = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    with pytest.raises(DecryptionError):
        decrypt_fields(dek, flip_bit(blob, index), associated_data=RECORD)


def test_a_ciphertext_moved_to_another_record_fails_to_decrypt() -> None:
    dek = generate_key()
    blob = encrypt_fields(dek, FIELDS, associated_data=RECORD)
    with pytest.raises(DecryptionError):
        decrypt_fields(dek, blob, associated_data=OTHER_RECORD)


def test_a_ciphertext_fails_to_decrypt_under_another_data_key() -> None:
    blob = encrypt_fields(generate_key(), FIELDS, associated_data=RECORD)
    with pytest.raises(DecryptionError):
        decrypt_fields(generate_key(), blob, associated_data=RECORD)


def test_a_value_blob_cannot_be_decrypted_as_fields() -> None:
    dek = generate_key()
    blob = encrypt_value(dek, b'{"email": "x@example.com"}', associated_data=RECORD)
    with pytest.raises(DecryptionError):
        decrypt_fields(dek, blob, associated_data=RECORD)


def test_a_truncated_ciphertext_is_refused() -> None:
    dek = generate_key()
    with pytest.raises(DecryptionError):
        decrypt_value(dek, b"\x21short", associated_data=RECORD)


def test_empty_associated_data_is_refused() -> None:
    with pytest.raises(InvalidAssociatedDataError):
        encrypt_fields(generate_key(), FIELDS, associated_data=b"")


@pytest.mark.parametrize("dek", [b"", bytes(16), bytes(33), "k" * 32])
def test_a_data_key_that_is_not_32_bytes_is_refused(dek: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        encrypt_fields(dek, FIELDS, associated_data=RECORD)


def test_fields_with_non_string_names_are_refused() -> None:
    with pytest.raises(FieldEncodingError):
        # A deliberately ill-typed call: the runtime check is what is under test.
        encrypt_fields(generate_key(), {1: "one"}, associated_data=RECORD)  # type: ignore[dict-item]


def test_fields_with_values_json_cannot_hold_are_refused_without_echoing_them() -> None:
    with pytest.raises(FieldEncodingError) as caught:
        encrypt_fields(generate_key(), {"secret": {"ondine"}}, associated_data=RECORD)
    assert "ondine" not in str(caught.value)


def test_a_new_data_key_unwraps_to_its_plaintext() -> None:
    ring = KeyRing({"k1": OLD_KEK}, active="k1")
    data_key = ring.new_data_key()
    assert len(data_key.plaintext) == 32
    assert ring.unwrap(data_key.wrapped) == data_key.plaintext
    assert data_key.plaintext not in data_key.wrapped


def test_the_wrapped_key_names_its_kek_and_version() -> None:
    ring = KeyRing({"kek-2025": OLD_KEK}, active="kek-2025")
    wrapped = ring.new_data_key().wrapped
    assert wrapped[0] == 1
    assert KeyRing.kek_id_of(wrapped) == "kek-2025"
    assert len(wrapped) == 1 + 1 + len("kek-2025") + 12 + 32 + 16


def test_the_data_key_plaintext_is_not_in_its_repr() -> None:
    data_key = KeyRing({"k1": OLD_KEK}, active="k1").new_data_key()
    assert data_key.plaintext.hex() not in repr(data_key) and repr(data_key.plaintext) not in repr(data_key)
    assert isinstance(data_key, DataKey)


def test_a_wrapped_key_with_an_unknown_kek_id_raises_key_unavailable() -> None:
    wrapped = KeyRing({"old": OLD_KEK}, active="old").new_data_key().wrapped
    with pytest.raises(KeyUnavailableError) as caught:
        KeyRing({"new": NEW_KEK}, active="new").unwrap(wrapped)
    assert caught.value.kek_id == "old"


def test_a_tampered_wrapped_key_raises_decryption_error() -> None:
    ring = KeyRing({"k1": OLD_KEK}, active="k1")
    wrapped = ring.new_data_key().wrapped
    with pytest.raises(DecryptionError):
        ring.unwrap(flip_bit(wrapped, len(wrapped) - 20))


def test_a_wrapped_key_relabelled_with_another_kek_id_does_not_unwrap() -> None:
    # Both KEK ids have the same length, so the relabelled blob is well formed.
    ring = KeyRing({"k1": OLD_KEK, "k2": NEW_KEK}, active="k1")
    wrapped = ring.new_data_key().wrapped
    relabelled = wrapped.replace(b"k1", b"k2", 1)
    with pytest.raises(DecryptionError):
        ring.unwrap(relabelled)


@pytest.mark.parametrize("wrapped", [b"", b"\x01", b"\x02\x02k1" + bytes(60), b"\x01\x02k1" + bytes(10)])
def test_a_malformed_wrapped_key_raises_decryption_error(wrapped: bytes) -> None:
    with pytest.raises(DecryptionError):
        KeyRing({"k1": OLD_KEK}, active="k1").unwrap(wrapped)


def test_keys_wrapped_under_an_old_kek_still_unwrap_after_rotation() -> None:
    before = KeyRing({"old": OLD_KEK}, active="old")
    data_key = before.new_data_key()
    during = KeyRing({"old": OLD_KEK, "new": NEW_KEK}, active="new")
    assert during.unwrap(data_key.wrapped) == data_key.plaintext
    assert KeyRing.kek_id_of(during.new_data_key().wrapped) == "new"


def test_rewrap_moves_a_data_key_to_the_active_kek_and_survives_removal_of_the_old_one() -> None:
    old_ring = KeyRing({"old": OLD_KEK}, active="old")
    data_key = old_ring.new_data_key()
    blob = encrypt_fields(data_key.plaintext, FIELDS, associated_data=RECORD)

    rotating = KeyRing({"old": OLD_KEK, "new": NEW_KEK}, active="new")
    rewrapped = rotating.rewrap(data_key.wrapped)
    assert KeyRing.kek_id_of(rewrapped) == "new"

    after = KeyRing({"new": NEW_KEK}, active="new")
    dek = after.unwrap(rewrapped)
    assert dek == data_key.plaintext
    assert decrypt_fields(dek, blob, associated_data=RECORD) == FIELDS
    with pytest.raises(KeyUnavailableError):
        after.unwrap(data_key.wrapped)


def test_deleting_the_wrapped_data_key_leaves_the_ciphertext_unreadable() -> None:
    ring = KeyRing({"k1": OLD_KEK}, active="k1")
    data_key = ring.new_data_key()
    blob = encrypt_fields(data_key.plaintext, FIELDS, associated_data=RECORD)
    # Crypto-shredding: with the wrapped key deleted, only a fresh (wrong) key can be tried.
    stored_keys = {RECORD: data_key.wrapped}
    del stored_keys[RECORD]
    with pytest.raises(DecryptionError):
        decrypt_fields(ring.new_data_key().plaintext, blob, associated_data=RECORD)


def test_a_key_ring_whose_active_kek_is_missing_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        KeyRing({"k1": OLD_KEK}, active="k2")


def test_an_empty_key_ring_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        KeyRing({}, active="k1")


@pytest.mark.parametrize("kek", [bytes(16), bytes(31), bytes(64), "x" * 32])
def test_a_kek_that_is_not_32_bytes_is_refused(kek: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        KeyRing({"k1": kek}, active="k1")


@pytest.mark.parametrize("kek_id", ["", "clé", "k\n1", "k" * 256])
def test_a_kek_id_that_is_not_short_printable_ascii_is_refused(kek_id: str) -> None:
    with pytest.raises(InvalidKeyError):
        KeyRing({kek_id: OLD_KEK}, active=kek_id)


def test_the_key_ring_repr_shows_ids_but_no_key_material() -> None:
    text = repr(KeyRing({"k1": OLD_KEK, "k2": NEW_KEK}, active="k2"))
    assert "k1" in text and "k2" in text
    assert OLD_KEK.hex() not in text and repr(OLD_KEK) not in text


def test_a_batch_under_new_keys_is_what_a_new_data_key_and_encrypt_fields_give_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ring = KeyRing({"old": generate_key(), "new": generate_key()}, "new")
    records: list[tuple[dict[str, object], bytes]] = [
        ({"email": f"p{n}@example.org", "n": n, "at": datetime(2026, 1, n + 1, tzinfo=UTC)}, f"c{n}".encode())
        for n in range(5)
    ]
    stream = os.urandom(4096)

    def replay() -> None:
        at = [0]

        def urandom(size: int) -> bytes:
            at[0] += size
            return stream[at[0] - size : at[0]]

        monkeypatch.setattr(envelope_crypto.os, "urandom", urandom)

    replay()
    batch = ring.encrypt_fields_under_new_keys(records)
    replay()
    one_by_one = []
    for fields, associated_data in records:
        key = ring.new_data_key()
        ciphertext = encrypt_fields(key.plaintext, fields, associated_data=associated_data)
        one_by_one.append((key.wrapped, ciphertext))
    assert batch == one_by_one
    monkeypatch.undo()
    fresh = ring.encrypt_fields_under_new_keys([records[0], records[0]])
    assert fresh[0] != fresh[1]
    for (fields, associated_data), (wrapped, ciphertext) in zip([records[0]] * 2, fresh, strict=True):
        assert ring.kek_id_of(wrapped) == "new"
        decrypted = decrypt_fields(ring.unwrap(wrapped), ciphertext, associated_data=associated_data)
        assert decrypted == {**fields, "at": datetime(2026, 1, 1, tzinfo=UTC).isoformat()}
    with pytest.raises(FieldEncodingError):
        ring.encrypt_fields_under_new_keys([({"x": object()}, b"c")])
