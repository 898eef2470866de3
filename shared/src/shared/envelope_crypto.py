"""Envelope encryption of personal data at rest, with crypto-shredding.

Each record (a contact, an audit-log subject) gets its own random 32-byte data key (DEK). The DEK
encrypts the record's personal fields with AES-256-GCM, and is stored only wrapped (encrypted) under
a key-encryption key (KEK) from settings. KEKs carry a short id so they can be rotated: old ids stay
in the key ring for unwrapping until every wrapped DEK has been rewrapped under the active one.

Crypto-shredding: deleting a record's wrapped DEK makes every ciphertext made with that DEK
unreadable for good, in the database, in backups and in the audit log, without touching those
copies (SPEC §6, §7; GDPR Art. 17). The caller owns the wrapped DEK and performs that deletion; this
module keeps no copy of any DEK.

Nonces are 96 random bits per encryption, which is safe for well under 2^32 encryptions per key: a
DEK encrypts one record's few versions, and a KEK should be rotated long before it wraps 2^32 DEKs.
"""

from __future__ import annotations

import functools
import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency of shared; json is the fallback.
    orjson = None  # type: ignore[assignment]  # the optional-import idiom: mypy types the name as the module

__all__ = [
    "KEY_BYTES",
    "DataKey",
    "DecryptionError",
    "EnvelopeCryptoError",
    "FieldEncodingError",
    "InvalidAssociatedDataError",
    "InvalidKeyError",
    "KeyRing",
    "KeyUnavailableError",
    "decrypt_fields",
    "decrypt_value",
    "encrypt_fields",
    "encrypt_value",
    "generate_key",
]

KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_MAX_KEK_ID_BYTES: Final = 255

# Format bytes open every blob so that the layout can change later without ambiguity. They are also
# bound into the associated data, so a blob of one kind can never be decrypted as another kind.
_WRAP_V1: Final = b"\x01"
_FIELDS_V1: Final = b"\x11"
_VALUE_V1: Final = b"\x21"
_WRAP_CONTEXT: Final = b"vigie:dek-wrap:"


class EnvelopeCryptoError(Exception):
    """Base class of the errors of envelope encryption."""


class InvalidKeyError(EnvelopeCryptoError, ValueError):
    """Raised when a KEK, a DEK or a key ring is malformed."""


class KeyUnavailableError(EnvelopeCryptoError, LookupError):
    """Raised when a wrapped data key names a KEK id that the key ring does not hold."""

    def __init__(self, kek_id: str) -> None:
        super().__init__(f"no key-encryption key with id {kek_id!r} in the key ring")
        self.kek_id = kek_id


class InvalidAssociatedDataError(EnvelopeCryptoError, ValueError):
    """Raised when associated data is missing, empty or not bytes."""


class DecryptionError(EnvelopeCryptoError):
    """Raised when a blob is malformed, was tampered with, or belongs to another key or record."""


class FieldEncodingError(EnvelopeCryptoError, TypeError):
    """Raised when fields cannot be encoded as a JSON object with string keys."""


def generate_key() -> bytes:
    """Returns 32 random bytes usable as a KEK or a DEK."""
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class DataKey:
    """A fresh data key: the plaintext to encrypt with now, and the wrapped form to store."""

    # Kept out of the repr so that logging a DataKey never prints key material.
    plaintext: bytes = field(repr=False)
    wrapped: bytes


class KeyRing:
    """Wraps and unwraps data keys under named key-encryption keys, one of which is active.

    Wrapped layout (version 1): version byte, kek-id length byte, kek id (ASCII), 12-byte nonce,
    AES-GCM ciphertext and tag of the DEK. The associated data binds the version and the kek id.
    """

    __slots__ = ("_aeads", "_active")

    def __init__(self, keks: Mapping[str, bytes], active: str) -> None:
        if not keks:
            raise InvalidKeyError("the key ring needs at least one key-encryption key")
        aeads: dict[str, AESGCM] = {}
        for kek_id, kek in keks.items():
            _check_kek_id(kek_id)
            _check_key(kek, what=f"key-encryption key {kek_id!r}")
            aeads[kek_id] = AESGCM(bytes(kek))
        if active not in aeads:
            raise InvalidKeyError(f"the active key-encryption key {active!r} is not in the key ring")
        self._aeads = aeads
        self._active = active

    def __repr__(self) -> str:
        return f"KeyRing(kek_ids={sorted(self._aeads)!r}, active={self._active!r})"

    @property
    def active_kek_id(self) -> str:
        """Returns the id of the KEK that wraps new data keys."""
        return self._active

    def new_data_key(self) -> DataKey:
        """Returns a new random data key and its form wrapped under the active KEK."""
        plaintext = generate_key()
        return DataKey(plaintext=plaintext, wrapped=self.wrap(plaintext))

    def wrap(self, dek: bytes) -> bytes:
        """Returns the data key wrapped under the active KEK."""
        _check_key(dek, what="data key")
        header = _wrap_header(self._active)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._aeads[self._active].encrypt(nonce, bytes(dek), _WRAP_CONTEXT + header)
        return header + nonce + ciphertext

    def encrypt_fields_under_new_keys(
        self, records: Sequence[tuple[Mapping[str, object], bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """Encrypts each record's fields (with its associated data) under a new data key of its own and
        returns each (wrapped key, ciphertext): what `new_data_key` and `encrypt_fields` give a record,
        byte for byte for the same random bytes, for a batch. The random bytes of every record (data
        key, wrapping nonce, sealing nonce, in the order the one-record path draws them) come from one
        call, and the data keys are used once and dropped (never cached)."""
        header = _wrap_header(self._active)
        kek, wrap_context = self._aeads[self._active], _WRAP_CONTEXT + header
        per_record = KEY_BYTES + 2 * _NONCE_BYTES
        randomness = os.urandom(per_record * len(records))
        out: list[tuple[bytes, bytes]] = []
        for start, (fields, associated_data) in zip(
            range(0, len(randomness), per_record), records, strict=True
        ):
            _check_associated_data(associated_data)
            plaintext = _encode_fields(fields)
            dek = randomness[start : start + KEY_BYTES]
            wrap_nonce = randomness[start + KEY_BYTES : start + KEY_BYTES + _NONCE_BYTES]
            nonce = randomness[start + KEY_BYTES + _NONCE_BYTES : start + per_record]
            out.append(
                (
                    header + wrap_nonce + kek.encrypt(wrap_nonce, dek, wrap_context),
                    _FIELDS_V1
                    + nonce
                    + AESGCM(dek).encrypt(nonce, plaintext, _FIELDS_V1 + bytes(associated_data)),
                )
            )
        return out

    def unwrap(self, wrapped: bytes) -> bytes:
        """Returns the plaintext data key of a wrapped data key."""
        kek_id, header, body = _parse_wrapped(wrapped)
        aead = self._aeads.get(kek_id)
        if aead is None:
            raise KeyUnavailableError(kek_id)
        nonce, ciphertext = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, ciphertext, _WRAP_CONTEXT + header)
        except InvalidTag as error:
            raise DecryptionError("the wrapped data key does not authenticate") from error

    def rewrap(self, wrapped: bytes) -> bytes:
        """Returns the same data key wrapped under the active KEK, for KEK rotation."""
        return self.wrap(self.unwrap(wrapped))

    @staticmethod
    def kek_id_of(wrapped: bytes) -> str:
        """Returns the id of the KEK that a wrapped data key names, without unwrapping it."""
        kek_id, _, _ = _parse_wrapped(wrapped)
        return kek_id


def encrypt_fields(dek: bytes, fields: Mapping[str, object], *, associated_data: bytes) -> bytes:
    """Returns the fields encrypted as one JSON object under the data key.

    `associated_data` must identify the record (its id, at least): a ciphertext copied onto another
    record then fails to decrypt. Dates and datetimes are stored as ISO 8601 strings, UUIDs as strings.
    """
    return _seal(dek, _FIELDS_V1, _encode_fields(fields), associated_data)


def decrypt_fields(dek: bytes, blob: bytes, *, associated_data: bytes) -> dict[str, Any]:
    """Returns the fields decrypted from a blob made by `encrypt_fields`."""
    plaintext = _open(dek, _FIELDS_V1, blob, associated_data)
    decoded = orjson.loads(plaintext) if orjson is not None else json.loads(plaintext)
    if not isinstance(decoded, dict):
        raise DecryptionError("the decrypted fields are not a JSON object")
    return decoded


def encrypt_value(dek: bytes, value: bytes, *, associated_data: bytes) -> bytes:
    """Returns one bytes value encrypted under the data key, bound to `associated_data`."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise FieldEncodingError("encrypt_value takes bytes; use encrypt_fields for structured values")
    return _seal(dek, _VALUE_V1, bytes(value), associated_data)


def decrypt_value(dek: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
    """Returns the bytes value decrypted from a blob made by `encrypt_value`."""
    return _open(dek, _VALUE_V1, blob, associated_data)


@functools.lru_cache(maxsize=4096)
def _aead(dek: bytes) -> AESGCM:
    # Because building the cipher object costs as much as sealing a short value; hot paths reuse keys.
    return AESGCM(dek)


def _seal(dek: bytes, version: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    _check_key(dek, what="data key")
    _check_associated_data(associated_data)
    nonce = os.urandom(_NONCE_BYTES)
    return version + nonce + _aead(bytes(dek)).encrypt(nonce, plaintext, version + bytes(associated_data))


def _open(dek: bytes, version: bytes, blob: bytes, associated_data: bytes) -> bytes:
    _check_key(dek, what="data key")
    _check_associated_data(associated_data)
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("the ciphertext must be bytes")
    blob = bytes(blob)
    if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionError("the ciphertext is too short")
    if blob[:1] != version:
        raise DecryptionError(f"unsupported ciphertext format byte 0x{blob[0]:02x}")
    nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return _aead(bytes(dek)).decrypt(nonce, ciphertext, version + bytes(associated_data))
    except InvalidTag as error:
        # Wrong key, wrong record and tampering are indistinguishable here, by design of AEAD.
        raise DecryptionError("the ciphertext does not authenticate for this key and record") from error


def _encode_fields(fields: Mapping[str, object]) -> bytes:
    if not isinstance(fields, Mapping):
        raise FieldEncodingError("fields must be a mapping")
    if not all(isinstance(key, str) for key in fields):
        raise FieldEncodingError("field names must be strings")
    try:
        if orjson is not None:
            return orjson.dumps(dict(fields))
        return json.dumps(
            dict(fields), default=_json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as error:
        # orjson.JSONEncodeError is a TypeError. The message names the type, never the value.
        raise FieldEncodingError(f"a field value cannot be encoded as JSON: {type(error).__name__}") from None


def _json_default(value: object) -> str:
    # Mirrors orjson's native handling, so the stored form does not depend on which encoder ran.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"type {type(value).__name__} is not JSON serialisable")


def _wrap_header(kek_id: str) -> bytes:
    encoded = kek_id.encode("ascii")
    return _WRAP_V1 + struct.pack("B", len(encoded)) + encoded


def _parse_wrapped(wrapped: bytes) -> tuple[str, bytes, bytes]:
    if not isinstance(wrapped, bytes | bytearray | memoryview):
        raise DecryptionError("the wrapped data key must be bytes")
    wrapped = bytes(wrapped)
    if len(wrapped) < 2:
        raise DecryptionError("the wrapped data key is too short")
    if wrapped[:1] != _WRAP_V1:
        raise DecryptionError(f"unsupported wrapped-key format byte 0x{wrapped[0]:02x}")
    id_length = wrapped[1]
    header_length = 2 + id_length
    if len(wrapped) != header_length + _NONCE_BYTES + KEY_BYTES + _TAG_BYTES:
        raise DecryptionError("the wrapped data key has the wrong length")
    try:
        kek_id = wrapped[2:header_length].decode("ascii")
    except UnicodeDecodeError as error:
        raise DecryptionError("the wrapped data key has a malformed kek id") from error
    return kek_id, wrapped[:header_length], wrapped[header_length:]


def _check_kek_id(kek_id: object) -> None:
    if not isinstance(kek_id, str) or not kek_id:
        raise InvalidKeyError("a kek id must be a non-empty string")
    if not kek_id.isascii() or not kek_id.isprintable():
        raise InvalidKeyError(f"kek id {kek_id!r} must be printable ASCII")
    if len(kek_id) > _MAX_KEK_ID_BYTES:
        raise InvalidKeyError(f"a kek id must be at most {_MAX_KEK_ID_BYTES} characters")


def _check_key(key: object, *, what: str) -> None:
    if not isinstance(key, bytes | bytearray):
        raise InvalidKeyError(f"the {what} must be bytes")
    if len(key) != KEY_BYTES:
        raise InvalidKeyError(f"the {what} must be {KEY_BYTES} bytes")


def _check_associated_data(associated_data: object) -> None:
    if not isinstance(associated_data, bytes | bytearray) or not associated_data:
        # Empty associated data would let a ciphertext move between records unnoticed.
        raise InvalidAssociatedDataError("associated_data must be non-empty bytes identifying the record")
