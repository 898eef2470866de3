"""Ownership, licence, confidentiality, security and reversibility as structured terms of a party's
contract, with a table of rules (TERM-*) saying what each role's contract must settle.

The source article warns that whoever deploys a CRM must know whether the software and the
developments made for it belong to the company or stay with the firm that built them, and on what
terms the company may use them. Under French law an author's rights pass only by a written contract
(art. L131-2 CPI) that names each right assigned and delimits its scope, destination, place and
duration (art. L131-3 CPI); software written by a contractor is not the client's by default (art.
L113-9 CPI covers employees only). So, without a written assignment, the integrator keeps the rights
and the company holds at most a licence. Every party that touches the data must also bind its staff
to confidentiality and take the Art. 32 security measures (Art. 28(3)(b), (c), (e), (f) for
processors; Art. 5(1)(f), 29 and 32(4) for the rest): the controller stays responsible for security
whoever performs the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from consent.domain import errors
from consent.domain.errors import FieldProblem


class Owner(StrEnum):
    """Who owns specific developments or parameterisation: the controller, the integrator (the party
    that built them, whatever its role), or both."""

    CONTROLLER = "controller"
    INTEGRATOR = "integrator"
    SHARED = "shared"


class Work(StrEnum):
    """What the party builds for the deployment."""

    DEVELOPMENTS = "developments"
    PARAMETERISATION = "parameterisation"


class ConfidentialityInstrument(StrEnum):
    """What binds the party's staff to confidentiality."""

    CONTRACT_CLAUSE = "contract_clause"
    NDA = "nda"
    EMPLOYMENT_CONTRACT = "employment_contract"
    INTERNAL_RULES = "internal_rules"
    STATUTORY_OBLIGATION = "statutory_obligation"


#: A territory is "worldwide" or ISO 3166-1 alpha-2 country codes.
WORLDWIDE = "worldwide"


@dataclass(frozen=True)
class Assignment:
    """A written assignment of rights to the controller (art. L131-2, L131-3 CPI)."""

    document: str
    covers: tuple[Work, ...]
    rights: tuple[str, ...]
    territory: tuple[str, ...]
    duration_years: int | None = None
    full_term_of_protection: bool = False
    destination: str | None = None


@dataclass(frozen=True)
class Licence:
    """The licence of use granted to the controller over what it does not own."""

    scope: str
    territory: tuple[str, ...] = ()
    duration_years: int | None = None
    exclusive: bool = False
    may_modify: bool = False


@dataclass(frozen=True)
class Confidentiality:
    """Whether the party's staff are bound to confidentiality, and by what."""

    staff_bound: bool
    instrument: ConfidentialityInstrument | None = None
    reference: str | None = None


@dataclass(frozen=True)
class SecurityObligations:
    """The security obligations the contract puts on the party (Art. 28(3)(c), (e), (f); Art. 32)."""

    art32_measures: bool = False
    assists_with_rights: bool = False
    assists_with_breaches: bool = False
    measures_summary: str | None = None


@dataclass(frozen=True)
class Reversibility:
    """What comes back at the end of the contract, in what form and how soon (Art. 28(3)(g))."""

    returns_data: bool = False
    returns_parameterisation: bool = False
    deletes_copies: bool = False
    format: str | None = None
    within_days: int | None = None


@dataclass(frozen=True)
class ContractTerms:
    """The structured terms of one contract version; any part may be absent (not settled)."""

    developments_owner: Owner | None = None
    parameterisation_owner: Owner | None = None
    assignment: Assignment | None = None
    licence: Licence | None = None
    confidentiality: Confidentiality | None = None
    security: SecurityObligations | None = None
    reversibility: Reversibility | None = None

    def owners(self) -> dict[Work, Owner | None]:
        """Returns the owner stated for each kind of work."""
        return {
            Work.DEVELOPMENTS: self.developments_owner,
            Work.PARAMETERISATION: self.parameterisation_owner,
        }

    def assigned(self, work: Work) -> bool:
        """Tells whether a written assignment covers `work`."""
        return self.assignment is not None and work in self.assignment.covers

    def ownership_settled(self) -> bool:
        """Tells whether both owners are stated and each controller claim rests on an assignment."""
        owners = self.owners()
        return all(owner is not None for owner in owners.values()) and not any(
            owner in (Owner.CONTROLLER, Owner.SHARED) and not self.assigned(work)
            for work, owner in owners.items()
        )

    def facts(self) -> dict[str, Any]:
        """Returns the terms as event facts: owners, coverage, territories, durations, flags; no free text."""
        a, lic, c, s, r = (
            self.assignment,
            self.licence,
            self.confidentiality,
            self.security,
            self.reversibility,
        )
        return {
            "developments_owner": _value(self.developments_owner),
            "parameterisation_owner": _value(self.parameterisation_owner),
            "assignment": None
            if a is None
            else {
                "covers": [w.value for w in a.covers],
                "rights": list(a.rights),
                "territory": list(a.territory),
                "duration_years": a.duration_years,
                "full_term_of_protection": a.full_term_of_protection,
            },
            "licence": None
            if lic is None
            else {
                "territory": list(lic.territory),
                "duration_years": lic.duration_years,
                "exclusive": lic.exclusive,
                "may_modify": lic.may_modify,
            },
            "confidentiality": None
            if c is None
            else {"staff_bound": c.staff_bound, "instrument": _value(c.instrument)},
            "security": None
            if s is None
            else {
                "art32_measures": s.art32_measures,
                "assists_with_rights": s.assists_with_rights,
                "assists_with_breaches": s.assists_with_breaches,
            },
            "reversibility": None
            if r is None
            else {
                "returns_data": r.returns_data,
                "returns_parameterisation": r.returns_parameterisation,
                "deletes_copies": r.deletes_copies,
                "within_days": r.within_days,
            },
        }


def _value(member: StrEnum | None) -> str | None:
    return member.value if member is not None else None


# --- Validation of what is entered (a refusal, 422 naming the field).


def check_terms(terms: ContractTerms) -> None:
    """Raises `ContractTermsError` naming each field when the terms are malformed or self-contradictory."""
    found: list[FieldProblem] = []
    a = terms.assignment
    if a is not None:
        where = "terms.assignment"
        # Because an assignment that does not delimit what, where and how long is no assignment at all
        # (art. L131-3 CPI): record none, and the finding TERM-02 says the integrator keeps the rights.
        if not a.document.strip():
            found.append(FieldProblem("TERM-02", f"{where}.document", "name the written instrument"))
        if not a.covers:
            found.append(
                FieldProblem(
                    "TERM-02", f"{where}.covers", "say what it covers: developments, parameterisation"
                )
            )
        if not [r for r in a.rights if r.strip()]:
            found.append(
                FieldProblem("TERM-02", f"{where}.rights", "name each right assigned (art. L131-3 CPI)")
            )
        found += _territory_problems("TERM-02", f"{where}.territory", a.territory, required=True)
        if a.duration_years is None and not a.full_term_of_protection:
            found.append(
                FieldProblem(
                    "TERM-02",
                    f"{where}.duration_years",
                    "give the duration, or full_term_of_protection: true (art. L131-3 CPI)",
                )
            )
        if a.duration_years is not None and a.full_term_of_protection:
            found.append(
                FieldProblem(
                    "TERM-02", f"{where}.duration_years", "give a duration or the full term, not both"
                )
            )
        if a.duration_years is not None and a.duration_years < 1:
            found.append(FieldProblem("TERM-02", f"{where}.duration_years", "must be at least 1"))
    lic = terms.licence
    if lic is not None:
        if not lic.scope.strip():
            found.append(FieldProblem("TERM-03", "terms.licence.scope", "say what uses the licence allows"))
        found += _territory_problems("TERM-03", "terms.licence.territory", lic.territory, required=False)
        if lic.duration_years is not None and lic.duration_years < 1:
            found.append(FieldProblem("TERM-03", "terms.licence.duration_years", "must be at least 1"))
    c = terms.confidentiality
    if c is not None and c.staff_bound and c.instrument is None:
        found.append(
            FieldProblem(
                "TERM-04", "terms.confidentiality.instrument", "say what binds the staff to confidentiality"
            )
        )
    if c is not None and not c.staff_bound and c.instrument is not None:
        found.append(
            FieldProblem(
                "TERM-04",
                "terms.confidentiality.instrument",
                "staff_bound is false: no instrument binds them",
            )
        )
    r = terms.reversibility
    if r is not None and (r.returns_data or r.returns_parameterisation) and not (r.format or "").strip():
        found.append(FieldProblem("TERM-06", "terms.reversibility.format", "say in what form it comes back"))
    if r is not None and r.within_days is not None and r.within_days < 1:
        found.append(FieldProblem("TERM-06", "terms.reversibility.within_days", "must be at least 1"))
    if found:
        raise errors.ContractTermsError("the contract terms are malformed", found)


def _territory_problems(
    rule: str, where: str, territory: tuple[str, ...], *, required: bool
) -> list[FieldProblem]:
    if not territory:
        return [FieldProblem(rule, where, "give 'worldwide' or country codes")] if required else []
    if WORLDWIDE in territory and len(territory) > 1:
        return [FieldProblem(rule, where, "'worldwide' stands alone")]
    bad = [t for t in territory if t != WORLDWIDE and not (len(t) == 2 and t.isalpha() and t.isupper())]
    return [FieldProblem(rule, where, f"not ISO 3166-1 alpha-2 codes: {bad}")] if bad else []


# --- The rule table: what each role's contract must settle (findings, not refusals).

#: Roles that build or configure the tool, or study it and produce deliverables.
DEVELOPMENT_ROLES = frozenset({"integrator", "software_vendor", "consultant"})
#: Roles that process personal data on the controller's behalf (Art. 28(3) applies in full).
PROCESSOR_ROLES = frozenset({"processor", "sub_processor"})


@dataclass(frozen=True)
class Context:
    """What a term rule reads: the party's roles, and the terms of its current contract (None: none)."""

    roles: frozenset[str]
    terms: ContractTerms | None


@dataclass(frozen=True)
class TermRule:
    """One row of the contract-terms rule table."""

    id: str
    title: str
    effective_from: date
    source: str
    check: Callable[[Context], list[FieldProblem]]

    def applies(self, on: date) -> bool:
        """Says whether the row is in force on a given day."""
        return self.effective_from <= on


def term_01(ctx: Context) -> list[FieldProblem]:
    """A party that builds or configures the tool has its contract say who owns what it builds."""
    if not ctx.roles & DEVELOPMENT_ROLES:
        return []
    owners = ctx.terms.owners() if ctx.terms else {w: None for w in Work}
    return [
        FieldProblem("TERM-01", f"terms.{work.value}_owner", f"who owns the {work.value} is not stated")
        for work, owner in owners.items()
        if owner is None
    ]


def term_02(ctx: Context) -> list[FieldProblem]:
    """Ownership by the controller (alone or shared) rests on a written assignment covering that work."""
    if ctx.terms is None:
        return []
    return [
        FieldProblem(
            "TERM-02",
            "terms.assignment",
            f"the {work.value} are stated {owner.value}-owned but no written assignment covers them: "
            "without one the integrator keeps the rights (art. L131-2, L131-3 CPI)",
        )
        for work, owner in ctx.terms.owners().items()
        if owner in (Owner.CONTROLLER, Owner.SHARED) and not ctx.terms.assigned(work)
    ]


def term_03(ctx: Context) -> list[FieldProblem]:
    """What the controller does not own outright it uses under a licence of use."""
    if ctx.terms is None or ctx.terms.licence is not None:
        return []
    keeps = [w.value for w, o in ctx.terms.owners().items() if o is Owner.INTEGRATOR]
    if not keeps and "software_vendor" not in ctx.roles:
        return []
    what = " and ".join(keeps) or "the software"
    return [
        FieldProblem(
            "TERM-03",
            "terms.licence",
            f"the integrator keeps rights in {what}: a licence of use must say how the controller may "
            "deploy it",
        )
    ]


def term_04(ctx: Context) -> list[FieldProblem]:
    """Every party's staff who reach the data are bound to confidentiality."""
    c = ctx.terms.confidentiality if ctx.terms else None
    if c is not None and c.staff_bound:
        return []
    what = "is not stated" if c is None else "is stated as not bound"
    return [
        FieldProblem("TERM-04", "terms.confidentiality.staff_bound", f"the staff's confidentiality {what}")
    ]


def term_05(ctx: Context) -> list[FieldProblem]:
    """Security obligations: Art. 32 measures for every party; a processor also assists (28(3)(e), (f))."""
    s = ctx.terms.security if ctx.terms else None
    wanted = ["art32_measures"]
    if ctx.roles & PROCESSOR_ROLES:
        wanted += ["assists_with_rights", "assists_with_breaches"]
    return [
        FieldProblem(
            "TERM-05", f"terms.security.{name}", "the contract does not put this obligation on the party"
        )
        for name in wanted
        if s is None or not getattr(s, name)
    ]


#: Roles that hold the controller's data or its parameterisation, and must hand them back at the end.
HOLDING_ROLES = frozenset({"integrator", "software_vendor", "processor", "sub_processor"})


def term_06(ctx: Context) -> list[FieldProblem]:
    """At the end, a party that holds the data or the parameterisation returns them and deletes its copies."""
    if not ctx.roles & HOLDING_ROLES:
        return []
    r = ctx.terms.reversibility if ctx.terms else None
    wanted = ["returns_data", "deletes_copies"]
    if ctx.roles & DEVELOPMENT_ROLES:
        wanted.insert(1, "returns_parameterisation")
    return [
        FieldProblem("TERM-06", f"terms.reversibility.{name}", "the contract does not settle this at its end")
        for name in wanted
        if r is None or not getattr(r, name)
    ]


#: The contract-terms rule table.
RULES: tuple[TermRule, ...] = (
    TermRule(
        "TERM-01",
        "Who owns the developments and the parameterisation is stated",
        date(1992, 7, 3),
        "Art. L111-1, L113-9 CPI (the employer rule covers employees, not contractors); source article, "
        "'Encadrer'",
        term_01,
    ),
    TermRule(
        "TERM-02",
        "Ownership by the controller rests on a written assignment (scope, duration, territory)",
        date(2016, 7, 9),
        "Art. L131-2 al. 2 CPI (writing for every contract transferring author's rights, loi n° 2016-925 "
        "of 7 July 2016, VERIFY the date) and L131-3 CPI (each right named; scope, destination, place, "
        "duration)",
        term_02,
    ),
    TermRule(
        "TERM-03",
        "A licence of use covers what the integrator keeps",
        date(1992, 7, 3),
        "Art. L122-6, L122-6-1 CPI (the software author's rights); source article, 'Encadrer'",
        term_03,
    ),
    TermRule(
        "TERM-04",
        "The party's staff are bound to confidentiality",
        date(2018, 5, 25),
        "Art. 28(3)(b), 29, 32(4) and 5(1)(f) GDPR; art. 121 loi n° 78-17",
        term_04,
    ),
    TermRule(
        "TERM-05",
        "Security obligations: Art. 32 measures; a processor assists with rights and breaches",
        date(2018, 5, 25),
        "Art. 28(3)(c), (e), (f) and 32 GDPR; the controller stays responsible for security (Art. 5(2), 24)",
        term_05,
    ),
    TermRule(
        "TERM-06",
        "Reversibility: at the end, the data and the parameterisation come back and copies are deleted",
        date(2018, 5, 25),
        "Art. 28(3)(g) GDPR (return or delete at the controller's choice); CNIL, Guide du sous-traitant "
        "(2017); source article, 'Encadrer' (the controller must be able to keep deploying)",
        term_06,
    ),
)


def term_findings(roles: Iterable[str], terms: ContractTerms | None, *, at: datetime) -> list[FieldProblem]:
    """Returns what the party's current contract terms leave unsettled for its roles, in table order."""
    ctx = Context(roles=frozenset(str(r) for r in roles), terms=terms)
    found: list[FieldProblem] = []
    for rule in RULES:
        if rule.applies(at.date()):
            found += rule.check(ctx)
    return found


def clauses_settled(terms: ContractTerms | None) -> frozenset[str]:
    """Returns the checklist clauses the structured terms settle, counted as present in the contract."""
    if terms is None:
        return frozenset()
    settled: set[str] = set()
    if terms.ownership_settled():
        settled.add("ownership_of_developments")
    if terms.licence is not None:
        settled.add("licence_of_use")
    if terms.confidentiality is not None and terms.confidentiality.staff_bound:
        settled |= {"confidentiality", "b_confidentiality_of_authorised_persons"}
    s = terms.security
    if s is not None and s.art32_measures:
        settled |= {"security_obligations", "c_security_art32"}
    if s is not None and s.assists_with_rights:
        settled.add("e_assist_with_data_subject_rights")
    if s is not None and s.assists_with_breaches:
        settled.add("f_assist_with_art32_to_36")
    r = terms.reversibility
    if r is not None and r.returns_data and r.deletes_copies:
        settled |= {"return_or_deletion_at_end", "g_delete_or_return_at_end"}
    return frozenset(settled)
