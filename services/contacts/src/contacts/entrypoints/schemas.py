"""HTTP schemas of contacts (request and response bodies only)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from shared.blind_index import InvalidIdentifierError, normalise_email, normalise_phone

from contacts.domain import timezones
from contacts.domain.model import SELLER_KINDS, CallOutcome, InteractionKind, Kind, Relationship
from contacts.domain.requests import ContestOutcome, DecisionKind, RequestKind, RestrictionGround


def _valid_phone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_phone(value)
    except InvalidIdentifierError as exc:
        raise ValueError("not a valid phone number") from exc


def _valid_email(value: str) -> str:
    # The blind index's own normalisation is the check: an address it accepts is one it can index,
    # and it is several times cheaper than `email-validator` on bulk imports.
    try:
        normalise_email(value)
    except InvalidIdentifierError as exc:
        raise ValueError("not a valid e-mail address") from exc
    return value.strip()


def _past_date(value: date | None) -> date | None:
    if value is not None and value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


def _past_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return value


def _valid_timezone(value: str | None) -> str | None:
    if value is not None and not timezones.is_valid_timezone(value):
        raise ValueError("not an IANA time zone name (e.g. Europe/Paris, Indian/Reunion)")
    return value


#: Bounds of the free-form `attributes`: keys, key length, nesting depth and serialized size.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY = 100
MAX_ATTRIBUTES_DEPTH = 4
MAX_ATTRIBUTES_BYTES = 16_384


def _depth(value: Any, limit: int) -> int:
    # Stops once over the limit, so a hostile nesting costs no more than the limit.
    if limit < 0 or not isinstance(value, dict | list):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


def _bounded_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if any(not key or len(key) > MAX_ATTRIBUTE_KEY for key in value):
        raise ValueError(f"every key must have 1 to {MAX_ATTRIBUTE_KEY} characters")
    if _depth(value, MAX_ATTRIBUTES_DEPTH) > MAX_ATTRIBUTES_DEPTH:
        raise ValueError(f"must not nest objects or lists more than {MAX_ATTRIBUTES_DEPTH} levels deep")
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise ValueError("must be JSON") from None
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"must be at most {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


Attributes = Annotated[
    dict[str, Any],
    Field(
        max_length=MAX_ATTRIBUTES,
        description=(
            "Free-form attributes, stored and returned but never published in events: at most "
            f"{MAX_ATTRIBUTES} keys of 1 to {MAX_ATTRIBUTE_KEY} characters, nested at most "
            f"{MAX_ATTRIBUTES_DEPTH} levels, {MAX_ATTRIBUTES_BYTES} bytes as JSON."
        ),
    ),
    AfterValidator(_bounded_attributes),
]
#: The longest external reference taken.
MAX_EXTERNAL_REF = 200
ExternalRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_EXTERNAL_REF,
        pattern=r"^\S(.*\S)?$",
        description=(
            "The caller's own id of the person (e.g. the CRM's), unique per `source`: a second contact with "
            "the same source and external_ref is a duplicate (409; `existing` in an import). Stored sealed "
            "like the e-mail, found through a blind index (`GET /v1/contacts?source=…&external_ref=…`), "
            "never published in events. Compared exactly (no case folding); no leading or trailing space."
        ),
    ),
]
Phone = Annotated[str, Field(max_length=40), AfterValidator(_valid_phone)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_valid_email)]
BirthDate = Annotated[date, AfterValidator(_past_date)]
PastDatetime = Annotated[AwareDatetime, AfterValidator(_past_datetime)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
TimeZone = Annotated[
    str,
    Field(
        max_length=64,
        description=(
            "The person's IANA time zone (calling hours are judged in it). "
            "When absent it is derived from the phone number's region, "
            "else the postal address (French overseas postal codes 971..988, then the country), "
            "else Europe/Paris."
        ),
    ),
    AfterValidator(_valid_timezone),
]
Profession = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description=(
            "A named professional's function (e.g. 'pharmacien'), stored lower-cased; "
            "the gate compares it with a campaign's professional_target."
        ),
    ),
]
Seller = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description=("The legal entity that sold (soft opt-in compares it with the campaign's sender)."),
    ),
]
Categories = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(
        max_length=50,
        description=(
            "Product categories of what was sold, compared with a campaign's products (soft opt-in)."
        ),
    ),
]
StopPub = Annotated[
    bool, Field(description=("The mailbox shows a refusal of unaddressed advertising ('Stop Pub' sticker)."))
]


class PhoneCollection(BaseModel):
    """What the person was told when the phone number was collected (consumer calls since 2026-08-11)."""

    model_config = ConfigDict(extra="forbid")
    told_calls_need_consent: bool = Field(
        description=("The person was told at collection that prospecting calls need their consent.")
    )
    during_contract: bool = Field(
        description="The number was collected while a contract was being concluded."
    )
    contract_states_calls_need_consent: bool = Field(
        description=("The contract states that prospecting calls need the person's consent.")
    )


class PurchaseIn(BaseModel):
    """What an existing customer bought from one seller (for contacts created after their purchases)."""

    model_config = ConfigDict(extra="forbid")
    seller: Seller
    categories: Categories = Field(default_factory=list)
    last_at: PastDatetime = Field(description="When the person last bought from this seller.")


class PostalAddress(BaseModel):
    """A postal address."""

    model_config = ConfigDict(extra="forbid")
    line1: Annotated[str, Field(min_length=1, max_length=300)]
    line2: Annotated[str, Field(max_length=300)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    city: Annotated[str, Field(min_length=1, max_length=200)]
    country: Annotated[str, Field(min_length=2, max_length=2)] = "FR"


class ContactCreate(BaseModel):
    """A new contact."""

    model_config = ConfigDict(extra="forbid")
    kind: Kind
    relationship: Relationship = Relationship.PROSPECT
    given_name: Name | None = None
    family_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    postal_address: PostalAddress | None = None
    birth_date: BirthDate | None = None
    external_ref: ExternalRef | None = None
    collected_from_person: bool
    source: Annotated[str, Field(min_length=1, max_length=200)]
    broker_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    obtained_at: PastDatetime
    last_contact_from_person_at: PastDatetime | None = None
    relationship_end_at: AwareDatetime | None = None
    attributes: Attributes = Field(default_factory=dict)
    timezone: TimeZone | None = None
    profession: Profession | None = None
    phone_collection: PhoneCollection | None = Field(
        None,
        description=("What the person was told about consent to calls when the phone number was collected."),
    )
    stop_pub: StopPub = False
    purchases: list[PurchaseIn] = Field(
        default_factory=list,
        max_length=100,
        description=(
            "An existing customer's purchases, one or more per seller; the relationship becomes "
            "customer_sale_done when not given."
        ),
    )

    @model_validator(mode="after")
    def _broker_named_when_not_from_person(self) -> ContactCreate:
        if not self.collected_from_person and not self.broker_name and self.source in ("broker", "partner"):
            raise ValueError("broker_name is required when the data comes from a broker or partner")
        return self

    @model_validator(mode="after")
    def _purchases_make_a_customer(self) -> ContactCreate:
        if self.purchases and "relationship" not in self.model_fields_set:
            self.relationship = Relationship.CUSTOMER_SALE_DONE
        elif self.purchases and self.relationship in (Relationship.PROSPECT, Relationship.ACCOUNT_ONLY):
            raise ValueError(
                f"purchases are those of a customer: the relationship cannot be {self.relationship.value}"
            )
        return self


class ContactUpdate(BaseModel):
    """Fields to change on a contact (PATCH: absent fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")
    kind: Kind | None = None
    relationship: Relationship | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    postal_address: PostalAddress | None = None
    birth_date: BirthDate | None = None
    external_ref: ExternalRef | None = None
    last_contact_from_person_at: PastDatetime | None = None
    relationship_end_at: AwareDatetime | None = None
    attributes: Attributes | None = None
    timezone: TimeZone | None = Field(
        None,
        description=(
            "The person's IANA time zone; null goes back to the zone derived from the phone or address."
        ),
    )
    profession: Profession | None = None
    phone_collection: PhoneCollection | None = None
    stop_pub: StopPub | None = None

    @model_validator(mode="after")
    def _no_null_for_required_facts(self) -> ContactUpdate:
        if "stop_pub" in self.model_fields_set and self.stop_pub is None:
            raise ValueError("stop_pub must be true or false")
        return self


class InteractionCreate(BaseModel):
    """An interaction: the person's (sale, purchase, reply, click, request, open), a contract's start or end,
    or an outbound call attempt of the company."""

    model_config = ConfigDict(extra="forbid")
    kind: InteractionKind
    channel: Annotated[str, Field(max_length=32)] | None = None
    occurred_at: PastDatetime
    seller: Seller | None = Field(
        None,
        validate_default=True,
        description=(
            "The legal entity that sold: required for sale, purchase, contract_start and contract_end."
        ),
    )
    product_categories: Categories | None = Field(
        None,
        validate_default=True,
        description=(
            "What was sold (sale, purchase, contract_start; "
            "on contract_end, which of the seller's contracts end)."
        ),
    )
    outcome: CallOutcome | None = Field(
        None, validate_default=True, description=("How a call_attempt ended: required for call_attempt.")
    )

    @field_validator("seller", "product_categories", "outcome", mode="after")
    @classmethod
    def _fields_of_the_kind(cls, value: Any, info: ValidationInfo) -> Any:
        # A field validator (not a model one) so that the 422 names the field at fault.
        kind = info.data.get("kind")
        if kind is None:
            return value
        takes = kind in SELLER_KINDS if info.field_name != "outcome" else kind is InteractionKind.CALL_ATTEMPT
        if info.field_name == "seller" and takes and value is None:
            raise ValueError(f"required for a {kind.value}: the legal entity that sold")
        if info.field_name == "outcome" and takes and value is None:
            raise ValueError("required for a call_attempt: no_answer, answered or refused")
        if not takes and value is not None:
            raise ValueError(f"not taken by a {kind.value}")
        return value


class InteractionRead(BaseModel):
    """The recorded interaction."""

    id: str
    contact_id: str
    kind: InteractionKind
    seller: str | None = None
    product_categories: list[str] | None = None
    outcome: CallOutcome | None = None


class PurchaseRead(BaseModel):
    """What the person bought from one seller."""

    seller: str
    categories: list[str]
    last_at: datetime


class ContractRead(BaseModel):
    """A contract with one seller (open while ended_at is null)."""

    seller: str
    categories: list[str]
    started_at: datetime
    ended_at: datetime | None


class ContactRead(BaseModel):
    """A contact as stored, personal data decrypted for the authorised caller."""

    id: str
    kind: Kind
    relationship: Relationship
    status: str
    version: int
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    postal_address: dict[str, Any] | None
    birth_date: date | None
    external_ref: str | None = None
    collected_from_person: bool
    source: str
    broker_name: str | None
    obtained_at: datetime
    last_contact_from_person_at: datetime | None
    relationship_end_at: datetime | None
    attributes: dict[str, Any]
    timezone: str
    timezone_source: str = Field(
        description="given, or what it was derived from: phone, postal_code, country, default"
    )
    profession: str | None
    phone_collection: PhoneCollection | None
    stop_pub: bool
    purchases: list[PurchaseRead]
    contracts: list[ContractRead]
    call_attempts: list[datetime] = Field(
        description="The latest outbound call attempts (at most 4), oldest first."
    )
    last_call_refusal_at: datetime | None
    majority_on: date | None = Field(description="The 18th birthday, derived from birth_date.")
    digital_consent_age_on: date | None = Field(description="The 15th birthday, derived from birth_date.")
    restriction: dict[str, Any] | None = Field(
        None,
        description="While processing is restricted (Art. 18): the request, its grounds and since when; "
        "no marketing use until it is lifted.",
    )
    created_at: datetime | None
    updated_at: datetime | None


class ContactList(BaseModel):
    """A page of contacts."""

    items: list[ContactRead]
    next_cursor: str | None = None


class RowError(BaseModel):
    """The problems of one import row (fields named, values never echoed)."""

    row: int
    errors: list[dict[str, str]]


class KnownRow(BaseModel):
    """An import row recognised as a person already known (existing contact or an earlier row)."""

    row: int
    existing_contact_id: str
    matched_on: str


class ImportRowResult(BaseModel):
    """What became of one import row."""

    row: int = Field(description="The row's number: the NDJSON line, or the CSV data row counted from 1.")
    status: Literal["created", "existing", "error"]
    contact_id: str | None = Field(
        description="The contact created, or the known contact the row names (null for a row in error)."
    )
    external_ref: str | None = Field(description="The row's external_ref as given (null when none).")
    matched_on: str | None = Field(
        None, description="For `existing`: external_ref, email or phone, what matched the known contact."
    )


class ImportReport(BaseModel):
    """What a bulk import did."""

    rows: int = 0
    created: int = 0
    results: list[ImportRowResult] = Field(
        default_factory=list,
        description=(
            "Every row's outcome, in row order: each created or existing row, and the rows in error that "
            "`errors` lists (those counted in `errors_omitted` have none; blank lines have none)."
        ),
    )
    known: list[KnownRow] = Field(default_factory=list)
    errors: list[RowError] = Field(
        default_factory=list,
        description="The first 1000 rows in error, each with at most 20 of its problems.",
    )
    errors_omitted: int = Field(0, description="The rows in error not listed in `errors`.")


class SweepReport(BaseModel):
    """What a retention sweep did."""

    examined: int
    flagged: int
    erased: int


# Data-subject requests (`/v1/requests…`).


class ContestedDecision(BaseModel):
    """The automated decision a person contests: a gate check about them (`check_id`, and the campaign
    when known), or any other automated decision of the controller named by the controller's reference."""

    model_config = ConfigDict(extra="forbid")
    kind: DecisionKind
    check_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    campaign_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _named(self) -> ContestedDecision:
        if self.kind is DecisionKind.GATE_CHECK and not self.check_id:
            raise PydanticCustomError("missing", "a gate decision is named by its check_id")
        if self.kind is DecisionKind.OTHER and not self.reference:
            raise PydanticCustomError("missing", "another decision is named by its reference")
        return self


class RequestCreate(BaseModel):
    """A data-subject request; the person is named by exactly one of contact_id, email or phone."""

    model_config = ConfigDict(extra="forbid")
    kind: RequestKind
    contact_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    #: For a rectification: the fields to correct, as in `PATCH /v1/contacts/{id}`.
    changes: ContactUpdate | None = None
    #: For a restriction (Art. 18(1)): (a) accuracy_contested, (b) unlawful_processing, (c) legal_claims,
    #: (d) objection_pending.
    grounds: RestrictionGround | None = None
    #: For a contestation (Art. 22(3)): the automated decision contested.
    decision: ContestedDecision | None = None
    #: For a contestation: the person's point of view, for the human reviewer (never in an event or a log;
    #: erased with the person).
    point_of_view: Annotated[str, Field(min_length=1, max_length=4000)] | None = None

    def kind_problems(self) -> list[dict[str, str]]:
        """Returns the fields a kind requires and lacks, or takes and was not given (each named)."""
        problems: list[dict[str, str]] = []

        def add(name: str, message: str) -> None:
            problems.append({"field": f"body.{name}", "message": message, "type": "request_kind"})

        if self.kind is RequestKind.RESTRICTION and self.grounds is None:
            add("grounds", "a restriction names its ground of Art. 18(1)")
        if self.kind is not RequestKind.RESTRICTION and self.grounds is not None:
            add("grounds", "only for a restriction")
        if self.kind is RequestKind.CONTESTATION and self.decision is None:
            add("decision", "a contestation names the automated decision contested")
        for name in ("decision", "point_of_view"):
            if self.kind is not RequestKind.CONTESTATION and getattr(self, name) is not None:
                add(name, "only for a contestation")
        return problems

    def details(self) -> dict[str, Any] | None:
        """Returns what the kind needs besides the person, as the request keeps it."""
        if self.kind is RequestKind.RESTRICTION and self.grounds is not None:
            return {"grounds": self.grounds.value}
        if self.kind is RequestKind.CONTESTATION and self.decision is not None:
            return {"decision": self.decision.model_dump(), "point_of_view": self.point_of_view}
        return None

    @model_validator(mode="after")
    def _one_person_and_changes(self) -> RequestCreate:
        named = [n for n in ("contact_id", "email", "phone") if getattr(self, n)]
        if len(named) != 1:
            raise ValueError("name the person by exactly one of contact_id, email or phone")
        if self.kind is RequestKind.RECTIFICATION and not (self.changes and self.changes.model_fields_set):
            raise ValueError("a rectification needs the changes to make")
        if self.kind is not RequestKind.RECTIFICATION and self.changes is not None:
            raise ValueError("changes are only for a rectification")
        return self


class RestrictionLifting(BaseModel):
    """Lifting a restriction (Art. 18(3)): why, and when and how the person was informed, beforehand."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=3, max_length=1000)]
    informed_at: AwareDatetime | None = None
    informed_by: Annotated[str, Field(min_length=2, max_length=100)] | None = None


class ContestationOutcome(BaseModel):
    """The human reviewer's outcome of a contestation, with the reasons owed to the person."""

    model_config = ConfigDict(extra="forbid")
    outcome: ContestOutcome
    reasons: Annotated[str, Field(min_length=3, max_length=4000)]


class HistoryRead(BaseModel):
    """One step of a request."""

    at: datetime
    action: str
    note: str | None


class RequestRead(BaseModel):
    """A data-subject request as it stands."""

    id: str
    kind: RequestKind
    status: str
    contact_id: str | None
    received_at: datetime
    due_at: datetime
    extended_months: int
    overdue: bool
    confirmations: dict[str, datetime]
    awaiting_confirmation_from: list[str]
    completed_at: datetime | None
    history: list[HistoryRead]
    #: A restriction's grounds and lifting; a contestation's decision, point of view, reviewer, outcome
    #: and reasons.
    details: dict[str, Any] = Field(default_factory=dict)


class RequestList(BaseModel):
    """Open requests, oldest due first."""

    items: list[RequestRead]


class ExtensionCreate(BaseModel):
    """An extension of the due date (Art. 12(3)): one or two months in all, with the reason."""

    model_config = ConfigDict(extra="forbid")
    months: Annotated[int, Field(ge=1, le=2)]
    reason: Annotated[str, Field(min_length=3, max_length=1000)]
