"""What callers ask of consent: imperative, frozen, carrying the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent.domain.model import Channel, CollectionMethod, Collector, ConsentProof, TermsEntered
from consent.domain.processors import ProcessorRole


@dataclass(frozen=True)
class RegisterPurpose:
    """Enter a purpose in the register of processing (fields as `Purpose.register` takes them)."""

    actor: str
    fields: dict[str, Any]


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


@dataclass(frozen=True)
class RegisterProcessor:
    """Enter a vendor in the registry (fields as `Processor.register` takes them)."""

    actor: str
    legal_name: str
    role: ProcessorRole
    fields: dict[str, Any]


@dataclass(frozen=True)
class UpdateProcessor:
    """Change the named fields of a vendor."""

    actor: str
    processor_id: str
    changes: dict[str, Any]


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
    changes: dict[str, Any]


@dataclass(frozen=True)
class RetirePurpose:
    """End a register entry: no version stays in force, its history is kept."""

    actor: str
    purpose_id: str


@dataclass(frozen=True)
class RegisterParty:
    """Enter a party to the deployment (fields as `Party.register` takes them)."""

    actor: str
    legal_name: str
    roles: tuple[str, ...]
    fields: dict[str, Any]


@dataclass(frozen=True)
class UpdateParty:
    """Change the named fields of a party."""

    actor: str
    party_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class SignContract:
    """Record the next contract version with a party (fields as `Contract.sign` takes them)."""

    actor: str
    party_id: str
    fields: dict[str, Any]


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
