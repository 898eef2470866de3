"""Commands of campaign-gate: one frozen dataclass per use case, typed down to the campaign's spec.

A campaign's spec is stored as the JSON the marketer's fields make (`CampaignSpec.as_json()`), which
is what `domain.model.campaign_facts` reads and what the API shows back.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import EventEnvelope

from campaign_gate.domain import review
from campaign_gate.domain.facts import Audience, Channel, SendRole, SuppressionKind


@dataclass(frozen=True)
class Message:
    """The message: content the MSG-* rules read."""

    subject: str = ""
    body: str = ""
    template_ref: str | None = None
    unsubscribe_mechanism: str | None = None
    unsubscribe_free: bool = False
    right_to_object_statement: bool = False
    sender_identification: str | None = None
    offer_conditions: str | None = None
    is_promotional_offer: bool = False
    subject_related_to_offer: bool | None = None
    carries_art14_notice: bool = False
    objection_reminder: bool = False


@dataclass(frozen=True)
class CallScript:
    """What a telephone script says at the start of a call."""

    caller_identity: bool = False
    company_identity: bool = False
    commercial_nature: bool = False
    bloctel_mention: bool = False
    art14_information: bool = False


@dataclass(frozen=True)
class Criterion:
    """One targeting or offer-eligibility condition."""

    attribute: str
    operator: str
    value: str | tuple[str, ...] = ""
    #: {ground, explanation}: a ground the DISC reviews accept, and why (issue 19; never free text).
    justification: dict[str, str] | None = None


@dataclass(frozen=True)
class NamedParty:
    """A party a campaign runs through (its id in consent's register) and the role it plays on the sends."""

    party_id: str
    role: SendRole


@dataclass(frozen=True, kw_only=True)
class CampaignSpec:
    """Every field of a campaign, as the marketer gives it (in the API's order)."""

    purpose_id: str
    channel: Channel
    sender_entity: str
    processor_id: str | None = None
    message: Message = Message()
    call_script: CallScript = CallScript()
    targeting: tuple[Criterion, ...] = ()
    offer_eligibility: tuple[Criterion, ...] = ()
    offer_generally_available: bool = True
    audience: Audience = Audience.B2C
    commercial: bool = True
    product_category: str = ""
    analogous_categories: tuple[str, ...] = ()
    analogy_unclear_categories: tuple[str, ...] = ()
    complementary_categories: tuple[str, ...] = ()
    send_at: datetime
    caller_number_masked: bool = False
    refuses_product_outside_target: bool = False
    differential_b2b_terms: bool = False
    uses_profiling: bool = False
    large_scale_profiling: bool = False
    combines_datasets: bool = False
    automated_significant_decision: bool = False
    contest_route: str | None = None
    manipulative_design: bool = False
    art9_explicit_consent_only: bool = False
    dpia_reference: str | None = None
    professional_target: tuple[str, ...] = ()
    #: The per-operation study (issue 19) in its stored JSON form, as the API validated it.
    study: dict[str, Any] | None = None
    data_categories: tuple[str, ...] = ()
    special_categories: tuple[str, ...] = ()
    retention_months: int | None = None
    parties: tuple[NamedParty, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Returns the stored form of the spec: every field, in JSON types."""
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class CampaignChanges:
    """Some fields of a campaign: `given` names the fields the marketer sent (None may be a value)."""

    given: frozenset[str]
    purpose_id: str | None = None
    channel: Channel | None = None
    sender_entity: str | None = None
    send_at: datetime | None = None
    processor_id: str | None = None
    message: Message | None = None
    call_script: CallScript | None = None
    targeting: tuple[Criterion, ...] | None = None
    offer_eligibility: tuple[Criterion, ...] | None = None
    offer_generally_available: bool | None = None
    audience: Audience | None = None
    commercial: bool | None = None
    product_category: str | None = None
    analogous_categories: tuple[str, ...] | None = None
    analogy_unclear_categories: tuple[str, ...] | None = None
    complementary_categories: tuple[str, ...] | None = None
    caller_number_masked: bool | None = None
    refuses_product_outside_target: bool | None = None
    differential_b2b_terms: bool | None = None
    uses_profiling: bool | None = None
    large_scale_profiling: bool | None = None
    combines_datasets: bool | None = None
    automated_significant_decision: bool | None = None
    contest_route: str | None = None
    manipulative_design: bool | None = None
    art9_explicit_consent_only: bool | None = None
    dpia_reference: str | None = None
    professional_target: tuple[str, ...] | None = None
    study: dict[str, Any] | None = None
    data_categories: tuple[str, ...] | None = None
    special_categories: tuple[str, ...] | None = None
    retention_months: int | None = None
    parties: tuple[NamedParty, ...] | None = None

    def __post_init__(self) -> None:
        unknown = self.given - {f.name for f in dataclasses.fields(CampaignSpec)}
        if unknown:
            raise ValueError(f"not campaign fields: {', '.join(sorted(unknown))}")

    def as_json(self) -> dict[str, Any]:
        """Returns the changed fields in their stored form."""
        return {name: to_json(getattr(self, name)) for name in sorted(self.given)}


def to_json(value: Any) -> Any:
    """Returns a command value in JSON types: dataclasses as objects, enums as values, times in ISO-8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        text = value.isoformat()
        # Because the spec has always been stored as the API's JSON encoder writes it: UTC as "Z".
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


@dataclass(frozen=True)
class CreateCampaign:
    spec: CampaignSpec
    actor: str


@dataclass(frozen=True)
class ChangeCampaign:
    campaign_id: str
    changes: CampaignChanges
    actor: str


@dataclass(frozen=True)
class SubmitCampaign:
    campaign_id: str
    actor: str


@dataclass(frozen=True)
class ReviewCampaign:
    campaign_id: str
    actor: str
    approve: bool
    #: The rejection's reason (an approval is justified by its sign-offs, never by free text).
    justification: str | None = None
    sign_offs: tuple[review.SignOff, ...] = ()


@dataclass(frozen=True)
class ImportSuppressionEntries:
    list_name: str
    kind: SuppressionKind
    channel: Channel | None
    actor: str
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    blind_indexes: Sequence[str] = ()


@dataclass(frozen=True)
class CheckCampaign:
    campaign_id: str
    actor: str
    stale: bool
    stale_reason: str = ""
    #: Whom records published before the check, still unapplied, concern: contact ids, and blind
    #: indexes (objections) whose contacts the check resolves; those recipients are decided stale.
    stale_contacts: frozenset[str] = frozenset()
    stale_indexes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResumeCheck:
    """Resume a check that stopped before its end: decide, under the same check id, the recipients it
    holds no receipt for yet; `stale` is the projection's freshness now."""

    check_id: str
    actor: str
    stale: bool
    stale_reason: str = ""
    stale_contacts: frozenset[str] = frozenset()
    stale_indexes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProjectEvent:
    """One consumed contacts or consent record: its envelope and where it sits in its topic."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class ProjectEvents:
    """A polled batch of contacts and consent records, applied in one transaction: the decoded ones in
    the order they were polled, and where the undecodable ones sit (their offsets are recorded too)."""

    events: tuple[ProjectEvent, ...]
    #: (topic, partition, offset) of each record with no usable envelope (dead-lettered by the consumer).
    undecodable: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class ResetProjection:
    """Empties the projection before a rebuild from the topics (then consume with a new group)."""

    actor: str = "campaign-gate/rebuild"
