"""Facts the campaign gate decides on: one campaign, and each of its recipients.

Everything here is plain data (enums, str, bool, int, date, datetime, frozenset, tuple) so that an
adapter can fill it from the gate's database projection without knowing any rule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class Channel(enum.StrEnum):
    """A channel a campaign is sent through."""

    EMAIL = "email"
    SMS_MMS = "sms_mms"
    AUTOMATED_CALL = "automated_call"
    FAX = "fax"
    PHONE_HUMAN = "phone_human"
    POSTAL_ADDRESSED = "postal_addressed"
    POSTAL_UNADDRESSED = "postal_unaddressed"


class Decision(enum.StrEnum):
    """The gate's answer for one recipient."""

    ALLOW = "allow"
    BLOCK = "block"
    NEEDS_REVIEW = "needs_review"


class ContactKind(enum.StrEnum):
    """Who the contact details belong to."""

    CONSUMER = "consumer"
    PROFESSIONAL_NAMED = "professional_named"
    LEGAL_PERSON_GENERIC = "legal_person_generic"


class Relationship(enum.StrEnum):
    """Where the contact stands commercially."""

    PROSPECT = "prospect"
    ACCOUNT_ONLY = "account_only"
    CUSTOMER_SALE_DONE = "customer_sale_done"
    CONTRACT_IN_PROGRESS = "contract_in_progress"


class LawfulBasis(enum.StrEnum):
    """The Art. 6 GDPR basis registered for a purpose."""

    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> LawfulBasis | None:
        # Because consent's register names Art. 6(1)(f) in the plural, as the GDPR's wording does.
        return cls.LEGITIMATE_INTEREST if value == "legitimate_interests" else None


class Audience(enum.StrEnum):
    """Whether a campaign addresses consumers or businesses."""

    B2C = "b2c"
    B2B = "b2b"


class ConsentStatus(enum.StrEnum):
    """The state of one consent record."""

    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    #: Asked for and not yet confirmed (double opt-in pending): not usable.
    REQUESTED = "requested"


class SuppressionKind(enum.StrEnum):
    """The kind of suppression list a blind index was found in."""

    OPPOSITION = "opposition"  # The company's own "liste repoussoir".
    BLOCTEL = "bloctel"
    ROBINSON = "robinson"


class BrokerVerification(enum.StrEnum):
    """Whether the consent collected by a third-party data supplier was checked."""

    VERIFIED = "verified"
    NOT_VERIFIED = "not_verified"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Objection:
    """An objection to direct marketing: to all of it (channel and purpose None), to one channel for every
    purpose (`channel`), or to one purpose of the register on every channel (`purpose_id`)."""

    objection_id: str
    at: datetime
    channel: Channel | None = None
    #: Found through the e-mail or phone hash of another record (a re-import), not on this one.
    matched_by_hash: bool = False
    purpose_id: str | None = None


@dataclass(frozen=True, slots=True)
class SuppressionHit:
    """A match of the recipient's blind index in an imported suppression list."""

    list_name: str
    list_kind: SuppressionKind
    import_id: str
    imported_at: datetime
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent for a (purpose, channel) with what is needed to prove it."""

    consent_id: str
    purpose_id: str
    channel: Channel
    status: ConsentStatus
    granted_at: datetime
    withdrawn_at: datetime | None = None
    proof_present: bool = False  # Timestamp, wording and collection point can be produced.
    positive_act: bool = False  # Not pre-ticked and not bundled in terms and conditions.
    explicit: bool = False  # Art. 9(2)(a) explicit consent.
    withdrawal_info_given: bool = False  # Told before consenting that it can be withdrawn.
    given_by_minor: bool = False
    given_by_parent: bool = False
    #: The person's express consent to be called outside the D223-9 slots (TEL-03).
    out_of_hours_calls: bool = False
    collector: str | None = None
    notice_version: str | None = None
    #: The partners (by name) and partner categories the consent lets the data be transferred or rented to
    #: (RENT-01), and the person's consent to per-recipient e-mail tracking (TRACK-01); issue 19.
    partners: frozenset[str] = frozenset()
    partner_categories: frozenset[str] = frozenset()
    email_tracking: bool = False

    @property
    def withdrawn(self) -> bool:
        """Says whether the consent was withdrawn."""
        return self.status is ConsentStatus.WITHDRAWN or self.withdrawn_at is not None


@dataclass(frozen=True, slots=True)
class Purchase:
    """What a contact bought from one selling entity (the soft opt-in's sale, L34-5 al. 4)."""

    seller: str
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ContractFact:
    """A contract between a contact and a selling entity; open while `ended` is False."""

    seller: str
    categories: frozenset[str] = frozenset()
    ended: bool = False


@dataclass(frozen=True, slots=True)
class PhoneCollection:
    """What the consumer was told when their phone number was collected (L223-1 from 11/08/2026)."""

    told_calls_need_consent: bool
    during_contract: bool = False
    contract_states_calls_need_consent: bool = False


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """What the gate knows about one recipient (rule book section 0.1).

    Every field has a producer: `docs/facts.md` (generated from `lineage.py`) names the API field
    where it is entered, the event that carries it and the rules that read it.
    """

    contact_id: str
    kind: ContactKind
    relationship: Relationship
    collected_from_person: bool
    obtained_at: datetime
    channel_addresses: frozenset[Channel] = frozenset()
    source: str | None = None
    broker_name: str | None = None
    broker_verification: BrokerVerification = BrokerVerification.NOT_VERIFIED
    broker_verified_at: date | None = None
    # Last reply, purchase, click or request; an e-mail open is never one (CNIL, RET-01).
    last_contact_from_person_at: datetime | None = None
    relationship_end_at: datetime | None = None
    #: Set when contacts flagged the contact past its retention deadline, with the rule it cited.
    retention_flagged_rule: str | None = None
    #: The 18th and 15th birthdays (derived by contacts from the birth date; None when unknown).
    majority_on: date | None = None
    digital_consent_age_on: date | None = None
    objections: tuple[Objection, ...] = ()
    suppression_hits: tuple[SuppressionHit, ...] = ()
    consents: tuple[ConsentRecord, ...] = ()
    #: An Art. 13/14 notice covering the campaign's purpose was delivered (consent checks that it
    #: names the right to object, so it also offered the objection).
    informed_at_collection: bool = False
    objection_offered_at_collection: bool = False
    art13_notice_given_at: datetime | None = None
    art14_notice_delivered_at: datetime | None = None
    art14_delivery_id: str | None = None
    #: The purpose's register entry claims the Art. 14(5)(b) exemption (INFO-03).
    art14_exemption_claimed: bool = False
    collected_at_sale: bool = False
    purchases: tuple[Purchase, ...] = ()
    contracts: tuple[ContractFact, ...] = ()
    profession: str | None = None
    bloctel_checked_on: date | None = None
    call_attempts_at: tuple[datetime, ...] = ()
    last_phone_refusal_at: datetime | None = None
    phone_collection: PhoneCollection | None = None
    #: None when no producer said (an event from before contacts published it): TEL-03 then asks review.
    timezone: str | None = None
    #: Earlier sends the gate allowed to this contact (its own receipts): 0 means a first communication.
    marketing_messages_received: int = 0
    stop_pub: bool = False
    #: Art. 18 GDPR: the person obtained the restriction of processing (contacts' rights desk); the data
    #: may be stored, not used for marketing (RIGHTS-01). The request that restricted it is the evidence.
    restricted: bool = False
    restriction_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TargetingCriterion:
    """One (attribute, operator, value) condition of a segment or of offer eligibility."""

    attribute: str
    operator: str
    value: str | tuple[str, ...] = ""
    justification: str | None = None  # Documented legitimate aim or business reason.


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """The content of a campaign's message, as far as the rules look at it."""

    subject: str = ""
    body: str = ""
    unsubscribe_mechanism: str | None = None
    unsubscribe_free: bool = False
    right_to_object_statement: bool = False
    sender_identification: str | None = None
    offer_conditions: str | None = None
    is_promotional_offer: bool = False
    subject_related_to_offer: bool | None = None
    carries_art14_notice: bool = False
    objection_reminder: bool = False


@dataclass(frozen=True, slots=True)
class CallScript:
    """What a telephone script says at the start of a call."""

    caller_identity: bool = False
    company_identity: bool = False
    commercial_nature: bool = False
    bloctel_mention: bool = False
    art14_information: bool = False


@dataclass(frozen=True, slots=True)
class VendorGap:
    """One gap consent reports for a vendor, as it published it: code, topic and consent's own detail.

    Topics: `clause` (an Art. 28(3) clause the contract lacks), `subprocessor` (no prior written
    authorisation, Art. 28(2)), `transfer` (Chapter V), `party` (a clause a linked party's role requires).
    """

    code: str
    topic: str
    detail: str


@dataclass(frozen=True, slots=True)
class ProcessorFacts:
    """The processor a campaign is sent through, its contract dates and the gaps consent reports.

    The gate keeps no clause or country list: `missing_clauses` and `gaps` are consent's, as published.
    """

    name: str
    active: bool = True
    contract_signed_at: datetime | None = None
    contract_expires_at: datetime | None = None
    missing_clauses: tuple[str, ...] = ()
    gaps: tuple[VendorGap, ...] = ()
    party_gaps: tuple[VendorGap, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisterEntryFacts:
    """The register entry (Art. 30) of a campaign's purpose, as consent published it (issue 19, REG-*).

    An empty `channels` or `data_categories`, or `retention_months` None, means the entry does not state
    it (an entry from before these facts): the rule reading it then checks nothing, a human does.
    """

    version: int
    channels: frozenset[Channel] = frozenset()
    #: The CNIL template's data-category groups the entry declares (identity, personal_life, …).
    data_categories: frozenset[str] = frozenset()
    special_categories: bool = False
    processor_ids: frozenset[str] = frozenset()
    retention_months: int | None = None
    profiling: bool = False
    dpia_required: bool = False
    dpia_reference: str | None = None


class SendRole(enum.StrEnum):
    """What a party does on a campaign's sends (the campaign names it; consent registered the party)."""

    ROUTER = "router"  # Sends the e-mails or SMS (routeur).
    CALL_CENTRE = "call_centre"
    DATA_SOURCE = "data_source"  # Supplies or rents the file (data broker, list owner).
    TRACKING_PROVIDER = "tracking_provider"  # Measures opens and clicks.
    INTEGRATOR = "integrator"  # Builds or runs the CRM with production access.
    HOSTING = "hosting"
    PRINTER = "printer"  # Prints and posts addressed mail (routage postal).


@dataclass(frozen=True, slots=True)
class CampaignParty:
    """A party a campaign runs through, with what consent's party register says of it (issue 19, PAR-*).

    `known` False: the gate's projection has no such party (PAR-01 blocks: fail closed). `missing_clauses`
    are consent's "role: clause" gaps; `term_gaps` consent's TERM-0n gaps as "TERM-0n field" (None: the
    events the gate saw did not say).
    """

    party_id: str
    role: SendRole
    known: bool = False
    name: str = ""
    roles: frozenset[str] = frozenset()
    active: bool = False
    contract_signed_at: datetime | None = None
    contract_expires_at: datetime | None = None
    missing_clauses: tuple[str, ...] = ()
    term_gaps: tuple[str, ...] | None = None
    #: The purposes consent records the party as touching, and the processor record it works under.
    purpose_ids: frozenset[str] = frozenset()
    processor_id: str | None = None


class StudyQuestion(enum.StrEnum):
    """A question of the per-operation study (the source article's *déployer* stage)."""

    TARGET = "target"  # Who is targeted, on which criteria, and why those criteria.
    MESSAGE = "message"  # What the message says and promises.
    OFFER = "offer"  # The offer's conditions: open to all, reserved to the target, refused to others.
    PARTNERS = "partners"  # Whether recipients' data is rented or transferred to partners, and to whom.
    TRACKING = "tracking"  # Whether the e-mails carry opening pixels or tracked links, per recipient.


class TransferMode(enum.StrEnum):
    """How a file rental or transfer to partners reaches the recipients."""

    #: The company sends the partner's message itself: the partner never receives the data.
    ROUTED_BY_US = "routed_by_us"
    #: The partner receives the recipients' data (and must inform them, Art. 14).
    TRANSFERRED = "transferred"


class RefusalReason(enum.StrEnum):
    """The reason the study gives for refusing the product to consumers outside the target (L121-11)."""

    PRODUCT_UNAVAILABLE = "product_unavailable"
    ABNORMAL_REQUEST = "abnormal_request"
    REGULATED_PRODUCT = "regulated_product"
    OTHER_LEGITIMATE_REASON = "other_legitimate_reason"


@dataclass(frozen=True, slots=True)
class StudyFacts:
    """The per-operation study of a campaign version, as the marketer answered it (issue 19).

    `answers` holds each answered question with the digest of its answer (the reviewer's sign-off cites
    it, so a changed answer is a new one); the other fields are the answers the rules read.
    """

    answers: tuple[tuple[StudyQuestion, str], ...] = ()
    #: The offer question: the product itself refused to consumers outside the target, and why.
    refuses_product_outside_target: bool = False
    refusal_reason: RefusalReason | None = None
    #: The partners question: recipients' data rented or transferred, how, to whom (name, category).
    transfers_to_partners: bool = False
    transfer_mode: TransferMode | None = None
    partners: tuple[tuple[str, str], ...] = ()
    partner_informs_art14: bool = False
    #: The tracking question: opening pixels or tracked links, and whether they follow each recipient.
    tracking: bool = False
    per_recipient_tracking: bool = False


@dataclass(frozen=True, slots=True)
class CampaignFacts:
    """What the gate knows about one campaign version."""

    campaign_id: str
    purpose_id: str
    purpose_lawful_basis: LawfulBasis
    channel: Channel
    sender_entity: str
    send_at: datetime
    approved: bool = False
    purpose_registered: bool = False
    commercial: bool = True
    audience: Audience = Audience.B2C
    product_category: str = ""
    #: The professions or functions the message concerns (ELEC-07/08: B2B relevance).
    professional_target: frozenset[str] = frozenset()
    analogous_categories: frozenset[str] = frozenset()
    analogy_unclear_categories: frozenset[str] = frozenset()
    complementary_categories: frozenset[str] = frozenset()
    message: MessageFacts = field(default_factory=MessageFacts)
    call_script: CallScript = field(default_factory=CallScript)
    caller_number_masked: bool = False
    processor: ProcessorFacts | None = None
    targeting: tuple[TargetingCriterion, ...] = ()
    offer_eligibility: tuple[TargetingCriterion, ...] = ()
    offer_generally_available: bool = True
    refuses_product_outside_target: bool = False
    differential_b2b_terms: bool = False
    uses_profiling: bool = False
    large_scale_profiling: bool = False
    combines_datasets: bool = False
    automated_significant_decision: bool = False
    #: Where the person contests the automated decision and obtains a human's review (Art. 22(3)).
    contest_route: str | None = None
    manipulative_design: bool = False
    art9_explicit_consent_only: bool = False
    dpia_reference: str | None = None
    #: Issue 19: the per-operation study (STUDY-*, RENT-*, TRACK-*, SALE-*).
    study: StudyFacts = field(default_factory=StudyFacts)
    # --- Issue 19: the register entry the campaign is held to, and every party on every send.
    #: The purpose's register entry as consent published it (None: the gate has no entry facts).
    register: RegisterEntryFacts | None = None
    #: The processor named by `processor_id` (its id, compared with the entry's processors).
    processor_id: str | None = None
    #: The CNIL data-category groups and the Art. 9 categories the campaign declares it uses.
    data_categories: frozenset[str] = frozenset()
    special_categories: frozenset[str] = frozenset()
    #: How long, in months, the campaign keeps or selects data (None: not declared).
    retention_months: int | None = None
    parties: tuple[CampaignParty, ...] = ()
