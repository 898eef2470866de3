"""HTTP schemas of consent (request and response bodies only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator
from shared.web import MAX_INTEGER

from consent.domain.breaches import (
    BreachNature,
    ClockState,
    CommunicationExemption,
    CommunicationMeans,
    RiskLevel,
)
from consent.domain.contract_terms import ConfidentialityInstrument, Owner, Work
from consent.domain.model import (
    AFFIRMATIVE_ACTS,
    ALL_DIRECT_MARKETING,
    Channel,
    CollectionMethod,
    CollectorKind,
    ConsentAct,
    DataCategory,
    GivenBy,
    LawfulBasis,
    TransferSafeguard,
)
from consent.domain.parties import PartyRole, PartyStatus
from consent.domain.processors import Authorisation, ProcessorRole, ProcessorStatus, TransferMechanism


def _past_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return value


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=300)]
Country = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
PastDatetime = Annotated[AwareDatetime, AfterValidator(_past_datetime)]
BlindIndex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def refuse_nulls(model: BaseModel, nullable: frozenset[str]) -> None:
    """Raises when a PATCH body sets to null a field that cannot be cleared."""
    nulled = sorted(
        name for name in model.model_fields_set if getattr(model, name) is None and name not in nullable
    )
    if nulled:
        raise ValueError(f"cannot be null: {', '.join(nulled)}")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- Purposes.


class Party(_In):
    """A named organisation or person with how to reach them."""

    name: Short
    contact: Text


class TransferIn(_In):
    """A transfer outside the EU/EEA and its safeguard."""

    recipient: Short
    country: Country
    safeguard: TransferSafeguard
    documentation: Text | None = None


class SecurityMeasuresIn(_In):
    """Security measures, in the CNIL template's groups."""

    access_control: Annotated[str, Field(max_length=2000)] = ""
    traceability: Annotated[str, Field(max_length=2000)] = ""
    software_protection: Annotated[str, Field(max_length=2000)] = ""
    backup: Annotated[str, Field(max_length=2000)] = ""
    encryption: Annotated[str, Field(max_length=2000)] = ""
    processor_control: Annotated[str, Field(max_length=2000)] = ""
    other: Annotated[str, Field(max_length=2000)] = ""


class PurposeCreate(_In):
    """A new register entry (Art. 30)."""

    purpose_id: Id | None = None
    name: Short
    controller: Party
    dpo: Party | None = None
    description: Text
    lawful_basis: LawfulBasis
    legitimate_interest: Text | None = None
    data_categories: dict[DataCategory, Annotated[list[Short], Field(max_length=100)]] = Field(
        default_factory=dict
    )
    special_categories: bool = False
    special_categories_detail: list[Short] = Field(default_factory=list, max_length=50)
    data_subjects: list[Short] = Field(default_factory=list, max_length=50)
    recipients_internal: list[Short] = Field(default_factory=list, max_length=50)
    recipients_external: list[Short] = Field(default_factory=list, max_length=50)
    processor_ids: list[Id] = Field(default_factory=list, max_length=100)
    retention: dict[Annotated[str, Field(max_length=100)], Text] = Field(default_factory=dict, max_length=50)
    transfers: list[TransferIn] = Field(default_factory=list, max_length=50)
    security_measures: SecurityMeasuresIn | None = None
    dpia_required: bool = False
    joint_controller: Party | None = None
    software: Short | None = None
    art14_exemption_claimed: bool = Field(
        False,
        description=(
            "The Art. 14(5)(b) exemption (informing the people is impossible or would need disproportionate "
            "effort) is claimed for data not obtained from them; the gate asks for review (INFO-03)."
        ),
    )
    art14_exemption_ground: Text | None = Field(
        None,
        description=("Why informing the people is impossible or disproportionate; required with the claim."),
    )
    channels: list[Channel] = Field(
        default_factory=list,
        max_length=7,
        description=(
            "The channels the processing uses; the gate blocks a campaign on another channel (REG-01). "
            "Empty: the entry does not say, and the channel is not checked."
        ),
    )
    retention_months: int | None = Field(
        None,
        ge=1,
        le=1200,
        description=(
            "The longest time, in months, the data used for the purpose is kept (the CNIL's reference for "
            "prospects is 36); the gate blocks a campaign that declares a longer one (REG-05)."
        ),
    )
    profiling: bool = Field(
        False,
        description=(
            "The processing profiles people (Art. 4(4)); the gate then requires a DPIA reference (REG-06)."
        ),
    )
    dpia_reference: Short | None = Field(
        None, description="The reference of the DPIA carried out for the processing (Art. 35)."
    )

    @model_validator(mode="after")
    def _ground_with_claim(self) -> PurposeCreate:
        if self.art14_exemption_claimed and not self.art14_exemption_ground:
            raise ValueError("art14_exemption_ground: required when art14_exemption_claimed is true")
        return self


class PurposeUpdate(_In):
    """Fields to change on a register entry: the changed ones make its next version (PATCH)."""

    name: Short | None = None
    controller: Party | None = None
    dpo: Party | None = None
    description: Text | None = None
    lawful_basis: LawfulBasis | None = None
    legitimate_interest: Text | None = None
    data_categories: dict[DataCategory, Annotated[list[Short], Field(max_length=100)]] | None = None
    special_categories: bool | None = None
    special_categories_detail: list[Short] | None = Field(None, max_length=50)
    data_subjects: list[Short] | None = Field(None, max_length=50)
    recipients_internal: list[Short] | None = Field(None, max_length=50)
    recipients_external: list[Short] | None = Field(None, max_length=50)
    processor_ids: list[Id] | None = Field(None, max_length=100)
    retention: dict[Annotated[str, Field(max_length=100)], Text] | None = Field(None, max_length=50)
    transfers: list[TransferIn] | None = Field(None, max_length=50)
    security_measures: SecurityMeasuresIn | None = None
    dpia_required: bool | None = None
    joint_controller: Party | None = None
    software: Short | None = None
    art14_exemption_claimed: bool | None = Field(
        None,
        description=(
            "The Art. 14(5)(b) exemption is claimed (true) or no longer claimed (false); see PurposeCreate."
        ),
    )
    art14_exemption_ground: Text | None = Field(
        None,
        description=("Why informing the people is impossible or disproportionate; required with the claim."),
    )
    channels: list[Channel] | None = Field(None, max_length=7, description="See PurposeCreate.")
    retention_months: int | None = Field(None, ge=1, le=1200, description="See PurposeCreate.")
    profiling: bool | None = Field(None, description="See PurposeCreate.")
    dpia_reference: Short | None = Field(None, description="See PurposeCreate.")

    @model_validator(mode="after")
    def _no_null_required(self) -> PurposeUpdate:
        refuse_nulls(
            self,
            frozenset(
                {
                    "dpo",
                    "legitimate_interest",
                    "joint_controller",
                    "software",
                    "security_measures",
                    "art14_exemption_ground",
                    "retention_months",
                    "dpia_reference",
                }
            ),
        )
        return self


class PartyRead(_Out):
    """A party as stored."""

    name: str
    contact: str


class TransferRead(_Out):
    """A transfer as stored."""

    recipient: str
    country: str
    safeguard: TransferSafeguard
    documentation: str | None


class SecurityMeasuresRead(_Out):
    """Security measures as stored."""

    access_control: str
    traceability: str
    software_protection: str
    backup: str
    encryption: str
    processor_control: str
    other: str


class PurposeVersionRead(_Out):
    """One version of a register entry."""

    version: int
    valid_from: datetime
    valid_to: datetime | None
    name: str
    controller: PartyRead
    dpo: PartyRead | None
    description: str
    lawful_basis: LawfulBasis
    legitimate_interest: str | None
    data_categories: dict[DataCategory, list[str]]
    special_categories: bool
    special_categories_detail: list[str]
    data_subjects: list[str]
    recipients_internal: list[str]
    recipients_external: list[str]
    processor_ids: list[str]
    retention: dict[str, str]
    transfers: list[TransferRead]
    security_measures: SecurityMeasuresRead
    dpia_required: bool
    joint_controller: PartyRead | None
    software: str | None
    art14_exemption_claimed: bool
    art14_exemption_ground: str | None
    channels: list[Channel] = []
    retention_months: int | None = None
    profiling: bool = False
    dpia_reference: str | None = None


class PurposeRead(BaseModel):
    """A register entry with its whole version history."""

    purpose_id: str
    current_version: int | None
    versions: list[PurposeVersionRead]


class PurposeList(BaseModel):
    """The register's entries."""

    items: list[PurposeRead]
    next_cursor: str | None = None


# --- Notices.


class NoticeCreate(_In):
    """A notice to check and publish: a new one, or the next version of `notice_id`."""

    notice_id: Id | None = None
    language: Annotated[str, Field(min_length=2, max_length=16)]
    article: Literal["13", "14"]
    purpose_ids: list[Id] = Field(min_length=1, max_length=100)
    content: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=20000)]] = Field(
        max_length=50
    )
    not_applicable: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=50)


class NoticeRead(_Out):
    """A published notice version."""

    notice_id: str
    version: int
    language: str
    article: str
    purpose_ids: list[str]
    not_applicable: list[str]
    content_hash: str | None
    published_at: datetime | None


class DeliveryCreate(_In):
    """The delivery of a notice to a contact."""

    contact_id: Id
    channel: Annotated[str, Field(min_length=1, max_length=32)]
    notice_version: Annotated[int, Field(ge=1, le=MAX_INTEGER)] | None = None
    delivered_at: PastDatetime | None = None
    evidence: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20
    )


class DeliveryRead(_Out):
    """A recorded notice delivery."""

    delivery_id: str
    contact_id: str
    notice_id: str
    notice_version: int
    content_hash: str
    channel: str
    delivered_at: datetime
    evidence: dict[str, str]


# --- Consents.


class ProofIn(_In):
    """What demonstrates the consent (Art. 7(1)); a full IP address is truncated before storage."""

    captured_at: PastDatetime
    source: Short
    ip: Annotated[str, Field(max_length=128)] | None = None
    user_agent: Annotated[str, Field(max_length=500)] | None = None


class CollectorIn(_In):
    """Who collected the consent (a partner or broker must be named)."""

    kind: CollectorKind = CollectorKind.FIRST_PARTY
    name: Short | None = None
    partner_list_shown: list[Short] = Field(default_factory=list, max_length=500)


class TermsIn(_In):
    """How the consent was given. Consent derives the stored terms from it; nothing is assumed (the gate
    blocks what is not shown), and a claim that contradicts what was entered is refused (422)."""

    act: ConsentAct | None = Field(
        None,
        description=(
            "What the person did: ticked_box (a box shown unticked), clicked_button, signed, said_yes, "
            "replied_yes give a positive act; pre_ticked_box, bundled_with_terms and inactivity do not "
            "(Art. 4(11), Planet49)."
        ),
    )
    positive_act: bool | None = Field(
        None,
        description=(
            "The collector's own statement of a positive act, used only when `act` is not given; "
            "refused when it contradicts `act`."
        ),
    )
    withdrawal_statement: Annotated[str, Field(max_length=2000)] | None = Field(
        None,
        description=(
            "The sentence shown before consenting that says consent can be withdrawn (and how), "
            "when it is not in `wording`."
        ),
    )
    withdrawal_info_given: bool | None = Field(
        None,
        description=(
            "Derived: true when `wording`, `withdrawal_statement` or the cited notice (published, for this "
            "purpose, stating right_to_withdraw_consent) tells the person consent can be withdrawn "
            "(INFO-04). A true claim that none of them bears out is refused."
        ),
    )
    explicit: bool = Field(False, description="An explicit consent (Art. 9(2)(a)); needs a positive act.")
    given_by: list[GivenBy] = Field(
        default_factory=lambda: [GivenBy.DATA_SUBJECT],
        min_length=1,
        max_length=2,
        description="The person, and/or a holder of parental authority (UNI-09).",
    )

    @model_validator(mode="after")
    def _act_and_claim_agree(self) -> TermsIn:
        if (
            self.act is not None
            and self.positive_act is not None
            and self.positive_act != (self.act in AFFIRMATIVE_ACTS)
        ):
            raise ValueError(f"positive_act contradicts act {self.act.value!r}")
        return self


class TermsRead(_Out):
    """How the consent was given, as consent derived it from what was entered."""

    positive_act: bool
    withdrawal_info_given: bool
    explicit: bool
    given_by: list[GivenBy]
    act: ConsentAct | None = None
    withdrawal_statement: str | None = None


#: A partner's or partner category's name as entered on a consent.
PartnerName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]


class ConsentCreate(_In):
    """A consent as collected."""

    contact_id: Id
    purpose_id: Id
    channel: Channel
    collection_method: CollectionMethod
    wording: Annotated[str, Field(min_length=1, max_length=5000)]
    proof: ProofIn
    notice_id: Id | None = None
    notice_version: Annotated[int, Field(ge=1, le=MAX_INTEGER)] | None = None
    collector: CollectorIn | None = None
    double_opt_in: bool | None = None
    terms: TermsIn = Field(default_factory=TermsIn)
    out_of_hours_calls: bool = Field(
        False,
        description=(
            "The person's express consent to be called outside the D223-9 slots; "
            "only for channel phone_human."
        ),
    )
    partners: list[PartnerName] = Field(
        default_factory=list,
        max_length=200,
        description=(
            "The partners, by name, the person agreed their data may be transferred or rented to (the list "
            "shown at collection); a campaign transferring data to a partner needs it named here or its "
            "category in `partner_categories` (RENT-01)."
        ),
    )
    partner_categories: list[PartnerName] = Field(
        default_factory=list,
        max_length=50,
        description="The categories of partners the person agreed their data may go to (e.g. `insurance`).",
    )
    email_tracking: bool = Field(
        False,
        description=(
            "The person's consent to per-recipient tracking of the e-mails (opening pixels, tracked links; "
            "Art. 82 loi Informatique et Libertés, TRACK-01); only for channel email."
        ),
    )

    @model_validator(mode="after")
    def _out_of_hours_only_by_phone(self) -> ConsentCreate:
        if self.out_of_hours_calls and self.channel is not Channel.PHONE_HUMAN:
            raise ValueError(
                "out_of_hours_calls: only a phone_human consent can cover calls outside the D223-9 slots"
            )
        if self.email_tracking and self.channel is not Channel.EMAIL:
            raise ValueError("email_tracking: only an email consent can cover e-mail tracking")
        return self


class WithdrawalCreate(_In):
    """A withdrawal; `source` says where the person withdrew (link, reply STOP, call…)."""

    source: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class CollectorRead(_Out):
    """The collector as stored."""

    kind: CollectorKind
    name: str | None
    partner_list_shown: list[str]


class ProofRead(_Out):
    """Proof metadata as stored."""

    captured_at: datetime
    source: str
    ip: str | None
    user_agent: str | None


class ConsentRead(_Out):
    """A consent record; withdrawn ones stay with both their times."""

    consent_id: str
    contact_id: str
    purpose_id: str
    purpose_version: int
    channel: Channel
    status: str
    collection_method: CollectionMethod
    wording: str
    notice_id: str | None
    notice_version: int | None
    collector: CollectorRead
    proof: ProofRead
    double_opt_in: bool
    requested_at: datetime
    granted_at: datetime | None
    confirmed_at: datetime | None
    withdrawn_at: datetime | None
    withdrawal_source: str | None
    terms: TermsRead
    out_of_hours_calls: bool
    partners: list[str] = []
    partner_categories: list[str] = []
    email_tracking: bool = False


# --- Objections.


#: The scopes an objection takes; a channel's name is the former form of scope `channel` on that channel.
ObjectionScopeName = Literal[
    "all_direct_marketing",
    "all",
    "channel",
    "purpose",
    "email",
    "sms_mms",
    "automated_call",
    "fax",
    "phone_human",
    "postal_addressed",
    "postal_unaddressed",
]


class ObjectionCreate(_In):
    """An objection to direct marketing (an unsubscribe); e-mail and phone only serve to compute blind
    indexes.

    `scope`: `all_direct_marketing` (or `all`: every channel and purpose; the default, a plain unsubscribe
    link's), `channel` (with `channel`: that channel, every purpose) or `purpose` (with `purpose_id`: that
    register purpose, every channel). A channel given as the scope itself means scope `channel`.
    """

    scope: ObjectionScopeName = ALL_DIRECT_MARKETING
    channel: Channel | None = None
    purpose_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    contact_id: Id | None = None
    email: EmailStr | None = None
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    blind_indexes: list[BlindIndex] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _someone(self) -> ObjectionCreate:
        if not (self.contact_id or self.email or self.phone or self.blind_indexes):
            raise ValueError("give a contact_id, an email, a phone or blind_indexes")
        return self


class ObjectionRead(_Out):
    """A recorded objection."""

    objection_id: str
    contact_id: str | None
    scope: str = Field(description="all_direct_marketing, channel or purpose")
    channel: str | None = Field(default=None, description="the channel objected to (scope channel)")
    purpose_id: str | None = Field(
        default=None, description="the register purpose objected to (scope purpose)"
    )
    at: datetime
    blind_indexes: list[str]
    reason: str = Field(description="objection (the person objected) or erasure (kept at an erasure)")


class ObjectionMatchQuery(_In):
    """Blind indexes to match against the objection list (a re-import check, UNI-02)."""

    blind_indexes: list[BlindIndex] = Field(min_length=1, max_length=1000)


class ObjectionMatches(BaseModel):
    """The objections that match: any of them blocks direct marketing to that person (UNI-01, UNI-02)."""

    matched_blind_indexes: list[str]
    items: list[ObjectionRead]
    next_cursor: str | None = None


class Art14StatusRead(_Out):
    """A contact's Art. 14 deadline (INFO-02) and the first Art. 14 notice delivered to it."""

    contact_id: str
    deadline: datetime
    delivered_at: datetime | None
    delivery_id: str | None
    met: bool
    overdue: bool


class ContactConsents(BaseModel):
    """What consent holds about one contact."""

    contact_id: str
    consents: list[ConsentRead]
    deliveries: list[DeliveryRead]
    objections: list[ObjectionRead]


# --- Processors.


class ContractIn(_In):
    """The contract with a vendor and its Art. 28(3) checklist."""

    reference: Short
    signed_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    clauses: dict[Annotated[str, Field(max_length=100)], bool] = Field(default_factory=dict, max_length=50)
    scc_2021_915: bool = False


class SubProcessorIn(_In):
    """A sub-processor and our prior authorisation of it."""

    name: Short
    country: Country
    authorisation: Authorisation = Authorisation.NONE
    authorised_at: AwareDatetime | None = None
    transfer_mechanism: TransferMechanism | None = None
    objection_window_days: Annotated[int, Field(ge=0, le=365)] | None = None


class LocationIn(_In):
    """Where the vendor stores, accesses or supports our data."""

    country: Country
    activity: Annotated[str, Field(min_length=1, max_length=100)] = "storage"


class ProcessorCreate(_In):
    """A vendor to register."""

    legal_name: Short
    role: ProcessorRole
    status: ProcessorStatus = ProcessorStatus.ACTIVE
    contact: Annotated[str, Field(max_length=2000)] = ""
    dpo_contact: Text | None = None
    registration_id: Short | None = None
    purpose_ids: list[Id] = Field(default_factory=list, max_length=100)
    contract: ContractIn | None = None
    sub_processors: list[SubProcessorIn] = Field(default_factory=list, max_length=100)
    locations: list[LocationIn] = Field(default_factory=list, max_length=100)
    transfer_mechanism: TransferMechanism | None = None
    tia_done_at: AwareDatetime | None = None


class ProcessorUpdate(_In):
    """Fields to change on a vendor (PATCH: absent fields stay as they are)."""

    legal_name: Short | None = None
    role: ProcessorRole | None = None
    status: ProcessorStatus | None = None
    contact: Annotated[str, Field(max_length=2000)] | None = None
    dpo_contact: Text | None = None
    registration_id: Short | None = None
    purpose_ids: list[Id] | None = Field(None, max_length=100)
    contract: ContractIn | None = None
    sub_processors: list[SubProcessorIn] | None = Field(None, max_length=100)
    locations: list[LocationIn] | None = Field(None, max_length=100)
    transfer_mechanism: TransferMechanism | None = None
    tia_done_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> ProcessorUpdate:
        refuse_nulls(
            self,
            frozenset({"dpo_contact", "registration_id", "contract", "transfer_mechanism", "tia_done_at"}),
        )
        return self


class ContractRead(_Out):
    """A contract as stored."""

    reference: str
    signed_at: datetime | None
    expires_at: datetime | None
    clauses: dict[str, bool]
    scc_2021_915: bool


class SubProcessorRead(_Out):
    """A sub-processor as stored."""

    name: str
    country: str
    authorisation: Authorisation
    authorised_at: datetime | None
    transfer_mechanism: TransferMechanism | None
    objection_window_days: int | None


class LocationRead(_Out):
    """A location as stored."""

    country: str
    activity: str


class ProcessorRead(_Out):
    """A vendor with what keeps it from being usable now (`gaps`)."""

    processor_id: str
    legal_name: str
    role: ProcessorRole
    status: ProcessorStatus
    contact: str
    dpo_contact: str | None
    registration_id: str | None
    purpose_ids: list[str]
    contract: ContractRead | None
    sub_processors: list[SubProcessorRead]
    locations: list[LocationRead]
    transfer_mechanism: TransferMechanism | None
    tia_done_at: datetime | None
    gaps: list[str] = Field(default_factory=list)
    usable: bool = False


class ProcessorList(BaseModel):
    """The vendor registry."""

    items: list[ProcessorRead]
    next_cursor: str | None = None


# --- Parties and their contracts.


class PartyCreate(_In):
    """A party to the deployment: who it is, its roles and what it touches."""

    legal_name: Short
    roles: list[PartyRole] = Field(min_length=1, max_length=7)
    registration_id: Short | None = None
    contact: Annotated[str, Field(max_length=2000)] = ""
    purpose_ids: list[Id] = Field(default_factory=list, max_length=100)
    data_categories: list[Short] = Field(default_factory=list, max_length=50)
    systems: list[Short] = Field(default_factory=list, max_length=50)
    processor_id: Id | None = None
    broker_last_verified_at: PastDatetime | None = None
    status: PartyStatus = PartyStatus.ACTIVE


class PartyUpdate(_In):
    """Fields to change on a party (PATCH: absent fields stay as they are)."""

    legal_name: Short | None = None
    roles: list[PartyRole] | None = Field(None, min_length=1, max_length=7)
    registration_id: Short | None = None
    contact: Annotated[str, Field(max_length=2000)] | None = None
    purpose_ids: list[Id] | None = Field(None, max_length=100)
    data_categories: list[Short] | None = Field(None, max_length=50)
    systems: list[Short] | None = Field(None, max_length=50)
    processor_id: Id | None = None
    broker_last_verified_at: PastDatetime | None = None
    status: PartyStatus | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> PartyUpdate:
        refuse_nulls(self, frozenset({"registration_id", "processor_id", "broker_last_verified_at"}))
        return self


Territory = list[Annotated[str, Field(min_length=2, max_length=20)]]


class AssignmentIn(_In):
    """A written assignment of rights to the controller: what, which rights, where, how long (L131-3 CPI)."""

    document: Short
    covers: list[Work] = Field(min_length=1, max_length=2)
    rights: list[Short] = Field(min_length=1, max_length=20)
    territory: Territory = Field(min_length=1, max_length=250)
    duration_years: Annotated[int, Field(ge=1, le=200)] | None = None
    full_term_of_protection: bool = False
    destination: Text | None = None


class LicenceIn(_In):
    """The licence of use granted to the controller over what it does not own."""

    scope: Text
    territory: Territory = Field(default_factory=list, max_length=250)
    duration_years: Annotated[int, Field(ge=1, le=200)] | None = None
    exclusive: bool = False
    may_modify: bool = False


class ConfidentialityIn(_In):
    """Whether the party's staff are bound to confidentiality, and by what instrument."""

    staff_bound: bool
    instrument: ConfidentialityInstrument | None = None
    reference: Short | None = None


class SecurityObligationsIn(_In):
    """The security obligations the contract puts on the party (Art. 28(3)(c), (e), (f); Art. 32)."""

    art32_measures: bool = False
    assists_with_rights: bool = False
    assists_with_breaches: bool = False
    measures_summary: Text | None = None


class ReversibilityIn(_In):
    """What comes back at the end of the contract, in what form and how soon (Art. 28(3)(g))."""

    returns_data: bool = False
    returns_parameterisation: bool = False
    deletes_copies: bool = False
    format: Short | None = None
    within_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ContractTermsIn(_In):
    """Ownership, licence, confidentiality, security and reversibility as structured terms (any part may be
    absent)."""

    developments_owner: Owner | None = None
    parameterisation_owner: Owner | None = None
    assignment: AssignmentIn | None = None
    licence: LicenceIn | None = None
    confidentiality: ConfidentialityIn | None = None
    security: SecurityObligationsIn | None = None
    reversibility: ReversibilityIn | None = None


class ContractTermsRead(ContractTermsIn):
    """The structured terms of a contract version as recorded."""

    model_config = ConfigDict(extra="ignore")


class RuleFindingRead(BaseModel):
    """What a rule of a consent rule table finds missing: its id, the field concerned and why."""

    rule: str
    field: str
    message: str


class ContractCreate(_In):
    """The next contract version with a party and the clauses it contains."""

    reference: Short
    signed_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    clauses: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=60)
    breach_notification_hours: Annotated[int, Field(ge=0, le=8760)] | None = None
    scc_2021_915: bool = False
    licence_scope: Text | None = None
    #: Structured ownership, licence, confidentiality and security terms; a settled term counts as the
    #: matching checklist clause.
    terms: ContractTermsIn | None = None


class PartyContractRead(BaseModel):
    """A contract version with what it contains and lacks for the party's roles."""

    contract_id: str
    party_id: str
    version: int
    reference: str
    signed_at: datetime | None
    expires_at: datetime | None
    recorded_at: datetime
    clauses: list[str]
    clauses_present: list[str]
    missing_clauses: dict[str, list[str]]
    breach_notification_hours: int | None
    scc_2021_915: bool
    licence_scope: str | None
    in_force: bool
    terms: ContractTermsRead | None = None
    #: What the structured terms leave unsettled for the party's roles (rules TERM-*).
    term_findings: list[RuleFindingRead] = Field(default_factory=list)


class FindingRead(BaseModel):
    """One reason the party cannot be relied on now."""

    code: str
    message: str
    role: str | None = None
    clause: str | None = None


class PartyPublic(BaseModel):
    """A party with its current contract, required clauses and what keeps it from being relied on now."""

    party_id: str
    legal_name: str
    roles: list[PartyRole]
    status: PartyStatus
    registration_id: str | None
    contact: str
    purpose_ids: list[str]
    data_categories: list[str]
    systems: list[str]
    processor_id: str | None
    broker_last_verified_at: datetime | None
    registered_at: datetime
    updated_at: datetime | None
    required_clauses: list[str]
    current_contract: PartyContractRead | None
    findings: list[FindingRead]
    usable: bool
    #: What the current contract's structured terms leave unsettled for the party's roles (TERM-*); these
    #: do not change `usable`, which is what the gate relies on to send.
    term_findings: list[RuleFindingRead] = Field(default_factory=list)


class PartyList(BaseModel):
    """A page of parties."""

    items: list[PartyPublic]
    next_cursor: str | None = None


class PartyContractList(BaseModel):
    """A party's contract versions, oldest first."""

    items: list[PartyContractRead]


class ExpiringContractRead(PartyContractRead):
    """A contract in the expiry window, with its party's name and roles."""

    legal_name: str
    roles: list[PartyRole]
    days_left: int


class ExpiringContractList(BaseModel):
    """The current contracts expiring within the window, soonest first."""

    within_days: int
    items: list[ExpiringContractRead]


class ExpiryWatchRead(BaseModel):
    """What one pass of the expiry watch raised."""

    within_days: int
    expiring: list[str]
    expired: list[str]


# --- The breach register.


def _register_time(value: datetime) -> datetime:
    # Because a time near year 1 or 9999 cannot be moved to UTC nor given 72 hours without overflowing.
    if not 1970 <= value.year <= 9000:
        raise ValueError("must be between the years 1970 and 9000")
    return value


RegisterTime = Annotated[AwareDatetime, AfterValidator(_register_time)]
Count = Annotated[int, Field(ge=0, le=MAX_INTEGER)]
Category = Annotated[str, Field(min_length=1, max_length=100)]


class BreachCreate(_In):
    """A breach the controller became aware of: the facts, their effects, the remedial action."""

    aware_at: RegisterTime
    nature: list[BreachNature] = Field(max_length=3)
    description: Text
    reference: Short | None = None
    occurred_from: RegisterTime | None = None
    occurred_until: RegisterTime | None = None
    data_categories: list[Category] = Field(default_factory=list, max_length=50)
    special_categories: bool = False
    subject_categories: list[Category] = Field(default_factory=list, max_length=50)
    approx_subjects: Count | None = None
    approx_records: Count | None = None
    likely_consequences: Text | None = None
    measures_taken: Text | None = None
    measures_proposed: Text | None = None
    dpo: Party | None = None
    source_party_id: Id | None = None
    risk: RiskLevel | None = None
    risk_justification: Text | None = None


class BreachUpdate(_In):
    """Facts to complete or correct (PATCH: absent fields stay as they are)."""

    nature: list[BreachNature] | None = Field(None, max_length=3)
    description: Text | None = None
    reference: Short | None = None
    occurred_from: RegisterTime | None = None
    occurred_until: RegisterTime | None = None
    data_categories: list[Category] | None = Field(None, max_length=50)
    special_categories: bool | None = None
    subject_categories: list[Category] | None = Field(None, max_length=50)
    approx_subjects: Count | None = None
    approx_records: Count | None = None
    likely_consequences: Text | None = None
    measures_taken: Text | None = None
    measures_proposed: Text | None = None
    dpo: Party | None = None
    source_party_id: Id | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> BreachUpdate:
        refuse_nulls(
            self, frozenset(set(BreachUpdate.model_fields) - {"nature", "description", "special_categories"})
        )
        return self


class AssessmentCreate(_In):
    """The risk to people's rights and freedoms, and the reasoning (required for `unlikely`)."""

    risk: RiskLevel
    justification: Annotated[str, Field(max_length=2000)] = ""


class NotificationCreate(_In):
    """The notification to the CNIL as made by the controller (Vigie does not send it)."""

    notified_at: RegisterTime
    reference: Short
    delay_reasons: Text | None = None
    phased: bool = False


class CommunicationCreate(_In):
    """The communication to the people (when, how), or the Art. 34(3) exception relied on."""

    communicated_at: RegisterTime | None = None
    means: CommunicationMeans | None = None
    subjects_informed: Count | None = None
    exemption: CommunicationExemption | None = None
    justification: Text | None = None


class AssessmentRead(_Out):
    """The recorded risk assessment."""

    risk: RiskLevel
    justification: str
    assessed_at: datetime


class NotificationRead(_Out):
    """The recorded notification to the supervisory authority."""

    notified_at: datetime
    reference: str
    delay_reasons: str | None
    phased: bool
    recorded_at: datetime


class CommunicationRead(_Out):
    """The recorded communication to the people, or the exception relied on."""

    communicated_at: datetime | None
    means: CommunicationMeans | None
    subjects_informed: int | None
    exemption: CommunicationExemption | None
    justification: str | None
    recorded_at: datetime


class BreachRead(_Out):
    """A register entry, its clock (deadline, state, overdue) and what it still needs (`findings`)."""

    breach_id: str
    reference: str | None
    aware_at: datetime
    deadline_at: datetime
    state: ClockState
    overdue: bool
    recorded_at: datetime
    updated_at: datetime | None
    nature: list[BreachNature]
    description: str
    occurred_from: datetime | None
    occurred_until: datetime | None
    data_categories: list[str]
    special_categories: bool
    subject_categories: list[str]
    approx_subjects: int | None
    approx_records: int | None
    likely_consequences: str
    measures_taken: str
    measures_proposed: str
    dpo: PartyRead | None
    source_party_id: str | None
    assessment: AssessmentRead | None
    notification: NotificationRead | None
    communication: CommunicationRead | None
    findings: list[RuleFindingRead]
    #: SHA-256 of the record as stored now; equal to the `record_hash` of the breach's latest event in the
    #: audit log unless the record was changed outside the API.
    record_hash: str


class BreachList(BaseModel):
    """A page of the breach register."""

    items: list[BreachRead]
    next_cursor: str | None = None


class BreachWatchRead(BaseModel):
    """What one pass of the breach watch found."""

    overdue: list[str]
    newly_overdue: list[str]
