"""Parties to a CRM deployment and their versioned contracts, with the clauses each role requires.

A party is any organisation the deployment brings in: consultants who study it, integrators and
software vendors who build or license the tool, processors and sub-processors who host or send,
data brokers who supply prospects, joint controllers. Whatever they do, the controller alone stays
responsible (Art. 5(2), 24, 28(1) GDPR), so each must be framed by a contract whose clauses suit its
role (rule book I.2, I.4; issue 10). The campaign gate reads the facts published here and blocks a
campaign through a party whose contract is not in force or lacks a clause its role requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict

from consent.domain import contract_terms, errors, events
from consent.domain.contract_terms import ContractTerms
from consent.domain.model import check_aware, check_not_before, new_id, to_enum
from consent.domain.processors import ART28_3_CHECKLIST, ART28_3_MANDATORY_CLAUSES


class PartyRole(StrEnum):
    """What a party does in the deployment."""

    CONSULTANT = "consultant"
    INTEGRATOR = "integrator"
    SOFTWARE_VENDOR = "software_vendor"
    PROCESSOR = "processor"
    SUB_PROCESSOR = "sub_processor"
    DATA_BROKER = "data_broker"
    JOINT_CONTROLLER = "joint_controller"


class PartyStatus(StrEnum):
    """Whether the party may still be relied on."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


# --- The clause checklist.

CONFIDENTIALITY = "confidentiality"
SECURITY_OBLIGATIONS = "security_obligations"
BREACH_NOTIFICATION_DELAY = "breach_notification_delay"
OWNERSHIP_OF_DEVELOPMENTS = "ownership_of_developments"
LICENCE_OF_USE = "licence_of_use"
LIABILITY = "liability"
RETURN_OR_DELETION_AT_END = "return_or_deletion_at_end"
AUDIT_RIGHTS = "audit_rights"
PROOF_OF_CONSENT_PER_RECORD = "proof_of_consent_per_record"
CONSENT_FORMS_NAME_US = "consent_forms_name_us_or_our_category"
ART26_ARRANGEMENT = "art26_arrangement"

GENERAL_CLAUSES: tuple[str, ...] = (
    CONFIDENTIALITY,
    SECURITY_OBLIGATIONS,
    BREACH_NOTIFICATION_DELAY,
    OWNERSHIP_OF_DEVELOPMENTS,
    LICENCE_OF_USE,
    LIABILITY,
    RETURN_OR_DELETION_AT_END,
    AUDIT_RIGHTS,
)
BROKER_CLAUSES: tuple[str, ...] = (PROOF_OF_CONSENT_PER_RECORD, CONSENT_FORMS_NAME_US)

#: Every clause key a contract may tick, in the order findings name them.
ALL_CLAUSES: tuple[str, ...] = GENERAL_CLAUSES + ART28_3_CHECKLIST + BROKER_CLAUSES + (ART26_ARRANGEMENT,)

_ART28 = ART28_3_CHECKLIST + (BREACH_NOTIFICATION_DELAY, LIABILITY)

#: The clauses each role's contract must contain (issue 10; I.2 for processors; Art. 26 for joint
#: controllers; UNI-05 and the FORIOU, HUBSIDE.STORE and Solocal decisions for brokers).
REQUIRED_CLAUSES: dict[PartyRole, tuple[str, ...]] = {
    # Studies the project: sees the data and produces deliverables whose ownership must be settled.
    PartyRole.CONSULTANT: (
        CONFIDENTIALITY,
        SECURITY_OBLIGATIONS,
        OWNERSHIP_OF_DEVELOPMENTS,
        LIABILITY,
        RETURN_OR_DELETION_AT_END,
    ),
    # Builds the tool: who owns what it develops, and our right to deploy it as studied.
    PartyRole.INTEGRATOR: (
        CONFIDENTIALITY,
        SECURITY_OBLIGATIONS,
        BREACH_NOTIFICATION_DELAY,
        OWNERSHIP_OF_DEVELOPMENTS,
        LICENCE_OF_USE,
        LIABILITY,
        RETURN_OR_DELETION_AT_END,
        AUDIT_RIGHTS,
    ),
    PartyRole.SOFTWARE_VENDOR: (
        CONFIDENTIALITY,
        SECURITY_OBLIGATIONS,
        BREACH_NOTIFICATION_DELAY,
        OWNERSHIP_OF_DEVELOPMENTS,
        LICENCE_OF_USE,
        LIABILITY,
        RETURN_OR_DELETION_AT_END,
    ),
    # Art. 28(3) covers confidentiality (b), security (c), return or deletion (g) and audits (h).
    PartyRole.PROCESSOR: _ART28,
    PartyRole.SUB_PROCESSOR: _ART28,
    PartyRole.DATA_BROKER: (
        CONFIDENTIALITY,
        SECURITY_OBLIGATIONS,
        BREACH_NOTIFICATION_DELAY,
        LIABILITY,
        AUDIT_RIGHTS,
        PROOF_OF_CONSENT_PER_RECORD,
        CONSENT_FORMS_NAME_US,
    ),
    PartyRole.JOINT_CONTROLLER: (
        ART26_ARRANGEMENT,
        CONFIDENTIALITY,
        SECURITY_OBLIGATIONS,
        BREACH_NOTIFICATION_DELAY,
        LIABILITY,
    ),
}

#: The controller must notify the CNIL within 72 hours (Art. 33(1)); a party allowed longer makes that
#: impossible.
MAX_BREACH_NOTIFICATION_HOURS = 72


def required_clauses(roles: Iterable[PartyRole | str]) -> tuple[str, ...]:
    """Returns the clauses the given roles require together, in checklist order."""
    wanted = {clause for role in roles for clause in REQUIRED_CLAUSES[PartyRole(role)]}
    return tuple(clause for clause in ALL_CLAUSES if clause in wanted)


def check_known_clauses(clauses: Iterable[str]) -> None:
    """Raises `UnknownClauseError` when a clause key is not on the checklist."""
    for clause in clauses:
        if clause not in ALL_CLAUSES:
            raise errors.UnknownClauseError(clause)


def check_roles(roles: Iterable[PartyRole | str]) -> tuple[PartyRole, ...]:
    """Returns the roles, deduplicated in declaration order, or raises when there is none or one is
    unknown."""
    try:
        checked = tuple(dict.fromkeys(PartyRole(role) for role in roles))
    except ValueError as exc:
        raise errors.InvalidPartyError(str(exc)) from exc
    if not checked:
        raise errors.InvalidPartyError("a party needs at least one role")
    return checked


# --- Contracts.


@dataclass
class Contract:
    """One version of the contract with a party; a new version supersedes the previous one."""

    contract_id: str
    party_id: str
    version: int
    reference: str
    signed_at: datetime | None
    expires_at: datetime | None
    clauses: frozenset[str]
    recorded_at: datetime
    breach_notification_hours: int | None = None
    scc_2021_915: bool = False
    licence_scope: str | None = None
    terms: ContractTerms | None = None
    expiring_notified_at: datetime | None = None
    expired_notified_at: datetime | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def sign(
        cls,
        *,
        party: Party,
        version: int,
        reference: str,
        signed_at: datetime | None,
        at: datetime,
        expires_at: datetime | None = None,
        clauses: Iterable[str] = (),
        breach_notification_hours: int | None = None,
        scc_2021_915: bool = False,
        licence_scope: str | None = None,
        terms: ContractTerms | None = None,
        contract_id: str | None = None,
    ) -> Contract:
        """Records a contract version for `party`; what it lacks is reported, not refused (see `findings`)."""
        check_aware("at", at)
        check_aware("signed_at", signed_at)
        check_aware("expires_at", expires_at)
        party.check_not_ended()
        if not reference.strip():
            raise errors.InvalidContractError("a contract needs a reference")
        if signed_at is not None and expires_at is not None:
            check_not_before("expires_at", expires_at, "signed_at", signed_at)
        if breach_notification_hours is not None and breach_notification_hours < 0:
            raise errors.InvalidContractError("breach_notification_hours must not be negative")
        clause_set = frozenset(clauses)
        check_known_clauses(clause_set)
        if terms is not None:
            contract_terms.check_terms(terms)
        contract = cls(
            contract_id=contract_id or new_id(),
            party_id=party.party_id,
            version=version,
            reference=reference,
            signed_at=signed_at,
            expires_at=expires_at,
            clauses=clause_set,
            recorded_at=at,
            breach_notification_hours=breach_notification_hours,
            scc_2021_915=scc_2021_915,
            licence_scope=licence_scope,
            terms=terms,
        )
        contract.events.append(events.ContractSigned(**contract_facts(party, contract, at=at), at=at))
        return contract

    def present_clauses(self) -> frozenset[str]:
        """Returns the clauses the contract contains, counting those the Commission's SCCs bring."""
        # Because the controller-processor SCCs (Decision 2021/915) contain every Art. 28(3) clause.
        covered = set(ART28_3_MANDATORY_CLAUSES) if self.scc_2021_915 else set()
        if self.breach_notification_hours is not None:
            covered.add(BREACH_NOTIFICATION_DELAY)
        # Because a structured term that settles a clause is that clause (ownership, licence, staff
        # confidentiality, security), as the delay above is the breach clause.
        return frozenset(self.clauses | covered | contract_terms.clauses_settled(self.terms))

    def missing_clauses(self, roles: Iterable[PartyRole | str]) -> dict[str, list[str]]:
        """Returns, per role, the clauses that role requires and this contract lacks (roles lacking none
        omitted)."""
        present = self.present_clauses()
        missing = {}
        for role in roles:
            role = PartyRole(role)
            lacking = [clause for clause in REQUIRED_CLAUSES[role] if clause not in present]
            if lacking:
                missing[role.value] = lacking
        return missing

    def is_signed_at(self, at: datetime) -> bool:
        """Tells whether the contract was signed by `at`."""
        return self.signed_at is not None and self.signed_at <= at

    def is_expired_at(self, at: datetime) -> bool:
        """Tells whether the contract has expired at `at` (it ends at `expires_at`, exclusive)."""
        return self.expires_at is not None and self.expires_at <= at

    def in_force_at(self, at: datetime) -> bool:
        """Tells whether the contract binds the party at `at`: signed and not expired."""
        return self.is_signed_at(at) and not self.is_expired_at(at)

    def expires_within(self, at: datetime, window: timedelta) -> bool:
        """Tells whether the contract is still in force at `at` and expires by `at + window`."""
        return self.expires_at is not None and at < self.expires_at <= at + window

    def notice_expiring(self, party: Party, *, at: datetime, window: timedelta) -> bool:
        """Records once that the contract entered the expiry window; True when that is new."""
        if self.expiring_notified_at is not None or not self.expires_within(at, window):
            return False
        self.expiring_notified_at = at
        self.events.append(
            events.ContractExpiring(**contract_facts(party, self, at=at), window_days=window.days, at=at)
        )
        return True

    def notice_expired(self, party: Party, *, at: datetime) -> bool:
        """Records once that the contract expired; True when that is new."""
        if self.expired_notified_at is not None or not self.is_expired_at(at):
            return False
        self.expired_notified_at = at
        self.events.append(events.ContractExpired(**contract_facts(party, self, at=at), at=at))
        return True


# --- Parties.

_UPDATABLE_FIELDS = (
    "legal_name",
    "registration_id",
    "contact",
    "roles",
    "purpose_ids",
    "data_categories",
    "systems",
    "processor_id",
    "broker_last_verified_at",
    "status",
)


@dataclass
class Party:
    """A party to the deployment: who it is, its roles and what it touches (purposes, data, systems)."""

    party_id: str
    legal_name: str
    roles: tuple[PartyRole, ...]
    status: PartyStatus
    registered_at: datetime
    registration_id: str | None = None
    contact: str = ""
    purpose_ids: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    processor_id: str | None = None
    broker_last_verified_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def register(
        cls,
        *,
        legal_name: str,
        roles: Iterable[PartyRole | str],
        at: datetime,
        registration_id: str | None = None,
        contact: str = "",
        purpose_ids: Iterable[str] = (),
        data_categories: Iterable[str] = (),
        systems: Iterable[str] = (),
        processor_id: str | None = None,
        broker_last_verified_at: datetime | None = None,
        status: PartyStatus | str = PartyStatus.ACTIVE,
        party_id: str | None = None,
    ) -> Party:
        """Registers a party; it needs a legal name and at least one role."""
        check_aware("at", at)
        check_aware("broker_last_verified_at", broker_last_verified_at)
        if not legal_name.strip():
            raise errors.InvalidPartyError("a party needs a legal name")
        party = cls(
            party_id=party_id or new_id(),
            legal_name=legal_name,
            roles=check_roles(roles),
            status=PartyStatus(status),
            registered_at=at,
            registration_id=registration_id,
            contact=contact,
            purpose_ids=tuple(dict.fromkeys(purpose_ids)),
            data_categories=tuple(dict.fromkeys(data_categories)),
            systems=tuple(dict.fromkeys(systems)),
            processor_id=processor_id,
            broker_last_verified_at=broker_last_verified_at,
            updated_at=at,
        )
        party.events.append(events.PartyRegistered(**party.facts(), at=at))
        return party

    def update(self, *, at: datetime, contract: Contract | None = None, **changes: object) -> tuple[str, ...]:
        """Applies `changes` and returns the names of the fields that changed (none: no event).

        `contract` is the party's current contract, whose missing clauses the event restates for the
        new roles.
        """
        check_aware("at", at)
        self.check_not_ended()
        unknown = sorted(set(changes) - set(_UPDATABLE_FIELDS))
        if unknown:
            raise errors.InvalidPartyError(f"cannot update fields {unknown}")
        normalised = {name: _normalise(name, value) for name, value in changes.items()}
        if "legal_name" in normalised and not str(normalised["legal_name"]).strip():
            raise errors.InvalidPartyError("a party needs a legal name")
        changed = tuple(
            name
            for name in _UPDATABLE_FIELDS
            if name in normalised and normalised[name] != getattr(self, name)
        )
        if not changed:
            return ()
        for name in changed:
            setattr(self, name, normalised[name])
        self.updated_at = at
        missing = contract.missing_clauses(self.roles) if contract is not None else None
        self.events.append(
            events.PartyUpdated(
                **self.facts(),
                changed_fields=changed,
                contract_id=contract.contract_id if contract else None,
                missing_clauses=missing,
                at=at,
                term_gaps=term_gaps(self, contract, at=at),
            )
        )
        return changed

    def check_not_ended(self) -> None:
        """Raises `PartyEndedError` once the relationship has ended."""
        if self.status is PartyStatus.ENDED:
            raise errors.PartyEndedError(self.party_id)

    def facts(self) -> PartyFacts:
        """Returns what the gate needs to know of the party: ids, roles, scope, broker check; no person."""
        return {
            "party_id": self.party_id,
            "legal_name": self.legal_name,
            "roles": tuple(r.value for r in self.roles),
            "status": self.status.value,
            "purpose_ids": self.purpose_ids,
            "data_categories": self.data_categories,
            "systems": self.systems,
            "processor_id": self.processor_id,
            "broker_last_verified_at": self.broker_last_verified_at,
        }


def _normalise(name: str, value: object) -> object:
    if name == "roles":
        if not isinstance(value, Iterable):
            raise TypeError(f"{type(value).__name__!r} object is not iterable")
        return check_roles(value)
    if name == "status":
        return to_enum(PartyStatus, value)
    if name == "broker_last_verified_at":
        if value is not None and not isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
        check_aware(name, value)
    if isinstance(value, list):
        return tuple(dict.fromkeys(value))
    return value


class PartyFacts(TypedDict):
    """The fields `PartyRegistered` and `PartyUpdated` share."""

    party_id: str
    legal_name: str
    roles: tuple[str, ...]
    status: str
    purpose_ids: tuple[str, ...]
    data_categories: tuple[str, ...]
    systems: tuple[str, ...]
    processor_id: str | None
    broker_last_verified_at: datetime | None


class ContractFactFields(TypedDict):
    """The fields of `events.ContractFacts`, which every contract event carries."""

    party_id: str
    contract_id: str
    version: int
    roles: tuple[str, ...]
    party_status: str
    signed_at: datetime | None
    expires_at: datetime | None
    clauses_present: tuple[str, ...]
    missing_clauses: dict[str, list[str]]
    breach_notification_hours: int | None
    broker_last_verified_at: datetime | None
    in_force: bool
    terms: dict[str, object] | None
    term_gaps: tuple[dict[str, str], ...]


def term_findings(party: Party, contract: Contract | None, *, at: datetime) -> list[errors.FieldProblem]:
    """Returns what the contract's structured terms (none: no contract) leave unsettled for the party's
    roles (rules TERM-*)."""
    return contract_terms.term_findings(
        (r.value for r in party.roles), contract.terms if contract else None, at=at
    )


def term_gaps(party: Party, contract: Contract | None, *, at: datetime) -> tuple[dict[str, str], ...]:
    """Returns the TERM findings of the party's contract as event facts: rule and field, no text."""
    return tuple({"rule": f.rule, "field": f.field} for f in term_findings(party, contract, at=at))


def contract_facts(party: Party, contract: Contract, *, at: datetime) -> ContractFactFields:
    """Returns the facts of a contract event: ids, roles, dates, clauses present and missing per role."""
    return {
        "party_id": party.party_id,
        "contract_id": contract.contract_id,
        "version": contract.version,
        "roles": tuple(r.value for r in party.roles),
        "party_status": party.status.value,
        "signed_at": contract.signed_at,
        "expires_at": contract.expires_at,
        "clauses_present": tuple(sorted(contract.present_clauses())),
        "missing_clauses": contract.missing_clauses(party.roles),
        "breach_notification_hours": contract.breach_notification_hours,
        "broker_last_verified_at": party.broker_last_verified_at,
        "in_force": contract.in_force_at(at),
        "terms": contract.terms.facts() if contract.terms else None,
        "term_gaps": term_gaps(party, contract, at=at),
    }


def current_contract(contracts: Iterable[Contract], *, at: datetime | None = None) -> Contract | None:
    """Returns the latest version (signed by `at` when given), or None."""
    ordered = sorted(contracts, key=lambda c: c.version, reverse=True)
    if at is None:
        return ordered[0] if ordered else None
    return next((c for c in ordered if c.is_signed_at(at)), None)


@dataclass(frozen=True)
class Finding:
    """One reason a party cannot be relied on at a time: a code, the role concerned and a message."""

    code: str
    message: str
    role: str | None = None
    clause: str | None = None


def party_findings(
    party: Party,
    contracts: Iterable[Contract],
    *,
    at: datetime,
    broker_verification_max_age: timedelta | None = None,
) -> list[Finding]:
    """Returns what keeps `party` from being relied on at `at`; empty when its contract covers its roles.

    Codes: party_not_active, no_contract, contract_not_signed, contract_expired, missing_clause,
    breach_notification_too_slow, broker_not_verified, broker_verification_stale.
    """
    check_aware("at", at)
    found: list[Finding] = []
    if party.status is not PartyStatus.ACTIVE:
        found.append(Finding("party_not_active", f"party {party.legal_name!r} is {party.status.value}"))
    contracts = list(contracts)
    contract = current_contract(contracts, at=at)
    if contract is None:
        latest = current_contract(contracts)
        if latest is None:
            found.append(Finding("no_contract", f"no contract with {party.legal_name!r} is on record"))
        else:
            found.append(
                Finding(
                    "contract_not_signed",
                    f"contract {latest.reference!r} v{latest.version} is not signed at {at.isoformat()}",
                )
            )
    else:
        if contract.expires_at is not None and contract.is_expired_at(at):
            found.append(
                Finding(
                    "contract_expired",
                    f"contract {contract.reference!r} v{contract.version} "
                    f"expired at {contract.expires_at.isoformat()}",
                )
            )
        for role, clauses in contract.missing_clauses(party.roles).items():
            found += [
                Finding(
                    "missing_clause",
                    f"contract {contract.reference!r} v{contract.version} lacks the "
                    f"{clause} clause required of a {role}",
                    role=role,
                    clause=clause,
                )
                for clause in clauses
            ]
        hours = contract.breach_notification_hours
        if hours is not None and hours > MAX_BREACH_NOTIFICATION_HOURS:
            found.append(
                Finding(
                    "breach_notification_too_slow",
                    f"contract {contract.reference!r} allows {hours} h "
                    f"to report a breach; the controller has {MAX_BREACH_NOTIFICATION_HOURS} h (Art. 33)",
                    clause=BREACH_NOTIFICATION_DELAY,
                )
            )
    if PartyRole.DATA_BROKER in party.roles:
        found += broker_findings(party, at=at, max_age=broker_verification_max_age)
    return found


def broker_findings(party: Party, *, at: datetime, max_age: timedelta | None) -> list[Finding]:
    """Returns UNI-05 findings on a broker's last verification of its consent forms and proofs."""
    role = PartyRole.DATA_BROKER.value
    verified = party.broker_last_verified_at
    if verified is None or verified > at:
        return [
            Finding(
                "broker_not_verified",
                f"no verification of {party.legal_name!r}'s consent forms and proofs is on record (UNI-05)",
                role=role,
            )
        ]
    if max_age is not None and at - verified > max_age:
        return [
            Finding(
                "broker_verification_stale",
                f"{party.legal_name!r} was last verified at "
                f"{verified.isoformat()}, more than {max_age.days} days ago (UNI-05)",
                role=role,
            )
        ]
    return []


def expiring_contracts(
    parties: Mapping[str, Party], contracts: Iterable[Contract], *, at: datetime, window: timedelta
) -> list[Contract]:
    """Returns each party's current contract that expires within `window` of `at`, soonest first."""
    check_aware("at", at)
    by_party: dict[str, list[Contract]] = {}
    for contract in contracts:
        by_party.setdefault(contract.party_id, []).append(contract)
    found = []
    for party_id, versions in by_party.items():
        party = parties.get(party_id)
        current = current_contract(versions)
        if (
            party is not None
            and party.status is not PartyStatus.ENDED
            and current is not None
            and current.expires_within(at, window)
        ):
            found.append(current)
    return sorted(found, key=lambda c: (c.expires_at, c.contract_id))
