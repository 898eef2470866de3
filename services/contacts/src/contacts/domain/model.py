"""The contact aggregate: a client or prospect, its personal data and the facts the law turns on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from contacts.domain import events, retention
from contacts.domain.errors import ContactErasedError, VersionConflictError


class Kind(StrEnum):
    """Who the contact is, which decides the electronic-prospection regime (ELEC-*)."""

    CONSUMER = "consumer"
    PROFESSIONAL_NAMED = "professional_named"
    LEGAL_PERSON_GENERIC = "legal_person_generic"


class Relationship(StrEnum):
    """Where the contact stands commercially (soft opt-in and retention turn on it)."""

    PROSPECT = "prospect"
    ACCOUNT_ONLY = "account_only"
    CUSTOMER_SALE_DONE = "customer_sale_done"
    CONTRACT_IN_PROGRESS = "contract_in_progress"


class Status(StrEnum):
    """Lifecycle of the record."""

    ACTIVE = "active"
    RETENTION_FLAGGED = "retention_flagged"
    ERASED = "erased"


class InteractionKind(StrEnum):
    """What the person did; an e-mail open is not a contact from the person (RET-01)."""

    SALE = "sale"
    PURCHASE = "purchase"
    REPLY = "reply"
    CLICK = "click"
    REQUEST = "request"
    OPEN = "open"


#: The age of majority, under which a contact is a minor for the gate (UNI-09).
MAJORITY_YEARS = 18


@dataclass(frozen=True)
class PersonalData:
    """The direct identifiers of a person: encrypted at rest, never in events or logs."""

    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    postal_address: dict[str, str] | None = None
    birth_date: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """Returns the fields as plain values (birth date as ISO text)."""
        return {f.name: (getattr(self, f.name).isoformat() if isinstance(getattr(self, f.name), date)
                         else getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PersonalData:
        """Rebuilds the personal data from `as_dict` output."""
        birth = values.get("birth_date")
        return cls(**{**values, "birth_date": date.fromisoformat(birth) if birth else None})


@dataclass(frozen=True)
class BlindIndexes:
    """Keyed hashes of the normalised e-mail and phone, for duplicates and suppression matching."""

    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Origin:
    """How the data was obtained: from the person, or from a source such as a broker or partner."""

    collected_from_person: bool
    source: str
    broker_name: str | None = None


@dataclass
class Contact:
    """A client or prospect. Methods check invariants, change state and append events explicitly."""

    id: str
    kind: Kind
    relationship: Relationship
    personal: PersonalData
    indexes: BlindIndexes
    origin: Origin
    obtained_at: datetime
    last_contact_from_person_at: datetime | None = None
    relationship_end_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.ACTIVE
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def create(cls, *, kind: Kind, relationship: Relationship, personal: PersonalData, indexes: BlindIndexes,
               origin: Origin, obtained_at: datetime, at: datetime, contact_id: str | None = None,
               last_contact_from_person_at: datetime | None = None, relationship_end_at: datetime | None = None,
               attributes: dict[str, Any] | None = None) -> Contact:
        """Creates a contact and records ContactCreated."""
        contact = cls(id=contact_id or str(uuid.uuid4()), kind=kind, relationship=relationship, personal=personal,
                      indexes=indexes, origin=origin, obtained_at=obtained_at,
                      last_contact_from_person_at=last_contact_from_person_at,
                      relationship_end_at=relationship_end_at, attributes=dict(attributes or {}),
                      created_at=at, updated_at=at)
        contact.events.append(events.ContactCreated(contact_id=contact.id, facts=contact.gate_facts(at=at), at=at))
        return contact

    def check_not_erased(self) -> None:
        """Raises ContactErasedError if the personal data was destroyed."""
        if self.status is Status.ERASED:
            raise ContactErasedError(self.id)

    def check_version(self, expected: int | None) -> None:
        """Raises VersionConflictError if the caller's version is not the current one."""
        if expected is not None and expected != self.version:
            raise VersionConflictError(self.id, expected, self.version)

    def update(self, *, changes: dict[str, Any], at: datetime, expected_version: int | None = None) -> None:
        """Applies PATCH semantics to the named fields and records ContactUpdated with their names."""
        self.check_not_erased()
        self.check_version(expected_version)
        personal_names = {f.name for f in fields(PersonalData)}
        personal_changes = {k: v for k, v in changes.items() if k in personal_names}
        other = {k: v for k, v in changes.items() if k not in personal_names}
        changed: list[str] = []
        if personal_changes:
            new_personal = replace(self.personal, **personal_changes)
            changed += [k for k in personal_changes if getattr(self.personal, k) != personal_changes[k]]
            self.personal = new_personal
        for name, value in other.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed.append(name)
        if not changed:
            return
        self._touch(at)
        self.events.append(events.ContactUpdated(contact_id=self.id, changed=tuple(sorted(changed)),
                                                 facts=self.gate_facts(at=at), at=at))

    def record_interaction(self, *, kind: InteractionKind, channel: str | None, occurred_at: datetime,
                           at: datetime) -> str:
        """Records an interaction; a sale makes a prospect a customer; all but an open move the clock."""
        self.check_not_erased()
        self.last_contact_from_person_at = retention.last_contact_after_interaction(
            self.last_contact_from_person_at, kind=kind.value, occurred_at=occurred_at)
        if kind in (InteractionKind.SALE, InteractionKind.PURCHASE) and self.relationship in (
                Relationship.PROSPECT, Relationship.ACCOUNT_ONLY):
            self.relationship = Relationship.CUSTOMER_SALE_DONE
        if self.status is Status.RETENTION_FLAGGED and retention.interaction_counts_as_contact_from_person(kind):
            self.status = Status.ACTIVE
        self._touch(at)
        interaction_id = str(uuid.uuid4())
        self.events.append(events.InteractionRecorded(
            contact_id=self.id, interaction_id=interaction_id, kind=kind.value, channel=channel,
            occurred_at=occurred_at,
            counts_as_contact_from_person=retention.interaction_counts_as_contact_from_person(kind.value),
            facts=self.gate_facts(at=at)))
        return interaction_id

    def retention_status(self, *, now: datetime, grace: timedelta) -> retention.RetentionStatus:
        """Returns where the contact stands on its retention clock (RET-01 / RET-02)."""
        return retention.retention_status(
            relationship=self.relationship.value, obtained_at=self.obtained_at,
            last_contact_from_person_at=self.last_contact_from_person_at,
            relationship_end_at=self.relationship_end_at, now=now, grace_period=grace)

    def flag_for_retention(self, *, status: retention.RetentionStatus, at: datetime) -> None:
        """Marks the contact as past its retention deadline and records RetentionFlagged."""
        self.check_not_erased()
        assert status.due_at is not None and status.erase_at is not None
        self.status = Status.RETENTION_FLAGGED
        self._touch(at)
        self.events.append(events.RetentionFlagged(contact_id=self.id, rule=status.rule_id, due_at=status.due_at,
                                                   erase_after=status.erase_at))

    def erase(self, *, reason: str, at: datetime) -> None:
        """Destroys the personal data (the data key goes with it) and records ContactErased."""
        self.check_not_erased()
        self.personal = PersonalData()
        self.attributes = {}
        self.status = Status.ERASED
        self._touch(at)
        self.events.append(events.ContactErased(contact_id=self.id, reason=reason, at=at))

    def minor_until(self, *, at: datetime) -> date | None:
        """Returns the 18th birthday if the person is still a minor at `at`, else None."""
        birth = self.personal.birth_date
        if birth is None:
            return None
        try:
            majority = birth.replace(year=birth.year + MAJORITY_YEARS)
        except ValueError:
            majority = birth.replace(year=birth.year + MAJORITY_YEARS, day=28) + timedelta(days=1)
        return majority if majority > at.date() else None

    def gate_facts(self, *, at: datetime) -> dict[str, Any]:
        """Returns the facts the gate decides on, with no direct identifier (SPEC §2)."""
        personal = self.personal
        channels = []
        if personal.email:
            channels.append("email")
        if personal.phone:
            channels += ["phone", "sms_mms"]
        if personal.postal_address:
            channels.append("postal_addressed")
        return {
            "kind": self.kind.value,
            "relationship": self.relationship.value,
            "status": self.status.value,
            "collected_from_person": self.origin.collected_from_person,
            "source": self.origin.source,
            "broker_name": self.origin.broker_name,
            "obtained_at": self.obtained_at.isoformat(),
            "last_contact_from_person_at": _iso(self.last_contact_from_person_at),
            "relationship_end_at": _iso(self.relationship_end_at),
            "birth_year": personal.birth_date.year if personal.birth_date else None,
            "minor_until": _iso(self.minor_until(at=at)),
            "channels": channels,
            "email_index": self.indexes.email,
            "phone_index": self.indexes.phone,
            "attributes": self.attributes,
            "version": self.version,
        }

    def _touch(self, at: datetime) -> None:
        self.version += 1
        self.updated_at = at


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
