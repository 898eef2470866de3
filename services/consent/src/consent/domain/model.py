"""Purposes (the Art. 30 register), consents and objections, with their invariants."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypedDict, TypeVar

from consent.domain import errors, events
from consent.domain.events import ConsentGranted


def new_id() -> str:
    """Returns a fresh random id (uuid4, hex)."""
    return uuid.uuid4().hex


def check_aware(name: str, value: datetime | None) -> None:
    """Raises `NaiveDatetimeError` when a given time has no time zone."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise errors.NaiveDatetimeError(name)


_E = TypeVar("_E", bound=StrEnum)


def to_enum(enum: type[_E], value: object) -> _E:
    """Returns `value` as a member of `enum`; raises ValueError, as `enum(value)` does, when it is none."""
    if isinstance(value, str):
        return enum(value)
    raise ValueError(f"{value!r} is not a valid {enum.__qualname__}")


def check_not_before(name: str, value: datetime, earliest_name: str, earliest: datetime) -> None:
    """Raises `TimeOrderError` when `value` is earlier than `earliest`."""
    if value < earliest:
        raise errors.TimeOrderError(
            f"{name} ({value.isoformat()}) is before {earliest_name} ({earliest.isoformat()})"
        )


# --- Value objects shared by the register, notices and consents.


class LawfulBasis(StrEnum):
    """The six lawful bases of Art. 6(1) GDPR."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class Channel(StrEnum):
    """The contact channels of the rule book (0.1)."""

    EMAIL = "email"
    SMS_MMS = "sms_mms"
    AUTOMATED_CALL = "automated_call"
    FAX = "fax"
    PHONE_HUMAN = "phone_human"
    POSTAL_ADDRESSED = "postal_addressed"
    POSTAL_UNADDRESSED = "postal_unaddressed"


class DataCategory(StrEnum):
    """The data-category groups of the CNIL register template (M.4)."""

    IDENTITY = "identity"
    PERSONAL_LIFE = "personal_life"
    PROFESSIONAL_LIFE = "professional_life"
    ECONOMIC_FINANCIAL = "economic_financial"
    CONNECTION = "connection"
    LOCATION = "location"
    INTERNET = "internet"
    OTHER = "other"


class TransferSafeguard(StrEnum):
    """The Chapter V tools a transfer outside the EU/EEA can rest on (I.3)."""

    ADEQUACY = "adequacy"
    SCC = "scc"
    BCR = "bcr"
    DEROGATION = "derogation"


@dataclass(frozen=True)
class Party:
    """A named organisation or person with how to reach them."""

    name: str
    contact: str


@dataclass(frozen=True)
class Transfer:
    """A transfer of personal data outside the EU/EEA and the safeguard it rests on."""

    recipient: str
    country: str
    safeguard: TransferSafeguard
    documentation: str | None = None


@dataclass(frozen=True)
class SecurityMeasures:
    """The security measures of a register entry, in the CNIL template's groups (M.4)."""

    access_control: str = ""
    traceability: str = ""
    software_protection: str = ""
    backup: str = ""
    encryption: str = ""
    processor_control: str = ""
    other: str = ""


# --- Purpose: one entry of the Art. 30 register, versioned.


@dataclass(frozen=True)
class PurposeVersion:
    """One version of a register entry, in force from `valid_from` until `valid_to` (exclusive)."""

    version: int
    valid_from: datetime
    valid_to: datetime | None
    name: str
    controller: Party
    dpo: Party | None
    description: str
    lawful_basis: LawfulBasis
    legitimate_interest: str | None = None
    data_categories: dict[DataCategory, tuple[str, ...]] = field(default_factory=dict)
    special_categories: bool = False
    special_categories_detail: tuple[str, ...] = ()
    data_subjects: tuple[str, ...] = ()
    recipients_internal: tuple[str, ...] = ()
    recipients_external: tuple[str, ...] = ()
    processor_ids: tuple[str, ...] = ()
    retention: dict[str, str] = field(default_factory=dict)
    transfers: tuple[Transfer, ...] = ()
    security_measures: SecurityMeasures = field(default_factory=SecurityMeasures)
    dpia_required: bool = False
    joint_controller: Party | None = None
    software: str | None = None
    #: Art. 14(5)(b) (informing the people is impossible or needs disproportionate effort) claimed in the
    #: register entry, with the ground stated; the gate asks for review (INFO-03).
    art14_exemption_claimed: bool = False
    art14_exemption_ground: str | None = None
    #: Register-entry facts the campaign gate holds each campaign to (REG-01..REG-06, issue 19): the
    #: channels the processing uses (empty: the entry does not say), the longest time in months the data
    #: used for it is kept (None: not stated in months), whether it profiles people (Art. 4(4)), and the
    #: reference of the DPIA carried out for it (Art. 35).
    channels: tuple[Channel, ...] = ()
    retention_months: int | None = None
    profiling: bool = False
    dpia_reference: str | None = None

    def in_force_at(self, at: datetime) -> bool:
        """Tells whether this version is the one in force at `at`."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    @property
    def in_force(self) -> bool:
        """Tells whether this version is the latest and has not been closed."""
        return self.valid_to is None


# Fields that versioning owns; a revision cannot set them directly.
_VERSIONING_FIELDS = frozenset({"version", "valid_from", "valid_to"})
_CONTENT_FIELDS = tuple(
    f.name for f in dataclasses.fields(PurposeVersion) if f.name not in _VERSIONING_FIELDS
)


def check_purpose_content(version: PurposeVersion) -> None:
    """Raises when a register entry is self-contradictory or lacks a required statement."""
    if (
        version.lawful_basis is LawfulBasis.LEGITIMATE_INTERESTS
        and not (version.legitimate_interest or "").strip()
    ):
        raise errors.LegitimateInterestNotStatedError()
    if version.special_categories and not version.special_categories_detail:
        raise errors.SpecialCategoriesNotDescribedError()
    for transfer in version.transfers:
        if not isinstance(transfer.safeguard, TransferSafeguard):
            raise errors.TransferSafeguardMissingError(transfer.country)
    if version.art14_exemption_claimed and not (version.art14_exemption_ground or "").strip():
        raise errors.Art14ExemptionGroundMissingError()
    if version.retention_months is not None and version.retention_months < 1:
        raise errors.InvalidRevisionError("retention_months must be at least 1")


@dataclass
class Purpose:
    """A processing purpose of the register; every change makes a new version and keeps the old ones."""

    purpose_id: str
    versions: list[PurposeVersion]
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def register(
        cls,
        *,
        at: datetime,
        name: str,
        controller: Party,
        description: str,
        lawful_basis: LawfulBasis,
        purpose_id: str | None = None,
        dpo: Party | None = None,
        legitimate_interest: str | None = None,
        data_categories: dict[DataCategory, tuple[str, ...]] | None = None,
        special_categories: bool = False,
        special_categories_detail: Iterable[str] = (),
        data_subjects: Iterable[str] = (),
        recipients_internal: Iterable[str] = (),
        recipients_external: Iterable[str] = (),
        processor_ids: Iterable[str] = (),
        retention: dict[str, str] | None = None,
        transfers: Iterable[Transfer] = (),
        security_measures: SecurityMeasures | None = None,
        dpia_required: bool = False,
        joint_controller: Party | None = None,
        software: str | None = None,
        art14_exemption_claimed: bool = False,
        art14_exemption_ground: str | None = None,
        channels: Iterable[Channel | str] = (),
        retention_months: int | None = None,
        profiling: bool = False,
        dpia_reference: str | None = None,
    ) -> Purpose:
        """Registers a new purpose at version 1, in force from `at`."""
        check_aware("at", at)
        first = PurposeVersion(
            version=1,
            valid_from=at,
            valid_to=None,
            name=name,
            controller=controller,
            dpo=dpo,
            description=description,
            lawful_basis=LawfulBasis(lawful_basis),
            legitimate_interest=legitimate_interest,
            data_categories=dict(data_categories or {}),
            special_categories=special_categories,
            special_categories_detail=tuple(special_categories_detail),
            data_subjects=tuple(data_subjects),
            recipients_internal=tuple(recipients_internal),
            recipients_external=tuple(recipients_external),
            processor_ids=tuple(processor_ids),
            retention=dict(retention or {}),
            transfers=tuple(transfers),
            security_measures=security_measures or SecurityMeasures(),
            dpia_required=dpia_required,
            joint_controller=joint_controller,
            software=software,
            art14_exemption_claimed=art14_exemption_claimed,
            # Because a ground without the claim says nothing; the register keeps it only with the claim.
            art14_exemption_ground=art14_exemption_ground if art14_exemption_claimed else None,
            channels=tuple(dict.fromkeys(to_enum(Channel, c) for c in channels)),
            retention_months=retention_months,
            profiling=profiling,
            dpia_reference=dpia_reference,
        )
        check_purpose_content(first)
        purpose = cls(purpose_id=purpose_id or new_id(), versions=[first])
        purpose.events.append(
            events.PurposeRegistered(
                purpose_id=purpose.purpose_id,
                version=1,
                name=name,
                lawful_basis=first.lawful_basis.value,
                at=at,
                art14_exemption_claimed=first.art14_exemption_claimed,
                art14_exemption_ground=first.art14_exemption_ground,
                entry=entry_facts(first),
            )
        )
        return purpose

    @property
    def current(self) -> PurposeVersion | None:
        """Returns the latest version if it is still in force, else None (retired)."""
        latest = self.versions[-1]
        return latest if latest.in_force else None

    def version_at(self, at: datetime) -> PurposeVersion | None:
        """Returns the version in force at `at`, or None."""
        return next((v for v in self.versions if v.in_force_at(at)), None)

    def version_in_force_or_raise(self, at: datetime) -> PurposeVersion:
        """Returns the version in force at `at`, or raises `PurposeNotInForceError`."""
        version = self.version_at(at)
        if version is None:
            raise errors.PurposeNotInForceError(self.purpose_id)
        return version

    def revise(self, *, at: datetime, **changes: object) -> PurposeVersion:
        """Makes version n+1 from the current one with `changes`, closing version n at `at`.

        A revision that changes nothing returns the current version and records no event.
        """
        check_aware("at", at)
        current = self.check_in_force()
        check_not_before("revision time", at, "current version start", current.valid_from)
        unknown = sorted(set(changes) - set(_CONTENT_FIELDS))
        if unknown:
            raise errors.InvalidRevisionError(f"cannot revise fields {unknown}")
        # Any: the names were checked against the content fields above and `check_purpose_content`
        # vets the successor; the values' types depend on the name, which no static type can follow.
        normalised: dict[str, Any] = {name: _normalise(name, value) for name, value in changes.items()}
        if normalised.get("art14_exemption_claimed") is False:
            normalised["art14_exemption_ground"] = None
        changed = tuple(
            name
            for name in _CONTENT_FIELDS
            if name in normalised and normalised[name] != getattr(current, name)
        )
        if not changed:
            return current
        successor = dataclasses.replace(
            current, version=current.version + 1, valid_from=at, valid_to=None, **normalised
        )
        check_purpose_content(successor)
        self.versions[-1] = dataclasses.replace(current, valid_to=at)
        self.versions.append(successor)
        self.events.append(
            events.PurposeRevised(
                purpose_id=self.purpose_id,
                version=successor.version,
                previous_version=current.version,
                changed_fields=changed,
                lawful_basis=successor.lawful_basis.value,
                at=at,
                art14_exemption_claimed=successor.art14_exemption_claimed,
                art14_exemption_ground=successor.art14_exemption_ground,
                entry=entry_facts(successor),
            )
        )
        return successor

    def retire(self, *, at: datetime) -> None:
        """Ends the current version at `at`, leaving no version in force; history stays."""
        check_aware("at", at)
        current = self.check_in_force()
        check_not_before("retirement time", at, "current version start", current.valid_from)
        self.versions[-1] = dataclasses.replace(current, valid_to=at)
        self.events.append(events.PurposeRetired(purpose_id=self.purpose_id, version=current.version, at=at))

    def check_in_force(self) -> PurposeVersion:
        """Returns the current version, or raises `PurposeNotInForceError` if the purpose is retired."""
        current = self.current
        if current is None:
            raise errors.PurposeNotInForceError(self.purpose_id)
        return current


def entry_facts(version: PurposeVersion) -> dict[str, object]:
    """Returns what the campaign gate checks a campaign against in a register entry (issue 19, REG-*):
    channels, data-category groups, special categories, processors, retention in months, profiling and
    the DPIA; ids, codes and numbers only (the free-text cells of the register stay in consent)."""
    return {
        "version": version.version,
        "channels": [c.value for c in version.channels],
        "data_categories": sorted(c.value for c, items in version.data_categories.items() if items),
        "special_categories": version.special_categories,
        "processor_ids": list(version.processor_ids),
        "retention_months": version.retention_months,
        "profiling": version.profiling,
        "dpia_required": version.dpia_required,
        "dpia_reference": version.dpia_reference,
    }


def _normalise(name: str, value: object) -> object:
    # Because a list and a tuple with the same items must not count as a change.
    if name == "lawful_basis":
        return to_enum(LawfulBasis, value)
    if name == "channels" and isinstance(value, Iterable) and not isinstance(value, str):
        return tuple(dict.fromkeys(to_enum(Channel, c) for c in value))
    if isinstance(value, list):
        return tuple(value)
    return value


def check_purpose_allows_consent(purpose_id: str, purpose: Purpose | None, at: datetime) -> PurposeVersion:
    """Returns the purpose version in force at `at` if a consent may be recorded for it, else raises."""
    if purpose is None or purpose.purpose_id != purpose_id:
        raise errors.UnknownPurposeError(purpose_id)
    version = purpose.version_in_force_or_raise(at)
    if version.lawful_basis is not LawfulBasis.CONSENT:
        raise errors.LawfulBasisNotConsentError(purpose_id, version.lawful_basis.value)
    return version


# --- Consent: one record per (contact, purpose, channel) and per grant.


class ConsentStatus(StrEnum):
    """Where a consent record stands."""

    PENDING = "pending"
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class CollectionMethod(StrEnum):
    """How the consent was collected."""

    WEB_FORM = "web_form"
    MOBILE_APP = "mobile_app"
    PAPER_FORM = "paper_form"
    PHONE = "phone"
    IN_PERSON = "in_person"
    EMAIL = "email"
    SMS = "sms"
    OTHER = "other"


class CollectorKind(StrEnum):
    """Who collected the consent: us, or a partner or broker on whose form we appeared (UNI-05)."""

    FIRST_PARTY = "first_party"
    PARTNER = "partner"
    BROKER = "broker"


@dataclass(frozen=True)
class Collector:
    """The party that collected the consent, and the partner list it showed if any."""

    kind: CollectorKind = CollectorKind.FIRST_PARTY
    name: str | None = None
    partner_list_shown: tuple[str, ...] = ()

    def check_named(self) -> None:
        """Raises `CollectorNameMissingError` when a partner or broker is not named."""
        if self.kind is not CollectorKind.FIRST_PARTY and not (self.name or "").strip():
            raise errors.CollectorNameMissingError(self.kind.value)


def truncate_ip(ip: str) -> str:
    """Returns the IP with its host part zeroed: /24 for IPv4, /48 for IPv6."""
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def keyed_ip_hash(ip: str, *, key: bytes) -> str:
    """Returns the HMAC-SHA-256 (hex) of the normalised IP under `key`."""
    normalised = str(ipaddress.ip_address(ip))
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def check_ip_not_raw(ip: str | None) -> None:
    """Raises `RawIpAddressError` when `ip` is a full address rather than a truncated or hashed one."""
    if ip is None:
        return
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return  # A keyed hash or other opaque token.
    host_bits = 8 if address.version == 4 else 80
    if int(address) & ((1 << host_bits) - 1):
        raise errors.RawIpAddressError()


class GivenBy(StrEnum):
    """Who gave the consent: the person, or a holder of parental authority with them (UNI-09, art. 45 loi
    78-17)."""

    DATA_SUBJECT = "data_subject"
    PARENTAL_AUTHORITY_HOLDER = "parental_authority_holder"


class ConsentAct(StrEnum):
    """What the person did on the form, as the collector recorded it (Art. 4(11), recital 32, Planet49)."""

    TICKED_BOX = "ticked_box"  # ticked a box that was shown unticked
    CLICKED_BUTTON = "clicked_button"  # a button or toggle that gives this consent and nothing else
    SIGNED = "signed"  # signed or initialled a dedicated box of a paper form
    SAID_YES = "said_yes"  # said yes to a question asked on a recorded call or in person
    REPLIED_YES = "replied_yes"  # replied yes to a request (SMS "OUI", e-mail reply)
    PRE_TICKED_BOX = "pre_ticked_box"  # the box was ticked in advance and left as it was
    BUNDLED_WITH_TERMS = "bundled_with_terms"  # accepted general terms that include the consent
    INACTIVITY = "inactivity"  # silence, continued browsing, not opting out


#: The acts that are a clear affirmative act of the person; the others are not (Art. 4(11), CJEU C-673/17).
AFFIRMATIVE_ACTS = frozenset(
    {
        ConsentAct.TICKED_BOX,
        ConsentAct.CLICKED_BUTTON,
        ConsentAct.SIGNED,
        ConsentAct.SAID_YES,
        ConsentAct.REPLIED_YES,
    }
)

_WITHDRAWAL_VERB = r"(?:retir\w*|retrait|revoqu\w*|revocation|withdraw\w*|revok\w*|annul\w*)"
_CONSENT_NOUN = r"(?:consent\w*|accord|autorisation|inscription|abonnement|permission)"
#: Wording that tells the person consent can be withdrawn (Art. 7(3)), in French or English, accents removed:
#: a withdrawal verb near "consent" (either order), or an unsubscribe / STOP instruction.
_WITHDRAWAL_STATEMENT = re.compile(
    rf"{_WITHDRAWAL_VERB}\W+(?:\w+\W+){{0,5}}?{_CONSENT_NOUN}"
    rf"|{_CONSENT_NOUN}\W+(?:\w+\W+){{0,8}}?{_WITHDRAWAL_VERB}"
    r"|desinscri|desabonn|unsubscrib|opt[- ]?out|\bstop\b",
)


def states_withdrawal(text: str | None) -> bool:
    """Tells whether `text` tells the person that consent can be withdrawn (or how to unsubscribe)."""
    if not text:
        return False
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return _WITHDRAWAL_STATEMENT.search(plain) is not None


@dataclass(frozen=True)
class TermsEntered:
    """What the collector entered about how the consent was given, before consent derives its terms.

    `act` is what the person did; `positive_act` and `withdrawal_info_given` are the collector's own
    claims, accepted only when what was entered bears them out; `withdrawal_statement` is the sentence
    shown before consenting when it is not in the wording.
    """

    act: ConsentAct | None = None
    positive_act: bool | None = None
    withdrawal_info_given: bool | None = None
    withdrawal_statement: str | None = None
    explicit: bool = False
    given_by: tuple[GivenBy, ...] = (GivenBy.DATA_SUBJECT,)


class TermsFacts(TypedDict):
    """The terms of a consent as the fields of its events (`ConsentRequested`, `ConsentGranted`)."""

    positive_act: bool
    withdrawal_info_given: bool
    explicit: bool
    given_by: tuple[str, ...]


@dataclass(frozen=True)
class ConsentTerms:
    """What the form showed and how the person acted: the facts the gate checks a consent's validity on.

    `positive_act`: a box ticked by the person, not pre-ticked nor bundled in terms (Art. 4(11));
    `withdrawal_info_given`: told before consenting that consent can be withdrawn (INFO-04, Art. 7(3));
    `explicit`: an explicit consent, required for special-category targeting (Art. 9(2)(a), UNI-11);
    `given_by`: the person, a holder of parental authority, or both jointly (UNI-09);
    `act` and `withdrawal_statement`: what was entered, kept so that the derivation can be shown.
    """

    positive_act: bool = False
    withdrawal_info_given: bool = False
    explicit: bool = False
    given_by: tuple[GivenBy, ...] = (GivenBy.DATA_SUBJECT,)
    act: ConsentAct | None = None
    withdrawal_statement: str | None = None

    def __post_init__(self) -> None:
        given = tuple(dict.fromkeys(GivenBy(g) for g in self.given_by))
        if not given:
            raise errors.ConsentProofIncompleteError(["terms.given_by"])
        object.__setattr__(self, "given_by", given)
        if self.act is not None:
            object.__setattr__(self, "act", ConsentAct(self.act))

    @classmethod
    def derive(
        cls, entered: TermsEntered, *, wording: str, notice_states_withdrawal: bool = False
    ) -> ConsentTerms:
        """Returns the terms that what was entered supports; raises when a claim contradicts it.

        A positive act comes from `act` (a pre-ticked box, bundled terms or inactivity is none); with no
        act, from the collector's own statement, never assumed. The person was told consent can be
        withdrawn when the wording, the withdrawal statement or the notice cited at collection says so.
        An explicit consent needs a positive act.
        """
        contradictions: list[str] = []
        if entered.act is not None:
            positive = ConsentAct(entered.act) in AFFIRMATIVE_ACTS
            if entered.positive_act is not None and entered.positive_act != positive:
                contradictions.append(
                    f"terms.positive_act: contradicts terms.act {ConsentAct(entered.act).value!r}"
                )
        else:
            positive = bool(entered.positive_act)
        told = (
            states_withdrawal(wording)
            or states_withdrawal(entered.withdrawal_statement)
            or notice_states_withdrawal
        )
        if entered.withdrawal_info_given and not told:
            contradictions.append(
                "terms.withdrawal_info_given: neither the wording, terms.withdrawal_statement nor the notice "
                "cited tells the person that consent can be withdrawn"
            )
        if entered.explicit and not positive:
            contradictions.append("terms.explicit: an explicit consent needs a positive act")
        if contradictions:
            raise errors.ConsentTermsContradictedError(contradictions)
        return cls(
            positive_act=positive,
            withdrawal_info_given=told,
            explicit=entered.explicit,
            given_by=entered.given_by,
            act=entered.act,
            withdrawal_statement=(entered.withdrawal_statement or "").strip() or None,
        )

    @property
    def given_jointly(self) -> bool:
        """Tells whether the person and a holder of parental authority consented together."""
        return set(self.given_by) == {GivenBy.DATA_SUBJECT, GivenBy.PARENTAL_AUTHORITY_HOLDER}

    def facts(self) -> TermsFacts:
        """Returns the terms as event fields."""
        return {
            "positive_act": self.positive_act,
            "withdrawal_info_given": self.withdrawal_info_given,
            "explicit": self.explicit,
            "given_by": tuple(g.value for g in self.given_by),
        }

    def record(self) -> dict[str, object]:
        """Returns the terms as stored: the event fields and what was entered."""
        return {
            **self.facts(),
            "given_by": [g.value for g in self.given_by],
            "act": self.act.value if self.act else None,
            "withdrawal_statement": self.withdrawal_statement,
        }


@dataclass(frozen=True)
class ConsentProof:
    """What lets the controller demonstrate the consent (Art. 7(1)): when, where, from which device."""

    captured_at: datetime
    source: str
    ip: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        check_aware("proof.captured_at", self.captured_at)
        check_ip_not_raw(self.ip)


def check_consent_proof(*, wording: str, proof: ConsentProof | None) -> None:
    """Raises `ConsentProofIncompleteError` naming what a provable consent lacks (UNI-04)."""
    missing = []
    if not wording.strip():
        missing.append("wording")
    if proof is None:
        missing.append("proof")
    elif not proof.source.strip():
        missing.append("proof.source")
    if missing:
        raise errors.ConsentProofIncompleteError(missing)


@dataclass
class Consent:
    """One consent for a (contact, purpose, channel); withdrawn records are kept, never reused."""

    consent_id: str
    contact_id: str
    purpose_id: str
    purpose_version: int
    channel: Channel
    status: ConsentStatus
    collection_method: CollectionMethod
    wording: str
    notice_id: str | None
    notice_version: int | None
    collector: Collector
    proof: ConsentProof
    double_opt_in: bool
    requested_at: datetime
    granted_at: datetime | None = None
    confirmed_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdrawal_source: str | None = None
    terms: ConsentTerms = field(default_factory=ConsentTerms)
    out_of_hours_calls: bool = False
    #: The partners, by name, and the categories of partners the person agreed their data may be transferred
    #: or rented to (RENT-01, issue 19); empty: the consent covers no transfer.
    partners: tuple[str, ...] = ()
    partner_categories: tuple[str, ...] = ()
    #: The person's consent to per-recipient tracking of this e-mail (opening pixels, tracked links): Art. 82
    #: loi Informatique et Libertés (TRACK-01); only an e-mail consent can carry it.
    email_tracking: bool = False
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def grant(
        cls,
        *,
        contact_id: str,
        purpose_id: str,
        purpose: Purpose | None,
        channel: Channel,
        at: datetime,
        collection_method: CollectionMethod,
        wording: str,
        proof: ConsentProof,
        notice_id: str | None = None,
        notice_version: int | None = None,
        collector: Collector | None = None,
        double_opt_in: bool | None = None,
        existing: Iterable[Consent] = (),
        consent_id: str | None = None,
        terms: ConsentTerms | None = None,
        out_of_hours_calls: bool = False,
        partners: Iterable[str] = (),
        partner_categories: Iterable[str] = (),
        email_tracking: bool = False,
    ) -> Consent:
        """Records a new consent; pending until confirmed when double opt-in applies, else granted.

        `purpose` is the register entry looked up for `purpose_id` (None when there is none).
        Double opt-in defaults to on for e-mail and off for other channels.
        `existing` are the contact's other consents, checked so that no two are active at once.
        `out_of_hours_calls`: the person's express consent to be called outside the D223-9 slots, which
        only a `phone_human` consent can carry. `partners` and `partner_categories`: who the person agreed
        their data may be transferred or rented to (names kept as entered, stripped, each once);
        `email_tracking`: consent to per-recipient tracking of e-mails (only an `email` consent carries it).
        """
        check_aware("at", at)
        version = check_purpose_allows_consent(purpose_id, purpose, at)
        channel = Channel(channel)
        collector = collector or Collector()
        collector.check_named()
        check_consent_proof(wording=wording, proof=proof)
        check_no_active_consent(existing, contact_id=contact_id, purpose_id=purpose_id, channel=channel)
        if out_of_hours_calls and channel is not Channel.PHONE_HUMAN:
            raise errors.OutOfHoursCallsChannelError(channel.value)
        if email_tracking and channel is not Channel.EMAIL:
            raise errors.EmailTrackingChannelError(channel.value)
        if double_opt_in is None:
            double_opt_in = channel is Channel.EMAIL
        consent = cls(
            consent_id=consent_id or new_id(),
            contact_id=contact_id,
            purpose_id=purpose_id,
            purpose_version=version.version,
            channel=channel,
            status=ConsentStatus.PENDING if double_opt_in else ConsentStatus.GRANTED,
            collection_method=CollectionMethod(collection_method),
            wording=wording,
            notice_id=notice_id,
            notice_version=notice_version,
            collector=collector,
            proof=proof,
            double_opt_in=double_opt_in,
            requested_at=at,
            granted_at=None if double_opt_in else at,
            terms=terms or ConsentTerms(),
            out_of_hours_calls=out_of_hours_calls,
            partners=_names(partners),
            partner_categories=_names(partner_categories),
            email_tracking=email_tracking,
        )
        if double_opt_in:
            consent.events.append(
                events.ConsentRequested(
                    consent_id=consent.consent_id,
                    contact_id=contact_id,
                    purpose_id=purpose_id,
                    purpose_version=version.version,
                    channel=channel.value,
                    notice_id=notice_id,
                    notice_version=notice_version,
                    collector_kind=collector.kind.value,
                    collector_name=collector.name,
                    requested_at=at,
                    proof_present=consent.proof_present,
                    out_of_hours_calls=consent.out_of_hours_calls,
                    **consent.terms.facts(),
                    **consent.transfer_facts(),
                )
            )
        else:
            consent.events.append(consent._granted_event())
        return consent

    def transfer_facts(self) -> dict[str, Any]:
        """Returns the partners, partner categories and e-mail tracking the consent covers (event fields)."""
        return {
            "partners": self.partners,
            "partner_categories": self.partner_categories,
            "email_tracking": self.email_tracking,
        }

    @property
    def proof_present(self) -> bool:
        """Tells whether the record can demonstrate the consent: wording, proof source and time (UNI-04)."""
        return bool(
            self.wording.strip()
            and self.proof is not None
            and self.proof.source.strip()
            and self.proof.captured_at is not None
        )

    @property
    def is_active(self) -> bool:
        """Tells whether the consent is pending or granted (not withdrawn)."""
        return self.status is not ConsentStatus.WITHDRAWN

    @property
    def is_granted(self) -> bool:
        """Tells whether the consent currently allows the processing."""
        return self.status is ConsentStatus.GRANTED

    def confirm(self, at: datetime) -> None:
        """Confirms a pending double opt-in consent, which becomes granted at `at`."""
        check_aware("at", at)
        self.check_not_withdrawn()
        if self.status is not ConsentStatus.PENDING:
            raise errors.ConsentNotPendingError(self.consent_id, self.status.value)
        check_not_before("confirmation time", at, "request time", self.requested_at)
        self.status = ConsentStatus.GRANTED
        self.confirmed_at = at
        self.granted_at = at
        self.events.append(self._granted_event())

    def withdraw(self, at: datetime, *, source: str | None = None) -> None:
        """Withdraws the consent at `at`, keeping the grant time beside the withdrawal time."""
        check_aware("at", at)
        self.check_not_withdrawn()
        check_not_before("withdrawal time", at, "request time", self.requested_at)
        self.status = ConsentStatus.WITHDRAWN
        self.withdrawn_at = at
        self.withdrawal_source = source
        self.events.append(
            events.ConsentWithdrawn(
                consent_id=self.consent_id,
                contact_id=self.contact_id,
                purpose_id=self.purpose_id,
                channel=self.channel.value,
                granted_at=self.granted_at,
                withdrawn_at=at,
            )
        )

    def check_not_withdrawn(self) -> None:
        """Raises `ConsentAlreadyWithdrawnError` when the consent was withdrawn."""
        if self.status is ConsentStatus.WITHDRAWN:
            raise errors.ConsentAlreadyWithdrawnError(self.consent_id)

    def _granted_event(self) -> ConsentGranted:
        assert self.granted_at is not None
        return ConsentGranted(
            consent_id=self.consent_id,
            contact_id=self.contact_id,
            purpose_id=self.purpose_id,
            purpose_version=self.purpose_version,
            channel=self.channel.value,
            notice_id=self.notice_id,
            notice_version=self.notice_version,
            collector_kind=self.collector.kind.value,
            collector_name=self.collector.name,
            requested_at=self.requested_at,
            granted_at=self.granted_at,
            confirmed_at=self.confirmed_at,
            proof_present=self.proof_present,
            out_of_hours_calls=self.out_of_hours_calls,
            **self.terms.facts(),
            **self.transfer_facts(),
        )


def _names(values: Iterable[str]) -> tuple[str, ...]:
    """Returns names stripped, blank ones dropped, each once in the order given."""
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def check_no_active_consent(
    existing: Iterable[Consent], *, contact_id: str, purpose_id: str, channel: Channel
) -> None:
    """Raises `ConsentAlreadyActiveError` when the same (contact, purpose, channel) has an active consent."""
    for other in existing:
        if (other.contact_id, other.purpose_id, other.channel) == (
            contact_id,
            purpose_id,
            channel,
        ) and other.is_active:
            raise errors.ConsentAlreadyActiveError(other.consent_id)


# --- Objection: absolute for direct marketing (UNI-01), outlives erasure through blind indexes (UNI-02).

#: The scope of an objection to all direct marketing: every channel, every purpose (Art. 21(2)-(3) GDPR).
ALL_DIRECT_MARKETING: Final = "all_direct_marketing"


class ObjectionScope(StrEnum):
    """What an objection (an unsubscribe) covers.

    `all_direct_marketing` (the API also takes `all`): every channel and every purpose; `channel`: one
    channel, for every purpose; `purpose`: one purpose of the register, on every channel. A plain
    unsubscribe link that says nothing more is `all_direct_marketing` (see `DEFAULT_OBJECTION_SCOPE`).
    """

    ALL = ALL_DIRECT_MARKETING
    CHANNEL = "channel"
    PURPOSE = "purpose"


#: What an objection that names no scope covers, a plain unsubscribe link's included: all direct
#: marketing. Art. 21(3) GDPR stops the processing "for such purposes" as a whole, and the CNIL presents
#: the link in each message as the way to object to receiving prospection, with no narrower reading; a
#: narrower scope is the person's own choice (a preference page), never presumed by the controller.
DEFAULT_OBJECTION_SCOPE: Final = ObjectionScope.ALL


class ObjectionReason(StrEnum):
    """Why an objection is on the list: the person objected, or a contact was erased (RET-05, UNI-02)."""

    OBJECTION = "objection"
    #: Kept at an erasure so that a re-import of the same e-mail or phone is not contacted again.
    ERASURE = "erasure"


@dataclass
class Objection:
    """A person's objection to direct marketing: to all of it, one channel or one purpose; kept after
    erasure."""

    objection_id: str
    contact_id: str | None
    scope: str
    at: datetime
    blind_indexes: tuple[str, ...]
    reason: ObjectionReason = ObjectionReason.OBJECTION
    #: The channel objected to (scope `channel` only).
    channel: Channel | None = None
    #: The register purpose objected to (scope `purpose` only).
    purpose_id: str | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def record(
        cls,
        *,
        contact_id: str | None,
        scope: str | Channel,
        at: datetime,
        blind_indexes: Iterable[str] = (),
        objection_id: str | None = None,
        reason: ObjectionReason = ObjectionReason.OBJECTION,
        channel: str | Channel | None = None,
        purpose_id: str | None = None,
    ) -> Objection:
        """Records an objection; it needs no justification and is never refused.

        The scope is checked with its channel or purpose (`check_objection_scope`).
        """
        check_aware("at", at)
        kind, chosen, purpose = check_objection_scope(scope, channel=channel, purpose_id=purpose_id)
        indexes = tuple(dict.fromkeys(i for i in blind_indexes if i))
        objection = cls(
            objection_id=objection_id or new_id(),
            contact_id=contact_id,
            scope=kind.value,
            at=at,
            blind_indexes=indexes,
            reason=ObjectionReason(reason),
            channel=chosen,
            purpose_id=purpose,
        )
        objection.events.append(
            events.ObjectionRecorded(
                objection_id=objection.objection_id,
                contact_id=contact_id,
                scope=kind.value,
                blind_indexes=indexes,
                at=at,
                reason=objection.reason.value,
                channel=chosen.value if chosen else None,
                purpose_id=purpose,
            )
        )
        return objection

    def add_blind_indexes(self, blind_indexes: Iterable[str], *, at: datetime) -> tuple[str, ...]:
        """Adds the person's other blind indexes (a new e-mail, a phone) so a re-import still matches;
        returns the new ones."""
        check_aware("at", at)
        new = tuple(i for i in dict.fromkeys(blind_indexes) if i and i not in self.blind_indexes)
        if new:
            self.blind_indexes = self.blind_indexes + new
            self.events.append(
                events.ObjectionIndexesAdded(
                    objection_id=self.objection_id, contact_id=self.contact_id, blind_indexes=new, at=at
                )
            )
        return new

    def covers(self, channel: Channel, purpose_id: str | None = None) -> bool:
        """Tells whether this objection forbids direct marketing on `channel` for `purpose_id` (a purpose
        objection covers only its purpose: with no purpose given, it does not)."""
        if self.scope == ObjectionScope.CHANNEL:
            return self.channel is Channel(channel)
        if self.scope == ObjectionScope.PURPOSE:
            return purpose_id is not None and purpose_id == self.purpose_id
        return True


def check_objection_scope(
    scope: str | Channel, *, channel: str | Channel | None = None, purpose_id: str | None = None
) -> tuple[ObjectionScope, Channel | None, str | None]:
    """Returns (scope, channel, purpose) checked together, or raises `InvalidObjectionScopeError` naming
    each field at fault.

    `all` means `all_direct_marketing`; a channel given as the scope itself (the form before scopes were
    explicit) means scope `channel` on that channel, so objections recorded that way keep their meaning.
    """
    problems: list[errors.FieldProblem] = []
    value = str(scope)
    if value == "all":
        value = ALL_DIRECT_MARKETING
    if value in {c.value for c in Channel}:
        if channel is not None and str(channel) != value:
            problems.append(
                errors.FieldProblem("OBJ-02", "channel", "differs from the channel given as scope")
            )
        value, channel = ObjectionScope.CHANNEL.value, value
    if value not in {s.value for s in ObjectionScope}:
        raise errors.InvalidObjectionScopeError(value)
    kind = ObjectionScope(value)
    chosen: Channel | None = None
    if channel is not None:
        try:
            chosen = Channel(str(channel))
        except ValueError:
            problems.append(errors.FieldProblem("OBJ-02", "channel", "not a known channel"))
    if kind is ObjectionScope.CHANNEL and channel is None:
        problems.append(errors.FieldProblem("OBJ-02", "channel", "required when the scope is channel"))
    if kind is not ObjectionScope.CHANNEL and channel is not None:
        problems.append(errors.FieldProblem("OBJ-02", "channel", "only taken when the scope is channel"))
    purpose = purpose_id.strip() if purpose_id else None
    if kind is ObjectionScope.PURPOSE and not purpose:
        problems.append(errors.FieldProblem("OBJ-03", "purpose_id", "required when the scope is purpose"))
    if kind is not ObjectionScope.PURPOSE and purpose_id is not None:
        problems.append(errors.FieldProblem("OBJ-03", "purpose_id", "only taken when the scope is purpose"))
    if problems:
        raise errors.ObjectionScopeError("the objection's scope does not match its fields", problems)
    return kind, chosen, purpose
