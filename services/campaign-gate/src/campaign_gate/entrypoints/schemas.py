"""Request and response bodies of the campaign-gate API (SPEC §4); unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from campaign_gate.domain.facts import Audience, Channel, SuppressionKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _text(limit: int) -> Any:
    return StringConstraints(max_length=limit)


#: Free-form fields are bounded so that a campaign, published whole in its events, stays a Kafka record.
Line = Annotated[str, _text(1000)]
Prose = Annotated[str, _text(10_000)]
Category = Annotated[str, _text(200)]
Categories = Annotated[list[Category], Field(max_length=500)]


class Message(_Strict):
    """The message: content the MSG-* rules read."""

    subject: Line = ""
    body: Annotated[str, _text(100_000)] = ""
    template_ref: Line | None = None
    unsubscribe_mechanism: Prose | None = None
    unsubscribe_free: bool = False
    right_to_object_statement: bool = False
    sender_identification: Prose | None = None
    offer_conditions: Prose | None = None
    is_promotional_offer: bool = False
    subject_related_to_offer: bool | None = None
    carries_art14_notice: bool = False
    objection_reminder: bool = False


class CallScript(_Strict):
    """What a telephone script says at the start of a call."""

    caller_identity: bool = False
    company_identity: bool = False
    commercial_nature: bool = False
    bloctel_mention: bool = False
    art14_information: bool = False


Profession = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PROFESSIONAL_TARGET_DOC = (
    'The professions or functions the message concerns (e.g. "pharmacien", "directeur achats"); '
    "compared, lower-cased, with each named professional's `profession` (contacts API): the B2B exception "
    "(ELEC-07) covers only messages related to the person's profession, others are blocked (ELEC-08)."
)


class Criterion(_Strict):
    """One targeting or offer-eligibility condition."""

    attribute: str = Field(min_length=1, max_length=200)
    operator: str = Field(min_length=1, max_length=32)
    value: Line | Annotated[list[Line], Field(max_length=1000)] = ""
    justification: Prose | None = None


Criteria = Annotated[list[Criterion], Field(max_length=200)]


class CampaignFields(_Strict):
    """Every field of a campaign; a PATCH sends any subset."""

    purpose_id: str = Field(min_length=1, max_length=64)
    channel: Channel
    sender_entity: str = Field(min_length=1, max_length=300)
    processor_id: Annotated[str, _text(64)] | None = None
    message: Message = Field(default_factory=Message)
    call_script: CallScript = Field(default_factory=CallScript)
    targeting: Criteria = Field(default_factory=list)
    offer_eligibility: Criteria = Field(default_factory=list)
    offer_generally_available: bool = True
    audience: Audience = Audience.B2C
    commercial: bool = True
    product_category: Category = ""
    analogous_categories: Categories = Field(default_factory=list)
    analogy_unclear_categories: Categories = Field(default_factory=list)
    complementary_categories: Categories = Field(default_factory=list)
    send_at: AwareDatetime
    caller_number_masked: bool = False
    refuses_product_outside_target: bool = False
    differential_b2b_terms: bool = False
    uses_profiling: bool = False
    large_scale_profiling: bool = False
    combines_datasets: bool = False
    automated_significant_decision: bool = False
    manipulative_design: bool = False
    art9_explicit_consent_only: bool = False
    dpia_reference: Line | None = None
    professional_target: list[Profession] = Field(
        default_factory=list, max_length=500, description=PROFESSIONAL_TARGET_DOC
    )


class CampaignPatch(_Strict):
    """A change to some fields of a campaign."""

    purpose_id: str | None = Field(None, min_length=1, max_length=64)
    channel: Channel | None = None
    sender_entity: str | None = Field(None, min_length=1, max_length=300)
    processor_id: Annotated[str, _text(64)] | None = None
    message: Message | None = None
    call_script: CallScript | None = None
    targeting: Criteria | None = None
    offer_eligibility: Criteria | None = None
    offer_generally_available: bool | None = None
    audience: Audience | None = None
    commercial: bool | None = None
    product_category: Category | None = None
    analogous_categories: Categories | None = None
    analogy_unclear_categories: Categories | None = None
    complementary_categories: Categories | None = None
    send_at: AwareDatetime | None = None
    caller_number_masked: bool | None = None
    refuses_product_outside_target: bool | None = None
    differential_b2b_terms: bool | None = None
    uses_profiling: bool | None = None
    large_scale_profiling: bool | None = None
    combines_datasets: bool | None = None
    automated_significant_decision: bool | None = None
    manipulative_design: bool | None = None
    art9_explicit_consent_only: bool | None = None
    dpia_reference: Line | None = None
    professional_target: list[Profession] | None = Field(
        None, max_length=500, description=PROFESSIONAL_TARGET_DOC
    )


class SignOffGrounds(BaseModel):
    """What a sign-off of this finding's rule must give."""

    bases: list[str] = Field(description="The grounds this rule can be signed off on; `basis` is one.")
    reference_required: bool = Field(description="Whether `reference` must name a supporting document.")
    min_explanation: int = Field(description="The shortest `explanation` accepted, in characters.")


class Finding(BaseModel):
    rule: str
    severity: Literal["block", "needs_review", "info"]
    message: str
    evidence: list[str] = []
    sign_off: SignOffGrounds | None = Field(
        None, description="For a needs-review finding: what the reviewer's sign-off of its rule must give."
    )


class CampaignRead(BaseModel):
    id: str
    status: str
    version: int
    spec: dict[str, Any]
    findings: list[Finding]
    review: dict[str, Any] | None
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    """Campaigns, last changed first."""

    items: list[CampaignRead]


class ReviewDecision(_Strict):
    """A reviewer's rejection, with its reason."""

    justification: str | None = Field(None, max_length=5000, description="Why the campaign is rejected.")


class SignOff(_Strict):
    """A reviewer's structured justification of every needs-review finding of one rule."""

    rule: str = Field(min_length=1, max_length=32, description="The rule id of the needs-review findings.")
    basis: str = Field(
        min_length=1,
        max_length=100,
        description="One of the grounds the rule allows (listed in each finding's `sign_off.bases`).",
    )
    explanation: str = Field(
        max_length=5000, description="Why the basis holds for this campaign, in at least 40 characters."
    )
    reference: str | None = Field(
        None,
        max_length=500,
        description="The supporting document (DPIA, legal note, contract…); required where "
        "`sign_off.reference_required`.",
    )


class ApprovalDecision(_Strict):
    """A reviewer's approval: one sign-off per rule with needs-review findings (free text never suffices)."""

    sign_offs: list[SignOff] = Field(
        default_factory=list,
        max_length=200,
        description="One sign-off per rule id with needs-review findings; it covers each of its findings.",
    )


class CheckRequest(_Strict):
    """The recipients of a JSON check (NDJSON streams them instead, one per line)."""

    contact_ids: list[Annotated[str, _text(64)]] = Field(min_length=1, max_length=100_000)


class Reason(BaseModel):
    rule: str
    message: str


class Receipt(BaseModel):
    contact_id: str
    decision: Literal["allow", "block", "needs_review"]
    reasons: list[Reason]
    evidence: list[str]


class CheckStatus(BaseModel):
    """A check's progress: `running` until its last batch committed (a check that stopped before its end
    stays `running`), then `finished`; `recipients` and `summary` count the receipts stored so far."""

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    stale: bool
    checked_at: datetime
    state: Literal["running", "finished"]
    recipients: int
    summary: dict[str, int]


class CheckRead(BaseModel):
    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    stale: bool
    summary: dict[str, int]
    recipients: list[Receipt]


class SuppressionImport(_Strict):
    """Raw e-mails and phones (hashed on import, never stored) and/or blind indexes."""

    kind: SuppressionKind = SuppressionKind.OPPOSITION
    channel: Channel | None = None
    emails: list[Annotated[str, _text(320)]] = Field(default_factory=list, max_length=1_000_000)
    phones: list[Annotated[str, _text(40)]] = Field(default_factory=list, max_length=1_000_000)
    blind_indexes: list[Annotated[str, _text(128)]] = Field(default_factory=list, max_length=1_000_000)


class SuppressionImportRead(BaseModel):
    list: str
    kind: str
    channel: str | None
    import_id: str
    imported_at: datetime
    entries: int


class SuppressionListRead(BaseModel):
    name: str
    kind: str
    channel: str | None
    created_at: datetime
    last_imported_at: datetime | None
    entries: int


# --- Receipts as Merkle chunks ---------------------------------------------------------------------


class ReceiptChunk(BaseModel):
    """A chunk of a check's receipts: its place in the check, its tree size and root, and its event."""

    number: int
    first_index: int
    count: int
    root: str = Field(description="hex SHA-256 root of the RFC 9162 tree over the chunk's receipts")
    event_id: str = Field(description="the chunk event's id: GET /v1/entries?event_id=… on audit-log")
    event_type: str


class CommittedChunk(ReceiptChunk):
    at: str


class CheckChunks(BaseModel):
    """A check's receipt chunks, one audit-log entry each; `receipts` is the sum of their counts."""

    check_id: str
    receipts: int
    chunks: list[CommittedChunk]


class ReceiptProof(Receipt):
    """One receipt, its canonical bytes and its inclusion proof into its chunk's root."""

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    at: str
    canonical: str = Field(description="base64 of the bytes the leaf hashes (sorted-key JSON)")
    leaf_hash: str
    index: int = Field(description="the receipt's leaf index in its chunk")
    inclusion_proof: list[str] = Field(description="RFC 9162 audit path, hex, leaf first")
    chunk: ReceiptChunk


class PersonReceipt(Receipt):
    """A receipt naming a person, with its check (prove it with GET /v1/checks/{check_id}/receipts/…)."""

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    checked_at: str
    chunk: int | None
    chunk_index: int | None


class PersonReceipts(BaseModel):
    contact_id: str
    receipts: list[PersonReceipt]
