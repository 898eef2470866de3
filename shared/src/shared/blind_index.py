"""Normalisation of e-mail addresses and phone numbers, and keyed blind indexes over them.

A blind index is an HMAC-SHA-256 of a normalised identifier under a secret key from settings. It lets
contacts find duplicates, consent keep objections that outlive an erasure (UNI-02), and campaign-gate
match suppression lists (RET-05: keep only hashed e-mail or phone), without storing or exchanging the
identifier itself (SPEC §2). Every service must use the same key and this module, or indexes will not
match across services.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Final, Literal

import phonenumbers

__all__ = [
    "MIN_KEY_BYTES",
    "BlindIndexKeyError",
    "BlindIndexer",
    "IdentifierKind",
    "InvalidIdentifierError",
    "normalise_email",
    "normalise_phone",
]

IdentifierKind = Literal["email", "phone"]

MIN_KEY_BYTES: Final = 32

# RFC 5321 limits; anything longer cannot be delivered, so it is not a usable address.
_MAX_EMAIL_LENGTH: Final = 254
_MAX_LOCAL_PART_LENGTH: Final = 64
# A domain: at least two dot-separated labels of letters and digits (any script), inner hyphens
# allowed, at most 63 characters each.
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
# `\s` in a str pattern matches exactly the characters `str.isspace` accepts (every code point checked
# in the tests), in one pass in C instead of a method call per character.
_WHITESPACE = re.compile(r"\s")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

# Because one key serves several identifier kinds, each message starts with its kind, so that an
# e-mail and a phone number can never produce the same index.
_DOMAIN_PREFIX: Final[dict[str, bytes]] = {"email": b"email:", "phone": b"phone:"}


class InvalidIdentifierError(ValueError):
    """Raised when an e-mail address or phone number cannot be normalised."""

    def __init__(self, field: str, reason: str) -> None:
        # The rejected value is left out of the message because messages end up in logs and
        # problem documents, and the value is personal data.
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class BlindIndexKeyError(ValueError):
    """Raised when a blind-index key is missing, of the wrong type or too short."""


def normalise_email(value: str, *, field: str = "email") -> str:
    """Returns the e-mail address stripped, NFC-normalised and lower-cased, or raises if it is invalid.

    The whole address is lower-cased, local part included: RFC 5321 allows case-sensitive local
    parts, but no mainstream provider uses them, and a duplicate or an ignored objection costs
    more than a merged pair of addresses.
    """
    if not isinstance(value, str):
        raise InvalidIdentifierError(field, "must be a string")
    address = unicodedata.normalize("NFC", value.strip()).lower()
    if not address:
        raise InvalidIdentifierError(field, "is empty")
    if len(address) > _MAX_EMAIL_LENGTH:
        raise InvalidIdentifierError(field, f"is longer than {_MAX_EMAIL_LENGTH} characters")
    if _WHITESPACE.search(address):
        raise InvalidIdentifierError(field, "contains whitespace")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidIdentifierError(field, "is not of the form local@domain")
    if "@" in local:
        raise InvalidIdentifierError(field, "contains more than one @")
    if len(local) > _MAX_LOCAL_PART_LENGTH:
        raise InvalidIdentifierError(field, f"has a local part longer than {_MAX_LOCAL_PART_LENGTH}")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidIdentifierError(field, "has a misplaced dot in the local part")
    # A domain without a dot (such as "localhost") is valid in RFC terms but never a marketing target.
    if not _DOMAIN.fullmatch(domain):
        raise InvalidIdentifierError(field, "has an invalid domain")
    return address


def normalise_phone(value: str, *, default_region: str | None = "FR", field: str = "phone") -> str:
    """Returns the phone number in E.164 form, or raises if it is not a valid number.

    Numbers without an international prefix are read as numbers of `default_region`, so
    "06 12 34 56 78" and "+33 6 12 34 56 78" give the same result with the default "FR".
    """
    if not isinstance(value, str):
        raise InvalidIdentifierError(field, "must be a string")
    if not value.strip():
        raise InvalidIdentifierError(field, "is empty")
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentifierError(field, "is not a phone number") from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifierError(field, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class BlindIndexer:
    """Computes keyed blind indexes (lower-case hex HMAC-SHA-256) of e-mail addresses and phone numbers.

    The same identifier written differently gives the same index; a different key gives unrelated
    indexes. Instances are safe to share between threads and cheap to call in bulk imports.
    """

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise BlindIndexKeyError("the blind-index key must be bytes")
        if len(key) < MIN_KEY_BYTES:
            raise BlindIndexKeyError(f"the blind-index key must be at least {MIN_KEY_BYTES} bytes")
        # Because keying HMAC hashes the key into two pads, doing it once and copying the keyed state
        # per value roughly halves the cost of each index in bulk imports.
        self._base = hmac.new(bytes(key), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "BlindIndexer(key=<redacted>)"

    def email(self, value: str) -> str:
        """Returns the blind index of an e-mail address given in any formatting."""
        return self._digest("email", normalise_email(value))

    def phone(self, value: str, *, default_region: str | None = "FR") -> str:
        """Returns the blind index of a phone number given in any formatting."""
        return self._digest("phone", normalise_phone(value, default_region=default_region))

    def of_normalised(self, kind: IdentifierKind, normalised: str) -> str:
        """Returns the blind index of an identifier that is already in normalised form.

        Raises `InvalidIdentifierError` when the value is visibly not normalised, because an
        unnormalised value would silently produce an index that matches nothing.
        """
        if kind == "email":
            if not isinstance(normalised, str) or not normalised or normalised != normalised.strip().lower():
                raise InvalidIdentifierError("email", "is not in normalised form")
        elif kind == "phone":
            if not isinstance(normalised, str) or not _E164.match(normalised):
                raise InvalidIdentifierError("phone", "is not in E.164 form")
        else:
            raise InvalidIdentifierError("kind", f"must be one of {sorted(_DOMAIN_PREFIX)}")
        return self._digest(kind, normalised)

    def _digest(self, kind: str, normalised: str) -> str:
        mac = self._base.copy()
        mac.update(_DOMAIN_PREFIX[kind] + normalised.encode("utf-8"))
        return mac.hexdigest()
