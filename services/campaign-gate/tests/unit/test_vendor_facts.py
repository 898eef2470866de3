"""Vendors have one home (issues 13, 16): the gate reads the gaps consent publishes, as published.

Each test builds the vendor with consent's own domain, takes consent's real event bytes (its outgoing
mapping, encoded and decoded), projects them with the gate's reader and reviews a campaign through the
processor. The gate keeps no Art. 28(3) clause list and no EEA list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_gate.domain import criteria
from campaign_gate.domain import model as campaigns
from campaign_gate.domain.review import review_campaign
from campaign_gate.domain.rules import Outcome
from campaign_gate.service_layer.handlers import _contract_from_consent_facts
from campaign_gate_examples import campaign
from consent.adapters.outgoing import to_envelope
from consent.domain import parties, processors
from consent.domain.processors import Location, ProcessorContract, SubProcessor, TransferMechanism
from shared.events import EventEnvelope

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ALL = dict.fromkeys(processors.ART28_3_CHECKLIST, True)


def _published(event: Any) -> dict[str, Any]:
    _topic, envelope = to_envelope(event, actor="consent/test", correlation_id=None)
    return EventEnvelope.decode(envelope.encode()).data


def _register(**overrides: Any) -> processors.Processor:
    fields: dict[str, Any] = {
        "legal_name": "Routeur SAS",
        "role": processors.ProcessorRole.PROCESSOR,
        "at": T0,
        "contract": ProcessorContract(
            reference="DPA-1",
            signed_at=T0 - timedelta(days=30),
            expires_at=T0 + timedelta(days=365),
            clauses=ALL,
        ),
        "locations": (Location(country="FR"),),
    }
    fields.update(overrides)
    return processors.Processor.register(**fields)


def _as_gate_reads(
    processor: processors.Processor, linked: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    """The processor row as the gate's projection stores it from consent's processor_registered."""
    data = _published(processor.events[-1])
    return {
        "processor_id": data["processor_id"],
        "legal_name": data["legal_name"],
        "status": data["status"],
        "role": data["role"],
        "contract": _contract_from_consent_facts(data["facts"]),
        "parties": list(linked),
    }


def _findings(processor_row: dict[str, Any], rule: str) -> list[Any]:
    facts = campaign(processor=campaigns._processor(processor_row))
    return [f for f in review_campaign(facts, at=T0) if f.rule_id == rule]


def test_the_gate_keeps_no_copy_of_the_clause_or_eea_lists() -> None:
    assert not hasattr(criteria, "ART28_3_CLAUSES") and not hasattr(criteria, "EEA_COUNTRIES")


def test_a_complete_contract_in_the_eea_passes_proc_01_to_03() -> None:
    row = _as_gate_reads(_register())
    assert [f for rule in ("PROC-01", "PROC-02", "PROC-03") for f in _findings(row, rule)] == []


def test_form_subject_matter_and_data_types_missing_in_consent_block_proc_02_naming_them() -> None:
    clauses = ALL | {"form": False, "subject_matter_and_duration": False, "type_of_personal_data": False}
    row = _as_gate_reads(
        _register(
            contract=ProcessorContract(
                reference="DPA-2", signed_at=T0 - timedelta(days=1), expires_at=None, clauses=clauses
            )
        )
    )

    (finding,) = _findings(row, "PROC-02")
    assert finding.outcome is Outcome.BLOCK
    for clause in ("form", "subject_matter_and_duration", "type_of_personal_data"):
        assert clause in finding.message


def test_an_adequacy_claim_for_a_country_without_an_adequacy_decision_blocks_proc_03() -> None:
    row = _as_gate_reads(
        _register(
            locations=(Location(country="FR"), Location(country="BR")),
            transfer_mechanism=TransferMechanism.ADEQUACY,
        )
    )
    (finding,) = _findings(row, "PROC-03")
    assert finding.outcome is Outcome.BLOCK and "BR" in finding.message
    adequate = _as_gate_reads(
        _register(locations=(Location(country="JP"),), transfer_mechanism=TransferMechanism.ADEQUACY)
    )
    assert _findings(adequate, "PROC-03") == []


def test_scc_transfers_as_consent_names_them_need_an_assessment_not_a_block() -> None:
    """Consent names SCC modules (scc_2021_914_module_2); the gate's old list knew only 'scc_2021_914'."""
    pending = _as_gate_reads(
        _register(
            locations=(Location(country="US"),), transfer_mechanism=TransferMechanism.SCC_2021_914_MODULE_2
        )
    )
    (finding,) = _findings(pending, "PROC-03")
    assert finding.outcome is Outcome.NEEDS_REVIEW and "assessment" in finding.message
    assessed = _as_gate_reads(
        _register(
            locations=(Location(country="US"),),
            tia_done_at=T0 - timedelta(days=3),
            transfer_mechanism=TransferMechanism.SCC_2021_914_MODULE_2,
        )
    )
    assert _findings(assessed, "PROC-03") == []


def test_an_unauthorised_sub_processor_blocks_proc_02_naming_it() -> None:
    row = _as_gate_reads(_register(sub_processors=(SubProcessor(name="SMS Relay Ltd", country="IE"),)))
    (finding,) = _findings(row, "PROC-02")
    assert finding.outcome is Outcome.BLOCK and "SMS Relay Ltd" in finding.message
    authorised = _as_gate_reads(
        _register(
            sub_processors=(
                SubProcessor(
                    name="SMS Relay Ltd",
                    country="IE",
                    authorisation=processors.Authorisation.SPECIFIC,
                    authorised_at=T0 - timedelta(days=10),
                ),
            )
        )
    )
    assert _findings(authorised, "PROC-02") == []


def test_a_party_working_under_the_processor_whose_contract_lacks_a_role_clause_blocks_proc_02() -> None:
    processor = _register()
    party = parties.Party.register(
        legal_name="Hébergeur SAS", roles=["sub_processor"], at=T0, processor_id=processor.processor_id
    )
    contract = parties.Contract.sign(
        party=party,
        version=1,
        reference="DPA-H",
        signed_at=T0,
        at=T0,
        clauses=set(parties.REQUIRED_CLAUSES[parties.PartyRole.SUB_PROCESSOR]) - {"c_security_art32"},
        breach_notification_hours=48,
    )
    registered, signed = _published(party.events[-1]), _published(contract.events[-1])
    assert registered["processor_id"] == processor.processor_id
    linked = {
        "party_id": signed["party_id"],
        "legal_name": registered["legal_name"],
        "roles": signed["roles"],
        "status": signed["party_status"],
        "missing_clauses": signed["missing_clauses"],
    }

    (finding,) = _findings(_as_gate_reads(processor, (linked,)), "PROC-02")
    assert finding.outcome is Outcome.BLOCK
    assert "Hébergeur SAS" in finding.message and "c_security_art32" in finding.message
    # An ended party no longer takes part in the processing.
    assert _findings(_as_gate_reads(processor, ({**linked, "status": "ended"},)), "PROC-02") == []
