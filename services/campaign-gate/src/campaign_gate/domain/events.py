"""Domain events of the campaign gate: past-tense facts; ids, decisions and rule ids, never personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Event:
    """Marker base class of every campaign-gate event."""


@dataclass(frozen=True)
class CampaignDrafted(Event):
    """A campaign was created, or changed (which sends an approved or submitted one back to draft)."""

    campaign_id: str
    version: int
    previous_status: str | None
    changed_fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class CampaignSubmitted(Event):
    """A campaign was submitted and reviewed automatically; `findings` are (rule, severity, message)."""

    campaign_id: str
    version: int
    findings: tuple[dict[str, str], ...]
    ruleset_version: str
    at: datetime
    #: The per-operation study as submitted (issue 19): each answered question's answer and digest, which
    #: the approval's STUDY-* sign-offs cite as evidence; None when the campaign has no study.
    study: dict[str, Any] | None = None
    #: What the campaign declares it uses and runs through (issue 19: REG-*, PAR-*): purpose, processor,
    #: parties by id and role, data and special categories, retention in months.
    uses: dict[str, Any] | None = None


@dataclass(frozen=True)
class CampaignApproved(Event):
    """A reviewer approved a submitted campaign.

    `sign_offs` settle its needs-review findings, one per rule: rule, basis (a ground that rule allows),
    explanation, reference (a supporting document) and the evidence of the findings it covers.
    """

    campaign_id: str
    version: int
    reviewer: str
    sign_offs: tuple[dict[str, Any], ...]
    at: datetime


@dataclass(frozen=True)
class CampaignRejected(Event):
    """A reviewer rejected a submitted campaign."""

    campaign_id: str
    version: int
    reviewer: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class ReceiptChunkCommitted(Event):
    """One chunk of a check's receipts was stored: the root of the RFC 9162 tree over its receipts.

    The receipts themselves stay in the gate (`GET /v1/checks/{check_id}/receipts/{contact_id}` serves
    one with its proof into `root`); the event's id is the SHA-256 of these fields' canonical bytes
    (domain/receipts.py), so the audit log's entry commits to the root in the clear.
    `count` is the chunk's tree size; its receipts are the check's `first_index` … `first_index + count - 1`.
    """

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    chunk: int
    first_index: int
    count: int
    root: str
    at: datetime


@dataclass(frozen=True)
class CheckCompleted(Event):
    """A check of a campaign finished; `summary` counts the decisions."""

    check_id: str
    campaign_id: str
    campaign_version: int
    recipients: int
    summary: dict[str, int]
    stale: bool
    ruleset_version: str
    at: datetime


@dataclass(frozen=True)
class ContactForgotten(Event):
    """The gate erased what it projected about an erased contact (its confirmation of the erasure).

    Check receipts stay: they hold the contact id, decisions and rule ids only, and prove why the
    person was or was not contacted (accountability, Art. 5(2) GDPR).
    """

    contact_id: str
    receipts_kept: int
    at: datetime


@dataclass(frozen=True)
class SuppressionListImported(Event):
    """Blind indexes were imported into a suppression list (subject = the list name)."""

    list_name: str
    kind: str
    import_id: str
    entries: int
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)
