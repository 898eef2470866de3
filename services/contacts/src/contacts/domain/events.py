"""Facts the contacts domain records, past tense. They carry no direct identifier of a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ContactCreated:
    """A contact entered the system of record; `facts` are the gate-relevant facts."""

    contact_id: str
    facts: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class ContactUpdated:
    """Fields of a contact changed; `changed` names them, `facts` are the new gate-relevant facts."""

    contact_id: str
    changed: tuple[str, ...]
    facts: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class InteractionRecorded:
    """An interaction was recorded (the person's sale, reply, click, request, open; a contract; a call
    attempt).

    `seller` and `product_categories` are set for sales, purchases and contracts, `outcome` for call
    attempts; each is None when the kind does not take it.
    """

    contact_id: str
    interaction_id: str
    kind: str
    channel: str | None
    occurred_at: datetime
    counts_as_contact_from_person: bool
    facts: dict[str, Any]
    seller: str | None = None
    product_categories: list[str] | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class RetentionFlagged:
    """The contact passed its retention deadline (RET-01 / RET-02) and will be erased after the grace."""

    contact_id: str
    rule: str
    due_at: datetime
    erase_after: datetime


@dataclass(frozen=True)
class ContactErased:
    """The contact's personal data and data key were destroyed.

    `blind_indexes` are the e-mail and phone blind indexes the contact had (keyed hashes, so that
    consent can keep suppressing the person, RET-05 / UNI-02).
    """

    contact_id: str
    reason: str
    at: datetime
    blind_indexes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProcessingRestricted:
    """Processing of the contact is restricted (Art. 18(1) GDPR) under a data-subject request: stored,
    never used for marketing; `grounds` names the point of Art. 18(1), `facts` are the new gate facts."""

    contact_id: str
    request_id: str
    grounds: str
    at: datetime
    facts: dict[str, Any]


@dataclass(frozen=True)
class RestrictionLifted:
    """The restriction a request obtained is lifted; the person was informed at `informed_at`, before
    (Art. 18(3)). `facts` are the new gate facts."""

    contact_id: str
    request_id: str
    informed_at: datetime
    at: datetime
    facts: dict[str, Any]
