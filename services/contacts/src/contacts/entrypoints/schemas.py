"""HTTP schemas of contacts (request and response bodies only)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contacts.domain.model import InteractionKind, Kind, Relationship
from shared.blind_index import InvalidIdentifierError, normalise_email, normalise_phone


def _valid_phone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_phone(value)
    except InvalidIdentifierError as exc:
        raise ValueError("not a valid phone number") from exc


def _valid_email(value: str) -> str:
    # The blind index's own normalisation is the check: an address it accepts is one it can index,
    # and it is several times cheaper than `email-validator` on bulk imports.
    try:
        normalise_email(value)
    except InvalidIdentifierError as exc:
        raise ValueError("not a valid e-mail address") from exc
    return value.strip()


def _past_date(value: date | None) -> date | None:
    if value is not None and value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


def _past_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return value


Phone = Annotated[str, Field(max_length=40), AfterValidator(_valid_phone)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_valid_email)]
BirthDate = Annotated[date, AfterValidator(_past_date)]
PastDatetime = Annotated[AwareDatetime, AfterValidator(_past_datetime)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class PostalAddress(BaseModel):
    """A postal address."""

    model_config = ConfigDict(extra="forbid")
    line1: Annotated[str, Field(min_length=1, max_length=300)]
    line2: Annotated[str, Field(max_length=300)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    city: Annotated[str, Field(min_length=1, max_length=200)]
    country: Annotated[str, Field(min_length=2, max_length=2)] = "FR"


class ContactCreate(BaseModel):
    """A new contact."""

    model_config = ConfigDict(extra="forbid")
    kind: Kind
    relationship: Relationship = Relationship.PROSPECT
    given_name: Name | None = None
    family_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    postal_address: PostalAddress | None = None
    birth_date: BirthDate | None = None
    collected_from_person: bool
    source: Annotated[str, Field(min_length=1, max_length=200)]
    broker_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    obtained_at: PastDatetime
    last_contact_from_person_at: PastDatetime | None = None
    relationship_end_at: AwareDatetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _broker_named_when_not_from_person(self) -> ContactCreate:
        if not self.collected_from_person and not self.broker_name and self.source in ("broker", "partner"):
            raise ValueError("broker_name is required when the data comes from a broker or partner")
        return self


class ContactUpdate(BaseModel):
    """Fields to change on a contact (PATCH: absent fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")
    kind: Kind | None = None
    relationship: Relationship | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    postal_address: PostalAddress | None = None
    birth_date: BirthDate | None = None
    last_contact_from_person_at: PastDatetime | None = None
    relationship_end_at: AwareDatetime | None = None
    attributes: dict[str, Any] | None = Field(None, max_length=100)


class InteractionCreate(BaseModel):
    """An interaction of the person."""

    model_config = ConfigDict(extra="forbid")
    kind: InteractionKind
    channel: Annotated[str, Field(max_length=32)] | None = None
    occurred_at: PastDatetime


class InteractionRead(BaseModel):
    """The recorded interaction."""

    id: str
    contact_id: str
    kind: InteractionKind


class ContactRead(BaseModel):
    """A contact as stored, personal data decrypted for the authorised caller."""

    id: str
    kind: Kind
    relationship: Relationship
    status: str
    version: int
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    postal_address: dict[str, Any] | None
    birth_date: date | None
    collected_from_person: bool
    source: str
    broker_name: str | None
    obtained_at: datetime
    last_contact_from_person_at: datetime | None
    relationship_end_at: datetime | None
    attributes: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class ContactList(BaseModel):
    """A page of contacts."""

    items: list[ContactRead]
    next_cursor: str | None = None


class RowError(BaseModel):
    """The problems of one import row (fields named, values never echoed)."""

    row: int
    errors: list[dict[str, str]]


class KnownRow(BaseModel):
    """An import row recognised as a person already known (existing contact or an earlier row)."""

    row: int
    existing_contact_id: str
    matched_on: str


class ImportReport(BaseModel):
    """What a bulk import did."""

    rows: int = 0
    created: int = 0
    known: list[KnownRow] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)


class SweepReport(BaseModel):
    """What a retention sweep did."""

    examined: int
    flagged: int
    erased: int
