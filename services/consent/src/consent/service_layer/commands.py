"""What callers ask of consent: imperative, frozen, carrying the actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.commands import UNSET, Changes, Unset

from consent.domain.contract_terms import ContractTerms
from consent.domain.model import (
    Channel,
    CollectionMethod,
    Collector,
    ConsentProof,
    DataCategory,
    LawfulBasis,
    Party,
    SecurityMeasures,
    TermsEntered,
    Transfer,
)
from consent.domain.parties import PartyRole, PartyStatus
from consent.domain.processors import (
    Location,
    ProcessorContract,
    ProcessorRole,
    ProcessorStatus,
    SubProcessor,
    TransferMechanism,
)


@dataclass(frozen=True)
class RegisterPurpose:
    """Enter a purpose in the register of processing at version 1 (the fields of `Purpose.register`)."""

    actor: str
    name: str
    controller: Party
    description: str
    lawful_basis: LawfulBasis
    purpose_id: str | None = None
    dpo: Party | None = None
    legitimate_interest: str | None = None
    data_categories: Mapping[DataCategory, tuple[str, ...]] = field(default_factory=dict)
    special_categories: bool = False
    special_categories_detail: tuple[str, ...] = ()
    data_subjects: tuple[str, ...] = ()
    recipients_internal: tuple[str, ...] = ()
    recipients_external: tuple[str, ...] = ()
    processor_ids: tuple[str, ...] = ()
    retention: Mapping[str, str] = field(default_factory=dict)
    transfers: tuple[Transfer, ...] = ()
    security_measures: SecurityMeasures | None = None
    dpia_required: bool = False
    joint_controller: Party | None = None
    software: str | None = None
    art14_exemption_claimed: bool = False
    art14_exemption_ground: str | None = None
    channels: tuple[Channel, ...] = ()
    retention_months: int | None = None
    profiling: bool = False
    dpia_reference: str | None = None


@dataclass(frozen=True)
class PurposeChanges(Changes):
    """The register fields a revision changes; the others stay as in the current version."""

    name: str | Unset = UNSET
    controller: Party | Unset = UNSET
    dpo: Party | None | Unset = UNSET
    description: str | Unset = UNSET
    lawful_basis: LawfulBasis | Unset = UNSET
    legitimate_interest: str | None | Unset = UNSET
    data_categories: Mapping[DataCategory, tuple[str, ...]] | Unset = UNSET
    special_categories: bool | Unset = UNSET
    special_categories_detail: tuple[str, ...] | Unset = UNSET
    data_subjects: tuple[str, ...] | Unset = UNSET
    recipients_internal: tuple[str, ...] | Unset = UNSET
    recipients_external: tuple[str, ...] | Unset = UNSET
    processor_ids: tuple[str, ...] | Unset = UNSET
    retention: Mapping[str, str] | Unset = UNSET
    transfers: tuple[Transfer, ...] | Unset = UNSET
    security_measures: SecurityMeasures | Unset = UNSET
    dpia_required: bool | Unset = UNSET
    joint_controller: Party | None | Unset = UNSET
    software: str | None | Unset = UNSET
    art14_exemption_claimed: bool | Unset = UNSET
    art14_exemption_ground: str | None | Unset = UNSET
    channels: tuple[Channel, ...] | Unset = UNSET
    retention_months: int | None | Unset = UNSET
    profiling: bool | Unset = UNSET
    dpia_reference: str | None | Unset = UNSET


@dataclass(frozen=True)
class PublishNotice:
    """Publish a notice: version 1 of a new notice, or the next version of `notice_id`."""

    actor: str
    language: str
    article: str
    purpose_ids: tuple[str, ...]
    content: dict[str, str]
    not_applicable: tuple[str, ...] = ()
    notice_id: str | None = None


@dataclass(frozen=True)
class DeliverNotice:
    """Record that a published notice version reached a contact."""

    actor: str
    notice_id: str
    contact_id: str
    channel: str
    delivered_at: datetime | None = None
    notice_version: int | None = None
    evidence: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GrantConsent:
    """Record a new consent, with its wording and proof."""

    actor: str
    contact_id: str
    purpose_id: str
    channel: Channel
    collection_method: CollectionMethod
    wording: str
    proof: ConsentProof
    notice_id: str | None = None
    notice_version: int | None = None
    collector: Collector | None = None
    double_opt_in: bool | None = None
    terms: TermsEntered = field(default_factory=TermsEntered)
    out_of_hours_calls: bool = False
    partners: tuple[str, ...] = ()
    partner_categories: tuple[str, ...] = ()
    email_tracking: bool = False


@dataclass(frozen=True)
class ConfirmConsent:
    """Confirm a pending double opt-in consent."""

    actor: str
    consent_id: str


@dataclass(frozen=True)
class WithdrawConsent:
    """Withdraw a consent; the record and its history are kept."""

    actor: str
    consent_id: str
    source: str | None = None


@dataclass(frozen=True)
class RecordObjection:
    """Record an objection; identifiers are turned into blind indexes and never stored."""

    actor: str
    scope: str
    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    blind_indexes: tuple[str, ...] = ()
    #: With scope `channel`: the channel; with scope `purpose`: the register purpose.
    channel: str | None = None
    purpose_id: str | None = None


@dataclass(frozen=True)
class RegisterProcessor:
    """Enter a vendor in the registry (the fields of `Processor.register`)."""

    actor: str
    legal_name: str
    role: ProcessorRole
    status: ProcessorStatus = ProcessorStatus.ACTIVE
    contact: str = ""
    dpo_contact: str | None = None
    registration_id: str | None = None
    purpose_ids: tuple[str, ...] = ()
    contract: ProcessorContract | None = None
    sub_processors: tuple[SubProcessor, ...] = ()
    locations: tuple[Location, ...] = ()
    transfer_mechanism: TransferMechanism | None = None
    tia_done_at: datetime | None = None


@dataclass(frozen=True)
class ProcessorChanges(Changes):
    """The vendor fields a PATCH changes."""

    legal_name: str | Unset = UNSET
    role: ProcessorRole | Unset = UNSET
    status: ProcessorStatus | Unset = UNSET
    contact: str | Unset = UNSET
    dpo_contact: str | None | Unset = UNSET
    registration_id: str | None | Unset = UNSET
    purpose_ids: tuple[str, ...] | Unset = UNSET
    contract: ProcessorContract | None | Unset = UNSET
    sub_processors: tuple[SubProcessor, ...] | Unset = UNSET
    locations: tuple[Location, ...] | Unset = UNSET
    transfer_mechanism: TransferMechanism | None | Unset = UNSET
    tia_done_at: datetime | None | Unset = UNSET


@dataclass(frozen=True)
class UpdateProcessor:
    """Change the given fields of a vendor."""

    actor: str
    processor_id: str
    changes: ProcessorChanges


@dataclass(frozen=True)
class EraseContactData:
    """Erase a contact's consents and deliveries after its erasure upstream; keep objections' indexes."""

    actor: str
    contact_id: str
    event_id: str
    topic: str
    #: The contact's e-mail and phone blind indexes at erasure, as contact_erased carries them.
    blind_indexes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevisePurpose:
    """Make the next version of a register entry with the changed fields."""

    actor: str
    purpose_id: str
    changes: PurposeChanges


@dataclass(frozen=True)
class RetirePurpose:
    """End a register entry: no version stays in force, its history is kept."""

    actor: str
    purpose_id: str


@dataclass(frozen=True)
class RegisterParty:
    """Enter a party to the deployment (the fields of `Party.register`)."""

    actor: str
    legal_name: str
    roles: tuple[PartyRole | str, ...]
    registration_id: str | None = None
    contact: str = ""
    purpose_ids: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    processor_id: str | None = None
    broker_last_verified_at: datetime | None = None
    status: PartyStatus = PartyStatus.ACTIVE


@dataclass(frozen=True)
class PartyChanges(Changes):
    """The party fields a PATCH changes."""

    legal_name: str | Unset = UNSET
    roles: tuple[PartyRole | str, ...] | Unset = UNSET
    registration_id: str | None | Unset = UNSET
    contact: str | Unset = UNSET
    purpose_ids: tuple[str, ...] | Unset = UNSET
    data_categories: tuple[str, ...] | Unset = UNSET
    systems: tuple[str, ...] | Unset = UNSET
    processor_id: str | None | Unset = UNSET
    broker_last_verified_at: datetime | None | Unset = UNSET
    status: PartyStatus | Unset = UNSET


@dataclass(frozen=True)
class UpdateParty:
    """Change the given fields of a party."""

    actor: str
    party_id: str
    changes: PartyChanges


@dataclass(frozen=True)
class SignContract:
    """Record the next contract version with a party (the fields of `Contract.sign`)."""

    actor: str
    party_id: str
    reference: str
    signed_at: datetime | None = None
    expires_at: datetime | None = None
    clauses: tuple[str, ...] = ()
    breach_notification_hours: int | None = None
    scc_2021_915: bool = False
    licence_scope: str | None = None
    terms: ContractTerms | None = None


@dataclass(frozen=True)
class WatchContractExpiry:
    """Raise the events of contracts that entered the expiry window or expired, once each."""

    actor: str
    window_days: int


@dataclass(frozen=True)
class RecordContactIndexes:
    """Remember a contact's blind indexes and attach them to its objections (from contacts.events)."""

    actor: str
    contact_id: str
    blind_indexes: tuple[str, ...]


# --- The breach register (Art. 33(5), 33, 34 GDPR).


@dataclass(frozen=True)
class RecordBreach:
    """Enter a breach in the register (the fields of `Breach.record`; `facts` holds the optional ones)."""

    actor: str
    aware_at: datetime
    nature: tuple[str, ...]
    description: str
    facts: dict[str, Any] = field(default_factory=dict)
    risk: str | None = None
    risk_justification: str | None = None


@dataclass(frozen=True)
class UpdateBreach:
    """Complete or correct a breach's facts (Art. 33(4)); only the fields given change."""

    actor: str
    breach_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class AssessBreach:
    """Record the risk assessment of a breach."""

    actor: str
    breach_id: str
    risk: str
    justification: str = ""


@dataclass(frozen=True)
class NotifyBreach:
    """Record the notification of a breach to the supervisory authority."""

    actor: str
    breach_id: str
    notified_at: datetime
    reference: str
    delay_reasons: str | None = None
    phased: bool = False


@dataclass(frozen=True)
class CommunicateBreach:
    """Record the communication of a breach to the people, or the Art. 34(3) exception relied on."""

    actor: str
    breach_id: str
    communicated_at: datetime | None = None
    means: str | None = None
    subjects_informed: int | None = None
    exemption: str | None = None
    justification: str | None = None


@dataclass(frozen=True)
class WatchBreaches:
    """Raise `breach_overdue` once for each breach past its 72 hours."""

    actor: str
