"""What callers ask of contacts: imperative, frozen, carrying the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contacts.domain.model import (CallOutcome, InteractionKind, Kind, Origin, PersonalData, PhoneCollection, Purchase,
                                   Relationship)


@dataclass(frozen=True)
class CreateContact:
    """Create a contact."""

    actor: str
    kind: Kind
    relationship: Relationship
    personal: PersonalData
    origin: Origin
    obtained_at: datetime
    last_contact_from_person_at: datetime | None = None
    relationship_end_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    #: An IANA zone; None derives it from the phone, else the postal address, else Paris.
    timezone: str | None = None
    profession: str | None = None
    phone_collection: PhoneCollection | None = None
    stop_pub: bool = False
    purchases: list[Purchase] = field(default_factory=list)


@dataclass(frozen=True)
class UpdateContact:
    """Change the named fields of a contact (PATCH), optionally only at an expected version."""

    actor: str
    contact_id: str
    changes: dict[str, Any]
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordInteraction:
    """Record an interaction of the person."""

    actor: str
    contact_id: str
    kind: InteractionKind
    occurred_at: datetime
    channel: str | None = None
    seller: str | None = None
    product_categories: list[str] | None = None
    outcome: CallOutcome | None = None


@dataclass(frozen=True)
class SweepRetention:
    """Flag contacts past retention and erase those past the grace period."""

    actor: str
    now: datetime
    limit: int = 500
    after: str | None = None


@dataclass(frozen=True)
class EraseContact:
    """Destroy a contact's personal data and data key."""

    actor: str
    contact_id: str
    reason: str


@dataclass(frozen=True)
class ImportContacts:
    """Create many contacts at once; each row carries its number in the uploaded file."""

    actor: str
    rows: list[tuple[int, CreateContact]]
