"""Protection of personal data at rest: per-contact data keys under a key-encryption key, blind indexes."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.blind_index import BlindIndexer
from shared.envelope_crypto import KeyRing, decrypt_fields, encrypt_fields

from contacts.domain.model import BlindIndexes, PersonalData

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


@dataclass(frozen=True)
class SealedPersonalData:
    """What the database stores of a person: ciphertext and the wrapped data key."""

    wrapped_key: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class OpenedPersonalData:
    """What a sealed record holds once decrypted: the identifiers and the free-form attributes."""

    personal: PersonalData
    attributes: dict[str, Any] = field(default_factory=dict)


#: The key under which the free-form attributes travel inside the sealed JSON object (beside the
#: PersonalData fields, which never take this name).
ATTRIBUTES_KEY = "attributes"


class PersonalDataVault:
    """Seals and opens personal data; the contact id is bound as associated data."""

    def __init__(
        self,
        *,
        key_ring: KeyRing,
        indexer: BlindIndexer,
        external_ref_key: bytes | None = None,
    ) -> None:
        self.key_ring = key_ring
        self.indexer = indexer
        # Because an external reference is no e-mail or phone, it is hashed under its own key (derived
        # from the blind-index key, see `from_keys`), so its indexes can never collide with theirs.
        self._external_ref_mac = (
            hmac.new(external_ref_key, digestmod=hashlib.sha256) if external_ref_key is not None else None
        )

    @classmethod
    def from_keys(
        cls, *, keks: dict[str, bytes], active_kek: str, blind_index_key: bytes
    ) -> PersonalDataVault:
        """Builds the vault from the key-encryption keys and the blind-index key (the external-reference
        key is derived from the latter)."""
        return cls(
            key_ring=KeyRing(keks, active_kek),
            indexer=BlindIndexer(blind_index_key),
            external_ref_key=hmac.digest(blind_index_key, b"vigie:contacts:external-ref", "sha256"),
        )

    def seal(
        self,
        contact_id: str,
        personal: PersonalData,
        *,
        attributes: dict[str, Any] | None = None,
        wrapped_key: bytes | None = None,
    ) -> SealedPersonalData:
        """Encrypts the identifiers and the free-form attributes under the contact's data key (a new
        one if it has none yet): the attributes may hold anything about the person, so they share the
        identifiers' protection and their crypto-shredding."""
        if wrapped_key is None:
            data_key = self.key_ring.new_data_key()
            dek, wrapped_key = data_key.plaintext, data_key.wrapped
        else:
            dek = self.key_ring.unwrap(wrapped_key)
        return SealedPersonalData(
            wrapped_key,
            encrypt_fields(
                dek,
                {**personal.as_dict(), ATTRIBUTES_KEY: attributes or {}},
                associated_data=contact_id.encode(),
            ),
        )

    def seal_new_many(
        self, records: Sequence[tuple[str, PersonalData, dict[str, Any] | None]]
    ) -> list[SealedPersonalData]:
        """Seals new records (contact id, identifiers, attributes), each under a fresh data key of its own:
        what `seal` gives each, for a batch (`KeyRing.encrypt_fields_under_new_keys`: the random bytes
        drawn in one call, the data keys never cached)."""
        sealed = self.key_ring.encrypt_fields_under_new_keys(
            [
                ({**personal.as_dict(), ATTRIBUTES_KEY: attributes or {}}, contact_id.encode())
                for contact_id, personal, attributes in records
            ]
        )
        return [SealedPersonalData(wrapped_key, ciphertext) for wrapped_key, ciphertext in sealed]

    def open(self, contact_id: str, sealed: SealedPersonalData) -> OpenedPersonalData:
        """Decrypts the personal data and the attributes of a contact."""
        dek = self.key_ring.unwrap(sealed.wrapped_key)
        values = decrypt_fields(dek, sealed.ciphertext, associated_data=contact_id.encode())
        attributes = values.pop(ATTRIBUTES_KEY, None) or {}
        return OpenedPersonalData(PersonalData.from_dict(values), attributes)

    def indexes_for(
        self, personal: PersonalData, *, source: str = "", email_normalised: str | None = None
    ) -> BlindIndexes:
        """Returns the blind indexes of the person's e-mail and phone, and of the external reference
        within its source; `email_normalised` is the e-mail's normalised form when the caller has it
        already (the import's validation), which spares normalising it a second time."""
        email: str | None = None
        if personal.email and email_normalised is not None:
            email = self.indexer.of_normalised("email", email_normalised)
        elif personal.email:
            email = self.indexer.email(personal.email)
        return BlindIndexes(
            email=email,
            phone=self._phone_index(personal.phone) if personal.phone else None,
            external_ref=self.external_ref_index(source, personal.external_ref)
            if personal.external_ref
            else None,
        )

    def external_ref_index(self, source: str, external_ref: str) -> str:
        """Returns the blind index of an external reference: unique per source, exact match."""
        if self._external_ref_mac is None:
            raise RuntimeError("this vault was built without an external-reference key (see from_keys)")
        mac = self._external_ref_mac.copy()
        mac.update(source.encode() + b"\x1f" + external_ref.encode())
        return mac.hexdigest()

    def _phone_index(self, phone: str) -> str:
        # Because the API already turned every phone into E.164 and parsing it again with
        # `phonenumbers` was the largest cost of a bulk import; other forms take the full path.
        if _E164.match(phone):
            return self.indexer.of_normalised("phone", phone)
        return self.indexer.phone(phone)
