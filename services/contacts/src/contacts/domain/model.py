"""The contact aggregate: a client or prospect, its personal data and the facts the law turns on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from contacts.domain import events, retention, timezones
from contacts.domain.errors import ContactErasedError, InteractionRejectedError, VersionConflictError


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
    CONTRACT_START = "contract_start"
    CONTRACT_END = "contract_end"
    CALL_ATTEMPT = "call_attempt"


class CallOutcome(StrEnum):
    """How an outbound call attempt ended (D223-9 counts attempts and refusals)."""

    NO_ANSWER = "no_answer"
    ANSWERED = "answered"
    REFUSED = "refused"


#: The kinds that name the legal entity that sold (soft opt-in compares it with the sender).
SELLER_KINDS = frozenset(
    {
        InteractionKind.SALE,
        InteractionKind.PURCHASE,
        InteractionKind.CONTRACT_START,
        InteractionKind.CONTRACT_END,
    }
)
#: The kinds that record a sale, aggregated per seller into `purchases`.
SALE_KINDS = frozenset({InteractionKind.SALE, InteractionKind.PURCHASE})

#: The age of majority (UNI-09).
MAJORITY_YEARS = 18
#: The age from which a person may consent alone to information-society services in France
#: (loi Informatique et Libertés art. 45, GDPR Art. 8).
DIGITAL_CONSENT_YEARS = 15
#: How many of the latest outbound call attempts are kept (D223-9: at most 4 in 30 days).
CALL_ATTEMPTS_KEPT = 4


@dataclass(frozen=True)
class PersonalData:
    """The direct identifiers of a person: encrypted at rest, never in events or logs."""

    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    postal_address: dict[str, str] | None = None
    birth_date: date | None = None
    #: The caller's own id of the person (a CRM's), unique per source: it identifies the person in
    #: another system, so it is personal data like the e-mail, looked up through a blind index.
    external_ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Returns the fields as plain values (birth date as ISO text)."""
        # The fields named, not walked with `dataclasses.fields`: this runs once per imported row.
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "phone": self.phone,
            "postal_address": self.postal_address,
            "birth_date": self.birth_date.isoformat() if self.birth_date is not None else None,
            "external_ref": self.external_ref,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PersonalData:
        """Rebuilds the personal data from `as_dict` output."""
        birth = values.get("birth_date")
        return cls(**{**values, "birth_date": date.fromisoformat(birth) if birth else None})


@dataclass(frozen=True)
class BlindIndexes:
    """Keyed hashes of the normalised e-mail and phone, for duplicates and suppression matching, and of
    the caller's (source, external_ref), for its look-ups (never published: no other service matches it)."""

    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None

    def __reduce__(self) -> tuple[type[BlindIndexes], tuple[str | None, str | None, str | None]]:
        # Pickled as its three values: every imported row's indexes cross a process pipe, and the
        # default (class, state dict) form cost twice as much each way.
        return BlindIndexes, (self.email, self.phone, self.external_ref)


@dataclass(frozen=True)
class PhoneCollection:
    """What the person was told when their phone number was collected (L223-1, since 2026-08-11)."""

    told_calls_need_consent: bool
    during_contract: bool
    contract_states_calls_need_consent: bool

    def as_dict(self) -> dict[str, bool]:
        """Returns the three answers by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Purchase:
    """What the person bought from one seller: the product categories and the latest purchase."""

    seller: str
    categories: tuple[str, ...]
    last_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """Returns the purchase as the facts carry it."""
        return {
            "seller": self.seller,
            "categories": list(self.categories),
            "last_at": self.last_at.isoformat(),
        }


@dataclass(frozen=True)
class ContractRecord:
    """A contract with one seller: open while `ended_at` is None."""

    seller: str
    categories: tuple[str, ...]
    started_at: datetime
    ended_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """Returns the contract as the facts carry it."""
        return {
            "seller": self.seller,
            "categories": list(self.categories),
            "started_at": self.started_at.isoformat(),
            "ended_at": _iso(self.ended_at),
        }


def normalise_profession(value: str | None) -> str | None:
    """Returns the profession lower-cased with inner spaces collapsed, or None when blank."""
    if value is None:
        return None
    text = " ".join(value.split()).lower()
    return text or None


def _categories(values: Any) -> tuple[str, ...]:
    # Because categories are compared with a campaign's, they are compared as stripped lower-case words.
    return tuple(sorted({" ".join(str(v).split()).lower() for v in values or () if str(v).strip()}))


def merge_purchase(
    purchases: list[Purchase], *, seller: str, categories: Any, at: datetime
) -> list[Purchase]:
    """Returns the purchases with one more sale folded in: one entry per seller, categories united,
    latest time."""
    seller = " ".join(seller.split())
    merged: list[Purchase] = []
    folded = False
    for purchase in purchases:
        if purchase.seller == seller:
            purchase = Purchase(
                seller=seller,
                categories=_categories([*purchase.categories, *(categories or ())]),
                last_at=max(purchase.last_at, at),
            )
            folded = True
        merged.append(purchase)
    if not folded:
        merged.append(Purchase(seller=seller, categories=_categories(categories), last_at=at))
    return merged


def add_years(day: date, years: int) -> date:
    """Returns the anniversary `years` later; 29 February gives 1 March in a common year
    (the age is reached then)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28) + timedelta(days=1)


@dataclass(frozen=True)
class Restriction:
    """The restriction of processing the person obtained (Art. 18 GDPR): the data is stored, not used
    (marketing included), until it is lifted after the person was informed (Art. 18(3))."""

    request_id: str
    grounds: str
    since: datetime

    def as_dict(self) -> dict[str, Any]:
        """Returns the restriction as the facts carry it."""
        return {"request_id": self.request_id, "grounds": self.grounds, "since": self.since.isoformat()}


class RestrictionConflictError(Exception):
    """The contact is already restricted by another request, or not by this one (lifting)."""


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
    timezone: str = timezones.DEFAULT_TIMEZONE
    #: Where `timezone` came from: `given`, or the source it was derived from (re-derived when that changes).
    timezone_source: str = timezones.DEFAULT
    profession: str | None = None
    phone_collection: PhoneCollection | None = None
    stop_pub: bool = False
    purchases: list[Purchase] = field(default_factory=list)
    contracts: list[ContractRecord] = field(default_factory=list)
    #: The latest outbound call attempts, oldest first (at most CALL_ATTEMPTS_KEPT).
    call_attempts: list[datetime] = field(default_factory=list)
    last_call_refusal_at: datetime | None = None
    #: Set while processing is restricted (Art. 18): the gate blocks every send (RIGHTS-01).
    restriction: Restriction | None = None
    status: Status = Status.ACTIVE
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def create(
        cls,
        *,
        kind: Kind,
        relationship: Relationship,
        personal: PersonalData,
        indexes: BlindIndexes,
        origin: Origin,
        obtained_at: datetime,
        at: datetime,
        contact_id: str | None = None,
        last_contact_from_person_at: datetime | None = None,
        relationship_end_at: datetime | None = None,
        attributes: dict[str, Any] | None = None,
        timezone: str | None = None,
        profession: str | None = None,
        phone_collection: PhoneCollection | None = None,
        stop_pub: bool = False,
        purchases: list[Purchase] | None = None,
    ) -> Contact:
        """Creates a contact and records ContactCreated.

        Without a `timezone`, it is derived from the phone, else the postal address, else Paris.
        `purchases` (an existing customer's) are folded one per seller and, being contacts from the
        person, move `last_contact_from_person_at` to the latest of them.
        """
        folded: list[Purchase] = []
        for purchase in purchases or []:
            folded = merge_purchase(
                folded, seller=purchase.seller, categories=purchase.categories, at=purchase.last_at
            )
        if folded:
            latest = max(p.last_at for p in folded)
            last_contact_from_person_at = max(filter(None, (last_contact_from_person_at, latest)))
        contact = cls(
            id=contact_id or str(uuid.uuid4()),
            kind=kind,
            relationship=relationship,
            personal=personal,
            indexes=indexes,
            origin=origin,
            obtained_at=obtained_at,
            last_contact_from_person_at=last_contact_from_person_at,
            relationship_end_at=relationship_end_at,
            attributes=dict(attributes or {}),
            profession=normalise_profession(profession),
            phone_collection=phone_collection,
            stop_pub=stop_pub,
            purchases=folded,
            created_at=at,
            updated_at=at,
        )
        contact._set_timezone(timezone)
        contact.events.append(
            events.ContactCreated(contact_id=contact.id, facts=contact.gate_facts(at=at), at=at)
        )
        return contact

    def _set_timezone(self, given: str | None) -> None:
        if given is not None:
            self.timezone, self.timezone_source = given, timezones.GIVEN
        else:
            self.timezone, self.timezone_source = timezones.derive_timezone(
                phone=self.personal.phone, postal_address=self.personal.postal_address
            )

    def check_not_erased(self) -> None:
        """Raises ContactErasedError if the personal data was destroyed."""
        if self.status is Status.ERASED:
            raise ContactErasedError(self.id)

    def check_version(self, expected: int | None) -> None:
        """Raises VersionConflictError if the caller's version is not the current one."""
        if expected is not None and expected != self.version:
            raise VersionConflictError(self.id, expected, self.version)

    def update(self, *, changes: dict[str, Any], at: datetime, expected_version: int | None = None) -> None:
        """Applies PATCH semantics to the named fields and records ContactUpdated with their names.

        `timezone: None` goes back to the derived zone; a derived zone follows a new phone or address.
        """
        self.check_not_erased()
        self.check_version(expected_version)
        changes = dict(changes)
        personal_names = {f.name for f in fields(PersonalData)}
        personal_changes = {k: v for k, v in changes.items() if k in personal_names}
        timezone_change = "timezone" in changes
        given_timezone = changes.pop("timezone", None)
        if "profession" in changes:
            changes["profession"] = normalise_profession(changes["profession"])
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
        if timezone_change or (
            self.timezone_source != timezones.GIVEN and {"phone", "postal_address"} & set(changed)
        ):
            before = (self.timezone, self.timezone_source)
            self._set_timezone(given_timezone)
            if (self.timezone, self.timezone_source) != before:
                changed.append("timezone")
        if not changed:
            return
        self._touch(at)
        self.events.append(
            events.ContactUpdated(
                contact_id=self.id, changed=tuple(sorted(changed)), facts=self.gate_facts(at=at), at=at
            )
        )

    def record_interaction(
        self,
        *,
        kind: InteractionKind,
        channel: str | None,
        occurred_at: datetime,
        at: datetime,
        seller: str | None = None,
        product_categories: list[str] | None = None,
        outcome: CallOutcome | None = None,
    ) -> str:
        """Records an interaction and the facts it changes; returns its id.

        A sale or purchase makes a prospect a customer and is folded into `purchases` (per seller); a
        contract start makes the relationship `contract_in_progress`; a contract end closes the
        seller's open contracts and, when none stays open, ends the relationship at `occurred_at`. A
        call attempt is made by the company: it is counted (D223-9) but never moves the retention
        clock nor lifts a retention flag. InteractionRejectedError names a missing or misplaced field.
        """
        self.check_not_erased()
        self._check_interaction(
            kind=kind, seller=seller, product_categories=product_categories, outcome=outcome
        )
        categories = list(product_categories or [])
        self.last_contact_from_person_at = retention.last_contact_after_interaction(
            self.last_contact_from_person_at, kind=kind.value, occurred_at=occurred_at
        )
        if kind in SALE_KINDS:
            assert seller is not None
            self.purchases = merge_purchase(
                self.purchases, seller=seller, categories=categories, at=occurred_at
            )
            if self.relationship in (Relationship.PROSPECT, Relationship.ACCOUNT_ONLY):
                self.relationship = Relationship.CUSTOMER_SALE_DONE
        elif kind is InteractionKind.CONTRACT_START:
            assert seller is not None
            self.contracts = [
                *self.contracts,
                ContractRecord(
                    seller=" ".join(seller.split()),
                    categories=_categories(categories),
                    started_at=occurred_at,
                ),
            ]
            self.relationship = Relationship.CONTRACT_IN_PROGRESS
            # Because a relationship that resumes has no end any more.
            self.relationship_end_at = None
        elif kind is InteractionKind.CONTRACT_END:
            assert seller is not None
            self._end_contracts(seller=seller, categories=categories, at=occurred_at)
        elif kind is InteractionKind.CALL_ATTEMPT:
            self.call_attempts = sorted([*self.call_attempts, occurred_at])[-CALL_ATTEMPTS_KEPT:]
            if outcome is CallOutcome.REFUSED:
                self.last_call_refusal_at = max(filter(None, (self.last_call_refusal_at, occurred_at)))
        if self.status is Status.RETENTION_FLAGGED and retention.interaction_counts_as_contact_from_person(
            kind
        ):
            self.status = Status.ACTIVE
        self._touch(at)
        interaction_id = str(uuid.uuid4())
        self.events.append(
            events.InteractionRecorded(
                contact_id=self.id,
                interaction_id=interaction_id,
                kind=kind.value,
                channel=channel,
                occurred_at=occurred_at,
                counts_as_contact_from_person=retention.interaction_counts_as_contact_from_person(kind.value),
                facts=self.gate_facts(at=at),
                seller=" ".join(seller.split()) if seller else None,
                product_categories=list(_categories(categories)) if kind in SELLER_KINDS else None,
                outcome=outcome.value if outcome is not None else None,
            )
        )
        return interaction_id

    def _check_interaction(
        self,
        *,
        kind: InteractionKind,
        seller: str | None,
        product_categories: list[str] | None,
        outcome: CallOutcome | None,
    ) -> None:
        problems: list[tuple[str, str]] = []
        if kind in SELLER_KINDS and not (seller and seller.strip()):
            problems.append(("seller", f"required for a {kind.value}: the legal entity that sold"))
        if kind not in SELLER_KINDS and seller is not None:
            problems.append(("seller", f"not taken by a {kind.value}"))
        if kind not in SELLER_KINDS and product_categories is not None:
            problems.append(("product_categories", f"not taken by a {kind.value}"))
        if kind is InteractionKind.CALL_ATTEMPT and outcome is None:
            problems.append(("outcome", "required for a call_attempt: no_answer, answered or refused"))
        if kind is not InteractionKind.CALL_ATTEMPT and outcome is not None:
            problems.append(("outcome", f"not taken by a {kind.value}"))
        if (
            kind is InteractionKind.CONTRACT_END
            and seller
            and not self._open_contracts(seller, product_categories)
        ):
            problems.append(("seller", "this seller has no open contract to end"))
        if problems:
            raise InteractionRejectedError(problems)

    def _open_contracts(self, seller: str, categories: list[str] | None) -> list[int]:
        seller = " ".join(seller.split())
        wanted = set(_categories(categories))
        return [
            n
            for n, c in enumerate(self.contracts)
            if c.seller == seller and c.ended_at is None and (not wanted or wanted & set(c.categories))
        ]

    def _end_contracts(self, *, seller: str, categories: list[str], at: datetime) -> None:
        ending = set(self._open_contracts(seller, categories))
        self.contracts = [replace(c, ended_at=at) if n in ending else c for n, c in enumerate(self.contracts)]
        if not any(c.ended_at is None for c in self.contracts):
            self.relationship = Relationship.CUSTOMER_SALE_DONE
            self.relationship_end_at = at

    def retention_status(self, *, now: datetime, grace: timedelta) -> retention.RetentionStatus:
        """Returns where the contact stands on its retention clock (RET-01 / RET-02)."""
        return retention.retention_status(
            relationship=self.relationship.value,
            obtained_at=self.obtained_at,
            last_contact_from_person_at=self.last_contact_from_person_at,
            relationship_end_at=self.relationship_end_at,
            now=now,
            grace_period=grace,
        )

    def flag_for_retention(self, *, status: retention.RetentionStatus, at: datetime) -> None:
        """Marks the contact as past its retention deadline and records RetentionFlagged."""
        self.check_not_erased()
        assert status.due_at is not None and status.erase_at is not None
        self.status = Status.RETENTION_FLAGGED
        self._touch(at)
        self.events.append(
            events.RetentionFlagged(
                contact_id=self.id, rule=status.rule_id, due_at=status.due_at, erase_after=status.erase_at
            )
        )

    def erase(self, *, reason: str, at: datetime) -> None:
        """Destroys the personal data (the data key goes with it) and records ContactErased."""
        self.check_not_erased()
        # Because consent keeps a suppression hash of an erased person (RET-05 / UNI-02), the event
        # carries the indexes the contact had; the row itself keeps none.
        blind_indexes = [i for i in (self.indexes.email, self.indexes.phone) if i]
        self.personal = PersonalData()
        self.attributes = {}
        self.profession = None
        self.phone_collection = None
        self.purchases = []
        self.contracts = []
        self.call_attempts = []
        self.last_call_refusal_at = None
        self.restriction = None
        self.status = Status.ERASED
        self._touch(at)
        self.events.append(
            events.ContactErased(contact_id=self.id, reason=reason, at=at, blind_indexes=blind_indexes)
        )

    def restrict(self, *, request_id: str, grounds: str, at: datetime) -> None:
        """Restricts processing under a request (Art. 18(1)) and records ProcessingRestricted.

        RestrictionConflictError when another request already restricts it (the first one holds).
        """
        self.check_not_erased()
        if self.restriction is not None:
            if self.restriction.request_id == request_id:
                return
            raise RestrictionConflictError(f"already restricted by request {self.restriction.request_id}")
        self.restriction = Restriction(request_id=request_id, grounds=grounds, since=at)
        self._touch(at)
        self.events.append(
            events.ProcessingRestricted(
                contact_id=self.id,
                request_id=request_id,
                grounds=grounds,
                at=at,
                facts=self.gate_facts(at=at),
            )
        )

    def lift_restriction(self, *, request_id: str, informed_at: datetime, at: datetime) -> None:
        """Lifts the restriction a request obtained, the person informed beforehand (Art. 18(3)); records
        RestrictionLifted."""
        self.check_not_erased()
        if self.restriction is None or self.restriction.request_id != request_id:
            raise RestrictionConflictError(f"request {request_id} does not restrict contact {self.id}")
        self.restriction = None
        self._touch(at)
        self.events.append(
            events.RestrictionLifted(
                contact_id=self.id,
                request_id=request_id,
                informed_at=informed_at,
                at=at,
                facts=self.gate_facts(at=at),
            )
        )

    def majority_on(self) -> date | None:
        """Returns the 18th birthday (past or future), or None without a birth date."""
        birth = self.personal.birth_date
        return add_years(birth, MAJORITY_YEARS) if birth else None

    def digital_consent_age_on(self) -> date | None:
        """Returns the 15th birthday (past or future), or None without a birth date."""
        birth = self.personal.birth_date
        return add_years(birth, DIGITAL_CONSENT_YEARS) if birth else None

    def gate_facts(self, *, at: datetime) -> dict[str, Any]:
        """Returns the facts the gate decides on, with no direct identifier (SPEC §2).

        The free-form `attributes` stay out: no rule reads them and they may hold anything.
        """
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
            "majority_on": _iso(self.majority_on()),
            "digital_consent_age_on": _iso(self.digital_consent_age_on()),
            "timezone": self.timezone,
            "profession": self.profession,
            "purchases": [p.as_dict() for p in self.purchases],
            "contracts": [c.as_dict() for c in self.contracts],
            "call_attempts": [t.isoformat() for t in self.call_attempts],
            "last_call_refusal_at": _iso(self.last_call_refusal_at),
            "phone_collection": self.phone_collection.as_dict() if self.phone_collection else None,
            "stop_pub": self.stop_pub,
            "restriction": self.restriction.as_dict() if self.restriction else None,
            "channels": channels,
            "email_index": self.indexes.email,
            "phone_index": self.indexes.phone,
            "version": self.version,
        }

    def _touch(self, at: datetime) -> None:
        self.version += 1
        self.updated_at = at


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
