"""Processors: Art. 28(3) clauses, contract dates, sub-processors and transfers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from consent.domain import errors, events, processors
from consent.domain.processors import (
    Authorisation,
    Location,
    ProcessorContract,
    ProcessorRole,
    ProcessorStatus,
    SubProcessor,
    TransferMechanism,
)


def full_contract(t0, **overrides):
    fields = {
        "reference": "DPA-2026-01",
        "signed_at": t0 - timedelta(days=30),
        "expires_at": t0 + timedelta(days=365),
        "clauses": dict.fromkeys(processors.ART28_3_CHECKLIST, True),
    }
    fields.update(overrides)
    return ProcessorContract(**fields)


def make_processor(t0, **overrides):
    fields = {
        "legal_name": "RouteurMail SA",
        "role": ProcessorRole.PROCESSOR,
        "at": t0,
        "contract": full_contract(t0),
        "locations": (Location(country="FR"), Location(country="DE", activity="backup")),
    }
    fields.update(overrides)
    return processors.Processor.register(**fields)


def test_the_checklist_holds_every_i2_key():
    assert processors.ART28_3_CHECKLIST == (
        "subject_matter_and_duration",
        "nature_and_purpose_of_processing",
        "type_of_personal_data",
        "categories_of_data_subjects",
        "controller_obligations_and_rights",
        "a_documented_instructions_only",
        "b_confidentiality_of_authorised_persons",
        "c_security_art32",
        "d_subprocessors",
        "e_assist_with_data_subject_rights",
        "f_assist_with_art32_to_36",
        "g_delete_or_return_at_end",
        "h_information_and_audits",
        "notify_if_instruction_infringes_law",
        "form",
    )


def test_a_processor_with_a_complete_signed_contract_in_the_eea_has_no_gaps(t0):
    processor = make_processor(t0)

    assert processors.contract_gaps(processor, at=t0) == []
    assert processor.is_usable(at=t0)
    assert processor.events == [
        events.ProcessorRegistered(
            processor_id=processor.processor_id,
            legal_name="RouteurMail SA",
            role="processor",
            status="active",
            at=t0,
            facts=processor.facts(at=t0),
        )
    ]
    facts = processor.events[0].facts
    assert facts is not None and facts["missing_clauses"] == [] and facts["gaps_at_event"] == []
    assert facts["locations"] == ["DE", "FR"]


def test_the_processor_events_carry_the_contract_facts_the_gate_checks(t0):
    clauses = dict.fromkeys(processors.ART28_3_CHECKLIST, True) | {"c_security_art32": False}
    processor = make_processor(
        t0,
        contract=processors.ProcessorContract(
            reference="DPA-X", signed_at=t0, expires_at=t0 + timedelta(days=30), clauses=clauses
        ),
    )
    facts = processor.events[0].facts
    assert facts["missing_clauses"] == ["c_security_art32"]
    assert facts["gaps_at_event"] == ["missing_clause"]
    assert facts["expires_at"] == (t0 + timedelta(days=30)).isoformat()


def test_a_missing_security_clause_is_named(t0):
    clauses = dict.fromkeys(processors.ART28_3_CHECKLIST, True)
    clauses["c_security_art32"] = False
    processor = make_processor(t0, contract=full_contract(t0, clauses=clauses))

    assert processors.contract_gaps(processor, at=t0) == ["missing_clause: c_security_art32"]
    assert not processor.is_usable(at=t0)


def test_every_absent_clause_is_listed_in_rule_book_order(t0):
    processor = make_processor(t0, contract=full_contract(t0, clauses={}))

    gaps = processors.contract_gaps(processor, at=t0)

    assert gaps == [f"missing_clause: {key}" for key in processors.ART28_3_CHECKLIST]


def test_commission_sccs_2021_915_cover_the_clauses_but_not_the_description_of_the_processing(t0):
    contract = full_contract(t0, clauses={"subject_matter_and_duration": True}, scc_2021_915=True)

    assert contract.missing_clauses() == list(processors.ART28_3_MUST_SET_OUT[1:])


def test_an_expired_contract_is_a_gap(t0):
    processor = make_processor(t0, contract=full_contract(t0, expires_at=t0 - timedelta(days=1)))

    gaps = processors.contract_gaps(processor, at=t0)

    assert len(gaps) == 1
    assert gaps[0].startswith("contract_expired: ")


def test_a_contract_not_yet_signed_is_a_gap(t0):
    unsigned = make_processor(t0, contract=full_contract(t0, signed_at=None))
    future = make_processor(t0, contract=full_contract(t0, signed_at=t0 + timedelta(days=2)))

    assert processors.contract_gaps(unsigned, at=t0)[0].startswith("contract_not_signed: ")
    assert processors.contract_gaps(future, at=t0)[0].startswith("contract_not_signed: ")
    assert processors.contract_gaps(future, at=t0 + timedelta(days=3)) == []


def test_no_contract_at_all_is_a_gap(t0):
    assert processors.contract_gaps(make_processor(t0, contract=None), at=t0) == [
        "no_contract: no contract on record"
    ]


def test_a_location_outside_the_eea_without_a_transfer_mechanism_is_a_gap(t0):
    processor = make_processor(
        t0, locations=(Location(country="FR"), Location(country="US", activity="support"))
    )

    gaps = processors.contract_gaps(processor, at=t0)

    assert gaps == ["transfer_without_safeguard: RouteurMail SA in US (support) has no transfer mechanism"]


def test_sccs_need_a_transfer_impact_assessment(t0):
    processor = make_processor(
        t0, locations=(Location(country="IN"),), transfer_mechanism=TransferMechanism.SCC_2021_914_MODULE_2
    )
    assert processors.contract_gaps(processor, at=t0)[0].startswith("no_transfer_impact_assessment: ")

    processor.update(at=t0, tia_done_at=t0 - timedelta(days=3))
    assert processors.contract_gaps(processor, at=t0) == []


def test_adequacy_is_accepted_only_for_a_country_with_an_adequacy_decision(t0):
    japan = make_processor(
        t0, locations=(Location(country="JP"),), transfer_mechanism=TransferMechanism.ADEQUACY
    )
    india = make_processor(
        t0, locations=(Location(country="IN"),), transfer_mechanism=TransferMechanism.ADEQUACY
    )

    assert processors.contract_gaps(japan, at=t0) == []
    assert processors.contract_gaps(india, at=t0)[0].startswith("adequacy_not_established: ")


def test_an_art49_derogation_is_flagged_for_a_vendors_routine_transfers(t0):
    processor = make_processor(
        t0, locations=(Location(country="BR"),), transfer_mechanism=TransferMechanism.DEROGATION_ART49
    )

    assert processors.contract_gaps(processor, at=t0)[0].startswith("derogation_for_regular_transfer: ")


def test_a_sub_processor_without_prior_authorisation_or_outside_the_eea_without_safeguard_is_a_gap(t0):
    processor = make_processor(
        t0,
        sub_processors=(
            SubProcessor(
                name="CloudHost GmbH", country="DE", authorisation=Authorisation.GENERAL, authorised_at=t0
            ),
            SubProcessor(name="SmsGate LLC", country="US"),
        ),
    )

    gaps = processors.contract_gaps(processor, at=t0)

    assert gaps == [
        "subprocessor_not_authorised: SmsGate LLC has no prior written authorisation (Art. 28(2))",
        "transfer_without_safeguard: SmsGate LLC in US (sub-processing) has no transfer mechanism",
    ]


def test_a_broker_is_not_held_to_the_art28_checklist_but_needs_a_contract(t0):
    broker = make_processor(
        t0, role=ProcessorRole.DATA_SUPPLIER_BROKER, contract=full_contract(t0, clauses={})
    )

    assert processors.contract_gaps(broker, at=t0) == []
    assert processors.contract_gaps(
        make_processor(t0, role=ProcessorRole.DATA_SUPPLIER_BROKER, contract=None), at=t0
    )


def test_an_update_records_which_fields_changed(t0):
    processor = make_processor(t0)
    later = t0 + timedelta(days=5)

    changed = processor.update(at=later, locations=[Location(country="FR")], contact="dpo@routeur.example")

    assert changed == ("contact", "locations")
    assert processor.events[-1] == events.ProcessorUpdated(
        processor_id=processor.processor_id,
        changed_fields=("contact", "locations"),
        status="active",
        at=later,
        facts=processor.facts(at=later),
    )
    assert processor.update(at=later, contact="dpo@routeur.example") == ()


def test_a_suspended_processor_is_not_usable_and_an_ended_one_cannot_change(t0):
    processor = make_processor(t0)

    processor.suspend(at=t0)
    assert processor.status is ProcessorStatus.SUSPENDED
    assert not processor.is_usable(at=t0)

    processor.end(at=t0 + timedelta(days=1))
    with pytest.raises(errors.ProcessorEndedError):
        processor.update(at=t0 + timedelta(days=2), status=ProcessorStatus.ACTIVE)


def test_an_update_of_an_unknown_field_is_refused(t0):
    with pytest.raises(errors.InvalidProcessorUpdateError):
        make_processor(t0).update(at=t0, processor_id="other")


# --- Every gap consent computes is published, so the gate reads it rather than recomputing (issues 13, 16).


def test_the_processor_events_publish_every_gap_consent_computes(t0):
    clauses = dict.fromkeys(processors.ART28_3_CHECKLIST, True) | {
        "form": False,
        "subject_matter_and_duration": False,
        "type_of_personal_data": False,
    }
    processor = make_processor(
        t0,
        contract=full_contract(t0, clauses=clauses),
        locations=(Location(country="FR"), Location(country="BR")),
        transfer_mechanism=TransferMechanism.ADEQUACY,
        sub_processors=(SubProcessor(name="SMS Relay Ltd", country="IE"),),
    )
    facts = processor.events[0].facts
    assert facts is not None
    assert facts["missing_clauses"] == ["subject_matter_and_duration", "type_of_personal_data", "form"]
    assert facts["transfers_outside_eea"] is True
    by_code = {gap["code"]: gap for gap in facts["gaps"]}
    assert [g["code"] for g in facts["gaps"] if g["topic"] == "clause"] == ["missing_clause"] * 3
    assert [g["detail"] for g in facts["gaps"] if g["topic"] == "clause"] == [
        "subject_matter_and_duration",
        "type_of_personal_data",
        "form",
    ]
    assert by_code["subprocessor_not_authorised"]["topic"] == "subprocessor"
    assert "SMS Relay Ltd" in by_code["subprocessor_not_authorised"]["detail"]
    assert by_code["adequacy_not_established"]["topic"] == "transfer"
    assert "BR" in by_code["adequacy_not_established"]["detail"]
    assert [g["code"] for g in facts["gaps"]] == facts["gaps_at_event"]


def test_every_gap_code_has_a_topic(t0):
    documented = processors.contract_gaps.__doc__ or ""
    assert all(code in documented for code in processors.GAP_TOPICS)
    assert set(processors.GAP_TOPICS.values()) == {"contract", "clause", "subprocessor", "transfer"}
