"""Request and response bodies of the campaign-gate API (SPEC §4); unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from campaign_gate.domain import facts as domain_facts
from campaign_gate.domain.facts import Audience, Channel, SendRole, SuppressionKind


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


CriterionGround = Literal[
    "loi_2008_496_legitimate_aim_necessary_means",
    "c_pen_225_3_4_victim_protection",
    "c_pen_225_3_4_privacy_and_decency",
    "c_pen_225_3_4_gender_equality",
    "c_pen_225_3_4_freedom_of_association",
    "c_pen_225_3_4_sport",
    "c_pen_225_3_6_residence_manifest_danger",
    "delivery_or_service_area",
    "regulatory_restriction",
    "objective_business_reason",
]


class CriterionJustification(_Strict):
    """The documented exception a criterion on a protected characteristic rests on (DISC-01, DISC-05)."""

    ground: CriterionGround
    explanation: str = Field(min_length=40, max_length=10_000, description="Why the ground holds here.")


class Criterion(_Strict):
    """One targeting or offer-eligibility condition."""

    attribute: str = Field(min_length=1, max_length=200)
    operator: str = Field(min_length=1, max_length=32)
    value: Line | Annotated[list[Line], Field(max_length=1000)] = ""
    justification: CriterionJustification | None = Field(
        None,
        description="Why a criterion on a protected characteristic is lawful: a ground the DISC review "
        "accepts and an explanation (free text alone documents nothing; issue 19).",
    )


Criteria = Annotated[list[Criterion], Field(max_length=200)]

# --- Issue 19: the per-operation study (the source article's déployer stage) ---------------------------

Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
STUDY_DOC = (
    "The per-operation study: one structured answer per question (target, message, offer, partners, "
    "tracking). An unanswered question blocks the review (STUDY-01..05); each answer is signed off by the "
    "reviewer in the approval (a sign-off per STUDY rule). Changing an answer makes it a new one to sign."
)


class StudyTarget(_Strict):
    """Who the operation targets, on which criteria, and why those criteria."""

    population: Answer = Field(description="Who is targeted (e.g. customers who bought shoes in 2026).")
    criteria: list[Name] = Field(
        default_factory=list, max_length=200, description="The attributes the segment selects on."
    )
    criteria_reason: Answer = Field(description="Why these criteria: the objective reason for each.")
    excludes_protected_group: bool = Field(
        False, description="Whether the segment leaves out people by a protected criterion (DISC-05)."
    )
    may_reach_minors: bool = Field(False, description="Whether minors may be among the recipients.")


class StudyMessage(_Strict):
    """What the message says and promises."""

    summary: Answer = Field(description="What the message says and offers, in a few sentences.")
    claims_substantiated: bool = Field(description="Whether every claim of the message can be proven.")
    mentions_price_or_discount: bool = False


class StudyOffer(_Strict):
    """The offer's conditions: open to all, reserved to the target, or refused to others (L121-11)."""

    conditions: Answer = Field(description="The offer's conditions as the message states them.")
    reserved_to_target: bool = Field(description="Whether only the target can obtain the promotion.")
    refuses_product_outside_target: bool = Field(
        False,
        description="Whether consumers outside the target are refused the product itself, not only the "
        "promotion (a refusal of sale unless `refusal_reason` is legitimate: SALE-01).",
    )
    refusal_reason: domain_facts.RefusalReason | None = Field(
        None, description="The legitimate reason for the refusal; only with refuses_product_outside_target."
    )

    @pydantic.model_validator(mode="after")
    def _refusal(self) -> StudyOffer:
        if self.refusal_reason is not None and not self.refuses_product_outside_target:
            raise ValueError("refusal_reason: only when refuses_product_outside_target is true")
        if self.refuses_product_outside_target and not self.reserved_to_target:
            raise ValueError("refuses_product_outside_target: only for an offer reserved_to_target")
        return self


class Partner(_Strict):
    """A partner recipients' data is rented or transferred to, and its category (as consents name them)."""

    name: Name
    category: Name


class StudyPartners(_Strict):
    """Whether recipients' data is rented or transferred to partners, how, and to whom."""

    transfers: bool = Field(description="Whether recipients' data is rented or transferred to partners.")
    mode: domain_facts.TransferMode | None = Field(
        None,
        description="routed_by_us (the partner's message sent by us, no data leaves) or transferred (the "
        "partner receives the data); required when transfers.",
    )
    partners: list[Partner] = Field(default_factory=list, max_length=200)
    partner_informs_art14: bool = Field(
        False,
        description="Whether each partner receiving the data gives the recipients the Art. 14 information at "
        "its first communication (RENT-02).",
    )

    @pydantic.model_validator(mode="after")
    def _transfers(self) -> StudyPartners:
        if self.transfers and (not self.partners or self.mode is None):
            raise ValueError("partners, mode: a transfer names its partners and its mode")
        if not self.transfers and (self.partners or self.mode is not None or self.partner_informs_art14):
            raise ValueError("partners, mode, partner_informs_art14: only when transfers is true")
        return self


class StudyTracking(_Strict):
    """Whether the e-mails carry opening pixels or tracked links, and whether they follow each recipient."""

    opening_pixels: bool
    tracked_links: bool = False
    per_recipient: bool = Field(
        False, description="Whether an opening or a click is tied to the recipient (TRACK-01: consent)."
    )
    provider: Name | None = Field(None, description="Who measures (the tracking provider), if not us.")

    @pydantic.model_validator(mode="after")
    def _tracked(self) -> StudyTracking:
        if self.per_recipient and not (self.opening_pixels or self.tracked_links):
            raise ValueError("per_recipient: only with opening_pixels or tracked_links")
        return self


class Study(_Strict):
    """The per-operation study: each question answered (null: not yet)."""

    target: StudyTarget | None = None
    message: StudyMessage | None = None
    offer: StudyOffer | None = None
    partners: StudyPartners | None = None
    tracking: StudyTracking | None = None


# --- Issue 19: what the campaign uses, held to its register entry, and the parties it runs through.

#: The CNIL register template's data-category groups (consent's `data_categories` keys).
DataCategory = Literal[
    "identity",
    "personal_life",
    "professional_life",
    "economic_financial",
    "connection",
    "location",
    "internet",
    "other",
]
#: GDPR Art. 9(1)'s categories, as `criteria.GDPR_ART9_CATEGORIES` names them (a test keeps both equal).
SpecialCategory = Literal[
    "racial_or_ethnic_origin",
    "political_opinions",
    "religious_or_philosophical_beliefs",
    "trade_union_membership",
    "genetic_data",
    "biometric_data_unique_id",
    "health_data",
    "sex_life",
    "sexual_orientation",
]
DATA_CATEGORIES_DOC = (
    "The register template's data-category groups the campaign uses (identity, personal_life, "
    "professional_life, economic_financial, connection, location, internet, other); each must be declared "
    "by the purpose's register entry (REG-02). The targeting's attributes suggest more (asked for review)."
)
SPECIAL_CATEGORIES_DOC = (
    "The Art. 9 categories the campaign uses (health_data, religious_or_philosophical_beliefs, …); the "
    "register entry must say it processes sensitive data (REG-03)."
)
RETENTION_DOC = (
    "How long, in months, the campaign keeps the data it uses; at most the register entry's (REG-05)."
)
PARTIES_DOC = (
    "Every party the sends run through, each a party of consent's register (`party_id`) and the role it "
    "plays here; each is checked for a contract in force with the clauses and terms its role requires "
    "(PAR-01..05) and for its link to the purpose's register entry (REG-04)."
)


class NamedParty(_Strict):
    """A party a campaign runs through and the role it plays on the sends."""

    party_id: str = Field(min_length=1, max_length=64, description="The party's id in consent's register.")
    role: SendRole


def _distinct_parties(parties: list[NamedParty] | None) -> list[NamedParty] | None:
    if parties is not None:
        seen = [(p.party_id, p.role) for p in parties]
        if len(seen) != len(set(seen)):
            raise ValueError("each (party_id, role) may be named once")
    return parties


Parties = Annotated[list[NamedParty], Field(max_length=50), AfterValidator(_distinct_parties)]


#: Art. 22(3): where the person contests the campaign's automated decision and obtains a human's review.
CONTEST_ROUTE_DOC = (
    "Where a person contests the campaign's solely automated decision and obtains human intervention "
    "(Art. 22(3) GDPR), as the message tells them: e.g. contacts' contestation requests "
    "(POST /v1/requests, kind contestation) behind a form, an address, a page. Required when "
    "automated_significant_decision is true (RIGHTS-02)."
)


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
    contest_route: Line | None = Field(None, description=CONTEST_ROUTE_DOC)
    manipulative_design: bool = False
    art9_explicit_consent_only: bool = False
    dpia_reference: Line | None = None
    professional_target: list[Profession] = Field(
        default_factory=list, max_length=500, description=PROFESSIONAL_TARGET_DOC
    )
    study: Study | None = Field(None, description=STUDY_DOC)
    data_categories: list[DataCategory] = Field(
        default_factory=list, max_length=8, description=DATA_CATEGORIES_DOC
    )
    special_categories: list[SpecialCategory] = Field(
        default_factory=list, max_length=9, description=SPECIAL_CATEGORIES_DOC
    )
    retention_months: int | None = Field(None, ge=1, le=1200, description=RETENTION_DOC)
    parties: Parties = Field(default_factory=list, description=PARTIES_DOC)


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
    contest_route: Line | None = Field(None, description=CONTEST_ROUTE_DOC)
    manipulative_design: bool | None = None
    art9_explicit_consent_only: bool | None = None
    dpia_reference: Line | None = None
    professional_target: list[Profession] | None = Field(
        None, max_length=500, description=PROFESSIONAL_TARGET_DOC
    )
    study: Study | None = Field(None, description=STUDY_DOC)
    data_categories: list[DataCategory] | None = Field(None, max_length=8, description=DATA_CATEGORIES_DOC)
    special_categories: list[SpecialCategory] | None = Field(
        None, max_length=9, description=SPECIAL_CATEGORIES_DOC
    )
    retention_months: int | None = Field(None, ge=1, le=1200, description=RETENTION_DOC)
    parties: Parties | None = Field(None, description=PARTIES_DOC)


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
