"""Domain events of the consent service: past-tense facts, frozen dataclasses.

Events carry ids, blind indexes and times, never a direct identifier of a person (SPEC §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class Event:
    """Marker base class of every consent-domain event."""


# Register of processing.


@dataclass(frozen=True)
class PurposeRegistered(Event):
    """A purpose entered the register of processing at version 1."""

    purpose_id: str
    version: int
    name: str
    lawful_basis: str
    at: datetime
    art14_exemption_claimed: bool = False
    art14_exemption_ground: str | None = None
    #: The register-entry facts the gate holds campaigns to (`model.entry_facts`); None before issue 19.
    entry: dict[str, object] | None = None


@dataclass(frozen=True)
class PurposeRevised(Event):
    """A purpose got a new version; the previous one stopped being in force at `at`."""

    purpose_id: str
    version: int
    previous_version: int
    changed_fields: tuple[str, ...]
    lawful_basis: str
    at: datetime
    art14_exemption_claimed: bool = False
    art14_exemption_ground: str | None = None
    #: The register-entry facts of the new version (`model.entry_facts`); None before issue 19.
    entry: dict[str, object] | None = None


@dataclass(frozen=True)
class PurposeRetired(Event):
    """A purpose's last version stopped being in force; its history is kept."""

    purpose_id: str
    version: int
    at: datetime


# Consents.


@dataclass(frozen=True)
class ConsentRequested(Event):
    """A consent was collected and awaits its double opt-in confirmation."""

    consent_id: str
    contact_id: str
    purpose_id: str
    purpose_version: int
    channel: str
    notice_id: str | None
    notice_version: int | None
    collector_kind: str
    collector_name: str | None
    requested_at: datetime
    proof_present: bool = True
    positive_act: bool = False
    withdrawal_info_given: bool = False
    explicit: bool = False
    given_by: tuple[str, ...] = ("data_subject",)
    out_of_hours_calls: bool = False
    #: The partners and partner categories the consent names for transfers or rentals, and whether it covers
    #: per-recipient e-mail tracking (issue 19: RENT-01, TRACK-01).
    partners: tuple[str, ...] = ()
    partner_categories: tuple[str, ...] = ()
    email_tracking: bool = False


@dataclass(frozen=True)
class ConsentGranted(Event):
    """A consent became usable: given directly, or confirmed after a double opt-in."""

    consent_id: str
    contact_id: str
    purpose_id: str
    purpose_version: int
    channel: str
    notice_id: str | None
    notice_version: int | None
    collector_kind: str
    collector_name: str | None
    requested_at: datetime
    granted_at: datetime
    confirmed_at: datetime | None
    proof_present: bool = True
    positive_act: bool = False
    withdrawal_info_given: bool = False
    explicit: bool = False
    given_by: tuple[str, ...] = ("data_subject",)
    out_of_hours_calls: bool = False
    partners: tuple[str, ...] = ()
    partner_categories: tuple[str, ...] = ()
    email_tracking: bool = False


@dataclass(frozen=True)
class ConsentWithdrawn(Event):
    """A consent was withdrawn; the record keeps both its grant and withdrawal times."""

    consent_id: str
    contact_id: str
    purpose_id: str
    channel: str
    granted_at: datetime | None
    withdrawn_at: datetime


# Objections.


@dataclass(frozen=True)
class ObjectionRecorded(Event):
    """A person objected to direct marketing: to all of it (`scope` all_direct_marketing), one channel
    (`channel`) or one purpose of the register (`purpose_id`)."""

    objection_id: str
    contact_id: str | None
    scope: str
    blind_indexes: tuple[str, ...]
    at: datetime
    reason: str = "objection"
    channel: str | None = None
    purpose_id: str | None = None


@dataclass(frozen=True)
class ObjectionIndexesAdded(Event):
    """More blind indexes of the objecting person were attached to the objection (UNI-02)."""

    objection_id: str
    contact_id: str | None
    blind_indexes: tuple[str, ...]
    at: datetime


# Notices.


@dataclass(frozen=True)
class NoticePublished(Event):
    """A notice version was checked complete and published."""

    notice_id: str
    version: int
    article: str
    language: str
    purpose_ids: tuple[str, ...]
    content_hash: str
    at: datetime


@dataclass(frozen=True)
class NoticeDelivered(Event):
    """A published notice version was delivered to a contact."""

    delivery_id: str
    contact_id: str
    notice_id: str
    notice_version: int
    content_hash: str
    channel: str
    at: datetime


# Processors.


@dataclass(frozen=True)
class ProcessorRegistered(Event):
    """A processor (or other vendor) entered the vendor registry."""

    processor_id: str
    legal_name: str
    role: str
    status: str
    at: datetime
    facts: dict[str, object] | None = None


@dataclass(frozen=True)
class ProcessorUpdated(Event):
    """A processor's record changed (contract, locations, sub-processors or status)."""

    processor_id: str
    changed_fields: tuple[str, ...]
    status: str
    at: datetime
    facts: dict[str, object] | None = None


# Erasure.


@dataclass(frozen=True)
class ConsentDataErased(Event):
    """A contact's consent data was erased; the objections' blind indexes were kept (UNI-02)."""

    contact_id: str
    consent_ids: tuple[str, ...]
    delivery_ids: tuple[str, ...]
    kept_objection_ids: tuple[str, ...]
    at: datetime


# Parties and their contracts (issue 10): ids, roles, dates and clauses; no person.


@dataclass(frozen=True)
class PartyRegistered(Event):
    """A party to the deployment was registered with its roles and what it touches."""

    party_id: str
    legal_name: str
    roles: tuple[str, ...]
    status: str
    purpose_ids: tuple[str, ...]
    data_categories: tuple[str, ...]
    systems: tuple[str, ...]
    processor_id: str | None
    broker_last_verified_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class PartyUpdated(Event):
    """A party's record changed; the current contract's missing clauses are restated for its roles."""

    party_id: str
    legal_name: str
    roles: tuple[str, ...]
    status: str
    purpose_ids: tuple[str, ...]
    data_categories: tuple[str, ...]
    systems: tuple[str, ...]
    processor_id: str | None
    broker_last_verified_at: datetime | None
    changed_fields: tuple[str, ...]
    contract_id: str | None
    missing_clauses: dict[str, list[str]] | None
    at: datetime
    #: The TERM rules (ownership, licence, staff confidentiality, security) the current contract leaves
    #: unsettled for the party's roles: rule id and field, no text; None before this field existed.
    term_gaps: tuple[dict[str, str], ...] | None = None


@dataclass(frozen=True)
class ContractFacts(Event):
    """What every contract event says of the contract: the facts the gate checks before a send."""

    party_id: str
    contract_id: str
    version: int
    roles: tuple[str, ...]
    party_status: str
    signed_at: datetime | None
    expires_at: datetime | None
    clauses_present: tuple[str, ...]
    missing_clauses: dict[str, list[str]]
    breach_notification_hours: int | None
    broker_last_verified_at: datetime | None
    in_force: bool
    #: The structured terms (owners, assignment, licence, confidentiality, security), without free text.
    terms: dict[str, object] | None
    #: The TERM rules the terms leave unsettled for the party's roles: rule id and field.
    term_gaps: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class ContractSigned(ContractFacts):
    """A contract version with a party was recorded; it supersedes the previous version."""

    at: datetime


@dataclass(frozen=True)
class ContractExpiring(ContractFacts):
    """A party's current contract entered the expiry window."""

    window_days: int
    at: datetime


@dataclass(frozen=True)
class ContractExpired(ContractFacts):
    """A party's current contract expired: campaigns through the party must stop."""

    at: datetime


# The breach register (Art. 33(5), 33, 34 GDPR): categories, counts, times and a hash of the record; no
# free text (it may name people) and no person.


@dataclass(frozen=True)
class BreachFacts(Event):
    """What every breach event says of the breach: the clock, the categories and counts, the risk."""

    breach_id: str
    state: str
    aware_at: datetime
    deadline_at: datetime
    nature: tuple[str, ...]
    data_categories: tuple[str, ...]
    special_categories: bool
    subject_categories: tuple[str, ...]
    approx_subjects: int | None
    approx_records: int | None
    risk: str | None
    dpo_named: bool
    source_party_id: str | None
    #: SHA-256 of the full record (free texts included) as it stood after this step.
    record_hash: str


@dataclass(frozen=True)
class BreachRecorded(BreachFacts):
    """A breach entered the register; its 72-hour clock runs from `aware_at`."""

    at: datetime


@dataclass(frozen=True)
class BreachUpdated(BreachFacts):
    """A breach's facts were completed or corrected (Art. 33(4): information in phases)."""

    changed_fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class BreachAssessed(BreachFacts):
    """The risk of a breach to people's rights and freedoms was assessed (unlikely, risk or high)."""

    justification_given: bool
    at: datetime


@dataclass(frozen=True)
class BreachNotified(BreachFacts):
    """The controller recorded its notification of the breach to the supervisory authority (the CNIL)."""

    notified_at: datetime
    authority_reference: str
    hours_after_awareness: float
    delay_reasons_given: bool
    phased: bool
    at: datetime


@dataclass(frozen=True)
class BreachCommunicated(BreachFacts):
    """The controller recorded telling the people concerned (Art. 34), or the Art. 34(3) exception."""

    communicated_at: datetime | None
    means: str | None
    subjects_informed: int | None
    exemption: str | None
    at: datetime


@dataclass(frozen=True)
class BreachOverdue(BreachFacts):
    """The 72 hours passed with neither a notification nor a justified finding of no risk."""

    hours_overdue: float
    at: datetime
