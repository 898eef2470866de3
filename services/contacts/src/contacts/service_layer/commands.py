"""What callers ask of contacts: imperative, frozen, carrying the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from shared.commands import UNSET, Changes, Unset

from contacts.domain.model import (
    BlindIndexes,
    CallOutcome,
    InteractionKind,
    Kind,
    Origin,
    PersonalData,
    PhoneCollection,
    Purchase,
    Relationship,
)
from contacts.domain.requests import ContestOutcome, RequestKind


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
class ContactChanges(Changes):
    """The fields a PATCH (or a rectification) changes; a field left UNSET stays as it is."""

    kind: Kind | None | Unset = UNSET
    relationship: Relationship | None | Unset = UNSET
    given_name: str | None | Unset = UNSET
    family_name: str | None | Unset = UNSET
    email: str | None | Unset = UNSET
    phone: str | None | Unset = UNSET
    postal_address: dict[str, str] | None | Unset = UNSET
    birth_date: date | None | Unset = UNSET
    external_ref: str | None | Unset = UNSET
    last_contact_from_person_at: datetime | None | Unset = UNSET
    relationship_end_at: datetime | None | Unset = UNSET
    #: Free-form attributes, stored and returned but never published.
    attributes: dict[str, Any] | None | Unset = UNSET
    #: An IANA zone; None goes back to the zone derived from the phone or address.
    timezone: str | None | Unset = UNSET
    profession: str | None | Unset = UNSET
    phone_collection: PhoneCollection | None | Unset = UNSET
    stop_pub: bool | Unset = UNSET


@dataclass(frozen=True)
class UpdateContact:
    """Change the named fields of a contact (PATCH), optionally only at an expected version."""

    actor: str
    contact_id: str
    changes: ContactChanges
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


class PreparedContact(NamedTuple):
    """An import row made ready in a worker: the contact's id and blind indexes, its stored row and its
    outbox row (values in column order, or on PostgreSQL those values already as binary COPY rows). A
    tuple, because hundreds of thousands cross a process pipe."""

    row: int
    contact_id: str
    indexes: BlindIndexes
    contact_row: tuple[Any, ...] | bytes
    outbox_row: tuple[Any, ...] | bytes


@dataclass(frozen=True)
class ImportPrepared:
    """Store an import batch whose rows were prepared ahead (validated, sealed, events built)."""

    actor: str
    rows: list[PreparedContact]


@dataclass(frozen=True)
class ImportContacts:
    """Create many contacts at once; each row carries its number in the uploaded file."""

    actor: str
    rows: list[tuple[int, CreateContact]]


# Data-subject requests.


@dataclass(frozen=True)
class ReceiveRequest:
    """Record a request about the person named by contact id, e-mail or phone."""

    actor: str
    kind: RequestKind
    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    #: A restriction's `grounds`; a contestation's `decision` and `point_of_view` (see the request).
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class CompleteRequest:
    """Close a request as honoured."""

    actor: str
    request_id: str
    note: str | None = None


@dataclass(frozen=True)
class FailRequest:
    """Close a request as not honoured, with a reason free of personal data."""

    actor: str
    request_id: str
    reason: str


@dataclass(frozen=True)
class ExtendRequest:
    """Push a request's due date back (Art. 12(3)), with a reason."""

    actor: str
    request_id: str
    months: int
    reason: str


@dataclass(frozen=True)
class ConfirmErasure:
    """Record that a service confirmed a contact's erasure, for every open erasure request about it."""

    actor: str
    contact_id: str
    service: str


@dataclass(frozen=True)
class RecordForwardAttempt:
    """Record one attempt to hand an objection forward to consent, accepted or not."""

    actor: str
    forward_id: str
    accepted: bool


@dataclass(frozen=True)
class ReportOverdue:
    """Record RequestOverdue for each open request past its due date."""

    actor: str
    now: datetime
    limit: int = 500


@dataclass(frozen=True)
class RestrictProcessing:
    """Restrict the processing of the request's contact on the request's grounds (Art. 18(1))."""

    actor: str
    request_id: str


@dataclass(frozen=True)
class LiftRestriction:
    """Lift the restriction a request obtained, the person informed beforehand (Art. 18(3))."""

    actor: str
    request_id: str
    reason: str
    informed_at: datetime | None
    informed_by: str | None


@dataclass(frozen=True)
class StartHumanReview:
    """A human (the actor) takes up a contested automated decision (Art. 22(3))."""

    actor: str
    request_id: str


@dataclass(frozen=True)
class DecideContestation:
    """The human reviewer (the actor) decides a contestation with reasons (Art. 22(3))."""

    actor: str
    request_id: str
    outcome: ContestOutcome
    reasons: str


@dataclass(frozen=True)
class AttachContestedReceipt:
    """Keep the gate's receipt of a contested check (or that there is none) with the contestation."""

    actor: str
    request_id: str
    receipt: dict[str, Any] | None
