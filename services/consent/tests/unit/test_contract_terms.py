"""Structured contract terms (ownership, licence, confidentiality, security): validation, one test (or
more) per row of `contract_terms.RULES`, the clauses the terms settle and what the events say."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from consent.domain import contract_terms, errors, events, parties
from consent.domain.contract_terms import (
    Assignment,
    Confidentiality,
    ConfidentialityInstrument,
    ContractTerms,
    Licence,
    Owner,
    Reversibility,
    SecurityObligations,
    Work,
)

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

ASSIGNMENT = Assignment(
    document="Contrat d'intégration CRM, art. 12 (cession)",
    covers=(Work.DEVELOPMENTS, Work.PARAMETERISATION),
    rights=("reproduction", "adaptation", "distribution"),
    territory=("worldwide",),
    full_term_of_protection=True,
)
BOUND = Confidentiality(staff_bound=True, instrument=ConfidentialityInstrument.CONTRACT_CLAUSE)
SECURE = SecurityObligations(art32_measures=True, assists_with_rights=True, assists_with_breaches=True)
RETURNS = Reversibility(
    returns_data=True,
    returns_parameterisation=True,
    deletes_copies=True,
    format="CSV and SQL dump",
    within_days=30,
)
SETTLED = ContractTerms(
    developments_owner=Owner.CONTROLLER,
    parameterisation_owner=Owner.CONTROLLER,
    assignment=ASSIGNMENT,
    confidentiality=BOUND,
    security=SECURE,
    reversibility=RETURNS,
)


def _findings(roles: tuple[str, ...], terms: ContractTerms | None) -> list[tuple[str, str]]:
    return [(f.rule, f.field) for f in contract_terms.term_findings(roles, terms, at=T0)]


def _problems(terms: ContractTerms) -> set[tuple[str, str]]:
    with pytest.raises(errors.ContractTermsError) as raised:
        contract_terms.check_terms(terms)
    assert raised.value.problem_extra["errors"], "the problem document lists the fields"
    return {(p.rule, p.field) for p in raised.value.problems}


def test_every_rule_has_a_unique_id_a_source_and_an_effective_date() -> None:
    ids = [r.id for r in contract_terms.RULES]
    assert ids == ["TERM-01", "TERM-02", "TERM-03", "TERM-04", "TERM-05", "TERM-06"]
    assert all(r.source and r.title and isinstance(r.effective_from, date) for r in contract_terms.RULES)


def test_a_rule_does_not_apply_before_its_effective_date() -> None:
    before_gdpr = datetime(2018, 5, 24, tzinfo=UTC)
    rules = {f.rule for f in contract_terms.term_findings(("integrator",), None, at=before_gdpr)}
    assert rules == {"TERM-01"}


# --- Validation: malformed terms are refused with the field named.


def test_an_assignment_must_name_its_instrument_rights_territory_and_duration() -> None:
    empty = Assignment(document=" ", covers=(), rights=(" ",), territory=())
    assert _problems(ContractTerms(assignment=empty)) == {
        ("TERM-02", "terms.assignment.document"),
        ("TERM-02", "terms.assignment.covers"),
        ("TERM-02", "terms.assignment.rights"),
        ("TERM-02", "terms.assignment.territory"),
        ("TERM-02", "terms.assignment.duration_years"),
    }


def test_an_assignment_has_one_duration_and_a_valid_territory() -> None:
    both = Assignment(
        document="art. 12",
        covers=(Work.DEVELOPMENTS,),
        rights=("reproduction",),
        territory=("worldwide", "FR"),
        duration_years=5,
        full_term_of_protection=True,
    )
    assert _problems(ContractTerms(assignment=both)) == {
        ("TERM-02", "terms.assignment.duration_years"),
        ("TERM-02", "terms.assignment.territory"),
    }
    odd = Assignment(
        document="art. 12",
        covers=(Work.DEVELOPMENTS,),
        rights=("use",),
        territory=("France",),
        duration_years=5,
    )
    assert _problems(ContractTerms(assignment=odd)) == {("TERM-02", "terms.assignment.territory")}


def test_a_licence_says_what_it_allows_and_confidentiality_names_its_instrument() -> None:
    terms = ContractTerms(
        licence=Licence(scope=" ", territory=("fr",)), confidentiality=Confidentiality(staff_bound=True)
    )
    assert _problems(terms) == {
        ("TERM-03", "terms.licence.scope"),
        ("TERM-03", "terms.licence.territory"),
        ("TERM-04", "terms.confidentiality.instrument"),
    }
    unbound = Confidentiality(staff_bound=False, instrument=ConfidentialityInstrument.NDA)
    assert _problems(ContractTerms(confidentiality=unbound)) == {
        ("TERM-04", "terms.confidentiality.instrument")
    }


def test_well_formed_terms_pass() -> None:
    contract_terms.check_terms(SETTLED)
    contract_terms.check_terms(ContractTerms())


# --- TERM-01 to TERM-05: what each role's contract must settle.


def test_term_01_a_party_that_builds_states_who_owns_its_developments_and_parameterisation() -> None:
    assert ("TERM-01", "terms.developments_owner") in _findings(("integrator",), None)
    assert ("TERM-01", "terms.parameterisation_owner") in _findings(("software_vendor",), ContractTerms())
    assert not [f for f in _findings(("integrator",), SETTLED) if f[0] == "TERM-01"]
    # A router (processor) builds nothing: no ownership question.
    assert not [f for f in _findings(("processor",), None) if f[0] == "TERM-01"]


def test_term_02_without_a_written_assignment_the_integrator_keeps_the_rights() -> None:
    claimed = ContractTerms(developments_owner=Owner.CONTROLLER, parameterisation_owner=Owner.SHARED)
    found = contract_terms.term_findings(("integrator",), claimed, at=T0)
    assert [(f.rule, f.field) for f in found if f.rule == "TERM-02"] == [
        ("TERM-02", "terms.assignment"),
        ("TERM-02", "terms.assignment"),
    ]
    assert "integrator keeps the rights" in found[0].message
    only_developments = ContractTerms(
        developments_owner=Owner.CONTROLLER,
        parameterisation_owner=Owner.CONTROLLER,
        assignment=Assignment(
            document="art. 12",
            covers=(Work.DEVELOPMENTS,),
            rights=("use",),
            territory=("FR",),
            duration_years=10,
        ),
    )
    gaps = contract_terms.term_findings(("integrator",), only_developments, at=T0)
    assert [f.message for f in gaps if f.rule == "TERM-02"] == [
        "the parameterisation are stated controller-owned but no written assignment covers them: without one "
        "the integrator keeps the rights (art. L131-2, L131-3 CPI)"
    ]
    assert not [f for f in _findings(("integrator",), SETTLED) if f[0] == "TERM-02"]


def test_term_03_what_the_integrator_keeps_the_controller_uses_under_a_licence() -> None:
    kept = ContractTerms(developments_owner=Owner.INTEGRATOR, parameterisation_owner=Owner.CONTROLLER)
    assert ("TERM-03", "terms.licence") in _findings(("integrator",), kept)
    licensed = ContractTerms(
        developments_owner=Owner.INTEGRATOR,
        parameterisation_owner=Owner.INTEGRATOR,
        licence=Licence(scope="Use and deploy the CRM in the controller's entities", territory=("FR",)),
    )
    assert not [f for f in _findings(("integrator",), licensed) if f[0] == "TERM-03"]
    # A software vendor always keeps its product: a licence is needed even with no owner stated.
    assert ("TERM-03", "terms.licence") in _findings(("software_vendor",), ContractTerms())


def test_term_04_every_party_binds_its_staff_to_confidentiality() -> None:
    assert ("TERM-04", "terms.confidentiality.staff_bound") in _findings(("data_broker",), None)
    unbound = ContractTerms(confidentiality=Confidentiality(staff_bound=False))
    found = contract_terms.term_findings(("processor",), unbound, at=T0)
    assert [f.message for f in found if f.rule == "TERM-04"] == [
        "the staff's confidentiality is stated as not bound"
    ]
    assert not [f for f in _findings(("processor",), SETTLED) if f[0] == "TERM-04"]


def test_term_05_security_obligations_and_a_processor_s_assistance() -> None:
    assert [f for f in _findings(("consultant",), None) if f[0] == "TERM-05"] == [
        ("TERM-05", "terms.security.art32_measures")
    ]
    partial = ContractTerms(security=SecurityObligations(art32_measures=True))
    assert [f for f in _findings(("processor",), partial) if f[0] == "TERM-05"] == [
        ("TERM-05", "terms.security.assists_with_rights"),
        ("TERM-05", "terms.security.assists_with_breaches"),
    ]
    assert _findings(("processor",), SETTLED) == []


def test_term_06_a_party_holding_the_data_or_the_parameterisation_hands_them_back_at_the_end() -> None:
    assert [f for f in _findings(("processor",), None) if f[0] == "TERM-06"] == [
        ("TERM-06", "terms.reversibility.returns_data"),
        ("TERM-06", "terms.reversibility.deletes_copies"),
    ]
    data_only = ContractTerms(
        reversibility=Reversibility(returns_data=True, deletes_copies=True, format="CSV")
    )
    assert [f for f in _findings(("integrator",), data_only) if f[0] == "TERM-06"] == [
        ("TERM-06", "terms.reversibility.returns_parameterisation")
    ]
    # A consultant or a broker holds neither the production data nor the tool.
    assert not [f for f in _findings(("consultant", "data_broker"), None) if f[0] == "TERM-06"]


def test_term_06_what_comes_back_says_in_what_form() -> None:
    shapeless = ContractTerms(reversibility=Reversibility(returns_data=True, within_days=0))
    assert _problems(shapeless) == {
        ("TERM-06", "terms.reversibility.format"),
        ("TERM-06", "terms.reversibility.within_days"),
    }


# --- Terms on a contract: the clauses they settle and what the events publish.


def _party(*roles: str) -> parties.Party:
    return parties.Party.register(legal_name="Intégra SARL", roles=roles, at=T0)


def _sign(party: parties.Party, **fields: Any) -> parties.Contract:
    return parties.Contract.sign(
        party=party, version=1, reference="INT-2026-01", signed_at=T0, at=T0, **fields
    )


def test_settled_terms_count_as_the_matching_clauses() -> None:
    party = _party("integrator")
    bare = _sign(party)
    assert "ownership_of_developments" in bare.missing_clauses(party.roles)["integrator"]
    settled = _sign(party, terms=SETTLED)
    missing = settled.missing_clauses(party.roles)["integrator"]
    for clause in (
        "ownership_of_developments",
        "confidentiality",
        "security_obligations",
        "return_or_deletion_at_end",
    ):
        assert clause not in missing
    # A controller claim without an assignment settles nothing: the ownership clause stays missing.
    claimed = _sign(
        party,
        terms=ContractTerms(developments_owner=Owner.CONTROLLER, parameterisation_owner=Owner.CONTROLLER),
    )
    assert "ownership_of_developments" in claimed.missing_clauses(party.roles)["integrator"]


def test_staff_confidentiality_and_security_settle_the_art_28_3_clauses_of_a_processor() -> None:
    party = _party("processor")
    contract = _sign(party, terms=SETTLED)
    present = contract.present_clauses()
    assert {
        "b_confidentiality_of_authorised_persons",
        "c_security_art32",
        "e_assist_with_data_subject_rights",
        "f_assist_with_art32_to_36",
        "g_delete_or_return_at_end",
    } <= present


def test_malformed_terms_refuse_the_contract() -> None:
    bad = ContractTerms(licence=Licence(scope=""))
    with pytest.raises(errors.ContractTermsError):
        _sign(_party("integrator"), terms=bad)


def test_contract_events_carry_the_terms_without_free_text_and_their_gaps() -> None:
    party = _party("integrator")
    terms = ContractTerms(
        developments_owner=Owner.INTEGRATOR,
        parameterisation_owner=Owner.CONTROLLER,
        confidentiality=Confidentiality(
            staff_bound=True,
            instrument=ConfidentialityInstrument.NDA,
            reference="NDA signed by each consultant",
        ),
        licence=Licence(scope="Secret scope text", territory=("FR",)),
    )
    signed = _sign(party, terms=terms).events[-1]
    assert isinstance(signed, events.ContractSigned)
    assert signed.terms is not None and signed.terms["developments_owner"] == "integrator"
    assert signed.terms["confidentiality"] == {"staff_bound": True, "instrument": "nda"}
    assert "Secret scope text" not in repr(signed) and "each consultant" not in repr(signed)
    assert {"rule": "TERM-02", "field": "terms.assignment"} in signed.term_gaps
    assert {"rule": "TERM-05", "field": "terms.security.art32_measures"} in signed.term_gaps


def test_a_party_update_restates_the_term_gaps_for_its_new_roles() -> None:
    party = _party("consultant")
    contract = _sign(party, terms=SETTLED)
    party.update(at=T0, contract=contract, roles=["consultant", "processor"])
    updated = party.events[-1]
    assert isinstance(updated, events.PartyUpdated)
    assert updated.term_gaps == ()
    party.update(at=T0, contract=contract, roles=["software_vendor"])
    assert {"rule": "TERM-03", "field": "terms.licence"} in (party.events[-1].term_gaps or ())
