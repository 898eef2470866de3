"""Errors raised by the consent domain, all under one base `ConsentError`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ConsentError(Exception):
    """Base class of every rule the consent domain refuses to break."""


class NaiveDatetimeError(ConsentError):
    """A time was given without a time zone."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} must be a timezone-aware datetime")
        self.name = name


class TimeOrderError(ConsentError):
    """A time is earlier than the fact it must follow."""


# Lookups (not rules: a missing or duplicate record named in a request).


class NotFoundError(Exception):
    """The record named in the request does not exist (or no longer does, after an erasure)."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id!r} not found")
        self.kind = kind
        self.record_id = record_id


class AlreadyExistsError(Exception):
    """A record with the id (or version) given in the request already exists."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id!r} already exists")
        self.kind = kind
        self.record_id = record_id


# Purposes (register of processing).


class UnknownPurposeError(ConsentError):
    """The purpose is not in the register of processing."""

    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"purpose {purpose_id!r} is not registered in the register of processing (Art. 30)")
        self.purpose_id = purpose_id


class PurposeNotInForceError(UnknownPurposeError):
    """The purpose is registered but has no version in force at the given time."""

    def __init__(self, purpose_id: str) -> None:
        ConsentError.__init__(self, f"purpose {purpose_id!r} has no version in force at that time")
        self.purpose_id = purpose_id


class LawfulBasisNotConsentError(ConsentError):
    """Consent was recorded for a purpose whose lawful basis is not consent."""

    def __init__(self, purpose_id: str, lawful_basis: str) -> None:
        super().__init__(
            f"purpose {purpose_id!r} has lawful basis {lawful_basis!r}, not consent; "
            "a consent cannot be recorded for it (change the register entry first)"
        )
        self.purpose_id = purpose_id
        self.lawful_basis = lawful_basis


class LegitimateInterestNotStatedError(ConsentError):
    """A purpose relies on legitimate interests without stating the interest pursued."""

    def __init__(self) -> None:
        super().__init__(
            "lawful basis legitimate_interests requires the legitimate interest pursued to be stated"
        )


class SpecialCategoriesNotDescribedError(ConsentError):
    """A purpose flags special categories of data without naming them."""

    def __init__(self) -> None:
        super().__init__("special categories are flagged but not named (Art. 9, Art. 10, NIR)")


class TransferSafeguardMissingError(ConsentError):
    """A transfer outside the EU/EEA has no Chapter V safeguard."""

    def __init__(self, country: str) -> None:
        super().__init__(f"transfer to {country!r} has no safeguard (adequacy, SCC, BCR or derogation)")
        self.country = country


class Art14ExemptionGroundMissingError(ConsentError):
    """The Art. 14(5)(b) exemption is claimed without stating why informing the people is impossible."""

    def __init__(self) -> None:
        super().__init__(
            "art14_exemption_ground: claiming the Art. 14(5)(b) exemption requires its ground "
            "(why informing the people is impossible or would need disproportionate effort)"
        )


class InvalidRevisionError(ConsentError):
    """A purpose revision tries to change a field that versioning owns, or an unknown field."""


# Consents.


class ConsentAlreadyWithdrawnError(ConsentError):
    """The consent was withdrawn; a new consent must be a new record."""

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id!r} was already withdrawn; record a new consent instead")
        self.consent_id = consent_id


class ConsentNotPendingError(ConsentError):
    """Only a pending (double opt-in) consent can be confirmed."""

    def __init__(self, consent_id: str, status: str) -> None:
        super().__init__(f"consent {consent_id!r} is {status}, not pending; nothing to confirm")
        self.consent_id = consent_id
        self.status = status


class ConsentAlreadyActiveError(ConsentError):
    """A consent for the same contact, purpose and channel is already pending or granted."""

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id!r} for this contact, purpose and channel is still active")
        self.consent_id = consent_id


class ConsentProofIncompleteError(ConsentError):
    """The consent lacks what is needed to demonstrate it (Art. 7(1), UNI-04)."""

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("consent proof is incomplete, missing: " + ", ".join(self.missing))


class ConsentTermsContradictedError(ConsentError):
    """A claim about how the consent was given contradicts what was entered (Art. 4(11), 7(3))."""

    def __init__(self, contradictions: Iterable[str]) -> None:
        self.contradictions = tuple(contradictions)
        super().__init__("consent terms contradict what was entered: " + "; ".join(self.contradictions))


class OutOfHoursCallsChannelError(ConsentError):
    """Consent to calls outside the D223-9 slots was given for a channel other than human phone calls."""

    def __init__(self, channel: str) -> None:
        super().__init__(
            f"out_of_hours_calls: only a phone_human consent can cover calls outside the "
            f"D223-9 slots, not a {channel} consent"
        )
        self.channel = channel


class EmailTrackingChannelError(ConsentError):
    """Consent to e-mail tracking (Art. 82 loi Informatique et Libertés) was given on another channel."""

    def __init__(self, channel: str) -> None:
        super().__init__(
            f"email_tracking: only an email consent can cover e-mail tracking, not a {channel} one"
        )
        self.channel = channel
        self.problem_extra = {"errors": [{"field": "email_tracking", "message": str(self)}]}


class CollectorNameMissingError(ConsentError):
    """A consent collected by a partner or broker does not name the collector (UNI-05)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"a consent collected by a {kind} must name that {kind}")
        self.kind = kind


class RawIpAddressError(ConsentError):
    """A full IP address was given where only a truncated or keyed-hashed one may be kept."""

    def __init__(self) -> None:
        super().__init__("proof IP must be truncated or keyed-hashed, not a full address")


# Objections.


class InvalidObjectionScopeError(ConsentError):
    """The objection scope is none of all direct marketing, channel or purpose (nor a channel)."""

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"objection scope {scope[:40]!r} is none of 'all_direct_marketing' ('all'), 'channel', 'purpose'"
        )
        self.scope = scope
        self.problem_extra = {
            "errors": [
                {
                    "field": "scope",
                    "message": "one of all_direct_marketing (all), channel, purpose",
                    "type": "OBJ-01",
                }
            ]
        }


# Notices.


class NoticeIncompleteError(ConsentError):
    """A notice lacks mandatory content of Art. 13 or Art. 14 (rule book H.1)."""

    def __init__(self, missing_items: Iterable[str]) -> None:
        self.missing_items = tuple(missing_items)
        super().__init__("notice is missing mandatory items: " + ", ".join(self.missing_items))


class NoticeItemNotApplicableError(ConsentError):
    """A notice marks an item as not applicable that cannot be, or that its purposes require."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"notice item {item!r} cannot be marked not applicable: {reason}")
        self.item = item
        self.reason = reason


class UnknownNoticeItemError(ConsentError):
    """A notice item key is not one of the H.1 keys."""

    def __init__(self, item: str) -> None:
        super().__init__(f"{item!r} is not a notice item key of the rule book (H.1)")
        self.item = item


class NoticeAlreadyPublishedError(ConsentError):
    """A published notice is immutable; publish a new version instead."""

    def __init__(self, notice_id: str, version: int) -> None:
        super().__init__(f"notice {notice_id!r} version {version} is published; make a new version")
        self.notice_id = notice_id
        self.version = version


class NoticeNotPublishedError(ConsentError):
    """Only a published notice can be delivered."""

    def __init__(self, notice_id: str, version: int) -> None:
        super().__init__(f"notice {notice_id!r} version {version} is not published")
        self.notice_id = notice_id
        self.version = version


class InvalidNoticeError(ConsentError):
    """A notice's article, language or purposes are malformed."""


# Processors.


class ProcessorEndedError(ConsentError):
    """An ended processor relationship cannot be changed back."""

    def __init__(self, processor_id: str) -> None:
        super().__init__(f"processor {processor_id!r} has ended; register a new relationship instead")
        self.processor_id = processor_id


class InvalidProcessorUpdateError(ConsentError):
    """A processor update names a field that cannot be updated."""


# Parties and contracts.


class InvalidPartyError(ConsentError):
    """A party lacks a legal name or a role, or an update names a field that cannot change."""


class PartyEndedError(ConsentError):
    """An ended party cannot change or sign a new contract."""

    def __init__(self, party_id: str) -> None:
        super().__init__(f"party {party_id!r} has ended; register a new party instead")
        self.party_id = party_id


class InvalidContractError(ConsentError):
    """A contract is malformed (no reference, negative delay)."""


class UnknownClauseError(ConsentError):
    """A clause key is not on the contract checklist."""

    def __init__(self, clause: str) -> None:
        super().__init__(f"{clause!r} is not a clause of the contract checklist")
        self.clause = clause


# Rule tables (breach register, contract terms): each problem names its rule and the field concerned.


@dataclass(frozen=True)
class FieldProblem:
    """One rule a request breaks: the rule id, the field to fix (dotted, as the API names it) and why."""

    rule: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """Returns the problem as one entry of a problem document's `errors` list."""
        return {"field": self.field, "message": self.message, "type": self.rule}


class RuleProblemsError(ConsentError):
    """A step breaks rules of a consent rule table; the problem document lists each field and rule."""

    def __init__(self, summary: str, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        details = "; ".join(f"{p.field}: {p.message} ({p.rule})" for p in self.problems)
        super().__init__(f"{summary}: {details}" if details else summary)
        self.problem_extra = {"errors": [p.as_dict() for p in self.problems]}


class BreachRuleError(RuleProblemsError):
    """A breach-register step lacks what Art. 33 or 34 GDPR requires of it (rules BRE-*)."""


class ContractTermsError(RuleProblemsError):
    """Structured contract terms are malformed or self-contradictory (rules TERM-*)."""


class BreachStepConflictError(ConsentError):
    """The step does not fit the breach's state (notified twice, communication already recorded)."""


class ObjectionScopeError(RuleProblemsError):
    """An objection's channel or purpose does not match its scope (rules OBJ-02, OBJ-03)."""
